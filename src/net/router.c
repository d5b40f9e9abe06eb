/* router.c - route patterns and their matching: literal segments, "{name}" segments and a final
 * "*", tried in registration order. Matching walks the path once and compares segments in place;
 * only the values of matched parameters are copied (into the request arena). */
#include <stdlib.h>
#include <string.h>

#include "net/http_internal.h"

#define HTTP_MAX_SEGMENTS 32
#define HTTP_MAX_METHOD 15

enum { HTTP_SEG_LITERAL, HTTP_SEG_PARAM, HTTP_SEG_REST };

typedef struct http_segment {
    const char *text; /* literal text, or the parameter name ("*" for the rest), in storage */
    size_t len;
    int kind;
} http_segment;

struct http_route_entry {
    char method[HTTP_MAX_METHOD + 1];
    char *storage; /* copy of the pattern, cut into NUL-terminated segments */
    char *name;
    http_segment segs[HTTP_MAX_SEGMENTS];
    int nsegs;
    http_handler fn;
    void *ctx;
    int in_pool; /* runs on the write pool (by default the methods other than GET and HEAD) */
};

struct http_router {
    http_route_entry **routes; /* pointers, so entries never move once registered */
    int n;
    int cap;
};

typedef struct http_path_seg {
    const char *s;
    size_t len;
} http_path_seg;

http_router *http_router_new(void)
{
    return calloc(1, sizeof(http_router));
}

void http_router_free(http_router *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->routes[i]->storage);
        free(r->routes[i]->name);
        free(r->routes[i]);
    }
    free(r->routes);
    free(r);
}

static int http_method_valid(const char *m)
{
    size_t n = 0;
    for (; m[n]; n++)
        if (m[n] < 'A' || m[n] > 'Z' || n >= HTTP_MAX_METHOD) return 0;
    return n > 0;
}

static int http_param_name_valid(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* http_pattern_parse - cut e->storage (a copy of the pattern) into segments. */
static int http_pattern_parse(http_route_entry *e)
{
    char *p = e->storage;
    int nparams = 0;
    if (*p != '/') return SOCLE_EINVAL;
    p++;
    if (*p == 0) return 0; /* "/" alone: no segment */
    for (;;) {
        char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (slash) *slash = 0;
        if (e->nsegs == HTTP_MAX_SEGMENTS || len == 0) return SOCLE_EINVAL;
        http_segment *s = &e->segs[e->nsegs++];
        if (len == 1 && p[0] == '*') {
            if (slash || nparams == HTTP_MAX_PATH_PARAMS) return SOCLE_EINVAL; /* "*" only last */
            *s = (http_segment){p, 1, HTTP_SEG_REST};
            nparams++;
        } else if (p[0] == '{') {
            if (p[len - 1] != '}' || !http_param_name_valid(p + 1, len - 2) ||
                nparams == HTTP_MAX_PATH_PARAMS)
                return SOCLE_EINVAL;
            p[len - 1] = 0;
            *s = (http_segment){p + 1, len - 2, HTTP_SEG_PARAM};
            nparams++;
        } else {
            if (strpbrk(p, "{}*")) return SOCLE_EINVAL;
            *s = (http_segment){p, len, HTTP_SEG_LITERAL};
        }
        if (!slash) return 0;
        p = slash + 1;
    }
}

int http_route(http_router *r, const char *method, const char *pattern, const char *name, http_handler fn,
               void *ctx)
{
    if (!r || !method || !pattern || !name || !*name || !fn || !http_method_valid(method))
        return SOCLE_EINVAL;
    http_route_entry *e = calloc(1, sizeof *e);
    if (!e) return SOCLE_ENOMEM;
    strcpy(e->method, method);
    e->storage = strdup(pattern);
    e->name = strdup(name);
    e->fn = fn;
    e->ctx = ctx;
    e->in_pool = strcmp(method, "GET") && strcmp(method, "HEAD");
    int rc = e->storage && e->name ? http_pattern_parse(e) : SOCLE_ENOMEM;
    if (!rc && r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        http_route_entry **grown = realloc(r->routes, sizeof *grown * (size_t)cap);
        if (grown) {
            r->routes = grown;
            r->cap = cap;
        } else {
            rc = SOCLE_ENOMEM;
        }
    }
    if (rc) {
        free(e->storage);
        free(e->name);
        free(e);
        return rc;
    }
    r->routes[r->n++] = e;
    return 0;
}

/* http_path_split - the segments of path; returns the total count (which may exceed max: only
 * the first max are stored), or -1 for a path we refuse (no leading '/', or a ".." segment). */
static int http_path_split(const char *path, http_path_seg *segs, int max)
{
    if (!path || path[0] != '/') return -1;
    const char *p = path + 1;
    if (*p == 0) return 0;
    int n = 0;
    for (;;) {
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return -1;
        if (n < max) segs[n] = (http_path_seg){p, len};
        n++;
        if (*end == 0) return n;
        p = end + 1;
    }
}

/* http_route_matches - 1 if the path segments fit the pattern of e. */
static int http_route_matches(const http_route_entry *e, const http_path_seg *ps, int np)
{
    for (int i = 0; i < e->nsegs; i++) {
        const http_segment *s = &e->segs[i];
        if (s->kind == HTTP_SEG_REST) return 1;
        if (i >= np) return 0;
        if (s->kind == HTTP_SEG_PARAM) {
            if (ps[i].len == 0) return 0;
        } else if (s->len != ps[i].len || memcmp(s->text, ps[i].s, s->len) != 0) {
            return 0;
        }
    }
    return np == e->nsegs;
}

static int http_method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0) return 1;
    /* HEAD is a GET whose body MHD does not send. */
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

static void http_allow_add(char *allow, const char *method)
{
    size_t mlen = strlen(method), used = strlen(allow);
    for (const char *p = allow; *p;) {
        const char *end = strchrnul(p, ',');
        if ((size_t)(end - p) == mlen && memcmp(p, method, mlen) == 0) return;
        p = *end ? end + 2 : end;
    }
    if (used + mlen + 3 > HTTP_ALLOW_MAX) return;
    if (used) {
        memcpy(allow + used, ", ", 2);
        used += 2;
    }
    memcpy(allow + used, method, mlen + 1);
}

static void http_set_params(const http_route_entry *e, http_request *req, const http_path_seg *ps, int np)
{
    req->npath_params = 0;
    for (int i = 0; i < e->nsegs; i++) {
        const http_segment *s = &e->segs[i];
        if (s->kind == HTTP_SEG_LITERAL) continue;
        const char *v;
        if (s->kind == HTTP_SEG_PARAM)
            v = arena_strndup(req->arena, ps[i].s, ps[i].len);
        else
            v = i < np ? arena_strdup(req->arena, ps[i].s) : "";
        req->path_param_names[req->npath_params] = s->text;
        req->path_param_values[req->npath_params] = v ? v : "";
        req->npath_params++;
    }
}

const http_route_entry *http_router_match(const http_router *r, http_request *req, int *status, char *allow)
{
    http_path_seg ps[HTTP_MAX_SEGMENTS];
    allow[0] = 0;
    req->route = HTTP_ROUTE_UNMATCHED;
    req->npath_params = 0;
    int np = http_path_split(req->path, ps, HTTP_MAX_SEGMENTS);
    if (np < 0) {
        *status = 400;
        return NULL;
    }
    int path_known = 0;
    /* Longer paths than HTTP_MAX_SEGMENTS can only match a "*" pattern, whose prefix is shorter:
     * http_route_matches never reads past the stored segments in that case. */
    int stored = np < HTTP_MAX_SEGMENTS ? np : HTTP_MAX_SEGMENTS;
    for (int i = 0; r && i < r->n; i++) {
        const http_route_entry *e = r->routes[i];
        if (np > HTTP_MAX_SEGMENTS && (e->nsegs == 0 || e->segs[e->nsegs - 1].kind != HTTP_SEG_REST))
            continue;
        if (!http_route_matches(e, ps, np > stored ? stored + 1 : np)) continue;
        if (http_method_matches(e->method, req->method ? req->method : "")) {
            req->route = e->name;
            http_set_params(e, req, ps, stored);
            return e;
        }
        path_known = 1;
        http_allow_add(allow, e->method);
        if (strcmp(e->method, "GET") == 0) http_allow_add(allow, "HEAD");
    }
    *status = path_known ? 405 : 404;
    return NULL;
}

int http_route_pool(http_router *r, const char *name, int in_pool)
{
    int found = 0;
    for (int i = 0; r && name && i < r->n; i++)
        if (!strcmp(r->routes[i]->name, name)) {
            r->routes[i]->in_pool = in_pool;
            found = 1;
        }
    return found ? 0 : SOCLE_EINVAL;
}

int http_router_in_pool(const http_route_entry *e)
{
    return e->in_pool;
}

void http_router_run(const http_route_entry *e, http_request *req, http_response *res)
{
    e->fn(e->ctx, req, res);
}

void http_router_fail(http_request *req, http_response *res, int status, const char *allow)
{
    if (status == 405) {
        http_respond_status(req, res, 405, "not-supported", "this method is not allowed on this path");
        if (allow && *allow) http_set_header(req, res, "Allow", allow);
    } else if (status == 400) {
        http_respond_status(req, res, 400, "invalid", "the request path is not acceptable");
    } else {
        http_respond_status(req, res, 404, "not-found", "no route for this path");
    }
}

void http_router_dispatch(const http_router *r, http_request *req, http_response *res)
{
    int status = 404;
    char allow[HTTP_ALLOW_MAX];
    const http_route_entry *e = http_router_match(r, req, &status, allow);
    if (e)
        http_router_run(e, req, res);
    else
        http_router_fail(req, res, status, allow);
}
