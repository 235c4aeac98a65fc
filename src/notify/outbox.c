/* notify: the outbox and its delivery worker.
 *
 * Queueing is one INSERT (store/sqlite_notify.c) and wakes the worker; rows queued by another
 * process (the `import` command) are found by polling every notify.poll_ms. The worker claims a due
 * row (one attempt counted, a lease instead of a lock: a crash leaves the row to be retried when the
 * lease ends), reads the recipient's contact, sends, and marks the row sent, or pending again after
 * notify.retry_base_s * 2^(attempts-1) seconds, or failed after notify.max_attempts attempts. A row
 * whose channel the user has since switched off (or whose address is gone) is cancelled. */
#include "notify/notify_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DUE_BATCH 16
#define PURGE_EVERY_MS (3600LL * 1000)

int pp_notify_event_index(const char *event)
{
	if (event && !strcmp(event, PP_NOTIFY_EVENT_MESSAGE))
		return PP_NOTIFY_EV_MESSAGE;
	if (event && !strcmp(event, PP_NOTIFY_EVENT_RESULT))
		return PP_NOTIFY_EV_RESULT;
	return -1;
}

int64_t pp_notify_backoff_s(int retry_base_s, int attempts)
{
	int64_t d = retry_base_s > 0 ? retry_base_s : 1;

	for (int i = 1; i < attempts && d < 86400; i++)
		d *= 2;
	return d > 86400 ? 86400 : d;
}

/* ---- lifecycle ---- */

static int render(const pp_config *cfg, const char *portal, const char *tmpl, unsigned flags,
                  char **out)
{
	pp_buf b;
	char err[8];
	int rc;

	pp_buf_init(&b, PP_NOTIFY_BODY_MAX + 1);
	rc = pp_notify_template_render(tmpl, flags, portal, cfg->notify_org_name, &b, err, sizeof err);
	if (!rc && !(*out = pp_buf_take(&b, NULL)))
		rc = PP_ENOMEM;
	pp_buf_free(&b);
	return rc;
}

static void texts_free(pp_notify *n)
{
	for (int i = 0; i < PP_NOTIFY_EV_N; i++) {
		free(n->texts[i].subject);
		free(n->texts[i].body);
		free(n->texts[i].sms);
		memset(&n->texts[i], 0, sizeof n->texts[i]);
	}
}

static void free_secret(char **s)
{
	if (*s) {
		pp_wipe(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static int load_secret(const pp_config *cfg, const char *rel, char **out)
{
	char path[1024];

	if (!rel[0])
		return PP_OK;
	if (pp_config_path(cfg, rel, path, sizeof path))
		return PP_ECONFIG;
	return pp_notify_read_secret(path, out);
}

int pp_notify_open(pp_notify **out, const pp_config *cfg, pp_store *st, pp_crypto *c)
{
	pp_notify *n = NULL;
	pp_buf rep;
	pthread_condattr_t ca;
	char portal[300];
	int rc;

	if (!out || !cfg || !st || !c)
		return PP_EINVAL;
	*out = NULL;
	pp_buf_init(&rep, 1 << 16);
	if (pp_notify_check_config(cfg, &rep)) {
		/* the report quotes configuration only, never data */
		pp_log_error("notify: refusing the notification settings:\n%s", pp_buf_cstr(&rep));
		pp_buf_free(&rep);
		return PP_ECONFIG;
	}
	pp_buf_free(&rep);
	if (!(n = calloc(1, sizeof *n)))
		return PP_ENOMEM;
	n->cfg = cfg;
	n->st = st;
	n->crypto = c;
	atomic_init(&n->stop, false);
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (cfg->notify_portal_url[0])
		snprintf(portal, sizeof portal, "%s", cfg->notify_portal_url);
	else
		snprintf(portal, sizeof portal, "%s/", cfg->server_public_url);
	const unsigned subj = PP_NOTIFY_TMPL_SINGLE_LINE | PP_NOTIFY_TMPL_ASCII;
	if ((rc = render(cfg, portal, cfg->notify_email_subject_message, subj,
	                 &n->texts[PP_NOTIFY_EV_MESSAGE].subject)) ||
	    (rc = render(cfg, portal, cfg->notify_email_body_message, 0,
	                 &n->texts[PP_NOTIFY_EV_MESSAGE].body)) ||
	    (rc = render(cfg, portal, cfg->notify_sms_message, 0, &n->texts[PP_NOTIFY_EV_MESSAGE].sms)) ||
	    (rc = render(cfg, portal, cfg->notify_email_subject_result, subj,
	                 &n->texts[PP_NOTIFY_EV_RESULT].subject)) ||
	    (rc = render(cfg, portal, cfg->notify_email_body_result, 0,
	                 &n->texts[PP_NOTIFY_EV_RESULT].body)) ||
	    (rc = render(cfg, portal, cfg->notify_sms_result, 0, &n->texts[PP_NOTIFY_EV_RESULT].sms)))
		goto fail;
	n->email_on = cfg->notify_smtp_url[0] != '\0';
	n->sms_on = cfg->notify_sms_webhook_url[0] != '\0';
	if ((cfg->notify_smtp_ca_file[0] &&
	     pp_config_path(cfg, cfg->notify_smtp_ca_file, n->smtp_ca, sizeof n->smtp_ca)) ||
	    (cfg->notify_sms_ca_file[0] &&
	     pp_config_path(cfg, cfg->notify_sms_ca_file, n->sms_ca, sizeof n->sms_ca))) {
		rc = PP_ECONFIG;
		goto fail;
	}
	if ((rc = load_secret(cfg, cfg->notify_smtp_password_file, &n->smtp_password)) ||
	    (rc = load_secret(cfg, cfg->notify_sms_token_file, &n->sms_token))) {
		pp_log_error("notify: cannot read a secret file (%s)", pp_strerror(rc));
		goto fail;
	}
	if (n->email_on || n->sms_on) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			rc = PP_EIO;
			goto fail;
		}
		n->curl_inited = true;
	}
	*out = n;
	return PP_OK;
fail:
	pp_notify_close(n);
	return rc;
}

/* ---- delivery ---- */

/* one row: claim, send, mark; counts into *sent / *failed (final failures only) */
static void deliver(pp_notify *n, int64_t id, int *sent, int *failed)
{
	const pp_config *cfg = n->cfg;
	pp_store_notify_row row;
	pp_notify_contact ct;
	int64_t now = pp_clock_now_ms();
	int64_t lease = now + ((int64_t)(cfg->notify_timeout_s > 0 ? cfg->notify_timeout_s : 30) * 2 +
	                       60) * 1000;
	char err[48] = "";
	int rc, ev;
	bool email;

	memset(&ct, 0, sizeof ct);
	rc = pp_store_notify_claim(n->st, id, now, lease, &row);
	if (rc) {
		if (rc != PP_ENOTFOUND)
			pp_log_warn("notify: cannot claim outbox row %lld (%s)", (long long)id, pp_strerror(rc));
		return;
	}
	ev = pp_notify_event_index(row.event);
	email = !strcmp(row.channel, "email");
	if (ev < 0 || (!email && strcmp(row.channel, "sms"))) {
		pp_store_notify_mark_final(n->st, id, "cancelled", "unknown-kind");
		return;
	}
	rc = pp_notify_contact_get(n->st, n->crypto, row.user_id, &ct);
	if (rc) {
		snprintf(err, sizeof err, "contact:%s", rc == PP_ECRYPTO ? "crypto" : "store");
	} else if (email ? !ct.email_enabled : !ct.sms_enabled) {
		/* switched off (or the address removed) since it was queued */
		pp_store_notify_mark_final(n->st, id, "cancelled", "channel-off");
		pp_log_info("notify: outbox row %lld cancelled (channel switched off)", (long long)id);
		goto out;
	} else if (email) {
		rc = pp_notify_send_email(n, ct.email, &n->texts[ev], err, sizeof err);
	} else {
		rc = pp_notify_send_sms(n, ct.phone, &n->texts[ev], err, sizeof err);
	}
	if (!rc) {
		if ((rc = pp_store_notify_mark_sent(n->st, id, pp_clock_now_ms())))
			pp_log_error("notify: outbox row %lld was sent but cannot be marked (%s)",
			             (long long)id, pp_strerror(rc));
		pp_log_info("notify: %s notice %lld sent (attempt %d)", row.channel, (long long)id,
		            row.attempts);
		if (sent)
			(*sent)++;
		goto out;
	}
	if (atomic_load(&n->stop)) {
		/* aborted by shutdown: not the server's fault; the row (its attempt counted) is due
		 * again at once after the restart */
		pp_store_notify_mark_retry(n->st, id, now, "aborted-at-shutdown");
		goto out;
	}
	if (row.attempts >= cfg->notify_max_attempts) {
		pp_store_notify_mark_final(n->st, id, "failed", err);
		pp_log_warn("notify: %s notice %lld failed for good after %d attempts (%s)", row.channel,
		            (long long)id, row.attempts, err);
		if (failed)
			(*failed)++;
	} else {
		int64_t wait_s = pp_notify_backoff_s(cfg->notify_retry_base_s, row.attempts);
		pp_store_notify_mark_retry(n->st, id, pp_clock_now_ms() + wait_s * 1000, err);
		pp_log_warn("notify: %s notice %lld attempt %d failed (%s); retry in %lld s", row.channel,
		            (long long)id, row.attempts, err, (long long)wait_s);
	}
out:
	pp_notify_contact_wipe(&ct);
}

static int process_due(pp_notify *n, int *sent, int *failed)
{
	int64_t ids[DUE_BATCH];
	size_t got = 0;
	int rc;

	for (int round = 0; round < 64 && !atomic_load(&n->stop); round++) {
		if ((rc = pp_store_notify_due(n->st, pp_clock_now_ms(), ids, DUE_BATCH, &got)))
			return rc;
		for (size_t i = 0; i < got && !atomic_load(&n->stop); i++)
			deliver(n, ids[i], sent, failed);
		if (got < DUE_BATCH)
			break;
	}
	return PP_OK;
}

int pp_notify_run_once(pp_notify *n, int *sent, int *failed)
{
	if (sent)
		*sent = 0;
	if (failed)
		*failed = 0;
	if (!n)
		return PP_EINVAL;
	return process_due(n, sent, failed);
}

static void maybe_purge(pp_notify *n)
{
	int64_t now = pp_clock_now_ms();
	int gone = 0;

	if (now - n->last_purge_ms < PURGE_EVERY_MS)
		return;
	n->last_purge_ms = now;
	if (!pp_store_notify_purge(n->st, now - (int64_t)n->cfg->notify_keep_days * 86400000LL,
	                           &gone) && gone)
		pp_log_info("notify: %d finished outbox rows purged", gone);
}

static void *worker(void *arg)
{
	pp_notify *n = arg;
	int rc;

	while (!atomic_load(&n->stop)) {
		struct timespec ts;
		int64_t wait_ms = n->cfg->notify_poll_ms > 0 ? n->cfg->notify_poll_ms : 1000;

		if ((rc = process_due(n, NULL, NULL)))
			pp_log_warn("notify: outbox scan failed (%s)", pp_strerror(rc));
		pp_notify_drain(n);   /* one-time enrolment codes (code.c) */
		maybe_purge(n);
		pthread_mutex_lock(&n->mu);
		if (!n->kick && !atomic_load(&n->stop)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait_ms / 1000;
			ts.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			while (!n->kick && !atomic_load(&n->stop) &&
			       pthread_cond_timedwait(&n->cv, &n->mu, &ts) != ETIMEDOUT)
				;
		}
		n->kick = false;
		pthread_mutex_unlock(&n->mu);
	}
	return NULL;
}

int pp_notify_start(pp_notify *n)
{
	if (!n)
		return PP_EINVAL;
	if (n->running)
		return PP_OK;
	atomic_store(&n->stop, false);
	n->kick = true;   /* rows left from before a restart are looked at at once */
	if (pthread_create(&n->thread, NULL, worker, n))
		return PP_EIO;
	n->running = true;
	if (!n->email_on && !n->sms_on)
		pp_log_info("notify: no channel configured (notify.smtp_url, notify.sms_webhook_url): "
		            "nothing will be queued");
	return PP_OK;
}

void pp_notify_stop(pp_notify *n)
{
	if (!n || !n->running)
		return;
	pthread_mutex_lock(&n->mu);
	atomic_store(&n->stop, true);
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	n->running = false;
}

void pp_notify_close(pp_notify *n)
{
	if (!n)
		return;
	pp_notify_stop(n);
	texts_free(n);
	free_secret(&n->smtp_password);
	free_secret(&n->sms_token);
	if (n->curl_inited)
		curl_global_cleanup();
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

/* ---- queueing ---- */

int pp_notify_enqueue_n(pp_notify *n, int64_t user_id, const char *event, int *queued)
{
	int q = 0, rc;

	if (queued)
		*queued = 0;
	if (!n || user_id <= 0 || pp_notify_event_index(event) < 0)
		return PP_EINVAL;
	if (!n->email_on && !n->sms_on)
		return PP_OK;
	rc = pp_store_notify_enqueue(n->st, user_id, event, n->email_on, n->sms_on, pp_clock_now_ms(),
	                             &q);
	if (rc) {
		/* the caller's own data is already stored; it decides what to do with this */
		pp_log_warn("notify: could not queue a %s notice for user %lld (%s)", event,
		            (long long)user_id, pp_strerror(rc));
		return rc;
	}
	if (queued)
		*queued = q;
	if (q > 0 && n->running) {
		pthread_mutex_lock(&n->mu);
		n->kick = true;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
	}
	return PP_OK;
}

int pp_notify_enqueue(pp_notify *n, int64_t user_id, const char *event)
{
	return pp_notify_enqueue_n(n, user_id, event, NULL);
}

static int enqueue_all(pp_notify *n, const int64_t *ids, size_t count, const char *event,
                       int *queued)
{
	int first = PP_OK;

	for (size_t i = 0; i < count; i++) {
		int q = 0, rc = pp_notify_enqueue_n(n, ids[i], event, &q);
		if (rc && !first)
			first = rc;   /* the others are still queued */
		if (queued)
			*queued += q;
	}
	return first;
}

int pp_notify_enqueue_patient(pp_notify *n, int64_t patient_id, const char *event, int *queued)
{
	int64_t *ids = NULL;
	size_t count = 0;
	int rc;

	if (queued)
		*queued = 0;
	if (!n || patient_id <= 0 || pp_notify_event_index(event) < 0)
		return PP_EINVAL;
	if ((rc = pp_store_notify_patient_users(n->st, patient_id, &ids, &count))) {
		pp_log_warn("notify: could not look up the accounts to notify (%s)", pp_strerror(rc));
		return rc;
	}
	rc = enqueue_all(n, ids, count, event, queued);
	free(ids);
	return rc;
}

int pp_notify_enqueue_results_since(pp_notify *n, int64_t since_ms, int *users)
{
	int64_t *ids = NULL;
	size_t count = 0;
	int rc;

	if (users)
		*users = 0;
	if (!n)
		return PP_EINVAL;
	if (!n->email_on && !n->sms_on)
		return PP_OK;
	if ((rc = pp_store_notify_result_users_since(n->st, since_ms, &ids, &count))) {
		pp_log_warn("notify: could not look up the accounts with new results (%s)",
		            pp_strerror(rc));
		return rc;
	}
	rc = enqueue_all(n, ids, count, PP_NOTIFY_EVENT_RESULT, NULL);
	if (users)
		*users = (int)count;
	free(ids);
	return rc;
}

int pp_notify_after_import(const pp_config *cfg, pp_store *st, pp_crypto *c, int64_t since_ms,
                           int *users)
{
	pp_notify *n = NULL;
	int rc;

	if (users)
		*users = 0;
	if (!cfg || (!cfg->notify_smtp_url[0] && !cfg->notify_sms_webhook_url[0]))
		return PP_OK;
	if ((rc = pp_notify_open(&n, cfg, st, c)))
		return rc;
	rc = pp_notify_enqueue_results_since(n, since_ms, users);
	pp_notify_close(n);
	return rc;
}
