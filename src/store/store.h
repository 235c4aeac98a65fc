/*
 * store — the storage interface. All SQL in phiportal lives in this folder, only as prepared
 * statements, only behind typed functions. SQLite (WAL, foreign keys) is the embedded backend; a
 * PostgreSQL backend can implement the same functions later without touching callers.
 *
 * The store never sees plaintext PHI: callers pass ciphertext (sealed by crypto/) and blind indexes.
 * Thread model: one pp_store is shared by all threads; each thread gets its own SQLite connection
 * (opened lazily), so reads run in parallel under WAL and writes are serialised by SQLite.
 */
#ifndef PP_STORE_H
#define PP_STORE_H

#include "core/core.h"

typedef struct pp_store pp_store;

/* Opens (creating if needed) the database and applies numbered migrations. */
int pp_store_open(pp_store **out, const char *path);
void pp_store_close(pp_store *st);
int pp_store_schema_version(pp_store *st, int *version);

/* transactions on the calling thread's connection */
int pp_store_begin(pp_store *st);
int pp_store_commit(pp_store *st);
int pp_store_rollback(pp_store *st);

/* Rows holding ciphertext use ids chosen before the insert (the AAD binds the row id). */
int64_t pp_store_new_id(void);

/* ---- keys (crypto/) ---- */
typedef struct pp_store_key {
	int64_t id;
	char kind[16];          /* "dek", "bidx", "sign" */
	uint8_t *wrapped;       /* owned by the row struct; free with pp_store_key_rows_free */
	size_t wrapped_len;
	int64_t created_ms;
	int active;
} pp_store_key;
int pp_store_key_put(pp_store *st, const pp_store_key *k);
/* all keys, oldest first */
int pp_store_key_list(pp_store *st, pp_store_key **rows, size_t *n);
void pp_store_key_rows_free(pp_store_key *rows, size_t n);

/* ---- FHIR resources (fhir/) ---- */
typedef struct pp_store_resource {
	int64_t id;             /* internal row id (random) */
	char type[40];          /* FHIR resourceType */
	uint8_t lid_bidx[32];   /* blind index of "Type/logical-id" */
	char pub_id[40];        /* opaque id served by the API */
	int64_t patient_id;     /* row id of the subject Patient; 0 for shared resources */
	uint8_t *body;          /* AEAD(resource JSON); AAD ("resource","body",id) */
	size_t body_len;
	uint8_t digest[32];     /* keyed digest of the plaintext JSON (idempotent re-import) */
	int version;
	int64_t last_updated_ms;
} pp_store_resource;
void pp_store_resource_clear(pp_store_resource *r);   /* frees body */
/* insert or, when (type, lid_bidx) exists, update body/digest/version. */
int pp_store_resource_put(pp_store *st, const pp_store_resource *r);
int pp_store_resource_find_lid(pp_store *st, const char *type, const uint8_t lid_bidx[32],
                               pp_store_resource *out);
int pp_store_resource_get_pub(pp_store *st, const char *type, const char *pub_id,
                              pp_store_resource *out);
int pp_store_resource_get(pp_store *st, int64_t id, pp_store_resource *out);
/* the pub_id of (type, lid_bidx) without reading the row's body; PP_ENOTFOUND when none */
int pp_store_resource_pub_of_lid(pp_store *st, const char *type, const uint8_t lid_bidx[32],
                                 char *pub_id, size_t cap);
typedef int (*pp_store_resource_cb)(void *ctx, const pp_store_resource *r); /* non-zero stops */
/* resources of one type (or all when type is NULL) for one patient */
int pp_store_resource_each_for_patient(pp_store *st, int64_t patient_id, const char *type,
                                       pp_store_resource_cb cb, void *ctx);
int pp_store_resource_each_of_type(pp_store *st, const char *type, pp_store_resource_cb cb,
                                   void *ctx);
/* at most limit rows of one type, in row-id order (a bounded scan for the FHIR API) */
int pp_store_resource_each_of_type_limit(pp_store *st, const char *type, int limit,
                                         pp_store_resource_cb cb, void *ctx);
int pp_store_resource_count(pp_store *st, const char *type, int64_t *n);
/* As each_for_patient / each_of_type_limit (same rows, same order) but the rows come without their
 * bodies (body NULL, body_len 0): for deciding which rows to open. */
int pp_store_resource_each_meta_for_patient(pp_store *st, int64_t patient_id, const char *type,
                                            pp_store_resource_cb cb, void *ctx);
int pp_store_resource_each_meta_of_type_limit(pp_store *st, const char *type, int limit,
                                              pp_store_resource_cb cb, void *ctx);
/* the row ids of one patient's resources of one type, ascending (as each_for_patient orders them);
 * *ids is malloc'd (NULL when none), the caller frees it */
int pp_store_resource_ids_for_patient(pp_store *st, int64_t patient_id, const char *type,
                                      int64_t **ids, size_t *n);

/* ---- accounts, MFA, sessions, throttling (auth/) ---- */
typedef struct pp_store_user {
	int64_t id;
	uint8_t username_bidx[32];
	uint8_t *username_enc; size_t username_enc_len;   /* AAD ("user_account","username",id) */
	char role[24];
	int64_t patient_id;       /* for role "patient": the Patient resource row id */
	char pw_hash[160];        /* Argon2id encoded string */
	uint8_t *mfa_secret_enc; size_t mfa_secret_enc_len; /* AAD ("user_account","mfa_secret",id) */
	int mfa_enabled;
	int64_t mfa_last_step;    /* last accepted TOTP time step (reuse refused) */
	int failed_count;
	int64_t locked_until_ms;
	char status[16];          /* "active", "suspended" */
	int64_t created_ms;
} pp_store_user;
void pp_store_user_clear(pp_store_user *u);
int pp_store_user_insert(pp_store *st, const pp_store_user *u);   /* PP_EEXISTS on duplicate name */
int pp_store_user_get(pp_store *st, int64_t id, pp_store_user *out);
int pp_store_user_find(pp_store *st, const uint8_t username_bidx[32], pp_store_user *out);
int pp_store_user_set_password(pp_store *st, int64_t id, const char *pw_hash);
int pp_store_user_set_mfa(pp_store *st, int64_t id, const uint8_t *secret_enc, size_t len,
                          int enabled);
/* compare-and-set of the last TOTP step: succeeds only when step > stored step */
int pp_store_user_mfa_advance(pp_store *st, int64_t id, int64_t step);
int pp_store_user_set_lock(pp_store *st, int64_t id, int failed_count, int64_t locked_until_ms);
/* atomically counts one failed authentication; when the count reaches threshold the account is
 * locked until lock_until_ms and the count restarts at 0. Returns the new values. */
int pp_store_user_record_failure(pp_store *st, int64_t id, int threshold, int64_t lock_until_ms,
                                 int *failed_count, int64_t *locked_until_ms);
int pp_store_user_set_status(pp_store *st, int64_t id, const char *status);

int pp_store_recovery_replace(pp_store *st, int64_t user_id, const uint8_t (*hashes)[32],
                              size_t n);
/* marks the matching unused code used; PP_ENOTFOUND when none matches */
int pp_store_recovery_use(pp_store *st, int64_t user_id, const uint8_t hash[32], int64_t now_ms);
int pp_store_recovery_remaining(pp_store *st, int64_t user_id, int *n);

typedef struct pp_store_session {
	uint8_t token_hash[32];
	int64_t user_id;
	char state[16];           /* "mfa", "enrol", "full" */
	char csrf[64];
	int64_t created_ms;
	int64_t last_seen_ms;
} pp_store_session;
int pp_store_session_insert(pp_store *st, const pp_store_session *s);
int pp_store_session_get(pp_store *st, const uint8_t token_hash[32], pp_store_session *out);
int pp_store_session_touch(pp_store *st, const uint8_t token_hash[32], int64_t now_ms);
int pp_store_session_delete(pp_store *st, const uint8_t token_hash[32]);
int pp_store_session_delete_user(pp_store *st, int64_t user_id);
int pp_store_session_purge(pp_store *st, int64_t idle_before_ms, int64_t created_before_ms);

#endif
