/* audit: verify — walks every event in seq order recomputing the chain, matches every checkpoint
 * against the chain and checks its signature, and names the first bad seq. */
#include "audit/audit_internal.h"
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_BUSY_MS 5000

typedef struct walk {
	const pp_store_audit_checkpoint *cps;
	size_t ncps, j;
	int64_t count;
	int64_t last_seq;           /* last seq walked while the chain was intact */
	uint8_t head[32];           /* recomputed hash of last_seq */
	uint8_t head_prev[32];      /* recomputed hash of last_seq - 1 */
	int64_t bad;                /* first bad seq, 0 while intact */
	char why[160];
} walk;

static void mark(walk *v, int64_t seq, const char *why)
{
	if (v->bad && v->bad <= seq)
		return;
	v->bad = seq;
	snprintf(v->why, sizeof v->why, "%s", why);
}

static int walk_event(void *ctx, const pp_store_audit_row *r)
{
	walk *v = ctx;
	int64_t expected = v->last_seq + 1;
	uint8_t h[32];
	int rc;

	v->count++;
	if (v->bad)
		return 0;   /* past the first break the chain means nothing; keep counting */
	if (r->seq != expected) {
		char why[160];
		if (r->seq > expected)
			snprintf(why, sizeof why, "records %lld..%lld are missing (deleted)",
			         (long long)expected, (long long)r->seq - 1);
		else
			snprintf(why, sizeof why, "sequence number out of order");
		mark(v, expected, why);
		return 0;
	}
	if (memcmp(r->prev_hash, v->head, 32) != 0) {
		/* linking to the record before the previous one: the previous one was slipped in */
		if (r->seq >= 2 && memcmp(r->prev_hash, v->head_prev, 32) == 0)
			mark(v, r->seq - 1, "record inserted (the next record links past it)");
		else
			mark(v, r->seq, "prev_hash does not link to the previous record "
			                "(record deleted, inserted or reordered)");
		return 0;
	}
	if ((rc = pp_audit_chain_hash(v->head, r, h)))
		return rc;
	if (memcmp(h, r->hash, 32) != 0) {
		mark(v, r->seq, "hash does not match the record's contents (record edited)");
		return 0;
	}
	/* checkpoints at or before this seq (a seq < 1 can never match) */
	while (v->j < v->ncps && v->cps[v->j].seq <= r->seq) {
		const pp_store_audit_checkpoint *cp = &v->cps[v->j++];
		if (cp->seq < r->seq) {
			mark(v, cp->seq > 0 ? cp->seq : 1, "checkpoint names a sequence number not in the log");
			return 0;
		}
		if (memcmp(cp->hash, h, 32) != 0) {
			mark(v, cp->seq, "checkpoint hash differs from the chain");
			return 0;
		}
	}
	memcpy(v->head_prev, v->head, 32);
	memcpy(v->head, h, 32);
	v->last_seq = r->seq;
	return 0;
}

static const pp_store_audit_key *find_key(const pp_store_audit_key *keys, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i].id == id)
			return &keys[i];
	return NULL;
}

/* Signatures: every checkpoint must verify under the key it names, and the file's latest key must
 * be this installation's key (else every checkpoint signed by it is untrusted). */
static void check_signatures(walk *v, const pp_store_audit_key *keys, size_t nkeys,
                             const uint8_t *trusted, pp_buf *report)
{
	const pp_store_audit_key *latest = nkeys ? &keys[nkeys - 1] : NULL;
	bool latest_untrusted = trusted && latest && pp_ct_compare(latest->pub, trusted, 32) != 0;

	for (size_t i = 1; i < nkeys; i++)
		if (report)
			pp_buf_appendf(report, "note: signing key changed at seq %lld (key %lld)\n",
			               (long long)keys[i].first_seq, (long long)keys[i].id);
	if (latest_untrusted && report)
		pp_buf_appends(report, "key change: the log's latest signing key is not this "
		                       "installation's key\n");

	/* Written in seq order, never rolled back once committed: ids are dense in seq order. A gap
	 * is a deleted checkpoint (the last ones cannot be told from never written). */
	for (size_t i = 0; i < v->ncps; i++) {
		const pp_store_audit_checkpoint *cp = &v->cps[i];
		if (cp->id != (int64_t)i + 1) {
			mark(v, cp->seq > 0 ? cp->seq : 1, "a checkpoint before this one was deleted or "
			                                   "moved");
			break;
		}
	}
	/* every log written with a key registers it on open: none at all means it was removed */
	if (trusted && !nkeys && v->count > 0)
		mark(v, 1, "no signing key registered in the log (keys and checkpoints removed?)");

	for (size_t i = 0; i < v->ncps; i++) {
		const pp_store_audit_checkpoint *cp = &v->cps[i];
		const pp_store_audit_key *k = find_key(keys, nkeys, cp->key_id);
		uint8_t msg[PP_AUDIT_CP_MSG_LEN];
		int64_t at = cp->seq > 0 ? cp->seq : 1;

		if (!k) {
			mark(v, at, "checkpoint signed by an unknown key");
			continue;
		}
		if (latest_untrusted && k == latest) {
			mark(v, at, "checkpoint signed by a key that is not this installation's key");
			continue;
		}
		pp_audit_checkpoint_message(cp->seq, cp->hash, msg);
		if (pp_crypto_verify(k->pub, msg, sizeof msg, cp->sig) != 0)
			mark(v, at, "checkpoint signature is invalid");
	}
}

int pp_audit_verify(const char *path, pp_crypto *crypto, pp_buf *report, int64_t *first_bad,
                    int64_t *count)
{
	pp_store_audit *db = NULL;
	pp_store_audit_checkpoint *cps = NULL;
	pp_store_audit_key *keys = NULL;
	size_t ncps = 0, nkeys = 0;
	uint8_t trusted[PP_CRYPTO_PUB_LEN];
	bool have_trusted = false;
	int64_t last_cp = 0;
	int guards = 0, guards_expected = 0;
	walk v;
	int rc;

	memset(&v, 0, sizeof v);
	if (first_bad)
		*first_bad = 0;
	if (count)
		*count = 0;
	if ((rc = pp_store_audit_open(&db, path, VERIFY_BUSY_MS, false)))
		goto out;
	if (crypto) {
		if ((rc = pp_crypto_public_key(crypto, trusted)))
			goto out;
		have_trusted = true;
	}
	/* one snapshot: the writer may keep appending while we read */
	if ((rc = pp_store_audit_begin_read(db)))
		goto out;
	if ((rc = pp_store_audit_key_list(db, &keys, &nkeys)))
		goto out;
	if ((rc = pp_store_audit_checkpoint_list(db, &cps, &ncps)))
		goto out;
	v.cps = cps;
	v.ncps = ncps;
	if ((rc = pp_store_audit_event_each(db, walk_event, &v)))
		goto out;
	if ((rc = pp_store_audit_guards(db, &guards, &guards_expected)))
		goto out;
	pp_store_audit_rollback(db);

	/* checkpoints beyond the end: signed records that are gone (tail deleted) */
	if (!v.bad && v.j < ncps) {
		char why[160];
		snprintf(why, sizeof why, "log ends at seq %lld but a checkpoint covers seq %lld "
		         "(records deleted from the end)", (long long)v.last_seq,
		         (long long)cps[ncps - 1].seq);
		mark(&v, v.last_seq + 1, why);
	}
	check_signatures(&v, keys, nkeys, have_trusted ? trusted : NULL, report);
	for (size_t i = 0; i < ncps; i++)
		if (cps[i].seq > last_cp)
			last_cp = cps[i].seq;

	if (report) {
		if (v.bad)
			pp_buf_appendf(report, "audit log BROKEN at seq %lld: %s\n", (long long)v.bad,
			               v.why);
		else
			pp_buf_appendf(report, "audit log intact: %lld records, chain verified\n",
			               (long long)v.count);
		pp_buf_appendf(report, "%lld records, %zu checkpoints, last signed checkpoint at seq "
		               "%lld; %lld records after it are not covered by a signature yet "
		               "(deleting them cannot be detected until the next checkpoint)\n",
		               (long long)v.count, ncps, (long long)last_cp,
		               (long long)(v.count > last_cp ? v.count - last_cp : 0));
		if (guards < guards_expected)
			pp_buf_appendf(report, "warning: %d of %d append-only triggers are missing "
			               "(someone altered the schema)\n", guards_expected - guards,
			               guards_expected);
		if (!have_trusted)
			pp_buf_appends(report, "note: no key given; signatures checked against the "
			                       "log's own keys only\n");
	}
	if (first_bad)
		*first_bad = v.bad;
	if (count)
		*count = v.count;
	rc = v.bad ? PP_ECRYPTO : PP_OK;
out:
	if (rc && rc != PP_ECRYPTO && report)
		pp_buf_appendf(report, "audit verify failed: %s\n", pp_strerror(rc));
	if (db)
		pp_store_audit_rollback(db);
	pp_store_audit_close(db);
	free(cps);
	free(keys);
	return rc;
}
