/* http.h - the HTTP server (libmicrohttpd), its router and the request/response records.
 *
 * NAME
 *      http - HTTP/1.1 server with keep-alive, optional TLS 1.2+, routing, limits, logs, metrics.
 * SYNOPSIS
 *      http_router_new() http_route() http_route_pool() http_server_start() http_server_stop()
 *      http_header() http_path_param() http_query() http_set_header() http_respond_json()
 *      http_client_cert_der()
 * DESCRIPTION
 *      Connection threads (option `threads`: 2 x cores + 4), each with its epoll set and its share of
 *      the connections (a new one goes to the thread holding the fewest), read, route and answer;
 *      they run the routes that only read. Routes that may wait for the disk (by default every
 *      method but GET and HEAD; see http_route_pool) run on a write pool (option `write_threads`:
 *      4 x cores + 8, so that requests waiting for a commit leave the cores to others) while their
 *      connection is suspended, so a read never waits behind a write's fsync. Each request gets an
 *      arena, a request id (the caller's X-Request-Id when it is 1-64 of [A-Za-z0-9._-], else a
 *      random one, echoed in the response), its whole body in memory (bounded by `max_body`: a
 *      larger Content-Length or body is answered 413 before the handler runs), and one JSON log
 *      line at the end: time, level, request_id, method, route (the route's name, never the path,
 *      which may hold identifiers), status, duration_ms, bytes. Query strings and bodies are
 *      never logged.
 *      Routes are patterns of '/'-separated segments: a literal, "{name}" (one segment, exposed
 *      by http_path_param), or a final "*" (the rest). A path that matches a pattern but not the
 *      method is answered 405 with Allow; no match is 404. Both as OperationOutcome JSON.
 *      http_server_stop stops accepting, lets requests in flight finish, then returns.
 *      With tls_cert/tls_key the server speaks only HTTPS with TLS 1.2 and 1.3. With tls_client_ca
 *      as well, clients may present a certificate (verified against that CA): handlers read it with
 *      http_client_cert_der.
 * CONFIGURATION
 *      listen, threads, write_threads, tls_cert, tls_key, tls_client_ca, max_body_bytes, connection_timeout_s.
 */
#ifndef SOCLE_NET_HTTP_H
#define SOCLE_NET_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "net/metrics.h"

#define HTTP_MAX_PATH_PARAMS 8

typedef struct http_param {
    const char *name;
    const char *value;
} http_param;

typedef struct http_request {
    const char *method;          /* "GET", "POST", ... */
    const char *path;            /* decoded path without the query string */
    http_param *query;           /* query arguments in order, decoded; repeated names kept */
    int nquery;
    const char *body;            /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    char request_id[65];
    char remote_addr[64];        /* "127.0.0.1" or "::1", no port */
    int tls;                     /* 1 when the connection is HTTPS */
    const char *route;           /* name of the matched route */
    const char *path_param_names[HTTP_MAX_PATH_PARAMS];
    const char *path_param_values[HTTP_MAX_PATH_PARAMS];
    int npath_params;
    arena *arena;                /* freed after the response is sent */
    socle_metrics *metrics;      /* the server's metrics, for handlers that time their store calls */
    void *connection;            /* opaque (the MHD connection) */
    int64_t start_ns;
} http_request;

typedef struct http_header_entry {
    const char *name;
    const char *value;
} http_header_entry;

#define HTTP_MAX_RESPONSE_HEADERS 16

typedef struct http_response {
    int status;                  /* 200 unless set */
    socle_buf body;              /* owned; sent as is */
    const char *content_type;    /* static or arena string; default "application/fhir+json" */
    http_header_entry headers[HTTP_MAX_RESPONSE_HEADERS];
    int nheaders;
    const char *log_outcome;     /* optional short word for the log line ("denied"...) */
} http_response;

/* A handler fills res. It must not keep pointers into req after returning. */
typedef void (*http_handler)(void *ctx, http_request *req, http_response *res);

typedef struct http_router http_router;

http_router *http_router_new(void);
void http_router_free(http_router *r);
/* http_route - register method+pattern; `name` labels metrics and logs ("fhir.read"). Routes are
 * tried in registration order. Returns 0 or SOCLE_EINVAL on a bad pattern. */
int http_route(http_router *r, const char *method, const char *pattern, const char *name, http_handler fn,
               void *ctx);
/* http_route_pool - whether the routes named `name` run on the write pool (in_pool 1) or on the
 * connection's thread (0). By default the methods other than GET and HEAD run on the pool, the
 * others on their connection's thread; a POST that only reads (a search) is better inline, a GET
 * that waits for a durable commit on the pool. SOCLE_EINVAL if no route has that name. */
int http_route_pool(http_router *r, const char *name, int in_pool);
/* http_router_dispatch - route and run a request (used by the server; exposed for unit tests). */
void http_router_dispatch(const http_router *r, http_request *req, http_response *res);

/* http_header - a request header (case-insensitive name) or NULL. */
const char *http_header(const http_request *req, const char *name);
/* http_path_param - value of "{name}" in the matched pattern, or NULL. */
const char *http_path_param(const http_request *req, const char *name);
/* http_query - first query argument with that name, or NULL. */
const char *http_query(const http_request *req, const char *name);
/* http_client_cert_der - the verified client certificate (DER) of a TLS connection, or NULL. The
 * bytes live in req->arena. */
const unsigned char *http_client_cert_der(http_request *req, size_t *len);

/* http_parse_query - split a raw query string ("a=1&b=x+y%2B") into decoded parameters in order,
 * in the arena: '+' is a space, %XX a byte, a name without '=' has the value "", empty pieces are
 * skipped. raw may be NULL. Returns 0, SOCLE_EINVAL for an encoded NUL byte or a malformed escape,
 * or SOCLE_ENOMEM. */
int http_parse_query(arena *a, const char *raw, http_param **out, int *n);

/* http_set_header - add a response header; name and value are copied into the request arena. */
void http_set_header(http_request *req, http_response *res, const char *name, const char *value);
/* http_respond_error - an OperationOutcome for err with the status of its code. */
void http_respond_error(http_request *req, http_response *res, const socle_err *err);
/* http_respond_json - a plain JSON answer (application/json, compact) with status; body is taken
 * (released here), NULL answers "{}". */
typedef struct json_t json_t;
void http_respond_json(http_response *res, int status, json_t *body);
/* http_respond_status - an OperationOutcome with the given status, FHIR issue code and message. */
void http_respond_status(http_request *req, http_response *res, int status, const char *fhir_code,
                         const char *message);

typedef struct http_server_options {
    const char *listen;          /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080" */
    int threads;                 /* connection threads; 0 = 2 x cores + 4 */
    int write_threads;           /* write pool threads; 0 = 4 x cores + 8 */
    const char *tls_cert;        /* PEM file paths, or NULL for plain HTTP */
    const char *tls_key;
    const char *tls_client_ca;   /* NULL: no client certificates */
    size_t max_body;             /* bytes; 0 = 20 MiB */
    int connection_timeout_s;    /* idle keep-alive timeout; 0 = 60 */
} http_server_options;

typedef struct http_server http_server;

/* http_server_start - bind and serve in background threads. The router must outlive the server.
 * Errors name the address (EIO: address in use, permission...). */
int http_server_start(const http_server_options *opt, const http_router *router, http_server **out,
                      socle_err *err);
/* http_server_metrics - the server's metrics (to render at /metrics). */
socle_metrics *http_server_metrics(http_server *s);
/* http_server_port - the bound port (useful with port 0). */
int http_server_port(const http_server *s);
/* http_server_stop - graceful stop, see above; frees the server. */
void http_server_stop(http_server *s);

#endif
