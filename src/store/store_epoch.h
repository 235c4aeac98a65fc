/* store/ for in-memory caches of store rows (fhir/ rows and references, oauth/ bearer tokens): a
 * change epoch that moves whenever the database may have changed since the calling thread last
 * asked — a commit by this process (any connection) or by another process (`phiportal client
 * suspend`, an import). A cache tags each entry with the epoch read BEFORE the rows were read and
 * uses an entry only while the epoch is unchanged, so a revocation, a suspension or a new import is
 * seen by every request that starts after it was committed, exactly as without the cache. */
#ifndef PP_STORE_EPOCH_H
#define PP_STORE_EPOCH_H

#include "store/store.h"

/* The current epoch (never 0). Costs one tiny read transaction on the calling thread's connection
 * (SQLite's data_version, which moves on commits by other connections and processes) plus this
 * connection's own change counter; the thread must not be inside a transaction. Epochs are
 * process-wide and only grow; a cache must also key its entries by store (st). */
int pp_store_epoch(pp_store *st, uint64_t *out);

#endif
