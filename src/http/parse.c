/* Query-string and Cookie-header parsing: in place, bounded, percent-decoding. */
#include <string.h>
#include "http/http_internal.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pp_http_pct_decode(char *s, bool plus_space)
{
	char *w = s;
	if (!s)
		return PP_EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p == '%') {
			int hi = hexval(p[1]);
			int lo = hi < 0 ? -1 : hexval(p[2]);
			if (hi < 0 || lo < 0)
				return PP_EINVAL;
			if (hi == 0 && lo == 0)
				return PP_EINVAL;   /* an embedded NUL would cut strings short downstream */
			*w++ = (char)(hi * 16 + lo);
			p += 2;
		} else if (*p == '+' && plus_space) {
			*w++ = ' ';
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return 0;
}

int pp_http_parse_query(char *buf, pp_http_kv *out, int max)
{
	int n = 0;
	char *p = buf;
	if (!buf || (!out && max > 0) || max < 0)
		return PP_EINVAL;
	if (*p == '?')
		p++;
	while (*p) {
		char *amp = strchr(p, '&');
		char *next = amp ? amp + 1 : p + strlen(p);
		if (amp)
			*amp = '\0';
		if (*p) {                        /* "a=1&&b=2": empty pairs are skipped */
			char *eq = strchr(p, '=');
			char *val = (char *)"";
			if (eq) {
				*eq = '\0';
				val = eq + 1;
			}
			if (pp_http_pct_decode(p, true) < 0 || (eq && pp_http_pct_decode(val, true) < 0))
				return PP_EINVAL;
			if (*p) {                /* "=v": a value without a name is dropped */
				if (n >= max)
					return PP_ETOOBIG;
				out[n].key = p;
				out[n].value = val;
				n++;
			}
		}
		p = next;
	}
	return n;
}

static bool cookie_name_char(unsigned char c)
{
	/* RFC 6265 token: visible ASCII except separators */
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static bool cookie_value_char(unsigned char c)
{
	/* RFC 6265 cookie-octet */
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	       (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static char *trim(char *s)
{
	size_t n;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Malformed pairs (no '=', bad characters, bad escapes) are skipped, not fatal: a stray cookie set
 * by some other page on the host must not make the portal's own cookies unreadable. */
int pp_http_parse_cookies(char *buf, pp_http_kv *out, int max)
{
	int n = 0;
	char *p = buf;
	if (!buf || (!out && max > 0) || max < 0)
		return PP_EINVAL;
	while (*p) {
		char *semi = strchr(p, ';');
		char *next = semi ? semi + 1 : p + strlen(p);
		char *eq, *name, *val;
		bool ok = true;
		size_t vlen;
		if (semi)
			*semi = '\0';
		eq = strchr(p, '=');
		if (!eq)
			goto skip;
		*eq = '\0';
		name = trim(p);
		val = trim(eq + 1);
		if (!*name)
			goto skip;
		for (const char *c = name; *c; c++)
			ok = ok && cookie_name_char((unsigned char)*c);
		vlen = strlen(val);
		if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
			val[vlen - 1] = '\0';
			val++;
		}
		for (const char *c = val; *c; c++)
			ok = ok && cookie_value_char((unsigned char)*c);
		if (!ok || pp_http_pct_decode(val, false) < 0)
			goto skip;
		if (n >= max)
			return PP_ETOOBIG;
		out[n].key = name;
		out[n].value = val;
		n++;
	skip:
		p = next;
	}
	return n;
}
