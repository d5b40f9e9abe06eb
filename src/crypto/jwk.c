/* jwk.c - public keys from JWK objects (RFC 7517/7518): EC P-256 and RSA, for the JWKS documents
 * of trusted token issuers. Input is untrusted configuration: sizes are checked before any
 * bignum is built, the EC point is checked to be on the curve, and private members are refused
 * (a JWKS that contains them has leaked its key). */
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <string.h>

#include "crypto/crypto_internal.h"

#define JWK_MAX_BYTES (64 * 1024)

/* Decode a base64url member into out; its decoded length must be within [min, max]. */
static int jwk_member(json_t *o, const char *name, uint8_t *out, size_t min, size_t max, size_t *len,
                      socle_err *err)
{
    json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s) return socle_err_set(err, SOCLE_EINVAL, "JWK has no \"%s\"", name);
    if (n > (max + 2) / 3 * 4 || crypto_b64url_decode(s, n, out, len) || *len < min || *len > max)
        return socle_err_set(err, SOCLE_EINVAL, "JWK member \"%s\" is not valid base64url of the right size",
                             name);
    return 0;
}

static EVP_PKEY *jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *pkey = NULL;
    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) > 0) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static int jwk_ec(json_t *o, EVP_PKEY **pkey, socle_err *err)
{
    const char *crv = json_string_value(json_object_get(o, "crv"));
    if (!crv || strcmp(crv, "P-256")) return socle_err_set(err, SOCLE_EINVAL, "JWK curve is not P-256");
    uint8_t point[1 + 64 + 8];
    size_t n;
    int rc = jwk_member(o, "x", point + 1, 32, 32, &n, err);
    if (!rc) rc = jwk_member(o, "y", point + 33, 32, 32, &n, err);
    if (rc) return rc;
    point[0] = 4; /* uncompressed form */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65))
        *pkey = jwk_fromdata("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return *pkey ? 0 : socle_err_set(err, SOCLE_EINVAL, "JWK EC point is not on curve P-256");
}

static int jwk_rsa(json_t *o, EVP_PKEY **pkey, socle_err *err)
{
    uint8_t nb[1024 + 4], eb[16];
    size_t nlen, elen;
    int rc = jwk_member(o, "n", nb, 256, 1024, &nlen, err);
    if (!rc) rc = jwk_member(o, "e", eb, 1, 8, &elen, err);
    if (rc) return rc;
    if (nb[0] == 0 || eb[0] == 0) return socle_err_set(err, SOCLE_EINVAL, "JWK RSA member has leading zeros");
    if (!(eb[elen - 1] & 1) || (elen == 1 && eb[0] < 3))
        return socle_err_set(err, SOCLE_EINVAL, "JWK RSA exponent is not valid");
    BIGNUM *n = BN_bin2bn(nb, (int)nlen, NULL), *e = BN_bin2bn(eb, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (n && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        *pkey = jwk_fromdata("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return *pkey ? 0 : socle_err_set(err, SOCLE_EINVAL, "JWK RSA key is not valid");
}

int crypto_key_from_jwk_json(const char *json, size_t n, crypto_key **out, socle_err *err)
{
    *out = NULL;
    if (n > JWK_MAX_BYTES)
        return socle_err_set(err, SOCLE_ETOOLARGE, "JWK larger than %d bytes", JWK_MAX_BYTES);
    json_t *o = json_loadb(json, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return socle_err_set(err, SOCLE_EINVAL, "JWK is not a JSON object");
    }
    const char *kty = json_string_value(json_object_get(o, "kty"));
    const char *use = json_string_value(json_object_get(o, "use"));
    const char *alg = json_string_value(json_object_get(o, "alg"));
    json_t *kidv = json_object_get(o, "kid");
    EVP_PKEY *pkey = NULL;
    int rc = 0;
    if (json_object_get(o, "d") || json_object_get(o, "p"))
        rc = socle_err_set(err, SOCLE_EINVAL, "JWK contains private key members");
    else if (json_object_get(o, "use") && (!use || strcmp(use, "sig")))
        rc = socle_err_set(err, SOCLE_EINVAL, "JWK is not a signature key (use)");
    else if (kidv && !json_is_string(kidv))
        rc = socle_err_set(err, SOCLE_EINVAL, "JWK kid is not a string");
    else if (!kty)
        rc = socle_err_set(err, SOCLE_EINVAL, "JWK has no kty");
    else if (!strcmp(kty, "EC"))
        rc = (json_object_get(o, "alg") && (!alg || strcmp(alg, "ES256")))
                 ? socle_err_set(err, SOCLE_EINVAL, "JWK alg does not match its key type (ES256 expected)")
                 : jwk_ec(o, &pkey, err);
    else if (!strcmp(kty, "RSA"))
        rc = (json_object_get(o, "alg") && (!alg || strcmp(alg, "RS256")))
                 ? socle_err_set(err, SOCLE_EINVAL, "JWK alg does not match its key type (RS256 expected)")
                 : jwk_rsa(o, &pkey, err);
    else
        rc = socle_err_set(err, SOCLE_EINVAL, "unsupported JWK kty (EC or RSA)");
    if (!rc) rc = crypto_key_wrap(pkey, 0, json_string_value(kidv), out, err);
    json_decref(o);
    ERR_clear_error();
    return rc;
}
