/* store/ for the patient's consent record: the choices policy/ enforces (the patient_consent row,
 * read by pp_store_consent_get in store_access.h) and the link from those choices to the FHIR
 * Consent resource (a "Consent" row of the resource table) that records them. fhir/consent.c
 * writes both in one transaction, so what is enforced and what is recorded never disagree. */
#ifndef PP_STORE_CONSENT_H
#define PP_STORE_CONSENT_H

#include "store/store.h"
#include "store/store_access.h"

/* The enforced choices (defaults when no row: apps yes, sensitive data to proxies no) and the row
 * id of the Consent resource that records them (*resource_id 0: none recorded yet). */
int pp_store_consent_current(pp_store *st, int64_t patient_id, pp_store_consent *out,
                             int64_t *resource_id);
/* Sets the choices and points them at the Consent row resource_id (> 0). Meant to run inside the
 * caller's transaction, after the Consent row was written. */
int pp_store_consent_link(pp_store *st, int64_t patient_id, const pp_store_consent *c,
                          int64_t resource_id);

#endif
