/* test_mss.c - unit tests of the MSSanté service's small pieces of logic: the SASL OAUTHBEARER
 * and XOAUTH2 client responses (RFC 7628), addresses, mailbox kinds, bare CR and LF, the
 * trust-space file (format, reload when it changes, a missing file), the line reader of
 * net/lines.c over a socket pair (CRLF, bare LF, over-long lines, exact reads) and its writer
 * (large blocks in order), and the segment files of message bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc/mss/mss_internal.h"

static void test_sasl_oauthbearer(void **state)
{
    (void)state;
    char buf[256];
    const char *user, *token;
    const char oauth[] = "n,a=dr.a@mss.test,\001host=127.0.0.1\001port=587\001auth=Bearer abc.def.ghi\001\001";
    memcpy(buf, oauth, sizeof oauth);
    assert_int_equal(mss_sasl_oauth(buf, sizeof oauth - 1, 0, &user, &token), 0);
    assert_string_equal(user, "dr.a@mss.test");
    assert_string_equal(token, "abc.def.ghi");
    /* No authorization identity: the user comes from the token (citizens). */
    const char anon[] = "n,,\001auth=Bearer t\001\001";
    memcpy(buf, anon, sizeof anon);
    assert_int_equal(mss_sasl_oauth(buf, sizeof anon - 1, 0, &user, &token), 0);
    assert_null(user);
    assert_string_equal(token, "t");
    /* Malformed: no GS2 header, no token, an empty token, a NUL inside. */
    const char *bad[] = {"a=x,\001auth=Bearer t\001\001", "n,a=x,\001host=h\001\001", "n,a=x,\001auth=Bearer \001\001"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "%s", bad[i]);
        assert_int_equal(mss_sasl_oauth(buf, strlen(buf), 0, &user, &token), -1);
    }
    memcpy(buf, "n,a=x,\001auth=Bearer t\0u\001\001", 24);
    assert_int_equal(mss_sasl_oauth(buf, 23, 0, &user, &token), -1);
}

static void test_sasl_xoauth2(void **state)
{
    (void)state;
    char buf[128];
    const char *user, *token;
    const char x[] = "user=dr.b@mss.test\001auth=Bearer tok\001\001";
    memcpy(buf, x, sizeof x);
    assert_int_equal(mss_sasl_oauth(buf, sizeof x - 1, 1, &user, &token), 0);
    assert_string_equal(user, "dr.b@mss.test");
    assert_string_equal(token, "tok");
    const char y[] = "user=dr.b@mss.test\001\001";
    memcpy(buf, y, sizeof y);
    assert_int_equal(mss_sasl_oauth(buf, sizeof y - 1, 1, &user, &token), -1);
}

static void test_addresses(void **state)
{
    (void)state;
    char local[80], domain[260];
    assert_int_equal(mss_split_address("Dr.A@MSS.Test", local, sizeof local, domain, sizeof domain), 0);
    assert_string_equal(local, "dr.a");
    assert_string_equal(domain, "mss.test");
    const char *bad[] = {"", "nodomain", "@mss.test", "a@", "a@b@c", "a b@c", "a<b@c", "a\"@c", "a,b@c", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mss_split_address(bad[i], local, sizeof local, domain, sizeof domain), -1);
    char lower[] = "ABC@Def";
    assert_string_equal(mss_lower(lower), "abc@def");
    assert_int_equal(mss_kind_parse("per"), MSS_PER);
    assert_int_equal(mss_kind_parse("CIT"), MSS_CIT);
    assert_int_equal(mss_kind_parse("XYZ"), 0);
    assert_string_equal(mss_kind_name(MSS_ORG), "ORG");
}

/* Line ends that may go out over SMTP: CRLF only; the first bare CR or LF is found. */
static void test_bare_line_end(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        long want;
    } cases[] = {{"", -1},          {"a\r\nb\r\n", -1}, {"no line end", -1}, {"a\nb", 1},
                 {"a\rb", 1},       {"a\r\n\r", 3},     {"\n", 0},         {"a\r", 1},
                 {"ab\r\n.\r\r\n", 5}, {"x\r\n\n\r", 3}, {"\r\r\n", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(mss_bare_line_end(cases[i].msg, strlen(cases[i].msg)), cases[i].want);
}

static void test_trust_file(void **state)
{
    (void)state;
    char path[] = "/tmp/socle-test-trust-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char v1[] = "# operators\n\nmss.test\n  Peer.Example.FR  # a comment\nbad domain!\nchu.test\n";
    assert_int_equal(write(fd, v1, sizeof v1 - 1), (ssize_t)(sizeof v1 - 1));
    close(fd);
    mss_trust *t;
    socle_err err;
    assert_int_equal(mss_trust_open(path, &t, &err), 0);
    assert_true(mss_trust_has(t, "mss.test"));
    assert_true(mss_trust_has(t, "peer.example.fr"));
    assert_true(mss_trust_has(t, "PEER.EXAMPLE.FR"));
    assert_true(mss_trust_has(t, "chu.test"));
    assert_false(mss_trust_has(t, "gmail.com"));
    assert_false(mss_trust_has(t, "bad"));
    assert_false(mss_trust_has(t, NULL));
    /* A new version is read once it changed (checked at most once a second). */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("other.test\n", f);
    fclose(f);
    sleep(2);
    assert_true(mss_trust_has(t, "other.test"));
    assert_false(mss_trust_has(t, "mss.test"));
    /* Gone: the trust space is empty. */
    unlink(path);
    sleep(2);
    assert_false(mss_trust_has(t, "other.test"));
    mss_trust_free(t);
}

/* A session over one end of a socket pair, reading what the test writes on the other end. */
typedef struct lines_case {
    int fd;
    long results[8];
    char lines[8][64];
    int flags[8];
    char exact[8];
    int n;
} lines_case;

static void lines_case_session(lines_conn *c, void *ctx)
{
    lines_case *lc = ctx;
    for (lc->n = 0; lc->n < 5; lc->n++) {
        lc->results[lc->n] = lines_read_line(c, lc->lines[lc->n], sizeof lc->lines[0], &lc->flags[lc->n]);
        if (lc->results[lc->n] == LINES_EOF) break;
    }
    if (lc->n == 5) lines_read_bytes(c, lc->exact, 5);
    lines_printf(c, "bye %d\r\n", lc->n);
}

static void test_lines_reader(void **state)
{
    (void)state;
    lines_case lc = {0};
    lines_server *srv;
    socle_err err;
    lines_options o = {.listen = "127.0.0.1:0", .name = "test", .idle_timeout_s = 5};
    assert_int_equal(lines_server_start(&o, lines_case_session, &lc, &srv, &err), 0);
    int port = lines_server_port(srv);
    assert_true(port > 0);
    lines_conn *c;
    assert_int_equal(lines_connect("127.0.0.1", port, NULL, 5, &c, &err), 0);
    char longline[200];
    memset(longline, 'x', sizeof longline);
    lines_write(c, "hello\r\n", 7);
    lines_write(c, "bare\n", 5);
    lines_write(c, longline, sizeof longline);
    lines_write(c, "\r\n", 2);
    lines_write(c, "\r\n", 2);
    lines_write(c, "after\r\n12345", 13);
    assert_int_equal(lines_flush(c), 0);
    char reply[64];
    assert_true(lines_read_line(c, reply, sizeof reply, NULL) > 0);
    assert_string_equal(reply, "bye 5");
    lines_close(c);
    lines_server_stop(srv);
    assert_int_equal(lc.results[0], 5);
    assert_string_equal(lc.lines[0], "hello");
    assert_int_equal(lc.flags[0], 0);
    assert_int_equal(lc.results[1], 4);
    assert_int_equal(lc.flags[1], LINES_BARE_LF);
    assert_int_equal(lc.results[2], LINES_TOO_LONG);
    assert_int_equal(lc.results[3], 0);
    assert_string_equal(lc.lines[4], "after");
    assert_memory_equal(lc.exact, "12345", 5);
}

/* A session writing small pieces around a large block (which lines_write sends from the caller's
 * memory, not through its buffer): the peer reads them all, in order. The test checks the order
 * and the bytes, not where the block was sent from. */
#define LINES_BIG (1 << 20)
static void lines_writer_session(lines_conn *c, void *ctx)
{
    const char *big = ctx;
    lines_write(c, "head:", 5);
    lines_write(c, big, LINES_BIG);
    lines_printf(c, ":tail\r\n");
    lines_write(c, big, 70000);
    lines_flush(c);
}

static void test_lines_writer(void **state)
{
    (void)state;
    char *big = malloc(LINES_BIG), *got = malloc(LINES_BIG + 70000 + 12);
    assert_non_null(big);
    assert_non_null(got);
    for (size_t i = 0; i < LINES_BIG; i++) big[i] = (char)('a' + i % 23);
    lines_server *srv;
    socle_err err;
    lines_options o = {.listen = "127.0.0.1:0", .name = "test", .idle_timeout_s = 5};
    assert_int_equal(lines_server_start(&o, lines_writer_session, big, &srv, &err), 0);
    lines_conn *c;
    assert_int_equal(lines_connect("127.0.0.1", lines_server_port(srv), NULL, 5, &c, &err), 0);
    assert_int_equal(lines_read_bytes(c, got, LINES_BIG + 70000 + 12), 0);
    assert_memory_equal(got, "head:", 5);
    assert_memory_equal(got + 5, big, LINES_BIG);
    assert_memory_equal(got + 5 + LINES_BIG, ":tail\r\n", 7);
    assert_memory_equal(got + 12 + LINES_BIG, big, 70000);
    lines_close(c);
    lines_server_stop(srv);
    free(big);
    free(got);
}

/* Segment files: bodies read back as written; a store opened again appends after what is there
 * (never over it), and a missing range reads as an error, not as zeros. */
static void test_segments(void **state)
{
    (void)state;
    char dir[64] = "/tmp/socle-seg-XXXXXX", sub[96];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/mss-bodies", dir);
    socle_err err = {0};
    mss_segments *g;
    assert_int_equal(mss_segments_open(sub, &g, &err), 0);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    const char *bodies[] = {"first message\r\n", "a second, longer message\r\n", "third\r\n"};
    mss_body_ref refs[4];
    for (int i = 0; i < 3; i++)
        assert_int_equal(mss_segment_append(g, bodies[i], strlen(bodies[i]), &refs[i], &err), 0);
    assert_int_equal(refs[1].offset, refs[0].offset + (int64_t)strlen(bodies[0]));
    mss_segments_close(g);
    assert_int_equal(mss_segments_open(sub, &g, &err), 0);
    assert_int_equal(mss_segment_append(g, "fourth\r\n", 8, &refs[3], &err), 0);
    assert_int_equal(refs[3].file, refs[2].file);
    assert_int_equal(refs[3].offset, refs[2].offset + (int64_t)strlen(bodies[2]));
    char out[64];
    for (int i = 0; i < 3; i++) {
        memset(out, 0, sizeof out);
        assert_int_equal(mss_segment_read(g, &refs[i], out, &err), 0);
        assert_string_equal(out, bodies[i]);
    }
    mss_body_ref beyond = {refs[3].file, refs[3].offset + 8, 10};
    assert_int_not_equal(mss_segment_read(g, &beyond, out, &err), 0);
    mss_body_ref nofile = {refs[3].file + 5, 0, 4};
    assert_int_not_equal(mss_segment_read(g, &nofile, out, &err), 0);
    mss_segments_close(g);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sasl_oauthbearer), cmocka_unit_test(test_sasl_xoauth2),
        cmocka_unit_test(test_addresses),        cmocka_unit_test(test_bare_line_end),
        cmocka_unit_test(test_trust_file),
        cmocka_unit_test(test_lines_reader),     cmocka_unit_test(test_lines_writer),
        cmocka_unit_test(test_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
