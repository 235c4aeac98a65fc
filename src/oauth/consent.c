/* oauth: the JSON API behind the web UI's consent view and the patient's "connected apps" page.
 * Same rules as the portal: the session cookie, a fully signed-in session, CSRF token and Origin
 * check on every state-changing call, one audit record per decision. Patients connect apps to
 * their own record (standalone launch); staff launch an organisation's app from a patient's chart
 * (SMART EHR launch): the launch names the patient, the staff member approves for themselves, and
 * every later FHIR request is still decided by policy/ for that staff member. */
#include "oauth/oauth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define COOKIE "pp_session"
#define LAUNCH_TTL_MS (5 * 60 * 1000)

static int reply(pp_http_request *r, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc;

	json_decref(obj);
	if (!text)
		return PP_ENOMEM;
	pp_http_status(r, status);
	pp_http_mark_phi(r);
	rc = pp_http_body_set(r, "application/json", text, strlen(text));
	free(text);
	return rc;
}

static bool origin_ok(pp_http_request *r)
{
	const char *origin = pp_http_header(r, "Origin"), *host = pp_http_header(r, "Host");
	char want[300];

	if (!origin)
		return true;
	if (!host)
		return false;
	snprintf(want, sizeof want, "https://%s", host);
	return !strcmp(origin, want);
}

/* a fully signed-in session (of a patient when patients_only); on failure the response is set and
 * non-zero returned */
static int session(pp_oauth *o, pp_http_request *r, pp_session *s, bool patients_only)
{
	const char *tok = pp_http_cookie(r, COOKIE);
	bool changing = strcmp(pp_http_method(r), "GET") && strcmp(pp_http_method(r), "HEAD");

	if (!tok || !*tok || pp_auth_session_get(o->auth, tok, true, s)) {
		pp_http_error(r, 401, "no_session", "Sign in first");
		return PP_EAUTH;
	}
	if (changing) {
		const char *csrf = pp_http_header(r, "X-CSRF-Token");
		if (!origin_ok(r)) {
			pp_http_error(r, 403, "origin", "Cross-origin request refused");
			return PP_EDENIED;
		}
		if (!csrf || strlen(csrf) != strlen(s->csrf) || pp_ct_compare(csrf, s->csrf, strlen(s->csrf))) {
			pp_http_error(r, 403, "csrf", "Missing or wrong CSRF token");
			return PP_EDENIED;
		}
	}
	if (s->state != PP_SESSION_FULL) {
		pp_http_error(r, 401, "mfa_required", "Complete multi-factor sign-in first");
		return PP_EAUTH;
	}
	if (patients_only && (strcmp(s->role, "patient") || s->patient_id <= 0)) {
		pp_http_error(r, 403, "patients_only", "Only patients can connect apps to their record");
		return PP_EDENIED;
	}
	return PP_OK;
}

static int patient_pub(pp_oauth *o, int64_t patient_id, char out[40])
{
	pp_store_resource res;
	int rc;

	memset(&res, 0, sizeof res);
	out[0] = '\0';
	rc = pp_store_resource_get(o->st, patient_id, &res);
	if (!rc)
		snprintf(out, 40, "%s", res.pub_id);
	pp_store_resource_clear(&res);
	return rc;
}

static int audit_user(pp_oauth *o, pp_http_request *r, const pp_session *s, const char *patient,
                      const char *action, const char *client_id, const char *outcome,
                      const char *detail)
{
	char actor[48];
	pp_audit_event ev = {0};
	int rc;

	snprintf(actor, sizeof actor, "user:%lld", (long long)s->user_id);
	ev.actor = actor;
	ev.actor_role = s->role;
	ev.patient = patient && *patient ? patient : NULL;
	ev.action = action;
	ev.resource_type = "OAuthClient";
	ev.resource_id = client_id;
	ev.outcome = outcome;
	ev.source_ip = pp_http_client_ip(r);
	ev.user_agent = pp_http_user_agent(r);
	ev.session_id = s->id;
	ev.purpose = strcmp(s->role, "patient") ? "treatment" : "patient-access";
	ev.request_id = pp_http_request_id(r);
	ev.detail = detail;
	rc = pp_audit_record(o->audit, &ev);
	return rc ? PP_EAUDIT : PP_OK;
}

static int audit_failed(pp_http_request *r)
{
	return pp_http_error(r, 503, "audit_unavailable",
	                     "The request could not be recorded and was not carried out");
}

/* loads a pending request and its client and works out what would be granted */
typedef struct pending {
	pp_store_oauth_request q;
	pp_store_oauth_launch launch;   /* when q.has_launch */
	pp_store_oauth_client c;
	pp_scope_set req, reg, granted;
} pending;

/* loads the request the signed-in person may answer: a patient their standalone launches, a staff
 * member the EHR launches they started themselves */
static int load_pending(pp_oauth *o, pp_http_request *r, const pp_session *s, pending *p)
{
	const char *id = pp_http_param(r, "id");
	const char *why;
	int rc;

	if (!id || strlen(id) >= sizeof p->q.id || (rc = pp_store_oauth_request_get(o->st, id, &p->q)) ||
	    p->q.done || p->q.expires_ms <= pp_clock_now_ms()) {
		pp_http_error(r, 404, "request_not_found",
		              "This request to connect an app has expired or was already answered. Start "
		              "again from the app.");
		return PP_ENOTFOUND;
	}
	if (p->q.has_launch ? (pp_store_oauth_launch_get(o->st, p->q.launch_hash, &p->launch) ||
	                       p->launch.user_id != s->user_id)
	                    : strcmp(s->role, "patient") || s->patient_id <= 0) {
		pp_http_error(r, 404, "request_not_found",
		              "This request to connect an app has expired or was already answered. Start "
		              "again from the app.");
		return PP_ENOTFOUND;
	}
	if ((rc = pp_store_oauth_client_get(o->st, p->q.client_id, &p->c)) ||
	    pp_oauth_client_usable(&p->c, pp_clock_now_ms(), &why)) {
		pp_http_error(r, 404, "request_not_found", "This app can no longer be connected.");
		return PP_ENOTFOUND;
	}
	if (pp_oauth_scope_parse(p->q.scope, &p->req) || pp_oauth_scope_parse(p->c.scopes, &p->reg) ||
	    pp_oauth_scope_intersect(&p->req, &p->reg, &p->granted)) {
		pp_http_error(r, 400, "invalid_scope", "The app asked for access that cannot be granted.");
		return PP_EINVAL;
	}
	return PP_OK;
}

static void redirect_host(const char *uri, char *out, size_t cap)
{
	const char *p = strstr(uri, "://");
	size_t n;

	p = p ? p + 3 : uri;
	n = strcspn(p, "/?#");
	snprintf(out, cap, "%.*s", (int)n, p);
}

static int h_request_get(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	pp_session s;
	pending *p = calloc(1, sizeof *p);
	pp_buf b;
	char host[256];
	int rc;

	(void)vapp;
	pp_buf_init(&b, 4096);
	if (!p) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (session(o, r, &s, false) || load_pending(o, r, &s, p)) {
		rc = 0;
		goto out;
	}
	if ((rc = pp_oauth_scope_format(&p->granted, &b)))
		goto out;
	redirect_host(p->q.redirect_uri, host, sizeof host);
	rc = reply(r, 200, json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:o, s:s, s:s, s:I, s:b}",
	           "request_id", p->q.id, "client", "id", p->c.client_id, "name", p->c.name, "owner",
	           p->c.owner, "purpose", p->c.purpose, "will_see", pp_oauth_scope_describe(&p->granted),
	           "scope", pp_buf_cstr(&b), "redirect_host", host,
	           "expires_in_s", (json_int_t)((p->q.expires_ms - pp_clock_now_ms()) / 1000),
	           "ehr_launch", p->q.has_launch != 0));
out:
	pp_buf_free(&b);
	free(p);
	return rc;
}

static int decide(pp_http_request *r, bool approve)
{
	pp_oauth *o = pp_http_route_data(r);
	pp_session s;
	pending *p = calloc(1, sizeof *p);
	pp_scope_set *approved = calloc(1, sizeof *approved), *final = calloc(1, sizeof *final);
	pp_store_oauth_code *k = calloc(1, sizeof *k);
	char code[PP_OAUTH_TOKEN_LEN + 1] = "", pub[40] = "", detail[2300];
	pp_buf scope, url;
	json_t *body = NULL;
	int64_t now = pp_clock_now_ms();
	int rc;

	pp_buf_init(&scope, 4096);
	pp_buf_init(&url, 8192);
	if (!p || !approved || !final || !k) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (session(o, r, &s, false) || load_pending(o, r, &s, p)) {
		rc = 0;
		goto out;
	}
	if (p->q.has_launch)
		snprintf(pub, sizeof pub, "%s", p->launch.patient_pub);
	else if ((rc = patient_pub(o, s.patient_id, pub)))
		goto out;
	*final = p->granted;
	if (approve) {
		/* the person may narrow what the app gets: {"scope": "..."} (a subset) */
		size_t len;
		const char *text = pp_http_body(r, &len);
		const char *narrow;
		if (text && len > 0 && len < 16384) {
			body = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
			narrow = json_string_value(json_object_get(body, "scope"));
			if (narrow) {
				if (pp_oauth_scope_parse(narrow, approved) ||
				    pp_oauth_scope_intersect(approved, &p->granted, final)) {
					rc = pp_http_error(r, 400, "invalid_scope", "The chosen access is not valid");
					goto out;
				}
			}
		}
	}
	if (pp_store_oauth_request_finish(o->st, p->q.id, now) ||
	    (p->q.has_launch && approve && pp_store_oauth_launch_use(o->st, p->q.launch_hash, now))) {
		rc = pp_http_error(r, 404, "request_not_found", "This request was already answered.");
		goto out;
	}
	if (approve) {
		if ((rc = pp_oauth_scope_format(final, &scope)))
			goto out;
		memset(k, 0, sizeof *k);
		if ((rc = pp_oauth_new_token(code)) || (rc = pp_oauth_hash(code, k->code_hash)))
			goto out;
		{
			uint8_t rnd[18];
			if ((rc = pp_random(rnd, sizeof rnd)))
				goto out;
			pp_b64url_encode(rnd, sizeof rnd, k->family_id);
		}
		snprintf(k->client_id, sizeof k->client_id, "%s", p->c.client_id);
		k->user_id = s.user_id;
		snprintf(k->user_role, sizeof k->user_role, "%s", s.role);
		k->patient_id = p->q.has_launch ? p->launch.patient_id : s.patient_id;
		snprintf(k->patient_pub, sizeof k->patient_pub, "%s", pub);
		snprintf(k->scope, sizeof k->scope, "%s", pp_buf_cstr(&scope));
		snprintf(k->redirect_uri, sizeof k->redirect_uri, "%s", p->q.redirect_uri);
		snprintf(k->code_challenge, sizeof k->code_challenge, "%s", p->q.code_challenge);
		snprintf(k->nonce, sizeof k->nonce, "%s", p->q.nonce);
		k->created_ms = now;
		k->expires_ms = now + PP_OAUTH_CODE_TTL_MS;
		if ((rc = pp_store_oauth_code_insert(o->st, k)))
			goto out;
		snprintf(detail, sizeof detail, "approved scope=%s", pp_buf_cstr(&scope));
	} else {
		snprintf(detail, sizeof detail, "denied");
	}
	if (audit_user(o, r, &s, pub, "oauth.consent", p->c.client_id, "success", detail)) {
		rc = audit_failed(r);   /* the code was never handed out, so it cannot be used */
		goto out;
	}
	if ((rc = pp_oauth_redirect_url(p->q.redirect_uri, approve ? code : NULL,
	                                approve ? NULL : "access_denied", p->q.state, &url)))
		goto out;
	rc = reply(r, 200, json_pack("{s:s}", "redirect", pp_buf_cstr(&url)));
out:
	pp_wipe(code, sizeof code);
	json_decref(body);
	pp_buf_free(&scope);
	pp_buf_free(&url);
	free(p);
	free(approved);
	free(final);
	free(k);
	return rc;
}

static int h_approve(void *vapp, pp_http_request *r)
{
	(void)vapp;
	return decide(r, true);
}

static int h_deny(void *vapp, pp_http_request *r)
{
	(void)vapp;
	return decide(r, false);
}

/* ---- connected apps ---- */
typedef struct apps_ctx { pp_oauth *o; json_t *list; } apps_ctx;

static int app_one(void *vctx, const pp_store_oauth_family *f)
{
	apps_ctx *a = vctx;
	size_t i;
	json_t *e;
	pp_store_oauth_client *c;
	pp_scope_set *set;
	char since[32];

	json_array_foreach(a->list, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "client_id")), f->client_id))
			return 0;   /* one entry per app: the newest grant */
	c = calloc(1, sizeof *c);
	set = calloc(1, sizeof *set);
	if (c && set && pp_store_oauth_client_get(a->o->st, f->client_id, c) == PP_OK) {
		pp_oauth_scope_parse(f->scope, set);
		pp_clock_format_iso(f->created_ms, since);
		json_array_append_new(a->list, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}",
		                      "client_id", c->client_id, "name", c->name, "owner", c->owner,
		                      "scope", f->scope, "will_see", pp_oauth_scope_describe(set),
		                      "connected_at", since, "status", c->status));
	}
	free(c);
	free(set);
	return 0;
}

static int h_apps(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	pp_session s;
	apps_ctx a = {.o = o, .list = json_array()};
	char pub[40] = "";
	int rc;

	(void)vapp;
	if (session(o, r, &s, true)) {
		json_decref(a.list);
		return 0;
	}
	patient_pub(o, s.patient_id, pub);
	if ((rc = pp_store_oauth_family_each_user(o->st, s.user_id, app_one, &a))) {
		json_decref(a.list);
		return rc;
	}
	if (audit_user(o, r, &s, pub, "oauth.apps.list", NULL, "success", NULL)) {
		json_decref(a.list);
		return audit_failed(r);
	}
	return reply(r, 200, json_pack("{s:o}", "apps", a.list));
}

static int h_app_revoke(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	const char *cid = pp_http_param(r, "client_id");
	pp_session s;
	char pub[40] = "", detail[32];
	int n = 0, rc;

	(void)vapp;
	if (session(o, r, &s, true))
		return 0;
	if (!cid || strlen(cid) >= 64)
		return pp_http_error(r, 404, "not_found", "No such app");
	patient_pub(o, s.patient_id, pub);
	if ((rc = pp_store_oauth_family_revoke_user_client(o->st, s.user_id, cid, pp_clock_now_ms(), &n)))
		return rc;
	snprintf(detail, sizeof detail, "grants-revoked=%d", n);
	if (audit_user(o, r, &s, pub, "oauth.apps.revoke", cid, n ? "success" : "failure", detail))
		return audit_failed(r);
	if (!n)
		return pp_http_error(r, 404, "not_found", "This app is not connected to your record");
	return reply(r, 200, json_pack("{s:s, s:i}", "client_id", cid, "revoked", n));
}

/* POST /api/v1/patients/:id/launch {"client_id"}: a staff member opens an organisation's app from a
 * patient's chart (SMART EHR launch). Policy decides whether this person may see the record; the
 * answer is the app's launch URL carrying an opaque, single-use, short-lived launch id. */
static int h_launch(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	const char *pid = pp_http_param(r, "id"), *cid, *why = NULL, *text;
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	pp_store_oauth_launch l;
	pp_store_resource res;
	pp_policy_decision d;
	pp_principal pr;
	pp_session s;
	json_t *body = NULL;
	char id[PP_OAUTH_TOKEN_LEN + 1] = "";
	pp_buf url;
	size_t len;
	bool first = true;
	int64_t now = pp_clock_now_ms();
	int rc;

	(void)vapp;
	pp_buf_init(&url, 1024);
	memset(&res, 0, sizeof res);
	memset(&l, 0, sizeof l);
	if (!c) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (session(o, r, &s, false)) {
		rc = 0;
		goto out;
	}
	text = pp_http_body(r, &len);
	body = text && len ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	cid = json_string_value(json_object_get(body, "client_id"));
	if (!cid || strlen(cid) >= sizeof c->client_id) {
		rc = pp_http_error(r, 400, "invalid_request", "client_id is required");
		goto out;
	}
	if (!pid || strlen(pid) >= sizeof res.pub_id ||
	    pp_store_resource_get_pub(o->st, "Patient", pid, &res))
		res.id = 0;
	/* the one authorization check: may this person see this record at all? */
	memset(&pr, 0, sizeof pr);
	pr.user_id = s.user_id;
	pr.patient_id = s.patient_id;
	snprintf(pr.role, sizeof pr.role, "%s", s.role);
	snprintf(pr.actor, sizeof pr.actor, "user:%lld", (long long)s.user_id);
	pp_policy_decide(&(pp_app){.cfg = o->cfg, .store = o->st, .crypto = o->crypto}, &pr,
	                 PP_POLICY_READ,
	                 &(pp_policy_target){.patient_id = res.id, .resource_type = "Patient"}, &d);
	if (d.effect == PP_POLICY_DENY || !pp_policy_permits(s.role, "apps.ehr_launch")) {
		if (audit_user(o, r, &s, res.id ? res.pub_id : NULL, "oauth.launch", cid, "denied",
		               d.effect == PP_POLICY_DENY ? d.reason : "role")) {
			rc = audit_failed(r);
			goto out;
		}
		rc = pp_http_error(r, 404, "not_found", "No such record");
		goto out;
	}
	if (pp_store_oauth_client_get(o->st, cid, c) || !c->launch_uri[0] ||
	    strcmp(c->type, "confidential") || pp_oauth_client_usable(c, now, &why)) {
		if (audit_user(o, r, &s, res.pub_id, "oauth.launch", cid, "denied",
		               why ? why : "not-launchable")) {
			rc = audit_failed(r);
			goto out;
		}
		rc = pp_http_error(r, 400, "not_launchable",
		                   "This app cannot be launched from a chart (unknown, suspended, no BAA "
		                   "on file, or no launch URL registered)");
		goto out;
	}
	if ((rc = pp_oauth_new_token(id)) || (rc = pp_oauth_hash(id, l.id_hash)))
		goto out;
	snprintf(l.client_id, sizeof l.client_id, "%s", c->client_id);
	l.user_id = s.user_id;
	l.patient_id = res.id;
	snprintf(l.patient_pub, sizeof l.patient_pub, "%s", res.pub_id);
	l.created_ms = now;
	l.expires_ms = now + LAUNCH_TTL_MS;
	if ((rc = pp_store_oauth_launch_insert(o->st, &l)))
		goto out;
	if (audit_user(o, r, &s, res.pub_id, "oauth.launch", c->client_id, "success", d.reason)) {
		rc = audit_failed(r);   /* the launch id was never handed out */
		goto out;
	}
	if ((rc = pp_buf_appends(&url, c->launch_uri)) ||
	    (rc = pp_oauth_url_param(&url, "iss", o->fhir_base, &first)) ||
	    (rc = pp_oauth_url_param(&url, "launch", id, &first)))
		goto out;
	rc = reply(r, 200, json_pack("{s:s, s:s, s:I}", "launch_url", pp_buf_cstr(&url),
	                             "client_name", c->name, "expires_in_s",
	                             (json_int_t)(LAUNCH_TTL_MS / 1000)));
out:
	pp_wipe(id, sizeof id);
	pp_buf_free(&url);
	pp_store_resource_clear(&res);
	json_decref(body);
	free(c);
	return rc;
}

int pp_oauth_consent_routes(pp_oauth *o, pp_http_server *s)
{
	int rc = 0;

	rc |= pp_http_route(s, "GET", "/api/v1/oauth/requests/:id", h_request_get, o);
	rc |= pp_http_route(s, "POST", "/api/v1/oauth/requests/:id/approve", h_approve, o);
	rc |= pp_http_route(s, "POST", "/api/v1/oauth/requests/:id/deny", h_deny, o);
	rc |= pp_http_route(s, "GET", "/api/v1/apps", h_apps, o);
	rc |= pp_http_route(s, "POST", "/api/v1/patients/:id/launch", h_launch, o);
	rc |= pp_http_route(s, "POST", "/api/v1/apps/:client_id/revoke", h_app_revoke, o);
	return rc ? PP_EINVAL : PP_OK;
}
