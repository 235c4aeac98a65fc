/* store/ for auth/: user accounts, TOTP state, lockout counters, recovery codes and sessions. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

#define USER_COLS                                                                             \
	"id, username_bidx, username_enc, role, patient_id, pw_hash, mfa_secret_enc, mfa_enabled, " \
	"mfa_last_step, failed_count, locked_until_ms, status, created_ms"

void pp_store_user_clear(pp_store_user *u)
{
	if (!u)
		return;
	free(u->username_enc);
	if (u->mfa_secret_enc)
		pp_wipe(u->mfa_secret_enc, u->mfa_secret_enc_len);
	free(u->mfa_secret_enc);
	pp_wipe(u, sizeof(*u));
}

static int bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
	if (!p)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_blob(s, i, n ? p : "", (int)n, SQLITE_TRANSIENT);
}

/* runs a statement that returns no rows; *changes (optional) gets the number of changed rows */
static int exec_done(pp_store *st, sqlite3_stmt *s, int *changes)
{
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_DONE ? 0 : pp_store_err(rc);
	if (changes)
		*changes = sqlite3_changes(pp_store_conn(st));
	sqlite3_reset(s);
	return ret;
}

int pp_store_user_insert(pp_store *st, const pp_store_user *u)
{
	static const char sql[] = "INSERT INTO user_account (" USER_COLS
	                          ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;
	int ret = PP_EINVAL;

	if (!st || !u || !u->username_enc || !u->role[0] || !u->pw_hash[0])
		goto out;
	ret = PP_EIO;
	if (!(s = pp_store_stmt(st, sql)))
		goto out;
	sqlite3_bind_int64(s, 1, u->id);
	sqlite3_bind_blob(s, 2, u->username_bidx, 32, SQLITE_TRANSIENT);
	bind_blob(s, 3, u->username_enc, u->username_enc_len);
	sqlite3_bind_text(s, 4, u->role, -1, SQLITE_TRANSIENT);
	if (u->patient_id)
		sqlite3_bind_int64(s, 5, u->patient_id);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_text(s, 6, u->pw_hash, -1, SQLITE_TRANSIENT);
	bind_blob(s, 7, u->mfa_secret_enc, u->mfa_secret_enc_len);
	sqlite3_bind_int(s, 8, u->mfa_enabled ? 1 : 0);
	sqlite3_bind_int64(s, 9, u->mfa_last_step);
	sqlite3_bind_int(s, 10, u->failed_count);
	sqlite3_bind_int64(s, 11, u->locked_until_ms);
	sqlite3_bind_text(s, 12, u->status[0] ? u->status : "active", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 13, u->created_ms);
	ret = exec_done(st, s, NULL);
out:
	return ret;
}

static int read_user(sqlite3_stmt *s, pp_store_user *out)
{
	int ret;
	const void *b;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(s, 0);
	b = sqlite3_column_blob(s, 1);
	if (!b || sqlite3_column_bytes(s, 1) != 32) {
		ret = PP_EIO;
		goto out;
	}
	memcpy(out->username_bidx, b, 32);
	if ((ret = pp_store_col_blob(s, 2, &out->username_enc, &out->username_enc_len)) < 0)
		goto out;
	pp_store_col_text(s, 3, out->role, sizeof(out->role));
	out->patient_id = sqlite3_column_int64(s, 4);
	pp_store_col_text(s, 5, out->pw_hash, sizeof(out->pw_hash));
	if ((ret = pp_store_col_blob(s, 6, &out->mfa_secret_enc, &out->mfa_secret_enc_len)) < 0)
		goto out;
	out->mfa_enabled = sqlite3_column_int(s, 7);
	out->mfa_last_step = sqlite3_column_int64(s, 8);
	out->failed_count = sqlite3_column_int(s, 9);
	out->locked_until_ms = sqlite3_column_int64(s, 10);
	pp_store_col_text(s, 11, out->status, sizeof(out->status));
	out->created_ms = sqlite3_column_int64(s, 12);
	ret = 0;
out:
	if (ret < 0)
		pp_store_user_clear(out);
	return ret;
}

static int user_select(pp_store *st, const char *sql, int64_t id, const uint8_t *bidx,
                       pp_store_user *out)
{
	sqlite3_stmt *s;
	int rc, ret = PP_EIO;

	memset(out, 0, sizeof(*out));   /* clearing it is always safe, found or not */
	if (!(s = pp_store_stmt(st, sql)))
		goto out;
	if (bidx)
		sqlite3_bind_blob(s, 1, bidx, 32, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = read_user(s, out);
	else if (rc == SQLITE_DONE)
		ret = PP_ENOTFOUND;
	else
		ret = pp_store_err(rc);
	sqlite3_reset(s);
out:
	return ret;
}

int pp_store_user_get(pp_store *st, int64_t id, pp_store_user *out)
{
	if (!st || !out)
		return PP_EINVAL;
	return user_select(st, "SELECT " USER_COLS " FROM user_account WHERE id = ?", id, NULL, out);
}

int pp_store_user_find(pp_store *st, const uint8_t username_bidx[32], pp_store_user *out)
{
	if (!st || !username_bidx || !out)
		return PP_EINVAL;
	return user_select(st, "SELECT " USER_COLS " FROM user_account WHERE username_bidx = ?", 0,
	                   username_bidx, out);
}

/* one-row UPDATE ... WHERE id = ?1 with the given extra bindings already applied */
static int update_one(pp_store *st, sqlite3_stmt *s)
{
	int changes = 0;
	int ret = exec_done(st, s, &changes);
	if (ret == 0 && changes == 0)
		ret = PP_ENOTFOUND;
	return ret;
}

int pp_store_user_set_password(pp_store *st, int64_t id, const char *pw_hash)
{
	sqlite3_stmt *s;

	if (!st || !pw_hash || !pw_hash[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE user_account SET pw_hash = ?2 WHERE id = ?1")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, pw_hash, -1, SQLITE_TRANSIENT);
	return update_one(st, s);
}

int pp_store_user_set_mfa(pp_store *st, int64_t id, const uint8_t *secret_enc, size_t len,
                          int enabled)
{
	sqlite3_stmt *s;

	if (!st || (enabled && !secret_enc))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE user_account SET mfa_secret_enc = ?2, mfa_enabled = ?3 "
	                            "WHERE id = ?1")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	bind_blob(s, 2, secret_enc, len);
	sqlite3_bind_int(s, 3, enabled ? 1 : 0);
	return update_one(st, s);
}

/* The WHERE clause makes this a compare-and-set: two requests racing with the same code cannot
 * both succeed. PP_EEXISTS when the step (or a later one) was already accepted. */
int pp_store_user_mfa_advance(pp_store *st, int64_t id, int64_t step)
{
	sqlite3_stmt *s;
	int ret;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE user_account SET mfa_last_step = ?2 "
	                            "WHERE id = ?1 AND mfa_last_step < ?2")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, step);
	ret = update_one(st, s);
	return ret == PP_ENOTFOUND ? PP_EEXISTS : ret;
}

int pp_store_user_set_lock(pp_store *st, int64_t id, int failed_count, int64_t locked_until_ms)
{
	sqlite3_stmt *s;

	if (!st || failed_count < 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE user_account SET failed_count = ?2, locked_until_ms = ?3 "
	                            "WHERE id = ?1")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, failed_count);
	sqlite3_bind_int64(s, 3, locked_until_ms);
	return update_one(st, s);
}

/* One statement, so concurrent failures cannot lose a count (the right-hand sides see the old
 * row). */
int pp_store_user_record_failure(pp_store *st, int64_t id, int threshold, int64_t lock_until_ms,
                                 int *failed_count, int64_t *locked_until_ms)
{
	static const char sql[] =
		"UPDATE user_account SET "
		" failed_count = CASE WHEN failed_count + 1 >= ?2 THEN 0 ELSE failed_count + 1 END,"
		" locked_until_ms = CASE WHEN failed_count + 1 >= ?2 THEN ?3 ELSE locked_until_ms END "
		"WHERE id = ?1 RETURNING failed_count, locked_until_ms";
	sqlite3_stmt *s;
	int rc, ret = PP_EINVAL;

	if (!st || threshold < 1)
		goto out;
	ret = PP_EIO;
	if (!(s = pp_store_stmt(st, sql)))
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, threshold);
	sqlite3_bind_int64(s, 3, lock_until_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (failed_count)
			*failed_count = sqlite3_column_int(s, 0);
		if (locked_until_ms)
			*locked_until_ms = sqlite3_column_int64(s, 1);
		rc = sqlite3_step(s);
		ret = rc == SQLITE_DONE ? 0 : pp_store_err(rc);
	} else {
		ret = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
out:
	return ret;
}

int pp_store_user_set_status(pp_store *st, int64_t id, const char *status)
{
	sqlite3_stmt *s;

	if (!st || !status || !status[0] || strlen(status) >= sizeof(((pp_store_user *)0)->status))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE user_account SET status = ?2 WHERE id = ?1")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, status, -1, SQLITE_TRANSIENT);
	return update_one(st, s);
}

/* ---- recovery codes ---- */

/* SAVEPOINTs nest, so these helpers work inside or outside a caller's transaction. */
static int savepoint(pp_store *st, const char *sql)
{
	sqlite3 *db = pp_store_conn(st);
	if (!db)
		return PP_EIO;
	return pp_store_err(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* Replaces every code of the user atomically (old codes stop working at once). */
int pp_store_recovery_replace(pp_store *st, int64_t user_id, const uint8_t (*hashes)[32],
                              size_t n)
{
	sqlite3_stmt *s;
	int ret = PP_EINVAL;
	bool in_sp = false;

	if (!st || (n && !hashes))
		goto out;
	if ((ret = savepoint(st, "SAVEPOINT pp_recovery")) < 0)
		goto out;
	in_sp = true;
	ret = PP_EIO;
	if (!(s = pp_store_stmt(st, "DELETE FROM recovery_code WHERE user_id = ?")))
		goto out;
	sqlite3_bind_int64(s, 1, user_id);
	if ((ret = exec_done(st, s, NULL)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		ret = PP_EIO;
		if (!(s = pp_store_stmt(st, "INSERT INTO recovery_code (user_id, code_hash) "
		                            "VALUES (?, ?)")))
			goto out;
		sqlite3_bind_int64(s, 1, user_id);
		sqlite3_bind_blob(s, 2, hashes[i], 32, SQLITE_TRANSIENT);
		if ((ret = exec_done(st, s, NULL)) < 0)
			goto out;
	}
	ret = savepoint(st, "RELEASE pp_recovery");
	in_sp = ret < 0;
out:
	if (in_sp) {
		savepoint(st, "ROLLBACK TO pp_recovery");
		savepoint(st, "RELEASE pp_recovery");
	}
	return ret;
}

/* A single UPDATE marks the code used, so a code cannot be spent twice by racing requests. */
int pp_store_recovery_use(pp_store *st, int64_t user_id, const uint8_t hash[32], int64_t now_ms)
{
	sqlite3_stmt *s;

	if (!st || !hash)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE recovery_code SET used_ms = ?3 WHERE id = ("
	                            " SELECT id FROM recovery_code WHERE user_id = ?1 AND"
	                            " code_hash = ?2 AND used_ms IS NULL LIMIT 1)")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_blob(s, 2, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, now_ms);
	return update_one(st, s);
}

int pp_store_recovery_remaining(pp_store *st, int64_t user_id, int *n)
{
	sqlite3_stmt *s;
	int rc, ret = PP_EINVAL;

	if (!st || !n)
		goto out;
	ret = PP_EIO;
	if (!(s = pp_store_stmt(st, "SELECT count(*) FROM recovery_code WHERE user_id = ? AND "
	                            "used_ms IS NULL")))
		goto out;
	sqlite3_bind_int64(s, 1, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int(s, 0);
		ret = 0;
	} else {
		ret = pp_store_err(rc);
	}
	sqlite3_reset(s);
out:
	return ret;
}

/* ---- sessions ---- */

int pp_store_session_insert(pp_store *st, const pp_store_session *ss)
{
	sqlite3_stmt *s;

	if (!st || !ss || !ss->state[0] || !ss->csrf[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "INSERT INTO session (token_hash, user_id, state, csrf, "
	                            "created_ms, last_seen_ms) VALUES (?,?,?,?,?,?)")))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, ss->token_hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, ss->user_id);
	sqlite3_bind_text(s, 3, ss->state, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, ss->csrf, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 5, ss->created_ms);
	sqlite3_bind_int64(s, 6, ss->last_seen_ms);
	return exec_done(st, s, NULL);
}

int pp_store_session_get(pp_store *st, const uint8_t token_hash[32], pp_store_session *out)
{
	sqlite3_stmt *s;
	int rc, ret = PP_EINVAL;

	if (!st || !token_hash || !out)
		goto out;
	memset(out, 0, sizeof(*out));
	ret = PP_EIO;
	if (!(s = pp_store_stmt(st, "SELECT user_id, state, csrf, created_ms, last_seen_ms "
	                            "FROM session WHERE token_hash = ?")))
		goto out;
	sqlite3_bind_blob(s, 1, token_hash, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memcpy(out->token_hash, token_hash, 32);
		out->user_id = sqlite3_column_int64(s, 0);
		pp_store_col_text(s, 1, out->state, sizeof(out->state));
		pp_store_col_text(s, 2, out->csrf, sizeof(out->csrf));
		out->created_ms = sqlite3_column_int64(s, 3);
		out->last_seen_ms = sqlite3_column_int64(s, 4);
		ret = 0;
	} else {
		ret = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
out:
	return ret;
}

int pp_store_session_touch(pp_store *st, const uint8_t token_hash[32], int64_t now_ms)
{
	sqlite3_stmt *s;
	int changes = 0, ret;

	if (!st || !token_hash)
		return PP_EINVAL;
	/* never moves last_seen backwards (a slow request finishing after a newer one) */
	if (!(s = pp_store_stmt(st, "UPDATE session SET last_seen_ms = max(last_seen_ms, ?2) "
	                            "WHERE token_hash = ?1")))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, token_hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, now_ms);
	ret = exec_done(st, s, &changes);
	return ret == 0 && changes == 0 ? PP_ENOTFOUND : ret;
}

/* PP_ENOTFOUND when no such session existed: rotation relies on this to be single-use. */
int pp_store_session_delete(pp_store *st, const uint8_t token_hash[32])
{
	sqlite3_stmt *s;
	int changes = 0, ret;

	if (!st || !token_hash)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM session WHERE token_hash = ?")))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, token_hash, 32, SQLITE_TRANSIENT);
	ret = exec_done(st, s, &changes);
	return ret == 0 && changes == 0 ? PP_ENOTFOUND : ret;
}

int pp_store_session_delete_user(pp_store *st, int64_t user_id)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM session WHERE user_id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	return exec_done(st, s, NULL);
}

int pp_store_session_purge(pp_store *st, int64_t idle_before_ms, int64_t created_before_ms)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM session WHERE last_seen_ms < ? OR created_ms < ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, idle_before_ms);
	sqlite3_bind_int64(s, 2, created_before_ms);
	return exec_done(st, s, NULL);
}
