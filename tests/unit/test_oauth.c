/* Unit tests for oauth/: SMART scope parsing (v2 letters, granular, wildcards, contexts, v1
 * forms, malformed input), the allow decision with granular restrictions, intersections (what is
 * granted) and subsets (refresh may not widen), canonical formatting, plain-language consent text;
 * CIDR allow/deny lists for IPv4 and IPv6; BAA rules; the token bucket; the store's single-use
 * codes and refresh reuse detection; signing keys generated once, sealed, and ID tokens signed;
 * jwks_uri rules (https only, kid lookup, size cap, failures never yield a key set). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "oauth/oauth_internal.h"

static pp_scope_set *parse(const char *text)
{
	static pp_scope_set s;
	assert_int_equal(pp_oauth_scope_parse(text, &s), PP_OK);
	return &s;
}

static char *fmt(const pp_scope_set *s)
{
	static char out[4096];
	pp_buf b;
	pp_buf_init(&b, 4096);
	assert_int_equal(pp_oauth_scope_format(s, &b), PP_OK);
	snprintf(out, sizeof out, "%s", pp_buf_cstr(&b));
	pp_buf_free(&b);
	return out;
}

static void test_scope_parse_v2(void **state)
{
	pp_scope_set *s;
	(void)state;
	s = parse("openid fhirUser launch/patient offline_access patient/Observation.rs?category=laboratory "
	          "patient/*.cruds user/Patient.r system/Condition.s launch/encounter unknown");
	assert_true(s->openid && s->fhir_user && s->launch_patient && s->offline_access);
	assert_false(s->profile || s->online_access || s->launch);
	assert_int_equal(s->n, 4);
	assert_int_equal(s->items[0].context, PP_SCOPE_PATIENT);
	assert_string_equal(s->items[0].resource_type, "Observation");
	assert_int_equal(s->items[0].interactions, PP_SCOPE_R | PP_SCOPE_S);
	assert_string_equal(s->items[0].param_name, "category");
	assert_string_equal(s->items[0].param_value, "laboratory");
	assert_string_equal(s->items[1].resource_type, "*");
	assert_int_equal(s->items[1].interactions, 31);
	assert_int_equal(s->items[2].context, PP_SCOPE_USER);
	assert_int_equal(s->items[3].context, PP_SCOPE_SYSTEM);
	assert_int_equal(s->items[3].interactions, PP_SCOPE_S);
	assert_string_equal(fmt(s), "openid fhirUser launch/patient offline_access "
	                    "patient/Observation.rs?category=laboratory patient/*.cruds user/Patient.r "
	                    "system/Condition.s");
}

static void test_scope_parse_v1(void **state)
{
	pp_scope_set *s;
	(void)state;
	s = parse("patient/*.read user/Observation.write system/Patient.*");
	assert_int_equal(s->n, 3);
	assert_int_equal(s->items[0].interactions, PP_SCOPE_R | PP_SCOPE_S);
	assert_int_equal(s->items[1].interactions, PP_SCOPE_C | PP_SCOPE_U | PP_SCOPE_D);
	assert_int_equal(s->items[2].interactions, 31);
	assert_true(s->items[0].v1);
	assert_string_equal(fmt(s), "patient/*.read user/Observation.write system/Patient.*");
	/* duplicates collapse; extra spaces are fine */
	s = parse("  patient/*.rs   patient/*.rs ");
	assert_int_equal(s->n, 1);
	s = parse("");
	assert_int_equal(s->n, 0);
}

static void test_scope_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"patient/Observation.sr",          /* letters out of order */
		"patient/Observation.rr",          /* repeated */
		"patient/Observation.x",
		"patient/Observation.",
		"patient/.rs",
		"patient/observation.rs",          /* types start upper-case */
		"patient/Obs-ervation.rs",
		"patient/Observation",
		"patient/Observation.read?category=laboratory",   /* v1 forms take no restriction */
		"patient/Observation.rs?category",
		"patient/Observation.rs?=x",
		"patient/Observation.rs?a=1&b=2",
		"patient/Observation.rs?category=",
		"patient/*.rs\"",
		"patient/\x01.rs",
	};
	pp_scope_set s;
	char big[3000];
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_not_equal(pp_oauth_scope_parse(bad[i], &s), PP_OK);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(pp_oauth_scope_parse(big, &s), PP_ETOOBIG);
	/* more than 64 scopes */
	{
		pp_buf b;
		pp_buf_init(&b, 8192);
		for (int i = 0; i < 65; i++)
			pp_buf_appendf(&b, "patient/T%d.r ", i);
		assert_int_equal(pp_oauth_scope_parse(pp_buf_cstr(&b), &s), PP_ETOOBIG);
		pp_buf_free(&b);
	}
	assert_int_equal(pp_oauth_scope_parse(NULL, &s), PP_EINVAL);
}

static void test_scope_allows(void **state)
{
	pp_scope_set *s;
	json_t *lab = json_loads("{\"resourceType\":\"Observation\",\"category\":[{\"coding\":[{\"system\":"
	                         "\"http://terminology.hl7.org/CodeSystem/observation-category\","
	                         "\"code\":\"laboratory\"}]}]}", 0, NULL);
	json_t *vital = json_loads("{\"resourceType\":\"Observation\",\"category\":[{\"coding\":[{\"code\":"
	                           "\"vital-signs\"}]}]}", 0, NULL);
	(void)state;
	s = parse("patient/Observation.rs?category=laboratory patient/Condition.r");
	assert_true(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Observation", PP_SCOPE_R, lab));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Observation", PP_SCOPE_R, vital));
	assert_true(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Observation", PP_SCOPE_S, NULL));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Observation", PP_SCOPE_U, lab));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_USER, "Observation", PP_SCOPE_R, lab));
	assert_true(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Condition", PP_SCOPE_R, NULL));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Condition", PP_SCOPE_S, NULL));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Patient", PP_SCOPE_R, NULL));
	/* system|code form */
	s = parse("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
	assert_true(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Observation", PP_SCOPE_R, lab));
	s = parse("patient/Observation.rs?category=http://other|laboratory");
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Observation", PP_SCOPE_R, lab));
	/* wildcards and v1 */
	s = parse("patient/*.read");
	assert_true(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "MedicationRequest", PP_SCOPE_S, NULL));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "MedicationRequest", PP_SCOPE_C, NULL));
	assert_false(pp_oauth_scope_allows(NULL, PP_SCOPE_PATIENT, "Patient", PP_SCOPE_R, NULL));
	assert_false(pp_oauth_scope_allows(s, PP_SCOPE_PATIENT, "Patient", 0, NULL));
	json_decref(lab);
	json_decref(vital);
}

static void test_scope_intersect_subset(void **state)
{
	pp_scope_set req, reg, out, *p;
	(void)state;
	pp_oauth_scope_parse("openid offline_access launch/patient patient/*.cruds system/*.rs", &req);
	pp_oauth_scope_parse("openid launch/patient patient/Observation.rs patient/Condition.r", &reg);
	assert_int_equal(pp_oauth_scope_intersect(&req, &reg, &out), PP_OK);
	assert_string_equal(fmt(&out), "openid launch/patient patient/Observation.rs patient/Condition.r");
	pp_oauth_scope_parse("patient/Observation.rs", &req);
	pp_oauth_scope_parse("patient/*.rs?category=laboratory", &reg);
	pp_oauth_scope_intersect(&req, &reg, &out);
	assert_string_equal(fmt(&out), "patient/Observation.rs?category=laboratory");
	pp_oauth_scope_parse("patient/*.read", &req);
	pp_oauth_scope_parse("patient/*.rs", &reg);
	pp_oauth_scope_intersect(&req, &reg, &out);
	assert_string_equal(fmt(&out), "patient/*.read");
	/* subsets */
	pp_oauth_scope_parse("patient/Observation.r", &req);
	pp_oauth_scope_parse("patient/*.rs", &reg);
	assert_true(pp_oauth_scope_subset(&req, &reg));
	assert_false(pp_oauth_scope_subset(&reg, &req));
	pp_oauth_scope_parse("openid patient/Observation.r", &req);
	assert_false(pp_oauth_scope_subset(&req, &reg));
	pp_oauth_scope_parse("patient/Observation.rs?category=laboratory", &req);
	pp_oauth_scope_parse("patient/Observation.rs?category=vital-signs", &reg);
	assert_false(pp_oauth_scope_subset(&req, &reg));
	/* plain words */
	p = parse("openid patient/Observation.rs?category=laboratory patient/MedicationRequest.rs "
	          "patient/Condition.cruds offline_access");
	{
		json_t *w = pp_oauth_scope_describe(p);
		char *t = json_dumps(w, 0);
		assert_non_null(strstr(t, "Your lab results"));
		assert_non_null(strstr(t, "Your medications"));
		assert_non_null(strstr(t, "(and may change them)"));
		assert_non_null(strstr(t, "until you disconnect it"));
		free(t);
		json_decref(w);
	}
}

static void test_redirect_and_baa(void **state)
{
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	const char *why;
	int64_t day = 86400000LL;
	(void)state;
	assert_true(pp_oauth_redirect_registered("https://a/cb https://b/cb", "https://b/cb"));
	assert_false(pp_oauth_redirect_registered("https://a/cb https://b/cb", "https://b/cb/"));
	assert_false(pp_oauth_redirect_registered("https://a/cb", "https://a/c"));
	assert_false(pp_oauth_redirect_registered("https://a/cb", ""));
	snprintf(c->type, sizeof c->type, "backend");
	snprintf(c->status, sizeof c->status, "active");
	assert_int_equal(pp_oauth_client_usable(c, 0, &why), PP_EDENIED);
	assert_string_equal(why, "baa-missing");
	snprintf(c->baa_vendor, sizeof c->baa_vendor, "Acme");
	snprintf(c->baa_expires, sizeof c->baa_expires, "2026-03-01");
	/* 2026-03-01 is day 20513: valid through that day, refused the day after */
	assert_int_equal(pp_oauth_client_usable(c, 20513 * day + day - 1, &why), PP_OK);
	assert_int_equal(pp_oauth_client_usable(c, 20514 * day, &why), PP_EDENIED);
	assert_string_equal(why, "baa-expired");
	snprintf(c->baa_expires, sizeof c->baa_expires, "2026-3-1");
	assert_int_equal(pp_oauth_client_usable(c, 0, &why), PP_EDENIED);
	assert_string_equal(why, "baa-missing");
	snprintf(c->type, sizeof c->type, "patient-app");
	assert_int_equal(pp_oauth_client_usable(c, 0, &why), PP_OK);
	snprintf(c->status, sizeof c->status, "suspended");
	assert_int_equal(pp_oauth_client_usable(c, 0, &why), PP_EDENIED);
	assert_string_equal(why, "client-suspended");
	free(c);
}

/* ---- store and keys ---- */
typedef struct fx {
	char dir[64];
	pp_store *st;
	pp_crypto *crypto;
	pp_audit *audit;
	pp_config cfg;
} fx;

static int fx_setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	char key[128], db[128], au[128];
	pp_audit_options o = {0};

	snprintf(f->dir, sizeof f->dir, "/tmp/pp_test_oauth_XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(key, sizeof key, "%s/k", f->dir);
	snprintf(db, sizeof db, "%s/db", f->dir);
	snprintf(au, sizeof au, "%s/audit.db", f->dir);
	pp_config_defaults(&f->cfg, f->dir);
	o.path = au;
	o.checkpoint_every = 1000;
	o.checkpoint_seconds = 3600;
	o.group_commit = true;
	o.busy_timeout_ms = 2000;
	if (pp_crypto_keyfile_create(key) || pp_store_open(&f->st, db) ||
	    pp_crypto_open(&f->crypto, key, f->st) || pp_audit_open(&f->audit, &o, f->crypto))
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx *f = *state;
	char cmd[128];
	pp_audit_close(f->audit);
	pp_crypto_free(f->crypto);
	pp_store_close(f->st);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd)) { /* best effort */ }
	free(f);
	return 0;
}

static void add_client(pp_store *st, const char *id)
{
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	snprintf(c->client_id, sizeof c->client_id, "%s", id);
	snprintf(c->name, sizeof c->name, "x");
	snprintf(c->type, sizeof c->type, "patient-app");
	snprintf(c->scopes, sizeof c->scopes, "patient/*.rs");
	assert_int_equal(pp_store_oauth_client_insert(st, c), PP_OK);
	assert_int_equal(pp_store_oauth_client_insert(st, c), PP_EEXISTS);
	free(c);
}

static void test_store_single_use(void **state)
{
	fx *f = *state;
	pp_store_oauth_code *k = calloc(1, sizeof *k), *got = calloc(1, sizeof *got);
	pp_store_oauth_family fam = {0};
	pp_store_oauth_access acc;
	uint8_t h[32] = {1}, rh[32] = {2}, ah[32] = {3};
	char fid[48];
	int64_t exp;

	add_client(f->st, "app1");
	snprintf(k->client_id, sizeof k->client_id, "app1");
	snprintf(k->family_id, sizeof k->family_id, "fam1");
	snprintf(k->scope, sizeof k->scope, "patient/*.rs");
	memcpy(k->code_hash, h, 32);
	k->created_ms = 1000;
	k->expires_ms = 61000;
	assert_int_equal(pp_store_oauth_code_insert(f->st, k), PP_OK);
	assert_int_equal(pp_store_oauth_code_consume(f->st, h, 2000, got), PP_OK);
	assert_string_equal(got->family_id, "fam1");
	assert_int_equal(pp_store_oauth_code_consume(f->st, h, 3000, got), PP_EEXISTS);   /* replay */
	rh[1] = 9;
	assert_int_equal(pp_store_oauth_code_consume(f->st, rh, 3000, got), PP_ENOTFOUND);
	rh[1] = 0;
	snprintf(fam.id, sizeof fam.id, "fam1");
	snprintf(fam.client_id, sizeof fam.client_id, "app1");
	snprintf(fam.scope, sizeof fam.scope, "patient/*.rs");
	fam.user_id = 7;
	assert_int_equal(pp_store_oauth_family_insert(f->st, &fam), PP_OK);
	assert_int_equal(pp_store_oauth_refresh_insert(f->st, rh, "fam1", 1, 100000), PP_OK);
	assert_int_equal(pp_store_oauth_access_insert(f->st, ah, "fam1", 1, 100000), PP_OK);
	assert_int_equal(pp_store_oauth_refresh_use(f->st, rh, 5, fid, &exp), PP_OK);
	assert_int_equal(pp_store_oauth_refresh_use(f->st, rh, 6, fid, &exp), PP_EEXISTS);   /* reuse */
	assert_string_equal(fid, "fam1");
	assert_int_equal(pp_store_oauth_access_get(f->st, ah, &acc), PP_OK);
	assert_int_equal(acc.family.revoked_ms, 0);
	assert_int_equal(pp_store_oauth_family_revoke(f->st, "fam1", "test", 77), PP_OK);
	assert_int_equal(pp_store_oauth_access_get(f->st, ah, &acc), PP_OK);
	assert_int_equal(acc.family.revoked_ms, 77);
	/* jti replay */
	assert_int_equal(pp_store_oauth_jti_use(f->st, "app1", "j1", 10000, 1), PP_OK);
	assert_int_equal(pp_store_oauth_jti_use(f->st, "app1", "j1", 10000, 2), PP_EEXISTS);
	assert_int_equal(pp_store_oauth_jti_use(f->st, "app2", "j1", 10000, 2), PP_OK);
	free(k);
	free(got);
}

static void test_keys_and_id_token(void **state)
{
	fx *f = *state;
	pp_oauth *o = NULL;
	char *tok = NULL, alg[16], kid1[4096];
	json_t *claims = json_pack("{s:s, s:s}", "iss", "https://x", "sub", "1"), *back = NULL, *jw;
	pp_store_oauth_key k;

	assert_int_equal(pp_oauth_open(&o, &f->cfg, f->st, f->crypto, f->audit, NULL), PP_OK);
	jw = json_loads(pp_oauth_jwks(o), 0, NULL);
	assert_int_equal(json_array_size(json_object_get(jw, "keys")), 2);
	snprintf(kid1, sizeof kid1, "%s", pp_oauth_jwks(o));
	assert_null(strstr(kid1, "\"d\""));   /* no private parts */
	json_decref(jw);
	assert_int_equal(pp_oauth_sign_id_token(o, claims, &tok), PP_OK);
	assert_int_equal(pp_oauth_jwt_inspect(tok, strlen(tok), alg, sizeof alg, &back), PP_OK);
	assert_string_equal(alg, "RS256");
	assert_string_equal(json_string_value(json_object_get(back, "sub")), "1");
	json_decref(back);
	free(tok);
	pp_oauth_close(o);
	/* reopening loads the same keys: the private part is sealed by crypto/ */
	assert_int_equal(pp_store_oauth_key_get(f->st, "RS256", &k), PP_OK);
	assert_true(k.private_enc_len > 100);
	assert_null(memmem(k.private_enc, k.private_enc_len, "\"d\"", 3));
	pp_store_oauth_key_clear(&k);
	assert_int_equal(pp_oauth_open(&o, &f->cfg, f->st, f->crypto, f->audit, NULL), PP_OK);
	assert_string_equal(pp_oauth_jwks(o), kid1);
	snprintf(f->cfg.oauth_id_token_alg, sizeof f->cfg.oauth_id_token_alg, "ES256");
	assert_int_equal(pp_oauth_sign_id_token(o, claims, &tok), PP_OK);
	assert_int_equal(pp_oauth_jwt_inspect(tok, strlen(tok), alg, sizeof alg, NULL), PP_OK);
	assert_string_equal(alg, "ES256");
	free(tok);
	pp_oauth_close(o);
	snprintf(f->cfg.oauth_id_token_alg, sizeof f->cfg.oauth_id_token_alg, "HS256");
	assert_int_equal(pp_oauth_open(&o, &f->cfg, f->st, f->crypto, f->audit, NULL), PP_ECONFIG);
	json_decref(claims);
	/* junk is not a JWT */
	assert_int_not_equal(pp_oauth_jwt_inspect("a.b.c", 5, alg, sizeof alg, NULL), PP_OK);
	assert_int_not_equal(pp_oauth_jwt_inspect("", 0, alg, sizeof alg, NULL), PP_OK);
	assert_int_not_equal(pp_oauth_jwks_check("{\"keys\":[]}"), PP_OK);
	assert_int_not_equal(pp_oauth_jwks_check("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}"), PP_OK);
	assert_int_not_equal(pp_oauth_jwks_check("nonsense"), PP_OK);
}

/* keys at a jwks_uri: only https:// URLs; kid lookup for the refetch-on-rotation rule; the size
 * cap of the JWKS check; fetch failures give a reason and never a key set */
static void test_jwks_uri(void **state)
{
	fx *f = *state;
	pp_oauth *o = NULL;
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	json_t *claims = json_pack("{s:s}", "iss", "x");
	char *tok = NULL, *got = NULL, big[600];
	const char *why = NULL, *jwks;

	assert_true(pp_oauth_jwks_uri_ok("https://keys.example.org/.well-known/jwks.json"));
	assert_true(pp_oauth_jwks_uri_ok("https://127.0.0.1:8443/jwks"));
	assert_false(pp_oauth_jwks_uri_ok("http://keys.example.org/jwks"));
	assert_false(pp_oauth_jwks_uri_ok("HTTPS://keys.example.org/jwks"));
	assert_false(pp_oauth_jwks_uri_ok("https://"));
	assert_false(pp_oauth_jwks_uri_ok("https:///jwks"));
	assert_false(pp_oauth_jwks_uri_ok("https://a b/jwks"));
	assert_false(pp_oauth_jwks_uri_ok("https://a/jwks\n"));
	assert_false(pp_oauth_jwks_uri_ok("https://a/jwks#k1"));
	assert_false(pp_oauth_jwks_uri_ok(NULL));
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "https://", 8);
	assert_false(pp_oauth_jwks_uri_ok(big));   /* longer than the registry column */

	assert_int_equal(pp_oauth_open(&o, &f->cfg, f->st, f->crypto, f->audit, NULL), PP_OK);
	jwks = pp_oauth_jwks(o);
	/* the server's own public set is a usable JWKS; the size cap is enforced */
	assert_int_equal(pp_oauth_jwks_check_max(jwks, PP_OAUTH_JWKS_MAX + 1), PP_OK);
	assert_int_not_equal(pp_oauth_jwks_check_max(jwks, strlen(jwks)), PP_OK);
	/* a JWT naming a kid of the set, and one naming a kid it lacks (the rotation case) */
	assert_int_equal(pp_oauth_sign_id_token(o, claims, &tok), PP_OK);
	assert_true(pp_oauth_jwks_has_kid(jwks, tok));
	assert_false(pp_oauth_jwks_has_kid("{\"keys\":[]}", tok));
	assert_false(pp_oauth_jwks_has_kid("nonsense", tok));
	assert_true(pp_oauth_jwks_has_kid(jwks, "not-a-jwt"));   /* verification refuses those */

	snprintf(c->client_id, sizeof c->client_id, "svc");
	snprintf(c->jwks_uri, sizeof c->jwks_uri, "http://127.0.0.1:1/jwks");
	assert_int_not_equal(pp_oauth_jwks_remote(o, c, false, &got, &why), PP_OK);
	assert_null(got);
	assert_string_equal(why, "jwks-uri-not-https");
	/* nothing listens on port 1: refused quickly, and the failure is not cached as a key set */
	snprintf(c->jwks_uri, sizeof c->jwks_uri, "https://127.0.0.1:1/jwks");
	for (int i = 0; i < 2; i++) {
		why = NULL;
		assert_int_not_equal(pp_oauth_jwks_remote(o, c, i == 1, &got, &why), PP_OK);
		assert_null(got);
		assert_string_equal(why, "jwks-fetch-failed");
	}
	/* a CA file that does not exist: TLS cannot be set up, so nothing is trusted */
	snprintf(f->cfg.oauth_jwks_ca_file, sizeof f->cfg.oauth_jwks_ca_file, "%s/none.pem", f->dir);
	assert_int_not_equal(pp_oauth_jwks_remote(o, c, false, &got, &why), PP_OK);
	assert_null(got);
	f->cfg.oauth_jwks_ca_file[0] = '\0';
	free(tok);
	json_decref(claims);
	pp_oauth_close(o);
	free(c);
}

/* bulk-read anomaly: the first hour flags on the threshold alone; later hours against the usual rate */
static void test_anomaly(void **state)
{
	pp_oauth_anomaly *a;
	long count = 0;
	double usual = 0;
	const int64_t H = 3600LL * 1000, t0 = 1000 * H;
	(void)state;
	assert_int_equal(pp_oauth_anomaly_new(&a), PP_OK);
	assert_false(pp_oauth_anomaly_note(a, "app", 90, t0, 100, 10, &count, &usual));
	assert_true(pp_oauth_anomaly_note(a, "app", 20, t0 + 1, 100, 10, &count, &usual));
	assert_int_equal(count, 110);
	assert_false(pp_oauth_anomaly_note(a, "app", 500, t0 + 2, 100, 10, NULL, NULL)); /* once an hour */
	assert_false(pp_oauth_anomaly_note(a, "other", 50, t0 + 3, 100, 10, NULL, NULL)); /* per client */
	/* next hour: usual is now ~610/h, so 1000 is not anomalous but 7000 is */
	assert_false(pp_oauth_anomaly_note(a, "app", 1000, t0 + H, 100, 10, &count, &usual));
	assert_true(usual > 600 && usual < 620);
	assert_true(pp_oauth_anomaly_note(a, "app", 6200, t0 + H + 5, 100, 10, &count, NULL));
	assert_false(pp_oauth_anomaly_note(a, "app", 0, t0 + H + 6, 100, 10, NULL, NULL));
	assert_false(pp_oauth_anomaly_note(a, "", 5000, t0, 100, 10, NULL, NULL));
	pp_oauth_anomaly_free(a);
	pp_oauth_anomaly_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anomaly),
		cmocka_unit_test(test_scope_parse_v2),
		cmocka_unit_test(test_scope_parse_v1),
		cmocka_unit_test(test_scope_parse_malformed),
		cmocka_unit_test(test_scope_allows),
		cmocka_unit_test(test_scope_intersect_subset),
		
		cmocka_unit_test(test_redirect_and_baa),
		
		cmocka_unit_test_setup_teardown(test_store_single_use, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_keys_and_id_token, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_jwks_uri, fx_setup, fx_teardown),
	};
	pp_log_set_level(PP_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
