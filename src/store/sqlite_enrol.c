/* store/ for enrolment: activation codes and the assurance level on accounts. */
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_enrol.h"

int pp_store_activation_insert(pp_store *st, const pp_store_activation *a)
{
	static const char void_old[] = "UPDATE activation_code SET expires_ms = ? WHERE patient_id = ? "
	                               "AND used_ms = 0 AND expires_ms > ?";
	static const char sql[] = "INSERT INTO activation_code (code_digest, patient_id, issued_by, "
	                          "method, created_ms, expires_ms) VALUES (?,?,?,?,?,?)";
	sqlite3_stmt *s;
	int rc;

	if (!st || !a || a->patient_id <= 0)
		return PP_EINVAL;
	if ((rc = pp_store_begin(st)))
		return rc;
	if (!(s = pp_store_stmt(st, void_old))) {
		rc = PP_EIO;
		goto fail;
	}
	sqlite3_bind_int64(s, 1, a->created_ms);
	sqlite3_bind_int64(s, 2, a->patient_id);
	sqlite3_bind_int64(s, 3, a->created_ms);
	if ((rc = pp_store_step_done(st, s, NULL)))
		goto fail;
	if (!(s = pp_store_stmt(st, sql))) {
		rc = PP_EIO;
		goto fail;
	}
	sqlite3_bind_blob(s, 1, a->digest, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, a->patient_id);
	sqlite3_bind_int64(s, 3, a->issued_by);
	pp_store_bind_text(s, 4, a->method);
	sqlite3_bind_int64(s, 5, a->created_ms);
	sqlite3_bind_int64(s, 6, a->expires_ms);
	if ((rc = pp_store_step_done(st, s, NULL)))
		goto fail;
	return pp_store_commit(st);
fail:
	pp_store_rollback(st);
	return rc;
}

int pp_store_activation_get(pp_store *st, const uint8_t digest[32], pp_store_activation *out)
{
	static const char sql[] = "SELECT patient_id, issued_by, method, created_ms, expires_ms, "
	                          "used_ms, user_id FROM activation_code WHERE code_digest = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !digest || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, digest, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		uint8_t d[32];
		memcpy(d, digest, 32);   /* digest may point into *out */
		memset(out, 0, sizeof *out);
		memcpy(out->digest, d, 32);
		out->patient_id = sqlite3_column_int64(s, 0);
		out->issued_by = sqlite3_column_int64(s, 1);
		pp_store_col_text(s, 2, out->method, sizeof out->method);
		out->created_ms = sqlite3_column_int64(s, 3);
		out->expires_ms = sqlite3_column_int64(s, 4);
		out->used_ms = sqlite3_column_int64(s, 5);
		out->user_id = sqlite3_column_int64(s, 6);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_activation_use(pp_store *st, const uint8_t digest[32], int64_t now_ms,
                            int64_t user_id)
{
	static const char sql[] = "UPDATE activation_code SET used_ms = ?, user_id = ? WHERE "
	                          "code_digest = ? AND used_ms = 0 AND expires_ms > ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !digest)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_blob(s, 3, digest, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, now_ms);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_user_for_patient(pp_store *st, int64_t patient_id, int64_t *user_id)
{
	static const char sql[] = "SELECT id FROM user_account WHERE patient_id = ? AND "
	                          "role = 'patient' LIMIT 1";
	sqlite3_stmt *s;
	int rc;

	if (!st || !user_id)
		return PP_EINVAL;
	*user_id = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*user_id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

int pp_store_user_set_assurance(pp_store *st, int64_t user_id, const char *assurance)
{
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !assurance)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE user_account SET assurance = ? WHERE id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, assurance);
	sqlite3_bind_int64(s, 2, user_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_user_get_assurance(pp_store *st, int64_t user_id, char *out, size_t cap)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !out || !cap)
		return PP_EINVAL;
	out[0] = '\0';
	if (!(s = pp_store_stmt(st, "SELECT assurance FROM user_account WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		pp_store_col_text(s, 0, out, cap);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

int pp_store_user_delete(pp_store *st, int64_t user_id)
{
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM user_account WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}
