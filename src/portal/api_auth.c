/* portal: sign-in, MFA enrolment and challenge, recovery codes, session status and sign-out.
 * Every outcome (success or failure) is an audit record; a sign-in whose audit record cannot be
 * made durable is undone and answered 503. */
#include "portal/portal_internal.h"

#include <stdio.h>
#include <string.h>

static json_t *session_json(pp_app *app, const pp_session *s)
{
	int64_t now = pp_clock_now_ms();
	static const char *const states[] = {"", "mfa", "enrol", "full"};

	return json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}",
	                 "state", states[s->state], "role", s->role, "csrf", s->csrf,
	                 "idle_timeout_s", app->cfg->session_idle_timeout_s,
	                 "idle_remaining_s", (json_int_t)((s->idle_expires_ms - now) / 1000),
	                 "absolute_remaining_s", (json_int_t)((s->absolute_expires_ms - now) / 1000));
}

static int state_reply(pp_app *app, pp_http_request *r, const pp_session *s, json_t *extra)
{
	json_t *o = json_pack("{s:s, s:s}", "state",
	                      s->state == PP_SESSION_FULL ? "full" :
	                      s->state == PP_SESSION_MFA ? "mfa" : "enrol", "csrf", s->csrf);
	(void)app;
	if (!o)
		return PP_ENOMEM;
	if (extra)
		json_object_update(o, extra);
	json_decref(extra);
	return pp_portal_json(r, 200, o, true);
}

static int h_login(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	json_t *body = NULL;
	const char *user, *pass;
	char token[PP_AUTH_TOKEN_LEN + 1] = "";
	pp_session s;
	pp_principal p;
	int64_t uid = 0;
	int retry = 0, rc;

	if (!pp_portal_origin_ok(r))
		return pp_http_error(r, 403, "origin", "Cross-origin request refused");
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	user = pp_portal_json_str(body, "username", 256);
	pass = pp_portal_json_str(body, "password", 1024);
	if (!user || !pass || !*user || !*pass) {
		json_decref(body);
		return pp_http_error(r, 400, "invalid_request", "username and password are required");
	}
	rc = pp_auth_login(app->auth, user, pass, pp_http_client_ip(r), token, &s, &uid, &retry);
	json_decref(body);
	pp_portal_principal(r, rc == PP_OK ? &s : NULL, &p);
	if (rc != PP_OK && uid > 0)
		snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)uid);
	if (rc == PP_EAUTH || rc == PP_ELOCKED) {
		bool locked = rc == PP_ELOCKED;
		if (pp_portal_audit(app, &p, "login", NULL, NULL, NULL, "failure", NULL,
		                    locked ? "locked" : "invalid-credentials"))
			return pp_portal_audit_failed(r);
		if (locked) {
			char ra[16];
			snprintf(ra, sizeof ra, "%d", retry > 0 ? retry : 60);
			pp_http_set_header(r, "Retry-After", ra);
			return pp_http_error(r, 429, "locked",
			                     "Too many failed attempts; try again later");
		}
		return pp_http_error(r, 401, "invalid_credentials",
		                     "The username or password is not correct");
	}
	if (rc == PP_EBUSY) {
		pp_http_set_header(r, "Retry-After", "2");
		return pp_http_error(r, 503, "busy", "The service is busy; try again shortly");
	}
	if (rc)
		return rc;
	if (pp_portal_audit(app, &p, "login", NULL, NULL, NULL, "success", NULL,
	                    s.state == PP_SESSION_FULL ? "password" : "password-mfa-pending")) {
		pp_auth_logout(app->auth, token);
		pp_wipe(token, sizeof token);
		return pp_portal_audit_failed(r);
	}
	pp_portal_set_session_cookie(r, token);
	pp_wipe(token, sizeof token);
	return state_reply(app, r, &s, NULL);
}

/* GET /auth/session peeks (the idle timer keeps running); POST /auth/keepalive resets it. The
 * route data says which. */
static const enum pp_portal_need need_peek = PP_PORTAL_NEED_PEEK, need_touch = PP_PORTAL_NEED_ANY;

static int h_session(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const enum pp_portal_need *need = pp_http_route_data(r);
	pp_session s;
	pp_principal p;

	if (pp_portal_session(app, r, *need, &s, &p))
		return 0;
	return pp_portal_json(r, 200, session_json(app, &s), false);
}

static int h_logout(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_ANY, &s, &p))
		return 0;
	pp_auth_logout(app->auth, pp_http_cookie(r, PP_PORTAL_COOKIE));
	pp_http_set_cookie(r, PP_PORTAL_COOKIE, "", 0);
	/* the session is gone whatever happens; a failed audit still answers 503 */
	if (pp_portal_audit(app, &p, "logout", NULL, NULL, NULL, "success", NULL, NULL))
		return pp_portal_audit_failed(r);
	pp_http_status(r, 204);
	return 0;
}

/* rotates the session to FULL after a second factor and sets the new cookie */
static int complete_mfa(pp_app *app, pp_http_request *r, pp_principal *p, const char *action,
                        const char *detail, json_t *extra)
{
	char token[PP_AUTH_TOKEN_LEN + 1];
	pp_session s;
	int rc = pp_auth_session_rotate(app->auth, pp_http_cookie(r, PP_PORTAL_COOKIE),
	                                PP_SESSION_FULL, token, &s);

	if (rc) {
		json_decref(extra);
		return rc;
	}
	snprintf(p->session_id, sizeof p->session_id, "%s", s.id);
	if (pp_portal_audit(app, p, action, NULL, NULL, NULL, "success", NULL, detail)) {
		pp_auth_logout(app->auth, token);
		pp_wipe(token, sizeof token);
		json_decref(extra);
		return pp_portal_audit_failed(r);
	}
	pp_portal_set_session_cookie(r, token);
	pp_wipe(token, sizeof token);
	return state_reply(app, r, &s, extra);
}

static int code_failure(pp_app *app, pp_http_request *r, pp_principal *p, const char *action,
                        int rc)
{
	if (pp_portal_audit(app, p, action, NULL, NULL, NULL, "failure", NULL,
	                    rc == PP_ELOCKED ? "locked" : "invalid-code"))
		return pp_portal_audit_failed(r);
	if (rc == PP_ELOCKED) {
		/* the account is locked: end this half-signed-in session too */
		pp_auth_logout(app->auth, pp_http_cookie(r, PP_PORTAL_COOKIE));
		pp_http_set_cookie(r, PP_PORTAL_COOKIE, "", 0);
		pp_http_set_header(r, "Retry-After", "900");
		return pp_http_error(r, 429, "locked", "Too many failed attempts; try again later");
	}
	return pp_http_error(r, 401, "invalid_code", "The code is not valid");
}

static int h_mfa_verify(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	const char *code;
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_MFA, &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	code = pp_portal_json_str(body, "code", 16);
	rc = code ? pp_auth_mfa_verify(app->auth, s.user_id, code) : PP_EAUTH;
	json_decref(body);
	if (rc == PP_EAUTH || rc == PP_ELOCKED || rc == PP_EINVAL)
		return code_failure(app, r, &p, "mfa.verify", rc);
	if (rc)
		return rc;
	return complete_mfa(app, r, &p, "mfa.verify", "totp", NULL);
}

static int h_mfa_recover(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	const char *code;
	int remaining = 0, rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_MFA, &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	code = pp_portal_json_str(body, "recovery_code", 64);
	rc = code ? pp_auth_mfa_recover(app->auth, s.user_id, code, &remaining) : PP_EAUTH;
	json_decref(body);
	if (rc == PP_EAUTH || rc == PP_ELOCKED || rc == PP_EINVAL || rc == PP_ENOTFOUND)
		return code_failure(app, r, &p, "mfa.recover", rc == PP_ENOTFOUND ? PP_EAUTH : rc);
	if (rc)
		return rc;
	return complete_mfa(app, r, &p, "mfa.recover", "recovery-code",
	                    json_pack("{s:i}", "remaining", remaining));
}

static int h_enrol_start(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	char *uri = NULL, *svg = NULL;
	const char *sec, *end;
	char secret[128] = "";
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_ENROL, &s, &p))
		return 0;
	rc = pp_auth_mfa_enrol_start(app->auth, s.user_id, "phiportal", &uri, &svg);
	if (rc)
		goto out;
	sec = strstr(uri, "secret=");
	if (sec) {
		sec += 7;
		end = strchr(sec, '&');
		snprintf(secret, sizeof secret, "%.*s", (int)(end ? (size_t)(end - sec) : strlen(sec)), sec);
	}
	if (pp_portal_audit(app, &p, "mfa.enrol.start", NULL, NULL, NULL, "success", NULL, NULL)) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 200, json_pack("{s:s, s:s, s:s}", "otpauth_uri", uri, "secret", secret,
	                                      "qr_svg", svg), true);
out:
	pp_wipe(secret, sizeof secret);
	if (uri) pp_wipe(uri, strlen(uri));
	free(uri);
	free(svg);
	return rc;
}

static int h_enrol_confirm(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	json_t *body = NULL, *list;
	const char *code;
	char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN];
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_ENROL, &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	code = pp_portal_json_str(body, "code", 16);
	rc = code ? pp_auth_mfa_enrol_confirm(app->auth, s.user_id, code, codes) : PP_EAUTH;
	json_decref(body);
	if (rc == PP_EAUTH || rc == PP_ELOCKED || rc == PP_EINVAL)
		return code_failure(app, r, &p, "mfa.enrol.confirm", rc);
	if (rc)
		return rc;
	list = json_array();
	for (int i = 0; i < PP_AUTH_RECOVERY_CODES; i++)
		json_array_append_new(list, json_string(codes[i]));
	pp_wipe(codes, sizeof codes);
	return complete_mfa(app, r, &p, "mfa.enrol.confirm", "totp-enrolled",
	                    json_pack("{s:o}", "recovery_codes", list));
}

int pp_portal_auth_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/login", h_login, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/auth/session", h_session, (void *)&need_peek);
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/keepalive", h_session, (void *)&need_touch);
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/logout", h_logout, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/mfa/verify", h_mfa_verify, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/mfa/recover", h_mfa_recover, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/mfa/enrol/start", h_enrol_start, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/auth/mfa/enrol/confirm", h_enrol_confirm, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
