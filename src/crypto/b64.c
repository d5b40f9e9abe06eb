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

/* Value of c in the alphabet, or -1. */
static int b64_value(int url, unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

/* Decode n characters that contain no padding. */
static int b64_decode_core(int url, const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    if (n % 4 == 1) return SOCLE_EINVAL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(url, (unsigned char)in[i]);
        if (v < 0) return SOCLE_EINVAL;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits && (acc & ((1u << bits) - 1))) return SOCLE_EINVAL; /* non-canonical leftover bits */
    *outlen = o;
    return 0;
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
