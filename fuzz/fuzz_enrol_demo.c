/* libFuzzer target: self-enrolment's demographic key (portal/api_enrol_self.c) — the names'
 * folding and the birth date's check over raw bytes. Input: family name, given name and birth date
 * on three lines. Whatever is accepted must be "family|given|YYYY-MM-DD" with folded names.
 * The pure file of portal/ that holds it is compiled in directly (the rest of portal/ is request
 * handling that needs the whole server).
 * fuzz-modules: core */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "portal/portal_internal.h"
#include "../src/portal/enrol_demo.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *parts[3] = {NULL, NULL, NULL}, out[300];
	size_t k = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	parts[k++] = buf;
	for (size_t i = 0; i < size && k < 3; i++)
		if (buf[i] == '\n') {
			buf[i] = '\0';
			parts[k++] = buf + i + 1;
		}
	if (pp_portal_enrol_demo_key(parts[0], parts[1], parts[2], out, sizeof out) == PP_OK) {
		const char *bar1 = strchr(out, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
		if (!bar1 || !bar2 || bar1 == out || bar2 == bar1 + 1 || strlen(bar2 + 1) != 10)
			abort();
		for (const char *p = out; p < bar2; p++)
			if ((*p >= 'A' && *p <= 'Z') || *p == ' ' || *p == '-')
				abort();
	}
	/* a short buffer is refused, never overrun */
	pp_portal_enrol_demo_key(parts[0], parts[1], parts[2], out, 8);
	free(buf);
	return 0;
}
