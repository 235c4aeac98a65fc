/* Private to the /fhir REST API files of fhir/ (api_auth.c, api.c): the caller, responses,
 * scope checks, the audit call and the page cursor. */
#ifndef PP_FHIR_API_INTERNAL_H
#define PP_FHIR_API_INTERNAL_H

#include "fhir/fhir_internal.h"
#include "http/http.h"
#include "auth/auth.h"
#include "audit/audit.h"
#include "policy/policy.h"
#include "store/store.h"
#include "crypto/crypto.h"
#include "oauth/oauth.h"

#include <stdlib.h>

#define PP_FHIR_CONTENT_TYPE "application/fhir+json; charset=utf-8"

/* who is calling, once authenticated */
typedef struct pp_fhir_caller {
	pp_principal p;
	bool token;                  /* a bearer token (else the portal session) */
	pp_oauth_grant grant;        /* when token */
	enum pp_scope_context ctx;   /* the scope context the token's grant acts in */
	bool restricted;             /* may see one patient's compartment only ... */
	int64_t restrict_patient;    /* ... this one (0: none at all) */
	char on_behalf_of[48];     /* "user:<id>" (an app acting for a user) or "patient:<id>" (a proxy) */
	char scopes[200];            /* granted scopes for the audit detail (truncated) */
	uint64_t epoch;              /* store epoch at authentication, for cache.c (0: none) */
	pp_http_request *r;          /* the request (a quick route's audit records are not waited for) */
} pp_fhir_caller;

extern const char *const pp_fhir_api_types[];   /* NULL-terminated */
const char *pp_fhir_api_type(const char *type);  /* interned, or NULL when not served */
bool pp_fhir_api_directory_type(const char *type);

/* steals obj */
int pp_fhir_api_send(pp_http_request *r, int status, json_t *obj, bool phi);
/* a body already serialised (copied; the caller keeps and wipes text) */
int pp_fhir_api_send_text(pp_http_request *r, int status, const char *text, size_t len, bool phi);
/* the same, moving b's bytes into the response (b is left empty) */
int pp_fhir_api_send_buf(pp_http_request *r, int status, pp_buf *b, bool phi);
int pp_fhir_api_error(pp_http_request *r, int status, const char *code, const char *text);
int pp_fhir_api_not_found(pp_http_request *r);
int pp_fhir_api_audit_failed(pp_http_request *r);
bool pp_fhir_api_accept_ok(pp_http_request *r);
bool pp_fhir_api_strict(pp_http_request *r);

/* On failure the OperationOutcome response is set and a negative code returned. */
int pp_fhir_api_authenticate(pp_app *app, pp_http_request *r, pp_fhir_caller *c);
bool pp_fhir_api_scope_allows(const pp_fhir_caller *c, const char *type, unsigned interaction,
                              const json_t *resource);
/* false when pp_fhir_api_scope_allows would allow every resource of type (no granular scope
 * needs to look at the resource), so the resource need not be parsed for the scope check */
bool pp_fhir_api_scope_needs_resource(const pp_fhir_caller *c, const char *type,
                                      unsigned interaction);
int pp_fhir_api_audit(pp_app *app, const pp_fhir_caller *c, const char *action,
                      const char *patient, const char *type, const char *ids, const char *outcome,
                      const char *purpose, const char *reason);

int pp_fhir_api_cursor_make(pp_app *app, const pp_fhir_caller *c, const pp_fhir_search *s,
                            uint32_t offset, char *out, size_t cap);
int pp_fhir_api_cursor_check(pp_app *app, const pp_fhir_caller *c, const pp_fhir_search *s,
                             uint32_t *offset);

/* ---- cached row lookups (cache.c): as the pp_store_resource_* functions they stand for, from
 * memory when the rows were read under the same store epoch (0: always the store) ---- */
/* the row by id; with_body false leaves body NULL (only the row's metadata is wanted) */
int pp_fhir_cache_get(pp_store *st, uint64_t epoch, int64_t id, bool with_body,
                      pp_store_resource *out);
int pp_fhir_cache_get_pub(pp_store *st, uint64_t epoch, const char *type, const char *pub_id,
                          pp_store_resource *out);
int pp_fhir_cache_pub_of_lid(pp_store *st, uint64_t epoch, const char *type,
                             const uint8_t lid_bidx[32], char *pub_id, size_t cap);
/* *ids malloc'd (NULL when none) */
int pp_fhir_cache_ids(pp_store *st, uint64_t epoch, int64_t patient_id, const char *type,
                      int64_t **ids, size_t *n);
/* the served text of row id (decrypted PHI: see cache.c for the rules), appended to out on a hit;
 * call only where the row would otherwise be opened, after every check */
bool pp_fhir_cache_text_get(pp_store *st, uint64_t epoch, int64_t id, pp_buf *out);
void pp_fhir_cache_text_put(pp_store *st, uint64_t epoch, int64_t id, const char *text, size_t len);
/* the entries [offset, end) of a search page over every row of a patient's compartment of type
 * (interned) in row order, as the search handler writes them, and the served ids for its audit
 * record (the same PHI rules); appended to entries and ids on a hit */
bool pp_fhir_cache_page_get(pp_store *st, uint64_t epoch, int64_t patient_id, const char *type,
                            uint32_t offset, uint32_t end, pp_buf *entries, pp_buf *ids);
void pp_fhir_cache_page_put(pp_store *st, uint64_t epoch, int64_t patient_id, const char *type,
                            uint32_t offset, uint32_t end, const char *entries, size_t len,
                            const char *ids, size_t ids_len);

#endif
