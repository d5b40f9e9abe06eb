/* totp.h - one-time passwords for the e-CPS stand-in of Pro Santé Connect: HOTP (RFC 4226), TOTP
 * (RFC 6238), base32 secrets (RFC 4648 section 6) and the otpauth:// URI authenticator apps read.
 *
 * NAME
 *      totp - HOTP/TOTP codes, their verification with replay protection, base32, otpauth URIs.
 * SYNOPSIS
 *      crypto_base32_encode(), crypto_base32_decode()
 *      crypto_hotp(), crypto_totp(), crypto_totp_verify()
 *      crypto_totp_secret_new(), crypto_totp_uri()
 * DESCRIPTION
 *      A secret is a byte string shared with the user's authenticator app (shown once as a QR
 *      code of the otpauth URI). A code is HMAC(secret, counter) truncated to 6-8 decimal digits;
 *      for TOTP the counter is the time step floor(unix_time / period). The caller stores, per
 *      user, the secret and the last accepted time step, and passes that step back to
 *      crypto_totp_verify(), which refuses it and every earlier step (RFC 6238 section 5.2: a code
 *      is good once).
 *      Nothing here logs anything, and error codes never carry a secret or a code.
 * BUGS
 *      Several authenticator apps ignore the URI's algorithm, digits and period parameters and
 *      always use SHA-1, 6 digits, 30 s: use those values unless the user's app is known.
 * SEE ALSO
 *      id_random_bytes() in base/ids.h, the randomness behind crypto_totp_secret_new().
 */
#ifndef SOCLE_CRYPTO_TOTP_H
#define SOCLE_CRYPTO_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The HMAC hash of a one-time password. 0 is deliberately not a value, so a forgotten field is
 * refused rather than taken for SHA-1. */
typedef enum { CRYPTO_OTP_SHA1 = 1, CRYPTO_OTP_SHA256, CRYPTO_OTP_SHA512 } crypto_otp_alg;

enum {
    CRYPTO_OTP_MIN_DIGITS = 6,
    CRYPTO_OTP_MAX_DIGITS = 8,
    CRYPTO_OTP_MIN_KEY = 16,    /* bytes; RFC 4226 R6: a shared secret of at least 128 bits */
    CRYPTO_OTP_MAX_KEY = 64,    /* bytes; the RFC 6238 SHA-512 seed */
    CRYPTO_OTP_MAX_WINDOW = 10, /* steps either side of now that crypto_totp_verify may accept */
};

/* Characters (without the NUL) of the unpadded base32 of n bytes. */
#define CRYPTO_BASE32_LEN(n) (((n)*8 + 4) / 5)

/* crypto_base32_encode - unpadded, uppercase base32 (RFC 4648 section 6) of n bytes into out,
 * NUL-terminated; outsz must be at least CRYPTO_BASE32_LEN(n) + 1. Returns the length written
 * (without the NUL), or SOCLE_ETOOLARGE when out is too small (out is then the empty string if
 * outsz > 0). */
int crypto_base32_encode(const uint8_t *in, size_t n, char *out, size_t outsz);

/* crypto_base32_decode - decode the NUL-terminated base32 string in into out (room: outsz bytes),
 * its length into *outlen. Lower and upper case are accepted, spaces and '-' (the groups people
 * type) are skipped, and '=' padding is optional but, when present, must be complete and last.
 * Returns 0; SOCLE_EINVAL on any other character, misplaced or partial padding, an impossible
 * length or non-zero unused trailing bits (so one byte string has one encoding); SOCLE_ETOOLARGE
 * when the result would not fit in outsz bytes. On failure out is wiped and *outlen is 0. */
int crypto_base32_decode(const char *in, uint8_t *out, size_t outsz, size_t *outlen);

/* crypto_hotp - the RFC 4226 HOTP value of counter: HMAC (algorithm, one of crypto_otp_alg) of
 * the 8-byte big-endian counter under key, dynamically truncated to `digits` (6-8) decimal digits.
 * Print it with "%0*u" (digits, value): leading zeros are part of the code. Returns UINT32_MAX,
 * which no code can equal, for digits out of range, an unknown algorithm or a NULL key with
 * keylen > 0; any key length is taken (RFC test vectors), crypto_totp_verify enforces the minimum.
 * Aborts only if OpenSSL itself cannot compute an HMAC (a broken installation). */
uint32_t crypto_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits, int algorithm);

/* crypto_totp - the RFC 6238 TOTP value at unix_time (seconds, >= 0) with a period of
 * step_seconds (> 0) and T0 = 0, i.e. crypto_hotp(counter = unix_time / step_seconds). Returns
 * UINT32_MAX on a bad argument, like crypto_hotp. For the demo and tests; servers verify with
 * crypto_totp_verify. */
uint32_t crypto_totp(const uint8_t *key, size_t keylen, int64_t unix_time, int step_seconds, int digits,
                     int algorithm);

/* crypto_totp_verify - check the code a user typed against the time steps t-window .. t+window
 * around t = unix_time / step_seconds, comparing every candidate in constant time (all of them
 * are computed, whatever matches). Steps <= last_used_step are refused (pass -1 when no code was
 * ever accepted); when the code matches several fresh steps the latest one is taken, so the same
 * digits cannot be replayed. On success *matched_step (may be NULL) is set to the step to store as
 * the new last_used_step.
 * Returns:
 *   0                     the code is good;
 *   SOCLE_EUNAUTHORIZED   it matches no step of the window;
 *   SOCLE_ECONFLICT       it matches only steps already used: a replay (tell the user no more than
 *                         for a wrong code; worth auditing);
 *   SOCLE_EINVAL          code is NULL or not exactly `digits` ASCII digits;
 *   SOCLE_EINTERNAL       a caller bug: key shorter than CRYPTO_OTP_MIN_KEY or longer than
 *                         CRYPTO_OTP_MAX_KEY, digits out of 6-8, unknown algorithm,
 *                         step_seconds <= 0, window outside 0..CRYPTO_OTP_MAX_WINDOW,
 *                         unix_time < 0. */
int crypto_totp_verify(const uint8_t *key, size_t keylen, const char *code, int64_t unix_time,
                       int step_seconds, int window, int digits, int algorithm, int64_t last_used_step,
                       int64_t *matched_step);

/* crypto_totp_secret_new - a fresh random secret of keylen bytes (CRYPTO_OTP_MIN_KEY ..
 * CRYPTO_OTP_MAX_KEY; 20 is the usual choice for SHA-1) into key, and its unpadded base32 into b32
 * (b32sz >= CRYPTO_BASE32_LEN(keylen) + 1) for crypto_totp_uri. Returns 0, SOCLE_EINTERNAL for a
 * bad keylen, or SOCLE_ETOOLARGE when b32 is too small (key is then left untouched). */
int crypto_totp_secret_new(uint8_t *key, size_t keylen, char *b32, size_t b32sz);

/* crypto_totp_uri - the key URI authenticator apps scan:
 *   otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
 * into out (outsz bytes, NUL-terminated). Issuer and account are percent-encoded (UTF-8 bytes
 * kept as such, everything but A-Z a-z 0-9 - . _ ~ @ as %XX; a space is %20, never '+'). issuer
 * may be NULL or "" (then neither the label prefix nor the parameter appear). Returns the length
 * written (without the NUL); SOCLE_EINVAL when account is NULL or empty, issuer or account
 * contains ':' (the label separator, which the key URI format forbids in both) or a control
 * character, base32_secret is empty or not uppercase unpadded base32, digits is out of 6-8,
 * step <= 0 or the algorithm unknown; SOCLE_ETOOLARGE when out is too small (out is then "").
 * The URI carries the secret: show it to its owner once, never log or store it. */
int crypto_totp_uri(char *out, size_t outsz, const char *issuer, const char *account,
                    const char *base32_secret, int digits, int step, int algorithm);

#endif
