/* portal: self-enrolment's demographic key — the value under the demographic blind index. Pure
 * (no store, no crypto), so that the fuzz target compiles it alone (fuzz/fuzz_enrol_demo.c). */
#include "portal/portal_internal.h"

#include <string.h>

/* Names compare without case, spaces or punctuation: ASCII letters folded, digits and non-ASCII
 * bytes (UTF-8) kept, everything else dropped. False when nothing is left or it is too long. */
static bool norm_name(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (!in || cap < 2)
		return false;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		unsigned char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80))
			continue;
		if (n + 1 >= cap)
			return false;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n > 0;
}

static bool date_ok(const char *d)
{
	static const char shape[] = "dddd-dd-dd";

	if (!d || strlen(d) != 10)
		return false;
	for (int i = 0; i < 10; i++)
		if (shape[i] == 'd' ? d[i] < '0' || d[i] > '9' : d[i] != '-')
			return false;
	return !(d[5] > '1' || (d[5] == '1' && d[6] > '2') || (d[5] == '0' && d[6] == '0') ||
	         d[8] > '3' || (d[8] == '0' && d[9] == '0'));
}

int pp_portal_enrol_demo_key(const char *family, const char *given, const char *birth_date,
                             char *out, size_t cap)
{
	char f[128], g[128];
	int n;

	if (!out || !cap)
		return PP_EINVAL;
	out[0] = '\0';
	if (!norm_name(family, f, sizeof f) || !norm_name(given, g, sizeof g) || !date_ok(birth_date))
		return PP_EINVAL;
	n = snprintf(out, cap, "%s|%s|%s", f, g, birth_date);
	pp_wipe(f, sizeof f);
	pp_wipe(g, sizeof g);
	if (n < 0 || (size_t)n >= cap) {
		pp_wipe(out, cap);
		out[0] = '\0';
		return PP_ETOOBIG;
	}
	return PP_OK;
}

