/* test_totp.c - unit tests of src/crypto/totp.c: the RFC 4226 HOTP and RFC 6238 TOTP vectors, the
 * RFC 4648 base32 vectors and hostile base32, verification (window, replay, malformed codes,
 * caller bugs) and the otpauth:// URI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "crypto/totp.h"

static const uint8_t seed20[] = "12345678901234567890";
static const uint8_t seed32[] = "12345678901234567890123456789012";
static const uint8_t seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

static void code_of(uint32_t v, int digits, char *out)
{
    snprintf(out, 16, "%0*u", digits, v);
}

static void test_hotp_rfc4226(void **state)
{
    /* RFC 4226 Appendix D */
    static const uint32_t expected[] = {755224, 287082, 359152, 969429, 338314,
                                        254676, 287922, 162583, 399871, 520489};
    for (uint64_t c = 0; c < 10; c++)
        assert_int_equal(crypto_hotp(seed20, 20, c, 6, CRYPTO_OTP_SHA1), expected[c]);
    /* Leading zeros are part of the code: 8-digit values of the same counters end the same. */
    assert_int_equal(crypto_hotp(seed20, 20, 0, 8, CRYPTO_OTP_SHA1) % 1000000, 755224);
}

static void test_hotp_bad_args(void **state)
{
    assert_int_equal(crypto_hotp(seed20, 20, 0, 5, CRYPTO_OTP_SHA1), UINT32_MAX);
    assert_int_equal(crypto_hotp(seed20, 20, 0, 9, CRYPTO_OTP_SHA1), UINT32_MAX);
    assert_int_equal(crypto_hotp(seed20, 20, 0, 6, 0), UINT32_MAX);
    assert_int_equal(crypto_hotp(seed20, 20, 0, 6, 4), UINT32_MAX);
    assert_int_equal(crypto_hotp(NULL, 20, 0, 6, CRYPTO_OTP_SHA1), UINT32_MAX);
    /* An empty key is legal HMAC (not something verify accepts). */
    assert_true(crypto_hotp(NULL, 0, 0, 6, CRYPTO_OTP_SHA1) < 1000000);
    assert_int_equal(crypto_totp(seed20, 20, -1, 30, 6, CRYPTO_OTP_SHA1), UINT32_MAX);
    assert_int_equal(crypto_totp(seed20, 20, 59, 0, 6, CRYPTO_OTP_SHA1), UINT32_MAX);
}

static void test_totp_rfc6238(void **state)
{
    /* RFC 6238 Appendix B: 8 digits, 30 s steps, T0 = 0, one seed per hash. */
    static const struct {
        int64_t t;
        const char *code[3]; /* SHA1, SHA256, SHA512 */
    } v[] = {
        {59, {"94287082", "46119246", "90693936"}},
        {1111111109, {"07081804", "68084774", "25091201"}},
        {1111111111, {"14050471", "67062674", "99943326"}},
        {1234567890, {"89005924", "91819424", "93441116"}},
        {2000000000, {"69279037", "90698825", "38618901"}},
        {20000000000LL, {"65353130", "77737706", "47863826"}},
    };
    static const int algs[] = {CRYPTO_OTP_SHA1, CRYPTO_OTP_SHA256, CRYPTO_OTP_SHA512};
    const uint8_t *seeds[] = {seed20, seed32, seed64};
    static const size_t lens[] = {20, 32, 64};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (int a = 0; a < 3; a++) {
            char got[16];
            code_of(crypto_totp(seeds[a], lens[a], v[i].t, 30, 8, algs[a]), 8, got);
            assert_string_equal(got, v[i].code[a]);
            /* The same code verifies, at the same step. */
            int64_t step = -7;
            assert_int_equal(
                crypto_totp_verify(seeds[a], lens[a], v[i].code[a], v[i].t, 30, 0, 8, algs[a], -1, &step), 0);
            assert_int_equal(step, v[i].t / 30);
        }
    }
}

static void test_base32_vectors(void **state)
{
    /* RFC 4648 section 10; the encoder writes no padding, the decoder takes both forms. */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *padded[] = {
        "", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
    for (int i = 0; i < 7; i++) {
        char enc[32], bare[32];
        uint8_t dec[32];
        size_t n = strlen(plain[i]), len = 99;
        snprintf(bare, sizeof bare, "%.*s", (int)strcspn(padded[i], "="), padded[i]);
        assert_int_equal(crypto_base32_encode((const uint8_t *)plain[i], n, enc, sizeof enc), strlen(bare));
        assert_string_equal(enc, bare);
        assert_int_equal(strlen(bare), CRYPTO_BASE32_LEN(n));
        assert_int_equal(crypto_base32_decode(padded[i], dec, sizeof dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(dec, plain[i], n);
        len = 99;
        assert_int_equal(crypto_base32_decode(bare, dec, sizeof dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(dec, plain[i], n);
    }
    /* The RFC 6238 SHA-1 seed, as authenticator apps show it. */
    char enc[64];
    assert_int_equal(crypto_base32_encode(seed20, 20, enc, sizeof enc), 32);
    assert_string_equal(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    /* All 256 byte values round-trip. */
    uint8_t all[256], back[256];
    char big[CRYPTO_BASE32_LEN(256) + 1];
    size_t len = 0;
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    assert_int_equal(crypto_base32_encode(all, 256, big, sizeof big), CRYPTO_BASE32_LEN(256));
    assert_int_equal(crypto_base32_decode(big, back, sizeof back, &len), 0);
    assert_int_equal(len, 256);
    assert_memory_equal(all, back, 256);
}

static void test_base32_human_input(void **state)
{
    uint8_t dec[32];
    size_t len = 0;
    /* Lower case, spaces and dashes as people type them. */
    assert_int_equal(crypto_base32_decode("gezd gnbv-gy3t qojq gezd-gnbv gy3t qojq", dec, sizeof dec, &len),
                     0);
    assert_int_equal(len, 20);
    assert_memory_equal(dec, seed20, 20);
    assert_int_equal(crypto_base32_decode("mZxW6yTbOi======", dec, sizeof dec, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(dec, "foobar", 6);
    assert_int_equal(crypto_base32_decode("  ", dec, sizeof dec, &len), 0);
    assert_int_equal(len, 0);
}

static void test_base32_bad_input(void **state)
{
    /* Not in the alphabet (0, 1, 8, 9, punctuation, white space other than ' ', non-ASCII);
     * impossible lengths (1, 3 or 6 characters in the last group); partial or excessive padding;
     * data after padding; non-zero unused bits ("f" is MY, "fo" MZXQ, "foobar" ...OI). */
    static const char *bad[] = {
        "MZXW6YT0",   "MZXW6YT1",         "MZXW6YT8",  "MZXW6YT9", "MZXW6YTB!", "MZXW\t6YTB", "MZXW_6YTB",
        "MZXW+6YTB",  "MZXW/6YTB",        "\xc3\xa9",  "M",        "MZX",       "MZXW6Y",     "MZXW6YTBO",
        "MY=",        "MY=======",        "MZXW6YQ==", "=",        "MY==M===",  "MZ======",   "MZXR====",
        "MZXW6YTBOJ", "MZXW6YTB========",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t dec[32];
        size_t len = 99;
        int rc = crypto_base32_decode(bad[i], dec, sizeof dec, &len);
        if (rc != SOCLE_EINVAL) fail_msg("accepted or wrong error for %zu \"%s\": %d", i, bad[i], rc);
        assert_int_equal(len, 0);
    }
    /* Too small an output buffer: refused, and what was written is wiped. */
    uint8_t small[5] = {0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
    size_t len = 99;
    assert_int_equal(crypto_base32_decode("MZXW6YTBOI", small, sizeof small, &len), SOCLE_ETOOLARGE);
    assert_int_equal(len, 0);
    static const uint8_t zero[5];
    assert_memory_equal(small, zero, 5);
    assert_int_equal(crypto_base32_decode("MZXW6YTB", small, sizeof small, &len), 0);
    assert_int_equal(len, 5);
    assert_int_equal(crypto_base32_decode(NULL, small, sizeof small, &len), SOCLE_EINVAL);
    assert_int_equal(crypto_base32_decode("MY", small, sizeof small, NULL), SOCLE_EINVAL);
    /* Encoder: the output must fit with its NUL. */
    char out[8] = "xxxxxxx";
    assert_int_equal(crypto_base32_encode((const uint8_t *)"fooba", 5, out, 8), SOCLE_ETOOLARGE);
    assert_string_equal(out, "");
    char out9[9];
    assert_int_equal(crypto_base32_encode((const uint8_t *)"fooba", 5, out9, 9), 8);
    assert_string_equal(out9, "MZXW6YTB");
}

/* The 8-digit code of the SHA-1 seed at step s, as a string. */
static const char *code_at(int64_t s, int digits, char *buf)
{
    code_of(crypto_hotp(seed20, 20, (uint64_t)s, digits, CRYPTO_OTP_SHA1), digits, buf);
    return buf;
}

static void test_verify_window(void **state)
{
    const int64_t now = 1234567890, t = now / 30; /* step 41152263 */
    char c[16];
    int64_t m = 0;
    /* Window 1: the previous, current and next steps pass; two away does not. */
    for (int d = -1; d <= 1; d++) {
        m = 0;
        assert_int_equal(
            crypto_totp_verify(seed20, 20, code_at(t + d, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m), 0);
        assert_int_equal(m, t + d);
    }
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t - 2, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
        SOCLE_EUNAUTHORIZED);
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t + 2, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
        SOCLE_EUNAUTHORIZED);
    /* Window 0: only the current step. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t - 1, 6, c), now, 30, 0, 6, CRYPTO_OTP_SHA1, -1, &m),
        SOCLE_EUNAUTHORIZED);
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t, 6, c), now, 30, 0, 6, CRYPTO_OTP_SHA1, -1, NULL), 0);
    /* The step boundary: second 29 of a step is still that step. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t, 6, c), t * 30 + 29, 30, 0, 6, CRYPTO_OTP_SHA1, -1, NULL),
        0);
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t, 6, c), t * 30 + 30, 30, 0, 6, CRYPTO_OTP_SHA1, -1, NULL),
        SOCLE_EUNAUTHORIZED);
    /* A wrong code (one digit off). */
    code_at(t, 6, c);
    c[5] = c[5] == '9' ? '0' : (char)(c[5] + 1);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EUNAUTHORIZED);
    /* The other key of the RFC vectors does not share codes. */
    assert_int_equal(crypto_totp_verify(seed32, 32, code_at(t, 8, c), now, 30, 1, 8, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EUNAUTHORIZED);
    /* Near the epoch the window does not go below step 0. */
    assert_int_equal(crypto_totp_verify(seed20, 20, code_at(0, 6, c), 10, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     0);
    assert_int_equal(m, 0);
    assert_int_equal(crypto_totp_verify(seed20, 20, code_at(1, 6, c), 10, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     0);
    assert_int_equal(m, 1);
    /* Far in the future, one-second steps: the window never overflows. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(INT64_MAX, 6, c), INT64_MAX, 1, 2, 6, CRYPTO_OTP_SHA1, -1, &m),
        0);
    assert_int_equal(m, INT64_MAX);
}

static void test_verify_replay(void **state)
{
    const int64_t now = 2000000000, t = now / 30;
    char c[16];
    int64_t m = 0;
    /* Accepted once, then refused as a replay, in the same step and in the next one. */
    assert_int_equal(crypto_totp_verify(seed20, 20, code_at(t, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     0);
    assert_int_equal(m, t);
    int64_t last = m;
    m = 12345;
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 30, 1, 6, CRYPTO_OTP_SHA1, last, &m),
                     SOCLE_ECONFLICT);
    assert_int_equal(m, 12345); /* untouched on failure */
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now + 30, 30, 1, 6, CRYPTO_OTP_SHA1, last, &m),
                     SOCLE_ECONFLICT);
    /* An older code is refused too, even inside the window. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t - 1, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, last, &m),
        SOCLE_ECONFLICT);
    /* The next step's code is still good, and moves the mark. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t + 1, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, last, &m), 0);
    assert_int_equal(m, t + 1);
    /* Out of the window and already used: a wrong code, not a replay. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t - 5, 6, c), now, 30, 1, 6, CRYPTO_OTP_SHA1, t + 1, &m),
        SOCLE_EUNAUTHORIZED);
}

/* Two steps with the same 6-digit code: the latest fresh one is the one taken (so the digits
 * cannot be played again at the later step). Steps 910737 and 910738 of the SHA-1 seed both give
 * 911617 (found by an offline search with Python's hmac module). */
static void test_verify_collision_takes_latest(void **state)
{
    char a[16], b[16];
    const int64_t s = 910737;
    assert_string_equal(code_at(s, 6, a), "911617");
    assert_string_equal(code_at(s + 1, 6, b), "911617");
    assert_string_not_equal(code_at(s - 1, 6, b), "911617");
    int64_t m = 0;
    assert_int_equal(crypto_totp_verify(seed20, 20, a, (s + 1) * 30, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m), 0);
    assert_int_equal(m, s + 1);
    /* With the later step used, the same digits are a replay. */
    assert_int_equal(crypto_totp_verify(seed20, 20, a, (s + 1) * 30, 30, 1, 6, CRYPTO_OTP_SHA1, s + 1, &m),
                     SOCLE_ECONFLICT);
    /* With only the earlier one used, the later is still good. */
    assert_int_equal(crypto_totp_verify(seed20, 20, a, (s + 1) * 30, 30, 1, 6, CRYPTO_OTP_SHA1, s, &m), 0);
    assert_int_equal(m, s + 1);
}

static void test_verify_malformed(void **state)
{
    const int64_t now = 1111111111, t = now / 30;
    char c[16], buf[32];
    int64_t m = 0;
    code_at(t, 6, c);
    static const char *bad[] = {"",       "12345",  "1234567", " 123456",      "123456 ", "12345a",
                                "-12345", "+12345", "12 345",  "１２３４５６", "123456\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(crypto_totp_verify(seed20, 20, bad[i], now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                         SOCLE_EINVAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, NULL, now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINVAL);
    /* The right code with a trailing character, or as 8 digits when 6 are expected. */
    snprintf(buf, sizeof buf, "%s0", c);
    assert_int_equal(crypto_totp_verify(seed20, 20, buf, now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINVAL);
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t, 8, buf), now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
        SOCLE_EINVAL);
    /* 7 digits work when asked for. */
    assert_int_equal(
        crypto_totp_verify(seed20, 20, code_at(t, 7, buf), now, 30, 1, 7, CRYPTO_OTP_SHA1, -1, &m), 0);
    /* Caller bugs. */
    static const uint8_t short_key[15] = {1};
    assert_int_equal(crypto_totp_verify(short_key, 15, c, now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(NULL, 20, c, now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    uint8_t long_key[65] = {0};
    assert_int_equal(crypto_totp_verify(long_key, 65, c, now, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 0, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 30, -1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    assert_int_equal(
        crypto_totp_verify(seed20, 20, c, now, 30, CRYPTO_OTP_MAX_WINDOW + 1, 6, CRYPTO_OTP_SHA1, -1, &m),
        SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 30, 1, 5, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 30, 1, 9, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, now, 30, 1, 6, 0, -1, &m), SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_verify(seed20, 20, c, -1, 30, 1, 6, CRYPTO_OTP_SHA1, -1, &m),
                     SOCLE_EINTERNAL);
}

static void test_secret_new(void **state)
{
    uint8_t k1[20], k2[20], dec[20];
    char b1[CRYPTO_BASE32_LEN(20) + 1], b2[sizeof b1];
    size_t len = 0;
    assert_int_equal(crypto_totp_secret_new(k1, 20, b1, sizeof b1), 0);
    assert_int_equal(crypto_totp_secret_new(k2, 20, b2, sizeof b2), 0);
    assert_memory_not_equal(k1, k2, 20);
    assert_int_equal(strlen(b1), 32);
    assert_int_equal(crypto_base32_decode(b1, dec, sizeof dec, &len), 0);
    assert_int_equal(len, 20);
    assert_memory_equal(dec, k1, 20);
    assert_int_equal(crypto_totp_secret_new(k1, 15, b1, sizeof b1), SOCLE_EINTERNAL);
    assert_int_equal(crypto_totp_secret_new(k1, 20, b1, 32), SOCLE_ETOOLARGE);
}

static void test_uri(void **state)
{
    char out[512];
    int n = crypto_totp_uri(out, sizeof out, "ACME Co", "john.doe@email.com", "JBSWY3DPEHPK3PXP", 6, 30,
                            CRYPTO_OTP_SHA1);
    const char *want = "otpauth://totp/ACME%20Co:john.doe@email.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co"
                       "&algorithm=SHA1&digits=6&period=30";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    /* Reserved characters, '+', '%', non-ASCII (UTF-8 bytes), other parameters. */
    n = crypto_totp_uri(out, sizeof out, "Pro Santé Connect (e-CPS)", "a+b&c=d/e?f#g%h",
                        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 8, 60, CRYPTO_OTP_SHA512);
    assert_true(n > 0);
    assert_string_equal(
        out, "otpauth://totp/Pro%20Sant%C3%A9%20Connect%20%28e-CPS%29:a%2Bb%26c%3Dd%2Fe%3Ff%23g%25h"
             "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
             "&issuer=Pro%20Sant%C3%A9%20Connect%20%28e-CPS%29&algorithm=SHA512&digits=8&period=60");
    /* No issuer. */
    assert_true(crypto_totp_uri(out, sizeof out, NULL, "ps-0012345", "MZXW6YTB", 7, 30, CRYPTO_OTP_SHA256) >
                0);
    assert_string_equal(out, "otpauth://totp/ps-0012345?secret=MZXW6YTB&algorithm=SHA256&digits=7&period=30");
    assert_true(crypto_totp_uri(out, sizeof out, "", "x", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1) > 0);
    assert_string_equal(out, "otpauth://totp/x?secret=MZXW6YTB&algorithm=SHA1&digits=6&period=30");

    /* Refused arguments. */
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A:B", "x", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x:y", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x\ny", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", NULL, "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "mzxw6ytb", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "MZXW6YTB&x=1", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "MY======", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "MZX", 6, 30, CRYPTO_OTP_SHA1), SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "", 6, 30, CRYPTO_OTP_SHA1), SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "MZXW6YTB", 9, 30, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "MZXW6YTB", 6, 0, CRYPTO_OTP_SHA1),
                     SOCLE_EINVAL);
    assert_int_equal(crypto_totp_uri(out, sizeof out, "A", "x", "MZXW6YTB", 6, 30, 7), SOCLE_EINVAL);

    /* Exactly fitting, and one byte short (no partial URI left behind: it holds the secret). */
    const char *exp = "otpauth://totp/x?secret=MZXW6YTB&algorithm=SHA1&digits=6&period=30";
    size_t need = strlen(exp) + 1;
    char tight[128];
    assert_int_equal(crypto_totp_uri(tight, need, NULL, "x", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1), need - 1);
    assert_string_equal(tight, exp);
    memset(tight, 'z', sizeof tight);
    assert_int_equal(crypto_totp_uri(tight, need - 1, NULL, "x", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_ETOOLARGE);
    assert_string_equal(tight, "");
    assert_null(memmem(tight, need - 1, "MZXW6YTB", 8));
    assert_int_equal(crypto_totp_uri(NULL, 0, NULL, "x", "MZXW6YTB", 6, 30, CRYPTO_OTP_SHA1),
                     SOCLE_ETOOLARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),
        cmocka_unit_test(test_hotp_bad_args),
        cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_base32_vectors),
        cmocka_unit_test(test_base32_human_input),
        cmocka_unit_test(test_base32_bad_input),
        cmocka_unit_test(test_verify_window),
        cmocka_unit_test(test_verify_replay),
        cmocka_unit_test(test_verify_collision_takes_latest),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_secret_new),
        cmocka_unit_test(test_uri),
    };
    return cmocka_run_group_tests_name("totp", tests, NULL, NULL);
}
