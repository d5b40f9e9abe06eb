/* crypto.h - hashes, encodings and the server's signing key (OpenSSL 3).
 *
 * NAME
 *      crypto - SHA-256, HMAC, base64/base64url, ES256/RS256 keys and JWS compact signatures.
 * DESCRIPTION
 *      The server signs tokens and audit checkpoints with one EC P-256 key (ES256) kept as PEM in
 *      `$data/keys/signing.pem` (mode 0600), created on first use. Where a client requires RS256
 *      (OpenID Connect ID tokens), an RSA key file is handled the same way. A key id (`kid`) is the
 *      RFC 7638 JWK thumbprint. Keys of other issuers come from JWKS documents (EC P-256 and RSA).
 *      Nothing here logs key material.
 */
#ifndef SOCLE_CRYPTO_CRYPTO_H
#define SOCLE_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

/* crypto_sha256 - SHA-256 of data into out. Can't fail. */
void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
/* crypto_sha1 - SHA-1 of data: only for the document hash IHE XDS/MHD metadata carry (not for
 * anything that needs collision resistance). Can't fail. */
void crypto_sha1(const void *data, size_t n, uint8_t out[20]);
/* crypto_hmac_sha256 - HMAC-SHA-256. Can't fail. */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[32]);
/* crypto_hex - lowercase hex of n bytes into out (2n+1 bytes). Returns out. */
char *crypto_hex(const uint8_t *in, size_t n, char *out);
/* crypto_equal - constant-time comparison of two n-byte areas: 1 equal, 0 not. */
int crypto_equal(const void *a, const void *b, size_t n);

/* crypto_b64url_encode - unpadded base64url of n bytes into out (needs 4*ceil(n/3)+1 bytes);
 * returns the length written (without the NUL). */
size_t crypto_b64url_encode(const uint8_t *in, size_t n, char *out);
/* crypto_b64url_decode - decode (padding optional) into out (needs 3*ceil(n/4) bytes); returns 0 or
 * SOCLE_EINVAL on a character outside the alphabet or an impossible length. */
int crypto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);
/* Standard base64 (with padding), as FHIR base64Binary uses. Same contracts as above; decode
 * also rejects misplaced padding and ignores no white space. */
size_t crypto_b64_encode(const uint8_t *in, size_t n, char *out);
int crypto_b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);
/* crypto_b64_span - how many of the first n characters of in are in the standard alphabet, in a row. */
size_t crypto_b64_span(const char *in, size_t n);

typedef struct crypto_key crypto_key;

/* crypto_key_load_or_create - read the EC P-256 private key (ES256) at path, or create it as
 * PKCS#8 PEM (and its directory, mode 0700; the file mode 0600, written atomically, never over an
 * existing file) when missing. A file holding another key type (RSA...) is refused with
 * SOCLE_EINVAL, never replaced. The caller frees *out; *out is NULL on error. */
int crypto_key_load_or_create(const char *path, crypto_key **out, socle_err *err);
/* crypto_key_load_or_create_rsa - the same for an RSA private key (RS256): bits (2048 to 8192,
 * otherwise SOCLE_EINVAL; 3072 is the usual choice) is the size of a key created now; an existing
 * file is used whatever its size within that range. A file holding an EC key is refused with
 * SOCLE_EINVAL. Creating a key takes a noticeable time (about a second for 3072 bits). */
int crypto_key_load_or_create_rsa(const char *path, int bits, crypto_key **out, socle_err *err);
/* crypto_key_from_jwk_json - a public key from one JWK object (kty EC crv P-256, or kty RSA). */
int crypto_key_from_jwk_json(const char *json, size_t n, crypto_key **out, socle_err *err);
void crypto_key_free(crypto_key *k);
/* crypto_key_kid - the key id: the RFC 7638 thumbprint (members crv, kty, x, y for EC; e, kty, n
 * for RSA), or the JWK's own "kid" for imported keys. */
const char *crypto_key_kid(const crypto_key *k);
/* crypto_key_alg - the JWS algorithm the key's type implies: "ES256" (EC) or "RS256" (RSA). */
const char *crypto_key_alg(const crypto_key *k);
/* crypto_key_public_jwk - the public key as a JWK JSON object (kty EC with crv, x, y, or kty RSA
 * with n, e as unpadded base64url of unsigned big-endian integers, no leading zero bytes), with
 * kid, alg and use=sig; the caller frees the string. NULL when out of memory. */
char *crypto_key_public_jwk(const crypto_key *k);

/* The largest signature crypto_sign writes: RS256 with an RSA-8192 key. */
#define CRYPTO_SIG_MAX 1024

/* crypto_sign - sign data with a private key using its algorithm: for ES256 the 64-byte R||S form
 * JWS uses, for RS256 the RSASSA-PKCS1-v1_5 SHA-256 signature (as long as the modulus: 384 bytes
 * for RSA-3072). *siglen in: room in sig (CRYPTO_SIG_MAX is always enough; less than the
 * signature gives SOCLE_EINVAL), out: bytes written. SOCLE_EINVAL for a public-only key. */
int crypto_sign(const crypto_key *k, const void *data, size_t n, uint8_t *sig, size_t *siglen, socle_err *err);
/* crypto_verify - 0 if sig is a valid signature of data, SOCLE_EUNAUTHORIZED otherwise. */
int crypto_verify(const crypto_key *k, const void *data, size_t n, const uint8_t *sig, size_t siglen,
                  socle_err *err);

/* crypto_key_derive - a 32-byte secret for one use (label, e.g. "socle search cursor v1") from a
 * private key: HMAC-SHA-256 keyed by the private value itself (the EC scalar, the RSA exponent d),
 * whatever the encoding of the key file. SOCLE_EINVAL for a public-only key. */
int crypto_key_derive(const crypto_key *k, const char *label, uint8_t out[32]);

/* Bytes crypto_seal adds: a 12-byte random nonce before, a 16-byte tag after. */
#define CRYPTO_SEAL_OVERHEAD 28
/* crypto_seal - AES-256-GCM of n bytes under key into out (n + CRYPTO_SEAL_OVERHEAD bytes), bound
 * to aad (aad_len bytes, not stored: what the value is for): only a holder of the key can read it,
 * nobody can alter it or use it for another aad unseen. 0 or SOCLE_EINTERNAL. */
int crypto_seal(const uint8_t key[32], const void *aad, size_t aad_len, const void *in, size_t n, uint8_t *out);
/* crypto_open - the n - CRYPTO_SEAL_OVERHEAD bytes sealed in `in` into out (*outlen); SOCLE_EINVAL
 * when in was not sealed under key for this aad, or was altered. */
int crypto_open(const uint8_t key[32], const void *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                size_t *outlen);

/* crypto_jws_sign - compact JWS (header.payload.signature) of payload_json with the key's alg
 * (ES256 or RS256, never chosen by the caller) and kid, header typ "JWT". The caller frees *out. */
int crypto_jws_sign(const crypto_key *k, const char *payload_json, char **out, socle_err *err);

/* crypto_jws_split - check the compact form and decode its parts: the header JSON, the payload
 * JSON and the signature (all malloc'ed into *header, *payload, *sig; caller frees), the signing
 * input length (header.payload). Size limit 16 KiB. SOCLE_EUNAUTHORIZED when malformed. */
int crypto_jws_split(const char *compact, char **header, char **payload, uint8_t **sig, size_t *siglen,
                     size_t *signing_input_len, socle_err *err);

#endif
