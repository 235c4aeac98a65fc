/* store: FHIR resource rows (fhir/). Bodies arrive sealed, logical ids only as blind indexes; this
 * file never sees plaintext. A patient_id of 0 in the API is NULL in the column (the column is a
 * foreign key to resource(id)). */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#define RES_COLS "id, type, lid_bidx, pub_id, patient_id, body, digest, version, last_updated_ms"

static const char SQL_INSERT[] =
	"INSERT INTO resource (" RES_COLS ") VALUES (?,?,?,?,?,?,?,?,?)";
/* an update keeps the row id, type, logical id and pub_id: the sealed body is bound to the id */
static const char SQL_UPDATE[] =
	"UPDATE resource SET patient_id = ?5, body = ?6, digest = ?7, version = ?8, "
	"last_updated_ms = ?9 WHERE id = ?1 AND type = ?2 AND lid_bidx = ?3 AND pub_id = ?4";
static const char SQL_FIND_LID[] =
	"SELECT " RES_COLS " FROM resource WHERE type = ? AND lid_bidx = ?";
static const char SQL_GET_PUB[] =
	"SELECT " RES_COLS " FROM resource WHERE type = ? AND pub_id = ?";
static const char SQL_GET[] =
	"SELECT " RES_COLS " FROM resource WHERE id = ?";
static const char SQL_EACH_PATIENT[] =
	"SELECT " RES_COLS " FROM resource WHERE patient_id = ? ORDER BY type, id";
static const char SQL_EACH_PATIENT_TYPE[] =
	"SELECT " RES_COLS " FROM resource WHERE patient_id = ? AND type = ? ORDER BY id";
static const char SQL_EACH_TYPE[] =
	"SELECT " RES_COLS " FROM resource WHERE type = ? ORDER BY id";
static const char SQL_EACH_ALL[] =
	"SELECT " RES_COLS " FROM resource ORDER BY type, id";
static const char SQL_EACH_TYPE_LIMIT[] =
	"SELECT " RES_COLS " FROM resource WHERE type = ? ORDER BY id LIMIT ?";
/* the same rows without their bodies (a search decides on these, then opens only its page) */
#define META_COLS "id, type, lid_bidx, pub_id, patient_id, NULL, digest, version, last_updated_ms"
static const char SQL_META_PATIENT[] =
	"SELECT " META_COLS " FROM resource WHERE patient_id = ? ORDER BY type, id";
static const char SQL_META_PATIENT_TYPE[] =
	"SELECT " META_COLS " FROM resource WHERE patient_id = ? AND type = ? ORDER BY id";
static const char SQL_META_TYPE_LIMIT[] =
	"SELECT " META_COLS " FROM resource WHERE type = ? ORDER BY id LIMIT ?";
/* only the row ids: answered from the resource_by_patient index alone, no row is read */
static const char SQL_IDS_PATIENT_TYPE[] =
	"SELECT id FROM resource WHERE patient_id = ? AND type = ? ORDER BY id";
/* only the served id of a referenced resource (reference rewriting): the body is not read */
static const char SQL_PUB_OF_LID[] = "SELECT pub_id FROM resource WHERE type = ? AND lid_bidx = ?";
static const char SQL_COUNT_TYPE[] = "SELECT count(*) FROM resource WHERE type = ?";
static const char SQL_COUNT_ALL[] = "SELECT count(*) FROM resource";

void pp_store_resource_clear(pp_store_resource *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

static int valid_row(const pp_store_resource *r)
{
	return r && r->id > 0 && r->type[0] && memchr(r->type, '\0', sizeof r->type) &&
	       r->pub_id[0] && memchr(r->pub_id, '\0', sizeof r->pub_id) && r->body &&
	       r->body_len > 0 && r->body_len <= (size_t)0x7fffffff && r->patient_id >= 0;
}

static int put_with(pp_store *st, const char *sql, const pp_store_resource *r, int *changed)
{
	sqlite3_stmt *s = pp_store_stmt(st, sql);
	int rc;

	if (!s)
		return PP_EIO;
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_text(s, 2, r->type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, r->lid_bidx, 32, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->pub_id, -1, SQLITE_STATIC);
	if (r->patient_id > 0)
		sqlite3_bind_int64(s, 5, r->patient_id);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_blob(s, 6, r->body, (int)r->body_len, SQLITE_STATIC);
	sqlite3_bind_blob(s, 7, r->digest, 32, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, r->version > 0 ? r->version : 1);
	sqlite3_bind_int64(s, 9, r->last_updated_ms);
	rc = sqlite3_step(s);
	rc = rc == SQLITE_DONE ? PP_OK : (pp_store_err(rc) ? pp_store_err(rc) : PP_EIO);
	*changed = rc ? 0 : sqlite3_changes(pp_store_conn(st));
	sqlite3_reset(s);
	return rc;
}

/* One statement writes the row, so a resource is never half-written. When (type, lid_bidx) exists
 * under another row id the put fails with PP_EEXISTS: the body sealed for this id would not open
 * in the other row. */
int pp_store_resource_put(pp_store *st, const pp_store_resource *r)
{
	int rc, changed = 0;

	if (!st || !valid_row(r))
		return PP_EINVAL;
	rc = put_with(st, SQL_UPDATE, r, &changed);
	if (rc || changed)
		return rc;
	return put_with(st, SQL_INSERT, r, &changed);
}

static int read_row(sqlite3_stmt *s, pp_store_resource *out)
{
	const void *p;

	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(s, 0);
	pp_store_col_text(s, 1, out->type, sizeof out->type);
	p = sqlite3_column_blob(s, 2);
	if (p && sqlite3_column_bytes(s, 2) == 32)
		memcpy(out->lid_bidx, p, 32);
	pp_store_col_text(s, 3, out->pub_id, sizeof out->pub_id);
	out->patient_id = sqlite3_column_type(s, 4) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 4);
	if (pp_store_col_blob(s, 5, &out->body, &out->body_len))
		return PP_ENOMEM;
	p = sqlite3_column_blob(s, 6);
	if (p && sqlite3_column_bytes(s, 6) == 32)
		memcpy(out->digest, p, 32);
	out->version = sqlite3_column_int(s, 7);
	out->last_updated_ms = sqlite3_column_int64(s, 8);
	return PP_OK;
}

/* steps a prepared single-row query into out */
static int fetch_one(sqlite3_stmt *s, pp_store_resource *out)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		rc = read_row(s, out);
	else if (rc == SQLITE_DONE)
		rc = PP_ENOTFOUND;
	else
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	sqlite3_reset(s);
	return rc;
}

int pp_store_resource_find_lid(pp_store *st, const char *type, const uint8_t lid_bidx[32],
                               pp_store_resource *out)
{
	sqlite3_stmt *s;

	if (!st || !type || !lid_bidx || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, SQL_FIND_LID)))
		return PP_EIO;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, lid_bidx, 32, SQLITE_STATIC);
	return fetch_one(s, out);
}

int pp_store_resource_get_pub(pp_store *st, const char *type, const char *pub_id,
                              pp_store_resource *out)
{
	sqlite3_stmt *s;

	if (!st || !type || !pub_id || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, SQL_GET_PUB)))
		return PP_EIO;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pub_id, -1, SQLITE_STATIC);
	return fetch_one(s, out);
}

int pp_store_resource_get(pp_store *st, int64_t id, pp_store_resource *out)
{
	sqlite3_stmt *s;

	if (!st || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, SQL_GET)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, id);
	return fetch_one(s, out);
}

static void rows_free(pp_store_resource *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pp_store_resource_clear(&rows[i]);
	free(rows);
}

/* Reads every row first and only then calls back, so the callback may use the store (even the same
 * cached statement) without disturbing the iteration. */
static int each(sqlite3_stmt *s, pp_store_resource_cb cb, void *ctx)
{
	pp_store_resource *rows = NULL, *grown;
	size_t n = 0, cap = 0;
	int rc, step;

	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			grown = realloc(rows, ncap * sizeof *rows);
			if (!grown) {
				rc = PP_ENOMEM;
				goto out;
			}
			rows = grown;
			cap = ncap;
		}
		rc = read_row(s, &rows[n]);
		n++;
		if (rc)
			goto out;
	}
	if (step != SQLITE_DONE) {
		rc = pp_store_err(step) ? pp_store_err(step) : PP_EIO;
		goto out;
	}
	sqlite3_reset(s);
	rc = PP_OK;
	for (size_t i = 0; i < n; i++)
		if (cb(ctx, &rows[i]))
			break;
out:
	sqlite3_reset(s);
	rows_free(rows, n);
	return rc;
}

int pp_store_resource_each_for_patient(pp_store *st, int64_t patient_id, const char *type,
                                       pp_store_resource_cb cb, void *ctx)
{
	sqlite3_stmt *s;

	if (!st || !cb || patient_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, type ? SQL_EACH_PATIENT_TYPE : SQL_EACH_PATIENT)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	if (type)
		sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
	return each(s, cb, ctx);
}

int pp_store_resource_each_of_type(pp_store *st, const char *type, pp_store_resource_cb cb,
                                   void *ctx)
{
	sqlite3_stmt *s;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, type ? SQL_EACH_TYPE : SQL_EACH_ALL)))
		return PP_EIO;
	if (type)
		sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	return each(s, cb, ctx);
}

int pp_store_resource_each_of_type_limit(pp_store *st, const char *type, int limit,
                                         pp_store_resource_cb cb, void *ctx)
{
	sqlite3_stmt *s;

	if (!st || !type || !cb || limit <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, SQL_EACH_TYPE_LIMIT)))
		return PP_EIO;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, limit);
	return each(s, cb, ctx);
}

int pp_store_resource_each_meta_for_patient(pp_store *st, int64_t patient_id, const char *type,
                                            pp_store_resource_cb cb, void *ctx)
{
	sqlite3_stmt *s;

	if (!st || !cb || patient_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, type ? SQL_META_PATIENT_TYPE : SQL_META_PATIENT)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	if (type)
		sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
	return each(s, cb, ctx);
}

int pp_store_resource_each_meta_of_type_limit(pp_store *st, const char *type, int limit,
                                              pp_store_resource_cb cb, void *ctx)
{
	sqlite3_stmt *s;

	if (!st || !type || !cb || limit <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, SQL_META_TYPE_LIMIT)))
		return PP_EIO;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, limit);
	return each(s, cb, ctx);
}

int pp_store_resource_ids_for_patient(pp_store *st, int64_t patient_id, const char *type,
                                      int64_t **ids, size_t *n)
{
	sqlite3_stmt *s;
	int64_t *v = NULL, *grown;
	size_t len = 0, cap = 0;
	int rc, step;

	if (!ids || !n)
		return PP_EINVAL;
	*ids = NULL;
	*n = 0;
	if (!st || !type || patient_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, SQL_IDS_PATIENT_TYPE)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 256;
			if (!(grown = realloc(v, cap * sizeof *v))) {
				rc = PP_ENOMEM;
				goto out;
			}
			v = grown;
		}
		v[len++] = sqlite3_column_int64(s, 0);
	}
	if (step != SQLITE_DONE) {
		rc = pp_store_err(step) ? pp_store_err(step) : PP_EIO;
		goto out;
	}
	*ids = v;
	*n = len;
	v = NULL;
	rc = PP_OK;
out:
	sqlite3_reset(s);
	free(v);
	return rc;
}

int pp_store_resource_count(pp_store *st, const char *type, int64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !n)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, type ? SQL_COUNT_TYPE : SQL_COUNT_ALL)))
		return PP_EIO;
	if (type)
		sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(s, 0);
		rc = PP_OK;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_resource_pub_of_lid(pp_store *st, const char *type, const uint8_t lid_bidx[32],
                                 char *pub_id, size_t cap)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !type || !lid_bidx || !pub_id || !cap)
		return PP_EINVAL;
	pub_id[0] = '\0';
	if (!(s = pp_store_stmt(st, SQL_PUB_OF_LID)))
		return PP_EIO;
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, lid_bidx, 32, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		pp_store_col_text(s, 0, pub_id, cap);
		rc = PP_OK;
	} else if (rc == SQLITE_DONE) {
		rc = PP_ENOTFOUND;
	} else {
		rc = pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	sqlite3_reset(s);
	return rc;
}
