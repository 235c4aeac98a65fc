/* store/ for self-enrolment (portal/api_enrol_self.c): the demographic blind index over Patient
 * records (HMAC by crypto/ of normalised family name, given name and birth date; never plaintext),
 * and the self-enrolment attempts: one row per "start", whether or not it matched a record, holding
 * a keyed digest of the one-time code and, only until the code is sent, the destination address and
 * the code sealed by crypto/ (AAD "enrol_self"/"dest"|"code"/id). */
#ifndef PP_STORE_ENROL_SELF_H
#define PP_STORE_ENROL_SELF_H

#include "store/store.h"

/* ---- demographic index ---- */
/* Patient rows whose index is missing or older than the row (resource.digest changed): up to cap */
int pp_store_enrol_index_stale(pp_store *st, int64_t *ids, size_t cap, size_t *n);
/* replaces the patient's entries (n may be 0: the record has nothing to match on) */
int pp_store_enrol_index_put(pp_store *st, int64_t patient_id, const uint8_t res_digest[32],
                             const uint8_t (*bidx)[32], size_t n);
/* distinct patients with that index value, up to cap (cap 2 tells unique from ambiguous) */
int pp_store_enrol_index_find(pp_store *st, const uint8_t bidx[32], int64_t *ids, size_t cap,
                              size_t *n);

/* ---- self-enrolment attempts ---- */
typedef struct pp_store_enrol_self {
	int64_t id;
	char pub_id[40];
	int64_t patient_id;           /* 0: no unique match */
	char channel[8];              /* "email", "sms" */
	uint8_t code_digest[32];
	uint8_t *dest_enc; size_t dest_enc_len;   /* NULL once sent (or when nothing to send) */
	uint8_t *code_enc; size_t code_enc_len;
	char send_state[8];           /* "none", "pending", "sent", "failed" */
	int send_attempts;
	int64_t send_due_ms;
	int attempts;                 /* code attempts made at finish */
	int64_t created_ms, expires_ms, used_ms;
	int64_t user_id;              /* the account created with it */
} pp_store_enrol_self;
void pp_store_enrol_self_clear(pp_store_enrol_self *e);   /* frees and wipes the ciphertexts */

int pp_store_enrol_self_insert(pp_store *st, const pp_store_enrol_self *e);
int pp_store_enrol_self_get(pp_store *st, int64_t id, pp_store_enrol_self *out);
/* counts one code attempt on the row named pub_id and reads it; PP_ENOTFOUND when unknown,
 * PP_ELOCKED when max_attempts were already made (the row is still read) */
int pp_store_enrol_self_try(pp_store *st, const char *pub_id, int max_attempts,
                            pp_store_enrol_self *out);
/* marks it used by user_id when unused and unexpired at now_ms; PP_ENOTFOUND otherwise */
int pp_store_enrol_self_use(pp_store *st, int64_t id, int64_t now_ms, int64_t user_id);
/* ids of rows whose code is waiting to be sent at now_ms */
int pp_store_enrol_self_due(pp_store *st, int64_t now_ms, int64_t *ids, size_t cap, size_t *n);
/* "sent" or "failed" (final: the sealed address and code are erased) or "pending" again at due_ms;
 * counts one send attempt */
int pp_store_enrol_self_mark(pp_store *st, int64_t id, const char *state, int64_t due_ms);
/* deletes rows that expired before before_ms; *n (optional) rows deleted */
int pp_store_enrol_self_purge(pp_store *st, int64_t before_ms, int *n);

#endif
