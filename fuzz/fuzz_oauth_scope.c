/* libFuzzer target: the SMART scope parser, its canonical formatting (which must parse back to
 * the same set), intersections and the allow decision with granular restrictions.
 * fuzz-modules: core store crypto audit auth policy http oauth */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "oauth/oauth_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pp_scope_set a, b, c;
	static json_t *res;
	char *text;
	pp_buf buf;

	if (!res)
		res = json_loads("{\"resourceType\":\"Observation\",\"category\":[{\"coding\":[{\"system\":"
		                 "\"http://x\",\"code\":\"laboratory\"}]}],\"code\":{\"coding\":[{\"code\":\"1\"}]}}",
		                 0, NULL);
	if (size > 4096)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pp_oauth_scope_parse(text, &a) == PP_OK) {
		pp_buf_init(&buf, 1 << 16);
		if (pp_oauth_scope_format(&a, &buf) == PP_OK) {
			if (pp_oauth_scope_parse(pp_buf_cstr(&buf), &b) != PP_OK || b.n != a.n)
				abort();   /* the canonical form must parse back to the same set */
			if (!pp_oauth_scope_subset(&a, &b) || !pp_oauth_scope_subset(&b, &a))
				abort();
		}
		pp_buf_free(&buf);
		pp_oauth_scope_parse("openid patient/*.rs patient/Observation.cruds?category=laboratory", &b);
		pp_oauth_scope_intersect(&a, &b, &c);
		if (!pp_oauth_scope_subset(&c, &b))
			abort();   /* a grant never exceeds the registration */
		for (unsigned bit = 1; bit <= PP_SCOPE_S; bit <<= 1) {
			pp_oauth_scope_allows(&a, PP_SCOPE_PATIENT, "Observation", bit, res);
			pp_oauth_scope_allows(&a, PP_SCOPE_SYSTEM, "Patient", bit, NULL);
		}
		json_decref(pp_oauth_scope_describe(&a));
	}
	free(text);
	return 0;
}
