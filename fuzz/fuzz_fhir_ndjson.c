/* libFuzzer target: one NDJSON line through the FHIR resource parser (depth pre-check, jansson with
 * duplicate keys refused, resourceType and id checks), then a round trip of what it accepts.
 * fuzz-modules: core store crypto audit auth policy http oauth fhir */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fhir/fhir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *res = NULL, *again = NULL;
	const char *reason = NULL;
	char *text;
	int rc;

	if (size > (1u << 20))
		return 0;
	rc = pp_fhir_parse_resource((const char *)data, size, 32, &res, &reason);
	if (rc) {
		/* a refusal always says why, with a stable code, and hands nothing back */
		if (!reason || res)
			abort();
		return 0;
	}
	if (!json_is_object(res) || !json_is_string(json_object_get(res, "resourceType")) ||
	    !json_is_string(json_object_get(res, "id")))
		abort();
	/* what was accepted serialises and parses back to an accepted resource */
	text = json_dumps(res, JSON_COMPACT);
	if (!text)
		abort();
	if (pp_fhir_parse_resource(text, strlen(text), 32, &again, &reason) || !json_equal(res, again))
		abort();
	free(text);
	json_decref(again);
	json_decref(res);
	return 0;
}
