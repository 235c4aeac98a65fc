/*
 * auth/: module set-up, the password policy, account creation and the password step of login with
 * its account lockout and per-IP throttling. Sessions live in session.c, TOTP and recovery codes in
 * mfa.c, the Argon2id pool in hash_pool.c.
 */
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define USERNAME_MAX 254          /* an e-mail address fits */
#define THROTTLE_CAPACITY 16384   /* source addresses tracked at once */
#define USERNAME_MIN_CHECK 3      /* shorter usernames are not searched for inside passwords */

/* ---- password policy ---- */

static int cmp_str(const void *key, const void *elem)
{
	return strcmp((const char *)key, *(const char *const *)elem);
}

static bool in_list(const char *lower)
{
	return lower[0] && bsearch(lower, pp_auth_common_passwords, pp_auth_common_passwords_n,
	                           sizeof pp_auth_common_passwords[0], cmp_str) != NULL;
}

static void ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (unsigned char)ch >= 0x80;
}

/* s (length n) made of one unit repeated: "abcabcabc"; *unit gets the unit's length */
static bool repeated(const char *s, size_t n, size_t *unit)
{
	for (size_t u = 1; u <= n / 2; u++) {
		size_t i;
		if (n % u)
			continue;
		for (i = u; i < n && s[i] == s[i - u]; i++)
			;
		if (i == n) {
			*unit = u;
			return true;
		}
	}
	return false;
}

/* "abcdefghijkl", "123456789012", "987654321098": each character one after the previous */
static bool sequential(const char *s, size_t n)
{
	int dir = 0;

	for (size_t i = 1; i < n; i++) {
		int d = (unsigned char)s[i] - (unsigned char)s[i - 1];
		if (s[i - 1] == '9' && s[i] == '0')
			d = 1;
		else if (s[i - 1] == '0' && s[i] == '9')
			d = -1;
		if ((d != 1 && d != -1) || (dir && d != dir))
			return false;
		dir = d;
	}
	return n > 1;
}

/* a list word as such or repeated ("passwordpassword"), a run ("123456789012"), or any very
 * short unit repeated ("aaaaaaaaaaaa", "abababababab"); is_common also tries the word without
 * the digits and symbols around it ("password2024!") */
static bool common_form(char *lower, size_t n)
{
	size_t unit;
	bool hit = false;

	if (in_list(lower) || sequential(lower, n))
		return true;
	if (repeated(lower, n, &unit)) {
		char save = lower[unit];
		lower[unit] = '\0';
		hit = unit <= 2 || in_list(lower);
		lower[unit] = save;
	}
	return hit;
}

static bool is_common(char *lower)
{
	size_t n = strlen(lower), b = 0, e = n;
	bool hit;
	char save;

	if (common_form(lower, n))
		return true;
	while (b < n && !is_alpha(lower[b]))
		b++;
	while (e > b && !is_alpha(lower[e - 1]))
		e--;
	if (e - b < 3 || (b == 0 && e == n))
		return false;
	save = lower[e];
	lower[e] = '\0';
	hit = common_form(lower + b, e - b);
	lower[e] = save;
	return hit;
}

/* characters, not bytes: a UTF-8 continuation byte does not count */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static bool contains_username(const char *lower_pw, const char *username)
{
	char u[USERNAME_MAX + 1];
	size_t b = 0, n = strlen(username), e = n;
	const char *at;
	bool hit = false;

	while (b < n && (username[b] == ' ' || username[b] == '\t'))
		b++;
	while (e > b && (username[e - 1] == ' ' || username[e - 1] == '\t'))
		e--;
	if (e - b > USERNAME_MAX || e - b < USERNAME_MIN_CHECK)
		return false;
	memcpy(u, username + b, e - b);
	u[e - b] = '\0';
	ascii_lower(u);
	if (strstr(lower_pw, u))
		hit = true;
	/* an e-mail address: its local part alone counts too */
	if (!hit && (at = strchr(u, '@')) && at - u >= USERNAME_MIN_CHECK) {
		u[at - u] = '\0';
		hit = strstr(lower_pw, u) != NULL;
	}
	pp_wipe(u, sizeof u);
	return hit;
}

int pp_auth_password_policy(pp_auth *a, const char *password, const char *username,
                            const char **why)
{
	char *lower = NULL;
	size_t len;
	int ret = PP_EINVAL;
	const char *reason = "invalid";

	if (!a || !password)
		goto out;
	len = strlen(password);
	if (utf8_chars(password) < (size_t)a->cfg.auth_password_min_length) {
		reason = "too-short";
		goto out;
	}
	if (len > PP_AUTH_PASSWORD_MAX) {
		reason = "too-long";
		goto out;
	}
	ret = PP_ENOMEM;
	if (!(lower = pp_strdup(password)))
		goto out;
	ascii_lower(lower);
	ret = PP_EINVAL;
	if (username && contains_username(lower, username)) {
		reason = "contains-username";
		goto out;
	}
	if (is_common(lower)) {
		reason = "common";
		goto out;
	}
	ret = 0;
	reason = NULL;
out:
	if (lower) {
		pp_wipe(lower, strlen(lower));
		free(lower);
	}
	if (why)
		*why = reason;
	return ret;
}

/* ---- accounts ---- */

static int username_index(pp_auth *a, const char *username, uint8_t bidx[32])
{
	size_t n;

	if (!username || !(n = strlen(username)) || n > USERNAME_MAX)
		return PP_EINVAL;
	return pp_crypto_blind_index(a->c, "username", username, bidx);
}

static bool role_ok(const char *role)
{
	size_t n = role ? strlen(role) : 0;

	if (n == 0 || n >= sizeof(((pp_session *)0)->role))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((role[i] >= 'a' && role[i] <= 'z') || role[i] == '_' || role[i] == '-'))
			return false;
	return true;
}

int pp_auth_user_find(pp_auth *a, const char *username, int64_t *user_id)
{
	pp_store_user u;
	uint8_t bidx[32];
	int ret;

	memset(&u, 0, sizeof u);
	if (!a || !user_id)
		return PP_EINVAL;
	*user_id = 0;
	if ((ret = username_index(a, username, bidx)) < 0)
		return ret;
	if ((ret = pp_store_user_find(a->st, bidx, &u)) == 0)
		*user_id = u.id;
	pp_store_user_clear(&u);
	return ret;
}

int pp_auth_user_add(pp_auth *a, const char *username, const char *password, const char *role,
                     int64_t patient_id, int64_t *user_id)
{
	pp_store_user u;
	const char *why = NULL;
	int64_t existing = 0;
	int ret = PP_EINVAL;
	bool is_patient;

	memset(&u, 0, sizeof u);
	if (user_id)
		*user_id = 0;
	if (!a || !username || !password || !role_ok(role) || patient_id < 0)
		goto out;
	is_patient = strcmp(role, "patient") == 0;
	if (is_patient != (patient_id != 0))   /* patients, and only they, link a Patient record */
		goto out;
	if ((ret = username_index(a, username, u.username_bidx)) < 0)
		goto out;
	if ((ret = pp_auth_password_policy(a, password, username, &why)) < 0) {
		pp_log_info("auth: password refused by policy (%s)", why ? why : "?");
		goto out;
	}
	/* cheap duplicate check before paying for a hash; the UNIQUE index still decides */
	ret = pp_auth_user_find(a, username, &existing);
	if (ret == 0) {
		ret = PP_EEXISTS;
		goto out;
	}
	if (ret != PP_ENOTFOUND)
		goto out;
	if ((ret = pp_auth_pool_hash(a->pool, password, strlen(password), u.pw_hash)) < 0)
		goto out;
	u.id = pp_store_new_id();
	if ((ret = pp_crypto_seal(a->c, "user_account", "username", u.id, username,
	                          strlen(username), &u.username_enc, &u.username_enc_len)) < 0)
		goto out;
	memcpy(u.role, role, strlen(role) + 1);
	u.patient_id = patient_id;
	memcpy(u.status, "active", sizeof "active");
	u.created_ms = pp_clock_now_ms();
	if ((ret = pp_store_user_insert(a->st, &u)) < 0)
		goto out;
	if (user_id)
		*user_id = u.id;
	pp_log_info("auth: user %lld created (role %s)", (long long)u.id, role);
out:
	pp_store_user_clear(&u);
	return ret;
}

/* ---- lockout ---- */

static int retry_secs(int64_t until_ms, int64_t now_ms)
{
	int64_t left = until_ms - now_ms;
	return left <= 0 ? 1 : (int)((left + 999) / 1000);
}

int pp_auth_account_locked(pp_auth *a, const pp_store_user *u, int64_t now_ms,
                           int *retry_after_s)
{
	(void)a;
	if (u->locked_until_ms > now_ms) {
		if (retry_after_s)
			*retry_after_s = retry_secs(u->locked_until_ms, now_ms);
		return PP_ELOCKED;
	}
	return 0;
}

int pp_auth_account_fail(pp_auth *a, int64_t user_id, int64_t now_ms, int *retry_after_s)
{
	int count = 0, ret;
	int64_t until = 0;

	ret = pp_store_user_record_failure(a->st, user_id, a->cfg.auth_lockout_threshold,
	                                   now_ms + (int64_t)a->cfg.auth_lockout_seconds * 1000,
	                                   &count, &until);
	if (ret < 0)
		return ret;
	if (until > now_ms) {
		pp_log_warn("auth: user %lld locked for %d s after repeated failures",
		            (long long)user_id, a->cfg.auth_lockout_seconds);
		if (retry_after_s)
			*retry_after_s = retry_secs(until, now_ms);
		return PP_ELOCKED;
	}
	return 0;
}

int pp_auth_account_ok(pp_auth *a, const pp_store_user *u)
{
	if (u->failed_count == 0 && u->locked_until_ms == 0)
		return 0;
	return pp_store_user_set_lock(a->st, u->id, 0, 0);
}

/* ---- login ---- */

/* the stored hash was made with other Argon2 parameters than the configured ones */
static bool needs_rehash(pp_auth *a, const char *encoded)
{
	char want[80];
	int n = snprintf(want, sizeof want, "$argon2id$v=19$m=%d,t=%d,p=%d$",
	                 a->cfg.auth_argon2_m_kib, a->cfg.auth_argon2_t, a->cfg.auth_argon2_p);
	return n > 0 && (size_t)n < sizeof want && strncmp(encoded, want, (size_t)n) != 0;
}

static enum pp_session_state state_after_password(pp_auth *a, const pp_store_user *u)
{
	bool required = strcmp(u->role, "patient") == 0 ? a->cfg.auth_mfa_required_patients
	                                                : a->cfg.auth_mfa_required_staff;
	if (u->mfa_enabled)
		return PP_SESSION_MFA;
	return required ? PP_SESSION_ENROL : PP_SESSION_FULL;
}

int pp_auth_login(pp_auth *a, const char *username, const char *password, const char *ip,
                  char token_out[PP_AUTH_TOKEN_LEN + 1], pp_session *sess, int64_t *user_id,
                  int *retry_after_s)
{
	pp_store_user u;
	uint8_t bidx[32];
	size_t pwlen;
	int64_t now;
	int ret, vr, retry = 0;
	bool found = false;
	enum pp_session_state state;

	memset(&u, 0, sizeof u);
	memset(bidx, 0, sizeof bidx);
	if (user_id)
		*user_id = 0;
	if (retry_after_s)
		*retry_after_s = 0;
	if (sess)
		memset(sess, 0, sizeof *sess);
	if (token_out)
		token_out[0] = '\0';
	ret = PP_EINVAL;
	if (!a || !username || !password || !token_out)
		goto out;
	now = pp_clock_now_ms();
	/* a throttled source is refused before any hashing: that is the point of throttling */
	if ((ret = pp_auth_throttle_check(a->thr, ip, now, &retry)) < 0)
		goto out;
	pwlen = strlen(password);
	if (username_index(a, username, bidx) == 0) {
		ret = pp_store_user_find(a->st, bidx, &u);
		if (ret < 0 && ret != PP_ENOTFOUND)
			goto out;
		found = ret == 0;
	}
	if (pwlen > PP_AUTH_PASSWORD_MAX) {   /* no account has such a password */
		vr = PP_EAUTH;
	} else {
		/* an unknown user costs the same hash, against a dummy, so timing tells nothing */
		vr = pp_auth_pool_verify(a->pool, found ? u.pw_hash : a->dummy_hash, password, pwlen);
		if (vr != 0 && vr != PP_EAUTH) {
			ret = vr;   /* PP_EBUSY (queue full) or PP_ENOMEM: not a failed attempt */
			goto out;
		}
	}
	now = pp_clock_now_ms();
	if (!found) {
		/* an unknown name fails and locks exactly like an account would, so "locked" does
		 * not reveal that an account exists */
		pp_auth_throttle_fail(a->thr, ip, now);
		pp_auth_throttle_fail_key(a->ghosts, bidx, now);
		ret = pp_auth_throttle_check_key(a->ghosts, bidx, now, &retry) < 0 ? PP_ELOCKED : PP_EAUTH;
		goto out;
	}
	if (user_id)
		*user_id = u.id;
	/* a locked account answers "locked" even to the right password */
	if ((ret = pp_auth_account_locked(a, &u, now, &retry)) < 0) {
		if (vr != 0)
			pp_auth_throttle_fail(a->thr, ip, now);
		goto out;
	}
	if (vr != 0) {
		pp_auth_throttle_fail(a->thr, ip, now);
		ret = pp_auth_account_fail(a, u.id, now, &retry);
		if (ret != PP_ELOCKED)
			ret = PP_EAUTH;
		goto out;
	}
	if (strcmp(u.status, "active") != 0) {
		ret = PP_EAUTH;
		goto out;
	}
	if (needs_rehash(a, u.pw_hash)) {   /* parameters were raised: upgrade while we can */
		char fresh[PP_AUTH_HASH_MAX];
		if (pp_auth_pool_hash(a->pool, password, pwlen, fresh) == 0 &&
		    pp_store_user_set_password(a->st, u.id, fresh) == 0)
			pp_log_info("auth: user %lld password hash upgraded", (long long)u.id);
		pp_wipe(fresh, sizeof fresh);
	}
	state = state_after_password(a, &u);
	/* the failure count survives the password step while a TOTP code is still due, so that
	 * logging in again cannot reset the budget for guessing codes */
	if (state != PP_SESSION_MFA && (ret = pp_auth_account_ok(a, &u)) < 0)
		goto out;
	ret = pp_auth_session_create(a, &u, state, 0, token_out, sess);
out:
	if (ret == PP_ELOCKED && retry_after_s)
		*retry_after_s = retry > 0 ? retry : 1;
	pp_store_user_clear(&u);
	pp_wipe(bidx, sizeof bidx);
	return ret;
}

/* ---- set-up ---- */

int pp_auth_open(pp_auth **out, const pp_config *cfg, struct pp_store *st, struct pp_crypto *c)
{
	pp_auth *a = NULL;
	uint8_t rnd[32];
	char dummy_pw[2 * sizeof rnd + 1];
	bool oath = false;
	int ret = PP_EINVAL;

	if (!out || !cfg || !st || !c)
		goto out;
	*out = NULL;
	ret = PP_ECONFIG;
	if (cfg->auth_hash_threads < 1 || cfg->auth_hash_queue_max < 1 ||
	    cfg->auth_argon2_m_kib < 8 * cfg->auth_argon2_p || cfg->auth_argon2_t < 1 ||
	    cfg->auth_argon2_p < 1 || cfg->auth_lockout_threshold < 1 ||
	    cfg->auth_lockout_seconds < 1 || cfg->auth_ip_max_failures < 1 ||
	    cfg->auth_ip_window_s < 1 || cfg->session_idle_timeout_s < 1 ||
	    cfg->session_absolute_timeout_s < 1 || cfg->auth_password_min_length < 1)
		goto out;
	ret = PP_ENOMEM;
	if (!(a = calloc(1, sizeof *a)))
		goto out;
	a->cfg = *cfg;
	a->st = st;
	a->c = c;
	ret = PP_ECRYPTO;
	if (oath_init() != OATH_OK)
		goto out;
	oath = true;
	if ((ret = pp_auth_pool_new(&a->pool, cfg->auth_hash_threads, cfg->auth_hash_queue_max,
	                            (uint32_t)cfg->auth_argon2_m_kib, (uint32_t)cfg->auth_argon2_t,
	                            (uint32_t)cfg->auth_argon2_p)) < 0)
		goto out;
	if ((ret = pp_auth_throttle_new(&a->thr, THROTTLE_CAPACITY, cfg->auth_ip_max_failures,
	                                cfg->auth_ip_window_s)) < 0)
		goto out;
	if ((ret = pp_auth_throttle_new(&a->ghosts, THROTTLE_CAPACITY, cfg->auth_lockout_threshold,
	                                cfg->auth_lockout_seconds)) < 0)
		goto out;
	/* the dummy hash has the configured cost and a password nobody knows */
	ret = PP_ECRYPTO;
	if (pp_random(rnd, sizeof rnd) != 0)
		goto out;
	pp_hex_encode(rnd, sizeof rnd, dummy_pw);
	if ((ret = pp_auth_pool_hash(a->pool, dummy_pw, strlen(dummy_pw), a->dummy_hash)) < 0)
		goto out;
	*out = a;
	a = NULL;
	oath = false;
	ret = 0;
out:
	pp_wipe(rnd, sizeof rnd);
	pp_wipe(dummy_pw, sizeof dummy_pw);
	if (a) {
		pp_auth_pool_free(a->pool);
		pp_auth_throttle_free(a->thr);
		pp_auth_throttle_free(a->ghosts);
		free(a);
	}
	if (oath)
		oath_done();
	return ret;
}

void pp_auth_close(pp_auth *a)
{
	if (!a)
		return;
	pp_auth_pool_free(a->pool);
	pp_auth_throttle_free(a->thr);
	pp_auth_throttle_free(a->ghosts);
	oath_done();
	pp_wipe(a, sizeof *a);
	free(a);
}
