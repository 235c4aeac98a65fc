/* oauth: the client registry's rules (who may get a token: status, BAA for anything acting for the
 * organisation, IP allow/deny lists in CIDR form for IPv4 and IPv6, exact redirect URIs) and the
 * `phiportal client …` commands that maintain it. */
#include "oauth/oauth_internal.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- BAA ---- */
/* days since 1970-01-01 of a civil date (proleptic Gregorian) */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD" → days since the epoch; PP_EINVAL when malformed */
static int parse_date(const char *s, int64_t *days)
{
	unsigned y, m, d;
	char tail;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3)
		return PP_EINVAL;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return PP_EINVAL;
	*days = days_from_civil(y, m, d);
	return PP_OK;
}

bool pp_oauth_client_needs_baa(const pp_store_oauth_client *c)
{
	return strcmp(c->type, "patient-app") != 0;
}

int pp_oauth_client_usable(const pp_store_oauth_client *c, int64_t now_ms, const char **why)
{
	int64_t expires, today = now_ms / 86400000LL;

	*why = NULL;
	if (strcmp(c->status, "active")) {
		*why = "client-suspended";
		return PP_EDENIED;
	}
	if (!pp_oauth_client_needs_baa(c))
		return PP_OK;
	if (!c->baa_vendor[0] || !c->baa_expires[0] || parse_date(c->baa_expires, &expires)) {
		*why = "baa-missing";
		return PP_EDENIED;
	}
	if (today > expires) {   /* the expiry date is the last day covered */
		*why = "baa-expired";
		return PP_EDENIED;
	}
	return PP_OK;
}

bool pp_oauth_redirect_registered(const char *registered, const char *uri)
{
	const char *p = registered;
	size_t ulen;

	if (!registered || !uri || !*uri)
		return false;
	ulen = strlen(uri);
	while (*p) {
		size_t n;
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == ulen && !memcmp(p, uri, n))
			return true;
		p += n;
	}
	return false;
}

/* ---- CLI ---- */
static int cli_audit(pp_audit *audit, const char *action, const char *client_id, const char *outcome,
                     const char *detail)
{
	char actor[80];
	pp_audit_event ev = {.actor = "system:cli", .actor_role = "operator", .action = action,
	                     .outcome = outcome, .detail = detail, .purpose = "operations",
	                     .resource_type = "OAuthClient", .resource_id = client_id};
	int rc;

	(void)actor;
	rc = pp_audit_record(audit, &ev);
	if (rc)
		fprintf(stderr, "phiportal: the audit record could not be written: %s\n", pp_strerror(rc));
	return rc;
}

static bool redirect_uri_ok(const char *u)
{
	if (strlen(u) >= 500 || strchr(u, '#') || strchr(u, ' '))
		return false;
	if (!strncmp(u, "https://", 8) && u[8])
		return true;
	/* native and development apps: loopback over plain HTTP (RFC 8252 section 7.3) */
	return !strncmp(u, "http://127.0.0.1", 16) || !strncmp(u, "http://localhost", 16) ||
	       !strncmp(u, "http://[::1]", 12);
}

static int append_word(char *dst, size_t cap, const char *w)
{
	size_t len = strlen(dst);
	int n = snprintf(dst + len, cap - len, "%s%s", len ? " " : "", w);
	return n < 0 || (size_t)n >= cap - len ? PP_ETOOBIG : PP_OK;
}

static const char *const client_help =
	"usage: phiportal [--data DIR] client add --name NAME --type patient-app|confidential|backend\n"
	"                 [--redirect-uri URI]... --scopes \"SCOPES\" [--jwks FILE | --jwks-uri URL]\n"
	"                 [--owner WHO] [--purpose TEXT] [--ip-allow CIDRS] [--ip-deny CIDRS] [--rate-limit N]\n"
	"                 [--baa-vendor NAME --baa-signed YYYY-MM-DD --baa-expires YYYY-MM-DD]\n"
	"                 [--launch-uri URI] [--client-id ID] [--json]\n"
	"       phiportal [--data DIR] client list [--json]\n"
	"       phiportal [--data DIR] client suspend ID\n"
	"       phiportal [--data DIR] client activate ID\n"
	"\n"
	"Registers and governs the apps and integrations that may get OAuth tokens. Patient-facing apps\n"
	"(public clients, PKCE) need no BAA; confidential apps and backend services act for the\n"
	"organisation and get no token without a Business Associate Agreement on file that has not\n"
	"expired. Backend services authenticate with private_key_jwt against the JWKS given by --jwks\n"
	"(a file holding their public keys, RS384 or ES384) or published at --jwks-uri (an https://\n"
	"URL, fetched with certificate verification and cached for 5 minutes; a new key id is picked\n"
	"up at once) and may only hold system/ scopes.\n"
	"--rate-limit is requests per minute (token bucket); 0 means no limit.\n"
	"--launch-uri (confidential apps) is where staff launching the app from a patient's chart\n"
	"send the browser (SMART EHR launch: ?iss=<FHIR base>&launch=<id> is appended).\n";

static int cli_add(const pp_config *cfg, pp_store *st, pp_audit *audit, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, 0, 'n'}, {"type", required_argument, 0, 't'},
		{"redirect-uri", required_argument, 0, 'r'}, {"scopes", required_argument, 0, 's'},
		{"jwks", required_argument, 0, 'j'}, {"owner", required_argument, 0, 'o'},
		{"purpose", required_argument, 0, 'p'}, {"ip-allow", required_argument, 0, 'a'},
		{"ip-deny", required_argument, 0, 'd'}, {"rate-limit", required_argument, 0, 'l'},
		{"baa-vendor", required_argument, 0, 'V'}, {"baa-signed", required_argument, 0, 'S'},
		{"baa-expires", required_argument, 0, 'E'}, {"client-id", required_argument, 0, 'i'},
		{"jwks-uri", required_argument, 0, 'u'}, {"launch-uri", required_argument, 0, 'L'},
		{"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	pp_scope_set *scopes = calloc(1, sizeof *scopes);
	char *jwks = NULL;
	size_t jlen;
	bool as_json = false;
	int opt, rc = 2;
	int64_t days;

	(void)cfg;
	if (!c || !scopes)
		goto out;
	c->rate_per_min = 600;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *v = optarg;
		switch (opt) {
		case 'n': snprintf(c->name, sizeof c->name, "%s", v); break;
		case 't': snprintf(c->type, sizeof c->type, "%s", v); break;
		case 'r':
			if (!redirect_uri_ok(v)) {
				fprintf(stderr, "phiportal: redirect URIs must be https:// (or http:// on loopback) "
				        "without a fragment\n");
				goto out;
			}
			if (append_word(c->redirect_uris, sizeof c->redirect_uris, v))
				goto out;
			break;
		case 's': snprintf(c->scopes, sizeof c->scopes, "%s", v); break;
		case 'j':
			if (pp_file_read(v, sizeof c->jwks - 1, &jwks, &jlen)) {
				fprintf(stderr, "phiportal: cannot read the JWKS file\n");
				goto out;
			}
			break;
		case 'u':
			if (!pp_oauth_jwks_uri_ok(v)) {
				fprintf(stderr, "phiportal: --jwks-uri must be an https:// URL (no spaces or "
				        "fragment, under 512 characters)\n");
				goto out;
			}
			snprintf(c->jwks_uri, sizeof c->jwks_uri, "%s", v);
			break;
		case 'o': snprintf(c->owner, sizeof c->owner, "%s", v); break;
		case 'p': snprintf(c->purpose, sizeof c->purpose, "%s", v); break;
		case 'a': snprintf(c->ip_allow, sizeof c->ip_allow, "%s", v); break;
		case 'd': snprintf(c->ip_deny, sizeof c->ip_deny, "%s", v); break;
		case 'l': {
			char *end;
			long n = strtol(v, &end, 10);
			if (*end || n < 0 || n > 1000000)
				goto out;
			c->rate_per_min = (int)n;
			break;
		}
		case 'V': snprintf(c->baa_vendor, sizeof c->baa_vendor, "%s", v); break;
		case 'S': snprintf(c->baa_signed, sizeof c->baa_signed, "%s", v); break;
		case 'E': snprintf(c->baa_expires, sizeof c->baa_expires, "%s", v); break;
		case 'i': snprintf(c->client_id, sizeof c->client_id, "%s", v); break;
		case 'L':
			if (!redirect_uri_ok(v) || strchr(v, '?') || strlen(v) >= sizeof c->launch_uri) {
				fprintf(stderr, "phiportal: --launch-uri must be https:// (or http:// on "
				        "loopback), without a query or fragment\n");
				goto out;
			}
			snprintf(c->launch_uri, sizeof c->launch_uri, "%s", v);
			break;
		case 'J': as_json = true; break;
		case 'h': fputs(client_help, stdout); rc = 0; goto out;
		default: fputs(client_help, stderr); goto out;
		}
	}
	if (optind < argc || !c->name[0] || !c->type[0] || !c->scopes[0]) {
		fputs(client_help, stderr);
		goto out;
	}
	rc = 1;
	if (strcmp(c->type, "patient-app") && strcmp(c->type, "confidential") && strcmp(c->type, "backend")) {
		fprintf(stderr, "phiportal: --type must be patient-app, confidential or backend\n");
		goto out;
	}
	if (pp_oauth_scope_parse(c->scopes, scopes)) {
		fprintf(stderr, "phiportal: --scopes is not a valid SMART scope list\n");
		goto out;
	}
	for (int i = 0; i < scopes->n; i++) {
		bool sys = scopes->items[i].context == PP_SCOPE_SYSTEM;
		if (sys != !strcmp(c->type, "backend")) {
			fprintf(stderr, "phiportal: backend services hold only system/ scopes, and only they "
			        "may hold them\n");
			goto out;
		}
	}
	if (c->launch_uri[0] && strcmp(c->type, "confidential")) {
		fprintf(stderr, "phiportal: only confidential apps (acting for the organisation, with a "
		        "BAA) can be launched by staff (--launch-uri)\n");
		goto out;
	}
	if (strcmp(c->type, "backend") && !c->redirect_uris[0]) {
		fprintf(stderr, "phiportal: apps need at least one --redirect-uri\n");
		goto out;
	}
	if (jwks) {
		snprintf(c->jwks, sizeof c->jwks, "%s", jwks);
		if (pp_oauth_jwks_check(c->jwks)) {
			fprintf(stderr, "phiportal: the JWKS must hold public RSA (2048+ bits) or EC keys "
			        "and no private or symmetric keys\n");
			goto out;
		}
	}
	if (c->jwks[0] && c->jwks_uri[0]) {
		fprintf(stderr, "phiportal: give the keys either by value (--jwks) or by URL (--jwks-uri), "
		        "not both\n");
		goto out;
	}
	if (strcmp(c->type, "patient-app") && !c->jwks[0] && !c->jwks_uri[0]) {
		fprintf(stderr, "phiportal: confidential apps and backend services need --jwks or "
		        "--jwks-uri (private_key_jwt)\n");
		goto out;
	}
	if (pp_iplist_check(c->ip_allow) || pp_iplist_check(c->ip_deny)) {
		fprintf(stderr, "phiportal: --ip-allow/--ip-deny take CIDRs such as 10.0.0.0/8 or 2001:db8::/32\n");
		goto out;
	}
	if ((c->baa_signed[0] && parse_date(c->baa_signed, &days)) ||
	    (c->baa_expires[0] && parse_date(c->baa_expires, &days))) {
		fprintf(stderr, "phiportal: BAA dates are YYYY-MM-DD\n");
		goto out;
	}
	if (!c->client_id[0]) {
		uint8_t rnd[16];
		if (pp_random(rnd, sizeof rnd))
			goto out;
		pp_b64url_encode(rnd, sizeof rnd, c->client_id);
	}
	for (const char *p = c->client_id; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *p)) {
			fprintf(stderr, "phiportal: --client-id may hold letters, digits, '-', '_' and '.'\n");
			goto out;
		}
	snprintf(c->status, sizeof c->status, "active");
	c->created_ms = pp_clock_now_ms();
	rc = pp_store_oauth_client_insert(st, c);
	if (rc == PP_EEXISTS) {
		fprintf(stderr, "phiportal: a client with that id exists\n");
		rc = 1;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "phiportal: cannot store the client: %s\n", pp_strerror(rc));
		rc = 1;
		goto out;
	}
	if (cli_audit(audit, "client.add", c->client_id, "success", c->type)) {
		rc = 1;
		goto out;
	}
	if (as_json) {
		printf("{\"client_id\":\"%s\",\"type\":\"%s\"}\n", c->client_id, c->type);
	} else {
		printf("Registered %s client %s\n", c->type, c->client_id);
		if (pp_oauth_client_needs_baa(c) && !c->baa_expires[0])
			printf("warning: no BAA on file: this client gets no token until one is recorded\n");
	}
	rc = 0;
out:
	if (jwks)
		free(jwks);
	free(scopes);
	free(c);
	return rc;
}

typedef struct list_ctx { json_t *arr; bool as_json; int64_t now; } list_ctx;

static int list_one(void *vctx, const pp_store_oauth_client *c)
{
	list_ctx *l = vctx;
	const char *why = NULL;

	pp_oauth_client_usable(c, l->now, &why);
	if (l->as_json) {
		json_array_append_new(l->arr, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:s?}",
			"client_id", c->client_id, "name", c->name, "owner", c->owner, "purpose", c->purpose,
			"type", c->type, "scopes", c->scopes, "redirect_uris", c->redirect_uris, "jwks_uri",
			c->jwks_uri, "ip_allow", c->ip_allow, "ip_deny", c->ip_deny, "rate_per_min",
			c->rate_per_min, "status", c->status, "baa_vendor", c->baa_vendor, "baa_signed",
			c->baa_signed, "baa_expires", c->baa_expires, "launch_uri", c->launch_uri, "has_jwks", c->jwks[0] != 0,
			"token_refused", why));
	} else {
		printf("%-24s %-12s %-9s %-24.24s baa:%-10s %s\n", c->client_id, c->type, c->status, c->name,
		       c->baa_expires[0] ? c->baa_expires : "-", why ? why : "ok");
	}
	return 0;
}

int pp_oauth_cli(const pp_config *cfg, pp_store *st, pp_crypto *crypto, pp_audit *audit, int argc,
                 char **argv)
{
	(void)crypto;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(client_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "add"))
		return cli_add(cfg, st, audit, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list")) {
		list_ctx l = {.arr = json_array(), .as_json = argc > 2 && !strcmp(argv[2], "--json"),
		              .now = pp_clock_now_ms()};
		int rc = pp_store_oauth_client_each(st, list_one, &l);
		if (!rc && l.as_json) {
			char *t = json_dumps(l.arr, JSON_INDENT(2));
			if (t)
				printf("%s\n", t);
			free(t);
		}
		json_decref(l.arr);
		return rc ? 1 : 0;
	}
	if ((!strcmp(argv[1], "suspend") || !strcmp(argv[1], "activate")) && argc == 3) {
		bool suspend = !strcmp(argv[1], "suspend");
		int rc = pp_store_oauth_client_set_status(st, argv[2], suspend ? "suspended" : "active");
		if (rc == PP_ENOTFOUND) {
			fprintf(stderr, "phiportal: no such client\n");
			return 1;
		}
		if (rc || cli_audit(audit, suspend ? "client.suspend" : "client.activate", argv[2],
		                    "success", NULL))
			return 1;
		printf("%s %s\n", suspend ? "Suspended" : "Activated", argv[2]);
		return 0;
	}
	fputs(client_help, stderr);
	return 2;
}

int pp_oauth_demo_clients(pp_oauth *o, FILE *report)
{
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	pp_audit_event ev = {.actor = "system:cli", .actor_role = "operator", .action = "client.add",
	                     .outcome = "success", .detail = "patient-app demo", .purpose = "operations",
	                     .resource_type = "OAuthClient", .resource_id = "demo-patient-app"};
	int rc;

	if (!c)
		return PP_ENOMEM;
	snprintf(c->client_id, sizeof c->client_id, "demo-patient-app");
	snprintf(c->name, sizeof c->name, "Demo Health Viewer");
	snprintf(c->owner, sizeof c->owner, "phiportal demo");
	snprintf(c->purpose, sizeof c->purpose, "Try the SMART standalone patient launch by hand");
	snprintf(c->type, sizeof c->type, "patient-app");
	snprintf(c->scopes, sizeof c->scopes,
	         "openid fhirUser profile launch/patient offline_access online_access patient/*.rs");
	snprintf(c->redirect_uris, sizeof c->redirect_uris, "http://127.0.0.1:8765/callback");
	snprintf(c->status, sizeof c->status, "active");
	c->rate_per_min = 600;
	c->created_ms = pp_clock_now_ms();
	rc = pp_store_oauth_client_insert(o->st, c);
	if (!rc)
		rc = pp_audit_record(o->audit, &ev);
	if (!rc && report)
		fprintf(report, "\nDemo SMART app (public client, PKCE S256):\n"
		        "  client_id     %s\n  redirect_uri  %s\n  scopes        %s\n"
		        "  authorize at  %s/oauth/authorize?response_type=code&client_id=%s"
		        "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A8765%%2Fcallback"
		        "&scope=launch%%2Fpatient%%20openid%%20fhirUser%%20patient%%2F*.rs"
		        "&state=STATE&aud=%s&code_challenge=CHALLENGE&code_challenge_method=S256\n",
		        c->client_id, c->redirect_uris, c->scopes, o->issuer, c->client_id, o->fhir_base);
	free(c);
	return rc;
}
