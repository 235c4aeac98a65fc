/* policy: the one authorization decision. This slice knows patients (their own record only) and
 * staff, who reach records only through relationships and break-glass (both still to come), so
 * staff are denied patient data for now. Every branch names its reason for the audit record. */
#include "policy/policy.h"

#include <string.h>

void pp_policy_check(const pp_principal *p, enum pp_policy_action action, int64_t patient_id,
                     const char *resource_type, pp_policy_decision *out)
{
	(void)resource_type;
	out->effect = PP_POLICY_DENY;
	out->reason = "no-relationship";
	out->purpose = "treatment";

	if (!p || patient_id <= 0) {
		out->reason = "no-patient";
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
