/* Private to msg/: what the handler files share. The session, CSRF, JSON-body and audit helpers
 * are portal/'s (portal_internal.h), so that every JSON endpoint authenticates the same way. */
#ifndef PP_MSG_INTERNAL_H
#define PP_MSG_INTERNAL_H

#include "portal/portal_internal.h"
#include "msg/msg.h"
#include "store/store_access.h"
#include "store/store_msg.h"

/* one request, once authenticated */
typedef struct pp_msg_req {
	pp_app *app;
	pp_http_request *r;
	pp_session s;
	pp_principal p;
	pp_store_msg_viewer v;
	bool patient;                 /* the caller is on the patient side (the patient or a proxy) */
	bool proxy;                   /* ... acting for someone else's record under a proxy grant */
	char self_pub[48];            /* the patient side's Patient opaque id ("" when not known yet) */
} pp_msg_req;

/* Authenticates (state full; CSRF on changes) and sets the viewer. The patient side is the
 * patient's own account or a proxy (role "proxy", or a patient acting for someone else), who names
 * the record with ?patient=<Patient opaque id>: policy decides at once (a refusal is audited and
 * answered 404); principal.patient_id is never changed, so every later decision for that record
 * goes through policy's proxy rules, and on_behalf_of marks the audit records. Thread routes take
 * the record from the thread (pp_msg_thread_access). Nonzero: the response is set, the handler
 * returns 0. */
int pp_msg_start(pp_app *app, pp_http_request *r, pp_msg_req *q);
/* THE audit call (one per request). */
int pp_msg_audit(pp_msg_req *q, const char *action, const char *patient, const char *rtype,
                 const char *rid, const char *outcome, const char *purpose, const char *detail);

/* The thread the caller asks for, if policy allows action on it. Unknown ids and refusals are
 * audited (action, outcome "denied") and answered 404 (503 when the audit fails): nonzero return,
 * response set. On 0, *t is loaded (clear it), *d holds the decision and patient_pub the thread's
 * patient's opaque id. */
int pp_msg_thread_access(pp_msg_req *q, const char *pub, int64_t thread_row,
                         enum pp_policy_action act, const char *action, const char *rid,
                         pp_store_msg_thread *t, pp_policy_decision *d, char patient_pub[48]);

int pp_msg_patient_pub(pp_app *app, int64_t patient_id, char out[48]);
/* The inbox-wide routes (list, unread, search, choices, new thread) need to know whose record the
 * patient side means: a proxy that named none is answered 400 patient_required (nonzero). */
int pp_msg_need_patient(pp_msg_req *q);
void pp_msg_new_pub(char out[PP_STORE_MSG_PUB_LEN]);
/* seals text / JSON for table.column at rowid; *ct malloc'd */
int pp_msg_seal_text(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const char *text, uint8_t **ct, size_t *len);
int pp_msg_seal_json(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const json_t *v, uint8_t **ct, size_t *len);
/* *text malloc'd (free with pp_msg_free_text, which wipes) */
int pp_msg_open_text(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const uint8_t *ct, size_t len, char **text);
void pp_msg_free_text(char *text);
int pp_msg_open_json(pp_app *app, const char *table, const char *column, int64_t rowid,
                     const uint8_t *ct, size_t len, json_t **out);

/* a string member: 0 and *out (NULL when absent and !required); PP_EINVAL when not a string,
 * longer than max bytes, required and absent/empty, or holding control characters other than
 * new lines and tabs (those only when multiline) */
int pp_msg_json_text(const json_t *obj, const char *key, size_t max, bool required, bool multiline,
                     const char **out);
/* the JSON answer for one message (content: {"body","fields"}, borrowed) */
json_t *pp_msg_message_json(pp_msg_req *q, const pp_store_msg *m, const json_t *content,
                            const char *in_reply_to_pub);
/* the inbox entry of a thread */
json_t *pp_msg_thread_json(pp_msg_req *q, const pp_store_msg_thread *t, const char *subject,
                           const char *patient_pub);
/* a laboratory Observation's display fields {id,text,value,unit,date} (for the compose choices
 * and the snapshot a result question keeps); NULL when it is not a laboratory result */
json_t *pp_msg_result_json(const char *pub, const json_t *res);
/* time or null */
json_t *pp_msg_time_json(int64_t ms);

/* Tells the other side that something is waiting (no content): the pool's members or the
 * patient's accounts. Never fails the request. */
void pp_msg_notify(pp_msg_req *q, const pp_store_msg_thread *t, const char *to_side);

int pp_msg_write_routes(struct pp_http_server *s, pp_app *app);

#endif
