/* oauth: SMART App Launch scopes (v2 "patient/Observation.rs?category=laboratory", wildcards,
 * user/ and system/ contexts, v1 ".read/.write/.*" forms) — parsing, the allow decision used by
 * /fhir, intersections for granting, canonical formatting and plain-language descriptions. */
#include "oauth/oauth_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#define SCOPE_TEXT_MAX 2048
#define ALL_BITS (PP_SCOPE_C | PP_SCOPE_R | PP_SCOPE_U | PP_SCOPE_D | PP_SCOPE_S)

static bool valid_type(const char *t, size_t n)
{
	if (n == 1 && t[0] == '*')
		return true;
	if (n == 0 || n >= sizeof(((pp_scope *)0)->resource_type) || !isupper((unsigned char)t[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]))
			return false;
	return true;
}

/* v2 letters in the fixed order c r u d s, each at most once */
static int parse_letters(const char *p, size_t n, unsigned *bits)
{
	static const char order[] = "cruds";
	static const unsigned bit[] = {PP_SCOPE_C, PP_SCOPE_R, PP_SCOPE_U, PP_SCOPE_D, PP_SCOPE_S};
	size_t pos = 0;

	*bits = 0;
	if (n == 0)
		return PP_EINVAL;
	for (size_t i = 0; i < n; i++) {
		while (pos < 5 && order[pos] != p[i])
			pos++;
		if (pos == 5)
			return PP_EINVAL;
		*bits |= bit[pos++];
	}
	return PP_OK;
}

static int parse_resource(const char *tok, size_t n, pp_scope *sc)
{
	const char *slash = memchr(tok, '/', n), *dot, *q, *end = tok + n, *eq;
	size_t clen, plen;

	memset(sc, 0, sizeof *sc);
	if (!slash)
		return PP_EINVAL;
	clen = (size_t)(slash - tok);
	if (clen == 7 && !memcmp(tok, "patient", 7)) sc->context = PP_SCOPE_PATIENT;
	else if (clen == 4 && !memcmp(tok, "user", 4)) sc->context = PP_SCOPE_USER;
	else if (clen == 6 && !memcmp(tok, "system", 6)) sc->context = PP_SCOPE_SYSTEM;
	else return PP_EINVAL;
	q = memchr(slash + 1, '?', (size_t)(end - slash - 1));
	dot = memchr(slash + 1, '.', (size_t)((q ? q : end) - slash - 1));
	if (!dot || !valid_type(slash + 1, (size_t)(dot - slash - 1)))
		return PP_EINVAL;
	memcpy(sc->resource_type, slash + 1, (size_t)(dot - slash - 1));
	plen = (size_t)((q ? q : end) - dot - 1);
	if (plen == 4 && !memcmp(dot + 1, "read", 4)) {
		sc->interactions = PP_SCOPE_R | PP_SCOPE_S;
		sc->v1 = true;
	} else if (plen == 5 && !memcmp(dot + 1, "write", 5)) {
		sc->interactions = PP_SCOPE_C | PP_SCOPE_U | PP_SCOPE_D;
		sc->v1 = true;
	} else if (plen == 1 && dot[1] == '*') {
		sc->interactions = ALL_BITS;
		sc->v1 = true;
	} else if (parse_letters(dot + 1, plen, &sc->interactions)) {
		return PP_EINVAL;
	}
	if (q) {
		/* one granular restriction: name=value (v1 forms take none) */
		size_t qlen = (size_t)(end - q - 1);
		if (sc->v1 || qlen == 0 || memchr(q + 1, '&', qlen))
			return PP_EINVAL;
		eq = memchr(q + 1, '=', qlen);
		if (!eq || eq == q + 1 || eq + 1 == end)
			return PP_EINVAL;
		if ((size_t)(eq - q - 1) >= sizeof sc->param_name ||
		    (size_t)(end - eq - 1) >= sizeof sc->param_value)
			return PP_EINVAL;
		for (const char *c = q + 1; c < eq; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != ':')
				return PP_EINVAL;
		for (const char *c = eq + 1; c < end; c++)
			if ((unsigned char)*c <= 0x20 || *c == '"' || *c == '\\' || (unsigned char)*c >= 0x7f)
				return PP_EINVAL;
		memcpy(sc->param_name, q + 1, (size_t)(eq - q - 1));
		memcpy(sc->param_value, eq + 1, (size_t)(end - eq - 1));
	}
	return PP_OK;
}

static bool same_scope(const pp_scope *a, const pp_scope *b)
{
	return a->context == b->context && a->interactions == b->interactions &&
	       !strcmp(a->resource_type, b->resource_type) && !strcmp(a->param_name, b->param_name) &&
	       !strcmp(a->param_value, b->param_value);
}

static int add_scope(pp_scope_set *set, const pp_scope *sc)
{
	for (int i = 0; i < set->n; i++)
		if (same_scope(&set->items[i], sc))
			return PP_OK;
	if (set->n >= PP_SCOPE_MAX)
		return PP_ETOOBIG;
	set->items[set->n++] = *sc;
	return PP_OK;
}

static bool tok_is(const char *tok, size_t n, const char *word)
{
	return strlen(word) == n && !memcmp(tok, word, n);
}

int pp_oauth_scope_parse(const char *text, pp_scope_set *out)
{
	const char *p;
	int count = 0, rc;

	if (!out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	if (!text)
		return PP_EINVAL;
	if (strlen(text) > SCOPE_TEXT_MAX)
		return PP_ETOOBIG;
	p = text;
	while (*p) {
		const char *start;
		size_t n;
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ' ')
			p++;
		n = (size_t)(p - start);
		for (size_t i = 0; i < n; i++)   /* RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E */
			if ((unsigned char)start[i] < 0x21 || start[i] == '"' || start[i] == '\\' ||
			    (unsigned char)start[i] > 0x7e)
				return PP_EINVAL;
		if (++count > PP_SCOPE_MAX)
			return PP_ETOOBIG;
		if (tok_is(start, n, "openid")) out->openid = true;
		else if (tok_is(start, n, "fhirUser")) out->fhir_user = true;
		else if (tok_is(start, n, "profile")) out->profile = true;
		else if (tok_is(start, n, "offline_access")) out->offline_access = true;
		else if (tok_is(start, n, "online_access")) out->online_access = true;
		else if (tok_is(start, n, "launch")) out->launch = true;
		else if (tok_is(start, n, "launch/patient")) out->launch_patient = true;
		else if ((n > 8 && !strncmp(start, "patient/", 8)) || (n > 5 && !strncmp(start, "user/", 5)) ||
		         (n > 7 && !strncmp(start, "system/", 7))) {
			pp_scope sc;
			if ((rc = parse_resource(start, n, &sc)))
				return rc;
			if ((rc = add_scope(out, &sc)))
				return rc;
		}
		/* anything else (launch/encounter, unknown extensions) is ignored: a server may grant less */
	}
	return PP_OK;
}

/* does a resource (json_t *) carry the code named by value ("code" or "system|code") in field? */
static bool coding_matches(json_t *coding, const char *value)
{
	const char *bar = strchr(value, '|');
	const char *sys = json_string_value(json_object_get(coding, "system"));
	const char *code = json_string_value(json_object_get(coding, "code"));

	if (!code)
		return false;
	if (!bar)
		return !strcmp(code, value);
	if (strcmp(code, bar + 1))
		return false;
	if (bar == value)   /* "|code": no system */
		return sys == NULL;
	return sys && strlen(sys) == (size_t)(bar - value) && !strncmp(sys, value, (size_t)(bar - value));
}

static bool value_matches(json_t *v, const char *value)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return !strchr(value, '|') && !strcmp(json_string_value(v), value);
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (value_matches(e, value))
				return true;
		return false;
	}
	if (!json_is_object(v))
		return false;
	if (json_object_get(v, "code"))   /* a Coding */
		return coding_matches(v, value);
	json_array_foreach(json_object_get(v, "coding"), i, e)   /* a CodeableConcept */
		if (coding_matches(e, value))
			return true;
	return false;
}

static bool param_matches(const pp_scope *sc, const void *resource)
{
	json_t *res = (json_t *)resource;

	if (!sc->param_name[0] || !res)
		return true;
	if (!json_is_object(res))
		return false;
	return value_matches(json_object_get(res, sc->param_name), sc->param_value);
}

bool pp_oauth_scope_allows(const pp_scope_set *set, enum pp_scope_context ctx,
                           const char *resource_type, unsigned interaction, const void *resource_json)
{
	if (!set || !resource_type || !interaction)
		return false;
	for (int i = 0; i < set->n; i++) {
		const pp_scope *sc = &set->items[i];
		if (sc->context != ctx)
			continue;
		if (strcmp(sc->resource_type, "*") && strcmp(sc->resource_type, resource_type))
			continue;
		if ((sc->interactions & interaction) != interaction)
			continue;
		if (param_matches(sc, resource_json))
			return true;
	}
	return false;
}

static int format_one(const pp_scope *sc, pp_buf *out)
{
	static const char *const ctx[] = {"", "patient", "user", "system"};
	char letters[6];
	int n = 0;

	if (sc->v1 && !sc->param_name[0]) {
		const char *v1 = sc->interactions == ALL_BITS ? "*" :
		                 sc->interactions == (PP_SCOPE_R | PP_SCOPE_S) ? "read" :
		                 sc->interactions == (PP_SCOPE_C | PP_SCOPE_U | PP_SCOPE_D) ? "write" : NULL;
		if (v1)
			return pp_buf_appendf(out, "%s/%s.%s", ctx[sc->context], sc->resource_type, v1);
	}
	if (sc->interactions & PP_SCOPE_C) letters[n++] = 'c';
	if (sc->interactions & PP_SCOPE_R) letters[n++] = 'r';
	if (sc->interactions & PP_SCOPE_U) letters[n++] = 'u';
	if (sc->interactions & PP_SCOPE_D) letters[n++] = 'd';
	if (sc->interactions & PP_SCOPE_S) letters[n++] = 's';
	letters[n] = '\0';
	if (sc->param_name[0])
		return pp_buf_appendf(out, "%s/%s.%s?%s=%s", ctx[sc->context], sc->resource_type, letters,
		                      sc->param_name, sc->param_value);
	return pp_buf_appendf(out, "%s/%s.%s", ctx[sc->context], sc->resource_type, letters);
}

int pp_oauth_scope_format(const pp_scope_set *set, pp_buf *out)
{
	struct { bool on; const char *word; } flags[] = {
		{set ? set->openid : false, "openid"}, {set ? set->fhir_user : false, "fhirUser"},
		{set ? set->profile : false, "profile"}, {set ? set->launch : false, "launch"},
		{set ? set->launch_patient : false, "launch/patient"},
		{set ? set->offline_access : false, "offline_access"},
		{set ? set->online_access : false, "online_access"},
	};
	bool first = true;
	int rc;

	if (!set || !out || set->n < 0 || set->n > PP_SCOPE_MAX)
		return PP_EINVAL;
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (!flags[i].on)
			continue;
		if ((rc = pp_buf_appendf(out, "%s%s", first ? "" : " ", flags[i].word)))
			return rc;
		first = false;
	}
	for (int i = 0; i < set->n; i++) {
		if (!first && (rc = pp_buf_appends(out, " ")))
			return rc;
		if ((rc = format_one(&set->items[i], out)))
			return rc;
		first = false;
	}
	pp_buf_cstr(out);
	return PP_OK;
}

int pp_oauth_scope_intersect(const pp_scope_set *req, const pp_scope_set *allowed, pp_scope_set *out)
{
	int rc;

	if (!req || !allowed || !out)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	out->openid = req->openid && allowed->openid;
	out->fhir_user = req->fhir_user && allowed->fhir_user;
	out->profile = req->profile && allowed->profile;
	out->offline_access = req->offline_access && allowed->offline_access;
	out->online_access = req->online_access && allowed->online_access;
	out->launch = req->launch && allowed->launch;
	out->launch_patient = req->launch_patient && allowed->launch_patient;
	for (int i = 0; i < req->n; i++) {
		const pp_scope *r = &req->items[i];
		for (int j = 0; j < allowed->n; j++) {
			const pp_scope *a = &allowed->items[j];
			pp_scope g;
			if (r->context != a->context)
				continue;
			if (strcmp(r->resource_type, "*") && strcmp(a->resource_type, "*") &&
			    strcmp(r->resource_type, a->resource_type))
				continue;
			if (r->param_name[0] && a->param_name[0] &&
			    (strcmp(r->param_name, a->param_name) || strcmp(r->param_value, a->param_value)))
				continue;
			memset(&g, 0, sizeof g);
			g.context = r->context;
			snprintf(g.resource_type, sizeof g.resource_type, "%s",
			         strcmp(r->resource_type, "*") ? r->resource_type : a->resource_type);
			g.interactions = r->interactions & a->interactions;
			if (!g.interactions)
				continue;
			const pp_scope *p = r->param_name[0] ? r : a;
			snprintf(g.param_name, sizeof g.param_name, "%s", p->param_name);
			snprintf(g.param_value, sizeof g.param_value, "%s", p->param_value);
			g.v1 = r->v1;
			if ((rc = add_scope(out, &g)))
				return rc;
		}
	}
	return PP_OK;
}

bool pp_oauth_scope_subset(const pp_scope_set *a, const pp_scope_set *b)
{
	if (!a || !b)
		return false;
	if ((a->openid && !b->openid) || (a->fhir_user && !b->fhir_user) || (a->profile && !b->profile) ||
	    (a->offline_access && !b->offline_access) || (a->online_access && !b->online_access) ||
	    (a->launch && !b->launch) || (a->launch_patient && !b->launch_patient))
		return false;
	for (int i = 0; i < a->n; i++) {
		const pp_scope *x = &a->items[i];
		bool covered = false;
		for (int j = 0; j < b->n && !covered; j++) {
			const pp_scope *y = &b->items[j];
			covered = x->context == y->context &&
			          (!strcmp(y->resource_type, "*") || !strcmp(y->resource_type, x->resource_type)) &&
			          (x->interactions & ~y->interactions) == 0 &&
			          (!y->param_name[0] || (!strcmp(x->param_name, y->param_name) &&
			                                 !strcmp(x->param_value, y->param_value)));
		}
		if (!covered)
			return false;
	}
	return true;
}

static const char *plain_words(const pp_scope *sc)
{
	static const struct { const char *type, *words; } names[] = {
		{"Patient", "Your name, date of birth and contact details"},
		{"Observation", "Your lab results and vital signs"},
		{"Condition", "Your health problems and diagnoses"},
		{"MedicationRequest", "Your medications"},
		{"AllergyIntolerance", "Your allergies"},
		{"Immunization", "Your immunizations"},
		{"Encounter", "Your visits"},
		{"Procedure", "Your procedures"},
		{"DocumentReference", "Your clinical documents and notes"},
		{"Device", "Your medical devices"},
		{"Practitioner", "The clinicians who care for you"},
		{"PractitionerRole", "The clinicians who care for you"},
		{"Organization", "The clinics and organisations that care for you"},
		{"Location", "The places where you received care"},
	};
	if (!strcmp(sc->resource_type, "Observation") && !strcmp(sc->param_name, "category")) {
		const char *v = strchr(sc->param_value, '|');
		v = v ? v + 1 : sc->param_value;
		if (!strcmp(v, "laboratory")) return "Your lab results";
		if (!strcmp(v, "vital-signs")) return "Your vital signs";
		if (!strcmp(v, "social-history")) return "Your social history (such as smoking status)";
	}
	if (!strcmp(sc->resource_type, "*"))
		return "Your whole health record";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(names[i].type, sc->resource_type))
			return names[i].words;
	return NULL;
}

json_t *pp_oauth_scope_describe(const pp_scope_set *set)
{
	json_t *list = json_array();

	if (!list || !set)
		return list;
	if (set->openid || set->fhir_user || set->profile)
		json_array_append_new(list, json_string("Who you are: your portal identity"));
	for (int i = 0; i < set->n; i++) {
		const pp_scope *sc = &set->items[i];
		const char *w = plain_words(sc);
		char line[200];
		bool writes = sc->interactions & (PP_SCOPE_C | PP_SCOPE_U | PP_SCOPE_D);
		bool dup = false;
		size_t k;
		json_t *e;

		if (w)
			snprintf(line, sizeof line, "%s%s", w, writes ? " (and may change them)" : "");
		else
			snprintf(line, sizeof line, "Your %s records%s", sc->resource_type,
			         writes ? " (and may change them)" : "");
		json_array_foreach(list, k, e)
			if (!strcmp(json_string_value(e), line))
				dup = true;
		if (!dup)
			json_array_append_new(list, json_string(line));
	}
	if (set->offline_access)
		json_array_append_new(list, json_string(
			"Keep access while you are not using the app, until you disconnect it"));
	return list;
}

void pp_oauth_scope_set_copy(pp_scope_set *dst, const pp_scope_set *src)
{
	int n = src->n < 0 ? 0 : src->n > PP_SCOPE_MAX ? PP_SCOPE_MAX : src->n;

	if (dst == src)
		return;
	memcpy(dst->items, src->items, (size_t)n * sizeof src->items[0]);
	/* the members after the items: the count and the non-resource scopes */
	memcpy((char *)dst + offsetof(pp_scope_set, n), (const char *)src + offsetof(pp_scope_set, n),
	       sizeof *src - offsetof(pp_scope_set, n));
}
