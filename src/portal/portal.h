/*
 * portal — the patient-facing JSON API and its wiring: sign-in, MFA, sessions, the health summary.
 * Each handler that touches PHI follows DESIGN.md's path: authenticate the session into a principal,
 * pp_policy_check, read and decrypt, one pp_audit_record (fail closed), respond with no-store.
 */
#ifndef PP_PORTAL_H
#define PP_PORTAL_H

#include "core/core.h"

struct pp_http_server;

/* registers every route of the portal on the server */
int pp_portal_routes(struct pp_http_server *s, pp_app *app);

struct pp_store;
struct pp_auth;
struct pp_audit;
/* `phiportal pool ...` and `phiportal careteam ...` (argv[0] is "pool" or "careteam"): returns the
 * process exit code */
int pp_portal_cli_access(struct pp_store *st, struct pp_auth *auth, struct pp_audit *au, int argc,
                         char **argv);
struct pp_crypto;
/* `phiportal user link-practitioner|unlink-practitioner ...` (argv[0] is the verb): links a staff
 * account to the Practitioner it is, for policy/'s encounter relationship; the exit code */
int pp_portal_cli_practitioner(struct pp_store *st, struct pp_crypto *c, struct pp_auth *auth,
                               struct pp_audit *au, int argc, char **argv);

#endif
