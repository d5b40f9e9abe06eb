/* segment.c - message bodies in append-only segment files, next to a SQLite database.
 *
 * On SQLite every byte committed is written twice: to the WAL, then by the checkpoint to the
 * database file. For message bodies (100 KB and more, written once, never changed) that doubles
 * the disk traffic of the busiest path. So on SQLite a delivered message's bytes are appended to
 * a segment file (DIR/mss-bodies/NNNNNNNN.seg, a new one past MSS_SEGMENT_BYTES) and synced
 * (fdatasync) before the transaction that refers to them (mss_body.file_id, file_offset,
 * file_length) commits: once the 250 is sent, both are on disk. Several sessions append at once:
 * each reserves its range under the mutex, then writes and syncs on its own.
 *
 * A crash between the sync and the commit leaves bytes nothing refers to: lost space, never lost
 * mail. Bodies deleted later (EXPUNGE, a folder deleted) are listed in mss_body_free by the same
 * transaction that deletes them; mss_segments_reclaim then frees their space in the file
 * (fallocate PUNCH_HOLE) and clears the list, so a crash there only repeats the punch.
 *
 * PostgreSQL keeps bodies in its table (several nodes share the database, not a disk). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "svc/mss/mss_internal.h"

#define MSS_SEGMENT_BYTES ((int64_t)1 << 30) /* a new file once this one holds 1 GiB */

struct mss_segments {
    char dir[PATH_MAX];
    pthread_mutex_t mu;
    int fd;       /* the segment being appended to */
    int64_t file; /* its number */
    int64_t end;  /* where the next body goes */
    int *read_fds; /* read_fds[n]: segment n open for reading (-1: not yet), kept until close */
    /* Held shared by a reader from its SELECT of a body's row to the end of its pread, exclusively
     * by mss_segments_reclaim while punching: a range freed by a commit the reader did not see yet
     * is never read as zeros. */
    pthread_rwlock_t reading;
    int64_t nread_fds;
};

static void mss_segment_path(const mss_segments *g, int64_t file, char *out, size_t n)
{
    snprintf(out, n, "%s/%08" PRId64 ".seg", g->dir, file);
}

/* mss_sync_dir - make a new directory entry durable. */
static int mss_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* mss_segment_use - open segment `file` for appending, created if new. The file and its entry
 * are synced every time (once per start or new segment): a crash may have come between the
 * creation and the sync. */
static int mss_segment_use(mss_segments *g, int64_t file, socle_err *err)
{
    char path[PATH_MAX + 32];
    mss_segment_path(g, file, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || fsync(fd) || mss_sync_dir(g->dir)) {
        int e = errno;
        if (fd >= 0) close(fd);
        return socle_err_set(err, SOCLE_ESTORE, "mss: message store: cannot open a segment file: %s",
                             strerror(e));
    }
    if (g->fd >= 0) close(g->fd);
    g->fd = fd;
    g->file = file;
    g->end = st.st_size;
    return 0;
}

int mss_segments_open(const char *dir, mss_segments **out, socle_err *err)
{
    mss_segments *g = calloc(1, sizeof *g);
    if (!g) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    g->fd = -1;
    pthread_mutex_init(&g->mu, NULL);
    pthread_rwlock_init(&g->reading, NULL);
    snprintf(g->dir, sizeof g->dir, "%s", dir);
    /* The directory and its own entry in the parent, durable before anything points into it. */
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash == parent) slash[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(parent, sizeof parent, ".");
    if ((mkdir(dir, 0700) && errno != EEXIST) || mss_sync_dir(parent)) {
        int e = errno;
        mss_segments_close(g);
        return socle_err_set(err, SOCLE_ESTORE, "mss: message store: cannot create %s: %s", dir, strerror(e));
    }
    /* Appends go to the newest segment. */
    int64_t last = 1;
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        mss_segments_close(g);
        return socle_err_set(err, SOCLE_ESTORE, "mss: message store: cannot list %s: %s", dir, strerror(e));
    }
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long long n = strtoll(e->d_name, &end, 10);
        if (end != e->d_name && !strcmp(end, ".seg") && n > last) last = n;
    }
    closedir(d);
    int rc = mss_segment_use(g, last, err);
    if (rc) {
        mss_segments_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

void mss_segments_close(mss_segments *g)
{
    if (!g) return;
    if (g->fd >= 0) close(g->fd);
    for (int64_t i = 0; i < g->nread_fds; i++)
        if (g->read_fds[i] >= 0) close(g->read_fds[i]);
    free(g->read_fds);
    pthread_mutex_destroy(&g->mu);
    pthread_rwlock_destroy(&g->reading);
    free(g);
}

int mss_segment_append(mss_segments *g, const char *data, size_t len, mss_body_ref *ref, socle_err *err)
{
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    if (g->end > 0 && g->end + (int64_t)len > MSS_SEGMENT_BYTES) rc = mss_segment_use(g, g->file + 1, err);
    /* A descriptor of our own: the segment may be switched while we write. */
    int fd = rc ? -1 : dup(g->fd);
    if (!rc && fd < 0) rc = socle_err_set(err, SOCLE_ESTORE, "mss: message store: %s", strerror(errno));
    if (!rc) {
        ref->file = g->file;
        ref->offset = g->end;
        ref->length = (int64_t)len;
        g->end += (int64_t)len;
    }
    pthread_mutex_unlock(&g->mu);
    if (rc) return rc;
    size_t done = 0;
    while (!rc && done < len) {
        ssize_t w = pwrite(fd, data + done, len - done, (off_t)(ref->offset + (int64_t)done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            rc = socle_err_set(err, SOCLE_ESTORE, "mss: message store: write failed: %s", strerror(errno));
        else
            done += (size_t)w;
    }
    if (!rc && fdatasync(fd))
        rc = socle_err_set(err, SOCLE_ESTORE, "mss: message store: sync failed: %s", strerror(errno));
    close(fd);
    return rc;
}

void mss_segments_hold(mss_segments *g)
{
    if (g) pthread_rwlock_rdlock(&g->reading);
}

void mss_segments_release(mss_segments *g)
{
    if (g) pthread_rwlock_unlock(&g->reading);
}

/* mss_segment_reader - a descriptor of segment `file` open for reading (opened once, then kept). */
static int mss_segment_reader(mss_segments *g, int64_t file, socle_err *err)
{
    int fd = -1, e = ENOENT;
    pthread_mutex_lock(&g->mu);
    if (file >= 1 && file <= g->file) {
        if (file >= g->nread_fds) {
            int64_t n = file + 16;
            int *grown = realloc(g->read_fds, (size_t)n * sizeof *grown);
            if (grown) {
                for (int64_t i = g->nread_fds; i < n; i++) grown[i] = -1;
                g->read_fds = grown;
                g->nread_fds = n;
            }
        }
        if (file < g->nread_fds) {
            if (g->read_fds[file] < 0) {
                char path[PATH_MAX + 32];
                mss_segment_path(g, file, path, sizeof path);
                g->read_fds[file] = open(path, O_RDONLY | O_CLOEXEC);
            }
            fd = g->read_fds[file];
        }
        e = fd < 0 ? errno : 0;
    }
    pthread_mutex_unlock(&g->mu);
    if (fd < 0)
        return socle_err_set(err, SOCLE_ESTORE, "mss: message store: cannot open a segment file: %s", strerror(e));
    return fd;
}

int mss_segment_read(mss_segments *g, const mss_body_ref *ref, char *out, socle_err *err)
{
    int fd = mss_segment_reader(g, ref->file, err);
    if (fd < 0) return SOCLE_ESTORE;
    size_t done = 0, len = (size_t)ref->length;
    int rc = 0;
    while (!rc && done < len) {
        ssize_t r = pread(fd, out + done, len - done, (off_t)(ref->offset + (int64_t)done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            rc = socle_err_set(err, SOCLE_ESTORE, "mss: message store: read failed: %s", strerror(errno));
        else if (r == 0)
            rc = socle_err_set(err, SOCLE_ESTORE,
                               "mss: message store: a segment file is shorter than its index says");
        else
            done += (size_t)r;
    }
    return rc;
}

void mss_segments_reclaim(mss_segments *g, store *s)
{
    if (!g) return;
    store_conn *c;
    socle_err err;
    if (store_acquire(s, &c, &err)) return;
    enum { BATCH = 256 };
    for (;;) {
        mss_body_ref refs[BATCH];
        int n = 0, rc;
        store_rows *r = NULL;
        rc = store_query(c, "SELECT file_id, file_offset, file_length FROM mss_body_free LIMIT 256", NULL, 0,
                         &r, &err);
        if (rc) break;
        while (n < BATCH && (rc = store_rows_next(r, &err)) == 1) {
            refs[n++] = (mss_body_ref){store_rows_int(r, 0), store_rows_int(r, 1), store_rows_int(r, 2)};
        }
        store_rows_free(r);
        if (rc < 0 || n == 0) break;
        pthread_rwlock_wrlock(&g->reading);
        for (int i = 0; i < n; i++) {
            char path[PATH_MAX + 32];
            mss_segment_path(g, refs[i].file, path, sizeof path);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0) continue;
            if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)refs[i].offset,
                          (off_t)refs[i].length) &&
                errno != EOPNOTSUPP)
                log_msg(LOG_WARN, "mss: message store: freeing space: %s", strerror(errno));
            close(fd);
        }
        pthread_rwlock_unlock(&g->reading);
        rc = store_tx_begin(c, &err);
        for (int i = 0; !rc && i < n; i++) {
            store_value p[] = {STORE_V_INT(refs[i].file), STORE_V_INT(refs[i].offset)};
            rc = store_exec(c, "DELETE FROM mss_body_free WHERE file_id = $1 AND file_offset = $2", p, 2,
                            NULL, &err);
        }
        if (!rc) rc = store_tx_commit(c, &err);
        store_tx_rollback(c);
        if (rc || n < BATCH) break;
    }
    store_release(s, c);
}
