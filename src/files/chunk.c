/* files: the chunked AEAD format of a blob (AES-256-GCM via GnuTLS), streaming in O(chunk).
 *
 * Blob: header "PPFBLOB1" | chunk size (u32 BE) | 4 zero bytes, then chunks of chunk size plaintext
 * bytes each (the last one 0..chunk size) as ciphertext || tag(16). Chunk i uses the nonce
 * 0^32 || i (u64 BE) under the file's own key (unique per file, so nonces never repeat under a
 * key) and the AAD "ppfile1" || file id (32 hex) || i (u64 BE) || final (1 byte). A reader treats
 * the last chunk in the blob as final: a blob cut at a chunk boundary ends in a chunk sealed as
 * not final and fails; reordered or copied chunks fail on the index or the file id. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "files/files_internal.h"

#define AAD_LEN (7 + PP_FILES_ID_LEN + 8 + 1)

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int make_aad(uint8_t aad[AAD_LEN], const char *file_id, uint64_t index, bool final)
{
	if (!file_id || strlen(file_id) != PP_FILES_ID_LEN)
		return PP_EINVAL;
	memcpy(aad, "ppfile1", 7);
	memcpy(aad + 7, file_id, PP_FILES_ID_LEN);
	put_u64(aad + 7 + PP_FILES_ID_LEN, index);
	aad[AAD_LEN - 1] = final ? 1 : 0;
	return 0;
}

static void make_nonce(uint8_t nonce[12], uint64_t index)
{
	memset(nonce, 0, 4);
	put_u64(nonce + 4, index);
}

int pp_files_aead_new(gnutls_aead_cipher_hd_t *h, const uint8_t key[32])
{
	gnutls_datum_t k = {(unsigned char *)key, 32};
	return gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &k) < 0 ? PP_ECRYPTO : 0;
}

int pp_files_aead_seal(gnutls_aead_cipher_hd_t h, const char *file_id, uint64_t index, bool final,
                       const void *pt, size_t len, uint8_t *out)
{
	uint8_t aad[AAD_LEN], nonce[12];
	size_t outlen = len + PP_FILES_TAG;
	if (make_aad(aad, file_id, index, final))
		return PP_EINVAL;
	make_nonce(nonce, index);
	if (gnutls_aead_cipher_encrypt(h, nonce, sizeof nonce, aad, sizeof aad, PP_FILES_TAG, pt, len,
	                               out, &outlen) < 0 || outlen != len + PP_FILES_TAG)
		return PP_ECRYPTO;
	return 0;
}

int pp_files_aead_open(gnutls_aead_cipher_hd_t h, const char *file_id, uint64_t index, bool final,
                       const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t aad[AAD_LEN], nonce[12];
	size_t outlen;
	if (len < PP_FILES_TAG || make_aad(aad, file_id, index, final))
		return PP_EINVAL;
	outlen = len - PP_FILES_TAG;
	make_nonce(nonce, index);
	if (gnutls_aead_cipher_decrypt(h, nonce, sizeof nonce, aad, sizeof aad, PP_FILES_TAG, ct, len,
	                               out, &outlen) < 0 || outlen != len - PP_FILES_TAG)
		return PP_ECRYPTO;
	return 0;
}

int pp_files_chunk_seal(const uint8_t key[32], const char *file_id, uint64_t index, bool final,
                        const void *pt, size_t len, uint8_t *out)
{
	gnutls_aead_cipher_hd_t h;
	int rc;
	if (!key || !out || (!pt && len))
		return PP_EINVAL;
	if ((rc = pp_files_aead_new(&h, key)))
		return rc;
	rc = pp_files_aead_seal(h, file_id, index, final, pt ? pt : "", len, out);
	gnutls_aead_cipher_deinit(h);
	return rc;
}

int pp_files_chunk_open(const uint8_t key[32], const char *file_id, uint64_t index, bool final,
                        const uint8_t *ct, size_t len, uint8_t *out)
{
	gnutls_aead_cipher_hd_t h;
	int rc;
	if (!key || !ct || !out)
		return PP_EINVAL;
	if ((rc = pp_files_aead_new(&h, key)))
		return rc;
	rc = pp_files_aead_open(h, file_id, index, final, ct, len, out);
	gnutls_aead_cipher_deinit(h);
	return rc;
}

int pp_files_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PP_EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int pp_files_read_full(int fd, void *p, size_t n, size_t *got)
{
	uint8_t *b = p;
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, b + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return PP_EIO;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/* ---- the sealer: buffers one chunk, seals it once the next byte shows it is not the last ---- */

struct pp_files_sealer {
	gnutls_aead_cipher_hd_t h;
	bool have_h;
	char file_id[PP_FILES_ID_LEN + 1];
	int fd;
	uint64_t index;
	size_t fill;
	bool header_done;
	bool failed;
	pp_files_chunk_hook hook;
	void *hook_ctx;
	uint8_t pt[PP_FILES_CHUNK];
	uint8_t ct[PP_FILES_CHUNK + PP_FILES_TAG];
};

int pp_files_sealer_new(pp_files_sealer **out, const uint8_t key[32], const char *file_id, int fd)
{
	pp_files_sealer *s;
	int rc;
	if (!out || !key || !file_id || strlen(file_id) != PP_FILES_ID_LEN || fd < 0)
		return PP_EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return PP_ENOMEM;
	if ((rc = pp_files_aead_new(&s->h, key))) {
		free(s);
		return rc;
	}
	s->have_h = true;
	memcpy(s->file_id, file_id, PP_FILES_ID_LEN + 1);
	s->fd = fd;
	*out = s;
	return 0;
}

void pp_files_sealer_set_hook(pp_files_sealer *s, pp_files_chunk_hook hook, void *ctx)
{
	s->hook = hook;
	s->hook_ctx = ctx;
}

static int seal_chunk(pp_files_sealer *s, bool final)
{
	int rc;
	if (!s->header_done) {
		uint8_t hdr[PP_FILES_HEADER];
		memcpy(hdr, PP_FILES_MAGIC, 8);
		hdr[8] = (uint8_t)(PP_FILES_CHUNK >> 24);
		hdr[9] = (uint8_t)(PP_FILES_CHUNK >> 16);
		hdr[10] = (uint8_t)(PP_FILES_CHUNK >> 8);
		hdr[11] = (uint8_t)PP_FILES_CHUNK;
		memset(hdr + 12, 0, 4);
		if ((rc = pp_files_write_all(s->fd, hdr, sizeof hdr)))
			return rc;
		s->header_done = true;
	}
	if (s->hook && (rc = s->hook(s->hook_ctx, s->pt, s->fill, final)))
		return rc;
	if ((rc = pp_files_aead_seal(s->h, s->file_id, s->index, final, s->pt, s->fill, s->ct)))
		return rc;
	if ((rc = pp_files_write_all(s->fd, s->ct, s->fill + PP_FILES_TAG)))
		return rc;
	s->index++;
	s->fill = 0;
	return 0;
}

int pp_files_sealer_write(pp_files_sealer *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	int rc;
	if (!s || s->failed || (!data && len))
		return PP_EINVAL;
	while (len) {
		size_t take;
		if (s->fill == PP_FILES_CHUNK) {   /* more data follows: the full chunk is not final */
			if ((rc = seal_chunk(s, false))) {
				s->failed = true;
				return rc;
			}
		}
		take = PP_FILES_CHUNK - s->fill;
		if (take > len)
			take = len;
		memcpy(s->pt + s->fill, p, take);
		s->fill += take;
		p += take;
		len -= take;
	}
	return 0;
}

int pp_files_sealer_finish(pp_files_sealer *s)
{
	int rc;
	if (!s || s->failed)
		return PP_EINVAL;
	if ((rc = seal_chunk(s, true)))
		s->failed = true;
	return rc;
}

void pp_files_sealer_free(pp_files_sealer *s)
{
	if (!s)
		return;
	if (s->have_h)
		gnutls_aead_cipher_deinit(s->h);
	pp_wipe(s, sizeof(*s));
	free(s);
}

/* ---- the opener: reads a blob sequentially, chunk by chunk ---- */

int pp_files_opener_init(pp_files_opener *o, const uint8_t key[32], const char *file_id, int fd)
{
	struct stat sb;
	uint8_t hdr[PP_FILES_HEADER];
	size_t got;
	uint64_t body, unit = PP_FILES_CHUNK + PP_FILES_TAG;
	int rc;
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!key || !file_id || strlen(file_id) != PP_FILES_ID_LEN || fd < 0)
		return PP_EINVAL;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode))
		return PP_EIO;
	if ((rc = pp_files_read_full(fd, hdr, sizeof hdr, &got)))
		return rc;
	if (got != sizeof hdr || memcmp(hdr, PP_FILES_MAGIC, 8) ||
	    ((uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 | (uint32_t)hdr[10] << 8 | hdr[11]) !=
	        PP_FILES_CHUNK ||
	    (uint64_t)sb.st_size < PP_FILES_HEADER + PP_FILES_TAG)
		return PP_ECRYPTO;
	body = (uint64_t)sb.st_size - PP_FILES_HEADER;
	o->nchunks = (body + unit - 1) / unit;
	o->last_len = body - (o->nchunks - 1) * unit;
	if (o->last_len < PP_FILES_TAG)
		return PP_ECRYPTO;
	o->size = (o->nchunks - 1) * (uint64_t)PP_FILES_CHUNK + (o->last_len - PP_FILES_TAG);
	if ((rc = pp_files_aead_new(&o->h, key)))
		return rc;
	o->have_h = true;
	memcpy(o->file_id, file_id, PP_FILES_ID_LEN + 1);
	o->fd = fd;
	return 0;
}

int pp_files_opener_next(pp_files_opener *o, uint8_t *ct, uint8_t *pt, size_t *n)
{
	size_t len, got;
	bool final;
	int rc;
	*n = 0;
	if (o->index >= o->nchunks)
		return 0;
	final = o->index + 1 == o->nchunks;
	len = final ? (size_t)o->last_len : PP_FILES_CHUNK + PP_FILES_TAG;
	if ((rc = pp_files_read_full(o->fd, ct, len, &got)))
		return rc;
	if (got != len)
		return PP_ECRYPTO;   /* the blob changed under us */
	if ((rc = pp_files_aead_open(o->h, o->file_id, o->index, final, ct, len, pt)))
		return rc;
	o->index++;
	*n = len - PP_FILES_TAG;
	return 0;
}

void pp_files_opener_clear(pp_files_opener *o)
{
	if (o->have_h)
		gnutls_aead_cipher_deinit(o->h);
	o->have_h = false;
}

int pp_files_blob_decrypt_fd(const uint8_t key[32], const char *file_id, int fd, int out_fd,
                             uint64_t *size)
{
	pp_files_opener o;
	uint8_t *ct = NULL, *pt = NULL;
	uint64_t total = 0;
	int rc;
	if (size)
		*size = 0;
	if ((rc = pp_files_opener_init(&o, key, file_id, fd)))
		goto out;
	ct = malloc(PP_FILES_CHUNK + PP_FILES_TAG);
	pt = malloc(PP_FILES_CHUNK);
	if (!ct || !pt) {
		rc = PP_ENOMEM;
		goto out;
	}
	while (o.index < o.nchunks) {
		size_t n;
		if ((rc = pp_files_opener_next(&o, ct, pt, &n)))
			goto out;
		if (out_fd >= 0 && n && (rc = pp_files_write_all(out_fd, pt, n)))
			goto out;
		total += n;
	}
	if (size)
		*size = total;
out:
	pp_files_opener_clear(&o);
	if (pt)
		pp_wipe(pt, PP_FILES_CHUNK);
	free(pt);
	free(ct);
	return rc;
}
