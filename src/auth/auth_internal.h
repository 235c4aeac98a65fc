/*
 * Private to auth/: the pieces shared by auth.c (accounts, login), hash_pool.c (Argon2id off the
 * request threads), throttle.c (per-IP failure counting), mfa.c (TOTP, QR, recovery codes),
 * session.c and the generated common-password table.
 */
#ifndef PP_AUTH_INTERNAL_H
#define PP_AUTH_INTERNAL_H

#include <stddef.h>
#include "auth/auth.h"

struct pp_store_user;

/* the embedded common-password list: ASCII-lower-cased, de-duplicated, sorted by strcmp */
extern const char *const pp_auth_common_passwords[];
extern const size_t pp_auth_common_passwords_n;

#define PP_AUTH_HASH_MAX 160     /* fits pp_store_user.pw_hash */
#define PP_AUTH_SALT_LEN 16
#define PP_AUTH_PASSWORD_MAX 1024 /* longer inputs are refused before hashing */

/* ---- Argon2id hashing pool: a fixed number of threads and a bounded queue ---- */
typedef struct pp_auth_pool pp_auth_pool;
int pp_auth_pool_new(pp_auth_pool **out, int threads, int queue_max, uint32_t m_kib, uint32_t t,
                     uint32_t p);
void pp_auth_pool_free(pp_auth_pool *pool);   /* drains the queue, joins the threads */
/* Hash a password with a fresh random salt; PP_EBUSY at once when the queue is full. */
int pp_auth_pool_hash(pp_auth_pool *pool, const char *pw, size_t pwlen,
                      char out[PP_AUTH_HASH_MAX]);
/* 0 when the password matches, PP_EAUTH when not, PP_EBUSY when the queue is full. */
int pp_auth_pool_verify(pp_auth_pool *pool, const char *encoded, const char *pw, size_t pwlen);
/* Test hooks: hold the workers (jobs stay queued) and count the queued jobs. */
void pp_auth_pool_hold(pp_auth_pool *pool, bool hold);
int pp_auth_pool_queued(pp_auth_pool *pool);

/* ---- per-IP throttling (in memory, bounded) ---- */
typedef struct pp_auth_throttle pp_auth_throttle;
int pp_auth_throttle_new(pp_auth_throttle **out, size_t capacity, int max_failures,
                         int window_s);
void pp_auth_throttle_free(pp_auth_throttle *t);
/* PP_ELOCKED (with *retry_after_s) when ip has reached its failure budget for the window */
int pp_auth_throttle_check(pp_auth_throttle *t, const char *ip, int64_t now_ms,
                           int *retry_after_s);
void pp_auth_throttle_fail(pp_auth_throttle *t, const char *ip, int64_t now_ms);
/* the same table keyed by 16 opaque bytes (used for unknown usernames' blind indexes) */
int pp_auth_throttle_check_key(pp_auth_throttle *t, const uint8_t key[16], int64_t now_ms,
                               int *retry_after_s);
void pp_auth_throttle_fail_key(pp_auth_throttle *t, const uint8_t key[16], int64_t now_ms);
size_t pp_auth_throttle_count(pp_auth_throttle *t);   /* entries held (tests) */

/* ---- the module state ---- */
struct pp_auth {
	pp_config cfg;
	struct pp_store *st;
	struct pp_crypto *c;
	pp_auth_pool *pool;
	pp_auth_throttle *thr;
	pp_auth_throttle *ghosts;   /* unknown usernames "lock" like real ones: no enumeration */
	char dummy_hash[PP_AUTH_HASH_MAX];   /* verified for unknown users: same cost, no answer */
};

/* account lockout shared by password and MFA failures: counts one failure and locks the account
 * when the threshold is reached; returns PP_ELOCKED (with *retry_after_s) when it locked */
int pp_auth_account_fail(pp_auth *a, int64_t user_id, int64_t now_ms, int *retry_after_s);
/* PP_ELOCKED with *retry_after_s while u is locked at now_ms, else 0 */
int pp_auth_account_locked(pp_auth *a, const struct pp_store_user *u, int64_t now_ms,
                           int *retry_after_s);
/* clears the consecutive-failure count after a complete authentication */
int pp_auth_account_ok(pp_auth *a, const struct pp_store_user *u);

/* creates a session row for user u in the given state; created_ms 0 means now */
int pp_auth_session_create(pp_auth *a, const struct pp_store_user *u, enum pp_session_state state,
                           int64_t created_ms, char token_out[PP_AUTH_TOKEN_LEN + 1],
                           pp_session *out);

#endif
