/* usage.c - INSi call counters (see usage.h). */
#include "svc/ins/usage.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/timeutil.h"

static const store_migration ins_usage_steps[] = {
    {1, "INSi usage counters",
     "CREATE TABLE ins_insi_usage (day TEXT NOT NULL, structure TEXT NOT NULL, user_id TEXT NOT NULL,"
     " operation TEXT NOT NULL, result TEXT NOT NULL, calls BIGINT NOT NULL,"
     " PRIMARY KEY (day, structure, user_id, operation, result));",
     NULL, NULL},
};

int ins_usage_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "ins_usage", ins_usage_steps, 1, err);
}

typedef struct usage_counter {
    struct usage_counter *next;
    char day[11];
    char structure[64];
    char user[128];
    char operation[24];
    char result[16];
    long long calls;
} usage_counter;

struct ins_usage {
    store *store;
    int flush_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    usage_counter *pending; /* a short list: the distinct callers of a few seconds */
    int closing;
    pthread_t thread;
};

void ins_usage_count(ins_usage *u, const char *structure, const char *user, const char *operation, const char *result)
{
    char day[11];
    time_t now = (time_t)(time_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    pthread_mutex_lock(&u->lock);
    usage_counter *c = u->pending;
    while (c && (strcmp(c->day, day) || strcmp(c->user, user) || strcmp(c->structure, structure) ||
                 strcmp(c->operation, operation) || strcmp(c->result, result)))
        c = c->next;
    if (!c && (c = calloc(1, sizeof *c))) {
        snprintf(c->day, sizeof c->day, "%s", day);
        snprintf(c->structure, sizeof c->structure, "%s", structure);
        snprintf(c->user, sizeof c->user, "%s", user);
        snprintf(c->operation, sizeof c->operation, "%s", operation);
        snprintf(c->result, sizeof c->result, "%s", result);
        c->next = u->pending;
        u->pending = c;
    }
    if (c) c->calls++;
    pthread_mutex_unlock(&u->lock);
    if (!c) log_msg(LOG_ERROR, "insi usage: out of memory, one call not counted");
}

int ins_usage_flush(ins_usage *u, socle_err *err)
{
    pthread_mutex_lock(&u->lock);
    usage_counter *list = u->pending;
    u->pending = NULL;
    pthread_mutex_unlock(&u->lock);
    if (!list) return 0;
    store_conn *c = NULL;
    int rc = store_acquire(u->store, &c, err);
    if (!rc) rc = store_tx_begin(c, err);
    for (usage_counter *k = list; !rc && k; k = k->next) {
        store_value p[6] = {STORE_V_TEXT(k->day),       STORE_V_TEXT(k->structure), STORE_V_TEXT(k->user),
                            STORE_V_TEXT(k->operation), STORE_V_TEXT(k->result),    STORE_V_INT(k->calls)};
        rc = store_exec(c,
                        "INSERT INTO ins_insi_usage (day, structure, user_id, operation, result, calls)"
                        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, structure, user_id, operation, result)"
                        " DO UPDATE SET calls = ins_insi_usage.calls + excluded.calls",
                        p, 6, NULL, err);
    }
    if (!rc) rc = store_tx_commit(c, err);
    if (rc && c && store_in_tx(c)) store_tx_rollback(c);
    if (c) store_release(u->store, c);
    if (rc) {
        /* Keep the counts for the next flush rather than lose them. */
        pthread_mutex_lock(&u->lock);
        usage_counter *tail = list;
        while (tail->next) tail = tail->next;
        tail->next = u->pending;
        u->pending = list;
        pthread_mutex_unlock(&u->lock);
        return rc;
    }
    while (list) {
        usage_counter *next = list->next;
        free(list);
        list = next;
    }
    return 0;
}

static void *usage_thread(void *arg)
{
    ins_usage *u = arg;
    pthread_mutex_lock(&u->lock);
    while (!u->closing) {
        struct timespec until = time_deadline(CLOCK_MONOTONIC, u->flush_ms);
        int w = 0;
        while (!u->closing && w != ETIMEDOUT) w = pthread_cond_timedwait(&u->wake, &u->lock, &until);
        pthread_mutex_unlock(&u->lock);
        socle_err err;
        if (ins_usage_flush(u, &err)) log_msg(LOG_WARN, "insi usage: flush failed (%s), will retry", err.msg);
        pthread_mutex_lock(&u->lock);
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

int ins_usage_open(store *s, int flush_ms, ins_usage **out, socle_err *err)
{
    ins_usage *u = calloc(1, sizeof *u);
    if (!u) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    u->store = s;
    u->flush_ms = flush_ms > 0 ? flush_ms : 5000;
    pthread_mutex_init(&u->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&u->thread, NULL, usage_thread, u)) {
        pthread_mutex_destroy(&u->lock);
        pthread_cond_destroy(&u->wake);
        free(u);
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot start the INSi usage thread");
    }
    *out = u;
    return 0;
}

void ins_usage_close(ins_usage *u)
{
    if (!u) return;
    pthread_mutex_lock(&u->lock);
    u->closing = 1;
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->lock);
    pthread_join(u->thread, NULL);
    socle_err err;
    if (ins_usage_flush(u, &err)) log_msg(LOG_ERROR, "insi usage: final flush failed: %s", err.msg);
    while (u->pending) {
        usage_counter *next = u->pending->next;
        free(u->pending);
        u->pending = next;
    }
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->wake);
    free(u);
}
