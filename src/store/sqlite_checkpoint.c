/* sqlite_checkpoint.c - WAL checkpoints of the SQLite engine, on a thread of their own.
 *
 * SQLite's default copies the WAL back into the database file (a checkpoint: the pages written,
 * then the file fsynced) inside the COMMIT that takes the WAL past 1000 pages. That writer, and
 * whoever waits for its answer, then waits for a few megabytes to be written and synced although
 * the transaction is already durable in the WAL. Here every connection's WAL hook only wakes the
 * store's checkpointer thread, which runs the same PASSIVE checkpoint on its own connection while
 * writers go on appending to the WAL. PASSIVE never waits for readers or writers: it copies what
 * no reader still needs, and the next writer restarts the WAL once all of it was copied.
 *
 * It is woken when the WAL gained SQ_CHECKPOINT_FRAMES frames since its last checkpoint, and after
 * a quiet second for what a burst left below that.
 *
 * A writer that never pauses (an import) outruns it: each checkpoint copies what was there when it
 * began, the writer has appended more by the time it ends, so the WAL is never copied whole and
 * never restarts (9 GB of WAL during the import of a million patients). So once the WAL holds
 * SQ_CHECKPOINT_INLINE_FRAMES frames, the committing connection checkpoints itself, as SQLite does
 * by default, once per SQ_CHECKPOINT_FRAMES new frames (and at the next commit again if the
 * checkpointer thread was busy with one). The hook runs inside COMMIT, while the committer still
 * holds the store's writer turn: no other writer of the process appends meanwhile, so the WAL is
 * copied whole (unless a reader still needs part of it) and restarts. Other writers wait for that
 * copy, once per SQ_CHECKPOINT_FRAMES frames, only when the WAL has grown that far.
 * Durability is unchanged: a commit is on disk once its WAL frames are synced; checkpoints only
 * move committed pages. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "store/store_internal.h"

/* A checkpoint copies each page once however often the WAL holds it, so waiting for more frames
 * than SQLite's own 1000 copies the pages every commit touches (the audit trail's last leaf and
 * head, index roots) far less often: measured, 8000 cut the CPU of a token grant by about 10 %
 * without slowing reads (each read looks a page up in a few WAL index blocks), and 16000 (with the
 * committer helping past 64000) a DMP feed's by 6 %: with group commit its WAL grew past 32000
 * pages, where the committer copied pages inside the writer's turn. */
#define SQ_CHECKPOINT_FRAMES 16000         /* 64 MB of 4 KB pages */
#define SQ_CHECKPOINT_INLINE_FRAMES 64000  /* 256 MB: the committer helps */
#define SQ_CHECKPOINT_IDLE_MS 1000         /* then the rest of a burst is copied back too */

struct sq_checkpointer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wanted; /* a WAL hook asked for a checkpoint since the last one started */
    int stop;
    int copied; /* WAL frames the last checkpoint copied back (0 once a writer restarts the WAL) */
    int frames; /* the WAL's size at the last commit */
    int inline_at; /* the WAL's size when a committer last checkpointed itself */
    sqlite3 *db; /* the thread's own connection */
};

static void *sq_checkpointer_run(void *arg)
{
    struct sq_checkpointer *k = arg;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        /* Woken for SQ_CHECKPOINT_FRAMES new frames, or after a quiet second for fewer. */
        int quiet = 0;
        while (!k->wanted && !k->stop && !quiet) {
            if (k->frames <= k->copied) {
                pthread_cond_wait(&k->cv, &k->mu);
                continue;
            }
            struct timespec until = time_deadline(CLOCK_REALTIME, SQ_CHECKPOINT_IDLE_MS);
            quiet = pthread_cond_timedwait(&k->cv, &k->mu, &until) == ETIMEDOUT;
        }
        if (k->stop) break;
        k->wanted = 0;
        pthread_mutex_unlock(&k->mu);
        int frames = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
            log_msg(LOG_WARN, "store: sqlite: checkpoint: %s", sqlite3_errmsg(k->db));
        pthread_mutex_lock(&k->mu);
        if (rc == SQLITE_OK && copied > 0) k->copied = copied;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* frames: the WAL's size after this commit. What counts is what was added since the last
 * checkpoint: a WAL that readers kept from restarting stays past the threshold, and waking on its
 * size alone copied back (and fsynced the database for) every single commit. */
int store_sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    store *s = arg;
    struct sq_checkpointer *k = s->checkpointer;
    if (k == NULL) {
        if (frames >= SQ_CHECKPOINT_FRAMES)
            (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&k->mu);
    if (frames < k->frames || frames < k->copied) k->copied = k->inline_at = 0; /* the WAL restarted */
    k->frames = frames;
    int added = frames - k->copied;
    int self = frames >= SQ_CHECKPOINT_INLINE_FRAMES && frames - k->inline_at >= SQ_CHECKPOINT_FRAMES;
    if (added >= SQ_CHECKPOINT_FRAMES && frames < SQ_CHECKPOINT_INLINE_FRAMES) {
        k->wanted = 1;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    if (self) {
        /* SQLITE_BUSY (the thread is checkpointing) costs nothing: the next commit tries again. */
        int copied = 0;
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, &copied) == SQLITE_OK) {
            pthread_mutex_lock(&k->mu);
            k->inline_at = frames;
            if (copied > 0) k->copied = copied;
            pthread_mutex_unlock(&k->mu);
        }
    }
    return SQLITE_OK;
}

int store_sqlite_checkpointer_start(store *s, socle_err *err)
{
    struct sq_checkpointer *k = calloc(1, sizeof *k);
    if (!k) return socle_err_set(err, SOCLE_ENOMEM, "store: out of memory");
    int rc = sqlite3_open_v2(s->target, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        /* The checkpoint syncs as the configured level says (OFF: never). */
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", s->sqlite_sync);
        rc = sqlite3_exec(k->db, pragma, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        socle_err_set(err, SOCLE_ESTORE, "store: sqlite: checkpointer: cannot open %s: %s", s->target,
                      k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(k->db);
        free(k);
        return SOCLE_ESTORE;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    if (pthread_create(&k->thread, NULL, sq_checkpointer_run, k)) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        sqlite3_close_v2(k->db);
        free(k);
        return socle_err_set(err, SOCLE_EINTERNAL, "store: sqlite: cannot start the checkpointer thread");
    }
    s->checkpointer = k;
    return 0;
}

void store_sqlite_checkpointer_stop(store *s)
{
    struct sq_checkpointer *k = s->checkpointer;
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    s->checkpointer = NULL; /* from here the connections checkpoint themselves */
    sqlite3_close_v2(k->db);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
