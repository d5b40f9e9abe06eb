/* repo.c - versioned FHIR resource storage (see repo.h for the contract).
 *
 * Tables (owner "fhir"): fhir_resource holds the current version of each (type, id) with the exact
 * JSON served to clients; fhir_history holds every version, ordered by a global sequence that
 * gives history its keyset paging. Index rows are written by fhir_index_write (search.h).
 *
 * The body of a version is stored once: the history row of the current version holds '' (with
 * deleted = 0) and readers take the body from fhir_resource (REPO_HISTORY_BODY); the body moves
 * into its history row when a newer version or a deletion supersedes it. A create (a DMP
 * document's Binary: 30 KB) is then written once, not twice. Rows written before this rule hold
 * their body and read the same way. */
#include "fhir/repo.h"

#include <string.h>

#include "base/buf.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "fhir/elements.h"
#include "fhir/search.h"

static const store_migration fhir_repo_steps[] = {
    {1, "resource and history tables", NULL,
     "CREATE TABLE fhir_resource (type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
     " last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, patient TEXT, body TEXT NOT NULL,"
     " PRIMARY KEY (type, id));"
     "CREATE INDEX fhir_resource_updated ON fhir_resource (type, last_updated, id);"
     "CREATE INDEX fhir_resource_patient ON fhir_resource (patient) WHERE patient IS NOT NULL;"
     "CREATE TABLE fhir_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, id TEXT NOT NULL,"
     " version INTEGER NOT NULL, last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL, patient TEXT,"
     " body TEXT NOT NULL, UNIQUE (type, id, version));"
     "CREATE INDEX fhir_history_type ON fhir_history (type, seq);",
     "CREATE TABLE fhir_resource (type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
     " version BIGINT NOT NULL, last_updated BIGINT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,"
     " patient TEXT COLLATE \"C\", body TEXT NOT NULL, PRIMARY KEY (type, id));"
     "CREATE INDEX fhir_resource_updated ON fhir_resource (type, last_updated, id);"
     "CREATE INDEX fhir_resource_patient ON fhir_resource (patient) WHERE patient IS NOT NULL;"
     "CREATE TABLE fhir_history (seq BIGSERIAL PRIMARY KEY, type TEXT COLLATE \"C\" NOT NULL,"
     " id TEXT COLLATE \"C\" NOT NULL, version BIGINT NOT NULL, last_updated BIGINT NOT NULL,"
     " deleted INTEGER NOT NULL, patient TEXT COLLATE \"C\", body TEXT NOT NULL, UNIQUE (type, id, version));"
     "CREATE INDEX fhir_history_type ON fhir_history (type, seq);"},
    /* A read by (type, id) is then one B-tree descent instead of the key index plus the table. */
    {2, "current versions keyed by (type, id) without a rowid (SQLite)", NULL,
     "CREATE TABLE fhir_resource_keyed (type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
     " last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, patient TEXT, body TEXT NOT NULL,"
     " PRIMARY KEY (type, id)) WITHOUT ROWID;"
     "INSERT INTO fhir_resource_keyed SELECT type, id, version, last_updated, deleted, patient, body"
     " FROM fhir_resource;"
     "DROP TABLE fhir_resource;"
     "ALTER TABLE fhir_resource_keyed RENAME TO fhir_resource;"
     "CREATE INDEX fhir_resource_updated ON fhir_resource (type, last_updated, id);"
     "CREATE INDEX fhir_resource_patient ON fhir_resource (patient) WHERE patient IS NOT NULL;",
     "SELECT 1;"},
    /* Step 2 undone: a table WITHOUT ROWID keeps whole rows in its interior pages, so a 1 KB
     * Patient left about seven per 4 KB page and a tree seven levels deep (21,000 interior pages
     * for 1M patients), and a 30 KB Binary worse. Rows go back to a rowid table; the (type, id)
     * key is then a small unique index whose interior pages stay in the cache. */
    {3, "current versions in a rowid table again, (type, id) as a unique index (SQLite)", NULL,
     "CREATE TABLE fhir_resource_rows (type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,"
     " last_updated INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, patient TEXT, body TEXT NOT NULL,"
     " PRIMARY KEY (type, id));"
     "INSERT INTO fhir_resource_rows SELECT type, id, version, last_updated, deleted, patient, body"
     " FROM fhir_resource;"
     "DROP TABLE fhir_resource;"
     "ALTER TABLE fhir_resource_rows RENAME TO fhir_resource;"
     "CREATE INDEX fhir_resource_updated ON fhir_resource (type, last_updated, id);"
     "CREATE INDEX fhir_resource_patient ON fhir_resource (patient) WHERE patient IS NOT NULL;",
     "SELECT 1;"},
};

int fhir_repo_migrate(store *s, socle_err *err)
{
    int rc = store_migrate(s, "fhir", fhir_repo_steps, sizeof fhir_repo_steps / sizeof fhir_repo_steps[0], err);
    if (rc) return rc;
    rc = store_migrate(s, "fhir_index", fhir_index_migrations, fhir_index_migrations_count, err);
    store_conn *c = NULL;
    if (!rc && !(rc = store_acquire(s, &c, err))) { /* a bulk load that crashed dropped some */
        socle_err e;
        if (fhir_index_bulk_end(c, &e)) /* another node starting at the same time may have won */
            log_msg(LOG_WARN, "fhir: search indexes not rebuilt here: %s", e.msg);
        store_release(s, c);
    }
    return rc;
}

/* --- validation --- */

/* Elements whose string value must be a FHIR date, dateTime or instant. */
static const char *const repo_date_elements[] = {
    "birthDate", "deceasedDateTime", "date", "issued", "authoredOn", "recorded", "whenHandedOver",
    "whenPrepared", "start", "end", "creation", "effectiveDateTime", "occurrenceDateTime", "dateTime",
    "created", "lastUpdated", NULL,
};

/* Elements that are arrays wherever they appear in R4 (max cardinality *). */
static const char *const repo_array_elements[] = {
    "identifier", "telecom", "address", "contact", "communication", "generalPractitioner", "extension",
    "modifierExtension", "contained", "coding", "given", "line", "prefix", "suffix", "category", "author",
    "content", "securityLabel", "performer", "link", "qualification", "specialty", "alias", "endpoint",
    "profile", "tag", "security", NULL,
};

static int repo_is_array_element(const char *key)
{
    for (int i = 0; repo_array_elements[i]; i++)
        if (!strcmp(key, repo_array_elements[i])) return 1;
    return 0;
}

static int repo_is_date_element(const char *key)
{
    for (int i = 0; repo_date_elements[i]; i++)
        if (!strcmp(key, repo_date_elements[i])) return 1;
    return 0;
}

static int repo_valid_element_name(const char *key)
{
    if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z') || *key == '_')) return 0;
    for (const char *p = key + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return key[0] && strlen(key) <= 64;
}

/* Walk the JSON; `path` holds the FHIRPath-like location for messages. */
static int repo_validate_value(const json_t *v, const char *key, socle_buf *path, socle_err *err, int in_array)
{
    static const char *const string_elements[] = {"gender", "birthDate", "family", "system", "reference",
                                                  "display", "status", NULL};
    static const char *const boolean_elements[] = {"active", "deceasedBoolean", "multipleBirthBoolean", NULL};
    for (int i = 0; key && !json_is_array(v) && string_elements[i]; i++)
        if (!strcmp(key, string_elements[i]) && !json_is_string(v))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s must be a string", path->data);
    for (int i = 0; key && !json_is_array(v) && boolean_elements[i]; i++)
        if (!strcmp(key, boolean_elements[i]) && !json_is_boolean(v))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s must be true or false", path->data);
    if (key && !in_array && !json_is_array(v) && repo_is_array_element(key))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s must be an array", path->data);
    switch (json_typeof(v)) {
    case JSON_NULL:
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: null is not allowed in FHIR JSON", path->data);
    case JSON_STRING:
        if (json_string_length(v) == 0)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: empty strings are not allowed", path->data);
        if (key && !strcmp(key, "gender")) {
            const char *g = json_string_value(v);
            if (strcmp(g, "male") && strcmp(g, "female") && strcmp(g, "other") && strcmp(g, "unknown"))
                return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s must be male, female, other or unknown",
                                    path->data);
        }
        if (key && repo_is_date_element(key)) {
            int64_t lo, hi;
            socle_err derr;
            if (time_parse_fhir(json_string_value(v), &lo, &hi, &derr))
                return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: %s", path->data, derr.msg);
            if (!strcmp(key, "birthDate") && !time_valid_fhir_date(json_string_value(v)))
                return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s must be a date (YYYY, YYYY-MM or YYYY-MM-DD)",
                                    path->data);
        }
        return 0;
    case JSON_ARRAY: {
        if (json_array_size(v) == 0)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: empty arrays are not allowed", path->data);
        size_t i, len = path->len;
        const json_t *item;
        json_array_foreach(v, i, item) {
            if (json_is_array(item))
                return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: arrays of arrays are not FHIR",
                                    path->data);
            buf_printf(path, "[%zu]", i);
            int rc = repo_validate_value(item, key, path, err, 1);
            path->len = len;
            path->data[len] = 0;
            if (rc) return rc;
        }
        return 0;
    }
    case JSON_OBJECT: {
        if (json_object_size(v) == 0)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: empty objects are not allowed", path->data);
        const char *k;
        const json_t *item;
        size_t len = path->len;
        json_object_foreach((json_t *)v, k, item) {
            buf_putc(path, '.');
            buf_puts(path, k);
            int rc;
            if (!repo_valid_element_name(k))
                rc = socle_err_at(err, SOCLE_EUNPROCESSABLE, path->data, "%s: not a valid element name", path->data);
            else
                rc = repo_validate_value(item, k, path, err, 0);
            path->len = len;
            path->data[len] = 0;
            if (rc) return rc;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int fhir_repo_validate(const char *type, const json_t *resource, socle_err *err)
{
    if (!json_is_object(resource))
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the body is not a FHIR resource (a JSON object)");
    const char *rt = json_string_value(json_object_get(resource, "resourceType"));
    if (!rt) return socle_err_at(err, SOCLE_EUNPROCESSABLE, "resourceType", "resourceType is missing");
    if (strcmp(rt, type))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "resourceType",
                            "resourceType does not match the type of the URL (%s)", type);
    const json_t *id = json_object_get(resource, "id");
    if (id && (!json_is_string(id) || !id_fhir_valid(json_string_value(id))))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "id", "%s.id is not a valid id ([A-Za-z0-9-.]{1,64})", type);
    /* Every element must be one R4 defines for this type, with the right JSON form (elements.c,
     * generated from the R4 schema); the walk below adds socle's stricter rules. */
    int rc = fhir_validate_elements(type, resource, err);
    if (rc) return rc;
    socle_buf path = SOCLE_BUF_INIT;
    buf_puts(&path, type);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)resource, k, v) {
        if (!strcmp(k, "resourceType") || !strcmp(k, "meta")) continue;
        size_t len = path.len;
        buf_putc(&path, '.');
        buf_puts(&path, k);
        if (!repo_valid_element_name(k))
            rc = socle_err_at(err, SOCLE_EUNPROCESSABLE, path.data, "%s: not a valid element name", path.data);
        else if (!strcmp(k, "name") && !json_is_array(v) && (!strcmp(type, "Patient") || !strcmp(type, "Practitioner")))
            rc = socle_err_at(err, SOCLE_EUNPROCESSABLE, path.data, "%s must be an array of HumanName", path.data);
        if (!rc) rc = repo_validate_value(v, k, &path, err, 0);
        path.len = len;
        path.data[len] = 0;
        if (rc) break;
    }
    if (!rc && !buf_ok(&path)) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    buf_free(&path);
    return rc;
}

/* Rebuild the object as resourceType, id, meta (server's versionId/lastUpdated, the client's other
 * meta elements kept), then the remaining elements in their order. */
static json_t *repo_with_meta(const char *type, const char *id, json_t *resource, int64_t version, int64_t now_ms)
{
    json_t *out = json_object();
    json_object_set_new(out, "resourceType", json_string(type));
    json_object_set_new(out, "id", json_string(id));
    json_t *meta = json_object();
    char vs[24], instant[32];
    snprintf(vs, sizeof vs, "%lld", (long long)version);
    json_object_set_new(meta, "versionId", json_string(vs));
    json_object_set_new(meta, "lastUpdated", json_string(time_format_instant(now_ms, instant)));
    json_t *old_meta = json_object_get(resource, "meta");
    if (json_is_object(old_meta)) {
        const char *k;
        json_t *v;
        json_object_foreach(old_meta, k, v) {
            if (strcmp(k, "versionId") && strcmp(k, "lastUpdated")) json_object_set(meta, k, v);
        }
    }
    json_object_set_new(out, "meta", meta);
    const char *k;
    json_t *v;
    json_object_foreach(resource, k, v) {
        if (strcmp(k, "resourceType") && strcmp(k, "id") && strcmp(k, "meta")) json_object_set(out, k, v);
    }
    return out;
}

static const char *repo_copy(arena *a, const char *s, size_t n)
{
    return s ? arena_strndup(a, s, n) : NULL;
}

/* The body of history row h: its own, or the current row's while h is the current version. */
#define REPO_HISTORY_BODY                                                                          \
    "CASE WHEN h.body = '' AND h.deleted = 0 THEN (SELECT r.body FROM fhir_resource r"              \
    " WHERE r.type = h.type AND r.id = h.id) ELSE h.body END"

/* Before version `current` of type/id stops being current: its body into its history row. */
static int repo_keep_superseded(store_conn *c, const char *type, const char *id, int64_t current, socle_err *err)
{
    store_value p[3] = {STORE_V_TEXT(type), STORE_V_TEXT(id), STORE_V_INT(current)};
    return store_exec(c,
                      "UPDATE fhir_history SET body = (SELECT r.body FROM fhir_resource r WHERE r.type = $1"
                      " AND r.id = $2) WHERE type = $1 AND id = $2 AND version = $3 AND deleted = 0 AND body = ''",
                      p, 3, NULL, err);
}

/* The stored form of version `version` of type/id: meta set, JSON text, patient; no database. */
static int repo_build(const char *type, const char *id, json_t *resource, int64_t version, fhir_prepared *out,
                      socle_err *err)
{
    memset(out, 0, sizeof *out);
    const fhir_type *t = fhir_type_find(type);
    if (!t) return socle_err_set(err, SOCLE_ENOTFOUND, "unknown resource type %s", type);
    out->type = type;
    out->id = id;
    out->version = version;
    out->now = time_now_ms();
    out->stored = repo_with_meta(type, id, resource, version, out->now);
    out->body = (socle_buf)SOCLE_BUF_INIT;
    if (!out->stored) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    fhir_json_dump(out->stored, &out->body);
    out->has_patient = fhir_resource_patient(t, id, out->stored, out->patient, sizeof out->patient);
    if (buf_ok(&out->body)) return 0;
    fhir_repo_prepared_free(out);
    return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
}

void fhir_repo_prepared_free(fhir_prepared *pr)
{
    if (!pr) return;
    buf_free(&pr->body);
    json_decref(pr->stored);
    pr->stored = NULL;
}

/* Write a built version: current row (updated when `exists`), history row, index rows. */
static int repo_store(store_conn *c, const fhir_prepared *pr, int exists, unsigned flags, arena *a,
                      fhir_stored *out, socle_err *err)
{
    const char *type = pr->type, *id = pr->id;
    int64_t version = pr->version;
    store_value p[7] = {STORE_V_TEXT(type), STORE_V_TEXT(id), STORE_V_INT(version), STORE_V_INT(pr->now),
                        pr->has_patient ? STORE_V_TEXT(pr->patient) : STORE_V_NULL,
                        STORE_V_TEXTN(pr->body.data, pr->body.len)};
    int rc = 0;
    if (exists) rc = repo_keep_superseded(c, type, id, version - 1, err);
    if (!rc && exists)
        rc = store_exec(c,
                        "UPDATE fhir_resource SET version = $3, last_updated = $4, deleted = 0, patient = $5, body = $6"
                        " WHERE type = $1 AND id = $2",
                        p, 6, NULL, err);
    else if (!rc)
        rc = store_exec(c,
                        "INSERT INTO fhir_resource (type, id, version, last_updated, deleted, patient, body)"
                        " VALUES ($1, $2, $3, $4, 0, $5, $6)",
                        p, 6, NULL, err);
    if (rc == SOCLE_ECONFLICT) socle_err_set(err, SOCLE_ECONFLICT, "%s/%s already exists", type, id);
    if (!rc)
        rc = store_exec(c,
                        "INSERT INTO fhir_history (type, id, version, last_updated, deleted, patient, body)"
                        " VALUES ($1, $2, $3, $4, 0, $5, '')",
                        p, 5, NULL, err);
    if (!rc && !(flags & FHIR_REPO_UNINDEXED)) rc = fhir_index_write(c, type, id, pr->stored, err);
    if (!rc && out) {
        out->type = arena_strdup(a, type);
        out->id = arena_strdup(a, id);
        out->body = repo_copy(a, pr->body.data, pr->body.len);
        out->body_len = pr->body.len;
        out->version = version;
        out->last_updated_ms = pr->now;
        out->deleted = 0;
        out->patient_id = pr->has_patient ? arena_strdup(a, pr->patient) : NULL;
    }
    return rc;
}

/* Write version `version` of type/id: current row, history row, index rows. */
static int repo_write(store_conn *c, const char *type, const char *id, json_t *resource, int64_t version, int exists,
                      unsigned flags, arena *a, fhir_stored *out, socle_err *err)
{
    fhir_prepared pr;
    int rc = repo_build(type, id, resource, version, &pr, err);
    if (rc) return rc;
    rc = repo_store(c, &pr, exists, flags, a, out, err);
    fhir_repo_prepared_free(&pr);
    return rc;
}

int fhir_repo_prepare(const char *type, const char *id, json_t *resource, fhir_prepared *out, socle_err *err)
{
    memset(out, 0, sizeof *out);
    if (!id) return socle_err_set(err, SOCLE_EINTERNAL, "fhir_repo_prepare: an id is required");
    int rc = fhir_repo_validate(type, resource, err);
    return rc ? rc : repo_build(type, id, resource, 1, out, err);
}

int fhir_repo_create_prepared(store_conn *c, const fhir_prepared *pr, unsigned flags, arena *a, fhir_stored *out,
                              socle_err *err)
{
    return repo_store(c, pr, 0, flags, a, out, err);
}

/* Current version and deletion flag of type/id, locking the row on PostgreSQL. 0 when absent. */
static int repo_current(store_conn *c, const char *type, const char *id, int64_t *version, int *deleted,
                        socle_err *err)
{
    const char *sql = store_conn_engine(c) == STORE_POSTGRES
                          ? "SELECT version, deleted FROM fhir_resource WHERE type = $1 AND id = $2 FOR UPDATE"
                          : "SELECT version, deleted FROM fhir_resource WHERE type = $1 AND id = $2";
    store_value p[2] = {STORE_V_TEXT(type), STORE_V_TEXT(id)};
    store_rows *r;
    int rc = store_query(c, sql, p, 2, &r, err);
    if (rc) return rc;
    *version = 0;
    *deleted = 0;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        *version = store_rows_int(r, 0);
        *deleted = (int)store_rows_int(r, 1);
        rc = 0;
    }
    store_rows_free(r);
    return rc;
}

int fhir_repo_create(store_conn *c, const char *type, const char *id, json_t *resource, arena *a, fhir_stored *out,
                     socle_err *err)
{
    return fhir_repo_create_ex(c, type, id, resource, 0, a, out, err);
}

int fhir_repo_create_ex(store_conn *c, const char *type, const char *id, json_t *resource, unsigned flags, arena *a,
                        fhir_stored *out, socle_err *err)
{
    char fresh[37];
    int rc = fhir_repo_validate(type, resource, err);
    if (rc) return rc;
    if (!id) id = id_uuid(fresh);
    return repo_write(c, type, id, resource, 1, 0, flags, a, out, err);
}

int fhir_repo_update(store_conn *c, const char *type, const char *id, json_t *resource, int64_t if_match, arena *a,
                     fhir_stored *out, int *created, socle_err *err)
{
    return fhir_repo_update_ex(c, type, id, resource, if_match, 0, a, out, created, err);
}

int fhir_repo_update_ex(store_conn *c, const char *type, const char *id, json_t *resource, int64_t if_match,
                        unsigned flags, arena *a, fhir_stored *out, int *created, socle_err *err)
{
    int rc = fhir_repo_validate(type, resource, err);
    if (rc) return rc;
    const char *body_id = json_string_value(json_object_get(resource, "id"));
    if (!body_id) return socle_err_at(err, SOCLE_EINVAL, "id", "an update must carry the resource id in its body");
    if (strcmp(body_id, id))
        return socle_err_at(err, SOCLE_EINVAL, "id", "the id in the body does not match the id in the URL");
    int64_t version;
    int deleted;
    rc = repo_current(c, type, id, &version, &deleted, err);
    if (rc) return rc;
    if (if_match > 0 && (version != if_match || deleted))
        return socle_err_set(err, SOCLE_EPRECONDITION, "version conflict: If-Match W/\"%lld\" but the current version is %lld",
                             (long long)if_match, (long long)version);
    if (created) *created = version == 0 || deleted;
    return repo_write(c, type, id, resource, version + 1, version > 0, flags, a, out, err);
}

int fhir_repo_delete(store_conn *c, const char *type, const char *id, arena *a, fhir_stored *out, int *existed,
                     socle_err *err)
{
    int64_t version;
    int deleted;
    int rc = repo_current(c, type, id, &version, &deleted, err);
    if (rc) return rc;
    *existed = version > 0 && !deleted;
    if (!*existed) return 0;
    int64_t now = time_now_ms();
    store_value p[4] = {STORE_V_TEXT(type), STORE_V_TEXT(id), STORE_V_INT(version + 1), STORE_V_INT(now)};
    rc = repo_keep_superseded(c, type, id, version, err);
    if (!rc)
        rc = store_exec(c,
                    "UPDATE fhir_resource SET version = $3, last_updated = $4, deleted = 1, body = ''"
                    " WHERE type = $1 AND id = $2",
                    p, 4, NULL, err);
    if (!rc)
        rc = store_exec(c,
                        "INSERT INTO fhir_history (type, id, version, last_updated, deleted, patient, body)"
                        " SELECT $1, $2, $3, $4, 1, patient, '' FROM fhir_resource WHERE type = $1 AND id = $2",
                        p, 4, NULL, err);
    if (!rc) rc = fhir_index_write(c, type, id, NULL, err);
    if (!rc && out) {
        memset(out, 0, sizeof *out);
        out->type = arena_strdup(a, type);
        out->id = arena_strdup(a, id);
        out->body = "";
        out->version = version + 1;
        out->last_updated_ms = now;
        out->deleted = 1;
    }
    return rc;
}

int fhir_repo_read(store_conn *c, const char *type, const char *id, int64_t version, arena *a, fhir_stored *out,
                   socle_err *err)
{
    store_value p[3] = {STORE_V_TEXT(type), STORE_V_TEXT(id), STORE_V_INT(version)};
    const char *sql = version > 0 ? "SELECT h.version, h.last_updated, h.deleted, h.patient, " REPO_HISTORY_BODY
                                    " FROM fhir_history h WHERE h.type = $1 AND h.id = $2 AND h.version = $3"
                                  : "SELECT version, last_updated, deleted, patient, body FROM fhir_resource"
                                    " WHERE type = $1 AND id = $2";
    store_rows *r;
    int rc = store_query(c, sql, p, version > 0 ? 3 : 2, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        size_t len = 0, plen = 0;
        const char *body = store_rows_text(r, 4, &len);
        const char *patient = store_rows_text(r, 3, &plen);
        out->type = type;
        out->id = id;
        out->version = store_rows_int(r, 0);
        out->last_updated_ms = store_rows_int(r, 1);
        out->deleted = (int)store_rows_int(r, 2);
        out->patient_id = repo_copy(a, patient, plen);
        out->body = repo_copy(a, body ? body : "", len);
        out->body_len = len;
        rc = out->body ? 0 : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        if (!rc && out->deleted) rc = socle_err_set(err, SOCLE_EGONE, "%s/%s was deleted", type, id);
    } else if (rc == 0) {
        rc = version > 0 ? socle_err_set(err, SOCLE_ENOTFOUND, "%s/%s has no version %lld", type, id, (long long)version)
                         : socle_err_set(err, SOCLE_ENOTFOUND, "%s/%s is not known", type, id);
    }
    store_rows_free(r);
    return rc;
}

int fhir_repo_history(store_conn *c, const fhir_history_query *q, arena *a, fhir_stored **out, size_t *n,
                      int64_t *next_seq, socle_err *err)
{
    int64_t before = q->before_seq > 0 ? q->before_seq : INT64_MAX;
    store_value p[5] = {STORE_V_INT(before), STORE_V_INT(q->since_ms), STORE_V_INT(q->count + 1),
                        STORE_V_TEXT(q->type), STORE_V_TEXT(q->id)};
    const char *sql;
    int np = 3;
    if (q->type && q->id) {
        sql = "SELECT h.seq, h.type, h.id, h.version, h.last_updated, h.deleted, h.patient, " REPO_HISTORY_BODY
              " FROM fhir_history h"
              " WHERE h.type = $4 AND h.id = $5 AND h.seq < $1 AND h.last_updated >= $2 ORDER BY h.seq DESC LIMIT $3";
        np = 5;
    } else if (q->type) {
        sql = "SELECT h.seq, h.type, h.id, h.version, h.last_updated, h.deleted, h.patient, " REPO_HISTORY_BODY
              " FROM fhir_history h"
              " WHERE h.type = $4 AND h.seq < $1 AND h.last_updated >= $2 ORDER BY h.seq DESC LIMIT $3";
        np = 4;
    } else {
        sql = "SELECT h.seq, h.type, h.id, h.version, h.last_updated, h.deleted, h.patient, " REPO_HISTORY_BODY
              " FROM fhir_history h"
              " WHERE h.seq < $1 AND h.last_updated >= $2 ORDER BY h.seq DESC LIMIT $3";
    }
    store_rows *r;
    int rc = store_query(c, sql, p, np, &r, err);
    if (rc) return rc;
    fhir_stored *items = arena_zalloc(a, sizeof *items * (size_t)(q->count + 1));
    size_t count = 0;
    int64_t last_seq = 0;
    *next_seq = 0;
    while ((rc = store_rows_next(r, err)) == 1) {
        if (count == (size_t)q->count) {
            *next_seq = last_seq;
            break;
        }
        fhir_stored *s = &items[count++];
        size_t len, blen, plen;
        last_seq = store_rows_int(r, 0);
        const char *t = store_rows_text(r, 1, &len);
        s->type = repo_copy(a, t, len);
        t = store_rows_text(r, 2, &len);
        s->id = repo_copy(a, t, len);
        s->version = store_rows_int(r, 3);
        s->last_updated_ms = store_rows_int(r, 4);
        s->deleted = (int)store_rows_int(r, 5);
        t = store_rows_text(r, 6, &plen);
        s->patient_id = repo_copy(a, t, plen);
        t = store_rows_text(r, 7, &blen);
        s->body = repo_copy(a, t ? t : "", blen);
        s->body_len = blen;
    }
    store_rows_free(r);
    if (rc < 0) return rc;
    *out = items;
    *n = count;
    return 0;
}

int fhir_repo_each(store_conn *c, const char *type, int (*fn)(void *ctx, const char *id, const char *body, size_t len),
                   void *ctx, socle_err *err)
{
    store_value p = STORE_V_TEXT(type);
    store_rows *r;
    int rc = store_query(c, "SELECT id, body FROM fhir_resource WHERE type = $1 AND deleted = 0 ORDER BY id", &p, 1, &r,
                         err);
    if (rc) return rc;
    int stop = 0;
    while ((rc = store_rows_next(r, err)) == 1) {
        size_t len = 0;
        const char *id = store_rows_text(r, 0, NULL);
        const char *body = store_rows_text(r, 1, &len);
        if ((stop = fn(ctx, id ? id : "", body ? body : "", len))) break;
    }
    store_rows_free(r);
    return stop ? stop : rc < 0 ? rc : 0;
}

int fhir_repo_referencing(store_conn *c, const char *target_type, const char *target_id, arena *a, const char ***out,
                          size_t *n, socle_err *err)
{
    store_value p[2] = {STORE_V_TEXT(target_type), STORE_V_TEXT(target_id)};
    store_rows *r;
    *out = NULL;
    *n = 0;
    int rc = store_query(c,
                         "SELECT DISTINCT type, id FROM fhir_index_reference WHERE target_type = $1 AND target_id = $2"
                         " ORDER BY type, id",
                         p, 2, &r, err);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = store_rows_next(r, err)) == 1) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            const char **grown = arena_alloc(a, ncap * sizeof *grown);
            if (!grown) {
                rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
                break;
            }
            if (*n) memcpy(grown, *out, *n * sizeof *grown);
            *out = grown;
            cap = ncap;
        }
        (*out)[(*n)++] = arena_printf(a, "%s/%s", store_rows_text(r, 0, NULL), store_rows_text(r, 1, NULL));
    }
    store_rows_free(r);
    return rc < 0 ? rc : 0;
}
