/* portal: the patient's own record — who am I, the health summary, and another patient's summary
 * for whoever policy allows (care team, break-glass). Reads go policy → store/crypto →
 * audit (durable) → response; a denied read is audited and answered 404. */
#include "portal/portal_internal.h"

#include <string.h>

#include "store/store_access.h"

static int patient_pub_id(pp_app *app, int64_t patient_id, char *out, size_t cap)
{
	pp_store_resource res;
	int rc;

	memset(&res, 0, sizeof res);
	rc = pp_store_resource_get(app->store, patient_id, &res);
	if (!rc)
		snprintf(out, cap, "%s", res.pub_id);
	pp_store_resource_clear(&res);
	return rc;
}

static int h_me(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	char pub[48] = "";

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (s.patient_id > 0 && patient_pub_id(app, s.patient_id, pub, sizeof pub))
		pub[0] = '\0';
	return pp_portal_json(r, 200, json_pack("{s:I, s:s, s:s?}", "user_id", (json_int_t)s.user_id,
	                                        "role", s.role, "patient_id", pub[0] ? pub : NULL),
	                      true);
}

/* drops the summary's items the decision hides (each item carries its code and system) */
static void hide_items(pp_app *app, const pp_policy_decision *d, json_t *summary)
{
	const char *key;
	json_t *list;

	json_object_foreach(summary, key, list) {
		(void)key;
		for (size_t i = json_is_array(list) ? json_array_size(list) : 0; i-- > 0;) {
			if (!pp_policy_visible(app, d, json_array_get(list, i)))
				json_array_remove(list, i);
		}
	}
}

/* the shared path for both summary routes once the patient row is known (0: none found) */
static int summary_for(pp_app *app, pp_http_request *r, pp_principal *p, int64_t patient_id,
                       const char *pub)
{
	pp_policy_decision d;
	json_t *summary = NULL;
	int rc;

	pp_policy_decide(app, p, PP_POLICY_READ,
	                 &(pp_policy_target){.patient_id = patient_id, .resource_type = "HealthSummary"},
	                 &d);
	if (d.effect != PP_POLICY_DENY && !strcmp(d.reason, "proxy"))
		snprintf(p->on_behalf_of, sizeof p->on_behalf_of, "patient:%s", pub);
	if (d.effect == PP_POLICY_DENY) {
		if (pp_portal_audit(app, p, "read", pub, "HealthSummary", pub, "denied", d.purpose,
		                    d.reason))
			return pp_portal_audit_failed(r);
		/* a clinician may break the glass on a record that exists: say so (the workforce member
		 * found the patient already); everyone else learns nothing */
		if (patient_id > 0 && !strcmp(d.reason, "no-relationship") &&
		    pp_policy_permits(p->role, "breakglass.request"))
			return pp_http_error(r, 403, "break_glass_required",
			                     "You have no care relationship with this patient. To open the "
			                     "record anyway, give a reason (break-glass); it is reviewed.");
		return pp_http_error(r, 404, "not_found", "No such record");
	}
	rc = pp_fhir_summary(app->store, app->crypto, patient_id, &summary);
	if (rc) {
		pp_portal_audit(app, p, "read", pub, "HealthSummary", pub, "failure", d.purpose,
		                pp_strerror(rc));
		return rc;
	}
	/* what the decision says to leave out (sensitive categories for some proxies) */
	if (d.hide)
		hide_items(app, &d, summary);
	if (pp_portal_audit(app, p, "read", pub, "HealthSummary", pub, "success", d.purpose,
	                    d.reason)) {
		json_decref(summary);
		return pp_portal_audit_failed(r);
	}
	/* how this person reaches the record: the UI shows a banner for break-glass */
	if (d.effect == PP_POLICY_ALLOW_BREAK_GLASS) {
		pp_store_break_glass bg = {0};
		char until[32] = "";
		if (pp_store_break_glass_active(app->store, p->user_id, patient_id, pp_clock_now_ms(),
		                                &bg) == PP_OK)
			pp_clock_format_iso(bg.expires_ms, until);
		pp_store_break_glass_clear(&bg);
		json_object_set_new(summary, "access", json_pack("{s:s, s:s}", "via", "break-glass",
		                                                 "expires_at", until));
	} else {
		json_object_set_new(summary, "access", json_pack("{s:s}", "via", d.reason));
	}
	return pp_portal_json(r, 200, summary, true);
}

static int h_my_summary(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	char pub[48] = "";

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (s.patient_id <= 0 || patient_pub_id(app, s.patient_id, pub, sizeof pub))
		return pp_http_error(r, 404, "not_found", "No record is linked to this account");
	return summary_for(app, r, &p, s.patient_id, pub);
}

static int h_patient_summary(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	pp_store_resource res;
	const char *id = pp_http_param(r, "id");
	int64_t patient_id = 0;
	char pub[48] = "";

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	memset(&res, 0, sizeof res);
	/* an id that is not one of ours is treated exactly like one we may not see */
	if (id && strlen(id) < sizeof pub && strspn(id, "0123456789abcdef") == strlen(id) &&
	    pp_store_resource_get_pub(app->store, "Patient", id, &res) == PP_OK)
		patient_id = res.id;
	pp_store_resource_clear(&res);
	if (id && strlen(id) < sizeof pub && strspn(id, "0123456789abcdef") == strlen(id))
		snprintf(pub, sizeof pub, "%s", id);
	else
		snprintf(pub, sizeof pub, "invalid");
	return summary_for(app, r, &p, patient_id, pub);
}

static int h_healthz(void *vapp, pp_http_request *r)
{
	(void)vapp;
	return pp_portal_json(r, 200, json_pack("{s:s}", "status", "ok"), false);
}

static int h_readyz(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	int version = 0;

	if (pp_store_schema_version(app->store, &version) || version <= 0)
		return pp_portal_json(r, 503, json_pack("{s:s}", "status", "unavailable"), false);
	return pp_portal_json(r, 200, json_pack("{s:s}", "status", "ok"), false);
}

int pp_portal_record_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "GET", "/api/v1/me", h_me, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/me/summary", h_my_summary, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/patients/:id/summary", h_patient_summary, NULL);
	rc |= pp_http_route(srv, "GET", "/healthz", h_healthz, NULL);
	rc |= pp_http_route(srv, "GET", "/readyz", h_readyz, NULL);
	return rc ? PP_EINVAL : PP_OK;
}

int pp_portal_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = pp_portal_auth_routes(srv, app);

	if (!rc)
		rc = pp_portal_record_routes(srv, app);
	if (!rc)
		rc = pp_portal_access_routes(srv, app);
	if (!rc)
		rc = pp_portal_history_routes(srv, app);
	if (!rc)
		rc = pp_portal_enrol_routes(srv, app);
	if (!rc)
		rc = pp_portal_proxy_routes(srv, app);
	return rc ? rc : pp_portal_contact_routes(srv, app);
}
