/* Benchmark: audit group commit against one transaction per event.
 * T threads (default 64) each record N events (default 200) in a loop, once with group_commit=true
 * and once with group_commit=false, on temporary files on a real file system (every commit is an
 * fsync: WAL, synchronous=FULL). Every log is verified afterwards. The two modes alternate for R
 * rounds (default 3) so that both see the same machine load; rates are total events / total time.
 *
 * usage: audit_bench [events_per_thread] [threads] [rounds] [both|group|single]
 * (temp files under $TMPDIR or /var/tmp) */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define MAX_THREADS 1024

typedef struct worker {
	pp_audit *a;
	int id;
	int n;
	int failures;
} worker;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	char actor[32], rid[32];
	pp_audit_event ev = {
		.actor = actor, .actor_role = "clinician", .patient = "pat-bench", .action = "read",
		.resource_type = "Observation", .resource_id = rid, .outcome = "success",
		.source_ip = "127.0.0.1", .user_agent = "audit_bench/1", .session_id = "s-bench",
		.purpose = "treatment", .request_id = "req-bench",
	};

	snprintf(actor, sizeof actor, "user:%d", w->id);
	for (int i = 0; i < w->n; i++) {
		snprintf(rid, sizeof rid, "obs-%d-%d", w->id, i);
		if (pp_audit_record(w->a, &ev) != 0)
			w->failures++;
	}
	return NULL;
}

/* The cost of one durable commit on this file system: the per-record baseline is about this
 * plus the hand-off; group commit pays it once per batch. Printed to explain the ratio. */
static double fsync_ms(const char *dir)
{
	char path[320], page[4096];
	double t0, dt;
	int fd, n = 50;

	snprintf(path, sizeof path, "%s/fsync-probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	memset(page, 'x', sizeof page);
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		if (pwrite(fd, page, sizeof page, (off_t)i * (off_t)sizeof page) != (ssize_t)sizeof page ||
		    fdatasync(fd) != 0) {
			close(fd);
			return -1;
		}
	}
	dt = now_s() - t0;
	close(fd);
	unlink(path);
	return dt * 1000 / n;
}

/* returns the elapsed seconds, or -1 on failure */
static double run(const char *path, bool group, int threads, int per_thread, pp_crypto *crypto)
{
	pp_audit_options o = {
		.path = path, .checkpoint_every = 1000, .checkpoint_seconds = 60,
		.group_commit = group, .busy_timeout_ms = 5000,
	};
	pp_audit *a = NULL;
	pthread_t *th = calloc((size_t)threads, sizeof *th);
	worker *w = calloc((size_t)threads, sizeof *w);
	double t0, dt, elapsed = -1;
	int failures = 0;
	int64_t bad = 0, count = 0;
	pp_buf rep;

	pp_buf_init(&rep, 1 << 16);
	if (!th || !w || pp_audit_open(&a, &o, crypto) != 0)
		goto out;
	t0 = now_s();
	for (int i = 0; i < threads; i++) {
		w[i] = (worker){ .a = a, .id = i, .n = per_thread };
		if (pthread_create(&th[i], NULL, worker_main, &w[i])) {
			fprintf(stderr, "cannot start thread %d\n", i);
			exit(1);
		}
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	dt = now_s() - t0;
	pp_audit_close(a);
	if (failures) {
		fprintf(stderr, "%d events failed\n", failures);
		goto out;
	}
	if (pp_audit_verify(path, crypto, &rep, &bad, &count) != 0 ||
	    count != (int64_t)threads * per_thread) {
		fprintf(stderr, "verify failed: %s", pp_buf_cstr(&rep));
		goto out;
	}
	elapsed = dt;
	printf("  %-18s %d threads x %d events: %.2f s, %.0f ev/s (log verified)\n",
	       group ? "group commit" : "per-record commit", threads, per_thread, dt,
	       (double)threads * per_thread / dt);
out:
	pp_buf_free(&rep);
	free(th);
	free(w);
	return elapsed;
}

int main(int argc, char **argv)
{
	int per_thread = argc > 1 ? atoi(argv[1]) : 200;
	int threads = argc > 2 ? atoi(argv[2]) : 64;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	const char *mode = argc > 4 ? argv[4] : "both";
	bool do_group = strcmp(mode, "single") != 0, do_single = strcmp(mode, "group") != 0;
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	char dir[256], key[300], db[300], path[320], cmd[320];
	pp_store *st = NULL;
	pp_crypto *crypto = NULL;
	double tg = 0, ts = 0, events;
	int rc = 1;

	if (per_thread < 1 || threads < 1 || threads > MAX_THREADS || rounds < 1) {
		fprintf(stderr, "usage: audit_bench [events_per_thread] [threads<=%d] [rounds] "
		        "[both|group|single]\n", MAX_THREADS);
		return 2;
	}
	pp_log_set_level(PP_LOG_WARN);
	snprintf(dir, sizeof dir, "%s/pp_audit_bench_XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(key, sizeof key, "%s/master.key", dir);
	snprintf(db, sizeof db, "%s/main.db", dir);
	if (pp_crypto_keyfile_create(key) || pp_store_open(&st, db) ||
	    pp_crypto_open(&crypto, key, st)) {
		fprintf(stderr, "cannot set up crypto\n");
		goto out;
	}
	printf("  fdatasync of a 4 KiB append on %s: %.3f ms\n", tmp, fsync_ms(dir));
	for (int r = 0; r < rounds; r++) {
		double t;
		if (do_group) {
			snprintf(path, sizeof path, "%s/audit-group-%d.db", dir, r);
			if ((t = run(path, true, threads, per_thread, crypto)) < 0)
				goto out;
			tg += t;
		}
		if (do_single) {
			snprintf(path, sizeof path, "%s/audit-single-%d.db", dir, r);
			if ((t = run(path, false, threads, per_thread, crypto)) < 0)
				goto out;
			ts += t;
		}
	}
	events = (double)threads * per_thread * rounds;
	if (do_group && do_single)
		printf("audit group commit: %.0f ev/s, per-record commit: %.0f ev/s, ratio %.1f\xc3\x97 "
		       "(%d clients, %d rounds)\n", events / tg, events / ts, ts / tg, threads, rounds);
	else
		printf("audit %s: %.0f ev/s (%d clients, %d rounds)\n",
		       do_group ? "group commit" : "per-record commit",
		       events / (do_group ? tg : ts), threads, rounds);
	rc = 0;
out:
	pp_crypto_free(crypto);
	pp_store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return rc;
}
