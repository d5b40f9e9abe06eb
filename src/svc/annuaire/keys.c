/* keys.c - Luhn keys and the checks of RPPS, ADELI, FINESS, SIREN, SIRET, IDNPS and IDNST
 * (rules and their sources in keys.h). */
#include "svc/annuaire/keys.h"

#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The Luhn sum of the n digits at s, the rightmost one at weight 1 when `with_key`, at weight 2
 * otherwise (the key is still to come); -1 when one is not a digit. */
static int luhn_sum(const char *s, size_t n, int with_key)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[n - 1 - i];
        if (!is_digit(c)) return -1;
        int d = c - '0';
        if ((int)(i & 1) == with_key) { /* every second digit, counting from the key, is doubled */
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return sum;
}

int annuaire_luhn_key(const char *s, size_t n)
{
    int sum = luhn_sum(s, n, 0);
    return sum < 0 ? -1 : (10 - sum % 10) % 10;
}

int annuaire_luhn_valid(const char *s, size_t n)
{
    int sum = luhn_sum(s, n, 1);
    return sum < 0 ? -1 : sum % 10 == 0;
}

/* Length check shared by the functions below: 0 when s has exactly n bytes. */
static int len_is(const char *s, size_t n, const char *what, socle_err *err)
{
    if (!s) return socle_err_set(err, SOCLE_EINVAL, "%s: missing", what);
    size_t len = strlen(s);
    if (len != n) return socle_err_set(err, SOCLE_EINVAL, "%s: must be %zu characters, got %zu", what, n, len);
    return 0;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

int annuaire_rpps_check(const char *s, unsigned flags, socle_err *err)
{
    int rc = len_is(s, 11, "RPPS", err);
    if (rc) return rc;
    if (!all_digits(s, 11)) return socle_err_set(err, SOCLE_EINVAL, "RPPS: must be digits only");
    if ((flags & ANNUAIRE_KEY_RPPS) && annuaire_luhn_valid(s, 11) != 1)
        return socle_err_set(err, SOCLE_EINVAL, "RPPS: wrong key (Luhn)");
    return 0;
}

/* 1 when s[0..1] is a Corsican département code, 2A or 2B. */
static int corsica(const char *s) { return s[0] == '2' && (s[1] == 'A' || s[1] == 'B'); }

int annuaire_adeli_check(const char *s, unsigned flags, socle_err *err)
{
    int rc = len_is(s, 9, "ADELI", err);
    if (rc) return rc;
    int cors = corsica(s);
    if (!all_digits(s + 2, 7) || (!cors && !all_digits(s, 2)))
        return socle_err_set(err, SOCLE_EINVAL, "ADELI: must be digits (2A or 2B allowed as the département)");
    /* The Luhn guess is checked on non-Corsican numbers only (letters have no known weight). */
    if ((flags & ANNUAIRE_KEY_ADELI) && !cors && annuaire_luhn_valid(s, 9) != 1)
        return socle_err_set(err, SOCLE_EINVAL, "ADELI: wrong key (Luhn)");
    return 0;
}

int annuaire_finess_key(const char *s)
{
    if (!s || strnlen(s, 8) < 8) return -1; /* 8 characters are read */
    return annuaire_luhn_key(s, 8);
}

int annuaire_finess_check(const char *s, unsigned flags, socle_err *err)
{
    int rc = len_is(s, 9, "FINESS", err);
    if (rc) return rc;
    int cors = corsica(s);
    if (!all_digits(s + 2, 7) || (!cors && !all_digits(s, 2)))
        return socle_err_set(err, SOCLE_EINVAL, "FINESS: must be digits (2A or 2B allowed as the département)");
    if ((flags & ANNUAIRE_KEY_FINESS) && !cors && annuaire_luhn_valid(s, 9) != 1)
        return socle_err_set(err, SOCLE_EINVAL, "FINESS: wrong key (Luhn)");
    return 0;
}

int annuaire_siren_check(const char *s, socle_err *err)
{
    int rc = len_is(s, 9, "SIREN", err);
    if (rc) return rc;
    if (!all_digits(s, 9)) return socle_err_set(err, SOCLE_EINVAL, "SIREN: must be digits only");
    if (annuaire_luhn_valid(s, 9) != 1) return socle_err_set(err, SOCLE_EINVAL, "SIREN: wrong key (Luhn)");
    return 0;
}

#define LA_POSTE_SIREN "356000000"

int annuaire_siret_check(const char *s, socle_err *err)
{
    int rc = len_is(s, 14, "SIRET", err);
    if (rc) return rc;
    if (!all_digits(s, 14)) return socle_err_set(err, SOCLE_EINVAL, "SIRET: must be digits only");
    if (annuaire_luhn_valid(s, 9) != 1)
        return socle_err_set(err, SOCLE_EINVAL, "SIRET: the SIREN (first 9 digits) has a wrong key (Luhn)");
    if (annuaire_luhn_valid(s, 14) == 1) return 0;
    if (!memcmp(s, LA_POSTE_SIREN, 9)) {
        int sum = 0;
        for (int i = 0; i < 14; i++) sum += s[i] - '0';
        if (sum % 5 == 0) return 0;
        return socle_err_set(err, SOCLE_EINVAL, "SIRET: wrong key (La Poste: digit sum must be a multiple of 5)");
    }
    return socle_err_set(err, SOCLE_EINVAL, "SIRET: wrong key (Luhn)");
}

/* Copy prefix digit + number into out. */
static int put_id(char *out, size_t outsz, int type, const char *number, const char *what, socle_err *err)
{
    size_t n = strlen(number);
    if (!out || outsz < n + 2) return socle_err_set(err, SOCLE_EINVAL, "%s: output buffer too small", what);
    out[0] = (char)('0' + type);
    memcpy(out + 1, number, n + 1);
    return 0;
}

int annuaire_idnps_build(char *out, size_t outsz, int type, const char *number, unsigned flags, socle_err *err)
{
    int rc;
    if (type == ANNUAIRE_PP_RPPS) rc = annuaire_rpps_check(number, flags, err);
    else if (type == ANNUAIRE_PP_ADELI) rc = annuaire_adeli_check(number, flags, err);
    else return socle_err_set(err, SOCLE_EINVAL, "IDNPS: type must be 8 (RPPS) or 0 (ADELI)");
    if (rc) return rc;
    return put_id(out, outsz, type, number, "IDNPS", err);
}

/* Copy the number part of an identifier (after the prefix) into number. */
static int take_number(const char *src, char *number, size_t numsz, const char *what, socle_err *err)
{
    size_t n = strlen(src);
    if (!number || numsz < n + 1) return socle_err_set(err, SOCLE_EINVAL, "%s: output buffer too small", what);
    memcpy(number, src, n + 1);
    return 0;
}

int annuaire_idnps_parse(const char *idnps, int *type, char *number, size_t numsz, unsigned flags, socle_err *err)
{
    if (!idnps || !*idnps) return socle_err_set(err, SOCLE_EINVAL, "IDNPS: missing");
    int rc, t = idnps[0] - '0';
    if (t == ANNUAIRE_PP_RPPS) rc = annuaire_rpps_check(idnps + 1, flags, err);
    else if (t == ANNUAIRE_PP_ADELI) rc = annuaire_adeli_check(idnps + 1, flags, err);
    else return socle_err_set(err, SOCLE_EINVAL, "IDNPS: must start with 8 (RPPS) or 0 (ADELI)");
    if (rc) return rc;
    rc = take_number(idnps + 1, number, numsz, "IDNPS", err);
    if (rc) return rc;
    if (type) *type = t;
    return 0;
}

/* A cabinet number: 1-30 ASCII letters or digits (no published format). */
static int cabinet_check(const char *s, socle_err *err)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 30) return socle_err_set(err, SOCLE_EINVAL, "IDNST: a cabinet number must be 1 to 30 characters");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_digit(c) && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z'))
            return socle_err_set(err, SOCLE_EINVAL, "IDNST: a cabinet number must be letters or digits");
    }
    return 0;
}

static int idnst_number_check(int type, const char *number, unsigned flags, socle_err *err)
{
    switch (type) {
    case ANNUAIRE_ST_FINESS: return annuaire_finess_check(number, flags, err);
    case ANNUAIRE_ST_SIREN: return annuaire_siren_check(number, err);
    case ANNUAIRE_ST_SIRET: return annuaire_siret_check(number, err);
    case ANNUAIRE_ST_RPPS_CABINET:
    case ANNUAIRE_ST_ADELI_CABINET: return cabinet_check(number, err);
    default:
        return socle_err_set(err, SOCLE_EINVAL,
                             "IDNST: type must be 1 (FINESS), 2 (SIREN), 3 (SIRET), 4 (RPPS cabinet) or 0 (ADELI cabinet)");
    }
}

int annuaire_idnst_build(char *out, size_t outsz, int type, const char *number, unsigned flags, socle_err *err)
{
    if (!number) return socle_err_set(err, SOCLE_EINVAL, "IDNST: missing number");
    int rc = idnst_number_check(type, number, flags, err);
    if (rc) return rc;
    return put_id(out, outsz, type, number, "IDNST", err);
}

int annuaire_idnst_parse(const char *idnst, int *type, char *number, size_t numsz, unsigned flags, socle_err *err)
{
    if (!idnst || !*idnst) return socle_err_set(err, SOCLE_EINVAL, "IDNST: missing");
    if (!is_digit(idnst[0])) return socle_err_set(err, SOCLE_EINVAL, "IDNST: must start with a type digit");
    int t = idnst[0] - '0';
    int rc = idnst_number_check(t, idnst + 1, flags, err);
    if (rc) return rc;
    rc = take_number(idnst + 1, number, numsz, "IDNST", err);
    if (rc) return rc;
    if (type) *type = t;
    return 0;
}
