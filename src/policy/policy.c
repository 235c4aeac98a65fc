/* policy: the one authorization decision. This slice knows patients (their own record only),
 * backend services (OAuth clients with system/ scopes, read only), the non-patient directory
 * (Practitioner, Organization, Location: any signed-in caller) and staff, who reach records only
 * through relationships and break-glass (both still to come), so staff are denied patient data for
 * now. Every branch names its reason for the audit record. */
#include "policy/policy.h"

#include <string.h>

void pp_policy_check(const pp_principal *p, enum pp_policy_action action, int64_t patient_id,
                     const char *resource_type, pp_policy_decision *out)
{
	out->effect = PP_POLICY_DENY;
	out->reason = "no-relationship";
	out->purpose = "treatment";

	if (!p)
		return;
	if (patient_id <= 0) {
		/* the organisation's directory (practitioners, organisations, locations) is not about
		 * any patient: any authenticated caller may read it */
		if (action != PP_POLICY_WRITE && resource_type && p->actor[0] &&
		    strcmp(p->actor, "anonymous") &&
		    (!strcmp(resource_type, "Practitioner") || !strcmp(resource_type, "Organization") ||
		     !strcmp(resource_type, "Location"))) {
			out->effect = PP_POLICY_ALLOW;
			out->reason = "directory";
			out->purpose = !strcmp(p->role, "patient") ? "patient-access" : "operations";
			return;
		}
		out->reason = "no-patient";
		return;
	}
	if (!strcmp(p->role, "system") && !strncmp(p->actor, "client:", 7)) {
		/* a backend service: the authorization server issued it system/ scopes only with a
		 * valid Business Associate Agreement on file; the scopes are checked by the caller */
		out->effect = action == PP_POLICY_WRITE ? PP_POLICY_DENY : PP_POLICY_ALLOW;
		out->reason = action == PP_POLICY_WRITE ? "read-only" : "backend-service";
		out->purpose = "operations";
		return;
	}
	if (!strcmp(p->role, "patient")) {
		out->purpose = "patient-access";
		if (p->patient_id > 0 && p->patient_id == patient_id) {
			out->effect = PP_POLICY_ALLOW;
			out->reason = "own-record";
		} else {
			out->reason = "not-own-record";
		}
		return;
	}
	/* Staff, administrators and clients: no care relationship is modelled yet, so no access. */
	(void)action;
}
