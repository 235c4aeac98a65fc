/* libFuzzer target: what the portal does with a client's JSON body before and after jansson —
 * the depth scanner (ours) and the parse of the result with the same flags the handlers use.
 * fuzz-modules: core */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t *j;

	if (pp_json_check_depth((const char *)data, size, 32) != PP_OK)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
	if (j && json_is_object(j)) {
		json_t *v = json_object_get(j, "username");
		if (json_is_string(v))
			(void)strlen(json_string_value(v));
	}
	json_decref(j);
	return 0;
}
