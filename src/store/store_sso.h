/* store/ for staff SSO (auth/sso*.c): the links between staff accounts and their identity at the
 * organisation's OpenID provider (only a blind index of "issuer|claim value" is stored, never the
 * e-mail address or subject itself), and the short-lived, single-use rows of sign-ins in progress
 * (keyed by the SHA-256 of the state handed to the browser; they hold the nonce and the PKCE
 * verifier, which never leave the server). */
#ifndef PP_STORE_SSO_H
#define PP_STORE_SSO_H

#include "store/store.h"

/* links the identity (blind index) to user_id; PP_EEXISTS when it is linked already (to anyone) */
int pp_store_sso_link_add(pp_store *st, const uint8_t link_bidx[32], int64_t user_id,
                          int64_t now_ms);
/* the user linked to the identity; PP_ENOTFOUND when none */
int pp_store_sso_link_find(pp_store *st, const uint8_t link_bidx[32], int64_t *user_id);
/* removes every link of a user; *n (optional) = links removed */
int pp_store_sso_link_delete_user(pp_store *st, int64_t user_id, int *n);

typedef struct pp_store_sso_pending {
	uint8_t state_hash[32];
	char nonce[64];
	char verifier[64];
	int64_t created_ms, expires_ms;
} pp_store_sso_pending;
int pp_store_sso_pending_insert(pp_store *st, const pp_store_sso_pending *p);
/* Takes (reads and deletes, atomically) the row of a state: single use. PP_ENOTFOUND when unknown
 * or already taken; expiry is the caller's check. */
int pp_store_sso_pending_take(pp_store *st, const uint8_t state_hash[32],
                              pp_store_sso_pending *out);
/* deletes rows that expired before now_ms */
int pp_store_sso_pending_purge(pp_store *st, int64_t now_ms);

#endif
