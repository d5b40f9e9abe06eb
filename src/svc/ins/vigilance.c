/* vigilance.c - the identitovigilance cell's (CIV) tools on the local identity repository:
 * potential duplicates, merge (fusion) and unmerge (défusion).
 *
 * Duplicates: every Patient's traits are normalised (traits.h) and grouped by blocking keys —
 * phonetic key of the birth name + birth date, first birth first name + birth date, phonetic key +
 * the birth date with day and month swapped (a classic typing error) — and each pair that shares
 * a block is scored (0-100): birth name equal 30 (same phonetic key 20), first name equal 25 (in
 * the other's list 15), birth date equal 25 (day/month swapped 15), sex equal 10, birth place equal
 * 10. Pairs at or above the threshold are listed, best first. A scan of the repository: a batch
 * tool for the CIV, not a per-request check.
 *
 * Merge: the survivor keeps its identity; every resource that referred to the other Patient now
 * refers to the survivor (new versions, audited); the other becomes inactive with
 * link replaced-by the survivor, and the survivor gets link replaces. The merge is recorded
 * (ins_merge) with what was re-pointed, so that it can be undone within ins_unmerge_window_hours:
 * the references go back and the links are removed. Both are for the "civ" role (and admin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "base/timeutil.h"
#include "svc/ins/ins_internal.h"
#include "svc/ins/phonetic.h"
#include "svc/ins/traits.h"

static const store_migration ins_merge_steps[] = {
    {1, "identity merges",
     "CREATE TABLE ins_merge (id TEXT NOT NULL PRIMARY KEY, survivor TEXT NOT NULL, merged TEXT NOT NULL,"
     " time_ms BIGINT NOT NULL, repointed TEXT NOT NULL, undone_ms BIGINT NOT NULL DEFAULT 0);",
     NULL, NULL},
};

int ins_vigilance_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "ins_merge", ins_merge_steps, 1, err);
}

/* --- duplicates --- */

typedef struct vig_person {
    char *id;
    char name[104], phonetic[64], first[256], sex[2], date[11], swapped[11];
} vig_person;

typedef struct vig_scan {
    vig_person *people;
    size_t n, cap;
} vig_scan;

static int vig_collect(void *ctx, const char *id, const char *body, size_t len)
{
    vig_scan *s = ctx;
    json_t *p = json_loadb(body, len, 0, NULL);
    if (!p) return 0;
    vig_person v;
    memset(&v, 0, sizeof v);
    socle_err ignored;
    const json_t *name = NULL, *n;
    size_t i;
    json_array_foreach(json_object_get(p, "name"), i, n) {
        const char *use = json_string_value(json_object_get(n, "use"));
        if (!name || (use && !strcmp(use, "official"))) name = n;
    }
    const char *family = json_string_value(json_object_get(name, "family"));
    const char *given = json_string_value(json_array_get(json_object_get(name, "given"), 0));
    const char *birth = json_string_value(json_object_get(p, "birthDate"));
    const char *gender = json_string_value(json_object_get(p, "gender"));
    int merged = 0;
    const json_t *l;
    json_array_foreach(json_object_get(p, "link"), i, l) {
        const char *t = json_string_value(json_object_get(l, "type"));
        merged |= t && !strcmp(t, "replaced-by");
    }
    int ok = !merged && family && birth && strlen(birth) == 10 && !ins_normalize_name(family, v.name, sizeof v.name, &ignored);
    if (ok && given && ins_normalize_first_names(given, v.first, sizeof v.first, &ignored)) v.first[0] = 0;
    if (ok) {
        ins_phonetic_key(v.name, v.phonetic, sizeof v.phonetic);
        snprintf(v.date, sizeof v.date, "%s", birth);
        snprintf(v.swapped, sizeof v.swapped, "%.4s-%.2s-%.2s", birth, birth + 8, birth + 5);
        v.sex[0] = gender && !strcmp(gender, "male") ? 'M' : gender && !strcmp(gender, "female") ? 'F' : 0;
        v.id = strdup(id);
    }
    json_decref(p);
    if (!ok || !v.id) return 0;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        vig_person *grown = realloc(s->people, ncap * sizeof *grown);
        if (!grown) {
            free(v.id);
            return SOCLE_ENOMEM;
        }
        s->people = grown;
        s->cap = ncap;
    }
    s->people[s->n++] = v;
    return 0;
}

typedef struct vig_block {
    char key[400];
    size_t person;
} vig_block;

static int vig_block_cmp(const void *a, const void *b)
{
    const vig_block *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->person > y->person) - (x->person < y->person);
}

static int vig_pair_cmp(const void *a, const void *b)
{
    const ins_duplicate *x = a, *y = b;
    if (x->score != y->score) return y->score - x->score;
    int c = strcmp(x->first, y->first);
    return c ? c : strcmp(x->second, y->second);
}

static int vig_score(const vig_person *a, const vig_person *b, char *why, size_t n)
{
    int score = 0;
    size_t len = 0;
#define VIG_WHY(s) (len += (size_t)snprintf(why + len, len < n ? n - len : 0, "%s%s", len ? "," : "", s))
    if (!strcmp(a->name, b->name)) score += 30, VIG_WHY("nomNaissance");
    else if (!strcmp(a->phonetic, b->phonetic)) score += 20, VIG_WHY("nomPhonetique");
    char first_a[256];
    snprintf(first_a, sizeof first_a, "%.*s", (int)strcspn(a->first, " "), a->first);
    if (a->first[0] && !strcmp(a->first, b->first)) score += 25, VIG_WHY("prenoms");
    else if (first_a[0] && ins_first_name_in_list(first_a, b->first)) score += 15, VIG_WHY("prenom");
    if (!strcmp(a->date, b->date)) score += 30, VIG_WHY("dateNaissance");
    else if (!strcmp(a->swapped, b->date)) score += 15, VIG_WHY("dateNaissanceInversee");
    if (a->sex[0] && a->sex[0] == b->sex[0]) score += 15, VIG_WHY("sexe");
#undef VIG_WHY
    return score;
}

int ins_duplicates(store_conn *c, int min_score, ins_duplicate **out, size_t *count, socle_err *err)
{
    vig_scan s = {0};
    *out = NULL;
    *count = 0;
    int rc = fhir_repo_each(c, "Patient", vig_collect, &s, err);
    if (rc == SOCLE_ENOMEM) socle_err_set(err, rc, "out of memory");
    vig_block *blocks = NULL;
    size_t nb = 0, npairs = 0, cap = 0;
    ins_duplicate *pairs = NULL;
    if (!rc && s.n && !(blocks = malloc(s.n * 3 * sizeof *blocks))) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < s.n; i++) {
        const vig_person *p = &s.people[i];
        char first[256];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(p->first, " "), p->first);
        snprintf(blocks[nb].key, sizeof blocks[nb].key, "P|%s|%s", p->phonetic, p->date);
        blocks[nb++].person = i;
        if (first[0]) {
            snprintf(blocks[nb].key, sizeof blocks[nb].key, "F|%s|%s", first, p->date);
            blocks[nb++].person = i;
        }
        /* The swapped date goes in the other person's "P" block. */
        if (strcmp(p->swapped, p->date) && p->swapped[8] <= '3') {
            snprintf(blocks[nb].key, sizeof blocks[nb].key, "P|%s|%s", p->phonetic, p->swapped);
            blocks[nb++].person = i;
        }
    }
    if (!rc) qsort(blocks, nb, sizeof *blocks, vig_block_cmp);
    for (size_t i = 0; !rc && i < nb;) {
        size_t j = i;
        while (j < nb && !strcmp(blocks[j].key, blocks[i].key)) j++;
        /* Blocks of hundreds are common names on a common date: scored pairwise still, capped. */
        for (size_t x = i; !rc && x < j && x < i + 200; x++)
            for (size_t y = x + 1; !rc && y < j && y < i + 200; y++) {
                const vig_person *a = &s.people[blocks[x].person], *b = &s.people[blocks[y].person];
                if (a == b) continue;
                if (strcmp(a->id, b->id) > 0) {
                    const vig_person *t = a;
                    a = b;
                    b = t;
                }
                ins_duplicate d;
                memset(&d, 0, sizeof d);
                d.score = vig_score(a, b, d.criteria, sizeof d.criteria);
                if (d.score < min_score) continue;
                snprintf(d.first, sizeof d.first, "%s", a->id);
                snprintf(d.second, sizeof d.second, "%s", b->id);
                if (npairs == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    ins_duplicate *grown = realloc(pairs, ncap * sizeof *grown);
                    if (!grown) {
                        rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
                        break;
                    }
                    pairs = grown;
                    cap = ncap;
                }
                pairs[npairs++] = d;
            }
        i = j;
    }
    /* The same pair can share several blocks: keep it once. */
    if (!rc && npairs) {
        qsort(pairs, npairs, sizeof *pairs, vig_pair_cmp);
        size_t k = 0;
        for (size_t i = 0; i < npairs; i++) /* sorted: a repeated pair follows the one it repeats */
            if (!k || vig_pair_cmp(&pairs[k - 1], &pairs[i])) pairs[k++] = pairs[i];
        npairs = k;
    }
    for (size_t i = 0; i < s.n; i++) free(s.people[i].id);
    free(s.people);
    free(blocks);
    if (rc) {
        free(pairs);
        return rc < 0 ? rc : socle_err_set(err, SOCLE_ESTORE, "cannot read the repository");
    }
    *out = pairs;
    *count = npairs;
    return 0;
}

/* --- merge and unmerge --- */

/* A reference to Patient/<id> on this server: relative, or absolute under our own FHIR base. */
static int vig_refers_to(const char *ref, const char *base, const char *rel)
{
    if (!strcmp(ref, rel)) return 1;
    size_t bl = strlen(base);
    return !strncmp(ref, base, bl) && ref[bl] == '/' && !strcmp(ref + bl + 1, rel);
}

/* Point every reference to `from` at `to`, appending the JSON path of each change to paths
 * ("/subject/reference", "/entry/0/item/reference"): the unmerge reverts exactly those. */
static int vig_repoint(json_t *v, const char *base, const char *from, const char *to, char *path, size_t len, size_t cap,
                       json_t *paths)
{
    int n = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *item;
        json_object_foreach(v, k, item) {
            size_t l = len + (size_t)snprintf(path + len, len < cap ? cap - len : 0, "/%s", k);
            if (l >= cap) continue;
            const char *ref = json_string_value(item);
            if (!strcmp(k, "reference") && ref && vig_refers_to(ref, base, from)) {
                json_object_set_new(v, k, json_string(to));
                json_array_append_new(paths, json_string(path));
                n++;
            } else {
                n += vig_repoint(item, base, from, to, path, l, cap, paths);
            }
            path[len] = 0;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            size_t l = len + (size_t)snprintf(path + len, len < cap ? cap - len : 0, "/%zu", i);
            if (l < cap) n += vig_repoint(item, base, from, to, path, l, cap, paths);
            path[len] = 0;
        }
    }
    return n;
}

/* Set the reference at a path written by vig_repoint back to `to` when it still holds `from`. */
static int vig_revert(json_t *v, const char *path, const char *base, const char *from, const char *to)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL, *part = strtok_r(buf, "/", &save);
    json_t *cur = v, *parent = NULL;
    const char *key = NULL;
    while (part && cur) {
        parent = cur;
        key = part;
        if (json_is_array(cur)) cur = json_array_get(cur, strtoul(part, NULL, 10));
        else cur = json_object_get(cur, part);
        part = strtok_r(NULL, "/", &save);
    }
    const char *ref = json_string_value(cur);
    if (!ref || !json_is_object(parent) || strcmp(key, "reference") || !vig_refers_to(ref, base, from)) return 0;
    json_object_set_new(parent, "reference", json_string(to));
    return 1;
}

static int vig_load(store_conn *c, const char *type_id, arena *a, json_t **out, socle_err *err)
{
    char type[64], id[128];
    const char *slash = strchr(type_id, '/');
    if (!slash || (size_t)(slash - type_id) >= sizeof type) return socle_err_set(err, SOCLE_EINTERNAL, "bad reference");
    snprintf(type, sizeof type, "%.*s", (int)(slash - type_id), type_id);
    snprintf(id, sizeof id, "%s", slash + 1);
    fhir_stored s;
    int rc = fhir_repo_read(c, type, id, 0, a, &s, err);
    if (rc) return rc;
    *out = json_loadb(s.body, s.body_len, 0, NULL);
    return *out ? 0 : socle_err_set(err, SOCLE_EINTERNAL, "stored %s is not JSON", type_id);
}

static int vig_store(ins_service *ins, store_conn *c, const auth_subject *who, const char *type_id, json_t *res,
                     const char *detail, arena *a, socle_err *err)
{
    char type[64];
    const char *slash = strchr(type_id, '/');
    snprintf(type, sizeof type, "%.*s", (int)(slash - type_id), type_id);
    fhir_stored s;
    int created = 0;
    int rc = fhir_repo_update(c, type, slash + 1, res, 0, a, &s, &created, err);
    if (rc) return rc;
    audit_event e = {.action = "update", .outcome = "success", .agent_kind = auth_kind_name(who->kind),
                     .agent_id = who->sub, .structure = who->structure[0] ? who->structure : NULL,
                     .resource_type = type, .resource_id = slash + 1, .patient_id = s.patient_id, .detail = detail};
    return audit_append_tx(ins->app->audit, c, &e, err);
}

/* Add the link (type, other), or remove it (add = 0); other links are left alone. */
static void vig_link(json_t *patient, const char *type, const char *other, int add)
{
    json_t *links = json_object_get(patient, "link");
    for (size_t i = json_array_size(links); i-- > 0;) {
        json_t *l = json_array_get(links, i);
        const char *t = json_string_value(json_object_get(l, "type"));
        const char *o = json_string_value(json_object_get(json_object_get(l, "other"), "reference"));
        if (t && o && !strcmp(t, type) && !strcmp(o, other)) json_array_remove(links, i);
    }
    if (add) {
        if (!links) json_object_set_new(patient, "link", links = json_array());
        json_array_append_new(links, json_pack("{s:{s:s},s:s}", "other", "reference", other, "type", type));
    } else if (links && json_array_size(links) == 0) {
        json_object_del(patient, "link");
    }
}

/* 1 when the Patient was merged into another (inactive, link replaced-by). */
static int vig_is_merged(const json_t *patient)
{
    size_t i;
    const json_t *l;
    json_array_foreach(json_object_get(patient, "link"), i, l) {
        const char *t = json_string_value(json_object_get(l, "type"));
        if (t && !strcmp(t, "replaced-by")) return 1;
    }
    return 0;
}

/* Hold the two Patients for the rest of the transaction, before reading them: on PostgreSQL (READ
 * COMMITTED) two merges of the same duplicate would otherwise both find it unmerged. SQLite's
 * write transaction already runs alone. */
static int vig_lock(store_conn *c, const char *one, const char *other, socle_err *err)
{
    if (store_conn_engine(c) != STORE_POSTGRES) return 0;
    store_value p[2] = {STORE_V_TEXT(one), STORE_V_TEXT(other)};
    store_rows *r;
    int rc = store_query(c,
                         "SELECT id FROM fhir_resource WHERE type = 'Patient' AND id IN ($1, $2) ORDER BY id FOR UPDATE",
                         p, 2, &r, err);
    if (rc) return rc;
    while ((rc = store_rows_next(r, err)) == 1) {
    }
    store_rows_free(r);
    return rc;
}

int ins_merge(ins_service *ins, store_conn *c, const auth_subject *who, const char *survivor, const char *merged,
              char merge_id[37], size_t *repointed, socle_err *err)
{
    if (!strcmp(survivor, merged)) return socle_err_set(err, SOCLE_EUNPROCESSABLE, "a Patient cannot be merged into itself");
    arena *a = arena_new(0);
    if (!a) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    json_t *surv = NULL, *dup = NULL, *list = json_array();
    char from[160], to[160], path[512];
    snprintf(from, sizeof from, "Patient/%s", merged);
    snprintf(to, sizeof to, "Patient/%s", survivor);
    id_uuid(merge_id);
    char detail[80];
    snprintf(detail, sizeof detail, "fusion %s", merge_id);
    int rc = vig_lock(c, survivor, merged, err);
    if (!rc) rc = vig_load(c, to, a, &surv, err);
    if (!rc) rc = vig_load(c, from, a, &dup, err);
    if (!rc && vig_is_merged(dup)) rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "Patient/%s is already merged", merged);
    if (!rc && vig_is_merged(surv))
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "Patient/%s was itself merged: it cannot be the survivor", survivor);
    const char **refs = NULL;
    size_t nrefs = 0;
    if (!rc) rc = fhir_repo_referencing(c, "Patient", merged, a, &refs, &nrefs, err);
    *repointed = 0;
    for (size_t i = 0; !rc && i < nrefs; i++) {
        if (!strcmp(refs[i], to)) continue;
        json_t *res = NULL, *paths = json_array();
        path[0] = 0;
        rc = vig_load(c, refs[i], a, &res, err);
        if (rc == SOCLE_EGONE) rc = 0;
        else if (!rc && vig_repoint(res, ins->app->fhir_base, from, to, path, 0, sizeof path, paths) > 0) {
            rc = vig_store(ins, c, who, refs[i], res, detail, a, err);
            json_array_append_new(list, json_pack("{s:s,s:O}", "resource", refs[i], "paths", paths));
            (*repointed)++;
        }
        json_decref(paths);
        json_decref(res);
    }
    if (!rc) {
        vig_link(dup, "replaced-by", to, 1);
        json_object_set_new(dup, "active", json_false());
        rc = vig_store(ins, c, who, from, dup, detail, a, err);
    }
    if (!rc) {
        vig_link(surv, "replaces", from, 1);
        rc = vig_store(ins, c, who, to, surv, detail, a, err);
    }
    if (!rc) {
        char *text = json_dumps(list, JSON_COMPACT);
        store_value p[5] = {STORE_V_TEXT(merge_id), STORE_V_TEXT(survivor), STORE_V_TEXT(merged),
                            STORE_V_INT(time_now_ms()), STORE_V_TEXT(text ? text : "[]")};
        rc = store_exec(c, "INSERT INTO ins_merge (id, survivor, merged, time_ms, repointed) VALUES ($1, $2, $3, $4, $5)",
                        p, 5, NULL, err);
        free(text);
    }
    json_decref(surv);
    json_decref(dup);
    json_decref(list);
    arena_free(a);
    return rc;
}

int ins_unmerge(ins_service *ins, store_conn *c, const auth_subject *who, const char *merge_id, int64_t window_ms,
                size_t *restored, socle_err *err)
{
    store_value p = STORE_V_TEXT(merge_id);
    store_rows *r;
    /* FOR UPDATE on PostgreSQL: two unmerges of one merge must not both find it not undone. */
    int rc = store_query(c,
                         store_conn_engine(c) == STORE_POSTGRES
                             ? "SELECT survivor, merged, time_ms, repointed, undone_ms FROM ins_merge WHERE id = $1 FOR UPDATE"
                             : "SELECT survivor, merged, time_ms, repointed, undone_ms FROM ins_merge WHERE id = $1",
                         &p, 1, &r, err);
    if (rc) return rc;
    char survivor[128] = "", merged[128] = "";
    int64_t when = 0, undone = 0;
    json_t *list = NULL;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        snprintf(survivor, sizeof survivor, "%s", store_rows_text(r, 0, NULL));
        snprintf(merged, sizeof merged, "%s", store_rows_text(r, 1, NULL));
        when = store_rows_int(r, 2);
        list = json_loads(store_rows_text(r, 3, NULL), 0, NULL);
        undone = store_rows_int(r, 4);
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "no merge %s", merge_id);
    }
    store_rows_free(r);
    if (!rc && undone) rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "merge %s was already undone", merge_id);
    if (!rc && time_now_ms() - when > window_ms)
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "merge %s is older than the unmerge window (ins_unmerge_window_hours)",
                           merge_id);
    arena *a = rc ? NULL : arena_new(0);
    if (!rc && !a) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    char from[160], to[160], detail[80];
    snprintf(from, sizeof from, "Patient/%s", survivor);
    snprintf(to, sizeof to, "Patient/%s", merged);
    snprintf(detail, sizeof detail, "defusion %s", merge_id);
    json_t *dup = NULL, *surv = NULL;
    if (!rc) rc = vig_lock(c, survivor, merged, err);
    if (!rc) rc = vig_load(c, from, a, &surv, err);
    if (!rc && vig_is_merged(surv))
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE,
                           "Patient/%s has since been merged into another: undo that merge first", survivor);
    *restored = 0;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        if (rc) break;
        const char *type_id = json_string_value(json_object_get(item, "resource"));
        json_t *res = NULL;
        if (!type_id) continue;
        rc = vig_load(c, type_id, a, &res, err);
        if (rc == SOCLE_EGONE) {
            rc = 0;
            continue;
        }
        int n = 0;
        size_t k;
        json_t *path;
        json_array_foreach(json_object_get(item, "paths"), k, path) {
            if (!rc && json_string_value(path)) n += vig_revert(res, json_string_value(path), ins->app->fhir_base, from, to);
        }
        if (!rc && n > 0) {
            rc = vig_store(ins, c, who, type_id, res, detail, a, err);
            (*restored)++;
        }
        json_decref(res);
    }
    if (!rc) rc = vig_load(c, to, a, &dup, err);
    if (!rc) {
        vig_link(dup, "replaced-by", from, 0);
        json_object_set_new(dup, "active", json_true());
        rc = vig_store(ins, c, who, to, dup, detail, a, err);
    }
    if (!rc) {
        vig_link(surv, "replaces", to, 0);
        rc = vig_store(ins, c, who, from, surv, detail, a, err);
    }
    if (!rc) {
        store_value q[2] = {STORE_V_INT(time_now_ms()), STORE_V_TEXT(merge_id)};
        rc = store_exec(c, "UPDATE ins_merge SET undone_ms = $1 WHERE id = $2", q, 2, NULL, err);
    }
    json_decref(dup);
    json_decref(surv);
    json_decref(list);
    arena_free(a);
    return rc;
}
