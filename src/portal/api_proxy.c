/* portal: people who act for a patient, and the patient's consent choices.
 * - A patient grants a caregiver or guardian access to their record (scope: full, no messaging,
 *   billing only; optional expiry), lists and revokes grants at any time; once adult, a patient
 *   re-authorises a parent's grant that ended on their 18th birthday.
 * - Staff with proxy.grant (front desk) grant a parent or guardian access to a minor's record.
 * - A proxy lists whom they act for. The rules themselves (scope, ages, sensitive data) are in
 *   policy/, so they hold for the portal, the JSON API and FHIR alike.
 * - Consent: share with apps yes/no, share sensitive categories with proxies yes/no; each change
 *   recorded as a FHIR Consent (fhir/consent.c) in the same transaction as the row policy/ reads.
 * Every change is one audit record; grants are named by opaque ids. */
#include "portal/portal_internal.h"

#include <string.h>

#include "store/store_access.h"
#include "store/store_consent.h"

static const char *const RELATIONSHIPS[] = {"parent", "guardian", "caregiver", NULL};
static const char *const SCOPES[] = {"full", "no-messaging", "billing-only", NULL};

static bool one_of(const char *v, const char *const *list)
{
	for (; v && *list; list++)
		if (!strcmp(v, *list))
			return true;
	return false;
}

/* the patient's birthDate (YYYY-MM-DD) from their record; "" when absent */
static int birth_date(pp_app *app, int64_t patient_id, char out[16])
{
	pp_store_resource res;
	json_t *pat = NULL;
	const char *bd;
	int rc;

	out[0] = '\0';
	memset(&res, 0, sizeof res);
	if ((rc = pp_store_resource_get(app->store, patient_id, &res)) ||
	    (rc = pp_fhir_resource_load(app->crypto, &res, &pat)))
		goto out;
	bd = json_string_value(json_object_get(pat, "birthDate"));
	if (bd && strlen(bd) == 10)
		snprintf(out, 16, "%s", bd);
	else
		rc = PP_ENOTFOUND;
out:
	json_decref(pat);
	pp_store_resource_clear(&res);
	return rc;
}

static int years_since(const char *date)
{
	char now[32];
	int by, bm, bd, ny, nm, nd;

	pp_clock_format_iso(pp_clock_now_ms(), now);
	if (sscanf(date, "%4d-%2d-%2d", &by, &bm, &bd) != 3 ||
	    sscanf(now, "%4d-%2d-%2d", &ny, &nm, &nd) != 3)
		return -1;
	return ny - by - ((nm < bm || (nm == bm && nd < bd)) ? 1 : 0);
}

static int64_t day_ms(const char *date)
{
	int64_t lo = 0, hi = 0;
	return date && strlen(date) == 10 && !pp_fhir_date_parse(date, &lo, &hi) ? hi + 1 : -1;
}

static int pub_of(pp_app *app, int64_t patient_id, char out[40])
{
	pp_store_resource res;
	int rc;

	memset(&res, 0, sizeof res);
	rc = pp_store_resource_get(app->store, patient_id, &res);
	snprintf(out, 40, "%s", rc ? "" : res.pub_id);
	pp_store_resource_clear(&res);
	return rc;
}

/* creates a grant for patient_id to the account named in the body; the caller checked who may */
static int grant(pp_app *app, pp_http_request *r, pp_principal *p, int64_t patient_id,
                 const char *pub, json_t *body, bool by_staff)
{
	const char *user = pp_portal_json_str(body, "username", 64);
	const char *rel = pp_portal_json_str(body, "relationship", 16);
	const char *scope = pp_portal_json_str(body, "scope", 16);
	const char *expires = pp_portal_json_str(body, "expires", 10);
	pp_store_proxy g;
	pp_store_user u;
	char dob[16], detail[96], when[32];
	int64_t uid = 0, exp = 0;
	int age, rc;

	memset(&g, 0, sizeof g);
	memset(&u, 0, sizeof u);
	if (!one_of(rel, RELATIONSHIPS) || !one_of(scope ? scope : "full", SCOPES) ||
	    (expires && *expires && (exp = day_ms(expires)) <= pp_clock_now_ms()))
		return pp_http_error(r, 400, "invalid_request",
		                     "relationship is parent, guardian or caregiver; scope is full, "
		                     "no-messaging or billing-only; expires is a future YYYY-MM-DD");
	if ((rc = birth_date(app, patient_id, dob)))
		return rc == PP_ENOTFOUND ? pp_http_error(r, 400, "no_birth_date",
		                                          "The record has no birth date") : rc;
	age = years_since(dob);
	/* a parent's access is for a minor; a minor's proxies are set up by staff */
	if (!strcmp(rel, "parent") && age >= app->cfg->policy_adult_age)
		return pp_http_error(r, 400, "not_a_minor", "Parent access is for patients under "
		                     "the age of majority; use caregiver or guardian");
	if (!by_staff && age < app->cfg->policy_adult_age)
		return pp_http_error(r, 403, "minor", "Proxy access for a minor is set up by the "
		                     "practice");
	/* the proxy's account: a patient or proxy account, never staff, never oneself */
	if (!user || pp_auth_user_find(app->auth, user, &uid) || pp_store_user_get(app->store, uid, &u) ||
	    (strcmp(u.role, "patient") && strcmp(u.role, "proxy")) || uid == p->user_id ||
	    (u.patient_id && u.patient_id == patient_id)) {
		pp_store_user_clear(&u);
		return pp_http_error(r, 400, "invalid_proxy",
		                     "No patient or proxy account with that username can be given access");
	}
	pp_store_user_clear(&u);
	if ((rc = pp_portal_new_id(&g.id, g.pub_id)))
		return rc;
	g.proxy_user_id = uid;
	g.patient_id = patient_id;
	snprintf(g.relationship, sizeof g.relationship, "%s", rel);
	snprintf(g.scope, sizeof g.scope, "%s", scope ? scope : "full");
	g.granted_by = p->user_id;
	g.created_ms = pp_clock_now_ms();
	g.expires_ms = exp;
	if ((rc = pp_crypto_seal(app->crypto, "proxy_grant", "dob", g.id, dob, strlen(dob), &g.dob_enc,
	                         &g.dob_enc_len)))
		goto out;
	snprintf(detail, sizeof detail, "grant:%s proxy:user:%lld %s %s", g.pub_id, (long long)uid,
	         g.relationship, g.scope);
	if (pp_portal_audit(app, p, "proxy.grant", pub, "ProxyGrant", g.pub_id, "success",
	                    by_staff ? "operations" : "patient-access", detail)) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	if ((rc = pp_store_proxy_insert(app->store, &g)))
		goto out;
	pp_clock_format_iso(g.expires_ms, when);
	rc = pp_portal_json(r, 201, json_pack("{s:s, s:s, s:s, s:s?}", "id", g.pub_id, "relationship",
	                                      g.relationship, "scope", g.scope, "expires",
	                                      g.expires_ms ? when : NULL), false);
out:
	pp_wipe(dob, sizeof dob);
	pp_store_proxy_clear(&g);
	return rc;
}

/* POST /api/v1/me/proxies */
static int h_grant_mine(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	char pub[40];
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (strcmp(s.role, "patient") || s.patient_id <= 0 || pub_of(app, s.patient_id, pub))
		return pp_http_error(r, 404, "not_found", "No record is linked to this account");
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	rc = grant(app, r, &p, s.patient_id, pub, body, false);
	json_decref(body);
	return rc;
}

/* POST /api/v1/patients/:id/proxies (staff with proxy.grant) */
static int h_grant_staff(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *pub = pp_http_param(r, "id");
	pp_store_resource res;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	memset(&res, 0, sizeof res);
	if (!pp_policy_permits(p.role, "proxy.grant") || !pub || strlen(pub) >= sizeof res.pub_id ||
	    pp_store_resource_get_pub(app->store, "Patient", pub, &res)) {
		pp_store_resource_clear(&res);
		if (pp_portal_audit(app, &p, "proxy.grant", NULL, "ProxyGrant", NULL, "denied",
		                    "operations", "role-or-patient"))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No such record");
	}
	if (pp_portal_body_json(app, r, &body) || !body) {
		pp_store_resource_clear(&res);
		return 0;
	}
	rc = grant(app, r, &p, res.id, res.pub_id, body, true);
	pp_store_resource_clear(&res);
	json_decref(body);
	return rc;
}

typedef struct listing {
	pp_app *app;
	json_t *arr;
	bool as_proxy;
} listing;

static int list_one(void *ctx, const pp_store_proxy *g)
{
	listing *l = ctx;
	char created[32], expires[32], other[40] = "";
	uint8_t *name = NULL;
	size_t nlen = 0;
	pp_store_user u;
	json_t *item;

	memset(&u, 0, sizeof u);
	pp_clock_format_iso(g->created_ms, created);
	pp_clock_format_iso(g->expires_ms, expires);
	if (l->as_proxy) {
		pub_of(l->app, g->patient_id, other);
	} else if (pp_store_user_get(l->app->store, g->proxy_user_id, &u) == PP_OK) {
		pp_crypto_unseal(l->app->crypto, "user_account", "username", u.id, u.username_enc,
		                 u.username_enc_len, &name, &nlen);
	}
	item = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s, s:s?, s:b}", "id", g->pub_id,
	                 "proxy", name ? (const char *)name : NULL, "patient_id",
	                 other[0] ? other : NULL, "relationship", g->relationship, "scope", g->scope,
	                 "granted_at", created, "expires", g->expires_ms ? expires : NULL,
	                 "reauthorised", g->adult_ok_ms != 0);
	if (name)
		pp_crypto_free_plain(name, nlen);
	pp_store_user_clear(&u);
	return item && !json_array_append_new(l->arr, item) ? 0 : PP_ENOMEM;
}

/* GET /api/v1/me/proxies → {"granted":[…on my record], "acting_for":[…records I may act for]} */
static int h_list(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	listing mine = {.app = app}, theirs = {.app = app, .as_proxy = true};
	char pub[40] = "";
	int rc = 0;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (strcmp(s.role, "patient") && strcmp(s.role, "proxy"))
		return pp_http_error(r, 404, "not_found", "Not found");
	mine.arr = json_array();
	theirs.arr = json_array();
	if (!mine.arr || !theirs.arr) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (s.patient_id > 0 &&
	    (rc = pp_store_proxy_each(app->store, s.patient_id, 0, false, list_one, &mine)))
		goto out;
	if ((rc = pp_store_proxy_each(app->store, 0, s.user_id, false, list_one, &theirs)))
		goto out;
	if (s.patient_id > 0)
		pub_of(app, s.patient_id, pub);
	if (pp_portal_audit(app, &p, "proxy.list", pub[0] ? pub : NULL, "ProxyGrant", NULL,
	                    "success", "patient-access", NULL)) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 200, json_pack("{s:O, s:O}", "granted", mine.arr, "acting_for",
	                                      theirs.arr), true);
out:
	json_decref(mine.arr);
	json_decref(theirs.arr);
	return rc;
}

/* DELETE /api/v1/me/proxies/:id (the patient revokes) and POST …/:id/reauthorise (the patient,
 * now adult, lets a parent's grant continue) */
static int change(pp_http_request *r, void *vapp, bool revoke)
{
	pp_app *app = vapp;
	const char *id = pp_http_param(r, "id");
	pp_store_proxy g;
	pp_session s;
	pp_principal p;
	char pub[40] = "", detail[64];
	int rc;

	memset(&g, 0, sizeof g);
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (!id || strlen(id) >= sizeof g.pub_id || pp_store_proxy_get(app->store, id, &g) ||
	    strcmp(s.role, "patient") || g.patient_id != s.patient_id || g.revoked_ms) {
		pp_store_proxy_clear(&g);
		return pp_http_error(r, 404, "not_found", "No such grant");
	}
	if (!revoke) {
		char dob[16];
		int age = birth_date(app, g.patient_id, dob) ? -1 : years_since(dob);
		if (age < app->cfg->policy_adult_age) {
			pp_store_proxy_clear(&g);
			return pp_http_error(r, 400, "not_adult", "Only an adult patient can re-authorise "
			                     "a parent's access");
		}
	}
	pub_of(app, g.patient_id, pub);
	snprintf(detail, sizeof detail, "grant:%s", g.pub_id);
	if (pp_portal_audit(app, &p, revoke ? "proxy.revoke" : "proxy.reauthorise", pub, "ProxyGrant",
	                    g.pub_id, "success", "patient-access", detail)) {
		pp_store_proxy_clear(&g);
		return pp_portal_audit_failed(r);
	}
	rc = revoke ? pp_store_proxy_revoke(app->store, g.pub_id, s.user_id, pp_clock_now_ms())
	            : pp_store_proxy_adult_ok(app->store, g.pub_id, pp_clock_now_ms());
	pp_store_proxy_clear(&g);
	if (rc == PP_ENOTFOUND)
		return pp_http_error(r, 404, "not_found", "No such grant");
	return rc ? rc : pp_portal_json(r, 200, json_pack("{s:s}", "status", revoke ? "revoked"
	                                                                       : "reauthorised"),
	                                false);
}

static int h_revoke(void *vapp, pp_http_request *r)
{
	return change(r, vapp, true);
}

static int h_reauthorise(void *vapp, pp_http_request *r)
{
	return change(r, vapp, false);
}

/* ---- consent ----
 * The choices are recorded as FHIR R4 Consent resources by fhir/consent.c (each change a new
 * Consent, the previous one inactive, all kept) in the same transaction as the table policy/
 * enforces, around the request's one audit record. */

#define CONSENT_HISTORY_MAX 100

static const char *str_of(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* one line of the patient's consent history, from a served Consent (NULL when not one of ours) */
static json_t *consent_item(const json_t *res)
{
	bool apps, sens;
	const char *v = str_of(json_object_get(res, "meta"), "versionId");

	if (pp_fhir_consent_choices(res, &apps, &sens))
		return NULL;
	return json_pack("{s:s?, s:i, s:s?, s:s?, s:b, s:b}", "id", str_of(res, "id"), "version",
	                 v ? atoi(v) : 1, "status", str_of(res, "status"), "date",
	                 str_of(res, "dateTime"), "share_with_apps", apps,
	                 "share_sensitive_with_proxies", sens);
}

/* the answer: the enforced choices, the current Consent (id, version; served) and the history */
static json_t *consent_answer(const pp_store_consent *c, json_t *list, json_t *current, bool put,
                              bool changed)
{
	json_t *out, *hist = json_array(), *e;
	char when[32];
	size_t i;

	json_array_foreach(list, i, e) {
		json_t *item = consent_item(e);
		if (item)
			json_array_append_new(hist, item);
	}
	pp_clock_format_iso(c->updated_ms, when);
	out = json_pack("{s:b, s:b, s:s?, s:o?, s:O?, s:o}", "share_with_apps", c->share_apps,
	                "share_sensitive_with_proxies", c->share_sensitive_proxies, "updated_at",
	                c->updated_ms ? when : NULL, "consent", consent_item(current), "fhir", current,
	                "history", hist);
	if (out && !json_object_get(out, "consent"))
		json_object_set_new(out, "consent", json_null());
	if (out && !json_object_get(out, "fhir"))
		json_object_set_new(out, "fhir", json_null());
	if (out && put)
		json_object_set_new(out, "changed", json_boolean(changed));
	return out;
}

/* GET/PUT /api/v1/me/consent {"share_with_apps": bool, "share_sensitive_with_proxies": bool} */
static int h_consent(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	bool put = !strcmp(pp_http_method(r), "PUT");
	bool apps = false, sens = false, set_apps = false, set_sens = false, changed = false;
	bool in_tx = false;
	pp_store_consent c;
	pp_session s;
	pp_principal p;
	pp_policy_decision d = {0};
	json_t *body = NULL, *list = NULL, *current = NULL;
	char pub[40] = "", rid[40] = "", detail[80];
	int64_t cur_id = 0;
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (strcmp(s.role, "patient") || s.patient_id <= 0 || pub_of(app, s.patient_id, pub))
		return pp_http_error(r, 404, "not_found", "No record is linked to this account");
	if (put) {
		json_t *a, *b;
		if (pp_portal_body_json(app, r, &body) || !body)
			return 0;
		a = json_object_get(body, "share_with_apps");
		b = json_object_get(body, "share_sensitive_with_proxies");
		if ((a && !json_is_boolean(a)) || (b && !json_is_boolean(b)) || (!a && !b)) {
			json_decref(body);
			return pp_http_error(r, 400, "invalid_request",
			                     "share_with_apps and share_sensitive_with_proxies are true or false");
		}
		set_apps = a != NULL;
		set_sens = b != NULL;
		apps = json_is_true(a);
		sens = json_is_true(b);
		json_decref(body);
	}
	pp_policy_decide(app, &p, put ? PP_POLICY_WRITE : PP_POLICY_READ,
	                 &(pp_policy_target){.patient_id = s.patient_id, .resource_type = "Consent"},
	                 &d);
	if (d.effect == PP_POLICY_DENY) {
		if (pp_portal_audit(app, &p, put ? "consent.update" : "consent.read", pub, "Consent",
		                    NULL, "denied", d.purpose, d.reason))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No record is linked to this account");
	}
	/* a change: read, record and audit in one transaction (the write lock is held from the
	 * start, so two changes cannot both supersede the same Consent) */
	if (put) {
		if ((rc = pp_store_begin(app->store)))
			goto fail;
		in_tx = true;
	}
	if ((rc = pp_store_consent_current(app->store, s.patient_id, &c, &cur_id)))
		goto fail;
	if (put) {
		apps = set_apps ? apps : c.share_apps != 0;
		sens = set_sens ? sens : c.share_sensitive_proxies != 0;
		changed = !cur_id || apps != (c.share_apps != 0) || sens != (c.share_sensitive_proxies != 0);
		if (changed) {
			if ((rc = pp_fhir_consent_record(app->store, app->crypto, s.patient_id, apps, sens,
			                                 s.user_id, rid, &cur_id)) ||
			    (rc = pp_store_consent_current(app->store, s.patient_id, &c, &cur_id)))
				goto fail;
		}
	}
	if ((rc = pp_fhir_consent_list(app->store, app->crypto, s.patient_id, cur_id,
	                               CONSENT_HISTORY_MAX, &list, &current)))
		goto fail;
	if (current && !rid[0] && str_of(current, "id"))
		snprintf(rid, sizeof rid, "%s", str_of(current, "id"));
	snprintf(detail, sizeof detail, "apps:%s sensitive-to-proxies:%s%s",
	         c.share_apps ? "yes" : "no", c.share_sensitive_proxies ? "yes" : "no",
	         put && !changed ? " unchanged" : "");
	if (pp_portal_audit(app, &p, put ? "consent.update" : "consent.read", pub, "Consent",
	                    rid[0] ? rid : NULL, "success", d.purpose, detail)) {
		if (in_tx)
			pp_store_rollback(app->store);
		json_decref(list);
		json_decref(current);
		return pp_portal_audit_failed(r);
	}
	if (in_tx && pp_store_commit(app->store)) {
		pp_store_rollback(app->store);
		json_decref(list);
		json_decref(current);
		return pp_http_error(r, 500, "internal", "The change could not be saved");
	}
	rc = pp_portal_json(r, 200, consent_answer(&c, list, current, put, changed), true);
	json_decref(list);
	json_decref(current);
	return rc;
fail:
	if (in_tx)
		pp_store_rollback(app->store);
	json_decref(list);
	json_decref(current);
	if (pp_portal_audit(app, &p, put ? "consent.update" : "consent.read", pub, "Consent", NULL,
	                    "failure", d.purpose, pp_strerror(rc)))
		return pp_portal_audit_failed(r);
	return pp_http_error(r, 500, "internal", "The server could not complete the request");
}

int pp_portal_proxy_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "GET", "/api/v1/me/proxies", h_list, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/me/proxies", h_grant_mine, NULL);
	rc |= pp_http_route(srv, "DELETE", "/api/v1/me/proxies/:id", h_revoke, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/me/proxies/:id/reauthorise", h_reauthorise, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/patients/:id/proxies", h_grant_staff, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/me/consent", h_consent, NULL);
	rc |= pp_http_route(srv, "PUT", "/api/v1/me/consent", h_consent, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
