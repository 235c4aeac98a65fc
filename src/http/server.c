/* The HTTPS server: libmicrohttpd callbacks, the worker pool that runs handlers, response
 * assembly with the security headers, the access log and the plain-HTTP redirect listener.
 *
 * Request life cycle (per MHD request):
 *   on_uri        creates the pp_http_request (con_cls), request id, raw path and query
 *   on_access #1  (NEW) copies method, path, headers; checks Content-Length and the query
 *   on_access #n  (READING) appends body chunks up to the cap
 *   on_access end (READING, no more data) routes; static assets and errors are answered at once;
 *                 a route is handed to the worker queue with the connection suspended (RUNNING)
 *   worker        runs the handler, stores the response (DONE), resumes the connection; it does
 *                 not touch the request after MHD_resume_connection
 *   on_access     (DONE) queues the stored response (SENT)
 * A quick route (pp_http_route_quick) runs its handler in on_access itself; while audit records
 * it queued are not yet durable, the connection is suspended (RUNNING) and the audit writer's
 * completion of the last one marks it DONE and resumes it.
 *   on_completed  writes the access log line and frees the request
 * A suspended connection is never closed by MHD, so the request outlives the worker's use of it.
 * Shutdown drains the worker queue (every suspended connection gets resumed) before
 * MHD_stop_daemon, which must not see suspended connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "http/http_internal.h"
#include "http/web_assets.h"

#define CERT_FILE_LIMIT (1024 * 1024)

static const char CSP[] =
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
static const char PERMISSIONS[] = "camera=(), microphone=(), geolocation=()";

struct pp_http_server {
	pp_config cfg;
	void *app;
	pp_http_router *router;
	struct MHD_Daemon *d;
	struct MHD_Daemon *redir;
	char *cert_pem;
	size_t cert_len;
	char *key_pem;
	size_t key_len;
	char hsts[80];
	char public_url[256];
	pp_ratelimit *ip_rl;         /* per-source-IP token buckets (limits.ip_rate_per_min) */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pp_http_request **queue;
	size_t qmax, qhead, qlen;
	bool accepting;
	bool started;
	pthread_t *workers;
	int nworkers;
	long active;                 /* requests between on_uri and on_completed (under mu) */
	pp_http_upload *uploads[16]; /* upload routes' callbacks (pp_http_route_upload) */
	int nuploads;
	struct {                     /* quick routes (pp_http_route_quick), by handler */
		pp_http_handler h;
		int (*on_fail)(pp_http_request *r);
	} quick[8];
	int nquick;
	pthread_mutex_t hold_mu;     /* quick requests' holds */
};

#define DRAIN_MS 3000               /* how long stop waits for in-flight requests to finish */

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- responses ---- */

static const char *cache_control_of(const pp_http_request *r, int *skip_handler_cc)
{
	const char *handler_cc = NULL;
	*skip_handler_cc = -1;
	for (int i = 0; i < r->nresp_headers; i++) {
		if (strcasecmp(r->resp_headers[i].key, "Cache-Control") == 0) {
			handler_cc = r->resp_headers[i].value;
			*skip_handler_cc = i;
		}
	}
	if (r->is_asset)
		return "no-cache";
	if (r->phi || !r->path || strncmp(r->path, "/api/", 5) == 0)
		return "no-store";
	/* other routes may choose (e.g. a public discovery document); the default is no-store */
	return handler_cc ? handler_cc : "no-store";
}

/* ---- streamed responses (pp_http_body_stream) ---- */

#define STREAM_BLOCK (64 * 1024)

typedef struct stream_state {
	pp_http_body_reader read;
	void *ctx;
	void (*free_ctx)(void *ctx);
	uint64_t len;
} stream_state;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream_state *st = cls;
	size_t n = 0;
	if (pos >= st->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > st->len - pos)
		max = (size_t)(st->len - pos);
	if (st->read(st->ctx, pos, buf, max, &n) < 0 || n == 0 || n > max)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	stream_state *st = cls;
	if (!st)
		return;
	if (st->free_ctx && st->ctx)
		st->free_ctx(st->ctx);
	free(st);
}

/* hands the request's reader to a callback response (which then owns it) */
static struct MHD_Response *stream_response(pp_http_request *r)
{
	struct MHD_Response *resp;
	stream_state *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->read = r->reader;
	st->ctx = r->reader_ctx;
	st->free_ctx = r->reader_free;
	st->len = r->reader_len;
	r->reader_ctx = NULL;
	r->reader_free = NULL;
	r->reader = NULL;
	resp = MHD_create_response_from_callback(st->len, STREAM_BLOCK, stream_read, st, stream_free);
	if (!resp)
		stream_free(st);
	return resp;
}

/* a response body handed to MHD without a copy; wiped when MHD releases it (it may be PHI) */
typedef struct owned_body {
	char *data;
	size_t cap;
} owned_body;

static void owned_body_free(void *cls)
{
	owned_body *b = cls;
	pp_wipe(b->data, b->cap);
	free(b->data);
	free(b);
}

static struct MHD_Response *body_response(pp_http_request *r, size_t len)
{
	struct MHD_Response *resp;
	owned_body *b;
	if (!len)
		return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!(b = malloc(sizeof *b)))
		return NULL;
	b->cap = r->resp_body.cap;
	b->data = r->resp_body.data;
	resp = MHD_create_response_from_buffer_with_free_callback_cls(len, b->data,
	                                                              owned_body_free, b);
	if (!resp) {
		free(b);
		return NULL;
	}
	/* MHD owns the bytes now */
	r->resp_body.data = NULL;
	r->resp_body.len = r->resp_body.cap = 0;
	return resp;
}

/* header and body in one TLS record (see pp_http_tls_cork); uncorked in on_completed */
static void cork(pp_http_request *r, size_t len)
{
	const union MHD_ConnectionInfo *ts, *fd;
	ts = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fd = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ts && fd && ts->tls_session && pp_http_tls_cork(ts->tls_session, fd->connect_fd, len)) {
		r->corked = ts->tls_session;
		r->corked_fd = fd->connect_fd;
	}
}

/* builds the MHD response from r and queues it; the connection is closed when this fails */
static enum MHD_Result queue_response(pp_http_server *s, pp_http_request *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;
	const char *cc;
	int skip_cc;
	bool ok = true;
	size_t len;

	if (r->hold_err) {
		/* an audit record of a quick route could not be made durable: nothing it set leaves */
		pp_http_response_reset(r);
		if (!r->quick_fail || r->quick_fail(r) < 0 || !r->status)
			pp_http_error_from_code(r, PP_EAUDIT);
	}
	if (r->status < 100 || r->status > 599)
		pp_http_error_from_code(r, -1000);
	if (r->reader) {
		len = (size_t)r->reader_len;
		resp = stream_response(r);
	} else if (r->static_body) {
		len = r->static_len;
		resp = MHD_create_response_from_buffer(len, (void *)r->static_body,
		                                       MHD_RESPMEM_PERSISTENT);
	} else {
		len = r->resp_body.len;
		resp = body_response(r, len);
	}
	if (!resp)
		goto out;
	cc = cache_control_of(r, &skip_cc);
	ok = ok && MHD_add_response_header(resp, "Strict-Transport-Security", s->hsts) == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "Content-Security-Policy", CSP) == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "X-Frame-Options", "DENY") == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin") == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "Permissions-Policy", PERMISSIONS) == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "X-Request-Id", r->request_id) == MHD_YES;
	ok = ok && MHD_add_response_header(resp, "Cache-Control", cc) == MHD_YES;
	if (r->phi)
		ok = ok && MHD_add_response_header(resp, "Pragma", "no-cache") == MHD_YES;
	if (r->content_type)
		ok = ok && MHD_add_response_header(resp, "Content-Type", r->content_type) == MHD_YES;
	for (int i = 0; i < r->nresp_headers; i++)
		if (i != skip_cc)
			ok = ok && MHD_add_response_header(resp, r->resp_headers[i].key,
			                                   r->resp_headers[i].value) == MHD_YES;
	for (int i = 0; i < r->nset_cookies; i++)
		ok = ok && MHD_add_response_header(resp, "Set-Cookie", r->set_cookies[i]) == MHD_YES;
	if (!ok) {
		pp_log_error("http: could not assemble response headers rid=%s", r->request_id);
		goto out;
	}
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	r->bytes_out = strcmp(pp_http_method(r), "HEAD") == 0 ? 0 : len;
	if (ret == MHD_YES && !r->reader)
		cork(r, len);
out:
	r->state = PP_HTTP_ST_SENT;
	if (resp)
		MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result respond_error(pp_http_server *s, pp_http_request *r, int status,
                                     const char *code, const char *message)
{
	pp_http_response_reset(r);
	if (pp_http_error(r, status, code, message) < 0)
		return MHD_NO;
	return queue_response(s, r);
}

/* ---- worker pool ---- */

static void run_handler(pp_http_server *s, pp_http_request *r)
{
	pp_http_handler h = pp_http_route_handler(r->match.route);
	int rc = h(s->app, r);
	if (rc < 0) {
		pp_http_error_from_code(r, rc);
	} else if (!r->status) {
		if (r->resp_body_set) {
			r->status = 200;
		} else {
			pp_log_warn("http: handler for %s set no response rid=%s", r->log_route,
			            r->request_id);
			pp_http_error_from_code(r, -1000);
		}
	}
}

/* ---- upload routes: the worker's part ---- */

static int upload_marker(void *app, pp_http_request *r)
{
	(void)app;
	(void)r;
	return -1000;   /* an upload route is never run as a buffered handler */
}

static void upload_no_response(pp_http_request *r)
{
	if (!r->status) {
		pp_log_warn("http: upload route %s set no response rid=%s", r->log_route, r->request_id);
		pp_http_error_from_code(r, -1000);
	}
}

static void run_upload_step(pp_http_server *s, pp_http_request *r)
{
	const pp_http_upload *u = r->upload;
	int rc;
	if (r->upload_phase == PP_HTTP_UP_BEGIN) {
		void *ctx = NULL;
		rc = u->begin(s->app, r, &ctx);
		if (rc < 0 || !ctx) {
			if (ctx && u->abort)
				u->abort(ctx, PP_EINVAL);
			if (rc < 0)
				pp_http_error_from_code(r, rc);
			upload_no_response(r);
			r->upload_phase = PP_HTTP_UP_NONE;
			r->state = PP_HTTP_ST_DONE;
			return;
		}
		if (r->upload_has_length && r->upload_declared > u->max_bytes) {
			r->upload_phase = PP_HTTP_UP_END;   /* refused on the declared length alone */
			r->upload_err = PP_ETOOBIG;
			r->upload_ctx = ctx;
		} else {
			r->upload_ctx = ctx;
			r->upload_phase = PP_HTTP_UP_BODY;
			r->upload_recall = true;
			r->state = PP_HTTP_ST_READING;
			return;
		}
	}
	/* PP_HTTP_UP_END: end owns the context from here on */
	{
		void *ctx = r->upload_ctx;
		r->upload_ctx = NULL;
		pp_http_response_reset(r);
		rc = u->end(s->app, r, ctx, r->upload_err);
		if (rc < 0)
			pp_http_error_from_code(r, rc);
		upload_no_response(r);
		r->upload_phase = PP_HTTP_UP_NONE;
		r->state = PP_HTTP_ST_DONE;
	}
}

static void *worker_main(void *arg)
{
	pp_http_server *s = arg;
	for (;;) {
		pp_http_request *r;
		struct MHD_Connection *c;
		pthread_mutex_lock(&s->mu);
		while (s->qlen == 0 && s->accepting)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->qlen == 0) {            /* stopping and drained */
			pthread_mutex_unlock(&s->mu);
			break;
		}
		r = s->queue[s->qhead];
		s->qhead = (s->qhead + 1) % s->qmax;
		s->qlen--;
		pthread_mutex_unlock(&s->mu);

		c = r->conn;
		if (r->upload) {
			run_upload_step(s, r);    /* sets r->state */
		} else {
			run_handler(s, r);
			r->state = PP_HTTP_ST_DONE;
		}
		/* from here on the request belongs to MHD again (its mutex orders our writes) */
		MHD_resume_connection(c);
	}
	return NULL;
}

/* ---- quick routes: the handler on the I/O thread, audit records waited for without a thread ---- */

static int quick_index(const pp_http_server *s, pp_http_handler h)
{
	for (int i = 0; i < s->nquick; i++)
		if (s->quick[i].h == h)
			return i;
	return -1;
}

bool pp_http_quick(const pp_http_request *r)
{
	return r && r->quick_fail && r->state == PP_HTTP_ST_RUNNING;
}

void *pp_http_hold(pp_http_request *r)
{
	pp_http_server *s = r->srv;
	pthread_mutex_lock(&s->hold_mu);
	r->holds++;
	pthread_mutex_unlock(&s->hold_mu);
	return r;
}

void pp_http_hold_release(void *hold, int rc)
{
	pp_http_request *r = hold;
	pp_http_server *s = r->srv;
	struct MHD_Connection *c = NULL;
	pthread_mutex_lock(&s->hold_mu);
	if (rc && !r->hold_err)
		r->hold_err = rc;
	if (--r->holds == 0 && r->held) {
		r->state = PP_HTTP_ST_DONE;
		c = r->conn;
	}
	pthread_mutex_unlock(&s->hold_mu);
	/* suspended, so r lives on; after the resume it belongs to MHD (its mutex orders our writes) */
	if (c)
		MHD_resume_connection(c);
}

static enum MHD_Result run_quick(pp_http_server *s, pp_http_request *r, int qi)
{
	bool held;
	r->quick_fail = s->quick[qi].on_fail;
	r->holds = 1;   /* ours: no release can finish the request while the handler runs */
	r->state = PP_HTTP_ST_RUNNING;
	run_handler(s, r);
	pthread_mutex_lock(&s->hold_mu);
	held = --r->holds > 0;
	if (held) {
		/* before the lock is released, so the last release always follows the suspend */
		MHD_suspend_connection(r->conn);
		r->held = true;
	}
	pthread_mutex_unlock(&s->hold_mu);
	if (held)
		return MHD_YES;
	r->state = PP_HTTP_ST_DONE;
	return queue_response(s, r);
}

static enum MHD_Result dispatch(pp_http_server *s, pp_http_request *r)
{
	int qi;
	if (!r->upload && (qi = quick_index(s, pp_http_route_handler(r->match.route))) >= 0)
		return run_quick(s, r, qi);
	pthread_mutex_lock(&s->mu);
	if (!s->accepting || s->qlen >= s->qmax) {
		pthread_mutex_unlock(&s->mu);
		pp_http_response_reset(r);
		pp_http_error(r, 503, "busy", "The server is busy; try again.");
		pp_http_set_header(r, "Retry-After", "1");
		return queue_response(s, r);
	}
	r->state = PP_HTTP_ST_RUNNING;
	/* suspend before a worker can see the request, so its resume always follows the suspend */
	MHD_suspend_connection(r->conn);
	s->queue[(s->qhead + s->qlen) % s->qmax] = r;
	s->qlen++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return MHD_YES;
}

/* ---- routing and static assets ---- */

static const pp_web_asset *asset_find(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (const pp_web_asset *a = pp_web_assets; a->path; a++)
		if (strcmp(a->path, path) == 0)
			return a;
	return NULL;
}

static enum MHD_Result route(pp_http_server *s, pp_http_request *r)
{
	size_t cap;
	int rc;
	const pp_web_asset *a;
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;

	cap = 2 * (strlen(r->raw_path) + 1);
	r->match_buf = pp_http_req_alloc(r, cap);
	if (!r->match_buf)
		return MHD_NO;
	rc = pp_http_router_match(s->router, r->method, r->raw_path, r->match_buf, cap, &r->match);
	if (rc < 0)
		return respond_error(s, r, 400, "bad_request", "The request path is malformed.");
	if (rc == PP_HTTP_MATCH_OK) {
		r->log_route = pp_http_route_pattern(r->match.route);
		return dispatch(s, r);
	}
	if (rc == PP_HTTP_MATCH_METHOD) {
		char allow[sizeof(r->match.allow)];
		memcpy(allow, r->match.allow, sizeof(allow));
		pp_http_response_reset(r);
		pp_http_error(r, 405, "method_not_allowed", "Method not allowed.");
		pp_http_set_header(r, "Allow", allow);
		return queue_response(s, r);
	}
	a = strncmp(r->path, "/api/", 5) == 0 ? NULL : asset_find(r->path);
	if (a && get) {
		r->log_route = a->path;   /* asset names are fixed at build time, never PHI */
		r->is_asset = true;
		r->status = 200;
		r->content_type = (char *)a->content_type;
		r->static_body = a->data;
		r->static_len = a->len;
		return queue_response(s, r);
	}
	if (a) {
		pp_http_response_reset(r);
		pp_http_error(r, 405, "method_not_allowed", "Method not allowed.");
		pp_http_set_header(r, "Allow", "GET, HEAD");
		return queue_response(s, r);
	}
	return respond_error(s, r, 404, "not_found", "Not found.");
}

/* ---- upload routes: the I/O thread's part ---- */

/* headers complete: is this an upload route? (only methods with a body are looked at) */
static bool upload_match(pp_http_server *s, pp_http_request *r)
{
	size_t cap;
	if (!s->nuploads || !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
		return false;
	cap = 2 * (strlen(r->raw_path) + 1);
	r->match_buf = pp_http_req_alloc(r, cap);
	if (!r->match_buf)
		return false;
	if (pp_http_router_match(s->router, r->method, r->raw_path, r->match_buf, cap, &r->match) !=
	        PP_HTTP_MATCH_OK ||
	    pp_http_route_handler(r->match.route) != upload_marker) {
		memset(&r->match, 0, sizeof(r->match));
		return false;
	}
	r->upload = pp_http_route_entry_data(r->match.route);
	r->log_route = pp_http_route_pattern(r->match.route);
	return true;
}

/* hands the request to a worker for begin or end (connection suspended meanwhile) */
static enum MHD_Result upload_dispatch(pp_http_server *s, pp_http_request *r, int phase)
{
	enum MHD_Result ret;
	r->upload_phase = phase;
	ret = dispatch(s, r);
	if (r->state == PP_HTTP_ST_SENT && r->upload_ctx) {
		/* busy: refused with 503 without a worker; nothing else will release the context */
		if (r->upload->abort)
			r->upload->abort(r->upload_ctx, PP_EBUSY);
		r->upload_ctx = NULL;
	}
	return ret;
}

static enum MHD_Result upload_body(pp_http_server *s, pp_http_request *r, const char *data,
                                   size_t *size)
{
	if (!*size) {
		/* MHD calls once more without data right after the resume that follows begin (the
		 * "first call" is repeated); that call does not mean the body is complete. With a
		 * Content-Length the count decides; a chunked body skips that one call. */
		bool recall = r->upload_recall;
		r->upload_recall = false;
		if (r->upload_has_length ? r->upload_bytes < r->upload_declared && recall : recall)
			return MHD_YES;
		return upload_dispatch(s, r, PP_HTTP_UP_END);   /* the body is complete */
	}
	r->upload_recall = false;
	if (r->upload_phase != PP_HTTP_UP_BODY) {
		*size = 0;
		return MHD_YES;
	}
	if (r->upload_err) {
		/* refused mid-body: libmicrohttpd 0.9 sends a response only once the body is complete,
		 * so the rest is dropped unprocessed for a little while; a client that keeps sending is
		 * cut off (abort then records the refusal) */
		r->upload_drained += *size;
		r->upload_bytes += *size;
		*size = 0;
		return r->upload_drained > PP_HTTP_UPLOAD_DRAIN ? MHD_NO : MHD_YES;
	}
	if (r->upload_bytes + *size > r->upload->max_bytes) {
		r->upload_err = PP_ETOOBIG;
	} else {
		int rc = r->upload->chunk(r->upload_ctx, data, *size);
		if (rc < 0)
			r->upload_err = rc;
	}
	r->upload_bytes += *size;
	*size = 0;
	return MHD_YES;
}

/* ---- MHD callbacks ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	pp_http_server *s = cls;
	pp_http_request *r = NULL;
	const union MHD_ConnectionInfo *ci;
	unsigned char rid[16];
	const char *q;

	if (pp_http_request_new(&r, s, (size_t)s->cfg.limits_max_body_bytes) < 0)
		return NULL;
	r->t_start_us = mono_us();
	if (pp_random(rid, sizeof(rid)) < 0) {
		pp_http_request_free(r);
		return NULL;
	}
	pp_hex_encode(rid, sizeof(rid), r->request_id);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			          r->client_ip, sizeof(r->client_ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			          r->client_ip, sizeof(r->client_ip));
	}
	uri = uri ? uri : "";
	q = strchr(uri, '?');
	r->raw_path = pp_http_req_strndup(r, uri, q ? (size_t)(q - uri) : strlen(uri));
	if (q)
		r->query_raw = pp_http_req_strdup(r, q + 1);
	if (!r->raw_path || (q && !r->query_raw)) {
		pp_http_request_free(r);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	s->active++;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	pp_http_request *r = cls;
	(void)kind;
	if (!key || r->nheaders >= 256)
		return MHD_NO;
	r->headers[r->nheaders].key = pp_http_req_strdup(r, key);
	r->headers[r->nheaders].value = pp_http_req_strdup(r, value ? value : "");
	if (!r->headers[r->nheaders].key || !r->headers[r->nheaders].value)
		return MHD_NO;
	r->nheaders++;
	return MHD_YES;
}

/* first call: headers are complete, no body yet */
static enum MHD_Result on_request_start(pp_http_server *s, pp_http_request *r,
                                        struct MHD_Connection *c, const char *url,
                                        const char *method)
{
	int n, rc;
	const char *v;
	r->conn = c;
	r->method = pp_http_req_strdup(r, method);
	r->path = pp_http_req_strdup(r, url);
	if (!r->method || !r->path)
		return MHD_NO;
	r->state = PP_HTTP_ST_READING;

	/* global source lists and the per-IP budget come before anything else is looked at */
	if (!pp_iplist_allowed(r->client_ip, s->cfg.server_ip_allow, s->cfg.server_ip_deny))
		return respond_error(s, r, 403, "ip_refused", "Requests from this address are not allowed.");
	if (!pp_ratelimit_take(s->ip_rl, r->client_ip, s->cfg.limits_ip_rate_per_min, pp_clock_now_ms(),
	                       &n)) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", n);
		pp_http_response_reset(r);
		if (pp_http_error(r, 429, "rate_limited", "Too many requests; try again later.") < 0 ||
		    pp_http_set_header(r, "Retry-After", ra) < 0)
			return MHD_NO;
		return queue_response(s, r);
	}

	n = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL);
	if (n > 256)
		return respond_error(s, r, 431, "headers_too_large", "Too many header fields.");
	r->headers = pp_http_req_alloc(r, sizeof(pp_http_kv) * (size_t)(n > 0 ? n : 1));
	if (!r->headers)
		return MHD_NO;
	MHD_get_connection_values(c, MHD_HEADER_KIND, copy_header, r);
	if (r->nheaders != n)
		return MHD_NO;
	v = pp_http_header(r, "User-Agent");
	if (v)
		r->user_agent = pp_http_req_strndup(r, v, strnlen(v, PP_HTTP_UA_MAX));
	if (!r->user_agent)
		return MHD_NO;

	v = pp_http_header(r, "Content-Length");
	if (v) {
		char *end;
		unsigned long long cl;
		errno = 0;
		cl = strtoull(v, &end, 10);
		if (errno || end == v || *end)
			return respond_error(s, r, 400, "bad_request", "Bad Content-Length.");
		r->upload_has_length = true;
		r->upload_declared = cl;
		/* an upload route applies its own limit (after begin, so that the refusal is audited) */
		if (cl > (unsigned long long)s->cfg.limits_max_body_bytes && !upload_match(s, r))
			return respond_error(s, r, 413, "too_large", "The request body is too large.");
	}
	rc = pp_http_request_parse_inputs(r, s->cfg.limits_max_query_params);
	if (rc == PP_ETOOBIG && r->query_err)
		return respond_error(s, r, 400, "too_many_parameters", "Too many query parameters.");
	if (rc == PP_ETOOBIG)
		return respond_error(s, r, 400, "too_many_cookies", "Too many cookies.");
	if (rc == PP_ENOMEM)
		return MHD_NO;
	if (rc < 0)
		return respond_error(s, r, 400, "bad_request", "The query string is malformed.");
	if (r->upload || upload_match(s, r))
		return upload_dispatch(s, r, PP_HTTP_UP_BEGIN);
	return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
	pp_http_server *s = cls;
	pp_http_request *r = *con_cls;
	(void)version;
	if (!r)
		return MHD_NO;   /* on_uri could not allocate: drop the connection */
	switch (r->state) {
	case PP_HTTP_ST_NEW:
		return on_request_start(s, r, c, url, method);
	case PP_HTTP_ST_READING:
		if (r->upload)
			return upload_body(s, r, upload_data, upload_data_size);
		if (*upload_data_size) {
			if (!r->body_too_big &&
			    pp_buf_append(&r->body, upload_data, *upload_data_size) < 0) {
				r->body_too_big = true;
				pp_buf_free(&r->body);
				pp_buf_init(&r->body, 0);
			}
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (r->body_too_big)
			return respond_error(s, r, 413, "too_large", "The request body is too large.");
		return route(s, r);
	case PP_HTTP_ST_RUNNING:
		return MHD_YES;
	case PP_HTTP_ST_DONE:
		return queue_response(s, r);
	case PP_HTTP_ST_SENT:
		*upload_data_size = 0;   /* answered early (413, 400): the rest of the body is dropped */
		return MHD_YES;
	}
	return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	pp_http_server *s = cls;
	pp_http_request *r = *con_cls;
	(void)c;
	if (!r)
		return;
	if (r->corked) {
		/* libmicrohttpd has handed over the whole response: send it */
		pp_http_tls_uncork(r->corked, r->corked_fd);
		r->corked = NULL;
	}
	if (r->upload_ctx && r->upload && r->upload->abort) {
		/* cut off after a refusal, or the client left mid-body: nothing is kept */
		r->upload->abort(r->upload_ctx, r->upload_err ? r->upload_err : PP_EIO);
		r->upload_ctx = NULL;
	}
	/* method, route pattern (never the raw path, query, cookies or body), status, bytes, ms */
	pp_log_info("http method=%s route=%s status=%d bytes=%zu ms=%lld rid=%s%s",
	            r->method ? r->method : "-", r->log_route,
	            r->state == PP_HTTP_ST_SENT ? r->status : 0, r->bytes_out,
	            (long long)((mono_us() - r->t_start_us) / 1000), r->request_id,
	            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" :
	            toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " end=timeout" :
	            toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? " end=shutdown" : " end=error");
	pp_http_request_free(r);
	*con_cls = NULL;
	pthread_mutex_lock(&s->mu);
	s->active--;
	/* only pp_http_server_stop waits for active to fall (once accepting is off); waking every
	 * idle worker on each completed request cost a tenth of the CPU under load */
	if (!s->accepting)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	pp_log_warn("http(mhd): %s", msg);
}

/* the plain-HTTP listener: every request gets 308 to the HTTPS origin and nothing else */
static bool redirect_path_ok(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 1024)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("/-._~", *p)))
			return false;
	return true;
}

static enum MHD_Result on_redirect(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
	pp_http_server *s = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char loc[1400];
	int n;
	(void)method;
	(void)version;
	(void)upload_data;
	if (*con_cls) {        /* already answered; drop any body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	*con_cls = s;
	n = snprintf(loc, sizeof(loc), "%s%s", s->public_url, redirect_path_ok(url) ? url : "/");
	if (n < 0 || (size_t)n >= sizeof(loc))
		return MHD_NO;
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, "Location", loc) != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", "no-store") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, MHD_HTTP_PERMANENT_REDIRECT, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- life cycle ---- */

int pp_http_server_new(pp_http_server **out, const pp_config *cfg, void *app)
{
	int rc = PP_ENOMEM;
	pp_http_server *s = NULL;
	size_t n;
	if (!out || !cfg)
		return PP_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->hold_mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->cfg = *cfg;
	s->app = app;
	if ((rc = pp_http_router_new(&s->router)) < 0 || (rc = pp_ratelimit_new(&s->ip_rl)) < 0)
		goto out;
	if (pp_iplist_check(cfg->server_ip_allow) || pp_iplist_check(cfg->server_ip_deny)) {
		pp_log_error("http: server.ip_allow / server.ip_deny must be CIDR lists");
		rc = PP_ECONFIG;
		goto out;
	}
	snprintf(s->hsts, sizeof(s->hsts), "max-age=%d; includeSubDomains",
	         cfg->tls_hsts_max_age > 0 ? cfg->tls_hsts_max_age : 0);
	n = strnlen(cfg->server_public_url, sizeof(cfg->server_public_url));
	while (n && cfg->server_public_url[n - 1] == '/')
		n--;
	if (n >= sizeof(s->public_url)) {
		rc = PP_ECONFIG;
		goto out;
	}
	memcpy(s->public_url, cfg->server_public_url, n);
	s->public_url[n] = '\0';
	s->qmax = (size_t)(cfg->server_workers > 0 ? cfg->server_workers : 1) * PP_HTTP_QUEUE_PER_WORKER;
	if (s->qmax < 64)
		s->qmax = 64;
	/* handlers and the server threads must not take SIGINT/SIGTERM: pp_http_server_wait
	 * collects them with sigwait. Threads created after this inherit the mask. */
	block_signals();
	*out = s;
	s = NULL;
	rc = 0;
out:
	pp_http_server_free(s);
	return rc;
}

int pp_http_route(pp_http_server *s, const char *method, const char *pattern, pp_http_handler h,
                  void *route_data)
{
	if (!s || s->started)
		return PP_EINVAL;
	return pp_http_router_add(s->router, method, pattern, h, route_data);
}

int pp_http_route_quick(pp_http_server *s, const char *method, const char *pattern,
                        pp_http_handler h, void *route_data, int (*on_fail)(pp_http_request *r))
{
	int rc;
	if (!s || s->started || !h || !on_fail || strcmp(method, "GET") != 0)
		return PP_EINVAL;
	if (quick_index(s, h) < 0) {
		if (s->nquick >= (int)(sizeof(s->quick) / sizeof(s->quick[0])))
			return PP_EINVAL;
		s->quick[s->nquick].h = h;
		s->quick[s->nquick].on_fail = on_fail;
		s->nquick++;
	} else if (s->quick[quick_index(s, h)].on_fail != on_fail) {
		return PP_EINVAL;
	}
	if ((rc = pp_http_router_add(s->router, method, pattern, h, route_data)) < 0)
		return rc;
	return 0;
}

int pp_http_route_upload(pp_http_server *s, const char *method, const char *pattern,
                         const pp_http_upload *u)
{
	pp_http_upload *copy;
	int rc;
	if (!s || s->started || !u || !u->begin || !u->chunk || !u->end || !u->abort ||
	    s->nuploads >= (int)(sizeof(s->uploads) / sizeof(s->uploads[0])))
		return PP_EINVAL;
	if (!(copy = malloc(sizeof(*copy))))
		return PP_ENOMEM;
	*copy = *u;
	if ((rc = pp_http_router_add(s->router, method, pattern, upload_marker, copy)) < 0) {
		free(copy);
		return rc;
	}
	s->uploads[s->nuploads++] = copy;
	return 0;
}

typedef struct routes_visit {
	pp_http_route_visitor visit;
	void *ctx;
} routes_visit;

static void route_visit(void *vctx, const char *method, const char *pattern, pp_http_handler h)
{
	routes_visit *v = vctx;

	v->visit(v->ctx, method, pattern, h == upload_marker ? "upload" : "handler");
}

int pp_http_server_routes_each(const pp_http_server *s, pp_http_route_visitor visit, void *ctx)
{
	routes_visit v = {.visit = visit, .ctx = ctx};
	int rc;

	if (!s || !visit)
		return PP_EINVAL;
	if ((rc = pp_http_router_each(s->router, route_visit, &v)))
		return rc;
	visit(ctx, "GET", "/", "asset");
	for (const pp_web_asset *a = pp_web_assets; a->path; a++)
		visit(ctx, "GET", a->path, "asset");
	return 0;
}

void pp_http_server_set_queue_max(pp_http_server *s, size_t n)
{
	if (s && !s->started && n > 0)
		s->qmax = n;
}

int pp_http_server_port(const pp_http_server *s)
{
	const union MHD_DaemonInfo *di;
	if (!s || !s->d)
		return 0;
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : 0;
}

static int make_addr(const char *bind, int port, struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	*v6 = false;
	if (!*bind)
		bind = "127.0.0.1";
	if (inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, bind, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*v6 = true;
		return 0;
	}
	return PP_ECONFIG;
}

static int read_pem(const pp_config *cfg, const char *rel, char **out, size_t *len)
{
	char path[1024];
	int rc = pp_config_path(cfg, rel, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = pp_file_read(path, CERT_FILE_LIMIT, out, len);
	if (rc < 0)
		pp_log_error("http: cannot read TLS file %s: %s", rel, pp_strerror(rc));
	return rc;
}

int pp_http_server_start(pp_http_server *s)
{
	int rc = PP_EINVAL;
	struct sockaddr_storage ss;
	bool v6;
	unsigned flags, threads;
	long cores;
	size_t mem;

	if (!s || s->started)
		return PP_EINVAL;
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS) || !MHD_is_feature_supported(MHD_FEATURE_EPOLL))
		return PP_ECONFIG;
	if ((rc = make_addr(s->cfg.server_bind, s->cfg.server_port, &ss, &v6)) < 0)
		goto out;
	if ((rc = read_pem(&s->cfg, s->cfg.tls_cert_file, &s->cert_pem, &s->cert_len)) < 0 ||
	    (rc = read_pem(&s->cfg, s->cfg.tls_key_file, &s->key_pem, &s->key_len)) < 0)
		goto out;

	block_signals();
	rc = PP_ENOMEM;
	s->queue = calloc(s->qmax, sizeof(*s->queue));
	s->nworkers = 0;
	s->workers = calloc((size_t)(s->cfg.server_workers > 0 ? s->cfg.server_workers : 1),
	                    sizeof(*s->workers));
	if (!s->queue || !s->workers)
		goto out;
	s->accepting = true;
	s->started = true;
	for (int i = 0; i < (s->cfg.server_workers > 0 ? s->cfg.server_workers : 1); i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			rc = PP_ENOMEM;
			goto out;
		}
		s->nworkers++;
	}

	cores = sysconf(_SC_NPROCESSORS_ONLN);
	threads = s->cfg.server_threads > 0 ? (unsigned)s->cfg.server_threads
	                                    : (unsigned)(cores > 0 ? cores : 1);
	/* the pool holds the read buffer (request line and headers) and the response headers */
	mem = (size_t)s->cfg.limits_max_header_bytes + 4096;
	flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	s->d = MHD_start_daemon(
		flags, (uint16_t)s->cfg.server_port, NULL, NULL, on_access, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,   /* first, so that every message uses it */
		MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
		MHD_OPTION_HTTPS_MEM_KEY, s->key_pem,
		MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem,
		MHD_OPTION_HTTPS_PRIORITIES, pp_http_tls_priorities(s->cfg.tls_min_version),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->cfg.limits_max_conn_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.limits_conn_timeout_s,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_END);
	if (!s->d) {
		pp_log_error("http: cannot listen on %s:%d", s->cfg.server_bind, s->cfg.server_port);
		rc = PP_EIO;
		goto out;
	}
	if (s->cfg.server_redirect_port > 0) {
		if ((rc = make_addr(s->cfg.server_bind, s->cfg.server_redirect_port, &ss, &v6)) < 0)
			goto out;
		s->redir = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
				(v6 ? MHD_USE_IPv6 : 0),
			(uint16_t)s->cfg.server_redirect_port, NULL, NULL, on_redirect, s,
			MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->cfg.limits_max_conn_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.limits_conn_timeout_s,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_STRICT_FOR_CLIENT, 1,
			MHD_OPTION_END);
		if (!s->redir) {
			pp_log_error("http: cannot listen on %s:%d (redirect)", s->cfg.server_bind,
			             s->cfg.server_redirect_port);
			rc = PP_EIO;
			goto out;
		}
	}
	pp_log_info("http: listening on %s:%d (TLS >= %s, %u I/O threads, %d workers)",
	            s->cfg.server_bind, pp_http_server_port(s), s->cfg.tls_min_version, threads,
	            s->nworkers);
	rc = 0;
out:
	if (rc < 0)
		pp_http_server_stop(s);
	return rc;
}

void pp_http_server_stop(pp_http_server *s)
{
	MHD_socket lsock = MHD_INVALID_SOCKET;
	if (!s || !s->started)
		return;
	if (s->redir) {
		MHD_stop_daemon(s->redir);
		s->redir = NULL;
	}
	/* no new connections; the socket is closed after MHD_stop_daemon */
	if (s->d)
		lsock = MHD_quiesce_daemon(s->d);
	/* drain: workers finish what is queued and resume those connections; new requests on open
	 * connections get 503 */
	pthread_mutex_lock(&s->mu);
	s->accepting = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	s->nworkers = 0;
	/* let the responses of drained requests go out (bounded: a slow client is not waited for) */
	if (s->d) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += DRAIN_MS / 1000;
		pthread_mutex_lock(&s->mu);
		while (s->active > 0 && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
			;
		pthread_mutex_unlock(&s->mu);
		MHD_stop_daemon(s->d);
		s->d = NULL;
	}
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	free(s->workers);
	s->workers = NULL;
	free(s->queue);
	s->queue = NULL;
	s->qhead = s->qlen = 0;
	s->started = false;
}

/* SIGINT/SIGTERM reach the waiting thread through a handler and a self-pipe rather than
 * sigwait: sigwait needs the signals blocked in every thread, and threads another module started
 * before pp_http_server_new would not have them blocked (the default action would then end the
 * process without a clean stop). With a handler installed, whichever thread takes the signal
 * just wakes the waiter. */
static int wait_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;
	if (write(wait_pipe[1], &b, 1) < 0) {
		/* nothing to do in a signal handler */
	}
	errno = saved;
}

void pp_http_server_wait(pp_http_server *s)
{
	struct sigaction sa, old_int, old_term;
	sigset_t set, oldmask;
	unsigned char sig = 0;
	if (!s)
		return;
	if (pipe2(wait_pipe, O_CLOEXEC) != 0) {
		pp_log_error("http: cannot create the signal pipe; stopping");
		pp_http_server_stop(s);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* a signal that arrived earlier is pending here and is delivered right now */
	pthread_sigmask(SIG_UNBLOCK, &set, &oldmask);
	for (;;) {
		ssize_t n = read(wait_pipe[0], &sig, 1);
		if (n == 1 || (n < 0 && errno != EINTR) || n == 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	close(wait_pipe[0]);
	close(wait_pipe[1]);
	wait_pipe[0] = wait_pipe[1] = -1;
	pp_log_info("http: signal %d received, stopping", sig);
	pp_http_server_stop(s);
}

void pp_http_server_free(pp_http_server *s)
{
	if (!s)
		return;
	pp_http_server_stop(s);
	pp_http_router_free(s->router);
	pp_ratelimit_free(s->ip_rl);
	for (int i = 0; i < s->nuploads; i++)
		free(s->uploads[i]);
	if (s->key_pem) {
		pp_wipe(s->key_pem, s->key_len);
		free(s->key_pem);
	}
	free(s->cert_pem);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->hold_mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
