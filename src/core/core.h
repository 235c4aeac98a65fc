/*
 * core — small shared pieces every module may use: error codes, logging that never carries PHI,
 * an injectable clock, bounded buffers, the configuration table and a few helpers for secrets.
 * core depends on nothing else in phiportal.
 */
#ifndef PP_CORE_H
#define PP_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- errors: 0 is success, negative PP_E* codes are failures ---- */
enum {
	PP_OK = 0,
	PP_ENOMEM = -1,     /* allocation failed */
	PP_EINVAL = -2,     /* bad input from a caller or a client */
	PP_ENOTFOUND = -3,  /* no such row / resource */
	PP_EIO = -4,        /* storage or file system failure */
	PP_ECRYPTO = -5,    /* decryption / authentication failure, key problem */
	PP_EDENIED = -6,    /* authorization refused */
	PP_ETOOBIG = -7,    /* a limit was exceeded */
	PP_EAUDIT = -8,     /* the audit record could not be made durable */
	PP_EBUSY = -9,      /* temporarily overloaded; retry later */
	PP_EEXISTS = -10,   /* already present */
	PP_EAUTH = -11,     /* authentication failed */
	PP_ELOCKED = -12,   /* account or source temporarily locked */
	PP_ECONFIG = -13,   /* unsafe or invalid configuration */
};
const char *pp_strerror(int err);

/* ---- logging: operational events only. Never pass PHI (names, dates of birth, identifiers,
 * message text, file names) to these functions: log ids, counts, codes and request ids. ---- */
enum pp_log_level { PP_LOG_DEBUG, PP_LOG_INFO, PP_LOG_WARN, PP_LOG_ERROR };
void pp_log_set_level(enum pp_log_level lvl);
void pp_log(enum pp_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pp_log_debug(...) pp_log(PP_LOG_DEBUG, __VA_ARGS__)
#define pp_log_info(...) pp_log(PP_LOG_INFO, __VA_ARGS__)
#define pp_log_warn(...) pp_log(PP_LOG_WARN, __VA_ARGS__)
#define pp_log_error(...) pp_log(PP_LOG_ERROR, __VA_ARGS__)
/* start-up only: prints and exits(1) */
void pp_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- clock: wall time in ms since the epoch; tests may shift it ---- */
int64_t pp_clock_now_ms(void);
int64_t pp_clock_now_s(void);
void pp_clock_set_offset_ms(int64_t offset); /* test hook: added to the real clock */
/* ISO 8601 UTC with milliseconds, e.g. 2026-11-25T12:00:00.123Z; out needs 32 bytes */
void pp_clock_format_iso(int64_t ms, char out[32]);

/* ---- bounded growable buffer (every buffer has a cap) ---- */
typedef struct pp_buf {
	char *data;
	size_t len;
	size_t cap;    /* allocated */
	size_t limit;  /* hard maximum length; appends beyond it fail with PP_ETOOBIG */
} pp_buf;
void pp_buf_init(pp_buf *b, size_t limit);
int pp_buf_append(pp_buf *b, const void *p, size_t n);
int pp_buf_appendf(pp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pp_buf_appends(pp_buf *b, const char *s);
/* the data, NUL-terminated (a NUL is always kept after len) */
const char *pp_buf_cstr(pp_buf *b);
void pp_buf_reset(pp_buf *b);
void pp_buf_free(pp_buf *b);  /* wipes the contents before freeing */
/* hands the memory over; the buffer is empty afterwards */
char *pp_buf_take(pp_buf *b, size_t *len);

/* ---- secrets and small helpers ---- */
void pp_wipe(void *p, size_t n);
/* constant-time comparison; 0 when equal */
int pp_ct_compare(const void *a, const void *b, size_t n);
void pp_hex_encode(const uint8_t *in, size_t n, char *out /* 2n+1 */);
int pp_hex_decode(const char *in, uint8_t *out, size_t outcap, size_t *outlen);
/* base64url without padding; out needs ((n+2)/3)*4+1 bytes */
void pp_b64url_encode(const uint8_t *in, size_t n, char *out);
int pp_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *outlen);
/* cryptographically random bytes (GnuTLS nonce/key RNG); 0 on success */
int pp_random(void *out, size_t n);
char *pp_strdup(const char *s);   /* NULL-safe strdup */
/* join dir and name into out (PP_ETOOBIG on truncation) */
int pp_path_join(char *out, size_t cap, const char *dir, const char *name);
/* read a whole file, up to limit bytes */
int pp_file_read(const char *path, size_t limit, char **out, size_t *len);
/* write a file atomically (tmp + fsync + rename) with the given mode */
int pp_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Scans JSON text (without parsing it) and fails with PP_ETOOBIG when arrays/objects nest deeper
 * than max_depth; strings and escapes are skipped correctly. Used before handing client or import
 * data to the JSON parser. */
int pp_json_check_depth(const char *data, size_t len, int max_depth);

/* ---- network limits: CIDR allow/deny lists (IPv4 and IPv6; space- or comma-separated) and
 * token-bucket rate limits, shared by http/ (global) and oauth/ (per client) ---- */
/* PP_EINVAL when the list does not parse */
int pp_iplist_check(const char *list);
/* true when ip passes: not in deny (a broken deny list refuses), and in allow if allow is set */
bool pp_iplist_allowed(const char *ip, const char *allow, const char *deny);
typedef struct pp_ratelimit pp_ratelimit;
int pp_ratelimit_new(pp_ratelimit **out);
void pp_ratelimit_free(pp_ratelimit *rl);
/* takes one token from key's bucket (rate per minute, burst one minute's worth); false with
 * *retry_after_s set when empty; rate <= 0 means unlimited */
bool pp_ratelimit_take(pp_ratelimit *rl, const char *key, int rate_per_min, int64_t now_ms,
                       int *retry_after_s);

/* ---- configuration: one table of keys drives parsing, validation, docs/config.md and
 * `compliance check` ---- */
typedef struct pp_config {
	char data_dir[512];
	/* server */
	char server_bind[64];
	int server_port;
	int server_redirect_port;    /* 0: no plain-HTTP redirect listener */
	int server_threads;          /* 0: number of cores */
	int server_workers;
	char server_public_url[256]; /* e.g. https://localhost:8443 */
	/* tls */
	char tls_min_version[8];     /* "1.2" or "1.3" */
	char tls_cert_file[256];
	char tls_key_file[256];
	int tls_hsts_max_age;
	/* limits */
	int limits_max_header_bytes;
	int limits_max_body_bytes;
	int limits_max_json_depth;
	int limits_max_conn_per_ip;
	int limits_conn_timeout_s;
	int limits_max_query_params;
	int limits_ip_rate_per_min;
	char server_ip_allow[1024];
	char server_ip_deny[1024];
	/* sessions */
	int session_idle_timeout_s;
	int session_absolute_timeout_s;
	int policy_break_glass_minutes;
	int policy_encounter_window_days;
	int enrol_code_ttl_hours;
	int enrol_attempts_per_min;
	bool enrol_self_service;        /* self-enrolment by demographics + code (portal/) */
	int enrol_self_code_ttl_min;
	int enrol_self_code_attempts;
	int enrol_self_starts_per_min;
	int policy_adolescent_age;
	int policy_adult_age;
	char policy_sensitive_codes[2048];
	/* authentication */
	bool auth_mfa_required_staff;
	bool auth_mfa_required_patients;
	int auth_lockout_threshold;
	int auth_lockout_seconds;
	int auth_ip_max_failures;     /* failed logins per IP per window before throttling */
	int auth_ip_window_s;
	int auth_argon2_m_kib;
	int auth_argon2_t;
	int auth_argon2_p;
	int auth_hash_threads;
	int auth_hash_queue_max;
	int auth_password_min_length;
	/* audit */
	bool audit_enabled;
	char audit_path[256];
	int audit_checkpoint_every;
	int audit_checkpoint_seconds;
	bool audit_group_commit;
	/* storage and keys */
	char store_backend[16];
	char store_path[256];
	char crypto_key_file[256];
	/* logging */
	char log_level[8];
	/* OAuth / SMART authorization server */
	int oauth_access_token_lifetime_s;
	int oauth_refresh_token_lifetime_s;
	char oauth_id_token_alg[8];  /* "RS256" or "ES256" */
	char oauth_jwks_ca_file[256]; /* CA bundle for jwks_uri fetches; "" = system store */
	int oauth_anomaly_min_reads;
	int oauth_anomaly_factor;
	bool oauth_anomaly_suspend;
	/* files: uploads, type control, malware scanning */
	int files_max_bytes;
	char files_allowed_types[256];
	char files_clamd_socket[256];   /* unix socket path, or host:port */
	char files_scan_mode[16];       /* "refuse" or "quarantine"; never accept unscanned */
	int files_scan_timeout_s;
	/* notifications without PHI (notify/) */
	char notify_smtp_url[256];
	char notify_smtp_ca_file[256];
	char notify_smtp_username[128];
	char notify_smtp_password_file[256];
	char notify_mail_from[256];
	char notify_sms_webhook_url[256];
	char notify_sms_ca_file[256];
	char notify_sms_token_file[256];
	char notify_portal_url[256];
	char notify_org_name[128];
	int notify_retry_base_s;
	int notify_max_attempts;
	int notify_poll_ms;
	int notify_timeout_s;
	int notify_keep_days;
	char notify_email_subject_message[256];
	char notify_email_body_message[1024];
	char notify_email_subject_result[256];
	char notify_email_body_result[1024];
	char notify_sms_message[512];
	char notify_sms_result[512];
	/* staff sign-in through the organisation's OpenID provider (auth/sso.h) */
	bool sso_enabled;
	char sso_issuer[256];
	char sso_client_id[256];
	char sso_client_secret_file[256];
	char sso_client_auth[24];        /* "client_secret_basic" or "client_secret_post" */
	char sso_ca_file[256];
	char sso_match_claim[64];
	char sso_scopes[256];
	char sso_mfa[8];                 /* "local" or "idp"; must be set when SSO is on */
	char sso_required_amr[256];
	char sso_required_acr[256];
	bool auth_staff_password_login;
	/* retention and legal holds (jobs/) */
	int retention_messages_days;
	int retention_attachments_days;
	int retention_documents_days;
	int retention_audit_days;       /* the baseline refuses less than 2190 (six years) */
	int jobs_retention_interval_s;  /* 0: no scheduled run inside serve */
} pp_config;

/* description of one key: used by the parser, the validator, the docs and compliance check */
enum pp_config_type { PP_CFG_INT, PP_CFG_BOOL, PP_CFG_STR };
typedef struct pp_config_key {
	const char *name;          /* e.g. "session.idle_timeout_s" */
	enum pp_config_type type;
	size_t offset;             /* into pp_config */
	size_t size;               /* for strings: buffer size */
	const char *def;           /* default, as text */
	long min, max;             /* for ints */
	const char *doc;
	/* HIPAA baseline: returns NULL when the value is safe, else the safe value to use */
	const char *(*baseline)(const pp_config *c);
} pp_config_key;

const pp_config_key *pp_config_keys(size_t *n);
void pp_config_defaults(pp_config *c, const char *data_dir);
/* parse `key = value` lines; '#' comments. Unknown keys and bad values are errors with a line
 * number in err. */
int pp_config_load(pp_config *c, const char *path, char *err, size_t errcap);
/* baseline check: writes one line per unsafe key ("key: value is unsafe; safe value: X") into
 * report; returns the number of problems */
int pp_config_check_baseline(const pp_config *c, pp_buf *report);
/* writes docs/config.md content */
int pp_config_write_docs(pp_buf *out);
/* writes a config file with every key at its default, commented with its doc */
int pp_config_write_default(const pp_config *c, pp_buf *out);
/* resolve a path relative to the data directory */
int pp_config_path(const pp_config *c, const char *rel, char *out, size_t cap);

/* The running server's parts, handed to every module that registers routes. core only names the
 * types; each module's header defines its own. */
struct pp_store;
struct pp_crypto;
struct pp_audit;
struct pp_auth;
struct pp_oauth;
struct pp_notify;
struct pp_sso;
typedef struct pp_app {
	const pp_config *cfg;
	struct pp_store *store;
	struct pp_crypto *crypto;
	struct pp_audit *audit;
	struct pp_auth *auth;
	struct pp_oauth *oauth;    /* NULL until the authorization server is wired in */
	struct pp_notify *notify;  /* PHI-free notifications: pp_notify_enqueue (notify/notify.h) */
	struct pp_sso *sso;        /* staff SSO relying party (auth/sso.h); NULL when sso.enabled is off */
	struct pp_files *files;    /* the encrypted file store (files/files.h); NULL outside serve */
} pp_app;

#endif
