/* trust.c - the MSSanté trust space: the allow-list of operator domains (one per line, '#'
 * comments, blank lines ignored), reread when the file changes so that an update needs no restart.
 * A missing file is an empty list: nothing leaves and nothing comes in but our own domains. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "svc/mss/mss_internal.h"

struct mss_trust {
    char *path;
    pthread_mutex_t mu;
    char **domains; /* sorted, lower case */
    size_t n;
    struct timespec mtime;
    off_t size;
    int64_t checked_ms;
};

static int trust_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void trust_clear(mss_trust *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->domains[i]);
    free(t->domains);
    t->domains = NULL;
    t->n = 0;
}

/* trust_load - (re)read the file; the old list stays when it cannot be read. */
static void trust_load(mss_trust *t)
{
    struct stat st;
    if (stat(t->path, &st)) {
        if (t->n) log_msg(LOG_WARN, "mss: trust file %s is gone: the trust space is now empty", t->path);
        trust_clear(t);
        memset(&t->mtime, 0, sizeof t->mtime);
        return;
    }
    if (st.st_mtim.tv_sec == t->mtime.tv_sec && st.st_mtim.tv_nsec == t->mtime.tv_nsec && st.st_size == t->size) return;
    FILE *f = fopen(t->path, "r");
    if (!f) return;
    char line[512];
    char **list = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        while (*p == ' ' || *p == '\t') p++;
        size_t l = strcspn(p, " \t\r\n");
        if (!l) continue;
        size_t rest = l + strspn(p + l, " \t\r\n");
        p[l] = 0;
        if (p[rest] || l > 253 || strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != l) {
            bad++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nl = realloc(list, cap * sizeof *nl);
            if (!nl) break;
            list = nl;
        }
        list[n] = strdup(p);
        if (list[n]) mss_lower(list[n++]);
    }
    fclose(f);
    qsort(list, n, sizeof *list, trust_order);
    trust_clear(t);
    t->domains = list;
    t->n = n;
    t->mtime = st.st_mtim;
    t->size = st.st_size;
    log_line l;
    log_begin(&l, LOG_INFO, "mss trust space loaded");
    log_int(&l, "domains", (long long)n);
    log_int(&l, "ignored_lines", bad);
    log_end(&l);
}

int mss_trust_open(const char *path, mss_trust **out, socle_err *err)
{
    mss_trust *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&t->mu, NULL);
    trust_load(t);
    t->checked_ms = time_now_ms();
    *out = t;
    return 0;
}

void mss_trust_free(mss_trust *t)
{
    if (!t) return;
    trust_clear(t);
    pthread_mutex_destroy(&t->mu);
    free(t->path);
    free(t);
}

int mss_trust_has(mss_trust *t, const char *domain)
{
    char key[256];
    if (!domain || strlen(domain) >= sizeof key) return 0;
    snprintf(key, sizeof key, "%s", domain);
    mss_lower(key);
    pthread_mutex_lock(&t->mu);
    int64_t now = time_now_ms();
    if (now - t->checked_ms >= 1000) {
        t->checked_ms = now;
        trust_load(t);
    }
    const char *k = key;
    int found = t->n && bsearch(&k, t->domains, t->n, sizeof *t->domains, trust_order) != NULL;
    pthread_mutex_unlock(&t->mu);
    return found;
}
