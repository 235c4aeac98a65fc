/* store/ for msg/: threads, messages, receipts, per-user deletes, drafts, events, attachments.
 * Every viewer-scoped query shares one thread filter: a patient viewer (?patient > 0) sees the
 * threads of that patient, a staff viewer (?patient = 0) those of the pools they belong to. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_msg.h"

/* ?1 viewer user id, ?2 viewer patient id (0 for staff), ?3 viewer side */
#define VIEWER_THREADS                                                                        \
	"((?2 > 0 AND t.patient_id = ?2) OR (?2 = 0 AND t.pool_id IN "                           \
	"(SELECT pool_id FROM pool_member WHERE user_id = ?1)))"
#define NOT_DELETED(m) "NOT EXISTS (SELECT 1 FROM msg_deleted d WHERE d.message_id = " m ".id " \
	"AND d.user_id = ?1)"
#define UNREAD(m) m ".side <> ?3 AND (CASE ?3 WHEN 'patient' THEN " m ".patient_read_ms ELSE " \
	m ".staff_read_ms END) = 0"

#define THREAD_COLS "t.id, t.pub_id, t.patient_id, t.pool_id, t.kind, t.subject_enc, " \
	"t.created_by, t.created_ms, t.updated_ms"
#define MSG_COLS "m.id, m.pub_id, m.thread_id, m.author_id, m.side, m.kind, m.content_enc, " \
	"m.created_ms, m.patient_read_ms, m.staff_read_ms, m.staff_read_by, m.in_reply_to, " \
	"t.pub_id, t.patient_id, t.pool_id"

void pp_store_msg_thread_clear(pp_store_msg_thread *t)
{
	if (!t)
		return;
	free(t->subject_enc);
	t->subject_enc = NULL;
	t->subject_enc_len = 0;
}

void pp_store_msg_clear(pp_store_msg *m)
{
	if (!m)
		return;
	free(m->content_enc);
	m->content_enc = NULL;
	m->content_enc_len = 0;
}

static void bind_viewer(sqlite3_stmt *s, const pp_store_msg_viewer *v)
{
	sqlite3_bind_int64(s, 1, v->user_id);
	sqlite3_bind_int64(s, 2, v->patient_id > 0 ? v->patient_id : 0);
	pp_store_bind_text(s, 3, v->side);
}

static bool viewer_ok(const pp_store_msg_viewer *v)
{
	return v && v->user_id > 0 && v->side &&
	       (!strcmp(v->side, "patient") ? v->patient_id > 0 : !strcmp(v->side, "staff"));
}

int pp_store_msg_thread_insert(pp_store *st, const pp_store_msg_thread *t)
{
	static const char sql[] =
	    "INSERT INTO msg_thread (id, pub_id, patient_id, pool_id, kind, subject_enc, created_by, "
	    "created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !t || t->id <= 0 || !t->pub_id[0] || !t->subject_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, t->id);
	pp_store_bind_text(s, 2, t->pub_id);
	sqlite3_bind_int64(s, 3, t->patient_id);
	sqlite3_bind_int64(s, 4, t->pool_id);
	pp_store_bind_text(s, 5, t->kind);
	sqlite3_bind_blob(s, 6, t->subject_enc, (int)t->subject_enc_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, t->created_by);
	sqlite3_bind_int64(s, 8, t->created_ms);
	sqlite3_bind_int64(s, 9, t->updated_ms);
	return pp_store_step_done(st, s, NULL);
}

static int read_thread(sqlite3_stmt *s, pp_store_msg_thread *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->pub_id, sizeof o->pub_id);
	o->patient_id = sqlite3_column_int64(s, 2);
	o->pool_id = sqlite3_column_int64(s, 3);
	pp_store_col_text(s, 4, o->kind, sizeof o->kind);
	o->created_by = sqlite3_column_int64(s, 6);
	o->created_ms = sqlite3_column_int64(s, 7);
	o->updated_ms = sqlite3_column_int64(s, 8);
	return pp_store_col_blob(s, 5, &o->subject_enc, &o->subject_enc_len);
}

static int thread_one(sqlite3_stmt *s, pp_store_msg_thread *out)
{
	int rc = sqlite3_step(s), ret;

	if (rc == SQLITE_ROW)
		ret = read_thread(s, out);
	else
		ret = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_msg_thread_get_pub(pp_store *st, const char *pub_id, pp_store_msg_thread *out)
{
	sqlite3_stmt *s;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, "SELECT " THREAD_COLS " FROM msg_thread t WHERE t.pub_id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	return thread_one(s, out);
}

int pp_store_msg_thread_get(pp_store *st, int64_t id, pp_store_msg_thread *out)
{
	sqlite3_stmt *s;

	if (!st || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, "SELECT " THREAD_COLS " FROM msg_thread t WHERE t.id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	return thread_one(s, out);
}

int pp_store_msg_thread_update(pp_store *st, int64_t id, int64_t pool_id, int64_t patient_id,
                               int64_t updated_ms)
{
	static const char sql[] =
	    "UPDATE msg_thread SET pool_id = CASE WHEN ?1 > 0 THEN ?1 ELSE pool_id END, "
	    "patient_id = CASE WHEN ?2 > 0 THEN ?2 ELSE patient_id END, "
	    "updated_ms = CASE WHEN ?3 > 0 THEN ?3 ELSE updated_ms END WHERE id = ?4";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, pool_id);
	sqlite3_bind_int64(s, 2, patient_id);
	sqlite3_bind_int64(s, 3, updated_ms);
	sqlite3_bind_int64(s, 4, id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_msg_thread_each(pp_store *st, const pp_store_msg_viewer *v, int limit,
                             pp_store_msg_thread_cb cb, void *ctx)
{
	static const char sql[] =
	    "SELECT * FROM (SELECT " THREAD_COLS ", "
	    "(SELECT count(*) FROM msg_message m WHERE m.thread_id = t.id AND " UNREAD("m")
	    " AND " NOT_DELETED("m") "), "
	    "(SELECT count(*) FROM msg_message m WHERE m.thread_id = t.id AND " NOT_DELETED("m") ") "
	    "AS visible FROM msg_thread t WHERE " VIEWER_THREADS ") WHERE visible > 0 "
	    "ORDER BY updated_ms DESC, id LIMIT ?4";
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !viewer_ok(v) || !cb || limit <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	bind_viewer(s, v);
	sqlite3_bind_int(s, 4, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_msg_thread t;
		if ((ret = read_thread(s, &t)))
			break;
		t.unread = sqlite3_column_int(s, 9);
		t.visible = sqlite3_column_int(s, 10);
		ret = cb(ctx, &t);
		pp_store_msg_thread_clear(&t);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_msg_unread_count(pp_store *st, const pp_store_msg_viewer *v, int64_t *n)
{
	static const char sql[] =
	    "SELECT count(*) FROM msg_message m JOIN msg_thread t ON t.id = m.thread_id WHERE "
	    VIEWER_THREADS " AND " UNREAD("m") " AND " NOT_DELETED("m");
	sqlite3_stmt *s;
	int rc;

	if (!st || !viewer_ok(v) || !n)
		return PP_EINVAL;
	*n = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	bind_viewer(s, v);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
}

int pp_store_msg_insert(pp_store *st, const pp_store_msg *m)
{
	static const char sql[] =
	    "INSERT INTO msg_message (id, pub_id, thread_id, author_id, side, kind, content_enc, "
	    "created_ms, in_reply_to) VALUES (?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !m || m->id <= 0 || !m->pub_id[0] || !m->content_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, m->id);
	pp_store_bind_text(s, 2, m->pub_id);
	sqlite3_bind_int64(s, 3, m->thread_id);
	sqlite3_bind_int64(s, 4, m->author_id);
	pp_store_bind_text(s, 5, m->side);
	pp_store_bind_text(s, 6, m->kind);
	sqlite3_bind_blob(s, 7, m->content_enc, (int)m->content_enc_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, m->created_ms);
	sqlite3_bind_int64(s, 9, m->in_reply_to);
	return pp_store_step_done(st, s, NULL);
}

static int read_msg(sqlite3_stmt *s, pp_store_msg *o)
{
	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->pub_id, sizeof o->pub_id);
	o->thread_id = sqlite3_column_int64(s, 2);
	o->author_id = sqlite3_column_int64(s, 3);
	pp_store_col_text(s, 4, o->side, sizeof o->side);
	pp_store_col_text(s, 5, o->kind, sizeof o->kind);
	o->created_ms = sqlite3_column_int64(s, 7);
	o->patient_read_ms = sqlite3_column_int64(s, 8);
	o->staff_read_ms = sqlite3_column_int64(s, 9);
	o->staff_read_by = sqlite3_column_int64(s, 10);
	o->in_reply_to = sqlite3_column_int64(s, 11);
	pp_store_col_text(s, 12, o->thread_pub, sizeof o->thread_pub);
	o->thread_patient_id = sqlite3_column_int64(s, 13);
	o->thread_pool_id = sqlite3_column_int64(s, 14);
	return pp_store_col_blob(s, 6, &o->content_enc, &o->content_enc_len);
}

int pp_store_msg_get_pub(pp_store *st, const char *pub_id, pp_store_msg *out)
{
	static const char sql[] = "SELECT " MSG_COLS " FROM msg_message m JOIN msg_thread t ON "
	                          "t.id = m.thread_id WHERE m.pub_id = ?";
	sqlite3_stmt *s;
	int rc, ret;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = read_msg(s, out);
	else
		ret = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

static int each_msg(sqlite3_stmt *s, pp_store_msg_cb cb, void *ctx)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_msg m;
		if ((ret = read_msg(s, &m)) == 0)
			ret = cb(ctx, &m);
		pp_store_msg_clear(&m);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_msg_each_in_thread(pp_store *st, int64_t thread_id, int64_t viewer_user_id,
                                pp_store_msg_cb cb, void *ctx)
{
	static const char sql[] = "SELECT " MSG_COLS " FROM msg_message m JOIN msg_thread t ON "
	                          "t.id = m.thread_id WHERE m.thread_id = ?2 AND " NOT_DELETED("m")
	                          " ORDER BY m.created_ms, m.rowid";
	sqlite3_stmt *s;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, viewer_user_id);
	sqlite3_bind_int64(s, 2, thread_id);
	return each_msg(s, cb, ctx);
}

int pp_store_msg_each_visible(pp_store *st, const pp_store_msg_viewer *v, int limit,
                              pp_store_msg_cb cb, void *ctx)
{
	static const char sql[] = "SELECT " MSG_COLS " FROM msg_message m JOIN msg_thread t ON "
	                          "t.id = m.thread_id WHERE " VIEWER_THREADS " AND " NOT_DELETED("m")
	                          " ORDER BY m.created_ms DESC, m.rowid DESC LIMIT ?4";
	sqlite3_stmt *s;

	if (!st || !viewer_ok(v) || !cb || limit <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	bind_viewer(s, v);
	sqlite3_bind_int(s, 4, limit);
	return each_msg(s, cb, ctx);
}

int pp_store_msg_mark_read(pp_store *st, int64_t thread_id, const pp_store_msg_viewer *v,
                           int64_t now_ms, int *changed)
{
	static const char sql[] =
	    "UPDATE msg_message SET "
	    "patient_read_ms = CASE ?3 WHEN 'patient' THEN ?4 ELSE patient_read_ms END, "
	    "staff_read_ms = CASE ?3 WHEN 'staff' THEN ?4 ELSE staff_read_ms END, "
	    "staff_read_by = CASE ?3 WHEN 'staff' THEN ?1 ELSE staff_read_by END "
	    "WHERE thread_id = ?5 AND " UNREAD("msg_message");
	sqlite3_stmt *s;
	int n = 0, rc;

	if (!st || !viewer_ok(v) || now_ms <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	bind_viewer(s, v);
	sqlite3_bind_int64(s, 4, now_ms);
	sqlite3_bind_int64(s, 5, thread_id);
	rc = pp_store_step_done(st, s, &n);
	if (changed)
		*changed = n;
	return rc;
}

int pp_store_msg_delete_for(pp_store *st, int64_t message_id, int64_t user_id, int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO msg_deleted (message_id, user_id, deleted_ms) VALUES (?,?,?)";
	sqlite3_stmt *s;

	if (!st || message_id <= 0 || user_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, now_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_msg_set_thread(pp_store *st, int64_t message_id, int64_t thread_id)
{
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE msg_message SET thread_id = ?, in_reply_to = 0 "
	                            "WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, thread_id);
	sqlite3_bind_int64(s, 2, message_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_msg_last_in_thread(pp_store *st, int64_t thread_id, int64_t *message_id)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !message_id)
		return PP_EINVAL;
	*message_id = 0;
	if (!(s = pp_store_stmt(st, "SELECT id FROM msg_message WHERE thread_id = ? "
	                            "ORDER BY created_ms DESC, rowid DESC LIMIT 1")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, thread_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*message_id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

int pp_store_msg_draft_put(pp_store *st, int64_t id, int64_t thread_id, int64_t author_id,
                           const uint8_t *content_enc, size_t len, int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO msg_draft (id, thread_id, author_id, content_enc, updated_ms) "
	    "VALUES (?,?,?,?,?) ON CONFLICT (thread_id, author_id) DO UPDATE SET id = excluded.id, "
	    "content_enc = excluded.content_enc, updated_ms = excluded.updated_ms";
	sqlite3_stmt *s;

	if (!st || id <= 0 || !content_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, thread_id);
	sqlite3_bind_int64(s, 3, author_id);
	sqlite3_bind_blob(s, 4, content_enc, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_msg_draft_get(pp_store *st, int64_t thread_id, int64_t author_id, int64_t *id,
                           uint8_t **content_enc, size_t *len, int64_t *updated_ms)
{
	sqlite3_stmt *s;
	int rc, ret;

	if (!st || !id || !content_enc || !len)
		return PP_EINVAL;
	*content_enc = NULL;
	*len = 0;
	if (!(s = pp_store_stmt(st, "SELECT id, content_enc, updated_ms FROM msg_draft "
	                            "WHERE thread_id = ? AND author_id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, thread_id);
	sqlite3_bind_int64(s, 2, author_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		if (updated_ms)
			*updated_ms = sqlite3_column_int64(s, 2);
		ret = pp_store_col_blob(s, 1, content_enc, len);
	} else {
		ret = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return ret;
}

int pp_store_msg_draft_delete(pp_store *st, int64_t thread_id, int64_t author_id)
{
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "DELETE FROM msg_draft WHERE thread_id = ? AND author_id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, thread_id);
	sqlite3_bind_int64(s, 2, author_id);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? 0 : PP_ENOTFOUND;
}

int pp_store_msg_event_insert(pp_store *st, const pp_store_msg_event *e)
{
	static const char sql[] =
	    "INSERT INTO msg_event (id, thread_id, message_id, kind, actor_id, from_ref, to_ref, "
	    "reason_enc, created_ms) VALUES (?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !e || e->id <= 0 || !e->reason_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, e->id);
	sqlite3_bind_int64(s, 2, e->thread_id);
	sqlite3_bind_int64(s, 3, e->message_id);
	pp_store_bind_text(s, 4, e->kind);
	sqlite3_bind_int64(s, 5, e->actor_id);
	sqlite3_bind_int64(s, 6, e->from_ref);
	sqlite3_bind_int64(s, 7, e->to_ref);
	sqlite3_bind_blob(s, 8, e->reason_enc, (int)e->reason_enc_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, e->created_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_msg_attachment_add(pp_store *st, int64_t message_id, const char *file_id)
{
	sqlite3_stmt *s;

	if (!st || message_id <= 0 || !file_id || !*file_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "INSERT INTO message_attachment (message_id, file_id) "
	                            "VALUES (?,?)")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, message_id);
	pp_store_bind_text(s, 2, file_id);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_msg_attachment_each(pp_store *st, int64_t message_id, pp_store_msg_attachment_cb cb,
                                 void *ctx)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT file_id FROM message_attachment WHERE message_id = ? "
	                            "ORDER BY rowid")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, message_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char id[128];
		pp_store_col_text(s, 0, id, sizeof id);
		if ((ret = cb(ctx, id)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_msg_pool_members(pp_store *st, int64_t pool_id, pp_store_msg_user_cb cb, void *ctx)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "SELECT user_id FROM pool_member WHERE pool_id = ? "
	                            "ORDER BY user_id")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, pool_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = cb(ctx, sqlite3_column_int64(s, 0))))
			break;
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	return ret;
}

int pp_store_msg_thread_of(pp_store *st, int64_t message_id, int64_t *thread_id)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !thread_id)
		return PP_EINVAL;
	*thread_id = 0;
	if (!(s = pp_store_stmt(st, "SELECT thread_id FROM msg_message WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, message_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*thread_id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}
