/* store/ for the encounter relationship: practitioner links and the encounter participation index
 * (see store_encounter.h). */
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_encounter.h"

int pp_store_encounter_index_put(pp_store *st, int64_t encounter_id, int64_t patient_id,
                                 const uint8_t (*keys)[32], int n, int64_t start_ms,
                                 int64_t end_ms)
{
	static const char del[] = "DELETE FROM encounter_participant WHERE encounter_id = ?";
	static const char ins[] = "INSERT OR IGNORE INTO encounter_participant (encounter_id, "
	                          "patient_id, key_bidx, start_ms, end_ms) VALUES (?,?,?,?,?)";
	sqlite3_stmt *s;
	int rc;

	if (!st || encounter_id <= 0 || n < 0 || n > PP_STORE_ENCOUNTER_MAX_KEYS || (n && !keys))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, del)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, encounter_id);
	if ((rc = pp_store_step_done(st, s, NULL)))
		return rc;
	for (int i = 0; patient_id > 0 && i < n; i++) {
		if (!(s = pp_store_stmt(st, ins)))
			return PP_EIO;
		sqlite3_bind_int64(s, 1, encounter_id);
		sqlite3_bind_int64(s, 2, patient_id);
		sqlite3_bind_blob(s, 3, keys[i], 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 4, start_ms);
		sqlite3_bind_int64(s, 5, end_ms);
		if ((rc = pp_store_step_done(st, s, NULL)))
			return rc;
	}
	return 0;
}

int pp_store_practitioner_link_set(pp_store *st, int64_t user_id, const uint8_t (*keys)[32], int n,
                                   int64_t now_ms)
{
	static const char del[] = "DELETE FROM practitioner_link WHERE user_id = ?";
	static const char ins[] = "INSERT OR IGNORE INTO practitioner_link (user_id, key_bidx, "
	                          "created_ms) VALUES (?,?,?)";
	sqlite3_stmt *s;
	int rc;

	if (!st || user_id <= 0 || n <= 0 || n > PP_STORE_ENCOUNTER_MAX_KEYS || !keys)
		return PP_EINVAL;
	if ((rc = pp_store_begin(st)))
		return rc;
	if (!(s = pp_store_stmt(st, del))) {
		rc = PP_EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, user_id);
	if ((rc = pp_store_step_done(st, s, NULL)))
		goto out;
	for (int i = 0; i < n; i++) {
		if (!(s = pp_store_stmt(st, ins))) {
			rc = PP_EIO;
			goto out;
		}
		sqlite3_bind_int64(s, 1, user_id);
		sqlite3_bind_blob(s, 2, keys[i], 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 3, now_ms);
		if ((rc = pp_store_step_done(st, s, NULL)))
			goto out;
	}
	rc = pp_store_commit(st);
out:
	if (rc)
		pp_store_rollback(st);
	return rc;
}

int pp_store_practitioner_unlink(pp_store *st, int64_t user_id)
{
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM practitioner_link WHERE user_id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_practitioner_linked(pp_store *st, int64_t user_id, int *linked)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !linked)
		return PP_EINVAL;
	*linked = 0;
	if (!(s = pp_store_stmt(st, "SELECT 1 FROM practitioner_link WHERE user_id = ? LIMIT 1")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	rc = sqlite3_step(s);
	*linked = rc == SQLITE_ROW;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

#define RELATED_FROM                                                                               \
	"FROM encounter_participant e JOIN practitioner_link l ON l.key_bidx = e.key_bidx "          \
	"WHERE l.user_id = ? AND e.start_ms <= ? AND (e.end_ms = 0 OR e.end_ms >= ?)"

int pp_store_encounter_related(pp_store *st, int64_t user_id, int64_t patient_id, int64_t now_ms,
                               int64_t since_ms, int *related)
{
	static const char sql[] = "SELECT 1 " RELATED_FROM " AND e.patient_id = ? LIMIT 1";
	sqlite3_stmt *s;
	int rc;

	if (!st || !related)
		return PP_EINVAL;
	*related = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, since_ms);
	sqlite3_bind_int64(s, 4, patient_id);
	rc = sqlite3_step(s);
	*related = rc == SQLITE_ROW;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

int pp_store_encounter_patients_each(pp_store *st, int64_t user_id, int64_t now_ms,
                                     int64_t since_ms, pp_store_encounter_cb cb, void *ctx)
{
	static const char sql[] = "SELECT e.patient_id, max(CASE e.end_ms WHEN 0 THEN ? ELSE "
	                          "e.end_ms END) AS latest " RELATED_FROM
	                          " GROUP BY e.patient_id ORDER BY latest DESC, e.patient_id";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int64(s, 4, since_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(ctx, sqlite3_column_int64(s, 0))))
			break;
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_encounter_patient_count(pp_store *st, const uint8_t key[32], int64_t *n)
{
	static const char sql[] = "SELECT count(DISTINCT patient_id) FROM encounter_participant "
	                          "WHERE key_bidx = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !key || !n)
		return PP_EINVAL;
	*n = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, key, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : pp_store_err(rc);
}
