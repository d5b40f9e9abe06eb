/* test_crypto_rsa.c - unit tests of the RSA signing key of src/crypto (RS256, for OpenID Connect
 * clients that ask for it): the key file (creation, reload, mode, refusals), its RFC 7638 kid
 * recomputed here with OpenSSL alone, its public JWK, and RS256 JWS signatures checked through the
 * verification path imported JWKs take and by OpenSSL directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "crypto/crypto.h"

static char tmpdir[64];

static int setup(void **state)
{
    log_set_level(LOG_WARN);
    strcpy(tmpdir, "/tmp/socle-test-crypto-rsa-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void key_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

/* Unpadded base64url with OpenSSL's encoder, not the project's. out needs 4*ceil(n/3)+1 bytes. */
static void b64url(const uint8_t *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    assert_true(len >= 0);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = 0;
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* n and e of the key in a PEM file, as JWK base64url (big-endian, no leading zero bytes). */
static void file_n_e(const char *path, char *n64, char *e64)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pkey);
    BIGNUM *n = NULL, *e = NULL;
    assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n));
    assert_true(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e));
    uint8_t nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    assert_true(nl > 0 && el > 0 && nb[0] != 0 && eb[0] != 0);
    b64url(nb, (size_t)nl, n64);
    b64url(eb, (size_t)el, e64);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pkey);
}

/* RFC 7638 thumbprint of an RSA public key, with OpenSSL's SHA-256. */
static void thumbprint(const char *n64, const char *e64, char *out)
{
    char canon[2000];
    int len = snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e64, n64);
    assert_true(len > 0 && len < (int)sizeof canon);
    uint8_t h[32];
    unsigned int hl = 0;
    assert_int_equal(EVP_Digest(canon, (size_t)len, h, &hl, EVP_sha256(), NULL), 1);
    assert_int_equal(hl, 32);
    b64url(h, 32, out);
}

static void read_file(const char *path, char *buf, size_t room)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, room - 1, f);
    fclose(f);
    buf[n] = 0;
}

static void test_rsa_create_reload(void **state)
{
    char path[256], dir[256];
    key_path(path, sizeof path, "a/keys/rsa.pem");
    key_path(dir, sizeof dir, "a/keys");
    crypto_key *k1 = NULL, *k2 = NULL, *k3 = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create_rsa(path, 2048, &k1, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char pem[8192];
    read_file(path, pem, sizeof pem);
    assert_int_equal(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0); /* PKCS#8 */
    assert_string_equal(crypto_key_alg(k1), "RS256");
    assert_int_equal(strlen(crypto_key_kid(k1)), 43);

    /* reloaded: same kid, file untouched; bits only matter at creation */
    assert_int_equal(crypto_key_load_or_create_rsa(path, 2048, &k2, &err), 0);
    assert_string_equal(crypto_key_kid(k1), crypto_key_kid(k2));
    assert_int_equal(crypto_key_load_or_create_rsa(path, 3072, &k3, &err), 0);
    assert_string_equal(crypto_key_kid(k1), crypto_key_kid(k3));
    char again[8192];
    read_file(path, again, sizeof again);
    assert_string_equal(pem, again);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir); /* no temporary file left */
    assert_int_equal(system(cmd), 0);

    /* kid = RFC 7638 thumbprint, computed here from the file with OpenSSL only */
    char n64[1400], e64[32], kid[64];
    file_n_e(path, n64, e64);
    assert_string_equal(e64, "AQAB");
    assert_int_equal(strlen(n64), 342); /* 256 bytes, no leading zero */
    thumbprint(n64, e64, kid);
    assert_string_equal(kid, crypto_key_kid(k1));

    /* public JWK: exactly kty, n, e, kid, alg, use - no private member */
    char *jwk = crypto_key_public_jwk(k1);
    assert_non_null(jwk);
    json_t *o = json_loads(jwk, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 6);
    assert_string_equal(json_string_value(json_object_get(o, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(o, "n")), n64);
    assert_string_equal(json_string_value(json_object_get(o, "e")), e64);
    assert_string_equal(json_string_value(json_object_get(o, "kid")), kid);
    assert_string_equal(json_string_value(json_object_get(o, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(o, "use")), "sig");
    json_decref(o);
    assert_null(strstr(jwk, "\"d\""));

    /* and it imports back to a public key with the same kid and algorithm */
    crypto_key *pub = NULL;
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &pub, &err), 0);
    assert_string_equal(crypto_key_kid(pub), kid);
    assert_string_equal(crypto_key_alg(pub), "RS256");
    uint8_t sig[CRYPTO_SIG_MAX];
    size_t siglen = sizeof sig;
    assert_int_equal(crypto_sign(pub, "x", 1, sig, &siglen, &err), SOCLE_EINVAL); /* no private part */
    free(jwk);
    crypto_key_free(pub);
    crypto_key_free(k1);
    crypto_key_free(k2);
    crypto_key_free(k3);
}

/* Verify a compact JWS with a key, through the splitter and crypto_verify as bearer tokens are. */
static int jws_verify(const crypto_key *k, const char *jws, char **header, char **payload, size_t *siglen)
{
    uint8_t *sig;
    size_t input;
    socle_err err;
    *header = *payload = NULL;
    int rc = crypto_jws_split(jws, header, payload, &sig, siglen, &input, &err);
    if (rc) return rc;
    rc = crypto_verify(k, jws, input, sig, *siglen, &err);
    free(sig);
    return rc;
}

/* Change the lowest bit of the 6 a base64url character stands for. */
static void flip_b64(char *c)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *at = strchr(alphabet, *c);
    assert_non_null(at);
    *c = alphabet[(at - alphabet) ^ 1];
}

static void test_rs256_jws(void **state)
{
    char path[256];
    key_path(path, sizeof path, "jws/rsa.pem");
    crypto_key *k = NULL, *pub = NULL, *ec = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create_rsa(path, 3072, &k, &err), 0);
    char *jwk = crypto_key_public_jwk(k);
    assert_non_null(jwk);
    assert_int_equal(crypto_key_from_jwk_json(jwk, strlen(jwk), &pub, &err), 0);
    free(jwk);

    const char *payload = "{\"iss\":\"https://psc.example\",\"sub\":\"8100000001\",\"aud\":\"client\"}";
    char *jws = NULL, *h = NULL, *p = NULL;
    size_t siglen = 0;
    assert_int_equal(crypto_jws_sign(k, payload, &jws, &err), 0);
    assert_int_equal(jws_verify(pub, jws, &h, &p, &siglen), 0);
    char expected[256];
    snprintf(expected, sizeof expected, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             crypto_key_kid(k));
    assert_string_equal(h, expected);
    assert_string_equal(p, payload);
    assert_int_equal(siglen, 384); /* RSA-3072 */
    free(h);
    free(p);
    assert_int_equal(jws_verify(k, jws, &h, &p, &siglen), 0); /* the private key verifies too */
    free(h);
    free(p);

    /* PKCS#1 v1.5 is deterministic: the same input signs to the same token */
    char *jws2 = NULL;
    assert_int_equal(crypto_jws_sign(k, payload, &jws2, &err), 0);
    assert_string_equal(jws, jws2);
    free(jws2);

    /* one bit changed in the payload or the signature: still well-formed, no longer valid */
    char *bad = strdup(jws);
    flip_b64(strchr(bad, '.') + 20);
    assert_int_equal(jws_verify(pub, bad, &h, &p, &siglen), SOCLE_EUNAUTHORIZED);
    assert_non_null(h); /* the split accepted it: the signature check refused it */
    assert_string_not_equal(p, payload);
    free(h);
    free(p);
    strcpy(bad, jws);
    flip_b64(strrchr(bad, '.') + 100);
    assert_int_equal(jws_verify(pub, bad, &h, &p, &siglen), SOCLE_EUNAUTHORIZED);
    assert_non_null(h);
    free(h);
    free(p);
    free(bad);

    /* an EC key never accepts an RS256 signature */
    char ecpath[256];
    key_path(ecpath, sizeof ecpath, "jws/ec.pem");
    assert_int_equal(crypto_key_load_or_create(ecpath, &ec, &err), 0);
    assert_int_equal(jws_verify(ec, jws, &h, &p, &siglen), SOCLE_EUNAUTHORIZED);
    free(h);
    free(p);

    /* OpenSSL alone agrees that the signature is RSASSA-PKCS1-v1_5 with SHA-256 */
    uint8_t *sig;
    size_t input;
    assert_int_equal(crypto_jws_split(jws, &h, &p, &sig, &siglen, &input, &err), 0);
    FILE *f = fopen(path, "r");
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pkey);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestVerifyInit_ex(ctx, &pctx, "SHA256", NULL, NULL, pkey, NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)jws, input), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    free(h);
    free(p);
    free(sig);

    /* crypto_sign: exact length, and a buffer one byte short is refused before signing */
    uint8_t raw[CRYPTO_SIG_MAX];
    size_t rawlen = sizeof raw;
    assert_int_equal(crypto_sign(k, "hello", 5, raw, &rawlen, &err), 0);
    assert_int_equal(rawlen, 384);
    assert_int_equal(crypto_verify(pub, "hello", 5, raw, rawlen, &err), 0);
    assert_int_equal(crypto_verify(pub, "hello", 5, raw, rawlen - 1, &err), SOCLE_EUNAUTHORIZED);
    rawlen = 383;
    assert_int_equal(crypto_sign(k, "hello", 5, raw, &rawlen, &err), SOCLE_EINVAL);

    free(jws);
    crypto_key_free(ec);
    crypto_key_free(pub);
    crypto_key_free(k);
}

static void write_pem(const char *path, EVP_PKEY *pkey)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PKCS8PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    chmod(path, 0600);
}

static void test_wrong_key_type(void **state)
{
    char ecpath[256], rsapath[256], edpath[256], smallpath[256];
    key_path(ecpath, sizeof ecpath, "types/ec.pem");
    key_path(rsapath, sizeof rsapath, "types/rsa.pem");
    key_path(edpath, sizeof edpath, "types/ed25519.pem");
    key_path(smallpath, sizeof smallpath, "types/rsa1024.pem");
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create(ecpath, &k, &err), 0);
    crypto_key_free(k);
    assert_int_equal(crypto_key_load_or_create_rsa(rsapath, 2048, &k, &err), 0);
    crypto_key_free(k);
    char before[8192], after[8192];

    /* an EC file where RSA is expected: refused, never replaced */
    read_file(ecpath, before, sizeof before);
    k = (crypto_key *)1;
    assert_int_equal(crypto_key_load_or_create_rsa(ecpath, 2048, &k, &err), SOCLE_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err.msg, "type EC"));
    assert_non_null(strstr(err.msg, "RSA key is expected"));
    read_file(ecpath, after, sizeof after);
    assert_string_equal(before, after);

    /* and the reverse */
    read_file(rsapath, before, sizeof before);
    k = (crypto_key *)1;
    assert_int_equal(crypto_key_load_or_create(rsapath, &k, &err), SOCLE_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err.msg, "type RSA"));
    assert_non_null(strstr(err.msg, "EC P-256 key is expected"));
    read_file(rsapath, after, sizeof after);
    assert_string_equal(before, after);

    /* neither: Ed25519 */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ed);
    write_pem(edpath, ed);
    EVP_PKEY_free(ed);
    assert_int_equal(crypto_key_load_or_create_rsa(edpath, 2048, &k, &err), SOCLE_EINVAL);
    assert_null(k);
    assert_int_equal(crypto_key_load_or_create(edpath, &k, &err), SOCLE_EINVAL);
    assert_null(k);

    /* an RSA key under 2048 bits, even if the file is already there */
    EVP_PKEY *small = EVP_RSA_gen(1024);
    assert_non_null(small);
    write_pem(smallpath, small);
    EVP_PKEY_free(small);
    assert_int_equal(crypto_key_load_or_create_rsa(smallpath, 2048, &k, &err), SOCLE_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err.msg, "1024 bits"));

    /* garbage stays garbage */
    char garbage[256];
    key_path(garbage, sizeof garbage, "types/garbage.pem");
    FILE *f = fopen(garbage, "w");
    fputs("not a key\n", f);
    fclose(f);
    assert_int_not_equal(crypto_key_load_or_create_rsa(garbage, 2048, &k, &err), 0);
    assert_null(k);
    read_file(garbage, after, sizeof after);
    assert_string_equal(after, "not a key\n");
}

static void test_bits_range(void **state)
{
    char path[256];
    key_path(path, sizeof path, "bits/rsa.pem");
    static const int bad[] = {0, -1, 1024, 2047, 8193, 16384, -3072};
    socle_err err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crypto_key *k = (crypto_key *)1;
        assert_int_equal(crypto_key_load_or_create_rsa(path, bad[i], &k, &err), SOCLE_EINVAL);
        assert_null(k);
        assert_non_null(strstr(err.msg, "2048 to 8192"));
    }
    struct stat st;
    char dir[256];
    key_path(dir, sizeof dir, "bits");
    assert_int_not_equal(stat(dir, &st), 0); /* nothing created */
    crypto_key *k = (crypto_key *)1;
    assert_int_equal(crypto_key_load_or_create_rsa("", 2048, &k, &err), SOCLE_EINVAL);
    assert_null(k);
    /* the edges are accepted (4096 stands for the upper one: 8192 takes too long to generate) */
    assert_int_equal(crypto_key_load_or_create_rsa(path, 2048, &k, &err), 0);
    crypto_key_free(k);
    key_path(path, sizeof path, "bits/rsa4096.pem");
    assert_int_equal(crypto_key_load_or_create_rsa(path, 4096, &k, &err), 0);
    uint8_t sig[CRYPTO_SIG_MAX];
    size_t siglen = sizeof sig;
    assert_int_equal(crypto_sign(k, "x", 1, sig, &siglen, &err), 0);
    assert_int_equal(siglen, 512);
    assert_int_equal(crypto_verify(k, "x", 1, sig, siglen, &err), 0);
    crypto_key_free(k);
}

/* Several processes starting at once on a missing file end up with one and the same key. */
static void test_concurrent_create(void **state)
{
    char path[256];
    key_path(path, sizeof path, "race/keys/rsa.pem");
    enum { N = 4 };
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            crypto_key *k = NULL;
            socle_err err;
            int rc = crypto_key_load_or_create_rsa(path, 2048, &k, &err);
            const char *kid = rc ? "error" : crypto_key_kid(k);
            ssize_t w = write(fds[i][1], kid, strlen(kid) + 1);
            _exit(rc || w <= 0 ? 1 : 0);
        }
        close(fds[i][1]);
    }
    char kids[N][64];
    for (int i = 0; i < N; i++) {
        memset(kids[i], 0, sizeof kids[i]);
        ssize_t r = read(fds[i][0], kids[i], sizeof kids[i] - 1);
        close(fds[i][0]);
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(r > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(strlen(kids[i]), 43);
        assert_string_equal(kids[i], kids[0]);
    }
    crypto_key *k = NULL;
    socle_err err;
    assert_int_equal(crypto_key_load_or_create_rsa(path, 2048, &k, &err), 0);
    assert_string_equal(crypto_key_kid(k), kids[0]);
    crypto_key_free(k);
    char dir[256], cmd[300];
    key_path(dir, sizeof dir, "race/keys");
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_create_reload), cmocka_unit_test(test_rs256_jws),
        cmocka_unit_test(test_wrong_key_type),    cmocka_unit_test(test_bits_range),
        cmocka_unit_test(test_concurrent_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
