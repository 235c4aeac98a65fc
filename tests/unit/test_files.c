/* files/: the chunked AEAD format (round trip; tampering, reordering, dropping, truncating and
 * copying chunks between files all fail), the display-name sanitiser and clamd's reply parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "files/files.h"

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void test_chunk_round_trip_and_binding(void **state)
{
	uint8_t pt[100], ct[116], out[100];
	(void)state;
	for (size_t i = 0; i < sizeof pt; i++)
		pt[i] = (uint8_t)i;
	assert_int_equal(pp_files_chunk_seal(KEY, ID_A, 7, false, pt, sizeof pt, ct), 0);
	assert_int_equal(pp_files_chunk_open(KEY, ID_A, 7, false, ct, sizeof ct, out), 0);
	assert_memory_equal(pt, out, sizeof pt);
	/* index, final flag and file id are bound */
	assert_int_equal(pp_files_chunk_open(KEY, ID_A, 8, false, ct, sizeof ct, out), PP_ECRYPTO);
	assert_int_equal(pp_files_chunk_open(KEY, ID_A, 7, true, ct, sizeof ct, out), PP_ECRYPTO);
	assert_int_equal(pp_files_chunk_open(KEY, ID_B, 7, false, ct, sizeof ct, out), PP_ECRYPTO);
	ct[3] ^= 1;
	assert_int_equal(pp_files_chunk_open(KEY, ID_A, 7, false, ct, sizeof ct, out), PP_ECRYPTO);
	assert_int_equal(pp_files_chunk_seal(KEY, "short", 0, true, pt, 1, ct), PP_EINVAL);
}

/* writes a blob of n bytes (pattern) under ID_A into a temp file; returns the path */
static void make_blob(char *path, size_t cap, size_t n)
{
	pp_files_sealer *s = NULL;
	uint8_t *buf = malloc(n ? n : 1);
	int fd;
	snprintf(path, cap, "/tmp/pp-test-files-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 7 + i / 65536);
	assert_int_equal(pp_files_sealer_new(&s, KEY, ID_A, fd), 0);
	/* odd-sized pieces, as the network delivers them */
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 3001 ? n - off : 3001;
		assert_int_equal(pp_files_sealer_write(s, buf + off, k), 0);
		off += k;
	}
	assert_int_equal(pp_files_sealer_finish(s), 0);
	pp_files_sealer_free(s);
	close(fd);
	free(buf);
}

static int decrypt_path(const char *path, const char *id, uint64_t *size)
{
	int fd = open(path, O_RDONLY), rc;
	assert_true(fd >= 0);
	rc = pp_files_blob_decrypt_fd(KEY, id, fd, -1, size);
	close(fd);
	return rc;
}

static void test_blob_round_trip_sizes(void **state)
{
	static const size_t sizes[] = {0, 1, PP_FILES_CHUNK - 1, PP_FILES_CHUNK, PP_FILES_CHUNK + 1,
	                               3 * PP_FILES_CHUNK, 3 * PP_FILES_CHUNK + 17};
	char path[64];
	(void)state;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint64_t got = 99;
		make_blob(path, sizeof path, sizes[i]);
		assert_int_equal(decrypt_path(path, ID_A, &got), 0);
		assert_int_equal(got, sizes[i]);
		assert_int_equal(decrypt_path(path, ID_B, &got), PP_ECRYPTO);   /* bound to its file */
		unlink(path);
	}
}

static void copy_range(int from, int to, off_t off, size_t n)
{
	uint8_t *b = malloc(n);
	assert_int_equal(pread(from, b, n, off), (ssize_t)n);
	assert_int_equal(write(to, b, n), (ssize_t)n);
	free(b);
}

static void test_blob_tamper_reorder_truncate(void **state)
{
	const size_t unit = PP_FILES_CHUNK + 16, hdr = 16;
	char path[64], bad[] = "/tmp/pp-test-files-bad-XXXXXX";
	uint64_t got;
	int fd, out;
	uint8_t b;
	(void)state;
	make_blob(path, sizeof path, 3 * PP_FILES_CHUNK + 100);   /* chunks 0,1,2 full; 3 final */
	fd = open(path, O_RDWR);
	/* a flipped bit in chunk 1 */
	assert_int_equal(pread(fd, &b, 1, (off_t)(hdr + unit + 5)), 1);
	b ^= 0x80;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(hdr + unit + 5)), 1);
	assert_int_equal(decrypt_path(path, ID_A, &got), PP_ECRYPTO);
	b ^= 0x80;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)(hdr + unit + 5)), 1);
	assert_int_equal(decrypt_path(path, ID_A, &got), 0);
	/* chunks 1 and 2 swapped */
	out = mkstemp(bad);
	copy_range(fd, out, 0, hdr + unit);
	copy_range(fd, out, (off_t)(hdr + 2 * unit), unit);
	copy_range(fd, out, (off_t)(hdr + unit), unit);
	copy_range(fd, out, (off_t)(hdr + 3 * unit), 116);
	close(out);
	assert_int_equal(decrypt_path(bad, ID_A, &got), PP_ECRYPTO);
	/* chunk 2 dropped */
	out = open(bad, O_WRONLY | O_TRUNC);
	copy_range(fd, out, 0, hdr + 2 * unit);
	copy_range(fd, out, (off_t)(hdr + 3 * unit), 116);
	close(out);
	assert_int_equal(decrypt_path(bad, ID_A, &got), PP_ECRYPTO);
	/* truncated at a chunk boundary: the last chunk left was not sealed as final */
	out = open(bad, O_WRONLY | O_TRUNC);
	copy_range(fd, out, 0, hdr + 3 * unit);
	close(out);
	assert_int_equal(decrypt_path(bad, ID_A, &got), PP_ECRYPTO);
	/* truncated inside a chunk */
	assert_int_equal(truncate(path, (off_t)(hdr + 3 * unit + 50)), 0);
	assert_int_equal(decrypt_path(path, ID_A, &got), PP_ECRYPTO);
	close(fd);
	unlink(bad);
	unlink(path);
}

static void check_name(const char *in, bool pct, const char *want)
{
	char out[PP_FILES_NAME_MAX + 1];
	assert_int_equal(pp_files_name_sanitise(in, strlen(in), pct, out), 0);
	assert_string_equal(out, want);
}

static void test_name_sanitiser(void **state)
{
	char out[PP_FILES_NAME_MAX + 1], longname[400];
	(void)state;
	check_name("report.pdf", false, "report.pdf");
	check_name("Discharge%20summary.pdf", true, "Discharge summary.pdf");
	check_name("..%2F..%2Fetc%2Fpasswd", true, "etcpasswd");
	check_name("C:\\Windows\\evil.exe", false, "C:Windowsevil.exe");
	check_name("a\r\nb\tc\x7f" "d", false, "abcd");
	check_name("scan\xe2\x80\xaegnp.pdf", false, "scangnp.pdf");       /* U+202E dropped */
	check_name("caf\xc3\xa9.txt", false, "caf\xc3\xa9.txt");           /* UTF-8 kept */
	check_name("bad\xc3(\xff\xc0\xaf.txt", false, "bad(.txt");         /* invalid bytes dropped */
	check_name(" .hidden. ", false, "hidden");
	check_name("%00", true, "file");
	check_name("", false, "file");
	check_name("/", false, "file");
	assert_int_equal(pp_files_name_sanitise("%zz", 3, true, out), PP_EINVAL);
	assert_int_equal(pp_files_name_sanitise("ab%4", 4, true, out), PP_EINVAL);
	/* length cap on a character boundary: 2-byte characters never split */
	for (size_t i = 0; i + 2 < sizeof longname; i += 2)
		memcpy(longname + i, "\xc3\xa9", 2);
	longname[sizeof longname - 2] = '\0';
	assert_int_equal(pp_files_name_sanitise(longname, strlen(longname), false, out), 0);
	assert_int_equal(strlen(out), PP_FILES_NAME_MAX);
	assert_int_equal((unsigned char)out[PP_FILES_NAME_MAX - 2], 0xc3);
}

static void test_clamd_reply(void **state)
{
	char sig[64];
	(void)state;
	assert_int_equal(pp_files_clamd_parse("stream: OK", 10, sig, sizeof sig), 0);
	assert_int_equal(pp_files_clamd_parse("stream: OK\n", 11, sig, sizeof sig), 0);
	assert_int_equal(pp_files_clamd_parse("stream: Eicar-Test-Signature.UNOFFICIAL FOUND", 45,
	                                      sig, sizeof sig), 1);
	assert_string_equal(sig, "Eicar-Test-Signature.UNOFFICIAL");
	assert_int_equal(pp_files_clamd_parse("INSTREAM size limit exceeded. ERROR", 35, sig,
	                                      sizeof sig), PP_EINVAL);
	assert_int_equal(pp_files_clamd_parse("stream: Can't allocate memory ERROR", 35, sig,
	                                      sizeof sig), PP_EINVAL);
	assert_int_equal(pp_files_clamd_parse("stream: OKAY", 12, sig, sizeof sig), PP_EINVAL);
	assert_int_equal(pp_files_clamd_parse("stream:  FOUND", 14, sig, sizeof sig), PP_EINVAL);
	assert_int_equal(pp_files_clamd_parse("", 0, sig, sizeof sig), PP_EINVAL);
	assert_int_equal(pp_files_clamd_parse(NULL, 0, sig, sizeof sig), PP_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_round_trip_and_binding),
		cmocka_unit_test(test_blob_round_trip_sizes),
		cmocka_unit_test(test_blob_tamper_reorder_truncate),
		cmocka_unit_test(test_name_sanitiser),
		cmocka_unit_test(test_clamd_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
