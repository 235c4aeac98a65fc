/* libFuzzer target: the FHIR search-parameter parser (query string → pp_fhir_search) and the
 * in-memory filters it drives. Invariants: a refusal always says why; what is accepted stays
 * within the limits; the normalised query (used for the self/next links and the cursor MAC)
 * parses again to itself; matching never crashes on the resources we serve.
 * First input byte picks the resource type and strict/lenient; the rest is the query string.
 * fuzz-modules: core store crypto audit auth policy http oauth fhir */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fhir/fhir.h"

static const char *const types[] = {
	"Observation", "Condition", "Encounter", "Patient", "Procedure", "DocumentReference",
	"Immunization", "MedicationRequest", "AllergyIntolerance", "Device", "Practitioner",
	"Organization", "Location", "Unknown",
};

static json_t *sample(void)
{
	static json_t *res;

	if (!res)
		res = json_loads(
		    "{\"resourceType\":\"Observation\",\"id\":\"x\",\"status\":\"final\","
		    "\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
		    "observation-category\",\"code\":\"laboratory\"}]}],\"code\":{\"coding\":[{\"system\":"
		    "\"http://loinc.org\",\"code\":\"4548-4\"}],\"text\":\"A1c\"},\"effectivePeriod\":"
		    "{\"start\":\"2021-03-04T10:00:00Z\"},\"period\":{\"end\":\"2021\"},\"name\":[{\"family\":"
		    "\"Doe\",\"given\":[\"J\"]}],\"identifier\":[{\"system\":\"s\",\"value\":\"v\"}],"
		    "\"birthDate\":\"1980-02\",\"class\":{\"code\":\"AMB\"},\"gender\":\"female\"}",
		    0, NULL);
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pp_fhir_search s, again;
	char *q;
	const char *type;
	bool strict;
	int rc;

	if (size < 1 || size > 8192)
		return 0;
	type = types[data[0] % (sizeof types / sizeof types[0])];
	strict = data[0] & 0x80;
	q = malloc(size);
	if (!q)
		return 0;
	memcpy(q, data + 1, size - 1);
	q[size - 1] = '\0';
	rc = pp_fhir_search_parse(type, q, strict, &s);
	if (rc) {
		if (rc != PP_EINVAL || !s.error[0])
			abort();
		free(q);
		return 0;
	}
	if (s.count < 0 || s.count > PP_FHIR_COUNT_MAX || s.nfilters > PP_FHIR_SEARCH_MAX_FILTERS ||
	    s.nids > PP_FHIR_SEARCH_MAX_IDS || (strict && s.nignored) ||
	    memchr(s.norm, '\0', sizeof s.norm) == NULL)
		abort();
	for (int i = 0; i < s.nfilters; i++)
		if (s.filters[i].nvalues < 1 || s.filters[i].nvalues > PP_FHIR_SEARCH_MAX_VALUES)
			abort();
	/* the normalised query is a fixed point */
	if (pp_fhir_search_parse(type, s.norm, true, &again) || strcmp(again.norm, s.norm) ||
	    again.nfilters != s.nfilters || again.count != s.count || again.sort != s.sort)
		abort();
	(void)pp_fhir_search_match(&s, sample(), "x", 1600000000000LL);
	(void)pp_fhir_search_sort_key(&s, sample(), 1600000000000LL);
	free(q);
	return 0;
}
