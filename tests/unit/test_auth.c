/* Unit tests of auth/: policy, accounts, login with lockout and IP throttling, TOTP checked against
 * the real oathtool, recovery codes, sessions and their timeouts, the bounded hashing queue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_internal.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define ISSUER "Phi Portal"
#define GOOD_PW "correct horse battery staple"
#define USER "alice.smith@example.org"

typedef struct fx {
	char dir[64];
	char db[128];
	char key[128];
	pp_config cfg;
	pp_store *st;
	pp_crypto *c;
	pp_auth *a;
} fx;

static void small_params(pp_config *cfg)
{
	cfg->auth_argon2_m_kib = 1024;
	cfg->auth_argon2_t = 1;
	cfg->auth_argon2_p = 1;
	cfg->auth_hash_threads = 2;
	cfg->auth_hash_queue_max = 16;
	cfg->auth_lockout_threshold = 3;
	cfg->auth_lockout_seconds = 60;
	cfg->auth_ip_max_failures = 1000;
	cfg->auth_ip_window_s = 60;
	cfg->auth_mfa_required_staff = false;
	cfg->auth_mfa_required_patients = false;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	pp_log_set_level(PP_LOG_ERROR);
	pp_clock_set_offset_ms(0);
	memcpy(f->dir, "/tmp/pp_auth_test.XXXXXX", sizeof "/tmp/pp_auth_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(pp_path_join(f->db, sizeof f->db, f->dir, "phi.db"), 0);
	assert_int_equal(pp_path_join(f->key, sizeof f->key, f->dir, "master.key"), 0);
	pp_config_defaults(&f->cfg, f->dir);
	small_params(&f->cfg);
	assert_int_equal(pp_store_open(&f->st, f->db), 0);
	assert_int_equal(pp_crypto_keyfile_create(f->key), 0);
	assert_int_equal(pp_crypto_open(&f->c, f->key, f->st), 0);
	assert_int_equal(pp_auth_open(&f->a, &f->cfg, f->st, f->c), 0);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	fx *f = *state;

	pp_auth_close(f->a);
	pp_crypto_free(f->c);
	pp_store_close(f->st);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	pp_clock_set_offset_ms(0);
	free(f);
	return 0;
}

/* re-opens auth/ with f->cfg (after a test changed it) */
static void reopen(fx *f)
{
	pp_auth_close(f->a);
	f->a = NULL;
	assert_int_equal(pp_auth_open(&f->a, &f->cfg, f->st, f->c), 0);
}

static int64_t add_user(fx *f, const char *name, const char *pw)
{
	int64_t id = 0;
	assert_int_equal(pp_auth_user_add(f->a, name, pw, "clinician", 0, &id), 0);
	assert_true(id != 0);
	return id;
}

static int login(fx *f, const char *name, const char *pw, const char *ip, char *tok,
                 pp_session *s, int64_t *uid, int *retry)
{
	char t[PP_AUTH_TOKEN_LEN + 1];
	pp_session ss;
	int64_t u;
	int r;
	return pp_auth_login(f->a, name, pw, ip, tok ? tok : t, s ? s : &ss, uid ? uid : &u,
	                     retry ? retry : &r);
}

static void advance_s(int64_t *offset_s, int64_t by)
{
	*offset_s += by;
	pp_clock_set_offset_ms(*offset_s * 1000);
}

/* does any file of the database contain these bytes? (PHI must only be stored sealed) */
static bool db_contains(fx *f, const void *needle, size_t n)
{
	static const char *const sfx[] = {"", "-wal"};
	bool hit = false;

	for (size_t i = 0; i < 2 && !hit; i++) {
		char path[160], *data = NULL;
		size_t len = 0;
		snprintf(path, sizeof path, "%s%s", f->db, sfx[i]);
		if (pp_file_read(path, 64 << 20, &data, &len) == 0)
			hit = memmem(data, len, needle, n) != NULL;
		free(data);
	}
	return hit;
}

/* ---- password policy ---- */

static void test_policy(void **state)
{
	fx *f = *state;
	const char *why = NULL;

	assert_int_equal(pp_auth_password_policy(f->a, GOOD_PW, USER, &why), 0);
	assert_null(why);
	assert_int_equal(pp_auth_password_policy(f->a, "short pw", USER, &why), PP_EINVAL);
	assert_string_equal(why, "too-short");
	/* 12 characters of UTF-8 are 12 characters, not 24 bytes */
	assert_int_equal(pp_auth_password_policy(f->a, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL,
	                                         &why), PP_EINVAL);
	assert_string_equal(why, "too-short");
	/* entries of the embedded list, in any case */
	assert_int_equal(pp_auth_password_policy(f->a, "winniethepooh", NULL, &why), PP_EINVAL);
	assert_string_equal(why, "common");
	assert_int_equal(pp_auth_password_policy(f->a, "WinnieThePooh", NULL, &why), PP_EINVAL);
	assert_string_equal(why, "common");
	/* list words padded with digits and symbols, or repeated */
	assert_int_equal(pp_auth_password_policy(f->a, "Password2024!", NULL, &why), PP_EINVAL);
	assert_string_equal(why, "common");
	assert_int_equal(pp_auth_password_policy(f->a, "123456789012", NULL, &why), PP_EINVAL);
	assert_int_equal(pp_auth_password_policy(f->a, "monkeymonkey", NULL, &why), PP_EINVAL);
	assert_string_equal(why, "common");
	assert_int_equal(pp_auth_password_policy(f->a, "aaaaaaaaaaaaaa", NULL, &why), PP_EINVAL);
	assert_int_equal(pp_auth_password_policy(f->a, "abababababab", NULL, &why), PP_EINVAL);
	/* the username, or an e-mail's local part, inside the password */
	assert_int_equal(pp_auth_password_policy(f->a, "my Alice.Smith@Example.org pw", USER, &why),
	                 PP_EINVAL);
	assert_string_equal(why, "contains-username");
	assert_int_equal(pp_auth_password_policy(f->a, "xx-alice.smith-9876", USER, &why), PP_EINVAL);
	assert_string_equal(why, "contains-username");
	assert_int_equal(pp_auth_password_policy(f->a, "xx-alice.smith-9876", "bob", &why), 0);
	/* an over-long password is refused before anyone hashes it */
	char *big = malloc(PP_AUTH_PASSWORD_MAX + 2);
	assert_non_null(big);
	memset(big, 'q', PP_AUTH_PASSWORD_MAX + 1);
	big[PP_AUTH_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(pp_auth_password_policy(f->a, big, NULL, &why), PP_EINVAL);
	assert_string_equal(why, "too-long");
	free(big);
	/* the minimum comes from the configuration */
	f->cfg.auth_password_min_length = 30;
	reopen(f);
	assert_int_equal(pp_auth_password_policy(f->a, GOOD_PW, USER, &why), PP_EINVAL);
	assert_string_equal(why, "too-short");
	/* the embedded table is sorted, so the binary search is sound */
	assert_true(pp_auth_common_passwords_n > 3000);
	for (size_t i = 1; i < pp_auth_common_passwords_n; i++)
		assert_true(strcmp(pp_auth_common_passwords[i - 1], pp_auth_common_passwords[i]) < 0);
}

/* ---- accounts ---- */

static void test_user_add(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW), found = 0, other = 0;
	pp_store_user u;
	uint8_t bidx[32];

	assert_int_equal(pp_auth_user_find(f->a, USER, &found), 0);
	assert_true(found == id);
	/* the blind index folds case and white space: the same person cannot register twice */
	assert_int_equal(pp_auth_user_find(f->a, "  ALICE.smith@example.ORG ", &found), 0);
	assert_true(found == id);
	assert_int_equal(pp_auth_user_add(f->a, "Alice.Smith@example.org", GOOD_PW, "nurse", 0,
	                                  &other), PP_EEXISTS);
	assert_int_equal(pp_auth_user_find(f->a, "nobody@example.org", &found), PP_ENOTFOUND);
	assert_int_equal(pp_auth_user_add(f->a, "bob", "password", "nurse", 0, &other), PP_EINVAL);
	assert_int_equal(pp_auth_user_add(f->a, "bob", GOOD_PW, "", 0, &other), PP_EINVAL);
	assert_int_equal(pp_auth_user_add(f->a, "bob", GOOD_PW, "Admin; drop", 0, &other), PP_EINVAL);
	assert_int_equal(pp_auth_user_add(f->a, "bob", GOOD_PW, "patient", 0, &other), PP_EINVAL);
	assert_int_equal(pp_auth_user_add(f->a, "bob", GOOD_PW, "nurse", 42, &other), PP_EINVAL);
	assert_int_equal(pp_auth_user_add(f->a, "", GOOD_PW, "nurse", 0, &other), PP_EINVAL);
	assert_int_equal(pp_auth_user_add(NULL, "bob", GOOD_PW, "nurse", 0, &other), PP_EINVAL);

	/* stored: blind index and ciphertext, never the name; an Argon2id hash with our params */
	assert_int_equal(pp_crypto_blind_index(f->c, "username", USER, bidx), 0);
	assert_int_equal(pp_store_user_find(f->st, bidx, &u), 0);
	assert_true(u.id == id);
	assert_string_equal(u.role, "clinician");
	assert_string_equal(u.status, "active");
	assert_true(strncmp(u.pw_hash, "$argon2id$v=19$m=1024,t=1,p=1$", 30) == 0);
	{
		uint8_t *pt = NULL;
		size_t ptlen = 0;
		assert_int_equal(pp_crypto_unseal(f->c, "user_account", "username", id, u.username_enc,
		                                  u.username_enc_len, &pt, &ptlen), 0);
		assert_int_equal(ptlen, strlen(USER));
		assert_memory_equal(pt, USER, ptlen);
		pp_crypto_free_plain(pt, ptlen);
	}
	pp_store_user_clear(&u);
	assert_false(db_contains(f, "alice.smith", 11));
	assert_false(db_contains(f, GOOD_PW, strlen(GOOD_PW)));
}

/* ---- login ---- */

static void test_login_ok(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW), uid = 0;
	char tok[PP_AUTH_TOKEN_LEN + 1];
	pp_session s, g;
	int retry = -1;
	uint8_t h[32];
	char hex[65];

	assert_int_equal(pp_auth_login(f->a, " ALICE.SMITH@example.org", GOOD_PW, "192.0.2.1", tok, &s,
	                               &uid, &retry), 0);
	assert_true(uid == id);
	assert_int_equal(retry, 0);
	assert_int_equal(strlen(tok), PP_AUTH_TOKEN_LEN);
	assert_int_equal(s.state, PP_SESSION_FULL);   /* MFA not required in this configuration */
	assert_true(s.user_id == id);
	assert_string_equal(s.role, "clinician");
	assert_int_equal(strlen(s.csrf), PP_AUTH_TOKEN_LEN);
	assert_true(strcmp(s.csrf, tok) != 0);
	/* the opaque id is the start of the token's SHA-256, which is all the database keeps */
	assert_int_equal(pp_crypto_sha256(tok, strlen(tok), h), 0);
	pp_hex_encode(h, 32, hex);
	assert_int_equal(strlen(s.id), 16);
	assert_memory_equal(s.id, hex, 16);
	assert_false(db_contains(f, tok, strlen(tok)));
	assert_true(db_contains(f, h, 32));
	assert_true(s.idle_expires_ms - s.last_seen_ms == 900 * 1000);
	assert_true(s.absolute_expires_ms - s.created_ms == 43200 * 1000);

	assert_int_equal(pp_auth_session_get(f->a, tok, true, &g), 0);
	assert_string_equal(g.id, s.id);
	assert_string_equal(g.csrf, s.csrf);
	assert_int_equal(g.state, PP_SESSION_FULL);

	/* MFA required for staff, not enrolled: the session waits in "enrol" */
	f->cfg.auth_mfa_required_staff = true;
	reopen(f);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, tok, &s, NULL, NULL), 0);
	assert_int_equal(s.state, PP_SESSION_ENROL);
}

static void test_login_uniform_failure(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW), uid = -1;
	char tok[PP_AUTH_TOKEN_LEN + 1];
	int retry = -1;

	assert_int_equal(pp_auth_login(f->a, USER, "not the password at all", "192.0.2.1", tok, NULL,
	                               &uid, &retry), PP_EAUTH);
	assert_true(uid == id);                 /* for the audit record */
	assert_int_equal(tok[0], '\0');
	uid = -1;
	assert_int_equal(pp_auth_login(f->a, "mallory@example.org", GOOD_PW, "192.0.2.1", tok, NULL,
	                               &uid, &retry), PP_EAUTH);
	assert_true(uid == 0);
	assert_int_equal(login(f, "", GOOD_PW, NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, "", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(pp_auth_login(f->a, NULL, GOOD_PW, NULL, tok, NULL, &uid, &retry), PP_EINVAL);

	/* a suspended account cannot sign in, and its sessions stop working */
	assert_int_equal(login(f, USER, GOOD_PW, NULL, tok, NULL, NULL, NULL), 0);
	assert_int_equal(pp_store_user_set_status(f->st, id, "suspended"), 0);
	pp_session s;
	assert_int_equal(pp_auth_session_get(f->a, tok, false, &s), PP_EAUTH);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
}

/* an unknown username "locks" after the same number of failures as a real account, so the
 * locked answer does not reveal which names exist */
static void test_unknown_user_locks_like_real(void **state)
{
	fx *f = *state;
	int retry = 0;

	f->cfg.auth_lockout_threshold = 3;
	f->cfg.auth_ip_max_failures = 1000;
	reopen(f);
	for (int i = 0; i < 2; i++)
		assert_int_equal(login(f, "ghost.user", "some password here", "198.51.100.1", NULL, NULL,
		                       NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, "ghost.user", "some password here", "198.51.100.1", NULL, NULL,
	                       NULL, &retry), PP_ELOCKED);
	assert_true(retry > 0);
	/* names are independent */
	assert_int_equal(login(f, "other.ghost", "some password here", "198.51.100.1", NULL, NULL,
	                       NULL, NULL), PP_EAUTH);
}

static void test_lockout(void **state)
{
	fx *f = *state;
	int64_t off = 0;
	int retry = 0;

	add_user(f, USER, GOOD_PW);
	/* failures that are not consecutive do not lock */
	assert_int_equal(login(f, USER, "wrong password 1", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, "wrong password 2", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(login(f, USER, "wrong password 3", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, "wrong password 4", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	/* the third consecutive failure locks */
	assert_int_equal(login(f, USER, "wrong password 5", NULL, NULL, NULL, NULL, &retry),
	                 PP_ELOCKED);
	assert_true(retry > 55 && retry <= 60);
	/* locked: even the right password is refused */
	retry = 0;
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, &retry), PP_ELOCKED);
	assert_true(retry > 0 && retry <= 60);
	advance_s(&off, 30);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, &retry), PP_ELOCKED);
	assert_true(retry > 25 && retry <= 30);
	/* the lock ends by itself */
	advance_s(&off, 31);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	/* and the count starts again from zero */
	assert_int_equal(login(f, USER, "wrong password 6", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, "wrong password 7", NULL, NULL, NULL, NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
}

static void test_ip_throttle(void **state)
{
	fx *f = *state;
	int64_t off = 0;
	int retry = 0;

	f->cfg.auth_ip_max_failures = 3;
	f->cfg.auth_ip_window_s = 120;
	reopen(f);
	add_user(f, USER, GOOD_PW);
	/* unknown users count too: that is how guessing across accounts is slowed */
	assert_int_equal(login(f, "u1", "some password here", "203.0.113.7", NULL, NULL, NULL, NULL),
	                 PP_EAUTH);
	assert_int_equal(login(f, "u2", "some password here", "203.0.113.7", NULL, NULL, NULL, NULL),
	                 PP_EAUTH);
	assert_int_equal(login(f, USER, "some password here", "203.0.113.7", NULL, NULL, NULL, NULL),
	                 PP_EAUTH);
	assert_int_equal(login(f, USER, GOOD_PW, "203.0.113.7", NULL, NULL, NULL, &retry), PP_ELOCKED);
	assert_true(retry > 115 && retry <= 120);
	/* other sources are not affected, and the account itself is not locked */
	assert_int_equal(login(f, USER, GOOD_PW, "203.0.113.8", NULL, NULL, NULL, NULL), 0);
	/* IPv6: one /64 is one source */
	assert_int_equal(login(f, "u3", "some password here", "2001:db8:1:2::1", NULL, NULL, NULL,
	                       NULL), PP_EAUTH);
	assert_int_equal(login(f, "u4", "some password here", "2001:db8:1:2::2", NULL, NULL, NULL,
	                       NULL), PP_EAUTH);
	assert_int_equal(login(f, "u5", "some password here", "2001:db8:1:2:ffff::3", NULL, NULL,
	                       NULL, NULL), PP_EAUTH);
	assert_int_equal(login(f, USER, GOOD_PW, "2001:db8:1:2::9", NULL, NULL, NULL, NULL),
	                 PP_ELOCKED);
	assert_int_equal(login(f, USER, GOOD_PW, "2001:db8:1:3::9", NULL, NULL, NULL, NULL), 0);
	/* the window ends */
	advance_s(&off, 121);
	assert_int_equal(login(f, USER, GOOD_PW, "203.0.113.7", NULL, NULL, NULL, NULL), 0);

	/* the table is bounded: many sources evict the oldest windows */
	pp_auth_throttle *t = NULL;
	char ip[32];
	assert_int_equal(pp_auth_throttle_new(&t, 8, 2, 60), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof ip, "198.51.100.%d", i);
		pp_auth_throttle_fail(t, ip, 1000 + i);
		pp_auth_throttle_fail(t, ip, 1000 + i);
		assert_true(pp_auth_throttle_count(t) <= 8);
	}
	assert_int_equal(pp_auth_throttle_check(t, "198.51.100.99", 2000, &retry), PP_ELOCKED);
	assert_int_equal(pp_auth_throttle_check(t, "198.51.100.0", 2000, &retry), 0);
	assert_int_equal(pp_auth_throttle_check(t, "198.51.100.99", 1099 + 60000, &retry), 0);
	pp_auth_throttle_free(t);
}

/* ---- TOTP ---- */

/* the secret from an otpauth URI */
static void uri_secret(const char *uri, char *out, size_t cap)
{
	const char *p = strstr(uri, "secret="), *e;
	assert_non_null(p);
	p += 7;
	e = strchr(p, '&');
	assert_non_null(e);
	assert_true((size_t)(e - p) < cap);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

/* a code from the real oathtool, at our (possibly shifted) clock plus delta seconds */
static void oathtool_code(const char *secret, int64_t delta_s, char out[8])
{
	char cmd[200];
	FILE *p;

	snprintf(cmd, sizeof cmd, "oathtool --totp -b '%s' --now '@%lld'", secret,
	         (long long)(pp_clock_now_s() + delta_s));
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, 8, p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, "\r\n")] = '\0';
	assert_int_equal(strlen(out), 6);
}

/* enrols user id; returns the base32 secret and the recovery codes */
static void enrol(fx *f, int64_t id, char secret[64],
                  char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN])
{
	char *uri = NULL, *svg = NULL, code[8];

	assert_int_equal(pp_auth_mfa_enrol_start(f->a, id, ISSUER, &uri, &svg), 0);
	uri_secret(uri, secret, 64);
	oathtool_code(secret, 0, code);
	assert_int_equal(pp_auth_mfa_enrol_confirm(f->a, id, code, codes), 0);
	free(uri);
	free(svg);
}

static void test_totp(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW), off = 0;
	char *uri = NULL, *svg = NULL, secret[64], code[8], old[8], want[64];
	char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN];
	pp_session s;
	pp_store_user u;

	/* nothing to verify before enrolment */
	assert_int_equal(pp_auth_mfa_verify(f->a, id, "123456"), PP_EAUTH);
	assert_int_equal(pp_auth_mfa_enrol_confirm(f->a, id, "123456", codes), PP_EINVAL);
	assert_int_equal(pp_auth_mfa_enrol_start(f->a, id, "", &uri, &svg), PP_EINVAL);
	assert_int_equal(pp_auth_mfa_enrol_start(f->a, id + 1, ISSUER, &uri, &svg), PP_ENOTFOUND);

	assert_int_equal(pp_auth_mfa_enrol_start(f->a, id, ISSUER, &uri, &svg), 0);
	snprintf(want, sizeof want, "otpauth://totp/Phi%%20Portal:user-%lld?secret=", (long long)id);
	assert_true(strncmp(uri, want, strlen(want)) == 0);
	assert_non_null(strstr(uri, "&issuer=Phi%20Portal&algorithm=SHA1&digits=6&period=30"));
	assert_null(strstr(uri, "alice"));
	uri_secret(uri, secret, sizeof secret);
	assert_int_equal(strlen(secret), 32);   /* 20 bytes, unpadded base32 */
	assert_true(strncmp(svg, "<svg ", 5) == 0);
	assert_non_null(strstr(svg, "role=\"img\""));
	assert_non_null(strstr(svg, "aria-label=\""));
	/* the top row of the finder pattern, after a quiet zone of 4 modules */
	assert_non_null(strstr(svg, "<rect x=\"4\" y=\"4\" width=\"7\" height=\"1\"/>"));
	assert_non_null(strstr(svg, "</svg>"));
	/* the secret is stored sealed */
	assert_int_equal(pp_store_user_get(f->st, id, &u), 0);
	assert_int_equal(u.mfa_enabled, 0);
	assert_non_null(u.mfa_secret_enc);
	{
		uint8_t *pt = NULL;
		size_t ptlen = 0;
		assert_int_equal(pp_crypto_unseal(f->c, "user_account", "mfa_secret", id, u.mfa_secret_enc,
		                                  u.mfa_secret_enc_len, &pt, &ptlen), 0);
		assert_int_equal(ptlen, 20);
		assert_false(db_contains(f, pt, ptlen));
		pp_crypto_free_plain(pt, ptlen);
	}
	pp_store_user_clear(&u);
	assert_false(db_contains(f, secret, strlen(secret)));

	/* confirmation needs a right code; a wrong one does not enable MFA */
	oathtool_code(secret, -90, old);
	assert_int_equal(pp_auth_mfa_enrol_confirm(f->a, id, old, codes), PP_EAUTH);
	oathtool_code(secret, 0, code);
	assert_int_equal(pp_auth_mfa_enrol_confirm(f->a, id, code, codes), 0);
	free(uri);
	free(svg);
	assert_int_equal(pp_auth_mfa_enrol_start(f->a, id, ISSUER, &uri, &svg), PP_EEXISTS);
	assert_null(uri);
	assert_null(svg);

	/* now the password step leads to state "mfa" */
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, &s, NULL, NULL), 0);
	assert_int_equal(s.state, PP_SESSION_MFA);
	/* the code spent on confirmation cannot be used again */
	assert_int_equal(pp_auth_mfa_verify(f->a, id, code), PP_EAUTH);
	/* the next step's code works once */
	advance_s(&off, 30);
	oathtool_code(secret, 0, code);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, code), 0);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, code), PP_EAUTH);
	/* a code of the previous step is inside the window but older than the last one used */
	oathtool_code(secret, -30, old);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, old), PP_EAUTH);
	/* three steps ago is outside the window */
	/* (the third failure in a row: it also locks the account, even against a right code) */
	advance_s(&off, 30);
	oathtool_code(secret, -90, old);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, old), PP_ELOCKED);
	oathtool_code(secret, 0, code);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, code), PP_ELOCKED);
	advance_s(&off, 61);
	oathtool_code(secret, 0, code);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, code), 0);
	/* malformed codes */
	assert_int_equal(pp_auth_mfa_verify(f->a, id, "12345"), PP_EAUTH);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, "12345a"), PP_EAUTH);
	/* spaces are tolerated (as typed from an app that groups digits) */
	advance_s(&off, 30);
	oathtool_code(secret, 0, code);
	char spaced[10] = {code[0], code[1], code[2], ' ', code[3], code[4], code[5], '\0'};
	assert_int_equal(pp_auth_mfa_verify(f->a, id, spaced), 0);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, NULL), PP_EAUTH);
	assert_int_equal(pp_auth_mfa_verify(f->a, id + 1, code), PP_EAUTH);
	/* the store's step advance is a compare-and-set (what settles two racing requests) */
	assert_int_equal(pp_store_user_get(f->st, id, &u), 0);
	assert_int_equal(pp_store_user_mfa_advance(f->st, id, u.mfa_last_step), PP_EEXISTS);
	assert_int_equal(pp_store_user_mfa_advance(f->st, id, u.mfa_last_step - 5), PP_EEXISTS);
	assert_int_equal(pp_store_user_mfa_advance(f->st, id, u.mfa_last_step + 1), 0);
	assert_int_equal(pp_store_user_mfa_advance(f->st, id, u.mfa_last_step + 1), PP_EEXISTS);
	pp_store_user_clear(&u);
}

static void test_mfa_failures_survive_relogin(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW), off = 0;
	char secret[64], bad[8];
	char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN];

	enrol(f, id, secret, codes);
	oathtool_code(secret, -300, bad);
	/* logging in again with the password does not reset the budget for guessing codes */
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, bad), PP_EAUTH);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, bad), PP_EAUTH);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(pp_auth_mfa_verify(f->a, id, bad), PP_ELOCKED);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), PP_ELOCKED);
	advance_s(&off, 61);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
}

/* ---- recovery codes ---- */

static void test_recovery(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW);
	char secret[64], in[40];
	char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN];
	int remaining = -1;

	assert_int_equal(pp_auth_mfa_recover(f->a, id, "2222-2222-2222-2222", &remaining), PP_EAUTH);
	enrol(f, id, secret, codes);
	for (int i = 0; i < PP_AUTH_RECOVERY_CODES; i++) {
		assert_int_equal(strlen(codes[i]), 19);
		for (int j = 0; j < 19; j++) {
			if (j % 5 == 4)
				assert_int_equal(codes[i][j], '-');
			else
				assert_non_null(strchr("23456789abcdefghjkmnpqrstuvwxyz", codes[i][j]));
		}
		for (int k = 0; k < i; k++)
			assert_true(strcmp(codes[i], codes[k]) != 0);
		assert_false(db_contains(f, codes[i], 19));
	}
	assert_int_equal(pp_auth_mfa_recover(f->a, id, codes[0], &remaining), 0);
	assert_int_equal(remaining, 9);
	assert_int_equal(pp_auth_mfa_recover(f->a, id, codes[0], &remaining), PP_EAUTH);
	/* case and dashes do not matter */
	size_t n = 0;
	for (const char *p = codes[1]; *p; p++)
		if (*p != '-')
			in[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
	in[n] = '\0';
	assert_int_equal(pp_auth_mfa_recover(f->a, id, in, &remaining), 0);
	assert_int_equal(remaining, 8);
	/* a code is bound to its user */
	int64_t other = add_user(f, "bob@example.org", GOOD_PW);
	char s2[64], codes2[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN];
	enrol(f, other, s2, codes2);
	assert_int_equal(pp_auth_mfa_recover(f->a, other, codes[2], &remaining), PP_EAUTH);
	assert_int_equal(pp_auth_mfa_recover(f->a, id, codes[2], &remaining), 0);
	assert_int_equal(remaining, 7);
	assert_int_equal(pp_auth_mfa_recover(f->a, id, "garbage", &remaining), PP_EAUTH);
	assert_int_equal(pp_auth_mfa_recover(f->a, id, "0000-0000-0000-0000", &remaining), PP_EAUTH);
	/* the third failure in a row locks, and then even a valid code is refused */
	assert_int_equal(pp_auth_mfa_recover(f->a, id, codes[0], &remaining), PP_ELOCKED);
	assert_int_equal(pp_auth_mfa_recover(f->a, id, codes[3], &remaining), PP_ELOCKED);
}

/* ---- sessions ---- */

static void test_session_idle(void **state)
{
	fx *f = *state;
	int64_t off = 0;
	char tok[PP_AUTH_TOKEN_LEN + 1];
	pp_session s;

	add_user(f, USER, GOOD_PW);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, tok, NULL, NULL, NULL), 0);
	/* activity keeps it alive */
	advance_s(&off, 899);
	assert_int_equal(pp_auth_session_get(f->a, tok, true, &s), 0);
	advance_s(&off, 899);
	assert_int_equal(pp_auth_session_get(f->a, tok, true, &s), 0);
	/* a look that does not touch does not extend it */
	advance_s(&off, 600);
	assert_int_equal(pp_auth_session_get(f->a, tok, false, &s), 0);
	assert_true(s.idle_expires_ms - pp_clock_now_ms() <= 300 * 1000);
	advance_s(&off, 300);
	assert_int_equal(pp_auth_session_get(f->a, tok, false, &s), PP_EAUTH);
	/* expired means deleted: turning the clock back does not revive it */
	pp_clock_set_offset_ms(0);
	assert_int_equal(pp_auth_session_get(f->a, tok, false, &s), PP_EAUTH);
	assert_int_equal(pp_auth_logout(f->a, tok), PP_ENOTFOUND);
	/* malformed tokens are simply not sessions */
	assert_int_equal(pp_auth_session_get(f->a, NULL, false, &s), PP_EAUTH);
	assert_int_equal(pp_auth_session_get(f->a, "", false, &s), PP_EAUTH);
	assert_int_equal(pp_auth_session_get(f->a, "abc", false, &s), PP_EAUTH);
	char bad[PP_AUTH_TOKEN_LEN + 1];
	memset(bad, 'A', PP_AUTH_TOKEN_LEN);
	bad[PP_AUTH_TOKEN_LEN] = '\0';
	assert_int_equal(pp_auth_session_get(f->a, bad, false, &s), PP_EAUTH);
	bad[5] = '!';
	assert_int_equal(pp_auth_session_get(f->a, bad, false, &s), PP_EAUTH);
}

static void test_session_absolute_and_rotation(void **state)
{
	fx *f = *state;
	int64_t off = 0;
	char tok[PP_AUTH_TOKEN_LEN + 1], tok2[PP_AUTH_TOKEN_LEN + 1], tok3[PP_AUTH_TOKEN_LEN + 1];
	pp_session s, r;

	add_user(f, USER, GOOD_PW);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, tok, &s, NULL, NULL), 0);
	/* stay active for almost 12 hours */
	while (off + 800 < 43200 - 100) {
		advance_s(&off, 800);
		assert_int_equal(pp_auth_session_get(f->a, tok, true, &r), 0);
	}
	/* rotation: new token, id and CSRF token; the old token is dead; the start time is kept */
	assert_int_equal(pp_auth_session_rotate(f->a, tok, PP_SESSION_FULL, tok2, &r), 0);
	assert_true(strcmp(tok, tok2) != 0);
	assert_true(strcmp(s.id, r.id) != 0);
	assert_true(strcmp(s.csrf, r.csrf) != 0);
	assert_true(r.created_ms == s.created_ms);
	assert_true(r.absolute_expires_ms == s.absolute_expires_ms);
	assert_int_equal(pp_auth_session_get(f->a, tok, false, &r), PP_EAUTH);
	assert_int_equal(pp_auth_session_rotate(f->a, tok, PP_SESSION_FULL, tok3, &r), PP_EAUTH);
	assert_int_equal(tok3[0], '\0');
	assert_int_equal(pp_auth_session_get(f->a, tok2, true, &r), 0);
	/* the absolute limit is not extended by activity or rotation */
	advance_s(&off, 43200 - off);
	assert_int_equal(pp_auth_session_get(f->a, tok2, true, &r), PP_EAUTH);

	/* rotation changes state, e.g. mfa → full */
	pp_clock_set_offset_ms(0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, tok, &s, NULL, NULL), 0);
	assert_int_equal(pp_auth_session_rotate(f->a, tok, PP_SESSION_MFA, tok2, &r), 0);
	assert_int_equal(r.state, PP_SESSION_MFA);
	assert_int_equal(pp_auth_session_get(f->a, tok2, false, &r), 0);
	assert_int_equal(r.state, PP_SESSION_MFA);
	assert_int_equal(pp_auth_session_rotate(f->a, tok2, (enum pp_session_state)7, tok3, &r),
	                 PP_EINVAL);
}

static void test_logout(void **state)
{
	fx *f = *state;
	int64_t id = add_user(f, USER, GOOD_PW);
	char t1[PP_AUTH_TOKEN_LEN + 1], t2[PP_AUTH_TOKEN_LEN + 1], t3[PP_AUTH_TOKEN_LEN + 1];
	pp_session s;

	assert_int_equal(login(f, USER, GOOD_PW, NULL, t1, NULL, NULL, NULL), 0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, t2, NULL, NULL, NULL), 0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, t3, NULL, NULL, NULL), 0);
	assert_int_equal(pp_auth_logout(f->a, t1), 0);
	assert_int_equal(pp_auth_session_get(f->a, t1, false, &s), PP_EAUTH);
	assert_int_equal(pp_auth_session_get(f->a, t2, false, &s), 0);
	assert_int_equal(pp_auth_logout(f->a, t1), PP_ENOTFOUND);
	assert_int_equal(pp_auth_logout(f->a, "not-a-token"), PP_ENOTFOUND);
	assert_int_equal(pp_auth_logout_user(f->a, id), 0);
	assert_int_equal(pp_auth_session_get(f->a, t2, false, &s), PP_EAUTH);
	assert_int_equal(pp_auth_session_get(f->a, t3, false, &s), PP_EAUTH);
}

/* ---- the hashing queue ---- */

typedef struct bg_login {
	fx *f;
	int rc;
} bg_login;

static void *bg(void *arg)
{
	bg_login *b = arg;
	b->rc = login(b->f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL);
	return NULL;
}

static void test_queue_full(void **state)
{
	fx *f = *state;
	pthread_t th;
	bg_login b = {f, 1};
	int64_t id = 0;
	struct timespec t0, t1;

	f->cfg.auth_hash_threads = 1;
	f->cfg.auth_hash_queue_max = 1;
	reopen(f);
	add_user(f, USER, GOOD_PW);
	pp_auth_pool_hold(f->a->pool, true);
	assert_int_equal(pthread_create(&th, NULL, bg, &b), 0);
	for (int i = 0; i < 5000 && pp_auth_pool_queued(f->a->pool) < 1; i++)
		usleep(1000);
	assert_int_equal(pp_auth_pool_queued(f->a->pool), 1);
	/* full: refused at once, not after waiting */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), PP_EBUSY);
	assert_int_equal(login(f, "nobody", GOOD_PW, NULL, NULL, NULL, NULL, NULL), PP_EBUSY);
	assert_int_equal(pp_auth_user_add(f->a, "carol@example.org", GOOD_PW, "nurse", 0, &id),
	                 PP_EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 500);
	/* EBUSY is not a failed attempt: nothing was locked */
	pp_auth_pool_hold(f->a->pool, false);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
}

/* ---- the real parameters ---- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_real_parameters(void **state)
{
	fx *f = *state;
	pp_config def;
	uint8_t bidx[32];
	pp_store_user u;
	struct timespec t0;
	double known = 0, unknown = 0;

	/* an account made under cheaper parameters is upgraded at its next sign-in */
	int64_t id = add_user(f, USER, GOOD_PW);
	pp_config_defaults(&def, f->dir);
	assert_int_equal(def.auth_argon2_m_kib, 19456);
	assert_int_equal(def.auth_argon2_t, 2);
	assert_int_equal(def.auth_argon2_p, 1);
	f->cfg.auth_argon2_m_kib = def.auth_argon2_m_kib;
	f->cfg.auth_argon2_t = def.auth_argon2_t;
	f->cfg.auth_argon2_p = def.auth_argon2_p;
	f->cfg.auth_lockout_threshold = 100;
	reopen(f);
	assert_int_equal(login(f, USER, GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(pp_crypto_blind_index(f->c, "username", USER, bidx), 0);
	assert_int_equal(pp_store_user_find(f->st, bidx, &u), 0);
	assert_true(u.id == id);
	assert_true(strncmp(u.pw_hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	pp_store_user_clear(&u);
	/* new accounts get them directly */
	add_user(f, "dave@example.org", GOOD_PW);
	assert_int_equal(login(f, "dave@example.org", GOOD_PW, NULL, NULL, NULL, NULL, NULL), 0);
	/* an unknown user costs a full hash too (a missing dummy hash would be ~100x faster) */
	for (int i = 0; i < 3; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(login(f, USER, "wrong password here", NULL, NULL, NULL, NULL, NULL),
		                 PP_EAUTH);
		known += ms_since(&t0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(login(f, "ghost@example.org", "wrong password here", NULL, NULL, NULL,
		                       NULL, NULL), PP_EAUTH);
		unknown += ms_since(&t0);
	}
	print_message("argon2id m=19456 t=2: wrong password %.1f ms, unknown user %.1f ms\n",
	              known / 3, unknown / 3);
	assert_true(unknown > known * 0.3);
	assert_true(known > 3.0 * 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_uniform_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user_locks_like_real, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mfa_failures_survive_relogin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_absolute_and_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_parameters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
