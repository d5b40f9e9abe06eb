/* request.c - what handlers use on a request: headers, path and query parameters, response
 * headers, and the OperationOutcome answers for errors. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/http_internal.h"

const char *http_header(const http_request *req, const char *name)
{
    if (!req || !req->connection || !name) return NULL;
    return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

const char *http_path_param(const http_request *req, const char *name)
{
    if (!req || !name) return NULL;
    for (int i = 0; i < req->npath_params; i++)
        if (strcmp(req->path_param_names[i], name) == 0) return req->path_param_values[i];
    return NULL;
}

const char *http_query(const http_request *req, const char *name)
{
    if (!req || !name) return NULL;
    for (int i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, name) == 0) return req->query[i].value;
    return NULL;
}

/* http_header_text_ok - refuse what would split or corrupt the header block. */
static int http_header_text_ok(const char *s, int is_name)
{
    if (!s || (is_name && !*s)) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) return 0;
        if (is_name && (c == ':' || c == ' ' || c == '\t')) return 0;
    }
    return 1;
}

void http_set_header(http_request *req, http_response *res, const char *name, const char *value)
{
    if (!http_header_text_ok(name, 1) || !http_header_text_ok(value, 0)) {
        log_msg(LOG_WARN, "http: response header dropped (invalid characters)");
        return;
    }
    if (res->nheaders == HTTP_MAX_RESPONSE_HEADERS) {
        log_msg(LOG_WARN, "http: response header dropped (more than %d)", HTTP_MAX_RESPONSE_HEADERS);
        return;
    }
    const char *n = arena_strdup(req->arena, name);
    const char *v = arena_strdup(req->arena, value);
    if (!n || !v) return;
    res->headers[res->nheaders].name = n;
    res->headers[res->nheaders].value = v;
    res->nheaders++;
}

void http_outcome(socle_buf *out, const char *code, const char *diagnostics, const char *expression)
{
    buf_puts(out, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":");
    buf_json_string(out, code && *code ? code : "exception");
    if (diagnostics && *diagnostics) {
        buf_puts(out, ",\"diagnostics\":");
        buf_json_string(out, diagnostics);
    }
    if (expression && *expression) {
        buf_puts(out, ",\"expression\":[");
        buf_json_string(out, expression);
        buf_putc(out, ']');
    }
    buf_puts(out, "}]}");
}

void http_respond_json(http_response *res, int status, json_t *body)
{
    res->status = status;
    res->content_type = "application/json";
    buf_reset(&res->body);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    buf_puts(&res->body, text ? text : "{}");
    free(text);
    json_decref(body);
}

void http_respond_status(http_request *req, http_response *res, int status, const char *fhir_code,
                         const char *message)
{
    res->status = status;
    res->content_type = "application/fhir+json";
    buf_reset(&res->body);
    http_outcome(&res->body, fhir_code, message, NULL);
}

void http_respond_error(http_request *req, http_response *res, const socle_err *err)
{
    int code = err && err->code ? err->code : SOCLE_EINTERNAL;
    res->status = socle_err_http_status(code);
    res->content_type = "application/fhir+json";
    buf_reset(&res->body);
    http_outcome(&res->body, socle_err_fhir_code(code), err && err->msg[0] ? err->msg : "internal error",
                 err ? err->where : NULL);
}

static int http_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* http_form_decode - a decoded copy of s[0..n) in the arena; *bad is set on an encoded NUL or a
 * malformed escape (the request is then refused with 400). */
static char *http_form_decode(arena *a, const char *s, size_t n, int *nul)
{
    char *out = arena_alloc(a, n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && http_hex(s[i + 1]) >= 0 && http_hex(s[i + 2]) >= 0) {
            c = (char)(http_hex(s[i + 1]) * 16 + http_hex(s[i + 2]));
            i += 2;
            if (c == 0) *nul = 1;
        } else if (c == '%') {
            *nul = 1;
        }
        out[j++] = c;
    }
    out[j] = 0;
    return out;
}

int http_parse_query(arena *a, const char *raw, http_param **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!raw || !*raw) return 0;
    /* One slot per non-empty piece: a body of '&' alone reserves nothing. */
    int cap = 1;
    for (const char *p = raw; *p; p++)
        cap += *p == '&' && p[1] && p[1] != '&';
    http_param *ps = arena_alloc(a, sizeof *ps * (size_t)cap);
    if (!ps) return SOCLE_ENOMEM;
    int count = 0, nul = 0;
    for (const char *p = raw; *p;) {
        const char *end = strchrnul(p, '&');
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (end > p) {
            const char *name_end = eq ? eq : end;
            ps[count].name = http_form_decode(a, p, (size_t)(name_end - p), &nul);
            ps[count].value = eq ? http_form_decode(a, eq + 1, (size_t)(end - eq - 1), &nul) : "";
            if (!ps[count].name || !ps[count].value) return SOCLE_ENOMEM;
            count++;
        }
        p = *end ? end + 1 : end;
    }
    if (nul) return SOCLE_EINVAL;
    *out = ps;
    *n = count;
    return 0;
}

int http_request_id_valid(const char *s)
{
    size_t n = 0;
    if (!s) return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64) return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}
