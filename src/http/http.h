/*
 * http — the HTTPS front door: libmicrohttpd with GnuTLS (TLS 1.2/1.3, AEAD suites only), an
 * epoll thread pool sized to the cores for I/O, and a pool of worker threads that run handlers so
 * that a handler may block (on the audit commit, on password hashing) without stalling I/O: the
 * connection is suspended while its handler runs and resumed with the response.
 *
 * Also owns: routing, limits (header size, body size, connections per IP, idle timeout, query
 * parameters), security headers on every response, request ids, the access log (no PHI: method,
 * route pattern, status, bytes, duration, request id), cookies, the static web UI, and the optional
 * plain-HTTP listener that only redirects.
 */
#ifndef PP_HTTP_H
#define PP_HTTP_H

#include "core/core.h"

typedef struct pp_http_server pp_http_server;
typedef struct pp_http_request pp_http_request;

/* request accessors (all strings live as long as the request) */
const char *pp_http_method(const pp_http_request *r);
const char *pp_http_path(const pp_http_request *r);            /* without the query string */
const char *pp_http_header(const pp_http_request *r, const char *name);
const char *pp_http_query(const pp_http_request *r, const char *name);
/* the query string as received (still percent-encoded, without "?"); "" when none */
const char *pp_http_query_string(const pp_http_request *r);
/* Cookie convention: the portal's cookies always carry the "__Host-" prefix (Secure, Path=/, no
 * Domain: the browser guarantees they were set by this origin over HTTPS). pp_http_set_cookie(r,
 * "pp_session", ...) sends "__Host-pp_session", and pp_http_cookie(r, "pp_session") reads only
 * "__Host-pp_session"; an unprefixed "pp_session" cookie (which a sibling subdomain or a plain-HTTP
 * page could plant) is ignored. Values are percent-decoded; malformed pairs are skipped. */
const char *pp_http_cookie(const pp_http_request *r, const char *name);
const char *pp_http_param(const pp_http_request *r, const char *name); /* route ":name" */
const char *pp_http_body(const pp_http_request *r, size_t *len);
const char *pp_http_client_ip(const pp_http_request *r);
const char *pp_http_user_agent(const pp_http_request *r);     /* "" when absent, truncated */
const char *pp_http_request_id(const pp_http_request *r);
/* handler-private pointer registered with the route */
void *pp_http_route_data(const pp_http_request *r);

/* response building (called from the handler; everything is copied) */
void pp_http_status(pp_http_request *r, int status);
int pp_http_set_header(pp_http_request *r, const char *name, const char *value);
int pp_http_body_set(pp_http_request *r, const char *content_type, const void *data, size_t len);
/* the same, moving b's bytes into the response instead of copying them (b is left empty) */
int pp_http_body_take(pp_http_request *r, const char *content_type, pp_buf *b);
/* marks the response as carrying PHI: Cache-Control: no-store, Pragma: no-cache */
void pp_http_mark_phi(pp_http_request *r);
/* Set-Cookie: __Host-<name>=value; Path=/; Secure; HttpOnly; SameSite=Strict[; Max-Age=]
 * max_age_s < 0: a session cookie (no Max-Age); 0 deletes the cookie. The value must consist of
 * cookie-octets (no spaces, quotes, commas, semicolons, backslashes): PP_EINVAL otherwise. */
int pp_http_set_cookie(pp_http_request *r, const char *name, const char *value, int max_age_s);
/* {"error":{"code":code,"message":message}} with the given status */
int pp_http_error(pp_http_request *r, int status, const char *code, const char *message);

/* A handler runs on a worker thread and may block. Return 0 when a response was set, or a
 * negative PP_E* code to have a generic error response generated (500/503 for PP_EAUDIT,...). */
typedef int (*pp_http_handler)(void *app, pp_http_request *r);

enum pp_http_route_flags {
	PP_HTTP_STATE_CHANGING = 1,   /* documented: handler checks CSRF via its own session logic */
};

/* Also blocks SIGINT and SIGTERM in the calling thread, so that the server's own threads (created
 * later, inheriting the mask) are never interrupted by them; pp_http_server_wait unblocks them
 * in the waiting thread only. */
int pp_http_server_new(pp_http_server **out, const pp_config *cfg, void *app);
/* pattern: exact segments and ":name" segments, e.g. "/api/v1/patients/:id/summary";
 * a trailing "*" segment matches any rest, including nothing ("/static" followed by "/" and "*");
 * pp_http_param(r, "*") gives that rest as received (still percent-encoded). Parameters are
 * percent-decoded and never empty. The most specific pattern wins (exact over ":name" over "*"),
 * a GET route also answers HEAD. Routes are added before pp_http_server_start. */
int pp_http_route(pp_http_server *s, const char *method, const char *pattern, pp_http_handler h,
                  void *route_data);
/* ---- quick routes ----
 * A quick route's handler runs on the I/O thread that read the request, not on a worker: no hand-
 * over to another thread and back. Only for handlers that read and are short (CPU work and local
 * reads; never waiting on another request). Such a handler must not wait for its audit record
 * either: for each record it takes a hold on its response (pp_http_hold) and queues the record
 * with pp_audit_submit, passing pp_http_hold_release as the completion and the hold as its context.
 * The response leaves only once every hold is released; when one is released with an error, the
 * response is dropped and on_fail(r) sets the one sent instead (it must carry no PHI). */
int pp_http_route_quick(pp_http_server *s, const char *method, const char *pattern,
                        pp_http_handler h, void *route_data, int (*on_fail)(pp_http_request *r));
/* true while r is served by a quick route's handler (its audit records must not be waited for) */
bool pp_http_quick(const pp_http_request *r);
/* a hold on r's response (never NULL for a quick request); released once, from any thread */
void *pp_http_hold(pp_http_request *r);
void pp_http_hold_release(void *hold, int rc);

/* ---- streaming bodies (uploads and downloads of any size in O(chunk) memory) ----
 * An upload route receives its body piece by piece as it arrives instead of buffered whole:
 *   begin  runs on a worker once the headers are complete, before the body is read (the connection
 *          is suspended meanwhile): authenticate, authorise, open the sink. Return 0 with *ctx set
 *          to take the body; or set a response (pp_http_error) and return 0 with *ctx NULL to
 *          refuse it (the body is never read; the connection closes after the response); a
 *          negative PP_E* code refuses with the generic error for that code.
 *   chunk  runs on an I/O thread for each piece of body (a few KiB) as it arrives; CPU work and
 *          short local I/O only. A negative return refuses the body: nothing more is handed to
 *          the route, and end runs with that code once the body is complete.
 *   end    runs on a worker when the body is complete (err 0) or was refused (err < 0:
 *          PP_ETOOBIG when more than max_bytes were declared in Content-Length, then before any
 *          byte is read, or arrived; or chunk's code). It sets the response as a handler does and
 *          owns ctx from then on (frees it).
 *   abort  runs on an I/O thread when the connection ends while ctx is held and end will not run
 *          (no response can be sent): err is the refusal when a client kept sending more than
 *          PP_HTTP_UPLOAD_DRAIN bytes after it and was cut off, PP_EIO when the client went away
 *          mid-body, PP_EBUSY when no worker was free. Releases ctx, deleting whatever was
 *          written; may make the request's audit record (a short wait, rare path).
 * pp_http_route_data(r) gives the upload's data in begin and end. */
typedef struct pp_http_upload {
	int (*begin)(void *app, pp_http_request *r, void **ctx);
	int (*chunk)(void *ctx, const void *data, size_t len);
	int (*end)(void *app, pp_http_request *r, void *ctx, int err);
	void (*abort)(void *ctx, int err);
	uint64_t max_bytes;         /* this route's body limit (instead of limits.max_body_bytes) */
	void *data;
} pp_http_upload;
/* as pp_http_route, for a method with a body (POST, PUT); u is copied */
int pp_http_route_upload(pp_http_server *s, const char *method, const char *pattern,
                         const pp_http_upload *u);

/* A streamed response body of exactly len bytes, produced on an I/O thread by read() as the
 * client takes it (called with pos = bytes already produced, increasing; it fills up to max bytes
 * into buf and sets *n, which is 0 only at pos == len). A negative return aborts the response:
 * the connection is closed and the client sees a body shorter than its Content-Length. ctx is
 * owned by the request from this call on (also on failure) and released with free_ctx. */
typedef int (*pp_http_body_reader)(void *ctx, uint64_t pos, char *buf, size_t max, size_t *n);
int pp_http_body_stream(pp_http_request *r, const char *content_type, uint64_t len,
                        pp_http_body_reader read, void *ctx, void (*free_ctx)(void *ctx));

/* Lists what the server answers, for `phiportal routes` and the authorization matrix test: every
 * registered route (kind "handler", or "upload" for pp_http_route_upload) in the order added, then
 * every static web asset (kind "asset", path as pattern; "/" serves /index.html). */
typedef void (*pp_http_route_visitor)(void *ctx, const char *method, const char *pattern,
                                      const char *kind);
int pp_http_server_routes_each(const pp_http_server *s, pp_http_route_visitor visit, void *ctx);

/* starts listening (TLS cert/key from config). */
int pp_http_server_start(pp_http_server *s);
/* blocks until SIGINT/SIGTERM (whichever thread receives it), then stops: no new connections,
 * queued and running handlers finish, their responses go out (bounded wait), then the listener
 * closes. One waiter per process. */
void pp_http_server_wait(pp_http_server *s);
void pp_http_server_free(pp_http_server *s);

/* Development certificate for localhost (ECDSA P-256, GnuTLS API), key written 0600. */
int pp_http_tls_create_dev_cert(const char *cert_path, const char *key_path);

/* exposed for unit tests and fuzzing: parse a query string or Cookie header into pairs, with
 * limits; returns number of pairs or negative error. Each pair points into buf (modified). */
typedef struct pp_http_kv { const char *key; const char *value; } pp_http_kv;
int pp_http_parse_query(char *buf, pp_http_kv *out, int max);
int pp_http_parse_cookies(char *buf, pp_http_kv *out, int max);

#endif
