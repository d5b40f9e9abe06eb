/* metrics.c - request, latency, store and connection counters, rendered in the Prometheus text
 * format 0.0.4 (see metrics.h).
 *
 * Counters are relaxed atomics: a scrape may see one request counted in requests_total and not
 * yet in the histogram, which Prometheus tolerates. Route slots are a fixed array: a name is
 * copied into the next free slot under a mutex the first time it is seen, then published by a
 * release store of the slot count, so lookups never lock. Statuses outside a fixed table of
 * common ones are counted under code="other". */
#include "net/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METRICS_NAME_MAX 64

static const int metrics_statuses[] = {200, 201, 204, 304, 400, 401, 403, 404, 405,
                                       409, 410, 412, 413, 415, 422, 429, 500, 503};
#define METRICS_NSTATUS ((int)(sizeof metrics_statuses / sizeof metrics_statuses[0]))

/* Upper bounds of the latency buckets, in nanoseconds and as printed. */
static const int64_t metrics_bucket_ns[] = {500000,    1000000,   2500000,    5000000,
                                            10000000,  25000000,  50000000,   100000000,
                                            250000000, 500000000, 1000000000, 2500000000};
static const char *const metrics_bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                                "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5"};
#define METRICS_NBUCKETS ((int)(sizeof metrics_bucket_ns / sizeof metrics_bucket_ns[0]))

typedef struct metrics_route {
    char name[METRICS_NAME_MAX];
    atomic_uint_fast64_t by_status[METRICS_NSTATUS + 1]; /* last: "other" */
    atomic_uint_fast64_t buckets[METRICS_NBUCKETS + 1];  /* not cumulative; last: +Inf */
    atomic_uint_fast64_t sum_ns;
} metrics_route;

struct socle_metrics {
    metrics_route routes[METRICS_MAX_ROUTES + 1]; /* last: "other", for names beyond the limit */
    atomic_int nroutes;
    pthread_mutex_t lock; /* only for registering a new name */
    atomic_uint_fast64_t store_ns;
    atomic_uint_fast64_t store_ops;
    atomic_long open_connections;
    int nworkers;
    atomic_int worker_connections[METRICS_MAX_WORKERS];
};

socle_metrics *metrics_new(void)
{
    socle_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    strcpy(m->routes[METRICS_MAX_ROUTES].name, "other");
    return m;
}

void metrics_free(socle_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int metrics_find(const socle_metrics *m, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strncmp(m->routes[i].name, name, METRICS_NAME_MAX - 1) == 0) return i;
    return -1;
}

/* metrics_route_of - the slot of a route name, registering it on first use. */
static metrics_route *metrics_route_of(socle_metrics *m, const char *name)
{
    int n = atomic_load_explicit(&m->nroutes, memory_order_acquire);
    int i = metrics_find(m, n, name);
    if (i >= 0) return &m->routes[i];
    pthread_mutex_lock(&m->lock);
    n = atomic_load_explicit(&m->nroutes, memory_order_relaxed);
    i = metrics_find(m, n, name);
    if (i < 0 && n < METRICS_MAX_ROUTES) {
        snprintf(m->routes[n].name, METRICS_NAME_MAX, "%s", name);
        atomic_store_explicit(&m->nroutes, n + 1, memory_order_release);
        i = n;
    }
    pthread_mutex_unlock(&m->lock);
    return &m->routes[i < 0 ? METRICS_MAX_ROUTES : i];
}

static int metrics_status_index(int status)
{
    for (int i = 0; i < METRICS_NSTATUS; i++)
        if (metrics_statuses[i] == status) return i;
    return METRICS_NSTATUS;
}

void metrics_observe_request(socle_metrics *m, const char *route, int status, int64_t ns)
{
    if (!m) return;
    metrics_route *r = metrics_route_of(m, route && *route ? route : "none");
    if (ns < 0) ns = 0;
    int b = 0;
    while (b < METRICS_NBUCKETS && ns > metrics_bucket_ns[b])
        b++;
    atomic_fetch_add_explicit(&r->by_status[metrics_status_index(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_ns, (uint_fast64_t)ns, memory_order_relaxed);
}

void metrics_observe_store(socle_metrics *m, int64_t ns)
{
    if (!m) return;
    atomic_fetch_add_explicit(&m->store_ns, (uint_fast64_t)(ns > 0 ? ns : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&m->store_ops, 1, memory_order_relaxed);
}

void metrics_workers(socle_metrics *m, int n)
{
    if (m) m->nworkers = n < 0 ? 0 : n > METRICS_MAX_WORKERS ? METRICS_MAX_WORKERS : n;
}

static void metrics_connection_add(socle_metrics *m, int worker, int delta)
{
    if (!m) return;
    atomic_fetch_add_explicit(&m->open_connections, delta, memory_order_relaxed);
    if (worker >= 0 && worker < m->nworkers)
        atomic_fetch_add_explicit(&m->worker_connections[worker], delta, memory_order_relaxed);
}

void metrics_connection_opened(socle_metrics *m, int worker)
{
    metrics_connection_add(m, worker, 1);
}

void metrics_connection_closed(socle_metrics *m, int worker)
{
    metrics_connection_add(m, worker, -1);
}

/* metrics_label - a label value, escaped as the text format requires. */
static void metrics_label(socle_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(out, '\\'), buf_putc(out, *s);
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *s);
    }
}

static long metrics_resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long size = 0, resident = 0;
    int ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
    fclose(f);
    return ok ? resident * sysconf(_SC_PAGESIZE) : 0;
}

/* metrics_slot_shown - 1 for registered slots, and for the "other" slot once it has been used. */
static int metrics_slot_shown(const socle_metrics *m, int i)
{
    if (i < atomic_load_explicit(&((socle_metrics *)m)->nroutes, memory_order_acquire)) return 1;
    if (i != METRICS_MAX_ROUTES) return 0;
    for (int b = 0; b <= METRICS_NBUCKETS; b++)
        if (atomic_load_explicit(&m->routes[i].buckets[b], memory_order_relaxed)) return 1;
    return 0;
}

static void metrics_render_requests(const socle_metrics *m, socle_buf *out)
{
    buf_puts(out, "# HELP socle_http_requests_total HTTP requests answered, by route and status.\n"
                  "# TYPE socle_http_requests_total counter\n");
    for (int i = 0; i <= METRICS_MAX_ROUTES; i++) {
        if (!metrics_slot_shown(m, i)) continue;
        const metrics_route *r = &m->routes[i];
        for (int s = 0; s <= METRICS_NSTATUS; s++) {
            uint_fast64_t v = atomic_load_explicit(&r->by_status[s], memory_order_relaxed);
            if (!v) continue;
            buf_puts(out, "socle_http_requests_total{route=\"");
            metrics_label(out, r->name);
            if (s < METRICS_NSTATUS)
                buf_printf(out, "\",code=\"%d\"} %llu\n", metrics_statuses[s], (unsigned long long)v);
            else
                buf_printf(out, "\",code=\"other\"} %llu\n", (unsigned long long)v);
        }
    }
}

static void metrics_render_durations(const socle_metrics *m, socle_buf *out)
{
    buf_puts(out, "# HELP socle_http_request_duration_seconds Time from request line to response sent.\n"
                  "# TYPE socle_http_request_duration_seconds histogram\n");
    for (int i = 0; i <= METRICS_MAX_ROUTES; i++) {
        if (!metrics_slot_shown(m, i)) continue;
        const metrics_route *r = &m->routes[i];
        uint_fast64_t cumulative = 0;
        for (int b = 0; b <= METRICS_NBUCKETS; b++) {
            cumulative += atomic_load_explicit(&r->buckets[b], memory_order_relaxed);
            buf_puts(out, "socle_http_request_duration_seconds_bucket{route=\"");
            metrics_label(out, r->name);
            buf_printf(out, "\",le=\"%s\"} %llu\n", b < METRICS_NBUCKETS ? metrics_bucket_le[b] : "+Inf",
                       (unsigned long long)cumulative);
        }
        double sum = (double)atomic_load_explicit(&r->sum_ns, memory_order_relaxed) / 1e9;
        buf_puts(out, "socle_http_request_duration_seconds_sum{route=\"");
        metrics_label(out, r->name);
        buf_printf(out, "\"} %.9g\n", sum);
        buf_puts(out, "socle_http_request_duration_seconds_count{route=\"");
        metrics_label(out, r->name);
        /* The count is the +Inf bucket, so the two always agree within one scrape. */
        buf_printf(out, "\"} %llu\n", (unsigned long long)cumulative);
    }
}

void metrics_render(const socle_metrics *m, socle_buf *out)
{
    if (!m) return;
    metrics_render_requests(m, out);
    metrics_render_durations(m, out);
    double store_s = (double)atomic_load_explicit(&m->store_ns, memory_order_relaxed) / 1e9;
    buf_printf(out,
               "# HELP socle_store_seconds_total Time spent in store operations.\n"
               "# TYPE socle_store_seconds_total counter\n"
               "socle_store_seconds_total %.9g\n"
               "# HELP socle_store_operations_total Store operations timed.\n"
               "# TYPE socle_store_operations_total counter\n"
               "socle_store_operations_total %llu\n"
               "# HELP socle_http_open_connections Client connections open now.\n"
               "# TYPE socle_http_open_connections gauge\n"
               "socle_http_open_connections %ld\n"
               "# HELP socle_process_resident_bytes Resident memory of the process.\n"
               "# TYPE socle_process_resident_bytes gauge\n"
               "socle_process_resident_bytes %ld\n",
               store_s, (unsigned long long)atomic_load_explicit(&m->store_ops, memory_order_relaxed),
               atomic_load_explicit(&m->open_connections, memory_order_relaxed), metrics_resident_bytes());
    if (m->nworkers)
        buf_printf(out, "# HELP socle_http_worker_connections Client connections open now on each HTTP worker thread.\n"
                        "# TYPE socle_http_worker_connections gauge\n");
    for (int i = 0; i < m->nworkers; i++)
        buf_printf(out, "socle_http_worker_connections{worker=\"%d\"} %d\n", i,
                   atomic_load_explicit(&m->worker_connections[i], memory_order_relaxed));
}
