/*
 * notify — notifications that carry no PHI. When a message or a result arrives, the recipient gets
 * an e-mail (SMTP via libcurl, STARTTLS required, certificate verified) and/or an SMS (an HTTPS POST
 * to an SMS gateway's webhook) saying only that something new is waiting, with a link to the
 * portal's sign-in page: no names, no message text, no result, no identifier.
 *
 * Owns: each account's contact (e-mail address and E.164 mobile number, sealed by crypto/, never
 * logged; on/off per channel), the durable outbox (store/store_notify.h: one row per user, channel
 * and kind of event, nothing else), the delivery worker (a thread in `serve` that retries failures
 * with exponential back-off and survives restarts because the rows do), and the templates, which
 * may contain only the placeholders {portal_url} and {org_name}: anything else that looks like an
 * attempt to insert data refuses start-up (pp_notify_check_config, run by `serve`, `compliance
 * check` and `notify check`).
 *
 * Callers (messaging, results import) call pp_notify_enqueue / pp_notify_enqueue_patient after
 * their own data is stored: queueing is one INSERT, never talks to a mail server, and its failure
 * is logged (without PHI) and returned, so the caller never loses its message because of it.
 */
#ifndef PP_NOTIFY_H
#define PP_NOTIFY_H

#include "core/core.h"

struct pp_store;
struct pp_crypto;
struct pp_audit;
struct pp_auth;
struct pp_http_server;
typedef struct pp_notify pp_notify;

/* the kinds of event (nothing else about the content is stored or sent) */
#define PP_NOTIFY_EVENT_MESSAGE "message"
#define PP_NOTIFY_EVENT_RESULT "result"

/* ---- lifecycle ---- */
/* Checks the configuration (PP_ECONFIG when pp_notify_check_config finds problems), renders the
 * templates and reads the SMTP password / SMS token files. No thread is started: an unstarted
 * pp_notify can queue (the CLI's variant) and deliver on demand (pp_notify_run_once). */
int pp_notify_open(pp_notify **out, const pp_config *cfg, struct pp_store *st,
                   struct pp_crypto *c);
/* starts the delivery worker thread */
int pp_notify_start(pp_notify *n);
/* stops the worker (an SMTP/HTTPS exchange in progress is aborted; its row is retried later) */
void pp_notify_stop(pp_notify *n);
void pp_notify_close(pp_notify *n);   /* stops first; NULL is fine */

/* ---- queueing (cheap; never contacts a server) ---- */
/* One outbox row per channel the user enabled (and that is configured). *queued (optional): rows
 * added (0 when the user has no enabled channel, or an identical notice is still pending). */
int pp_notify_enqueue(pp_notify *n, int64_t user_id, const char *event);
int pp_notify_enqueue_n(pp_notify *n, int64_t user_id, const char *event, int *queued);
/* every active patient account linked to a Patient row */
int pp_notify_enqueue_patient(pp_notify *n, int64_t patient_id, const char *event, int *queued);
/* after an import: a "result" notice for every patient whose record gained or changed an
 * Observation at or after since_ms; *users (optional) gets how many accounts were considered */
int pp_notify_enqueue_results_since(pp_notify *n, int64_t since_ms, int *users);

/* The `import` command's hook: opens a notifier for this process only, queues the "result" notices
 * of pp_notify_enqueue_results_since and closes it. A notification failure never fails the import:
 * it is logged without PHI and returned for the caller to report. */
int pp_notify_after_import(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                           int64_t since_ms, int *users);

/* ---- delivery ---- */
/* Delivers every due row now on the calling thread (tests, `notify run`). */
int pp_notify_run_once(pp_notify *n, int *sent, int *failed);
/* Seconds to wait after the attempts-th failed attempt: base * 2^(attempts-1), at most 86400. */
int64_t pp_notify_backoff_s(int retry_base_s, int attempts);

/* ---- one-time codes (self-enrolment; notify/code.c) ----
 * A code goes to an address on a patient's record rather than to an account's contact, so it is not
 * an outbox row: portal/ keeps its own durable rows and registers a drain function, which the
 * delivery worker calls on every round after the outbox rows (pp_notify_wake: a round now). */
typedef void (*pp_notify_drain_fn)(pp_notify *n, void *arg);
void pp_notify_set_drain(pp_notify *n, pp_notify_drain_fn fn, void *arg);
void pp_notify_drain(pp_notify *n);   /* calls the drain function once, on the calling thread */
void pp_notify_wake(pp_notify *n);
bool pp_notify_channel_on(const pp_notify *n, const char *channel);   /* "email" or "sms" configured */
/* Sends (synchronously) the fixed text with a 6-8 digit code, its validity and the portal URL: no
 * name or other data. err gets a stable code without data on failure. */
int pp_notify_send_code(pp_notify *n, const char *channel, const char *to, const char *code,
                        int valid_min, char *err, size_t errcap);

/* ---- contacts ---- */
typedef struct pp_notify_contact {
	char email[256];           /* "" = none */
	char phone[20];            /* E.164, "" = none */
	bool email_enabled;
	bool sms_enabled;
} pp_notify_contact;
/* basic syntax: local@domain.tld, printable ASCII without spaces, quotes or angle brackets */
bool pp_notify_email_valid(const char *s);
/* E.164: "+" and 2 to 15 digits, the first not 0 */
bool pp_notify_phone_valid(const char *s);
/* the user's contact, decrypted; a user without one gets an empty, disabled contact */
int pp_notify_contact_get(struct pp_store *st, struct pp_crypto *c, int64_t user_id,
                          pp_notify_contact *out);
/* validates (PP_EINVAL) and stores sealed; an enabled channel needs its address */
int pp_notify_contact_set(struct pp_store *st, struct pp_crypto *c, int64_t user_id,
                          const pp_notify_contact *in);
void pp_notify_contact_wipe(pp_notify_contact *c);

/* ---- templates ---- */
enum {
	PP_NOTIFY_TMPL_SINGLE_LINE = 1,   /* no line break (e-mail subject) */
	PP_NOTIFY_TMPL_ASCII = 2,         /* printable ASCII only (e-mail subject) */
};
/* Checks a template as written in the config: text with the escapes \n and \\ and the placeholders
 * {portal_url} and {org_name}. Refused: any other {...}, a lone brace, ${ $( $name, %s-style
 * formats, <% %>, other escapes, control characters, invalid UTF-8, empty text. PP_EINVAL with a
 * one-line reason in err. */
int pp_notify_template_check(const char *tmpl, size_t len, unsigned flags, char *err,
                             size_t errcap);
/* checks, then decodes escapes and substitutes the two values into out */
int pp_notify_template_render(const char *tmpl, unsigned flags, const char *portal_url,
                              const char *org_name, pp_buf *out, char *err, size_t errcap);
/* Every notify.* key: templates, portal URL (https, the sign-in page: no query or fragment), org
 * name, sender, server URLs (smtp:// or smtps://, https://), secret files (mode 0600). One line
 * per problem ("notify.key: reason") in report; returns the number of problems. */
int pp_notify_check_config(const pp_config *cfg, pp_buf *report);

/* ---- wiring ---- */
/* GET and PUT /api/v1/me/contact (session; PUT with CSRF), one audit record each */
/* `phiportal notify check|test|status` and `phiportal user contact` (argv[0] is "notify" or
 * "contact"). With a NULL cfg only --help works. Returns the exit code. */
int pp_notify_cli(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                  struct pp_audit *audit, struct pp_auth *auth, int argc, char **argv);

#endif
