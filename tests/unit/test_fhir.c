/* test_fhir.c - unit tests of src/fhir on a temporary SQLite store: JSON limits, validation,
 * versioned writes, index extraction and search semantics, keyset paging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir/repo.h"
#include "fhir/search.h"

static store *db;
static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/socle-fhir-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    store_options o = {.url = url, .sqlite_synchronous = "OFF"};
    socle_err err;
    if (store_open(&o, &db, &err) || fhir_repo_migrate(db, &err)) return -1;
    return 0;
}

static int teardown(void **state)
{
    store_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void put(store_conn *c, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    arena *a = arena_new(0);
    fhir_stored s;
    socle_err err;
    int rc = fhir_repo_update(c, json_string_value(json_object_get(j, "resourceType")),
                              json_string_value(json_object_get(j, "id")), j, 0, a, &s, NULL, &err);
    if (rc) fail_msg("put failed: %s", err.msg);
    json_decref(j);
    arena_free(a);
}

/* Ids found by a search given as "name=value&name=value". */
static int found(store_conn *c, const char *type, const char *query, char *out, size_t n)
{
    fhir_search_param ps[16];
    int np = 0;
    char *q = strdup(query);
    for (char *save = NULL, *p = strtok_r(q, "&", &save); p && np < 16; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        *eq = 0;
        ps[np].name = p;
        ps[np++].value = eq + 1;
    }
    arena *a = arena_new(0);
    fhir_search *plan;
    fhir_search_page page;
    socle_err err;
    fhir_search_options opt = {0};
    int rc = fhir_search_parse(type, ps, np, &opt, a, &plan, &err);
    if (!rc) rc = fhir_search_run(c, plan, a, &page, &err);
    out[0] = 0;
    if (!rc)
        for (size_t i = 0; i < page.nhits; i++) {
            strncat(out, page.hits[i].id, n - strlen(out) - 2);
            strcat(out, " ");
        }
    arena_free(a);
    free(q);
    return rc;
}

static void test_json_limits(void **state)
{
    fhir_limits lim = FHIR_LIMITS_DEFAULT;
    lim.max_depth = 3;
    lim.max_string = 5;
    json_t *j;
    socle_err err;
    assert_int_equal(fhir_json_parse("{\"a\":[[1]]}", 11, &lim, &j, &err), 0);
    json_decref(j);
    assert_int_equal(fhir_json_parse("{\"a\":[[[1]]]}", 13, &lim, &j, &err), SOCLE_EINVAL);
    assert_int_equal(fhir_json_parse("{\"a\":\"123456\"}", 14, &lim, &j, &err), SOCLE_EINVAL);
    assert_int_equal(fhir_json_parse("{\"a\":1,\"a\":2}", 13, &lim, &j, &err), SOCLE_EINVAL);
    assert_int_equal(fhir_json_parse("[1]", 3, &lim, &j, &err), SOCLE_EINVAL);
    assert_int_equal(fhir_json_parse("{\"a\":\"\xc3\"}", 8, &lim, &j, &err), SOCLE_EINVAL);
    lim.max_bytes = 4;
    assert_int_equal(fhir_json_parse("{\"a\":1}", 7, &lim, &j, &err), SOCLE_ETOOLARGE);
}

/* Long plain string values are parsed aside (json.c): the tree is the one jansson builds from the
 * body itself, for values in objects and arrays, long keys, long strings with escapes, a client
 * string shaped like a placeholder; a malformed body's error names the same place. */
static void test_json_long_strings(void **state)
{
    fhir_limits lim = FHIR_LIMITS_DEFAULT;
    enum { LONG = 6000 };
    char *b64 = malloc(LONG + 1), *body = malloc(8 * LONG);
    assert_non_null(b64);
    assert_non_null(body);
    for (int i = 0; i < LONG; i++)
        b64[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i * 7 % 64];
    b64[LONG] = 0;
    int n = snprintf(body, 8 * LONG,
                     "{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"data\":\"%s\"}},\"%s\","
                     "\"x\\n%s\"],\"%s\":1, \"look\":\"\\u000112345678901234567800\", \"last\" : \"%s\" }",
                     b64, b64 + 1, b64, b64 + 2, b64 + 3);
    json_t *j, *want = json_loadb(body, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    socle_err err;
    assert_non_null(want);
    assert_int_equal(fhir_json_parse(body, (size_t)n, &lim, &j, &err), 0);
    assert_true(json_equal(j, want));
    assert_string_equal(json_string_value(json_object_get(j, "last")), b64 + 3);
    json_decref(j);
    json_decref(want);
    /* malformed after a long value, on the same line: the column is the body's */
    n = snprintf(body, 8 * LONG, "{\"data\":\"%s\",\"b\":tru}", b64);
    json_error_t je;
    assert_null(json_loadb(body, (size_t)n, JSON_REJECT_DUPLICATES, &je));
    assert_int_equal(fhir_json_parse(body, (size_t)n, &lim, &j, &err), SOCLE_EINVAL);
    char column[32];
    snprintf(column, sizeof column, "column %d", je.column);
    assert_non_null(strstr(err.msg, column));
    /* duplicates are still refused */
    n = snprintf(body, 8 * LONG, "{\"data\":\"%s\",\"data\":\"%s\"}", b64, b64);
    assert_int_equal(fhir_json_parse(body, (size_t)n, &lim, &j, &err), SOCLE_EINVAL);
    free(b64);
    free(body);
}

/* fhir_json_dump writes containers and strings itself: the same bytes as jansson's compact dump
 * (keys in insertion order, numbers as jansson writes them) wherever the string escapes agree, and
 * what it writes always reads back as the same tree. */
static void test_json_dump(void **state)
{
    const char *bodies[] = {
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"active\":true,\"deceasedBoolean\":false,\"x\":null,"
        "\"multipleBirthInteger\":-2,\"weight\":37.2,\"big\":1e300,\"small\":0.1,\"whole\":3.0,"
        "\"name\":[{\"family\":\"Müller \\\"le \\\\ fils\\\"\",\"given\":[\"Zoé\",\"\"]}],\"empty\":{},\"none\":[],"
        "\"z\":{\"b\":1,\"a\":[[],[{}],\"tab\\there\\r\\n\"]}}",
        "[1,\"a\",{\"key\":\"v\\u0000w\"}]",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *j = json_loads(bodies[i], JSON_ALLOW_NUL, NULL);
        assert_non_null(j);
        socle_buf b = SOCLE_BUF_INIT;
        fhir_json_dump(j, &b);
        char *want = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
        assert_non_null(want);
        assert_string_equal(b.data, want);
        free(want);
        buf_free(&b);
        json_decref(j);
    }
    /* controls jansson writes otherwise (\b, \u001F): still the same tree once read back */
    json_t *j = json_pack("{s:s, s:s#}", "ctl", "\b\f\x1f\x7f", "long", "", (size_t)0);
    enum { LONG = 9000 };
    char *s = malloc(LONG);
    assert_non_null(s);
    for (int i = 0; i < LONG; i++) s[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i * 7 % 64];
    s[LONG - 3] = '"';
    s[LONG / 2] = '\\';
    json_object_set_new(j, "long", json_stringn(s, LONG));
    socle_buf b = SOCLE_BUF_INIT;
    fhir_json_dump(j, &b);
    assert_non_null(strstr(b.data, "\"ctl\":\"\\u0008\\u000c\\u001f\x7f\""));
    json_t *back = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, j));
    json_decref(back);
    json_decref(j);
    buf_free(&b);
    free(s);
}

static void test_validate(void **state)
{
    socle_err err;
    json_t *j = json_loads("{\"resourceType\":\"Patient\",\"birthDate\":\"2000-02-30\"}", 0, NULL);
    assert_int_equal(fhir_repo_validate("Patient", j, &err), SOCLE_EUNPROCESSABLE);
    assert_string_equal(err.where, "Patient.birthDate");
    json_decref(j);
    j = json_loads("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\"}]}", 0, NULL);
    assert_int_equal(fhir_repo_validate("Patient", j, &err), SOCLE_EUNPROCESSABLE);
    json_decref(j);
    j = json_loads("{\"resourceType\":\"Patient\",\"identifier\":{\"value\":\"x\"}}", 0, NULL);
    assert_int_equal(fhir_repo_validate("Patient", j, &err), SOCLE_EUNPROCESSABLE);
    json_decref(j);
    j = json_loads("{\"resourceType\":\"Organization\",\"name\":\"Clinique\"}", 0, NULL);
    assert_int_equal(fhir_repo_validate("Organization", j, &err), 0);
    assert_int_equal(fhir_repo_validate("Patient", j, &err), SOCLE_EUNPROCESSABLE);
    json_decref(j);
    char type[32], id[32];
    assert_true(fhir_reference_parse("http://x/fhir/Patient/12/_history/3", type, 32, id, 32));
    assert_string_equal(type, "Patient");
    assert_string_equal(id, "12");
    assert_false(fhir_reference_parse("urn:uuid:1", type, 32, id, 32));
    assert_false(fhir_reference_parse("#c1", type, 32, id, 32));
}

static void test_versions(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    arena *a = arena_new(0);
    json_t *j = json_loads("{\"resourceType\":\"Patient\",\"id\":\"v1\",\"gender\":\"male\"}", 0, NULL);
    fhir_stored s;
    int created = 0;
    assert_int_equal(fhir_repo_update(c, "Patient", "v1", j, 0, a, &s, &created, &err), 0);
    assert_true(created);
    assert_int_equal(fhir_repo_update(c, "Patient", "v1", j, 1, a, &s, &created, &err), 0);
    assert_int_equal(s.version, 2);
    assert_int_equal(fhir_repo_update(c, "Patient", "v1", j, 1, a, &s, &created, &err), SOCLE_EPRECONDITION);
    int existed;
    assert_int_equal(fhir_repo_delete(c, "Patient", "v1", a, &s, &existed, &err), 0);
    assert_true(existed);
    assert_int_equal(fhir_repo_read(c, "Patient", "v1", 0, a, &s, &err), SOCLE_EGONE);
    assert_int_equal(fhir_repo_read(c, "Patient", "v1", 1, a, &s, &err), 0);
    assert_non_null(strstr(s.body, "\"versionId\":\"1\""));
    assert_int_equal(fhir_repo_read(c, "Patient", "nope", 0, a, &s, &err), SOCLE_ENOTFOUND);
    fhir_history_query q = {.type = "Patient", .id = "v1", .since_ms = INT64_MIN, .count = 10};
    fhir_stored *items;
    size_t n;
    int64_t next;
    assert_int_equal(fhir_repo_history(c, &q, a, &items, &n, &next, &err), 0);
    assert_int_equal(n, 3);
    assert_true(items[0].deleted);
    json_decref(j);
    arena_free(a);
    store_release(db, c);
}

/* Each version reads back with its own body, whether it is current, superseded, deleted or
 * recreated after a deletion (bodies are stored once: the current one only in fhir_resource). */
static void test_history_bodies(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    arena *a = arena_new(0);
    fhir_stored s;
    int created, existed;
    const char *bodies[] = {"{\"resourceType\":\"Patient\",\"id\":\"hb\",\"gender\":\"male\"}",
                            "{\"resourceType\":\"Patient\",\"id\":\"hb\",\"gender\":\"female\"}",
                            "{\"resourceType\":\"Patient\",\"id\":\"hb\",\"gender\":\"other\"}"};
    for (int i = 0; i < 2; i++) {
        json_t *j = json_loads(bodies[i], 0, NULL);
        assert_int_equal(fhir_repo_update(c, "Patient", "hb", j, 0, a, &s, &created, &err), 0);
        json_decref(j);
    }
    /* v1 superseded, v2 current: both read back whole */
    assert_int_equal(fhir_repo_read(c, "Patient", "hb", 1, a, &s, &err), 0);
    assert_non_null(strstr(s.body, "\"male\""));
    assert_int_equal(fhir_repo_read(c, "Patient", "hb", 2, a, &s, &err), 0);
    assert_non_null(strstr(s.body, "\"female\""));
    assert_non_null(strstr(s.body, "\"versionId\":\"2\""));
    assert_int_equal(fhir_repo_delete(c, "Patient", "hb", a, &s, &existed, &err), 0); /* v3 */
    json_t *j = json_loads(bodies[2], 0, NULL);
    assert_int_equal(fhir_repo_update(c, "Patient", "hb", j, 0, a, &s, &created, &err), 0); /* v4 */
    json_decref(j);
    assert_true(created);
    assert_int_equal(fhir_repo_read(c, "Patient", "hb", 2, a, &s, &err), 0);
    assert_non_null(strstr(s.body, "\"female\""));
    assert_int_equal(fhir_repo_read(c, "Patient", "hb", 3, a, &s, &err), SOCLE_EGONE);
    fhir_history_query q = {.type = "Patient", .id = "hb", .since_ms = INT64_MIN, .count = 10};
    fhir_stored *items;
    size_t n;
    int64_t next;
    assert_int_equal(fhir_repo_history(c, &q, a, &items, &n, &next, &err), 0);
    assert_int_equal(n, 4);
    const char *want[] = {"\"other\"", NULL, "\"female\"", "\"male\""};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(items[i].version, 4 - (int64_t)i);
        if (want[i]) assert_non_null(strstr(items[i].body, want[i]));
        else assert_true(items[i].deleted && items[i].body[0] == 0);
    }
    /* the type-level and system-level histories read the same bodies */
    fhir_history_query all = {.type = "Patient", .since_ms = INT64_MIN, .count = 1};
    assert_int_equal(fhir_repo_history(c, &all, a, &items, &n, &next, &err), 0);
    assert_int_equal(n, 1);
    assert_non_null(strstr(items[0].body, "\"other\""));
    all.type = NULL;
    assert_int_equal(fhir_repo_history(c, &all, a, &items, &n, &next, &err), 0);
    assert_non_null(strstr(items[0].body, "\"other\""));
    /* only superseded bodies are stored in the history */
    int64_t stored = -1;
    assert_int_equal(store_query_int(c, "SELECT COUNT(*) FROM fhir_history WHERE id = 'hb' AND body <> ''", NULL, 0,
                                     &stored, &err),
                     0);
    assert_int_equal(stored, 2);
    assert_int_equal(fhir_repo_delete(c, "Patient", "hb", a, &s, &existed, &err), 0); /* out of other tests' way */
    arena_free(a);
    store_release(db, c);
}

/* A resource prepared without the database is written by the transaction as fhir_repo_create would:
 * same body (meta set), history, conflict on an existing id; an invalid one is refused at
 * preparation, and freeing a failed preparation is safe. */
static void test_prepared(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    arena *a = arena_new(0);
    json_t *j = json_loads("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"aGk=\"}", 0, NULL);
    fhir_prepared pr;
    assert_int_equal(fhir_repo_prepare("Binary", "prep1", j, &pr, &err), 0);
    assert_non_null(strstr(pr.body.data, "\"versionId\":\"1\""));
    fhir_stored s;
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(fhir_repo_create_prepared(c, &pr, 0, a, &s, &err), 0);
    assert_int_equal(store_tx_commit(c, &err), 0);
    assert_int_equal(s.version, 1);
    assert_int_equal(fhir_repo_read(c, "Binary", "prep1", 0, a, &s, &err), 0);
    assert_int_equal(s.body_len, pr.body.len);
    assert_memory_equal(s.body, pr.body.data, pr.body.len);
    assert_int_equal(fhir_repo_read(c, "Binary", "prep1", 1, a, &s, &err), 0);
    assert_int_equal(fhir_repo_create_prepared(c, &pr, 0, a, &s, &err), SOCLE_ECONFLICT);
    fhir_repo_prepared_free(&pr);
    json_decref(j);
    j = json_loads("{\"resourceType\":\"Binary\",\"contentType\":42}", 0, NULL);
    assert_int_not_equal(fhir_repo_prepare("Binary", "prep2", j, &pr, &err), 0);
    fhir_repo_prepared_free(&pr);
    json_decref(j);
    arena_free(a);
    store_release(db, c);
}

/* Current versions live in a rowid table: WITHOUT ROWID would keep whole resources in the
 * interior pages (a 1M-patient tree seven levels deep). The (type, id) key stays unique. */
static void test_layout(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    int64_t n = -1;
    assert_int_equal(store_query_int(c,
                                     "SELECT COUNT(*) FROM sqlite_master WHERE name = 'fhir_resource'"
                                     " AND sql LIKE '%WITHOUT ROWID%'",
                                     NULL, 0, &n, &err),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(store_exec(c, "INSERT INTO fhir_resource (type, id, version, last_updated, body)"
                                   " VALUES ('Patient', 'layout', 1, 0, '{}')",
                                NULL, 0, NULL, &err),
                     0);
    assert_int_not_equal(store_exec(c, "INSERT INTO fhir_resource (type, id, version, last_updated, body)"
                                       " VALUES ('Patient', 'layout', 2, 0, '{}')",
                                    NULL, 0, NULL, &err),
                         0);
    assert_int_equal(store_exec(c, "DELETE FROM fhir_resource WHERE id = 'layout'", NULL, 0, NULL, &err), 0);
    store_release(db, c);
}

static void test_search(void **state)
{
    store_conn *c;
    socle_err err;
    char out[1024];
    assert_int_equal(store_acquire(db, &c, &err), 0);
    put(c, "{\"resourceType\":\"Organization\",\"id\":\"o1\",\"name\":\"CHU\"}");
    put(c, "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":\"urn:s\",\"value\":\"1\"}],"
           "\"name\":[{\"family\":\"Hélène\"}],\"gender\":\"female\",\"birthDate\":\"1990-05-17\","
           "\"managingOrganization\":{\"reference\":\"Organization/o1\"}}");
    put(c, "{\"resourceType\":\"Patient\",\"id\":\"p2\",\"identifier\":[{\"system\":\"urn:t\",\"value\":\"1\"}],"
           "\"name\":[{\"family\":\"Helmut\"}],\"gender\":\"male\",\"birthDate\":\"1985\"}");
    put(c, "{\"resourceType\":\"DocumentReference\",\"id\":\"d1\",\"status\":\"current\","
           "\"subject\":{\"reference\":\"Patient/p1\"},\"content\":[{\"attachment\":{\"url\":\"x\"}}]}");
    assert_int_equal(found(c, "Patient", "identifier=urn:s|1", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "identifier=1", out, sizeof out), 0);
    assert_string_equal(out, "p1 p2 ");
    assert_int_equal(found(c, "Patient", "family=HEL", out, sizeof out), 0);
    assert_string_equal(out, "p1 p2 ");
    assert_int_equal(found(c, "Patient", "family=hele", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "family:exact=Hélène", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "family:exact=hélène", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(found(c, "Patient", "family:contains=mut", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "birthdate=1990-05", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "birthdate=lt1986", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "birthdate=ge1985-06-01", out, sizeof out), 0);
    assert_string_equal(out, "p2 p1 "); /* p2's year 1985 reaches past June; in the date index's order */
    assert_int_equal(found(c, "Patient", "birthdate=ne1985", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "gender=http://hl7.org/fhir/administrative-gender|male", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "organization=Organization/o1", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "_sort=-birthdate", out, sizeof out), 0);
    assert_string_equal(out, "p1 p2 ");
    assert_int_equal(found(c, "Patient", "_id=p2,p1&_include=Patient:organization", out, sizeof out), 0);
    assert_string_equal(out, "p1 p2 o1 ");
    assert_int_equal(found(c, "Patient", "_id=p1&_revinclude=DocumentReference:patient", out, sizeof out), 0);
    assert_string_equal(out, "p1 d1 ");
    /* Several parameters: one lists the candidates, the others are checked per candidate, whichever
     * their order and kind (every index table, comma alternatives, a negation, the same one twice). */
    assert_int_equal(found(c, "Patient", "gender=female&family=hel", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "family=hel&birthdate=1985", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "gender=male,female&birthdate=1990-05-17&organization=Organization/o1",
                           out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "gender=male&organization=Organization/o1", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(found(c, "Patient", "identifier=1&family:contains=mut", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "birthdate=ne1985&gender=female", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "birthdate=ne1985&gender=male", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(found(c, "Patient", "family=hel&family=helm&identifier=urn:t|1", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "birthdate=1990&birthdate=1990-05-17&family:exact=Hélène", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "_id=p1,p2&gender=male&family=hel", out, sizeof out), 0);
    assert_string_equal(out, "p2 ");
    assert_int_equal(found(c, "Patient", "organization.name=CHU&birthdate=1990", out, sizeof out), 0);
    assert_string_equal(out, "p1 ");
    assert_int_equal(found(c, "Patient", "nosuch=1", out, sizeof out), SOCLE_EINVAL);
    assert_int_equal(found(c, "Patient", "birthdate=xx1990", out, sizeof out), SOCLE_EINVAL);
    assert_int_equal(found(c, "Patient", "family:sounds=x", out, sizeof out), SOCLE_EINVAL);
    store_release(db, c);
}

/* Run a search of type page by page (query: "name=value&..."; page size count): the ids of each page
 * followed by "|", into out. Fails the test if a page's cursor does not parse. */
static void paged(store_conn *c, const char *type, const char *query, int count, char *out, size_t n)
{
    char cursor[512] = "", countv[16];
    snprintf(countv, sizeof countv, "%d", count);
    out[0] = 0;
    for (int pages = 0; pages < 50; pages++) {
        fhir_search_param ps[16];
        int np = 0;
        char *q = strdup(query);
        for (char *save = NULL, *p = strtok_r(q, "&", &save); p && np < 13; p = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(p, '=');
            *eq = 0;
            ps[np++] = (fhir_search_param){p, eq + 1};
        }
        ps[np++] = (fhir_search_param){"_count", countv};
        if (cursor[0]) ps[np++] = (fhir_search_param){"_cursor", cursor};
        arena *a = arena_new(0);
        fhir_search *plan;
        fhir_search_page page;
        fhir_search_options opt = {0};
        socle_err err;
        assert_int_equal(fhir_search_parse(type, ps, np, &opt, a, &plan, &err), 0);
        assert_int_equal(fhir_search_run(c, plan, a, &page, &err), 0);
        for (size_t i = 0; i < page.nhits; i++) {
            strncat(out, page.hits[i].id, n - strlen(out) - 2);
            strcat(out, " ");
        }
        strcat(out, "|");
        const char *next = page.next_query ? strstr(page.next_query, "_cursor=") : NULL;
        if (next) snprintf(cursor, sizeof cursor, "%s", next + 8);
        arena_free(a);
        free(q);
        if (!next) break;
    }
}

static void test_paging(void **state)
{
    store_conn *c;
    socle_err err;
    char out[1024];
    assert_int_equal(store_acquire(db, &c, &err), 0);
    for (int i = 0; i < 12; i++) {
        char json[200];
        snprintf(json, sizeof json,
                 "{\"resourceType\":\"Practitioner\",\"id\":\"pr%02d\",\"name\":[{\"family\":\"Page\"}]}", i);
        put(c, json);
    }
    paged(c, "Practitioner", "family=page", 5, out, sizeof out);
    assert_string_equal(out, "pr00 pr01 pr02 pr03 pr04 |pr05 pr06 pr07 pr08 pr09 |pr10 pr11 |");
    /* Without _sort a search walks its lead parameter's index: by the matching value, then id. A
     * resource that matches several values comes once, at its first (q02: "marie" before "martin";
     * q01 has "mars" twice), on pages of any size; the other parameters are checked on the way. */
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q05\",\"name\":[{\"family\":\"Marchal\"}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q02\",\"name\":[{\"family\":\"Martin\",\"given\":[\"Marie\"]}],"
           "\"active\":true}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q07\",\"name\":[{\"family\":\"Martin\"}],\"active\":true}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q01\",\"name\":[{\"family\":\"Mars\"},{\"family\":\"MARS\"}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q09\",\"name\":[{\"family\":\"Dupont\",\"given\":[\"Marc\"]}],"
           "\"active\":true}");
    const char *all = "q09 q05 q02 q01 q07 ";
    for (int count = 1; count <= 6; count++) {
        paged(c, "Practitioner", "name=mar", count, out, sizeof out);
        char joined[256];
        size_t j = 0;
        for (const char *p = out; *p && j < sizeof joined - 1; p++)
            if (*p != '|') joined[j++] = *p;
        joined[j] = 0;
        assert_string_equal(joined, all);
        int pages = 0;
        for (const char *p = out; *p; p++) pages += *p == '|';
        assert_int_equal(pages, (5 + count - 1) / count);
    }
    /* q00 matches forty times ("maraa" to "marbn"), more rows than a page of one reads: the page
     * ends early with a next link, and the next page skips q00's other rows. */
    char many[2048] = "{\"resourceType\":\"Practitioner\",\"id\":\"q00\",\"name\":[{\"given\":[";
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"Mar%c%c\"", i ? "," : "", 'a' + i / 26,
                 'a' + i % 26);
    strcat(many, "]}]}");
    put(c, many);
    paged(c, "Practitioner", "name=mar", 1, out, sizeof out);
    assert_string_equal(out, "q00 |q09 |q05 |q02 |q01 |q07 |");
    paged(c, "Practitioner", "name=mar", 2, out, sizeof out);
    assert_string_equal(out, "q00 |q09 q05 |q02 q01 |q07 |");
    paged(c, "Practitioner", "name=mar", 20, out, sizeof out);
    assert_string_equal(out, "q00 q09 q05 q02 q01 q07 |");
    paged(c, "Practitioner", "name=mar&active=true", 1, out, sizeof out);
    assert_string_equal(out, "q09 |q02 |q07 |");
    assert_int_equal(store_exec(c, "DELETE FROM fhir_resource WHERE id = 'q00'", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_exec(c, "DELETE FROM fhir_index_string WHERE id = 'q00'", NULL, 0, NULL, &err), 0);
    paged(c, "Practitioner", "family:exact=Martin&name=mar", 1, out, sizeof out);
    assert_string_equal(out, "q02 |q07 |");
    /* With _sort the order is the sort's; a cursor of the other kind of search is refused. */
    paged(c, "Practitioner", "name=mar&_sort=family", 2, out, sizeof out);
    assert_string_equal(out, "q09 q05 |q01 q02 |q07 |");
    arena *a = arena_new(0);
    fhir_search *plan;
    fhir_search_page page;
    fhir_search_options opt = {0};
    fhir_search_param three[2] = {{"name", "mar"}, {"_cursor", "610062006300"}}; /* "a", "b", "c" */
    assert_int_equal(fhir_search_parse("Practitioner", three, 2, &opt, a, &plan, &err), 0);
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), SOCLE_EINVAL);
    fhir_search_param one[2] = {{"name", "mar"}, {"_cursor", "6100"}};
    assert_int_equal(fhir_search_parse("Practitioner", one, 2, &opt, a, &plan, &err), 0);
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), SOCLE_EINVAL);
    fhir_search_param two[2] = {{"name", "mar"}, {"_cursor", "61006200"}};
    assert_int_equal(fhir_search_parse("Practitioner", two, 2, &opt, a, &plan, &err), 0);
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), 0);
    const char *bad_cursors[] = {"610062" /* "b" not ended */, "61006", "6100zz00", "ff00620000", "", "6100+200"};
    for (size_t i = 0; i < sizeof bad_cursors / sizeof *bad_cursors; i++) {
        fhir_search_param bad[2] = {{"name", "mar"}, {"_cursor", bad_cursors[i]}};
        assert_int_equal(fhir_search_parse("Practitioner", bad, 2, &opt, a, &plan, &err), 0);
        assert_int_equal(fhir_search_run(c, plan, a, &page, &err), SOCLE_EINVAL);
    }
    /* Sealed cursors (a key given): they open for the query they were made for, and no other. */
    static const uint8_t key[32] = {7};
    fhir_search_options sealed = {.cursor_key = key};
    fhir_search_param first[2] = {{"name", "mar"}, {"_count", "1"}};
    assert_int_equal(fhir_search_parse("Practitioner", first, 2, &sealed, a, &plan, &err), 0);
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), 0);
    const char *cursor = strstr(page.next_query, "_cursor=") + 8;
    assert_null(strstr(cursor, "6d61")); /* no hex of "ma..." */
    fhir_search_param next[3] = {{"name", "mar"}, {"_count", "1"}, {"_cursor", cursor}};
    assert_int_equal(fhir_search_parse("Practitioner", next, 3, &sealed, a, &plan, &err), 0);
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), 0);
    assert_string_equal(page.hits[0].id, "q05");
    fhir_search_param other[3] = {{"name", "ma"}, {"_count", "1"}, {"_cursor", cursor}};
    assert_int_equal(fhir_search_parse("Practitioner", other, 3, &sealed, a, &plan, &err), 0);
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), SOCLE_EINVAL);
    assert_int_equal(fhir_search_parse("Practitioner", next, 3, &opt, a, &plan, &err), 0); /* no key: hex expected */
    assert_int_equal(fhir_search_run(c, plan, a, &page, &err), SOCLE_EINVAL);
    arena_free(a);
    store_release(db, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_limits), cmocka_unit_test(test_json_long_strings), cmocka_unit_test(test_json_dump), cmocka_unit_test(test_validate), cmocka_unit_test(test_versions),
        cmocka_unit_test(test_layout), cmocka_unit_test(test_history_bodies),
        cmocka_unit_test(test_prepared),
        cmocka_unit_test(test_search),      cmocka_unit_test(test_paging),
    };
    return cmocka_run_group_tests_name("fhir", tests, setup, teardown);
}
