/*
 * jobs — work that runs on a schedule inside `serve` (one jobs thread) and from the command line:
 * today retention and legal holds.
 *
 * Retention: messages, message attachments and uploaded documents older than their configured
 * retention (retention.*_days) are purged unless an active legal hold covers them — messages and
 * threads by deleting their rows (sealed content included) with SQLite's secure_delete on and a WAL
 * checkpoint(TRUNCATE) afterwards, so the ciphertext survives neither in the database file nor in
 * the WAL; files by crypto-shredding (files/ destroys the file's own data key and deletes the blob),
 * documents also losing the FHIR DocumentReference made for them. Each purged item is exactly one
 * audit record ("retention.purge": kind and opaque id, never content), written inside the item's
 * store transaction: if it cannot be made durable the item stays and the run stops.
 * The audit log itself is never purged here: its records are kept at least retention.audit_days
 * (HIPAA: six years; lower values fail the configuration baseline); removing older ones needs an
 * archived, verified export, which this module does not do. A dry run lists what the next run would
 * purge and what a hold keeps back, changing nothing (one "retention.dry_run" audit record).
 *
 * Legal holds: on a patient (all their messages, attachments and documents) or on one message
 * thread, with a reason (sealed by crypto/), who placed it and when; released with who and when.
 * Placing and releasing are each one audit record. Managed by roles with "retention.manage"
 * (privacy officer, admin) over /api/v1/admin/, and by `phiportal hold` on the server's shell.
 */
#ifndef PP_JOBS_H
#define PP_JOBS_H

#include <jansson.h>

#include "core/core.h"
#include "policy/policy.h"

struct pp_files;
struct pp_http_server;

#define PP_JOBS_REASON_MAX 500         /* bytes of a hold's reason */
#define PP_JOBS_LIST_MAX 1000          /* items a report lists by default (counts are complete) */
#define PP_JOBS_PERMISSION "retention.manage"

/* ---- retention ---- */
typedef struct pp_jobs_retention_opts {
	bool dry_run;
	const char *actor;             /* audit actor: "system:cli", "system:jobs" */
	const char *actor_role;        /* "operator", "system" */
	int list_max;                  /* items listed per section of the report; 0: PP_JOBS_LIST_MAX */
} pp_jobs_retention_opts;

/* One run (or dry run) at the current time (pp_clock_now_ms). files may be NULL: attachments and
 * documents are then left alone (and reported as skipped). *report (caller decrefs; may be set on
 * failure too, describing what was done):
 *   {"dry_run": bool, "at": ISO time, "policies": {...as pp_jobs_retention_policies},
 *    "purge": [{"kind","id","age_days","patient_id"}...]   (dry run: would go; run: went)
 *    "held":  [{"kind","id","age_days","patient_id","hold_id"}...],
 *    "counts": {"purge": {"message":n,"thread":n,"attachment":n,"document":n},
 *               "held": {...same keys}},
 *    "truncated": bool (a list hit list_max),
 *    "audit": {"retention_days": n, "older_than_retention": n, "purged": 0},
 *    "wal_truncated": bool (run only)}
 * PP_EAUDIT when an audit record could not be written (the run stopped there). */
int pp_jobs_retention_run(const pp_app *app, struct pp_files *files,
                          const pp_jobs_retention_opts *o, json_t **report);
/* the policies in force, as configured: {"messages_days", "attachments_days", "documents_days",
 * "audit_days", "interval_s"} */
json_t *pp_jobs_retention_policies(const pp_config *cfg);

/* ---- legal holds ----
 * scope "patient" (target: the Patient's opaque id) or "thread" (target: the thread's opaque id).
 * Refusals set *why to a stable code: "invalid_scope", "invalid_target", "reason_required",
 * "reason_too_long", "not_found" (PP_EINVAL / PP_ENOTFOUND; the not_found attempt is audited with
 * outcome "failure"). On success hold_id gets the new hold's opaque id. p is the actor. */
int pp_jobs_hold_place(const pp_app *app, const pp_principal *p, const char *scope,
                       const char *target, const char *reason, char hold_id[33],
                       const char **why);
/* PP_ENOTFOUND when no such active hold (audited with outcome "failure") */
int pp_jobs_hold_release(const pp_app *app, const pp_principal *p, const char *hold_id);
/* the holds (active only unless all), newest first, reasons opened: [{"id","scope","target",
 * "patient_id","reason","placed_by","placed_at","released_at","released_by"}] */
int pp_jobs_holds_json(const pp_app *app, bool all, json_t **out);

/* ---- the scheduler (inside serve) ---- */
typedef struct pp_jobs pp_jobs;
/* Starts the jobs thread: a retention run every jobs.retention_interval_s (the first one interval
 * after start); with the interval 0 nothing is started and *out is NULL. app and files are borrowed
 * and must outlive pp_jobs_stop. */
int pp_jobs_start(pp_jobs **out, const pp_app *app, struct pp_files *files);
/* wakes the thread, waits for a run in progress to finish, joins; NULL-safe */
void pp_jobs_stop(pp_jobs *j);
/* runs so far (for tests) */
int pp_jobs_runs(pp_jobs *j);

/* GET /api/v1/admin/retention, POST /api/v1/admin/legal-holds,
 * DELETE /api/v1/admin/legal-holds/:id (docs/api.md "Retention and legal holds") */
int pp_jobs_routes(struct pp_http_server *s, pp_app *app);

/* `phiportal retention run [--dry-run] [--json]` and `phiportal hold add|release|list`; argv[0] is
 * "retention" or "hold". app may be NULL for --help. Returns the process exit code. */
int pp_jobs_cli(pp_app *app, struct pp_files *files, int argc, char **argv);

#endif
