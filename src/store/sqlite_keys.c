/* store: the crypto_key table (wrapped keys for crypto/). The rows hold only KEK-wrapped key
 * material; unwrapping happens in crypto/. */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_ROWS_MAX 4096

static const char sql_key_put[] =
	"INSERT INTO crypto_key (id, kind, wrapped, created_ms, active) VALUES (?, ?, ?, ?, ?)";
/* oldest first; the id only breaks ties inside one millisecond */
static const char sql_key_list[] =
	"SELECT id, kind, wrapped, created_ms, active FROM crypto_key ORDER BY created_ms, id";

static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int pp_store_key_put(pp_store *st, const pp_store_key *k)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !k || !k->wrapped || k->wrapped_len == 0 || k->wrapped_len > INT32_MAX ||
	    memchr(k->kind, '\0', sizeof(k->kind)) == NULL)
		return PP_EINVAL;
	s = pp_store_stmt(st, sql_key_put);
	if (!s)
		return PP_EIO;
	if (sqlite3_bind_int64(s, 1, k->id) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, k->kind, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 3, k->wrapped, (int)k->wrapped_len, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, k->created_ms) != SQLITE_OK ||
	    sqlite3_bind_int(s, 5, k->active ? 1 : 0) != SQLITE_OK) {
		rc = PP_EIO;
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		pp_log_error("store: crypto_key insert failed (%s)", sqlite3_errstr(rc));
		rc = pp_store_err(rc);
		if (rc == 0)
			rc = PP_EIO;
		goto out;
	}
	rc = 0;
out:
	stmt_done(s);
	return rc;
}

int pp_store_key_list(pp_store *st, pp_store_key **rows, size_t *n)
{
	sqlite3_stmt *s;
	pp_store_key *v = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!st || !rows || !n)
		return PP_EINVAL;
	*rows = NULL;
	*n = 0;
	s = pp_store_stmt(st, sql_key_list);
	if (!s)
		return PP_EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		pp_store_key *k;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			pp_store_key *nv;

			if (ncap > KEY_ROWS_MAX)
				ncap = KEY_ROWS_MAX;
			if (len >= ncap) {
				rc = PP_ETOOBIG;
				goto out;
			}
			nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = PP_ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		k = &v[len];
		memset(k, 0, sizeof(*k));
		len++;
		k->id = sqlite3_column_int64(s, 0);
		pp_store_col_text(s, 1, k->kind, sizeof(k->kind));
		rc = pp_store_col_blob(s, 2, &k->wrapped, &k->wrapped_len);
		if (rc)
			goto out;
		k->created_ms = sqlite3_column_int64(s, 3);
		k->active = sqlite3_column_int(s, 4);
	}
	if (rc != SQLITE_DONE) {
		pp_log_error("store: crypto_key list failed (%s)", sqlite3_errstr(rc));
		rc = pp_store_err(rc);
		if (rc == 0)
			rc = PP_EIO;
		goto out;
	}
	*rows = v;
	*n = len;
	v = NULL;
	len = 0;
	rc = 0;
out:
	stmt_done(s);
	pp_store_key_rows_free(v, len);
	return rc;
}

void pp_store_key_rows_free(pp_store_key *rows, size_t n)
{
	if (!rows)
		return;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].wrapped) {
			pp_wipe(rows[i].wrapped, rows[i].wrapped_len);
			free(rows[i].wrapped);
		}
	}
	free(rows);
}
