/* fhir/encounter.c: what an Encounter says about who took part and when (the parser behind
 * policy/'s encounter relationship) — statuses, periods, and the practitioner reference forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fhir/fhir.h"

static void parts(const char *text, int rc, pp_fhir_encounter_parts *e)
{
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	assert_int_equal(pp_fhir_encounter_parts_of(v, e), rc);
	json_decref(v);
}

static void test_references(void **state)
{
	pp_fhir_encounter_parts e;

	(void)state;
	parts("{\"resourceType\":\"Encounter\",\"status\":\"finished\",\"period\":{\"start\":"
	      "\"2024-05-01T10:00:00Z\",\"end\":\"2024-05-01T11:00:00Z\"},\"participant\":["
	      "{\"individual\":{\"reference\":\"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|"
	      "9999974394\"}},"
	      "{\"individual\":{\"reference\":\"Practitioner/abc-1/_history/2\"}},"
	      "{\"individual\":{\"reference\":\"https://ehr.example.org/fhir/Practitioner/abc-2\"}},"
	      "{\"individual\":{\"reference\":\"Practitioner?_tag=x&identifier=urn%3Aoid%3A1.2%7C7\"}},"
	      "{\"individual\":{\"type\":\"Practitioner\",\"identifier\":{\"system\":\"urn:x\","
	      "\"value\":\"5\"}}},"
	      "{\"individual\":{\"reference\":\"Practitioner/abc-1\"}},"
	      "{\"individual\":{\"reference\":\"PractitionerRole/r1\"}},"
	      "{\"individual\":{\"reference\":\"Practitioner?identifier=|9\"}},"
	      "{\"individual\":{\"reference\":\"Practitioner/bad id\"}},"
	      "{\"individual\":{\"type\":\"RelatedPerson\",\"identifier\":{\"system\":\"s\","
	      "\"value\":\"v\"}}},"
	      "{\"individual\":{\"reference\":\"#contained\"}}]}",
	      PP_OK, &e);
	assert_int_equal(e.indexed, 1);
	assert_int_equal(e.nkeys, 5);
	assert_string_equal(e.keys[0], "identifier:http://hl7.org/fhir/sid/us-npi|9999974394");
	assert_string_equal(e.keys[1], "id:abc-1");   /* once, though named twice */
	assert_string_equal(e.keys[2], "id:abc-2");
	assert_string_equal(e.keys[3], "identifier:urn:oid:1.2|7");
	assert_string_equal(e.keys[4], "identifier:urn:x|5");
	assert_int_equal(e.start_ms, 1714557600000LL);
	assert_int_equal(e.end_ms, 1714561201000LL);   /* the end of the last second */
}

static void test_statuses(void **state)
{
	pp_fhir_encounter_parts e;
	static const char *const none[] = {"planned", "cancelled", "entered-in-error", "unknown"};
	char text[512];

	(void)state;
	/* ongoing: end 0, whatever the period says */
	parts("{\"resourceType\":\"Encounter\",\"status\":\"in-progress\",\"period\":{\"start\":"
	      "\"2024-05-01\"},\"participant\":[{\"individual\":{\"reference\":\"Practitioner/a\"}}]}",
	      PP_OK, &e);
	assert_true(e.indexed && e.end_ms == 0 && e.start_ms == 1714521600000LL && e.nkeys == 1);
	parts("{\"resourceType\":\"Encounter\",\"status\":\"triaged\"}", PP_OK, &e);
	assert_true(e.indexed && e.start_ms == 0 && e.end_ms == 0 && e.nkeys == 0);
	/* finished without an end: until the end of its start; before 1970 still "ended" */
	parts("{\"resourceType\":\"Encounter\",\"status\":\"finished\",\"period\":{\"start\":"
	      "\"2024-05-01\"}}", PP_OK, &e);
	assert_true(e.indexed && e.end_ms == 1714608000000LL);
	parts("{\"resourceType\":\"Encounter\",\"status\":\"finished\",\"period\":{\"end\":"
	      "\"1960-01-01\"}}", PP_OK, &e);
	assert_true(e.indexed && e.end_ms == 1);
	/* finished with no usable period, or a status that relates no one */
	parts("{\"resourceType\":\"Encounter\",\"status\":\"finished\",\"period\":{\"start\":\"soon\"},"
	      "\"participant\":[{\"individual\":{\"reference\":\"Practitioner/a\"}}]}", PP_OK, &e);
	assert_true(!e.indexed && e.nkeys == 0);
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		snprintf(text, sizeof text, "{\"resourceType\":\"Encounter\",\"status\":\"%s\",\"period\":"
		         "{\"start\":\"2024\"},\"participant\":[{\"individual\":{\"reference\":"
		         "\"Practitioner/a\"}}]}", none[i]);
		parts(text, PP_OK, &e);
		assert_true(!e.indexed && e.nkeys == 0);
	}
	/* not an Encounter */
	parts("{\"resourceType\":\"Observation\",\"status\":\"final\"}", PP_EINVAL, &e);
	parts("[1]", PP_EINVAL, &e);
	assert_int_equal(pp_fhir_encounter_parts_of(NULL, NULL), PP_EINVAL);
}

static void test_many_participants(void **state)
{
	pp_fhir_encounter_parts e;
	json_t *enc = json_pack("{s:s, s:s, s:[]}", "resourceType", "Encounter", "status", "arrived",
	                        "participant");
	char ref[64];

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(ref, sizeof ref, "Practitioner/p%d", i);
		json_array_append_new(json_object_get(enc, "participant"),
		                      json_pack("{s:{s:s}}", "individual", "reference", ref));
	}
	assert_int_equal(pp_fhir_encounter_parts_of(enc, &e), PP_OK);
	assert_int_equal(e.nkeys, PP_FHIR_ENCOUNTER_MAX_KEYS);   /* capped */
	json_decref(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_many_participants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
