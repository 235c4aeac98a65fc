/* Private to jobs/: what its files share. The JSON handlers use portal/'s session, CSRF, body and
 * audit helpers (portal_internal.h), so every endpoint authenticates the same way. */
#ifndef PP_JOBS_INTERNAL_H
#define PP_JOBS_INTERNAL_H

#include "portal/portal_internal.h"
#include "files/files.h"
#include "jobs/jobs.h"
#include "store/store_retention.h"

/* an opaque id as handed out: 1..64 of [0-9a-f] */
bool pp_jobs_id_valid(const char *id);
/* the principal the command line acts as ("system:cli", role "operator") */
void pp_jobs_cli_principal(pp_principal *p);

#endif
