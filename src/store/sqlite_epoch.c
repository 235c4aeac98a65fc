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
 * cost a re-read. */
#include "store/sqlite_internal.h"
#include "store/store_epoch.h"

#include <stdatomic.h>

static _Atomic uint64_t epoch = 1;

static _Thread_local struct {
	const pp_store *st;
	sqlite3 *db;
	int64_t data_version, changes;
	bool seen;
} last;

int pp_store_epoch(pp_store *st, uint64_t *out)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t dv, changes;
	int rc;

	if (!out)
		return PP_EINVAL;
	*out = 0;
	if (!st || !(db = pp_store_conn(st)) || !(s = pp_store_stmt(st, "PRAGMA data_version")))
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
