/* jobs: `phiportal retention run [--dry-run] [--json]` and `phiportal hold add|release|list`.
 * The command line acts as "system:cli" (role "operator"); every command is audited like the API.
 * Output names opaque ids only (the hold's reason is shown by `hold list`, to the operator). */
#include "jobs/jobs_internal.h"

#include <getopt.h>
#include <string.h>

static const char retention_help[] =
	"usage: phiportal [--data DIR] retention run [--dry-run] [--json]\n\n"
	"Purges what is past its retention (retention.messages_days, retention.attachments_days,\n"
	"retention.documents_days) and not under a legal hold: message rows are deleted (secure\n"
	"delete, WAL truncated), attachment and document files are crypto-shredded (their data key\n"
	"destroyed, the blob deleted). Each purged item is one audit record \"retention.purge\".\n"
	"The audit log is never purged; the report counts its records older than\n"
	"retention.audit_days (removing them needs an archived, verified export).\n"
	"  --dry-run   list what the next run would purge and what a hold keeps back; change nothing\n"
	"  --json      print the report as JSON\n"
	"Exit 0 on success, 1 on failure (an audit record that could not be written stops the run).\n";

static const char hold_help[] =
	"usage: phiportal [--data DIR] hold add (--patient ID | --thread ID) --reason TEXT\n"
	"       phiportal [--data DIR] hold release ID\n"
	"       phiportal [--data DIR] hold list [--all] [--json]\n\n"
	"Legal holds suspend retention purging: on a patient (all their messages, attachments and\n"
	"documents) or on one message thread. IDs are the opaque ids the API shows. Placing and\n"
	"releasing are each one audit record; the reason is stored encrypted.\n";

static void print_items(json_t *list, const char *label)
{
	size_t i;
	json_t *it;

	json_array_foreach(list, i, it) {
		const char *hold = json_string_value(json_object_get(it, "hold_id"));
		printf("  %-5s %-10s %s  age %lld days  patient %s%s%s\n", label,
		       json_string_value(json_object_get(it, "kind")),
		       json_string_value(json_object_get(it, "id")),
		       (long long)json_integer_value(json_object_get(it, "age_days")),
		       json_string_value(json_object_get(it, "patient_id")), hold ? "  hold " : "",
		       hold ? hold : "");
	}
}

static void print_counts(json_t *c)
{
	printf("%lld message(s), %lld thread(s), %lld attachment(s), %lld document(s), %lld draft(s)",
	       (long long)json_integer_value(json_object_get(c, "message")),
	       (long long)json_integer_value(json_object_get(c, "thread")),
	       (long long)json_integer_value(json_object_get(c, "attachment")),
	       (long long)json_integer_value(json_object_get(c, "document")),
	       (long long)json_integer_value(json_object_get(c, "draft")));
}

static void print_report(json_t *rep)
{
	bool dry = json_is_true(json_object_get(rep, "dry_run"));
	json_t *counts = json_object_get(rep, "counts"), *audit = json_object_get(rep, "audit");
	long long old = (long long)json_integer_value(json_object_get(audit, "older_than_retention"));

	printf("retention %s at %s\n", dry ? "dry run" : "run",
	       json_string_value(json_object_get(rep, "at")));
	printf("%s: ", dry ? "would purge" : "purged");
	print_counts(json_object_get(counts, "purge"));
	printf("\nheld back by a legal hold: ");
	print_counts(json_object_get(counts, "held"));
	printf("\n");
	print_items(json_object_get(rep, "purge"), "purge");
	print_items(json_object_get(rep, "held"), "held");
	if (json_is_true(json_object_get(rep, "truncated")))
		printf("  (lists truncated; counts are complete)\n");
	if (json_is_true(json_object_get(rep, "files_skipped")))
		printf("attachments and documents skipped: the file store is not available\n");
	if (old >= 0)
		printf("audit log: %lld record(s) older than %lld days (kept; the audit log is never purged "
		       "by this job)\n", old,
		       (long long)json_integer_value(json_object_get(audit, "retention_days")));
	if (!dry && !json_is_true(json_object_get(rep, "wal_truncated")))
		printf("warning: the WAL could not be truncated now; it will be at the next checkpoint\n");
}

static int retention_cli(pp_app *app, pp_files *files, int argc, char **argv)
{
	static const struct option opts[] = {{"dry-run", no_argument, 0, 'd'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	pp_jobs_retention_opts o = {.actor = "system:cli", .actor_role = "operator"};
	bool as_json = false;
	json_t *rep = NULL;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'd') o.dry_run = true;
		else if (opt == 'j') as_json = true;
		else if (opt == 'h') { fputs(retention_help, stdout); return 0; }
		else { fputs(retention_help, stderr); return 2; }
	}
	if (optind != argc) {
		fputs(retention_help, stderr);
		return 2;
	}
	if (as_json)
		o.list_max = 1000000;
	rc = pp_jobs_retention_run(app, files, &o, &rep);
	if (rc == PP_EAUDIT) {
		/* fail closed: not recorded, not shown */
		fprintf(stderr, "phiportal: retention: the audit record could not be written; %s\n",
		        o.dry_run ? "nothing reported" : "the run stopped (the item in progress was kept)");
		json_decref(rep);
		return 1;
	}
	if (rep && as_json) {
		json_dumpf(rep, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (rep) {
		print_report(rep);
	}
	if (rc)
		fprintf(stderr, "phiportal: retention %s failed: %s\n", o.dry_run ? "dry run" : "run",
		        pp_strerror(rc));
	json_decref(rep);
	return rc ? 1 : 0;
}

static int hold_add(pp_app *app, int argc, char **argv)
{
	static const struct option opts[] = {{"patient", required_argument, 0, 'p'},
	                                     {"thread", required_argument, 0, 't'},
	                                     {"reason", required_argument, 0, 'r'},
	                                     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *patient = NULL, *thread = NULL, *reason = NULL, *why = NULL;
	pp_principal p;
	char id[33];
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'p') patient = optarg;
		else if (opt == 't') thread = optarg;
		else if (opt == 'r') reason = optarg;
		else if (opt == 'h') { fputs(hold_help, stdout); return 0; }
		else { fputs(hold_help, stderr); return 2; }
	}
	if (optind != argc || !patient == !thread || !reason) {
		fputs(hold_help, stderr);
		return 2;
	}
	pp_jobs_cli_principal(&p);
	rc = pp_jobs_hold_place(app, &p, patient ? "patient" : "thread", patient ? patient : thread,
	                        reason, id, &why);
	if (rc == PP_EAUDIT) {
		fprintf(stderr, "phiportal: hold: the audit record could not be written; no hold placed\n");
		return 1;
	}
	if (why) {
		fprintf(stderr, "phiportal: hold: %s\n",
		        !strcmp(why, "not_found") ? "no such patient or thread" : why);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "phiportal: hold: %s\n", pp_strerror(rc));
		return 1;
	}
	printf("%s\n", id);
	return 0;
}

static int hold_release(pp_app *app, int argc, char **argv)
{
	pp_principal p;
	int rc;

	if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(hold_help, argc == 2 ? stdout : stderr);
		return argc == 2 ? 0 : 2;
	}
	pp_jobs_cli_principal(&p);
	rc = pp_jobs_hold_release(app, &p, argv[1]);
	if (rc == PP_ENOTFOUND) {
		fprintf(stderr, "phiportal: hold: no active hold with that id\n");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "phiportal: hold: %s\n", rc == PP_EAUDIT ?
		        "the audit record could not be written; the hold stays" : pp_strerror(rc));
		return 1;
	}
	printf("released %s\n", argv[1]);
	return 0;
}

static int hold_list(pp_app *app, int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, 0, 'a'},
	                                     {"json", no_argument, 0, 'j'},
	                                     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	bool all = false, as_json = false;
	json_t *holds = NULL, *h;
	pp_principal p;
	char detail[48];
	size_t i;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'a') all = true;
		else if (opt == 'j') as_json = true;
		else if (opt == 'h') { fputs(hold_help, stdout); return 0; }
		else { fputs(hold_help, stderr); return 2; }
	}
	if (optind != argc) {
		fputs(hold_help, stderr);
		return 2;
	}
	if ((rc = pp_jobs_holds_json(app, all, &holds))) {
		fprintf(stderr, "phiportal: hold list: %s\n", pp_strerror(rc));
		return 1;
	}
	pp_jobs_cli_principal(&p);
	snprintf(detail, sizeof detail, "holds:%zu%s", json_array_size(holds), all ? " all" : "");
	{
		pp_audit_event ev = {.actor = p.actor, .actor_role = p.role, .action = "retention.read",
		                     .resource_type = "LegalHold", .outcome = "success",
		                     .purpose = "legal", .detail = detail};
		if (pp_audit_record(app->audit, &ev)) {
			fprintf(stderr, "phiportal: hold list: the audit record could not be written\n");
			json_decref(holds);
			return 1;
		}
	}
	if (as_json) {
		json_dumpf(holds, stdout, JSON_INDENT(2));
		printf("\n");
	} else {
		if (!json_array_size(holds))
			printf("no %slegal holds\n", all ? "" : "active ");
		json_array_foreach(holds, i, h) {
			const char *rel = json_string_value(json_object_get(h, "released_at"));
			printf("%s  %-7s %s  placed %s by %s%s%s\n    reason: %s\n",
			       json_string_value(json_object_get(h, "id")),
			       json_string_value(json_object_get(h, "scope")),
			       json_string_value(json_object_get(h, "target")),
			       json_string_value(json_object_get(h, "placed_at")),
			       json_string_value(json_object_get(h, "placed_by")),
			       rel ? "  released " : "", rel ? rel : "",
			       json_string_value(json_object_get(h, "reason")) ?
			           json_string_value(json_object_get(h, "reason")) : "(cannot be opened)");
		}
	}
	json_decref(holds);
	return 0;
}

int pp_jobs_cli(pp_app *app, pp_files *files, int argc, char **argv)
{
	bool hold = argc > 0 && !strcmp(argv[0], "hold");
	const char *help = hold ? hold_help : retention_help;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!app) {
		fputs(help, stderr);
		return 2;
	}
	if (!hold && !strcmp(argv[1], "run"))
		return retention_cli(app, files, argc - 1, argv + 1);
	if (hold && !strcmp(argv[1], "add"))
		return hold_add(app, argc - 1, argv + 1);
	if (hold && !strcmp(argv[1], "release"))
		return hold_release(app, argc - 1, argv + 1);
	if (hold && !strcmp(argv[1], "list"))
		return hold_list(app, argc - 1, argv + 1);
	fputs(help, stderr);
	return 2;
}
