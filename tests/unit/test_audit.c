/* Unit tests for audit/: the hash chain under concurrency, restart, tampering of every kind (done
 * with direct SQL on the file after dropping the triggers), the append-only triggers, fail-closed
 * behaviour under a foreign lock, and signed checkpoints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "audit/audit_internal.h"
#include "crypto/crypto.h"
#include "store/store.h"

typedef struct fixture {
	char dir[64];
	char audit_path[128];
	pp_store *st;
	pp_crypto *crypto;
} fixture;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int make_crypto(const char *dir, const char *tag, pp_store **st, pp_crypto **c)
{
	char key[160], db[160];

	snprintf(key, sizeof key, "%s/%s.key", dir, tag);
	snprintf(db, sizeof db, "%s/%s.db", dir, tag);
	if (pp_crypto_keyfile_create(key))
		return -1;
	if (pp_store_open(st, db))
		return -1;
	return pp_crypto_open(c, key, *st) ? -1 : 0;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/pp_test_audit_XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->audit_path, sizeof f->audit_path, "%s/audit.db", f->dir);
	if (make_crypto(f->dir, "main", &f->st, &f->crypto))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	pp_crypto_free(f->crypto);
	pp_store_close(f->st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static pp_audit_options opts(fixture *f, bool group, int every)
{
	pp_audit_options o = {
		.path = f->audit_path, .checkpoint_every = every, .checkpoint_seconds = 0,
		.group_commit = group, .busy_timeout_ms = 200,
	};
	return o;
}

static pp_audit_event sample_event(void)
{
	pp_audit_event ev = {
		.actor = "user:17", .actor_role = "clinician", .patient = "pat-ab12",
		.action = "read", .resource_type = "Observation", .resource_id = "obs-1",
		.outcome = "success", .source_ip = "127.0.0.1", .user_agent = "cmocka",
		.session_id = "s-1", .purpose = "treatment", .request_id = "req-1",
	};
	return ev;   /* on_behalf_of and detail stay NULL on purpose */
}

/* records n events from one thread, then closes (which writes a final checkpoint) */
static void make_log(fixture *f, int n, int every)
{
	pp_audit_options o = opts(f, true, every);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();

	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	for (int i = 0; i < n; i++) {
		char rid[32];
		snprintf(rid, sizeof rid, "obs-%d", i + 1);
		ev.resource_id = rid;
		assert_int_equal(pp_audit_record(a, &ev), 0);
	}
	pp_audit_close(a);
}

static int verify(fixture *f, pp_crypto *c, int64_t *bad, int64_t *count, pp_buf *rep)
{
	int rc;

	pp_buf_init(rep, 1 << 16);
	rc = pp_audit_verify(f->audit_path, c, rep, bad, count);
	return rc;
}

static void expect_intact(fixture *f, int64_t want_count)
{
	pp_buf rep;
	int64_t bad = -1, count = -1;
	int rc = verify(f, f->crypto, &bad, &count, &rep);

	if (rc)
		fprintf(stderr, "%s", pp_buf_cstr(&rep));
	assert_int_equal(rc, 0);
	assert_int_equal(bad, 0);
	assert_int_equal(count, want_count);
	assert_non_null(strstr(pp_buf_cstr(&rep), "intact"));
	pp_buf_free(&rep);
}

static void expect_bad(fixture *f, int64_t want_bad, const char *why)
{
	pp_buf rep;
	int64_t bad = -1, count = -1;
	int rc = verify(f, f->crypto, &bad, &count, &rep);

	if (rc != PP_ECRYPTO || bad != want_bad || (why && !strstr(pp_buf_cstr(&rep), why)))
		fprintf(stderr, "report (want seq %lld):\n%s", (long long)want_bad, pp_buf_cstr(&rep));
	assert_int_equal(rc, PP_ECRYPTO);
	assert_int_equal(bad, want_bad);
	assert_non_null(strstr(pp_buf_cstr(&rep), "BROKEN"));
	if (why)
		assert_non_null(strstr(pp_buf_cstr(&rep), why));
	pp_buf_free(&rep);
}

/* direct SQL on the audit file, as an attacker with file access would do it */
static sqlite3 *raw_open(fixture *f)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->audit_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fprintf(stderr, "sql failed: %s: %s\n", sql, err ? err : "?");
	sqlite3_free(err);
	assert_int_equal(rc, SQLITE_OK);
}

static void drop_triggers(sqlite3 *db)
{
	raw_exec(db, "DROP TRIGGER audit_event_no_update; DROP TRIGGER audit_event_no_delete;"
	             "DROP TRIGGER audit_checkpoint_no_update; DROP TRIGGER audit_checkpoint_no_delete;");
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* ---- the chain ---- */

#define NTHREADS 8
#define PER_THREAD 150

typedef struct worker {
	pp_audit *a;
	int id;
	int failures;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	pp_audit_event ev = sample_event();
	char actor[32], rid[32];

	snprintf(actor, sizeof actor, "user:%d", w->id);
	ev.actor = actor;
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(rid, sizeof rid, "obs-%d-%d", w->id, i);
		ev.resource_id = rid;
		if (pp_audit_record(w->a, &ev) != 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent_chain_intact(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 100);
	pp_audit *a = NULL;
	pthread_t th[NTHREADS];
	worker w[NTHREADS];
	sqlite3 *db;

	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (worker){ .a = a, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	pp_audit_close(a);
	expect_intact(f, NTHREADS * PER_THREAD);
	{
		struct stat sb;
		assert_int_equal(stat(f->audit_path, &sb), 0);
		assert_int_equal(sb.st_mode & 0077, 0);   /* owner-only */
	}

	db = raw_open(f);
	/* seq is dense 1..N and every thread's every event is there */
	assert_int_equal(raw_int(db, "SELECT min(seq) FROM audit_event"), 1);
	assert_int_equal(raw_int(db, "SELECT max(seq) FROM audit_event"), NTHREADS * PER_THREAD);
	assert_int_equal(raw_int(db, "SELECT count(DISTINCT resource_id) FROM audit_event"),
	                 NTHREADS * PER_THREAD);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_event WHERE actor='user:3'"),
	                 PER_THREAD);
	/* NULL fields stay NULL, present ones are stored as given */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_event WHERE detail IS NULL"),
	                 NTHREADS * PER_THREAD);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_event WHERE purpose='treatment'"),
	                 NTHREADS * PER_THREAD);
	/* timestamps are UTC ms of now and never go back along seq */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_event a JOIN audit_event b"
	                             " ON b.seq = a.seq + 1 WHERE b.ts_ms < a.ts_ms"), 0);
	assert_true(raw_int(db, "SELECT abs(max(ts_ms) - CAST((julianday('now') - 2440587.5)"
	                        " * 86400000 AS INTEGER)) FROM audit_event") < 600000);
	/* the first record links to 32 zero bytes */
	assert_int_equal(raw_int(db, "SELECT prev_hash = zeroblob(32) FROM audit_event WHERE seq=1"), 1);
	/* 8 concurrent writers share transactions: far fewer checkpoints than events */
	assert_true(raw_int(db, "SELECT count(*) FROM audit_checkpoint") >= 2);
	sqlite3_close(db);
}

static void test_per_record_commit_intact(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, false, 7);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();

	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(pp_audit_record(a, &ev), 0);
	pp_audit_close(a);
	expect_intact(f, 20);
}

static void test_restart_continues_chain(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 5, 1000);
	make_log(f, 4, 1000);
	make_log(f, 3, 1000);
	expect_intact(f, 12);
	db = raw_open(f);
	assert_int_equal(raw_int(db, "SELECT max(seq) FROM audit_event"), 12);
	/* seq 6 links to seq 5 across the restart */
	assert_int_equal(raw_int(db, "SELECT (SELECT prev_hash FROM audit_event WHERE seq=6) ="
	                             " (SELECT hash FROM audit_event WHERE seq=5)"), 1);
	/* every close signed the head: 5, 9, 12 */
	assert_int_equal(raw_int(db, "SELECT group_concat(seq) = '5,9,12' FROM"
	                             " (SELECT seq FROM audit_checkpoint ORDER BY seq)"), 1);
	/* one key, registered once */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_key"), 1);
	sqlite3_close(db);
}

static void test_canonical_encoding(void **state)
{
	pp_store_audit_row r1, r2;
	uint8_t prev[32] = {0}, h1[32], h2[32];
	pp_audit_event e1 = { .actor = "ab", .actor_role = "c" };
	pp_audit_event e2 = { .actor = "a", .actor_role = "bc" };
	pp_audit_event e3 = { .actor = "ab", .actor_role = "c", .detail = "" };
	char big[PP_AUDIT_FIELD_MAX + 100];

	(void)state;
	memset(&r1, 0, sizeof r1);
	memset(&r2, 0, sizeof r2);
	r1.seq = r2.seq = 1;
	r1.ts_ms = r2.ts_ms = 1000;
	pp_audit_row_fields(&e1, &r1);
	pp_audit_row_fields(&e2, &r2);
	assert_int_equal(pp_audit_chain_hash(prev, &r1, h1), 0);
	assert_int_equal(pp_audit_chain_hash(prev, &r2, h2), 0);
	assert_memory_not_equal(h1, h2, 32);          /* fields cannot be shifted */
	pp_audit_row_fields(&e3, &r2);
	assert_int_equal(pp_audit_chain_hash(prev, &r2, h2), 0);
	assert_memory_not_equal(h1, h2, 32);          /* NULL and "" differ */
	pp_audit_row_fields(&e1, &r2);
	r2.seq = 2;
	assert_int_equal(pp_audit_chain_hash(prev, &r2, h2), 0);
	assert_memory_not_equal(h1, h2, 32);          /* seq is covered */
	r2.seq = 1;
	r2.ts_ms = 1001;
	assert_int_equal(pp_audit_chain_hash(prev, &r2, h2), 0);
	assert_memory_not_equal(h1, h2, 32);          /* ts is covered */
	r2.ts_ms = 1000;
	prev[31] = 1;
	assert_int_equal(pp_audit_chain_hash(prev, &r2, h2), 0);
	assert_memory_not_equal(h1, h2, 32);          /* prev is covered */
	prev[31] = 0;
	assert_int_equal(pp_audit_chain_hash(prev, &r2, h2), 0);
	assert_memory_equal(h1, h2, 32);              /* and it is deterministic */

	/* an over-long field is cut at a UTF-8 boundary, never inside a sequence */
	memset(big, 'x', sizeof big);
	big[PP_AUDIT_FIELD_MAX - 1] = (char)0xC3;
	big[PP_AUDIT_FIELD_MAX] = (char)0xA9;
	big[sizeof big - 1] = '\0';
	e1.user_agent = big;
	pp_audit_row_fields(&e1, &r1);
	assert_int_equal(r1.field_len[9], PP_AUDIT_FIELD_MAX - 1);
}

/* ---- tampering, each named at the right seq ---- */

static void test_tamper_edit_field(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 20, 1000);
	expect_intact(f, 20);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "UPDATE audit_event SET patient='pat-other' WHERE seq=7");
	sqlite3_close(db);
	expect_bad(f, 7, "edited");
}

static void test_tamper_null_to_empty(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 10, 1000);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "UPDATE audit_event SET detail='' WHERE seq=4");
	sqlite3_close(db);
	expect_bad(f, 4, "edited");
}

static void test_tamper_edit_timestamp(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 10, 1000);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "UPDATE audit_event SET ts_ms = ts_ms - 3600000 WHERE seq=10");
	sqlite3_close(db);
	expect_bad(f, 10, "edited");
}

static void test_tamper_delete_row(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 20, 1000);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "DELETE FROM audit_event WHERE seq=7");
	sqlite3_close(db);
	expect_bad(f, 7, "missing");
}

static void test_tamper_delete_and_renumber(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 20, 1000);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "DELETE FROM audit_event WHERE seq=7;"
	             "UPDATE audit_event SET seq = -(seq - 1) WHERE seq > 7;"
	             "UPDATE audit_event SET seq = -seq WHERE seq < 0;");
	sqlite3_close(db);
	expect_bad(f, 7, NULL);
}

/* opens a gap at seq k by moving k.. up by one */
static void shift_up(sqlite3 *db, int k)
{
	char sql[200];

	snprintf(sql, sizeof sql, "UPDATE audit_event SET seq = -(seq + 1) WHERE seq >= %d;"
	                          "UPDATE audit_event SET seq = -seq WHERE seq < 0;", k);
	raw_exec(db, sql);
}

static void test_tamper_insert_row(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 20, 1000);
	db = raw_open(f);
	drop_triggers(db);
	shift_up(db, 7);
	/* a copy of seq 6 with a plausible but wrong hash */
	raw_exec(db, "INSERT INTO audit_event SELECT 7, ts_ms, actor, actor_role, on_behalf_of,"
	             " patient, action, resource_type, 'obs-forged', outcome, source_ip, user_agent,"
	             " session_id, purpose, request_id, detail, hash, randomblob(32)"
	             " FROM audit_event WHERE seq = 6");
	sqlite3_close(db);
	expect_bad(f, 7, NULL);
}

/* The attacker knows the format and computes a correct hash for the inserted record: the chain
 * still breaks at the next record, and verify names the inserted one. */
static void test_tamper_insert_row_with_valid_hash(void **state)
{
	fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	pp_store_audit_row r;
	pp_audit_event ev = sample_event();
	uint8_t prev[32];

	make_log(f, 20, 1000);
	db = raw_open(f);
	drop_triggers(db);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit_event WHERE seq=6", -1, &s,
	                                    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	memcpy(prev, sqlite3_column_blob(s, 0), 32);
	sqlite3_finalize(s);
	shift_up(db, 7);

	memset(&r, 0, sizeof r);
	ev.resource_id = "obs-forged";
	r.seq = 7;
	r.ts_ms = 1700000000000;
	pp_audit_row_fields(&ev, &r);
	memcpy(r.prev_hash, prev, 32);
	assert_int_equal(pp_audit_chain_hash(prev, &r, r.hash), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO audit_event (seq, ts_ms, actor,"
	                 " actor_role, patient, action, resource_type, resource_id, outcome, source_ip,"
	                 " user_agent, session_id, purpose, request_id, prev_hash, hash)"
	                 " VALUES (7, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &s, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(s, 1, r.ts_ms);
	sqlite3_bind_text(s, 2, ev.actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ev.actor_role, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, ev.patient, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ev.action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, ev.resource_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, ev.resource_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, ev.outcome, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, ev.source_ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, ev.user_agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 11, ev.session_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 12, ev.purpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 13, ev.request_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 14, r.prev_hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(s, 15, r.hash, 32, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
	expect_bad(f, 7, "inserted");
}

static const char swap_sql[] =
	"CREATE TEMP TABLE t AS SELECT * FROM audit_event WHERE seq IN (5, 9);"
	"UPDATE audit_event SET (ts_ms, actor, actor_role, on_behalf_of, patient, action,"
	" resource_type, resource_id, outcome, source_ip, user_agent, session_id, purpose,"
	" request_id, detail%s) = (SELECT ts_ms, actor, actor_role, on_behalf_of, patient, action,"
	" resource_type, resource_id, outcome, source_ip, user_agent, session_id, purpose,"
	" request_id, detail%s FROM t WHERE t.seq = CASE audit_event.seq WHEN 5 THEN 9 ELSE 5 END)"
	" WHERE seq IN (5, 9);";

static void swap_rows(fixture *f, bool with_hashes)
{
	sqlite3 *db;
	char sql[1024];
	const char *h = with_hashes ? ", prev_hash, hash" : "";

	db = raw_open(f);
	drop_triggers(db);
	snprintf(sql, sizeof sql, swap_sql, h, h);
	raw_exec(db, sql);
	/* the contents really moved */
	assert_int_equal(raw_int(db, "SELECT resource_id = 'obs-9' FROM audit_event WHERE seq=5"), 1);
	sqlite3_close(db);
}

static void test_tamper_swap_rows(void **state)
{
	fixture *f = *state;

	make_log(f, 20, 1000);
	swap_rows(f, true);
	expect_bad(f, 5, NULL);
}

static void test_tamper_swap_contents_only(void **state)
{
	fixture *f = *state;

	make_log(f, 20, 1000);
	swap_rows(f, false);
	expect_bad(f, 5, "edited");
}

static void test_tamper_tail_deleted(void **state)
{
	fixture *f = *state;
	sqlite3 *db;
	pp_buf rep;
	int64_t bad, count;

	make_log(f, 25, 10);   /* checkpoints at 10, 20 and 25 (close) */
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "DELETE FROM audit_event WHERE seq > 22");
	sqlite3_close(db);
	expect_bad(f, 23, "deleted from the end");
	/* the report names the last checkpointed seq against the count */
	assert_int_equal(verify(f, f->crypto, &bad, &count, &rep), PP_ECRYPTO);
	assert_int_equal(count, 22);
	assert_non_null(strstr(pp_buf_cstr(&rep), "last signed checkpoint at seq 25"));
	pp_buf_free(&rep);
}

/* ---- checkpoints ---- */

static void test_checkpoints_written(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 35, 10);
	db = raw_open(f);
	assert_int_equal(raw_int(db, "SELECT group_concat(seq) = '10,20,30,35' FROM"
	                             " (SELECT seq FROM audit_checkpoint ORDER BY seq)"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_checkpoint c JOIN audit_event e"
	                             " ON e.seq = c.seq AND e.hash = c.hash"), 4);
	assert_int_equal(raw_int(db, "SELECT length(signature) FROM audit_checkpoint LIMIT 1"), 64);
	sqlite3_close(db);
	expect_intact(f, 35);
}

static void test_checkpoint_by_time(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 1000000);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();
	sqlite3 *db;
	int64_t n = 0;

	o.checkpoint_seconds = 1;
	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pp_audit_record(a, &ev), 0);
	db = raw_open(f);
	for (int i = 0; i < 40 && n == 0; i++) {
		usleep(100 * 1000);
		n = raw_int(db, "SELECT count(*) FROM audit_checkpoint WHERE seq = 3");
	}
	assert_int_equal(n, 1);   /* written while the log is still open */
	sqlite3_close(db);
	pp_audit_close(a);
	expect_intact(f, 3);
}

static void test_forged_checkpoint_signature(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 30, 10);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "UPDATE audit_checkpoint SET signature = randomblob(64) WHERE seq = 20");
	sqlite3_close(db);
	expect_bad(f, 20, "signature is invalid");
}

static void test_forged_checkpoint_hash(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 30, 10);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "UPDATE audit_checkpoint SET hash = randomblob(32) WHERE seq = 10");
	sqlite3_close(db);
	expect_bad(f, 10, NULL);
}

/* rewriting the whole chain after seq 12 with valid hashes (no key needed) is caught by the next
 * signed checkpoint */
static void test_rehashed_chain_caught_by_checkpoint(void **state)
{
	fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *s = NULL, *u = NULL;
	uint8_t prev[32];

	make_log(f, 30, 10);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "UPDATE audit_event SET outcome='denied' WHERE seq = 12");
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, ts_ms, actor, actor_role, on_behalf_of,"
	                 " patient, action, resource_type, resource_id, outcome, source_ip, user_agent,"
	                 " session_id, purpose, request_id, detail, prev_hash FROM audit_event"
	                 " ORDER BY seq", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit_event SET prev_hash=?, hash=?"
	                                    " WHERE seq=?", -1, &u, NULL), SQLITE_OK);
	raw_exec(db, "BEGIN");
	while (sqlite3_step(s) == SQLITE_ROW) {
		pp_store_audit_row r;
		memset(&r, 0, sizeof r);
		r.seq = sqlite3_column_int64(s, 0);
		r.ts_ms = sqlite3_column_int64(s, 1);
		for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++) {
			if (sqlite3_column_type(s, 2 + i) == SQLITE_NULL)
				continue;
			r.field[i] = (const char *)sqlite3_column_text(s, 2 + i);
			r.field_len[i] = (size_t)sqlite3_column_bytes(s, 2 + i);
		}
		if (r.seq == 1)
			memcpy(prev, sqlite3_column_blob(s, 16), 32);
		assert_int_equal(pp_audit_chain_hash(prev, &r, r.hash), 0);
		sqlite3_reset(u);
		sqlite3_bind_blob(u, 1, prev, 32, SQLITE_TRANSIENT);
		sqlite3_bind_blob(u, 2, r.hash, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(u, 3, r.seq);
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		memcpy(prev, r.hash, 32);
	}
	raw_exec(db, "COMMIT");
	sqlite3_finalize(s);
	sqlite3_finalize(u);
	sqlite3_close(db);
	expect_bad(f, 20, "checkpoint hash differs");
}

static void test_tamper_checkpoint_deleted(void **state)
{
	fixture *f = *state;
	sqlite3 *db;

	make_log(f, 30, 10);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "DELETE FROM audit_checkpoint WHERE seq = 20");
	sqlite3_close(db);
	expect_bad(f, 30, "checkpoint before this one was deleted");
}

/* everything signed removed, then the chain rebuilt: no key left is itself the alarm */
static void test_tamper_all_signatures_removed(void **state)
{
	fixture *f = *state;
	sqlite3 *db;
	pp_buf rep;
	int64_t bad, count;

	make_log(f, 12, 5);
	db = raw_open(f);
	drop_triggers(db);
	raw_exec(db, "DROP TRIGGER audit_key_no_delete; DELETE FROM audit_checkpoint;"
	             " DELETE FROM audit_key;");
	sqlite3_close(db);
	expect_bad(f, 1, "no signing key registered");
	assert_int_equal(verify(f, f->crypto, &bad, &count, &rep), PP_ECRYPTO);
	assert_non_null(strstr(pp_buf_cstr(&rep), "5 of 8 append-only triggers are missing"));
	pp_buf_free(&rep);
}

static void test_verify_with_other_key_reports_key_change(void **state)
{
	fixture *f = *state;
	pp_store *st2 = NULL;
	pp_crypto *c2 = NULL;
	pp_buf rep;
	int64_t bad = -1, count = -1;

	make_log(f, 12, 5);
	assert_int_equal(make_crypto(f->dir, "other", &st2, &c2), 0);
	assert_int_equal(verify(f, c2, &bad, &count, &rep), PP_ECRYPTO);
	assert_non_null(strstr(pp_buf_cstr(&rep), "key change"));
	assert_int_equal(bad, 5);
	assert_int_equal(count, 12);
	pp_buf_free(&rep);

	/* a server started with the new key registers it and signs the head with it at once */
	{
		pp_audit_options o = opts(f, true, 5);
		pp_audit *a = NULL;
		pp_audit_event ev = sample_event();
		assert_int_equal(pp_audit_open(&a, &o, c2), 0);
		assert_int_equal(pp_audit_record(a, &ev), 0);
		pp_audit_close(a);
	}
	assert_int_equal(verify(f, c2, &bad, &count, &rep), 0);
	assert_non_null(strstr(pp_buf_cstr(&rep), "signing key changed at seq 13"));
	assert_int_equal(count, 13);
	pp_buf_free(&rep);
	pp_crypto_free(c2);
	pp_store_close(st2);
}

/* ---- append-only ---- */

static void test_triggers_refuse_update_delete(void **state)
{
	fixture *f = *state;
	sqlite3 *db;
	const char *bad_sql[] = {
		"UPDATE audit_event SET action='x' WHERE seq=2",
		"DELETE FROM audit_event WHERE seq=2",
		"DELETE FROM audit_event",
		"UPDATE audit_checkpoint SET seq=1",
		"DELETE FROM audit_checkpoint",
		"UPDATE audit_key SET first_seq=0",
		"DELETE FROM audit_key",
		"DELETE FROM audit_meta",
	};

	make_log(f, 5, 2);
	db = raw_open(f);
	for (size_t i = 0; i < sizeof bad_sql / sizeof bad_sql[0]; i++) {
		char *err = NULL;
		int rc = sqlite3_exec(db, bad_sql[i], NULL, NULL, &err);
		assert_int_equal(rc, SQLITE_CONSTRAINT);
		assert_non_null(err);
		assert_non_null(strstr(err, "append-only"));
		sqlite3_free(err);
	}
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_event"), 5);
	sqlite3_close(db);
	expect_intact(f, 5);
}

/* ---- fail-closed ---- */

typedef struct locked_worker {
	pp_audit *a;
	int rc;
} locked_worker;

static void *locked_main(void *arg)
{
	locked_worker *w = arg;
	pp_audit_event ev = sample_event();

	w->rc = pp_audit_record(w->a, &ev);
	return NULL;
}

static void test_fail_closed_when_locked(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 1000);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();
	sqlite3 *db;
	int64_t t0, dt;
	pthread_t th[4];
	locked_worker w[4];

	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	assert_int_equal(pp_audit_record(a, &ev), 0);

	db = raw_open(f);
	raw_exec(db, "BEGIN EXCLUSIVE");
	t0 = now_ms();
	assert_int_equal(pp_audit_record(a, &ev), PP_EAUDIT);
	dt = now_ms() - t0;
	assert_true(dt >= 150);    /* it waited for the lock ... */
	assert_true(dt < 2000);    /* ... for about busy_timeout_ms, not forever */
	for (int i = 0; i < 4; i++) {
		w[i] = (locked_worker){ .a = a, .rc = 1 };
		assert_int_equal(pthread_create(&th[i], NULL, locked_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, PP_EAUDIT);
	}
	raw_exec(db, "ROLLBACK");

	/* the store is back: recording works again and the chain continues from seq 1 */
	assert_int_equal(pp_audit_record(a, &ev), 0);
	assert_int_equal(pp_audit_record(a, &ev), 0);
	assert_int_equal(raw_int(db, "SELECT max(seq) FROM audit_event"), 3);
	sqlite3_close(db);
	pp_audit_close(a);
	expect_intact(f, 3);
}

/* disk full: the process may not grow any file past the audit WAL's current size (RLIMIT_FSIZE,
 * SIGXFSZ ignored, so writes fail with EFBIG as they would with ENOSPC) */
static void test_fail_closed_when_disk_full(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 1000);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();
	struct rlimit old, lim;
	struct stat sb;
	char wal[160], big[PP_AUDIT_FIELD_MAX];
	int rc1, rc2;

	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	assert_int_equal(pp_audit_record(a, &ev), 0);
	snprintf(wal, sizeof wal, "%s-wal", f->audit_path);
	assert_int_equal(stat(wal, &sb), 0);

	memset(big, 'u', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ev.user_agent = big;
	ev.detail = big;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc1 = pp_audit_record(a, &ev);
	rc2 = pp_audit_record(a, &ev);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc1, PP_EAUDIT);
	assert_int_equal(rc2, PP_EAUDIT);

	/* space is back: the same events go through and the chain has no hole */
	assert_int_equal(pp_audit_record(a, &ev), 0);
	assert_int_equal(pp_audit_record(a, &ev), 0);
	pp_audit_close(a);
	expect_intact(f, 3);
}

/* another process appended behind our back: the writer continues from the database's head */
static void test_head_follows_database(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 1000);
	pp_audit *a = NULL, *b = NULL;
	pp_audit_event ev = sample_event();

	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	assert_int_equal(pp_audit_open(&b, &o, f->crypto), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(pp_audit_record(a, &ev), 0);
		assert_int_equal(pp_audit_record(b, &ev), 0);
	}
	pp_audit_close(a);
	pp_audit_close(b);
	expect_intact(f, 10);
}

static void test_bad_arguments(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 10);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();
	pp_buf rep;
	int64_t bad = 0, count = 0;
	char missing[160];

	assert_int_equal(pp_audit_record(NULL, &ev), PP_EAUDIT);
	o.path = NULL;
	assert_int_equal(pp_audit_open(&a, &o, f->crypto), PP_EINVAL);
	o.path = f->audit_path;
	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	assert_int_equal(pp_audit_record(a, NULL), PP_EINVAL);
	pp_audit_close(a);
	pp_audit_close(NULL);

	/* verify never creates a log */
	snprintf(missing, sizeof missing, "%s/nope.db", f->dir);
	pp_buf_init(&rep, 4096);
	assert_int_equal(pp_audit_verify(missing, f->crypto, &rep, &bad, &count), PP_ENOTFOUND);
	assert_int_equal(access(missing, F_OK), -1);
	pp_buf_free(&rep);
	/* nor turns another database into one */
	{
		char other[160];
		snprintf(other, sizeof other, "%s/main.db", f->dir);
		assert_int_equal(pp_audit_verify(other, f->crypto, NULL, &bad, &count), PP_ECONFIG);
		o.path = other;
		assert_int_equal(pp_audit_open(&a, &o, f->crypto), PP_ECONFIG);
	}
}

/* pp_audit_submit: the event is copied (the caller's strings may go at once), done runs once
 * with 0 when durable, or PP_EAUDIT when the store cannot take it; the chain stays intact */
typedef struct submit_done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, last_rc;
} submit_done;

static void on_submitted(void *ctx, int rc)
{
	submit_done *d = ctx;
	pthread_mutex_lock(&d->mu);
	d->calls++;
	d->last_rc = rc;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void wait_calls(submit_done *d, int n)
{
	pthread_mutex_lock(&d->mu);
	while (d->calls < n)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
}

static void test_submit_without_waiting(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 1000);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();
	submit_done d = {.calls = 0, .last_rc = 1};
	char rid[32];
	sqlite3 *db;

	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	assert_int_equal(pp_audit_open(&a, &o, f->crypto), 0);
	assert_int_equal(pp_audit_submit(a, NULL, on_submitted, &d), PP_EINVAL);
	assert_int_equal(pp_audit_submit(a, &ev, NULL, &d), PP_EINVAL);
	assert_int_equal(pp_audit_submit(NULL, &ev, on_submitted, &d), PP_EAUDIT);
	snprintf(rid, sizeof rid, "obs-submitted");
	ev.resource_id = rid;
	assert_int_equal(pp_audit_submit(a, &ev, on_submitted, &d), 0);
	memset(rid, 'x', sizeof rid - 1);   /* the caller's copy is gone; the queued one is not */
	wait_calls(&d, 1);
	assert_int_equal(d.last_rc, 0);
	db = raw_open(f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_event WHERE resource_id = 'obs-submitted'"),
	                 1);

	/* a store that cannot be written: done reports the failure, nothing is lost or reordered */
	raw_exec(db, "BEGIN EXCLUSIVE");
	assert_int_equal(pp_audit_submit(a, &ev, on_submitted, &d), 0);
	wait_calls(&d, 2);
	assert_int_equal(d.last_rc, PP_EAUDIT);
	raw_exec(db, "ROLLBACK");
	assert_int_equal(pp_audit_submit(a, &ev, on_submitted, &d), 0);
	wait_calls(&d, 3);
	assert_int_equal(d.last_rc, 0);
	assert_int_equal(pp_audit_record(a, &ev), 0);
	assert_int_equal(raw_int(db, "SELECT max(seq) FROM audit_event"), 3);
	sqlite3_close(db);
	pp_audit_close(a);
	assert_int_equal(d.calls, 3);   /* once each, never again at close */
	expect_intact(f, 3);
	pthread_cond_destroy(&d.cv);
	pthread_mutex_destroy(&d.mu);
}

static void test_without_crypto(void **state)
{
	fixture *f = *state;
	pp_audit_options o = opts(f, true, 2);
	pp_audit *a = NULL;
	pp_audit_event ev = sample_event();
	pp_buf rep;
	int64_t bad = -1, count = -1;

	assert_int_equal(pp_audit_open(&a, &o, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pp_audit_record(a, &ev), 0);
	pp_audit_close(a);
	assert_int_equal(verify(f, NULL, &bad, &count, &rep), 0);
	assert_int_equal(count, 4);
	assert_non_null(strstr(pp_buf_cstr(&rep), "no key given"));
	pp_buf_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_encoding),
		cmocka_unit_test_setup_teardown(test_concurrent_chain_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_record_commit_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_continues_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_edit_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_null_to_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_edit_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_delete_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_delete_and_renumber, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_insert_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_insert_row_with_valid_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_swap_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_swap_contents_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_tail_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_by_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_checkpoint_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_checkpoint_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rehashed_chain_caught_by_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_checkpoint_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_all_signatures_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_with_other_key_reports_key_change, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_triggers_refuse_update_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_closed_when_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_closed_when_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_follows_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_crypto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_without_waiting, setup, teardown),
	};

	pp_log_set_level(PP_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
