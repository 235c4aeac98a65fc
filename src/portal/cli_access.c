/* portal: the operator's commands for who reaches what — care-team pools (message pools), their
 * members and care-team relationships. Each change is one audit record (no PHI: pool names are
 * team names; patients appear as their opaque ids only in the audit's patient field). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "policy/policy.h"
#include "portal/portal.h"
#include "store/store.h"
#include "store/store_access.h"

#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: phiportal [--data DIR] pool add --name NAME [--kind clinical|billing|front-desk]\n"
	"                                        [--turnaround TEXT]\n"
	"       phiportal [--data DIR] pool list\n"
	"       phiportal [--data DIR] pool member add|remove --pool NAME --username U\n"
	"       phiportal [--data DIR] careteam add|end --username U --patient ID\n"
	"\n"
	"Pools are care-team message pools (\"Dr. Reyes' team\", \"Billing\"): their members see and\n"
	"answer the pool's threads. A care-team relationship lets a clinician or nurse read a\n"
	"patient's record (ID is the record's opaque id); `end` closes it now.\n";

typedef struct args {
	const char *name, *kind, *turnaround, *pool, *username, *patient;
} args;

static int parse(int argc, char **argv, args *a)
{
	static const struct option opts[] = {
		{"name", required_argument, 0, 'n'},     {"kind", required_argument, 0, 'k'},
		{"turnaround", required_argument, 0, 't'}, {"pool", required_argument, 0, 'p'},
		{"username", required_argument, 0, 'u'}, {"patient", required_argument, 0, 'P'},
		{0, 0, 0, 0}};
	int opt;

	memset(a, 0, sizeof *a);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': a->name = optarg; break;
		case 'k': a->kind = optarg; break;
		case 't': a->turnaround = optarg; break;
		case 'p': a->pool = optarg; break;
		case 'u': a->username = optarg; break;
		case 'P': a->patient = optarg; break;
		default: return PP_EINVAL;
		}
	}
	return optind == argc ? 0 : PP_EINVAL;
}

static int audit(pp_audit *au, const char *action, const char *patient, const char *detail)
{
	pp_audit_event ev = {.actor = "system:cli", .actor_role = "operator", .action = action,
	                     .outcome = "success", .patient = patient, .detail = detail,
	                     .purpose = "operations"};
	int rc = pp_audit_record(au, &ev);

	if (rc)
		fprintf(stderr, "phiportal: the audit record could not be written; nothing done\n");
	return rc;
}

static int print_pool(void *ctx, const pp_store_pool *p)
{
	(void)ctx;
	printf("%-32s %-11s %s\n", p->name, p->kind, p->turnaround);
	return 0;
}

static int pool_add(pp_store *st, pp_audit *au, const args *a)
{
	pp_store_pool p = {.created_ms = pp_clock_now_ms()};
	int64_t id = 0;
	int rc;

	if (!a->name || !a->name[0] || strlen(a->name) >= sizeof p.name)
		return PP_EINVAL;
	if (a->kind && strcmp(a->kind, "clinical") && strcmp(a->kind, "billing") &&
	    strcmp(a->kind, "front-desk"))
		return PP_EINVAL;
	snprintf(p.name, sizeof p.name, "%s", a->name);
	snprintf(p.kind, sizeof p.kind, "%s", a->kind ? a->kind : "clinical");
	snprintf(p.turnaround, sizeof p.turnaround, "%s", a->turnaround ? a->turnaround : "");
	{
		pp_store_pool old;
		if (pp_store_pool_find(st, p.name, &old) == PP_OK) {
			fprintf(stderr, "phiportal: a pool with that name exists already\n");
			return PP_EEXISTS;
		}
	}
	/* audit first: if the record cannot be made durable, nothing changes */
	if ((rc = audit(au, "pool.add", NULL, p.kind)))
		return rc;
	rc = pp_store_pool_insert(st, &p, &id);
	if (rc == PP_EEXISTS)
		fprintf(stderr, "phiportal: a pool with that name exists already\n");
	else if (!rc)
		printf("created pool %lld\n", (long long)id);
	return rc;
}

static int find_user(pp_auth *auth, const char *username, int64_t *uid)
{
	int rc = username ? pp_auth_user_find(auth, username, uid) : PP_EINVAL;

	if (rc == PP_ENOTFOUND)
		fprintf(stderr, "phiportal: no such user\n");
	return rc;
}

static int pool_member(pp_store *st, pp_auth *auth, pp_audit *au, bool add, const args *a)
{
	pp_store_pool p;
	int64_t uid = 0;
	char detail[64];
	int rc;

	if (!a->pool || !a->username)
		return PP_EINVAL;
	if ((rc = pp_store_pool_find(st, a->pool, &p))) {
		if (rc == PP_ENOTFOUND)
			fprintf(stderr, "phiportal: no such pool\n");
		return rc;
	}
	if ((rc = find_user(auth, a->username, &uid)))
		return rc;
	snprintf(detail, sizeof detail, "pool:%lld user:%lld", (long long)p.id, (long long)uid);
	if ((rc = audit(au, add ? "pool.member.add" : "pool.member.remove", NULL, detail)))
		return rc;
	return add ? pp_store_pool_member_add(st, p.id, uid)
	           : pp_store_pool_member_remove(st, p.id, uid);
}

static int careteam(pp_store *st, pp_auth *auth, pp_audit *au, bool add, const args *a)
{
	pp_store_resource res;
	pp_store_user u;
	int64_t uid = 0, now = pp_clock_now_ms();
	char detail[48];
	int rc;

	if (!a->username || !a->patient)
		return PP_EINVAL;
	if ((rc = find_user(auth, a->username, &uid)))
		return rc;
	memset(&u, 0, sizeof u);
	if ((rc = pp_store_user_get(st, uid, &u)))
		return rc;
	rc = pp_policy_role_clinical(u.role) ? 0 : PP_EDENIED;
	pp_store_user_clear(&u);
	if (rc) {
		fprintf(stderr, "phiportal: only a clinician or nurse can be on a care team\n");
		return rc;
	}
	memset(&res, 0, sizeof res);
	rc = pp_store_resource_get_pub(st, "Patient", a->patient, &res);
	pp_store_resource_clear(&res);
	if (rc) {
		fprintf(stderr, "phiportal: no patient with that id\n");
		return rc;
	}
	snprintf(detail, sizeof detail, "user:%lld", (long long)uid);
	if ((rc = audit(au, add ? "careteam.add" : "careteam.end", a->patient, detail)))
		return rc;
	rc = add ? pp_store_care_team_add(st, uid, res.id, now, 0)
	         : pp_store_care_team_end(st, uid, res.id, now);
	if (rc == PP_ENOTFOUND)
		fprintf(stderr, "phiportal: that user is not on the patient's care team\n");
	return rc;
}

int pp_portal_cli_access(pp_store *st, pp_auth *auth, pp_audit *au, int argc, char **argv)
{
	const char *what = argc > 0 ? argv[0] : "";
	const char *verb = argc > 1 ? argv[1] : "";
	int shift = 2, rc;
	args a;

	if (argc < 2 || !strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (!strcmp(what, "pool") && !strcmp(verb, "member"))
		shift = 3;
	verb = argc > shift - 1 ? argv[shift - 1] : "";
	if (parse(argc - shift + 1, argv + shift - 1, &a))
		goto usage;
	if (!strcmp(what, "pool") && shift == 2 && !strcmp(verb, "add"))
		rc = pool_add(st, au, &a);
	else if (!strcmp(what, "pool") && shift == 2 && !strcmp(verb, "list"))
		rc = pp_store_pool_each(st, 0, print_pool, NULL);
	else if (!strcmp(what, "pool") && shift == 3 && (!strcmp(verb, "add") || !strcmp(verb, "remove")))
		rc = pool_member(st, auth, au, !strcmp(verb, "add"), &a);
	else if (!strcmp(what, "careteam") && (!strcmp(verb, "add") || !strcmp(verb, "end")))
		rc = careteam(st, auth, au, !strcmp(verb, "add"), &a);
	else
		goto usage;
	if (rc == PP_EINVAL)
		goto usage;
	return rc ? 1 : 0;
usage:
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
