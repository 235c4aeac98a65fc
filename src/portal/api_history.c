/* portal: "Who viewed my record" — a plain-language access history built from the audit log: who
 * (a staff member's name and role, or an app's name), when, what kind of data, and whether it was a
 * break-glass access. Only this patient's events are read (the audit log's patient index), and the
 * answer carries no internal ids, addresses or other patients' data. The patient's own views are
 * left out; reading the history is itself audited. */
#include "portal/portal_internal.h"

#include <string.h>

#include "store/store_oauth.h"

#define HISTORY_DAYS 365
#define HISTORY_MAX 500
#define NAME_CACHE 32

typedef struct kind {
	const char *type, *words;
} kind;

static const kind KINDS[] = {
	{"HealthSummary", "Your health summary"},
	{"Patient", "Your personal details (name, birth date, contact details)"},
	{"Observation", "Lab results and vital signs"},
	{"Condition", "Health problems"},
	{"MedicationRequest", "Medications"},
	{"AllergyIntolerance", "Allergies"},
	{"Immunization", "Immunizations"},
	{"Encounter", "Visits"},
	{"Procedure", "Procedures"},
	{"DocumentReference", "Documents"},
	{"File", "Documents and attachments"},
	{"Device", "Devices"},
	{"MessageThread", "Messages"},
	{"Communication", "Messages"},
};

static const char *words_for(const char *type)
{
	for (size_t i = 0; type && i < sizeof KINDS / sizeof KINDS[0]; i++)
		if (!strcmp(type, KINDS[i].type))
			return KINDS[i].words;
	return "Your record";
}

static const char *role_words(const char *role)
{
	static const char *const map[][2] = {
		{"clinician", "Clinician"}, {"nurse", "Nurse"}, {"front_desk", "Front desk"},
		{"billing", "Billing office"}, {"privacy_officer", "Privacy officer"},
		{"security_admin", "Security administrator"}, {"admin", "Administrator"},
		{"patient", "Patient"}, {"proxy", "Proxy"}, {"system", "Connected system"}};
	for (size_t i = 0; role && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(role, map[i][0]))
			return map[i][1];
	return "Staff";
}

typedef struct hist {
	pp_app *app;
	char self[48];                 /* "user:<id>" of the patient: their own views are left out */
	json_t *items;
	struct {
		char key[80];
		char name[128];
	} cache[NAME_CACHE];
	int ncache;
} hist;

/* a display name for "user:<id>" (the account name) or "client:<id>" (the app's registered name) */
static const char *display_name(hist *h, const char *actor)
{
	char *name = NULL;

	for (int i = 0; i < h->ncache; i++)
		if (!strcmp(h->cache[i].key, actor))
			return h->cache[i].name;
	if (!strncmp(actor, "user:", 5)) {
		pp_store_user u;
		uint8_t *pt = NULL;
		size_t len = 0;
		memset(&u, 0, sizeof u);
		if (pp_store_user_get(h->app->store, strtoll(actor + 5, NULL, 10), &u) == PP_OK &&
		    pp_crypto_unseal(h->app->crypto, "user_account", "username", u.id, u.username_enc,
		                     u.username_enc_len, &pt, &len) == PP_OK) {
			name = strndup((const char *)pt, len);
			pp_crypto_free_plain(pt, len);
		}
		pp_store_user_clear(&u);
	} else if (!strncmp(actor, "client:", 7)) {
		pp_store_oauth_client *c = calloc(1, sizeof *c);
		if (c && pp_store_oauth_client_get(h->app->store, actor + 7, c) == PP_OK)
			name = strdup(c->name);
		free(c);
	}
	if (h->ncache < NAME_CACHE && strlen(actor) < sizeof h->cache[0].key) {
		snprintf(h->cache[h->ncache].key, sizeof h->cache[0].key, "%s", actor);
		snprintf(h->cache[h->ncache].name, sizeof h->cache[0].name, "%s",
		         name ? name : "Someone no longer registered");
		free(name);
		return h->cache[h->ncache++].name;
	}
	free(name);
	return "Someone no longer registered";
}

static int one(void *ctx, int64_t seq, int64_t ts_ms, const pp_audit_event *ev)
{
	hist *h = ctx;
	char when[32], who[160];
	const char *via = "portal", *role = ev->actor_role;
	bool bg;
	json_t *item;

	(void)seq;
	if (!ev->actor || !ev->action || !ev->outcome || strcmp(ev->outcome, "success"))
		return 0;
	if (strcmp(ev->action, "read") && strcmp(ev->action, "search") &&
	    strcmp(ev->action, "file.download") && strcmp(ev->action, "message.read") &&
	    strcmp(ev->action, "breakglass.start"))
		return 0;
	/* the patient's own views (in the portal, or through an app they connected) are left out */
	if (!strcmp(ev->actor, h->self) || (ev->on_behalf_of && !strcmp(ev->on_behalf_of, h->self)))
		return 0;
	bg = (ev->purpose && !strcmp(ev->purpose, "emergency")) ||
	     !strcmp(ev->action, "breakglass.start");
	if (!strncmp(ev->actor, "client:", 7)) {
		via = "app";
		if (ev->on_behalf_of && !strncmp(ev->on_behalf_of, "user:", 5))
			snprintf(who, sizeof who, "%s, used by %s", display_name(h, ev->actor),
			         display_name(h, ev->on_behalf_of));
		else
			snprintf(who, sizeof who, "%s", display_name(h, ev->actor));
		if (!role || !strcmp(role, "system"))
			role = "system";
	} else {
		snprintf(who, sizeof who, "%s", display_name(h, ev->actor));
		/* someone acting for the patient (a proxy grant) */
		if (ev->on_behalf_of && !strncmp(ev->on_behalf_of, "patient:", 8))
			role = "proxy";
	}
	pp_clock_format_iso(ts_ms, when);
	item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "when", when, "who", who, "role",
	                 role_words(role), "what",
	                 !strcmp(ev->action, "breakglass.start") ? "Opened your record in an emergency (break-glass)"
	                                                          : words_for(ev->resource_type),
	                 "via", via, "break_glass", bg);
	return item && !json_array_append_new(h->items, item) ? 0 : PP_ENOMEM;
}

static int history_for(pp_app *app, pp_http_request *r, pp_principal *p, int64_t patient_id,
                       const char *pub)
{
	pp_policy_decision d;
	hist *h = calloc(1, sizeof *h);
	char detail[32];
	int rc;

	if (!h)
		return PP_ENOMEM;
	pp_policy_decide(app, p, PP_POLICY_READ,
	                &(pp_policy_target){.patient_id = patient_id, .resource_type = "AccessHistory"},
	                &d);
	/* the access history is the patient's own (and later their full proxies'): staff reach it
	 * through the audit tools, not through a care relationship */
	if (d.effect == PP_POLICY_DENY || strcmp(d.reason, "own-record")) {
		free(h);
		if (pp_portal_audit(app, p, "access-history.read", pub, "AccessHistory", NULL, "denied",
		                    d.purpose, d.effect == PP_POLICY_DENY ? d.reason : "not-own"))
			return pp_portal_audit_failed(r);
		return pp_http_error(r, 404, "not_found", "No such record");
	}
	h->app = app;
	snprintf(h->self, sizeof h->self, "user:%lld", (long long)p->user_id);
	if (!(h->items = json_array())) {
		free(h);
		return PP_ENOMEM;
	}
	rc = pp_audit_history(app->audit, pub, pp_clock_now_ms() - (int64_t)HISTORY_DAYS * 86400000,
	                      HISTORY_MAX, one, h);
	if (rc) {
		json_decref(h->items);
		free(h);
		return rc == PP_ENOMEM ? rc : pp_http_error(r, 503, "unavailable",
		                                            "The access history cannot be read now");
	}
	snprintf(detail, sizeof detail, "items:%zu", json_array_size(h->items));
	if (pp_portal_audit(app, p, "access-history.read", pub, "AccessHistory", NULL, "success",
	                    d.purpose, detail)) {
		json_decref(h->items);
		free(h);
		return pp_portal_audit_failed(r);
	}
	rc = pp_portal_json(r, 200, json_pack("{s:o, s:i}", "items", h->items, "days", HISTORY_DAYS),
	                    true);
	free(h);
	return rc;
}

static int h_mine(void *vapp, pp_http_request *r)
{
	pp_app *app = vapp;
	pp_session s;
	pp_principal p;
	pp_store_resource res;
	char pub[48] = "";

	if (pp_portal_session(app, r, PP_PORTAL_NEED_FULL, &s, &p))
		return 0;
	memset(&res, 0, sizeof res);
	if (s.patient_id <= 0 || pp_store_resource_get(app->store, s.patient_id, &res)) {
		pp_store_resource_clear(&res);
		return pp_http_error(r, 404, "not_found", "No record is linked to this account");
	}
	snprintf(pub, sizeof pub, "%s", res.pub_id);
	pp_store_resource_clear(&res);
	return history_for(app, r, &p, s.patient_id, pub);
}

int pp_portal_history_routes(struct pp_http_server *srv, pp_app *app)
{
	(void)app;
	return pp_http_route(srv, "GET", "/api/v1/me/access-history", h_mine, NULL) ? PP_EINVAL
	                                                                           : PP_OK;
}
