/* metrics.h - counters for /metrics in the Prometheus text format (0.0.4).
 *
 * Lock-free (atomics): requests by route and status class, a latency histogram per route, store
 * time, open connections (in all and per HTTP worker thread). Routes are the names given to http_route; at most METRICS_MAX_ROUTES
 * distinct names are tracked (more are counted under "other"). */
#ifndef SOCLE_NET_METRICS_H
#define SOCLE_NET_METRICS_H

#include <stdint.h>
#include "base/buf.h"

#define METRICS_MAX_ROUTES 64
#define METRICS_MAX_WORKERS 256

typedef struct socle_metrics socle_metrics;

socle_metrics *metrics_new(void);
void metrics_free(socle_metrics *m);
/* metrics_observe_request - count one request of `route` with `status` that took `ns`. */
void metrics_observe_request(socle_metrics *m, const char *route, int status, int64_t ns);
/* metrics_observe_store - add time spent in the store for one operation. NULL m is fine. */
void metrics_observe_store(socle_metrics *m, int64_t ns);
/* metrics_workers - how many HTTP workers to show a connections gauge for (at most
 * METRICS_MAX_WORKERS; 0, the default: none). */
void metrics_workers(socle_metrics *m, int n);
/* metrics_connection_opened/closed - a connection of worker (0 .. n-1; others count only in the
 * total) opened or closed. */
void metrics_connection_opened(socle_metrics *m, int worker);
void metrics_connection_closed(socle_metrics *m, int worker);
/* metrics_render - append the whole exposition text. */
void metrics_render(const socle_metrics *m, socle_buf *out);

#endif
