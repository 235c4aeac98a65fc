/* portal: what every handler shares — reading the session cookie into a principal, CSRF and
 * Origin checks, JSON body parsing with limits, and the one audit call with fail-closed handling. */
#include "portal/portal_internal.h"

#include <stdio.h>
#include <string.h>

int pp_portal_json(pp_http_request *r, int status, json_t *obj, bool phi)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	int rc;

	json_decref(obj);
	if (!text)
		return PP_ENOMEM;
	pp_http_status(r, status);
	if (phi)
		pp_http_mark_phi(r);
	rc = pp_http_body_set(r, "application/json", text, strlen(text));
	pp_wipe(text, strlen(text));
	free(text);
	return rc;
}

int pp_portal_origin_ok(pp_http_request *r)
{
	const char *origin = pp_http_header(r, "Origin");
	const char *host = pp_http_header(r, "Host");
	char want[300];

	if (!origin)
		return 1;   /* same-origin fetches and non-browser clients may omit it */
	if (!host)
		return 0;
	snprintf(want, sizeof want, "https://%s", host);
	return strcmp(origin, want) == 0;
}

int pp_portal_body_json(pp_app *app, pp_http_request *r, json_t **out)
{
	size_t len;
	const char *body = pp_http_body(r, &len);
	const char *ct = pp_http_header(r, "Content-Type");
	json_error_t err;

	*out = NULL;
	if (!ct || strncmp(ct, "application/json", 16) != 0)
		return pp_http_error(r, 415, "unsupported_media_type",
		                     "Content-Type must be application/json");
	if (!body || len == 0)
		return pp_http_error(r, 400, "invalid_json", "A JSON object is required");
	if (pp_json_check_depth(body, len, app->cfg->limits_max_json_depth))
		return pp_http_error(r, 400, "invalid_json", "JSON nested too deeply");
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return pp_http_error(r, 400, "invalid_json", "The body is not a JSON object");
	}
	return PP_OK;
}

const char *pp_portal_json_str(json_t *obj, const char *key, size_t maxlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (s && strlen(s) > maxlen)
		return NULL;
	return s;
}

void pp_portal_principal(pp_http_request *r, const pp_session *s, pp_principal *p)
{
	memset(p, 0, sizeof *p);
	if (s) {
		p->user_id = s->user_id;
		snprintf(p->actor, sizeof p->actor, "user:%lld", (long long)s->user_id);
		snprintf(p->role, sizeof p->role, "%s", s->role);
		p->patient_id = s->patient_id;
		snprintf(p->session_id, sizeof p->session_id, "%s", s->id);
	} else {
		snprintf(p->actor, sizeof p->actor, "anonymous");
	}
	snprintf(p->source_ip, sizeof p->source_ip, "%s", pp_http_client_ip(r));
	snprintf(p->user_agent, sizeof p->user_agent, "%s", pp_http_user_agent(r));
	snprintf(p->request_id, sizeof p->request_id, "%s", pp_http_request_id(r));
}

int pp_portal_audit(pp_app *app, const pp_principal *p, const char *action, const char *patient,
                    const char *rtype, const char *rid, const char *outcome, const char *purpose,
                    const char *detail)
{
	pp_audit_event ev = {
		.actor = p->actor, .actor_role = p->role[0] ? p->role : NULL,
		.on_behalf_of = p->on_behalf_of[0] ? p->on_behalf_of : NULL, .patient = patient,
		.action = action, .resource_type = rtype, .resource_id = rid, .outcome = outcome,
		.source_ip = p->source_ip, .user_agent = p->user_agent,
		.session_id = p->session_id[0] ? p->session_id : NULL, .purpose = purpose,
		.request_id = p->request_id, .detail = detail,
	};
	int rc = pp_audit_record(app->audit, &ev);

	if (rc)
		pp_log_error("audit: record failed for request %s (%s)", p->request_id, pp_strerror(rc));
	return rc ? PP_EAUDIT : PP_OK;
}

int pp_portal_audit_failed(pp_http_request *r)
{
	return pp_http_error(r, 503, "audit_unavailable",
	                     "The request could not be recorded and was not carried out");
}

int pp_portal_session(pp_app *app, pp_http_request *r, enum pp_portal_need need, pp_session *s,
                      pp_principal *p)
{
	const char *token = pp_http_cookie(r, PP_PORTAL_COOKIE);
	const char *method = pp_http_method(r);
	bool changing = strcmp(method, "GET") && strcmp(method, "HEAD");
	int rc;

	if (!token || !*token) {
		pp_http_error(r, 401, "no_session", "Sign in first");
		return PP_EAUTH;
	}
	rc = pp_auth_session_get(app->auth, token, need != PP_PORTAL_NEED_PEEK, s);
	if (rc) {
		pp_http_set_cookie(r, PP_PORTAL_COOKIE, "", 0);
		pp_http_error(r, 401, rc == PP_EAUTH ? "session_expired" : "no_session",
		              "Your session has ended; sign in again");
		return PP_EAUTH;
	}
	if (changing) {
		const char *csrf = pp_http_header(r, "X-CSRF-Token");
		if (!pp_portal_origin_ok(r)) {
			pp_http_error(r, 403, "origin", "Cross-origin request refused");
			return PP_EDENIED;
		}
		if (!csrf || strlen(csrf) != strlen(s->csrf) ||
		    pp_ct_compare(csrf, s->csrf, strlen(s->csrf))) {
			pp_http_error(r, 403, "csrf", "Missing or wrong CSRF token");
			return PP_EDENIED;
		}
	}
	if (need == PP_PORTAL_NEED_FULL && s->state != PP_SESSION_FULL) {
		pp_http_error(r, 401, "mfa_required", "Complete multi-factor sign-in first");
		return PP_EAUTH;
	}
	if (need == PP_PORTAL_NEED_MFA && s->state != PP_SESSION_MFA) {
		pp_http_error(r, 409, "wrong_state", "No code is expected now");
		return PP_EDENIED;
	}
	if (need == PP_PORTAL_NEED_ENROL && s->state != PP_SESSION_ENROL) {
		pp_http_error(r, 409, "wrong_state", "Enrolment is not expected now");
		return PP_EDENIED;
	}
	pp_portal_principal(r, s, p);
	return PP_OK;
}

int pp_portal_set_session_cookie(pp_http_request *r, const char *token)
{
	return pp_http_set_cookie(r, PP_PORTAL_COOKIE, token, -1);
}

int pp_portal_new_id(int64_t *row, char pub[40])
{
	uint8_t b[16];
	int rc = pp_random(b, sizeof b);

	if (rc)
		return rc;
	memcpy(row, b, sizeof *row);
	*row &= INT64_MAX;
	if (!*row)
		*row = 1;
	pp_hex_encode(b, sizeof b, pub);
	pp_wipe(b, sizeof b);
	return 0;
}

int pp_portal_patient_account_add(pp_app *app, pp_http_request *r, const char *user,
                                  const char *pass, int64_t patient_id, int64_t *uid)
{
	const char *why = NULL;
	int rc;

	if (pp_auth_password_policy(app->auth, pass, user, &why)) {
		pp_http_error(r, 400, "weak_password", why && !strcmp(why, "common")
		              ? "This password is too common; choose another"
		              : "Choose a longer password that does not contain the username");
		return 1;
	}
	rc = pp_auth_user_add(app->auth, user, pass, "patient", patient_id, uid);
	if (rc == PP_EEXISTS) {
		pp_http_error(r, 409, "username_taken", "That username is taken; choose another");
		return 1;
	}
	return rc;
}
