/* fhir: the CapabilityStatement served at GET /fhir/metadata — FHIR 4.0.1, JSON only, read and
 * search-type for each served type with the search parameters the parser (search.c) supports, and
 * the SMART security extension naming the authorization server's endpoints. Built from the same
 * parameter table the parser uses, so the two cannot drift apart. */
#include "fhir/fhir_internal.h"

#include <string.h>

#define OAUTH_URIS "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
#define SEARCH_PARAM_TYPE_BASE "http://hl7.org/fhir/SearchParameter/"

/* the types served by the REST API, in the order the statement lists them */
static const char *const served[] = {
	"Patient", "Observation", "Condition", "AllergyIntolerance", "Immunization",
	"MedicationRequest", "Encounter", "Procedure", "DocumentReference", "Device",
	"Practitioner", "Organization", "Location", "Communication", "Consent",
};

static json_t *param(const char *name, const char *type, const char *doc)
{
	return json_pack("{s:s,s:s,s:s}", "name", name, "type", type, "documentation", doc);
}

static bool compartment_type(const char *t)
{
	return strcmp(t, "Practitioner") && strcmp(t, "Organization") && strcmp(t, "Location");
}

static json_t *resource_entry(const char *type)
{
	size_t n;
	const pp_fhir_param_def *defs = pp_fhir_param_defs(&n);
	json_t *params = json_array();

	if (!params)
		return NULL;
	if (!strcmp(type, "Communication")) {
		/* the portal's secure messages (communication.c): by patient only */
		json_array_append_new(params, param("patient", "reference",
		                                    "The patient the conversation is with (required)"));
		return json_pack("{s:s,s:[{s:s},{s:s}],s:s,s:b,s:b,s:o}", "type", type, "interaction",
		                 "code", "read", "code", "search-type", "versioning", "no-version",
		                 "readHistory", 0, "updateCreate", 0, "searchParam", params);
	}
	json_array_append_new(params, param("_id", "token", "The resource's served (opaque) id"));
	json_array_append_new(params, param("_lastUpdated", "date",
	                                    "When the server last changed the resource"));
	if (compartment_type(type) && strcmp(type, "Patient"))
		json_array_append_new(params, param("patient", "reference",
		                                    "The patient the resource is about"));
	if (!strcmp(type, "Observation") || !strcmp(type, "Condition") ||
	    !strcmp(type, "Encounter") || !strcmp(type, "Procedure") ||
	    !strcmp(type, "DocumentReference") || !strcmp(type, "MedicationRequest"))
		json_array_append_new(params, param("subject", "reference",
		                                    "The patient the resource is about (Patient only)"));
	for (size_t i = 0; i < n; i++) {
		const char *kind;
		if (strcmp(defs[i].type, type))
			continue;
		kind = defs[i].kind == PP_FHIR_PARAM_TOKEN  ? "token"
		       : defs[i].kind == PP_FHIR_PARAM_DATE ? "date"
		                                             : "string";
		json_array_append_new(params, param(defs[i].name, kind,
		                                    defs[i].kind == PP_FHIR_PARAM_DATE
		                                        ? "Prefixes eq ne gt lt ge le sa eb ap; partial dates"
		                                        : "Comma-separated values match any"));
	}
	return json_pack("{s:s,s:[{s:s},{s:s}],s:s,s:b,s:b,s:o}", "type", type, "interaction", "code",
	                 "read", "code", "search-type", "versioning", "versioned", "readHistory", 0,
	                 "updateCreate", 0, "searchParam", params);
}

json_t *pp_fhir_capability(const char *public_url)
{
	char authorize[320], token[320], introspect[320], revoke[320], fhir_base[320], date[32];
	json_t *resources = json_array(), *cs = NULL, *security;
	const char *base = public_url && *public_url ? public_url : "https://localhost:8443";

	if (!resources)
		return NULL;
	snprintf(authorize, sizeof authorize, "%s/oauth/authorize", base);
	snprintf(token, sizeof token, "%s/oauth/token", base);
	snprintf(introspect, sizeof introspect, "%s/oauth/introspect", base);
	snprintf(revoke, sizeof revoke, "%s/oauth/revoke", base);
	snprintf(fhir_base, sizeof fhir_base, "%s/fhir", base);
	pp_clock_format_iso(pp_clock_now_ms(), date);
	for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
		json_t *e = resource_entry(served[i]);
		if (!e || json_array_append_new(resources, e)) {
			json_decref(resources);
			return NULL;
		}
	}
	security = json_pack(
	    "{s:[{s:s,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}],s:[{s:[{s:s,s:s,s:s}],s:s}],"
	    "s:b,s:s}",
	    "extension", "url", OAUTH_URIS, "extension", "url", "authorize", "valueUri", authorize,
	    "url", "token", "valueUri", token, "url", "introspect", "valueUri", introspect, "url",
	    "revoke", "valueUri", revoke, "service", "coding", "system",
	    "http://terminology.hl7.org/CodeSystem/restful-security-service", "code",
	    "SMART-on-FHIR", "display", "SMART-on-FHIR", "text", "OAuth2 using SMART-on-FHIR profile",
	    "cors", 0, "description",
	    "SMART App Launch 2.0 bearer tokens, or the portal's own signed-in session (read only)");
	if (!security) {
		json_decref(resources);
		return NULL;
	}
	cs = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:[s,s],"
	               "s:[{s:s,s:o,s:o}]}",
	               "resourceType", "CapabilityStatement", "status", "active", "date", date,
	               "publisher", "phiportal", "kind", "instance", "description",
	               "phiportal FHIR R4 read and search API for patient records",
	               "fhirVersion", "4.0.1", "software", "name", "phiportal", "version", "0.1",
	               "implementation", "description", "phiportal FHIR API", "url", fhir_base,
	               "format", "application/fhir+json", "json",
	               "rest", "mode", "server", "security", security, "resource", resources);
	return cs;
}
