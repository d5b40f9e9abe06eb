/* postgres.c - the PostgreSQL engine of the store (libpq).
 *
 * One PGconn per pooled connection. Statements are prepared on the server once per connection
 * (named "s<n>", cached by SQL text) and run with PQexecPrepared: one round trip per statement.
 * Parameters go as text (integers in decimal, so the server may infer any numeric or text type)
 * except blobs, which go binary so bytea needs no escaping. Results come back as text; bytea
 * columns are decoded by store_rows_blob. A connection found broken at acquire is reset, and its
 * statement cache with it (prepared statements die with the session). lock_timeout is set from
 * store_busy_timeout_ms so that lock waits end in SOCLE_EBUSY like SQLite's busy timeout. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "store/store_internal.h"

#define PG_BYTEA_OID 17
#define PG_SCRATCH_KEEP 65536 /* larger parameter scratch space is released after the call */

typedef struct pg_bytes {
    unsigned char *p; /* from PQunescapeBytea */
    size_t n;
} pg_bytes;

typedef struct pg_rows {
    store_rows base;
    PGresult *res;
    int row, nrows, ncols;
    pg_bytes *decoded; /* per column: bytea of the current row, decoded on demand */
} pg_rows;

typedef struct pg_conn {
    store_conn base;
    PGconn *pg;
    store_cache cache;
    socle_buf scratch; /* text form of parameters that need one (integers, unterminated text) */
    pg_rows slot;
    int slot_used;
    int lock_timeout_ms;
} pg_conn;

/* --- errors --- */

static int pg_code(const char *state)
{
    if (!state) return SOCLE_ESTORE;
    if (!strcmp(state, "23505")) return SOCLE_ECONFLICT;
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
        !strcmp(state, "57014"))
        return SOCLE_EBUSY;
    return SOCLE_ESTORE;
}

/* The primary message only: DETAIL lines quote key values ("Key (id)=(...)"). Data exceptions
 * (class 22) quote the offending value after a colon, so it is cut there. */
static int pg_fail(pg_conn *c, const PGresult *res, const char *what, socle_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg) msg = PQerrorMessage(c->pg);
    size_t n = strcspn(msg, "\n");
    if (state && !strncmp(state, "22", 2)) n = strcspn(msg, ":\n");
    if (!state && PQstatus(c->pg) != CONNECTION_OK) state = "08000";
    return socle_err_set(err, pg_code(state), "store: postgres: %s: %.*s (SQLSTATE %s)", what, (int)n, msg,
                         state ? state : "none");
}

static int pg_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* PQexec of a parameterless command, for transaction control and session setup. */
static int pg_simple(pg_conn *c, const char *sql, const char *what, socle_err *err)
{
    PGresult *res = PQexec(c->pg, sql);
    int rc = res && pg_ok(res) ? 0 : pg_fail(c, res, what, err);
    PQclear(res);
    return rc;
}

/* --- statements --- */

/* The cached server-side statement for sql, prepared now if needed. */
static int pg_prepare(pg_conn *c, const char *sql, store_stmt **out, socle_err *err)
{
    uint64_t h = store_cache_hash(sql);
    store_stmt *e = store_cache_get(&c->cache, sql, h);
    if (e) {
        *out = e;
        return 0;
    }
    if (c->cache.count >= STORE_CACHE_MAX) {
        /* Nothing is busy on this engine (results are fully fetched): forget them all. If the
         * DEALLOCATE fails (aborted transaction) the names are simply never reused. */
        PQclear(PQexec(c->pg, "DEALLOCATE ALL"));
        store_cache_clear(&c->cache, NULL, NULL);
    }
    if (!(e = store_cache_put(&c->cache, sql, h, NULL, NULL, NULL)))
        return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    char name[16];
    snprintf(name, sizeof name, "s%u", e->id);
    PGresult *res = PQprepare(c->pg, name, sql, 0, NULL);
    int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_fail(c, res, "prepare", err);
    PQclear(res);
    if (rc) {
        store_cache_remove(&c->cache, e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Fill the libpq parameter arrays. Text that is NUL-terminated is passed in place. */
static int pg_params(pg_conn *c, const store_value *p, int n, const char **values, int *lengths, int *formats,
                     socle_err *err)
{
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        if (p[i].type == STORE_INT) need += 24;
        if (p[i].type == STORE_TEXT && p[i].s && p[i].len != (size_t)-1) need += p[i].len + 1;
    }
    buf_reset(&c->scratch);
    if (need && buf_reserve(&c->scratch, need)) {
        buf_free(&c->scratch);
        return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    }
    char *w = c->scratch.data;
    for (int i = 0; i < n; i++) {
        const store_value *v = &p[i];
        values[i] = NULL;
        lengths[i] = 0;
        formats[i] = 0;
        switch (v->type) {
        case STORE_INT:
            values[i] = w;
            w += snprintf(w, 24, "%lld", (long long)v->i) + 1;
            break;
        case STORE_TEXT:
            if (!v->s) break;
            if (v->len == (size_t)-1) {
                values[i] = v->s;
            } else {
                memcpy(w, v->s, v->len);
                w[v->len] = 0;
                values[i] = w;
                w += v->len + 1;
            }
            break;
        case STORE_BLOB:
            values[i] = v->len ? v->s : ""; /* NULL would mean SQL NULL */
            lengths[i] = (int)v->len;
            formats[i] = 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* Prepare (cached) and run; on success *res holds a result whose status pg_ok accepts. */
static int pg_run(pg_conn *c, const char *sql, const store_value *params, int nparams, PGresult **out,
                  socle_err *err)
{
    *out = NULL;
    const char *vs[STORE_STACK_PARAMS];
    int ls[STORE_STACK_PARAMS], fs[STORE_STACK_PARAMS];
    const char **values = vs;
    int *lengths = ls, *formats = fs;
    if (nparams > STORE_STACK_PARAMS) {
        values = malloc((size_t)nparams * sizeof *values);
        lengths = malloc((size_t)nparams * sizeof *lengths);
        formats = malloc((size_t)nparams * sizeof *formats);
    }
    int rc = 0;
    if (!values || !lengths || !formats) rc = socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    if (!rc) rc = pg_params(c, params, nparams, values, lengths, formats, err);
    for (int attempt = 0; !rc; attempt++) {
        store_stmt *e = NULL;
        if ((rc = pg_prepare(c, sql, &e, err))) break;
        char name[16];
        snprintf(name, sizeof name, "s%u", e->id);
        PGresult *res = PQexecPrepared(c->pg, name, nparams, values, lengths, formats, 0);
        if (res && pg_ok(res)) {
            *out = res;
            break;
        }
        /* A table changed shape under a cached "SELECT *": prepare again, once, if nothing
         * else was lost (outside a transaction). */
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!attempt && state && !strcmp(state, "0A000") && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
            PQclear(res);
            char dealloc[32];
            snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", name);
            PQclear(PQexec(c->pg, dealloc));
            store_cache_remove(&c->cache, e);
            continue;
        }
        rc = pg_fail(c, res, "statement", err);
        PQclear(res);
    }
    if (c->scratch.cap > PG_SCRATCH_KEEP) buf_free(&c->scratch);
    if (values != vs) {
        free(values);
        free(lengths);
        free(formats);
    }
    return rc;
}

static int pg_exec(store_conn *bc, const char *sql, const store_value *params, int nparams, int64_t *changes,
                   socle_err *err)
{
    pg_conn *c = (pg_conn *)bc;
    PGresult *res;
    int rc = pg_run(c, sql, params, nparams, &res, err);
    if (rc) return rc;
    if (changes) *changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int pg_exec_script(store_conn *bc, const char *sql, socle_err *err)
{
    return pg_simple((pg_conn *)bc, sql, "script", err);
}

/* --- rows --- */

static int pg_query(store_conn *bc, const char *sql, const store_value *params, int nparams, store_rows **out,
                    socle_err *err)
{
    pg_conn *c = (pg_conn *)bc;
    PGresult *res;
    int rc = pg_run(c, sql, params, nparams, &res, err);
    if (rc) return rc;
    pg_rows *r;
    if (!c->slot_used) {
        r = &c->slot;
        c->slot_used = 1;
    } else if (!(r = malloc(sizeof *r))) {
        PQclear(res);
        return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    }
    *r = (pg_rows){{bc}, res, -1, PQntuples(res), PQnfields(res), NULL};
    *out = &r->base;
    return 0;
}

static void pg_rows_forget_row(pg_rows *r)
{
    if (!r->decoded) return;
    for (int i = 0; i < r->ncols; i++) {
        if (r->decoded[i].p) PQfreemem(r->decoded[i].p);
        r->decoded[i].p = NULL;
    }
}

static int pg_rows_next(store_rows *br, socle_err *err)
{
    pg_rows *r = (pg_rows *)br;
    pg_rows_forget_row(r);
    if (r->row < r->nrows) r->row++;
    return r->row < r->nrows;
}

static int pg_rows_columns(const store_rows *br)
{
    return ((const pg_rows *)br)->ncols;
}

static int pg_col_ok(const pg_rows *r, int col)
{
    return r->row >= 0 && r->row < r->nrows && col >= 0 && col < r->ncols;
}

static int pg_rows_isnull(const store_rows *br, int col)
{
    const pg_rows *r = (const pg_rows *)br;
    return !pg_col_ok(r, col) || PQgetisnull(r->res, r->row, col);
}

static const char *pg_rows_text(store_rows *br, int col, size_t *len)
{
    pg_rows *r = (pg_rows *)br;
    if (len) *len = 0;
    if (pg_rows_isnull(br, col)) return NULL;
    if (len) *len = (size_t)PQgetlength(r->res, r->row, col);
    return PQgetvalue(r->res, r->row, col);
}

static const void *pg_rows_blob(store_rows *br, int col, size_t *len)
{
    pg_rows *r = (pg_rows *)br;
    if (len) *len = 0;
    if (pg_rows_isnull(br, col)) return NULL;
    if (PQftype(r->res, col) != PG_BYTEA_OID) return pg_rows_text(br, col, len);
    if (!r->decoded && !(r->decoded = calloc((size_t)r->ncols, sizeof *r->decoded))) return NULL;
    pg_bytes *d = &r->decoded[col];
    if (!d->p && !(d->p = PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->row, col), &d->n)))
        return NULL;
    if (len) *len = d->n;
    return d->p;
}

static int64_t pg_rows_int(store_rows *br, int col)
{
    pg_rows *r = (pg_rows *)br;
    if (pg_rows_isnull(br, col)) return 0;
    const char *t = PQgetvalue(r->res, r->row, col);
    if (!strcmp(t, "t")) return 1; /* boolean columns (EXISTS ...) */
    return strtoll(t, NULL, 10);
}

static void pg_rows_free(store_rows *br)
{
    pg_rows *r = (pg_rows *)br;
    pg_conn *c = (pg_conn *)br->conn;
    pg_rows_forget_row(r);
    free(r->decoded);
    PQclear(r->res);
    if (r == &c->slot)
        c->slot_used = 0;
    else
        free(r);
}

/* --- transactions --- */

static int pg_in_tx(const store_conn *bc)
{
    PGTransactionStatusType t = PQtransactionStatus(((const pg_conn *)bc)->pg);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

static int pg_tx_begin(store_conn *bc, socle_err *err)
{
    return pg_simple((pg_conn *)bc, "BEGIN ISOLATION LEVEL READ COMMITTED", "begin", err);
}

static int pg_tx_begin_relaxed(store_conn *bc, socle_err *err)
{
    int rc = pg_tx_begin(bc, err);
    if (!rc) rc = pg_simple((pg_conn *)bc, "SET LOCAL synchronous_commit = off", "relaxed commit", err);
    return rc;
}

static int pg_tx_commit(store_conn *bc, socle_err *err)
{
    pg_conn *c = (pg_conn *)bc;
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        /* COMMIT would quietly roll back: say so instead of returning success. */
        pg_simple(c, "ROLLBACK", "rollback", NULL);
        return socle_err_set(err, SOCLE_ESTORE,
                             "store: postgres: commit: transaction aborted by an earlier error, "
                             "rolled back");
    }
    PGresult *res = PQexec(c->pg, "COMMIT");
    int rc = 0;
    if (!res || !pg_ok(res))
        rc = pg_fail(c, res, "commit", err);
    else if (strcmp(PQcmdStatus(res), "COMMIT"))
        rc = socle_err_set(err, SOCLE_ESTORE, "store: postgres: commit: the server rolled back");
    PQclear(res);
    return rc;
}

static void pg_tx_rollback(store_conn *bc)
{
    socle_err err = {0};
    if (pg_simple((pg_conn *)bc, "ROLLBACK", "rollback", &err)) log_msg(LOG_ERROR, "%s", err.msg);
}

/* --- connections --- */

/* Server notices ("relation already exists, skipping") would go to stderr raw, breaking the
 * JSON log lines. */
static void pg_notice(void *arg, const char *message)
{
    if (log_enabled(LOG_DEBUG))
        log_msg(LOG_DEBUG, "store: postgres: %.*s", (int)strcspn(message, "\n"), message);
}

static int pg_setup(pg_conn *c, socle_err *err)
{
    PQsetNoticeProcessor(c->pg, pg_notice, NULL);
    char sql[64];
    snprintf(sql, sizeof sql, "SET lock_timeout = %d", c->lock_timeout_ms);
    return pg_simple(c, sql, "session setup", err);
}

static void pg_disconnect(store_conn *bc)
{
    pg_conn *c = (pg_conn *)bc;
    if (!c) return;
    store_cache_clear(&c->cache, NULL, NULL);
    buf_free(&c->scratch);
    PQfinish(c->pg);
    free(c);
}

static int pg_connect(store *s, store_conn **out, socle_err *err)
{
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    c->lock_timeout_ms = s->busy_timeout_ms;
    /* dbname comes last so that settings in the URL win over these defaults. */
    const char *const keys[] = {"client_encoding", "fallback_application_name", "dbname", NULL};
    const char *const values[] = {"UTF8", "socle", s->target, NULL};
    c->pg = PQconnectdbParams(keys, values, 1);
    int rc = 0;
    if (!c->pg)
        rc = socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    else if (PQstatus(c->pg) != CONNECTION_OK)
        rc = socle_err_set(err, SOCLE_ESTORE, "store: postgres: cannot connect to %s: %.*s", s->describe,
                           (int)strcspn(PQerrorMessage(c->pg), "\n"), PQerrorMessage(c->pg));
    else
        rc = pg_setup(c, err);
    if (rc) {
        pg_disconnect(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

static int pg_revive(store_conn *bc, socle_err *err)
{
    pg_conn *c = (pg_conn *)bc;
    if (PQstatus(c->pg) == CONNECTION_OK) return 0;
    PQreset(c->pg);
    store_cache_clear(&c->cache, NULL, NULL); /* the server forgot them with the session */
    if (PQstatus(c->pg) != CONNECTION_OK)
        return socle_err_set(err, SOCLE_ESTORE, "store: postgres: connection lost, reconnect failed: %.*s",
                             (int)strcspn(PQerrorMessage(c->pg), "\n"), PQerrorMessage(c->pg));
    log_msg(LOG_WARN, "store: postgres: connection lost, reconnected");
    return pg_setup(c, err);
}

int store_pg_describe(const char *conninfo, char **out, socle_err *err)
{
    *out = NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        /* libpq quotes the bad part, which may be the password: keep only what precedes it. */
        int rc = socle_err_set(err, SOCLE_EINVAL, "store: db: bad PostgreSQL connection string: %.*s",
                               perr ? (int)strcspn(perr, ":\n") : 0, perr ? perr : "");
        PQfreemem(perr);
        return rc;
    }
    const char *user = NULL, *host = NULL, *hostaddr = NULL, *port = NULL, *db = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val) continue;
        if (!strcmp(o->keyword, "user")) user = o->val;
        if (!strcmp(o->keyword, "host")) host = o->val;
        if (!strcmp(o->keyword, "hostaddr")) hostaddr = o->val;
        if (!strcmp(o->keyword, "port")) port = o->val;
        if (!strcmp(o->keyword, "dbname")) db = o->val;
    }
    socle_buf b = SOCLE_BUF_INIT;
    buf_puts(&b, "postgres://");
    if (user) buf_printf(&b, "%s@", user);
    buf_puts(&b, host ? host : hostaddr ? hostaddr : "");
    if (port) buf_printf(&b, ":%s", port);
    buf_printf(&b, "/%s", db ? db : "");
    PQconninfoFree(opts);
    if (!buf_ok(&b)) {
        buf_free(&b);
        return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    }
    *out = buf_take(&b, NULL);
    return 0;
}

const store_ops store_pg_ops = {
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .revive = pg_revive,
    .in_tx = pg_in_tx,
    .tx_begin = pg_tx_begin,
    .tx_begin_relaxed = pg_tx_begin_relaxed,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .query = pg_query,
    .rows_next = pg_rows_next,
    .rows_columns = pg_rows_columns,
    .rows_isnull = pg_rows_isnull,
    .rows_text = pg_rows_text,
    .rows_blob = pg_rows_blob,
    .rows_int = pg_rows_int,
    .rows_free = pg_rows_free,
};
