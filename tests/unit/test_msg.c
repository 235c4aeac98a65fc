/* msg: the store round trip of threads and messages, sealed content (nothing readable on disk, a
 * ciphertext moved to another row does not open), unread-count arithmetic across read receipts,
 * per-user deletes, pools and moves, drafts, the in-memory search path, the structured fields and
 * preferred times, and the FHIR Communication view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "msg/msg.h"
#include "store/store_access.h"
#include "store/store_msg.h"

typedef struct fx {
	char dir[64], db[128], key[128];
	pp_store *st;
	pp_crypto *c;
	int64_t alice, bob;                   /* Patient rows */
	int64_t u_alice, u_bob, u_nurse, u_doc, u_billing;
	int64_t reyes, billing;               /* pools */
} fx;

static int64_t add_user(fx *f, int64_t id, const char *role, int64_t patient)
{
	pp_store_user u = {.id = id, .created_ms = 1, .pw_hash = "x", .patient_id = patient};
	static uint8_t enc[4] = {1, 2, 3, 4};

	memset(u.username_bidx, (int)id, sizeof u.username_bidx);
	u.username_enc = enc;
	u.username_enc_len = sizeof enc;
	snprintf(u.role, sizeof u.role, "%s", role);
	assert_int_equal(pp_store_user_insert(f->st, &u), 0);
	return id;
}

static int64_t add_patient(fx *f, int64_t id)
{
	pp_store_resource r = {.id = id, .type = "Patient", .patient_id = id, .version = 1};
	static uint8_t body[4] = {9, 9, 9, 9};

	memset(r.lid_bidx, (int)id, sizeof r.lid_bidx);
	snprintf(r.pub_id, sizeof r.pub_id, "%llx", (long long)id);
	r.body = body;
	r.body_len = sizeof body;
	assert_int_equal(pp_store_resource_put(f->st, &r), 0);
	return id;
}

static int64_t add_pool(fx *f, const char *name)
{
	pp_store_pool p = {.created_ms = 1};
	int64_t id = 0;

	snprintf(p.name, sizeof p.name, "%s", name);
	assert_int_equal(pp_store_pool_insert(f->st, &p, &id), 0);
	return id;
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	pp_log_set_level(PP_LOG_ERROR);
	snprintf(f->dir, sizeof f->dir, "/tmp/pp_msg_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/phi.db", f->dir);
	snprintf(f->key, sizeof f->key, "%s/master.key", f->dir);
	assert_int_equal(pp_store_open(&f->st, f->db), 0);
	assert_int_equal(pp_crypto_keyfile_create(f->key), 0);
	assert_int_equal(pp_crypto_open(&f->c, f->key, f->st), 0);
	f->alice = add_patient(f, 1001);
	f->bob = add_patient(f, 1002);
	f->u_alice = add_user(f, 11, "patient", f->alice);
	f->u_bob = add_user(f, 12, "patient", f->bob);
	f->u_nurse = add_user(f, 21, "nurse", 0);
	f->u_doc = add_user(f, 22, "clinician", 0);
	f->u_billing = add_user(f, 23, "billing", 0);
	f->reyes = add_pool(f, "Dr. Reyes' team");
	f->billing = add_pool(f, "Billing");
	assert_int_equal(pp_store_pool_member_add(f->st, f->reyes, f->u_nurse), 0);
	assert_int_equal(pp_store_pool_member_add(f->st, f->reyes, f->u_doc), 0);
	assert_int_equal(pp_store_pool_member_add(f->st, f->billing, f->u_billing), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	char cmd[160];

	pp_crypto_free(f->c);
	pp_store_close(f->st);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static pp_store_msg_viewer patient_v(int64_t user, int64_t patient)
{
	return (pp_store_msg_viewer){.user_id = user, .patient_id = patient, .side = "patient"};
}

static pp_store_msg_viewer staff_v(int64_t user)
{
	return (pp_store_msg_viewer){.user_id = user, .side = "staff"};
}

static int64_t unread(fx *f, pp_store_msg_viewer v)
{
	int64_t n = -1;

	assert_int_equal(pp_store_msg_unread_count(f->st, &v, &n), 0);
	return n;
}

static void new_thread(fx *f, int64_t patient, int64_t pool, const char *subject,
                       pp_store_msg_thread *t)
{
	memset(t, 0, sizeof *t);
	t->id = pp_store_new_id();
	snprintf(t->pub_id, sizeof t->pub_id, "%032llx", (long long)t->id);
	t->patient_id = patient;
	t->pool_id = pool;
	snprintf(t->kind, sizeof t->kind, "text");
	t->created_ms = t->updated_ms = pp_clock_now_ms();
	assert_int_equal(pp_crypto_seal(f->c, "msg_thread", "subject", t->id, subject,
	                                strlen(subject), &t->subject_enc, &t->subject_enc_len), 0);
	assert_int_equal(pp_store_msg_thread_insert(f->st, t), 0);
}

static int64_t add_msg(fx *f, const pp_store_msg_thread *t, int64_t author, const char *side,
                       const char *body)
{
	pp_store_msg m;
	char content[512];
	int64_t last = 0;

	memset(&m, 0, sizeof m);
	m.id = pp_store_new_id();
	snprintf(m.pub_id, sizeof m.pub_id, "%032llx", (long long)m.id);
	m.thread_id = t->id;
	m.author_id = author;
	snprintf(m.side, sizeof m.side, "%s", side);
	snprintf(m.kind, sizeof m.kind, "text");
	m.created_ms = pp_clock_now_ms();
	if (pp_store_msg_last_in_thread(f->st, t->id, &last) == 0)
		m.in_reply_to = last;
	snprintf(content, sizeof content, "{\"body\":\"%s\",\"fields\":{}}", body);
	assert_int_equal(pp_crypto_seal(f->c, "msg_message", "content", m.id, content,
	                                strlen(content), &m.content_enc, &m.content_enc_len), 0);
	assert_int_equal(pp_store_msg_insert(f->st, &m), 0);
	pp_store_msg_clear(&m);
	return m.id;
}

static bool file_contains(const char *path, const char *needle)
{
	char *data = NULL;
	size_t len = 0;
	bool found = false;

	if (pp_file_read(path, 64u << 20, &data, &len))
		return false;
	for (size_t i = 0; !found && i + strlen(needle) <= len; i++)
		found = !memcmp(data + i, needle, strlen(needle));
	free(data);
	return found;
}

typedef struct collect {
	fx *f;
	int n;
	char bodies[16][128];
	int64_t ids[16];
} collect;

static int collect_msg(void *vctx, const pp_store_msg *m)
{
	collect *x = vctx;
	uint8_t *pt = NULL;
	size_t len = 0;

	assert_int_equal(pp_crypto_unseal(x->f->c, "msg_message", "content", m->id, m->content_enc,
	                                  m->content_enc_len, &pt, &len), 0);
	if (x->n < 16) {
		snprintf(x->bodies[x->n], sizeof x->bodies[0], "%s", (char *)pt);
		x->ids[x->n] = m->id;
	}
	x->n++;
	pp_crypto_free_plain(pt, len);
	return 0;
}

static void test_round_trip_sealed(void **state)
{
	fx *f = *state;
	pp_store_msg_thread t, got;
	pp_store_msg m;
	collect x = {.f = f};
	uint8_t *pt = NULL;
	size_t len = 0;
	int64_t mid;
	char wal[160];

	new_thread(f, f->alice, f->reyes, "Knee pain after the new dose", &t);
	mid = add_msg(f, &t, f->u_alice, "patient", "My knee hurts since Tuesday zebrafinch");
	assert_int_equal(pp_store_msg_thread_get_pub(f->st, t.pub_id, &got), 0);
	assert_int_equal(got.id, t.id);
	assert_int_equal(got.patient_id, f->alice);
	assert_int_equal(got.pool_id, f->reyes);
	assert_int_equal(pp_crypto_unseal(f->c, "msg_thread", "subject", got.id, got.subject_enc,
	                                  got.subject_enc_len, &pt, &len), 0);
	assert_string_equal((char *)pt, "Knee pain after the new dose");
	pp_crypto_free_plain(pt, len);
	/* the AAD binds the row: the same ciphertext does not open as another thread's subject,
	 * nor as a message's content */
	assert_int_equal(pp_crypto_unseal(f->c, "msg_thread", "subject", got.id + 1, got.subject_enc,
	                                  got.subject_enc_len, &pt, &len), PP_ECRYPTO);
	assert_int_equal(pp_crypto_unseal(f->c, "msg_message", "content", got.id, got.subject_enc,
	                                  got.subject_enc_len, &pt, &len), PP_ECRYPTO);
	pp_store_msg_thread_clear(&got);

	assert_int_equal(pp_store_msg_each_in_thread(f->st, t.id, f->u_alice, collect_msg, &x), 0);
	assert_int_equal(x.n, 1);
	assert_non_null(strstr(x.bodies[0], "zebrafinch"));
	memset(&m, 0, sizeof m);
	assert_int_equal(pp_store_msg_get_pub(f->st, "0000", &m), PP_ENOTFOUND);
	{
		char pub[PP_STORE_MSG_PUB_LEN];
		snprintf(pub, sizeof pub, "%032llx", (long long)mid);
		assert_int_equal(pp_store_msg_get_pub(f->st, pub, &m), 0);
		assert_string_equal(m.thread_pub, t.pub_id);
		assert_int_equal(m.thread_patient_id, f->alice);
		assert_string_equal(m.side, "patient");
		pp_store_msg_clear(&m);
	}
	/* nothing readable on disk: neither the database nor its write-ahead log holds the text */
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	assert_false(file_contains(f->db, "zebrafinch"));
	assert_false(file_contains(wal, "zebrafinch"));
	assert_false(file_contains(f->db, "Knee pain"));
	assert_false(file_contains(wal, "Knee pain"));
	pp_store_msg_thread_clear(&t);
}

static void test_unread_arithmetic(void **state)
{
	fx *f = *state;
	pp_store_msg_thread t, t2;
	pp_store_msg_viewer va = patient_v(f->u_alice, f->alice), vb = patient_v(f->u_bob, f->bob);
	pp_store_msg_viewer vn = staff_v(f->u_nurse), vd = staff_v(f->u_doc),
	                    vbill = staff_v(f->u_billing);
	int changed = -1;
	int64_t m1, m2, r1, r2;

	assert_int_equal(unread(f, va), 0);
	assert_int_equal(unread(f, vn), 0);
	new_thread(f, f->alice, f->reyes, "Refill", &t);
	m1 = add_msg(f, &t, f->u_alice, "patient", "one");
	m2 = add_msg(f, &t, f->u_alice, "patient", "two");
	(void)m1;
	/* both pool members see two unread; the patient's own messages are not unread for her;
	 * billing and the other patient see nothing */
	assert_int_equal(unread(f, vn), 2);
	assert_int_equal(unread(f, vd), 2);
	assert_int_equal(unread(f, va), 0);
	assert_int_equal(unread(f, vbill), 0);
	assert_int_equal(unread(f, vb), 0);
	/* the doctor deletes one for himself: his count drops, the nurse's does not */
	assert_int_equal(pp_store_msg_delete_for(f->st, m2, f->u_doc, 5), 0);
	assert_int_equal(pp_store_msg_delete_for(f->st, m2, f->u_doc, 6), PP_EEXISTS);
	assert_int_equal(unread(f, vd), 1);
	assert_int_equal(unread(f, vn), 2);
	/* the nurse reads the thread: the pool side's receipts are set for everyone in the pool */
	assert_int_equal(pp_store_msg_mark_read(f->st, t.id, &vn, 100, &changed), 0);
	assert_int_equal(changed, 2);
	assert_int_equal(unread(f, vn), 0);
	assert_int_equal(unread(f, vd), 0);
	assert_int_equal(pp_store_msg_mark_read(f->st, t.id, &vn, 200, &changed), 0);
	assert_int_equal(changed, 0);
	/* replies from staff count for the patient until she reads them */
	r1 = add_msg(f, &t, f->u_nurse, "staff", "reply one");
	r2 = add_msg(f, &t, f->u_doc, "staff", "reply two");
	assert_int_equal(unread(f, va), 2);
	assert_int_equal(unread(f, vn), 0);
	/* deleting an unread reply takes it out of her count; reading takes the rest */
	assert_int_equal(pp_store_msg_delete_for(f->st, r1, f->u_alice, 7), 0);
	assert_int_equal(unread(f, va), 1);
	assert_int_equal(pp_store_msg_mark_read(f->st, t.id, &va, 300, &changed), 0);
	assert_int_equal(changed, 2);   /* the deleted one is marked too: it stays not-unread */
	assert_int_equal(unread(f, va), 0);
	(void)r2;
	/* per-thread counts in the inbox */
	new_thread(f, f->alice, f->billing, "Bill", &t2);
	add_msg(f, &t2, f->u_alice, "patient", "bill question");
	assert_int_equal(unread(f, vbill), 1);
	assert_int_equal(unread(f, vn), 0);
	/* reassignment moves the unread message to the other pool's count */
	assert_int_equal(pp_store_msg_thread_update(f->st, t2.id, f->reyes, 0, 0), 0);
	assert_int_equal(unread(f, vbill), 0);
	assert_int_equal(unread(f, vn), 1);
	/* a whole-thread move: the wrong patient loses it, the right one gains it */
	add_msg(f, &t2, f->u_nurse, "staff", "answer");
	assert_int_equal(unread(f, va), 1);
	assert_int_equal(pp_store_msg_thread_update(f->st, t2.id, 0, f->bob, 0), 0);
	assert_int_equal(unread(f, va), 0);
	assert_int_equal(unread(f, vb), 1);
	assert_int_equal(pp_store_msg_thread_update(f->st, 12345, 0, f->bob, 0), PP_ENOTFOUND);
	pp_store_msg_thread_clear(&t);
	pp_store_msg_thread_clear(&t2);
}

typedef struct inbox {
	int n;
	int unread[8];
	int visible[8];
	int64_t ids[8];
} inbox;

static int collect_thread(void *vctx, const pp_store_msg_thread *t)
{
	inbox *x = vctx;

	if (x->n < 8) {
		x->unread[x->n] = t->unread;
		x->visible[x->n] = t->visible;
		x->ids[x->n] = t->id;
	}
	x->n++;
	return 0;
}

static void test_inbox_and_move(void **state)
{
	fx *f = *state;
	pp_store_msg_thread t;
	pp_store_msg_viewer va = patient_v(f->u_alice, f->alice), vb = patient_v(f->u_bob, f->bob);
	pp_store_msg_viewer vn = staff_v(f->u_nurse), vbill = staff_v(f->u_billing);
	inbox a = {0}, b = {0}, n = {0}, bill = {0};
	int64_t m1, m2;
	collect x = {.f = f};

	new_thread(f, f->alice, f->reyes, "Inbox", &t);
	m1 = add_msg(f, &t, f->u_alice, "patient", "first");
	m2 = add_msg(f, &t, f->u_nurse, "staff", "second");
	assert_int_equal(pp_store_msg_thread_each(f->st, &va, 10, collect_thread, &a), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.unread[0], 1);
	assert_int_equal(a.visible[0], 2);
	assert_int_equal(pp_store_msg_thread_each(f->st, &vn, 10, collect_thread, &n), 0);
	assert_int_equal(n.n, 1);
	assert_int_equal(n.unread[0], 1);
	assert_int_equal(pp_store_msg_thread_each(f->st, &vbill, 10, collect_thread, &bill), 0);
	assert_int_equal(bill.n, 0);
	assert_int_equal(pp_store_msg_thread_each(f->st, &vb, 10, collect_thread, &b), 0);
	assert_int_equal(b.n, 0);
	/* a thread whose every message the viewer deleted leaves the viewer's inbox only */
	assert_int_equal(pp_store_msg_delete_for(f->st, m1, f->u_alice, 1), 0);
	assert_int_equal(pp_store_msg_delete_for(f->st, m2, f->u_alice, 1), 0);
	memset(&a, 0, sizeof a);
	assert_int_equal(pp_store_msg_thread_each(f->st, &va, 10, collect_thread, &a), 0);
	assert_int_equal(a.n, 0);
	memset(&n, 0, sizeof n);
	assert_int_equal(pp_store_msg_thread_each(f->st, &vn, 10, collect_thread, &n), 0);
	assert_int_equal(n.n, 1);
	assert_int_equal(n.visible[0], 2);
	/* a single message moved to another thread */
	{
		pp_store_msg_thread t2;
		new_thread(f, f->bob, f->reyes, "Inbox", &t2);
		assert_int_equal(pp_store_msg_set_thread(f->st, m1, t2.id), 0);
		assert_int_equal(pp_store_msg_each_in_thread(f->st, t2.id, 0, collect_msg, &x), 0);
		assert_int_equal(x.n, 1);
		assert_int_equal(x.ids[0], m1);
		/* the content still opens: the AAD binds the message row, not its thread */
		assert_non_null(strstr(x.bodies[0], "first"));
		memset(&b, 0, sizeof b);
		assert_int_equal(pp_store_msg_thread_each(f->st, &vb, 10, collect_thread, &b), 0);
		assert_int_equal(b.n, 1);
		pp_store_msg_thread_clear(&t2);
	}
	pp_store_msg_thread_clear(&t);
}

static void test_drafts(void **state)
{
	fx *f = *state;
	pp_store_msg_thread t;
	uint8_t *ct = NULL, *got = NULL;
	size_t ctlen = 0, len = 0;
	int64_t id = 0, id2 = pp_store_new_id(), gid = 0, ms = 0;

	new_thread(f, f->alice, f->reyes, "Drafts", &t);
	id = pp_store_new_id();
	assert_int_equal(pp_crypto_seal(f->c, "msg_draft", "content", id, "v1", 2, &ct, &ctlen), 0);
	assert_int_equal(pp_store_msg_draft_put(f->st, id, t.id, f->u_alice, ct, ctlen, 10), 0);
	free(ct);
	assert_int_equal(pp_crypto_seal(f->c, "msg_draft", "content", id2, "v2", 2, &ct, &ctlen), 0);
	assert_int_equal(pp_store_msg_draft_put(f->st, id2, t.id, f->u_alice, ct, ctlen, 20), 0);
	free(ct);
	/* one draft per thread and author: the second save replaced the first */
	assert_int_equal(pp_store_msg_draft_get(f->st, t.id, f->u_alice, &gid, &got, &len, &ms), 0);
	assert_int_equal(gid, id2);
	assert_int_equal(ms, 20);
	{
		uint8_t *pt = NULL;
		size_t plen = 0;
		assert_int_equal(pp_crypto_unseal(f->c, "msg_draft", "content", gid, got, len, &pt,
		                                  &plen), 0);
		assert_memory_equal(pt, "v2", 2);
		pp_crypto_free_plain(pt, plen);
	}
	free(got);
	got = NULL;
	/* the other side has none */
	assert_int_equal(pp_store_msg_draft_get(f->st, t.id, f->u_nurse, &gid, &got, &len, NULL),
	                 PP_ENOTFOUND);
	assert_int_equal(pp_store_msg_draft_delete(f->st, t.id, f->u_alice), 0);
	assert_int_equal(pp_store_msg_draft_delete(f->st, t.id, f->u_alice), PP_ENOTFOUND);
	pp_store_msg_thread_clear(&t);
}

/* the search path: the viewer's newest messages, decrypted and matched in memory */
typedef struct search {
	fx *f;
	const char *q;
	int hits, scanned;
} search;

static int search_one(void *vctx, const pp_store_msg *m)
{
	search *s = vctx;
	uint8_t *pt = NULL;
	size_t len = 0;

	s->scanned++;
	assert_int_equal(pp_crypto_unseal(s->f->c, "msg_message", "content", m->id, m->content_enc,
	                                  m->content_enc_len, &pt, &len), 0);
	if (pp_msg_text_contains((char *)pt, s->q))
		s->hits++;
	pp_crypto_free_plain(pt, len);
	return 0;
}

static void test_search(void **state)
{
	fx *f = *state;
	pp_store_msg_thread ta, tb;
	pp_store_msg_viewer va = patient_v(f->u_alice, f->alice), vb = patient_v(f->u_bob, f->bob);
	pp_store_msg_viewer vn = staff_v(f->u_nurse), vbill = staff_v(f->u_billing);
	search s = {.f = f, .q = "AARDVARK"};
	int64_t gone;

	new_thread(f, f->alice, f->reyes, "s", &ta);
	new_thread(f, f->bob, f->reyes, "s", &tb);
	add_msg(f, &ta, f->u_alice, "patient", "an aardvark in my garden");
	gone = add_msg(f, &ta, f->u_alice, "patient", "another Aardvark");
	add_msg(f, &tb, f->u_bob, "patient", "bob's aardvark");
	assert_int_equal(pp_store_msg_each_visible(f->st, &va, 100, search_one, &s), 0);
	assert_int_equal(s.hits, 2);   /* her own only, case-insensitive */
	assert_int_equal(pp_store_msg_delete_for(f->st, gone, f->u_alice, 1), 0);
	s.hits = s.scanned = 0;
	assert_int_equal(pp_store_msg_each_visible(f->st, &va, 100, search_one, &s), 0);
	assert_int_equal(s.hits, 1);   /* a message she deleted is not found */
	s.hits = s.scanned = 0;
	assert_int_equal(pp_store_msg_each_visible(f->st, &vb, 100, search_one, &s), 0);
	assert_int_equal(s.hits, 1);
	s.hits = s.scanned = 0;
	assert_int_equal(pp_store_msg_each_visible(f->st, &vn, 100, search_one, &s), 0);
	assert_int_equal(s.hits, 3);   /* the pool sees both patients' threads */
	s.hits = s.scanned = 0;
	assert_int_equal(pp_store_msg_each_visible(f->st, &vn, 2, search_one, &s), 0);
	assert_int_equal(s.scanned, 2);   /* bounded */
	s.hits = s.scanned = 0;
	assert_int_equal(pp_store_msg_each_visible(f->st, &vbill, 100, search_one, &s), 0);
	assert_int_equal(s.scanned, 0);
	/* a malformed viewer is refused rather than widened */
	{
		pp_store_msg_viewer bad = {.user_id = f->u_alice, .patient_id = 0, .side = "patient"};
		assert_int_equal(pp_store_msg_each_visible(f->st, &bad, 100, search_one, &s), PP_EINVAL);
		bad.side = "other";
		assert_int_equal(pp_store_msg_unread_count(f->st, &bad, &gone), PP_EINVAL);
	}
	assert_true(pp_msg_text_contains("Hello World", "o w"));
	assert_false(pp_msg_text_contains("Hello", "help"));
	assert_false(pp_msg_text_contains("Hello", ""));
	pp_store_msg_thread_clear(&ta);
	pp_store_msg_thread_clear(&tb);
}

static void fields_ok(const char *kind, const char *json, const char *expect_key)
{
	json_t *in = json_loads(json, 0, NULL), *out = NULL;
	const char *why = NULL;

	assert_int_equal(pp_msg_fields_check(kind, in, &out, &why), 0);
	if (expect_key)
		assert_non_null(json_object_get(out, expect_key));
	json_decref(out);
	json_decref(in);
}

static void fields_bad(const char *kind, const char *json, const char *why_expected)
{
	json_t *in = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL, *out = NULL;
	const char *why = NULL;

	assert_int_equal(pp_msg_fields_check(kind, in, &out, &why), PP_EINVAL);
	assert_null(out);
	assert_non_null(why);
	if (why_expected)
		assert_string_equal(why, why_expected);
	json_decref(in);
}

static void test_fields(void **state)
{
	char norm[17];

	(void)state;
	fields_ok("text", "{}", NULL);
	fields_ok("refill", "{\"medication_request_id\":\"ab12\"}", "medication_request_id");
	fields_ok("result_question", "{\"observation_id\":\"00ff\"}", "observation_id");
	fields_ok("appointment", "{\"reason\":\"follow-up\",\"preferred_times\":"
	          "[\"2030-01-02T09:30\",\"2032-02-29T10:00:59\"]}", "preferred_times");
	fields_bad("letter", "{}", "invalid_kind");
	fields_bad("text", "{\"x\":1}", "invalid_fields");
	fields_bad("refill", "{}", "invalid_medication_request_id");
	fields_bad("refill", "{\"medication_request_id\":\"../etc\"}", NULL);
	fields_bad("refill", "{\"medication_request_id\":\"ab\",\"extra\":1}", "invalid_fields");
	fields_bad("result_question", "{\"observation_id\":7}", "invalid_observation_id");
	fields_bad("appointment", "{\"reason\":\"\",\"preferred_times\":[\"2030-01-02T09:30\"]}",
	           "invalid_reason");
	fields_bad("appointment", "{\"reason\":\"x\",\"preferred_times\":[]}",
	           "invalid_preferred_times");
	fields_bad("appointment", "{\"reason\":\"x\",\"preferred_times\":[\"2030-02-30T09:30\"]}",
	           "invalid_preferred_times");
	fields_bad("appointment", "{\"reason\":\"x\",\"preferred_times\":[\"a\",\"b\",\"c\",\"d\","
	           "\"e\",\"f\"]}", "invalid_preferred_times");
	fields_bad("appointment", "[1]", "invalid_fields");
	assert_int_equal(pp_msg_time_parse("2031-12-31T23:59", 16, norm), 0);
	assert_string_equal(norm, "2031-12-31T23:59");
	assert_int_equal(pp_msg_time_parse("2024-02-29T00:00", 16, norm), 0);
	assert_int_equal(pp_msg_time_parse("2023-02-29T00:00", 16, norm), PP_EINVAL);
	assert_int_equal(pp_msg_time_parse("2023-01-01T24:00", 16, norm), PP_EINVAL);
	assert_int_equal(pp_msg_time_parse("2023-01-01 10:00", 16, norm), PP_EINVAL);
	assert_int_equal(pp_msg_time_parse("2023-01-01T10:0a", 16, norm), PP_EINVAL);
	assert_int_equal(pp_msg_time_parse("2023-01-01T10:00Z", 17, norm), PP_EINVAL);
	assert_true(pp_msg_id_valid("0123abcdef"));
	assert_false(pp_msg_id_valid("0123ABCDEF"));
	assert_false(pp_msg_id_valid(""));
}

/* the structure FHIR R4 requires of a Communication, checked element by element */
static void test_communication(void **state)
{
	json_t *fields = json_pack("{s:s, s:s}", "medication_request_id", "ab", "medication",
	                           "Lisinopril 10 MG");
	pp_msg_view v = {.id = "m1", .thread_id = "t1", .patient_id = "p1", .side = "patient",
	                 .kind = "refill", .subject = "Refill", .body = "Please refill",
	                 .fields = fields, .pool_name = "Dr. Reyes' team",
	                 .sent_ms = 1700000000000, .received_ms = 1700000100000,
	                 .in_reply_to = "m0"};
	json_t *c = NULL, *cat, *payload;
	static const char *const allowed[] = {
		"resourceType", "id", "status", "category", "subject", "topic", "sent", "received",
		"sender", "recipient", "payload", "inResponseTo"};
	const char *key;
	json_t *val;

	(void)state;
	assert_int_equal(pp_msg_communication(&v, &c), 0);
	json_object_foreach(c, key, val) {
		bool ok = false;
		for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
			ok = ok || !strcmp(key, allowed[i]);
		assert_true(ok);
	}
	assert_string_equal(json_string_value(json_object_get(c, "resourceType")), "Communication");
	assert_string_equal(json_string_value(json_object_get(c, "status")), "completed");
	cat = json_object_get(c, "category");
	assert_true(json_is_array(cat) && json_array_size(cat) == 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	                    json_array_get(cat, 0), "coding"), 0), "code")), "notification");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "subject"),
	                    "reference")), "Patient/p1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "sender"),
	                    "reference")), "Patient/p1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c,
	                    "recipient"), 0), "display")), "Dr. Reyes' team");
	assert_string_equal(json_string_value(json_object_get(c, "sent")), "2023-11-14T22:13:20.000Z");
	assert_string_equal(json_string_value(json_object_get(c, "received")),
	                    "2023-11-14T22:15:00.000Z");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c,
	                    "inResponseTo"), 0), "reference")), "Communication/m0");
	payload = json_object_get(c, "payload");
	assert_int_equal(json_array_size(payload), 2);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(payload, 0),
	                       "contentString")), "Lisinopril"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(payload, 1),
	                    "contentString")), "Please refill");
	json_decref(c);
	/* a staff reply: the pool sends, the patient receives; no read time, no payload when empty */
	v.side = "staff";
	v.kind = "text";
	v.body = "";
	v.received_ms = 0;
	v.in_reply_to = NULL;
	assert_int_equal(pp_msg_communication(&v, &c), 0);
	assert_null(json_object_get(c, "received"));
	assert_null(json_object_get(c, "payload"));
	assert_null(json_object_get(c, "inResponseTo"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c,
	                    "recipient"), 0), "reference")), "Patient/p1");
	json_decref(c);
	v.id = NULL;
	assert_int_equal(pp_msg_communication(&v, &c), PP_EINVAL);
	json_decref(fields);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unread_arithmetic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbox_and_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drafts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_communication),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
