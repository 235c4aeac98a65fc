/* Benchmark: the encrypted file store's chunked AES-256-GCM (files/: seal to a blob, then open and
 * decrypt it, 64 KiB chunks, file-id/index/final AAD) against GnuTLS's raw AES-256-GCM
 * (gnutls_cipher_encrypt2 over the same 64 KiB buffer, one tag per buffer) in the same run.
 * The blob lives in /dev/shm (memory) so that the disk does not set the pace.
 * usage: files_bench [MB]   (default 256) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "files/files.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *id = "0123456789abcdef0123456789abcdef";
	size_t mb = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256, total, chunks;
	uint8_t key[32], iv[12] = {0}, *buf, *out, tag[16];
	char path[] = "/dev/shm/pp-files-bench-XXXXXX";
	gnutls_cipher_hd_t h;
	gnutls_datum_t k = {key, 32}, n = {iv, 12};
	pp_files_sealer *s = NULL;
	double t0, t_raw, t_seal, t_open;
	uint64_t got = 0;
	int fd;

	if (mb == 0 || mb > 4096)
		mb = 256;
	total = mb << 20;
	chunks = total / PP_FILES_CHUNK;
	buf = malloc(PP_FILES_CHUNK);
	out = malloc(PP_FILES_CHUNK + 16);
	if (!buf || !out || gnutls_rnd(GNUTLS_RND_KEY, key, sizeof key) < 0)
		return 1;
	for (size_t i = 0; i < PP_FILES_CHUNK; i++)
		buf[i] = (uint8_t)(i * 31);

	/* raw AES-256-GCM (what openssl speed -evp aes-256-gcm measures), 64 KiB per call */
	if (gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_256_GCM, &k, &n) < 0)
		return 1;
	t0 = now_s();
	for (size_t i = 0; i < chunks; i++) {
		memcpy(iv + 4, &i, sizeof i < 8 ? sizeof i : 8);
		gnutls_cipher_set_iv(h, iv, sizeof iv);
		if (gnutls_cipher_encrypt2(h, buf, PP_FILES_CHUNK, out, PP_FILES_CHUNK) < 0 ||
		    gnutls_cipher_tag(h, tag, sizeof tag) < 0)
			return 1;
	}
	t_raw = now_s() - t0;
	gnutls_cipher_deinit(h);

	/* the file store: seal (encrypt + write the blob), then open (read + decrypt + verify) */
	fd = mkstemp(path);
	if (fd < 0 || pp_files_sealer_new(&s, key, id, fd))
		return 1;
	t0 = now_s();
	for (size_t i = 0; i < chunks; i++)
		if (pp_files_sealer_write(s, buf, PP_FILES_CHUNK))
			return 1;
	if (pp_files_sealer_finish(s))
		return 1;
	t_seal = now_s() - t0;
	pp_files_sealer_free(s);
	lseek(fd, 0, SEEK_SET);
	t0 = now_s();
	if (pp_files_blob_decrypt_fd(key, id, fd, -1, &got) || got != total)
		return 1;
	t_open = now_s() - t0;
	close(fd);
	unlink(path);

	printf("files bench: %zu MiB, 64 KiB chunks, AES-256-GCM (GnuTLS %s)\n", mb,
	       gnutls_check_version(NULL));
	printf("  raw gnutls_cipher_encrypt2:     %8.0f MB/s\n", total / 1e6 / t_raw);
	printf("  files encrypt (seal to blob):   %8.0f MB/s\n", total / 1e6 / t_seal);
	printf("  files decrypt (open from blob): %8.0f MB/s\n", total / 1e6 / t_open);
	printf("  files encrypt+decrypt:          %8.0f MB/s  (%.0f%% of raw)\n",
	       total / 1e6 / ((t_seal + t_open) / 2), 100.0 * t_raw / ((t_seal + t_open) / 2));
	free(buf);
	free(out);
	return 0;
}
