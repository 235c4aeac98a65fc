/* fhir: the patient's consent choices recorded as FHIR R4 Consent resources.
 *
 * Every change of a patient's choices (share with third-party apps; share sensitive categories with
 * proxies) writes a new Consent (status active, scope patient-privacy, LOINC 59284-0, one nested
 * provision per choice, permit or deny) into the patient's compartment, sealed like every other
 * resource; the Consent it supersedes gets a new version with status inactive and its provision
 * period ended, and stays as history. The choices policy/ enforces (patient_consent) are updated
 * and pointed at the new Consent in the same store transaction — the caller's — so the record and
 * the enforcement cannot disagree. policy/ keeps deciding from that row: one indexed read per
 * decision, no decryption, on every row of a FHIR search.
 *
 * The Consent names the sensitive categories by their HL7 v3 labels (ETH, PSY, SEX), so policy/
 * treats the Consent itself as sensitive: a proxy who may not see sensitive data does not see it. */
#include "fhir/fhir_internal.h"
#include "store/store_consent.h"
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

#define SYS_SCOPE "http://terminology.hl7.org/CodeSystem/consentscope"
#define SYS_ACTCODE "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#define SYS_ACTION "http://terminology.hl7.org/CodeSystem/consentaction"
#define SYS_PARTICIPATION "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
#define SYS_ROLECODE "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
#define SYS_ACTREASON "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#define ROLE_APPS "IRCP"   /* information recipient: the apps the patient connects */
#define ROLE_PROXIES "PRS" /* personal relationship: parents, guardians, caregivers */

/* Consent is written here only: an imported one would record choices policy/ does not enforce, so
 * it is not a type the importer knows (parse.c), only one the API serves and searches. */
const char *pp_fhir_portal_type(const char *type)
{
	static const char consent[] = "Consent";

	return type && !strcmp(type, consent) ? consent : NULL;
}

/* one provision: who (actor role), permit or deny */
static json_t *provision(bool permit, const char *role_sys, const char *role, const char *display,
                         const char *text, const char *who)
{
	return json_pack("{s:s, s:[{s:{s:[{s:s, s:s, s:s}], s:s}, s:{s:s}}], s:[{s:[{s:s, s:s}]}]}",
	                 "type", permit ? "permit" : "deny", "actor", "role", "coding", "system",
	                 role_sys, "code", role, "display", display, "text", text, "reference",
	                 "display", who, "action", "coding", "system", SYS_ACTION, "code", "access");
}

static json_t *consent_new(const char *lid, const char *patient_ref, const char *when,
                           bool share_apps, bool share_sensitive)
{
	json_t *apps, *prox, *res;

	apps = provision(share_apps, SYS_PARTICIPATION, ROLE_APPS, "information recipient",
	                 "Third-party apps the patient connects", "Apps connected with SMART on FHIR");
	prox = provision(share_sensitive, SYS_ROLECODE, ROLE_PROXIES, "personal relationship",
	                 "People with proxy access: parent, guardian, caregiver",
	                 "Proxies, for sensitive categories");
	if (!apps || !prox ||
	    json_object_set_new(apps, "purpose",
	                        json_pack("[{s:s, s:s, s:s}]", "system", SYS_ACTREASON, "code",
	                                  "PATRQT", "display", "patient requested")) ||
	    json_object_set_new(prox, "securityLabel",
	                        json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "system",
	                                  SYS_ACTCODE, "code", "ETH", "system", SYS_ACTCODE, "code",
	                                  "PSY", "system", SYS_ACTCODE, "code", "SEX"))) {
		json_decref(apps);
		json_decref(prox);
		return NULL;
	}
	res = json_pack(
	    "{s:s, s:s, s:s, s:{s:[{s:s, s:s, s:s}]}, s:[{s:[{s:s, s:s}], s:s}], s:{s:s}, s:s, "
	    "s:[{s:s}], s:{s:[{s:s, s:s, s:s}], s:s}, s:{s:s, s:{s:s}, s:[o, o]}}",
	    "resourceType", "Consent", "id", lid, "status", "active",
	    "scope", "coding", "system", SYS_SCOPE, "code", "patient-privacy", "display",
	    "Privacy Consent",
	    "category", "coding", "system", "http://loinc.org", "code", "59284-0", "text",
	    "Patient consent",
	    "patient", "reference", patient_ref, "dateTime", when,
	    "performer", "reference", patient_ref,
	    "policyRule", "coding", "system", SYS_ACTCODE, "code", "OPTIN", "display", "opt-in",
	    "text", "The patient's choices in the portal",
	    "provision", "type", "permit", "period", "start", when, "provision", apps, prox);
	return res;
}

/* seals res (its JSON) into row (id, type, lid_bidx, pub_id, patient_id, version set by the
 * caller) and writes it */
static int seal_put(pp_store *st, pp_crypto *c, const json_t *res, pp_store_resource *row)
{
	char *body = json_dumps(res, JSON_COMPACT);
	char *canon = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	if (!body || !canon) {
		rc = PP_ENOMEM;
		goto out;
	}
	pp_store_resource_clear(row);
	if ((rc = pp_crypto_keyed_digest(c, canon, strlen(canon), row->digest)) ||
	    (rc = pp_crypto_seal(c, "resource", "body", row->id, body, strlen(body), &row->body,
	                         &row->body_len)))
		goto out;
	rc = pp_store_resource_put(st, row);
out:
	if (body) {
		pp_wipe(body, strlen(body));
		free(body);
	}
	if (canon) {
		pp_wipe(canon, strlen(canon));
		free(canon);
	}
	return rc;
}

/* the previous Consent: a new version, status inactive, its provision period ended */
static int supersede(pp_store *st, pp_crypto *c, int64_t id, int64_t patient_id, const char *when,
                     int64_t now_ms)
{
	pp_store_resource row = {0};
	json_t *res = NULL, *prov, *period;
	int rc;

	if ((rc = pp_store_resource_get(st, id, &row)))
		return rc == PP_ENOTFOUND ? PP_OK : rc;   /* gone (e.g. a purged record): nothing to end */
	if (strcmp(row.type, "Consent") || row.patient_id != patient_id) {
		rc = PP_EINVAL;
		goto out;
	}
	if ((rc = pp_fhir_resource_load(c, &row, &res)))
		goto out;
	prov = json_object_get(res, "provision");
	if (!json_is_object(prov)) {
		rc = PP_EINVAL;
		goto out;
	}
	period = json_object_get(prov, "period");
	if (!json_is_object(period)) {
		period = json_object();
		if (!period || json_object_set_new(prov, "period", period)) {
			rc = PP_ENOMEM;
			goto out;
		}
	}
	if (json_object_set_new(res, "status", json_string("inactive")) ||
	    json_object_set_new(period, "end", json_string(when))) {
		rc = PP_ENOMEM;
		goto out;
	}
	row.version = (row.version > 0 ? row.version : 1) + 1;
	row.last_updated_ms = now_ms;
	rc = seal_put(st, c, res, &row);
out:
	json_decref(res);
	pp_store_resource_clear(&row);
	return rc;
}

int pp_fhir_consent_record(struct pp_store *st, struct pp_crypto *c, int64_t patient_id,
                           bool share_apps, bool share_sensitive_proxies, int64_t by_user,
                           char pub_id[40], int64_t *resource_id)
{
	pp_store_consent cur, next;
	pp_store_resource pat = {0}, row = {0};
	json_t *pj = NULL, *res = NULL;
	char lid[33], ref[160], when[32];
	const char *plid;
	uint8_t rnd[16];
	int64_t prev_id = 0, now_ms = pp_clock_now_ms();
	int rc;

	if (!st || !c || patient_id <= 0 || !pub_id || !resource_id)
		return PP_EINVAL;
	pub_id[0] = '\0';
	*resource_id = 0;
	if ((rc = pp_store_consent_current(st, patient_id, &cur, &prev_id)) ||
	    (rc = pp_store_resource_get(st, patient_id, &pat)))
		goto out;
	if (strcmp(pat.type, "Patient") || pat.patient_id != pat.id) {
		rc = PP_ENOTFOUND;
		goto out;
	}
	if ((rc = pp_fhir_resource_load(c, &pat, &pj)))
		goto out;
	plid = json_string_value(json_object_get(pj, "id"));
	if (!plid || snprintf(ref, sizeof ref, "Patient/%s", plid) >= (int)sizeof ref) {
		rc = PP_EINVAL;
		goto out;
	}
	pp_clock_format_iso(now_ms, when);
	if (prev_id > 0 && (rc = supersede(st, c, prev_id, patient_id, when, now_ms)))
		goto out;
	if ((rc = pp_random(rnd, sizeof rnd)))
		goto out;
	pp_hex_encode(rnd, sizeof rnd, lid);
	if (!(res = consent_new(lid, ref, when, share_apps, share_sensitive_proxies))) {
		rc = PP_ENOMEM;
		goto out;
	}
	row.id = pp_store_new_id();
	snprintf(row.type, sizeof row.type, "Consent");
	row.patient_id = patient_id;
	row.version = 1;
	row.last_updated_ms = now_ms;
	if ((rc = pp_random(rnd, sizeof rnd)))
		goto out;
	pp_hex_encode(rnd, sizeof rnd, row.pub_id);
	if (row.id <= 0) {
		rc = PP_EIO;
		goto out;
	}
	if ((rc = pp_fhir_lid_bidx(c, "Consent", lid, row.lid_bidx)) ||
	    (rc = seal_put(st, c, res, &row)))
		goto out;
	next = (pp_store_consent){.share_apps = share_apps,
	                          .share_sensitive_proxies = share_sensitive_proxies,
	                          .updated_ms = now_ms,
	                          .updated_by = by_user};
	if ((rc = pp_store_consent_link(st, patient_id, &next, row.id)))
		goto out;
	snprintf(pub_id, 40, "%s", row.pub_id);
	*resource_id = row.id;
out:
	json_decref(res);
	json_decref(pj);
	pp_store_resource_clear(&pat);
	pp_store_resource_clear(&row);
	return rc;
}

/* the nested provision whose actor has this role code */
static const json_t *find_provision(const json_t *res, const char *role)
{
	const json_t *list = json_object_get(json_object_get(res, "provision"), "provision"), *p;
	size_t i;

	json_array_foreach(list, i, p) {
		const char *code = pp_fhir_path_str(p, "actor.0.role.coding.0.code");
		if (code && !strcmp(code, role))
			return p;
	}
	return NULL;
}

int pp_fhir_consent_choices(const json_t *consent, bool *share_apps, bool *share_sensitive_proxies)
{
	const json_t *a, *b;
	const char *ta, *tb;

	if (!consent || !share_apps || !share_sensitive_proxies)
		return PP_EINVAL;
	a = find_provision(consent, ROLE_APPS);
	b = find_provision(consent, ROLE_PROXIES);
	ta = pp_fhir_str(a, "type");
	tb = pp_fhir_str(b, "type");
	if (!ta || !tb || (strcmp(ta, "permit") && strcmp(ta, "deny")) ||
	    (strcmp(tb, "permit") && strcmp(tb, "deny")))
		return PP_EINVAL;
	*share_apps = !strcmp(ta, "permit");
	*share_sensitive_proxies = !strcmp(tb, "permit");
	return PP_OK;
}

/* ---- the history ----
 * Ordered on the rows alone, newest first: a Consent's last change is its writing (version 1,
 * active) or its superseding (version 2, at the moment the next one was written), so by
 * last_updated descending, then version ascending, each active Consent comes before the one it
 * superseded. Only the rows served are opened. */

typedef struct meta {
	pp_store_resource row;     /* without its body */
} meta;

typedef struct lister {
	meta *v;
	size_t n, cap;
	int err;
} lister;

static int list_row(void *ctx, const pp_store_resource *row)
{
	lister *x = ctx;

	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 8;
		meta *grown = realloc(x->v, ncap * sizeof *grown);
		if (!grown) {
			x->err = PP_ENOMEM;
			return 1;
		}
		x->v = grown;
		x->cap = ncap;
	}
	x->v[x->n].row = *row;
	x->v[x->n].row.body = NULL;
	x->v[x->n].row.body_len = 0;
	x->n++;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const pp_store_resource *x = &((const meta *)a)->row, *y = &((const meta *)b)->row;

	if (x->last_updated_ms != y->last_updated_ms)
		return x->last_updated_ms > y->last_updated_ms ? -1 : 1;
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* the served form of one row */
static int served(pp_store *st, pp_crypto *c, int64_t id, int64_t patient_id, json_t **out)
{
	pp_store_resource row = {0};
	json_t *res = NULL;
	int rc;

	*out = NULL;
	if ((rc = pp_store_resource_get(st, id, &row)))
		return rc;
	if (strcmp(row.type, "Consent") || row.patient_id != patient_id)
		rc = PP_EINVAL;
	else if (!(rc = pp_fhir_resource_load(c, &row, &res)) &&
	         !(rc = pp_fhir_serve_resource(st, c, res, &row)))
		*out = res, res = NULL;
	json_decref(res);
	pp_store_resource_clear(&row);
	return rc;
}

int pp_fhir_consent_list(struct pp_store *st, struct pp_crypto *c, int64_t patient_id,
                         int64_t current_id, size_t max, json_t **list, json_t **current)
{
	lister x = {0};
	json_t *out = NULL, *res = NULL;
	int rc;

	if (!st || !c || !list || patient_id <= 0)
		return PP_EINVAL;
	*list = NULL;
	if (current)
		*current = NULL;
	rc = pp_store_resource_each_meta_for_patient(st, patient_id, "Consent", list_row, &x);
	if (!rc)
		rc = x.err;
	if (rc)
		goto out;
	if (x.n > 1)
		qsort(x.v, x.n, sizeof *x.v, newest_first);
	if (!(out = json_array())) {
		rc = PP_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < x.n && i < max; i++) {
		if ((rc = served(st, c, x.v[i].row.id, patient_id, &res)))
			goto out;
		if (current && current_id > 0 && x.v[i].row.id == current_id)
			*current = json_incref(res);
		if (json_array_append_new(out, res)) {
			rc = PP_ENOMEM;
			goto out;
		}
	}
	if (current && current_id > 0 && !*current) {
		rc = served(st, c, current_id, patient_id, current);
		if (rc == PP_ENOTFOUND)
			rc = PP_OK;   /* a link to a row that is gone: no current Consent to show */
		if (rc)
			goto out;
	}
	*list = out;
	out = NULL;
out:
	if (rc && current) {
		json_decref(*current);
		*current = NULL;
	}
	json_decref(out);
	free(x.v);
	return rc;
}
