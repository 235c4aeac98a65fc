/* oauth: JOSE through librhonabwy — the server's ID-token signing keys (RSA 2048 for RS256, P-256
 * for ES256; generated at first use, the private JWK sealed by crypto/ in oauth_signing_key), the
 * public JWKS served at /jwks, ID-token signing, and verification of private_key_jwt client
 * assertions (RS384/ES384 only, keys only from the client's registered JWKS or the set fetched
 * from its registered jwks_uri (jwks_uri.c); header-borne keys and URLs (jwk, jku, x5u) are never
 * followed). */
#include "oauth/oauth_internal.h"

#include <rhonabwy.h>
#include <stdlib.h>
#include <string.h>

#define JWT_MAX 8192

static const char *const KEY_TABLE = "oauth_signing_key";

/* generates and stores one signing key pair for alg ("RS256" or "ES256") */
static int key_generate(pp_oauth *o, const char *alg)
{
	jwk_t *priv = NULL, *pub = NULL;
	char *priv_json = NULL, *pub_json = NULL;
	uint8_t rnd[12];
	char kid[32];
	pp_store_oauth_key k;
	int rc = PP_ECRYPTO;
	bool rsa = !strcmp(alg, "RS256");

	memset(&k, 0, sizeof k);
	if (pp_random(rnd, sizeof rnd))
		goto out;
	pp_b64url_encode(rnd, sizeof rnd, kid);
	if (r_jwk_init(&priv) != RHN_OK || r_jwk_init(&pub) != RHN_OK)
		goto out;
	if (r_jwk_generate_key_pair(priv, pub, rsa ? R_KEY_TYPE_RSA : R_KEY_TYPE_EC, rsa ? 2048 : 256,
	                            kid) != RHN_OK)
		goto out;
	r_jwk_set_property_str(pub, "alg", alg);
	r_jwk_set_property_str(pub, "use", "sig");
	r_jwk_set_property_str(priv, "alg", alg);
	if (!(priv_json = r_jwk_export_to_json_str(priv, 0)) || !(pub_json = r_jwk_export_to_json_str(pub, 0)))
		goto out;
	k.id = pp_store_new_id();
	snprintf(k.kid, sizeof k.kid, "%s", kid);
	snprintf(k.alg, sizeof k.alg, "%s", alg);
	k.created_ms = pp_clock_now_ms();
	if ((rc = pp_crypto_seal(o->crypto, KEY_TABLE, "private", k.id, priv_json, strlen(priv_json),
	                         &k.private_enc, &k.private_enc_len)))
		goto out;
	k.public_jwk = pub_json;
	rc = pp_store_oauth_key_insert(o->st, &k);
	k.public_jwk = NULL;
out:
	if (priv_json) {
		pp_wipe(priv_json, strlen(priv_json));
		r_free(priv_json);
	}
	r_free(pub_json);
	pp_store_oauth_key_clear(&k);
	r_jwk_free(priv);
	r_jwk_free(pub);
	return rc;
}

/* loads (generating on first use) the key for alg; *priv and the public JWK appended to jwks */
static int key_load(pp_oauth *o, const char *alg, jwk_t **priv, json_t *jwks)
{
	pp_store_oauth_key k;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	json_t *pub = NULL;
	int rc;

	*priv = NULL;
	rc = pp_store_oauth_key_get(o->st, alg, &k);
	if (rc == PP_ENOTFOUND) {
		if ((rc = key_generate(o, alg)))
			return rc;
		rc = pp_store_oauth_key_get(o->st, alg, &k);
	}
	if (rc)
		return rc;
	if ((rc = pp_crypto_unseal(o->crypto, KEY_TABLE, "private", k.id, k.private_enc,
	                           k.private_enc_len, &pt, &ptlen)))
		goto out;
	rc = PP_ECRYPTO;
	if (r_jwk_init(priv) != RHN_OK || r_jwk_import_from_json_str(*priv, (const char *)pt) != RHN_OK)
		goto out;
	if (!(pub = json_loads(k.public_jwk, 0, NULL)) || json_array_append_new(jwks, pub))
		goto out;
	pub = NULL;
	rc = PP_OK;
out:
	json_decref(pub);
	if (rc) {
		r_jwk_free(*priv);
		*priv = NULL;
	}
	pp_crypto_free_plain(pt, ptlen);
	pp_store_oauth_key_clear(&k);
	return rc;
}

int pp_oauth_keys_load(pp_oauth *o)
{
	json_t *keys = json_array(), *doc = NULL;
	jwk_t *rs = NULL, *es = NULL;
	int rc;

	if (!keys)
		return PP_ENOMEM;
	if ((rc = key_load(o, "RS256", &rs, keys)) || (rc = key_load(o, "ES256", &es, keys)))
		goto out;
	rc = PP_ENOMEM;
	if (!(doc = json_pack("{s:O}", "keys", keys)) || !(o->jwks_json = json_dumps(doc, JSON_COMPACT)))
		goto out;
	o->rs_priv = rs;
	o->es_priv = es;
	rs = es = NULL;
	rc = PP_OK;
out:
	r_jwk_free(rs);
	r_jwk_free(es);
	json_decref(doc);
	json_decref(keys);
	return rc;
}

void pp_oauth_keys_free(pp_oauth *o)
{
	r_jwk_free(o->rs_priv);
	r_jwk_free(o->es_priv);
	free(o->jwks_json);
	o->rs_priv = o->es_priv = NULL;
	o->jwks_json = NULL;
}

const char *pp_oauth_jwks(pp_oauth *o)
{
	return o->jwks_json ? o->jwks_json : "{\"keys\":[]}";
}

int pp_oauth_sign_id_token(pp_oauth *o, json_t *claims, char **out)
{
	bool es = !strcmp(o->cfg->oauth_id_token_alg, "ES256");
	jwk_t *key = es ? o->es_priv : o->rs_priv;
	jwt_t *jwt = NULL;
	char *tok = NULL;
	int rc = PP_ECRYPTO;

	*out = NULL;
	if (!key)
		return PP_ECRYPTO;
	if (r_jwt_init(&jwt) != RHN_OK)
		return PP_ENOMEM;
	if (r_jwt_set_full_claims_json_t(jwt, claims) != RHN_OK ||
	    r_jwt_set_sign_alg(jwt, es ? R_JWA_ALG_ES256 : R_JWA_ALG_RS256) != RHN_OK ||
	    r_jwt_set_header_str_value(jwt, "typ", "JWT") != RHN_OK ||
	    r_jwt_set_header_str_value(jwt, "kid", r_jwk_get_property_str(key, "kid")) != RHN_OK)
		goto out;
	pthread_mutex_lock(&o->key_mu);
	tok = r_jwt_serialize_signed(jwt, key, R_FLAG_IGNORE_REMOTE);
	pthread_mutex_unlock(&o->key_mu);
	if (!tok)
		goto out;
	if (!(*out = pp_strdup(tok))) {
		rc = PP_ENOMEM;
		goto out;
	}
	rc = PP_OK;
out:
	r_free(tok);
	r_jwt_free(jwt);
	return rc;
}

/* parses without following anything named in the header (jwk, jku, x5c, x5u) */
static int jwt_parse(const char *token, size_t len, jwt_t **out)
{
	*out = NULL;
	if (!token || len == 0 || len > JWT_MAX)
		return PP_EINVAL;
	if (r_jwt_init(out) != RHN_OK)
		return PP_ENOMEM;
	if (r_jwt_advanced_parsen(*out, token, len, R_PARSE_NONE, R_FLAG_IGNORE_REMOTE) != RHN_OK ||
	    r_jwt_get_type(*out) != R_JWT_TYPE_SIGN) {
		r_jwt_free(*out);
		*out = NULL;
		return PP_EINVAL;
	}
	return PP_OK;
}

int pp_oauth_jwt_inspect(const char *token, size_t len, char *alg, size_t algcap, json_t **claims)
{
	jwt_t *jwt = NULL;
	const char *a;
	int rc;

	if (claims)
		*claims = NULL;
	if ((rc = jwt_parse(token, len, &jwt)))
		return rc;
	a = r_jwt_get_header_str_value(jwt, "alg");
	if (alg && algcap)
		snprintf(alg, algcap, "%s", a ? a : "");
	if (claims && !(*claims = r_jwt_get_full_claims_json_t(jwt)))
		rc = PP_EINVAL;
	r_jwt_free(jwt);
	return rc;
}

static bool key_fits(jwk_t *k, jwa_alg alg)
{
	unsigned int bits = 0;
	int t = r_jwk_key_type(k, &bits, R_FLAG_IGNORE_REMOTE);

	if (!(t & R_KEY_TYPE_PUBLIC))
		return false;
	if (alg == R_JWA_ALG_RS384)
		return (t & R_KEY_TYPE_RSA) && bits >= 2048;
	if (alg == R_JWA_ALG_ES384)
		return (t & R_KEY_TYPE_EC) != 0;
	return false;
}

int pp_oauth_jwks_check(const char *jwks_json)
{
	return pp_oauth_jwks_check_max(jwks_json, sizeof(((pp_store_oauth_client *)0)->jwks));
}

bool pp_oauth_jwks_has_kid(const char *jwks_json, const char *assertion)
{
	jwt_t *jwt = NULL;
	jwks_t *jwks = NULL;
	const char *kid;
	bool found = false;

	if (jwt_parse(assertion, assertion ? strlen(assertion) : 0, &jwt))
		return true;   /* nothing to look up: verification refuses it */
	if (!(kid = r_jwt_get_header_str_value(jwt, "kid"))) {
		found = true;
		goto out;
	}
	if (!jwks_json || r_jwks_init(&jwks) != RHN_OK ||
	    r_jwks_import_from_json_str(jwks, jwks_json) != RHN_OK)
		goto out;
	for (size_t i = 0, n = r_jwks_size(jwks); i < n && !found; i++) {
		jwk_t *k = r_jwks_get_at(jwks, i);
		const char *kk = r_jwk_get_property_str(k, "kid");
		found = kk && !strcmp(kk, kid);
		r_jwk_free(k);
	}
out:
	r_jwks_free(jwks);
	r_jwt_free(jwt);
	return found;
}

int pp_oauth_jwks_check_max(const char *jwks_json, size_t max)
{
	jwks_t *jwks = NULL;
	size_t n, usable = 0;
	int rc = PP_EINVAL;

	if (!jwks_json || !*jwks_json || strlen(jwks_json) >= max)
		return PP_EINVAL;
	if (r_jwks_init(&jwks) != RHN_OK)
		return PP_ENOMEM;
	if (r_jwks_import_from_json_str(jwks, jwks_json) != RHN_OK)
		goto out;
	n = r_jwks_size(jwks);
	for (size_t i = 0; i < n; i++) {
		jwk_t *k = r_jwks_get_at(jwks, i);
		unsigned int bits = 0;
		int t = r_jwk_key_type(k, &bits, R_FLAG_IGNORE_REMOTE);
		if (t & (R_KEY_TYPE_PRIVATE | R_KEY_TYPE_SYMMETRIC)) {
			r_jwk_free(k);
			usable = 0;   /* a registry holds public keys only */
			break;
		}
		if (key_fits(k, R_JWA_ALG_RS384) || key_fits(k, R_JWA_ALG_ES384))
			usable++;
		r_jwk_free(k);
	}
	rc = usable ? PP_OK : PP_EINVAL;
out:
	r_jwks_free(jwks);
	return rc;
}

static bool aud_matches(json_t *aud, const char *want)
{
	size_t i;
	json_t *e;

	if (json_is_string(aud))
		return !strcmp(json_string_value(aud), want);
	json_array_foreach(aud, i, e)
		if (json_is_string(e) && !strcmp(json_string_value(e), want))
			return true;
	return false;
}

int pp_oauth_verify_assertion(pp_oauth *o, const char *assertion, const char *client_id,
                              const char *jwks_json, const char *aud, char **jti, int64_t *exp_s,
                              const char **why)
{
	jwt_t *jwt = NULL;
	jwks_t *jwks = NULL;
	json_t *claims = NULL;
	jwa_alg alg;
	const char *kid, *s;
	bool verified = false;
	int64_t now = pp_clock_now_s(), exp;
	int rc = PP_EAUTH;

	(void)o;
	*jti = NULL;
	*why = "assertion-malformed";
	if (jwt_parse(assertion, assertion ? strlen(assertion) : 0, &jwt))
		goto out;
	alg = r_jwt_get_sign_alg(jwt);
	if (alg != R_JWA_ALG_RS384 && alg != R_JWA_ALG_ES384) {
		*why = "assertion-alg";
		goto out;
	}
	*why = "assertion-no-key";
	if (!jwks_json || !*jwks_json || r_jwks_init(&jwks) != RHN_OK ||
	    r_jwks_import_from_json_str(jwks, jwks_json) != RHN_OK)
		goto out;
	kid = r_jwt_get_header_str_value(jwt, "kid");
	*why = "assertion-signature";
	for (size_t i = 0, n = r_jwks_size(jwks); i < n && !verified; i++) {
		jwk_t *k = r_jwks_get_at(jwks, i);
		const char *kk = r_jwk_get_property_str(k, "kid");
		if ((!kid || (kk && !strcmp(kk, kid))) && key_fits(k, alg))
			verified = r_jwt_verify_signature(jwt, k, R_FLAG_IGNORE_REMOTE) == RHN_OK;
		r_jwk_free(k);
	}
	if (!verified)
		goto out;
	*why = "assertion-claims";
	if (!(claims = r_jwt_get_full_claims_json_t(jwt)))
		goto out;
	s = json_string_value(json_object_get(claims, "iss"));
	if (!s || strcmp(s, client_id))
		goto out;
	s = json_string_value(json_object_get(claims, "sub"));
	if (!s || strcmp(s, client_id))
		goto out;
	*why = "assertion-aud";
	if (!aud_matches(json_object_get(claims, "aud"), aud))
		goto out;
	*why = "assertion-expired";
	if (!json_is_integer(json_object_get(claims, "exp")))
		goto out;
	exp = json_integer_value(json_object_get(claims, "exp"));
	if (exp <= now)
		goto out;
	*why = "assertion-exp-too-far";
	if (exp > now + PP_OAUTH_ASSERTION_MAX_S + 10)   /* 10 s of clock skew */
		goto out;
	*why = "assertion-jti";
	s = json_string_value(json_object_get(claims, "jti"));
	if (!s || !*s || strlen(s) > 255)
		goto out;
	if (!(*jti = pp_strdup(s))) {
		rc = PP_ENOMEM;
		goto out;
	}
	*exp_s = exp;
	*why = NULL;
	rc = PP_OK;
out:
	json_decref(claims);
	r_jwks_free(jwks);
	r_jwt_free(jwt);
	return rc;
}
