/* core: errors, logging, clock, bounded buffers, secrets and small file helpers. */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

const char *pp_strerror(int err)
{
	switch (err) {
	case PP_OK: return "ok";
	case PP_ENOMEM: return "out of memory";
	case PP_EINVAL: return "invalid input";
	case PP_ENOTFOUND: return "not found";
	case PP_EIO: return "storage error";
	case PP_ECRYPTO: return "cryptographic failure";
	case PP_EDENIED: return "denied";
	case PP_ETOOBIG: return "limit exceeded";
	case PP_EAUDIT: return "audit store unavailable";
	case PP_EBUSY: return "busy";
	case PP_EEXISTS: return "already exists";
	case PP_EAUTH: return "authentication failed";
	case PP_ELOCKED: return "locked";
	case PP_ECONFIG: return "unsafe or invalid configuration";
	default: return "unknown error";
	}
}

/* ---- logging ---- */
static enum pp_log_level log_level = PP_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void pp_log_set_level(enum pp_log_level lvl)
{
	log_level = lvl;
}

static void log_write(enum pp_log_level lvl, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void log_write(enum pp_log_level lvl, const char *fmt, va_list ap)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char ts[32], line[1024];

	pp_clock_format_iso(pp_clock_now_ms(), ts);
	vsnprintf(line, sizeof line, fmt, ap);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %s %s\n", ts, names[lvl], line);
	pthread_mutex_unlock(&log_lock);
}

void pp_log(enum pp_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_level)
		return;
	va_start(ap, fmt);
	log_write(lvl, fmt, ap);
	va_end(ap);
}

void pp_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(PP_LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

/* ---- clock ---- */
static int64_t clock_offset_ms;

int64_t pp_clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	       __atomic_load_n(&clock_offset_ms, __ATOMIC_RELAXED);
}

int64_t pp_clock_now_s(void)
{
	return pp_clock_now_ms() / 1000;
}

void pp_clock_set_offset_ms(int64_t offset)
{
	__atomic_store_n(&clock_offset_ms, offset, __ATOMIC_RELAXED);
}

void pp_clock_format_iso(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	char date[24];
	int frac = (int)(((ms % 1000) + 1000) % 1000);

	gmtime_r(&t, &tm);
	if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		date[0] = '\0';
	snprintf(out, 32, "%.19s.%03uZ", date, (unsigned)frac % 1000u);
}

/* ---- bounded buffers ---- */
void pp_buf_init(pp_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

static int buf_reserve(pp_buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->limit || b->len > b->limit - extra)
		return PP_ETOOBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return PP_OK;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	p = realloc(b->data, ncap);
	if (!p)
		return PP_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return PP_OK;
}

int pp_buf_append(pp_buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return PP_OK;
}

int pp_buf_appends(pp_buf *b, const char *s)
{
	return pp_buf_append(b, s, strlen(s));
}

int pp_buf_appendf(pp_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return PP_EINVAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return PP_OK;
}

const char *pp_buf_cstr(pp_buf *b)
{
	if (!b->data) {
		if (buf_reserve(b, 0))
			return "";
		b->data[0] = '\0';   /* a fresh allocation holds no NUL yet */
	}
	return b->data;
}

void pp_buf_reset(pp_buf *b)
{
	if (b->data)
		pp_wipe(b->data, b->cap);
	b->len = 0;
}

void pp_buf_free(pp_buf *b)
{
	if (!b)
		return;
	if (b->data) {
		pp_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

char *pp_buf_take(pp_buf *b, size_t *len)
{
	char *p;

	if (!b->data && buf_reserve(b, 0))
		return NULL;
	p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* ---- secrets and helpers ---- */
void pp_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

int pp_ct_compare(const void *a, const void *b, size_t n)
{
	return gnutls_memcmp(a, b, n) != 0;
}

void pp_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int pp_hex_decode(const char *in, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t n = strlen(in);

	if (n % 2 || n / 2 > outcap)
		return PP_EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return PP_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	if (outlen)
		*outlen = n / 2;
	return PP_OK;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void pp_b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

int pp_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (inlen % 4 == 1)
		return PP_EINVAL;
	for (size_t i = 0; i < inlen; i++) {
		int v = b64val(in[i]);
		if (v < 0)
			return PP_EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outcap)
				return PP_ETOOBIG;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (outlen)
		*outlen = o;
	return PP_OK;
}

int pp_random(void *out, size_t n)
{
	return gnutls_rnd(GNUTLS_RND_KEY, out, n) == 0 ? PP_OK : PP_ECRYPTO;
}

char *pp_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int pp_path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n;

	if (name[0] == '/')
		n = snprintf(out, cap, "%s", name);
	else
		n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? PP_ETOOBIG : PP_OK;
}

int pp_file_read(const char *path, size_t limit, char **out, size_t *len)
{
	pp_buf b;
	char chunk[8192];
	size_t n;
	int rc = PP_OK;
	FILE *f = fopen(path, "rb");

	if (!f)
		return errno == ENOENT ? PP_ENOTFOUND : PP_EIO;
	pp_buf_init(&b, limit);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		rc = pp_buf_append(&b, chunk, n);
		if (rc)
			goto out;
	}
	if (ferror(f)) {
		rc = PP_EIO;
		goto out;
	}
	*out = pp_buf_take(&b, len);
	if (!*out)
		rc = PP_ENOMEM;
out:
	pp_wipe(chunk, sizeof chunk);
	fclose(f);
	if (rc)
		pp_buf_free(&b);
	return rc;
}

int pp_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[1024];
	int fd, rc = PP_EIO;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return PP_ETOOBIG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return PP_EIO;
	if (fchmod(fd, mode) != 0)
		goto out;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	rc = PP_OK;
out:
	close(fd);
	if (rc == PP_OK && rename(tmp, path) != 0)
		rc = PP_EIO;
	if (rc)
		unlink(tmp);
	return rc;
}

int pp_json_check_depth(const char *data, size_t len, int max_depth)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char ch = data[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > max_depth)
				return PP_ETOOBIG;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return PP_OK;
}
