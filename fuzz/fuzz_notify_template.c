/* libFuzzer target: the notification template checker and renderer, and the contact validators.
 * Invariants: a template the checker accepts renders, and its rendering (with fixed values that hold
 * no braces) contains no brace at all — nothing but {portal_url} and {org_name} can have been
 * substituted — and no control character other than a line break (none at all in single-line
 * mode); a template the checker refuses renders nothing. An accepted e-mail holds no white space,
 * angle bracket or line break; an accepted phone number is + and digits only.
 * The first byte selects the flags. fuzz-modules: core store crypto audit auth http notify */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "notify/notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags;
	char *t, err[200];
	pp_buf out;
	int rc;

	if (size < 1 || size > 8192)
		return 0;
	flags = data[0] & 3;
	t = malloc(size);
	if (!t)
		return 0;
	memcpy(t, data + 1, size - 1);
	t[size - 1] = '\0';

	rc = pp_notify_template_check(t, strlen(t), flags, err, sizeof err);
	pp_buf_init(&out, 1 << 20);
	if (pp_notify_template_render(t, flags, "https://portal.example.org/", "Clinic", &out, err,
	                              sizeof err) != rc)
		abort();   /* the checker and the renderer disagree */
	if (rc == 0) {
		for (size_t i = 0; i < out.len; i++) {
			unsigned char c = (unsigned char)out.data[i];
			if (c == '{' || c == '}')
				abort();
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
				abort();
			if ((flags & PP_NOTIFY_TMPL_SINGLE_LINE) && (c == '\n' || c == '\t'))
				abort();
			if ((flags & PP_NOTIFY_TMPL_ASCII) && c >= 0x80)
				abort();
		}
	} else if (out.len) {
		abort();
	}
	pp_buf_free(&out);

	if (pp_notify_email_valid(t) && strpbrk(t, " \t\r\n<>\"(),;:\\[]"))
		abort();
	if (pp_notify_phone_valid(t) && (t[0] != '+' || strspn(t + 1, "0123456789") != strlen(t + 1)))
		abort();
	free(t);
	return 0;
}
