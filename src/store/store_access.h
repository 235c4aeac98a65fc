/* store/ for policy/ and the pool and care-team administration: message pools (care-team pools
 * such as "Dr. Reyes' team" or "Billing"), their staff members and care-team relationships between
 * staff and patients. None of these rows hold PHI beyond the link itself (row ids only). */
#ifndef PP_STORE_ACCESS_H
#define PP_STORE_ACCESS_H

#include "store/store.h"

typedef struct pp_store_pool {
	int64_t id;
	char name[96];           /* a team's name, e.g. "Dr. Reyes' team" (not PHI) */
	char kind[16];           /* "clinical", "billing", "front-desk" */
	char turnaround[120];    /* shown to patients before they send, e.g. "within 2 business days" */
	int64_t created_ms;
} pp_store_pool;

/* PP_EEXISTS when the name is taken; *id gets the new pool's id */
int pp_store_pool_insert(pp_store *st, const pp_store_pool *p, int64_t *id);
int pp_store_pool_get(pp_store *st, int64_t id, pp_store_pool *out);
int pp_store_pool_find(pp_store *st, const char *name, pp_store_pool *out);
typedef int (*pp_store_pool_cb)(void *ctx, const pp_store_pool *p);
/* every pool by name; with user_id > 0 only that user's pools */
int pp_store_pool_each(pp_store *st, int64_t user_id, pp_store_pool_cb cb, void *ctx);

int pp_store_pool_member_add(pp_store *st, int64_t pool_id, int64_t user_id);
int pp_store_pool_member_remove(pp_store *st, int64_t pool_id, int64_t user_id);
/* *member = 1 when user_id belongs to pool_id */
int pp_store_pool_is_member(pp_store *st, int64_t pool_id, int64_t user_id, int *member);

/* care team: until_ms 0 = open-ended */
int pp_store_care_team_add(pp_store *st, int64_t user_id, int64_t patient_id, int64_t since_ms,
                           int64_t until_ms);
int pp_store_care_team_end(pp_store *st, int64_t user_id, int64_t patient_id, int64_t until_ms);
/* *related = 1 when user_id is on patient_id's care team at now_ms */
int pp_store_care_team_has(pp_store *st, int64_t user_id, int64_t patient_id, int64_t now_ms,
                           int *related);

#endif
