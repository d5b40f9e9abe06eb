/* test_auth.c - unit tests of src/auth: token issue and verification (every refusal reason), the
 * verified-token cache (also under 4 threads), trusted issuers from JWKS files, and the policy
 * engine with the foundation's rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"
#include "base/buf.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/timeutil.h"

#define ISS "https://socle.test"
#define AUD "socle"
#define PSC "https://psc.test"

static char tmpdir[64];
static crypto_key *server_key, *other_key;
static EVP_PKEY *rsa;

static crypto_key *make_key(const char *name)
{
    char path[256];
    crypto_key *k = NULL;
    socle_err err;
    snprintf(path, sizeof path, "%s/%s.pem", tmpdir, name);
    if (crypto_key_load_or_create(path, &k, &err)) return NULL;
    return k;
}

static int setup(void **state)
{
    log_set_level(LOG_ERROR);
    strcpy(tmpdir, "/tmp/socle-test-auth-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    server_key = make_key("server");
    other_key = make_key("other");
    rsa = EVP_RSA_gen(2048);
    return server_key && other_key && rsa ? 0 : -1;
}

static int teardown(void **state)
{
    crypto_key_free(server_key);
    crypto_key_free(other_key);
    EVP_PKEY_free(rsa);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static auth_verifier *verifier(const char *trusted, int cache)
{
    auth_verifier_options o = {.server_key = server_key,
                               .issuer = ISS,
                               .audience = AUD,
                               .trusted_issuers = trusted,
                               .cache_entries = cache};
    auth_verifier *v = NULL;
    socle_err err;
    if (auth_verifier_new(&o, &v, &err)) fail_msg("verifier: %s", err.msg);
    return v;
}

static char *issue(const char *sub, auth_kind kind)
{
    auth_token_request r = {.kind = kind,
                            .sub = sub,
                            .profession = "10",
                            .structure = "1750000001",
                            .roles = {"doctor", "auditor"},
                            .nroles = 2,
                            .issuer = ISS,
                            .audience = AUD};
    char *t = NULL;
    socle_err err;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), 0);
    return t;
}

/* A token with the given payload, signed by key. */
static char *sign_payload(const crypto_key *key, const char *fmt, ...)
{
    char payload[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(payload, sizeof payload, fmt, ap);
    va_end(ap);
    char *t = NULL;
    socle_err err;
    assert_int_equal(crypto_jws_sign(key, payload, &t, &err), 0);
    return t;
}

/* A token with an arbitrary header; signed with the RSA key when rsa_sign, else carrying sig64. */
static char *raw_token(const char *header, const char *payload, int rsa_sign, const char *sig64)
{
    socle_buf b = SOCLE_BUF_INIT;
    char enc[8192];
    crypto_b64url_encode((const uint8_t *)header, strlen(header), enc);
    buf_puts(&b, enc);
    buf_putc(&b, '.');
    crypto_b64url_encode((const uint8_t *)payload, strlen(payload), enc);
    buf_puts(&b, enc);
    if (rsa_sign) {
        uint8_t sig[512];
        size_t siglen = sizeof sig;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, rsa, NULL), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)b.data, b.len), 1);
        EVP_MD_CTX_free(ctx);
        crypto_b64url_encode(sig, siglen, enc);
        sig64 = enc;
    }
    buf_putc(&b, '.');
    buf_puts(&b, sig64);
    return buf_take(&b, NULL);
}

static long long now_s(void)
{
    return time_now_ms() / 1000;
}

static void expect_refused(auth_verifier *v, const char *token, const char *msg)
{
    auth_subject s;
    socle_err err;
    memset(&s, 0x55, sizeof s);
    assert_int_equal(auth_verify_token(v, token, &s, &err), SOCLE_EUNAUTHORIZED);
    if (strcmp(err.msg, msg)) fail_msg("expected \"%s\", got \"%s\"", msg, err.msg);
    assert_int_equal(s.kind, AUTH_KIND_NONE); /* nothing usable is left behind */
    assert_string_equal(s.sub, "");
}

static void test_issue_verify(void **state)
{
    auth_verifier *v = verifier(NULL, 0);
    char *t = issue("810001234567", AUTH_KIND_PROFESSIONAL);
    auth_subject s;
    socle_err err;
    char hdr[8192];
    snprintf(hdr, sizeof hdr, "Bearer %s", t);
    assert_int_equal(auth_verify_bearer(v, hdr, &s, &err), 0);
    assert_int_equal(s.kind, AUTH_KIND_PROFESSIONAL);
    assert_string_equal(s.sub, "810001234567");
    assert_string_equal(s.profession, "10");
    assert_string_equal(s.structure, "1750000001");
    assert_string_equal(s.issuer, ISS);
    assert_int_equal(strlen(s.token_id), 36);
    assert_int_equal(s.nroles, 2);
    assert_true(auth_has_role(&s, "doctor"));
    assert_true(auth_has_role(&s, "auditor"));
    assert_false(auth_has_role(&s, "admin"));
    assert_true(s.expires_ms > time_now_ms() + 3500 * 1000LL &&
                s.expires_ms <= time_now_ms() + 3600 * 1000LL);

    /* the scheme is case-insensitive, followed by exactly one space */
    snprintf(hdr, sizeof hdr, "bEARER %s", t);
    assert_int_equal(auth_verify_bearer(v, hdr, &s, &err), 0);
    snprintf(hdr, sizeof hdr, "Bearer  %s", t);
    assert_int_equal(auth_verify_bearer(v, hdr, &s, &err), SOCLE_EUNAUTHORIZED);
    snprintf(hdr, sizeof hdr, "Basic %s", t);
    assert_int_equal(auth_verify_bearer(v, hdr, &s, &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "no bearer token");
    assert_int_equal(auth_verify_bearer(v, NULL, &s, &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "no bearer token");
    assert_int_equal(auth_verify_bearer(v, "Bearer ", &s, &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(auth_verify_bearer(v, "Bearer", &s, &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(auth_verify_token(v, "", &s, &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "no bearer token");
    snprintf(hdr, sizeof hdr, "Bearer %s ", t); /* trailing junk is part of the token: refused */
    assert_int_equal(auth_verify_bearer(v, hdr, &s, &err), SOCLE_EUNAUTHORIZED);
    free(t);

    /* minimal: a patient, no profession, structure or roles */
    auth_token_request r = {
        .kind = AUTH_KIND_PATIENT, .sub = "1234567890123", .issuer = ISS, .audience = AUD, .ttl_seconds = 60};
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), 0);
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0);
    assert_int_equal(s.kind, AUTH_KIND_PATIENT);
    assert_string_equal(s.profession, "");
    assert_int_equal(s.nroles, 0);
    free(t);
    auth_verifier_free(v);
}

static void test_issue_rejects(void **state)
{
    char *t = (char *)1;
    socle_err err;
    char longsub[200];
    memset(longsub, 'a', sizeof longsub - 1);
    longsub[sizeof longsub - 1] = 0;
    auth_token_request ok = {.kind = AUTH_KIND_SYSTEM, .sub = "app", .issuer = ISS, .audience = AUD};
    auth_token_request r = ok;
    r.sub = "";
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    assert_null(t);
    r = ok, r.sub = longsub;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    r = ok, r.kind = AUTH_KIND_NONE;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    r = ok, r.nroles = AUTH_MAX_ROLES + 1;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    r = ok, r.nroles = 1, r.roles[0] = longsub;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    r = ok, r.issuer = NULL;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    r = ok, r.ttl_seconds = -5;
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    r = ok, r.sub = "\xff\xfe"; /* not UTF-8 */
    assert_int_equal(auth_token_issue(server_key, &r, &t, &err), SOCLE_EINVAL);
    /* a public-only key cannot issue */
    char *jwk = crypto_key_public_jwk(server_key);
    crypto_key *pub = NULL;
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &pub, &err), 0);
    assert_int_not_equal(auth_token_issue(pub, &ok, &t, &err), 0);
    crypto_key_free(pub);
    free(jwk);
}

static void test_claims_refused(void **state)
{
    auth_verifier *v = verifier(NULL, 0);
    long long now = now_s();
    struct {
        const char *payload_fmt;
        long long t;
        const char *msg;
    } cases[] = {
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now - 3600, "token expired"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now - 61, "token expired"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD
         "\",\"exp\":9999999999,\"nbf\":%lld,\"socle_kind\":\"system\"}",
         now + 3600, "token not yet valid"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD
         "\",\"exp\":9999999999,\"iat\":%lld,\"socle_kind\":\"system\"}",
         now + 3600, "token issued in the future"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"other\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "wrong audience"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":[\"x\",\"y\"],\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "wrong audience"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"exp\":%lld,\"socle_kind\":\"system\"}", now + 600,
         "wrong audience"},
        {"{\"iss\":\"https://evil.test\",\"sub\":\"a\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "unknown issuer"},
        {"{\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\"}", now + 600,
         "token has no valid iss"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld}", now + 600,
         "token has no socle_kind"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"profession\":\"10\"}",
         now + 600, "token has no socle_kind"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"root\"}",
         now + 600, "unknown socle_kind"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":1}", now + 600,
         "unknown socle_kind"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "token has no valid sub"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\"}", now + 600,
         "token has no valid sub"},
        {"{\"iss\":\"" ISS
         "\",\"sub\":"
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "token has no valid sub"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\\u0000b\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "malformed token"}, /* jansson refuses NUL in strings */
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"socle_kind\":\"system\",\"x\":%lld}", now,
         "token has no exp"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":\"%lld\",\"socle_kind\":\"system\"}",
         now + 600, "malformed token"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\","
         "\"roles\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
         now + 600, "token has more than 8 roles"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\",\"roles\":\"admin\"}",
         now + 600, "token claim roles is not an array"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\",\"roles\":[7]}",
         now + 600, "token claim roles is not valid"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\",\"profession\":"
         "\"01234567890123456789\"}",
         now + 600, "token claim profession is not valid"},
        {"{\"iss\":\"" ISS "\",\"sub\":\"a\",\"sub\":\"b\",\"aud\":\"" AUD
         "\",\"exp\":%lld,\"socle_kind\":\"system\"}",
         now + 600, "malformed token"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *t = sign_payload(server_key, cases[i].payload_fmt, cases[i].t);
        expect_refused(v, t, cases[i].msg);
        expect_refused(v, t, cases[i].msg); /* refusals are not cached as successes */
        free(t);
    }
    /* accepted: nbf inside the 60 s skew, audience in an array, fractional times (exp is strict) */
    auth_subject s;
    socle_err err;
    char *t = sign_payload(server_key,
                           "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":[\"x\",\"" AUD
                           "\"],\"exp\":%lld.5,\"nbf\":%lld,"
                           "\"socle_kind\":\"system\"}",
                           now + 30, now + 30);
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0);
    assert_int_equal(s.kind, AUTH_KIND_SYSTEM);
    free(t);
    auth_verifier_free(v);
}

static void test_signature_and_alg(void **state)
{
    auth_verifier *v = verifier(NULL, 0);
    char *t = issue("a", AUTH_KIND_SYSTEM);
    /* flip one character in the middle of the signature */
    char *bad = strdup(t);
    char *c = strrchr(bad, '.') + 10;
    *c = *c == 'A' ? 'B' : 'A';
    expect_refused(v, bad, "bad signature");
    free(bad);
    /* another payload under the original signature */
    char *forged = issue("b", AUTH_KIND_SYSTEM);
    size_t head = (size_t)(strrchr(forged, '.') - forged);
    socle_buf b = SOCLE_BUF_INIT;
    buf_append(&b, forged, head);
    buf_puts(&b, strrchr(t, '.'));
    expect_refused(v, b.data, "bad signature");
    buf_free(&b);
    free(forged);
    free(t);

    /* signed by another EC key: without a kid the server key is tried and fails, with its kid it is unknown
     */
    long long exp = now_s() + 600;
    const char *pl_fmt =
        "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":%lld,\"socle_kind\":\"system\"}";
    t = sign_payload(other_key, pl_fmt, exp);
    expect_refused(v, t, "unknown signing key");
    free(t);
    char payload[512];
    snprintf(payload, sizeof payload, pl_fmt, exp);
    /* alg none, HS256 and friends are refused whatever the signature */
    t = raw_token("{\"alg\":\"none\"}", payload, 0, "");
    expect_refused(v, t, "malformed token");
    free(t);
    static const char *algs[] = {"{\"alg\":\"none\"}",  "{\"alg\":\"HS256\"}", "{\"alg\":\"ES384\"}",
                                 "{\"alg\":\"es256\"}", "{\"typ\":\"JWT\"}",   "{\"alg\":256}"};
    for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
        t = raw_token(algs[i], payload, 0, "AAAA");
        expect_refused(v, t, "unsupported token algorithm (ES256 or RS256)");
        free(t);
    }
    /* RS256 claimed for the server's EC key */
    t = raw_token("{\"alg\":\"RS256\"}", payload, 1, NULL);
    expect_refused(v, t, "token algorithm does not match the issuer's key");
    free(t);
    t = raw_token("{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", payload, 0, "AAAA");
    expect_refused(v, t, "unsupported critical header parameters");
    free(t);
    t = raw_token("{\"alg\":\"ES256\",\"kid\":5}", payload, 0, "AAAA");
    expect_refused(v, t, "malformed token");
    free(t);
    /* ES256 with the right shape but a signature of zeros */
    char zeros[100];
    uint8_t z[64] = {0};
    crypto_b64url_encode(z, 64, zeros);
    t = raw_token("{\"alg\":\"ES256\"}", payload, 0, zeros);
    expect_refused(v, t, "bad signature");
    free(t);
    auth_verifier_free(v);
}

static void test_garbage_never_crashes(void **state)
{
    auth_verifier *v = verifier(NULL, 64);
    char *t = issue("a", AUTH_KIND_SYSTEM);
    size_t n = strlen(t);
    auth_subject s;
    socle_err err;
    char *m = malloc(n + 1);
    for (size_t i = 0; i < n; i++) { /* truncations */
        memcpy(m, t, i);
        m[i] = 0;
        assert_int_not_equal(auth_verify_token(v, m, &s, &err), 0);
    }
    for (int i = 0; i < 3000; i++) { /* random single-byte mutations */
        memcpy(m, t, n + 1);
        uint32_t r;
        id_random_bytes(&r, sizeof r);
        m[r % n] = (char)((r >> 8) & 0xff) ?: '.';
        if (strcmp(m, t)) assert_int_not_equal(auth_verify_token(v, m, &s, &err), 0);
    }
    free(m);
    static const char *junk[] = {
        ".", "..", "a.b.c.d", "e30.e30.e30", "eyJhbGciOiJFUzI1NiJ9..", "\xff\xfe.\x01.x"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        assert_int_not_equal(auth_verify_token(v, junk[i], &s, &err), 0);
    char *huge = malloc(100001);
    memset(huge, 'e', 100000);
    huge[100000] = 0;
    huge[10] = huge[20] = '.';
    assert_int_equal(auth_verify_token(v, huge, &s, &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "token too large");
    free(huge);
    /* the good token still works after all that */
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0);
    free(t);
    auth_verifier_free(v);
}

static void test_cache_hit(void **state)
{
    auth_verifier *v = verifier(NULL, 0);
    char *t = issue("810001234567", AUTH_KIND_PROFESSIONAL);
    auth_subject a, b;
    socle_err err;
    assert_int_equal(auth_verify_token(v, t, &a, &err), 0);
    assert_int_equal(auth_verify_token(v, t, &b, &err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    free(t);
    auth_verifier_free(v);
}

/* The cache itself: bounded, expired entries go first, keys compared in full. */
static void test_cache_direct(void **state)
{
    auth_cache *c = auth_cache_new(4); /* one bucket of 4 ways */
    assert_non_null(c);
    int64_t now = time_now_ms();
    uint8_t key[6][32];
    auth_subject s, out;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 6; i++) {
        memset(key[i], 0, 32);
        key[i][31] = (uint8_t)i; /* same bucket, differ only at the end */
    }
    for (int i = 0; i < 4; i++) {
        snprintf(s.sub, sizeof s.sub, "s%d", i);
        s.expires_ms = i == 2 ? now - 3600 * 1000 : now + 3600 * 1000; /* s2 is long expired */
        auth_cache_put(c, key[i], &s, now);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(auth_cache_get(c, key[i], &out), 1);
        assert_int_equal(out.sub[1], '0' + i);
    }
    assert_int_equal(auth_cache_get(c, key[5], &out), 0);
    snprintf(s.sub, sizeof s.sub, "s4");
    s.expires_ms = now + 3600 * 1000;
    auth_cache_put(c, key[4], &s, now);
    assert_int_equal(auth_cache_get(c, key[2], &out), 0); /* the expired one made room */
    for (int i = 0; i < 5; i++)
        if (i != 2) assert_int_equal(auth_cache_get(c, key[i], &out), 1);
    snprintf(s.sub, sizeof s.sub, "s5");
    auth_cache_put(c, key[5], &s, now); /* full: one live entry goes, never more */
    int present = 0;
    for (int i = 0; i < 6; i++)
        present += auth_cache_get(c, key[i], &out);
    assert_int_equal(present, 4);
    assert_int_equal(auth_cache_get(c, key[5], &out), 1);
    assert_string_equal(out.sub, "s5");
    auth_cache_free(c);
}

#define NTOK 40
typedef struct thread_arg {
    auth_verifier *v;
    char **tokens;
    int failures;
    int seed;
} thread_arg;

static void *thread_verify(void *p)
{
    thread_arg *a = p;
    for (int round = 0; round < 300; round++) {
        int i = (round * 7 + a->seed * 13) % NTOK;
        auth_subject s;
        socle_err err;
        char expected[32];
        snprintf(expected, sizeof expected, "user-%d", i);
        if (auth_verify_token(a->v, a->tokens[i], &s, &err) || strcmp(s.sub, expected) ||
            s.kind != AUTH_KIND_PROFESSIONAL || s.nroles != 2)
            a->failures++;
    }
    return NULL;
}

static void test_cache_threads(void **state)
{
    /* a small cache, so threads also evict each other's entries while reading */
    auth_verifier *v = verifier(NULL, 8);
    char *tokens[NTOK];
    for (int i = 0; i < NTOK; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "user-%d", i);
        tokens[i] = issue(sub, AUTH_KIND_PROFESSIONAL);
    }
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){.v = v, .tokens = tokens, .seed = i};
        assert_int_equal(pthread_create(&th[i], NULL, thread_verify, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    for (int i = 0; i < NTOK; i++)
        free(tokens[i]);
    auth_verifier_free(v);
}

static char *write_jwks(const char *name, const char *content)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    return path;
}

static char *rsa_public_jwk(const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &e);
    uint8_t nb[512], eb[8];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char ns[800], es[16];
    crypto_b64url_encode(nb, (size_t)nl, ns);
    crypto_b64url_encode(eb, (size_t)el, es);
    BN_free(n);
    BN_free(e);
    socle_buf b = SOCLE_BUF_INIT;
    buf_printf(&b, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\",\"use\":\"sig\"}", kid, ns, es);
    return buf_take(&b, NULL);
}

static void test_trusted_issuer(void **state)
{
    char *ec = crypto_key_public_jwk(other_key), *rs = rsa_public_jwk("psc-rsa");
    char doc[4096], spec[1024];
    /* an encryption key in the set is skipped, not fatal */
    snprintf(doc, sizeof doc,
             "{\"keys\":[%s,%s,{\"kty\":\"EC\",\"use\":\"enc\",\"crv\":\"P-256\",\"x\":\"a\",\"y\":\"b\"}]}",
             ec, rs);
    snprintf(spec, sizeof spec, " %s=%s; https://other.test=%s", PSC, write_jwks("psc.json", doc),
             write_jwks("other.json", doc));
    auth_verifier *v = verifier(spec, 0);
    long long exp = now_s() + 600;
    const char *fmt = "{\"iss\":\"%s\",\"sub\":\"899700000001\",\"aud\":\"" AUD "\",\"exp\":%lld,"
                      "\"socle_kind\":\"professional\",\"profession\":\"10\"}";
    char payload[512];
    snprintf(payload, sizeof payload, fmt, PSC, exp);
    auth_subject s;
    socle_err err;

    /* ES256 from the trusted issuer's key (jws_sign puts its kid in the header) */
    char *t = sign_payload(other_key, fmt, PSC, exp);
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0);
    assert_string_equal(s.issuer, PSC);
    assert_string_equal(s.sub, "899700000001");
    free(t);
    /* RS256 with its kid; and without a kid, since only one RS256 key is in the set */
    t = raw_token("{\"alg\":\"RS256\",\"kid\":\"psc-rsa\"}", payload, 1, NULL);
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0);
    assert_string_equal(s.issuer, PSC);
    free(t);
    t = raw_token("{\"alg\":\"RS256\"}", payload, 1, NULL);
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0);
    free(t);
    /* wrong kid, kid of a key of the other type, tampered signature */
    t = raw_token("{\"alg\":\"RS256\",\"kid\":\"nope\"}", payload, 1, NULL);
    expect_refused(v, t, "unknown signing key");
    free(t);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", crypto_key_kid(other_key));
    t = raw_token(hdr, payload, 1, NULL);
    expect_refused(v, t, "token algorithm does not match the issuer's key");
    free(t);
    /* a trusted issuer's key cannot speak for this server's issuer, nor for the other trusted issuer */
    t = sign_payload(other_key, fmt, ISS, exp);
    expect_refused(v, t, "unknown signing key");
    free(t);
    snprintf(payload, sizeof payload, fmt, "https://other.test", exp);
    t = raw_token("{\"alg\":\"RS256\"}", payload, 1, NULL);
    assert_int_equal(auth_verify_token(v, t, &s, &err), 0); /* same keys were configured for it: fine */
    free(t);
    /* the server key is not trusted for PSC's issuer */
    t = sign_payload(server_key, fmt, PSC, exp);
    expect_refused(v, t, "unknown signing key");
    free(t);
    auth_verifier_free(v);

    /* configuration errors */
    auth_verifier_options o = {.server_key = server_key, .issuer = ISS, .audience = AUD};
    auth_verifier *bad = NULL;
    const char *specs[] = {"nonsense", "=path", "iss=", "iss=/nonexistent/jwks.json", NULL, NULL, NULL};
    specs[4] = spec;
    snprintf(spec, sizeof spec, "%s=%s", PSC, write_jwks("empty.json", "{\"keys\":[]}"));
    char spec2[512], spec3[512];
    snprintf(spec2, sizeof spec2, "%s=%s", PSC, write_jwks("notjson.json", "not json"));
    snprintf(spec3, sizeof spec3, "%s=%s", PSC, write_jwks("nokeys.json", "{\"k\":[]}"));
    specs[5] = spec2;
    specs[6] = spec3;
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        o.trusted_issuers = specs[i];
        assert_int_not_equal(auth_verifier_new(&o, &bad, &err), 0);
        assert_null(bad);
    }
    o.trusted_issuers = NULL;
    o.audience = "";
    assert_int_equal(auth_verifier_new(&o, &bad, &err), SOCLE_EINVAL);
    free(ec);
    free(rs);
}

/* --- policy --- */

static auth_subject subject(auth_kind kind, const char *role)
{
    auth_subject s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    strcpy(s.sub, "x");
    if (role) {
        strcpy(s.roles[0], role);
        s.nroles = 1;
    }
    return s;
}

static int decide(const auth_policy *p, const auth_subject *s, auth_action a, const char *type,
                  auth_decision *d)
{
    auth_target t = {.resource_type = type};
    auth_policy_decide(p, s, a, &t, d);
    return d->allowed;
}

static void test_policy_foundation(void **state)
{
    auth_policy *p = auth_policy_new();
    assert_int_equal(auth_policy_add_foundation_rules(p), 0);
    auth_decision d;
    auth_subject admin = subject(AUTH_KIND_PROFESSIONAL, "admin"), sys = subject(AUTH_KIND_SYSTEM, NULL),
                 auditor = subject(AUTH_KIND_PROFESSIONAL, "auditor"),
                 pro = subject(AUTH_KIND_PROFESSIONAL, "doctor"), patient = subject(AUTH_KIND_PATIENT, NULL),
                 sysadmin = subject(AUTH_KIND_SYSTEM, "admin");

    assert_true(decide(p, &admin, AUTH_ACTION_DELETE, "Patient", &d));
    assert_string_equal(d.rule, "admin-role");
    assert_true(decide(p, &admin, AUTH_ACTION_READ, "AuditEvent", &d));

    assert_true(decide(p, &sys, AUTH_ACTION_CREATE, "Patient", &d));
    assert_string_equal(d.rule, "system-subject");
    assert_true(decide(p, &sys, AUTH_ACTION_SEARCH, "DocumentReference", &d));
    assert_true(decide(p, &sys, AUTH_ACTION_CREATE, "AuditEvent", &d));
    assert_false(decide(p, &sys, AUTH_ACTION_READ, "AuditEvent", &d));
    assert_string_equal(d.rule, "default-deny");
    assert_string_equal(d.reason, "no rule allows read on AuditEvent");
    assert_false(decide(p, &sys, AUTH_ACTION_SEARCH, "AuditEvent", &d));
    assert_false(decide(p, &sys, AUTH_ACTION_HISTORY, "AuditEvent", &d));
    assert_true(decide(p, &sysadmin, AUTH_ACTION_READ, "AuditEvent", &d)); /* the role still counts */

    assert_true(decide(p, &auditor, AUTH_ACTION_READ, "AuditEvent", &d));
    assert_string_equal(d.rule, "auditor-role");
    assert_true(decide(p, &auditor, AUTH_ACTION_SEARCH, "AuditEvent", &d));
    assert_false(decide(p, &auditor, AUTH_ACTION_CREATE, "AuditEvent", &d));
    assert_false(decide(p, &auditor, AUTH_ACTION_READ, "Patient", &d));

    assert_false(decide(p, &pro, AUTH_ACTION_READ, "Patient", &d));
    assert_string_equal(d.rule, "default-deny");
    assert_string_equal(d.reason, "no rule allows read on Patient");
    assert_false(decide(p, &pro, AUTH_ACTION_READ, "AuditEvent", &d));

    static const char *dir[] = {"Practitioner", "PractitionerRole", "Organization", "Location",
                                "HealthcareService"};
    for (int i = 0; i < 5; i++) {
        assert_true(decide(p, &pro, AUTH_ACTION_READ, dir[i], &d));
        assert_string_equal(d.rule, "directory-read");
        assert_true(decide(p, &patient, AUTH_ACTION_SEARCH, dir[i], &d));
        assert_false(decide(p, &patient, AUTH_ACTION_UPDATE, dir[i], &d));
        assert_false(decide(p, &pro, AUTH_ACTION_CREATE, dir[i], &d));
    }
    assert_false(decide(p, &pro, AUTH_ACTION_READ, "practitioner", &d)); /* exact type names */

    /* nobody changes the audit trail, not even admin or a system */
    for (auth_action a = AUTH_ACTION_UPDATE; a <= AUTH_ACTION_DELETE; a++) {
        assert_false(decide(p, &admin, a, "AuditEvent", &d));
        assert_string_equal(d.rule, "audit-immutable");
        assert_false(decide(p, &sys, a, "AuditEvent", &d));
        assert_false(decide(p, &sysadmin, a, "AuditEvent", &d));
    }
    /* no subject, or an unauthenticated one, is denied before any rule runs */
    assert_false(decide(p, NULL, AUTH_ACTION_READ, "Practitioner", &d));
    assert_string_equal(d.rule, "default-deny");
    auth_subject anon = subject(AUTH_KIND_NONE, "admin");
    assert_false(decide(p, &anon, AUTH_ACTION_READ, "Practitioner", &d));
    auth_policy_decide(p, &admin, AUTH_ACTION_READ, NULL, &d);
    assert_false(d.allowed);
    auth_policy_free(p);
}

static int rule_allow_all(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                          size_t len)
{
    (*(int *)ctx)++;
    snprintf(reason, len, "allow-all says yes");
    return AUTH_ALLOW;
}

static int rule_deny_patient(void *ctx, const auth_subject *s, auth_action a, const auth_target *t,
                             char *reason, size_t len)
{
    (*(int *)ctx)++;
    if (!t->patient_id || strcmp(t->patient_id, "opposed")) return AUTH_ABSTAIN;
    snprintf(reason, len, "the patient opposed access");
    return AUTH_DENY;
}

static int rule_long_reason(void *ctx, const auth_subject *s, auth_action a, const auth_target *t,
                            char *reason, size_t len)
{
    memset(reason, 'r', len); /* a careless rule: no terminator */
    return AUTH_ABSTAIN;
}

static void test_policy_deny_wins(void **state)
{
    auth_policy *p = auth_policy_new();
    int calls_allow = 0, calls_deny = 0;
    assert_int_equal(auth_policy_add_rule(p, "allow-all", rule_allow_all, &calls_allow), 0);
    assert_int_equal(auth_policy_add_rule(p, "sloppy", rule_long_reason, NULL), 0);
    assert_int_equal(auth_policy_add_rule(p, "patient-opposition", rule_deny_patient, &calls_deny), 0);
    assert_int_equal(auth_policy_add_rule(p, "", rule_allow_all, NULL), SOCLE_EINVAL);
    assert_int_equal(auth_policy_add_rule(p, "x", NULL, NULL), SOCLE_EINVAL);
    assert_int_equal(auth_policy_add_rule(p, "a-name-much-longer-than-the-forty-seven-characters-allowed",
                                          rule_allow_all, NULL),
                     SOCLE_EINVAL);
    auth_subject pro = subject(AUTH_KIND_PROFESSIONAL, NULL);
    auth_decision d;
    auth_target t = {.resource_type = "Observation", .patient_id = "p1"};
    auth_policy_decide(p, &pro, AUTH_ACTION_READ, &t, &d);
    assert_true(d.allowed);
    assert_string_equal(d.rule, "allow-all");
    assert_string_equal(d.reason, "allow-all says yes");
    assert_int_equal(calls_deny, 1); /* an ALLOW does not stop the search for a DENY */
    t.patient_id = "opposed";
    auth_policy_decide(p, &pro, AUTH_ACTION_READ, &t, &d);
    assert_false(d.allowed);
    assert_string_equal(d.rule, "patient-opposition");
    assert_string_equal(d.reason, "the patient opposed access");
    auth_policy_free(p);
    /* an empty policy denies everything */
    p = auth_policy_new();
    auth_policy_decide(p, &pro, AUTH_ACTION_OPERATION, &t, &d);
    assert_false(d.allowed);
    assert_string_equal(d.reason, "no rule allows operation on Observation");
    auth_policy_free(p);
}

static void test_names(void **state)
{
    assert_string_equal(auth_kind_name(AUTH_KIND_PROFESSIONAL), "professional");
    assert_string_equal(auth_kind_name(AUTH_KIND_PATIENT), "patient");
    assert_string_equal(auth_kind_name(AUTH_KIND_SYSTEM), "system");
    assert_int_equal(auth_kind_parse("professional"), AUTH_KIND_PROFESSIONAL);
    assert_int_equal(auth_kind_parse("patient"), AUTH_KIND_PATIENT);
    assert_int_equal(auth_kind_parse("system"), AUTH_KIND_SYSTEM);
    assert_int_equal(auth_kind_parse("System"), AUTH_KIND_NONE);
    assert_int_equal(auth_kind_parse(""), AUTH_KIND_NONE);
    assert_int_equal(auth_kind_parse(NULL), AUTH_KIND_NONE);
    static const char *names[] = {"read", "search", "create", "update", "delete", "history", "operation"};
    for (int a = AUTH_ACTION_READ; a <= AUTH_ACTION_OPERATION; a++)
        assert_string_equal(auth_action_name((auth_action)a), names[a - 1]);
    assert_string_equal(auth_action_name((auth_action)0), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_verify),          cmocka_unit_test(test_issue_rejects),
        cmocka_unit_test(test_claims_refused),        cmocka_unit_test(test_signature_and_alg),
        cmocka_unit_test(test_garbage_never_crashes), cmocka_unit_test(test_cache_hit),
        cmocka_unit_test(test_cache_direct),          cmocka_unit_test(test_cache_threads),
        cmocka_unit_test(test_trusted_issuer),        cmocka_unit_test(test_policy_foundation),
        cmocka_unit_test(test_policy_deny_wins),      cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
