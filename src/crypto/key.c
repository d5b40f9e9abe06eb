/* key.c - NAME
 *      crypto_key - the server's signing keys and the public keys of trusted issuers.
 * DESCRIPTION
 *      A crypto_key wraps an OpenSSL EVP_PKEY (EC P-256 or RSA 2048-8192 bits) with its key id and
 *      JWS algorithm. A server key (EC for ES256, and RSA for RS256 where clients require it) is a
 *      PKCS#8 PEM file, created on first use with mode 0600 in a directory created 0700; its kid
 *      is the RFC 7638 thumbprint, so it is stable across restarts and the same on every node
 *      sharing the file. A file holding the other key type is refused, never replaced.
 * BUGS
 *      No key rotation: one key per file at a time. An encrypted PEM is refused (no pass phrase).
 *      The RSA size only applies when the key is created; an existing file keeps its size.
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/log.h"
#include "crypto/crypto_internal.h"

/* RSA moduli above this are refused: verifying with them costs too much for an untrusted JWKS. */
#define KEY_RSA_MAX_BITS 8192

static int key_bn_param(EVP_PKEY *pkey, const char *name, uint8_t *out, size_t room, size_t fixed,
                        size_t *len)
{
    BIGNUM *bn = NULL;
    int ok = EVP_PKEY_get_bn_param(pkey, name, &bn) && bn;
    if (ok) {
        size_t n = (size_t)BN_num_bytes(bn);
        if (fixed) {
            ok = n <= fixed && BN_bn2binpad(bn, out, (int)fixed) == (int)fixed;
            n = fixed;
        } else {
            ok = n <= room && BN_bn2bin(bn, out) == (int)n;
        }
        *len = n;
    }
    BN_free(bn);
    return ok ? 0 : -1;
}

/* The public components of a key, base64url-encoded: EC x and y, or RSA n and e. */
typedef struct key_public {
    char a[KEY_RSA_MAX_BITS / 6 + 8]; /* x or n */
    char b[64];                       /* y or e */
} key_public;

static int key_export_public(EVP_PKEY *pkey, crypto_key_type type, key_public *p)
{
    uint8_t bytes[KEY_RSA_MAX_BITS / 8];
    size_t n;
    if (type == CRYPTO_KEY_EC) {
        if (key_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, bytes, sizeof bytes, 32, &n)) return -1;
        crypto_b64url_encode(bytes, n, p->a);
        if (key_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, bytes, sizeof bytes, 32, &n)) return -1;
        crypto_b64url_encode(bytes, n, p->b);
    } else {
        if (key_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, bytes, sizeof bytes, 0, &n)) return -1;
        crypto_b64url_encode(bytes, n, p->a);
        if (key_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, bytes, 16, 0, &n)) return -1;
        crypto_b64url_encode(bytes, n, p->b);
    }
    return 0;
}

int crypto_key_thumbprint(EVP_PKEY *pkey, crypto_key_type type, char *out, size_t outlen)
{
    key_public *p = malloc(sizeof *p);
    if (!p || outlen < 44 || key_export_public(pkey, type, p)) {
        free(p);
        ERR_clear_error();
        return -1;
    }
    /* RFC 7638: the required members only, in lexicographic order, no white space. */
    socle_buf b = SOCLE_BUF_INIT;
    if (type == CRYPTO_KEY_EC)
        buf_printf(&b, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", p->a, p->b);
    else
        buf_printf(&b, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", p->b, p->a);
    free(p);
    if (!buf_ok(&b)) {
        buf_free(&b);
        return -1;
    }
    uint8_t h[32];
    crypto_sha256(b.data, b.len, h);
    buf_free(&b);
    crypto_b64url_encode(h, 32, out);
    return 0;
}

int crypto_key_wrap(EVP_PKEY *pkey, int has_private, const char *kid, crypto_key **out, socle_err *err)
{
    *out = NULL;
    crypto_key_type type = 0;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) ||
            (strcmp(group, "prime256v1") && strcmp(group, "P-256"))) {
            EVP_PKEY_free(pkey);
            ERR_clear_error();
            return socle_err_set(err, SOCLE_EINVAL, "EC key is not on curve P-256");
        }
        type = CRYPTO_KEY_EC;
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048 || bits > KEY_RSA_MAX_BITS) {
            EVP_PKEY_free(pkey);
            return socle_err_set(err, SOCLE_EINVAL, "RSA key of %d bits (2048 to %d accepted)", bits,
                                 KEY_RSA_MAX_BITS);
        }
        type = CRYPTO_KEY_RSA;
    } else {
        EVP_PKEY_free(pkey);
        return socle_err_set(err, SOCLE_EINVAL, "unsupported key type (EC P-256 or RSA only)");
    }
    crypto_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    k->pkey = pkey;
    k->type = type;
    k->has_private = has_private;
    strcpy(k->alg, type == CRYPTO_KEY_EC ? "ES256" : "RS256");
    if (kid) {
        if (strlen(kid) >= sizeof k->kid) {
            crypto_key_free(k);
            return socle_err_set(err, SOCLE_EINVAL, "key id longer than %zu characters", sizeof k->kid - 1);
        }
        strcpy(k->kid, kid);
    } else if (crypto_key_thumbprint(pkey, type, k->kid, sizeof k->kid)) {
        crypto_key_free(k);
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot compute the key thumbprint");
    }
    if (has_private) k->sign_template = crypto_sign_template(k);
    *out = k;
    return 0;
}

/* The key types a server key file may hold, and what crypto_key_load_or_create* expect. */
static const char *key_type_name(crypto_key_type type)
{
    return type == CRYPTO_KEY_RSA ? "RSA" : "EC P-256";
}

/* key_load - read the private key at path; it must be of the expected type (an EC file given to
 * the RSA loader, or the reverse, is a configuration mistake worth a clear message). */
static int key_load(const char *path, crypto_key_type type, crypto_key **out, socle_err *err)
{
    EVP_PKEY *pkey = crypto_read_private(path, err);
    if (!pkey) return err ? err->code : SOCLE_EINVAL;
    if (!EVP_PKEY_is_a(pkey, type == CRYPTO_KEY_RSA ? "RSA" : "EC")) {
        const char *found = EVP_PKEY_get0_type_name(pkey);
        char name[32];
        snprintf(name, sizeof name, "%s", found ? found : "unknown");
        EVP_PKEY_free(pkey);
        return socle_err_set(err, SOCLE_EINVAL,
                             "the signing key %s holds a key of type %s (an %s key is expected)", path, name,
                             key_type_name(type));
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        log_line l;
        log_begin(&l, LOG_WARN, "signing key file is readable by group or others (expected mode 0600)");
        log_str(&l, "path", path);
        log_end(&l);
    }
    return crypto_key_wrap(pkey, 1, NULL, out, err);
}

/* key_create - generate a key of the given type (bits: RSA only) and write it where path says,
 * never over an existing file; if another process won the race, its key is loaded instead. */
static int key_create(const char *path, crypto_key_type type, int bits, crypto_key **out, socle_err *err)
{
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[4096];
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return socle_err_set(err, SOCLE_EINVAL, "key path too long");
        memcpy(dir, path, n);
        dir[n] = 0;
        int rc = crypto_mkdirs(dir, 0700, err);
        if (rc) return rc;
    }
    EVP_PKEY *pkey = type == CRYPTO_KEY_RSA ? EVP_RSA_gen((unsigned int)bits) : EVP_EC_gen("P-256");
    BIO *pem = pkey ? crypto_pem_private(pkey) : NULL;
    if (!pem) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot generate an %s key", key_type_name(type));
    }
    char *data;
    long n = BIO_get_mem_data(pem, &data);
    int rc = crypto_write_new(path, data, (size_t)n, 0600, err);
    BIO_free(pem);
    if (rc == SOCLE_ECONFLICT) { /* another process created it first: use theirs */
        EVP_PKEY_free(pkey);
        return key_load(path, type, out, err);
    }
    if (rc) {
        EVP_PKEY_free(pkey);
        return rc;
    }
    log_line l;
    log_begin(&l, LOG_INFO, "created a new signing key");
    log_str(&l, "path", path);
    log_str(&l, "type", key_type_name(type));
    if (type == CRYPTO_KEY_RSA) log_int(&l, "bits", bits);
    log_end(&l);
    return crypto_key_wrap(pkey, 1, NULL, out, err);
}

static int key_load_or_create(const char *path, crypto_key_type type, int bits, crypto_key **out,
                              socle_err *err)
{
    *out = NULL;
    if (!path || !*path) return socle_err_set(err, SOCLE_EINVAL, "no signing key path configured");
    struct stat st;
    if (stat(path, &st) == 0) return key_load(path, type, out, err);
    if (errno != ENOENT) return socle_err_set(err, SOCLE_EIO, "cannot access %s: %s", path, strerror(errno));
    return key_create(path, type, bits, out, err);
}

int crypto_key_load_or_create(const char *path, crypto_key **out, socle_err *err)
{
    return key_load_or_create(path, CRYPTO_KEY_EC, 0, out, err);
}

int crypto_key_load_or_create_rsa(const char *path, int bits, crypto_key **out, socle_err *err)
{
    *out = NULL;
    if (bits < 2048 || bits > KEY_RSA_MAX_BITS)
        return socle_err_set(err, SOCLE_EINVAL, "RSA key size of %d bits (2048 to %d accepted)", bits,
                             KEY_RSA_MAX_BITS);
    return key_load_or_create(path, CRYPTO_KEY_RSA, bits, out, err);
}

void crypto_key_free(crypto_key *k)
{
    if (!k) return;
    EVP_MD_CTX_free(k->sign_template);
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *crypto_key_kid(const crypto_key *k)
{
    return k->kid;
}

const char *crypto_key_alg(const crypto_key *k)
{
    return k->alg;
}

char *crypto_key_public_jwk(const crypto_key *k)
{
    key_public *p = malloc(sizeof *p);
    if (!p || key_export_public(k->pkey, k->type, p)) {
        free(p);
        ERR_clear_error();
        return NULL;
    }
    socle_buf b = SOCLE_BUF_INIT;
    if (k->type == CRYPTO_KEY_EC)
        buf_printf(&b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"", p->a, p->b);
    else
        buf_printf(&b, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", p->a, p->b);
    free(p);
    buf_puts(&b, ",\"kid\":");
    buf_json_string(&b, k->kid);
    buf_printf(&b, ",\"alg\":\"%s\",\"use\":\"sig\"}", k->alg);
    if (!buf_ok(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b, NULL);
}
