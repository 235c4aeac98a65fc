/* Unit tests for fhir/ (and store/sqlite_resource.c): fixture import with exact counts,
 * idempotent re-import, malformed input reported by line, versioning, no PHI in the database files,
 * the health summary and the demo observations. Run from the repository root; the fixture directory
 * is $PP_FIXTURES or demo/synthea-10 (the same export, shipped in the repo). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "fhir/fhir.h"
#include "fhir/fhir_internal.h"
#include "store/store.h"
#include "store/store_epoch.h"
#include "store/store_consent.h"
#include "fhir/api_internal.h"

static const char *const fixture_types[] = {
	"Patient", "Condition", "AllergyIntolerance", "Immunization", "MedicationRequest",
	"Encounter", "Procedure", "DocumentReference", "Device", "Organization", "Practitioner",
	"PractitionerRole", "Location",
};
static const long fixture_counts[] = {13, 555, 11, 161, 1745, 1215, 2056, 1215, 16, 43, 43, 43,
                                      44};
#define NTYPES (sizeof fixture_types / sizeof fixture_types[0])

static char dir[256], db_path[300], key_path[300], fixtures[512];
static pp_store *st;
static pp_crypto *cr;
static pp_fhir_import_stats first_stats;
static double import_seconds;
static long import_total;

/* ---- helpers ---- */

static long stat_of(const pp_fhir_import_stats *s, const long *arr, const char *type)
{
	for (int i = 0; i < s->ntypes; i++)
		if (!strcmp(s->types[i], type))
			return arr[i];
	return 0;
}

static void fixture_file(char *out, size_t cap, const char *type)
{
	snprintf(out, cap, "%s/%s.000.ndjson", fixtures, type);
}

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	size_t n = 0;

	if (pp_file_read(path, (size_t)1 << 30, &data, &n))
		return NULL;
	if (len)
		*len = n;
	return data;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct err_log {
	long lines[32];
	const char *reasons[32];
	int n;
} err_log;

static void collect_error(void *ctx, const char *file, long line, const char *reason)
{
	err_log *l = ctx;

	(void)file;
	if (l->n < 32) {
		l->lines[l->n] = line;
		l->reasons[l->n] = reason;
		l->n++;
	}
}

/* the first fixture line of a type as a string (caller frees) */
static char *first_line(const char *type, int skip)
{
	char path[600], *data, *p, *nl, *out;
	size_t len;

	fixture_file(path, sizeof path, type);
	data = slurp(path, &len);
	assert_non_null(data);
	p = data;
	while (skip-- > 0)
		p = strchr(p, '\n') + 1;
	nl = strchr(p, '\n');
	out = strndup(p, nl ? (size_t)(nl - p) : strlen(p));
	free(data);
	return out;
}

static json_t *fixture_patients(void)
{
	char path[600], *data, *p;
	size_t len;
	json_t *arr = json_array();

	fixture_file(path, sizeof path, "Patient");
	data = slurp(path, &len);
	assert_non_null(data);
	p = data;
	while (p && *p) {
		char *nl = strchr(p, '\n');
		json_t *v = json_loadb(p, nl ? (size_t)(nl - p) : strlen(p), 0, NULL);
		if (v)
			json_array_append_new(arr, v);
		p = nl ? nl + 1 : NULL;
	}
	free(data);
	return arr;
}

static int64_t patient_row(const char *logical_id)
{
	char lid[128];
	uint8_t bidx[32];
	pp_store_resource r = {0};
	int64_t id;

	snprintf(lid, sizeof lid, "Patient/%s", logical_id);
	assert_int_equal(pp_crypto_blind_index(cr, "fhir-lid", lid, bidx), 0);
	assert_int_equal(pp_store_resource_find_lid(st, "Patient", bidx, &r), 0);
	id = r.id;
	pp_store_resource_clear(&r);
	return id;
}

/* ---- group setup: a fresh store, the fixture imported Patient-last on the command line ---- */

static int group_setup(void **state)
{
	const char *env = getenv("PP_FIXTURES");
	const char *paths[NTYPES];
	char bufs[NTYPES][600];
	double t0;
	int rc;

	(void)state;
	snprintf(fixtures, sizeof fixtures, "%s", env && *env ? env : "demo/synthea-10");
	snprintf(dir, sizeof dir, "/tmp/pp_test_fhir_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db_path, sizeof db_path, "%s/main.db", dir);
	snprintf(key_path, sizeof key_path, "%s/master.key", dir);
	if (pp_crypto_keyfile_create(key_path) || pp_store_open(&st, db_path) ||
	    pp_crypto_open(&cr, key_path, st))
		return -1;
	/* reversed: Patient comes last, so reference resolution must not depend on the order */
	for (size_t i = 0; i < NTYPES; i++) {
		fixture_file(bufs[i], sizeof bufs[i], fixture_types[NTYPES - 1 - i]);
		paths[i] = bufs[i];
	}
	t0 = now_s();
	rc = pp_fhir_import_files(st, cr, paths, (int)NTYPES, NULL, &first_stats);
	import_seconds = now_s() - t0;
	for (int i = 0; i < first_stats.ntypes; i++)
		import_total += first_stats.counts[i];
	fprintf(stderr, "fixture import: %ld resources in %.3f s (rc %d)\n", import_total,
	        import_seconds, rc);
	return rc ? -1 : 0;
}

static int group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	pp_crypto_free(cr);
	pp_store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static int check_patient_link(void *ctx, const pp_store_resource *r)
{
	long *bad = ctx;
	pp_store_resource p = {0};

	if (r->patient_id <= 0 || pp_store_resource_get(st, r->patient_id, &p) ||
	    strcmp(p.type, "Patient") != 0)
		(*bad)++;
	pp_store_resource_clear(&p);
	return 0;
}

static int check_no_patient(void *ctx, const pp_store_resource *r)
{
	long *bad = ctx;

	if (r->patient_id != 0)
		(*bad)++;
	return 0;
}

static int check_self(void *ctx, const pp_store_resource *r)
{
	long *bad = ctx;

	if (r->patient_id != r->id || strlen(r->pub_id) != 32 || r->version != 1)
		(*bad)++;
	return 0;
}

static void test_fixture_import_counts(void **state)
{
	(void)state;
	assert_int_equal(first_stats.errors, 0);
	assert_int_equal(first_stats.ntypes, (int)NTYPES);
	for (size_t i = 0; i < NTYPES; i++) {
		int64_t n = -1;
		assert_int_equal(stat_of(&first_stats, first_stats.counts, fixture_types[i]),
		                 fixture_counts[i]);
		assert_int_equal(stat_of(&first_stats, first_stats.unchanged, fixture_types[i]), 0);
		assert_int_equal(pp_store_resource_count(st, fixture_types[i], &n), 0);
		assert_int_equal(n, fixture_counts[i]);
	}
	/* "a few seconds" on this 2-core machine */
	assert_true(import_seconds < 20.0);
}

static void test_fixture_references_resolve(void **state)
{
	static const char *const linked[] = {"Condition", "AllergyIntolerance", "Immunization",
	                                     "MedicationRequest", "Encounter", "Procedure",
	                                     "DocumentReference", "Device"};
	static const char *const shared[] = {"Organization", "Practitioner", "PractitionerRole",
	                                     "Location"};
	long bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof linked / sizeof linked[0]; i++)
		assert_int_equal(pp_store_resource_each_of_type(st, linked[i], check_patient_link, &bad),
		                 0);
	assert_int_equal(bad, 0);
	for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
		assert_int_equal(pp_store_resource_each_of_type(st, shared[i], check_no_patient, &bad),
		                 0);
	assert_int_equal(bad, 0);
	assert_int_equal(pp_store_resource_each_of_type(st, "Patient", check_self, &bad), 0);
	assert_int_equal(bad, 0);
}

static void test_reimport_is_idempotent(void **state)
{
	const char *paths[NTYPES];
	char bufs[NTYPES][600];
	pp_fhir_import_stats s = {0};
	int64_t total = 0;

	(void)state;
	for (size_t i = 0; i < NTYPES; i++) {
		fixture_file(bufs[i], sizeof bufs[i], fixture_types[i]);
		paths[i] = bufs[i];
	}
	assert_int_equal(pp_fhir_import_files(st, cr, paths, (int)NTYPES, NULL, &s), 0);
	assert_int_equal(s.errors, 0);
	for (size_t i = 0; i < NTYPES; i++) {
		assert_int_equal(stat_of(&s, s.counts, fixture_types[i]), 0);
		assert_int_equal(stat_of(&s, s.unchanged, fixture_types[i]), fixture_counts[i]);
	}
	assert_int_equal(pp_store_resource_count(st, NULL, &total), 0);
	assert_true(total >= import_total);
}

static void test_malformed_lines(void **state)
{
	char path[400], *cond = first_line("Condition", 0), *big, *deep, *good2;
	pp_buf b;
	err_log log = {0};
	pp_fhir_import_opts opt = {.max_line_bytes = 4096, .max_json_depth = 16,
	                           .on_error = collect_error, .ctx = &log};
	pp_fhir_import_stats s = {0};
	json_t *v;
	static const char *const want[] = {"json_invalid", "json_too_deep", "missing_id",
	                                   "unknown_resource_type", "line_too_long", "not_object",
	                                   "invalid_id", "missing_resource_type", "json_invalid"};
	static const long want_lines[] = {2, 3, 4, 5, 6, 8, 9, 10, 12};

	(void)state;
	/* a new, valid Condition derived from a fixture one (new id, same patient) */
	v = json_loads(cond, 0, NULL);
	assert_non_null(v);
	json_object_set_new(v, "id", json_string("malformed-test-good-1"));
	free(cond);
	cond = json_dumps(v, JSON_COMPACT);
	json_object_set_new(v, "id", json_string("malformed-test-good-2"));
	good2 = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	deep = calloc(1, 200);
	for (int i = 0; i < 40; i++)
		deep[i] = '[';
	for (int i = 0; i < 40; i++)
		deep[40 + i] = ']';
	big = calloc(1, 6000);
	memset(big, 'x', 5000);
	{
		char *tmp = calloc(1, 6000);
		snprintf(tmp, 6000, "{\"resourceType\":\"Condition\",\"id\":\"big\","
		         "\"note\":[{\"text\":\"%s\"}]}", big);
		free(big);
		big = tmp;
	}
	assert_true(strlen(big) > 5000);

	snprintf(path, sizeof path, "%s/malformed.ndjson", dir);
	pp_buf_init(&b, 1 << 20);
	pp_buf_appendf(&b, "%s\n", cond);                                        /* 1 ok */
	pp_buf_appends(&b, "{\"resourceType\":\"Condition\",\"id\":\n");         /* 2 */
	pp_buf_appendf(&b, "{\"resourceType\":\"Condition\",\"id\":\"d\",\"x\":%s}\n", deep); /* 3 */
	pp_buf_appends(&b, "{\"resourceType\":\"Condition\"}\n");                /* 4 */
	pp_buf_appends(&b, "{\"resourceType\":\"Spaceship\",\"id\":\"x\"}\n");   /* 5 */
	pp_buf_appendf(&b, "%s\n", big);                                         /* 6 */
	pp_buf_appends(&b, "   \r\n");                                           /* 7 blank */
	pp_buf_appends(&b, "[1,2,3]\n");                                         /* 8 */
	pp_buf_appends(&b, "{\"resourceType\":\"Condition\",\"id\":\"no spaces!\"}\n"); /* 9 */
	pp_buf_appends(&b, "{\"id\":\"x\"}\n");                                  /* 10 */
	pp_buf_appendf(&b, "%s\r\n", good2);                                     /* 11 ok, CRLF */
	pp_buf_appends(&b, "{\"resourceType\":\"Condition\",\"id\":\"a\",\"id\":\"b\"}"); /* 12 dup, no final newline */
	write_text(path, pp_buf_cstr(&b));
	pp_buf_free(&b);

	assert_int_equal(pp_fhir_import_file(st, cr, path, &opt, &s), 0);
	assert_int_equal(log.n, (int)(sizeof want / sizeof want[0]));
	for (int i = 0; i < log.n; i++) {
		assert_int_equal(log.lines[i], want_lines[i]);
		assert_string_equal(log.reasons[i], want[i]);
	}
	assert_int_equal(s.errors, log.n);
	assert_int_equal(stat_of(&s, s.counts, "Condition"), 2);
	free(cond);
	free(good2);
	free(deep);
	free(big);
}

static void test_bundle_file(void **state)
{
	char path[400];
	const char *text =
		"{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
		"{\"fullUrl\":\"urn:uuid:c1\",\"resource\":{\"resourceType\":\"Condition\","
		"\"id\":\"bundle-cond-1\",\"subject\":{\"reference\":\"urn:uuid:bundle-pat-1\"},"
		"\"code\":{\"text\":\"Test condition\"},\"onsetDateTime\":\"2020-01-01\"}},"
		"{\"fullUrl\":\"urn:uuid:x\"},"
		"{\"resource\":{\"resourceType\":\"Spaceship\",\"id\":\"s\"}},"
		"{\"fullUrl\":\"urn:uuid:bundle-pat-1\",\"resource\":{\"resourceType\":\"Patient\","
		"\"id\":\"bundle-pat-1\",\"name\":[{\"family\":\"Bundleton\",\"given\":[\"Ann\"]}],"
		"\"birthDate\":\"1970-02-03\"}}]}";
	err_log log = {0};
	pp_fhir_import_opts opt = {.on_error = collect_error, .ctx = &log};
	pp_fhir_import_stats s = {0};
	json_t *sum = NULL;
	int64_t pid;

	(void)state;
	snprintf(path, sizeof path, "%s/bundle.json", dir);
	write_text(path, text);
	assert_int_equal(pp_fhir_import_file(st, cr, path, &opt, &s), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.lines[0], 2);
	assert_string_equal(log.reasons[0], "entry_without_resource");
	assert_int_equal(log.lines[1], 3);
	assert_string_equal(log.reasons[1], "unknown_resource_type");
	assert_int_equal(stat_of(&s, s.counts, "Patient"), 1);
	assert_int_equal(stat_of(&s, s.counts, "Condition"), 1);
	/* the Condition came before its Patient in the Bundle and still resolved (urn:uuid) */
	pid = patient_row("bundle-pat-1");
	assert_int_equal(pp_fhir_summary(st, cr, pid, &sum), 0);
	assert_int_equal(json_array_size(json_object_get(sum, "problems")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(sum, "patient"),
	                                                      "name")), "Ann Bundleton");
	assert_true(json_is_null(json_object_get(json_object_get(sum, "patient"), "mrn")));
	json_decref(sum);

	/* a pretty-printed single resource in a .json file; an empty .json file is reported */
	memset(&log, 0, sizeof log);
	memset(&s, 0, sizeof s);
	write_text(path, "{\n  \"resourceType\": \"Immunization\",\n  \"id\": \"json-imm-1\",\n"
	           "  \"patient\": {\"reference\": \"Patient/bundle-pat-1\"},\n"
	           "  \"vaccineCode\": {\"text\": \"Test vaccine\"},\n"
	           "  \"occurrenceDateTime\": \"2021-05-06\", \"status\": \"completed\"\n}\n");
	assert_int_equal(pp_fhir_import_file(st, cr, path, &opt, &s), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(stat_of(&s, s.counts, "Immunization"), 1);
	assert_int_equal(pp_fhir_summary(st, cr, pid, &sum), 0);
	assert_int_equal(json_array_size(json_object_get(sum, "immunizations")), 1);
	json_decref(sum);
	write_text(path, "");
	assert_int_equal(pp_fhir_import_file(st, cr, path, &opt, &s), 0);
	assert_int_equal(log.n, 1);
	assert_string_equal(log.reasons[0], "empty");
}

static void test_changed_resource_bumps_version(void **state)
{
	char path[400], *line = first_line("Condition", 3), *changed, lid[128];
	json_t *v, *loaded = NULL;
	pp_fhir_import_stats s = {0}, s2 = {0};
	pp_store_resource before = {0}, after = {0};
	uint8_t bidx[32];

	(void)state;
	v = json_loads(line, 0, NULL);
	assert_non_null(v);
	snprintf(lid, sizeof lid, "Condition/%s", json_string_value(json_object_get(v, "id")));
	assert_int_equal(pp_crypto_blind_index(cr, "fhir-lid", lid, bidx), 0);
	assert_int_equal(pp_store_resource_find_lid(st, "Condition", bidx, &before), 0);
	assert_int_equal(before.version, 1);
	json_object_set_new(v, "abatementDateTime", json_string("2025-06-01T00:00:00Z"));
	changed = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	snprintf(path, sizeof path, "%s/changed.ndjson", dir);
	write_text(path, changed);

	assert_int_equal(pp_fhir_import_file(st, cr, path, NULL, &s), 0);
	assert_int_equal(stat_of(&s, s.counts, "Condition"), 1);
	assert_int_equal(pp_store_resource_find_lid(st, "Condition", bidx, &after), 0);
	assert_int_equal(after.version, 2);
	assert_true(after.id == before.id);
	assert_string_equal(after.pub_id, before.pub_id);
	assert_true(after.patient_id == before.patient_id);
	assert_memory_not_equal(after.digest, before.digest, 32);
	assert_int_equal(pp_fhir_resource_load(cr, &after, &loaded), 0);
	assert_string_equal(json_string_value(json_object_get(loaded, "abatementDateTime")),
	                    "2025-06-01T00:00:00Z");
	json_decref(loaded);
	/* the same change again is unchanged */
	assert_int_equal(pp_fhir_import_file(st, cr, path, NULL, &s2), 0);
	assert_int_equal(stat_of(&s2, s2.unchanged, "Condition"), 1);
	assert_int_equal(stat_of(&s2, s2.counts, "Condition"), 0);
	pp_store_resource_clear(&after);
	assert_int_equal(pp_store_resource_find_lid(st, "Condition", bidx, &after), 0);
	assert_int_equal(after.version, 2);
	pp_store_resource_clear(&before);
	pp_store_resource_clear(&after);
	free(line);
	free(changed);
}

static void add_needle(json_t *needles, const char *s)
{
	if (s && strlen(s) >= 4)
		json_array_append_new(needles, json_string(s));
}

static long count_hits(const char *hay, size_t n, json_t *needles, int quiet)
{
	size_t i;
	json_t *x;
	long hits = 0;

	json_array_foreach(needles, i, x) {
		const char *s = json_string_value(x);
		if (memmem(hay, n, s, strlen(s))) {
			if (!quiet)
				fprintf(stderr, "PHI found in the database files (needle #%zu)\n", i);
			hits++;
		}
	}
	return hits;
}

static void test_no_phi_in_database_files(void **state)
{
	json_t *patients = fixture_patients(), *p, *needles = json_array(), *x, *y;
	char wal[320];
	size_t i, j, k, dblen = 0, wallen = 0;
	char *db, *walb;
	json_t *control = json_array();

	(void)state;
	assert_int_equal(json_array_size(patients), 13);
	json_array_foreach(patients, i, p) {
		add_needle(needles, json_string_value(json_object_get(p, "birthDate")));
		json_array_foreach(json_object_get(p, "name"), j, x)
			add_needle(needles, json_string_value(json_object_get(x, "family")));
		json_array_foreach(json_object_get(p, "identifier"), j, x)
			add_needle(needles, json_string_value(json_object_get(x, "value")));
		json_array_foreach(json_object_get(p, "address"), j, x)
			json_array_foreach(json_object_get(x, "line"), k, y)
				add_needle(needles, json_string_value(y));
	}
	assert_true(json_array_size(needles) > 13 * 5);
	snprintf(wal, sizeof wal, "%s-wal", db_path);
	db = slurp(db_path, &dblen);
	walb = slurp(wal, &wallen);
	assert_non_null(db);
	assert_true(dblen + wallen > 1000000);
	/* the scan can fail: a value that is stored in clear (a type name) is found */
	add_needle(control, "DocumentReference");
	assert_true(count_hits(db, dblen, control, 1) +
	            (walb ? count_hits(walb, wallen, control, 1) : 0) > 0);
	assert_int_equal(count_hits(db, dblen, needles, 0), 0);
	if (walb)
		assert_int_equal(count_hits(walb, wallen, needles, 0), 0);
	free(db);
	free(walb);
	json_decref(control);
	json_decref(needles);
	json_decref(patients);
}

static long count_refs(const char *type, const char *pid)
{
	char path[600], needle[128], *data, *p;
	size_t len;
	long n = 0;

	fixture_file(path, sizeof path, type);
	data = slurp(path, &len);
	assert_non_null(data);
	snprintf(needle, sizeof needle, "\"reference\":\"Patient/%s\"", pid);
	for (p = data; (p = strstr(p, needle)); p++) {
		n++;
		p = strchr(p, '\n');
		if (!p)
			break;
	}
	free(data);
	return n;
}

static void assert_newest_first(json_t *arr, const char *key)
{
	size_t i;
	json_t *x;
	const char *prev = NULL;

	json_array_foreach(arr, i, x) {
		const char *d = json_string_value(json_object_get(x, key));
		if (prev && d)
			assert_true(strcmp(prev, d) >= 0);
		if (d)
			prev = d;
		assert_int_equal(strlen(json_string_value(json_object_get(x, "id"))), 32);
	}
}

/* the fixture patient with the most conditions */
static const char *busiest_patient(json_t *patients)
{
	size_t i;
	json_t *p;
	const char *best = NULL;
	long most = -1;

	json_array_foreach(patients, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		long n = count_refs("Condition", id);
		if (n > most) {
			most = n;
			best = id;
		}
	}
	return best;
}

static void test_summary_for_fixture_patient(void **state)
{
	json_t *patients = fixture_patients(), *sum = NULL, *pat, *fp = NULL, *x;
	const char *pid = busiest_patient(patients);
	pp_store_resource row = {0};
	int64_t rowid;
	size_t i;

	(void)state;
	assert_non_null(pid);
	json_array_foreach(patients, i, x)
		if (!strcmp(json_string_value(json_object_get(x, "id")), pid))
			fp = x;
	rowid = patient_row(pid);
	assert_int_equal(pp_store_resource_get(st, rowid, &row), 0);
	assert_int_equal(pp_fhir_summary(st, cr, rowid, &sum), 0);
	pat = json_object_get(sum, "patient");
	assert_string_equal(json_string_value(json_object_get(pat, "id")), row.pub_id);
	assert_string_equal(json_string_value(json_object_get(pat, "mrn")), pid);
	assert_string_equal(json_string_value(json_object_get(pat, "birth_date")),
	                    json_string_value(json_object_get(fp, "birthDate")));
	assert_non_null(strstr(json_string_value(json_object_get(pat, "name")),
	                       json_string_value(json_object_get(json_array_get(
		                       json_object_get(fp, "name"), 0), "family"))));
	assert_non_null(json_string_value(json_object_get(pat, "address")));
	assert_int_equal(json_array_size(json_object_get(sum, "problems")),
	                 count_refs("Condition", pid));
	assert_true(json_array_size(json_object_get(sum, "problems")) > 0);
	assert_int_equal(json_array_size(json_object_get(sum, "medications")),
	                 count_refs("MedicationRequest", pid));
	assert_int_equal(json_array_size(json_object_get(sum, "allergies")),
	                 count_refs("AllergyIntolerance", pid));
	assert_int_equal(json_array_size(json_object_get(sum, "immunizations")),
	                 count_refs("Immunization", pid));
	assert_int_equal(json_array_size(json_object_get(sum, "encounters")),
	                 count_refs("Encounter", pid));
	assert_newest_first(json_object_get(sum, "problems"), "onset");
	assert_newest_first(json_object_get(sum, "medications"), "authored_on");
	assert_newest_first(json_object_get(sum, "immunizations"), "date");
	assert_newest_first(json_object_get(sum, "encounters"), "date");
	assert_int_equal(json_array_size(json_object_get(sum, "labs")), 0);
	assert_int_equal(json_array_size(json_object_get(sum, "lab_trends")), 0);
	/* shape: every key of docs/api.md is present, absent values are null */
	x = json_array_get(json_object_get(sum, "problems"), 0);
	assert_non_null(json_object_get(x, "code"));
	assert_non_null(json_object_get(x, "system"));
	assert_non_null(json_object_get(x, "clinical_status"));
	x = json_array_get(json_object_get(sum, "medications"), 0);
	if (x)
		assert_non_null(json_object_get(x, "dosage"));
	/* no logical id leaks into the summary */
	{
		char *text = json_dumps(sum, JSON_COMPACT);
		assert_null(strstr(text, "Patient/"));
		assert_int_equal(count_refs("Condition", pid) > 0, 1);
		free(text);
	}
	/* failure paths */
	assert_int_equal(pp_fhir_summary(st, cr, 12345, &x), PP_ENOTFOUND);
	{
		pp_store_resource any = {0};
		char *line = first_line("Condition", 0);
		json_t *c = json_loads(line, 0, NULL);
		char lid[128];
		uint8_t bidx[32];
		snprintf(lid, sizeof lid, "Condition/%s", json_string_value(json_object_get(c, "id")));
		assert_int_equal(pp_crypto_blind_index(cr, "fhir-lid", lid, bidx), 0);
		assert_int_equal(pp_store_resource_find_lid(st, "Condition", bidx, &any), 0);
		assert_int_equal(pp_fhir_summary(st, cr, any.id, &x), PP_ENOTFOUND);
		pp_store_resource_clear(&any);
		json_decref(c);
		free(line);
	}
	pp_store_resource_clear(&row);
	json_decref(sum);
	json_decref(patients);
}

static int count_version(void *ctx, const pp_store_resource *r)
{
	long *v = ctx;

	v[0]++;
	if (r->version == 1)
		v[1]++;
	return 0;
}

static int count_no_body(void *ctx, const pp_store_resource *r)
{
	long *v = ctx;

	v[0]++;
	if (!r->body && !r->body_len && r->pub_id[0] && r->last_updated_ms > 0)
		v[1]++;
	return 0;
}

static void test_demo_observations(void **state)
{
	json_t *patients = fixture_patients(), *sum = NULL, *labs, *vitals, *trends, *x, *pts;
	int64_t rowid = patient_row(busiest_patient(patients));
	long generated = 0, again = 0, counts[2] = {0, 0};
	int64_t nobs = 0;
	size_t i;
	int saw_sys = 0, saw_dia = 0, saw_weight = 0, flagged = 0;

	(void)state;
	assert_int_equal(pp_fhir_demo_observations(st, cr, rowid, 42, &generated), 0);
	assert_true(generated >= 300);
	assert_int_equal(pp_store_resource_count(st, "Observation", &nobs), 0);
	assert_int_equal(nobs, generated);
	/* deterministic: the same seed stores nothing new and changes nothing */
	assert_int_equal(pp_fhir_demo_observations(st, cr, rowid, 42, &again), 0);
	assert_int_equal(again, generated);
	assert_int_equal(pp_store_resource_each_for_patient(st, rowid, "Observation", count_version,
	                                                    counts), 0);
	assert_int_equal(counts[0], generated);
	assert_int_equal(counts[1], generated);
	{
		/* the body-less listings the API searches with: same rows, same order, no bodies */
		int64_t *ids = NULL;
		size_t n = 0;
		long meta[2] = {0, 0};
		assert_int_equal(pp_store_resource_ids_for_patient(st, rowid, "Observation", &ids, &n), 0);
		assert_int_equal((long)n, generated);
		for (size_t k = 1; k < n; k++)
			assert_true(ids[k - 1] < ids[k]);
		free(ids);
		assert_int_equal(pp_store_resource_ids_for_patient(st, rowid, "Location", &ids, &n), 0);
		assert_int_equal(n, 0);
		assert_null(ids);
		assert_int_equal(pp_store_resource_ids_for_patient(st, 0, "Observation", &ids, &n),
		                 PP_EINVAL);
		assert_int_equal(pp_store_resource_each_meta_for_patient(st, rowid, "Observation",
		                                                         count_no_body, meta), 0);
		assert_int_equal(meta[0], generated);
		assert_int_equal(meta[1], generated);
	}

	assert_int_equal(pp_fhir_summary(st, cr, rowid, &sum), 0);
	labs = json_object_get(sum, "labs");
	vitals = json_object_get(sum, "vitals");
	trends = json_object_get(sum, "lab_trends");
	assert_int_equal(json_array_size(labs), 13);
	assert_int_equal(json_array_size(trends), 13);
	json_array_foreach(labs, i, x) {
		assert_true(json_is_number(json_object_get(x, "value")));
		assert_non_null(json_string_value(json_object_get(x, "unit")));
		assert_non_null(json_string_value(json_object_get(x, "flag")));
		assert_true(json_is_number(json_object_get(x, "ref_low")) ||
		            json_is_number(json_object_get(x, "ref_high")));
		assert_int_equal(strlen(json_string_value(json_object_get(x, "id"))), 32);
		if (strcmp(json_string_value(json_object_get(x, "flag")), "N") != 0)
			flagged++;
	}
	assert_true(flagged > 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(labs, 0), "date")),
	                    json_string_value(json_object_get(json_array_get(labs, 12), "date")));
	json_array_foreach(vitals, i, x) {
		const char *code = json_string_value(json_object_get(x, "code"));
		saw_sys |= !strcmp(code, "8480-6");
		saw_dia |= !strcmp(code, "8462-4");
		saw_weight |= !strcmp(code, "29463-7");
		assert_true(json_is_number(json_object_get(x, "value")));
	}
	assert_true(saw_sys && saw_dia && saw_weight);
	json_array_foreach(trends, i, x) {
		size_t k;
		json_t *pt;
		const char *prev = "";
		pts = json_object_get(x, "points");
		assert_int_equal(json_array_size(pts), 20);
		json_array_foreach(pts, k, pt) {
			const char *d = json_string_value(json_object_get(pt, "date"));
			assert_true(strcmp(prev, d) < 0);   /* oldest first */
			prev = d;
		}
	}
	/* a stored Observation is valid-looking FHIR R4 */
	{
		pp_store_resource r = {0};
		json_t *o = NULL;
		const char *pub = json_string_value(json_object_get(json_array_get(labs, 0), "id"));
		assert_int_equal(pp_store_resource_get_pub(st, "Observation", pub, &r), 0);
		assert_int_equal(r.patient_id, rowid);
		assert_int_equal(pp_fhir_resource_load(cr, &r, &o), 0);
		assert_string_equal(json_string_value(json_object_get(o, "status")), "final");
		assert_non_null(json_string_value(json_object_get(json_object_get(o, "code"), "text")));
		assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
			json_object_get(o, "code"), "coding"), 0), "system")), "http://loinc.org");
		assert_string_equal(json_string_value(json_object_get(json_object_get(o,
			"valueQuantity"), "system")), "http://unitsofmeasure.org");
		assert_non_null(json_object_get(o, "referenceRange"));
		assert_non_null(json_object_get(o, "interpretation"));
		assert_non_null(json_object_get(o, "effectiveDateTime"));
		assert_non_null(strstr(json_string_value(json_object_get(json_object_get(o, "subject"),
		                                                         "reference")), "Patient/"));
		/* tampering: another row id does not open the body */
		r.id ^= 1;
		json_decref(o);
		o = NULL;
		assert_int_equal(pp_fhir_resource_load(cr, &r, &o), PP_ECRYPTO);
		assert_null(o);
		pp_store_resource_clear(&r);
	}
	json_decref(sum);
	/* another seed changes values in place: same rows, new versions */
	assert_int_equal(pp_fhir_demo_observations(st, cr, rowid, 7, &again), 0);
	assert_int_equal(pp_store_resource_count(st, "Observation", &nobs), 0);
	assert_int_equal(nobs, generated);
	counts[0] = counts[1] = 0;
	assert_int_equal(pp_store_resource_each_for_patient(st, rowid, "Observation", count_version,
	                                                    counts), 0);
	assert_true(counts[1] < generated / 2);
	/* not a patient */
	assert_int_equal(pp_fhir_demo_observations(st, cr, 999, 1, &again), PP_ENOTFOUND);
	json_decref(patients);
}

/* an interrupted import (here: only the first half of a file got in) completes on re-run */
static void test_rerun_completes_partial_import(void **state)
{
	char path[400], *line;
	pp_buf b;
	pp_fhir_import_stats s1 = {0}, s2 = {0};
	int64_t before = 0, after = 0;

	(void)state;
	pp_buf_init(&b, 1 << 20);
	for (int i = 0; i < 10; i++) {
		json_t *v;
		char id[64], *text;
		line = first_line("Immunization", i);
		v = json_loads(line, 0, NULL);
		assert_non_null(v);
		snprintf(id, sizeof id, "partial-%d", i);
		json_object_set_new(v, "id", json_string(id));
		text = json_dumps(v, JSON_COMPACT);
		pp_buf_appendf(&b, "%s\n", text);
		if (i == 4) {
			snprintf(path, sizeof path, "%s/partial.ndjson", dir);
			write_text(path, pp_buf_cstr(&b));
		}
		free(text);
		json_decref(v);
		free(line);
	}
	assert_int_equal(pp_store_resource_count(st, "Immunization", &before), 0);
	assert_int_equal(pp_fhir_import_file(st, cr, path, NULL, &s1), 0);
	assert_int_equal(stat_of(&s1, s1.counts, "Immunization"), 5);
	write_text(path, pp_buf_cstr(&b));
	pp_buf_free(&b);
	assert_int_equal(pp_fhir_import_file(st, cr, path, NULL, &s2), 0);
	assert_int_equal(stat_of(&s2, s2.counts, "Immunization"), 5);
	assert_int_equal(stat_of(&s2, s2.unchanged, "Immunization"), 5);
	assert_int_equal(pp_store_resource_count(st, "Immunization", &after), 0);
	assert_int_equal(after, before + 10);
}

/* a resource imported before its Patient is linked when it is imported again */
static void test_late_patient_links_on_reimport(void **state)
{
	char cpath[400], ppath[400], lid[64];
	pp_fhir_import_stats s = {0};
	pp_store_resource r = {0};
	uint8_t bidx[32];
	int64_t pid;

	(void)state;
	snprintf(cpath, sizeof cpath, "%s/late-cond.ndjson", dir);
	snprintf(ppath, sizeof ppath, "%s/late-pat.ndjson", dir);
	write_text(cpath, "{\"resourceType\":\"Condition\",\"id\":\"late-cond-1\","
	           "\"subject\":{\"reference\":\"Patient/late-pat-1\"}}\n");
	write_text(ppath, "{\"resourceType\":\"Patient\",\"id\":\"late-pat-1\"}\n");
	snprintf(lid, sizeof lid, "Condition/late-cond-1");
	assert_int_equal(pp_crypto_blind_index(cr, "fhir-lid", lid, bidx), 0);

	assert_int_equal(pp_fhir_import_file(st, cr, cpath, NULL, &s), 0);
	assert_int_equal(pp_store_resource_find_lid(st, "Condition", bidx, &r), 0);
	assert_int_equal(r.patient_id, 0);
	pp_store_resource_clear(&r);
	assert_int_equal(pp_fhir_import_file(st, cr, ppath, NULL, &s), 0);
	pid = patient_row("late-pat-1");
	memset(&s, 0, sizeof s);
	assert_int_equal(pp_fhir_import_file(st, cr, cpath, NULL, &s), 0);
	assert_int_equal(stat_of(&s, s.counts, "Condition"), 1);
	assert_int_equal(pp_store_resource_find_lid(st, "Condition", bidx, &r), 0);
	assert_true(r.patient_id == pid);
	assert_int_equal(r.version, 1);   /* the resource itself did not change */
	pp_store_resource_clear(&r);
}

static int parse_str(const char *s, json_t **v, const char **why)
{
	return pp_fhir_parse_resource(s, strlen(s), 10, v, why);
}

static void test_parse_resource(void **state)
{
	json_t *v = NULL;
	const char *why = NULL;
	static const struct { const char *in; const char *reason; } cases[] = {
		{"", "empty"},
		{"{", "json_invalid"},
		{"[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]", "json_too_deep"},
		{"\"x\"", "not_object"},
		{"{\"id\":\"a\"}", "missing_resource_type"},
		{"{\"resourceType\":7,\"id\":\"a\"}", "missing_resource_type"},
		{"{\"resourceType\":\"Bundle\",\"entry\":[]}", "unknown_resource_type"},
		{"{\"resourceType\":\"Patient\"}", "missing_id"},
		{"{\"resourceType\":\"Patient\",\"id\":5}", "invalid_id"},
		{"{\"resourceType\":\"Patient\",\"id\":\"\"}", "invalid_id"},
		{"{\"resourceType\":\"Patient\",\"id\":\"a/b\"}", "invalid_id"},
		{"{\"resourceType\":\"Patient\",\"id\":\"a\",\"id\":\"b\"}", "json_invalid"},
		{"{\"resourceType\":\"Patient\",\"id\":\"a\"} x", "json_invalid"},
		{"{\"resourceType\":\"Patient\",\"id\":\"a\\u0000\"}", "json_invalid"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(pp_fhir_parse_resource(cases[i].in, strlen(cases[i].in), 10, &v, &why),
		                 PP_EINVAL);
		assert_null(v);
		assert_string_equal(why, cases[i].reason);
	}
	assert_int_equal(parse_str("{\"resourceType\":\"Observation\",\"id\":\"a-1.b\"}", &v, &why),
	                 0);
	assert_non_null(v);
	json_decref(v);
	/* depth is exact: 10 levels pass, 11 do not */
	assert_int_equal(parse_str("{\"resourceType\":\"Patient\",\"id\":\"a\","
	                           "\"x\":[[[[[[[[[]]]]]]]]]}", &v, &why), 0);
	json_decref(v);
	assert_int_equal(parse_str("{\"resourceType\":\"Patient\",\"id\":\"a\","
	                           "\"x\":[[[[[[[[[[]]]]]]]]]]}", &v, &why), PP_EINVAL);
	assert_string_equal(why, "json_too_deep");
}

static void test_store_failure_paths(void **state)
{
	pp_store_resource r = {0}, got = {0};
	uint8_t body[4] = {1, 2, 3, 4};
	pp_fhir_import_stats s = {0};
	char missing[400];

	(void)state;
	/* a second row under an existing (type, lid) but another id is refused */
	assert_int_equal(pp_store_resource_find_lid(st, "Condition", (uint8_t[32]){0}, &got),
	                 PP_ENOTFOUND);
	r.id = pp_store_new_id();
	snprintf(r.type, sizeof r.type, "Condition");
	memset(r.lid_bidx, 0xab, 32);
	snprintf(r.pub_id, sizeof r.pub_id, "fixedpubid0000000000000000000001");
	r.body = body;
	r.body_len = sizeof body;
	r.version = 1;
	assert_int_equal(pp_store_resource_put(st, &r), 0);
	r.id = pp_store_new_id();
	snprintf(r.pub_id, sizeof r.pub_id, "fixedpubid0000000000000000000002");
	assert_int_equal(pp_store_resource_put(st, &r), PP_EEXISTS);
	/* a patient_id that is not a row is refused by the foreign key */
	memset(r.lid_bidx, 0xac, 32);
	r.patient_id = 77;
	assert_int_not_equal(pp_store_resource_put(st, &r), 0);
	r.body = NULL;
	assert_int_equal(pp_store_resource_put(st, &r), PP_EINVAL);
	assert_int_equal(pp_store_resource_get(st, 1, &got), PP_ENOTFOUND);
	assert_int_equal(pp_store_resource_get_pub(st, "Condition", "nope", &got), PP_ENOTFOUND);
	assert_int_equal(pp_store_resource_get_pub(st, "Condition",
	                                           "fixedpubid0000000000000000000001", &got), 0);
	assert_int_equal(got.body_len, 4);
	pp_store_resource_clear(&got);
	pp_store_resource_clear(NULL);
	/* a missing file is an error, not a silent success */
	snprintf(missing, sizeof missing, "%s/does-not-exist.ndjson", dir);
	assert_int_equal(pp_fhir_import_file(st, cr, missing, NULL, &s), PP_ENOTFOUND);
	assert_int_equal(pp_fhir_import_file(st, NULL, missing, NULL, &s), PP_EINVAL);
	assert_int_equal(pp_fhir_resource_load(cr, NULL, &(json_t *){NULL}), PP_EINVAL);
}


/* ---- the patient's consent recorded as FHIR Consent (fhir/consent.c, store/sqlite_consent.c) ---- */

static long count_consents(int64_t pid)
{
	int64_t *ids = NULL;
	size_t n = 0;

	assert_int_equal(pp_store_resource_ids_for_patient(st, pid, "Consent", &ids, &n), 0);
	free(ids);
	return (long)n;
}

static void test_consent_record(void **state)
{
	json_t *pats = fixture_patients(), *list = NULL, *current = NULL, *res;
	int64_t pid = patient_row(pp_fhir_str(json_array_get(pats, 0), "id")), cur = -1, rid1, rid2, rid3;
	char pub1[40], pub2[40], pub3[40];
	pp_store_consent c;
	pp_fhir_search s;
	bool apps, sens;
	const char *why = NULL;

	(void)state;
	json_decref(pats);
	/* nothing recorded: the defaults, no Consent */
	assert_int_equal(pp_store_consent_current(st, pid, &c, &cur), 0);
	assert_int_equal(cur, 0);
	assert_int_equal(c.share_apps, 1);
	assert_int_equal(c.share_sensitive_proxies, 0);
	assert_int_equal(pp_fhir_consent_list(st, cr, pid, 0, 10, &list, &current), 0);
	assert_int_equal(json_array_size(list), 0);
	assert_null(current);
	json_decref(list);

	/* a first change: a Consent and the enforced row, in the caller's transaction */
	assert_int_equal(pp_store_begin(st), 0);
	assert_int_equal(pp_fhir_consent_record(st, cr, pid, false, true, 7, pub1, &rid1), 0);
	assert_int_equal(pp_store_commit(st), 0);
	assert_int_equal(strlen(pub1), 32);
	assert_int_equal(pp_store_consent_current(st, pid, &c, &cur), 0);
	assert_int_equal(cur, rid1);
	assert_int_equal(c.share_apps, 0);
	assert_int_equal(c.share_sensitive_proxies, 1);
	assert_int_equal(c.updated_by, 7);
	assert_int_equal(pp_store_consent_get(st, pid, &c), 0);   /* what policy/ reads */
	assert_int_equal(c.share_apps, 0);

	/* a second: the first becomes version 2, inactive, its period ended */
	assert_int_equal(pp_store_begin(st), 0);
	assert_int_equal(pp_fhir_consent_record(st, cr, pid, true, true, 7, pub2, &rid2), 0);
	assert_int_equal(pp_store_commit(st), 0);
	assert_int_equal(count_consents(pid), 2);
	assert_int_equal(pp_fhir_consent_list(st, cr, pid, rid2, 10, &list, &current), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_non_null(current);
	assert_string_equal(pp_fhir_str(current, "id"), pub2);
	res = json_array_get(list, 0);
	assert_string_equal(pp_fhir_str(res, "id"), pub2);
	assert_string_equal(pp_fhir_str(res, "status"), "active");
	assert_string_equal(pp_fhir_path_str(res, "meta.versionId"), "1");
	assert_string_equal(pp_fhir_path_str(res, "scope.coding.0.code"), "patient-privacy");
	assert_string_equal(pp_fhir_path_str(res, "category.0.coding.0.code"), "59284-0");
	assert_int_equal(pp_fhir_consent_choices(res, &apps, &sens), 0);
	assert_true(apps && sens);
	res = json_array_get(list, 1);
	assert_string_equal(pp_fhir_str(res, "id"), pub1);
	assert_string_equal(pp_fhir_str(res, "status"), "inactive");
	assert_string_equal(pp_fhir_path_str(res, "meta.versionId"), "2");
	assert_non_null(pp_fhir_path_str(res, "provision.period.end"));
	assert_int_equal(pp_fhir_consent_choices(res, &apps, &sens), 0);
	assert_true(!apps && sens);
	/* the patient reference is served as the Patient's opaque id */
	{
		pp_store_resource pr = {0};
		char ref[80];
		assert_int_equal(pp_store_resource_get(st, pid, &pr), 0);
		snprintf(ref, sizeof ref, "Patient/%s", pr.pub_id);
		assert_string_equal(pp_fhir_path_str(res, "patient.reference"), ref);
		pp_store_resource_clear(&pr);
	}
	/* sensitive-category labels: policy/ hides the Consent from proxies who may not see them */
	assert_true(pp_policy_sensitive("", res));
	json_decref(list);
	json_decref(current);
	assert_int_equal(pp_fhir_consent_list(st, cr, pid, rid2, 1, &list, NULL), 0);
	assert_int_equal(json_array_size(list), 1);   /* at most max */
	json_decref(list);

	/* rolled back: neither the new Consent, nor the superseding, nor the enforced row remain */
	assert_int_equal(pp_store_begin(st), 0);
	assert_int_equal(pp_fhir_consent_record(st, cr, pid, false, false, 7, pub3, &rid3), 0);
	assert_int_equal(pp_store_rollback(st), 0);
	assert_int_equal(count_consents(pid), 2);
	assert_int_equal(pp_store_consent_current(st, pid, &c, &cur), 0);
	assert_int_equal(cur, rid2);
	assert_int_equal(c.share_apps, 1);
	assert_int_equal(pp_fhir_consent_list(st, cr, pid, rid2, 10, &list, &current), 0);
	assert_string_equal(pp_fhir_str(current, "status"), "active");
	json_decref(list);
	json_decref(current);

	/* failures: not a Patient row, bad arguments */
	assert_int_equal(pp_fhir_consent_record(st, cr, rid2, true, true, 7, pub3, &rid3),
	                 PP_ENOTFOUND);
	assert_int_equal(pp_fhir_consent_record(st, cr, 0, true, true, 7, pub3, &rid3), PP_EINVAL);
	assert_int_equal(pp_fhir_consent_record(st, NULL, pid, true, true, 7, pub3, &rid3),
	                 PP_EINVAL);
	assert_int_equal(pp_store_consent_link(st, pid, &c, 0), PP_EINVAL);
	assert_int_equal(count_consents(pid), 2);

	/* the choices are read only from a Consent of this shape */
	res = json_pack("{s:s}", "resourceType", "Consent");
	assert_int_equal(pp_fhir_consent_choices(res, &apps, &sens), PP_EINVAL);
	json_decref(res);
	res = json_pack("{s:{s:[{s:s, s:[{s:{s:[{s:s}]}}]}, {s:s, s:[{s:{s:[{s:s}]}}]}]}}",
	                "provision", "provision", "type", "maybe", "actor", "role", "coding", "code",
	                "IRCP", "type", "deny", "actor", "role", "coding", "code", "PRS");
	assert_int_equal(pp_fhir_consent_choices(res, &apps, &sens), PP_EINVAL);
	json_object_set_new(json_array_get(pp_fhir_path(res, "provision.provision"), 0), "type",
	                    json_string("permit"));
	assert_int_equal(pp_fhir_consent_choices(res, &apps, &sens), 0);
	assert_true(apps && !sens);
	json_decref(res);

	/* the API searches Consent; the importer does not accept one (only the portal writes them) */
	assert_int_equal(pp_fhir_search_parse("Consent", "status=active&date=ge2020", true, &s), 0);
	assert_int_equal(s.nfilters, 2);
	assert_non_null(pp_fhir_api_type("Consent"));
	assert_int_equal(pp_fhir_parse_resource("{\"resourceType\":\"Consent\",\"id\":\"x\"}", 35,
	                                        64, &res, &why), PP_EINVAL);
	assert_string_equal(why, "unknown_resource_type");
}

/* ---- store epoch and the API's caches (store/sqlite_epoch.c, fhir/cache.c) ---- */

static void cache_row(pp_store_resource *r, const char *type, uint8_t lid, const char *pub,
                      uint8_t *body, size_t n)
{
	memset(r, 0, sizeof *r);
	r->id = pp_store_new_id();
	snprintf(r->type, sizeof r->type, "%s", type);
	memset(r->lid_bidx, lid, 32);
	snprintf(r->pub_id, sizeof r->pub_id, "%s", pub);
	r->body = body;
	r->body_len = n;
	r->version = 1;
	r->last_updated_ms = 1000;
}

static int first_row_patient(void *ctx, const pp_store_resource *r)
{
	*(int64_t *)ctx = r->patient_id;
	return 1;
}

static void test_store_epoch_and_caches(void **state)
{
	pp_store *other = NULL;
	pp_store_resource r, got = {0};
	uint8_t body1[3] = {1, 2, 3}, body2[5] = {9, 8, 7, 6, 5};
	uint64_t e1, e2, e3, e4;
	int64_t *ids = NULL, *want = NULL, pid = 0;
	size_t n = 0, nwant = 0;
	char pub[48], big[5000];
	pp_buf b;

	(void)state;
	/* a second store on the same file: another connection, as another process would be */
	assert_int_equal(pp_store_open(&other, db_path), 0);
	assert_int_equal(pp_store_epoch(st, &e1), 0);
	assert_int_equal(pp_store_epoch(st, &e2), 0);
	assert_true(e1 > 0);
	assert_true(e1 == e2);   /* nothing committed: the epoch stands */
	assert_int_equal(pp_store_epoch(NULL, &e3), PP_EIO);

	/* a row is read once, then served from memory under the same epoch */
	cache_row(&r, "Device", 0xd1, "cachepub00000000000000000000000a", body1, sizeof body1);
	assert_int_equal(pp_store_resource_put(other, &r), 0);
	assert_int_equal(pp_store_epoch(st, &e2), 0);
	assert_true(e2 != e1);   /* a commit by another connection moves it */
	assert_int_equal(pp_fhir_cache_get_pub(st, e2, "Device", r.pub_id, &got), 0);
	assert_int_equal(got.body_len, 3);
	assert_int_equal(got.version, 1);
	pp_store_resource_clear(&got);
	assert_int_equal(pp_fhir_cache_get_pub(st, e2, "Device", "cachepubnotthere", &got),
	                 PP_ENOTFOUND);
	assert_int_equal(pp_fhir_cache_get_pub(st, e2, "Patient", r.pub_id, &got), PP_ENOTFOUND);

	/* another connection writes a new version: the next epoch sees it, the old one does not
	 * (which is why callers take the epoch at the start of each request) */
	r.body = body2;
	r.body_len = sizeof body2;
	r.version = 2;
	assert_int_equal(pp_store_resource_put(other, &r), 0);
	assert_int_equal(pp_fhir_cache_get_pub(st, e2, "Device", r.pub_id, &got), 0);
	assert_int_equal(got.version, 1);
	pp_store_resource_clear(&got);
	assert_int_equal(pp_store_epoch(st, &e3), 0);
	assert_true(e3 != e2);
	assert_int_equal(pp_fhir_cache_get_pub(st, e3, "Device", r.pub_id, &got), 0);
	assert_int_equal(got.version, 2);
	assert_int_equal(got.body_len, 5);
	assert_memory_equal(got.body, body2, 5);
	pp_store_resource_clear(&got);
	assert_int_equal(pp_fhir_cache_get(st, e3, r.id, false, &got), 0);
	assert_null(got.body);
	assert_int_equal(got.version, 2);

	/* a commit on the caller's own connection moves it as well */
	r.version = 3;
	assert_int_equal(pp_store_resource_put(st, &r), 0);
	assert_int_equal(pp_store_epoch(st, &e4), 0);
	assert_true(e4 != e3);
	assert_int_equal(pp_fhir_cache_get(st, e4, r.id, true, &got), 0);
	assert_int_equal(got.version, 3);
	pp_store_resource_clear(&got);
	/* epoch 0: always the store */
	assert_int_equal(pp_fhir_cache_get(st, 0, r.id, true, &got), 0);
	assert_int_equal(got.version, 3);
	pp_store_resource_clear(&got);

	/* a reference to nothing is remembered as nothing, until a commit adds the target */
	assert_int_equal(pp_fhir_cache_pub_of_lid(st, e4, "Location", (uint8_t[32]){0xe1}, pub,
	                                          sizeof pub), PP_ENOTFOUND);
	cache_row(&r, "Location", 0, "cachepub00000000000000000000000b", body1, sizeof body1);
	memset(r.lid_bidx, 0, 32);
	r.lid_bidx[0] = 0xe1;
	assert_int_equal(pp_store_resource_put(other, &r), 0);
	assert_int_equal(pp_fhir_cache_pub_of_lid(st, e4, "Location", (uint8_t[32]){0xe1}, pub,
	                                          sizeof pub), PP_ENOTFOUND);
	assert_int_equal(pp_store_epoch(st, &e1), 0);
	assert_int_equal(pp_fhir_cache_pub_of_lid(st, e1, "Location", (uint8_t[32]){0xe1}, pub,
	                                          sizeof pub), 0);
	assert_string_equal(pub, r.pub_id);

	/* a compartment's row ids: as the store lists them, from memory the second time */
	assert_int_equal(pp_store_resource_each_meta_of_type_limit(st, "Observation", 1,
	                                                           first_row_patient, &pid), 0);
	assert_true(pid > 0);
	assert_int_equal(pp_store_resource_ids_for_patient(st, pid, "Observation", &want, &nwant), 0);
	assert_true(nwant > 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(pp_fhir_cache_ids(st, e1, pid, "Observation", &ids, &n), 0);
		assert_int_equal(n, nwant);
		assert_memory_equal(ids, want, n * sizeof *ids);
		free(ids);
	}
	free(want);
	assert_int_equal(pp_fhir_cache_ids(st, e1, r.id, "Observation", &ids, &n), 0);
	assert_int_equal(n, 0);
	assert_null(ids);
	assert_int_equal(pp_fhir_cache_ids(st, e1, 0, "Observation", &ids, &n), PP_EINVAL);

	/* served text: only under its epoch, only up to a slot */
	pp_buf_init(&b, 1 << 20);
	pp_fhir_cache_text_put(st, e1, r.id, "{\"x\":1}", 7);
	if (pp_fhir_cache_text_get(st, e1, r.id, &b)) {   /* no text cache where RAM cannot be locked */
		assert_string_equal(pp_buf_cstr(&b), "{\"x\":1}");
		assert_false(pp_fhir_cache_text_get(st, e1 + 1, r.id, &b));
		assert_false(pp_fhir_cache_text_get(other, e1, r.id, &b));
		memset(big, 'a', sizeof big);
		pp_fhir_cache_text_put(st, e1, r.id, big, sizeof big);   /* too long: the old one stays */
		pp_buf_reset(&b);
		assert_true(pp_fhir_cache_text_get(st, e1, r.id, &b));
		assert_int_equal(b.len, 7);
	}
	assert_false(pp_fhir_cache_text_get(st, 0, r.id, &b));

	/* a search page's entries and ids: only for the same compartment, type (interned), range,
	 * store and epoch; both parts come back, a miss appends nothing */
	{
		const char *obs = pp_fhir_api_type("Observation"), *cond = pp_fhir_api_type("Condition");
		pp_buf ids2;
		pp_buf_init(&ids2, 4096);
		pp_buf_reset(&b);
		pp_fhir_cache_page_put(st, e1, pid, obs, 0, 2, ",\"entry\":[{}]", 13, "a,b", 3);
		if (pp_fhir_cache_page_get(st, e1, pid, obs, 0, 2, &b, &ids2)) {
			assert_string_equal(pp_buf_cstr(&b), ",\"entry\":[{}]");
			assert_string_equal(pp_buf_cstr(&ids2), "a,b");
			pp_buf_reset(&b);
			pp_buf_reset(&ids2);
			assert_false(pp_fhir_cache_page_get(st, e1 + 1, pid, obs, 0, 2, &b, &ids2));
			assert_false(pp_fhir_cache_page_get(other, e1, pid, obs, 0, 2, &b, &ids2));
			assert_false(pp_fhir_cache_page_get(st, e1, pid + 1, obs, 0, 2, &b, &ids2));
			assert_false(pp_fhir_cache_page_get(st, e1, pid, cond, 0, 2, &b, &ids2));
			assert_false(pp_fhir_cache_page_get(st, e1, pid, obs, 1, 2, &b, &ids2));
			assert_false(pp_fhir_cache_page_get(st, e1, pid, obs, 0, 3, &b, &ids2));
			assert_int_equal(b.len, 0);
			assert_int_equal(ids2.len, 0);
			/* too long for a slot (64 KiB): not kept, the old one stays */
			{
				static char huge[70000];
				memset(huge, 'a', sizeof huge);
				pp_fhir_cache_page_put(st, e1, pid, obs, 0, 2, huge, sizeof huge, "c", 1);
			}
			assert_true(pp_fhir_cache_page_get(st, e1, pid, obs, 0, 2, &b, &ids2));
			assert_string_equal(pp_buf_cstr(&ids2), "a,b");
		}
		assert_false(pp_fhir_cache_page_get(st, 0, pid, obs, 0, 2, &b, &ids2));
		pp_buf_free(&ids2);
	}
	pp_buf_free(&b);
	pp_store_close(other);
}

/* ---- the REST API's search-parameter parser, filters and serving ---- */

static int64_t ms_of(int y, int mo, int d, int h, int mi, int sec)
{
	char t[40];
	int64_t lo = 0, hi = 0;

	snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, sec);
	assert_int_equal(pp_fhir_date_parse(t, &lo, &hi), PP_OK);
	assert_int_equal(hi - lo, 1000);
	return lo;
}

static void test_search_needs_body(void **state)
{
	static const struct { const char *q; bool body; } cases[] = {
		{"", false}, {"_count=5", false}, {"_id=abc", false}, {"_lastUpdated=gt2020", false},
		{"_sort=_lastUpdated", false}, {"_sort=-_lastUpdated", false}, {"_summary=count", false},
		{"code=4548-4", true}, {"date=2021", true}, {"_sort=date", true}, {"_sort=-date", true},
		{"status=final&_count=3", true},
	};
	pp_fhir_search s;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(pp_fhir_search_parse("Observation", cases[i].q, true, &s), 0);
		assert_int_equal(pp_fhir_search_needs_body(&s), cases[i].body);
	}
	assert_true(pp_fhir_search_needs_body(NULL));
	assert_int_equal(pp_fhir_search_parse("Observation", "_id=a,b&_lastUpdated=ge2024", true, &s),
	                 0);
	assert_true(pp_fhir_search_match_row(&s, "b", ms_of(2024, 6, 1, 0, 0, 0)));
	assert_false(pp_fhir_search_match_row(&s, "c", ms_of(2024, 6, 1, 0, 0, 0)));
	assert_false(pp_fhir_search_match_row(&s, "a", ms_of(2023, 6, 1, 0, 0, 0)));
	assert_false(pp_fhir_search_match_row(NULL, "a", 0));
}

static void test_date_parse(void **state)
{
	int64_t lo, hi;
	(void)state;

	assert_int_equal(pp_fhir_date_parse("1970-01-01T00:00:00Z", &lo, &hi), PP_OK);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 1000);
	/* partial dates cover their whole precision */
	assert_int_equal(pp_fhir_date_parse("2020", &lo, &hi), PP_OK);
	assert_int_equal(lo, ms_of(2020, 1, 1, 0, 0, 0));
	assert_int_equal(hi, ms_of(2021, 1, 1, 0, 0, 0));
	assert_int_equal(pp_fhir_date_parse("2020-02", &lo, &hi), PP_OK);
	assert_int_equal(hi - lo, 29LL * 86400000);   /* leap year */
	assert_int_equal(pp_fhir_date_parse("2019-12", &lo, &hi), PP_OK);
	assert_int_equal(hi, ms_of(2020, 1, 1, 0, 0, 0));
	assert_int_equal(pp_fhir_date_parse("2020-05-17", &lo, &hi), PP_OK);
	assert_int_equal(hi - lo, 86400000);
	assert_int_equal(pp_fhir_date_parse("2020-05-17T10:30", &lo, &hi), PP_OK);
	assert_int_equal(hi - lo, 60000);
	assert_int_equal(pp_fhir_date_parse("2020-05-17T10:30:15.25Z", &lo, &hi), PP_OK);
	assert_int_equal(lo, ms_of(2020, 5, 17, 10, 30, 15) + 250);
	assert_int_equal(hi - lo, 1);
	/* zones move the instant */
	assert_int_equal(pp_fhir_date_parse("2020-05-17T10:30:00-05:00", &lo, &hi), PP_OK);
	assert_int_equal(lo, ms_of(2020, 5, 17, 15, 30, 0));
	assert_int_equal(pp_fhir_date_parse("2020-05-17T00:30:00+01:00", &lo, &hi), PP_OK);
	assert_int_equal(lo, ms_of(2020, 5, 16, 23, 30, 0));
	/* malformed */
	static const char *const bad[] = {
		"", "20", "202", "20201", "2020-", "2020-5", "2020-13", "2020-00", "2019-02-29",
		"2020-02-30", "2020-04-31", "2020-05-17T", "2020-05-17T25:00", "2020-05-17T10:60",
		"2020-05-17T10:30:61", "2020-05-17T10:30:00.", "2020-05-17T10:30:00+15:00",
		"2020-05-17T10:30:00+0500", "2020-05-17 10:30", "2020-05-17T10:30:00Zjunk", "x2020",
		"0000", "2020-05-17T10:30:00.1234567890Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(pp_fhir_date_parse(bad[i], &lo, &hi), PP_EINVAL);
	assert_int_equal(pp_fhir_date_parse("2020-02-29", &lo, &hi), PP_OK);
	assert_int_equal(pp_fhir_date_parse(NULL, &lo, &hi), PP_EINVAL);
}

static void test_date_prefixes(void **state)
{
	pp_fhir_date p;
	int64_t day_lo, day_hi, lo, hi;
	(void)state;

	/* the search value: the day 2020-05-17 */
	assert_int_equal(pp_fhir_date_parse("2020-05-17", &day_lo, &day_hi), PP_OK);
	p.lo_ms = day_lo;
	p.hi_ms = day_hi;
	/* a resource at noon that day, the day before, the day after, and a period across it */
	struct { const char *v; bool eq, ne, gt, lt, ge, le, sa, eb; } cases[] = {
		{"2020-05-17T12:00:00Z", 1, 0, 0, 0, 1, 1, 0, 0},
		{"2020-05-16T12:00:00Z", 0, 1, 0, 1, 0, 1, 0, 1},
		{"2020-05-18T12:00:00Z", 0, 1, 1, 0, 1, 0, 1, 0},
		{"2020", 0, 1, 1, 1, 1, 1, 0, 0},   /* the whole year straddles the day */
		{"2020-05-17", 1, 0, 0, 0, 1, 1, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(pp_fhir_date_parse(cases[i].v, &lo, &hi), PP_OK);
		p.prefix = PP_FHIR_PFX_EQ; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].eq);
		p.prefix = PP_FHIR_PFX_NE; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].ne);
		p.prefix = PP_FHIR_PFX_GT; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].gt);
		p.prefix = PP_FHIR_PFX_LT; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].lt);
		p.prefix = PP_FHIR_PFX_GE; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].ge);
		p.prefix = PP_FHIR_PFX_LE; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].le);
		p.prefix = PP_FHIR_PFX_SA; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].sa);
		p.prefix = PP_FHIR_PFX_EB; assert_int_equal(pp_fhir_date_matches(&p, lo, hi), cases[i].eb);
		p.prefix = PP_FHIR_PFX_AP;
		assert_true(pp_fhir_date_matches(&p, lo, hi) == (lo < day_hi && hi > day_lo));
	}
}

static pp_fhir_search *parse_ok(const char *type, const char *q, bool strict)
{
	static pp_fhir_search s;
	int rc = pp_fhir_search_parse(type, q, strict, &s);

	if (rc)
		fprintf(stderr, "parse(%s) failed: %s\n", q, s.error);
	assert_int_equal(rc, PP_OK);
	return &s;
}

static void test_search_parse(void **state)
{
	pp_fhir_search *s, bad;
	char big[6000];
	(void)state;

	s = parse_ok("Observation", "", false);
	assert_int_equal(s->count, PP_FHIR_COUNT_DEFAULT);
	assert_string_equal(s->norm, "");
	s = parse_ok("Observation", "_count=500", false);
	assert_int_equal(s->count, PP_FHIR_COUNT_MAX);
	s = parse_ok("Observation", "_count=0", false);
	assert_int_equal(s->count, 0);
	assert_int_equal(pp_fhir_search_parse("Observation", "_count=7&_count=9", false, &bad),
	                 PP_EINVAL);
	assert_int_equal(pp_fhir_search_parse("Observation", "_sort=date&_sort=-date", false, &bad),
	                 PP_EINVAL);
	/* tokens */
	s = parse_ok("Observation", "code=http%3A%2F%2Floinc.org%7C4548-4,2345-7&category=|lab&"
	             "category=http://x|", false);
	assert_int_equal(s->nfilters, 3);
	assert_string_equal(s->filters[0].def->name, "code");
	assert_int_equal(s->filters[0].nvalues, 2);
	assert_string_equal(s->filters[0].v.tokens[0].system, "http://loinc.org");
	assert_string_equal(s->filters[0].v.tokens[0].code, "4548-4");
	assert_false(s->filters[0].v.tokens[0].any_system);
	assert_true(s->filters[0].v.tokens[1].any_system);
	assert_string_equal(s->filters[0].v.tokens[1].code, "2345-7");
	assert_true(s->filters[1].v.tokens[0].no_system);
	assert_string_equal(s->filters[2].v.tokens[0].system, "http://x");
	assert_string_equal(s->filters[2].v.tokens[0].code, "");
	/* escapes: "\," and "\|" are data */
	s = parse_ok("Observation", "code=a%5C%2Cb%5C%7Cc", false);
	assert_int_equal(s->filters[0].nvalues, 1);
	assert_string_equal(s->filters[0].v.tokens[0].code, "a,b|c");
	/* dates with prefixes */
	s = parse_ok("Observation", "date=ge2020&date=lt2021-03", false);
	assert_int_equal(s->filters[0].v.dates[0].prefix, PP_FHIR_PFX_GE);
	assert_int_equal(s->filters[1].v.dates[0].prefix, PP_FHIR_PFX_LT);
	/* the normalised query is sorted and re-encoded; _cursor is kept out of it */
	s = parse_ok("Observation", "date=ge2020&code=x%20y&_cursor=abc&_count=10", false);
	assert_string_equal(s->norm, "_count=10&code=x%20y&date=ge2020");
	assert_string_equal(s->cursor, "abc");
	/* patient / subject */
	s = parse_ok("Observation", "subject=Patient/abc123", false);
	assert_string_equal(s->patient, "abc123");
	s = parse_ok("Condition", "patient=https://h/fhir/Patient/abc123&patient=abc123", false);
	assert_string_equal(s->patient, "abc123");
	/* sorting, summary, format */
	s = parse_ok("Observation", "_sort=-date&_summary=count&_format=json", false);
	assert_int_equal(s->sort, PP_FHIR_SORT_DATE_DESC);
	assert_true(s->summary_count);
	assert_false(s->want_xml);
	s = parse_ok("Encounter", "_sort=_lastUpdated,-date&_format=application/fhir%2Bxml", false);
	assert_int_equal(s->sort, PP_FHIR_SORT_UPDATED);
	assert_true(s->want_xml);
	/* empty values are ignored */
	s = parse_ok("Observation", "code=&date=", false);
	assert_int_equal(s->nfilters, 0);
	/* lenient ignores and lists unknown parameters; strict refuses them */
	s = parse_ok("Observation", "foo=1&code:text=x&_elements=id&_sort=weird", false);
	assert_int_equal(s->nignored, 4);
	assert_string_equal(s->ignored[0], "foo");
	assert_string_equal(s->norm, "");
	assert_int_equal(pp_fhir_search_parse("Observation", "foo=1", true, &bad), PP_EINVAL);
	assert_non_null(strstr(bad.error, "foo"));
	assert_int_equal(pp_fhir_search_parse("Observation", "_sort=weird", true, &bad), PP_EINVAL);
	assert_int_equal(pp_fhir_search_parse("Practitioner", "patient=abc", true, &bad), PP_EINVAL);
	/* malformed values of known parameters: always errors, and never echoed */
	static const char *const malformed[] = {
		"date=2020-13", "date=xx2020", "date=ge", "_count=abc", "_count=-1", "_count=1e3",
		"_count=99999999999", "_lastUpdated=soon", "_lastUpdated=ge2020,le2021",
		"patient=Group/1", "patient=a,b", "patient=abc&patient=def", "subject=Patient/",
		"code=|", "code=a,,b", "code=,", "_id=a%2Fb", "_id=a&_id=b", "code=%zz", "code=%00",
		"code=1,2,3,4,5,6,7,8,9", "_cursor=" "0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567",
	};
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		assert_int_equal(pp_fhir_search_parse("Observation", malformed[i], false, &bad),
		                 PP_EINVAL);
		assert_true(bad.error[0]);
		assert_null(strstr(bad.error, "2020-13"));
		assert_null(strstr(bad.error, "Group"));
	}
	/* limits */
	memset(big, 0, sizeof big);
	for (int i = 0; i < 70; i++)
		snprintf(big + strlen(big), sizeof big - strlen(big), "%sx%d=1", i ? "&" : "", i);
	assert_int_equal(pp_fhir_search_parse("Observation", big, false, &bad), PP_EINVAL);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "code=", 5);
	assert_int_equal(pp_fhir_search_parse("Observation", big, false, &bad), PP_EINVAL);
	assert_int_equal(pp_fhir_search_parse("Medication", "", false, &bad), PP_EINVAL);
	assert_int_equal(pp_fhir_search_parse(NULL, "", false, &bad), PP_EINVAL);
	assert_int_equal(pp_fhir_search_parse("Observation", NULL, false, NULL), PP_EINVAL);
}

static void test_search_match(void **state)
{
	json_t *obs = json_loads(
	    "{\"resourceType\":\"Observation\",\"id\":\"x\",\"status\":\"final\","
	    "\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
	    "observation-category\",\"code\":\"laboratory\"}]}],"
	    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"4548-4\"}]},"
	    "\"effectiveDateTime\":\"2021-03-04T10:00:00Z\"}", 0, NULL);
	json_t *enc = json_loads(
	    "{\"resourceType\":\"Encounter\",\"id\":\"e\",\"status\":\"finished\","
	    "\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},"
	    "\"period\":{\"start\":\"2021-03-04T10:00:00Z\",\"end\":\"2021-03-06T10:00:00Z\"}}", 0, NULL);
	json_t *pat = json_loads(
	    "{\"resourceType\":\"Patient\",\"id\":\"p\",\"gender\":\"female\",\"birthDate\":\"1980-02-03\","
	    "\"identifier\":[{\"system\":\"urn:mrn\",\"value\":\"M123\"}],"
	    "\"name\":[{\"family\":\"Johnson\",\"given\":[\"Elisa\"]}]}", 0, NULL);
	int64_t lu = ms_of(2024, 1, 1, 0, 0, 0);
	struct { const char *type, *q; json_t **res; bool want; } cases[] = {
		{"Observation", "", &obs, true},
		{"Observation", "code=4548-4", &obs, true},
		{"Observation", "code=http://loinc.org|4548-4", &obs, true},
		{"Observation", "code=http://snomed.info/sct|4548-4", &obs, false},
		{"Observation", "code=|4548-4", &obs, false},
		{"Observation", "code=http://loinc.org|", &obs, true},
		{"Observation", "code=1234-5,4548-4", &obs, true},
		{"Observation", "category=laboratory", &obs, true},
		{"Observation", "category=vital-signs", &obs, false},
		{"Observation", "category=laboratory&code=1234-5", &obs, false},
		{"Observation", "status=final", &obs, true},
		{"Observation", "date=2021", &obs, true},
		{"Observation", "date=2021-03", &obs, true},
		{"Observation", "date=2021-04", &obs, false},
		{"Observation", "date=ge2021-03-04", &obs, true},
		{"Observation", "date=gt2021-03-04", &obs, false},
		{"Observation", "date=lt2021-03-04T10:00:01Z", &obs, true},
		{"Observation", "date=le2020,ge2021", &obs, true},
		{"Observation", "date=le2020&date=ge2021", &obs, false},
		{"Observation", "_id=thepub", &obs, true},
		{"Observation", "_id=other,thepub", &obs, true},
		{"Observation", "_id=other", &obs, false},
		{"Observation", "_lastUpdated=ge2024-01-01", &obs, true},
		{"Observation", "_lastUpdated=lt2024", &obs, false},
		{"Encounter", "date=2021-03-05", &enc, false},   /* eq: the period is not inside the day */
		{"Encounter", "date=ge2021-03-05", &enc, true},
		{"Encounter", "date=le2021-03-05", &enc, true},
		{"Encounter", "date=sa2021-03-03", &enc, true},
		{"Encounter", "date=eb2021-03-07", &enc, true},
		{"Encounter", "date=2021-03", &enc, true},
		{"Encounter", "class=AMB", &enc, true},
		{"Encounter", "class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP", &enc, false},
		{"Patient", "gender=female", &pat, true},
		{"Patient", "gender=male", &pat, false},
		{"Patient", "identifier=urn:mrn|M123", &pat, true},
		{"Patient", "identifier=M124", &pat, false},
		{"Patient", "name=john", &pat, true},
		{"Patient", "family=JOHN", &pat, true},
		{"Patient", "given=eli", &pat, true},
		{"Patient", "given=john", &pat, false},
		{"Patient", "birthdate=1980", &pat, true},
		{"Patient", "birthdate=lt1980-02-03", &pat, false},
	};
	(void)state;

	assert_non_null(obs);
	assert_non_null(enc);
	assert_non_null(pat);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pp_fhir_search *s = parse_ok(cases[i].type, cases[i].q, true);
		bool got = pp_fhir_search_match(s, *cases[i].res, "thepub", lu);
		if (got != cases[i].want)
			fprintf(stderr, "match %s ?%s: got %d\n", cases[i].type, cases[i].q, got);
		assert_true(got == cases[i].want);
	}
	/* sort keys */
	assert_int_equal(pp_fhir_search_sort_key(parse_ok("Observation", "_sort=date", false), obs, lu),
	                 ms_of(2021, 3, 4, 10, 0, 0));
	assert_int_equal(pp_fhir_search_sort_key(parse_ok("Encounter", "_sort=-_lastUpdated", false),
	                                         enc, lu), lu);
	assert_false(pp_fhir_search_match(NULL, obs, "x", lu));
	json_decref(obs);
	json_decref(enc);
	json_decref(pat);
}

typedef struct first_row { pp_store_resource row; bool found; } first_row;

static int keep_first_with_encounter(void *ctx, const pp_store_resource *r)
{
	first_row *f = ctx;
	json_t *res = NULL;

	if (r->patient_id > 0 && !pp_fhir_resource_load(cr, r, &res) &&
	    json_object_get(res, "encounter")) {
		f->row = *r;
		f->row.body = malloc(r->body_len);
		memcpy(f->row.body, r->body, r->body_len);
		f->found = true;
	}
	json_decref(res);
	return f->found;
}

static void test_serve_resource_rewrites_references(void **state)
{
	first_row f = {0};
	pp_store_resource patient = {0}, enc = {0};
	json_t *res = NULL, *cs;
	char want[80];
	const char *ref;
	(void)state;

	assert_int_equal(pp_store_resource_each_of_type(st, "Condition", keep_first_with_encounter, &f),
	                 PP_OK);
	assert_true(f.found);
	assert_int_equal(pp_fhir_resource_load(cr, &f.row, &res), PP_OK);
	assert_int_equal(pp_fhir_serve_resource(st, cr, res, &f.row), PP_OK);
	assert_string_equal(pp_fhir_str(res, "id"), f.row.pub_id);
	assert_non_null(pp_fhir_path_str(res, "meta.lastUpdated"));
	snprintf(want, sizeof want, "%d", f.row.version);
	assert_string_equal(pp_fhir_path_str(res, "meta.versionId"), want);
	assert_int_equal(pp_store_resource_get(st, f.row.patient_id, &patient), PP_OK);
	snprintf(want, sizeof want, "Patient/%s", patient.pub_id);
	assert_string_equal(pp_fhir_path_str(res, "subject.reference"), want);
	ref = pp_fhir_path_str(res, "encounter.reference");
	assert_non_null(ref);
	assert_int_equal(strncmp(ref, "Encounter/", 10), 0);
	assert_int_equal(pp_store_resource_get_pub(st, "Encounter", ref + 10, &enc), PP_OK);
	json_decref(res);
	/* references that resolve nowhere lose their reference string, others stay */
	res = json_loads("{\"resourceType\":\"Condition\",\"subject\":{\"reference\":\"Patient/nope\"},"
	                 "\"encounter\":{\"reference\":\"urn:uuid:nope\",\"display\":\"d\"},"
	                 "\"asserter\":{\"reference\":\"Practitioner?identifier=x|1\"},"
	                 "\"recorder\":{\"reference\":\"https://other.example/fhir/Practitioner/9\"},"
	                 "\"note\":[{\"authorReference\":{\"reference\":\"#c1\"}}]}", 0, NULL);
	assert_int_equal(pp_fhir_serve_resource(st, cr, res, &f.row), PP_OK);
	assert_null(pp_fhir_path_str(res, "subject.reference"));
	assert_string_equal(pp_fhir_path_str(res, "subject.display"), "Not available");
	assert_null(pp_fhir_path_str(res, "encounter.reference"));
	assert_string_equal(pp_fhir_path_str(res, "encounter.display"), "d");
	assert_string_equal(pp_fhir_path_str(res, "asserter.reference"), "Practitioner?identifier=x|1");
	assert_string_equal(pp_fhir_path_str(res, "recorder.reference"),
	                    "https://other.example/fhir/Practitioner/9");
	assert_string_equal(pp_fhir_path_str(res, "note.0.authorReference.reference"), "#c1");
	json_decref(res);
	assert_int_equal(pp_fhir_serve_resource(st, cr, NULL, &f.row), PP_EINVAL);
	pp_store_resource_clear(&f.row);
	pp_store_resource_clear(&patient);
	pp_store_resource_clear(&enc);

	cs = pp_fhir_capability("https://portal.example");
	assert_non_null(cs);
	assert_string_equal(pp_fhir_str(cs, "fhirVersion"), "4.0.1");
	assert_string_equal(pp_fhir_path_str(cs, "rest.0.security.extension.0.extension.1.valueUri"),
	                    "https://portal.example/oauth/token");
	assert_int_equal(json_array_size(pp_fhir_path(cs, "rest.0.resource")), 15);   /* 13 types, Communication and Consent */
	json_decref(cs);
	cs = pp_fhir_outcome("error", "not-found", "Resource not found");
	assert_string_equal(pp_fhir_path_str(cs, "issue.0.code"), "not-found");
	json_decref(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_resource),
		cmocka_unit_test(test_fixture_import_counts),
		cmocka_unit_test(test_fixture_references_resolve),
		cmocka_unit_test(test_reimport_is_idempotent),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_bundle_file),
		cmocka_unit_test(test_changed_resource_bumps_version),
		cmocka_unit_test(test_summary_for_fixture_patient),
		cmocka_unit_test(test_demo_observations),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_date_prefixes),
		cmocka_unit_test(test_search_parse),
		cmocka_unit_test(test_search_match),
		cmocka_unit_test(test_search_needs_body),
		cmocka_unit_test(test_serve_resource_rewrites_references),
		/* these add resources to fixture patients: after the summary counts */
		cmocka_unit_test(test_rerun_completes_partial_import),
		cmocka_unit_test(test_late_patient_links_on_reimport),
		cmocka_unit_test(test_store_failure_paths),
		cmocka_unit_test(test_consent_record),
		cmocka_unit_test(test_store_epoch_and_caches),
		cmocka_unit_test(test_no_phi_in_database_files),
	};

	pp_log_set_level(PP_LOG_WARN);
	return cmocka_run_group_tests_name("fhir", tests, group_setup, group_teardown);
}
