/* test_crypto.c - unit tests of src/crypto: hashes, base64 codecs, the signing key file, JWK
 * import, ES256/RS256 signatures, and the JWS splitter on well-formed and hostile input. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/ids.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "crypto/crypto_internal.h"

static char tmpdir[64];

static int setup(void **state)
{
    log_set_level(LOG_WARN);
    strcpy(tmpdir, "/tmp/socle-test-crypto-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void hex_of(const uint8_t *h, size_t n, const char *expected)
{
    char out[129];
    assert_string_equal(crypto_hex(h, n, out), expected);
}

static void test_sha256_hmac(void **state)
{
    uint8_t h[32];
    crypto_sha256("abc", 3, h);
    hex_of(h, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256("", 0, h);
    hex_of(h, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* RFC 4231 test case 2 */
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, h);
    hex_of(h, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    crypto_hmac_sha256("", 0, "", 0, h);
    hex_of(h, 32, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    assert_true(crypto_equal("abcd", "abcd", 4));
    assert_false(crypto_equal("abcd", "abce", 4));
    assert_true(crypto_equal("x", "y", 0));
}

static void test_b64_vectors(void **state)
{
    /* RFC 4648 section 10 */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[32];
        uint8_t dec[32];
        size_t n = strlen(plain[i]), len = 99;
        assert_int_equal(crypto_b64_encode((const uint8_t *)plain[i], n, out), strlen(std[i]));
        assert_string_equal(out, std[i]);
        assert_int_equal(crypto_b64url_encode((const uint8_t *)plain[i], n, out), strlen(url[i]));
        assert_string_equal(out, url[i]);
        assert_int_equal(crypto_b64_decode(std[i], strlen(std[i]), dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(dec, plain[i], n);
        len = 99;
        assert_int_equal(crypto_b64url_decode(url[i], strlen(url[i]), dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(dec, plain[i], n);
        len = 99; /* base64url: padding is optional */
        assert_int_equal(crypto_b64url_decode(std[i], strlen(std[i]), dec, &len), 0);
        assert_int_equal(len, n);
    }
    /* the two alphabets differ in 62 and 63 */
    uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    char out[8];
    crypto_b64_encode(bytes, 3, out);
    assert_string_equal(out, "+/+/");
    crypto_b64url_encode(bytes, 3, out);
    assert_string_equal(out, "-_-_");
}

static void test_b64_rejects(void **state)
{
    static const char *bad_std[] = {
        "Zg=",  "Zg",    "Z===", "Zm9v\n", "Zm 9v", "Zh==",  "=Zg=",      "Zg==Zg==", "Zm9-",
        "Zm9_", "Zm9v=", "Z",    "Zm=v",   "Zm8A=", " Zm9v", "Zm9vYg=\n", "Zm8\0"};
    static const char *bad_url[] = {"Z",     "Zh",  "Zm9+", "Zm9/", "Zm9v\n", "Zm 9",    "Zg=",
                                    "Zg===", "=Zg", "Zg=a", "Zm9",  "Zm9vY",  "Zm8=Zm8="};
    uint8_t out[64];
    size_t len;
    for (size_t i = 0; i < sizeof bad_std / sizeof *bad_std; i++)
        assert_int_equal(crypto_b64_decode(bad_std[i], i == 16 ? 4 : strlen(bad_std[i]), out, &len),
                         SOCLE_EINVAL);
    /* "Zm9" would be "fo" with non-zero leftover bits ("Zm8" is the one encoding of "fo") */
    for (size_t i = 0; i < sizeof bad_url / sizeof *bad_url; i++)
        assert_int_equal(crypto_b64url_decode(bad_url[i], strlen(bad_url[i]), out, &len), SOCLE_EINVAL);
}

/* A character outside the alphabet is refused wherever it stands: inside a group of four decoded
 * at once and in the last, partial group; bytes past ASCII too. */
static void test_b64_bad_character_anywhere(void **state)
{
    uint8_t in[32], out[64];
    char enc[64], bad[64];
    static const char wrong[] = {'!', '-', '_', ' ', '\n', (char)0x80, (char)0xc3, (char)0xff};
    id_random_bytes(in, sizeof in);
    size_t e = crypto_b64_encode(in, sizeof in, enc); /* 44 characters, the last one "=" */
    assert_int_equal(crypto_b64_span(enc, e), e - 1);
    for (size_t at = 0; at + 1 < e; at++)
        for (size_t k = 0; k < sizeof wrong; k++) {
            memcpy(bad, enc, e);
            bad[at] = wrong[k];
            size_t len = 0;
            assert_int_equal(crypto_b64_decode(bad, e, out, &len), SOCLE_EINVAL);
            assert_int_equal(crypto_b64_span(bad, e), at);
        }
    size_t u = crypto_b64url_encode(in, sizeof in, enc); /* 43 characters, no padding */
    for (size_t at = 0; at < u; at++) {
        memcpy(bad, enc, u);
        bad[at] = '+';
        size_t len = 0;
        assert_int_equal(crypto_b64url_decode(bad, u, out, &len), SOCLE_EINVAL);
    }
}

static void test_b64_roundtrip(void **state)
{
    uint8_t in[200], dec[200];
    char enc[300];
    for (size_t n = 0; n <= sizeof in; n++) {
        id_random_bytes(in, n);
        size_t len = 0;
        size_t e = crypto_b64_encode(in, n, enc);
        assert_int_equal(e, (n + 2) / 3 * 4);
        assert_int_equal(crypto_b64_decode(enc, e, dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(in, dec, n);
        e = crypto_b64url_encode(in, n, enc);
        assert_null(strchr(enc, '='));
        assert_int_equal(crypto_b64url_decode(enc, e, dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(in, dec, n);
    }
}

static void key_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void test_key_create_reload(void **state)
{
    char path[256], dir[256];
    key_path(path, sizeof path, "a/keys/signing.pem");
    key_path(dir, sizeof dir, "a/keys");
    crypto_key *k1 = NULL, *k2 = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create(path, &k1, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    FILE *f = fopen(path, "r");
    char line[64] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n"); /* PKCS#8 */
    assert_int_equal(crypto_key_load_or_create(path, &k2, &err), 0);
    assert_string_equal(crypto_key_kid(k1), crypto_key_kid(k2));
    assert_int_equal(strlen(crypto_key_kid(k1)), 43);
    assert_string_equal(crypto_key_alg(k1), "ES256");
    /* no temporary file left behind */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);

    /* The kid is the RFC 7638 thumbprint of the published JWK. */
    char *jwk = crypto_key_public_jwk(k1);
    assert_non_null(jwk);
    assert_non_null(strstr(jwk, "\"use\":\"sig\""));
    assert_non_null(strstr(jwk, "\"alg\":\"ES256\""));
    const char *x = strstr(jwk, "\"x\":\""), *y = strstr(jwk, "\"y\":\"");
    assert_non_null(x);
    assert_non_null(y);
    char canon[256];
    snprintf(canon, sizeof canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%.43s\",\"y\":\"%.43s\"}", x + 5,
             y + 5);
    uint8_t h[32];
    char kid[64];
    crypto_sha256(canon, strlen(canon), h);
    crypto_b64url_encode(h, 32, kid);
    assert_string_equal(kid, crypto_key_kid(k1));

    /* The public JWK imports back to a key with the same kid that verifies the private key's signatures. */
    crypto_key *pub = NULL;
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &pub, &err), 0);
    assert_string_equal(crypto_key_kid(pub), crypto_key_kid(k1));
    uint8_t sig[512];
    size_t siglen = sizeof sig;
    assert_int_equal(crypto_sign(k1, "hello", 5, sig, &siglen, &err), 0);
    assert_int_equal(crypto_verify(pub, "hello", 5, sig, siglen, &err), 0);
    siglen = sizeof sig;
    assert_int_equal(crypto_sign(pub, "hello", 5, sig, &siglen, &err), SOCLE_EINVAL); /* no private part */
    free(jwk);
    crypto_key_free(pub);
    crypto_key_free(k1);
    crypto_key_free(k2);
}

static void test_key_bad_file(void **state)
{
    char path[256];
    key_path(path, sizeof path, "garbage.pem");
    FILE *f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    crypto_key *k = (crypto_key *)1;
    socle_err err;
    assert_int_not_equal(crypto_key_load_or_create(path, &k, &err), 0);
    assert_null(k);
    f = fopen(path, "r"); /* never overwritten */
    char line[32] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "not a key\n");
    assert_int_equal(crypto_key_load_or_create("", &k, &err), SOCLE_EINVAL);
    /* a directory in the way */
    key_path(path, sizeof path, "garbage.pem/sub/k.pem");
    assert_int_not_equal(crypto_key_load_or_create(path, &k, &err), 0);
}

static void test_es256_sign_verify(void **state)
{
    char path[256];
    key_path(path, sizeof path, "es/signing.pem");
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create(path, &k, &err), 0);
    uint8_t sig[512];
    for (int round = 0; round < 20; round++) { /* some signatures have short r or s: all must be 64 bytes */
        size_t siglen = sizeof sig;
        char msg[32];
        snprintf(msg, sizeof msg, "message %d", round);
        assert_int_equal(crypto_sign(k, msg, strlen(msg), sig, &siglen, &err), 0);
        assert_int_equal(siglen, 64);
        assert_int_equal(crypto_verify(k, msg, strlen(msg), sig, siglen, &err), 0);
        assert_int_equal(crypto_verify(k, msg, strlen(msg) - 1, sig, siglen, &err), SOCLE_EUNAUTHORIZED);
        assert_string_equal(err.msg, "bad signature");
        sig[round % 64] ^= 1;
        assert_int_equal(crypto_verify(k, msg, strlen(msg), sig, siglen, &err), SOCLE_EUNAUTHORIZED);
        sig[round % 64] ^= 1;
        assert_int_equal(crypto_verify(k, msg, strlen(msg), sig, 63, &err), SOCLE_EUNAUTHORIZED);
    }
    memset(sig, 0, 64);
    assert_int_equal(crypto_verify(k, "x", 1, sig, 64, &err), SOCLE_EUNAUTHORIZED);
    memset(sig, 0xff, 64);
    assert_int_equal(crypto_verify(k, "x", 1, sig, 64, &err), SOCLE_EUNAUTHORIZED);
    size_t small = 10;
    assert_int_equal(crypto_sign(k, "x", 1, sig, &small, &err), SOCLE_EINVAL);
    crypto_key_free(k);
}

/* Threads signing with one key at once (each copies the key's prepared signing context): every
 * signature verifies. */
typedef struct signer {
    const crypto_key *key;
    int index, good;
} signer;

static void *sign_many(void *arg)
{
    signer *w = arg;
    for (int i = 0; i < 200; i++) {
        char msg[48];
        snprintf(msg, sizeof msg, "thread %d message %d", w->index, i);
        uint8_t sig[512];
        size_t siglen = sizeof sig;
        socle_err err;
        if (!crypto_sign(w->key, msg, strlen(msg), sig, &siglen, &err) &&
            !crypto_verify(w->key, msg, strlen(msg), sig, siglen, &err))
            w->good++;
    }
    return NULL;
}

static void test_sign_from_threads(void **state)
{
    char path[256];
    key_path(path, sizeof path, "es/signing.pem");
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create(path, &k, &err), 0);
    assert_non_null(k->sign_template); /* what the threads copy */
    pthread_t threads[8];
    signer work[8];
    for (int t = 0; t < 8; t++) {
        work[t] = (signer){.key = k, .index = t};
        assert_int_equal(pthread_create(&threads[t], NULL, sign_many, &work[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(work[t].good, 200);
    }
    crypto_key_free(k);
}

/* A JWK for the public half of an RSA key made by OpenSSL directly. */
static char *rsa_jwk(EVP_PKEY *pkey, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n));
    assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e));
    uint8_t nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char ns[1400], es[32];
    crypto_b64url_encode(nb, (size_t)nl, ns);
    crypto_b64url_encode(eb, (size_t)el, es);
    BN_free(n);
    BN_free(e);
    socle_buf b = SOCLE_BUF_INIT;
    buf_printf(&b, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", ns, es);
    if (kid) buf_printf(&b, ",\"kid\":\"%s\"", kid);
    buf_puts(&b, ",\"alg\":\"RS256\"}");
    return buf_take(&b, NULL);
}

static void test_rs256_verify(void **state)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    assert_non_null(rsa);
    char *jwk = rsa_jwk(rsa, "rsa-1");
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &k, &err), 0);
    assert_string_equal(crypto_key_kid(k), "rsa-1");
    assert_string_equal(crypto_key_alg(k), "RS256");
    uint8_t sig[512];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, rsa, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)"payload", 7), 1);
    EVP_MD_CTX_free(ctx);
    assert_int_equal(siglen, 256);
    assert_int_equal(crypto_verify(k, "payload", 7, sig, siglen, &err), 0);
    assert_int_equal(crypto_verify(k, "payloaD", 7, sig, siglen, &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(crypto_verify(k, "payload", 7, sig, siglen - 1, &err), SOCLE_EUNAUTHORIZED);
    sig[100] ^= 0x80;
    assert_int_equal(crypto_verify(k, "payload", 7, sig, siglen, &err), SOCLE_EUNAUTHORIZED);
    char *again = crypto_key_public_jwk(k);
    assert_non_null(strstr(again, "\"kty\":\"RSA\""));
    free(again);
    crypto_key_free(k);
    free(jwk);
    /* without a kid, the RSA key gets its thumbprint */
    jwk = rsa_jwk(rsa, NULL);
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &k, &err), 0);
    assert_int_equal(strlen(crypto_key_kid(k)), 43);
    crypto_key_free(k);
    free(jwk);
    EVP_PKEY_free(rsa);
}

/* Sealing: what one key seals it opens, and nothing else: not another key's, not an altered byte,
 * not a truncated value. The sealing key comes from the signing key: the same for the same key
 * file (every node), another for another label or key; a public key derives nothing. */
static void test_seal(void **state)
{
    char path[256], other[256];
    key_path(path, sizeof path, "seal/signing.pem");
    key_path(other, sizeof other, "seal/other.pem");
    crypto_key *k, *again, *k2;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create(path, &k, &err), 0);
    assert_int_equal(crypto_key_load_or_create(path, &again, &err), 0);
    assert_int_equal(crypto_key_load_or_create(other, &k2, &err), 0);
    uint8_t a[32], b[32], c[32], d[32];
    assert_int_equal(crypto_key_derive(k, "socle search cursor v1", a), 0);
    assert_int_equal(crypto_key_derive(again, "socle search cursor v1", b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(crypto_key_derive(k, "another use", c), 0);
    assert_memory_not_equal(a, c, 32);
    assert_int_equal(crypto_key_derive(k2, "socle search cursor v1", d), 0);
    assert_memory_not_equal(a, d, 32);
    /* The same key in another encoding (SEC1, no public point) derives the same secret. */
    char sec1[256], cmd[700];
    key_path(sec1, sizeof sec1, "seal/sec1.pem");
    snprintf(cmd, sizeof cmd, "openssl ec -in '%s' -no_public -out '%s' 2>/dev/null", path, sec1);
    assert_int_equal(system(cmd), 0);
    crypto_key *k3;
    uint8_t e[32];
    assert_int_equal(crypto_key_load_or_create(sec1, &k3, &err), 0);
    assert_int_equal(crypto_key_derive(k3, "socle search cursor v1", e), 0);
    assert_memory_equal(a, e, 32);
    crypto_key_free(k3);
    char *jwk = crypto_key_public_jwk(k);
    crypto_key *pub;
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &pub, &err), 0);
    assert_int_equal(crypto_key_derive(pub, "socle search cursor v1", c), SOCLE_EINVAL);
    free(jwk);
    crypto_key_free(pub);

    const char msg[] = "martin\0q07";
    uint8_t sealed[sizeof msg + CRYPTO_SEAL_OVERHEAD], sealed2[sizeof sealed], opened[sizeof sealed];
    size_t n = 0;
    assert_int_equal(crypto_seal(a, "q", 1, msg, sizeof msg, sealed), 0);
    assert_int_equal(crypto_seal(a, "q", 1, msg, sizeof msg, sealed2), 0);
    assert_memory_not_equal(sealed, sealed2, sizeof sealed); /* a fresh nonce each time */
    assert_null(memmem(sealed, sizeof sealed, "martin", 6));
    assert_int_equal(crypto_open(b, "q", 1, sealed, sizeof sealed, opened, &n), 0);
    assert_int_equal(n, sizeof msg);
    assert_memory_equal(opened, msg, sizeof msg);
    assert_int_equal(crypto_open(d, "q", 1, sealed, sizeof sealed, opened, &n), SOCLE_EINVAL);
    for (size_t i = 0; i < sizeof sealed; i++) {
        sealed[i] ^= 0x20;
        assert_int_equal(crypto_open(a, "q", 1, sealed, sizeof sealed, opened, &n), SOCLE_EINVAL);
        sealed[i] ^= 0x20;
    }
    assert_int_equal(crypto_open(a, "r", 1, sealed, sizeof sealed, opened, &n), SOCLE_EINVAL); /* another use */
    assert_int_equal(crypto_open(a, NULL, 0, sealed, sizeof sealed, opened, &n), SOCLE_EINVAL);
    assert_int_equal(crypto_open(a, "q", 1, sealed, sizeof sealed - 1, opened, &n), SOCLE_EINVAL);
    assert_int_equal(crypto_open(a, "q", 1, sealed, CRYPTO_SEAL_OVERHEAD - 1, opened, &n), SOCLE_EINVAL);
    assert_int_equal(crypto_seal(a, NULL, 0, "", 0, sealed), 0);
    assert_int_equal(crypto_open(a, NULL, 0, sealed, CRYPTO_SEAL_OVERHEAD, opened, &n), 0);
    assert_int_equal(n, 0);
    crypto_key_free(k);
    crypto_key_free(again);
    crypto_key_free(k2);
}

static void test_jwk_import(void **state)
{
    /* RFC 7638 section 3.1: the thumbprint of this key is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs */
    const char *rfc =
        "{\"kty\":\"RSA\",\"n\":"
        "\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZ"
        "gnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
        "xBniIqbw0Ls1jF44-"
        "csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\"}";
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_from_jwk_json(rfc, strlen(rfc), &k, &err), 0);
    assert_string_equal(crypto_key_kid(k), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    crypto_key_free(k);

    /* RFC 7515 appendix A.3 key (EC P-256) */
    const char *ec =
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"kid\":\"a3\"}";
    assert_int_equal(crypto_key_from_jwk_json(ec, strlen(ec), &k, &err), 0);
    assert_string_equal(crypto_key_kid(k), "a3");
    assert_string_equal(crypto_key_alg(k), "ES256");
    /* RFC 7515 A.3: the ES256 signature of its example JWS verifies with this key */
    const char *input =
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const char *sig64 =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    uint8_t sig[80];
    size_t siglen;
    assert_int_equal(crypto_b64url_decode(sig64, strlen(sig64), sig, &siglen), 0);
    assert_int_equal(crypto_verify(k, input, strlen(input), sig, siglen, &err), 0);
    assert_int_equal(crypto_verify(k, input, strlen(input) - 1, sig, siglen, &err), SOCLE_EUNAUTHORIZED);
    crypto_key_free(k);

    static const char *bad[] = {
        "",
        "[]",
        "{\"kty\":\"oct\",\"k\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
        /* y changed: the point is not on the curve */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2\",\"y\":\"x_FEzRu9m36HLN_"
        "tue659LNpXW6pCyStikYjKIWI5a0\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"d\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"use\":\"enc\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"alg\":\"RS256\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"kid\":7}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",                 /* far too small */
        "{\"kty\":\"RSA\",\"n\":\"0vx7\",\"e\":\"AQAB\",\"kty\":\"RSA\"}", /* duplicate member */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU=\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        k = (crypto_key *)1;
        assert_int_not_equal(crypto_key_from_jwk_json(bad[i], strlen(bad[i]), &k, &err), 0);
        assert_null(k);
    }
    /* RSA 1024 bits is refused */
    EVP_PKEY *small = EVP_RSA_gen(1024);
    char *jwk = rsa_jwk(small, NULL);
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &k, &err), SOCLE_EINVAL);
    free(jwk);
    EVP_PKEY_free(small);
}

static void test_jws_sign_split(void **state)
{
    char path[256];
    key_path(path, sizeof path, "jws/signing.pem");
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create(path, &k, &err), 0);
    char *jws = NULL;
    assert_int_equal(crypto_jws_sign(k, "{\"sub\":\"x\"}", &jws, &err), 0);
    char *h, *p;
    uint8_t *sig;
    size_t siglen, input;
    assert_int_equal(crypto_jws_split(jws, &h, &p, &sig, &siglen, &input, &err), 0);
    char expected[256];
    snprintf(expected, sizeof expected, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             crypto_key_kid(k));
    assert_string_equal(h, expected);
    assert_string_equal(p, "{\"sub\":\"x\"}");
    assert_int_equal(siglen, 64);
    assert_int_equal(input, (size_t)(strrchr(jws, '.') - jws));
    assert_int_equal(crypto_verify(k, jws, input, sig, siglen, &err), 0);
    free(h);
    free(p);
    free(sig);

    /* every prefix of a valid token: never a crash, never a success but for the whole */
    size_t n = strlen(jws);
    char *cut = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(cut, jws, i);
        cut[i] = 0;
        int rc = crypto_jws_split(cut, &h, &p, &sig, &siglen, &input, &err);
        if (rc == 0) { /* only possible when the cut falls on a base64 quantum of the signature */
            assert_true(i > input);
            free(h);
            free(p);
            free(sig);
        } else {
            assert_int_equal(rc, SOCLE_EUNAUTHORIZED);
            assert_null(h);
            assert_null(p);
            assert_null(sig);
        }
    }
    free(cut);
    free(jws);
    crypto_key_free(k);
}

static void test_jws_split_garbage(void **state)
{
    static const char *bad[] = {
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "e30.e30.",
        ".e30.AAAA",
        "e30..AAAA",
        "e30.e30.AAAA.AAAA",
        "e30.e30.AA==",
        "e30.e30.AA A",
        "W10.e30.AAAA" /* [] */,
        "e30.ImEi.AAAA" /* "a" */,
        "e30=.e30.AAAA",
        "e30.e30.AA*A",
        "eyJhIjoxfQ.e30",
        "AHt9.e30.AAAA" /* NUL then {} */,
        "IA.e30.AAAA" /* only a space */,
        "e30\n.e30.AAAA",
        "e30.e30.AAAA\n",
    };
    char *h = (char *)1, *p = (char *)1;
    uint8_t *sig = (uint8_t *)1;
    size_t siglen, input;
    socle_err err;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(crypto_jws_split(bad[i], &h, &p, &sig, &siglen, &input, &err), SOCLE_EUNAUTHORIZED);
        assert_null(h);
        assert_null(p);
        assert_null(sig);
    }
    /* the smallest well-formed thing passes (signature checking is not the splitter's job) */
    assert_int_equal(crypto_jws_split(" e30.e30.AAAA" + 1, &h, &p, &sig, &siglen, &input, &err), 0);
    assert_string_equal(h, "{}");
    assert_int_equal(siglen, 3);
    free(h);
    free(p);
    free(sig);
    /* oversized, with or without structure */
    char *huge = malloc(70000);
    memset(huge, 'A', 69999);
    huge[69999] = 0;
    huge[100] = '.';
    huge[200] = '.';
    assert_int_equal(crypto_jws_split(huge, &h, &p, &sig, &siglen, &input, &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "token too large");
    huge[16384] = 0; /* exactly the limit: judged on its form (here: not JSON) */
    assert_int_equal(crypto_jws_split(huge, &h, &p, &sig, &siglen, &input, &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "malformed token");
    free(huge);
    assert_int_equal(crypto_jws_split(NULL, &h, &p, &sig, &siglen, &input, &err), SOCLE_EUNAUTHORIZED);
    /* random bytes */
    char rnd[300];
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i % 299);
        id_random_bytes(rnd, n);
        for (size_t j = 0; j < n; j++)
            if (!rnd[j]) rnd[j] = '.';
        rnd[n] = 0;
        if (crypto_jws_split(rnd, &h, &p, &sig, &siglen, &input, &err) == 0) {
            free(h);
            free(p);
            free(sig);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_hmac),       cmocka_unit_test(test_b64_vectors),
        cmocka_unit_test(test_b64_rejects),       cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_b64_bad_character_anywhere),
        cmocka_unit_test(test_key_create_reload), cmocka_unit_test(test_key_bad_file),
        cmocka_unit_test(test_es256_sign_verify), cmocka_unit_test(test_rs256_verify),
        cmocka_unit_test(test_jwk_import),        cmocka_unit_test(test_jws_sign_split),
        cmocka_unit_test(test_jws_split_garbage),  cmocka_unit_test(test_sign_from_threads),
        cmocka_unit_test(test_seal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
