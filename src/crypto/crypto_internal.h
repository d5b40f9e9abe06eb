/* crypto_internal.h - what the files of src/crypto share and nobody else may use: the layout of
 * a crypto_key and the careful file writing both the signing key and the test PKI need. */
#ifndef SOCLE_CRYPTO_INTERNAL_H
#define SOCLE_CRYPTO_INTERNAL_H

#include <openssl/evp.h>
#include <sys/types.h>

#include "crypto/crypto.h"

typedef enum { CRYPTO_KEY_EC = 1, CRYPTO_KEY_RSA } crypto_key_type;

struct crypto_key {
    EVP_PKEY *pkey;
    crypto_key_type type;
    int has_private;
    EVP_MD_CTX *sign_template; /* set up once for signing (private keys), copied by each crypto_sign */
    char kid[128];
    char alg[8];
};

/* crypto_sign_template - a digest-and-sign context of k set up for its JWS algorithm, or NULL
 * (crypto_sign then sets one up each time). */
EVP_MD_CTX *crypto_sign_template(const crypto_key *k);

/* crypto_key_wrap - a crypto_key around pkey (ownership taken, also on failure). kid NULL means
 * the RFC 7638 thumbprint. Refuses curves other than P-256 and RSA keys under 2048 bits. */
int crypto_key_wrap(EVP_PKEY *pkey, int has_private, const char *kid, crypto_key **out, socle_err *err);
/* crypto_key_thumbprint - RFC 7638 thumbprint of the public key, base64url, into out (>= 44 bytes). */
int crypto_key_thumbprint(EVP_PKEY *pkey, crypto_key_type type, char *out, size_t outlen);

/* crypto_mkdirs - create dir and its missing parents; the ones created get `mode`. */
int crypto_mkdirs(const char *dir, mode_t mode, socle_err *err);
/* crypto_write_new - write n bytes to path through a fresh temporary file (O_CREAT|O_EXCL, mode)
 * that is fsync'ed and then linked into place. Returns SOCLE_ECONFLICT if path already exists
 * (it is never replaced), 0, or SOCLE_EIO. */
int crypto_write_new(const char *path, const void *data, size_t n, mode_t mode, socle_err *err);
/* crypto_write_replace - the same, but atomically replaces an existing file (rename). */
int crypto_write_replace(const char *path, const void *data, size_t n, mode_t mode, socle_err *err);
/* crypto_pem_private - the PKCS#8 PEM of a private key, in a BIO that wipes its memory (BIO_free it). */
BIO *crypto_pem_private(EVP_PKEY *pkey);
/* crypto_read_private - load a PEM private key; never prompts for a pass phrase. */
EVP_PKEY *crypto_read_private(const char *path, socle_err *err);

#endif
