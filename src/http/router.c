/* The router: patterns of exact and ":name" segments with an optional trailing "*".
 * When several patterns match, the most specific wins, segment by segment: an exact segment beats
 * a parameter, which beats the wildcard; so "/p/me" wins over "/p/:id" whatever the order. */
#include <stdlib.h>
#include <string.h>
#include "http/http_internal.h"

enum seg_kind { SEG_LIT = 0, SEG_PARAM = 1, SEG_REST = 2 };

struct pp_http_route_entry {
	char method[16];
	char *pattern;
	char *segbuf;                        /* the pattern split into segments */
	int nseg;
	const char *seg[PP_HTTP_MAX_SEGMENTS];
	enum seg_kind kind[PP_HTTP_MAX_SEGMENTS];
	pp_http_handler handler;
	void *data;
	struct pp_http_route_entry *next;
};

struct pp_http_router {
	pp_http_route_entry *head, *tail;
};

int pp_http_router_new(pp_http_router **out)
{
	pp_http_router *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return PP_ENOMEM;
	*out = rt;
	return 0;
}

void pp_http_router_free(pp_http_router *rt)
{
	pp_http_route_entry *e, *next;
	if (!rt)
		return;
	for (e = rt->head; e; e = next) {
		next = e->next;
		free(e->pattern);
		free(e->segbuf);
		free(e);
	}
	free(rt);
}

/* splits "/a/b/c" (after the leading '/') into segments in place; "/" is zero segments */
static int split(char *s, const char **seg, int max)
{
	int n = 0;
	if (*s != '/')
		return PP_EINVAL;
	s++;
	if (!*s)
		return 0;
	for (;;) {
		char *slash = strchr(s, '/');
		if (n >= max)
			return PP_ETOOBIG;
		seg[n++] = s;
		if (!slash)
			break;
		*slash = '\0';
		s = slash + 1;
	}
	return n;
}

int pp_http_router_add(pp_http_router *rt, const char *method, const char *pattern,
                       pp_http_handler h, void *data)
{
	int rc = PP_EINVAL, n;
	pp_http_route_entry *e = NULL;
	size_t mlen;
	if (!rt || !method || !pattern || !h || pattern[0] != '/')
		goto out;
	mlen = strlen(method);
	if (mlen == 0 || mlen >= sizeof(e->method))
		goto out;
	rc = PP_ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e)
		goto out;
	memcpy(e->method, method, mlen + 1);
	e->pattern = pp_strdup(pattern);
	e->segbuf = pp_strdup(pattern);
	if (!e->pattern || !e->segbuf)
		goto out;
	n = split(e->segbuf, e->seg, PP_HTTP_MAX_SEGMENTS);
	if (n < 0) {
		rc = n;
		goto out;
	}
	rc = PP_EINVAL;
	for (int i = 0; i < n; i++) {
		if (strcmp(e->seg[i], "*") == 0) {
			if (i != n - 1)
				goto out;           /* "*" only at the end */
			e->kind[i] = SEG_REST;
		} else if (e->seg[i][0] == ':') {
			if (!e->seg[i][1])
				goto out;
			e->kind[i] = SEG_PARAM;
			e->seg[i]++;
		} else {
			e->kind[i] = SEG_LIT;
		}
	}
	e->nseg = n;
	e->handler = h;
	e->data = data;
	if (rt->tail)
		rt->tail->next = e;
	else
		rt->head = e;
	rt->tail = e;
	e = NULL;
	rc = 0;
out:
	if (e) {
		free(e->pattern);
		free(e->segbuf);
		free(e);
	}
	return rc;
}

/* does e match the decoded segments? */
static bool path_matches(const pp_http_route_entry *e, const char **seg, int n)
{
	int i;
	for (i = 0; i < e->nseg; i++) {
		if (e->kind[i] == SEG_REST)
			return true;            /* zero or more remaining segments */
		if (i >= n)
			return false;
		if (e->kind[i] == SEG_LIT && strcmp(e->seg[i], seg[i]) != 0)
			return false;
		if (e->kind[i] == SEG_PARAM && !seg[i][0])
			return false;           /* a parameter is never empty */
	}
	return i == n;
}

/* <0 when a is more specific than b */
static int specificity(const pp_http_route_entry *a, const pp_http_route_entry *b)
{
	for (int i = 0; i < a->nseg && i < b->nseg; i++)
		if (a->kind[i] != b->kind[i])
			return (int)a->kind[i] - (int)b->kind[i];
	return b->nseg - a->nseg;
}

static bool method_ok(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void allow_add(char *allow, size_t cap, const char *method)
{
	size_t len = strlen(allow), mlen = strlen(method);
	/* skip duplicates */
	for (const char *p = allow; (p = strstr(p, method)) != NULL; p += mlen)
		if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0'))
			return;
	if (len + mlen + 3 > cap)
		return;
	if (len) {
		memcpy(allow + len, ", ", 2);
		len += 2;
	}
	memcpy(allow + len, method, mlen + 1);
}

int pp_http_router_match(const pp_http_router *rt, const char *method, const char *path,
                         char *buf, size_t cap, pp_http_match *m)
{
	const char *seg[PP_HTTP_MAX_SEGMENTS];
	const char *rawseg[PP_HTTP_MAX_SEGMENTS];
	const pp_http_route_entry *best = NULL;
	bool path_known = false;
	size_t plen;
	int n;
	if (!rt || !method || !path || !buf || !m)
		return PP_EINVAL;
	memset(m, 0, sizeof(*m));
	plen = strlen(path);
	/* the raw copy keeps the rest for "*" undecoded; the decoded copy is for comparisons */
	if (2 * (plen + 1) > cap)
		return PP_ETOOBIG;
	memcpy(buf, path, plen + 1);
	memcpy(buf + plen + 1, path, plen + 1);
	n = split(buf, seg, PP_HTTP_MAX_SEGMENTS);
	if (n < 0)
		return n;
	if (split(buf + plen + 1, rawseg, PP_HTTP_MAX_SEGMENTS) != n)
		return PP_EINVAL;
	for (int i = 0; i < n; i++)
		if (pp_http_pct_decode((char *)seg[i], false) < 0)
			return PP_EINVAL;
	for (const pp_http_route_entry *e = rt->head; e; e = e->next) {
		if (!path_matches(e, seg, n))
			continue;
		path_known = true;
		allow_add(m->allow, sizeof(m->allow), e->method);
		if (strcmp(e->method, "GET") == 0)
			allow_add(m->allow, sizeof(m->allow), "HEAD");
		if (!method_ok(e->method, method))
			continue;
		/* an exact HEAD route beats GET-for-HEAD at equal specificity */
		if (!best || specificity(e, best) < 0 ||
		    (specificity(e, best) == 0 && strcmp(e->method, method) == 0 &&
		     strcmp(best->method, method) != 0))
			best = e;
	}
	if (!best)
		return path_known ? PP_HTTP_MATCH_METHOD : PP_HTTP_MATCH_NONE;
	m->route = best;
	for (int i = 0; i < best->nseg; i++) {
		if (best->kind[i] == SEG_PARAM) {
			m->params[m->nparams].key = best->seg[i];
			m->params[m->nparams].value = seg[i];
			m->nparams++;
		} else if (best->kind[i] == SEG_REST) {
			/* the raw rest of the path: the segments are consecutive in the second copy, so
			 * undoing the split gives "a/b/c" */
			const char *rest = "";
			if (i < n) {
				char *r = (char *)rawseg[i];
				for (int j = i + 1; j < n; j++)
					((char *)rawseg[j])[-1] = '/';
				rest = r;
			}
			m->params[m->nparams].key = "*";
			m->params[m->nparams].value = rest;
			m->nparams++;
		}
	}
	return PP_HTTP_MATCH_OK;
}

const char *pp_http_route_pattern(const pp_http_route_entry *e)
{
	return e ? e->pattern : "-";
}

pp_http_handler pp_http_route_handler(const pp_http_route_entry *e)
{
	return e ? e->handler : NULL;
}

void *pp_http_route_entry_data(const pp_http_route_entry *e)
{
	return e ? e->data : NULL;
}

int pp_http_router_each(const pp_http_router *rt, pp_http_router_visit visit, void *ctx)
{
	if (!rt || !visit)
		return PP_EINVAL;
	for (const pp_http_route_entry *e = rt->head; e; e = e->next)
		visit(ctx, e->method, e->pattern, e->handler);
	return 0;
}
