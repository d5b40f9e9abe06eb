/* b64.c - base64 (RFC 4648 section 4, padded) and base64url (section 5, unpadded) codecs.
 *
 * Written here rather than with EVP_EncodeBlock/EVP_DecodeBlock because those accept white space
 * and report lengths that include padding, and decoding must be strict: JWS parts and FHIR
 * base64Binary values come from untrusted callers. Decoding rejects characters outside the
 * alphabet, impossible lengths, misplaced padding and non-zero leftover bits (so one byte string
 * has exactly one encoding). */
#include <string.h>

#include "crypto/crypto.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const char *alpha, int pad, const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        if (pad) out[o++] = '=', out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        if (pad) out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

/* The value of each ASCII character in each alphabet, -1 outside it (bytes >= 128 are never in it). */
static const signed char b64_std_values[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
};
static const signed char b64_url_values[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
};

static int b64_digit(const signed char *values, char c)
{
    return (unsigned char)c < 128 ? values[(unsigned char)c] : -1;
}

/* Decode n characters that contain no padding, four at a time. */
static int b64_decode_core(int url, const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    if (n % 4 == 1) return SOCLE_EINVAL;
    const signed char *values = url ? b64_url_values : b64_std_values;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        int a = b64_digit(values, in[i]), b = b64_digit(values, in[i + 1]), c = b64_digit(values, in[i + 2]),
            d = b64_digit(values, in[i + 3]);
        if ((a | b | c | d) < 0) return SOCLE_EINVAL;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = n - i; /* 0, 2 or 3 characters: 1 or 2 bytes */
    if (rest) {
        uint32_t v = 0;
        for (size_t k = 0; k < rest; k++) {
            int digit = b64_digit(values, in[i + k]);
            if (digit < 0) return SOCLE_EINVAL;
            v |= (uint32_t)digit << (18 - 6 * k);
        }
        /* non-canonical leftover bits: those past the last whole byte must be zero */
        if (v & (rest == 2 ? 0xffffu : 0xffu)) return SOCLE_EINVAL;
        out[o++] = (uint8_t)(v >> 16);
        if (rest == 3) out[o++] = (uint8_t)(v >> 8);
    }
    *outlen = o;
    return 0;
}

size_t crypto_b64_span(const char *in, size_t n)
{
    size_t i = 0;
    while (i < n && b64_digit(b64_std_values, in[i]) >= 0)
        i++;
    return i;
}

/* Number of trailing '=' (0..2) when they are correctly placed for a padded form, else -1. */
static int b64_padding(const char *in, size_t n)
{
    int pad = 0;
    while (pad < (int)n && in[n - 1 - pad] == '=')
        pad++;
    if (pad > 2 || (pad && n % 4)) return -1;
    return pad;
}

size_t crypto_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    return b64_encode(b64_url, 0, in, n, out);
}

int crypto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    int pad = b64_padding(in, n);
    if (pad < 0) return SOCLE_EINVAL;
    return b64_decode_core(1, in, n - (size_t)pad, out, outlen);
}

size_t crypto_b64_encode(const uint8_t *in, size_t n, char *out)
{
    return b64_encode(b64_std, 1, in, n, out);
}

int crypto_b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    if (n % 4) return SOCLE_EINVAL;
    int pad = b64_padding(in, n);
    if (pad < 0) return SOCLE_EINVAL;
    return b64_decode_core(0, in, n - (size_t)pad, out, outlen);
}
