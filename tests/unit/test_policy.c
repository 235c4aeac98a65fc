/* policy: a patient reaches only their own record; staff without a modelled relationship reach
 * none; every decision carries a reason code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "policy/policy.h"

static void test_patient_own_only(void **state)
{
	pp_principal p = {.user_id = 1, .role = "patient", .patient_id = 42};
	pp_policy_decision d;
	(void)state;
	pp_policy_check(&p, PP_POLICY_READ, 42, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_ALLOW);
	assert_string_equal(d.reason, "own-record");
	assert_string_equal(d.purpose, "patient-access");
	pp_policy_check(&p, PP_POLICY_READ, 43, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
	assert_string_equal(d.reason, "not-own-record");
	pp_policy_check(&p, PP_POLICY_READ, 0, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
}

static void test_patient_without_record(void **state)
{
	pp_principal p = {.user_id = 1, .role = "patient", .patient_id = 0};
	pp_policy_decision d;
	(void)state;
	pp_policy_check(&p, PP_POLICY_READ, 0, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
}

static void test_staff_denied_without_relationship(void **state)
{
	static const char *const roles[] = {"clinician", "nurse", "admin", "privacy_officer", ""};
	pp_policy_decision d;
	(void)state;
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		pp_principal p = {.user_id = 7, .patient_id = 42};
		strncpy(p.role, roles[i], sizeof p.role - 1);
		pp_policy_check(&p, PP_POLICY_READ, 42, "Condition", &d);
		assert_int_equal(d.effect, PP_POLICY_DENY);
		assert_non_null(d.reason);
	}
	pp_policy_check(NULL, PP_POLICY_READ, 42, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patient_own_only), cmocka_unit_test(test_patient_without_record),
		cmocka_unit_test(test_staff_denied_without_relationship),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
