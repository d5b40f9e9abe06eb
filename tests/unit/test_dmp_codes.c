/* test_dmp_codes.c - unit tests of src/svc/dmp/codes.c and matrix.c over the embedded data files
 * (data/dmp/) and small inline CSVs: value-set membership with either spelling of a system, the
 * matrice d'habilitation's columns and cells, and the errors of malformed files (which must name
 * the line, and the column for the matrix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "svc/dmp/codes.h"
#include "svc/dmp/data.h"
#include "svc/dmp/matrix.h"

#define LOINC "http://loinc.org"
#define NOS "https://mos.esante.gouv.fr/NOS/"
#define A03 NOS "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
#define A05 NOS "TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
#define R02 NOS "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
#define A01 NOS "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
#define A07 NOS "TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument"
#define A11 NOS "TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
#define A06 NOS "TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire"
#define HL7CONF "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#define IHEFC "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

static dmp_codes *codes;
static dmp_matrix *matrix;

static int setup(void **state)
{
    size_t len;
    const char *csv = dmp_data_valuesets(&len);
    socle_err err;
    if (dmp_codes_load(csv, len, &codes, &err)) {
        fprintf(stderr, "valuesets.csv: %s\n", err.msg);
        return -1;
    }
    csv = dmp_data_matrix(&len);
    if (dmp_matrix_load(csv, len, &matrix, &err)) {
        fprintf(stderr, "matrice-habilitation.csv: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    dmp_codes_free(codes);
    dmp_matrix_free(matrix);
    return 0;
}

/* Each value set has codes (a code of its own is found, with NULL system). */
static void test_every_value_set_non_empty(void **state)
{
    static const char *const one[DMP_VS_COUNT] = {"34133-9", "10", "N", "SA01", "ETABLISSEMENT",
                                                  "urn:ihe:iti:xds-sd:pdf:2008"};
    for (int vs = 0; vs < DMP_VS_COUNT; vs++) {
        assert_true(dmp_codes_has(codes, (dmp_value_set)vs, NULL, one[vs]));
        assert_non_null(dmp_codes_display(codes, (dmp_value_set)vs, one[vs]));
    }
}

static void test_membership_both_spellings(void **state)
{
    assert_true(dmp_codes_has(codes, DMP_VS_TYPE, LOINC, "34133-9"));
    assert_true(dmp_codes_has(codes, DMP_VS_TYPE, "urn:oid:2.16.840.1.113883.6.1", "34133-9"));
    assert_true(dmp_codes_has(codes, DMP_VS_TYPE, LOINC, "11490-0"));
    assert_true(dmp_codes_has(codes, DMP_VS_TYPE, "urn:oid:1.2.250.1.213.1.1.4.12", "SYNTH"));
    assert_true(dmp_codes_has(codes, DMP_VS_TYPE, A05, "SYNTH"));
    assert_true(dmp_codes_has(codes, DMP_VS_FACILITY, R02, "SA01"));
    assert_true(dmp_codes_has(codes, DMP_VS_FACILITY, "urn:oid:1.2.250.1.71.4.2.4", "SA01"));
    assert_true(dmp_codes_has(codes, DMP_VS_PRACTICE_SETTING, A01, "ETABLISSEMENT"));
    assert_true(dmp_codes_has(codes, DMP_VS_PRACTICE_SETTING, "urn:oid:1.2.250.1.213.1.1.4.9", "ETABLISSEMENT"));
    assert_true(dmp_codes_has(codes, DMP_VS_CONFIDENTIALITY, A07, "MASQUE_PS"));
    assert_true(dmp_codes_has(codes, DMP_VS_CONFIDENTIALITY, "urn:oid:1.2.250.1.213.1.1.4.13", "MASQUE_PS"));
    /* N is HL7's, but the PDSm examples code it with the TRE_A07 URL: both are accepted. */
    assert_true(dmp_codes_has(codes, DMP_VS_CONFIDENTIALITY, HL7CONF, "N"));
    assert_true(dmp_codes_has(codes, DMP_VS_CONFIDENTIALITY, "urn:oid:2.16.840.1.113883.5.25", "N"));
    assert_true(dmp_codes_has(codes, DMP_VS_CONFIDENTIALITY, A07, "N"));
    assert_true(dmp_codes_has(codes, DMP_VS_CLASS, A03, "10"));
    assert_true(dmp_codes_has(codes, DMP_VS_CLASS, "urn:oid:1.2.250.1.213.1.1.4.1", "10"));
    assert_true(dmp_codes_has(codes, DMP_VS_FORMAT, A11, "urn:ihe:iti:xds-sd:pdf:2008"));
    assert_true(dmp_codes_has(codes, DMP_VS_FORMAT, "urn:oid:1.3.6.1.4.1.19376.1.2.3", "urn:ihe:iti:xds-sd:pdf:2008"));
    assert_true(dmp_codes_has(codes, DMP_VS_FORMAT, IHEFC, "urn:ihe:iti:xds-sd:pdf:2008"));
    assert_true(dmp_codes_has(codes, DMP_VS_FORMAT, IHEFC, "urn:ihe:iti:xds:2017:mimeTypeSufficient"));
    assert_true(dmp_codes_has(codes, DMP_VS_FORMAT, A06, "urn:asip:ci-sis:vsm:2012"));
    assert_true(dmp_codes_has(codes, DMP_VS_FORMAT, "urn:oid:1.2.250.1.213.1.1.4.2.282", "urn:asip:ci-sis:ldl-ses:2017"));
    assert_string_equal(dmp_codes_display(codes, DMP_VS_CLASS, "10"), "Compte rendu");
}

static void test_refusals(void **state)
{
    /* A known code under a wrong system, including another value set's system. */
    assert_false(dmp_codes_has(codes, DMP_VS_TYPE, "http://snomed.info/sct", "34133-9"));
    assert_false(dmp_codes_has(codes, DMP_VS_TYPE, A05, "34133-9"));
    assert_false(dmp_codes_has(codes, DMP_VS_TYPE, LOINC, "SYNTH"));
    assert_false(dmp_codes_has(codes, DMP_VS_CONFIDENTIALITY, HL7CONF, "MASQUE_PS"));
    assert_false(dmp_codes_has(codes, DMP_VS_FORMAT, A06, "urn:ihe:iti:xds-sd:pdf:2008"));
    assert_false(dmp_codes_has(codes, DMP_VS_CLASS, "urn:oid:1.2.250.1.213.1.1.4.1 ", "10"));
    assert_false(dmp_codes_has(codes, DMP_VS_CLASS, "", "10"));
    /* Unknown codes, codes of another value set, near misses. */
    assert_false(dmp_codes_has(codes, DMP_VS_TYPE, LOINC, "99999-9"));
    assert_false(dmp_codes_has(codes, DMP_VS_TYPE, NULL, "34133"));
    assert_false(dmp_codes_has(codes, DMP_VS_TYPE, NULL, "34133-9 "));
    assert_false(dmp_codes_has(codes, DMP_VS_CLASS, NULL, "SA01"));
    assert_false(dmp_codes_has(codes, DMP_VS_CLASS, NULL, "77"));
    assert_false(dmp_codes_has(codes, DMP_VS_CLASS, NULL, ""));
    assert_false(dmp_codes_has(codes, DMP_VS_FACILITY, NULL, "10"));
    /* Caller mistakes. */
    assert_false(dmp_codes_has(codes, DMP_VS_CLASS, NULL, NULL));
    assert_false(dmp_codes_has(codes, DMP_VS_COUNT, NULL, "10"));
    assert_false(dmp_codes_has(NULL, DMP_VS_CLASS, NULL, "10"));
    assert_null(dmp_codes_display(codes, DMP_VS_CLASS, "77"));
    assert_string_equal(dmp_value_set_name(DMP_VS_TYPE), "J07 type");
    assert_string_equal(dmp_value_set_name(DMP_VS_FORMAT), "J10 format");
}

static void test_codes_inline(void **state)
{
    static const char csv[] = "\xEF\xBB\xBF# comment\r\n\r\nvalue_set;code;systems;display\r\n"
                              "J06;10;urn:oid:1.2|http://x;Compte rendu\r\n"
                              "# another comment\n"
                              "J06;52;urn:oid:1.2;\n"
                              "J07;10;urn:oid:9.9;Same code, another set\n";
    dmp_codes *c = NULL;
    socle_err err;
    assert_int_equal(dmp_codes_load(csv, strlen(csv), &c, &err), 0);
    assert_true(dmp_codes_has(c, DMP_VS_CLASS, "http://x", "10"));
    assert_true(dmp_codes_has(c, DMP_VS_CLASS, "urn:oid:1.2", "10"));
    assert_false(dmp_codes_has(c, DMP_VS_CLASS, "urn:oid:1.3", "10"));
    assert_false(dmp_codes_has(c, DMP_VS_CLASS, "urn:oid:9.9", "10"));
    assert_true(dmp_codes_has(c, DMP_VS_TYPE, "urn:oid:9.9", "10"));
    assert_true(dmp_codes_has(c, DMP_VS_CLASS, NULL, "52"));
    assert_false(dmp_codes_has(c, DMP_VS_FORMAT, NULL, "10"));
    assert_string_equal(dmp_codes_display(c, DMP_VS_CLASS, "10"), "Compte rendu");
    assert_null(dmp_codes_display(c, DMP_VS_CLASS, "52")); /* no display given */
    dmp_codes_free(c);
    /* Header only: loads, every value set empty. */
    static const char empty[] = "value_set;code;systems;display\n";
    assert_int_equal(dmp_codes_load(empty, strlen(empty), &c, &err), 0);
    assert_false(dmp_codes_has(c, DMP_VS_CLASS, NULL, "10"));
    dmp_codes_free(c);
}

/* Load must fail with SOCLE_EINVAL, no output, and `expect` in the message. */
static void codes_bad(const char *csv, const char *expect)
{
    dmp_codes *c = (dmp_codes *)&c;
    socle_err err = {0};
    assert_int_equal(dmp_codes_load(csv, strlen(csv), &c, &err), SOCLE_EINVAL);
    assert_null(c);
    assert_int_equal(err.code, SOCLE_EINVAL);
    if (!strstr(err.msg, expect)) fail_msg("'%s' does not contain '%s'", err.msg, expect);
}

static void test_codes_errors(void **state)
{
    codes_bad("J07;1;urn:oid:1.2;x\n", "line 1");
    codes_bad("# only comments\n\n", "no header");
    codes_bad("", "no header");
    codes_bad("# c\nvalue_set;code;system;display\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ99;1;urn:oid:1.2;x\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ07;1;urn:oid:1.2;x\n\n#c\nJ07;2;urn:oid:1.2\n", "line 5");
    codes_bad("value_set;code;systems;display\nJ07;1;urn:oid:1.2;x;y\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ07;;urn:oid:1.2;x\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ07;1;;x\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ07;1;urn:oid:1.2||http://x;x\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ07;1;urn:oid:1.2|;x\n", "line 2");
    codes_bad("value_set;code;systems;display\nJ07;1;a;x\nJ06;1;a;x\nJ07;1;b;y\n", "line 4");
    static const char nul[] = "value_set;code;systems;display\nJ07;1\0;a;x\n";
    dmp_codes *c = NULL;
    socle_err err;
    assert_int_equal(dmp_codes_load(nul, sizeof nul - 1, &c, &err), SOCLE_EINVAL);
    assert_null(c);
}

static void test_matrix_embedded(void **state)
{
    assert_true(dmp_matrix_allows(matrix, "10", NULL, "31", "18748-4"));     /* médecin: imaging */
    assert_true(dmp_matrix_allows(matrix, "10", "", "52", NULL));
    assert_true(dmp_matrix_allows(matrix, "21", NULL, "10", "11502-2"));     /* pharmacien: biology only */
    assert_false(dmp_matrix_allows(matrix, "21", NULL, "10", "11490-0"));
    assert_false(dmp_matrix_allows(matrix, "21", NULL, "10", NULL));
    assert_false(dmp_matrix_allows(matrix, "21", NULL, "31", "11502-2"));
    assert_true(dmp_matrix_allows(matrix, "70", NULL, "42", "57833-6"));     /* kiné: prescriptions */
    assert_false(dmp_matrix_allows(matrix, "70", NULL, "43", "60593-1"));    /* kiné: no dispensation */
    assert_true(dmp_matrix_allows(matrix, "99", NULL, "11", "34133-9"));     /* others: synthèse */
    assert_false(dmp_matrix_allows(matrix, "99", NULL, "10", "11490-0"));    /* others: no compte rendu */
    assert_true(dmp_matrix_allows(matrix, NULL, NULL, "90", NULL));          /* no profession: "autres" */
    assert_false(dmp_matrix_allows(matrix, "10", NULL, "77", "11490-0"));    /* unknown class */
    assert_false(dmp_matrix_allows(matrix, "10", NULL, NULL, "11490-0"));
    assert_false(dmp_matrix_allows(NULL, "10", NULL, "10", "11490-0"));
    /* An unknown speciality of a known profession keeps the profession's column. */
    assert_true(dmp_matrix_allows(matrix, "10", "SM99", "31", NULL));
    assert_false(dmp_matrix_allows(matrix, "21", "SM99", "31", NULL));
}

static void test_matrix_inline(void **state)
{
    static const char csv[] = "# a matrix\n"
                              "classe;libelle;10;10:SM54;21;21:G15_21/SM01;autres\n"
                              "31;Imagerie;non;oui;non;types:A|B;non\n"
                              "\n"
                              "10;Compte rendu;OUI;non;types: 11502-2 | 11526-1 ;non;oui\r\n";
    dmp_matrix *m = NULL;
    socle_err err;
    assert_int_equal(dmp_matrix_load(csv, strlen(csv), &m, &err), 0);
    /* The speciality column overrides the profession column, both ways. */
    assert_false(dmp_matrix_allows(m, "10", NULL, "31", "x"));
    assert_true(dmp_matrix_allows(m, "10", "SM54", "31", "x"));
    assert_false(dmp_matrix_allows(m, "10", "SM26", "31", "x"));
    assert_true(dmp_matrix_allows(m, "10", NULL, "10", "x"));
    assert_false(dmp_matrix_allows(m, "10", "SM54", "10", "x"));
    /* types: cells, trimmed, on a profession and a speciality column. */
    assert_true(dmp_matrix_allows(m, "21", NULL, "10", "11502-2"));
    assert_true(dmp_matrix_allows(m, "21", NULL, "10", "11526-1"));
    assert_false(dmp_matrix_allows(m, "21", NULL, "10", "11490-0"));
    assert_false(dmp_matrix_allows(m, "21", NULL, "31", "A"));
    assert_true(dmp_matrix_allows(m, "21", "G15_21/SM01", "31", "B"));
    assert_false(dmp_matrix_allows(m, "21", "G15_21/SM01", "31", "C"));
    /* autres: professions without a column, whatever their speciality. */
    assert_true(dmp_matrix_allows(m, "40", NULL, "10", "x"));
    assert_true(dmp_matrix_allows(m, "40", "SM54", "10", "x"));
    assert_false(dmp_matrix_allows(m, "40", NULL, "31", "x"));
    dmp_matrix_free(m);
    /* Without an "autres" column, other professions read nothing. */
    static const char no_other[] = "classe;libelle;10\n11;Synthèse;oui\n";
    assert_int_equal(dmp_matrix_load(no_other, strlen(no_other), &m, &err), 0);
    assert_true(dmp_matrix_allows(m, "10", NULL, "11", NULL));
    assert_false(dmp_matrix_allows(m, "40", NULL, "11", NULL));
    dmp_matrix_free(m);
}

static void matrix_bad(const char *csv, const char *expect)
{
    dmp_matrix *m = (dmp_matrix *)&m;
    socle_err err = {0};
    assert_int_equal(dmp_matrix_load(csv, strlen(csv), &m, &err), SOCLE_EINVAL);
    assert_null(m);
    assert_int_equal(err.code, SOCLE_EINVAL);
    if (!strstr(err.msg, expect)) fail_msg("'%s' does not contain '%s'", err.msg, expect);
}

static void test_matrix_errors(void **state)
{
    /* Bad cells name the line and the column. */
    matrix_bad("classe;libelle;10\n31;Imagerie;peut-etre\n", "line 2 column 3");
    matrix_bad("# c\nclasse;libelle;10;40\n31;Imagerie;oui;ou\n", "line 3 column 4");
    matrix_bad("classe;libelle;10\n31;Imagerie;types:\n", "line 2 column 3");
    matrix_bad("classe;libelle;10\n31;Imagerie;types:A||B\n", "line 2 column 3");
    matrix_bad("classe;libelle;10\n31;Imagerie;\n", "line 2 column 3");
    /* Wrong column counts. */
    matrix_bad("# c\nclasse;libelle;10;40\n31;Imagerie;oui\n", "line 3");
    matrix_bad("classe;libelle;10\n31;Imagerie;oui\n\n10;CR;oui;non\n", "line 4");
    /* No header, bad headers. */
    matrix_bad("31;Imagerie;oui\n", "line 1");
    matrix_bad("# only a comment\n", "no header");
    matrix_bad("", "no header");
    matrix_bad("classe;libelle\n", "line 1");
    matrix_bad("classe;libelle;10;;autres\n", "line 1 column 4");
    matrix_bad("classe;libelle;10;10:\n", "line 1 column 4");
    matrix_bad("classe;libelle;10;10\n", "line 1 column 4");
    matrix_bad("classe;libelle;autres;10;autres\n", "line 1 column 5");
    /* A class twice, an empty class. */
    matrix_bad("classe;libelle;10\n31;I;oui\n10;CR;oui\n31;I;non\n", "line 4");
    matrix_bad("classe;libelle;10\n;I;oui\n", "line 2 column 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_set_non_empty),
        cmocka_unit_test(test_membership_both_spellings),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_codes_inline),
        cmocka_unit_test(test_codes_errors),
        cmocka_unit_test(test_matrix_embedded),
        cmocka_unit_test(test_matrix_inline),
        cmocka_unit_test(test_matrix_errors),
    };
    return cmocka_run_group_tests_name("dmp_codes", tests, setup, teardown);
}
