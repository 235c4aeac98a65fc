/* store/ for enrolment: one-time activation codes (only a keyed digest is stored) and the level of
 * identity assurance recorded on an account. */
#ifndef PP_STORE_ENROL_H
#define PP_STORE_ENROL_H

#include "store/store.h"

typedef struct pp_store_activation {
	uint8_t digest[32];
	int64_t patient_id;
	int64_t issued_by;        /* staff user id; 0 for the operator's CLI */
	char method[16];          /* "in-person", "self-service" */
	int64_t created_ms, expires_ms, used_ms;
	int64_t user_id;          /* the account created with it */
} pp_store_activation;

/* issuing a code voids the patient's earlier unused ones */
int pp_store_activation_insert(pp_store *st, const pp_store_activation *a);
int pp_store_activation_get(pp_store *st, const uint8_t digest[32], pp_store_activation *out);
/* marks it used by user_id when unused and unexpired at now_ms; PP_ENOTFOUND otherwise */
int pp_store_activation_use(pp_store *st, const uint8_t digest[32], int64_t now_ms,
                            int64_t user_id);
/* *user_id: the account linked to the patient (0 when none) */
int pp_store_user_for_patient(pp_store *st, int64_t patient_id, int64_t *user_id);
int pp_store_user_set_assurance(pp_store *st, int64_t user_id, const char *assurance);
int pp_store_user_get_assurance(pp_store *st, int64_t user_id, char *out, size_t cap);
/* removes an account that never got to be used (enrolment undone); PP_ENOTFOUND when absent */
int pp_store_user_delete(pp_store *st, int64_t user_id);

#endif
