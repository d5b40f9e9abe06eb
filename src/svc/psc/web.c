/* web.c - what the Pro Santé Connect endpoints answer with: OAuth JSON errors, JSON, redirects,
 * small HTML pages (escaped, no script, framing forbidden), forms, random tokens and audit events. */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "base/ids.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/totp.h"
#include "svc/psc/psc_internal.h"

static void no_store(http_request *req, http_response *res)
{
    http_set_header(req, res, "Cache-Control", "no-store");
    http_set_header(req, res, "Pragma", "no-cache");
}

void psc_json(http_request *req, http_response *res, int status, json_t *body)
{
    http_respond_json(res, status, body);
    no_store(req, res);
}

void psc_oauth_error(http_request *req, http_response *res, int status, const char *error, const char *description)
{
    if (status == 401) http_set_header(req, res, "WWW-Authenticate", "Basic realm=\"socle-oidc\"");
    res->log_outcome = error;
    /* A description quoting the request (a parameter's name) may not be UTF-8: the error stays. */
    json_t *body = json_pack("{s:s, s:s}", "error", error, "error_description", description);
    psc_json(req, res, status, body ? body : json_pack("{s:s}", "error", error));
}

void psc_redirect(http_request *req, http_response *res, const char *url)
{
    res->status = 302;
    res->content_type = "text/plain";
    http_set_header(req, res, "Location", url);
    no_store(req, res);
}

const char *psc_html_escape(arena *a, const char *s)
{
    socle_buf b = SOCLE_BUF_INIT;
    for (; s && *s; s++) {
        switch (*s) {
        case '<': buf_puts(&b, "&lt;"); break;
        case '>': buf_puts(&b, "&gt;"); break;
        case '&': buf_puts(&b, "&amp;"); break;
        case '"': buf_puts(&b, "&quot;"); break;
        case '\'': buf_puts(&b, "&#39;"); break;
        default: buf_putc(&b, *s);
        }
    }
    const char *out = arena_strdup(a, b.data ? b.data : "");
    buf_free(&b);
    return out;
}

void psc_html_page(http_request *req, http_response *res, int status, const char *title, const char *body_html)
{
    res->status = status;
    res->content_type = "text/html; charset=utf-8";
    buf_printf(&res->body,
               "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>%s</title>"
               "<style>body{font-family:sans-serif;max-width:34em;margin:2em auto;padding:0 1em}"
               "fieldset{margin:1em 0}label{display:block;margin:.5em 0}.error{color:#b00}</style></head>"
               "<body><h1>%s</h1>\n%s\n</body></html>\n",
               psc_html_escape(req->arena, title), psc_html_escape(req->arena, title), body_html);
    http_set_header(req, res, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *; frame-ancestors 'none'");
    http_set_header(req, res, "X-Frame-Options", "DENY");
    no_store(req, res);
}

const char *psc_url_append(arena *a, const char *url, ...)
{
    socle_buf b = SOCLE_BUF_INIT;
    buf_puts(&b, url);
    char sep = strchr(url, '?') ? '&' : '?';
    va_list ap;
    va_start(ap, url);
    for (const char *name; (name = va_arg(ap, const char *));) {
        const char *value = va_arg(ap, const char *);
        if (!value) continue;
        buf_putc(&b, sep);
        sep = '&';
        buf_puts(&b, name);
        buf_putc(&b, '=');
        text_url_encode(&b, value);
    }
    va_end(ap);
    const char *out = arena_strdup(a, b.data ? b.data : url);
    buf_free(&b);
    return out;
}

int psc_form(http_request *req, http_param **params, int *n, socle_err *err)
{
    if (!strcmp(req->method, "POST")) {
        const char *ct = http_header(req, "Content-Type");
        if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))
            return socle_err_set(err, SOCLE_EINVAL, "the body must be application/x-www-form-urlencoded");
        if (http_parse_query(req->arena, req->body, params, n))
            return socle_err_set(err, SOCLE_EINVAL, "malformed form body");
    } else {
        *params = req->query;
        *n = req->nquery;
    }
    for (int i = 0; i < *n; i++)
        for (int j = i + 1; j < *n; j++)
            if (!strcmp((*params)[i].name, (*params)[j].name))
                return socle_err_set(err, SOCLE_EINVAL, "parameter %.40s given twice", (*params)[i].name);
    return 0;
}

const char *psc_param(const http_param *params, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(params[i].name, name)) return params[i].value;
    return NULL;
}

void psc_random_token(char out[44])
{
    uint8_t raw[32];
    id_random_bytes(raw, sizeof raw);
    crypto_b64url_encode(raw, sizeof raw, out);
}

void psc_hash_hex(const char *s, char out[65])
{
    uint8_t h[32];
    crypto_sha256(s, strlen(s), h);
    crypto_hex(h, 32, out);
}

void psc_audit(psc_service *svc, http_request *req, const char *action, const char *outcome, const char *who,
               const char *client_id, const char *detail)
{
    psc_audit_as(svc, req, who ? "professional" : "anonymous", action, outcome, who, client_id, detail);
}

void psc_audit_as(psc_service *svc, http_request *req, const char *kind, const char *action, const char *outcome,
                  const char *who, const char *client_id, const char *detail)
{
    char text[200];
    snprintf(text, sizeof text, "client %.60s%s%.120s", client_id ? client_id : "-", detail ? ": " : "",
             detail ? detail : "");
    audit_event e = {.action = action, .outcome = outcome, .agent_kind = kind,
                     .agent_id = who, .address = req ? req->remote_addr : NULL,
                     .request_id = req ? req->request_id : NULL, .detail = text};
    audit_append(svc->app->audit, &e);
}

void psc_activation_code_new(char code[20], char hash[65])
{
    /* 16 base32 characters (80 bits) in four groups people can type; the hash is of the bare form. */
    uint8_t raw[10];
    char b32[20];
    id_random_bytes(raw, sizeof raw);
    crypto_base32_encode(raw, sizeof raw, b32, sizeof b32);
    snprintf(code, 20, "%.4s-%.4s-%.4s-%.4s", b32, b32 + 4, b32 + 8, b32 + 12);
    psc_hash_hex(b32, hash);
}

void psc_activation_code_hash(const char *typed, char hash[65])
{
    char code[32];
    size_t k = 0;
    for (; typed && *typed && k + 1 < sizeof code; typed++) {
        if (*typed == '-' || *typed == ' ') continue;
        code[k++] = (char)(*typed >= 'a' && *typed <= 'z' ? *typed - 32 : *typed);
    }
    code[k] = 0;
    psc_hash_hex(code, hash);
}

void psc_totp_key_page(http_request *req, http_response *res, const char *title, const char *issuer,
                       const char *account, const char *b32)
{
    char uri[512] = "";
    crypto_totp_uri(uri, sizeof uri, issuer, account, b32, PSC_TOTP_DIGITS, PSC_TOTP_STEP, CRYPTO_OTP_SHA1);
    psc_html_page(req, res, 200, title,
                  arena_printf(req->arena,
                               "<p>Ajoutez ce compte à votre application d'authentification (TOTP, 6 chiffres, 30 s). "
                               "Cette clé ne sera plus jamais affichée.</p>"
                               "<p>Clé : <code id=\"secret\">%s</code></p><p>URI : <code id=\"otpauth\">%s</code></p>",
                               b32, psc_html_escape(req->arena, uri)));
}

int psc_totp_matches(const char *b32, int64_t last_step, const char *code, int64_t *step)
{
    uint8_t key[40];
    size_t keylen = 0;
    int ok = b32 && *b32 && !crypto_base32_decode(b32, key, sizeof key, &keylen) &&
             !crypto_totp_verify(key, keylen, code, (int64_t)time(NULL), PSC_TOTP_STEP, PSC_TOTP_WINDOW, PSC_TOTP_DIGITS,
                                 CRYPTO_OTP_SHA1, last_step, step);
    memset(key, 0, sizeof key);
    return ok;
}
