/*
 * Argon2id on a fixed pool of threads. Request workers submit a job and wait for it; the queue is
 * bounded so that a flood of logins cannot pile up unbounded memory (each hash needs m KiB) or
 * latency: when it is full the caller gets PP_EBUSY at once and the client is told to retry.
 */
#include <argon2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

enum job_kind { JOB_HASH, JOB_VERIFY };

typedef struct job {
	enum job_kind kind;
	const char *pw;            /* the caller's buffer: the caller waits, so it outlives the job */
	size_t pwlen;
	const char *encoded;       /* JOB_VERIFY */
	char *out;                 /* JOB_HASH: PP_AUTH_HASH_MAX bytes */
	int rc;
	bool done;
	struct job *next;
} job;

struct pp_auth_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;       /* workers wait for jobs */
	pthread_cond_t done;       /* callers wait for their job */
	job *head, *tail;
	int queued, queue_max;
	bool stop, hold;
	uint32_t m_kib, t, p;
	int nthreads;
	pthread_t *threads;
};

static void run_job(pp_auth_pool *pool, job *j)
{
	if (j->kind == JOB_HASH) {
		uint8_t salt[PP_AUTH_SALT_LEN];
		int rc;

		if (pp_random(salt, sizeof salt) != 0) {
			j->rc = PP_ECRYPTO;
			return;
		}
		rc = argon2id_hash_encoded(pool->t, pool->m_kib, pool->p, j->pw, j->pwlen, salt,
		                           sizeof salt, 32, j->out, PP_AUTH_HASH_MAX);
		pp_wipe(salt, sizeof salt);
		if (rc != ARGON2_OK) {
			pp_log_error("auth: argon2 hash failed (%d)", rc);
			j->rc = rc == ARGON2_MEMORY_ALLOCATION_ERROR ? PP_ENOMEM : PP_ECRYPTO;
		} else {
			j->rc = 0;
		}
		return;
	}
	switch (argon2id_verify(j->encoded, j->pw, j->pwlen)) {
	case ARGON2_OK:
		j->rc = 0;
		break;
	case ARGON2_VERIFY_MISMATCH:
		j->rc = PP_EAUTH;
		break;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		j->rc = PP_ENOMEM;
		break;
	default:               /* malformed stored hash: never a match */
		pp_log_warn("auth: stored password hash could not be decoded");
		j->rc = PP_EAUTH;
		break;
	}
}

static void *worker(void *arg)
{
	pp_auth_pool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		job *j;

		while (!pool->stop && (pool->hold || !pool->head))
			pthread_cond_wait(&pool->work, &pool->lock);
		if (!pool->head)   /* stopping and drained */
			break;
		j = pool->head;
		pool->head = j->next;
		if (!pool->head)
			pool->tail = NULL;
		pool->queued--;
		pthread_mutex_unlock(&pool->lock);
		run_job(pool, j);
		pthread_mutex_lock(&pool->lock);
		j->done = true;
		pthread_cond_broadcast(&pool->done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static int submit_and_wait(pp_auth_pool *pool, job *j)
{
	int ret;

	pthread_mutex_lock(&pool->lock);
	if (pool->stop) {
		ret = PP_EBUSY;
		goto out;
	}
	if (pool->queued >= pool->queue_max) {
		ret = PP_EBUSY;
		goto out;
	}
	j->next = NULL;
	j->done = false;
	if (pool->tail)
		pool->tail->next = j;
	else
		pool->head = j;
	pool->tail = j;
	pool->queued++;
	pthread_cond_signal(&pool->work);
	while (!j->done)
		pthread_cond_wait(&pool->done, &pool->lock);
	ret = j->rc;
out:
	pthread_mutex_unlock(&pool->lock);
	return ret;
}

int pp_auth_pool_hash(pp_auth_pool *pool, const char *pw, size_t pwlen,
                      char out[PP_AUTH_HASH_MAX])
{
	job j = {.kind = JOB_HASH, .pw = pw, .pwlen = pwlen, .out = out};

	if (!pool || !pw || !out || pwlen > PP_AUTH_PASSWORD_MAX)
		return PP_EINVAL;
	return submit_and_wait(pool, &j);
}

int pp_auth_pool_verify(pp_auth_pool *pool, const char *encoded, const char *pw, size_t pwlen)
{
	job j = {.kind = JOB_VERIFY, .pw = pw, .pwlen = pwlen, .encoded = encoded};

	if (!pool || !pw || !encoded || pwlen > PP_AUTH_PASSWORD_MAX)
		return PP_EINVAL;
	return submit_and_wait(pool, &j);
}

void pp_auth_pool_hold(pp_auth_pool *pool, bool hold)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->hold = hold;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

int pp_auth_pool_queued(pp_auth_pool *pool)
{
	int n;

	if (!pool)
		return 0;
	pthread_mutex_lock(&pool->lock);
	n = pool->queued;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

int pp_auth_pool_new(pp_auth_pool **out, int threads, int queue_max, uint32_t m_kib, uint32_t t,
                     uint32_t p)
{
	pp_auth_pool *pool = NULL;
	int ret = PP_EINVAL;

	if (!out || threads < 1 || threads > 256 || queue_max < 1 || m_kib < 8 * p || t < 1 ||
	    p < 1)
		goto out;
	ret = PP_ENOMEM;
	if (!(pool = calloc(1, sizeof *pool)))
		goto out;
	if (!(pool->threads = calloc((size_t)threads, sizeof *pool->threads))) {
		free(pool);
		pool = NULL;
		goto out;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->done, NULL);
	pool->queue_max = queue_max;
	pool->m_kib = m_kib;
	pool->t = t;
	pool->p = p;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&pool->threads[i], NULL, worker, pool) != 0) {
			pp_log_error("auth: could not start hashing thread %d", i);
			ret = PP_ENOMEM;
			goto out;
		}
		pool->nthreads++;
	}
	ret = 0;
out:
	if (ret < 0) {
		pp_auth_pool_free(pool);
		pool = NULL;
	}
	if (out)
		*out = pool;
	return ret;
}

void pp_auth_pool_free(pp_auth_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pool->hold = false;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->done);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}
