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

/* *yes = 1 when one of user_id's pools has a conversation with patient_id */
int pp_store_pool_thread_with(pp_store *st, int64_t user_id, int64_t patient_id, int *yes);

typedef int (*pp_store_care_team_cb)(void *ctx, int64_t patient_id);
/* the patients on user_id's care team at now_ms */
int pp_store_care_team_each(pp_store *st, int64_t user_id, int64_t now_ms,
                            pp_store_care_team_cb cb, void *ctx);

/* break-glass grants: reason_enc and note_enc are sealed by the caller (AAD "break_glass",
 * "reason"/"note", id) */
typedef struct pp_store_break_glass {
	int64_t id;                /* random row id (AAD) */
	char pub_id[40];           /* opaque id for the API */
	int64_t user_id, patient_id;
	char reason_code[32];
	uint8_t *reason_enc; size_t reason_enc_len;
	int64_t started_ms, expires_ms;
	char status[8];            /* "open", "closed" */
	int64_t reviewer_id, reviewed_ms;
	char outcome[32];
	uint8_t *note_enc; size_t note_enc_len;
} pp_store_break_glass;
void pp_store_break_glass_clear(pp_store_break_glass *b);   /* frees the sealed blobs */
int pp_store_break_glass_insert(pp_store *st, const pp_store_break_glass *b);
int pp_store_break_glass_get(pp_store *st, const char *pub_id, pp_store_break_glass *out);
/* the latest grant of user_id to patient_id still running at now_ms: PP_ENOTFOUND when none */
int pp_store_break_glass_active(pp_store *st, int64_t user_id, int64_t patient_id, int64_t now_ms,
                                pp_store_break_glass *out);
typedef int (*pp_store_break_glass_cb)(void *ctx, const pp_store_break_glass *b);
/* the review queue, oldest first: status "open" or "closed" ("" = all), at most limit rows */
int pp_store_break_glass_each(pp_store *st, const char *status, int limit,
                              pp_store_break_glass_cb cb, void *ctx);
/* closes an open review: PP_ENOTFOUND when absent or already closed */
int pp_store_break_glass_close(pp_store *st, const char *pub_id, int64_t reviewer_id,
                               int64_t now_ms, const char *outcome, const uint8_t *note_enc,
                               size_t note_enc_len);

/* proxy grants; dob_enc sealed by the caller (AAD "proxy_grant", "dob", id) */
typedef struct pp_store_proxy {
	int64_t id;
	char pub_id[40];
	int64_t proxy_user_id, patient_id;
	char relationship[16];     /* "parent", "guardian", "caregiver" */
	char scope[16];            /* "full", "no-messaging", "billing-only" */
	int64_t granted_by;
	uint8_t *dob_enc; size_t dob_enc_len;
	int64_t created_ms, expires_ms, revoked_ms, revoked_by, adult_ok_ms;
} pp_store_proxy;
void pp_store_proxy_clear(pp_store_proxy *g);
int pp_store_proxy_insert(pp_store *st, const pp_store_proxy *g);
int pp_store_proxy_get(pp_store *st, const char *pub_id, pp_store_proxy *out);
/* the newest unrevoked, unexpired grant of proxy_user_id for patient_id at now_ms */
int pp_store_proxy_active(pp_store *st, int64_t proxy_user_id, int64_t patient_id, int64_t now_ms,
                          pp_store_proxy *out);
typedef int (*pp_store_proxy_cb)(void *ctx, const pp_store_proxy *g);
/* by patient (proxy_user_id 0) or by proxy (patient_id 0); unrevoked only unless all */
int pp_store_proxy_each(pp_store *st, int64_t patient_id, int64_t proxy_user_id, bool all,
                        pp_store_proxy_cb cb, void *ctx);
/* PP_ENOTFOUND when absent or already revoked */
int pp_store_proxy_revoke(pp_store *st, const char *pub_id, int64_t by, int64_t now_ms);
int pp_store_proxy_adult_ok(pp_store *st, const char *pub_id, int64_t now_ms);

/* consent choices (defaults when no row: apps yes, sensitive data to proxies no) */
typedef struct pp_store_consent {
	int share_apps;
	int share_sensitive_proxies;
	int64_t updated_ms, updated_by;
} pp_store_consent;
int pp_store_consent_get(pp_store *st, int64_t patient_id, pp_store_consent *out);
/* written only by pp_store_consent_link (store_consent.h), with the Consent resource that records
 * the choices, so that what is enforced is always what is recorded */

#endif
