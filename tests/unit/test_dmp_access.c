/* test_dmp_access.c - unit tests of src/svc/dmp/access.c: every rule of dmp.md "Access — who reads
 * what", each on its allowed and its refused side (record state, patient and legal representative
 * visibility, the author, the patient's block and MASQUE_PS, the matrice d'habilitation, the access
 * modes and the patient's opposition to them), whether a reader may open the record, the reasons
 * given, and the mode and state names. The matrix is a small inline CSV. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "svc/dmp/access.h"
#include "svc/dmp/matrix.h"

static const char matrix_csv[] = "# a small matrice d'habilitation for the tests\n"
                                 "classe;libelle;10;21;60;autres\n"
                                 "10;Compte rendu;oui;types:11502-2;oui;non\n"
                                 "11;Synthese;oui;oui;oui;oui\n"
                                 "52;Certificat;oui;non;non;non\n";

static dmp_matrix *matrix;

static int setup(void **state)
{
    socle_err err = {0};
    int rc = dmp_matrix_load(matrix_csv, sizeof matrix_csv - 1, &matrix, &err);
    if (rc != 0) {
        print_error("dmp_matrix_load: %d %s\n", rc, err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    dmp_matrix_free(matrix);
    matrix = NULL;
    return 0;
}

static const char *const authors[] = {"810000000111", "810000000222"};

static dmp_record_facts active(void)
{
    return (dmp_record_facts){.state = DMP_RECORD_ACTIVE};
}

/* An authorised doctor in normal mode, neither author, blocked nor médecin traitant. */
static dmp_reader doctor(void)
{
    return (dmp_reader){.kind = DMP_READER_PROFESSIONAL,
                        .id = "810000000999",
                        .profession = "10",
                        .mode = DMP_MODE_NORMAL,
                        .authorised = 1};
}

static dmp_reader patient(void)
{
    return (dmp_reader){.kind = DMP_READER_PATIENT};
}

static dmp_reader representative(void)
{
    return (dmp_reader){.kind = DMP_READER_LEGAL_REPRESENTATIVE};
}

/* A synthesis (readable by every profession) by two authors, no patient control. */
static dmp_document_facts synthesis(void)
{
    return (dmp_document_facts){.class_code = "11", .type_code = "60591-5", .author_ids = authors, .nauthors = 2};
}

#define EXPECT_DECIDE(want, rec, rdr, doc, sub)                                                   \
    do {                                                                                           \
        char r_[160] = "";                                                                         \
        int got_ = dmp_access_decide(matrix, (rec), (rdr), (doc), r_, sizeof r_);                 \
        if (got_ != (want) || !strstr(r_, (sub)))                                                  \
            print_error("decide: got %d \"%s\", want %d \"%s\"\n", got_, r_, (want), (sub));       \
        assert_int_equal(got_, (want));                                                            \
        assert_non_null(strstr(r_, (sub)));                                                        \
    } while (0)

#define EXPECT_OPEN(want, rec, rdr, sub)                                                          \
    do {                                                                                           \
        char r_[160] = "";                                                                         \
        int got_ = dmp_access_may_open_record((rec), (rdr), r_, sizeof r_);                       \
        if (got_ != (want) || !strstr(r_, (sub)))                                                  \
            print_error("may_open: got %d \"%s\", want %d \"%s\"\n", got_, r_, (want), (sub));     \
        assert_int_equal(got_, (want));                                                            \
        assert_non_null(strstr(r_, (sub)));                                                        \
    } while (0)

/* Rule 1: only an active record is read, by anyone, whatever else holds. */
static void test_record_state(void **state)
{
    dmp_record_facts rec = active();
    dmp_reader doc_r = doctor(), pat = patient(), rep = representative();
    dmp_document_facts d = synthesis();
    dmp_reader author = doctor();
    author.id = authors[0];

    EXPECT_DECIDE(1, &rec, &doc_r, &d, "authorised");
    EXPECT_DECIDE(1, &rec, &pat, &d, "patient");

    rec.state = DMP_RECORD_CLOSED;
    EXPECT_DECIDE(0, &rec, &doc_r, &d, "the record is closed");
    EXPECT_DECIDE(0, &rec, &pat, &d, "the record is closed");
    EXPECT_DECIDE(0, &rec, &rep, &d, "the record is closed");
    EXPECT_DECIDE(0, &rec, &author, &d, "the record is closed");

    rec.state = DMP_RECORD_OPPOSED;
    EXPECT_DECIDE(0, &rec, &doc_r, &d, "the patient opposed the DMP");
    EXPECT_DECIDE(0, &rec, &pat, &d, "the patient opposed the DMP");
    EXPECT_DECIDE(0, &rec, &author, &d, "the patient opposed the DMP");

    rec.state = DMP_RECORD_NONE;
    EXPECT_DECIDE(0, &rec, &doc_r, &d, "no record");
    EXPECT_DECIDE(0, &rec, &pat, &d, "no record");

    /* Emergency modes do not open a closed record. */
    rec.state = DMP_RECORD_CLOSED;
    doc_r.authorised = 0;
    doc_r.mode = DMP_MODE_BRIS_DE_GLACE;
    EXPECT_DECIDE(0, &rec, &doc_r, &d, "the record is closed");
}

/* Rule 2: the patient reads everything but INVISIBLE_PATIENT documents. */
static void test_patient(void **state)
{
    dmp_record_facts rec = active();
    dmp_reader pat = patient();
    dmp_document_facts d = synthesis();

    EXPECT_DECIDE(1, &rec, &pat, &d, "patient");
    /* Patient controls aimed at professionals and the matrix do not concern the patient. */
    d.masked = 1;
    d.class_code = "52";
    EXPECT_DECIDE(1, &rec, &pat, &d, "patient");
    d = synthesis();
    d.invisible_representatives = 1;
    EXPECT_DECIDE(1, &rec, &pat, &d, "patient");
    /* Opposition to the emergency modes does not concern the patient either. */
    rec.opposes_bris_de_glace = rec.opposes_centre_15 = 1;
    EXPECT_DECIDE(1, &rec, &pat, &d, "patient");

    d = synthesis();
    d.invisible_patient = 1;
    EXPECT_DECIDE(0, &rec, &pat, &d, "not yet announced to the patient");
}

/* Rule 2: a legal representative reads as the patient, minus INVISIBLE_REPRESENTANTS_LEGAUX. */
static void test_representative(void **state)
{
    dmp_record_facts rec = active();
    dmp_reader rep = representative();
    dmp_document_facts d = synthesis();

    EXPECT_DECIDE(1, &rec, &rep, &d, "legal representative");
    d.masked = 1;
    EXPECT_DECIDE(1, &rec, &rep, &d, "legal representative");

    d = synthesis();
    d.invisible_representatives = 1;
    EXPECT_DECIDE(0, &rec, &rep, &d, "hidden from legal representatives");

    d = synthesis();
    d.invisible_patient = 1;
    EXPECT_DECIDE(0, &rec, &rep, &d, "not yet announced to the patient");
}

/* Rule 3a: the author reads their document, masked, outside the matrix, without authorisation. */
static void test_author(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();
    r.authorised = 0;

    /* Not the author: refused for want of authorisation. */
    EXPECT_DECIDE(0, &rec, &r, &d, "no access authorisation");
    /* The second of two authors. */
    r.id = "810000000222";
    EXPECT_DECIDE(1, &rec, &r, &d, "author");

    /* A masked document: its author reads it, another professional does not. */
    d.masked = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "author");
    r.id = "810000000999";
    r.authorised = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "masked by the patient");

    /* A class the matrix forbids to the author's profession (pharmacist, certificate). */
    d = synthesis();
    d.class_code = "52";
    dmp_reader ph = doctor();
    ph.profession = "21";
    ph.id = authors[0];
    EXPECT_DECIDE(1, &rec, &ph, &d, "author");
    ph.id = "810000000333";
    EXPECT_DECIDE(0, &rec, &ph, &d, "profession 21 may not read class 52");

    /* An identifier that is a prefix of an author's is not the author's; nor is a missing one. */
    ph.id = "81000000011";
    EXPECT_DECIDE(0, &rec, &ph, &d, "may not read");
    ph.id = NULL;
    EXPECT_DECIDE(0, &rec, &ph, &d, "may not read");
    /* A document without authors has no author to match. */
    ph.id = authors[0];
    d.author_ids = NULL;
    d.nauthors = 0;
    EXPECT_DECIDE(0, &rec, &ph, &d, "may not read");
}

/* Rule 3b: a blocked professional reads nothing, whatever their standing or mode. */
static void test_blocked(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();

    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");
    r.blocked = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "blocked by the patient");
    r.medecin_traitant = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "blocked by the patient");

    r = doctor();
    r.authorised = 0;
    r.mode = DMP_MODE_BRIS_DE_GLACE;
    EXPECT_DECIDE(1, &rec, &r, &d, "bris de glace");
    r.blocked = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "blocked by the patient");
    r.authorised = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "blocked by the patient");
    r.mode = DMP_MODE_CENTRE_15;
    EXPECT_DECIDE(0, &rec, &r, &d, "blocked by the patient");
}

/* Rule 3c: MASQUE_PS hides a document from every professional but the médecin traitant (and the
 * author), in every mode; the médecin traitant still goes through the matrix. */
static void test_masked(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    d.masked = 1;
    dmp_reader r = doctor();

    /* Authorised, not the médecin traitant. */
    EXPECT_DECIDE(0, &rec, &r, &d, "masked by the patient");
    /* The médecin traitant, without an explicit authorisation. */
    r.authorised = 0;
    r.medecin_traitant = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "medecin traitant");
    /* Emergencies do not lift the mask. */
    r = doctor();
    r.authorised = 0;
    r.mode = DMP_MODE_BRIS_DE_GLACE;
    EXPECT_DECIDE(0, &rec, &r, &d, "masked by the patient");
    r.mode = DMP_MODE_CENTRE_15;
    EXPECT_DECIDE(0, &rec, &r, &d, "masked by the patient");
    d.masked = 0;
    EXPECT_DECIDE(1, &rec, &r, &d, "centre 15");

    /* The médecin traitant passes the mask but not the matrix (a nurse declared as traitant
     * reading a certificate is the clearest case the small matrix allows). */
    d = synthesis();
    d.masked = 1;
    d.class_code = "52";
    r = doctor();
    r.medecin_traitant = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "medecin traitant");
    r.profession = "60";
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 60 may not read class 52");
}

/* Rule 3d: the matrice d'habilitation, including a types-only cell and the "autres" column. */
static void test_matrix(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();

    d.class_code = "52";
    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");
    r.profession = "60";
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 60 may not read class 52");

    /* Pharmacist: compte rendu of biology only. */
    r.profession = "21";
    d.class_code = "10";
    d.type_code = "11502-2";
    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");
    d.type_code = "18748-4";
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 21 may not read class 10");
    d.type_code = NULL;
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 21 may not read class 10");

    /* A profession without its own column falls in "autres". */
    r.profession = "31";
    d.type_code = "11502-2";
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 31 may not read class 10");
    d.class_code = "11";
    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");

    /* An unknown class, a missing class, a professional without a profession, no matrix. */
    r = doctor();
    d.class_code = "99";
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 10 may not read class 99");
    d.class_code = NULL;
    EXPECT_DECIDE(0, &rec, &r, &d, "may not read class");
    d = synthesis();
    r.profession = NULL;
    EXPECT_DECIDE(0, &rec, &r, &d, "no profession");
    r.profession = "";
    EXPECT_DECIDE(0, &rec, &r, &d, "no profession");
    r = doctor();
    char reason[160] = "";
    assert_int_equal(dmp_access_decide(NULL, &rec, &r, &d, reason, sizeof reason), 0);
    assert_non_null(strstr(reason, "may not read class 11"));
    /* ... while the patient needs no matrix. */
    dmp_reader pat = patient();
    assert_int_equal(dmp_access_decide(NULL, &rec, &pat, &d, NULL, 0), 1);
}

/* Rule 3e, normal mode: authorisation (or care team), or the médecin traitant. */
static void test_mode_normal(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();

    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");
    r.authorised = 0;
    EXPECT_DECIDE(0, &rec, &r, &d, "no access authorisation");
    r.medecin_traitant = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "medecin traitant");
    /* The patient's opposition to emergencies is no matter in normal mode. */
    r.medecin_traitant = 0;
    r.authorised = 1;
    rec.opposes_bris_de_glace = rec.opposes_centre_15 = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");
}

/* Rule 3e, bris de glace: no authorisation needed, unless the patient opposed it. */
static void test_mode_bris_de_glace(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();
    r.authorised = 0;
    r.mode = DMP_MODE_BRIS_DE_GLACE;

    EXPECT_DECIDE(1, &rec, &r, &d, "bris de glace");
    rec.opposes_centre_15 = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "bris de glace");
    rec.opposes_bris_de_glace = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "the patient opposed bris de glace");
    /* Emergencies do not lift the matrix. */
    rec = active();
    d.class_code = "52";
    r.profession = "60";
    EXPECT_DECIDE(0, &rec, &r, &d, "profession 60 may not read class 52");
    /* Resolved ambiguity: an authorised reader does not need the mode the patient opposed. */
    d = synthesis();
    r = doctor();
    r.mode = DMP_MODE_BRIS_DE_GLACE;
    rec.opposes_bris_de_glace = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "authorised");
}

/* Rule 3e, centre 15: likewise. */
static void test_mode_centre_15(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();
    r.authorised = 0;
    r.mode = DMP_MODE_CENTRE_15;

    EXPECT_DECIDE(1, &rec, &r, &d, "centre 15");
    rec.opposes_bris_de_glace = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "centre 15");
    rec.opposes_centre_15 = 1;
    EXPECT_DECIDE(0, &rec, &r, &d, "the patient opposed centre 15");
    rec.opposes_bris_de_glace = 0;
    EXPECT_DECIDE(0, &rec, &r, &d, "the patient opposed centre 15");
    r.medecin_traitant = 1;
    EXPECT_DECIDE(1, &rec, &r, &d, "medecin traitant");
}

static void test_may_open_record(void **state)
{
    dmp_record_facts rec = active();
    dmp_reader r = doctor(), pat = patient(), rep = representative();

    EXPECT_OPEN(1, &rec, &pat, "patient");
    EXPECT_OPEN(1, &rec, &rep, "legal representative");
    EXPECT_OPEN(1, &rec, &r, "authorised");

    rec.state = DMP_RECORD_CLOSED;
    EXPECT_OPEN(0, &rec, &pat, "the record is closed");
    EXPECT_OPEN(0, &rec, &r, "the record is closed");
    rec.state = DMP_RECORD_OPPOSED;
    EXPECT_OPEN(0, &rec, &rep, "the patient opposed the DMP");
    EXPECT_OPEN(0, &rec, &r, "the patient opposed the DMP");
    rec.state = DMP_RECORD_NONE;
    EXPECT_OPEN(0, &rec, &pat, "no record");
    rec = active();

    /* Blocked: refused even authorised, traitant or in an emergency. */
    r.blocked = 1;
    EXPECT_OPEN(0, &rec, &r, "blocked by the patient");
    r.medecin_traitant = 1;
    EXPECT_OPEN(0, &rec, &r, "blocked by the patient");
    r.mode = DMP_MODE_BRIS_DE_GLACE;
    EXPECT_OPEN(0, &rec, &r, "blocked by the patient");

    /* Neither authorised nor traitant: only an emergency mode the patient did not oppose. */
    r = doctor();
    r.authorised = 0;
    EXPECT_OPEN(0, &rec, &r, "no access authorisation");
    r.medecin_traitant = 1;
    EXPECT_OPEN(1, &rec, &r, "medecin traitant");
    r.medecin_traitant = 0;
    r.mode = DMP_MODE_BRIS_DE_GLACE;
    EXPECT_OPEN(1, &rec, &r, "bris de glace");
    rec.opposes_bris_de_glace = 1;
    EXPECT_OPEN(0, &rec, &r, "the patient opposed bris de glace");
    r.mode = DMP_MODE_CENTRE_15;
    EXPECT_OPEN(1, &rec, &r, "centre 15");
    rec.opposes_centre_15 = 1;
    EXPECT_OPEN(0, &rec, &r, "the patient opposed centre 15");
    /* The patient and representatives are not concerned by the block flags of professionals. */
    EXPECT_OPEN(1, &rec, &pat, "patient");

    /* Missing facts and an unknown reader kind are refused. */
    assert_int_equal(dmp_access_may_open_record(NULL, &r, NULL, 0), 0);
    assert_int_equal(dmp_access_may_open_record(&rec, NULL, NULL, 0), 0);
    rec = active();
    r = doctor();
    r.kind = (dmp_reader_kind)0;
    EXPECT_OPEN(0, &rec, &r, "unknown reader");
}

/* The reason: optional, always terminated, bounded, free of the document's data. */
static void test_reason(void **state)
{
    dmp_record_facts rec = active();
    dmp_document_facts d = synthesis();
    dmp_reader r = doctor();

    assert_int_equal(dmp_access_decide(matrix, &rec, &r, &d, NULL, 0), 1);
    assert_int_equal(dmp_access_decide(matrix, &rec, &r, &d, NULL, 64), 1);
    r.blocked = 1;
    assert_int_equal(dmp_access_decide(matrix, &rec, &r, &d, NULL, 0), 0);
    assert_int_equal(dmp_access_may_open_record(&rec, &r, NULL, 0), 0);

    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(dmp_access_decide(matrix, &rec, &r, &d, small, sizeof small), 0);
    assert_string_equal(small, "blocked");
    /* reason_len 0 writes nothing. */
    memset(small, 'x', sizeof small);
    assert_int_equal(dmp_access_decide(matrix, &rec, &r, &d, small, 0), 0);
    assert_int_equal(small[0], 'x');

    /* The document's type and the reader's identifier never appear; a hostile, long profession
     * code is cut short. */
    char reason[256] = "";
    char longcode[200];
    memset(longcode, '9', sizeof longcode - 1);
    longcode[sizeof longcode - 1] = '\0';
    r = doctor();
    r.profession = longcode;
    d.class_code = "52";
    assert_int_equal(dmp_access_decide(matrix, &rec, &r, &d, reason, sizeof reason), 0);
    assert_non_null(strstr(reason, "may not read class 52"));
    assert_true(strlen(reason) < 100);
    assert_null(strstr(reason, d.type_code));
    assert_null(strstr(reason, r.id));

    /* Missing facts are refused. */
    r = doctor();
    assert_int_equal(dmp_access_decide(matrix, NULL, &r, &d, NULL, 0), 0);
    assert_int_equal(dmp_access_decide(matrix, &rec, NULL, &d, NULL, 0), 0);
    assert_int_equal(dmp_access_decide(matrix, &rec, &r, NULL, NULL, 0), 0);
    r.kind = (dmp_reader_kind)42;
    EXPECT_DECIDE(0, &rec, &r, &d, "unknown reader");
}

static void test_names(void **state)
{
    static const struct {
        dmp_mode mode;
        const char *name;
    } modes[] = {{DMP_MODE_NORMAL, "normal"}, {DMP_MODE_BRIS_DE_GLACE, "bris_de_glace"}, {DMP_MODE_CENTRE_15, "centre_15"}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        dmp_mode m = (dmp_mode)99;
        assert_string_equal(dmp_mode_name(modes[i].mode), modes[i].name);
        assert_int_equal(dmp_mode_parse(modes[i].name, &m), 0);
        assert_int_equal(m, modes[i].mode);
    }
    dmp_mode m = DMP_MODE_CENTRE_15;
    assert_int_equal(dmp_mode_parse("urgence", &m), -1);
    assert_int_equal(dmp_mode_parse("", &m), -1);
    assert_int_equal(dmp_mode_parse("NORMAL", &m), -1);
    assert_int_equal(dmp_mode_parse("normal ", &m), -1);
    assert_int_equal(dmp_mode_parse(NULL, &m), -1);
    assert_int_equal(m, DMP_MODE_CENTRE_15);
    assert_int_equal(dmp_mode_parse("normal", NULL), -1);

    assert_string_equal(dmp_record_state_name(DMP_RECORD_NONE), "none");
    assert_string_equal(dmp_record_state_name(DMP_RECORD_ACTIVE), "active");
    assert_string_equal(dmp_record_state_name(DMP_RECORD_CLOSED), "closed");
    assert_string_equal(dmp_record_state_name(DMP_RECORD_OPPOSED), "opposed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_state),
        cmocka_unit_test(test_patient),
        cmocka_unit_test(test_representative),
        cmocka_unit_test(test_author),
        cmocka_unit_test(test_blocked),
        cmocka_unit_test(test_masked),
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_mode_normal),
        cmocka_unit_test(test_mode_bris_de_glace),
        cmocka_unit_test(test_mode_centre_15),
        cmocka_unit_test(test_may_open_record),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("dmp_access", tests, setup, teardown);
}
