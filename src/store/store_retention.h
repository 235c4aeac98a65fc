/* store/ for jobs/: retention and legal holds. Legal holds (on a patient — all their messages,
 * attachments and documents — or on one message thread) with the reason sealed by crypto/ (AAD
 * ("legal_hold","reason",id)); the queries that find what is past its retention (messages, whole
 * threads, attachment and document files), each marked when an active hold covers it; the deletes
 * of the purge; and the database hygiene around it (secure_delete, WAL checkpoint(TRUNCATE)) so
 * that deleted ciphertext does not survive in the database or WAL files. Rows here hold opaque ids
 * and row ids only; the content itself is never read. */
#ifndef PP_STORE_RETENTION_H
#define PP_STORE_RETENTION_H

#include "store/store.h"

#define PP_STORE_HOLD_PUB_LEN 33   /* 32 hex characters + NUL */

typedef struct pp_store_hold {
	int64_t id;                       /* random row id (the AAD of reason_enc) */
	char pub_id[PP_STORE_HOLD_PUB_LEN];
	char scope[8];                    /* "patient" or "thread" */
	int64_t patient_id;               /* Patient resource row (scope "patient"), else 0 */
	int64_t thread_id;                /* msg_thread row (scope "thread"), else 0 */
	uint8_t *reason_enc; size_t reason_enc_len;
	char placed_by[48];               /* actor: "user:<id>" or "system:cli" */
	int64_t placed_ms;
	int64_t released_ms;              /* 0 while active */
	char released_by[48];
	/* filled by get/each: the opaque ids of the target (not stored in the hold row) */
	char patient_pub[40];             /* the patient (for a thread: the thread's patient) */
	char thread_pub[40];              /* scope "thread": the thread's pub_id */
} pp_store_hold;
void pp_store_hold_clear(pp_store_hold *h);      /* frees reason_enc */

/* PP_EINVAL for a bad scope or a missing target */
int pp_store_hold_insert(pp_store *st, const pp_store_hold *h);
int pp_store_hold_get(pp_store *st, const char *pub_id, pp_store_hold *out);
/* PP_ENOTFOUND when there is no such hold or it is already released */
int pp_store_hold_release(pp_store *st, const char *pub_id, const char *by, int64_t now_ms);
typedef int (*pp_store_hold_cb)(void *ctx, const pp_store_hold *h);   /* non-zero stops */
/* holds, newest first; active ones only unless all */
int pp_store_hold_each(pp_store *st, bool all, pp_store_hold_cb cb, void *ctx);

/* the row id and patient row id of a thread by its pub_id (PP_ENOTFOUND when none) */
int pp_store_retention_thread_find(pp_store *st, const char *pub_id, int64_t *thread_id,
                                   int64_t *patient_id);

/* ---- what is past its retention ---- */
enum pp_store_retention_kind {
	PP_STORE_RET_MESSAGE,      /* msg_message rows created before the cutoff */
	PP_STORE_RET_THREAD,       /* msg_thread rows last updated before the cutoff whose messages are
	                            * all older than the cutoff (the subject goes with the last one) */
	PP_STORE_RET_ATTACHMENT,   /* files attached to a message (kind "attachment" or linked) */
	PP_STORE_RET_DOCUMENT,     /* other uploaded files and documents */
	PP_STORE_RET_DRAFT,        /* msg_draft rows last saved before the cutoff (message retention),
	                            * in threads that live on; pub_id is "<thread pub_id>/draft" */
};

typedef struct pp_store_retention_item {
	enum pp_store_retention_kind kind;
	int64_t row_id;
	char pub_id[40];              /* opaque id of the message, thread or file */
	int64_t patient_id;
	char patient_pub[40];         /* the Patient's opaque id ("" when it has none) */
	int64_t created_ms;           /* threads: last update */
	int64_t docref_id;            /* documents: the DocumentReference row, 0 when none */
	bool held;                    /* an active legal hold covers it */
	char hold_pub[40];            /* one covering hold's pub_id */
} pp_store_retention_item;
typedef int (*pp_store_retention_cb)(void *ctx, const pp_store_retention_item *it);

/* Items of one kind older than before_ms, oldest first, at most limit, after the row id after_id
 * in that order's tie-break (pass 0, then the last row seen's created_ms/row_id to page):
 * paging is by (created_ms, row_id) > (after_ms, after_id). With held_only/unheld_only false both
 * are returned, each marked. */
typedef struct pp_store_retention_query {
	enum pp_store_retention_kind kind;
	int64_t before_ms;
	int64_t after_ms, after_id;   /* paging cursor; after_ms -1 to start */
	int limit;
	bool unheld_only;
} pp_store_retention_query;
int pp_store_retention_each(pp_store *st, const pp_store_retention_query *q,
                            pp_store_retention_cb cb, void *ctx);

/* the purge's deletes; PP_ENOTFOUND when the row is already gone */
int pp_store_retention_message_delete(pp_store *st, int64_t message_id);
int pp_store_retention_thread_delete(pp_store *st, int64_t thread_id);   /* with drafts, events */
int pp_store_retention_docref_delete(pp_store *st, int64_t resource_id);  /* DocumentReference */
int pp_store_retention_draft_delete(pp_store *st, int64_t draft_id);

/* PRAGMA secure_delete=ON on the calling thread's connection (deleted content is overwritten) */
int pp_store_retention_secure_delete(pp_store *st);
/* PRAGMA wal_checkpoint(TRUNCATE): copies the WAL into the database and truncates it to zero
 * bytes; *busy is 1 when readers kept it from completing (the caller may retry). */
int pp_store_retention_checkpoint(pp_store *st, int *busy);

/* Audit records older than before_ms in the audit database at audit_path (opened read-only;
 * nothing is ever deleted from it here). */
int pp_store_retention_audit_count_before(const char *audit_path, int64_t before_ms, int64_t *n);

#endif
