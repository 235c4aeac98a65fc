/*
 * store_audit — the audit database's typed functions. The audit log lives in its own SQLite file
 * (audit.db, separate from PHI) with its own schema: audit_event (the hash chain), audit_checkpoint
 * (signed chain heads), audit_key (the public keys that signed them) and audit_meta (format).
 * Every table is append-only: triggers RAISE(ABORT) on UPDATE and DELETE.
 *
 * A pp_store_audit is one connection; it is not shared between threads at the same time (the audit
 * writer thread owns its handle, verify opens its own).
 */
#ifndef PP_STORE_AUDIT_H
#define PP_STORE_AUDIT_H

#include "core/core.h"

typedef struct pp_store_audit pp_store_audit;

/* Fields in canonical order: actor, actor_role, on_behalf_of, patient, action, resource_type,
 * resource_id, outcome, source_ip, user_agent, session_id, purpose, request_id, detail. */
#define PP_STORE_AUDIT_NFIELDS 14

typedef struct pp_store_audit_row {
	int64_t seq;
	int64_t ts_ms;
	const char *field[PP_STORE_AUDIT_NFIELDS];    /* NULL = SQL NULL; not necessarily NUL-free */
	size_t field_len[PP_STORE_AUDIT_NFIELDS];
	uint8_t prev_hash[32];
	uint8_t hash[32];
} pp_store_audit_row;

typedef struct pp_store_audit_checkpoint {
	int64_t id;
	int64_t seq;
	int64_t ts_ms;
	uint8_t hash[32];
	uint8_t sig[64];
	int64_t key_id;          /* audit_key.id of the key that signed */
} pp_store_audit_checkpoint;

typedef struct pp_store_audit_key {
	int64_t id;
	uint8_t pub[32];
	int64_t first_seq;       /* the first event seq this key signs checkpoints for */
	int64_t ts_ms;
} pp_store_audit_key;

/* Opens the audit database and creates its schema when missing. With create=false a missing file
 * is PP_ENOTFOUND (verify must not create an empty log). */
int pp_store_audit_open(pp_store_audit **out, const char *path, int busy_timeout_ms, bool create);
void pp_store_audit_close(pp_store_audit *db);

int pp_store_audit_begin(pp_store_audit *db);        /* BEGIN IMMEDIATE: takes the write lock */
int pp_store_audit_begin_read(pp_store_audit *db);   /* BEGIN: a consistent snapshot for reading */
int pp_store_audit_commit(pp_store_audit *db);       /* durable (WAL, synchronous=FULL) */
int pp_store_audit_rollback(pp_store_audit *db);     /* harmless when no transaction is open */

int pp_store_audit_event_insert(pp_store_audit *db, const pp_store_audit_row *r);
/* highest seq and its hash; seq 0 and 32 zero bytes when the log is empty */
int pp_store_audit_event_last(pp_store_audit *db, int64_t *seq, uint8_t hash[32]);
int pp_store_audit_event_count(pp_store_audit *db, int64_t *n);
/* every event in seq order; the row's pointers are valid during the callback only; a non-zero
 * return from cb stops the walk and is returned */
typedef int (*pp_store_audit_event_cb)(void *ctx, const pp_store_audit_row *r);
int pp_store_audit_event_each(pp_store_audit *db, pp_store_audit_event_cb cb, void *ctx);
/* one patient's events (patient = opaque id) since since_ms, newest first, at most limit */
int pp_store_audit_event_patient(pp_store_audit *db, const char *patient, int64_t since_ms,
                                 int limit, pp_store_audit_event_cb cb, void *ctx);

int pp_store_audit_checkpoint_insert(pp_store_audit *db, const pp_store_audit_checkpoint *c);
/* the checkpoint with the highest seq (latest written on ties); PP_ENOTFOUND when none */
int pp_store_audit_checkpoint_last(pp_store_audit *db, pp_store_audit_checkpoint *out);
/* all checkpoints ordered by seq, then id; *rows is malloc'd (free()) */
int pp_store_audit_checkpoint_list(pp_store_audit *db, pp_store_audit_checkpoint **rows, size_t *n);

/* inserts the key and sets k->id */
int pp_store_audit_key_insert(pp_store_audit *db, pp_store_audit_key *k);
/* all keys in id order; *rows is malloc'd (free()) */
int pp_store_audit_key_list(pp_store_audit *db, pp_store_audit_key **rows, size_t *n);

/* how many of the append-only triggers are in place (a missing one is a sign of tampering) */
int pp_store_audit_guards(pp_store_audit *db, int *present, int *expected);

#endif
