/* system_routes.c - the routes outside /fhir: /healthz, /metrics, /.well-known/jwks.json, and the
 * benchmark ceiling /_bench/static; and rest_register, which adds every route. */
#include <stdlib.h>
#include <string.h>

#include "rest/rest_internal.h"

static void system_route_healthz(void *ctx, http_request *req, http_response *res)
{
    socle_app *app = ctx;
    socle_err err;
    res->content_type = "application/json";
    if (store_ping(app->store, &err)) {
        res->status = 503;
        buf_puts(&res->body, "{\"status\":\"unavailable\",\"store\":\"not answering\"}");
        return;
    }
    buf_printf(&res->body, "{\"status\":\"ok\",\"store\":\"%s\"}",
               store_engine_of(app->store) == STORE_POSTGRES ? "postgres" : "sqlite");
}

static void system_route_metrics(void *ctx, http_request *req, http_response *res)
{
    res->content_type = "text/plain; version=0.0.4";
    metrics_render(req->metrics, &res->body);
}

static void system_route_jwks(void *ctx, http_request *req, http_response *res)
{
    socle_app *app = ctx;
    res->content_type = "application/jwk-set+json";
    buf_puts(&res->body, app->jwks);
}

/* The ceiling of the benchmarks: the HTTP layer alone answering a body of ?size= bytes (1 KiB by
 * default), no store, no token. Only with bench_routes = true. */
static void system_route_bench_static(void *ctx, http_request *req, http_response *res)
{
    const char *size = http_query(req, "size");
    long n = size ? strtol(size, NULL, 10) : 1024;
    if (n < 2 || n > 1 << 20) n = 1024;
    res->content_type = "application/json";
    if (buf_reserve(&res->body, (size_t)n)) return;
    res->body.data[0] = '"';
    memset(res->body.data + 1, 'x', (size_t)n - 2);
    res->body.data[n - 1] = '"';
    res->body.len = (size_t)n;
    res->body.data[n] = 0;
}

int rest_register(socle_app *app, http_router *r)
{
    int rc = http_route(r, "GET", "/healthz", "healthz", system_route_healthz, app);
    if (!rc) rc = http_route(r, "GET", "/metrics", "metrics", system_route_metrics, app);
    if (!rc) rc = http_route(r, "GET", "/.well-known/jwks.json", "jwks", system_route_jwks, app);
    if (!rc && config_get_bool(app->config, "bench_routes", 0))
        rc = http_route(r, "GET", "/_bench/static", "bench.static", system_route_bench_static, app);
    if (!rc) rc = rest_register_fhir(app, r);
    return rc;
}
