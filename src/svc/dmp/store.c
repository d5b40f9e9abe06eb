/* store.c - the DMP's tables: records (state, choices, médecin traitant), the index of documents
 * (the DocumentReference and Binary themselves are FHIR resources), the patient's controls, the
 * care team, emergency accesses and the patient's notifications. */
#include <stdio.h>
#include <string.h>

#include "base/ids.h"
#include "base/timeutil.h"
#include "svc/dmp/dmp_internal.h"
#include "svc/ins/ins.h"

static const store_migration dmp_steps[] = {
    {1, "DMP: records, document index, patient controls, care team, emergency accesses, notifications",
     "CREATE TABLE dmp_record (patient_id TEXT PRIMARY KEY, ins TEXT NOT NULL, state TEXT NOT NULL,"
     " oppose_bris_de_glace INTEGER NOT NULL, oppose_centre_15 INTEGER NOT NULL, medecin_traitant TEXT NOT "
     "NULL,"
     " changed BIGINT NOT NULL);"
     "CREATE INDEX dmp_record_ins ON dmp_record (ins);"
     "CREATE TABLE dmp_document (id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, status TEXT NOT NULL,"
     " type_code TEXT NOT NULL, class_code TEXT NOT NULL, date_ms BIGINT NOT NULL, format_code TEXT NOT NULL,"
     " setting_code TEXT NOT NULL, facility_code TEXT NOT NULL, authors TEXT NOT NULL, masked INTEGER NOT "
     "NULL,"
     " invisible_patient INTEGER NOT NULL, invisible_representatives INTEGER NOT NULL, binary_id TEXT NOT "
     "NULL,"
     " content_type TEXT NOT NULL, submission_set TEXT NOT NULL, created BIGINT NOT NULL);"
     "CREATE INDEX dmp_document_patient ON dmp_document (patient_id, type_code, date_ms);"
     "CREATE INDEX dmp_document_binary ON dmp_document (binary_id);"
     "CREATE INDEX dmp_document_submission ON dmp_document (submission_set);"
     "CREATE TABLE dmp_control (patient_id TEXT NOT NULL, kind TEXT NOT NULL, idnps TEXT NOT NULL,"
     " changed BIGINT NOT NULL, PRIMARY KEY (patient_id, kind, idnps));"
     "CREATE TABLE dmp_care_team (patient_id TEXT NOT NULL, structure TEXT NOT NULL, PRIMARY KEY "
     "(patient_id, structure));"
     "CREATE TABLE dmp_emergency (patient_id TEXT NOT NULL, idnps TEXT NOT NULL, mode TEXT NOT NULL,"
     " reason TEXT NOT NULL, opened BIGINT NOT NULL, expires BIGINT NOT NULL, PRIMARY KEY (patient_id, "
     "idnps));"
     "CREATE TABLE dmp_notification (id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, kind TEXT NOT NULL,"
     " idnps TEXT NOT NULL, detail TEXT NOT NULL, created BIGINT NOT NULL);"
     "CREATE INDEX dmp_notification_patient ON dmp_notification (patient_id, kind, idnps);",
     NULL, NULL},
    {2, "DMP: the current DocumentReference kept with its index row (a search reads one table)",
     "ALTER TABLE dmp_document ADD COLUMN body TEXT NOT NULL DEFAULT '';", NULL, NULL},
};

int dmp_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "dmp", dmp_steps, sizeof dmp_steps / sizeof dmp_steps[0], err);
}

static dmp_record_state dmp_state_parse(const char *s)
{
    return !strcmp(s, "active")    ? DMP_RECORD_ACTIVE
           : !strcmp(s, "closed")  ? DMP_RECORD_CLOSED
           : !strcmp(s, "opposed") ? DMP_RECORD_OPPOSED
                                   : DMP_RECORD_NONE;
}

static int dmp_record_query(store_conn *c, const char *where, const char *value, dmp_record *out,
                            socle_err *err)
{
    memset(out, 0, sizeof *out);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT patient_id, ins, state, oppose_bris_de_glace, oppose_centre_15, medecin_traitant FROM "
             "dmp_record"
             " WHERE %s = $1",
             where);
    store_value p[1] = {STORE_V_TEXT(value)};
    store_rows *r;
    int rc = store_query(c, sql, p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        snprintf(out->patient_id, sizeof out->patient_id, "%s", store_rows_text(r, 0, NULL));
        snprintf(out->ins, sizeof out->ins, "%s", store_rows_text(r, 1, NULL));
        out->facts.state = dmp_state_parse(store_rows_text(r, 2, NULL));
        out->facts.opposes_bris_de_glace = (int)store_rows_int(r, 3);
        out->facts.opposes_centre_15 = (int)store_rows_int(r, 4);
        snprintf(out->medecin_traitant, sizeof out->medecin_traitant, "%s", store_rows_text(r, 5, NULL));
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "this patient has no DMP");
    }
    store_rows_free(r);
    return rc;
}

int dmp_record_load(store_conn *c, const char *patient_id, dmp_record *out, socle_err *err)
{
    return dmp_record_query(c, "patient_id", patient_id, out, err);
}

int dmp_record_by_ins(store_conn *c, const char *ins, dmp_record *out, socle_err *err)
{
    return dmp_record_query(c, "ins", ins, out, err);
}

int dmp_record_save(store_conn *c, const dmp_record *r, socle_err *err)
{
    store_value p[7] = {STORE_V_TEXT(r->patient_id),
                        STORE_V_TEXT(r->ins),
                        STORE_V_TEXT(dmp_record_state_name(r->facts.state)),
                        STORE_V_INT(r->facts.opposes_bris_de_glace),
                        STORE_V_INT(r->facts.opposes_centre_15),
                        STORE_V_TEXT(r->medecin_traitant),
                        STORE_V_INT(time_now_ms())};
    return store_exec(
        c,
        "INSERT INTO dmp_record (patient_id, ins, state, oppose_bris_de_glace, oppose_centre_15,"
        " medecin_traitant, changed) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (patient_id) DO UPDATE"
        " SET ins = excluded.ins, state = excluded.state, oppose_bris_de_glace = "
        "excluded.oppose_bris_de_glace,"
        " oppose_centre_15 = excluded.oppose_centre_15, medecin_traitant = excluded.medecin_traitant,"
        " changed = excluded.changed",
        p, 7, NULL, err);
}

int dmp_record_open(store_conn *c, const char *patient_id, dmp_record *out, socle_err *err)
{
    char matricule[16], oid[64];
    /* The identity must be qualified now, whatever the record says. */
    int rc = ins_outward_identifier(c, patient_id, matricule, oid, err);
    if (rc == SOCLE_EUNPROCESSABLE)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                            "the patient's identity is not qualified: no document can be fed to their DMP");
    if (rc) return rc;
    rc = dmp_record_load(c, patient_id, out, err);
    int created = rc == SOCLE_ENOTFOUND;
    if (created) {
        /* Opt-out: every qualified identity has a record unless the patient opposed. */
        memset(out, 0, sizeof *out);
        snprintf(out->patient_id, sizeof out->patient_id, "%s", patient_id);
        out->facts.state = DMP_RECORD_ACTIVE;
        rc = 0;
    }
    if (rc) return rc;
    /* Written only when new, or when the qualified INS changed (an identity merge, a correction). */
    if (!created && !strcmp(out->ins, matricule)) return 0;
    snprintf(out->ins, sizeof out->ins, "%s", matricule);
    return dmp_record_save(c, out, err);
}

int dmp_control_set(store_conn *c, const char *patient_id, const char *kind, const char *idnps, int on,
                    socle_err *err)
{
    store_value p[4] = {STORE_V_TEXT(patient_id), STORE_V_TEXT(kind), STORE_V_TEXT(idnps),
                        STORE_V_INT(time_now_ms())};
    if (!on)
        return store_exec(c, "DELETE FROM dmp_control WHERE patient_id = $1 AND kind = $2 AND idnps = $3", p,
                          3, NULL, err);
    return store_exec(c,
                      "INSERT INTO dmp_control (patient_id, kind, idnps, changed) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (patient_id, kind, idnps) DO NOTHING",
                      p, 4, NULL, err);
}

/* A structure the patient took out of the care team: a dmp_control row of kind "care-team-out"
 * (its idnps column holds the structure). */
int dmp_care_team_add(store_conn *c, const char *patient_id, const char *structure, int *joined, socle_err *err)
{
    if (joined) *joined = 0;
    if (!structure || !*structure) return 0;
    store_value p[2] = {STORE_V_TEXT(patient_id), STORE_V_TEXT(structure)};
    int64_t added = 0;
    int rc = store_exec(c,
                        "INSERT INTO dmp_care_team (patient_id, structure) SELECT $1, $2"
                        " WHERE NOT EXISTS (SELECT 1 FROM dmp_control WHERE patient_id = $1 AND kind = 'care-team-out'"
                        " AND idnps = $2)"
                        " ON CONFLICT (patient_id, structure) DO NOTHING",
                        p, 2, &added, err);
    if (!rc && joined) *joined = added > 0;
    return rc;
}

int dmp_care_team_set(store_conn *c, const char *patient_id, const char *structure, int on, socle_err *err)
{
    store_value p[2] = {STORE_V_TEXT(patient_id), STORE_V_TEXT(structure)};
    int rc = dmp_control_set(c, patient_id, "care-team-out", structure, !on, err);
    if (!rc && on) rc = dmp_care_team_add(c, patient_id, structure, NULL, err);
    if (!rc && !on)
        rc = store_exec(c, "DELETE FROM dmp_care_team WHERE patient_id = $1 AND structure = $2", p, 2, NULL, err);
    return rc;
}

int dmp_emergency_open(store_conn *c, const char *patient_id, const char *idnps, dmp_mode mode,
                       const char *reason, int64_t expires_ms, socle_err *err)
{
    store_value p[6] = {STORE_V_TEXT(patient_id),          STORE_V_TEXT(idnps),
                        STORE_V_TEXT(dmp_mode_name(mode)), STORE_V_TEXT(reason),
                        STORE_V_INT(time_now_ms()),        STORE_V_INT(expires_ms)};
    return store_exec(
        c,
        "INSERT INTO dmp_emergency (patient_id, idnps, mode, reason, opened, expires)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (patient_id, idnps) DO UPDATE SET mode = excluded.mode,"
        " reason = excluded.reason, opened = excluded.opened, expires = excluded.expires",
        p, 6, NULL, err);
}

int dmp_notify(store_conn *c, const char *patient_id, const char *kind, const char *idnps, const char *detail,
               socle_err *err)
{
    char id[37];
    store_value p[6] = {
        STORE_V_TEXT(id_resource(id)), STORE_V_TEXT(patient_id),           STORE_V_TEXT(kind),
        STORE_V_TEXT(idnps),       STORE_V_TEXT(detail ? detail : ""), STORE_V_INT(time_now_ms())};
    return store_exec(c,
                      "INSERT INTO dmp_notification (id, patient_id, kind, idnps, detail, created)"
                      " VALUES ($1, $2, $3, $4, $5, $6)",
                      p, 6, NULL, err);
}

/* Written once per patient and professional, however many of their first requests found no notice
 * yet (the deferred one may still be queued). */
static const char dmp_first_access_sql[] =
    "INSERT INTO dmp_notification (id, patient_id, kind, idnps, detail, created)"
    " SELECT $1, $2, 'first-access', $3, '', $4 WHERE NOT EXISTS"
    " (SELECT 1 FROM dmp_notification WHERE patient_id = $2 AND kind = 'first-access' AND idnps = $3)";

int dmp_note_first_access(store_conn *c, const char *patient_id, const char *idnps, socle_err *err)
{
    char id[37];
    store_value p[4] = {STORE_V_TEXT(id_resource(id)), STORE_V_TEXT(patient_id), STORE_V_TEXT(idnps),
                        STORE_V_INT(time_now_ms())};
    if (store_in_tx(c)) return store_exec(c, dmp_first_access_sql, p, 4, NULL, err);
    /* Deferred: the access itself is in the audit trail; the notice follows a moment later (and
     * could be lost with the last moments before a power failure), and the read does not wait
     * for the writer's turn. */
    return store_defer(c, dmp_first_access_sql, p, 4, err);
}

int dmp_reader_load(dmp_service *svc, store_conn *c, const auth_subject *who, const dmp_record *r,
                    dmp_reader *out, int *seen_before, socle_err *err)
{
    memset(out, 0, sizeof *out);
    if (seen_before) *seen_before = 1;
    if (who->kind == AUTH_KIND_PATIENT) {
        if (strcmp(who->sub, r->ins))
            return socle_err_set(err, SOCLE_EFORBIDDEN, "a patient reads only their own record");
        out->kind =
            auth_has_role(who, "representant-legal") ? DMP_READER_LEGAL_REPRESENTATIVE : DMP_READER_PATIENT;
        return 0;
    }
    if (who->kind != AUTH_KIND_PROFESSIONAL)
        return socle_err_set(err, SOCLE_EFORBIDDEN, "only professionals and the patient read a DMP");
    out->kind = DMP_READER_PROFESSIONAL;
    out->id = who->sub;
    out->profession = who->profession;
    out->medecin_traitant = r->medecin_traitant[0] && !strcmp(r->medecin_traitant, who->sub);
    /* Everything about this professional and this record in one statement. */
    store_value p[4] = {STORE_V_TEXT(r->patient_id), STORE_V_TEXT(who->sub), STORE_V_TEXT(who->structure),
                        STORE_V_INT(time_now_ms())};
    store_rows *rows;
    int rc = store_query(
        c,
        "SELECT (SELECT COUNT(*) FROM dmp_control WHERE patient_id = $1 AND kind = 'block' AND idnps = $2),"
        " (SELECT COUNT(*) FROM dmp_control WHERE patient_id = $1 AND kind = 'authorise' AND idnps = $2),"
        " (SELECT COUNT(*) FROM dmp_care_team WHERE patient_id = $1 AND structure = $3),"
        " (SELECT mode FROM dmp_emergency WHERE patient_id = $1 AND idnps = $2 AND expires > $4),"
        " (SELECT COUNT(*) FROM dmp_notification WHERE patient_id = $1 AND kind = 'first-access'"
        " AND idnps = $2)",
        p, 4, &rows, err);
    if (rc) return rc;
    rc = store_rows_next(rows, err);
    if (rc == 1) {
        out->blocked = store_rows_int(rows, 0) > 0;
        out->authorised = store_rows_int(rows, 1) > 0 || (who->structure[0] && store_rows_int(rows, 2) > 0);
        dmp_mode m;
        if (!store_rows_isnull(rows, 3) && dmp_mode_parse(store_rows_text(rows, 3, NULL), &m) == 0)
            out->mode = m;
        if (seen_before) *seen_before = store_rows_int(rows, 4) > 0;
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ESTORE, "no row from the reader query");
    }
    store_rows_free(rows);
    (void)svc;
    return rc;
}

/* --- the document index --- */

const char dmp_document_columns[] =
    "id, patient_id, status, type_code, class_code, date_ms, format_code, setting_code, facility_code, "
    "authors,"
    " masked, invisible_patient, invisible_representatives, binary_id, content_type, submission_set";

static void dmp_authors_join(const dmp_document *d, char *out, size_t n)
{
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < d->nauthors && used + 1 < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? " " : "", d->authors[i]);
}

int dmp_document_insert(store_conn *c, const dmp_document *d, socle_err *err)
{
    char authors[DMP_MAX_AUTHORS * 33];
    dmp_authors_join(d, authors, sizeof authors);
    store_value p[18] = {
        STORE_V_TEXT(d->id),
        STORE_V_TEXT(d->patient_id),
        STORE_V_TEXT(d->status),
        STORE_V_TEXT(d->type_code),
        STORE_V_TEXT(d->class_code),
        STORE_V_INT(d->date_ms),
        STORE_V_TEXT(d->format_code),
        STORE_V_TEXT(d->setting_code),
        STORE_V_TEXT(d->facility_code),
        STORE_V_TEXT(authors),
        STORE_V_INT(d->masked),
        STORE_V_INT(d->invisible_patient),
        STORE_V_INT(d->invisible_representatives),
        STORE_V_TEXT(d->binary_id),
        STORE_V_TEXT(d->content_type),
        STORE_V_TEXT(d->submission_set),
        STORE_V_INT(time_now_ms()),
        STORE_V_TEXTN(d->body ? d->body : "", d->body ? d->body_len : 0),
    };
    char sql[600];
    snprintf(
        sql, sizeof sql,
        "INSERT INTO dmp_document (%s, created, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " $12, $13, $14, $15, $16, $17, $18)",
        dmp_document_columns);
    return store_exec(c, sql, p, 18, NULL, err);
}

void dmp_document_from_row(store_rows *r, dmp_document *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", store_rows_text(r, 0, NULL));
    snprintf(d->patient_id, sizeof d->patient_id, "%s", store_rows_text(r, 1, NULL));
    snprintf(d->status, sizeof d->status, "%s", store_rows_text(r, 2, NULL));
    snprintf(d->type_code, sizeof d->type_code, "%s", store_rows_text(r, 3, NULL));
    snprintf(d->class_code, sizeof d->class_code, "%s", store_rows_text(r, 4, NULL));
    d->date_ms = store_rows_int(r, 5);
    snprintf(d->format_code, sizeof d->format_code, "%s", store_rows_text(r, 6, NULL));
    snprintf(d->setting_code, sizeof d->setting_code, "%s", store_rows_text(r, 7, NULL));
    snprintf(d->facility_code, sizeof d->facility_code, "%s", store_rows_text(r, 8, NULL));
    const char *authors = store_rows_text(r, 9, NULL);
    for (const char *p = authors; p && *p && d->nauthors < DMP_MAX_AUTHORS;) {
        size_t len = strcspn(p, " ");
        if (len && len < sizeof d->authors[0]) {
            memcpy(d->authors[d->nauthors], p, len);
            d->authors[d->nauthors++][len] = 0;
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    d->masked = (int)store_rows_int(r, 10);
    d->invisible_patient = (int)store_rows_int(r, 11);
    d->invisible_representatives = (int)store_rows_int(r, 12);
    snprintf(d->binary_id, sizeof d->binary_id, "%s", store_rows_text(r, 13, NULL));
    snprintf(d->content_type, sizeof d->content_type, "%s", store_rows_text(r, 14, NULL));
    snprintf(d->submission_set, sizeof d->submission_set, "%s", store_rows_text(r, 15, NULL));
}

static int dmp_document_one(store_conn *c, const char *column, const char *value, dmp_document *out,
                            socle_err *err)
{
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT %s FROM dmp_document WHERE %s = $1", dmp_document_columns, column);
    store_value p[1] = {STORE_V_TEXT(value)};
    store_rows *r;
    int rc = store_query(c, sql, p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        dmp_document_from_row(r, out);
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "no such document");
    }
    store_rows_free(r);
    return rc;
}

int dmp_document_load(store_conn *c, const char *id, dmp_document *out, socle_err *err)
{
    return dmp_document_one(c, "id", id, out, err);
}

int dmp_wrote_in_record(store_conn *c, const char *patient_id, const char *idnps, int *wrote, socle_err *err)
{
    /* authors: the IDNPS separated by single spaces (dmp_authors_join) */
    store_value p[2] = {STORE_V_TEXT(patient_id), STORE_V_TEXT(idnps)};
    int64_t n = 0;
    int rc = store_query_int(c,
                             "SELECT COUNT(*) FROM (SELECT 1 FROM dmp_document WHERE patient_id = $1"
                             " AND status <> 'withdrawn' AND (' ' || authors || ' ') LIKE ('% ' || CAST($2 AS TEXT) || ' %') LIMIT 1)"
                             " AS one",
                             p, 2, &n, err);
    *wrote = n > 0;
    return rc;
}

int dmp_document_by_binary(store_conn *c, const char *binary_id, dmp_document *out, socle_err *err)
{
    return dmp_document_one(c, "binary_id", binary_id, out, err);
}

int dmp_document_set(store_conn *c, const dmp_document *d, socle_err *err)
{
    store_value p[6] = {STORE_V_TEXT(d->id),
                        STORE_V_TEXT(d->status),
                        STORE_V_INT(d->masked),
                        STORE_V_INT(d->invisible_patient),
                        STORE_V_INT(d->invisible_representatives),
                        STORE_V_TEXTN(d->body ? d->body : "", d->body ? d->body_len : 0)};
    return store_exec(c,
                      d->body ? "UPDATE dmp_document SET status = $2, masked = $3, invisible_patient = $4,"
                                " invisible_representatives = $5, body = $6 WHERE id = $1"
                              : "UPDATE dmp_document SET status = $2, masked = $3, invisible_patient = $4,"
                                " invisible_representatives = $5 WHERE id = $1",
                      p, d->body ? 6 : 5, NULL, err);
}

void dmp_document_facts_of(const dmp_document *d, const char *authors[DMP_MAX_AUTHORS],
                           dmp_document_facts *out)
{
    for (int i = 0; i < d->nauthors; i++)
        authors[i] = d->authors[i];
    *out = (dmp_document_facts){
        .class_code = d->class_code,
        .type_code = d->type_code,
        .masked = d->masked,
        .invisible_patient = d->invisible_patient,
        .invisible_representatives = d->invisible_representatives,
        .author_ids = authors,
        .nauthors = d->nauthors,
    };
}
