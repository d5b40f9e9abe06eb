/* password.c - Argon2id password hashes (see password.h). */
#include "crypto/password.h"

#include <argon2.h>
#include <string.h>

#include "base/ids.h"

#define PASSWORD_T_COST 2
#define PASSWORD_M_COST_KIB 19456
#define PASSWORD_LANES 1
#define PASSWORD_SALT 16
#define PASSWORD_HASH 32

#define PASSWORD_TEXT(x) #x
#define PASSWORD_NUMBER(x) PASSWORD_TEXT(x)
/* The hash a verification without an account checks against: the parameters of new hashes, a zero
 * salt and a zero hash (base64 of 16 and 32 bytes), which no password can be expected to give. */
static const char PASSWORD_NONE[] =
    "$argon2id$v=19$m=" PASSWORD_NUMBER(PASSWORD_M_COST_KIB) ",t=" PASSWORD_NUMBER(PASSWORD_T_COST)
    ",p=" PASSWORD_NUMBER(PASSWORD_LANES) "$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

int crypto_password_hash(const char *password, char out[CRYPTO_PASSWORD_HASH_MAX], socle_err *err)
{
    size_t n = password ? strlen(password) : 0;
    out[0] = 0;
    if (n < CRYPTO_PASSWORD_MIN)
        return socle_err_set(err, SOCLE_EINVAL, "the password must have at least %d characters", CRYPTO_PASSWORD_MIN);
    if (n > CRYPTO_PASSWORD_MAX)
        return socle_err_set(err, SOCLE_EINVAL, "the password must have at most %d characters", CRYPTO_PASSWORD_MAX);
    unsigned char salt[PASSWORD_SALT];
    id_random_bytes(salt, sizeof salt);
    int rc = argon2id_hash_encoded(PASSWORD_T_COST, PASSWORD_M_COST_KIB, PASSWORD_LANES, password, n, salt, sizeof salt,
                                   PASSWORD_HASH, out, CRYPTO_PASSWORD_HASH_MAX);
    if (rc != ARGON2_OK) {
        out[0] = 0;
        return socle_err_set(err, SOCLE_EINTERNAL, "password hashing failed: %s", argon2_error_message(rc));
    }
    return 0;
}

int crypto_password_verify(const char *encoded, const char *password, socle_err *err)
{
    size_t n = password ? strlen(password) : 0;
    int none = !encoded || !*encoded;
    if (n > CRYPTO_PASSWORD_MAX) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong password");
    if (!none && strncmp(encoded, "$argon2id$", 10))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong password (the stored hash is not Argon2id)");
    int rc = argon2id_verify(none ? PASSWORD_NONE : encoded, password ? password : "", n);
    if (rc == ARGON2_OK && !none) return 0;
    return socle_err_set(err, SOCLE_EUNAUTHORIZED, rc == ARGON2_OK || rc == ARGON2_VERIFY_MISMATCH
                                                      ? "wrong password"
                                                      : "wrong password (the hash could not be read)");
}
