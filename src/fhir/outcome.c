/* fhir: OperationOutcome, the one error shape of the /fhir API. Texts are fixed strings chosen by
 * the server (never client input, never PHI), so a denied read and a missing resource produce the
 * same bytes. */
#include "fhir/fhir_internal.h"

json_t *pp_fhir_outcome(const char *severity, const char *code, const char *text)
{
	return json_pack("{s:s,s:[{s:s,s:s,s:{s:s}}]}", "resourceType", "OperationOutcome", "issue",
	                 "severity", severity ? severity : "error", "code", code ? code : "exception",
	                 "details", "text", text ? text : "Error");
}
