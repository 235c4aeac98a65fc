/*
 * msg — secure messaging between a patient and a care-team pool ("Dr. Reyes' team", "Billing"):
 * threads and messages with kinds beside free text (medication refill request, appointment
 * request, question about a result), read receipts per side, unread counts, drafts, per-user soft
 * delete, reassignment to another pool, moving a misdirected message to the right patient's chart,
 * search within one's own messages, and the FHIR R4 Communication view of a message.
 *
 * Every handler follows DESIGN.md's path: session → principal → pp_policy_check (target: the
 * thread's patient and pool, resource type "MessageThread") → store/crypto → exactly one
 * pp_audit_record (fail closed: writes run in one store transaction that is rolled back when the
 * audit record cannot be made durable; the answer is then 503 and nothing is stored).
 * Subjects, bodies, structured fields, drafts and reasons are sealed with crypto/ (AAD binds
 * table, column and row). There is no search index on disk: a search decrypts, in memory, at most
 * PP_MSG_SEARCH_SCAN_MAX of the caller's newest messages and matches them there.
 */
#ifndef PP_MSG_H
#define PP_MSG_H

#include <jansson.h>
#include "core/core.h"

#define PP_MSG_SUBJECT_MAX 200        /* bytes of UTF-8 */
#define PP_MSG_BODY_MAX 20000         /* bytes of UTF-8 */
#define PP_MSG_REASON_MAX 500         /* reassignment / move reasons */
#define PP_MSG_TIMES_MAX 5            /* preferred appointment times */
#define PP_MSG_INBOX_MAX 200          /* threads in one inbox answer */
#define PP_MSG_SEARCH_SCAN_MAX 2000   /* messages one search decrypts */
#define PP_MSG_SEARCH_RESULTS_MAX 50
#define PP_MSG_QUERY_MIN 2
#define PP_MSG_QUERY_MAX 100

#define PP_MSG_DISCLAIMER                                                                        \
	"If this is an emergency, call 911 or go to the nearest emergency room. Messages are not "  \
	"monitored around the clock; do not use them for urgent needs."

struct pp_http_server;
/* registers the /api/v1/messages routes (docs/api.md, "Messages") */
int pp_msg_routes(struct pp_http_server *s, pp_app *app);
/* GET /fhir/Communication[/<id>]: the messages as FHIR R4 Communication (registered by
 * pp_msg_routes; exact routes, so they win over fhir/'s /fhir/:type) */
int pp_msg_fhir_routes(struct pp_http_server *s, pp_app *app);

/* ---- structured fields (pure: no store, no keys; fuzzed by fuzz/fuzz_msg_fields.c) ----
 * kind: "text", "refill", "appointment", "result_question". fields (may be NULL for "text"):
 *   refill:          {"medication_request_id": opaque id}
 *   appointment:     {"reason": 1..500 bytes, "preferred_times": 1..5 × "YYYY-MM-DDTHH:MM"}
 *   result_question: {"observation_id": opaque id}
 * Unknown keys are refused. On success *out is a new object holding only the accepted keys
 * (times normalised); on PP_EINVAL *why is a stable reason code (never an input value). */
int pp_msg_fields_check(const char *kind, const json_t *fields, json_t **out, const char **why);
/* true for the kinds above */
bool pp_msg_kind_valid(const char *kind);
/* A preferred time "YYYY-MM-DDTHH:MM" (a local wall-clock time, seconds ":SS" allowed and
 * dropped): a real calendar date and time. Writes the normalised "YYYY-MM-DDTHH:MM" (17 bytes). */
int pp_msg_time_parse(const char *text, size_t len, char out[17]);
/* an opaque id as the API hands them out: 1..64 of [a-f0-9] */
bool pp_msg_id_valid(const char *id);
/* Case-insensitive (ASCII) substring test used by search; needle must be non-empty. */
bool pp_msg_text_contains(const char *haystack, const char *needle);

/* ---- FHIR R4 Communication ---- */
typedef struct pp_msg_view {
	const char *id;               /* message pub_id */
	const char *thread_id;        /* thread pub_id */
	const char *patient_id;       /* Patient pub_id */
	const char *side;             /* "patient" (sent by the patient) or "staff" */
	const char *kind;
	const char *subject;          /* the thread's subject */
	const char *body;
	const json_t *fields;         /* structured fields (may be NULL) */
	const char *pool_name;        /* the care-team pool */
	int64_t sent_ms;
	int64_t received_ms;          /* read by the recipient side, 0: not yet */
	const char *in_reply_to;      /* previous message's pub_id, or NULL */
} pp_msg_view;
/* Renders one message as a FHIR R4 Communication (status "completed"; category from the
 * communication-category code system plus the portal's message kind; subject Patient/<opaque>;
 * sender/recipient the patient and the pool; payload the body and, for structured kinds, a
 * plain-text line for the request; inResponseTo Communication/<previous>). *out: caller decrefs. */
int pp_msg_communication(const pp_msg_view *v, json_t **out);
/* A one-line description of a structured request (e.g. "Refill request: <medication>") written
 * into out; "" for text messages. */
void pp_msg_item_text(const char *kind, const json_t *fields, char *out, size_t cap);

#endif
