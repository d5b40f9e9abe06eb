/* test_password.c - Argon2id password hashes: the encoded form, verification, length limits, the
 * verification against no account. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto/password.h"

static void test_hash_and_verify(void **state)
{
    char h1[CRYPTO_PASSWORD_HASH_MAX], h2[CRYPTO_PASSWORD_HASH_MAX];
    socle_err err;
    assert_int_equal(crypto_password_hash("correct horse battery", h1, &err), 0);
    assert_int_equal(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    assert_int_equal(crypto_password_hash("correct horse battery", h2, &err), 0);
    assert_string_not_equal(h1, h2); /* a fresh salt each time */
    assert_int_equal(crypto_password_verify(h1, "correct horse battery", &err), 0);
    assert_int_equal(crypto_password_verify(h2, "correct horse battery", &err), 0);
    assert_int_equal(crypto_password_verify(h1, "correct horse batterY", &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(crypto_password_verify(h1, "", &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(crypto_password_verify(h1, NULL, &err), SOCLE_EUNAUTHORIZED);
    /* Malformed or other-algorithm hashes never verify. */
    assert_int_equal(crypto_password_verify("$argon2i$v=19$m=19456,t=2,p=1$AAAA$BBBB", "x", &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(crypto_password_verify("garbage", "correct horse battery", &err), SOCLE_EUNAUTHORIZED);
    assert_int_equal(crypto_password_verify(NULL, "correct horse battery", &err), SOCLE_EUNAUTHORIZED);
    h1[strlen(h1) - 2] ^= 1;
    assert_int_equal(crypto_password_verify(h1, "correct horse battery", &err), SOCLE_EUNAUTHORIZED);
}

static void test_length_limits(void **state)
{
    char h[CRYPTO_PASSWORD_HASH_MAX], long_password[CRYPTO_PASSWORD_MAX + 2];
    socle_err err;
    assert_int_equal(crypto_password_hash("11 chars...", h, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "at least 12"));
    assert_string_equal(h, "");
    assert_int_equal(crypto_password_hash(NULL, h, &err), SOCLE_EINVAL);
    memset(long_password, 'a', sizeof long_password - 1);
    long_password[sizeof long_password - 1] = 0;
    assert_int_equal(crypto_password_hash(long_password, h, &err), SOCLE_EINVAL);
    long_password[CRYPTO_PASSWORD_MAX] = 0;
    assert_int_equal(crypto_password_hash(long_password, h, &err), 0);
    assert_int_equal(crypto_password_verify(h, long_password, &err), 0);
    assert_int_equal(crypto_password_hash("twelve chars", h, &err), 0);
}

/* Without a hash (no account) every password is refused, after a real Argon2 verification of the
 * fixed hash (a mismatch, not a hash that could not be read). */
static void test_verify_none(void **state)
{
    socle_err err;
    const char *none[] = {"", NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(crypto_password_verify(none[i], "correct horse battery", &err), SOCLE_EUNAUTHORIZED);
        assert_string_equal(err.msg, "wrong password");
        assert_int_equal(crypto_password_verify(none[i], "", &err), SOCLE_EUNAUTHORIZED);
        assert_int_equal(crypto_password_verify(none[i], NULL, &err), SOCLE_EUNAUTHORIZED);
    }
    assert_int_equal(crypto_password_verify("$argon2id$v=19$garbage", "correct horse battery", &err), SOCLE_EUNAUTHORIZED);
    assert_string_equal(err.msg, "wrong password (the hash could not be read)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_verify_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
