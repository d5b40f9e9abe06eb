/* store.h - the storage interface: one API, two engines (SQLite and PostgreSQL).
 *
 * NAME
 *      store - connection pool, transactions, statements and migrations over SQLite or PostgreSQL.
 * SYNOPSIS
 *      store_open() store_close() store_acquire() store_release()
 *      store_tx_begin() store_tx_begin_relaxed() store_tx_commit() store_tx_rollback()
 *      store_exec() store_query() store_rows_next() store_rows_text() store_rows_int() store_rows_free()
 *      store_migrate() store_ping()
 * DESCRIPTION
 *      SQL is written once with $1..$N placeholders; the SQLite backend rewrites them to ?N. Where
 *      the dialects differ (DDL mostly) callers branch on store_engine_of(). Text is UTF-8; SQLite
 *      columns holding searchable text are declared as plain TEXT (binary collation) and PostgreSQL
 *      ones with COLLATE "C", so that range comparisons on text behave identically on both.
 *      A store_conn is used by one thread at a time; store_acquire blocks until one is free.
 *      Statements are prepared once per connection and cached by their SQL text.
 *      store_tx_begin starts a write transaction (SQLite: BEGIN IMMEDIATE, so writers queue up
 *      front instead of failing at commit; PostgreSQL: READ COMMITTED). Outside a transaction every
 *      statement commits by itself. A write is durable when store_tx_commit returns 0 (SQLite WAL
 *      with synchronous=FULL by default; PostgreSQL synchronous_commit as the server says).
 *      Errors: unique-constraint violations return SOCLE_ECONFLICT, lock timeouts and
 *      serialization failures SOCLE_EBUSY, everything else SOCLE_ESTORE; messages carry the
 *      engine's text but never parameter values.
 * CONFIGURATION
 *      db (sqlite:PATH or postgres://...), db_pool_size, sqlite_synchronous (FULL|NORMAL|OFF), sqlite_mmap_mb,
 *      sqlite_page_size,
 *      store_busy_timeout_ms.
 * BUGS
 *      Savepoints (nested transactions) are not supported.
 */
#ifndef SOCLE_STORE_STORE_H
#define SOCLE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

typedef enum { STORE_SQLITE = 1, STORE_POSTGRES = 2 } store_engine;

typedef struct store store;
typedef struct store_conn store_conn;
typedef struct store_rows store_rows;

typedef struct store_options {
    const char *url;             /* "sqlite:/path/socle.db" or "postgres://user:pw@host:port/db" (or
                                    "postgresql://", or a libpq "host=... dbname=..." string after
                                    "postgres:") */
    int pool_size;               /* connections; 0 = a default suited to the machine */
    const char *sqlite_synchronous; /* "FULL" (default), "NORMAL" or "OFF" */
    int sqlite_mmap_mb;          /* SQLite: MB of the file read through mmap (fewer read syscalls); 0 = off */
    int sqlite_page_size;        /* SQLite: page size of a database created now (512..65536, a power of 2);
                                    0 = 4096. An existing database keeps its own. */
    int busy_timeout_ms;         /* how long a writer waits for a lock before SOCLE_EBUSY; 0 = 10000 */
} store_options;

typedef enum { STORE_NULL = 0, STORE_INT, STORE_TEXT, STORE_BLOB } store_type;

typedef struct store_value {
    store_type type;
    int64_t i;          /* STORE_INT */
    const char *s;      /* STORE_TEXT / STORE_BLOB; not copied: must live until the call returns */
    size_t len;         /* STORE_TEXT: (size_t)-1 means NUL-terminated; STORE_BLOB: byte count */
} store_value;

#define STORE_V_NULL ((store_value){STORE_NULL, 0, NULL, 0})
#define STORE_V_INT(v) ((store_value){STORE_INT, (int64_t)(v), NULL, 0})
/* STORE_V_TEXT - a NUL-terminated string; a NULL pointer binds SQL NULL. */
static inline store_value store_v_text(const char *v)
{
    store_value r = {v ? STORE_TEXT : STORE_NULL, 0, v, (size_t)-1};
    return r;
}
#define STORE_V_TEXT(v) store_v_text(v)
#define STORE_V_TEXTN(v, n) ((store_value){STORE_TEXT, 0, (v), (n)})
#define STORE_V_BLOB(v, n) ((store_value){STORE_BLOB, 0, (const char *)(v), (n)})

/* store_open - connect (creating the SQLite file and its directory when missing) and fill the pool.
 * Returns 0 or an error with a message that names the engine and what failed (password masked). */
int store_open(const store_options *opt, store **out, socle_err *err);
/* store_close - close every connection; all must have been released. NULL is fine. */
void store_close(store *s);
store_engine store_engine_of(const store *s);
/* store_describe - "sqlite:/path" or "postgres://user@host:port/db" (never the password). */
const char *store_describe(const store *s);

/* store_acquire - take a connection for the calling thread (blocks while all are in use). */
int store_acquire(store *s, store_conn **out, socle_err *err);
/* store_release - give it back. A transaction still open is rolled back first. */
void store_release(store *s, store_conn *c);
store_engine store_conn_engine(const store_conn *c);

int store_tx_begin(store_conn *c, socle_err *err);
/* store_tx_begin_relaxed - a write transaction whose commit does not wait for the disk: it survives
 * a crash of the process (kill -9) but may be lost with the last moments before a power failure or
 * an OS crash. For short-lived state that a client can recreate (login codes, rotated refresh
 * tokens), never for health data. SQLite: synchronous=NORMAL for this transaction (WAL written,
 * not fsynced); PostgreSQL: SET LOCAL synchronous_commit = off. */
int store_tx_begin_relaxed(store_conn *c, socle_err *err);
int store_tx_commit(store_conn *c, socle_err *err);
/* store_tx_rollback - can't fail (errors are logged); no-op when no transaction is open. */
void store_tx_rollback(store_conn *c);
int store_in_tx(const store_conn *c);

/* store_exec - run a statement that returns no rows; *changes (may be NULL) gets the row count. */
int store_exec(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *changes,
               socle_err *err);
/* store_exec_relaxed - one statement in its own relaxed transaction (store_tx_begin_relaxed),
 * rolled back on any failure. c must not be in a transaction. */
int store_exec_relaxed(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *changes,
                       socle_err *err);
/* store_defer - run a write statement later, on the write-behind thread of c's store, which
 * commits what has queued in relaxed transactions (see store_tx_begin_relaxed), in order: for
 * effects that may come a moment after the request that caused them and that a crash of the
 * machine may lose (a notice whose cause is in the audit trail), so that the caller never waits
 * for the writer's turn. sql must be a constant (it is not copied); parameters are copied. Returns
 * once queued; when 65,536 statements wait already, it runs the statement on c at once instead
 * (in c's transaction if one is open). A deferred statement that fails is logged and dropped;
 * write it so that running it twice is harmless. */
#define STORE_DEFER_MAX_PARAMS 8
int store_defer(store_conn *c, const char *sql, const store_value *params, int nparams, socle_err *err);
/* store_defer_flush - return once every statement deferred before the call is committed (for a
 * reader of what they write). Call it holding no connection of s: the thread needs one. */
void store_defer_flush(store *s);
/* store_bulk_cache - a bulk load is coming on this connection: give it a page cache of `mb`
 * megabytes (SQLite; PostgreSQL's is the server's), or back to the default with mb = 0. Random
 * inserts into large indexes then hit memory instead of the file. */
int store_bulk_cache(store_conn *c, int mb, socle_err *err);

/* store_exec_script - run several ;-separated statements without parameters (DDL, migrations). */
int store_exec_script(store_conn *c, const char *sql, socle_err *err);

/* store_query - run a statement returning rows. On success *out must be freed with
 * store_rows_free (before any other statement runs on the same connection). */
int store_query(store_conn *c, const char *sql, const store_value *params, int nparams, store_rows **out,
                socle_err *err);
/* store_rows_next - advance: 1 a row is there, 0 no more rows, <0 error (err filled). */
int store_rows_next(store_rows *r, socle_err *err);
int store_rows_columns(const store_rows *r);
int store_rows_isnull(const store_rows *r, int col);
/* store_rows_text - the column as text (NUL-terminated; *len may be NULL). Valid until the next
 * store_rows_next or store_rows_free. NULL for SQL NULL. */
const char *store_rows_text(store_rows *r, int col, size_t *len);
/* store_rows_blob - raw bytes of a BLOB/bytea column (decoded from PostgreSQL's text form). */
const void *store_rows_blob(store_rows *r, int col, size_t *len);
int64_t store_rows_int(store_rows *r, int col);
void store_rows_free(store_rows *r);

/* store_query_int - convenience: first column of the first row as integer into *out; returns
 * SOCLE_ENOTFOUND when no row. */
int store_query_int(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *out,
                    socle_err *err);

/* A migration step. Exactly one of sql/sql_sqlite+sql_postgres is used: `sql` when both engines
 * accept the same text, otherwise the engine-specific one. */
typedef struct store_migration {
    int version;              /* 1, 2, 3... strictly increasing per owner */
    const char *name;
    const char *sql;
    const char *sql_sqlite;
    const char *sql_postgres;
} store_migration;

/* store_migrate - apply, in one transaction per step, the steps of `owner` (a module prefix such
 * as "fhir" or "audit") not yet recorded in the store_schema table. Safe to call from several
 * processes at once (they serialize). */
int store_migrate(store *s, const char *owner, const store_migration *steps, size_t nsteps, socle_err *err);

/* store_ping - 0 if the database answers a trivial query. */
int store_ping(store *s, socle_err *err);

#endif
