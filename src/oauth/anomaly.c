/* oauth: anomaly flags on bulk reads. Every FHIR response tells us how many records a client
 * received; per client we keep the count for the current hour and a moving average of earlier
 * hours. A client whose hour exceeds both oauth.anomaly_min_reads and oauth.anomaly_factor times its
 * usual rate is flagged once per hour (an audit record "oauth.anomaly" for the compliance review
 * queue) and, with oauth.anomaly_suspend, suspended at once — which ends its tokens' access, since
 * pp_oauth_authenticate checks the client's status on every request.
 *
 * The counters live in memory: a restart forgets the usual pattern (it errs towards flagging on the
 * threshold alone) but never hides reads, which the audit log holds in full. */
#include "oauth/oauth_internal.h"

#include <stdlib.h>
#include <string.h>

#define AN_SLOTS 1024
#define HOUR_MS (3600LL * 1000)

typedef struct an_slot {
	char client_id[64];
	int64_t hour;        /* index of the current hour */
	long count;          /* records in the current hour */
	double usual;        /* moving average of earlier hours (records per hour) */
	int hours_seen;
	bool flagged;        /* already flagged this hour */
} an_slot;

struct pp_oauth_anomaly {
	pthread_mutex_t mu;
	an_slot slots[AN_SLOTS];
};

int pp_oauth_anomaly_new(pp_oauth_anomaly **out)
{
	pp_oauth_anomaly *a = calloc(1, sizeof *a);

	*out = NULL;
	if (!a)
		return PP_ENOMEM;
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return PP_OK;
}

void pp_oauth_anomaly_free(pp_oauth_anomaly *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static an_slot *slot_for(pp_oauth_anomaly *a, const char *client_id)
{
	an_slot *free_slot = NULL, *oldest = NULL;

	for (int i = 0; i < AN_SLOTS; i++) {
		an_slot *s = &a->slots[i];
		if (!s->client_id[0]) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (!strcmp(s->client_id, client_id))
			return s;
		if (!oldest || s->hour < oldest->hour)
			oldest = s;
	}
	if (!free_slot)
		free_slot = oldest;
	memset(free_slot, 0, sizeof *free_slot);
	snprintf(free_slot->client_id, sizeof free_slot->client_id, "%s", client_id);
	return free_slot;
}

/* Pure decision, for unit tests: adds n records at now_ms; true when this call crosses into
 * "anomalous" for the current hour (once per hour). */
bool pp_oauth_anomaly_note(pp_oauth_anomaly *a, const char *client_id, long n, int64_t now_ms,
                           long min_reads, int factor, long *hour_count, double *usual)
{
	an_slot *s;
	int64_t hour = now_ms / HOUR_MS;
	bool fire = false;

	if (!a || !client_id || !*client_id || n <= 0)
		return false;
	pthread_mutex_lock(&a->mu);
	s = slot_for(a, client_id);
	if (s->hour != hour) {
		if (s->hours_seen > 0 || s->count > 0) {
			/* close the finished hour(s): idle hours count as zero */
			int64_t gap = s->hour ? hour - s->hour : 1;
			for (int64_t i = 0; i < gap && i < 48; i++) {
				double x = i == 0 ? (double)s->count : 0.0;
				s->usual = s->hours_seen ? s->usual * 0.8 + x * 0.2 : x;
				s->hours_seen++;
			}
		}
		s->hour = hour;
		s->count = 0;
		s->flagged = false;
	}
	s->count += n;
	if (!s->flagged && s->count > min_reads &&
	    (s->hours_seen == 0 || (double)s->count > (double)factor * s->usual)) {
		s->flagged = true;
		fire = true;
	}
	if (hour_count)
		*hour_count = s->count;
	if (usual)
		*usual = s->usual;
	pthread_mutex_unlock(&a->mu);
	return fire;
}

int pp_oauth_note_reads(pp_oauth *o, struct pp_http_request *r, const pp_oauth_grant *g, long n)
{
	long count = 0;
	double usual = 0;
	char detail[128];
	int rc = PP_OK;

	if (!o || !g || !g->client_id[0])
		return PP_OK;
	if (!pp_oauth_anomaly_note(o->anomaly, g->client_id, n, pp_clock_now_ms(),
	                           o->cfg->oauth_anomaly_min_reads, o->cfg->oauth_anomaly_factor,
	                           &count, &usual))
		return PP_OK;
	snprintf(detail, sizeof detail, "bulk-read: %ld records this hour, usual %.0f/h%s", count, usual,
	         o->cfg->oauth_anomaly_suspend ? ", client suspended" : "");
	pp_log_warn("oauth: client flagged for review (%ld records this hour)", count);
	if (o->cfg->oauth_anomaly_suspend &&
	    pp_store_oauth_client_set_status(o->st, g->client_id, "suspended") != PP_OK)
		pp_log_error("oauth: could not suspend a flagged client");
	rc = pp_oauth_audit(o, r, g->client_id, NULL, g->patient_pub, "oauth.anomaly",
	                    o->cfg->oauth_anomaly_suspend ? "suspended" : "flagged", detail);
	return rc;
}
