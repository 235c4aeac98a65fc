/*
 * Second factor: TOTP (RFC 6238 through liboath: 30 s steps, 6 digits, SHA-1 as authenticator apps
 * expect, ±1 step of clock drift) with replay refusal, the enrolment QR code (libqrencode, drawn as
 * SVG) and one-time recovery codes kept only as keyed digests.
 */
#include <liboath/oath.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define SECRET_LEN 20
#define STEP_S 30
#define DIGITS 6
#define ISSUER_MAX 64
#define URI_MAX 1024
#define SVG_MAX (1024 * 1024)
#define QUIET 4                      /* quiet zone in modules, as the QR standard asks */

/* no 0/o, 1/i/l: codes get read aloud and typed from paper */
static const char recovery_alphabet[] = "23456789abcdefghjkmnpqrstuvwxyz";
#define ALPHA_N (sizeof recovery_alphabet - 1)
#define RECOVERY_CHARS 16

/* ---- TOTP ---- */

static int load_secret(pp_auth *a, const pp_store_user *u, uint8_t **secret, size_t *len)
{
	if (!u->mfa_secret_enc)
		return PP_ENOTFOUND;
	return pp_crypto_unseal(a->c, "user_account", "mfa_secret", u->id, u->mfa_secret_enc,
	                        u->mfa_secret_enc_len, secret, len);
}

/* "123456" or "123 456" → 6 digits in out; else PP_EAUTH */
static int normalise_code(const char *code, char out[DIGITS + 1])
{
	size_t n = 0;

	if (!code)
		return PP_EAUTH;
	for (; *code; code++) {
		if (*code == ' ' || *code == '-')
			continue;
		if (*code < '0' || *code > '9' || n == DIGITS)
			return PP_EAUTH;
		out[n++] = *code;
	}
	out[n] = '\0';
	return n == DIGITS ? 0 : PP_EAUTH;
}

/* Looks for code among the steps now-1..now+1 (every step is computed and compared in constant
 * time, whatever matches); *step is the latest matching step. */
static int totp_match(const uint8_t *secret, size_t len, int64_t now_s, const char *code,
                      int64_t *step)
{
	char want[DIGITS + 1], got[DIGITS + 1];
	int64_t base = now_s / STEP_S;
	int ret = PP_EAUTH;

	if (normalise_code(code, got) < 0)
		goto out;
	for (int d = -1; d <= 1; d++) {
		int64_t s = base + d;
		if (oath_totp_generate((const char *)secret, len, (time_t)(s * STEP_S), STEP_S, 0, DIGITS,
		                       want) != OATH_OK) {
			ret = PP_ECRYPTO;
			goto out;
		}
		if (pp_ct_compare(want, got, DIGITS) == 0) {
			*step = s;
			ret = 0;
		}
	}
out:
	pp_wipe(want, sizeof want);
	pp_wipe(got, sizeof got);
	return ret;
}

/* verifies a code for u and consumes its time step: a step at or before the last accepted one is
 * refused, and the store's compare-and-set settles two requests racing with one code */
static int totp_check(pp_auth *a, const pp_store_user *u, const char *code)
{
	uint8_t *secret = NULL;
	size_t len = 0;
	int64_t step = 0;
	int ret;

	if ((ret = load_secret(a, u, &secret, &len)) < 0)
		goto out;
	if ((ret = totp_match(secret, len, pp_clock_now_s(), code, &step)) < 0)
		goto out;
	if (step <= u->mfa_last_step) {
		ret = PP_EAUTH;
		goto out;
	}
	ret = pp_store_user_mfa_advance(a->st, u->id, step);
	if (ret == PP_EEXISTS)
		ret = PP_EAUTH;
out:
	pp_crypto_free_plain(secret, len);
	return ret;
}

/* ---- enrolment ---- */

static int append_pct(pp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int ret = 0;

	for (; *s && ret == 0; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			ret = pp_buf_append(b, s, 1);
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			ret = pp_buf_append(b, e, 3);
		}
	}
	return ret;
}

static int build_uri(const char *issuer, int64_t user_id, const uint8_t *secret, size_t len,
                     char **uri)
{
	char *b32 = NULL;
	size_t b32len = 0;
	pp_buf b;
	int ret = PP_ECRYPTO;

	pp_buf_init(&b, URI_MAX);
	if (oath_base32_encode((const char *)secret, len, &b32, &b32len) != OATH_OK)
		goto out;
	while (b32len && b32[b32len - 1] == '=')   /* otpauth secrets are unpadded */
		b32[--b32len] = '\0';
	/* the label is opaque ("user-<id>"): the QR code must not carry a name or e-mail */
	if ((ret = pp_buf_appends(&b, "otpauth://totp/")) < 0 || (ret = append_pct(&b, issuer)) < 0 ||
	    (ret = pp_buf_appendf(&b, ":user-%lld?secret=", (long long)user_id)) < 0 ||
	    (ret = pp_buf_appends(&b, b32)) < 0 || (ret = pp_buf_appends(&b, "&issuer=")) < 0 ||
	    (ret = append_pct(&b, issuer)) < 0 ||
	    (ret = pp_buf_appendf(&b, "&algorithm=SHA1&digits=%d&period=%d", DIGITS, STEP_S)) < 0)
		goto out;
	ret = PP_ENOMEM;
	if (!(*uri = pp_buf_take(&b, NULL)))
		goto out;
	ret = 0;
out:
	if (b32) {
		pp_wipe(b32, b32len);
		free(b32);
	}
	pp_buf_free(&b);
	return ret;
}

/* The QR code as SVG: one rect per horizontal run of dark modules, a white quiet zone, and an
 * accessible name (the page offers the secret as text beside it for those who cannot scan). */
static int render_svg(const char *text, char **svg)
{
	QRcode *qr = NULL;
	pp_buf b;
	int w, size, ret = PP_ENOMEM;

	pp_buf_init(&b, SVG_MAX);
	if (!(qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)))
		goto out;
	w = qr->width;
	size = w + 2 * QUIET;
	if ((ret = pp_buf_appendf(&b,
	                          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	                          "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"QR code to "
	                          "add this account to an authenticator app\" "
	                          "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
	                          "fill=\"#fff\"/><g fill=\"#000\">",
	                          size, size, size * 4, size * 4, size, size)) < 0)
		goto out;
	for (int y = 0; y < w; y++) {
		for (int x = 0; x < w;) {
			int run = 0;
			while (x + run < w && (qr->data[y * w + x + run] & 1))
				run++;
			if (run) {
				if ((ret = pp_buf_appendf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" "
				                              "height=\"1\"/>",
				                          x + QUIET, y + QUIET, run)) < 0)
					goto out;
				x += run;
			} else {
				x++;
			}
		}
	}
	if ((ret = pp_buf_appends(&b, "</g></svg>")) < 0)
		goto out;
	ret = PP_ENOMEM;
	if (!(*svg = pp_buf_take(&b, NULL)))
		goto out;
	ret = 0;
out:
	if (qr) {
		pp_wipe(qr->data, (size_t)qr->width * (size_t)qr->width);
		QRcode_free(qr);
	}
	pp_buf_free(&b);
	return ret;
}

static bool issuer_ok(const char *issuer)
{
	size_t n = issuer ? strlen(issuer) : 0;
	if (n == 0 || n > ISSUER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)issuer[i] < 0x20 || issuer[i] == 0x7f || issuer[i] == ':')
			return false;
	return true;
}

int pp_auth_mfa_enrol_start(pp_auth *a, int64_t user_id, const char *issuer, char **uri,
                            char **qr_svg)
{
	pp_store_user u;
	uint8_t secret[SECRET_LEN];
	uint8_t *enc = NULL;
	size_t enclen = 0;
	int ret = PP_EINVAL;

	memset(&u, 0, sizeof u);
	if (uri)
		*uri = NULL;
	if (qr_svg)
		*qr_svg = NULL;
	if (!a || !uri || !qr_svg || !issuer_ok(issuer))
		goto out;
	if ((ret = pp_store_user_get(a->st, user_id, &u)) < 0)
		goto out;
	/* replacing an enabled second factor is not an enrolment: it needs its own reset path */
	if (u.mfa_enabled) {
		ret = PP_EEXISTS;
		goto out;
	}
	ret = PP_ECRYPTO;
	if (pp_random(secret, sizeof secret) != 0)
		goto out;
	if ((ret = pp_crypto_seal(a->c, "user_account", "mfa_secret", u.id, secret, sizeof secret,
	                          &enc, &enclen)) < 0)
		goto out;
	if ((ret = build_uri(issuer, u.id, secret, sizeof secret, uri)) < 0)
		goto out;
	if ((ret = render_svg(*uri, qr_svg)) < 0)
		goto out;
	if ((ret = pp_store_user_set_mfa(a->st, u.id, enc, enclen, 0)) < 0)
		goto out;
	pp_log_info("auth: user %lld started TOTP enrolment", (long long)u.id);
out:
	if (ret < 0 && uri && *uri) {
		pp_wipe(*uri, strlen(*uri));
		free(*uri);
		*uri = NULL;
	}
	if (ret < 0 && qr_svg) {
		free(*qr_svg);
		*qr_svg = NULL;
	}
	pp_wipe(secret, sizeof secret);
	free(enc);
	pp_store_user_clear(&u);
	return ret;
}

/* ---- recovery codes ---- */

/* lower-case, without dashes and spaces; PP_EAUTH unless exactly 16 alphabet characters */
static int normalise_recovery(const char *in, char out[RECOVERY_CHARS + 1])
{
	size_t n = 0;

	if (!in)
		return PP_EAUTH;
	for (; *in; in++) {
		char ch = *in;
		if (ch == '-' || ch == ' ')
			continue;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (n == RECOVERY_CHARS || !memchr(recovery_alphabet, ch, ALPHA_N))
			return PP_EAUTH;
		out[n++] = ch;
	}
	out[n] = '\0';
	return n == RECOVERY_CHARS ? 0 : PP_EAUTH;
}

/* keyed (blind-index key), with a domain prefix: a stolen table cannot be brute-forced offline */
static int recovery_digest(pp_auth *a, const char norm[RECOVERY_CHARS + 1], uint8_t out[32])
{
	static const char dom[] = "recovery-code\0";
	char msg[sizeof dom - 1 + RECOVERY_CHARS];
	int ret;

	memcpy(msg, dom, sizeof dom - 1);
	memcpy(msg + sizeof dom - 1, norm, RECOVERY_CHARS);
	ret = pp_crypto_keyed_digest(a->c, msg, sizeof msg, out);
	pp_wipe(msg, sizeof msg);
	return ret;
}

static int make_code(char code[PP_AUTH_RECOVERY_LEN], char norm[RECOVERY_CHARS + 1])
{
	uint8_t rnd[64];
	size_t n = 0, k = 0;
	int ret = PP_ECRYPTO;

	while (n < RECOVERY_CHARS) {
		if (k == 0 || k == sizeof rnd) {
			if (pp_random(rnd, sizeof rnd) != 0)
				goto out;
			k = 0;
		}
		/* rejection sampling keeps every character equally likely */
		if (rnd[k] < 256 - 256 % ALPHA_N)
			norm[n++] = recovery_alphabet[rnd[k] % ALPHA_N];
		k++;
	}
	norm[n] = '\0';
	for (size_t i = 0, j = 0; i < RECOVERY_CHARS; i++) {
		if (i && i % 4 == 0)
			code[j++] = '-';
		code[j++] = norm[i];
		code[j] = '\0';
	}
	ret = 0;
out:
	pp_wipe(rnd, sizeof rnd);
	return ret;
}

int pp_auth_mfa_enrol_confirm(pp_auth *a, int64_t user_id, const char *code,
                              char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN])
{
	pp_store_user u;
	uint8_t hashes[PP_AUTH_RECOVERY_CODES][32];
	char norm[RECOVERY_CHARS + 1];
	int retry = 0, ret = PP_EINVAL;
	bool in_tx = false;

	memset(&u, 0, sizeof u);
	if (!a || !codes)
		goto out;
	memset(codes, 0, sizeof(codes[0]) * PP_AUTH_RECOVERY_CODES);
	if ((ret = pp_store_user_get(a->st, user_id, &u)) < 0)
		goto out;
	if (u.mfa_enabled) {
		ret = PP_EEXISTS;
		goto out;
	}
	if (!u.mfa_secret_enc) {   /* enrolment was not started */
		ret = PP_EINVAL;
		goto out;
	}
	if ((ret = pp_auth_account_locked(a, &u, pp_clock_now_ms(), &retry)) < 0)
		goto out;
	if ((ret = totp_check(a, &u, code)) < 0)
		goto out;
	for (int i = 0; i < PP_AUTH_RECOVERY_CODES; i++) {
		if ((ret = make_code(codes[i], norm)) < 0 || (ret = recovery_digest(a, norm, hashes[i])) < 0)
			goto out;
	}
	if ((ret = pp_store_begin(a->st)) < 0)
		goto out;
	in_tx = true;
	if ((ret = pp_store_recovery_replace(a->st, u.id, (const uint8_t(*)[32])hashes,
	                                     PP_AUTH_RECOVERY_CODES)) < 0 ||
	    (ret = pp_store_user_set_mfa(a->st, u.id, u.mfa_secret_enc, u.mfa_secret_enc_len, 1)) < 0)
		goto out;
	ret = pp_store_commit(a->st);
	in_tx = ret < 0;
	if (ret == 0)
		pp_log_info("auth: user %lld enabled TOTP", (long long)u.id);
out:
	if (in_tx)
		pp_store_rollback(a->st);
	if (ret < 0 && codes)
		pp_wipe(codes, sizeof(codes[0]) * PP_AUTH_RECOVERY_CODES);
	pp_wipe(hashes, sizeof hashes);
	pp_wipe(norm, sizeof norm);
	pp_store_user_clear(&u);
	return ret;
}

/* common frame of verify and recover: the user must have MFA on and not be locked; a wrong code
 * counts toward the account lockout, a right one clears the count */
static int second_factor(pp_auth *a, int64_t user_id, const char *code, bool recovery,
                         int *remaining)
{
	pp_store_user u;
	char norm[RECOVERY_CHARS + 1];
	uint8_t digest[32];
	int64_t now;
	int retry = 0, ret;

	memset(&u, 0, sizeof u);
	ret = pp_store_user_get(a->st, user_id, &u);
	if (ret == PP_ENOTFOUND)
		ret = PP_EAUTH;
	if (ret < 0)
		goto out;
	if (!u.mfa_enabled || strcmp(u.status, "active") != 0) {
		ret = PP_EAUTH;
		goto out;
	}
	now = pp_clock_now_ms();
	if ((ret = pp_auth_account_locked(a, &u, now, &retry)) < 0)
		goto out;
	if (!recovery) {
		ret = totp_check(a, &u, code);
	} else if ((ret = normalise_recovery(code, norm)) == 0 &&
	           (ret = recovery_digest(a, norm, digest)) == 0) {
		ret = pp_store_recovery_use(a->st, u.id, digest, now);
		if (ret == PP_ENOTFOUND)
			ret = PP_EAUTH;
	}
	if (ret == PP_EAUTH) {
		if (pp_auth_account_fail(a, u.id, now, &retry) == PP_ELOCKED)
			ret = PP_ELOCKED;
		goto out;
	}
	if (ret < 0)
		goto out;
	if (recovery) {
		pp_log_info("auth: user %lld used a recovery code", (long long)u.id);
		if (remaining && (ret = pp_store_recovery_remaining(a->st, u.id, remaining)) < 0)
			goto out;
	}
	ret = pp_auth_account_ok(a, &u);
out:
	pp_wipe(norm, sizeof norm);
	pp_wipe(digest, sizeof digest);
	pp_store_user_clear(&u);
	return ret;
}

int pp_auth_mfa_verify(pp_auth *a, int64_t user_id, const char *code)
{
	if (!a)
		return PP_EINVAL;
	return second_factor(a, user_id, code, false, NULL);
}

int pp_auth_mfa_recover(pp_auth *a, int64_t user_id, const char *recovery_code, int *remaining)
{
	if (remaining)
		*remaining = 0;
	if (!a)
		return PP_EINVAL;
	return second_factor(a, user_id, recovery_code, true, remaining);
}
