/* import.c - the directory import (see import.h): line checks, the in-memory mailbox index, the
 * grouping of a professional's lines, the content digests that make a re-import write only the
 * differences, and the "gone" pass. */
#include "svc/annuaire/import.h"

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "fhir/fhir.h"
#include "fhir/repo.h"
#include "fhir/search.h"
#include "svc/annuaire/extract.h"
#include "svc/annuaire/keys.h"
#include "svc/annuaire/resources.h"

/* Where an entry comes from: the file kind whose re-import may make it gone. */
enum { SOURCE_PS = 1, SOURCE_FINESS = 2 };

static const store_migration annuaire_import_steps[] = {
    {1, "directory entries written by imports", NULL,
     "CREATE TABLE annuaire_entry (type TEXT NOT NULL, id TEXT NOT NULL, source INTEGER NOT NULL,"
     " digest TEXT NOT NULL, PRIMARY KEY (type, id)) WITHOUT ROWID;"
     "CREATE INDEX annuaire_entry_source ON annuaire_entry (source);",
     "CREATE TABLE annuaire_entry (type TEXT COLLATE \"C\" NOT NULL, id TEXT COLLATE \"C\" NOT NULL,"
     " source INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (type, id));"
     "CREATE INDEX annuaire_entry_source ON annuaire_entry (source);"},
};

int annuaire_import_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "annuaire", annuaire_import_steps, 1, err);
}

/* ---- a set of 64-bit keys (hashes of "Type/id", of mailbox addresses) ----------------------- */

typedef struct key_set {
    uint64_t *slots; /* 0 = empty; a key of 0 is stored as 1 */
    size_t mask, n;
} key_set;

static uint64_t key_hash(const char *a, const char *b)
{
    uint64_t h = text_hash(text_hash(text_hash(TEXT_HASH_START, a), "/"), b);
    h ^= h >> 29; /* spread the low bits used for the slot */
    return h ? h : 1;
}

static int key_set_grow(key_set *s)
{
    size_t cap = s->slots ? (s->mask + 1) * 2 : 1024;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return SOCLE_ENOMEM;
    for (size_t i = 0; s->slots && i <= s->mask; i++) {
        if (!s->slots[i]) continue;
        size_t j = (size_t)s->slots[i] & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->mask = cap - 1;
    return 0;
}

/* 1 when key was added, 0 when it was there, SOCLE_ENOMEM. */
static int key_set_add(key_set *s, uint64_t key)
{
    if ((s->n + 1) * 4 > (s->slots ? s->mask + 1 : 0) * 3 && key_set_grow(s)) return SOCLE_ENOMEM;
    size_t i = (size_t)key & s->mask;
    while (s->slots[i]) {
        if (s->slots[i] == key) return 0;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = key;
    s->n++;
    return 1;
}

static int key_set_has(const key_set *s, uint64_t key)
{
    if (!s->slots) return 0;
    size_t i = (size_t)key & s->mask;
    while (s->slots[i]) {
        if (s->slots[i] == key) return 1;
        i = (i + 1) & s->mask;
    }
    return 0;
}

/* ---- the mailboxes of the MSSanté extract -------------------------------------------------- */

typedef struct mailbox {
    const char *type, *address, *idnps, *structure, *service;
} mailbox;

typedef struct mailbox_index {
    arena *strings;
    mailbox *items;
    size_t n, cap;
    mailbox **by_person, **by_structure; /* sorted by idnps (PER), by structure (ORG, APP, CAB) */
    size_t npersons, nstructures;
} mailbox_index;

static int mailbox_person_order(const void *a, const void *b)
{
    return strcmp((*(mailbox *const *)a)->idnps, (*(mailbox *const *)b)->idnps);
}

static int mailbox_structure_order(const void *a, const void *b)
{
    return strcmp((*(mailbox *const *)a)->structure, (*(mailbox *const *)b)->structure);
}

/* The first of the n sorted entries whose key (by person or structure) is key, and how many. */
static mailbox **mailbox_find(mailbox **sorted, size_t n, int by_person, const char *key, size_t *count)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(by_person ? sorted[mid]->idnps : sorted[mid]->structure, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t end = lo;
    while (end < n && !strcmp(by_person ? sorted[end]->idnps : sorted[end]->structure, key)) end++;
    *count = end - lo;
    return sorted + lo;
}

/* ---- the run ------------------------------------------------------------------------------- */

typedef struct import_run {
    socle_app *app;
    store_conn *c;
    arena *scratch;          /* per resource write */
    auth_subject importer;
    unsigned key_flags;
    int max_gone_percent;
    annuaire_import_stats *st;
    void (*progress)(const annuaire_import_stats *st, void *ctx);
    void *progress_ctx;
    int in_tx, batch;
    int has_kind[4];         /* which extracts this run reads */
    key_set seen;            /* "Type/id" produced by this run */
    key_set kept;            /* "Type/id" of rejected lines' professionals and establishments */
    mailbox_index mail;
    FILE *report;            /* of the file being read */
    socle_err *err;
} import_run;

static void reject(import_run *r, uint64_t lineno, const char *why)
{
    r->st->rejected++;
    if (r->report) fprintf(r->report, "line %llu: %s\n", (unsigned long long)lineno, why);
}

static void tick(import_run *r)
{
    if (r->progress && (r->st->lines & 4095) == 0) r->progress(r->st, r->progress_ctx);
}

/* The next line of x that reads as a record (lines rejected as a whole are reported and skipped):
 * 1, 0 at the end, or the reader's error. */
static int next_line(import_run *r, annuaire_extract *x, annuaire_record *rec)
{
    for (;;) {
        socle_err why;
        int got = annuaire_extract_next(x, rec, &why);
        if (!got) return 0;
        r->st->lines++;
        r->st->bytes = annuaire_extract_bytes(x);
        tick(r);
        if (got == SOCLE_EUNPROCESSABLE) {
            reject(r, rec->lineno, why.msg);
            continue;
        }
        return got < 0 ? socle_err_set(r->err, got, "%s", why.msg) : 1;
    }
}

static int batch_commit(import_run *r)
{
    if (!r->in_tx) return 0;
    char detail[128];
    snprintf(detail, sizeof detail, "directory import: %d entries written (resources, or the digests of unchanged ones)",
             r->batch);
    audit_event e = {.action = "annuaire-import", .outcome = "success", .agent_kind = "system",
                     .agent_id = "socle-annuaire-import", .detail = detail};
    int rc = audit_append_tx(r->app->audit, r->c, &e, r->err);
    if (!rc) rc = store_tx_commit(r->c, r->err);
    r->in_tx = 0;
    r->batch = 0;
    return rc;
}

static int batch_begin(import_run *r)
{
    if (r->in_tx) return 0;
    int rc = store_tx_begin(r->c, r->err);
    if (!rc) r->in_tx = 1;
    return rc;
}

/* A resource's digest: "2" and the hex of the first 16 bytes of SHA-256 of its compact JSON in
 * member order (the order this file builds resources in: fhir_json_dump, several times faster than
 * sorting the keys). Digests of earlier versions (32 hex characters, of the JSON with sorted keys:
 * digest_sorted) still say whether a resource is unchanged, once (put). */
#define DIGEST_SIZE 34

static int digest_of(const json_t *res, char out[DIGEST_SIZE])
{
    socle_buf text = SOCLE_BUF_INIT;
    fhir_json_dump(res, &text);
    if (!buf_ok(&text)) {
        buf_free(&text);
        return SOCLE_ENOMEM;
    }
    uint8_t h[32];
    crypto_sha256(text.data, text.len, h);
    buf_free(&text);
    out[0] = '2';
    crypto_hex(h, 16, out + 1);
    return 0;
}

static int digest_sorted(const json_t *res, char out[33])
{
    char *text = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) return SOCLE_ENOMEM;
    uint8_t h[32];
    crypto_sha256(text, strlen(text), h);
    free(text);
    crypto_hex(h, 16, out);
    return 0;
}

/* Write res (taken) unless the stored entry has the same content. lineno names the line of a
 * resource the FHIR checks refuse (a rejected line, not a failure). */
static int put(import_run *r, json_t *res, int source, uint64_t lineno)
{
    const char *type = json_string_value(json_object_get(res, "resourceType"));
    const char *id = json_string_value(json_object_get(res, "id"));
    int rc = key_set_add(&r->seen, key_hash(type, id));
    char digest[DIGEST_SIZE];
    if (rc >= 0) rc = digest_of(res, digest);
    store_rows *rows = NULL;
    int known = 0, same = 0, sorted_same = 0;
    if (!rc) {
        store_value p[2] = {STORE_V_TEXT(type), STORE_V_TEXT(id)};
        rc = store_query(r->c, "SELECT digest, source FROM annuaire_entry WHERE type = $1 AND id = $2", p, 2, &rows,
                         r->err);
        if (!rc && (rc = store_rows_next(rows, r->err)) == 1) {
            known = 1;
            size_t n;
            const char *stored = store_rows_text(rows, 0, &n);
            char sorted[33];
            int same_source = store_rows_int(rows, 1) == source;
            same = same_source && !strcmp(stored, digest);
            rc = 0;
            if (!same && same_source && n == 32 && !(rc = digest_sorted(res, sorted))) sorted_same = !strcmp(stored, sorted);
        }
        store_rows_free(rows);
    }
    if (!rc && sorted_same) { /* unchanged since an earlier version's import: its digest now in the new form */
        store_value p[3] = {STORE_V_TEXT(type), STORE_V_TEXT(id), STORE_V_TEXT(digest)};
        rc = batch_begin(r);
        if (!rc) rc = store_exec(r->c, "UPDATE annuaire_entry SET digest = $3 WHERE type = $1 AND id = $2", p, 3, NULL,
                                 r->err);
        if (!rc && ++r->batch >= ANNUAIRE_IMPORT_BATCH) rc = batch_commit(r);
        same = !rc;
    }
    if (!rc && same) {
        r->st->unchanged++;
        json_decref(res);
        return 0;
    }
    if (!rc) rc = batch_begin(r);
    int created = 0;
    if (!rc) {
        socle_err why;
        fhir_stored stored;
        int wrc = rest_check_write(r->app, r->c, r->scratch, &r->importer, type, id, res, &why);
        if (!wrc) wrc = fhir_repo_update(r->c, type, id, res, 0, r->scratch, &stored, &created, &why);
        if (wrc == SOCLE_EUNPROCESSABLE || wrc == SOCLE_EINVAL) {
            char msg[sizeof why.msg + 64];
            snprintf(msg, sizeof msg, "%s/%s: %s", type, id, why.msg);
            reject(r, lineno, msg);
            json_decref(res);
            arena_reset(r->scratch);
            return 0;
        }
        if (wrc) {
            *r->err = why;
            rc = wrc;
        }
    }
    if (!rc) {
        store_value p[4] = {STORE_V_TEXT(type), STORE_V_TEXT(id), STORE_V_INT(source), STORE_V_TEXT(digest)};
        rc = store_exec(r->c,
                        "INSERT INTO annuaire_entry (type, id, source, digest) VALUES ($1, $2, $3, $4)"
                        " ON CONFLICT (type, id) DO UPDATE SET source = excluded.source, digest = excluded.digest",
                        p, 4, NULL, r->err);
    }
    if (!rc) {
        if (created || !known) r->st->created++;
        else r->st->changed++;
        if (++r->batch >= ANNUAIRE_IMPORT_BATCH) rc = batch_commit(r);
    }
    json_decref(res);
    arena_reset(r->scratch);
    return rc;
}

/* The stored source of an entry (0 when none). */
static int entry_source(import_run *r, const char *type, const char *id, int *source)
{
    *source = 0;
    store_value p[2] = {STORE_V_TEXT(type), STORE_V_TEXT(id)};
    int64_t v = 0;
    int rc = store_query_int(r->c, "SELECT source FROM annuaire_entry WHERE type = $1 AND id = $2", p, 2, &v, r->err);
    if (rc == SOCLE_ENOTFOUND) return 0;
    if (!rc) *source = (int)v;
    return rc;
}

/* Attach to res the mailboxes of a structure (ORG, APP, CAB). */
static int attach_structure_mailboxes(import_run *r, json_t *res, const char *structure_id)
{
    size_t n;
    mailbox **m = mailbox_find(r->mail.by_structure, r->mail.nstructures, 0, structure_id, &n);
    for (size_t i = 0; i < n; i++) {
        if (annuaire_add_mailbox(res, m[i]->type, m[i]->address, m[i]->service)) return SOCLE_ENOMEM;
        r->st->mailboxes++;
    }
    return 0;
}

/* The legal entity of finess_ej, once per run (source: the file that names it). */
static int put_legal_entity(import_run *r, const char *finess_ej, int source, uint64_t lineno)
{
    char id[ANNUAIRE_RESOURCE_ID_MAX];
    snprintf(id, sizeof id, "%d%s", ANNUAIRE_ST_FINESS, finess_ej);
    if (key_set_has(&r->seen, key_hash("Organization", id))) return 0;
    if (source == SOURCE_PS && !r->has_kind[ANNUAIRE_EXTRACT_FINESS]) {
        int stored = 0, rc = entry_source(r, "Organization", id, &stored);
        if (rc) return rc;
        if (stored == SOURCE_FINESS) return key_set_add(&r->seen, key_hash("Organization", id)) < 0 ? SOCLE_ENOMEM : 0;
    }
    json_t *o = annuaire_legal_entity(finess_ej, id);
    if (!o || attach_structure_mailboxes(r, o, id)) {
        json_decref(o);
        return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
    }
    r->st->organizations++;
    return put(r, o, source, lineno);
}

/* ---- MSSanté ------------------------------------------------------------------------------- */

static int looks_like_address(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > 254) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>' || *s == ',' || *s == ';') return 0;
    return strchr(at, '.') != NULL;
}

static int read_mailboxes(import_run *r, annuaire_extract *x)
{
    annuaire_record rec;
    key_set addresses = {0};
    int rc = 0, got;
    mailbox_index *mi = &r->mail;
    while ((got = next_line(r, x, &rec)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        const char *type = rec.f[MSS_TYPE], *address = rec.f[MSS_ADDRESS];
        char structure[ANNUAIRE_RESOURCE_ID_MAX] = "", idnps[ANNUAIRE_ID_MAX] = "", number[ANNUAIRE_ID_MAX];
        char reason[300];
        int person = !strcmp(type, "PER");
        reason[0] = 0;
        if (!person && strcmp(type, "ORG") && strcmp(type, "APP") && strcmp(type, "CAB"))
            snprintf(reason, sizeof reason, "Type de BAL: must be PER, ORG, APP or CAB");
        else if (!looks_like_address(address))
            snprintf(reason, sizeof reason, "Adresse BAL: not a mailbox address");
        else if (*rec.f[MSS_STRUCT_ID] &&
                 annuaire_structure_id("", "", rec.f[MSS_STRUCT_ID], structure, sizeof structure))
            snprintf(reason, sizeof reason, "Identification Structure: not a structure identifier");
        else if (!person && !*structure)
            snprintf(reason, sizeof reason, "Identification Structure: required for a %s mailbox", type);
        if (!reason[0] && person) {
            int idtype;
            socle_err e;
            if (annuaire_idnps_parse(rec.f[MSS_IDNPS], &idtype, number, sizeof number, r->key_flags, &e))
                snprintf(reason, sizeof reason, "Identification nationale PP: %s", e.msg);
            else snprintf(idnps, sizeof idnps, "%s", rec.f[MSS_IDNPS]);
        }
        if (!reason[0]) {
            socle_buf folded = SOCLE_BUF_INIT;
            for (const char *s = address; *s; s++) buf_putc(&folded, (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s));
            buf_putc(&folded, 0);
            int added = buf_ok(&folded) ? key_set_add(&addresses, key_hash("mailbox", folded.data)) : SOCLE_ENOMEM;
            buf_free(&folded);
            if (added < 0) {
                rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
                break;
            }
            if (!added) snprintf(reason, sizeof reason, "Adresse BAL: listed twice");
        }
        if (reason[0]) {
            reject(r, rec.lineno, reason);
            continue;
        }
        if (mi->n == mi->cap) {
            size_t cap = mi->cap ? mi->cap * 2 : 4096;
            mailbox *items = realloc(mi->items, cap * sizeof *items);
            if (!items) {
                rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
                break;
            }
            mi->items = items;
            mi->cap = cap;
        }
        mailbox *m = &mi->items[mi->n++];
        m->type = person ? "PER" : !strcmp(type, "ORG") ? "ORG" : !strcmp(type, "APP") ? "APP" : "CAB";
        m->address = arena_strdup(mi->strings, address);
        m->idnps = arena_strdup(mi->strings, idnps);
        m->structure = arena_strdup(mi->strings, structure);
        m->service = arena_strdup(mi->strings, rec.f[MSS_SERVICE]);
        if (!m->address || !m->idnps || !m->structure || !m->service) {
            rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
            break;
        }
    }
    free(addresses.slots);
    if (rc) return rc;
    mi->by_person = malloc((mi->n + 1) * sizeof *mi->by_person);
    mi->by_structure = malloc((mi->n + 1) * sizeof *mi->by_structure);
    if (!mi->by_person || !mi->by_structure) return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
    for (size_t i = 0; i < mi->n; i++) {
        if (mi->items[i].idnps[0]) mi->by_person[mi->npersons++] = &mi->items[i];
        else mi->by_structure[mi->nstructures++] = &mi->items[i];
    }
    qsort(mi->by_person, mi->npersons, sizeof *mi->by_person, mailbox_person_order);
    qsort(mi->by_structure, mi->nstructures, sizeof *mi->by_structure, mailbox_structure_order);
    return 0;
}

/* ---- FINESS -------------------------------------------------------------------------------- */

static int check_finess_line(import_run *r, const annuaire_record *rec, char *reason, size_t len)
{
    socle_err e;
    if (annuaire_finess_check(rec->f[FIN_FINESS], r->key_flags, &e)) snprintf(reason, len, "nofinesset: %s", e.msg);
    else if (*rec->f[FIN_FINESS_EJ] && annuaire_finess_check(rec->f[FIN_FINESS_EJ], r->key_flags, &e))
        snprintf(reason, len, "nofinessej: %s", e.msg);
    else if (!*rec->f[FIN_NAME]) snprintf(reason, len, "rs: empty");
    else if (*rec->f[FIN_SIRET] && annuaire_siret_check(rec->f[FIN_SIRET], &e)) snprintf(reason, len, "siret: %s", e.msg);
    else return 0;
    return -1;
}

static int read_finess(import_run *r, annuaire_extract *x)
{
    annuaire_record rec;
    int got;
    while ((got = next_line(r, x, &rec)) != 0) {
        if (got < 0) return got;
        char reason[300], id[ANNUAIRE_RESOURCE_ID_MAX];
        if (check_finess_line(r, &rec, reason, sizeof reason)) {
            reject(r, rec.lineno, reason);
            if (strlen(rec.f[FIN_FINESS]) == 9) {
                snprintf(id, sizeof id, "%d%s", ANNUAIRE_ST_FINESS, rec.f[FIN_FINESS]);
                if (key_set_add(&r->kept, key_hash("Organization", id)) < 0)
                    return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
            }
            continue;
        }
        snprintf(id, sizeof id, "%d%s", ANNUAIRE_ST_FINESS, rec.f[FIN_FINESS]);
        if (key_set_has(&r->seen, key_hash("Organization", id))) {
            reject(r, rec.lineno, "nofinesset: listed twice");
            continue;
        }
        json_t *o = annuaire_organization_from_finess(&rec, id);
        if (!o || attach_structure_mailboxes(r, o, id)) {
            json_decref(o);
            return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
        }
        r->st->organizations++;
        int rc = put(r, o, SOURCE_FINESS, rec.lineno);
        if (!rc && *rec.f[FIN_FINESS_EJ]) rc = put_legal_entity(r, rec.f[FIN_FINESS_EJ], SOURCE_FINESS, rec.lineno);
        if (rc) return rc;
    }
    return 0;
}

/* ---- PS_LibreAcces ------------------------------------------------------------------------- */

/* A professional's lines, copied (the reader's strings do not outlive the next line). */
typedef struct ps_group {
    arena *a;
    annuaire_record *lines;
    size_t n, cap;
} ps_group;

static int group_add(ps_group *g, const annuaire_record *rec)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        annuaire_record *lines = realloc(g->lines, cap * sizeof *lines);
        if (!lines) return SOCLE_ENOMEM;
        g->lines = lines;
        g->cap = cap;
    }
    annuaire_record *copy = &g->lines[g->n++];
    copy->lineno = rec->lineno;
    for (int f = 0; f < ANNUAIRE_EXTRACT_MAX_FIELDS; f++) {
        copy->f[f] = f < PS_NFIELDS ? arena_strdup(g->a, rec->f[f]) : "";
        if (!copy->f[f]) return SOCLE_ENOMEM;
    }
    return 0;
}

static int check_ps_line(import_run *r, const annuaire_record *rec, char *reason, size_t len)
{
    socle_err e;
    int type;
    char number[ANNUAIRE_ID_MAX];
    const char *prof = rec->f[PS_PROF_CODE];
    if (annuaire_idnps_parse(rec->f[PS_IDNPS], &type, number, sizeof number, r->key_flags, &e))
        snprintf(reason, len, "Identification nationale PP: %s", e.msg);
    else if (strlen(rec->f[PS_ID_TYPE]) != 1 || rec->f[PS_ID_TYPE][0] != '0' + type || strcmp(rec->f[PS_ID], number))
        snprintf(reason, len, "Identification nationale PP: differs from Type d'identifiant PP + Identifiant PP");
    else if (!*rec->f[PS_FAMILY]) snprintf(reason, len, "Nom d'exercice: empty");
    else if (!*prof || strlen(prof) > 4 || strspn(prof, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(prof))
        snprintf(reason, len, "Code profession: must be 1 to 4 digits or capital letters");
    else if (*rec->f[PS_FINESS] && annuaire_finess_check(rec->f[PS_FINESS], r->key_flags, &e))
        snprintf(reason, len, "Numéro FINESS site: %s", e.msg);
    else if (*rec->f[PS_FINESS_EJ] && annuaire_finess_check(rec->f[PS_FINESS_EJ], r->key_flags, &e))
        snprintf(reason, len, "Numéro FINESS établissement juridique: %s", e.msg);
    else if (*rec->f[PS_SIRET] && annuaire_siret_check(rec->f[PS_SIRET], &e))
        snprintf(reason, len, "Numéro SIRET site: %s", e.msg);
    else return 0;
    return -1;
}

/* Write the Practitioner, roles and new structures of one professional's checked lines. */
static int put_professional(import_run *r, ps_group *g)
{
    const char *idnps = g->lines[0].f[PS_IDNPS];
    int rc = 0;
    json_t *prac = NULL;
    if (key_set_has(&r->seen, key_hash("Practitioner", idnps))) {
        /* Lines apart in the file: start from what this run already wrote. */
        fhir_stored stored;
        socle_err e;
        if (fhir_repo_read(r->c, "Practitioner", idnps, 0, r->scratch, &stored, &e) == 0)
            prac = json_loadb(stored.body, stored.body_len, 0, NULL);
        arena_reset(r->scratch);
        if (prac) {
            json_object_del(prac, "meta");
            json_object_set_new(prac, "meta", json_pack("{s:[s,s]}", "profile",
                                                        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner",
                                                        "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-practitioner"));
        }
    } else {
        prac = annuaire_practitioner(&g->lines[0]);
        size_t n;
        mailbox **m = mailbox_find(r->mail.by_person, r->mail.npersons, 1, idnps, &n);
        for (size_t i = 0; prac && i < n; i++) {
            if (annuaire_add_mailbox(prac, "PER", m[i]->address, m[i]->service)) rc = SOCLE_ENOMEM;
            r->st->mailboxes++;
        }
    }
    if (!prac || rc) {
        json_decref(prac);
        return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
    }
    for (size_t i = 1; i < g->n && !rc; i++) rc = annuaire_practitioner_add_activity(prac, &g->lines[i]);
    if (rc) {
        json_decref(prac);
        return socle_err_set(r->err, rc, "out of memory");
    }
    r->st->practitioners++;
    rc = put(r, prac, SOURCE_PS, g->lines[0].lineno);
    /* Roles: one per (structure, profession); later lines add their savoir-faire. */
    json_t *roles = json_array();
    for (size_t i = 0; i < g->n && !rc; i++) {
        const annuaire_record *l = &g->lines[i];
        char structure[ANNUAIRE_RESOURCE_ID_MAX] = "", id[ANNUAIRE_RESOURCE_ID_MAX];
        if (annuaire_structure_id(l->f[PS_FINESS], l->f[PS_SIRET], l->f[PS_STRUCT_ID], structure, sizeof structure))
            structure[0] = 0;
        annuaire_role_id(l, structure, id);
        json_t *role = NULL;
        size_t k;
        json_t *item;
        json_array_foreach(roles, k, item) if (!strcmp(json_string_value(json_object_get(item, "id")), id)) role = item;
        if (role) {
            rc = annuaire_role_add_specialty(role, l);
        } else if ((role = annuaire_role(l, id, structure))) {
            size_t n;
            mailbox **m = mailbox_find(r->mail.by_person, r->mail.npersons, 1, idnps, &n);
            for (size_t j = 0; j < n && !rc; j++)
                if (*structure && !strcmp(m[j]->structure, structure))
                    rc = annuaire_add_mailbox(role, "PER", m[j]->address, m[j]->service);
            json_array_append_new(roles, role);
        } else {
            rc = SOCLE_ENOMEM;
        }
        if (rc) rc = socle_err_set(r->err, rc, "out of memory");
        /* The structure, unless this run already wrote it or it belongs to FINESS. */
        if (!rc && *structure && !key_set_has(&r->seen, key_hash("Organization", structure))) {
            int stored = 0;
            if (!r->has_kind[ANNUAIRE_EXTRACT_FINESS]) rc = entry_source(r, "Organization", structure, &stored);
            if (!rc && stored == SOURCE_FINESS) {
                if (key_set_add(&r->seen, key_hash("Organization", structure)) < 0) rc = SOCLE_ENOMEM;
            } else if (!rc) {
                json_t *o = annuaire_organization_from_ps(l, structure);
                if (!o || attach_structure_mailboxes(r, o, structure)) {
                    json_decref(o);
                    rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
                } else {
                    r->st->organizations++;
                    rc = put(r, o, SOURCE_PS, l->lineno);
                }
            }
        }
        if (!rc && *l->f[PS_FINESS_EJ]) rc = put_legal_entity(r, l->f[PS_FINESS_EJ], SOURCE_PS, l->lineno);
    }
    size_t k;
    json_t *item;
    json_array_foreach(roles, k, item) {
        if (rc) break;
        r->st->roles++;
        rc = put(r, json_incref(item), SOURCE_PS, g->lines[0].lineno);
    }
    json_decref(roles);
    return rc;
}

static int read_professionals(import_run *r, annuaire_extract *x)
{
    ps_group g = {.a = arena_new(1 << 14)};
    if (!g.a) return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
    annuaire_record rec;
    int rc = 0, got;
    while (!rc) {
        got = next_line(r, x, &rec);
        if (got > 0) {
            char reason[300];
            if (check_ps_line(r, &rec, reason, sizeof reason)) {
                reject(r, rec.lineno, reason);
                /* Keep what the professional had, known by either form of the identifier. */
                char rebuilt[ANNUAIRE_ID_MAX + 8];
                snprintf(rebuilt, sizeof rebuilt, "%s%s", rec.f[PS_ID_TYPE], rec.f[PS_ID]);
                if (key_set_add(&r->kept, key_hash("Practitioner", rec.f[PS_IDNPS])) < 0 ||
                    key_set_add(&r->kept, key_hash("Practitioner", rebuilt)) < 0)
                    rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
                continue;
            }
            if (g.n && strcmp(g.lines[0].f[PS_IDNPS], rec.f[PS_IDNPS])) {
                rc = put_professional(r, &g);
                g.n = 0;
                arena_reset(g.a);
            }
            if (!rc && group_add(&g, &rec)) rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
        } else if (got < 0) {
            rc = got;
        } else {
            if (g.n) rc = put_professional(r, &g);
            break;
        }
    }
    free(g.lines);
    arena_free(g.a);
    return rc;
}

/* ---- gone ---------------------------------------------------------------------------------- */

/* Is type/id (an entry not produced by this run) protected by a rejected line? */
static int is_kept(import_run *r, const char *type, const char *id)
{
    if (key_set_has(&r->kept, key_hash(type, id))) return 1;
    if (!strcmp(type, "PractitionerRole")) {
        char idnps[ANNUAIRE_RESOURCE_ID_MAX];
        snprintf(idnps, sizeof idnps, "%s", id);
        char *dash = strchr(idnps, '-');
        if (dash) *dash = 0;
        return key_set_has(&r->kept, key_hash("Practitioner", idnps));
    }
    return 0;
}

static int remove_gone(import_run *r, int source)
{
    arena *ids = arena_new(1 << 16);
    if (!ids) return socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
    char **list = NULL;
    size_t n = 0, cap = 0;
    store_rows *rows = NULL;
    store_value p[1] = {STORE_V_INT(source)};
    int rc = store_query(r->c, "SELECT type, id FROM annuaire_entry WHERE source = $1", p, 1, &rows, r->err);
    while (!rc && (rc = store_rows_next(rows, r->err)) == 1) {
        rc = 0;
        const char *type = store_rows_text(rows, 0, NULL), *id = store_rows_text(rows, 1, NULL);
        if (key_set_has(&r->seen, key_hash(type, id)) || is_kept(r, type, id)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **l = realloc(list, cap * sizeof *l);
            if (!l) {
                rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
                break;
            }
            list = l;
        }
        if (!(list[n++] = arena_printf(ids, "%s/%s", type, id))) rc = socle_err_set(r->err, SOCLE_ENOMEM, "out of memory");
    }
    store_rows_free(rows);
    int64_t total = 0;
    if (!rc && n)
        rc = store_query_int(r->c, "SELECT count(*) FROM annuaire_entry WHERE source = $1", p, 1, &total, r->err);
    if (!rc && n && (int64_t)n * 100 > (int64_t)r->max_gone_percent * total)
        rc = socle_err_set(r->err, SOCLE_EUNPROCESSABLE,
                           "%zu of the %lld resources imported from %s before would be gone, more than %d %%: none "
                           "removed (a truncated file?); check the file, or allow it with a higher --max-gone",
                           n, (long long)total,
                           annuaire_extract_kind_name(source == SOURCE_PS ? ANNUAIRE_EXTRACT_PS : ANNUAIRE_EXTRACT_FINESS),
                           r->max_gone_percent);
    for (size_t i = 0; i < n && !rc; i++) {
        char *slash = strchr(list[i], '/');
        *slash = 0;
        const char *type = list[i], *id = slash + 1;
        fhir_stored stored;
        int existed;
        rc = batch_begin(r);
        if (!rc) rc = fhir_repo_delete(r->c, type, id, r->scratch, &stored, &existed, r->err);
        if (!rc) {
            store_value d[2] = {STORE_V_TEXT(type), STORE_V_TEXT(id)};
            rc = store_exec(r->c, "DELETE FROM annuaire_entry WHERE type = $1 AND id = $2", d, 2, NULL, r->err);
        }
        arena_reset(r->scratch);
        if (!rc) {
            r->st->gone++;
            if (++r->batch >= ANNUAIRE_IMPORT_BATCH) rc = batch_commit(r);
        }
    }
    free(list);
    arena_free(ids);
    return rc;
}

/* ---- the whole run ------------------------------------------------------------------------- */

int annuaire_import(socle_app *app, const annuaire_import_file *files, int nfiles, unsigned key_flags,
                    int max_gone_percent, void (*progress)(const annuaire_import_stats *st, void *ctx), void *ctx,
                    annuaire_import_stats *st, socle_err *err)
{
    memset(st, 0, sizeof *st);
    annuaire_extract *x[3] = {NULL, NULL, NULL};
    int which[4] = {-1, -1, -1, -1}; /* kind -> index in files */
    int rc = 0;
    if (nfiles < 1 || nfiles > 3) return socle_err_set(err, SOCLE_EINVAL, "give one to three extract files");
    for (int i = 0; i < nfiles && !rc; i++) {
        socle_err e;
        if (annuaire_extract_open(files[i].in, &x[i], &e)) {
            rc = socle_err_set(err, e.code, "%s: %s", files[i].name, e.msg);
            break;
        }
        annuaire_extract_kind k = annuaire_extract_kind_of(x[i]);
        if (which[k] >= 0)
            rc = socle_err_set(err, SOCLE_EINVAL, "%s and %s are both %s extracts", files[which[k]].name, files[i].name,
                               annuaire_extract_kind_name(k));
        which[k] = i;
    }
    if (!rc && which[ANNUAIRE_EXTRACT_MSS] >= 0 && which[ANNUAIRE_EXTRACT_PS] < 0)
        rc = socle_err_set(err, SOCLE_EINVAL,
                           "the MSSanté extract is imported together with the PS_LibreAcces extract: its mailboxes "
                           "are put on the resources that one builds");
    import_run r = {.app = app, .key_flags = key_flags, .max_gone_percent = max_gone_percent, .st = st, .progress = progress, .progress_ctx = ctx,
                    .err = err, .importer = {.kind = AUTH_KIND_SYSTEM}};
    snprintf(r.importer.sub, sizeof r.importer.sub, "socle-annuaire-import");
    for (int k = 1; k <= 3; k++) r.has_kind[k] = which[k] >= 0;
    if (!rc) {
        r.scratch = arena_new(1 << 16);
        r.mail.strings = arena_new(1 << 20);
        if (!r.scratch || !r.mail.strings) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    if (!rc) rc = annuaire_import_migrate(app->store, err);
    if (!rc) rc = store_acquire(app->store, &r.c, err);
    /* Millions of random inserts into the search indexes: keep their pages in memory, and on a first
     * load drop the search tables' value indexes, rebuilt by sorting at the end. */
    if (!rc) rc = store_bulk_cache(r.c, ANNUAIRE_IMPORT_CACHE_MB, err);
    int64_t entries = 0;
    if (!rc) rc = store_query_int(r.c, "SELECT count(*) FROM annuaire_entry", NULL, 0, &entries, err);
    int bulk = !rc && entries == 0;
    if (bulk) rc = fhir_index_bulk_begin(r.c, err);
    static const int order[] = {ANNUAIRE_EXTRACT_MSS, ANNUAIRE_EXTRACT_FINESS, ANNUAIRE_EXTRACT_PS};
    for (int o = 0; o < 3 && !rc; o++) {
        int i = which[order[o]];
        if (i < 0) continue;
        r.report = files[i].report;
        if (order[o] == ANNUAIRE_EXTRACT_MSS) rc = read_mailboxes(&r, x[i]);
        else if (order[o] == ANNUAIRE_EXTRACT_FINESS) rc = read_finess(&r, x[i]);
        else rc = read_professionals(&r, x[i]);
    }
    r.report = NULL;
    if (!rc && r.has_kind[ANNUAIRE_EXTRACT_FINESS]) rc = remove_gone(&r, SOURCE_FINESS);
    if (!rc && r.has_kind[ANNUAIRE_EXTRACT_PS]) rc = remove_gone(&r, SOURCE_PS);
    if (!rc) rc = batch_commit(&r);
    if (rc && r.in_tx) store_tx_rollback(r.c);
    if (bulk) { /* rebuilt whatever happened: searches must not stay without their indexes */
        socle_err e;
        int brc = fhir_index_bulk_end(r.c, &e);
        if (brc && !rc) {
            rc = brc;
            *err = e;
        }
    }
    if (r.c) {
        socle_err ignored;
        store_bulk_cache(r.c, 0, &ignored); /* the connection goes back to the pool */
        store_release(app->store, r.c);
    }
    if (progress) progress(st, ctx);
    for (int i = 0; i < 3; i++) annuaire_extract_close(x[i]);
    free(r.seen.slots);
    free(r.kept.slots);
    free(r.mail.items);
    free(r.mail.by_person);
    free(r.mail.by_structure);
    arena_free(r.mail.strings);
    arena_free(r.scratch);
    return rc;
}
