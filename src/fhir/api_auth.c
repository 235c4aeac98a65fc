/* fhir: who is calling the /fhir API, and the shared pieces of every handler — authentication
 * (an OAuth bearer token, or the portal's own fully signed-in session cookie for the first-party
 * web UI), SMART scope checks, the one audit call per request, FHIR JSON responses and
 * OperationOutcome errors, content negotiation and the authenticated page cursor.
 *
 * Without an authorization server (app->oauth NULL) every bearer token is invalid (401). */
#include "fhir/api_internal.h"
#include "store/store_epoch.h"

#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>


#define CURSOR_TTL_S 3600
#define CURSOR_MAX_OFFSET 1000000
#define CURSOR_BYTES (4 + 8 + 32)

const char *const pp_fhir_api_types[] = {
	"Patient", "Observation", "Condition", "AllergyIntolerance", "Immunization",
	"MedicationRequest", "Encounter", "Procedure", "DocumentReference", "Device",
	"Practitioner", "Organization", "Location",
	"Consent",   /* the patient's sharing choices, written by the portal (consent.c) */
	NULL,
};

const char *pp_fhir_api_type(const char *type)
{
	for (int i = 0; type && pp_fhir_api_types[i]; i++)
		if (!strcmp(type, pp_fhir_api_types[i]))
			return pp_fhir_api_types[i];
	return NULL;
}

bool pp_fhir_api_directory_type(const char *type)
{
	return !strcmp(type, "Practitioner") || !strcmp(type, "Organization") ||
	       !strcmp(type, "Location");
}

/* ---- responses ---- */

int pp_fhir_api_send(pp_http_request *r, int status, json_t *obj, bool phi)
{
	char *text;
	int rc;

	if (!obj)
		return PP_ENOMEM;
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		return PP_ENOMEM;
	pp_http_status(r, status);
	if (phi)
		pp_http_mark_phi(r);
	rc = pp_http_body_set(r, PP_FHIR_CONTENT_TYPE, text, strlen(text));
	pp_wipe(text, strlen(text));
	free(text);
	return rc;
}

int pp_fhir_api_send_text(pp_http_request *r, int status, const char *text, size_t len, bool phi)
{
	pp_http_status(r, status);
	if (phi)
		pp_http_mark_phi(r);
	return pp_http_body_set(r, PP_FHIR_CONTENT_TYPE, text, len);
}

int pp_fhir_api_send_buf(pp_http_request *r, int status, pp_buf *b, bool phi)
{
	pp_http_status(r, status);
	if (phi)
		pp_http_mark_phi(r);
	return pp_http_body_take(r, PP_FHIR_CONTENT_TYPE, b);
}

int pp_fhir_api_error(pp_http_request *r, int status, const char *code, const char *text)
{
	if (status == 401)
		pp_http_set_header(r, "WWW-Authenticate", "Bearer realm=\"phiportal\"");
	return pp_fhir_api_send(r, status, pp_fhir_outcome("error", code, text), false);
}

int pp_fhir_api_not_found(pp_http_request *r)
{
	/* one body for "does not exist" and "you may not see it" */
	return pp_fhir_api_error(r, 404, "not-found", "Resource not found");
}

int pp_fhir_api_audit_failed(pp_http_request *r)
{
	return pp_fhir_api_error(r, 503, "transient",
	                         "The request could not be recorded and was not carried out");
}

/* ---- content negotiation ---- */

bool pp_fhir_api_accept_ok(pp_http_request *r)
{
	static const char *const ok[] = {"application/fhir+json", "application/json",
	                                 "application/json+fhir", "application/*", "*/*"};
	const char *a = pp_http_header(r, "Accept");
	const char *fmt = pp_http_query(r, "_format");

	if (fmt && strstr(fmt, "xml"))
		return false;
	if (!a || !*a)
		return true;
	while (*a) {
		const char *end = strchr(a, ','), *semi;
		size_t n;

		if (!end)
			end = a + strlen(a);
		while (a < end && (*a == ' ' || *a == '\t'))
			a++;
		semi = memchr(a, ';', (size_t)(end - a));
		n = (size_t)((semi ? semi : end) - a);
		while (n && (a[n - 1] == ' ' || a[n - 1] == '\t'))
			n--;
		for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
			if (strlen(ok[i]) == n && !strncasecmp(a, ok[i], n))
				return true;
		a = *end ? end + 1 : end;
	}
	return false;
}

bool pp_fhir_api_strict(pp_http_request *r)
{
	const char *p = pp_http_header(r, "Prefer");

	return p && strstr(p, "handling=strict") != NULL;
}

/* ---- authentication ---- */

static void base_principal(pp_http_request *r, pp_fhir_caller *c)
{
	snprintf(c->p.source_ip, sizeof c->p.source_ip, "%s", pp_http_client_ip(r));
	snprintf(c->p.user_agent, sizeof c->p.user_agent, "%s", pp_http_user_agent(r));
	snprintf(c->p.request_id, sizeof c->p.request_id, "%s", pp_http_request_id(r));
}

static bool has_patient_scopes(const pp_scope_set *set)
{
	for (int i = 0; i < set->n; i++)
		if (set->items[i].context == PP_SCOPE_PATIENT)
			return true;
	return false;
}

static int from_token(pp_app *app, pp_http_request *r, pp_fhir_caller *c)
{
	pp_oauth_grant *g = &c->grant;
	int rc;

	if (!app->oauth) {
		pp_http_set_header(r, "WWW-Authenticate",
		                   "Bearer realm=\"phiportal\", error=\"invalid_token\"");
		pp_fhir_api_send(r, 401, pp_fhir_outcome("error", "login", "Invalid access token"), false);
		return PP_EAUTH;
	}
	/* refusals are audited by pp_oauth_authenticate itself */
	rc = pp_oauth_authenticate(app->oauth, r, g);
	if (rc == PP_ELOCKED) {   /* rate limit: Retry-After is already set */
		pp_fhir_api_error(r, 429, "throttled", "Too many requests; try again later");
		return PP_ELOCKED;
	}
	if (rc == PP_EAUDIT) {
		pp_fhir_api_error(r, 503, "transient", "The request could not be recorded");
		return PP_EAUDIT;
	}
	if (rc == PP_EDENIED) {
		pp_fhir_api_error(r, 403, "forbidden", "This client may not use the API now");
		return PP_EDENIED;
	}
	if (rc) {
		pp_http_set_header(r, "WWW-Authenticate",
		                   "Bearer realm=\"phiportal\", error=\"invalid_token\"");
		pp_fhir_api_send(r, 401, pp_fhir_outcome("error", "login", "Invalid access token"), false);
		return PP_EAUTH;
	}
	c->token = true;
	c->epoch = g->store_epoch;
	snprintf(c->p.actor, sizeof c->p.actor, "client:%s", g->client_id);
	snprintf(c->p.session_id, sizeof c->p.session_id, "%s", g->token_id);
	c->p.user_id = g->user_id;
	if (g->patient_id > 0 && has_patient_scopes(&g->scopes)) {
		/* patient/ scopes: the grant's patient compartment and nothing else */
		c->ctx = PP_SCOPE_PATIENT;
		c->restricted = true;
		c->restrict_patient = g->patient_id;
	} else if (g->user_id > 0) {
		c->ctx = PP_SCOPE_USER;
	} else {
		c->ctx = PP_SCOPE_SYSTEM;
	}
	if (g->user_id > 0) {
		snprintf(c->p.role, sizeof c->p.role, "%s", g->user_role);
		snprintf(c->on_behalf_of, sizeof c->on_behalf_of, "user:%lld", (long long)g->user_id);
		if (!strcmp(g->user_role, "patient")) {
			c->p.patient_id = g->patient_id;
			c->restricted = true;
			c->restrict_patient = g->patient_id;
		}
	} else {
		snprintf(c->p.role, sizeof c->p.role, "system");
	}
	snprintf(c->scopes, sizeof c->scopes, "%s", g->scope_text);
	return PP_OK;
}

static int from_session(pp_app *app, pp_http_request *r, pp_fhir_caller *c)
{
	const char *token = pp_http_cookie(r, "pp_session");
	pp_session s;

	if (!token || !*token) {
		pp_fhir_api_error(r, 401, "login", "Authentication required");
		return PP_EAUTH;
	}
	memset(&s, 0, sizeof s);
	if (pp_auth_session_get(app->auth, token, true, &s) || s.state != PP_SESSION_FULL) {
		pp_fhir_api_error(r, 401, "login", "Authentication required");
		return PP_EAUTH;
	}
	c->p.user_id = s.user_id;
	snprintf(c->p.actor, sizeof c->p.actor, "user:%lld", (long long)s.user_id);
	snprintf(c->p.role, sizeof c->p.role, "%s", s.role);
	snprintf(c->p.session_id, sizeof c->p.session_id, "%s", s.id);
	c->p.patient_id = s.patient_id;
	if (!strcmp(s.role, "patient")) {
		c->restricted = true;
		c->restrict_patient = s.patient_id;
	}
	pp_wipe(s.csrf, sizeof s.csrf);
	if (pp_store_epoch(app->store, &c->epoch))
		c->epoch = 0;   /* no cache for this request */
	return PP_OK;
}

int pp_fhir_api_authenticate(pp_app *app, pp_http_request *r, pp_fhir_caller *c)
{
	const char *authz = pp_http_header(r, "Authorization");
	const char *method = pp_http_method(r);

	/* all but the grant's unused scope room (the caller struct is 14 KiB, zeroed per request) */
	memset(c, 0, offsetof(pp_fhir_caller, grant));
	pp_oauth_grant_clear(&c->grant);
	memset((char *)c + offsetof(pp_fhir_caller, grant) + sizeof c->grant, 0,
	       sizeof *c - offsetof(pp_fhir_caller, grant) - sizeof c->grant);
	c->r = r;
	base_principal(r, c);
	if (authz) {
		if (strncasecmp(authz, "Bearer ", 7)) {
			pp_fhir_api_error(r, 401, "login", "Authentication required");
			return PP_EAUTH;
		}
		return from_token(app, r, c);
	}
	/* the session cookie serves the first-party UI, read only */
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		pp_fhir_api_error(r, 401, "login", "Authentication required");
		return PP_EAUTH;
	}
	return from_session(app, r, c);
}

bool pp_fhir_api_scope_allows(const pp_fhir_caller *c, const char *type, unsigned interaction,
                              const json_t *resource)
{
	if (!c->token)
		return true;   /* a session: the policy check alone decides */
	return pp_oauth_scope_allows(&c->grant.scopes, c->ctx, type, interaction, resource);
}

bool pp_fhir_api_scope_needs_resource(const pp_fhir_caller *c, const char *type,
                                      unsigned interaction)
{
	if (!c->token)
		return false;
	/* as pp_oauth_scope_allows: a scope without a parameter allows every resource */
	for (int i = 0; i < c->grant.scopes.n; i++) {
		const pp_scope *sc = &c->grant.scopes.items[i];
		if (sc->context == c->ctx && !sc->param_name[0] &&
		    (!strcmp(sc->resource_type, "*") || !strcmp(sc->resource_type, type)) &&
		    (sc->interactions & interaction) == interaction)
			return false;
	}
	return true;
}

/* ---- the one audit call ---- */

int pp_fhir_api_audit(pp_app *app, const pp_fhir_caller *c, const char *action,
                      const char *patient, const char *type, const char *ids, const char *outcome,
                      const char *purpose, const char *reason)
{
	char detail[400];
	pp_audit_event ev;
	int rc;

	if (c->token)
		snprintf(detail, sizeof detail, "%s; client=%s; scopes=%s", reason ? reason : "-",
		         c->grant.client_id, c->scopes);
	else
		snprintf(detail, sizeof detail, "%s", reason ? reason : "-");
	ev = (pp_audit_event){
		.actor = c->p.actor[0] ? c->p.actor : "anonymous",
		.actor_role = c->p.role[0] ? c->p.role : NULL,
		.on_behalf_of = c->on_behalf_of[0] ? c->on_behalf_of : NULL,
		.patient = patient && *patient ? patient : NULL,
		.action = action, .resource_type = type, .resource_id = ids && *ids ? ids : NULL,
		.outcome = outcome, .source_ip = c->p.source_ip, .user_agent = c->p.user_agent,
		.session_id = c->p.session_id[0] ? c->p.session_id : NULL, .purpose = purpose,
		.request_id = c->p.request_id, .detail = detail,
	};
	if (c->r && pp_http_quick(c->r)) {
		/* served on the I/O thread: the response waits for the record, the thread does not */
		void *hold = pp_http_hold(c->r);
		rc = pp_audit_submit(app->audit, &ev, pp_http_hold_release, hold);
		if (rc)
			pp_http_hold_release(hold, rc);
	} else {
		rc = pp_audit_record(app->audit, &ev);
	}
	if (rc)
		pp_log_error("audit: record failed for request %s (%s)", c->p.request_id,
		             pp_strerror(rc));
	return rc ? PP_EAUDIT : PP_OK;
}

/* ---- the page cursor: offset + issue time, MAC'd over the query and the caller ---- */

static int cursor_mac(pp_app *app, const pp_fhir_caller *c, const pp_fhir_search *s,
                      uint32_t offset, uint64_t issued, uint8_t mac[32])
{
	pp_buf b;
	int rc;

	pp_buf_init(&b, PP_FHIR_NORM_MAX + 512);
	rc = pp_buf_appendf(&b, "pp-fhir-cursor-v1%c%s%c%s%c%s|%s|%lld|%s%c%u%c%llu", 0, s->type, 0,
	                    s->norm, 0, c->p.actor, c->p.role, (long long)c->restrict_patient,
	                    c->p.session_id, 0, offset, 0, (unsigned long long)issued);
	if (!rc)
		rc = pp_crypto_keyed_digest(app->crypto, b.data, b.len, mac);
	pp_buf_free(&b);
	return rc;
}

int pp_fhir_api_cursor_make(pp_app *app, const pp_fhir_caller *c, const pp_fhir_search *s,
                            uint32_t offset, char *out, size_t cap)
{
	uint8_t raw[CURSOR_BYTES];
	uint64_t issued = (uint64_t)pp_clock_now_s();
	int rc;

	if (cap < (CURSOR_BYTES + 2) / 3 * 4 + 1)
		return PP_ETOOBIG;
	for (int i = 0; i < 4; i++)
		raw[i] = (uint8_t)(offset >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		raw[4 + i] = (uint8_t)(issued >> (56 - 8 * i));
	if ((rc = cursor_mac(app, c, s, offset, issued, raw + 12)))
		return rc;
	pp_b64url_encode(raw, sizeof raw, out);
	return PP_OK;
}

int pp_fhir_api_cursor_check(pp_app *app, const pp_fhir_caller *c, const pp_fhir_search *s,
                             uint32_t *offset)
{
	uint8_t raw[CURSOR_BYTES + 4], mac[32];
	size_t n = 0;
	uint32_t off = 0;
	uint64_t issued = 0;
	int64_t now = pp_clock_now_s();

	*offset = 0;
	if (pp_b64url_decode(s->cursor, strlen(s->cursor), raw, sizeof raw, &n) ||
	    n != CURSOR_BYTES)
		return PP_EINVAL;
	for (int i = 0; i < 4; i++)
		off = off << 8 | raw[i];
	for (int i = 0; i < 8; i++)
		issued = issued << 8 | raw[4 + i];
	if (cursor_mac(app, c, s, off, issued, mac) || pp_ct_compare(mac, raw + 12, 32))
		return PP_EINVAL;
	if ((int64_t)issued > now + 60 || (int64_t)issued < now - CURSOR_TTL_S ||
	    off > CURSOR_MAX_OFFSET)
		return PP_EINVAL;
	*offset = off;
	return PP_OK;
}
