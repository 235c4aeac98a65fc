/*
 * Server-side sessions. The client holds a 256-bit random token; the database holds only its
 * SHA-256, so a copy of the database does not let anyone ride a session. Every lookup enforces the
 * idle and the absolute timeout; rotation replaces the token (login → MFA → full) while keeping
 * the creation time, so the absolute limit counts from the first sign-in.
 */
#include <string.h>

#include "auth/auth_internal.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define RAW_LEN 32
#define TOUCH_EVERY_MS 1000

static const char *state_name(enum pp_session_state s)
{
	switch (s) {
	case PP_SESSION_MFA: return "mfa";
	case PP_SESSION_ENROL: return "enrol";
	case PP_SESSION_FULL: return "full";
	}
	return NULL;
}

static int state_parse(const char *name, enum pp_session_state *out)
{
	if (!strcmp(name, "mfa"))
		*out = PP_SESSION_MFA;
	else if (!strcmp(name, "enrol"))
		*out = PP_SESSION_ENROL;
	else if (!strcmp(name, "full"))
		*out = PP_SESSION_FULL;
	else
		return PP_EINVAL;
	return 0;
}

/* well-formed token → its hash; anything else is simply not a session */
static int token_hash(const char *token, uint8_t out[32])
{
	size_t i;

	if (!token)
		return PP_EAUTH;
	for (i = 0; token[i] && i <= PP_AUTH_TOKEN_LEN; i++) {
		char ch = token[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_'))
			return PP_EAUTH;
	}
	if (i != PP_AUTH_TOKEN_LEN)
		return PP_EAUTH;
	return pp_crypto_sha256(token, PP_AUTH_TOKEN_LEN, out) == 0 ? 0 : PP_ECRYPTO;
}

static int random_b64(char *out, size_t cap)
{
	uint8_t raw[RAW_LEN];
	char tmp[((RAW_LEN + 2) / 3) * 4 + 1];
	int ret = PP_ECRYPTO;

	if (pp_random(raw, sizeof raw) != 0)
		goto out;
	pp_b64url_encode(raw, sizeof raw, tmp);
	ret = PP_ETOOBIG;
	if (strlen(tmp) != PP_AUTH_TOKEN_LEN || cap <= PP_AUTH_TOKEN_LEN)
		goto out;
	memcpy(out, tmp, PP_AUTH_TOKEN_LEN + 1);
	ret = 0;
out:
	pp_wipe(raw, sizeof raw);
	pp_wipe(tmp, sizeof tmp);
	return ret;
}

static void fill(pp_auth *a, const pp_store_session *ss, const pp_store_user *u,
                 enum pp_session_state state, pp_session *out)
{
	memset(out, 0, sizeof *out);
	pp_hex_encode(ss->token_hash, 8, out->id);
	out->user_id = u->id;
	memcpy(out->role, u->role, sizeof out->role);
	out->role[sizeof out->role - 1] = '\0';
	out->patient_id = u->patient_id;
	out->state = state;
	memcpy(out->csrf, ss->csrf, sizeof out->csrf);
	out->csrf[sizeof out->csrf - 1] = '\0';
	out->created_ms = ss->created_ms;
	out->last_seen_ms = ss->last_seen_ms;
	out->idle_expires_ms = ss->last_seen_ms + (int64_t)a->cfg.session_idle_timeout_s * 1000;
	out->absolute_expires_ms = ss->created_ms + (int64_t)a->cfg.session_absolute_timeout_s * 1000;
}

int pp_auth_session_create(pp_auth *a, const pp_store_user *u, enum pp_session_state state,
                           int64_t created_ms, char token_out[PP_AUTH_TOKEN_LEN + 1],
                           pp_session *out)
{
	pp_store_session ss;
	char token[PP_AUTH_TOKEN_LEN + 1];
	const char *name = state_name(state);
	int ret = PP_EINVAL;

	memset(&ss, 0, sizeof ss);
	if (!a || !u || !name || !token_out)
		goto out;
	if ((ret = random_b64(token, sizeof token)) < 0)
		goto out;
	if ((ret = token_hash(token, ss.token_hash)) < 0)
		goto out;
	if ((ret = random_b64(ss.csrf, sizeof ss.csrf)) < 0)
		goto out;
	ss.user_id = u->id;
	memcpy(ss.state, name, strlen(name) + 1);
	ss.last_seen_ms = pp_clock_now_ms();
	ss.created_ms = created_ms ? created_ms : ss.last_seen_ms;
	if ((ret = pp_store_session_insert(a->st, &ss)) < 0)
		goto out;
	memcpy(token_out, token, sizeof token);
	if (out)
		fill(a, &ss, u, state, out);
out:
	pp_wipe(token, sizeof token);
	pp_wipe(&ss, sizeof ss);
	return ret;
}

/* Loads a live session and its user. An expired session, one whose user is gone or not active,
 * or one with a state this code does not know, is deleted and reported as PP_EAUTH. */
static int load(pp_auth *a, const uint8_t hash[32], int64_t now, pp_store_session *ss,
                pp_store_user *u, enum pp_session_state *state)
{
	int ret = pp_store_session_get(a->st, hash, ss);

	if (ret == PP_ENOTFOUND)
		return PP_EAUTH;
	if (ret < 0)
		return ret;
	if (now >= ss->last_seen_ms + (int64_t)a->cfg.session_idle_timeout_s * 1000 ||
	    now >= ss->created_ms + (int64_t)a->cfg.session_absolute_timeout_s * 1000)
		goto dead;
	if (state_parse(ss->state, state) < 0)
		goto dead;
	ret = pp_store_user_get(a->st, ss->user_id, u);
	if (ret == PP_ENOTFOUND)
		goto dead;
	if (ret < 0)
		return ret;
	if (strcmp(u->status, "active") != 0) {
		pp_store_user_clear(u);
		goto dead;
	}
	return 0;
dead:
	pp_store_session_delete(a->st, hash);
	return PP_EAUTH;
}

int pp_auth_session_get(pp_auth *a, const char *token, bool touch, pp_session *out)
{
	pp_store_session ss;
	pp_store_user u;
	uint8_t hash[32];
	enum pp_session_state state;
	int64_t now;
	int ret = PP_EINVAL;

	memset(&u, 0, sizeof u);
	memset(&ss, 0, sizeof ss);
	if (out)
		memset(out, 0, sizeof *out);
	if (!a || !out)
		goto out;
	if ((ret = token_hash(token, hash)) < 0)
		goto out;
	now = pp_clock_now_ms();
	if ((ret = load(a, hash, now, &ss, &u, &state)) < 0)
		goto out;
	/* a burst of requests (one page load) costs one write, not one per request */
	if (touch && now - ss.last_seen_ms >= TOUCH_EVERY_MS) {
		if ((ret = pp_store_session_touch(a->st, hash, now)) < 0) {
			if (ret == PP_ENOTFOUND)   /* deleted meanwhile (logout) */
				ret = PP_EAUTH;
			goto out;
		}
		ss.last_seen_ms = now;
	}
	fill(a, &ss, &u, state, out);
	ret = 0;
out:
	pp_store_user_clear(&u);
	pp_wipe(&ss, sizeof ss);
	return ret;
}

int pp_auth_session_rotate(pp_auth *a, const char *old_token, enum pp_session_state state,
                           char token_out[PP_AUTH_TOKEN_LEN + 1], pp_session *out)
{
	pp_store_session ss;
	pp_store_user u;
	uint8_t hash[32];
	enum pp_session_state old_state;
	bool in_tx = false;
	int ret = PP_EINVAL;

	memset(&u, 0, sizeof u);
	memset(&ss, 0, sizeof ss);
	if (out)
		memset(out, 0, sizeof *out);
	if (token_out)
		token_out[0] = '\0';
	if (!a || !token_out || !state_name(state))
		goto out;
	if ((ret = token_hash(old_token, hash)) < 0)
		goto out;
	if ((ret = load(a, hash, pp_clock_now_ms(), &ss, &u, &old_state)) < 0)
		goto out;
	if ((ret = pp_store_begin(a->st)) < 0)
		goto out;
	in_tx = true;
	/* the delete decides: of two requests rotating the same token, only one gets a new one */
	ret = pp_store_session_delete(a->st, hash);
	if (ret == PP_ENOTFOUND)
		ret = PP_EAUTH;
	if (ret < 0)
		goto out;
	if ((ret = pp_auth_session_create(a, &u, state, ss.created_ms, token_out, out)) < 0)
		goto out;
	ret = pp_store_commit(a->st);
	in_tx = ret < 0;
out:
	if (in_tx)
		pp_store_rollback(a->st);
	if (ret < 0 && token_out) {
		pp_wipe(token_out, PP_AUTH_TOKEN_LEN + 1);
		if (out)
			memset(out, 0, sizeof *out);
	}
	pp_store_user_clear(&u);
	pp_wipe(&ss, sizeof ss);
	return ret;
}

/* PP_ENOTFOUND when there was no such session (already logged out or expired) */
int pp_auth_logout(pp_auth *a, const char *token)
{
	uint8_t hash[32];
	int ret;

	if (!a)
		return PP_EINVAL;
	if ((ret = token_hash(token, hash)) < 0)
		return ret == PP_EAUTH ? PP_ENOTFOUND : ret;
	return pp_store_session_delete(a->st, hash);
}

int pp_auth_logout_user(pp_auth *a, int64_t user_id)
{
	if (!a)
		return PP_EINVAL;
	return pp_store_session_delete_user(a->st, user_id);
}
