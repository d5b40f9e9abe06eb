/* http_internal.h - what the server (http.c), the router (router.c) and the request helpers
 * (request.c) share inside net/. Not a public header: nothing outside src/net includes it. */
#ifndef SOCLE_NET_HTTP_INTERNAL_H
#define SOCLE_NET_HTTP_INTERNAL_H

#include "net/http.h"

/* Route name used in logs and metrics for requests that matched no route (400, 404, 405, and
 * requests refused before routing). */
#define HTTP_ROUTE_UNMATCHED "unmatched"

/* Longest Allow header value the router builds for a 405. */
#define HTTP_ALLOW_MAX 128

typedef struct http_route_entry http_route_entry;

/* http_router_match - find the route for req->method and req->path. On a match, sets req->route
 * and the path parameters (values copied into req->arena) and returns the route. Otherwise
 * returns NULL, sets req->route to HTTP_ROUTE_UNMATCHED, *status to 400 (bad path), 404 or 405,
 * and for 405 writes the Allow value into allow (HTTP_ALLOW_MAX bytes). Never allocates unless
 * it matches a pattern with parameters. */
const http_route_entry *http_router_match(const http_router *r, http_request *req, int *status, char *allow);
/* http_router_in_pool - 1 if the route's requests run on the write pool. */
int http_router_in_pool(const http_route_entry *e);
/* http_router_run - call the route's handler. */
void http_router_run(const http_route_entry *e, http_request *req, http_response *res);
/* http_router_fail - the OperationOutcome for a failed match (status from http_router_match). */
void http_router_fail(http_request *req, http_response *res, int status, const char *allow);

/* http_outcome - append an OperationOutcome with one error issue; expression may be NULL or "". */
void http_outcome(socle_buf *out, const char *code, const char *diagnostics, const char *expression);



/* The write pool (http_pool.c): threads running jobs in their order of arrival. A job is embedded
 * in the caller's record. */
typedef struct http_job {
    struct http_job *next;
} http_job;
typedef void (*http_job_fn)(http_job *job);
typedef struct http_pool http_pool;
/* http_pool_start - `threads` threads (named "socle-write") that run fn on each job; NULL when
 * out of memory or threads. */
http_pool *http_pool_start(unsigned threads, http_job_fn fn);
void http_pool_submit(http_pool *p, http_job *job);
/* http_pool_stop - run the jobs still queued and join the threads; a job submitted later runs at
 * once on the submitting thread. NULL is fine. */
void http_pool_stop(http_pool *p);
/* http_pool_free - stop (if not yet) and free. NULL is fine. */
void http_pool_free(http_pool *p);

/* http_request_id_valid - 1 if s is an acceptable client request id: 1-64 of [A-Za-z0-9._-]. */
int http_request_id_valid(const char *s);

#endif
