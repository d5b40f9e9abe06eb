/* import.c - the reference-base CSV import (see import.h). */
#include "svc/ins/import.h"

#include <stdlib.h>
#include <string.h>

#include "svc/ins/matricule.h"
#include "svc/ins/reference.h"
#include "svc/ins/traits.h"

#define IMPORT_HEADER \
    "matricule,oid,nom_naissance,prenoms,sexe,date_naissance,lieu_naissance,matricule_ouvrant_droit,rang_naissance"
/* The optional last column: the person's past INS ("MATRICULE:OID" separated by single spaces). */
#define IMPORT_HEADER_HISTORY IMPORT_HEADER ",ins_historique"
#define IMPORT_FIELDS 9
#define IMPORT_FIELDS_MAX 10
#define IMPORT_MAX_LINE 4096
#define IMPORT_BATCH 20000
#define IMPORT_CHUNK 131072 /* identities sorted by matricule before they are written (~70 MB) */
#define IMPORT_CACHE_MB 512 /* the indexes of a 10-million base stay in memory while they grow */

/* import_split - split one CSV record (RFC 4180 quoting, no embedded newlines) in place into
 * fields. Returns the number of fields, or -1 when a quote is malformed. */
static int import_split(char *line, char *fields[], int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        char *out = p;
        fields[n++] = p;
        if (*p == '"') {
            char *r = p + 1;
            for (;;) {
                if (!*r) return -1;
                if (*r == '"') {
                    if (r[1] == '"') {
                        *out++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *out++ = *r++;
            }
            if (*r != ',' && *r) return -1;
            *out = 0;
            if (!*r) return n;
            p = r + 1;
        } else {
            char *comma = strchr(p, ',');
            if (!comma) return n;
            *comma = 0;
            if (memchr(p, '"', (size_t)(comma - p))) return -1;
            p = comma + 1;
        }
    }
}

/* import_history - parse the ins_historique column of the identity `active` into past (at most
 * INS_HISTORY_MAX, *n of them); 0 or SOCLE_EINVAL with the reason in err (no matricule in it). */
static int import_history(const char *text, const char *active, ins_past *past, int *n, socle_err *err)
{
    *n = 0;
    if (!*text) return 0;
    const char *p = text;
    for (int k = 1;; k++) {
        size_t len = strcspn(p, " ");
        if (len == 0)
            return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entries must be separated by single spaces");
        if (*n == INS_HISTORY_MAX)
            return socle_err_set(err, SOCLE_EINVAL, "ins_historique: at most %d entries", INS_HISTORY_MAX);
        const char *colon = memchr(p, ':', len);
        if (!colon) return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entry %d must be MATRICULE:OID", k);
        char mat[32], oid[80];
        size_t ml = (size_t)(colon - p), ol = len - ml - 1;
        socle_err e;
        if (ml >= sizeof mat)
            return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entry %d: matricule: must be 15 characters", k);
        memcpy(mat, p, ml);
        mat[ml] = 0;
        if (ins_matricule_check(mat, &e))
            return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entry %d: matricule: %s", k, e.msg);
        if (ol < sizeof oid) {
            memcpy(oid, colon + 1, ol);
            oid[ol] = 0;
        }
        if (ol >= sizeof oid || !ins_oid_syntax(oid))
            return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entry %d: oid: not an OID (digits and dots)", k);
        if (!strcmp(mat, active))
            return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entry %d: the active matricule itself", k);
        for (int i = 0; i < *n; i++)
            if (!strcmp(past[i].matricule, mat))
                return socle_err_set(err, SOCLE_EINVAL, "ins_historique: entry %d: repeated", k);
        snprintf(past[*n].matricule, sizeof past[*n].matricule, "%s", mat);
        snprintf(past[*n].oid, sizeof past[*n].oid, "%s", oid);
        (*n)++;
        p += len;
        if (!*p) return 0;
        p++; /* the space */
    }
}

/* import_record - check and normalise one record; 0 or SOCLE_EINVAL with the reason in err. */
static int import_record(char *fields[], ins_identity *id, socle_err *err)
{
    memset(id, 0, sizeof *id);
    socle_err e;
    if (ins_matricule_check(fields[0], &e)) return socle_err_set(err, SOCLE_EINVAL, "matricule: %s", e.msg);
    snprintf(id->matricule, sizeof id->matricule, "%s", fields[0]);
    if (!ins_oid_known(fields[1]))
        return socle_err_set(err, SOCLE_EINVAL, "oid: not an INS identifier system (NIR, NIA, test or demo OID)");
    snprintf(id->oid, sizeof id->oid, "%s", fields[1]);
    if (ins_normalize_name(fields[2], id->birth_name, sizeof id->birth_name, &e))
        return socle_err_set(err, SOCLE_EINVAL, "nom_naissance: %s", e.msg);
    if (ins_normalize_first_names(fields[3], id->first_names, sizeof id->first_names, &e))
        return socle_err_set(err, SOCLE_EINVAL, "prenoms: %s", e.msg);
    if (ins_check_sex(fields[4], &e)) return socle_err_set(err, SOCLE_EINVAL, "sexe: %s", e.msg);
    id->sex[0] = (char)(fields[4][0] & ~0x20);
    if (ins_check_birth_date(fields[5], NULL, NULL, NULL, &e))
        return socle_err_set(err, SOCLE_EINVAL, "date_naissance: %s", e.msg);
    snprintf(id->birth_date, sizeof id->birth_date, "%s", fields[5]);
    if (fields[6][0] && ins_check_birth_place(fields[6], &e))
        return socle_err_set(err, SOCLE_EINVAL, "lieu_naissance: %s", e.msg);
    snprintf(id->birth_place, sizeof id->birth_place, "%s", fields[6]);
    if (fields[7][0] && ins_matricule_check(fields[7], &e))
        return socle_err_set(err, SOCLE_EINVAL, "matricule_ouvrant_droit: %s", e.msg);
    snprintf(id->insured_matricule, sizeof id->insured_matricule, "%s", fields[7]);
    if (fields[8][0]) {
        char *end;
        long rank = strtol(fields[8], &end, 10);
        if (*end || rank < 1 || rank > 9) return socle_err_set(err, SOCLE_EINVAL, "rang_naissance: must be 1 to 9");
        id->birth_rank = (int)rank;
    }
    return 0;
}

/* An identity waiting to be written, with its place in the file (the later line wins) and its past
 * INS (allocated only when the line has some). */
typedef struct import_pending {
    ins_identity id;
    uint64_t order;
    ins_past *past;
    int npast;
} import_pending;

/* import_pending_cmp - order by matricule, then by place in the file. */
static int import_pending_cmp(const void *a, const void *b)
{
    const import_pending *x = a, *y = b;
    int c = strcmp(x->id.matricule, y->id.matricule);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* import_pending_free - release the past INS of pending[0..n). */
static void import_pending_free(import_pending *pending, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pending[i].past);
        pending[i].past = NULL;
        pending[i].npast = 0;
    }
}

/* import_flush - write a chunk in matricule order, in transactions of IMPORT_BATCH: random
 * matricules inserted in key order touch each page of the table once per chunk instead of once
 * per identity. Each line's history replaces the person's; *history says whether the history
 * table may hold rows (when not, a line without history has nothing to replace). */
static int import_flush(store_conn *c, import_pending *pending, size_t n, int *history, ins_import_stats *st,
                        void (*progress)(const ins_import_stats *st, void *ctx), void *ctx, socle_err *err)
{
    qsort(pending, n, sizeof *pending, import_pending_cmp);
    int rc = 0;
    for (size_t i = 0; !rc && i < n;) {
        size_t end = i + IMPORT_BATCH < n ? i + IMPORT_BATCH : n;
        if ((rc = store_tx_begin(c, err))) break;
        for (; !rc && i < end; i++) {
            rc = ins_reference_put(c, &pending[i].id, err);
            if (!rc && (*history || pending[i].npast)) {
                rc = ins_reference_history_put(c, pending[i].id.matricule, pending[i].past, pending[i].npast, err);
                if (pending[i].npast) *history = 1;
            }
        }
        if (rc) {
            store_tx_rollback(c);
            break;
        }
        if ((rc = store_tx_commit(c, err))) break;
        if (progress) progress(st, ctx);
    }
    import_pending_free(pending, n);
    return rc;
}

int ins_import(store *s, FILE *in, FILE *report, void (*progress)(const ins_import_stats *st, void *ctx), void *ctx,
               ins_import_stats *st, socle_err *err)
{
    memset(st, 0, sizeof *st);
    char *line = malloc(IMPORT_MAX_LINE + 2);
    import_pending *pending = malloc(IMPORT_CHUNK * sizeof *pending);
    size_t npending = 0;
    if (!line || !pending) {
        free(line);
        free(pending);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    store_conn *c = NULL;
    int rc = 0, indexes_dropped = 0;
    uint64_t lineno = 0;
    if (!fgets(line, IMPORT_MAX_LINE + 2, in)) {
        rc = ferror(in) ? socle_err_set(err, SOCLE_EIO, "cannot read the file") : socle_err_set(err, SOCLE_EINVAL, "the file is empty");
        goto out;
    }
    lineno = 1;
    st->bytes += strlen(line);
    line[strcspn(line, "\r\n")] = 0;
    const char *header = line;
    if (!strncmp(header, "\xEF\xBB\xBF", 3)) header += 3; /* a UTF-8 byte order mark */
    /* The header decides whether the lines carry the ins_historique column. */
    int nfields = !strcmp(header, IMPORT_HEADER)           ? IMPORT_FIELDS
                  : !strcmp(header, IMPORT_HEADER_HISTORY) ? IMPORT_FIELDS_MAX
                                                           : 0;
    if (!nfields) {
        rc = socle_err_set(err, SOCLE_EINVAL,
                           "line 1: the header must be exactly: " IMPORT_HEADER " (optionally followed by ,ins_historique)");
        goto out;
    }
    int history = 0; /* whether ins_reference_history may hold rows */
    if ((rc = store_acquire(s, &c, err))) goto out;
    if ((rc = store_bulk_cache(c, IMPORT_CACHE_MB, err))) goto out;
    /* A first load into an empty base: without its search indexes, rebuilt at the end (also after
     * a failure; and ins_open rebuilds them if a crash left them missing). */
    int64_t rows = 0;
    if ((rc = store_query_int(c, "SELECT COUNT(*) FROM (SELECT 1 FROM ins_reference LIMIT 1) AS one", NULL, 0, &rows,
                              err)))
        goto out;
    if ((rc = ins_reference_indexes(c, rows > 0, err))) goto out;
    indexes_dropped = rows == 0;
    if ((rc = store_query_int(c, "SELECT COUNT(*) FROM (SELECT 1 FROM ins_reference_history LIMIT 1) AS one", NULL, 0,
                              &rows, err)))
        goto out;
    history = rows > 0;
    while (fgets(line, IMPORT_MAX_LINE + 2, in)) {
        lineno++;
        size_t len = strlen(line);
        st->bytes += len;
        int too_long = len > IMPORT_MAX_LINE && line[len - 1] != '\n';
        if (too_long) { /* skip the rest of the line */
            int ch;
            while ((ch = fgetc(in)) != EOF && ch != '\n') st->bytes++;
        }
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] && !too_long) continue;
        st->lines++;
        char *fields[IMPORT_FIELDS_MAX + 1];
        ins_identity id;
        ins_past past[INS_HISTORY_MAX];
        int npast = 0;
        socle_err why;
        int n = too_long ? 0 : import_split(line, fields, nfields);
        if (n == IMPORT_FIELDS && nfields > IMPORT_FIELDS) fields[n++] = ""; /* the last column left out: no history */
        if (too_long) socle_err_set(&why, SOCLE_EINVAL, "longer than %d bytes", IMPORT_MAX_LINE);
        else if (n != nfields)
            socle_err_set(&why, SOCLE_EINVAL, n < 0 ? "malformed quoting" : "%d fields, expected %d", n > nfields ? n - 1 : n,
                          nfields);
        if (too_long || n != nfields || import_record(fields, &id, &why) ||
            (nfields > IMPORT_FIELDS && import_history(fields[IMPORT_FIELDS], id.matricule, past, &npast, &why))) {
            st->rejected++;
            if (report) fprintf(report, "line %llu: %s\n", (unsigned long long)lineno, why.msg);
            continue;
        }
        pending[npending].id = id;
        pending[npending].order = lineno;
        pending[npending].past = NULL;
        pending[npending].npast = 0;
        if (npast) {
            if (!(pending[npending].past = malloc((size_t)npast * sizeof *past))) {
                rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(pending[npending].past, past, (size_t)npast * sizeof *past);
            pending[npending].npast = npast;
        }
        st->loaded++;
        if (++npending == IMPORT_CHUNK) {
            if ((rc = import_flush(c, pending, npending, &history, st, progress, ctx, err))) goto out;
            npending = 0;
        }
    }
    if (ferror(in)) {
        rc = socle_err_set(err, SOCLE_EIO, "read error after line %llu", (unsigned long long)lineno);
        goto out;
    }
    if (npending && (rc = import_flush(c, pending, npending, &history, st, progress, ctx, err))) goto out;
    if (!npending && progress) progress(st, ctx);
out:
    if (c) {
        socle_err ignored;
        if (indexes_dropped) {
            int irc = ins_reference_indexes(c, 1, rc ? &ignored : err);
            if (!rc) rc = irc;
        }
        store_bulk_cache(c, 0, &ignored); /* the connection goes back to the pool */
        store_release(s, c);
    }
    if (pending) import_pending_free(pending, npending);
    free(line);
    free(pending);
    return rc;
}
