/* notify: each account's contact — an e-mail address and an E.164 mobile number, sealed by crypto/
 * (AAD binds table, column and the user's row id), and the on/off preference per channel. */
#include "notify/notify_internal.h"

#include <stdlib.h>
#include <string.h>

static bool local_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+/=?^_`{|}~.-", c));
}

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool pp_notify_email_valid(const char *s)
{
	const char *at, *p, *label;
	size_t n, labels = 0;

	if (!s || (n = strlen(s)) < 6 || n > 254)
		return false;
	at = strchr(s, '@');
	if (!at || strchr(at + 1, '@') || at == s || at - s > 64)
		return false;
	/* local part: dot-atom */
	if (s[0] == '.' || at[-1] == '.')
		return false;
	for (p = s; p < at; p++)
		if (!local_char(*p) || (*p == '.' && p[1] == '.'))
			return false;
	/* domain: at least two labels of letters, digits and inner hyphens; the last not numeric */
	label = at + 1;
	for (p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t len = (size_t)(p - label);
			if (len == 0 || len > 63 || label[0] == '-' || p[-1] == '-')
				return false;
			labels++;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!label_char(*p)) {
			return false;
		}
	}
	if (labels < 2 || strspn(label, "0123456789") == strlen(label))
		return false;
	return true;
}

bool pp_notify_phone_valid(const char *s)
{
	size_t n;

	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	n = strlen(s + 1);
	return n >= 2 && n <= 15 && strspn(s + 1, "0123456789") == n;
}

void pp_notify_contact_wipe(pp_notify_contact *c)
{
	if (c)
		pp_wipe(c, sizeof *c);
}

static int open_field(pp_crypto *c, const char *column, int64_t user_id, const uint8_t *ct,
                      size_t ctlen, char *out, size_t cap)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int rc;

	out[0] = '\0';
	if (!ct || !ctlen)
		return PP_OK;
	if ((rc = pp_crypto_unseal(c, "notify_contact", column, user_id, ct, ctlen, &pt, &ptlen)))
		return rc;
	if (ptlen >= cap || memchr(pt, '\0', ptlen)) {
		rc = PP_ECRYPTO;
	} else {
		memcpy(out, pt, ptlen);
		out[ptlen] = '\0';
	}
	pp_crypto_free_plain(pt, ptlen);
	return rc;
}

int pp_notify_contact_get(pp_store *st, pp_crypto *c, int64_t user_id, pp_notify_contact *out)
{
	pp_store_notify_contact row;
	int rc;

	if (!st || !c || !out || user_id <= 0)
		return PP_EINVAL;
	memset(out, 0, sizeof *out);
	rc = pp_store_notify_contact_get(st, user_id, &row);
	if (rc == PP_ENOTFOUND)
		return PP_OK;
	if (rc)
		return rc;
	if ((rc = open_field(c, "email", user_id, row.email_enc, row.email_enc_len, out->email,
	                     sizeof out->email)) ||
	    (rc = open_field(c, "phone", user_id, row.phone_enc, row.phone_enc_len, out->phone,
	                     sizeof out->phone))) {
		pp_notify_contact_wipe(out);
		goto out;
	}
	out->email_enabled = row.email_enabled && out->email[0];
	out->sms_enabled = row.sms_enabled && out->phone[0];
out:
	pp_store_notify_contact_clear(&row);
	return rc;
}

int pp_notify_contact_set(pp_store *st, pp_crypto *c, int64_t user_id, const pp_notify_contact *in)
{
	pp_store_notify_contact row = {0};
	int rc;

	if (!st || !c || !in || user_id <= 0)
		return PP_EINVAL;
	if ((in->email[0] && !pp_notify_email_valid(in->email)) ||
	    (in->phone[0] && !pp_notify_phone_valid(in->phone)) ||
	    (in->email_enabled && !in->email[0]) || (in->sms_enabled && !in->phone[0]))
		return PP_EINVAL;
	row.user_id = user_id;
	row.email_enabled = in->email_enabled;
	row.sms_enabled = in->sms_enabled;
	row.updated_ms = pp_clock_now_ms();
	if (in->email[0] && (rc = pp_crypto_seal(c, "notify_contact", "email", user_id, in->email,
	                                         strlen(in->email), &row.email_enc,
	                                         &row.email_enc_len)))
		goto out;
	if (in->phone[0] && (rc = pp_crypto_seal(c, "notify_contact", "phone", user_id, in->phone,
	                                         strlen(in->phone), &row.phone_enc,
	                                         &row.phone_enc_len)))
		goto out;
	rc = pp_store_notify_contact_put(st, &row);
out:
	pp_store_notify_contact_clear(&row);
	return rc;
}
