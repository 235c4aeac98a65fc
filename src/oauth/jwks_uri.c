/* oauth: backend clients whose public keys live at a jwks_uri (SMART Backend Services). The set is
 * fetched with libcurl — HTTPS only, certificate and host name verified (CA bundle from
 * oauth.jwks_ca_file or the system store), no redirects, 5 s timeout, 256 KiB cap — checked like
 * a registered JWKS, and cached per client for 5 minutes. A key id missing from the cached set
 * (the client rotated its keys) allows one refetch, at most once a second per client. */
#include "oauth/oauth_internal.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define JWKS_CACHE_N 64

typedef struct jwks_entry {
	char client_id[64];
	char uri[512];
	char *json;            /* NULL = free slot */
	int64_t fetched_ms;
} jwks_entry;

struct pp_oauth_jwks_cache {
	pthread_mutex_t mu;
	jwks_entry e[JWKS_CACHE_N];
};

int pp_oauth_jwks_cache_new(pp_oauth_jwks_cache **out)
{
	pp_oauth_jwks_cache *c;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return PP_EIO;
	if (!(c = calloc(1, sizeof *c))) {
		curl_global_cleanup();
		return PP_ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return PP_OK;
}

void pp_oauth_jwks_cache_free(pp_oauth_jwks_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < JWKS_CACHE_N; i++)
		free(c->e[i].json);
	pthread_mutex_destroy(&c->mu);
	free(c);
	curl_global_cleanup();
}

bool pp_oauth_jwks_uri_ok(const char *uri)
{
	size_t n = uri ? strlen(uri) : 0;

	if (n <= 8 || n >= sizeof(((pp_store_oauth_client *)0)->jwks_uri) || strncmp(uri, "https://", 8))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)uri[i] <= ' ' || uri[i] == 0x7f || uri[i] == '#')
			return false;
	return uri[8] != '/';
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	pp_buf *b = ud;

	if (n && size > SIZE_MAX / n)
		return 0;
	return pp_buf_append(b, p, size * n) ? 0 : size * n;
}

/* one GET of uri; *out malloc'd (NUL-terminated) */
static int fetch(pp_oauth *o, const char *client_id, const char *uri, char **out, const char **why)
{
	CURL *h = NULL;
	char ca[1024] = "";
	pp_buf b;
	long status = 0;
	CURLcode cc;
	int rc = PP_EIO;

	*out = NULL;
	pp_buf_init(&b, PP_OAUTH_JWKS_MAX);
	*why = "jwks-fetch-failed";
	if (o->cfg->oauth_jwks_ca_file[0] &&
	    pp_config_path(o->cfg, o->cfg->oauth_jwks_ca_file, ca, sizeof ca))
		goto out;
	if (!(h = curl_easy_init()))
		goto out;
	if (curl_easy_setopt(h, CURLOPT_URL, uri) || curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) ||
	    (ca[0] && curl_easy_setopt(h, CURLOPT_CAINFO, ca)) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)PP_OAUTH_JWKS_TIMEOUT_MS) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)PP_OAUTH_JWKS_TIMEOUT_MS) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PP_OAUTH_JWKS_MAX) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "phiportal-jwks") ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b))
		goto out;
	cc = curl_easy_perform(h);
	if (cc == CURLE_FILESIZE_EXCEEDED || (cc == CURLE_WRITE_ERROR && b.len > 0)) {
		*why = "jwks-too-large";
		pp_log_warn("oauth: the jwks_uri of client %s serves more than %d bytes", client_id,
		            PP_OAUTH_JWKS_MAX);
		goto out;
	}
	if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
		*why = "jwks-uri-not-https";
		goto out;
	}
	if (cc != CURLE_OK) {
		pp_log_warn("oauth: fetching the jwks_uri of client %s failed: %s", client_id,
		            curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		pp_log_warn("oauth: the jwks_uri of client %s answered HTTP %ld", client_id, status);
		goto out;
	}
	*why = "jwks-invalid";
	if (memchr(pp_buf_cstr(&b), '\0', b.len) || pp_oauth_jwks_check_max(pp_buf_cstr(&b), PP_OAUTH_JWKS_MAX + 1)) {
		pp_log_warn("oauth: the jwks_uri of client %s serves no usable JWKS", client_id);
		goto out;
	}
	if (!(*out = pp_buf_take(&b, NULL))) {   /* NUL-terminated: pp_buf keeps one after len */
		rc = PP_ENOMEM;
		goto out;
	}
	*why = NULL;
	rc = PP_OK;
out:
	pp_buf_free(&b);
	curl_easy_cleanup(h);
	return rc;
}

/* the slot for client_id (existing, free, or the oldest); called with the lock held */
static jwks_entry *slot(pp_oauth_jwks_cache *c, const char *client_id, bool *found)
{
	jwks_entry *best = &c->e[0];

	*found = false;
	for (int i = 0; i < JWKS_CACHE_N; i++) {
		jwks_entry *e = &c->e[i];
		if (e->json && !strcmp(e->client_id, client_id)) {
			*found = true;
			return e;
		}
		if (!e->json ? best->json != NULL : (best->json && e->fetched_ms < best->fetched_ms))
			best = e;
	}
	return best;
}

int pp_oauth_jwks_remote(pp_oauth *o, const pp_store_oauth_client *cl, bool refresh, char **out,
                         const char **why)
{
	pp_oauth_jwks_cache *c = o->jwks_cache;
	int64_t now = pp_clock_now_ms();
	jwks_entry *e;
	char *fresh = NULL;
	bool found;
	int rc;

	*out = NULL;
	*why = NULL;
	if (!pp_oauth_jwks_uri_ok(cl->jwks_uri)) {
		*why = "jwks-uri-not-https";
		return PP_EINVAL;
	}
	pthread_mutex_lock(&c->mu);
	e = slot(c, cl->client_id, &found);
	if (found && !strcmp(e->uri, cl->jwks_uri) &&
	    (refresh ? now - e->fetched_ms < PP_OAUTH_JWKS_REFETCH_MS
	             : now - e->fetched_ms < PP_OAUTH_JWKS_TTL_MS)) {
		*out = pp_strdup(e->json);
		pthread_mutex_unlock(&c->mu);
		return *out ? PP_OK : PP_ENOMEM;
	}
	pthread_mutex_unlock(&c->mu);

	/* fetched without the lock: one slow client does not hold up the others */
	if ((rc = fetch(o, cl->client_id, cl->jwks_uri, &fresh, why)))
		return rc;
	if (!(*out = pp_strdup(fresh))) {
		free(fresh);
		return PP_ENOMEM;
	}
	pthread_mutex_lock(&c->mu);
	e = slot(c, cl->client_id, &found);
	free(e->json);
	snprintf(e->client_id, sizeof e->client_id, "%s", cl->client_id);
	snprintf(e->uri, sizeof e->uri, "%s", cl->jwks_uri);
	e->json = fresh;
	e->fetched_ms = now;
	pthread_mutex_unlock(&c->mu);
	return PP_OK;
}
