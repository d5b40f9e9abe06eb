/* test_ins_generate.c - unit tests of src/svc/ins/generate.c: the synthetic INS reference base
 * (determinism, CSV shape, valid matricules consistent with sex, date and birth place, and the
 * deliberate features: Corsica, overseas, abroad, NIA-like, twins, homonyms, accents, the past NIA
 * of the ins_historique column). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "svc/ins/generate.h"
#include "svc/ins/matricule.h"

#define LINES 20000

enum { F_MAT, F_OID, F_NOM, F_PRENOMS, F_SEXE, F_DATE, F_LIEU, F_OD, F_RANG, F_HIST, NFIELDS };

typedef struct row {
    char *f[NFIELDS];
    char key[400]; /* the five traits, for the homonym check */
} row;

static char *generate(uint64_t count, uint64_t seed, size_t *len)
{
    char *data = NULL;
    FILE *f = open_memstream(&data, len);
    assert_non_null(f);
    socle_err err;
    assert_int_equal(ins_generate(f, count, seed, NULL, NULL, &err), 0);
    assert_int_equal(fclose(f), 0);
    return data;
}

/* Split one CSV line (quotes allowed) in place into at most max fields; returns the count. */
static int csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        char *w = p;
        fields[n++] = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else if (!*p) {
                    return -1;
                } else {
                    *w++ = *p++;
                }
            }
        } else {
            while (*p && *p != ',') *w++ = *p++;
        }
        if (*p == ',') {
            *w = 0;
            p++;
            continue;
        }
        *w = 0;
        return *p ? -1 : n;
    }
}

/* Parse the generated text into rows (pointing into text, which is modified). */
static row *parse(char *text, size_t *nrows)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, INS_GENERATE_HEADER);
    row *rows = calloc(LINES + 1, sizeof *rows);
    assert_non_null(rows);
    size_t n = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        assert_true(n < LINES);
        assert_int_equal(csv_split(line, rows[n].f, NFIELDS), NFIELDS);
        row *r = &rows[n];
        snprintf(r->key, sizeof r->key, "%s|%s|%s|%s|%s", r->f[F_NOM], r->f[F_PRENOMS], r->f[F_SEXE], r->f[F_DATE],
                 r->f[F_LIEU]);
        n++;
    }
    *nrows = n;
    return rows;
}

static void test_generate_deterministic(void **state)
{
    size_t la, lb, lc;
    char *a = generate(LINES, 7, &la), *b = generate(LINES, 7, &lb), *c = generate(LINES, 8, &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_false(la == lc && !memcmp(a, c, la));
    free(a);
    free(b);
    free(c);
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int cmp_key(const void *x, const void *y)
{
    const row *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : strcmp(a->f[F_MAT], b->f[F_MAT]);
}

static int two_digits(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static void test_generate_lines_valid(void **state)
{
    size_t len, n;
    char *text = generate(LINES, 7, &len);
    row *rows = parse(text, &n);
    assert_int_equal(n, LINES);
    char **mats = calloc(2 * n, sizeof *mats);
    assert_non_null(mats);
    size_t nmats = n;
    int centenarians = 0, adults = 0, children = 0, children_with_od = 0, with_past = 0;
    for (size_t i = 0; i < n; i++) {
        char **f = rows[i].f;
        socle_err err;
        const char *m = f[F_MAT];
        if (ins_matricule_check(m, &err)) fail_msg("line %zu: %s (%s)", i + 2, err.msg, m);
        mats[i] = f[F_MAT];
        assert_string_equal(f[F_OID], INS_OID_NIR_TEST);
        assert_true(*f[F_NOM]);
        assert_true(*f[F_PRENOMS]);
        assert_null(strstr(f[F_PRENOMS], "  "));
        assert_true(f[F_PRENOMS][0] != ' ' && f[F_PRENOMS][strlen(f[F_PRENOMS]) - 1] != ' ');
        /* Sex digit: 1/7 male, 2/8 female. */
        if (!strcmp(f[F_SEXE], "M")) assert_true(m[0] == '1' || m[0] == '7');
        else if (!strcmp(f[F_SEXE], "F")) assert_true(m[0] == '2' || m[0] == '8');
        else fail_msg("line %zu: sexe '%s'", i + 2, f[F_SEXE]);
        /* Date: valid, in range, and the matricule's YY MM. */
        const char *d = f[F_DATE];
        int64_t lo, hi;
        assert_int_equal(strlen(d), 10);
        assert_true(time_valid_fhir_date(d));
        assert_int_equal(time_parse_fhir(d, &lo, &hi, NULL), 0);
        int year = atoi(d);
        assert_true(year >= INS_GENERATE_FIRST_YEAR && year <= INS_GENERATE_LAST_YEAR);
        assert_int_equal(two_digits(m + 1), year % 100);
        assert_int_equal(two_digits(m + 3), two_digits(d + 5));
        /* Birth place: the matricule's characters 6-10, or empty for "99999". */
        const char *lieu = f[F_LIEU];
        if (!*lieu) assert_memory_equal(m + 5, "99999", 5);
        else {
            assert_int_equal(strlen(lieu), 5);
            assert_memory_equal(m + 5, lieu, 5);
            assert_false(!strcmp(lieu, "99999"));
        }
        if (m[0] == '7' || m[0] == '8') assert_memory_equal(m + 5, "99", 2); /* NIA-like: born abroad */
        if (lieu[0] == '2' && (lieu[1] == 'A' || lieu[1] == 'B')) assert_true(year >= 1976);
        if (lieu[0] == '2' && lieu[1] == '0') assert_true(year < 1976);
        if (!strncmp(lieu, "97", 2)) assert_true(lieu[2] >= '1' && lieu[2] <= '6');
        if (!strncmp(lieu, "976", 3)) assert_true(year >= 2012);
        /* Carte Vitale data. */
        if (*f[F_OD]) {
            if (ins_matricule_check(f[F_OD], &err)) fail_msg("line %zu: ouvrant droit: %s", i + 2, err.msg);
            assert_true(!strcmp(f[F_RANG], "1") || !strcmp(f[F_RANG], "2"));
        } else {
            assert_string_equal(f[F_RANG], "");
        }
        /* ins_historique: empty, or one earlier NIA of a person with a NIR (same month and place). */
        if (*f[F_HIST]) {
            char *h = f[F_HIST], *colon = strchr(h, ':');
            assert_non_null(colon);
            *colon = 0;
            if (ins_matricule_check(h, &err)) fail_msg("line %zu: past matricule: %s", i + 2, err.msg);
            assert_string_equal(colon + 1, INS_OID_NIR_TEST);
            assert_true(m[0] == '1' || m[0] == '2');
            assert_int_equal(h[0], m[0] == '1' ? '7' : '8');
            assert_memory_equal(h + 1, m + 1, 9);
            mats[nmats++] = h;
            with_past++;
        }
        int age = INS_GENERATE_LAST_YEAR - year;
        centenarians += age >= 100;
        adults += age >= 18;
        if (age < 16) {
            children++;
            children_with_od += *f[F_OD] && strcmp(f[F_OD], m);
        }
    }
    /* Matricules are unique. */
    qsort(mats, nmats, sizeof *mats, cmp_str);
    for (size_t i = 1; i < nmats; i++)
        if (!strcmp(mats[i - 1], mats[i])) fail_msg("duplicate matricule %s", mats[i]);
    /* A French-like pyramid: mostly adults, very few centenarians; children carry a parent. */
    assert_true(centenarians < LINES / 200);
    assert_true(adults > LINES * 7 / 10 && adults < LINES * 9 / 10);
    assert_true(children > LINES / 10);
    assert_true(children_with_od > children * 9 / 10);
    /* About 1 % of the persons with a NIR had an earlier NIA. */
    assert_true(with_past > LINES / 250 && with_past < LINES / 40);
    free(mats);
    free(rows);
    free(text);
}

static void test_generate_features(void **state)
{
    size_t len, n;
    char *text = generate(LINES, 7, &len);
    row *rows = parse(text, &n);
    int corsica_new = 0, corsica_old = 0, overseas = 0, abroad = 0, unknown = 0, nia = 0, paris = 0, accents = 0,
        apostrophes = 0, particles = 0, compound_given = 0, compound_family = 0, own_od = 0, multi_given = 0;
    for (size_t i = 0; i < n; i++) {
        char **f = rows[i].f;
        const char *lieu = f[F_LIEU];
        corsica_new += lieu[0] == '2' && (lieu[1] == 'A' || lieu[1] == 'B');
        corsica_old += !strncmp(lieu, "20", 2);
        overseas += !strncmp(lieu, "97", 2);
        abroad += !strncmp(lieu, "99", 2);
        unknown += !*lieu;
        paris += !strncmp(lieu, "751", 3);
        nia += f[F_MAT][0] == '7' || f[F_MAT][0] == '8';
        for (const char *p = f[F_NOM]; *p; p++) accents += (unsigned char)*p >= 0x80;
        for (const char *p = f[F_PRENOMS]; *p; p++) accents += (unsigned char)*p >= 0x80;
        apostrophes += strchr(f[F_NOM], '\'') != NULL;
        particles += strchr(f[F_NOM], ' ') != NULL;
        compound_family += strchr(f[F_NOM], '-') != NULL;
        compound_given += strchr(f[F_PRENOMS], '-') != NULL;
        multi_given += strchr(f[F_PRENOMS], ' ') != NULL;
        own_od += !strcmp(f[F_OD], f[F_MAT]);
    }
    assert_true(corsica_new > 0);
    assert_true(corsica_old > 0);
    assert_true(overseas > LINES / 100);
    assert_true(abroad > LINES / 20);
    assert_true(unknown > LINES / 200 && unknown < LINES / 50);
    assert_true(nia > LINES / 100 && nia < LINES / 20);
    assert_true(paris > 0);
    assert_true(accents > LINES / 10);
    assert_true(apostrophes > 0);
    assert_true(particles > 0);
    assert_true(compound_family > 0);
    assert_true(compound_given > 0);
    assert_true(multi_given > LINES / 2);
    assert_true(own_od > LINES / 2);

    /* Twins: a rank-2 line has a rank-1 sibling with the same birth date, name and ouvrant droit. */
    int twins = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].f[F_RANG], "2")) continue;
        int found = 0;
        for (size_t j = 0; j < n && !found; j++)
            found = !strcmp(rows[j].f[F_RANG], "1") && !strcmp(rows[j].f[F_OD], rows[i].f[F_OD]) &&
                    !strcmp(rows[j].f[F_DATE], rows[i].f[F_DATE]) && !strcmp(rows[j].f[F_NOM], rows[i].f[F_NOM]) &&
                    !strcmp(rows[j].f[F_LIEU], rows[i].f[F_LIEU]);
        assert_true(found);
        twins++;
    }
    assert_true(twins > LINES / 1000);

    /* Exact homonyms: same five traits, different matricules. */
    qsort(rows, n, sizeof *rows, cmp_key);
    int homonyms = 0;
    for (size_t i = 1; i < n; i++)
        homonyms += !strcmp(rows[i - 1].key, rows[i].key) && strcmp(rows[i - 1].f[F_MAT], rows[i].f[F_MAT]);
    assert_true(homonyms >= LINES / 2000);
    free(rows);
    free(text);
}

static void count_progress(uint64_t done, void *ctx)
{
    uint64_t *last = ctx;
    assert_true(done > *last);
    *last = done;
}

static void test_generate_progress_and_edges(void **state)
{
    /* Progress reaches the count; zero lines is just the header. */
    uint64_t last = 0;
    char *data = NULL;
    size_t len;
    FILE *f = open_memstream(&data, &len);
    assert_int_equal(ins_generate(f, 70000, 1, count_progress, &last, NULL), 0);
    fclose(f);
    assert_int_equal(last, 70000);
    free(data);
    data = generate(0, 1, &len);
    assert_string_equal(data, INS_GENERATE_HEADER "\n");
    free(data);
    /* A prefix of lines does not depend on what comes much later: small counts stay valid. */
    data = generate(1, 42, &len);
    assert_non_null(strchr(data, '\n'));
    free(data);
    /* Write errors are reported. */
    f = fopen("/dev/full", "w");
    if (f) {
        socle_err err;
        assert_int_equal(ins_generate(f, 50000, 1, NULL, NULL, &err), SOCLE_EIO);
        assert_non_null(strstr(err.msg, "write"));
        fclose(f);
    }
    socle_err err;
    assert_int_equal(ins_generate(stdout, INS_GENERATE_MAX_COUNT + 1, 1, NULL, NULL, &err), SOCLE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_deterministic),
        cmocka_unit_test(test_generate_lines_valid),
        cmocka_unit_test(test_generate_features),
        cmocka_unit_test(test_generate_progress_and_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
