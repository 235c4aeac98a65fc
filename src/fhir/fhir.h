/*
 * fhir — FHIR R4 resources: import of Bulk Data NDJSON and Bundles into the encrypted store,
 * demo data generation (LOINC-coded labs and vitals), and reading a patient's resources back.
 * Every resource body is sealed by crypto/ before it reaches store/; logical ids are stored only as
 * blind indexes (in Synthea exports the Patient id is also the MRN).
 */
#ifndef PP_FHIR_H
#define PP_FHIR_H

#include "core/core.h"
#include <jansson.h>

struct pp_store;
struct pp_crypto;

typedef struct pp_fhir_import_stats {
	const char *types[24];
	long counts[24];           /* resources newly stored or changed, per type */
	long unchanged[24];        /* identical resources already present */
	int ntypes;
	long errors;               /* malformed lines / entries skipped */
} pp_fhir_import_stats;

typedef struct pp_fhir_import_opts {
	size_t max_line_bytes;     /* a longer line is reported and skipped */
	int max_json_depth;
	/* error reporter: file name, line number, stable reason code (no PHI) */
	void (*on_error)(void *ctx, const char *file, long line, const char *reason);
	void *ctx;
} pp_fhir_import_opts;

/* Imports an NDJSON file (one resource per line) or a JSON Bundle/resource. References between
 * resources are resolved to internal row ids (Patient first: a file set is imported Patient-first
 * by pp_fhir_import_files). Each resource is written atomically; re-import is idempotent.
 * - A path ending in ".json" is one JSON document (a Bundle's entries, or one resource); any other
 *   path is NDJSON (a line may also hold a Bundle).
 * - stats are added to (zero the struct first); its types[] point to static strings.
 * - on_error's line is the 1-based NDJSON line, or for a .json Bundle the 1-based entry number.
 *   Reason codes: empty, json_invalid, json_too_deep, line_too_long, not_object,
 *   missing_resource_type, unknown_resource_type, missing_id, invalid_id, entry_without_resource,
 *   bundle_without_entries, file_too_big. The file argument is the caller's path: do not log it.
 * - opts may be NULL; 0 limits mean the defaults (8 MiB lines, depth 64).
 * - Rows: a Patient's patient_id is its own row id (the Patient is in its own compartment);
 *   Organization, Practitioner, PractitionerRole, Location and unresolvable subjects get 0;
 *   a subject that resolves later is linked when the resource is imported again.
 * Returns PP_ENOTFOUND for a missing file, PP_EIO/PP_ECRYPTO on store or key failures (the open
 * batch is rolled back; earlier batches stay and a re-run completes the import). */
int pp_fhir_import_file(struct pp_store *st, struct pp_crypto *c, const char *path,
                        const pp_fhir_import_opts *opt, pp_fhir_import_stats *stats);
int pp_fhir_import_files(struct pp_store *st, struct pp_crypto *c, const char *const *paths,
                         int n, const pp_fhir_import_opts *opt, pp_fhir_import_stats *stats);

/* Parses one NDJSON line into a resource object with limits; PP_EINVAL with *reason set on
 * malformed input (for the fuzzer and the importer). */
int pp_fhir_parse_resource(const char *data, size_t len, int max_depth, json_t **out,
                           const char **reason);

/* Generates deterministic LOINC lab and vital-sign Observations over several years for the patient
 * (row id) and stores them encrypted. Returns the number generated. */
int pp_fhir_demo_observations(struct pp_store *st, struct pp_crypto *c, int64_t patient_id,
                              uint32_t seed, long *generated);

/* Builds the patient health summary of docs/api.md ("Health summary") for the Patient row
 * patient_id: demographics, problems, medications, allergies, immunizations, latest labs and
 * vitals per LOINC code, lab trends (oldest first) and encounters; every "id" is an opaque pub_id.
 * PP_ENOTFOUND when the row is not a Patient. The caller json_decref's *out. */
int pp_fhir_summary(struct pp_store *st, struct pp_crypto *c, int64_t patient_id, json_t **out);

/* Decrypts one stored resource into a JSON object (caller json_decref's). */
int pp_fhir_resource_load(struct pp_crypto *c, const void *stored_resource /* pp_store_resource */,
                          json_t **out);

#endif
