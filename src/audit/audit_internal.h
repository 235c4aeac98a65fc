/*
 * Private to audit/: the canonical encoding shared by the writer (audit.c) and the verifier
 * (verify.c). Changing it changes every hash: bump the format and keep the old one for verify.
 */
#ifndef PP_AUDIT_INTERNAL_H
#define PP_AUDIT_INTERNAL_H

#include "audit/audit.h"
#include "store/store_audit.h"

/* a field longer than this is cut (at a UTF-8 boundary) before it is hashed and stored */
#define PP_AUDIT_FIELD_MAX 2048

/* maps an event's fields into r->field/field_len in canonical order (cutting long fields) */
void pp_audit_row_fields(const pp_audit_event *ev, pp_store_audit_row *r);

/* out = SHA-256(prev || seq(u64 BE) || ts_ms(u64 BE) || for each field: present(1) len(u32 BE)
 * bytes). The presence byte keeps NULL and "" apart; the lengths keep fields from shifting. */
int pp_audit_chain_hash(const uint8_t prev[32], const pp_store_audit_row *r, uint8_t out[32]);

/* the signed message of a checkpoint: "phiportal-audit-checkpoint\0" || seq(u64 BE) || hash */
#define PP_AUDIT_CP_MSG_LEN (27 + 8 + 32)
void pp_audit_checkpoint_message(int64_t seq, const uint8_t hash[32],
                                 uint8_t msg[PP_AUDIT_CP_MSG_LEN]);

#endif
