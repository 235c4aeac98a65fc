/* Private to files/: the chunk format's building blocks shared by the store, the reader and the
 * HTTP API. */
#ifndef PP_FILES_INTERNAL_H
#define PP_FILES_INTERNAL_H

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include "files/files.h"

#define PP_FILES_TAG 16
#define PP_FILES_HEADER 16
#define PP_FILES_MAGIC "PPFBLOB1"

int pp_files_aead_new(gnutls_aead_cipher_hd_t *h, const uint8_t key[32]);
int pp_files_aead_seal(gnutls_aead_cipher_hd_t h, const char *file_id, uint64_t index, bool final,
                       const void *pt, size_t len, uint8_t *out);
int pp_files_aead_open(gnutls_aead_cipher_hd_t h, const char *file_id, uint64_t index, bool final,
                       const uint8_t *ct, size_t len, uint8_t *out);
int pp_files_write_all(int fd, const void *p, size_t n);
int pp_files_read_full(int fd, void *p, size_t n, size_t *got);

/* called with each plaintext chunk just before it is sealed (the upload feeds clamd from it) */
typedef int (*pp_files_chunk_hook)(void *ctx, const uint8_t *pt, size_t len, bool final);
void pp_files_sealer_set_hook(pp_files_sealer *s, pp_files_chunk_hook hook, void *ctx);

typedef struct pp_files_opener {
	gnutls_aead_cipher_hd_t h;
	bool have_h;
	char file_id[PP_FILES_ID_LEN + 1];
	int fd;
	uint64_t index, nchunks, last_len, size;
} pp_files_opener;
/* reads and checks the header; o->size is the plaintext size the blob's length implies */
int pp_files_opener_init(pp_files_opener *o, const uint8_t key[32], const char *file_id, int fd);
/* the next chunk's plaintext into pt (PP_FILES_CHUNK bytes), *n = 0 after the last; ct is a
 * PP_FILES_CHUNK + 16 byte scratch buffer */
int pp_files_opener_next(pp_files_opener *o, uint8_t *ct, uint8_t *pt, size_t *n);
void pp_files_opener_clear(pp_files_opener *o);

/* clamd (scan.c) */
typedef struct pp_files_scan pp_files_scan;
/* connects and starts an INSTREAM; PP_EIO when clamd cannot be reached */
int pp_files_scan_begin(const char *socket_spec, int timeout_s, pp_files_scan **out);
int pp_files_scan_feed(pp_files_scan *sc, const void *data, size_t len);
/* 0 clean, 1 infected (sig set), negative on error */
int pp_files_scan_finish(pp_files_scan *sc, char *sig, size_t sigcap);
void pp_files_scan_free(pp_files_scan *sc);

#endif
