/* auth/sso: account status — suspending or deprovisioning a user ends every session and revokes
 * every OAuth token family of that user in one transaction, so nothing they hold keeps working. */
#include <string.h>

#include "auth/sso.h"
#include "store/store.h"
#include "store/store_oauth.h"
#include "store/store_sso.h"

int pp_sso_account_set_status(pp_store *st, int64_t user_id, const char *status, int *families)
{
	pp_store_user u;
	bool active, deprov, in_tx = false;
	int rc, fam = 0;

	memset(&u, 0, sizeof u);
	if (families)
		*families = 0;
	if (!st || user_id <= 0 || !status)
		return PP_EINVAL;
	active = !strcmp(status, "active");
	deprov = !strcmp(status, "deprovisioned");
	if (!active && !deprov && strcmp(status, "suspended"))
		return PP_EINVAL;
	if ((rc = pp_store_user_get(st, user_id, &u)) < 0)
		goto out;
	rc = PP_EDENIED;
	if (!strcmp(u.status, "deprovisioned") && !deprov)
		goto out;   /* deprovisioning is final */
	if ((rc = pp_store_begin(st)) < 0)
		goto out;
	in_tx = true;
	if ((rc = pp_store_user_set_status(st, user_id, status)) < 0)
		goto out;
	if (!active) {
		int64_t now = pp_clock_now_ms();
		if ((rc = pp_store_oauth_family_revoke_user(st, user_id, status, now, &fam)) < 0)
			goto out;
		if ((rc = pp_store_session_delete_user(st, user_id)) < 0)
			goto out;
		if (deprov && (rc = pp_store_sso_link_delete_user(st, user_id, NULL)) < 0)
			goto out;
	}
	rc = pp_store_commit(st);
	in_tx = rc < 0;
out:
	if (in_tx)
		pp_store_rollback(st);
	pp_store_user_clear(&u);
	if (rc == 0 && families)
		*families = fam;
	return rc;
}
