/* test_mss_xdm.c - unit tests of src/svc/mss/xdm.c: xdm_build then xdm_read gives every field back
 * (with defaults, with characters to escape), xdm_build refuses missing or unusable inputs, and
 * xdm_read refuses hostile or inconsistent packages built here by hand with libzip: no METADATA.XML,
 * unsafe entry names (traversal, absolute, backslash, drive letter, NUL byte), a missing document, a
 * wrong hash or size, a DTD or entity in METADATA.XML, too many entries, zip bombs (size, ratio,
 * total, a lying directory), encrypted entries, bytes that are no ZIP at all; and mss_xdm_walk: the
 * packages of one message read one at a time within a budget for all of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "base/arena.h"
#include "base/buf.h"
#include "crypto/crypto.h"
#include "svc/mss/mime.h"
#include "svc/mss/mss_internal.h"
#include "svc/mss/xdm.h"

#define INS "279035121518989^^^&1.2.250.1.213.1.4.8&ISO"
#define AUTHOR "810001234567^MARTIN^Jeanne^^^^^^&1.2.250.1.71.4.2.1&ISO"
#define CDA "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>\n"
#define META "IHE_XDM/SUBSET01/METADATA.XML"
#define DOCPATH "IHE_XDM/SUBSET01/DOC0001.XML"

/* ---- helpers ---- */

typedef struct zentry {
    const char *name;
    const void *data;
    size_t len;
    int stored; /* 1: no compression */
} zentry;

/* make_zip - a ZIP of the entries, built in memory with libzip (malloc'd, *len set). */
static unsigned char *make_zip(const zentry *e, int n, size_t *len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    assert_non_null(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_keep(src);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, e[i].data, e[i].len, 0);
        assert_non_null(s);
        zip_int64_t idx = zip_file_add(za, e[i].name, s, 0);
        assert_true(idx >= 0);
        assert_int_equal(
            zip_set_file_compression(za, (zip_uint64_t)idx, e[i].stored ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0),
            0);
    }
    assert_int_equal(zip_close(za), 0);
    zip_stat_t st;
    assert_int_equal(zip_source_stat(src, &st), 0);
    assert_int_equal(zip_source_open(src), 0);
    unsigned char *out = malloc(st.size + 1);
    assert_non_null(out);
    assert_int_equal(zip_source_read(src, out, st.size), (zip_int64_t)st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    *len = st.size;
    return out;
}

/* sha1_hex - the hex SHA-1 of data into hex[41]. */
static char *sha1_hex(const char *data, size_t n, char *hex)
{
    uint8_t sum[20];
    crypto_sha1(data, n, sum);
    return crypto_hex(sum, sizeof sum, hex);
}

/* metadata - a hand-written METADATA.XML for one entry whose URI, hash and size slots are given (NULL:
 * slot omitted). Its type code and identifiers are top-level objects naming the entry; it has two
 * authors. prolog goes before the root (a DOCTYPE...), extra inside the ExtrinsicObject. */
static char *metadata(const char *prolog, const char *uri, const char *hash, const char *size,
                      const char *extra)
{
    socle_buf b = SOCLE_BUF_INIT;
    buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n%s", prolog != NULL ? prolog : "");
    buf_puts(&b, "<lcm:SubmitObjectsRequest xmlns:lcm=\"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0\" "
                 "xmlns:rim=\"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0\"><rim:RegistryObjectList>\n"
                 "<rim:ExtrinsicObject id=\"Doc1\" mimeType=\"text/xml\" "
                 "objectType=\"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1\">\n");
#define SLOT(n, v)                                                                                           \
    "<rim:Slot name=\"" n "\"><rim:ValueList><rim:Value>" v "</rim:Value></rim:ValueList></rim:Slot>\n"
    if (uri != NULL) buf_printf(&b, SLOT("URI", "%s"), uri);
    if (hash != NULL) buf_printf(&b, SLOT("hash", "%s"), hash);
    if (size != NULL) buf_printf(&b, SLOT("size", "%s"), size);
    buf_puts(&b, SLOT("creationTime", " 20240131093000 "));
    buf_puts(
        &b,
        "<rim:Classification classificationScheme=\"urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d\" "
        "classifiedObject=\"Doc1\" nodeRepresentation=\"\" id=\"a1\">" SLOT("authorPerson", "A1") SLOT(
            "authorInstitution",
            "X") "</rim:Classification>\n"
                 "<rim:Classification classificationScheme=\"urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d\" "
                 "classifiedObject=\"Doc1\" nodeRepresentation=\"\" id=\"a2\">" SLOT(
                     "authorPerson", "A2") "</rim:Classification>\n");
    buf_puts(&b, extra != NULL ? extra : "");
    buf_puts(
        &b,
        "</rim:ExtrinsicObject>\n"
        "<rim:Classification classificationScheme=\"urn:uuid:f0306f51-975f-434e-a61c-c59651d33983\" "
        "classifiedObject=\"Doc1\" nodeRepresentation=\"11488-4\" id=\"t\">" SLOT(
            "codingScheme",
            "2.16.840.1.113883.6.1") "<rim:Name><rim:LocalizedString value=\"CR\"/>"
                                     "</rim:Name></rim:Classification>\n"
                                     "<rim:ExternalIdentifier "
                                     "identificationScheme=\"urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab\" "
                                     "registryObject=\"Doc1\" value=\"1.2.3.4\" id=\"u\"/>\n"
                                     "<rim:RegistryPackage id=\"Folder\"/>\n"
                                     "<rim:RegistryPackage id=\"SS\">" SLOT(
                                         "submissionTime",
                                         "20240131100000") "</rim:RegistryPackage>\n"
                                                           "<rim:Classification classifiedObject=\"SS\" "
                                                           "classificationNode=\"urn:uuid:a54d6aa5-d40d-43f9-"
                                                           "88c1-6d17d5f4d2e9\" id=\"c\"/>\n"
                                                           "<rim:ExternalIdentifier "
                                                           "identificationScheme=\"urn:uuid:554ac39e-e3fe-"
                                                           "47fe-b233-965d2a147832\" "
                                                           "registryObject=\"SS\" value=\"1.2.250.9\" "
                                                           "id=\"s\"/>\n"
                                                           "</rim:RegistryObjectList></"
                                                           "lcm:SubmitObjectsRequest>\n");
#undef SLOT
    assert_true(buf_ok(&b));
    return buf_take(&b, NULL);
}

/* expect_read - xdm_read of zip[0..len) with lim gives code and a message containing msg. */
static void expect_read(const unsigned char *zip, size_t len, const xdm_limits *lim, int code,
                        const char *msg)
{
    arena *a = arena_new(0);
    assert_non_null(a);
    xdm_package *p = (xdm_package *)1;
    socle_err err = {0};
    int rc = xdm_read(zip, len, lim, a, &p, &err);
    if (rc != code || strstr(err.msg, msg) == NULL)
        print_error("expected %d \"%s\", got %d \"%s\"\n", code, msg, rc, err.msg);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, msg));
    assert_null(p);
    arena_free(a);
}

/* expect_entries - make a ZIP of the entries and expect_read it. */
static void expect_entries(const zentry *e, int n, const xdm_limits *lim, int code, const char *msg)
{
    size_t len;
    unsigned char *zip = make_zip(e, n, &len);
    expect_read(zip, len, lim, code, msg);
    free(zip);
}

/* read_ok - xdm_read must accept zip; the package in a (fails the test otherwise). */
static xdm_package *read_ok(const void *zip, size_t len, arena *a)
{
    xdm_package *p = NULL;
    socle_err err = {0};
    int rc = xdm_read(zip, len, NULL, a, &p, &err);
    if (rc != 0) print_error("xdm_read: %d %s\n", rc, err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    return p;
}

/* full_input - a build input with every field set. */
static xdm_build_input full_input(void)
{
    xdm_build_input in = {
        .document = CDA,
        .document_len = sizeof CDA - 1,
        .file_name = "CR0001.XML",
        .mime_type = "text/xml",
        .unique_id = "1.2.250.1.999.1.42",
        .patient_id = INS,
        .title = "Compte rendu d'imagerie <scanner> & \"suivi\" \xc3\xa9t\xc3\xa9",
        .creation_time = "20240131093000+0100",
        .type = {"18748-4", "2.16.840.1.113883.6.1",
                 "CR d'imagerie m\xc3\xa9"
                 "dicale"},
        .class_code = {"10", "1.2.250.1.213.1.1.4.1", "Compte rendu"},
        .format = {"urn:ihe:rad:CDA:ImagingReportStructured:2013", "1.3.6.1.4.1.19376.1.2.3", "CR imagerie"},
        .confidentiality = {"N", "2.16.840.1.113883.5.25", "Normal"},
        .facility = {"SA01", "1.2.250.1.71.4.2.4", "Etablissement public de sant\xc3\xa9"},
        .practice = {"ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de sant\xc3\xa9"},
        .author_id = AUTHOR,
        .source_id = "1.2.250.1.999.2",
        .submission_unique_id = "1.2.250.1.999.3.1",
        .submission_time = "20240131100000",
    };
    return in;
}

/* assert_code - c holds want. */
static void assert_code(const xdm_code *c, const xdm_code *want)
{
    assert_string_equal(c->code, want->code);
    assert_string_equal(c->scheme, want->scheme);
    assert_string_equal(c->display, want->display);
}

/* zip_has - the ZIP zip holds an entry name; its content into *content (malloc'd) when asked. */
static int zip_has(const void *zip, size_t len, const char *name, char **content)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(zip, len, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    assert_non_null(za);
    zip_stat_t st;
    int found = zip_stat(za, name, 0, &st) == 0;
    if (found && content != NULL) {
        *content = calloc(1, st.size + 1);
        zip_file_t *f = zip_fopen(za, name, 0);
        assert_non_null(f);
        assert_int_equal(zip_fread(f, *content, st.size), (zip_int64_t)st.size);
        zip_fclose(f);
    }
    zip_discard(za);
    zip_error_fini(&ze);
    return found;
}

/* ---- build and read back ---- */

static void test_round_trip(void **state)
{
    xdm_build_input in = full_input();
    socle_buf out = SOCLE_BUF_INIT;
    buf_puts(&out, "prefix"); /* xdm_build appends */
    socle_err err = {0};
    assert_int_equal(xdm_build(&in, &out, &err), 0);
    assert_memory_equal(out.data, "prefix", 6);
    const char *zip = out.data + 6;
    size_t len = out.len - 6;

    char *readme = NULL, *index = NULL, *meta = NULL;
    assert_true(zip_has(zip, len, "README.TXT", &readme));
    assert_true(zip_has(zip, len, "INDEX.HTM", &index));
    assert_true(zip_has(zip, len, META, &meta));
    assert_true(zip_has(zip, len, "IHE_XDM/SUBSET01/CR0001.XML", NULL));
    assert_non_null(strstr(readme, "socle"));
    assert_non_null(strstr(index, "IHE_XDM/SUBSET01/CR0001.XML"));
    assert_non_null(strstr(index, "&lt;scanner&gt; &amp; &quot;suivi&quot;"));
    assert_non_null(strstr(meta, "urn:uuid:a54d6aa5-d40d-43f9-88c1-6d17d5f4d2e9"));
    assert_non_null(strstr(meta, "AssociationType:HasMember"));
    assert_non_null(strstr(meta, "objectType=\"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1\""));
    free(readme);
    free(index);
    free(meta);

    arena *a = arena_new(0);
    xdm_package *p = read_ok(zip, len, a);
    assert_string_equal(p->subset, "SUBSET01");
    assert_string_equal(p->submission_unique_id, in.submission_unique_id);
    assert_string_equal(p->source_id, in.source_id);
    assert_string_equal(p->submission_time, in.submission_time);
    assert_string_equal(p->submission_patient_id, INS);
    assert_int_equal(p->ndocuments, 1);
    const xdm_document *d = &p->documents[0];
    assert_true(strncmp(d->entry_uuid, "urn:uuid:", 9) == 0);
    assert_int_equal(strlen(d->entry_uuid), 45);
    assert_string_equal(d->unique_id, in.unique_id);
    assert_string_equal(d->patient_id, INS);
    assert_string_equal(d->mime_type, "text/xml");
    assert_string_equal(d->title, in.title);
    assert_string_equal(d->creation_time, in.creation_time);
    assert_string_equal(d->uri, "CR0001.XML");
    char hex[41];
    assert_string_equal(d->hash, sha1_hex(CDA, sizeof CDA - 1, hex));
    assert_int_equal(d->size, (long long)(sizeof CDA - 1));
    assert_code(&d->type, &in.type);
    assert_code(&d->class_code, &in.class_code);
    assert_code(&d->format, &in.format);
    assert_code(&d->confidentiality, &in.confidentiality);
    assert_code(&d->facility, &in.facility);
    assert_code(&d->practice, &in.practice);
    assert_int_equal(d->nauthors, 1);
    assert_string_equal(d->author_ids[0], AUTHOR);
    assert_int_equal(d->data_len, sizeof CDA - 1);
    assert_memory_equal(d->data, CDA, sizeof CDA - 1);
    assert_int_equal(d->data[d->data_len], '\0');
    arena_free(a);
    buf_free(&out);
}

static void test_round_trip_defaults(void **state)
{
    static const char doc[] = "%PDF-1.4 not really\n";
    xdm_build_input in = {
        .document = doc,
        .document_len = sizeof doc - 1,
        .unique_id = "1.2.3",
        .patient_id = INS,
        .creation_time = "20240101",
        .type = {"11488-4", NULL, NULL},
        .source_id = "1.2.4",
        .submission_unique_id = "1.2.5",
        .submission_time = "20240102",
    };
    socle_buf out = SOCLE_BUF_INIT;
    socle_err err = {0};
    assert_int_equal(xdm_build(&in, &out, &err), 0);
    arena *a = arena_new(0);
    xdm_package *p = read_ok(out.data, out.len, a);
    const xdm_document *d = &p->documents[0];
    assert_string_equal(d->uri, "DOC0001.XML");
    assert_string_equal(d->mime_type, "text/xml");
    assert_string_equal(d->title, "");
    assert_string_equal(d->type.code, "11488-4");
    assert_string_equal(d->type.scheme, "");
    assert_string_equal(d->type.display, "");
    assert_string_equal(d->class_code.code, "");
    assert_string_equal(d->practice.display, "");
    assert_int_equal(d->nauthors, 0);
    assert_int_equal(d->data_len, sizeof doc - 1);
    arena_free(a);
    buf_free(&out);
}

static void test_build_refuses(void **state)
{
    socle_buf out = SOCLE_BUF_INIT;
    socle_err err = {0};
    xdm_build_input in = full_input();
    assert_int_equal(xdm_build(NULL, &out, &err), SOCLE_EINVAL);

    const char **fields[] = {&in.unique_id, &in.patient_id,           &in.creation_time,  &in.type.code,
                             &in.source_id, &in.submission_unique_id, &in.submission_time};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        in = full_input();
        *fields[i] = NULL; /* fields point into in */
        assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
        assert_non_null(strstr(err.msg, "required"));
        *fields[i] = "";
        assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
    }
    in = full_input();
    in.document = NULL;
    assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
    in = full_input();
    in.document_len = 0;
    assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);

    static const char *bad_names[] = {"../x.xml", "a/b.xml",      "/x.xml", "a\\b",
                                      "C:x",      "METADATA.XML", "",       "a\tb"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        in = full_input();
        in.file_name = bad_names[i];
        assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
    }
    static const char *bad_texts[] = {"bad \xc3", "ctl \x01", "overlong \xc0\xaf", "surrogate \xed\xa0\x80"};
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
        in = full_input();
        in.title = bad_texts[i];
        assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
        in = full_input();
        in.type.display = bad_texts[i];
        assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
        in = full_input();
        in.unique_id = bad_texts[i];
        assert_int_equal(xdm_build(&in, &out, &err), SOCLE_EINVAL);
    }
    assert_int_equal(out.len, 0); /* nothing appended on error */
    buf_free(&out);
}

static void test_build_escapes(void **state)
{
    xdm_build_input in = full_input();
    in.title = "a<b>&c\"d'e\tf\ng\rh ]]> &amp;";
    in.author_id = "x&y<z>";
    in.type.display = "\"quoted\" & <tagged>";
    socle_buf out = SOCLE_BUF_INIT;
    socle_err err = {0};
    assert_int_equal(xdm_build(&in, &out, &err), 0);
    arena *a = arena_new(0);
    xdm_package *p = read_ok(out.data, out.len, a);
    assert_string_equal(p->documents[0].title, in.title);
    assert_string_equal(p->documents[0].author_ids[0], in.author_id);
    assert_string_equal(p->documents[0].type.display, in.type.display);
    arena_free(a);
    buf_free(&out);
}

/* ---- hand-made packages ---- */

/* expect_meta - a package with METADATA.XML meta and the document CDA as DOC0001.XML. */
static void expect_meta(const char *meta, int code, const char *msg)
{
    zentry e[] = {{META, meta, strlen(meta), 0}, {DOCPATH, CDA, sizeof CDA - 1, 0}};
    expect_entries(e, 2, NULL, code, msg);
}

static void test_hand_made(void **state)
{
    char hex[41];
    sha1_hex(CDA, sizeof CDA - 1, hex);
    for (char *c = hex; *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 'a' + 'A'); /* hashes compare case-insensitively */
    char size[24];
    snprintf(size, sizeof size, "%zu", sizeof CDA - 1);
    char *meta = metadata(NULL, "doc0001.xml", hex, size, NULL);
    static const char readme[] = "hello";
    zentry e[] = {{"README.TXT", readme, 5, 1},
                  {"IHE_XDM/", "", 0, 1},
                  {META, meta, strlen(meta), 0},
                  {DOCPATH, CDA, sizeof CDA - 1, 1},
                  {"IHE_XDM/SUBSET02/METADATA.XML", "x", 1, 0}};
    size_t len;
    unsigned char *zip = make_zip(e, 5, &len);
    arena *a = arena_new(0);
    xdm_package *p = read_ok(zip, len, a);
    assert_string_equal(p->subset, "SUBSET01");
    assert_string_equal(p->submission_time, "20240131100000");
    assert_string_equal(p->source_id, "1.2.250.9");
    assert_string_equal(p->submission_unique_id, "");
    assert_string_equal(p->submission_patient_id, "");
    const xdm_document *d = &p->documents[0];
    assert_string_equal(d->entry_uuid, "Doc1");
    assert_string_equal(d->unique_id, "1.2.3.4");
    assert_string_equal(d->patient_id, "");
    assert_string_equal(d->creation_time, "20240131093000");
    assert_string_equal(d->type.code, "11488-4");
    assert_string_equal(d->type.scheme, "2.16.840.1.113883.6.1");
    assert_string_equal(d->type.display, "CR");
    assert_int_equal(d->nauthors, 2);
    assert_string_equal(d->author_ids[0], "A1");
    assert_string_equal(d->author_ids[1], "A2");
    assert_int_equal(d->data_len, sizeof CDA - 1);
    arena_free(a);
    free(zip);
    free(meta);

    meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL); /* no hash nor size: nothing to check */
    zentry e2[] = {{META, meta, strlen(meta), 0}, {DOCPATH, CDA, sizeof CDA - 1, 0}};
    zip = make_zip(e2, 2, &len);
    a = arena_new(0);
    p = read_ok(zip, len, a);
    assert_string_equal(p->documents[0].hash, "");
    assert_int_equal(p->documents[0].size, -1);
    arena_free(a);
    free(zip);
    free(meta);
}

static void test_missing_metadata(void **state)
{
    zentry e[] = {{"README.TXT", "x", 1, 0}, {DOCPATH, CDA, sizeof CDA - 1, 0}};
    expect_entries(e, 2, NULL, SOCLE_EINVAL, "no IHE_XDM/<subset>/METADATA.XML");
    zentry e2[] = {{"METADATA.XML", "<a/>", 4, 0},
                   {"IHE_XDM/METADATA.XML", "<a/>", 4, 0},
                   {"IHE_XDM/A/B/METADATA.XML", "<a/>", 4, 0}};
    expect_entries(e2, 3, NULL, SOCLE_EINVAL, "no IHE_XDM/<subset>/METADATA.XML");
}

static void test_unsafe_names(void **state)
{
    char *meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL);
    static const char *names[] = {"../x",
                                  "IHE_XDM/SUBSET01/../../x",
                                  "/etc/passwd",
                                  "IHE_XDM\\SUBSET01\\x",
                                  "C:/x",
                                  "c:x",
                                  "a\x01"
                                  "b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        zentry e[] = {
            {META, meta, strlen(meta), 0}, {DOCPATH, CDA, sizeof CDA - 1, 0}, {names[i], "x", 1, 0}};
        expect_entries(e, 3, NULL, SOCLE_EINVAL, "unsafe name");
    }
    /* the same name twice, up to case */
    zentry e[] = {{META, meta, strlen(meta), 0},
                  {DOCPATH, CDA, sizeof CDA - 1, 0},
                  {"ihe_xdm/subset01/doc0001.xml", "x", 1, 0}};
    expect_entries(e, 3, NULL, SOCLE_EINVAL, "same name");
    /* an unsafe URI in the metadata */
    free(meta);
    meta = metadata(NULL, "../DOC0001.XML", NULL, NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "unsafe URI");
    free(meta);
}

/* patch_all - replace every occurrence of from by to (same length) in z[0..len); how many. */
static int patch_all(unsigned char *z, size_t len, const char *from, const char *to)
{
    size_t n = strlen(from);
    int count = 0;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(z + i, from, n) == 0) {
            memcpy(z + i, to, n);
            count++;
        }
    return count;
}

static void test_nul_in_name(void **state)
{
    char *meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL);
    zentry e[] = {
        {META, meta, strlen(meta), 0}, {DOCPATH, CDA, sizeof CDA - 1, 0}, {"IHE_XDM/EVILQ.exe", "x", 1, 1}};
    size_t len;
    unsigned char *zip = make_zip(e, 3, &len);
    assert_int_equal(patch_all(zip, len, "EVILQ", "EVIL\0"), 2); /* local header and central directory */
    expect_read(zip, len, NULL, SOCLE_EINVAL, "NUL");
    free(zip);
    free(meta);
}

static void test_document_missing(void **state)
{
    char *meta = metadata(NULL, "DOC0002.XML", NULL, NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "missing from the package");
    free(meta);
    meta = metadata(NULL, NULL, NULL, NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "no URI slot");
    free(meta);
    /* the document in another subset does not count */
    meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL);
    zentry e[] = {{META, meta, strlen(meta), 0}, {"IHE_XDM/SUBSET02/DOC0001.XML", CDA, sizeof CDA - 1, 0}};
    expect_entries(e, 2, NULL, SOCLE_EINVAL, "missing from the package");
    free(meta);
}

static void test_wrong_hash(void **state)
{
    char *meta = metadata(NULL, "DOC0001.XML", "da39a3ee5e6b4b0d3255bfef95601890afd80709", NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "SHA-1 hash");
    free(meta);
    meta = metadata(NULL, "DOC0001.XML", "not-a-hash", NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "SHA-1 hash");
    free(meta);
}

static void test_wrong_size(void **state)
{
    char *meta = metadata(NULL, "DOC0001.XML", NULL, "12", NULL);
    expect_meta(meta, SOCLE_EINVAL, "size");
    free(meta);
    meta = metadata(NULL, "DOC0001.XML", NULL, "12a", NULL);
    expect_meta(meta, SOCLE_EINVAL, "not a number");
    free(meta);
    meta = metadata(NULL, "DOC0001.XML", NULL, "-1", NULL);
    expect_meta(meta, SOCLE_EINVAL, "not a number");
    free(meta);
}

static void test_entities(void **state)
{
    char *meta = metadata(
        "<!DOCTYPE lcm:SubmitObjectsRequest [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;\">]>\n",
        "DOC0001.XML", NULL, NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "DTD or entities");
    free(meta);
    meta =
        metadata("<!DOCTYPE x SYSTEM \"http://example.invalid/x.dtd\">\n", "DOC0001.XML", NULL, NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "DTD or entities");
    free(meta);
    meta = metadata(NULL, "&xxe;", NULL, NULL, NULL);
    expect_meta(meta, SOCLE_EINVAL, "DTD or entities");
    free(meta);
}

static void test_bad_xml(void **state)
{
    expect_meta("<lcm:SubmitObjectsRequest", SOCLE_EINVAL, "not well-formed");
    expect_meta("", SOCLE_EINVAL, "empty");
    expect_meta("<x:a/>", SOCLE_EINVAL, "namespace-well-formed");
    expect_meta("<a xmlns=\"urn:other\"/>", SOCLE_EINVAL, "not an ebRIM SubmitObjectsRequest");
    expect_meta("<lcm:SubmitObjectsRequest xmlns:lcm=\"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0\" "
                "xmlns:rim=\"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0\"><rim:RegistryObjectList/>"
                "</lcm:SubmitObjectsRequest>",
                SOCLE_EINVAL, "no document entry");
    /* nesting past the depth limit */
    socle_buf b = SOCLE_BUF_INIT;
    for (int i = 0; i < 300; i++)
        buf_puts(&b, "<a>");
    for (int i = 0; i < 300; i++)
        buf_puts(&b, "</a>");
    expect_meta(b.data, SOCLE_EINVAL, "deeper than");
    buf_free(&b);
}

static void test_too_many_entries(void **state)
{
    char *meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL);
    enum { N = 70 };
    zentry e[N];
    char names[N][32];
    e[0] = (zentry){META, meta, strlen(meta), 0};
    e[1] = (zentry){DOCPATH, CDA, sizeof CDA - 1, 0};
    for (int i = 2; i < N; i++) {
        snprintf(names[i], sizeof names[i], "extra%02d.txt", i);
        e[i] = (zentry){names[i], "x", 1, 1};
    }
    expect_entries(e, N, NULL, SOCLE_ETOOLARGE, "more than 64 entries");
    xdm_limits lim = {.max_entries = 2};
    expect_entries(e, 3, &lim, SOCLE_ETOOLARGE, "more than 2 entries");
    size_t len;
    unsigned char *zip = make_zip(e, 2, &len); /* exactly at the limit */
    arena *a = arena_new(0);
    xdm_package *p = NULL;
    assert_int_equal(xdm_read(zip, len, &lim, a, &p, NULL), 0);
    arena_free(a);
    free(zip);
    free(meta);
}

static void test_bombs(void **state)
{
    enum { BOMB = 30 * 1024 * 1024 };
    char *zeros = calloc(1, BOMB);
    assert_non_null(zeros);
    char *meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL);
    zentry e[] = {{META, meta, strlen(meta), 0}, {DOCPATH, zeros, BOMB, 0}};
    size_t len;
    unsigned char *zip = make_zip(e, 2, &len);
    assert_true(len < 200 * 1024);
    expect_read(zip, len, NULL, SOCLE_ETOOLARGE, "larger than 20971520 bytes");
    xdm_limits ratio = {.max_entry_bytes = 64u << 20, .max_total_bytes = 64u << 20, .max_ratio = 200};
    expect_read(zip, len, &ratio, SOCLE_ETOOLARGE, "compressed more than 200 to 1");
    xdm_limits total = {.max_entry_bytes = 64u << 20, .max_total_bytes = 16u << 20, .max_ratio = 100000};
    expect_read(zip, len, &total, SOCLE_ETOOLARGE, "total more than");
    xdm_limits loose = {.max_entry_bytes = 64u << 20, .max_total_bytes = 64u << 20, .max_ratio = 100000};
    arena *a = arena_new(0);
    xdm_package *p = NULL;
    assert_int_equal(xdm_read(zip, len, &loose, a, &p, NULL), 0);
    assert_int_equal(p->documents[0].data_len, BOMB);
    arena_free(a);
    free(zip);
    free(meta);
    free(zeros);
}

/* A directory that lies: the bomb's sizes are patched down to 100 bytes in both headers. */
static void test_lying_directory(void **state)
{
    enum { BOMB = 4 * 1024 * 1024 };
    char *spaces = malloc(BOMB);
    assert_non_null(spaces);
    memset(spaces, ' ', BOMB);
    memcpy(spaces, "<a/>", 4);
    zentry e[] = {{META, spaces, BOMB, 0}};
    size_t len;
    unsigned char *zip = make_zip(e, 1, &len);
    assert_true(memcmp(zip, "PK\3\4", 4) == 0);
    unsigned char le[4] = {BOMB & 0xff, (BOMB >> 8) & 0xff, (BOMB >> 16) & 0xff, BOMB >> 24};
    assert_memory_equal(zip + 22, le, 4); /* local header: uncompressed size */
    zip[22] = 100, zip[23] = zip[24] = zip[25] = 0;
    unsigned char *cd = NULL;
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(zip + i, "PK\1\2", 4) == 0) cd = zip + i;
    assert_non_null(cd);
    assert_memory_equal(cd + 24, le, 4); /* central directory: uncompressed size */
    cd[24] = 100, cd[25] = cd[26] = cd[27] = 0;
    xdm_limits lim = {.max_ratio = 100000};
    expect_read(zip, len, &lim, SOCLE_EINVAL, "ZIP entry 1");
    free(zip);
    free(spaces);
}

static void test_encrypted(void **state)
{
    char *meta = metadata(NULL, "DOC0001.XML", NULL, NULL, NULL);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_keep(src);
    zip_int64_t i1 = zip_file_add(za, META, zip_source_buffer(za, meta, strlen(meta), 0), 0);
    zip_int64_t i2 = zip_file_add(za, DOCPATH, zip_source_buffer(za, CDA, sizeof CDA - 1, 0), 0);
    assert_true(i1 >= 0 && i2 >= 0);
    if (zip_file_set_encryption(za, (zip_uint64_t)i2, ZIP_EM_AES_256, "secret") != 0) {
        zip_discard(za);
        zip_source_free(src);
        free(meta);
        skip(); /* libzip built without encryption */
    }
    assert_int_equal(zip_close(za), 0);
    zip_stat_t st;
    assert_int_equal(zip_source_stat(src, &st), 0);
    assert_int_equal(zip_source_open(src), 0);
    unsigned char *zip = malloc(st.size);
    assert_int_equal(zip_source_read(src, zip, st.size), (zip_int64_t)st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    expect_read(zip, st.size, NULL, SOCLE_EINVAL, "encrypted");
    free(zip);
    free(meta);
}

static void test_not_a_zip(void **state)
{
    expect_read((const unsigned char *)"", 0, NULL, SOCLE_EINVAL, "empty");
    static const char text[] = "This is not a ZIP archive at all, just some text that goes on for a while.";
    expect_read((const unsigned char *)text, sizeof text - 1, NULL, SOCLE_EINVAL, "not a readable ZIP");
    expect_read((const unsigned char *)"PK\5\6", 4, NULL, SOCLE_EINVAL, "ZIP");

    xdm_build_input in = full_input();
    socle_buf out = SOCLE_BUF_INIT;
    assert_int_equal(xdm_build(&in, &out, NULL), 0);
    for (size_t cut = 1; cut < out.len; cut += out.len / 13 + 1) /* truncated packages */
        expect_read((const unsigned char *)out.data, out.len - cut, NULL, SOCLE_EINVAL, "");
    /* a corrupted byte in the compressed document */
    size_t len = out.len;
    unsigned char *zip = malloc(len);
    memcpy(zip, out.data, len);
    for (size_t i = 0; i < len; i++)
        zip[i] ^= (i % 97 == 50) ? 0x55 : 0;
    arena *a = arena_new(0);
    xdm_package *p = NULL;
    assert_true(xdm_read(zip, len, NULL, a, &p, NULL) != 0);
    assert_null(p);
    arena_free(a);
    free(zip);
    buf_free(&out);

    arena *a2 = arena_new(0);
    socle_err err = {0};
    assert_int_equal(xdm_read(NULL, 0, NULL, a2, NULL, &err), SOCLE_EINVAL);
    arena_free(a2);
}

/* libxml2 and libzip print nothing while reading hostile packages. */
static void test_silent(void **state)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    expect_meta("<lcm:SubmitObjectsRequest", SOCLE_EINVAL, "not well-formed");
    expect_meta("<!DOCTYPE x [<!ENTITY a SYSTEM \"file:///etc/passwd\">]><x>&a;</x>", SOCLE_EINVAL, "DTD");
    expect_meta("<x>&undeclared;</x>", SOCLE_EINVAL, "DTD or entities");
    expect_read((const unsigned char *)"PK\3\4garbage", 11, NULL, SOCLE_EINVAL, "");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat sb;
    assert_int_equal(fstat(fileno(tmp), &sb), 0);
    fclose(tmp);
    assert_int_equal(sb.st_size, 0);
}

/* ---- the packages of one message (deliver.c) ---- */

typedef struct walk_seen {
    int packages;
    size_t unpacked;
} walk_seen;

static int walk_count(void *ctx, const xdm_package *pkg)
{
    walk_seen *w = ctx;
    w->packages++;
    w->unpacked += pkg->unpacked;
    assert_int_equal(pkg->ndocuments, 1);
    assert_memory_equal(pkg->documents[0].data, CDA, sizeof CDA - 1);
    return 0;
}

/* walk_message - a message with `count` ZIP parts, each the package zip (a bad one when bad). */
static void walk_message(socle_buf *msg, const socle_buf *zip, int count, int bad)
{
    buf_puts(
        msg,
        "From: <a@mss.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    buf_puts(msg, "--b\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n");
    for (int i = 0; i < count; i++) {
        buf_puts(msg, "--b\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        char line[80];
        const unsigned char *data =
            bad && i == 0 ? (const unsigned char *)"not a zip at all" : (const unsigned char *)zip->data;
        size_t len = bad && i == 0 ? 16 : zip->len;
        for (size_t off = 0; off < len; off += 57) {
            size_t w = crypto_b64_encode(data + off, len - off < 57 ? len - off : 57, line);
            buf_append(msg, line, w);
            buf_puts(msg, "\r\n");
        }
    }
    buf_puts(msg, "--b--\r\n");
}

/* Many small packages in one message: read one at a time, and refused once what they inflate to
 * together passes the budget (each one alone is within its own limits). */
static void test_message_budget(void **state)
{
    xdm_build_input in = full_input();
    in.file_name = NULL;
    socle_buf zip = SOCLE_BUF_INIT, msg = SOCLE_BUF_INIT;
    assert_int_equal(xdm_build(&in, &zip, NULL), 0);
    walk_message(&msg, &zip, 5, 0);
    arena *a = arena_new(0);
    mime_part *root;
    socle_err err = {0};
    assert_int_equal(mime_parse(msg.data, msg.len, NULL, a, &root, &err), 0);
    char reply[300] = "";
    walk_seen all = {0};
    assert_int_equal(
        mss_xdm_walk(msg.data, root, 1, MSS_XDM_MESSAGE_BYTES, walk_count, &all, reply, sizeof reply), 0);
    assert_int_equal(all.packages, 5);
    size_t one = all.unpacked / 5;
    assert_true(one >= sizeof CDA - 1);
    /* A budget for two and a half packages: the third one is refused, the others were seen. */
    walk_seen some = {0};
    assert_int_equal(mss_xdm_walk(msg.data, root, 1, one * 5 / 2, walk_count, &some, reply, sizeof reply),
                     -1);
    assert_int_equal(some.packages, 2);
    assert_non_null(strstr(reply, "554 5.6.0"));
    assert_non_null(strstr(reply, "in all"));
    arena_free(a);
    buf_reset(&msg);
    /* A part that is no package: refused when accepting a message, skipped (as if it had used a
     * whole package's limit) when reading stored mail. */
    walk_message(&msg, &zip, 3, 1);
    a = arena_new(0);
    assert_int_equal(mime_parse(msg.data, msg.len, NULL, a, &root, &err), 0);
    walk_seen strict = {0}, lenient = {0};
    assert_int_equal(
        mss_xdm_walk(msg.data, root, 1, MSS_XDM_MESSAGE_BYTES, walk_count, &strict, reply, sizeof reply), -1);
    assert_int_equal(strict.packages, 0);
    assert_non_null(strstr(reply, "554 5.6.0 IHE XDM attachment refused"));
    assert_int_equal(
        mss_xdm_walk(msg.data, root, 0, MSS_XDM_MESSAGE_BYTES, walk_count, &lenient, reply, sizeof reply), 0);
    assert_int_equal(lenient.packages, 2);
    assert_int_equal(
        mss_xdm_walk(msg.data, root, 0, XDM_DEFAULT_TOTAL_BYTES, walk_count, &lenient, reply, sizeof reply),
        -1);
    arena_free(a);
    buf_free(&msg);
    buf_free(&zip);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_defaults),
        cmocka_unit_test(test_build_refuses),
        cmocka_unit_test(test_build_escapes),
        cmocka_unit_test(test_hand_made),
        cmocka_unit_test(test_missing_metadata),
        cmocka_unit_test(test_unsafe_names),
        cmocka_unit_test(test_nul_in_name),
        cmocka_unit_test(test_document_missing),
        cmocka_unit_test(test_wrong_hash),
        cmocka_unit_test(test_wrong_size),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_bad_xml),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_lying_directory),
        cmocka_unit_test(test_encrypted),
        cmocka_unit_test(test_not_a_zip),
        cmocka_unit_test(test_silent),
        cmocka_unit_test(test_message_budget),
    };
    return cmocka_run_group_tests_name("mss_xdm", tests, NULL, NULL);
}
