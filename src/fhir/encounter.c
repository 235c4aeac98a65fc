/* fhir: the encounter participation index behind policy/'s "encounter" relationship, and the names
 * under which a staff account is linked to a Practitioner.
 *
 * A practitioner is named by a key string — "id:<logical id>" for "Practitioner/<id>" references,
 * "identifier:<system>|<value>" for conditional references ("Practitioner?identifier=...", as in
 * Synthea exports, which name practitioners by NPI) and logical identifier references — and only
 * the blind index of that string is stored (domain "encounter-practitioner"). A stored Practitioner
 * has all its names: its id and each identifier, so linking by id or by NPI reaches the same
 * encounters.
 *
 * Which encounters relate anyone: in-progress, arrived, triaged and onleave ones are ongoing;
 * finished ones relate until their end (period.end, else period.start) plus the configured window.
 * Planned, cancelled, entered-in-error and unknown ones relate no one. Re-importing an Encounter
 * replaces its rows, so the index follows updates (a changed participant or period, a subject that
 * now resolves). */
#include "fhir/fhir_internal.h"
#include "store/store.h"
#include "store/store_encounter.h"
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

#define NPI_SYSTEM "http://hl7.org/fhir/sid/us-npi"

_Static_assert(PP_FHIR_ENCOUNTER_MAX_KEYS == PP_STORE_ENCOUNTER_MAX_KEYS,
               "the parser's and the store's caps on practitioner names agree");

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "identifier:" + the percent-decoded value of n bytes at v; needs "system|value" */
static int identifier_key(const char *v, size_t n, char *out, size_t cap)
{
	static const char prefix[] = "identifier:";
	size_t o = sizeof prefix - 1;
	const char *bar;

	if (cap <= o)
		return 0;
	memcpy(out, prefix, o);
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (ch == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			ch = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
			i += 2;
		}
		if (ch == '\0' || o + 1 >= cap)
			return 0;
		out[o++] = ch;
	}
	out[o] = '\0';
	bar = strchr(out + sizeof prefix - 1, '|');
	/* a system and a value: "|value" alone names nothing reliably */
	return bar && bar > out + sizeof prefix - 1 && bar[1] ? 1 : 0;
}

static int id_key(const char *id, size_t n, char *out, size_t cap)
{
	char tmp[72];

	if (!n || n >= sizeof tmp)
		return 0;
	memcpy(tmp, id, n);
	tmp[n] = '\0';
	if (!pp_fhir_valid_id(tmp))
		return 0;
	return snprintf(out, cap, "id:%s", tmp) < (int)cap;
}

/* the key of a practitioner reference; 0 when it names no Practitioner */
static int reference_key(const char *ref, char *out, size_t cap)
{
	const char *p, *q;

	if (!ref || !*ref || *ref == '#')
		return 0;
	if ((p = strstr(ref, "Practitioner?")) && (p == ref || p[-1] == '/')) {
		for (q = p + 13; q && *q;) {
			size_t n = strcspn(q, "&");
			if (n > 11 && !strncmp(q, "identifier=", 11))
				return identifier_key(q + 11, n - 11, out, cap);
			q = q[n] ? q + n + 1 : NULL;
		}
		return 0;
	}
	if (!strncmp(ref, "Practitioner/", 13))
		p = ref + 13;
	else if (strstr(ref, "://") && (p = strstr(ref, "/Practitioner/")))
		p += 14;
	else
		return 0;
	return id_key(p, strcspn(p, "/"), out, cap);
}

static void add_key(pp_fhir_encounter_parts *e, const char *key)
{
	for (int i = 0; i < e->nkeys; i++)
		if (!strcmp(e->keys[i], key))
			return;
	if (e->nkeys < PP_FHIR_ENCOUNTER_MAX_KEYS)
		snprintf(e->keys[e->nkeys++], sizeof e->keys[0], "%s", key);
}

static bool status_in(const char *status, const char *const *list)
{
	for (; status && *list; list++)
		if (!strcmp(status, *list))
			return true;
	return false;
}

int pp_fhir_encounter_parts_of(const json_t *enc, pp_fhir_encounter_parts *out)
{
	static const char *const ongoing[] = {"in-progress", "arrived", "triaged", "onleave", NULL};
	const char *status, *start, *end;
	json_t *parts, *part;
	int64_t s_lo = 0, s_hi = 0, e_lo = 0, e_hi = 0;
	bool has_start, has_end;
	char key[PP_FHIR_PRACTITIONER_KEY_MAX];
	size_t i;

	if (!out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!json_is_object(enc) || !pp_fhir_str(enc, "resourceType") ||
	    strcmp(pp_fhir_str(enc, "resourceType"), "Encounter"))
		return PP_EINVAL;
	status = pp_fhir_str(enc, "status");
	start = pp_fhir_path_str(enc, "period.start");
	end = pp_fhir_path_str(enc, "period.end");
	has_start = start && pp_fhir_date_parse(start, &s_lo, &s_hi) == PP_OK;
	has_end = end && pp_fhir_date_parse(end, &e_lo, &e_hi) == PP_OK;
	if (status_in(status, ongoing)) {
		out->start_ms = has_start ? s_lo : 0;
		out->end_ms = 0;
	} else if (status && !strcmp(status, "finished") && (has_start || has_end)) {
		out->start_ms = has_start ? s_lo : e_lo;
		out->end_ms = has_end ? e_hi : s_hi;
		if (out->end_ms <= 0)
			out->end_ms = 1;   /* 0 means ongoing: a finished encounter never is */
	} else {
		return PP_OK;   /* relates no one */
	}
	out->indexed = 1;
	parts = json_object_get(enc, "participant");
	json_array_foreach(parts, i, part) {
		json_t *ind = json_object_get(part, "individual");
		const char *type = pp_fhir_str(ind, "type");
		if (reference_key(pp_fhir_str(ind, "reference"), key, sizeof key)) {
			add_key(out, key);
		} else if (!pp_fhir_str(ind, "reference") && (!type || !strcmp(type, "Practitioner"))) {
			const char *sys = pp_fhir_path_str(ind, "identifier.system");
			const char *val = pp_fhir_path_str(ind, "identifier.value");
			if (sys && val && *sys && *val && !strchr(sys, '|') &&
			    snprintf(key, sizeof key, "identifier:%s|%s", sys, val) < (int)sizeof key)
				add_key(out, key);
		}
	}
	return PP_OK;
}

int pp_fhir_practitioner_key(struct pp_crypto *c, const char *key, uint8_t out[32])
{
	if (!c || !key || !*key)
		return PP_EINVAL;
	return pp_crypto_blind_index(c, "encounter-practitioner", key, out);
}

int pp_fhir_encounter_index(struct pp_store *st, struct pp_crypto *c, const json_t *enc)
{
	pp_fhir_encounter_parts e;
	pp_store_resource row = {0};
	uint8_t bidx[32], keys[PP_FHIR_ENCOUNTER_MAX_KEYS][32];
	const char *id = pp_fhir_str(enc, "id");
	int rc, n = 0;

	if (!st || !c || !pp_fhir_valid_id(id))
		return PP_EINVAL;
	if ((rc = pp_fhir_encounter_parts_of(enc, &e)))
		return rc;
	if ((rc = pp_fhir_lid_bidx(c, "Encounter", id, bidx)) ||
	    (rc = pp_store_resource_find_lid(st, "Encounter", bidx, &row)))
		goto out;
	for (int i = 0; e.indexed && i < e.nkeys; i++)
		if ((rc = pp_fhir_practitioner_key(c, e.keys[i], keys[n++])))
			goto out;
	rc = pp_store_encounter_index_put(st, row.id, row.patient_id, (const uint8_t(*)[32])keys, n,
	                                  e.start_ms, e.end_ms);
out:
	pp_wipe(&e, sizeof e);
	pp_store_resource_clear(&row);
	return rc;
}

/* every name of a stored Practitioner: its id and its identifiers */
static void practitioner_names(const json_t *prac, pp_fhir_encounter_parts *names)
{
	char key[PP_FHIR_PRACTITIONER_KEY_MAX];
	const char *id = pp_fhir_str(prac, "id");
	json_t *ids = json_object_get(prac, "identifier"), *ident;
	size_t i;

	if (id && id_key(id, strlen(id), key, sizeof key))
		add_key(names, key);
	json_array_foreach(ids, i, ident) {
		const char *sys = pp_fhir_str(ident, "system"), *val = pp_fhir_str(ident, "value");
		if (sys && val && *sys && *val && !strchr(sys, '|') &&
		    snprintf(key, sizeof key, "identifier:%s|%s", sys, val) < (int)sizeof key)
			add_key(names, key);
	}
}

static const char *npi_of(const json_t *prac)
{
	json_t *ids = json_object_get(prac, "identifier"), *ident;
	size_t i;

	json_array_foreach(ids, i, ident) {
		const char *sys = pp_fhir_str(ident, "system");
		if (sys && !strcmp(sys, NPI_SYSTEM) && pp_fhir_str(ident, "value"))
			return pp_fhir_str(ident, "value");
	}
	return NULL;
}

typedef struct scan {
	struct pp_crypto *c;
	struct pp_store *st;
	const char *npi;                 /* find: the Practitioner with this NPI */
	pp_fhir_encounter_parts *names;
	/* demo: the practitioner with the most patients (ties: the lowest NPI) */
	int64_t best_count;
	char best_npi[32], best_id[72];
	int rc;
} scan;

static int scan_one(void *ctx, const pp_store_resource *r)
{
	scan *x = ctx;
	json_t *prac = NULL;
	const char *npi;

	if ((x->rc = pp_fhir_resource_load(x->c, r, &prac)))
		return 1;
	npi = npi_of(prac);
	if (x->npi && npi && !strcmp(npi, x->npi)) {
		practitioner_names(prac, x->names);
	} else if (!x->npi && npi && strlen(npi) < sizeof x->best_npi && pp_fhir_str(prac, "id")) {
		char key[PP_FHIR_PRACTITIONER_KEY_MAX];
		uint8_t bidx[32];
		int64_t n = 0;
		snprintf(key, sizeof key, "identifier:%s|%s", NPI_SYSTEM, npi);
		if ((x->rc = pp_fhir_practitioner_key(x->c, key, bidx)) ||
		    (x->rc = pp_store_encounter_patient_count(x->st, bidx, &n))) {
			json_decref(prac);
			return 1;
		}
		if (n > 0 && (n > x->best_count ||
		              (n == x->best_count && strcmp(npi, x->best_npi) < 0))) {
			x->best_count = n;
			snprintf(x->best_npi, sizeof x->best_npi, "%s", npi);
			snprintf(x->best_id, sizeof x->best_id, "%s", pp_fhir_str(prac, "id"));
		}
	}
	json_decref(prac);
	return 0;
}

static int valid_npi(const char *npi)
{
	size_t n = npi ? strlen(npi) : 0;

	return n >= 1 && n <= 20 && strspn(npi, "0123456789") == n;
}

int pp_fhir_practitioner_keys(struct pp_store *st, struct pp_crypto *c, const char *practitioner_id,
                              const char *npi, uint8_t (*keys)[32], int max, int *n)
{
	pp_fhir_encounter_parts names;
	pp_store_resource row = {0};
	json_t *prac = NULL;
	uint8_t bidx[32];
	int rc = PP_OK;

	if (!st || !c || !keys || !n || max < 1 || (!practitioner_id == !npi))
		return PP_EINVAL;
	*n = 0;
	memset(&names, 0, sizeof names);
	if (practitioner_id) {
		if (!pp_fhir_valid_id(practitioner_id))
			return PP_EINVAL;
		if ((rc = pp_fhir_lid_bidx(c, "Practitioner", practitioner_id, bidx)) ||
		    (rc = pp_store_resource_find_lid(st, "Practitioner", bidx, &row)) ||
		    (rc = pp_fhir_resource_load(c, &row, &prac)))
			goto out;
		practitioner_names(prac, &names);
	} else {
		char key[PP_FHIR_PRACTITIONER_KEY_MAX];
		scan x = {.c = c, .st = st, .npi = npi, .names = &names};
		if (!valid_npi(npi))
			return PP_EINVAL;
		snprintf(key, sizeof key, "identifier:%s|%s", NPI_SYSTEM, npi);
		add_key(&names, key);
		/* the Practitioner resource, when the feed has it, adds its other names */
		if ((rc = pp_store_resource_each_of_type(st, "Practitioner", scan_one, &x)) ||
		    (rc = x.rc))
			goto out;
	}
	for (int i = 0; i < names.nkeys && *n < max; i++)
		if ((rc = pp_fhir_practitioner_key(c, names.keys[i], keys[(*n)++])))
			goto out;
out:
	json_decref(prac);
	pp_store_resource_clear(&row);
	return rc;
}

int pp_fhir_demo_link_practitioner(struct pp_store *st, struct pp_crypto *c, int64_t user_id,
                                   char npi_out[32])
{
	scan x = {.c = c, .st = st};
	uint8_t keys[PP_FHIR_ENCOUNTER_MAX_KEYS][32];
	int n = 0, rc;

	if (!st || !c || user_id <= 0)
		return PP_EINVAL;
	if ((rc = pp_store_resource_each_of_type(st, "Practitioner", scan_one, &x)) || (rc = x.rc))
		return rc;
	if (!x.best_count)
		return PP_ENOTFOUND;
	if ((rc = pp_fhir_practitioner_keys(st, c, x.best_id, NULL, keys, PP_FHIR_ENCOUNTER_MAX_KEYS,
	                                    &n)) ||
	    (rc = pp_store_practitioner_link_set(st, user_id, (const uint8_t(*)[32])keys, n,
	                                         pp_clock_now_ms())))
		return rc;
	if (npi_out)
		snprintf(npi_out, 32, "%s", x.best_npi);
	return PP_OK;
}
