/* oauth: the bearer-token cache. Every /fhir request authenticates its token; reading the token
 * row, its family and its client from SQLite was a fifth of a request's CPU time. This keeps what
 * pp_oauth_authenticate decides on (pp_oauth_token_view) per token hash, tagged with the store epoch
 * (store_epoch.h) read before the rows were read.
 *
 * Why it cannot let a revoked or suspended token through: an entry is used only under the very epoch
 * it was filled in, and the epoch moves on any commit to the database, by this process or another
 * (`phiportal client suspend`), before the next request reads it. Everything that depends on the
 * request or the clock is still checked on every request by pp_oauth_authenticate: expiry, the
 * client's BAA against today (the verdict is kept for one UTC day only), the source IP, the rate
 * limit, and every refusal is audited as before.
 *
 * What it holds: token hashes (as stored in the database), client ids, scopes, opaque patient ids and
 * role names — no PHI and no token. Bounded: SLOTS entries of ~16 KB, allocated on first use,
 * direct-mapped on the hash (tokens are random), a newer token replaces an older one; memory only,
 * per process, gone at close. */
#include "oauth/token_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define SLOTS 256
#define LOCKS 16

typedef struct entry {
	uint8_t hash[32];
	uint64_t epoch;             /* 0: empty */
	pp_oauth_token_view v;
} entry;

struct pp_oauth_token_cache {
	pthread_mutex_t mu[LOCKS];
	entry *slots[SLOTS];
};

int pp_oauth_token_cache_new(pp_oauth_token_cache **out)
{
	pp_oauth_token_cache *tc;

	*out = NULL;
	if (!(tc = calloc(1, sizeof *tc)))
		return PP_ENOMEM;
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_init(&tc->mu[i], NULL);
	*out = tc;
	return PP_OK;
}

void pp_oauth_token_cache_free(pp_oauth_token_cache *tc)
{
	if (!tc)
		return;
	for (int i = 0; i < SLOTS; i++) {
		if (tc->slots[i])
			pp_wipe(tc->slots[i], sizeof *tc->slots[i]);
		free(tc->slots[i]);
	}
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_destroy(&tc->mu[i]);
	free(tc);
}

/* *dst = *src without the unused room of the scope set and of the IP lists (16 KiB per request) */
static void view_copy(pp_oauth_token_view *dst, const pp_oauth_token_view *src)
{
	_Static_assert(sizeof(pp_oauth_token_view) - offsetof(pp_oauth_token_view, scopes) -
	               sizeof(pp_scope_set) < _Alignof(pp_oauth_token_view),
	               "scopes is the view's last member");
	memcpy(dst, src, offsetof(pp_oauth_token_view, ip_allow));
	snprintf(dst->ip_allow, sizeof dst->ip_allow, "%s", src->ip_allow);
	snprintf(dst->ip_deny, sizeof dst->ip_deny, "%s", src->ip_deny);
	memcpy((char *)dst + offsetof(pp_oauth_token_view, rate_per_min),
	       (const char *)src + offsetof(pp_oauth_token_view, rate_per_min),
	       offsetof(pp_oauth_token_view, scopes) - offsetof(pp_oauth_token_view, rate_per_min));
	pp_oauth_scope_set_copy(&dst->scopes, &src->scopes);
}

static unsigned slot_of(const uint8_t hash[32])
{
	return ((unsigned)hash[0] | (unsigned)hash[1] << 8) % SLOTS;
}

bool pp_oauth_token_cache_get(pp_oauth_token_cache *tc, const uint8_t hash[32], uint64_t epoch,
                              pp_oauth_token_view *out)
{
	unsigned i;
	entry *e;
	bool hit = false;

	if (!tc || !epoch)
		return false;
	i = slot_of(hash);
	pthread_mutex_lock(&tc->mu[i % LOCKS]);
	e = tc->slots[i];
	if (e && e->epoch == epoch && !pp_ct_compare(e->hash, hash, 32)) {
		view_copy(out, &e->v);
		hit = true;
	}
	pthread_mutex_unlock(&tc->mu[i % LOCKS]);
	return hit;
}

void pp_oauth_token_cache_put(pp_oauth_token_cache *tc, const uint8_t hash[32], uint64_t epoch,
                              const pp_oauth_token_view *v)
{
	unsigned i;

	if (!tc || !epoch)
		return;
	i = slot_of(hash);
	pthread_mutex_lock(&tc->mu[i % LOCKS]);
	if (!tc->slots[i])
		tc->slots[i] = calloc(1, sizeof *tc->slots[i]);
	/* never replace a newer entry by one read under an older epoch */
	if (tc->slots[i] && tc->slots[i]->epoch <= epoch) {
		memcpy(tc->slots[i]->hash, hash, 32);
		tc->slots[i]->epoch = epoch;
		memcpy(&tc->slots[i]->v, v, sizeof *v);
	}
	pthread_mutex_unlock(&tc->mu[i % LOCKS]);
}
