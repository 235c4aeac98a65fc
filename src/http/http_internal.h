/*
 * http internals shared by the files of src/http/ and by tests/unit/test_http.c: the router, the
 * request object and its arena, percent-decoding, the TLS priority string. Nothing outside http/
 * includes this header.
 */
#ifndef PP_HTTP_INTERNAL_H
#define PP_HTTP_INTERNAL_H

#include <pthread.h>
#include <microhttpd.h>
#include "http/http.h"

#define PP_HTTP_MAX_SEGMENTS 32     /* path segments a route or a request path may have */
#define PP_HTTP_MAX_COOKIES 64      /* Cookie pairs per request; more is 400 */
#define PP_HTTP_MAX_RESP_HEADERS 32 /* headers a handler may add */
#define PP_HTTP_MAX_SET_COOKIES 8
#define PP_HTTP_UA_MAX 256          /* user agent kept for audit, truncated beyond */
#define PP_HTTP_QUEUE_PER_WORKER 16 /* worker queue capacity = workers * this (at least 64) */
#define PP_HTTP_UPLOAD_DRAIN (1024 * 1024) /* body dropped after an upload's refusal before the
                                              connection is cut */

/* ---- percent-decoding ----
 * Decodes s in place. plus_space: '+' becomes ' ' (form encoding, query strings only).
 * Invalid escapes ("%zz", truncated "%4") and an encoded NUL ("%00") are PP_EINVAL. */
int pp_http_pct_decode(char *s, bool plus_space);

/* ---- router ---- */
typedef struct pp_http_router pp_http_router;
typedef struct pp_http_route_entry pp_http_route_entry;

typedef struct pp_http_match {
	const pp_http_route_entry *route;  /* NULL when nothing matched */
	int nparams;
	pp_http_kv params[PP_HTTP_MAX_SEGMENTS]; /* point into the caller's path buffer / pattern */
	char allow[64];                    /* for 405: the methods the path accepts, "GET, HEAD, POST" */
} pp_http_match;

enum pp_http_match_result {
	PP_HTTP_MATCH_OK = 0,
	PP_HTTP_MATCH_NONE = 1,     /* no route has this path: 404 (or a static asset) */
	PP_HTTP_MATCH_METHOD = 2,   /* the path exists with other methods: 405 */
};

int pp_http_router_new(pp_http_router **out);
void pp_http_router_free(pp_http_router *rt);
int pp_http_router_add(pp_http_router *rt, const char *method, const char *pattern,
                       pp_http_handler h, void *data);
/* path: the raw request path (still percent-encoded, no query), copied into buf (cap bytes) and
 * split and decoded there; params point into buf. Returns a pp_http_match_result, or PP_EINVAL
 * for a malformed path (bad escape, too many segments, too long). A HEAD request matches GET. */
int pp_http_router_match(const pp_http_router *rt, const char *method, const char *path,
                         char *buf, size_t cap, pp_http_match *m);
const char *pp_http_route_pattern(const pp_http_route_entry *e);
pp_http_handler pp_http_route_handler(const pp_http_route_entry *e);
void *pp_http_route_entry_data(const pp_http_route_entry *e);
/* every route in the order added (for `phiportal routes`) */
typedef void (*pp_http_router_visit)(void *ctx, const char *method, const char *pattern,
                                     pp_http_handler h);
int pp_http_router_each(const pp_http_router *rt, pp_http_router_visit visit, void *ctx);

/* ---- TLS ---- */
/* GnuTLS priority string: TLS 1.3 (+1.2 unless min_version is "1.3"), ECDHE, AEAD suites only */
const char *pp_http_tls_priorities(const char *min_version);
/* corks the TLS session (a gnutls_session_t) for a response of about len bytes when the socket
 * can take it whole; true when corked, and pp_http_tls_uncork must follow once it was handed over */
bool pp_http_tls_cork(void *session, int fd, size_t len);
void pp_http_tls_uncork(void *session, int fd);

/* ---- request (request.c) ---- */
enum pp_http_req_state {
	PP_HTTP_ST_NEW = 0,   /* created by the URI callback; the access handler has not run */
	PP_HTTP_ST_READING,   /* headers seen, body arriving */
	PP_HTTP_ST_RUNNING,   /* suspended, owned by a worker */
	PP_HTTP_ST_DONE,      /* the worker stored the response; queue it on the next call */
	PP_HTTP_ST_SENT,      /* a response was queued */
};

typedef struct pp_http_arena_block pp_http_arena_block;

struct pp_http_request {
	pp_http_server *srv;
	struct MHD_Connection *conn;
	pp_http_arena_block *arena;
	enum pp_http_req_state state;
	int64_t t_start_us;            /* monotonic */
	char request_id[33];
	char client_ip[64];

	/* request */
	const char *method;
	const char *path;              /* decoded by MHD */
	char *raw_path;                /* as received, without the query */
	char *query_raw;               /* NULL when none */
	pp_http_kv *query;
	int nquery;
	int query_err;                 /* parse result when negative */
	pp_http_kv *headers;
	int nheaders;
	pp_http_kv *cookies;
	int ncookies;
	int cookie_err;
	const char *user_agent;
	pp_buf body;
	bool body_too_big;
	pp_http_match match;
	char *match_buf;
	const char *log_route;         /* route pattern or asset path for the access log; never raw */

	/* response */
	int status;
	char *content_type;
	pp_buf resp_body;
	bool resp_body_set;
	const void *static_body;       /* static asset, not copied */
	size_t static_len;
	bool phi;
	bool is_asset;
	int nresp_headers;
	pp_http_kv resp_headers[PP_HTTP_MAX_RESP_HEADERS];
	int nset_cookies;
	char *set_cookies[PP_HTTP_MAX_SET_COOKIES];
	size_t bytes_out;

	/* streaming upload (server.c): set when the route is an upload route */
	const pp_http_upload *upload;
	void *upload_ctx;              /* begin's context until end or abort takes it */
	int upload_phase;              /* enum pp_http_upload_phase */
	int upload_err;                /* why reading stopped early (0: the body is complete) */
	uint64_t upload_bytes;         /* body bytes received so far */
	uint64_t upload_declared;      /* Content-Length, when sent */
	bool upload_has_length;
	uint64_t upload_drained;       /* bytes dropped after a mid-body refusal */
	bool upload_recall;            /* the call MHD repeats after begin's resume is still to come */
	/* streamed response (pp_http_body_stream) */
	pp_http_body_reader reader;
	void *reader_ctx;
	void (*reader_free)(void *ctx);
	uint64_t reader_len;
	/* quick route (server.c): holds on the response, under the server's hold_mu */
	int (*quick_fail)(pp_http_request *r);   /* set while a quick route serves r */
	int holds;                     /* unreleased holds, plus one while the handler runs */
	int hold_err;                  /* the first error a hold was released with */
	bool held;                     /* suspended until the last hold is released */
	void *corked;                  /* the TLS session corked for this response (server.c) */
	int corked_fd;                 /* and its socket */
};

enum pp_http_upload_phase {
	PP_HTTP_UP_NONE = 0,
	PP_HTTP_UP_BEGIN,              /* queued or running begin on a worker */
	PP_HTTP_UP_BODY,               /* begin accepted: chunks go to the route */
	PP_HTTP_UP_END,                /* queued or running end on a worker */
};

void *pp_http_req_alloc(pp_http_request *r, size_t n);
char *pp_http_req_strdup(pp_http_request *r, const char *s);
char *pp_http_req_strndup(pp_http_request *r, const char *s, size_t n);
/* a new request for tests and for the server (srv may be NULL in tests) */
int pp_http_request_new(pp_http_request **out, pp_http_server *srv, size_t body_limit);
void pp_http_request_free(pp_http_request *r);
/* drops whatever response was set (handler failed) */
void pp_http_response_reset(pp_http_request *r);
/* parses r->query_raw (limit max pairs) and the Cookie header; 0 or a negative code */
int pp_http_request_parse_inputs(pp_http_request *r, int max_query);
/* the generic JSON error for a negative PP_E* code from a handler */
void pp_http_error_from_code(pp_http_request *r, int err);

/* ---- server test hooks ---- */
/* the port actually bound (useful when the config asked for port 0) */
int pp_http_server_port(const pp_http_server *s);
/* overrides the worker queue capacity before pp_http_server_start (tests fill it up) */
void pp_http_server_set_queue_max(pp_http_server *s, size_t n);
/* stops listening and drains the workers (also done by pp_http_server_wait and _free) */
void pp_http_server_stop(pp_http_server *s);

#endif
