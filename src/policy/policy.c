/* policy: the one authorization decision. This slice knows patients (their own record only),
 * backend services (OAuth clients with system/ scopes, read only), the non-patient directory
 * (Practitioner, Organization, Location: any signed-in caller), clinical staff on a patient's care
 * team, staff in the care-team pool a message thread belongs to (and, through that conversation,
 * the record: clinical staff all of it, front desk and billing the demographics), clinicians with a running
 * break-glass grant (marked as such), proxies within their grant (with the adolescent and
 * adulthood rules), and the patient's consent (apps; sensitive data to proxies). Every branch names its reason for the
 * audit record. Staff linked to a Practitioner who took part in one of the patient's encounters
 * (ongoing, or ended within policy.encounter_window_days) read the record like the care team, read
 * only ("encounter"; front desk and billing the demographics). */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "crypto/crypto.h"
#include "store/store_access.h"
#include "store/store_encounter.h"

bool pp_policy_role_clinical(const char *role)
{
	return pp_policy_permits(role, "record.clinical");
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

static bool type_in(const char *type, const char *const *list)
{
	for (; type && *list; list++)
		if (!strcmp(type, *list))
			return true;
	return false;
}

static const char *const MESSAGING[] = {"MessageThread", "Communication", NULL};
static const char *const DEMOGRAPHICS[] = {"Patient", NULL};
static const char *const DOCUMENTS[] = {"DocumentReference", NULL};
static const char *const BILLING[] = {"Coverage", "Account", "Invoice", "Claim",
                                      "ExplanationOfBenefit", "Billing", NULL};

/* whole years from a sealed "YYYY-MM-DD" to now (UTC); -1 when it cannot be read */
static int age_years(const pp_app *app, const pp_store_proxy *g)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	char now[32];
	int by, bm, bd, ny, nm, nd, age = -1;

	if (!app->crypto || pp_crypto_unseal(app->crypto, "proxy_grant", "dob", g->id, g->dob_enc,
	                                     g->dob_enc_len, &pt, &len))
		return -1;
	pp_clock_format_iso(pp_clock_now_ms(), now);
	if (len == 10 && sscanf((const char *)pt, "%4d-%2d-%2d", &by, &bm, &bd) == 3 &&
	    sscanf(now, "%4d-%2d-%2d", &ny, &nm, &nd) == 3)
		age = ny - by - ((nm < bm || (nm == bm && nd < bd)) ? 1 : 0);
	pp_crypto_free_plain(pt, len);
	return age;
}

/* someone acting for the patient: a live grant, its scope, the patient's age and consent */
static void proxy_rules(const pp_app *app, const pp_principal *p, enum pp_policy_action action,
                        const pp_policy_target *t, pp_policy_decision *out)
{
	pp_store_proxy g = {0};
	pp_store_consent consent;
	const char *type = t->resource_type;
	bool parent;
	int age, rc;

	out->purpose = "patient-access";
	rc = pp_store_proxy_active(app->store, p->user_id, t->patient_id, pp_clock_now_ms(), &g);
	if (rc) {
		out->reason = rc == PP_ENOTFOUND ? "not-own-record" : "lookup-failed";
		return;
	}
	parent = strcmp(g.relationship, "caregiver") != 0;
	age = age_years(app, &g);
	if (age < 0 || !app->cfg || pp_store_consent_get(app->store, t->patient_id, &consent)) {
		out->reason = "lookup-failed";
		goto out;
	}
	if (parent && age >= app->cfg->policy_adult_age && !g.adult_ok_ms) {
		out->reason = "proxy-patient-adult";    /* ended on the 18th birthday */
		goto out;
	}
	if (!strcmp(g.scope, "billing-only") && !type_in(type, DEMOGRAPHICS) && !type_in(type, BILLING)) {
		out->reason = "proxy-scope";
		goto out;
	}
	if (type_in(type, MESSAGING) &&
	    (!strcmp(g.scope, "no-messaging") || (parent && age >= app->cfg->policy_adolescent_age &&
	                                          age < app->cfg->policy_adult_age))) {
		out->reason = !strcmp(g.scope, "no-messaging") ? "proxy-scope" : "proxy-adolescent";
		goto out;
	}
	if (type && !strcmp(type, "AccessHistory") && strcmp(g.scope, "full")) {
		out->reason = "proxy-scope";
		goto out;
	}
	/* proxies write only messages (within the scope checked above) */
	if (action == PP_POLICY_WRITE && !type_in(type, MESSAGING)) {
		out->reason = "read-only";
		goto out;
	}
	allow(out, "proxy", "patient-access");
	/* sensitive categories: never to a parent of an adolescent; to other proxies only with the
	 * patient's consent */
	if ((parent && age >= app->cfg->policy_adolescent_age) || !consent.share_sensitive_proxies)
		out->hide |= PP_POLICY_HIDE_SENSITIVE;
out:
	pp_store_proxy_clear(&g);
}

#define ENCOUNTER_WINDOW_DAYS_DEFAULT 30   /* policy.encounter_window_days without a config */

/* The encounter relationship (read only): a practitioner the staff member is linked to took part
 * in an encounter of the patient that is ongoing or ended within the window. Returns 1 when it
 * decided (allowed, or a failed lookup), 0 to go on. */
static int encounter_rule(const pp_app *app, const pp_principal *p, int64_t patient_id,
                          pp_policy_decision *out)
{
	int64_t now = pp_clock_now_ms();
	int days = app->cfg ? app->cfg->policy_encounter_window_days : ENCOUNTER_WINDOW_DAYS_DEFAULT;
	int related = 0;

	if (pp_store_encounter_related(app->store, p->user_id, patient_id, now,
	                               now - (int64_t)days * 86400000LL, &related)) {
		out->reason = "lookup-failed";
		return 1;
	}
	if (!related)
		return 0;
	allow(out, "encounter", "treatment");
	return 1;
}

void pp_policy_check(struct pp_store *st, const pp_principal *p, enum pp_policy_action action,
                     const pp_policy_target *t, pp_policy_decision *out)
{
	pp_app app = {.store = st};

	pp_policy_decide(&app, p, action, t, out);
}

void pp_policy_decide(const pp_app *app, const pp_principal *p, enum pp_policy_action action,
                      const pp_policy_target *t, pp_policy_decision *out)
{
	const char *type = t ? t->resource_type : NULL;
	int64_t patient_id = t ? t->patient_id : 0;
	struct pp_store *st = app ? app->store : NULL;

	out->effect = PP_POLICY_DENY;
	out->reason = "no-relationship";
	out->purpose = "treatment";
	out->hide = 0;

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
	if (!strcmp(p->role, "patient") || !strcmp(p->role, "proxy")) {
		out->purpose = "patient-access";
		if (!strcmp(p->role, "patient") && p->patient_id > 0 && p->patient_id == patient_id) {
			/* the patient's own record; through an app they chose only while they consent to
			 * sharing with apps */
			if (!strncmp(p->actor, "client:", 7) && st) {
				pp_store_consent c;
				if (pp_store_consent_get(st, patient_id, &c)) {
					out->reason = "lookup-failed";
					return;
				}
				if (!c.share_apps) {
					out->reason = "consent-apps-off";
					return;
				}
			}
			allow(out, "own-record", "patient-access");
			return;
		}
		out->reason = "not-own-record";
		if (p->user_id > 0 && st && strncmp(p->actor, "client:", 7))
			proxy_rules(app, p, action, t, out);
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
	/* a message thread is for its pool only: the care team outside the pool does not read it */
	if (type_in(type, MESSAGING))
		return;
	/* a conversation in one of the staff member's pools relates them to the patient: clinical
	 * staff read the record, front desk and billing the demographics their job needs */
	if (action != PP_POLICY_WRITE && (pp_policy_role_clinical(p->role) ||
	                                  (pp_policy_permits(p->role, "record.demographics") &&
	                                   type_in(type, DEMOGRAPHICS)))) {
		int yes = 0;
		if (pp_store_pool_thread_with(st, p->user_id, patient_id, &yes)) {
			out->reason = "lookup-failed";
			return;
		}
		if (yes) {
			allow(out, "pool-thread", "treatment");
			return;
		}
	}
	/* front desk and billing linked to a practitioner of the patient's encounter: demographics */
	if (!pp_policy_role_clinical(p->role) && action != PP_POLICY_WRITE &&
	    pp_policy_permits(p->role, "record.demographics") && type_in(type, DEMOGRAPHICS)) {
		encounter_rule(app, p, patient_id, out);
		return;
	}
	/* the record itself: clinical staff on the patient's care team read it, and add documents */
	if (pp_policy_role_clinical(p->role) &&
	    (action != PP_POLICY_WRITE || type_in(type, DOCUMENTS))) {
		int related = 0;
		if (pp_store_care_team_has(st, p->user_id, patient_id, pp_clock_now_ms(), &related)) {
			out->reason = "lookup-failed";
			return;
		}
		if (related) {
			allow(out, "care-team", "treatment");
			return;
		}
		if (action == PP_POLICY_WRITE)
			return;   /* break-glass and the encounter relationship are read only */
		if (encounter_rule(app, p, patient_id, out))
			return;
		/* no relationship: only a running break-glass grant of this clinician opens the record,
		 * and every access through it is marked as such (purpose: emergency treatment) */
		pp_store_break_glass bg = {0};
		int rc = pp_store_break_glass_active(st, p->user_id, patient_id, pp_clock_now_ms(), &bg);
		pp_store_break_glass_clear(&bg);
		if (rc == 0) {
			out->effect = PP_POLICY_ALLOW_BREAK_GLASS;
			out->reason = "break-glass";
			out->purpose = "emergency";
		} else if (rc != PP_ENOTFOUND) {
			out->reason = "lookup-failed";
		}
	}
}

/* ---- sensitive categories ---- */
static bool code_listed(const char *list, const char *sys, const char *code)
{
	size_t sl = strlen(sys), cl = strlen(code);

	for (const char *q = list; q && *q;) {
		size_t n;
		while (*q == ' ' || *q == ',')
			q++;
		n = strcspn(q, " ,");
		if (n > sl + 1 && !strncmp(q, sys, sl) && q[sl] == '|') {
			const char *c = q + sl + 1;
			size_t k = n - sl - 1;
			if (k && c[k - 1] == '*' ? (cl >= k - 1 && !strncmp(c, code, k - 1))
			                        : (k == cl && !strncmp(c, code, cl)))
				return true;
		}
		q += n;
	}
	return false;
}

static const char *short_system(const char *uri)
{
	if (!uri)
		return NULL;
	if (!strcmp(uri, "http://snomed.info/sct"))
		return "sct";
	if (!strcmp(uri, "http://hl7.org/fhir/sid/icd-10-cm") ||
	    !strcmp(uri, "http://hl7.org/fhir/sid/icd-10"))
		return "icd10";
	if (!strcmp(uri, "http://loinc.org"))
		return "loinc";
	if (!strcmp(uri, "http://www.nlm.nih.gov/research/umls/rxnorm"))
		return "rxnorm";
	return NULL;
}

/* HL7 v3 labels that mark a resource restricted or sensitive */
static bool label_sensitive(const char *sys, const char *code)
{
	static const char *const v3[] = {"R", "V", "ETH", "PSY", "SDV", "STD", "HIV", "SEX", "PREGNANT",
	                                 "MH", "SUD", NULL};
	if (!sys || strncmp(sys, "http://terminology.hl7.org/CodeSystem/v3-", 41))
		return false;
	for (const char *const *c = v3; *c; c++)
		if (!strcmp(code, *c))
			return true;
	return false;
}

static bool walk(const char *list, const json_t *v, int depth)
{
	const char *key;
	json_t *child;
	size_t i;

	if (depth > 32)
		return true;   /* absurdly deep: treat as sensitive (fail closed) */
	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			if (walk(list, child, depth + 1))
				return true;
		return false;
	}
	if (!json_is_object(v))
		return false;
	{
		const char *sys = json_string_value(json_object_get(v, "system"));
		const char *code = json_string_value(json_object_get(v, "code"));
		const char *sh = short_system(sys);
		if (code && ((sh && code_listed(list, sh, code)) || label_sensitive(sys, code)))
			return true;
	}
	json_object_foreach((json_t *)v, key, child) {
		(void)key;
		if ((json_is_object(child) || json_is_array(child)) && walk(list, child, depth + 1))
			return true;
	}
	return false;
}

bool pp_policy_sensitive(const char *code_list, const void *res)
{
	return res && walk(code_list ? code_list : "", res, 0);
}

bool pp_policy_visible(const pp_app *app, const pp_policy_decision *d, const void *res)
{
	if (!d || d->effect == PP_POLICY_DENY)
		return false;
	if (!(d->hide & PP_POLICY_HIDE_SENSITIVE))
		return true;
	return !pp_policy_sensitive(app && app->cfg ? app->cfg->policy_sensitive_codes : NULL, res) &&
	       res != NULL;
}
