/* libFuzzer target: the Cookie header parser.
 * fuzz-modules: core http */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pp_http_kv kv[8];
	char *buf;
	int n;
	if (size > 65536)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	n = pp_http_parse_cookies(buf, kv, 8);
	if (n > 8 || (n < 0 && n != PP_ETOOBIG))
		abort();
	for (int i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		size_t kl = strlen(k);
		if (k < buf || k > buf + size || v < buf || v > buf + size || kl == 0)
			abort();
		/* names are tokens: no separators, spaces or controls survive (values are
		 * percent-decoded, so "%3B" legitimately yields ';' there) */
		for (const char *c = k; *c; c++)
			if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || strchr(";=,\"", *c))
				abort();
	}
	free(buf);
	return 0;
}
