/* seal.c - AES-256-GCM sealing of the small opaque values the server hands out and takes back
 * (search cursors), and the derivation of their key from the signing key, so that every node that
 * shares the signing key opens what another one sealed. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <string.h>

#include "crypto/crypto_internal.h"

int crypto_key_derive(const crypto_key *k, const char *label, uint8_t out[32])
{
    if (!k || !k->has_private) return SOCLE_EINVAL;
    /* The secret itself, not the file's encoding of it (SEC1 or PKCS#8, with or without the public
     * point): two nodes given the same key in different forms derive the same secret. */
    uint8_t secret[1024];
    size_t n = 0;
    BIGNUM *priv = NULL;
    const char *param = k->type == CRYPTO_KEY_EC ? OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_RSA_D;
    if (EVP_PKEY_get_bn_param(k->pkey, param, &priv) == 1) {
        int bytes = k->type == CRYPTO_KEY_EC ? 32 : EVP_PKEY_get_size(k->pkey);
        if (bytes > 0 && (size_t)bytes <= sizeof secret && BN_bn2binpad(priv, secret, bytes) == bytes) n = (size_t)bytes;
    }
    BN_clear_free(priv);
    if (!n) return SOCLE_EINVAL;
    crypto_hmac_sha256(secret, n, label, strlen(label), out);
    OPENSSL_cleanse(secret, sizeof secret);
    return 0;
}

int crypto_seal(const uint8_t key[32], const void *aad, size_t aad_len, const void *in, size_t n, uint8_t *out)
{
    uint8_t *nonce = out, *sealed = out + 12, *tag = out + 12 + n;
    if (n > INT32_MAX || aad_len > INT32_MAX || RAND_bytes(nonce, 12) != 1) return SOCLE_EINTERNAL;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, last = 0;
    int ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
             (!aad_len || EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) == 1) &&
             EVP_EncryptUpdate(c, sealed, &len, in, (int)n) == 1 && EVP_EncryptFinal_ex(c, sealed + len, &last) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : SOCLE_EINTERNAL;
}

int crypto_open(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                size_t *outlen)
{
    if (n < CRYPTO_SEAL_OVERHEAD || n > INT32_MAX || aad_len > INT32_MAX) return SOCLE_EINVAL;
    size_t plain = n - CRYPTO_SEAL_OVERHEAD;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, last = 0;
    int ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
             (!aad_len || EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) == 1) &&
             EVP_DecryptUpdate(c, out, &len, in + 12, (int)plain) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 12 + plain)) == 1 &&
             EVP_DecryptFinal_ex(c, out + len, &last) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) return SOCLE_EINVAL;
    *outlen = plain;
    return 0;
}
