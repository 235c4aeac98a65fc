/* notify: the PHI-free templates and the checks of every notify.* key.
 *
 * A template can name only two values, {portal_url} and {org_name}, both from the configuration:
 * nothing about the recipient or the event is ever available to it. Anything else that looks like
 * an attempt to insert data — another placeholder ({name}, {message}, {{x}}, { portal_url }), a
 * shell or JavaScript substitution (${x}, $(x), $name), a printf format (%s, %(x)s), ERB tags —
 * is refused so that a misconfiguration stops start-up instead of silently sending "Dear {name}". */
#include "notify/notify_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
	const char *text;
	size_t len;
} placeholders[] = {{"{portal_url}", 12}, {"{org_name}", 10}};

/* a printable copy of at most 40 bytes of the offending text, for the error message */
static const char *quote(char q[48], const char *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; p && i < n && o < 40; i++)
		q[o++] = (unsigned char)p[i] >= 0x20 && (unsigned char)p[i] < 0x7f ? p[i] : '?';
	q[o] = '\0';
	return q;
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		if (err && errcap)                                                                 \
			snprintf(err, errcap, __VA_ARGS__);                                        \
		return PP_EINVAL;                                                                  \
	} while (0)

/* length of a valid UTF-8 sequence at p (at most n bytes available), or 0 */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) { len = 2; cp = p[0] & 0x1f; }
	else if (p[0] >= 0xe0 && p[0] <= 0xef) { len = 3; cp = p[0] & 0x0f; }
	else if (p[0] >= 0xf0 && p[0] <= 0xf4) { len = 4; cp = p[0] & 0x07; }
	else return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Walks the template; with out != NULL also renders it. */
static int walk(const char *t, size_t len, unsigned flags, const char *vals[2], pp_buf *out,
                char *err, size_t errcap)
{
	size_t i = 0, visible = 0;
	char q[48];
	int rc;

	if (!t) {
		FAIL("no template");
	}
	while (i < len) {
		unsigned char c = (unsigned char)t[i];
		size_t step = 1;

		if (c == '{') {
			size_t k, j;
			for (k = 0; k < sizeof placeholders / sizeof placeholders[0]; k++)
				if (len - i >= placeholders[k].len &&
				    !memcmp(t + i, placeholders[k].text, placeholders[k].len))
					break;
			if (k == sizeof placeholders / sizeof placeholders[0]) {
				for (j = i + 1; j < len && j - i < 40 && t[j] != '}' && t[j] != '\n'; j++)
					;
				if (j < len && t[j] == '}')
					FAIL("placeholder %s is not allowed: only {portal_url} and {org_name} may "
					     "be used (no names, messages, results or identifiers)",
					     quote(q, t + i, j - i + 1));
				FAIL("'%s': a '{' that does not start {portal_url} or {org_name} is not "
				     "allowed", quote(q, t + i, j - i));
			}
			if (out && (rc = pp_buf_appends(out, vals[k])))
				return rc;
			i += placeholders[k].len;
			visible++;
			continue;
		}
		if (c == '}') {
			FAIL("a '}' outside {portal_url} or {org_name} is not allowed");
		}
		if (c == '$' && i + 1 < len && (t[i + 1] == '{' || t[i + 1] == '(' || is_alpha(t[i + 1]))) {
			FAIL("'%s' looks like a substitution; only {portal_url} and {org_name} may be used",
			     quote(q, t + i, len - i < 12 ? len - i : 12));
		}
		if (c == '%' && i + 1 < len &&
		    (is_alpha(t[i + 1]) || t[i + 1] == '(' || t[i + 1] == '{' || t[i + 1] == '>' ||
		     t[i + 1] == '%' || (t[i + 1] >= '0' && t[i + 1] <= '9') || t[i + 1] == '-' ||
		     t[i + 1] == '.' || t[i + 1] == '*')) {
			FAIL("'%s' looks like a format directive; only {portal_url} and {org_name} may be "
			     "used", quote(q, t + i, 2));
		}
		if (c == '<' && i + 1 < len && t[i + 1] == '%') {
			FAIL("'%s' looks like a template tag; only {portal_url} and {org_name} may be used",
			     quote(q, t + i, 2));
		}
		if (c == '\\') {
			char e = i + 1 < len ? t[i + 1] : '\0';
			if (e == 'n') {
				if (flags & PP_NOTIFY_TMPL_SINGLE_LINE) {
					FAIL("a line break (\\n) is not allowed here");
				}
				if (out && (rc = pp_buf_append(out, "\n", 1)))
					return rc;
			} else if (e == '\\') {
				if (out && (rc = pp_buf_append(out, "\\", 1)))
					return rc;
				visible++;
			} else {
				FAIL("unsupported escape '%s' (only \\n and \\\\)",
				     quote(q, t + i, i + 1 < len ? 2 : 1));
			}
			i += 2;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			if (c != '\t' || (flags & PP_NOTIFY_TMPL_SINGLE_LINE)) {
				FAIL("control characters are not allowed");
			}
		} else if (c >= 0x80) {
			if (flags & PP_NOTIFY_TMPL_ASCII) {
				FAIL("only plain ASCII is allowed here");
			}
			if (!(step = utf8_len((const unsigned char *)t + i, len - i))) {
				FAIL("not valid UTF-8");
			}
		}
		if (c != ' ' && c != '\t')
			visible++;
		if (out && (rc = pp_buf_append(out, t + i, step)))
			return rc;
		i += step;
	}
	if (!visible) {
		FAIL("the template is empty");
	}
	return PP_OK;
}

int pp_notify_template_check(const char *tmpl, size_t len, unsigned flags, char *err,
                             size_t errcap)
{
	if (err && errcap)
		err[0] = '\0';
	return walk(tmpl, len, flags, NULL, NULL, err, errcap);
}

int pp_notify_template_render(const char *tmpl, unsigned flags, const char *portal_url,
                              const char *org_name, pp_buf *out, char *err, size_t errcap)
{
	const char *vals[2] = {portal_url ? portal_url : "", org_name ? org_name : ""};
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!tmpl || !out)
		return PP_EINVAL;
	/* check first, so that a refused template renders nothing */
	if ((rc = walk(tmpl, strlen(tmpl), flags, vals, NULL, err, errcap)))
		return rc;
	return walk(tmpl, strlen(tmpl), flags, vals, out, err, errcap);
}

/* ---- the other keys ---- */

/* characters that never belong in a URL we build links or requests from */
static bool url_chars_ok(const char *u)
{
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("{}\\\"'<>^`|$", *p))
			return false;
	return true;
}

static bool host_present(const char *after_scheme)
{
	return *after_scheme && *after_scheme != '/' && *after_scheme != ':' &&
	       !strchr(after_scheme, '@');
}

/* the link in a notice: the sign-in page of the portal, nothing that could carry an identifier */
static const char *portal_url_problem(const char *u)
{
	if (strncmp(u, "https://", 8))
		return "must be an https:// URL (the portal's sign-in page)";
	if (strlen(u) > 200 || !url_chars_ok(u) || !host_present(u + 8))
		return "is not a plain https:// URL";
	if (strchr(u, '?') || strchr(u, '#') || strchr(u, '%') || strchr(u, ';') || strchr(u, '&') ||
	    strchr(u, '='))
		return "must not carry a query, fragment or parameters: the link is the sign-in page only";
	return NULL;
}

static const char *org_name_problem(const char *s)
{
	char err[8];

	if (!*s || strlen(s) > 100)
		return "must be 1 to 100 characters";
	if (strpbrk(s, "{}$%<>\\"))
		return "must not contain { } $ % < > or \\";
	if (pp_notify_template_check(s, strlen(s), PP_NOTIFY_TMPL_SINGLE_LINE, err, sizeof err))
		return "must be one line of printable UTF-8 text";
	return NULL;
}

static const char *secret_file_problem(const pp_config *cfg, const char *rel)
{
	char path[1024];
	struct stat sb;

	if (pp_config_path(cfg, rel, path, sizeof path))
		return "path too long";
	if (stat(path, &sb))
		return "file not found";
	if (!S_ISREG(sb.st_mode))
		return "not a regular file";
	if (sb.st_mode & 077)
		return "is readable by group or others; safe value: mode 0600";
	if (sb.st_size <= 0 || sb.st_size > PP_NOTIFY_SECRET_MAX)
		return "must hold 1 to 4096 bytes";
	return NULL;
}

static int problem(pp_buf *rep, const char *key, const char *why)
{
	pp_buf_appendf(rep, "%s: %s\n", key, why);
	return 1;
}

/* max bytes of one line of text */
static size_t longest_line(const char *s)
{
	size_t best = 0, cur = 0;

	for (; *s; s++) {
		if (*s == '\n') {
			cur = 0;
			continue;
		}
		if (++cur > best)
			best = cur;
	}
	return best;
}

int pp_notify_check_config(const pp_config *cfg, pp_buf *rep)
{
	static const struct {
		const char *key;
		size_t off;
		unsigned flags;
		size_t max;
	} tmpls[] = {
		{"notify.email_subject_message", offsetof(pp_config, notify_email_subject_message),
		 PP_NOTIFY_TMPL_SINGLE_LINE | PP_NOTIFY_TMPL_ASCII, PP_NOTIFY_SUBJECT_MAX},
		{"notify.email_body_message", offsetof(pp_config, notify_email_body_message), 0,
		 PP_NOTIFY_BODY_MAX},
		{"notify.email_subject_result", offsetof(pp_config, notify_email_subject_result),
		 PP_NOTIFY_TMPL_SINGLE_LINE | PP_NOTIFY_TMPL_ASCII, PP_NOTIFY_SUBJECT_MAX},
		{"notify.email_body_result", offsetof(pp_config, notify_email_body_result), 0,
		 PP_NOTIFY_BODY_MAX},
		{"notify.sms_message", offsetof(pp_config, notify_sms_message), 0, PP_NOTIFY_SMS_MAX},
		{"notify.sms_result", offsetof(pp_config, notify_sms_result), 0, PP_NOTIFY_SMS_MAX},
	};
	char portal[300], err[200];
	const char *why;
	int n = 0;

	if (!cfg || !rep)
		return 1;
	/* the link: notify.portal_url, else server.public_url's root */
	if (cfg->notify_portal_url[0])
		snprintf(portal, sizeof portal, "%s", cfg->notify_portal_url);
	else
		snprintf(portal, sizeof portal, "%s/", cfg->server_public_url);
	if ((why = portal_url_problem(portal)))
		n += problem(rep, cfg->notify_portal_url[0] ? "notify.portal_url" :
		             "notify.portal_url (from server.public_url)", why);
	if ((why = org_name_problem(cfg->notify_org_name)))
		n += problem(rep, "notify.org_name", why);
	for (size_t i = 0; i < sizeof tmpls / sizeof tmpls[0]; i++) {
		const char *t = (const char *)cfg + tmpls[i].off;
		pp_buf out;
		int rc;

		pp_buf_init(&out, 16384);
		rc = pp_notify_template_render(t, tmpls[i].flags, portal, cfg->notify_org_name, &out, err,
		                               sizeof err);
		if (rc == PP_EINVAL && err[0]) {
			n += problem(rep, tmpls[i].key, err);
		} else if (rc) {
			n += problem(rep, tmpls[i].key, "cannot be rendered");
		} else if (out.len > tmpls[i].max) {
			pp_buf_appendf(rep, "%s: longer than %zu bytes once rendered\n", tmpls[i].key,
			               tmpls[i].max);
			n++;
		} else if (longest_line(pp_buf_cstr(&out)) > PP_NOTIFY_LINE_MAX) {
			pp_buf_appendf(rep, "%s: a line is longer than %d bytes once rendered\n",
			               tmpls[i].key, PP_NOTIFY_LINE_MAX);
			n++;
		}
		pp_buf_free(&out);
	}
	if (!pp_notify_email_valid(cfg->notify_mail_from))
		n += problem(rep, "notify.mail_from", "must be a plain e-mail (local@domain.tld)");
	if (cfg->notify_smtp_url[0] &&
	    ((strncmp(cfg->notify_smtp_url, "smtp://", 7) && strncmp(cfg->notify_smtp_url, "smtps://", 8)) ||
	     !url_chars_ok(cfg->notify_smtp_url) ||
	     !host_present(cfg->notify_smtp_url + (cfg->notify_smtp_url[4] == 's' ? 8 : 7))))
		n += problem(rep, "notify.smtp_url", "must be smtp://HOST[:PORT] (STARTTLS is required) "
		             "or smtps://HOST[:PORT]");
	if (cfg->notify_sms_webhook_url[0] &&
	    (strncmp(cfg->notify_sms_webhook_url, "https://", 8) ||
	     !url_chars_ok(cfg->notify_sms_webhook_url) || !host_present(cfg->notify_sms_webhook_url + 8)))
		n += problem(rep, "notify.sms_webhook_url", "must be an https:// URL");
	if (!cfg->notify_smtp_username[0] != !cfg->notify_smtp_password_file[0])
		n += problem(rep, "notify.smtp_username", "set both notify.smtp_username and "
		             "notify.smtp_password_file, or neither");
	if (strpbrk(cfg->notify_smtp_username, "\r\n"))
		n += problem(rep, "notify.smtp_username", "must be one line");
	if (cfg->notify_smtp_password_file[0] &&
	    (why = secret_file_problem(cfg, cfg->notify_smtp_password_file)))
		n += problem(rep, "notify.smtp_password_file", why);
	if (cfg->notify_sms_token_file[0] && (why = secret_file_problem(cfg, cfg->notify_sms_token_file)))
		n += problem(rep, "notify.sms_token_file", why);
	return n;
}
