/* test_fhir_chain.c - unit tests of chained search parameters (ref[:Type].param=value, one level) on a
 * temporary SQLite store and, when SOCLE_TEST_PG_URL is set, in a fresh PostgreSQL database (dropped at the
 * end; otherwise that group is skipped): string, token, date and _id chains, :Type, several target types,
 * strict and lenient handling of bad chains, AND with other parameters, comma OR, paging links. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fhir/repo.h"
#include "fhir/search.h"

static store *db;
static char dir[64];

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

/* The data every test reads: organizations o1..o4, practitioners pr1 pr2, roles r1..r3, patients pa1..pa4
 * whose general practitioner is of each target type, documents d1 d2. */
static void load(store_conn *c)
{
    put(c, "{\"resourceType\":\"Organization\",\"id\":\"o1\",\"name\":\"CHU Paris\","
           "\"identifier\":[{\"system\":\"urn:org\",\"value\":\"111\"}],\"address\":[{\"city\":\"Paris\"}]}");
    put(c, "{\"resourceType\":\"Organization\",\"id\":\"o2\",\"name\":\"Clinique du Rhône\","
           "\"identifier\":[{\"system\":\"urn:other\",\"value\":\"111\"}],\"address\":[{\"city\":\"Lyon\"}]}");
    put(c, "{\"resourceType\":\"Organization\",\"id\":\"o3\",\"name\":\"Dupuis Santé\","
           "\"address\":[{\"city\":\"Pau\"}]}");
    put(c, "{\"resourceType\":\"Organization\",\"id\":\"o4\",\"name\":\"Annexe\","
           "\"partOf\":{\"reference\":\"Organization/o1\"}}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"pr1\","
           "\"name\":[{\"family\":\"Dupont\",\"given\":[\"Jean\"]}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"pr2\",\"name\":[{\"family\":\"Martin\"}]}");
    put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"r1\",\"practitioner\":{\"reference\":\"Practitioner/pr1\"},"
           "\"organization\":{\"reference\":\"Organization/o1\"},\"code\":[{\"coding\":[{\"system\":\"urn:role\","
           "\"code\":\"doc\"}]}]}");
    put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"r2\",\"practitioner\":{\"reference\":\"Practitioner/pr2\"},"
           "\"organization\":{\"reference\":\"Organization/o2\"}}");
    put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"r3\",\"practitioner\":{\"reference\":\"Practitioner/pr1\"},"
           "\"organization\":{\"reference\":\"Organization/o2\"}}");
    put(c, "{\"resourceType\":\"Patient\",\"id\":\"pa1\",\"birthDate\":\"1975-03-01\","
           "\"generalPractitioner\":[{\"reference\":\"Practitioner/pr1\"}]}");
    put(c, "{\"resourceType\":\"Patient\",\"id\":\"pa2\",\"birthDate\":\"1990-03-01\","
           "\"generalPractitioner\":[{\"reference\":\"Organization/o3\"}]}");
    put(c, "{\"resourceType\":\"Patient\",\"id\":\"pa3\","
           "\"generalPractitioner\":[{\"reference\":\"PractitionerRole/r1\"}]}");
    put(c, "{\"resourceType\":\"Patient\",\"id\":\"pa4\","
           "\"generalPractitioner\":[{\"reference\":\"Practitioner/pr2\"}]}");
    put(c, "{\"resourceType\":\"DocumentReference\",\"id\":\"d1\",\"status\":\"current\","
           "\"subject\":{\"reference\":\"Patient/pa1\"},\"content\":[{\"attachment\":{\"url\":\"x\"}}]}");
    put(c, "{\"resourceType\":\"DocumentReference\",\"id\":\"d2\",\"status\":\"current\","
           "\"subject\":{\"reference\":\"Patient/pa2\"},\"content\":[{\"attachment\":{\"url\":\"x\"}}]}");
}

static int load_store(const char *url)
{
    store_options o = {.url = url, .sqlite_synchronous = "OFF", .pool_size = 2};
    socle_err err;
    store_conn *c;
    if (store_open(&o, &db, &err) || fhir_repo_migrate(db, &err) || store_acquire(db, &c, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    load(c);
    store_release(db, c);
    return 0;
}

static int setup_sqlite(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/socle-chain-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    return load_store(url);
}

static int teardown_sqlite(void **state)
{
    store_close(db);
    db = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* PostgreSQL (when SOCLE_TEST_PG_URL is set): the same tests in a fresh database, dropped at the end. */
static char pg_db[64], pg_url[512];

static int pg_admin(const char *sql)
{
    store *admin;
    store_conn *c;
    socle_err err;
    store_options o = {.url = getenv("SOCLE_TEST_PG_URL"), .pool_size = 1};
    if (store_open(&o, &admin, &err)) return -1;
    int rc = store_acquire(admin, &c, &err);
    if (!rc) {
        rc = store_exec(c, sql, NULL, 0, NULL, &err);
        store_release(admin, c);
    }
    if (rc) fprintf(stderr, "%s: %s\n", sql, err.msg);
    store_close(admin);
    return rc;
}

static int setup_pg(void **state)
{
    const char *url = getenv("SOCLE_TEST_PG_URL");
    if (!url || !*url) return 0; /* each test skips */
    const char *slash = strrchr(url, '/'), *query = strchr(url, '?');
    if (!slash || !strncmp(url, "postgres:host", 13)) return -1;
    snprintf(pg_db, sizeof pg_db, "socle_chain_%d", (int)getpid());
    snprintf(pg_url, sizeof pg_url, "%.*s/%s%s", (int)(slash - url), url, pg_db, query ? query : "");
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_db);
    if (pg_admin(sql)) return -1;
    return load_store(pg_url);
}

static int teardown_pg(void **state)
{
    if (!pg_db[0]) return 0;
    store_close(db);
    db = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE %s", pg_db);
    return pg_admin(sql);
}

/* What one search gave: the matched ids ("a b "), the ignored parameters, the links, the error. */
typedef struct result {
    int rc;
    char ids[512];
    char ignored[256];
    char self[512];
    char next[512];
    socle_err err;
} result;

/* Run a search given as "name=value&name=value" (values not URL-encoded). */
static result *search(const char *type, const char *query, int lenient, int summary_total)
{
    static result r;
    memset(&r, 0, sizeof r);
    if (!db) skip(); /* the PostgreSQL group without SOCLE_TEST_PG_URL */
    fhir_search_param ps[16];
    int np = 0;
    char *q = strdup(query);
    for (char *save = NULL, *p = strtok_r(q, "&", &save); p && np < 16; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        assert_non_null(eq);
        *eq = 0;
        ps[np].name = p;
        ps[np++].value = eq + 1;
    }
    store_conn *c;
    assert_int_equal(store_acquire(db, &c, &r.err), 0);
    arena *a = arena_new(0);
    fhir_search *plan;
    fhir_search_page page;
    fhir_search_options opt = {.lenient = lenient};
    r.rc = fhir_search_parse(type, ps, np, &opt, a, &plan, &r.err);
    if (!r.rc) r.rc = fhir_search_run(c, plan, a, &page, &r.err);
    if (!r.rc) {
        for (size_t i = 0; i < page.nhits; i++) {
            strncat(r.ids, page.hits[i].id, sizeof r.ids - strlen(r.ids) - 2);
            strcat(r.ids, " ");
        }
        if (summary_total) snprintf(r.ids, sizeof r.ids, "%lld", (long long)page.total);
        for (int i = 0; i < page.nignored; i++) {
            strncat(r.ignored, page.ignored[i], sizeof r.ignored - strlen(r.ignored) - 2);
            strcat(r.ignored, " ");
        }
        snprintf(r.self, sizeof r.self, "%s", page.self_query ? page.self_query : "");
        snprintf(r.next, sizeof r.next, "%s", page.next_query ? page.next_query : "");
    }
    arena_free(a);
    store_release(db, c);
    free(q);
    return &r;
}

/* The matched ids of a search that must succeed. */
static const char *ids(const char *type, const char *query)
{
    result *r = search(type, query, 0, 0);
    if (r->rc) fail_msg("%s?%s failed: %s", type, query, r->err.msg);
    return r->ids;
}

static void test_string_chain(void **state)
{
    assert_string_equal(ids("PractitionerRole", "organization.address-city=PARIS"), "r1 ");
    assert_string_equal(ids("PractitionerRole", "organization.address-city=lyon"), "r2 r3 ");
    /* Starts with: Paris and Pau (o3, no role). */
    assert_string_equal(ids("PractitionerRole", "organization.address-city=pa"), "r1 ");
    assert_string_equal(ids("PractitionerRole", "organization.address-city=nowhere"), "");
    assert_string_equal(ids("PractitionerRole", "practitioner.name=DUPONT"), "r1 r3 ");
    assert_string_equal(ids("PractitionerRole", "practitioner.family=mart"), "r2 ");
    /* The chained parameter keeps its modifiers. */
    assert_string_equal(ids("PractitionerRole", "organization.name:exact=CHU Paris"), "r1 ");
    assert_string_equal(ids("PractitionerRole", "organization.name:exact=chu paris"), "");
    assert_string_equal(ids("PractitionerRole", "organization.name:contains=rhone"), "r2 r3 ");
    /* A chained reference parameter, and a chain on a date parameter. */
    assert_string_equal(ids("Organization", "partof.address-city=paris"), "o4 ");
    assert_string_equal(ids("DocumentReference", "patient.birthdate=lt1980"), "d1 ");
    assert_string_equal(ids("DocumentReference", "subject.birthdate=ge1980-01-01"), "d2 ");
}

static void test_token_chain(void **state)
{
    assert_string_equal(ids("PractitionerRole", "organization.identifier=urn:org|111"), "r1 ");
    assert_string_equal(ids("PractitionerRole", "organization.identifier=111"), "r1 r2 r3 ");
    assert_string_equal(ids("PractitionerRole", "organization.identifier=urn:other|"), "r2 r3 ");
    assert_string_equal(ids("Patient", "general-practitioner.role=urn:role|doc"), "pa3 ");
    assert_int_equal(search("PractitionerRole", "organization.identifier=a|b|c", 0, 0)->rc, SOCLE_EINVAL);
}

static void test_type_modifier(void **state)
{
    assert_string_equal(ids("PractitionerRole", "organization:Organization.address-city=paris"), "r1 ");
    assert_string_equal(ids("Patient", "general-practitioner:Practitioner.name=dup"), "pa1 ");
    assert_string_equal(ids("Patient", "general-practitioner:Organization.name=dup"), "pa2 ");
    assert_string_equal(ids("Patient", "general-practitioner:Practitioner.family:exact=Martin"), "pa4 ");
    /* A type the reference cannot target, or a target type that does not declare the parameter. */
    result *r = search("PractitionerRole", "organization:Practitioner.name=x", 0, 0);
    assert_int_equal(r->rc, SOCLE_EINVAL);
    assert_non_null(strstr(r->err.msg, "organization:Practitioner.name"));
    assert_int_equal(search("Patient", "general-practitioner:Organization.family=x", 0, 0)->rc, SOCLE_EINVAL);
}

static void test_several_target_types(void **state)
{
    /* name: declared on Practitioner and Organization (not PractitionerRole): OR of both. */
    assert_string_equal(ids("Patient", "general-practitioner.name=dup"), "pa1 pa2 ");
    /* family: Practitioner only; role: PractitionerRole only. */
    assert_string_equal(ids("Patient", "general-practitioner.family=dupont"), "pa1 ");
    assert_string_equal(ids("Patient", "general-practitioner.family=dupuis"), "");
    assert_string_equal(ids("Patient", "general-practitioner.identifier=111"), "");
    assert_string_equal(ids("Patient", "general-practitioner._id=pr1,o3"), "pa1 pa2 ");
}

static void test_unknown_chain_strict_and_lenient(void **state)
{
    result *r = search("PractitionerRole", "organization.nosuch=x", 0, 0);
    assert_int_equal(r->rc, SOCLE_EINVAL);
    assert_string_equal(r->err.where, "organization.nosuch");
    assert_non_null(strstr(r->err.msg, "organization.nosuch"));
    r = search("PractitionerRole", "organization.nosuch=x&practitioner.family=martin", 1, 0);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->ids, "r2 ");
    assert_string_equal(r->ignored, "organization.nosuch ");
    assert_null(strstr(r->self, "nosuch"));
    /* Not a reference parameter, not a parameter at all, an unsupported chained modifier. */
    assert_int_equal(search("PractitionerRole", "role.name=x", 0, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("PractitionerRole", "nosuch.name=x", 0, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("PractitionerRole", "organization.name:sounds=x", 0, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("PractitionerRole", "organization._id:exact=o1", 0, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("PractitionerRole", "organization.=x", 0, 0)->rc, SOCLE_EINVAL);
    r = search("PractitionerRole", "role.name=x&nosuch.name=y", 1, 0);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->ids, "r1 r2 r3 ");
    assert_string_equal(r->ignored, "role.name nosuch.name ");
    /* Bad values of the chained parameter are always the caller's fault. */
    assert_int_equal(search("DocumentReference", "patient.birthdate=xx1980", 1, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("PractitionerRole", "organization.address-city=", 1, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("PractitionerRole", "organization._id=bad id", 1, 0)->rc, SOCLE_EINVAL);
}

static void test_two_levels_refused(void **state)
{
    result *r = search("PractitionerRole", "organization.partof.name=x", 0, 0);
    assert_int_equal(r->rc, SOCLE_EINVAL);
    assert_non_null(strstr(r->err.msg, "only one level of chaining is supported"));
    assert_int_equal(search("PractitionerRole", "organization.partof.name=x", 1, 0)->rc, SOCLE_EINVAL);
    assert_int_equal(search("Patient", "general-practitioner:PractitionerRole.organization.name=x", 0, 0)->rc,
                     SOCLE_EINVAL);
}

static void test_chain_and_other_parameters(void **state)
{
    assert_string_equal(ids("PractitionerRole", "organization.address-city=lyon&practitioner.family=dupont"), "r3 ");
    assert_string_equal(ids("PractitionerRole", "practitioner=Practitioner/pr1&organization.address-city=lyon"), "r3 ");
    assert_string_equal(ids("PractitionerRole", "organization.address-city=paris&practitioner.family=martin"), "");
    assert_string_equal(ids("PractitionerRole", "organization.address-city=lyon&_id=r1,r2"), "r2 ");
    assert_string_equal(ids("PractitionerRole", "organization.address-city=lyon&_sort=-_id"), "r3 r2 ");
    assert_string_equal(search("PractitionerRole", "organization.address-city=lyon&_summary=count", 0, 1)->ids, "2");
    /* Repeated chains are AND. */
    assert_string_equal(ids("PractitionerRole", "organization.name=clinique&organization.address-city=lyon"), "r2 r3 ");
    assert_string_equal(ids("PractitionerRole", "organization.name=clinique&organization.address-city=paris"), "");
}

static void test_comma_or(void **state)
{
    assert_string_equal(ids("PractitionerRole", "organization.address-city=paris,lyon"), "r1 r2 r3 ");
    assert_string_equal(ids("PractitionerRole", "practitioner.family=martin,nobody"), "r2 ");
    assert_string_equal(ids("PractitionerRole", "organization.identifier=urn:org|111,urn:nothing|111"), "r1 ");
    assert_string_equal(ids("PractitionerRole", "organization._id=o1"), "r1 ");
    assert_string_equal(ids("PractitionerRole", "organization._id=o1,o2"), "r1 r2 r3 ");
    assert_string_equal(ids("DocumentReference", "patient.birthdate=1975,1990"), "d1 d2 ");
}

static void test_paging_links_carry_the_chain(void **state)
{
    result *r = search("PractitionerRole", "organization.address-city=paris,lyon&_count=2", 0, 0);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->ids, "r1 r2 ");
    assert_non_null(strstr(r->self, "organization.address-city=paris%2Clyon"));
    assert_non_null(strstr(r->next, "organization.address-city=paris%2Clyon"));
    const char *cursor = strstr(r->next, "_cursor=");
    assert_non_null(cursor);
    char query[256];
    snprintf(query, sizeof query, "organization.address-city=paris,lyon&_count=2&_cursor=%s", cursor + 8);
    r = search("PractitionerRole", query, 0, 0);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->ids, "r3 ");
    assert_string_equal(r->next, "");
    r = search("Patient", "general-practitioner:Practitioner.family:exact=Dupont", 0, 0);
    assert_non_null(strstr(r->self, "general-practitioner:Practitioner.family:exact=Dupont"));
}

/* Every page of a search, following its next links: the ids of each page followed by "|". */
static const char *walk(const char *type, const char *query)
{
    static char out[512];
    char q[512];
    out[0] = 0;
    snprintf(q, sizeof q, "%s", query);
    for (int pages = 0; pages < 20; pages++) {
        result *r = search(type, q, 0, 0);
        if (r->rc) fail_msg("%s?%s failed: %s", type, q, r->err.msg);
        strncat(out, r->ids, sizeof out - strlen(out) - 2);
        strcat(out, "|");
        const char *cursor = strstr(r->next, "_cursor=");
        if (!cursor) break;
        snprintf(q, sizeof q, "%s&%s", query, cursor);
    }
    return out;
}

/* Without _sort a search walks its lead parameter's index (value, then id) and stops when the page is
 * full; a resource that several index rows match comes once, at its first ("marie" before "martin",
 * "mars" twice); a chain beside a parameter is checked for each candidate. */
static void test_index_order(void **state)
{
    if (!db) skip();
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(db, &c, &err), 0);
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q05\",\"name\":[{\"family\":\"Marchal\"}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q02\",\"name\":[{\"family\":\"Martin\",\"given\":[\"Marie\"]}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q07\",\"name\":[{\"family\":\"Martin\"}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q01\",\"name\":[{\"family\":\"Mars\"},{\"family\":\"MARS\"}]}");
    put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"q09\",\"name\":[{\"family\":\"Dupont\",\"given\":[\"Marc\"]}]}");
    put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"k1\",\"practitioner\":{\"reference\":\"Practitioner/q02\"},"
           "\"organization\":{\"reference\":\"Organization/o1\"}}");
    put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"k2\",\"practitioner\":{\"reference\":\"Practitioner/q07\"},"
           "\"organization\":{\"reference\":\"Organization/o3\"}}");
    put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"k3\",\"practitioner\":{\"reference\":\"Practitioner/q09\"},"
           "\"organization\":{\"reference\":\"Organization/o1\"}}");
    store_release(db, c);
    assert_string_equal(walk("Practitioner", "name=mar&_count=2"), "q09 q05 |q02 q01 |pr2 q07 |");
    assert_string_equal(walk("Practitioner", "name=mar&_count=3"), "q09 q05 q02 |q01 pr2 q07 |");
    assert_string_equal(walk("Practitioner", "name=mar,dup&_count=2"), "pr1 q09 |q05 q02 |q01 pr2 |q07 |");
    assert_string_equal(walk("Practitioner", "family=mar&_count=1"), "q05 |q01 |pr2 |q02 |q07 |");
    const char *roles = "practitioner=Practitioner/q09,Practitioner/q07,Practitioner/q02";
    char q[256];
    snprintf(q, sizeof q, "%s&_count=1", roles);
    assert_string_equal(walk("PractitionerRole", q), "k1 |k2 |k3 |");
    snprintf(q, sizeof q, "%s&organization.address-city=paris&_count=1", roles);
    assert_string_equal(walk("PractitionerRole", q), "k1 |k3 |");
    snprintf(q, sizeof q, "organization.address-city=pau&%s", roles);
    assert_string_equal(walk("PractitionerRole", q), "k2 |");
}

static void test_deleted_target_no_longer_matches(void **state)
{
    store_conn *c;
    socle_err err;
    if (!db) skip();
    assert_int_equal(store_acquire(db, &c, &err), 0);
    arena *a = arena_new(0);
    fhir_stored s;
    int existed;
    assert_int_equal(fhir_repo_delete(c, "Organization", "o2", a, &s, &existed, &err), 0);
    arena_free(a);
    store_release(db, c);
    assert_string_equal(ids("PractitionerRole", "organization.address-city=lyon"), "");
    assert_string_equal(ids("PractitionerRole", "organization._id=o2"), "");
    assert_string_equal(ids("PractitionerRole", "organization=o2"), "r2 r3 "); /* the plain reference still does */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_chain),
        cmocka_unit_test(test_token_chain),
        cmocka_unit_test(test_type_modifier),
        cmocka_unit_test(test_several_target_types),
        cmocka_unit_test(test_unknown_chain_strict_and_lenient),
        cmocka_unit_test(test_two_levels_refused),
        cmocka_unit_test(test_chain_and_other_parameters),
        cmocka_unit_test(test_comma_or),
        cmocka_unit_test(test_paging_links_carry_the_chain),
        cmocka_unit_test(test_index_order),
        cmocka_unit_test(test_deleted_target_no_longer_matches),
    };
    int failed = cmocka_run_group_tests_name("fhir_chain sqlite", tests, setup_sqlite, teardown_sqlite);
    return failed + cmocka_run_group_tests_name("fhir_chain postgres", tests, setup_pg, teardown_pg);
}
