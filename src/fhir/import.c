/* fhir: import of Bulk Data NDJSON files and JSON Bundles.
 *
 * Files ending in ".json" are read whole (a Bundle, or a single resource); anything else is NDJSON,
 * one resource (or Bundle) per line. Each file set is read twice: the first pass stores only the
 * Patient resources (silently: it reports nothing), the second everything else and reports every
 * malformed line, so references to patients resolve whatever the order of files or lines.
 *
 * Writes are batched (IMPORT_BATCH resources per transaction); each resource is one row written by
 * one statement, so a crash loses at most the open batch and never half a resource, and running the
 * import again completes it (identical resources are recognised by their keyed digest).
 *
 * Error "line" numbers: the 1-based line of an NDJSON file; for a whole-file .json Bundle, the
 * 1-based entry number (1 for a single resource or a file-level problem).
 */
#include "fhir/fhir_internal.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define IMPORT_BATCH 500
#define READ_CHUNK 65536

enum pass { PASS_PATIENTS, PASS_OTHERS };

typedef struct importer {
	struct pp_store *st;
	struct pp_crypto *c;
	pp_fhir_import_stats *stats;
	void (*on_error)(void *ctx, const char *file, long line, const char *reason);
	void *ctx;
	size_t max_line;
	int max_depth;
	const char *file;
	enum pass pass;
	int in_tx;
	int batch;
} importer;

static void report(importer *im, long line, const char *reason)
{
	if (im->pass != PASS_OTHERS)
		return;   /* the second pass sees every line again and reports it once */
	if (im->stats)
		im->stats->errors++;
	if (im->on_error)
		im->on_error(im->ctx, im->file, line, reason);
}

static int stats_slot(pp_fhir_import_stats *s, const char *type)
{
	int max = (int)(sizeof s->types / sizeof s->types[0]);

	for (int i = 0; i < s->ntypes; i++)
		if (s->types[i] == type || !strcmp(s->types[i], type))
			return i;
	if (s->ntypes >= max)
		return -1;
	s->types[s->ntypes] = type;
	s->counts[s->ntypes] = 0;
	s->unchanged[s->ntypes] = 0;
	return s->ntypes++;
}

static int tx_commit(importer *im)
{
	int rc = PP_OK;

	if (im->in_tx) {
		rc = pp_store_commit(im->st);
		if (rc)
			pp_store_rollback(im->st);
		im->in_tx = 0;
		im->batch = 0;
	}
	return rc;
}

static void tx_abort(importer *im)
{
	if (im->in_tx) {
		pp_store_rollback(im->st);
		im->in_tx = 0;
		im->batch = 0;
	}
}

/* one resource of a known type, already validated */
static int take_resource(importer *im, json_t *res)
{
	const char *type = pp_fhir_known_type(pp_fhir_str(res, "resourceType"));
	int is_patient = type && !strcmp(type, "Patient");
	int rc, outcome = 0, slot;

	if (!type)
		return PP_EINVAL;
	if (is_patient != (im->pass == PASS_PATIENTS))
		return PP_OK;
	if (!im->in_tx) {
		if ((rc = pp_store_begin(im->st)))
			return rc;
		im->in_tx = 1;
	}
	rc = pp_fhir_store_resource(im->st, im->c, res, &outcome);
	if (rc)
		return rc;
	/* policy/'s encounter relationship: who took part, for which patient, when (rewritten on
	 * every import, unchanged or not, so the index also catches up with data imported before it) */
	if (!strcmp(type, "Encounter") && (rc = pp_fhir_encounter_index(im->st, im->c, res)))
		return rc;
	if (im->stats && (slot = stats_slot(im->stats, type)) >= 0) {
		if (outcome == PP_FHIR_STORED_UNCHANGED)
			im->stats->unchanged[slot]++;
		else
			im->stats->counts[slot]++;
	}
	if (++im->batch >= IMPORT_BATCH)
		return tx_commit(im);
	return PP_OK;
}

/* A Bundle's entries: each entry stands alone; a bad entry is reported and skipped. */
static int take_bundle(importer *im, json_t *bundle, long line, int number_entries)
{
	json_t *entries = json_object_get(bundle, "entry"), *e, *res;
	size_t i;
	int rc;

	json_array_foreach(entries, i, e) {
		long where = number_entries ? (long)i + 1 : line;
		const char *type;

		res = json_object_get(e, "resource");
		if (!json_is_object(res)) {
			report(im, where, "entry_without_resource");
			continue;
		}
		type = pp_fhir_str(res, "resourceType");
		if (!type) {
			report(im, where, "missing_resource_type");
			continue;
		}
		if (!pp_fhir_known_type(type)) {
			report(im, where, "unknown_resource_type");
			continue;
		}
		if (pp_fhir_json_depth(res, im->max_depth) > im->max_depth) {
			report(im, where, "json_too_deep");
			continue;
		}
		if (!json_object_get(res, "id")) {
			report(im, where, "missing_id");
			continue;
		}
		if (!pp_fhir_valid_id(pp_fhir_str(res, "id"))) {
			report(im, where, "invalid_id");
			continue;
		}
		if ((rc = take_resource(im, res)))
			return rc;
	}
	return PP_OK;
}

static int take_text(importer *im, const char *data, size_t len, long line, int whole_file)
{
	json_t *v = NULL;
	const char *reason = NULL;
	int rc;

	if (pp_fhir_parse_any(data, len, im->max_depth, 1, &v, &reason)) {
		report(im, line, reason ? reason : "json_invalid");
		return PP_OK;
	}
	if (!strcmp(pp_fhir_str(v, "resourceType"), "Bundle"))
		rc = take_bundle(im, v, line, whole_file);
	else
		rc = take_resource(im, v);
	json_decref(v);
	return rc;
}

/* the Patient pass only needs lines that can hold a Patient resource */
static int may_hold_patient(const char *p, size_t n)
{
	if (!p || !n)
		return 0;
	return memmem(p, n, "\"Patient\"", 9) || memmem(p, n, "\\u", 2);
}

static int only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return 0;
	return 1;
}

static int import_ndjson(importer *im, FILE *f)
{
	char *chunk = malloc(READ_CHUNK);
	size_t pos = 0, have = 0;
	pp_buf line;
	long lineno = 0;
	size_t len;
	int rc = PP_OK, too_long = 0, eof = 0, pending = 0;

	pp_buf_init(&line, im->max_line + 1);
	if (!chunk)
		return PP_ENOMEM;
	for (;;) {
		char *nl;
		size_t n;

		if (pos == have && !eof) {
			have = fread(chunk, 1, READ_CHUNK, f);
			pos = 0;
			if (have == 0) {
				if (ferror(f)) {
					rc = PP_EIO;
					goto out;
				}
				eof = 1;
			}
		}
		if (pos == have && eof) {
			if (!pending)
				break;
			nl = NULL;
			n = 0;
		} else {
			nl = memchr(chunk + pos, '\n', have - pos);
			n = nl ? (size_t)(nl - (chunk + pos)) : have - pos;
			if (!pending)
				lineno++;
			pending = 1;
			if (!too_long && line.len + n > im->max_line)
				too_long = 1;
			if (!too_long && n && (rc = pp_buf_append(&line, chunk + pos, n)))
				goto out;
			pos += n + (nl ? 1 : 0);
			if (!nl)
				continue;
		}
		/* a complete line (or the last one without a newline) */
		len = line.len;
		if (len && line.data[len - 1] == '\r')
			len--;
		if (too_long)
			report(im, lineno, "line_too_long");
		else if (!line.data || only_space(line.data, len))
			; /* blank lines are allowed */
		else if (im->pass == PASS_OTHERS || may_hold_patient(line.data, len))
			rc = take_text(im, line.data, len, lineno, 0);
		if (line.data)
			pp_wipe(line.data, line.len);
		line.len = 0;
		too_long = 0;
		pending = 0;
		if (rc)
			goto out;
	}
out:
	pp_buf_free(&line);
	free(chunk);
	return rc;
}

static int ends_with_json(const char *path)
{
	size_t n = strlen(path);

	return n >= 5 && !strcasecmp(path + n - 5, ".json");
}

static int import_one(importer *im, const char *path)
{
	FILE *f = NULL;
	char *doc = NULL;
	size_t len = 0;
	struct stat sb;
	int rc;

	im->file = path;
	if (ends_with_json(path)) {
		if (stat(path, &sb))
			return errno == ENOENT ? PP_ENOTFOUND : PP_EIO;
		if (sb.st_size == 0) {
			report(im, 1, "empty");
			return PP_OK;
		}
		rc = pp_file_read(path, PP_FHIR_MAX_DOC_BYTES, &doc, &len);
		if (rc == PP_ETOOBIG) {
			report(im, 1, "file_too_big");
			return PP_OK;
		}
		if (rc)
			return rc;
		rc = take_text(im, doc, len, 1, 1);
		pp_wipe(doc, len);
		free(doc);
	} else {
		f = fopen(path, "rb");
		if (!f)
			return errno == ENOENT ? PP_ENOTFOUND : PP_EIO;
		rc = import_ndjson(im, f);
		fclose(f);
	}
	if (rc)
		return rc;
	return tx_commit(im);
}

int pp_fhir_import_files(struct pp_store *st, struct pp_crypto *c, const char *const *paths,
                         int n, const pp_fhir_import_opts *opt, pp_fhir_import_stats *stats)
{
	importer im = {0};
	int rc = PP_OK;

	if (!st || !c || (!paths && n) || n < 0)
		return PP_EINVAL;
	im.st = st;
	im.c = c;
	im.stats = stats;
	im.max_line = opt && opt->max_line_bytes ? opt->max_line_bytes : PP_FHIR_DEFAULT_MAX_LINE;
	im.max_depth = opt && opt->max_json_depth > 0 ? opt->max_json_depth
	                                               : PP_FHIR_DEFAULT_MAX_DEPTH;
	im.on_error = opt ? opt->on_error : NULL;
	im.ctx = opt ? opt->ctx : NULL;
	for (int p = PASS_PATIENTS; p <= PASS_OTHERS; p++) {
		im.pass = (enum pass)p;
		for (int i = 0; i < n; i++) {
			if (!paths[i]) {
				rc = PP_EINVAL;
				goto out;
			}
			if ((rc = import_one(&im, paths[i])))
				goto out;
		}
	}
out:
	if (rc) {
		tx_abort(&im);
		pp_log_error("fhir: import stopped (%s)", pp_strerror(rc));
	}
	return rc;
}

int pp_fhir_import_file(struct pp_store *st, struct pp_crypto *c, const char *path,
                        const pp_fhir_import_opts *opt, pp_fhir_import_stats *stats)
{
	const char *paths[1] = { path };

	return pp_fhir_import_files(st, c, paths, 1, opt, stats);
}
