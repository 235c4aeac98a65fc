/* fhir: a bounded in-memory cache of resource rows for the /fhir API, so that a read or a search
 * page does not run a SELECT for every row, reference and compartment it touches.
 *
 * What it holds — only what the database itself holds in the clear or sealed, never decrypted PHI:
 *   "I" row id            → the row as stored: sealed body (AEAD ciphertext, AAD bound to the row),
 *                           type, pub_id, patient row id, version, last-updated, digest, blind index
 *   "P" type + pub_id     → row id (pub_ids are opaque random ids)
 *   "L" type + blind idx  → pub_id of a referenced resource, or none (reference rewriting)
 *   "D" patient + type    → that compartment's row ids (search without filters)
 * Bodies are still opened (crypto/) per request, so the key hierarchy still decides who can read.
 *
 * Why it cannot serve what the database would not: every entry is tagged with the store epoch
 * (store/store_epoch.h) taken before its rows were read and is used only under that very epoch, and
 * the epoch moves on every commit to the database by this or another process (an import, an update).
 * It replaces SELECTs only: authentication, scope and policy checks and the one audit record per
 * request run as before, on the same rows.
 *
 * Bounded: SETS x WAYS entries and at most BYTES_MAX bytes of values; a full set drops its least
 * recently used (stale entries first). Per process, memory only (never written to disk), wiped when
 * dropped. */
#include "fhir/api_internal.h"
#include "store/store_epoch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define SETS 4096
#define WAYS 4
#define LOCKS 64
#define KEY_MAX 80
#define VAL_MAX ((size_t)256 << 10)     /* a larger row is not cached */
#define BYTES_MAX ((size_t)32 << 20)

typedef struct way {
	uint64_t hash, epoch;          /* epoch 0: empty */
	const pp_store *st;
	uint64_t tick;
	uint8_t klen;
	uint8_t key[KEY_MAX];
	uint8_t *val;
	size_t vlen;
} way;

typedef struct cache {
	pthread_mutex_t mu[LOCKS];
	way sets[SETS][WAYS];
	_Atomic size_t bytes;
	_Atomic uint64_t tick;
} cache;

static cache *g_cache;                 /* lives for the process */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void cache_init(void)
{
	cache *c = calloc(1, sizeof *c);

	if (!c)
		return;   /* no cache: every lookup goes to the store */
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	g_cache = c;
}

static cache *cache_get(void)
{
	pthread_once(&g_once, cache_init);
	return g_cache;
}

static uint64_t fnv(const uint8_t *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 1099511628211ULL;
	return h;
}

static void way_drop(cache *c, way *w)
{
	if (w->val) {
		pp_wipe(w->val, w->vlen);
		free(w->val);
		atomic_fetch_sub(&c->bytes, w->vlen);
	}
	memset(w, 0, sizeof *w);
}

/* *val (malloc'd copy) and true when key is cached for st under epoch */
static bool lookup(const pp_store *st, uint64_t epoch, const uint8_t *key, size_t klen,
                   uint8_t **val, size_t *vlen)
{
	cache *c = cache_get();
	uint64_t h;
	way *set;
	bool hit = false;

	*val = NULL;
	*vlen = 0;
	if (!c || !epoch || klen > KEY_MAX)
		return false;
	h = fnv(key, klen);
	set = c->sets[h % SETS];
	pthread_mutex_lock(&c->mu[h % SETS % LOCKS]);
	for (int i = 0; i < WAYS; i++) {
		way *w = &set[i];
		if (w->epoch != epoch || w->hash != h || w->st != st || w->klen != klen ||
		    memcmp(w->key, key, klen))
			continue;
		if (!(*val = malloc(w->vlen ? w->vlen : 1)))
			break;
		memcpy(*val, w->val, w->vlen);
		*vlen = w->vlen;
		w->tick = atomic_fetch_add(&c->tick, 1);
		hit = true;
		break;
	}
	pthread_mutex_unlock(&c->mu[h % SETS % LOCKS]);
	return hit;
}

static void insert(const pp_store *st, uint64_t epoch, const uint8_t *key, size_t klen,
                   const void *val, size_t vlen)
{
	cache *c = cache_get();
	uint64_t h;
	way *set, *victim = NULL;
	uint8_t *copy;

	if (!c || !epoch || klen > KEY_MAX || vlen > VAL_MAX)
		return;
	if (!(copy = malloc(vlen ? vlen : 1)))
		return;
	memcpy(copy, val, vlen);
	h = fnv(key, klen);
	set = c->sets[h % SETS];
	pthread_mutex_lock(&c->mu[h % SETS % LOCKS]);
	for (int i = 0; i < WAYS; i++) {
		way *w = &set[i];
		if (w->epoch && w->hash == h && w->st == st && w->klen == klen &&
		    !memcmp(w->key, key, klen)) {
			victim = w->epoch <= epoch ? w : NULL;   /* never overwrite a newer fill */
			goto chosen;
		}
	}
	for (int i = 0; i < WAYS; i++) {
		way *w = &set[i];
		if (!w->epoch || w->epoch < epoch) {   /* empty or stale */
			victim = w;
			goto chosen;
		}
		if (!victim || w->tick < victim->tick)
			victim = w;
	}
chosen:
	if (victim) {
		way_drop(c, victim);
		if (atomic_load(&c->bytes) + vlen <= BYTES_MAX) {
			victim->hash = h;
			victim->epoch = epoch;
			victim->st = st;
			victim->klen = (uint8_t)klen;
			memcpy(victim->key, key, klen);
			victim->val = copy;
			victim->vlen = vlen;
			victim->tick = atomic_fetch_add(&c->tick, 1);
			atomic_fetch_add(&c->bytes, vlen);
			copy = NULL;
		}
	}
	pthread_mutex_unlock(&c->mu[h % SETS % LOCKS]);
	if (copy) {
		pp_wipe(copy, vlen);
		free(copy);
	}
}

/* ---- keys ---- */

static size_t key_id(uint8_t *k, int64_t id)
{
	k[0] = 'I';
	memcpy(k + 1, &id, sizeof id);
	return 1 + sizeof id;
}

/* kind, type, NUL, then n bytes of data; 0 when it does not fit */
static size_t key_typed(uint8_t *k, char kind, const char *type, const void *data, size_t n)
{
	size_t tl = strlen(type);

	if (1 + tl + 1 + n > KEY_MAX)
		return 0;
	k[0] = (uint8_t)kind;
	memcpy(k + 1, type, tl + 1);
	memcpy(k + 2 + tl, data, n);
	return 2 + tl + n;
}

/* ---- rows: the stored struct (body pointer cleared) followed by the sealed body ---- */

static void row_insert(const pp_store *st, uint64_t epoch, const pp_store_resource *row)
{
	uint8_t k[KEY_MAX], *v = NULL;
	size_t n = sizeof *row + row->body_len;
	pp_store_resource head = *row;

	if (n > VAL_MAX || !(v = malloc(n)))
		return;
	head.body = NULL;
	memcpy(v, &head, sizeof head);
	if (row->body_len)
		memcpy(v + sizeof head, row->body, row->body_len);
	insert(st, epoch, k, key_id(k, row->id), v, n);
	free(v);   /* ciphertext: no wipe needed */
}

static int row_from(uint8_t *v, size_t n, bool with_body, pp_store_resource *out)
{
	int rc = PP_OK;

	memcpy(out, v, sizeof *out);
	out->body = NULL;
	if (with_body && out->body_len) {
		if (n != sizeof *out + out->body_len || !(out->body = malloc(out->body_len)))
			rc = PP_ENOMEM;
		else
			memcpy(out->body, v + sizeof *out, out->body_len);
	}
	if (!with_body || rc)
		out->body_len = 0;
	free(v);
	return rc;
}

int pp_fhir_cache_get(pp_store *st, uint64_t epoch, int64_t id, bool with_body,
                      pp_store_resource *out)
{
	uint8_t k[KEY_MAX], *v = NULL;
	size_t n;
	int rc;

	memset(out, 0, sizeof *out);
	if (lookup(st, epoch, k, key_id(k, id), &v, &n) && n >= sizeof *out)
		return row_from(v, n, with_body, out);
	free(v);
	if ((rc = pp_store_resource_get(st, id, out)))
		return rc;
	row_insert(st, epoch, out);
	if (!with_body)
		pp_store_resource_clear(out);
	return PP_OK;
}

int pp_fhir_cache_get_pub(pp_store *st, uint64_t epoch, const char *type, const char *pub_id,
                          pp_store_resource *out)
{
	uint8_t k[KEY_MAX], *v = NULL;
	size_t n, kl = key_typed(k, 'P', type, pub_id, strlen(pub_id));
	int64_t id;
	int rc;

	memset(out, 0, sizeof *out);
	if (kl && lookup(st, epoch, k, kl, &v, &n)) {
		if (n == sizeof id) {
			memcpy(&id, v, sizeof id);
			free(v);
			/* the row must still be of this type and pub_id (it is, under the same epoch) */
			if (!(rc = pp_fhir_cache_get(st, epoch, id, true, out)) &&
			    !strcmp(out->type, type) && !strcmp(out->pub_id, pub_id))
				return PP_OK;
			pp_store_resource_clear(out);
			memset(out, 0, sizeof *out);
			if (rc && rc != PP_ENOTFOUND)
				return rc;
		} else {
			free(v);
		}
	}
	if ((rc = pp_store_resource_get_pub(st, type, pub_id, out)))
		return rc;   /* not-found is not remembered: unknown ids are the caller's to choose */
	if (kl)
		insert(st, epoch, k, kl, &out->id, sizeof out->id);
	row_insert(st, epoch, out);
	return PP_OK;
}

int pp_fhir_cache_pub_of_lid(pp_store *st, uint64_t epoch, const char *type,
                             const uint8_t lid_bidx[32], char *pub_id, size_t cap)
{
	uint8_t k[KEY_MAX], *v = NULL;
	size_t n, kl = key_typed(k, 'L', type, lid_bidx, 32);
	int rc;

	pub_id[0] = '\0';
	if (kl && lookup(st, epoch, k, kl, &v, &n)) {
		rc = n == 0 ? PP_ENOTFOUND : n < cap ? PP_OK : PP_ETOOBIG;
		if (!rc) {
			memcpy(pub_id, v, n);
			pub_id[n] = '\0';
		}
		free(v);
		return rc;
	}
	free(v);
	rc = pp_store_resource_pub_of_lid(st, type, lid_bidx, pub_id, cap);
	if ((rc == PP_OK || rc == PP_ENOTFOUND) && kl)   /* a reference to nothing stays nothing */
		insert(st, epoch, k, kl, pub_id, rc ? 0 : strlen(pub_id));
	return rc;
}

int pp_fhir_cache_ids(pp_store *st, uint64_t epoch, int64_t patient_id, const char *type,
                      int64_t **ids, size_t *n)
{
	uint8_t k[KEY_MAX], *v = NULL;
	size_t vn, kl = key_typed(k, 'D', type, &patient_id, sizeof patient_id);
	int rc;

	*ids = NULL;
	*n = 0;
	if (kl && lookup(st, epoch, k, kl, &v, &vn)) {
		if (vn % sizeof **ids == 0) {
			*ids = vn ? (int64_t *)(void *)v : NULL;
			*n = vn / sizeof **ids;
			if (!vn)
				free(v);
			return PP_OK;
		}
		free(v);
	}
	if ((rc = pp_store_resource_ids_for_patient(st, patient_id, type, ids, n)))
		return rc;
	if (kl)
		insert(st, epoch, k, kl, *ids ? (const void *)*ids : "", *n * sizeof **ids);
	return PP_OK;
}

/* ---- served text and served pages ----
 * The served form of a row (its decrypted body with the served id, meta and rewritten references),
 * and the entries of a search page made of such rows, are the one thing here that is PHI in the
 * clear. They are kept because opening, scanning and rewriting each row was most of a read's and a
 * search's work, and they are kept under these rules:
 *   - they are handed out only by the read and search handlers, after the same authentication,
 *     scope and policy checks on the same rows and before the same one audit record: a hit replaces
 *     the decryption and the writing, never a check (callers look them up only where they would
 *     write the same bytes themselves);
 *   - keyed under the store epoch: any commit (a new version, a new or removed reference target, a
 *     row added to or removed from a compartment) retires them, as for the rows above;
 *   - bounded: each kind has one fixed arena of slots, allocated once, locked in RAM (mlock: never
 *     swapped to disk) and left out of core dumps (MADV_DONTDUMP); where the arena cannot be locked
 *     there is no such cache at all. A slot is overwritten in place and its unused tail wiped, so no
 *     copy is left behind; values longer than a slot are not kept.
 * Whoever can read this process's memory can read the data key next to it as well, so the arenas
 * add no reach; they keep the recently served rows and pages only. */

#include <sys/mman.h>

#define PLAIN_KEY 24

typedef struct plain_slot {
	uint8_t key[PLAIN_KEY];
	uint64_t epoch;                /* 0: empty */
	const pp_store *st;
	uint64_t tick;
	size_t len, len2;              /* the value: two parts, one after the other in the slot */
} plain_slot;

typedef struct plain_cache {
	const char *what;
	size_t slot, ways, bytes_max, bytes_min;
	pthread_once_t once;
	pthread_mutex_t mu[LOCKS];
	size_t nsets;
	plain_slot *slots;             /* nsets * ways */
	char *arena;                   /* nsets * ways * slot, mlock'ed */
	_Atomic uint64_t tick;
	bool ready;
} plain_cache;

/* a row's served text: 4 KiB slots, 16 MiB (at least 1 MiB) */
static plain_cache g_text = { .what = "served-text", .slot = 4096, .ways = 4,
                              .bytes_max = (size_t)16 << 20, .bytes_min = (size_t)1 << 20,
                              .once = PTHREAD_ONCE_INIT };
/* a search page's entries and their ids: 64 KiB slots, 2 MiB (at least 512 KiB) */
static plain_cache g_page = { .what = "search-page", .slot = (size_t)64 << 10, .ways = 4,
                              .bytes_max = (size_t)2 << 20, .bytes_min = (size_t)512 << 10,
                              .once = PTHREAD_ONCE_INIT };

static void plain_init(plain_cache *t)
{
	size_t bytes;

	for (bytes = t->bytes_max; bytes >= t->bytes_min; bytes /= 2) {
		void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		if (madvise(p, bytes, MADV_DONTDUMP) == 0 && mlock(p, bytes) == 0) {
			t->arena = p;
			break;
		}
		munmap(p, bytes);
	}
	if (!t->arena) {
		pp_log_info("fhir: no %s cache (memory cannot be locked)", t->what);
		return;
	}
	t->nsets = bytes / t->slot / t->ways;
	if (!(t->slots = calloc(t->nsets * t->ways, sizeof *t->slots))) {
		munlock(t->arena, bytes);
		munmap(t->arena, bytes);
		t->arena = NULL;
		return;
	}
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_init(&t->mu[i], NULL);
	t->ready = true;
}

static void text_init(void) { plain_init(&g_text); }
static void page_init(void) { plain_init(&g_page); }

static plain_cache *plain_ready(plain_cache *t)
{
	pthread_once(&t->once, t == &g_text ? text_init : page_init);
	return t->ready ? t : NULL;
}

/* appends the cached value's parts to out1 and out2 (out2 may be NULL for one-part values) */
static bool plain_get(plain_cache *t, const pp_store *st, uint64_t epoch,
                      const uint8_t key[PLAIN_KEY], pp_buf *out1, pp_buf *out2)
{
	size_t set, m1 = out1->len, m2 = out2 ? out2->len : 0;
	bool hit = false;

	if (!epoch || !(t = plain_ready(t)))
		return false;
	set = (size_t)(fnv(key, PLAIN_KEY) % t->nsets);
	pthread_mutex_lock(&t->mu[set % LOCKS]);
	for (size_t i = set * t->ways; i < (set + 1) * t->ways; i++) {
		plain_slot *s = &t->slots[i];
		const char *v = t->arena + i * t->slot;
		if (s->epoch != epoch || s->st != st || memcmp(s->key, key, PLAIN_KEY))
			continue;
		if (pp_buf_append(out1, v, s->len) == PP_OK &&
		    (!out2 || pp_buf_append(out2, v + s->len, s->len2) == PP_OK)) {
			s->tick = atomic_fetch_add(&t->tick, 1);
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&t->mu[set % LOCKS]);
	if (!hit) {   /* nothing half-appended */
		out1->len = m1;
		if (out1->data)
			out1->data[m1] = '\0';
		if (out2) {
			out2->len = m2;
			if (out2->data)
				out2->data[m2] = '\0';
		}
	}
	return hit;
}

static void plain_put(plain_cache *t, const pp_store *st, uint64_t epoch,
                      const uint8_t key[PLAIN_KEY], const char *v1, size_t l1, const char *v2,
                      size_t l2)
{
	plain_slot *victim = NULL;
	size_t set, vi = 0;

	if (!epoch || !(t = plain_ready(t)) || l1 > t->slot || l2 > t->slot - l1)
		return;
	set = (size_t)(fnv(key, PLAIN_KEY) % t->nsets);
	pthread_mutex_lock(&t->mu[set % LOCKS]);
	for (size_t i = set * t->ways; i < (set + 1) * t->ways; i++) {
		plain_slot *s = &t->slots[i];
		if (s->epoch && s->st == st && !memcmp(s->key, key, PLAIN_KEY)) {
			victim = s->epoch <= epoch ? s : NULL;   /* never overwrite a newer fill */
			vi = i;
			goto chosen;
		}
	}
	for (size_t i = set * t->ways; i < (set + 1) * t->ways; i++) {
		plain_slot *s = &t->slots[i];
		if (!s->epoch || s->epoch < epoch) {
			victim = s;
			vi = i;
			break;
		}
		if (!victim || s->tick < victim->tick) {
			victim = s;
			vi = i;
		}
	}
chosen:
	if (victim) {
		char *slot = t->arena + vi * t->slot;
		size_t old = victim->len + victim->len2;
		memcpy(slot, v1, l1);
		if (l2)
			memcpy(slot + l1, v2, l2);
		if (old > l1 + l2)
			pp_wipe(slot + l1 + l2, old - l1 - l2);
		memcpy(victim->key, key, PLAIN_KEY);
		victim->epoch = epoch;
		victim->st = st;
		victim->len = l1;
		victim->len2 = l2;
		victim->tick = atomic_fetch_add(&t->tick, 1);
	}
	pthread_mutex_unlock(&t->mu[set % LOCKS]);
}

static void text_key(int64_t id, uint8_t key[PLAIN_KEY])
{
	memset(key, 0, PLAIN_KEY);
	memcpy(key, &id, sizeof id);
}

bool pp_fhir_cache_text_get(pp_store *st, uint64_t epoch, int64_t id, pp_buf *out)
{
	uint8_t key[PLAIN_KEY];

	text_key(id, key);
	return plain_get(&g_text, st, epoch, key, out, NULL);
}

void pp_fhir_cache_text_put(pp_store *st, uint64_t epoch, int64_t id, const char *text, size_t len)
{
	uint8_t key[PLAIN_KEY];

	text_key(id, key);
	plain_put(&g_text, st, epoch, key, text, len, NULL, 0);
}

/* type is interned (pp_fhir_api_type), so its address names it */
static void page_key(int64_t patient_id, const char *type, uint32_t offset, uint32_t end,
                     uint8_t key[PLAIN_KEY])
{
	memset(key, 0, PLAIN_KEY);
	memcpy(key, &patient_id, 8);
	memcpy(key + 8, &type, sizeof type);
	memcpy(key + 16, &offset, 4);
	memcpy(key + 20, &end, 4);
}

bool pp_fhir_cache_page_get(pp_store *st, uint64_t epoch, int64_t patient_id, const char *type,
                            uint32_t offset, uint32_t end, pp_buf *entries, pp_buf *ids)
{
	uint8_t key[PLAIN_KEY];

	page_key(patient_id, type, offset, end, key);
	return plain_get(&g_page, st, epoch, key, entries, ids);
}

void pp_fhir_cache_page_put(pp_store *st, uint64_t epoch, int64_t patient_id, const char *type,
                            uint32_t offset, uint32_t end, const char *entries, size_t len,
                            const char *ids, size_t ids_len)
{
	uint8_t key[PLAIN_KEY];

	page_key(patient_id, type, offset, end, key);
	plain_put(&g_page, st, epoch, key, entries, len, ids, ids_len);
}
