/*
 * Per-IP login throttling, in memory. Each source address (IPv4, or the /64 of an IPv6 address,
 * since one host usually holds a whole /64) has a fixed window that starts at its first failure;
 * once it has used its failure budget in that window, attempts are refused until the window ends.
 * The table is a chained hash with a hard cap on entries: when full, expired entries are swept and
 * then the entry with the oldest window is evicted (an attacker flushing the table needs as many
 * addresses as the cap, and cannot evict an address that is still inside a newer window first).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

typedef struct entry {
	uint8_t key[16];
	int64_t window_start_ms;
	int failures;
	struct entry *next;
} entry;

struct pp_auth_throttle {
	pthread_mutex_t lock;
	entry **buckets;
	size_t nbuckets, count, capacity;
	int max_failures;
	int64_t window_ms;
	uint8_t seed[16];      /* keyed bucket choice: addresses cannot be picked to collide */
};

/* IPv4 as v4-mapped IPv6; IPv6 reduced to its /64; anything unparsable shares one key */
static void ip_key(const char *ip, uint8_t key[16])
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct in_addr a4;
	struct in6_addr a6;

	memset(key, 0, 16);
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		memcpy(key, v4mapped, sizeof v4mapped);
		memcpy(key + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, ip, &a6) == 1) {
		memcpy(key, &a6, 16);
		if (memcmp(key, v4mapped, sizeof v4mapped) != 0)
			memset(key + 8, 0, 8);
	} else {
		memset(key, 0xee, 16);
	}
}

static size_t bucket_of(const pp_auth_throttle *t, const uint8_t key[16])
{
	/* FNV-1a over seed|key: not cryptographic, but the random seed keeps chains unpredictable */
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < 16; i++)
		h = (h ^ t->seed[i]) * 1099511628211ULL;
	for (size_t i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h % t->nbuckets);
}

static entry **find(pp_auth_throttle *t, const uint8_t key[16])
{
	entry **pp = &t->buckets[bucket_of(t, key)];
	while (*pp && memcmp((*pp)->key, key, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

static bool expired(const pp_auth_throttle *t, const entry *e, int64_t now_ms)
{
	return now_ms - e->window_start_ms >= t->window_ms;
}

/* drops expired entries; when none expired, the one with the oldest window */
static void make_room(pp_auth_throttle *t, int64_t now_ms)
{
	entry **oldest = NULL;

	for (size_t b = 0; b < t->nbuckets; b++) {
		entry **pp = &t->buckets[b];
		while (*pp) {
			if (expired(t, *pp, now_ms)) {
				entry *e = *pp;
				*pp = e->next;
				free(e);
				t->count--;
				continue;
			}
			if (!oldest || (*pp)->window_start_ms < (*oldest)->window_start_ms)
				oldest = pp;
			pp = &(*pp)->next;
		}
	}
	if (t->count >= t->capacity && oldest) {
		entry *e = *oldest;
		*oldest = e->next;
		free(e);
		t->count--;
	}
}

int pp_auth_throttle_check(pp_auth_throttle *t, const char *ip, int64_t now_ms,
                           int *retry_after_s)
{
	uint8_t key[16];

	if (!t || !ip)
		return 0;
	ip_key(ip, key);
	return pp_auth_throttle_check_key(t, key, now_ms, retry_after_s);
}

void pp_auth_throttle_fail(pp_auth_throttle *t, const char *ip, int64_t now_ms)
{
	uint8_t key[16];

	if (!t || !ip)
		return;
	ip_key(ip, key);
	pp_auth_throttle_fail_key(t, key, now_ms);
}

int pp_auth_throttle_check_key(pp_auth_throttle *t, const uint8_t key[16], int64_t now_ms,
                               int *retry_after_s)
{
	entry *e;
	int ret = 0;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	e = *find(t, key);
	if (e && !expired(t, e, now_ms) && e->failures >= t->max_failures) {
		int64_t left = e->window_start_ms + t->window_ms - now_ms;
		if (retry_after_s)
			*retry_after_s = (int)((left + 999) / 1000);
		ret = PP_ELOCKED;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void pp_auth_throttle_fail_key(pp_auth_throttle *t, const uint8_t key[16], int64_t now_ms)
{
	entry **pp, *e;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	pp = find(t, key);
	e = *pp;
	if (e && expired(t, e, now_ms)) {
		e->window_start_ms = now_ms;
		e->failures = 0;
	}
	if (!e) {
		if (t->count >= t->capacity)
			make_room(t, now_ms);
		if (!(e = calloc(1, sizeof *e))) {
			pthread_mutex_unlock(&t->lock);
			return;
		}
		memcpy(e->key, key, 16);
		e->window_start_ms = now_ms;
		pp = &t->buckets[bucket_of(t, key)];
		e->next = *pp;
		*pp = e;
		t->count++;
	}
	if (e->failures < t->max_failures)
		e->failures++;
	pthread_mutex_unlock(&t->lock);
}

size_t pp_auth_throttle_count(pp_auth_throttle *t)
{
	size_t n;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int pp_auth_throttle_new(pp_auth_throttle **out, size_t capacity, int max_failures,
                         int window_s)
{
	pp_auth_throttle *t = NULL;
	int ret = PP_EINVAL;

	if (!out || capacity < 1 || max_failures < 1 || window_s < 1)
		goto out;
	ret = PP_ENOMEM;
	if (!(t = calloc(1, sizeof *t)))
		goto out;
	t->nbuckets = capacity / 4 + 1;
	if (!(t->buckets = calloc(t->nbuckets, sizeof *t->buckets)))
		goto out;
	if (pp_random(t->seed, sizeof t->seed) != 0) {
		ret = PP_ECRYPTO;
		goto out;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->capacity = capacity;
	t->max_failures = max_failures;
	t->window_ms = (int64_t)window_s * 1000;
	ret = 0;
out:
	if (ret < 0 && t) {
		free(t->buckets);
		free(t);
		t = NULL;
	}
	if (out)
		*out = t;
	return ret;
}

void pp_auth_throttle_free(pp_auth_throttle *t)
{
	if (!t)
		return;
	for (size_t b = 0; b < t->nbuckets; b++) {
		entry *e = t->buckets[b];
		while (e) {
			entry *n = e->next;
			free(e);
			e = n;
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t->buckets);
	free(t);
}
