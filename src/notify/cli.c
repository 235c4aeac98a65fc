/* notify: the shell commands — `notify check` (the templates and notify.* keys, as `serve` checks
 * them), `notify test` (queues a notice for one account: the way to try the channels before the
 * messaging module calls pp_notify_enqueue), `notify run` (delivers what is due now), `notify
 * status` (outbox counts), and `user contact` (sets an account's contact from the shell). Every
 * command that changes something writes one audit record; none prints or logs an address. */
#include "notify/notify_internal.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"

#define EXIT_USAGE 2

static const char notify_help[] =
	"usage: phiportal [--data DIR] notify check | test --username U [--event message|result]\n"
	"                                    | run | status\n\n"
	"  check    checks the notification templates and notify.* keys as `serve` does: only the\n"
	"           placeholders {portal_url} and {org_name} are allowed (exit 1 naming the key)\n"
	"  test     queues one PHI-free notice (default: \"message\") for the account, on each channel\n"
	"           it has switched on; the running server delivers it (or `notify run`)\n"
	"  run      delivers every due notice now from this process\n"
	"  status   counts of pending, sent, failed and cancelled notices\n";

static const char contact_help[] =
	"usage: phiportal [--data DIR] user contact --username U [--email E] [--phone P]\n"
	"                                           [--no-email] [--no-sms]\n\n"
	"Sets the account's notification contact: an e-mail address and/or a mobile number in E.164\n"
	"form (+15555550123). A channel whose address is given is switched on unless --no-email /\n"
	"--no-sms; what is not given is kept. Addresses are stored encrypted and never printed.\n";

static int audit_cli(struct pp_audit *a, const char *action, const char *detail)
{
	pp_audit_event ev = {.actor = "system:cli", .actor_role = "operator", .action = action,
	                     .outcome = "success", .detail = detail, .purpose = "operations",
	                     .resource_type = "ContactPreferences"};
	int rc = pp_audit_record(a, &ev);

	if (rc)
		fprintf(stderr, "phiportal: the audit record could not be written: %s\n", pp_strerror(rc));
	return rc;
}

static int check(const pp_config *cfg)
{
	pp_buf rep;
	int problems;

	pp_buf_init(&rep, 1 << 16);
	problems = pp_notify_check_config(cfg, &rep);
	if (problems)
		fprintf(stderr, "%snotify check: %d problem(s); `serve` refuses to start until they are "
		        "fixed\n", pp_buf_cstr(&rep), problems);
	else
		printf("notify check: templates and notification settings are safe (channels: e-mail %s, "
		       "SMS %s)\n", cfg->notify_smtp_url[0] ? "on" : "off",
		       cfg->notify_sms_webhook_url[0] ? "on" : "off");
	pp_buf_free(&rep);
	return problems ? 1 : 0;
}

static int find_user(struct pp_auth *auth, const char *username, int64_t *uid)
{
	int rc = pp_auth_user_find(auth, username, uid);

	if (rc == PP_ENOTFOUND)
		fprintf(stderr, "phiportal: no such account\n");
	else if (rc)
		fprintf(stderr, "phiportal: account lookup failed: %s\n", pp_strerror(rc));
	return rc;
}

static int cmd_test(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                    struct pp_audit *a, struct pp_auth *auth, int argc, char **argv)
{
	static const struct option opts[] = {{"username", required_argument, 0, 'u'},
		{"event", required_argument, 0, 'e'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *username = NULL, *event = PP_NOTIFY_EVENT_MESSAGE;
	pp_notify *n = NULL;
	int64_t uid = 0;
	int opt, queued = 0, rc;
	char detail[64];

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'u') username = optarg;
		else if (opt == 'e') event = optarg;
		else if (opt == 'h') { fputs(notify_help, stdout); return 0; }
		else return EXIT_USAGE;
	}
	if (!username || optind < argc || pp_notify_event_index(event) < 0) {
		fputs(notify_help, stderr);
		return EXIT_USAGE;
	}
	if (find_user(auth, username, &uid))
		return 1;
	if ((rc = pp_notify_open(&n, cfg, st, c))) {
		fprintf(stderr, "phiportal: notifications are not usable: %s (see `notify check`)\n",
		        pp_strerror(rc));
		return 1;
	}
	rc = pp_notify_enqueue_n(n, uid, event, &queued);
	pp_notify_close(n);
	if (rc) {
		fprintf(stderr, "phiportal: could not queue: %s\n", pp_strerror(rc));
		return 1;
	}
	snprintf(detail, sizeof detail, "test:%s user:%lld queued:%d", event, (long long)uid, queued);
	if (audit_cli(a, "notify.test", detail))
		return 1;
	printf("queued %d %s notice(s) for user %lld\n", queued, event, (long long)uid);
	return 0;
}

static int cmd_run(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c)
{
	pp_notify *n = NULL;
	int sent = 0, failed = 0, rc;

	if ((rc = pp_notify_open(&n, cfg, st, c))) {
		fprintf(stderr, "phiportal: notifications are not usable: %s (see `notify check`)\n",
		        pp_strerror(rc));
		return 1;
	}
	rc = pp_notify_run_once(n, &sent, &failed);
	pp_notify_close(n);
	if (rc) {
		fprintf(stderr, "phiportal: delivery stopped: %s\n", pp_strerror(rc));
		return 1;
	}
	printf("sent %d, failed for good %d\n", sent, failed);
	return 0;
}

static int cmd_status(struct pp_store *st)
{
	static const char *const states[] = {"pending", "sent", "failed", "cancelled"};

	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
		int64_t count = 0;
		if (pp_store_notify_count(st, states[i], &count)) {
			fprintf(stderr, "phiportal: cannot read the outbox\n");
			return 1;
		}
		printf("%-10s %lld\n", states[i], (long long)count);
	}
	return 0;
}

static int cmd_contact(struct pp_store *st, struct pp_crypto *c, struct pp_audit *a,
                       struct pp_auth *auth, int argc, char **argv)
{
	static const struct option opts[] = {{"username", required_argument, 0, 'u'},
		{"email", required_argument, 0, 'e'}, {"phone", required_argument, 0, 'p'},
		{"no-email", no_argument, 0, 'E'}, {"no-sms", no_argument, 0, 'S'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *username = NULL, *email = NULL, *phone = NULL;
	bool no_email = false, no_sms = false;
	pp_notify_contact ct;
	int64_t uid = 0;
	int opt, rc = 1;
	char detail[64];

	memset(&ct, 0, sizeof ct);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'u') username = optarg;
		else if (opt == 'e') email = optarg;
		else if (opt == 'p') phone = optarg;
		else if (opt == 'E') no_email = true;
		else if (opt == 'S') no_sms = true;
		else if (opt == 'h') { fputs(contact_help, stdout); return 0; }
		else return EXIT_USAGE;
	}
	if (!username || optind < argc || (!email && !phone && !no_email && !no_sms)) {
		fputs(contact_help, stderr);
		return EXIT_USAGE;
	}
	if (email && !pp_notify_email_valid(email)) {
		fprintf(stderr, "phiportal: --email is not a valid e-mail (local@domain.tld)\n");
		return EXIT_USAGE;
	}
	if (phone && !pp_notify_phone_valid(phone)) {
		fprintf(stderr, "phiportal: --phone must be in E.164 form, e.g. +15555550123\n");
		return EXIT_USAGE;
	}
	if (find_user(auth, username, &uid))
		return 1;
	if ((rc = pp_notify_contact_get(st, c, uid, &ct))) {
		fprintf(stderr, "phiportal: cannot read the contact: %s\n", pp_strerror(rc));
		rc = 1;
		goto out;
	}
	if (email) {
		snprintf(ct.email, sizeof ct.email, "%s", email);
		ct.email_enabled = true;
	}
	if (phone) {
		snprintf(ct.phone, sizeof ct.phone, "%s", phone);
		ct.sms_enabled = true;
	}
	if (no_email)
		ct.email_enabled = false;
	if (no_sms)
		ct.sms_enabled = false;
	if ((rc = pp_notify_contact_set(st, c, uid, &ct))) {
		fprintf(stderr, "phiportal: cannot store the contact: %s\n", pp_strerror(rc));
		rc = 1;
		goto out;
	}
	snprintf(detail, sizeof detail, "user:%lld email:%s sms:%s", (long long)uid,
	         ct.email_enabled ? "on" : "off", ct.sms_enabled ? "on" : "off");
	if (audit_cli(a, "contact.update", detail)) {
		rc = 1;
		goto out;
	}
	printf("contact set for user %lld (e-mail notices %s, SMS notices %s)\n", (long long)uid,
	       ct.email_enabled ? "on" : "off", ct.sms_enabled ? "on" : "off");
	rc = 0;
out:
	pp_notify_contact_wipe(&ct);
	return rc;
}

int pp_notify_cli(const pp_config *cfg, struct pp_store *st, struct pp_crypto *c,
                  struct pp_audit *a, struct pp_auth *auth, int argc, char **argv)
{
	bool contact = argc >= 1 && !strcmp(argv[0], "contact");
	const char *verb = argc >= 2 ? argv[1] : NULL;

	if (contact) {
		if (!cfg || !st || !c || !a || !auth) {
			bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
			fputs(contact_help, help ? stdout : stderr);
			return help ? 0 : EXIT_USAGE;
		}
		return cmd_contact(st, c, a, auth, argc, argv);
	}
	if (!verb || !strcmp(verb, "--help") || !strcmp(verb, "-h") || !cfg) {
		fputs(notify_help, verb ? stdout : stderr);
		return verb ? 0 : EXIT_USAGE;
	}
	if (!strcmp(verb, "check") && argc == 2)
		return check(cfg);
	if (!st || !c || !a || !auth) {
		fputs(notify_help, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(verb, "test"))
		return cmd_test(cfg, st, c, a, auth, argc - 1, argv + 1);
	if (!strcmp(verb, "run") && argc == 2)
		return cmd_run(cfg, st, c);
	if (!strcmp(verb, "status") && argc == 2)
		return cmd_status(st);
	fputs(notify_help, stderr);
	return EXIT_USAGE;
}
