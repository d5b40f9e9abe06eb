/* bundle.c - POST /fhir: transaction (all or nothing) and batch (each entry alone) Bundles.
 *
 * A transaction runs every entry in one store transaction, in the order FHIR prescribes (DELETE,
 * POST, PUT, GET). Before running, each POST whose fullUrl is urn:uuid: gets its id (a new UUID, or
 * the existing resource's id when ifNoneExist matches one), and every reference to such a urn:uuid
 * in the bundle is rewritten to Type/id. Any entry failing rolls the whole transaction back and
 * the response is that entry's OperationOutcome, naming the entry. */
#include <string.h>

#include "base/ids.h"
#include "base/text.h"
#include "rest/rest_internal.h"

#define BUNDLE_MAX_ENTRIES 10000

const char *rest_status_text(int status)
{
    switch (status) {
    case 200: return "200 OK";
    case 201: return "201 Created";
    case 204: return "204 No Content";
    case 400: return "400 Bad Request";
    case 401: return "401 Unauthorized";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 409: return "409 Conflict";
    case 410: return "410 Gone";
    case 412: return "412 Precondition Failed";
    case 413: return "413 Payload Too Large";
    case 415: return "415 Unsupported Media Type";
    case 422: return "422 Unprocessable Entity";
    case 503: return "503 Service Unavailable";
    default: return "500 Internal Server Error";
    }
}

typedef struct bundle_entry {
    rest_op op;
    const char *method;
    const char *full_url;        /* urn:uuid:... or NULL */
    const char *existing_id;     /* transaction: ifNoneExist matched this resource */
    rest_result result;
    int done;
} bundle_entry;


/* Turn entry.request (method, url) into an op. Returns 0 or a message in err. */
static int bundle_parse_entry(socle_app *app, http_request *req, json_t *entry, size_t index, bundle_entry *e,
                              socle_err *err)
{
    char where[64];
    snprintf(where, sizeof where, "Bundle.entry[%zu].request", index);
    json_t *request = json_object_get(entry, "request");
    const char *method = json_string_value(json_object_get(request, "method"));
    const char *url = json_string_value(json_object_get(request, "url"));
    if (!method || !url) return socle_err_at(err, SOCLE_EINVAL, where, "%s needs a method and a url", where);
    size_t base_len = strlen(app->fhir_base);
    if (!strncmp(url, app->fhir_base, base_len) && url[base_len] == '/') url += base_len + 1;
    char *path = arena_strdup(req->arena, url);
    char *query = strchr(path, '?');
    if (query) *query++ = 0;
    char *segs[5] = {0};
    int nseg = 0;
    for (char *save = NULL, *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (nseg == 5) return socle_err_at(err, SOCLE_EINVAL, where, "%s.url is not a supported FHIR URL", where);
        segs[nseg++] = s;
    }
    rest_op *op = &e->op;
    e->method = method;
    e->full_url = json_string_value(json_object_get(entry, "fullUrl"));
    op->type = nseg ? segs[0] : NULL;
    op->id = nseg >= 2 ? segs[1] : NULL;
    json_t *resource = json_object_get(entry, "resource");
    if (!strcmp(method, "POST") && nseg == 1 && !query) {
        op->kind = REST_CREATE;
        op->if_none_exist = json_string_value(json_object_get(request, "ifNoneExist"));
    } else if (!strcmp(method, "PUT") && nseg == 2 && !query) {
        op->kind = REST_UPDATE;
        const char *if_match = json_string_value(json_object_get(request, "ifMatch"));
        if (if_match) {
            if (!strncmp(if_match, "W/", 2)) if_match += 2;
            if (*if_match == '"') if_match++;
            op->if_match = strtoll(if_match, NULL, 10);
            if (op->if_match < 1) return socle_err_at(err, SOCLE_EINVAL, where, "%s.ifMatch is not an ETag", where);
        }
    } else if (!strcmp(method, "DELETE") && nseg == 2 && !query) {
        op->kind = REST_DELETE;
    } else if (!strcmp(method, "GET") && nseg == 2) {
        op->kind = REST_READ;
    } else if (!strcmp(method, "GET") && nseg == 4 && !strcmp(segs[2], "_history")) {
        op->kind = REST_VREAD;
        op->version = strtoll(segs[3], NULL, 10);
        if (op->version < 1) return socle_err_at(err, SOCLE_EINVAL, where, "%s.url has a bad version", where);
    } else if (!strcmp(method, "GET") && nseg == 1) {
        op->kind = REST_SEARCH;
        if (query && *query) {
            http_param *ps;
            int n;
            if (http_parse_query(req->arena, query, &ps, &n))
                return socle_err_at(err, SOCLE_EINVAL, where, "%s.url has bad percent-encoding", where);
            op->params = ps;
            op->nparams = n;
        }
    } else {
        return socle_err_at(err, SOCLE_EINVAL, where, "%s: %s %s is not supported in a bundle", where, method, url);
    }
    if (op->kind == REST_CREATE || op->kind == REST_UPDATE) {
        if (!json_is_object(resource))
            return socle_err_at(err, SOCLE_EINVAL, where, "Bundle.entry[%zu] has no resource to %s", index, method);
        op->resource = resource;
    }
    return 0;
}

void rest_rewrite_references(json_t *j, const rest_alias *aliases, size_t n)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) rest_rewrite_references(v, aliases, n);
        return;
    }
    if (!json_is_object(j)) return;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!strcmp(k, "reference") && json_is_string(v)) {
            for (size_t i = 0; i < n; i++)
                if (!strcmp(json_string_value(v), aliases[i].urn)) {
                    json_string_set(v, aliases[i].reference);
                    break;
                }
        } else {
            rest_rewrite_references(v, aliases, n);
        }
    }
}

static void bundle_entry_response(socle_buf *b, socle_app *app, rest_result *r, int read)
{
    buf_puts(b, "{");
    int resource_out = read && r->status < 300 && r->body.len;
    if (resource_out) {
        buf_puts(b, "\"resource\":");
        buf_append(b, r->body.data, r->body.len);
        buf_putc(b, ',');
    }
    buf_puts(b, "\"response\":{\"status\":");
    buf_json_string(b, rest_status_text(r->status));
    if (r->location[0]) {
        size_t base_len = strlen(app->fhir_base);
        const char *loc = r->location;
        if (!strncmp(loc, app->fhir_base, base_len) && loc[base_len] == '/') loc += base_len + 1;
        buf_puts(b, ",\"location\":");
        buf_json_string(b, loc);
    }
    if (r->etag[0]) {
        buf_puts(b, ",\"etag\":");
        buf_json_string(b, r->etag);
    }
    if (r->status >= 400 && r->body.len) {
        buf_puts(b, ",\"outcome\":");
        buf_append(b, r->body.data, r->body.len);
    }
    buf_puts(b, "}}");
}


static void bundle_respond(socle_app *app, http_response *res, const char *type, bundle_entry *entries, size_t n)
{
    rest_bundle_open(&res->body, type);
    socle_buf *b = &res->body;
    for (size_t i = 0; i < n; i++) {
        rest_kind k = entries[i].op.kind;
        buf_puts(b, i ? "," : ",\"entry\":[");
        bundle_entry_response(b, app, &entries[i].result, k == REST_READ || k == REST_VREAD || k == REST_SEARCH);
    }
    if (n) buf_putc(b, ']');
    buf_putc(b, '}');
    res->status = 200;
}

void rest_bundle_respond(socle_app *app, http_response *res, const char *type, rest_result *results, size_t n)
{
    rest_bundle_open(&res->body, type);
    socle_buf *b = &res->body;
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? "," : ",\"entry\":[");
        bundle_entry_response(b, app, &results[i], 0);
    }
    if (n) buf_putc(b, ']');
    buf_putc(b, '}');
    res->status = 200;
}

/* A transaction's entries may not overlap (FHIR R4 http.html#trules): two entries with one fullUrl
 * (bdl-7), or two that change the same resource. 0, or the refusal in err. */
static int bundle_overlap(const bundle_entry *entries, size_t n, socle_err *err)
{
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < j; i++) {
            const bundle_entry *a = &entries[i], *b = &entries[j];
            if (a->full_url && b->full_url && !strcmp(a->full_url, b->full_url))
                return socle_err_at(err, SOCLE_EINVAL, "Bundle.entry.fullUrl",
                                    "Bundle.entry[%zu].fullUrl repeats entry[%zu]'s: each entry has its own", j, i);
            int wa = a->op.kind == REST_UPDATE || a->op.kind == REST_DELETE;
            int wb = b->op.kind == REST_UPDATE || b->op.kind == REST_DELETE;
            if (wa && wb && a->op.type && b->op.type && a->op.id && b->op.id && !strcmp(a->op.type, b->op.type) &&
                !strcmp(a->op.id, b->op.id))
                return socle_err_at(err, SOCLE_EINVAL, "Bundle.entry.request",
                                    "Bundle.entry[%zu] and entry[%zu] both change %s/%.64s: a transaction changes a "
                                    "resource once", i, j, a->op.type, a->op.id);
        }
    return 0;
}

static void bundle_transaction(socle_app *app, http_request *req, http_response *res, const auth_subject *who,
                               bundle_entry *entries, size_t n)
{
    socle_err err;
    store_conn *c;
    if (bundle_overlap(entries, n, &err)) {
        http_respond_error(req, res, &err);
        return;
    }
    if (store_acquire(app->store, &c, &err)) {
        http_respond_error(req, res, &err);
        return;
    }
    if (store_tx_begin(c, &err)) {
        store_release(app->store, c);
        http_respond_error(req, res, &err);
        return;
    }
    rest_alias *aliases = arena_zalloc(req->arena, sizeof *aliases * (n ? n : 1));
    size_t naliases = 0;
    int failed = -1;
    rest_result fail = {0};
    /* 1. ids for new resources, conditional creates resolved first. */
    for (size_t i = 0; i < n && failed < 0; i++) {
        bundle_entry *e = &entries[i];
        const char *ref_id = NULL;
        if (e->op.kind == REST_CREATE) {
            if (e->op.if_none_exist) {
                if (rest_conditional_match(app, req, c, e->op.type, e->op.if_none_exist, &e->existing_id, &fail)) {
                    failed = (int)i;
                    break;
                }
            }
            if (!e->existing_id) {
                char *fresh = arena_alloc(req->arena, 37);
                e->op.id = id_uuid(fresh);
                e->op.if_none_exist = NULL;
            }
            ref_id = e->existing_id ? e->existing_id : e->op.id;
        } else if (e->op.kind == REST_UPDATE) {
            ref_id = e->op.id;
        }
        if (ref_id && e->full_url && !strncmp(e->full_url, "urn:uuid:", 9)) {
            aliases[naliases].urn = e->full_url;
            aliases[naliases++].reference = arena_printf(req->arena, "%s/%s", e->op.type, ref_id);
        }
    }
    /* 2. references to urn:uuid rewritten everywhere. */
    for (size_t i = 0; i < n && failed < 0 && naliases; i++)
        if (entries[i].op.resource) rest_rewrite_references(entries[i].op.resource, aliases, naliases);
    /* 3. run in FHIR's order. */
    static const rest_kind order[][3] = {{REST_DELETE, 0, 0},
                                         {REST_CREATE, 0, 0},
                                         {REST_UPDATE, 0, 0},
                                         {REST_READ, REST_VREAD, REST_SEARCH}};
    for (int pass = 0; pass < 4 && failed < 0; pass++) {
        for (size_t i = 0; i < n && failed < 0; i++) {
            bundle_entry *e = &entries[i];
            rest_kind k = e->op.kind;
            if (k != order[pass][0] && k != order[pass][1] && k != order[pass][2]) continue;
            if (e->existing_id) {
                if (rest_conditional_existing(app, req, who, c, &e->op, e->existing_id, &e->result)) failed = (int)i;
                else snprintf(e->result.location, sizeof e->result.location, "%s/%s", e->op.type, e->existing_id);
                continue;
            }
            if (rest_interact(app, req, who, c, &e->op, &e->result)) failed = (int)i;
        }
    }
    if (failed < 0 && store_tx_commit(c, &err)) {
        store_tx_rollback(c);
        store_release(app->store, c);
        http_respond_error(req, res, &err);
        return;
    }
    if (failed >= 0) {
        store_tx_rollback(c);
        store_release(app->store, c);
        rest_result *r = fail.status ? &fail : &entries[failed].result;
        socle_err e = r->err;
        char where[64];
        snprintf(where, sizeof where, "Bundle.entry[%d]", failed);
        socle_err_at(&e, r->err.code, r->err.where[0] ? r->err.where : where, "transaction rolled back: entry %d: %s",
                     failed, r->err.msg);
        http_respond_error(req, res, &e);
        buf_free(&fail.body);
        return;
    }
    store_release(app->store, c);
    bundle_respond(app, res, "transaction-response", entries, n);
}

void rest_bundle(socle_app *app, http_request *req, http_response *res, const auth_subject *who, json_t *bundle)
{
    socle_err err;
    const char *rt = json_string_value(json_object_get(bundle, "resourceType"));
    const char *type = json_string_value(json_object_get(bundle, "type"));
    if (!rt || strcmp(rt, "Bundle")) {
        http_respond_status(req, res, 422, "processing", "POST /fhir takes a Bundle");
        return;
    }
    if (app->bundle_handler && app->bundle_handler(app->bundle_handler_ctx, req, res, who, bundle) != REST_PASS) return;
    int transaction = type && !strcmp(type, "transaction");
    if (!transaction && !(type && !strcmp(type, "batch"))) {
        http_respond_status(req, res, 422, "processing", "Bundle.type must be transaction or batch");
        return;
    }
    json_t *list = json_object_get(bundle, "entry");
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    if (list && !json_is_array(list)) {
        http_respond_status(req, res, 400, "invalid", "Bundle.entry must be an array");
        return;
    }
    if (n > BUNDLE_MAX_ENTRIES) {
        http_respond_status(req, res, 413, "too-costly", "a bundle may hold at most 10000 entries");
        return;
    }
    bundle_entry *entries = arena_zalloc(req->arena, sizeof *entries * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        bundle_entry *e = &entries[i];
        if (bundle_parse_entry(app, req, json_array_get(list, i), i, e, &err)) {
            if (transaction) {
                http_respond_error(req, res, &err);
                return;
            }
            e->result.status = socle_err_http_status(err.code);
            e->result.err = err;
            fhir_outcome_err(&e->result.body, &err);
            e->done = 1;
        }
    }
    const char *prefer = http_header(req, "Prefer");
    for (size_t i = 0; prefer && i < n; i++) entries[i].op.lenient = strstr(prefer, "handling=lenient") != NULL;
    if (transaction) {
        bundle_transaction(app, req, res, who, entries, n);
    } else {
        for (size_t i = 0; i < n; i++)
            if (!entries[i].done) rest_interact(app, req, who, NULL, &entries[i].op, &entries[i].result);
        bundle_respond(app, res, "batch-response", entries, n);
    }
    for (size_t i = 0; i < n; i++) buf_free(&entries[i].result.body);
}
