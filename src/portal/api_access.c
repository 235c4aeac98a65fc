/* portal: break-glass. A clinician with no relationship to a patient opens the record for a reason
 * from a fixed list plus their own words; access lasts policy.break_glass_minutes and every read
 * through it is audited with purpose "emergency" (policy/ marks the decision). The privacy officer
 * works the review queue and must close each one with an outcome. The free text is sealed; the
 * audit records carry the reason code only. */
#include "portal/portal_internal.h"

#include <string.h>

#include "store/store_access.h"
#include "store/store_encounter.h"

typedef struct bg_reason {
	const char *code, *label;
} bg_reason;

static const bg_reason REASONS[] = {
	{"emergency", "Medical emergency"},
	{"urgent-care", "The patient is here and needs care now"},
	{"covering", "Covering for the patient's care team"},
	{"consult", "Consultation requested by the care team"},
	{"other", "Other (explain below)"},
};

static const char *const OUTCOMES[] = {"appropriate", "inappropriate", "follow-up"};

static bool in_list(const char *v, const char *const *list, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (!strcmp(v, list[i]))
			return true;
	return false;
}

static bool reason_known(const char *code)
{
	for (size_t i = 0; code && i < sizeof REASONS / sizeof REASONS[0]; i++)
		if (!strcmp(code, REASONS[i].code))
			return true;
	return false;
}

static int h_reasons(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	json_t *list = json_array();

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p)) {
		json_decref(list);
		return 0;
	}
	for (size_t i = 0; list && i < sizeof REASONS / sizeof REASONS[0]; i++)
		json_array_append_new(list, json_pack("{s:s, s:s}", "code", REASONS[i].code, "label",
		                                      REASONS[i].label));
	return pp_portal_json(r, 200, json_pack("{s:o, s:i}", "reasons", list, "minutes",
	                                        app->cfg->policy_break_glass_minutes), false);
}

/* the patient row behind an opaque id (0 when it is not one of ours) */
static int64_t patient_row(pp_app *app, const char *pub)
{
	pp_store_resource res;
	int64_t id = 0;

	memset(&res, 0, sizeof res);
	if (pub && strlen(pub) < sizeof res.pub_id && strspn(pub, "0123456789abcdef") == strlen(pub) &&
	    pp_store_resource_get_pub(app->store, "Patient", pub, &res) == PP_OK)
		id = res.id;
	pp_store_resource_clear(&res);
	return id;
}

/* POST /api/v1/patients/:id/break-glass {"reason_code","reason"} */
static int h_start(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *pub = pp_http_param(r, "id"), *code, *text;
	pp_store_break_glass bg;
	pp_policy_decision d;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	char detail[96], when[32];
	int64_t patient_id, now = pp_clock_now_ms();
	int rc;

	memset(&bg, 0, sizeof bg);
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	code = pp_portal_json_str(body, "reason_code", 31);
	text = pp_portal_json_str(body, "reason", 1000);
	patient_id = patient_row(app, pub);
	if (!pp_policy_permits(p.role, "breakglass.request") || !patient_id) {
		rc = pp_portal_audit(app, &p, "breakglass.start", patient_id ? pub : NULL, "Patient",
		                     NULL, "denied", "emergency", patient_id ? "role" : "no-patient");
		json_decref(body);
		return rc ? pp_portal_audit_failed(r) : pp_http_error(r, 404, "not_found", "No such record");
	}
	if (!reason_known(code) || !text || strlen(text) < 5) {
		json_decref(body);
		return pp_http_error(r, 400, "reason_required",
		                     "Choose a reason from the list and explain it in your own words");
	}
	/* already allowed through a relationship (or a running grant): nothing to break */
	pp_policy_decide(app, &p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = patient_id, .resource_type = "Patient"}, &d);
	if (d.effect != PP_POLICY_DENY) {
		json_decref(body);
		return pp_http_error(r, 409, "not_needed",
		                     d.effect == PP_POLICY_ALLOW_BREAK_GLASS
		                         ? "Your break-glass access to this record is still running"
		                         : "You already have access to this record");
	}
	if ((rc = pp_portal_new_id(&bg.id, bg.pub_id)))
		goto out;
	bg.user_id = s.user_id;
	bg.patient_id = patient_id;
	snprintf(bg.reason_code, sizeof bg.reason_code, "%s", code);
	bg.started_ms = now;
	bg.expires_ms = now + (int64_t)app->cfg->policy_break_glass_minutes * 60000;
	if ((rc = pp_crypto_seal(app->crypto, "break_glass", "reason", bg.id, text, strlen(text),
	                         &bg.reason_enc, &bg.reason_enc_len)))
		goto out;
	snprintf(detail, sizeof detail, "id:%s reason:%s minutes:%d", bg.pub_id, code,
	         app->cfg->policy_break_glass_minutes);
	/* the grant exists only once the audit record is durable */
	if (pp_portal_audit(app, &p, "breakglass.start", pub, "Patient", pub, "success", "emergency",
	                    detail)) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	if ((rc = pp_store_break_glass_insert(app->store, &bg)))
		goto out;
	pp_clock_format_iso(bg.expires_ms, when);
	rc = pp_portal_json(r, 201, json_pack("{s:s, s:s, s:i}", "id", bg.pub_id, "expires_at", when,
	                                      "minutes", app->cfg->policy_break_glass_minutes), false);
out:
	json_decref(body);
	pp_store_break_glass_clear(&bg);
	return rc;
}

static bool is_reviewer(pp_app *app, pp_http_request *r, pp_session *s, pp_principal *p)
{
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, s, p))
		return false;
	if (!pp_policy_permits(p->role, "breakglass.review")) {
		pp_http_error(r, 404, "not_found", "Not found");
		return false;
	}
	return true;
}

typedef struct queue {
	pp_app *app;
	json_t *items;
	int rc;
} queue;

static char *open_text(pp_app *app, const char *column, int64_t id, const uint8_t *ct, size_t n)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	char *out;

	if (!ct || pp_crypto_unseal(app->crypto, "break_glass", column, id, ct, n, &pt, &len))
		return NULL;
	out = strndup((const char *)pt, len);
	pp_crypto_free_plain(pt, len);
	return out;
}

static int queue_one(void *ctx, const pp_store_break_glass *b)
{
	queue *q = ctx;
	pp_store_user u;
	pp_store_resource res;
	char started[32], expires[32], reviewed[32], *reason, *note;
	uint8_t *name = NULL;
	size_t nlen = 0;
	json_t *item;

	memset(&u, 0, sizeof u);
	memset(&res, 0, sizeof res);
	pp_clock_format_iso(b->started_ms, started);
	pp_clock_format_iso(b->expires_ms, expires);
	pp_clock_format_iso(b->reviewed_ms, reviewed);
	if (pp_store_user_get(q->app->store, b->user_id, &u) == PP_OK)
		pp_crypto_unseal(q->app->crypto, "user_account", "username", u.id, u.username_enc,
		                 u.username_enc_len, &name, &nlen);
	pp_store_resource_get(q->app->store, b->patient_id, &res);
	reason = open_text(q->app, "reason", b->id, b->reason_enc, b->reason_enc_len);
	note = open_text(q->app, "note", b->id, b->note_enc, b->note_enc_len);
	item = json_pack("{s:s, s:{s:s?, s:s}, s:s, s:s, s:s?, s:s, s:s, s:s, s:s?, s:s?, s:s?}",
	                 "id", b->pub_id, "staff", "username", name ? (const char *)name : NULL, "role",
	                 u.role, "patient_id", res.pub_id, "reason_code", b->reason_code, "reason",
	                 reason, "started_at", started, "expires_at", expires, "status", b->status,
	                 "outcome", b->outcome[0] ? b->outcome : NULL, "reviewed_at",
	                 b->reviewed_ms ? reviewed : NULL, "note", note);
	if (name)
		pp_crypto_free_plain(name, nlen);
	free(reason);
	free(note);
	pp_store_user_clear(&u);
	pp_store_resource_clear(&res);
	if (!item || json_array_append_new(q->items, item))
		return q->rc = PP_ENOMEM;
	return 0;
}

/* GET /api/v1/privacy/break-glass?status=open|closed */
static int h_queue(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *status = pp_http_query(r, "status");
	pp_session s;
	pp_principal p;
	queue q = {.app = app, .items = json_array()};
	char detail[48];
	int rc;

	if (!q.items)
		return PP_ENOMEM;
	if (!is_reviewer(app, r, &s, &p)) {
		json_decref(q.items);
		return 0;
	}
	if (!status)
		status = "open";
	if (strcmp(status, "open") && strcmp(status, "closed") && strcmp(status, "all")) {
		json_decref(q.items);
		return pp_http_error(r, 400, "invalid_status", "status is open, closed or all");
	}
	rc = pp_store_break_glass_each(app->store, strcmp(status, "all") ? status : "", 200,
	                               queue_one, &q);
	if (rc) {
		json_decref(q.items);
		return rc;
	}
	snprintf(detail, sizeof detail, "status:%s items:%zu", status, json_array_size(q.items));
	if (pp_portal_audit(app, &p, "breakglass.queue.read", NULL, "BreakGlass", NULL, "success",
	                    "operations", detail)) {
		json_decref(q.items);
		return pp_portal_audit_failed(r);
	}
	return pp_portal_json(r, 200, json_pack("{s:o}", "items", q.items), true);
}

/* POST /api/v1/privacy/break-glass/:id/close {"outcome","note"} */
static int h_close(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *id = pp_http_param(r, "id"), *outcome, *note;
	pp_store_break_glass bg;
	pp_store_resource res;
	pp_session s;
	pp_principal p;
	json_t *body = NULL;
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	char detail[96];
	int rc;

	memset(&bg, 0, sizeof bg);
	memset(&res, 0, sizeof res);
	if (!is_reviewer(app, r, &s, &p))
		return 0;
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	outcome = pp_portal_json_str(body, "outcome", 31);
	note = pp_portal_json_str(body, "note", 2000);
	if (!in_list(outcome, OUTCOMES, sizeof OUTCOMES / sizeof OUTCOMES[0])) {
		rc = pp_http_error(r, 400, "invalid_outcome",
		                   "outcome is appropriate, inappropriate or follow-up");
		goto out;
	}
	if (!id || strlen(id) >= sizeof bg.pub_id || pp_store_break_glass_get(app->store, id, &bg) ||
	    strcmp(bg.status, "open")) {
		rc = pp_http_error(r, 404, "not_found", "No open review with that id");
		goto out;
	}
	if (note && *note &&
	    (rc = pp_crypto_seal(app->crypto, "break_glass", "note", bg.id, note, strlen(note), &ct,
	                         &ctlen)))
		goto out;
	pp_store_resource_get(app->store, bg.patient_id, &res);
	snprintf(detail, sizeof detail, "id:%s outcome:%s", bg.pub_id, outcome);
	if (pp_portal_audit(app, &p, "breakglass.review.close", res.pub_id, "BreakGlass", bg.pub_id,
	                    "success", "operations", detail)) {
		rc = pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_store_break_glass_close(app->store, bg.pub_id, s.user_id, pp_clock_now_ms(), outcome,
	                                ct, ctlen);
	if (rc == PP_ENOTFOUND)
		rc = pp_http_error(r, 404, "not_found", "No open review with that id");
	else if (!rc)
		rc = pp_portal_json(r, 200, json_pack("{s:s, s:s}", "id", bg.pub_id, "status", "closed"),
		                    false);
out:
	free(ct);
	json_decref(body);
	pp_store_break_glass_clear(&bg);
	pp_store_resource_clear(&res);
	return rc;
}

/* ---- staff: my patients, and finding a record by its medical record number ---- */
#define MINE_MAX 500   /* patients in the list */

typedef struct mine {
	pp_app *app;
	pp_principal *p;
	json_t *items;
	const char *via;            /* the relationship being listed: "care-team", "encounter" */
	int64_t seen[MINE_MAX];     /* listed already (a care-team patient is not listed again) */
	size_t nseen;
	int rc;
} mine;

static int mine_one(void *ctx, int64_t patient_id)
{
	mine *m = ctx;
	pp_store_resource res;
	pp_policy_decision d;
	json_t *pat = NULL, *summary_patient = NULL;
	const char *family = NULL, *given = NULL;

	for (size_t i = 0; i < m->nseen; i++)
		if (m->seen[i] == patient_id)
			return 0;
	if (m->nseen >= MINE_MAX)
		return 0;   /* the list holds at most MINE_MAX patients */
	pp_policy_decide(m->app, m->p, PP_POLICY_SEARCH,
	                 &(pp_policy_target){.patient_id = patient_id, .resource_type = "Patient"}, &d);
	if (d.effect == PP_POLICY_DENY)
		return 0;
	m->seen[m->nseen++] = patient_id;
	memset(&res, 0, sizeof res);
	if (pp_store_resource_get(m->app->store, patient_id, &res) ||
	    pp_fhir_resource_load(m->app->crypto, &res, &pat)) {
		pp_store_resource_clear(&res);
		return 0;
	}
	family = json_string_value(json_object_get(json_array_get(json_object_get(pat, "name"), 0),
	                                           "family"));
	given = json_string_value(json_array_get(json_object_get(json_array_get(
	                              json_object_get(pat, "name"), 0), "given"), 0));
	summary_patient = json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "patient_id", res.pub_id, "family",
	                            family, "given", given, "birth_date",
	                            json_string_value(json_object_get(pat, "birthDate")), "reason",
	                            m->via);
	if (!summary_patient || json_array_append_new(m->items, summary_patient))
		m->rc = PP_ENOMEM;
	json_decref(pat);
	pp_store_resource_clear(&res);
	return m->rc;
}

/* GET /api/v1/staff/patients: the signed-in staff member's patients — their care team's, then
 * those of recent encounters of the Practitioner they are linked to — each with its "reason" */
static int h_my_patients(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	mine m = {.app = app, .p = &p};
	char detail[32];
	int64_t now = pp_clock_now_ms();
	int rc, days = app->cfg ? app->cfg->policy_encounter_window_days : 30;

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (!pp_policy_role_staff(p.role))
		return pp_http_error(r, 404, "not_found", "Not found");
	if (!(m.items = json_array()))
		return PP_ENOMEM;
	m.via = "care-team";
	rc = pp_store_care_team_each(app->store, s.user_id, now, mine_one, &m);
	if (!rc && !m.rc) {
		m.via = "encounter";
		rc = pp_store_encounter_patients_each(app->store, s.user_id, now,
		                                      now - (int64_t)days * 86400000LL, mine_one, &m);
	}
	if (rc || m.rc) {
		json_decref(m.items);
		return rc ? rc : m.rc;
	}
	snprintf(detail, sizeof detail, "patients:%zu", json_array_size(m.items));
	/* one record for the list (the ids it returned are the care team's, listed in detail's count) */
	if (pp_portal_audit(app, &p, "search", NULL, "Patient", NULL, "success", "treatment",
	                    detail)) {
		json_decref(m.items);
		return pp_portal_audit_failed(r);
	}
	return pp_portal_json(r, 200, json_pack("{s:o}", "patients", m.items), true);
}

/* POST /api/v1/staff/patient-lookup {"mrn"}: the opaque id of the record with that medical
 * record number (workforce with record access only; audited; the answer says nothing else) */
static int h_lookup(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	pp_store_resource res;
	json_t *body = NULL;
	const char *mrn;
	uint8_t bidx[32];
	int rc;

	memset(&res, 0, sizeof res);
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	if (!pp_policy_permits(p.role, "record.clinical") &&
	    !pp_policy_permits(p.role, "record.demographics"))
		return pp_http_error(r, 404, "not_found", "Not found");
	if (pp_portal_body_json(app, r, &body) || !body)
		return 0;
	mrn = pp_portal_json_str(body, "mrn", 64);
	rc = mrn && *mrn ? pp_fhir_lid_bidx(app->crypto, "Patient", mrn, bidx) : PP_EINVAL;
	if (!rc)
		rc = pp_store_resource_find_lid(app->store, "Patient", bidx, &res);
	json_decref(body);
	if (pp_portal_audit(app, &p, "patient.lookup", rc ? NULL : res.pub_id, "Patient", NULL,
	                    rc ? "failure" : "success", "treatment", rc ? "not-found" : "by-mrn")) {
		pp_store_resource_clear(&res);
		return pp_portal_audit_failed(r);
	}
	if (rc) {
		pp_store_resource_clear(&res);
		return pp_http_error(r, 404, "not_found", "No record with that medical record number");
	}
	rc = pp_portal_json(r, 200, json_pack("{s:s}", "patient_id", res.pub_id), false);
	pp_store_resource_clear(&res);
	return rc;
}

int pp_portal_access_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "GET", "/api/v1/staff/patients", h_my_patients, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/staff/patient-lookup", h_lookup, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/break-glass/reasons", h_reasons, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/patients/:id/break-glass", h_start, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/privacy/break-glass", h_queue, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/privacy/break-glass/:id/close", h_close, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
