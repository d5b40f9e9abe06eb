/* http.c - the HTTP server: libmicrohttpd setup, the request lifecycle, TLS, graceful stop.
 *
 * NAME
 *      http - HTTP/1.1 server on libmicrohttpd (see http.h for the contract).
 * SYNOPSIS
 *      http_server_start() http_server_stop() http_server_port() http_server_metrics()
 *      http_client_cert_der()
 * DESCRIPTION
 *      We bind the listening socket ourselves (so a failure names its cause: address in use,
 *      permission) and accept on it in one thread of ours, which hands each new connection to the
 *      worker that holds the fewest (MHD_add_connection). A worker is one MHD daemon with one
 *      internal thread and its own epoll set; a connection stays on its worker for its life.
 *      (MHD's own thread pool lets its workers race for each accept: 64 keep-alive clients landed
 *      1 to 9 per thread, every thread got the same CPU, and the clients of crowded threads waited:
 *      the DMP search's p90 was 5-7 ms against 3 ms balanced, its p99 15-17 ms against 9-11.)
 *
 *      One request goes through these MHD callbacks, all on the connection's thread:
 *        uri log     the raw request line target: allocate the request arena and the exchange
 *                    record inside it, start the clock, count the request in flight, keep a copy
 *                    of the raw query string, note a "%00" in the path (MHD would cut the decoded
 *                    path there without telling us);
 *        access #1   headers are in: request id, client address, routing (so even a 413 is
 *                    counted under its route), Content-Length above max_body: 413 at once,
 *                    without reading the body (MHD then closes the connection);
 *        access #n   body bytes: appended to one buffer sized from Content-Length (allocated
 *                    when the first bytes come, not on the header's promise); a chunked
 *                    body that grows past max_body is read and dropped (up to max_body or 1 MiB,
 *                    whichever is larger; beyond that the connection is cut) so that the client
 *                    still gets its 413;
 *        access last parse the query (form decoding: '+' is a space), run the handler, queue the
 *                    response, whose body buffer MHD takes over (no copy). A route of the write
 *                    pool (http_router_in_pool) is handed to it instead and the connection
 *                    suspended; the pool thread runs the handler and resumes the connection,
 *                    whose thread is called again and queues the response it left;
 *        completed   metrics, the access log line, free the arena.
 *      Connection open/close events keep the open connections gauge and the worker's count.
 *
 *      Stopping: http_server_stop marks the server stopping (responses then carry "Connection:
 *      close", so keep-alive clients go away; a new connection is closed as soon as it is accepted),
 *      waits until no request is in flight, at most HTTP_DRAIN_MS, stops the acceptor, closes the
 *      listening socket, stops the write pool (what it still runs is answered) and the workers,
 *      which close the idle connections.
 *
 *      TLS: GnuTLS inside MHD, priorities restricted to TLS 1.2 and 1.3. With a client CA, the
 *      server asks for a client certificate but does not require one; http_client_cert_der
 *      returns it only when it verifies against that CA.
 * BUGS
 *      A request that arrives on an idle keep-alive connection after the drain ended is cut.
 *      MHD answers some malformed requests itself (bad request line, headers too large); their
 *      log line then has status 0 and outcome "aborted".
 *      Path segments containing an encoded '/' ("%2F") are split like a real '/' because MHD
 *      decodes the path before we see it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/text.h"
#include "base/timeutil.h"
#include "net/http_internal.h"

#define HTTP_DEFAULT_MAX_BODY ((size_t)20 << 20)
#define HTTP_DEFAULT_TIMEOUT_S 60
#define HTTP_CONNECTION_LIMIT 4096
/* Memory of one connection: request line and headers, then the response's headers. libmicrohttpd
 * zeroes it between two requests of a keep-alive connection, so its default of 32 KB cost 3 % of
 * the CPU of a FHIR read; bodies go through the upload callback and never live here. Requests whose
 * line and headers pass HTTP_HEADERS_MAX (each header counted with the pool memory libmicrohttpd
 * keeps for it) get 431 before any handler runs: what is left of the pool must hold the response's
 * headers, or libmicrohttpd would drop the connection after the handler had done its work. */
#define HTTP_CONNECTION_MEMORY ((size_t)16 << 10)
#define HTTP_HEADERS_MAX ((size_t)8 << 10)
#define HTTP_HEADER_OVERHEAD 64
#define HTTP_DRAIN_MS 30000
#define HTTP_DISCARD_MIN ((size_t)1 << 20)
#define HTTP_PEM_MAX ((size_t)1 << 20)
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* One worker: an MHD daemon and its thread. */
typedef struct http_worker {
    struct MHD_Daemon *daemon;
    struct http_server *srv;
    atomic_int connections; /* handed to it and not yet closed */
} http_worker;

struct http_server {
    http_worker *workers;
    unsigned nworkers;
    http_pool *pool; /* runs the routes that may wait for the disk */
    unsigned per_worker; /* connections a worker may hold */
    pthread_t acceptor;
    int acceptor_running;
    int wake_fd; /* eventfd that tells the acceptor to stop */
    const http_router *router;
    socle_metrics *metrics;
    size_t max_body;
    int tls;
    int port;
    MHD_socket listen_fd;
    char *pem_cert;
    char *pem_key;
    char *pem_ca;
    atomic_int inflight; /* requests between the uri callback and their completion */
    atomic_int stopping;
};

enum { HTTP_POOL_NONE, HTTP_POOL_QUEUED, HTTP_POOL_DONE };

/* One request, allocated at the start of its own arena. */
typedef struct http_exchange {
    http_job job; /* on the write pool */
    http_server *srv;
    http_request req;
    const http_route_entry *route;
    int match_status; /* 400/404/405 when route is NULL */
    char allow[HTTP_ALLOW_MAX];
    char method[16]; /* copy for the log line */
    char *raw_query; /* as received, in the arena; NULL when none */
    socle_buf body;
    size_t expected;  /* Content-Length, 0 if none */
    size_t discarded; /* bytes of an oversized chunked body thrown away */
    int started;      /* the access handler ran */
    int too_large; /* HTTP_BODY_TOO_LARGE or HTTP_HEADERS_TOO_LARGE */
    int nul_in_path;
    int pooled;              /* HTTP_POOL_*: the handler runs (ran) on the write pool */
    struct MHD_Connection *connection; /* suspended meanwhile */
    http_response pool_res;  /* what the handler answered there */
    int status; /* of the queued response; 0 if none */
    size_t bytes;
    const char *outcome;
} http_exchange;

/* ---- the request lifecycle ---- */

static void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_server *s = cls;
    arena *a = arena_new(0);
    http_exchange *x = a ? arena_zalloc(a, sizeof *x) : NULL;
    if (!x) {
        arena_free(a);
        return NULL;
    }
    x->srv = s;
    x->req.arena = a;
    x->req.start_ns = time_monotonic_ns();
    atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
    if (uri) {
        const char *q = strchrnul(uri, '?');
        for (const char *p = uri; p + 2 < q; p++)
            if (p[0] == '%' && p[1] == '0' && p[2] == '0') x->nul_in_path = 1;
        if (*q) x->raw_query = arena_strdup(a, q + 1);
    }
    return x;
}

/* Dotted quad of a (4 bytes) into out: inet_ntop's sprintf cost 0.6 % of a FHIR read. */
static void http_format_ipv4(const unsigned char *a, char *out, size_t size)
{
    char text[16], *p = text;
    for (int i = 0; i < 4; i++) {
        if (i) *p++ = '.';
        if (a[i] >= 100) *p++ = (char)('0' + a[i] / 100);
        if (a[i] >= 10) *p++ = (char)('0' + a[i] / 10 % 10);
        *p++ = (char)('0' + a[i] % 10);
    }
    *p = 0;
    text_copy(out, size, text);
}

static void http_remote_addr(struct MHD_Connection *c, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)(const void *)sa;
        http_format_ipv4((const unsigned char *)&a4->sin_addr, out, size);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            http_format_ipv4(&a6->s6_addr[12], out, size);
        else
            inet_ntop(AF_INET6, a6, out, (socklen_t)size);
    }
}

/* http_queue - hand the response to MHD; its body memory goes with it. */
static enum MHD_Result http_queue(http_exchange *x, struct MHD_Connection *c, http_response *res)
{
    if (!buf_ok(&res->body)) {
        res->nheaders = 0;
        http_respond_status(&x->req, res, 500, "exception", "out of memory while building the response");
    }
    int status = res->status >= 100 && res->status <= 599 ? res->status : 500;
    size_t len = res->body.len;
    struct MHD_Response *r;
    if (len) {
        r = MHD_create_response_from_buffer(len, res->body.data, MHD_RESPMEM_MUST_FREE);
        if (r) buf_init(&res->body); /* MHD frees it now */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    buf_free(&res->body);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            res->content_type ? res->content_type : "application/fhir+json");
    MHD_add_response_header(r, "X-Request-Id", x->req.request_id);
    for (int i = 0; i < res->nheaders; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    if (atomic_load_explicit(&x->srv->stopping, memory_order_relaxed))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    x->status = status;
    x->bytes = len;
    x->outcome = res->log_outcome;
    return ok;
}

static void http_response_init(http_response *res)
{
    memset(res, 0, sizeof *res);
    res->status = 200;
}

enum { HTTP_BODY_TOO_LARGE = 1, HTTP_HEADERS_TOO_LARGE };

static enum MHD_Result http_too_large(http_exchange *x, struct MHD_Connection *c)
{
    char msg[112];
    http_response res;
    http_response_init(&res);
    if (x->too_large == HTTP_HEADERS_TOO_LARGE) {
        snprintf(msg, sizeof msg, "the request line and headers are larger than the limit of %zu bytes",
                 HTTP_HEADERS_MAX);
        http_respond_status(&x->req, &res, 431, "too-long", msg);
    } else {
        snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes", x->srv->max_body);
        http_respond_status(&x->req, &res, 413, "too-costly", msg);
    }
    return http_queue(x, c, &res);
}

static enum MHD_Result http_add_header_size(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + HTTP_HEADER_OVERHEAD;
    return MHD_YES;
}

static enum MHD_Result http_first_call(http_exchange *x, struct MHD_Connection *c, const char *url,
                                       const char *method)
{
    http_server *s = x->srv;
    http_request *req = &x->req;
    x->started = 1;
    text_copy(x->method, sizeof x->method, method);
    req->method = method;
    req->path = url;
    req->body = "";
    req->metrics = s->metrics;
    req->connection = c;
    req->tls = s->tls;
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (http_request_id_valid(rid))
        text_copy(req->request_id, sizeof req->request_id, rid);
    else
        id_request(req->request_id);
    http_remote_addr(c, req->remote_addr, sizeof req->remote_addr);
    if (x->nul_in_path) {
        req->route = HTTP_ROUTE_UNMATCHED;
        x->match_status = 400;
    } else {
        x->route = http_router_match(s->router, req, &x->match_status, x->allow);
    }
    size_t head = strlen(url) + (x->raw_query ? strlen(x->raw_query) : 0);
    MHD_get_connection_values(c, MHD_HEADER_KIND, http_add_header_size, &head);
    if (head > HTTP_HEADERS_MAX) {
        x->too_large = HTTP_HEADERS_TOO_LARGE;
        return http_too_large(x, c);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        /* MHD has already refused a malformed Content-Length. */
        unsigned long long n = strtoull(cl, NULL, 10);
        if (n > s->max_body) {
            x->too_large = HTTP_BODY_TOO_LARGE;
            return http_too_large(x, c);
        }
        x->expected = (size_t)n;
    }
    return MHD_YES;
}

static enum MHD_Result http_take_body(http_exchange *x, const char *data, size_t *size)
{
    size_t n = *size, max = x->srv->max_body;
    *size = 0;
    if (!x->too_large && n > max - x->body.len) {
        x->too_large = HTTP_BODY_TOO_LARGE;
        buf_free(&x->body);
    }
    if (x->too_large) {
        /* Read and drop the rest so the client can read its 413, up to a bound. */
        x->discarded += n;
        return x->discarded > (max > HTTP_DISCARD_MIN ? max : HTTP_DISCARD_MIN) ? MHD_NO : MHD_YES;
    }
    /* One allocation for the whole body, made once bytes arrive rather than on a promise. */
    if (!x->body.cap && x->expected) buf_reserve(&x->body, x->expected);
    buf_append(&x->body, data, n);
    return MHD_YES;
}

/* A route of the write pool, on a pool thread: run it, then wake the connection, whose thread
 * queues the answer (http_last_call again). */
static void http_run_pooled(http_job *job)
{
    http_exchange *x = (http_exchange *)(void *)((char *)job - offsetof(http_exchange, job));
    http_router_run(x->route, &x->req, &x->pool_res);
    x->pooled = HTTP_POOL_DONE; /* published by the resume's lock */
    MHD_resume_connection(x->connection);
}

static enum MHD_Result http_last_call(http_exchange *x, struct MHD_Connection *c)
{
    if (x->pooled == HTTP_POOL_DONE) return http_queue(x, c, &x->pool_res);
    if (x->pooled) return MHD_YES; /* still on the pool (MHD does not call a suspended connection) */
    http_request *req = &x->req;
    http_response res;
    http_response_init(&res);
    if (x->too_large) return http_too_large(x, c);
    if (!buf_ok(&x->body)) {
        http_respond_status(req, &res, 503, "transient", "out of memory while reading the request body");
    } else if (http_parse_query(req->arena, x->raw_query, &req->query, &req->nquery)) {
        req->route = HTTP_ROUTE_UNMATCHED;
        http_respond_status(req, &res, 400, "invalid", "the query string is malformed");
    } else {
        req->body = x->body.data ? x->body.data : "";
        req->body_len = x->body.len;
        if (x->route && http_router_in_pool(x->route)) {
            x->pooled = HTTP_POOL_QUEUED;
            x->connection = c;
            http_response_init(&x->pool_res);
            MHD_suspend_connection(c);
            http_pool_submit(x->srv->pool, &x->job);
            return MHD_YES;
        }
        if (x->route)
            http_router_run(x->route, req, &res);
        else
            http_router_fail(req, &res, x->match_status, x->allow);
    }
    return http_queue(x, c, &res);
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version, const char *upload_data,
                                       size_t *upload_data_size, void **con_cls)
{
    http_exchange *x = *con_cls;
    if (!x) return MHD_NO; /* out of memory in http_on_uri: drop the connection */
    if (!x->started) return http_first_call(x, c, url, method);
    if (*upload_data_size) return http_take_body(x, upload_data, upload_data_size);
    return http_last_call(x, c);
}

static const char *http_termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client-abort";
    default:
        return "aborted";
    }
}

static void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_exchange *x = *con_cls;
    if (!x) return;
    *con_cls = NULL;
    /* The client left while its request ran on the pool: the answer was never queued. */
    if (x->pooled == HTTP_POOL_DONE) buf_free(&x->pool_res.body);
    int64_t ns = time_monotonic_ns() - x->req.start_ns;
    const char *route = x->req.route ? x->req.route : HTTP_ROUTE_UNMATCHED;
    if (x->status) metrics_observe_request(s->metrics, route, x->status, ns);
    if (log_enabled(LOG_INFO)) {
        const char *end = http_termination_name(toe);
        if (!x->status && !end) end = "aborted";
        log_line l;
        log_begin(&l, LOG_INFO, "request");
        log_str(&l, "request_id", x->req.request_id);
        log_str(&l, "method", x->method);
        log_str(&l, "route", route);
        log_int(&l, "status", x->status);
        log_double(&l, "duration_ms", (double)ns / 1e6);
        log_int(&l, "bytes", (long long)x->bytes);
        if (x->outcome) log_str(&l, "outcome", x->outcome);
        if (end) log_str(&l, "end", end);
        log_end(&l);
    }
    buf_free(&x->body);
    arena *a = x->req.arena;
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_release);
    arena_free(a);
}

static void http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                               enum MHD_ConnectionNotificationCode toe)
{
    http_worker *w = cls;
    int index = (int)(w - w->srv->workers);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        metrics_connection_opened(w->srv->metrics, index);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        metrics_connection_closed(w->srv->metrics, index);
        atomic_fetch_sub_explicit(&w->connections, 1, memory_order_relaxed);
    }
}

/* http_on_mhd_log - MHD's own messages, into our log. MHD quotes URLs as `...'; they may hold
 * identifiers, so quoted spans are cut. */
static void http_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512], clean[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t j = 0;
    int quoted = 0;
    for (size_t i = 0; text[i] && j + 4 < sizeof clean; i++) {
        char ch = text[i];
        if (quoted) {
            if (ch == '\'') {
                memcpy(clean + j, "...'", 4);
                j += 4;
                quoted = 0;
            }
            continue;
        }
        if (ch == '`') quoted = 1;
        if (ch != '\n' && ch != '\r') clean[j++] = ch;
    }
    clean[j] = 0;
    log_msg(LOG_WARN, "microhttpd: %s", clean);
}

/* ---- setup ---- */

static int http_parse_port(const char *s, int *port)
{
    if (!*s || strlen(s) > 5) return -1;
    int p = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        p = p * 10 + (*s - '0');
    }
    if (p > 65535) return -1;
    *port = p;
    return 0;
}

/* http_parse_listen - "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", ":8080" (all IPv4
 * interfaces), "localhost:8080". */
static int http_parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *len, socle_err *err)
{
    char host[64];
    const char *port_s;
    int port, v6 = 0;
    memset(ss, 0, sizeof *ss);
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof host) goto bad;
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = 0;
        port_s = close + 2;
        v6 = 1;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host) goto bad;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = 0;
        port_s = colon + 1;
        if (!host[0]) strcpy(host, "0.0.0.0");
        if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    }
    if (http_parse_port(port_s, &port)) goto bad;
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) goto bad;
        *len = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) goto bad;
        *len = sizeof *a4;
    }
    return 0;
bad:
    return socle_err_set(err, SOCLE_EINVAL,
                         "addr address \"%.100s\" is not of the form 127.0.0.1:8080, [::1]:8080 or :8080",
                         addr);
}

static int http_bind(http_server *s, const char *addr, socle_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int rc = http_parse_listen(addr, &ss, &len, err);
    if (rc) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return socle_err_set(err, SOCLE_EIO, "cannot addr on %.100s: %s", addr, strerror(errno));
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, SOMAXCONN)) {
        int e = errno;
        close(fd);
        return socle_err_set(err, SOCLE_EIO, "cannot addr on %.100s: %s", addr, strerror(e));
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    s->listen_fd = fd;
    return ss.ss_family == AF_INET6;
}

/* http_read_pem - a whole PEM file (bounded) into a NUL-terminated heap string. */
static int http_read_pem(const char *path, const char *what, char **out, socle_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return socle_err_set(err, SOCLE_EIO, "cannot read the TLS %s %.200s: %s", what, path,
                             strerror(errno));
    socle_buf b = SOCLE_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= HTTP_PEM_MAX)
        buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    explicit_bzero(chunk, sizeof chunk);
    if (bad || b.len == 0 || b.len > HTTP_PEM_MAX || !buf_ok(&b)) {
        if (b.data) explicit_bzero(b.data, b.cap);
        buf_free(&b);
        return socle_err_set(err, SOCLE_EIO, "the TLS %s %.200s is empty, unreadable or larger than 1 MiB",
                             what, path);
    }
    *out = buf_take(&b, NULL);
    return 0;
}

static void http_server_free(http_server *s)
{
    if (s->pem_key) explicit_bzero(s->pem_key, strlen(s->pem_key));
    free(s->pem_cert);
    free(s->pem_key);
    free(s->pem_ca);
    metrics_free(s->metrics);
    if (s->wake_fd >= 0) close(s->wake_fd);
    free(s->workers);
    free(s);
}

/* Connection threads: 2 x cores + 4 by default. They parse, route and answer, and run the routes
 * that only read; more of them than that only lengthen the queue for the CPU (DMP search at
 * 10,000 documents on 2 cores: p99 7 ms with 8 threads, 10-11 ms with 16, same req/s). */
static unsigned http_thread_count(int threads)
{
    return threads > 0 ? (unsigned)threads : (unsigned)config_cores() * 2 + 4;
}

/* Write pool threads: 4 x cores + 8 by default, so that requests waiting for the disk (a commit's
 * fsync, its group's commit) leave the cores to others and groups can form (a DMP feed with one
 * thread per core left a third of the CPU idle; with 8 threads it fed 1,850 documents/s, with 16
 * 2,080). */
static unsigned http_write_thread_count(int threads)
{
    return threads > 0 ? (unsigned)threads : (unsigned)config_cores() * 4 + 8;
}

/* The accept policy: once the server is stopping, a new connection is closed at once. */
static enum MHD_Result http_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)addr;
    (void)len;
    http_server *s = cls;
    return atomic_load(&s->stopping) ? MHD_NO : MHD_YES;
}

/* http_pick_worker - the worker holding the fewest connections (the first of equals). */
static http_worker *http_pick_worker(http_server *s)
{
    http_worker *best = &s->workers[0];
    int least = atomic_load_explicit(&best->connections, memory_order_relaxed);
    for (unsigned i = 1; i < s->nworkers && least > 0; i++) {
        int n = atomic_load_explicit(&s->workers[i].connections, memory_order_relaxed);
        if (n < least) {
            least = n;
            best = &s->workers[i];
        }
    }
    return best;
}

/* http_acceptor - accept new connections until told to stop, each to the least busy worker. */
static void *http_acceptor(void *arg)
{
    http_server *s = arg;
    struct pollfd fds[2] = {{.fd = s->listen_fd, .events = POLLIN}, {.fd = s->wake_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            log_msg(LOG_ERROR, "http: the acceptor stops: poll: %s", strerror(errno));
            break;
        }
        if (fds[1].revents) break; /* while stopping, new connections are still taken and closed */
        if (!(fds[0].revents & POLLIN)) continue;
        for (;;) {
            struct sockaddr_storage addr;
            socklen_t len = sizeof addr;
            int fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    /* Out of descriptors: leave the backlog alone a moment rather than spin. */
                    log_msg(LOG_WARN, "http: cannot accept a connection: %s", strerror(errno));
                    struct timespec pause = {0, 50 * 1000000};
                    nanosleep(&pause, NULL);
                }
                break; /* EAGAIN: the backlog is empty; a client gone already: next */
            }
            http_worker *w = http_pick_worker(s);
            /* The limit is ours: counted here, at hand-off, MHD's own (higher) never refuses a
             * connection after taking it, which would leave it counted. */
            if (atomic_load(&s->stopping) ||
                atomic_load_explicit(&w->connections, memory_order_relaxed) >= (int)s->per_worker) {
                close(fd);
                continue;
            }
            atomic_fetch_add_explicit(&w->connections, 1, memory_order_relaxed);
            /* MHD closes the socket itself when it cannot take it. */
            if (MHD_add_connection(w->daemon, fd, (struct sockaddr *)&addr, len) != MHD_YES)
                atomic_fetch_sub_explicit(&w->connections, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

/* http_workers_stop - stop the acceptor, close the listening socket, stop the write pool and the
 * workers. */
static void http_workers_stop(http_server *s)
{
    if (s->acceptor_running) {
        uint64_t one = 1;
        if (write(s->wake_fd, &one, sizeof one) < 0) log_msg(LOG_WARN, "http: cannot wake the acceptor");
        pthread_join(s->acceptor, NULL);
        s->acceptor_running = 0;
    }
    if (s->listen_fd != MHD_INVALID_SOCKET) close(s->listen_fd);
    s->listen_fd = MHD_INVALID_SOCKET;
    http_pool_stop(s->pool); /* what it still runs ends and is answered; later ones run inline */
    for (unsigned i = 0; i < s->nworkers; i++)
        if (s->workers[i].daemon) MHD_stop_daemon(s->workers[i].daemon);
    http_pool_free(s->pool);
    s->pool = NULL;
    s->nworkers = 0;
}

int http_server_start(const http_server_options *opt, const http_router *router, http_server **out,
                      socle_err *err)
{
    *out = NULL;
    const char *addr = opt->listen && *opt->listen ? opt->listen : "127.0.0.1:8080";
    if ((opt->tls_cert != NULL) != (opt->tls_key != NULL) || (opt->tls_client_ca && !opt->tls_cert))
        return socle_err_set(err, SOCLE_EINVAL,
                             "TLS needs both tls_cert and tls_key (tls_client_ca needs them too)");
    http_server *s = calloc(1, sizeof *s);
    if (!s || !(s->metrics = metrics_new())) {
        free(s);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory starting the HTTP server");
    }
    s->router = router;
    s->max_body = opt->max_body ? opt->max_body : HTTP_DEFAULT_MAX_BODY;
    s->tls = opt->tls_cert != NULL;
    s->listen_fd = MHD_INVALID_SOCKET;
    s->wake_fd = -1;
    int rc = 0;
    if (s->tls) {
        rc = http_read_pem(opt->tls_cert, "certificate", &s->pem_cert, err);
        if (!rc) rc = http_read_pem(opt->tls_key, "key", &s->pem_key, err);
        if (!rc && opt->tls_client_ca) rc = http_read_pem(opt->tls_client_ca, "client CA", &s->pem_ca, err);
    }
    int v6 = rc ? rc : http_bind(s, addr, err);
    if (v6 < 0) {
        http_server_free(s);
        return v6;
    }

    unsigned threads = http_thread_count(opt->threads);
    struct MHD_OptionItem extra[8];
    int n = 0;
    if (s->tls) {
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->pem_cert};
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->pem_key};
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES};
        if (s->pem_ca) extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->pem_ca};
    }
    extra[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME;
    if (v6) flags |= MHD_USE_IPv6;
    if (s->tls) flags |= MHD_USE_TLS;
    unsigned timeout =
        opt->connection_timeout_s > 0 ? (unsigned)opt->connection_timeout_s : HTTP_DEFAULT_TIMEOUT_S;
    s->per_worker = HTTP_CONNECTION_LIMIT / threads > 16 ? HTTP_CONNECTION_LIMIT / threads : 16;
    unsigned write_threads = http_write_thread_count(opt->write_threads);
    s->pool = http_pool_start(write_threads, http_run_pooled);
    s->wake_fd = s->pool ? eventfd(0, EFD_CLOEXEC) : -1;
    metrics_workers(s->metrics, (int)threads);
    s->workers = calloc(threads, sizeof *s->workers);
    for (unsigned i = 0; s->workers && s->wake_fd >= 0 && i < threads; i++) {
        http_worker *w = &s->workers[i];
        w->srv = s;
        w->daemon = MHD_start_daemon(
            flags, 0, &http_accept, s, &http_on_request, s, MHD_OPTION_EXTERNAL_LOGGER, &http_on_mhd_log, s,
            MHD_OPTION_CONNECTION_LIMIT, s->per_worker + 64, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, &http_on_uri,
            s, MHD_OPTION_NOTIFY_COMPLETED, &http_on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
            &http_on_connection, w, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
        if (!w->daemon) break;
        s->nworkers = i + 1;
    }
    if (s->nworkers == threads && pthread_create(&s->acceptor, NULL, http_acceptor, s) == 0)
        s->acceptor_running = 1;
    if (!s->acceptor_running) {
        int daemon_failed = s->pool && s->wake_fd >= 0 && s->workers && s->nworkers < threads;
        http_workers_stop(s);
        http_server_free(s);
        if (!daemon_failed)
            return socle_err_set(err, SOCLE_ENOMEM, "cannot start the HTTP server's threads on %.100s", addr);
        return socle_err_set(err, SOCLE_EIO,
                             "cannot start the HTTP server on %.100s (see the microhttpd log line%s)", addr,
                             opt->tls_cert ? "; check the TLS certificate and key" : "");
    }
    log_line l;
    log_begin(&l, LOG_INFO, "http: listening");
    log_str(&l, "listen", addr);
    log_int(&l, "port", s->port);
    log_int(&l, "threads", threads);
    log_int(&l, "write_threads", write_threads);
    log_str(&l, "scheme", s->tls ? "https" : "http");
    log_end(&l);
    *out = s;
    return 0;
}

socle_metrics *http_server_metrics(http_server *s)
{
    return s ? s->metrics : NULL;
}

int http_server_port(const http_server *s)
{
    return s ? s->port : 0;
}

void http_server_stop(http_server *s)
{
    if (!s) return;
    atomic_store(&s->stopping, 1);
    /* New connections are closed by the acceptor (and the accept policy) once stopping is set. */
    int64_t deadline = time_monotonic_ns() + (int64_t)HTTP_DRAIN_MS * 1000000;
    while (atomic_load_explicit(&s->inflight, memory_order_acquire) > 0 && time_monotonic_ns() < deadline) {
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->inflight);
    if (left > 0)
        log_msg(LOG_WARN, "http: stopping with %d requests still in flight after %d s", left,
                HTTP_DRAIN_MS / 1000);
    http_workers_stop(s); /* closes the listening socket and the idle connections */
    log_msg(LOG_INFO, "http: stopped");
    http_server_free(s);
}

/* ---- TLS client certificates ---- */

const unsigned char *http_client_cert_der(http_request *req, size_t *len)
{
    if (len) *len = 0;
    if (!req || !req->tls || !req->connection) return NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) return NULL;
    gnutls_session_t ts = (gnutls_session_t)ci->tls_session;
    unsigned int status = 0;
    if (gnutls_certificate_verify_peers2(ts, &status) != GNUTLS_E_SUCCESS || status != 0) return NULL;
    unsigned int n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(ts, &n);
    if (!certs || n == 0 || certs[0].size == 0) return NULL;
    unsigned char *copy = arena_alloc(req->arena, certs[0].size);
    if (!copy) return NULL;
    memcpy(copy, certs[0].data, certs[0].size);
    if (len) *len = certs[0].size;
    return copy;
}
