/* libFuzzer target: an Encounter (JSON) through the participation parser behind policy/'s
 * encounter relationship — status, period and practitioner references (conditional, relative,
 * absolute, percent-encoded, logical identifiers) into practitioner names.
 * fuzz-modules: core store crypto audit auth policy http oauth fhir */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fhir/fhir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pp_fhir_encounter_parts e;
	json_t *res;

	if (size > (1u << 16))
		return 0;
	res = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!res)
		return 0;
	if (pp_fhir_encounter_parts_of(res, &e) == PP_OK) {
		/* names are bounded, NUL-terminated, distinct and of the two known kinds */
		if (e.nkeys < 0 || e.nkeys > PP_FHIR_ENCOUNTER_MAX_KEYS || (!e.indexed && e.nkeys))
			abort();
		if (e.indexed && e.end_ms && e.end_ms < 0)
			abort();
		for (int i = 0; i < e.nkeys; i++) {
			size_t n = strnlen(e.keys[i], sizeof e.keys[i]);
			if (n == sizeof e.keys[i] || (strncmp(e.keys[i], "id:", 3) &&
			                              strncmp(e.keys[i], "identifier:", 11)))
				abort();
			for (int k = 0; k < i; k++)
				if (!strcmp(e.keys[i], e.keys[k]))
					abort();
		}
	}
	pp_fhir_encounter_parts_of(NULL, &e);
	json_decref(res);
	return 0;
}
