/*
 * Envelope encryption: the KEK from the key file wraps the data keys kept in the crypto_key table.
 *
 * Wrapped key (crypto_key.wrapped):
 *   version(1)=1 | KEK id(8) | nonce(12) | AES-256-GCM(key material) | tag(16)
 *   AAD = "crypto_key\0wrapped\0<row id decimal>\0<kind>"
 * The KEK id is the first 8 bytes of HMAC-SHA-256(KEK, "phiportal kek id v1"); it only tells a
 * wrong key file apart from a damaged row in the log, the GCM tag is what protects the key.
 * Key material: 'dek' and 'bidx' are 32 random bytes; 'sign' is the Ed25519 seed(32) followed by
 * its public key(32) (GnuTLS needs both to import the key).
 *
 * After pp_crypto_open the structure is read-only: every operation builds its own GnuTLS handle,
 * so one pp_crypto serves all threads without locks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>

#include "crypto/crypto_internal.h"
#include "store/store.h"

#define WRAP_VERSION 1
#define FIELD_VERSION 1
#define SIGN_MATERIAL_LEN (32 + PP_CRYPTO_PUB_LEN)
#define AAD_MAX 256
#define BIDX_DOMAIN_MAX 128
#define BIDX_VALUE_MAX 16384
#define MAX_KEYS 4096

static const char kek_id_label[] = "phiportal kek id v1";
/* no NUL in the label, while every blind-index input holds one: the two can never collide */
static const char digest_label[] = "phiportal keyed digest v1";

struct pp_crypto_dek {
	int64_t id;
	uint8_t key[PP_CRYPTO_KEY_LEN];
};

struct pp_crypto {
	struct pp_crypto_dek *deks;
	size_t ndeks;
	size_t current;                    /* index into deks of the key that encrypts */
	uint8_t bidx_key[PP_CRYPTO_KEY_LEN];
	uint8_t digest_key[PP_CRYPTO_KEY_LEN];
	uint8_t sign_seed[32];
	uint8_t sign_pub[PP_CRYPTO_PUB_LEN];
};

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* "a\0b\0<n>" (and "\0c" when c is given) into out; returns the length or a negative code */
static int build_aad(char *out, size_t cap, const char *a, const char *b, int64_t n, const char *c)
{
	size_t la, lb, lc = 0, pos;
	int w;

	if (!a || !b || !*a || !*b)
		return PP_EINVAL;
	la = strlen(a);
	lb = strlen(b);
	if (c)
		lc = strlen(c);
	if (la + lb + lc + 32 > cap)
		return PP_EINVAL;
	memcpy(out, a, la);
	out[la] = '\0';
	memcpy(out + la + 1, b, lb);
	out[la + 1 + lb] = '\0';
	pos = la + lb + 2;
	w = snprintf(out + pos, cap - pos, "%" PRId64, n);
	if (w < 0 || (size_t)w >= cap - pos)
		return PP_EINVAL;
	pos += (size_t)w;
	if (c) {
		out[pos++] = '\0';
		memcpy(out + pos, c, lc);
		pos += lc;
	}
	return (int)pos;
}

/* ---- wrapping under the KEK ---- */

static int kek_id(const uint8_t kek[PP_CRYPTO_KEY_LEN], uint8_t id[8])
{
	uint8_t mac[32];
	int rc = pp_crypto_hmac_sha256(kek, PP_CRYPTO_KEY_LEN, kek_id_label,
	                               sizeof(kek_id_label) - 1, mac);

	if (rc == 0)
		memcpy(id, mac, 8);
	pp_wipe(mac, sizeof(mac));
	return rc;
}

static int wrap_key(const uint8_t kek[PP_CRYPTO_KEY_LEN], int64_t id, const char *kind,
                    const uint8_t *material, size_t len, uint8_t **out, size_t *outlen)
{
	char aad[AAD_MAX];
	uint8_t *buf = NULL;
	size_t n = PP_CRYPTO_OVERHEAD + len;
	int aadlen, rc;

	aadlen = build_aad(aad, sizeof(aad), "crypto_key", "wrapped", id, kind);
	if (aadlen < 0)
		return aadlen;
	buf = malloc(n);
	if (!buf)
		return PP_ENOMEM;
	buf[0] = WRAP_VERSION;
	rc = kek_id(kek, buf + 1);
	if (rc)
		goto out;
	if (gnutls_rnd(GNUTLS_RND_NONCE, buf + 9, PP_CRYPTO_NONCE_LEN) < 0) {
		rc = PP_ECRYPTO;
		goto out;
	}
	rc = pp_crypto_aead_encrypt(kek, buf + 9, aad, (size_t)aadlen, material, len,
	                            buf + PP_CRYPTO_HEADER_LEN);
	if (rc)
		goto out;
	*out = buf;
	*outlen = n;
	buf = NULL;
out:
	free(buf);
	return rc;
}

static int unwrap_key(const uint8_t kek[PP_CRYPTO_KEY_LEN], const pp_store_key *k,
                      uint8_t *material, size_t len)
{
	char aad[AAD_MAX];
	uint8_t want[8];
	int aadlen, rc;

	if (!k->wrapped || k->wrapped_len != PP_CRYPTO_OVERHEAD + len ||
	    k->wrapped[0] != WRAP_VERSION) {
		pp_log_error("crypto: key %" PRId64 " has a malformed wrapping", k->id);
		return PP_ECRYPTO;
	}
	rc = kek_id(kek, want);
	if (rc)
		return rc;
	if (pp_ct_compare(want, k->wrapped + 1, 8) != 0) {
		pp_log_error("crypto: key %" PRId64 " is wrapped by another key file", k->id);
		return PP_ECRYPTO;
	}
	aadlen = build_aad(aad, sizeof(aad), "crypto_key", "wrapped", k->id, k->kind);
	if (aadlen < 0)
		return PP_ECRYPTO;
	rc = pp_crypto_aead_decrypt(kek, k->wrapped + 9, aad, (size_t)aadlen,
	                            k->wrapped + PP_CRYPTO_HEADER_LEN,
	                            k->wrapped_len - PP_CRYPTO_HEADER_LEN, material);
	if (rc) {
		pp_log_error("crypto: key %" PRId64 " failed authentication", k->id);
		return PP_ECRYPTO;
	}
	return 0;
}

/* ---- Ed25519 ---- */

static int ed25519_generate(uint8_t seed[32], uint8_t pub[PP_CRYPTO_PUB_LEN])
{
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t x = { NULL, 0 }, k = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	int rc;

	if (gnutls_privkey_init(&pk) < 0)
		return PP_ENOMEM;
	if (gnutls_privkey_generate2(pk, GNUTLS_PK_EDDSA_ED25519,
	                             GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519), 0, NULL,
	                             0) < 0 ||
	    gnutls_privkey_export_ecc_raw2(pk, &curve, &x, NULL, &k, GNUTLS_EXPORT_FLAG_NO_LZ) < 0 ||
	    curve != GNUTLS_ECC_CURVE_ED25519 || x.size != PP_CRYPTO_PUB_LEN || k.size != 32) {
		rc = PP_ECRYPTO;
		goto out;
	}
	memcpy(seed, k.data, 32);
	memcpy(pub, x.data, PP_CRYPTO_PUB_LEN);
	rc = 0;
out:
	if (k.data) {
		gnutls_memset(k.data, 0, k.size);
		gnutls_free(k.data);
	}
	gnutls_free(x.data);
	gnutls_privkey_deinit(pk);
	return rc;
}

static int ed25519_sign(const uint8_t seed[32], const uint8_t pub[PP_CRYPTO_PUB_LEN],
                        const void *msg, size_t len, uint8_t sig[PP_CRYPTO_SIG_LEN])
{
	static const uint8_t empty;
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t x = { (unsigned char *)pub, PP_CRYPTO_PUB_LEN };
	gnutls_datum_t k = { (unsigned char *)seed, 32 };
	gnutls_datum_t data = { (unsigned char *)(msg ? msg : &empty), (unsigned)len };
	gnutls_datum_t s = { NULL, 0 };
	int rc;

	if (len > UINT32_MAX)
		return PP_ETOOBIG;
	/* a private key object per call: nothing mutable is shared between threads */
	if (gnutls_privkey_init(&pk) < 0)
		return PP_ENOMEM;
	if (gnutls_privkey_import_ecc_raw(pk, GNUTLS_ECC_CURVE_ED25519, &x, NULL, &k) < 0 ||
	    gnutls_privkey_sign_data2(pk, GNUTLS_SIGN_EDDSA_ED25519, 0, &data, &s) < 0 ||
	    s.size != PP_CRYPTO_SIG_LEN) {
		rc = PP_ECRYPTO;
		goto out;
	}
	memcpy(sig, s.data, PP_CRYPTO_SIG_LEN);
	rc = 0;
out:
	gnutls_free(s.data);
	gnutls_privkey_deinit(pk);
	return rc;
}

/* ---- open / free ---- */

void pp_crypto_free(pp_crypto *c)
{
	if (!c)
		return;
	if (c->deks) {
		pp_wipe(c->deks, c->ndeks * sizeof(*c->deks));
		free(c->deks);
	}
	pp_wipe(c, sizeof(*c));
	free(c);
}

static int add_key(pp_store *st, const uint8_t kek[PP_CRYPTO_KEY_LEN], const char *kind,
                   const uint8_t *material, size_t len)
{
	pp_store_key k;
	int rc;

	memset(&k, 0, sizeof(k));
	k.id = pp_store_new_id();
	if (k.id <= 0)
		return PP_EIO;
	snprintf(k.kind, sizeof(k.kind), "%s", kind);
	k.created_ms = pp_clock_now_ms();
	k.active = 1;
	rc = wrap_key(kek, k.id, kind, material, len, &k.wrapped, &k.wrapped_len);
	if (rc)
		return rc;
	rc = pp_store_key_put(st, &k);
	free(k.wrapped);
	if (rc == 0)
		pp_log_info("crypto: created %s key %" PRId64, kind, k.id);
	return rc;
}

/* creates whichever of the three kinds of key is missing */
static int create_missing(pp_store *st, const uint8_t kek[PP_CRYPTO_KEY_LEN], int have_dek,
                          int have_bidx, int have_sign)
{
	uint8_t m[SIGN_MATERIAL_LEN];
	int rc = 0;

	if (!have_dek) {
		if (gnutls_rnd(GNUTLS_RND_KEY, m, PP_CRYPTO_KEY_LEN) < 0) {
			rc = PP_ECRYPTO;
			goto out;
		}
		rc = add_key(st, kek, "dek", m, PP_CRYPTO_KEY_LEN);
		if (rc)
			goto out;
	}
	if (!have_bidx) {
		if (gnutls_rnd(GNUTLS_RND_KEY, m, PP_CRYPTO_KEY_LEN) < 0) {
			rc = PP_ECRYPTO;
			goto out;
		}
		rc = add_key(st, kek, "bidx", m, PP_CRYPTO_KEY_LEN);
		if (rc)
			goto out;
	}
	if (!have_sign) {
		rc = ed25519_generate(m, m + 32);
		if (rc)
			goto out;
		rc = add_key(st, kek, "sign", m, SIGN_MATERIAL_LEN);
		if (rc)
			goto out;
	}
out:
	pp_wipe(m, sizeof(m));
	return rc;
}

/* unwraps every row into c; have_* report which kinds are usable */
static int load_keys(pp_crypto *c, const uint8_t kek[PP_CRYPTO_KEY_LEN], pp_store_key *rows,
                     size_t n, int *have_dek, int *have_bidx, int *have_sign)
{
	uint8_t m[SIGN_MATERIAL_LEN];
	size_t ndek = 0;
	int rc = 0, cur_set = 0;

	*have_dek = *have_bidx = *have_sign = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].kind, "dek") == 0)
			ndek++;
	if (c->deks) {
		pp_wipe(c->deks, c->ndeks * sizeof(*c->deks));
		free(c->deks);
	}
	c->deks = NULL;
	c->ndeks = 0;
	if (ndek) {
		c->deks = calloc(ndek, sizeof(*c->deks));
		if (!c->deks)
			return PP_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const pp_store_key *k = &rows[i];

		if (strcmp(k->kind, "dek") == 0) {
			struct pp_crypto_dek *d = &c->deks[c->ndeks];
			rc = unwrap_key(kek, k, d->key, PP_CRYPTO_KEY_LEN);
			if (rc)
				goto out;
			d->id = k->id;
			/* rows come oldest first: the last active DEK is the newest */
			if (k->active) {
				c->current = c->ndeks;
				cur_set = 1;
			}
			c->ndeks++;
		} else if (strcmp(k->kind, "bidx") == 0) {
			rc = unwrap_key(kek, k, m, PP_CRYPTO_KEY_LEN);
			if (rc)
				goto out;
			/* the oldest blind-index key stays in use: indexes must not change */
			if (!*have_bidx)
				memcpy(c->bidx_key, m, PP_CRYPTO_KEY_LEN);
			else
				pp_log_warn("crypto: extra blind-index key %" PRId64 " ignored", k->id);
			*have_bidx = 1;
		} else if (strcmp(k->kind, "sign") == 0) {
			rc = unwrap_key(kek, k, m, SIGN_MATERIAL_LEN);
			if (rc)
				goto out;
			/* the newest active signing key signs; verifiers hold the public keys */
			if (k->active || !*have_sign) {
				memcpy(c->sign_seed, m, 32);
				memcpy(c->sign_pub, m + 32, PP_CRYPTO_PUB_LEN);
			}
			*have_sign = 1;
		} else {
			pp_log_error("crypto: key %" PRId64 " has an unknown kind", k->id);
			rc = PP_ECRYPTO;
			goto out;
		}
	}
	/* a store whose DEKs are all retired still decrypts, but has nothing to encrypt with */
	*have_dek = cur_set;
out:
	pp_wipe(m, sizeof(m));
	return rc;
}

static int self_test(pp_crypto *c)
{
	static const char msg[] = "phiportal signing key self-test";
	uint8_t sig[PP_CRYPTO_SIG_LEN];
	int rc;

	/* the seed and public key are stored together; prove that they belong together */
	rc = ed25519_sign(c->sign_seed, c->sign_pub, msg, sizeof(msg) - 1, sig);
	if (rc == 0)
		rc = pp_crypto_verify(c->sign_pub, msg, sizeof(msg) - 1, sig);
	if (rc)
		pp_log_error("crypto: the audit signing key failed its self-test");
	return rc;
}

int pp_crypto_open(pp_crypto **out, const char *keyfile, struct pp_store *st)
{
	uint8_t kek[PP_CRYPTO_KEY_LEN];
	pp_store_key *rows = NULL;
	size_t n = 0;
	pp_crypto *c = NULL;
	int rc, in_tx = 0, have_dek, have_bidx, have_sign;

	if (!out || !keyfile || !st)
		return PP_EINVAL;
	*out = NULL;
	rc = pp_crypto_keyfile_load(keyfile, kek);
	if (rc)
		goto out;
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = PP_ENOMEM;
		goto out;
	}
	/* list and create in one transaction so two processes starting together cannot both
	 * create a first set of keys */
	rc = pp_store_begin(st);
	if (rc)
		goto out;
	in_tx = 1;
	rc = pp_store_key_list(st, &rows, &n);
	if (rc)
		goto out;
	if (n > MAX_KEYS) {
		rc = PP_ETOOBIG;
		goto out;
	}
	rc = load_keys(c, kek, rows, n, &have_dek, &have_bidx, &have_sign);
	if (rc)
		goto out;
	if (!have_dek || !have_bidx || !have_sign) {
		rc = create_missing(st, kek, have_dek, have_bidx, have_sign);
		if (rc)
			goto out;
		pp_store_key_rows_free(rows, n);
		rows = NULL;
		n = 0;
		rc = pp_store_key_list(st, &rows, &n);
		if (rc)
			goto out;
		rc = load_keys(c, kek, rows, n, &have_dek, &have_bidx, &have_sign);
		if (rc)
			goto out;
		if (!have_dek || !have_bidx || !have_sign) {
			rc = PP_ECRYPTO;
			goto out;
		}
	}
	rc = pp_store_commit(st);
	in_tx = 0;
	if (rc)
		goto out;
	rc = pp_crypto_hmac_sha256(c->bidx_key, PP_CRYPTO_KEY_LEN, digest_label,
	                           sizeof(digest_label) - 1, c->digest_key);
	if (rc)
		goto out;
	rc = self_test(c);
	if (rc)
		goto out;
	*out = c;
	c = NULL;
out:
	if (in_tx)
		pp_store_rollback(st);
	pp_store_key_rows_free(rows, n);
	pp_crypto_free(c);
	pp_wipe(kek, sizeof(kek));
	return rc;
}

/* ---- fields ---- */

int pp_crypto_seal(pp_crypto *c, const char *table, const char *column, int64_t rowid,
                   const void *pt, size_t ptlen, uint8_t **ct, size_t *ctlen)
{
	char aad[AAD_MAX];
	const struct pp_crypto_dek *d;
	uint8_t *buf = NULL;
	size_t n;
	int aadlen, rc;

	if (!c || !ct || !ctlen || (!pt && ptlen))
		return PP_EINVAL;
	*ct = NULL;
	*ctlen = 0;
	if (ptlen > SIZE_MAX - PP_CRYPTO_OVERHEAD)
		return PP_ETOOBIG;
	aadlen = build_aad(aad, sizeof(aad), table, column, rowid, NULL);
	if (aadlen < 0)
		return aadlen;
	d = &c->deks[c->current];
	n = PP_CRYPTO_OVERHEAD + ptlen;
	buf = malloc(n);
	if (!buf)
		return PP_ENOMEM;
	buf[0] = FIELD_VERSION;
	put_be64(buf + 1, (uint64_t)d->id);
	if (gnutls_rnd(GNUTLS_RND_NONCE, buf + 9, PP_CRYPTO_NONCE_LEN) < 0) {
		rc = PP_ECRYPTO;
		goto out;
	}
	rc = pp_crypto_aead_encrypt(d->key, buf + 9, aad, (size_t)aadlen, pt, ptlen,
	                            buf + PP_CRYPTO_HEADER_LEN);
	if (rc)
		goto out;
	*ct = buf;
	*ctlen = n;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int pp_crypto_unseal(pp_crypto *c, const char *table, const char *column, int64_t rowid,
                     const uint8_t *ct, size_t ctlen, uint8_t **pt, size_t *ptlen)
{
	char aad[AAD_MAX];
	const struct pp_crypto_dek *d = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	int64_t kid;
	int aadlen, rc;

	if (!c || !ct || !pt || !ptlen)
		return PP_EINVAL;
	*pt = NULL;
	*ptlen = 0;
	aadlen = build_aad(aad, sizeof(aad), table, column, rowid, NULL);
	if (aadlen < 0)
		return aadlen;
	if (ctlen < PP_CRYPTO_OVERHEAD || ct[0] != FIELD_VERSION)
		return PP_ECRYPTO;
	kid = (int64_t)get_be64(ct + 1);
	for (size_t i = 0; i < c->ndeks; i++)
		if (c->deks[i].id == kid) {
			d = &c->deks[i];
			break;
		}
	if (!d)
		return PP_ECRYPTO;
	n = ctlen - PP_CRYPTO_OVERHEAD;
	buf = malloc(n + 1);
	if (!buf)
		return PP_ENOMEM;
	rc = pp_crypto_aead_decrypt(d->key, ct + 9, aad, (size_t)aadlen, ct + PP_CRYPTO_HEADER_LEN,
	                            ctlen - PP_CRYPTO_HEADER_LEN, buf);
	if (rc)
		goto out;
	buf[n] = '\0';
	*pt = buf;
	*ptlen = n;
	buf = NULL;
out:
	if (buf) {
		pp_wipe(buf, n + 1);
		free(buf);
	}
	return rc;
}

void pp_crypto_free_plain(void *pt, size_t len)
{
	if (!pt)
		return;
	/* unseal always allocates one byte more, for the NUL */
	pp_wipe(pt, len + 1);
	free(pt);
}

/* ---- blind index and keyed digest ---- */

static int is_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

int pp_crypto_blind_index(pp_crypto *c, const char *domain, const char *value, uint8_t out[32])
{
	uint8_t *buf = NULL;
	size_t dl, vl, pos, cap;
	int rc, pending_space = 0;

	if (!c || !domain || !*domain || !value || !out)
		return PP_EINVAL;
	dl = strlen(domain);
	vl = strlen(value);
	if (dl > BIDX_DOMAIN_MAX || vl > BIDX_VALUE_MAX)
		return PP_ETOOBIG;
	cap = dl + 1 + vl;
	buf = malloc(cap ? cap : 1);
	if (!buf)
		return PP_ENOMEM;
	memcpy(buf, domain, dl);
	buf[dl] = '\0';
	pos = dl + 1;
	/* trim, fold ASCII case, collapse each run of white space into one space */
	for (size_t i = 0; i < vl; i++) {
		unsigned char ch = (unsigned char)value[i];

		if (is_space(ch)) {
			pending_space = pos > dl + 1;
			continue;
		}
		if (pending_space) {
			buf[pos++] = ' ';
			pending_space = 0;
		}
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		buf[pos++] = ch;
	}
	rc = pp_crypto_hmac_sha256(c->bidx_key, PP_CRYPTO_KEY_LEN, buf, pos, out);
	pp_wipe(buf, cap);
	free(buf);
	return rc;
}

int pp_crypto_keyed_digest(pp_crypto *c, const void *data, size_t len, uint8_t out[32])
{
	if (!c || !out || (!data && len))
		return PP_EINVAL;
	return pp_crypto_hmac_sha256(c->digest_key, PP_CRYPTO_KEY_LEN, data, len, out);
}

/* ---- audit signatures ---- */

int pp_crypto_sign(pp_crypto *c, const void *msg, size_t len, uint8_t sig[PP_CRYPTO_SIG_LEN])
{
	if (!c || !sig || (!msg && len))
		return PP_EINVAL;
	return ed25519_sign(c->sign_seed, c->sign_pub, msg, len, sig);
}

int pp_crypto_public_key(pp_crypto *c, uint8_t pub[PP_CRYPTO_PUB_LEN])
{
	if (!c || !pub)
		return PP_EINVAL;
	memcpy(pub, c->sign_pub, PP_CRYPTO_PUB_LEN);
	return 0;
}
