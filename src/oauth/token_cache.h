/* Private to oauth/: what pp_oauth_authenticate (server.c) decides a bearer token on — its token
 * row, family and client, reduced to the fields the checks read — and a small in-memory cache of it
 * (token_cache.c), so that a token's every request does not read three rows again. */
#ifndef PP_OAUTH_TOKEN_CACHE_H
#define PP_OAUTH_TOKEN_CACHE_H

#include "oauth/oauth.h"

typedef struct pp_oauth_token_view {
	int64_t expires_ms;
	bool revoked;               /* the token or its family */
	char client_id[64];
	int64_t user_id;
	char user_role[24];
	int64_t patient_id;
	char patient_pub[40];
	bool client_known;
	int64_t day;                /* the UTC day (days since 1970) why_unusable was decided for */
	const char *why_unusable;   /* pp_oauth_client_usable's reason that day, NULL when usable */
	char scope_text[200];       /* scopes formatted for audit details ("" when too long) */
	char ip_allow[1024], ip_deny[1024];
	int rate_per_min;
	int scopes_rc;              /* pp_oauth_scope_parse of the family's scope string */
	pp_scope_set scopes;
} pp_oauth_token_view;

typedef struct pp_oauth_token_cache pp_oauth_token_cache;
int pp_oauth_token_cache_new(pp_oauth_token_cache **out);
void pp_oauth_token_cache_free(pp_oauth_token_cache *tc);
/* true and *out when the token (by its hash) was cached under exactly this store epoch */
bool pp_oauth_token_cache_get(pp_oauth_token_cache *tc, const uint8_t hash[32], uint64_t epoch,
                              pp_oauth_token_view *out);
/* remembers v as read under epoch (the epoch taken before the rows were read); 0 is ignored */
void pp_oauth_token_cache_put(pp_oauth_token_cache *tc, const uint8_t hash[32], uint64_t epoch,
                              const pp_oauth_token_view *v);

#endif
