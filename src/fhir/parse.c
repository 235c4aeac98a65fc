/* fhir: parsing one resource with limits (depth before parsing, duplicate keys refused, known
 * resourceType, valid logical id) and small NULL-safe JSON helpers. Reason codes are stable strings
 * without any of the input in them. */
#include "fhir/fhir_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const known_types[] = {
	"Patient", "Condition", "AllergyIntolerance", "Immunization", "MedicationRequest",
	"Encounter", "Procedure", "DocumentReference", "Device", "Organization", "Practitioner",
	"PractitionerRole", "Location", "Observation",
};

const char *pp_fhir_known_type(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; i < sizeof known_types / sizeof known_types[0]; i++)
		if (!strcmp(type, known_types[i]))
			return known_types[i];
	return NULL;
}

int pp_fhir_valid_id(const char *id)
{
	size_t n = 0;

	if (!id)
		return 0;
	for (; id[n]; n++) {
		char ch = id[n];
		if (n >= 64)
			return 0;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '.'))
			return 0;
	}
	return n > 0;
}

int pp_fhir_json_depth(const json_t *v, int limit)
{
	int best = 0, d;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (limit <= 0)
		return 1;   /* already one level over the caller's limit */
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			d = pp_fhir_json_depth(x, limit - 1);
			if (d > best)
				best = d;
			if (best > limit - 1)
				break;
		}
	} else {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			d = pp_fhir_json_depth(x, limit - 1);
			if (d > best)
				best = d;
			if (best > limit - 1)
				break;
		}
	}
	return best + 1;
}

int pp_fhir_parse_any(const char *data, size_t len, int max_depth, int allow_bundle, json_t **out,
                      const char **reason)
{
	json_t *v = NULL;
	json_error_t jerr;
	const char *type, *why = NULL;
	int rc = PP_EINVAL;

	if (out)
		*out = NULL;
	if (!data || !out || max_depth <= 0) {
		why = "invalid_argument";
		goto out;
	}
	if (len == 0) {
		why = "empty";
		goto out;
	}
	/* a Bundle wraps its resources three levels deeper (Bundle{entry[{resource{) */
	if (pp_json_check_depth(data, len, max_depth + (allow_bundle ? 3 : 0))) {
		why = "json_too_deep";
		goto out;
	}
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v) {
		why = "json_invalid";
		goto out;
	}
	if (!json_is_object(v)) {
		why = "not_object";
		goto out;
	}
	type = pp_fhir_str(v, "resourceType");
	if (!type) {
		why = "missing_resource_type";
		goto out;
	}
	if (allow_bundle && !strcmp(type, "Bundle")) {
		if (!json_is_array(json_object_get(v, "entry"))) {
			why = "bundle_without_entries";
			goto out;
		}
		rc = PP_OK;
		goto out;
	}
	if (!pp_fhir_known_type(type)) {
		why = "unknown_resource_type";
		goto out;
	}
	if (allow_bundle && pp_fhir_json_depth(v, max_depth) > max_depth) {
		why = "json_too_deep";
		goto out;
	}
	if (!json_object_get(v, "id")) {
		why = "missing_id";
		goto out;
	}
	if (!pp_fhir_valid_id(pp_fhir_str(v, "id"))) {
		why = "invalid_id";
		goto out;
	}
	rc = PP_OK;
out:
	if (rc) {
		json_decref(v);
		if (reason)
			*reason = why;
	} else {
		*out = v;
		if (reason)
			*reason = NULL;
	}
	return rc;
}

int pp_fhir_parse_resource(const char *data, size_t len, int max_depth, json_t **out,
                           const char **reason)
{
	return pp_fhir_parse_any(data, len, max_depth, 0, out, reason);
}

const char *pp_fhir_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_t *pp_fhir_path(const json_t *obj, const char *path)
{
	const json_t *cur = obj;
	const char *p = path;

	while (cur && p && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		char key[64];

		if (n == 0 || n >= sizeof key)
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		if (json_is_array(cur)) {
			char *end;
			unsigned long idx = strtoul(key, &end, 10);
			cur = *end ? NULL : json_array_get(cur, idx);
		} else {
			cur = json_object_get(cur, key);
		}
		p = dot ? dot + 1 : NULL;
	}
	return (json_t *)cur;
}

const char *pp_fhir_path_str(const json_t *obj, const char *path)
{
	return json_string_value(pp_fhir_path(obj, path));
}
