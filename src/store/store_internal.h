/* store_internal.h - what the front (store.c) and the two engines (sqlite.c, postgres.c) share.
 *
 * The front owns the pool, argument checks and everything written once for both engines
 * (transactions bookkeeping, migrations, ping). An engine is a table of functions; its connection
 * and row types embed store_conn / store_rows as their first member so the front can hand them
 * back to it. Nothing here is visible outside src/store. */
#ifndef SOCLE_STORE_STORE_INTERNAL_H
#define SOCLE_STORE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "store/store.h"

/* Per-connection statement cache size: past it the cache is flushed (statements in use survive),
 * so SQL built on the fly (search) cannot grow a connection's memory without bound. */
#define STORE_CACHE_MAX 256
/* More parameters than this is a bug in the caller, not a query. */
#define STORE_MAX_PARAMS 32766
/* Up to this many parameters, engines keep their per-call arrays on the stack. */
#define STORE_STACK_PARAMS 32

typedef struct store_ops store_ops;

struct store_conn {
    const store_ops *ops;
    store *owner;
    int rows_open; /* store_rows not yet freed; a leak is reported at release */
};

struct store_rows {
    store_conn *conn;
};

/* A cached statement, keyed by the caller's SQL text (before any rewriting). */
typedef struct store_stmt {
    uint64_t hash;
    char *sql;    /* owned copy of the key */
    void *handle; /* SQLite: the sqlite3_stmt; PostgreSQL: unused */
    unsigned id;  /* PostgreSQL: server-side statement name is "s<id>" */
    int busy;     /* a store_rows is iterating it: use a fresh statement meanwhile */
} store_stmt;

typedef struct store_cache {
    store_stmt **slots; /* open addressing, power-of-two capacity, NULL = empty */
    size_t cap;
    size_t count;
    unsigned next_id;
} store_cache;

/* store_cache_hash - the key hash of a SQL text. */
uint64_t store_cache_hash(const char *sql);
/* store_cache_get - the entry for sql, or NULL. */
store_stmt *store_cache_get(store_cache *c, const char *sql, uint64_t hash);
/* store_cache_put - add an entry owning `handle` (copying sql). When the cache is full, every
 * entry not busy is first handed to drop(ctx, entry) and removed. NULL on allocation failure
 * (handle then still belongs to the caller). */
store_stmt *store_cache_put(store_cache *c, const char *sql, uint64_t hash, void *handle,
                            void (*drop)(void *ctx, store_stmt *e), void *ctx);
/* store_cache_remove - take one entry out and free it (its handle is the caller's business). */
void store_cache_remove(store_cache *c, store_stmt *e);
/* store_cache_clear - drop every entry (busy ones included) and free the table. */
void store_cache_clear(store_cache *c, void (*drop)(void *ctx, store_stmt *e), void *ctx);

struct store_ops {
    int (*connect)(store *s, store_conn **out, socle_err *err);
    void (*disconnect)(store_conn *c);
    /* revive - called at acquire: make a broken connection usable again (NULL: nothing to do). */
    int (*revive)(store_conn *c, socle_err *err);
    /* release - called when the connection goes back to the pool, after any rollback (NULL: nothing). */
    void (*release)(store_conn *c);
    int (*in_tx)(const store_conn *c);
    int (*tx_begin)(store_conn *c, socle_err *err);
    int (*tx_begin_relaxed)(store_conn *c, socle_err *err);
    int (*tx_commit)(store_conn *c, socle_err *err);
    void (*tx_rollback)(store_conn *c);
    int (*exec)(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *changes,
                socle_err *err);
    int (*exec_script)(store_conn *c, const char *sql, socle_err *err);
    int (*query)(store_conn *c, const char *sql, const store_value *params, int nparams, store_rows **out,
                 socle_err *err);
    int (*rows_next)(store_rows *r, socle_err *err);
    int (*rows_columns)(const store_rows *r);
    int (*rows_isnull)(const store_rows *r, int col);
    const char *(*rows_text)(store_rows *r, int col, size_t *len);
    const void *(*rows_blob)(store_rows *r, int col, size_t *len);
    int64_t (*rows_int)(store_rows *r, int col);
    void (*rows_free)(store_rows *r);
};

extern const store_ops store_sqlite_ops;

/* sqlite_checkpoint.c: WAL checkpoints on a thread of the store's own. The WAL hook every SQLite
 * connection registers (arg: the store); the thread, started once the pool is open and stopped
 * before it closes (until then, and after, a connection checkpoints itself as SQLite would). */
typedef struct sqlite3 sqlite3;
int store_sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int frames);
int store_sqlite_checkpointer_start(store *s, socle_err *err);
void store_sqlite_checkpointer_stop(store *s);
/* sqlite.c: close the writer handle (at store close, after the connections); the page cache of a
 * connection and of the writer (mb <= 0: back to their usual sizes) for a bulk load. */
void store_sqlite_writer_close(store *s);
int store_sqlite_cache_size(store_conn *c, int mb, socle_err *err);
extern const store_ops store_pg_ops;

/* store_pg_describe - "postgres://user@host:port/db" from a URI or key=value conninfo, without
 * its password, into *out (malloc'ed). */
int store_pg_describe(const char *conninfo, char **out, socle_err *err);

struct store {
    store_engine engine;
    const store_ops *ops;
    char *describe; /* never holds a password */
    char *target;   /* SQLite: the file path; PostgreSQL: the URI or conninfo (may hold one) */
    int busy_timeout_ms;
    const char *sqlite_sync; /* "FULL", "NORMAL" or "OFF" (static string) */
    long long sqlite_mmap_bytes;
    int sqlite_page_size;    /* for a database created by this process */
    int memory;              /* SQLite ":memory:": one connection, since each would be its own DB */
    struct sq_checkpointer *checkpointer; /* SQLite file: the WAL checkpoint thread (sqlite_checkpoint.c) */
    struct sq_handle *sqlite_writer;      /* SQLite file: the handle every write runs on (sqlite.c) */
    struct store_defer_queue *defer;      /* the write-behind queue, from the first store_defer (defer.c) */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* SQLite: the writer's turn inside this process, and the use of sqlite_writer. SQLite's own lock
     * makes a waiting writer poll with growing sleeps (1, 2, 5, 10... ms); queuing on a mutex
     * instead wakes it as soon as the previous writer commits. Other processes still meet SQLite's
     * busy timeout. */
    pthread_mutex_t write_mu;
    atomic_int write_waiters; /* threads waiting for write_mu: a commit then leaves its work to a group (sqlite.c) */
    store_conn **conns; /* every connection, for close */
    int nconns;
    store_conn **idle; /* stack of free connections */
    int nidle;
};

/* store_defer_stop - commit what is deferred and stop the thread (store_close, before the
 * connections go). */
void store_defer_stop(store *s);

/* store_text_len - byte length of a STORE_TEXT value. */
static inline size_t store_text_len(const store_value *v)
{
    return v->len == (size_t)-1 ? strlen(v->s) : v->len;
}

#endif
