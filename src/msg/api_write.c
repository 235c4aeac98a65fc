/* msg: the write side of the messaging API — new threads, replies, read receipts, drafts,
 * per-user delete, reassignment to another pool and moving misdirected messages. Each write runs
 * in one store transaction around its one audit record: when the record cannot be made durable the
 * transaction is rolled back and the answer is 503, so nothing unaudited is ever stored. */
#include "msg/msg_internal.h"

#include "files/files.h"

#include <string.h>

/* the transaction's end: commit when the audit record is durable, else roll back and answer 503 */
static int finish(pp_msg_req *q, int audit_rc)
{
	if (audit_rc) {
		pp_store_rollback(q->app->store);
		pp_portal_audit_failed(q->r);
		return PP_EAUDIT;
	}
	if (pp_store_commit(q->app->store)) {
		pp_store_rollback(q->app->store);
		return PP_EIO;
	}
	return PP_OK;
}

/* A patient's own resource of one type by opaque id, decrypted; PP_ENOTFOUND when there is none
 * or it belongs to someone else (the two are not told apart). */
static int load_owned(pp_app *app, const pp_policy_decision *d, const char *type,
                      const char *pub, int64_t patient_id, json_t **out)
{
	pp_store_resource res;
	int rc;

	*out = NULL;
	memset(&res, 0, sizeof res);
	rc = pp_store_resource_get_pub(app->store, type, pub, &res);
	if (!rc && (res.patient_id != patient_id || strcmp(res.type, type)))
		rc = PP_ENOTFOUND;
	if (!rc)
		rc = pp_fhir_resource_load(app->crypto, &res, out);
	/* what the decision hides from this caller (a proxy: sensitive categories) cannot be linked */
	if (!rc && !pp_policy_visible(app, d, *out)) {
		json_decref(*out);
		*out = NULL;
		rc = PP_ENOTFOUND;
	}
	pp_store_resource_clear(&res);
	return rc;
}

static const char *jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Builds the sealed content {"body","fields"} of a message from a request: checks the kind and
 * its fields, and that a linked MedicationRequest (active) or Observation (a lab result) is the
 * patient's own; keeps a snapshot of what was linked for the care team. On a client error the
 * response is set (400) and *why holds the audit detail when the refusal touched PHI. */
static int build_content(pp_msg_req *q, const pp_policy_decision *d, int64_t patient_id,
                         const char *kind, const json_t *in, const char *body, json_t **content,
                         const char **why)
{
	json_t *fields = NULL, *res = NULL;
	const char *reason = NULL;
	int rc;

	*content = NULL;
	*why = NULL;
	if (pp_msg_fields_check(kind, json_object_get(in, "fields"), &fields, &reason)) {
		return pp_http_error(q->r, 400, reason ? reason : "invalid_fields",
		                     "The request's fields are not valid for its kind") ? PP_ENOMEM :
		       PP_EINVAL;
	}
	if (!strcmp(kind, "refill")) {
		const char *id = jstr(fields, "medication_request_id"), *text;
		const char *status;
		rc = load_owned(q->app, d, "MedicationRequest", id, patient_id, &res);
		if (rc && rc != PP_ENOTFOUND)
			goto fail;
		status = jstr(res, "status");
		if (rc || !status || strcmp(status, "active")) {
			*why = "medication-not-eligible";
			pp_http_error(q->r, 400, "medication_not_eligible",
			              "Pick one of your active medications");
			rc = PP_EINVAL;
			goto fail;
		}
		text = jstr(json_object_get(res, "medicationCodeableConcept"), "text");
		if (!text)
			text = jstr(json_array_get(json_object_get(json_object_get(
			            res, "medicationCodeableConcept"), "coding"), 0), "display");
		if (!text)
			text = jstr(json_object_get(res, "medicationReference"), "display");
		json_object_set_new(fields, "medication", json_string(text ? text : "Medication"));
	} else if (!strcmp(kind, "result_question")) {
		json_t *snap;
		rc = load_owned(q->app, d, "Observation", jstr(fields, "observation_id"), patient_id,
		                &res);
		if (rc && rc != PP_ENOTFOUND)
			goto fail;
		if (rc || !(snap = pp_msg_result_json(jstr(fields, "observation_id"), res))) {
			*why = "observation-not-eligible";
			pp_http_error(q->r, 400, "observation_not_eligible", "Pick one of your lab results");
			rc = PP_EINVAL;
			goto fail;
		}
		json_object_del(snap, "id");
		json_object_set_new(fields, "result", snap);
	}
	json_decref(res);
	if (!(*content = json_pack("{s:s, s:o}", "body", body ? body : "", "fields", fields)))
		return PP_ENOMEM;
	return PP_OK;
fail:
	json_decref(res);
	json_decref(fields);
	return rc;
}

static const char *default_subject(const char *kind)
{
	if (!strcmp(kind, "refill"))
		return "Medication refill request";
	if (!strcmp(kind, "appointment"))
		return "Appointment request";
	if (!strcmp(kind, "result_question"))
		return "Question about a result";
	return NULL;
}

/* kind, body and fields of a new message from the request body */
static int read_message(pp_msg_req *q, const json_t *in, const char **kind, const char **body)
{
	const json_t *k = json_object_get(in, "kind");

	*kind = json_is_string(k) ? json_string_value(k) : k ? NULL : "text";
	if (!*kind || !pp_msg_kind_valid(*kind)) {
		pp_http_error(q->r, 400, "invalid_kind",
		              "kind must be text, refill, appointment or result_question");
		return PP_EINVAL;
	}
	if (pp_msg_json_text(in, "body", PP_MSG_BODY_MAX, !strcmp(*kind, "text"), true, body)) {
		pp_http_error(q->r, 400, "invalid_body", "A message needs a body of at most 20000 bytes");
		return PP_EINVAL;
	}
	return PP_OK;
}

/* ---- POST /messages/threads {pool_id, kind, subject, body, fields} ---- */
#define MAX_ATTACHMENTS 5

typedef struct atts {
	int n;
	char id[MAX_ATTACHMENTS][PP_FILES_ID_LEN + 1];
} atts;

/* "attachments": [file ids] — each uploaded by the caller to this thread's patient through
 * POST /messages/threads/:id/attachments (or /patients/:id/files), clean, and not yet sent with a
 * message. On failure the 400 is set and PP_EINVAL returned. */
static int read_attachments(pp_msg_req *q, const json_t *in, int64_t patient_id, atts *a)
{
	const json_t *arr = json_object_get(in, "attachments"), *v;
	size_t i;

	a->n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > MAX_ATTACHMENTS)
		goto bad;
	json_array_foreach(arr, i, v) {
		pp_files_info info;
		const char *id = json_string_value(v);
		if (!id || !q->app->files || pp_files_get(q->app->files, id, &info) ||
		    info.patient_id != patient_id || info.uploader_id != q->p.user_id ||
		    strcmp(info.status, "clean") || info.message_id ||
		    (strcmp(info.kind, "attachment") && strcmp(info.kind, "upload")))
			goto bad;
		for (int k = 0; k < a->n; k++)
			if (!strcmp(a->id[k], info.id))
				goto bad;
		snprintf(a->id[a->n++], sizeof a->id[0], "%s", info.id);
	}
	return 0;
bad:
	pp_http_error(q->r, 400, "invalid_attachment",
	              "attachments lists at most 5 files you uploaded to this conversation, each once");
	return PP_EINVAL;
}

/* inside the message's transaction */
static int link_attachments(pp_msg_req *q, const atts *a, int64_t message_id)
{
	int rc = 0;

	for (int i = 0; !rc && i < a->n; i++)
		if (!(rc = pp_store_msg_attachment_add(q->app->store, message_id, a->id[i])))
			rc = pp_files_link_message(q->app->files, a->id[i], message_id);
	return rc;
}

static int h_create(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	json_t *in = NULL, *content = NULL, *out = NULL, *mj;
	const json_t *pool_v;
	const char *kind, *body, *subject, *why;
	pp_store_pool pool;
	pp_policy_decision d;
	pp_store_msg_thread t;
	pp_store_msg m;
	atts att = {0};
	char rid[80], detail[64];
	int rc;

	memset(&t, 0, sizeof t);
	memset(&m, 0, sizeof m);
	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (!q.patient)
		return pp_http_error(r, 403, "patients_only",
		                     "Conversations are started by patients; reply in a thread");
	if (pp_msg_need_patient(&q))
		return 0;
	pp_portal_body_json(q.app, r, &in);
	if (!in)
		return 0;
	rc = PP_OK;
	pool_v = json_object_get(in, "pool_id");
	if (!json_is_integer(pool_v) ||
	    pp_store_pool_get(q.app->store, json_integer_value(pool_v), &pool)) {
		pp_http_error(r, 400, "invalid_pool", "pool_id must name one of the care-team pools");
		goto out;
	}
	if (read_message(&q, in, &kind, &body))
		goto out;
	if (pp_msg_json_text(in, "subject", PP_MSG_SUBJECT_MAX, false, false, &subject)) {
		pp_http_error(r, 400, "invalid_subject", "The subject is at most 200 bytes on one line");
		goto out;
	}
	if (!subject || !*subject)
		subject = default_subject(kind);
	if (!subject) {
		pp_http_error(r, 400, "invalid_subject", "A message needs a subject");
		goto out;
	}
	/* the patient's own record, or the record a proxy acts for (policy's proxy rules) */
	pp_policy_decide(q.app, &q.p, PP_POLICY_WRITE,
	                &(pp_policy_target){.patient_id = q.v.patient_id,
	                                    .resource_type = "MessageThread", .pool_id = pool.id}, &d);
	if (d.effect == PP_POLICY_DENY) {
		if (pp_msg_audit(&q, "message.create", q.self_pub, "Message", NULL, "denied", d.purpose,
		                 d.reason))
			pp_portal_audit_failed(r);
		else
			pp_http_error(r, 404, "not_found", "No such record");
		goto out;
	}
	if (read_attachments(&q, in, q.v.patient_id, &att))
		goto out;
	if ((rc = build_content(&q, &d, q.v.patient_id, kind, in, body, &content, &why))) {
		if (rc == PP_EINVAL) {
			rc = PP_OK;   /* the 400 is set */
			if (why && pp_msg_audit(&q, "message.create", q.self_pub, "Message", NULL,
			                        "failure", d.purpose, why))
				pp_portal_audit_failed(r);
		}
		goto out;
	}
	t.id = pp_store_new_id();
	m.id = pp_store_new_id();
	pp_msg_new_pub(t.pub_id);
	pp_msg_new_pub(m.pub_id);
	t.patient_id = q.v.patient_id;
	t.pool_id = pool.id;
	snprintf(t.kind, sizeof t.kind, "%s", kind);
	t.created_by = q.p.user_id;
	t.created_ms = t.updated_ms = m.created_ms = pp_clock_now_ms();
	m.thread_id = t.id;
	m.author_id = q.p.user_id;
	snprintf(m.side, sizeof m.side, "patient");
	snprintf(m.kind, sizeof m.kind, "%s", kind);
	snprintf(m.thread_pub, sizeof m.thread_pub, "%s", t.pub_id);
	m.thread_patient_id = t.patient_id;
	m.thread_pool_id = t.pool_id;
	if ((rc = pp_msg_seal_text(q.app, "msg_thread", "subject", t.id, subject, &t.subject_enc,
	                           &t.subject_enc_len)) ||
	    (rc = pp_msg_seal_json(q.app, "msg_message", "content", m.id, content, &m.content_enc,
	                           &m.content_enc_len)))
		goto out;
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	if ((rc = pp_store_msg_thread_insert(q.app->store, &t)) ||
	    (rc = pp_store_msg_insert(q.app->store, &m)) || (rc = link_attachments(&q, &att, m.id))) {
		pp_store_rollback(q.app->store);
		goto out;
	}
	snprintf(rid, sizeof rid, "%s/%s", t.pub_id, m.pub_id);
	snprintf(detail, sizeof detail, "new-thread;kind:%s;pool:%lld;%s", kind, (long long)pool.id,
	         d.reason);
	if ((rc = finish(&q, pp_msg_audit(&q, "message.create", q.self_pub, "Message", rid,
	                                  "success", d.purpose, detail)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	pp_msg_notify(&q, &t, "staff");
	mj = pp_msg_message_json(&q, &m, content, NULL);
	out = pp_msg_thread_json(&q, &t, subject, q.self_pub);
	if (!out || !mj) {
		json_decref(mj);
		rc = PP_ENOMEM;
		goto out;
	}
	json_object_set_new(out, "messages", json_pack("[o]", mj));
	json_object_set_new(out, "turnaround", json_string(pool.turnaround));
	json_object_set_new(out, "disclaimer", json_string(PP_MSG_DISCLAIMER));
	rc = pp_portal_json(r, 201, out, true);
	out = NULL;
out:
	json_decref(out);
	json_decref(content);
	json_decref(in);
	pp_store_msg_thread_clear(&t);
	pp_store_msg_clear(&m);
	return rc;
}

/* ---- POST /messages/threads/:id/messages {body, kind?, fields?} ---- */
static int h_reply(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	json_t *in = NULL, *content = NULL, *mj = NULL;
	const char *kind, *body, *why;
	pp_policy_decision d;
	pp_store_msg_thread t;
	pp_store_msg m;
	atts att = {0};
	char pub[48], rid[80], detail[64];
	int rc;

	memset(&m, 0, sizeof m);
	if (pp_msg_start(vapp, r, &q))
		return 0;
	pp_portal_body_json(q.app, r, &in);
	if (!in)
		return 0;
	memset(&t, 0, sizeof t);
	rc = PP_OK;
	if (read_message(&q, in, &kind, &body))
		goto out;
	if (!q.patient && strcmp(kind, "text")) {
		pp_http_error(r, 400, "invalid_kind", "The care team replies with text");
		goto out;
	}
	if ((rc = pp_msg_thread_access(&q, pp_http_param(r, "id"), 0, PP_POLICY_WRITE,
	                               "message.create", NULL, &t, &d, pub))) {
		rc = rc == PP_EDENIED ? PP_OK : rc;
		goto out;
	}
	if (read_attachments(&q, in, t.patient_id, &att))
		goto out;
	if ((rc = build_content(&q, &d, t.patient_id, kind, in, body, &content, &why))) {
		if (rc == PP_EINVAL) {
			rc = PP_OK;
			if (why && pp_msg_audit(&q, "message.create", pub, "Message", t.pub_id, "failure",
			                        d.purpose, why))
				pp_portal_audit_failed(r);
		}
		goto out;
	}
	m.id = pp_store_new_id();
	pp_msg_new_pub(m.pub_id);
	m.thread_id = t.id;
	m.author_id = q.p.user_id;
	snprintf(m.side, sizeof m.side, "%s", q.v.side);
	snprintf(m.kind, sizeof m.kind, "%s", kind);
	snprintf(m.thread_pub, sizeof m.thread_pub, "%s", t.pub_id);
	m.thread_patient_id = t.patient_id;
	m.thread_pool_id = t.pool_id;
	m.created_ms = pp_clock_now_ms();
	if ((rc = pp_msg_seal_json(q.app, "msg_message", "content", m.id, content, &m.content_enc,
	                           &m.content_enc_len)))
		goto out;
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	rc = pp_store_msg_last_in_thread(q.app->store, t.id, &m.in_reply_to);
	if (rc == PP_OK || rc == PP_ENOTFOUND)
		rc = pp_store_msg_insert(q.app->store, &m);
	if (!rc)
		rc = link_attachments(&q, &att, m.id);
	if (!rc)
		rc = pp_store_msg_thread_update(q.app->store, t.id, 0, 0, m.created_ms);
	if (!rc && (rc = pp_store_msg_draft_delete(q.app->store, t.id, q.p.user_id)) == PP_ENOTFOUND)
		rc = PP_OK;   /* sending a reply uses up the author's draft */
	if (rc) {
		pp_store_rollback(q.app->store);
		goto out;
	}
	snprintf(rid, sizeof rid, "%s/%s", t.pub_id, m.pub_id);
	snprintf(detail, sizeof detail, "reply;kind:%s;%s", kind, d.reason);
	if ((rc = finish(&q, pp_msg_audit(&q, "message.create", pub, "Message", rid, "success",
	                                  d.purpose, detail)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	pp_msg_notify(&q, &t, q.patient ? "staff" : "patient");
	/* in_reply_to is given by GET /messages/threads/:id (it maps row ids to opaque ids) */
	if (!(mj = pp_msg_message_json(&q, &m, content, NULL))) {
		rc = PP_ENOMEM;
		goto out;
	}
	rc = pp_portal_json(r, 201, mj, true);
out:
	json_decref(content);
	json_decref(in);
	pp_store_msg_thread_clear(&t);
	pp_store_msg_clear(&m);
	return rc;
}

/* ---- POST /messages/threads/:id/read: read receipts for the caller's side ---- */
static int h_mark_read(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pp_policy_decision d;
	pp_store_msg_thread t;
	char pub[48], detail[48];
	int changed = 0, rc;
	int64_t unread = 0;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if ((rc = pp_msg_thread_access(&q, pp_http_param(r, "id"), 0, PP_POLICY_READ,
	                               "message.mark_read", NULL, &t, &d, pub)))
		return rc == PP_EDENIED ? 0 : rc;
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	if ((rc = pp_store_msg_mark_read(q.app->store, t.id, &q.v, pp_clock_now_ms(), &changed))) {
		pp_store_rollback(q.app->store);
		goto out;
	}
	snprintf(detail, sizeof detail, "marked:%d;%s", changed, d.reason);
	if ((rc = finish(&q, pp_msg_audit(&q, "message.mark_read", pub, "MessageThread", t.pub_id,
	                                  "success", d.purpose, detail)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	if ((rc = pp_store_msg_unread_count(q.app->store, &q.v, &unread)))
		goto out;
	rc = pp_portal_json(r, 200, json_pack("{s:i, s:I}", "marked", changed, "unread",
	                                      (json_int_t)unread), false);
out:
	pp_store_msg_thread_clear(&t);
	return rc;
}

/* ---- PUT / DELETE /messages/threads/:id/draft: one draft per thread and author, seen only by
 * its author ---- */
static int h_draft_put(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pp_policy_decision d;
	pp_store_msg_thread t;
	json_t *in = NULL, *content = NULL;
	const char *body;
	char pub[48];
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	int64_t id, now = pp_clock_now_ms();
	int rc;

	memset(&t, 0, sizeof t);
	if (pp_msg_start(vapp, r, &q))
		return 0;
	pp_portal_body_json(q.app, r, &in);
	if (!in)
		return 0;
	rc = PP_OK;
	if (pp_msg_json_text(in, "body", PP_MSG_BODY_MAX, false, true, &body)) {
		pp_http_error(r, 400, "invalid_body", "A draft is at most 20000 bytes");
		goto out;
	}
	if ((rc = pp_msg_thread_access(&q, pp_http_param(r, "id"), 0, PP_POLICY_WRITE,
	                               "draft.save", NULL, &t, &d, pub))) {
		rc = rc == PP_EDENIED ? PP_OK : rc;
		goto out;
	}
	id = pp_store_new_id();
	if (!(content = json_pack("{s:s}", "body", body ? body : "")) ||
	    (rc = pp_msg_seal_json(q.app, "msg_draft", "content", id, content, &ct, &ctlen)))
		goto out;
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	if ((rc = pp_store_msg_draft_put(q.app->store, id, t.id, q.p.user_id, ct, ctlen, now))) {
		pp_store_rollback(q.app->store);
		goto out;
	}
	if ((rc = finish(&q, pp_msg_audit(&q, "draft.save", pub, "MessageThread", t.pub_id,
	                                  "success", d.purpose, d.reason)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	rc = pp_portal_json(r, 200, json_pack("{s:o}", "saved", pp_msg_time_json(now)), false);
out:
	free(ct);
	json_decref(content);
	json_decref(in);
	pp_store_msg_thread_clear(&t);
	return rc;
}

static int h_draft_delete(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pp_policy_decision d;
	pp_store_msg_thread t;
	char pub[48];
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if ((rc = pp_msg_thread_access(&q, pp_http_param(r, "id"), 0, PP_POLICY_WRITE,
	                               "draft.delete", NULL, &t, &d, pub)))
		return rc == PP_EDENIED ? 0 : rc;
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	rc = pp_store_msg_draft_delete(q.app->store, t.id, q.p.user_id);
	if (rc) {
		pp_store_rollback(q.app->store);
		if (rc == PP_ENOTFOUND) {
			rc = PP_OK;
			if (pp_msg_audit(&q, "draft.delete", pub, "MessageThread", t.pub_id, "failure",
			                 d.purpose, "no-draft"))
				pp_portal_audit_failed(r);
			else
				pp_http_error(r, 404, "not_found", "No draft to delete");
		}
		goto out;
	}
	if ((rc = finish(&q, pp_msg_audit(&q, "draft.delete", pub, "MessageThread", t.pub_id,
	                                  "success", d.purpose, d.reason)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	pp_http_status(r, 204);
out:
	pp_store_msg_thread_clear(&t);
	return rc;
}

/* The message the caller names (:mid), with its thread if policy allows act on it. Unknown ids
 * are audited and answered 404 like refusals. Nonzero: the response is set (or a store error). */
static int message_access(pp_msg_req *q, enum pp_policy_action act, const char *action,
                          pp_store_msg *m, pp_store_msg_thread *t, pp_policy_decision *d,
                          char pub[48])
{
	const char *mid = pp_http_param(q->r, "mid");
	int rc = PP_ENOTFOUND;

	memset(m, 0, sizeof *m);
	if (pp_msg_id_valid(mid))
		rc = pp_store_msg_get_pub(q->app->store, mid, m);
	if (rc && rc != PP_ENOTFOUND)
		return rc;
	return pp_msg_thread_access(q, NULL, rc ? -1 : m->thread_id, act, action,
	                            pp_msg_id_valid(mid) ? mid : "invalid", t, d, pub);
}

/* ---- DELETE /messages/:mid: hides the message from the caller only ---- */
static int h_delete(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pp_policy_decision d;
	pp_store_msg_thread t;
	pp_store_msg m;
	char pub[48], rid[80];
	int64_t unread = 0;
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	memset(&t, 0, sizeof t);
	if ((rc = message_access(&q, PP_POLICY_WRITE, "message.delete", &m, &t, &d, pub))) {
		rc = rc == PP_EDENIED ? PP_OK : rc;
		goto out;
	}
	snprintf(rid, sizeof rid, "%s/%s", t.pub_id, m.pub_id);
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	if ((rc = pp_store_msg_delete_for(q.app->store, m.id, q.p.user_id, pp_clock_now_ms()))) {
		pp_store_rollback(q.app->store);
		if (rc == PP_EEXISTS) {
			rc = PP_OK;
			if (pp_msg_audit(&q, "message.delete", pub, "Message", rid, "failure", d.purpose,
			                 "already-deleted"))
				pp_portal_audit_failed(r);
			else
				pp_http_error(r, 404, "not_found", "No such message");
		}
		goto out;
	}
	if ((rc = finish(&q, pp_msg_audit(&q, "message.delete", pub, "Message", rid, "success",
	                                  d.purpose, "for-self")))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	if ((rc = pp_store_msg_unread_count(q.app->store, &q.v, &unread)))
		goto out;
	rc = pp_portal_json(r, 200, json_pack("{s:b, s:I}", "deleted", 1, "unread",
	                                      (json_int_t)unread), false);
out:
	pp_store_msg_clear(&m);
	pp_store_msg_thread_clear(&t);
	return rc;
}

/* staff-only actions: a patient is answered 403 (and the attempt audited) */
static int staff_only(pp_msg_req *q, const char *action)
{
	if (!q->patient)
		return 0;
	if (pp_msg_audit(q, action, q->self_pub, "MessageThread", NULL, "denied", "patient-access",
	                 "staff-only"))
		pp_portal_audit_failed(q->r);
	else
		pp_http_error(q->r, 403, "staff_only", "Only the care team can do this");
	return -1;
}

/* ---- POST /messages/threads/:id/reassign {pool_id, reason} ---- */
static int h_reassign(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pp_policy_decision d;
	pp_store_msg_thread t;
	pp_store_pool to;
	pp_store_msg_event e;
	json_t *in = NULL;
	const json_t *pv;
	const char *reason;
	char pub[48], detail[96];
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	int rc;

	memset(&t, 0, sizeof t);
	memset(&e, 0, sizeof e);
	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (staff_only(&q, "thread.reassign"))
		return 0;
	pp_portal_body_json(q.app, r, &in);
	if (!in)
		return 0;
	rc = PP_OK;
	pv = json_object_get(in, "pool_id");
	if (!json_is_integer(pv) || pp_store_pool_get(q.app->store, json_integer_value(pv), &to)) {
		pp_http_error(r, 400, "invalid_pool", "pool_id must name one of the care-team pools");
		goto out;
	}
	if (pp_msg_json_text(in, "reason", PP_MSG_REASON_MAX, true, true, &reason)) {
		pp_http_error(r, 400, "invalid_reason", "A reason of at most 500 bytes is required");
		goto out;
	}
	if ((rc = pp_msg_thread_access(&q, pp_http_param(r, "id"), 0, PP_POLICY_WRITE,
	                               "thread.reassign", NULL, &t, &d, pub))) {
		rc = rc == PP_EDENIED ? PP_OK : rc;
		goto out;
	}
	if (to.id == t.pool_id) {
		pp_http_error(r, 400, "same_pool", "The conversation is already with that pool");
		goto out;
	}
	e.id = pp_store_new_id();
	e.thread_id = t.id;
	snprintf(e.kind, sizeof e.kind, "reassign");
	e.actor_id = q.p.user_id;
	e.from_ref = t.pool_id;
	e.to_ref = to.id;
	e.created_ms = pp_clock_now_ms();
	if ((rc = pp_msg_seal_text(q.app, "msg_event", "reason", e.id, reason, &ct, &ctlen)))
		goto out;
	e.reason_enc = ct;
	e.reason_enc_len = ctlen;
	if ((rc = pp_store_begin(q.app->store)))
		goto out;
	if ((rc = pp_store_msg_thread_update(q.app->store, t.id, to.id, 0, 0)) ||
	    (rc = pp_store_msg_event_insert(q.app->store, &e))) {
		pp_store_rollback(q.app->store);
		goto out;
	}
	snprintf(detail, sizeof detail, "from-pool:%lld;to-pool:%lld", (long long)t.pool_id,
	         (long long)to.id);
	if ((rc = finish(&q, pp_msg_audit(&q, "thread.reassign", pub, "MessageThread", t.pub_id,
	                                  "success", d.purpose, detail)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	t.pool_id = to.id;
	pp_msg_notify(&q, &t, "staff");
	rc = pp_portal_json(r, 200, json_pack("{s:s, s:{s:I, s:s}}", "id", t.pub_id, "pool", "id",
	                                      (json_int_t)to.id, "name", to.name), false);
out:
	free(ct);
	json_decref(in);
	pp_store_msg_thread_clear(&t);
	return rc;
}

/* ---- POST /messages/:mid/move and /messages/threads/:id/move {patient_id, reason}: a
 * misdirected message (or a whole thread) goes to the right patient's chart. A single message
 * that shares its thread with others starts a new thread for the right patient (same pool and
 * subject); otherwise the thread itself changes patient. The wrong patient loses access at once
 * (access follows the thread's patient); one audit record names both patients. ---- */
static int do_move(pp_msg_req *q, bool whole)
{
	pp_policy_decision d, d2;
	pp_store_msg_thread t, nt;
	pp_store_msg m;
	pp_store_msg_event e;
	pp_store_resource target;
	json_t *in = NULL;
	const char *reason, *to_pub;
	char pub[48], rid[120], detail[160], *subject = NULL;
	uint8_t *ct = NULL;
	size_t ctlen = 0;
	int64_t only = 0;
	bool split;
	int rc;

	memset(&t, 0, sizeof t);
	memset(&nt, 0, sizeof nt);
	memset(&m, 0, sizeof m);
	memset(&e, 0, sizeof e);
	memset(&target, 0, sizeof target);
	if (staff_only(q, "message.move"))
		return 0;
	pp_portal_body_json(q->app, q->r, &in);
	if (!in)
		return 0;
	rc = PP_OK;
	if (pp_msg_json_text(in, "patient_id", 64, true, false, &to_pub) || !pp_msg_id_valid(to_pub) ||
	    pp_store_resource_get_pub(q->app->store, "Patient", to_pub, &target)) {
		pp_http_error(q->r, 400, "invalid_patient", "patient_id must name a patient");
		goto out;
	}
	if (pp_msg_json_text(in, "reason", PP_MSG_REASON_MAX, true, true, &reason)) {
		pp_http_error(q->r, 400, "invalid_reason", "A reason of at most 500 bytes is required");
		goto out;
	}
	if (whole)
		rc = pp_msg_thread_access(q, pp_http_param(q->r, "id"), 0, PP_POLICY_WRITE,
		                          "message.move", NULL, &t, &d, pub);
	else
		rc = message_access(q, PP_POLICY_WRITE, "message.move", &m, &t, &d, pub);
	if (rc) {
		rc = rc == PP_EDENIED ? PP_OK : rc;
		goto out;
	}
	if (target.id == t.patient_id) {
		pp_http_error(q->r, 400, "same_patient", "The message is already in that chart");
		goto out;
	}
	/* the right patient's chart must be reachable by the mover through the same pool */
	pp_policy_decide(q->app, &q->p, PP_POLICY_WRITE,
	                &(pp_policy_target){.patient_id = target.id, .resource_type = "MessageThread",
	                                    .pool_id = t.pool_id}, &d2);
	if (d2.effect == PP_POLICY_DENY) {
		if (pp_msg_audit(q, "message.move", to_pub, "MessageThread", t.pub_id, "denied",
		                 d2.purpose, d2.reason))
			pp_portal_audit_failed(q->r);
		else
			pp_http_error(q->r, 404, "not_found", "No such record");
		goto out;
	}
	split = false;
	if (!whole) {
		/* Does the thread hold other messages? Then only this one moves, to a new thread.
		 * A message alone in its thread is both the newest and one that answers nothing
		 * (in_reply_to is set at insert to the thread's newest message). */
		if ((rc = pp_store_msg_last_in_thread(q->app->store, t.id, &only)))
			goto out;
		split = only != m.id || m.in_reply_to != 0;
	}
	e.id = pp_store_new_id();
	snprintf(e.kind, sizeof e.kind, "move");
	e.actor_id = q->p.user_id;
	e.from_ref = t.patient_id;
	e.to_ref = target.id;
	e.message_id = whole ? 0 : m.id;
	e.created_ms = pp_clock_now_ms();
	if ((rc = pp_msg_seal_text(q->app, "msg_event", "reason", e.id, reason, &ct, &ctlen)))
		goto out;
	e.reason_enc = ct;
	e.reason_enc_len = ctlen;
	if (split) {
		nt.id = pp_store_new_id();
		pp_msg_new_pub(nt.pub_id);
		nt.patient_id = target.id;
		nt.pool_id = t.pool_id;
		snprintf(nt.kind, sizeof nt.kind, "%s", m.kind);
		nt.created_by = q->p.user_id;
		nt.created_ms = nt.updated_ms = m.created_ms;
		if ((rc = pp_msg_open_text(q->app, "msg_thread", "subject", t.id, t.subject_enc,
		                           t.subject_enc_len, &subject)) ||
		    (rc = pp_msg_seal_text(q->app, "msg_thread", "subject", nt.id, subject,
		                           &nt.subject_enc, &nt.subject_enc_len)))
			goto out;
	}
	e.thread_id = split ? nt.id : t.id;
	if ((rc = pp_store_begin(q->app->store)))
		goto out;
	if (split)
		rc = pp_store_msg_thread_insert(q->app->store, &nt);
	if (!rc && split)
		rc = pp_store_msg_set_thread(q->app->store, m.id, nt.id);
	if (!rc && !split)
		rc = pp_store_msg_thread_update(q->app->store, t.id, 0, target.id, 0);
	if (!rc)
		rc = pp_store_msg_event_insert(q->app->store, &e);
	if (rc) {
		pp_store_rollback(q->app->store);
		goto out;
	}
	if (whole)
		snprintf(rid, sizeof rid, "%s", t.pub_id);
	else
		snprintf(rid, sizeof rid, "%s/%s->%s", t.pub_id, m.pub_id, split ? nt.pub_id : t.pub_id);
	snprintf(detail, sizeof detail, "from-patient:%s;to-patient:%s;%s", pub, to_pub,
	         whole ? "thread" : split ? "message-new-thread" : "message-with-thread");
	if ((rc = finish(q, pp_msg_audit(q, "message.move", to_pub, whole ? "MessageThread" :
	                                 "Message", rid, "success", d.purpose, detail)))) {
		rc = rc == PP_EAUDIT ? PP_OK : rc;
		goto out;
	}
	rc = pp_portal_json(q->r, 200, json_pack("{s:s, s:s, s:s?}", "thread_id",
	                                         split ? nt.pub_id : t.pub_id, "patient_id", to_pub,
	                                         "message_id", whole ? NULL : m.pub_id), false);
out:
	free(ct);
	pp_msg_free_text(subject);
	json_decref(in);
	pp_store_resource_clear(&target);
	pp_store_msg_clear(&m);
	pp_store_msg_thread_clear(&t);
	pp_store_msg_thread_clear(&nt);
	return rc;
}

static int h_move_message(void *vapp, pp_http_request *r)
{
	pp_msg_req q;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	return do_move(&q, false);
}

static int h_move_thread(void *vapp, pp_http_request *r)
{
	pp_msg_req q;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	return do_move(&q, true);
}

int pp_msg_write_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/threads", h_create, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/threads/:id/messages", h_reply, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/threads/:id/read", h_mark_read, NULL);
	rc |= pp_http_route(srv, "PUT", "/api/v1/messages/threads/:id/draft", h_draft_put, NULL);
	rc |= pp_http_route(srv, "DELETE", "/api/v1/messages/threads/:id/draft", h_draft_delete, NULL);
	rc |= pp_http_route(srv, "DELETE", "/api/v1/messages/:mid", h_delete, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/threads/:id/reassign", h_reassign, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/threads/:id/move", h_move_thread, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/:mid/move", h_move_message, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
