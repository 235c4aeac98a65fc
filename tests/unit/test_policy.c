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

#include <jansson.h>

#include "crypto/crypto.h"
#include "policy/policy.h"
#include "store/store_access.h"
#include "store/store_consent.h"
#include "store/store_encounter.h"

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
	{
		/* the care team adds documents to the record; nothing else is written */
		pp_policy_decision d;
		pp_principal p = {.user_id = f->clinician, .role = "clinician", .actor = "user:7"};
		pp_policy_check(f->st, &p, PP_POLICY_WRITE,
		                &(pp_policy_target){.patient_id = 42, .resource_type = "DocumentReference"}, &d);
		assert_int_equal(d.effect, PP_POLICY_ALLOW);
		pp_policy_check(f->st, &p, PP_POLICY_WRITE,
		                &(pp_policy_target){.patient_id = 43, .resource_type = "DocumentReference"}, &d);
		assert_int_equal(d.effect, PP_POLICY_DENY);
	}
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

static void test_break_glass(void **state)
{
	fx *f = *state;
	int64_t now = pp_clock_now_ms();
	static uint8_t sealed[4] = {1, 2, 3, 4};
	pp_store_break_glass bg = {.id = 99, .pub_id = "bg1", .user_id = 7, .patient_id = 43,
	                           .reason_code = "emergency", .reason_enc = sealed,
	                           .reason_enc_len = sizeof sealed, .started_ms = now - 1000,
	                           .expires_ms = now + 60000};
	pp_policy_decision d;

	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 43, 0, PP_POLICY_DENY,
	      "no-relationship");
	assert_int_equal(pp_store_break_glass_insert(f->st, &bg), 0);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 43, 0, PP_POLICY_ALLOW_BREAK_GLASS,
	      "break-glass");
	pp_policy_check(f->st, &(pp_principal){.user_id = 7, .role = "clinician", .actor = "user:7"},
	                PP_POLICY_SEARCH, &(pp_policy_target){.patient_id = 43}, &d);
	assert_string_equal(d.purpose, "emergency");
	/* never a write; never another patient; never another role on the same user id */
	check(f, "clinician", f->clinician, 0, PP_POLICY_WRITE, 43, 0, PP_POLICY_DENY, NULL);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, NULL);
	check(f, "billing", f->clinician, 0, PP_POLICY_READ, 43, 0, PP_POLICY_DENY, NULL);
	/* it runs out */
	pp_clock_set_offset_ms(61000);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 43, 0, PP_POLICY_DENY,
	      "no-relationship");
	pp_clock_set_offset_ms(0);
	/* closing the review does not end a running grant early, nor extend it */
	assert_int_equal(pp_store_break_glass_close(f->st, "bg1", 5, now, "appropriate", NULL, 0), 0);
	assert_int_equal(pp_store_break_glass_close(f->st, "bg1", 5, now, "appropriate", NULL, 0),
	                 PP_ENOTFOUND);
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, 43, 0, PP_POLICY_ALLOW_BREAK_GLASS,
	      "break-glass");
}

/* proxies: a grant with a scope; a parent's view of an adolescent hides sensitive categories and
 * messages; at the age of majority a parent's grant ends unless the patient re-authorises it */
static void add_grant(fx *f, pp_crypto *c, int64_t id, const char *pub, int64_t proxy,
                      int64_t patient, const char *rel, const char *scope, const char *dob)
{
	pp_store_proxy g = {.id = id, .proxy_user_id = proxy, .patient_id = patient,
	                    .granted_by = 1, .created_ms = pp_clock_now_ms() - 1000};
	snprintf(g.pub_id, sizeof g.pub_id, "%s", pub);
	snprintf(g.relationship, sizeof g.relationship, "%s", rel);
	snprintf(g.scope, sizeof g.scope, "%s", scope);
	assert_int_equal(pp_crypto_seal(c, "proxy_grant", "dob", id, dob, strlen(dob), &g.dob_enc,
	                                &g.dob_enc_len), 0);
	assert_int_equal(pp_store_proxy_insert(f->st, &g), 0);
	pp_store_proxy_clear(&g);
}

static void decide(const pp_app *app, int64_t uid, const char *role, enum pp_policy_action a,
                   int64_t patient, const char *type, pp_policy_decision *d)
{
	pp_principal p = {.user_id = uid};
	snprintf(p.role, sizeof p.role, "%s", role);
	snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)uid);
	pp_policy_decide(app, &p, a, &(pp_policy_target){.patient_id = patient, .resource_type = type},
	                 d);
}

static void years_ago(int years, int plus_days, char out[16])
{
	char now[32];
	int y, m, dd;
	pp_clock_format_iso(pp_clock_now_ms() + (int64_t)plus_days * 86400000, now);
	assert_int_equal(sscanf(now, "%4d-%2d-%2d", &y, &m, &dd), 3);
	assert_true(y > 1900 && y < 3000 && m >= 1 && m <= 12 && dd >= 1 && dd <= 31);
	snprintf(out, 16, "%04d-%02d-%02d", (y - years) % 10000, m % 100, dd > 28 ? 28 : dd % 100);
}

static void test_proxy(void **state)
{
	fx *f = *state;
	char key[160], teen_dob[16], adult_dob[16];
	pp_crypto *c = NULL;
	pp_config cfg;
	pp_app app;
	pp_policy_decision d;
	int64_t parent = add_user(f, 20, "proxy"), carer = add_user(f, 21, "patient");
	json_t *sensitive = json_loads("{\"resourceType\":\"Condition\",\"code\":{\"coding\":"
	                               "[{\"system\":\"http://snomed.info/sct\",\"code\":"
	                               "\"80583007\"}]}}", 0, NULL);
	json_t *plain = json_loads("{\"resourceType\":\"Immunization\",\"vaccineCode\":{\"coding\""
	                           ":[{\"system\":\"http://hl7.org/fhir/sid/cvx\",\"code\":\"140\"}]}}",
	                           0, NULL);

	snprintf(key, sizeof key, "%s/master.key", f->dir);
	assert_int_equal(pp_crypto_keyfile_create(key), 0);
	assert_int_equal(pp_crypto_open(&c, key, f->st), 0);
	pp_config_defaults(&cfg, f->dir);
	app = (pp_app){.cfg = &cfg, .store = f->st, .crypto = c};
	years_ago(13, 0, teen_dob);
	years_ago(40, 0, adult_dob);
	add_grant(f, c, 501, "g-teen", parent, 42, "parent", "full", teen_dob);
	add_grant(f, c, 502, "g-carer", carer, 43, "caregiver", "no-messaging", adult_dob);

	/* the parent of a 13-year-old: immunizations yes, the sensitive Condition hidden, messages no */
	decide(&app, parent, "proxy", PP_POLICY_READ, 42, "Immunization", &d);
	assert_int_equal(d.effect, PP_POLICY_ALLOW);
	assert_string_equal(d.reason, "proxy");
	assert_true(d.hide & PP_POLICY_HIDE_SENSITIVE);
	assert_true(pp_policy_visible(&app, &d, plain));
	assert_false(pp_policy_visible(&app, &d, sensitive));
	decide(&app, parent, "proxy", PP_POLICY_READ, 42, "MessageThread", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
	assert_string_equal(d.reason, "proxy-adolescent");
	decide(&app, parent, "proxy", PP_POLICY_WRITE, 42, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
	/* no grant, no access; the store-only check cannot evaluate age: denied (fail closed) */
	decide(&app, parent, "proxy", PP_POLICY_READ, 43, "Immunization", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);
	check(f, "proxy", parent, 0, PP_POLICY_READ, 42, 0, PP_POLICY_DENY, "lookup-failed");

	/* the 18th birthday: the parent's access ends; the adult patient may re-authorise it */
	{
		char dob18[16];
		years_ago(18, 0, dob18);
		add_grant(f, c, 503, "g-18", parent, 43, "parent", "full", dob18);
		decide(&app, parent, "proxy", PP_POLICY_READ, 43, "Immunization", &d);
		assert_int_equal(d.effect, PP_POLICY_DENY);
		assert_string_equal(d.reason, "proxy-patient-adult");
		assert_int_equal(pp_store_proxy_adult_ok(f->st, "g-18", pp_clock_now_ms()), 0);
		decide(&app, parent, "proxy", PP_POLICY_READ, 43, "Immunization", &d);
		assert_int_equal(d.effect, PP_POLICY_ALLOW);
		/* a day before the birthday it was still allowed (and adolescent rules applied) */
		assert_int_equal(pp_store_proxy_revoke(f->st, "g-18", 1, pp_clock_now_ms()), 0);
		years_ago(18, 1, dob18);
		add_grant(f, c, 504, "g-17", parent, 43, "parent", "full", dob18);
		decide(&app, parent, "proxy", PP_POLICY_READ, 43, "Immunization", &d);
		assert_int_equal(d.effect, PP_POLICY_ALLOW);
		assert_true(d.hide & PP_POLICY_HIDE_SENSITIVE);
	}

	/* a caregiver of an adult: scope no-messaging; sensitive hidden until the patient consents */
	decide(&app, carer, "patient", PP_POLICY_READ, 43, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_ALLOW);
	assert_true(d.hide & PP_POLICY_HIDE_SENSITIVE);
	decide(&app, carer, "patient", PP_POLICY_READ, 43, "Communication", &d);
	assert_string_equal(d.reason, "proxy-scope");
	assert_int_equal(pp_store_consent_link(f->st, 43, &(pp_store_consent){.share_apps = 1,
	                                      .share_sensitive_proxies = 1, .updated_ms = 1}, 1), 0);
	decide(&app, carer, "patient", PP_POLICY_READ, 43, "Condition", &d);
	assert_false(d.hide & PP_POLICY_HIDE_SENSITIVE);
	assert_true(pp_policy_visible(&app, &d, sensitive));
	/* revoked: gone at once */
	assert_int_equal(pp_store_proxy_revoke(f->st, "g-carer", 43, pp_clock_now_ms()), 0);
	decide(&app, carer, "patient", PP_POLICY_READ, 43, "Condition", &d);
	assert_int_equal(d.effect, PP_POLICY_DENY);

	/* consent: the patient turns apps off; their app is refused, their own portal view is not */
	{
		pp_principal app_p = {.user_id = 1, .role = "patient", .patient_id = 42,
		                      .actor = "client:demo"};
		assert_int_equal(pp_store_consent_link(f->st, 42, &(pp_store_consent){.share_apps = 0,
		                                      .updated_ms = 1}, 1), 0);
		pp_policy_decide(&app, &app_p, PP_POLICY_READ,
		                 &(pp_policy_target){.patient_id = 42, .resource_type = "Condition"}, &d);
		assert_int_equal(d.effect, PP_POLICY_DENY);
		assert_string_equal(d.reason, "consent-apps-off");
		check(f, "patient", 1, 42, PP_POLICY_READ, 42, 0, PP_POLICY_ALLOW, "own-record");
	}
	json_decref(sensitive);
	json_decref(plain);
	pp_crypto_free(c);
	unlink(key);
}

static bool sens(const char *json)
{
	json_t *v = json_loads(json, 0, NULL);
	bool yes;

	assert_non_null(v);
	yes = pp_policy_sensitive("sct|80583007 icd10|F* loinc|2106-3", v);
	json_decref(v);
	return yes;
}

/* ---- the encounter relationship ---- */
static void add_encounter(fx *f, int64_t id, int64_t patient, uint8_t key, int64_t start_ms,
                          int64_t end_ms)
{
	pp_store_resource r = {.id = id, .type = "Encounter", .patient_id = patient, .version = 1};
	static uint8_t body[4] = {7, 7, 7, 7};
	uint8_t keys[1][32];

	memset(r.lid_bidx, (int)id, sizeof r.lid_bidx);
	snprintf(r.pub_id, sizeof r.pub_id, "e%lld", (long long)id);
	r.body = body;
	r.body_len = sizeof body;
	assert_int_equal(pp_store_resource_put(f->st, &r), 0);
	memset(keys[0], key, 32);
	assert_int_equal(pp_store_encounter_index_put(f->st, id, patient,
	                                              (const uint8_t(*)[32])keys, 1, start_ms, end_ms),
	                 0);
}

static void link_user(fx *f, int64_t uid, uint8_t key)
{
	uint8_t keys[2][32];

	memset(keys[0], key, 32);
	memset(keys[1], 0xEE, 32);   /* another name of the same practitioner */
	assert_int_equal(pp_store_practitioner_link_set(f->st, uid, (const uint8_t(*)[32])keys, 2, 1),
	                 0);
}

/* decide with a config (window in days; <0: no config at all, the 30-day default) */
static void enc(fx *f, const char *role, int64_t uid, int window, enum pp_policy_action a,
                int64_t patient, const char *type, int effect, const char *reason)
{
	static pp_config cfg;
	pp_principal p = {.user_id = uid};
	pp_policy_decision d;

	memset(&cfg, 0, sizeof cfg);
	cfg.policy_encounter_window_days = window;
	snprintf(p.role, sizeof p.role, "%s", role);
	snprintf(p.actor, sizeof p.actor, "user:%lld", (long long)uid);
	pp_policy_decide(&(pp_app){.store = f->st, .cfg = window < 0 ? NULL : &cfg}, &p, a,
	                 &(pp_policy_target){.patient_id = patient, .resource_type = type}, &d);
	assert_int_equal(d.effect, effect);
	assert_string_equal(d.reason, reason);
}

static void test_encounter(void **state)
{
	fx *f = *state;
	const int64_t day = 86400000LL, now = pp_clock_now_ms();
	int64_t nurse = add_user(f, 9, "nurse"), unlinked = add_user(f, 10, "clinician");
	int64_t front = add_user(f, 11, "front_desk"), admin = add_user(f, 12, "admin");
	int64_t planner = add_user(f, 13, "clinician");
	int related = -1;

	/* practitioner 0x11 saw patient 42 ten days ago and patient 43 forty days ago; practitioner
	 * 0x22 is seeing patient 43 now; an encounter planned for next week relates no one yet */
	add_encounter(f, 100, f->patient, 0x11, now - 11 * day, now - 10 * day);
	add_encounter(f, 101, f->other, 0x11, now - 41 * day, now - 40 * day);
	add_encounter(f, 102, f->other, 0x22, now - day, 0);
	add_encounter(f, 103, f->other, 0x33, now + 7 * day, now + 7 * day + 3600000);
	link_user(f, f->clinician, 0x11);
	link_user(f, f->billing, 0x11);
	link_user(f, front, 0x11);
	link_user(f, admin, 0x11);
	link_user(f, nurse, 0x22);

	/* inside the window: read and search like the care team, never write */
	enc(f, "clinician", f->clinician, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_ALLOW,
	    "encounter");
	enc(f, "clinician", f->clinician, 30, PP_POLICY_SEARCH, f->patient, "Observation",
	    PP_POLICY_ALLOW, "encounter");
	enc(f, "clinician", f->clinician, -1, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_ALLOW,
	    "encounter");
	check(f, "clinician", f->clinician, 0, PP_POLICY_READ, f->patient, 0, PP_POLICY_ALLOW,
	      "encounter");
	enc(f, "clinician", f->clinician, 30, PP_POLICY_WRITE, f->patient, "DocumentReference",
	    PP_POLICY_DENY, "no-relationship");
	enc(f, "clinician", f->clinician, 30, PP_POLICY_READ, f->patient, "MessageThread",
	    PP_POLICY_DENY, "no-relationship");
	/* outside the window (forty days ago), unless the window is widened */
	enc(f, "clinician", f->clinician, 30, PP_POLICY_READ, f->other, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "clinician", f->clinician, 45, PP_POLICY_READ, f->other, "Condition", PP_POLICY_ALLOW,
	    "encounter");
	/* window 0: only ongoing encounters */
	enc(f, "clinician", f->clinician, 0, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "nurse", nurse, 0, PP_POLICY_READ, f->other, "Condition", PP_POLICY_ALLOW, "encounter");
	/* the clock moves on: 25 days later the encounter of ten days ago is 35 days old */
	pp_clock_set_offset_ms(25 * day);
	enc(f, "clinician", f->clinician, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "nurse", nurse, 30, PP_POLICY_READ, f->other, "Condition", PP_POLICY_ALLOW,
	    "encounter");   /* still ongoing */
	pp_clock_set_offset_ms(0);
	/* a planned encounter relates its practitioner only once it has started */
	link_user(f, planner, 0x33);
	enc(f, "clinician", planner, 30, PP_POLICY_READ, f->other, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	pp_clock_set_offset_ms(8 * day);
	enc(f, "clinician", planner, 30, PP_POLICY_READ, f->other, "Condition", PP_POLICY_ALLOW,
	    "encounter");
	pp_clock_set_offset_ms(0);
	/* a practitioner who was not there, and an account linked to no practitioner */
	enc(f, "nurse", nurse, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "clinician", unlinked, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	assert_int_equal(pp_store_encounter_related(f->st, f->clinician, f->other, now, now, &related),
	                 0);
	assert_int_equal(related, 0);
	/* front desk and billing: demographics only; other staff nothing */
	enc(f, "billing", f->billing, 30, PP_POLICY_READ, f->patient, "Patient", PP_POLICY_ALLOW,
	    "encounter");
	enc(f, "front_desk", front, 30, PP_POLICY_SEARCH, f->patient, "Patient", PP_POLICY_ALLOW,
	    "encounter");
	enc(f, "billing", f->billing, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "billing", f->billing, 30, PP_POLICY_WRITE, f->patient, "Patient", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "billing", f->billing, 30, PP_POLICY_READ, f->other, "Patient", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "admin", admin, 30, PP_POLICY_READ, f->patient, "Patient", PP_POLICY_DENY,
	    "no-relationship");
	/* the care team comes first when both hold */
	assert_int_equal(pp_store_care_team_add(f->st, f->clinician, f->patient, now - day, 0), 0);
	enc(f, "clinician", f->clinician, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_ALLOW,
	    "care-team");
	assert_int_equal(pp_store_care_team_end(f->st, f->clinician, f->patient, now - 1), 0);
	/* unlinking ends it; so does re-indexing the encounter without that practitioner */
	assert_int_equal(pp_store_practitioner_linked(f->st, f->clinician, &related), 0);
	assert_int_equal(related, 1);
	assert_int_equal(pp_store_practitioner_unlink(f->st, f->clinician), 0);
	assert_int_equal(pp_store_practitioner_linked(f->st, f->clinician, &related), 0);
	assert_int_equal(related, 0);
	assert_int_equal(pp_store_practitioner_unlink(f->st, f->clinician), PP_ENOTFOUND);
	enc(f, "clinician", f->clinician, 30, PP_POLICY_READ, f->patient, "Condition", PP_POLICY_DENY,
	    "no-relationship");
	enc(f, "billing", f->billing, 30, PP_POLICY_READ, f->patient, "Patient", PP_POLICY_ALLOW,
	    "encounter");
	assert_int_equal(pp_store_encounter_index_put(f->st, 100, f->patient, NULL, 0, 0, 0), 0);
	enc(f, "billing", f->billing, 30, PP_POLICY_READ, f->patient, "Patient", PP_POLICY_DENY,
	    "no-relationship");
	/* bad arguments */
	assert_int_equal(pp_store_encounter_index_put(f->st, 0, f->patient, NULL, 0, 0, 0),
	                 PP_EINVAL);
	assert_int_equal(pp_store_practitioner_link_set(f->st, f->clinician, NULL, 0, 1), PP_EINVAL);
}

static int collect(void *ctx, int64_t pid)
{
	int64_t *got = ctx;

	for (int i = 0; i < 8; i++)
		if (!got[i]) {
			got[i] = pid;
			break;
		}
	return 0;
}

static void test_encounter_list(void **state)
{
	fx *f = *state;
	const int64_t day = 86400000LL, now = pp_clock_now_ms();
	int64_t got[8] = {0}, n = 0;
	uint8_t key[32];

	add_encounter(f, 100, f->patient, 0x11, now - 3 * day, now - 2 * day);
	add_encounter(f, 101, f->patient, 0x11, now - 5 * day, now - 4 * day);
	add_encounter(f, 102, f->other, 0x11, now - day, 0);
	link_user(f, f->clinician, 0x11);
	assert_int_equal(pp_store_encounter_patients_each(f->st, f->clinician, now, now - 30 * day,
	                                                  collect, got), 0);
	assert_int_equal(got[0], f->other);     /* ongoing first */
	assert_int_equal(got[1], f->patient);   /* once, though twice seen */
	assert_int_equal(got[2], 0);
	memset(got, 0, sizeof got);
	assert_int_equal(pp_store_encounter_patients_each(f->st, f->billing, now, now - 30 * day,
	                                                  collect, got), 0);
	assert_int_equal(got[0], 0);
	memset(key, 0x11, sizeof key);
	assert_int_equal(pp_store_encounter_patient_count(f->st, key, &n), 0);
	assert_int_equal(n, 2);
}

static void test_sensitive_codes(void **state)
{
	(void)state;
#define SENS(json) sens(json)
	assert_true(SENS("{\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"F32.9\"}]}}"));
	assert_false(SENS("{\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"E11.9\"}]}}"));
	assert_true(SENS("{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2106-3\"}]}}"));
	assert_false(SENS("{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2106-30\"}]}}"));
	assert_false(SENS("{\"code\":{\"coding\":[{\"system\":\"http://example.org\",\"code\":\"80583007\"}]}}"));
	assert_true(SENS("{\"meta\":{\"security\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-Confidentiality\",\"code\":\"R\"}]}}"));
	assert_true(SENS("{\"system\":\"http://snomed.info/sct\",\"code\":\"80583007\",\"text\":\"summary item\"}"));
#undef SENS
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
	assert_true(pp_policy_permits("clinician", "breakglass.request"));
	assert_true(pp_policy_permits("privacy_officer", "breakglass.review"));
	assert_false(pp_policy_permits("admin", "record.clinical"));
	assert_false(pp_policy_permits("nobody", "record.own"));
	assert_false(pp_policy_permits("patient", NULL));
	for (const char *const *r = (const char *const[]){"patient", "proxy", "clinician", "nurse",
	                                                   "front_desk", "billing", "privacy_officer",
	                                                   "security_admin", "admin", NULL};
	     *r; r++)
		assert_true(pp_policy_role_known(*r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_patient_own_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staff_denied_without_relationship, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_care_team, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_member, setup, teardown),
		cmocka_unit_test_setup_teardown(test_break_glass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encounter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encounter_list, setup, teardown),
		cmocka_unit_test(test_sensitive_codes),
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
