/* trail.c - appending to the hash-chained audit trail: schema, the in-transaction append, and the
 * writer thread that group-commits queued events (see audit.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit_internal.h"
#include "base/log.h"
#include "base/text.h"
#include "base/timeutil.h"

#define AUDIT_COLUMN_DEFS(T)                                                                                       \
    "action " T ", outcome " T ", agent_kind " T ", agent_id " T ", agent_profession " T ", structure " T          \
    ", resource_type " T ", resource_id " T ", patient_id " T ", address " T ", request_id " T ", detail " T

const store_migration audit_migrations[] = {
    {1, "audit trail", NULL,
     "CREATE TABLE audit_event (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, " AUDIT_COLUMN_DEFS("TEXT")
     ", prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
     "CREATE INDEX audit_event_patient ON audit_event (patient_id, seq);"
     "CREATE INDEX audit_event_agent ON audit_event (agent_id, seq);"
     "CREATE INDEX audit_event_time ON audit_event (time_ms);"
     "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);"
     "INSERT INTO audit_head VALUES (1, 0, '" AUDIT_ZERO_HASH "');"
     "CREATE TABLE audit_checkpoint (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, time_ms INTEGER NOT NULL,"
     " kid TEXT NOT NULL, signature TEXT NOT NULL);",
     "CREATE TABLE audit_event (seq BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, " AUDIT_COLUMN_DEFS("TEXT COLLATE \"C\"")
     ", prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
     "CREATE INDEX audit_event_patient ON audit_event (patient_id, seq);"
     "CREATE INDEX audit_event_agent ON audit_event (agent_id, seq);"
     "CREATE INDEX audit_event_time ON audit_event (time_ms);"
     "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);"
     "INSERT INTO audit_head VALUES (1, 0, '" AUDIT_ZERO_HASH "');"
     "CREATE TABLE audit_checkpoint (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, time_ms BIGINT NOT NULL,"
     " kid TEXT NOT NULL, signature TEXT NOT NULL);"},
    {2, "audit indexes by bucket",
     "DROP INDEX IF EXISTS audit_event_patient; DROP INDEX IF EXISTS audit_event_agent;"
     "CREATE INDEX audit_event_patient ON audit_event ((seq / " AUDIT_BUCKET_SQL "), patient_id, seq)"
     " WHERE patient_id IS NOT NULL;"
     "CREATE INDEX audit_event_agent ON audit_event ((seq / " AUDIT_BUCKET_SQL "), agent_id, seq)"
     " WHERE agent_id IS NOT NULL;", NULL, NULL},
};
const size_t audit_migrations_count = sizeof audit_migrations / sizeof audit_migrations[0];

/* Rows per INSERT statement of a batch: one statement keeps its cursors open from row to row, so
 * appending to the table and to the time index does not descend their trees again for each row.
 * What is left of a batch under that count goes one row per statement: two statements to prepare. */
#define AUDIT_INSERT_ROWS 32

/* Events committed by one transaction of the writer, at most. */
#define AUDIT_BATCH_MAX 4096

typedef struct audit_item {
    struct audit_item *next;
    int64_t time_ms;
    const char *fields[AUDIT_NFIELDS];
    char data[];
} audit_item;

struct audit_trail {
    store *store;
    const crypto_key *key;
    int checkpoint_interval;
    int queue_size;
    int batch_ms;
    int batch_max; /* events per commit: AUDIT_BATCH_MAX, or the queue's size when smaller */
    int flushing; /* audit_flush callers waiting: commit without gathering */
    pthread_mutex_t lock;
    pthread_cond_t wake, done, room;
    audit_item *head, *tail;
    int queued;
    uint64_t enqueued, committed;
    int stopping, closed;
    int64_t last_checkpoint_pending; /* 1 when entries exist after the last checkpoint */
    pthread_t writer;
    store_value many_values[AUDIT_INSERT_ROWS * 16]; /* the writer's multi-row INSERTs */
    char many_hashes[AUDIT_INSERT_ROWS][65];
};

void audit_hash(int64_t seq, int64_t time_ms, const char *const fields[AUDIT_NFIELDS], const char *prev_hash,
                char out[65])
{
    /* The hashed form: "seq;time;" then "len:field;" or "-;" per field, then prev_hash. Built
     * without printf: the writer thread hashes every event. */
    socle_buf b = SOCLE_BUF_INIT;
    char num[24];
    buf_append(&b, num, text_decimal(seq, num));
    buf_putc(&b, ';');
    buf_append(&b, num, text_decimal(time_ms, num));
    buf_putc(&b, ';');
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        if (fields[i]) {
            size_t n = strlen(fields[i]);
            buf_append(&b, num, text_decimal((int64_t)n, num));
            buf_putc(&b, ':');
            buf_append(&b, fields[i], n);
            buf_putc(&b, ';');
        } else {
            buf_puts(&b, "-;");
        }
    }
    buf_puts(&b, prev_hash);
    uint8_t h[32];
    crypto_sha256(b.data, b.len, h);
    crypto_hex(h, 32, out);
    buf_free(&b);
}

void audit_checkpoint_message(int64_t seq, const char *hash, char *out, size_t n)
{
    snprintf(out, n, "socle-audit-checkpoint:%lld:%s", (long long)seq, hash);
}

static int audit_write_checkpoint(audit_trail *t, store_conn *c, int64_t seq, const char *hash, socle_err *err)
{
    char msg[160], sig64[200];
    uint8_t sig[512];
    size_t siglen = sizeof sig;
    audit_checkpoint_message(seq, hash, msg, sizeof msg);
    int rc = crypto_sign(t->key, msg, strlen(msg), sig, &siglen, err);
    if (rc) return rc;
    crypto_b64url_encode(sig, siglen, sig64);
    store_value p[5] = {STORE_V_INT(seq), STORE_V_TEXT(hash), STORE_V_INT(time_now_ms()),
                        STORE_V_TEXT(crypto_key_kid(t->key)), STORE_V_TEXT(sig64)};
    return store_exec(c,
                      "INSERT INTO audit_checkpoint (seq, hash, time_ms, kid, signature) VALUES ($1, $2, $3, $4, $5)"
                      " ON CONFLICT (seq) DO NOTHING",
                      p, 5, NULL, err);
}

static int audit_read_head(store_conn *c, int64_t *seq, char hash[65], socle_err *err)
{
    const char *sql = store_conn_engine(c) == STORE_POSTGRES ? "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
                                                             : "SELECT seq, hash FROM audit_head WHERE id = 1";
    store_rows *r;
    int rc = store_query(c, sql, NULL, 0, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        *seq = store_rows_int(r, 0);
        snprintf(hash, 65, "%s", store_rows_text(r, 1, NULL));
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ESTORE, "the audit head row is missing");
    }
    store_rows_free(r);
    return rc;
}

/* The INSERT of AUDIT_INSERT_ROWS entries, 16 parameters each: [0] as PostgreSQL takes it, [1] for
 * SQLite, where "OR FAIL" spares a statement journal: with the default ABORT, a statement that may
 * write several rows first copies every page it changes aside (to a temporary file past 64 KB),
 * so as to undo itself alone; here a failure rolls the whole batch back anyway. Should memory run
 * out while they are built, rows go one by one. */
static socle_buf audit_insert_many_sql[2] = {SOCLE_BUF_INIT, SOCLE_BUF_INIT};
static pthread_once_t audit_insert_many_once = PTHREAD_ONCE_INIT;

static void audit_insert_many_build(void)
{
    for (int k = 0; k < 2; k++) {
        socle_buf *sql = &audit_insert_many_sql[k];
        buf_puts(sql, k ? "INSERT OR FAIL" : "INSERT");
        buf_puts(sql, " INTO audit_event (seq, time_ms, " AUDIT_FIELD_COLUMNS ", prev_hash, hash) VALUES ");
        for (int r = 0; r < AUDIT_INSERT_ROWS; r++) {
            buf_puts(sql, r ? ", (" : "(");
            for (int i = 1; i <= 16; i++) buf_printf(sql, i == 1 ? "$%d" : ", $%d", r * 16 + i);
            buf_putc(sql, ')');
        }
    }
}

/* How many of the n entries left to insert the next statement takes: AUDIT_INSERT_ROWS, or 1. */
static int audit_insert_rows(int n)
{
    pthread_once(&audit_insert_many_once, audit_insert_many_build);
    return n >= AUDIT_INSERT_ROWS && buf_ok(&audit_insert_many_sql[0]) && buf_ok(&audit_insert_many_sql[1])
               ? AUDIT_INSERT_ROWS
               : 1;
}

/* Insert `rows` entries from seq + 1 on, the items from `it`, chained from prev (hex), which is left
 * holding the last one's hash; then the checkpoints their numbers call for. The head is the caller's
 * business. rows: 1, or AUDIT_INSERT_ROWS from the writer thread alone (its scratch space is t's). */
static int audit_insert_entries(audit_trail *t, store_conn *c, int64_t seq, char prev[65], const audit_item *it,
                                int rows, socle_err *err)
{
    if (rows < 1 || rows > AUDIT_INSERT_ROWS)
        return socle_err_set(err, SOCLE_EINTERNAL, "audit: %d entries for one INSERT", rows);
    store_value one[16], *p = rows > 1 ? t->many_values : one;
    char one_hash[1][65], (*hashes)[65] = rows > 1 ? t->many_hashes : one_hash;
    for (int r = 0; r < rows; r++, it = it->next) {
        store_value *v = p + r * 16;
        audit_hash(seq + 1 + r, it->time_ms, it->fields, r ? hashes[r - 1] : prev, hashes[r]);
        v[0] = STORE_V_INT(seq + 1 + r);
        v[1] = STORE_V_INT(it->time_ms);
        for (int i = 0; i < AUDIT_NFIELDS; i++) v[2 + i] = STORE_V_TEXT(it->fields[i]);
        v[14] = STORE_V_TEXT(r ? hashes[r - 1] : prev);
        v[15] = STORE_V_TEXT(hashes[r]);
    }
    const char *sql = rows > 1 ? audit_insert_many_sql[store_conn_engine(c) == STORE_SQLITE].data
                               : "INSERT INTO audit_event (seq, time_ms, " AUDIT_FIELD_COLUMNS ", prev_hash, hash)"
                                 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
    int rc = store_exec(c, sql, p, rows * 16, NULL, err);
    for (int r = 0; !rc && r < rows; r++)
        if (t->checkpoint_interval > 0 && (seq + 1 + r) % t->checkpoint_interval == 0)
            rc = audit_write_checkpoint(t, c, seq + 1 + r, hashes[r], err);
    if (!rc) memcpy(prev, hashes[rows - 1], 65);
    return rc;
}

static int audit_write_head(store_conn *c, int64_t seq, const char *hash, socle_err *err)
{
    store_value h[2] = {STORE_V_INT(seq), STORE_V_TEXT(hash)};
    return store_exec(c, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", h, 2, NULL, err);
}

/* Append fields as the next entry inside the open transaction on c. */
static int audit_append_fields(audit_trail *t, store_conn *c, int64_t time_ms, const char *const f[AUDIT_NFIELDS],
                               socle_err *err)
{
    int64_t seq;
    char prev[65];
    audit_item it = {.time_ms = time_ms};
    memcpy(it.fields, f, sizeof it.fields);
    int rc = audit_read_head(c, &seq, prev, err);
    if (!rc) rc = audit_insert_entries(t, c, seq, prev, &it, 1, err);
    if (!rc) rc = audit_write_head(c, seq + 1, prev, err);
    return rc;
}

static void audit_event_fields(const audit_event *e, const char *f[AUDIT_NFIELDS])
{
    const char *v[AUDIT_NFIELDS] = {e->action,        e->outcome,     e->agent_kind,  e->agent_id,
                                    e->agent_profession, e->structure, e->resource_type, e->resource_id,
                                    e->patient_id,    e->address,     e->request_id,  e->detail};
    memcpy(f, v, sizeof v);
}

int audit_append_tx(audit_trail *t, store_conn *c, const audit_event *e, socle_err *err)
{
    const char *f[AUDIT_NFIELDS];
    audit_event_fields(e, f);
    int rc = audit_append_fields(t, c, e->time_ms ? e->time_ms : time_now_ms(), f, err);
    if (!rc) {
        pthread_mutex_lock(&t->lock);
        t->last_checkpoint_pending = 1;
        pthread_mutex_unlock(&t->lock);
    }
    return rc;
}

int audit_append(audit_trail *t, const audit_event *e)
{
    const char *f[AUDIT_NFIELDS];
    audit_event_fields(e, f);
    size_t size = sizeof(audit_item);
    for (int i = 0; i < AUDIT_NFIELDS; i++) size += f[i] ? strlen(f[i]) + 1 : 0;
    audit_item *it = malloc(size);
    if (!it) return SOCLE_ENOMEM;
    it->next = NULL;
    it->time_ms = e->time_ms ? e->time_ms : time_now_ms();
    char *p = it->data;
    for (int i = 0; i < AUDIT_NFIELDS; i++) {
        if (!f[i]) {
            it->fields[i] = NULL;
            continue;
        }
        size_t n = strlen(f[i]) + 1;
        memcpy(p, f[i], n);
        it->fields[i] = p;
        p += n;
    }
    pthread_mutex_lock(&t->lock);
    while (t->queued >= t->queue_size && !t->closed) pthread_cond_wait(&t->room, &t->lock);
    if (t->closed) {
        pthread_mutex_unlock(&t->lock);
        free(it);
        return SOCLE_EINTERNAL;
    }
    if (t->tail)
        t->tail->next = it;
    else
        t->head = it;
    t->tail = it;
    t->queued++;
    t->enqueued++;
    /* The writer waits for the first event, then gathers until its deadline or a full batch. */
    if (t->queued == 1 || t->queued == t->batch_max) pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* Commit one batch; the batch stays queued until it is committed, so nothing is lost on errors. */
static int audit_commit_batch(audit_trail *t, audit_item *batch, int n)
{
    socle_err err;
    store_conn *c;
    int rc = store_acquire(t->store, &c, &err);
    if (rc) return rc;
    /* One head read and one head update per batch: the head row is locked for the whole batch. */
    int64_t seq = 0;
    char prev[65];
    rc = store_tx_begin(c, &err);
    if (!rc) rc = audit_read_head(c, &seq, prev, &err);
    audit_item *it = batch;
    for (int done = 0; !rc && done < n;) {
        int rows = audit_insert_rows(n - done);
        rc = audit_insert_entries(t, c, seq, prev, it, rows, &err);
        seq += rows;
        done += rows;
        for (int i = 0; i < rows; i++) it = it->next;
    }
    if (!rc) rc = audit_write_head(c, seq, prev, &err);
    if (!rc) rc = store_tx_commit(c, &err);
    if (rc) {
        store_tx_rollback(c);
        log_msg(LOG_WARN, "audit writer: batch of %d not committed yet (%s), retrying", n, socle_err_name(rc));
    }
    store_release(t->store, c);
    return rc;
}

/* Called with t->lock held and events queued: wait up to batch_ms for more, so that one commit
 * (one fsync, one write of each touched page) serves many events. */
static void audit_gather(audit_trail *t)
{
    if (t->batch_ms <= 0) return;
    struct timespec deadline = time_deadline(CLOCK_MONOTONIC, t->batch_ms);
    while (!t->stopping && !t->flushing && t->queued < t->batch_max)
        if (pthread_cond_timedwait(&t->wake, &t->lock, &deadline)) break;
}

static void *audit_writer(void *arg)
{
    audit_trail *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->head && !t->stopping) pthread_cond_wait(&t->wake, &t->lock);
        if (!t->head && t->stopping) break;
        audit_gather(t);
        audit_item *batch = t->head;
        int n = t->queued < t->batch_max ? t->queued : t->batch_max; /* queued is the list's length */
        pthread_mutex_unlock(&t->lock);
        int rc = audit_commit_batch(t, batch, n);
        pthread_mutex_lock(&t->lock);
        if (rc) {
            pthread_mutex_unlock(&t->lock);
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&t->lock);
            continue;
        }
        for (int i = 0; i < n; i++) {
            audit_item *it = t->head;
            t->head = it->next;
            free(it);
        }
        if (!t->head) t->tail = NULL;
        t->queued -= n;
        t->committed += (uint64_t)n;
        t->last_checkpoint_pending = 1;
        pthread_cond_broadcast(&t->done);
        pthread_cond_broadcast(&t->room);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int audit_open(store *s, const crypto_key *key, const audit_options *options, audit_trail **out, socle_err *err)
{
    int rc = store_migrate(s, "audit", audit_migrations, audit_migrations_count, err);
    if (rc) return rc;
    audit_trail *t = calloc(1, sizeof *t);
    if (!t) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    t->store = s;
    t->key = key;
    t->checkpoint_interval = options->checkpoint_interval > 0 ? options->checkpoint_interval : 1000;
    t->queue_size = options->queue_size > 0 ? options->queue_size : 65536;
    t->batch_ms = options->batch_ms > 1000 ? 1000 : options->batch_ms;
    t->batch_max = t->queue_size < AUDIT_BATCH_MAX ? t->queue_size : AUDIT_BATCH_MAX;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &monotonic);
    pthread_cond_init(&t->done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    pthread_cond_init(&t->room, NULL);
    if (pthread_create(&t->writer, NULL, audit_writer, t)) {
        free(t);
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot start the audit writer thread");
    }
    *out = t;
    return 0;
}

/* Wait for the events queued so far to be committed, until deadline (NULL: no limit). */
static int audit_wait_committed(audit_trail *t, const struct timespec *deadline)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    uint64_t target = t->enqueued;
    t->flushing++;
    pthread_cond_signal(&t->wake);
    while (t->committed < target && !rc)
        if (!deadline)
            pthread_cond_wait(&t->done, &t->lock);
        else if (pthread_cond_timedwait(&t->done, &t->lock, deadline))
            rc = t->committed < target ? -1 : 0;
    t->flushing--;
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void audit_flush(audit_trail *t)
{
    audit_wait_committed(t, NULL);
}

int audit_flush_within(audit_trail *t, int timeout_ms)
{
    struct timespec deadline = time_deadline(CLOCK_MONOTONIC, timeout_ms);
    return audit_wait_committed(t, &deadline);
}

void audit_close(audit_trail *t)
{
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->writer, NULL);
    t->closed = 1;
    /* A final checkpoint so that cutting the tail after a clean stop is detected too. */
    if (t->last_checkpoint_pending) {
        socle_err err;
        store_conn *c;
        if (!store_acquire(t->store, &c, &err)) {
            int64_t seq;
            char hash[65];
            int rc = store_tx_begin(c, &err);
            if (!rc) rc = audit_read_head(c, &seq, hash, &err);
            if (!rc && seq > 0) rc = audit_write_checkpoint(t, c, seq, hash, &err);
            if (!rc) rc = store_tx_commit(c, &err);
            if (rc) store_tx_rollback(c);
            store_release(t->store, c);
        }
    }
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->done);
    pthread_cond_destroy(&t->room);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
