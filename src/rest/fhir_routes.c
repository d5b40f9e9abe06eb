/* fhir_routes.c - the HTTP handlers of /fhir: turn a request into a rest_op (headers, body, path
 * parameters), run it through rest_interact, and write the response. */
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "rest/rest.h"
#include "crypto/pki.h"
#include "rest/rest_internal.h"

/* A caller known by its verified client certificate: a professional (IDNPS), or an organisation
 * or software acting as a "system" subject marked with AUTH_ISSUER_CLIENT_CERT. */
static int rest_certificate_subject(const unsigned char *der, size_t len, auth_subject *who, socle_err *err)
{
    pki_client_kind kind;
    char identifier[sizeof who->sub];
    int rc = pki_cert_identity(der, len, &kind, identifier, sizeof identifier, err);
    if (rc) return rc;
    if (kind == PKI_CLIENT_OPERATOR)
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "a mail operator's certificate does not open the FHIR API");
    memset(who, 0, sizeof *who);
    who->kind = kind == PKI_CLIENT_PROFESSIONAL ? AUTH_KIND_PROFESSIONAL : AUTH_KIND_SYSTEM;
    snprintf(who->sub, sizeof who->sub, "%s", identifier);
    if (kind == PKI_CLIENT_ORGANISATION) snprintf(who->structure, sizeof who->structure, "%s", identifier);
    snprintf(who->issuer, sizeof who->issuer, "%s", AUTH_ISSUER_CLIENT_CERT);
    who->expires_ms = INT64_MAX;
    return 0;
}

int rest_authenticate(socle_app *app, http_request *req, http_response *res, auth_subject *who)
{
    socle_err err;
    const char *authz = http_header(req, "Authorization");
    size_t der_len = 0;
    const unsigned char *der = authz ? NULL : http_client_cert_der(req, &der_len);
    int rc = authz ? auth_verify_bearer(app->verifier, authz, who, &err)
             : der ? rest_certificate_subject(der, der_len, who, &err)
                   : socle_err_set(&err, SOCLE_EUNAUTHORIZED, "no bearer token");
    if (rc == 0) return 0;
    /* The description goes into a quoted header value: keep it to safe characters. */
    char desc[160];
    size_t n = 0;
    for (const char *p = err.msg; *p && n < sizeof desc - 1; p++) desc[n++] = (*p == '"' || *p == '\\') ? '\'' : *p;
    desc[n] = 0;
    char *h = arena_printf(req->arena, "Bearer realm=\"socle\", error=\"invalid_token\", error_description=\"%s\"", desc);
    socle_err_set(&err, SOCLE_EUNAUTHORIZED, "authentication required: %s", desc);
    http_respond_error(req, res, &err);
    http_set_header(req, res, "WWW-Authenticate", h);
    res->log_outcome = "unauthenticated";
    return SOCLE_EUNAUTHORIZED;
}

/* Media type of the body: FHIR JSON (or plain JSON) only. */
static int fhir_routes_json_body(http_request *req, http_response *res)
{
    const char *ct = http_header(req, "Content-Type");
    size_t n = ct ? strcspn(ct, "; ") : 0;
    if (ct && ((n == 21 && !strncasecmp(ct, "application/fhir+json", n)) || (n == 16 && !strncasecmp(ct, "application/json", n))))
        return 0;
    http_respond_status(req, res, 415, "not-supported",
                        "the body must be FHIR JSON (Content-Type: application/fhir+json)");
    return -1;
}

static int fhir_routes_parse_body(socle_app *app, http_request *req, http_response *res, json_t **out)
{
    if (fhir_routes_json_body(req, res)) return -1;
    socle_err err;
    if (fhir_json_parse(req->body, req->body_len, &app->limits, out, &err)) {
        http_respond_error(req, res, &err);
        return -1;
    }
    return 0;
}

/* Prefer: handling=lenient, return=minimal (comma-separated preferences). */
static void fhir_routes_prefer(http_request *req, rest_op *op)
{
    const char *prefer = http_header(req, "Prefer");
    if (!prefer) return;
    if (strstr(prefer, "handling=lenient")) op->lenient = 1;
    if (strstr(prefer, "return=minimal")) op->return_minimal = 1;
}

/* If-Match: W/"3" or "3". Returns 0 when absent, -1 when malformed. */
static int64_t fhir_routes_if_match(http_request *req)
{
    const char *v = http_header(req, "If-Match");
    if (!v) return 0;
    if (!strncmp(v, "W/", 2)) v += 2;
    if (*v == '"') v++;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || n < 1 || (*end && strcmp(end, "\""))) return -1;
    return n;
}

static void fhir_routes_run(socle_app *app, http_request *req, http_response *res, const auth_subject *who,
                            rest_op *op)
{
    rest_result r = {0};
    fhir_routes_prefer(req, op);
    rest_interact(app, req, who, NULL, op, &r);
    rest_respond_result(req, res, &r);
    buf_free(&r.body);
}

#define FHIR_ROUTE_BEGIN                                                                                          \
    socle_app *app = ctx;                                                                                         \
    auth_subject who;                                                                                             \
    if (rest_authenticate(app, req, res, &who)) return;                                                          \
    rest_op op = {0};                                                                                             \
    op.type = http_path_param(req, "type");                                                                       \
    op.id = http_path_param(req, "id")

static void fhir_route_read(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    op.kind = REST_READ;
    fhir_routes_run(app, req, res, &who, &op);
}

static void fhir_route_vread(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    const char *vid = http_path_param(req, "vid");
    char *end;
    op.kind = REST_VREAD;
    op.version = strtoll(vid, &end, 10);
    if (*end || op.version < 1) {
        http_respond_status(req, res, 400, "invalid", "the version id must be a positive integer");
        return;
    }
    fhir_routes_run(app, req, res, &who, &op);
}

static void fhir_route_search(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    op.kind = REST_SEARCH;
    op.params = req->query;
    op.nparams = req->nquery;
    fhir_routes_run(app, req, res, &who, &op);
}

/* POST {type}/_search: parameters from the form body and the URL. */
static void fhir_route_search_post(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    const char *ct = http_header(req, "Content-Type");
    if (req->body_len && (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))) {
        http_respond_status(req, res, 415, "not-supported",
                            "POST _search takes an application/x-www-form-urlencoded body");
        return;
    }
    http_param *form;
    int nform;
    if (http_parse_query(req->arena, req->body, &form, &nform)) {
        http_respond_status(req, res, 400, "invalid", "malformed percent-encoding in the form body");
        return;
    }
    http_param *ps = arena_zalloc(req->arena, sizeof *ps * (size_t)(req->nquery + nform + 1));
    int n = 0;
    for (int i = 0; i < req->nquery; i++) ps[n++] = req->query[i];
    for (int i = 0; i < nform; i++) ps[n++] = form[i];
    op.kind = REST_SEARCH;
    op.params = ps;
    op.nparams = n;
    fhir_routes_run(app, req, res, &who, &op);
}

static void fhir_route_create(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    json_t *body;
    if (fhir_routes_parse_body(app, req, res, &body)) return;
    op.kind = REST_CREATE;
    op.resource = body;
    op.if_none_exist = http_header(req, "If-None-Exist");
    fhir_routes_run(app, req, res, &who, &op);
    json_decref(body);
}

static void fhir_route_update(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    op.kind = REST_UPDATE;
    op.if_match = fhir_routes_if_match(req);
    if (op.if_match < 0) {
        http_respond_status(req, res, 400, "invalid", "If-Match must be an ETag such as W/\"3\"");
        return;
    }
    json_t *body;
    if (fhir_routes_parse_body(app, req, res, &body)) return;
    op.resource = body;
    fhir_routes_run(app, req, res, &who, &op);
    json_decref(body);
}

static void fhir_route_delete(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    op.kind = REST_DELETE;
    fhir_routes_run(app, req, res, &who, &op);
}

static void fhir_route_history(void *ctx, http_request *req, http_response *res)
{
    FHIR_ROUTE_BEGIN;
    op.kind = op.id ? REST_HISTORY_INSTANCE : op.type ? REST_HISTORY_TYPE : REST_HISTORY_SYSTEM;
    op.params = req->query;
    op.nparams = req->nquery;
    fhir_routes_run(app, req, res, &who, &op);
}

static void fhir_route_bundle(void *ctx, http_request *req, http_response *res)
{
    socle_app *app = ctx;
    auth_subject who;
    if (rest_authenticate(app, req, res, &who)) return;
    json_t *body;
    if (fhir_routes_parse_body(app, req, res, &body)) return;
    rest_bundle(app, req, res, &who, body);
    json_decref(body);
}

static void fhir_route_metadata(void *ctx, http_request *req, http_response *res)
{
    socle_app *app = ctx;
    buf_append(&res->body, app->capability, app->capability_len);
}

int rest_register_fhir(socle_app *app, http_router *r)
{
    struct {
        const char *method, *pattern, *name;
        http_handler fn;
    } routes[] = {
        {"GET", "/fhir/metadata", "fhir.metadata", fhir_route_metadata},
        {"POST", "/fhir", "fhir.bundle", fhir_route_bundle},
        {"GET", "/fhir/_history", "fhir.history", fhir_route_history},
        {"POST", "/fhir/{type}/_search", "fhir.search", fhir_route_search_post},
        {"GET", "/fhir/{type}/_history", "fhir.history", fhir_route_history},
        {"GET", "/fhir/{type}/{id}/_history/{vid}", "fhir.vread", fhir_route_vread},
        {"GET", "/fhir/{type}/{id}/_history", "fhir.history", fhir_route_history},
        {"GET", "/fhir/{type}", "fhir.search", fhir_route_search},
        {"POST", "/fhir/{type}", "fhir.create", fhir_route_create},
        {"GET", "/fhir/{type}/{id}", "fhir.read", fhir_route_read},
        {"PUT", "/fhir/{type}/{id}", "fhir.update", fhir_route_update},
        {"DELETE", "/fhir/{type}/{id}", "fhir.delete", fhir_route_delete},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route(r, routes[i].method, routes[i].pattern, routes[i].name, routes[i].fn, app);
        if (rc) return rc;
    }
    return http_route_pool(r, "fhir.search", 0); /* POST _search only reads */
}
