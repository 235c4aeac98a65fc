/* jobs: the admin API for retention and legal holds (privacy officer, admin: "retention.manage").
 * Everyone else gets 404 and an audit record. Each request is exactly one audit record; the
 * answer is sent only once it is durable (503 and nothing changed otherwise). */
#include "jobs/jobs_internal.h"

#include <string.h>

/* signed in fully (CSRF on changes) and holding the permission; else the response is set */
static int manager(pp_app *app, pp_http_request *r, const char *action, pp_session *s,
                   pp_principal *p)
{
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, s, p))
		return PP_EAUTH;
	if (pp_policy_permits(p->role, PP_JOBS_PERMISSION))
		return 0;
	if (pp_portal_audit(app, p, action, NULL, "LegalHold", NULL, "denied", "legal", "role"))
		pp_portal_audit_failed(r);
	else
		pp_http_error(r, 404, "not_found", "Not found");
	return PP_EDENIED;
}

/* GET /api/v1/admin/retention[?holds=all]: the policies in force and the holds */
static int h_retention(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *which = pp_http_query(r, "holds");
	pp_session s;
	pp_principal p;
	json_t *holds = NULL;
	char detail[48];
	bool all;
	int rc;

	if (manager(app, r, "retention.read", &s, &p))
		return 0;
	if (which && strcmp(which, "all") && strcmp(which, "active"))
		return pp_http_error(r, 400, "invalid_holds", "holds is active or all");
	all = which && !strcmp(which, "all");
	if ((rc = pp_jobs_holds_json(app, all, &holds)))
		return rc;
	snprintf(detail, sizeof detail, "holds:%zu%s", json_array_size(holds), all ? " all" : "");
	if (pp_portal_audit(app, &p, "retention.read", NULL, "LegalHold", NULL, "success", "legal",
	                    detail)) {
		json_decref(holds);
		return pp_portal_audit_failed(r);
	}
	return pp_portal_json(r, 200,
	                      json_pack("{s:o, s:o, s:s}", "policies",
	                                pp_jobs_retention_policies(app->cfg), "holds", holds,
	                                "audit_note",
	                                "Audit records are never purged by the retention job; removing "
	                                "records older than audit_days needs an archived, verified "
	                                "export."),
	                      true);
}

static int refusal(pp_http_request *r, const char *why)
{
	if (!strcmp(why, "invalid_scope"))
		return pp_http_error(r, 400, why, "scope is patient or thread");
	if (!strcmp(why, "invalid_target"))
		return pp_http_error(r, 400, why, "target is the opaque id of a patient or a thread");
	if (!strcmp(why, "reason_too_long"))
		return pp_http_error(r, 400, why, "The reason is too long");
	if (!strcmp(why, "not_found"))
		return pp_http_error(r, 404, why, "No such patient or thread");
	return pp_http_error(r, 400, "reason_required", "Give the reason for the hold");
}

/* POST /api/v1/admin/legal-holds {"scope","target","reason"} */
static int h_place(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	const char *scope, *target, *reason, *why = NULL;
	char id[33];
	int rc;

	if (manager(app, r, "legal_hold.place", &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	scope = json_string_value(json_object_get(body, "scope"));
	target = json_string_value(json_object_get(body, "target"));
	reason = json_string_value(json_object_get(body, "reason"));
	rc = pp_jobs_hold_place(app, &p, scope, target, reason, id, &why);
	if (rc == PP_EAUDIT)
		rc = pp_portal_audit_failed(r);
	else if (why)
		rc = refusal(r, why);
	else if (!rc)
		rc = pp_portal_json(r, 201, json_pack("{s:s, s:s, s:s, s:s}", "id", id, "scope", scope,
		                                      "target", target, "status", "active"), false);
	json_decref(body);
	return rc;
}

/* DELETE /api/v1/admin/legal-holds/:id */
static int h_release(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *id = pp_http_param(r, "id");
	pp_session s;
	pp_principal p;
	int rc;

	if (manager(app, r, "legal_hold.release", &s, &p))
		return 0;
	rc = pp_jobs_hold_release(app, &p, id);
	if (rc == PP_EAUDIT)
		return pp_portal_audit_failed(r);
	if (rc == PP_ENOTFOUND)
		return pp_http_error(r, 404, "not_found", "No active hold with that id");
	if (rc)
		return rc;
	return pp_portal_json(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "released"), false);
}

int pp_jobs_routes(struct pp_http_server *s, pp_app *app)
{
	int rc = 0;

	if (!s || !app)
		return PP_EINVAL;
	rc |= pp_http_route(s, "GET", "/api/v1/admin/retention", h_retention, NULL);
	rc |= pp_http_route(s, "POST", "/api/v1/admin/legal-holds", h_place, NULL);
	rc |= pp_http_route(s, "DELETE", "/api/v1/admin/legal-holds/:id", h_release, NULL);
	return rc ? PP_EINVAL : 0;
}
