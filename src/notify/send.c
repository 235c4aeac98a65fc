/* notify: the two senders. E-mail: SMTP via libcurl with TLS required (STARTTLS on smtp://,
 * implicit on smtps://; CURLUSESSL_ALL, so a server without STARTTLS is never sent a message in
 * the clear), certificate and host name verified. SMS: an HTTPS POST of {"to","text"} to the
 * gateway's webhook, certificate verified, no redirects. Neither logs an address: failures are
 * reported as short codes ("smtp:curl-67", "sms:http-500"). */
#include "notify/notify_internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the message ---- */

/* days since 1970-01-01 to a civil date (H. Hinnant's algorithm; no gmtime) */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

/* RFC 5322 date in UTC, e.g. "Tue, 25 Nov 2026 12:00:00 +0000" */
static void rfc5322_date(int64_t ms, char out[40])
{
	static const char *const wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t s = ms / 1000, days = s / 86400, rem = s % 86400;
	int y;
	unsigned m, d;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(out, 40, "%s, %02u %s %04d %02d:%02d:%02d +0000", wd[((days % 7) + 7) % 7], d,
	         mon[m - 1], y, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

int pp_notify_compose_email(const char *from, const char *to, const char *subject,
                            const char *body, int64_t now_ms, pp_buf *out)
{
	char date[40], id[33];
	uint8_t rnd[16];
	const char *domain;
	int rc;

	if (!from || !to || !subject || !body || !out || strpbrk(from, "\r\n<>") ||
	    strpbrk(to, "\r\n<>") || strpbrk(subject, "\r\n"))
		return PP_EINVAL;
	domain = strchr(from, '@');
	domain = domain ? domain + 1 : "localhost";
	if (pp_random(rnd, sizeof rnd))
		return PP_EIO;
	pp_hex_encode(rnd, sizeof rnd, id);
	rfc5322_date(now_ms, date);
	rc = pp_buf_appendf(out,
	                    "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n"
	                    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	                    "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n",
	                    date, from, to, subject, id, domain);
	for (const char *p = body; !rc && *p; p++) {
		if (*p == '\r')
			continue;
		rc = *p == '\n' ? pp_buf_append(out, "\r\n", 2) : pp_buf_append(out, p, 1);
	}
	if (!rc && (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2)))
		rc = pp_buf_append(out, "\r\n", 2);
	return rc;
}

/* ---- libcurl plumbing ---- */

typedef struct upload {
	const char *data;
	size_t len, pos;
} upload;

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	upload *u = ud;
	size_t room = size * nitems, n = u->len - u->pos;

	if (n > room)
		n = room;
	memcpy(buf, u->data + u->pos, n);
	u->pos += n;
	return n;
}

/* the response body of the webhook is not needed: at most 16 KiB is accepted and dropped */
static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	size_t *total = ud;

	(void)p;
	if (n && size > SIZE_MAX / n)
		return 0;
	*total += size * n;
	return *total > 16384 ? 0 : size * n;
}

/* aborts a transfer when the worker is being stopped */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	pp_notify *n = ud;

	(void)dt; (void)dn; (void)ut; (void)un;
	return atomic_load(&n->stop) ? 1 : 0;
}

static int common_opts(pp_notify *n, CURL *h, const char *url, const char *protocols,
                       const char *ca)
{
	long timeout = n->cfg->notify_timeout_s > 0 ? n->cfg->notify_timeout_s : 30;

	if (curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols) ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) ||
	    (ca[0] && curl_easy_setopt(h, CURLOPT_CAINFO, ca)) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout < 10 ? timeout : 10L) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) ||
	    curl_easy_setopt(h, CURLOPT_XFERINFODATA, n))
		return PP_EIO;
	return PP_OK;
}

int pp_notify_send_email(pp_notify *n, const char *to, const pp_notify_texts *t, char *err,
                         size_t errcap)
{
	CURL *h = NULL;
	struct curl_slist *rcpt = NULL;
	char from[300], rcpt_to[300];
	pp_buf msg;
	upload up;
	CURLcode cc;
	int rc = PP_EIO;

	snprintf(err, errcap, "smtp:setup");
	pp_buf_init(&msg, 64 * 1024);
	if (!n->email_on || !pp_notify_email_valid(to)) {
		snprintf(err, errcap, "smtp:not-configured");
		goto out;
	}
	if ((rc = pp_notify_compose_email(n->cfg->notify_mail_from, to, t->subject, t->body,
	                                  pp_clock_now_ms(), &msg)))
		goto out;
	rc = PP_EIO;
	snprintf(from, sizeof from, "<%s>", n->cfg->notify_mail_from);
	snprintf(rcpt_to, sizeof rcpt_to, "<%s>", to);
	up = (upload){.data = msg.data, .len = msg.len};
	if (!(h = curl_easy_init()) || !(rcpt = curl_slist_append(NULL, rcpt_to)))
		goto out;
	if (common_opts(n, h, n->cfg->notify_smtp_url, "smtp,smtps", n->smtp_ca) ||
	    curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL) ||
	    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from) ||
	    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt) ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) ||
	    curl_easy_setopt(h, CURLOPT_READDATA, &up) ||
	    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) ||
	    (n->smtp_password &&
	     (curl_easy_setopt(h, CURLOPT_USERNAME, n->cfg->notify_smtp_username) ||
	      curl_easy_setopt(h, CURLOPT_PASSWORD, n->smtp_password))))
		goto out;
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		snprintf(err, errcap, "smtp:curl-%d", (int)cc);
		goto out;
	}
	rc = PP_OK;
	err[0] = '\0';
out:
	/* the composed message holds the address: wiped by pp_buf_free */
	pp_buf_free(&msg);
	pp_wipe(rcpt_to, sizeof rcpt_to);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return rc;
}

int pp_notify_send_sms(pp_notify *n, const char *to, const pp_notify_texts *t, char *err,
                       size_t errcap)
{
	CURL *h = NULL;
	struct curl_slist *hdr = NULL;
	json_t *obj = NULL;
	char *body = NULL, auth[PP_NOTIFY_SECRET_MAX + 32];
	size_t got = 0;
	long status = 0;
	CURLcode cc;
	int rc = PP_EIO;

	auth[0] = '\0';
	snprintf(err, errcap, "sms:setup");
	if (!n->sms_on || !pp_notify_phone_valid(to)) {
		snprintf(err, errcap, "sms:not-configured");
		goto out;
	}
	if (!(obj = json_pack("{s:s, s:s}", "to", to, "text", t->sms)) ||
	    !(body = json_dumps(obj, JSON_COMPACT))) {
		rc = PP_ENOMEM;
		goto out;
	}
	if (!(h = curl_easy_init()) ||
	    !(hdr = curl_slist_append(hdr, "Content-Type: application/json")))
		goto out;
	if (n->sms_token) {
		struct curl_slist *more;
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", n->sms_token);
		if (!(more = curl_slist_append(hdr, auth)))
			goto out;
		hdr = more;
	}
	if (common_opts(n, h, n->cfg->notify_sms_webhook_url, "https", n->sms_ca) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body)) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "phiportal-notify") ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got))
		goto out;
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		snprintf(err, errcap, "sms:curl-%d", (int)cc);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(err, errcap, "sms:http-%ld", status);
		goto out;
	}
	rc = PP_OK;
	err[0] = '\0';
out:
	if (body) {
		pp_wipe(body, strlen(body));
		free(body);
	}
	json_decref(obj);
	pp_wipe(auth, sizeof auth);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc;
}

int pp_notify_read_secret(const char *path, char **out)
{
	struct stat sb;
	char *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (stat(path, &sb))
		return PP_ENOTFOUND;
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077))
		return PP_ECONFIG;
	if ((rc = pp_file_read(path, PP_NOTIFY_SECRET_MAX, &data, &len)))
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	if (!len || memchr(data, '\0', len) || strpbrk(data, "\r\n")) {
		pp_wipe(data, len);
		free(data);
		return PP_ECONFIG;
	}
	*out = data;
	return PP_OK;
}
