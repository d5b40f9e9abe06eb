/* index.c - search index rows, extracted from a resource at write time (see search.h).
 *
 * Four tables, one per parameter kind, each keyed for range scans by (type, param, value, id).
 * fhir_index_write deletes the rows of (type, id) and inserts the new ones in the caller's
 * transaction, so the index is always exactly the current versions. */
#include <string.h>

#include "base/text.h"
#include "base/timeutil.h"
#include "fhir/fhir.h"
#include "fhir/search.h"

const store_migration fhir_index_migrations[] = {
    {1, "search index tables", NULL,
     "CREATE TABLE fhir_index_token (type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,"
     " system TEXT NOT NULL, code TEXT NOT NULL);"
     "CREATE INDEX fhir_index_token_value ON fhir_index_token (type, param, code, system, id);"
     "CREATE INDEX fhir_index_token_row ON fhir_index_token (type, id);"
     "CREATE TABLE fhir_index_string (type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,"
     " norm TEXT NOT NULL, exact TEXT NOT NULL);"
     "CREATE INDEX fhir_index_string_value ON fhir_index_string (type, param, norm, id);"
     "CREATE INDEX fhir_index_string_row ON fhir_index_string (type, id);"
     "CREATE TABLE fhir_index_date (type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,"
     " low INTEGER NOT NULL, high INTEGER NOT NULL);"
     "CREATE INDEX fhir_index_date_value ON fhir_index_date (type, param, low, high, id);"
     "CREATE INDEX fhir_index_date_row ON fhir_index_date (type, id);"
     "CREATE TABLE fhir_index_reference (type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,"
     " target_type TEXT NOT NULL, target_id TEXT NOT NULL);"
     "CREATE INDEX fhir_index_reference_value ON fhir_index_reference (type, param, target_id, target_type, id);"
     "CREATE INDEX fhir_index_reference_target ON fhir_index_reference (target_type, target_id, param);"
     "CREATE INDEX fhir_index_reference_row ON fhir_index_reference (type, id);",
     "CREATE TABLE fhir_index_token (type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
     " param TEXT COLLATE \"C\" NOT NULL, system TEXT COLLATE \"C\" NOT NULL, code TEXT COLLATE \"C\" NOT NULL);"
     "CREATE INDEX fhir_index_token_value ON fhir_index_token (type, param, code, system, id);"
     "CREATE INDEX fhir_index_token_row ON fhir_index_token (type, id);"
     "CREATE TABLE fhir_index_string (type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
     " param TEXT COLLATE \"C\" NOT NULL, norm TEXT COLLATE \"C\" NOT NULL, exact TEXT COLLATE \"C\" NOT NULL);"
     "CREATE INDEX fhir_index_string_value ON fhir_index_string (type, param, norm, id);"
     "CREATE INDEX fhir_index_string_row ON fhir_index_string (type, id);"
     "CREATE TABLE fhir_index_date (type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
     " param TEXT COLLATE \"C\" NOT NULL, low BIGINT NOT NULL, high BIGINT NOT NULL);"
     "CREATE INDEX fhir_index_date_value ON fhir_index_date (type, param, low, high, id);"
     "CREATE INDEX fhir_index_date_row ON fhir_index_date (type, id);"
     "CREATE TABLE fhir_index_reference (type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
     " param TEXT COLLATE \"C\" NOT NULL, target_type TEXT COLLATE \"C\" NOT NULL,"
     " target_id TEXT COLLATE \"C\" NOT NULL);"
     "CREATE INDEX fhir_index_reference_value ON fhir_index_reference (type, param, target_id, target_type, id);"
     "CREATE INDEX fhir_index_reference_target ON fhir_index_reference (target_type, target_id, param);"
     "CREATE INDEX fhir_index_reference_row ON fhir_index_reference (type, id);"},
};

const size_t fhir_index_migrations_count = sizeof fhir_index_migrations / sizeof fhir_index_migrations[0];

/* The value indexes of the index tables (the large ones, written in random order), as in the
 * migration; the (type, id) row indexes stay during a bulk load since every write deletes by them. */
static const char *const index_value_indexes[][2] = {
    {"fhir_index_token_value", "fhir_index_token (type, param, code, system, id)"},
    {"fhir_index_string_value", "fhir_index_string (type, param, norm, id)"},
    {"fhir_index_date_value", "fhir_index_date (type, param, low, high, id)"},
    {"fhir_index_reference_value", "fhir_index_reference (type, param, target_id, target_type, id)"},
    {"fhir_index_reference_target", "fhir_index_reference (target_type, target_id, param)"},
};

int fhir_index_bulk_begin(store_conn *c, socle_err *err)
{
    for (size_t i = 0; i < sizeof index_value_indexes / sizeof index_value_indexes[0]; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s", index_value_indexes[i][0]);
        int rc = store_exec_script(c, sql, err);
        if (rc) return rc;
    }
    return 0;
}

int fhir_index_bulk_end(store_conn *c, socle_err *err)
{
    for (size_t i = 0; i < sizeof index_value_indexes / sizeof index_value_indexes[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "CREATE INDEX IF NOT EXISTS %s ON %s", index_value_indexes[i][0],
                 index_value_indexes[i][1]);
        int rc = store_exec_script(c, sql, err);
        if (rc) return rc;
    }
    return 0;
}

typedef struct index_ctx {
    store_conn *c;
    const char *type, *id, *param;
    const char *code_system;     /* the implicit system of plain codes (token params' `targets`) */
    socle_err *err;
    int rc;
} index_ctx;

static void index_token(index_ctx *x, const char *system, const char *code)
{
    if (x->rc || !code || !*code) return;
    store_value p[5] = {STORE_V_TEXT(x->type), STORE_V_TEXT(x->id), STORE_V_TEXT(x->param),
                        STORE_V_TEXT(system ? system : ""), STORE_V_TEXT(code)};
    x->rc = store_exec(x->c, "INSERT INTO fhir_index_token (type, id, param, system, code) VALUES ($1, $2, $3, $4, $5)",
                       p, 5, NULL, x->err);
}

static void index_string(index_ctx *x, const char *value)
{
    if (x->rc || !value || !*value) return;
    socle_buf norm = SOCLE_BUF_INIT;
    text_fold(&norm, value, strlen(value));
    store_value p[5] = {STORE_V_TEXT(x->type), STORE_V_TEXT(x->id), STORE_V_TEXT(x->param),
                        STORE_V_TEXT(norm.data ? norm.data : ""), STORE_V_TEXT(value)};
    x->rc = store_exec(x->c, "INSERT INTO fhir_index_string (type, id, param, norm, exact) VALUES ($1, $2, $3, $4, $5)",
                       p, 5, NULL, x->err);
    buf_free(&norm);
}

static void index_date(index_ctx *x, int64_t low, int64_t high)
{
    if (x->rc) return;
    store_value p[5] = {STORE_V_TEXT(x->type), STORE_V_TEXT(x->id), STORE_V_TEXT(x->param), STORE_V_INT(low),
                        STORE_V_INT(high)};
    x->rc = store_exec(x->c, "INSERT INTO fhir_index_date (type, id, param, low, high) VALUES ($1, $2, $3, $4, $5)", p,
                       5, NULL, x->err);
}

static void index_reference(index_ctx *x, const char *ref)
{
    char type[64], id[128];
    if (x->rc || !fhir_reference_parse(ref, type, sizeof type, id, sizeof id)) return;
    store_value p[5] = {STORE_V_TEXT(x->type), STORE_V_TEXT(x->id), STORE_V_TEXT(x->param), STORE_V_TEXT(type),
                        STORE_V_TEXT(id)};
    x->rc = store_exec(x->c,
                       "INSERT INTO fhir_index_reference (type, id, param, target_type, target_id)"
                       " VALUES ($1, $2, $3, $4, $5)",
                       p, 5, NULL, x->err);
}

/* Index one value reached by the path, according to the parameter's kind. */
static void index_value(index_ctx *x, fhir_param_kind kind, const json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) index_value(x, kind, item);
        return;
    }
    switch (kind) {
    case FHIR_PARAM_TOKEN:
        if (json_is_string(v)) {
            index_token(x, x->code_system ? x->code_system : "", json_string_value(v));
        } else if (json_is_boolean(v)) {
            index_token(x, "", json_is_true(v) ? "true" : "false");
        } else if (json_is_object(v)) {
            const json_t *coding = json_object_get(v, "coding");
            if (coding) {
                index_value(x, kind, coding);
            } else if (json_object_get(v, "code")) {
                index_token(x, json_string_value(json_object_get(v, "system")),
                            json_string_value(json_object_get(v, "code")));
            } else if (json_object_get(v, "value")) {
                const char *system = json_string_value(json_object_get(v, "system"));
                /* ContactPoint's system is a kind (phone, email), not a namespace. */
                if (system && !strchr(system, ':')) system = "";
                index_token(x, system, json_string_value(json_object_get(v, "value")));
            }
        }
        break;
    case FHIR_PARAM_STRING:
        if (json_is_string(v)) {
            index_string(x, json_string_value(v));
        } else if (json_is_object(v)) {
            static const char *const parts[] = {"family", "given", "prefix", "suffix", "text", "line", "city",
                                                "district", "state", "postalCode", "country", NULL};
            for (int i = 0; parts[i]; i++) {
                const json_t *p = json_object_get(v, parts[i]);
                if (p) index_value(x, kind, p);
            }
        }
        break;
    case FHIR_PARAM_DATE: {
        int64_t lo, hi, lo2, hi2;
        if (json_is_string(v)) {
            if (!time_parse_fhir(json_string_value(v), &lo, &hi, NULL)) index_date(x, lo, hi);
        } else if (json_is_object(v)) {
            const char *start = json_string_value(json_object_get(v, "start"));
            const char *end = json_string_value(json_object_get(v, "end"));
            if (!start && !end) break;
            lo = TIME_MIN_MS;
            hi = TIME_MAX_MS;
            if (start && !time_parse_fhir(start, &lo2, &hi2, NULL)) lo = lo2;
            if (end && !time_parse_fhir(end, &lo2, &hi2, NULL)) hi = hi2;
            index_date(x, lo, hi);
        }
        break;
    }
    case FHIR_PARAM_REFERENCE:
        if (json_is_object(v)) index_reference(x, json_string_value(json_object_get(v, "reference")));
        break;
    }
}

/* Follow a '.'-separated path through objects and arrays, indexing every value at its end. */
static void index_path(index_ctx *x, fhir_param_kind kind, const json_t *v, const char *path)
{
    if (!v || x->rc) return;
    if (!*path) {
        index_value(x, kind, v);
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) index_path(x, kind, item, path);
        return;
    }
    const char *dot = strchr(path, '.');
    char seg[64];
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    if (len >= sizeof seg) return;
    memcpy(seg, path, len);
    seg[len] = 0;
    index_path(x, kind, json_object_get(v, seg), dot ? dot + 1 : "");
}

int fhir_index_write(store_conn *c, const char *type, const char *id, const json_t *resource, socle_err *err)
{
    static const char *const deletes[] = {
        "DELETE FROM fhir_index_token WHERE type = $1 AND id = $2",
        "DELETE FROM fhir_index_string WHERE type = $1 AND id = $2",
        "DELETE FROM fhir_index_date WHERE type = $1 AND id = $2",
        "DELETE FROM fhir_index_reference WHERE type = $1 AND id = $2",
    };
    store_value p[2] = {STORE_V_TEXT(type), STORE_V_TEXT(id)};
    for (int i = 0; i < 4; i++) {
        int rc = store_exec(c, deletes[i], p, 2, NULL, err);
        if (rc) return rc;
    }
    if (!resource) return 0;
    size_t n;
    const fhir_param_def *defs = fhir_params(&n);
    index_ctx x = {.c = c, .type = type, .id = id, .err = err};
    for (size_t i = 0; i < n && !x.rc; i++) {
        if (strcmp(defs[i].resource_type, type)) continue;
        x.param = defs[i].name;
        x.code_system = defs[i].kind == FHIR_PARAM_TOKEN ? defs[i].targets : NULL;
        char paths[160];
        snprintf(paths, sizeof paths, "%s", defs[i].path);
        for (char *save = NULL, *path = strtok_r(paths, "|", &save); path && !x.rc; path = strtok_r(NULL, "|", &save))
            index_path(&x, defs[i].kind, resource, path);
    }
    return x.rc;
}
