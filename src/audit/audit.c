/* audit: the writer — callers enqueue an event and sleep; one writer thread takes everything queued,
 * writes it in one transaction (one fsync), signs checkpoints, and wakes the callers with the
 * result. Fail-closed: a batch that cannot be committed returns PP_EAUDIT to every caller in it. */
#include "audit/audit_internal.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 1024
#define DEFAULT_BUSY_MS 5000

typedef struct waiter {
	struct waiter *next;
	const pp_audit_event *ev;   /* the caller's; valid until done is posted (or our copy) */
	int64_t ts_ms;
	int result;
	sem_t done;                 /* posted by the writer once result is set (pp_audit_record) */
	pp_audit_done_cb cb;        /* pp_audit_submit: called instead, then the waiter is freed */
	void *cb_ctx;
	pp_audit_event copy;        /* pp_audit_submit: the event, its strings after the waiter */
} waiter;

struct pp_audit {
	pp_audit_options opt;
	char *path;
	pp_crypto *crypto;
	pp_store_audit *db;         /* used by the writer thread only once it runs */

	pthread_mutex_t mu;
	pthread_cond_t work;        /* the writer waits for work (monotonic clock) */
	waiter *head, *tail;
	bool stopping;
	bool started;
	bool writer_idle;           /* the writer sleeps on work: the next enqueue must wake it */
	pthread_t thread;

	/* writer-only state: the committed chain head and the last checkpoint */
	int64_t seq;
	uint8_t hash[32];
	int64_t cp_seq;
	int64_t cp_due_ms;          /* monotonic ms when a time-based checkpoint is due */
	int64_t key_id;             /* audit_key row of our signing key; 0 without crypto */
	size_t batch_max;
	bool failing;               /* the last batch failed: log transitions, not every batch */
	int64_t n_events, n_batches, n_failed;   /* for the log line at close */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* writes a signed checkpoint for (seq, hash) inside the open transaction */
static int put_checkpoint(pp_audit *a, int64_t seq, const uint8_t hash[32])
{
	pp_store_audit_checkpoint cp;
	uint8_t msg[PP_AUDIT_CP_MSG_LEN];
	int rc;

	memset(&cp, 0, sizeof cp);
	cp.seq = seq;
	cp.ts_ms = pp_clock_now_ms();
	memcpy(cp.hash, hash, 32);
	cp.key_id = a->key_id;
	pp_audit_checkpoint_message(seq, hash, msg);
	rc = pp_crypto_sign(a->crypto, msg, sizeof msg, cp.sig);
	if (rc) {
		pp_log_error("audit: cannot sign checkpoint at seq %lld (%s)", (long long)seq,
		             pp_strerror(rc));
		return PP_ECRYPTO;
	}
	return pp_store_audit_checkpoint_insert(a->db, &cp);
}

static bool can_checkpoint(const pp_audit *a)
{
	return a->crypto && a->key_id > 0;
}

/* Within a write transaction: re-read the committed head. It differs from the cached one only after
 * a commit whose outcome we could not see, or when another process appended; the database wins. */
static int sync_head(pp_audit *a)
{
	int64_t seq;
	uint8_t hash[32];
	int rc = pp_store_audit_event_last(a->db, &seq, hash);

	if (rc)
		return rc;
	if (seq != a->seq || memcmp(hash, a->hash, 32) != 0) {
		pp_log_warn("audit: chain head moved from seq %lld to %lld; continuing from the database",
		            (long long)a->seq, (long long)seq);
		a->seq = seq;
		memcpy(a->hash, hash, 32);
	}
	return PP_OK;
}

/* One transaction for the whole batch. The cached head changes only after COMMIT succeeded. */
static int write_batch(pp_audit *a, waiter *batch)
{
	pp_store_audit_row r;
	int64_t seq;
	uint8_t hash[32];
	bool cp_written = false;
	int rc;

	if ((rc = pp_store_audit_begin(a->db)))
		goto out;
	if ((rc = sync_head(a)))
		goto out;
	seq = a->seq;
	memcpy(hash, a->hash, 32);
	for (waiter *w = batch; w; w = w->next) {
		memset(&r, 0, sizeof r);
		r.seq = ++seq;
		r.ts_ms = w->ts_ms;
		pp_audit_row_fields(w->ev, &r);
		memcpy(r.prev_hash, hash, 32);
		if ((rc = pp_audit_chain_hash(r.prev_hash, &r, r.hash)))
			goto out;
		if ((rc = pp_store_audit_event_insert(a->db, &r)))
			goto out;
		memcpy(hash, r.hash, 32);
	}
	if (can_checkpoint(a) && a->opt.checkpoint_every > 0 &&
	    seq - a->cp_seq >= a->opt.checkpoint_every) {
		rc = put_checkpoint(a, seq, hash);
		if (rc == PP_OK)
			cp_written = true;
		else if (rc == PP_ECRYPTO)
			rc = PP_OK;   /* unsigned for now: the events still count; retried next time */
		else
			goto out;
	}
	if ((rc = pp_store_audit_commit(a->db)))
		goto out;
	a->seq = seq;
	memcpy(a->hash, hash, 32);
	if (cp_written) {
		a->cp_seq = seq;
		if (a->opt.checkpoint_seconds > 0)
			a->cp_due_ms = mono_ms() + (int64_t)a->opt.checkpoint_seconds * 1000;
	}
out:
	if (rc) {
		pp_store_audit_rollback(a->db);
		if (!a->failing)
			pp_log_error("audit: store failing (%s); refusing requests until it recovers",
			             pp_strerror(rc));
		a->failing = true;
		return PP_EAUDIT;
	}
	if (a->failing)
		pp_log_warn("audit: store recovered at seq %lld", (long long)a->seq);
	a->failing = false;
	return PP_OK;
}

/* a checkpoint of the committed head in its own transaction (timer, close, key change) */
static int write_checkpoint_now(pp_audit *a)
{
	int rc;

	if (!can_checkpoint(a))
		return PP_OK;
	if ((rc = pp_store_audit_begin(a->db)))
		goto out;
	if ((rc = sync_head(a)))
		goto out;
	if (a->seq <= a->cp_seq) {
		pp_store_audit_rollback(a->db);
		return PP_OK;
	}
	if ((rc = put_checkpoint(a, a->seq, a->hash)))
		goto out;
	if ((rc = pp_store_audit_commit(a->db)))
		goto out;
	a->cp_seq = a->seq;
out:
	if (rc) {
		pp_store_audit_rollback(a->db);
		pp_log_warn("audit: checkpoint not written (%s); will retry", pp_strerror(rc));
	}
	return rc;
}

static void *writer_main(void *arg)
{
	pp_audit *a = arg;
	bool timed = can_checkpoint(a) && a->opt.checkpoint_seconds > 0;

	pthread_setname_np(pthread_self(), "pp-audit");   /* for top -H and perf */

	pthread_mutex_lock(&a->mu);
	for (;;) {
		waiter *batch, *last;
		size_t n;
		int rc;

		while (!a->head && !a->stopping) {
			if (timed) {
				struct timespec ts = { .tv_sec = a->cp_due_ms / 1000,
				                       .tv_nsec = (a->cp_due_ms % 1000) * 1000000 };
				if (mono_ms() >= a->cp_due_ms) {
					pthread_mutex_unlock(&a->mu);
					write_checkpoint_now(a);
					pthread_mutex_lock(&a->mu);
					a->cp_due_ms = mono_ms() + (int64_t)a->opt.checkpoint_seconds * 1000;
					continue;
				}
				a->writer_idle = true;
				pthread_cond_timedwait(&a->work, &a->mu, &ts);
			} else {
				a->writer_idle = true;
				pthread_cond_wait(&a->work, &a->mu);
			}
			a->writer_idle = false;
		}
		if (!a->head)
			break;   /* stopping and drained */
		batch = last = a->head;
		for (n = 1; n < a->batch_max && last->next; n++)
			last = last->next;
		a->head = last->next;
		if (!a->head)
			a->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&a->mu);

		rc = write_batch(a, batch);

		a->n_batches++;
		/* Each caller has its own semaphore: waking one takes no shared lock and wakes no one
		 * else. (Measured here: waking them all from the writer beat passing the wake-up along
		 * a chain or a tree of callers — the wake-ups overlap with the next batch filling up.) */
		for (waiter *w = batch, *next; w; w = next) {
			next = w->next;   /* w is gone as soon as it is posted */
			w->result = rc;
			if (rc)
				a->n_failed++;
			else
				a->n_events++;
			if (w->cb) {
				w->cb(w->cb_ctx, rc ? PP_EAUDIT : 0);
				pp_wipe(w, sizeof *w);   /* the copy's strings may name the request's ids */
				free(w);
			} else {
				sem_post(&w->done);
			}
		}
		pthread_mutex_lock(&a->mu);
		/* the timer may be overdue while work kept arriving */
		if (timed && mono_ms() >= a->cp_due_ms) {
			pthread_mutex_unlock(&a->mu);
			write_checkpoint_now(a);
			pthread_mutex_lock(&a->mu);
			a->cp_due_ms = mono_ms() + (int64_t)a->opt.checkpoint_seconds * 1000;
		}
	}
	pthread_mutex_unlock(&a->mu);
	write_checkpoint_now(a);   /* final checkpoint on close */
	return NULL;
}

/* Registers our signing key in the audit file; when the key is new and events exist, signs the
 * current head with it at once, so the new key vouches for all history before the change. */
static int setup_key(pp_audit *a)
{
	pp_store_audit_key *keys = NULL, k;
	size_t nkeys = 0;
	uint8_t pub[PP_CRYPTO_PUB_LEN];
	int rc;

	if ((rc = pp_crypto_public_key(a->crypto, pub))) {
		pp_log_error("audit: no signing key (%s)", pp_strerror(rc));
		return rc;
	}
	if ((rc = pp_store_audit_begin(a->db)))
		goto out;
	if ((rc = pp_store_audit_key_list(a->db, &keys, &nkeys)))
		goto out;
	if (nkeys && pp_ct_compare(keys[nkeys - 1].pub, pub, 32) == 0) {
		a->key_id = keys[nkeys - 1].id;
		rc = pp_store_audit_rollback(a->db);
		goto out;
	}
	if ((rc = sync_head(a)))
		goto out;
	memset(&k, 0, sizeof k);
	memcpy(k.pub, pub, 32);
	k.first_seq = a->seq + 1;
	k.ts_ms = pp_clock_now_ms();
	if ((rc = pp_store_audit_key_insert(a->db, &k)))
		goto out;
	a->key_id = k.id;
	if (nkeys)
		pp_log_warn("audit: signing key changed; new key registered from seq %lld",
		            (long long)k.first_seq);
	if (a->seq > 0 && (rc = put_checkpoint(a, a->seq, a->hash)))
		goto out;
	if ((rc = pp_store_audit_commit(a->db)))
		goto out;
	if (a->seq > 0)
		a->cp_seq = a->seq;
out:
	if (rc) {
		pp_store_audit_rollback(a->db);
		a->key_id = 0;
	}
	free(keys);
	return rc;
}

int pp_audit_open(pp_audit **out, const pp_audit_options *opt, pp_crypto *crypto)
{
	pp_audit *a = NULL;
	pp_store_audit_checkpoint cp;
	pthread_condattr_t ca;
	bool sync_inited = false;
	int rc;

	if (!out || !opt || !opt->path || !*opt->path)
		return PP_EINVAL;
	*out = NULL;
	a = calloc(1, sizeof *a);
	if (!a)
		return PP_ENOMEM;
	a->opt = *opt;
	a->path = pp_strdup(opt->path);
	if (!a->path) {
		rc = PP_ENOMEM;
		goto out;
	}
	a->opt.path = a->path;
	if (a->opt.busy_timeout_ms <= 0)
		a->opt.busy_timeout_ms = DEFAULT_BUSY_MS;
	a->batch_max = opt->group_commit ? BATCH_MAX : 1;
	a->crypto = crypto;

	if (pthread_mutex_init(&a->mu, NULL) || pthread_condattr_init(&ca)) {
		rc = PP_ENOMEM;
		goto out;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->work, &ca);
	pthread_condattr_destroy(&ca);
	sync_inited = true;

	if ((rc = pp_store_audit_open(&a->db, a->path, a->opt.busy_timeout_ms, true)))
		goto out;
	/* restart: continue the chain from the last row */
	if ((rc = pp_store_audit_event_last(a->db, &a->seq, a->hash)))
		goto out;
	rc = pp_store_audit_checkpoint_last(a->db, &cp);
	if (rc == PP_OK)
		a->cp_seq = cp.seq;
	else if (rc != PP_ENOTFOUND)
		goto out;
	if (crypto) {
		if ((rc = setup_key(a)))
			goto out;
	} else {
		pp_log_warn("audit: no crypto; checkpoints will not be signed");
	}
	a->cp_due_ms = mono_ms() + (int64_t)(a->opt.checkpoint_seconds > 0 ?
	                                     a->opt.checkpoint_seconds : 0) * 1000;
	if (pthread_create(&a->thread, NULL, writer_main, a)) {
		rc = PP_ENOMEM;
		goto out;
	}
	a->started = true;
	pp_log_info("audit: log open at seq %lld (last checkpoint %lld, group commit %s)",
	            (long long)a->seq, (long long)a->cp_seq, opt->group_commit ? "on" : "off");
	*out = a;
	a = NULL;
	rc = PP_OK;
out:
	if (a) {
		pp_log_error("audit: cannot open the audit log (%s)", pp_strerror(rc));
		pp_store_audit_close(a->db);
		if (sync_inited) {
			pthread_cond_destroy(&a->work);
			pthread_mutex_destroy(&a->mu);
		}
		free(a->path);
		free(a);
	}
	return rc;
}

void pp_audit_close(pp_audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->mu);
	if (a->started)
		pthread_join(a->thread, NULL);
	pp_log_info("audit: closed at seq %lld: %lld events in %lld transactions, %lld refused",
	            (long long)a->seq, (long long)a->n_events, (long long)a->n_batches,
	            (long long)a->n_failed);
	pp_store_audit_close(a->db);
	pthread_cond_destroy(&a->work);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}

/* queues w (its ts_ms is set here); PP_EAUDIT when the writer is stopping */
static int enqueue(pp_audit *a, waiter *w)
{
	pthread_mutex_lock(&a->mu);
	w->ts_ms = pp_clock_now_ms();   /* under the lock: timestamps never go back along seq */
	if (a->stopping) {
		pthread_mutex_unlock(&a->mu);
		return PP_EAUDIT;
	}
	if (a->tail)
		a->tail->next = w;
	else
		a->head = w;
	a->tail = w;
	if (a->writer_idle) {
		a->writer_idle = false;
		pthread_cond_signal(&a->work);
	}
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int pp_audit_record(pp_audit *a, const pp_audit_event *ev)
{
	waiter w;

	if (!a)
		return PP_EAUDIT;   /* no audit log: nothing touching PHI may proceed */
	if (!ev)
		return PP_EINVAL;
	memset(&w, 0, sizeof w);
	w.ev = ev;
	if (sem_init(&w.done, 0, 0))
		return PP_EAUDIT;
	if (enqueue(a, &w)) {
		sem_destroy(&w.done);
		return PP_EAUDIT;
	}
	while (sem_wait(&w.done) != 0 && errno == EINTR)
		;
	sem_destroy(&w.done);
	return w.result;
}

int pp_audit_submit(pp_audit *a, const pp_audit_event *ev, pp_audit_done_cb done, void *ctx)
{
	enum { NF = 14 };   /* the event's strings */
	_Static_assert(sizeof(pp_audit_event) == NF * sizeof(const char *),
	               "pp_audit_submit copies every string of pp_audit_event");
	const char *const *src[NF];
	size_t len[NF], total = 0;
	const char **dst[NF];
	waiter *w;
	char *p;

	if (!a)
		return PP_EAUDIT;
	if (!ev || !done)
		return PP_EINVAL;
	{
		const char *const *e[NF] = {
			&ev->actor, &ev->actor_role, &ev->on_behalf_of, &ev->patient, &ev->action,
			&ev->resource_type, &ev->resource_id, &ev->outcome, &ev->source_ip,
			&ev->user_agent, &ev->session_id, &ev->purpose, &ev->request_id, &ev->detail};
		memcpy(src, e, sizeof src);
	}
	for (size_t i = 0; i < NF; i++) {
		len[i] = *src[i] ? strlen(*src[i]) + 1 : 0;
		total += len[i];
	}
	w = calloc(1, sizeof *w + total);
	if (!w)
		return PP_EAUDIT;
	{
		pp_audit_event *c = &w->copy;
		const char **d[NF] = {
			&c->actor, &c->actor_role, &c->on_behalf_of, &c->patient, &c->action,
			&c->resource_type, &c->resource_id, &c->outcome, &c->source_ip, &c->user_agent,
			&c->session_id, &c->purpose, &c->request_id, &c->detail};
		memcpy(dst, d, sizeof dst);
	}
	p = (char *)(w + 1);
	for (size_t i = 0; i < NF; i++) {
		if (!len[i])
			continue;
		memcpy(p, *src[i], len[i]);
		*dst[i] = p;
		p += len[i];
	}
	w->ev = &w->copy;
	w->cb = done;
	w->cb_ctx = ctx;
	if (enqueue(a, w)) {
		pp_wipe(w, sizeof *w + total);
		free(w);
		return PP_EAUDIT;
	}
	return 0;
}

/* ---- reading a patient's trail (access history) ---- */
typedef struct history_ctx {
	pp_audit_history_cb cb;
	void *ctx;
} history_ctx;

static int history_row(void *vctx, const pp_store_audit_row *r)
{
	history_ctx *h = vctx;
	pp_audit_event ev;
	const char **f[PP_STORE_AUDIT_NFIELDS] = {
		&ev.actor, &ev.actor_role, &ev.on_behalf_of, &ev.patient, &ev.action, &ev.resource_type,
		&ev.resource_id, &ev.outcome, &ev.source_ip, &ev.user_agent, &ev.session_id, &ev.purpose,
		&ev.request_id, &ev.detail};

	memset(&ev, 0, sizeof ev);
	for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++)
		*f[i] = r->field[i] && strlen(r->field[i]) == r->field_len[i] ? r->field[i] : NULL;
	return h->cb(h->ctx, r->seq, r->ts_ms, &ev);
}

int pp_audit_history(pp_audit *a, const char *patient, int64_t since_ms, int limit,
                     pp_audit_history_cb cb, void *ctx)
{
	pp_store_audit *db = NULL;
	history_ctx h = {.cb = cb, .ctx = ctx};
	int rc;

	if (!a || !patient || !*patient || !cb)
		return PP_EINVAL;
	/* a connection of its own: the writer's belongs to the writer thread */
	if ((rc = pp_store_audit_open(&db, a->path, a->opt.busy_timeout_ms, false)))
		return rc;
	if (!(rc = pp_store_audit_begin_read(db))) {
		rc = pp_store_audit_event_patient(db, patient, since_ms, limit, history_row, &h);
		pp_store_audit_rollback(db);
	}
	pp_store_audit_close(db);
	return rc;
}
