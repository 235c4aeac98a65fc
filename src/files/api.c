/* files: the HTTP API — streaming upload of patient files and documents, streaming download, the
 * documents list. Each request: session (cookie; CSRF + Origin on uploads) → principal →
 * pp_policy_check on the patient's row → files → exactly one audit record (fail closed: 503 and no
 * content when it cannot be made durable) → response. A file of another patient answers 404. The
 * audit detail carries the file's sniffed type and size, never its name. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files/files_internal.h"
#include "http/http.h"
#include "auth/auth.h"
#include "audit/audit.h"
#include "policy/policy.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "fhir/fhir.h"
#include "store/store_msg.h"

#define COOKIE "pp_session"

typedef struct route_data {
	pp_files *f;
	const char *kind;          /* "upload" or "document" */
} route_data;

static route_data rd_upload, rd_document, rd_attachment, rd_plain;

/* The message thread an attachment belongs to (the :id of /messages/threads/:id/attachments, or
 * the thread of the message a stored file is linked to): its patient and its care-team pool, which
 * policy/ needs to let the pool's staff in (and keep the rest of the care team out). */
static int thread_target(pp_app *app, const char *thread_pub, int64_t message_id,
                         int64_t *patient_id, int64_t *pool_id)
{
	pp_store_msg_thread t;
	int64_t thread_id = 0;
	int rc;

	memset(&t, 0, sizeof t);
	if (thread_pub)
		rc = strlen(thread_pub) < sizeof t.pub_id ? pp_store_msg_thread_get_pub(app->store, thread_pub, &t)
		                                          : PP_ENOTFOUND;
	else if (!(rc = pp_store_msg_thread_of(app->store, message_id, &thread_id)))
		rc = pp_store_msg_thread_get(app->store, thread_id, &t);
	if (!rc) {
		*patient_id = t.patient_id;
		*pool_id = t.pool_id;
	}
	pp_store_msg_thread_clear(&t);
	return rc;
}

/* ---- shared: session, principal, audit ---- */

static bool origin_ok(pp_http_request *r)
{
	const char *origin = pp_http_header(r, "Origin");
	const char *host = pp_http_header(r, "Host");
	char want[300];
	if (!origin)
		return true;   /* same-origin fetches and non-browser clients may omit it */
	if (!host)
		return false;
	snprintf(want, sizeof want, "https://%s", host);
	return strcmp(origin, want) == 0;
}

/* the portal's session rules (pp_portal_session): a full session, and on state-changing methods
 * the Origin and the CSRF token. On failure the response is set and a negative code returned. */
static int session(pp_app *app, pp_http_request *r, pp_principal *p)
{
	const char *token = pp_http_cookie(r, COOKIE);
	const char *method = pp_http_method(r);
	pp_session s;
	int rc;
	memset(p, 0, sizeof *p);
	if (!token || !*token) {
		pp_http_error(r, 401, "no_session", "Sign in first");
		return PP_EAUTH;
	}
	rc = pp_auth_session_get(app->auth, token, true, &s);
	if (rc) {
		pp_http_set_cookie(r, COOKIE, "", 0);
		pp_http_error(r, 401, rc == PP_EAUTH ? "session_expired" : "no_session",
		              "Your session has ended; sign in again");
		return PP_EAUTH;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		const char *csrf = pp_http_header(r, "X-CSRF-Token");
		if (!origin_ok(r)) {
			pp_http_error(r, 403, "origin", "Cross-origin request refused");
			return PP_EDENIED;
		}
		if (!csrf || strlen(csrf) != strlen(s.csrf) || pp_ct_compare(csrf, s.csrf, strlen(s.csrf))) {
			pp_http_error(r, 403, "csrf", "Missing or wrong CSRF token");
			return PP_EDENIED;
		}
	}
	if (s.state != PP_SESSION_FULL) {
		pp_http_error(r, 401, "mfa_required", "Complete multi-factor sign-in first");
		return PP_EAUTH;
	}
	p->user_id = s.user_id;
	snprintf(p->actor, sizeof p->actor, "user:%lld", (long long)s.user_id);
	snprintf(p->role, sizeof p->role, "%s", s.role);
	p->patient_id = s.patient_id;
	snprintf(p->session_id, sizeof p->session_id, "%s", s.id);
	snprintf(p->source_ip, sizeof p->source_ip, "%s", pp_http_client_ip(r));
	snprintf(p->user_agent, sizeof p->user_agent, "%s", pp_http_user_agent(r));
	snprintf(p->request_id, sizeof p->request_id, "%s", pp_http_request_id(r));
	return 0;
}

/* a proxy reaches the record for the patient: the audit records say "proxy X for patient Y" */
static void acting_for(pp_principal *p, const pp_policy_decision *d, const char *patient_pub)
{
	if (d->effect != PP_POLICY_DENY && !strcmp(d->reason, "proxy"))
		snprintf(p->on_behalf_of, sizeof p->on_behalf_of, "patient:%.39s", patient_pub);
}

static int audit(pp_app *app, const pp_principal *p, const char *action, const char *patient,
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
	return rc ? PP_EAUDIT : 0;
}

static int audit_failed(pp_http_request *r)
{
	return pp_http_error(r, 503, "audit_unavailable",
	                     "The request could not be recorded and was not carried out");
}

static int json_reply(pp_http_request *r, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc;
	json_decref(obj);
	if (!text)
		return PP_ENOMEM;
	pp_http_status(r, status);
	pp_http_mark_phi(r);
	rc = pp_http_body_set(r, "application/json", text, strlen(text));
	pp_wipe(text, strlen(text));
	free(text);
	return rc;
}

/* the patient row of a route's :id (an opaque Patient pub_id); 0 when it is not one of ours,
 * which the caller treats exactly like one the principal may not reach */
static int64_t patient_of(pp_app *app, pp_http_request *r, char *pub, size_t cap)
{
	const char *id = pp_http_param(r, "id");
	pp_store_resource res;
	int64_t patient_id = 0;
	memset(&res, 0, sizeof res);
	if (id && strlen(id) < cap && strlen(id) < 48 && strspn(id, "0123456789abcdef") == strlen(id)) {
		snprintf(pub, cap, "%s", id);
		if (pp_store_resource_get_pub(app->store, "Patient", id, &res) == PP_OK)
			patient_id = res.id;
	} else {
		snprintf(pub, cap, "invalid");
	}
	pp_store_resource_clear(&res);
	return patient_id;
}

static void detail_of(char *out, size_t cap, const char *code, const char *mime, uint64_t size)
{
	snprintf(out, cap, "%s%stype=%s size=%llu", code ? code : "", code ? " " : "",
	         mime && *mime ? mime : "unknown", (unsigned long long)size);
}

/* ---- upload ---- */

typedef struct up_ctx {
	pp_app *app;
	pp_files_upload *u;
	route_data *rd;
	pp_principal p;
	int64_t patient_id;
	char patient_pub[48];
	const char *refusal;
} up_ctx;

static void up_ctx_free(void *v)
{
	up_ctx *c = v;
	if (!c)
		return;
	pp_files_upload_free(c->u);
	free(c);
}

static const struct {
	const char *code;
	int status;
	const char *message;
} refusals[] = {
	{"too_large", 413, "The file is larger than this server accepts."},
	{"type_not_allowed", 415, "This type of file is not accepted."},
	{"executable_refused", 415, "Programs and other executable files are not accepted."},
	{"empty_file", 400, "The file is empty."},
	{"malware_detected", 422, "The file was refused: the malware scanner found a threat in it."},
	{"scan_unavailable", 503, "Files cannot be scanned for malware right now; try again later."},
	{"bad_name", 400, "The X-File-Name header must be percent-encoded UTF-8."},
	{"storage_error", 500, "The file could not be stored."},   /* last: the fallback */
};

static int refuse(pp_app *app, pp_http_request *r, up_ctx *c, const char *code, const char *mime,
                  uint64_t size, const char *sig)
{
	char detail[200];
	size_t i;
	for (i = 0; i < sizeof refusals / sizeof refusals[0] - 1; i++)
		if (!strcmp(refusals[i].code, code))
			break;
	detail_of(detail, sizeof detail, code, mime, size);
	if (sig && *sig) {
		size_t l = strlen(detail);
		snprintf(detail + l, sizeof detail - l, " signature=%s", sig);
	}
	if (audit(app, &c->p, "file.refused", c->patient_pub, "Binary", NULL, "failure", "patient-access",
	          detail))
		return audit_failed(r);
	if (!strcmp(refusals[i].code, "scan_unavailable"))
		pp_http_set_header(r, "Retry-After", "30");
	return pp_http_error(r, refusals[i].status, refusals[i].code, refusals[i].message);
}

static int up_begin(void *vapp, pp_http_request *r, void **ctx)
{
	pp_app *app = vapp;
	route_data *rd = pp_http_route_data(r);
	pp_policy_decision d;
	up_ctx *c;
	const char *hname = pp_http_header(r, "X-File-Name");
	char name[PP_FILES_NAME_MAX + 1];
	const char *refusal = NULL;
	int rc;
	*ctx = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return PP_ENOMEM;
	c->rd = rd;
	c->app = app;
	if (session(app, r, &c->p)) {
		free(c);
		return 0;
	}
	if (rd == &rd_attachment) {
		/* an attachment for a message in a thread: whoever may write in the thread */
		int64_t pool_id = 0;
		pp_store_resource res;
		memset(&res, 0, sizeof res);
		if (thread_target(app, pp_http_param(r, "id"), 0, &c->patient_id, &pool_id))
			c->patient_id = 0;
		snprintf(c->patient_pub, sizeof c->patient_pub, "unknown");
		if (c->patient_id && pp_store_resource_get(app->store, c->patient_id, &res) == PP_OK)
			snprintf(c->patient_pub, sizeof c->patient_pub, "%s", res.pub_id);
		pp_store_resource_clear(&res);
		pp_policy_decide(app, &c->p, PP_POLICY_WRITE,
		                 &(pp_policy_target){.patient_id = c->patient_id,
		                                     .resource_type = "MessageThread", .pool_id = pool_id},
		                 &d);
	} else {
		c->patient_id = patient_of(app, r, c->patient_pub, sizeof c->patient_pub);
		pp_policy_decide(app, &c->p, PP_POLICY_WRITE,
		                 &(pp_policy_target){.patient_id = c->patient_id,
		                                     .resource_type = "DocumentReference"}, &d);
	}
	acting_for(&c->p, &d, c->patient_pub);
	if (d.effect == PP_POLICY_DENY) {
		rc = audit(app, &c->p, "file.upload", c->patient_pub, "Binary", NULL, "denied", d.purpose,
		           d.reason);
		free(c);
		return rc ? audit_failed(r) : pp_http_error(r, 404, "not_found", "No such record");
	}
	if (hname && pp_files_name_sanitise(hname, strlen(hname), true, name)) {
		rc = refuse(app, r, c, "bad_name", NULL, 0, NULL);
		free(c);
		return rc;
	}
	rc = pp_files_upload_begin(rd->f, &(pp_files_upload_opts){.patient_id = c->patient_id,
	                                                          .uploader_id = c->p.user_id,
	                                                          .kind = rd->kind,
	                                                          .name = hname ? name : NULL},
	                           &c->u, &refusal);
	if (rc) {
		rc = refuse(app, r, c, refusal ? refusal : "storage_error", NULL, 0, NULL);
		free(c);
		return rc;
	}
	*ctx = c;
	return 0;
}

/* the connection ended without a response (cut off after a refusal, or the client left): the
 * request's one audit record, then everything written is deleted */
static void up_abort(void *ctx, int err)
{
	up_ctx *c = ctx;
	char detail[200];
	const char *code = err == PP_ETOOBIG ? "too_large" : c->refusal ? c->refusal :
	                   err == PP_EBUSY ? "busy" : "client_aborted";
	detail_of(detail, sizeof detail, code, pp_files_upload_mime(c->u), pp_files_upload_size(c->u));
	audit(c->app, &c->p, "file.refused", c->patient_pub, "Binary", NULL, "failure", "patient-access",
	      detail);
	up_ctx_free(c);
}

static int up_chunk(void *ctx, const void *data, size_t len)
{
	up_ctx *c = ctx;
	return pp_files_upload_write(c->u, data, len, &c->refusal);
}

/* A DocumentReference for the patient, pointing at the file (sealed like every resource). */
static int make_docref(pp_app *app, up_ctx *c, const pp_files_info *info, const char *name,
                       char docref_pub[40], int64_t *docref_id)
{
	pp_store_resource pat, row;
	json_t *pj = NULL, *doc = NULL;
	char lid[PP_FILES_ID_LEN + 1], iso[32], url[80], *body = NULL, *canon = NULL, ref[160];
	char key[200];
	uint8_t rnd[16];
	const char *plid;
	int rc;
	memset(&pat, 0, sizeof pat);
	memset(&row, 0, sizeof row);
	if ((rc = pp_store_resource_get(app->store, c->patient_id, &pat)) ||
	    (rc = pp_fhir_resource_load(app->crypto, &pat, &pj)))
		goto out;
	plid = json_string_value(json_object_get(pj, "id"));
	if (!plid || snprintf(ref, sizeof ref, "Patient/%s", plid) >= (int)sizeof ref) {
		rc = PP_EINVAL;
		goto out;
	}
	if (pp_random(rnd, sizeof rnd)) {
		rc = PP_EIO;
		goto out;
	}
	pp_hex_encode(rnd, sizeof rnd, lid);
	pp_clock_format_iso(info->created_ms, iso);
	snprintf(url, sizeof url, "/api/v1/files/%s", info->id);
	doc = json_pack("{s:s, s:s, s:s, s:{s:s}, s:s, s:[{s:{s:s, s:s, s:I, s:s, s:s}}]}",
	                "resourceType", "DocumentReference", "id", lid, "status", "current",
	                "subject", "reference", ref, "date", iso, "content", "attachment",
	                "contentType", info->mime, "url", url, "size", (json_int_t)info->size,
	                "title", name, "creation", iso);
	if (!doc) {
		rc = PP_ENOMEM;
		goto out;
	}
	body = json_dumps(doc, JSON_COMPACT);
	canon = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!body || !canon) {
		rc = PP_ENOMEM;
		goto out;
	}
	/* the logical id's blind index, as fhir/ computes it ("fhir-lid" over "Type/id") */
	snprintf(key, sizeof key, "DocumentReference/%s", lid);
	row.id = pp_store_new_id();
	snprintf(row.type, sizeof row.type, "DocumentReference");
	row.patient_id = c->patient_id;
	row.version = 1;
	row.last_updated_ms = pp_clock_now_ms();
	if (pp_random(rnd, sizeof rnd)) {
		rc = PP_EIO;
		goto out;
	}
	pp_hex_encode(rnd, sizeof rnd, row.pub_id);
	if (row.id <= 0 || (rc = pp_crypto_blind_index(app->crypto, "fhir-lid", key, row.lid_bidx)) ||
	    (rc = pp_crypto_keyed_digest(app->crypto, canon, strlen(canon), row.digest)) ||
	    (rc = pp_crypto_seal(app->crypto, "resource", "body", row.id, body, strlen(body), &row.body,
	                         &row.body_len)) ||
	    (rc = pp_store_resource_put(app->store, &row)))
		goto out;
	snprintf(docref_pub, 40, "%s", row.pub_id);
	*docref_id = row.id;
out:
	if (body) {
		pp_wipe(body, strlen(body));
		free(body);
	}
	if (canon) {
		pp_wipe(canon, strlen(canon));
		free(canon);
	}
	json_decref(doc);
	json_decref(pj);
	pp_store_resource_clear(&pat);
	pp_store_resource_clear(&row);
	return rc;
}

static int up_end(void *vapp, pp_http_request *r, void *ctx, int err)
{
	pp_app *app = vapp;
	up_ctx *c = ctx;
	pp_files_info info;
	char sig[128] = "", detail[200], docref_pub[40] = "", *name = NULL;
	const char *refusal = c->refusal;
	int64_t docref_id = 0;
	json_t *j;
	int rc;

	if (err == PP_ETOOBIG)
		refusal = "too_large";
	if (err < 0 || refusal) {
		rc = refuse(app, r, c, refusal ? refusal : "storage_error", pp_files_upload_mime(c->u),
		            pp_files_upload_size(c->u), NULL);
		up_ctx_free(c);   /* deletes whatever was written */
		return rc;
	}
	rc = pp_files_upload_finish(c->u, &info, &refusal, sig, sizeof sig);
	if (rc) {
		rc = refuse(app, r, c, refusal ? refusal : "storage_error", pp_files_upload_mime(c->u),
		            pp_files_upload_size(c->u), sig);
		up_ctx_free(c);
		return rc;
	}
	if ((rc = pp_files_name(c->rd->f, &info, &name)))
		goto fail;
	if (!strcmp(c->rd->kind, "document")) {
		if ((rc = make_docref(app, c, &info, name, docref_pub, &docref_id)) ||
		    (rc = pp_files_set_docref(c->rd->f, info.id, docref_id)))
			goto fail;
	}
	detail_of(detail, sizeof detail, info.status, info.mime, info.size);
	if (audit(app, &c->p, "file.upload", c->patient_pub, "Binary", info.id, "success", "patient-access",
	          detail)) {
		/* not recorded: not kept either */
		pp_files_shred(c->rd->f, info.id);
		pp_crypto_free_plain(name, strlen(name));
		up_ctx_free(c);
		return audit_failed(r);
	}
	j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?}", "file_id", info.id, "type", info.mime,
	              "size", (json_int_t)info.size, "name", name, "status", info.status,
	              "document_id", docref_pub[0] ? docref_pub : NULL);
	pp_crypto_free_plain(name, strlen(name));
	up_ctx_free(c);
	return json_reply(r, 201, j);
fail:
	pp_files_shred(c->rd->f, info.id);
	if (name)
		pp_crypto_free_plain(name, strlen(name));
	rc = refuse(app, r, c, "storage_error", info.mime, info.size, NULL);
	up_ctx_free(c);
	return rc;
}

/* ---- download ---- */

static int reader_cb(void *ctx, uint64_t pos, char *buf, size_t max, size_t *n)
{
	(void)pos;   /* MHD reads sequentially */
	return pp_files_reader_read(ctx, buf, max, n);
}

static void reader_free_cb(void *ctx)
{
	pp_files_reader_free(ctx);
}

/* RFC 5987/6266: attachment; filename*=UTF-8''<percent-encoded> */
static void disposition(const char *name, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = (size_t)snprintf(out, cap, "attachment; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p && o + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("!#$&+-.^_`|~", *p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static int h_download(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	route_data *rd = pp_http_route_data(r);
	const char *id = pp_http_param(r, "file_id");
	pp_principal p;
	pp_policy_decision d;
	pp_files_info info;
	pp_files_reader *reader = NULL;
	pp_store_resource pat;
	char pub[48] = "unknown", detail[200], cd[3 * PP_FILES_NAME_MAX + 64], *name = NULL;
	bool found;
	int rc;

	if (session(app, r, &p))
		return 0;
	found = pp_files_get(rd->f, id, &info) == 0 && strcmp(info.status, "shredded");
	if (!found)
		memset(&info, 0, sizeof info);
	memset(&pat, 0, sizeof pat);
	if (found && pp_store_resource_get(app->store, info.patient_id, &pat) == 0)
		snprintf(pub, sizeof pub, "%s", pat.pub_id);
	pp_store_resource_clear(&pat);
	{
		/* a message's attachment is reached like the message (the thread's pool, not the care
		 * team); any other file like the record's documents */
		int64_t tpatient = 0, pool_id = 0;
		bool att = found && info.message_id && !thread_target(app, NULL, info.message_id,
		                                                      &tpatient, &pool_id) &&
		           tpatient == info.patient_id;
		pp_policy_decide(app, &p, PP_POLICY_READ,
		                 &(pp_policy_target){.patient_id = found ? info.patient_id : 0,
		                                     .resource_type = att ? "MessageThread"
		                                                          : "DocumentReference",
		                                     .pool_id = att ? pool_id : 0},
		                 &d);
		acting_for(&p, &d, pub);
	}
	if (!found || d.effect == PP_POLICY_DENY) {
		if (audit(app, &p, "file.download", pub, "Binary", found ? info.id : NULL, "denied",
		          d.purpose, found ? d.reason : "no-such-file"))
			return audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No such file");
	}
	detail_of(detail, sizeof detail, NULL, info.mime, info.size);
	if (strcmp(info.status, "clean")) {
		if (audit(app, &p, "file.download", pub, "Binary", info.id, "failure", d.purpose,
		          "quarantined"))
			return audit_failed(r);
		return pp_http_error(r, 409, "file_quarantined",
		                     "The file has not been scanned for malware yet and cannot be "
		                     "downloaded.");
	}
	if ((rc = pp_files_reader_open(rd->f, &info, &reader)) || (rc = pp_files_name(rd->f, &info, &name))) {
		pp_files_reader_free(reader);
		audit(app, &p, "file.download", pub, "Binary", info.id, "failure", d.purpose,
		      pp_strerror(rc));
		return rc == PP_ECRYPTO ? PP_EIO : rc;
	}
	disposition(name, cd, sizeof cd);
	pp_crypto_free_plain(name, strlen(name));
	if (audit(app, &p, "file.download", pub, "Binary", info.id, "success", d.purpose, detail)) {
		pp_files_reader_free(reader);
		return audit_failed(r);
	}
	pp_http_status(r, 200);
	pp_http_mark_phi(r);
	if ((rc = pp_http_set_header(r, "Content-Disposition", cd)) < 0)
		goto fail;
	if ((rc = pp_http_body_stream(r, info.mime, info.size, reader_cb, reader, reader_free_cb)) < 0)
		return rc;   /* the reader was released */
	return 0;
fail:
	pp_files_reader_free(reader);
	return rc;
}

/* ---- the documents list ---- */

typedef struct list_ctx {
	pp_files *f;
	json_t *arr;
	int err;
} list_ctx;

static int list_one(void *vctx, const pp_files_info *info)
{
	list_ctx *l = vctx;
	char *name = NULL, iso[32];
	json_t *o;
	if (!strcmp(info->status, "shredded"))
		return 0;
	if ((l->err = pp_files_name(l->f, info, &name)))
		return 1;
	pp_clock_format_iso(info->created_ms, iso);
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "file_id", info->id, "name", name, "type",
	              info->mime, "size", (json_int_t)info->size, "status", info->status, "created",
	              iso);
	pp_crypto_free_plain(name, strlen(name));
	if (!o || json_array_append_new(l->arr, o)) {
		l->err = PP_ENOMEM;
		return 1;
	}
	return 0;
}

static int h_documents(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	route_data *rd = pp_http_route_data(r);
	pp_principal p;
	pp_policy_decision d;
	list_ctx l = {0};
	char pub[48];
	int64_t patient_id;
	int rc;

	if (session(app, r, &p))
		return 0;
	patient_id = patient_of(app, r, pub, sizeof pub);
	pp_policy_decide(app, &p, PP_POLICY_SEARCH,
	                &(pp_policy_target){.patient_id = patient_id, .resource_type = "DocumentReference"},
	                &d);
	acting_for(&p, &d, pub);
	if (d.effect == PP_POLICY_DENY) {
		if (audit(app, &p, "search", pub, "DocumentReference", NULL, "denied", d.purpose, d.reason))
			return audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No such record");
	}
	l.f = rd->f;
	if (!(l.arr = json_array()))
		return PP_ENOMEM;
	rc = pp_files_each_for_patient(rd->f, patient_id, "document", list_one, &l);
	if (rc < 0 || l.err) {
		json_decref(l.arr);
		audit(app, &p, "search", pub, "DocumentReference", NULL, "failure", d.purpose,
		      pp_strerror(l.err ? l.err : rc));
		return l.err ? l.err : rc;
	}
	if (audit(app, &p, "search", pub, "DocumentReference", NULL, "success", d.purpose, d.reason)) {
		json_decref(l.arr);
		return audit_failed(r);
	}
	return json_reply(r, 200, json_pack("{s:o}", "documents", l.arr));
}

int pp_files_routes(struct pp_http_server *s, pp_app *app, pp_files *f)
{
	pp_http_upload u = {.begin = up_begin, .chunk = up_chunk, .end = up_end, .abort = up_abort,
	                    .max_bytes = (uint64_t)app->cfg->files_max_bytes};
	int rc = 0;
	if (!s || !app || !f)
		return PP_EINVAL;
	rd_upload = (route_data){f, "upload"};
	rd_document = (route_data){f, "document"};
	rd_attachment = (route_data){f, "attachment"};
	rd_plain = (route_data){f, NULL};
	u.data = &rd_upload;
	rc |= pp_http_route_upload(s, "POST", "/api/v1/patients/:id/files", &u);
	u.data = &rd_document;
	rc |= pp_http_route_upload(s, "POST", "/api/v1/patients/:id/documents", &u);
	u.data = &rd_attachment;
	rc |= pp_http_route_upload(s, "POST", "/api/v1/messages/threads/:id/attachments", &u);
	rc |= pp_http_route(s, "GET", "/api/v1/patients/:id/documents", h_documents, &rd_plain);
	rc |= pp_http_route(s, "GET", "/api/v1/files/:file_id", h_download, &rd_plain);
	return rc ? PP_EINVAL : 0;
}

/* ---- the command line ---- */

int pp_files_cli(pp_files *f, int argc, char **argv)
{
	int cleaned, infected, failed, rc;
	if (argc < 2 || strcmp(argv[1], "rescan")) {
		fprintf(argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr,
		        "usage: phiportal [--data DIR] files rescan\n\n"
		        "Scans quarantined uploads with clamd again: clean ones become downloadable,\n"
		        "infected ones are crypto-shredded.\n");
		return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
	}
	if (!f)
		return 1;
	rc = pp_files_rescan(f, &cleaned, &infected, &failed);
	printf("files rescan: %d clean, %d infected (shredded), %d still quarantined\n", cleaned,
	       infected, failed);
	return rc || failed ? 1 : 0;
}
