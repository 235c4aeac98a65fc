/*
 * Stateless primitives: SHA-256, HMAC-SHA-256, AES-256-GCM and Ed25519 verification, all through
 * GnuTLS. Every call builds its own cipher handle, so these functions are safe from any thread.
 */
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>

#include "crypto/crypto.h"

int pp_crypto_sha256(const void *data, size_t len, uint8_t out[32])
{
	static const uint8_t empty;

	if (!out || (!data && len))
		return PP_EINVAL;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data ? data : &empty, len, out) < 0)
		return PP_ECRYPTO;
	return 0;
}

int pp_crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
                          uint8_t out[32])
{
	static const uint8_t empty;

	if (!out || (!key && keylen) || (!data && len))
		return PP_EINVAL;
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key ? (const void *)key : &empty, keylen,
	                     data ? data : &empty, len, out) < 0)
		return PP_ECRYPTO;
	return 0;
}

static int aead_handle(const uint8_t key[32], gnutls_aead_cipher_hd_t *hd)
{
	gnutls_datum_t k = { (unsigned char *)key, PP_CRYPTO_KEY_LEN };

	if (gnutls_aead_cipher_init(hd, GNUTLS_CIPHER_AES_256_GCM, &k) < 0)
		return PP_ECRYPTO;
	return 0;
}

int pp_crypto_aead_encrypt(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                           size_t aadlen, const void *pt, size_t ptlen, uint8_t *out)
{
	static const uint8_t empty;
	gnutls_aead_cipher_hd_t hd = NULL;
	size_t outlen = ptlen + PP_CRYPTO_TAG_LEN;
	int rc;

	if (!key || !nonce || !out || (!aad && aadlen) || (!pt && ptlen))
		return PP_EINVAL;
	if (ptlen > SIZE_MAX - PP_CRYPTO_TAG_LEN)
		return PP_ETOOBIG;
	rc = aead_handle(key, &hd);
	if (rc)
		goto out;
	if (gnutls_aead_cipher_encrypt(hd, nonce, PP_CRYPTO_NONCE_LEN, aad ? aad : &empty, aadlen,
	                               PP_CRYPTO_TAG_LEN, pt ? pt : &empty, ptlen, out,
	                               &outlen) < 0 ||
	    outlen != ptlen + PP_CRYPTO_TAG_LEN) {
		rc = PP_ECRYPTO;
		goto out;
	}
	rc = 0;
out:
	if (hd)
		gnutls_aead_cipher_deinit(hd);
	return rc;
}

int pp_crypto_aead_decrypt(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                           size_t aadlen, const uint8_t *ct, size_t ctlen, uint8_t *out)
{
	static const uint8_t empty;
	gnutls_aead_cipher_hd_t hd = NULL;
	uint8_t dummy[1];
	size_t outlen;
	int rc;

	if (!key || !nonce || !ct || (!aad && aadlen))
		return PP_EINVAL;
	if (ctlen < PP_CRYPTO_TAG_LEN)
		return PP_ECRYPTO;
	outlen = ctlen - PP_CRYPTO_TAG_LEN;
	if (!out && outlen)
		return PP_EINVAL;
	rc = aead_handle(key, &hd);
	if (rc)
		goto out;
	if (gnutls_aead_cipher_decrypt(hd, nonce, PP_CRYPTO_NONCE_LEN, aad ? aad : &empty, aadlen,
	                               PP_CRYPTO_TAG_LEN, ct, ctlen, out ? out : dummy,
	                               &outlen) < 0 ||
	    outlen != ctlen - PP_CRYPTO_TAG_LEN) {
		/* never hand back unauthenticated plaintext */
		if (out)
			pp_wipe(out, ctlen - PP_CRYPTO_TAG_LEN);
		rc = PP_ECRYPTO;
		goto out;
	}
	rc = 0;
out:
	if (hd)
		gnutls_aead_cipher_deinit(hd);
	return rc;
}

int pp_crypto_verify(const uint8_t pub[PP_CRYPTO_PUB_LEN], const void *msg, size_t len,
                     const uint8_t sig[PP_CRYPTO_SIG_LEN])
{
	static const uint8_t empty;
	gnutls_pubkey_t pk = NULL;
	gnutls_datum_t x = { (unsigned char *)pub, PP_CRYPTO_PUB_LEN };
	gnutls_datum_t data = { (unsigned char *)(msg ? msg : &empty), (unsigned)len };
	gnutls_datum_t s = { (unsigned char *)sig, PP_CRYPTO_SIG_LEN };
	int rc;

	if (!pub || !sig || (!msg && len) || len > UINT32_MAX)
		return PP_EINVAL;
	if (gnutls_pubkey_init(&pk) < 0)
		return PP_ENOMEM;
	if (gnutls_pubkey_import_ecc_raw(pk, GNUTLS_ECC_CURVE_ED25519, &x, NULL) < 0) {
		rc = PP_ECRYPTO;
		goto out;
	}
	rc = gnutls_pubkey_verify_data2(pk, GNUTLS_SIGN_EDDSA_ED25519, 0, &data, &s) < 0
	         ? PP_ECRYPTO : 0;
out:
	gnutls_pubkey_deinit(pk);
	return rc;
}
