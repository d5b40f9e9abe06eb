/* sqlite.c - the SQLite engine of the store.
 *
 * One sqlite3 handle per pooled connection, opened NOMUTEX (the pool guarantees one thread at a
 * time), in WAL mode so readers never wait for the writer. Write transactions, and writes outside
 * one, run on one more handle, the store's writer, in the process's writer turn: SQLite empties a
 * handle's page cache whenever another handle committed since its last transaction, so with the
 * writes spread over the pool each write began by reading its B-trees' upper pages again (a tenth
 * of a DMP feed's CPU); the one writer keeps them. Statements are prepared once per handle
 * (SQLITE_PREPARE_PERSISTENT) and cached by the caller's SQL text; the $N placeholders
 * are rewritten to ?N at that moment only. A cached statement that a store_rows is still
 * iterating is marked busy: running the same SQL meanwhile uses a private copy instead of
 * resetting the statement under the iterator. Each connection keeps one store_rows embedded so a
 * read allocates nothing but SQLite's own copy of the bound text.
 *
 * Group commit: a write transaction that ends while other writers wait for the turn does not
 * commit; its work stays in the writer's open transaction, the turn goes to the next writer (whose
 * transaction is a savepoint inside it, so that its rollback undoes only its own work), and it
 * waits. The last writer of the group, the one nobody waits behind, commits for all; each member
 * hears of its commit only once the commit is on disk. Under load a feed of documents then pays one
 * commit, one fsync and one copy of the B-trees' shared pages per group instead of per document. */
#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "store/store_internal.h"

/* A transaction of a group: ended, its work in the writer's open transaction, waiting for the
 * group's commit. */
typedef struct sq_member {
    int done;      /* told: committed and synced, or err */
    socle_err err; /* the group's failure, if it failed */
    struct sq_member *next;
} sq_member;

/* The writer's group of ended transactions; changed in the writer's turn only. */
typedef struct sq_group {
    int open;            /* the writer's transaction holds their work, not committed yet */
    int members;
    sq_member *waiting;  /* each on its thread's stack until told */
    pthread_mutex_t mu;  /* guards the members' done and err, for cv */
    pthread_cond_t cv;
} sq_group;

/* At most this many transactions wait in one group (a group also ends when nobody waits). */
#define SQ_GROUP_MAX 64
/* A member that waited this long without news commits the group itself, should no writer have taken
 * the turn after it (one that gave up waiting). */
#define SQ_GROUP_WAIT_MS 20

/* A sqlite3 handle and its prepared statements. */
typedef struct sq_handle {
    sqlite3 *db;
    store_cache cache;
    int wal;        /* the journal is a WAL */
    int sync_after; /* writer: commits at NORMAL, then the WAL is synced after the turn (FULL on a WAL) */
    sq_group group; /* writer: the transactions waiting for its commit */
} sq_handle;

/* The writer's page cache: it serves every write, so it keeps the upper levels of the B-trees. */
#define SQ_WRITER_CACHE_MB 16

typedef struct sq_rows {
    store_rows base;
    sq_handle *h; /* the handle the statement belongs to */
    sqlite3_stmt *stmt;
    store_stmt *entry; /* the cache entry (marked busy), or NULL: stmt is private, finalize it */
    int pending;       /* the first step's result, taken in store_query, not yet reported */
    int done;
    int on_row;
    int ncols;
    int in_turn; /* opened in the writer's turn, which is kept until this is freed */
    struct sq_rows *prev, *next; /* the connection's open rows (sq_release detaches them) */
} sq_rows;

typedef struct sq_conn {
    store_conn base;
    sq_handle own;
    sq_handle *h; /* own, or the store's writer while this connection holds the writer's turn */
    sq_rows slot; /* reused by the first open store_rows */
    int slot_used;
    sq_rows *open; /* open store_rows */
    int turn;         /* holds the writer's turn (the store's write_mu) and uses the writer */
    int writing;      /* a write transaction is open (in the turn) */
    int relaxed;      /* ... and its commit is not synced after (store_tx_begin_relaxed) */
    int member;       /* ... as a savepoint inside an open group's transaction */
    int writer_rows;  /* store_rows opened in the turn: it is kept until they are freed */
    int kept;         /* the turn is kept for them: the writer is at FULL meanwhile (sq_writer_give) */
} sq_conn;

static const char sq_empty[1] = "";

/* Take the process's writer turn (store.write_mu), waiting at most the busy timeout. */
static int sq_write_lock(sq_conn *c, socle_err *err)
{
    store *s = c->base.owner;
    struct timespec until = time_deadline(CLOCK_REALTIME, s->busy_timeout_ms);
    atomic_fetch_add(&s->write_waiters, 1);
    int rc = pthread_mutex_timedlock(&s->write_mu, &until);
    atomic_fetch_sub(&s->write_waiters, 1);
    if (rc) return socle_err_set(err, SOCLE_EBUSY, "store: sqlite: another writer held the database too long");
    return 0;
}

static void sq_write_unlock(sq_conn *c)
{
    pthread_mutex_unlock(&c->base.owner->write_mu);
}

static int sq_fail(sq_handle *h, int rc, const char *what, socle_err *err)
{
    int code = SOCLE_ESTORE;
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        code = SOCLE_EBUSY;
    else if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        code = SOCLE_ECONFLICT;
    else if (primary == SQLITE_NOMEM)
        code = SOCLE_ENOMEM;
    return socle_err_set(err, code, "store: sqlite: %s: %s", what,
                         h ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
}

/* --- statements --- */

static int sq_ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '$' || (unsigned char)ch >= 0x80;
}

/* $N -> ?N, leaving quoted strings, quoted identifiers and comments alone. Same length or
 * shorter, so the output fits in a copy of the input. */
static char *sq_rewrite(const char *sql)
{
    char *out = malloc(strlen(sql) + 1), *o = out;
    if (!out) return NULL;
    const char *p = sql;
    while (*p) {
        char ch = *p;
        if (ch == '\'' || ch == '"' || ch == '`' || ch == '[') {
            char close = ch == '[' ? ']' : ch;
            *o++ = *p++;
            /* A doubled quote inside reads as two adjacent literals: same skipping. */
            while (*p && *p != close)
                *o++ = *p++;
            if (*p) *o++ = *p++;
        } else if (ch == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                *o++ = *p++;
        } else if (ch == '/' && p[1] == '*') {
            *o++ = *p++;
            *o++ = *p++;
            while (*p && !(p[0] == '*' && p[1] == '/'))
                *o++ = *p++;
            if (*p) {
                *o++ = *p++;
                *o++ = *p++;
            }
        } else if (ch == '$' && isdigit((unsigned char)p[1]) && (p == sql || !sq_ident_char(p[-1]))) {
            *o++ = '?';
            p++;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}

static int sq_prepare(sq_handle *c, const char *sql, unsigned flags, sqlite3_stmt **out, socle_err *err)
{
    char *rewritten = NULL;
    if (strchr(sql, '$') && !(rewritten = sq_rewrite(sql)))
        return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, rewritten ? rewritten : sql, -1, flags, out, &tail);
    if (rc != SQLITE_OK) {
        rc = sq_fail(c, rc, "prepare", err);
    } else if (!*out) {
        rc = socle_err_set(err, SOCLE_EINTERNAL, "store: empty statement");
    } else {
        while (tail && (isspace((unsigned char)*tail) || *tail == ';'))
            tail++;
        if (tail && *tail) {
            sqlite3_finalize(*out);
            rc = socle_err_set(err, SOCLE_EINTERNAL,
                               "store: several statements given (use store_exec_script)");
        }
    }
    if (rc) *out = NULL;
    free(rewritten);
    return rc;
}

static void sq_drop(void *ctx, store_stmt *e)
{
    sqlite3_finalize(e->handle);
}

/* The statement for sql: the cached one, or a private one when the cached one is busy. *entry is
 * NULL for a private statement. */
static int sq_stmt(sq_handle *c, const char *sql, sqlite3_stmt **st, store_stmt **entry, socle_err *err)
{
    uint64_t h = store_cache_hash(sql);
    store_stmt *e = store_cache_get(&c->cache, sql, h);
    *entry = NULL;
    if (e && !e->busy) {
        *st = e->handle;
        *entry = e;
        return 0;
    }
    if (e) {
        int rc = sqlite3_prepare_v3(c->db, sqlite3_sql(e->handle), -1, 0, st, NULL);
        return rc == SQLITE_OK ? 0 : sq_fail(c, rc, "prepare", err);
    }
    int rc = sq_prepare(c, sql, SQLITE_PREPARE_PERSISTENT, st, err);
    if (rc) return rc;
    *entry = store_cache_put(&c->cache, sql, h, *st, sq_drop, c); /* NULL: stays private */
    return 0;
}

/* After use: a cached statement is reset for the next caller, a private one finalized. */
static void sq_done(sqlite3_stmt *st, store_stmt *entry)
{
    if (!entry) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int sq_bind(sq_handle *c, sqlite3_stmt *st, const store_value *p, int n, sqlite3_destructor_type how,
                   socle_err *err)
{
    int want = sqlite3_bind_parameter_count(st);
    if (want != n)
        return socle_err_set(err, SOCLE_EINTERNAL, "store: statement takes %d parameters, %d given", want, n);
    for (int i = 0; i < n; i++) {
        const store_value *v = &p[i];
        int rc;
        switch (v->type) {
        case STORE_INT:
            rc = sqlite3_bind_int64(st, i + 1, v->i);
            break;
        case STORE_TEXT:
            rc = v->s ? sqlite3_bind_text(st, i + 1, v->s, v->len == (size_t)-1 ? -1 : (int)v->len, how)
                      : sqlite3_bind_null(st, i + 1);
            break;
        case STORE_BLOB:
            /* A NULL pointer would bind SQL NULL: an empty blob is a zero-length blob. */
            rc = v->len ? sqlite3_bind_blob(st, i + 1, v->s, (int)v->len, how)
                        : sqlite3_bind_zeroblob(st, i + 1, 0);
            break;
        default:
            rc = sqlite3_bind_null(st, i + 1);
        }
        if (rc != SQLITE_OK) return sq_fail(c, rc, "bind", err);
    }
    return 0;
}

static int sq_handle_open(store *s, sq_handle *h, const char *sync, socle_err *err);
static void sq_handle_close(sq_handle *h);
static int sq_exec_script_on(sq_handle *h, const char *sql, socle_err *err);
static sqlite3_file *sq_wal_file(sqlite3 *db);
static void sq_sync_wal(sqlite3_file *wal);

/* --- group commit (see the top of the file) --- */

/* The group's members, the group closed (its transaction committed or lost meanwhile). */
static sq_member *sq_group_detach(sq_handle *w)
{
    sq_member *members = w->group.waiting;
    w->group.open = 0;
    w->group.members = 0;
    w->group.waiting = NULL;
    return members;
}

/* Tell the members their outcome: committed and on disk (failure NULL), or the failure. */
static void sq_group_tell(sq_handle *w, sq_member *members, const socle_err *failure)
{
    if (!members) return;
    pthread_mutex_lock(&w->group.mu);
    for (sq_member *m = members, *next; m; m = next) {
        next = m->next; /* m is gone once done is seen */
        if (failure) m->err = *failure;
        m->done = 1;
    }
    pthread_cond_broadcast(&w->group.cv);
    pthread_mutex_unlock(&w->group.mu);
}

/* The group's transaction is gone (SQLite rolled it back, its COMMIT failed, or a member's undo
 * failed): its members are told `why` (NULL: that a transaction of the group failed); it is closed. */
static void sq_group_fail(sq_handle *w, const socle_err *why)
{
    if (!w->group.open) return;
    socle_err lost = {0};
    if (!why) socle_err_set(&lost, SOCLE_ESTORE, "store: sqlite: a transaction of the same group of commits failed");
    sq_group_tell(w, sq_group_detach(w), why ? why : &lost);
}

/* Commit the open group, in the writer's turn, sync it and tell its members. */
static void sq_group_commit(sq_handle *w)
{
    if (!w->group.open) return;
    socle_err failure = {0};
    if (sqlite3_get_autocommit(w->db)) {
        sq_group_fail(w, NULL);
    } else if (sq_exec_script_on(w, "COMMIT", &failure)) {
        socle_err ignored = {0};
        if (!sqlite3_get_autocommit(w->db)) sq_exec_script_on(w, "ROLLBACK", &ignored);
        sq_group_fail(w, &failure);
    } else {
        if (w->sync_after) sq_sync_wal(sq_wal_file(w->db));
        sq_group_tell(w, sq_group_detach(w), NULL);
    }
}

/* A member waits to be told. Should no writer take the turn after it, it commits the group itself. */
static int sq_group_wait(store *s, sq_handle *w, sq_member *m, socle_err *err)
{
    pthread_mutex_lock(&w->group.mu);
    while (!m->done) {
        struct timespec until = time_deadline(CLOCK_REALTIME, SQ_GROUP_WAIT_MS);
        if (pthread_cond_timedwait(&w->group.cv, &w->group.mu, &until) == 0 || m->done) continue;
        pthread_mutex_unlock(&w->group.mu);
        if (!pthread_mutex_trylock(&s->write_mu)) {
            sq_group_commit(w);
            pthread_mutex_unlock(&s->write_mu);
        }
        pthread_mutex_lock(&w->group.mu);
    }
    pthread_mutex_unlock(&w->group.mu);
    if (m->err.code) *err = m->err;
    return m->err.code;
}

/* The store's writer handle, opened at its first use; called in the writer's turn. A database in
 * memory has a single connection, which writes itself. */
static sq_handle *sq_writer(sq_conn *c, socle_err *err)
{
    store *s = c->base.owner;
    /* In memory, or WAL refused (a rollback journal: readers and the writer would lock each other
     * out): the connection writes itself. */
    if (s->memory || !c->own.wal) return &c->own;
    if (s->sqlite_writer) return s->sqlite_writer;
    sq_handle *w = calloc(1, sizeof *w);
    if (!w) {
        socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
        return NULL;
    }
    /* FULL (the file is a WAL, as the connection's own handle found): commits write at NORMAL and
     * are synced once the turn is given back. */
    w->sync_after = !strcmp(s->sqlite_sync, "FULL");
    pthread_mutex_init(&w->group.mu, NULL);
    pthread_cond_init(&w->group.cv, NULL);
    char cache[48];
    snprintf(cache, sizeof cache, "PRAGMA cache_size = %d", -SQ_WRITER_CACHE_MB * 1024);
    if (sq_handle_open(s, w, w->sync_after ? "NORMAL" : s->sqlite_sync, err) || sq_exec_script_on(w, cache, err)) {
        sq_handle_close(w);
        pthread_cond_destroy(&w->group.cv);
        pthread_mutex_destroy(&w->group.mu);
        free(w);
        return NULL;
    }
    s->sqlite_writer = w;
    return w;
}

/* Take the writer's turn and use the writer handle. Unless the caller's transaction joins it (join),
 * an open group is committed first: a write of the caller's own must not land in it. */
static int sq_writer_take(sq_conn *c, int join, socle_err *err)
{
    int rc = sq_write_lock(c, err);
    if (rc) return rc;
    sq_handle *w = sq_writer(c, err);
    if (!w) {
        sq_write_unlock(c);
        return err->code;
    }
    if (!join) sq_group_commit(w);
    c->h = w;
    c->turn = 1;
    return 0;
}

/* The writer's synchronous level while a turn is kept for open rows: a write outside a
 * transaction then commits durably by itself (FULL), and back to NORMAL after. */
static void sq_writer_sync(sq_conn *c, int keep)
{
    if (!c->h->sync_after || c->kept == keep) return;
    socle_err err = {0};
    if (sq_exec_script_on(c->h, keep ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", &err))
        log_msg(LOG_ERROR, "%s", err.msg);
    c->kept = keep;
}

/* Give the turn back, unless store_rows are still open on the writer (then their free does). An
 * open group that no writer waits to join is committed first. */
static void sq_writer_give(sq_conn *c)
{
    if (c->writer_rows) {
        sq_group_commit(c->h); /* its members do not wait for the rows (nor may the level change in it) */
        sq_writer_sync(c, 1);
        return;
    }
    sq_writer_sync(c, 0);
    if (c->h->group.open && !atomic_load(&c->base.owner->write_waiters)) sq_group_commit(c->h);
    c->turn = 0;
    c->h = &c->own;
    sq_write_unlock(c);
}

/* After a commit of the writer's: the sync that makes it durable, once the turn is given back
 * (through this connection's own handle on the same WAL file; the next writer may already be
 * using the writer's); then the group's members, committed with it, are told. */
static void sq_committed(sq_conn *c, int relaxed)
{
    sq_handle *w = c->h;
    sq_member *members = sq_group_detach(w);
    int sync = w->sync_after && (!relaxed || members);
    sqlite3_file *own = sync ? sq_wal_file(c->own.db) : NULL;
    if (sync && !own) {
        sq_sync_wal(sq_wal_file(w->db)); /* this connection has no WAL open of its own: sync in the turn */
        sync = 0;
    }
    sq_writer_give(c);
    if (sync) sq_sync_wal(own);
    sq_group_tell(w, members, NULL);
}

/* Bind and run a statement to completion. */
static int sq_run(sq_handle *h, sqlite3_stmt *st, const store_value *params, int nparams, int64_t *changes,
                  socle_err *err)
{
    /* The statement runs to completion before we return: the caller's values can be used in place. */
    int rc = sq_bind(h, st, params, nparams, SQLITE_STATIC, err);
    if (rc) return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (s != SQLITE_DONE) return sq_fail(h, s, "exec", err);
    if (changes) *changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(h->db);
    return 0;
}

static int sq_exec(store_conn *bc, const char *sql, const store_value *params, int nparams, int64_t *changes,
                   socle_err *err)
{
    sq_conn *c = (sq_conn *)bc;
    sqlite3_stmt *st;
    store_stmt *entry;
    int rc = sq_stmt(c->h, sql, &st, &entry, err);
    if (rc) return rc;
    /* A write outside a transaction is a transaction of its own: the writer runs it, in its turn. */
    int write = !sqlite3_stmt_readonly(st) && sqlite3_get_autocommit(c->h->db);
    if (!write || c->turn) {
        rc = sq_run(c->h, st, params, nparams, changes, err);
        sq_done(st, entry);
        return rc;
    }
    sq_done(st, entry);
    if ((rc = sq_writer_take(c, 0, err))) return rc;
    rc = sq_stmt(c->h, sql, &st, &entry, err);
    if (!rc) {
        rc = sq_run(c->h, st, params, nparams, changes, err);
        sq_done(st, entry);
    }
    if (rc)
        sq_writer_give(c);
    else
        sq_committed(c, 0);
    return rc;
}

static int sq_exec_script_on(sq_handle *h, const char *sql, socle_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) rc = sq_fail(h, sqlite3_extended_errcode(h->db), "script", err);
    sqlite3_free(msg);
    return rc;
}

static int sq_exec_script(store_conn *bc, const char *sql, socle_err *err)
{
    return sq_exec_script_on(((sq_conn *)bc)->h, sql, err);
}

/* --- rows --- */

static int sq_query(store_conn *bc, const char *sql, const store_value *params, int nparams, store_rows **out,
                    socle_err *err)
{
    sq_conn *c = (sq_conn *)bc;
    sqlite3_stmt *st;
    store_stmt *entry;
    sq_handle *h = c->h;
    int rc = sq_stmt(h, sql, &st, &entry, err);
    if (rc) return rc;
    /* The statement outlives this call: SQLite must copy the values. */
    rc = sq_bind(h, st, params, nparams, SQLITE_TRANSIENT, err);
    int first = rc ? 0 : sqlite3_step(st);
    if (!rc && first != SQLITE_ROW && first != SQLITE_DONE) rc = sq_fail(h, first, "query", err);
    sq_rows *r = NULL;
    if (!rc) {
        if (!c->slot_used) {
            r = &c->slot;
            c->slot_used = 1;
        } else if (!(r = malloc(sizeof *r))) {
            rc = socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
        }
    }
    if (rc) {
        sq_done(st, entry);
        return rc;
    }
    *r = (sq_rows){{bc}, h, st, entry, first, first == SQLITE_DONE, 0, sqlite3_column_count(st), c->turn, NULL,
                   c->open};
    if (c->open) c->open->prev = r;
    c->open = r;
    if (entry) entry->busy = 1;
    c->writer_rows += c->turn;
    if (first == SQLITE_DONE) sqlite3_reset(st); /* end the read transaction now */
    *out = &r->base;
    return 0;
}

static int sq_rows_next(store_rows *br, socle_err *err)
{
    sq_rows *r = (sq_rows *)br;
    r->on_row = 0;
    if (r->pending) {
        int p = r->pending;
        r->pending = 0;
        return r->on_row = p == SQLITE_ROW;
    }
    if (r->done || !r->stmt) return 0;
    int s = sqlite3_step(r->stmt);
    if (s == SQLITE_ROW) return r->on_row = 1;
    r->done = 1;
    int rc = s == SQLITE_DONE ? 0 : sq_fail(r->h, s, "query", err);
    sqlite3_reset(r->stmt);
    return rc;
}

static int sq_rows_columns(const store_rows *br)
{
    return ((const sq_rows *)br)->ncols;
}

static int sq_col_ok(const sq_rows *r, int col)
{
    return r->on_row && col >= 0 && col < r->ncols;
}

static int sq_rows_isnull(const store_rows *br, int col)
{
    const sq_rows *r = (const sq_rows *)br;
    return !sq_col_ok(r, col) || sqlite3_column_type(r->stmt, col) == SQLITE_NULL;
}

static const char *sq_rows_text(store_rows *br, int col, size_t *len)
{
    sq_rows *r = (sq_rows *)br;
    if (len) *len = 0;
    if (!sq_col_ok(r, col) || sqlite3_column_type(r->stmt, col) == SQLITE_NULL) return NULL;
    const char *p = (const char *)sqlite3_column_text(r->stmt, col);
    if (p && len) *len = (size_t)sqlite3_column_bytes(r->stmt, col);
    return p;
}

static const void *sq_rows_blob(store_rows *br, int col, size_t *len)
{
    sq_rows *r = (sq_rows *)br;
    if (len) *len = 0;
    if (!sq_col_ok(r, col) || sqlite3_column_type(r->stmt, col) == SQLITE_NULL) return NULL;
    const void *p = sqlite3_column_blob(r->stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(r->stmt, col);
    if (len) *len = n;
    return p ? p : sq_empty; /* SQLite gives NULL for an empty blob; NULL means SQL NULL here */
}

static int64_t sq_rows_int(store_rows *br, int col)
{
    sq_rows *r = (sq_rows *)br;
    return sq_col_ok(r, col) ? sqlite3_column_int64(r->stmt, col) : 0;
}

static void sq_rows_free(store_rows *br)
{
    sq_rows *r = (sq_rows *)br;
    sq_conn *c = (sq_conn *)br->conn;
    if (!r->stmt) { /* detached when its connection was released (sq_release) */
        if (r != &c->slot) free(r);
        return;
    }
    sq_done(r->stmt, r->entry);
    if (r->entry) r->entry->busy = 0;
    if (r->prev) r->prev->next = r->next;
    else c->open = r->next;
    if (r->next) r->next->prev = r->prev;
    int in_turn = r->in_turn;
    if (r == &c->slot)
        c->slot_used = 0;
    else
        free(r);
    if (in_turn && --c->writer_rows == 0 && c->turn && !c->writing) sq_writer_give(c);
}

/* --- transactions --- */

/* Open, or ended by SQLite itself (an I/O error, a full disk roll it back) while this connection
 * still holds the writer's turn: store_tx_rollback then gives the turn back. Not the writer's open
 * transaction when it is a group's and this connection only keeps the turn for its rows. */
static int sq_in_tx(const store_conn *bc)
{
    const sq_conn *c = (const sq_conn *)bc;
    return c->writing || (!c->turn && !sqlite3_get_autocommit(c->h->db));
}

/* A write transaction, on the writer handle in the writer's turn. At synchronous=FULL on a WAL the
 * commit is made durable in two steps: COMMIT at NORMAL writes the WAL frames inside the turn,
 * then sq_tx_commit syncs the WAL once the turn is given back, before it returns. The caller
 * hears of its commit only once the commit is on disk, as with FULL, but the next writer no
 * longer waits for this one's fsync (and concurrent syncs of the WAL overlap). A reader may see
 * the rows during that fsync; should the machine lose power then, they are lost with a commit
 * nobody was told of. A relaxed transaction (store_tx_begin_relaxed) commits at NORMAL and is not
 * synced after. */
static int sq_tx_open(sq_conn *c, int relaxed, socle_err *err)
{
    int rc = c->turn ? 0 : sq_writer_take(c, 1, err); /* kept for open rows: still this connection's */
    if (rc) return rc;
    sq_writer_sync(c, 0);
    if (sqlite3_get_autocommit(c->h->db)) sq_group_fail(c->h, NULL); /* its transaction ended meanwhile */
    c->writing = 1;
    c->relaxed = relaxed;
    c->member = c->h->group.open;
    rc = sq_exec(&c->base, c->member ? "SAVEPOINT socle_member" : "BEGIN IMMEDIATE", NULL, 0, NULL, err);
    if (rc) {
        c->writing = c->member = 0;
        sq_writer_give(c);
    }
    return rc;
}

static int sq_tx_begin(store_conn *bc, socle_err *err)
{
    return sq_tx_open((sq_conn *)bc, 0, err);
}

/* A transaction whose commit is not synced after (WAL frames written, not fsynced); when the
 * configured level is already NORMAL or OFF there is nothing to relax. */
static int sq_tx_begin_relaxed(store_conn *bc, socle_err *err)
{
    return sq_tx_open((sq_conn *)bc, 1, err);
}

/* fsync the WAL: the frames a NORMAL commit wrote are durable once this returns. It cannot fail
 * and go on: the commit is already visible and later writers build on it, and after a failed
 * fsync the kernel may have dropped the pages it could not write (a later fsync then succeeds
 * without them). Like PostgreSQL's PANIC, the process stops; SQLite's recovery at the next start
 * keeps exactly what reached the disk. */
static void sq_sync_wal(sqlite3_file *wal)
{
    int rc = wal ? wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) : SQLITE_IOERR_FSYNC;
    if (rc == SQLITE_OK) return;
    log_msg(LOG_ERROR, "store: sqlite: cannot sync the WAL after a commit (%s): stopping", sqlite3_errstr(rc));
    abort();
}

/* The handle's open WAL file, or NULL (a handle opens it at its first read). */
static sqlite3_file *sq_wal_file(sqlite3 *db)
{
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || !wal || !wal->pMethods)
        return NULL;
    return wal;
}

/* A transaction that ends while writers wait for the turn: its work is left to the group, the turn
 * given on, and its outcome is the group's. */
static int sq_group_join(sq_conn *c, sq_handle *w, socle_err *err)
{
    sq_member m = {0};
    m.next = w->group.waiting;
    w->group.waiting = &m;
    w->group.members++;
    w->group.open = 1;
    c->writing = 0;
    sq_writer_give(c);
    return sq_group_wait(c->base.owner, w, &m, err);
}

static int sq_tx_commit(store_conn *bc, socle_err *err)
{
    sq_conn *c = (sq_conn *)bc;
    store *s = c->base.owner;
    sq_handle *w = c->h;
    int rc;
    if (c->writing && sqlite3_get_autocommit(w->db)) { /* SQLite ended it (a full disk, an I/O error) */
        socle_err_set(err, SOCLE_ESTORE, "store: sqlite: the transaction was rolled back by SQLite");
        c->writing = c->member = 0;
        sq_group_fail(w, NULL);
        sq_writer_give(c);
        return err->code;
    }
    if (c->member && (rc = sq_exec(bc, "RELEASE socle_member", NULL, 0, NULL, err))) return rc; /* the caller rolls back */
    c->member = 0;
    if (w == s->sqlite_writer && !c->writer_rows && w->group.members < SQ_GROUP_MAX &&
        atomic_load(&s->write_waiters) > 0)
        return sq_group_join(c, w, err);
    rc = sq_exec(bc, "COMMIT", NULL, 0, NULL, err);
    if (!sqlite3_get_autocommit(c->h->db)) return rc; /* still open: the caller rolls back */
    c->writing = 0;
    if (rc) {
        sq_group_fail(w, err);
        sq_writer_give(c);
    } else
        sq_committed(c, c->relaxed);
    return rc;
}

static void sq_tx_rollback(store_conn *bc)
{
    sq_conn *c = (sq_conn *)bc;
    socle_err err = {0};
    if (!c->writing) return;
    int open = !sqlite3_get_autocommit(c->h->db), undone = 0;
    if (open && c->member) { /* this transaction's work only: the group's stays */
        undone = !sq_exec(bc, "ROLLBACK TO socle_member", NULL, 0, NULL, &err) &&
                 !sq_exec(bc, "RELEASE socle_member", NULL, 0, NULL, &err);
        if (!undone) log_msg(LOG_ERROR, "%s", err.msg);
    }
    /* Not a member, or its undo failed: the whole transaction goes (the group's members are told). */
    if (open && !undone && sq_exec(bc, "ROLLBACK", NULL, 0, NULL, &err)) log_msg(LOG_ERROR, "%s", err.msg);
    c->writing = c->member = 0;
    if (sqlite3_get_autocommit(c->h->db)) sq_group_fail(c->h, NULL); /* the group's work went with it */
    sq_writer_give(c);
}

/* --- connections --- */

/* Back to the pool: rows the caller never freed (store_release logged them) are detached and their
 * statements reset, so that they hold no read snapshot and no writer's turn. */
static void sq_release(store_conn *bc)
{
    sq_conn *c = (sq_conn *)bc;
    for (sq_rows *r = c->open; r; r = r->next) {
        sq_done(r->stmt, r->entry);
        if (r->entry) r->entry->busy = 0;
        r->stmt = NULL;
        r->done = 1;
        r->pending = r->on_row = 0;
    }
    c->open = NULL;
    c->writer_rows = 0;
    if (c->turn && !c->writing) sq_writer_give(c);
}

static void sq_handle_close(sq_handle *h)
{
    store_cache_clear(&h->cache, sq_drop, h);
    sqlite3_close_v2(h->db);
    h->db = NULL;
}

static void sq_disconnect(store_conn *bc)
{
    sq_conn *c = (sq_conn *)bc;
    if (!c) return;
    sq_handle_close(&c->own);
    free(c);
}

void store_sqlite_writer_close(store *s)
{
    if (!s->sqlite_writer) return;
    sq_group_commit(s->sqlite_writer); /* no member is left by then: every request has ended */
    sq_handle_close(s->sqlite_writer);
    pthread_cond_destroy(&s->sqlite_writer->group.cv);
    pthread_mutex_destroy(&s->sqlite_writer->group.mu);
    free(s->sqlite_writer);
    s->sqlite_writer = NULL;
}

/* Before SQLite's first use in the process: no memory statistics. socle reads none, and keeping them
 * takes a process-wide mutex around every allocation SQLite makes, on which the pool's connections
 * contend (1.3 % of a FHIR read's CPU). Statement journals (a group member's savepoint keeps the
 * pages it changes there, about 120 KB for a DMP document) stay in memory up to 4 MB instead of
 * 64 KB before going to a temporary file. Refused (harmlessly) if SQLite was already initialised. */
#define SQ_STATEMENT_JOURNAL_BYTES (4 << 20)
static void sq_configure_library(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, SQ_STATEMENT_JOURNAL_BYTES);
}

/* Open and configure a handle on the store's database, at synchronous level `sync`. */
static int sq_handle_open(store *s, sq_handle *h, const char *sync, socle_err *err)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, sq_configure_library);
    int rc = sqlite3_open_v2(s->target, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return socle_err_set(err, SOCLE_ESTORE, "store: sqlite: cannot open %s: %s", s->target,
                             h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
    sqlite3_extended_result_codes(h->db, 1);
    sqlite3_busy_timeout(h->db, s->busy_timeout_ms);

    /* The page size of a database not created yet (ignored by SQLite once it has pages). Large
     * resources (the directory's, 2-3 KB) fit in 16 KB pages instead of overflowing 4 KB ones. */
    char page_size[48];
    snprintf(page_size, sizeof page_size, "PRAGMA page_size=%d", s->sqlite_page_size);
    if ((rc = sq_exec_script_on(h, page_size, err))) return rc;
    /* journal_mode answers with the mode in force: WAL may be refused (some file systems). */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(h->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (mode && strcmp(mode, "wal") && !s->memory)
            log_msg(LOG_WARN, "store: sqlite: WAL refused, journal mode is %s", mode);
        h->wal = mode && !strcmp(mode, "wal");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return sq_fail(h, rc, "cannot set WAL mode", err);
    /* mmap: pages of the database are read in place instead of through a read() and a copy. A
     * first read opens the WAL file (sq_own_wal syncs through it). */
    char pragmas[200];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=%s; PRAGMA foreign_keys=ON; PRAGMA mmap_size=%lld; SELECT 1 FROM sqlite_schema LIMIT 1",
             sync, s->sqlite_mmap_bytes);
    if ((rc = sq_exec_script_on(h, pragmas, err))) return rc;
    /* Checkpoints: wake the store's checkpointer instead of running one inside COMMIT. */
    if (!s->memory) sqlite3_wal_hook(h->db, store_sqlite_wal_hook, s);
    return 0;
}

static int sq_connect(store *s, store_conn **out, socle_err *err)
{
    sq_conn *c = calloc(1, sizeof *c);
    if (!c) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    c->h = &c->own;
    int rc = sq_handle_open(s, &c->own, s->sqlite_sync, err);
    if (rc) {
        sq_disconnect(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

int store_sqlite_cache_size(store_conn *bc, int mb, socle_err *err)
{
    sq_conn *c = (sq_conn *)bc;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", mb > 0 ? -mb * 1024 : -2000);
    int rc = sq_exec_script_on(&c->own, sql, err);
    if (rc || c->base.owner->memory) return rc;
    /* The writer serves the bulk load's transactions; back to its own size after. */
    int took = !c->turn;
    if (took && (rc = sq_writer_take(c, 0, err))) return rc;
    snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", -(mb > 0 ? mb : SQ_WRITER_CACHE_MB) * 1024);
    rc = sq_exec_script_on(c->h, sql, err);
    if (took) sq_writer_give(c);
    return rc;
}

const store_ops store_sqlite_ops = {
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .revive = NULL,
    .release = sq_release,
    .in_tx = sq_in_tx,
    .tx_begin = sq_tx_begin,
    .tx_begin_relaxed = sq_tx_begin_relaxed,
    .tx_commit = sq_tx_commit,
    .tx_rollback = sq_tx_rollback,
    .exec = sq_exec,
    .exec_script = sq_exec_script,
    .query = sq_query,
    .rows_next = sq_rows_next,
    .rows_columns = sq_rows_columns,
    .rows_isnull = sq_rows_isnull,
    .rows_text = sq_rows_text,
    .rows_blob = sq_rows_blob,
    .rows_int = sq_rows_int,
    .rows_free = sq_rows_free,
};
