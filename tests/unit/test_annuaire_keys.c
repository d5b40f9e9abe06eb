/* test_annuaire_keys.c - unit tests of src/svc/annuaire/keys.c: Luhn keys with real published
 * numbers (RPPS, SIREN, SIRET including La Poste's exception, FINESS, ADELI), the switchable
 * unverified keys, bad lengths and characters, and IDNPS / IDNST build-parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"
#include "svc/annuaire/keys.h"

static void test_luhn(void **state)
{
    assert_int_equal(annuaire_luhn_key("1000104536", 10), 7);
    assert_int_equal(annuaire_luhn_key("73282932", 8), 0);
    assert_int_equal(annuaire_luhn_key("0100000", 7) >= 0, 1);
    assert_int_equal(annuaire_luhn_valid("10001045367", 11), 1);
    assert_int_equal(annuaire_luhn_valid("10001045368", 11), 0);
    assert_int_equal(annuaire_luhn_valid("1000104536X", 11), -1);
    assert_int_equal(annuaire_luhn_key("12a", 3), -1);
    /* key computed then appended always validates */
    char buf[16] = "4242424242424";
    buf[13] = (char)('0' + annuaire_luhn_key(buf, 13));
    assert_int_equal(annuaire_luhn_valid(buf, 14), 1);
}

static void test_rpps(void **state)
{
    socle_err err;
    /* real RPPS numbers as published in the public extract */
    const char *ok[] = {"10001045367", "10100224947", "10104335319", "10005814339"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) assert_int_equal(annuaire_rpps_check(ok[i], ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(annuaire_rpps_check("10001045368", ANNUAIRE_KEY_DEFAULT, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "key"));
    assert_null(strstr(err.msg, "10001045368")); /* messages never carry the value */
    assert_int_equal(annuaire_rpps_check("10001045368", 0, &err), 0); /* key check switched off */
    assert_int_equal(annuaire_rpps_check("1000104536", ANNUAIRE_KEY_DEFAULT, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "11 characters"));
    assert_int_equal(annuaire_rpps_check("100010453670", ANNUAIRE_KEY_DEFAULT, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_rpps_check("1000104536A", 0, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "digits"));
    assert_int_equal(annuaire_rpps_check(NULL, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_rpps_check("", 0, NULL), SOCLE_EINVAL);
}

static void test_siren_siret(void **state)
{
    socle_err err;
    assert_int_equal(annuaire_siren_check("356000000", &err), 0); /* La Poste */
    assert_int_equal(annuaire_siren_check("732829320", &err), 0);
    assert_int_equal(annuaire_siren_check("260100045", &err), 0); /* a public hospital */
    assert_int_equal(annuaire_siren_check("356000001", &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_siren_check("35600000", &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_siren_check("35600000A", &err), SOCLE_EINVAL);

    assert_int_equal(annuaire_siret_check("73282932000074", &err), 0);
    assert_int_equal(annuaire_siret_check("26010004500012", &err), 0);
    assert_int_equal(annuaire_siret_check("49940088500020", &err), 0);
    assert_int_equal(annuaire_siret_check("73282932000075", &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "Luhn"));
    /* La Poste: the head office passes Luhn, the other establishments a digit sum multiple of 5 */
    assert_int_equal(annuaire_siret_check("35600000000048", &err), 0);
    assert_int_equal(annuaire_siret_check("35600000000001", &err), 0);
    assert_int_equal(annuaire_siret_check("35600000000002", &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "multiple of 5"));
    /* the sum-5 rule is only for La Poste */
    assert_int_equal(annuaire_siret_check("73282932000010", &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_siret_check("7328293200007", &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_siret_check("732829320000745", &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_siret_check("7328293200007A", &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_siret_check(NULL, &err), SOCLE_EINVAL);
}

static void test_finess(void **state)
{
    socle_err err;
    /* real FINESS numbers (CH de Bourg-en-Bresse, site and legal entity) */
    assert_int_equal(annuaire_finess_check("010000024", ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(annuaire_finess_check("010780054", ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(annuaire_finess_key("01000002"), 4);
    assert_int_equal(annuaire_finess_check("010000025", ANNUAIRE_KEY_DEFAULT, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "key"));
    assert_int_equal(annuaire_finess_check("010000025", 0, &err), 0); /* the importer can switch it off */
    /* Corsica: 2A/2B accepted, key not checked (no known rule) */
    assert_int_equal(annuaire_finess_check("2A0000123", ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(annuaire_finess_check("2B0000128", ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(annuaire_finess_key("2A000012"), -1);
    assert_int_equal(annuaire_finess_key("12"), -1); /* short: never read past the end */
    assert_int_equal(annuaire_finess_key(NULL), -1);
    assert_int_equal(annuaire_finess_check("2C0000123", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_finess_check("3A0000123", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_finess_check("01000002A", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_finess_check("01000002", 0, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "9 characters"));
    assert_int_equal(annuaire_finess_check("0100000245", 0, &err), SOCLE_EINVAL);
}

static void test_adeli(void **state)
{
    socle_err err;
    /* real ADELI numbers (an audioprothésiste in the Ain, an orthophoniste in Paris) */
    assert_int_equal(annuaire_adeli_check("012600631", ANNUAIRE_KEY_ADELI, &err), 0);
    assert_int_equal(annuaire_adeli_check("759124159", ANNUAIRE_KEY_ADELI, &err), 0);
    assert_int_equal(annuaire_adeli_check("012600632", ANNUAIRE_KEY_ADELI, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_adeli_check("012600632", ANNUAIRE_KEY_DEFAULT, &err), 0); /* off by default */
    assert_int_equal(annuaire_adeli_check("2A2600631", ANNUAIRE_KEY_ADELI, &err), 0);
    assert_int_equal(annuaire_adeli_check("01260063", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_adeli_check("01260063X", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_adeli_check(NULL, 0, &err), SOCLE_EINVAL);
}

static void test_idnps(void **state)
{
    socle_err err;
    char id[ANNUAIRE_ID_MAX], num[ANNUAIRE_ID_MAX];
    int type = -1;
    assert_int_equal(annuaire_idnps_build(id, sizeof id, ANNUAIRE_PP_RPPS, "10001045367", ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_string_equal(id, "810001045367");
    assert_int_equal(annuaire_idnps_parse(id, &type, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(type, ANNUAIRE_PP_RPPS);
    assert_string_equal(num, "10001045367");
    assert_int_equal(annuaire_idnps_build(id, sizeof id, ANNUAIRE_PP_ADELI, "012600631", ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_string_equal(id, "0012600631");
    assert_int_equal(annuaire_idnps_parse(id, &type, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), 0);
    assert_int_equal(type, ANNUAIRE_PP_ADELI);
    assert_string_equal(num, "012600631");
    /* errors */
    assert_int_equal(annuaire_idnps_build(id, sizeof id, 3, "10001045367", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_build(id, sizeof id, ANNUAIRE_PP_RPPS, "10001045368", ANNUAIRE_KEY_DEFAULT, &err),
                     SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_build(id, 12, ANNUAIRE_PP_RPPS, "10001045367", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_build(id, sizeof id, ANNUAIRE_PP_RPPS, "012600631", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_parse("910001045367", &type, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "start with"));
    assert_int_equal(annuaire_idnps_parse("81000104536", &type, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_parse("", &type, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_parse(NULL, &type, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnps_parse("810001045367", &type, num, 11, 0, &err), SOCLE_EINVAL);
}

static void test_idnst(void **state)
{
    socle_err err;
    char id[ANNUAIRE_ID_MAX], num[ANNUAIRE_ID_MAX];
    static const struct {
        int type;
        const char *number, *idnst;
    } cases[] = {
        {ANNUAIRE_ST_FINESS, "010000024", "1010000024"},
        {ANNUAIRE_ST_SIREN, "356000000", "2356000000"},
        {ANNUAIRE_ST_SIRET, "35600000000048", "335600000000048"},
        {ANNUAIRE_ST_SIRET, "35600000000001", "335600000000001"},
        {ANNUAIRE_ST_RPPS_CABINET, "10001045367001", "410001045367001"},
        {ANNUAIRE_ST_ADELI_CABINET, "01260063100", "001260063100"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int type = -1;
        assert_int_equal(annuaire_idnst_build(id, sizeof id, cases[i].type, cases[i].number, ANNUAIRE_KEY_DEFAULT, &err), 0);
        assert_string_equal(id, cases[i].idnst);
        assert_int_equal(annuaire_idnst_parse(id, &type, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), 0);
        assert_int_equal(type, cases[i].type);
        assert_string_equal(num, cases[i].number);
    }
    assert_int_equal(annuaire_idnst_parse("5123456789", NULL, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_parse("X010000024", NULL, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_parse("373282932000075", NULL, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_parse("1010000025", NULL, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_parse("1010000025", NULL, num, sizeof num, 0, &err), 0);
    assert_int_equal(annuaire_idnst_parse("2356000001", NULL, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_parse("4", NULL, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_parse("4AB-12", NULL, num, sizeof num, 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_build(id, sizeof id, 7, "010000024", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_build(id, 10, ANNUAIRE_ST_FINESS, "010000024", 0, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_idnst_build(id, sizeof id, ANNUAIRE_ST_SIRET, NULL, 0, &err), SOCLE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn),         cmocka_unit_test(test_rpps),  cmocka_unit_test(test_siren_siret),
        cmocka_unit_test(test_finess),       cmocka_unit_test(test_adeli), cmocka_unit_test(test_idnps),
        cmocka_unit_test(test_idnst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
