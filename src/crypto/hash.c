/* hash.c - SHA-256, SHA-1 (document hashes of IHE XDS/MHD), HMAC-SHA-256, hex and constant-time comparison.
 *
 * The digest and MAC implementations are fetched once (an implicit fetch per call costs a
 * provider lookup, and the token cache hashes on every request). */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "crypto/crypto.h"

static pthread_once_t hash_once = PTHREAD_ONCE_INIT;
static EVP_MD *hash_sha256_md;
static EVP_MD *hash_sha1_md;
static EVP_MAC *hash_hmac;

static void hash_fetch(void)
{
    hash_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hash_sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
    hash_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* Only a broken OpenSSL installation or an exhausted heap gets here; the contract says these
 * functions can't fail, so a failure is not something callers could handle. */
static void hash_die(const char *what)
{
    fprintf(stderr, "socle: OpenSSL %s failed\n", what);
    abort();
}

void crypto_sha256(const void *data, size_t n, uint8_t out[32])
{
    pthread_once(&hash_once, hash_fetch);
    unsigned int len = 0;
    if (!hash_sha256_md || !EVP_Digest(data, n, out, &len, hash_sha256_md, NULL) || len != 32)
        hash_die("SHA-256");
}

void crypto_sha1(const void *data, size_t n, uint8_t out[20])
{
    pthread_once(&hash_once, hash_fetch);
    unsigned int len = 0;
    if (!hash_sha1_md || !EVP_Digest(data, n, out, &len, hash_sha1_md, NULL) || len != 20) hash_die("SHA-1");
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[32])
{
    pthread_once(&hash_once, hash_fetch);
    static const uint8_t empty_key[1];
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_END};
    EVP_MAC_CTX *ctx = hash_hmac ? EVP_MAC_CTX_new(hash_hmac) : NULL;
    size_t len = 0;
    /* OpenSSL refuses a NULL key; an empty key is legal HMAC. */
    if (!ctx || !EVP_MAC_init(ctx, keylen ? key : empty_key, keylen, params) ||
        !EVP_MAC_update(ctx, data, n) || !EVP_MAC_final(ctx, out, &len, 32) || len != 32)
        hash_die("HMAC-SHA-256");
    EVP_MAC_CTX_free(ctx);
}

char *crypto_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
    return out;
}

int crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
