/* store/ for staff SSO: identity links and sign-ins in progress (see store_sso.h). */
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_sso.h"

int pp_store_sso_link_add(pp_store *st, const uint8_t link_bidx[32], int64_t user_id,
                          int64_t now_ms)
{
	static const char sql[] = "INSERT INTO sso_link (link_bidx, user_id, created_ms) VALUES (?,?,?)";
	sqlite3_stmt *s;

	if (!st || !link_bidx || user_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, link_bidx, 32, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, now_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_sso_link_find(pp_store *st, const uint8_t link_bidx[32], int64_t *user_id)
{
	static const char sql[] = "SELECT user_id FROM sso_link WHERE link_bidx = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !link_bidx || !user_id)
		return PP_EINVAL;
	*user_id = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, link_bidx, 32, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*user_id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? PP_OK : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

int pp_store_sso_link_delete_user(pp_store *st, int64_t user_id, int *n)
{
	sqlite3_stmt *s;

	if (n)
		*n = 0;
	if (!st || user_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM sso_link WHERE user_id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	return pp_store_step_done(st, s, n);
}

int pp_store_sso_pending_insert(pp_store *st, const pp_store_sso_pending *p)
{
	static const char sql[] = "INSERT INTO sso_pending (state_hash, nonce, verifier, created_ms, "
	                          "expires_ms) VALUES (?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !p || !p->nonce[0] || !p->verifier[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, p->state_hash, 32, SQLITE_STATIC);
	pp_store_bind_text(s, 2, p->nonce);
	pp_store_bind_text(s, 3, p->verifier);
	sqlite3_bind_int64(s, 4, p->created_ms);
	sqlite3_bind_int64(s, 5, p->expires_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_sso_pending_take(pp_store *st, const uint8_t state_hash[32],
                              pp_store_sso_pending *out)
{
	static const char sql[] = "DELETE FROM sso_pending WHERE state_hash = ? "
	                          "RETURNING nonce, verifier, created_ms, expires_ms";
	sqlite3_stmt *s;
	int rc, done;

	if (!st || !state_hash || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, state_hash, 32, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memcpy(out->state_hash, state_hash, 32);
		pp_store_col_text(s, 0, out->nonce, sizeof out->nonce);
		pp_store_col_text(s, 1, out->verifier, sizeof out->verifier);
		out->created_ms = sqlite3_column_int64(s, 2);
		out->expires_ms = sqlite3_column_int64(s, 3);
		/* the DELETE completes when the statement runs to its end */
		done = sqlite3_step(s);
		if (done != SQLITE_DONE) {
			sqlite3_reset(s);
			memset(out, 0, sizeof *out);
			return pp_store_err(done);
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? PP_OK : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

int pp_store_sso_pending_purge(pp_store *st, int64_t now_ms)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM sso_pending WHERE expires_ms < ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	return pp_store_step_done(st, s, NULL);
}
