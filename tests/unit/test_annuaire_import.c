/* test_annuaire_import.c - unit tests of the directory import on a temporary SQLite store: the
 * extract reader (header mapping by name, refused headers, bad lines, etalab's Windows-1252 FINESS
 * file), the resource ids, and whole imports of generated extracts: first load, re-import without
 * change, changes, gone professionals, rejected lines that keep what they had. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "crypto/crypto.h"
#include "fhir/repo.h"
#include "fhir/search.h"
#include "svc/annuaire/extract.h"
#include "svc/annuaire/generate.h"
#include "directory_fixture.h"
#include "svc/annuaire/import.h"
#include "svc/annuaire/keys.h"
#include "svc/annuaire/resources.h"

static directory_fixture fx;
static int max_gone = 20;

static int setup(void **state)
{
    if (directory_fixture_open(&fx, "socle-annuaire", 60, 7)) return -1;
    return 0;
}

static int teardown(void **state)
{
    return directory_fixture_close(&fx);
}

/* ---- the reader ------------------------------------------------------------------------------ */

static int open_text(const char *text, annuaire_extract **x, FILE **f, socle_err *err)
{
    *f = fmemopen((void *)text, strlen(text), "r");
    return annuaire_extract_open(*f, x, err);
}

static void test_header_by_name(void **state)
{
    /* Columns in another order, an unknown extra column, qualifiers in parentheses, no accents. */
    const char *text = "Nom d'exercice|Extra|Identification nationale PP|Identifiant PP|Type d'identifiant PP|"
                       "Prenom d'exercice (x)|CODE PROFESSION|Identifiant technique de la structure|\n"
                       "DUPONT|zz|810100000008|10100000008|8|JEAN|10|R123|\n"
                       "short|line|\n";
    annuaire_extract *x;
    FILE *f;
    socle_err err;
    assert_int_equal(open_text(text, &x, &f, &err), 0);
    assert_int_equal(annuaire_extract_kind_of(x), ANNUAIRE_EXTRACT_PS);
    annuaire_record rec;
    assert_int_equal(annuaire_extract_next(x, &rec, &err), 1);
    assert_string_equal(rec.f[PS_FAMILY], "DUPONT");
    assert_string_equal(rec.f[PS_IDNPS], "810100000008");
    assert_string_equal(rec.f[PS_GIVEN], "JEAN");
    assert_string_equal(rec.f[PS_PROF_CODE], "10");
    assert_string_equal(rec.f[PS_SIRET], ""); /* absent column */
    assert_int_equal(annuaire_extract_next(x, &rec, &err), SOCLE_EUNPROCESSABLE);
    assert_int_equal(rec.lineno, 3);
    assert_non_null(strstr(err.msg, "3 fields where the header has 9"));
    assert_int_equal(annuaire_extract_next(x, &rec, &err), 0);
    annuaire_extract_close(x);
    fclose(f);
}

static void test_refused_headers(void **state)
{
    annuaire_extract *x;
    FILE *f;
    socle_err err;
    assert_int_equal(open_text("Type de BAL|Adresse BAL|\n", &x, &f, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "identification nationale pp"));
    assert_non_null(strstr(err.msg, "identification structure"));
    fclose(f);
    assert_int_equal(open_text("{\"resourceType\":\"Patient\"}\n", &x, &f, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "unknown header"));
    fclose(f);
    assert_int_equal(open_text("", &x, &f, &err), SOCLE_EINVAL);
    fclose(f);
    /* A line that is not UTF-8 in a UTF-8 file. */
    assert_int_equal(open_text(ANNUAIRE_MSS_HEADER "\nPER|a\xe9@b.fr|||||||||||||||||||||||||||||\n", &x, &f, &err), 0);
    annuaire_record rec;
    assert_int_equal(annuaire_extract_next(x, &rec, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "not UTF-8"));
    annuaire_extract_close(x);
    fclose(f);
}

static void test_finess_etalab_banner(void **state)
{
    /* etalab's file: a banner, no header, Windows-1252 ("\xe9" = é, "\x92" = ’), other sections. */
    const char *text = "finess;etalab;93;2025-06-01\n"
                       "structureet;010000024;010780054;CLINIQUE DE L\x92" "ETANG;CLINIQUE;;;3;R;DES PR\xc9S;;;053;01;Ain;"
                       "01000 BOURG EN BRESSE;0474000000;;365;Etab;1106;Etabs;35272057700019;8610Z;;;;;;;;\n"
                       "geolocalisation;010000024;1;2;ATLASANTE;2025-01-01\n";
    annuaire_extract *x;
    FILE *f;
    socle_err err;
    assert_int_equal(open_text(text, &x, &f, &err), 0);
    assert_int_equal(annuaire_extract_kind_of(x), ANNUAIRE_EXTRACT_FINESS);
    annuaire_record rec;
    assert_int_equal(annuaire_extract_next(x, &rec, &err), 1);
    assert_string_equal(rec.f[FIN_FINESS], "010000024");
    assert_string_equal(rec.f[FIN_NAME], "CLINIQUE DE L\xe2\x80\x99" "ETANG");
    assert_string_equal(rec.f[FIN_VOIE], "DES PR\xc3\x89S");
    assert_string_equal(rec.f[FIN_SIRET], "35272057700019");
    assert_int_equal(annuaire_extract_next(x, &rec, &err), 0); /* geolocalisation skipped */
    annuaire_extract_close(x);
    fclose(f);
}

static void test_structure_ids(void **state)
{
    char id[ANNUAIRE_RESOURCE_ID_MAX];
    assert_int_equal(annuaire_structure_id("750000119", "26120567800012", "F750000119", id, sizeof id), 0);
    assert_string_equal(id, "1750000119");
    assert_int_equal(annuaire_structure_id("", "35770697700018", "C35770697700018", id, sizeof id), 0);
    assert_string_equal(id, "335770697700018");
    assert_int_equal(annuaire_structure_id("", "", "C35770697700018", id, sizeof id), 0);
    assert_string_equal(id, "335770697700018");
    assert_int_equal(annuaire_structure_id("", "", "F750000119", id, sizeof id), 0);
    assert_string_equal(id, "1750000119");
    assert_int_equal(annuaire_structure_id("", "", "R10001234/5", id, sizeof id), 0);
    assert_string_equal(id, "4100012345");
    assert_int_equal(annuaire_structure_id("", "", "1750000119", id, sizeof id), 0);
    assert_string_equal(id, "1750000119");
    assert_int_equal(annuaire_structure_id("", "", "", id, sizeof id), -1);
    assert_int_equal(annuaire_structure_id("", "", "///", id, sizeof id), -1);
}

/* ---- whole imports --------------------------------------------------------------------------- */

/* Import the given texts (NULL: not in the run); report receives the PS file's report. */
static int run(const char *ps, const char *mss, const char *fin, annuaire_import_stats *st, char *report, size_t n,
               socle_err *err)
{
    annuaire_import_file files[3];
    int nfiles = 0;
    FILE *rep = report ? fmemopen(report, n, "w") : NULL;
    const char *texts[3] = {ps, mss, fin};
    for (int i = 0; i < 3; i++) {
        if (!texts[i]) continue;
        files[nfiles].name = i == 0 ? "ps" : i == 1 ? "mss" : "finess";
        files[nfiles].in = fmemopen((void *)texts[i], strlen(texts[i]), "r");
        files[nfiles].report = i == 0 ? rep : NULL;
        nfiles++;
    }
    int rc = annuaire_import(&fx.app, files, nfiles, ANNUAIRE_KEY_DEFAULT, max_gone, NULL, NULL, st, err);
    for (int i = 0; i < nfiles; i++) fclose(files[i].in);
    if (rep) fclose(rep);
    return rc;
}

static int read_status(const char *type, const char *id)
{
    store_conn *c;
    socle_err err;
    if (store_acquire(fx.app.store, &c, &err)) return -100;
    arena *a = arena_new(4096);
    fhir_stored s;
    int rc = fhir_repo_read(c, type, id, 0, a, &s, &err);
    arena_free(a);
    store_release(fx.app.store, c);
    return rc;
}

/* The IDNPS of the n-th data line of the PS text (n from 1). */
static void nth_idnps(const char *text, int n, char out[32])
{
    const char *line = text;
    for (int i = 0; i < n; i++) line = strchr(line, '\n') + 1;
    const char *f = strchr(strchr(line, '|') + 1, '|') + 1;
    size_t len = (size_t)(strchr(f, '|') - f);
    memcpy(out, f, len);
    out[len] = 0;
}

/* The PS text without the lines of professional idnps. */
static char *without(const char *text, const char *idnps)
{
    char *out = malloc(strlen(text) + 1), *w = out;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line + 1) : strlen(line);
        char needle[40];
        snprintf(needle, sizeof needle, "|%s|", idnps);
        char *copy = strndup(line, len);
        if (!strstr(copy, needle)) {
            memcpy(w, line, len);
            w += len;
        }
        free(copy);
        line += len;
    }
    *w = 0;
    return out;
}

/* How many of the index tables' value indexes exist. */
static int value_indexes(void)
{
    store_conn *c;
    socle_err err;
    int64_t n = -1;
    if (store_acquire(fx.app.store, &c, &err)) return -1;
    store_query_int(c,
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND (name LIKE 'fhir_index_%_value'"
                    " OR name = 'fhir_index_reference_target')",
                    NULL, 0, &n, &err);
    store_release(fx.app.store, c);
    return (int)n;
}

static void test_import_and_reimport(void **state)
{
    annuaire_import_stats st;
    socle_err err;
    char report[4096] = "";
    assert_int_equal(run(fx.ps, fx.mss, fx.finess, &st, report, sizeof report, &err), 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.practitioners, 60);
    assert_true(st.roles >= 60);
    assert_true(st.organizations > 0);
    assert_true(st.mailboxes > 0);
    assert_int_equal(st.created, st.practitioners + st.roles + st.organizations);
    assert_int_equal(st.changed + st.unchanged + st.gone, 0);
    char idnps[32];
    nth_idnps(fx.ps, 1, idnps);
    assert_int_equal(read_status("Practitioner", idnps), 0);
    /* The first load dropped the search tables' value indexes and rebuilt them. */
    assert_int_equal(value_indexes(), 5);
    store_conn *c;
    assert_int_equal(store_acquire(fx.app.store, &c, &err), 0);
    assert_int_equal(fhir_index_bulk_begin(c, &err), 0);
    store_release(fx.app.store, c);
    assert_int_equal(value_indexes(), 0);
    assert_int_equal(fhir_repo_migrate(fx.app.store, &err), 0); /* a start after a crashed load rebuilds them */
    assert_int_equal(value_indexes(), 5);

    /* The same files again: nothing is written. */
    annuaire_import_stats again;
    assert_int_equal(run(fx.ps, fx.mss, fx.finess, &again, NULL, 0, &err), 0);
    assert_int_equal(again.created + again.changed + again.gone, 0);
    assert_int_equal(again.unchanged, st.created);

    /* Digests an earlier version stored (of the JSON with sorted keys) still say "unchanged", and
     * are rewritten in the new form; one that does not match is a change. */
    assert_int_equal(store_acquire(fx.app.store, &c, &err), 0);
    store_rows *rows;
    assert_int_equal(store_query(c, "SELECT e.type, e.id, r.body FROM annuaire_entry e JOIN fhir_resource r"
                                    " ON r.type = e.type AND r.id = e.id", NULL, 0, &rows, &err), 0);
    int entries = 0;
    char sql[4096] = "";
    while (store_rows_next(rows, &err) == 1) {
        json_t *body = json_loads(store_rows_text(rows, 2, NULL), 0, NULL);
        assert_non_null(body);
        json_t *meta = json_object_get(body, "meta"); /* what the repository added */
        json_object_del(meta, "versionId");
        json_object_del(meta, "lastUpdated");
        if (!json_object_size(meta)) json_object_del(body, "meta");
        char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        uint8_t h[32];
        char hex[33];
        crypto_sha256(text, strlen(text), h);
        crypto_hex(h, 16, hex);
        if (entries < 20)
            snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "UPDATE annuaire_entry SET digest = '%s' WHERE type = '%s'"
                     " AND id = '%s';", entries ? hex : "00000000000000000000000000000000", store_rows_text(rows, 0, NULL),
                     store_rows_text(rows, 1, NULL));
        free(text);
        json_decref(body);
        entries++;
    }
    store_rows_free(rows);
    assert_int_equal(store_exec_script(c, sql, &err), 0);
    store_release(fx.app.store, c);
    assert_int_equal(entries, st.created);
    assert_int_equal(run(fx.ps, fx.mss, fx.finess, &again, NULL, 0, &err), 0);
    assert_int_equal(again.changed, 1);
    assert_int_equal(again.created + again.gone, 0);
    assert_int_equal(again.unchanged, st.created - 1);
    assert_int_equal(store_acquire(fx.app.store, &c, &err), 0);
    int64_t old_form = -1;
    assert_int_equal(store_query_int(c, "SELECT COUNT(*) FROM annuaire_entry WHERE length(digest) <> 33 OR digest NOT LIKE '2%'",
                                     NULL, 0, &old_form, &err), 0);
    assert_int_equal(old_form, 0);
    store_release(fx.app.store, c);
    assert_int_equal(run(fx.ps, fx.mss, fx.finess, &again, NULL, 0, &err), 0);
    assert_int_equal(again.unchanged, st.created);

    /* A professional left the directory: their Practitioner and roles are gone (410), not others. */
    char *fewer = without(fx.ps, idnps);
    assert_int_equal(run(fewer, fx.mss, fx.finess, &again, NULL, 0, &err), 0);
    assert_true(again.gone >= 2);
    assert_int_equal(read_status("Practitioner", idnps), SOCLE_EGONE);
    char other[32];
    nth_idnps(fewer, 1, other);
    assert_int_equal(read_status("Practitioner", other), 0);

    /* They come back, renamed: new again; a name change on another is a change, not a new one. */
    char *renamed = strdup(fx.ps);
    char *p = strstr(renamed, other);
    p = strchr(p, '|');
    for (int i = 0; i < 5; i++) p = strchr(p + 1, '|'); /* to Nom d'exercice */
    p[1] = 'Q';
    assert_int_equal(run(renamed, fx.mss, fx.finess, &again, NULL, 0, &err), 0);
    assert_int_equal(read_status("Practitioner", idnps), 0);
    assert_true(again.changed >= 2); /* the Practitioner and its roles carry the name */
    assert_true(again.created >= 2);
    assert_int_equal(again.gone, 0);
    free(renamed);

    /* A line that becomes invalid is reported and keeps what its professional had. */
    char *broken = strdup(fx.ps);
    p = strstr(broken, other) + 2;
    *p = 'X';
    report[0] = 0;
    assert_int_equal(run(broken, fx.mss, fx.finess, &again, report, sizeof report, &err), 0);
    assert_true(again.rejected >= 1);
    assert_non_null(strstr(report, "Identification nationale PP"));
    assert_int_equal(read_status("Practitioner", other), 0);
    free(broken);

    /* A truncated file (two lines left) would remove nearly everything: the run refuses, removes nothing. */
    char *truncated = strdup(fx.ps);
    char *third = strchr(strchr(strchr(truncated, '\n') + 1, '\n') + 1, '\n') + 1;
    *third = 0;
    assert_int_equal(run(truncated, fx.mss, fx.finess, &again, NULL, 0, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "would be gone"));
    assert_int_equal(again.gone, 0);
    char last[32];
    nth_idnps(fx.ps, 50, last);
    assert_int_equal(read_status("Practitioner", last), 0);
    free(truncated);
    free(fewer);
}

static void test_refused_runs(void **state)
{
    annuaire_import_stats st;
    socle_err err;
    assert_int_equal(run(NULL, fx.mss, fx.finess, &st, NULL, 0, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "together with the PS_LibreAcces"));
    annuaire_import_file files[2] = {{"a", fmemopen(fx.ps, fx.ps_len, "r"), NULL},
                                     {"b", fmemopen(fx.ps, fx.ps_len, "r"), NULL}};
    assert_int_equal(annuaire_import(&fx.app, files, 2, ANNUAIRE_KEY_DEFAULT, 20, NULL, NULL, &st, &err), SOCLE_EINVAL);
    assert_non_null(strstr(err.msg, "both PS_LibreAcces"));
    fclose(files[0].in);
    fclose(files[1].in);
}

static void test_bad_lines_reported(void **state)
{
    /* Each line breaks one rule; nothing stops the run. */
    static const char *const lines[][2] = {
        {"8|10100000000|810100000000|||M||DUPONT|JEAN|10||C||||||L||||||R1|||||||||||||||||||||||||||||", "key"},
        {"8|10100000008|810100000016|||M||DUPONT|JEAN|10||C||||||L||||||R1|||||||||||||||||||||||||||||",
         "differs from Type"},
        {"8|10100000008|810100000008|||M|||JEAN|10||C||||||L||||||R1|||||||||||||||||||||||||||||", "Nom d'exercice"},
        {"8|10100000008|810100000008|||M||DUPONT|JEAN|||C||||||L||||||R1|||||||||||||||||||||||||||||", "Code profession"},
        {"8|10100000008|810100000008|||M||DUPONT|JEAN|10||C||||||L||||750000118||R1|||||||||||||||||||||||||||||",
         "FINESS site"},
        {"8|10100000008|810100000008|||M||DUPONT|JEAN|10||C||||||L||12345678901234||||R1|||||||||||||||||||||||||||||",
         "SIRET"},
    };
    max_gone = 100; /* each run replaces the whole PS_LibreAcces content */
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char text[2048], report[1024] = "";
        snprintf(text, sizeof text, "%s\n%s\n", ANNUAIRE_PS_HEADER, lines[i][0]);
        annuaire_import_stats st;
        socle_err err;
        assert_int_equal(run(text, NULL, NULL, &st, report, sizeof report, &err), 0);
        if (st.rejected != 1 || !strstr(report, lines[i][1]) || strncmp(report, "line 2: ", 8))
            fail_msg("line %zu: rejected %llu, report \"%s\", expected \"%s\"", i, (unsigned long long)st.rejected,
                     report, lines[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_by_name),
        cmocka_unit_test(test_refused_headers),
        cmocka_unit_test(test_finess_etalab_banner),
        cmocka_unit_test(test_structure_ids),
        cmocka_unit_test(test_refused_runs),
        cmocka_unit_test(test_import_and_reimport),
        cmocka_unit_test(test_bad_lines_reported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
