/* core: bounded buffers, encoders, the JSON depth scanner, the config table and its baseline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/core.h"

static void test_buf_limit(void **state)
{
	pp_buf b;
	(void)state;
	pp_buf_init(&b, 8);
	assert_int_equal(pp_buf_appends(&b, "12345678"), PP_OK);
	assert_int_equal(pp_buf_appends(&b, "9"), PP_ETOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(pp_buf_cstr(&b), "12345678");
	pp_buf_reset(&b);
	assert_int_equal(pp_buf_appendf(&b, "%d-%s", 42, "abc"), PP_OK);
	assert_string_equal(pp_buf_cstr(&b), "42-abc");
	assert_int_equal(pp_buf_appendf(&b, "%s", "toolong"), PP_ETOOBIG);
	pp_buf_free(&b);
	pp_buf_free(NULL);
}

static void test_hex_b64(void **state)
{
	uint8_t in[5] = {0, 1, 0xfe, 0xff, 0x7f}, out[8];
	char hex[11], b64[16];
	size_t n;
	(void)state;
	pp_hex_encode(in, 5, hex);
	assert_string_equal(hex, "0001feff7f");
	assert_int_equal(pp_hex_decode(hex, out, sizeof out, &n), PP_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(in, out, 5);
	assert_int_equal(pp_hex_decode("0g", out, sizeof out, &n), PP_EINVAL);
	assert_int_equal(pp_hex_decode("abc", out, sizeof out, &n), PP_EINVAL);
	/* RFC 4648 test vectors, url alphabet without padding */
	pp_b64url_encode((const uint8_t *)"foobar", 6, b64);
	assert_string_equal(b64, "Zm9vYmFy");
	pp_b64url_encode((const uint8_t *)"fo", 2, b64);
	assert_string_equal(b64, "Zm8");
	pp_b64url_encode(in, 5, b64);
	assert_int_equal(pp_b64url_decode(b64, strlen(b64), out, sizeof out, &n), PP_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(in, out, 5);
	assert_int_equal(pp_b64url_decode("a+b/", 4, out, sizeof out, &n), PP_EINVAL);
	assert_int_equal(pp_b64url_decode("Zm9vYmFy", 8, out, 3, &n), PP_ETOOBIG);
}

static void test_json_depth(void **state)
{
	(void)state;
	assert_int_equal(pp_json_check_depth("{\"a\":[1,{\"b\":2}]}", 17, 3), PP_OK);
	assert_int_equal(pp_json_check_depth("{\"a\":[1,{\"b\":2}]}", 17, 2), PP_ETOOBIG);
	/* brackets inside strings, with escaped quotes, do not count */
	const char *s = "{\"a\":\"[[[[\\\"[[[[\"}";
	assert_int_equal(pp_json_check_depth(s, strlen(s), 1), PP_OK);
}

static void test_clock(void **state)
{
	char iso[32];
	(void)state;
	pp_clock_format_iso(0, iso);
	assert_string_equal(iso, "1970-01-01T00:00:00.000Z");
	pp_clock_format_iso(1764072000123LL, iso);
	assert_string_equal(iso, "2025-11-25T12:00:00.123Z");
	int64_t a = pp_clock_now_ms();
	pp_clock_set_offset_ms(3600 * 1000);
	assert_true(pp_clock_now_ms() - a >= 3600 * 1000);
	pp_clock_set_offset_ms(0);
}

static void write_conf(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_config(void **state)
{
	char dir[] = "/tmp/pp-core-XXXXXX", path[256], err[256];
	pp_config c;
	pp_buf rep;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/phiportal.conf", dir);
	pp_config_defaults(&c, dir);
	assert_int_equal(c.session_idle_timeout_s, 900);
	assert_int_equal(c.session_absolute_timeout_s, 43200);
	assert_true(c.audit_enabled);
	pp_buf_init(&rep, 4096);
	assert_int_equal(pp_config_check_baseline(&c, &rep), 0);

	write_conf(path, "# comment\nsession.idle_timeout_s = 600\nauth.mfa_required_staff = false\n"
	           "tls.min_version = 1.1  # old\n");
	assert_int_equal(pp_config_load(&c, path, err, sizeof err), PP_OK);
	assert_int_equal(c.session_idle_timeout_s, 600);
	assert_int_equal(pp_config_check_baseline(&c, &rep), 2);
	assert_non_null(strstr(pp_buf_cstr(&rep), "auth.mfa_required_staff: value 'false' is unsafe; safe value: true"));
	assert_non_null(strstr(pp_buf_cstr(&rep), "tls.min_version: value '1.1' is unsafe; safe value: 1.2"));

	write_conf(path, "\n\nsession.idle_timeout_s = abc\n");
	assert_int_equal(pp_config_load(&c, path, err, sizeof err), PP_EINVAL);
	assert_non_null(strstr(err, ":3: session.idle_timeout_s must be an integer"));
	write_conf(path, "nope = 1\n");
	assert_int_equal(pp_config_load(&c, path, err, sizeof err), PP_EINVAL);
	assert_non_null(strstr(err, "unknown key 'nope'"));
	write_conf(path, "server.port = 70000\n");
	assert_int_equal(pp_config_load(&c, path, err, sizeof err), PP_EINVAL);
	write_conf(path, "just text\n");
	assert_int_equal(pp_config_load(&c, path, err, sizeof err), PP_EINVAL);

	/* the default file written at init parses back to the defaults */
	pp_config d1, d2;
	pp_buf out;
	pp_config_defaults(&d1, dir);
	pp_buf_init(&out, 1 << 20);
	assert_int_equal(pp_config_write_default(&d1, &out), PP_OK);
	write_conf(path, pp_buf_cstr(&out));
	pp_config_defaults(&d2, dir);
	assert_int_equal(pp_config_load(&d2, path, err, sizeof err), PP_OK);
	assert_memory_equal(&d1, &d2, sizeof d1);
	pp_buf_free(&out);
	pp_buf_free(&rep);
	unlink(path);
	rmdir(dir);
}

static void test_file_io(void **state)
{
	char dir[] = "/tmp/pp-core-XXXXXX", path[256], *data = NULL;
	size_t len;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/f", dir);
	assert_int_equal(pp_file_write_atomic(path, "hello", 5, 0600), PP_OK);
	assert_int_equal(pp_file_read(path, 100, &data, &len), PP_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "hello", 5);
	free(data);
	assert_int_equal(pp_file_read(path, 3, &data, &len), PP_ETOOBIG);
	assert_int_equal(pp_file_read("/nonexistent/x", 3, &data, &len), PP_ENOTFOUND);
	unlink(path);
	rmdir(dir);
}

static void test_ip_lists(void **state)
{
	(void)state;
	assert_true(pp_iplist_allowed("127.0.0.1", "", ""));
	assert_true(pp_iplist_allowed("10.1.2.3", "10.0.0.0/8", ""));
	assert_false(pp_iplist_allowed("11.1.2.3", "10.0.0.0/8", ""));
	assert_false(pp_iplist_allowed("10.1.2.3", "10.0.0.0/8", "10.1.0.0/16"));
	assert_true(pp_iplist_allowed("10.2.2.3", "10.0.0.0/8", "10.1.0.0/16"));
	assert_true(pp_iplist_allowed("192.168.1.77", "192.168.1.64/26", ""));
	assert_false(pp_iplist_allowed("192.168.1.128", "192.168.1.64/26", ""));
	assert_true(pp_iplist_allowed("2001:db8::1", "2001:db8::/32", ""));
	assert_false(pp_iplist_allowed("2001:db9::1", "2001:db8::/32", ""));
	assert_false(pp_iplist_allowed("::1", "127.0.0.1", ""));
	assert_true(pp_iplist_allowed("::ffff:10.0.0.5", "10.0.0.0/8", ""));   /* mapped IPv4 */
	assert_false(pp_iplist_allowed("::1", "", "::1"));
	assert_true(pp_iplist_allowed("1.2.3.4", "0.0.0.0/0", ""));
	assert_false(pp_iplist_allowed("garbage", "10.0.0.0/8", ""));
	assert_false(pp_iplist_allowed("10.0.0.1", "", "not-a-cidr"));   /* a broken deny list refuses */
	assert_int_equal(pp_iplist_check("10.0.0.0/8, ::1/128 2001:db8::/32"), PP_OK);
	assert_int_not_equal(pp_iplist_check("10.0.0.0/33"), PP_OK);
	assert_int_not_equal(pp_iplist_check("::/129"), PP_OK);
	assert_int_not_equal(pp_iplist_check("10.0.0/8"), PP_OK);
}

static void test_ratelimit(void **state)
{
	pp_ratelimit *rl;
	int retry;
	(void)state;
	assert_int_equal(pp_ratelimit_new(&rl), PP_OK);
	assert_true(pp_ratelimit_take(rl, "a", 2, 1000, &retry));
	assert_true(pp_ratelimit_take(rl, "a", 2, 1000, &retry));
	assert_false(pp_ratelimit_take(rl, "a", 2, 1000, &retry));
	assert_true(retry >= 1 && retry <= 31);
	assert_true(pp_ratelimit_take(rl, "b", 2, 1000, &retry));   /* buckets are per client */
	assert_true(pp_ratelimit_take(rl, "a", 2, 31000, &retry));   /* refilled after 30 s */
	assert_true(pp_ratelimit_take(rl, "c", 0, 1000, &retry));    /* 0 = unlimited */
	for (int i = 0; i < 3000; i++) {   /* more clients than slots: old buckets are reused */
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		pp_ratelimit_take(rl, k, 5, 2000 + i, &retry);
	}
	pp_ratelimit_free(rl);
	pp_ratelimit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit), cmocka_unit_test(test_hex_b64),
		cmocka_unit_test(test_json_depth), cmocka_unit_test(test_clock),
		cmocka_unit_test(test_config), cmocka_unit_test(test_file_io), cmocka_unit_test(test_ip_lists),
		cmocka_unit_test(test_ratelimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
