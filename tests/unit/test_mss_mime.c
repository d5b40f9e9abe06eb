/* test_mss_mime.c - unit tests of src/svc/mss/mime.c: the tree of parts of simple, multipart,
 * nested and message/rfc822 messages, their IMAP BODYSTRUCTURE and BODY strings (expected values
 * worked out by hand), ENVELOPE (display names, groups, missing fields, literals), BODY[section]
 * (and mime_section_check, which must judge a spec as BODY[section] does),
 * malformed input and limits (each with its error code and message), and mime_decode (base64,
 * quoted-printable). Every message is copied to a buffer of its exact size, without a NUL, so that
 * ASan catches any read past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/mss/mime.h"

/* ---- helpers ---- */

/* A message under test: its bytes (exact size, no NUL), its arena and its tree. */
typedef struct tmsg {
    char *m;
    size_t len;
    arena *a;
    mime_part *root;
} tmsg;

/* tmsg_load - copy s into an exact-size buffer and parse it with lim; expects rc (and, on error,
 * msg in the error text) */
static void tmsg_load(tmsg *t, const char *s, size_t n, const mime_limits *lim, int rc, const char *msg)
{
    t->len = n;
    t->m = malloc(n ? n : 1);
    assert_non_null(t->m);
    memcpy(t->m, s, n);
    t->a = arena_new(0);
    assert_non_null(t->a);
    t->root = NULL;
    socle_err err = {0};
    int got = mime_parse(t->m, t->len, lim, t->a, &t->root, &err);
    if (got != rc || (msg && strstr(err.msg, msg) == NULL))
        print_error("expected %d \"%s\", got %d \"%s\"\n", rc, msg ? msg : "", got, err.msg);
    assert_int_equal(got, rc);
    if (rc == 0) {
        assert_non_null(t->root);
    } else {
        assert_null(t->root);
        assert_int_equal(err.code, rc);
        if (msg) assert_non_null(strstr(err.msg, msg));
    }
}

/* tmsg_parse - tmsg_load of a C string that must parse */
static void tmsg_parse(tmsg *t, const char *s)
{
    tmsg_load(t, s, strlen(s), NULL, 0, NULL);
}

/* expect_error - s must fail with rc and a message containing msg (lim may be NULL) */
static void expect_error(const char *s, const mime_limits *lim, int rc, const char *msg)
{
    tmsg t;
    tmsg_load(&t, s, strlen(s), lim, rc, msg);
    arena_free(t.a);
    free(t.m);
}

/* tmsg_free - release the bytes and the arena of t */
static void tmsg_free(tmsg *t)
{
    arena_free(t->a);
    free(t->m);
}

/* expect_bs - the BODYSTRUCTURE (extended) or BODY of part p must be want */
static void expect_bs(tmsg *t, const mime_part *p, int extended, const char *want)
{
    socle_buf b = SOCLE_BUF_INIT;
    mime_bodystructure(t->m, p, extended, t->a, &b);
    assert_true(buf_ok(&b));
    if (strcmp(b.data, want) != 0) print_error("got  %s\nwant %s\n", b.data, want);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

/* expect_env - the ENVELOPE of the message must be want */
static void expect_env(tmsg *t, const char *want)
{
    socle_buf b = SOCLE_BUF_INIT;
    mime_envelope(t->m, t->root, t->a, &b);
    assert_true(buf_ok(&b));
    if (strcmp(b.data, want) != 0) print_error("got  %s\nwant %s\n", b.data, want);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

/* expect_section - BODY[spec] must be want (compared as bytes) */
static void expect_section(tmsg *t, const char *spec, const char *want)
{
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err = {0};
    int rc = mime_section(t->m, t->len, t->root, spec, t->a, &b, &err);
    if (rc != 0) print_error("section \"%s\": %s\n", spec, err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(mime_section_check(spec, t->a, &err), 0);
    size_t n = strlen(want);
    if (b.len != n || (n && memcmp(b.data, want, n) != 0))
        print_error("section \"%s\": got [%.*s] want [%s]\n", spec, (int)b.len, b.data ? b.data : "", want);
    assert_int_equal(b.len, n);
    if (n) assert_memory_equal(b.data, want, n);
    buf_free(&b);
}

/* expect_section_error - spec must be refused as malformed */
static void expect_section_error(tmsg *t, const char *spec)
{
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err = {0};
    int rc = mime_section(t->m, t->len, t->root, spec, t->a, &b, &err);
    if (rc != SOCLE_EINVAL) print_error("section \"%s\" accepted\n", spec);
    assert_int_equal(rc, SOCLE_EINVAL);
    assert_int_equal(err.code, SOCLE_EINVAL);
    assert_int_equal(mime_section_check(spec, t->a, &err), SOCLE_EINVAL); /* without a message too */
    buf_free(&b);
}

/* expect_decode - mime_decode of p must give want[0..n) */
static void expect_decode(tmsg *t, const mime_part *p, const char *want, size_t n)
{
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err = {0};
    int rc = mime_decode(t->m, p, &b, &err);
    if (rc != 0) print_error("decode: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(b.len, n);
    if (n) assert_memory_equal(b.data, want, n);
    buf_free(&b);
}

/* decode_body - parse a one-part message with Content-Transfer-Encoding enc and body body, decode
 * it; returns the rc of mime_decode, the result in out (malloc'd by the buffer) */
static int decode_body(const char *enc, const char *body, socle_buf *out, socle_err *err)
{
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "Content-Transfer-Encoding: %s\r\n\r\n%s", enc, body);
    assert_true(n > 0 && (size_t)n < sizeof msg);
    tmsg t;
    tmsg_load(&t, msg, (size_t)n, NULL, 0, NULL);
    int rc = mime_decode(t.m, t.root, out, err);
    tmsg_free(&t);
    return rc;
}

/* ---- messages ---- */

static const char simple_msg[] = "From: Alice <alice@example.org>\r\n"
                                 "To: bob@example.net\r\n"
                                 "Subject: Hello\r\n"
                                 "\r\n"
                                 "Hi Bob,\r\n"
                                 "bye\r\n";

static const char mixed_msg[] = "From: a@b.example\r\n"
                                "Subject: zip\r\n"
                                "MIME-Version: 1.0\r\n"
                                "Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n"
                                "\r\n"
                                "preamble\r\n"
                                "--XyZ\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "\r\n"
                                "See attached.\r\n"
                                "--XyZ\r\n"
                                "Content-Type: application/zip; name=\"a.zip\"\r\n"
                                "Content-Transfer-Encoding: base64\r\n"
                                "Content-Disposition: attachment; filename=\"a.zip\"\r\n"
                                "\r\n"
                                "UEsDBAo=\r\n"
                                "--XyZ--\r\n"
                                "epilogue\r\n";

static const char nested_msg[] = "Content-Type: multipart/mixed; boundary=outer\r\n"
                                 "\r\n"
                                 "--outer\r\n"
                                 "Content-Type: multipart/alternative; boundary=inner\r\n"
                                 "\r\n"
                                 "--inner\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "\r\n"
                                 "plain\r\n"
                                 "--inner\r\n"
                                 "Content-Type: text/html\r\n"
                                 "\r\n"
                                 "<p>html</p>\r\n"
                                 "--inner--\r\n"
                                 "--outer\r\n"
                                 "Content-Type: image/png\r\n"
                                 "Content-Transfer-Encoding: base64\r\n"
                                 "Content-ID: <img1>\r\n"
                                 "\r\n"
                                 "iVBORw==\r\n"
                                 "--outer--\r\n";

static const char rfc822_msg[] = "From: Outer <outer@example.org>\r\n"
                                 "Subject: fwd\r\n"
                                 "Content-Type: multipart/mixed; boundary=b1\r\n"
                                 "\r\n"
                                 "--b1\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "\r\n"
                                 "see below\r\n"
                                 "--b1\r\n"
                                 "Content-Type: message/rfc822\r\n"
                                 "\r\n"
                                 "From: Inner <inner@example.org>\r\n"
                                 "Subject: orig\r\n"
                                 "Message-ID: <x@y>\r\n"
                                 "\r\n"
                                 "inner body\r\n"
                                 "--b1--\r\n";

/* ---- tests ---- */

static void test_simple(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, simple_msg);
    const mime_part *r = t.root;
    assert_int_equal(r->offset, 0);
    assert_int_equal(r->length, strlen(simple_msg));
    assert_int_equal(r->header_length, strlen(simple_msg) - 14);
    assert_int_equal(r->body_length, 14);
    assert_int_equal(r->body_lines, 2);
    assert_string_equal(r->type, "text");
    assert_string_equal(r->subtype, "plain");
    assert_string_equal(r->encoding, "7bit");
    assert_int_equal(r->nchildren, 0);
    assert_null(r->message);
    assert_null(r->disposition);
    /* no Content-Type: the RFC 2045 default, charset included */
    expect_bs(&t, r, 1,
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)");
    expect_bs(&t, r, 0, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2)");
    expect_env(&t, "(NIL \"Hello\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" "
                   "\"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" "
                   "\"example.net\")) NIL NIL NIL NIL)");
    expect_section(&t, "", simple_msg);
    expect_section(&t, "HEADER",
                   "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Hello\r\n\r\n");
    expect_section(&t, "TEXT", "Hi Bob,\r\nbye\r\n");
    expect_section(&t, "1", "Hi Bob,\r\nbye\r\n"); /* a non-multipart message has one part, its body */
    expect_section(&t, "1.MIME",
                   "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Hello\r\n\r\n");
    expect_section(&t, "2", "");
    expect_section(&t, "1.1", "");
    assert_string_equal(mime_header(t.m, r, "subject", t.a), "Hello");
    assert_string_equal(mime_header(t.m, r, "TO", t.a), "bob@example.net");
    assert_null(mime_header(t.m, r, "Cc", t.a));
    assert_null(mime_header(t.m, r, "Subjec", t.a));
    expect_decode(&t, r, "Hi Bob,\r\nbye\r\n", 14);
    tmsg_free(&t);
}

static void test_lf_only(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, "Subject: lf\n"
                   "Content-Type: multipart/mixed; boundary=zz\n"
                   "\n"
                   "--zz\n"
                   "\n"
                   "ab\n"
                   "cd\n"
                   "--zz\n"
                   "Content-Type: text/plain; charset=\"iso-8859-1\" (latin)\n"
                   "\n"
                   "x\n"
                   "--zz--\n");
    assert_int_equal(t.root->nchildren, 2);
    const mime_part *p1 = &t.root->children[0];
    assert_int_equal(p1->header_length, 1);
    assert_int_equal(p1->body_length, 5); /* "ab\ncd": the last LF belongs to the delimiter */
    assert_int_equal(p1->body_lines, 2);
    expect_bs(&t, t.root, 1,
              "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 2 NIL NIL NIL NIL)"
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL) "
              "\"MIXED\" (\"BOUNDARY\" \"zz\") NIL NIL NIL)");
    expect_section(&t, "1", "ab\ncd");
    expect_section(&t, "2.MIME", "Content-Type: text/plain; charset=\"iso-8859-1\" (latin)\n\n");
    expect_section(&t, "HEADER.FIELDS (SUBJECT)", "Subject: lf\n\n");
    tmsg_free(&t);
}

static void test_multipart_mixed(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, mixed_msg);
    const mime_part *r = t.root;
    assert_string_equal(r->type, "multipart");
    assert_string_equal(r->subtype, "mixed");
    assert_int_equal(r->nparams, 1);
    assert_string_equal(r->params[0].name, "boundary");
    assert_string_equal(r->params[0].value, "XyZ");
    assert_int_equal(r->nchildren, 2);
    const mime_part *p1 = &r->children[0], *p2 = &r->children[1];
    assert_string_equal(p1->params[0].value, "utf-8");
    assert_int_equal(p1->body_length, 13);
    assert_string_equal(p2->type, "application");
    assert_string_equal(p2->subtype, "zip");
    assert_string_equal(p2->encoding, "base64");
    assert_string_equal(p2->disposition, "attachment");
    assert_int_equal(p2->ndisposition_params, 1);
    assert_string_equal(p2->disposition_params[0].name, "filename");
    assert_string_equal(p2->disposition_params[0].value, "a.zip");
    assert_int_equal(p2->body_length, 8);
    assert_int_equal(p2->offset + p2->length, strlen(mixed_msg) - strlen("\r\n--XyZ--\r\nepilogue\r\n"));

    expect_bs(&t, r, 1,
              "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)"
              "(\"APPLICATION\" \"ZIP\" (\"NAME\" \"a.zip\") NIL NIL \"BASE64\" 8 NIL "
              "(\"ATTACHMENT\" (\"FILENAME\" \"a.zip\")) NIL NIL) "
              "\"MIXED\" (\"BOUNDARY\" \"XyZ\") NIL NIL NIL)");
    expect_bs(&t, r, 0,
              "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 13 1)"
              "(\"APPLICATION\" \"ZIP\" (\"NAME\" \"a.zip\") NIL NIL \"BASE64\" 8) \"MIXED\")");

    expect_section(&t, "", mixed_msg);
    expect_section(&t, "HEADER",
                   "From: a@b.example\r\nSubject: zip\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n");
    expect_section(&t, "TEXT", strstr(mixed_msg, "preamble"));
    expect_section(&t, "1", "See attached.");
    expect_section(&t, "2", "UEsDBAo=");
    expect_section(&t, "2.MIME",
                   "Content-Type: application/zip; name=\"a.zip\"\r\n"
                   "Content-Transfer-Encoding: base64\r\n"
                   "Content-Disposition: attachment; filename=\"a.zip\"\r\n\r\n");
    expect_section(&t, "1.mime", "Content-Type: text/plain; charset=utf-8\r\n\r\n");
    expect_section(&t, "HEADER.FIELDS (From Subject)", "From: a@b.example\r\nSubject: zip\r\n\r\n");
    expect_section(&t, "header.fields (subject \"FROM\")", "From: a@b.example\r\nSubject: zip\r\n\r\n");
    expect_section(&t, "HEADER.FIELDS.NOT (From Subject Content-Type)", "MIME-Version: 1.0\r\n\r\n");
    expect_section(&t, "HEADER.FIELDS (X-None)", "\r\n");
    expect_section(&t, "9", "");
    expect_section(&t, "9.MIME", "");
    expect_section(&t, "1.2", "");
    expect_section(&t, "2.HEADER", ""); /* not a message/rfc822 */

    expect_decode(&t, p2, "PK\x03\x04\x0a", 5);
    expect_decode(&t, p1, "See attached.", 13);
    tmsg_free(&t);
}

static void test_nested_alternative(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, nested_msg);
    const mime_part *r = t.root;
    assert_int_equal(r->nchildren, 2);
    const mime_part *alt = &r->children[0];
    assert_string_equal(alt->subtype, "alternative");
    assert_int_equal(alt->nchildren, 2);
    assert_string_equal(alt->children[1].subtype, "html");
    assert_string_equal(r->children[1].id, "<img1>");
    expect_bs(&t, r, 1,
              "(((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)"
              "(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) "
              "\"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") NIL NIL NIL)"
              "(\"IMAGE\" \"PNG\" NIL \"<img1>\" NIL \"BASE64\" 8 NIL NIL NIL NIL) "
              "\"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)");
    expect_bs(&t, r, 0,
              "(((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 5 1)(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1) "
              "\"ALTERNATIVE\")(\"IMAGE\" \"PNG\" NIL \"<img1>\" NIL \"BASE64\" 8) \"MIXED\")");
    expect_section(&t, "1.1", "plain");
    expect_section(&t, "1.2", "<p>html</p>");
    expect_section(&t, "1.3", "");
    expect_section(&t, "2", "iVBORw==");
    expect_section(&t, "1",
                   "--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n--inner\r\n"
                   "Content-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--");
    expect_section(&t, "1.MIME", "Content-Type: multipart/alternative; boundary=inner\r\n\r\n");
    expect_section(&t, "1.2.MIME", "Content-Type: text/html\r\n\r\n");
    tmsg_free(&t);
}

static void test_rfc822(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, rfc822_msg);
    const mime_part *r = t.root;
    assert_int_equal(r->nchildren, 2);
    const mime_part *fw = &r->children[1];
    assert_string_equal(fw->type, "message");
    assert_string_equal(fw->subtype, "rfc822");
    assert_non_null(fw->message);
    assert_int_equal(fw->body_length, 79);
    assert_int_equal(fw->body_lines, 5);
    assert_int_equal(fw->message->offset, fw->body_offset);
    assert_int_equal(fw->message->body_length, 10);
    assert_string_equal(mime_header(t.m, fw->message, "Subject", t.a), "orig");
    const char *inner_env =
        "(NIL \"orig\" ((\"Inner\" NIL \"inner\" \"example.org\")) ((\"Inner\" NIL \"inner\" "
        "\"example.org\")) ((\"Inner\" NIL \"inner\" \"example.org\")) NIL NIL NIL NIL "
        "\"<x@y>\")";
    char want[2048];
    snprintf(want, sizeof want,
             "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)"
             "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 79 %s "
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL) 5 "
             "NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)",
             inner_env);
    expect_bs(&t, r, 1, want);
    snprintf(want, sizeof want,
             "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 9 1)"
             "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 79 %s "
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 1) 5) \"MIXED\")",
             inner_env);
    expect_bs(&t, r, 0, want);
    expect_env(&t, "(NIL \"fwd\" ((\"Outer\" NIL \"outer\" \"example.org\")) ((\"Outer\" NIL \"outer\" "
                   "\"example.org\")) ((\"Outer\" NIL \"outer\" \"example.org\")) NIL NIL NIL NIL NIL)");
    expect_section(&t, "1", "see below");
    expect_section(&t, "2",
                   "From: Inner <inner@example.org>\r\nSubject: orig\r\nMessage-ID: <x@y>\r\n\r\n"
                   "inner body");
    expect_section(&t, "2.HEADER",
                   "From: Inner <inner@example.org>\r\nSubject: orig\r\nMessage-ID: <x@y>\r\n\r\n");
    expect_section(&t, "2.TEXT", "inner body");
    expect_section(&t, "2.1", "inner body");
    expect_section(&t, "2.1.MIME",
                   "From: Inner <inner@example.org>\r\nSubject: orig\r\nMessage-ID: <x@y>\r\n\r\n");
    expect_section(&t, "2.2", "");
    expect_section(&t, "2.MIME", "Content-Type: message/rfc822\r\n\r\n");
    expect_section(&t, "2.HEADER.FIELDS (Subject)", "Subject: orig\r\n\r\n");
    expect_section(&t, "2.HEADER.FIELDS.NOT (Subject From)", "Message-ID: <x@y>\r\n\r\n");
    expect_section(&t, "1.HEADER", "");
    expect_section(&t, "1.TEXT", "");
    tmsg_free(&t);
}

static void test_rfc822_nested_multipart(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, "Content-Type: message/rfc822\r\n"
                   "\r\n"
                   "Subject: in\r\n"
                   "Content-Type: multipart/mixed; boundary=k\r\n"
                   "\r\n"
                   "--k\r\n"
                   "\r\n"
                   "one\r\n"
                   "--k\r\n"
                   "Content-Type: application/pdf\r\n"
                   "\r\n"
                   "%PDF\r\n"
                   "--k--\r\n");
    /* the message itself is message/rfc822: its part 1 is that body, 1.1 and 1.2 inside */
    expect_section(&t, "1.1", "one");
    expect_section(&t, "1.2", "%PDF");
    expect_section(&t, "1.HEADER", "Subject: in\r\nContent-Type: multipart/mixed; boundary=k\r\n\r\n");
    expect_section(&t, "1.3", "");
    expect_section(&t, "2", "");
    assert_string_equal(t.root->message->children[1].subtype, "pdf");
    tmsg_free(&t);

    /* an encoded message/rfc822 is shown as an attachment */
    tmsg_parse(
        &t,
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n");
    assert_null(t.root->message);
    expect_bs(&t, t.root, 0, "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 22)");
    tmsg_free(&t);

    /* multipart/digest: parts default to message/rfc822 */
    tmsg_parse(
        &t,
        "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s1\r\n\r\nb1\r\n--d--\r\n");
    assert_string_equal(t.root->children[0].type, "message");
    assert_non_null(t.root->children[0].message);
    expect_section(&t, "1.HEADER.FIELDS (subject)", "Subject: s1\r\n\r\n");
    expect_section(&t, "1.TEXT", "b1");
    tmsg_free(&t);
}

static void test_envelope(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
                   "From: \"Dupont, Jean\" <jean.dupont@hopital.example>, Marie Curie\r\n"
                   " <marie@labo.example>\r\n"
                   "To: Equipe: a@x.example, \"B b\" <b@y.example>;, c@z.example (old style)\r\n"
                   "Cc: undisclosed-recipients:;\r\n"
                   "Subject: Le \"dossier\" urgent\r\n"
                   "Message-ID: <123@hopital.example>\r\n"
                   "In-Reply-To: <0@hopital.example>\r\n"
                   "\r\n"
                   "x\r\n");
    const char *from = "((\"Dupont, Jean\" NIL \"jean.dupont\" \"hopital.example\")"
                       "(\"Marie Curie\" NIL \"marie\" \"labo.example\"))";
    char want[2048];
    snprintf(want, sizeof want,
             "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" {19}\r\nLe \"dossier\" urgent %s %s %s "
             "((NIL NIL \"Equipe\" NIL)(NIL NIL \"a\" \"x.example\")(\"B b\" NIL \"b\" \"y.example\")"
             "(NIL NIL NIL NIL)(NIL NIL \"c\" \"z.example\")) "
             "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL \"<0@hopital.example>\" "
             "\"<123@hopital.example>\")",
             from, from, from);
    expect_env(&t, want);
    /* the folded From, unfolded */
    assert_string_equal(mime_header(t.m, t.root, "from", t.a),
                        "\"Dupont, Jean\" <jean.dupont@hopital.example>, Marie Curie <marie@labo.example>");
    tmsg_free(&t);

    /* nothing at all */
    tmsg_parse(&t, "X-Foo: bar\r\n\r\nbody\r\n");
    expect_env(&t, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    tmsg_free(&t);

    /* an unreadable From is NIL (and so are Sender and Reply-To); an empty Reply-To and a present
     * Sender; a route; a quoted local part; 8-bit names are literals; an empty subject is "" */
    tmsg_parse(&t, "From: <<broken\r\nTo: x@y.example\r\nSubject:\r\n\r\n");
    expect_env(&t, "(NIL \"\" NIL NIL NIL ((NIL NIL \"x\" \"y.example\")) NIL NIL NIL NIL)");
    tmsg_free(&t);
    tmsg_parse(&t, "From: Jos\xc3\xa9 <jose@a.example>\r\n"
                   "Sender: sec@a.example\r\n"
                   "Reply-To:  \r\n"
                   "Bcc: <@r1.example,@r2.example:\"j d\"@b.example>\r\n"
                   "\r\n");
    expect_env(&t,
               "(NIL NIL (({5}\r\nJos\xc3\xa9 NIL \"jose\" \"a.example\")) ((NIL NIL \"sec\" \"a.example\")) "
               "(({5}\r\nJos\xc3\xa9 NIL \"jose\" \"a.example\")) NIL NIL "
               "((NIL \"@r1.example,@r2.example\" {5}\r\n\"j d\" \"b.example\")) NIL NIL)");
    tmsg_free(&t);
}

static void test_bodystructure_extensions(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, "Content-Type: TEXT/Plain; CharSet=\"utf-8\"; format=flowed\r\n"
                   "Content-Transfer-Encoding: Quoted-Printable\r\n"
                   "Content-ID: <c1@x>\r\n"
                   "Content-Description: a \"quoted\" note\r\n"
                   "Content-Disposition: INLINE\r\n"
                   "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
                   "Content-Language: fr, en\r\n"
                   "Content-Location: http://example.org/n.txt\r\n"
                   "\r\n"
                   "caf=C3=A9\r\n");
    const mime_part *r = t.root;
    assert_string_equal(r->type, "text");
    assert_string_equal(r->subtype, "plain");
    assert_string_equal(r->params[0].name, "charset");
    assert_string_equal(r->encoding, "quoted-printable");
    assert_string_equal(r->disposition, "inline");
    expect_bs(&t, r, 1,
              "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\") \"<c1@x>\" "
              "{15}\r\na \"quoted\" note \"QUOTED-PRINTABLE\" 11 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
              "(\"INLINE\" NIL) (\"fr\" \"en\") \"http://example.org/n.txt\")");
    expect_decode(&t, r, "caf\xc3\xa9\r\n", 7);
    tmsg_free(&t);

    /* unknown type: application/octet-stream; unreadable Content-Type: the default; one language */
    tmsg_parse(&t, "Content-Type: weird/thing; a=1\r\nContent-Language: de\r\n\r\nzz");
    expect_bs(&t, t.root, 1,
              "(\"APPLICATION\" \"OCTET-STREAM\" (\"A\" \"1\") NIL NIL \"7BIT\" 2 NIL NIL \"de\" NIL)");
    tmsg_free(&t);
    tmsg_parse(&t, "Content-Type: garbage\r\n\r\nzz\r\n");
    expect_bs(&t, t.root, 0, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 4 1)");
    tmsg_free(&t);

    /* a message with no body and no blank line */
    tmsg_parse(&t, "Subject: only a header");
    assert_int_equal(t.root->body_length, 0);
    assert_int_equal(t.root->header_length, t.len);
    expect_bs(&t, t.root, 0, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)");
    expect_section(&t, "TEXT", "");
    expect_section(&t, "HEADER.FIELDS (Subject)", "Subject: only a header\r\n");
    tmsg_free(&t);
}

static void test_section_errors(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, mixed_msg);
    expect_section_error(&t, "0");
    expect_section_error(&t, "01");
    expect_section_error(&t, "1.");
    expect_section_error(&t, "1..2");
    expect_section_error(&t, "1x");
    expect_section_error(&t, "FOO");
    expect_section_error(&t, "MIME");
    expect_section_error(&t, "HEADERS");
    expect_section_error(&t, "HEADER.FIELDS");
    expect_section_error(&t, "HEADER.FIELDS ()");
    expect_section_error(&t, "HEADER.FIELDS (From");
    expect_section_error(&t, "HEADER.FIELDS (From) x");
    expect_section_error(&t, "HEADER.FIELDS.NOTX (From)");
    expect_section_error(&t, "1234567890");
    expect_section(&t, "text", strstr(mixed_msg, "preamble"));
    tmsg_free(&t);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("Content-Type: multipart/mixed\r\n\r\nhello\r\n", NULL, SOCLE_EINVAL,
                 "multipart without a boundary");
    expect_error("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\nhello\r\n", NULL, SOCLE_EINVAL,
                 "multipart without a boundary");
    expect_error("Content-Type: multipart/mixed; boundary=q\r\n\r\nno part here\r\n", NULL, SOCLE_EINVAL,
                 "multipart without any part");
    expect_error("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q--\r\n", NULL, SOCLE_EINVAL,
                 "multipart without any part");
    expect_error("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nnever ends\r\n", NULL,
                 SOCLE_EINVAL, "unterminated multipart");
    /* "--qq" is not a delimiter of q */
    expect_error("Content-Type: multipart/mixed; boundary=q\r\n\r\n--qq\r\n\r\nx\r\n--qq--\r\n", NULL,
                 SOCLE_EINVAL, "multipart without any part");
    expect_error("From: a@b.example\r\nThis is not a header\r\n\r\nbody\r\n", NULL, SOCLE_EINVAL,
                 "header line without a colon at line 2");
    expect_error("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nnot a header\r\n--q--\r\n", NULL,
                 SOCLE_EINVAL, "header line without a colon at line 4");
    expect_error(" folded: first\r\n\r\n", NULL, SOCLE_EINVAL, "continuation");
    expect_error(": no name\r\n\r\n", NULL, SOCLE_EINVAL, "without a name");
    expect_error("Bad Name: x\r\n\r\n", NULL, SOCLE_EINVAL, "invalid header field name");
    expect_error("Subject: a\r\nX: \x80\x01\r\n\r\n", NULL, 0, NULL);
    {
        static const char nul[] = "Subject: a\0b\r\n\r\nbody";
        tmsg t;
        tmsg_load(&t, nul, sizeof nul - 1, NULL, SOCLE_EINVAL, "NUL byte in a header");
        tmsg_free(&t);
    }
    /* a NUL in a body is fine */
    {
        static const char nul[] = "Subject: a\r\n\r\nb\0dy";
        tmsg t;
        tmsg_load(&t, nul, sizeof nul - 1, NULL, 0, NULL);
        assert_int_equal(t.root->body_length, 4);
        tmsg_free(&t);
    }
    /* an empty message is an empty text/plain */
    expect_error("", NULL, 0, NULL);
}

/* nested - a message of k multiparts each inside the previous one, a text leaf at the bottom */
static char *nested(int k)
{
    socle_buf b = SOCLE_BUF_INIT;
    buf_puts(&b, "Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
    for (int i = 0; i < k; i++) {
        buf_printf(&b, "--b%d\r\n", i);
        if (i < k - 1)
            buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n", i + 1);
        else
            buf_puts(&b, "Content-Type: text/plain\r\n\r\nleaf\r\n");
    }
    for (int i = k - 1; i >= 0; i--)
        buf_printf(&b, "--b%d--\r\n", i);
    assert_true(buf_ok(&b));
    return buf_take(&b, NULL);
}

static void test_depth(void **state)
{
    (void)state;
    char *ok = nested(16), *deep = nested(17);
    tmsg t;
    tmsg_parse(&t, ok);
    const mime_part *p = t.root;
    for (int i = 0; i < 16; i++) {
        assert_int_equal(p->nchildren, 1);
        p = &p->children[0];
    }
    assert_string_equal(p->type, "text");
    assert_int_equal(p->body_length, 4);
    expect_section(&t, "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", "leaf");
    expect_section(&t, "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", "");
    tmsg_free(&t);
    expect_error(deep, NULL, SOCLE_ETOOLARGE, "nesting deeper than 16");
    mime_limits lim = {0, 0, 2, 0};
    char *three = nested(3), *two = nested(2);
    expect_error(three, &lim, SOCLE_ETOOLARGE, "nesting deeper than 2");
    expect_error(two, &lim, 0, NULL);
    /* message/rfc822 counts as a level too */
    expect_error("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n"
                 "Content-Type: message/rfc822\r\n\r\nx\r\n",
                 &lim, SOCLE_ETOOLARGE, "nesting deeper than 2");
    free(ok);
    free(deep);
    free(three);
    free(two);
}

static void test_too_many_parts(void **state)
{
    (void)state;
    const char *five =
        "Content-Type: multipart/mixed; boundary=p\r\n\r\n"
        "--p\r\n\r\n1\r\n--p\r\n\r\n2\r\n--p\r\n\r\n3\r\n--p\r\n\r\n4\r\n--p\r\n\r\n5\r\n--p--\r\n";
    mime_limits lim = {0, 0, 0, 5};
    expect_error(five, &lim, SOCLE_ETOOLARGE, "more than 5 MIME parts");
    lim.max_parts = 6; /* the root and its five parts */
    tmsg t;
    tmsg_load(&t, five, strlen(five), &lim, 0, NULL);
    assert_int_equal(t.root->nchildren, 5);
    expect_section(&t, "5", "5");
    tmsg_free(&t);
    /* the default limit (1000) */
    socle_buf b = SOCLE_BUF_INIT;
    buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "--p\r\n\r\nx\r\n");
    buf_puts(&b, "--p--\r\n");
    expect_error(b.data, NULL, SOCLE_ETOOLARGE, "more than 1000 MIME parts");
    buf_free(&b);
}

static void test_header_limits(void **state)
{
    (void)state;
    mime_limits lim = {64, 0, 0, 0};
    expect_error("Subject: 0123456789012345678901234567890123456789\r\n"
                 "X-Other: 0123456789012345678901234567890123456789\r\n\r\nbody\r\n",
                 &lim, SOCLE_ETOOLARGE, "header block larger than 64 bytes");
    expect_error("Subject: 0123456789\r\n\r\nbody\r\n", &lim, 0, NULL);
    mime_limits line = {0, 20, 0, 0};
    expect_error("Subject: 0123456789\r\n\r\n", &line, 0, NULL);
    expect_error("Subject: 0123456789012\r\n\r\n", &line, SOCLE_ETOOLARGE,
                 "header line longer than 20 bytes");
    /* the limit applies to parts too */
    expect_error("Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\n"
                 "Content-Description: a rather long description\r\n\r\nx\r\n--p--\r\n",
                 &(mime_limits){0, 44, 0, 0}, SOCLE_ETOOLARGE, "header line longer than 44 bytes at line 4");
    /* default limit: 256 KiB of header */
    socle_buf b = SOCLE_BUF_INIT;
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "X-Field-%d: %060d\r\n", i, i);
    buf_puts(&b, "\r\nbody");
    expect_error(b.data, NULL, SOCLE_ETOOLARGE, "header block larger than 262144 bytes");
    buf_free(&b);
}

static void test_header_unfold(void **state)
{
    (void)state;
    tmsg t;
    tmsg_parse(&t, "Subject:   a\r\n \t b\r\n\tc  \r\nsubject: second\r\nX-Empty:\r\nX-Sp : v\r\n\r\n");
    assert_string_equal(mime_header(t.m, t.root, "SUBJECT", t.a), "a b c");
    assert_string_equal(mime_header(t.m, t.root, "x-empty", t.a), "");
    assert_string_equal(mime_header(t.m, t.root, "X-Sp", t.a), "v");
    expect_section(&t, "HEADER.FIELDS (Subject)",
                   "Subject:   a\r\n \t b\r\n\tc  \r\nsubject: second\r\n\r\n");
    tmsg_free(&t);
}

static void test_decode_base64(void **state)
{
    (void)state;
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err = {0};
    assert_int_equal(decode_body("base64", "SGVs\r\nbG8=\r\n", &b, &err), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "Hello", 5);
    buf_reset(&b);
    assert_int_equal(decode_body("BASE64", "SGVsbA==", &b, &err), 0);
    assert_string_equal(b.data, "Hell");
    buf_reset(&b);
    assert_int_equal(decode_body("base64", "SGVsbA", &b, &err), 0); /* padding missing */
    assert_string_equal(b.data, "Hell");
    buf_reset(&b);
    assert_int_equal(decode_body("base64", "", &b, &err), 0);
    assert_int_equal(b.len, 0);
    buf_reset(&b);
    assert_int_equal(decode_body("base64", "AAECAwQFBgcICQoLDA0ODw==", &b, &err), 0);
    assert_int_equal(b.len, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal((unsigned char)b.data[i], i);
    static const char *const bad[] = {"SGV$bG8=", "SGVsbG8=X", "S", "SGVsb", "=SGV", "SGVsbA===", "SG=V"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_reset(&b);
        memset(&err, 0, sizeof err);
        int rc = decode_body("base64", bad[i], &b, &err);
        if (rc != SOCLE_EINVAL) print_error("\"%s\" accepted\n", bad[i]);
        assert_int_equal(rc, SOCLE_EINVAL);
        assert_non_null(strstr(err.msg, "base64"));
    }
    buf_free(&b);
}

static void test_decode_qp(void **state)
{
    (void)state;
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err = {0};
    assert_int_equal(decode_body("quoted-printable", "caf=C3=A9 cr=\r\n=c3=a8me=3D1  \r\nfin", &b, &err), 0);
    assert_string_equal(b.data, "caf\xc3\xa9 cr\xc3\xa8me=1\r\nfin");
    buf_reset(&b);
    /* soft break with trailing white space, LF line ends, a lone '=' and a bad escape kept */
    assert_int_equal(decode_body("quoted-printable", "a= \nb\nx=ZZ y= z=4", &b, &err), 0);
    assert_string_equal(b.data, "ab\nx=ZZ y= z=4");
    buf_reset(&b);
    /* 7bit, 8bit, binary and unknown encodings are copied */
    assert_int_equal(decode_body("8bit", "d\xc3\xa9j\xc3\xa0\r\n", &b, &err), 0);
    assert_string_equal(b.data, "d\xc3\xa9j\xc3\xa0\r\n");
    buf_reset(&b);
    assert_int_equal(decode_body("x-uuencode", "begin", &b, &err), 0);
    assert_string_equal(b.data, "begin");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),          cmocka_unit_test(test_lf_only),
        cmocka_unit_test(test_multipart_mixed), cmocka_unit_test(test_nested_alternative),
        cmocka_unit_test(test_rfc822),          cmocka_unit_test(test_rfc822_nested_multipart),
        cmocka_unit_test(test_envelope),        cmocka_unit_test(test_bodystructure_extensions),
        cmocka_unit_test(test_section_errors),  cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth),           cmocka_unit_test(test_too_many_parts),
        cmocka_unit_test(test_header_limits),   cmocka_unit_test(test_header_unfold),
        cmocka_unit_test(test_decode_base64),   cmocka_unit_test(test_decode_qp),
    };
    return cmocka_run_group_tests_name("mss_mime", tests, NULL, NULL);
}
