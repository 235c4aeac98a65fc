/* phiportal — the command line: init, serve, import, user, audit, compliance, config, version.
 * Global option --data DIR (default $PHIPORTAL_DATA, else ./data) may appear anywhere. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "core/core.h"
#include "store/store.h"
#include "store/store_access.h"
#include "crypto/crypto.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "fhir/fhir.h"
#include "http/http.h"
#include "portal/portal.h"
#include "oauth/oauth.h"
#include "notify/notify.h"
#include "files/files.h"
#include "msg/msg.h"
#include "jobs/jobs.h"
#include "policy/policy.h"
#include "auth/sso.h"

#define PP_VERSION "0.1.0"
#define CONFIG_NAME "phiportal.conf"
#define EXIT_USAGE 2

static const char *const usage_text =
	"usage: phiportal [--data DIR] COMMAND [options]\n"
	"\n"
	"A patient portal server that enforces the HIPAA Security Rule's safeguards in code.\n"
	"\n"
	"Commands:\n"
	"  init [--demo] [--json]      create the data directory: config, key file, TLS certificate,\n"
	"                              databases; --demo also loads synthetic patients and demo accounts\n"
	"  serve [--bind ADDR] [--port N]\n"
	"                              run the HTTPS server\n"
	"  import FILE...              load FHIR R4 resources (NDJSON or Bundle JSON)\n"
	"  user add --username U --role ROLE [--patient ID] [--password-stdin]\n"
	"                              create an account (password generated unless given on stdin)\n"
	"  user link-practitioner --username U (--practitioner ID | --npi N) | unlink-practitioner\n"
	"                              link a staff account to its FHIR Practitioner (encounters)\n"
	"  user link-sso --username U --value V\n"
	"                              link a staff account to its identity at the SSO provider\n"
	"  user suspend|activate|deprovision --username U\n"
	"                              suspend, re-activate or deprovision an account (ends all of\n"
	"                              its sessions and app tokens at once)\n"
	"  user contact --username U [--email E] [--phone P]\n"
	"                              set an account's notification contact (stored encrypted)\n"
	"  notify check|test|run|status\n"
	"                              PHI-free e-mail/SMS notices: check the templates, queue a test\n"
	"                              notice, deliver what is due, count the outbox\n"
	"  files rescan                scan quarantined uploads again (clean ones become downloadable)\n"
	"  retention run [--dry-run] [--json]\n"
	"                              purge what is past its retention and not under a legal hold\n"
	"  hold add|release|list       legal holds on a patient or a message thread\n"
	"  pool add|list|member        care-team message pools and their staff members\n"
	"  careteam add|end            care-team relationships between staff and patients\n"
	"  client add|list|suspend|activate\n"
	"                              register and govern OAuth/SMART apps and integrations\n"
	"  audit verify                check the audit log's hash chain and signed checkpoints\n"
	"  compliance check            check the configuration and files against the HIPAA baseline\n"
	"  routes                      list every route the server answers (method, pattern, kind)\n"
	"  config docs                 print the configuration reference (docs/config.md)\n"
	"  roles docs                  print the roles and permissions table (docs/roles.md)\n"
	"  version                     print the version\n"
	"\n"
	"Global options:\n"
	"  --data DIR                  data directory (default: $PHIPORTAL_DATA, else ./data)\n"
	"  -h, --help                  this help; `phiportal COMMAND --help` for one command\n";

static int usage(FILE *f, int code)
{
	fputs(usage_text, f);
	return code;
}

static const char *data_dir_from_env(void)
{
	const char *e = getenv("PHIPORTAL_DATA");
	return e && *e ? e : "./data";
}

/* ---- shared set-up ---- */
typedef struct ctx {
	pp_config cfg;
	pp_store *store;
	pp_crypto *crypto;
	pp_audit *audit;
	pp_auth *auth;
} ctx;

static int load_config(ctx *c, const char *data_dir, bool required)
{
	char path[1024], err[512] = "";
	int rc;

	pp_config_defaults(&c->cfg, data_dir);
	pp_config_path(&c->cfg, CONFIG_NAME, path, sizeof path);
	rc = pp_config_load(&c->cfg, path, err, sizeof err);
	if (rc == PP_ENOTFOUND && !required)
		return PP_OK;
	if (rc == PP_ENOTFOUND) {
		fprintf(stderr, "phiportal: no %s in %s (run `phiportal init` first)\n", CONFIG_NAME,
		        data_dir);
		return rc;
	}
	if (rc) {
		fprintf(stderr, "phiportal: config: %s\n", err);
		return rc;
	}
	if (!strcmp(c->cfg.log_level, "debug")) pp_log_set_level(PP_LOG_DEBUG);
	else if (!strcmp(c->cfg.log_level, "warn")) pp_log_set_level(PP_LOG_WARN);
	else if (!strcmp(c->cfg.log_level, "error")) pp_log_set_level(PP_LOG_ERROR);
	return PP_OK;
}

static int open_store_crypto(ctx *c)
{
	char db[1024], key[1024];
	int rc;

	pp_config_path(&c->cfg, c->cfg.store_path, db, sizeof db);
	pp_config_path(&c->cfg, c->cfg.crypto_key_file, key, sizeof key);
	rc = pp_crypto_keyfile_check(key);
	if (rc == PP_ECONFIG) {
		fprintf(stderr, "phiportal: crypto.key_file %s must be a regular file readable only by "
		        "its owner (chmod 600)\n", key);
		return rc;
	}
	if (rc) {
		fprintf(stderr, "phiportal: key file %s: %s\n", key, pp_strerror(rc));
		return rc;
	}
	if ((rc = pp_store_open(&c->store, db))) {
		fprintf(stderr, "phiportal: cannot open the database: %s\n", pp_strerror(rc));
		return rc;
	}
	if ((rc = pp_crypto_open(&c->crypto, key, c->store))) {
		fprintf(stderr, "phiportal: cannot load keys: %s\n", pp_strerror(rc));
		return rc;
	}
	return PP_OK;
}

static int open_audit(ctx *c)
{
	char path[1024];
	pp_audit_options o = {0};
	int rc;

	pp_config_path(&c->cfg, c->cfg.audit_path, path, sizeof path);
	o.path = path;
	o.checkpoint_every = c->cfg.audit_checkpoint_every;
	o.checkpoint_seconds = c->cfg.audit_checkpoint_seconds;
	o.group_commit = c->cfg.audit_group_commit;
	o.busy_timeout_ms = 2000;
	rc = pp_audit_open(&c->audit, &o, c->crypto);
	if (rc)
		fprintf(stderr, "phiportal: cannot open the audit store: %s\n", pp_strerror(rc));
	return rc;
}

static void ctx_close(ctx *c)
{
	pp_auth_close(c->auth);
	pp_audit_close(c->audit);
	pp_crypto_free(c->crypto);
	pp_store_close(c->store);
	memset(c, 0, sizeof *c);
}

static int audit_cli(ctx *c, const char *action, const char *outcome, const char *detail)
{
	pp_audit_event ev = {.actor = "system:cli", .actor_role = "operator", .action = action,
	                     .outcome = outcome, .detail = detail, .purpose = "operations"};
	int rc = pp_audit_record(c->audit, &ev);

	if (rc)
		fprintf(stderr, "phiportal: the audit record could not be written: %s\n", pp_strerror(rc));
	return rc;
}

/* ---- init ---- */
static void gen_password(char out[24])
{
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679";
	uint8_t rnd[20];

	pp_random(rnd, sizeof rnd);
	for (int i = 0, o = 0; i < 20; i++) {
		if (i && i % 5 == 0)
			out[o++] = '-';
		out[o++] = alphabet[rnd[i] % (sizeof alphabet - 1)];
		out[o] = '\0';
	}
	pp_wipe(rnd, sizeof rnd);
}

static int demo_dir(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n;
	const char *e = getenv("PHIPORTAL_DEMO_DIR");

	if (e && *e) {
		snprintf(out, cap, "%s", e);
		return PP_OK;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return PP_EIO;
	exe[n] = '\0';
	if (snprintf(out, cap, "%s/../demo/synthea-10", dirname(exe)) >= (int)cap)
		return PP_ETOOBIG;
	return PP_OK;
}

/* The demo patients in a stable order: row ids are random, so they are sorted by their FHIR
 * logical id from the export, which makes every `init --demo` give each demo account the same
 * record and each patient the same generated history (the seed is the position). */
typedef struct demo_patient {
	int64_t id;
	char pub[40];
	char lid[72];          /* the export's logical id */
	char birth[11];        /* "YYYY-MM-DD" or "" */
	int alive;
} demo_patient;

typedef struct demo_patients {
	demo_patient p[64];
	int n;
	pp_crypto *crypto;
} demo_patients;

static int collect_patient(void *vctx, const pp_store_resource *r)
{
	demo_patients *d = vctx;
	json_t *res = NULL;

	if (d->n >= 64)
		return 1;
	if (pp_fhir_resource_load(d->crypto, r, &res) == PP_OK) {
		const char *lid = json_string_value(json_object_get(res, "id"));
		const char *birth = json_string_value(json_object_get(res, "birthDate"));
		demo_patient *e = &d->p[d->n++];
		e->id = r->id;
		snprintf(e->pub, sizeof e->pub, "%s", r->pub_id);
		snprintf(e->lid, sizeof e->lid, "%s", lid ? lid : "");
		snprintf(e->birth, sizeof e->birth, "%s", birth ? birth : "");
		e->alive = json_object_get(res, "deceasedDateTime") == NULL;
	}
	json_decref(res);
	return 0;
}

static int demo_patient_cmp(const void *a, const void *b)
{
	return strcmp(((const demo_patient *)a)->lid, ((const demo_patient *)b)->lid);
}

/* a demo patient account goes to a living adult born in 1970-1999 (fixed dates, so the choice does
 * not change as the years pass; README's demo section names the three records) */
static bool demo_account_candidate(const demo_patient *e)
{
	return e->alive && strlen(e->birth) == 10 && strcmp(e->birth, "1970-01-01") >= 0 &&
	       strcmp(e->birth, "2000-01-01") < 0;
}

static void import_error(void *vctx, const char *file, long line, const char *reason)
{
	(void)vctx;
	fprintf(stderr, "%s:%ld: skipped: %s\n", file, line, reason);
}

static void print_stats(const pp_fhir_import_stats *st)
{
	long total = 0, unchanged = 0;

	for (int i = 0; i < st->ntypes; i++) {
		printf("  %-20s %6ld imported  %6ld unchanged\n", st->types[i], st->counts[i],
		       st->unchanged[i]);
		total += st->counts[i];
		unchanged += st->unchanged[i];
	}
	printf("  %-20s %6ld imported  %6ld unchanged  %ld skipped\n", "total", total, unchanged,
	       st->errors);
}

/* notify: demo accounts get an example.org e-mail contact (e-mail notices on; nothing is sent
 * until notify.smtp_url is set) */
static int demo_contact(ctx *c, const char *user, int64_t uid)
{
	pp_notify_contact ct = {.email_enabled = true};

	snprintf(ct.email, sizeof ct.email, "%s@example.org", user);
	return pp_notify_contact_set(c->store, c->crypto, uid, &ct);
}

static int load_demo(ctx *c, bool as_json)
{
	char dir[PATH_MAX], paths[16][PATH_MAX + 64];
	const char *ptrs[16];
	static const char *const types[] = {"Patient", "Organization", "Location", "Practitioner",
		"PractitionerRole", "Encounter", "Condition", "AllergyIntolerance", "Immunization",
		"MedicationRequest", "Procedure", "DocumentReference", "Device"};
	int n = 0, rc, accounts = 0;
	pp_fhir_import_stats stats;
	pp_fhir_import_opts opt = {.max_line_bytes = 8 << 20, .max_json_depth = 64,
	                           .on_error = import_error};
	demo_patients d;
	json_t *out = json_object(), *list = json_array();
	char detail[64];
	long obs_total = 0;

	if ((rc = demo_dir(dir, sizeof dir)))
		goto out;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		snprintf(paths[n], sizeof paths[0], "%s/%s.000.ndjson", dir, types[i]);
		ptrs[n] = paths[n];
		n++;
	}
	memset(&stats, 0, sizeof stats);
	rc = pp_fhir_import_files(c->store, c->crypto, ptrs, n, &opt, &stats);
	if (rc) {
		fprintf(stderr, "phiportal: demo import from %s failed: %s\n", dir, pp_strerror(rc));
		goto out;
	}
	if (!as_json) {
		printf("Imported the synthetic demo patients (Synthea, demo/synthea-10):\n");
		print_stats(&stats);
	}
	memset(&d, 0, sizeof d);
	d.crypto = c->crypto;
	pp_store_resource_each_of_type(c->store, "Patient", collect_patient, &d);
	qsort(d.p, (size_t)d.n, sizeof d.p[0], demo_patient_cmp);
	for (int i = 0; i < d.n; i++) {
		long g = 0;
		if ((rc = pp_fhir_demo_observations(c->store, c->crypto, d.p[i].id, (uint32_t)(i + 1), &g)))
			goto out;
		obs_total += g;
	}
	if (!as_json)
		printf("Generated %ld lab and vital-sign Observations for %d patients.\n", obs_total, d.n);
	snprintf(detail, sizeof detail, "demo-import:%d-patients", d.n);
	if ((rc = audit_cli(c, "import", "success", detail)))
		goto out;

	/* accounts: three living patients, a clinician and an administrator */
	if (!as_json)
		printf("\nDemo accounts (passwords are shown only now; MFA enrolment happens at first "
		       "sign-in):\n");
	int64_t account_patients[3] = {0, 0, 0};
	for (int i = 0; i < d.n && accounts < 3; i++) {
		char user[32], pw[24];
		int64_t uid;
		if (!demo_account_candidate(&d.p[i]))
			continue;
		account_patients[accounts] = d.p[i].id;
		snprintf(user, sizeof user, "demo.patient%d", ++accounts);
		gen_password(pw);
		if ((rc = pp_auth_user_add(c->auth, user, pw, "patient", d.p[i].id, &uid)) ||
		    (rc = demo_contact(c, user, uid)))
			goto out;
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "username", user,
		                      "password", pw, "role", "patient", "patient_id", d.p[i].pub));
		if (!as_json)
			printf("  patient    %-18s %s\n", user, pw);
	}
	/* staff: a clinician and a nurse in "Dr. Reyes' team" (the clinician on the care team of the
	 * first two demo patients; the third has no relationship with anyone), billing staff in the
	 * "Billing" pool, a privacy officer and an administrator */
	static const char *const staff[][3] = {
		{"demo.clinician", "clinician", "Dr. Reyes' team"}, {"demo.nurse", "nurse", "Dr. Reyes' team"},
		{"demo.billing", "billing", "Billing"}, {"demo.frontdesk", "front_desk", ""},
		{"demo.privacy", "privacy_officer", ""},
		{"demo.admin", "admin", ""}};
	static const char *const pools[][3] = {
		{"Dr. Reyes' team", "clinical", "We usually reply within 2 business days."},
		{"Billing", "billing", "We usually reply within 3 business days."}};
	int64_t pool_ids[2] = {0, 0};
	for (size_t i = 0; i < 2; i++) {
		pp_store_pool p = {.created_ms = pp_clock_now_ms()};
		snprintf(p.name, sizeof p.name, "%s", pools[i][0]);
		snprintf(p.kind, sizeof p.kind, "%s", pools[i][1]);
		snprintf(p.turnaround, sizeof p.turnaround, "%s", pools[i][2]);
		if ((rc = pp_store_pool_insert(c->store, &p, &pool_ids[i])))
			goto out;
	}
	for (size_t i = 0; i < sizeof staff / sizeof staff[0]; i++) {
		char pw[24];
		int64_t uid;
		gen_password(pw);
		if ((rc = pp_auth_user_add(c->auth, staff[i][0], pw, staff[i][1], 0, &uid)) ||
		    (rc = demo_contact(c, staff[i][0], uid)))
			goto out;
		for (size_t k = 0; k < 2; k++)
			if (!strcmp(staff[i][2], pools[k][0]) &&
			    (rc = pp_store_pool_member_add(c->store, pool_ids[k], uid)))
				goto out;
		for (int k = 0; i == 0 && k < 2; k++)
			if (account_patients[k] > 0 &&
			    (rc = pp_store_care_team_add(c->store, uid, account_patients[k],
			                                 pp_clock_now_ms(), 0)))
				goto out;
		/* the demo clinician is one of the demo data's Practitioners (the encounter relationship;
		 * the Synthea encounters are years old, so it opens nothing until one is recent) */
		if (i == 0 && (rc = pp_fhir_demo_link_practitioner(c->store, c->crypto, uid, NULL)) &&
		    rc != PP_ENOTFOUND)
			goto out;
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "username", staff[i][0],
		                      "password", pw, "role", staff[i][1]));
		if (!as_json)
			printf("  %-15s %-18s %s\n", staff[i][1], staff[i][0], pw);
	}
	{
		/* a sample patient-facing SMART app so a person can try the launch flow */
		pp_oauth *o = NULL;
		if ((rc = pp_oauth_open(&o, &c->cfg, c->store, c->crypto, c->audit, c->auth)) ||
		    (rc = pp_oauth_demo_clients(o, as_json ? NULL : stdout))) {
			pp_oauth_close(o);
			goto out;
		}
		pp_oauth_close(o);
	}
	if (as_json) {
		json_object_set_new(out, "accounts", list);
		list = NULL;
		json_dumpf(out, stdout, JSON_INDENT(2));
		printf("\n");
	}
	rc = PP_OK;
out:
	json_decref(list);
	json_decref(out);
	return rc;
}

static int mkdir_private(const char *path)
{
	char parent[PATH_MAX];

	/* create missing parents first (like mkdir -p) */
	snprintf(parent, sizeof parent, "%s", path);
	for (char *p = parent + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(parent, 0755) != 0 && errno != EEXIST)
			return PP_EIO;
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return PP_EIO;
	return chmod(path, 0700) == 0 ? PP_OK : PP_EIO;
}

static int cmd_init(const char *data_dir, int argc, char **argv)
{
	bool demo = false, as_json = false;
	char path[1024], cert[1024], key[1024];
	pp_buf conf;
	ctx c;
	int rc, opt;
	static const struct option opts[] = {{"demo", no_argument, 0, 'd'}, {"json", no_argument, 0, 'j'},
	                                     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'd') demo = true;
		else if (opt == 'j') as_json = true;
		else if (opt == 'h') {
			printf("usage: phiportal [--data DIR] init [--demo] [--json]\n\n"
			       "Creates the data directory (mode 0700) with phiportal.conf at safe defaults, a\n"
			       "key-encryption key file (0600), a self-signed TLS certificate for localhost, the\n"
			       "database and the audit log. --demo imports the synthetic patients shipped in\n"
			       "demo/synthea-10 (or $PHIPORTAL_DEMO_DIR), generates lab and vital-sign history,\n"
			       "and creates demo accounts whose passwords are printed once. --json prints the\n"
			       "demo accounts as JSON (for test scripts).\n");
			return 0;
		} else return usage(stderr, EXIT_USAGE);
	}
	if (optind < argc)
		return usage(stderr, EXIT_USAGE);
	memset(&c, 0, sizeof c);
	pp_config_defaults(&c.cfg, data_dir);
	pp_config_path(&c.cfg, CONFIG_NAME, path, sizeof path);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "phiportal: %s already exists; init does not overwrite a data directory\n",
		        path);
		return 1;
	}
	if (mkdir_private(data_dir)) {
		fprintf(stderr, "phiportal: cannot create %s\n", data_dir);
		return 1;
	}
	pp_config_path(&c.cfg, "keys", key, sizeof key);
	pp_config_path(&c.cfg, "tls", cert, sizeof cert);
	if (mkdir_private(key) || mkdir_private(cert)) {
		fprintf(stderr, "phiportal: cannot create key directories\n");
		return 1;
	}
	pp_config_path(&c.cfg, c.cfg.crypto_key_file, key, sizeof key);
	if ((rc = pp_crypto_keyfile_create(key))) {
		fprintf(stderr, "phiportal: cannot create the key file: %s\n", pp_strerror(rc));
		return 1;
	}
	pp_config_path(&c.cfg, c.cfg.tls_cert_file, cert, sizeof cert);
	pp_config_path(&c.cfg, c.cfg.tls_key_file, key, sizeof key);
	if ((rc = pp_http_tls_create_dev_cert(cert, key))) {
		fprintf(stderr, "phiportal: cannot create the TLS certificate: %s\n", pp_strerror(rc));
		return 1;
	}
	if ((rc = open_store_crypto(&c)) || (rc = open_audit(&c)) ||
	    (rc = pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)))
		goto out;
	if ((rc = audit_cli(&c, "init", "success", demo ? "demo" : NULL)))
		goto out;
	if (demo && (rc = load_demo(&c, as_json)))
		goto out;
	/* the config file is written last: its presence means "initialised" */
	pp_buf_init(&conf, 1 << 20);
	rc = pp_config_write_default(&c.cfg, &conf);
	if (!rc)
		rc = pp_file_write_atomic(path, conf.data, conf.len, 0600);
	pp_buf_free(&conf);
	if (!rc && !as_json)
		printf("\nInitialised %s. Start the server with: phiportal --data %s serve\n", data_dir,
		       data_dir);
out:
	ctx_close(&c);
	return rc ? 1 : 0;
}

/* ---- serve ---- */
/* a secret file must be a regular file with no group/other permission bits */
static bool private_file_ok(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0;
}

static int check_baseline(const pp_config *cfg, bool print_ok)
{
	pp_buf rep;
	char key[1024];
	int problems, krc;

	pp_buf_init(&rep, 1 << 16);
	problems = pp_config_check_baseline(cfg, &rep);
	pp_config_path(cfg, cfg->crypto_key_file, key, sizeof key);
	krc = pp_crypto_keyfile_check(key);
	if (krc == PP_ECONFIG) {
		pp_buf_appendf(&rep, "crypto.key_file: %s is readable by group or others; safe value: "
		               "mode 0600\n", key);
		problems++;
	} else if (krc) {
		pp_buf_appendf(&rep, "crypto.key_file: %s: %s\n", key, pp_strerror(krc));
		problems++;
	}
	pp_config_path(cfg, cfg->tls_key_file, key, sizeof key);
	if (!private_file_ok(key)) {
		pp_buf_appendf(&rep, "tls.key_file: %s is readable by group or others; safe value: "
		               "mode 0600\n", key);
		problems++;
	}
	problems += pp_notify_check_config(cfg, &rep);   /* PHI-free notification templates */
	problems += pp_sso_check_config(cfg, &rep);      /* staff SSO: issuer, client, secret file */
	if (problems)
		fprintf(stderr, "%s", pp_buf_cstr(&rep));
	else if (print_ok)
		printf("compliance check: configuration meets the HIPAA baseline\n");
	pp_buf_free(&rep);
	return problems;
}

static void print_route(void *vctx, const char *method, const char *pattern, const char *kind)
{
	fprintf(vctx, "%-7s %-56s %s\n", method, pattern, kind);
}

/* serve; list_routes: `phiportal routes` -- set up exactly as serve does, register every route,
 * print them (method, pattern, kind) and stop before listening */
static int cmd_serve(const char *data_dir, int argc, char **argv, bool list_routes)
{
	const char *bind = NULL;
	int port = -1, opt, rc;
	ctx c;
	pp_app app;
	pp_http_server *srv = NULL;
	pp_oauth *oauth = NULL;
	pp_notify *notify = NULL;
	pp_files *files = NULL;
	pp_sso *sso = NULL;
	pp_jobs *jobs = NULL;
	static const struct option opts[] = {{"bind", required_argument, 0, 'b'},
	                                     {"port", required_argument, 0, 'p'},
	                                     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'b') bind = optarg;
		else if (opt == 'p') {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 65535) return usage(stderr, EXIT_USAGE);
			port = (int)v;
		} else if (opt == 'h' && list_routes) {
			printf("usage: phiportal [--data DIR] routes\n\n"
			       "Prints every route the server registers (method, pattern, kind: handler,\n"
			       "upload or asset), set up from the data directory exactly as `serve` does, then\n"
			       "exits without listening. The authorization matrix test checks that each one has\n"
			       "a row in its table.\n");
			return 0;
		} else if (opt == 'h') {
			printf("usage: phiportal [--data DIR] serve [--bind ADDR] [--port N]\n\n"
			       "Runs the HTTPS server (TLS 1.2/1.3). Refuses to start when the configuration\n"
			       "fails the HIPAA baseline (see `phiportal compliance check`). Prints\n"
			       "`listening on https://ADDR:PORT` once it accepts connections.\n");
			return 0;
		} else return usage(stderr, EXIT_USAGE);
	}
	if (optind < argc)
		return usage(stderr, EXIT_USAGE);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (bind) snprintf(c.cfg.server_bind, sizeof c.cfg.server_bind, "%s", bind);
	if (port > 0) c.cfg.server_port = port;
	if (check_baseline(&c.cfg, false)) {
		fprintf(stderr, "phiportal: refusing to start: the configuration above is unsafe\n");
		return 1;
	}
	if ((rc = open_store_crypto(&c)) || (rc = open_audit(&c)) ||
	    (rc = pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)))
		goto out;
	if ((rc = pp_oauth_open(&oauth, &c.cfg, c.store, c.crypto, c.audit, c.auth))) {
		fprintf(stderr, "phiportal: cannot start the authorization server: %s\n", pp_strerror(rc));
		goto out;
	}
	if ((rc = pp_notify_open(&notify, &c.cfg, c.store, c.crypto))) {
		fprintf(stderr, "phiportal: cannot start notifications: %s\n", pp_strerror(rc));
		goto out;
	}
	if ((rc = pp_files_open(&files, &c.cfg, c.store, c.crypto))) {
		fprintf(stderr, "phiportal: cannot open the file store: %s\n", pp_strerror(rc));
		goto out;
	}
	if (c.cfg.sso_enabled &&
	    (rc = pp_sso_open(&sso, &c.cfg, c.store, c.crypto, c.auth, pp_policy_role_staff))) {
		fprintf(stderr, "phiportal: cannot set up sign-in through the identity provider: %s\n",
		        pp_strerror(rc));
		goto out;
	}
	app = (pp_app){.cfg = &c.cfg, .store = c.store, .crypto = c.crypto, .audit = c.audit,
	               .auth = c.auth, .oauth = oauth, .notify = notify};
	app.sso = sso;
	app.files = files;
	if ((rc = pp_http_server_new(&srv, &c.cfg, &app)) || (rc = pp_portal_routes(srv, &app)) ||
	    (rc = pp_fhir_api_routes(srv, &app)) || (rc = pp_oauth_routes(oauth, srv)) ||
	    (rc = pp_files_routes(srv, &app, files)) ||
	    (rc = pp_msg_routes(srv, &app)) || (rc = pp_jobs_routes(srv, &app)))
		goto out;
	if (list_routes) {
		rc = pp_http_server_routes_each(srv, print_route, stdout);
		goto out;
	}
	if ((rc = pp_http_server_start(srv))) {
		fprintf(stderr, "phiportal: cannot start the HTTPS server: %s\n", pp_strerror(rc));
		goto out;
	}
	if ((rc = pp_notify_start(notify))) {
		fprintf(stderr, "phiportal: cannot start the notification worker: %s\n", pp_strerror(rc));
		goto out;
	}
	if ((rc = pp_jobs_start(&jobs, &app, files))) {   /* retention every jobs.retention_interval_s */
		fprintf(stderr, "phiportal: cannot start the jobs thread: %s\n", pp_strerror(rc));
		goto out;
	}
	audit_cli(&c, "serve.start", "success", NULL);
	printf("listening on https://%s:%d\n", c.cfg.server_bind, c.cfg.server_port);
	fflush(stdout);
	pp_http_server_wait(srv);
	audit_cli(&c, "serve.stop", "success", NULL);
out:
	pp_jobs_stop(jobs);
	pp_http_server_free(srv);
	pp_files_close(files);
	pp_notify_close(notify);
	pp_oauth_close(oauth);
	pp_sso_close(sso);
	ctx_close(&c);
	return rc ? 1 : 0;
}

/* ---- client (OAuth client registry; the commands live in oauth/) ---- */
static int cmd_client(const char *data_dir, int argc, char **argv)
{
	ctx c;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return pp_oauth_cli(NULL, NULL, NULL, NULL, argc, argv);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (open_store_crypto(&c) || open_audit(&c)) {
		ctx_close(&c);
		return 1;
	}
	rc = pp_oauth_cli(&c.cfg, c.store, c.crypto, c.audit, argc, argv);
	ctx_close(&c);
	return rc;
}

/* ---- pool, careteam (who reaches what; the commands live in portal/) ---- */
static int cmd_access(const char *data_dir, int argc, char **argv)
{
	ctx c;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return pp_portal_cli_access(NULL, NULL, NULL, argc, argv);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (open_store_crypto(&c) || open_audit(&c) ||
	    pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)) {
		ctx_close(&c);
		return 1;
	}
	rc = pp_portal_cli_access(c.store, c.auth, c.audit, argc, argv);
	ctx_close(&c);
	return rc;
}

/* ---- import ---- */
static int cmd_import(const char *data_dir, int argc, char **argv)
{
	ctx c;
	pp_fhir_import_stats stats;
	pp_fhir_import_opts opt;
	int rc, nrc, notified = 0;
	int64_t since;
	char detail[64];

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *f = argc < 2 ? stderr : stdout;
		fprintf(f, "usage: phiportal [--data DIR] import FILE...\n\n"
		        "Loads FHIR R4 resources from Bulk Data NDJSON files (one resource per line) or JSON\n"
		        "Bundles. Patients are loaded first. Re-importing is idempotent. A malformed line is\n"
		        "reported as FILE:LINE and skipped; the exit status is then 1.\n");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if ((rc = open_store_crypto(&c)) || (rc = open_audit(&c)))
		goto out;
	memset(&stats, 0, sizeof stats);
	since = pp_clock_now_ms();   /* notify: Observations stored from now on are new results */
	opt = (pp_fhir_import_opts){.max_line_bytes = 8 << 20,
	                            .max_json_depth = c.cfg.limits_max_json_depth * 2,
	                            .on_error = import_error};
	rc = pp_fhir_import_files(c.store, c.crypto, (const char *const *)argv + 1, argc - 1, &opt,
	                          &stats);
	if (rc) {
		fprintf(stderr, "phiportal: import failed: %s\n", pp_strerror(rc));
		audit_cli(&c, "import", "failure", pp_strerror(rc));
		goto out;
	}
	print_stats(&stats);
	/* PHI-free "new result" notices; their failure is reported but does not undo the import */
	if ((nrc = pp_notify_after_import(&c.cfg, c.store, c.crypto, since, &notified)))
		fprintf(stderr, "phiportal: result notices could not be queued: %s\n", pp_strerror(nrc));
	else if (notified)
		printf("result notices queued for %d account(s)\n", notified);
	snprintf(detail, sizeof detail, "files:%d skipped:%ld", argc - 1, stats.errors);
	rc = audit_cli(&c, "import", "success", detail);
	if (!rc && stats.errors)
		rc = 1;
out:
	ctx_close(&c);
	return rc ? 1 : 0;
}

/* ---- notify and user contact (the commands live in notify/); argv[0] is "notify" or "contact" */
static int cmd_notify(const char *data_dir, int argc, char **argv)
{
	ctx c;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return pp_notify_cli(NULL, NULL, NULL, NULL, NULL, argc, argv);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (!strcmp(argv[0], "notify") && !strcmp(argv[1], "check"))
		return pp_notify_cli(&c.cfg, NULL, NULL, NULL, NULL, argc, argv);
	if (open_store_crypto(&c) || open_audit(&c) || pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)) {
		ctx_close(&c);
		return 1;
	}
	rc = pp_notify_cli(&c.cfg, c.store, c.crypto, c.audit, c.auth, argc, argv);
	ctx_close(&c);
	return rc;
}

/* ---- files (the commands live in files/) ---- */
static int cmd_files(const char *data_dir, int argc, char **argv)
{
	ctx c;
	pp_files *files = NULL;
	int rc;

	if (argc < 2 || strcmp(argv[1], "rescan"))
		return pp_files_cli(NULL, argc, argv);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (open_store_crypto(&c) || pp_files_open(&files, &c.cfg, c.store, c.crypto)) {
		ctx_close(&c);
		return 1;
	}
	rc = pp_files_cli(files, argc, argv);
	pp_files_close(files);
	ctx_close(&c);
	return rc;
}

/* ---- retention run, hold add|release|list (the commands live in jobs/) ---- */
static int cmd_jobs(const char *data_dir, int argc, char **argv)
{
	ctx c;
	pp_app app;
	pp_files *files = NULL;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return pp_jobs_cli(NULL, NULL, argc, argv);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (open_store_crypto(&c) || open_audit(&c) ||
	    (!strcmp(argv[0], "retention") && pp_files_open(&files, &c.cfg, c.store, c.crypto))) {
		ctx_close(&c);
		return 1;
	}
	app = (pp_app){.cfg = &c.cfg, .store = c.store, .crypto = c.crypto, .audit = c.audit};
	rc = pp_jobs_cli(&app, files, argc, argv);
	pp_files_close(files);
	ctx_close(&c);
	return rc;
}

/* ---- user link-sso | suspend | activate | deprovision (auth/sso.h) ---- */
static int cmd_user_account(const char *data_dir, int argc, char **argv)
{
	const char *verb = argv[1], *username = NULL, *value = NULL;
	char detail[96];
	int64_t uid = 0;
	int opt, rc, families = 0;
	bool link = !strcmp(verb, "link-sso");
	ctx c;
	static const struct option opts[] = {{"username", required_argument, 0, 'u'},
		{"value", required_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

	argc--; argv++;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'u') username = optarg;
		else if (opt == 'v' && link) value = optarg;
		else if (opt == 'h') {
			printf("usage: phiportal [--data DIR] user link-sso --username U --value V\n"
			       "       phiportal [--data DIR] user suspend|activate|deprovision --username U\n\n"
			       "link-sso links a staff account to its identity at the organisation's OpenID\n"
			       "provider: V is the value of the ID-token claim named by sso.match_claim (e.g. the\n"
			       "e-mail address); only a blind index of it is stored. suspend ends every session\n"
			       "and revokes every app token of the account at once; activate lifts a suspension;\n"
			       "deprovision ends access for good (sessions, tokens and SSO links).\n");
			return 0;
		} else return usage(stderr, EXIT_USAGE);
	}
	if (!username || optind < argc || (link && !value))
		return usage(stderr, EXIT_USAGE);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if ((rc = open_store_crypto(&c)) || (rc = open_audit(&c)) ||
	    (rc = pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)))
		goto out;
	if ((rc = pp_auth_user_find(c.auth, username, &uid))) {
		fprintf(stderr, "phiportal: no account with that name\n");
		goto out;
	}
	if (link) {
		pp_store_user u;
		memset(&u, 0, sizeof u);
		rc = pp_store_user_get(c.store, uid, &u);
		if (!rc && !pp_policy_role_staff(u.role)) {
			fprintf(stderr, "phiportal: only staff accounts sign in through the identity "
			        "provider\n");
			rc = PP_EINVAL;
		}
		pp_store_user_clear(&u);
		if (rc)
			goto out;
		rc = pp_sso_link_add(&c.cfg, c.store, c.crypto, uid, value);
		if (rc == PP_EEXISTS)
			fprintf(stderr, "phiportal: that identity is linked to an account already\n");
		else if (rc == PP_EINVAL)
			fprintf(stderr, "phiportal: set sso.issuer first; the value must be 1-254 "
			        "characters without '|'\n");
		if (rc)
			goto out;
		snprintf(detail, sizeof detail, "user:%lld", (long long)uid);
		if (!(rc = audit_cli(&c, "user.link-sso", "success", detail)))
			printf("linked user %lld to its identity at the identity provider\n", (long long)uid);
		goto out;
	}
	rc = pp_sso_account_set_status(c.store, uid, !strcmp(verb, "activate") ? "active" :
	                               !strcmp(verb, "suspend") ? "suspended" : "deprovisioned",
	                               &families);
	if (rc == PP_EDENIED)
		fprintf(stderr, "phiportal: a deprovisioned account cannot be activated\n");
	snprintf(detail, sizeof detail, "user:%lld tokens-revoked:%d", (long long)uid, families);
	if (rc) {
		audit_cli(&c, !strcmp(verb, "activate") ? "user.activate" : !strcmp(verb, "suspend") ?
		          "user.suspend" : "user.deprovision", "failure", detail);
		goto out;
	}
	if (!(rc = audit_cli(&c, !strcmp(verb, "activate") ? "user.activate" :
	                     !strcmp(verb, "suspend") ? "user.suspend" : "user.deprovision",
	                     "success", detail)))
		printf(!strcmp(verb, "activate") ? "user %lld activated\n" :
		       "user %lld %s; sessions ended, %d app token families revoked\n", (long long)uid,
		       !strcmp(verb, "suspend") ? "suspended" : "deprovisioned", families);
out:
	ctx_close(&c);
	return rc ? 1 : 0;
}

/* ---- user link-practitioner | unlink-practitioner (the commands live in portal/) ---- */
static int cmd_practitioner(const char *data_dir, int argc, char **argv)
{
	ctx c;
	int rc;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return pp_portal_cli_practitioner(NULL, NULL, NULL, NULL, argc, argv);
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if (open_store_crypto(&c) || open_audit(&c) ||
	    pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)) {
		ctx_close(&c);
		return 1;
	}
	rc = pp_portal_cli_practitioner(c.store, c.crypto, c.auth, c.audit, argc, argv);
	ctx_close(&c);
	return rc;
}

/* ---- user ---- */
static int cmd_user(const char *data_dir, int argc, char **argv)
{
	const char *username = NULL, *role = NULL, *patient = NULL;
	bool from_stdin = false;
	char pw[1024] = "";
	int opt, rc;
	int64_t uid = 0, patient_id = 0;
	ctx c;
	static const struct option opts[] = {{"username", required_argument, 0, 'u'},
		{"role", required_argument, 0, 'r'}, {"patient", required_argument, 0, 'p'},
		{"password-stdin", no_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};

	if (argc >= 2 && !strcmp(argv[1], "contact"))
		return cmd_notify(data_dir, argc - 1, argv + 1);   /* notify/: user contact */
	if (argc >= 2 && (!strcmp(argv[1], "link-practitioner") ||
	                  !strcmp(argv[1], "unlink-practitioner")))
		return cmd_practitioner(data_dir, argc - 1, argv + 1);   /* portal/: encounter links */
	if (argc >= 2 && (!strcmp(argv[1], "link-sso") || !strcmp(argv[1], "suspend") ||
	                  !strcmp(argv[1], "activate") || !strcmp(argv[1], "deprovision")))
		return cmd_user_account(data_dir, argc, argv);   /* auth/sso.h */
	if (argc < 2 || strcmp(argv[1], "add")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
			goto help;
		return usage(stderr, EXIT_USAGE);
	}
	argc--; argv++;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'u') username = optarg;
		else if (opt == 'r') role = optarg;
		else if (opt == 'p') patient = optarg;
		else if (opt == 's') from_stdin = true;
		else if (opt == 'h') goto help;
		else return usage(stderr, EXIT_USAGE);
	}
	if (!username || !role || optind < argc)
		return usage(stderr, EXIT_USAGE);
	if (!pp_policy_role_known(role) || !strcmp(role, "system")) {
		fprintf(stderr, "phiportal: unknown role (patient, proxy, clinician, nurse, front_desk, "
		        "billing, admin, privacy_officer, security_admin)\n");
		return EXIT_USAGE;
	}
	if (!strcmp(role, "patient") != (patient != NULL)) {
		fprintf(stderr, "phiportal: --patient ID is required for, and only for, role patient\n");
		return EXIT_USAGE;
	}
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if ((rc = open_store_crypto(&c)) || (rc = open_audit(&c)) ||
	    (rc = pp_auth_open(&c.auth, &c.cfg, c.store, c.crypto)))
		goto out;
	if (patient) {
		pp_store_resource res;
		memset(&res, 0, sizeof res);
		rc = pp_store_resource_get_pub(c.store, "Patient", patient, &res);
		patient_id = res.id;
		pp_store_resource_clear(&res);
		if (rc) {
			fprintf(stderr, "phiportal: no patient with that id\n");
			goto out;
		}
	}
	if (from_stdin) {
		if (!fgets(pw, sizeof pw, stdin)) {
			rc = PP_EINVAL;
			goto out;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
	} else {
		gen_password(pw);
	}
	rc = pp_auth_user_add(c.auth, username, pw, role, patient_id, &uid);
	if (rc == PP_EINVAL) {
		const char *why = "";
		pp_auth_password_policy(c.auth, pw, username, &why);
		fprintf(stderr, "phiportal: password refused (%s)\n", why ? why : "policy");
		goto out;
	}
	if (rc == PP_EEXISTS) {
		fprintf(stderr, "phiportal: an account with that name exists already\n");
		goto out;
	}
	if (rc)
		goto out;
	rc = audit_cli(&c, "user.add", "success", role);
	if (!rc) {
		printf("created user %lld (%s)\n", (long long)uid, role);
		if (!from_stdin)
			printf("password (shown once): %s\n", pw);
	}
out:
	pp_wipe(pw, sizeof pw);
	ctx_close(&c);
	return rc ? 1 : 0;
help:
	printf("usage: phiportal [--data DIR] user add --username U --role ROLE [--patient ID] "
	       "[--password-stdin]\n\nRoles: patient (needs --patient, the record's opaque id), "
	       "clinician, nurse, front_desk,\nbilling, admin, privacy_officer, security_admin. Without --password-stdin a "
	       "strong password is generated\nand printed once. Every account must enrol in MFA at "
	       "first sign-in.\n");
	return 0;
}

/* A command that takes exactly one verb and no options ("audit verify", "compliance check"):
 * returns -1 to go on, else the exit code (0 after --help, 2 after a usage error). */
static int exact_verb(int argc, char **argv, const char *verb, const char *help)
{
	if (argc == 2 && !strcmp(argv[1], verb))
		return -1;
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(help, stdout);
		return 0;
	}
	return usage(stderr, EXIT_USAGE);
}

/* ---- audit ---- */
static int cmd_audit(const char *data_dir, int argc, char **argv)
{
	ctx c;
	pp_buf rep;
	int64_t bad = 0, count = 0;
	char path[1024];
	int rc;

	if ((rc = exact_verb(argc, argv, "verify",
	                     "usage: phiportal [--data DIR] audit verify\n\nWalks the audit log's hash "
	                     "chain and signed checkpoints. Exit 0 when intact;\nexit 1 naming the first "
	                     "bad record when a record was edited, deleted, inserted\nor reordered.\n")) >= 0)
		return rc;
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	if ((rc = open_store_crypto(&c)))
		goto out;
	pp_config_path(&c.cfg, c.cfg.audit_path, path, sizeof path);
	pp_buf_init(&rep, 1 << 20);
	rc = pp_audit_verify(path, c.crypto, &rep, &bad, &count);
	if (rc) {
		fprintf(stderr, "audit verify: FAILED at record %lld\n%s", (long long)bad,
		        pp_buf_cstr(&rep));
	} else {
		printf("audit verify: OK, %lld records, chain and checkpoints intact\n", (long long)count);
	}
	pp_buf_free(&rep);
out:
	ctx_close(&c);
	return rc ? 1 : 0;
}

static int cmd_compliance(const char *data_dir, int argc, char **argv)
{
	ctx c;

	int rc;

	if ((rc = exact_verb(argc, argv, "check",
	                     "usage: phiportal [--data DIR] compliance check\n\nChecks phiportal.conf and "
	                     "the key files against the HIPAA baseline (TLS >= 1.2,\nsession idle timeout "
	                     "<= 30 min, MFA for staff, audit on, key files 0600, ...).\nExit 0 when it "
	                     "passes; else 1, one line per unsafe key with the safe value.\n")) >= 0)
		return rc;
	memset(&c, 0, sizeof c);
	if (load_config(&c, data_dir, true))
		return 1;
	return check_baseline(&c.cfg, true) ? 1 : 0;
}

static int cmd_config(int argc, char **argv)
{
	pp_buf b;

	if (argc != 2 || strcmp(argv[1], "docs"))
		return usage(stderr, EXIT_USAGE);
	pp_buf_init(&b, 1 << 20);
	pp_config_write_docs(&b);
	fputs(pp_buf_cstr(&b), stdout);
	pp_buf_free(&b);
	return 0;
}

static int cmd_roles(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "docs"))
		return usage(stderr, EXIT_USAGE);
	pp_policy_roles_docs(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *data_dir = data_dir_from_env();
	char *args[256];
	int n = 0;

	/* pull out the global --data option wherever it stands */
	for (int i = 0; i < argc && n < 255; i++) {
		if (!strcmp(argv[i], "--data")) {
			if (i + 1 >= argc)
				return usage(stderr, EXIT_USAGE);
			data_dir = argv[++i];
		} else if (!strncmp(argv[i], "--data=", 7)) {
			data_dir = argv[i] + 7;
		} else {
			args[n++] = argv[i];
		}
	}
	args[n] = NULL;
	signal(SIGPIPE, SIG_IGN);
	if (n < 2)
		return usage(stderr, EXIT_USAGE);
	if (!strcmp(args[1], "--help") || !strcmp(args[1], "-h") || !strcmp(args[1], "help"))
		return usage(stdout, 0);
	if (!strcmp(args[1], "version") || !strcmp(args[1], "--version")) {
		printf("phiportal %s\n", PP_VERSION);
		return 0;
	}
	if (!strcmp(args[1], "init")) return cmd_init(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "serve")) return cmd_serve(data_dir, n - 1, args + 1, false);
	if (!strcmp(args[1], "routes")) return cmd_serve(data_dir, n - 1, args + 1, true);
	if (!strcmp(args[1], "import")) return cmd_import(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "user")) return cmd_user(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "audit")) return cmd_audit(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "client")) return cmd_client(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "pool") || !strcmp(args[1], "careteam"))
		return cmd_access(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "notify")) return cmd_notify(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "files")) return cmd_files(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "retention") || !strcmp(args[1], "hold"))
		return cmd_jobs(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "compliance")) return cmd_compliance(data_dir, n - 1, args + 1);
	if (!strcmp(args[1], "config")) return cmd_config(n - 1, args + 1);
	if (!strcmp(args[1], "roles")) return cmd_roles(n - 1, args + 1);
	fprintf(stderr, "phiportal: unknown command\n");
	return usage(stderr, EXIT_USAGE);
}
