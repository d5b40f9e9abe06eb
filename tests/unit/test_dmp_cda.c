/* test_dmp_cda.c - unit tests of src/svc/dmp/cda.c: the header of the ANS example CDA documents of
 * ../shared/conformance/cda/ (skipped when that directory is absent), a minimal document built here
 * (every field, namespace prefixes, null-flavored ids, the depth boundary, max_bytes), and hostile
 * input (entity bombs, external entities, DOCTYPEs, broken XML, wrong roots, missing header parts),
 * which must give the documented error and never print to stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc/dmp/cda.h"

#define CDA_DIR "../shared/conformance/cda/"
#define MAX_BYTES (4u * 1024 * 1024)
#define INS_NIR_ROOT "1.2.250.1.213.1.4.10"
#define INS_NIR "279035121518989"
#define MSG_DTD "declares a DTD or entities, which are refused"

/* ---- helpers ---- */

/* read_example - the content of CDA_DIR/name (malloc'd, *len set); skips the test when the
 * conformance directory is absent, fails it when only the file is. */
static char *read_example(const char *name, size_t *len)
{
    struct stat sb;
    if (stat(CDA_DIR, &sb) != 0 || !S_ISDIR(sb.st_mode))
        skip();
    char path[512];
    snprintf(path, sizeof path, "%s%s", CDA_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static int parse_str(const char *xml, dmp_cda_header *h, socle_err *err)
{
    return dmp_cda_parse(xml, strlen(xml), MAX_BYTES, h, err);
}

/* expect_error - parse xml, expect code and a message containing msg; the header must be left empty. */
static void expect_error(const char *xml, int code, const char *msg)
{
    dmp_cda_header h;
    memset(&h, 0x5a, sizeof h);
    socle_err err = {0};
    int rc = parse_str(xml, &h, &err);
    if (rc != code || strstr(err.msg, msg) == NULL)
        print_error("expected %d \"%s\", got %d \"%s\"\n", code, msg, rc, err.msg);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, msg));
    assert_string_equal(h.type_code, "");
    assert_string_equal(h.title, "");
    assert_int_equal(h.npatient_ids, 0);
    assert_int_equal(h.nauthor_ids, 0);
    assert_int_equal(h.body, DMP_CDA_BODY_NONE);
}

static int has_id(const dmp_cda_id *ids, int n, const char *root, const char *extension)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i].root, root) == 0 && strcmp(ids[i].extension, extension) == 0)
            return 1;
    return 0;
}

/* A minimal CDA document whose parts can be replaced: code, patient ids, first author's ids, body. */
#define CODE_OK "<code code=\"11488-4\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"CR\"/>"
#define PAT_OK                                                                                                   \
    "<id nullFlavor=\"UNK\"/><id root=\"" INS_NIR_ROOT "\" extension=\"" INS_NIR "\"/>"                          \
    "<id root=\"1.2.3.4\" extension=\"IPP42\"/>"
#define AUTH_OK "<id root=\"1.2.250.1.71.4.2.1\" extension=\"810001234567\"/>"
#define BODY_OK "<structuredBody><component><section/></component></structuredBody>"

static char *build(const char *code, const char *pat, const char *auth, const char *body)
{
    static const char fmt[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<?xml-stylesheet type=\"text/xsl\" href=\"../FeuilleDeStyle/CDA-FO.xsl\"?>\n"
        "<!-- a comment before the root -->\n"
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
        "  <realmCode code=\"FR\"/>\n"
        "  <id root=\"1.2.250.1.999.1\" extension=\"DOC-1\"/>\n"
        "  %s\n"
        "  <title>\n    Compte   rendu\t de\n  test  </title>\n"
        "  <effectiveTime value=\"20240131093000+0100\"/>\n"
        "  <confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/>\n"
        "  <recordTarget><patientRole>%s<patient/></patientRole></recordTarget>\n"
        "  <author><time value=\"20240131\"/><assignedAuthor>%s</assignedAuthor></author>\n"
        "  <author><assignedAuthor><id root=\"1.2.250.1.71.4.2.1\" extension=\"810009999999\"/></assignedAuthor>"
        "</author>\n"
        "  <custodian><assignedCustodian><representedCustodianOrganization>"
        "<id root=\"1.2.250.1.71.4.2.2\" extension=\"1750000000\"/><id root=\"9.9\" extension=\"second\"/>"
        "</representedCustodianOrganization></assignedCustodian></custodian>\n"
        "  <component>%s</component>\n"
        "</ClinicalDocument>\n";
    size_t n = sizeof fmt + strlen(code) + strlen(pat) + strlen(auth) + strlen(body);
    char *buf = malloc(n);
    assert_non_null(buf);
    snprintf(buf, n, fmt, code, pat, auth, body);
    return buf;
}

/* ---- the ANS examples ---- */

typedef struct example {
    const char *file, *type_code, *type_system, *level, *media_type;
    const char *author_ext, *custodian_ext;
} example;

static const example examples[] = {
    {"VSM_1.4_2022.01.xml", "SYNTH", "1.2.250.1.213.1.1.4.12", "N3", "", "801234567897", "1120456789"},
    {"BIO-CR-BIO_2024.01_TSH_1.xml", "11502-2", "2.16.840.1.113883.6.1", "N3", "", "801234534765", "1120459876"},
    {"BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml", "11502-2", "2.16.840.1.113883.6.1", "N3", "", "801234534765",
     "1120459876"},
    {"IMG_CR_IMG_2024.01.xml", "18748-4", "2.16.840.1.113883.6.1", "N3", "", "801234560801", "1920008059"},
    {"IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml", "18748-4", "2.16.840.1.113883.6.1", "N1", "application/pdf",
     "801234560801", "1750803447"},
    {"LDL-SES_2022.01.xml", "11490-0", "2.16.840.1.113883.6.1", "N3", "", "801234567897", "1750803447"},
    {"DOC_NON_STRUCTURE_CDA-R2-N1.xml", "11502-2", "2.16.840.1.113883.6.1", "N1", "application/pdf",
     "801234534765", "1120459876"},
};

static void check_example(const example *e)
{
    size_t len;
    char *xml = read_example(e->file, &len);
    dmp_cda_header h;
    socle_err err = {0};
    int rc = dmp_cda_parse(xml, len, MAX_BYTES, &h, &err);
    if (rc != 0)
        print_error("%s: %d %s\n", e->file, rc, err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(err.code, 0);

    assert_true(h.document_id.root[0] != '\0');
    assert_string_equal(h.type_code, e->type_code);
    assert_string_equal(h.type_system, e->type_system);
    assert_true(h.title[0] != '\0');
    assert_true(h.title[0] != ' ' && h.title[strlen(h.title) - 1] != ' ');
    assert_true(strlen(h.effective_time) >= 8);
    assert_memory_equal(h.effective_time, "20", 2);
    assert_string_equal(h.confidentiality, "N");

    assert_true(h.npatient_ids >= 1 && h.npatient_ids <= DMP_CDA_MAX_IDS);
    assert_true(has_id(h.patient_ids, h.npatient_ids, INS_NIR_ROOT, INS_NIR));
    assert_int_equal(h.nauthor_ids, 1);
    assert_string_equal(h.author_ids[0].root, "1.2.250.1.71.4.2.1");
    assert_string_equal(h.author_ids[0].extension, e->author_ext);
    assert_string_equal(h.custodian_id.root, "1.2.250.1.71.4.2.2");
    assert_string_equal(h.custodian_id.extension, e->custodian_ext);

    assert_string_equal(dmp_cda_level(&h), e->level);
    assert_int_equal(h.body, strcmp(e->level, "N1") == 0 ? DMP_CDA_BODY_NON_XML : DMP_CDA_BODY_STRUCTURED);
    assert_string_equal(h.body_media_type, e->media_type);

    /* One byte over max_bytes is refused before parsing; exactly max_bytes is accepted. */
    assert_int_equal(dmp_cda_parse(xml, len, len - 1, &h, &err), SOCLE_ETOOLARGE);
    assert_int_equal(dmp_cda_parse(xml, len, len, &h, &err), 0);
    free(xml);
}

static void test_example_vsm(void **state)
{
    check_example(&examples[0]);
}

static void test_example_bio_tsh(void **state)
{
    check_example(&examples[1]);
}

static void test_example_bio_second_opinion(void **state)
{
    check_example(&examples[2]);
}

static void test_example_img(void **state)
{
    check_example(&examples[3]);
}

static void test_example_img_n1(void **state)
{
    check_example(&examples[4]);
}

static void test_example_ldl_ses(void **state)
{
    check_example(&examples[5]);
}

static void test_example_non_structured_n1(void **state)
{
    check_example(&examples[6]);
}

/* Every truncation of a real document is refused as not well-formed, and never crashes. */
static void test_example_truncated(void **state)
{
    size_t len;
    char *xml = read_example("VSM_1.4_2022.01.xml", &len);
    const char *end = strstr(xml, "</ClinicalDocument>");
    assert_non_null(end);
    size_t last = (size_t)(end - xml);
    dmp_cda_header h;
    socle_err err = {0};
    for (size_t cut = 0; cut <= last; cut += (cut < 4096 ? 61 : 997)) {
        int rc = dmp_cda_parse(xml, cut, MAX_BYTES, &h, &err);
        assert_int_equal(rc, SOCLE_EUNPROCESSABLE);
        assert_true(strstr(err.msg, "not well-formed") != NULL || strstr(err.msg, "empty") != NULL);
    }
    free(xml);
}

/* ---- a minimal document ---- */

static void test_minimal_fields(void **state)
{
    char *xml = build(CODE_OK, PAT_OK, AUTH_OK, BODY_OK);
    dmp_cda_header h;
    socle_err err = {0};
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_string_equal(h.document_id.root, "1.2.250.1.999.1");
    assert_string_equal(h.document_id.extension, "DOC-1");
    assert_string_equal(h.type_code, "11488-4");
    assert_string_equal(h.type_system, "2.16.840.1.113883.6.1");
    assert_string_equal(h.title, "Compte rendu de test");
    assert_string_equal(h.effective_time, "20240131093000+0100");
    assert_string_equal(h.confidentiality, "N");
    /* The null-flavored patient id is not an identifier; order is kept. */
    assert_int_equal(h.npatient_ids, 2);
    assert_string_equal(h.patient_ids[0].root, INS_NIR_ROOT);
    assert_string_equal(h.patient_ids[0].extension, INS_NIR);
    assert_string_equal(h.patient_ids[1].root, "1.2.3.4");
    assert_string_equal(h.patient_ids[1].extension, "IPP42");
    /* Both authors. */
    assert_int_equal(h.nauthor_ids, 2);
    assert_string_equal(h.author_ids[0].extension, "810001234567");
    assert_string_equal(h.author_ids[1].extension, "810009999999");
    /* The first custodian id. */
    assert_string_equal(h.custodian_id.root, "1.2.250.1.71.4.2.2");
    assert_string_equal(h.custodian_id.extension, "1750000000");
    assert_int_equal(h.body, DMP_CDA_BODY_STRUCTURED);
    assert_string_equal(dmp_cda_level(&h), "N3");
    assert_string_equal(h.body_media_type, "");
    free(xml);
}

static void test_minimal_non_xml_body(void **state)
{
    dmp_cda_header h;
    socle_err err = {0};
    char *xml = build(CODE_OK, PAT_OK, AUTH_OK,
                      "<nonXMLBody><text mediaType=\"text/rtf\" representation=\"B64\">e1xydGYxfQ==</text>"
                      "</nonXMLBody>");
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_int_equal(h.body, DMP_CDA_BODY_NON_XML);
    assert_string_equal(dmp_cda_level(&h), "N1");
    assert_string_equal(h.body_media_type, "text/rtf");
    free(xml);
    /* No mediaType: the HL7 v3 default, text/plain. */
    xml = build(CODE_OK, PAT_OK, AUTH_OK, "<nonXMLBody><text>du texte</text></nonXMLBody>");
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_string_equal(h.body_media_type, "text/plain");
    free(xml);
    /* No body at all: no level. */
    xml = build(CODE_OK, PAT_OK, AUTH_OK, "");
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_int_equal(h.body, DMP_CDA_BODY_NONE);
    assert_string_equal(dmp_cda_level(&h), "");
    free(xml);
    assert_string_equal(dmp_cda_level(NULL), "");
}

/* Elements are matched by namespace, not prefix: a prefixed HL7 document is read, HL7-looking
 * elements of another namespace are not. */
static void test_namespace_matching(void **state)
{
    dmp_cda_header h;
    socle_err err = {0};
    const char *prefixed = "<h:ClinicalDocument xmlns:h=\"urn:hl7-org:v3\" xmlns:o=\"urn:other\">"
                           "<o:code code=\"WRONG\"/><h:code code=\"SYNTH\" codeSystem=\"1.2.250.1.213.1.1.4.12\"/>"
                           "<h:recordTarget><h:patientRole><h:id root=\"" INS_NIR_ROOT "\" extension=\"" INS_NIR
                           "\"/></h:patientRole></h:recordTarget>"
                           "<h:author><h:assignedAuthor><o:id root=\"9.9.9\" extension=\"no\"/>"
                           "<h:id root=\"1.2.250.1.71.4.2.1\" extension=\"8100\"/></h:assignedAuthor></h:author>"
                           "<h:component><h:structuredBody/></h:component></h:ClinicalDocument>";
    assert_int_equal(parse_str(prefixed, &h, &err), 0);
    assert_string_equal(h.type_code, "SYNTH");
    assert_int_equal(h.nauthor_ids, 1);
    assert_string_equal(h.author_ids[0].extension, "8100");
    assert_string_equal(dmp_cda_level(&h), "N3");
    /* A code only in another namespace is no code. */
    const char *other = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" xmlns:o=\"urn:other\"><o:code code=\"X\"/>"
                        "</ClinicalDocument>";
    expect_error(other, SOCLE_EUNPROCESSABLE, "the CDA header has no code");
}

static void test_max_ids(void **state)
{
    char pat[2048] = "", auth[2048] = "";
    for (int i = 0; i < DMP_CDA_MAX_IDS + 3; i++) {
        char one[96];
        snprintf(one, sizeof one, "<id root=\"1.2.3\" extension=\"P%d\"/>", i);
        strcat(pat, one);
        snprintf(one, sizeof one, "<id root=\"1.2.4\" extension=\"A%d\"/>", i);
        strcat(auth, one);
    }
    char *xml = build(CODE_OK, pat, auth, BODY_OK);
    dmp_cda_header h;
    socle_err err = {0};
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_int_equal(h.npatient_ids, DMP_CDA_MAX_IDS);
    assert_string_equal(h.patient_ids[DMP_CDA_MAX_IDS - 1].extension, "P7");
    assert_int_equal(h.nauthor_ids, DMP_CDA_MAX_IDS);
    assert_string_equal(h.author_ids[DMP_CDA_MAX_IDS - 1].extension, "A7");
    free(xml);
}

/* Long values are truncated, on a UTF-8 character boundary. */
static void test_truncation(void **state)
{
    char code[512], title_doc[2048];
    char longcode[200];
    memset(longcode, 'C', sizeof longcode - 1);
    longcode[sizeof longcode - 1] = '\0';
    snprintf(code, sizeof code, "<code code=\"%s\" codeSystem=\"1.2\"/>", longcode);
    char *xml = build(code, PAT_OK, AUTH_OK, BODY_OK);
    dmp_cda_header h;
    socle_err err = {0};
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_int_equal(strlen(h.type_code), sizeof h.type_code - 1);
    free(xml);
    /* 300 two-byte characters in the title: 127 whole characters fit in 255 bytes. */
    char title[700] = "";
    for (int i = 0; i < 300; i++)
        strcat(title, "\xc3\xa9");
    snprintf(title_doc, sizeof title_doc,
             "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"X\"/><title>%s</title>"
             "<recordTarget><patientRole><id root=\"1.2\"/></patientRole></recordTarget>"
             "<author><assignedAuthor><id root=\"1.3\"/></assignedAuthor></author></ClinicalDocument>",
             title);
    assert_int_equal(parse_str(title_doc, &h, &err), 0);
    assert_int_equal(strlen(h.title), 254);
    assert_memory_equal(h.title + 252, "\xc3\xa9", 2);
}

/* ---- hostile input ---- */

static void test_billion_laughs(void **state)
{
    const char *bomb = "<?xml version=\"1.0\"?>\n"
                       "<!DOCTYPE ClinicalDocument [\n"
                       " <!ENTITY lol \"lol\">\n"
                       " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
                       " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
                       " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
                       " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
                       " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
                       " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
                       " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
                       " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
                       " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
                       "]>\n"
                       "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"&lol9;\"/>"
                       "<title>&lol9;</title></ClinicalDocument>\n";
    expect_error(bomb, SOCLE_EUNPROCESSABLE, MSG_DTD);
    /* The parameter-entity flavour. */
    const char *pe = "<!DOCTYPE ClinicalDocument [ <!ENTITY % a \"<!ENTITY b 'x'>\"> %a; %a; ]>"
                     "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">&b;</ClinicalDocument>";
    expect_error(pe, SOCLE_EUNPROCESSABLE, MSG_DTD);
}

static void test_external_entity(void **state)
{
    const char *xxe = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE ClinicalDocument [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
                      "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"X\"/><title>&xxe;</title>"
                      "<recordTarget><patientRole><id root=\"1.2\" extension=\"&xxe;\"/></patientRole></recordTarget>"
                      "<author><assignedAuthor><id root=\"1.3\"/></assignedAuthor></author></ClinicalDocument>\n";
    expect_error(xxe, SOCLE_EUNPROCESSABLE, MSG_DTD);
    /* A network DTD is neither fetched nor accepted. */
    const char *netdtd = "<!DOCTYPE ClinicalDocument SYSTEM \"http://127.0.0.1:9/cda.dtd\">"
                         "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>";
    expect_error(netdtd, SOCLE_EUNPROCESSABLE, MSG_DTD);
}

static void test_doctype_alone(void **state)
{
    char *ok = build(CODE_OK, PAT_OK, AUTH_OK, BODY_OK);
    const char *root = strstr(ok, "<ClinicalDocument");
    assert_non_null(root);
    size_t n = strlen(ok) + 64;
    char *xml = malloc(n);
    assert_non_null(xml);
    snprintf(xml, n, "<!DOCTYPE ClinicalDocument>\n%s", root);
    expect_error(xml, SOCLE_EUNPROCESSABLE, MSG_DTD);
    snprintf(xml, n, "<!DOCTYPE ClinicalDocument []>\n%s", root);
    expect_error(xml, SOCLE_EUNPROCESSABLE, MSG_DTD);
    free(xml);
    free(ok);
    /* An entity reference without any DTD is undeclared. */
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>&foo;</title></ClinicalDocument>",
                 SOCLE_EUNPROCESSABLE, MSG_DTD);
}

static void test_not_well_formed(void **state)
{
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\n<code code=\"X\">\n<title/>\n</ClinicalDocument>",
                 SOCLE_EUNPROCESSABLE, "the CDA document is not well-formed XML (line 4)");
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"X\" code=\"Y\"/></ClinicalDocument>",
                 SOCLE_EUNPROCESSABLE, "not well-formed XML (line 1)");
    expect_error("not xml at all", SOCLE_EUNPROCESSABLE, "not well-formed XML");
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/><second/>", SOCLE_EUNPROCESSABLE,
                 "not well-formed XML");
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\xff\xfe</ClinicalDocument>", SOCLE_EUNPROCESSABLE,
                 "not well-formed XML");
    /* An unbound prefix. */
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><x:code code=\"X\"/></ClinicalDocument>",
                 SOCLE_EUNPROCESSABLE, "not namespace-well-formed XML (line 1)");
    /* A NUL byte inside the given length. */
    static const char nul[] = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\0</ClinicalDocument>";
    dmp_cda_header h;
    socle_err err = {0};
    assert_int_equal(dmp_cda_parse(nul, sizeof nul - 1, MAX_BYTES, &h, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "not well-formed XML"));
}

static void test_empty(void **state)
{
    dmp_cda_header h;
    socle_err err = {0};
    assert_int_equal(dmp_cda_parse("", 0, MAX_BYTES, &h, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(dmp_cda_parse(NULL, 0, MAX_BYTES, &h, &err), SOCLE_EUNPROCESSABLE);
    expect_error("  \n\t ", SOCLE_EUNPROCESSABLE, "empty");
    expect_error("<?xml version=\"1.0\"?>", SOCLE_EUNPROCESSABLE, "not well-formed XML");
    /* Caller bugs. */
    assert_int_equal(dmp_cda_parse(NULL, 10, MAX_BYTES, &h, &err), SOCLE_EINVAL);
    assert_int_equal(dmp_cda_parse("<a/>", 4, MAX_BYTES, NULL, &err), SOCLE_EINVAL);
    assert_int_equal(dmp_cda_parse("<a/>", 4, MAX_BYTES, &h, NULL), SOCLE_EUNPROCESSABLE);
}

static void test_wrong_root(void **state)
{
    const char *msg = "the root element is not an HL7 v3 ClinicalDocument";
    expect_error("<ClinicalDocument><code code=\"X\"/></ClinicalDocument>", SOCLE_EUNPROCESSABLE, msg);
    expect_error("<ClinicalDocument xmlns=\"urn:hl7-org:v2\"/>", SOCLE_EUNPROCESSABLE, msg);
    expect_error("<Patient xmlns=\"urn:hl7-org:v3\"/>", SOCLE_EUNPROCESSABLE, msg);
    expect_error("<clinicaldocument xmlns=\"urn:hl7-org:v3\"/>", SOCLE_EUNPROCESSABLE, msg);
    expect_error("<Bundle xmlns=\"http://hl7.org/fhir\"><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/></Bundle>",
                 SOCLE_EUNPROCESSABLE, msg);
}

/* nested - a document whose body holds `extra` nested <x> elements: depth 3 + extra. */
static char *nested(int extra)
{
    size_t n = (size_t)extra * 7 + 1;
    char *body = malloc(n + 64);
    assert_non_null(body);
    char *p = body;
    p += sprintf(p, "<structuredBody>");
    for (int i = 0; i < extra; i++)
        p += sprintf(p, "<x>");
    for (int i = 0; i < extra; i++)
        p += sprintf(p, "</x>");
    sprintf(p, "</structuredBody>");
    char *xml = build(CODE_OK, PAT_OK, AUTH_OK, body);
    free(body);
    return xml;
}

static void test_depth(void **state)
{
    dmp_cda_header h;
    socle_err err = {0};
    char *xml = nested(256 - 3); /* exactly 256 levels */
    assert_int_equal(parse_str(xml, &h, &err), 0);
    assert_string_equal(dmp_cda_level(&h), "N3");
    free(xml);
    xml = nested(257 - 3);
    expect_error(xml, SOCLE_EUNPROCESSABLE, "deeper than 256");
    free(xml);
    /* 300 nested elements, and 100000 (never closed). */
    char *deep = malloc(100000 * 3 + 128);
    assert_non_null(deep);
    char *p = deep + sprintf(deep, "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">");
    for (int i = 1; i < 300; i++)
        p += sprintf(p, "<a>");
    for (int i = 1; i < 300; i++)
        p += sprintf(p, "</a>");
    sprintf(p, "</ClinicalDocument>");
    expect_error(deep, SOCLE_EUNPROCESSABLE, "deeper than 256");
    p = deep;
    for (int i = 0; i < 100000; i++)
        p += sprintf(p, "<a>");
    expect_error(deep, SOCLE_EUNPROCESSABLE, "deeper than 256");
    free(deep);
}

static void test_oversize(void **state)
{
    char *xml = build(CODE_OK, PAT_OK, AUTH_OK, BODY_OK);
    size_t len = strlen(xml);
    dmp_cda_header h;
    memset(&h, 0x5a, sizeof h);
    socle_err err = {0};
    assert_int_equal(dmp_cda_parse(xml, len, len - 1, &h, &err), SOCLE_ETOOLARGE);
    assert_int_equal(err.code, SOCLE_ETOOLARGE);
    assert_non_null(strstr(err.msg, "larger than"));
    assert_int_equal(h.npatient_ids, 0);
    assert_int_equal(dmp_cda_parse(xml, len, 0, &h, &err), SOCLE_ETOOLARGE);
    assert_int_equal(dmp_cda_parse(xml, len, len, &h, &err), 0);
    free(xml);
}

static void test_missing_code(void **state)
{
    char *xml = build("", PAT_OK, AUTH_OK, BODY_OK);
    expect_error(xml, SOCLE_EUNPROCESSABLE, "the CDA header has no code");
    free(xml);
    xml = build("<code nullFlavor=\"UNK\"/>", PAT_OK, AUTH_OK, BODY_OK);
    expect_error(xml, SOCLE_EUNPROCESSABLE, "the CDA header has no code");
    free(xml);
    socle_err err = {0};
    dmp_cda_header h;
    xml = build("", PAT_OK, AUTH_OK, BODY_OK);
    parse_str(xml, &h, &err);
    assert_string_equal(err.where, "ClinicalDocument.code");
    free(xml);
}

static void test_missing_patient_id(void **state)
{
    const char *msg = "the CDA header has no patient identifier (recordTarget/patientRole/id)";
    char *xml = build(CODE_OK, "", AUTH_OK, BODY_OK);
    expect_error(xml, SOCLE_EUNPROCESSABLE, msg);
    free(xml);
    xml = build(CODE_OK, "<id nullFlavor=\"NI\"/>", AUTH_OK, BODY_OK);
    expect_error(xml, SOCLE_EUNPROCESSABLE, msg);
    free(xml);
    /* An id elsewhere in recordTarget does not count. */
    xml = build(CODE_OK, "<patient><id root=\"1.2\" extension=\"3\"/></patient>", AUTH_OK, BODY_OK);
    expect_error(xml, SOCLE_EUNPROCESSABLE, msg);
    free(xml);
}

static void test_missing_author(void **state)
{
    const char *msg = "the CDA header has no author identifier";
    /* build() always adds a second author: write the document by hand. */
    const char *xml = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">" CODE_OK
                      "<recordTarget><patientRole>" PAT_OK "</patientRole></recordTarget>"
                      "<author><assignedAuthor><assignedPerson/></assignedAuthor></author>"
                      "<component>" BODY_OK "</component></ClinicalDocument>";
    expect_error(xml, SOCLE_EUNPROCESSABLE, msg);
    const char *none = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">" CODE_OK
                       "<recordTarget><patientRole>" PAT_OK "</patientRole></recordTarget></ClinicalDocument>";
    expect_error(none, SOCLE_EUNPROCESSABLE, msg);
    /* An author id nested deeper (e.g. in a section) is not a header author. */
    const char *deep = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">" CODE_OK
                       "<recordTarget><patientRole>" PAT_OK "</patientRole></recordTarget>"
                       "<component><structuredBody><author><assignedAuthor>" AUTH_OK
                       "</assignedAuthor></author></structuredBody></component></ClinicalDocument>";
    expect_error(deep, SOCLE_EUNPROCESSABLE, msg);
}

/* Nothing of libxml2 reaches stderr, whatever the input. */
static void test_silent(void **state)
{
    static const char *inputs[] = {
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code></ClinicalDocument>",
        "<!DOCTYPE x [ <!ENTITY a SYSTEM \"file:///etc/passwd\"> ]><x>&a;</x>",
        "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><x:y/>&undeclared;</ClinicalDocument>",
        "<ClinicalDocument xmlns=\"relative/uri\"/>",
        "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"bogus-encoding\"?><a/>",
        "<a b=\"<\"/>",
    };
    enum { N = sizeof inputs / sizeof inputs[0] };
    int rcs[N];
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    for (int i = 0; i < N; i++) {
        dmp_cda_header h;
        socle_err err = {0};
        rcs[i] = parse_str(inputs[i], &h, &err);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat sb;
    assert_int_equal(fstat(fileno(tmp), &sb), 0);
    fclose(tmp);
    assert_int_equal(sb.st_size, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(rcs[i], SOCLE_EUNPROCESSABLE);
}

/* Concurrent parses (one parser context each). */
static void *parse_many(void *arg)
{
    const char *xml = arg;
    intptr_t failures = 0;
    for (int i = 0; i < 25; i++) {
        dmp_cda_header h;
        socle_err err = {0};
        if (parse_str(xml, &h, &err) != 0 || strcmp(h.title, "Compte rendu de test") != 0)
            failures++;
        if (parse_str("<!DOCTYPE a [<!ENTITY b \"c\">]><a>&b;</a>", &h, &err) != SOCLE_EUNPROCESSABLE)
            failures++;
    }
    return (void *)failures;
}

static void test_threads(void **state)
{
    char *xml = build(CODE_OK, PAT_OK, AUTH_OK, BODY_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, parse_many, xml), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_int_equal((intptr_t)ret, 0);
    }
    free(xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_vsm),
        cmocka_unit_test(test_example_bio_tsh),
        cmocka_unit_test(test_example_bio_second_opinion),
        cmocka_unit_test(test_example_img),
        cmocka_unit_test(test_example_img_n1),
        cmocka_unit_test(test_example_ldl_ses),
        cmocka_unit_test(test_example_non_structured_n1),
        cmocka_unit_test(test_example_truncated),
        cmocka_unit_test(test_minimal_fields),
        cmocka_unit_test(test_minimal_non_xml_body),
        cmocka_unit_test(test_namespace_matching),
        cmocka_unit_test(test_max_ids),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_external_entity),
        cmocka_unit_test(test_doctype_alone),
        cmocka_unit_test(test_not_well_formed),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_wrong_root),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_missing_code),
        cmocka_unit_test(test_missing_patient_id),
        cmocka_unit_test(test_missing_author),
        cmocka_unit_test(test_silent),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("dmp_cda", tests, NULL, NULL);
}
