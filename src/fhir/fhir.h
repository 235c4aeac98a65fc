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

/* The blind index of "Type/logical-id" under which a resource is found without storing its id
 * (e.g. a Patient by medical record number, which Synthea uses as the logical id). */
int pp_fhir_lid_bidx(struct pp_crypto *c, const char *type, const char *id, uint8_t out[32]);

/* Decrypts one stored resource into a JSON object (caller json_decref's). */
int pp_fhir_resource_load(struct pp_crypto *c, const void *stored_resource /* pp_store_resource */,
                          json_t **out);

/* ---- the encounter relationship (policy/ "encounter"; fhir/encounter.c) ----
 * Importing an Encounter indexes its participating practitioners (blind indexes of their names)
 * with its patient row and period; staff accounts are linked to a Practitioner by the same names. */
#define PP_FHIR_ENCOUNTER_MAX_KEYS 16       /* = PP_STORE_ENCOUNTER_MAX_KEYS */
#define PP_FHIR_PRACTITIONER_KEY_MAX 300
typedef struct pp_fhir_encounter_parts {
	int indexed;               /* 0: its status relates no one (planned, cancelled, ...) */
	int64_t start_ms, end_ms;  /* end_ms 0: ongoing */
	int nkeys;                 /* "id:<id>" or "identifier:<system>|<value>" */
	char keys[PP_FHIR_ENCOUNTER_MAX_KEYS][PP_FHIR_PRACTITIONER_KEY_MAX];
} pp_fhir_encounter_parts;
/* The parser: what an Encounter says about who took part and when (no store, no keys). */
int pp_fhir_encounter_parts_of(const json_t *enc, pp_fhir_encounter_parts *out);
/* the blind index of a practitioner name */
int pp_fhir_practitioner_key(struct pp_crypto *c, const char *name, uint8_t out[32]);
/* (Re)writes the index rows of a stored Encounter (the importer calls it for every Encounter). */
int pp_fhir_encounter_index(struct pp_store *st, struct pp_crypto *c, const json_t *enc);
/* The keys linking a staff account to one Practitioner, given its logical id (it must be stored:
 * PP_ENOTFOUND) or its NPI (digits; the stored Practitioner with that NPI, if any, adds its
 * names). Exactly one of practitioner_id and npi. */
int pp_fhir_practitioner_keys(struct pp_store *st, struct pp_crypto *c, const char *practitioner_id,
                              const char *npi, uint8_t (*keys)[32], int max, int *n);
/* init --demo: links user_id to the stored Practitioner (with an NPI) who took part in encounters
 * of the most patients (ties: the lowest NPI), so the choice is deterministic; npi_out gets it.
 * PP_ENOTFOUND when no Practitioner took part in any indexed encounter. */
int pp_fhir_demo_link_practitioner(struct pp_store *st, struct pp_crypto *c, int64_t user_id,
                                   char npi_out[32]);

/* ---- the patient's consent choices as FHIR R4 Consent (consent.c) ----
 * Records a change of the patient's choices: a new Consent (status active, scope patient-privacy,
 * LOINC 59284-0, a permit/deny provision per choice) in the patient's compartment; the Consent it
 * supersedes gets a new version with status inactive and stays as history; the choices policy/
 * enforces are updated and linked to the new Consent. Runs inside the caller's transaction
 * (pp_store_begin ... pp_store_commit), so the record and the enforcement never disagree.
 * pub_id/resource_id: the new Consent's served id and row id. */
int pp_fhir_consent_record(struct pp_store *st, struct pp_crypto *c, int64_t patient_id,
                           bool share_apps, bool share_sensitive_proxies, int64_t by_user,
                           char pub_id[40], int64_t *resource_id);
/* The patient's Consent resources as served (ids and references rewritten), newest first, at most
 * max of them in *list; *current (when asked) the one whose row is current_id, or NULL. The caller
 * json_decref's both. */
int pp_fhir_consent_list(struct pp_store *st, struct pp_crypto *c, int64_t patient_id,
                         int64_t current_id, size_t max, json_t **list, json_t **current);
/* The choices a Consent written by pp_fhir_consent_record records; PP_EINVAL when it has not the
 * two provisions (apps: actor role IRCP; proxies: actor role PRS) with type permit or deny. */
int pp_fhir_consent_choices(const json_t *consent, bool *share_apps, bool *share_sensitive_proxies);

/* ---- the FHIR R4 REST API (/fhir): search parameters ----
 * Bodies are encrypted at rest with no clear-text index, so a search with filters decrypts the
 * candidate rows (one patient's compartment, or a capped scan for directory types and user/system
 * callers) and filters them in memory with the parsed parameters below; one that needs no body
 * (pp_fhir_search_needs_body) decides on the rows and decrypts only the page it serves. */
#define PP_FHIR_COUNT_DEFAULT 50
#define PP_FHIR_COUNT_MAX 200
#define PP_FHIR_SEARCH_MAX_FILTERS 16   /* parameters (each may repeat: AND) */
#define PP_FHIR_SEARCH_MAX_VALUES 8     /* comma-separated alternatives of one parameter (OR) */
#define PP_FHIR_SEARCH_MAX_IDS 8
#define PP_FHIR_SEARCH_MAX_IGNORED 16
#define PP_FHIR_NORM_MAX 2048           /* the normalised query (self/next links, cursor MAC) */

/* FHIR search prefixes for ordered values */
enum pp_fhir_prefix {
	PP_FHIR_PFX_EQ = 0, PP_FHIR_PFX_NE, PP_FHIR_PFX_GT, PP_FHIR_PFX_LT, PP_FHIR_PFX_GE,
	PP_FHIR_PFX_LE, PP_FHIR_PFX_SA, PP_FHIR_PFX_EB, PP_FHIR_PFX_AP,
};
/* A date search value: the range its precision implies, [lo_ms, hi_ms) in UTC ("2020" is the whole
 * year; a time without a zone is taken as UTC). */
typedef struct pp_fhir_date {
	enum pp_fhir_prefix prefix;
	int64_t lo_ms, hi_ms;
} pp_fhir_date;
/* A token: "code" (any system), "system|code", "|code" (no system), "system|" (any code). */
typedef struct pp_fhir_token {
	char system[200];
	char code[120];
	bool any_system;   /* "code" */
	bool no_system;    /* "|code" */
} pp_fhir_token;

enum pp_fhir_param_kind { PP_FHIR_PARAM_TOKEN = 1, PP_FHIR_PARAM_DATE, PP_FHIR_PARAM_STRING };
typedef struct pp_fhir_param_def {
	const char *type;          /* resource type */
	const char *name;          /* search parameter name */
	enum pp_fhir_param_kind kind;
	const char *paths;         /* "|"-separated element paths, arrays flattened, e.g.
	                              "effectiveDateTime|effectivePeriod|effectiveInstant" */
} pp_fhir_param_def;
/* the table of supported type-specific parameters (for the CapabilityStatement); *n entries */
const pp_fhir_param_def *pp_fhir_param_defs(size_t *n);

typedef struct pp_fhir_filter {
	const pp_fhir_param_def *def;
	int nvalues;               /* alternatives: any one matching satisfies the filter */
	union {
		pp_fhir_date dates[PP_FHIR_SEARCH_MAX_VALUES];
		pp_fhir_token tokens[PP_FHIR_SEARCH_MAX_VALUES];
		char strings[PP_FHIR_SEARCH_MAX_VALUES][64];
	} v;
} pp_fhir_filter;

enum pp_fhir_sort {
	PP_FHIR_SORT_NONE = 0, PP_FHIR_SORT_DATE, PP_FHIR_SORT_DATE_DESC, PP_FHIR_SORT_UPDATED,
	PP_FHIR_SORT_UPDATED_DESC,
};

/* pp_fhir_search_parse does not zero the whole (45 KiB) struct: a new member must get its initial
 * value in search_init (search.c); arrays are read only up to their counts */
typedef struct pp_fhir_search {
	const char *type;                  /* interned resource type */
	char patient[64];                  /* opaque Patient id from patient= / subject=, "" none */
	char ids[PP_FHIR_SEARCH_MAX_IDS][64];   /* _id alternatives */
	int nids;
	int count;                         /* page size: default 50, capped at 200 */
	bool summary_count;                /* _summary=count (or _count=0 gives no entries) */
	bool want_xml;                     /* _format asked for XML: the caller answers 406 */
	enum pp_fhir_sort sort;
	pp_fhir_date last_updated[4];      /* _lastUpdated, each must hold (AND) */
	int nlast_updated;
	pp_fhir_filter filters[PP_FHIR_SEARCH_MAX_FILTERS];
	int nfilters;
	char cursor[128];                  /* _cursor as received ("" none): verified by the API */
	char norm[PP_FHIR_NORM_MAX];       /* accepted parameters, sorted and re-encoded, no _cursor */
	char ignored[PP_FHIR_SEARCH_MAX_IGNORED][40];   /* lenient: parameter names ignored */
	int nignored;
	char error[160];                   /* why PP_EINVAL (stable text, never a parameter value) */
	unsigned seen_once;                /* parser state: result parameters already seen */
} pp_fhir_search;

/* Parses a raw query string (percent-encoded, without '?') for a search on type. strict: an
 * unknown or unsupported parameter is an error (Prefer: handling=strict); otherwise it is ignored
 * and listed in ignored[]. Malformed values of known parameters are always errors. Limits: 64
 * pairs, 4096 bytes. PP_EINVAL with out->error set; out is always initialised. */
int pp_fhir_search_parse(const char *type, const char *query, bool strict, pp_fhir_search *out);
/* Does the resource (as stored, before its references are rewritten) satisfy every filter?
 * pub_id and last_updated_ms come from the row (_id and _lastUpdated are the served values). */
bool pp_fhir_search_match(const pp_fhir_search *s, const json_t *res, const char *pub_id,
                          int64_t last_updated_ms);
/* Does deciding on a row (match or sort) need its body? Without filters and without a sort by a
 * date of the resource, pp_fhir_search_match_row decides on the row alone. */
bool pp_fhir_search_needs_body(const pp_fhir_search *s);
/* the part of pp_fhir_search_match that needs no body: _id and _lastUpdated */
bool pp_fhir_search_match_row(const pp_fhir_search *s, const char *pub_id,
                              int64_t last_updated_ms);
/* The sort key of a resource for s->sort (ms; INT64_MIN when it has no such date). */
int64_t pp_fhir_search_sort_key(const pp_fhir_search *s, const json_t *res,
                                int64_t last_updated_ms);
/* Parses a FHIR date / dateTime / instant (also the partial forms used in searches) into the
 * range its precision covers. PP_EINVAL on anything else. */
int pp_fhir_date_parse(const char *text, int64_t *lo_ms, int64_t *hi_ms);
/* FHIR R4 prefix semantics between a search range and a resource's range */
bool pp_fhir_date_matches(const pp_fhir_date *p, int64_t lo_ms, int64_t hi_ms);
/* does a token match one JSON element (CodeableConcept, Coding, Identifier, code string, bool)? */
bool pp_fhir_token_matches(const pp_fhir_token *t, const json_t *element);

/* ---- the REST API ---- */
/* OperationOutcome JSON (caller json_decref's). code is a FHIR issue-type code ("not-found",
 * "invalid", "security", ...); text must not carry PHI. */
json_t *pp_fhir_outcome(const char *severity, const char *code, const char *text);
/* The server's CapabilityStatement; public_url is server.public_url. */
json_t *pp_fhir_capability(const char *public_url);
/* Rewrites a stored resource for serving: id → pub_id, meta.versionId/lastUpdated from the row,
 * every Reference ("Type/id", "urn:uuid:id") to the served "Type/<pub_id>"; unresolvable local
 * references lose their reference string (display/identifier are kept); conditional references
 * ("Practitioner?identifier=...") and absolute URLs of other servers are kept as they are. */
int pp_fhir_serve_resource(struct pp_store *st, struct pp_crypto *c, json_t *res,
                           const void *stored_resource /* pp_store_resource */);

struct pp_http_server;
/* registers GET /fhir/metadata, /fhir/:type, /fhir/:type/:id */
int pp_fhir_api_routes(struct pp_http_server *s, pp_app *app);

#endif
