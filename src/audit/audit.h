/*
 * audit — THE audit call. Every read or write of PHI, every sign-in event and every denied attempt
 * is one event appended to a hash-chained log in its own SQLite database (audit.db, separate from
 * PHI). Events are group-committed by one writer thread: concurrent callers share one transaction
 * and one fsync, and pp_audit_record returns only when the caller's event is durable. If it cannot
 * be made durable, pp_audit_record returns PP_EAUDIT and the caller must fail the request without
 * sending PHI. Signed checkpoints (Ed25519 via crypto/) are written every N events or T seconds.
 *
 * Chain: hash_i = SHA-256(hash_{i-1} || canonical(event_i)), hash_0's predecessor is 32 zero bytes.
 */
#ifndef PP_AUDIT_H
#define PP_AUDIT_H

#include "core/core.h"

struct pp_crypto;
typedef struct pp_audit pp_audit;

/* Every field is a NUL-terminated string or NULL; none may carry PHI beyond opaque ids
 * (patient = the Patient's opaque pub_id, never a name or MRN). */
typedef struct pp_audit_event {
	const char *actor;         /* user id ("user:123") or client id ("client:abc") */
	const char *actor_role;
	const char *on_behalf_of;  /* proxy: the patient's user the actor acts for */
	const char *patient;       /* opaque patient id the data belongs to */
	const char *action;        /* e.g. "read", "search", "login", "mfa.verify", "import" */
	const char *resource_type;
	const char *resource_id;   /* opaque id(s) */
	const char *outcome;       /* "success", "denied", "failure" */
	const char *source_ip;
	const char *user_agent;
	const char *session_id;    /* opaque session handle, never the token */
	const char *purpose;       /* purpose of use, e.g. "patient-access", "treatment" */
	const char *request_id;
	const char *detail;        /* short reason code, no PHI */
} pp_audit_event;

typedef struct pp_audit_options {
	const char *path;          /* audit database file */
	int checkpoint_every;      /* events */
	int checkpoint_seconds;
	bool group_commit;         /* false: one transaction per event (benchmark baseline) */
	int busy_timeout_ms;       /* how long a writer waits for a locked database before failing */
} pp_audit_options;

int pp_audit_open(pp_audit **out, const pp_audit_options *opt, struct pp_crypto *crypto);
/* flushes, writes a final checkpoint, stops the writer */
void pp_audit_close(pp_audit *a);
/* Appends one event; returns 0 only once it is durable. PP_EAUDIT when it could not be written. */
int pp_audit_record(pp_audit *a, const pp_audit_event *ev);
/* The same without waiting, for a request served on an I/O thread that holds its response until
 * the record is durable (see pp_http_route_quick): copies ev, queues it and returns 0; done(ctx, rc)
 * then runs once on the writer thread with 0 when the event is durable or PP_EAUDIT when it could
 * not be written. On an error return (PP_EAUDIT, PP_EINVAL) done is never called. done must be
 * short: the writer's next batch waits for it. */
typedef void (*pp_audit_done_cb)(void *ctx, int rc);
int pp_audit_submit(pp_audit *a, const pp_audit_event *ev, pp_audit_done_cb done, void *ctx);

/* A patient's trail, newest first (for "who viewed my record"): events whose patient field is the
 * given opaque id, since since_ms, at most limit; the event's strings are valid during the call. */
typedef int (*pp_audit_history_cb)(void *ctx, int64_t seq, int64_t ts_ms, const pp_audit_event *ev);
int pp_audit_history(pp_audit *a, const char *patient, int64_t since_ms, int limit,
                     pp_audit_history_cb cb, void *ctx);

/* Walks the chain and the checkpoints. Returns 0 when intact; PP_ECRYPTO otherwise, with
 * *first_bad set to the sequence number of the first bad record and a line in report. */
int pp_audit_verify(const char *path, struct pp_crypto *crypto, pp_buf *report,
                    int64_t *first_bad, int64_t *count);

#endif
