/* auth/sso: the checks that need no provider — ID-token claims (iss, aud/azp, exp/iat, nonce, the
 * match claim, MFA through amr/acr), the discovery document, the token response, and the start-up
 * checks of the SSO configuration. The whole flow against a real provider is in
 * tests/api/sso.test.mjs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#include "auth/sso.h"

#define NOW 1800000000

static pp_sso_expect expect(bool idp)
{
	return (pp_sso_expect){.issuer = "https://idp.example.org", .client_id = "portal",
	                       .nonce = "n-0123456789", .match_claim = "email", .mfa_idp = idp,
	                       .required_amr = "mfa otp hwk swk sms", .required_acr = "", .now_s = NOW};
}

static json_t *good(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:b, s:[s,s]}", "iss",
	                 "https://idp.example.org", "aud", "portal", "sub", "abc", "exp",
	                 (json_int_t)NOW + 300, "iat", (json_int_t)NOW - 5, "nonce", "n-0123456789",
	                 "email", "Dr.Who@Example.ORG", "email_verified", 1, "amr", "pwd", "otp");
}

/* checks claims after one change; returns the reason (NULL on success) */
static const char *check(bool idp, const char *key, json_t *value, bool *mfa)
{
	pp_sso_expect e = expect(idp);
	json_t *c = good();
	char *v = NULL;
	const char *why = NULL;
	bool m = false;
	int rc;

	if (key && value)
		json_object_set_new(c, key, value);
	else if (key)
		json_object_del(c, key);
	rc = pp_sso_claims_check(&e, c, &v, &m, &why);
	assert_true((rc == 0) == (why == NULL));
	assert_true((rc == 0) == (v != NULL));
	if (v)
		assert_string_equal(v, "dr.who@example.org");   /* e-mail addresses lower-cased */
	free(v);
	json_decref(c);
	if (mfa)
		*mfa = m;
	return why;
}

static void test_claims_ok(void **state)
{
	bool mfa = false;
	(void)state;
	assert_null(check(true, NULL, NULL, &mfa));
	assert_true(mfa);
	/* several audiences need azp naming us */
	assert_string_equal(check(false, "aud", json_pack("[s,s]", "portal", "other"), NULL), "aud-mismatch");
	{
		pp_sso_expect e = expect(false);
		json_t *c = good();
		char *v = NULL;
		const char *why;
		json_object_set_new(c, "aud", json_pack("[s,s]", "portal", "other"));
		json_object_set_new(c, "azp", json_string("portal"));
		bool m;
		assert_int_equal(pp_sso_claims_check(&e, c, &v, &m, &why), 0);
		free(v);
		json_object_set_new(c, "azp", json_string("other"));
		assert_int_equal(pp_sso_claims_check(&e, c, &v, &m, &why), PP_EDENIED);
		json_decref(c);
	}
}

static void test_claims_refused(void **state)
{
	(void)state;
	assert_string_equal(check(false, "iss", json_string("https://evil.example.org"), NULL), "iss-mismatch");
	assert_string_equal(check(false, "iss", NULL, NULL), "iss-mismatch");
	assert_string_equal(check(false, "aud", json_string("other"), NULL), "aud-mismatch");
	assert_string_equal(check(false, "aud", json_integer(1), NULL), "aud-mismatch");
	assert_string_equal(check(false, "exp", json_integer(NOW - PP_SSO_LEEWAY_S - 1), NULL), "expired");
	assert_null(check(false, "exp", json_integer(NOW - 10), NULL));   /* within the leeway */
	assert_string_equal(check(false, "exp", json_string("soon"), NULL), "expired");
	assert_string_equal(check(false, "iat", json_integer(NOW + 3600), NULL), "iat-invalid");
	assert_string_equal(check(false, "iat", json_integer(NOW - 7200), NULL), "iat-invalid");
	assert_string_equal(check(false, "sub", NULL, NULL), "sub-missing");
	assert_string_equal(check(false, "nonce", json_string("n-0123456788"), NULL), "nonce-mismatch");
	assert_string_equal(check(false, "nonce", json_string("n-01234567890"), NULL), "nonce-mismatch");
	assert_string_equal(check(false, "nonce", NULL, NULL), "nonce-mismatch");
	assert_string_equal(check(false, "email", NULL, NULL), "match-claim-missing");
	assert_string_equal(check(false, "email", json_string("a|b@example.org"), NULL), "match-claim-missing");
	assert_string_equal(check(false, "email_verified", json_false(), NULL), "email-not-verified");
	assert_null(check(false, "email_verified", NULL, NULL));
}

static void test_claims_mfa(void **state)
{
	bool mfa = true;
	(void)state;
	assert_string_equal(check(true, "amr", json_pack("[s]", "pwd"), NULL), "mfa-not-asserted");
	assert_string_equal(check(true, "amr", NULL, NULL), "mfa-not-asserted");
	assert_string_equal(check(true, "amr", json_string("otp"), NULL), "mfa-not-asserted");
	assert_null(check(false, "amr", json_pack("[s]", "pwd"), &mfa));   /* local MFA: no need */
	assert_false(mfa);
	assert_null(check(true, "amr", json_pack("[s,s]", "pwd", "hwk"), NULL));
	{
		pp_sso_expect e = expect(true);
		json_t *c = good();
		char *v = NULL;
		const char *why;
		bool m;
		json_object_del(c, "amr");
		json_object_set_new(c, "acr", json_string("urn:example:mfa"));
		assert_int_equal(pp_sso_claims_check(&e, c, &v, &m, &why), PP_EDENIED);
		e.required_acr = "urn:example:mfa";
		assert_int_equal(pp_sso_claims_check(&e, c, &v, &m, &why), 0);
		assert_true(m);
		free(v);
		json_decref(c);
	}
}

static void test_discovery(void **state)
{
	pp_sso_endpoints ep;
	const char *why;
	static const char doc[] = "{\"issuer\":\"https://idp.example.org\","
		"\"authorization_endpoint\":\"https://idp.example.org/auth\","
		"\"token_endpoint\":\"https://idp.example.org/token\","
		"\"jwks_uri\":\"https://idp.example.org/jwks\"}";
	static const char http_ep[] = "{\"issuer\":\"https://idp.example.org\","
		"\"authorization_endpoint\":\"https://idp.example.org/auth\","
		"\"token_endpoint\":\"http://idp.example.org/token\","
		"\"jwks_uri\":\"https://idp.example.org/jwks\"}";
	static const char loop[] = "{\"issuer\":\"http://127.0.0.1:9\","
		"\"authorization_endpoint\":\"http://127.0.0.1:9/auth\","
		"\"token_endpoint\":\"http://127.0.0.1:9/token\",\"jwks_uri\":\"http://127.0.0.1:9/jwks\"}";
	(void)state;
	assert_int_equal(pp_sso_discovery_parse(doc, strlen(doc), "https://idp.example.org", &ep, &why), 0);
	assert_string_equal(ep.token, "https://idp.example.org/token");
	assert_int_equal(pp_sso_discovery_parse(doc, strlen(doc), "https://other.example.org", &ep, &why),
	                 PP_EINVAL);
	assert_string_equal(why, "discovery-issuer-mismatch");
	assert_int_equal(pp_sso_discovery_parse(http_ep, strlen(http_ep), "https://idp.example.org", &ep,
	                                        &why), PP_EINVAL);
	assert_string_equal(why, "discovery-endpoint-invalid");
	assert_int_equal(pp_sso_discovery_parse(loop, strlen(loop), "http://127.0.0.1:9", &ep, &why), 0);
	assert_int_equal(pp_sso_discovery_parse("[1]", 3, "https://idp.example.org", &ep, &why), PP_EINVAL);
	assert_int_equal(pp_sso_discovery_parse("{\"issuer\":1,\"issuer\":2}", 23, "x", &ep, &why),
	                 PP_EINVAL);
	assert_true(pp_sso_loopback_http("http://localhost:80/x"));
	assert_true(pp_sso_loopback_http("http://[::1]"));
	assert_false(pp_sso_loopback_http("http://localhost.evil.org"));
	assert_false(pp_sso_loopback_http("http://127.0.0.1.nip.io"));
}

static void test_token_response(void **state)
{
	char *t = NULL;
	const char *why;
	static const char ok[] = "{\"access_token\":\"x\",\"token_type\":\"Bearer\",\"id_token\":\"a.b.c\"}";
	static const char none[] = "{\"access_token\":\"x\",\"token_type\":\"Bearer\"}";
	static const char mac[] = "{\"token_type\":\"mac\",\"id_token\":\"a.b.c\"}";
	(void)state;
	assert_int_equal(pp_sso_token_response_parse(ok, strlen(ok), &t, &why), 0);
	assert_string_equal(t, "a.b.c");
	free(t);
	assert_int_equal(pp_sso_token_response_parse(none, strlen(none), &t, &why), PP_EINVAL);
	assert_null(t);
	assert_int_equal(pp_sso_token_response_parse(mac, strlen(mac), &t, &why), PP_EINVAL);
	assert_int_equal(pp_sso_token_response_parse("", 0, &t, &why), PP_EINVAL);
}

static void test_check_config(void **state)
{
	pp_config c;
	pp_buf rep;
	char dir[] = "/tmp/pp-sso-XXXXXX", path[512];
	FILE *f;
	(void)state;
	assert_non_null(mkdtemp(dir));
	pp_config_defaults(&c, dir);
	pp_buf_init(&rep, 1 << 16);
	assert_int_equal(pp_sso_check_config(&c, &rep), 0);   /* off: nothing to check */
	c.sso_enabled = true;
	assert_true(pp_sso_check_config(&c, &rep) >= 3);   /* issuer, client_id, secret file */
	snprintf(c.sso_issuer, sizeof c.sso_issuer, "https://idp.example.org");
	snprintf(c.sso_client_id, sizeof c.sso_client_id, "portal");
	snprintf(c.sso_client_secret_file, sizeof c.sso_client_secret_file, "secret");
	snprintf(path, sizeof path, "%s/secret", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("s3cret\n", f);
	fclose(f);
	chmod(path, 0644);
	pp_buf_reset(&rep);
	assert_int_equal(pp_sso_check_config(&c, &rep), 1);
	assert_non_null(strstr(pp_buf_cstr(&rep), "sso.client_secret_file"));
	chmod(path, 0600);
	assert_int_equal(pp_sso_check_config(&c, &rep), 0);
	snprintf(c.sso_scopes, sizeof c.sso_scopes, "email profile");
	assert_int_equal(pp_sso_check_config(&c, &rep), 1);
	unlink(path);
	rmdir(dir);
	pp_buf_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claims_ok),
		cmocka_unit_test(test_claims_refused),
		cmocka_unit_test(test_claims_mfa),
		cmocka_unit_test(test_discovery),
		cmocka_unit_test(test_token_response),
		cmocka_unit_test(test_check_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
