/* jws.c - JWS compact serialization (RFC 7515 section 7.1): signing, and the strict split that
 * every bearer token goes through before anything else looks at it.
 *
 * The split enforces a size limit, exactly three non-empty parts, unpadded base64url, no NUL bytes
 * in the decoded JSON and a JSON object shape (first non-space character '{'); it does not parse
 * the JSON, which the caller does with jansson. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "crypto/crypto_internal.h"

#define JWS_MAX_BYTES (16 * 1024)

static void jws_append_b64url(socle_buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, (n + 2) / 3 * 4 + 1)) return;
    b->len += crypto_b64url_encode(data, n, b->data + b->len);
}

int crypto_jws_sign(const crypto_key *k, const char *payload_json, char **out, socle_err *err)
{
    *out = NULL;
    socle_buf h = SOCLE_BUF_INIT, b = SOCLE_BUF_INIT;
    buf_printf(&h, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":", k->alg);
    buf_json_string(&h, k->kid);
    buf_putc(&h, '}');
    if (buf_ok(&h)) jws_append_b64url(&b, h.data, h.len);
    buf_putc(&b, '.');
    jws_append_b64url(&b, payload_json, strlen(payload_json));
    buf_free(&h);
    if (!buf_ok(&b)) {
        buf_free(&b);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    uint8_t sig[CRYPTO_SIG_MAX]; /* RS256 with an RSA-8192 key is the largest */
    size_t siglen = sizeof sig;
    int rc = crypto_sign(k, b.data, b.len, sig, &siglen, err);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    buf_putc(&b, '.');
    jws_append_b64url(&b, sig, siglen);
    if (!buf_ok(&b)) {
        buf_free(&b);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    *out = buf_take(&b, NULL);
    return 0;
}

/* Decode one part into a fresh allocation (NUL-terminated for the JSON parts). */
static int jws_part(const char *s, size_t n, int json, uint8_t **out, size_t *outlen)
{
    if (n == 0 || memchr(s, '=', n)) return -1;
    uint8_t *p = malloc(n / 4 * 3 + 3 + 1);
    size_t len;
    if (!p || crypto_b64url_decode(s, n, p, &len)) {
        free(p);
        return -1;
    }
    p[len] = 0;
    if (json) {
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        if (i == len || p[i] != '{' || memchr(p, 0, len)) {
            free(p);
            return -1;
        }
    }
    *out = p;
    *outlen = len;
    return 0;
}

int crypto_jws_split(const char *compact, char **header, char **payload, uint8_t **sig, size_t *siglen,
                     size_t *signing_input_len, socle_err *err)
{
    *header = *payload = NULL;
    *sig = NULL;
    *siglen = *signing_input_len = 0;
    size_t n = compact ? strnlen(compact, JWS_MAX_BYTES + 1) : 0;
    if (n > JWS_MAX_BYTES) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token too large");
    const char *d1 = compact ? memchr(compact, '.', n) : NULL;
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - compact)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - compact)))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed token");
    uint8_t *h = NULL, *p = NULL, *s = NULL;
    size_t hl, pl, sl;
    if (jws_part(compact, (size_t)(d1 - compact), 1, &h, &hl) ||
        jws_part(d1 + 1, (size_t)(d2 - d1 - 1), 1, &p, &pl) ||
        jws_part(d2 + 1, n - (size_t)(d2 + 1 - compact), 0, &s, &sl)) {
        free(h);
        free(p);
        free(s);
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed token");
    }
    *header = (char *)h;
    *payload = (char *)p;
    *sig = s;
    *siglen = sl;
    *signing_input_len = (size_t)(d2 - compact);
    return 0;
}
