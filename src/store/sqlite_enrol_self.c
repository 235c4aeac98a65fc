/* store/ for self-enrolment: the demographic blind index and the self-enrolment attempts. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_enrol_self.h"

/* collects the first column (an integer) of up to cap rows */
static int collect_ids(sqlite3_stmt *s, int64_t *ids, size_t cap, size_t *n)
{
	int rc;

	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? PP_OK : pp_store_err(rc);
}

int pp_store_enrol_index_stale(pp_store *st, int64_t *ids, size_t cap, size_t *n)
{
	static const char sql[] = "SELECT r.id FROM resource r WHERE r.type = 'Patient' AND NOT EXISTS "
	                          "(SELECT 1 FROM enrol_demo_index e WHERE e.patient_id = r.id AND "
	                          "e.res_digest = r.digest) LIMIT ?";
	sqlite3_stmt *s;

	if (!st || !ids || !n || !cap)
		return PP_EINVAL;
	*n = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
	return collect_ids(s, ids, cap, n);
}

int pp_store_enrol_index_put(pp_store *st, int64_t patient_id, const uint8_t res_digest[32],
                             const uint8_t (*bidx)[32], size_t n)
{
	static const char del[] = "DELETE FROM enrol_demo_index WHERE patient_id = ?";
	static const char ins[] = "INSERT OR IGNORE INTO enrol_demo_index (patient_id, res_digest, "
	                          "demo_bidx) VALUES (?,?,?)";
	sqlite3_stmt *s;
	int rc;

	if (!st || patient_id <= 0 || !res_digest || (n && !bidx))
		return PP_EINVAL;
	if ((rc = pp_store_begin(st)))
		return rc;
	if (!(s = pp_store_stmt(st, del))) {
		rc = PP_EIO;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, patient_id);
	if ((rc = pp_store_step_done(st, s, NULL)))
		goto fail;
	/* a record with nothing to match on keeps an empty marker, so it is not looked at again */
	for (size_t i = 0; i < (n ? n : 1); i++) {
		if (!(s = pp_store_stmt(st, ins))) {
			rc = PP_EIO;
			goto fail;
		}
		sqlite3_bind_int64(s, 1, patient_id);
		sqlite3_bind_blob(s, 2, res_digest, 32, SQLITE_TRANSIENT);
		if (n)
			sqlite3_bind_blob(s, 3, bidx[i], 32, SQLITE_TRANSIENT);
		else
			sqlite3_bind_zeroblob(s, 3, 0);
		if ((rc = pp_store_step_done(st, s, NULL)))
			goto fail;
	}
	return pp_store_commit(st);
fail:
	pp_store_rollback(st);
	return rc;
}

int pp_store_enrol_index_find(pp_store *st, const uint8_t bidx[32], int64_t *ids, size_t cap,
                              size_t *n)
{
	static const char sql[] = "SELECT DISTINCT patient_id FROM enrol_demo_index WHERE "
	                          "demo_bidx = ? LIMIT ?";
	sqlite3_stmt *s;

	if (!st || !bidx || !ids || !n || !cap)
		return PP_EINVAL;
	*n = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, bidx, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)cap);
	return collect_ids(s, ids, cap, n);
}

void pp_store_enrol_self_clear(pp_store_enrol_self *e)
{
	if (!e)
		return;
	if (e->dest_enc)
		pp_wipe(e->dest_enc, e->dest_enc_len);
	if (e->code_enc)
		pp_wipe(e->code_enc, e->code_enc_len);
	free(e->dest_enc);
	free(e->code_enc);
	e->dest_enc = e->code_enc = NULL;
	e->dest_enc_len = e->code_enc_len = 0;
}

static void bind_blob_or_null(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
	if (p)
		sqlite3_bind_blob(s, i, p, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

int pp_store_enrol_self_insert(pp_store *st, const pp_store_enrol_self *e)
{
	static const char sql[] = "INSERT INTO enrol_self (id, pub_id, patient_id, channel, "
	                          "code_digest, dest_enc, code_enc, send_state, send_due_ms, "
	                          "created_ms, expires_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !e || e->id <= 0 || !e->pub_id[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, e->id);
	pp_store_bind_text(s, 2, e->pub_id);
	sqlite3_bind_int64(s, 3, e->patient_id);
	pp_store_bind_text(s, 4, e->channel);
	sqlite3_bind_blob(s, 5, e->code_digest, 32, SQLITE_TRANSIENT);
	bind_blob_or_null(s, 6, e->dest_enc, e->dest_enc_len);
	bind_blob_or_null(s, 7, e->code_enc, e->code_enc_len);
	pp_store_bind_text(s, 8, e->send_state[0] ? e->send_state : "none");
	sqlite3_bind_int64(s, 9, e->send_due_ms);
	sqlite3_bind_int64(s, 10, e->created_ms);
	sqlite3_bind_int64(s, 11, e->expires_ms);
	return pp_store_step_done(st, s, NULL);
}

#define SELF_COLS "id, pub_id, patient_id, channel, code_digest, dest_enc, code_enc, send_state, " \
                  "send_attempts, send_due_ms, attempts, created_ms, expires_ms, used_ms, user_id"

static int read_row(sqlite3_stmt *s, pp_store_enrol_self *out)
{
	const void *d;
	int rc;

	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, out->pub_id, sizeof out->pub_id);
	out->patient_id = sqlite3_column_int64(s, 2);
	pp_store_col_text(s, 3, out->channel, sizeof out->channel);
	d = sqlite3_column_blob(s, 4);
	if (d && sqlite3_column_bytes(s, 4) == 32)
		memcpy(out->code_digest, d, 32);
	if ((rc = pp_store_col_blob(s, 5, &out->dest_enc, &out->dest_enc_len)) ||
	    (rc = pp_store_col_blob(s, 6, &out->code_enc, &out->code_enc_len))) {
		pp_store_enrol_self_clear(out);
		return rc;
	}
	pp_store_col_text(s, 7, out->send_state, sizeof out->send_state);
	out->send_attempts = sqlite3_column_int(s, 8);
	out->send_due_ms = sqlite3_column_int64(s, 9);
	out->attempts = sqlite3_column_int(s, 10);
	out->created_ms = sqlite3_column_int64(s, 11);
	out->expires_ms = sqlite3_column_int64(s, 12);
	out->used_ms = sqlite3_column_int64(s, 13);
	out->user_id = sqlite3_column_int64(s, 14);
	return PP_OK;
}

static int get_by(pp_store *st, const char *sql, int64_t id, const char *pub,
                  pp_store_enrol_self *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	if (pub)
		pp_store_bind_text(s, 1, pub);
	else
		sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = read_row(s, out);
	else
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	return rc;
}

int pp_store_enrol_self_get(pp_store *st, int64_t id, pp_store_enrol_self *out)
{
	if (!st || !out)
		return PP_EINVAL;
	return get_by(st, "SELECT " SELF_COLS " FROM enrol_self WHERE id = ?", id, NULL, out);
}

int pp_store_enrol_self_try(pp_store *st, const char *pub_id, int max_attempts,
                            pp_store_enrol_self *out)
{
	static const char upd[] = "UPDATE enrol_self SET attempts = attempts + 1 WHERE pub_id = ? "
	                          "AND attempts < ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, upd)))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	sqlite3_bind_int(s, 2, max_attempts);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	if ((rc = get_by(st, "SELECT " SELF_COLS " FROM enrol_self WHERE pub_id = ?", 0, pub_id,
	                 out)))
		return rc;
	return changes ? PP_OK : PP_ELOCKED;
}

int pp_store_enrol_self_use(pp_store *st, int64_t id, int64_t now_ms, int64_t user_id)
{
	static const char sql[] = "UPDATE enrol_self SET used_ms = ?, user_id = ? WHERE id = ? AND "
	                          "used_ms = 0 AND expires_ms > ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, id);
	sqlite3_bind_int64(s, 4, now_ms);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? PP_OK : PP_ENOTFOUND;
}

int pp_store_enrol_self_due(pp_store *st, int64_t now_ms, int64_t *ids, size_t cap, size_t *n)
{
	static const char sql[] = "SELECT id FROM enrol_self WHERE send_state = 'pending' AND "
	                          "send_due_ms <= ? ORDER BY send_due_ms LIMIT ?";
	sqlite3_stmt *s;

	if (!st || !ids || !n || !cap)
		return PP_EINVAL;
	*n = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)cap);
	return collect_ids(s, ids, cap, n);
}

int pp_store_enrol_self_mark(pp_store *st, int64_t id, const char *state, int64_t due_ms)
{
	static const char retry[] = "UPDATE enrol_self SET send_state = 'pending', send_due_ms = ?, "
	                            "send_attempts = send_attempts + 1 WHERE id = ?";
	static const char final[] = "UPDATE enrol_self SET send_state = ?, dest_enc = NULL, "
	                            "code_enc = NULL, send_attempts = send_attempts + 1 WHERE id = ?";
	bool fin = state && (!strcmp(state, "sent") || !strcmp(state, "failed"));
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !state || (!fin && strcmp(state, "pending")))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, fin ? final : retry)))
		return PP_EIO;
	if (fin)
		pp_store_bind_text(s, 1, state);
	else
		sqlite3_bind_int64(s, 1, due_ms);
	sqlite3_bind_int64(s, 2, id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? PP_OK : PP_ENOTFOUND;
}

int pp_store_enrol_self_purge(pp_store *st, int64_t before_ms, int *n)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM enrol_self WHERE expires_ms < ? AND used_ms = 0")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, before_ms);
	return pp_store_step_done(st, s, n);
}
