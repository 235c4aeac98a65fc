/* auth/sso: the relying-party flow — provider discovery and JWKS (fetched with libcurl, TLS
 * verified, capped, cached), the start of a sign-in (state, nonce, PKCE) and its completion (code
 * exchange, ID-token signature, claims, the linked account, the session). */
#include <curl/curl.h>
#include <pthread.h>
#include <rhonabwy.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth_internal.h"
#include "auth/sso.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "store/store_sso.h"

#define DOC_MAX (64 * 1024)
#define JWKS_MAX (256 * 1024)
#define HTTP_TIMEOUT_MS 10000
#define DISCOVERY_TTL_MS (60 * 60 * 1000)
#define JWKS_TTL_MS (60 * 60 * 1000)
#define SECRET_MAX 1024
#define ID_TOKEN_MAX 16384
#define CODE_MAX 2048
#define URL_MAX 4096

struct pp_sso {
	pp_config cfg;
	pp_store *st;
	pp_crypto *c;
	pp_auth *auth;
	pp_sso_staff_fn is_staff;
	char *secret;               /* client secret (wiped at close) */
	char ca[1024];              /* CA bundle path, "" = system store */
	char redirect_uri[512];
	pthread_mutex_t mu;         /* guards the cached documents below */
	bool have_ep;
	int64_t ep_fetched_ms;
	pp_sso_endpoints ep;
	char *jwks;                 /* the provider's JWKS (JSON text) */
	int64_t jwks_fetched_ms;
	bool curl;
};

/* ---- HTTP (libcurl) ---- */

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	pp_buf *b = ud;

	if (n && size > SIZE_MAX / n)
		return 0;
	return pp_buf_append(b, p, size * n) ? 0 : size * n;
}

/* One GET (post NULL) or form POST of url; the body into out (capped by out's limit). With
 * basic_auth the client authenticates with client_secret_basic. */
static int http(pp_sso *s, const char *url, const char *post, bool basic_auth, pp_buf *out,
                long *status)
{
	CURL *h = NULL;
	struct curl_slist *hdr = NULL;
	char *uid = NULL, *usec = NULL;
	bool loop = pp_sso_loopback_http(s->cfg.sso_issuer);
	const char *protos = loop ? "http,https" : "https";
	CURLcode cc;
	int rc = PP_EIO;

	*status = 0;
	if (!(h = curl_easy_init()))
		goto out;
	if (!(hdr = curl_slist_append(NULL, "Accept: application/json")))
		goto out;
	if (curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos) ||
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos) ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) ||
	    (s->ca[0] && curl_easy_setopt(h, CURLOPT_CAINFO, s->ca)) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_TIMEOUT_MS) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)out->limit) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "phiportal-sso") ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, out))
		goto out;
	if (post && curl_easy_setopt(h, CURLOPT_POSTFIELDS, post))
		goto out;
	if (basic_auth) {
		/* RFC 6749 2.3.1: both parts form-encoded before Basic encoding */
		if (!(uid = curl_easy_escape(h, s->cfg.sso_client_id, 0)) ||
		    !(usec = curl_easy_escape(h, s->secret, 0)) ||
		    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) ||
		    curl_easy_setopt(h, CURLOPT_USERNAME, uid) ||
		    curl_easy_setopt(h, CURLOPT_PASSWORD, usec))
			goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		pp_log_warn("sso: request to the identity provider failed: %s", curl_easy_strerror(cc));
		rc = cc == CURLE_FILESIZE_EXCEEDED || cc == CURLE_WRITE_ERROR ? PP_ETOOBIG : PP_EIO;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	rc = memchr(pp_buf_cstr(out), '\0', out->len) ? PP_EINVAL : PP_OK;
out:
	if (usec) {
		pp_wipe(usec, strlen(usec));
		curl_free(usec);
	}
	curl_free(uid);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc;
}

/* ---- discovery and keys (cached; called with s->mu held) ---- */

static int discovery_locked(pp_sso *s, const char **why)
{
	char url[URL_MAX];
	size_t n = strlen(s->cfg.sso_issuer);
	pp_buf b;
	long status;
	pp_sso_endpoints ep;
	int rc;

	if (s->have_ep && pp_clock_now_ms() - s->ep_fetched_ms < DISCOVERY_TTL_MS)
		return PP_OK;
	if (n && s->cfg.sso_issuer[n - 1] == '/')
		n--;
	if (snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)n,
	             s->cfg.sso_issuer) >= (int)sizeof url)
		return PP_ETOOBIG;
	pp_buf_init(&b, DOC_MAX);
	rc = http(s, url, NULL, false, &b, &status);
	*why = "idp-unavailable";
	if (rc == 0 && status != 200) {
		pp_log_warn("sso: the discovery document answered HTTP %ld", status);
		rc = PP_EIO;
	}
	if (rc == 0 && (rc = pp_sso_discovery_parse(b.data, b.len, s->cfg.sso_issuer, &ep, why)) < 0)
		pp_log_warn("sso: the provider's discovery document was refused (%s)", *why);
	pp_buf_free(&b);
	if (rc < 0)
		return s->have_ep ? PP_OK : rc;   /* keep using what worked before */
	s->ep = ep;
	s->have_ep = true;
	s->ep_fetched_ms = pp_clock_now_ms();
	return PP_OK;
}

static int jwks_locked(pp_sso *s, bool refresh)
{
	pp_buf b;
	long status;
	jwks_t *set = NULL;
	int rc;

	if (s->jwks && !refresh && pp_clock_now_ms() - s->jwks_fetched_ms < JWKS_TTL_MS)
		return PP_OK;
	pp_buf_init(&b, JWKS_MAX);
	rc = http(s, s->ep.jwks_uri, NULL, false, &b, &status);
	if (rc == 0 && status != 200)
		rc = PP_EIO;
	if (rc == 0 && (pp_json_check_depth(b.data ? b.data : "", b.len, 8) ||
	                r_jwks_init(&set) != RHN_OK ||
	                r_jwks_import_from_json_str(set, pp_buf_cstr(&b)) != RHN_OK))
		rc = PP_EINVAL;
	r_jwks_free(set);
	if (rc == 0) {
		free(s->jwks);
		s->jwks = pp_buf_take(&b, NULL);
		s->jwks_fetched_ms = pp_clock_now_ms();
		rc = s->jwks ? PP_OK : PP_ENOMEM;
	} else {
		pp_log_warn("sso: the provider's JWKS could not be fetched (%s)", pp_strerror(rc));
	}
	pp_buf_free(&b);
	return rc < 0 && s->jwks && !refresh ? PP_OK : rc;
}

/* ---- ID token ---- */

/* asymmetric algorithms only: never "none", never HS* (a public key is no MAC key) */
static bool alg_allowed(jwa_alg a)
{
	switch (a) {
	case R_JWA_ALG_RS256: case R_JWA_ALG_RS384: case R_JWA_ALG_RS512:
	case R_JWA_ALG_PS256: case R_JWA_ALG_PS384: case R_JWA_ALG_PS512:
	case R_JWA_ALG_ES256: case R_JWA_ALG_ES384: case R_JWA_ALG_ES512:
	case R_JWA_ALG_EDDSA:
		return true;
	default:
		return false;
	}
}

static bool key_fits(jwk_t *k, jwa_alg alg)
{
	unsigned int bits = 0;
	int t = r_jwk_key_type(k, &bits, R_FLAG_IGNORE_REMOTE);
	const char *kalg = r_jwk_get_property_str(k, "alg");
	const char *use = r_jwk_get_property_str(k, "use");

	if (!(t & R_KEY_TYPE_PUBLIC) || (t & (R_KEY_TYPE_PRIVATE | R_KEY_TYPE_SYMMETRIC)))
		return false;
	if ((kalg && strcmp(kalg, r_jwa_alg_to_str(alg))) || (use && strcmp(use, "sig")))
		return false;
	switch (alg) {
	case R_JWA_ALG_RS256: case R_JWA_ALG_RS384: case R_JWA_ALG_RS512:
	case R_JWA_ALG_PS256: case R_JWA_ALG_PS384: case R_JWA_ALG_PS512:
		return (t & R_KEY_TYPE_RSA) && bits >= 2048;
	case R_JWA_ALG_ES256: case R_JWA_ALG_ES384: case R_JWA_ALG_ES512:
		return (t & R_KEY_TYPE_EC) != 0;
	case R_JWA_ALG_EDDSA:
		return (t & R_KEY_TYPE_EDDSA) != 0;
	default:
		return false;
	}
}

/* tries the keys of jwks_json; *kid_known: a key with the token's kid was there */
static bool verify_with(jwt_t *jwt, const char *jwks_json, const char *kid, jwa_alg alg,
                        bool *kid_known)
{
	jwks_t *set = NULL;
	bool ok = false;

	*kid_known = false;
	if (!jwks_json || r_jwks_init(&set) != RHN_OK ||
	    r_jwks_import_from_json_str(set, jwks_json) != RHN_OK)
		goto out;
	for (size_t i = 0, n = r_jwks_size(set); i < n && !ok; i++) {
		jwk_t *k = r_jwks_get_at(set, i);
		const char *kk = r_jwk_get_property_str(k, "kid");
		if (!kid || (kk && !strcmp(kk, kid))) {
			if (kid)
				*kid_known = true;
			if (key_fits(k, alg))
				ok = r_jwt_verify_signature(jwt, k, R_FLAG_IGNORE_REMOTE) == RHN_OK;
		}
		r_jwk_free(k);
	}
out:
	r_jwks_free(set);
	return ok;
}

static int verify_id_token(pp_sso *s, const char *idt, json_t **claims, const char **why)
{
	jwt_t *jwt = NULL;
	jwa_alg alg;
	const char *kid;
	bool ok = false, known = false;
	int rc = PP_EDENIED;

	*claims = NULL;
	*why = "id-token-invalid";
	if (!idt || !*idt || strlen(idt) > ID_TOKEN_MAX)
		goto out;
	if (r_jwt_init(&jwt) != RHN_OK) {
		rc = PP_ENOMEM;
		goto out;
	}
	/* nothing named in the header (jwk, jku, x5u, x5c) is ever followed or trusted */
	if (r_jwt_advanced_parsen(jwt, idt, strlen(idt), R_PARSE_NONE, R_FLAG_IGNORE_REMOTE) != RHN_OK ||
	    r_jwt_get_type(jwt) != R_JWT_TYPE_SIGN)
		goto out;
	*why = "id-token-alg";
	alg = r_jwt_get_sign_alg(jwt);
	if (!alg_allowed(alg))
		goto out;
	if (r_jwt_get_header_str_value(jwt, "crit"))
		goto out;   /* no extension is understood, so none may be critical */
	kid = r_jwt_get_header_str_value(jwt, "kid");
	*why = "id-token-signature";
	pthread_mutex_lock(&s->mu);
	if (jwks_locked(s, false) == 0)
		ok = verify_with(jwt, s->jwks, kid, alg, &known);
	/* a kid we have never seen: the provider rotated its keys; fetch them again, once */
	if (!ok && kid && !known && jwks_locked(s, true) == 0)
		ok = verify_with(jwt, s->jwks, kid, alg, &known);
	pthread_mutex_unlock(&s->mu);
	if (!ok)
		goto out;
	*why = "id-token-invalid";
	if (!(*claims = r_jwt_get_full_claims_json_t(jwt)))
		goto out;
	*why = NULL;
	rc = PP_OK;
out:
	r_jwt_free(jwt);
	return rc;
}

/* ---- helpers ---- */

static int random_b64(char *out, size_t cap, size_t raw_len)
{
	uint8_t raw[48];
	char tmp[((sizeof raw + 2) / 3) * 4 + 1];
	int rc = PP_ECRYPTO;

	if (raw_len > sizeof raw)
		return PP_EINVAL;
	if (pp_random(raw, raw_len) == 0) {
		pp_b64url_encode(raw, raw_len, tmp);
		rc = strlen(tmp) < cap ? PP_OK : PP_EINVAL;
		if (!rc)
			memcpy(out, tmp, strlen(tmp) + 1);
	}
	pp_wipe(raw, sizeof raw);
	pp_wipe(tmp, sizeof tmp);
	return rc;
}

static bool b64url_token(const char *s, size_t want)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return i == want;
}

static int link_index(pp_crypto *c, const char *issuer, const char *value, uint8_t out[32])
{
	pp_buf b;
	int rc;

	pp_buf_init(&b, 1024);
	rc = pp_buf_appendf(&b, "%s|%s", issuer, value);
	if (!rc)
		rc = pp_crypto_blind_index(c, "sso_link", pp_buf_cstr(&b), out);
	pp_buf_free(&b);
	return rc;
}

/* ---- set-up ---- */

int pp_sso_open(pp_sso **out, const pp_config *cfg, pp_store *st, pp_crypto *c, pp_auth *auth,
                pp_sso_staff_fn is_staff)
{
	pp_sso *s = NULL;
	char path[1024];
	size_t len = 0;
	int rc = PP_EINVAL;

	if (!out || !cfg || !st || !c || !auth || !is_staff)
		return PP_EINVAL;
	*out = NULL;
	if (!(s = calloc(1, sizeof *s)))
		return PP_ENOMEM;
	s->cfg = *cfg;
	s->st = st;
	s->c = c;
	s->auth = auth;
	s->is_staff = is_staff;
	pthread_mutex_init(&s->mu, NULL);
	rc = PP_ECONFIG;
	if (!cfg->sso_issuer[0] || !cfg->sso_client_id[0] || !cfg->sso_client_secret_file[0])
		goto out;
	if (pp_config_path(cfg, cfg->sso_client_secret_file, path, sizeof path) ||
	    pp_file_read(path, SECRET_MAX, &s->secret, &len) || !s->secret)
		goto out;
	while (len && (s->secret[len - 1] == '\n' || s->secret[len - 1] == '\r'))
		s->secret[--len] = '\0';
	if (!len || strlen(s->secret) != len)
		goto out;
	if (cfg->sso_ca_file[0] && pp_config_path(cfg, cfg->sso_ca_file, s->ca, sizeof s->ca))
		goto out;
	if (snprintf(s->redirect_uri, sizeof s->redirect_uri, "%s/api/v1/auth/sso/callback",
	             cfg->server_public_url) >= (int)sizeof s->redirect_uri)
		goto out;
	rc = PP_EIO;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	s->curl = true;
	*out = s;
	s = NULL;
	rc = PP_OK;
out:
	pp_sso_close(s);
	return rc;
}

void pp_sso_close(pp_sso *s)
{
	if (!s)
		return;
	if (s->secret) {
		pp_wipe(s->secret, strlen(s->secret));
		free(s->secret);
	}
	free(s->jwks);
	if (s->curl)
		curl_global_cleanup();
	pthread_mutex_destroy(&s->mu);
	pp_wipe(s, sizeof *s);
	free(s);
}

/* ---- the flow ---- */

static int append_param(pp_buf *b, const char *name, const char *value, bool first)
{
	char *enc = curl_easy_escape(NULL, value, 0);
	int rc;

	if (!enc)
		return PP_ENOMEM;
	rc = pp_buf_appendf(b, "%s%s=%s", first ? "" : "&", name, enc);
	curl_free(enc);
	return rc;
}

int pp_sso_start(pp_sso *s, char **url, char state[PP_SSO_STATE_LEN + 1], const char **why)
{
	pp_store_sso_pending p;
	uint8_t chal[32];
	char challenge[64];
	pp_sso_endpoints ep;
	pp_buf b;
	int rc;

	memset(&p, 0, sizeof p);
	pp_buf_init(&b, URL_MAX);
	*why = "internal";
	if (url)
		*url = NULL;
	if (!s || !url || !state)
		return PP_EINVAL;
	pthread_mutex_lock(&s->mu);
	rc = discovery_locked(s, why);
	ep = s->ep;
	pthread_mutex_unlock(&s->mu);
	if (rc < 0)
		goto out;
	*why = "internal";
	if ((rc = random_b64(state, PP_SSO_STATE_LEN + 1, 32)) < 0 ||
	    (rc = random_b64(p.nonce, sizeof p.nonce, 32)) < 0 ||
	    (rc = random_b64(p.verifier, sizeof p.verifier, 32)) < 0)
		goto out;
	if ((rc = pp_crypto_sha256(p.verifier, strlen(p.verifier), chal)) < 0 ||
	    (rc = pp_crypto_sha256(state, PP_SSO_STATE_LEN, p.state_hash)) < 0)
		goto out;
	pp_b64url_encode(chal, sizeof chal, challenge);
	p.created_ms = pp_clock_now_ms();
	p.expires_ms = p.created_ms + PP_SSO_PENDING_TTL_MS;
	pp_store_sso_pending_purge(s->st, p.created_ms);   /* old rows: best effort */
	if ((rc = pp_store_sso_pending_insert(s->st, &p)) < 0)
		goto out;
	if ((rc = pp_buf_appends(&b, ep.authorization)) < 0 ||
	    (rc = pp_buf_appends(&b, strchr(ep.authorization, '?') ? "&" : "?")) < 0 ||
	    (rc = append_param(&b, "response_type", "code", true)) < 0 ||
	    (rc = append_param(&b, "client_id", s->cfg.sso_client_id, false)) < 0 ||
	    (rc = append_param(&b, "redirect_uri", s->redirect_uri, false)) < 0 ||
	    (rc = append_param(&b, "scope", s->cfg.sso_scopes, false)) < 0 ||
	    (rc = append_param(&b, "state", state, false)) < 0 ||
	    (rc = append_param(&b, "nonce", p.nonce, false)) < 0 ||
	    (rc = append_param(&b, "code_challenge", challenge, false)) < 0 ||
	    (rc = append_param(&b, "code_challenge_method", "S256", false)) < 0)
		goto out;
	if (!(*url = pp_buf_take(&b, NULL))) {
		rc = PP_ENOMEM;
		goto out;
	}
	*why = NULL;
	rc = PP_OK;
out:
	if (rc < 0)
		pp_wipe(state, PP_SSO_STATE_LEN + 1);
	pp_buf_free(&b);
	pp_wipe(&p, sizeof p);
	return rc;
}

/* the code exchange: *id_token malloc'd */
static int exchange(pp_sso *s, const pp_sso_endpoints *ep, const char *code, const char *verifier,
                    char **id_token, const char **why)
{
	pp_buf body, resp;
	long status = 0;
	bool basic = strcmp(s->cfg.sso_client_auth, "client_secret_post") != 0;
	int rc;

	*id_token = NULL;
	pp_buf_init(&body, 8192);
	pp_buf_init(&resp, DOC_MAX);
	*why = "internal";
	if ((rc = append_param(&body, "grant_type", "authorization_code", true)) < 0 ||
	    (rc = append_param(&body, "code", code, false)) < 0 ||
	    (rc = append_param(&body, "redirect_uri", s->redirect_uri, false)) < 0 ||
	    (rc = append_param(&body, "code_verifier", verifier, false)) < 0)
		goto out;
	if (!basic && ((rc = append_param(&body, "client_id", s->cfg.sso_client_id, false)) < 0 ||
	               (rc = append_param(&body, "client_secret", s->secret, false)) < 0))
		goto out;
	rc = http(s, ep->token, pp_buf_cstr(&body), basic, &resp, &status);
	*why = "idp-unavailable";
	if (rc == PP_EIO)
		goto out;
	*why = "token-exchange-failed";
	if (rc < 0 || status != 200) {
		if (rc == 0)
			pp_log_warn("sso: the token endpoint answered HTTP %ld", status);
		rc = PP_EDENIED;
		goto out;
	}
	if (pp_sso_token_response_parse(resp.data, resp.len, id_token, why) < 0)
		rc = PP_EDENIED;
out:
	pp_buf_free(&body);
	pp_buf_free(&resp);
	return rc;
}

int pp_sso_finish(pp_sso *s, const char *state, const char *code,
                  char token_out[PP_AUTH_TOKEN_LEN + 1], pp_session *sess, pp_sso_outcome *o)
{
	pp_store_sso_pending p;
	pp_store_user u;
	pp_sso_endpoints ep;
	pp_sso_expect e;
	uint8_t hash[32], bidx[32];
	char *idt = NULL, *value = NULL;
	json_t *claims = NULL;
	const char *why = "internal";
	enum pp_session_state st;
	int64_t now, uid = 0;
	bool mfa = false;
	int rc = PP_EINVAL;

	memset(&p, 0, sizeof p);
	memset(&u, 0, sizeof u);
	if (token_out)
		token_out[0] = '\0';
	if (sess)
		memset(sess, 0, sizeof *sess);
	if (!o)
		return PP_EINVAL;
	memset(o, 0, sizeof *o);
	if (!s || !token_out)
		goto out;
	rc = PP_EDENIED;
	why = "state-unknown";
	if (!b64url_token(state, PP_SSO_STATE_LEN))
		goto out;
	if ((rc = pp_crypto_sha256(state, PP_SSO_STATE_LEN, hash)) < 0)
		goto out;
	/* single use: the row is gone whatever happens next */
	rc = pp_store_sso_pending_take(s->st, hash, &p);
	if (rc == PP_ENOTFOUND)
		rc = PP_EDENIED;
	if (rc < 0)
		goto out;
	now = pp_clock_now_ms();
	rc = PP_EDENIED;
	why = "state-expired";
	if (now >= p.expires_ms)
		goto out;
	why = "code-invalid";
	if (!code || !*code || strlen(code) > CODE_MAX)
		goto out;
	pthread_mutex_lock(&s->mu);
	rc = discovery_locked(s, &why);
	ep = s->ep;
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		rc = PP_EIO;
		goto out;
	}
	if ((rc = exchange(s, &ep, code, p.verifier, &idt, &why)) < 0)
		goto out;
	if ((rc = verify_id_token(s, idt, &claims, &why)) < 0)
		goto out;
	e = (pp_sso_expect){.issuer = s->cfg.sso_issuer, .client_id = s->cfg.sso_client_id,
	                    .nonce = p.nonce, .match_claim = s->cfg.sso_match_claim,
	                    .mfa_idp = !strcmp(s->cfg.sso_mfa, "idp"),
	                    .required_amr = s->cfg.sso_required_amr,
	                    .required_acr = s->cfg.sso_required_acr, .now_s = now / 1000};
	if ((rc = pp_sso_claims_check(&e, claims, &value, &mfa, &why)) < 0)
		goto out;
	o->mfa_asserted = mfa;
	why = "internal";
	if ((rc = link_index(s->c, s->cfg.sso_issuer, value, bidx)) < 0)
		goto out;
	rc = pp_store_sso_link_find(s->st, bidx, &uid);
	why = "unknown-identity";
	if (rc == PP_ENOTFOUND)
		rc = PP_EDENIED;
	if (rc < 0)
		goto out;
	rc = pp_store_user_get(s->st, uid, &u);
	if (rc == PP_ENOTFOUND)
		rc = PP_EDENIED;
	if (rc < 0)
		goto out;
	o->user_id = u.id;
	rc = PP_EDENIED;
	why = "not-staff";
	if (!s->is_staff(u.role))
		goto out;
	why = "account-inactive";
	if (strcmp(u.status, "active"))
		goto out;
	why = "locked";
	if (pp_auth_account_locked(s->auth, &u, now, NULL) < 0)
		goto out;
	why = "internal";
	if (!strcmp(s->cfg.sso_mfa, "idp"))
		st = PP_SESSION_FULL;   /* claims_check refused a token without MFA */
	else
		st = u.mfa_enabled ? PP_SESSION_MFA : PP_SESSION_ENROL;
	if (st == PP_SESSION_FULL && (rc = pp_auth_account_ok(s->auth, &u)) < 0)
		goto out;
	if ((rc = pp_auth_session_create(s->auth, &u, st, 0, token_out, sess)) < 0)
		goto out;
	why = "ok";
	rc = PP_OK;
out:
	o->reason = why;
	json_decref(claims);
	if (idt) {
		pp_wipe(idt, strlen(idt));
		free(idt);
	}
	if (value) {
		pp_wipe(value, strlen(value));
		free(value);
	}
	pp_store_user_clear(&u);
	pp_wipe(&p, sizeof p);
	pp_wipe(bidx, sizeof bidx);
	return rc;
}

/* ---- links ---- */

int pp_sso_link_add(const pp_config *cfg, pp_store *st, pp_crypto *c, int64_t user_id,
                    const char *value)
{
	uint8_t bidx[32];
	char *v = NULL;
	size_t n = value ? strlen(value) : 0;
	int rc = PP_EINVAL;

	if (!cfg || !st || !c || user_id <= 0 || !cfg->sso_issuer[0] || !n || n > PP_SSO_VALUE_MAX ||
	    memchr(value, '|', n))
		return PP_EINVAL;
	if (!(v = pp_strdup(value)))
		return PP_ENOMEM;
	if (!strcmp(cfg->sso_match_claim, "email"))   /* as pp_sso_claims_check normalises */
		for (char *q = v; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
	if ((rc = link_index(c, cfg->sso_issuer, v, bidx)) == 0)
		rc = pp_store_sso_link_add(st, bidx, user_id, pp_clock_now_ms());
	pp_wipe(v, n);
	free(v);
	pp_wipe(bidx, sizeof bidx);
	return rc;
}

static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; p && *p;) {
		size_t len;
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == n && !strncmp(p, w, n))
			return true;
		p += len;
	}
	return false;
}

/* a regular file with no group/other permission bits */
static bool private_file_ok(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) == 0;
}

int pp_sso_check_config(const pp_config *cfg, pp_buf *report)
{
	char path[1024];
	int problems = 0;

	if (!cfg || !cfg->sso_enabled)
		return 0;
	if (!cfg->sso_issuer[0]) {
		pp_buf_appendf(report, "sso.issuer: not set; safe value: the provider's https:// issuer\n");
		problems++;
	}
	if (!cfg->sso_client_id[0]) {
		pp_buf_appendf(report, "sso.client_id: not set; safe value: the client_id registered at "
		               "the provider\n");
		problems++;
	}
	if (strcmp(cfg->sso_client_auth, "client_secret_basic") &&
	    strcmp(cfg->sso_client_auth, "client_secret_post")) {
		pp_buf_appendf(report, "sso.client_auth: value '%s' is unknown; safe value: "
		               "client_secret_basic\n", cfg->sso_client_auth);
		problems++;
	}
	if (!has_word(cfg->sso_scopes, "openid")) {
		pp_buf_appendf(report, "sso.scopes: must include openid\n");
		problems++;
	}
	if (!cfg->sso_match_claim[0]) {
		pp_buf_appendf(report, "sso.match_claim: not set; safe value: email\n");
		problems++;
	}
	if (!cfg->sso_client_secret_file[0] ||
	    pp_config_path(cfg, cfg->sso_client_secret_file, path, sizeof path) ||
	    !private_file_ok(path)) {
		pp_buf_appendf(report, "sso.client_secret_file: '%s' is missing or readable by group or "
		               "others; safe value: a file of mode 0600\n", cfg->sso_client_secret_file);
		problems++;
	}
	return problems;
}
