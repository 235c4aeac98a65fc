/*
 * store/ for oauth/: the client registry, pending authorization requests, authorization codes,
 * token families, refresh and access tokens, used client-assertion jtis and the server's signing
 * keys. Codes and tokens are only ever stored as SHA-256 hashes; the private signing keys only
 * sealed by crypto/. None of these rows carries PHI beyond row ids and opaque patient ids.
 */
#ifndef PP_STORE_OAUTH_H
#define PP_STORE_OAUTH_H

#include "store/store.h"

typedef struct pp_store_oauth_client {
	char client_id[64];
	char name[128];
	char owner[128];
	char purpose[256];
	char type[16];             /* "patient-app", "confidential", "backend" */
	char scopes[2048];         /* registered scopes, space separated */
	char redirect_uris[2048];  /* exact URIs, space separated */
	char jwks[8192];           /* JWKS by value (JSON) or "" */
	char jwks_uri[512];
	char ip_allow[1024];       /* CIDRs, space separated ("" = any) */
	char ip_deny[1024];
	int rate_per_min;          /* token-bucket rate; 0 = unlimited */
	char status[16];           /* "active", "suspended" */
	char baa_vendor[128];
	char baa_signed[16];       /* YYYY-MM-DD or "" */
	char baa_expires[16];      /* YYYY-MM-DD or "" */
	int64_t created_ms;
	char launch_uri[512];      /* where an EHR launch sends the browser ("" = no EHR launch) */
} pp_store_oauth_client;

int pp_store_oauth_client_insert(pp_store *st, const pp_store_oauth_client *c); /* PP_EEXISTS */
int pp_store_oauth_client_get(pp_store *st, const char *client_id, pp_store_oauth_client *out);
typedef int (*pp_store_oauth_client_cb)(void *ctx, const pp_store_oauth_client *c);
int pp_store_oauth_client_each(pp_store *st, pp_store_oauth_client_cb cb, void *ctx);
int pp_store_oauth_client_set_status(pp_store *st, const char *client_id, const char *status);

/* a validated /authorize request waiting for the user's decision */
typedef struct pp_store_oauth_request {
	char id[48];
	char client_id[64];
	char redirect_uri[512];
	char scope[2048];
	char state[512];
	char code_challenge[128];
	char nonce[256];
	int64_t created_ms, expires_ms;
	int done;
	int has_launch;            /* an EHR launch: launch_hash names the oauth_launch row */
	uint8_t launch_hash[32];
} pp_store_oauth_request;
int pp_store_oauth_request_insert(pp_store *st, const pp_store_oauth_request *q);
int pp_store_oauth_request_get(pp_store *st, const char *id, pp_store_oauth_request *out);
/* marks the request decided; PP_ENOTFOUND when absent, expired or already decided */
int pp_store_oauth_request_finish(pp_store *st, const char *id, int64_t now_ms);

/* An EHR launch context: a staff member opened an app from a patient's chart. Only the SHA-256 of
 * the launch id handed to the app is stored. */
typedef struct pp_store_oauth_launch {
	uint8_t id_hash[32];
	char client_id[64];
	int64_t user_id;
	int64_t patient_id;
	char patient_pub[40];
	int64_t created_ms, expires_ms, used_ms;
} pp_store_oauth_launch;
int pp_store_oauth_launch_insert(pp_store *st, const pp_store_oauth_launch *l);
int pp_store_oauth_launch_get(pp_store *st, const uint8_t id_hash[32], pp_store_oauth_launch *out);
/* marks it used once: PP_ENOTFOUND when absent, PP_EEXISTS when already used */
int pp_store_oauth_launch_use(pp_store *st, const uint8_t id_hash[32], int64_t now_ms);

typedef struct pp_store_oauth_family {
	char id[48];
	char client_id[64];
	int64_t user_id;
	char user_role[24];
	int64_t patient_id;
	char patient_pub[40];
	char scope[2048];
	int64_t created_ms;
	int64_t revoked_ms;        /* 0 = live */
} pp_store_oauth_family;
int pp_store_oauth_family_insert(pp_store *st, const pp_store_oauth_family *f);
int pp_store_oauth_family_get(pp_store *st, const char *id, pp_store_oauth_family *out);
/* revokes one family (no-op when already revoked) */
int pp_store_oauth_family_revoke(pp_store *st, const char *id, const char *reason, int64_t now_ms);
/* revokes every live family of one user with one client; *n = families revoked */
int pp_store_oauth_family_revoke_user_client(pp_store *st, int64_t user_id, const char *client_id,
                                             int64_t now_ms, int *n);
/* revokes every live family of one user, with any client (suspension, deprovisioning); *n =
 * families revoked */
int pp_store_oauth_family_revoke_user(pp_store *st, int64_t user_id, const char *reason,
                                      int64_t now_ms, int *n);
/* live families of one user, newest first */
typedef int (*pp_store_oauth_family_cb)(void *ctx, const pp_store_oauth_family *f);
int pp_store_oauth_family_each_user(pp_store *st, int64_t user_id, pp_store_oauth_family_cb cb,
                                    void *ctx);

typedef struct pp_store_oauth_code {
	uint8_t code_hash[32];
	char client_id[64];
	char family_id[48];
	int64_t user_id;
	char user_role[24];
	int64_t patient_id;
	char patient_pub[40];
	char scope[2048];
	char redirect_uri[512];
	char code_challenge[128];
	char nonce[256];
	int64_t created_ms, expires_ms, used_ms;
} pp_store_oauth_code;
int pp_store_oauth_code_insert(pp_store *st, const pp_store_oauth_code *c);
/* Marks the code used and returns it. PP_EEXISTS (with *out filled) when it was used before — a
 * replay; PP_ENOTFOUND when unknown. Expiry is the caller's check. */
int pp_store_oauth_code_consume(pp_store *st, const uint8_t hash[32], int64_t now_ms,
                                pp_store_oauth_code *out);

int pp_store_oauth_refresh_insert(pp_store *st, const uint8_t hash[32], const char *family_id,
                                  int64_t created_ms, int64_t expires_ms);
/* Marks the refresh token used and gives its family. PP_EEXISTS (family_id filled) when it was
 * used before — reuse; PP_ENOTFOUND when unknown; *expires_ms for the caller's expiry check. */
int pp_store_oauth_refresh_use(pp_store *st, const uint8_t hash[32], int64_t now_ms,
                               char family_id[48], int64_t *expires_ms);
/* the family of a refresh token, used or not (revocation) */
int pp_store_oauth_refresh_family(pp_store *st, const uint8_t hash[32], char family_id[48]);

typedef struct pp_store_oauth_access {
	uint8_t token_hash[32];
	int64_t created_ms, expires_ms, revoked_ms;
	pp_store_oauth_family family;
} pp_store_oauth_access;
int pp_store_oauth_access_insert(pp_store *st, const uint8_t hash[32], const char *family_id,
                                 int64_t created_ms, int64_t expires_ms);
/* the token joined with its family */
int pp_store_oauth_access_get(pp_store *st, const uint8_t hash[32], pp_store_oauth_access *out);
int pp_store_oauth_access_revoke(pp_store *st, const uint8_t hash[32], int64_t now_ms);

/* records a client assertion's jti until it expires: PP_EEXISTS when seen before (replay) */
int pp_store_oauth_jti_use(pp_store *st, const char *client_id, const char *jti,
                           int64_t expires_ms, int64_t now_ms);

typedef struct pp_store_oauth_key {
	int64_t id;
	char kid[64];
	char alg[8];
	uint8_t *private_enc;      /* AAD ("oauth_signing_key","private",id); free with _clear */
	size_t private_enc_len;
	char *public_jwk;          /* JSON, malloc'd */
	int64_t created_ms;
} pp_store_oauth_key;
void pp_store_oauth_key_clear(pp_store_oauth_key *k);
int pp_store_oauth_key_insert(pp_store *st, const pp_store_oauth_key *k);
/* the newest key for an algorithm; PP_ENOTFOUND when none */
int pp_store_oauth_key_get(pp_store *st, const char *alg, pp_store_oauth_key *out);

#endif
