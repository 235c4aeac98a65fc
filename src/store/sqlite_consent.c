/* store: the patient's consent choices together with the FHIR Consent resource recording them
 * (migration 12 adds patient_consent.consent_resource_id). No PHI here: flags and row ids. */
#include <string.h>

#include "store/sqlite_internal.h"
#include "store/store_consent.h"

int pp_store_consent_current(pp_store *st, int64_t patient_id, pp_store_consent *out,
                             int64_t *resource_id)
{
	static const char sql[] = "SELECT share_apps, share_sensitive_proxies, updated_ms, "
	                          "updated_by, consent_resource_id FROM patient_consent "
	                          "WHERE patient_id = ?";
	sqlite3_stmt *s;
	int rc;

	if (!st || !out || !resource_id)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	out->share_apps = 1;
	*resource_id = 0;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->share_apps = sqlite3_column_int(s, 0);
		out->share_sensitive_proxies = sqlite3_column_int(s, 1);
		out->updated_ms = sqlite3_column_int64(s, 2);
		out->updated_by = sqlite3_column_int64(s, 3);
		*resource_id = sqlite3_column_int64(s, 4);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : pp_store_err(rc);
}

int pp_store_consent_link(pp_store *st, int64_t patient_id, const pp_store_consent *c,
                          int64_t resource_id)
{
	static const char sql[] =
	    "INSERT INTO patient_consent (patient_id, share_apps, share_sensitive_proxies, "
	    "updated_ms, updated_by, consent_resource_id) VALUES (?,?,?,?,?,?) "
	    "ON CONFLICT (patient_id) DO UPDATE SET share_apps = excluded.share_apps, "
	    "share_sensitive_proxies = excluded.share_sensitive_proxies, "
	    "updated_ms = excluded.updated_ms, updated_by = excluded.updated_by, "
	    "consent_resource_id = excluded.consent_resource_id";
	sqlite3_stmt *s;

	if (!st || !c || patient_id <= 0 || resource_id <= 0)
		return PP_EINVAL;
	if (!(s = pp_store_stmt(st, sql)))
		return PP_EIO;
	sqlite3_bind_int64(s, 1, patient_id);
	sqlite3_bind_int(s, 2, c->share_apps ? 1 : 0);
	sqlite3_bind_int(s, 3, c->share_sensitive_proxies ? 1 : 0);
	sqlite3_bind_int64(s, 4, c->updated_ms);
	sqlite3_bind_int64(s, 5, c->updated_by);
	sqlite3_bind_int64(s, 6, resource_id);
	return pp_store_step_done(st, s, NULL);
}
