/* libFuzzer target: the query-string parser, percent-decoding and the router's path handling.
 * fuzz-modules: core http */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http/http_internal.h"

static int h_any(void *app, pp_http_request *r)
{
	(void)app;
	(void)r;
	return 0;
}

static pp_http_router *router(void)
{
	static pp_http_router *rt;
	if (!rt) {
		if (pp_http_router_new(&rt) < 0 ||
		    pp_http_router_add(rt, "GET", "/api/v1/patients/:id/summary", h_any, NULL) < 0 ||
		    pp_http_router_add(rt, "GET", "/api/v1/patients/me/summary", h_any, NULL) < 0 ||
		    pp_http_router_add(rt, "POST", "/api/v1/:a/:b", h_any, NULL) < 0 ||
		    pp_http_router_add(rt, "GET", "/static/*", h_any, NULL) < 0)
			abort();
	}
	return rt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pp_http_kv kv[16];
	char *buf, *copy, *mb;
	int n;
	if (size > 65536)
		return 0;
	buf = malloc(size + 1);
	copy = malloc(size + 1);
	if (!buf || !copy)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	memcpy(copy, buf, size + 1);

	n = pp_http_parse_query(buf, kv, 16);
	if (n > 16 || (n < 0 && n != PP_EINVAL && n != PP_ETOOBIG))
		abort();
	for (int i = 0; i < n; i++) {
		/* pairs point into the buffer, keys are never empty */
		if (kv[i].key < buf || kv[i].key > buf + size || !kv[i].key[0])
			abort();
		if ((kv[i].value < buf || kv[i].value > buf + size) && kv[i].value[0])
			abort();
	}

	/* the same bytes as a request path */
	{
		size_t cap = 2 * (size + 1);
		pp_http_match m;
		mb = malloc(cap);
		if (!mb)
			abort();
		n = pp_http_router_match(router(), size & 1 ? "GET" : "POST", copy, mb, cap, &m);
		if (n == PP_HTTP_MATCH_OK && !m.route)
			abort();
		if (n == PP_HTTP_MATCH_OK)
			for (int i = 0; i < m.nparams; i++)
				if (!m.params[i].key || !m.params[i].value)
					abort();
		free(mb);
	}
	/* decoding never grows */
	if (pp_http_pct_decode(copy, true) == 0 && strlen(copy) > size)
		abort();
	free(buf);
	free(copy);
	return 0;
}
