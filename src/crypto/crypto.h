/*
 * crypto — envelope encryption of PHI at rest, blind indexes, hashing and signing.
 * Owns: the key-encryption key (KEK, from the key file made at init), the data-encryption keys
 * (DEKs, stored wrapped by the KEK in the crypto_key table through store/), the blind-index key and
 * the audit signing key. Every primitive is GnuTLS/nettle; nothing is hand-rolled.
 *
 * Field ciphertext format: version(1)=1 | key id(8, big endian) | nonce(12) | ciphertext | tag(16).
 * The AAD is "table\0column\0<row id decimal>", so a ciphertext copied into another row, column or
 * table fails to decrypt.
 */
#ifndef PP_CRYPTO_H
#define PP_CRYPTO_H

#include "core/core.h"

struct pp_store;
typedef struct pp_crypto pp_crypto;

#define PP_CRYPTO_KEY_LEN 32
#define PP_CRYPTO_NONCE_LEN 12
#define PP_CRYPTO_TAG_LEN 16
#define PP_CRYPTO_HEADER_LEN (1 + 8 + PP_CRYPTO_NONCE_LEN)
#define PP_CRYPTO_OVERHEAD (PP_CRYPTO_HEADER_LEN + PP_CRYPTO_TAG_LEN)
#define PP_CRYPTO_SIG_LEN 64   /* Ed25519 */
#define PP_CRYPTO_PUB_LEN 32

/* Key file: 32 random bytes, created with mode 0600 (fails if it exists). */
int pp_crypto_keyfile_create(const char *path);
/* PP_ECONFIG when the key file is readable or writable by group or others, or is not a regular
 * file; PP_ENOTFOUND when missing. */
int pp_crypto_keyfile_check(const char *path);

/* Loads the KEK, unwraps every key in the store; on first use (empty crypto_key table) creates the
 * first DEK, the blind-index key and the audit signing key. */
int pp_crypto_open(pp_crypto **out, const char *keyfile, struct pp_store *st);
void pp_crypto_free(pp_crypto *c);

/* Seal a PHI field; *ct is malloc'd (caller frees). */
int pp_crypto_seal(pp_crypto *c, const char *table, const char *column, int64_t rowid,
                   const void *pt, size_t ptlen, uint8_t **ct, size_t *ctlen);
/* Open a sealed field; *pt is malloc'd with a NUL after ptlen (caller frees with pp_crypto_free_plain,
 * which wipes it). PP_ECRYPTO on any tampering, wrong row/column/table or unknown key. */
int pp_crypto_unseal(pp_crypto *c, const char *table, const char *column, int64_t rowid,
                     const uint8_t *ct, size_t ctlen, uint8_t **pt, size_t *ptlen);
void pp_crypto_free_plain(void *pt, size_t len);

/* Blind index: HMAC-SHA-256 under the blind-index key over domain "\0" normalised(value).
 * Normalisation: trim, fold ASCII case, collapse internal white space. */
int pp_crypto_blind_index(pp_crypto *c, const char *domain, const char *value, uint8_t out[32]);
/* Keyed digest of arbitrary bytes (for change detection without exposing content). */
int pp_crypto_keyed_digest(pp_crypto *c, const void *data, size_t len, uint8_t out[32]);

/* Audit checkpoint signatures (Ed25519). */
int pp_crypto_sign(pp_crypto *c, const void *msg, size_t len, uint8_t sig[PP_CRYPTO_SIG_LEN]);
int pp_crypto_public_key(pp_crypto *c, uint8_t pub[PP_CRYPTO_PUB_LEN]);
int pp_crypto_verify(const uint8_t pub[PP_CRYPTO_PUB_LEN], const void *msg, size_t len,
                     const uint8_t sig[PP_CRYPTO_SIG_LEN]);

/* Stateless primitives (also used by tests with published vectors). */
int pp_crypto_sha256(const void *data, size_t len, uint8_t out[32]);
int pp_crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
                          uint8_t out[32]);
int pp_crypto_aead_encrypt(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                           size_t aadlen, const void *pt, size_t ptlen, uint8_t *out /* ptlen+16 */);
int pp_crypto_aead_decrypt(const uint8_t key[32], const uint8_t nonce[12], const void *aad,
                           size_t aadlen, const uint8_t *ct, size_t ctlen /* incl. tag */,
                           uint8_t *out /* ctlen-16 */);

#endif
