/* oauth: per-client token buckets (rate per minute, burst = one minute's worth). A fixed table of
 * buckets under one mutex; when full, the least recently used bucket is reused (its client starts
 * again with a full bucket, which only ever errs towards allowing a burst). */
#include "oauth/oauth_internal.h"

#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 1024

typedef struct rl_slot {
	char key[64];
	double tokens;
	int64_t last_ms;
} rl_slot;

struct pp_oauth_ratelimit {
	pthread_mutex_t mu;
	rl_slot slots[RL_SLOTS];
};

int pp_oauth_ratelimit_new(pp_oauth_ratelimit **out)
{
	pp_oauth_ratelimit *rl = calloc(1, sizeof *rl);

	*out = NULL;
	if (!rl)
		return PP_ENOMEM;
	pthread_mutex_init(&rl->mu, NULL);
	*out = rl;
	return PP_OK;
}

void pp_oauth_ratelimit_free(pp_oauth_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

bool pp_oauth_ratelimit_take(pp_oauth_ratelimit *rl, const char *key, int rate_per_min,
                             int64_t now_ms, int *retry_after_s)
{
	rl_slot *slot = NULL, *oldest = NULL;
	double rate_ms, burst;
	bool ok;

	if (retry_after_s)
		*retry_after_s = 0;
	if (!rl || !key || rate_per_min <= 0)
		return true;
	rate_ms = rate_per_min / 60000.0;
	burst = rate_per_min;
	pthread_mutex_lock(&rl->mu);
	for (int i = 0; i < RL_SLOTS; i++) {
		rl_slot *s = &rl->slots[i];
		if (s->key[0] && !strncmp(s->key, key, sizeof s->key - 1)) {
			slot = s;
			break;
		}
		if (!oldest || !s->key[0] || (oldest->key[0] && s->last_ms < oldest->last_ms))
			oldest = s;
	}
	if (!slot) {
		slot = oldest;
		memset(slot, 0, sizeof *slot);
		strncpy(slot->key, key, sizeof slot->key - 1);
		slot->tokens = burst;
		slot->last_ms = now_ms;
	}
	if (now_ms > slot->last_ms) {
		slot->tokens += (double)(now_ms - slot->last_ms) * rate_ms;
		if (slot->tokens > burst)
			slot->tokens = burst;
		slot->last_ms = now_ms;
	}
	ok = slot->tokens >= 1.0;
	if (ok) {
		slot->tokens -= 1.0;
	} else if (retry_after_s) {
		int s = (int)((1.0 - slot->tokens) / rate_ms / 1000.0) + 1;
		*retry_after_s = s < 1 ? 1 : s;
	}
	pthread_mutex_unlock(&rl->mu);
	return ok;
}
