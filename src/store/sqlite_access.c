/* store/ for policy/: message pools, pool members and care-team relationships. */
#include <stdlib.h>
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

int pp_store_pool_thread_with(pp_store *st, int64_t user_id, int64_t patient_id, int *yes)
{
	static const char sql[] = "SELECT 1 FROM msg_thread t JOIN pool_member m ON m.pool_id = "
	                          "t.pool_id WHERE m.user_id = ? AND t.patient_id = ? LIMIT 1";
	sqlite3_stmt *s;

	if (!st || !yes)
		return PP_EINVAL;
	*yes = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, patient_id);
	return exists(s, yes);
}

int pp_store_care_team_each(pp_store *st, int64_t user_id, int64_t now_ms,
                            pp_store_care_team_cb cb, void *ctx)
{
	static const char sql[] = "SELECT patient_id FROM care_team WHERE user_id = ? AND "
	                          "since_ms <= ? AND (until_ms = 0 OR until_ms > ?) ORDER BY since_ms";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, now_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(ctx, sqlite3_column_int64(s, 0))))
			break;
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

/* ---- break-glass ---- */
#define BG_COLS                                                                                    \
	"id, pub_id, user_id, patient_id, reason_code, reason_enc, started_ms, expires_ms, status, "  \
	"reviewer_id, reviewed_ms, outcome, note_enc"

void pp_store_break_glass_clear(pp_store_break_glass *b)
{
	if (!b)
		return;
	free(b->reason_enc);
	free(b->note_enc);
	b->reason_enc = b->note_enc = NULL;
	b->reason_enc_len = b->note_enc_len = 0;
}

int pp_store_break_glass_insert(pp_store *st, const pp_store_break_glass *b)
{
	static const char sql[] = "INSERT INTO break_glass (id, pub_id, user_id, patient_id, "
	                          "reason_code, reason_enc, started_ms, expires_ms) "
	                          "VALUES (?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !b || !b->pub_id[0] || !b->reason_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, b->id);
	pp_store_bind_text(s, 2, b->pub_id);
	sqlite3_bind_int64(s, 3, b->user_id);
	sqlite3_bind_int64(s, 4, b->patient_id);
	pp_store_bind_text(s, 5, b->reason_code);
	sqlite3_bind_blob(s, 6, b->reason_enc, (int)b->reason_enc_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 7, b->started_ms);
	sqlite3_bind_int64(s, 8, b->expires_ms);
	return pp_store_step_done(st, s, NULL);
}

static int read_bg(sqlite3_stmt *s, pp_store_break_glass *o)
{
	int rc;

	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->pub_id, sizeof o->pub_id);
	o->user_id = sqlite3_column_int64(s, 2);
	o->patient_id = sqlite3_column_int64(s, 3);
	pp_store_col_text(s, 4, o->reason_code, sizeof o->reason_code);
	o->started_ms = sqlite3_column_int64(s, 6);
	o->expires_ms = sqlite3_column_int64(s, 7);
	pp_store_col_text(s, 8, o->status, sizeof o->status);
	o->reviewer_id = sqlite3_column_int64(s, 9);
	o->reviewed_ms = sqlite3_column_int64(s, 10);
	pp_store_col_text(s, 11, o->outcome, sizeof o->outcome);
	if ((rc = pp_store_col_blob(s, 5, &o->reason_enc, &o->reason_enc_len)) ||
	    (rc = pp_store_col_blob(s, 12, &o->note_enc, &o->note_enc_len))) {
		pp_store_break_glass_clear(o);
		return rc;
	}
	return 0;
}

static int bg_one(sqlite3_stmt *s, pp_store_break_glass *out)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = read_bg(s, out);
	else
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	return rc;
}

int pp_store_break_glass_get(pp_store *st, const char *pub_id, pp_store_break_glass *out)
{
	sqlite3_stmt *s;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT " BG_COLS " FROM break_glass WHERE pub_id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	return bg_one(s, out);
}

int pp_store_break_glass_active(pp_store *st, int64_t user_id, int64_t patient_id, int64_t now_ms,
                                pp_store_break_glass *out)
{
	static const char sql[] = "SELECT " BG_COLS " FROM break_glass WHERE user_id = ? AND "
	                          "patient_id = ? AND started_ms <= ? AND expires_ms > ? "
	                          "ORDER BY expires_ms DESC LIMIT 1";
	sqlite3_stmt *s;

	if (!st || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, patient_id);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int64(s, 4, now_ms);
	return bg_one(s, out);
}

int pp_store_break_glass_each(pp_store *st, const char *status, int limit,
                              pp_store_break_glass_cb cb, void *ctx)
{
	static const char sql[] = "SELECT " BG_COLS " FROM break_glass WHERE (? = '' OR status = ?) "
	                          "ORDER BY started_ms, id LIMIT ?";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, status);
	pp_store_bind_text(s, 2, status);
	sqlite3_bind_int(s, 3, limit > 0 ? limit : 100);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_break_glass b;
		if ((ret = read_bg(s, &b)))
			break;
		ret = cb(ctx, &b);
		pp_store_break_glass_clear(&b);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_break_glass_close(pp_store *st, const char *pub_id, int64_t reviewer_id,
                               int64_t now_ms, const char *outcome, const uint8_t *note_enc,
                               size_t note_enc_len)
{
	static const char sql[] = "UPDATE break_glass SET status = 'closed', reviewer_id = ?, "
	                          "reviewed_ms = ?, outcome = ?, note_enc = ? "
	                          "WHERE pub_id = ? AND status = 'open'";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !pub_id || !outcome)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, reviewer_id);
	sqlite3_bind_int64(s, 2, now_ms);
	pp_store_bind_text(s, 3, outcome);
	if (note_enc)
		sqlite3_bind_blob(s, 4, note_enc, (int)note_enc_len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	pp_store_bind_text(s, 5, pub_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

/* ---- proxy grants ---- */
#define PROXY_COLS                                                                                 \
	"id, pub_id, proxy_user_id, patient_id, relationship, scope, granted_by, dob_enc, "          \
	"created_ms, expires_ms, revoked_ms, revoked_by, adult_ok_ms"

void pp_store_proxy_clear(pp_store_proxy *g)
{
	if (!g)
		return;
	free(g->dob_enc);
	g->dob_enc = NULL;
	g->dob_enc_len = 0;
}

int pp_store_proxy_insert(pp_store *st, const pp_store_proxy *g)
{
	static const char sql[] = "INSERT INTO proxy_grant (id, pub_id, proxy_user_id, patient_id, "
	                          "relationship, scope, granted_by, dob_enc, created_ms, expires_ms) "
	                          "VALUES (?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !g || !g->pub_id[0] || !g->dob_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, g->id);
	pp_store_bind_text(s, 2, g->pub_id);
	sqlite3_bind_int64(s, 3, g->proxy_user_id);
	sqlite3_bind_int64(s, 4, g->patient_id);
	pp_store_bind_text(s, 5, g->relationship);
	pp_store_bind_text(s, 6, g->scope);
	sqlite3_bind_int64(s, 7, g->granted_by);
	sqlite3_bind_blob(s, 8, g->dob_enc, (int)g->dob_enc_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 9, g->created_ms);
	sqlite3_bind_int64(s, 10, g->expires_ms);
	return pp_store_step_done(st, s, NULL);
}

static int read_proxy(sqlite3_stmt *s, pp_store_proxy *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->pub_id, sizeof o->pub_id);
	o->proxy_user_id = sqlite3_column_int64(s, 2);
	o->patient_id = sqlite3_column_int64(s, 3);
	pp_store_col_text(s, 4, o->relationship, sizeof o->relationship);
	pp_store_col_text(s, 5, o->scope, sizeof o->scope);
	o->granted_by = sqlite3_column_int64(s, 6);
	o->created_ms = sqlite3_column_int64(s, 8);
	o->expires_ms = sqlite3_column_int64(s, 9);
	o->revoked_ms = sqlite3_column_int64(s, 10);
	o->revoked_by = sqlite3_column_int64(s, 11);
	o->adult_ok_ms = sqlite3_column_int64(s, 12);
	return pp_store_col_blob(s, 7, &o->dob_enc, &o->dob_enc_len);
}

static int proxy_one(sqlite3_stmt *s, pp_store_proxy *out)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = read_proxy(s, out);
	else
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	return rc;
}

int pp_store_proxy_get(pp_store *st, const char *pub_id, pp_store_proxy *out)
{
	sqlite3_stmt *s;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT " PROXY_COLS " FROM proxy_grant WHERE pub_id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	return proxy_one(s, out);
}

int pp_store_proxy_active(pp_store *st, int64_t proxy_user_id, int64_t patient_id, int64_t now_ms,
                          pp_store_proxy *out)
{
	static const char sql[] = "SELECT " PROXY_COLS " FROM proxy_grant WHERE proxy_user_id = ? "
	                          "AND patient_id = ? AND revoked_ms = 0 AND created_ms <= ? AND "
	                          "(expires_ms = 0 OR expires_ms > ?) ORDER BY created_ms DESC LIMIT 1";
	sqlite3_stmt *s;

	if (!st || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, proxy_user_id);
	sqlite3_bind_int64(s, 2, patient_id);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int64(s, 4, now_ms);
	return proxy_one(s, out);
}

int pp_store_proxy_each(pp_store *st, int64_t patient_id, int64_t proxy_user_id, bool all,
                        pp_store_proxy_cb cb, void *ctx)
{
	static const char sql[] = "SELECT " PROXY_COLS " FROM proxy_grant WHERE "
	                          "(? = 0 OR patient_id = ?) AND (? = 0 OR proxy_user_id = ?) AND "
	                          "(? OR revoked_ms = 0) ORDER BY created_ms, id";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb || (!patient_id && !proxy_user_id))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	sqlite3_bind_int64(s, 2, patient_id);
	sqlite3_bind_int64(s, 3, proxy_user_id);
	sqlite3_bind_int64(s, 4, proxy_user_id);
	sqlite3_bind_int(s, 5, all ? 1 : 0);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_proxy g;
		if ((ret = read_proxy(s, &g)) == 0)
			ret = cb(ctx, &g);
		pp_store_proxy_clear(&g);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_proxy_revoke(pp_store *st, const char *pub_id, int64_t by, int64_t now_ms)
{
	static const char sql[] = "UPDATE proxy_grant SET revoked_ms = ?, revoked_by = ? "
	                          "WHERE pub_id = ? AND revoked_ms = 0";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !pub_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, by);
	pp_store_bind_text(s, 3, pub_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_proxy_adult_ok(pp_store *st, const char *pub_id, int64_t now_ms)
{
	static const char sql[] = "UPDATE proxy_grant SET adult_ok_ms = ? WHERE pub_id = ? "
	                          "AND revoked_ms = 0";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !pub_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	pp_store_bind_text(s, 2, pub_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

/* ---- consent ---- */
int pp_store_consent_get(pp_store *st, int64_t patient_id, pp_store_consent *out)
{
	static const char sql[] = "SELECT share_apps, share_sensitive_proxies, updated_ms, "
	                          "updated_by FROM patient_consent WHERE patient_id = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	out->share_apps = 1;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->share_apps = sqlite3_column_int(s, 0);
		out->share_sensitive_proxies = sqlite3_column_int(s, 1);
		out->updated_ms = sqlite3_column_int64(s, 2);
		out->updated_by = sqlite3_column_int64(s, 3);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}
