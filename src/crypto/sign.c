/* sign.c - ES256 and RS256 signatures in the forms JWS uses (RFC 7518 section 3).
 *
 * OpenSSL produces and expects DER-encoded ECDSA signatures; JWS carries the fixed 64-byte R||S
 * form, so ES256 signatures are converted both ways here. RS256 is RSASSA-PKCS1-v1_5 with
 * SHA-256, asked for by name; its signatures are as long as the modulus (256 to 1024 bytes).
 * Failed operations leave OpenSSL's per-thread error queue empty, so a stream of bad tokens does
 * not grow it. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "crypto/crypto_internal.h"

/* sign_params - the signature parameters of the key's algorithm: RS256 asks for PKCS#1 v1.5
 * padding by name rather than relying on OpenSSL's default, so signer and verifier can never
 * disagree; ES256 needs none. params needs room for 2 entries. */
static const OSSL_PARAM *sign_params(const crypto_key *k, OSSL_PARAM *params)
{
    if (k->type != CRYPTO_KEY_RSA) return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                 (char *)OSSL_PKEY_RSA_PAD_MODE_PKCSV15, 0);
    params[1] = OSSL_PARAM_construct_end();
    return params;
}

EVP_MD_CTX *crypto_sign_template(const crypto_key *k)
{
    OSSL_PARAM params[2];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, sign_params(k, params)) == 1) return ctx;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

/* A context ready to sign with k: a copy of the key's template (setting one up looks the algorithms
 * up in OpenSSL's providers, about a third of an ES256 signature), or a new one when the key has
 * none. Copying only reads the template, so threads share it. */
static EVP_MD_CTX *sign_context(const crypto_key *k)
{
    if (!k->sign_template) return crypto_sign_template(k);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_MD_CTX_copy_ex(ctx, k->sign_template) == 1) return ctx;
    EVP_MD_CTX_free(ctx);
    return NULL;
}

int crypto_sign(const crypto_key *k, const void *data, size_t n, uint8_t *sig, size_t *siglen, socle_err *err)
{
    if (!k->has_private) return socle_err_set(err, SOCLE_EINVAL, "the key has no private part");
    int rsa = k->type == CRYPTO_KEY_RSA;
    /* RS256 signatures are exactly the modulus size and go straight into sig; ES256 ones come as
     * DER (at most 72 bytes for P-256) and are converted below. */
    size_t need = rsa ? (size_t)EVP_PKEY_get_size(k->pkey) : 64;
    if (*siglen < need) return socle_err_set(err, SOCLE_EINVAL, "signature buffer too small");
    uint8_t der[80];
    uint8_t *out = rsa ? sig : der;
    size_t len = rsa ? *siglen : sizeof der;
    EVP_MD_CTX *ctx = sign_context(k);
    int ok = ctx && EVP_DigestSign(ctx, out, &len, data, n) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || (rsa && len != need)) {
        ERR_clear_error();
        return socle_err_set(err, SOCLE_EINTERNAL, "signing failed");
    }
    if (rsa) {
        *siglen = len;
        return 0;
    }
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *s = NULL;
    if (es) ECDSA_SIG_get0(es, &r, &s);
    ok = es && BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    if (!ok) {
        ERR_clear_error();
        return socle_err_set(err, SOCLE_EINTERNAL, "signing failed (signature form)");
    }
    *siglen = 64;
    return 0;
}

/* R||S to DER; returns the DER length or 0. */
static size_t sign_raw_to_der(const uint8_t *raw, uint8_t *der, size_t room)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    size_t len = 0;
    if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL; /* owned by es now */
        int need = i2d_ECDSA_SIG(es, NULL);
        uint8_t *p = der;
        if (need > 0 && (size_t)need <= room && i2d_ECDSA_SIG(es, &p) == need) len = (size_t)need;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return len;
}

int crypto_verify(const crypto_key *k, const void *data, size_t n, const uint8_t *sig, size_t siglen,
                  socle_err *err)
{
    uint8_t der[80];
    if (k->type == CRYPTO_KEY_EC) {
        if (siglen != 64 || !(siglen = sign_raw_to_der(sig, der, sizeof der))) {
            ERR_clear_error();
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "bad signature");
        }
        sig = der;
    } else if (siglen != (size_t)EVP_PKEY_get_size(k->pkey)) {
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "bad signature");
    }
    OSSL_PARAM params[2];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx &&
             EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, sign_params(k, params)) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, data, n) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok) return 0;
    ERR_clear_error();
    return socle_err_set(err, SOCLE_EUNAUTHORIZED, "bad signature");
}
