/* store: the audit database (its own SQLite file) — schema, append-only triggers and the typed
 * functions the audit writer and verifier use. Statements are prepared once per handle. */
#include "store/store_audit.h"
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUDIT_SCHEMA_VERSION 2
/* "PPAU" (0x50504155): tells an audit file apart from the main database */
#define AUDIT_APP_ID 1347436885
#define STR_(x) #x
#define STR(x) STR_(x)

/* version 1 of the audit schema; never edit, add a version */
static const char audit_schema_v1[] =
"CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
"CREATE TABLE audit_event ("
"  seq INTEGER PRIMARY KEY,"
"  ts_ms INTEGER NOT NULL,"
"  actor TEXT, actor_role TEXT, on_behalf_of TEXT, patient TEXT, action TEXT,"
"  resource_type TEXT, resource_id TEXT, outcome TEXT, source_ip TEXT, user_agent TEXT,"
"  session_id TEXT, purpose TEXT, request_id TEXT, detail TEXT,"
"  prev_hash BLOB NOT NULL,"
"  hash BLOB NOT NULL);"
"CREATE TABLE audit_key ("
"  id INTEGER PRIMARY KEY,"
"  pub BLOB NOT NULL,"
"  first_seq INTEGER NOT NULL,"
"  ts_ms INTEGER NOT NULL);"
"CREATE TABLE audit_checkpoint ("
"  id INTEGER PRIMARY KEY,"
"  seq INTEGER NOT NULL,"
"  ts_ms INTEGER NOT NULL,"
"  hash BLOB NOT NULL,"
"  signature BLOB NOT NULL,"
"  key_id INTEGER NOT NULL REFERENCES audit_key(id));"
"CREATE INDEX audit_checkpoint_by_seq ON audit_checkpoint(seq);"
"CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_key_no_update BEFORE UPDATE ON audit_key"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_key_no_delete BEFORE DELETE ON audit_key"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_meta_no_update BEFORE UPDATE ON audit_meta"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"CREATE TRIGGER audit_meta_no_delete BEFORE DELETE ON audit_meta"
"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
"INSERT INTO audit_meta (key, value) VALUES ('format', 'phiportal-audit-v1');"
"PRAGMA application_id=" STR(AUDIT_APP_ID) ";"
"PRAGMA user_version=1;";

/* version 2: an index for a patient's access history ("who viewed my record") */
static const char audit_schema_v2[] =
"CREATE INDEX audit_event_by_patient ON audit_event(patient, ts_ms);"
"PRAGMA user_version=2;";

enum {
	ST_BEGIN, ST_BEGIN_READ, ST_COMMIT, ST_ROLLBACK,
	ST_EV_INSERT, ST_EV_LAST, ST_EV_COUNT, ST_EV_EACH,
	ST_CP_INSERT, ST_CP_LAST, ST_CP_LIST,
	ST_KEY_INSERT, ST_KEY_LIST, ST_GUARDS, ST_EV_PATIENT,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_EV_INSERT] = "INSERT INTO audit_event (seq, ts_ms, actor, actor_role, on_behalf_of,"
	                 " patient, action, resource_type, resource_id, outcome, source_ip,"
	                 " user_agent, session_id, purpose, request_id, detail, prev_hash, hash)"
	                 " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[ST_EV_LAST] = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1",
	[ST_EV_COUNT] = "SELECT count(*) FROM audit_event",
	[ST_EV_EACH] = "SELECT seq, ts_ms, actor, actor_role, on_behalf_of, patient, action,"
	               " resource_type, resource_id, outcome, source_ip, user_agent, session_id,"
	               " purpose, request_id, detail, prev_hash, hash FROM audit_event ORDER BY seq",
	[ST_CP_INSERT] = "INSERT INTO audit_checkpoint (seq, ts_ms, hash, signature, key_id)"
	                 " VALUES (?,?,?,?,?)",
	[ST_CP_LAST] = "SELECT id, seq, ts_ms, hash, signature, key_id FROM audit_checkpoint"
	               " ORDER BY seq DESC, id DESC LIMIT 1",
	[ST_CP_LIST] = "SELECT id, seq, ts_ms, hash, signature, key_id FROM audit_checkpoint"
	               " ORDER BY seq, id",
	[ST_KEY_INSERT] = "INSERT INTO audit_key (pub, first_seq, ts_ms) VALUES (?,?,?)",
	[ST_KEY_LIST] = "SELECT id, pub, first_seq, ts_ms FROM audit_key ORDER BY id",
	[ST_EV_PATIENT] = "SELECT seq, ts_ms, actor, actor_role, on_behalf_of, patient, action,"
	                  " resource_type, resource_id, outcome, source_ip, user_agent, session_id,"
	                  " purpose, request_id, detail, prev_hash, hash FROM audit_event"
	                  " WHERE patient = ? AND ts_ms >= ? ORDER BY ts_ms DESC, seq DESC LIMIT ?",
	[ST_GUARDS] = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN"
	              " ('audit_event_no_update', 'audit_event_no_delete',"
	              " 'audit_checkpoint_no_update', 'audit_checkpoint_no_delete',"
	              " 'audit_key_no_update', 'audit_key_no_delete',"
	              " 'audit_meta_no_update', 'audit_meta_no_delete')",
};
#define AUDIT_GUARDS 8

struct pp_store_audit {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
};

static sqlite3_stmt *get_stmt(pp_store_audit *a, int which)
{
	sqlite3_stmt *s = a->stmt[which];

	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return s;
	}
	if (sqlite3_prepare_v3(a->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
	    SQLITE_OK) {
		pp_log_error("store: audit prepare failed (%s)", sqlite3_errmsg(a->db));
		return NULL;
	}
	a->stmt[which] = s;
	return s;
}

/* runs a statement that returns no rows; maps the result to PP_E* */
static int step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return PP_OK;
	/* debug only: the audit writer logs when the store starts and stops failing */
	pp_log_debug("store: audit statement failed (%s)", sqlite3_errstr(rc));
	rc = pp_store_err(rc);
	return rc ? rc : PP_EIO;
}

static int pragma_int(sqlite3 *db, const char *sql, int *v)
{
	sqlite3_stmt *s = NULL;
	int rc = PP_EIO;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(s) != SQLITE_ROW)
		goto out;
	*v = sqlite3_column_int(s, 0);
	rc = PP_OK;
out:
	sqlite3_finalize(s);
	return rc;
}

/* the schema version of an audit file; 0 for an empty file; PP_ECONFIG for another database */
static int schema_version(sqlite3 *db, int *v)
{
	int app = 0, rc;

	if ((rc = pragma_int(db, "PRAGMA application_id", &app)))
		return rc;
	if ((rc = pragma_int(db, "PRAGMA user_version", v)))
		return rc;
	if (app == AUDIT_APP_ID || (app == 0 && *v == 0))
		return PP_OK;
	pp_log_error("store: the audit path names a file that is not an audit log");
	return PP_ECONFIG;
}

static int ensure_schema(sqlite3 *db, bool create)
{
	int v = 0, rc;

	if ((rc = schema_version(db, &v)))
		return rc;
	if (v == AUDIT_SCHEMA_VERSION)
		return PP_OK;
	if (v == 0 && !create)
		return PP_ENOTFOUND;   /* not an audit database: never turn it into one here */
	if (v > AUDIT_SCHEMA_VERSION) {
		pp_log_error("store: audit schema %d is newer than this program (%d)", v,
		             AUDIT_SCHEMA_VERSION);
		return PP_ECONFIG;
	}
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	/* another process may have created it while we waited for the lock */
	if ((rc = schema_version(db, &v)) != PP_OK || v == AUDIT_SCHEMA_VERSION) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	if (v < 1)
		rc = sqlite3_exec(db, audit_schema_v1, NULL, NULL, NULL);
	if (rc == SQLITE_OK && v < 2)
		rc = sqlite3_exec(db, audit_schema_v2, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	pp_log_info("store: created audit schema %d", AUDIT_SCHEMA_VERSION);
	return PP_OK;
fail:
	pp_log_error("store: audit schema setup failed (%s)", sqlite3_errstr(rc));
	return pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
}

int pp_store_audit_open(pp_store_audit **out, const char *path, int busy_timeout_ms, bool create)
{
	pp_store_audit *a = NULL;
	struct stat sb;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return PP_EINVAL;
	if (stat(path, &sb) != 0) {
		int fd;
		if (errno != ENOENT)
			return PP_EIO;
		if (!create)
			return PP_ENOTFOUND;
		/* owner-only from the first byte: SQLite gives the -wal and -shm files the same mode */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return PP_EIO;
		if (fd >= 0)
			close(fd);
	}
	a = calloc(1, sizeof *a);
	if (!a)
		return PP_ENOMEM;
	if ((rc = pp_store_sqlite_open(path, busy_timeout_ms, &a->db)))
		goto out;
	if ((rc = ensure_schema(a->db, create)))
		goto out;
	*out = a;
	a = NULL;
out:
	pp_store_audit_close(a);
	return rc;
}

void pp_store_audit_close(pp_store_audit *a)
{
	if (!a)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(a->stmt[i]);
	sqlite3_close(a->db);
	free(a);
}

static int simple(pp_store_audit *a, int which)
{
	sqlite3_stmt *s = get_stmt(a, which);

	return s ? step_done(s) : PP_EIO;
}

int pp_store_audit_begin(pp_store_audit *a) { return simple(a, ST_BEGIN); }
int pp_store_audit_begin_read(pp_store_audit *a) { return simple(a, ST_BEGIN_READ); }
int pp_store_audit_commit(pp_store_audit *a) { return simple(a, ST_COMMIT); }

int pp_store_audit_rollback(pp_store_audit *a)
{
	if (sqlite3_get_autocommit(a->db))
		return PP_OK;
	return simple(a, ST_ROLLBACK);
}

int pp_store_audit_event_insert(pp_store_audit *a, const pp_store_audit_row *r)
{
	sqlite3_stmt *s = get_stmt(a, ST_EV_INSERT);

	if (!s)
		return PP_EIO;
	sqlite3_bind_int64(s, 1, r->seq);
	sqlite3_bind_int64(s, 2, r->ts_ms);
	for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++) {
		if (r->field[i])
			sqlite3_bind_text(s, 3 + i, r->field[i], (int)r->field_len[i], SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 3 + i);
	}
	sqlite3_bind_blob(s, 3 + PP_STORE_AUDIT_NFIELDS, r->prev_hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4 + PP_STORE_AUDIT_NFIELDS, r->hash, 32, SQLITE_STATIC);
	return step_done(s);
}

/* copies a blob column of exactly n bytes; anything else is zero-filled and reported */
static int col_fixed(sqlite3_stmt *s, int col, uint8_t *out, size_t n)
{
	const void *p = sqlite3_column_blob(s, col);
	int len = sqlite3_column_bytes(s, col);

	if (!p || len != (int)n) {
		memset(out, 0, n);
		return PP_EINVAL;
	}
	memcpy(out, p, n);
	return PP_OK;
}

int pp_store_audit_event_last(pp_store_audit *a, int64_t *seq, uint8_t hash[32])
{
	sqlite3_stmt *s = get_stmt(a, ST_EV_LAST);
	int rc;

	*seq = 0;
	memset(hash, 0, 32);
	if (!s)
		return PP_EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(s, 0);
		col_fixed(s, 1, hash, 32);
		rc = PP_OK;
	} else if (rc == SQLITE_DONE) {
		rc = PP_OK;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_audit_event_count(pp_store_audit *a, int64_t *n)
{
	sqlite3_stmt *s = get_stmt(a, ST_EV_COUNT);
	int rc;

	*n = 0;
	if (!s)
		return PP_EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(s, 0);
		rc = PP_OK;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	sqlite3_reset(s);
	return rc;
}

static int each_row(sqlite3_stmt *s, pp_store_audit_event_cb cb, void *ctx);

int pp_store_audit_event_each(pp_store_audit *a, pp_store_audit_event_cb cb, void *ctx)
{
	sqlite3_stmt *s = get_stmt(a, ST_EV_EACH);

	return s ? each_row(s, cb, ctx) : PP_EIO;
}

int pp_store_audit_event_patient(pp_store_audit *a, const char *patient, int64_t since_ms,
                                 int limit, pp_store_audit_event_cb cb, void *ctx)
{
	sqlite3_stmt *s = get_stmt(a, ST_EV_PATIENT);

	if (!s || !patient)
		return s ? PP_EINVAL : PP_EIO;
	sqlite3_bind_text(s, 1, patient, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, since_ms);
	sqlite3_bind_int(s, 3, limit > 0 ? limit : 500);
	return each_row(s, cb, ctx);
}

/* calls cb for every row of a prepared SELECT of the audit_event columns in table order */
static int each_row(sqlite3_stmt *s, pp_store_audit_event_cb cb, void *ctx)
{
	pp_store_audit_row r;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&r, 0, sizeof r);
		r.seq = sqlite3_column_int64(s, 0);
		r.ts_ms = sqlite3_column_int64(s, 1);
		for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++) {
			if (sqlite3_column_type(s, 2 + i) == SQLITE_NULL)
				continue;
			/* text as stored: bytes first, then their length */
			r.field[i] = (const char *)sqlite3_column_text(s, 2 + i);
			r.field_len[i] = (size_t)sqlite3_column_bytes(s, 2 + i);
			if (!r.field[i]) {
				rc = SQLITE_NOMEM;
				goto out;
			}
		}
		/* a prev_hash or hash of the wrong size stays zero-filled and fails the chain check */
		col_fixed(s, 2 + PP_STORE_AUDIT_NFIELDS, r.prev_hash, 32);
		col_fixed(s, 3 + PP_STORE_AUDIT_NFIELDS, r.hash, 32);
		if ((rc = cb(ctx, &r)) != 0) {
			sqlite3_reset(s);
			return rc;
		}
	}
out:
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return PP_OK;
	return pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
}

int pp_store_audit_checkpoint_insert(pp_store_audit *a, const pp_store_audit_checkpoint *c)
{
	sqlite3_stmt *s = get_stmt(a, ST_CP_INSERT);

	if (!s)
		return PP_EIO;
	sqlite3_bind_int64(s, 1, c->seq);
	sqlite3_bind_int64(s, 2, c->ts_ms);
	sqlite3_bind_blob(s, 3, c->hash, 32, SQLITE_STATIC);
	sqlite3_bind_blob(s, 4, c->sig, 64, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, c->key_id);
	return step_done(s);
}

static void read_checkpoint(sqlite3_stmt *s, pp_store_audit_checkpoint *c)
{
	c->id = sqlite3_column_int64(s, 0);
	c->seq = sqlite3_column_int64(s, 1);
	c->ts_ms = sqlite3_column_int64(s, 2);
	col_fixed(s, 3, c->hash, sizeof c->hash);
	col_fixed(s, 4, c->sig, sizeof c->sig);
	c->key_id = sqlite3_column_int64(s, 5);
}

int pp_store_audit_checkpoint_last(pp_store_audit *a, pp_store_audit_checkpoint *out)
{
	sqlite3_stmt *s = get_stmt(a, ST_CP_LAST);
	int rc;

	memset(out, 0, sizeof *out);
	if (!s)
		return PP_EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_checkpoint(s, out);
		rc = PP_OK;
	} else if (rc == SQLITE_DONE) {
		rc = PP_ENOTFOUND;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	sqlite3_reset(s);
	return rc;
}

/* makes room for one more row; NULL (with *err set) on failure, rows untouched */
static void *grow(void *rows, size_t elem, size_t n, size_t *cap, int *err)
{
	void *p;

	if (n < *cap)
		return rows;
	if (*cap >= ((size_t)1 << 24)) {
		*err = PP_ETOOBIG;
		return NULL;
	}
	*cap = *cap ? *cap * 2 : 64;
	p = realloc(rows, *cap * elem);
	if (!p)
		*err = PP_ENOMEM;
	return p;
}

int pp_store_audit_checkpoint_list(pp_store_audit *a, pp_store_audit_checkpoint **rows, size_t *n)
{
	sqlite3_stmt *s = get_stmt(a, ST_CP_LIST);
	pp_store_audit_checkpoint *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (!s)
		return PP_EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int g = PP_OK;
		void *nv = grow(v, sizeof *v, cnt, &cap, &g);
		if (!nv) {
			sqlite3_reset(s);
			free(v);
			return g;
		}
		v = nv;
		read_checkpoint(s, &v[cnt++]);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	*rows = v;
	*n = cnt;
	return PP_OK;
}

int pp_store_audit_key_insert(pp_store_audit *a, pp_store_audit_key *k)
{
	sqlite3_stmt *s = get_stmt(a, ST_KEY_INSERT);
	int rc;

	if (!s)
		return PP_EIO;
	sqlite3_bind_blob(s, 1, k->pub, 32, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, k->first_seq);
	sqlite3_bind_int64(s, 3, k->ts_ms);
	rc = step_done(s);
	if (rc == PP_OK)
		k->id = sqlite3_last_insert_rowid(a->db);
	return rc;
}

int pp_store_audit_key_list(pp_store_audit *a, pp_store_audit_key **rows, size_t *n)
{
	sqlite3_stmt *s = get_stmt(a, ST_KEY_LIST);
	pp_store_audit_key *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (!s)
		return PP_EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int g = PP_OK;
		void *nv = grow(v, sizeof *v, cnt, &cap, &g);
		if (!nv) {
			sqlite3_reset(s);
			free(v);
			return g;
		}
		v = nv;
		v[cnt].id = sqlite3_column_int64(s, 0);
		col_fixed(s, 1, v[cnt].pub, 32);
		v[cnt].first_seq = sqlite3_column_int64(s, 2);
		v[cnt].ts_ms = sqlite3_column_int64(s, 3);
		cnt++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	*rows = v;
	*n = cnt;
	return PP_OK;
}

int pp_store_audit_guards(pp_store_audit *a, int *present, int *expected)
{
	sqlite3_stmt *s = get_stmt(a, ST_GUARDS);
	int rc;

	*present = 0;
	*expected = AUDIT_GUARDS;
	if (!s)
		return PP_EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*present = sqlite3_column_int(s, 0);
		rc = PP_OK;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	sqlite3_reset(s);
	return rc;
}
