/* auth/sso: the checks that need no network — ID-token claims, the discovery document and the
 * token response. Everything here reads untrusted JSON (from the provider) and is fuzzed
 * (fuzz/fuzz_sso_claims.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sso.h"

#define DOC_MAX (64 * 1024)
#define DOC_DEPTH 16
#define ID_TOKEN_MAX 16384

bool pp_sso_loopback_http(const char *u)
{
	static const char *const ok[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};

	if (!u)
		return false;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		size_t n = strlen(ok[i]);
		if (!strncmp(u, ok[i], n) && (u[n] == '\0' || u[n] == ':' || u[n] == '/'))
			return true;
	}
	return false;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* a whole word of a space-separated list */
static bool in_list(const char *list, const char *word)
{
	size_t n = strlen(word);

	if (!list || !n)
		return false;
	for (const char *p = list; *p;) {
		size_t len;
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == n && !strncmp(p, word, n))
			return true;
		p += len;
	}
	return false;
}

static bool aud_has(json_t *aud, const char *want, size_t *count)
{
	size_t i;
	json_t *e;
	bool hit = false;

	*count = 0;
	if (json_is_string(aud)) {
		*count = 1;
		return !strcmp(json_string_value(aud), want);
	}
	json_array_foreach(aud, i, e) {
		(*count)++;
		if (json_is_string(e) && !strcmp(json_string_value(e), want))
			hit = true;
	}
	return hit;
}

static bool int_claim(json_t *claims, const char *key, int64_t *v)
{
	json_t *j = json_object_get(claims, key);

	if (!json_is_integer(j))
		return false;
	*v = json_integer_value(j);
	return true;
}

static bool mfa_asserted(const pp_sso_expect *e, json_t *claims)
{
	json_t *amr = json_object_get(claims, "amr"), *x;
	const char *acr = str(claims, "acr");
	size_t i;

	json_array_foreach(amr, i, x)
		if (json_is_string(x) && in_list(e->required_amr, json_string_value(x)))
			return true;
	return e->required_acr && e->required_acr[0] && acr && !strcmp(acr, e->required_acr);
}

int pp_sso_claims_check(const pp_sso_expect *e, json_t *claims, char **value, bool *mfa,
                        const char **why)
{
	const char *s, *nonce;
	json_t *v;
	size_t naud = 0, n;
	int64_t exp, iat;
	char *val = NULL;

	*why = "id-token-claims";
	if (value)
		*value = NULL;
	if (mfa)
		*mfa = false;
	if (!e || !e->issuer || !e->client_id || !e->nonce || !e->match_claim || !value || !mfa ||
	    !json_is_object(claims))
		return PP_EDENIED;
	*why = "iss-mismatch";
	if (!(s = str(claims, "iss")) || strcmp(s, e->issuer))
		return PP_EDENIED;
	*why = "aud-mismatch";
	if (!aud_has(json_object_get(claims, "aud"), e->client_id, &naud))
		return PP_EDENIED;
	/* azp, when present, must name us; with several audiences it must be present */
	s = str(claims, "azp");
	if (json_object_get(claims, "azp") && (!s || strcmp(s, e->client_id)))
		return PP_EDENIED;
	if (naud > 1 && !s)
		return PP_EDENIED;
	*why = "expired";
	if (!int_claim(claims, "exp", &exp) || exp + PP_SSO_LEEWAY_S <= e->now_s)
		return PP_EDENIED;
	*why = "iat-invalid";
	if (!int_claim(claims, "iat", &iat) || iat > e->now_s + PP_SSO_LEEWAY_S ||
	    iat < e->now_s - PP_SSO_IAT_MAX_AGE_S - PP_SSO_LEEWAY_S)
		return PP_EDENIED;
	*why = "sub-missing";
	if (!(s = str(claims, "sub")) || !*s)
		return PP_EDENIED;
	*why = "nonce-mismatch";
	nonce = str(claims, "nonce");
	if (!nonce || strlen(nonce) != strlen(e->nonce) ||
	    pp_ct_compare(nonce, e->nonce, strlen(e->nonce)))
		return PP_EDENIED;
	*why = "match-claim-missing";
	if (!(s = str(claims, e->match_claim)) || !(n = strlen(s)) || n > PP_SSO_VALUE_MAX ||
	    memchr(s, '|', n))
		return PP_EDENIED;
	if (!strcmp(e->match_claim, "email")) {
		/* an address the provider says it has not verified identifies nobody */
		v = json_object_get(claims, "email_verified");
		*why = "email-not-verified";
		if (v && !json_is_true(v))
			return PP_EDENIED;
	}
	*mfa = mfa_asserted(e, claims);
	*why = "mfa-not-asserted";
	if (e->mfa_idp && !*mfa)
		return PP_EDENIED;
	*why = "internal";
	if (!(val = pp_strdup(s)))
		return PP_ENOMEM;
	if (!strcmp(e->match_claim, "email"))
		for (char *p = val; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	*value = val;
	*why = NULL;
	return PP_OK;
}

static json_t *load(const char *json, size_t len, size_t max)
{
	json_error_t err;

	if (!json || !len || len > max || pp_json_check_depth(json, len, DOC_DEPTH))
		return NULL;
	return json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
}

static bool endpoint_ok(const char *u, bool loopback)
{
	size_t n = u ? strlen(u) : 0;

	if (!n || n >= 512)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f || u[i] == '#')
			return false;
	if (!strncmp(u, "https://", 8))
		return u[8] && u[8] != '/';
	return loopback && pp_sso_loopback_http(u);
}

int pp_sso_discovery_parse(const char *json, size_t len, const char *issuer, pp_sso_endpoints *out,
                           const char **why)
{
	json_t *doc = NULL;
	const char *iss, *a, *t, *j;
	bool loopback = pp_sso_loopback_http(issuer);
	int rc = PP_EINVAL;

	*why = "discovery-invalid";
	memset(out, 0, sizeof *out);
	if (!issuer || !(doc = load(json, len, DOC_MAX)) || !json_is_object(doc))
		goto out;
	*why = "discovery-issuer-mismatch";
	if (!(iss = str(doc, "issuer")) || strcmp(iss, issuer))
		goto out;
	*why = "discovery-endpoint-invalid";
	a = str(doc, "authorization_endpoint");
	t = str(doc, "token_endpoint");
	j = str(doc, "jwks_uri");
	if (!endpoint_ok(a, loopback) || !endpoint_ok(t, loopback) || !endpoint_ok(j, loopback))
		goto out;
	memcpy(out->authorization, a, strlen(a) + 1);
	memcpy(out->token, t, strlen(t) + 1);
	memcpy(out->jwks_uri, j, strlen(j) + 1);
	*why = NULL;
	rc = PP_OK;
out:
	json_decref(doc);
	return rc;
}

int pp_sso_token_response_parse(const char *json, size_t len, char **id_token, const char **why)
{
	json_t *doc = NULL;
	const char *t, *type;
	int rc = PP_EINVAL;

	*id_token = NULL;
	*why = "token-response-invalid";
	if (!(doc = load(json, len, DOC_MAX)) || !json_is_object(doc))
		goto out;
	type = str(doc, "token_type");
	t = str(doc, "id_token");
	if (!t || !*t || strlen(t) > ID_TOKEN_MAX || (type && strcasecmp(type, "Bearer") &&
	                                               strcasecmp(type, "DPoP")))
		goto out;
	rc = PP_ENOMEM;
	if (!(*id_token = pp_strdup(t)))
		goto out;
	*why = NULL;
	rc = PP_OK;
out:
	json_decref(doc);
	return rc;
}
