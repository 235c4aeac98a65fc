/* store/ for files/: file metadata rows. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_files.h"

#define FILE_COLS "id, pub_id, blob, patient_id, uploader_id, kind, mime, size, digest, name_enc, " \
                  "key_enc, status, message_id, docref_id, created_ms, scanned_ms"

void pp_store_file_clear(pp_store_file *f)
{
	if (!f)
		return;
	free(f->name_enc);
	if (f->key_enc) {
		pp_wipe(f->key_enc, f->key_enc_len);
		free(f->key_enc);
	}
	f->name_enc = f->key_enc = NULL;
	f->name_enc_len = f->key_enc_len = 0;
}

int pp_store_file_insert(pp_store *st, const pp_store_file *f)
{
	static const char sql[] = "INSERT INTO file (" FILE_COLS ") VALUES "
	                          "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !f || f->id <= 0 || !f->pub_id[0] || !f->blob[0] || !f->name_enc || !f->key_enc)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, f->id);
	pp_store_bind_text(s, 2, f->pub_id);
	pp_store_bind_text(s, 3, f->blob);
	sqlite3_bind_int64(s, 4, f->patient_id);
	sqlite3_bind_int64(s, 5, f->uploader_id);
	pp_store_bind_text(s, 6, f->kind);
	pp_store_bind_text(s, 7, f->mime);
	sqlite3_bind_int64(s, 8, f->size);
	sqlite3_bind_blob(s, 9, f->digest, 32, SQLITE_STATIC);
	sqlite3_bind_blob(s, 10, f->name_enc, (int)f->name_enc_len, SQLITE_STATIC);
	sqlite3_bind_blob(s, 11, f->key_enc, (int)f->key_enc_len, SQLITE_STATIC);
	pp_store_bind_text(s, 12, f->status);
	sqlite3_bind_int64(s, 13, f->message_id);
	sqlite3_bind_int64(s, 14, f->docref_id);
	sqlite3_bind_int64(s, 15, f->created_ms);
	sqlite3_bind_int64(s, 16, f->scanned_ms);
	return pp_store_step_done(st, s, NULL);
}

static int read_file(sqlite3_stmt *s, pp_store_file *o)
{
	const void *d;
	int rc;

	memset(o, 0, sizeof *o);
	o->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, o->pub_id, sizeof o->pub_id);
	pp_store_col_text(s, 2, o->blob, sizeof o->blob);
	o->patient_id = sqlite3_column_int64(s, 3);
	o->uploader_id = sqlite3_column_int64(s, 4);
	pp_store_col_text(s, 5, o->kind, sizeof o->kind);
	pp_store_col_text(s, 6, o->mime, sizeof o->mime);
	o->size = sqlite3_column_int64(s, 7);
	d = sqlite3_column_blob(s, 8);
	if (d && sqlite3_column_bytes(s, 8) == 32)
		memcpy(o->digest, d, 32);
	if ((rc = pp_store_col_blob(s, 9, &o->name_enc, &o->name_enc_len)) ||
	    (rc = pp_store_col_blob(s, 10, &o->key_enc, &o->key_enc_len))) {
		pp_store_file_clear(o);
		return rc;
	}
	pp_store_col_text(s, 11, o->status, sizeof o->status);
	o->message_id = sqlite3_column_int64(s, 12);
	o->docref_id = sqlite3_column_int64(s, 13);
	o->created_ms = sqlite3_column_int64(s, 14);
	o->scanned_ms = sqlite3_column_int64(s, 15);
	return 0;
}

int pp_store_file_get_pub(pp_store *st, const char *pub_id, pp_store_file *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !pub_id || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!(s = pp_store_stmt(st, "SELECT " FILE_COLS " FROM file WHERE pub_id = ?")))
		return PP_EIO;
	pp_store_bind_text(s, 1, pub_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = read_file(s, out);
	else
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	sqlite3_reset(s);
	return rc;
}

static int each(pp_store *st, sqlite3_stmt *s, pp_store_file_cb cb, void *ctx)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_file f;
		if ((ret = read_file(s, &f)))
			break;
		ret = cb(ctx, &f);
		pp_store_file_clear(&f);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = pp_store_err(rc);
	sqlite3_reset(s);
	(void)st;
	return ret;
}

int pp_store_file_each_for_patient(pp_store *st, int64_t patient_id, const char *kind,
                                   pp_store_file_cb cb, void *ctx)
{
	static const char all[] = "SELECT " FILE_COLS " FROM file WHERE patient_id = ? "
	                          "ORDER BY created_ms DESC, id";
	static const char one[] = "SELECT " FILE_COLS " FROM file WHERE patient_id = ? AND kind = ? "
	                          "ORDER BY created_ms DESC, id";
	sqlite3_stmt *s;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, kind ? one : all)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	if (kind)
		pp_store_bind_text(s, 2, kind);
	return each(st, s, cb, ctx);
}

int pp_store_file_each_status(pp_store *st, const char *status, int limit, pp_store_file_cb cb,
                              void *ctx)
{
	static const char sql[] = "SELECT " FILE_COLS " FROM file WHERE status = ? "
	                          "ORDER BY created_ms, id LIMIT ?";
	sqlite3_stmt *s;

	if (!st || !status || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, status);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : 1000);
	return each(st, s, cb, ctx);
}

static int changed_one(pp_store *st, sqlite3_stmt *s)
{
	int changes = 0, rc = pp_store_step_done(st, s, &changes);

	return rc ? rc : changes ? 0 : PP_ENOTFOUND;
}

int pp_store_file_set_status(pp_store *st, int64_t id, const char *status, int64_t scanned_ms)
{
	sqlite3_stmt *s;

	if (!st || !status)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE file SET status = ?, scanned_ms = ? WHERE id = ? "
	                            "AND status <> 'shredded'")))
		return PP_EIO;
	pp_store_bind_text(s, 1, status);
	sqlite3_bind_int64(s, 2, scanned_ms);
	sqlite3_bind_int64(s, 3, id);
	return changed_one(st, s);
}

int pp_store_file_set_links(pp_store *st, int64_t id, int64_t message_id, int64_t docref_id)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE file SET message_id = ?, docref_id = ? WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, message_id);
	sqlite3_bind_int64(s, 2, docref_id);
	sqlite3_bind_int64(s, 3, id);
	return changed_one(st, s);
}

int pp_store_file_shred(pp_store *st, int64_t id)
{
	sqlite3_stmt *s;

	if (!st)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, "UPDATE file SET key_enc = NULL, name_enc = x'', "
	                            "status = 'shredded' WHERE id = ?")))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	return changed_one(st, s);
}
