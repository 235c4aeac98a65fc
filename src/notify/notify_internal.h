/* Private to notify/: the running notifier and the senders. */
#ifndef PP_NOTIFY_INTERNAL_H
#define PP_NOTIFY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "notify/notify.h"
#include "store/store.h"
#include "store/store_notify.h"
#include "crypto/crypto.h"

#define PP_NOTIFY_SUBJECT_MAX 200      /* rendered e-mail subject, bytes */
#define PP_NOTIFY_BODY_MAX 4000        /* rendered e-mail body */
#define PP_NOTIFY_SMS_MAX 480          /* rendered SMS text (three segments) */
#define PP_NOTIFY_LINE_MAX 900         /* one rendered body line (SMTP allows 998) */
#define PP_NOTIFY_SECRET_MAX 4096      /* password / token file */

enum { PP_NOTIFY_EV_MESSAGE = 0, PP_NOTIFY_EV_RESULT = 1, PP_NOTIFY_EV_N = 2 };

typedef struct pp_notify_texts {
	char *subject;
	char *body;       /* LF line ends; converted to CRLF when sent */
	char *sms;
} pp_notify_texts;

struct pp_notify {
	const pp_config *cfg;
	struct pp_store *st;
	struct pp_crypto *crypto;
	pp_notify_texts texts[PP_NOTIFY_EV_N];
	bool email_on, sms_on;         /* channel configured */
	char smtp_ca[1024], sms_ca[1024];
	char *smtp_password;           /* wiped at close */
	char *sms_token;
	bool curl_inited;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, kick;
	atomic_bool stop;
	int64_t last_purge_ms;
	pp_notify_drain_fn drain;       /* self-enrolment codes (code.c); under mu */
	void *drain_arg;
};

/* the kind of event's index, or -1 */
int pp_notify_event_index(const char *event);

/* Sends one notice. *permanent is set when retrying cannot help (the caller cancels the row). The
 * error code written to err is a short stable string without data. */
int pp_notify_send_email(pp_notify *n, const char *to, const pp_notify_texts *t, char *err,
                         size_t errcap);
int pp_notify_send_sms(pp_notify *n, const char *to, const pp_notify_texts *t, char *err,
                       size_t errcap);
/* builds the RFC 5322 message (CRLF line ends) for tests and the sender */
int pp_notify_compose_email(const char *from, const char *to, const char *subject,
                            const char *body, int64_t now_ms, pp_buf *out);

/* reads a secret file (must be a regular file, mode 0600 or stricter); trailing newline removed */
int pp_notify_read_secret(const char *path, char **out);

#endif
