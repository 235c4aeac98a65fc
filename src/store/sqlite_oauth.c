/* store/ for oauth/: client registry, authorization requests and codes, token families, refresh
 * and access tokens (hashes only), client-assertion jtis and the sealed ID-token signing keys. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_oauth.h"

/* ---- clients ---- */
#define CLIENT_COLS                                                                                \
	"client_id, name, owner, purpose, type, scopes, redirect_uris, jwks, jwks_uri, ip_allow, "     \
	"ip_deny, rate_per_min, status, baa_vendor, baa_signed, baa_expires, created_ms, launch_uri"

int pp_store_oauth_client_insert(pp_store *st, const pp_store_oauth_client *c)
{
	static const char sql[] = "INSERT INTO oauth_client (" CLIENT_COLS
	                          ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !c || !c->client_id[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, c->client_id);
	pp_store_bind_text(s, 2, c->name);
	pp_store_bind_text(s, 3, c->owner);
	pp_store_bind_text(s, 4, c->purpose);
	pp_store_bind_text(s, 5, c->type);
	pp_store_bind_text(s, 6, c->scopes);
	pp_store_bind_text(s, 7, c->redirect_uris);
	pp_store_bind_text(s, 8, c->jwks);
	pp_store_bind_text(s, 9, c->jwks_uri);
	pp_store_bind_text(s, 10, c->ip_allow);
	pp_store_bind_text(s, 11, c->ip_deny);
	sqlite3_bind_int(s, 12, c->rate_per_min);
	pp_store_bind_text(s, 13, c->status[0] ? c->status : "active");
	pp_store_bind_text(s, 14, c->baa_vendor);
	pp_store_bind_text(s, 15, c->baa_signed);
	pp_store_bind_text(s, 16, c->baa_expires);
	sqlite3_bind_int64(s, 17, c->created_ms);
	pp_store_bind_text(s, 18, c->launch_uri);
	return pp_store_step_done(st, s, NULL);
}

static void read_client(sqlite3_stmt *s, pp_store_oauth_client *o)
{
	memset(o, 0, sizeof *o);
	pp_store_col_text(s, 0, o->client_id, sizeof o->client_id);
	pp_store_col_text(s, 1, o->name, sizeof o->name);
	pp_store_col_text(s, 2, o->owner, sizeof o->owner);
	pp_store_col_text(s, 3, o->purpose, sizeof o->purpose);
	pp_store_col_text(s, 4, o->type, sizeof o->type);
	pp_store_col_text(s, 5, o->scopes, sizeof o->scopes);
	pp_store_col_text(s, 6, o->redirect_uris, sizeof o->redirect_uris);
	pp_store_col_text(s, 7, o->jwks, sizeof o->jwks);
	pp_store_col_text(s, 8, o->jwks_uri, sizeof o->jwks_uri);
	pp_store_col_text(s, 9, o->ip_allow, sizeof o->ip_allow);
	pp_store_col_text(s, 10, o->ip_deny, sizeof o->ip_deny);
	o->rate_per_min = sqlite3_column_int(s, 11);
	pp_store_col_text(s, 12, o->status, sizeof o->status);
	pp_store_col_text(s, 13, o->baa_vendor, sizeof o->baa_vendor);
	pp_store_col_text(s, 14, o->baa_signed, sizeof o->baa_signed);
	pp_store_col_text(s, 15, o->baa_expires, sizeof o->baa_expires);
	o->created_ms = sqlite3_column_int64(s, 16);
	pp_store_col_text(s, 17, o->launch_uri, sizeof o->launch_uri);
}

int pp_store_oauth_client_get(pp_store *st, const char *client_id, pp_store_oauth_client *out)
{
	static const char sql[] = "SELECT " CLIENT_COLS " FROM oauth_client WHERE client_id = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !client_id || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, client_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_client(s, out);
		rc = PP_OK;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_oauth_client_each(pp_store *st, pp_store_oauth_client_cb cb, void *ctx)
{
	static const char sql[] = "SELECT " CLIENT_COLS " FROM oauth_client ORDER BY created_ms, client_id";
	sqlite3_stmt *s;
	pp_store_oauth_client *c = NULL;
	int rc;

	if (!st || !cb)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	if (!(c = malloc(sizeof *c))) {
		sqlite3_reset(s);
		return PP_ENOMEM;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_client(s, c);
		if (cb(ctx, c))
			break;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? PP_OK : pp_store_err(rc);
	sqlite3_reset(s);
	free(c);
	return rc;
}

int pp_store_oauth_client_set_status(pp_store *st, const char *client_id, const char *status)
{
	static const char sql[] = "UPDATE oauth_client SET status = ? WHERE client_id = ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !client_id || !status)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, status);
	pp_store_bind_text(s, 2, client_id);
	rc = pp_store_step_done(st, s, &changes);
	return rc ? rc : changes ? PP_OK : PP_ENOTFOUND;
}

/* ---- EHR launch contexts ---- */
int pp_store_oauth_launch_insert(pp_store *st, const pp_store_oauth_launch *l)
{
	static const char sql[] = "INSERT INTO oauth_launch (id_hash, client_id, user_id, patient_id, "
	                          "patient_pub, created_ms, expires_ms) VALUES (?,?,?,?,?,?,?)";
	static const char purge[] = "DELETE FROM oauth_launch WHERE expires_ms < ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !l)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, l->id_hash, 32, SQLITE_TRANSIENT);
	pp_store_bind_text(s, 2, l->client_id);
	sqlite3_bind_int64(s, 3, l->user_id);
	sqlite3_bind_int64(s, 4, l->patient_id);
	pp_store_bind_text(s, 5, l->patient_pub);
	sqlite3_bind_int64(s, 6, l->created_ms);
	sqlite3_bind_int64(s, 7, l->expires_ms);
	if ((rc = pp_store_step_done(st, s, NULL)))
		return rc;
	/* expired launches are of no use to anyone: drop them (an hour's grace for the audit trail
	 * is not needed, the audit log has the launch) */
	if (!(s = pp_store_stmt(st, purge)))
		return PP_OK;
	sqlite3_bind_int64(s, 1, l->created_ms - 3600 * 1000);
	pp_store_step_done(st, s, NULL);
	return PP_OK;
}

int pp_store_oauth_launch_get(pp_store *st, const uint8_t id_hash[32], pp_store_oauth_launch *out)
{
	static const char sql[] = "SELECT client_id, user_id, patient_id, patient_pub, created_ms, "
	                          "expires_ms, used_ms FROM oauth_launch WHERE id_hash = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !id_hash || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, id_hash, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		uint8_t h[32];
		memcpy(h, id_hash, 32);   /* id_hash may point into *out */
		memset(out, 0, sizeof *out);
		memcpy(out->id_hash, h, 32);
		pp_store_col_text(s, 0, out->client_id, sizeof out->client_id);
		out->user_id = sqlite3_column_int64(s, 1);
		out->patient_id = sqlite3_column_int64(s, 2);
		pp_store_col_text(s, 3, out->patient_pub, sizeof out->patient_pub);
		out->created_ms = sqlite3_column_int64(s, 4);
		out->expires_ms = sqlite3_column_int64(s, 5);
		out->used_ms = sqlite3_column_int64(s, 6);
		rc = PP_OK;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_oauth_launch_use(pp_store *st, const uint8_t id_hash[32], int64_t now_ms)
{
	static const char sql[] = "UPDATE oauth_launch SET used_ms = ? WHERE id_hash = ? AND "
	                          "used_ms IS NULL";
	pp_store_oauth_launch l;
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !id_hash)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_blob(s, 2, id_hash, 32, SQLITE_TRANSIENT);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	if (changes)
		return PP_OK;
	return pp_store_oauth_launch_get(st, id_hash, &l) == PP_OK ? PP_EEXISTS : PP_ENOTFOUND;
}

/* ---- pending authorization requests ---- */
int pp_store_oauth_request_insert(pp_store *st, const pp_store_oauth_request *q)
{
	static const char sql[] = "INSERT INTO oauth_request (id, client_id, redirect_uri, scope, state, "
	                          "code_challenge, nonce, created_ms, expires_ms, launch_hash) "
	                          "VALUES (?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !q || !q->id[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, q->id);
	pp_store_bind_text(s, 2, q->client_id);
	pp_store_bind_text(s, 3, q->redirect_uri);
	pp_store_bind_text(s, 4, q->scope);
	pp_store_bind_text(s, 5, q->state);
	pp_store_bind_text(s, 6, q->code_challenge);
	pp_store_bind_text(s, 7, q->nonce);
	sqlite3_bind_int64(s, 8, q->created_ms);
	sqlite3_bind_int64(s, 9, q->expires_ms);
	if (q->has_launch)
		sqlite3_bind_blob(s, 10, q->launch_hash, 32, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 10);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_oauth_request_get(pp_store *st, const char *id, pp_store_oauth_request *out)
{
	static const char sql[] = "SELECT id, client_id, redirect_uri, scope, state, code_challenge, "
	                          "nonce, created_ms, expires_ms, done, launch_hash FROM oauth_request "
	                          "WHERE id = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !id || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		pp_store_col_text(s, 0, out->id, sizeof out->id);
		pp_store_col_text(s, 1, out->client_id, sizeof out->client_id);
		pp_store_col_text(s, 2, out->redirect_uri, sizeof out->redirect_uri);
		pp_store_col_text(s, 3, out->scope, sizeof out->scope);
		pp_store_col_text(s, 4, out->state, sizeof out->state);
		pp_store_col_text(s, 5, out->code_challenge, sizeof out->code_challenge);
		pp_store_col_text(s, 6, out->nonce, sizeof out->nonce);
		out->created_ms = sqlite3_column_int64(s, 7);
		out->expires_ms = sqlite3_column_int64(s, 8);
		out->done = sqlite3_column_int(s, 9);
		if (sqlite3_column_bytes(s, 10) == 32) {
			out->has_launch = 1;
			memcpy(out->launch_hash, sqlite3_column_blob(s, 10), 32);
		}
		rc = PP_OK;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_oauth_request_finish(pp_store *st, const char *id, int64_t now_ms)
{
	static const char sql[] = "UPDATE oauth_request SET done = 1 WHERE id = ? AND done = 0 "
	                          "AND expires_ms > ?";
	static const char purge[] = "DELETE FROM oauth_request WHERE expires_ms < ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	rc = pp_store_step_done(st, s, &changes);
	if (rc)
		return rc;
	/* old requests are of no use once expired: drop those older than a day */
	if ((s = pp_store_stmt(st, purge))) {
		sqlite3_bind_int64(s, 1, now_ms - 86400000LL);
		pp_store_step_done(st, s, NULL);
	}
	return changes ? PP_OK : PP_ENOTFOUND;
}

/* ---- token families ---- */
#define FAMILY_COLS \
	"f.id, f.client_id, f.user_id, f.user_role, f.patient_id, f.patient_pub, f.scope, f.created_ms, " \
	"f.revoked_ms"

static void read_family(sqlite3_stmt *s, int col, pp_store_oauth_family *f)
{
	memset(f, 0, sizeof *f);
	pp_store_col_text(s, col + 0, f->id, sizeof f->id);
	pp_store_col_text(s, col + 1, f->client_id, sizeof f->client_id);
	f->user_id = sqlite3_column_int64(s, col + 2);
	pp_store_col_text(s, col + 3, f->user_role, sizeof f->user_role);
	f->patient_id = sqlite3_column_int64(s, col + 4);
	pp_store_col_text(s, col + 5, f->patient_pub, sizeof f->patient_pub);
	pp_store_col_text(s, col + 6, f->scope, sizeof f->scope);
	f->created_ms = sqlite3_column_int64(s, col + 7);
	f->revoked_ms = sqlite3_column_int64(s, col + 8);
}

int pp_store_oauth_family_insert(pp_store *st, const pp_store_oauth_family *f)
{
	static const char sql[] = "INSERT INTO oauth_family (id, client_id, user_id, user_role, "
	                          "patient_id, patient_pub, scope, created_ms) VALUES (?,?,?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !f || !f->id[0])
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, f->id);
	pp_store_bind_text(s, 2, f->client_id);
	sqlite3_bind_int64(s, 3, f->user_id);
	pp_store_bind_text(s, 4, f->user_role);
	sqlite3_bind_int64(s, 5, f->patient_id);
	pp_store_bind_text(s, 6, f->patient_pub);
	pp_store_bind_text(s, 7, f->scope);
	sqlite3_bind_int64(s, 8, f->created_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_oauth_family_get(pp_store *st, const char *id, pp_store_oauth_family *out)
{
	static const char sql[] = "SELECT " FAMILY_COLS " FROM oauth_family f WHERE f.id = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !id || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_family(s, 0, out);
		rc = PP_OK;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_oauth_family_revoke(pp_store *st, const char *id, const char *reason, int64_t now_ms)
{
	static const char sql[] = "UPDATE oauth_family SET revoked_ms = ?, revoked_reason = ? "
	                          "WHERE id = ? AND revoked_ms IS NULL";
	sqlite3_stmt *s;

	if (!st || !id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	pp_store_bind_text(s, 2, reason);
	pp_store_bind_text(s, 3, id);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_oauth_family_revoke_user_client(pp_store *st, int64_t user_id, const char *client_id,
                                             int64_t now_ms, int *n)
{
	static const char sql[] = "UPDATE oauth_family SET revoked_ms = ?, revoked_reason = 'user' "
	                          "WHERE user_id = ? AND client_id = ? AND revoked_ms IS NULL";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !client_id || user_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, user_id);
	pp_store_bind_text(s, 3, client_id);
	rc = pp_store_step_done(st, s, &changes);
	if (n)
		*n = changes;
	return rc;
}

int pp_store_oauth_family_revoke_user(pp_store *st, int64_t user_id, const char *reason,
                                      int64_t now_ms, int *n)
{
	static const char sql[] = "UPDATE oauth_family SET revoked_ms = ?, revoked_reason = ? "
	                          "WHERE user_id = ? AND revoked_ms IS NULL";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || user_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	pp_store_bind_text(s, 2, reason ? reason : "account");
	sqlite3_bind_int64(s, 3, user_id);
	rc = pp_store_step_done(st, s, &changes);
	if (n)
		*n = changes;
	return rc;
}

int pp_store_oauth_family_each_user(pp_store *st, int64_t user_id, pp_store_oauth_family_cb cb,
                                    void *ctx)
{
	static const char sql[] = "SELECT " FAMILY_COLS " FROM oauth_family f WHERE f.user_id = ? "
	                          "AND f.revoked_ms IS NULL ORDER BY f.created_ms DESC LIMIT 500";
	sqlite3_stmt *s;
	pp_store_oauth_family f;
	int rc;

	if (!st || !cb || user_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, user_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_family(s, 0, &f);
		if (cb(ctx, &f))
			break;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? PP_OK : pp_store_err(rc);
	sqlite3_reset(s);
	return rc;
}

/* ---- authorization codes ---- */
int pp_store_oauth_code_insert(pp_store *st, const pp_store_oauth_code *c)
{
	static const char sql[] = "INSERT INTO oauth_code (code_hash, client_id, family_id, user_id, "
	                          "user_role, patient_id, patient_pub, scope, redirect_uri, code_challenge, "
	                          "nonce, created_ms, expires_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
	static const char purge[] = "DELETE FROM oauth_code WHERE expires_ms < ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !c)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, c->code_hash, 32, SQLITE_TRANSIENT);
	pp_store_bind_text(s, 2, c->client_id);
	pp_store_bind_text(s, 3, c->family_id);
	sqlite3_bind_int64(s, 4, c->user_id);
	pp_store_bind_text(s, 5, c->user_role);
	sqlite3_bind_int64(s, 6, c->patient_id);
	pp_store_bind_text(s, 7, c->patient_pub);
	pp_store_bind_text(s, 8, c->scope);
	pp_store_bind_text(s, 9, c->redirect_uri);
	pp_store_bind_text(s, 10, c->code_challenge);
	pp_store_bind_text(s, 11, c->nonce);
	sqlite3_bind_int64(s, 12, c->created_ms);
	sqlite3_bind_int64(s, 13, c->expires_ms);
	rc = pp_store_step_done(st, s, NULL);
	/* codes are kept a day past expiry so that a late replay is still recognised */
	if (!rc && (s = pp_store_stmt(st, purge))) {
		sqlite3_bind_int64(s, 1, c->created_ms - 86400000LL);
		pp_store_step_done(st, s, NULL);
	}
	return rc;
}

int pp_store_oauth_code_consume(pp_store *st, const uint8_t hash[32], int64_t now_ms,
                                pp_store_oauth_code *out)
{
	static const char upd[] = "UPDATE oauth_code SET used_ms = ? WHERE code_hash = ? AND used_ms IS NULL";
	static const char sel[] = "SELECT client_id, family_id, user_id, user_role, patient_id, "
	                          "patient_pub, scope, redirect_uri, code_challenge, nonce, created_ms, "
	                          "expires_ms, used_ms FROM oauth_code WHERE code_hash = ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !hash || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, upd)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_blob(s, 2, hash, 32, SQLITE_TRANSIENT);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	if (!(s = pp_store_stmt(st, sel)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		memcpy(out->code_hash, hash, 32);
		pp_store_col_text(s, 0, out->client_id, sizeof out->client_id);
		pp_store_col_text(s, 1, out->family_id, sizeof out->family_id);
		out->user_id = sqlite3_column_int64(s, 2);
		pp_store_col_text(s, 3, out->user_role, sizeof out->user_role);
		out->patient_id = sqlite3_column_int64(s, 4);
		pp_store_col_text(s, 5, out->patient_pub, sizeof out->patient_pub);
		pp_store_col_text(s, 6, out->scope, sizeof out->scope);
		pp_store_col_text(s, 7, out->redirect_uri, sizeof out->redirect_uri);
		pp_store_col_text(s, 8, out->code_challenge, sizeof out->code_challenge);
		pp_store_col_text(s, 9, out->nonce, sizeof out->nonce);
		out->created_ms = sqlite3_column_int64(s, 10);
		out->expires_ms = sqlite3_column_int64(s, 11);
		out->used_ms = sqlite3_column_int64(s, 12);
		rc = changes ? PP_OK : PP_EEXISTS;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

/* ---- refresh tokens ---- */
int pp_store_oauth_refresh_insert(pp_store *st, const uint8_t hash[32], const char *family_id,
                                  int64_t created_ms, int64_t expires_ms)
{
	static const char sql[] = "INSERT INTO oauth_refresh (token_hash, family_id, created_ms, "
	                          "expires_ms) VALUES (?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !hash || !family_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	pp_store_bind_text(s, 2, family_id);
	sqlite3_bind_int64(s, 3, created_ms);
	sqlite3_bind_int64(s, 4, expires_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_oauth_refresh_use(pp_store *st, const uint8_t hash[32], int64_t now_ms,
                               char family_id[48], int64_t *expires_ms)
{
	static const char upd[] = "UPDATE oauth_refresh SET used_ms = ? WHERE token_hash = ? AND used_ms IS NULL";
	static const char sel[] = "SELECT family_id, expires_ms FROM oauth_refresh WHERE token_hash = ?";
	sqlite3_stmt *s;
	int changes = 0, rc;

	if (!st || !hash || !family_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, upd)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_blob(s, 2, hash, 32, SQLITE_TRANSIENT);
	if ((rc = pp_store_step_done(st, s, &changes)))
		return rc;
	if (!(s = pp_store_stmt(st, sel)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		pp_store_col_text(s, 0, family_id, 48);
		if (expires_ms)
			*expires_ms = sqlite3_column_int64(s, 1);
		rc = changes ? PP_OK : PP_EEXISTS;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_oauth_refresh_family(pp_store *st, const uint8_t hash[32], char family_id[48])
{
	static const char sel[] = "SELECT family_id FROM oauth_refresh WHERE token_hash = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !hash || !family_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sel)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		pp_store_col_text(s, 0, family_id, 48);
		rc = PP_OK;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

/* ---- access tokens ---- */
int pp_store_oauth_access_insert(pp_store *st, const uint8_t hash[32], const char *family_id,
                                 int64_t created_ms, int64_t expires_ms)
{
	static const char sql[] = "INSERT INTO oauth_access (token_hash, family_id, created_ms, "
	                          "expires_ms) VALUES (?,?,?,?)";
	static const char purge[] = "DELETE FROM oauth_access WHERE expires_ms < ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !hash || !family_id)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	pp_store_bind_text(s, 2, family_id);
	sqlite3_bind_int64(s, 3, created_ms);
	sqlite3_bind_int64(s, 4, expires_ms);
	rc = pp_store_step_done(st, s, NULL);
	if (!rc && (s = pp_store_stmt(st, purge))) {
		sqlite3_bind_int64(s, 1, created_ms - 86400000LL);
		pp_store_step_done(st, s, NULL);
	}
	return rc;
}

int pp_store_oauth_access_get(pp_store *st, const uint8_t hash[32], pp_store_oauth_access *out)
{
	static const char sql[] = "SELECT a.created_ms, a.expires_ms, a.revoked_ms, " FAMILY_COLS
	                          " FROM oauth_access a JOIN oauth_family f ON f.id = a.family_id "
	                          "WHERE a.token_hash = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !hash || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_blob(s, 1, hash, 32, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		memcpy(out->token_hash, hash, 32);
		out->created_ms = sqlite3_column_int64(s, 0);
		out->expires_ms = sqlite3_column_int64(s, 1);
		out->revoked_ms = sqlite3_column_int64(s, 2);
		read_family(s, 3, &out->family);
		rc = PP_OK;
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}

int pp_store_oauth_access_revoke(pp_store *st, const uint8_t hash[32], int64_t now_ms)
{
	static const char sql[] = "UPDATE oauth_access SET revoked_ms = ? WHERE token_hash = ? "
	                          "AND revoked_ms IS NULL";
	sqlite3_stmt *s;

	if (!st || !hash)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_blob(s, 2, hash, 32, SQLITE_TRANSIENT);
	return pp_store_step_done(st, s, NULL);
}

/* ---- client assertion jtis ---- */
int pp_store_oauth_jti_use(pp_store *st, const char *client_id, const char *jti,
                           int64_t expires_ms, int64_t now_ms)
{
	static const char purge[] = "DELETE FROM oauth_jti WHERE expires_ms < ?";
	static const char sql[] = "INSERT INTO oauth_jti (client_id, jti, expires_ms) VALUES (?,?,?)";
	sqlite3_stmt *s;

	if (!st || !client_id || !jti)
		return PP_EINVAL;
	if ((s = pp_store_stmt(st, purge))) {
		sqlite3_bind_int64(s, 1, now_ms);
		pp_store_step_done(st, s, NULL);
	}
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, client_id);
	pp_store_bind_text(s, 2, jti);
	sqlite3_bind_int64(s, 3, expires_ms);
	return pp_store_step_done(st, s, NULL);
}

/* ---- signing keys ---- */
void pp_store_oauth_key_clear(pp_store_oauth_key *k)
{
	if (!k)
		return;
	if (k->private_enc)
		pp_wipe(k->private_enc, k->private_enc_len);
	free(k->private_enc);
	free(k->public_jwk);
	memset(k, 0, sizeof *k);
}

int pp_store_oauth_key_insert(pp_store *st, const pp_store_oauth_key *k)
{
	static const char sql[] = "INSERT INTO oauth_signing_key (id, kid, alg, private_enc, public_jwk, "
	                          "created_ms) VALUES (?,?,?,?,?,?)";
	sqlite3_stmt *s;

	if (!st || !k || !k->private_enc || !k->public_jwk)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, k->id);
	pp_store_bind_text(s, 2, k->kid);
	pp_store_bind_text(s, 3, k->alg);
	sqlite3_bind_blob(s, 4, k->private_enc, (int)k->private_enc_len, SQLITE_TRANSIENT);
	pp_store_bind_text(s, 5, k->public_jwk);
	sqlite3_bind_int64(s, 6, k->created_ms);
	return pp_store_step_done(st, s, NULL);
}

int pp_store_oauth_key_get(pp_store *st, const char *alg, pp_store_oauth_key *out)
{
	static const char sql[] = "SELECT id, kid, alg, private_enc, public_jwk, created_ms FROM "
	                          "oauth_signing_key WHERE alg = ? ORDER BY created_ms DESC, id LIMIT 1";
	sqlite3_stmt *s;
	int rc;

	if (!st || !alg || !out)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	pp_store_bind_text(s, 1, alg);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t;
		memset(out, 0, sizeof *out);
		out->id = sqlite3_column_int64(s, 0);
		pp_store_col_text(s, 1, out->kid, sizeof out->kid);
		pp_store_col_text(s, 2, out->alg, sizeof out->alg);
		rc = pp_store_col_blob(s, 3, &out->private_enc, &out->private_enc_len);
		t = sqlite3_column_text(s, 4);
		out->created_ms = sqlite3_column_int64(s, 5);
		if (!rc && !(out->public_jwk = pp_strdup(t ? (const char *)t : "")))
			rc = PP_ENOMEM;
		if (rc)
			pp_store_oauth_key_clear(out);
	} else {
		rc = rc == SQLITE_DONE ? PP_ENOTFOUND : pp_store_err(rc);
	}
	sqlite3_reset(s);
	return rc;
}
