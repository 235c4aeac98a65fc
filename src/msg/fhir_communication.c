/* msg: the portal's secure messages as FHIR R4 Communication resources on the /fhir API (this file
 * uses fhir/'s caller, scope, response and audit helpers; it lives in msg/ so that fhir/ does not
 * depend on messaging), for authorized clients
 * (SMART apps and the portal session alike): GET /fhir/Communication?patient=<id>[&_count=N] and
 * GET /fhir/Communication/<id>. Messages live in msg/'s tables, sealed; a message is reached like
 * its conversation — policy/ is asked per thread with the thread's care-team pool (the patient,
 * the pool's staff, proxies within their grant; not the rest of the care team) — and each request
 * is exactly one audit record listing the ids returned. */
#include "fhir/api_internal.h"

#include <stdint.h>
#include <string.h>

#include "msg/msg.h"
#include "store/store_access.h"
#include "store/store_msg.h"

#define COMM_MAX 500   /* messages in one answer */

typedef struct comm_ctx {
	pp_app *app;
	pp_fhir_caller *c;
	const char *patient_pub;
	const char *subject, *pool_name;
	json_t *entries;
	pp_buf ids;
	int n, max, rc;
} comm_ctx;

static char *open_text(pp_app *app, const char *table, const char *col, int64_t id,
                       const uint8_t *ct, size_t len)
{
	uint8_t *pt = NULL;
	size_t n = 0;
	char *out;

	if (pp_crypto_unseal(app->crypto, table, col, id, ct, len, &pt, &n))
		return NULL;
	out = strndup((const char *)pt, n);
	pp_crypto_free_plain(pt, n);
	return out;
}

static int add_one(void *vctx, const pp_store_msg *m)
{
	comm_ctx *x = vctx;
	char *text;
	json_t *content, *res = NULL;

	if (x->n >= x->max)
		return 1;
	if (!(text = open_text(x->app, "msg_message", "content", m->id, m->content_enc,
	                       m->content_enc_len)))
		return x->rc = PP_ECRYPTO;
	content = json_loads(text, 0, NULL);
	pp_wipe(text, strlen(text));
	free(text);
	{
		pp_msg_view v = {
			.id = m->pub_id, .thread_id = m->thread_pub, .patient_id = x->patient_pub,
			.side = m->side, .kind = m->kind, .subject = x->subject,
			.body = json_string_value(json_object_get(content, "body")),
			.fields = json_object_get(content, "fields"), .pool_name = x->pool_name,
			.sent_ms = m->created_ms,
			.received_ms = !strcmp(m->side, "patient") ? m->staff_read_ms : m->patient_read_ms,
		};
		x->rc = pp_msg_communication(&v, &res);
	}
	json_decref(content);
	if (x->rc || !res)
		return x->rc ? x->rc : (x->rc = PP_ENOMEM);
	if (json_array_append_new(x->entries, json_pack("{s:o}", "resource", res)))
		return x->rc = PP_ENOMEM;
	if (x->ids.len)
		pp_buf_appends(&x->ids, ",");
	pp_buf_appends(&x->ids, m->pub_id);
	x->n++;
	return 0;
}

/* one thread's messages into x, when policy lets the caller read the thread */
static int thread_messages(comm_ctx *x, const pp_store_msg_thread *t, const char *only_msg,
                           pp_policy_decision *d)
{
	pp_store_pool pool;
	char *subject;
	int rc;

	pp_policy_decide(x->app, &x->c->p, PP_POLICY_READ,
	                 &(pp_policy_target){.patient_id = t->patient_id,
	                                     .resource_type = "Communication", .pool_id = t->pool_id},
	                 d);
	if (d->effect == PP_POLICY_DENY ||
	    (x->c->restricted && t->patient_id != x->c->restrict_patient))
		return 0;
	memset(&pool, 0, sizeof pool);
	pp_store_pool_get(x->app->store, t->pool_id, &pool);
	if (!(subject = open_text(x->app, "msg_thread", "subject", t->id, t->subject_enc,
	                          t->subject_enc_len)))
		return PP_ECRYPTO;
	x->subject = subject;
	x->pool_name = pool.name;
	if (only_msg) {
		pp_store_msg m;
		if (!(rc = pp_store_msg_get_pub(x->app->store, only_msg, &m)))
			rc = add_one(x, &m);
		pp_store_msg_clear(&m);
	} else {
		rc = pp_store_msg_each_in_thread(x->app->store, t->id,
		                                 x->c->p.user_id > 0 ? x->c->p.user_id : INT64_MAX,
		                                 add_one, x);
	}
	free(subject);
	x->subject = NULL;
	return rc < 0 ? rc : x->rc;
}

typedef struct threads {
	comm_ctx *x;
	pp_policy_decision d;
	int allowed;
	int rc;
} threads;

static int each_thread(void *vctx, const pp_store_msg_thread *t)
{
	threads *th = vctx;
	pp_policy_decision d;
	int rc = thread_messages(th->x, t, NULL, &d);

	if (d.effect != PP_POLICY_DENY) {
		th->allowed++;
		th->d = d;
	}
	return rc ? (th->rc = rc) : th->x->n >= th->x->max;
}

static int answer(pp_app *app, pp_http_request *r, pp_fhir_caller *c, comm_ctx *x,
                  const char *action, const char *ppub, const char *purpose, const char *reason,
                  bool bundle)
{
	json_t *out;

	/* a proxy's read: "proxy X on behalf of patient Y" in the record */
	if (reason && !strcmp(reason, "proxy") && ppub && *ppub)
		snprintf(c->on_behalf_of, sizeof c->on_behalf_of, "patient:%s", ppub);
	if (pp_fhir_api_audit(app, c, action, ppub, "Communication",
	                      x->ids.len ? pp_buf_cstr(&x->ids) : NULL, "success", purpose, reason))
		return pp_fhir_api_audit_failed(r);
	if (bundle)
		out = json_pack("{s:s, s:s, s:i, s:O}", "resourceType", "Bundle", "type", "searchset",
		                "total", x->n, "entry", x->entries);
	else
		out = json_incref(json_object_get(json_array_get(x->entries, 0), "resource"));
	return out ? pp_fhir_api_send(r, 200, out, true) : PP_ENOMEM;
}

static int start(pp_app *app, pp_http_request *r, pp_fhir_caller *c, unsigned interaction)
{
	if (!pp_fhir_api_accept_ok(r)) {
		pp_fhir_api_error(r, 406, "not-supported", "Only application/fhir+json is served");
		return PP_EINVAL;
	}
	if (pp_fhir_api_authenticate(app, r, c))
		return PP_EAUTH;
	if (!pp_fhir_api_scope_allows(c, "Communication", interaction, NULL)) {
		if (pp_fhir_api_audit(app, c, interaction == PP_SCOPE_R ? "read" : "search", NULL,
		                      "Communication", NULL, "denied", NULL, "scope"))
			pp_fhir_api_audit_failed(r);
		else
			pp_fhir_api_error(r, 403, "forbidden", "The granted scopes do not allow this");
		return PP_EDENIED;
	}
	return 0;
}

/* GET /fhir/Communication?patient=<id>[&_count=N] */
static int h_search(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_fhir_caller c;
	comm_ctx x = {.app = app, .c = &c, .max = 100};
	threads th = {.x = &x};
	pp_store_resource prow = {0};
	const char *pid = pp_http_query(r, "patient"), *count = pp_http_query(r, "_count");
	char ppub[48] = "";
	int rc;

	if (start(app, r, &c, PP_SCOPE_S))
		return 0;
	if (!pid && c.restricted && c.restrict_patient > 0 &&
	    pp_store_resource_get(app->store, c.restrict_patient, &prow) == PP_OK)
		pid = prow.pub_id;
	if (!pid || strlen(pid) >= sizeof ppub) {
		pp_store_resource_clear(&prow);
		return pp_fhir_api_error(r, 400, "required", "patient is required");
	}
	snprintf(ppub, sizeof ppub, "%s", pid);
	pp_store_resource_clear(&prow);
	if (count) {
		char *end;
		long n = strtol(count, &end, 10);
		if (*end || n < 0 || n > COMM_MAX)
			return pp_fhir_api_error(r, 400, "value", "_count is 0 to 500");
		x.max = (int)n;
	}
	if (pp_store_resource_get_pub(app->store, "Patient", ppub, &prow)) {
		pp_store_resource_clear(&prow);
		if (pp_fhir_api_audit(app, &c, "search", ppub, "Communication", NULL, "denied", NULL,
		                      "no-patient"))
			return pp_fhir_api_audit_failed(r);
		return pp_fhir_api_not_found(r);
	}
	x.patient_pub = ppub;
	pp_buf_init(&x.ids, 4096);
	if (!(x.entries = json_array())) {
		rc = PP_ENOMEM;
		goto out;
	}
	rc = pp_store_msg_thread_each(app->store,
	                              &(pp_store_msg_viewer){.patient_id = prow.id, .side = "patient",
	                                                     /* hides what the caller deleted; an app
	                                                      * without a user deleted nothing */
	                                                     .user_id = c.p.user_id > 0 ? c.p.user_id
	                                                                                : INT64_MAX},
	                              200, each_thread, &th);
	if (rc < 0 || th.rc) {
		rc = rc < 0 ? rc : th.rc;
		goto out;
	}
	if (!th.allowed) {
		/* no conversation of this patient is the caller's to read (or there are none): the same
		 * empty answer, audited as such */
		th.d.purpose = NULL;
		th.d.reason = "no-readable-thread";
	}
	rc = answer(app, r, &c, &x, "search", ppub, th.d.purpose, th.d.reason, true);
out:
	pp_store_resource_clear(&prow);
	json_decref(x.entries);
	pp_buf_free(&x.ids);
	return rc;
}

/* GET /fhir/Communication/<id> */
static int h_read(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *id = pp_http_param(r, "id");
	pp_fhir_caller c;
	comm_ctx x = {.app = app, .c = &c, .max = 1};
	pp_store_msg m;
	pp_store_msg_thread t;
	pp_store_resource prow = {0};
	pp_policy_decision d = {.reason = "not-found"};
	char ppub[48] = "";
	int rc;

	memset(&m, 0, sizeof m);
	memset(&t, 0, sizeof t);
	if (start(app, r, &c, PP_SCOPE_R))
		return 0;
	pp_buf_init(&x.ids, 128);
	if (!(x.entries = json_array())) {
		rc = PP_ENOMEM;
		goto out;
	}
	rc = id && strlen(id) < sizeof m.pub_id ? pp_store_msg_get_pub(app->store, id, &m) : PP_ENOTFOUND;
	if (!rc)
		rc = pp_store_msg_thread_get(app->store, m.thread_id, &t);
	if (!rc && pp_store_resource_get(app->store, t.patient_id, &prow) == PP_OK)
		snprintf(ppub, sizeof ppub, "%s", prow.pub_id);
	x.patient_pub = ppub;
	if (!rc)
		rc = thread_messages(&x, &t, m.pub_id, &d);
	if (rc && rc != PP_ENOTFOUND)
		goto out;
	if (rc == PP_ENOTFOUND || !x.n) {
		rc = pp_fhir_api_audit(app, &c, "read", ppub[0] ? ppub : NULL, "Communication",
		                       id && strlen(id) < 40 ? id : NULL, "denied", d.purpose, d.reason)
		         ? pp_fhir_api_audit_failed(r) : pp_fhir_api_not_found(r);
		goto out;
	}
	rc = answer(app, r, &c, &x, "read", ppub, d.purpose, d.reason, false);
out:
	pp_store_msg_clear(&m);
	pp_store_msg_thread_clear(&t);
	pp_store_resource_clear(&prow);
	json_decref(x.entries);
	pp_buf_free(&x.ids);
	return rc;
}

int pp_msg_fhir_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route(srv, "GET", "/fhir/Communication", h_search, NULL);
	rc |= pp_http_route(srv, "GET", "/fhir/Communication/:id", h_read, NULL);
	return rc ? PP_EINVAL : PP_OK;
}
