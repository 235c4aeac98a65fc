/* The request object: its arena, the accessors handlers use, and response building. A request is
 * touched by one thread at a time (the MHD thread, then one worker while the connection is
 * suspended, then the MHD thread again); the hand-overs go through mutexes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "http/http_internal.h"

#define RESP_BODY_LIMIT ((size_t)256 * 1024 * 1024)

struct pp_http_arena_block {
	struct pp_http_arena_block *next;
	size_t size;
	max_align_t data[];
};

void *pp_http_req_alloc(pp_http_request *r, size_t n)
{
	pp_http_arena_block *b;
	if (!r || n > SIZE_MAX / 2)
		return NULL;
	b = calloc(1, sizeof(*b) + n + 1);
	if (!b)
		return NULL;
	b->size = n + 1;
	b->next = r->arena;
	r->arena = b;
	return b->data;
}

char *pp_http_req_strndup(pp_http_request *r, const char *s, size_t n)
{
	char *p;
	if (!s)
		return NULL;
	p = pp_http_req_alloc(r, n);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

char *pp_http_req_strdup(pp_http_request *r, const char *s)
{
	return s ? pp_http_req_strndup(r, s, strlen(s)) : NULL;
}

int pp_http_request_new(pp_http_request **out, pp_http_server *srv, size_t body_limit)
{
	pp_http_request *r = calloc(1, sizeof(*r));
	if (!r)
		return PP_ENOMEM;
	r->srv = srv;
	r->user_agent = "";
	r->log_route = "-";
	pp_buf_init(&r->body, body_limit);
	pp_buf_init(&r->resp_body, RESP_BODY_LIMIT);
	*out = r;
	return 0;
}

void pp_http_request_free(pp_http_request *r)
{
	pp_http_arena_block *b, *next;
	if (!r)
		return;
	for (b = r->arena; b; b = next) {
		next = b->next;
		/* request memory may hold cookies, tokens and PHI */
		pp_wipe(b->data, b->size);
		free(b);
	}
	pp_buf_free(&r->body);
	pp_buf_free(&r->resp_body);
	if (r->reader_free && r->reader_ctx)
		r->reader_free(r->reader_ctx);
	free(r);
}

static void reader_release(pp_http_request *r)
{
	if (r->reader_free && r->reader_ctx)
		r->reader_free(r->reader_ctx);
	r->reader = NULL;
	r->reader_ctx = NULL;
	r->reader_free = NULL;
	r->reader_len = 0;
}

void pp_http_response_reset(pp_http_request *r)
{
	r->status = 0;
	r->content_type = NULL;
	pp_buf_reset(&r->resp_body);
	r->resp_body_set = false;
	r->static_body = NULL;
	r->static_len = 0;
	r->nresp_headers = 0;
	r->nset_cookies = 0;
	reader_release(r);
}

/* ---- accessors ---- */

const char *pp_http_method(const pp_http_request *r)
{
	return r && r->method ? r->method : "";
}

const char *pp_http_path(const pp_http_request *r)
{
	return r && r->path ? r->path : "";
}

const char *pp_http_header(const pp_http_request *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].key, name) == 0)
			return r->headers[i].value;
	return NULL;
}

const char *pp_http_query(const pp_http_request *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (int i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].key, name) == 0)
			return r->query[i].value;
	return NULL;
}

const char *pp_http_query_string(const pp_http_request *r)
{
	return r && r->query_raw ? r->query_raw : "";
}

const char *pp_http_cookie(const pp_http_request *r, const char *name)
{
	static const char prefix[] = "__Host-";
	size_t plen = sizeof(prefix) - 1;
	if (!r || !name)
		return NULL;
	for (int i = 0; i < r->ncookies; i++) {
		const char *k = r->cookies[i].key;
		if (strncmp(k, prefix, plen) == 0 && strcmp(k + plen, name) == 0)
			return r->cookies[i].value;
	}
	return NULL;
}

const char *pp_http_param(const pp_http_request *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (int i = 0; i < r->match.nparams; i++)
		if (strcmp(r->match.params[i].key, name) == 0)
			return r->match.params[i].value;
	return NULL;
}

const char *pp_http_body(const pp_http_request *r, size_t *len)
{
	if (len)
		*len = r ? r->body.len : 0;
	if (!r || !r->body.data)
		return "";
	return r->body.data;
}

const char *pp_http_client_ip(const pp_http_request *r)
{
	return r ? r->client_ip : "";
}

const char *pp_http_user_agent(const pp_http_request *r)
{
	return r && r->user_agent ? r->user_agent : "";
}

const char *pp_http_request_id(const pp_http_request *r)
{
	return r ? r->request_id : "";
}

void *pp_http_route_data(const pp_http_request *r)
{
	if (r && r->upload)
		return r->upload->data;
	return r ? pp_http_route_entry_data(r->match.route) : NULL;
}

/* ---- response ---- */

void pp_http_status(pp_http_request *r, int status)
{
	if (r && status >= 100 && status <= 599)
		r->status = status;
}

static bool token_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *p))
			return false;
	return true;
}

static bool header_value_ok(const char *s)
{
	if (!s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* headers the server owns: handlers use the dedicated calls or cannot change them */
static bool header_reserved(const char *name)
{
	static const char *const reserved[] = {
		"Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Set-Cookie",
		"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
		"Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy",
		"Permissions-Policy", "X-Request-Id", "Pragma", "Date",
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return true;
	return false;
}

int pp_http_set_header(pp_http_request *r, const char *name, const char *value)
{
	char *n, *v;
	if (!r || !token_ok(name) || !header_value_ok(value) || header_reserved(name))
		return PP_EINVAL;
	v = pp_http_req_strdup(r, value);
	if (!v)
		return PP_ENOMEM;
	for (int i = 0; i < r->nresp_headers; i++) {
		if (strcasecmp(r->resp_headers[i].key, name) == 0) {
			r->resp_headers[i].value = v;
			return 0;
		}
	}
	if (r->nresp_headers >= PP_HTTP_MAX_RESP_HEADERS)
		return PP_ETOOBIG;
	n = pp_http_req_strdup(r, name);
	if (!n)
		return PP_ENOMEM;
	r->resp_headers[r->nresp_headers].key = n;
	r->resp_headers[r->nresp_headers].value = v;
	r->nresp_headers++;
	return 0;
}

int pp_http_body_set(pp_http_request *r, const char *content_type, const void *data, size_t len)
{
	int rc;
	if (!r || (!data && len) || (content_type && !header_value_ok(content_type)))
		return PP_EINVAL;
	pp_buf_reset(&r->resp_body);
	reader_release(r);
	r->static_body = NULL;
	r->static_len = 0;
	r->content_type = NULL;
	if (content_type && !(r->content_type = pp_http_req_strdup(r, content_type)))
		return PP_ENOMEM;
	rc = len ? pp_buf_append(&r->resp_body, data, len) : 0;
	if (rc < 0)
		return rc;
	r->resp_body_set = true;
	return 0;
}

int pp_http_body_take(pp_http_request *r, const char *content_type, pp_buf *b)
{
	int rc;
	if (!b)
		return PP_EINVAL;
	if ((rc = pp_http_body_set(r, content_type, NULL, 0)) < 0)
		return rc;
	pp_buf_free(&r->resp_body);
	r->resp_body = *b;
	pp_buf_init(b, 0);
	return 0;
}

int pp_http_body_stream(pp_http_request *r, const char *content_type, uint64_t len,
                        pp_http_body_reader read, void *ctx, void (*free_ctx)(void *ctx))
{
	int rc;
	if (!r || !read || (content_type && !header_value_ok(content_type))) {
		if (free_ctx && ctx)
			free_ctx(ctx);
		return PP_EINVAL;
	}
	if ((rc = pp_http_body_set(r, content_type, NULL, 0)) < 0) {
		if (free_ctx && ctx)
			free_ctx(ctx);
		return rc;
	}
	reader_release(r);
	r->reader = read;
	r->reader_ctx = ctx;
	r->reader_free = free_ctx;
	r->reader_len = len;
	return 0;
}

void pp_http_mark_phi(pp_http_request *r)
{
	if (r)
		r->phi = true;
}

int pp_http_set_cookie(pp_http_request *r, const char *name, const char *value, int max_age_s)
{
	char line[4096];
	int n;
	if (!r || !token_ok(name) || !value)
		return PP_EINVAL;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (!(*p == 0x21 || (*p >= 0x23 && *p <= 0x2b) || (*p >= 0x2d && *p <= 0x3a) ||
		      (*p >= 0x3c && *p <= 0x5b) || (*p >= 0x5d && *p <= 0x7e)))
			return PP_EINVAL;
	if (r->nset_cookies >= PP_HTTP_MAX_SET_COOKIES)
		return PP_ETOOBIG;
	if (max_age_s >= 0)
		n = snprintf(line, sizeof(line),
		             "__Host-%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%d", name,
		             value, max_age_s);
	else
		n = snprintf(line, sizeof(line), "__Host-%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict",
		             name, value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return PP_ETOOBIG;
	r->set_cookies[r->nset_cookies] = pp_http_req_strndup(r, line, (size_t)n);
	pp_wipe(line, sizeof(line));
	if (!r->set_cookies[r->nset_cookies])
		return PP_ENOMEM;
	r->nset_cookies++;
	return 0;
}

int pp_http_error(pp_http_request *r, int status, const char *code, const char *message)
{
	json_t *j;
	char *s;
	int rc;
	if (!r || !code)
		return PP_EINVAL;
	j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message ? message : code);
	if (!j)
		return PP_ENOMEM;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return PP_ENOMEM;
	pp_http_status(r, status);
	rc = pp_http_body_set(r, "application/json", s, strlen(s));
	free(s);
	return rc;
}

void pp_http_error_from_code(pp_http_request *r, int err)
{
	pp_http_response_reset(r);
	switch (err) {
	case PP_EINVAL:
		pp_http_error(r, 400, "bad_request", "The request is malformed.");
		break;
	case PP_ENOTFOUND:
		pp_http_error(r, 404, "not_found", "Not found.");
		break;
	case PP_EDENIED:
		pp_http_error(r, 403, "forbidden", "Not allowed.");
		break;
	case PP_EAUTH:
		pp_http_error(r, 401, "unauthorized", "Authentication required.");
		break;
	case PP_ETOOBIG:
		pp_http_error(r, 413, "too_large", "The request is too large.");
		break;
	case PP_ELOCKED:
		pp_http_error(r, 429, "locked", "Too many attempts; try again later.");
		break;
	case PP_EBUSY:
		pp_http_error(r, 503, "busy", "The server is busy; try again.");
		pp_http_set_header(r, "Retry-After", "1");
		break;
	case PP_EAUDIT:
		pp_http_error(r, 503, "audit_unavailable", "The service is temporarily unavailable.");
		break;
	default:
		pp_http_error(r, 500, "internal", "Internal error.");
		break;
	}
}

/* ---- inputs ---- */

int pp_http_request_parse_inputs(pp_http_request *r, int max_query)
{
	size_t total = 0;
	char *cookie_buf, *w;
	int n, ncookie_hdrs = 0;
	/* query: parse a copy so that query_raw stays intact */
	if (r->query_raw && *r->query_raw) {
		char *q = pp_http_req_strdup(r, r->query_raw);
		r->query = pp_http_req_alloc(r, sizeof(pp_http_kv) * (size_t)(max_query > 0 ? max_query : 1));
		if (!q || !r->query)
			return PP_ENOMEM;
		n = pp_http_parse_query(q, r->query, max_query);
		if (n < 0) {
			r->query_err = n;
			r->nquery = 0;
			return n;
		}
		r->nquery = n;
	}
	/* cookies: all Cookie headers joined with "; " */
	for (int i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].key, "Cookie") == 0) {
			total += strlen(r->headers[i].value) + 2;
			ncookie_hdrs++;
		}
	}
	if (!ncookie_hdrs)
		return 0;
	cookie_buf = w = pp_http_req_alloc(r, total + 1);
	r->cookies = pp_http_req_alloc(r, sizeof(pp_http_kv) * PP_HTTP_MAX_COOKIES);
	if (!cookie_buf || !r->cookies)
		return PP_ENOMEM;
	for (int i = 0; i < r->nheaders; i++) {
		size_t l;
		if (strcasecmp(r->headers[i].key, "Cookie") != 0)
			continue;
		l = strlen(r->headers[i].value);
		memcpy(w, r->headers[i].value, l);
		w += l;
		*w++ = ';';
	}
	*w = '\0';
	n = pp_http_parse_cookies(cookie_buf, r->cookies, PP_HTTP_MAX_COOKIES);
	if (n < 0) {
		r->cookie_err = n;
		r->ncookies = 0;
		return n;
	}
	r->ncookies = n;
	return 0;
}
