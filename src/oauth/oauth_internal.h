/* Private to oauth/: the server object and helpers shared by the files of the module. */
#ifndef PP_OAUTH_INTERNAL_H
#define PP_OAUTH_INTERNAL_H

#include <pthread.h>
#include <jansson.h>
#include "oauth/oauth.h"
#include "store/store.h"
#include "store/store_oauth.h"
#include "crypto/crypto.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "http/http.h"

#define PP_OAUTH_TOKEN_LEN 43          /* base64url of 32 random bytes */
#define PP_OAUTH_CODE_TTL_MS (60 * 1000)
#define PP_OAUTH_REQUEST_TTL_MS (10 * 60 * 1000)
#define PP_OAUTH_ASSERTION_MAX_S 300   /* client assertions: exp at most 5 minutes ahead */
#define PP_OAUTH_ID_TOKEN_TTL_S 300
#define PP_OAUTH_JWKS_MAX (256 * 1024)        /* a fetched jwks_uri document, bytes */
#define PP_OAUTH_JWKS_TTL_MS (5 * 60 * 1000)   /* how long a fetched JWKS is used */
#define PP_OAUTH_JWKS_REFETCH_MS 1000          /* unknown kid: refetch at most this often */
#define PP_OAUTH_JWKS_TIMEOUT_MS 5000


typedef struct pp_oauth_anomaly pp_oauth_anomaly;
typedef struct pp_oauth_jwks_cache pp_oauth_jwks_cache;
/* ---- bulk-read anomaly flags (anomaly.c) ---- */
int pp_oauth_anomaly_new(pp_oauth_anomaly **out);
void pp_oauth_anomaly_free(pp_oauth_anomaly *a);
bool pp_oauth_anomaly_note(pp_oauth_anomaly *a, const char *client_id, long n, int64_t now_ms,
                           long min_reads, int factor, long *hour_count, double *usual);

struct pp_oauth {
	const pp_config *cfg;
	pp_store *st;
	pp_crypto *crypto;
	pp_audit *audit;
	pp_auth *auth;
	char issuer[256];      /* server.public_url without a trailing slash */
	char fhir_base[300];   /* issuer + "/fhir": the only accepted `aud` */
	char token_url[300];
	pthread_mutex_t key_mu;
	void *rs_priv, *es_priv;   /* rhonabwy jwk_t *, loaded lazily */
	char *jwks_json;           /* the public keys served at /jwks */
	pp_ratelimit *rl;
	pp_oauth_anomaly *anomaly;
	pp_oauth_jwks_cache *jwks_cache;
	struct pp_oauth_token_cache *token_cache;   /* bearer tokens (token_cache.c) */
};

/* ---- scope helpers (scope.c) ---- */
/* granted = requested ∩ registered (v1 forms and wildcards understood); non-resource scopes are
 * kept when requested and registered (openid, fhirUser, launch/patient, offline_access, ...) */
int pp_oauth_scope_intersect(const pp_scope_set *requested, const pp_scope_set *allowed,
                             pp_scope_set *out);
/* is every scope of a contained in b? (refresh may narrow, never widen) */
bool pp_oauth_scope_subset(const pp_scope_set *a, const pp_scope_set *b);
/* plain-language lines for the consent screen, e.g. "Your lab results" (JSON array of strings) */
json_t *pp_oauth_scope_describe(const pp_scope_set *set);

/* ---- JOSE (jose.c) ---- */
int pp_oauth_keys_load(pp_oauth *o);
void pp_oauth_keys_free(pp_oauth *o);
/* the public JWKS as JSON text (owned by o) */
const char *pp_oauth_jwks(pp_oauth *o);
/* signs claims (borrowed) as a JWT with the configured ID-token algorithm; *out malloc'd */
int pp_oauth_sign_id_token(pp_oauth *o, json_t *claims, char **out);
/* Verifies a private_key_jwt client assertion against the client's registered JWKS: RS384 or
 * ES384 only, iss = sub = client_id, aud = the token URL, exp in the future and at most 5 minutes
 * ahead, jti present. On success *jti (malloc'd) and *exp_s are set. why gets a short reason. */
int pp_oauth_verify_assertion(pp_oauth *o, const char *assertion, const char *client_id,
                              const char *jwks_json, const char *aud, char **jti, int64_t *exp_s,
                              const char **why);
/* exposed for the fuzz target: parse a JWT's header and claims without trusting them */
int pp_oauth_jwt_inspect(const char *token, size_t len, char *alg, size_t algcap, json_t **claims);
/* is this JWKS (JSON text) usable for client assertions (RS384/ES384 public keys)? */
int pp_oauth_jwks_check(const char *jwks_json);
/* the same check for a JWKS of up to max - 1 bytes (fetched from a jwks_uri) */
int pp_oauth_jwks_check_max(const char *jwks_json, size_t max);
/* does the JWKS hold a key the assertion's header names by kid (true when it names none)? */
bool pp_oauth_jwks_has_kid(const char *jwks_json, const char *assertion);

/* ---- keys at a jwks_uri (jwks_uri.c) ---- */
int pp_oauth_jwks_cache_new(pp_oauth_jwks_cache **out);
void pp_oauth_jwks_cache_free(pp_oauth_jwks_cache *c);
/* an https:// URL without spaces, control characters or a fragment that fits the registry */
bool pp_oauth_jwks_uri_ok(const char *uri);
/* The client's JWKS from its jwks_uri (*out malloc'd): the cached copy while younger than
 * PP_OAUTH_JWKS_TTL_MS; with refresh, refetched unless fetched in the last
 * PP_OAUTH_JWKS_REFETCH_MS. On failure why is "jwks-uri-not-https", "jwks-fetch-failed",
 * "jwks-too-large" or "jwks-invalid" (never anything from the response). */
int pp_oauth_jwks_remote(pp_oauth *o, const pp_store_oauth_client *c, bool refresh, char **out,
                         const char **why);

/* ---- clients (client.c) ---- */
/* the client may receive tokens now: active, BAA on file and not expired where one is required.
 * why: "suspended", "baa-missing", "baa-expired" */
int pp_oauth_client_usable(const pp_store_oauth_client *c, int64_t now_ms, const char **why);
bool pp_oauth_client_needs_baa(const pp_store_oauth_client *c);
/* is uri one of the space-separated registered URIs (exact match)? */
bool pp_oauth_redirect_registered(const char *registered, const char *uri);

/* ---- shared (server.c) ---- */
/* SHA-256 of a token/code string */
int pp_oauth_hash(const char *token, uint8_t out[32]);
/* appends "?key=value" (or "&key=value" once the URL has a query), value percent-encoded */
int pp_oauth_url_param(pp_buf *b, const char *key, const char *value, bool *first);
/* 32 random bytes, base64url */
int pp_oauth_new_token(char out[PP_OAUTH_TOKEN_LEN + 1]);
/* an audit event for the authorization server (actor client:<id>) */
int pp_oauth_audit(pp_oauth *o, pp_http_request *r, const char *client_id, const char *user,
                   const char *patient, const char *action, const char *outcome,
                   const char *detail);

/* ---- HTTP (endpoints.c, consent.c) ---- */
int pp_oauth_endpoint_routes(pp_oauth *o, pp_http_server *s);
int pp_oauth_consent_routes(pp_oauth *o, pp_http_server *s);
/* redirect?code=…&state=… or redirect?error=…&state=… (query-encoded) */
int pp_oauth_redirect_url(const char *redirect, const char *code, const char *error,
                          const char *state, pp_buf *out);
/* issues a token family's tokens and writes the token response; detail for the audit record */
int pp_oauth_issue(pp_oauth *o, pp_http_request *r, const pp_store_oauth_client *c,
                   const pp_store_oauth_family *f, bool with_refresh, const char *nonce,
                   const char *action);

#endif
