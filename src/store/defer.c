/* defer.c - the store's write-behind queue (store_defer): statements whose effect may come a
 * moment after the request that asked for them, such as a notice to a patient that their record
 * was opened, so that a read never waits for the writer's turn. One thread, started at the first
 * store_defer, commits what has queued in relaxed transactions of up to STORE_DEFER_BATCH
 * statements, in the order they came; a statement that fails is retried alone, then logged and
 * dropped. When STORE_DEFER_QUEUE_MAX statements wait already, the caller's statement runs at once
 * on the caller's connection instead (waiting for the thread could deadlock: it needs a connection
 * of the pool, which callers hold). store_close runs what is left. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/store_internal.h"

#define STORE_DEFER_BATCH 256
#define STORE_DEFER_QUEUE_MAX 65536

typedef struct store_deferred {
    struct store_deferred *next;
    uint64_t seq;
    const char *sql; /* caller's constant */
    int nparams;
    store_value params[STORE_DEFER_MAX_PARAMS];
    /* parameter strings follow */
} store_deferred;

typedef struct store_defer_queue {
    pthread_mutex_t mu;
    pthread_cond_t work, done; /* work: something queued or stopping; done: committed up to */
    store_deferred *head, *tail;
    int count;
    uint64_t queued, committed;
    int stopping;
    pthread_t thread;
} store_defer_queue;

/* Commit a batch in one relaxed transaction; on a failure, each statement alone. Waits for a
 * connection as long as it takes (the pool is busy, never gone while the thread runs). */
static void store_defer_commit(store *s, store_deferred *batch)
{
    store_conn *c = NULL;
    socle_err err;
    while (store_acquire(s, &c, &err)) log_msg(LOG_WARN, "store: deferred writes wait: %s", err.msg);
    int rc = store_tx_begin_relaxed(c, &err);
    for (store_deferred *d = batch; !rc && d; d = d->next)
        rc = store_exec(c, d->sql, d->params, d->nparams, NULL, &err);
    if (!rc) rc = store_tx_commit(c, &err);
    if (rc) {
        store_tx_rollback(c);
        for (store_deferred *d = batch; d; d = d->next)
            if (store_exec_relaxed(c, d->sql, d->params, d->nparams, NULL, &err))
                log_msg(LOG_ERROR, "store: a deferred write failed and is dropped: %s", err.msg);
    }
    store_release(s, c);
}

static void *store_defer_thread(void *arg)
{
    store *s = arg;
    store_defer_queue *q = s->defer;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stopping) pthread_cond_wait(&q->work, &q->mu);
        if (!q->head) break;
        store_deferred *batch = q->head, *last = batch;
        int n = 1;
        while (last->next && n < STORE_DEFER_BATCH) {
            last = last->next;
            n++;
        }
        q->head = last->next;
        if (!q->head) q->tail = NULL;
        last->next = NULL;
        q->count -= n;
        uint64_t upto = last->seq;
        pthread_mutex_unlock(&q->mu);
        store_defer_commit(s, batch);
        while (batch) {
            store_deferred *next = batch->next;
            free(batch);
            batch = next;
        }
        pthread_mutex_lock(&q->mu);
        q->committed = upto;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* The queue, created with its thread at the first call (under the pool's lock). */
static store_defer_queue *store_defer_queue_of(store *s, socle_err *err)
{
    pthread_mutex_lock(&s->mu);
    store_defer_queue *q = s->defer;
    if (!q && (q = calloc(1, sizeof *q))) {
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->work, NULL);
        pthread_cond_init(&q->done, NULL);
        s->defer = q;
        if (pthread_create(&q->thread, NULL, store_defer_thread, s)) {
            s->defer = NULL;
            pthread_cond_destroy(&q->work);
            pthread_cond_destroy(&q->done);
            pthread_mutex_destroy(&q->mu);
            free(q);
            q = NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!q) socle_err_set(err, SOCLE_ENOMEM, "store: cannot start the deferred writes' thread");
    return q;
}

/* The queue is full: the statement runs now on the caller's connection. */
static int store_defer_now(store_conn *c, const char *sql, const store_value *params, int nparams, socle_err *err)
{
    if (store_in_tx(c)) return store_exec(c, sql, params, nparams, NULL, err);
    return store_exec_relaxed(c, sql, params, nparams, NULL, err);
}

int store_defer(store_conn *c, const char *sql, const store_value *params, int nparams, socle_err *err)
{
    if (!c || !sql || nparams < 0 || nparams > STORE_DEFER_MAX_PARAMS || (nparams && !params))
        return socle_err_set(err, SOCLE_EINVAL, "store: store_defer: bad arguments");
    store *s = c->owner;
    size_t extra = 0;
    for (int i = 0; i < nparams; i++)
        if (params[i].type == STORE_TEXT || params[i].type == STORE_BLOB)
            extra += (params[i].type == STORE_TEXT ? store_text_len(&params[i]) : params[i].len) + 1;
    store_deferred *d = malloc(sizeof *d + extra);
    if (!d) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    d->next = NULL;
    d->sql = sql;
    d->nparams = nparams;
    char *p = (char *)(d + 1);
    for (int i = 0; i < nparams; i++) {
        d->params[i] = params[i];
        if (params[i].type != STORE_TEXT && params[i].type != STORE_BLOB) continue;
        size_t len = params[i].type == STORE_TEXT ? store_text_len(&params[i]) : params[i].len;
        if (len) memcpy(p, params[i].s, len);
        p[len] = 0;
        d->params[i].s = p;
        d->params[i].len = len;
        p += len + 1;
    }
    store_defer_queue *q = store_defer_queue_of(s, err);
    if (!q) {
        free(d);
        return err->code;
    }
    pthread_mutex_lock(&q->mu);
    if (q->count >= STORE_DEFER_QUEUE_MAX) { /* the store is slower than the calls */
        pthread_mutex_unlock(&q->mu);
        free(d);
        return store_defer_now(c, sql, params, nparams, err);
    }
    d->seq = ++q->queued;
    if (q->tail)
        q->tail->next = d;
    else
        q->head = d;
    q->tail = d;
    q->count++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void store_defer_flush(store *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    store_defer_queue *q = s->defer;
    pthread_mutex_unlock(&s->mu);
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    uint64_t upto = q->queued;
    while (q->committed < upto) pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

void store_defer_stop(store *s)
{
    store_defer_queue *q = s->defer;
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL); /* it commits what is queued first */
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    pthread_mutex_destroy(&q->mu);
    free(q);
    s->defer = NULL;
}
