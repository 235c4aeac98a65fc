/* oauth: the authorization server object (open/close, keys, rate limiter), the helpers every
 * oauth file shares (token generation and hashing, the audit call) and pp_oauth_authenticate, the
 * bearer-token check that /fhir runs on every request. */
#include "oauth/oauth_internal.h"
#include "oauth/token_cache.h"
#include "store/store_epoch.h"

#include <rhonabwy.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

int pp_oauth_hash(const char *token, uint8_t out[32])
{
	return pp_crypto_sha256(token, strlen(token), out);
}

int pp_oauth_new_token(char out[PP_OAUTH_TOKEN_LEN + 1])
{
	uint8_t rnd[32];
	int rc = pp_random(rnd, sizeof rnd);

	if (!rc)
		pp_b64url_encode(rnd, sizeof rnd, out);
	pp_wipe(rnd, sizeof rnd);
	return rc;
}

int pp_oauth_audit(pp_oauth *o, pp_http_request *r, const char *client_id, const char *user,
                   const char *patient, const char *action, const char *outcome, const char *detail)
{
	char actor[96];
	pp_audit_event ev = {0};
	int rc;

	snprintf(actor, sizeof actor, "client:%s", client_id && *client_id ? client_id : "unknown");
	ev.actor = actor;
	ev.actor_role = "oauth-client";
	ev.on_behalf_of = user;
	ev.patient = patient && *patient ? patient : NULL;
	ev.action = action;
	ev.resource_type = "OAuthToken";
	ev.outcome = outcome;
	ev.detail = detail;
	ev.purpose = "patient-access";
	if (r) {
		ev.source_ip = pp_http_client_ip(r);
		ev.user_agent = pp_http_user_agent(r);
		ev.request_id = pp_http_request_id(r);
	}
	rc = pp_audit_record(o->audit, &ev);
	if (rc)
		pp_log_error("audit: oauth record failed (%s)", pp_strerror(rc));
	return rc ? PP_EAUDIT : PP_OK;
}

static void strip_slash(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
}

int pp_oauth_open(pp_oauth **out, const pp_config *cfg, pp_store *st, pp_crypto *c, pp_audit *audit,
                  pp_auth *auth)
{
	pp_oauth *o;
	int rc;

	*out = NULL;
	if (!cfg || !st || !c || !audit)
		return PP_EINVAL;
	if (strcmp(cfg->oauth_id_token_alg, "RS256") && strcmp(cfg->oauth_id_token_alg, "ES256")) {
		pp_log_error("oauth.id_token_alg must be RS256 or ES256");
		return PP_ECONFIG;
	}
	if (!(o = calloc(1, sizeof *o)))
		return PP_ENOMEM;
	o->cfg = cfg;
	o->st = st;
	o->crypto = c;
	o->audit = audit;
	o->auth = auth;
	pthread_mutex_init(&o->key_mu, NULL);
	snprintf(o->issuer, sizeof o->issuer, "%s", cfg->server_public_url);
	strip_slash(o->issuer);
	snprintf(o->fhir_base, sizeof o->fhir_base, "%s/fhir", o->issuer);
	snprintf(o->token_url, sizeof o->token_url, "%s/oauth/token", o->issuer);
	if ((rc = pp_ratelimit_new(&o->rl)) || (rc = pp_oauth_anomaly_new(&o->anomaly)) ||
	    (rc = pp_oauth_token_cache_new(&o->token_cache)) ||
	    (rc = pp_oauth_jwks_cache_new(&o->jwks_cache)) ||
	    (rc = pp_oauth_keys_load(o))) {
		pp_oauth_close(o);
		return rc;
	}
	*out = o;
	return PP_OK;
}

void pp_oauth_close(pp_oauth *o)
{
	if (!o)
		return;
	pp_oauth_keys_free(o);
	pp_ratelimit_free(o->rl);
	pp_oauth_anomaly_free(o->anomaly);
	pp_oauth_token_cache_free(o->token_cache);
	pp_oauth_jwks_cache_free(o->jwks_cache);
	pthread_mutex_destroy(&o->key_mu);
	free(o);
}

int pp_oauth_routes(pp_oauth *o, pp_http_server *s)
{
	int rc;

	if (!o || !s)
		return PP_EINVAL;
	if ((rc = pp_oauth_endpoint_routes(o, s)))
		return rc;
	return pp_oauth_consent_routes(o, s);
}

/* WWW-Authenticate per RFC 6750 */
static void challenge(pp_http_request *r, const char *error, const char *desc)
{
	char v[256];

	if (error)
		snprintf(v, sizeof v, "Bearer realm=\"phiportal\", error=\"%s\", error_description=\"%s\"",
		         error, desc);
	else
		snprintf(v, sizeof v, "Bearer realm=\"phiportal\"");
	pp_http_set_header(r, "WWW-Authenticate", v);
}

static int refuse(pp_oauth *o, pp_http_request *r, const char *client_id, const char *patient,
                  const char *why, int rc)
{
	if (pp_oauth_audit(o, r, client_id, NULL, patient, "oauth.authenticate", "denied", why))
		return PP_EAUDIT;
	return rc;
}

/* Reads what the checks below decide on from the database: the token joined with its family, and
 * its client. PP_ENOTFOUND when the token is not known. */
static int load_view(pp_oauth *o, const uint8_t hash[32], int64_t now, pp_oauth_token_view *v)
{
	pp_store_oauth_access *a = NULL;
	pp_store_oauth_client *c = NULL;
	int rc;

	memset(v, 0, sizeof *v);
	if (!(a = malloc(sizeof *a)) || !(c = malloc(sizeof *c))) {
		rc = PP_ENOMEM;
		goto out;
	}
	if ((rc = pp_store_oauth_access_get(o->st, hash, a)))
		goto out;
	v->expires_ms = a->expires_ms;
	v->revoked = a->revoked_ms || a->family.revoked_ms;
	snprintf(v->client_id, sizeof v->client_id, "%s", a->family.client_id);
	v->user_id = a->family.user_id;
	snprintf(v->user_role, sizeof v->user_role, "%s", a->family.user_role);
	v->patient_id = a->family.patient_id;
	snprintf(v->patient_pub, sizeof v->patient_pub, "%s", a->family.patient_pub);
	v->scopes_rc = pp_oauth_scope_parse(a->family.scope, &v->scopes);
	if (!v->scopes_rc) {   /* formatted once per token, not per request */
		pp_buf b;
		pp_buf_init(&b, sizeof v->scope_text - 1);
		if (!pp_oauth_scope_format(&v->scopes, &b) && b.len)
			snprintf(v->scope_text, sizeof v->scope_text, "%s", pp_buf_cstr(&b));
		pp_buf_free(&b);
	}
	rc = pp_store_oauth_client_get(o->st, a->family.client_id, c);
	if (rc == PP_ENOTFOUND) {
		rc = PP_OK;   /* a known token of an unknown client: refused below */
		goto out;
	}
	if (rc)
		goto out;
	v->client_known = true;
	v->day = now / 86400000LL;
	pp_oauth_client_usable(c, now, &v->why_unusable);
	snprintf(v->ip_allow, sizeof v->ip_allow, "%s", c->ip_allow);
	snprintf(v->ip_deny, sizeof v->ip_deny, "%s", c->ip_deny);
	v->rate_per_min = c->rate_per_min;
out:
	free(a);
	free(c);
	return rc;
}

void pp_oauth_grant_clear(pp_oauth_grant *g)
{
	memset(g, 0, offsetof(pp_oauth_grant, scopes));
	memset(&g->scopes.n, 0, sizeof g->scopes - offsetof(pp_scope_set, n));
	memset((char *)g + offsetof(pp_oauth_grant, scopes) + sizeof g->scopes, 0,
	       sizeof *g - offsetof(pp_oauth_grant, scopes) - sizeof g->scopes);
}

int pp_oauth_authenticate(pp_oauth *o, pp_http_request *r, pp_oauth_grant *out)
{
	const char *h, *tok;
	uint8_t hash[32];
	pp_oauth_token_view *v = NULL;
	int64_t now = pp_clock_now_ms();
	uint64_t epoch = 0;
	int retry = 0, rc;
	char hex[65];

	if (!o || !r || !out)
		return PP_EINVAL;
	pp_oauth_grant_clear(out);
	h = pp_http_header(r, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7)) {
		challenge(r, NULL, NULL);
		return PP_EAUTH;   /* no credentials: RFC 6750 asks for no error code, nothing to audit */
	}
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	if (strlen(tok) != PP_OAUTH_TOKEN_LEN) {
		challenge(r, "invalid_token", "The access token is malformed");
		return refuse(o, r, NULL, NULL, "token-malformed", PP_EAUTH);
	}
	pp_oauth_hash(tok, hash);
	pp_hex_encode(hash, 8, hex);
	if (!(v = malloc(sizeof *v)))
		return PP_ENOMEM;
	/* The rows as of this request: from the cache only when nothing was committed since they were
	 * read (token_cache.c); the epoch is taken before the rows are read. Without an epoch (an
	 * error) the cache is not used. */
	if (pp_store_epoch(o->st, &epoch))
		epoch = 0;
	if (!pp_oauth_token_cache_get(o->token_cache, hash, epoch, v) ||
	    (v->client_known && v->day != now / 86400000LL)) {
		rc = load_view(o, hash, now, v);
		if (rc == PP_ENOTFOUND) {
			challenge(r, "invalid_token", "The access token is not known");
			rc = refuse(o, r, NULL, NULL, "token-unknown", PP_EAUTH);
			goto out;
		}
		if (rc)
			goto out;
		pp_oauth_token_cache_put(o->token_cache, hash, epoch, v);
	}
	if (v->revoked) {
		challenge(r, "invalid_token", "The access token was revoked");
		rc = refuse(o, r, v->client_id, v->patient_pub, "token-revoked", PP_EAUTH);
		goto out;
	}
	if (v->expires_ms <= now) {
		challenge(r, "invalid_token", "The access token expired");
		rc = refuse(o, r, v->client_id, v->patient_pub, "token-expired", PP_EAUTH);
		goto out;
	}
	if (!v->client_known || v->why_unusable) {
		challenge(r, "invalid_token", "The client may not use this token");
		rc = refuse(o, r, v->client_id, v->patient_pub,
		            v->why_unusable ? v->why_unusable : "client-unknown", PP_EDENIED);
		goto out;
	}
	if (!pp_iplist_allowed(pp_http_client_ip(r), v->ip_allow, v->ip_deny)) {
		rc = refuse(o, r, v->client_id, v->patient_pub, "ip-not-allowed", PP_EDENIED);
		goto out;
	}
	if (!pp_ratelimit_take(o->rl, v->client_id, v->rate_per_min, now, &retry)) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry);
		pp_http_set_header(r, "Retry-After", ra);
		rc = refuse(o, r, v->client_id, v->patient_pub, "rate-limited", PP_ELOCKED);
		goto out;
	}
	if (v->scopes_rc) {
		rc = PP_EIO;
		goto out;
	}
	pp_oauth_scope_set_copy(&out->scopes, &v->scopes);
	snprintf(out->client_id, sizeof out->client_id, "%s", v->client_id);
	out->user_id = v->user_id;
	snprintf(out->user_role, sizeof out->user_role, "%s", v->user_role);
	out->patient_id = v->patient_id;
	snprintf(out->patient_pub, sizeof out->patient_pub, "%s", v->patient_pub);
	out->expires_ms = v->expires_ms;
	snprintf(out->token_id, sizeof out->token_id, "%.16s", hex);
	snprintf(out->scope_text, sizeof out->scope_text, "%s", v->scope_text);
	out->store_epoch = epoch;
	rc = PP_OK;
out:
	free(v);
	return rc;
}
