/* fhir: the FHIR R4 REST API — GET /fhir/metadata, read (GET /fhir/<Type>/<id>) and search
 * (GET /fhir/<Type>?...). Each PHI request goes: content negotiation → authentication → scope →
 * pp_policy_check → store/crypto → ONE pp_audit_record (fail closed: 503, no PHI) → response.
 *
 * Served resources carry the row's opaque pub_id as their id, meta.versionId/lastUpdated from the
 * store, and every Reference rewritten to served ids (see pp_fhir_serve_resource), written straight
 * from the stored text where it can be (serve_text). Searches with filters, a date sort or a
 * granular scope decrypt their candidates (one patient's compartment; for directory types and for
 * user/system callers without patient=, a scan capped at SCAN_MAX rows) and filter in memory; a
 * search that needs nothing from the bodies decides on the rows and decrypts only its page. Paging uses an opaque
 * cursor MAC'd over the normalised query, the offset and the caller (api_auth.c); the policy and
 * scope checks run again on every page. */
#include "fhir/api_internal.h"

#include <stdio.h>
#include <string.h>

#define SCAN_MAX 1000          /* rows a search without a patient may look at */
#define REFCACHE_MAX 512
#define SERVE_MAX ((size_t)64 << 20)   /* a served resource or Bundle */

/* ---- reference rewriting ---- */

typedef struct refcache {
	char **from, **to;         /* to[i] NULL: drop the reference */
	int n;
	uint64_t epoch;            /* the request's store epoch, for cache.c (0: none) */
} refcache;

static void refcache_free(refcache *rc)
{
	for (int i = 0; i < rc->n; i++) {
		free(rc->from[i]);
		free(rc->to[i]);
	}
	free(rc->from);
	free(rc->to);
	rc->from = rc->to = NULL;
	rc->n = 0;
}

static int lookup_pub(struct pp_store *st, struct pp_crypto *c, uint64_t epoch, const char *type,
                      const char *id, char *pub, size_t cap)
{
	uint8_t bidx[32];
	int rc;

	if (!pp_fhir_known_type(type) || !pp_fhir_valid_id(id))
		return PP_ENOTFOUND;
	if ((rc = pp_fhir_lid_bidx(c, type, id, bidx)))
		return rc;
	return pp_fhir_cache_pub_of_lid(st, epoch, type, bidx, pub, cap);
}

enum { REF_KEEP = 0, REF_REWRITE = 1, REF_DROP = 2 };

/* "Type/id" or "Type/id/_history/n" at p → type and id */
static bool split_relative(const char *p, char *type, size_t tcap, char *id, size_t icap)
{
	const char *slash = strchr(p, '/'), *end;

	if (!slash || (size_t)(slash - p) >= tcap)
		return false;
	memcpy(type, p, (size_t)(slash - p));
	type[slash - p] = '\0';
	end = strchr(slash + 1, '/');
	if (end && strncmp(end, "/_history/", 10))
		return false;
	if (!end)
		end = slash + 1 + strlen(slash + 1);
	if ((size_t)(end - slash - 1) >= icap)
		return false;
	memcpy(id, slash + 1, (size_t)(end - slash - 1));
	id[end - slash - 1] = '\0';
	return true;
}

static int resolve(struct pp_store *st, struct pp_crypto *c, uint64_t epoch, const char *ref,
                   char *out, size_t cap)
{
	char type[48], id[80], pub[48];
	int rc;

	if (ref[0] == '#' || strchr(ref, '?') || !strncmp(ref, "urn:oid:", 8))
		return REF_KEEP;   /* contained, conditional (left as received), OID */
	if (!strncmp(ref, "urn:uuid:", 9)) {
		/* a Bundle-internal reference does not say the type: try the ones we store */
		static const char *const order[] = {
			"Patient", "Encounter", "Practitioner", "Organization", "Location", "Condition",
			"Observation", "MedicationRequest", "Procedure", "Immunization",
			"AllergyIntolerance", "DocumentReference", "Device", "PractitionerRole",
		};
		for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
			rc = lookup_pub(st, c, epoch, order[i], ref + 9, pub, sizeof pub);
			if (!rc) {
				snprintf(out, cap, "%s/%s", order[i], pub);
				return REF_REWRITE;
			}
			if (rc != PP_ENOTFOUND)
				return rc;
		}
		return REF_DROP;
	}
	if (strstr(ref, "://")) {
		/* an absolute URL: ours when its tail names a stored resource, else another server's */
		const char *p = ref + strlen(ref);
		int slashes = 0;
		const char *hist = strstr(ref, "/_history/");
		const char *stop = hist ? hist : p;
		for (p = stop; p > ref; p--)
			if (p[-1] == '/' && ++slashes == 2)
				break;
		if (slashes == 2 && split_relative(p, type, sizeof type, id, sizeof id) &&
		    lookup_pub(st, c, epoch, type, id, pub, sizeof pub) == PP_OK) {
			snprintf(out, cap, "%s/%s", type, pub);
			return REF_REWRITE;
		}
		return REF_KEEP;
	}
	if (!split_relative(ref, type, sizeof type, id, sizeof id))
		return REF_DROP;
	rc = lookup_pub(st, c, epoch, type, id, pub, sizeof pub);
	pp_wipe(id, sizeof id);
	if (rc == PP_ENOTFOUND)
		return REF_DROP;
	if (rc)
		return rc;
	snprintf(out, cap, "%s/%s", type, pub);
	return REF_REWRITE;
}

static int resolve_cached(struct pp_store *st, struct pp_crypto *c, refcache *cache,
                          const char *ref, char *out, size_t cap)
{
	int rc;

	for (int i = 0; cache && i < cache->n; i++) {
		if (!strcmp(cache->from[i], ref)) {
			if (!cache->to[i])
				return REF_DROP;
			snprintf(out, cap, "%s", cache->to[i]);
			return REF_REWRITE;
		}
	}
	rc = resolve(st, c, cache ? cache->epoch : 0, ref, out, cap);
	if (cache && (rc == REF_REWRITE || rc == REF_DROP) && cache->n < REFCACHE_MAX) {
		if (!cache->from) {
			cache->from = calloc(REFCACHE_MAX, sizeof *cache->from);
			cache->to = calloc(REFCACHE_MAX, sizeof *cache->to);
			if (!cache->from || !cache->to)
				return PP_ENOMEM;
		}
		cache->from[cache->n] = pp_strdup(ref);
		cache->to[cache->n] = rc == REF_REWRITE ? pp_strdup(out) : NULL;
		if (!cache->from[cache->n]) {
			free(cache->to[cache->n]);
			return PP_ENOMEM;
		}
		cache->n++;
	}
	return rc;
}

static int rewrite_refs(struct pp_store *st, struct pp_crypto *c, refcache *cache, json_t *v,
                        int depth)
{
	const char *k;
	json_t *x;
	size_t i;
	int rc;

	if (depth > 64)
		return PP_ETOOBIG;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if ((rc = rewrite_refs(st, c, cache, x, depth + 1)))
				return rc;
		return PP_OK;
	}
	if (!json_is_object(v))
		return PP_OK;
	x = json_object_get(v, "reference");
	if (json_is_string(x)) {
		char out[128];
		rc = resolve_cached(st, c, cache, json_string_value(x), out, sizeof out);
		if (rc < 0)
			return rc;
		if (rc == REF_REWRITE) {
			if (json_object_set_new(v, "reference", json_string(out)))
				return PP_ENOMEM;
		} else if (rc == REF_DROP) {
			json_object_del(v, "reference");
			if (json_object_size(v) == 0 &&
			    json_object_set_new(v, "display", json_string("Not available")))
				return PP_ENOMEM;
		}
	}
	json_object_foreach(v, k, x) {
		if (!strcmp(k, "reference"))
			continue;
		if ((rc = rewrite_refs(st, c, cache, x, depth + 1)))
			return rc;
	}
	return PP_OK;
}

static int serve(struct pp_store *st, struct pp_crypto *c, refcache *cache, json_t *res,
                 const pp_store_resource *row)
{
	char ver[24], when[32];
	json_t *meta;
	int rc;

	if (!json_is_object(res) || !row)
		return PP_EINVAL;
	if ((rc = rewrite_refs(st, c, cache, res, 0)))
		return rc;
	snprintf(ver, sizeof ver, "%d", row->version > 0 ? row->version : 1);
	pp_clock_format_iso(row->last_updated_ms, when);
	meta = json_object_get(res, "meta");
	if (!json_is_object(meta)) {
		meta = json_object();
		if (!meta || json_object_set_new(res, "meta", meta))
			return PP_ENOMEM;
	}
	if (json_object_set_new(res, "id", json_string(row->pub_id)) ||
	    json_object_set_new(meta, "versionId", json_string(ver)) ||
	    json_object_set_new(meta, "lastUpdated", json_string(when)))
		return PP_ENOMEM;
	return PP_OK;
}

int pp_fhir_serve_resource(struct pp_store *st, struct pp_crypto *c, json_t *res,
                           const void *stored_resource)
{
	refcache cache = {0};
	int rc = serve(st, c, &cache, res, stored_resource);

	refcache_free(&cache);
	return rc;
}

/* ---- serving straight from the stored text ----
 * A stored body is jansson's compact dump of the resource (pp_fhir_store_resource), so its served
 * form can be made by copying that text and splicing in the new id, meta.versionId/lastUpdated and
 * the rewritten references: byte for byte what parsing it, serve() and json_dumps(JSON_COMPACT)
 * give (keys keep their order; a key that is added goes last, as jansson appends it), without
 * building and re-serialising a tree. Whatever this does not handle (a reference that would be
 * dropped, an escaped reference, a meta that is not an object, text it does not expect) answers
 * TXT_FALLBACK and the caller takes the tree path. */

enum { TXT_FALLBACK = 1 };
enum { OBJ_ANY = 0, OBJ_TOP, OBJ_META };
#define TXT_DEPTH_MAX 64     /* as rewrite_refs */
#define TXT_REF_MAX 512

typedef struct txt {
	const char *p, *end;
	pp_buf *out;
	struct pp_store *st;
	struct pp_crypto *c;
	refcache *cache;
	const pp_store_resource *row;
	char ver[24], when[32];
} txt;

/* appends s as a JSON string, escaped as jansson escapes it */
static int put_json_str(pp_buf *out, const char *s)
{
	size_t n = strlen(s);
	char *d;
	int rc;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			json_t *j = json_string(s);
			if (!j || !(d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT))) {
				json_decref(j);
				return PP_ENOMEM;
			}
			json_decref(j);
			rc = pp_buf_appends(out, d);
			pp_wipe(d, strlen(d));
			free(d);
			return rc;
		}
	}
	if ((rc = pp_buf_append(out, "\"", 1)) || (rc = pp_buf_append(out, s, n)))
		return rc;
	return pp_buf_append(out, "\"", 1);
}

/* the end of the JSON string at p (its opening quote), or NULL; *esc: it holds an escape */
static const char *str_end(const char *p, const char *end, bool *esc)
{
	*esc = false;
	for (p++; p < end; p++) {
		if (*p == '\\') {
			*esc = true;
			p++;
		} else if (*p == '"') {
			return p + 1;
		} else if ((unsigned char)*p < 0x20) {
			return NULL;
		}
	}
	return NULL;
}

static bool scalar_char(char ch)
{
	return (ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'e' ||
	       ch == 'E' || (ch >= 'a' && ch <= 'z');
}

/* the end of the (compact) JSON value at p, or NULL */
static const char *skip_value(const char *p, const char *end, int depth)
{
	bool esc;

	if (p >= end || depth > TXT_DEPTH_MAX)
		return NULL;
	if (*p == '"')
		return str_end(p, end, &esc);
	if (*p == '{' || *p == '[') {
		bool obj = *p == '{';
		char close = obj ? '}' : ']';
		if (++p < end && *p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if (p >= end || *p != '"' || !(p = str_end(p, end, &esc)) || p >= end ||
				    *p != ':')
					return NULL;
				p++;
			}
			if (!(p = skip_value(p, end, depth + 1)) || p >= end)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p++;
		}
	}
	{
		const char *s = p;
		while (p < end && scalar_char(*p))
			p++;
		return p > s ? p : NULL;
	}
}

static int copy_value(txt *t, int depth);

/* the value at t->p copied as it is */
static int copy_verbatim(txt *t, int depth)
{
	const char *e = skip_value(t->p, t->end, depth);
	int rc;

	if (!e)
		return TXT_FALLBACK;
	rc = pp_buf_append(t->out, t->p, (size_t)(e - t->p));
	t->p = e;
	return rc;
}

/* the value at t->p replaced by the string s */
static int replace_with(txt *t, int depth, const char *s)
{
	const char *e = skip_value(t->p, t->end, depth);

	if (!e)
		return TXT_FALLBACK;
	t->p = e;
	return put_json_str(t->out, s);
}

static int copy_reference(txt *t, int depth)
{
	char ref[TXT_REF_MAX], out[128];
	const char *e;
	bool esc;
	int rc;

	if (*t->p != '"')   /* not a string: rewrite_refs leaves it alone */
		return copy_verbatim(t, depth);
	if (!(e = str_end(t->p, t->end, &esc)))
		return TXT_FALLBACK;
	if (esc || (size_t)(e - t->p) - 2 >= sizeof ref)
		return TXT_FALLBACK;
	memcpy(ref, t->p + 1, (size_t)(e - t->p) - 2);
	ref[e - t->p - 2] = '\0';
	rc = resolve_cached(t->st, t->c, t->cache, ref, out, sizeof out);
	pp_wipe(ref, sizeof ref);
	if (rc < 0)
		return rc;
	if (rc == REF_DROP)
		return TXT_FALLBACK;   /* the key goes away: leave that to the tree */
	if (rc == REF_KEEP)
		return copy_verbatim(t, depth);
	t->p = e;
	return put_json_str(t->out, out);
}

#define KEY_IS(k, kend, lit) \
	((size_t)((kend) - (k)) == sizeof(lit) + 1 && !memcmp((k) + 1, lit, sizeof(lit) - 1))

static int copy_object(txt *t, int depth, int kind)
{
	bool first = true, seen_id = false, seen_meta = false, seen_ver = false, seen_when = false;
	const char *k, *kend;
	bool esc;
	int rc;

	if (depth > TXT_DEPTH_MAX || t->p >= t->end || *t->p != '{')
		return TXT_FALLBACK;
	t->p++;
	if ((rc = pp_buf_append(t->out, "{", 1)))
		return rc;
	if (t->p < t->end && *t->p == '}') {
		t->p++;
		goto close;
	}
	for (;;) {
		k = t->p;
		if (k >= t->end || *k != '"' || !(kend = str_end(k, t->end, &esc)) ||
		    kend >= t->end || *kend != ':')
			return TXT_FALLBACK;
		if (esc)
			return TXT_FALLBACK;   /* jansson escapes no key we look for; leave odd keys to it */
		if (!first && (rc = pp_buf_append(t->out, ",", 1)))
			return rc;
		first = false;
		if ((rc = pp_buf_append(t->out, k, (size_t)(kend + 1 - k))))
			return rc;
		t->p = kend + 1;
		if (KEY_IS(k, kend, "reference"))
			rc = copy_reference(t, depth + 1);
		else if (kind == OBJ_TOP && KEY_IS(k, kend, "id") && (seen_id = true))
			rc = replace_with(t, depth + 1, t->row->pub_id);
		else if (kind == OBJ_TOP && KEY_IS(k, kend, "meta") && (seen_meta = true))
			rc = copy_object(t, depth + 1, OBJ_META);
		else if (kind == OBJ_META && KEY_IS(k, kend, "versionId") && (seen_ver = true))
			rc = replace_with(t, depth + 1, t->ver);
		else if (kind == OBJ_META && KEY_IS(k, kend, "lastUpdated") && (seen_when = true))
			rc = replace_with(t, depth + 1, t->when);
		else
			rc = copy_value(t, depth + 1);
		if (rc)
			return rc;
		if (t->p >= t->end)
			return TXT_FALLBACK;
		if (*t->p == '}') {
			t->p++;
			break;
		}
		if (*t->p != ',')
			return TXT_FALLBACK;
		t->p++;
	}
close:
	if (kind == OBJ_META) {
		if (!seen_ver && ((rc = pp_buf_appends(t->out, first ? "\"versionId\":" :
		                                       ",\"versionId\":")) ||
		                  (rc = put_json_str(t->out, t->ver))))
			return rc;
		if (!seen_when && ((rc = pp_buf_appends(t->out, ",\"lastUpdated\":")) ||
		                   (rc = put_json_str(t->out, t->when))))
			return rc;
	}
	if (kind == OBJ_TOP) {
		if (!seen_id)
			return TXT_FALLBACK;   /* never stored so; the tree knows where it would go */
		if (!seen_meta &&
		    ((rc = pp_buf_appends(t->out, first ? "\"meta\":{\"versionId\":" :
		                                          ",\"meta\":{\"versionId\":")) ||
		     (rc = put_json_str(t->out, t->ver)) ||
		     (rc = pp_buf_appends(t->out, ",\"lastUpdated\":")) ||
		     (rc = put_json_str(t->out, t->when)) || (rc = pp_buf_appends(t->out, "}"))))
			return rc;
	}
	return pp_buf_append(t->out, "}", 1);
}

static int copy_value(txt *t, int depth)
{
	int rc;

	if (depth > TXT_DEPTH_MAX || t->p >= t->end)
		return TXT_FALLBACK;
	if (*t->p == '{' || *t->p == '[') {
		/* Nothing inside to rewrite (no "reference" key anywhere in it): the stored text is
		 * already what jansson would write, as for any other value copied verbatim. Most of a
		 * resource is such (codings, values, periods), so it goes in one piece. */
		const char *e = skip_value(t->p, t->end, depth);
		if (!e)
			return TXT_FALLBACK;
		if (!memmem(t->p, (size_t)(e - t->p), "\"reference\"", 11)) {
			rc = pp_buf_append(t->out, t->p, (size_t)(e - t->p));
			t->p = e;
			return rc;
		}
	}
	if (*t->p == '{')
		return copy_object(t, depth, OBJ_ANY);
	if (*t->p != '[')
		return copy_verbatim(t, depth);
	t->p++;
	if ((rc = pp_buf_append(t->out, "[", 1)))
		return rc;
	if (t->p < t->end && *t->p == ']') {
		t->p++;
		return pp_buf_append(t->out, "]", 1);
	}
	for (bool first = true;; first = false) {
		if (!first && (rc = pp_buf_append(t->out, ",", 1)))
			return rc;
		if ((rc = copy_value(t, depth + 1)))
			return rc;
		if (t->p >= t->end)
			return TXT_FALLBACK;
		if (*t->p == ']') {
			t->p++;
			return pp_buf_append(t->out, "]", 1);
		}
		if (*t->p != ',')
			return TXT_FALLBACK;
		t->p++;
	}
}

/* Appends the served form of the stored text to out: PP_OK, TXT_FALLBACK (out as it was) or an
 * error of reference resolution. */
static int serve_text(struct pp_store *st, struct pp_crypto *c, refcache *cache, const char *text,
                      size_t len, const pp_store_resource *row, pp_buf *out)
{
	txt t = {.p = text, .end = text + len, .out = out, .st = st, .c = c, .cache = cache,
	         .row = row};
	size_t mark = out->len;
	int rc;

	snprintf(t.ver, sizeof t.ver, "%d", row->version > 0 ? row->version : 1);
	pp_clock_format_iso(row->last_updated_ms, t.when);
	rc = copy_object(&t, 0, OBJ_TOP);
	if (!rc && t.p != t.end)
		rc = TXT_FALLBACK;
	if (rc && out->data) {
		pp_wipe(out->data + mark, out->len - mark);
		out->len = mark;
		out->data[mark] = '\0';
	}
	return rc;
}

/* bulk-read anomaly accounting for token callers (oauth/anomaly.c): a flag that cannot be recorded
 * fails the request like any audit failure, so no unrecorded bulk read leaves the server */
static int note_reads(pp_app *app, pp_http_request *r, const pp_fhir_caller *c, long n)
{
	if (!c->token || !app->oauth || n <= 0)
		return PP_OK;
	return pp_oauth_note_reads(app->oauth, r, &c->grant, n);
}

/* Appends the served form of a stored row to out; res, when the caller has parsed the body already,
 * is used for the tree path. A row without its body is opened from the store unless its served
 * text is cached (cache.c) under the request's epoch. Only called once every check on the row has
 * passed. */
static int serve_row_text(pp_app *app, refcache *cache, const pp_store_resource *row, json_t *res,
                          pp_buf *out)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0, mark = out->len;
	char *text = NULL;
	json_t *own = NULL;
	pp_store_resource full = {0};
	uint64_t epoch = cache ? cache->epoch : 0;
	int rc;

	if (pp_fhir_cache_text_get(app->store, epoch, row->id, out))
		return PP_OK;
	if (!res && !row->body) {
		/* the row as it is now, but never if it moved to another compartment or type */
		if ((rc = pp_fhir_cache_get(app->store, epoch, row->id, true, &full)))
			return rc;
		if (full.patient_id != row->patient_id || strcmp(full.type, row->type)) {
			pp_store_resource_clear(&full);
			return PP_EBUSY;
		}
		row = &full;
	}
	if (!res) {
		if (!row->body || !row->body_len) {
			rc = PP_EINVAL;
			goto out;
		}
		rc = pp_crypto_unseal(app->crypto, "resource", "body", row->id, row->body,
		                      row->body_len, &pt, &ptlen);
		if (rc)
			return rc;
		rc = serve_text(app->store, app->crypto, cache, (const char *)pt, ptlen, row, out);
		if (rc != TXT_FALLBACK)
			goto out;
		own = res = json_loadb((const char *)pt, ptlen, 0, NULL);
		if (!json_is_object(res)) {
			rc = PP_EIO;
			goto out;
		}
	}
	if ((rc = serve(app->store, app->crypto, cache, res, row)))
		goto out;
	if (!(text = json_dumps(res, JSON_COMPACT))) {
		rc = PP_ENOMEM;
		goto out;
	}
	rc = pp_buf_appends(out, text);
out:
	if (!rc)
		pp_fhir_cache_text_put(app->store, epoch, row->id, out->data + mark, out->len - mark);
	if (text) {
		pp_wipe(text, strlen(text));
		free(text);
	}
	json_decref(own);
	pp_crypto_free_plain(pt, ptlen);
	pp_store_resource_clear(&full);
	return rc;
}

/* a buffer for PHI sized up front, so that it is not moved (and left behind) while it grows */
static void phi_buf_init(pp_buf *b, size_t limit, size_t expect)
{
	pp_buf_init(b, limit);
	if (expect && expect < limit && (b->data = malloc(expect + 1))) {
		b->cap = expect + 1;
		b->data[0] = '\0';
	}
}

/* ---- helpers ---- */

static int patient_pub(pp_app *app, uint64_t epoch, int64_t patient_id, char *out, size_t cap)
{
	pp_store_resource row = {0};
	int rc;

	out[0] = '\0';
	if (patient_id <= 0)
		return PP_ENOTFOUND;
	rc = pp_fhir_cache_get(app->store, epoch, patient_id, false, &row);
	if (!rc)
		snprintf(out, cap, "%s", row.pub_id);
	pp_store_resource_clear(&row);
	return rc;
}

static const char *base_url(pp_app *app)
{
	return app->cfg && app->cfg->server_public_url[0] ? app->cfg->server_public_url
	                                                   : "https://localhost:8443";
}

/* the id from the path as it may appear in the audit log: an opaque id of ours or "invalid" */
static const char *audit_id(const char *id)
{
	return id && strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32 ? id : "invalid";
}

/* ---- GET /fhir/metadata ---- */

static int h_metadata(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;

	if (!pp_fhir_api_accept_ok(r))
		return pp_fhir_api_error(r, 406, "not-supported", "Only application/fhir+json is served");
	return pp_fhir_api_send(r, 200, pp_fhir_capability(base_url(app)), false);
}

/* ---- GET /fhir/<Type>/<id> ---- */

static int h_read(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *type = pp_fhir_api_type(pp_http_param(r, "type"));
	const char *id = pp_http_param(r, "id");
	pp_fhir_caller c;
	pp_policy_decision d = {0};
	pp_store_resource row = {0};
	json_t *res = NULL;
	refcache cache = {0};
	pp_buf body = {0};
	char ppub[48] = "", etag[32];
	int rc;

	if (!pp_fhir_api_accept_ok(r))
		return pp_fhir_api_error(r, 406, "not-supported", "Only application/fhir+json is served");
	if (!type)
		return pp_fhir_api_error(r, 404, "not-supported", "Resource type not supported");
	if (pp_fhir_api_authenticate(app, r, &c))
		return 0;
	cache.epoch = c.epoch;
	if (!pp_fhir_api_scope_allows(&c, type, PP_SCOPE_R, NULL)) {
		if (pp_fhir_api_audit(app, &c, "read", NULL, type, audit_id(id), "denied", NULL,
		                      "scope"))
			return pp_fhir_api_audit_failed(r);
		return pp_fhir_api_error(r, 403, "forbidden", "The granted scopes do not allow this");
	}
	rc = PP_ENOTFOUND;
	if (id && strlen(id) < sizeof row.pub_id && pp_fhir_valid_id(id))
		rc = pp_fhir_cache_get_pub(app->store, c.epoch, type, id, &row);
	if (rc == PP_ENOTFOUND) {
		if (pp_fhir_api_audit(app, &c, "read", NULL, type, audit_id(id), "denied", NULL,
		                      "not-found"))
			return pp_fhir_api_audit_failed(r);
		return pp_fhir_api_not_found(r);
	}
	if (rc)
		goto fail;
	if (row.patient_id > 0 && row.patient_id == row.id)
		snprintf(ppub, sizeof ppub, "%s", row.pub_id);   /* a Patient is its own compartment */
	else if (row.patient_id > 0)
		patient_pub(app, c.epoch, row.patient_id, ppub, sizeof ppub);
	pp_policy_decide(app, &c.p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = row.patient_id, .resource_type = type}, &d);
	if (d.effect != PP_POLICY_DENY && c.restricted && row.patient_id > 0 &&
	    row.patient_id != c.restrict_patient) {
		d.effect = PP_POLICY_DENY;
		d.reason = "outside-grant";
	}
	if (d.effect != PP_POLICY_DENY && !strcmp(d.reason, "proxy"))
		snprintf(c.on_behalf_of, sizeof c.on_behalf_of, "patient:%s", ppub);
	if (d.effect == PP_POLICY_DENY) {
		rc = pp_fhir_api_audit(app, &c, "read", ppub, type, row.pub_id, "denied", d.purpose,
		                       d.reason);
		pp_store_resource_clear(&row);
		return rc ? pp_fhir_api_audit_failed(r) : pp_fhir_api_not_found(r);
	}
	if (pp_fhir_api_scope_needs_resource(&c, type, PP_SCOPE_R) || d.hide) {
		/* a granular scope, or what the decision hides (sensitive categories for some proxies),
		 * decides on the content */
		if ((rc = pp_fhir_resource_load(app->crypto, &row, &res)))
			goto fail;
		if (!pp_fhir_api_scope_allows(&c, type, PP_SCOPE_R, res) ||
		    !pp_policy_visible(app, &d, res)) {
			bool hidden = pp_fhir_api_scope_allows(&c, type, PP_SCOPE_R, res);
			json_decref(res);
			rc = pp_fhir_api_audit(app, &c, "read", ppub, type, row.pub_id, "denied",
			                       d.purpose, hidden ? "sensitive-hidden" : "scope-granular");
			pp_store_resource_clear(&row);
			return rc ? pp_fhir_api_audit_failed(r) : pp_fhir_api_not_found(r);
		}
		json_decref(res);
		res = NULL;
	}
	phi_buf_init(&body, SERVE_MAX, row.body_len + 1024);
	if ((rc = serve_row_text(app, &cache, &row, NULL, &body)))
		goto fail;
	if (pp_fhir_api_audit(app, &c, "read", ppub, type, row.pub_id, "success", d.purpose,
	                      d.reason) || note_reads(app, r, &c, 1)) {
		pp_buf_free(&body);
		refcache_free(&cache);
		pp_store_resource_clear(&row);
		return pp_fhir_api_audit_failed(r);
	}
	snprintf(etag, sizeof etag, "W/\"%d\"", row.version > 0 ? row.version : 1);
	pp_http_set_header(r, "ETag", etag);
	pp_store_resource_clear(&row);
	rc = pp_fhir_api_send_buf(r, 200, &body, true);
	pp_buf_free(&body);
	refcache_free(&cache);
	return rc;
fail:
	pp_buf_free(&body);
	refcache_free(&cache);
	json_decref(res);
	if (pp_fhir_api_audit(app, &c, "read", ppub, type, row.pub_id[0] ? row.pub_id : NULL,
	                      "failure", d.purpose, pp_strerror(rc)))
		rc = PP_EAUDIT;
	pp_store_resource_clear(&row);
	if (rc == PP_EAUDIT)
		return pp_fhir_api_audit_failed(r);
	return pp_fhir_api_error(r, 500, "exception", "The server could not complete the request");
}

/* ---- GET /fhir/<Type>?... ---- */

typedef struct hit {
	json_t *res;
	pp_store_resource row;     /* without its body */
	int64_t key;
	size_t seq;
} hit;

typedef struct collect {
	pp_app *app;
	const pp_fhir_caller *c;
	const pp_fhir_search *s;
	bool per_row_policy;       /* a scan across patients: check each row */
	unsigned hide;             /* the compartment's decision hides some resources (d.hide) */
	bool need_body;            /* filters, a date sort or a granular scope look at the body;
	                              otherwise rows come without bodies and only the page is opened */
	hit *hits;
	size_t n, cap;
	int64_t *ids;              /* instead of hits: every row of one compartment, in row order */
	int64_t ids_patient;
	int err;
} collect;

static int collect_row(void *vctx, const pp_store_resource *row)
{
	collect *x = vctx;
	json_t *res = NULL;
	int rc;

	pp_policy_decision d = {.effect = PP_POLICY_ALLOW, .hide = x->hide};

	if (x->per_row_policy) {
		pp_policy_decide(x->app, &x->c->p, PP_POLICY_SEARCH,
		                &(pp_policy_target){.patient_id = row->patient_id,
		                                    .resource_type = x->s->type},
		                &d);
		if (d.effect == PP_POLICY_DENY ||
		    (x->c->restricted && row->patient_id > 0 &&
		     row->patient_id != x->c->restrict_patient))
			return 0;
	}
	if (!x->need_body) {
		if (!pp_fhir_search_match_row(x->s, row->pub_id, row->last_updated_ms))
			return 0;
	} else if ((rc = pp_fhir_resource_load(x->app->crypto, row, &res))) {
		x->err = rc;
		return 1;
	}
	if (d.hide && (!res || !pp_policy_visible(x->app, &d, res))) {
		json_decref(res);   /* hidden from this caller (need_body is set whenever hide can be) */
		return 0;
	}
	if (res && (!pp_fhir_search_match(x->s, res, row->pub_id, row->last_updated_ms) ||
	            !pp_fhir_api_scope_allows(x->c, x->s->type, PP_SCOPE_S, res))) {
		json_decref(res);
		return 0;
	}
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		hit *grown = realloc(x->hits, ncap * sizeof *grown);
		if (!grown) {
			json_decref(res);
			x->err = PP_ENOMEM;
			return 1;
		}
		x->hits = grown;
		x->cap = ncap;
	}
	x->hits[x->n].res = res;
	x->hits[x->n].row = *row;
	x->hits[x->n].row.body = NULL;
	x->hits[x->n].row.body_len = 0;
	x->hits[x->n].key = res ? pp_fhir_search_sort_key(x->s, res, row->last_updated_ms)
	                        : row->last_updated_ms;   /* no body: no sort or a _lastUpdated one */
	x->hits[x->n].seq = x->n;
	x->n++;
	return 0;
}

/* every row of the patient's compartment of this type is a hit, in row order: only the row ids
 * are kept (x->ids), the page's rows are looked up when it is written */
static int collect_ids(pp_app *app, uint64_t epoch, int64_t patient_id, const char *type,
                       collect *x)
{
	int rc = pp_fhir_cache_ids(app->store, epoch, patient_id, type, &x->ids, &x->n);

	x->ids_patient = patient_id;
	return rc;
}

static int cmp_asc(const void *a, const void *b)
{
	const hit *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_desc(const void *a, const void *b)
{
	const hit *x = a, *y = b;

	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int put_link(pp_buf *out, const char *rel, const char *url)
{
	int rc;

	if ((rc = pp_buf_appends(out, "{\"relation\":")) || (rc = put_json_str(out, rel)) ||
	    (rc = pp_buf_appends(out, ",\"url\":")) || (rc = put_json_str(out, url)))
		return rc;
	return pp_buf_appends(out, "}");
}

static int page_url(pp_app *app, const pp_fhir_search *s, const char *cursor, pp_buf *out)
{
	pp_buf_reset(out);
	if (pp_buf_appendf(out, "%s/fhir/%s", base_url(app), s->type))
		return PP_ETOOBIG;
	if (s->norm[0] || cursor) {
		if (pp_buf_appendf(out, "?%s%s%s%s", s->norm, s->norm[0] && cursor ? "&" : "",
		                   cursor ? "_cursor=" : "", cursor ? cursor : ""))
			return PP_ETOOBIG;
	}
	return PP_OK;
}

static int h_search(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	const char *type = pp_fhir_api_type(pp_http_param(r, "type"));
	pp_fhir_caller c;
	pp_fhir_search *s = NULL;
	pp_policy_decision d = {.purpose = NULL, .reason = "scan"};
	collect x = {0};
	refcache cache = {0};
	pp_buf url, ids;
	pp_buf body = {0};
	char ppub[64] = "", cursor[80], bid[40], now[32];
	uint8_t rnd[16];
	uint32_t offset = 0;
	int64_t patient_id = 0;
	bool scan = false, page_hit = false;
	size_t end, page_mark;
	int rc = PP_OK;
	const char *deny = NULL;

	pp_buf_init(&url, PP_FHIR_NORM_MAX + 512);
	pp_buf_init(&ids, (size_t)PP_FHIR_COUNT_MAX * 48 + 64);
	if (!pp_fhir_api_accept_ok(r))
		return pp_fhir_api_error(r, 406, "not-supported", "Only application/fhir+json is served");
	if (!type)
		return pp_fhir_api_error(r, 404, "not-supported", "Resource type not supported");
	if (pp_fhir_api_authenticate(app, r, &c))
		return 0;
	cache.epoch = c.epoch;
	if (!(s = malloc(sizeof *s)))   /* pp_fhir_search_parse initialises it */
		return PP_ENOMEM;
	rc = pp_fhir_search_parse(type, pp_http_query_string(r), pp_fhir_api_strict(r), s);
	if (rc == PP_EINVAL) {
		rc = pp_fhir_api_error(r, 400, "invalid", s->error);
		goto out;
	}
	if (rc)
		goto out;
	if (s->want_xml) {
		rc = pp_fhir_api_error(r, 406, "not-supported", "Only application/fhir+json is served");
		goto out;
	}
	if (!pp_fhir_api_scope_allows(&c, type, PP_SCOPE_S, NULL)) {
		if (pp_fhir_api_audit(app, &c, "search", NULL, type, NULL, "denied", NULL, "scope"))
			rc = pp_fhir_api_audit_failed(r);
		else
			rc = pp_fhir_api_error(r, 403, "forbidden", "The granted scopes do not allow this");
		goto out;
	}

	/* whose data: patient=, else the caller's own compartment, else a capped scan */
	if (pp_fhir_api_directory_type(type)) {
		pp_policy_decide(app, &c.p, PP_POLICY_SEARCH,
		                &(pp_policy_target){.resource_type = type}, &d);
		if (d.effect == PP_POLICY_DENY)
			deny = d.reason;
		scan = true;
	} else {
		if (s->patient[0]) {
			pp_store_resource prow = {0};
			snprintf(ppub, sizeof ppub, "%s", audit_id(s->patient));
			if (pp_fhir_cache_get_pub(app->store, c.epoch, "Patient", s->patient, &prow) ==
			    PP_OK)
				patient_id = prow.id;
			pp_store_resource_clear(&prow);
			if (!patient_id)
				deny = "no-patient";
		} else if (c.restricted) {
			patient_id = c.restrict_patient;
			if (patient_pub(app, c.epoch, patient_id, ppub, sizeof ppub))
				deny = "no-patient";
		} else {
			scan = true;   /* user/system caller across patients: checked row by row */
		}
		if (!deny && !scan) {
			pp_policy_decide(app, &c.p, PP_POLICY_SEARCH,
			                &(pp_policy_target){.patient_id = patient_id, .resource_type = type},
			                &d);
			if (d.effect == PP_POLICY_DENY)
				deny = d.reason;
			else if (c.restricted && patient_id != c.restrict_patient)
				deny = "outside-grant";
		}
	}
	if (deny) {
		if (pp_fhir_api_audit(app, &c, "search", ppub, type, NULL, "denied", d.purpose, deny))
			rc = pp_fhir_api_audit_failed(r);
		else
			rc = pp_fhir_api_not_found(r);
		goto out;
	}
	if (s->cursor[0] && pp_fhir_api_cursor_check(app, &c, s, &offset)) {
		if (pp_fhir_api_audit(app, &c, "search", ppub, type, NULL, "denied", d.purpose,
		                      "bad-cursor"))
			rc = pp_fhir_api_audit_failed(r);
		else
			rc = pp_fhir_api_error(r, 400, "invalid", "Invalid or expired page cursor");
		goto out;
	}

	x.app = app;
	x.c = &c;
	x.s = s;
	x.per_row_policy = scan && !pp_fhir_api_directory_type(type);
	x.hide = scan ? 0 : d.hide;
	/* a decision that hides resources looks at every body; a scan by someone who may act for
	 * others (a proxy) may meet such decisions row by row */
	x.need_body = pp_fhir_search_needs_body(s) ||
	              pp_fhir_api_scope_needs_resource(&c, type, PP_SCOPE_S) || x.hide ||
	              (x.per_row_policy && (!strcmp(c.p.role, "proxy") || !strcmp(c.p.role, "patient")));
	if (!scan && d.effect != PP_POLICY_DENY && !strcmp(d.reason, "proxy"))
		snprintf(c.on_behalf_of, sizeof c.on_behalf_of, "patient:%s", ppub);
	if (scan && x.need_body)
		rc = pp_store_resource_each_of_type_limit(app->store, type, SCAN_MAX, collect_row, &x);
	else if (scan)
		rc = pp_store_resource_each_meta_of_type_limit(app->store, type, SCAN_MAX, collect_row,
		                                               &x);
	else if (x.need_body)
		rc = pp_store_resource_each_for_patient(app->store, patient_id, type, collect_row, &x);
	else if (!s->nids && !s->nlast_updated && s->sort == PP_FHIR_SORT_NONE)
		rc = collect_ids(app, c.epoch, patient_id, type, &x);   /* nothing to decide: every row is a hit */
	else
		rc = pp_store_resource_each_meta_for_patient(app->store, patient_id, type, collect_row,
		                                             &x);
	if (!rc)
		rc = x.err;
	if (rc)
		goto fail;
	if (!x.hits)
		;   /* row ids only (collect_ids): no sort was asked for */
	else if (s->sort == PP_FHIR_SORT_DATE || s->sort == PP_FHIR_SORT_UPDATED)
		qsort(x.hits, x.n, sizeof *x.hits, cmp_asc);
	else if (s->sort != PP_FHIR_SORT_NONE)
		qsort(x.hits, x.n, sizeof *x.hits, cmp_desc);

	/* the page: the Bundle is written as jansson would write it, each entry's resource from the
	 * stored text (serve_row_text) */
	end = s->summary_count ? offset : offset + (size_t)s->count;
	if (end > x.n)
		end = x.n;
	if ((rc = pp_random(rnd, sizeof rnd)))
		goto fail;
	pp_hex_encode(rnd, sizeof rnd, bid);
	pp_clock_format_iso(pp_clock_now_ms(), now);
	phi_buf_init(&body, SERVE_MAX, (end - offset) * 2048 + 2048);
	if ((rc = pp_buf_appends(&body, "{\"resourceType\":\"Bundle\",\"id\":")) ||
	    (rc = put_json_str(&body, bid)) ||
	    (rc = pp_buf_appends(&body, ",\"meta\":{\"lastUpdated\":")) ||
	    (rc = put_json_str(&body, now)) ||
	    (rc = pp_buf_appendf(&body, "},\"type\":\"searchset\",\"total\":%zu,\"link\":[", x.n)) ||
	    (rc = page_url(app, s, s->cursor[0] ? s->cursor : NULL, &url)) ||
	    (rc = put_link(&body, "self", pp_buf_cstr(&url))))
		goto fail;
	if (!s->summary_count && end < x.n) {
		if ((rc = pp_fhir_api_cursor_make(app, &c, s, (uint32_t)end, cursor, sizeof cursor)) ||
		    (rc = page_url(app, s, cursor, &url)) || (rc = pp_buf_appends(&body, ",")) ||
		    (rc = put_link(&body, "next", pp_buf_cstr(&url))))
			goto fail;
	}
	if ((rc = pp_buf_appends(&body, "]")))
		goto fail;
	/* every row of the compartment in row order (x.ids): the page's entries depend on the rows
	 * alone, so under the same store epoch they are the same bytes for every caller who got here */
	page_mark = body.len;
	page_hit = x.ids && end > offset &&
	           pp_fhir_cache_page_get(app->store, c.epoch, x.ids_patient, type, offset,
	                                  (uint32_t)end, &body, &ids);
	for (size_t i = offset; !page_hit && i < end; i++) {
		hit *h = x.ids ? NULL : &x.hits[i];
		int64_t hid = h ? h->row.id : x.ids[i];
		int64_t hpatient = h ? h->row.patient_id : x.ids_patient;
		json_t *hres = h ? h->res : NULL;
		pp_store_resource full = {0};
		const pp_store_resource *row = h ? &h->row : NULL;
		if (!hres) {
			/* decided on the row alone: look it up now (as it is now, should it have changed
			 * meanwhile; but never if it moved to another compartment than the one checked);
			 * serve_row_text opens its body unless the served text is cached */
			if ((rc = pp_fhir_cache_get(app->store, c.epoch, hid, false, &full)))
				goto fail;
			if (full.patient_id != hpatient || strcmp(full.type, type)) {
				pp_store_resource_clear(&full);
				rc = PP_EBUSY;
				goto fail;
			}
			row = &full;
		}
		pp_buf_reset(&url);
		if ((rc = pp_buf_appends(&url, base_url(app))) ||
		    (rc = pp_buf_appends(&url, "/fhir/")) || (rc = pp_buf_appends(&url, type)) ||
		    (rc = pp_buf_appends(&url, "/")) || (rc = pp_buf_appends(&url, row->pub_id)) ||
		    (i > offset && (rc = pp_buf_appends(&ids, ","))) ||
		    (rc = pp_buf_appends(&ids, row->pub_id)) ||
		    (rc = pp_buf_appends(&body, i > offset ? ",{\"fullUrl\":" : ",\"entry\":[{\"fullUrl\":")) ||
		    (rc = put_json_str(&body, pp_buf_cstr(&url))) ||
		    (rc = pp_buf_appends(&body, ",\"resource\":"))) {
			pp_store_resource_clear(&full);
			goto fail;
		}
		rc = serve_row_text(app, &cache, row, hres, &body);
		pp_store_resource_clear(&full);
		if (rc || (rc = pp_buf_appends(&body, ",\"search\":{\"mode\":\"match\"}}")))
			goto fail;
	}
	if (x.ids && end > offset && !page_hit)
		pp_fhir_cache_page_put(app->store, c.epoch, x.ids_patient, type, offset, (uint32_t)end,
		                       body.data + page_mark, body.len - page_mark, ids.data, ids.len);
	if ((rc = pp_buf_appends(&body, end > offset ? "]}" : "}")))
		goto fail;
	{
		char detail[160];
		snprintf(detail, sizeof detail, "%s; total=%zu; offset=%u%s",
		         d.reason ? d.reason : "-", x.n, offset, s->summary_count ? "; count-only" : "");
		if (pp_fhir_api_audit(app, &c, "search", ppub, type, ids.len ? pp_buf_cstr(&ids) : NULL,
		                      "success", d.purpose, detail) ||
		    note_reads(app, r, &c, (long)(end > offset ? end - offset : 0))) {
			rc = pp_fhir_api_audit_failed(r);
			goto out;
		}
	}
	rc = pp_fhir_api_send_buf(r, 200, &body, true);
	goto out;
fail:
	if (pp_fhir_api_audit(app, &c, "search", ppub, type, NULL, "failure", d.purpose,
	                      pp_strerror(rc)))
		rc = pp_fhir_api_audit_failed(r);
	else
		rc = pp_fhir_api_error(r, 500, "exception", "The server could not complete the request");
out:
	for (size_t i = 0; x.hits && i < x.n; i++)
		json_decref(x.hits[i].res);
	free(x.hits);
	free(x.ids);
	refcache_free(&cache);
	pp_buf_free(&body);
	pp_buf_free(&url);
	pp_buf_free(&ids);
	free(s);
	return rc;
}

/* anything else under /fhir: a FHIR-shaped 404 */
static int h_unknown(void *vapp, pp_http_request *r)
{
	(void)vapp;
	return pp_fhir_api_error(r, 404, "not-found", "Unknown FHIR endpoint");
}

int pp_fhir_api_routes(struct pp_http_server *srv, pp_app *app)
{
	int rc = 0;

	(void)app;
	rc |= pp_http_route_quick(srv, "GET", "/fhir/metadata", h_metadata, NULL,
	                          pp_fhir_api_audit_failed);
	rc |= pp_http_route_quick(srv, "GET", "/fhir/:type", h_search, NULL,
	                          pp_fhir_api_audit_failed);
	rc |= pp_http_route_quick(srv, "GET", "/fhir/:type/:id", h_read, NULL,
	                          pp_fhir_api_audit_failed);
	rc |= pp_http_route_quick(srv, "GET", "/fhir/*", h_unknown, NULL,
	                          pp_fhir_api_audit_failed);
	return rc ? PP_EINVAL : PP_OK;
}
