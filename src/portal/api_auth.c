/* portal: sign-in, MFA enrolment and challenge, recovery codes, session status and sign-out.
 * Every outcome (success or failure) is an audit record; a sign-in whose audit record cannot be
 * made durable is undone and answered 503. */
#include "portal/portal_internal.h"
#include "auth/sso.h"

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
	/* auth.staff_password_login = false: staff sign in through the identity provider only. The
	 * check follows a correct password, so it tells nothing to someone who does not know it. */
	if (!app->cfg->auth_staff_password_login && pp_policy_role_staff(s.role)) {
		pp_auth_logout(app->auth, token);
		pp_wipe(token, sizeof token);
		if (pp_portal_audit(app, &p, "login", NULL, NULL, NULL, "failure", NULL,
		                    "staff-password-disabled"))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 403, "password_login_disabled",
		                     "Staff sign in with their organisation account");
	}
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

/* ---- staff sign-in through the organisation's OpenID provider (auth/sso.h) ---- */

#define SSO_COOKIE "pp_sso"   /* binds a sign-in in progress to the browser that started it */

/* GET /auth/methods (no session): what the sign-in view offers */
static int h_methods(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;

	return pp_portal_json(r, 200, json_pack("{s:b, s:b, s:b}", "password", 1, "sso",
	                                        app->sso != NULL, "staff_password",
	                                        app->cfg->auth_staff_password_login), false);
}

static int redirect(pp_http_request *r, const char *location)
{
	pp_http_status(r, 302);
	return pp_http_set_header(r, "Location", location);
}

/* GET /auth/sso/start: to the provider, with a fresh state bound to this browser by a cookie */
static int h_sso_start(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	char state[PP_SSO_STATE_LEN + 1];
	char *url = NULL;
	const char *why = NULL;
	int rc;

	if (!app->sso)
		return pp_http_error(r, 404, "sso_disabled", "Sign-in through an organisation is off");
	rc = pp_sso_start(app->sso, &url, state, &why);
	if (rc == PP_EIO || rc == PP_EINVAL) {
		pp_log_warn("sso: cannot start a sign-in (%s)", why ? why : "?");
		return redirect(r, "/#/sso-error/sso_unavailable");
	}
	if (rc)
		return rc;
	rc = pp_http_set_cookie(r, SSO_COOKIE, state, PP_SSO_PENDING_TTL_MS / 1000);
	pp_wipe(state, sizeof state);
	if (!rc)
		rc = redirect(r, url);
	free(url);
	return rc;
}

/* characters a state, code or iss parameter may hold when echoed into the bounce page */
static bool url_safe(const char *v, size_t max)
{
	size_t n = v ? strlen(v) : 0;

	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_' || v[i] == '.' ||
		      v[i] == '~'))
			return false;
	return true;
}

/* The provider sends the browser back with a cross-site navigation, which does not carry
 * SameSite=Strict cookies. A same-origin page that moves on at once (meta refresh, no script)
 * makes the next request same-site, so the binding cookie comes along. */
static int bounce_page(pp_http_request *r, const char *state, const char *code)
{
	pp_buf b;
	int rc;

	pp_buf_init(&b, 8192);
	rc = pp_buf_appendf(&b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	                    "<meta name=\"referrer\" content=\"no-referrer\">"
	                    "<meta http-equiv=\"refresh\" content=\"0;url=/api/v1/auth/sso/callback?"
	                    "bounce=1&amp;state=%s&amp;code=%s\"><title>Signing in</title></head>"
	                    "<body><p><a href=\"/api/v1/auth/sso/callback?bounce=1&amp;state=%s&amp;"
	                    "code=%s\">Continue signing in</a></p></body></html>",
	                    state, code, state, code);
	if (!rc) {
		pp_http_status(r, 200);
		pp_http_mark_phi(r);   /* no-store: it carries a one-time code */
		rc = pp_http_body_set(r, "text/html; charset=utf-8", b.data, b.len);
	}
	pp_buf_free(&b);
	return rc;
}

static int sso_refused(pp_app *app, pp_http_request *r, pp_principal *p, const char *outcome,
                       const char *reason, const char *code)
{
	char loc[64];

	if (pp_portal_audit(app, p, "auth.sso", NULL, NULL, NULL, outcome, NULL, reason))
		return pp_portal_audit_failed(r);
	snprintf(loc, sizeof loc, "/#/sso-error/%s", code);
	return redirect(r, loc);
}

/* GET /auth/sso/callback?code&state: the provider's answer */
static int h_sso_callback(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *state = pp_http_query(r, "state"), *code = pp_http_query(r, "code");
	const char *err = pp_http_query(r, "error"), *iss = pp_http_query(r, "iss");
	const char *binding = pp_http_cookie(r, SSO_COOKIE), *old;
	char token[PP_AUTH_TOKEN_LEN + 1] = "";
	pp_sso_outcome o;
	pp_session s;
	pp_principal p;
	int rc;

	if (!app->sso)
		return pp_http_error(r, 404, "sso_disabled", "Sign-in through an organisation is off");
	pp_portal_principal(r, NULL, &p);
	if ((!binding || !*binding) && !pp_http_query(r, "bounce") && !err &&
	    url_safe(state, PP_SSO_STATE_LEN) && url_safe(code, 2048))
		return bounce_page(r, state, code);
	pp_http_set_cookie(r, SSO_COOKIE, "", 0);
	if (!binding || !*binding)
		return sso_refused(app, r, &p, "denied", "no-binding", "sso_refused");
	/* the state must be the one this browser was given (no login CSRF) */
	if (!state || strlen(state) != strlen(binding) ||
	    pp_ct_compare(state, binding, strlen(binding)))
		return sso_refused(app, r, &p, "denied", "state-mismatch", "sso_refused");
	if (iss && strcmp(iss, app->cfg->sso_issuer))   /* RFC 9207: answer from another issuer */
		return sso_refused(app, r, &p, "denied", "iss-mismatch", "sso_refused");
	rc = pp_sso_finish(app->sso, state, err ? NULL : code, token, &s, &o);
	if (o.user_id > 0)
		snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)o.user_id);
	if (rc == PP_EDENIED)
		return sso_refused(app, r, &p, "denied", err ? "idp-error" : o.reason,
		                   !strcmp(o.reason, "mfa-not-asserted") ? "sso_mfa_required" :
		                   !strcmp(o.reason, "state-expired") ? "sso_expired" : "sso_refused");
	if (rc == PP_EIO)
		return sso_refused(app, r, &p, "failure", o.reason, "sso_unavailable");
	if (rc)
		return rc;
	/* a session this browser held before ends: the new one replaces it */
	if ((old = pp_http_cookie(r, PP_PORTAL_COOKIE)) && *old)
		pp_auth_logout(app->auth, old);
	pp_portal_principal(r, &s, &p);
	if (pp_portal_audit(app, &p, "auth.sso", NULL, NULL, NULL, "success", NULL,
	                    s.state == PP_SESSION_FULL ? "idp-mfa" :
	                    s.state == PP_SESSION_MFA ? "mfa-pending" : "enrol-pending")) {
		pp_auth_logout(app->auth, token);
		pp_wipe(token, sizeof token);
		return pp_portal_audit_failed(r);
	}
	pp_portal_set_session_cookie(r, token);
	pp_wipe(token, sizeof token);
	return redirect(r, "/#/");
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
	rc |= pp_http_route(srv, "GET", "/api/v1/auth/methods", h_methods, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/auth/sso/start", h_sso_start, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/auth/sso/callback", h_sso_callback, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
