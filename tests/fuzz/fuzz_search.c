/* fuzz_search.c - search parsing and running: the input is "Type\nname=value\nname=value...". A plan
 * that parses runs on a small in-memory store: it must answer (or refuse its cursor with
 * SOCLE_EINVAL), never fail in SQL - a store error would be a 500 - nor touch memory it should not.
 * Next links are followed for a few pages. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir/repo.h"
#include "fhir/search.h"

static store *db;

static void put(store_conn *c, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    arena *a = arena_new(0);
    fhir_stored s;
    socle_err err;
    if (!j || fhir_repo_update(c, json_string_value(json_object_get(j, "resourceType")),
                               json_string_value(json_object_get(j, "id")), j, 0, a, &s, NULL, &err))
        abort();
    json_decref(j);
    arena_free(a);
}

static store_conn *conn(void)
{
    socle_err err;
    store_conn *c;
    if (!db) {
        store_options o = {.url = "sqlite::memory:"};
        if (store_open(&o, &db, &err) || fhir_repo_migrate(db, &err) || store_acquire(db, &c, &err)) abort();
        put(c, "{\"resourceType\":\"Organization\",\"id\":\"o1\",\"name\":\"CHU\",\"address\":[{\"city\":\"Lyon\"}],"
               "\"identifier\":[{\"system\":\"urn:s\",\"value\":\"1\"}]}");
        put(c, "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"system\":\"urn:s\",\"value\":\"1\"},"
               "{\"system\":\"urn:t\",\"value\":\"1\"}],\"name\":[{\"family\":\"Martin\",\"given\":[\"Marie\",\"Mar\"]}],"
               "\"gender\":\"female\",\"birthDate\":\"1990-05-17\",\"managingOrganization\":{\"reference\":\"Organization/o1\"},"
               "\"generalPractitioner\":[{\"reference\":\"Organization/o1\"}]}");
        put(c, "{\"resourceType\":\"Patient\",\"id\":\"p2\",\"identifier\":[{\"system\":\"urn:s\",\"value\":\"2\"}],"
               "\"name\":[{\"family\":\"Marchal\"},{\"family\":\"MARCHAL\"}],\"gender\":\"male\",\"birthDate\":\"1985\"}");
        put(c, "{\"resourceType\":\"Practitioner\",\"id\":\"pr1\",\"name\":[{\"family\":\"Dupont\",\"given\":[\"Marc\"]}]}");
        put(c, "{\"resourceType\":\"PractitionerRole\",\"id\":\"r1\",\"practitioner\":{\"reference\":\"Practitioner/pr1\"},"
               "\"organization\":{\"reference\":\"Organization/o1\"}}");
        put(c, "{\"resourceType\":\"DocumentReference\",\"id\":\"d1\",\"status\":\"current\",\"date\":\"2024-01-02T10:00:00Z\","
               "\"subject\":{\"reference\":\"Patient/p1\"},\"content\":[{\"attachment\":{\"url\":\"x\"}}]}");
        return c;
    }
    if (store_acquire(db, &c, &err)) abort();
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    fhir_search_param params[33];
    int n = 0;
    char *save = NULL;
    char *type = strtok_r(s, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line && n < 32; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq) *eq = 0;
        params[n].name = line;
        params[n++].value = eq ? eq + 1 : "";
    }
    static const uint8_t key[32] = {1, 2, 3};
    fhir_search_options opt = {.lenient = size % 2, .cursor_key = size % 3 ? NULL : key};
    store_conn *c = type ? conn() : NULL;
    char cursor[4096];
    for (int page = 0; c && page < 4; page++) {
        arena *a = arena_new(0);
        fhir_search *plan;
        fhir_search_page out;
        socle_err err;
        int rc = fhir_search_parse(type, params, n, &opt, a, &plan, &err);
        if (!rc) {
            rc = fhir_search_run(c, plan, a, &out, &err);
            if (rc && rc != SOCLE_EINVAL) {
                fprintf(stderr, "search failed in the store (%d): %s\n", rc, err.msg);
                abort();
            }
        }
        const char *next = !rc && out.next_query ? strstr(out.next_query, "_cursor=") : NULL;
        if (next) snprintf(cursor, sizeof cursor, "%s", next + 8);
        arena_free(a);
        if (!next || n == 33) break;
        /* The next page: the same parameters and the cursor (replacing one the input gave). */
        int i = 0;
        while (i < n && strcmp(params[i].name, "_cursor")) i++;
        if (i == n) n++;
        params[i] = (fhir_search_param){"_cursor", cursor};
    }
    if (c) store_release(db, c);
    free(s);
    return 0;
}
