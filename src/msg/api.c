/* msg: the shared request path and the read side of the messaging API — pools with the emergency
 * disclaimer and turnaround, the compose choices (the patient's active medications and lab
 * results), the inbox, one thread (JSON or FHIR Communications), unread counts and search. */
#include "msg/msg_internal.h"

#include "files/files.h"

#include <string.h>

#include "notify/notify.h"

/* the caller acts for patient_id (pub) under a proxy grant: the audit records say so */
static void act_for(pp_msg_req *q, int64_t patient_id, const char *pub)
{
	q->proxy = true;
	q->v.patient_id = patient_id;
	snprintf(q->self_pub, sizeof q->self_pub, "%s", pub);
	snprintf(q->p.on_behalf_of, sizeof q->p.on_behalf_of, "patient:%s", pub);
}

/* ?patient=<opaque id> names the record a proxy acts for; policy decides before anything else */
static int choose_patient(pp_msg_req *q, const char *want)
{
	pp_store_resource res;
	pp_policy_decision d;
	int64_t row = 0;
	int rc;

	memset(&res, 0, sizeof res);
	if (pp_msg_id_valid(want)) {
		rc = pp_store_resource_get_pub(q->app->store, "Patient", want, &res);
		if (!rc)
			row = res.id;
		pp_store_resource_clear(&res);
		if (rc && rc != PP_ENOTFOUND)
			return rc;
	}
	if (row > 0 && row == q->p.patient_id)
		return PP_OK;   /* the caller's own record: as without the parameter */
	pp_policy_decide(q->app, &q->p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = row, .resource_type = "MessageThread"}, &d);
	if (d.effect == PP_POLICY_DENY) {
		if (pp_msg_audit(q, "message.access", row ? want : NULL, "MessageThread", NULL,
		                 "denied", d.purpose, row ? d.reason : "not-found"))
			pp_portal_audit_failed(q->r);
		else
			pp_http_error(q->r, 404, "not_found", "No such record");
		return PP_EDENIED;
	}
	act_for(q, row, want);
	return PP_OK;
}

int pp_msg_start(pp_app *app, pp_http_request *r, pp_msg_req *q)
{
	const char *want;
	int rc;

	memset(q, 0, sizeof *q);
	q->app = app;
	q->r = r;
	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &q->s, &q->p))
		return -1;
	q->v.user_id = q->p.user_id;
	if (!strcmp(q->p.role, "patient") || !strcmp(q->p.role, "proxy")) {
		q->patient = true;
		q->v.side = "patient";
		if (q->p.patient_id > 0 && !pp_msg_patient_pub(app, q->p.patient_id, q->self_pub))
			q->v.patient_id = q->p.patient_id;
		else
			q->self_pub[0] = '\0';
		want = pp_http_query(r, "patient");
		if (want && *want && (rc = choose_patient(q, want))) {
			if (rc != PP_EDENIED)
				pp_http_error(r, 500, "internal", "Internal error");
			return -1;
		}
		if (!strcmp(q->p.role, "patient") && q->v.patient_id <= 0) {
			pp_http_error(r, 404, "not_found", "No record is linked to this account");
			return -1;
		}
	} else if (pp_policy_role_staff(q->p.role)) {
		q->v.side = "staff";
	} else {
		pp_http_error(r, 403, "forbidden", "Messaging is not available to this account");
		return -1;
	}
	return 0;
}

int pp_msg_need_patient(pp_msg_req *q)
{
	if (!q->patient || q->v.patient_id > 0)
		return 0;
	pp_http_error(q->r, 400, "patient_required",
	              "Name the record you act for: ?patient=<patient id> (see GET /api/v1/me/proxies)");
	return -1;
}

int pp_msg_audit(pp_msg_req *q, const char *action, const char *patient, const char *rtype,
                 const char *rid, const char *outcome, const char *purpose, const char *detail)
{
	return pp_portal_audit(q->app, &q->p, action, patient && *patient ? patient : NULL, rtype,
	                       rid, outcome, purpose, detail);
}

int pp_msg_patient_pub(pp_app *app, int64_t patient_id, char out[48])
{
	pp_store_resource res;
	int rc;

	out[0] = '\0';
	memset(&res, 0, sizeof res);
	rc = pp_store_resource_get(app->store, patient_id, &res);
	if (!rc && strcmp(res.type, "Patient"))
		rc = PP_ENOTFOUND;
	if (!rc)
		snprintf(out, 48, "%s", res.pub_id);
	pp_store_resource_clear(&res);
	return rc;
}

void pp_msg_new_pub(char out[PP_STORE_MSG_PUB_LEN])
{
	uint8_t b[16];

	if (pp_random(b, sizeof b))
		pp_fatal("msg: no randomness");
	pp_hex_encode(b, sizeof b, out);
	pp_wipe(b, sizeof b);
}

int pp_msg_seal_text(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const char *text, uint8_t **ct, size_t *len)
{
	return pp_crypto_seal(app->crypto, table, column, rowid, text ? text : "",
	                      text ? strlen(text) : 0, ct, len);
}

int pp_msg_seal_json(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const json_t *v, uint8_t **ct, size_t *len)
{
	char *text = json_dumps(v, JSON_COMPACT);
	int rc;

	if (!text)
		return PP_ENOMEM;
	rc = pp_crypto_seal(app->crypto, table, column, rowid, text, strlen(text), ct, len);
	pp_wipe(text, strlen(text));
	free(text);
	return rc;
}

int pp_msg_open_text(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const uint8_t *ct, size_t len, char **text)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int rc;

	*text = NULL;
	if ((rc = pp_crypto_unseal(app->crypto, table, column, rowid, ct, len, &pt, &ptlen)))
		return rc;
	*text = (char *)pt;
	return PP_OK;
}

void pp_msg_free_text(char *text)
{
	if (text)
		pp_crypto_free_plain(text, strlen(text));
}

int pp_msg_open_json(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const uint8_t *ct, size_t len, json_t **out)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int rc;

	*out = NULL;
	if ((rc = pp_crypto_unseal(app->crypto, table, column, rowid, ct, len, &pt, &ptlen)))
		return rc;
	*out = json_loadb((const char *)pt, ptlen, 0, NULL);
	pp_crypto_free_plain(pt, ptlen);
	return *out ? PP_OK : PP_ECRYPTO;
}

int pp_msg_json_text(const json_t *obj, const char *key, size_t max, bool required, bool multiline,
                     const char **out)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? PP_EINVAL : PP_OK;
	if (!json_is_string(v))
		return PP_EINVAL;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > max || strlen(s) != n || (required && n == 0))
		return PP_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) || c == 0x7f)
			return PP_EINVAL;
	}
	*out = s;
	return PP_OK;
}

json_t *pp_msg_time_json(int64_t ms)
{
	char iso[32];

	if (ms <= 0)
		return json_null();
	pp_clock_format_iso(ms, iso);
	return json_string(iso);
}

int pp_msg_thread_access(pp_msg_req *q, const char *pub, int64_t thread_row,
                         enum pp_policy_action act, const char *action, const char *rid,
                         pp_store_msg_thread *t, pp_policy_decision *d, char patient_pub[48])
{
	int rc = PP_ENOTFOUND;

	memset(t, 0, sizeof *t);
	patient_pub[0] = '\0';
	if (thread_row > 0)
		rc = pp_store_msg_thread_get(q->app->store, thread_row, t);
	else if (pub && pp_msg_id_valid(pub))
		rc = pp_store_msg_thread_get_pub(q->app->store, pub, t);
	if (rc && rc != PP_ENOTFOUND)
		return rc;   /* a store failure: nothing was reached, the server answers 500 */
	pp_policy_decide(q->app, &q->p, act,
	                &(pp_policy_target){.patient_id = rc ? 0 : t->patient_id,
	                                    .resource_type = "MessageThread",
	                                    .pool_id = rc ? 0 : t->pool_id}, d);
	if (!rc)
		pp_msg_patient_pub(q->app, t->patient_id, patient_pub);
	/* the patient side reaches the thread as its patient or as a proxy for them (policy said
	 * which): the viewer follows the thread's record */
	if (!rc && d->effect != PP_POLICY_DENY && q->patient) {
		if (!strcmp(d->reason, "proxy")) {
			act_for(q, t->patient_id, patient_pub);
		} else {
			q->proxy = false;
			q->p.on_behalf_of[0] = '\0';
			q->v.patient_id = t->patient_id;
			snprintf(q->self_pub, sizeof q->self_pub, "%s", patient_pub);
		}
	}
	if (rc || d->effect == PP_POLICY_DENY) {
		const char *why = rc ? "not-found" : d->reason;
		pp_store_msg_thread_clear(t);
		if (pp_msg_audit(q, action, patient_pub, "MessageThread",
		                 rid ? rid : pub && pp_msg_id_valid(pub) ? pub : "invalid", "denied",
		                 d->purpose, why))
			pp_portal_audit_failed(q->r);
		else
			pp_http_error(q->r, 404, "not_found", "No such conversation");
		return PP_EDENIED;
	}
	return PP_OK;
}

/* "patient" / "staff": which side of a thread the caller is on for this message */
static bool mine(pp_msg_req *q, const pp_store_msg *m)
{
	return m->author_id == q->p.user_id;
}

typedef struct att_ctx {
	pp_msg_req *q;
	json_t *arr;
} att_ctx;

/* an attachment as the thread shows it: id (for GET /api/v1/files/:id), type, size, name */
static int add_attachment(void *ctx, const char *file_id)
{
	att_ctx *a = ctx;
	pp_files_info info;
	char *name = NULL;
	json_t *o;

	if (!a->q->app->files || pp_files_get(a->q->app->files, file_id, &info) ||
	    !strcmp(info.status, "shredded"))
		return 0;   /* shredded by retention, or not found: nothing to show */
	pp_files_name(a->q->app->files, &info, &name);
	o = json_pack("{s:s, s:s, s:I, s:s?}", "id", info.id, "type", info.mime, "size",
	              (json_int_t)info.size, "name", name);
	if (name)
		pp_crypto_free_plain(name, strlen(name));
	return o && !json_array_append_new(a->arr, o) ? 0 : PP_ENOMEM;
}

static void patient_name(pp_app *app, int64_t patient_id, char *out, size_t cap);

/* A patient-side message written by someone acting for the patient (a proxy): {"role":"proxy",
 * "name": their account name, "for": the patient's name}, so that everyone sees "X for Y"; NULL
 * for the patient's own messages and the care team's. */
static json_t *proxy_author(pp_app *app, const pp_store_msg *m)
{
	pp_store_user u;
	uint8_t *name = NULL;
	size_t len = 0;
	char who[160];
	json_t *o = NULL;

	if (strcmp(m->side, "patient") || m->author_id <= 0 || m->thread_patient_id <= 0)
		return NULL;
	memset(&u, 0, sizeof u);
	if (pp_store_user_get(app->store, m->author_id, &u) != PP_OK ||
	    (!strcmp(u.role, "patient") && u.patient_id == m->thread_patient_id))
		goto out;
	if (pp_crypto_unseal(app->crypto, "user_account", "username", u.id, u.username_enc,
	                     u.username_enc_len, &name, &len) != PP_OK)
		name = NULL;
	patient_name(app, m->thread_patient_id, who, sizeof who);
	o = json_pack("{s:s, s:s%, s:s}", "role", "proxy", "name",
	              name ? (const char *)name : "Someone acting for the patient",
	              name ? len : strlen("Someone acting for the patient"), "for", who);
out:
	if (name)
		pp_crypto_free_plain(name, len);
	pp_store_user_clear(&u);
	return o;
}

json_t *pp_msg_message_json(pp_msg_req *q, const pp_store_msg *m, const json_t *content,
                            const char *in_reply_to_pub)
{
	const json_t *fields = json_object_get(content, "fields");
	json_t *atts = json_array(), *o;
	char item[700];

	pp_msg_item_text(m->kind, fields, item, sizeof item);
	/* attachments: file ids from files/ (the download route belongs to files/) */
	if (atts && pp_store_msg_attachment_each(q->app->store, m->id, add_attachment,
	                                         &(att_ctx){.q = q, .arr = atts})) {
		json_decref(atts);
		return NULL;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:s?, s:o, s:{s:o, s:o}, s:s?, s:o}",
	                 "id", m->pub_id, "thread_id", m->thread_pub, "kind", m->kind, "side",
	                 m->side, "mine", mine(q, m), "body",
	                 json_string_value(json_object_get(content, "body")) ?
	                 json_string_value(json_object_get(content, "body")) : "",
	                 "fields", json_is_object(fields) ? json_deep_copy(fields) : json_object(),
	                 "item", item[0] ? item : NULL, "sent", pp_msg_time_json(m->created_ms),
	                 "read", "patient", pp_msg_time_json(m->patient_read_ms), "staff",
	                 pp_msg_time_json(m->staff_read_ms), "in_reply_to", in_reply_to_pub,
	                 "attachments", atts);
	if (o) {
		json_t *by = proxy_author(q->app, m);
		if (by)
			json_object_set_new(o, "author", by);
	}
	return o;
}

json_t *pp_msg_thread_json(pp_msg_req *q, const pp_store_msg_thread *t, const char *subject,
                           const char *patient_pub)
{
	pp_store_pool pool;
	bool have_pool = pp_store_pool_get(q->app->store, t->pool_id, &pool) == PP_OK;

	return json_pack("{s:s, s:s, s:s, s:{s:I, s:s}, s:s, s:o, s:o, s:i, s:i}", "id", t->pub_id,
	                 "subject", subject ? subject : "", "kind", t->kind, "pool", "id",
	                 (json_int_t)t->pool_id, "name", have_pool ? pool.name : "",
	                 "patient_id", patient_pub ? patient_pub : "", "created",
	                 pp_msg_time_json(t->created_ms), "updated", pp_msg_time_json(t->updated_ms),
	                 "unread", t->unread, "messages", t->visible);
}

/* a pool member's user id (collected first: queueing runs its own statements) */
typedef struct ids_ctx {
	int64_t ids[256];
	size_t n;
} ids_ctx;

static int collect_user(void *vctx, int64_t user_id)
{
	ids_ctx *x = vctx;

	if (x->n < sizeof x->ids / sizeof x->ids[0])
		x->ids[x->n++] = user_id;
	return 0;
}

/* A thread a proxy started: the proxy is told too, while policy still lets them read it (a
 * revoked, expired or out-of-scope grant gets nothing). */
static void notify_proxy(pp_msg_req *q, const pp_store_msg_thread *t)
{
	pp_store_user u;
	pp_principal p;
	pp_policy_decision d;

	memset(&u, 0, sizeof u);
	memset(&p, 0, sizeof p);
	if (t->created_by <= 0 || t->created_by == q->p.user_id ||
	    pp_store_user_get(q->app->store, t->created_by, &u) != PP_OK)
		goto out;
	if ((strcmp(u.role, "patient") && strcmp(u.role, "proxy")) ||
	    (!strcmp(u.role, "patient") && u.patient_id == t->patient_id) || strcmp(u.status, "active"))
		goto out;   /* the patient's own accounts are told by pp_notify_enqueue_patient */
	p.user_id = u.id;
	p.patient_id = u.patient_id;
	snprintf(p.role, sizeof p.role, "%s", u.role);
	snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)u.id);
	pp_policy_decide(q->app, &p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = t->patient_id,
	                                    .resource_type = "MessageThread", .pool_id = t->pool_id},
	                &d);
	if (d.effect != PP_POLICY_DENY)
		pp_notify_enqueue(q->app->notify, u.id, PP_NOTIFY_EVENT_MESSAGE);
out:
	pp_store_user_clear(&u);
}

void pp_msg_notify(pp_msg_req *q, const pp_store_msg_thread *t, const char *to_side)
{
	ids_ctx x = {.n = 0};
	int rc = 0;

	/* the notice says only that something is waiting (notify/ keeps it PHI-free); a failure to
	 * queue it is logged there and never fails the message, which is already stored */
	if (!q->app->notify)
		return;
	if (!strcmp(to_side, "patient")) {
		rc = pp_notify_enqueue_patient(q->app->notify, t->patient_id, PP_NOTIFY_EVENT_MESSAGE,
		                               NULL);
		notify_proxy(q, t);
	} else if (!(rc = pp_store_msg_pool_members(q->app->store, t->pool_id, collect_user, &x))) {
		for (size_t i = 0; i < x.n; i++)
			if (x.ids[i] != q->p.user_id)
				pp_notify_enqueue(q->app->notify, x.ids[i], PP_NOTIFY_EVENT_MESSAGE);
	}
	if (rc)
		pp_log_warn("msg: notices not queued for request %s (%s)", q->p.request_id,
		            pp_strerror(rc));
}

/* ---- GET /messages/pools ---- */
typedef struct pools_ctx {
	pp_msg_req *q;
	json_t *list;
} pools_ctx;

static int add_pool(void *vctx, const pp_store_pool *p)
{
	pools_ctx *x = vctx;
	int member = 0;

	if (!x->q->patient)
		pp_store_pool_is_member(x->q->app->store, p->id, x->q->p.user_id, &member);
	return json_array_append_new(x->list, json_pack("{s:I, s:s, s:s, s:s, s:b}", "id",
	                             (json_int_t)p->id, "name", p->name, "kind", p->kind, "turnaround",
	                             p->turnaround, "member", member)) ? PP_ENOMEM : 0;
}

static int h_pools(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pools_ctx x;
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	x.q = &q;
	if (!(x.list = json_array()))
		return PP_ENOMEM;
	if ((rc = pp_store_pool_each(q.app->store, 0, add_pool, &x))) {
		json_decref(x.list);
		return rc;
	}
	/* pools and their turnaround are not PHI: no audit record */
	return pp_portal_json(r, 200, json_pack("{s:s, s:o}", "disclaimer", PP_MSG_DISCLAIMER,
	                                        "pools", x.list), false);
}

/* ---- GET /messages/choices: what a patient can link in a refill request or a result question */
static const char *jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *concept_text(const json_t *cc)
{
	const char *t = jstr(cc, "text");

	return t ? t : jstr(json_array_get(json_object_get(cc, "coding"), 0), "display");
}

typedef struct choices_ctx {
	pp_app *app;
	const pp_policy_decision *d;  /* what a proxy's decision leaves out (sensitive categories) */
	json_t *meds, *results;
	int rc;
} choices_ctx;

static int add_med(void *vctx, const pp_store_resource *row)
{
	choices_ctx *x = vctx;
	json_t *res = NULL;
	const char *text;

	if ((x->rc = pp_fhir_resource_load(x->app->crypto, row, &res)))
		return x->rc;
	if (!pp_policy_visible(x->app, x->d, res)) {
		json_decref(res);
		return 0;
	}
	text = concept_text(json_object_get(res, "medicationCodeableConcept"));
	if (!text)
		text = jstr(json_object_get(res, "medicationReference"), "display");
	if (jstr(res, "status") && !strcmp(jstr(res, "status"), "active"))
		json_array_append_new(x->meds, json_pack("{s:s, s:s, s:s?}", "id", row->pub_id, "text",
		                      text ? text : "Medication", "authored_on",
		                      jstr(res, "authoredOn")));
	json_decref(res);
	return 0;
}

json_t *pp_msg_result_json(const char *pub, const json_t *res)
{
	const json_t *cats = json_object_get(res, "category"), *cat, *q;
	bool lab = false;
	size_t i;
	char value[64] = "", date[11] = "";
	const char *eff = jstr(res, "effectiveDateTime");

	json_array_foreach(cats, i, cat) {
		const json_t *coding = json_object_get(cat, "coding"), *c;
		size_t k;
		json_array_foreach(coding, k, c)
			if (jstr(c, "code") && !strcmp(jstr(c, "code"), "laboratory"))
				lab = true;
	}
	if (!lab)
		return NULL;
	q = json_object_get(res, "valueQuantity");
	if (json_is_number(json_object_get(q, "value")))
		snprintf(value, sizeof value, "%g", json_number_value(json_object_get(q, "value")));
	else if (jstr(res, "valueString"))
		snprintf(value, sizeof value, "%s", jstr(res, "valueString"));
	else if (concept_text(json_object_get(res, "valueCodeableConcept")))
		snprintf(value, sizeof value, "%s",
		         concept_text(json_object_get(res, "valueCodeableConcept")));
	if (eff)
		snprintf(date, sizeof date, "%s", eff);
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "id", pub, "text",
	                 concept_text(json_object_get(res, "code")) ?
	                 concept_text(json_object_get(res, "code")) : "Result",
	                 "value", value[0] ? value : NULL, "unit",
	                 q ? (jstr(q, "unit") ? jstr(q, "unit") : jstr(q, "code")) : NULL,
	                 "date", date[0] ? date : NULL);
}

static int add_result(void *vctx, const pp_store_resource *row)
{
	choices_ctx *x = vctx;
	json_t *res = NULL, *item;

	if ((x->rc = pp_fhir_resource_load(x->app->crypto, row, &res)))
		return x->rc;
	if (pp_policy_visible(x->app, x->d, res) && (item = pp_msg_result_json(row->pub_id, res)))
		json_array_append_new(x->results, item);
	json_decref(res);
	return 0;
}

static int by_date_desc(const void *a, const void *b)
{
	const char *da = jstr(*(json_t *const *)a, "date"), *db = jstr(*(json_t *const *)b, "date");

	return strcmp(db ? db : "", da ? da : "");
}

static json_t *newest(json_t *list, size_t keep)
{
	size_t n = json_array_size(list);
	json_t **v = n ? calloc(n, sizeof *v) : NULL, *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(list, i);
	if (v)
		qsort(v, n, sizeof *v, by_date_desc);
	for (size_t i = 0; v && out && i < n && i < keep; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(list);
	return out;
}

static int h_choices(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	choices_ctx x = {.app = vapp};
	pp_policy_decision d;
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (!q.patient)
		return pp_http_error(r, 403, "patients_only", "Only patients compose requests");
	if (pp_msg_need_patient(&q))
		return 0;
	pp_policy_decide(q.app, &q.p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = q.v.patient_id,
	                                    .resource_type = "MedicationRequest"}, &d);
	if (d.effect == PP_POLICY_DENY) {
		if (pp_msg_audit(&q, "message.choices", q.self_pub, "MedicationRequest,Observation",
		                 q.self_pub, "denied", d.purpose, d.reason))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No such record");
	}
	x.d = &d;
	x.meds = json_array();
	x.results = json_array();
	rc = pp_store_resource_each_for_patient(q.app->store, q.v.patient_id, "MedicationRequest",
	                                        add_med, &x);
	if (!rc)
		rc = pp_store_resource_each_for_patient(q.app->store, q.v.patient_id, "Observation",
		                                        add_result, &x);
	if (rc) {
		json_decref(x.meds);
		json_decref(x.results);
		pp_msg_audit(&q, "message.choices", q.self_pub, "MedicationRequest,Observation",
		             q.self_pub, "failure", d.purpose, pp_strerror(rc));
		return rc;
	}
	x.results = newest(x.results, 50);
	if (pp_msg_audit(&q, "message.choices", q.self_pub, "MedicationRequest,Observation",
	                 q.self_pub, "success", d.purpose, d.reason)) {
		json_decref(x.meds);
		json_decref(x.results);
		return pp_portal_audit_failed(r);
	}
	return pp_portal_json(r, 200, json_pack("{s:o, s:o}", "medications", x.meds, "results",
	                                        x.results), true);
}

/* ---- GET /messages/threads: the caller's inbox ---- */
typedef struct inbox_ctx {
	pp_store_msg_thread *rows;
	size_t n, cap;
} inbox_ctx;

static int collect_thread(void *vctx, const pp_store_msg_thread *t)
{
	inbox_ctx *x = vctx;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		pp_store_msg_thread *nr = realloc(x->rows, cap * sizeof *nr);
		if (!nr)
			return PP_ENOMEM;
		x->rows = nr;
		x->cap = cap;
	}
	x->rows[x->n] = *t;
	x->rows[x->n].subject_enc = NULL;   /* the caller's copy is freed by the store */
	if (t->subject_enc_len && !(x->rows[x->n].subject_enc = malloc(t->subject_enc_len)))
		return PP_ENOMEM;
	if (t->subject_enc_len)
		memcpy(x->rows[x->n].subject_enc, t->subject_enc, t->subject_enc_len);
	x->n++;
	return 0;
}

static void inbox_free(inbox_ctx *x)
{
	for (size_t i = 0; i < x->n; i++)
		pp_store_msg_thread_clear(&x->rows[i]);
	free(x->rows);
}

typedef struct first_ctx {
	pp_msg_req *q;
	json_t *item;
	int rc;
} first_ctx;

static int first_item(void *vctx, const pp_store_msg *m)
{
	first_ctx *x = vctx;
	json_t *content = NULL;
	char text[700];

	if ((x->rc = pp_msg_open_json(x->q->app, "msg_message", "content", m->id, m->content_enc,
	                              m->content_enc_len, &content)))
		return x->rc;
	pp_msg_item_text(m->kind, json_object_get(content, "fields"), text, sizeof text);
	x->item = json_pack("{s:s, s:o, s:s?}", "kind", m->kind, "fields",
	                    json_is_object(json_object_get(content, "fields")) ?
	                    json_deep_copy(json_object_get(content, "fields")) : json_object(),
	                    "text", text[0] ? text : NULL);
	json_decref(content);
	return 1;   /* the first one is enough */
}

/* a patient's display name for the staff inbox ("" when it cannot be read) */
static void patient_name(pp_app *app, int64_t patient_id, char *out, size_t cap)
{
	pp_store_resource res;
	json_t *p = NULL, *name;
	const char *family, *given;

	out[0] = '\0';
	memset(&res, 0, sizeof res);
	if (pp_store_resource_get(app->store, patient_id, &res) == PP_OK &&
	    pp_fhir_resource_load(app->crypto, &res, &p) == PP_OK) {
		name = json_array_get(json_object_get(p, "name"), 0);
		family = jstr(name, "family");
		given = json_string_value(json_array_get(json_object_get(name, "given"), 0));
		if (jstr(name, "text"))
			snprintf(out, cap, "%s", jstr(name, "text"));
		else
			snprintf(out, cap, "%s%s%s", given ? given : "", given && family ? " " : "",
			         family ? family : "");
	}
	json_decref(p);
	pp_store_resource_clear(&res);
}

static void append_id(pp_buf *b, const char *id)
{
	if (strstr(pp_buf_cstr(b), id))
		return;
	if (b->len)
		pp_buf_appends(b, ",");
	pp_buf_appends(b, id);
}

static int h_inbox(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	inbox_ctx x = {0};
	json_t *list = NULL;
	pp_buf ids, pats;
	int64_t unread = 0;
	int rc;
	const char *purpose = NULL;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (pp_msg_need_patient(&q))
		return 0;
	pp_buf_init(&ids, 64 * 1024);
	pp_buf_init(&pats, 64 * 1024);
	if ((rc = pp_store_msg_thread_each(q.app->store, &q.v, PP_MSG_INBOX_MAX, collect_thread, &x)) ||
	    (rc = pp_store_msg_unread_count(q.app->store, &q.v, &unread)))
		goto out;
	if (!(list = json_array())) {
		rc = PP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < x.n; i++) {
		pp_store_msg_thread *t = &x.rows[i];
		pp_policy_decision d;
		char pub[48], *subject = NULL, name[160];
		first_ctx f = {.q = &q};
		json_t *tj;

		pp_policy_decide(q.app, &q.p, PP_POLICY_READ,
		                &(pp_policy_target){.patient_id = t->patient_id,
		                                    .resource_type = "MessageThread",
		                                    .pool_id = t->pool_id}, &d);
		if (d.effect == PP_POLICY_DENY)
			continue;
		purpose = d.purpose;
		if ((rc = pp_msg_patient_pub(q.app, t->patient_id, pub)) ||
		    (rc = pp_msg_open_text(q.app, "msg_thread", "subject", t->id, t->subject_enc,
		                           t->subject_enc_len, &subject)))
			goto out;
		rc = pp_store_msg_each_in_thread(q.app->store, t->id, q.p.user_id, first_item, &f);
		if (rc < 0 || f.rc) {
			pp_msg_free_text(subject);
			rc = rc < 0 ? rc : f.rc;
			goto out;
		}
		tj = pp_msg_thread_json(&q, t, subject, pub);
		pp_msg_free_text(subject);
		if (!tj) {
			json_decref(f.item);
			rc = PP_ENOMEM;
			goto out;
		}
		json_object_set_new(tj, "item", f.item ? f.item : json_null());
		if (!q.patient) {
			patient_name(q.app, t->patient_id, name, sizeof name);
			json_object_set_new(tj, "patient_name", json_string(name));
		}
		json_array_append_new(list, tj);
		append_id(&ids, t->pub_id);
		append_id(&pats, pub);
	}
	rc = 0;
	if (pp_msg_audit(&q, "message.list", q.patient ? q.self_pub : pp_buf_cstr(&pats),
	                 "MessageThread", pp_buf_cstr(&ids), "success",
	                 purpose ? purpose : q.patient ? "patient-access" : "treatment",
	                 q.patient ? (q.proxy ? "proxy" : "own-record") : "pool-member")) {
		pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 200, json_pack("{s:o, s:I}", "threads", list, "unread",
	                                      (json_int_t)unread), true);
	list = NULL;
out:
	if (rc && rc != PP_EAUDIT)
		pp_msg_audit(&q, "message.list", q.patient ? q.self_pub : NULL, "MessageThread", NULL,
		             "failure", NULL, pp_strerror(rc));
	json_decref(list);
	inbox_free(&x);
	pp_buf_free(&ids);
	pp_buf_free(&pats);
	return rc;
}

/* ---- GET /messages/threads/:id[?format=fhir] ---- */
typedef struct thread_ctx {
	pp_msg_req *q;
	const pp_store_msg_thread *t;
	const char *subject, *patient_pub, *pool_name;
	bool fhir;
	json_t *list;
	struct { int64_t id; char pub[PP_STORE_MSG_PUB_LEN]; } *seen;
	size_t n;
	int rc;
} thread_ctx;

#define THREAD_MESSAGES_MAX 2000

static int add_message(void *vctx, const pp_store_msg *m)
{
	thread_ctx *x = vctx;
	json_t *content = NULL, *o = NULL;
	const char *reply = NULL;

	if (x->n >= THREAD_MESSAGES_MAX)
		return 1;
	for (size_t i = 0; m->in_reply_to && i < x->n; i++)
		if (x->seen[i].id == m->in_reply_to)
			reply = x->seen[i].pub;
	if ((x->rc = pp_msg_open_json(x->q->app, "msg_message", "content", m->id, m->content_enc,
	                              m->content_enc_len, &content)))
		return x->rc;
	if (x->fhir) {
		pp_msg_view v = {
			.id = m->pub_id, .thread_id = m->thread_pub, .patient_id = x->patient_pub,
			.side = m->side, .kind = m->kind, .subject = x->subject,
			.body = jstr(content, "body"), .fields = json_object_get(content, "fields"),
			.pool_name = x->pool_name, .sent_ms = m->created_ms,
			.received_ms = !strcmp(m->side, "patient") ? m->staff_read_ms : m->patient_read_ms,
			.in_reply_to = reply,
		};
		if (!(x->rc = pp_msg_communication(&v, &o)))
			o = json_pack("{s:o}", "resource", o);
	} else {
		o = pp_msg_message_json(x->q, m, content, reply);
	}
	json_decref(content);
	if (x->rc || !o || json_array_append_new(x->list, o))
		return x->rc ? x->rc : (x->rc = PP_ENOMEM);
	x->seen[x->n].id = m->id;
	snprintf(x->seen[x->n].pub, sizeof x->seen[x->n].pub, "%s", m->pub_id);
	x->n++;
	return 0;
}

static int h_thread(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	pp_store_msg_thread t;
	pp_policy_decision d;
	pp_store_pool pool;
	char pub[48], *subject = NULL, detail[48];
	thread_ctx x = {0};
	const char *format = pp_http_query(r, "format");
	json_t *out = NULL, *draft = json_null();
	uint8_t *denc = NULL;
	size_t dlen = 0;
	int64_t did = 0, dms = 0;
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (format && strcmp(format, "fhir"))
		return pp_http_error(r, 400, "invalid_format", "format may only be fhir");
	if ((rc = pp_msg_thread_access(&q, pp_http_param(r, "id"), 0, PP_POLICY_READ,
	                               "message.read", NULL, &t, &d, pub)))
		return rc == PP_EDENIED ? 0 : rc;
	memset(&pool, 0, sizeof pool);
	pp_store_pool_get(q.app->store, t.pool_id, &pool);
	x.q = &q;
	x.t = &t;
	x.patient_pub = pub;
	x.pool_name = pool.name;
	x.fhir = format != NULL;
	if (!(x.seen = calloc(THREAD_MESSAGES_MAX, sizeof *x.seen)) || !(x.list = json_array())) {
		rc = PP_ENOMEM;
		goto out;
	}
	if ((rc = pp_msg_open_text(q.app, "msg_thread", "subject", t.id, t.subject_enc,
	                           t.subject_enc_len, &subject)))
		goto out;
	x.subject = subject;
	rc = pp_store_msg_each_in_thread(q.app->store, t.id, q.p.user_id, add_message, &x);
	if (rc < 0 || x.rc) {
		rc = rc < 0 ? rc : x.rc;
		goto out;
	}
	rc = pp_store_msg_draft_get(q.app->store, t.id, q.p.user_id, &did, &denc, &dlen, &dms);
	if (rc == PP_OK) {
		json_t *dj = NULL;
		if ((rc = pp_msg_open_json(q.app, "msg_draft", "content", did, denc, dlen, &dj)))
			goto out;
		json_decref(draft);
		draft = json_pack("{s:O, s:o}", "body", json_object_get(dj, "body"), "saved",
		                  pp_msg_time_json(dms));
		json_decref(dj);
	} else if (rc != PP_ENOTFOUND) {
		goto out;
	}
	rc = 0;
	if (x.fhir)
		out = json_pack("{s:s, s:s, s:O}", "resourceType", "Bundle", "type", "collection",
		                "entry", x.list);
	else if ((out = pp_msg_thread_json(&q, &t, subject, pub))) {
		json_object_set(out, "messages", x.list);
		json_object_set(out, "draft", draft);
		json_object_set_new(out, "turnaround", json_string(pool.turnaround));
	}
	if (!out) {
		rc = PP_ENOMEM;
		goto out;
	}
	snprintf(detail, sizeof detail, "%s;messages:%zu", d.reason, x.n);
	if (pp_msg_audit(&q, "message.read", pub, "MessageThread", t.pub_id, "success", d.purpose,
	                 detail)) {
		json_decref(out);
		out = NULL;
		pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 200, out, true);
out:
	if (rc && rc != PP_EAUDIT)
		pp_msg_audit(&q, "message.read", pub, "MessageThread", t.pub_id, "failure", d.purpose,
		             pp_strerror(rc));
	json_decref(x.list);
	json_decref(draft);
	free(x.seen);
	free(denc);
	pp_msg_free_text(subject);
	pp_store_msg_thread_clear(&t);
	return rc;
}

/* ---- GET /messages/unread: the badge. A count of the caller's own unread messages carries no
 * content and no one else's data; it is polled, so it is not an audit event. ---- */
static int h_unread(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	int64_t n = 0;
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (pp_msg_need_patient(&q))
		return 0;
	if ((rc = pp_store_msg_unread_count(q.app->store, &q.v, &n)))
		return rc;
	return pp_portal_json(r, 200, json_pack("{s:I}", "unread", (json_int_t)n), false);
}

/* ---- POST /messages/search {"q"}: decrypts the caller's newest messages in memory (bounded)
 * and matches there; the query travels in the body, never in a URL, and is never logged. ---- */
typedef struct search_ctx {
	pp_msg_req *q;
	const char *needle;
	json_t *hits;
	pp_buf ids;
	int scanned;
	int rc;
	const char *purpose;
} search_ctx;

/* the first case-insensitive (ASCII) occurrence of needle in text, or -1 */
static long find_ci(const char *text, const char *needle)
{
	size_t n = strlen(needle);

	for (const char *p = text; *p; p++) {
		size_t i = 0;
		while (i < n && p[i] && (p[i] | 0x20) == (needle[i] | 0x20) &&
		       ((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || p[i] == needle[i]))
			i++;
		if (i == n)
			return p - text;
	}
	return -1;
}

static void snippet(const char *text, const char *needle, char *out, size_t cap)
{
	size_t n = strlen(needle), len = strlen(text), at, start, end;
	long found = find_ci(text, needle);

	at = found < 0 ? 0 : (size_t)found;
	start = at > 60 ? at - 60 : 0;
	end = at + n + 60 < len ? at + n + 60 : len;
	while (start > 0 && ((unsigned char)text[start] & 0xc0) == 0x80)   /* UTF-8 boundary */
		start--;
	while (end < len && ((unsigned char)text[end] & 0xc0) == 0x80)
		end++;
	snprintf(out, cap, "%s%.*s%s", start ? "\u2026" : "", (int)(end - start), text + start,
	         end < len ? "\u2026" : "");
}

static int search_one(void *vctx, const pp_store_msg *m)
{
	search_ctx *x = vctx;
	pp_policy_decision d;
	pp_store_msg_thread t;
	json_t *content = NULL;
	char *subject = NULL, snip[400] = "";
	const char *body;
	bool hit;

	x->scanned++;
	pp_policy_decide(x->q->app, &x->q->p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = m->thread_patient_id,
	                                    .resource_type = "MessageThread",
	                                    .pool_id = m->thread_pool_id}, &d);
	if (d.effect == PP_POLICY_DENY)
		return 0;
	x->purpose = d.purpose;
	if ((x->rc = pp_msg_open_json(x->q->app, "msg_message", "content", m->id, m->content_enc,
	                              m->content_enc_len, &content)) ||
	    (x->rc = pp_store_msg_thread_get(x->q->app->store, m->thread_id, &t)))
		goto out;
	x->rc = pp_msg_open_text(x->q->app, "msg_thread", "subject", t.id, t.subject_enc,
	                         t.subject_enc_len, &subject);
	pp_store_msg_thread_clear(&t);
	if (x->rc)
		goto out;
	body = jstr(content, "body");
	hit = (body && pp_msg_text_contains(body, x->needle)) ||
	      pp_msg_text_contains(subject, x->needle);
	if (!hit) {
		char item[700];
		pp_msg_item_text(m->kind, json_object_get(content, "fields"), item, sizeof item);
		if ((hit = pp_msg_text_contains(item, x->needle)))
			snippet(item, x->needle, snip, sizeof snip);
	} else if (body && pp_msg_text_contains(body, x->needle)) {
		snippet(body, x->needle, snip, sizeof snip);
	}
	if (hit) {
		json_array_append_new(x->hits, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
		                      "thread_id", m->thread_pub, "message_id", m->pub_id, "subject",
		                      subject, "kind", m->kind, "snippet", snip, "sent",
		                      pp_msg_time_json(m->created_ms)));
		if (x->ids.len)
			pp_buf_appends(&x->ids, ",");
		pp_buf_appends(&x->ids, m->pub_id);
	}
out:
	json_decref(content);
	pp_msg_free_text(subject);
	if (x->rc)
		return x->rc;
	return json_array_size(x->hits) >= PP_MSG_SEARCH_RESULTS_MAX ? 1 : 0;
}

static int h_search(void *vapp, pp_http_request *r)
{
	pp_msg_req q;
	json_t *body = NULL;
	search_ctx x = {0};
	const char *needle = NULL;
	char detail[64];
	int rc;

	if (pp_msg_start(vapp, r, &q))
		return 0;
	if (pp_msg_need_patient(&q))
		return 0;
	pp_portal_body_json(q.app, r, &body);
	if (!body)
		return 0;
	if (pp_msg_json_text(body, "q", PP_MSG_QUERY_MAX, true, false, &needle) ||
	    strlen(needle) < PP_MSG_QUERY_MIN) {
		json_decref(body);
		return pp_http_error(r, 400, "invalid_query", "q must be 2 to 100 characters");
	}
	x.q = &q;
	x.needle = needle;
	x.hits = json_array();
	pp_buf_init(&x.ids, 64 * 1024);
	rc = pp_store_msg_each_visible(q.app->store, &q.v, PP_MSG_SEARCH_SCAN_MAX, search_one, &x);
	if (rc < 0 || x.rc) {
		rc = rc < 0 ? rc : x.rc;
		pp_msg_audit(&q, "message.search", q.patient ? q.self_pub : NULL, "Message", NULL,
		             "failure", NULL, pp_strerror(rc));
		goto out;
	}
	rc = 0;
	snprintf(detail, sizeof detail, "matches:%zu;scanned:%d", json_array_size(x.hits),
	         x.scanned);
	if (pp_msg_audit(&q, "message.search", q.patient ? q.self_pub : NULL, "Message",
	                 x.ids.len ? pp_buf_cstr(&x.ids) : NULL, "success",
	                 x.purpose ? x.purpose : q.patient ? "patient-access" : "treatment", detail)) {
		pp_portal_audit_failed(r);
		goto out;
	}
	rc = pp_portal_json(r, 200, json_pack("{s:O, s:i, s:b}", "results", x.hits, "scanned",
	                                      x.scanned, "complete",
	                                      x.scanned < PP_MSG_SEARCH_SCAN_MAX), true);
out:
	json_decref(x.hits);
	json_decref(body);
	pp_buf_free(&x.ids);
	return rc;
}

int pp_msg_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	rc |= pp_msg_fhir_routes(srv, app);   /* GET /fhir/Communication (fhir_communication.c) */
	rc |= pp_http_route(srv, "GET", "/api/v1/messages/pools", h_pools, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/messages/choices", h_choices, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/messages/threads", h_inbox, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/messages/threads/:id", h_thread, NULL);
	rc |= pp_http_route(srv, "GET", "/api/v1/messages/unread", h_unread, NULL);
	rc |= pp_http_route(srv, "POST", "/api/v1/messages/search", h_search, NULL);
	if (rc)
		return PP_EINVAL;
	return pp_msg_write_routes(srv, app);
}
