/*
 * Private to store/: the SQLite plumbing shared by the typed-function files (sqlite_keys.c,
 * sqlite_resource.c, sqlite_auth.c, ...). Each thread has its own connection to the database; each
 * connection caches its prepared statements by SQL text.
 */
#ifndef PP_STORE_SQLITE_INTERNAL_H
#define PP_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include "store/store.h"

/* The calling thread's connection (opened on first use with WAL, foreign keys, busy timeout). */
sqlite3 *pp_store_conn(pp_store *st);
/* A cached prepared statement for sql on the calling thread's connection, reset and with bindings
 * cleared; NULL on error (logged without data). Do not finalize it. */
sqlite3_stmt *pp_store_stmt(pp_store *st, const char *sql);
/* maps an SQLite result code to PP_E* (SQLITE_CONSTRAINT_UNIQUE → PP_EEXISTS, busy → PP_EBUSY) */
int pp_store_err(int rc);
/* copies a blob column into a fresh malloc'd buffer (NULL/0 for NULL) */
int pp_store_col_blob(sqlite3_stmt *s, int col, uint8_t **out, size_t *len);
/* copies a text column into a fixed buffer (truncates; always NUL-terminated) */
void pp_store_col_text(sqlite3_stmt *s, int col, char *out, size_t cap);

/* steps a statement that returns no rows and resets it: 0 on SQLITE_DONE, else PP_E*; *changes
 * (optional) gets the number of rows changed */
int pp_store_step_done(pp_store *st, sqlite3_stmt *s, int *changes);
/* binds a text parameter; NULL binds the empty string */
void pp_store_bind_text(sqlite3_stmt *s, int i, const char *v);

/* Opens a SQLite database with the house settings (WAL, synchronous=FULL, foreign keys, busy
 * timeout); used by the main store and by the audit store. */
int pp_store_sqlite_open(const char *path, int busy_timeout_ms, sqlite3 **out);
/* the first page of the database's WAL index, mapped read-only, or NULL (sqlite_epoch.c) */
const volatile unsigned char *pp_store_wal_header(pp_store *st);

#endif
