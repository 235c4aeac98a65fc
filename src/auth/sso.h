/*
 * auth/sso — staff sign-in through the organisation's OpenID Connect provider. phiportal is the
 * relying party: authorization code flow with PKCE (S256), state and nonce kept server-side in a
 * short-lived single-use row; the code is exchanged at the provider's token endpoint (libcurl, TLS
 * verified); the ID token's signature is checked against the provider's JWKS (cached; an unknown
 * kid triggers one refetch, so key rotation works; asymmetric algorithms only) and its claims (iss,
 * aud/azp, exp/iat, nonce, and MFA through amr/acr when sso.mfa = idp). The account is found
 * through a link (a blind index of "issuer|value of sso.match_claim") made by `phiportal user
 * link-sso`. The session created is the same as after a password: MFA/ENROL when the second
 * factor is local, FULL when the provider asserted it.
 *
 * Also: account suspension and deprovisioning, which end every session and OAuth token family of
 * the user at once.
 */
#ifndef PP_AUTH_SSO_H
#define PP_AUTH_SSO_H

#include <jansson.h>
#include "auth/auth.h"

struct pp_store;
struct pp_crypto;
typedef struct pp_sso pp_sso;

#define PP_SSO_STATE_LEN 43          /* base64url of 32 random bytes */
#define PP_SSO_PENDING_TTL_MS (10 * 60 * 1000)
#define PP_SSO_VALUE_MAX 254         /* longest match-claim value accepted */
#define PP_SSO_LEEWAY_S 60           /* clock skew allowed on exp/iat */
#define PP_SSO_IAT_MAX_AGE_S 600     /* an ID token issued longer ago than this is refused */

/* which roles may sign in through SSO (workforce roles); the caller supplies the policy's list */
typedef bool (*pp_sso_staff_fn)(const char *role);

/* Reads the client secret file; the provider's documents are fetched at the first sign-in. */
int pp_sso_open(pp_sso **out, const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                pp_auth *auth, pp_sso_staff_fn is_staff);
void pp_sso_close(pp_sso *s);

/* Start-up checks beyond the config table's baselines (only when sso.enabled): issuer and
 * client_id set, the secret file present and readable only by its owner, client_auth known,
 * openid among the scopes. Writes one line per problem; returns the number of problems. */
int pp_sso_check_config(const pp_config *cfg, pp_buf *report);

/* Begins a sign-in: stores state/nonce/PKCE verifier and gives the provider URL to redirect to
 * (*url malloc'd) and the state (for the browser-binding cookie). *why on failure:
 * "idp-unavailable", "discovery-invalid". */
int pp_sso_start(pp_sso *s, char **url, char state[PP_SSO_STATE_LEN + 1], const char **why);

typedef struct pp_sso_outcome {
	int64_t user_id;        /* the account, once known (for the audit record), else 0 */
	const char *reason;     /* stable code: "ok", or why the sign-in was refused */
	bool mfa_asserted;      /* the provider asserted MFA (amr/acr) */
} pp_sso_outcome;

/* Completes a sign-in from the callback's state and code (the caller has checked the state
 * against the browser-binding cookie). On success a session is created (token_out, sess).
 * PP_EDENIED: refused (out->reason: "state-unknown", "state-expired", "token-exchange-failed",
 * "id-token-invalid", "id-token-signature", "id-token-claims", "nonce-mismatch",
 * "mfa-not-asserted", "unknown-identity", "not-staff", "account-inactive", "locked", ...);
 * PP_EIO: the provider could not be reached ("idp-unavailable"); other codes: internal. */
int pp_sso_finish(pp_sso *s, const char *state, const char *code,
                  char token_out[PP_AUTH_TOKEN_LEN + 1], pp_session *sess, pp_sso_outcome *out);

/* ---- identity links and account status (the `phiportal user` commands) ---- */
/* Links the identity whose sso.match_claim has this value (at sso.issuer) to user_id. PP_EEXISTS
 * when that identity is linked already; PP_EINVAL when sso.issuer is unset or the value bad. */
int pp_sso_link_add(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                    int64_t user_id, const char *value);
/* Sets status "active", "suspended" or "deprovisioned". Leaving "active" ends every session and
 * revokes every OAuth token family of the user in the same transaction (deprovisioning also drops
 * the SSO links); *families (optional) counts the token families revoked. A deprovisioned account
 * cannot be activated again (PP_EDENIED). */
int pp_sso_account_set_status(struct pp_store *st, int64_t user_id, const char *status,
                              int *families);

/* ---- pure checks (exposed for unit tests and the fuzz target) ---- */
typedef struct pp_sso_expect {
	const char *issuer;
	const char *client_id;
	const char *nonce;
	const char *match_claim;
	bool mfa_idp;              /* sso.mfa = idp: MFA must be asserted */
	const char *required_amr;  /* space-separated */
	const char *required_acr;  /* "" = not used */
	int64_t now_s;
} pp_sso_expect;
/* Checks an ID token's claims (already signature-verified). On success *value is the match claim's
 * value (malloc'd; e-mail addresses lower-cased) and *mfa whether amr/acr asserted MFA. On failure
 * PP_EDENIED with *why a stable code. */
int pp_sso_claims_check(const pp_sso_expect *e, json_t *claims, char **value, bool *mfa,
                        const char **why);

typedef struct pp_sso_endpoints {
	char authorization[512];
	char token[512];
	char jwks_uri[512];
} pp_sso_endpoints;
/* Parses a discovery document (JSON text): issuer must equal the configured one exactly; the three
 * endpoints must be https (http only when the issuer itself is a loopback http URL). */
int pp_sso_discovery_parse(const char *json, size_t len, const char *issuer, pp_sso_endpoints *out,
                           const char **why);
/* Parses a token endpoint response; *id_token malloc'd */
int pp_sso_token_response_parse(const char *json, size_t len, char **id_token, const char **why);
/* true for an http:// URL on 127.0.0.1, localhost or [::1] */
bool pp_sso_loopback_http(const char *url);

#endif
