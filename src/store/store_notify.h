/*
 * store/ for notify/: each account's contact (e-mail address and mobile number, both sealed by
 * crypto/ — AAD ("notify_contact","email"|"phone",user_id) — and the plain on/off preferences) and
 * the durable notification outbox. An outbox row holds only who (user row id), which channel
 * ("email", "sms") and which kind of event ("message", "result"): never an address, a name, a
 * thread, a text or a result. The address is read from the contact when the row is sent.
 */
#ifndef PP_STORE_NOTIFY_H
#define PP_STORE_NOTIFY_H

#include "store/store.h"

typedef struct pp_store_notify_contact {
	int64_t user_id;
	uint8_t *email_enc; size_t email_enc_len;   /* NULL: no address */
	uint8_t *phone_enc; size_t phone_enc_len;   /* NULL: no number */
	int email_enabled;
	int sms_enabled;
	int64_t updated_ms;
} pp_store_notify_contact;
void pp_store_notify_contact_clear(pp_store_notify_contact *c);   /* frees the ciphertexts */
/* insert or replace the user's contact */
int pp_store_notify_contact_put(pp_store *st, const pp_store_notify_contact *c);
/* PP_ENOTFOUND when the user has none */
int pp_store_notify_contact_get(pp_store *st, int64_t user_id, pp_store_notify_contact *out);

typedef struct pp_store_notify_row {
	int64_t id;
	int64_t user_id;
	char channel[8];          /* "email", "sms" */
	char event[16];           /* "message", "result" */
	char status[12];          /* "pending", "sent", "failed", "cancelled" */
	int attempts;             /* delivery attempts started */
	int64_t due_ms;           /* when the row may be (re)tried; while claimed: the lease's end */
	int64_t created_ms;
	int64_t sent_ms;          /* 0 unless sent */
	char last_error[48];      /* stable code of the last failure, no data */
} pp_store_notify_row;

/* One statement: inserts a pending row for each channel the user enabled (and has an address for)
 * among those allowed (email_ok / sms_ok: the channel is configured). A channel that already has a
 * pending row for the same user and event is not queued again (one notice covers several arrivals).
 * *queued (optional) gets the number of rows inserted. */
int pp_store_notify_enqueue(pp_store *st, int64_t user_id, const char *event, int email_ok,
                            int sms_ok, int64_t now_ms, int *queued);
/* ids of up to cap pending rows due at now_ms, oldest due first */
int pp_store_notify_due(pp_store *st, int64_t now_ms, int64_t *ids, size_t cap, size_t *n);
/* Claims a due pending row: counts one attempt and moves due_ms to lease_until_ms so that no other
 * worker (or this one after a crash) picks it up before then. PP_ENOTFOUND when the row is no longer
 * due or pending (another worker took it). *out gets the row after the claim. */
int pp_store_notify_claim(pp_store *st, int64_t id, int64_t now_ms, int64_t lease_until_ms,
                          pp_store_notify_row *out);
int pp_store_notify_mark_sent(pp_store *st, int64_t id, int64_t now_ms);
/* back to pending, due again at due_ms */
int pp_store_notify_mark_retry(pp_store *st, int64_t id, int64_t due_ms, const char *error);
/* final: status "failed" or "cancelled" */
int pp_store_notify_mark_final(pp_store *st, int64_t id, const char *status, const char *error);
int pp_store_notify_get(pp_store *st, int64_t id, pp_store_notify_row *out);
/* deletes sent, failed and cancelled rows created before before_ms; *n (optional) rows deleted */
int pp_store_notify_purge(pp_store *st, int64_t before_ms, int *n);
/* rows of one status (NULL: all) */
int pp_store_notify_count(pp_store *st, const char *status, int64_t *n);

/* Active patient accounts linked to one Patient row; *ids malloc'd (NULL when none). */
int pp_store_notify_patient_users(pp_store *st, int64_t patient_id, int64_t **ids, size_t *n);
/* Active patient accounts whose record gained or changed an Observation at or after since_ms (an
 * import's new results); *ids malloc'd (NULL when none). */
int pp_store_notify_result_users_since(pp_store *st, int64_t since_ms, int64_t **ids, size_t *n);

#endif
