/* test_net.c - unit tests of src/net: the router, query parsing, OperationOutcome answers,
 * metrics, and a real server (plain HTTP with a raw-socket client, HTTPS with curl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "net/http.h"
#include "net/http_internal.h"
#include "net/metrics.h"

/* ---- handlers shared by the router and server tests ---- */

static void h_text(http_response *res, const char *text)
{
    res->content_type = "text/plain";
    buf_puts(&res->body, text);
}

static void h_hello(void *ctx, http_request *req, http_response *res)
{
    h_text(res, "hello");
}

static void h_named(void *ctx, http_request *req, http_response *res)
{
    h_text(res, ctx);
}

static void h_echo(void *ctx, http_request *req, http_response *res)
{
    res->status = 201;
    res->content_type = "application/json";
    buf_printf(&res->body, "{\"len\":%zu,\"nul\":%d}", req->body_len, req->body[req->body_len] == 0);
    http_set_header(req, res, "X-Test", "yes");
}

static void h_query(void *ctx, http_request *req, http_response *res)
{
    res->content_type = "text/plain";
    for (int i = 0; i < req->nquery; i++)
        buf_printf(&res->body, "%s=%s|", req->query[i].name, req->query[i].value);
}

static void h_params(void *ctx, http_request *req, http_response *res)
{
    res->content_type = "text/plain";
    const char *id = http_path_param(req, "id"), *rest = http_path_param(req, "*");
    buf_printf(&res->body, "id=%s rest=%s", id ? id : "(null)", rest ? rest : "(null)");
}

static atomic_int slow_entered;

static void h_slow(void *ctx, http_request *req, http_response *res)
{
    atomic_store(&slow_entered, 1);
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    h_text(res, "slow");
}

static void h_cert(void *ctx, http_request *req, http_response *res)
{
    size_t len = 0;
    const unsigned char *der = http_client_cert_der(req, &len);
    h_text(res, der && len > 0 && der[0] == 0x30 ? "cert:yes" : "cert:no");
}

static void h_fail(void *ctx, http_request *req, http_response *res)
{
    socle_err err;
    socle_err_at(&err, SOCLE_EUNPROCESSABLE, "Patient.birthDate", "birth date in the future");
    h_text(res, "partial output that must be replaced");
    http_respond_error(req, res, &err);
}

static http_router *test_router(void)
{
    http_router *r = http_router_new();
    assert_non_null(r);
    assert_int_equal(http_route(r, "GET", "/hello", "hello", h_hello, NULL), 0);
    assert_int_equal(http_route(r, "POST", "/echo", "echo", h_echo, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/q", "query", h_query, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/p/{id}/*", "params", h_params, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/fhir/{type}/{id}", "fhir.read", h_named, "read"), 0);
    assert_int_equal(http_route(r, "PUT", "/fhir/{type}/{id}", "fhir.update", h_named, "update"), 0);
    assert_int_equal(http_route(r, "GET", "/fhir/Patient/$match", "fhir.literal", h_named, "literal-later"),
                     0);
    assert_int_equal(http_route(r, "GET", "/fhir/metadata", "fhir.metadata", h_named, "metadata"), 0);
    assert_int_equal(http_route(r, "GET", "/", "root", h_named, "root"), 0);
    assert_int_equal(http_route(r, "GET", "/slow", "slow", h_slow, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/cert", "cert", h_cert, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/fail", "fail", h_fail, NULL), 0);
    return r;
}

/* ---- router (no server) ---- */

typedef struct fake {
    arena *a;
    http_request req;
    http_response res;
} fake;

static void fake_run(fake *f, const http_router *r, const char *method, const char *path)
{
    if (f->a) arena_free(f->a);
    buf_free(&f->res.body);
    memset(f, 0, sizeof *f);
    f->a = arena_new(0);
    f->req.arena = f->a;
    f->req.method = method;
    f->req.path = path;
    f->req.body = "";
    f->res.status = 200;
    http_router_dispatch(r, &f->req, &f->res);
}

static void fake_done(fake *f)
{
    arena_free(f->a);
    buf_free(&f->res.body);
}

static const char *fake_header(const fake *f, const char *name)
{
    for (int i = 0; i < f->res.nheaders; i++)
        if (strcasecmp(f->res.headers[i].name, name) == 0) return f->res.headers[i].value;
    return NULL;
}

static void test_router_match(void **state)
{
    http_router *r = test_router();
    fake f = {0};

    fake_run(&f, r, "GET", "/hello");
    assert_int_equal(f.res.status, 200);
    assert_string_equal(f.res.body.data, "hello");
    assert_string_equal(f.req.route, "hello");

    fake_run(&f, r, "GET", "/fhir/Patient/123");
    assert_string_equal(f.res.body.data, "read");
    assert_string_equal(http_path_param(&f.req, "type"), "Patient");
    assert_string_equal(http_path_param(&f.req, "id"), "123");
    assert_null(http_path_param(&f.req, "nope"));

    /* registration order wins: the {type}/{id} route was added before the literal one */
    fake_run(&f, r, "GET", "/fhir/Patient/$match");
    assert_string_equal(f.res.body.data, "read");

    fake_run(&f, r, "PUT", "/fhir/Observation/o1");
    assert_string_equal(f.res.body.data, "update");
    assert_string_equal(f.req.route, "fhir.update");

    fake_run(&f, r, "GET", "/fhir/metadata");
    assert_string_equal(f.res.body.data, "metadata");

    fake_run(&f, r, "GET", "/");
    assert_string_equal(f.res.body.data, "root");

    /* "*" takes the rest, possibly empty */
    fake_run(&f, r, "GET", "/p/42/a/b/c");
    assert_string_equal(f.res.body.data, "id=42 rest=a/b/c");
    fake_run(&f, r, "GET", "/p/42");
    assert_string_equal(f.res.body.data, "id=42 rest=");

    /* HEAD routes like GET */
    fake_run(&f, r, "HEAD", "/hello");
    assert_int_equal(f.res.status, 200);
    assert_string_equal(f.req.route, "hello");
    fake_done(&f);
    http_router_free(r);
}

static void test_router_errors(void **state)
{
    http_router *r = test_router();
    fake f = {0};

    const char *not_found[] = {"/nope",    "/hello/",           "/hello/x", "/fhir/Patient",
                               "/fhir//1", "/fhir/Patient/1/x", "/p",       "//hello"};
    for (size_t i = 0; i < sizeof not_found / sizeof *not_found; i++) {
        fake_run(&f, r, "GET", not_found[i]);
        assert_int_equal(f.res.status, 404);
        assert_string_equal(f.req.route, HTTP_ROUTE_UNMATCHED);
        assert_non_null(strstr(f.res.body.data, "\"resourceType\":\"OperationOutcome\""));
        assert_non_null(strstr(f.res.body.data, "\"code\":\"not-found\""));
        if (strlen(not_found[i]) > 4) assert_null(strstr(f.res.body.data, not_found[i] + 1)); /* not echoed */
    }

    fake_run(&f, r, "DELETE", "/fhir/Patient/1");
    assert_int_equal(f.res.status, 405);
    assert_string_equal(fake_header(&f, "Allow"), "GET, HEAD, PUT");
    assert_non_null(strstr(f.res.body.data, "not-supported"));

    fake_run(&f, r, "POST", "/hello");
    assert_int_equal(f.res.status, 405);
    assert_string_equal(fake_header(&f, "Allow"), "GET, HEAD");

    fake_run(&f, r, "GET", "/echo");
    assert_string_equal(fake_header(&f, "Allow"), "POST");

    const char *bad[] = {"/fhir/../hello", "/..", "/p/1/..", "hello", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fake_run(&f, r, "GET", bad[i]);
        assert_int_equal(f.res.status, 400);
        assert_non_null(strstr(f.res.body.data, "\"code\":\"invalid\""));
    }
    fake_run(&f, r, "GET", "/p/1/..."); /* "..." is a name, not a parent */
    assert_int_equal(f.res.status, 200);

    /* paths longer than the segment table: only a "*" route can match */
    char longpath[512] = "/p/7";
    for (int i = 0; i < 60; i++)
        strcat(longpath, "/s");
    fake_run(&f, r, "GET", longpath);
    assert_int_equal(f.res.status, 200);
    assert_int_equal(strncmp(f.res.body.data, "id=7 rest=s/s/", 14), 0);
    fake_run(&f, r, "GET", longpath + 4);
    assert_int_equal(f.res.status, 404);
    fake_done(&f);
    http_router_free(r);
}

static void test_router_bad_patterns(void **state)
{
    http_router *r = http_router_new();
    const char *bad[] = {"", "hello", "/a//b", "/a/*/b", "/{}", "/{a b}", "/{x", "/a{x}", "/a*", "/x/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(http_route(r, "GET", bad[i], "x", h_hello, NULL), SOCLE_EINVAL);
    assert_int_equal(http_route(r, "get", "/a", "x", h_hello, NULL), SOCLE_EINVAL);
    assert_int_equal(http_route(r, "GET", "/a", "", h_hello, NULL), SOCLE_EINVAL);
    assert_int_equal(http_route(r, "GET", "/a", "x", NULL, NULL), SOCLE_EINVAL);
    assert_int_equal(http_route(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", "x", h_hello, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "x", h_hello, NULL),
                     SOCLE_EINVAL);
    /* many routes: the table grows */
    for (int i = 0; i < 100; i++) {
        char p[32];
        snprintf(p, sizeof p, "/r%d", i);
        assert_int_equal(http_route(r, "GET", p, "many", h_hello, NULL), 0);
    }
    fake f = {0};
    fake_run(&f, r, "GET", "/r99");
    assert_int_equal(f.res.status, 200);
    fake_done(&f);
    http_router_free(r);
    http_router_free(NULL);
}

static void test_query_parse(void **state)
{
    arena *a = arena_new(0);
    http_param *ps;
    int n;
    assert_int_equal(http_parse_query(a, "a=1&b=x+y%2B%41&&a=2&flag&=v&c=%25zz", &ps, &n), 0);
    assert_int_equal(n, 6);
    assert_string_equal(ps[0].name, "a");
    assert_string_equal(ps[0].value, "1");
    assert_string_equal(ps[1].value, "x y+A");
    assert_string_equal(ps[2].value, "2");
    assert_string_equal(ps[3].name, "flag");
    assert_string_equal(ps[3].value, "");
    assert_string_equal(ps[4].name, "");
    assert_string_equal(ps[5].value, "%zz");
    /* a malformed escape is the caller's mistake: refused, not guessed */
    assert_int_equal(http_parse_query(a, "c=%zz", &ps, &n), SOCLE_EINVAL);
    assert_int_equal(http_parse_query(a, "c=%4", &ps, &n), SOCLE_EINVAL);
    assert_int_equal(http_parse_query(a, NULL, &ps, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(http_parse_query(a, "a=%00b", &ps, &n), SOCLE_EINVAL);
    assert_int_equal(http_parse_query(a, "%00=b", &ps, &n), SOCLE_EINVAL);

    http_request req = {.arena = a, .query = NULL};
    assert_int_equal(http_parse_query(a, "name=Jean&name=Paul", &req.query, &req.nquery), 0);
    assert_string_equal(http_query(&req, "name"), "Jean");
    assert_null(http_query(&req, "nom"));
    assert_null(http_header(&req, "Host")); /* no connection: no headers */
    arena_free(a);

    assert_true(http_request_id_valid("abc-DEF_1.2"));
    assert_false(http_request_id_valid(""));
    assert_false(http_request_id_valid(NULL));
    assert_false(http_request_id_valid("a b"));
    assert_false(http_request_id_valid("a\"b"));
    char longid[70];
    memset(longid, 'a', 65);
    longid[65] = 0;
    assert_false(http_request_id_valid(longid));
    longid[64] = 0;
    assert_true(http_request_id_valid(longid));
}

static void test_outcome(void **state)
{
    fake f = {0};
    http_router *r = test_router();
    fake_run(&f, r, "GET", "/fail");
    assert_int_equal(f.res.status, 422);
    assert_string_equal(f.res.content_type, "application/fhir+json");
    assert_string_equal(f.res.body.data,
                        "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":"
                        "\"processing\",\"diagnostics\":\"birth date in the future\",\"expression\":"
                        "[\"Patient.birthDate\"]}]}");
    /* no expression when the error has no location; quotes are escaped */
    socle_err err;
    socle_err_set(&err, SOCLE_EINVAL, "bad \"x\"");
    http_respond_error(&f.req, &f.res, &err);
    assert_int_equal(f.res.status, 400);
    assert_null(strstr(f.res.body.data, "expression"));
    assert_non_null(strstr(f.res.body.data, "bad \\\"x\\\""));
    http_respond_status(&f.req, &f.res, 415, "not-supported", "use JSON");
    assert_int_equal(f.res.status, 415);
    assert_non_null(strstr(f.res.body.data, "\"code\":\"not-supported\",\"diagnostics\":\"use JSON\""));

    /* header injection is refused, and the header table is bounded */
    int before = f.res.nheaders;
    log_set_level(LOG_ERROR);
    http_set_header(&f.req, &f.res, "X-A", "1\r\nSet-Cookie: x");
    http_set_header(&f.req, &f.res, "X B", "1");
    assert_int_equal(f.res.nheaders, before);
    log_set_level(LOG_ERROR);
    for (int i = 0; i < 40; i++)
        http_set_header(&f.req, &f.res, "X-N", "v");
    log_set_level(LOG_INFO);
    assert_int_equal(f.res.nheaders, HTTP_MAX_RESPONSE_HEADERS);
    fake_done(&f);
    http_router_free(r);
}

/* ---- metrics ---- */

static void test_metrics(void **state)
{
    socle_metrics *m = metrics_new();
    assert_non_null(m);
    metrics_observe_request(m, "fhir.read", 200, 300000);     /* 0.3 ms */
    metrics_observe_request(m, "fhir.read", 200, 2000000);    /* 2 ms */
    metrics_observe_request(m, "fhir.read", 404, 5000000000); /* 5 s: only +Inf */
    metrics_observe_request(m, "fhir.read", 418, 100);
    metrics_observe_request(m, "we\"ird", 201, 100);
    metrics_observe_store(m, 1500000000);
    metrics_observe_store(m, 500000000);
    metrics_observe_store(NULL, 1);
    metrics_workers(m, 2);
    metrics_connection_opened(m, 0);
    metrics_connection_opened(m, 1);
    metrics_connection_opened(m, 1);
    metrics_connection_opened(m, 7); /* beyond the workers shown: only in the total */
    metrics_connection_closed(m, 1);
    metrics_connection_closed(m, 7);
    socle_buf b = SOCLE_BUF_INIT;
    metrics_render(m, &b);
    const char *want[] = {
        "# TYPE socle_http_requests_total counter\n",
        "socle_http_requests_total{route=\"fhir.read\",code=\"200\"} 2\n",
        "socle_http_requests_total{route=\"fhir.read\",code=\"404\"} 1\n",
        "socle_http_requests_total{route=\"fhir.read\",code=\"other\"} 1\n",
        "socle_http_requests_total{route=\"we\\\"ird\",code=\"201\"} 1\n",
        "# TYPE socle_http_request_duration_seconds histogram\n",
        "socle_http_request_duration_seconds_bucket{route=\"fhir.read\",le=\"0.0005\"} 2\n",
        "socle_http_request_duration_seconds_bucket{route=\"fhir.read\",le=\"0.001\"} 2\n",
        "socle_http_request_duration_seconds_bucket{route=\"fhir.read\",le=\"0.0025\"} 3\n",
        "socle_http_request_duration_seconds_bucket{route=\"fhir.read\",le=\"2.5\"} 3\n",
        "socle_http_request_duration_seconds_bucket{route=\"fhir.read\",le=\"+Inf\"} 4\n",
        "socle_http_request_duration_seconds_count{route=\"fhir.read\"} 4\n",
        "socle_http_request_duration_seconds_sum{route=\"fhir.read\"} 5.0023",
        "socle_store_seconds_total 2\n",
        "socle_store_operations_total 2\n",
        "# TYPE socle_http_open_connections gauge\nsocle_http_open_connections 2\n",
        "# TYPE socle_http_worker_connections gauge\nsocle_http_worker_connections{worker=\"0\"} 1\n"
        "socle_http_worker_connections{worker=\"1\"} 1\n",
        "socle_process_resident_bytes ",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!strstr(b.data, want[i])) fail_msg("missing in metrics: %s\n---\n%s", want[i], b.data);
    }
    assert_null(strstr(b.data, "route=\"other\""));
    assert_null(strstr(b.data, "code=\"500\""));
    assert_null(strstr(b.data, "socle_process_resident_bytes 0\n"));

    /* more distinct names than slots: the surplus goes to "other" */
    for (int i = 0; i < METRICS_MAX_ROUTES + 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "r%d", i);
        metrics_observe_request(m, name, 200, 1);
    }
    buf_reset(&b);
    metrics_render(m, &b);
    assert_non_null(strstr(b.data, "socle_http_requests_total{route=\"other\",code=\"200\"} 12\n"));
    buf_free(&b);
    metrics_free(m);
}

/* ---- a tiny HTTP client over a raw socket ---- */

typedef struct resp {
    int status;
    char head[8192];
    char body[8192];
    size_t body_len;
} resp;

static int tc_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int tc_send(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char *tc_header(const resp *r, const char *name)
{
    static __thread char value[256];
    size_t n = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            snprintf(value, sizeof value, "%.*s", (int)len, v);
            return value;
        }
    }
    return NULL;
}

/* tc_read - one response (Content-Length framed; no body for HEAD). Returns 0 or -1. */
static int tc_read(int fd, resp *r, int head_only)
{
    char buf[16384];
    size_t len = 0;
    char *end = NULL;
    memset(r, 0, sizeof *r);
    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
        if (len == sizeof buf) return -1;
        ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
        if (n <= 0) return -1;
        len += (size_t)n;
    }
    size_t hlen = (size_t)(end - buf) + 4;
    snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, buf);
    r->status = atoi(buf + 9);
    const char *cl = tc_header(r, "Content-Length");
    size_t want = head_only || !cl ? 0 : (size_t)atol(cl);
    if (want >= sizeof r->body) return -1;
    size_t have = len - hlen;
    memcpy(r->body, buf + hlen, have < want ? have : want);
    while (have < want) {
        ssize_t n = recv(fd, r->body + have, want - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    r->body_len = want;
    return 0;
}

static int tc_request(int port, const char *raw, resp *r)
{
    int fd = tc_connect(port);
    if (fd < 0) return -1;
    int rc = tc_send(fd, raw, strlen(raw)) ? -1 : tc_read(fd, r, strncmp(raw, "HEAD", 4) == 0);
    close(fd);
    return rc;
}

static http_server *start_server(const http_router *r, const char *cert, const char *key, const char *ca)
{
    http_server_options o = {.listen = "127.0.0.1:0",
                             .threads = 2,
                             .write_threads = 2,
                             .max_body = 1024,
                             .tls_cert = cert,
                             .tls_key = key,
                             .tls_client_ca = ca};
    http_server *s = NULL;
    socle_err err;
    int rc = http_server_start(&o, r, &s, &err);
    if (rc) fail_msg("start: %s", err.msg);
    assert_true(http_server_port(s) > 0);
    return s;
}

/* wait_metrics - wait (bounded) until the server's metrics show `line`: requests are counted when
 * MHD reports them complete, just after the client has its answer. */
static int wait_metrics(http_server *s, const char *line)
{
    socle_buf b = SOCLE_BUF_INIT;
    int found = 0;
    for (int i = 0; i < 500 && !found; i++) {
        buf_reset(&b);
        metrics_render(http_server_metrics(s), &b);
        found = strstr(b.data, line) != NULL;
        if (!found) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    buf_free(&b);
    return found;
}

static void test_server_plain(void **state)
{
    char logpath[] = "/tmp/socle-net-log-XXXXXX";
    int logfd = mkstemp(logpath);
    assert_true(logfd >= 0);
    unlink(logpath);
    log_set_fd(logfd);

    http_router *r = test_router();
    http_server *s = start_server(r, NULL, NULL, NULL);
    int port = http_server_port(s);
    resp rs;

    assert_int_equal(tc_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.body, "hello");
    assert_string_equal(tc_header(&rs, "Content-Type"), "text/plain");
    const char *rid = tc_header(&rs, "X-Request-Id");
    assert_non_null(rid);
    assert_int_equal(strlen(rid), 16);

    /* a client request id is echoed; a bad one is replaced */
    assert_int_equal(
        tc_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-42.a_b\r\n\r\n", &rs), 0);
    assert_string_equal(tc_header(&rs, "X-Request-Id"), "trace-42.a_b");
    assert_int_equal(tc_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Request-Id: bad id!\r\n\r\n", &rs),
                     0);
    assert_int_equal(strlen(tc_header(&rs, "X-Request-Id")), 16);

    /* 404 and 405 as OperationOutcome */
    assert_int_equal(tc_request(port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 404);
    assert_string_equal(tc_header(&rs, "Content-Type"), "application/fhir+json");
    assert_non_null(strstr(rs.body, "\"resourceType\":\"OperationOutcome\""));
    assert_int_equal(tc_request(port, "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 405);
    assert_string_equal(tc_header(&rs, "Allow"), "GET, HEAD");

    /* HEAD: headers of the GET, no body */
    assert_int_equal(tc_request(port, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 200);
    assert_string_equal(tc_header(&rs, "Content-Length"), "5");

    /* encoded NUL and ".." in the path */
    assert_int_equal(tc_request(port, "GET /hello%00.txt HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 400);
    assert_int_equal(tc_request(port, "GET /p/1/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 400);
    assert_int_equal(tc_request(port, "GET /q?a=%00 HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 400);

    /* path decoding by MHD, query decoding by us, order kept */
    assert_int_equal(tc_request(port, "GET /p/a%20b/c HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_string_equal(rs.body, "id=a b rest=c");
    assert_int_equal(
        tc_request(port, "GET /q?name=SECRETNAME&b=x+y%2B&name=2 HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_string_equal(rs.body, "name=SECRETNAME|b=x y+|name=2|");

    /* a body, with Content-Length and chunked */
    assert_int_equal(
        tc_request(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", &rs), 0);
    assert_int_equal(rs.status, 201);
    assert_string_equal(rs.body, "{\"len\":11,\"nul\":1}");
    assert_string_equal(tc_header(&rs, "X-Test"), "yes");
    assert_int_equal(tc_request(port,
                                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                                &rs),
                     0);
    assert_string_equal(rs.body, "{\"len\":11,\"nul\":1}");

    /* 413: Content-Length over the limit is refused before the body is sent */
    assert_int_equal(tc_request(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n", &rs),
                     0);
    assert_int_equal(rs.status, 413);
    assert_non_null(strstr(rs.body, "too-costly"));
    /* exactly the limit is fine */
    {
        char req[2048];
        int n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n");
        memset(req + n, 'x', 1024);
        req[n + 1024] = 0;
        assert_int_equal(tc_request(port, req, &rs), 0);
        assert_int_equal(rs.status, 201);
        assert_string_equal(rs.body, "{\"len\":1024,\"nul\":1}");
    }
    /* 413: a chunked body that grows past the limit */
    {
        char req[4096];
        int n = snprintf(req, sizeof req,
                         "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", 1500);
        memset(req + n, 'y', 1500);
        snprintf(req + n + 1500, sizeof req - (size_t)n - 1500, "\r\n0\r\n\r\n");
        int fd = tc_connect(port);
        assert_int_equal(tc_send(fd, req, strlen(req)), 0);
        assert_int_equal(tc_read(fd, &rs, 0), 0);
        assert_int_equal(rs.status, 413);
        /* the body was read to its end, so the connection is still usable */
        assert_int_equal(tc_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32), 0);
        assert_int_equal(tc_read(fd, &rs, 0), 0);
        assert_int_equal(rs.status, 200);
        close(fd);
    }
    /* a chunked body far past the limit: the server stops reading and cuts the connection */
    {
        int fd = tc_connect(port);
        const char *h = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_int_equal(tc_send(fd, h, strlen(h)), 0);
        static char chunk[65536 + 16];
        int n = snprintf(chunk, sizeof chunk, "%x\r\n", 65536);
        memset(chunk + n, 'z', 65536);
        memcpy(chunk + n + 65536, "\r\n", 2);
        int sent_all = 1;
        for (int i = 0; i < 64 && sent_all; i++)
            sent_all = tc_send(fd, chunk, (size_t)n + 65538) == 0;
        if (sent_all) sent_all = tc_send(fd, "0\r\n\r\n", 5) == 0;
        /* either the send failed, or the read finds the connection closed: no 413 is expected */
        if (sent_all) assert_int_equal(tc_read(fd, &rs, 0), -1);
        close(fd);
    }

    /* keep-alive: two requests on one connection */
    {
        int fd = tc_connect(port);
        assert_int_equal(tc_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32), 0);
        assert_int_equal(tc_read(fd, &rs, 0), 0);
        assert_int_equal(rs.status, 200);
        assert_int_equal(tc_send(fd, "GET /q?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 32), 0);
        assert_int_equal(tc_read(fd, &rs, 0), 0);
        assert_int_equal(rs.status, 200);
        assert_string_equal(rs.body, "x=1|");
        close(fd);
    }

    /* metrics, as counted by the server itself */
    assert_true(wait_metrics(s, "socle_http_requests_total{route=\"hello\",code=\"200\"} "));
    assert_true(wait_metrics(s, "socle_http_requests_total{route=\"unmatched\",code=\"404\"} 1\n"));
    assert_true(wait_metrics(s, "socle_http_requests_total{route=\"echo\",code=\"413\"} 2\n"));
    assert_true(wait_metrics(s, "socle_http_requests_total{route=\"unmatched\",code=\"405\"} 1\n"));
    assert_true(wait_metrics(s, "socle_http_open_connections 0\n"));

    http_server_stop(s);
    http_router_free(r);
    log_set_fd(2);

    /* one log line per request, with the route and never the path or the query */
    char logs[65536];
    ssize_t n = pread(logfd, logs, sizeof logs - 1, 0);
    close(logfd);
    assert_true(n > 0);
    logs[n] = 0;
    assert_non_null(strstr(logs, "\"msg\":\"request\",\"request_id\":\"trace-42.a_b\",\"method\":\"GET\","
                                 "\"route\":\"hello\",\"status\":200,\"duration_ms\":"));
    assert_non_null(strstr(logs, "\"route\":\"query\",\"status\":200"));
    assert_non_null(strstr(logs, "\"route\":\"echo\",\"status\":413"));
    assert_null(strstr(logs, "SECRETNAME"));
    assert_null(strstr(logs, "/hello"));
}

/* The name of the thread running a handler: the write pool's threads are "socle-write". */
static void h_thread(void *ctx, http_request *req, http_response *res)
{
    char name[16] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    h_text(res, strcmp(name, "socle-write") ? "connection" : "pool");
}

/* A write that waits for a read: POST /wait holds its thread until GET /signal has run (at most 10 s). */
static pthread_mutex_t signal_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t signal_cv = PTHREAD_COND_INITIALIZER;
static int signalled;

static void h_wait(void *ctx, http_request *req, http_response *res)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&signal_mu);
    while (!signalled && pthread_cond_timedwait(&signal_cv, &signal_mu, &until) == 0) continue;
    h_text(res, signalled ? "signalled" : "not signalled");
    pthread_mutex_unlock(&signal_mu);
}

static void h_signal(void *ctx, http_request *req, http_response *res)
{
    pthread_mutex_lock(&signal_mu);
    signalled = 1;
    pthread_cond_broadcast(&signal_cv);
    pthread_mutex_unlock(&signal_mu);
    h_text(res, "ok");
}

/* Routes other than GET and HEAD run on the write pool, unless marked otherwise; a write waiting
 * there does not hold up the reads of its connection thread (one thread here). */
static void test_server_write_pool(void **state)
{
    http_router *r = http_router_new();
    assert_int_equal(http_route(r, "GET", "/thread", "thread.get", h_thread, NULL), 0);
    assert_int_equal(http_route(r, "POST", "/thread", "thread.post", h_thread, NULL), 0);
    assert_int_equal(http_route(r, "POST", "/thread/inline", "thread.inline", h_thread, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/thread/pool", "thread.pool", h_thread, NULL), 0);
    assert_int_equal(http_route(r, "POST", "/wait", "wait", h_wait, NULL), 0);
    assert_int_equal(http_route(r, "GET", "/signal", "signal", h_signal, NULL), 0);
    assert_int_equal(http_route_pool(r, "thread.inline", 0), 0);
    assert_int_equal(http_route_pool(r, "thread.pool", 1), 0);
    assert_int_equal(http_route_pool(r, "no.such.route", 1), SOCLE_EINVAL);
    http_server_options o = {.listen = "127.0.0.1:0", .threads = 1, .write_threads = 2};
    http_server *s = NULL;
    socle_err err;
    if (http_server_start(&o, r, &s, &err)) fail_msg("start: %s", err.msg);
    int port = http_server_port(s);
    resp rs;
    const char *post = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    char raw[128];
    assert_int_equal(tc_request(port, "GET /thread HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_string_equal(rs.body, "connection");
    snprintf(raw, sizeof raw, post, "/thread");
    assert_int_equal(tc_request(port, raw, &rs), 0);
    assert_string_equal(rs.body, "pool");
    snprintf(raw, sizeof raw, post, "/thread/inline");
    assert_int_equal(tc_request(port, raw, &rs), 0);
    assert_string_equal(rs.body, "connection");
    assert_int_equal(tc_request(port, "GET /thread/pool HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_string_equal(rs.body, "pool");

    int waiting = tc_connect(port);
    snprintf(raw, sizeof raw, post, "/wait");
    assert_int_equal(tc_send(waiting, raw, strlen(raw)), 0);
    assert_int_equal(tc_request(port, "GET /signal HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 0);
    assert_int_equal(rs.status, 200);
    assert_int_equal(tc_read(waiting, &rs, 0), 0);
    assert_string_equal(rs.body, "signalled");
    /* The connection goes on after its pooled request. */
    const char *again = "GET /thread HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(tc_send(waiting, again, strlen(again)), 0);
    assert_int_equal(tc_read(waiting, &rs, 0), 0);
    assert_string_equal(rs.body, "connection");
    close(waiting);
    http_server_stop(s);
    http_router_free(r);
}

/* The pool runs jobs in order on its threads; once stopped, a late job runs on the caller. */
typedef struct pool_job {
    http_job job;
    int order;
    pthread_t ran_on;
} pool_job;

static atomic_int pool_ran;

static void pool_job_run(http_job *j)
{
    pool_job *p = (pool_job *)(void *)j;
    p->ran_on = pthread_self();
    p->order = atomic_fetch_add(&pool_ran, 1) + 1;
}

static void test_pool(void **state)
{
    http_pool *p = http_pool_start(1, pool_job_run);
    assert_non_null(p);
    pool_job jobs[3] = {0};
    for (int i = 0; i < 3; i++) http_pool_submit(p, &jobs[i].job);
    http_pool_stop(p); /* runs what is queued */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jobs[i].order, i + 1);
        assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
    }
    pool_job late = {0};
    http_pool_submit(p, &late.job);
    assert_int_equal(late.order, 4);
    assert_true(pthread_equal(late.ran_on, pthread_self()));
    http_pool_free(p);
    http_pool_free(NULL);
}

/* New connections go to the worker holding the fewest: 20 keep-alive clients on 2 workers, 10 each. */
static void test_server_balance(void **state)
{
    http_router *r = test_router();
    http_server *s = start_server(r, NULL, NULL, NULL);
    int port = http_server_port(s);
    int fds[20];
    resp rs;
    for (int i = 0; i < 20; i++) {
        fds[i] = tc_connect(port);
        assert_int_equal(tc_send(fds[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32), 0);
        assert_int_equal(tc_read(fds[i], &rs, 0), 0);
        assert_int_equal(rs.status, 200);
    }
    assert_true(wait_metrics(s, "socle_http_worker_connections{worker=\"0\"} 10\n"));
    assert_true(wait_metrics(s, "socle_http_worker_connections{worker=\"1\"} 10\n"));
    for (int i = 0; i < 20; i++) close(fds[i]);
    assert_true(wait_metrics(s, "socle_http_open_connections 0\n"));
    http_server_stop(s);
    http_router_free(r);
}

static void test_server_listen_errors(void **state)
{
    http_router *r = test_router();
    http_server *s = NULL;
    socle_err err;
    const char *bad[] = {"127.0.0.1", "127.0.0.1:",      "127.0.0.1:99999", "[::1:80",
                         "::1:80",    "host.example:80", "1.2.3.4.5:80",    "127.0.0.1:8x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        http_server_options o = {.listen = bad[i]};
        assert_int_equal(http_server_start(&o, r, &s, &err), SOCLE_EINVAL);
        assert_null(s);
    }
    /* the address in use is reported with its cause */
    http_server *a = start_server(r, NULL, NULL, NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", http_server_port(a));
    http_server_options o = {.listen = addr};
    assert_int_equal(http_server_start(&o, r, &s, &err), SOCLE_EIO);
    assert_non_null(strstr(err.msg, addr));
    assert_non_null(strstr(err.msg, "in use"));
    http_server_stop(a);

    /* missing TLS files */
    http_server_options t = {.listen = "127.0.0.1:0", .tls_cert = "/nonexistent/cert.pem", .tls_key = "/x"};
    assert_int_equal(http_server_start(&t, r, &s, &err), SOCLE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/cert.pem"));
    http_server_options t2 = {.listen = "127.0.0.1:0", .tls_cert = "/x"};
    assert_int_equal(http_server_start(&t2, r, &s, &err), SOCLE_EINVAL);

    /* IPv6 loopback, when the host has it */
    http_server_options v6 = {.listen = "[::1]:0", .threads = 1};
    if (http_server_start(&v6, r, &s, &err) == 0) {
        assert_true(http_server_port(s) > 0);
        http_server_stop(s);
    }
    http_router_free(r);
}

typedef struct slow_call {
    int port;
    int rc;
    resp r;
} slow_call;

static void *slow_client(void *arg)
{
    slow_call *c = arg;
    c->rc = tc_request(c->port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", &c->r);
    return NULL;
}

static void test_server_graceful_stop(void **state)
{
    log_set_level(LOG_WARN);
    http_router *r = test_router();
    http_server *s = start_server(r, NULL, NULL, NULL);
    slow_call c = {.port = http_server_port(s)};
    atomic_store(&slow_entered, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_client, &c), 0);
    for (int i = 0; i < 500 && !atomic_load(&slow_entered); i++) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(&slow_entered));
    http_server_stop(s); /* returns once the slow request is answered */
    pthread_join(t, NULL);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.r.status, 200);
    assert_string_equal(c.r.body, "slow");
    assert_string_equal(tc_header(&c.r, "Connection"), "close");
    /* nothing listens any more */
    assert_int_equal(tc_connect(c.port), -1);
    http_router_free(r);
    log_set_level(LOG_INFO);
}

/* ---- HTTPS, with curl as the client ---- */

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* curl_get - run curl, put its output in out; returns curl's exit status. */
static int curl_get(const char *args, int port, const char *path, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 5 -k %s https://127.0.0.1:%d%s 2>/dev/null", args, port,
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_server_tls(void **state)
{
    char dir[] = "/tmp/socle-net-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[2048];
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    snprintf(cmd, sizeof cmd,
             "(cd %s && openssl req -x509 %s -keyout server.key -out server.pem -days 1 -subj /CN=localhost "
             "&& openssl req -x509 %s -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca "
             "&& openssl req %s -keyout client.key -out client.csr -subj /CN=client "
             "&& openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
             "-days 1",
             dir, ec, ec, ec);
    strcat(cmd, ") >/dev/null 2>&1");
    if (run(cmd) != 0) fail_msg("openssl could not make the test certificates");

    char cert[256], key[256], ca[256];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    log_set_level(LOG_ERROR); /* the refused handshakes are logged as warnings */
    http_router *r = test_router();
    http_server *s = start_server(r, cert, key, ca);
    int port = http_server_port(s);
    char out[4096], args[1024];

    assert_int_equal(curl_get("", port, "/hello", out, sizeof out), 0);
    assert_string_equal(out, "hello");
    assert_int_equal(curl_get("--tlsv1.2 --tls-max 1.2", port, "/hello", out, sizeof out), 0);
    assert_string_equal(out, "hello");
    assert_int_equal(curl_get("--tlsv1.3", port, "/hello", out, sizeof out), 0);
    assert_int_not_equal(curl_get("--tlsv1.1 --tls-max 1.1", port, "/hello", out, sizeof out), 0);
    assert_int_not_equal(curl_get("--tlsv1 --tls-max 1.0", port, "/hello", out, sizeof out), 0);

    /* client certificates: only one issued by the configured CA is handed to handlers */
    assert_int_equal(curl_get("", port, "/cert", out, sizeof out), 0);
    assert_string_equal(out, "cert:no");
    snprintf(args, sizeof args, "--cert %s/client.pem --key %s/client.key", dir, dir);
    assert_int_equal(curl_get(args, port, "/cert", out, sizeof out), 0);
    assert_string_equal(out, "cert:yes");
    snprintf(args, sizeof args, "--cert %s/server.pem --key %s/server.key", dir, dir);
    assert_int_equal(curl_get(args, port, "/cert", out, sizeof out), 0);
    assert_string_equal(out, "cert:no");

    /* plain HTTP on the TLS port gets nothing useful */
    resp rs;
    assert_int_not_equal(
        tc_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &rs) == 0 && rs.status == 200, 1);

    http_server_stop(s);
    http_router_free(r);
    log_set_level(LOG_INFO);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_match),
        cmocka_unit_test(test_router_errors),
        cmocka_unit_test(test_router_bad_patterns),
        cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_outcome),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_server_plain),
        cmocka_unit_test(test_server_balance),
        cmocka_unit_test(test_server_write_pool),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_server_listen_errors),
        cmocka_unit_test(test_server_graceful_stop),
        cmocka_unit_test(test_server_tls),
    };
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
