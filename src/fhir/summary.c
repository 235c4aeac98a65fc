/* fhir: the patient health summary (docs/api.md, "Health summary"): demographics, problems,
 * medications, allergies, immunizations, latest labs and vitals per LOINC code, lab trends and
 * encounters. Every "id" is the resource's opaque pub_id, never its logical id. Lists are newest
 * first (ties broken by text, then id, so the output is stable); absent values are null. */
#include "fhir/fhir_internal.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
	char key[40];      /* sort key: an ISO date(-time) string, compared as text */
	json_t *obj;
} entry;

typedef struct list {
	entry *v;
	size_t n, cap;
} list;

typedef struct summary_ctx {
	struct pp_crypto *c;
	int rc;
	list problems, meds, allergies, imms, labs, vitals, encs;
} summary_ctx;

static int list_add(list *l, const char *key, json_t *obj /* taken */)
{
	if (!obj)
		return PP_ENOMEM;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		entry *v = realloc(l->v, ncap * sizeof *v);
		if (!v) {
			json_decref(obj);
			return PP_ENOMEM;
		}
		l->v = v;
		l->cap = ncap;
	}
	snprintf(l->v[l->n].key, sizeof l->v[l->n].key, "%s", key ? key : "");
	l->v[l->n].obj = obj;
	l->n++;
	return PP_OK;
}

static void list_free(list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->v[i].obj);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int cmp_text(const json_t *a, const json_t *b, const char *key)
{
	const char *x = json_string_value(json_object_get(a, key));
	const char *y = json_string_value(json_object_get(b, key));

	return strcmp(x ? x : "", y ? y : "");
}

static int cmp_newest(const void *pa, const void *pb)
{
	const entry *a = pa, *b = pb;
	int d = strcmp(b->key, a->key);

	if (!d)
		d = cmp_text(a->obj, b->obj, "text");
	if (!d)
		d = cmp_text(a->obj, b->obj, "code");
	if (!d)
		d = cmp_text(a->obj, b->obj, "id");
	return d;
}

static void list_sort(list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, cmp_newest);
}

static json_t *list_array(const list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		if (json_array_append(a, l->v[i].obj)) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* ---- FHIR value helpers ---- */

static const char *cc_text(const json_t *cc)
{
	const char *s = pp_fhir_str(cc, "text");

	if (!s)
		s = pp_fhir_path_str(cc, "coding.0.display");
	if (!s)
		s = pp_fhir_path_str(cc, "coding.0.code");
	return s;
}

/* the first coding of a CodeableConcept in system, else the first coding */
static const json_t *cc_coding(const json_t *cc, const char *system)
{
	json_t *codings = json_object_get(cc, "coding"), *x;
	size_t i;

	json_array_foreach(codings, i, x)
		if (system && !strcmp(pp_fhir_str(x, "system") ? pp_fhir_str(x, "system") : "", system))
			return x;
	return json_array_get(codings, 0);
}

static const char *first_str(const json_t *res, const char *const *paths)
{
	for (; *paths; paths++) {
		const char *s = pp_fhir_path_str(res, *paths);
		if (s)
			return s;
	}
	return NULL;
}

/* ---- per-type items ---- */

static int add_condition(summary_ctx *x, const char *pub, const json_t *r)
{
	static const char *const onset[] = {"onsetDateTime", "onsetPeriod.start", "recordedDate",
	                                     NULL};
	const json_t *coding = cc_coding(json_object_get(r, "code"), NULL);
	const char *when = first_str(r, onset);

	return list_add(&x->problems, when,
	                json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}", "id", pub, "text",
	                          cc_text(json_object_get(r, "code")), "code",
	                          pp_fhir_str(coding, "code"), "system",
	                          pp_fhir_str(coding, "system"), "clinical_status",
	                          pp_fhir_path_str(r, "clinicalStatus.coding.0.code"), "onset", when));
}

static const char *period_unit(const char *u)
{
	static const char *const map[][2] = {{"s", "second"}, {"min", "minute"}, {"h", "hour"},
	                                     {"d", "day"}, {"wk", "week"}, {"mo", "month"},
	                                     {"a", "year"}};
	for (size_t i = 0; u && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(u, map[i][0]))
			return map[i][1];
	return u;
}

/* dosageInstruction[0] as a short sentence: its text, else dose, frequency and "as needed" */
static int dosage_text(const json_t *r, char *out, size_t cap)
{
	const json_t *d = pp_fhir_path(r, "dosageInstruction.0");
	const json_t *dose = pp_fhir_path(d, "doseAndRate.0.doseQuantity");
	const json_t *rep = pp_fhir_path(d, "timing.repeat");
	const char *unit;
	size_t len = 0;

	out[0] = '\0';
	if (!d)
		return 0;
	if (pp_fhir_str(d, "text")) {
		snprintf(out, cap, "%s", pp_fhir_str(d, "text"));
		return 1;
	}
	if (json_is_number(json_object_get(dose, "value"))) {
		unit = pp_fhir_str(dose, "unit");
		len += (size_t)snprintf(out + len, cap - len, "%g %s",
		                        json_number_value(json_object_get(dose, "value")),
		                        unit ? unit : "dose");
	}
	if (len < cap && json_is_number(json_object_get(rep, "frequency")) &&
	    (unit = period_unit(pp_fhir_str(rep, "periodUnit")))) {
		double f = json_number_value(json_object_get(rep, "frequency"));
		double p = json_is_number(json_object_get(rep, "period"))
		                   ? json_number_value(json_object_get(rep, "period")) : 1;
		if (p == 1)
			len += (size_t)snprintf(out + len, cap - len, "%s%g time%s per %s",
			                        len ? ", " : "", f, f == 1 ? "" : "s", unit);
		else
			len += (size_t)snprintf(out + len, cap - len, "%s%g time%s every %g %ss",
			                        len ? ", " : "", f, f == 1 ? "" : "s", p, unit);
	}
	if (len < cap && json_is_true(json_object_get(d, "asNeededBoolean")))
		len += (size_t)snprintf(out + len, cap - len, "%sas needed", len ? ", " : "");
	return out[0] != '\0';
}

static int add_medication(summary_ctx *x, const char *pub, const json_t *r)
{
	char dosage[256];
	const char *text = cc_text(json_object_get(r, "medicationCodeableConcept"));
	const char *when = pp_fhir_str(r, "authoredOn");

	if (!text)
		text = pp_fhir_path_str(r, "medicationReference.display");
	return list_add(&x->meds, when,
	                json_pack("{s:s,s:s?,s:s?,s:s?,s:s?}", "id", pub, "text", text, "status",
	                          pp_fhir_str(r, "status"), "authored_on", when, "dosage",
	                          dosage_text(r, dosage, sizeof dosage) ? dosage : NULL));
}

static int add_allergy(summary_ctx *x, const char *pub, const json_t *r)
{
	static const char *const when[] = {"recordedDate", "onsetDateTime", NULL};

	return list_add(&x->allergies, first_str(r, when),
	                json_pack("{s:s,s:s?,s:s?,s:s?,s:s?}", "id", pub, "text",
	                          cc_text(json_object_get(r, "code")), "category",
	                          pp_fhir_path_str(r, "category.0"), "criticality",
	                          pp_fhir_str(r, "criticality"), "clinical_status",
	                          pp_fhir_path_str(r, "clinicalStatus.coding.0.code")));
}

static int add_immunization(summary_ctx *x, const char *pub, const json_t *r)
{
	static const char *const when[] = {"occurrenceDateTime", "occurrenceString", "recorded",
	                                   NULL};
	const char *date = first_str(r, when);

	return list_add(&x->imms, date,
	                json_pack("{s:s,s:s?,s:s?,s:s?}", "id", pub, "text",
	                          cc_text(json_object_get(r, "vaccineCode")), "date", date, "status",
	                          pp_fhir_str(r, "status")));
}

static int add_encounter(summary_ctx *x, const char *pub, const json_t *r)
{
	static const char *const reason[] = {"reasonCode.0.text", "reasonCode.0.coding.0.display",
	                                     "reasonReference.0.display", NULL};
	static const char *const provider[] = {"participant.0.individual.display",
	                                       "serviceProvider.display", NULL};
	const char *date = pp_fhir_path_str(r, "period.start");

	return list_add(&x->encs, date,
	                json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}", "id", pub, "type",
	                          cc_text(pp_fhir_path(r, "type.0")), "class",
	                          pp_fhir_path_str(r, "class.code"), "date", date, "reason",
	                          first_str(r, reason), "provider", first_str(r, provider)));
}

static int has_category(const json_t *r, const char *code)
{
	json_t *cats = json_object_get(r, "category"), *cat, *coding;
	size_t i, j;

	json_array_foreach(cats, i, cat)
		json_array_foreach(json_object_get(cat, "coding"), j, coding)
			if (pp_fhir_str(coding, "code") && !strcmp(pp_fhir_str(coding, "code"), code))
				return 1;
	return 0;
}

/* value of an Observation (or one of its components) as JSON; NULL when there is none */
static json_t *obs_value(const json_t *o, const char **unit)
{
	const json_t *q = json_object_get(o, "valueQuantity");
	json_t *v;

	*unit = NULL;
	if (json_is_number(json_object_get(q, "value"))) {
		*unit = pp_fhir_str(q, "unit") ? pp_fhir_str(q, "unit") : pp_fhir_str(q, "code");
		return json_incref(json_object_get(q, "value"));
	}
	if ((v = json_object_get(o, "valueString")) && json_is_string(v))
		return json_incref(v);
	if (cc_text(json_object_get(o, "valueCodeableConcept")))
		return json_string(cc_text(json_object_get(o, "valueCodeableConcept")));
	return NULL;
}

static json_t *obs_item(const char *pub, const json_t *o, const char *date, int lab)
{
	const json_t *code = json_object_get(o, "code");
	const json_t *rr = pp_fhir_path(o, "referenceRange.0");
	const char *unit = NULL;
	json_t *value = obs_value(o, &unit);

	if (!lab)
		return json_pack("{s:s,s:s?,s:s?,s:o?,s:s?,s:s?}", "id", pub, "code",
		                 pp_fhir_str(cc_coding(code, "http://loinc.org"), "code"), "text",
		                 cc_text(code), "value", value, "unit", unit, "date", date);
	return json_pack("{s:s,s:s?,s:s?,s:o?,s:s?,s:s?,s:O?,s:O?,s:s?}", "id", pub, "code",
	                 pp_fhir_str(cc_coding(code, "http://loinc.org"), "code"), "text",
	                 cc_text(code), "value", value, "unit", unit, "date", date, "ref_low",
	                 pp_fhir_path(rr, "low.value"), "ref_high", pp_fhir_path(rr, "high.value"),
	                 "flag", pp_fhir_path_str(o, "interpretation.0.coding.0.code"));
}

static int add_observation(summary_ctx *x, const char *pub, const json_t *r)
{
	static const char *const when[] = {"effectiveDateTime", "effectivePeriod.start", "issued",
	                                   NULL};
	const char *date = first_str(r, when);
	json_t *comps = json_object_get(r, "component"), *comp;
	size_t i;
	int rc;

	if (has_category(r, "laboratory"))
		return list_add(&x->labs, date, obs_item(pub, r, date, 1));
	if (!has_category(r, "vital-signs"))
		return PP_OK;
	/* a panel (blood pressure) lists its values as components: one vital per component */
	if (json_array_size(comps) && !json_object_get(r, "valueQuantity")) {
		json_array_foreach(comps, i, comp)
			if ((rc = list_add(&x->vitals, date, obs_item(pub, comp, date, 0))))
				return rc;
		return PP_OK;
	}
	return list_add(&x->vitals, date, obs_item(pub, r, date, 0));
}

static int each_cb(void *ctx, const pp_store_resource *row)
{
	summary_ctx *x = ctx;
	json_t *r = NULL;
	int rc;

	if ((rc = pp_fhir_resource_load(x->c, row, &r)))
		goto out;
	if (!strcmp(row->type, "Condition"))
		rc = add_condition(x, row->pub_id, r);
	else if (!strcmp(row->type, "MedicationRequest"))
		rc = add_medication(x, row->pub_id, r);
	else if (!strcmp(row->type, "AllergyIntolerance"))
		rc = add_allergy(x, row->pub_id, r);
	else if (!strcmp(row->type, "Immunization"))
		rc = add_immunization(x, row->pub_id, r);
	else if (!strcmp(row->type, "Encounter"))
		rc = add_encounter(x, row->pub_id, r);
	else if (!strcmp(row->type, "Observation"))
		rc = add_observation(x, row->pub_id, r);
out:
	json_decref(r);
	x->rc = rc;
	return rc != PP_OK;
}

/* ---- demographics ---- */

static json_t *patient_obj(const char *pub, const json_t *p)
{
	json_t *names = json_object_get(p, "name"), *n, *name = NULL, *ids, *id, *tel, *t;
	char full[256] = "", addr[512] = "";
	const char *mrn = NULL, *phone = NULL;
	size_t i, j, len = 0;
	json_t *out;

	/* the first "official" name, else the first name */
	json_array_foreach(names, i, n) {
		const char *use = pp_fhir_str(n, "use");
		if (use && !strcmp(use, "official")) {
			name = n;
			break;
		}
	}
	if (!name)
		name = json_array_get(names, 0);
	if (pp_fhir_str(name, "text")) {
		snprintf(full, sizeof full, "%s", pp_fhir_str(name, "text"));
	} else if (name) {
		json_array_foreach(json_object_get(name, "given"), j, t)
			if (json_is_string(t) && len < sizeof full)
				len += (size_t)snprintf(full + len, sizeof full - len, "%s%s", len ? " " : "",
				                        json_string_value(t));
		if (pp_fhir_str(name, "family") && len < sizeof full)
			snprintf(full + len, sizeof full - len, "%s%s", len ? " " : "",
			         pp_fhir_str(name, "family"));
	}
	ids = json_object_get(p, "identifier");
	json_array_foreach(ids, i, id) {
		json_t *coding;
		json_array_foreach(pp_fhir_path(id, "type.coding"), j, coding)
			if (!mrn && pp_fhir_str(coding, "code") && !strcmp(pp_fhir_str(coding, "code"), "MR"))
				mrn = pp_fhir_str(id, "value");
	}
	tel = json_object_get(p, "telecom");
	json_array_foreach(tel, i, t)
		if (!phone && pp_fhir_str(t, "system") && !strcmp(pp_fhir_str(t, "system"), "phone"))
			phone = pp_fhir_str(t, "value");
	{
		const json_t *a = pp_fhir_path(p, "address.0");
		const char *parts[3] = {pp_fhir_str(a, "city"), pp_fhir_str(a, "state"),
		                        pp_fhir_str(a, "postalCode")};
		len = 0;
		json_array_foreach(json_object_get(a, "line"), j, t)
			if (json_is_string(t) && len < sizeof addr)
				len += (size_t)snprintf(addr + len, sizeof addr - len, "%s%s",
				                        len ? ", " : "", json_string_value(t));
		for (int k = 0; k < 3; k++)
			if (parts[k] && len < sizeof addr)
				len += (size_t)snprintf(addr + len, sizeof addr - len, "%s%s",
				                        !len ? "" : k == 2 ? " " : ", ", parts[k]);
	}
	out = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}", "id", pub, "name",
	                full[0] ? full : NULL, "birth_date", pp_fhir_str(p, "birthDate"), "gender",
	                pp_fhir_str(p, "gender"), "mrn", mrn, "address", addr[0] ? addr : NULL,
	                "phone", phone);
	pp_wipe(full, sizeof full);
	pp_wipe(addr, sizeof addr);
	return out;
}

/* latest item per code from a newest-first list */
static json_t *latest_per_code(const list *l)
{
	json_t *out = json_array(), *seen = json_object();
	int ok = out && seen;

	for (size_t i = 0; ok && i < l->n; i++) {
		const char *code = pp_fhir_str(l->v[i].obj, "code");
		if (!code || json_object_get(seen, code))
			continue;
		ok = !json_object_set_new(seen, code, json_true()) &&
		     !json_array_append(out, l->v[i].obj);
	}
	json_decref(seen);
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* per lab code, numeric points oldest first; range, unit and text from the latest result */
static json_t *lab_trends(const list *l, const json_t *latest)
{
	json_t *out = json_array(), *byc = json_object(), *item, *tr;
	size_t i;
	int ok = out && byc;

	for (size_t k = l->n; ok && k-- > 0;) {
		const json_t *o = l->v[k].obj;
		const char *code = pp_fhir_str(o, "code");
		json_t *v = json_object_get(o, "value");
		if (!code || !json_is_number(v))
			continue;
		tr = json_object_get(byc, code);
		if (!tr) {
			tr = json_array();
			ok = tr && !json_object_set_new(byc, code, tr);
			if (!ok)
				break;
		}
		ok = !json_array_append_new(tr, json_pack("{s:O?,s:O}", "date",
		                                          json_object_get(o, "date"), "value", v));
	}
	json_array_foreach(latest, i, item) {
		const char *code = pp_fhir_str(item, "code");
		if (!ok)
			break;
		if (!code || !(tr = json_object_get(byc, code)))
			continue;
		ok = !json_array_append_new(out, json_pack("{s:s,s:O?,s:O?,s:O?,s:O?,s:O}", "code",
		                                           code, "text", json_object_get(item, "text"),
		                                           "unit", json_object_get(item, "unit"),
		                                           "ref_low", json_object_get(item, "ref_low"),
		                                           "ref_high", json_object_get(item, "ref_high"),
		                                           "points", tr));
	}
	json_decref(byc);
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

int pp_fhir_summary(struct pp_store *st, struct pp_crypto *c, int64_t patient_id, json_t **out)
{
	static const char *const types[] = {"Condition", "MedicationRequest", "AllergyIntolerance",
	                                    "Immunization", "Observation", "Encounter"};
	summary_ctx x = {0};
	pp_store_resource row = {0};
	json_t *patient = NULL, *res = NULL, *latest_labs = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!st || !c || !out || patient_id <= 0)
		return PP_EINVAL;
	if ((rc = pp_store_resource_get(st, patient_id, &row)))
		goto out;
	if (strcmp(row.type, "Patient") != 0) {
		rc = PP_ENOTFOUND;
		goto out;
	}
	if ((rc = pp_fhir_resource_load(c, &row, &patient)))
		goto out;
	x.c = c;
	/* only the types the summary shows are decrypted (not DocumentReference, Procedure, ...) */
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		rc = pp_store_resource_each_for_patient(st, patient_id, types[i], each_cb, &x);
		if (!rc)
			rc = x.rc;
		if (rc)
			goto out;
	}
	list_sort(&x.problems);
	list_sort(&x.meds);
	list_sort(&x.allergies);
	list_sort(&x.imms);
	list_sort(&x.labs);
	list_sort(&x.vitals);
	list_sort(&x.encs);
	latest_labs = latest_per_code(&x.labs);
	res = json_pack("{s:o,s:o,s:o,s:o,s:o,s:O,s:o,s:o,s:o}",
	                "patient", patient_obj(row.pub_id, patient),
	                "problems", list_array(&x.problems), "medications", list_array(&x.meds),
	                "allergies", list_array(&x.allergies), "immunizations", list_array(&x.imms),
	                "labs", latest_labs, "vitals", latest_per_code(&x.vitals),
	                "lab_trends", lab_trends(&x.labs, latest_labs),
	                "encounters", list_array(&x.encs));
	if (!res) {
		rc = PP_ENOMEM;
		goto out;
	}
	*out = res;
	rc = PP_OK;
out:
	json_decref(latest_labs);
	json_decref(patient);
	pp_store_resource_clear(&row);
	list_free(&x.problems);
	list_free(&x.meds);
	list_free(&x.allergies);
	list_free(&x.imms);
	list_free(&x.labs);
	list_free(&x.vitals);
	list_free(&x.encs);
	return rc;
}
