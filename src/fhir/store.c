/* fhir: the one sealed write path for resources, patient-reference resolution and loading a stored
 * resource back.
 *
 * Logical ids are PHI (a Synthea Patient id is the MRN), so the row holds only the blind index of
 * "Type/id"; the body is AEAD-sealed with AAD ("resource","body",row id); the digest is a keyed
 * digest of the canonical JSON (sorted keys, compact), so re-importing an identical resource is
 * detected without decrypting anything.
 *
 * patient_id: a Patient row points at itself (its patient_id is its own row id), so "all resources
 * of patient P" (the FHIR Patient compartment) includes the Patient resource and a policy check on
 * any row needs only its patient_id. Organization, Practitioner, PractitionerRole and Location rows
 * have 0, as do resources whose subject does not resolve (conditional references such as
 * "Patient?identifier=..." are kept verbatim in the body and never resolved).
 */
#include "fhir/fhir_internal.h"
#include "store/store.h"
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

#define LID_MAX 128

int pp_fhir_lid_bidx(struct pp_crypto *c, const char *type, const char *id, uint8_t out[32])
{
	char lid[LID_MAX];
	int n = snprintf(lid, sizeof lid, "%s/%s", type, id);
	int rc;

	if (n < 0 || (size_t)n >= sizeof lid)
		return PP_EINVAL;
	rc = pp_crypto_blind_index(c, "fhir-lid", lid, out);
	pp_wipe(lid, sizeof lid);
	return rc;
}

int pp_fhir_resolve_patient(struct pp_store *st, struct pp_crypto *c, const char *reference,
                            int64_t *patient_id)
{
	char id[80];
	const char *p = NULL, *end;
	uint8_t bidx[32];
	pp_store_resource row = {0};
	int rc;

	*patient_id = 0;
	if (!reference)
		return PP_OK;
	if (!strncmp(reference, "Patient/", 8))
		p = reference + 8;
	else if (!strncmp(reference, "urn:uuid:", 9))
		p = reference + 9;
	else if (strstr(reference, "://") && (p = strstr(reference, "/Patient/")))
		p += 9;
	if (!p)
		return PP_OK;   /* conditional or foreign reference: kept as it is, not resolved */
	end = strchr(p, '/');   /* "Patient/x/_history/2" */
	if (!end)
		end = p + strlen(p);
	if ((size_t)(end - p) >= sizeof id)
		return PP_OK;
	memcpy(id, p, (size_t)(end - p));
	id[end - p] = '\0';
	if (!pp_fhir_valid_id(id)) {
		rc = PP_OK;
		goto out;
	}
	if ((rc = pp_fhir_lid_bidx(c, "Patient", id, bidx)))
		goto out;
	rc = pp_store_resource_find_lid(st, "Patient", bidx, &row);
	if (rc == PP_ENOTFOUND) {
		rc = PP_OK;
		goto out;
	}
	if (rc)
		goto out;
	*patient_id = row.id;
out:
	pp_store_resource_clear(&row);
	pp_wipe(id, sizeof id);
	return rc;
}

/* the reference naming the patient whose compartment the resource belongs to */
static const char *subject_reference(const json_t *res)
{
	const char *ref = pp_fhir_path_str(res, "subject.reference");

	return ref ? ref : pp_fhir_path_str(res, "patient.reference");
}

static void free_json_text(char *s)
{
	if (s) {
		pp_wipe(s, strlen(s));
		free(s);
	}
}

int pp_fhir_store_resource(struct pp_store *st, struct pp_crypto *c, json_t *res, int *outcome)
{
	const char *type = pp_fhir_known_type(pp_fhir_str(res, "resourceType"));
	const char *id = pp_fhir_str(res, "id");
	char *canon = NULL, *body = NULL;
	uint8_t bidx[32], digest[32], rnd[16];
	pp_store_resource old = {0}, row = {0};
	int64_t patient = 0;
	int rc, exists;

	*outcome = 0;
	if (!st || !c || !type || !pp_fhir_valid_id(id))
		return PP_EINVAL;
	if ((rc = pp_fhir_lid_bidx(c, type, id, bidx)))
		goto out;
	canon = json_dumps(res, JSON_SORT_KEYS | JSON_COMPACT);
	body = json_dumps(res, JSON_COMPACT);
	if (!canon || !body) {
		rc = PP_ENOMEM;
		goto out;
	}
	if ((rc = pp_crypto_keyed_digest(c, canon, strlen(canon), digest)))
		goto out;
	if (strcmp(type, "Patient") != 0 && strcmp(type, "Organization") != 0 &&
	    strcmp(type, "Practitioner") != 0 && strcmp(type, "PractitionerRole") != 0 &&
	    strcmp(type, "Location") != 0 &&
	    (rc = pp_fhir_resolve_patient(st, c, subject_reference(res), &patient)))
		goto out;

	rc = pp_store_resource_find_lid(st, type, bidx, &old);
	if (rc && rc != PP_ENOTFOUND)
		goto out;
	exists = rc == PP_OK;
	if (exists && !strcmp(type, "Patient"))
		patient = old.id;
	if (exists && !pp_ct_compare(old.digest, digest, 32) && old.patient_id == patient) {
		*outcome = PP_FHIR_STORED_UNCHANGED;
		rc = PP_OK;
		goto out;
	}
	snprintf(row.type, sizeof row.type, "%s", type);
	memcpy(row.lid_bidx, bidx, 32);
	memcpy(row.digest, digest, 32);
	row.last_updated_ms = pp_clock_now_ms();
	if (exists) {
		row.id = old.id;
		memcpy(row.pub_id, old.pub_id, sizeof row.pub_id);
		/* a newly resolvable subject alone is not a new version of the resource */
		row.version = pp_ct_compare(old.digest, digest, 32) ? old.version + 1 : old.version;
	} else {
		row.id = pp_store_new_id();
		if (row.id <= 0 || pp_random(rnd, sizeof rnd)) {
			rc = PP_EIO;
			goto out;
		}
		pp_hex_encode(rnd, sizeof rnd, row.pub_id);
		row.version = 1;
		if (!strcmp(type, "Patient"))
			patient = row.id;
	}
	row.patient_id = patient;
	rc = pp_crypto_seal(c, "resource", "body", row.id, body, strlen(body), &row.body,
	                    &row.body_len);
	if (rc)
		goto out;
	if ((rc = pp_store_resource_put(st, &row)))
		goto out;
	*outcome = exists ? PP_FHIR_STORED_CHANGED : PP_FHIR_STORED_NEW;
out:
	free_json_text(canon);
	free_json_text(body);
	pp_store_resource_clear(&old);
	pp_store_resource_clear(&row);
	return rc;
}

int pp_fhir_resource_load(struct pp_crypto *c, const void *stored_resource, json_t **out)
{
	const pp_store_resource *r = stored_resource;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	json_t *v;
	int rc;

	if (!out)
		return PP_EINVAL;
	*out = NULL;
	if (!c || !r || !r->body || !r->body_len)
		return PP_EINVAL;
	rc = pp_crypto_unseal(c, "resource", "body", r->id, r->body, r->body_len, &pt, &ptlen);
	if (rc)
		return rc;
	v = json_loadb((const char *)pt, ptlen, 0, NULL);
	pp_crypto_free_plain(pt, ptlen);
	if (!json_is_object(v)) {
		json_decref(v);
		return PP_EIO;   /* authenticated but not a resource: written by something else */
	}
	*out = v;
	return PP_OK;
}
