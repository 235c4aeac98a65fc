/* portal: GET and PUT /api/v1/me/contact — the signed-in user's own e-mail address, mobile number
 * and notification preferences (notify/ keeps them sealed and sends PHI-free notices). One audit
 * record per request whose detail never holds the address (only which channels are on); the update
 * and its audit record are one transaction, so nothing changes when the record cannot be made
 * durable. The subject is always the session's own account: the routes take no id, so there is
 * nobody else's contact to ask policy about. */
#include "portal/portal_internal.h"

#include <string.h>

#include "notify/notify.h"

/* THE audit call of these handlers: the account's own contact (patient = the user's own record) */
static int audit(pp_app *app, const pp_principal *p, const pp_session *s, const char *action,
                 const char *outcome, const char *detail)
{
	pp_store_resource res;
	char rid[48], pub[48] = "";
	bool patient = !strcmp(s->role, "patient");

	snprintf(rid, sizeof rid, "user:%lld", (long long)s->user_id);
	if (patient && s->patient_id > 0) {
		memset(&res, 0, sizeof res);
		if (pp_store_resource_get(app->store, s->patient_id, &res) == PP_OK)
			snprintf(pub, sizeof pub, "%s", res.pub_id);
		pp_store_resource_clear(&res);
	}
	return pp_portal_audit(app, p, action, pub[0] ? pub : NULL, "ContactPreferences", rid, outcome,
	                       patient ? "patient-access" : "operations", detail);
}

static json_t *contact_json(pp_app *app, const pp_notify_contact *c)
{
	const pp_config *cfg = app->cfg;

	return json_pack("{s:s?, s:s?, s:b, s:b, s:{s:b, s:b}}", "email", c->email[0] ? c->email : NULL,
	                 "phone", c->phone[0] ? c->phone : NULL, "email_enabled", c->email_enabled,
	                 "sms_enabled", c->sms_enabled, "channels", "email",
	                 cfg->notify_smtp_url[0] != '\0', "sms", cfg->notify_sms_webhook_url[0] != '\0');
}

static void detail_of(const pp_notify_contact *c, char *out, size_t cap)
{
	snprintf(out, cap, "email:%s sms:%s", c->email_enabled ? "on" : c->email[0] ? "off" : "none",
	         c->sms_enabled ? "on" : c->phone[0] ? "off" : "none");
}

static int h_get(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	pp_notify_contact c;
	char detail[48];
	json_t *body;
	int rc;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if ((rc = pp_notify_contact_get(app->store, app->crypto, s.user_id, &c))) {
		if (audit(app, &p, &s, "read", "failure", pp_strerror(rc)))
			return pp_portal_audit_failed(r);
		return rc;
	}
	detail_of(&c, detail, sizeof detail);
	if (audit(app, &p, &s, "read", "success", detail)) {
		pp_notify_contact_wipe(&c);
		return pp_portal_audit_failed(r);
	}
	body = contact_json(app, &c);
	pp_notify_contact_wipe(&c);
	return body ? pp_portal_json(r, 200, body, true) : PP_ENOMEM;
}

/* one field of the PUT body: a string (maybe empty), null or absent; false when of another type;
 * a string too long for out sets *too_long */
static bool take_text(json_t *obj, const char *key, char *out, size_t cap, bool *too_long)
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	*too_long = false;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	if (json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v)) {
		*too_long = true;
		return true;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

/* a boolean or absent (then: on when the address is given) */
static bool take_flag(json_t *obj, const char *key, bool dflt, bool *out)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		*out = dflt;
		return true;
	}
	if (!json_is_boolean(v))
		return false;
	*out = json_is_true(v);
	return true;
}

static int h_put(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	pp_notify_contact c;
	json_t *obj = NULL, *body = NULL;
	const char *key;
	bool email_long = false, phone_long = false;
	char detail[48];
	json_t *v;
	int rc;

	memset(&c, 0, sizeof c);
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &obj) || !obj)
		return 0;
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "email") && strcmp(key, "phone") && strcmp(key, "email_enabled") &&
		    strcmp(key, "sms_enabled")) {
			rc = pp_http_error(r, 400, "invalid_request", "Unknown field (allowed: email, phone, "
			                   "email_enabled, sms_enabled)");
			goto out;
		}
	}
	if (!take_text(obj, "email", c.email, sizeof c.email, &email_long) ||
	    !take_text(obj, "phone", c.phone, sizeof c.phone, &phone_long) ||
	    !take_flag(obj, "email_enabled", c.email[0] != '\0', &c.email_enabled) ||
	    !take_flag(obj, "sms_enabled", c.phone[0] != '\0', &c.sms_enabled)) {
		rc = pp_http_error(r, 400, "invalid_request", "email and phone are strings or null; "
		                   "email_enabled and sms_enabled are booleans");
		goto out;
	}
	if (email_long || (c.email[0] && !pp_notify_email_valid(c.email))) {
		rc = pp_http_error(r, 400, "invalid_email", "Give an e-mail address such as "
		                   "name@example.org");
		goto out;
	}
	if (phone_long || (c.phone[0] && !pp_notify_phone_valid(c.phone))) {
		rc = pp_http_error(r, 400, "invalid_phone", "Give the mobile number in international "
		                   "form: + and country code, e.g. +15555550123");
		goto out;
	}
	if (c.email_enabled && !c.email[0]) {
		rc = pp_http_error(r, 400, "email_required", "E-mail notices need an e-mail address");
		goto out;
	}
	if (c.sms_enabled && !c.phone[0]) {
		rc = pp_http_error(r, 400, "phone_required", "Text-message notices need a mobile number");
		goto out;
	}
	detail_of(&c, detail, sizeof detail);
	/* stored and audited together: when the audit record cannot be made durable, nothing changes */
	if ((rc = pp_store_begin(app->store)))
		goto out;
	if ((rc = pp_notify_contact_set(app->store, app->crypto, s.user_id, &c))) {
		pp_store_rollback(app->store);
		if (audit(app, &p, &s, "update", "failure", pp_strerror(rc)))
			rc = pp_portal_audit_failed(r);
		goto out;
	}
	if (audit(app, &p, &s, "update", "success", detail)) {
		pp_store_rollback(app->store);
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	if ((rc = pp_store_commit(app->store))) {
		pp_store_rollback(app->store);
		goto out;
	}
	if (!(body = contact_json(app, &c))) {
		rc = PP_ENOMEM;
		goto out;
	}
	rc = pp_portal_json(r, 200, body, true);
out:
	pp_notify_contact_wipe(&c);
	json_decref(obj);
	return rc;
}

int pp_portal_contact_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "GET", "/api/v1/me/contact", h_get, NULL);
	rc |= pp_http_route(srv, "PUT", "/api/v1/me/contact", h_put, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
