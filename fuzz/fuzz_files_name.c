/* libFuzzer target: what files/ parses from outside — the X-File-Name header (percent-decoding,
 * UTF-8 checks, the display-name sanitiser) and clamd's INSTREAM reply. The first byte chooses:
 * even → name (also without percent-decoding), odd → clamd reply. The two pure files of files/
 * are compiled in directly (the rest of files/ needs the store, crypto and the server).
 * fuzz-modules: core */
#include <stdint.h>
#include <string.h>
#include "../src/files/name.c"
#include "../src/files/scan.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[PP_FILES_NAME_MAX + 1], sig[64];
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0) {
		for (int pct = 0; pct < 2; pct++) {
			if (pp_files_name_sanitise((const char *)data + 1, size - 1, pct, out) == 0) {
				size_t n = strlen(out);
				/* the invariants: bounded, non-empty, no separators or control bytes */
				if (n == 0 || n > PP_FILES_NAME_MAX || strchr(out, '/') || strchr(out, '\\'))
					__builtin_trap();
				for (size_t i = 0; i < n; i++)
					if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
						__builtin_trap();
				if (out[0] == '.' || out[0] == ' ' || out[n - 1] == '.' || out[n - 1] == ' ')
					if (strcmp(out, "file"))
						__builtin_trap();
			}
		}
	} else {
		int rc = pp_files_clamd_parse((const char *)data + 1, size - 1, sig, sizeof sig);
		if (rc == 1 && (!sig[0] || strlen(sig) >= sizeof sig))
			__builtin_trap();
	}
	return 0;
}
