/*
 * policy — THE authorization decision: who may do what to which patient's data, and why.
 * Every handler that touches PHI builds a principal, asks pp_policy_check, and then makes exactly
 * one pp_audit_record call with the decision's outcome. A deny is answered 404 (existence is not
 * revealed) by the caller.
 */
#ifndef PP_POLICY_H
#define PP_POLICY_H

#include <stdio.h>

#include "core/core.h"

typedef struct pp_principal {
	int64_t user_id;           /* 0 for OAuth clients */
	char actor[48];            /* "user:<id>" or "client:<id>" for the audit record */
	char role[24];             /* "patient", "clinician", "admin", ... */
	int64_t patient_id;        /* for patients: their own Patient row id */
	char session_id[24];       /* opaque handle */
	char source_ip[64];
	char user_agent[200];
	char request_id[40];
	char on_behalf_of[48];     /* set by the handler when acting as a proxy: "patient:<opaque id>" */
} pp_principal;

enum pp_policy_action { PP_POLICY_READ, PP_POLICY_SEARCH, PP_POLICY_WRITE };
enum pp_policy_effect { PP_POLICY_DENY = 0, PP_POLICY_ALLOW = 1, PP_POLICY_ALLOW_BREAK_GLASS = 2 };

/* what an allowed caller must still leave out, resource by resource (pp_policy_visible) */
enum { PP_POLICY_HIDE_SENSITIVE = 1 };

typedef struct pp_policy_decision {
	enum pp_policy_effect effect;
	const char *reason;        /* stable code, e.g. "own-record", "not-own-record", "proxy" */
	const char *purpose;       /* purpose of use to audit */
	unsigned hide;             /* PP_POLICY_HIDE_* */
} pp_policy_decision;

/* What is being reached. */
typedef struct pp_policy_target {
	int64_t patient_id;        /* the Patient row the data is about; 0: not about a patient */
	const char *resource_type; /* FHIR type, or a portal kind ("HealthSummary", "MessageThread") */
	int64_t pool_id;           /* a message thread's care-team pool, else 0 */
} pp_policy_target;

struct pp_store;

/* THE decision. app gives the store (relationships, grants, consent), crypto (a proxy grant's
 * sealed birth date, for the adolescent and adulthood rules) and config (ages, sensitive codes).
 * A failed lookup denies. */
void pp_policy_decide(const pp_app *app, const pp_principal *p, enum pp_policy_action action,
                      const pp_policy_target *t, pp_policy_decision *out);
/* The same decision with only a store: rules that need crypto or config (proxies) deny. Callers
 * move to pp_policy_decide. */
void pp_policy_check(struct pp_store *st, const pp_principal *p, enum pp_policy_action action,
                     const pp_policy_target *t, pp_policy_decision *out);

/* May this resource be shown under an allowing decision? False for a sensitive resource (a code on
 * the configured list — reproductive and sexual health, mental health, substance use — or an HL7
 * confidentiality/sensitivity label) when the decision says to hide them. res is a json_t *. */
bool pp_policy_visible(const pp_app *app, const pp_policy_decision *d, const void *res);
/* Is the resource sensitive by the configured code list (exposed for tests and fuzzing)? */
bool pp_policy_sensitive(const char *code_list, const void *res);

/* Staff roles whose members give care (clinician, nurse): they may reach a record through a care
 * relationship. */
bool pp_policy_role_clinical(const char *role);
/* Any workforce role (not "patient", not "system") */
bool pp_policy_role_staff(const char *role);

/* The role table (roles.c): does the role hold the permission (e.g. "breakglass.request")? */
bool pp_policy_permits(const char *role, const char *permission);
bool pp_policy_role_known(const char *role);
/* docs/roles.md, generated from the table */
void pp_policy_roles_docs(FILE *out);

#endif
