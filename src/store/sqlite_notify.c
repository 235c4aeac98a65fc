/* store/ for notify/: contacts (sealed addresses, plain preferences) and the notification outbox. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_notify.h"

void pp_store_notify_contact_clear(pp_store_notify_contact *c)
{
	if (!c)
		return;
	free(c->email_enc);
	free(c->phone_enc);
	c->email_enc = c->phone_enc = NULL;
	c->email_enc_len = c->phone_enc_len = 0;
}

static void bind_blob_or_null(sqlite3_stmt *s, int i, const uint8_t *p, size_t n)
{
	if (p && n)
		sqlite3_bind_blob(s, i, p, (int)n, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

int pp_store_notify_contact_put(pp_store *st, const pp_store_notify_contact *c)
{
	static const char sql[] =
	    "INSERT INTO notify_contact (user_id, email_enc, phone_enc, email_enabled, sms_enabled, "
	    "updated_ms) VALUES (?,?,?,?,?,?) ON CONFLICT (user_id) DO UPDATE SET "
	    "email_enc = excluded.email_enc, phone_enc = excluded.phone_enc, "
	    "email_enabled = excluded.email_enabled, sms_enabled = excluded.sms_enabled, "
	    "updated_ms = excluded.updated_ms";
	sqlite3_stmt *s;

	if (!st || !c || c->user_id <= 0 || c->email_enc_len > 4096 || c->phone_enc_len > 4096)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, c->user_id);
	bind_blob_or_null(s, 2, c->email_enc, c->email_enc_len);
	bind_blob_or_null(s, 3, c->phone_enc, c->phone_enc_len);
	sqlite3_bind_int(s, 4, c->email_enabled ? 1 : 0);
	sqlite3_bind_int(s, 5, c->sms_enabled ? 1 : 0);
	sqlite3_bind_int64(s, 6, c->updated_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_notify_contact_get(pp_store *st, int64_t user_id, pp_store_notify_contact *out)
{
	static const char sql[] = "SELECT email_enc, phone_enc, email_enabled, sms_enabled, "
	                          "updated_ms FROM notify_contact WHERE user_id = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->user_id = user_id;
		out->email_enabled = sqlite3_column_int(s, 2);
		out->sms_enabled = sqlite3_column_int(s, 3);
		out->updated_ms = sqlite3_column_int64(s, 4);
		if (pp_store_col_blob(s, 0, &out->email_enc, &out->email_enc_len) ||
		    pp_store_col_blob(s, 1, &out->phone_enc, &out->phone_enc_len)) {
			sqlite3_reset(s);
			pp_store_notify_contact_clear(out);
			return PP_ENOMEM;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? PP_OK : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

static bool event_ok(const char *event)
{
	return event && (!strcmp(event, "message") || !strcmp(event, "result"));
}

int pp_store_notify_enqueue(pp_store *st, int64_t user_id, const char *event, int email_ok,
                            int sms_ok, int64_t now_ms, int *queued)
{
	/* ?1 user, ?2 event, ?3 now, ?4 e-mail configured, ?5 SMS configured */
	static const char sql[] =
	    "INSERT INTO notify_outbox (user_id, channel, event, status, attempts, due_ms, created_ms) "
	    "SELECT c.user_id, 'email', ?2, 'pending', 0, ?3, ?3 FROM notify_contact c "
	    "WHERE c.user_id = ?1 AND ?4 AND c.email_enabled = 1 AND c.email_enc IS NOT NULL "
	    "AND NOT EXISTS (SELECT 1 FROM notify_outbox o WHERE o.user_id = ?1 AND "
	    "o.channel = 'email' AND o.event = ?2 AND o.status = 'pending') "
	    "UNION ALL "
	    "SELECT c.user_id, 'sms', ?2, 'pending', 0, ?3, ?3 FROM notify_contact c "
	    "WHERE c.user_id = ?1 AND ?5 AND c.sms_enabled = 1 AND c.phone_enc IS NOT NULL "
	    "AND NOT EXISTS (SELECT 1 FROM notify_outbox o WHERE o.user_id = ?1 AND "
	    "o.channel = 'sms' AND o.event = ?2 AND o.status = 'pending')";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (queued)
		*queued = 0;
	if (!st || user_id <= 0 || !event_ok(event))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	pp_store_bind_text(s, 2, event);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int(s, 4, email_ok ? 1 : 0);
	sqlite3_bind_int(s, 5, sms_ok ? 1 : 0);
	rc = pp_store_step_done(st, s, &changes);
	if (!rc && queued)
		*queued = changes;
	return rc;
}

int pp_store_notify_due(pp_store *st, int64_t now_ms, int64_t *ids, size_t cap, size_t *n)
{
	static const char sql[] = "SELECT id FROM notify_outbox WHERE status = 'pending' AND "
	                          "due_ms <= ? ORDER BY due_ms, id LIMIT ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !ids || !n)
		return PP_EINVAL;
	*n = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)cap);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? PP_OK : pp_store_err(rc);
}

#define ROW_COLS "id, user_id, channel, event, status, attempts, due_ms, created_ms, " \
                 "COALESCE(sent_ms, 0), last_error"

int pp_store_notify_get(pp_store *st, int64_t id, pp_store_notify_row *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, "SELECT " ROW_COLS " FROM notify_outbox WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		out->user_id = sqlite3_column_int64(s, 1);
		pp_store_col_text(s, 2, out->channel, sizeof out->channel);
		pp_store_col_text(s, 3, out->event, sizeof out->event);
		pp_store_col_text(s, 4, out->status, sizeof out->status);
		out->attempts = sqlite3_column_int(s, 5);
		out->due_ms = sqlite3_column_int64(s, 6);
		out->created_ms = sqlite3_column_int64(s, 7);
		out->sent_ms = sqlite3_column_int64(s, 8);
		pp_store_col_text(s, 9, out->last_error, sizeof out->last_error);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? PP_OK : rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
}

int pp_store_notify_claim(pp_store *st, int64_t id, int64_t now_ms, int64_t lease_until_ms,
                          pp_store_notify_row *out)
{
	static const char sql[] = "UPDATE notify_outbox SET attempts = attempts + 1, due_ms = ?3 "
	                          "WHERE id = ?1 AND status = 'pending' AND due_ms <= ?2";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, lease_until_ms);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	if (changes != 1)
		return PP_ENOTFOUND;
	return pp_store_notify_get(st, id, out);
}

int pp_store_notify_mark_sent(pp_store *st, int64_t id, int64_t now_ms)
{
	static const char sql[] = "UPDATE notify_outbox SET status = 'sent', sent_ms = ?2, "
	                          "last_error = '' WHERE id = ?1 AND status = 'pending'";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? PP_OK : PP_ENOTFOUND;
}

int pp_store_notify_mark_retry(pp_store *st, int64_t id, int64_t due_ms, const char *error)
{
	static const char sql[] = "UPDATE notify_outbox SET due_ms = ?2, last_error = ?3 "
	                          "WHERE id = ?1 AND status = 'pending'";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, due_ms);
	pp_store_bind_text(s, 3, error);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? PP_OK : PP_ENOTFOUND;
}

int pp_store_notify_mark_final(pp_store *st, int64_t id, const char *status, const char *error)
{
	static const char sql[] = "UPDATE notify_outbox SET status = ?2, last_error = ?3 "
	                          "WHERE id = ?1 AND status = 'pending'";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !status || (strcmp(status, "failed") && strcmp(status, "cancelled")))
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	pp_store_bind_text(s, 2, status);
	pp_store_bind_text(s, 3, error);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	return changes ? PP_OK : PP_ENOTFOUND;
}

int pp_store_notify_purge(pp_store *st, int64_t before_ms, int *n)
{
	static const char sql[] = "DELETE FROM notify_outbox WHERE status <> 'pending' AND "
	                          "created_ms < ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (n)
		*n = 0;
	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, before_ms);
	rc = pp_store_step_done(st, s, &changes);
	if (!rc && n)
		*n = changes;
	return rc;
}

int pp_store_notify_count(pp_store *st, const char *status, int64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !n)
		return PP_EINVAL;
	*n = 0;
	s = pp_store_stmt(st, status ? "SELECT count(*) FROM notify_outbox WHERE status = ?"
	                             : "SELECT count(*) FROM notify_outbox");
	if (!s)
		return PP_EIO;
	if (status)
		pp_store_bind_text(s, 1, status);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? PP_OK : pp_store_err(rc);
}

/* collects the first column of every row into a malloc'd array */
static int collect_ids(sqlite3_stmt *s, int64_t **ids, size_t *n)
{
	int64_t *v = NULL;
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			int64_t *nv = realloc(v, ncap * sizeof *v);
			if (!nv) {
				sqlite3_reset(s);
				free(v);
				*n = 0;
				return PP_ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[(*n)++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		*n = 0;
		return pp_store_err(rc);
	}
	*ids = v;
	return PP_OK;
}

int pp_store_notify_patient_users(pp_store *st, int64_t patient_id, int64_t **ids, size_t *n)
{
	static const char sql[] = "SELECT id FROM user_account WHERE patient_id = ? AND "
	                          "role = 'patient' AND status = 'active' ORDER BY id";
	sqlite3_stmt *s;

	if (!st || !ids || !n || patient_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	return collect_ids(s, ids, n);
}

int pp_store_notify_result_users_since(pp_store *st, int64_t since_ms, int64_t **ids, size_t *n)
{
	static const char sql[] =
	    "SELECT id FROM user_account WHERE role = 'patient' AND status = 'active' AND "
	    "patient_id IN (SELECT patient_id FROM resource WHERE type = 'Observation' AND "
	    "last_updated_ms >= ? AND patient_id > 0) ORDER BY id";
	sqlite3_stmt *s;

	if (!st || !ids || !n)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, since_ms);
	return collect_ids(s, ids, n);
}
