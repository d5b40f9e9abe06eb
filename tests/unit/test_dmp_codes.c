/* test_dmp_codes.c - unit tests of src/svc/dmp/codes.c and matrix.c over the embedded data files
 * (data/dmp/) and small inline CSVs: value-set membership with either spelling of a system, the
 * matrice d'habilitation's columns and cells, and the errors of malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "svc/dmp/codes.h"
#include "svc/dmp/data.h"
#include "svc/dmp/matrix.h"

#define LOINC "http://loinc.org"
#define NOS "https://mos.esante.gouv.fr/NOS/"

static dmp_codes *embedded_codes(void)
{
    size_t len;
    const char *csv = dmp_data_valuesets(&len);
    dmp_codes *c = NULL;
    socle_err err;
    assert_int_equal(dmp_codes_load(csv, len, &c, &err), 0);
    return c;
}

static void test_embedded_value_sets(void **state)
{
    dmp_codes *c = embedded_codes();
    assert_true(dmp_codes_has(c, DMP_VS_TYPE, LOINC, "34133-9"));
    assert_true(dmp_codes_has(c, DMP_VS_TYPE, "urn:oid:2.16.840.1.113883.6.1", "11490-0"));
    assert_true(dmp_codes_has(c, DMP_VS_TYPE, NULL, "SYNTH"));
    assert_true(dmp_codes_has(c, DMP_VS_FACILITY, NOS "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "SA01"));
    assert_true(dmp_codes_has(c, DMP_VS_PRACTICE_SETTING, NULL, "ETABLISSEMENT"));
    assert_true(dmp_codes_has(c, DMP_VS_CONFIDENTIALITY, NULL, "MASQUE_PS"));
    assert_true(dmp_codes_has(c, DMP_VS_CONFIDENTIALITY, "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N"));
    assert_true(dmp_codes_has(c, DMP_VS_CLASS, NOS "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "10"));
    assert_true(dmp_codes_has(c, DMP_VS_FORMAT, NULL, "urn:ihe:iti:xds-sd:pdf:2008"));
    /* A known code under another system, an unknown code, a code of another value set. */
    assert_false(dmp_codes_has(c, DMP_VS_TYPE, "http://snomed.info/sct", "34133-9"));
    assert_false(dmp_codes_has(c, DMP_VS_TYPE, LOINC, "99999-9"));
    assert_false(dmp_codes_has(c, DMP_VS_CLASS, NULL, "SA01"));
    assert_false(dmp_codes_has(c, DMP_VS_CLASS, NULL, "77"));
    assert_non_null(dmp_codes_display(c, DMP_VS_CLASS, "10"));
    assert_null(dmp_codes_display(c, DMP_VS_CLASS, "77"));
    assert_string_equal(dmp_value_set_name(DMP_VS_FORMAT), "J10 format");
    dmp_codes_free(c);
}

static void test_codes_errors(void **state)
{
    dmp_codes *c = NULL;
    socle_err err;
    static const char no_header[] = "J07;1;urn:oid:1.2;x\n";
    assert_int_equal(dmp_codes_load(no_header, strlen(no_header), &c, &err), SOCLE_EINVAL);
    assert_null(c);
    static const char bad_set[] = "value_set;code;systems;display\nJ99;1;urn:oid:1.2;x\n";
    assert_int_equal(dmp_codes_load(bad_set, strlen(bad_set), &c, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "2"));
    static const char ok[] = "# comment\nvalue_set;code;systems;display\nJ06;10;urn:oid:1.2|http://x;Compte rendu\n";
    assert_int_equal(dmp_codes_load(ok, strlen(ok), &c, &err), 0);
    assert_true(dmp_codes_has(c, DMP_VS_CLASS, "http://x", "10"));
    assert_true(dmp_codes_has(c, DMP_VS_CLASS, "urn:oid:1.2", "10"));
    assert_false(dmp_codes_has(c, DMP_VS_CLASS, "urn:oid:1.3", "10"));
    dmp_codes_free(c);
}

static void test_embedded_matrix(void **state)
{
    size_t len;
    const char *csv = dmp_data_matrix(&len);
    dmp_matrix *m = NULL;
    socle_err err;
    assert_int_equal(dmp_matrix_load(csv, len, &m, &err), 0);
    assert_true(dmp_matrix_allows(m, "10", NULL, "31", "18748-4"));
    assert_true(dmp_matrix_allows(m, "21", NULL, "10", "11502-2"));   /* pharmacien: biology only */
    assert_false(dmp_matrix_allows(m, "21", NULL, "10", "11490-0"));
    assert_false(dmp_matrix_allows(m, "70", NULL, "43", "11490-0"));  /* kiné: no dispensation */
    assert_true(dmp_matrix_allows(m, "99", NULL, "11", "11490-0"));   /* others: synthèse */
    assert_false(dmp_matrix_allows(m, "99", NULL, "10", "11490-0"));
    assert_false(dmp_matrix_allows(m, "10", NULL, "77", "11490-0"));  /* unknown class */
    dmp_matrix_free(m);
}

static void test_matrix_speciality_and_errors(void **state)
{
    static const char csv[] = "classe;libelle;10;10:SM54;autres\n31;Imagerie;non;oui;non\n";
    dmp_matrix *m = NULL;
    socle_err err;
    assert_int_equal(dmp_matrix_load(csv, strlen(csv), &m, &err), 0);
    assert_false(dmp_matrix_allows(m, "10", NULL, "31", "x"));
    assert_true(dmp_matrix_allows(m, "10", "SM54", "31", "x"));
    assert_false(dmp_matrix_allows(m, "10", "SM26", "31", "x"));
    dmp_matrix_free(m);
    static const char bad_cell[] = "classe;libelle;10\n31;Imagerie;peut-etre\n";
    assert_int_equal(dmp_matrix_load(bad_cell, strlen(bad_cell), &m, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "line 2, column 3"));
    static const char columns[] = "# c\nclasse;libelle;10;40\n31;Imagerie;oui\n";
    assert_int_equal(dmp_matrix_load(columns, strlen(columns), &m, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "line 3"));
    static const char no_header[] = "31;Imagerie;oui\n";
    assert_int_equal(dmp_matrix_load(no_header, strlen(no_header), &m, &err), SOCLE_EINVAL);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_value_sets),
        cmocka_unit_test(test_codes_errors),
        cmocka_unit_test(test_embedded_matrix),
        cmocka_unit_test(test_matrix_speciality_and_errors),
    };
    return cmocka_run_group_tests_name("dmp_codes", tests, NULL, NULL);
}
