/* jobs: the retention run. A listing pass finds everything past its retention (marking what an
 * active legal hold keeps back); the purge pass then takes the unheld items one at a time, each in
 * its own store transaction that re-checks the holds under the write lock (so a hold placed while
 * the run is going is honoured), deletes the rows, writes the item's audit record and commits —
 * or rolls back and stops when the record cannot be made durable. A file is crypto-shredded only
 * after that commit: its key and blob are outside the transaction's reach, so they are destroyed
 * once the record saying so is durable, and a failed audit leaves the file whole for the next
 * run. Drafts go with the message retention. Afterwards the WAL is checkpointed and truncated so
 * that deleted pages survive only as zeros (secure_delete). */
#include "jobs/jobs_internal.h"

#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL
#define PAGE 500

static const char *const KIND_NAME[] = {"message", "thread", "attachment", "document", "draft"};
static const char *const KIND_RTYPE[] = {"Message", "MessageThread", "Binary", "Binary",
                                         "MessageDraft"};
/* attachments first: their holds are found through their message's thread; drafts before their
 * thread can take them along, so that each has its own record */
static const enum pp_store_retention_kind ORDER[] = {PP_STORE_RET_ATTACHMENT,
                                                    PP_STORE_RET_DOCUMENT, PP_STORE_RET_DRAFT,
                                                    PP_STORE_RET_MESSAGE, PP_STORE_RET_THREAD};
#define NKINDS 5

json_t *pp_jobs_retention_policies(const pp_config *cfg)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i}", "messages_days", cfg->retention_messages_days,
	                 "attachments_days", cfg->retention_attachments_days, "documents_days",
	                 cfg->retention_documents_days, "audit_days", cfg->retention_audit_days,
	                 "interval_s", cfg->jobs_retention_interval_s);
}

static int days_of(const pp_config *cfg, enum pp_store_retention_kind k)
{
	switch (k) {
	case PP_STORE_RET_ATTACHMENT: return cfg->retention_attachments_days;
	case PP_STORE_RET_DOCUMENT: return cfg->retention_documents_days;
	default: return cfg->retention_messages_days;
	}
}

typedef struct run_ctx {
	const pp_app *app;
	pp_files *files;
	const pp_jobs_retention_opts *o;
	int64_t now;
	int list_max;
	json_t *purge, *held;
	int64_t n_purge[NKINDS], n_held[NKINDS];
	bool truncated;
	/* paging */
	int64_t last_ts, last_id;
	int seen;
	/* purge pass: the one item fetched inside the transaction */
	pp_store_retention_item one;
	bool have_one;
} run_ctx;

static int list_add(run_ctx *c, json_t *list, const pp_store_retention_item *it)
{
	json_t *j;

	if ((int)json_array_size(list) >= c->list_max) {
		c->truncated = true;
		return 0;
	}
	j = json_pack("{s:s, s:s, s:I, s:s}", "kind", KIND_NAME[it->kind], "id", it->pub_id,
	              "age_days", (json_int_t)((c->now - it->created_ms) / DAY_MS), "patient_id",
	              it->patient_pub);
	if (j && it->held)
		json_object_set_new(j, "hold_id", json_string(it->hold_pub));
	return !j || json_array_append_new(list, j) ? PP_ENOMEM : 0;
}

static int list_one(void *vctx, const pp_store_retention_item *it)
{
	run_ctx *c = vctx;

	c->last_ts = it->created_ms;
	c->last_id = it->row_id;
	c->seen++;
	if (it->held) {
		c->n_held[it->kind]++;
		return list_add(c, c->held, it);
	}
	if (!c->o->dry_run)
		return 0;   /* the purge pass lists what really went */
	c->n_purge[it->kind]++;
	return list_add(c, c->purge, it);
}

/* the listing pass over one kind, page by page */
static int list_kind(run_ctx *c, enum pp_store_retention_kind k)
{
	pp_store_retention_query q = {.kind = k, .after_ms = -1, .limit = PAGE,
	                              .before_ms = c->now - (int64_t)days_of(c->app->cfg, k) * DAY_MS};
	int rc;

	do {
		c->seen = 0;
		if ((rc = pp_store_retention_each(c->app->store, &q, list_one, c)))
			return rc;
		q.after_ms = c->last_ts;
		q.after_id = c->last_id;
	} while (c->seen == PAGE);
	return 0;
}

static int take_one(void *vctx, const pp_store_retention_item *it)
{
	run_ctx *c = vctx;

	c->one = *it;
	c->have_one = true;
	return 1;
}

static int audit_item(run_ctx *c, const pp_store_retention_item *it, const char *outcome,
                      const char *why)
{
	char detail[96];
	pp_audit_event ev = {.actor = c->o->actor, .actor_role = c->o->actor_role,
	                     .patient = it->patient_pub[0] ? it->patient_pub : NULL,
	                     .action = "retention.purge", .resource_type = KIND_RTYPE[it->kind],
	                     .resource_id = it->pub_id, .outcome = outcome, .purpose = "operations",
	                     .detail = detail};

	snprintf(detail, sizeof detail, "kind:%s age_days:%lld%s%s", KIND_NAME[it->kind],
	         (long long)((c->now - it->created_ms) / DAY_MS), why ? " error:" : "",
	         why ? why : "");
	return pp_audit_record(c->app->audit, &ev) ? PP_EAUDIT : 0;
}

/* the item's rows, inside its transaction (a file's key and blob go after the commit) */
static int purge_rows(run_ctx *c, const pp_store_retention_item *it)
{
	int rc;

	switch (it->kind) {
	case PP_STORE_RET_MESSAGE:
		return pp_store_retention_message_delete(c->app->store, it->row_id);
	case PP_STORE_RET_THREAD:
		return pp_store_retention_thread_delete(c->app->store, it->row_id);
	case PP_STORE_RET_DRAFT:
		return pp_store_retention_draft_delete(c->app->store, it->row_id);
	case PP_STORE_RET_DOCUMENT:
		if (it->docref_id) {
			rc = pp_store_retention_docref_delete(c->app->store, it->docref_id);
			if (rc && rc != PP_ENOTFOUND)
				return rc;
		}
		return 0;
	case PP_STORE_RET_ATTACHMENT:
		return 0;
	}
	return PP_EINVAL;
}

/* the purge pass over one kind: one item per transaction */
static int purge_kind(run_ctx *c, enum pp_store_retention_kind k)
{
	pp_store *st = c->app->store;
	pp_store_retention_query q = {.kind = k, .after_ms = -1, .limit = 1, .unheld_only = true,
	                              .before_ms = c->now - (int64_t)days_of(c->app->cfg, k) * DAY_MS};
	bool file = k == PP_STORE_RET_ATTACHMENT || k == PP_STORE_RET_DOCUMENT;
	int rc;

	for (;;) {
		c->have_one = false;
		if ((rc = pp_store_begin(st)))
			return rc;
		rc = pp_store_retention_each(st, &q, take_one, c);
		if (rc < 0 || !c->have_one) {
			pp_store_rollback(st);
			return rc < 0 ? rc : 0;
		}
		q.after_ms = c->one.created_ms;
		q.after_id = c->one.row_id;
		if ((rc = purge_rows(c, &c->one))) {
			pp_store_rollback(st);
			pp_log_error("retention: purging a %s failed: %s", KIND_NAME[k], pp_strerror(rc));
			if (audit_item(c, &c->one, "failure", pp_strerror(rc)))
				return PP_EAUDIT;
			return rc;
		}
		if ((rc = audit_item(c, &c->one, "success", NULL))) {
			pp_store_rollback(st);
			pp_log_error("retention: audit record failed; run stopped, item kept");
			return rc;
		}
		if ((rc = pp_store_commit(st))) {
			pp_store_rollback(st);
			return rc;
		}
		/* the record is durable: now the file's key and then its blob. Should this fail, the
		 * file is still listed (not "shredded") and the next run shreds it; the failure is
		 * recorded beside the success record, and the run stops. */
		if (file && (rc = pp_files_shred(c->files, c->one.pub_id))) {
			pp_log_error("retention: shredding a %s failed: %s", KIND_NAME[k], pp_strerror(rc));
			if (audit_item(c, &c->one, "failure", pp_strerror(rc)))
				return PP_EAUDIT;
			return rc;
		}
		c->n_purge[k]++;
		if ((rc = list_add(c, c->purge, &c->one)))
			return rc;
	}
}

static void counts_detail(const run_ctx *c, char *out, size_t cap)
{
	int64_t held = 0;

	for (int i = 0; i < NKINDS; i++)
		held += c->n_held[i];
	snprintf(out, cap, "message:%lld thread:%lld attachment:%lld document:%lld draft:%lld "
	         "held:%lld", (long long)c->n_purge[0], (long long)c->n_purge[1],
	         (long long)c->n_purge[2], (long long)c->n_purge[3], (long long)c->n_purge[4],
	         (long long)held);
}

static json_t *counts_json(const int64_t *n)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "message", (json_int_t)n[0], "thread",
	                 (json_int_t)n[1], "attachment", (json_int_t)n[2], "document",
	                 (json_int_t)n[3], "draft", (json_int_t)n[4]);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int pp_jobs_retention_run(const pp_app *app, pp_files *files, const pp_jobs_retention_opts *o,
                          json_t **report)
{
	run_ctx c;
	char at[32], detail[160], audit_path[1024];
	int64_t audit_old = -1;
	int rc = 0, busy = 1;
	bool wal_truncated = false;
	pp_audit_event ev = {.actor = o ? o->actor : NULL, .actor_role = o ? o->actor_role : NULL,
	                     .resource_type = "Retention", .outcome = "success",
	                     .purpose = "operations", .detail = detail};

	if (!app || !o || !o->actor || !report)
		return PP_EINVAL;
	*report = NULL;
	memset(&c, 0, sizeof c);
	c.app = app;
	c.files = files;
	c.o = o;
	c.now = pp_clock_now_ms();
	c.list_max = o->list_max > 0 ? o->list_max : PP_JOBS_LIST_MAX;
	c.purge = json_array();
	c.held = json_array();
	if (!c.purge || !c.held) {
		rc = PP_ENOMEM;
		goto out;
	}
	/* listing: what is past its retention, and what a hold keeps back */
	for (int i = 0; i < NKINDS; i++) {
		enum pp_store_retention_kind k = ORDER[i];
		if (!files && (k == PP_STORE_RET_ATTACHMENT || k == PP_STORE_RET_DOCUMENT))
			continue;
		c.last_ts = -1;
		c.last_id = 0;
		if ((rc = list_kind(&c, k)))
			goto out;
	}
	pp_config_path(app->cfg, app->cfg->audit_path, audit_path, sizeof audit_path);
	if (pp_store_retention_audit_count_before(
	        audit_path, c.now - (int64_t)app->cfg->retention_audit_days * DAY_MS, &audit_old))
		audit_old = -1;
	if (o->dry_run) {
		counts_detail(&c, detail, sizeof detail);
		ev.action = "retention.dry_run";
		if (pp_audit_record(app->audit, &ev)) {
			rc = PP_EAUDIT;
			goto out;
		}
	} else {
		if ((rc = pp_store_retention_secure_delete(app->store)))
			goto out;
		for (int i = 0; i < NKINDS && !rc; i++) {
			enum pp_store_retention_kind k = ORDER[i];
			if (!files && (k == PP_STORE_RET_ATTACHMENT || k == PP_STORE_RET_DOCUMENT))
				continue;
			rc = purge_kind(&c, k);
		}
		/* the deleted pages are zeroed in the database; the WAL still holds earlier frames with
		 * the old content until it is checkpointed and truncated (readers may delay it) */
		for (int tries = 0; tries < 10 && busy; tries++) {
			if (tries)
				sleep_ms(200);
			if (pp_store_retention_checkpoint(app->store, &busy))
				break;
		}
		wal_truncated = !busy;
		if (!wal_truncated)
			pp_log_warn("retention: the WAL could not be truncated now (readers); it will be at "
			            "the next checkpoint");
		counts_detail(&c, detail, sizeof detail);
		ev.action = "retention.run";
		ev.outcome = rc ? "failure" : "success";
		if (pp_audit_record(app->audit, &ev) && !rc)
			rc = PP_EAUDIT;
	}
out:
	pp_clock_format_iso(c.now, at);
	if (c.purge && c.held) {
		*report = json_pack("{s:b, s:s, s:o, s:O, s:O, s:{s:o, s:o}, s:b, s:{s:i, s:I, s:i}}",
		                    "dry_run", o->dry_run, "at", at, "policies",
		                    pp_jobs_retention_policies(app->cfg), "purge", c.purge, "held", c.held,
		                    "counts", "purge", counts_json(c.n_purge), "held",
		                    counts_json(c.n_held), "truncated", c.truncated, "audit",
		                    "retention_days", app->cfg->retention_audit_days,
		                    "older_than_retention", (json_int_t)audit_old, "purged", 0);
		if (*report && !o->dry_run)
			json_object_set_new(*report, "wal_truncated", json_boolean(wal_truncated));
		if (*report && !files)
			json_object_set_new(*report, "files_skipped", json_true());
	}
	json_decref(c.purge);
	json_decref(c.held);
	if (!*report && !rc)
		rc = PP_ENOMEM;
	return rc;
}
