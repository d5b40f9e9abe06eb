/* store.c - the storage front: URL parsing, connection pool, checks and dispatch to an engine.
 *
 * NAME
 *      store - one API over SQLite (sqlite.c) and PostgreSQL (postgres.c).
 * DESCRIPTION
 *      store_open parses the URL (sqlite:PATH, postgres://..., postgresql://..., or postgres:
 *      followed by a libpq key=value string), opens every connection of the pool up front and
 *      keeps the idle ones on a stack guarded by one mutex. Every public call checks its
 *      arguments here, so the engines only see well-formed parameters, then calls the engine.
 *      Transactions, ping and query_int are written once on top of the engine calls; migrations
 *      live in migrate.c.
 * CONFIGURATION
 *      db, db_pool_size (0: see store_default_pool), sqlite_synchronous, sqlite_mmap_mb, sqlite_page_size,
 *      store_busy_timeout_ms.
 * BUGS
 *      store_acquire gives up with SOCLE_EBUSY after STORE_ACQUIRE_WAIT_MS rather than blocking
 *      forever, so that a leaked connection shows up as errors instead of a frozen server.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "store/store_internal.h"

#define STORE_ACQUIRE_WAIT_MS 30000
#define STORE_MAX_POOL 1024

/* --- opening --- */

/* mkdir -p for the directory holding `path` (the data directory holds health data: 0700). */
static int store_make_parent(const char *path, socle_err *err)
{
    char *dir = strdup(path);
    if (!dir) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = 0;
        for (char *p = dir + 1;; p++) {
            if (*p && *p != '/') continue;
            char c = *p;
            *p = 0;
            struct stat st;
            if (stat(dir, &st) != 0) {
                if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                    rc = socle_err_set(err, SOCLE_EIO, "store: cannot create directory %s: %s", dir,
                                       strerror(errno));
                    break;
                }
            } else if (!S_ISDIR(st.st_mode)) {
                rc = socle_err_set(err, SOCLE_EIO, "store: %s is not a directory", dir);
                break;
            }
            *p = c;
            if (!c) break;
        }
    }
    free(dir);
    return rc;
}

static int store_parse_url(store *s, const char *url, socle_err *err)
{
    if (!strncmp(url, "sqlite:", 7)) {
        const char *path = url + 7;
        if (!strncmp(path, "//", 2) && path[2] == '/') path += 2; /* sqlite:///abs/path */
        if (!*path) return socle_err_set(err, SOCLE_EINVAL, "store: db: sqlite: needs a file path");
        s->engine = STORE_SQLITE;
        s->ops = &store_sqlite_ops;
        s->memory = !strcmp(path, ":memory:");
        if (!(s->target = strdup(path))) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
        size_t n = strlen(path) + 8;
        if (!(s->describe = malloc(n))) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
        snprintf(s->describe, n, "sqlite:%s", path);
        return 0;
    }
    const char *conninfo = NULL;
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        conninfo = url;
    else if (!strncmp(url, "postgres:", 9) || !strncmp(url, "postgresql:", 11))
        conninfo = strchr(url, ':') + 1;
    if (!conninfo)
        return socle_err_set(err, SOCLE_EINVAL,
                             "store: db: unknown database URL scheme (want sqlite:PATH or postgres://...)");
    s->engine = STORE_POSTGRES;
    s->ops = &store_pg_ops;
    if (!(s->target = strdup(conninfo))) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    return store_pg_describe(conninfo, &s->describe, err);
}

/* PostgreSQL: 2 x cores + 2 connections per process (each is a server process; several nodes share
 * the server's max_connections). SQLite: one per HTTP thread of the default counts (connection
 * threads 2 x cores + 4 and write pool 4 x cores + 8, see net/http.c) and two more: connections
 * are cheap in-process handles, and a writer waiting in a group commit keeps its own. */
static int store_default_pool(store_engine engine)
{
    int n = config_cores();
    return engine == STORE_POSTGRES ? n * 2 + 2 : n * 6 + 14;
}

int store_open(const store_options *opt, store **out, socle_err *err)
{
    *out = NULL;
    if (!opt || !opt->url || !*opt->url)
        return socle_err_set(err, SOCLE_EINVAL, "store: db: no database URL given");
    if (opt->pool_size < 0 || opt->pool_size > STORE_MAX_POOL)
        return socle_err_set(err, SOCLE_EINVAL, "store: db_pool_size must be between 0 and %d",
                             STORE_MAX_POOL);
    if (opt->sqlite_mmap_mb < 0 || opt->sqlite_mmap_mb > 2047)
        return socle_err_set(err, SOCLE_EINVAL, "store: sqlite_mmap_mb must be between 0 and 2047");
    int page = opt->sqlite_page_size ? opt->sqlite_page_size : 4096;
    if (page < 512 || page > 65536 || (page & (page - 1)))
        return socle_err_set(err, SOCLE_EINVAL, "store: sqlite_page_size must be a power of 2 from 512 to 65536");
    if (opt->busy_timeout_ms < 0)
        return socle_err_set(err, SOCLE_EINVAL, "store: store_busy_timeout_ms must not be negative");
    const char *sync = "FULL";
    if (opt->sqlite_synchronous && *opt->sqlite_synchronous) {
        static const char *const levels[] = {"FULL", "NORMAL", "OFF"};
        sync = NULL;
        for (int i = 0; i < 3; i++)
            if (!strcasecmp(opt->sqlite_synchronous, levels[i])) sync = levels[i];
        if (!sync)
            return socle_err_set(err, SOCLE_EINVAL, "store: sqlite_synchronous must be FULL, NORMAL or OFF");
    }

    store *s = calloc(1, sizeof *s);
    if (!s) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->busy_timeout_ms = opt->busy_timeout_ms ? opt->busy_timeout_ms : 10000;
    s->sqlite_sync = sync;
    s->sqlite_mmap_bytes = (long long)opt->sqlite_mmap_mb << 20;
    s->sqlite_page_size = page;

    int rc = store_parse_url(s, opt->url, err);
    if (!rc && s->engine == STORE_SQLITE && !s->memory) rc = store_make_parent(s->target, err);
    int n = opt->pool_size ? opt->pool_size : store_default_pool(s->engine);
    if (s->memory) n = 1;
    if (!rc && (!(s->conns = calloc((size_t)n, sizeof *s->conns)) ||
                !(s->idle = calloc((size_t)n, sizeof *s->idle))))
        rc = socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    /* Connections open one after the other: the first one switches SQLite to WAL alone. */
    for (int i = 0; !rc && i < n; i++) {
        store_conn *c = NULL;
        rc = s->ops->connect(s, &c, err);
        if (rc) break;
        c->ops = s->ops;
        c->owner = s;
        s->conns[s->nconns++] = c;
        s->idle[s->nidle++] = c;
    }
    if (!rc && s->engine == STORE_SQLITE && !s->memory) rc = store_sqlite_checkpointer_start(s, err);
    if (rc) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    if (s->nidle != s->nconns)
        log_msg(LOG_ERROR, "store: closing with %d connection(s) still acquired", s->nconns - s->nidle);
    pthread_mutex_unlock(&s->mu);
    store_defer_stop(s);
    if (s->engine == STORE_SQLITE) store_sqlite_checkpointer_stop(s);
    for (int i = 0; i < s->nconns; i++)
        s->ops->disconnect(s->conns[i]);
    if (s->engine == STORE_SQLITE) store_sqlite_writer_close(s);
    free(s->conns);
    free(s->idle);
    if (s->target) {
        /* The PostgreSQL conninfo may hold a password: don't leave it in freed memory. */
        explicit_bzero(s->target, strlen(s->target));
        free(s->target);
    }
    free(s->describe);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->write_mu);
    free(s);
}

store_engine store_engine_of(const store *s)
{
    return s->engine;
}

const char *store_describe(const store *s)
{
    return s->describe;
}

/* --- the pool --- */

int store_acquire(store *s, store_conn **out, socle_err *err)
{
    *out = NULL;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += STORE_ACQUIRE_WAIT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    while (!s->nidle) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT && !s->nidle) {
            pthread_mutex_unlock(&s->mu);
            return socle_err_set(err, SOCLE_EBUSY,
                                 "store: no free database connection after %d s (pool of %d)",
                                 STORE_ACQUIRE_WAIT_MS / 1000, s->nconns);
        }
    }
    store_conn *c = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->mu);
    if (c->ops->revive) {
        int rc = c->ops->revive(c, err);
        if (rc) {
            store_release(s, c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

void store_release(store *s, store_conn *c)
{
    if (!c) return;
    if (c->rows_open) {
        log_msg(LOG_ERROR, "store: connection released with %d result set(s) not freed", c->rows_open);
        c->rows_open = 0;
    }
    if (c->ops->in_tx(c)) c->ops->tx_rollback(c);
    if (c->ops->release) c->ops->release(c);
    pthread_mutex_lock(&s->mu);
    s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

store_engine store_conn_engine(const store_conn *c)
{
    return c->owner->engine;
}

/* --- transactions --- */

int store_tx_begin(store_conn *c, socle_err *err)
{
    if (c->ops->in_tx(c))
        return socle_err_set(err, SOCLE_EINTERNAL, "store: a transaction is already open (no savepoints)");
    return c->ops->tx_begin(c, err);
}

int store_tx_begin_relaxed(store_conn *c, socle_err *err)
{
    if (c->ops->in_tx(c))
        return socle_err_set(err, SOCLE_EINTERNAL, "store: a transaction is already open (no savepoints)");
    return c->ops->tx_begin_relaxed(c, err);
}

int store_tx_commit(store_conn *c, socle_err *err)
{
    if (!c->ops->in_tx(c)) return socle_err_set(err, SOCLE_EINTERNAL, "store: commit without a transaction");
    return c->ops->tx_commit(c, err);
}

void store_tx_rollback(store_conn *c)
{
    if (c->ops->in_tx(c)) c->ops->tx_rollback(c);
}

int store_in_tx(const store_conn *c)
{
    return c->ops->in_tx(c);
}

/* --- statements --- */

/* Parameters are checked once here so that engines can trust them. */
static int store_check(const char *sql, const store_value *params, int nparams, socle_err *err)
{
    if (!sql) return socle_err_set(err, SOCLE_EINTERNAL, "store: no SQL given");
    if (nparams < 0 || nparams > STORE_MAX_PARAMS || (nparams && !params))
        return socle_err_set(err, SOCLE_EINTERNAL, "store: bad parameter count %d", nparams);
    for (int i = 0; i < nparams; i++) {
        const store_value *v = &params[i];
        switch (v->type) {
        case STORE_NULL:
        case STORE_INT:
            break;
        case STORE_TEXT:
            if (!v->s) break; /* binds NULL */
            if (v->len != (size_t)-1) {
                if (v->len > INT_MAX)
                    return socle_err_set(err, SOCLE_ETOOLARGE, "store: text parameter $%d too large", i + 1);
                if (memchr(v->s, 0, v->len))
                    return socle_err_set(err, SOCLE_EINVAL, "store: text parameter $%d holds a NUL byte",
                                         i + 1);
            }
            break;
        case STORE_BLOB:
            if (v->len > INT_MAX)
                return socle_err_set(err, SOCLE_ETOOLARGE, "store: blob parameter $%d too large", i + 1);
            if (v->len && !v->s)
                return socle_err_set(err, SOCLE_EINTERNAL, "store: blob parameter $%d has no data", i + 1);
            break;
        default:
            return socle_err_set(err, SOCLE_EINTERNAL, "store: parameter $%d has an unknown type", i + 1);
        }
    }
    return 0;
}

int store_exec(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *changes,
               socle_err *err)
{
    if (changes) *changes = 0;
    int rc = store_check(sql, params, nparams, err);
    return rc ? rc : c->ops->exec(c, sql, params, nparams, changes, err);
}

int store_exec_relaxed(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *changes,
                       socle_err *err)
{
    int rc = store_tx_begin_relaxed(c, err);
    if (!rc) rc = store_exec(c, sql, params, nparams, changes, err);
    if (!rc) rc = store_tx_commit(c, err);
    if (rc) store_tx_rollback(c);
    return rc;
}

int store_exec_script(store_conn *c, const char *sql, socle_err *err)
{
    if (!sql) return socle_err_set(err, SOCLE_EINTERNAL, "store: no SQL given");
    return c->ops->exec_script(c, sql, err);
}

int store_query(store_conn *c, const char *sql, const store_value *params, int nparams, store_rows **out,
                socle_err *err)
{
    *out = NULL;
    int rc = store_check(sql, params, nparams, err);
    if (rc) return rc;
    rc = c->ops->query(c, sql, params, nparams, out, err);
    if (!rc) c->rows_open++;
    return rc;
}

int store_rows_next(store_rows *r, socle_err *err)
{
    return r->conn->ops->rows_next(r, err);
}

int store_rows_columns(const store_rows *r)
{
    return r->conn->ops->rows_columns(r);
}

int store_rows_isnull(const store_rows *r, int col)
{
    return r->conn->ops->rows_isnull(r, col);
}

const char *store_rows_text(store_rows *r, int col, size_t *len)
{
    return r->conn->ops->rows_text(r, col, len);
}

const void *store_rows_blob(store_rows *r, int col, size_t *len)
{
    return r->conn->ops->rows_blob(r, col, len);
}

int64_t store_rows_int(store_rows *r, int col)
{
    return r->conn->ops->rows_int(r, col);
}

void store_rows_free(store_rows *r)
{
    if (!r) return;
    store_conn *c = r->conn;
    if (c->rows_open > 0) c->rows_open--;
    c->ops->rows_free(r);
}

int store_query_int(store_conn *c, const char *sql, const store_value *params, int nparams, int64_t *out,
                    socle_err *err)
{
    store_rows *r;
    int rc = store_query(c, sql, params, nparams, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        *out = store_rows_int(r, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "store: no row");
    }
    store_rows_free(r);
    return rc;
}

int store_ping(store *s, socle_err *err)
{
    store_conn *c;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    int64_t one = 0;
    rc = store_query_int(c, "SELECT 1", NULL, 0, &one, err);
    if (!rc && one != 1) rc = socle_err_set(err, SOCLE_ESTORE, "store: ping answered %lld", (long long)one);
    store_release(s, c);
    return rc;
}

int store_bulk_cache(store_conn *c, int mb, socle_err *err)
{
    if (store_conn_engine(c) != STORE_SQLITE) return 0;
    return store_sqlite_cache_size(c, mb, err);
}
