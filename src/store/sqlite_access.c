/* store/ for policy/: message pools, pool members and care-team relationships. */
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_access.h"

#define POOL_COLS "id, name, kind, turnaround, created_ms"

int pp_store_pool_insert(pp_store *st, const pp_store_pool *p, int64_t *id)
{
	static const char sql[] =
	    "INSERT INTO pool (name, kind, turnaround, created_ms) VALUES (?,?,?,?)";
	sqlite3_stmt *s;
	int rc;

	if (!st || !p || !p->name[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, p->name);
	pp_store_bind_text(s, 2, p->kind[0] ? p->kind : "clinical");
	pp_store_bind_text(s, 3, p->turnaround);
	sqlite3_bind_int64(s, 4, p->created_ms);
	if ((rc = pp_store_step_done(st, s, NULL)))
		return rc;
	if (id)
		*id = sqlite3_last_insert_rowid(pp_store_conn(st));
	return 0;
}

static void read_pool(sqlite3_stmt *s, pp_store_pool *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->name, sizeof o->name);
	pp_store_col_text(s, 2, o->kind, sizeof o->kind);
	pp_store_col_text(s, 3, o->turnaround, sizeof o->turnaround);
	o->created_ms = sqlite3_column_int64(s, 4);
}

static int pool_one(sqlite3_stmt *s, pp_store_pool *out)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		read_pool(s, out);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

int pp_store_pool_get(pp_store *st, int64_t id, pp_store_pool *out)
{
	sqlite3_stmt *s;

	if (!st || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT " POOL_COLS " FROM pool WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	return pool_one(s, out);
}

int pp_store_pool_find(pp_store *st, const char *name, pp_store_pool *out)
{
	sqlite3_stmt *s;

	if (!st || !name || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT " POOL_COLS " FROM pool WHERE name = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, name);
	return pool_one(s, out);
}

int pp_store_pool_each(pp_store *st, int64_t user_id, pp_store_pool_cb cb, void *ctx)
{
	static const char all[] = "SELECT " POOL_COLS " FROM pool ORDER BY name";
	static const char mine[] = "SELECT p.id, p.name, p.kind, p.turnaround, p.created_ms "
	                           "FROM pool p JOIN pool_member m ON m.pool_id = p.id "
	                           "WHERE m.user_id = ? ORDER BY p.name";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, user_id > 0 ? mine : all)))
		return PP_EIO;
	if (user_id > 0)
		sqlite3_bind_int64(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_pool p;
		read_pool(s, &p);
		if ((ret = cb(ctx, &p)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

static int exec_ids(pp_store *st, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_pool_member_add(pp_store *st, int64_t pool_id, int64_t user_id)
{
	return exec_ids(st, "INSERT OR IGNORE INTO pool_member (pool_id, user_id) VALUES (?,?)",
	                pool_id, user_id);
}

int pp_store_pool_member_remove(pp_store *st, int64_t pool_id, int64_t user_id)
{
	return exec_ids(st, "DELETE FROM pool_member WHERE pool_id = ? AND user_id = ?", pool_id,
	                user_id);
}

/* *yes = 1 when the statement (its parameters bound) returns a row */
static int exists(sqlite3_stmt *s, int *yes)
{
	int rc = sqlite3_step(s);

	*yes = rc == SQLITE_ROW;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

int pp_store_pool_is_member(pp_store *st, int64_t pool_id, int64_t user_id, int *member)
{
	sqlite3_stmt *s;

	if (!st || !member)
		return PP_EINVAL;
	*member = 0;
	if (!(s = pp_store_stmt(st, "SELECT 1 FROM pool_member WHERE pool_id = ? AND user_id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, pool_id);
	sqlite3_bind_int64(s, 2, user_id);
	return exists(s, member);
}

int pp_store_care_team_add(pp_store *st, int64_t user_id, int64_t patient_id, int64_t since_ms,
                           int64_t until_ms)
{
	static const char sql[] =
	    "INSERT INTO care_team (user_id, patient_id, since_ms, until_ms) VALUES (?,?,?,?) "
	    "ON CONFLICT (user_id, patient_id) DO UPDATE SET since_ms = excluded.since_ms, "
	    "until_ms = excluded.until_ms";
	sqlite3_stmt *s;

	if (!st || user_id <= 0 || patient_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, patient_id);
	sqlite3_bind_int64(s, 3, since_ms);
	sqlite3_bind_int64(s, 4, until_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_care_team_end(pp_store *st, int64_t user_id, int64_t patient_id, int64_t until_ms)
{
	static const char sql[] =
	    "UPDATE care_team SET until_ms = ? WHERE user_id = ? AND patient_id = ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, until_ms);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, patient_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_care_team_has(pp_store *st, int64_t user_id, int64_t patient_id, int64_t now_ms,
                           int *related)
{
	static const char sql[] = "SELECT 1 FROM care_team WHERE user_id = ? AND patient_id = ? "
	                          "AND since_ms <= ? AND (until_ms = 0 OR until_ms > ?)";
	sqlite3_stmt *s;

	if (!st || !related)
		return PP_EINVAL;
	*related = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, patient_id);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int64(s, 4, now_ms);
	return exists(s, related);
}
