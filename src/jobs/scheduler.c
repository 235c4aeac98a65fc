/* jobs: the jobs thread inside `serve`. It sleeps by the monotonic clock (so a wall-clock jump,
 * e.g. a test's faketime offset, neither wakes nor stalls it) and runs retention every
 * jobs.retention_interval_s. pp_jobs_stop wakes it through a self-pipe. Logs carry counts only. */
#include "jobs/jobs_internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pp_jobs {
	const pp_app *app;
	pp_files *files;
	pthread_t thread;
	pthread_mutex_t lock;      /* runs */
	int wake[2];               /* self-pipe: a byte written means stop */
	atomic_bool stop;
	int runs;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* sleeps until the monotonic deadline or a stop; false when stopping. poll() with a relative
 * timeout, re-checked against the monotonic clock: a condition variable's absolute timeout is not
 * used because libfaketime (tests moving the wall clock) returns such waits at once. */
static bool sleep_until(pp_jobs *j, int64_t deadline)
{
	while (!atomic_load(&j->stop)) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {.fd = j->wake[0], .events = POLLIN};
		if (left <= 0)
			return true;
		if (poll(&pfd, 1, left > 60000 ? 60000 : (int)left) > 0)
			break;
	}
	return false;
}

static void run_retention(pp_jobs *j)
{
	pp_jobs_retention_opts o = {.actor = "system:jobs", .actor_role = "system", .list_max = 1};
	json_t *rep = NULL;
	int rc = pp_jobs_retention_run(j->app, j->files, &o, &rep);
	json_t *n = json_object_get(json_object_get(rep, "counts"), "purge");
	json_t *h = json_object_get(json_object_get(rep, "counts"), "held");
	long long purged = 0, held = 0;
	const char *k;
	json_t *v;

	json_object_foreach(n, k, v)
		purged += json_integer_value(v);
	json_object_foreach(h, k, v)
		held += json_integer_value(v);
	if (rc)
		pp_log_error("retention: run failed (%s) after %lld purged", pp_strerror(rc), purged);
	else
		pp_log_info("retention: %lld purged, %lld held back", purged, held);
	json_decref(rep);
}

static void *loop(void *arg)
{
	pp_jobs *j = arg;
	int64_t every_ms = (int64_t)j->app->cfg->jobs_retention_interval_s * 1000;
	int64_t next = mono_ms() + every_ms;

	while (sleep_until(j, next)) {
		run_retention(j);
		pthread_mutex_lock(&j->lock);
		j->runs++;
		pthread_mutex_unlock(&j->lock);
		next += every_ms;
		if (next < mono_ms())   /* a run longer than the interval: the next one an interval on */
			next = mono_ms() + every_ms;
	}
	return NULL;
}

int pp_jobs_start(pp_jobs **out, const pp_app *app, pp_files *files)
{
	pp_jobs *j;

	if (!out || !app)
		return PP_EINVAL;
	*out = NULL;
	if (app->cfg->jobs_retention_interval_s <= 0)
		return 0;
	if (!(j = calloc(1, sizeof *j)))
		return PP_ENOMEM;
	j->app = app;
	j->files = files;
	atomic_init(&j->stop, false);
	if (pipe2(j->wake, O_CLOEXEC | O_NONBLOCK)) {
		free(j);
		return PP_EIO;
	}
	pthread_mutex_init(&j->lock, NULL);
	if (pthread_create(&j->thread, NULL, loop, j)) {
		pthread_mutex_destroy(&j->lock);
		close(j->wake[0]);
		close(j->wake[1]);
		free(j);
		return PP_ENOMEM;
	}
	*out = j;
	return 0;
}

void pp_jobs_stop(pp_jobs *j)
{
	if (!j)
		return;
	atomic_store(&j->stop, true);
	if (write(j->wake[1], "x", 1) < 0)
		pp_log_warn("jobs: cannot wake the jobs thread; it stops within a minute");
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->lock);
	close(j->wake[0]);
	close(j->wake[1]);
	free(j);
}

int pp_jobs_runs(pp_jobs *j)
{
	int n;

	if (!j)
		return 0;
	pthread_mutex_lock(&j->lock);
	n = j->runs;
	pthread_mutex_unlock(&j->lock);
	return n;
}
