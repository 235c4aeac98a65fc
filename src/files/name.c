/* files: display names. A name arrives percent-encoded in a header and is shown back to people and
 * in Content-Disposition; it is never used as a path. Sanitising keeps valid UTF-8 only and drops
 * control characters, path separators and bidirectional overrides (which can disguise an
 * extension), trims dots and spaces at the ends and caps the length on a character boundary. */
#include <string.h>

#include "files/files_internal.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* length of the valid UTF-8 sequence at p (at most n bytes) and its code point; 0 if invalid */
static size_t utf8_next(const unsigned char *p, size_t n, unsigned *cp)
{
	unsigned c = p[0];
	size_t len;
	unsigned min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2; min = 0x80; c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3; min = 0x800; c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4; min = 0x10000; c &= 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static bool drop_cp(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == '/' || cp == '\\' ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
	       cp == 0x200f || cp == 0xfeff;
}

int pp_files_name_sanitise(const char *in, size_t len, bool pct, char out[PP_FILES_NAME_MAX + 1])
{
	unsigned char dec[4 * PP_FILES_NAME_MAX + 64];
	size_t n = 0, o = 0, start, end;
	if (!out)
		return PP_EINVAL;
	out[0] = '\0';
	if (!in)
		len = 0;
	/* decode (bounded: what is beyond what we could keep is ignored) */
	for (size_t i = 0; i < len && n < sizeof dec; i++) {
		unsigned char c = (unsigned char)in[i];
		if (pct && c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return PP_EINVAL;
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return PP_EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		dec[n++] = c;
	}
	/* keep valid, allowed characters up to the cap */
	for (size_t i = 0; i < n;) {
		unsigned cp;
		size_t l = utf8_next(dec + i, n - i, &cp);
		if (!l) {
			i++;
			continue;
		}
		if (!drop_cp(cp)) {
			if (o + l > PP_FILES_NAME_MAX)
				break;
			memcpy(out + o, dec + i, l);
			o += l;
		}
		i += l;
	}
	out[o] = '\0';
	/* trim spaces and dots at both ends ("..", " .pdf ", "name.") */
	start = 0;
	end = o;
	while (start < end && (out[start] == ' ' || out[start] == '.'))
		start++;
	while (end > start && (out[end - 1] == ' ' || out[end - 1] == '.'))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	if (!out[0])
		memcpy(out, "file", 5);
	pp_wipe(dec, sizeof dec);
	return 0;
}
