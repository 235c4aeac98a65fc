/*
 * auth — identities, passwords (Argon2id on a bounded hashing pool, off the request threads),
 * common-password rejection, lockout and per-IP throttling, TOTP MFA (liboath) with enrolment QR
 * codes (libqrencode) and one-time recovery codes, and server-side sessions (only the token's hash
 * is stored; idle and absolute timeouts; rotation at login and MFA; CSRF token per session).
 */
#ifndef PP_AUTH_H
#define PP_AUTH_H

#include "core/core.h"

struct pp_store;
struct pp_crypto;
typedef struct pp_auth pp_auth;

#define PP_AUTH_TOKEN_LEN 43      /* base64url of 32 random bytes */
#define PP_AUTH_RECOVERY_CODES 10
#define PP_AUTH_RECOVERY_LEN 20   /* "xxxx-xxxx-xxxx-xxxx" + NUL */

int pp_auth_open(pp_auth **out, const pp_config *cfg, struct pp_store *st, struct pp_crypto *c);
void pp_auth_close(pp_auth *a);

/* PP_EINVAL with a reason code ("too-short", "common", "contains-username") in *why */
int pp_auth_password_policy(pp_auth *a, const char *password, const char *username,
                            const char **why);
/* Creates an account (password checked against the policy). role: "patient", "clinician",
 * "nurse", "admin", ... patient_id: Patient row id for patients, else 0. */
int pp_auth_user_add(pp_auth *a, const char *username, const char *password, const char *role,
                     int64_t patient_id, int64_t *user_id);

enum pp_session_state { PP_SESSION_MFA = 1, PP_SESSION_ENROL = 2, PP_SESSION_FULL = 3 };
typedef struct pp_session {
	char id[24];              /* opaque handle for audit: first 16 hex chars of the token hash */
	int64_t user_id;
	char role[24];
	int64_t patient_id;
	enum pp_session_state state;
	char csrf[64];
	int64_t created_ms, last_seen_ms;
	int64_t idle_expires_ms, absolute_expires_ms;
} pp_session;

/* Verifies username+password (hashing off the request thread). On success creates a session in
 * state MFA (TOTP enrolled) or ENROL (MFA required, not yet enrolled) or FULL (MFA not required)
 * and writes its token to token_out. Failures return PP_EAUTH (uniform: unknown user and bad
 * password look the same, and take the same time), PP_ELOCKED (account or IP locked/throttled,
 * *retry_after_s set) or PP_EBUSY (hashing queue full). *user_id is set when the user exists (for
 * the audit record), else 0. */
int pp_auth_login(pp_auth *a, const char *username, const char *password, const char *ip,
                  char token_out[PP_AUTH_TOKEN_LEN + 1], pp_session *sess, int64_t *user_id,
                  int *retry_after_s);
/* Looks up a session by token; enforces idle and absolute timeouts (an expired session is deleted
 * and PP_EAUTH returned); refreshes last-seen unless touch is false. */
int pp_auth_session_get(pp_auth *a, const char *token, bool touch, pp_session *out);
/* Replaces the session with a new token (new id, new CSRF token) in the given state. */
int pp_auth_session_rotate(pp_auth *a, const char *old_token, enum pp_session_state state,
                           char token_out[PP_AUTH_TOKEN_LEN + 1], pp_session *out);
int pp_auth_logout(pp_auth *a, const char *token);
int pp_auth_logout_user(pp_auth *a, int64_t user_id);   /* all sessions of a user */

/* TOTP enrolment: new secret (stored encrypted, not yet enabled); returns the otpauth:// URI and
 * an SVG QR code of it (both malloc'd). */
int pp_auth_mfa_enrol_start(pp_auth *a, int64_t user_id, const char *issuer, char **uri,
                            char **qr_svg);
/* Confirms with a current code, enables MFA and returns fresh recovery codes. */
int pp_auth_mfa_enrol_confirm(pp_auth *a, int64_t user_id, const char *code,
                              char codes[PP_AUTH_RECOVERY_CODES][PP_AUTH_RECOVERY_LEN]);
/* RFC 6238, 30 s steps, 6 digits, ±1 step; a code (time step) already used is refused. Failures
 * count toward the account lockout. */
int pp_auth_mfa_verify(pp_auth *a, int64_t user_id, const char *code);
int pp_auth_mfa_recover(pp_auth *a, int64_t user_id, const char *recovery_code,
                        int *remaining);

/* username lookup helper for the shell (user add); PP_ENOTFOUND if absent */
int pp_auth_user_find(pp_auth *a, const char *username, int64_t *user_id);

#endif
