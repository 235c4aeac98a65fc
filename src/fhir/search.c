/* fhir: the search-parameter parser (query string → pp_fhir_search) and the in-memory filters it
 * drives. Resource bodies are encrypted with no clear-text index, so a search decrypts its
 * candidates and asks pp_fhir_search_match about each one.
 *
 * Semantics (FHIR R4 §3.1.1 "Search"): a repeated parameter is an AND, comma-separated values of
 * one parameter are an OR; empty values are ignored; date values are ranges set by their precision
 * and compared with the prefix rules (eq: the resource's range lies inside the value's range; ge:
 * the resource's range reaches the value or later; ...). A date or time without a zone is taken as
 * UTC. "ap" is treated as "overlaps". Error texts name at most the parameter, never a value. */
#include "fhir/fhir_internal.h"
#include "http/http.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_MAX 4096
#define PAIRS_MAX 64

/* ---- the parameters each type supports (besides _id, _lastUpdated and patient/subject) ---- */
static const pp_fhir_param_def defs[] = {
	{"Observation", "category", PP_FHIR_PARAM_TOKEN, "category"},
	{"Observation", "code", PP_FHIR_PARAM_TOKEN, "code"},
	{"Observation", "date", PP_FHIR_PARAM_DATE,
	 "effectiveDateTime|effectivePeriod|effectiveInstant"},
	{"Observation", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"Condition", "category", PP_FHIR_PARAM_TOKEN, "category"},
	{"Condition", "clinical-status", PP_FHIR_PARAM_TOKEN, "clinicalStatus"},
	{"Condition", "code", PP_FHIR_PARAM_TOKEN, "code"},
	{"Condition", "onset-date", PP_FHIR_PARAM_DATE, "onsetDateTime|onsetPeriod"},
	{"Condition", "recorded-date", PP_FHIR_PARAM_DATE, "recordedDate"},
	{"AllergyIntolerance", "clinical-status", PP_FHIR_PARAM_TOKEN, "clinicalStatus"},
	{"AllergyIntolerance", "code", PP_FHIR_PARAM_TOKEN, "code"},
	{"Immunization", "date", PP_FHIR_PARAM_DATE, "occurrenceDateTime"},
	{"Immunization", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"Immunization", "vaccine-code", PP_FHIR_PARAM_TOKEN, "vaccineCode"},
	{"MedicationRequest", "authoredon", PP_FHIR_PARAM_DATE, "authoredOn"},
	{"MedicationRequest", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"MedicationRequest", "intent", PP_FHIR_PARAM_TOKEN, "intent"},
	{"MedicationRequest", "code", PP_FHIR_PARAM_TOKEN, "medicationCodeableConcept"},
	{"Encounter", "date", PP_FHIR_PARAM_DATE, "period"},
	{"Encounter", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"Encounter", "class", PP_FHIR_PARAM_TOKEN, "class"},
	{"Encounter", "type", PP_FHIR_PARAM_TOKEN, "type"},
	{"Encounter", "identifier", PP_FHIR_PARAM_TOKEN, "identifier"},
	{"Procedure", "date", PP_FHIR_PARAM_DATE, "performedDateTime|performedPeriod"},
	{"Procedure", "code", PP_FHIR_PARAM_TOKEN, "code"},
	{"Procedure", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"DocumentReference", "category", PP_FHIR_PARAM_TOKEN, "category"},
	{"DocumentReference", "type", PP_FHIR_PARAM_TOKEN, "type"},
	{"DocumentReference", "date", PP_FHIR_PARAM_DATE, "date"},
	{"DocumentReference", "period", PP_FHIR_PARAM_DATE, "context.period"},
	{"DocumentReference", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"Device", "type", PP_FHIR_PARAM_TOKEN, "type"},
	{"Patient", "identifier", PP_FHIR_PARAM_TOKEN, "identifier"},
	{"Patient", "name", PP_FHIR_PARAM_STRING, "name"},
	{"Patient", "family", PP_FHIR_PARAM_STRING, "name.family"},
	{"Patient", "given", PP_FHIR_PARAM_STRING, "name.given"},
	{"Patient", "gender", PP_FHIR_PARAM_TOKEN, "gender"},
	{"Patient", "birthdate", PP_FHIR_PARAM_DATE, "birthDate"},
	{"Practitioner", "identifier", PP_FHIR_PARAM_TOKEN, "identifier"},
	{"Practitioner", "name", PP_FHIR_PARAM_STRING, "name"},
	{"Organization", "identifier", PP_FHIR_PARAM_TOKEN, "identifier"},
	{"Organization", "name", PP_FHIR_PARAM_STRING, "name|alias"},
	{"Location", "identifier", PP_FHIR_PARAM_TOKEN, "identifier"},
	{"Location", "name", PP_FHIR_PARAM_STRING, "name|alias"},
	{"Location", "address", PP_FHIR_PARAM_STRING, "address"},
	{"Consent", "status", PP_FHIR_PARAM_TOKEN, "status"},
	{"Consent", "date", PP_FHIR_PARAM_DATE, "dateTime"},
	{"Consent", "category", PP_FHIR_PARAM_TOKEN, "category"},
	{"Consent", "scope", PP_FHIR_PARAM_TOKEN, "scope"},
};

const pp_fhir_param_def *pp_fhir_param_defs(size_t *n)
{
	if (n)
		*n = sizeof defs / sizeof defs[0];
	return defs;
}

static const pp_fhir_param_def *find_def(const char *type, const char *name)
{
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		if (!strcmp(defs[i].type, type) && !strcmp(defs[i].name, name))
			return &defs[i];
	return NULL;
}

/* the date parameter _sort=date uses for the type */
static const pp_fhir_param_def *sort_date_def(const char *type)
{
	static const char *const names[] = {"date", "onset-date", "authoredon", "birthdate"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const pp_fhir_param_def *d = find_def(type, names[i]);
		if (d)
			return d;
	}
	return NULL;
}

/* types whose resources belong to a patient's compartment and so take patient= */
static bool has_patient_param(const char *type)
{
	return strcmp(type, "Practitioner") && strcmp(type, "Organization") &&
	       strcmp(type, "Location") && strcmp(type, "Patient");
}

static bool has_subject_param(const char *type)
{
	return !strcmp(type, "Observation") || !strcmp(type, "Condition") ||
	       !strcmp(type, "Encounter") || !strcmp(type, "Procedure") ||
	       !strcmp(type, "DocumentReference") || !strcmp(type, "MedicationRequest");
}

/* ---- dates ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* H. Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar */
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* n decimal digits at p into *v */
static bool digits(const char *p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		x = x * 10 + (p[i] - '0');
	}
	*v = x;
	return true;
}

int pp_fhir_date_parse(const char *t, int64_t *lo_ms, int64_t *hi_ms)
{
	int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, ms = 0, tzh = 0, tzm = 0, tzsign = 0;
	int64_t span, base;
	const char *p = t;

	if (!t || !lo_ms || !hi_ms)
		return PP_EINVAL;
	if (!digits(p, 4, &y) || y < 1)
		return PP_EINVAL;
	p += 4;
	if (!*p) {
		base = days_from_civil(y, 1, 1) * 86400000LL;
		*lo_ms = base;
		*hi_ms = days_from_civil(y + 1, 1, 1) * 86400000LL;
		return PP_OK;
	}
	if (*p != '-' || !digits(p + 1, 2, &mo) || mo < 1 || mo > 12)
		return PP_EINVAL;
	p += 3;
	if (!*p) {
		*lo_ms = days_from_civil(y, (unsigned)mo, 1) * 86400000LL;
		*hi_ms = (mo == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, (unsigned)mo + 1, 1)) *
		         86400000LL;
		return PP_OK;
	}
	if (*p != '-' || !digits(p + 1, 2, &d) || d < 1 || d > days_in_month(y, mo))
		return PP_EINVAL;
	p += 3;
	base = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000LL;
	if (!*p) {
		*lo_ms = base;
		*hi_ms = base + 86400000LL;
		return PP_OK;
	}
	if (*p != 'T' || !digits(p + 1, 2, &h) || h > 23 || p[3] != ':' || !digits(p + 4, 2, &mi) ||
	    mi > 59)
		return PP_EINVAL;
	p += 6;
	span = 60000;
	if (*p == ':') {
		if (!digits(p + 1, 2, &sec) || sec > 60)
			return PP_EINVAL;
		p += 3;
		span = 1000;
		if (*p == '.') {
			int nd = 0;
			p++;
			while (p[nd] >= '0' && p[nd] <= '9') {
				if (nd < 3)
					ms = ms * 10 + (p[nd] - '0');
				nd++;
				if (nd > 9)
					return PP_EINVAL;
			}
			if (!nd)
				return PP_EINVAL;
			for (int i = nd; i < 3; i++)
				ms *= 10;
			p += nd;
			span = 1;
		}
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		tzsign = *p == '-' ? -1 : 1;
		if (!digits(p + 1, 2, &tzh) || tzh > 14 || p[3] != ':' || !digits(p + 4, 2, &tzm) ||
		    tzm > 59)
			return PP_EINVAL;
		p += 6;
	}
	if (*p)
		return PP_EINVAL;
	base += ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + ms;
	base -= (int64_t)tzsign * ((int64_t)tzh * 3600 + tzm * 60) * 1000;
	*lo_ms = base;
	*hi_ms = base + span;
	return PP_OK;
}

bool pp_fhir_date_matches(const pp_fhir_date *p, int64_t lo, int64_t hi)
{
	bool eq = lo >= p->lo_ms && hi <= p->hi_ms;

	switch (p->prefix) {
	case PP_FHIR_PFX_EQ: return eq;
	case PP_FHIR_PFX_NE: return !eq;
	case PP_FHIR_PFX_GT: return hi > p->hi_ms;
	case PP_FHIR_PFX_LT: return lo < p->lo_ms;
	case PP_FHIR_PFX_GE: return hi > p->lo_ms;
	case PP_FHIR_PFX_LE: return lo < p->hi_ms;
	case PP_FHIR_PFX_SA: return lo >= p->hi_ms;
	case PP_FHIR_PFX_EB: return hi <= p->lo_ms;
	case PP_FHIR_PFX_AP: return lo < p->hi_ms && hi > p->lo_ms;
	}
	return false;
}

/* the range of a date-ish element: a date/dateTime/instant string or a Period */
static bool element_range(const json_t *v, int64_t *lo, int64_t *hi)
{
	int64_t a, b;

	if (json_is_string(v))
		return pp_fhir_date_parse(json_string_value(v), lo, hi) == PP_OK;
	if (json_is_object(v)) {
		const char *start = pp_fhir_str(v, "start"), *end = pp_fhir_str(v, "end");
		if (!start && !end)
			return false;
		*lo = INT64_MIN;
		*hi = INT64_MAX;
		if (start) {
			if (pp_fhir_date_parse(start, &a, &b))
				return false;
			*lo = a;
		}
		if (end) {
			if (pp_fhir_date_parse(end, &a, &b))
				return false;
			*hi = b;
		}
		return *lo < *hi;
	}
	return false;
}

/* ---- tokens ---- */

static bool coding_matches(const pp_fhir_token *t, const char *system, const char *code)
{
	if (t->code[0] && (!code || strcmp(code, t->code)))
		return false;
	if (t->any_system)
		return true;
	if (t->no_system)
		return !system;
	return system && !strcmp(system, t->system);
}

bool pp_fhir_token_matches(const pp_fhir_token *t, const json_t *el)
{
	json_t *codings;
	size_t i;
	json_t *c;

	if (!t || !el)
		return false;
	if (json_is_string(el))   /* a code: its system is implied by the element */
		return t->code[0] && !strcmp(json_string_value(el), t->code);
	if (json_is_boolean(el))
		return !strcmp(t->code, json_is_true(el) ? "true" : "false");
	if (!json_is_object(el))
		return false;
	codings = json_object_get(el, "coding");
	if (json_is_array(codings)) {
		json_array_foreach(codings, i, c)
			if (json_is_object(c) &&
			    coding_matches(t, pp_fhir_str(c, "system"), pp_fhir_str(c, "code")))
				return true;
		return false;
	}
	if (json_object_get(el, "value"))   /* Identifier */
		return coding_matches(t, pp_fhir_str(el, "system"), pp_fhir_str(el, "value"));
	return coding_matches(t, pp_fhir_str(el, "system"), pp_fhir_str(el, "code"));
}

/* ---- strings: case-insensitive "starts with" against any text under the element ---- */

static bool prefix_ci(const char *s, const char *pfx)
{
	for (; *pfx; s++, pfx++)
		if (!*s || tolower((unsigned char)*s) != tolower((unsigned char)*pfx))
			return false;
	return true;
}

static bool string_matches(const char *want, const json_t *el, int depth)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > 6)
		return false;
	if (json_is_string(el))
		return prefix_ci(json_string_value(el), want);
	if (json_is_array(el)) {
		json_array_foreach((json_t *)el, i, x)
			if (string_matches(want, x, depth + 1))
				return true;
	} else if (json_is_object(el)) {
		json_object_foreach((json_t *)el, k, x)
			if (strcmp(k, "system") && strcmp(k, "use") && string_matches(want, x, depth + 1))
				return true;
	}
	return false;
}

/* ---- walking element paths ---- */

typedef bool (*visit_fn)(void *ctx, const json_t *el);

/* visits every element reached by path (one segment of a "|" list, given as [p, end)), flattening
 * arrays; true as soon as fn says so */
static bool walk(const json_t *v, const char *p, const char *end, void *ctx, visit_fn fn)
{
	char key[64];
	const char *dot;
	size_t n, i;
	json_t *x;

	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, x)
			if (walk(x, p, end, ctx, fn))
				return true;
		return false;
	}
	if (p >= end)
		return fn(ctx, v);
	if (!json_is_object(v))
		return false;
	dot = memchr(p, '.', (size_t)(end - p));
	n = (size_t)((dot ? dot : end) - p);
	if (n == 0 || n >= sizeof key)
		return false;
	memcpy(key, p, n);
	key[n] = '\0';
	x = json_object_get(v, key);
	if (!x)
		return false;
	return walk(x, dot ? dot + 1 : end, end, ctx, fn);
}

static bool walk_paths(const json_t *res, const char *paths, void *ctx, visit_fn fn)
{
	const char *p = paths;

	while (*p) {
		const char *bar = strchr(p, '|');
		const char *end = bar ? bar : p + strlen(p);
		if (walk(res, p, end, ctx, fn))
			return true;
		p = bar ? bar + 1 : end;
	}
	return false;
}

static bool visit_token(void *ctx, const json_t *el)
{
	const pp_fhir_filter *f = ctx;

	for (int i = 0; i < f->nvalues; i++)
		if (pp_fhir_token_matches(&f->v.tokens[i], el))
			return true;
	return false;
}

static bool visit_date(void *ctx, const json_t *el)
{
	const pp_fhir_filter *f = ctx;
	int64_t lo, hi;

	if (!element_range(el, &lo, &hi))
		return false;
	for (int i = 0; i < f->nvalues; i++)
		if (pp_fhir_date_matches(&f->v.dates[i], lo, hi))
			return true;
	return false;
}

static bool visit_string(void *ctx, const json_t *el)
{
	const pp_fhir_filter *f = ctx;

	for (int i = 0; i < f->nvalues; i++)
		if (string_matches(f->v.strings[i], el, 0))
			return true;
	return false;
}

bool pp_fhir_search_needs_body(const pp_fhir_search *s)
{
	return !s || s->nfilters > 0 || s->sort == PP_FHIR_SORT_DATE ||
	       s->sort == PP_FHIR_SORT_DATE_DESC;
}

bool pp_fhir_search_match_row(const pp_fhir_search *s, const char *pub_id,
                              int64_t last_updated_ms)
{
	if (!s)
		return false;
	if (s->nids) {
		bool any = false;
		for (int i = 0; i < s->nids && !any; i++)
			any = pub_id && !strcmp(pub_id, s->ids[i]);
		if (!any)
			return false;
	}
	for (int i = 0; i < s->nlast_updated; i++)
		if (!pp_fhir_date_matches(&s->last_updated[i], last_updated_ms, last_updated_ms + 1))
			return false;
	return true;
}

bool pp_fhir_search_match(const pp_fhir_search *s, const json_t *res, const char *pub_id,
                          int64_t last_updated_ms)
{
	if (!s || !json_is_object(res) || !pp_fhir_search_match_row(s, pub_id, last_updated_ms))
		return false;
	for (int i = 0; i < s->nfilters; i++) {
		const pp_fhir_filter *f = &s->filters[i];
		visit_fn fn = f->def->kind == PP_FHIR_PARAM_TOKEN ? visit_token
		              : f->def->kind == PP_FHIR_PARAM_DATE ? visit_date : visit_string;
		if (!walk_paths(res, f->def->paths, (void *)f, fn))
			return false;
	}
	return true;
}

/* the earliest start of the element reached by the sort path */
static bool visit_sort(void *ctx, const json_t *el)
{
	int64_t lo, hi;
	int64_t *key = ctx;

	if (!element_range(el, &lo, &hi))
		return false;
	*key = lo;
	return true;
}

int64_t pp_fhir_search_sort_key(const pp_fhir_search *s, const json_t *res,
                                int64_t last_updated_ms)
{
	const pp_fhir_param_def *d;
	int64_t key = INT64_MIN;

	if (!s)
		return INT64_MIN;
	if (s->sort == PP_FHIR_SORT_UPDATED || s->sort == PP_FHIR_SORT_UPDATED_DESC)
		return last_updated_ms;
	if (!(d = sort_date_def(s->type)))
		return INT64_MIN;
	walk_paths(res, d->paths, &key, visit_sort);
	return key;
}

/* ---- the parser ---- */

static int fail(pp_fhir_search *s, const char *what, const char *name)
{
	char safe[40];
	size_t j = 0;

	/* parameter names come from the client: keep only characters that cannot carry much */
	for (size_t i = 0; name && name[i] && j < sizeof safe - 1; i++) {
		char ch = name[i];
		if (isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == ':' || ch == '.')
			safe[j++] = ch;
	}
	safe[j] = '\0';
	snprintf(s->error, sizeof s->error, "%s%s%s", what, j ? ": " : "", safe);
	return PP_EINVAL;
}

/* splits value on unescaped sep into out[] (max n); "\\<sep>" becomes sep, every other escape
 * ("\\|", "\\$", "\\\\") is kept for the value's own parser. Returns the count, or -1 when there
 * are more than n, an item is too long or empty. */
static int split_escaped(const char *value, char sep, char (*out)[256], int n)
{
	int k = 0;
	size_t j = 0;

	for (const char *p = value;; p++) {
		if (*p == '\\' && p[1]) {
			if (j >= 254)
				return -1;
			if (p[1] != sep)
				out[k][j++] = '\\';
			out[k][j++] = *++p;
			continue;
		}
		if (*p == sep || !*p) {
			out[k][j] = '\0';
			if (j == 0)
				return -1;
			k++;
			j = 0;
			if (!*p)
				return k;
			if (k >= n)
				return -1;
			continue;
		}
		if (j >= 255)
			return -1;
		out[k][j++] = *p;
	}
}

/* removes the remaining escapes of one value in place */
static void unescape(char *v)
{
	char *w = v;

	for (const char *p = v; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		*w++ = *p;
	}
	*w = '\0';
}

static int parse_token(const char *alt, pp_fhir_token *t)
{
	const char *bar = NULL;
	char sys[256];
	size_t j = 0;

	memset(t, 0, sizeof *t);
	/* alt is already unescaped for ','; find the first unescaped '|' */
	for (const char *p = alt; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == '|') {
			bar = p;
			break;
		}
	}
	if (!bar) {
		if (strlen(alt) >= sizeof t->code)
			return PP_EINVAL;
		snprintf(t->code, sizeof t->code, "%s", alt);
		unescape(t->code);
		t->any_system = true;
		return t->code[0] ? PP_OK : PP_EINVAL;
	}
	for (const char *p = alt; p < bar; p++) {
		if (*p == '\\' && p + 1 < bar)
			p++;
		if (j >= sizeof t->system - 1)
			return PP_EINVAL;
		sys[j++] = *p;
	}
	sys[j] = '\0';
	memcpy(t->system, sys, j + 1);
	j = 0;
	for (const char *p = bar + 1; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		if (j >= sizeof t->code - 1)
			return PP_EINVAL;
		t->code[j++] = *p;
	}
	t->code[j] = '\0';
	t->no_system = t->system[0] == '\0';
	if (t->no_system && !t->code[0])
		return PP_EINVAL;   /* "|" alone */
	return PP_OK;
}

static int parse_date_value(const char *alt, pp_fhir_date *d)
{
	static const char *const pfx[] = {"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"};

	memset(d, 0, sizeof *d);
	d->prefix = PP_FHIR_PFX_EQ;
	if (isalpha((unsigned char)alt[0])) {
		int i;
		for (i = 0; i < 9; i++)
			if (!strncmp(alt, pfx[i], 2))
				break;
		if (i == 9)
			return PP_EINVAL;
		d->prefix = (enum pp_fhir_prefix)i;
		alt += 2;
	}
	return pp_fhir_date_parse(alt, &d->lo_ms, &d->hi_ms);
}

/* percent-encodes s for a query string into b */
static int enc(pp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
		if (isalnum(*p) || strchr("-._~:/", *p)) {
			rc = pp_buf_append(b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			rc = pp_buf_append(b, e, 3);
		}
	}
	return rc;
}

typedef struct accepted {
	const char *key, *value;
} accepted;

static int cmp_accepted(const void *a, const void *b)
{
	const accepted *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static int ignore(pp_fhir_search *s, bool strict, const char *name, const char *why)
{
	if (strict)
		return fail(s, why, name);
	if (s->nignored < PP_FHIR_SEARCH_MAX_IGNORED) {
		char *dst = s->ignored[s->nignored++];
		size_t j = 0;
		for (size_t i = 0; name[i] && j < sizeof s->ignored[0] - 1; i++)
			if (isalnum((unsigned char)name[i]) || strchr("_-:.", name[i]))
				dst[j++] = name[i];
		dst[j] = '\0';
	}
	return PP_OK;
}

/* "Patient/<id>", "<id>" or "<base>/Patient/<id>" → id */
static int patient_ref(const char *v, char *out, size_t cap)
{
	const char *id = v, *slash = strrchr(v, '/');

	if (slash) {
		size_t plen = (size_t)(slash - v);
		if (plen < 7 || strncmp(slash - 7, "Patient", 7) || (plen > 7 && slash[-8] != '/'))
			return PP_EINVAL;
		id = slash + 1;
	}
	if (!pp_fhir_valid_id(id) || strlen(id) >= cap)
		return PP_EINVAL;
	snprintf(out, cap, "%s", id);
	return PP_OK;
}

static int one_param(pp_fhir_search *s, bool strict, const char *key, const char *value,
                     bool *accept)
{
	char (*alts)[256] = NULL;
	int n, rc = PP_OK;

	*accept = true;
	/* result parameters: once each (a second value would make the links ambiguous) */
	{
		static const char *const once[] = {"_cursor", "_format", "_count", "_summary", "_sort"};
		for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
			if (strcmp(key, once[i]))
				continue;
			if (s->seen_once & (1u << i))
				return fail(s, "Parameter may appear once", key);
			s->seen_once |= 1u << i;
		}
	}
	if (!strcmp(key, "_cursor")) {
		*accept = false;
		if (strlen(value) >= sizeof s->cursor)
			return fail(s, "Invalid page cursor", NULL);
		snprintf(s->cursor, sizeof s->cursor, "%s", value);
		return PP_OK;
	}
	if (!strcmp(key, "_format")) {
		if (!strcmp(value, "json") || !strcmp(value, "application/json") ||
		    !strcmp(value, "application/fhir+json")) {
			return PP_OK;
		}
		if (strstr(value, "xml")) {
			s->want_xml = true;
			return PP_OK;
		}
		*accept = false;
		return ignore(s, strict, key, "Unsupported _format");
	}
	if (!strcmp(key, "_count")) {
		long v;
		char *end;
		if (!*value || strspn(value, "0123456789") != strlen(value) || strlen(value) > 9)
			return fail(s, "Invalid value for parameter", key);
		v = strtol(value, &end, 10);
		s->count = v > PP_FHIR_COUNT_MAX ? PP_FHIR_COUNT_MAX : (int)v;
		return PP_OK;
	}
	if (!strcmp(key, "_summary")) {
		if (!strcmp(value, "count"))
			s->summary_count = true;
		else if (strcmp(value, "false")) {
			*accept = false;
			return ignore(s, strict, key, "Unsupported _summary");
		}
		return PP_OK;
	}
	if (!strcmp(key, "_sort")) {
		/* only the first key is honoured; a second one adds nothing to date-only sorting */
		char first[64];
		const char *comma = strchr(value, ',');
		size_t len = comma ? (size_t)(comma - value) : strlen(value);
		if (len >= sizeof first)
			return fail(s, "Invalid value for parameter", key);
		memcpy(first, value, len);
		first[len] = '\0';
		if (!strcmp(first, "_lastUpdated"))
			s->sort = PP_FHIR_SORT_UPDATED;
		else if (!strcmp(first, "-_lastUpdated"))
			s->sort = PP_FHIR_SORT_UPDATED_DESC;
		else if (!strcmp(first, "date") && sort_date_def(s->type))
			s->sort = PP_FHIR_SORT_DATE;
		else if (!strcmp(first, "-date") && sort_date_def(s->type))
			s->sort = PP_FHIR_SORT_DATE_DESC;
		else {
			*accept = false;
			return ignore(s, strict, key, "Unsupported _sort");
		}
		return PP_OK;
	}

	alts = calloc(PP_FHIR_SEARCH_MAX_VALUES, sizeof *alts);
	if (!alts)
		return PP_ENOMEM;
	if (!strcmp(key, "_id")) {
		if ((n = split_escaped(value, ',', alts, PP_FHIR_SEARCH_MAX_VALUES)) < 0 ||
		    s->nids > 0) {
			rc = fail(s, s->nids ? "Parameter may appear once" : "Invalid value for parameter",
			          key);
			goto out;
		}
		for (int i = 0; i < n; i++) {
			unescape(alts[i]);
			if (!pp_fhir_valid_id(alts[i]) || strlen(alts[i]) >= sizeof s->ids[0] ||
			    s->nids >= PP_FHIR_SEARCH_MAX_IDS) {
				rc = fail(s, "Invalid value for parameter", key);
				goto out;
			}
			snprintf(s->ids[s->nids++], sizeof s->ids[0], "%s", alts[i]);
		}
		goto out;
	}
	if (!strcmp(key, "_lastUpdated")) {
		if (s->nlast_updated >= 4 || strchr(value, ',')) {
			rc = fail(s, "Invalid value for parameter", key);
			goto out;
		}
		if (parse_date_value(value, &s->last_updated[s->nlast_updated])) {
			rc = fail(s, "Invalid date in parameter", key);
			goto out;
		}
		s->nlast_updated++;
		goto out;
	}
	if ((!strcmp(key, "patient") && has_patient_param(s->type)) ||
	    (!strcmp(key, "subject") && has_subject_param(s->type))) {
		char id[64];
		if (strchr(value, ',') || patient_ref(value, id, sizeof id)) {
			rc = fail(s, "Invalid patient reference in parameter", key);
			goto out;
		}
		if (s->patient[0] && strcmp(s->patient, id)) {
			rc = fail(s, "Only one patient per search", key);
			goto out;
		}
		snprintf(s->patient, sizeof s->patient, "%s", id);
		goto out;
	}
	{
		const pp_fhir_param_def *d = find_def(s->type, key);
		pp_fhir_filter *f;

		if (!d) {
			*accept = false;
			rc = ignore(s, strict, key, key[0] == '_' || strchr(key, ':')
			                            ? "Unsupported parameter or modifier"
			                            : "Unknown search parameter");
			goto out;
		}
		if (s->nfilters >= PP_FHIR_SEARCH_MAX_FILTERS) {
			rc = fail(s, "Too many search parameters", NULL);
			goto out;
		}
		if ((n = split_escaped(value, ',', alts, PP_FHIR_SEARCH_MAX_VALUES)) < 0) {
			rc = fail(s, "Invalid value for parameter", key);
			goto out;
		}
		f = &s->filters[s->nfilters];
		memset(f, 0, sizeof *f);
		f->def = d;
		for (int i = 0; i < n; i++) {
			int bad = 0;
			if (d->kind == PP_FHIR_PARAM_TOKEN)
				bad = parse_token(alts[i], &f->v.tokens[i]);
			else if (d->kind == PP_FHIR_PARAM_DATE)
				bad = parse_date_value(alts[i], &f->v.dates[i]);
			else if (unescape(alts[i]), strlen(alts[i]) >= sizeof f->v.strings[0])
				bad = 1;
			else
				snprintf(f->v.strings[i], sizeof f->v.strings[0], "%s", alts[i]);
			if (bad) {
				rc = fail(s, d->kind == PP_FHIR_PARAM_DATE ? "Invalid date in parameter"
				                                          : "Invalid value for parameter", key);
				goto out;
			}
		}
		f->nvalues = n;
		s->nfilters++;
	}
out:
	free(alts);
	return rc;
}

/* Every member a reader may look at before any parameter is added: the arrays are read only up to
 * their counts, and each element is written whole when it is added (a filter is zeroed first). The
 * struct is 45 KiB, most of it arrays: zeroing it all cost more than the rest of parsing and
 * flushed the CPU caches on every search. */
static void search_init(pp_fhir_search *s)
{
	s->type = NULL;
	s->patient[0] = '\0';
	s->nids = 0;
	s->count = PP_FHIR_COUNT_DEFAULT;
	s->summary_count = false;
	s->want_xml = false;
	s->sort = PP_FHIR_SORT_NONE;
	s->nlast_updated = 0;
	s->nfilters = 0;
	s->cursor[0] = '\0';
	s->norm[0] = '\0';
	s->nignored = 0;
	s->error[0] = '\0';
	s->seen_once = 0;
}

int pp_fhir_search_parse(const char *type, const char *query, bool strict, pp_fhir_search *out)
{
	char *buf = NULL;
	pp_http_kv kv[PAIRS_MAX];
	accepted acc[PAIRS_MAX];
	int n, nacc = 0, rc = PP_OK;
	pp_buf norm;

	if (!out)
		return PP_EINVAL;
	search_init(out);
	pp_buf_init(&norm, PP_FHIR_NORM_MAX - 1);
	if (!(out->type = pp_fhir_known_type(type)) && !(out->type = pp_fhir_portal_type(type)))
		return fail(out, "Unknown resource type", NULL);
	if (!query)
		query = "";
	if (strlen(query) > QUERY_MAX)
		return fail(out, "Query too long", NULL);
	if (!(buf = pp_strdup(query)))
		return PP_ENOMEM;
	n = pp_http_parse_query(buf, kv, PAIRS_MAX);
	if (n < 0) {
		rc = fail(out, n == PP_ETOOBIG ? "Too many parameters" : "Malformed query string", NULL);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		bool accept;
		if (!kv[i].value[0])
			continue;   /* FHIR: a parameter without a value is ignored */
		if ((rc = one_param(out, strict, kv[i].key, kv[i].value, &accept)))
			goto out;
		if (accept) {
			acc[nacc].key = kv[i].key;
			acc[nacc].value = kv[i].value;
			nacc++;
		}
	}
	qsort(acc, (size_t)nacc, sizeof acc[0], cmp_accepted);
	for (int i = 0; i < nacc; i++) {
		if ((i && (rc = pp_buf_append(&norm, "&", 1))) || (rc = enc(&norm, acc[i].key)) ||
		    (rc = pp_buf_append(&norm, "=", 1)) || (rc = enc(&norm, acc[i].value))) {
			rc = fail(out, "Query too long", NULL);
			goto out;
		}
	}
	snprintf(out->norm, sizeof out->norm, "%s", norm.len ? pp_buf_cstr(&norm) : "");
out:
	pp_buf_free(&norm);
	if (buf) {
		pp_wipe(buf, strlen(query));
		free(buf);
	}
	return rc;
}
