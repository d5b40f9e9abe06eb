/* test_base.c - unit tests of src/base: buffers, arenas, text folding, FHIR dates, ids, config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"
#include "base/ids.h"
#include "base/text.h"
#include "base/timeutil.h"

static void test_buf_json_escapes(void **state)
{
    socle_buf b = SOCLE_BUF_INIT;
    buf_json_string(&b, "a\"b\\c\n\x01é");
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001é\"");
    buf_reset(&b);
    buf_printf(&b, "%d-%s", 42, "x");
    for (int i = 0; i < 1000; i++) buf_puts(&b, "0123456789");
    assert_int_equal(b.len, 4 + 10000);
    assert_true(buf_ok(&b));
    size_t len;
    char *p = buf_take(&b, &len);
    assert_int_equal(len, 10004);
    assert_null(b.data);
    free(p);
    buf_free(&b);
}

/* The escaper copies eight plain bytes at a time: each byte that needs an escape is found at every
 * place of a word and of the tail, next to UTF-8 bytes (0x80 and up, never escaped). */
static void test_buf_json_escapes_in_words(void **state)
{
    const char specials[] = {'"', '\\', '\n', 0x01, 0x1f};
    const char *escaped[] = {"\\\"", "\\\\", "\\n", "\\u0001", "\\u001f"};
    for (size_t k = 0; k < sizeof specials; k++)
        for (int at = 0; at < 21; at++) {
            char s[21], want[64];
            for (int i = 0; i < 21; i++) s[i] = i % 3 ? 'a' + i : (char)0xc3; /* 0xc3 0x.. pairs */
            for (int i = 0; i < 21; i++) if (i % 3 == 1) s[i] = (char)0xa9;
            s[at] = specials[k];
            assert_int_equal(text_json_plain_span(s, sizeof s), at);
            socle_buf b = SOCLE_BUF_INIT;
            buf_json_stringn(&b, s, sizeof s);
            int n = snprintf(want, sizeof want, "\"%.*s%s%.*s\"", at, s, escaped[k], 20 - at, s + at + 1);
            assert_int_equal(b.len, (size_t)n);
            assert_memory_equal(b.data, want, (size_t)n);
            buf_free(&b);
        }
    /* 0x20 and 0x7f are plain; a 0x20 right after a borrow-prone 0x00 is still found */
    socle_buf b = SOCLE_BUF_INIT;
    buf_json_stringn(&b, " \x7f\x00 ~!#[]}{ \x7f", 13);
    assert_memory_equal(b.data, "\" \x7f\\u0000 ~!#[]}{ \x7f\"", 20);
    buf_free(&b);
}

static void test_arena(void **state)
{
    arena *a = arena_new(64);
    char *s = arena_strdup(a, "hello");
    void *big = arena_alloc(a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    assert_string_equal(s, "hello");
    assert_string_equal(arena_printf(a, "%s-%d", "n", 7), "n-7");
    assert_int_equal((uintptr_t)arena_alloc(a, 3) % 16, 0);
    arena_reset(a);
    assert_int_equal(arena_bytes(a), 0);
    assert_non_null(arena_alloc(a, 10));
    arena_free(a);
}

static void fold_is(const char *in, const char *expected)
{
    socle_buf b = SOCLE_BUF_INIT;
    text_fold(&b, in, strlen(in));
    assert_string_equal(b.data ? b.data : "", expected);
    buf_free(&b);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* text_hash: every length from 0 to 24 counts (the word loop and the tail), the split between
 * chained strings counts, and 200,000 SQL-like strings neither collide nor crowd the low bits that
 * hash tables take for a slot. */
static void test_text_hash(void **state)
{
    assert_int_not_equal(text_hash(TEXT_HASH_START, "abc"), text_hash(TEXT_HASH_START, "abd"));
    assert_int_not_equal(text_hash(text_hash(TEXT_HASH_START, "ab"), "c"),
                         text_hash(text_hash(TEXT_HASH_START, "a"), "bc"));
    assert_int_equal(text_hash(text_hash(TEXT_HASH_START, "ab"), "c"),
                     text_hash(text_hash(TEXT_HASH_START, "ab"), "c"));
    char s[32] = "";
    uint64_t seen[25];
    for (int n = 0; n <= 24; n++) {
        s[n] = 0;
        seen[n] = text_hash(TEXT_HASH_START, s);
        for (int m = 0; m < n; m++) assert_int_not_equal(seen[m], seen[n]);
        s[n] = 'x';
    }
    enum { N = 200000, SLOTS = 1024 };
    uint64_t *h = malloc(N * sizeof *h);
    int *slot = calloc(SLOTS, sizeof *slot);
    assert_non_null(h);
    assert_non_null(slot);
    for (int i = 0; i < N; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT body FROM fhir_resource WHERE type = $1 AND id = 'p%d'", i);
        h[i] = text_hash(TEXT_HASH_START, sql);
        slot[h[i] & (SLOTS - 1)]++;
    }
    for (int i = 0; i < SLOTS; i++) assert_in_range(slot[i], N / SLOTS / 2, N / SLOTS * 2);
    qsort(h, N, sizeof *h, compare_u64);
    for (int i = 1; i < N; i++) assert_true(h[i] != h[i - 1]);
    /* Strings that differ only in their last two characters, at every length modulo 8, spread as
     * well: the tail of the last word must reach the low bits too. */
    for (int len = 8; len < 16; len++) {
        memset(slot, 0, SLOTS * sizeof *slot);
        char id[24];
        memset(id, '3', sizeof id);
        id[len] = 0;
        for (int i = 0; i < 100 * SLOTS; i++) {
            id[len - 2] = (char)(' ' + i / 95 % 95);
            id[len - 1] = (char)(' ' + i % 95);
            id[len - 3] = (char)('a' + i / (95 * 95));
            slot[text_hash(TEXT_HASH_START, id) & (SLOTS - 1)]++;
        }
        for (int i = 0; i < SLOTS; i++) assert_in_range(slot[i], 100 / 3, 100 * 3);
    }
    free(h);
    free(slot);
}

static void test_text_fold(void **state)
{
    fold_is("Hélène", "helene");
    fold_is("LE GOFF", "le goff");
    fold_is("Le-Goff", "le goff");
    fold_is("N'Guyen", "n guyen");
    fold_is("  Œdipe  Straße ", "oedipe strasse");
    fold_is("ÇA", "ca");
    fold_is("日本", "日本");
    assert_true(text_utf8_valid("héllo", 6));
    assert_false(text_utf8_valid("\xc3", 1));
    assert_false(text_utf8_valid("a\0b", 3));
    assert_false(text_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    /* a NUL, a stray continuation byte or a cut sequence anywhere in a long ASCII run (read eight
     * bytes at a time); a valid sequence anywhere is fine */
    for (int at = 0; at < 40; at++) {
        char run[41];
        memset(run, 'x', 40);
        run[40] = 0;
        run[at] = 0;
        assert_false(text_utf8_valid(run, 40));
        run[at] = (char)0x80;
        assert_false(text_utf8_valid(run, 40));
        run[at] = (char)0xc3;
        assert_int_equal(text_utf8_valid(run, 40), 0);
        if (at < 39) {
            run[at + 1] = (char)0xa9;
            assert_true(text_utf8_valid(run, 40));
        }
    }
    char s[] = "a%7Cb+c%2";
    assert_int_equal(text_url_decode(s, strlen(s)), -1);
    char t[] = "a%7Cb+c";
    assert_int_equal(text_url_decode(t, strlen(t)), 5);
    assert_string_equal(t, "a|b c");
    assert_true(text_equal_nocase("Lenient", "LENIENT"));
}

static void test_time_parse(void **state)
{
    int64_t lo, hi;
    assert_int_equal(time_parse_fhir("1970", &lo, &hi, NULL), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 365LL * 86400000 - 1);
    assert_int_equal(time_parse_fhir("2024-02", &lo, &hi, NULL), 0);
    assert_int_equal(hi - lo + 1, 29LL * 86400000);
    assert_int_equal(time_parse_fhir("2024-02-29", &lo, &hi, NULL), 0);
    assert_int_equal(hi - lo + 1, 86400000);
    assert_int_equal(time_parse_fhir("1970-01-01T01:00:00+01:00", &lo, &hi, NULL), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 999);
    assert_int_equal(time_parse_fhir("1970-01-01T00:00:00.5Z", &lo, &hi, NULL), 0);
    /* R4 allows any number of fraction digits; the milliseconds are the first three. */
    int64_t lo2, hi2;
    assert_int_equal(time_parse_fhir("1970-01-01T00:00:00.1234567891Z", &lo2, &hi2, NULL), 0);
    assert_int_equal(lo2, 123);
    assert_int_equal(lo, 500);
    assert_int_equal(time_parse_fhir("1969-12-31", &lo, &hi, NULL), 0);
    assert_int_equal(lo, -86400000);
    socle_err err;
    assert_int_equal(time_parse_fhir("2023-02-29", &lo, &hi, &err), SOCLE_EINVAL);
    assert_int_equal(time_parse_fhir("2023-13", &lo, &hi, NULL), SOCLE_EINVAL);
    assert_int_equal(time_parse_fhir("2023-01-01T10:00Z", &lo, &hi, NULL), SOCLE_EINVAL);
    assert_int_equal(time_parse_fhir("2023-01-01T10:00:00", &lo, &hi, NULL), SOCLE_EINVAL);
    assert_int_equal(time_parse_fhir("20230101", &lo, &hi, NULL), SOCLE_EINVAL);
    assert_int_equal(time_parse_fhir("", &lo, &hi, NULL), SOCLE_EINVAL);
    assert_int_equal(time_parse_fhir("abcd", &lo, &hi, NULL), SOCLE_EINVAL);
    assert_true(time_valid_fhir_date("2000-01-01"));
    assert_false(time_valid_fhir_date("2000-01-01T00:00:00Z"));
    char out[32];
    assert_string_equal(time_format_instant(1500, out), "1970-01-01T00:00:01.500Z");
    assert_string_equal(time_format_instant(-1, out), "1969-12-31T23:59:59.999Z");
    assert_string_equal(time_format_http(0, out), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_string_equal(time_format_http(1795485288999, out), "Tue, 24 Nov 2026 01:54:48 GMT");
    /* Against strftime in the C locale, one instant every 9 days and 7 seconds from 1900 to 2200. */
    for (int64_t s = -2208988800LL; s < 7258118400LL; s += 9 * 86400 + 7) {
        char want[40];
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        assert_string_equal(time_format_http(s * 1000, out), want);
    }
    char small[6];
    assert_int_equal(text_copy(small, sizeof small, "abc"), 3);
    assert_string_equal(small, "abc");
    assert_int_equal(text_copy(small, sizeof small, "abcdefgh"), 5);
    assert_string_equal(small, "abcde");
    char digits[24];
    assert_int_equal(text_decimal(INT64_MIN, digits), 20);
    assert_memory_equal(digits, "-9223372036854775808", 20);
    assert_int_equal(text_decimal(0, digits), 1);
    assert_int_equal(digits[0], '0');
}

/* time_deadline: ms from now, nanoseconds carried into seconds. */
static void test_time_deadline(void **state)
{
    for (int64_t ms = 0; ms < 3000; ms += 333) {
        struct timespec before;
        clock_gettime(CLOCK_MONOTONIC, &before);
        struct timespec d = time_deadline(CLOCK_MONOTONIC, ms);
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        int64_t gap = ((int64_t)d.tv_sec - before.tv_sec) * 1000000000 + (d.tv_nsec - before.tv_nsec);
        assert_true(gap >= ms * 1000000);
        assert_true(gap < ms * 1000000 + 60000000000LL); /* the clock read once more in between */
    }
}

static void test_ids(void **state)
{
    char a[37], b[37];
    id_uuid(a);
    id_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(id_fhir_valid(a));
    /* Resource ids: version 7, variant 10, the first 48 bits the Unix time in milliseconds (so
     * they sort by creation), the rest random. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long ms_before = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    char r1[37], r2[37];
    id_resource(r1);
    id_resource(r2);
    assert_int_equal(strlen(r1), 36);
    assert_true(id_fhir_valid(r1));
    assert_int_equal(r1[14], '7');
    assert_non_null(strchr("89ab", r1[19]));
    assert_string_not_equal(r1, r2);
    char hex[13];
    memcpy(hex, r1, 8);
    memcpy(hex + 8, r1 + 9, 4);
    hex[12] = 0;
    long long ms = strtoll(hex, NULL, 16);
    assert_true(ms >= ms_before && ms < ms_before + 60000);
    char earlier[37] = "00000000-0000-7000-8000-000000000000";
    assert_true(strcmp(earlier, r1) < 0);
    usleep(2000);
    id_resource(r2);
    assert_true(strcmp(r1, r2) < 0);
    assert_true(id_fhir_valid("Patient.1-a"));
    assert_false(id_fhir_valid(""));
    assert_false(id_fhir_valid("a/b"));
    assert_false(id_fhir_valid("a b"));
    char long_id[70];
    memset(long_id, 'a', 65);
    long_id[65] = 0;
    assert_false(id_fhir_valid(long_id));
    long_id[64] = 0;
    assert_true(id_fhir_valid(long_id));
    /* Request ids: 16 hex characters, all different across several refills of the pool. */
    enum { N = 2000 };
    static char ids[N][17];
    for (int i = 0; i < N; i++) {
        id_request(ids[i]);
        assert_int_equal(strlen(ids[i]), 16);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 16);
    }
    qsort(ids, N, sizeof ids[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    /* Forked children do not repeat their parent's next ids (nor each other's). */
    char theirs[2][17] = {{0}}, mine[17];
    for (int i = 0; i < 2; i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char id[17];
            id_request(id);
            _exit(write(fds[1], id, 17) == 17 ? 0 : 1);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], theirs[i], 17), 17);
        close(fds[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
    }
    id_request(mine);
    assert_string_not_equal(theirs[0], theirs[1]);
    assert_string_not_equal(theirs[0], mine);
    assert_string_not_equal(theirs[1], mine);
}

static void test_err_mapping(void **state)
{
    socle_err err;
    assert_int_equal(socle_err_set(&err, SOCLE_EGONE, "gone %d", 1), SOCLE_EGONE);
    assert_string_equal(err.msg, "gone 1");
    /* a message that quotes the record's own, as callers add context */
    socle_err_at(&err, SOCLE_EINVAL, "Binary.data", "the CDA document: %s (%s)", err.msg, err.msg);
    assert_string_equal(err.msg, "the CDA document: gone 1 (gone 1)");
    assert_string_equal(err.where, "Binary.data");
    socle_err_at(&err, SOCLE_EINVAL, err.where, "at %s", err.where);
    assert_string_equal(err.msg, "at Binary.data");
    assert_string_equal(err.where, "Binary.data");
    assert_int_equal(socle_err_http_status(SOCLE_EGONE), 410);
    assert_int_equal(socle_err_http_status(SOCLE_EPRECONDITION), 412);
    assert_int_equal(socle_err_http_status(-999), 500);
    assert_string_equal(socle_err_fhir_code(SOCLE_ENOTFOUND), "not-found");
    assert_int_equal(socle_err_set(NULL, SOCLE_EINVAL, "x"), SOCLE_EINVAL);
}

static void test_config_precedence(void **state)
{
    char dir[] = "/tmp/socle-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/socle.conf", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nlisten = 127.0.0.1:9000\nthreads = 3\nmax_body_bytes = 100\n");
    fclose(f);
    setenv("SOCLE_THREADS", "5", 1);
    char *argv[] = {"--config", path, "--max-body-bytes", "200", "--data", dir, "--sub", "x"};
    socle_config *c;
    socle_err err;
    assert_int_equal(config_load(&c, NULL, 8, argv, "sub", &err), 0);
    assert_string_equal(config_get(c, "listen"), "127.0.0.1:9000");
    assert_string_equal(config_source(c, "listen"), "file");
    assert_int_equal(config_get_int(c, "threads", 0), 5);
    assert_string_equal(config_source(c, "threads"), "env");
    assert_int_equal(config_get_int(c, "max_body_bytes", 0), 200);
    assert_string_equal(config_extra(c, "sub"), "x");
    char expected_db[300];
    snprintf(expected_db, sizeof expected_db, "sqlite:%s/socle.db", dir);
    assert_string_equal(config_get(c, "db"), expected_db);
    config_free(c);
    unsetenv("SOCLE_THREADS");

    char *bad1[] = {"--threads", "-3"};
    assert_int_equal(config_load(&c, path, 2, bad1, NULL, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "threads"));
    char *bad2[] = {"--no-such-key", "1"};
    assert_int_equal(config_load(&c, path, 2, bad2, NULL, &err), SOCLE_EINVAL);
    char *bad3[] = {"--sqlite-synchronous", "SOMETIMES"};
    assert_int_equal(config_load(&c, path, 2, bad3, NULL, &err), SOCLE_EINVAL);
    char *bad4[] = {"--tls-cert", "/x.pem"};
    assert_int_equal(config_load(&c, path, 2, bad4, NULL, &err), SOCLE_EINVAL);

    /* A password in the db URL never shows in the printed configuration. */
    char *pw[] = {"--db", "postgres://user:s3cret@db.example/socle"};
    assert_int_equal(config_load(&c, path, 2, pw, NULL, &err), 0);
    char *out = NULL;
    size_t outlen = 0;
    FILE *m = open_memstream(&out, &outlen);
    config_print(c, m);
    fclose(m);
    assert_null(strstr(out, "s3cret"));
    assert_non_null(strstr(out, "postgres://user:****@db.example/socle"));
    free(out);
    config_free(c);

    f = fopen(path, "w");
    fprintf(f, "listen 127.0.0.1:1\n");
    fclose(f);
    assert_int_equal(config_load(&c, path, 0, NULL, NULL, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "line 1"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_json_escapes), cmocka_unit_test(test_buf_json_escapes_in_words), cmocka_unit_test(test_arena),  cmocka_unit_test(test_text_fold), cmocka_unit_test(test_text_hash),
        cmocka_unit_test(test_time_parse),       cmocka_unit_test(test_time_deadline),       cmocka_unit_test(test_ids),    cmocka_unit_test(test_err_mapping),
        cmocka_unit_test(test_config_precedence),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
