/* store: the SQLite backend's plumbing — opening, migrations, per-thread connections with a
 * prepared-statement cache, transactions, and the helpers shared by the typed-function files. */
#include "store/sqlite_internal.h"
#include "store/schema.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define STMT_CACHE_MAX 512
#define BUSY_TIMEOUT_MS 5000

typedef struct conn {
	sqlite3 *db;
	struct { const char *sql; sqlite3_stmt *stmt; } cache[STMT_CACHE_MAX];
	int ncache;
	struct conn *next;
} conn;

struct pp_store {
	char *path;
	pthread_key_t key;
	pthread_mutex_t lock;
	conn *conns;            /* every connection, for close */
	/* the WAL index's first page (pp_store_wal_header), mapped read-only once it exists */
	_Atomic(const volatile unsigned char *) shm;
	bool shm_tried;         /* under lock */
};

int pp_store_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return PP_OK;
	case SQLITE_CONSTRAINT: return rc == SQLITE_CONSTRAINT_UNIQUE ||
	                               rc == SQLITE_CONSTRAINT_PRIMARYKEY ? PP_EEXISTS : PP_EINVAL;
	case SQLITE_BUSY: case SQLITE_LOCKED: return PP_EBUSY;
	case SQLITE_NOMEM: return PP_ENOMEM;
	case SQLITE_TOOBIG: return PP_ETOOBIG;
	default: return PP_EIO;
	}
}

int pp_store_sqlite_open(const char *path, int busy_timeout_ms, sqlite3**out)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                         SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, busy_timeout_ms);
	sqlite3_extended_result_codes(db, 1);
	rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                  "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	*out = db;
	return PP_OK;
fail:
	pp_log_error("store: cannot open database (%s)", db ? sqlite3_errstr(rc) : "no memory");
	sqlite3_close(db);
	return pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
}

static void conn_close(conn *c)
{
	for (int i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].stmt);
	sqlite3_close(c->db);
	free(c);
}

sqlite3 *pp_store_conn(pp_store *st)
{
	conn *c = pthread_getspecific(st->key);

	if (c)
		return c->db;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (pp_store_sqlite_open(st->path, BUSY_TIMEOUT_MS, &c->db)) {
		free(c);
		return NULL;
	}
	pthread_setspecific(st->key, c);
	pthread_mutex_lock(&st->lock);
	c->next = st->conns;
	st->conns = c;
	pthread_mutex_unlock(&st->lock);
	return c->db;
}

sqlite3_stmt *pp_store_stmt(pp_store *st, const char *sql)
{
	conn *c;
	sqlite3_stmt *s = NULL;

	if (!pp_store_conn(st))
		return NULL;
	c = pthread_getspecific(st->key);
	/* the SQL is a string constant: the same pointer on every call (text compared second, for a
	 * copy of the same statement elsewhere) */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < c->ncache; i++) {
			if (pass == 0 ? c->cache[i].sql == sql : !strcmp(c->cache[i].sql, sql)) {
				s = c->cache[i].stmt;
				sqlite3_reset(s);
				sqlite3_clear_bindings(s);
				return s;
			}
		}
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		pp_log_error("store: prepare failed (%s)", sqlite3_errmsg(c->db));
		return NULL;
	}
	if (c->ncache < STMT_CACHE_MAX) {
		c->cache[c->ncache].sql = sql;
		c->cache[c->ncache].stmt = s;
		c->ncache++;
	} else {
		pp_log_error("store: statement cache full");
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

int pp_store_col_blob(sqlite3_stmt *s, int col, uint8_t **out, size_t *len)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	*out = NULL;
	*len = 0;
	if (!p || n <= 0)
		return PP_OK;
	*out = malloc((size_t)n);
	if (!*out)
		return PP_ENOMEM;
	memcpy(*out, p, (size_t)n);
	*len = (size_t)n;
	return PP_OK;
}

void pp_store_col_text(sqlite3_stmt *s, int col, char *out, size_t cap)
{
	const unsigned char *p = sqlite3_column_text(s, col);
	size_t n = p ? strlen((const char *)p) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(out, p, n);
	out[n] = '\0';
}

int pp_store_step_done(pp_store *st, sqlite3_stmt *s, int *changes)
{
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_DONE ? 0 : pp_store_err(rc);

	if (changes)
		*changes = sqlite3_changes(pp_store_conn(st));
	sqlite3_reset(s);
	return ret;
}

void pp_store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static int exec_simple(pp_store *st, const char *sql)
{
	sqlite3 *db = pp_store_conn(st);
	int rc;

	if (!db)
		return PP_EIO;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		pp_log_error("store: %s failed (%s)", sql, sqlite3_errstr(rc));
		return pp_store_err(rc);
	}
	return PP_OK;
}

int pp_store_begin(pp_store *st) { return exec_simple(st, "BEGIN IMMEDIATE"); }
int pp_store_commit(pp_store *st) { return exec_simple(st, "COMMIT"); }
int pp_store_rollback(pp_store *st) { return exec_simple(st, "ROLLBACK"); }

int pp_store_schema_version(pp_store *st, int *version)
{
	sqlite3_stmt *s = pp_store_stmt(st, "PRAGMA user_version");

	if (!s)
		return PP_EIO;
	if (sqlite3_step(s) != SQLITE_ROW)
		return PP_EIO;
	*version = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return PP_OK;
}

static int migrate(pp_store *st)
{
	int have = 0, rc;
	int want = (int)(sizeof pp_store_migrations / sizeof pp_store_migrations[0]);
	sqlite3 *db = pp_store_conn(st);

	if (!db)
		return PP_EIO;
	if ((rc = pp_store_begin(st)))
		return rc;
	if ((rc = pp_store_schema_version(st, &have)))
		goto fail;
	for (int v = have; v < want; v++) {
		char pragma[64];
		if (sqlite3_exec(db, pp_store_migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			pp_log_error("store: migration %d failed (%s)", v + 1, sqlite3_errmsg(db));
			rc = PP_EIO;
			goto fail;
		}
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
		if (sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
			rc = PP_EIO;
			goto fail;
		}
		pp_log_info("store: applied migration %d", v + 1);
	}
	if (have > want) {
		pp_log_error("store: database schema %d is newer than this program (%d)", have, want);
		rc = PP_ECONFIG;
		goto fail;
	}
	return pp_store_commit(st);
fail:
	pp_store_rollback(st);
	return rc;
}

int pp_store_open(pp_store **out, const char *path)
{
	pp_store *st = calloc(1, sizeof *st);
	int rc;

	if (!st)
		return PP_ENOMEM;
	st->path = strdup(path);
	if (!st->path || pthread_key_create(&st->key, NULL)) {
		free(st->path);
		free(st);
		return PP_ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	rc = migrate(st);
	if (rc) {
		pp_store_close(st);
		return rc;
	}
	*out = st;
	return PP_OK;
}

/* The WAL index ("-shm" file, https://www.sqlite.org/walformat.html) begins with two copies of
 * its 48-byte header; every commit, by any connection of any process, rewrites both (second copy
 * first), changing the change counter. The file stays while any connection is open, and ours stay
 * open until pp_store_close, so the mapping remains valid. NULL when the database is not in WAL
 * mode or the file cannot be mapped: callers fall back to PRAGMA data_version. */
const volatile unsigned char *pp_store_wal_header(pp_store *st)
{
	const volatile unsigned char *p = atomic_load_explicit(&st->shm, memory_order_acquire);
	char *path = NULL;
	struct stat sb;
	int fd = -1;
	void *m;

	if (p)
		return p;
	pthread_mutex_lock(&st->lock);
	if (st->shm_tried || !(path = malloc(strlen(st->path) + sizeof "-shm")))
		goto out;
	snprintf(path, strlen(st->path) + sizeof "-shm", "%s-shm", st->path);
	st->shm_tried = true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* at least both header copies: a connection (ours, which read before) initialised it */
	if (fd < 0 || fstat(fd, &sb) || sb.st_size < 4096)
		goto out;
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED)
		atomic_store_explicit(&st->shm, (const volatile unsigned char *)m, memory_order_release);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	pthread_mutex_unlock(&st->lock);
	return atomic_load_explicit(&st->shm, memory_order_acquire);
}

void pp_store_close(pp_store *st)
{
	conn *c, *next;
	const volatile unsigned char *shm;

	if (!st)
		return;
	if ((shm = atomic_load(&st->shm)))
		munmap((void *)shm, 4096);
	for (c = st->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	pthread_key_delete(st->key);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

int64_t pp_store_new_id(void)
{
	uint64_t v = 0;

	while (v == 0) {
		if (pp_random(&v, sizeof v))
			return 0;
		v &= 0x3fffffffffffffffULL;   /* positive, leaves room */
	}
	return (int64_t)v;
}
