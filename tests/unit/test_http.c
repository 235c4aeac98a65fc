/* Unit tests for http/: parsers, router, request helpers, the dev certificate, and a real server
 * on a free loopback port driven with libcurl and a raw GnuTLS client. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "http/http_internal.h"
#include "http/web_assets.h"

/* ------------------------------------------------------------------ helpers */

static char tmpdir[256];
static char cert_path[512], key_path[512];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_tmpdir(void)
{
	if (tmpdir[0])
		return;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pp_http_test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	assert_int_equal(pp_http_tls_create_dev_cert(cert_path, key_path), 0);
}

/* ------------------------------------------------------------------ parsers */

static void test_query_basic(void **state)
{
	(void)state;
	char buf[] = "a=1&b=two&empty=&flag";
	pp_http_kv kv[8];
	int n = pp_http_parse_query(buf, kv, 8);
	assert_int_equal(n, 4);
	assert_string_equal(kv[0].key, "a");
	assert_string_equal(kv[0].value, "1");
	assert_string_equal(kv[1].key, "b");
	assert_string_equal(kv[1].value, "two");
	assert_string_equal(kv[2].key, "empty");
	assert_string_equal(kv[2].value, "");
	assert_string_equal(kv[3].key, "flag");
	assert_string_equal(kv[3].value, "");
}

static void test_query_decoding(void **state)
{
	(void)state;
	char buf[] = "?n%61me=J%C3%B6rg+M%2B&%3D=%26&x=a=b";
	pp_http_kv kv[8];
	int n = pp_http_parse_query(buf, kv, 8);
	assert_int_equal(n, 3);
	assert_string_equal(kv[0].key, "name");
	assert_string_equal(kv[0].value, "J\xc3\xb6rg M+");
	assert_string_equal(kv[1].key, "=");
	assert_string_equal(kv[1].value, "&");
	assert_string_equal(kv[2].key, "x");
	assert_string_equal(kv[2].value, "a=b");
}

static void test_query_empty_and_skips(void **state)
{
	(void)state;
	pp_http_kv kv[4];
	char e[] = "";
	char amp[] = "&&&";
	char noname[] = "=v&k=1&";
	assert_int_equal(pp_http_parse_query(e, kv, 4), 0);
	assert_int_equal(pp_http_parse_query(amp, kv, 4), 0);
	assert_int_equal(pp_http_parse_query(noname, kv, 4), 1);
	assert_string_equal(kv[0].key, "k");
}

static void test_query_malformed(void **state)
{
	(void)state;
	pp_http_kv kv[4];
	const char *bad[] = {"a=%zz", "a=%4", "a=%", "%g1=1", "a=%00", "a%00b=1", "a=1&b=%F"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		assert_int_equal(pp_http_parse_query(buf, kv, 4), PP_EINVAL);
	}
	assert_int_equal(pp_http_parse_query(NULL, kv, 4), PP_EINVAL);
	assert_int_equal(pp_http_parse_query((char[]){"a=1"}, NULL, 4), PP_EINVAL);
	assert_int_equal(pp_http_parse_query((char[]){"a=1"}, kv, -1), PP_EINVAL);
}

static void test_query_limit(void **state)
{
	(void)state;
	pp_http_kv kv[3];
	char three[] = "a=1&b=2&c=3";
	char four[] = "a=1&b=2&c=3&d=4";
	char one[] = "a=1";
	assert_int_equal(pp_http_parse_query(three, kv, 3), 3);
	assert_int_equal(pp_http_parse_query(four, kv, 3), PP_ETOOBIG);
	assert_int_equal(pp_http_parse_query(one, kv, 0), PP_ETOOBIG);
}

static void test_cookies_basic(void **state)
{
	(void)state;
	char buf[] = "  a=1;b=2 ;  __Host-pp_session=abc%2Fdef ; q=\"quoted\"";
	pp_http_kv kv[8];
	int n = pp_http_parse_cookies(buf, kv, 8);
	assert_int_equal(n, 4);
	assert_string_equal(kv[0].key, "a");
	assert_string_equal(kv[0].value, "1");
	assert_string_equal(kv[1].key, "b");
	assert_string_equal(kv[1].value, "2");
	assert_string_equal(kv[2].key, "__Host-pp_session");
	assert_string_equal(kv[2].value, "abc/def");
	assert_string_equal(kv[3].key, "q");
	assert_string_equal(kv[3].value, "quoted");
}

static void test_cookies_malformed_skipped(void **state)
{
	(void)state;
	/* no '=', empty name, bad name char, space in value, bad escape, NUL escape: all skipped */
	char buf[] = "novalue; =x; b@d=1; sp=a b; pct=%zz; nul=%00; ok=1;;";
	pp_http_kv kv[8];
	int n = pp_http_parse_cookies(buf, kv, 8);
	assert_int_equal(n, 1);
	assert_string_equal(kv[0].key, "ok");
	assert_string_equal(kv[0].value, "1");
	assert_int_equal(pp_http_parse_cookies(NULL, kv, 8), PP_EINVAL);
}

static void test_cookies_limit(void **state)
{
	(void)state;
	pp_http_kv kv[2];
	char two[] = "a=1; b=2";
	char three[] = "a=1; b=2; c=3";
	assert_int_equal(pp_http_parse_cookies(two, kv, 2), 2);
	assert_int_equal(pp_http_parse_cookies(three, kv, 2), PP_ETOOBIG);
}

/* ------------------------------------------------------------------ router */

static int h_a(void *app, pp_http_request *r) { (void)app; (void)r; return 0; }
static int h_b(void *app, pp_http_request *r) { (void)app; (void)r; return 0; }
static int h_c(void *app, pp_http_request *r) { (void)app; (void)r; return 0; }

static const char *param(const pp_http_match *m, const char *name)
{
	for (int i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].key, name) == 0)
			return m->params[i].value;
	return NULL;
}

static void test_router_match(void **state)
{
	(void)state;
	pp_http_router *rt;
	pp_http_match m;
	char buf[512];
	int tag_param = 1, tag_me = 2, tag_static = 3;
	assert_int_equal(pp_http_router_new(&rt), 0);
	/* the param route is added first: the exact one must still win */
	assert_int_equal(pp_http_router_add(rt, "GET", "/api/v1/patients/:id/summary", h_a, &tag_param), 0);
	assert_int_equal(pp_http_router_add(rt, "GET", "/api/v1/patients/me/summary", h_b, &tag_me), 0);
	assert_int_equal(pp_http_router_add(rt, "POST", "/api/v1/patients/:id/summary", h_a, NULL), 0);
	assert_int_equal(pp_http_router_add(rt, "GET", "/static/*", h_c, &tag_static), 0);
	assert_int_equal(pp_http_router_add(rt, "GET", "/", h_c, NULL), 0);

	assert_int_equal(pp_http_router_match(rt, "GET", "/api/v1/patients/p%2D7/summary", buf,
	                                      sizeof(buf), &m), PP_HTTP_MATCH_OK);
	assert_ptr_equal(pp_http_route_entry_data(m.route), &tag_param);
	assert_string_equal(pp_http_route_pattern(m.route), "/api/v1/patients/:id/summary");
	assert_string_equal(param(&m, "id"), "p-7");

	assert_int_equal(pp_http_router_match(rt, "GET", "/api/v1/patients/me/summary", buf,
	                                      sizeof(buf), &m), PP_HTTP_MATCH_OK);
	assert_ptr_equal(pp_http_route_entry_data(m.route), &tag_me);

	/* HEAD answers a GET route */
	assert_int_equal(pp_http_router_match(rt, "HEAD", "/api/v1/patients/me/summary", buf,
	                                      sizeof(buf), &m), PP_HTTP_MATCH_OK);
	assert_ptr_equal(pp_http_route_entry_data(m.route), &tag_me);

	/* wildcard with and without a rest; the rest stays encoded */
	assert_int_equal(pp_http_router_match(rt, "GET", "/static/a/b%20c.js", buf, sizeof(buf), &m),
	                 PP_HTTP_MATCH_OK);
	assert_ptr_equal(pp_http_route_entry_data(m.route), &tag_static);
	assert_string_equal(param(&m, "*"), "a/b%20c.js");
	assert_int_equal(pp_http_router_match(rt, "GET", "/static", buf, sizeof(buf), &m),
	                 PP_HTTP_MATCH_OK);
	assert_string_equal(param(&m, "*"), "");

	assert_int_equal(pp_http_router_match(rt, "GET", "/", buf, sizeof(buf), &m), PP_HTTP_MATCH_OK);
	assert_ptr_equal(pp_http_route_handler(m.route), h_c);

	/* near misses */
	assert_int_equal(pp_http_router_match(rt, "GET", "/api/v1/patients//summary", buf, sizeof(buf),
	                                      &m), PP_HTTP_MATCH_NONE);
	assert_int_equal(pp_http_router_match(rt, "GET", "/api/v1/patients/1/summary/", buf,
	                                      sizeof(buf), &m), PP_HTTP_MATCH_NONE);
	assert_int_equal(pp_http_router_match(rt, "GET", "/api/v1/patients/1", buf, sizeof(buf), &m),
	                 PP_HTTP_MATCH_NONE);
	assert_int_equal(pp_http_router_match(rt, "GET", "/API/v1/patients/1/summary", buf,
	                                      sizeof(buf), &m), PP_HTTP_MATCH_NONE);
	pp_http_router_free(rt);
}

static void test_router_method_and_errors(void **state)
{
	(void)state;
	pp_http_router *rt;
	pp_http_match m;
	char buf[64];
	char longpath[128];
	assert_int_equal(pp_http_router_new(&rt), 0);
	assert_int_equal(pp_http_router_add(rt, "GET", "/a/:id", h_a, NULL), 0);
	assert_int_equal(pp_http_router_add(rt, "POST", "/a/:id", h_b, NULL), 0);
	assert_int_equal(pp_http_router_match(rt, "DELETE", "/a/1", buf, sizeof(buf), &m),
	                 PP_HTTP_MATCH_METHOD);
	assert_string_equal(m.allow, "GET, HEAD, POST");
	assert_null(m.route);

	/* malformed paths */
	assert_int_equal(pp_http_router_match(rt, "GET", "/a/%zz", buf, sizeof(buf), &m), PP_EINVAL);
	assert_int_equal(pp_http_router_match(rt, "GET", "/a/%00", buf, sizeof(buf), &m), PP_EINVAL);
	assert_int_equal(pp_http_router_match(rt, "GET", "a/1", buf, sizeof(buf), &m), PP_EINVAL);
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(pp_http_router_match(rt, "GET", longpath, buf, sizeof(buf), &m), PP_ETOOBIG);

	/* bad patterns */
	assert_int_equal(pp_http_router_add(rt, "GET", "/a/*/b", h_a, NULL), PP_EINVAL);
	assert_int_equal(pp_http_router_add(rt, "GET", "/a/:", h_a, NULL), PP_EINVAL);
	assert_int_equal(pp_http_router_add(rt, "GET", "nolead", h_a, NULL), PP_EINVAL);
	assert_int_equal(pp_http_router_add(rt, "GET", "/x", NULL, NULL), PP_EINVAL);
	assert_int_equal(pp_http_router_add(rt, "", "/x", h_a, NULL), PP_EINVAL);
	pp_http_router_free(rt);
	pp_http_router_free(NULL);
}

static void test_router_too_many_segments(void **state)
{
	(void)state;
	pp_http_router *rt;
	pp_http_match m;
	char path[256] = "", buf[1024];
	size_t len = 0;
	for (int i = 0; i < PP_HTTP_MAX_SEGMENTS + 1; i++)
		len += (size_t)snprintf(path + len, sizeof(path) - len, "/s");
	assert_int_equal(pp_http_router_new(&rt), 0);
	assert_int_equal(pp_http_router_add(rt, "GET", "/*", h_a, NULL), 0);
	assert_int_equal(pp_http_router_match(rt, "GET", path, buf, sizeof(buf), &m), PP_ETOOBIG);
	assert_int_equal(pp_http_router_add(rt, "GET", path, h_a, NULL), PP_ETOOBIG);
	pp_http_router_free(rt);
}

/* ------------------------------------------------------------------ request helpers */

static void test_request_response_helpers(void **state)
{
	(void)state;
	pp_http_request *r;
	pp_http_kv hdrs[2] = {{"Cookie", "pp_session=planted; __Host-pp_session=real%21"},
	                      {"X-Thing", "v"}};
	assert_int_equal(pp_http_request_new(&r, NULL, 1024), 0);
	r->headers = hdrs;
	r->nheaders = 2;
	r->query_raw = (char *)"a=1&b=x%20y";
	assert_int_equal(pp_http_request_parse_inputs(r, 4), 0);
	assert_string_equal(pp_http_query(r, "b"), "x y");
	assert_null(pp_http_query(r, "c"));
	assert_string_equal(pp_http_header(r, "x-thing"), "v");
	/* only the __Host- cookie counts */
	assert_string_equal(pp_http_cookie(r, "pp_session"), "real!");
	assert_null(pp_http_cookie(r, "__Host-pp_session"));

	/* cookies */
	assert_int_equal(pp_http_set_cookie(r, "pp_session", "tok123", 900), 0);
	assert_string_equal(r->set_cookies[0],
	                    "__Host-pp_session=tok123; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=900");
	assert_int_equal(pp_http_set_cookie(r, "pp_csrf", "x", -1), 0);
	assert_string_equal(r->set_cookies[1], "__Host-pp_csrf=x; Path=/; Secure; HttpOnly; SameSite=Strict");
	assert_int_equal(pp_http_set_cookie(r, "bad name", "x", 0), PP_EINVAL);
	assert_int_equal(pp_http_set_cookie(r, "n", "a;b", 0), PP_EINVAL);
	assert_int_equal(pp_http_set_cookie(r, "n", "a\r\nX: y", 0), PP_EINVAL);

	/* headers: no injection, server-owned names refused */
	assert_int_equal(pp_http_set_header(r, "X-A", "1\r\nSet-Cookie: x=y"), PP_EINVAL);
	assert_int_equal(pp_http_set_header(r, "Bad Name", "1"), PP_EINVAL);
	assert_int_equal(pp_http_set_header(r, "Content-Security-Policy", "none"), PP_EINVAL);
	assert_int_equal(pp_http_set_header(r, "set-cookie", "a=b"), PP_EINVAL);
	assert_int_equal(pp_http_set_header(r, "Location", "/x"), 0);
	assert_int_equal(pp_http_set_header(r, "location", "/y"), 0);
	assert_int_equal(r->nresp_headers, 1);
	assert_string_equal(r->resp_headers[0].value, "/y");

	/* error body */
	assert_int_equal(pp_http_error(r, 403, "forbidden", "No \"way\""), 0);
	assert_int_equal(r->status, 403);
	assert_string_equal(r->content_type, "application/json");
	assert_string_equal(r->resp_body.data, "{\"error\":{\"code\":\"forbidden\",\"message\":\"No \\\"way\\\"\"}}");
	pp_http_error_from_code(r, PP_EAUDIT);
	assert_int_equal(r->status, 503);
	assert_non_null(strstr(r->resp_body.data, "audit_unavailable"));
	assert_int_equal(r->nset_cookies, 0);   /* an error response drops what the handler set */
	pp_http_error_from_code(r, PP_ELOCKED);
	assert_int_equal(r->status, 429);
	r->headers = NULL;
	r->nheaders = 0;
	r->query_raw = NULL;
	pp_http_request_free(r);
	pp_http_request_free(NULL);
}

static void test_request_query_limit(void **state)
{
	(void)state;
	pp_http_request *r;
	assert_int_equal(pp_http_request_new(&r, NULL, 1024), 0);
	r->query_raw = (char *)"a=1&b=2&c=3";
	assert_int_equal(pp_http_request_parse_inputs(r, 2), PP_ETOOBIG);
	assert_null(pp_http_query(r, "a"));
	r->query_raw = NULL;
	pp_http_request_free(r);
}

/* ------------------------------------------------------------------ dev certificate */

static void test_dev_cert(void **state)
{
	(void)state;
	struct stat st;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {NULL, 0};
	gnutls_certificate_credentials_t cred;
	char *pem = NULL;
	size_t len = 0;
	unsigned char ip[4] = {127, 0, 0, 1};
	char bad[600];

	make_tmpdir();
	assert_int_equal(stat(key_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cert_path, &st), 0);
	assert_int_equal(st.st_mode & 0077 & ~0044, 0);

	assert_int_equal(pp_file_read(cert_path, 65536, &pem, &len), 0);
	d.data = (unsigned char *)pem;
	d.size = (unsigned)len;
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
	assert_true(gnutls_x509_crt_check_hostname(crt, "localhost"));
	assert_false(gnutls_x509_crt_check_hostname(crt, "example.com"));
	assert_true(gnutls_x509_crt_check_ip(crt, ip, 4, 0));
	assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, NULL), GNUTLS_PK_ECDSA);
	{
		time_t exp = gnutls_x509_crt_get_expiration_time(crt);
		time_t act = gnutls_x509_crt_get_activation_time(crt);
		assert_true(exp - act > 364L * 86400 && exp - act < 366L * 86400);
		assert_true(act <= time(NULL));
	}
	{
		unsigned int verify = 0;
		/* self-signed: the signature verifies against itself */
		assert_int_equal(gnutls_x509_crt_verify(crt, &crt, 1, 0, &verify), 0);
		assert_int_equal(verify, 0);
	}
	gnutls_x509_crt_deinit(crt);
	free(pem);
	/* key and certificate belong together */
	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	assert_int_equal(gnutls_certificate_set_x509_key_file(cred, cert_path, key_path,
	                                                      GNUTLS_X509_FMT_PEM), 0);
	gnutls_certificate_free_credentials(cred);

	/* failure path: a directory that does not exist */
	snprintf(bad, sizeof(bad), "%s/missing/dir/key.pem", tmpdir);
	assert_true(pp_http_tls_create_dev_cert(bad, bad) < 0);
	assert_int_equal(pp_http_tls_create_dev_cert(NULL, key_path), PP_EINVAL);
}

static void test_tls_priorities(void **state)
{
	(void)state;
	gnutls_priority_t p;
	const char *err = NULL;
	const char *p12 = pp_http_tls_priorities("1.2");
	const char *p13 = pp_http_tls_priorities("1.3");
	assert_int_equal(gnutls_priority_init(&p, p12, &err), 0);
	gnutls_priority_deinit(p);
	assert_int_equal(gnutls_priority_init(&p, p13, &err), 0);
	gnutls_priority_deinit(p);
	assert_non_null(strstr(p12, "+VERS-TLS1.2"));
	assert_null(strstr(p13, "+VERS-TLS1.2"));
	assert_null(strstr(p12, "CBC"));
}

/* ------------------------------------------------------------------ live server */

typedef struct app_state {
	int calls;
	pthread_mutex_t mu;
} app_state;

static app_state app = {0, PTHREAD_MUTEX_INITIALIZER};

static int h_echo(void *a, pp_http_request *r)
{
	app_state *st = a;
	char out[1024];
	size_t blen;
	const char *p = pp_http_param(r, "id"), *q = pp_http_query(r, "q"), *c = pp_http_cookie(r, "sid");
	pthread_mutex_lock(&st->mu);
	st->calls++;
	pthread_mutex_unlock(&st->mu);
	pp_http_body(r, &blen);
	snprintf(out, sizeof(out),
	         "{\"method\":\"%s\",\"id\":\"%s\",\"q\":\"%s\",\"sid\":\"%s\",\"body\":%zu,\"ua\":\"%s\",\"ip\":\"%s\"}",
	         pp_http_method(r), p ? p : "-", q ? q : "-", c ? c : "-", blen, pp_http_user_agent(r),
	         pp_http_client_ip(r));
	pp_http_status(r, 200);
	return pp_http_body_set(r, "application/json", out, strlen(out));
}

static int slow_running, slow_max;

static int h_slow(void *a, pp_http_request *r)
{
	(void)a;
	struct timespec ts = {0, 100 * 1000 * 1000};
	int now = __atomic_add_fetch(&slow_running, 1, __ATOMIC_SEQ_CST);
	int prev = __atomic_load_n(&slow_max, __ATOMIC_SEQ_CST);
	while (now > prev && !__atomic_compare_exchange_n(&slow_max, &prev, now, false,
	                                                  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	nanosleep(&ts, NULL);
	__atomic_sub_fetch(&slow_running, 1, __ATOMIC_SEQ_CST);
	return pp_http_body_set(r, "text/plain", "slept", 5);
}

static int h_fail(void *a, pp_http_request *r)
{
	(void)a;
	pp_http_set_cookie(r, "leak", "x", 10);   /* must not survive the error */
	return PP_EAUDIT;
}

static int h_none(void *a, pp_http_request *r)
{
	(void)a;
	(void)r;
	return 0;
}

static int h_phi(void *a, pp_http_request *r)
{
	(void)a;
	pp_http_mark_phi(r);
	pp_http_set_header(r, "Cache-Control", "max-age=3600");
	return pp_http_body_set(r, "application/json", "{}", 2);
}

static int h_public(void *a, pp_http_request *r)
{
	(void)a;
	pp_http_set_header(r, "Cache-Control", "max-age=60");
	pp_http_set_cookie(r, "sid", "new", 60);
	pp_http_status(r, 201);
	return pp_http_body_set(r, "text/plain", "ok", 2);
}

typedef struct server_fixture {
	pp_http_server *s;
	int port;
	int redirect_port;
	char base[64];
} server_fixture;

static server_fixture fx;

static int free_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) != 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void base_config(pp_config *cfg)
{
	pp_config_defaults(cfg, tmpdir);
	snprintf(cfg->server_bind, sizeof(cfg->server_bind), "127.0.0.1");
	cfg->server_port = 0;                 /* any free port */
	cfg->server_threads = 2;
	cfg->server_workers = 8;
	cfg->limits_max_body_bytes = 1024;
	cfg->limits_max_query_params = 4;
	cfg->limits_conn_timeout_s = 1;
	cfg->tls_hsts_max_age = 31536000;
	snprintf(cfg->tls_cert_file, sizeof(cfg->tls_cert_file), "cert.pem");
	snprintf(cfg->tls_key_file, sizeof(cfg->tls_key_file), "key.pem");
	snprintf(cfg->server_public_url, sizeof(cfg->server_public_url), "https://localhost:8443/");
}

static int setup_server(void **state)
{
	pp_config cfg;
	(void)state;
	make_tmpdir();
	base_config(&cfg);
	fx.redirect_port = free_port();
	cfg.server_redirect_port = fx.redirect_port;
	if (pp_http_server_new(&fx.s, &cfg, &app) < 0)
		return -1;
	if (pp_http_route(fx.s, "GET", "/api/v1/echo/:id", h_echo, NULL) < 0 ||
	    pp_http_route(fx.s, "POST", "/api/v1/echo", h_echo, NULL) < 0 ||
	    pp_http_route(fx.s, "GET", "/api/v1/slow", h_slow, NULL) < 0 ||
	    pp_http_route(fx.s, "GET", "/api/v1/fail", h_fail, NULL) < 0 ||
	    pp_http_route(fx.s, "GET", "/api/v1/none", h_none, NULL) < 0 ||
	    pp_http_route(fx.s, "GET", "/phi", h_phi, NULL) < 0 ||
	    pp_http_route(fx.s, "GET", "/public", h_public, NULL) < 0)
		return -1;
	if (pp_http_server_start(fx.s) < 0)
		return -1;
	/* routes cannot change once the server runs */
	if (pp_http_route(fx.s, "GET", "/late", h_echo, NULL) != PP_EINVAL)
		return -1;
	fx.port = pp_http_server_port(fx.s);
	snprintf(fx.base, sizeof(fx.base), "https://127.0.0.1:%d", fx.port);
	return fx.port > 0 ? 0 : -1;
}

static int teardown_server(void **state)
{
	(void)state;
	pp_http_server_free(fx.s);
	fx.s = NULL;
	return 0;
}

typedef struct resp {
	long status;
	CURLcode rc;
	pp_buf body;
	pp_buf headers;
	double secs;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	return pp_buf_append(&r->body, p, sz * n) == 0 ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	return pp_buf_append(&r->headers, p, sz * n) == 0 ? sz * n : 0;
}

static void resp_free(resp *r)
{
	pp_buf_free(&r->body);
	pp_buf_free(&r->headers);
}

/* the value of a response header, copied into out ("" when absent) */
static const char *hdr(resp *r, const char *name, char *out, size_t cap)
{
	const char *p = pp_buf_cstr(&r->headers);
	size_t nl = strlen(name);
	out[0] = '\0';
	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t vl;
			while (*v == ' ')
				v++;
			vl = (size_t)(p + ll - v);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return out;
		}
		p = eol ? eol + 2 : p + ll;
	}
	return out;
}

static CURL *easy_new(resp *out, const char *method, const char *url, const char *body, long blen,
                      struct curl_slist *h)
{
	CURL *c = curl_easy_init();
	memset(out, 0, sizeof(*out));
	pp_buf_init(&out->body, 1 << 20);
	pp_buf_init(&out->headers, 1 << 16);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cert_path);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, blen);
	}
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	return c;
}

static void finish(CURL *c, resp *out)
{
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &out->secs);
	curl_easy_cleanup(c);
}

static void req(resp *out, const char *method, const char *path, const char *body, long blen,
                struct curl_slist *h)
{
	char url[512];
	CURL *c;
	snprintf(url, sizeof(url), "%s%s", fx.base, path);
	c = easy_new(out, method, url, body, blen, h);
	out->rc = curl_easy_perform(c);
	finish(c, out);
}

static void assert_security_headers(resp *r)
{
	char v[512];
	assert_string_equal(hdr(r, "Strict-Transport-Security", v, sizeof(v)),
	                    "max-age=31536000; includeSubDomains");
	assert_string_equal(hdr(r, "Content-Security-Policy", v, sizeof(v)),
	                    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	                    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	assert_string_equal(hdr(r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
	assert_string_equal(hdr(r, "Referrer-Policy", v, sizeof(v)), "no-referrer");
	assert_string_equal(hdr(r, "X-Frame-Options", v, sizeof(v)), "DENY");
	assert_string_equal(hdr(r, "Cross-Origin-Opener-Policy", v, sizeof(v)), "same-origin");
	assert_string_equal(hdr(r, "Permissions-Policy", v, sizeof(v)),
	                    "camera=(), microphone=(), geolocation=()");
	hdr(r, "X-Request-Id", v, sizeof(v));
	assert_int_equal(strlen(v), 32);
	assert_int_equal(strspn(v, "0123456789abcdef"), 32);
}

static void test_srv_route_and_headers(void **state)
{
	(void)state;
	resp a, b;
	char v[512], v2[64];
	struct curl_slist *h = curl_slist_append(NULL, "Cookie: sid=planted; __Host-sid=s%3D1");
	h = curl_slist_append(h, "User-Agent: unit-test/1.0");
	req(&a, "GET", "/api/v1/echo/a%20b?q=x%2By&other=1", NULL, 0, h);
	assert_int_equal(a.rc, CURLE_OK);
	assert_int_equal(a.status, 200);
	assert_security_headers(&a);
	assert_string_equal(hdr(&a, "Cache-Control", v, sizeof(v)), "no-store");
	assert_string_equal(hdr(&a, "Content-Type", v, sizeof(v)), "application/json");
	assert_string_equal(pp_buf_cstr(&a.body),
	                    "{\"method\":\"GET\",\"id\":\"a b\",\"q\":\"x+y\",\"sid\":\"s=1\",\"body\":0,"
	                    "\"ua\":\"unit-test/1.0\",\"ip\":\"127.0.0.1\"}");
	/* request ids differ per request */
	req(&b, "GET", "/api/v1/echo/1", NULL, 0, NULL);
	assert_int_equal(b.status, 200);
	assert_string_not_equal(hdr(&a, "X-Request-Id", v, sizeof(v)), hdr(&b, "X-Request-Id", v2, sizeof(v2)));
	resp_free(&a);
	resp_free(&b);

	/* HEAD on a GET route: headers, no body */
	req(&a, "HEAD", "/api/v1/echo/1", NULL, 0, NULL);
	assert_int_equal(a.status, 200);
	assert_int_equal(a.body.len, 0);
	assert_security_headers(&a);
	resp_free(&a);
	curl_slist_free_all(h);
}

static void test_srv_404_405(void **state)
{
	(void)state;
	resp a;
	char v[256];
	req(&a, "GET", "/api/v1/nothing", NULL, 0, NULL);
	assert_int_equal(a.status, 404);
	assert_security_headers(&a);
	assert_string_equal(hdr(&a, "Content-Type", v, sizeof(v)), "application/json");
	assert_string_equal(hdr(&a, "Cache-Control", v, sizeof(v)), "no-store");
	assert_string_equal(pp_buf_cstr(&a.body), "{\"error\":{\"code\":\"not_found\",\"message\":\"Not found.\"}}");
	resp_free(&a);

	req(&a, "POST", "/api/v1/slow", "{}", 2, NULL);
	assert_int_equal(a.status, 405);
	assert_security_headers(&a);
	assert_string_equal(hdr(&a, "Allow", v, sizeof(v)), "GET, HEAD");
	assert_non_null(strstr(pp_buf_cstr(&a.body), "\"method_not_allowed\""));
	resp_free(&a);

	req(&a, "DELETE", "/nope", NULL, 0, NULL);
	assert_int_equal(a.status, 404);
	resp_free(&a);

	req(&a, "GET", "/api/v1/echo/%zz", NULL, 0, NULL);
	assert_int_equal(a.status, 400);
	assert_security_headers(&a);
	resp_free(&a);
}

static void test_srv_static(void **state)
{
	(void)state;
	resp a;
	char v[256], path[512];
	if (pp_web_assets[0].path) {
		const pp_web_asset *w = &pp_web_assets[0];
		req(&a, "GET", w->path, NULL, 0, NULL);
		assert_int_equal(a.status, 200);
		assert_security_headers(&a);
		assert_string_equal(hdr(&a, "Cache-Control", v, sizeof(v)), "no-cache");
		assert_string_equal(hdr(&a, "Content-Type", v, sizeof(v)), w->content_type);
		assert_int_equal(a.body.len, w->len);
		assert_memory_equal(a.body.data, w->data, w->len);
		resp_free(&a);
		req(&a, "POST", w->path, "x", 1, NULL);
		assert_int_equal(a.status, 405);
		resp_free(&a);
	}
	req(&a, "GET", "/", NULL, 0, NULL);
	{
		bool has_index = false;
		for (const pp_web_asset *w = pp_web_assets; w->path; w++)
			has_index = has_index || strcmp(w->path, "/index.html") == 0;
		assert_int_equal(a.status, has_index ? 200 : 404);
	}
	assert_security_headers(&a);
	resp_free(&a);
	snprintf(path, sizeof(path), "/no-such-asset.js");
	req(&a, "GET", path, NULL, 0, NULL);
	assert_int_equal(a.status, 404);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "not_found"));
	resp_free(&a);
	/* traversal attempts find nothing */
	req(&a, "GET", "/../../etc/passwd", NULL, 0, NULL);
	assert_true(a.status == 404 || a.status == 400);
	resp_free(&a);
}

static void test_srv_cache_and_errors(void **state)
{
	(void)state;
	resp a;
	char v[256];
	req(&a, "GET", "/phi", NULL, 0, NULL);
	assert_int_equal(a.status, 200);
	assert_string_equal(hdr(&a, "Cache-Control", v, sizeof(v)), "no-store");
	assert_string_equal(hdr(&a, "Pragma", v, sizeof(v)), "no-cache");
	resp_free(&a);

	req(&a, "GET", "/public", NULL, 0, NULL);
	assert_int_equal(a.status, 201);
	assert_string_equal(hdr(&a, "Cache-Control", v, sizeof(v)), "max-age=60");
	assert_string_equal(hdr(&a, "Set-Cookie", v, sizeof(v)),
	                    "__Host-sid=new; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=60");
	assert_string_equal(hdr(&a, "Pragma", v, sizeof(v)), "");
	assert_security_headers(&a);
	resp_free(&a);

	req(&a, "GET", "/api/v1/fail", NULL, 0, NULL);
	assert_int_equal(a.status, 503);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "audit_unavailable"));
	assert_string_equal(hdr(&a, "Set-Cookie", v, sizeof(v)), "");
	assert_security_headers(&a);
	resp_free(&a);

	req(&a, "GET", "/api/v1/none", NULL, 0, NULL);
	assert_int_equal(a.status, 500);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "\"internal\""));
	resp_free(&a);

	req(&a, "GET", "/api/v1/echo/1?a=1&b=2&c=3&d=4", NULL, 0, NULL);
	assert_int_equal(a.status, 200);
	resp_free(&a);
	req(&a, "GET", "/api/v1/echo/1?a=1&b=2&c=3&d=4&e=5", NULL, 0, NULL);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "too_many_parameters"));
	assert_security_headers(&a);
	resp_free(&a);
	req(&a, "GET", "/api/v1/echo/1?a=%zz", NULL, 0, NULL);
	assert_int_equal(a.status, 400);
	resp_free(&a);
}

static void test_srv_body_limit(void **state)
{
	(void)state;
	resp a;
	char big[2048], v[128];
	struct curl_slist *h;
	memset(big, 'x', sizeof(big));
	req(&a, "POST", "/api/v1/echo", big, 1024, NULL);     /* exactly the cap */
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "\"body\":1024"));
	resp_free(&a);

	req(&a, "POST", "/api/v1/echo", big, 1025, NULL);     /* Content-Length over the cap */
	assert_int_equal(a.rc, CURLE_OK);
	assert_int_equal(a.status, 413);
	assert_string_equal(hdr(&a, "Content-Type", v, sizeof(v)), "application/json");
	assert_non_null(strstr(pp_buf_cstr(&a.body), "\"too_large\""));
	assert_security_headers(&a);
	resp_free(&a);

	/* chunked: no Content-Length, so the cap is enforced while reading */
	h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
	h = curl_slist_append(h, "Expect:");
	req(&a, "POST", "/api/v1/echo", big, sizeof(big), h);
	assert_int_equal(a.status, 413);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "\"too_large\""));
	resp_free(&a);
	req(&a, "POST", "/api/v1/echo", big, 100, h);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(pp_buf_cstr(&a.body), "\"body\":100"));
	resp_free(&a);
	curl_slist_free_all(h);
}

static void test_srv_header_limit(void **state)
{
	(void)state;
	resp a;
	static char line[40000];
	struct curl_slist *h;
	snprintf(line, sizeof(line), "X-Big: ");
	memset(line + 7, 'a', sizeof(line) - 8);
	line[sizeof(line) - 1] = '\0';
	h = curl_slist_append(NULL, line);
	req(&a, "GET", "/api/v1/echo/1", NULL, 0, h);
	/* MHD answers 431 (or drops the connection); the handler never sees it */
	assert_true(a.status == 431 || a.status == 0 || a.status == 413);
	assert_int_not_equal(a.status, 200);
	resp_free(&a);
	curl_slist_free_all(h);
}

static void test_srv_concurrency(void **state)
{
	(void)state;
	enum { N = 8 };
	CURLM *m = curl_multi_init();
	CURL *c[N];
	resp r[N];
	char url[256];
	int running = 1;
	double t0, el;
	snprintf(url, sizeof(url), "%s/api/v1/slow", fx.base);
	for (int i = 0; i < N; i++) {
		c[i] = easy_new(&r[i], "GET", url, NULL, 0, NULL);
		curl_multi_add_handle(m, c[i]);
	}
	__atomic_store_n(&slow_max, 0, __ATOMIC_SEQ_CST);
	t0 = now_s();
	while (running) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	el = now_s() - t0;
	for (int i = 0; i < N; i++) {
		curl_multi_remove_handle(m, c[i]);
		finish(c[i], &r[i]);
		assert_int_equal(r[i].status, 200);
		assert_string_equal(pp_buf_cstr(&r[i].body), "slept");
		resp_free(&r[i]);
	}
	curl_multi_cleanup(m);
	/* serial would take 8 x 100 ms with one handler at a time */
	print_message("8 concurrent 100 ms handlers took %.0f ms, up to %d at once\n", el * 1000,
	              slow_max);
	assert_true(slow_max >= 4);
	assert_true(el < 0.75);
}

/* a raw TLS client for what curl cannot do */
static gnutls_certificate_credentials_t xcred;

static int tls_open(int port, const char *prio, gnutls_session_t *out, int *out_fd)
{
	struct sockaddr_in a = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
	gnutls_session_t s;
	struct timeval tv = {5, 0};
	if (!xcred)
		gnutls_certificate_allocate_credentials(&xcred);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	gnutls_init(&s, GNUTLS_CLIENT);
	if (gnutls_priority_set_direct(s, prio, NULL) < 0) {
		gnutls_deinit(s);
		close(fd);
		return -2;
	}
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, xcred);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 5000);
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		gnutls_deinit(s);
		close(fd);
		return rc;
	}
	*out = s;
	*out_fd = fd;
	return 0;
}

static void tls_close(gnutls_session_t s, int fd)
{
	gnutls_deinit(s);
	close(fd);
}

static void test_srv_tls_versions(void **state)
{
	(void)state;
	gnutls_session_t s;
	int fd;
	assert_int_equal(tls_open(fx.port, "NORMAL:-VERS-ALL:+VERS-TLS1.3", &s, &fd), 0);
	assert_int_equal(gnutls_protocol_get_version(s), GNUTLS_TLS1_3);
	tls_close(s, fd);
	assert_int_equal(tls_open(fx.port, "NORMAL:-VERS-ALL:+VERS-TLS1.2", &s, &fd), 0);
	assert_int_equal(gnutls_protocol_get_version(s), GNUTLS_TLS1_2);
	assert_int_equal(gnutls_mac_get(s), GNUTLS_MAC_AEAD);
	assert_true(gnutls_kx_get(s) == GNUTLS_KX_ECDHE_ECDSA);
	tls_close(s, fd);
	assert_true(tls_open(fx.port, "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0", &s, &fd) < 0);
	/* CBC suites only, at TLS 1.2 */
	assert_true(tls_open(fx.port,
	                     "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:"
	                     "-MAC-ALL:+SHA1:+SHA256:+SHA384",
	                     &s, &fd) < 0);
	/* no ECDHE: static RSA / DHE only */
	assert_true(tls_open(fx.port, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA:+DHE-RSA", &s, &fd) < 0);
}

static void test_srv_slow_client_cut_off(void **state)
{
	(void)state;
	gnutls_session_t s;
	int fd, rc;
	char buf[256];
	const char partial[] = "GET /api/v1/echo/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
	double t0, el;
	resp a;
	assert_int_equal(tls_open(fx.port, "NORMAL", &s, &fd), 0);
	assert_int_equal(gnutls_record_send(s, partial, sizeof(partial) - 1), (ssize_t)(sizeof(partial) - 1));
	t0 = now_s();
	/* meanwhile another client is served */
	req(&a, "GET", "/api/v1/echo/2", NULL, 0, NULL);
	assert_int_equal(a.status, 200);
	resp_free(&a);
	/* the slow one is cut off after the 1 s idle timeout, without a response */
	rc = (int)gnutls_record_recv(s, buf, sizeof(buf));
	el = now_s() - t0;
	print_message("slow client closed after %.2f s (rc %d)\n", el, rc);
	assert_true(rc == 0 || rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PULL_ERROR ||
	            rc == GNUTLS_E_SESSION_EOF);
	assert_true(el >= 0.8 && el < 4.0);
	tls_close(s, fd);
}

static void test_srv_redirect(void **state)
{
	(void)state;
	resp a;
	char url[256], v[256];
	CURL *c;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/app/page.html?secret=1", fx.redirect_port);
	c = easy_new(&a, "GET", url, NULL, 0, NULL);
	a.rc = curl_easy_perform(c);
	finish(c, &a);
	assert_int_equal(a.rc, CURLE_OK);
	assert_int_equal(a.status, 308);
	assert_string_equal(hdr(&a, "Location", v, sizeof(v)), "https://localhost:8443/app/page.html");
	assert_int_equal(a.body.len, 0);
	resp_free(&a);
	/* odd paths go to the root */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/a%%0d%%0aX:%%20y", fx.redirect_port);
	c = easy_new(&a, "POST", url, "x", 1, NULL);
	a.rc = curl_easy_perform(c);
	finish(c, &a);
	assert_int_equal(a.status, 308);
	assert_string_equal(hdr(&a, "Location", v, sizeof(v)), "https://localhost:8443/");
	assert_string_equal(hdr(&a, "X", v, sizeof(v)), "");
	resp_free(&a);
}

static void test_srv_access_log(void **state)
{
	(void)state;
	char logpath[600];
	int saved, fd;
	resp a;
	char *log = NULL;
	size_t len;
	struct timespec ts = {0, 200 * 1000 * 1000};
	struct curl_slist *h = curl_slist_append(NULL, "Cookie: __Host-sid=COOKIESECRET");
	snprintf(logpath, sizeof(logpath), "%s/log.txt", tmpdir);
	fflush(stderr);
	saved = dup(2);
	fd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	close(fd);
	req(&a, "POST", "/api/v1/echo?q=QUERYSECRET", "BODYSECRET", 10, h);
	assert_int_equal(a.status, 200);
	resp_free(&a);
	req(&a, "GET", "/api/v1/echo/PATHSECRET", NULL, 0, NULL);
	assert_int_equal(a.status, 200);
	resp_free(&a);
	nanosleep(&ts, NULL);   /* the completion callback runs after the response went out */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	curl_slist_free_all(h);
	assert_int_equal(pp_file_read(logpath, 1 << 20, &log, &len), 0);
	assert_non_null(strstr(log, "method=POST route=/api/v1/echo status=200 bytes="));
	assert_non_null(strstr(log, "method=GET route=/api/v1/echo/:id status=200"));
	assert_non_null(strstr(log, " rid="));
	assert_null(strstr(log, "QUERYSECRET"));
	assert_null(strstr(log, "COOKIESECRET"));
	assert_null(strstr(log, "BODYSECRET"));
	assert_null(strstr(log, "PATHSECRET"));
	free(log);
}

/* a second server: one worker, queue of one, TLS 1.3 only */
static void test_srv_busy_and_tls13_only(void **state)
{
	(void)state;
	pp_config cfg;
	pp_http_server *s;
	enum { N = 4 };
	CURLM *m;
	CURL *c[N];
	resp r[N];
	char url[256];
	int running = 1, ok = 0, busy = 0, port, fd;
	gnutls_session_t ts;
	base_config(&cfg);
	cfg.server_workers = 1;
	snprintf(cfg.tls_min_version, sizeof(cfg.tls_min_version), "1.3");
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_int_equal(pp_http_route(s, "GET", "/slow", h_slow, NULL), 0);
	pp_http_server_set_queue_max(s, 1);
	assert_int_equal(pp_http_server_start(s), 0);
	port = pp_http_server_port(s);

	assert_true(tls_open(port, "NORMAL:-VERS-ALL:+VERS-TLS1.2", &ts, &fd) < 0);
	assert_int_equal(tls_open(port, "NORMAL", &ts, &fd), 0);
	assert_int_equal(gnutls_protocol_get_version(ts), GNUTLS_TLS1_3);
	tls_close(ts, fd);

	m = curl_multi_init();
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/slow", port);
	for (int i = 0; i < N; i++) {
		c[i] = easy_new(&r[i], "GET", url, NULL, 0, NULL);
		curl_multi_add_handle(m, c[i]);
	}
	while (running) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < N; i++) {
		char v[64];
		curl_multi_remove_handle(m, c[i]);
		finish(c[i], &r[i]);
		if (r[i].status == 200)
			ok++;
		if (r[i].status == 503) {
			busy++;
			assert_non_null(strstr(pp_buf_cstr(&r[i].body), "\"busy\""));
			assert_string_equal(hdr(&r[i], "Retry-After", v, sizeof(v)), "1");
		}
		resp_free(&r[i]);
	}
	curl_multi_cleanup(m);
	assert_int_equal(ok + busy, N);
	assert_true(ok >= 1);
	assert_true(busy >= 1);
	pp_http_server_free(s);
}

static void test_srv_bad_config(void **state)
{
	(void)state;
	pp_config cfg;
	pp_http_server *s;
	base_config(&cfg);
	snprintf(cfg.tls_cert_file, sizeof(cfg.tls_cert_file), "missing.pem");
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_true(pp_http_server_start(s) < 0);
	pp_http_server_free(s);
	base_config(&cfg);
	snprintf(cfg.server_bind, sizeof(cfg.server_bind), "not-an-address");
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_int_equal(pp_http_server_start(s), PP_ECONFIG);
	pp_http_server_free(s);
	/* the port is taken */
	base_config(&cfg);
	cfg.server_port = fx.port;
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_int_equal(pp_http_server_start(s), PP_EIO);
	pp_http_server_free(s);
	assert_int_equal(pp_http_server_new(NULL, &cfg, &app), PP_EINVAL);
}


typedef struct inflight {
	char url[128];
	resp r;
} inflight;

static void *inflight_main(void *arg)
{
	inflight *f = arg;
	CURL *c = easy_new(&f->r, "GET", f->url, NULL, 0, NULL);
	f->r.rc = curl_easy_perform(c);
	finish(c, &f->r);
	return NULL;
}

/* stopping while a handler runs lets that request finish instead of cutting it off */
static void test_srv_graceful_stop(void **state)
{
	(void)state;
	pp_config cfg;
	pp_http_server *s;
	pthread_t t;
	inflight f;
	struct timespec ts = {0, 50 * 1000 * 1000};
	base_config(&cfg);
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_int_equal(pp_http_route(s, "GET", "/slow", h_slow, NULL), 0);
	assert_int_equal(pp_http_server_start(s), 0);
	snprintf(f.url, sizeof(f.url), "https://127.0.0.1:%d/slow", pp_http_server_port(s));
	assert_int_equal(pthread_create(&t, NULL, inflight_main, &f), 0);
	nanosleep(&ts, NULL);                 /* the handler is sleeping now */
	pp_http_server_stop(s);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f.r.rc, CURLE_OK);
	assert_int_equal(f.r.status, 200);
	assert_string_equal(pp_buf_cstr(&f.r.body), "slept");
	resp_free(&f.r);
	pp_http_server_stop(s);               /* twice is harmless */
	pp_http_server_free(s);
}

static void test_srv_per_ip_limit(void **state)
{
	(void)state;
	pp_config cfg;
	pp_http_server *s;
	gnutls_session_t a, b;
	int fa, fb, port;
	base_config(&cfg);
	cfg.limits_max_conn_per_ip = 1;
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_int_equal(pp_http_server_start(s), 0);
	port = pp_http_server_port(s);
	assert_int_equal(tls_open(port, "NORMAL", &a, &fa), 0);
	assert_true(tls_open(port, "NORMAL", &b, &fb) < 0);   /* the second one is refused */
	tls_close(a, fa);
	pp_http_server_free(s);
}

static volatile int bystander_stop;

/* a thread of another module that never blocked SIGTERM */
static void *bystander(void *arg)
{
	sigset_t set;
	struct timespec ts = {0, 10 * 1000 * 1000};
	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!bystander_stop)
		nanosleep(&ts, NULL);
	return NULL;
}

static void *wait_thread(void *arg)
{
	pp_http_server_wait(arg);
	return NULL;
}

static void test_srv_wait_signal(void **state)
{
	(void)state;
	pp_config cfg;
	pp_http_server *s;
	pthread_t t, by;
	resp a;
	char url[128];
	CURL *c;
	struct timespec ts = {0, 100 * 1000 * 1000};
	base_config(&cfg);
	assert_int_equal(pp_http_server_new(&s, &cfg, &app), 0);
	assert_int_equal(pp_http_route(s, "GET", "/slow", h_slow, NULL), 0);
	assert_int_equal(pp_http_server_start(s), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/slow", pp_http_server_port(s));
	assert_int_equal(pthread_create(&t, NULL, wait_thread, s), 0);
	assert_int_equal(pthread_create(&by, NULL, bystander, NULL), 0);
	nanosleep(&ts, NULL);
	c = easy_new(&a, "GET", url, NULL, 0, NULL);
	a.rc = curl_easy_perform(c);
	finish(c, &a);
	assert_int_equal(a.status, 200);
	resp_free(&a);
	/* whichever thread takes SIGTERM (the waiter or the bystander), the server stops cleanly
	 * and the process lives on */
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	bystander_stop = 1;
	assert_int_equal(pthread_join(by, NULL), 0);
	/* stopped: the port no longer answers */
	c = easy_new(&a, "GET", url, NULL, 0, NULL);
	a.rc = curl_easy_perform(c);
	finish(c, &a);
	assert_int_not_equal(a.rc, CURLE_OK);
	resp_free(&a);
	pp_http_server_free(s);
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_query_basic),
		cmocka_unit_test(test_query_decoding),
		cmocka_unit_test(test_query_empty_and_skips),
		cmocka_unit_test(test_query_malformed),
		cmocka_unit_test(test_query_limit),
		cmocka_unit_test(test_cookies_basic),
		cmocka_unit_test(test_cookies_malformed_skipped),
		cmocka_unit_test(test_cookies_limit),
		cmocka_unit_test(test_router_match),
		cmocka_unit_test(test_router_method_and_errors),
		cmocka_unit_test(test_router_too_many_segments),
		cmocka_unit_test(test_request_response_helpers),
		cmocka_unit_test(test_request_query_limit),
		cmocka_unit_test(test_dev_cert),
		cmocka_unit_test(test_tls_priorities),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_srv_route_and_headers),
		cmocka_unit_test(test_srv_404_405),
		cmocka_unit_test(test_srv_static),
		cmocka_unit_test(test_srv_cache_and_errors),
		cmocka_unit_test(test_srv_body_limit),
		cmocka_unit_test(test_srv_header_limit),
		cmocka_unit_test(test_srv_concurrency),
		cmocka_unit_test(test_srv_tls_versions),
		cmocka_unit_test(test_srv_slow_client_cut_off),
		cmocka_unit_test(test_srv_redirect),
		cmocka_unit_test(test_srv_access_log),
		cmocka_unit_test(test_srv_busy_and_tls13_only),
		cmocka_unit_test(test_srv_bad_config),
		cmocka_unit_test(test_srv_graceful_stop),
		cmocka_unit_test(test_srv_per_ip_limit),
		cmocka_unit_test(test_srv_wait_signal),
	};
	int fails;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fails = cmocka_run_group_tests_name("http_unit", unit, NULL, NULL);
	fails += cmocka_run_group_tests_name("http_server", live, setup_server, teardown_server);
	if (xcred)
		gnutls_certificate_free_credentials(xcred);
	curl_global_cleanup();
	if (tmpdir[0]) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fails++;
	}
	return fails ? 1 : 0;
}
