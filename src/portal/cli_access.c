/* portal: the operator's commands for who reaches what — care-team pools (message pools), their
 * members, care-team relationships, and the link between a staff account and the Practitioner it is
 * (the encounter relationship). Each change is one audit record (no PHI: pool names are team
 * names; patients appear as their opaque ids only in the audit's patient field; a practitioner's
 * id or NPI is not written to the audit log, only that a link was made). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "crypto/crypto.h"
#include "fhir/fhir.h"
#include "policy/policy.h"
#include "portal/portal.h"
#include "store/store.h"
#include "store/store_access.h"
#include "store/store_encounter.h"

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

/* ---- user link-practitioner | unlink-practitioner ---- */
static const char practitioner_usage[] =
	"usage: phiportal [--data DIR] user link-practitioner --username U (--practitioner ID | --npi N)\n"
	"       phiportal [--data DIR] user unlink-practitioner --username U\n"
	"\n"
	"Links a clinician's or nurse's account to the Practitioner they are, by the FHIR logical id of\n"
	"an imported Practitioner or by NPI. While an encounter of a patient that this practitioner\n"
	"took part in is ongoing, and for policy.encounter_window_days after it ended, the account\n"
	"reads that patient's record (read only; front desk and billing the demographics). A new link\n"
	"replaces the old one; unlink-practitioner removes it.\n";

int pp_portal_cli_practitioner(pp_store *st, pp_crypto *c, pp_auth *auth, pp_audit *au, int argc,
                               char **argv)
{
	static const struct option opts[] = {
		{"username", required_argument, 0, 'u'}, {"practitioner", required_argument, 0, 'p'},
		{"npi", required_argument, 0, 'n'},      {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *username = NULL, *prac = NULL, *npi = NULL;
	bool link = argc > 0 && !strcmp(argv[0], "link-practitioner");
	uint8_t keys[PP_FHIR_ENCOUNTER_MAX_KEYS][32];
	char detail[48];
	pp_store_user u;
	int64_t uid = 0;
	int opt, n = 0, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'u') username = optarg;
		else if (opt == 'p' && link) prac = optarg;
		else if (opt == 'n' && link) npi = optarg;
		else if (opt == 'h') {
			fputs(practitioner_usage, stdout);
			return 0;
		} else goto usage;
	}
	if (!username || optind < argc || (link && !prac == !npi))
		goto usage;
	if (!st || !c || !auth || !au)
		return 1;
	if ((rc = find_user(auth, username, &uid)))
		return 1;
	memset(&u, 0, sizeof u);
	if ((rc = pp_store_user_get(st, uid, &u)))
		return 1;
	rc = pp_policy_permits(u.role, "record.demographics") ? 0 : PP_EDENIED;
	pp_store_user_clear(&u);
	if (rc && link) {
		fprintf(stderr, "phiportal: only clinical, front desk and billing staff are linked to a "
		        "Practitioner\n");
		return 1;
	}
	snprintf(detail, sizeof detail, "user:%lld", (long long)uid);
	if (!link) {
		int linked = 0;
		if ((rc = pp_store_practitioner_linked(st, uid, &linked)))
			return 1;
		if (!linked) {
			fprintf(stderr, "phiportal: that account is not linked to a Practitioner\n");
			return 1;
		}
		if ((rc = audit(au, "user.unlink-practitioner", NULL, detail)))
			return 1;
		rc = pp_store_practitioner_unlink(st, uid);
		if (rc == PP_ENOTFOUND)
			fprintf(stderr, "phiportal: that account is not linked to a Practitioner\n");
		else if (!rc)
			printf("unlinked user %lld from its Practitioner\n", (long long)uid);
		return rc ? 1 : 0;
	}
	rc = pp_fhir_practitioner_keys(st, c, prac, npi, keys, PP_FHIR_ENCOUNTER_MAX_KEYS, &n);
	if (rc == PP_ENOTFOUND)
		fprintf(stderr, "phiportal: no Practitioner with that id has been imported\n");
	else if (rc == PP_EINVAL)
		fprintf(stderr, "phiportal: a Practitioner id is 1-64 of [A-Za-z0-9.-]; an NPI is digits\n");
	if (rc)
		goto out;
	/* audit first: if the record cannot be made durable, nothing changes */
	if ((rc = audit(au, "user.link-practitioner", NULL, detail)))
		goto out;
	rc = pp_store_practitioner_link_set(st, uid, (const uint8_t(*)[32])keys, n, pp_clock_now_ms());
	if (!rc)
		printf("linked user %lld to the Practitioner (%d name%s)\n", (long long)uid, n,
		       n == 1 ? "" : "s");
out:
	pp_wipe(keys, sizeof keys);
	return rc ? 1 : 0;
usage:
	fputs(practitioner_usage, stderr);
	return EXIT_USAGE;
}
