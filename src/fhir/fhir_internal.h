/* Private to fhir/: the parser with Bundle support and the one sealed write path shared by the
 * importer and the demo-data generator. */
#ifndef PP_FHIR_INTERNAL_H
#define PP_FHIR_INTERNAL_H

#include "fhir/fhir.h"

#define PP_FHIR_DEFAULT_MAX_LINE (8u << 20)
#define PP_FHIR_DEFAULT_MAX_DEPTH 64
#define PP_FHIR_MAX_DOC_BYTES ((size_t)256 << 20)   /* a whole-file .json Bundle */

/* The interned name of a known resource type (pointer stable for the program's life), or NULL. */
const char *pp_fhir_known_type(const char *type);
/* The interned name of a type the portal itself writes and the API serves, but the importer does
 * not accept (Consent: the patient's own choices, consent.c), or NULL. */
const char *pp_fhir_portal_type(const char *type);
/* 1 when id matches the FHIR id grammar [A-Za-z0-9.-]{1,64} */
int pp_fhir_valid_id(const char *id);
/* Depth of a parsed JSON value (objects and arrays count one level each), stopping at limit+1. */
int pp_fhir_json_depth(const json_t *v, int limit);
/* As pp_fhir_parse_resource; with allow_bundle a Bundle (id optional) is accepted too and its
 * entries are left for the caller to check. */
int pp_fhir_parse_any(const char *data, size_t len, int max_depth, int allow_bundle, json_t **out,
                      const char **reason);

enum { PP_FHIR_STORED_NEW = 1, PP_FHIR_STORED_CHANGED, PP_FHIR_STORED_UNCHANGED };
/* Seals and stores one parsed resource of a known type (idempotent); *outcome says what happened.
 * Runs inside the caller's transaction if there is one. */
int pp_fhir_store_resource(struct pp_store *st, struct pp_crypto *c, json_t *res, int *outcome);
/* The row id of the Patient that reference ("Patient/<id>", ".../Patient/<id>", "urn:uuid:<id>")
 * points at; 0 when it does not resolve (conditional references never do). */
int pp_fhir_resolve_patient(struct pp_store *st, struct pp_crypto *c, const char *reference,
                            int64_t *patient_id);

/* the blind index of "Type/id" (how a logical id is found without storing it) */
int pp_fhir_lid_bidx(struct pp_crypto *c, const char *type, const char *id, uint8_t out[32]);

/* small JSON helpers (NULL-safe) */
const char *pp_fhir_str(const json_t *obj, const char *key);
json_t *pp_fhir_path(const json_t *obj, const char *path);   /* "a.b.0.c" */
const char *pp_fhir_path_str(const json_t *obj, const char *path);

#endif
