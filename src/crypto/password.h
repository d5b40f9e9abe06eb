/* password.h - password hashing for accounts that log in with a password (the patients of Pro Santé
 * Connect's patient realm): Argon2id (RFC 9106) through libargon2, in its encoded form
 * ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so parameters can grow without breaking old hashes.
 * Parameters: 19 MiB, 2 passes, 1 lane (OWASP's minimum for Argon2id); a 16-byte random salt.
 * Nothing here logs; passwords are wiped from the library's buffers by libargon2. */
#ifndef SOCLE_CRYPTO_PASSWORD_H
#define SOCLE_CRYPTO_PASSWORD_H

#include <stddef.h>

#include "base/err.h"

/* Room for an encoded hash, NUL included. */
#define CRYPTO_PASSWORD_HASH_MAX 128
/* Shortest and longest password accepted (bytes of UTF-8). */
#define CRYPTO_PASSWORD_MIN 12
#define CRYPTO_PASSWORD_MAX 256

/* crypto_password_hash - the encoded Argon2id hash of password into out. 0; SOCLE_EINVAL when the
 * password is shorter than CRYPTO_PASSWORD_MIN or longer than CRYPTO_PASSWORD_MAX bytes (the
 * message says which); SOCLE_EINTERNAL when libargon2 fails (memory). */
int crypto_password_hash(const char *password, char out[CRYPTO_PASSWORD_HASH_MAX], socle_err *err);

/* crypto_password_verify - 0 when password matches the encoded hash, SOCLE_EUNAUTHORIZED when it
 * does not (or the hash is malformed, or the password too long; the message says so). Constant
 * time in the password. Without a hash (NULL or "": no account) the same Argon2 work runs against
 * a fixed hash of the current parameters that no password matches, so that the answer's time does
 * not tell whether the account exists; always SOCLE_EUNAUTHORIZED then. */
int crypto_password_verify(const char *encoded, const char *password, socle_err *err);

#endif
