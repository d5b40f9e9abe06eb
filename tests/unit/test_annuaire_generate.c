/* test_annuaire_generate.c - unit tests of src/svc/annuaire/generate.c: the synthetic directory
 * extracts written into a temporary directory for 2,000 professionals (determinism, headers and
 * column counts 52/31/32, trailing `|`, valid RPPS/ADELI/SIRET/FINESS keys, at least one activity
 * per professional, unique well-formed mailboxes, a plausible distribution of professions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "svc/annuaire/generate.h"
#include "svc/annuaire/keys.h"

#define COUNT 2000

/* PS columns used below (0-based). */
enum {
    PS_TYPE = 0, PS_ID = 1, PS_IDNAT = 2, PS_NOM = 7, PS_PRENOM = 8, PS_PROF = 9, PS_SF_CODE = 15, PS_MODE = 17,
    PS_SIRET = 19, PS_FINESS = 21, PS_FINESS_EJ = 22, PS_SECTOR = 48,
};
/* MSSanté columns. */
enum { MSS_TYPE = 0, MSS_ADDR = 1, MSS_PPTYPE = 2, MSS_PP = 3, MSS_PPNAT = 4, MSS_STTYPE = 5, MSS_ST = 6 };
/* FINESS columns. */
enum { FIN_ET = 1, FIN_EJ = 2, FIN_SIRET = 22 };

static char *read_all(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static void remove_dir(const char *dir)
{
    const char *names[] = {ANNUAIRE_GEN_PS_FILE, ANNUAIRE_GEN_MSS_FILE, ANNUAIRE_GEN_FINESS_FILE};
    char path[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void generate_into(char *dir, uint64_t seed)
{
    strcpy(dir, "/tmp/socle-annuaire-XXXXXX");
    assert_non_null(mkdtemp(dir));
    socle_err err;
    annuaire_gen_stats st;
    int rc = annuaire_generate(dir, COUNT, seed, NULL, NULL, &st, &err);
    if (rc) fail_msg("annuaire_generate: %s", err.msg);
    assert_int_equal(st.professionals, COUNT);
    assert_true(st.activity_lines >= COUNT);
}

/* Split a line in place on sep into at most max fields; returns the number of fields. */
static int split(char *line, char sep, char **f, int max)
{
    int n = 0;
    for (;;) {
        if (n == max) return max + 1;
        f[n++] = line;
        char *p = strchr(line, sep);
        if (!p) return n;
        *p = 0;
        line = p + 1;
    }
}

static void test_deterministic(void **state)
{
    char a[64], b[64], c[64];
    generate_into(a, 7);
    generate_into(b, 7);
    generate_into(c, 8);
    const char *names[] = {ANNUAIRE_GEN_PS_FILE, ANNUAIRE_GEN_MSS_FILE, ANNUAIRE_GEN_FINESS_FILE};
    for (int i = 0; i < 3; i++) {
        size_t la, lb, lc;
        char *x = read_all(a, names[i], &la), *y = read_all(b, names[i], &lb), *z = read_all(c, names[i], &lc);
        assert_int_equal(la, lb);
        assert_memory_equal(x, y, la);
        assert_false(la == lc && !memcmp(x, z, la));
        free(x);
        free(y);
        free(z);
    }
    remove_dir(a);
    remove_dir(b);
    remove_dir(c);
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* A line ends with `|`, and splitting it gives columns + 1 fields (the last one empty). */
static void check_pipe_line(char *line, int columns, char **f, size_t lineno)
{
    size_t n = strlen(line);
    if (n == 0 || line[n - 1] != '|') fail_msg("line %zu does not end with |", lineno);
    int nf = split(line, '|', f, 64);
    if (nf != columns + 1) fail_msg("line %zu: %d fields, expected %d", lineno, nf - 1, columns);
}

static void test_files_valid(void **state)
{
    char dir[64];
    generate_into(dir, 42);
    socle_err err;
    char *f[64];

    /* --- PS_LibreAcces_Personne_activite --- */
    char *ps = read_all(dir, ANNUAIRE_GEN_PS_FILE, NULL), *save = NULL;
    char *line = strtok_r(ps, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, ANNUAIRE_PS_HEADER);
    {
        char hdr[sizeof ANNUAIRE_PS_HEADER];
        strcpy(hdr, line);
        check_pipe_line(hdr, ANNUAIRE_PS_COLUMNS, f, 1);
        assert_string_equal(f[0], "Type d'identifiant PP");
        assert_string_equal(f[51], "Libellé section tableau pharmaciens");
    }
    char **ids = calloc(COUNT * 4, sizeof *ids);
    assert_non_null(ids);
    size_t nlines = 0, lineno = 1;
    int prof_lines[100] = {0};
    while ((line = strtok_r(NULL, "\n", &save))) {
        lineno++;
        check_pipe_line(line, ANNUAIRE_PS_COLUMNS, f, lineno);
        assert_true(nlines < COUNT * 4);
        ids[nlines++] = f[PS_ID];
        if (!strcmp(f[PS_TYPE], "8")) {
            if (annuaire_rpps_check(f[PS_ID], ANNUAIRE_KEY_DEFAULT, &err)) fail_msg("line %zu: %s", lineno, err.msg);
        } else if (!strcmp(f[PS_TYPE], "0")) {
            if (annuaire_adeli_check(f[PS_ID], ANNUAIRE_KEY_ADELI, &err)) fail_msg("line %zu: %s", lineno, err.msg);
        } else fail_msg("line %zu: identifier type '%s'", lineno, f[PS_TYPE]);
        char idnat[32], num[32];
        int type;
        snprintf(idnat, sizeof idnat, "%s%s", f[PS_TYPE], f[PS_ID]);
        assert_string_equal(f[PS_IDNAT], idnat);
        assert_int_equal(annuaire_idnps_parse(f[PS_IDNAT], &type, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), 0);
        assert_true(*f[PS_NOM] && *f[PS_PRENOM]);
        assert_true(!strcmp(f[PS_MODE], "L") || !strcmp(f[PS_MODE], "S") || !strcmp(f[PS_MODE], "B"));
        if (*f[PS_SIRET] && annuaire_siret_check(f[PS_SIRET], &err)) fail_msg("line %zu: %s", lineno, err.msg);
        if (*f[PS_FINESS] && annuaire_finess_check(f[PS_FINESS], ANNUAIRE_KEY_DEFAULT, &err))
            fail_msg("line %zu: %s", lineno, err.msg);
        if (*f[PS_FINESS_EJ] && annuaire_finess_check(f[PS_FINESS_EJ], ANNUAIRE_KEY_DEFAULT, &err))
            fail_msg("line %zu: %s", lineno, err.msg);
        assert_true(*f[PS_SIRET] || *f[PS_FINESS]); /* every activity is at a structure */
        assert_int_equal(strncmp(f[PS_SECTOR], "SA", 2), 0);
        int prof = atoi(f[PS_PROF]);
        assert_true(prof > 0 && prof < 100);
        /* médecins have an SMxx savoir-faire, the others none */
        if (prof == 10) assert_int_equal(strncmp(f[PS_SF_CODE], "SM", 2), 0);
        else assert_string_equal(f[PS_SF_CODE], "");
        prof_lines[prof]++;
    }
    /* One professional per distinct identifier; each has at least one line, and all COUNT do. */
    qsort(ids, nlines, sizeof *ids, cmp_str);
    size_t distinct = 0;
    for (size_t i = 0; i < nlines; i++)
        if (i == 0 || strcmp(ids[i], ids[i - 1])) distinct++;
    assert_int_equal(distinct, COUNT);
    assert_true(nlines > COUNT && nlines < COUNT * 2);
    /* Professions: médecins the most common, a plausible share, many professions present. */
    int kinds = 0, top = 0;
    for (int p = 0; p < 100; p++) {
        if (prof_lines[p]) kinds++;
        if (prof_lines[p] > prof_lines[top]) top = p;
    }
    assert_int_equal(top, 10);
    assert_true(prof_lines[10] > (int)nlines / 5 && prof_lines[10] < (int)nlines / 2);
    assert_true(prof_lines[60] > (int)nlines / 10);
    assert_true(prof_lines[21] > 0 && prof_lines[40] > 0 && prof_lines[50] > 0 && prof_lines[70] > 0);
    assert_true(kinds >= 12);

    /* --- Extraction_Correspondance_MSSante --- */
    char *mss = read_all(dir, ANNUAIRE_GEN_MSS_FILE, NULL);
    save = NULL;
    line = strtok_r(mss, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, ANNUAIRE_MSS_HEADER);
    {
        char hdr[sizeof ANNUAIRE_MSS_HEADER];
        strcpy(hdr, line);
        check_pipe_line(hdr, ANNUAIRE_MSS_COLUMNS, f, 1);
        assert_string_equal(f[30], "Pays structure BAL");
    }
    char **addrs = calloc(COUNT * 4, sizeof *addrs);
    assert_non_null(addrs);
    size_t naddr = 0, nper = 0, norg = 0;
    lineno = 1;
    while ((line = strtok_r(NULL, "\n", &save))) {
        lineno++;
        check_pipe_line(line, ANNUAIRE_MSS_COLUMNS, f, lineno);
        const char *a = f[MSS_ADDR], *at = strchr(a, '@');
        if (!at || at == a || strchr(at + 1, '@')) fail_msg("line %zu: malformed mailbox", lineno);
        for (const char *p = a; p < at; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
                fail_msg("line %zu: bad character in the mailbox's local part", lineno);
        const char *suffix = "." ANNUAIRE_GEN_MSS_DOMAIN;
        size_t la = strlen(a), ls = strlen(suffix);
        if (la <= ls || strcmp(a + la - ls, suffix)) fail_msg("line %zu: mailbox outside the demo domain", lineno);
        assert_true(naddr < COUNT * 4);
        addrs[naddr++] = f[MSS_ADDR];
        char num[32];
        int type;
        if (!strcmp(f[MSS_TYPE], "PER")) {
            nper++;
            assert_int_equal(annuaire_idnps_parse(f[MSS_PPNAT], &type, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), 0);
            assert_string_equal(num, f[MSS_PP]);
            assert_int_equal(type, atoi(f[MSS_PPTYPE]));
            /* the professional exists in the PS file */
            const char *key = f[MSS_PP];
            assert_non_null(bsearch(&key, ids, nlines, sizeof *ids, cmp_str));
        } else if (!strcmp(f[MSS_TYPE], "ORG") || !strcmp(f[MSS_TYPE], "APP")) {
            norg++;
            assert_string_equal(f[MSS_PP], "");
        } else fail_msg("line %zu: BAL type '%s'", lineno, f[MSS_TYPE]);
        assert_int_equal(annuaire_idnst_parse(f[MSS_ST], &type, num, sizeof num, ANNUAIRE_KEY_DEFAULT, &err), 0);
        assert_int_equal(type, atoi(f[MSS_STTYPE]));
    }
    assert_true(nper > COUNT / 2 && nper <= COUNT);
    assert_true(norg > 0);
    qsort(addrs, naddr, sizeof *addrs, cmp_str);
    for (size_t i = 1; i < naddr; i++)
        if (!strcmp(addrs[i], addrs[i - 1])) fail_msg("duplicate mailbox");

    /* --- FINESS (etalab layout) --- */
    char *fin = read_all(dir, ANNUAIRE_GEN_FINESS_FILE, NULL);
    save = NULL;
    line = strtok_r(fin, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, ANNUAIRE_FINESS_HEADER);
    size_t nfin = 0;
    lineno = 1;
    while ((line = strtok_r(NULL, "\n", &save))) {
        lineno++;
        int nf = split(line, ';', f, 64);
        if (nf != ANNUAIRE_FINESS_COLUMNS) fail_msg("FINESS line %zu: %d fields", lineno, nf);
        assert_string_equal(f[0], "structureet");
        if (annuaire_finess_check(f[FIN_ET], ANNUAIRE_KEY_DEFAULT, &err)) fail_msg("FINESS line %zu: %s", lineno, err.msg);
        if (annuaire_finess_check(f[FIN_EJ], ANNUAIRE_KEY_DEFAULT, &err)) fail_msg("FINESS line %zu: %s", lineno, err.msg);
        if (annuaire_siret_check(f[FIN_SIRET], &err)) fail_msg("FINESS line %zu: %s", lineno, err.msg);
        nfin++;
    }
    assert_true(nfin > 0);

    free(ids);
    free(addrs);
    free(ps);
    free(mss);
    free(fin);
    remove_dir(dir);
}

static void test_bad_arguments(void **state)
{
    socle_err err;
    assert_int_equal(annuaire_generate("/tmp", 0, 1, NULL, NULL, NULL, &err), SOCLE_EINVAL);
    assert_int_equal(annuaire_generate("/nonexistent/socle-dir", 10, 1, NULL, NULL, NULL, &err), SOCLE_EIO);
    assert_int_equal(annuaire_generate("", 10, 1, NULL, NULL, NULL, &err), SOCLE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_files_valid),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
