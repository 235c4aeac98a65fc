/*
 * oauth — the SMART App Launch 2.0 / OAuth 2.0 / OpenID Connect authorization server: client
 * registry (with BAA records for anything acting for the organisation), authorization code flow
 * with PKCE (S256 only), consent, refresh-token rotation with reuse detection, backend services
 * (client_credentials + private_key_jwt), introspection (RFC 7662), revocation (RFC 7009),
 * discovery documents and the JWKS of the server's signing keys.
 *
 * Access tokens are opaque (only their hash is stored) so that revocation ends access at once;
 * ID tokens are JWTs (RS256 / ES256). Every token issued, refused, refreshed and revoked is an
 * audit record.
 */
#ifndef PP_OAUTH_H
#define PP_OAUTH_H

#include "core/core.h"

struct pp_store;
struct pp_crypto;
struct pp_audit;
struct pp_auth;
struct pp_http_server;
struct pp_http_request;
typedef struct pp_oauth pp_oauth;

/* ---- scopes (SMART v1 and v2) ---- */
enum pp_scope_context { PP_SCOPE_PATIENT = 1, PP_SCOPE_USER = 2, PP_SCOPE_SYSTEM = 3 };
/* interactions as SMART v2 letters: c r u d s */
enum { PP_SCOPE_C = 1, PP_SCOPE_R = 2, PP_SCOPE_U = 4, PP_SCOPE_D = 8, PP_SCOPE_S = 16 };

typedef struct pp_scope {
	enum pp_scope_context context;
	char resource_type[40];    /* "*" for all */
	unsigned interactions;     /* PP_SCOPE_* bits; v1 "read" = r|s, "write" = c|u|d, "*" = all */
	char param_name[32];       /* granular v2 restriction, e.g. "category" ("" = none) */
	char param_value[128];     /* e.g. "laboratory" or "http://…|laboratory" */
	bool v1;                   /* written in the v1 form (.read/.write/.*): formatted back so */
} pp_scope;

#define PP_SCOPE_MAX 64
typedef struct pp_scope_set {
	pp_scope items[PP_SCOPE_MAX];
	int n;
	/* non-resource scopes */
	bool openid, fhir_user, profile, offline_access, online_access, launch, launch_patient;
} pp_scope_set;

/* Parses a space-separated scope string (limits: 64 scopes, 2048 bytes). Unknown non-resource
 * scopes are ignored (OAuth allows a server to grant less); malformed resource scopes are
 * PP_EINVAL. */
int pp_oauth_scope_parse(const char *text, pp_scope_set *out);
/* *dst = *src, copying only the n items in use (a set is 13 KiB, mostly unused room) */
void pp_oauth_scope_set_copy(pp_scope_set *dst, const pp_scope_set *src);
/* Does the set allow this interaction on this resource? resource may be NULL (type-level check);
 * when a granular scope names a parameter (category=…), the resource must match it. */
bool pp_oauth_scope_allows(const pp_scope_set *set, enum pp_scope_context ctx,
                           const char *resource_type, unsigned interaction, const void *resource_json);
/* the scopes as a canonical string (for token responses and introspection) */
int pp_oauth_scope_format(const pp_scope_set *set, pp_buf *out);

/* ---- bearer tokens: what a FHIR request carries ---- */
typedef struct pp_oauth_grant {
	char client_id[64];
	int64_t user_id;           /* the user who approved (0 for backend services) */
	char user_role[24];
	int64_t patient_id;        /* launch/patient context (Patient row id), 0 if none */
	char patient_pub[40];      /* its opaque id */
	pp_scope_set scopes;
	int64_t expires_ms;
	char token_id[24];         /* opaque handle for audit (prefix of the token hash) */
	char scope_text[200];      /* the scopes formatted for audit details ("" when too long) */
	uint64_t store_epoch;      /* pp_store_epoch() taken for this check (0: none), for the
	                              caches of the same request (store/store_epoch.h) */
} pp_oauth_grant;

/* Validates "Authorization: Bearer <token>" for a resource request: token known, not expired,
 * not revoked, client active, BAA valid where required, source IP allowed for the client, the
 * client's rate limit not exceeded. On failure the response headers are already set
 * (WWW-Authenticate, Retry-After) and the refusal is already audited (action
 * "oauth.authenticate", outcome "denied", detail the reason) — the caller sets status and body and
 * makes no further audit record:
 * PP_EAUTH (missing/invalid/expired/revoked → 401), PP_EDENIED (client suspended, BAA missing or
 * expired, IP refused → 403), PP_ELOCKED (rate limit → 429), PP_EAUDIT (the refusal could not be
 * recorded → 503). A missing Authorization header is PP_EAUTH without an audit record. */
int pp_oauth_authenticate(pp_oauth *o, struct pp_http_request *r, pp_oauth_grant *out);
/* an empty grant (no client, no scopes) without writing the scope set's unused room */
void pp_oauth_grant_clear(pp_oauth_grant *g);

/* Counts the records a token's client just received (one FHIR response). A client reading far more
 * than its usual pattern is flagged for review (audit "oauth.anomaly") and, with
 * oauth.anomaly_suspend, suspended at once. PP_EAUDIT when the flag could not be recorded. */
int pp_oauth_note_reads(pp_oauth *o, struct pp_http_request *r, const pp_oauth_grant *g, long n);

int pp_oauth_open(pp_oauth **out, const pp_config *cfg, struct pp_store *st,
                  struct pp_crypto *c, struct pp_audit *audit, struct pp_auth *auth);
void pp_oauth_close(pp_oauth *o);
/* registers /oauth/..., /.well-known/smart-configuration, /.well-known/openid-configuration, /jwks
 * and the consent API used by the web UI */
int pp_oauth_routes(pp_oauth *o, struct pp_http_server *s);

/* `phiportal client …` sub-commands (argv[0] == "client"); returns the process exit code */
int pp_oauth_cli(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                 struct pp_audit *audit, int argc, char **argv);
/* registers the demo patient-facing app at `init --demo`; prints its client_id */
int pp_oauth_demo_clients(pp_oauth *o, FILE *report);

#endif
