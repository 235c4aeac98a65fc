/* portal: enrolment with identity proofing. Staff who checked a patient's identity in person issue a
 * one-time activation code (80 random bits, shown once, expiring, single use; only a keyed digest is
 * stored; a new code voids the earlier ones); the patient creates their account with the code and
 * their birth date. Every wrong answer looks the same (no enumeration of codes, patients or
 * accounts), attempts are throttled per source address and overall, and the account records the
 * level of assurance reached ("in-person"). */
#include "portal/portal_internal.h"

#include <string.h>

#include "store/store_enrol.h"

#define CODE_CHARS "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   /* 32 symbols, no 0/O, 1/I */
#define CODE_LEN 16                                      /* 80 bits */
#define ATTEMPTS_ALL_MIN 120

static pp_ratelimit *limiter;   /* process-wide: created with the routes, never freed */

/* "abcd-efgh …" → "ABCDEFGH…" (separators and spaces dropped); false when not a code's shape */
static bool normalise(const char *in, char out[CODE_LEN + 1])
{
	size_t n = 0;

	for (const char *p = in; p && *p; p++) {
		char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
		if (c == '-' || c == ' ')
			continue;
		if (n == CODE_LEN || !strchr(CODE_CHARS, c) || !c)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == CODE_LEN;
}

static int code_digest(pp_app *app, const char *code, uint8_t out[32])
{
	char msg[CODE_LEN + 16];
	int n = snprintf(msg, sizeof msg, "activation\n%s", code);
	int rc = pp_crypto_keyed_digest(app->crypto, msg, (size_t)n, out);

	pp_wipe(msg, sizeof msg);
	return rc;
}

static int new_code(char out[CODE_LEN + 4])
{
	uint8_t rnd[CODE_LEN];
	size_t k = 0;
	int rc = pp_random(rnd, sizeof rnd);

	if (rc)
		return rc;
	for (int i = 0; i < CODE_LEN; i++) {
		if (i && i % 4 == 0)
			out[k++] = '-';
		out[k++] = CODE_CHARS[rnd[i] & 31];
	}
	out[k] = '\0';
	pp_wipe(rnd, sizeof rnd);
	return 0;
}

/* POST /api/v1/patients/:id/activation-code (staff with enrolment.issue) */
static int h_issue(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *pub = pp_http_param(r, "id");
	pp_store_activation a;
	pp_store_resource res;
	pp_session s;
	pp_principal p;
	char code[CODE_LEN + 4], plain[CODE_LEN + 1], when[32];
	int64_t existing = 0, now = pp_clock_now_ms();
	int rc;

	memset(&a, 0, sizeof a);
	memset(&res, 0, sizeof res);
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (!pp_policy_permits(p.role, "enrolment.issue") || !pub || strlen(pub) >= sizeof res.pub_id ||
	    pp_store_resource_get_pub(app->store, "Patient", pub, &res)) {
		pp_store_resource_clear(&res);
		if (pp_portal_audit(app, &p, "enrol.code.issue", NULL, "Patient", NULL, "denied",
		                    "operations", pp_policy_permits(p.role, "enrolment.issue")
		                                      ? "no-patient" : "role"))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No such record");
	}
	a.patient_id = res.id;
	pp_store_resource_clear(&res);
	if ((rc = pp_store_user_for_patient(app->store, a.patient_id, &existing)))
		return rc;
	if (existing)
		return pp_http_error(r, 409, "account_exists",
		                     "This patient already has a portal account");
	if ((rc = new_code(code)) || !normalise(code, plain) || (rc = code_digest(app, plain, a.digest)))
		goto out;
	a.issued_by = s.user_id;
	snprintf(a.method, sizeof a.method, "in-person");
	a.created_ms = now;
	a.expires_ms = now + (int64_t)app->cfg->enrol_code_ttl_hours * 3600000;
	/* the code is handed out only once its issue is on record */
	if (pp_portal_audit(app, &p, "enrol.code.issue", pub, "Patient", pub, "success", "operations",
	                    "in-person")) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	if ((rc = pp_store_activation_insert(app->store, &a)))
		goto out;
	pp_clock_format_iso(a.expires_ms, when);
	rc = pp_portal_json(r, 201, json_pack("{s:s, s:s}", "code", code, "expires_at", when), true);
out:
	pp_wipe(code, sizeof code);
	pp_wipe(plain, sizeof plain);
	return rc;
}

/* birthDate of the Patient row, as stored (YYYY-MM-DD) */
static bool birth_date_matches(pp_app *app, int64_t patient_id, const char *given)
{
	pp_store_resource res;
	json_t *pat = NULL;
	const char *bd;
	bool ok;

	memset(&res, 0, sizeof res);
	if (pp_store_resource_get(app->store, patient_id, &res) ||
	    pp_fhir_resource_load(app->crypto, &res, &pat)) {
		pp_store_resource_clear(&res);
		return false;
	}
	bd = json_string_value(json_object_get(pat, "birthDate"));
	ok = bd && given && strlen(bd) == strlen(given) && !pp_ct_compare(bd, given, strlen(bd));
	json_decref(pat);
	pp_store_resource_clear(&res);
	return ok;
}

/* POST /api/v1/enrol {"code","birth_date","username","password"} (no session) */
static int h_enrol(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_store_activation a;
	pp_principal p;
	json_t *body = NULL;
	const char *code, *bd, *user, *pass;
	char plain[CODE_LEN + 1] = "", key[80], pub[40] = "", detail[48];
	int64_t now = pp_clock_now_ms(), uid = 0, existing = 0;
	int retry = 0, rc;

	memset(&a, 0, sizeof a);
	pp_portal_principal(r, NULL, &p);
	if (!pp_portal_origin_ok(r))
		return pp_http_error(r, 403, "origin", "Cross-origin request refused");
	snprintf(key, sizeof key, "enrol:%s", p.source_ip);
	if (!pp_ratelimit_take(limiter, key, app->cfg->enrol_attempts_per_min, now, &retry) ||
	    !pp_ratelimit_take(limiter, "enrol:*", ATTEMPTS_ALL_MIN, now, &retry)) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry > 0 ? retry : 60);
		pp_http_set_header(r, "Retry-After", ra);
		if (pp_portal_audit(app, &p, "enrol", NULL, NULL, NULL, "denied", "patient-access",
		                    "throttled"))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 429, "throttled", "Too many attempts; try again later");
	}
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	code = pp_portal_json_str(body, "code", 64);
	bd = pp_portal_json_str(body, "birth_date", 10);
	user = pp_portal_json_str(body, "username", 64);
	pass = pp_portal_json_str(body, "password", 1024);
	if (!user || !*user || !pass || !*pass) {
		rc = pp_http_error(r, 400, "invalid_request", "username and password are required");
		goto out;
	}
	/* one answer for every wrong code, used or expired code, and wrong birth date */
	if (!code || !normalise(code, plain) || code_digest(app, plain, a.digest) ||
	    pp_store_activation_get(app->store, a.digest, &a) || a.used_ms || a.expires_ms <= now ||
	    !birth_date_matches(app, a.patient_id, bd)) {
		const char *reason = !a.patient_id ? "code-unknown" : a.used_ms ? "code-used"
		                     : a.expires_ms <= now ? "code-expired" : "birth-date-mismatch";
		if (pp_portal_audit(app, &p, "enrol", NULL, NULL, NULL, "denied", "patient-access",
		                    reason)) {
			rc = pp_portal_audit_failed(r);
			goto out;
		}
		rc = pp_http_error(r, 400, "invalid_code",
		                   "The activation code or birth date is not correct, or the code has "
		                   "expired or was used. Ask the front desk for a new code.");
		goto out;
	}
	if ((rc = pp_store_user_for_patient(app->store, a.patient_id, &existing)))
		goto out;
	if (existing) {
		rc = pp_http_error(r, 409, "account_exists", "This record already has a portal account");
		goto out;
	}
	if ((rc = pp_portal_patient_account_add(app, r, user, pass, a.patient_id, &uid))) {
		rc = rc > 0 ? 0 : rc;   /* 1: refused with an answer (weak password, username taken) */
		goto out;
	}
	/* single use, even against a concurrent second attempt: the loser's account is removed */
	if ((rc = pp_store_activation_use(app->store, a.digest, pp_clock_now_ms(), uid)) ||
	    (rc = pp_store_user_set_assurance(app->store, uid, "in-person"))) {
		pp_store_user_delete(app->store, uid);
		rc = pp_http_error(r, 400, "invalid_code", "The activation code was already used");
		goto out;
	}
	{
		pp_store_resource res;
		memset(&res, 0, sizeof res);
		if (pp_store_resource_get(app->store, a.patient_id, &res) == PP_OK)
			snprintf(pub, sizeof pub, "%s", res.pub_id);
		pp_store_resource_clear(&res);
	}
	snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)uid);
	snprintf(p.role, sizeof p.role, "patient");
	snprintf(detail, sizeof detail, "assurance:in-person");
	if (pp_portal_audit(app, &p, "enrol", pub, "Patient", pub, "success", "patient-access",
	                    detail)) {
		pp_store_user_delete(app->store, uid);
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 201, json_pack("{s:s, s:s}", "status", "enrolled", "next",
	                                      "Sign in with your new username and password, then set "
	                                      "up your authenticator app."), false);
out:
	pp_wipe(plain, sizeof plain);
	json_decref(body);
	return rc;
}

int pp_portal_enrol_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	if (!limiter && pp_ratelimit_new(&limiter))
		return PP_ENOMEM;
	rc |= pp_http_route(srv, "POST", "/api/v1/patients/:id/activation-code", h_issue, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/enrol", h_enrol, NULL);
	if (rc)
		return PP_EINVAL;
	return pp_portal_enrol_self_routes(srv, app);
}
