/* core: IP allow/deny lists in CIDR form (IPv4 and IPv6) and token-bucket rate limiting — shared by
 * http/ (global lists, per-IP limits) and oauth/ (per-client lists and limits). */
#include "core/core.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct addr { int family; uint8_t b[16]; } addr;

static int parse_addr(const char *s, size_t n, addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char buf[64];

	if (n == 0 || n >= sizeof buf)
		return PP_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, buf, a->b) == 1) {
		a->family = 4;
		return PP_OK;
	}
	if (inet_pton(AF_INET6, buf, a->b) == 1) {
		a->family = 6;
		if (!memcmp(a->b, mapped, 12)) {   /* ::ffff:a.b.c.d is the IPv4 address */
			memmove(a->b, a->b + 12, 4);
			memset(a->b + 4, 0, 12);
			a->family = 4;
		}
		return PP_OK;
	}
	return PP_EINVAL;
}

/* one "addr[/bits]" entry */
static int parse_cidr(const char *s, size_t n, addr *net, int *bits)
{
	const char *slash = memchr(s, '/', n);
	int max;

	if (parse_addr(s, slash ? (size_t)(slash - s) : n, net))
		return PP_EINVAL;
	max = net->family == 4 ? 32 : 128;
	*bits = max;
	if (slash) {
		char b[8];
		size_t bl = n - (size_t)(slash - s) - 1;
		char *end;
		long v;
		if (bl == 0 || bl >= sizeof b)
			return PP_EINVAL;
		memcpy(b, slash + 1, bl);
		b[bl] = '\0';
		v = strtol(b, &end, 10);
		if (*end || v < 0 || v > max)
			return PP_EINVAL;
		*bits = (int)v;
	}
	return PP_OK;
}

static bool in_net(const addr *ip, const addr *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (ip->family != net->family)
		return false;
	if (memcmp(ip->b, net->b, (size_t)full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((ip->b[full] & mask) != (net->b[full] & mask))
			return false;
	}
	return true;
}

/* walks a space- or comma-separated list; 1 when ip matches, 0 when not, <0 on a bad list */
static int list_match(const char *list, const addr *ip)
{
	const char *p = list;
	int hit = 0;

	while (p && *p) {
		size_t n;
		addr net;
		int bits;
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " ,");
		if (parse_cidr(p, n, &net, &bits))
			return PP_EINVAL;
		if (ip && in_net(ip, &net, bits))
			hit = 1;
		p += n;
	}
	return hit;
}

int pp_iplist_check(const char *list)
{
	return list_match(list, NULL) < 0 ? PP_EINVAL : PP_OK;
}

bool pp_iplist_allowed(const char *ip, const char *allow, const char *deny)
{
	addr a;
	bool has_allow = allow && strspn(allow, " ,") != strlen(allow);

	if (!ip || parse_addr(ip, strlen(ip), &a))
		return !has_allow && !(deny && *deny);   /* unknown source: only when no list applies */
	if (deny && list_match(deny, &a) != 0)      /* a match or a broken list refuses */
		return false;
	if (has_allow)
		return list_match(allow, &a) == 1;
	return true;
}

/* ---- token buckets: a fixed table under one mutex; when full the least recently used bucket is
 * reused (its key starts again with a full bucket, which only errs towards allowing a burst) ---- */
#define RL_SLOTS 4096

typedef struct rl_slot {
	char key[64];
	double tokens;
	int64_t last_ms;
} rl_slot;

struct pp_ratelimit {
	pthread_mutex_t mu;
	rl_slot slots[RL_SLOTS];
};

int pp_ratelimit_new(pp_ratelimit **out)
{
	pp_ratelimit *rl = calloc(1, sizeof *rl);

	*out = NULL;
	if (!rl)
		return PP_ENOMEM;
	pthread_mutex_init(&rl->mu, NULL);
	*out = rl;
	return PP_OK;
}

void pp_ratelimit_free(pp_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

bool pp_ratelimit_take(pp_ratelimit *rl, const char *key, int rate_per_min, int64_t now_ms,
                       int *retry_after_s)
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
		snprintf(slot->key, sizeof slot->key, "%s", key);
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
