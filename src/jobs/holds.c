/* jobs: legal holds. A hold on a patient covers all their messages, attachments and documents; a
 * hold on a thread covers its messages and their attachments. The reason is free text and sealed
 * (AAD "legal_hold"/"reason"/row id); the audit records carry the scope and opaque ids only.
 * Placing and releasing run in one store transaction with their audit record: no record, no
 * change. */
#include "jobs/jobs_internal.h"

#include <string.h>

bool pp_jobs_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= 64 && strspn(id, "0123456789abcdef") == n;
}

void pp_jobs_cli_principal(pp_principal *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->actor, sizeof p->actor, "system:cli");
	snprintf(p->role, sizeof p->role, "operator");
}

static int audit(const pp_app *app, const pp_principal *p, const char *action,
                 const char *patient, const char *rid, const char *outcome, const char *detail)
{
	pp_audit_event ev = {
		.actor = p->actor, .actor_role = p->role[0] ? p->role : NULL, .patient = patient,
		.action = action, .resource_type = "LegalHold", .resource_id = rid, .outcome = outcome,
		.source_ip = p->source_ip[0] ? p->source_ip : NULL,
		.user_agent = p->user_agent[0] ? p->user_agent : NULL,
		.session_id = p->session_id[0] ? p->session_id : NULL, .purpose = "legal",
		.request_id = p->request_id[0] ? p->request_id : NULL, .detail = detail,
	};

	return pp_audit_record(app->audit, &ev) ? PP_EAUDIT : 0;
}

/* reasons: printable text (new lines and tabs allowed), no other control characters */
static const char *reason_check(const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;
	size_t printable = 0;

	if (!n)
		return "reason_required";
	if (n > PP_JOBS_REASON_MAX)
		return "reason_too_long";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)reason[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
			return "reason_required";
		if (ch > 0x20)
			printable++;
	}
	return printable ? NULL : "reason_required";
}

static int new_ids(int64_t *row, char pub[33])
{
	uint8_t b[16];

	if (pp_random(b, sizeof b))
		return PP_EIO;
	pp_hex_encode(b, sizeof b, pub);
	*row = pp_store_new_id();
	return *row > 0 ? 0 : PP_EIO;
}

int pp_jobs_hold_place(const pp_app *app, const pp_principal *p, const char *scope,
                       const char *target, const char *reason, char hold_id[33],
                       const char **why)
{
	pp_store_hold h;
	pp_store_resource res;
	char detail[160];
	const char *w = NULL;
	bool thread;
	int rc;

	memset(&h, 0, sizeof h);
	memset(&res, 0, sizeof res);
	if (why)
		*why = NULL;
	if (!app || !p || !hold_id)
		return PP_EINVAL;
	hold_id[0] = '\0';
	if (!scope || (strcmp(scope, "patient") && strcmp(scope, "thread")))
		w = "invalid_scope";
	else if (!pp_jobs_id_valid(target))
		w = "invalid_target";
	else
		w = reason_check(reason);
	if (w) {
		rc = PP_EINVAL;
		goto out;
	}
	thread = !strcmp(scope, "thread");
	snprintf(h.scope, sizeof h.scope, "%s", scope);
	/* the target must exist; its patient is named in the audit record */
	if (thread) {
		rc = pp_store_retention_thread_find(app->store, target, &h.thread_id, &h.patient_id);
		if (!rc)
			rc = pp_store_resource_get(app->store, h.patient_id, &res);
		h.patient_id = 0;
	} else {
		rc = pp_store_resource_get_pub(app->store, "Patient", target, &res);
		h.patient_id = res.id;
	}
	if (rc == PP_ENOTFOUND) {
		w = "not_found";
		snprintf(detail, sizeof detail, "scope:%s error:not_found", scope);
		if (audit(app, p, "legal_hold.place", NULL, NULL, "failure", detail))
			rc = PP_EAUDIT;
		goto out;
	}
	if (rc)
		goto out;
	if ((rc = new_ids(&h.id, h.pub_id)) ||
	    (rc = pp_crypto_seal(app->crypto, "legal_hold", "reason", h.id, reason, strlen(reason),
	                         &h.reason_enc, &h.reason_enc_len)))
		goto out;
	snprintf(h.placed_by, sizeof h.placed_by, "%s", p->actor);
	h.placed_ms = pp_clock_now_ms();
	if (thread)
		snprintf(detail, sizeof detail, "scope:thread thread:%s", target);
	else
		snprintf(detail, sizeof detail, "scope:patient");
	if ((rc = pp_store_begin(app->store)))
		goto out;
	if ((rc = pp_store_hold_insert(app->store, &h))) {
		pp_store_rollback(app->store);
		goto out;
	}
	if ((rc = audit(app, p, "legal_hold.place", res.pub_id, h.pub_id, "success", detail))) {
		pp_store_rollback(app->store);
		goto out;
	}
	if ((rc = pp_store_commit(app->store))) {
		pp_store_rollback(app->store);
		goto out;
	}
	snprintf(hold_id, 33, "%s", h.pub_id);
out:
	if (why)
		*why = w;
	pp_store_hold_clear(&h);
	pp_store_resource_clear(&res);
	return rc;
}

int pp_jobs_hold_release(const pp_app *app, const pp_principal *p, const char *hold_id)
{
	pp_store_hold h;
	char detail[96];
	int rc;

	memset(&h, 0, sizeof h);
	if (!app || !p)
		return PP_EINVAL;
	rc = pp_jobs_id_valid(hold_id) ? pp_store_hold_get(app->store, hold_id, &h) : PP_ENOTFOUND;
	if (!rc && h.released_ms)
		rc = PP_ENOTFOUND;
	if (rc == PP_ENOTFOUND) {
		if (audit(app, p, "legal_hold.release", NULL, NULL, "failure", "error:not_found"))
			rc = PP_EAUDIT;
		goto out;
	}
	if (rc)
		goto out;
	if (!strcmp(h.scope, "thread"))
		snprintf(detail, sizeof detail, "scope:thread thread:%s", h.thread_pub);
	else
		snprintf(detail, sizeof detail, "scope:patient");
	if ((rc = pp_store_begin(app->store)))
		goto out;
	if ((rc = pp_store_hold_release(app->store, h.pub_id, p->actor, pp_clock_now_ms())) ||
	    (rc = audit(app, p, "legal_hold.release", h.patient_pub[0] ? h.patient_pub : NULL,
	                h.pub_id, "success", detail)) ||
	    (rc = pp_store_commit(app->store)))
		pp_store_rollback(app->store);
out:
	pp_store_hold_clear(&h);
	return rc;
}

typedef struct list_ctx {
	const pp_app *app;
	json_t *items;
	int rc;
} list_ctx;

static int hold_json(void *vctx, const pp_store_hold *h)
{
	list_ctx *l = vctx;
	uint8_t *pt = NULL;
	size_t len = 0;
	char placed[32], released[32];
	json_t *j;

	if (pp_crypto_unseal(l->app->crypto, "legal_hold", "reason", h->id, h->reason_enc,
	                     h->reason_enc_len, &pt, &len))
		pt = NULL;
	pp_clock_format_iso(h->placed_ms, placed);
	pp_clock_format_iso(h->released_ms, released);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?}", "id", h->pub_id, "scope",
	              h->scope, "target", !strcmp(h->scope, "thread") ? h->thread_pub : h->patient_pub,
	              "patient_id", h->patient_pub, "reason", pt ? (const char *)pt : NULL,
	              "placed_by", h->placed_by, "placed_at", placed, "released_at",
	              h->released_ms ? released : NULL, "released_by",
	              h->released_ms ? h->released_by : NULL);
	if (pt)
		pp_crypto_free_plain(pt, len);
	if (!j || json_array_append_new(l->items, j))
		return l->rc = PP_ENOMEM;
	return 0;
}

int pp_jobs_holds_json(const pp_app *app, bool all, json_t **out)
{
	list_ctx l = {.app = app};
	int rc;

	if (!app || !out)
		return PP_EINVAL;
	*out = NULL;
	if (!(l.items = json_array()))
		return PP_ENOMEM;
	rc = pp_store_hold_each(app->store, all, hold_json, &l);
	if (rc || l.rc) {
		json_decref(l.items);
		return rc ? rc : l.rc;
	}
	*out = l.items;
	return 0;
}
