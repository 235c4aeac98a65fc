/* libFuzzer target: the configuration file parser (phiportal.conf), then the baseline check and
 * the default-file writer over whatever it accepted.
 * fuzz-modules: core */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	pp_config c;
	pp_buf rep;
	char err[256];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof path, "/tmp/pp-fuzz-config-%d.conf", (int)getpid());
	f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	pp_config_defaults(&c, "/tmp");
	if (pp_config_load(&c, path, err, sizeof err) == PP_OK) {
		pp_buf_init(&rep, 1 << 20);
		pp_config_check_baseline(&c, &rep);
		pp_buf_reset(&rep);
		pp_config_write_default(&c, &rep);
		pp_buf_free(&rep);
	}
	return 0;
}
