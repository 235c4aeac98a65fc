/* store/ for jobs/: legal holds, what is past its retention, the purge's deletes, and the
 * secure_delete / WAL checkpoint hygiene around them. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_retention.h"

void pp_store_hold_clear(pp_store_hold *h)
{
	if (!h)
		return;
	free(h->reason_enc);
	h->reason_enc = NULL;
	h->reason_enc_len = 0;
}

int pp_store_hold_insert(pp_store *st, const pp_store_hold *h)
{
	static const char sql[] =
	    "INSERT INTO legal_hold (id, pub_id, scope, patient_id, thread_id, reason_enc, placed_by, "
	    "placed_ms) VALUES (?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;
	bool patient, thread;

	if (!st || !h || !h->pub_id[0] || !h->reason_enc)
		return PP_EINVAL;
	patient = !strcmp(h->scope, "patient") && h->patient_id > 0 && !h->thread_id;
	thread = !strcmp(h->scope, "thread") && h->thread_id > 0;
	if (!patient && !thread)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, h->id);
	pp_store_bind_text(s, 2, h->pub_id);
	pp_store_bind_text(s, 3, h->scope);
	sqlite3_bind_int64(s, 4, patient ? h->patient_id : 0);
	sqlite3_bind_int64(s, 5, thread ? h->thread_id : 0);
	sqlite3_bind_blob(s, 6, h->reason_enc, (int)h->reason_enc_len, SQLITE_STATIC);
	pp_store_bind_text(s, 7, h->placed_by);
	sqlite3_bind_int64(s, 8, h->placed_ms);
	return pp_store_step_done(st, s, NULL);
}

/* the hold's columns plus the opaque ids of its target: a thread's patient is the thread's */
#define HOLD_SELECT                                                                               \
	"SELECT h.id, h.pub_id, h.scope, h.patient_id, h.thread_id, h.reason_enc, h.placed_by, "    \
	"h.placed_ms, h.released_ms, h.released_by, COALESCE(r.pub_id, ''), COALESCE(t.pub_id, '') " \
	"FROM legal_hold h LEFT JOIN msg_thread t ON t.id = h.thread_id AND h.thread_id <> 0 "      \
	"LEFT JOIN resource r ON r.id = CASE h.scope WHEN 'thread' THEN t.patient_id "              \
	"ELSE h.patient_id END "

static int read_hold(sqlite3_stmt *s, pp_store_hold *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->pub_id, sizeof o->pub_id);
	pp_store_col_text(s, 2, o->scope, sizeof o->scope);
	o->patient_id = sqlite3_column_int64(s, 3);
	o->thread_id = sqlite3_column_int64(s, 4);
	pp_store_col_text(s, 6, o->placed_by, sizeof o->placed_by);
	o->placed_ms = sqlite3_column_int64(s, 7);
	o->released_ms = sqlite3_column_int64(s, 8);
	pp_store_col_text(s, 9, o->released_by, sizeof o->released_by);
	pp_store_col_text(s, 10, o->patient_pub, sizeof o->patient_pub);
	pp_store_col_text(s, 11, o->thread_pub, sizeof o->thread_pub);
	return pp_store_col_blob(s, 5, &o->reason_enc, &o->reason_enc_len);
}

int pp_store_hold_get(pp_store *st, const char *pub_id, pp_store_hold *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, HOLD_SELECT "WHERE h.pub_id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = read_hold(s, out);
	else
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	if (rc)
		pp_store_hold_clear(out);
	return rc;
}

int pp_store_hold_release(pp_store *st, const char *pub_id, const char *by, int64_t now_ms)
{
	static const char sql[] = "UPDATE legal_hold SET released_ms = ?, released_by = ? "
	                          "WHERE pub_id = ? AND released_ms = 0";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !pub_id || now_ms <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	pp_store_bind_text(s, 2, by);
	pp_store_bind_text(s, 3, pub_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_hold_each(pp_store *st, bool all, pp_store_hold_cb cb, void *ctx)
{
	static const char q_all[] = HOLD_SELECT "ORDER BY h.placed_ms DESC, h.id";
	static const char q_active[] = HOLD_SELECT "WHERE h.released_ms = 0 "
	                                           "ORDER BY h.placed_ms DESC, h.id";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, all ? q_all : q_active)))
		return PP_EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_hold h;
		ret = read_hold(s, &h);
		if (!ret)
			ret = cb(ctx, &h);
		pp_store_hold_clear(&h);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_retention_thread_find(pp_store *st, const char *pub_id, int64_t *thread_id,
                                   int64_t *patient_id)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !pub_id || !thread_id || !patient_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT id, patient_id FROM msg_thread WHERE pub_id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*thread_id = sqlite3_column_int64(s, 0);
		*patient_id = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

/* ---- what is past its retention ----
 * Each query yields: row id, opaque id, patient row, patient's opaque id, time, docref row, and
 * the pub_id of one active hold covering the row (NULL when none). Parameters: ?1 cutoff,
 * ?2/?3 paging cursor (time, row id), ?4 unheld only, ?5 limit. */
#define HOLD_ON(PCOL, THREADS)                                                                    \
	"(SELECT h.pub_id FROM legal_hold h WHERE h.released_ms = 0 AND ("                          \
	"(h.scope = 'patient' AND h.patient_id = " PCOL ") OR "                                     \
	"(h.scope = 'thread' AND h.thread_id IN (" THREADS "))) LIMIT 1)"
#define PAGE(TS, ID) " AND (" TS " > ?2 OR (" TS " = ?2 AND " ID " > ?3))"
#define WRAP(INNER) "SELECT * FROM (" INNER ") WHERE (?4 = 0 OR hold IS NULL) ORDER BY ts, rid LIMIT ?5"

/* the threads a file belongs to through its message (file.message_id or message_attachment) */
#define FILE_THREADS                                                                              \
	"SELECT m.thread_id FROM msg_message m WHERE m.id = f.message_id UNION "                     \
	"SELECT m.thread_id FROM message_attachment a JOIN msg_message m ON m.id = a.message_id "    \
	"WHERE a.file_id = f.pub_id"
#define FILE_IS_ATTACHMENT                                                                        \
	"(f.kind = 'attachment' OR f.message_id <> 0 OR "                                            \
	"EXISTS (SELECT 1 FROM message_attachment a WHERE a.file_id = f.pub_id))"
#define FILE_COLS                                                                                 \
	"SELECT f.id AS rid, f.pub_id, f.patient_id, COALESCE(r.pub_id, ''), f.created_ms AS ts, "   \
	"f.docref_id, " HOLD_ON("f.patient_id", FILE_THREADS) " AS hold "                            \
	"FROM file f LEFT JOIN resource r ON r.id = f.patient_id "                                   \
	"WHERE f.status <> 'shredded' AND f.created_ms < ?1" PAGE("f.created_ms", "f.id")

static const char q_messages[] = WRAP(
	"SELECT m.id AS rid, m.pub_id, t.patient_id, COALESCE(r.pub_id, ''), m.created_ms AS ts, 0, "
	HOLD_ON("t.patient_id", "t.id") " AS hold "
	"FROM msg_message m JOIN msg_thread t ON t.id = m.thread_id "
	"LEFT JOIN resource r ON r.id = t.patient_id "
	"WHERE m.created_ms < ?1" PAGE("m.created_ms", "m.id"));

/* a thread goes when nothing in it is newer than the cutoff: no message, no draft */
static const char q_threads[] = WRAP(
	"SELECT t.id AS rid, t.pub_id, t.patient_id, COALESCE(r.pub_id, ''), t.updated_ms AS ts, 0, "
	HOLD_ON("t.patient_id", "t.id") " AS hold "
	"FROM msg_thread t LEFT JOIN resource r ON r.id = t.patient_id "
	"WHERE t.updated_ms < ?1 AND t.created_ms < ?1"
	" AND NOT EXISTS (SELECT 1 FROM msg_message m WHERE m.thread_id = t.id AND m.created_ms >= ?1)"
	" AND NOT EXISTS (SELECT 1 FROM msg_draft d WHERE d.thread_id = t.id AND d.updated_ms >= ?1)"
	PAGE("t.updated_ms", "t.id"));

/* a draft is kept no longer than the messages it would have become */
static const char q_drafts[] = WRAP(
	"SELECT d.id AS rid, t.pub_id || '/draft', t.patient_id, COALESCE(r.pub_id, ''), "
	"d.updated_ms AS ts, 0, " HOLD_ON("t.patient_id", "t.id") " AS hold "
	"FROM msg_draft d JOIN msg_thread t ON t.id = d.thread_id "
	"LEFT JOIN resource r ON r.id = t.patient_id "
	"WHERE d.updated_ms < ?1" PAGE("d.updated_ms", "d.id"));

static const char q_attachments[] = WRAP(FILE_COLS " AND " FILE_IS_ATTACHMENT);
static const char q_documents[] = WRAP(FILE_COLS " AND NOT " FILE_IS_ATTACHMENT);

int pp_store_retention_each(pp_store *st, const pp_store_retention_query *q,
                            pp_store_retention_cb cb, void *ctx)
{
	const char *sql;
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !q || !cb || q->limit <= 0)
		return PP_EINVAL;
	switch (q->kind) {
	case PP_STORE_RET_MESSAGE: sql = q_messages; break;
	case PP_STORE_RET_THREAD: sql = q_threads; break;
	case PP_STORE_RET_ATTACHMENT: sql = q_attachments; break;
	case PP_STORE_RET_DOCUMENT: sql = q_documents; break;
	case PP_STORE_RET_DRAFT: sql = q_drafts; break;
	default: return PP_EINVAL;
	}
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, q->before_ms);
	sqlite3_bind_int64(s, 2, q->after_ms);
	sqlite3_bind_int64(s, 3, q->after_id);
	sqlite3_bind_int(s, 4, q->unheld_only ? 1 : 0);
	sqlite3_bind_int(s, 5, q->limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_retention_item it;
		memset(&it, 0, sizeof it);
		it.kind = q->kind;
		it.row_id = sqlite3_column_int64(s, 0);
		pp_store_col_text(s, 1, it.pub_id, sizeof it.pub_id);
		it.patient_id = sqlite3_column_int64(s, 2);
		pp_store_col_text(s, 3, it.patient_pub, sizeof it.patient_pub);
		it.created_ms = sqlite3_column_int64(s, 4);
		it.docref_id = sqlite3_column_int64(s, 5);
		it.held = sqlite3_column_type(s, 6) != SQLITE_NULL;
		pp_store_col_text(s, 6, it.hold_pub, sizeof it.hold_pub);
		if ((ret = cb(ctx, &it)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

static int delete_one(pp_store *st, const char *sql, int64_t id)
{
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || id == 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

/* receipts, per-user deletes and attachment links go with the message (ON DELETE CASCADE) */
int pp_store_retention_message_delete(pp_store *st, int64_t message_id)
{
	return delete_one(st, "DELETE FROM msg_message WHERE id = ?", message_id);
}

/* drafts and reassignment/move events go with the thread (ON DELETE CASCADE) */
int pp_store_retention_thread_delete(pp_store *st, int64_t thread_id)
{
	return delete_one(st, "DELETE FROM msg_thread WHERE id = ?", thread_id);
}

int pp_store_retention_draft_delete(pp_store *st, int64_t draft_id)
{
	return delete_one(st, "DELETE FROM msg_draft WHERE id = ?", draft_id);
}

int pp_store_retention_docref_delete(pp_store *st, int64_t resource_id)
{
	return delete_one(st, "DELETE FROM resource WHERE id = ? AND type = 'DocumentReference'",
	                  resource_id);
}

int pp_store_retention_secure_delete(pp_store *st)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !(s = pp_store_stmt(st, "PRAGMA secure_delete=ON")))
		return PP_EIO;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

int pp_store_retention_checkpoint(pp_store *st, int *busy)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !busy)
		return PP_EINVAL;
	*busy = 0;
	if (!(s = pp_store_stmt(st, "PRAGMA wal_checkpoint(TRUNCATE)")))
		return PP_EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*busy = sqlite3_column_int(s, 0) != 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

int pp_store_retention_audit_count_before(const char *audit_path, int64_t before_ms, int64_t *n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc;

	if (!audit_path || !n)
		return PP_EINVAL;
	*n = 0;
	rc = sqlite3_open_v2(audit_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = PP_EIO;
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_event WHERE ts_ms < ?", -1, &s, NULL)) {
		rc = PP_EIO;
		goto out;
	}
	sqlite3_bind_int64(s, 1, before_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}
