/* totp.c - HOTP (RFC 4226) and TOTP (RFC 6238) codes, their constant-time verification with
 * replay protection, base32 (RFC 4648 section 6) and otpauth:// key URIs, for the e-CPS stand-in.
 *
 * The HMAC implementation is fetched once (as hash.c does); one MAC context, keyed once, serves
 * every step a verification tries. Secrets, HMAC outputs and candidate codes are wiped from the
 * stack and nothing is logged. */
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "crypto/totp.h"

static const char otp_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const uint32_t otp_pow10[] = {1000000u, 10000000u, 100000000u}; /* 10^6 .. 10^8 */

static pthread_once_t otp_once = PTHREAD_ONCE_INIT;
static EVP_MAC *otp_hmac;

static void otp_fetch(void)
{
    otp_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* Only a broken OpenSSL installation or an exhausted heap gets here; crypto_hotp's contract has no
 * failure value for it, and a wrong code silently accepted or refused would be worse. */
static void otp_die(void)
{
    fprintf(stderr, "socle: OpenSSL HMAC for one-time passwords failed\n");
    abort();
}

/* otp_alg_name - the digest name (also the URI's algorithm value), or NULL if unknown. */
static const char *otp_alg_name(int algorithm)
{
    switch (algorithm) {
    case CRYPTO_OTP_SHA1:
        return "SHA1";
    case CRYPTO_OTP_SHA256:
        return "SHA256";
    case CRYPTO_OTP_SHA512:
        return "SHA512";
    default:
        return NULL;
    }
}

static int otp_digits_ok(int digits)
{
    return digits >= CRYPTO_OTP_MIN_DIGITS && digits <= CRYPTO_OTP_MAX_DIGITS;
}

/* otp_ctx_new - an HMAC context keyed with key for algorithm (known to be valid). */
static EVP_MAC_CTX *otp_ctx_new(const uint8_t *key, size_t keylen, const char *digest)
{
    static const uint8_t empty_key[1];
    pthread_once(&otp_once, otp_fetch);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                           OSSL_PARAM_END};
    EVP_MAC_CTX *ctx = otp_hmac ? EVP_MAC_CTX_new(otp_hmac) : NULL;
    /* OpenSSL refuses a NULL key; an empty key is legal HMAC. */
    if (!ctx || !EVP_MAC_init(ctx, keylen ? key : empty_key, keylen, params)) otp_die();
    return ctx;
}

/* otp_value - HOTP of counter with the keyed ctx: HMAC, dynamic truncation (RFC 4226 5.3), modulo
 * 10^digits. EVP_MAC_init with a NULL key restarts the MAC with the key already set. */
static uint32_t otp_value(EVP_MAC_CTX *ctx, uint64_t counter, int digits)
{
    uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    for (int i = 7; i >= 0; i--, counter >>= 8)
        msg[i] = (uint8_t)(counter & 0xff);
    if (!EVP_MAC_init(ctx, NULL, 0, NULL) || !EVP_MAC_update(ctx, msg, sizeof msg) ||
        !EVP_MAC_final(ctx, mac, &len, sizeof mac) || len < 20)
        otp_die();
    unsigned off = mac[len - 1] & 0x0f;
    uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
                   (uint32_t)mac[off + 2] << 8 | mac[off + 3];
    OPENSSL_cleanse(mac, sizeof mac);
    return bin % otp_pow10[digits - CRYPTO_OTP_MIN_DIGITS];
}

/* otp_format - value as exactly `digits` decimal digits (leading zeros kept), no NUL. */
static void otp_format(uint32_t value, int digits, char *out)
{
    for (int i = digits - 1; i >= 0; i--, value /= 10)
        out[i] = (char)('0' + value % 10);
}

int crypto_base32_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    if (n > ((size_t)INT_MAX - 4) / 8 || !out || outsz < CRYPTO_BASE32_LEN(n) + 1 || (n && !in)) {
        if (out && outsz) out[0] = 0;
        return SOCLE_ETOOLARGE;
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = otp_b32[(acc >> bits) & 31];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits) out[o++] = otp_b32[(acc << (5 - bits)) & 31];
    out[o] = 0;
    return (int)o;
}

/* otp_b32_value - the value of c in the base32 alphabet (either case), or -1. */
static int otp_b32_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

int crypto_base32_decode(const char *in, uint8_t *out, size_t outsz, size_t *outlen)
{
    /* Padding a final group of r characters needs (indexed by r = count % 8); -1: impossible. */
    static const int pad_for[8] = {0, -1, 6, -1, 4, 3, -1, 1};
    size_t o = 0, nchars = 0, npad = 0;
    uint32_t acc = 0;
    int bits = 0, rc = SOCLE_EINVAL;
    if (outlen) *outlen = 0;
    if (!in || !outlen || (!out && outsz)) return SOCLE_EINVAL;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '-') continue;
        if (c == '=') {
            npad++;
            continue;
        }
        int v = otp_b32_value(c);
        if (v < 0 || npad) goto fail; /* not base32, or data after padding */
        nchars++;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outsz) {
                rc = SOCLE_ETOOLARGE;
                goto fail;
            }
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    int need = pad_for[nchars % 8];
    if (need < 0 || (npad && npad != (size_t)need) || acc != 0) goto fail;
    *outlen = o;
    return 0;
fail:
    if (o) OPENSSL_cleanse(out, o);
    return rc;
}

uint32_t crypto_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits, int algorithm)
{
    const char *digest = otp_alg_name(algorithm);
    if (!digest || !otp_digits_ok(digits) || (keylen && !key)) return UINT32_MAX;
    EVP_MAC_CTX *ctx = otp_ctx_new(key, keylen, digest);
    uint32_t v = otp_value(ctx, counter, digits);
    EVP_MAC_CTX_free(ctx);
    return v;
}

uint32_t crypto_totp(const uint8_t *key, size_t keylen, int64_t unix_time, int step_seconds, int digits,
                     int algorithm)
{
    if (unix_time < 0 || step_seconds <= 0) return UINT32_MAX;
    return crypto_hotp(key, keylen, (uint64_t)(unix_time / step_seconds), digits, algorithm);
}

int crypto_totp_verify(const uint8_t *key, size_t keylen, const char *code, int64_t unix_time,
                       int step_seconds, int window, int digits, int algorithm, int64_t last_used_step,
                       int64_t *matched_step)
{
    const char *digest = otp_alg_name(algorithm);
    if (!key || keylen < CRYPTO_OTP_MIN_KEY || keylen > CRYPTO_OTP_MAX_KEY || !digest ||
        !otp_digits_ok(digits) || step_seconds <= 0 || window < 0 || window > CRYPTO_OTP_MAX_WINDOW ||
        unix_time < 0)
        return SOCLE_EINTERNAL;
    if (!code) return SOCLE_EINVAL;
    /* What the user typed is not secret: checking its shape may stop at the first bad byte. */
    for (int i = 0; i < digits; i++)
        if (code[i] < '0' || code[i] > '9') return SOCLE_EINVAL;
    if (code[digits] != 0) return SOCLE_EINVAL;

    int64_t t = unix_time / step_seconds;
    EVP_MAC_CTX *ctx = otp_ctx_new(key, keylen, digest);
    uint64_t fresh = 0;  /* the latest matching step above last_used_step, when found */
    uint64_t found = 0;  /* all ones once a fresh step matched */
    uint64_t replay = 0; /* all ones once a used step matched */
    char cand[CRYPTO_OTP_MAX_DIGITS];
    /* Every step of the window is computed and compared, and the bookkeeping is branch-free, so
     * the time taken says nothing about which step (if any) matched. */
    for (int d = -window; d <= window; d++) {
        if ((d < 0 && t < -(int64_t)d) || (d > 0 && t > INT64_MAX - d)) continue; /* public bounds */
        int64_t s = t + d;
        otp_format(otp_value(ctx, (uint64_t)s, digits), digits, cand);
        uint64_t eq = (uint64_t)0 - (uint64_t)(CRYPTO_memcmp(cand, code, (size_t)digits) == 0);
        uint64_t is_new = (uint64_t)0 - (uint64_t)(s > last_used_step); /* public: step numbers */
        fresh = (fresh & ~(eq & is_new)) | ((uint64_t)s & eq & is_new);
        found |= eq & is_new;
        replay |= eq & ~is_new;
    }
    OPENSSL_cleanse(cand, sizeof cand);
    EVP_MAC_CTX_free(ctx);
    if (found) {
        if (matched_step) *matched_step = (int64_t)fresh;
        return 0;
    }
    return replay ? SOCLE_ECONFLICT : SOCLE_EUNAUTHORIZED;
}

int crypto_totp_secret_new(uint8_t *key, size_t keylen, char *b32, size_t b32sz)
{
    if (!key || keylen < CRYPTO_OTP_MIN_KEY || keylen > CRYPTO_OTP_MAX_KEY) return SOCLE_EINTERNAL;
    if (!b32 || b32sz < CRYPTO_BASE32_LEN(keylen) + 1) {
        if (b32 && b32sz) b32[0] = 0;
        return SOCLE_ETOOLARGE;
    }
    id_random_bytes(key, keylen);
    return crypto_base32_encode(key, keylen, b32, b32sz) < 0 ? SOCLE_EINTERNAL : 0;
}

/* A bounded string builder for the URI: appends until out is full, then only counts. */
typedef struct {
    char *out;
    size_t size, len;
} otp_sb;

static void otp_sb_add(otp_sb *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, sb->len++)
        if (sb->len + 1 < sb->size) sb->out[sb->len] = s[i];
}

static void otp_sb_str(otp_sb *sb, const char *s)
{
    otp_sb_add(sb, s, strlen(s));
}

/* otp_sb_pct - s percent-encoded: RFC 3986 unreserved characters and '@' (legal in both the path
 * and the query, and what the key URI format's own examples show) as they are, the rest %XX. */
static void otp_sb_pct(otp_sb *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~' || c == '@') {
            otp_sb_add(sb, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            otp_sb_add(sb, e, 3);
        }
    }
}

/* otp_label_ok - a non-empty issuer or account name without ':' or control characters. */
static int otp_label_ok(const char *s)
{
    if (!s || !*s) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == ':' || *p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

int crypto_totp_uri(char *out, size_t outsz, const char *issuer, const char *account,
                    const char *base32_secret, int digits, int step, int algorithm)
{
    const char *alg = otp_alg_name(algorithm);
    int has_issuer = issuer && *issuer;
    if (out && outsz) out[0] = 0;
    if (!alg || !otp_digits_ok(digits) || step <= 0 || !otp_label_ok(account) ||
        (has_issuer && !otp_label_ok(issuer)) || !base32_secret || !*base32_secret)
        return SOCLE_EINVAL;
    size_t slen = 0;
    for (; base32_secret[slen]; slen++)
        if (!strchr(otp_b32, base32_secret[slen])) return SOCLE_EINVAL;
    if (slen % 8 == 1 || slen % 8 == 3 || slen % 8 == 6) return SOCLE_EINVAL;

    char num[64];
    otp_sb sb = {out, out ? outsz : 0, 0};
    otp_sb_str(&sb, "otpauth://totp/");
    if (has_issuer) {
        otp_sb_pct(&sb, issuer);
        otp_sb_str(&sb, ":");
    }
    otp_sb_pct(&sb, account);
    otp_sb_str(&sb, "?secret=");
    otp_sb_add(&sb, base32_secret, slen);
    if (has_issuer) {
        otp_sb_str(&sb, "&issuer=");
        otp_sb_pct(&sb, issuer);
    }
    snprintf(num, sizeof num, "&algorithm=%s&digits=%d&period=%d", alg, digits, step);
    otp_sb_str(&sb, num);
    if (sb.len + 1 > sb.size || sb.len > INT_MAX) {
        if (out && outsz) OPENSSL_cleanse(out, outsz), out[0] = 0; /* a partial URI holds the secret */
        return SOCLE_ETOOLARGE;
    }
    out[sb.len] = 0;
    return (int)sb.len;
}
