/* fhir: deterministic demo Observations — quarterly LOINC-coded labs and vital signs over five
 * years for one patient, with UCUM units, reference ranges, interpretation flags and gentle trends.
 *
 * Determinism: values come from a splitmix64 generator seeded by (seed, patient row id), never from
 * rand(); the twenty visits are the twenty whole quarters before the current one, so running the
 * generator again within a quarter stores nothing new (same logical ids, same digests), and running
 * it in a later quarter updates the same twenty-visit window in place.
 */
#include "fhir/fhir_internal.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define QUARTERS 20
#define LOINC "http://loinc.org"
#define UCUM "http://unitsofmeasure.org"
#define OBS_CAT "http://terminology.hl7.org/CodeSystem/observation-category"
#define INTERP "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

typedef struct analyte {
	const char *code, *display, *text, *ucum;
	double base, sd, trend;   /* value at the first visit, visit-to-visit noise, change per year */
	double lo, hi;            /* reference range; NAN when open */
	int decimals;
} analyte;

static const analyte lab_tests[] = {
	{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "Hemoglobin A1c", "%",
	 5.7, 0.15, 0.08, 4.0, 5.6, 1},
	{"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "Glucose", "mg/dL",
	 100, 7, 1.5, 70, 99, 0},
	{"18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
	 "LDL cholesterol", "mg/dL", 135, 9, -3.5, NAN, 100, 0},
	{"2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "HDL cholesterol",
	 "mg/dL", 46, 3, 0.4, 40, NAN, 0},
	{"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "Total cholesterol", "mg/dL",
	 205, 10, -3, NAN, 200, 0},
	{"2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "Triglycerides", "mg/dL",
	 155, 18, -2, NAN, 150, 0},
	{"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "Creatinine", "mg/dL",
	 0.95, 0.07, 0.025, 0.6, 1.3, 2},
	{"33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or "
	 "Plasma by Creatinine-based formula (MDRD)", "eGFR", "mL/min/{1.73_m2}",
	 84, 4, -1.5, 60, NAN, 0},
	{"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "Potassium", "mmol/L",
	 4.3, 0.25, 0, 3.5, 5.1, 1},
	{"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "Sodium", "mmol/L",
	 140, 1.8, 0, 136, 145, 0},
	{"718-7", "Hemoglobin [Mass/volume] in Blood", "Hemoglobin", "g/dL",
	 14.2, 0.45, -0.05, 12.0, 17.5, 1},
	{"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "White blood cells",
	 "10*3/uL", 6.8, 0.9, 0, 4.5, 11.0, 1},
	{"3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH", "m[IU]/L",
	 2.1, 0.45, 0.06, 0.4, 4.0, 2},
};

enum { V_WEIGHT, V_HEIGHT, V_BMI, V_SYS, V_DIA, V_HR, V_TEMP, V_COUNT };
static const analyte vital_signs[V_COUNT] = {
	[V_WEIGHT] = {"29463-7", "Body weight", "Body weight", "kg", 82, 1.0, 0.7, NAN, NAN, 1},
	[V_HEIGHT] = {"8302-2", "Body height", "Body height", "cm", 172, 0.3, 0, NAN, NAN, 1},
	[V_BMI] = {"39156-5", "Body mass index (BMI) [Ratio]", "BMI", "kg/m2",
		   0, 0, 0, 18.5, 25, 1},
	[V_SYS] = {"8480-6", "Systolic blood pressure", "Systolic blood pressure", "mm[Hg]",
		   126, 6, 0.9, NAN, 130, 0},
	[V_DIA] = {"8462-4", "Diastolic blood pressure", "Diastolic blood pressure", "mm[Hg]",
		   79, 4, 0.4, NAN, 80, 0},
	[V_HR] = {"8867-4", "Heart rate", "Heart rate", "/min", 72, 5, 0, 60, 100, 0},
	[V_TEMP] = {"8310-5", "Body temperature", "Body temperature", "Cel",
		    36.8, 0.18, 0, 36.1, 37.2, 1},
};

typedef struct prng { uint64_t s; } prng;

static uint64_t next_u64(prng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double next_unit(prng *g)   /* (0, 1) */
{
	return ((double)(next_u64(g) >> 11) + 0.5) / 9007199254740992.0;
}

static double next_gauss(prng *g)
{
	double u = next_unit(g), v = next_unit(g);

	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double round_to(double v, int decimals)
{
	double f = pow(10, decimals);

	return round(v * f) / f;
}

static json_t *quantity(double v, const analyte *a)
{
	return json_pack("{s:o,s:s,s:s,s:s}", "value",
	                 a->decimals ? json_real(v) : json_integer((json_int_t)v),
	                 "unit", a->ucum, "system", UCUM, "code", a->ucum);
}

static json_t *codeable(const analyte *a)
{
	return json_pack("{s:[{s:s,s:s,s:s}],s:s}", "coding", "system", LOINC, "code", a->code,
	                 "display", a->display, "text", a->text);
}

static json_t *category(int lab)
{
	return json_pack("[{s:[{s:s,s:s,s:s}]}]", "coding", "system", OBS_CAT, "code",
	                 lab ? "laboratory" : "vital-signs", "display",
	                 lab ? "Laboratory" : "Vital Signs");
}

static json_t *ref_range(const analyte *a)
{
	json_t *r = json_object();

	if (!isnan(a->lo))
		json_object_set_new(r, "low", quantity(a->lo, a));
	if (!isnan(a->hi))
		json_object_set_new(r, "high", quantity(a->hi, a));
	return json_pack("[o]", r);
}

static json_t *interpretation(double v, const analyte *a)
{
	const char *code = "N", *display = "Normal";

	if (!isnan(a->lo) && v < a->lo) {
		code = "L";
		display = "Low";
	} else if (!isnan(a->hi) && v > a->hi) {
		code = "H";
		display = "High";
	}
	return json_pack("[{s:[{s:s,s:s,s:s}],s:s}]", "coding", "system", INTERP, "code", code,
	                 "display", display, "text", display);
}

/* the fields every generated Observation shares */
static json_t *observation(const char *id, int lab, const analyte *a, const char *subject,
                           const char *when)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:{s:s},s:s,s:s}", "resourceType", "Observation",
	                 "id", id, "status", "final", "category", category(lab), "code",
	                 codeable(a), "subject", "reference", subject, "effectiveDateTime", when,
	                 "issued", when);
}

static void add_value(json_t *obs, double v, const analyte *a)
{
	json_object_set_new(obs, "valueQuantity", quantity(v, a));
	if (!isnan(a->lo) || !isnan(a->hi)) {
		json_object_set_new(obs, "interpretation", interpretation(v, a));
		json_object_set_new(obs, "referenceRange", ref_range(a));
	}
}

typedef struct gen {
	struct pp_store *st;
	struct pp_crypto *c;
	int64_t patient_id;
	const char *subject;
	long generated;
} gen;

static int put(gen *g, json_t *obs)
{
	int rc, outcome = 0;

	if (!obs)
		return PP_ENOMEM;
	rc = pp_fhir_store_resource(g->st, g->c, obs, &outcome);
	json_decref(obs);
	if (rc)
		return rc;
	g->generated++;
	return PP_OK;
}

static int make_id(char *out, size_t cap, int64_t patient_id, const char *code, int q)
{
	int n = snprintf(out, cap, "demo-%016llx-%s-%d", (unsigned long long)patient_id, code, q);

	return n > 0 && (size_t)n < cap ? PP_OK : PP_EINVAL;
}

static int visit(gen *g, prng *r, int q, const struct tm *day, const double *lab_offset,
                 const double *vital_offset)
{
	char when[32], id[80];
	double years = q / 4.0, v[V_COUNT];
	json_t *obs;
	int rc;

	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:00Z", day->tm_year + 1900,
	         day->tm_mon + 1, day->tm_mday, day->tm_hour, day->tm_min);
	for (size_t i = 0; i < sizeof lab_tests / sizeof lab_tests[0]; i++) {
		const analyte *a = &lab_tests[i];
		double x = a->base + lab_offset[i] + a->trend * years + a->sd * next_gauss(r);

		x = round_to(x > 0 ? x : a->sd, a->decimals);
		if ((rc = make_id(id, sizeof id, g->patient_id, a->code, q)))
			return rc;
		obs = observation(id, 1, a, g->subject, when);
		if (!obs)
			return PP_ENOMEM;
		add_value(obs, x, a);
		if ((rc = put(g, obs)))
			return rc;
	}
	for (int i = 0; i < V_COUNT; i++) {
		const analyte *a = &vital_signs[i];
		v[i] = round_to(a->base + vital_offset[i] + a->trend * years + a->sd * next_gauss(r),
		                a->decimals);
	}
	v[V_BMI] = round_to(v[V_WEIGHT] / ((v[V_HEIGHT] / 100) * (v[V_HEIGHT] / 100)), 1);
	for (int i = 0; i < V_COUNT; i++) {
		if (i == V_SYS || i == V_DIA)
			continue;
		if ((rc = make_id(id, sizeof id, g->patient_id, vital_signs[i].code, q)))
			return rc;
		obs = observation(id, 0, &vital_signs[i], g->subject, when);
		if (!obs)
			return PP_ENOMEM;
		add_value(obs, v[i], &vital_signs[i]);
		if ((rc = put(g, obs)))
			return rc;
	}
	/* blood pressure: the vital-signs profile's panel with systolic and diastolic components */
	{
		static const analyte panel = {"85354-9", "Blood pressure panel with all children optional",
		                              "Blood pressure", "mm[Hg]", 0, 0, 0, NAN, NAN, 0};
		json_t *comps = json_array(), *c;

		if ((rc = make_id(id, sizeof id, g->patient_id, panel.code, q)))
			return rc;
		obs = observation(id, 0, &panel, g->subject, when);
		if (!obs || !comps) {
			json_decref(obs);
			json_decref(comps);
			return PP_ENOMEM;
		}
		for (int i = V_SYS; i <= V_DIA; i++) {
			c = json_pack("{s:o}", "code", codeable(&vital_signs[i]));
			if (c)
				add_value(c, v[i], &vital_signs[i]);
			json_array_append_new(comps, c);
		}
		json_object_set_new(obs, "component", comps);
		if ((rc = put(g, obs)))
			return rc;
	}
	return PP_OK;
}

int pp_fhir_demo_observations(struct pp_store *st, struct pp_crypto *c, int64_t patient_id,
                              uint32_t seed, long *generated)
{
	pp_store_resource row = {0};
	json_t *patient = NULL;
	char subject[96] = "";
	double lab_offset[sizeof lab_tests / sizeof lab_tests[0]], vital_offset[V_COUNT];
	prng r = { ((uint64_t)seed << 32) ^ (uint64_t)patient_id ^ 0x5deece66dULL };
	gen g = {0};
	struct tm now_tm;
	time_t now;
	int rc, in_tx = 0, year, month0;

	if (generated)
		*generated = 0;
	if (!st || !c || patient_id <= 0)
		return PP_EINVAL;
	if ((rc = pp_store_resource_get(st, patient_id, &row)))
		goto out;
	if (strcmp(row.type, "Patient") != 0) {
		rc = PP_ENOTFOUND;
		goto out;
	}
	if ((rc = pp_fhir_resource_load(c, &row, &patient)))
		goto out;
	if (!pp_fhir_valid_id(pp_fhir_str(patient, "id"))) {
		rc = PP_EINVAL;
		goto out;
	}
	snprintf(subject, sizeof subject, "Patient/%s", pp_fhir_str(patient, "id"));
	g.st = st;
	g.c = c;
	g.patient_id = patient_id;
	g.subject = subject;

	/* this patient's own level for each analyte, kept for all visits */
	for (size_t i = 0; i < sizeof lab_tests / sizeof lab_tests[0]; i++)
		lab_offset[i] = lab_tests[i].sd * next_gauss(&r);
	for (int i = 0; i < V_COUNT; i++)
		vital_offset[i] = 2 * vital_signs[i].sd * next_gauss(&r);

	now = (time_t)pp_clock_now_s();
	if (!gmtime_r(&now, &now_tm)) {
		rc = PP_EIO;
		goto out;
	}
	year = now_tm.tm_year;
	month0 = now_tm.tm_mon / 3 * 3 - 3 * QUARTERS;   /* first month of the oldest quarter */
	while (month0 < 0) {
		month0 += 12;
		year--;
	}
	if ((rc = pp_store_begin(st)))
		goto out;
	in_tx = 1;
	for (int q = 0; q < QUARTERS; q++) {
		struct tm day = {0};
		int m = month0 + 3 * q;

		day.tm_year = year + m / 12;
		day.tm_mon = m % 12 + (int)(next_u64(&r) % 3);
		day.tm_mday = 1 + (int)(next_u64(&r) % 28);
		day.tm_hour = 7 + (int)(next_u64(&r) % 10);
		day.tm_min = (int)(next_u64(&r) % 4) * 15;
		if ((rc = visit(&g, &r, q, &day, lab_offset, vital_offset)))
			goto out;
	}
	rc = pp_store_commit(st);
	in_tx = rc != PP_OK;
out:
	if (in_tx)
		pp_store_rollback(st);
	if (!rc && generated)
		*generated = g.generated;
	if (rc)
		pp_log_error("fhir: demo observations failed (%s)", pp_strerror(rc));
	pp_wipe(subject, sizeof subject);
	json_decref(patient);
	pp_store_resource_clear(&row);
	return rc;
}
