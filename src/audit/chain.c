/* audit: the canonical record encoding and the checkpoint message — the one definition of what
 * the hash chain and the signatures cover. */
#include "audit/audit_internal.h"
#include "crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

static const char cp_domain[27] = "phiportal-audit-checkpoint"; /* with its NUL: 27 bytes */

static size_t cut_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	/* do not end inside a multi-byte sequence: back off over continuation bytes */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

void pp_audit_row_fields(const pp_audit_event *ev, pp_store_audit_row *r)
{
	const char *f[PP_STORE_AUDIT_NFIELDS] = {
		ev->actor, ev->actor_role, ev->on_behalf_of, ev->patient, ev->action,
		ev->resource_type, ev->resource_id, ev->outcome, ev->source_ip, ev->user_agent,
		ev->session_id, ev->purpose, ev->request_id, ev->detail,
	};

	for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++) {
		r->field[i] = f[i];
		r->field_len[i] = f[i] ? cut_utf8(f[i], PP_AUDIT_FIELD_MAX) : 0;
	}
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	return p + 8;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

int pp_audit_chain_hash(const uint8_t prev[32], const pp_store_audit_row *r, uint8_t out[32])
{
	uint8_t stackbuf[4096], *buf = stackbuf, *p;
	size_t need = 32 + 8 + 8;
	int rc;

	for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++) {
		if (r->field[i] && r->field_len[i] > UINT32_MAX)
			return PP_ETOOBIG;
		need += 1 + 4 + (r->field[i] ? r->field_len[i] : 0);
	}
	if (need > sizeof stackbuf) {
		buf = malloc(need);
		if (!buf)
			return PP_ENOMEM;
	}
	p = buf;
	memcpy(p, prev, 32);
	p += 32;
	p = put_u64(p, (uint64_t)r->seq);
	p = put_u64(p, (uint64_t)r->ts_ms);
	for (int i = 0; i < PP_STORE_AUDIT_NFIELDS; i++) {
		*p++ = r->field[i] ? 1 : 0;
		p = put_u32(p, r->field[i] ? (uint32_t)r->field_len[i] : 0);
		if (r->field[i] && r->field_len[i]) {
			memcpy(p, r->field[i], r->field_len[i]);
			p += r->field_len[i];
		}
	}
	rc = pp_crypto_sha256(buf, (size_t)(p - buf), out);
	if (buf != stackbuf)
		free(buf);
	return rc ? PP_ECRYPTO : PP_OK;
}

void pp_audit_checkpoint_message(int64_t seq, const uint8_t hash[32],
                                 uint8_t msg[PP_AUDIT_CP_MSG_LEN])
{
	memcpy(msg, cp_domain, sizeof cp_domain);
	put_u64(msg + sizeof cp_domain, (uint64_t)seq);
	memcpy(msg + sizeof cp_domain + 8, hash, 32);
}
