/* store: the change epoch for in-memory caches (store_epoch.h).
 *
 * SQLite offers two counters per connection: PRAGMA data_version moves when ANOTHER connection (in
 * this process or any other) committed since this connection last read, and total_changes counts the
 * rows THIS connection changed. Together they see every commit. Each thread has its own connection
 * (sqlite.c), so each thread remembers the pair it saw last; when its pair moved, something may have
 * changed and the process-wide epoch is bumped, which retires every cache entry tagged earlier.
 *
 * Why this is enough for "revocation ends access at once": a revocation is committed at time t. A
 * request starting after t reads data_version in a fresh read transaction (so after t), sees it (or
 * its own total_changes) moved since its thread's previous look — unless that previous look was
 * itself after t, in which case the epoch was already bumped after t. Either way the epoch it gets is
 * newer than any entry filled from rows read before t, and such entries are not used. An entry is
 * tagged with the epoch read before its rows were read, so a fill racing with the revocation carries
 * an old tag as well. Extra bumps (a commit that changed nothing a cache holds, a new thread) only
 * cost a re-read.
 *
 * The same question answered without a read transaction (whose shared-memory locks were a tenth
 * of a cached FHIR read's cost): in WAL mode every commit, by any connection of any process,
 * rewrites the WAL index header in the shared "-shm" file before the commit returns (two copies,
 * the second first; https://www.sqlite.org/walformat.html), and its change counter moves. So a
 * thread compares the header with the one it saw last: unchanged means no commit since that look;
 * copies that differ mean a commit is being written, which counts as a change. The argument
 * above holds word for word with "the header" for the counters. Without a mapping (not WAL, or
 * the file cannot be mapped) the counters are read as before. */
#include "store/sqlite_internal.h"
#include "store/store_epoch.h"

#include <stdatomic.h>
#include <string.h>

#define WAL_HDR 48   /* one copy of the WAL index header */

static _Atomic uint64_t epoch = 1;

static _Thread_local struct {
	const pp_store *st;
	sqlite3 *db;
	int64_t data_version, changes;
	bool seen;
	unsigned char hdr[WAL_HDR];   /* the WAL index header at the last look */
	bool hdr_seen;
} last;

/* the WAL index header path: 1 when it answered (*changed set), 0 when it cannot be used */
static int by_header(pp_store *st, bool *changed)
{
	const volatile unsigned char *shm = pp_store_wal_header(st);
	unsigned char h[2 * WAL_HDR];

	if (!shm)
		return 0;
	for (size_t i = 0; i < sizeof h; i++)
		h[i] = shm[i];
	atomic_thread_fence(memory_order_acquire);   /* the header before any row read after it */
	if (memcmp(h, h + WAL_HDR, WAL_HDR) != 0) {
		*changed = true;         /* a commit is being written: a change, and nothing to remember */
		last.hdr_seen = false;
		return 1;
	}
	*changed = !last.hdr_seen || last.st != st || memcmp(last.hdr, h, WAL_HDR) != 0;
	memcpy(last.hdr, h, WAL_HDR);
	last.hdr_seen = true;
	last.st = st;
	return 1;
}

int pp_store_epoch(pp_store *st, uint64_t *out)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t dv, changes;
	bool changed;
	int rc;

	if (!out)
		return PP_EINVAL;
	*out = 0;
	if (!st || !(db = pp_store_conn(st)))
		return PP_EIO;
	if (by_header(st, &changed)) {
		if (changed)
			atomic_fetch_add(&epoch, 1);
		*out = atomic_load(&epoch);
		return PP_OK;
	}
	if (!(s = pp_store_stmt(st, "PRAGMA data_version")))
		return PP_EIO;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return pp_store_err(rc) ? pp_store_err(rc) : PP_EIO;
	}
	dv = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);   /* ends the read transaction */
	changes = sqlite3_total_changes64(db);
	if (!last.seen || last.st != st || last.db != db || last.data_version != dv ||
	    last.changes != changes) {
		atomic_fetch_add(&epoch, 1);
		last.st = st;
		last.db = db;
		last.data_version = dv;
		last.changes = changes;
		last.seen = true;
	}
	*out = atomic_load(&epoch);
	return PP_OK;
}
