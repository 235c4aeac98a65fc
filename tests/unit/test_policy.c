/* policy: a patient reaches only their own record; clinical staff reach a record through the
 * patient's care team (read only, and only while the relationship lasts); pool members reach the
 * pool's threads; everyone else is denied; every decision carries a reason code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy/policy.h"
#include "store/store_access.h"

typedef struct fx {
	char dir[64], db[128];
	pp_store *st;
	int64_t patient, other, clinician, billing, pool;
} fx;

static void check(fx *f, const char *role, int64_t uid, int64_t own, enum pp_policy_action a,
                  int64_t patient, int64_t pool, int effect, const char *reason)
{
	pp_principal p = {.user_id = uid, .patient_id = own};
	pp_policy_decision d;

	snprintf(p.role, sizeof p.role, "%s", role);
	snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)uid);
	pp_policy_check(f ? f->st : NULL, &p, a,
	                &(pp_policy_target){.patient_id = patient, .resource_type = "Condition",
	                                    .pool_id = pool},
	                &d);
	assert_int_equal(d.effect, effect);
	assert_non_null(d.reason);
	if (reason)
		assert_string_equal(d.reason, reason);
}

static int64_t add_user(fx *f, int64_t id, const char *role)
{
	pp_store_user u = {.id = id, .created_ms = 1, .pw_hash = "x"};
	static uint8_t enc[4] = {1, 2, 3, 4};

	memset(u.username_bidx, (int)id, sizeof u.username_bidx);
	u.username_enc = enc;
	u.username_enc_len = sizeof enc;
	snprintf(u.role, sizeof u.role, "%s", role);
	assert_int_equal(pp_store_user_insert(f->st, &u), 0);
	return id;
}

static int64_t add_patient(fx *f, int64_t id)
{
	pp_store_resource r = {.id = id, .type = "Patient", .patient_id = id, .version = 1};
	static uint8_t body[4] = {9, 9, 9, 9};

	memset(r.lid_bidx, (int)id, sizeof r.lid_bidx);
	snprintf(r.pub_id, sizeof r.pub_id, "p%lld", (long long)id);
	r.body = body;
	r.body_len = sizeof body;
	assert_int_equal(pp_store_resource_put(f->st, &r), 0);
	return id;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	pp_store_pool pool = {.name = "Dr. Reyes' team", .created_ms = 1};

	assert_non_null(f);
	pp_log_set_level(PP_LOG_ERROR);
	pp_clock_set_offset_ms(0);
	snprintf(f->dir, sizeof f->dir, "/tmp/pp_policy_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/phi.db", f->dir);
	assert_int_equal(pp_store_open(&f->st, f->db), 0);
	f->patient = add_patient(f, 42);
	f->other = add_patient(f, 43);
	f->clinician = add_user(f, 7, "clinician");
	f->billing = add_user(f, 8, "billing");
	assert_int_equal(pp_store_pool_insert(f->st, &pool, &f->pool), 0);
	assert_int_equal(pp_store_pool_member_add(f->st, f->pool, f->billing), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	char wal[160];

	pp_store_close(f->st);
	unlink(f->db);
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	unlink(wal);
	snprintf(wal, sizeof wal, "%s-shm", f->db);
	unlink(wal);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_patient_own_only(void **state)
{
	fx *f = *state;

	check(f, "patient", 1, 42, PP_POLICY_READ, 42, 0, PP_POLICY_ALLOW, "own-record");
	check(f, "patient", 1, 42, PP_POLICY_READ, 43, 0, PP_POLICY_DENY, "not-own-record");
	check(f, "patient", 1, 42, PP_POLICY_READ, 0, 0, PP_POLICY_DENY, "no-patient");
	check(f, "patient", 1, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, "not-own-record");
	/* a patient is not let into another patient's thread by naming a pool */
	check(f, "patient", 1, 42, PP_POLICY_READ, 43, f->pool, PP_POLICY_DENY, "not-own-record");
}

static void test_staff_denied_without_relationship(void **state)
{
	static const char *const roles[] = {"clinician", "nurse", "admin", "privacy_officer", "",
	                                    "front_desk", "billing", "security_admin"};
	fx *f = *state;

	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		check(f, roles[i], 7, 42, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, NULL);
		check(NULL, roles[i], 7, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, NULL);
	}
	pp_policy_decision d;
	pp_policy_check(f->st, NULL, PP_POLICY_READ, &(pp_policy_target){.patient_id = 42}, &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
	pp_policy_check(f->st, &(pp_principal){.role = "patient", .patient_id = 42}, PP_POLICY_READ,
	                NULL, &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
}

static void test_care_team(void **state)
{
	fx *f = *state;
	int64_t now = pp_clock_now_ms();

	assert_int_equal(pp_store_care_team_add(f->st, f->clinician, f->patient, now - 1000, 0), 0);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 42, 0, PP_POLICY_ALLOW, "care-team");
	check(f, "clinician", f->clinician, 0, PP_POLICY_SEARCH, 42, 0, PP_POLICY_ALLOW, "care-team");
	check(f, "clinician", f->clinician, 0, PP_POLICY_WRITE, 42, 0, PP_POLICY_DENY, NULL);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 43, 0, PP_POLICY_DENY,
	      "no-relationship");
	/* the same user id with a non-clinical role gets nothing from a care-team row */
	check(f, "billing", f->clinician, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, NULL);
	/* the relationship ends; a later read is denied */
	assert_int_equal(pp_store_care_team_end(f->st, f->clinician, f->patient, now + 60000), 0);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 42, 0, PP_POLICY_ALLOW, "care-team");
	pp_clock_set_offset_ms(120000);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY,
	      "no-relationship");
	pp_clock_set_offset_ms(0);
	assert_int_equal(pp_store_care_team_end(f->st, f->clinician, f->other, now),
	                 PP_ENOTFOUND);
}

static void test_pool_member(void **state)
{
	fx *f = *state;

	check(f, "billing", f->billing, 0, PP_POLICY_READ, 42, f->pool, PP_POLICY_ALLOW,
	      "pool-member");
	check(f, "billing", f->billing, 0, PP_POLICY_WRITE, 42, f->pool, PP_POLICY_ALLOW,
	      "pool-member");
	/* without the thread's pool, pool membership gives no access to the record */
	check(f, "billing", f->billing, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, NULL);
	/* a staff member outside the pool */
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 42, f->pool, PP_POLICY_DENY, NULL);
	assert_int_equal(pp_store_pool_member_remove(f->st, f->pool, f->billing), 0);
	check(f, "billing", f->billing, 0, PP_POLICY_READ, 42, f->pool, PP_POLICY_DENY, NULL);
}

static void test_roles(void **state)
{
	(void)state;
	assert_true(pp_policy_role_clinical("nurse"));
	assert_false(pp_policy_role_clinical("billing"));
	assert_false(pp_policy_role_clinical(NULL));
	assert_true(pp_policy_role_staff("front_desk"));
	assert_false(pp_policy_role_staff("patient"));
	assert_false(pp_policy_role_staff("system"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_patient_own_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staff_denied_without_relationship, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_care_team, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_member, setup, teardown),
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
