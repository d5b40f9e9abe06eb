/* test_ins_rules.c - unit tests of the INS service's rules on a temporary SQLite store: the CSV
 * import (quoting, every rejection reason, idempotence, the ins_historique column), the INSi
 * searches (00/01/02, partial dates, carte Vitale, past INS never active), every RNIV transition of
 * ins_identity_check, and duplicate scoring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir/repo.h"
#include "svc/ins/import.h"
#include "svc/ins/matricule.h"
#include "svc/ins/ins_internal.h"
#include "svc/ins/reference.h"

static store *db;
static char dir[64];

#define T "1.2.250.1.213.1.4.10"
#define HEADER "matricule,oid,nom_naissance,prenoms,sexe,date_naissance,lieu_naissance,matricule_ouvrant_droit,rang_naissance\n"
/* A valid matricule for 13 characters (key computed). */
static const char *with_key(const char *thirteen)
{
    static char out[16];
    snprintf(out, sizeof out, "%s%02d", thirteen, ins_matricule_key(thirteen));
    return out;
}

static int import_text(const char *text, ins_import_stats *st, char *report, size_t n)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    FILE *rep = fmemopen(report, n, "w");
    socle_err err;
    int rc = ins_import(db, in, rep, NULL, NULL, st, &err);
    fclose(in);
    fclose(rep);
    return rc;
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/socle-ins-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    store_options o = {.url = url, .sqlite_synchronous = "OFF"};
    socle_err err;
    if (store_open(&o, &db, &err) || fhir_repo_migrate(db, &err) || ins_reference_migrate(db, &err)) return -1;
    ins_import_stats st;
    char report[512];
    char all[4096];
    size_t len = (size_t)snprintf(all, sizeof all, HEADER);
    const char *rows[][8] = {
        {"1800175056123", "Dupont", "Jean Pierre", "M", "1980-01-17", "75056", "self", "1"},
        {"2750213055001", "\"Le Goff\"", "Hélène", "F", "1975-02-03", "13055", "", ""},
        {"1050199350007", "N'Diaye", "Awa", "M", "1905-00-00", "99350", "", ""},
        /* twins of one insured person, and exact homonyms */
        {"2120169123004", "Martin", "Léa", "F", "2012-01-09", "69123", "parent", "1"},
        {"2120169123005", "Martin", "Zoé", "F", "2012-01-09", "69123", "parent", "2"},
        {"1700133063001", "Bernard", "Paul", "M", "1970-01-01", "33063", "", ""},
        {"1700133063002", "Bernard", "Paul", "M", "1970-01-01", "33063", "", ""},
        {"1050199350008", "Diallo", "Moussa", "M", "1905-00-00", "99350", "self", "1"},
    };
    char parent[16];
    snprintf(parent, sizeof parent, "%s", with_key("1800175056999"));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char m[16];
        snprintf(m, sizeof m, "%s", with_key(rows[i][0]));
        const char *insured = !strcmp(rows[i][6], "self") ? m : !strcmp(rows[i][6], "parent") ? parent : "";
        len += (size_t)snprintf(all + len, sizeof all - len, "%s," T ",%s,%s,%s,%s,%s,%s,%s\n", m, rows[i][1], rows[i][2],
                                rows[i][3], rows[i][4], rows[i][5], insured, rows[i][7]);
    }
    if (import_text(all, &st, report, sizeof report) || st.loaded != 8 || st.rejected) return -1;
    return 0;
}

static int teardown(void **state)
{
    store_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void test_import_rejections_and_idempotence(void **state)
{
    char text[4096], report[2048];
    char good[16];
    snprintf(good, sizeof good, "%s", with_key("1991299109001"));
    char badkey[16];
    snprintf(badkey, sizeof badkey, "%.13s%02d", good, (atoi(good + 13) % 97) + 1);
    snprintf(text, sizeof text,
             HEADER "%s," T ",\"Müller\",\"Anna  maria\",F,1999-12-01,99109,,\n"          /* 2: quoted fields */
             "%s," T ",Muller,Anna,F,1999-12-01,99109,,\n"                                     /* 3: bad key */
             "%s,1.2.3,Muller,Anna,F,1999-12-01,99109,,\n"                                    /* 4: OID */
             "%s," T ",Mu11er,Anna,F,1999-12-01,99109,,\n"                                    /* 5: digits */
             "%s," T ",Muller,Anna,X,1999-12-01,99109,,\n"                                    /* 6: sex */
             "%s," T ",Muller,Anna,F,1999-02-30,99109,,\n"                                    /* 7: date */
             "%s," T ",Muller,Anna,F,1999-12-01,2C109,,\n"                                    /* 8: place */
             "%s," T ",Muller,Anna,F,1999-12-01,99109,123,\n"                                 /* 9: insured */
             "%s," T ",Muller,Anna,F,1999-12-01,99109,,0\n"                                   /* 10: rank */
             "%s," T ",\"Muller,Anna,F,1999-12-01,99109,,\n"                                  /* 11: quote */
             "a,b\n"                                                                           /* 12: fields */
             "\n",                                                                             /* blank: skipped */
             good, badkey, good, good, good, good, good, good, good, good);
    ins_import_stats st;
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    assert_int_equal(st.loaded, 1);
    assert_int_equal(st.rejected, 10);
    const char *expect[] = {"line 3: matricule", "line 4: oid", "line 5: nom_naissance", "line 6: sexe",
                            "line 7: date_naissance", "line 8: lieu_naissance", "line 9: matricule_ouvrant_droit",
                            "line 10: rang_naissance", "line 11: malformed quoting", "line 12: 2 fields"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strstr(report, expect[i])) fail_msg("report lacks '%s':\n%s", expect[i], report);
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    ins_identity id;
    assert_int_equal(ins_reference_get(c, good, &id, &err), 1);
    assert_string_equal(id.birth_name, "MULLER");
    assert_string_equal(id.first_names, "ANNA MARIA");
    /* Again: no new row. */
    int64_t before, after;
    assert_int_equal(store_query_int(c, "SELECT COUNT(*) FROM ins_reference", NULL, 0, &before, &err), 0);
    store_release(db, c);
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    assert_int_equal(store_acquire(db, &c, &err), 0);
    assert_int_equal(store_query_int(c, "SELECT COUNT(*) FROM ins_reference", NULL, 0, &after, &err), 0);
    store_release(db, c);
    assert_int_equal(before, after);
    /* A wrong header stops at once. */
    assert_int_not_equal(import_text("matricule;oid\n", &st, report, sizeof report), 0);
}

static void test_import_later_line_wins(void **state)
{
    char m[16], text[1024], report[256];
    snprintf(m, sizeof m, "%s", with_key("2880275056777"));
    snprintf(text, sizeof text,
             HEADER "%s," T ",Premier,Anne,F,1988-02-01,75056,,\n%s," T ",Second,Anne,F,1988-02-01,75056,,\n"
                    "%s," T ",Troisieme,Anne,F,1988-02-01,75056,,\n",
             m, m, m);
    ins_import_stats st;
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    store_conn *c;
    socle_err err;
    ins_identity id;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    assert_int_equal(ins_reference_get(c, m, &id, &err), 1);
    store_release(db, c);
    assert_string_equal(id.birth_name, "TROISIEME");
}

/* The past INS: the ins_historique column (parsing, rejections, replacement on a new import), and
 * a past matricule is never an active identity even when it has a row of its own. */
static void test_import_history(void **state)
{
    char active[16], nia[16], nia2[16], other[16], badkey[16], text[4096], report[2048];
    snprintf(active, sizeof active, "%s", with_key("1660399135123"));
    snprintf(nia, sizeof nia, "%s", with_key("7660399135456"));
    snprintf(nia2, sizeof nia2, "%s", with_key("7660399135457"));
    snprintf(other, sizeof other, "%s", with_key("2660399135001"));
    snprintf(badkey, sizeof badkey, "%.13s%02d", nia, (atoi(nia + 13) % 97) + 1);
#define HEADER_H "matricule,oid,nom_naissance,prenoms,sexe,date_naissance,lieu_naissance,matricule_ouvrant_droit," \
                 "rang_naissance,ins_historique\n"
#define PERSON "," T ",Historix,Paul,M,1966-03-15,99135,,"
#define OTHER "," T ",Autrix,Anne,F,1966-03-15,99135,,"
    snprintf(text, sizeof text,
             HEADER_H "%s" PERSON ",%s:1.2.250.1.213.1.4.9 %s:" T "\n" /* 2: two past INS */
             "%s" OTHER ",%s\n"                                       /* 3: no colon */
             "%s" OTHER ",%s:" T "\n"                                  /* 4: bad key */
             "%s" OTHER ",%s:1..2\n"                                   /* 5: OID syntax */
             "%s" OTHER ",%s:" T "\n"                                  /* 6: the active one */
             "%s" OTHER ",%s:" T "  %s:" T "\n"                         /* 7: double space */
             "%s" OTHER ",%s:" T " %s:" T "\n"                          /* 8: repeated */
             "%s" OTHER ",\n"                                          /* 9: an empty column */
             "%s" OTHER "\n",                                          /* 10: the column left out */
             active, nia, nia2, other, nia, other, badkey, other, nia, other, other, other, nia, nia2, other, nia,
             nia, other, other);
    ins_import_stats st;
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    assert_int_equal(st.loaded, 3);
    assert_int_equal(st.rejected, 6);
    const char *expect[] = {"line 3: ins_historique: entry 1 must be MATRICULE:OID",
                            "line 4: ins_historique: entry 1: matricule: wrong key",
                            "line 5: ins_historique: entry 1: oid",
                            "line 6: ins_historique: entry 1: the active matricule itself",
                            "line 7: ins_historique: entries must be separated by single spaces",
                            "line 8: ins_historique: entry 2: repeated"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strstr(report, expect[i])) fail_msg("report lacks '%s':\n%s", expect[i], report);
    assert_null(strstr(report, nia)); /* no matricule in a report reason */

    store_conn *c;
    socle_err err;
    ins_past past[INS_HISTORY_MAX];
    char who[16];
    assert_int_equal(store_acquire(db, &c, &err), 0);
    assert_int_equal(ins_reference_history_get(c, active, past, INS_HISTORY_MAX, &err), 2);
    assert_string_equal(past[0].matricule, nia);
    assert_string_equal(past[0].oid, "1.2.250.1.213.1.4.9");
    assert_string_equal(past[1].matricule, nia2);
    assert_string_equal(past[1].oid, T);
    assert_int_equal(ins_reference_active_of(c, nia2, who, &err), 1);
    assert_string_equal(who, active);
    assert_int_equal(ins_reference_active_of(c, active, who, &err), 0);
    assert_int_equal(ins_reference_history_get(c, other, past, INS_HISTORY_MAX, &err), 0);
    store_release(db, c);

    /* The old NIA also has a row of its own (same traits): it is never the active identity. */
    snprintf(text, sizeof text, HEADER "%s" PERSON "\n", nia);
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    assert_int_equal(st.loaded, 1);
    ins_identity id;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    ins_traits_query q = {.birth_name = "HISTORIX", .first_names = "PAUL", .sex = "M", .birth_date = "1966-03-15"};
    assert_int_equal(ins_reference_search_traits(c, &q, &id, &err), 1);
    assert_string_equal(id.matricule, active);
    assert_int_equal(ins_reference_get(c, nia, &id, &err), 0);
    assert_int_equal(ins_reference_get(c, active, &id, &err), 1);
    store_release(db, c);

    /* Importing the person again replaces the history: here with one entry, then with none. */
    snprintf(text, sizeof text, HEADER_H "%s" PERSON ",%s:" T "\n", active, nia2);
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    assert_int_equal(import_text(text, &st, report, sizeof report), 0); /* idempotent */
    assert_int_equal(store_acquire(db, &c, &err), 0);
    assert_int_equal(ins_reference_history_get(c, active, past, INS_HISTORY_MAX, &err), 1);
    assert_string_equal(past[0].matricule, nia2);
    assert_int_equal(ins_reference_get(c, nia, &id, &err), 1); /* no longer anyone's past INS */
    store_release(db, c);
    snprintf(text, sizeof text, HEADER "%s" PERSON "\n", active);
    assert_int_equal(import_text(text, &st, report, sizeof report), 0);
    assert_int_equal(store_acquire(db, &c, &err), 0);
    assert_int_equal(ins_reference_history_get(c, active, past, INS_HISTORY_MAX, &err), 0);
    /* Clean up: the other tests do not know these identities. */
    store_value p[3] = {STORE_V_TEXT(active), STORE_V_TEXT(nia), STORE_V_TEXT(other)};
    assert_int_equal(store_exec(c, "DELETE FROM ins_reference WHERE matricule IN ($1, $2, $3)", p, 3, NULL, &err), 0);
    store_release(db, c);
#undef PERSON
#undef OTHER
#undef HEADER_H
}

static void test_oid_syntax(void **state)
{
    assert_true(ins_oid_syntax("1.2.250.1.213.1.4.9"));
    assert_true(ins_oid_syntax("0.0"));
    assert_true(ins_oid_syntax("2.999.10"));
    assert_false(ins_oid_syntax(NULL));
    assert_false(ins_oid_syntax(""));
    assert_false(ins_oid_syntax("1"));
    assert_false(ins_oid_syntax("3.1"));
    assert_false(ins_oid_syntax("1..2"));
    assert_false(ins_oid_syntax("1.2."));
    assert_false(ins_oid_syntax(".1.2"));
    assert_false(ins_oid_syntax("1.02"));
    assert_false(ins_oid_syntax("1.2a"));
    assert_false(ins_oid_syntax("1.2.3333333333.4444444444.5555555555.6666666666.7777777777.88888888"));
}

static int search(const char *name, const char *first, const char *sex, const char *date, const char *place,
                  ins_identity *out)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    ins_traits_query q = {.birth_name = name, .first_names = first, .sex = sex, .birth_date = date, .birth_place = place};
    int rc = ins_reference_search_traits(c, &q, out, &err);
    store_release(db, c);
    return rc;
}

static void test_searches(void **state)
{
    ins_identity id;
    assert_int_equal(search("DUPONT", "JEAN", "M", "1980-01-17", NULL, &id), 1);
    assert_string_equal(id.first_names, "JEAN PIERRE");
    assert_int_equal(search("DUPONT", "PIERRE", "M", "1980-01-17", "75056", &id), 1);
    assert_int_equal(search("DUPONT", "JEAN", "M", "1980-01-17", "75057", &id), 0);
    assert_int_equal(search("DUPONT", "JEAN", "F", "1980-01-17", NULL, &id), 0);
    assert_int_equal(search("DUPONT", "JEAN-PIERRE", "M", "1980-01-17", NULL, &id), 0);
    assert_int_equal(search("LE GOFF", "HELENE", "F", "1975-02-03", NULL, &id), 1);
    /* Partial dates: 1905-00-00 in the base matches any day of 1905, and the reverse. */
    assert_int_equal(search("N'DIAYE", "AWA", "M", "1905-07-14", NULL, &id), 1);
    assert_int_equal(search("N'DIAYE", "AWA", "M", "1906-07-14", NULL, &id), 0);
    assert_int_equal(search("DUPONT", "JEAN", "M", "1980-00-00", NULL, &id), 1);
    assert_int_equal(search("DUPONT", "JEAN", "M", "1980-02-00", NULL, &id), 0);
    /* Homonyms: several. */
    assert_int_equal(search("BERNARD", "PAUL", "M", "1970-01-01", NULL, &id), 2);
    /* Carte Vitale: twins need their rank. */
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    char parent[16];
    snprintf(parent, sizeof parent, "%s", with_key("1800175056999"));
    assert_int_equal(ins_reference_search_vitale(c, parent, "2012-01-09", 0, &id, &err), 2);
    assert_int_equal(ins_reference_search_vitale(c, parent, "2012-01-09", 2, &id, &err), 1);
    assert_string_equal(id.first_names, "ZOE");
    assert_int_equal(ins_reference_search_vitale(c, parent, "2012-01-10", 0, &id, &err), 0);
    /* A partial birth date in the base matches a full date on the card's side. */
    char diallo[16];
    snprintf(diallo, sizeof diallo, "%s", with_key("1050199350008"));
    assert_int_equal(ins_reference_search_vitale(c, diallo, "1905-06-12", 0, &id, &err), 1);
    assert_string_equal(id.birth_name, "DIALLO");
    assert_int_equal(ins_reference_search_vitale(c, diallo, "1906-06-12", 0, &id, &err), 0);
    store_release(db, c);
}

/* --- RNIV --- */

static json_t *patient(const char *status, const char *mode, const char *attribute, const char *ins, const char *family,
                       const char *given, const char *gender, const char *birth)
{
    json_t *p = json_pack("{s:s,s:[{s:s,s:s,s:[s]}],s:s,s:s}", "resourceType", "Patient", "name", "use", "official",
                          "family", family, "given", given, "gender", gender, "birthDate", birth);
    json_t *ext = json_array();
    if (status) {
        json_t *sub = json_pack("[{s:s,s:{s:s}}]", "url", "identityReliability", "valueCoding", "code", status);
        if (mode) json_array_append_new(sub, json_pack("{s:s,s:{s:s}}", "url", "validationMode", "valueCoding", "code", mode));
        json_array_append_new(ext, json_pack("{s:s,s:o}", "url",
                                             "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",
                                             "extension", sub));
    }
    if (attribute)
        json_array_append_new(ext, json_pack("{s:s,s:[{s:s,s:{s:s}}]}", "url",
                                             "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",
                                             "extension", "url", "identityReliability", "valueCoding", "code", attribute));
    if (json_array_size(ext)) json_object_set(p, "extension", ext);
    json_decref(ext);
    if (ins)
        json_object_set_new(p, "identifier", json_pack("[{s:s,s:s}]", "system", "urn:oid:" T, "value", ins));
    return p;
}

/* The rule's verdict: 0, or 422 whose message contains `words`. */
static void expect_rule(json_t *p, const json_t *previous, const char *words)
{
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(db, &c, &err), 0);
    int rc = ins_identity_check(c, NULL, NULL, p, previous, &err);
    store_release(db, c);
    if (!words) {
        if (rc) fail_msg("refused: %s", err.msg);
    } else {
        assert_int_equal(rc, SOCLE_EUNPROCESSABLE);
        if (!strstr(err.msg, words)) fail_msg("'%s' does not say '%s'", err.msg, words);
    }
    json_decref(p);
}

static void test_rniv_transitions(void **state)
{
    char dupont[16];
    snprintf(dupont, sizeof dupont, "%s", with_key("1800175056123"));
    const char *D = "Dupont", *J = "Jean", *M = "male", *B = "1980-01-17";
    /* PROV: no conditions; the default when no status is given. */
    expect_rule(patient(NULL, NULL, NULL, NULL, D, J, M, B), NULL, NULL);
    expect_rule(patient("PROV", NULL, NULL, NULL, "X", "Y", "female", "2000-01-01"), NULL, NULL);
    expect_rule(patient("PROV", NULL, NULL, dupont, D, J, M, B), NULL, "only by a qualifiée");
    /* VALI: a high-trust document. */
    expect_rule(patient("VALI", NULL, NULL, NULL, D, J, M, B), NULL, "high-trust");
    expect_rule(patient("VALI", "LEP", NULL, NULL, D, J, M, B), NULL, "high-trust");
    expect_rule(patient("VALI", "PA", NULL, NULL, D, J, M, B), NULL, NULL);
    expect_rule(patient("VALI", "CN", NULL, dupont, D, J, M, B), NULL, "only by a qualifiée");
    /* RECUP: INSi's traits, found once, all of them (the whole list of first names). */
    expect_rule(patient("RECUP", NULL, NULL, NULL, "dupont", "jean pierre", M, B), NULL, NULL);
    expect_rule(patient("RECUP", NULL, NULL, NULL, "dupont", "jean", M, B), NULL, "all of its first names");
    expect_rule(patient("RECUP", NULL, NULL, NULL, D, J, M, "1980-01-18"), NULL, "no identity");
    expect_rule(patient("RECUP", NULL, NULL, NULL, "Bernard", "Paul", M, "1970-01-01"), NULL, "several");
    expect_rule(patient("RECUP", NULL, "DOUT", NULL, D, J, M, B), NULL, "douteuse");
    expect_rule(patient("RECUP", NULL, "FICT", NULL, D, J, M, B), NULL, "fictive");
    expect_rule(patient("RECUP", NULL, NULL, NULL, D, J, "unknown", B), NULL, "five traits");
    /* QUAL: VALI + INSi, with INSi's traits (the whole list of birth first names). */
    const char *JP = "Jean Pierre";
    expect_rule(patient("QUAL", "CN", NULL, dupont, D, JP, M, B), NULL, NULL);
    expect_rule(patient("QUAL", "CN", NULL, dupont, D, J, M, B), NULL, "traits");
    expect_rule(patient("QUAL", NULL, NULL, dupont, D, JP, M, B), NULL, "high-trust");
    expect_rule(patient("QUAL", "CN", NULL, NULL, D, J, M, B), NULL, "INS identifier");
    expect_rule(patient("QUAL", "CN", "DOUT", dupont, D, J, M, B), NULL, "douteuse");
    /* Every code of the reliability extension counts, not only its first: [QUAL, DOUT] in one. */
    json_t *both = patient("QUAL", "CN", NULL, dupont, D, JP, M, B);
    json_t *subs = json_object_get(json_array_get(json_object_get(both, "extension"), 0), "extension");
    json_array_append_new(subs, json_pack("{s:s,s:{s:s}}", "url", "identityReliability", "valueCoding", "code", "DOUT"));
    expect_rule(both, NULL, "douteuse");
    expect_rule(patient("QUAL", "CN", "FICT", dupont, D, J, M, B), NULL, "fictive");
    expect_rule(patient("QUAL", "CN", NULL, dupont, "Durand", J, M, B), NULL, "traits");
    expect_rule(patient("QUAL", "CN", NULL, with_key("1800175056124"), D, J, M, B), NULL, "this matricule is not");
    char badkey[16];
    snprintf(badkey, sizeof badkey, "%.13s00", dupont);
    expect_rule(patient("QUAL", "CN", NULL, badkey, D, J, M, B), NULL, "key");
    /* Two statuses at once. */
    json_t *two = patient("QUAL", "CN", "PROV", dupont, D, J, M, B);
    expect_rule(two, NULL, "one status");
    /* A trait changed on a qualified identity without INSi agreeing: downgraded, INS removed. */
    json_t *before = patient("QUAL", "CN", NULL, dupont, D, JP, M, B);
    json_t *after = patient("QUAL", "CN", NULL, dupont, "Dupond", JP, M, B);
    json_incref(after);
    expect_rule(after, before, NULL);
    const char *code = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(after, "extension"), 0), "extension"), 0),
                        "valueCoding"),
        "code"));
    assert_string_equal(code, "VALI");
    assert_null(json_object_get(after, "identifier"));
    json_decref(after);
    /* The same change from a VALI identity is simply refused as QUAL. */
    json_t *vali = patient("VALI", "CN", NULL, NULL, D, J, M, B);
    expect_rule(patient("QUAL", "CN", NULL, dupont, "Dupond", J, M, B), vali, "traits");
    json_decref(vali);
    json_decref(before);
}

/* --- duplicates --- */

static void put_patient(store_conn *c, const char *id, const char *family, const char *given, const char *gender,
                        const char *birth)
{
    json_t *p = patient(NULL, NULL, NULL, NULL, family, given, gender, birth);
    json_object_set_new(p, "id", json_string(id));
    arena *a = arena_new(0);
    fhir_stored s;
    socle_err err;
    int rc = fhir_repo_update(c, "Patient", id, p, 0, a, &s, NULL, &err);
    if (rc) fail_msg("put failed: %s", err.msg);
    json_decref(p);
    arena_free(a);
}

static const ins_duplicate *pair(const ins_duplicate *d, size_t n, const char *a, const char *b)
{
    for (size_t i = 0; i < n; i++)
        if ((!strcmp(d[i].first, a) && !strcmp(d[i].second, b)) || (!strcmp(d[i].first, b) && !strcmp(d[i].second, a)))
            return &d[i];
    return NULL;
}

static void test_duplicates(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    put_patient(c, "d1", "Lefèvre", "Hélène", "female", "1960-03-08");
    put_patient(c, "d2", "LEFEVRE", "Helene", "female", "1960-03-08");  /* the same, typed plainly */
    put_patient(c, "d3", "Lefebvre", "Hélène", "female", "1960-03-08"); /* a phonetic variant */
    put_patient(c, "d4", "Lefèvre", "Hélène", "female", "1960-08-03");  /* day and month swapped */
    put_patient(c, "d5", "Garnier", "Hélène", "female", "1960-03-08");  /* same first name and date only */
    put_patient(c, "d6", "Zubiri", "Iker", "male", "1999-09-09");
    ins_duplicate *d;
    size_t n;
    assert_int_equal(ins_duplicates(c, 50, &d, &n, &err), 0);
    store_release(db, c);
    const ins_duplicate *p12 = pair(d, n, "d1", "d2"), *p13 = pair(d, n, "d1", "d3"), *p14 = pair(d, n, "d1", "d4"),
                        *p15 = pair(d, n, "d1", "d5");
    assert_non_null(p12);
    assert_int_equal(p12->score, 100);
    assert_non_null(p13);
    assert_int_equal(p13->score, 90); /* phonetic 20 + first names 25 + date 30 + sex 15 */
    assert_non_null(p14);
    assert_int_equal(p14->score, 85); /* name 30 + first names 25 + swapped 15 + sex 15 */
    assert_non_null(strstr(p14->criteria, "dateNaissanceInversee"));
    assert_non_null(p15);
    assert_int_equal(p15->score, 70);
    for (size_t i = 0; i < n; i++) {
        assert_true(strcmp(d[i].first, "d6") && strcmp(d[i].second, "d6"));
        if (i) assert_true(d[i - 1].score >= d[i].score);
    }
    free(d);
    assert_int_equal(store_acquire(db, &c, &err), 0);
    assert_int_equal(ins_duplicates(c, 95, &d, &n, &err), 0);
    store_release(db, c);
    for (size_t i = 0; i < n; i++) assert_true(d[i].score >= 95);
    free(d);
}

static void test_homonyms(void **state)
{
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(db, &c, &err), 0);
    put_patient(c, "h1", "Homonyme", "Claire", "female", "1981-04-04");
    /* The same traits under another id: the server flags HOMD (homonyme détecté). */
    json_t *p = patient(NULL, NULL, NULL, NULL, "HOMONYME", "claire", "female", "1981-04-04");
    assert_int_equal(ins_identity_check(c, NULL, NULL, p, NULL, &err), 0);
    char *flagged = json_dumps(p, JSON_COMPACT);
    assert_non_null(strstr(flagged, "\"HOMD\""));
    free(flagged);
    json_decref(p);
    /* Not for itself, nor for another date. */
    p = patient(NULL, NULL, NULL, NULL, "Homonyme", "Claire", "female", "1981-04-04");
    assert_int_equal(ins_identity_check(c, NULL, "h1", p, NULL, &err), 0);
    char *text = json_dumps(p, JSON_COMPACT);
    assert_null(strstr(text, "HOMD"));
    free(text);
    json_decref(p);
    /* HOMA (homonyme avéré) is the identitovigilance cell's to confirm. */
    auth_subject clerk = {.kind = AUTH_KIND_PROFESSIONAL, .nroles = 1};
    snprintf(clerk.roles[0], sizeof clerk.roles[0], "identity");
    auth_subject civ = clerk;
    snprintf(civ.roles[0], sizeof civ.roles[0], "civ");
    p = patient("PROV", NULL, "HOMA", NULL, "Homonyme", "Claire", "female", "1981-04-04");
    assert_int_equal(ins_identity_check(c, &clerk, NULL, p, NULL, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "HOMA"));
    assert_int_equal(ins_identity_check(c, &civ, NULL, p, NULL, &err), 0);
    /* Once confirmed, a later write by anyone keeps it. */
    assert_int_equal(ins_identity_check(c, &clerk, "h2", p, p, &err), 0);
    json_decref(p);
    store_release(db, c);
}

static void test_outward_identifier(void **state)
{
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(db, &c, &err), 0);
    char dupont[16];
    snprintf(dupont, sizeof dupont, "%s", with_key("1800175056123"));
    json_t *q = patient("QUAL", "CN", NULL, dupont, "Dupont", "Jean Pierre", "male", "1980-01-17");
    json_t *v = patient("VALI", "CN", NULL, NULL, "Dupont", "Jean Pierre", "male", "1980-01-17");
    json_object_set_new(q, "id", json_string("out-q"));
    json_object_set_new(v, "id", json_string("out-v"));
    arena *a = arena_new(0);
    fhir_stored st;
    assert_int_equal(fhir_repo_update(c, "Patient", "out-q", q, 0, a, &st, NULL, &err), 0);
    assert_int_equal(fhir_repo_update(c, "Patient", "out-v", v, 0, a, &st, NULL, &err), 0);
    char m[16], oid[64];
    assert_int_equal(ins_outward_identifier(c, "out-q", m, oid, &err), 0);
    assert_string_equal(m, dupont);
    assert_string_equal(oid, "1.2.250.1.213.1.4.10");
    assert_int_equal(ins_outward_identifier(c, "out-v", m, oid, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "not qualifiée"));
    assert_int_equal(ins_outward_identifier(c, "no-such", m, oid, &err), SOCLE_ENOTFOUND);
    /* Merged into another identity: its INS is no more sent (the survivor's is). */
    json_object_set_new(q, "link", json_pack("[{s:{s:s},s:s}]", "other", "reference", "Patient/out-v", "type", "replaced-by"));
    json_object_set_new(q, "active", json_false());
    assert_int_equal(fhir_repo_update(c, "Patient", "out-q", q, 0, a, &st, NULL, &err), 0);
    assert_int_equal(ins_outward_identifier(c, "out-q", m, oid, &err), SOCLE_EUNPROCESSABLE);
    assert_non_null(strstr(err.msg, "merged"));
    arena_free(a);
    json_decref(q);
    json_decref(v);
    store_release(db, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_rejections_and_idempotence),
        cmocka_unit_test(test_import_later_line_wins),
        cmocka_unit_test(test_searches),
        cmocka_unit_test(test_rniv_transitions),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_homonyms),
        cmocka_unit_test(test_outward_identifier),
        cmocka_unit_test(test_import_history),
        cmocka_unit_test(test_oid_syntax),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
