/* notify: one-time codes for self-enrolment, and the hook through which the enrolment outbox is
 * drained by the delivery worker.
 *
 * A code goes to an address on a patient's record, not to an account's contact, so it cannot be an
 * ordinary outbox row (those name a user). portal/ keeps its own durable rows (address and code
 * sealed until sent) and registers a drain function that the worker calls on every round, after
 * the ordinary rows; pp_notify_wake runs a round at once.
 *
 * The text is fixed: the code, how long it is valid, the organisation and the portal's URL — no
 * name, no birth date, no identifier. */
#include "notify/notify_internal.h"

#include <stdlib.h>
#include <string.h>

static bool code_ok(const char *code)
{
	size_t n = code ? strlen(code) : 0;

	if (n < 6 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

void pp_notify_set_drain(pp_notify *n, pp_notify_drain_fn fn, void *arg)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->drain = fn;
	n->drain_arg = arg;
	pthread_mutex_unlock(&n->mu);
}

void pp_notify_drain(pp_notify *n)
{
	pp_notify_drain_fn fn;
	void *arg;

	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	fn = n->drain;
	arg = n->drain_arg;
	pthread_mutex_unlock(&n->mu);
	if (fn)
		fn(n, arg);
}

void pp_notify_wake(pp_notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->kick = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

bool pp_notify_channel_on(const pp_notify *n, const char *channel)
{
	if (!n || !channel)
		return false;
	if (!strcmp(channel, "email"))
		return n->email_on;
	if (!strcmp(channel, "sms"))
		return n->sms_on;
	return false;
}

int pp_notify_send_code(pp_notify *n, const char *channel, const char *to, const char *code,
                        int valid_min, char *err, size_t errcap)
{
	const char *org = n && n->cfg->notify_org_name[0] ? n->cfg->notify_org_name : "the portal";
	char portal[300], subject[PP_NOTIFY_SUBJECT_MAX], body[1200], sms[PP_NOTIFY_SMS_MAX + 400];
	pp_notify_texts t = {subject, body, sms};
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!n || !channel || !to || !code_ok(code) || !err || !errcap)
		return PP_EINVAL;
	if (n->cfg->notify_portal_url[0])
		snprintf(portal, sizeof portal, "%s", n->cfg->notify_portal_url);
	else
		snprintf(portal, sizeof portal, "%s/", n->cfg->server_public_url);
	snprintf(subject, sizeof subject, "Your sign-up code");
	snprintf(body, sizeof body,
	         "Your code to create your patient portal account is %s\n\n"
	         "It is valid for %d minutes and can be used once. If you did not ask for it, you can "
	         "ignore this message.\n\nContinue at %s\n\n%s\n", code, valid_min, portal, org);
	snprintf(sms, sizeof sms, "%s: your patient portal sign-up code is %s (valid %d minutes). %s",
	         org, code, valid_min, portal);
	if (!strcmp(channel, "email"))
		rc = pp_notify_send_email(n, to, &t, err, errcap);
	else if (!strcmp(channel, "sms"))
		rc = pp_notify_send_sms(n, to, &t, err, errcap);
	else
		rc = PP_EINVAL;
	pp_wipe(body, sizeof body);
	pp_wipe(sms, sizeof sms);
	return rc;
}
