/* libFuzzer target: what messaging parses from clients beyond jansson — a kind and its structured
 * fields (refill, appointment with preferred times, result question), the preferred-time parser
 * on raw bytes, and the text and FHIR Communication built from whatever was accepted.
 * Input: the kind on the first line, the fields JSON after it. The two pure files of msg/ are
 * compiled in directly (the rest of msg/ is request handling that needs the whole server).
 * fuzz-modules: core */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "msg/msg.h"
#include "../src/msg/fields.c"
#include "../src/msg/communication.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	char kind[32], norm[17], item[700];
	size_t klen = nl ? (size_t)(nl - (const char *)data) : 0;
	json_t *in = NULL, *out = NULL, *c = NULL;
	const char *why = NULL;

	(void)pp_msg_time_parse((const char *)data, size, norm);
	if (!nl || klen >= sizeof kind)
		return 0;
	memcpy(kind, data, klen);
	kind[klen] = '\0';
	if (pp_json_check_depth(nl + 1, size - klen - 1, 32) != PP_OK)
		return 0;
	in = json_loadb(nl + 1, size - klen - 1, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (pp_msg_fields_check(kind, in, &out, &why) == PP_OK) {
		pp_msg_view v = {.id = "m", .patient_id = "p", .side = "patient", .kind = kind,
		                 .body = "b", .fields = out, .sent_ms = 1};
		if (!out)
			abort();   /* success always yields the accepted fields */
		pp_msg_item_text(kind, out, item, sizeof item);
		if (pp_msg_communication(&v, &c) == PP_OK && !c)
			abort();
	} else if (out || !why) {
		abort();       /* a refusal always says why and returns nothing */
	}
	json_decref(c);
	json_decref(out);
	json_decref(in);
	return 0;
}
