/* store/ for the "encounter" relationship of policy/: which staff account is which Practitioner
 * (practitioner_link), and which practitioners took part in which patient's encounters, and when
 * (encounter_participant, written by fhir/ at import). A practitioner is named only by a blind
 * index (pp_crypto_blind_index, domain "encounter-practitioner") of "id:<logical id>" or
 * "identifier:<system>|<value>"; patients and encounters by their row ids. No PHI in clear. */
#ifndef PP_STORE_ENCOUNTER_H
#define PP_STORE_ENCOUNTER_H

#include "store/store.h"

#define PP_STORE_ENCOUNTER_MAX_KEYS 16   /* practitioner keys per encounter or per link */

/* Replaces the index rows of one Encounter (resource row id): keys are the participating
 * practitioners' blind indexes; end_ms 0 = ongoing. n 0 (or patient_id 0) only removes them.
 * Runs inside the caller's transaction if there is one. */
int pp_store_encounter_index_put(pp_store *st, int64_t encounter_id, int64_t patient_id,
                                 const uint8_t (*keys)[32], int n, int64_t start_ms,
                                 int64_t end_ms);

/* Replaces user_id's practitioner link with keys (all the names of one Practitioner). */
int pp_store_practitioner_link_set(pp_store *st, int64_t user_id, const uint8_t (*keys)[32], int n,
                                   int64_t now_ms);
/* Removes user_id's link: PP_ENOTFOUND when there was none. */
int pp_store_practitioner_unlink(pp_store *st, int64_t user_id);
/* *linked = 1 when user_id is linked to a Practitioner */
int pp_store_practitioner_linked(pp_store *st, int64_t user_id, int *linked);

/* *related = 1 when user_id is linked to a practitioner who took part in an encounter of
 * patient_id that started by now_ms and is ongoing or ended at or after since_ms. */
int pp_store_encounter_related(pp_store *st, int64_t user_id, int64_t patient_id, int64_t now_ms,
                               int64_t since_ms, int *related);

typedef int (*pp_store_encounter_cb)(void *ctx, int64_t patient_id);   /* non-zero stops */
/* the patients related to user_id that way (each once, most recent encounter first) */
int pp_store_encounter_patients_each(pp_store *st, int64_t user_id, int64_t now_ms,
                                     int64_t since_ms, pp_store_encounter_cb cb, void *ctx);

/* how many distinct patients have an indexed encounter with the practitioner named key */
int pp_store_encounter_patient_count(pp_store *st, const uint8_t key[32], int64_t *n);

#endif
