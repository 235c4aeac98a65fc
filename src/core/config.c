/* core: the configuration table. One table drives parsing, validation, docs/config.md, the default
 * config file written at init, and the HIPAA baseline checked by `compliance check` and `serve`. */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFF(f) offsetof(pp_config, f), sizeof(((pp_config *)0)->f)

/* baselines: NULL when safe, else the safe value */
static const char *bl_tls(const pp_config *c)
{
	return strcmp(c->tls_min_version, "1.2") == 0 || strcmp(c->tls_min_version, "1.3") == 0 ?
	       NULL : "1.2";
}
static const char *bl_idle(const pp_config *c)
{
	return c->session_idle_timeout_s <= 1800 ? NULL : "900 (at most 1800)";
}
static const char *bl_abs(const pp_config *c)
{
	return c->session_absolute_timeout_s <= 86400 ? NULL : "43200 (at most 86400)";
}
static const char *bl_mfa_staff(const pp_config *c)
{
	return c->auth_mfa_required_staff ? NULL : "true";
}
static const char *bl_audit(const pp_config *c)
{
	return c->audit_enabled ? NULL : "true";
}
static const char *bl_hsts(const pp_config *c)
{
	return c->tls_hsts_max_age >= 86400 ? NULL : "31536000 (at least 86400)";
}
static const char *bl_lockout(const pp_config *c)
{
	return c->auth_lockout_threshold <= 10 ? NULL : "5 (at most 10)";
}
static const char *bl_pwlen(const pp_config *c)
{
	return c->auth_password_min_length >= 8 ? NULL : "12 (at least 8)";
}
static const char *bl_argon(const pp_config *c)
{
	/* OWASP: m=19 MiB with t=2, or stronger */
	return c->auth_argon2_m_kib >= 19456 && c->auth_argon2_t >= 2 ? NULL :
	       "auth.argon2_m_kib >= 19456 and auth.argon2_t >= 2";
}

/* staff SSO: the issuer must be https (http only on loopback, for tests), and the MFA mode chosen */
static bool loopback_http(const char *u)
{
	static const char *const ok[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		size_t n = strlen(ok[i]);
		if (!strncmp(u, ok[i], n) && (u[n] == '\0' || u[n] == ':' || u[n] == '/'))
			return true;
	}
	return false;
}
static const char *bl_sso_issuer(const pp_config *c)
{
	if (!c->sso_enabled)
		return NULL;
	return (!strncmp(c->sso_issuer, "https://", 8) && c->sso_issuer[8]) ||
	       loopback_http(c->sso_issuer) ? NULL : "an https:// URL";
}
static const char *bl_sso_mfa(const pp_config *c)
{
	if (!c->sso_enabled)
		return NULL;
	return !strcmp(c->sso_mfa, "local") || !strcmp(c->sso_mfa, "idp") ? NULL : "local or idp";
}

/* HIPAA keeps required documentation six years (45 CFR 164.316(b)(2)): the audit trail too */
static const char *bl_audit_days(const pp_config *c)
{
	return c->retention_audit_days >= 2190 ? NULL : "2190 (at least 2190 days = 6 years, HIPAA "
	                                                "documentation retention)";
}

static const pp_config_key keys[] = {
	{"server.bind", PP_CFG_STR, OFF(server_bind), "127.0.0.1", 0, 0,
	 "Address the HTTPS listener binds to (0.0.0.0 or :: for all interfaces).", NULL},
	{"server.port", PP_CFG_INT, OFF(server_port), "8443", 1, 65535, "HTTPS port.", NULL},
	{"server.redirect_port", PP_CFG_INT, OFF(server_redirect_port), "0", 0, 65535,
	 "Plain-HTTP port that only redirects to HTTPS; 0 disables it.", NULL},
	{"server.threads", PP_CFG_INT, OFF(server_threads), "0", 0, 256,
	 "I/O threads (epoll); 0 means one per core.", NULL},
	{"server.workers", PP_CFG_INT, OFF(server_workers), "32", 1, 1024,
	 "Worker threads that run request handlers (they may wait on the audit commit).", NULL},
	{"server.public_url", PP_CFG_STR, OFF(server_public_url), "https://localhost:8443", 0, 0,
	 "The portal's public origin; used for redirects and the Origin check.", NULL},
	{"tls.min_version", PP_CFG_STR, OFF(tls_min_version), "1.2", 0, 0,
	 "Lowest TLS version accepted: 1.2 or 1.3. Only AEAD cipher suites are offered.", bl_tls},
	{"tls.cert_file", PP_CFG_STR, OFF(tls_cert_file), "tls/cert.pem", 0, 0,
	 "Server certificate chain (PEM), relative to the data directory.", NULL},
	{"tls.key_file", PP_CFG_STR, OFF(tls_key_file), "tls/key.pem", 0, 0,
	 "Server private key (PEM, mode 0600), relative to the data directory.", NULL},
	{"tls.hsts_max_age", PP_CFG_INT, OFF(tls_hsts_max_age), "31536000", 0, 63072000,
	 "Strict-Transport-Security max-age in seconds.", bl_hsts},
	{"limits.max_header_bytes", PP_CFG_INT, OFF(limits_max_header_bytes), "16384", 4096, 1048576,
	 "Memory for one connection's request line and headers.", NULL},
	{"limits.max_body_bytes", PP_CFG_INT, OFF(limits_max_body_bytes), "1048576", 1024, 67108864,
	 "Largest request body accepted by JSON endpoints.", NULL},
	{"limits.max_json_depth", PP_CFG_INT, OFF(limits_max_json_depth), "32", 4, 256,
	 "Deepest JSON nesting accepted from clients and imports.", NULL},
	{"limits.max_conn_per_ip", PP_CFG_INT, OFF(limits_max_conn_per_ip), "128", 1, 100000,
	 "Concurrent connections allowed from one IP address.", NULL},
	{"limits.conn_timeout_s", PP_CFG_INT, OFF(limits_conn_timeout_s), "30", 1, 3600,
	 "Idle connection timeout; slow clients are cut off after it.", NULL},
	{"limits.max_query_params", PP_CFG_INT, OFF(limits_max_query_params), "64", 1, 1024,
	 "Most query parameters accepted in one request.", NULL},
	{"limits.ip_rate_per_min", PP_CFG_INT, OFF(limits_ip_rate_per_min), "6000", 0, 10000000,
	 "Requests per minute from one IP address (token bucket, burst of one minute); beyond it 429 "
	 "with Retry-After. 0 turns the per-IP limit off.", NULL},
	{"server.ip_allow", PP_CFG_STR, OFF(server_ip_allow), "", 0, 0,
	 "If set, only these source addresses may connect (CIDRs, IPv4 and IPv6, space-separated).",
	 NULL},
	{"server.ip_deny", PP_CFG_STR, OFF(server_ip_deny), "", 0, 0,
	 "Source addresses refused with 403 (CIDRs, IPv4 and IPv6, space-separated).", NULL},
	{"session.idle_timeout_s", PP_CFG_INT, OFF(session_idle_timeout_s), "900", 10, 86400,
	 "A session unused for this long ends (HIPAA automatic logoff).", bl_idle},
	{"session.absolute_timeout_s", PP_CFG_INT, OFF(session_absolute_timeout_s), "43200", 10, 604800,
	 "A session ends this long after sign-in, whatever its activity.", bl_abs},
	{"policy.break_glass_minutes", PP_CFG_INT, OFF(policy_break_glass_minutes), "60", 5, 480,
	 "How long a clinician's break-glass access to a record without a care relationship lasts; "
	 "each one goes to the privacy officer's review queue.", NULL},
	{"policy.encounter_window_days", PP_CFG_INT, OFF(policy_encounter_window_days), "30", 0, 365,
	 "Clinicians and nurses linked to a Practitioner (`phiportal user link-practitioner`) read the "
	 "record of a patient whose encounter that practitioner took part in while it is ongoing and "
	 "for this many days after it ended (0: only while ongoing).", NULL},
	{"policy.adolescent_age", PP_CFG_INT, OFF(policy_adolescent_age), "12", 0, 17,
	 "From this age a parent's or guardian's proxy access no longer shows sensitive categories "
	 "(see policy.sensitive_codes) or the adolescent's messages.", NULL},
	{"policy.adult_age", PP_CFG_INT, OFF(policy_adult_age), "18", 13, 21,
	 "At this age a parent's or guardian's proxy access ends, unless the now adult patient "
	 "authorises it again.", NULL},
	{"policy.sensitive_codes", PP_CFG_STR, OFF(policy_sensitive_codes),
	 "sct|72892002 sct|19169002 sct|156073000 sct|267020005 sct|80583007 sct|370143000 "
	 "sct|36923009 sct|361055000 sct|10939881000119105 sct|706893006 sct|35489007 "
	 "icd10|F* icd10|O* icd10|Z3* icd10|A5* icd10|A60* icd10|A63* icd10|B20* "
	 "loinc|2106-3 loinc|75622-1 loinc|5221-7", 0, 0,
	 "Codes of sensitive categories (reproductive and sexual health, mental health, substance "
	 "use — 42 CFR Part 2), hidden from parents' proxy access to adolescents and from proxies "
	 "unless the patient consents: system|code, system one of sct, icd10, loinc, rxnorm; a "
	 "trailing * matches a prefix.", NULL},
	{"enrol.code_ttl_hours", PP_CFG_INT, OFF(enrol_code_ttl_hours), "72", 1, 720,
	 "How long an activation code handed to a patient after an in-person identity check stays "
	 "valid (single use).", NULL},
	{"enrol.attempts_per_min", PP_CFG_INT, OFF(enrol_attempts_per_min), "5", 1, 600,
	 "Enrolment attempts (activation code + birth date) allowed per source address per minute; "
	 "beyond that, 429 until the bucket refills, even for a correct code.", NULL},
	{"enrol.self_service", PP_CFG_BOOL, OFF(enrol_self_service), "true", 0, 0,
	 "Patients may enrol themselves: family name, given name and birth date must match exactly one "
	 "record, and a one-time code goes to the e-mail address or mobile number on that record "
	 "(assurance \"self-demographics+otp\"). Needs notify.smtp_url or notify.sms_webhook_url.",
	 NULL},
	{"enrol.self_code_ttl_min", PP_CFG_INT, OFF(enrol_self_code_ttl_min), "10", 1, 60,
	 "Minutes a self-enrolment code stays valid (single use).", NULL},
	{"enrol.self_code_attempts", PP_CFG_INT, OFF(enrol_self_code_attempts), "5", 1, 10,
	 "Code attempts allowed per self-enrolment start; beyond that even the right code is refused "
	 "and the patient starts again.", NULL},
	{"enrol.self_starts_per_min", PP_CFG_INT, OFF(enrol_self_starts_per_min), "3", 1, 600,
	 "Self-enrolment starts (each may send a code) allowed per source address per minute; beyond "
	 "that, 429 until the bucket refills.", NULL},
	{"auth.mfa_required_staff", PP_CFG_BOOL, OFF(auth_mfa_required_staff), "true", 0, 0,
	 "Staff must use multi-factor authentication.", bl_mfa_staff},
	{"auth.mfa_required_patients", PP_CFG_BOOL, OFF(auth_mfa_required_patients), "true", 0, 0,
	 "Patients must enrol and use multi-factor authentication.", NULL},
	{"auth.lockout_threshold", PP_CFG_INT, OFF(auth_lockout_threshold), "5", 1, 100,
	 "Consecutive failed sign-in attempts (password or code) that lock an account.", bl_lockout},
	{"auth.lockout_seconds", PP_CFG_INT, OFF(auth_lockout_seconds), "900", 1, 86400,
	 "How long a locked account stays locked.", NULL},
	{"auth.ip_max_failures", PP_CFG_INT, OFF(auth_ip_max_failures), "20", 1, 100000,
	 "Failed sign-ins from one IP within auth.ip_window_s before that IP is throttled.", NULL},
	{"auth.ip_window_s", PP_CFG_INT, OFF(auth_ip_window_s), "900", 1, 86400,
	 "Window for counting failed sign-ins per IP.", NULL},
	{"auth.argon2_m_kib", PP_CFG_INT, OFF(auth_argon2_m_kib), "19456", 64, 4194304,
	 "Argon2id memory cost in KiB (OWASP: 19456).", bl_argon},
	{"auth.argon2_t", PP_CFG_INT, OFF(auth_argon2_t), "2", 1, 100,
	 "Argon2id iterations (OWASP: 2).", NULL},
	{"auth.argon2_p", PP_CFG_INT, OFF(auth_argon2_p), "1", 1, 64,
	 "Argon2id parallelism (OWASP: 1).", NULL},
	{"auth.hash_threads", PP_CFG_INT, OFF(auth_hash_threads), "2", 1, 64,
	 "Threads that hash passwords, apart from the request threads.", NULL},
	{"auth.hash_queue_max", PP_CFG_INT, OFF(auth_hash_queue_max), "32", 1, 100000,
	 "Password checks waiting for a hashing thread; beyond it sign-in answers 503 busy.", NULL},
	{"auth.password_min_length", PP_CFG_INT, OFF(auth_password_min_length), "12", 4, 256,
	 "Shortest password accepted.", bl_pwlen},
	{"audit.enabled", PP_CFG_BOOL, OFF(audit_enabled), "true", 0, 0,
	 "Audit every access to PHI. The server refuses to start with it off.", bl_audit},
	{"audit.path", PP_CFG_STR, OFF(audit_path), "audit.db", 0, 0,
	 "Audit database, relative to the data directory.", NULL},
	{"audit.checkpoint_every", PP_CFG_INT, OFF(audit_checkpoint_every), "1000", 1, 10000000,
	 "Write a signed checkpoint after this many audit records.", NULL},
	{"audit.checkpoint_seconds", PP_CFG_INT, OFF(audit_checkpoint_seconds), "60", 1, 86400,
	 "Write a signed checkpoint at least this often while records arrive.", NULL},
	{"audit.group_commit", PP_CFG_BOOL, OFF(audit_group_commit), "true", 0, 0,
	 "Let concurrent requests share one audit commit (each still waits for durability).", NULL},
	{"store.backend", PP_CFG_STR, OFF(store_backend), "sqlite", 0, 0,
	 "Storage backend: sqlite.", NULL},
	{"store.path", PP_CFG_STR, OFF(store_path), "phiportal.db", 0, 0,
	 "SQLite database, relative to the data directory.", NULL},
	{"crypto.key_file", PP_CFG_STR, OFF(crypto_key_file), "keys/master.key", 0, 0,
	 "Key-encryption key file (32 bytes, mode 0600), relative to the data directory.", NULL},
	{"log.level", PP_CFG_STR, OFF(log_level), "info", 0, 0,
	 "debug, info, warn or error. Logs never hold PHI.", NULL},
	{"oauth.access_token_lifetime_s", PP_CFG_INT, OFF(oauth_access_token_lifetime_s), "300", 30,
	 3600, "Lifetime of OAuth access tokens (opaque bearer tokens for /fhir) in seconds.", NULL},
	{"oauth.refresh_token_lifetime_s", PP_CFG_INT, OFF(oauth_refresh_token_lifetime_s), "2592000",
	 300, 31536000, "Lifetime of OAuth refresh tokens (offline_access/online_access) in seconds; "
	 "each refresh rotates the token.", NULL},
	{"oauth.id_token_alg", PP_CFG_STR, OFF(oauth_id_token_alg), "RS256", 0, 0,
	 "Signature algorithm of OpenID Connect ID tokens: RS256 or ES256.", NULL},
	{"oauth.jwks_ca_file", PP_CFG_STR, OFF(oauth_jwks_ca_file), "", 0, 0,
	 "CA bundle (PEM) trusted when fetching backend clients' keys from their jwks_uri (HTTPS "
	 "only, certificate verified), relative to the data directory; empty means the system's trust "
	 "store.", NULL},
	{"oauth.anomaly_min_reads", PP_CFG_INT, OFF(oauth_anomaly_min_reads), "2000", 1, 100000000,
	 "A client is flagged for review when it receives more FHIR records in an hour than this and "
	 "than oauth.anomaly_factor times its usual hourly rate.", NULL},
	{"oauth.anomaly_factor", PP_CFG_INT, OFF(oauth_anomaly_factor), "10", 1, 1000,
	 "How many times its usual hourly reads make a client's hour anomalous.", NULL},
	{"oauth.anomaly_suspend", PP_CFG_BOOL, OFF(oauth_anomaly_suspend), "false", 0, 0,
	 "Suspend a flagged client at once (its tokens stop working) instead of only flagging it.",
	 NULL},
	{"files.max_bytes", PP_CFG_INT, OFF(files_max_bytes), "26214400", 1024, 1073741824,
	 "Largest file an upload may carry, in bytes. A larger declared Content-Length is refused (413) "
	 "before the body is read; a body that grows past it is cut off; nothing is stored.", NULL},
	{"files.allowed_types", PP_CFG_STR, OFF(files_allowed_types),
	 "application/pdf,image/png,image/jpeg,text/plain", 0, 0,
	 "Comma-separated MIME types an upload may have, as sniffed from its content by libmagic (the "
	 "declared type and the file name are not trusted). Executables are always refused.", NULL},
	{"files.clamd_socket", PP_CFG_STR, OFF(files_clamd_socket), "/run/clamav/clamd.ctl", 0, 0,
	 "Where ClamAV's clamd listens: a unix socket path, or host:port. Every upload is streamed to "
	 "it (INSTREAM) as it arrives.", NULL},
	{"files.scan_mode", PP_CFG_STR, OFF(files_scan_mode), "refuse", 0, 0,
	 "What an upload does when clamd cannot give a verdict: \"refuse\" (fail closed), or "
	 "\"quarantine\" (stored but not downloadable until `phiportal files rescan` finds it clean). "
	 "Never accepted unscanned.", NULL},
	{"files.scan_timeout_s", PP_CFG_INT, OFF(files_scan_timeout_s), "60", 1, 3600,
	 "How long a send to clamd or its verdict may take before the scan counts as failed.", NULL},
	{"notify.smtp_url", PP_CFG_STR, OFF(notify_smtp_url), "", 0, 0,
	 "Mail server for e-mail notices: smtp://HOST:PORT (STARTTLS required: a server that does not "
	 "offer it gets nothing) or smtps://HOST:PORT; empty turns e-mail notices off.", NULL},
	{"notify.smtp_ca_file", PP_CFG_STR, OFF(notify_smtp_ca_file), "", 0, 0,
	 "CA bundle (PEM) trusted for the mail server's certificate, relative to the data directory; "
	 "empty means the system's trust store.", NULL},
	{"notify.smtp_username", PP_CFG_STR, OFF(notify_smtp_username), "", 0, 0,
	 "SMTP AUTH user name (only ever sent over TLS); empty: no authentication.", NULL},
	{"notify.smtp_password_file", PP_CFG_STR, OFF(notify_smtp_password_file), "", 0, 0,
	 "File holding the SMTP AUTH password (one line, mode 0600), relative to the data directory; "
	 "the password itself never goes in phiportal.conf.", NULL},
	{"notify.mail_from", PP_CFG_STR, OFF(notify_mail_from), "no-reply@example.org", 0, 0,
	 "Sender of e-mail notices (From header and envelope sender).", NULL},
	{"notify.sms_webhook_url", PP_CFG_STR, OFF(notify_sms_webhook_url), "", 0, 0,
	 "SMS gateway webhook (https:// only, certificate verified, no redirects) that receives a JSON "
	 "POST {\"to\": \"+15555550123\", \"text\": \"...\"}; empty turns SMS notices off.", NULL},
	{"notify.sms_ca_file", PP_CFG_STR, OFF(notify_sms_ca_file), "", 0, 0,
	 "CA bundle (PEM) trusted for the SMS gateway's certificate, relative to the data directory; "
	 "empty means the system's trust store.", NULL},
	{"notify.sms_token_file", PP_CFG_STR, OFF(notify_sms_token_file), "", 0, 0,
	 "File holding a bearer token sent to the SMS gateway as Authorization: Bearer (one line, mode "
	 "0600), relative to the data directory; empty: none.", NULL},
	{"notify.portal_url", PP_CFG_STR, OFF(notify_portal_url), "", 0, 0,
	 "The link in every notice ({portal_url}): the portal's sign-in page (https, no query or "
	 "fragment, so it can carry no identifier); empty means server.public_url followed by /.",
	 NULL},
	{"notify.org_name", PP_CFG_STR, OFF(notify_org_name), "Your care team", 0, 0,
	 "Organisation name signed under notices ({org_name}).", NULL},
	{"notify.retry_base_s", PP_CFG_INT, OFF(notify_retry_base_s), "30", 1, 86400,
	 "A failed notice is retried after this many seconds, doubling after each further failure "
	 "(at most a day between attempts).", NULL},
	{"notify.max_attempts", PP_CFG_INT, OFF(notify_max_attempts), "8", 1, 100,
	 "Delivery attempts before a notice is marked failed.", NULL},
	{"notify.poll_ms", PP_CFG_INT, OFF(notify_poll_ms), "1000", 100, 600000,
	 "How often the delivery worker looks for due notices (a notice queued by the server wakes it "
	 "at once; polling finds retries and notices queued by `import`).", NULL},
	{"notify.timeout_s", PP_CFG_INT, OFF(notify_timeout_s), "30", 1, 600,
	 "Time limit of one SMTP or webhook delivery.", NULL},
	{"notify.keep_days", PP_CFG_INT, OFF(notify_keep_days), "30", 1, 3650,
	 "Sent, failed and cancelled outbox rows are deleted after this many days.", NULL},
	{"notify.email_subject_message", PP_CFG_STR, OFF(notify_email_subject_message),
	 "You have a new message", 0, 0,
	 "Subject of the new-message e-mail (plain ASCII). Every notify template may use only "
	 "{portal_url} and {org_name}; any other placeholder stops start-up.", NULL},
	{"notify.email_body_message", PP_CFG_STR, OFF(notify_email_body_message),
	 "You have a new message in your patient portal. Sign in at {portal_url} to read it.\\n\\n"
	 "{org_name}", 0, 0,
	 "Body of the new-message e-mail; \\n is a line break.", NULL},
	{"notify.email_subject_result", PP_CFG_STR, OFF(notify_email_subject_result),
	 "You have a new test result", 0, 0, "Subject of the new-result e-mail (plain ASCII).", NULL},
	{"notify.email_body_result", PP_CFG_STR, OFF(notify_email_body_result),
	 "A new test result is available in your patient portal. Sign in at {portal_url} to see "
	 "it.\\n\\n{org_name}", 0, 0, "Body of the new-result e-mail; \\n is a line break.", NULL},
	{"notify.sms_message", PP_CFG_STR, OFF(notify_sms_message),
	 "{org_name}: you have a new message in your patient portal. Sign in at {portal_url}", 0, 0,
	 "Text of the new-message SMS.", NULL},
	{"notify.sms_result", PP_CFG_STR, OFF(notify_sms_result),
	 "{org_name}: a new test result is available in your patient portal. Sign in at {portal_url}",
	 0, 0, "Text of the new-result SMS.", NULL},
	{"sso.enabled", PP_CFG_BOOL, OFF(sso_enabled), "false", 0, 0,
	 "Staff may sign in through the organisation's OpenID Connect provider (\"Sign in with your "
	 "organisation\"). Patients never use it.", NULL},
	{"sso.issuer", PP_CFG_STR, OFF(sso_issuer), "", 0, 0,
	 "The provider's issuer URL (https; http only on loopback); its discovery document is read from "
	 "ISSUER/.well-known/openid-configuration.", bl_sso_issuer},
	{"sso.client_id", PP_CFG_STR, OFF(sso_client_id), "", 0, 0,
	 "phiportal's client_id at the provider. Register the redirect URI "
	 "server.public_url + /api/v1/auth/sso/callback there.", NULL},
	{"sso.client_secret_file", PP_CFG_STR, OFF(sso_client_secret_file), "", 0, 0,
	 "File holding the client secret (one line, mode 0600), relative to the data directory; the "
	 "server refuses to start when others can read it.", NULL},
	{"sso.client_auth", PP_CFG_STR, OFF(sso_client_auth), "client_secret_basic", 0, 0,
	 "How phiportal authenticates at the token endpoint: client_secret_basic or "
	 "client_secret_post.", NULL},
	{"sso.ca_file", PP_CFG_STR, OFF(sso_ca_file), "", 0, 0,
	 "CA bundle (PEM) trusted for the provider's TLS certificate, relative to the data directory; "
	 "empty means the system's trust store.", NULL},
	{"sso.match_claim", PP_CFG_STR, OFF(sso_match_claim), "email", 0, 0,
	 "The ID-token claim whose value identifies the staff account (linked with `phiportal user "
	 "link-sso`). Only its blind index is stored.", NULL},
	{"sso.scopes", PP_CFG_STR, OFF(sso_scopes), "openid email profile", 0, 0,
	 "Scopes requested from the provider (must include openid).", NULL},
	{"sso.mfa", PP_CFG_STR, OFF(sso_mfa), "", 0, 0,
	 "Who does the second factor for SSO sign-ins: \"local\" (TOTP in phiportal, as after a "
	 "password) or \"idp\" (the ID token must assert MFA through amr or acr). Must be set when SSO "
	 "is on.", bl_sso_mfa},
	{"sso.required_amr", PP_CFG_STR, OFF(sso_required_amr), "mfa otp hwk swk sms", 0, 0,
	 "With sso.mfa = idp: an ID token whose amr claim holds one of these values (space-separated) "
	 "asserts MFA.", NULL},
	{"sso.required_acr", PP_CFG_STR, OFF(sso_required_acr), "", 0, 0,
	 "With sso.mfa = idp: if set, an ID token whose acr claim equals this value also asserts MFA.",
	 NULL},
	{"auth.staff_password_login", PP_CFG_BOOL, OFF(auth_staff_password_login), "true", 0, 0,
	 "Staff may sign in with a local password. false: staff must use SSO (a password sign-in by a "
	 "staff account is refused with 403 password_login_disabled); patients are unaffected.", NULL},
	{"retention.messages_days", PP_CFG_INT, OFF(retention_messages_days), "2555", 1, 36500,
	 "Messages (and a thread once its last message goes) are purged this many days after they were "
	 "sent, unless a legal hold covers them (`phiportal retention run`, and the scheduled run).",
	 NULL},
	{"retention.attachments_days", PP_CFG_INT, OFF(retention_attachments_days), "2555", 1, 36500,
	 "Message attachments are crypto-shredded (data key destroyed, blob deleted) this many days "
	 "after upload, unless a legal hold covers them.", NULL},
	{"retention.documents_days", PP_CFG_INT, OFF(retention_documents_days), "3650", 1, 36500,
	 "Uploaded documents are crypto-shredded, with their DocumentReference, this many days after "
	 "upload, unless a legal hold covers them.", NULL},
	{"retention.audit_days", PP_CFG_INT, OFF(retention_audit_days), "2190", 1, 36500,
	 "Audit records are kept at least this long (HIPAA: 6 years = 2190 days; less fails the "
	 "baseline). The retention job never deletes audit records; removing older ones needs an "
	 "archived, verified export.", bl_audit_days},
	{"jobs.retention_interval_s", PP_CFG_INT, OFF(jobs_retention_interval_s), "86400", 0, 31536000,
	 "How often `serve` runs retention (the first run one interval after start); 0 turns the "
	 "scheduled run off (`phiportal retention run` still works).", NULL},
};

const pp_config_key *pp_config_keys(size_t *n)
{
	*n = sizeof keys / sizeof keys[0];
	return keys;
}

static int set_value(pp_config *c, const pp_config_key *k, const char *v)
{
	char *base = (char *)c + k->offset;

	switch (k->type) {
	case PP_CFG_INT: {
		char *end;
		long x;
		errno = 0;
		x = strtol(v, &end, 10);
		if (errno || end == v || *end || x < k->min || x > k->max)
			return PP_EINVAL;
		*(int *)base = (int)x;
		return PP_OK;
	}
	case PP_CFG_BOOL:
		if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
			*(bool *)base = true;
		else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
			*(bool *)base = false;
		else
			return PP_EINVAL;
		return PP_OK;
	case PP_CFG_STR:
		if (strlen(v) >= k->size)
			return PP_ETOOBIG;
		memcpy(base, v, strlen(v) + 1);
		return PP_OK;
	}
	return PP_EINVAL;
}

void pp_config_defaults(pp_config *c, const char *data_dir)
{
	memset(c, 0, sizeof *c);
	snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir ? data_dir : "./data");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (set_value(c, &keys[i], keys[i].def))
			pp_fatal("config: bad built-in default for %s", keys[i].name);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int pp_config_load(pp_config *c, const char *path, char *err, size_t errcap)
{
	char line[1024];
	long lineno = 0;
	int rc = PP_OK;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errcap, "%s: cannot open", path);
		return errno == ENOENT ? PP_ENOTFOUND : PP_EIO;
	}
	while (fgets(line, sizeof line, f)) {
		char *eq, *k, *v, *hash;
		const pp_config_key *key = NULL;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errcap, "%s:%ld: line too long", path, lineno);
			rc = PP_EINVAL;
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		k = trim(line);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errcap, "%s:%ld: expected key = value", path, lineno);
			rc = PP_EINVAL;
			break;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (!strcmp(keys[i].name, k))
				key = &keys[i];
		if (!key) {
			snprintf(err, errcap, "%s:%ld: unknown key '%s'", path, lineno, k);
			rc = PP_EINVAL;
			break;
		}
		if (set_value(c, key, v)) {
			if (key->type == PP_CFG_INT)
				snprintf(err, errcap, "%s:%ld: %s must be an integer from %ld to %ld", path,
				         lineno, key->name, key->min, key->max);
			else
				snprintf(err, errcap, "%s:%ld: bad value for %s", path, lineno, key->name);
			rc = PP_EINVAL;
			break;
		}
	}
	fclose(f);
	return rc;
}

static void format_value(const pp_config *c, const pp_config_key *k, char *out, size_t cap)
{
	const char *base = (const char *)c + k->offset;

	if (k->type == PP_CFG_INT)
		snprintf(out, cap, "%d", *(const int *)base);
	else if (k->type == PP_CFG_BOOL)
		snprintf(out, cap, "%s", *(const bool *)base ? "true" : "false");
	else
		snprintf(out, cap, "%s", base);
}

int pp_config_check_baseline(const pp_config *c, pp_buf *report)
{
	int problems = 0;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *safe;
		char val[300];

		if (!keys[i].baseline || !(safe = keys[i].baseline(c)))
			continue;
		format_value(c, &keys[i], val, sizeof val);
		pp_buf_appendf(report, "%s: value '%s' is unsafe; safe value: %s\n", keys[i].name, val,
		               safe);
		problems++;
	}
	return problems;
}

int pp_config_write_docs(pp_buf *out)
{
	int rc = pp_buf_appends(out,
		"# phiportal configuration\n\n"
		"The configuration is one file, `phiportal.conf`, in the data directory (`--data DIR`, else\n"
		"`$PHIPORTAL_DATA`, else `./data`). Lines are `key = value`; `#` starts a comment. An unknown\n"
		"key or a value out of range stops the program with the line number. `phiportal init` writes\n"
		"the file with every key at its default.\n\n"
		"Keys marked **baseline** are checked against the HIPAA baseline by `phiportal compliance\n"
		"check`, and `phiportal serve` refuses to start while any of them is unsafe (naming the key\n"
		"and the safe value). The key file must not be readable by group or others.\n\n"
		"This page is generated from the table in `src/core/config.c` by `phiportal config docs`.\n\n"
		"| key | type | default | range | baseline | meaning |\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; !rc && i < sizeof keys / sizeof keys[0]; i++) {
		const pp_config_key *k = &keys[i];
		char range[64] = "";
		if (k->type == PP_CFG_INT)
			snprintf(range, sizeof range, "%ld–%ld", k->min, k->max);
		rc = pp_buf_appendf(out, "| `%s` | %s | `%s` | %s | %s | %s |\n", k->name,
		                    k->type == PP_CFG_INT ? "integer" : k->type == PP_CFG_BOOL ? "boolean" : "string",
		                    k->def, range, k->baseline ? "yes" : "", k->doc);
	}
	return rc;
}

int pp_config_write_default(const pp_config *c, pp_buf *out)
{
	int rc = pp_buf_appends(out, "# phiportal configuration — every key is documented in docs/config.md\n");

	for (size_t i = 0; !rc && i < sizeof keys / sizeof keys[0]; i++) {
		char val[300];
		format_value(c, &keys[i], val, sizeof val);
		rc = pp_buf_appendf(out, "\n# %s\n%s = %s\n", keys[i].doc, keys[i].name, val);
	}
	return rc;
}

int pp_config_path(const pp_config *c, const char *rel, char *out, size_t cap)
{
	return pp_path_join(out, cap, c->data_dir, rel);
}
