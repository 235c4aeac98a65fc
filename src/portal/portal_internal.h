/* Private to portal/: helpers shared by the handler files. */
#ifndef PP_PORTAL_INTERNAL_H
#define PP_PORTAL_INTERNAL_H

#include <jansson.h>
#include <stdlib.h>
#include "portal/portal.h"
#include "http/http.h"
#include "auth/auth.h"
#include "audit/audit.h"
#include "policy/policy.h"
#include "store/store.h"
#include "crypto/crypto.h"
#include "fhir/fhir.h"

#define PP_PORTAL_COOKIE "pp_session"

enum pp_portal_need {
	PP_PORTAL_NEED_PEEK,    /* any state; does not extend the idle timer */
	PP_PORTAL_NEED_ANY,     /* any state */
	PP_PORTAL_NEED_MFA,     /* password done, TOTP expected */
	PP_PORTAL_NEED_ENROL,   /* password done, enrolment expected */
	PP_PORTAL_NEED_FULL,    /* fully signed in */
};

/* Authenticates the request's session (and CSRF + Origin on state-changing methods). On failure the
 * error response is already set and a negative code returned: the handler returns 0. */
int pp_portal_session(pp_app *app, pp_http_request *r, enum pp_portal_need need, pp_session *s,
                      pp_principal *p);
void pp_portal_principal(pp_http_request *r, const pp_session *s, pp_principal *p);
int pp_portal_origin_ok(pp_http_request *r);
/* parses the body as a JSON object; on failure the error response is set and *out is NULL */
int pp_portal_body_json(pp_app *app, pp_http_request *r, json_t **out);
const char *pp_portal_json_str(json_t *obj, const char *key, size_t maxlen);
/* steals obj */
int pp_portal_json(pp_http_request *r, int status, json_t *obj, bool phi);
/* THE audit call for portal handlers: PP_EAUDIT when not durable (caller answers 503, no PHI) */
int pp_portal_audit(pp_app *app, const pp_principal *p, const char *action, const char *patient,
                    const char *rtype, const char *rid, const char *outcome, const char *purpose,
                    const char *detail);
int pp_portal_audit_failed(pp_http_request *r);
int pp_portal_set_session_cookie(pp_http_request *r, const char *token);
/* a fresh random row id (positive) and an opaque public id (32 hex) for a new row */
int pp_portal_new_id(int64_t *row, char pub[40]);

int pp_portal_auth_routes(struct pp_http_server *s, pp_app *app);
int pp_portal_record_routes(struct pp_http_server *s, pp_app *app);
int pp_portal_access_routes(struct pp_http_server *s, pp_app *app);
int pp_portal_history_routes(struct pp_http_server *s, pp_app *app);
int pp_portal_enrol_routes(struct pp_http_server *s, pp_app *app);
/* self-enrolment (api_enrol_self.c; registered by pp_portal_enrol_routes) */
int pp_portal_enrol_self_routes(struct pp_http_server *s, pp_app *app);
/* "family|given|YYYY-MM-DD", names folded (case, spaces and punctuation dropped): the value under
 * the demographic blind index; PP_EINVAL when a part is missing or malformed */
int pp_portal_enrol_demo_key(const char *family, const char *given, const char *birth_date,
                             char *out, size_t cap);
int pp_portal_proxy_routes(struct pp_http_server *s, pp_app *app);
int pp_portal_contact_routes(struct pp_http_server *s, pp_app *app);

/* a patient account for an enrolment (activation code or self-enrolment): 0 with *uid set; 1 when
 * refused with the answer set (weak password: 400, username taken: 409); or a negative PP_E* code */
int pp_portal_patient_account_add(pp_app *app, pp_http_request *r, const char *user,
                                  const char *pass, int64_t patient_id, int64_t *uid);

#endif
