/* oauth: the protocol endpoints — /oauth/authorize (validates and parks the request, then sends
 * the browser to the consent view), /oauth/token (authorization_code with PKCE S256,
 * refresh_token with rotation and reuse detection, client_credentials with private_key_jwt),
 * /oauth/introspect (RFC 7662), /oauth/revoke (RFC 7009), the discovery documents and /jwks.
 * Every token issued, refused, refreshed and revoked is one audit record. */
#include "oauth/oauth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FORM_MAX 16384
#define FORM_PAIRS 32
#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* ---- small helpers ---- */
typedef struct form {
	char *buf;
	pp_http_kv kv[FORM_PAIRS];
	int n;
} form;

static void form_free(form *f)
{
	if (f->buf) {
		pp_wipe(f->buf, strlen(f->buf));
		free(f->buf);
	}
	f->buf = NULL;
}

/* NULL when absent; "" marks a parameter given twice (refused by callers via form_dup) */
static const char *form_get(const form *f, const char *key)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->kv[i].key, key))
			return f->kv[i].value;
	return NULL;
}

static bool form_dup(const form *f)
{
	for (int i = 0; i < f->n; i++)
		for (int j = i + 1; j < f->n; j++)
			if (!strcmp(f->kv[i].key, f->kv[j].key))
				return true;
	return false;
}

static int json_reply(pp_http_request *r, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc;

	json_decref(obj);
	if (!text)
		return PP_ENOMEM;
	pp_http_status(r, status);
	pp_http_mark_phi(r);   /* tokens: Cache-Control: no-store (RFC 6749 section 5.1) */
	rc = pp_http_body_set(r, "application/json", text, strlen(text));
	pp_wipe(text, strlen(text));
	free(text);
	return rc;
}

static int oauth_error(pp_http_request *r, int status, const char *error, const char *desc)
{
	if (status == 401)
		pp_http_set_header(r, "WWW-Authenticate", "Bearer realm=\"phiportal\"");
	return json_reply(r, status, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

static int audit_failed(pp_http_request *r)
{
	return oauth_error(r, 503, "temporarily_unavailable",
	                   "The request could not be recorded and was not carried out");
}

/* audits a refusal and answers with the OAuth error */
static int deny(pp_oauth *o, pp_http_request *r, const char *action, const char *client_id,
                const char *patient, const char *why, int status, const char *error,
                const char *desc)
{
	if (pp_oauth_audit(o, r, client_id, NULL, patient, action, "denied", why))
		return audit_failed(r);
	return oauth_error(r, status, error, desc);
}

static int parse_form(pp_http_request *r, form *f)
{
	size_t len;
	const char *body = pp_http_body(r, &len);
	const char *ct = pp_http_header(r, "Content-Type");

	memset(f, 0, sizeof *f);
	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))
		return PP_EINVAL;
	if (!body || len == 0 || len > FORM_MAX || memchr(body, '\0', len))
		return PP_EINVAL;
	if (!(f->buf = malloc(len + 1)))
		return PP_ENOMEM;
	memcpy(f->buf, body, len);
	f->buf[len] = '\0';
	f->n = pp_http_parse_query(f->buf, f->kv, FORM_PAIRS);
	if (f->n < 0) {
		form_free(f);
		return PP_EINVAL;
	}
	return PP_OK;
}

/* ---- client authentication at the token, introspection and revocation endpoints ---- */
typedef struct authed {
	pp_store_oauth_client c;
	bool asserted;   /* authenticated with private_key_jwt */
} authed;

/* Authenticates the client of a form request. On failure the response is set (and audited) and a
 * negative code returned. */
static int client_auth(pp_oauth *o, pp_http_request *r, const form *f, const char *action,
                       authed *a)
{
	const char *type = form_get(f, "client_assertion_type");
	const char *assertion = form_get(f, "client_assertion");
	const char *cid = form_get(f, "client_id");
	char iss[64] = "";
	const char *why = NULL;
	int64_t now = pp_clock_now_ms();
	int retry = 0, rc;

	memset(a, 0, sizeof *a);
	if (pp_http_header(r, "Authorization")) {
		deny(o, r, action, cid, NULL, "client-auth-method", 401, "invalid_client",
		     "Use private_key_jwt (or client_id for public clients)");
		return PP_EAUTH;
	}
	if (type || assertion) {
		json_t *claims = NULL;
		const char *s;
		if (!type || strcmp(type, JWT_BEARER) || !assertion) {
			deny(o, r, action, cid, NULL, "assertion-type", 401, "invalid_client",
			     "client_assertion_type must be " JWT_BEARER);
			return PP_EAUTH;
		}
		if (pp_oauth_jwt_inspect(assertion, strlen(assertion), NULL, 0, &claims) == PP_OK &&
		    (s = json_string_value(json_object_get(claims, "iss"))) && strlen(s) < sizeof iss)
			snprintf(iss, sizeof iss, "%s", s);
		json_decref(claims);
		if (!iss[0] || (cid && strcmp(cid, iss))) {
			deny(o, r, action, cid, NULL, "assertion-malformed", 401, "invalid_client",
			     "The client assertion is not a valid signed JWT naming the client");
			return PP_EAUTH;
		}
		cid = iss;
	}
	if (!cid || !*cid || strlen(cid) >= sizeof a->c.client_id) {
		deny(o, r, action, NULL, NULL, "client-missing", 401, "invalid_client",
		     "Client authentication is required");
		return PP_EAUTH;
	}
	rc = pp_store_oauth_client_get(o->st, cid, &a->c);
	if (rc == PP_ENOTFOUND) {
		deny(o, r, action, cid, NULL, "client-unknown", 401, "invalid_client", "Unknown client");
		return PP_EAUTH;
	}
	if (rc)
		return rc;
	if (assertion) {
		char *jti = NULL, *remote = NULL;
		int64_t exp = 0;
		if (!a->c.jwks[0] && a->c.jwks_uri[0]) {
			/* keys at the client's jwks_uri: cached; an unknown kid allows one refetch */
			rc = pp_oauth_jwks_remote(o, &a->c, false, &remote, &why);
			if (!rc && !pp_oauth_jwks_has_kid(remote, assertion)) {
				free(remote);
				remote = NULL;
				rc = pp_oauth_jwks_remote(o, &a->c, true, &remote, &why);
			}
			if (rc == PP_ENOMEM)
				return rc;
			if (rc) {
				deny(o, r, action, a->c.client_id, NULL, why ? why : "jwks-fetch-failed", 401,
				     "invalid_client", "The client's keys could not be retrieved from its jwks_uri");
				return PP_EAUTH;
			}
		}
		rc = pp_oauth_verify_assertion(o, assertion, a->c.client_id, remote ? remote : a->c.jwks,
		                               o->token_url, &jti, &exp, &why);
		free(remote);
		if (rc == PP_OK) {
			rc = pp_store_oauth_jti_use(o->st, a->c.client_id, jti, exp * 1000, now);
			if (rc == PP_EEXISTS)
				why = "assertion-replayed";
		}
		free(jti);
		if (rc == PP_ENOMEM || rc == PP_EIO || rc == PP_EBUSY)
			return rc;
		if (rc) {
			deny(o, r, action, a->c.client_id, NULL, why ? why : "assertion-invalid", 401,
			     "invalid_client", "The client assertion was not accepted");
			return PP_EAUTH;
		}
		a->asserted = true;
	} else if (strcmp(a->c.type, "patient-app")) {
		deny(o, r, action, a->c.client_id, NULL, "assertion-required", 401, "invalid_client",
		     "This client must authenticate with private_key_jwt");
		return PP_EAUTH;
	}
	if (!pp_iplist_allowed(pp_http_client_ip(r), a->c.ip_allow, a->c.ip_deny)) {
		deny(o, r, action, a->c.client_id, NULL, "ip-not-allowed", 403, "access_denied",
		     "Requests from this address are not allowed for this client");
		return PP_EDENIED;
	}
	if (!pp_ratelimit_take(o->rl, a->c.client_id, a->c.rate_per_min, now, &retry)) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry);
		pp_http_set_header(r, "Retry-After", ra);
		deny(o, r, action, a->c.client_id, NULL, "rate-limited", 429, "too_many_requests",
		     "The client's rate limit was exceeded; retry later");
		return PP_ELOCKED;
	}
	return PP_OK;
}

/* ---- token issuance ---- */
int pp_oauth_issue(pp_oauth *o, pp_http_request *r, const pp_store_oauth_client *c,
                   const pp_store_oauth_family *f, bool with_refresh, const char *nonce,
                   const char *action)
{
	char access[PP_OAUTH_TOKEN_LEN + 1], refresh[PP_OAUTH_TOKEN_LEN + 1] = "", detail[2300];
	char user[32];
	uint8_t ah[32], rh[32];
	int64_t now = pp_clock_now_ms();
	int ttl = o->cfg->oauth_access_token_lifetime_s;
	pp_scope_set *set = calloc(1, sizeof *set);
	json_t *resp = NULL;
	char *id_token = NULL;
	int rc;

	if (!set)
		return PP_ENOMEM;
	if ((rc = pp_oauth_scope_parse(f->scope, set)))
		goto out;
	if ((rc = pp_oauth_new_token(access)) || (rc = pp_oauth_hash(access, ah)) ||
	    (rc = pp_store_oauth_access_insert(o->st, ah, f->id, now, now + (int64_t)ttl * 1000)))
		goto out;
	if (with_refresh) {
		int64_t rttl = (int64_t)o->cfg->oauth_refresh_token_lifetime_s * 1000;
		if ((rc = pp_oauth_new_token(refresh)) || (rc = pp_oauth_hash(refresh, rh)) ||
		    (rc = pp_store_oauth_refresh_insert(o->st, rh, f->id, now, now + rttl)))
			goto out;
	}
	if (set->openid && f->user_id > 0) {
		char sub[32], fhir_user[400];
		json_t *claims;
		snprintf(sub, sizeof sub, "%lld", (long long)f->user_id);
		claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", o->issuer, "sub", sub,
		                   "aud", c->client_id, "iat", (json_int_t)(now / 1000),
		                   "exp", (json_int_t)(now / 1000 + PP_OAUTH_ID_TOKEN_TTL_S));
		if (claims && nonce && *nonce)
			json_object_set_new(claims, "nonce", json_string(nonce));
		if (claims && f->patient_pub[0] && !strcmp(f->user_role, "patient") &&
		    (set->fhir_user || set->profile)) {
			snprintf(fhir_user, sizeof fhir_user, "%s/Patient/%s", o->fhir_base, f->patient_pub);
			json_object_set_new(claims, "fhirUser", json_string(fhir_user));
		}
		rc = claims ? pp_oauth_sign_id_token(o, claims, &id_token) : PP_ENOMEM;
		json_decref(claims);
		if (rc)
			goto out;
	}
	resp = json_pack("{s:s, s:s, s:i, s:s}", "access_token", access, "token_type", "Bearer",
	                 "expires_in", ttl, "scope", f->scope);
	if (!resp) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (f->patient_pub[0]) {
		json_object_set_new(resp, "patient", json_string(f->patient_pub));
		json_object_set_new(resp, "need_patient_banner", json_false());
	}
	if (refresh[0])
		json_object_set_new(resp, "refresh_token", json_string(refresh));
	if (id_token)
		json_object_set_new(resp, "id_token", json_string(id_token));
	snprintf(detail, sizeof detail, "%s scope=%s", action, f->scope);
	snprintf(user, sizeof user, "user:%lld", (long long)f->user_id);
	if (pp_oauth_audit(o, r, c->client_id, f->user_id ? user : NULL, f->patient_pub,
	                   !strcmp(action, "grant=refresh_token") ? "oauth.refresh" : "oauth.token",
	                   "success", detail)) {
		/* fail closed: nothing issued may be used */
		pp_store_oauth_family_revoke(o->st, f->id, "audit-failed", now);
		rc = audit_failed(r);
		goto out;
	}
	rc = json_reply(r, 200, resp);
	resp = NULL;
out:
	json_decref(resp);
	if (id_token)
		free(id_token);
	pp_wipe(access, sizeof access);
	pp_wipe(refresh, sizeof refresh);
	free(set);
	return rc;
}

static bool pkce_ok(const char *verifier, const char *challenge)
{
	uint8_t d[32];
	char enc[44];
	size_t n = verifier ? strlen(verifier) : 0;

	if (n < 43 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", verifier[i]))
			return false;
	if (pp_crypto_sha256(verifier, n, d))
		return false;
	pp_b64url_encode(d, sizeof d, enc);
	return strlen(challenge) == 43 && pp_ct_compare(enc, challenge, 43) == 0;
}

static int new_family_id(char out[48])
{
	uint8_t rnd[18];
	int rc = pp_random(rnd, sizeof rnd);

	if (!rc)
		pp_b64url_encode(rnd, sizeof rnd, out);
	return rc;
}

static int grant_code(pp_oauth *o, pp_http_request *r, const form *f, authed *a)
{
	const char *code = form_get(f, "code"), *redirect = form_get(f, "redirect_uri");
	const char *verifier = form_get(f, "code_verifier");
	pp_store_oauth_code *k = calloc(1, sizeof *k);
	pp_store_oauth_family *fam = calloc(1, sizeof *fam);
	pp_scope_set *set = calloc(1, sizeof *set);
	uint8_t h[32];
	int64_t now = pp_clock_now_ms();
	int rc;

	if (!k || !fam || !set) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (!code || !redirect || strlen(code) != PP_OAUTH_TOKEN_LEN) {
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, "code-missing", 400, "invalid_grant",
		          "code and redirect_uri are required");
		goto out;
	}
	pp_oauth_hash(code, h);
	rc = pp_store_oauth_code_consume(o->st, h, now, k);
	if (rc == PP_ENOTFOUND) {
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, "code-unknown", 400, "invalid_grant",
		          "The authorization code is not valid");
		goto out;
	}
	if (rc == PP_EEXISTS) {
		/* a replayed code: whoever holds it may have stolen it, so what it bought is revoked */
		pp_store_oauth_family_revoke(o->st, k->family_id, "code-replayed", now);
		rc = deny(o, r, "oauth.token", a->c.client_id, k->patient_pub, "code-replayed", 400,
		          "invalid_grant", "The authorization code was already used; tokens issued from it "
		          "are revoked");
		goto out;
	}
	if (rc)
		goto out;
	if (strcmp(k->client_id, a->c.client_id)) {
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, "code-other-client", 400,
		          "invalid_grant", "The authorization code was issued to another client");
		goto out;
	}
	if (k->expires_ms <= now) {
		rc = deny(o, r, "oauth.token", a->c.client_id, k->patient_pub, "code-expired", 400,
		          "invalid_grant", "The authorization code expired");
		goto out;
	}
	if (strcmp(k->redirect_uri, redirect)) {
		rc = deny(o, r, "oauth.token", a->c.client_id, k->patient_pub, "redirect-mismatch", 400,
		          "invalid_grant", "redirect_uri does not match the authorization request");
		goto out;
	}
	if (!pkce_ok(verifier, k->code_challenge)) {
		rc = deny(o, r, "oauth.token", a->c.client_id, k->patient_pub, "pkce-failed", 400,
		          "invalid_grant", "code_verifier does not match the code_challenge (PKCE S256)");
		goto out;
	}
	snprintf(fam->id, sizeof fam->id, "%s", k->family_id);
	snprintf(fam->client_id, sizeof fam->client_id, "%s", k->client_id);
	fam->user_id = k->user_id;
	snprintf(fam->user_role, sizeof fam->user_role, "%s", k->user_role);
	fam->patient_id = k->patient_id;
	snprintf(fam->patient_pub, sizeof fam->patient_pub, "%s", k->patient_pub);
	snprintf(fam->scope, sizeof fam->scope, "%s", k->scope);
	fam->created_ms = now;
	if ((rc = pp_store_oauth_family_insert(o->st, fam)))
		goto out;
	if ((rc = pp_oauth_scope_parse(fam->scope, set)))
		goto out;
	rc = pp_oauth_issue(o, r, &a->c, fam, set->offline_access || set->online_access, k->nonce,
	                    "grant=authorization_code");
out:
	free(k);
	free(fam);
	free(set);
	return rc;
}

static int grant_refresh(pp_oauth *o, pp_http_request *r, const form *f, authed *a)
{
	const char *tok = form_get(f, "refresh_token"), *scope = form_get(f, "scope");
	pp_store_oauth_family *fam = calloc(1, sizeof *fam);
	pp_scope_set *want = calloc(1, sizeof *want), *have = calloc(1, sizeof *have);
	char family_id[48] = "";
	uint8_t h[32];
	int64_t now = pp_clock_now_ms(), exp = 0;
	int rc;

	if (!fam || !want || !have) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (!tok || strlen(tok) != PP_OAUTH_TOKEN_LEN) {
		rc = deny(o, r, "oauth.refresh", a->c.client_id, NULL, "refresh-missing", 400,
		          "invalid_grant", "refresh_token is missing or malformed");
		goto out;
	}
	pp_oauth_hash(tok, h);
	rc = pp_store_oauth_refresh_use(o->st, h, now, family_id, &exp);
	if (rc == PP_ENOTFOUND) {
		rc = deny(o, r, "oauth.refresh", a->c.client_id, NULL, "refresh-unknown", 400,
		          "invalid_grant", "The refresh token is not valid");
		goto out;
	}
	if (rc == PP_EEXISTS) {
		/* reuse of a rotated token: the family is compromised, end all of it */
		pp_store_oauth_family_revoke(o->st, family_id, "refresh-reused", now);
		rc = deny(o, r, "oauth.refresh", a->c.client_id, NULL, "refresh-reused", 400,
		          "invalid_grant", "The refresh token was already used; the grant is revoked");
		goto out;
	}
	if (rc || (rc = pp_store_oauth_family_get(o->st, family_id, fam)))
		goto out;
	if (strcmp(fam->client_id, a->c.client_id)) {
		pp_store_oauth_family_revoke(o->st, family_id, "refresh-other-client", now);
		rc = deny(o, r, "oauth.refresh", a->c.client_id, NULL, "refresh-other-client", 400,
		          "invalid_grant", "The refresh token was issued to another client");
		goto out;
	}
	if (fam->revoked_ms || exp <= now) {
		rc = deny(o, r, "oauth.refresh", a->c.client_id, fam->patient_pub,
		          fam->revoked_ms ? "refresh-revoked" : "refresh-expired", 400, "invalid_grant",
		          "The refresh token is no longer valid");
		goto out;
	}
	if (scope && (pp_oauth_scope_parse(scope, want) || pp_oauth_scope_parse(fam->scope, have) ||
	              !pp_oauth_scope_subset(want, have))) {
		rc = deny(o, r, "oauth.refresh", a->c.client_id, fam->patient_pub, "scope-escalation", 400,
		          "invalid_scope", "A refresh may not widen the granted scope");
		goto out;
	}
	rc = pp_oauth_issue(o, r, &a->c, fam, true, NULL, "grant=refresh_token");
out:
	free(fam);
	free(want);
	free(have);
	return rc;
}

static int grant_client_credentials(pp_oauth *o, pp_http_request *r, const form *f, authed *a)
{
	const char *scope = form_get(f, "scope");
	pp_scope_set *req = calloc(1, sizeof *req), *reg = calloc(1, sizeof *reg),
	             *granted = calloc(1, sizeof *granted);
	pp_store_oauth_family *fam = calloc(1, sizeof *fam);
	pp_buf b;
	int rc;

	pp_buf_init(&b, 4096);
	if (!req || !reg || !granted || !fam) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (strcmp(a->c.type, "backend") || !a->asserted) {
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, "grant-not-allowed", 400,
		          "unauthorized_client", "Only backend services may use client_credentials");
		goto out;
	}
	if (!scope || pp_oauth_scope_parse(scope, req) || pp_oauth_scope_parse(a->c.scopes, reg) ||
	    pp_oauth_scope_intersect(req, reg, granted) || granted->n == 0) {
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, "scope-not-allowed", 400,
		          "invalid_scope", "The requested system/ scopes are not registered for this client");
		goto out;
	}
	/* backend grants carry resource scopes only */
	granted->openid = granted->fhir_user = granted->profile = granted->offline_access = false;
	granted->online_access = granted->launch = granted->launch_patient = false;
	if ((rc = pp_oauth_scope_format(granted, &b)) || (rc = new_family_id(fam->id)))
		goto out;
	snprintf(fam->client_id, sizeof fam->client_id, "%s", a->c.client_id);
	snprintf(fam->scope, sizeof fam->scope, "%s", pp_buf_cstr(&b));
	fam->created_ms = pp_clock_now_ms();
	if ((rc = pp_store_oauth_family_insert(o->st, fam)))
		goto out;
	rc = pp_oauth_issue(o, r, &a->c, fam, false, NULL, "grant=client_credentials");
out:
	pp_buf_free(&b);
	free(req);
	free(reg);
	free(granted);
	free(fam);
	return rc;
}

static int h_token(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	form f;
	authed *a = NULL;
	const char *gt, *why = NULL;
	int rc;

	(void)vapp;
	if (parse_form(r, &f))
		return oauth_error(r, 400, "invalid_request",
		                   "The body must be application/x-www-form-urlencoded");
	if (form_dup(&f)) {
		rc = oauth_error(r, 400, "invalid_request", "A parameter was given more than once");
		goto out;
	}
	if (!(a = malloc(sizeof *a))) {
		rc = PP_ENOMEM;
		goto out;
	}
	if ((rc = client_auth(o, r, &f, "oauth.token", a))) {
		rc = rc == PP_EAUTH || rc == PP_EDENIED || rc == PP_ELOCKED ? 0 : rc;
		goto out;
	}
	if (pp_oauth_client_usable(&a->c, pp_clock_now_ms(), &why)) {
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, why, 400, "unauthorized_client",
		          !strcmp(why, "baa-missing") ? "No Business Associate Agreement is on file for this client" :
		          !strcmp(why, "baa-expired") ? "The client's Business Associate Agreement has expired" :
		          "The client is suspended");
		goto out;
	}
	gt = form_get(&f, "grant_type");
	if (gt && !strcmp(gt, "authorization_code"))
		rc = grant_code(o, r, &f, a);
	else if (gt && !strcmp(gt, "refresh_token"))
		rc = grant_refresh(o, r, &f, a);
	else if (gt && !strcmp(gt, "client_credentials"))
		rc = grant_client_credentials(o, r, &f, a);
	else
		rc = deny(o, r, "oauth.token", a->c.client_id, NULL, "grant-type", 400,
		          "unsupported_grant_type", "grant_type is not supported");
out:
	free(a);
	form_free(&f);
	return rc;
}

/* ---- introspection and revocation ---- */
static int h_introspect(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	form f;
	authed *a = NULL;
	const char *tok;
	pp_store_oauth_access acc;
	uint8_t h[32];
	json_t *resp = NULL;
	int64_t now = pp_clock_now_ms();
	int rc;

	(void)vapp;
	if (parse_form(r, &f))
		return oauth_error(r, 400, "invalid_request",
		                   "The body must be application/x-www-form-urlencoded");
	if (!(a = malloc(sizeof *a))) {
		rc = PP_ENOMEM;
		goto out;
	}
	if ((rc = client_auth(o, r, &f, "oauth.introspect", a))) {
		rc = rc == PP_EAUTH || rc == PP_EDENIED || rc == PP_ELOCKED ? 0 : rc;
		goto out;
	}
	tok = form_get(&f, "token");
	if (!tok) {
		rc = oauth_error(r, 400, "invalid_request", "token is required");
		goto out;
	}
	resp = json_pack("{s:b}", "active", 0);
	if (strlen(tok) == PP_OAUTH_TOKEN_LEN) {
		pp_oauth_hash(tok, h);
		rc = pp_store_oauth_access_get(o->st, h, &acc);
		/* only the token's own client learns anything about it */
		if (rc == PP_OK && !acc.revoked_ms && !acc.family.revoked_ms && acc.expires_ms > now &&
		    !strcmp(acc.family.client_id, a->c.client_id)) {
			json_decref(resp);
			resp = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "active", 1,
			                 "scope", acc.family.scope, "client_id", acc.family.client_id,
			                 "token_type", "Bearer", "exp", (json_int_t)(acc.expires_ms / 1000),
			                 "iat", (json_int_t)(acc.created_ms / 1000), "iss", o->issuer,
			                 "aud", o->fhir_base);
			if (acc.family.user_id) {
				char sub[32];
				snprintf(sub, sizeof sub, "%lld", (long long)acc.family.user_id);
				json_object_set_new(resp, "sub", json_string(sub));
			}
			if (acc.family.patient_pub[0])
				json_object_set_new(resp, "patient", json_string(acc.family.patient_pub));
		} else if (rc && rc != PP_ENOTFOUND) {
			goto out;
		}
	}
	if (pp_oauth_audit(o, r, a->c.client_id, NULL, NULL, "oauth.introspect", "success",
	                   json_is_true(json_object_get(resp, "active")) ? "active" : "inactive")) {
		rc = audit_failed(r);
		goto out;
	}
	rc = json_reply(r, 200, resp);
	resp = NULL;
out:
	json_decref(resp);
	free(a);
	form_free(&f);
	return rc;
}

static int h_revoke(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	form f;
	authed *a = NULL;
	const char *tok, *detail = "unknown-token";
	pp_store_oauth_access acc;
	pp_store_oauth_family *fam = NULL;
	char family_id[48];
	uint8_t h[32];
	int64_t now = pp_clock_now_ms();
	int rc;

	(void)vapp;
	if (parse_form(r, &f))
		return oauth_error(r, 400, "invalid_request",
		                   "The body must be application/x-www-form-urlencoded");
	if (!(a = malloc(sizeof *a)) || !(fam = malloc(sizeof *fam))) {
		rc = PP_ENOMEM;
		goto out;
	}
	if ((rc = client_auth(o, r, &f, "oauth.revoke", a))) {
		rc = rc == PP_EAUTH || rc == PP_EDENIED || rc == PP_ELOCKED ? 0 : rc;
		goto out;
	}
	tok = form_get(&f, "token");
	if (!tok) {
		rc = oauth_error(r, 400, "invalid_request", "token is required");
		goto out;
	}
	if (strlen(tok) == PP_OAUTH_TOKEN_LEN) {
		pp_oauth_hash(tok, h);
		if (pp_store_oauth_access_get(o->st, h, &acc) == PP_OK &&
		    !strcmp(acc.family.client_id, a->c.client_id)) {
			if ((rc = pp_store_oauth_access_revoke(o->st, h, now)))
				goto out;
			detail = "access-token";
		} else if (pp_store_oauth_refresh_family(o->st, h, family_id) == PP_OK &&
		           pp_store_oauth_family_get(o->st, family_id, fam) == PP_OK &&
		           !strcmp(fam->client_id, a->c.client_id)) {
			/* a refresh token stands for the whole grant (RFC 7009 section 2.1) */
			if ((rc = pp_store_oauth_family_revoke(o->st, family_id, "client-revoked", now)))
				goto out;
			detail = "refresh-token";
		}
	}
	if (pp_oauth_audit(o, r, a->c.client_id, NULL, NULL, "oauth.revoke", "success", detail)) {
		rc = audit_failed(r);
		goto out;
	}
	pp_http_status(r, 200);
	pp_http_mark_phi(r);
	rc = pp_http_body_set(r, "application/json", "{}", 2);
out:
	free(a);
	free(fam);
	form_free(&f);
	return rc;
}

/* ---- /oauth/authorize ---- */
int pp_oauth_url_param(pp_buf *b, const char *key, const char *value, bool *first)
{
	int rc = pp_buf_appendf(b, "%c%s=", *first ? (strchr(pp_buf_cstr(b), '?') ? '&' : '?') : '&', key);
	*first = false;
	for (const unsigned char *p = (const unsigned char *)value; !rc && *p; p++) {
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", *p) && *p)
			rc = pp_buf_append(b, p, 1);
		else
			rc = pp_buf_appendf(b, "%%%02X", *p);
	}
	return rc;
}

/* redirect_uri?error=…&error_description=…&state=… */
static int redirect_error(pp_oauth *o, pp_http_request *r, const char *client_id,
                          const char *redirect, const char *state, const char *why,
                          const char *error, const char *desc)
{
	pp_buf b;
	bool first = true;
	int rc;

	if (pp_oauth_audit(o, r, client_id, NULL, NULL, "oauth.authorize", "denied", why))
		return audit_failed(r);
	pp_buf_init(&b, 8192);
	rc = pp_buf_appends(&b, redirect);
	if (!rc) rc = pp_oauth_url_param(&b, "error", error, &first);
	if (!rc) rc = pp_oauth_url_param(&b, "error_description", desc, &first);
	if (!rc && state) rc = pp_oauth_url_param(&b, "state", state, &first);
	if (!rc) {
		pp_http_status(r, 302);
		rc = pp_http_set_header(r, "Location", pp_buf_cstr(&b));
	}
	pp_buf_free(&b);
	return rc;
}

int pp_oauth_redirect_url(const char *redirect, const char *code, const char *error,
                          const char *state, pp_buf *out)
{
	bool first = true;
	int rc = pp_buf_appends(out, redirect);

	if (!rc && code) rc = pp_oauth_url_param(out, "code", code, &first);
	if (!rc && error) rc = pp_oauth_url_param(out, "error", error, &first);
	if (!rc && state) rc = pp_oauth_url_param(out, "state", state, &first);
	return rc;
}

static int h_authorize(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	const char *cid = pp_http_query(r, "client_id"), *redirect = pp_http_query(r, "redirect_uri");
	const char *rtype = pp_http_query(r, "response_type"), *scope = pp_http_query(r, "scope");
	const char *state = pp_http_query(r, "state"), *aud = pp_http_query(r, "aud");
	const char *chal = pp_http_query(r, "code_challenge");
	const char *method = pp_http_query(r, "code_challenge_method");
	const char *nonce = pp_http_query(r, "nonce"), *launch = pp_http_query(r, "launch");
	pp_store_oauth_client *c = calloc(1, sizeof *c);
	pp_store_oauth_request *q = calloc(1, sizeof *q);
	pp_scope_set *req = calloc(1, sizeof *req);
	const char *why = NULL;
	char loc[128], aud_buf[320];
	int64_t now = pp_clock_now_ms();
	int rc;

	(void)vapp;
	if (!c || !q || !req) {
		rc = PP_ENOMEM;
		goto out;
	}
	/* until the client and its redirect URI are known good, errors are shown, never redirected */
	if (!cid || strlen(cid) >= sizeof c->client_id ||
	    (rc = pp_store_oauth_client_get(o->st, cid, c)) == PP_ENOTFOUND) {
		rc = deny(o, r, "oauth.authorize", cid && strlen(cid) < 64 ? cid : NULL, NULL,
		          "client-unknown", 400, "invalid_client", "Unknown client_id");
		goto out;
	}
	if (rc)
		goto out;
	if (!redirect || !pp_oauth_redirect_registered(c->redirect_uris, redirect)) {
		rc = deny(o, r, "oauth.authorize", cid, NULL, "redirect-uri-mismatch", 400,
		          "invalid_request", "redirect_uri is not registered for this client (exact match)");
		goto out;
	}
	if (!state || !*state || strlen(state) >= sizeof q->state) {
		rc = redirect_error(o, r, cid, redirect, NULL, "state-missing", "invalid_request",
		                    "state is required");
		goto out;
	}
	if (!rtype || strcmp(rtype, "code")) {
		rc = redirect_error(o, r, cid, redirect, state, "response-type", "unsupported_response_type",
		                    "Only response_type=code is supported");
		goto out;
	}
	if (strcmp(c->type, "backend") == 0 || pp_oauth_client_usable(c, now, &why)) {
		rc = redirect_error(o, r, cid, redirect, state, why ? why : "grant-not-allowed",
		                    "unauthorized_client", "This client may not use the authorization code flow now");
		goto out;
	}
	if (!chal || !*chal) {
		rc = redirect_error(o, r, cid, redirect, state, "pkce-missing", "invalid_request",
		                    "PKCE is required: code_challenge with code_challenge_method=S256");
		goto out;
	}
	if (!method || strcmp(method, "S256") || strlen(chal) != 43) {
		rc = redirect_error(o, r, cid, redirect, state, "pkce-method", "invalid_request",
		                    "Only code_challenge_method=S256 is accepted");
		goto out;
	}
	/* IP lists are not applied here: the browser's address says nothing about the app; they
	 * apply at the token endpoint and on every /fhir request */
	snprintf(aud_buf, sizeof aud_buf, "%s", aud ? aud : "");
	while (aud_buf[0] && aud_buf[strlen(aud_buf) - 1] == '/')
		aud_buf[strlen(aud_buf) - 1] = '\0';
	if (strcmp(aud_buf, o->fhir_base)) {
		rc = redirect_error(o, r, cid, redirect, state, "aud-mismatch", "invalid_request",
		                    "aud must be this server's FHIR base URL");
		goto out;
	}
	if (!scope || pp_oauth_scope_parse(scope, req)) {
		rc = redirect_error(o, r, cid, redirect, state, "scope-invalid", "invalid_scope",
		                    "scope is missing or malformed");
		goto out;
	}
	if (launch) {
		/* SMART EHR launch: the launch id a staff member's chart handed to this very app, unused
		 * and fresh; the app must ask for the `launch` scope */
		pp_store_oauth_launch l;
		const char *bad = NULL;
		if (strlen(launch) != PP_OAUTH_TOKEN_LEN || pp_oauth_hash(launch, q->launch_hash) ||
		    pp_store_oauth_launch_get(o->st, q->launch_hash, &l))
			bad = "launch-unknown";
		else if (strcmp(l.client_id, cid))
			bad = "launch-other-client";
		else if (l.used_ms)
			bad = "launch-used";
		else if (l.expires_ms <= now)
			bad = "launch-expired";
		else if (!req->launch)
			bad = "launch-scope-missing";
		if (bad) {
			rc = redirect_error(o, r, cid, redirect, state, bad, "invalid_request",
			                    "The launch is not valid for this app (unknown, used or expired), "
			                    "or the launch scope is missing");
			goto out;
		}
		q->has_launch = 1;
	} else if (req->launch) {
		rc = redirect_error(o, r, cid, redirect, state, "launch-missing", "invalid_scope",
		                    "The launch scope needs a launch parameter (EHR launch)");
		goto out;
	}
	if (nonce && strlen(nonce) >= sizeof q->nonce) {
		rc = redirect_error(o, r, cid, redirect, state, "nonce-too-long", "invalid_request",
		                    "nonce is too long");
		goto out;
	}
	if ((rc = new_family_id(q->id)))
		goto out;
	snprintf(q->client_id, sizeof q->client_id, "%s", cid);
	snprintf(q->redirect_uri, sizeof q->redirect_uri, "%s", redirect);
	snprintf(q->scope, sizeof q->scope, "%s", scope);
	snprintf(q->state, sizeof q->state, "%s", state);
	snprintf(q->code_challenge, sizeof q->code_challenge, "%s", chal);
	snprintf(q->nonce, sizeof q->nonce, "%s", nonce ? nonce : "");
	q->created_ms = now;
	q->expires_ms = now + PP_OAUTH_REQUEST_TTL_MS;
	if (strlen(redirect) >= sizeof q->redirect_uri) {
		rc = deny(o, r, "oauth.authorize", cid, NULL, "redirect-too-long", 400, "invalid_request",
		          "redirect_uri is too long");
		goto out;
	}
	if ((rc = pp_store_oauth_request_insert(o->st, q)))
		goto out;
	if (pp_oauth_audit(o, r, cid, NULL, NULL, "oauth.authorize", "success",
	                   q->has_launch ? "consent-pending ehr-launch" : "consent-pending")) {
		rc = audit_failed(r);
		goto out;
	}
	snprintf(loc, sizeof loc, "/#/authorize/%s", q->id);
	pp_http_status(r, 302);
	pp_http_mark_phi(r);
	rc = pp_http_set_header(r, "Location", loc);
out:
	free(c);
	free(q);
	free(req);
	return rc;
}

/* ---- discovery ---- */
static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}
#define ARR(x) str_array(x, sizeof x / sizeof x[0])

static const char *const GRANTS[] = {"authorization_code", "refresh_token", "client_credentials"};
static const char *const AUTH_METHODS[] = {"private_key_jwt", "none"};
static const char *const SIGN_ALGS[] = {"RS384", "ES384"};
static const char *const ID_ALGS[] = {"RS256", "ES256"};
static const char *const SCOPES[] = {"openid", "fhirUser", "profile", "launch", "launch/patient",
	"offline_access", "online_access", "patient/*.rs", "patient/*.read", "user/*.rs",
	"system/*.rs", "system/*.read", "patient/Observation.rs?category=laboratory",
	"patient/Observation.rs?category=vital-signs"};

static int h_smart_config(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	static const char *const caps[] = {"launch-standalone", "launch-ehr", "client-public",
		"client-confidential-asymmetric", "context-standalone-patient", "context-ehr-patient",
		"permission-v1", "permission-v2", "permission-patient", "permission-user",
		"permission-offline", "permission-online",
		"sso-openid-connect"};
	char u[5][320];
	json_t *doc;

	(void)vapp;
	snprintf(u[0], sizeof u[0], "%s/oauth/authorize", o->issuer);
	snprintf(u[1], sizeof u[1], "%s/oauth/token", o->issuer);
	snprintf(u[2], sizeof u[2], "%s/oauth/introspect", o->issuer);
	snprintf(u[3], sizeof u[3], "%s/oauth/revoke", o->issuer);
	snprintf(u[4], sizeof u[4], "%s/jwks", o->issuer);
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:[s], s:[s]}",
	                "issuer", o->issuer, "authorization_endpoint", u[0], "token_endpoint", u[1],
	                "introspection_endpoint", u[2], "revocation_endpoint", u[3], "jwks_uri", u[4],
	                "grant_types_supported", ARR(GRANTS), "scopes_supported", ARR(SCOPES),
	                "token_endpoint_auth_methods_supported", ARR(AUTH_METHODS),
	                "token_endpoint_auth_signing_alg_values_supported", ARR(SIGN_ALGS),
	                "code_challenge_methods_supported", json_pack("[s]", "S256"),
	                "capabilities", ARR(caps), "id_token_signing_alg_values_supported", ARR(ID_ALGS),
	                "response_types_supported", json_pack("[s]", "code"),
	                "introspection_endpoint_auth_methods_supported", "private_key_jwt",
	                "revocation_endpoint_auth_methods_supported", "private_key_jwt");
	return json_reply(r, 200, doc);
}

static int h_oidc_config(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	char u[5][320];
	json_t *doc;

	(void)vapp;
	snprintf(u[0], sizeof u[0], "%s/oauth/authorize", o->issuer);
	snprintf(u[1], sizeof u[1], "%s/oauth/token", o->issuer);
	snprintf(u[2], sizeof u[2], "%s/oauth/introspect", o->issuer);
	snprintf(u[3], sizeof u[3], "%s/oauth/revoke", o->issuer);
	snprintf(u[4], sizeof u[4], "%s/jwks", o->issuer);
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s], s:o, s:o, s:o, s:o, s:o, s:o,"
	                " s:[s], s:[s,s,s,s,s,s,s], s:[s,s]}",
	                "issuer", o->issuer, "authorization_endpoint", u[0], "token_endpoint", u[1],
	                "introspection_endpoint", u[2], "revocation_endpoint", u[3], "jwks_uri", u[4],
	                "response_types_supported", "code", "subject_types_supported", "public",
	                "id_token_signing_alg_values_supported", ARR(ID_ALGS),
	                "grant_types_supported", ARR(GRANTS), "scopes_supported", ARR(SCOPES),
	                "token_endpoint_auth_methods_supported", ARR(AUTH_METHODS),
	                "token_endpoint_auth_signing_alg_values_supported", ARR(SIGN_ALGS),
	                "code_challenge_methods_supported", json_pack("[s]", "S256"),
	                "response_modes_supported", "query",
	                "claims_supported", "iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser",
	                "introspection_endpoint_auth_methods_supported", "private_key_jwt", "none");
	return json_reply(r, 200, doc);
}

static int h_jwks(void *vapp, pp_http_request *r)
{
	pp_oauth *o = pp_http_route_data(r);
	const char *j = pp_oauth_jwks(o);

	(void)vapp;
	pp_http_status(r, 200);
	pp_http_set_header(r, "Cache-Control", "public, max-age=300");
	return pp_http_body_set(r, "application/json", j, strlen(j));
}

int pp_oauth_endpoint_routes(pp_oauth *o, pp_http_server *s)
{
	int rc = 0;

	rc |= pp_http_route(s, "GET", "/oauth/authorize", h_authorize, o);
	rc |= pp_http_route(s, "POST", "/oauth/token", h_token, o);
	rc |= pp_http_route(s, "POST", "/oauth/introspect", h_introspect, o);
	rc |= pp_http_route(s, "POST", "/oauth/revoke", h_revoke, o);
	rc |= pp_http_route(s, "GET", "/.well-known/smart-configuration", h_smart_config, o);
	/* SMART discovery is defined relative to the FHIR base URL */
	rc |= pp_http_route(s, "GET", "/fhir/.well-known/smart-configuration", h_smart_config, o);
	rc |= pp_http_route(s, "GET", "/.well-known/openid-configuration", h_oidc_config, o);
	rc |= pp_http_route(s, "GET", "/jwks", h_jwks, o);
	return rc ? PP_EINVAL : PP_OK;
}
