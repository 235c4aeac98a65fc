/* notify: the template checker lets through only {portal_url} and {org_name} and refuses anything
 * else that looks like inserting data; the notify.* keys are checked; the back-off schedule; the
 * contact is sealed; the outbox queues one row per enabled channel, coalesces, claims with a lease,
 * retries with back-off, gives up after max_attempts and cancels switched-off channels (real store
 * in a temporary directory; the SMTP server is a closed port). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "notify/notify_internal.h"
#include "store/store_notify.h"

/* ---- templates ---- */

static void test_template_allowed(void **state)
{
	pp_buf b;
	char err[200];

	(void)state;
	assert_int_equal(pp_notify_template_check("Sign in at {portal_url}", 23, 0, err, sizeof err), 0);
	assert_int_equal(pp_notify_template_check("{org_name}", 10, PP_NOTIFY_TMPL_SINGLE_LINE, err,
	                                          sizeof err), 0);
	/* text that merely contains the characters, not a substitution */
	assert_int_equal(pp_notify_template_check("100% sure, $5 fee, a\\\\b, caf\xc3\xa9", 30, 0, err,
	                                          sizeof err), 0);
	pp_buf_init(&b, 4096);
	assert_int_equal(pp_notify_template_render("Hi.\\nSign in at {portal_url}.\\n\\n{org_name} \\\\o/",
	                                           0, "https://portal.example.org/", "Clinic A", &b, err,
	                                           sizeof err), 0);
	assert_string_equal(pp_buf_cstr(&b),
	                    "Hi.\nSign in at https://portal.example.org/.\n\nClinic A \\o/");
	pp_buf_free(&b);
}

static void refused(const char *t, unsigned flags, const char *needle)
{
	char err[200] = "";
	pp_buf b;

	if (pp_notify_template_check(t, strlen(t), flags, err, sizeof err) != PP_EINVAL)
		fail_msg("accepted: %s", t);
	if (needle && !strstr(err, needle))
		fail_msg("error for %s lacks '%s': %s", t, needle, err);
	/* and rendering refuses it as well, producing nothing */
	pp_buf_init(&b, 4096);
	assert_int_equal(pp_notify_template_render(t, flags, "https://x.example/", "Org", &b, err,
	                                           sizeof err), PP_EINVAL);
	assert_int_equal(b.len, 0);
	pp_buf_free(&b);
}

static void test_template_forbidden(void **state)
{
	(void)state;
	refused("Dear {name}, sign in", 0, "{name}");
	refused("New message: {message}", 0, "{message}");
	refused("{patient} has a result", 0, "{patient}");
	refused("Your {result} is ready", 0, "{result}");
	refused("{diagnosis}", 0, "{diagnosis}");
	refused("{mrn}", 0, "{mrn}");
	refused("{{portal_url}}", 0, NULL);
	refused("{ portal_url }", 0, NULL);
	refused("{PORTAL_URL}", 0, NULL);
	refused("{portal_url", 0, NULL);
	refused("go to portal_url}", 0, NULL);
	refused("Hello ${name}", 0, "${name");
	refused("Hello $(whoami)", 0, NULL);
	refused("Hello $NAME", 0, NULL);
	refused("Hello %s", 0, "%s");
	refused("Hello %(name)s", 0, NULL);
	refused("Hello %1$s", 0, NULL);
	refused("Hello <%= name %>", 0, NULL);
	refused("Hello #{name}", 0, NULL);
	refused("bad escape \\x41", 0, "escape");
	refused("tab\x01here", 0, "control");
	refused("bad \xc3\x28 utf8", 0, "UTF-8");
	refused("overlong \xc0\xaf", 0, "UTF-8");
	refused("   ", 0, "empty");
	refused("", 0, "empty");
	refused("two\\nlines", PP_NOTIFY_TMPL_SINGLE_LINE, "line break");
	refused("caf\xc3\xa9", PP_NOTIFY_TMPL_ASCII, "ASCII");
}

static void defaults(pp_config *c, const char *dir)
{
	pp_config_defaults(c, dir);
	snprintf(c->notify_smtp_url, sizeof c->notify_smtp_url, "smtp://127.0.0.1:1");
}

static void test_check_config(void **state)
{
	pp_config c;
	pp_buf rep;
	char dir[64] = "/tmp/pp_notify_cfg.XXXXXX", path[128];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	pp_buf_init(&rep, 1 << 16);
	defaults(&c, dir);
	assert_int_equal(pp_notify_check_config(&c, &rep), 0);

	snprintf(c.notify_email_body_message, sizeof c.notify_email_body_message,
	         "Dear {name}, sign in at {portal_url}");
	assert_int_equal(pp_notify_check_config(&c, &rep), 1);
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.email_body_message: placeholder {name}"));

	pp_buf_reset(&rep);
	defaults(&c, dir);
	snprintf(c.notify_portal_url, sizeof c.notify_portal_url, "https://p.example.org/?patient=1");
	snprintf(c.notify_smtp_url, sizeof c.notify_smtp_url, "http://mail.example.org");
	snprintf(c.notify_sms_webhook_url, sizeof c.notify_sms_webhook_url, "http://sms.example.org");
	snprintf(c.notify_mail_from, sizeof c.notify_mail_from, "Portal <x@y.org>");
	snprintf(c.notify_org_name, sizeof c.notify_org_name, "{org_name}");
	assert_int_equal(pp_notify_check_config(&c, &rep), 5);
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.portal_url: must not carry a query"));
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.smtp_url:"));
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.sms_webhook_url:"));
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.mail_from:"));
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.org_name:"));

	/* the SMTP password lives in a private file */
	pp_buf_reset(&rep);
	defaults(&c, dir);
	snprintf(c.notify_smtp_username, sizeof c.notify_smtp_username, "portal");
	assert_int_equal(pp_notify_check_config(&c, &rep), 1);   /* username without password file */
	snprintf(c.notify_smtp_password_file, sizeof c.notify_smtp_password_file, "smtp.pw");
	snprintf(path, sizeof path, "%s/smtp.pw", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("s3cret\n", f);
	fclose(f);
	chmod(path, 0644);
	pp_buf_reset(&rep);
	assert_int_equal(pp_notify_check_config(&c, &rep), 1);
	assert_non_null(strstr(pp_buf_cstr(&rep), "mode 0600"));
	chmod(path, 0600);
	pp_buf_reset(&rep);
	assert_int_equal(pp_notify_check_config(&c, &rep), 0);

	/* a rendered body longer than allowed */
	memset(c.notify_sms_message, 'a', 500);
	c.notify_sms_message[500] = '\0';
	pp_buf_reset(&rep);
	assert_int_equal(pp_notify_check_config(&c, &rep), 1);
	assert_non_null(strstr(pp_buf_cstr(&rep), "notify.sms_message: longer than"));
	unlink(path);
	rmdir(dir);
	pp_buf_free(&rep);
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(pp_notify_backoff_s(30, 1), 30);
	assert_int_equal(pp_notify_backoff_s(30, 2), 60);
	assert_int_equal(pp_notify_backoff_s(30, 3), 120);
	assert_int_equal(pp_notify_backoff_s(30, 7), 1920);
	assert_int_equal(pp_notify_backoff_s(30, 30), 86400);     /* capped at a day */
	assert_int_equal(pp_notify_backoff_s(30, 1000), 86400);   /* no overflow */
	assert_int_equal(pp_notify_backoff_s(0, 1), 1);
	assert_int_equal(pp_notify_backoff_s(1, 4), 8);
}

static void test_addresses(void **state)
{
	(void)state;
	assert_true(pp_notify_email_valid("demo.patient1@example.org"));
	assert_true(pp_notify_email_valid("a+b@mail.example.co.uk"));
	assert_false(pp_notify_email_valid("no-at.example.org"));
	assert_false(pp_notify_email_valid("a@b@example.org"));
	assert_false(pp_notify_email_valid("a@localhost"));
	assert_false(pp_notify_email_valid(".a@example.org"));
	assert_false(pp_notify_email_valid("a..b@example.org"));
	assert_false(pp_notify_email_valid("a b@example.org"));
	assert_false(pp_notify_email_valid("a@exa_mple.org"));
	assert_false(pp_notify_email_valid("a@-example.org"));
	assert_false(pp_notify_email_valid("a@example.123"));
	assert_false(pp_notify_email_valid("x@y.org\r\nBcc: z@evil.org"));
	assert_false(pp_notify_email_valid("<x@y.org>"));
	assert_false(pp_notify_email_valid(NULL));
	assert_true(pp_notify_phone_valid("+15555550123"));
	assert_true(pp_notify_phone_valid("+442071838750"));
	assert_false(pp_notify_phone_valid("15555550123"));
	assert_false(pp_notify_phone_valid("+05555550123"));
	assert_false(pp_notify_phone_valid("+1 555 555 0123"));
	assert_false(pp_notify_phone_valid("+1234567890123456"));   /* 16 digits */
	assert_false(pp_notify_phone_valid("+1"));
}

static void test_compose(void **state)
{
	pp_buf b;
	const char *m;

	(void)state;
	pp_buf_init(&b, 1 << 16);
	assert_int_equal(pp_notify_compose_email("no-reply@example.org", "pat@example.org",
	                                         "You have a new message", "Line one.\n\nOrg",
	                                         1764072000000LL, &b), 0);
	m = pp_buf_cstr(&b);
	static const char head[] = "Date: Tue, 25 Nov 2025 12:00:00 +0000\r\nFrom: no-reply@example.org\r\n"
	                           "To: pat@example.org\r\nSubject: You have a new message\r\nMessage-ID: <";
	assert_true(!strncmp(m, head, strlen(head)));
	assert_non_null(strstr(m, "@example.org>\r\n"));
	assert_non_null(strstr(m, "\r\n\r\nLine one.\r\n\r\nOrg\r\n"));
	pp_buf_reset(&b);
	assert_int_equal(pp_notify_compose_email("a@b.org", "c@d.org", "s", "x", 951782400000LL, &b), 0);
	assert_true(!strncmp(pp_buf_cstr(&b), "Date: Tue, 29 Feb 2000 00:00:00 +0000\r\n", 39));
	/* header injection is impossible even if a caller got past validation */
	pp_buf_reset(&b);
	assert_int_equal(pp_notify_compose_email("a@b.org", "c@d.org\r\nBcc: e@f.org", "s", "x", 0, &b),
	                 PP_EINVAL);
	assert_int_equal(pp_notify_compose_email("a@b.org", "c@d.org", "s\r\nBcc: e@f.org", "x", 0, &b),
	                 PP_EINVAL);
	pp_buf_free(&b);
}

/* ---- contacts and the outbox over a real store ---- */

typedef struct fx {
	char dir[64], db[128], key[128];
	pp_store *st;
	pp_crypto *c;
	pp_config cfg;
	pp_notify *n;
} fx;

static int64_t add_user(fx *f, int64_t id, const char *role, int64_t patient_id)
{
	pp_store_user u = {.id = id, .created_ms = 1, .pw_hash = "x", .patient_id = patient_id};
	static uint8_t enc[4] = {1, 2, 3, 4};

	memset(u.username_bidx, (int)id, sizeof u.username_bidx);
	u.username_enc = enc;
	u.username_enc_len = sizeof enc;
	snprintf(u.role, sizeof u.role, "%s", role);
	assert_int_equal(pp_store_user_insert(f->st, &u), 0);
	return id;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	pp_store_resource r = {.id = 42, .type = "Patient", .patient_id = 42, .version = 1};
	static uint8_t body[4] = {9, 9, 9, 9};

	assert_non_null(f);
	pp_log_set_level(PP_LOG_ERROR);
	pp_clock_set_offset_ms(0);
	snprintf(f->dir, sizeof f->dir, "/tmp/pp_notify_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/phi.db", f->dir);
	snprintf(f->key, sizeof f->key, "%s/master.key", f->dir);
	assert_int_equal(pp_store_open(&f->st, f->db), 0);
	assert_int_equal(pp_crypto_keyfile_create(f->key), 0);
	assert_int_equal(pp_crypto_open(&f->c, f->key, f->st), 0);
	memset(r.lid_bidx, 42, sizeof r.lid_bidx);
	snprintf(r.pub_id, sizeof r.pub_id, "p42");
	r.body = body;
	r.body_len = sizeof body;
	assert_int_equal(pp_store_resource_put(f->st, &r), 0);
	add_user(f, 1, "patient", 42);
	add_user(f, 2, "clinician", 0);
	add_user(f, 3, "patient", 42);   /* a second account on the same record */
	defaults(&f->cfg, f->dir);
	f->cfg.notify_retry_base_s = 30;
	f->cfg.notify_max_attempts = 3;
	f->cfg.notify_timeout_s = 2;
	assert_int_equal(pp_notify_open(&f->n, &f->cfg, f->st, f->c), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	static const char *const files[] = {"phi.db", "phi.db-wal", "phi.db-shm", "master.key"};
	char p[160];

	pp_notify_close(f->n);
	pp_crypto_free(f->c);
	pp_store_close(f->st);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", f->dir, files[i]);
		unlink(p);
	}
	rmdir(f->dir);
	pp_clock_set_offset_ms(0);
	free(f);
	return 0;
}

static void set_contact(fx *f, int64_t uid, const char *email, const char *phone, bool e, bool s)
{
	pp_notify_contact c = {.email_enabled = e, .sms_enabled = s};

	snprintf(c.email, sizeof c.email, "%s", email ? email : "");
	snprintf(c.phone, sizeof c.phone, "%s", phone ? phone : "");
	assert_int_equal(pp_notify_contact_set(f->st, f->c, uid, &c), 0);
}

static void test_contact_sealed(void **state)
{
	fx *f = *state;
	pp_notify_contact c;
	pp_store_notify_contact row;

	assert_int_equal(pp_notify_contact_get(f->st, f->c, 1, &c), 0);   /* none yet: empty */
	assert_string_equal(c.email, "");
	assert_false(c.email_enabled);
	set_contact(f, 1, "pat@example.org", "+15555550123", true, false);
	assert_int_equal(pp_notify_contact_get(f->st, f->c, 1, &c), 0);
	assert_string_equal(c.email, "pat@example.org");
	assert_string_equal(c.phone, "+15555550123");
	assert_true(c.email_enabled);
	assert_false(c.sms_enabled);
	/* stored only as ciphertext */
	assert_int_equal(pp_store_notify_contact_get(f->st, 1, &row), 0);
	assert_non_null(row.email_enc);
	assert_null(memmem(row.email_enc, row.email_enc_len, "pat@", 4));
	assert_null(memmem(row.phone_enc, row.phone_enc_len, "5555550123", 10));
	/* bound to its row: another user's row cannot be opened with it */
	row.user_id = 2;
	assert_int_equal(pp_store_notify_contact_put(f->st, &row), 0);
	pp_store_notify_contact_clear(&row);
	assert_int_equal(pp_notify_contact_get(f->st, f->c, 2, &c), PP_ECRYPTO);
	/* validation */
	pp_notify_contact bad = {.email_enabled = true};
	assert_int_equal(pp_notify_contact_set(f->st, f->c, 1, &bad), PP_EINVAL);   /* no address */
	snprintf(bad.email, sizeof bad.email, "not-an-address");
	assert_int_equal(pp_notify_contact_set(f->st, f->c, 1, &bad), PP_EINVAL);
	pp_notify_contact bad2 = {.phone = "555-0123"};
	assert_int_equal(pp_notify_contact_set(f->st, f->c, 1, &bad2), PP_EINVAL);
}

static void test_enqueue_and_retry(void **state)
{
	fx *f = *state;
	pp_store_notify_row row;
	int64_t ids[8];
	size_t n = 0;
	int q = -1, sent = -1, failed = -1;
	int64_t t0;

	/* no contact: nothing queued, not an error */
	assert_int_equal(pp_notify_enqueue_n(f->n, 2, "message", &q), 0);
	assert_int_equal(q, 0);
	assert_int_equal(pp_notify_enqueue_n(f->n, 2, "diagnosis", &q), PP_EINVAL);
	/* e-mail on, SMS on but no SMS gateway configured: one row */
	set_contact(f, 1, "pat@example.org", "+15555550123", true, true);
	assert_int_equal(pp_notify_enqueue_n(f->n, 1, "message", &q), 0);
	assert_int_equal(q, 1);
	/* a second arrival while the first notice is pending is covered by it */
	assert_int_equal(pp_notify_enqueue_n(f->n, 1, "message", &q), 0);
	assert_int_equal(q, 0);
	assert_int_equal(pp_notify_enqueue_n(f->n, 1, "result", &q), 0);
	assert_int_equal(q, 1);
	assert_int_equal(pp_store_notify_due(f->st, pp_clock_now_ms(), ids, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pp_store_notify_get(f->st, ids[0], &row), 0);
	assert_string_equal(row.channel, "email");
	assert_string_equal(row.event, "message");
	assert_string_equal(row.status, "pending");
	assert_int_equal(row.user_id, 1);

	/* a claim is a lease: a second claim of the same row fails */
	t0 = pp_clock_now_ms();
	assert_int_equal(pp_store_notify_claim(f->st, ids[1], t0, t0 + 1000, &row), 0);
	assert_int_equal(row.attempts, 1);
	assert_int_equal(pp_store_notify_claim(f->st, ids[1], t0, t0 + 1000, &row), PP_ENOTFOUND);
	assert_int_equal(pp_store_notify_mark_final(f->st, ids[1], "cancelled", "test"), 0);

	/* the mail server is down (closed port): attempt 1 fails, retried after 30 s */
	assert_int_equal(pp_notify_run_once(f->n, &sent, &failed), 0);
	assert_int_equal(sent, 0);
	assert_int_equal(failed, 0);
	assert_int_equal(pp_store_notify_get(f->st, ids[0], &row), 0);
	assert_string_equal(row.status, "pending");
	assert_int_equal(row.attempts, 1);
	assert_string_equal(row.last_error, "smtp:curl-7");
	assert_true(row.due_ms >= t0 + 30000 && row.due_ms <= pp_clock_now_ms() + 30000);
	/* not due yet: nothing happens */
	assert_int_equal(pp_notify_run_once(f->n, &sent, &failed), 0);
	assert_int_equal(pp_store_notify_get(f->st, ids[0], &row), 0);
	assert_int_equal(row.attempts, 1);
	/* 31 s later: attempt 2, then 60 s */
	pp_clock_set_offset_ms(31000);
	t0 = pp_clock_now_ms();
	assert_int_equal(pp_notify_run_once(f->n, &sent, &failed), 0);
	assert_int_equal(pp_store_notify_get(f->st, ids[0], &row), 0);
	assert_int_equal(row.attempts, 2);
	assert_true(row.due_ms >= t0 + 60000 && row.due_ms <= pp_clock_now_ms() + 60000);
	/* attempt 3 of 3: failed for good */
	pp_clock_set_offset_ms(31000 + 61000);
	assert_int_equal(pp_notify_run_once(f->n, &sent, &failed), 0);
	assert_int_equal(failed, 1);
	assert_int_equal(pp_store_notify_get(f->st, ids[0], &row), 0);
	assert_string_equal(row.status, "failed");
	assert_int_equal(row.attempts, 3);
	/* the failed notice no longer blocks a new one */
	assert_int_equal(pp_notify_enqueue_n(f->n, 1, "message", &q), 0);
	assert_int_equal(q, 1);
}

static void test_cancel_and_patient(void **state)
{
	fx *f = *state;
	int q = -1, sent, failed, users = -1;
	int64_t count = 0;

	set_contact(f, 1, "pat@example.org", NULL, true, false);
	set_contact(f, 3, "other@example.org", NULL, true, false);
	set_contact(f, 2, "doc@example.org", NULL, true, false);
	/* every active patient account of the record */
	assert_int_equal(pp_notify_enqueue_patient(f->n, 42, "result", &q), 0);
	assert_int_equal(q, 2);
	/* switched off before delivery: cancelled, never sent */
	set_contact(f, 1, "pat@example.org", NULL, false, false);
	set_contact(f, 3, NULL, NULL, false, false);
	assert_int_equal(pp_notify_run_once(f->n, &sent, &failed), 0);
	assert_int_equal(sent, 0);
	assert_int_equal(pp_store_notify_count(f->st, "cancelled", &count), 0);
	assert_int_equal(count, 2);
	/* results since a time: only patients whose record gained an Observation */
	pp_store_resource obs = {.id = 77, .type = "Observation", .patient_id = 42, .version = 1};
	static uint8_t body[4] = {1, 1, 1, 1};
	memset(obs.lid_bidx, 77, sizeof obs.lid_bidx);
	snprintf(obs.pub_id, sizeof obs.pub_id, "o77");
	obs.body = body;
	obs.body_len = sizeof body;
	obs.last_updated_ms = pp_clock_now_ms();
	assert_int_equal(pp_store_resource_put(f->st, &obs), 0);
	set_contact(f, 1, "pat@example.org", NULL, true, false);
	assert_int_equal(pp_notify_enqueue_results_since(f->n, obs.last_updated_ms + 1, &users), 0);
	assert_int_equal(users, 0);
	assert_int_equal(pp_notify_enqueue_results_since(f->n, obs.last_updated_ms, &users), 0);
	assert_int_equal(users, 2);   /* both accounts of patient 42; only user 1 has e-mail on */
	assert_int_equal(pp_store_notify_count(f->st, "pending", &count), 0);
	assert_int_equal(count, 1);
	/* purge keeps pending rows */
	assert_int_equal(pp_store_notify_purge(f->st, pp_clock_now_ms() + 1, &q), 0);
	assert_int_equal(q, 2);
	assert_int_equal(pp_store_notify_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 1);
}

static void test_open_refuses_bad_template(void **state)
{
	fx *f = *state;
	pp_config c = f->cfg;
	pp_notify *n = NULL;

	snprintf(c.notify_sms_result, sizeof c.notify_sms_result, "{org_name}: {result}");
	assert_int_equal(pp_notify_open(&n, &c, f->st, f->c), PP_ECONFIG);
	assert_null(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_allowed),
		cmocka_unit_test(test_template_forbidden),
		cmocka_unit_test(test_check_config),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_compose),
		cmocka_unit_test_setup_teardown(test_contact_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_and_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_patient, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_bad_template, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
