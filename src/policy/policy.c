/* policy: the one authorization decision. This slice knows patients (their own record only),
 * backend services (OAuth clients with system/ scopes, read only), the non-patient directory
 * (Practitioner, Organization, Location: any signed-in caller), clinical staff on a patient's care
 * team, and staff in the care-team pool a message thread belongs to. Break-glass, proxies and
 * sensitive categories come with the access-control issue. Every branch names its reason for the
 * audit record. */
#include "policy/policy.h"

#include <string.h>

#include "store/store_access.h"

bool pp_policy_role_clinical(const char *role)
{
	return role && (!strcmp(role, "clinician") || !strcmp(role, "nurse"));
}

bool pp_policy_role_staff(const char *role)
{
	static const char *const staff[] = {"clinician",       "nurse",          "front_desk",
	                                    "billing",         "privacy_officer", "security_admin",
	                                    "admin"};
	for (size_t i = 0; role && i < sizeof staff / sizeof staff[0]; i++)
		if (!strcmp(role, staff[i]))
			return true;
	return false;
}

static void allow(pp_policy_decision *out, const char *reason, const char *purpose)
{
	out->effect = PP_POLICY_ALLOW;
	out->reason = reason;
	out->purpose = purpose;
}

void pp_policy_check(struct pp_store *st, const pp_principal *p, enum pp_policy_action action,
                     const pp_policy_target *t, pp_policy_decision *out)
{
	const char *type = t ? t->resource_type : NULL;
	int64_t patient_id = t ? t->patient_id : 0;

	out->effect = PP_POLICY_DENY;
	out->reason = "no-relationship";
	out->purpose = "treatment";

	if (!p || !t)
		return;
	if (patient_id <= 0) {
		/* the organisation's directory (practitioners, organisations, locations) is not about
		 * any patient: any authenticated caller may read it */
		if (action != PP_POLICY_WRITE && type && p->actor[0] &&
		    strcmp(p->actor, "anonymous") &&
		    (!strcmp(type, "Practitioner") || !strcmp(type, "Organization") ||
		     !strcmp(type, "Location"))) {
			allow(out, "directory",
			      !strcmp(p->role, "patient") ? "patient-access" : "operations");
			return;
		}
		out->reason = "no-patient";
		return;
	}
	if (!strcmp(p->role, "system") && !strncmp(p->actor, "client:", 7)) {
		/* a backend service: the authorization server issued it system/ scopes only with a
		 * valid Business Associate Agreement on file; the scopes are checked by the caller */
		if (action == PP_POLICY_WRITE)
			out->reason = "read-only";
		else
			allow(out, "backend-service", "operations");
		return;
	}
	if (!strcmp(p->role, "patient")) {
		out->purpose = "patient-access";
		if (p->patient_id > 0 && p->patient_id == patient_id)
			allow(out, "own-record", "patient-access");
		else
			out->reason = "not-own-record";
		return;
	}
	if (!pp_policy_role_staff(p->role) || p->user_id <= 0 || !st)
		return;
	/* a message thread is reached by the members of the pool it belongs to */
	if (t->pool_id > 0) {
		int member = 0;
		if (pp_store_pool_is_member(st, t->pool_id, p->user_id, &member)) {
			out->reason = "lookup-failed";
			return;
		}
		if (member) {
			allow(out, "pool-member", "treatment");
			return;
		}
	}
	/* the record itself: clinical staff on the patient's care team, read only */
	if (pp_policy_role_clinical(p->role) && action != PP_POLICY_WRITE) {
		int related = 0;
		if (pp_store_care_team_has(st, p->user_id, patient_id, pp_clock_now_ms(), &related)) {
			out->reason = "lookup-failed";
			return;
		}
		if (related)
			allow(out, "care-team", "treatment");
	}
}
