/* Unit tests for crypto/: published vectors for the primitives, the key file, envelope encryption
 * (open, reopen, wrong key, forged key rows, rotation), field sealing and its tamper cases, blind
 * indexes, Ed25519 signatures and use from many threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "store/store.h"

/* ---- helpers ---- */

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(pp_hex_decode(hex, out, cap, &n), 0);
	return n;
}

static void assert_hex(const uint8_t *got, size_t n, const char *hex)
{
	uint8_t want[512];
	size_t wn = unhex(hex, want, sizeof(want));

	assert_int_equal(wn, n);
	assert_memory_equal(got, want, n);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

typedef struct env {
	char dir[64];
	char key[128];
	char db[128];
	pp_store *st;
	pp_crypto *c;
} env;

/* a fresh directory with a key file, a store and an open pp_crypto */
static int env_setup(void **state)
{
	env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/pp_crypto_XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->key, sizeof(e->key), "%s/master.key", e->dir);
	snprintf(e->db, sizeof(e->db), "%s/phi.db", e->dir);
	assert_int_equal(pp_crypto_keyfile_create(e->key), 0);
	assert_int_equal(pp_store_open(&e->st, e->db), 0);
	assert_int_equal(pp_crypto_open(&e->c, e->key, e->st), 0);
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	env *e = *state;

	pp_crypto_free(e->c);
	pp_store_close(e->st);
	nftw(e->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static void read_kek(const char *path, uint8_t kek[32])
{
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fread(kek, 1, 32, f), 32);
	fclose(f);
}

/* the documented wrapping (see crypto.c): 1 | KEK id | nonce | GCM(material) | tag with AAD
 * "crypto_key\0wrapped\0<id>\0<kind>" */
static size_t test_wrap(const uint8_t kek[32], int64_t id, const char *kind, const uint8_t *m,
                        size_t mlen, uint8_t *out)
{
	static const char label[] = "phiportal kek id v1";
	uint8_t mac[32];
	char aad[128];
	int n;

	assert_int_equal(pp_crypto_hmac_sha256(kek, 32, label, sizeof(label) - 1, mac), 0);
	out[0] = 1;
	memcpy(out + 1, mac, 8);
	assert_int_equal(pp_random(out + 9, 12), 0);
	n = snprintf(aad, sizeof(aad), "crypto_key%cwrapped%c%lld%c%s", 0, 0, (long long)id, 0, kind);
	assert_true(n > 0);
	assert_int_equal(pp_crypto_aead_encrypt(kek, out + 9, aad, (size_t)n, m, mlen, out + 21), 0);
	return PP_CRYPTO_OVERHEAD + mlen;
}

static size_t count_keys(pp_store *st, const char *kind)
{
	pp_store_key *rows = NULL;
	size_t n = 0, k = 0;

	assert_int_equal(pp_store_key_list(st, &rows, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (!kind || strcmp(rows[i].kind, kind) == 0)
			k++;
	pp_store_key_rows_free(rows, n);
	return k;
}

/* ---- published vectors ---- */

/* FIPS 180-2 appendix B.1 ("abc") and the empty message */
static void test_sha256_vectors(void **state)
{
	uint8_t d[32];

	(void)state;
	assert_int_equal(pp_crypto_sha256("abc", 3, d), 0);
	assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(pp_crypto_sha256(NULL, 0, d), 0);
	assert_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(pp_crypto_sha256(NULL, 5, d), PP_EINVAL);
}

/* RFC 4231, HMAC-SHA-256 test cases 1-7 */
static void test_hmac_rfc4231(void **state)
{
	uint8_t key[131], data[160], mac[32];
	size_t kl, dl;
	static const char tc6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char tc7[] = "This is a test using a larger than block-size key and a larger "
	                          "than block-size data. The key needs to be hashed before being "
	                          "used by the HMAC algorithm.";

	(void)state;
	/* 1 */
	memset(key, 0x0b, 20);
	assert_int_equal(pp_crypto_hmac_sha256(key, 20, "Hi There", 8, mac), 0);
	assert_hex(mac, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* 2 */
	assert_int_equal(pp_crypto_hmac_sha256((const uint8_t *)"Jefe", 4,
	                                       "what do ya want for nothing?", 28, mac), 0);
	assert_hex(mac, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* 3 */
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	assert_int_equal(pp_crypto_hmac_sha256(key, 20, data, 50, mac), 0);
	assert_hex(mac, 32, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	/* 4 */
	kl = unhex("0102030405060708090a0b0c0d0e0f10111213141516171819", key, sizeof(key));
	memset(data, 0xcd, 50);
	assert_int_equal(pp_crypto_hmac_sha256(key, kl, data, 50, mac), 0);
	assert_hex(mac, 32, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	/* 5: truncated to 128 bits */
	memset(key, 0x0c, 20);
	assert_int_equal(pp_crypto_hmac_sha256(key, 20, "Test With Truncation", 20, mac), 0);
	assert_hex(mac, 16, "a3b6167473100ee06e0c796c2955552b");
	/* 6 */
	memset(key, 0xaa, 131);
	assert_int_equal(pp_crypto_hmac_sha256(key, 131, tc6, sizeof(tc6) - 1, mac), 0);
	assert_hex(mac, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* 7 */
	assert_int_equal(pp_crypto_hmac_sha256(key, 131, tc7, sizeof(tc7) - 1, mac), 0);
	assert_hex(mac, 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
	/* a different key gives a different MAC (the vector check above could not fail otherwise
	 * only if the implementation ignored the key) */
	key[0] ^= 1;
	assert_int_equal(pp_crypto_hmac_sha256(key, 131, tc7, sizeof(tc7) - 1, mac), 0);
	dl = unhex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", data,
	           sizeof(data));
	assert_memory_not_equal(mac, data, dl);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised spec (2005), appendix B,
 * test cases 13-16 (the 256-bit-key cases with 96-bit IVs) */
static void gcm_case(const char *k, const char *iv, const char *p, const char *a, const char *c,
                     const char *t)
{
	uint8_t key[32], nonce[12], pt[64], aad[32], ct[64 + 16], out[64 + 16], back[64];
	size_t pl, al, cl;

	assert_int_equal(unhex(k, key, sizeof(key)), 32);
	assert_int_equal(unhex(iv, nonce, sizeof(nonce)), 12);
	pl = unhex(p, pt, sizeof(pt));
	al = unhex(a, aad, sizeof(aad));
	cl = unhex(c, ct, sizeof(ct));
	assert_int_equal(cl, pl);
	cl += unhex(t, ct + cl, 16);
	assert_int_equal(cl, pl + 16);

	assert_int_equal(pp_crypto_aead_encrypt(key, nonce, al ? aad : NULL, al, pl ? pt : NULL, pl,
	                                        out), 0);
	assert_memory_equal(out, ct, cl);
	assert_int_equal(pp_crypto_aead_decrypt(key, nonce, al ? aad : NULL, al, ct, cl, back), 0);
	if (pl)
		assert_memory_equal(back, pt, pl);
	/* tag, ciphertext, AAD and nonce are all authenticated */
	ct[cl - 1] ^= 0x80;
	assert_int_equal(pp_crypto_aead_decrypt(key, nonce, aad, al, ct, cl, back), PP_ECRYPTO);
	ct[cl - 1] ^= 0x80;
	if (pl) {
		ct[0] ^= 1;
		assert_int_equal(pp_crypto_aead_decrypt(key, nonce, aad, al, ct, cl, back), PP_ECRYPTO);
		ct[0] ^= 1;
	}
	if (al) {
		aad[al - 1] ^= 1;
		assert_int_equal(pp_crypto_aead_decrypt(key, nonce, aad, al, ct, cl, back), PP_ECRYPTO);
		aad[al - 1] ^= 1;
	}
	nonce[11] ^= 1;
	assert_int_equal(pp_crypto_aead_decrypt(key, nonce, aad, al, ct, cl, back), PP_ECRYPTO);
	nonce[11] ^= 1;
	assert_int_equal(pp_crypto_aead_decrypt(key, nonce, aad, al, ct, 15, back), PP_ECRYPTO);
}

static void test_aes256_gcm_vectors(void **state)
{
	static const char k0[] = "0000000000000000000000000000000000000000000000000000000000000000";
	static const char kf[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
	static const char ivf[] = "cafebabefacedbaddecaf888";
	static const char p15[] =
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
	static const char c15[] =
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
	static const char p16[] =
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char c16[] =
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";

	(void)state;
	/* 13 */
	gcm_case(k0, "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b");
	/* 14 */
	gcm_case(k0, "000000000000000000000000", "00000000000000000000000000000000", "",
	         "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919");
	/* 15 */
	gcm_case(kf, ivf, p15, "", c15, "b094dac5d93471bdec1a502270e3cc6c");
	/* 16 */
	gcm_case(kf, ivf, p16, "feedfacedeadbeeffeedfacedeadbeefabaddad2", c16,
	         "76fc6ece0f4e1768cddf8853bb2d551b");
}

/* RFC 8032 section 7.1, TEST 1 and TEST 2 */
static void test_ed25519_rfc8032_verify(void **state)
{
	uint8_t pub[32], sig[64], msg[1];

	(void)state;
	unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pub, 32);
	unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
	      "39701cf9b46bd25bf5f0595bbe24655141438e7a100b", sig, 64);
	assert_int_equal(pp_crypto_verify(pub, NULL, 0, sig), 0);
	msg[0] = 0x72;
	assert_int_equal(pp_crypto_verify(pub, msg, 1, sig), PP_ECRYPTO);

	unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", pub, 32);
	unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
	      "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", sig, 64);
	assert_int_equal(pp_crypto_verify(pub, msg, 1, sig), 0);
	msg[0] = 0x73;
	assert_int_equal(pp_crypto_verify(pub, msg, 1, sig), PP_ECRYPTO);
	msg[0] = 0x72;
	sig[63] ^= 0x01;
	assert_int_equal(pp_crypto_verify(pub, msg, 1, sig), PP_ECRYPTO);
}

/* ---- key file ---- */

static void test_keyfile(void **state)
{
	env *e = *state;
	char p[160], q[160];
	pp_crypto *c = NULL;
	int fd;

	/* the fixture's key file: 0600, regular, 32 bytes */
	struct stat sb;
	assert_int_equal(stat(e->key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 32);
	assert_int_equal(pp_crypto_keyfile_check(e->key), 0);
	assert_int_equal(pp_crypto_keyfile_create(e->key), PP_EEXISTS);

	/* any group/other bit is refused, by check and by open */
	static const unsigned bad[] = { 0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(e->key, bad[i]), 0);
		assert_int_equal(pp_crypto_keyfile_check(e->key), PP_ECONFIG);
	}
	assert_int_equal(chmod(e->key, 0644), 0);
	assert_int_equal(pp_crypto_open(&c, e->key, e->st), PP_ECONFIG);
	assert_null(c);
	assert_int_equal(chmod(e->key, 0400), 0);
	assert_int_equal(pp_crypto_keyfile_check(e->key), 0);
	assert_int_equal(chmod(e->key, 0600), 0);
	assert_int_equal(pp_crypto_keyfile_check(e->key), 0);

	/* missing */
	snprintf(p, sizeof(p), "%s/nope.key", e->dir);
	assert_int_equal(pp_crypto_keyfile_check(p), PP_ENOTFOUND);
	assert_int_equal(pp_crypto_open(&c, p, e->st), PP_ENOTFOUND);

	/* not a regular file: a directory, a FIFO */
	snprintf(p, sizeof(p), "%s/adir", e->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(pp_crypto_keyfile_check(p), PP_ECONFIG);
	assert_int_equal(pp_crypto_keyfile_create(p), PP_EEXISTS);
	snprintf(p, sizeof(p), "%s/fifo", e->dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(pp_crypto_keyfile_check(p), PP_ECONFIG);

	/* wrong size, even with a safe mode */
	snprintf(p, sizeof(p), "%s/short.key", e->dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);
	assert_int_equal(pp_crypto_keyfile_check(p), PP_ECONFIG);
	assert_int_equal(pp_crypto_open(&c, p, e->st), PP_ECONFIG);

	/* create never follows a planted symlink */
	snprintf(q, sizeof(q), "%s/link.key", e->dir);
	snprintf(p, sizeof(p), "%s/target-not-created", e->dir);
	assert_int_equal(symlink(p, q), 0);
	assert_int_not_equal(pp_crypto_keyfile_create(q), 0);
	assert_int_equal(access(p, F_OK), -1);

	/* two fresh key files differ */
	uint8_t k1[32], k2[32];
	snprintf(p, sizeof(p), "%s/a.key", e->dir);
	snprintf(q, sizeof(q), "%s/b.key", e->dir);
	assert_int_equal(pp_crypto_keyfile_create(p), 0);
	assert_int_equal(pp_crypto_keyfile_create(q), 0);
	read_kek(p, k1);
	read_kek(q, k2);
	assert_memory_not_equal(k1, k2, 32);
	assert_int_equal(pp_crypto_keyfile_create(NULL), PP_EINVAL);
	assert_int_equal(pp_crypto_keyfile_check(""), PP_EINVAL);
}

/* ---- envelope ---- */

static void test_first_open_creates_keys(void **state)
{
	env *e = *state;
	pp_store_key *rows = NULL;
	size_t n = 0;

	assert_int_equal(count_keys(e->st, "dek"), 1);
	assert_int_equal(count_keys(e->st, "bidx"), 1);
	assert_int_equal(count_keys(e->st, "sign"), 1);
	/* the rows hold wrapped keys only: sizes match the documented format */
	assert_int_equal(pp_store_key_list(e->st, &rows, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		size_t mlen = strcmp(rows[i].kind, "sign") == 0 ? 64 : 32;
		assert_true(rows[i].id > 0);
		assert_int_equal(rows[i].active, 1);
		assert_int_equal(rows[i].wrapped_len, PP_CRYPTO_OVERHEAD + mlen);
		assert_int_equal(rows[i].wrapped[0], 1);
	}
	pp_store_key_rows_free(rows, n);
	pp_store_key_rows_free(NULL, 0);
}

static void test_seal_roundtrip(void **state)
{
	env *e = *state;
	static const size_t lens[] = { 0, 1, 15, 16, 17, 1000, 70000 };
	uint8_t *src = malloc(70000), *ct = NULL, *ct2 = NULL, *pt = NULL;
	size_t ctlen, ct2len, ptlen;

	assert_non_null(src);
	assert_int_equal(pp_random(src, 70000), 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(pp_crypto_seal(e->c, "resource", "body", 42, lens[i] ? src : NULL,
		                                lens[i], &ct, &ctlen), 0);
		assert_int_equal(ctlen, lens[i] + PP_CRYPTO_OVERHEAD);
		assert_int_equal(ct[0], 1);
		assert_int_equal(pp_crypto_unseal(e->c, "resource", "body", 42, ct, ctlen, &pt, &ptlen),
		                 0);
		assert_int_equal(ptlen, lens[i]);
		if (lens[i])
			assert_memory_equal(pt, src, lens[i]);
		assert_int_equal(pt[ptlen], '\0');
		pp_crypto_free_plain(pt, ptlen);
		free(ct);
	}
	/* same plaintext twice: fresh nonce, different ciphertext, same key id */
	assert_int_equal(pp_crypto_seal(e->c, "t", "c", 1, "same", 4, &ct, &ctlen), 0);
	assert_int_equal(pp_crypto_seal(e->c, "t", "c", 1, "same", 4, &ct2, &ct2len), 0);
	assert_memory_equal(ct + 1, ct2 + 1, 8);
	assert_memory_not_equal(ct + 9, ct2 + 9, 12);
	assert_memory_not_equal(ct + 21, ct2 + 21, ctlen - 21);
	/* and the plaintext does not appear in the clear */
	assert_null(memmem(ct, ctlen, "same", 4));
	free(ct);
	free(ct2);
	free(src);
	pp_crypto_free_plain(NULL, 0);
}

static void test_unseal_tamper(void **state)
{
	env *e = *state;
	static const char msg[] = "Jane Q. Public, 1970-01-01";
	uint8_t *ct = NULL, *pt = (uint8_t *)"x", *bad;
	size_t ctlen, ptlen = 7;

	assert_int_equal(pp_crypto_seal(e->c, "user_account", "username", 7, msg, sizeof(msg) - 1,
	                                &ct, &ctlen), 0);
	bad = malloc(ctlen + 1);
	assert_non_null(bad);

	/* every single bit flip anywhere */
	for (size_t i = 0; i < ctlen; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(bad, ct, ctlen);
			bad[i] ^= (uint8_t)(1u << b);
			assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 7, bad, ctlen,
			                                  &pt, &ptlen), PP_ECRYPTO);
			assert_null(pt);
			assert_int_equal(ptlen, 0);
		}
	}
	/* every truncation, and an extension */
	for (size_t n = 0; n < ctlen; n++)
		assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 7, ct, n, &pt,
		                                  &ptlen), PP_ECRYPTO);
	memcpy(bad, ct, ctlen);
	bad[ctlen] = 0;
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 7, bad, ctlen + 1, &pt,
	                                  &ptlen), PP_ECRYPTO);
	/* wrong version byte */
	static const uint8_t versions[] = { 0, 2, 0x81, 0xff };
	for (size_t i = 0; i < sizeof(versions); i++) {
		memcpy(bad, ct, ctlen);
		bad[0] = versions[i];
		assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 7, bad, ctlen, &pt,
		                                  &ptlen), PP_ECRYPTO);
	}
	/* unknown key id */
	memcpy(bad, ct, ctlen);
	memset(bad + 1, 0, 8);
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 7, bad, ctlen, &pt,
	                                  &ptlen), PP_ECRYPTO);
	/* moved to another row, column or table */
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 8, ct, ctlen, &pt,
	                                  &ptlen), PP_ECRYPTO);
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", -7, ct, ctlen, &pt,
	                                  &ptlen), PP_ECRYPTO);
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "mfa_secret", 7, ct, ctlen, &pt,
	                                  &ptlen), PP_ECRYPTO);
	assert_int_equal(pp_crypto_unseal(e->c, "resource", "username", 7, ct, ctlen, &pt, &ptlen),
	                 PP_ECRYPTO);
	/* the separators make the AAD unambiguous: ("user_accoun", "tusername") is another place */
	assert_int_equal(pp_crypto_unseal(e->c, "user_accoun", "tusername", 7, ct, ctlen, &pt,
	                                  &ptlen), PP_ECRYPTO);
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username7", 0, ct, ctlen, &pt,
	                                  &ptlen), PP_ECRYPTO);
	/* the untouched ciphertext still opens where it belongs */
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", "username", 7, ct, ctlen, &pt,
	                                  &ptlen), 0);
	assert_int_equal(ptlen, sizeof(msg) - 1);
	assert_memory_equal(pt, msg, ptlen);
	pp_crypto_free_plain(pt, ptlen);

	/* bad arguments */
	assert_int_equal(pp_crypto_unseal(e->c, "", "username", 7, ct, ctlen, &pt, &ptlen),
	                 PP_EINVAL);
	assert_int_equal(pp_crypto_unseal(e->c, "user_account", NULL, 7, ct, ctlen, &pt, &ptlen),
	                 PP_EINVAL);
	assert_int_equal(pp_crypto_unseal(NULL, "a", "b", 7, ct, ctlen, &pt, &ptlen), PP_EINVAL);
	assert_int_equal(pp_crypto_seal(e->c, "a", "b", 1, NULL, 3, &bad, &ptlen), PP_EINVAL);
	free(bad);
	free(ct);
}

static void test_blind_index(void **state)
{
	env *e = *state;
	uint8_t a[32], b[32], d[32], kd[32], kd2[32];

	(void)e;
	assert_int_equal(pp_crypto_blind_index(e->c, "user.username", "john smith", a), 0);
	static const char *const same[] = { "John Smith", "  JOHN   SMITH ", "\tjohn\n smith\r\n",
	                                    "john\t\tsmith", "JoHn SmItH" };
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(pp_crypto_blind_index(e->c, "user.username", same[i], b), 0);
		assert_memory_equal(a, b, 32);
	}
	/* different values, different index */
	static const char *const other[] = { "johnsmith", "john smith jr", "jon smith", "john-smith",
	                                     "" };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(pp_crypto_blind_index(e->c, "user.username", other[i], b), 0);
		assert_memory_not_equal(a, b, 32);
	}
	/* only ASCII is folded: non-ASCII bytes are kept as they are */
	assert_int_equal(pp_crypto_blind_index(e->c, "d", "\xc3\x89mile", b), 0);
	assert_int_equal(pp_crypto_blind_index(e->c, "d", "\xc3\xa9mile", d), 0);
	assert_memory_not_equal(b, d, 32);
	/* same value in another domain */
	assert_int_equal(pp_crypto_blind_index(e->c, "patient.name", "john smith", b), 0);
	assert_memory_not_equal(a, b, 32);
	/* the domain separator is unambiguous: ("ab", "c") differs from ("a", "bc") */
	assert_int_equal(pp_crypto_blind_index(e->c, "ab", "c", b), 0);
	assert_int_equal(pp_crypto_blind_index(e->c, "a", "bc", d), 0);
	assert_memory_not_equal(b, d, 32);
	/* it is keyed: not the plain SHA-256 of the input */
	assert_int_equal(pp_crypto_sha256("user.username\0john smith", 24, d), 0);
	assert_memory_not_equal(a, d, 32);
	/* keyed digest: deterministic, content-sensitive, separate from the blind index */
	assert_int_equal(pp_crypto_keyed_digest(e->c, "user.username\0john smith", 24, kd), 0);
	assert_int_equal(pp_crypto_keyed_digest(e->c, "user.username\0john smith", 24, kd2), 0);
	assert_memory_equal(kd, kd2, 32);
	assert_memory_not_equal(kd, a, 32);
	assert_int_equal(pp_crypto_keyed_digest(e->c, "user.username\0john smitH", 24, kd2), 0);
	assert_memory_not_equal(kd, kd2, 32);
	/* bad arguments */
	assert_int_equal(pp_crypto_blind_index(e->c, "", "x", b), PP_EINVAL);
	assert_int_equal(pp_crypto_blind_index(e->c, "d", NULL, b), PP_EINVAL);
	assert_int_equal(pp_crypto_blind_index(NULL, "d", "x", b), PP_EINVAL);
	char *big = malloc(20001);
	assert_non_null(big);
	memset(big, 'a', 20000);
	big[20000] = '\0';
	assert_int_equal(pp_crypto_blind_index(e->c, "d", big, b), PP_ETOOBIG);
	free(big);
}

static void test_reopen_same_key(void **state)
{
	env *e = *state;
	uint8_t *ct = NULL, *pt = NULL, bi1[32], bi2[32], kd1[32], kd2[32], pub1[32], pub2[32];
	uint8_t sig[64];
	size_t ctlen, ptlen;

	assert_int_equal(pp_crypto_seal(e->c, "resource", "body", 99, "{\"a\":1}", 7, &ct, &ctlen),
	                 0);
	assert_int_equal(pp_crypto_blind_index(e->c, "lid", "Patient/123", bi1), 0);
	assert_int_equal(pp_crypto_keyed_digest(e->c, "abc", 3, kd1), 0);
	assert_int_equal(pp_crypto_public_key(e->c, pub1), 0);
	pp_crypto_free(e->c);
	e->c = NULL;
	/* a fresh store handle, as after a restart */
	pp_store_close(e->st);
	assert_int_equal(pp_store_open(&e->st, e->db), 0);
	assert_int_equal(pp_crypto_open(&e->c, e->key, e->st), 0);
	assert_int_equal(count_keys(e->st, NULL), 3);   /* nothing new was created */
	assert_int_equal(pp_crypto_unseal(e->c, "resource", "body", 99, ct, ctlen, &pt, &ptlen), 0);
	assert_int_equal(ptlen, 7);
	assert_memory_equal(pt, "{\"a\":1}", 7);
	pp_crypto_free_plain(pt, ptlen);
	assert_int_equal(pp_crypto_blind_index(e->c, "lid", "patient/123", bi2), 0);
	assert_memory_equal(bi1, bi2, 32);
	assert_int_equal(pp_crypto_keyed_digest(e->c, "abc", 3, kd2), 0);
	assert_memory_equal(kd1, kd2, 32);
	assert_int_equal(pp_crypto_public_key(e->c, pub2), 0);
	assert_memory_equal(pub1, pub2, 32);
	assert_int_equal(pp_crypto_sign(e->c, "checkpoint", 10, sig), 0);
	assert_int_equal(pp_crypto_verify(pub1, "checkpoint", 10, sig), 0);
	free(ct);
}

static void test_reopen_wrong_key(void **state)
{
	env *e = *state;
	char other[160];
	pp_crypto *c = NULL;

	snprintf(other, sizeof(other), "%s/other.key", e->dir);
	assert_int_equal(pp_crypto_keyfile_create(other), 0);
	assert_int_equal(pp_crypto_open(&c, other, e->st), PP_ECRYPTO);
	assert_null(c);
	/* the failed open changed nothing */
	assert_int_equal(count_keys(e->st, NULL), 3);
	/* and the right key still opens */
	assert_int_equal(pp_crypto_open(&c, e->key, e->st), 0);
	pp_crypto_free(c);
	assert_int_equal(pp_crypto_open(NULL, e->key, e->st), PP_EINVAL);
	assert_int_equal(pp_crypto_open(&c, e->key, NULL), PP_EINVAL);
}

/* a key row that was not wrapped by our KEK, or was moved to another id or kind, fails open */
static void forged_case(env *e, int mode)
{
	char db[160];
	pp_store *st = NULL;
	pp_crypto *c = NULL;
	pp_store_key *rows = NULL, k;
	size_t n = 0;
	uint8_t kek[32], m[32], w[PP_CRYPTO_OVERHEAD + 64];

	snprintf(db, sizeof(db), "%s/forged%d.db", e->dir, mode);
	assert_int_equal(pp_store_open(&st, db), 0);
	assert_int_equal(pp_crypto_open(&c, e->key, st), 0);
	pp_crypto_free(c);
	c = NULL;
	assert_int_equal(pp_store_key_list(st, &rows, &n), 0);
	memset(&k, 0, sizeof(k));
	k.id = pp_store_new_id();
	k.created_ms = pp_clock_now_ms() + 1000;
	k.active = 1;
	snprintf(k.kind, sizeof(k.kind), "dek");
	read_kek(e->key, kek);
	if (mode == 0) {            /* random bytes of the right shape */
		assert_int_equal(pp_random(w, sizeof(w)), 0);
		w[0] = 1;
		k.wrapped = w;
		k.wrapped_len = PP_CRYPTO_OVERHEAD + 32;
	} else if (mode == 1) {     /* an existing DEK's wrapping copied to another id */
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].kind, "dek") == 0) {
				k.wrapped = rows[i].wrapped;
				k.wrapped_len = rows[i].wrapped_len;
			}
	} else if (mode == 2) {     /* the blind-index key's wrapping relabelled as a DEK */
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].kind, "bidx") == 0) {
				k.id = rows[i].id + 1;
				k.wrapped = rows[i].wrapped;
				k.wrapped_len = rows[i].wrapped_len;
			}
	} else {                    /* well wrapped, but for another kind */
		assert_int_equal(pp_random(m, 32), 0);
		k.wrapped_len = test_wrap(kek, k.id, "bidx", m, 32, w);
		k.wrapped = w;
	}
	assert_non_null(k.wrapped);
	assert_int_equal(pp_store_key_put(st, &k), 0);
	assert_int_equal(pp_crypto_open(&c, e->key, st), PP_ECRYPTO);
	assert_null(c);
	pp_store_key_rows_free(rows, n);
	pp_store_close(st);
}

static void test_forged_key_rows(void **state)
{
	env *e = *state;

	for (int mode = 0; mode < 4; mode++)
		forged_case(e, mode);
	/* control: the same construction with the right kind is accepted (the cases above could
	 * otherwise fail for an unrelated reason) */
	char db[160];
	pp_store *st = NULL;
	pp_crypto *c = NULL;
	pp_store_key k;
	uint8_t kek[32], m[32], w[PP_CRYPTO_OVERHEAD + 32];

	snprintf(db, sizeof(db), "%s/control.db", e->dir);
	assert_int_equal(pp_store_open(&st, db), 0);
	assert_int_equal(pp_crypto_open(&c, e->key, st), 0);
	pp_crypto_free(c);
	c = NULL;
	read_kek(e->key, kek);
	memset(&k, 0, sizeof(k));
	k.id = pp_store_new_id();
	k.created_ms = pp_clock_now_ms() + 1000;
	k.active = 1;
	snprintf(k.kind, sizeof(k.kind), "dek");
	assert_int_equal(pp_random(m, 32), 0);
	k.wrapped_len = test_wrap(kek, k.id, "dek", m, 32, w);
	k.wrapped = w;
	assert_int_equal(pp_store_key_put(st, &k), 0);
	assert_int_equal(pp_store_key_put(st, &k), PP_EEXISTS);
	assert_int_equal(pp_crypto_open(&c, e->key, st), 0);
	pp_crypto_free(c);
	pp_store_close(st);
}

/* the newest active DEK encrypts; every known DEK still decrypts */
static void test_rotation(void **state)
{
	env *e = *state;
	pp_crypto *c2 = NULL;
	pp_store_key k;
	uint8_t kek[32], m[32], w[PP_CRYPTO_OVERHEAD + 32], *old = NULL, *neu = NULL, *pt = NULL;
	uint8_t kid[8];
	size_t oldlen, neulen, ptlen;

	assert_int_equal(pp_crypto_seal(e->c, "t", "c", 5, "old data", 8, &old, &oldlen), 0);
	read_kek(e->key, kek);
	memset(&k, 0, sizeof(k));
	k.id = pp_store_new_id();
	k.created_ms = pp_clock_now_ms() + 1000;
	k.active = 1;
	snprintf(k.kind, sizeof(k.kind), "dek");
	assert_int_equal(pp_random(m, 32), 0);
	k.wrapped_len = test_wrap(kek, k.id, "dek", m, 32, w);
	k.wrapped = w;
	assert_int_equal(pp_store_key_put(e->st, &k), 0);

	assert_int_equal(pp_crypto_open(&c2, e->key, e->st), 0);
	assert_int_equal(pp_crypto_seal(c2, "t", "c", 6, "new data", 8, &neu, &neulen), 0);
	for (int i = 0; i < 8; i++)
		kid[i] = (uint8_t)((uint64_t)k.id >> (56 - 8 * i));
	assert_memory_equal(neu + 1, kid, 8);
	assert_memory_not_equal(old + 1, kid, 8);
	/* new data really is under the new key: decrypt it by hand with m */
	uint8_t man[8];
	assert_int_equal(pp_crypto_aead_decrypt(m, neu + 9, "t\0c\0" "6", 5, neu + 21, neulen - 21,
	                                        man), 0);
	assert_memory_equal(man, "new data", 8);

	assert_int_equal(pp_crypto_unseal(c2, "t", "c", 5, old, oldlen, &pt, &ptlen), 0);
	assert_memory_equal(pt, "old data", 8);
	pp_crypto_free_plain(pt, ptlen);
	assert_int_equal(pp_crypto_unseal(c2, "t", "c", 6, neu, neulen, &pt, &ptlen), 0);
	assert_memory_equal(pt, "new data", 8);
	pp_crypto_free_plain(pt, ptlen);
	/* the old handle does not know the new key */
	assert_int_equal(pp_crypto_unseal(e->c, "t", "c", 6, neu, neulen, &pt, &ptlen), PP_ECRYPTO);

	/* a retired DEK still decrypts but no longer encrypts */
	pp_store_key k3 = k;
	uint8_t w3[PP_CRYPTO_OVERHEAD + 32], *x = NULL;
	size_t xlen;
	k3.id = pp_store_new_id();
	k3.created_ms = pp_clock_now_ms() + 2000;
	k3.active = 0;
	k3.wrapped_len = test_wrap(kek, k3.id, "dek", m, 32, w3);
	k3.wrapped = w3;
	assert_int_equal(pp_store_key_put(e->st, &k3), 0);
	pp_crypto_free(c2);
	c2 = NULL;
	assert_int_equal(pp_crypto_open(&c2, e->key, e->st), 0);
	assert_int_equal(pp_crypto_seal(c2, "t", "c", 7, "z", 1, &x, &xlen), 0);
	assert_memory_equal(x + 1, kid, 8);
	free(x);
	pp_crypto_free(c2);
	free(old);
	free(neu);
}

static void put_wrapped(env *e, const char *kind, int64_t created_ms, const uint8_t *m,
                        size_t mlen)
{
	pp_store_key k;
	uint8_t kek[32], w[PP_CRYPTO_OVERHEAD + 64];

	assert_true(mlen <= 64);
	read_kek(e->key, kek);
	memset(&k, 0, sizeof(k));
	k.id = pp_store_new_id();
	k.created_ms = created_ms;
	k.active = 1;
	snprintf(k.kind, sizeof(k.kind), "%s", kind);
	k.wrapped_len = test_wrap(kek, k.id, kind, m, mlen, w);
	k.wrapped = w;
	assert_int_equal(pp_store_key_put(e->st, &k), 0);
}

/* a newer blind-index key never changes existing indexes; a newer signing key takes over, and
 * a stored seed signs exactly as RFC 8032 says */
static void test_bidx_and_sign_rows(void **state)
{
	env *e = *state;
	pp_crypto *c2 = NULL;
	uint8_t bi1[32], bi2[32], m[64], pub[32], sig[64], want[64];

	assert_int_equal(pp_crypto_blind_index(e->c, "d", "value", bi1), 0);
	assert_int_equal(pp_random(m, 32), 0);
	put_wrapped(e, "bidx", pp_clock_now_ms() + 1000, m, 32);
	/* RFC 8032 7.1 TEST 1: secret key (seed) then public key */
	unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", m, 64);
	put_wrapped(e, "sign", pp_clock_now_ms() + 1000, m, 64);

	assert_int_equal(pp_crypto_open(&c2, e->key, e->st), 0);
	assert_int_equal(pp_crypto_blind_index(c2, "d", "value", bi2), 0);
	assert_memory_equal(bi1, bi2, 32);
	assert_int_equal(pp_crypto_public_key(c2, pub), 0);
	assert_memory_equal(pub, m + 32, 32);
	assert_int_equal(pp_crypto_sign(c2, NULL, 0, sig), 0);
	unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
	      "39701cf9b46bd25bf5f0595bbe24655141438e7a100b", want, 64);
	assert_memory_equal(sig, want, 64);
	pp_crypto_free(c2);
	c2 = NULL;

	/* a signing row whose public key does not belong to its seed is refused at open */
	m[40] ^= 1;
	put_wrapped(e, "sign", pp_clock_now_ms() + 2000, m, 64);
	assert_int_equal(pp_crypto_open(&c2, e->key, e->st), PP_ECRYPTO);
	assert_null(c2);
}

/* ---- signatures ---- */

static void test_sign_verify(void **state)
{
	env *e = *state;
	static const char msg[] = "checkpoint 1000 hash 7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1f";
	uint8_t pub[32], sig[64], sig2[64], bad[sizeof(msg)];

	assert_int_equal(pp_crypto_public_key(e->c, pub), 0);
	assert_int_equal(pp_crypto_sign(e->c, msg, sizeof(msg) - 1, sig), 0);
	assert_int_equal(pp_crypto_verify(pub, msg, sizeof(msg) - 1, sig), 0);
	/* Ed25519 is deterministic */
	assert_int_equal(pp_crypto_sign(e->c, msg, sizeof(msg) - 1, sig2), 0);
	assert_memory_equal(sig, sig2, 64);
	/* modified message: every byte */
	for (size_t i = 0; i < sizeof(msg) - 1; i++) {
		memcpy(bad, msg, sizeof(msg));
		bad[i] ^= 0x20;
		assert_int_equal(pp_crypto_verify(pub, bad, sizeof(msg) - 1, sig), PP_ECRYPTO);
	}
	assert_int_equal(pp_crypto_verify(pub, msg, sizeof(msg) - 2, sig), PP_ECRYPTO);
	/* modified signature */
	sig2[10] ^= 1;
	assert_int_equal(pp_crypto_verify(pub, msg, sizeof(msg) - 1, sig2), PP_ECRYPTO);
	/* another key: a second store gets its own signing key */
	char db[160];
	pp_store *st = NULL;
	pp_crypto *c = NULL;
	uint8_t pub2[32];
	snprintf(db, sizeof(db), "%s/second.db", e->dir);
	assert_int_equal(pp_store_open(&st, db), 0);
	assert_int_equal(pp_crypto_open(&c, e->key, st), 0);
	assert_int_equal(pp_crypto_public_key(c, pub2), 0);
	assert_memory_not_equal(pub, pub2, 32);
	assert_int_equal(pp_crypto_verify(pub2, msg, sizeof(msg) - 1, sig), PP_ECRYPTO);
	/* its DEK is different too: a ciphertext from one store does not open in the other */
	uint8_t *ct = NULL, *pt = NULL;
	size_t ctlen, ptlen;
	assert_int_equal(pp_crypto_seal(e->c, "t", "c", 1, "x", 1, &ct, &ctlen), 0);
	assert_int_equal(pp_crypto_unseal(c, "t", "c", 1, ct, ctlen, &pt, &ptlen), PP_ECRYPTO);
	free(ct);
	pp_crypto_free(c);
	pp_store_close(st);
	/* empty message */
	assert_int_equal(pp_crypto_sign(e->c, NULL, 0, sig), 0);
	assert_int_equal(pp_crypto_verify(pub, NULL, 0, sig), 0);
	assert_int_equal(pp_crypto_verify(pub, "x", 1, sig), PP_ECRYPTO);
	assert_int_equal(pp_crypto_sign(NULL, msg, 1, sig), PP_EINVAL);
}

/* ---- threads ---- */

typedef struct thr_arg {
	pp_crypto *c;
	int id;
	int failures;
} thr_arg;

static void *thr_main(void *p)
{
	thr_arg *a = p;
	uint8_t pub[32], sig[64], bi[32], bi0[32];
	char msg[64];

	pp_crypto_public_key(a->c, pub);
	if (pp_crypto_blind_index(a->c, "d", "Same Value", bi0))
		a->failures++;
	for (int i = 0; i < 400; i++) {
		uint8_t *ct = NULL, *pt = NULL;
		size_t ctlen = 0, ptlen = 0;
		int n = snprintf(msg, sizeof(msg), "thread %d message %d", a->id, i);

		if (pp_crypto_seal(a->c, "t", "c", a->id * 1000 + i, msg, (size_t)n, &ct, &ctlen) ||
		    pp_crypto_unseal(a->c, "t", "c", a->id * 1000 + i, ct, ctlen, &pt, &ptlen) ||
		    ptlen != (size_t)n || memcmp(pt, msg, ptlen) != 0)
			a->failures++;
		pp_crypto_free_plain(pt, ptlen);
		free(ct);
		if (pp_crypto_blind_index(a->c, "d", " same  value ", bi) || memcmp(bi, bi0, 32))
			a->failures++;
		if (i % 20 == 0 && (pp_crypto_sign(a->c, msg, (size_t)n, sig) ||
		                    pp_crypto_verify(pub, msg, (size_t)n, sig)))
			a->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	env *e = *state;
	pthread_t t[6];
	thr_arg a[6];

	for (int i = 0; i < 6; i++) {
		a[i].c = e->c;
		a[i].id = i + 1;
		a[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failures, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_aes256_gcm_vectors),
		cmocka_unit_test(test_ed25519_rfc8032_verify),
		cmocka_unit_test_setup_teardown(test_keyfile, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_first_open_creates_keys, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_seal_roundtrip, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_unseal_tamper, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_blind_index, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_same_key, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_wrong_key, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_forged_key_rows, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_rotation, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bidx_and_sign_rows, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_sign_verify, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_threads, env_setup, env_teardown),
	};

	pp_log_set_level(PP_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
