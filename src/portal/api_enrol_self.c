/* portal: self-enrolment — a patient creates their own account by giving their family name, given
 * name and birth date, which must match exactly one record, and a one-time code sent to the e-mail
 * address or mobile number on that record (FHIR Patient.telecom, or the contact of an account already
 * linked to it). The account records the assurance reached ("self-demographics+otp:email|sms"),
 * which is below an in-person check (api_enrol.c).
 *
 * No enumeration: /start answers the same, after the same work (one row, two seals, one audit record),
 * whether the details match no record, several, or one without that contact, or one that already has
 * an account; that last case is refused only at /finish, after the right code. The demographics are
 * matched through a blind index (store_enrol_self.h; HMAC under crypto/'s blind-index key, never
 * plaintext), kept up to date from the records themselves: at start-up and before each lookup, records
 * added or changed since (e.g. by `phiportal import` in another process) are indexed again.
 *
 * The code: 6 digits, enrol.self_code_ttl_min minutes, single use, enrol.self_code_attempts tries per
 * start, starts and tries throttled per source address; only a keyed digest stays once it was sent.
 * It is sent by notify/'s delivery worker (pp_notify_set_drain), never on the request's thread. */
#include "portal/portal_internal.h"

#include <pthread.h>
#include <string.h>

#include "notify/notify.h"
#include "store/store_enrol.h"
#include "store/store_enrol_self.h"

#define CODE_DIGITS 6
#define NAMES_MAX 4            /* Patient.name entries indexed */
#define GIVEN_MAX 3            /* given names per entry */
#define REFRESH_BATCH 64
#define SEND_TRIES 4
#define PURGE_EVERY_MS (3600LL * 1000)
#define ATTEMPTS_ALL_MIN 120

static pp_ratelimit *limiter;                 /* process-wide, never freed */
static pthread_mutex_t refresh_mu = PTHREAD_MUTEX_INITIALIZER;

static int demo_bidx(pp_crypto *c, const char *family, const char *given, const char *bd,
                     uint8_t out[32])
{
	char key[300];
	int rc = pp_portal_enrol_demo_key(family, given, bd, key, sizeof key);

	if (!rc)
		rc = pp_crypto_blind_index(c, "enrol-demographics", key, out);
	pp_wipe(key, sizeof key);
	return rc;
}

/* one Patient row: every (family, given) of its names with its birth date */
static int index_patient(pp_app *app, int64_t id)
{
	pp_store_resource res;
	json_t *pat = NULL, *name, *giv;
	uint8_t keys[NAMES_MAX * GIVEN_MAX][32];
	size_t n = 0, i, j;
	const char *bd;
	int rc;

	memset(&res, 0, sizeof res);
	if ((rc = pp_store_resource_get(app->store, id, &res)))
		goto out;
	if (pp_fhir_resource_load(app->crypto, &res, &pat)) {
		pp_log_warn("enrol: a Patient row cannot be read; it is not indexed");
		pat = NULL;
	}
	bd = json_string_value(json_object_get(pat, "birthDate"));
	json_array_foreach(json_object_get(pat, "name"), i, name) {
		const char *fam = json_string_value(json_object_get(name, "family"));
		if (i >= NAMES_MAX)
			break;
		json_array_foreach(json_object_get(name, "given"), j, giv) {
			if (j >= GIVEN_MAX)
				break;
			if (!demo_bidx(app->crypto, fam, json_string_value(giv), bd, keys[n]))
				n++;
		}
	}
	rc = pp_store_enrol_index_put(app->store, id, res.digest, (const uint8_t (*)[32])keys, n);
out:
	json_decref(pat);
	pp_store_resource_clear(&res);
	return rc;
}

/* indexes records added or changed since; max_rounds batches at most (0: all) */
static int refresh_index(pp_app *app, int max_rounds)
{
	int64_t ids[REFRESH_BATCH];
	size_t n = 0;
	int rc = PP_OK;

	pthread_mutex_lock(&refresh_mu);
	for (int round = 0; !max_rounds || round < max_rounds; round++) {
		if ((rc = pp_store_enrol_index_stale(app->store, ids, REFRESH_BATCH, &n)) || !n)
			break;
		for (size_t i = 0; i < n && !rc; i++)
			rc = index_patient(app, ids[i]);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&refresh_mu);
	if (rc)
		pp_log_warn("enrol: demographic index refresh failed (%s)", pp_strerror(rc));
	return rc;
}

/* ---- the contact on file ---- */

static bool phone_from(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = in; p && *p; p++) {
		if (*p == ' ' || *p == '-' || *p == '(' || *p == ')' || *p == '.')
			continue;
		if (n + 1 >= cap)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return pp_notify_phone_valid(out);
}

/* the address of that channel on the record, else on the account linked to it; "" when none */
static void contact_on_file(pp_app *app, int64_t patient_id, bool email, char *out, size_t cap)
{
	pp_store_resource res;
	pp_notify_contact ct;
	json_t *pat = NULL, *t;
	int64_t uid = 0;
	size_t i;

	out[0] = '\0';
	memset(&res, 0, sizeof res);
	memset(&ct, 0, sizeof ct);
	if (!pp_store_resource_get(app->store, patient_id, &res) &&
	    !pp_fhir_resource_load(app->crypto, &res, &pat)) {
		json_array_foreach(json_object_get(pat, "telecom"), i, t) {
			const char *sys = json_string_value(json_object_get(t, "system"));
			const char *use = json_string_value(json_object_get(t, "use"));
			const char *v = json_string_value(json_object_get(t, "value"));
			if (!sys || !v || (use && !strcmp(use, "old")) || json_object_get(t, "period"))
				continue;
			if (email && !strcmp(sys, "email") && pp_notify_email_valid(v) &&
			    strlen(v) < cap) {
				snprintf(out, cap, "%s", v);
				break;
			}
			if (!email && (!strcmp(sys, "sms") || (!strcmp(sys, "phone") && use &&
			                                       !strcmp(use, "mobile"))) &&
			    phone_from(v, out, cap))
				break;
			out[0] = '\0';
		}
	}
	if (!out[0] && !pp_store_user_for_patient(app->store, patient_id, &uid) && uid &&
	    !pp_notify_contact_get(app->store, app->crypto, uid, &ct)) {
		const char *v = email ? ct.email : ct.phone;
		if (v[0] && strlen(v) < cap)
			snprintf(out, cap, "%s", v);
	}
	pp_notify_contact_wipe(&ct);
	json_decref(pat);
	pp_store_resource_clear(&res);
}

/* ---- codes ---- */

static int new_code(char out[CODE_DIGITS + 1])
{
	uint32_t v;
	int rc;

	/* uniform over 10^6: values at or above the last whole multiple are drawn again */
	do {
		if ((rc = pp_random(&v, sizeof v)))
			return rc;
	} while (v >= 4294000000u);
	snprintf(out, CODE_DIGITS + 1, "%06u", (unsigned)(v % 1000000u));
	pp_wipe(&v, sizeof v);
	return PP_OK;
}

static int code_digest(pp_app *app, const char *pub, const char *code, uint8_t out[32])
{
	char msg[96];
	int n = snprintf(msg, sizeof msg, "enrol-self\n%s\n%s", pub, code);
	int rc = n > 0 && (size_t)n < sizeof msg
	         ? pp_crypto_keyed_digest(app->crypto, msg, (size_t)n, out) : PP_EINVAL;

	pp_wipe(msg, sizeof msg);
	return rc;
}

/* "123 456" → "123456"; false when not 6 digits */
static bool code_norm(const char *in, char out[CODE_DIGITS + 1])
{
	size_t n = 0;

	for (const char *p = in; p && *p; p++) {
		if (*p == ' ' || *p == '-')
			continue;
		if (*p < '0' || *p > '9' || n == CODE_DIGITS)
			return false;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n == CODE_DIGITS;
}

static int throttled(pp_app *app, pp_http_request *r, const pp_principal *p, const char *action)
{
	pp_http_set_header(r, "Retry-After", "60");
	if (pp_portal_audit(app, p, action, NULL, NULL, NULL, "denied", "patient-access", "throttled"))
		return pp_portal_audit_failed(r);
	return pp_http_error(r, 429, "throttled", "Too many attempts; try again later");
}

static bool take(const char *prefix, const char *ip, int rate, int64_t now)
{
	char key[160];

	snprintf(key, sizeof key, "%.32s:%.100s", prefix, ip);
	return pp_ratelimit_take(limiter, key, rate, now, NULL);
}

/* POST /api/v1/enrol/self/start {"family_name","given_name","birth_date","channel"} (no session) */
static int h_start(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const pp_config *cfg = app->cfg;
	pp_store_enrol_self e;
	pp_principal p;
	json_t *body = NULL;
	const char *fam, *giv, *bd, *ch;
	char code[CODE_DIGITS + 1] = "", dest[256] = "", when[32], pub[40] = "", detail[64];
	uint8_t bidx[32];
	int64_t ids[2], now = pp_clock_now_ms();
	size_t n = 0;
	bool email, send;
	int rc;

	memset(&e, 0, sizeof e);
	pp_portal_principal(r, NULL, &p);
	if (!cfg->enrol_self_service)
		return pp_http_error(r, 404, "not_found", "Not found");
	if (!pp_portal_origin_ok(r))
		return pp_http_error(r, 403, "origin", "Cross-origin request refused");
	if (!take("enrol-self-start", p.source_ip, cfg->enrol_self_starts_per_min, now) ||
	    !take("enrol-self-start", "*", ATTEMPTS_ALL_MIN, now))
		return throttled(app, r, &p, "enrol.self.start");
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	fam = pp_portal_json_str(body, "family_name", 100);
	giv = pp_portal_json_str(body, "given_name", 100);
	bd = pp_portal_json_str(body, "birth_date", 10);
	ch = pp_portal_json_str(body, "channel", 8);
	if (!ch || (strcmp(ch, "email") && strcmp(ch, "sms")) ||
	    demo_bidx(app->crypto, fam, giv, bd, bidx)) {
		rc = pp_http_error(r, 400, "invalid_request", "Enter your family name, given name, birth "
		                   "date (YYYY-MM-DD) and where to send the code (email or sms)");
		goto out;
	}
	email = !strcmp(ch, "email");
	refresh_index(app, 4);
	if ((rc = pp_store_enrol_index_find(app->store, bidx, ids, 2, &n)))
		goto out;
	if (n == 1 && pp_notify_channel_on(app->notify, ch))
		contact_on_file(app, ids[0], email, dest, sizeof dest);
	send = n == 1 && dest[0];
	/* the same work whatever the outcome: a code, a row, two seals (kept only when sent) */
	if ((rc = new_code(code)) || (rc = pp_portal_new_id(&e.id, e.pub_id)) ||
	    (rc = code_digest(app, e.pub_id, code, e.code_digest)) ||
	    (rc = pp_crypto_seal(app->crypto, "enrol_self", "dest", e.id, dest[0] ? dest : code,
	                         dest[0] ? strlen(dest) : CODE_DIGITS, &e.dest_enc, &e.dest_enc_len)) ||
	    (rc = pp_crypto_seal(app->crypto, "enrol_self", "code", e.id, code, CODE_DIGITS,
	                         &e.code_enc, &e.code_enc_len)))
		goto out;
	if (!send) {
		pp_store_enrol_self_clear(&e);
		snprintf(e.send_state, sizeof e.send_state, "none");
	} else {
		pp_store_resource res;
		memset(&res, 0, sizeof res);
		if (pp_store_resource_get(app->store, ids[0], &res) == PP_OK)
			snprintf(pub, sizeof pub, "%s", res.pub_id);
		pp_store_resource_clear(&res);
		e.patient_id = ids[0];
		snprintf(e.send_state, sizeof e.send_state, "pending");
		e.send_due_ms = now;
	}
	snprintf(e.channel, sizeof e.channel, "%s", ch);
	e.created_ms = now;
	e.expires_ms = now + (int64_t)cfg->enrol_self_code_ttl_min * 60000;
	snprintf(detail, sizeof detail, "channel:%s match:%s", ch, n == 0 ? "none" : n > 1
	         ? "several" : send ? "code-sent" : "no-contact");
	/* on record before anything can be sent */
	if (pp_portal_audit(app, &p, "enrol.self.start", pub[0] ? pub : NULL, pub[0] ? "Patient" : NULL,
	                    e.pub_id, "success", "patient-access", detail)) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	if ((rc = pp_store_enrol_self_insert(app->store, &e)))
		goto out;
	if (send)
		pp_notify_wake(app->notify);
	pp_clock_format_iso(e.expires_ms, when);
	rc = pp_portal_json(r, 202, json_pack("{s:s, s:s, s:s, s:i}", "start_id", e.pub_id,
	                                      "expires_at", when, "channel", ch, "attempts",
	                                      cfg->enrol_self_code_attempts), false);
out:
	pp_wipe(code, sizeof code);
	pp_wipe(dest, sizeof dest);
	pp_wipe(bidx, sizeof bidx);
	pp_store_enrol_self_clear(&e);
	json_decref(body);
	return rc;
}

static int refuse(pp_app *app, pp_http_request *r, pp_principal *p, const char *reason)
{
	if (pp_portal_audit(app, p, "enrol.self", NULL, NULL, NULL, "denied", "patient-access", reason))
		return pp_portal_audit_failed(r);
	return pp_http_error(r, 400, "invalid_code",
	                     "The code is not correct, has expired or was used. Check the code or "
	                     "start again.");
}

/* POST /api/v1/enrol/self/finish {"start_id","code","username","password"} (no session) */
static int h_finish(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const pp_config *cfg = app->cfg;
	pp_store_enrol_self e;
	pp_store_resource res;
	pp_principal p;
	json_t *body = NULL;
	const char *sid, *code, *user, *pass;
	char plain[CODE_DIGITS + 1] = "", pub[40] = "", assurance[48], detail[64];
	uint8_t d[32];
	int64_t now = pp_clock_now_ms(), uid = 0, existing = 0;
	int rc, tr;

	memset(&e, 0, sizeof e);
	memset(&res, 0, sizeof res);
	pp_portal_principal(r, NULL, &p);
	if (!cfg->enrol_self_service)
		return pp_http_error(r, 404, "not_found", "Not found");
	if (!pp_portal_origin_ok(r))
		return pp_http_error(r, 403, "origin", "Cross-origin request refused");
	if (!take("enrol-self", p.source_ip, cfg->enrol_attempts_per_min, now) ||
	    !take("enrol-self", "*", ATTEMPTS_ALL_MIN, now))
		return throttled(app, r, &p, "enrol.self");
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	sid = pp_portal_json_str(body, "start_id", 39);
	code = pp_portal_json_str(body, "code", 32);
	user = pp_portal_json_str(body, "username", 64);
	pass = pp_portal_json_str(body, "password", 1024);
	if (!user || !*user || !pass || !*pass || !sid || !*sid) {
		rc = pp_http_error(r, 400, "invalid_request",
		                   "start_id, code, username and password are required");
		goto out;
	}
	/* one answer for an unknown start, a wrong, expired or used code, and too many tries */
	tr = pp_store_enrol_self_try(app->store, sid, cfg->enrol_self_code_attempts, &e);
	if (tr && tr != PP_ELOCKED && tr != PP_ENOTFOUND) {
		rc = tr;
		goto out;
	}
	if (tr || !code_norm(code, plain) || code_digest(app, e.pub_id, plain, d) ||
	    pp_ct_compare(d, e.code_digest, 32) || e.used_ms || e.expires_ms <= now ||
	    !e.patient_id || strcmp(e.send_state, "none") == 0) {
		rc = refuse(app, r, &p, tr == PP_ENOTFOUND ? "start-unknown" : tr ? "too-many-attempts"
		            : e.used_ms ? "code-used" : e.expires_ms <= now ? "code-expired"
		            : "code-wrong");
		goto out;
	}
	if (pp_store_resource_get(app->store, e.patient_id, &res) == PP_OK)
		snprintf(pub, sizeof pub, "%s", res.pub_id);
	if ((rc = pp_store_user_for_patient(app->store, e.patient_id, &existing)))
		goto out;
	if (existing) {
		/* the code proved control of the contact on file: now it may be said */
		pp_store_enrol_self_use(app->store, e.id, now, existing);
		if (pp_portal_audit(app, &p, "enrol.self", pub, "Patient", e.pub_id, "denied",
		                    "patient-access", "account-exists")) {
			rc = pp_portal_audit_failed(r);
			goto out;
		}
		rc = pp_http_error(r, 409, "account_exists", "This record already has a portal account. "
		                   "Sign in, or use \"forgot password\" at the front desk.");
		goto out;
	}
	if ((rc = pp_portal_patient_account_add(app, r, user, pass, e.patient_id, &uid))) {
		rc = rc > 0 ? 0 : rc;   /* 1: refused with an answer (weak password, username taken) */
		goto out;
	}
	snprintf(assurance, sizeof assurance, "self-demographics+otp:%s", e.channel);
	/* single use, even against a concurrent second attempt: the loser's account is removed */
	if (pp_store_enrol_self_use(app->store, e.id, pp_clock_now_ms(), uid) ||
	    pp_store_user_set_assurance(app->store, uid, assurance)) {
		pp_store_user_delete(app->store, uid);
		rc = refuse(app, r, &p, "code-used");
		goto out;
	}
	snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)uid);
	snprintf(p.role, sizeof p.role, "patient");
	snprintf(detail, sizeof detail, "assurance:%s", assurance);
	if (pp_portal_audit(app, &p, "enrol.self", pub, "Patient", pub, "success", "patient-access",
	                    detail)) {
		pp_store_user_delete(app->store, uid);
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 201, json_pack("{s:s, s:s, s:s}", "status", "enrolled", "assurance",
	                                      assurance, "next", "Sign in with your new username and "
	                                      "password, then set up your authenticator app."), false);
out:
	pp_wipe(plain, sizeof plain);
	pp_wipe(d, sizeof d);
	pp_store_enrol_self_clear(&e);
	pp_store_resource_clear(&res);
	json_decref(body);
	return rc;
}

/* ---- delivery (on notify/'s worker thread) ---- */

static void send_one(pp_app *app, pp_notify *n, int64_t id)
{
	pp_store_enrol_self e;
	uint8_t *dest = NULL, *code = NULL;
	size_t dl = 0, cl = 0;
	char err[48] = "";
	int64_t now = pp_clock_now_ms();
	int rc;

	memset(&e, 0, sizeof e);
	if (pp_store_enrol_self_get(app->store, id, &e))
		return;
	if (e.expires_ms <= now || !e.dest_enc || !e.code_enc) {
		pp_store_enrol_self_mark(app->store, id, "failed", 0);
		goto out;
	}
	if ((rc = pp_crypto_unseal(app->crypto, "enrol_self", "dest", id, e.dest_enc, e.dest_enc_len,
	                           &dest, &dl)) ||
	    (rc = pp_crypto_unseal(app->crypto, "enrol_self", "code", id, e.code_enc, e.code_enc_len,
	                           &code, &cl))) {
		pp_log_warn("enrol: self-enrolment code %lld cannot be unsealed (%s)", (long long)id,
		            pp_strerror(rc));
		pp_store_enrol_self_mark(app->store, id, "failed", 0);
		goto out;
	}
	rc = pp_notify_send_code(n, e.channel, (const char *)dest, (const char *)code,
	                         app->cfg->enrol_self_code_ttl_min, err, sizeof err);
	if (!rc) {
		pp_store_enrol_self_mark(app->store, id, "sent", 0);
		pp_log_info("enrol: self-enrolment code %lld sent by %s", (long long)id, e.channel);
	} else if (e.send_attempts + 1 >= SEND_TRIES) {
		pp_store_enrol_self_mark(app->store, id, "failed", 0);
		pp_log_warn("enrol: self-enrolment code %lld not sent (%s)", (long long)id, err);
	} else {
		pp_store_enrol_self_mark(app->store, id, "pending",
		                         now + (2000LL << e.send_attempts));
		pp_log_warn("enrol: self-enrolment code %lld attempt failed (%s)", (long long)id, err);
	}
out:
	pp_crypto_free_plain(dest, dl);
	pp_crypto_free_plain(code, cl);
	pp_store_enrol_self_clear(&e);
}

static void drain(pp_notify *n, void *arg)
{
	static int64_t last_purge;
	pp_app *app = arg;
	int64_t ids[16], now = pp_clock_now_ms();
	size_t got = 0;

	if (pp_store_enrol_self_due(app->store, now, ids, 16, &got))
		return;
	for (size_t i = 0; i < got; i++)
		send_one(app, n, ids[i]);
	if (now - last_purge > PURGE_EVERY_MS) {
		last_purge = now;
		pp_store_enrol_self_purge(app->store, now - 86400000LL, NULL);
	}
}

int pp_portal_enrol_self_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	if (!limiter && pp_ratelimit_new(&limiter))
		return PP_ENOMEM;
	if (app && app->store && app->crypto && app->cfg->enrol_self_service) {
		refresh_index(app, 0);   /* records imported before this version, or while stopped */
		if (app->notify)
			pp_notify_set_drain(app->notify, drain, app);
	}
	rc |= pp_http_route(srv, "POST", "/api/v1/enrol/self/start", h_start, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/enrol/self/finish", h_finish, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
