/* reference.c - the INS reference base on the store (see reference.h). */
#include "svc/ins/reference.h"

#include <stdio.h>
#include <string.h>

#include "svc/ins/traits.h"

#define REFERENCE_VITALE_INDEX                                                                                 \
    "CREATE INDEX IF NOT EXISTS ins_reference_vitale ON ins_reference (insured_matricule, birth_date)"

/* The search indexes as the first migration made them. */
#define REFERENCE_INDEXES_V1                                                                                   \
    "CREATE INDEX IF NOT EXISTS ins_reference_traits ON ins_reference (birth_name, sex, birth_date);"          \
    REFERENCE_VITALE_INDEX

/* The search indexes now: created by the migrations, dropped and rebuilt around a first bulk load.
 * The traits index carries every column an INSi answer needs, so a search never reads the table
 * (measured on 10 million identities: rechercher 18-20k -> 19-26k req/s; the database grows from
 * 2.7 to 3.2 GB). */
#define REFERENCE_TRAITS_INDEX                                                                                 \
    "CREATE INDEX IF NOT EXISTS ins_reference_traits ON ins_reference (birth_name, sex, birth_date,"           \
    " first_names, birth_place, oid, insured_matricule, birth_rank)"
#define REFERENCE_INDEXES REFERENCE_TRAITS_INDEX ";" REFERENCE_VITALE_INDEX

static const store_migration ins_reference_steps[] = {
    {1, "INS reference base", NULL,
     "CREATE TABLE ins_reference (matricule TEXT NOT NULL PRIMARY KEY, oid TEXT NOT NULL, birth_name TEXT NOT NULL,"
     " first_names TEXT NOT NULL, sex TEXT NOT NULL, birth_date TEXT NOT NULL, birth_place TEXT NOT NULL,"
     " insured_matricule TEXT NOT NULL, birth_rank INTEGER NOT NULL) WITHOUT ROWID;"
     REFERENCE_INDEXES_V1,
     "CREATE TABLE ins_reference (matricule TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, oid TEXT NOT NULL,"
     " birth_name TEXT COLLATE \"C\" NOT NULL, first_names TEXT NOT NULL, sex TEXT COLLATE \"C\" NOT NULL,"
     " birth_date TEXT COLLATE \"C\" NOT NULL, birth_place TEXT NOT NULL, insured_matricule TEXT COLLATE \"C\" NOT NULL,"
     " birth_rank INTEGER NOT NULL);"
     REFERENCE_INDEXES_V1},
    {2, "INS reference base: past INS (insHistorique)", NULL,
     "CREATE TABLE ins_reference_history (matricule_active TEXT NOT NULL, matricule_past TEXT NOT NULL,"
     " oid_past TEXT NOT NULL, PRIMARY KEY (matricule_active, matricule_past)) WITHOUT ROWID;"
     "CREATE INDEX ins_reference_history_past ON ins_reference_history (matricule_past)",
     "CREATE TABLE ins_reference_history (matricule_active TEXT COLLATE \"C\" NOT NULL,"
     " matricule_past TEXT COLLATE \"C\" NOT NULL, oid_past TEXT NOT NULL,"
     " PRIMARY KEY (matricule_active, matricule_past));"
     "CREATE INDEX ins_reference_history_past ON ins_reference_history (matricule_past)"},
    {3, "INS reference base: traits index covers the answer", "DROP INDEX IF EXISTS ins_reference_traits;" REFERENCE_TRAITS_INDEX,
     NULL, NULL},
};

/* A matricule that is the past INS of someone is not an active identity. */
#define REFERENCE_ACTIVE \
    " AND NOT EXISTS (SELECT 1 FROM ins_reference_history h WHERE h.matricule_past = ins_reference.matricule)"


int ins_reference_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "ins", ins_reference_steps, sizeof ins_reference_steps / sizeof ins_reference_steps[0], err);
}

int ins_reference_indexes(store_conn *c, int present, socle_err *err)
{
    return store_exec_script(c,
                             present ? REFERENCE_INDEXES
                                     : "DROP INDEX IF EXISTS ins_reference_traits; DROP INDEX IF EXISTS ins_reference_vitale",
                             err);
}

int ins_reference_put(store_conn *c, const ins_identity *id, socle_err *err)
{
    store_value p[9] = {STORE_V_TEXT(id->matricule),   STORE_V_TEXT(id->oid),        STORE_V_TEXT(id->birth_name),
                        STORE_V_TEXT(id->first_names), STORE_V_TEXT(id->sex),        STORE_V_TEXT(id->birth_date),
                        STORE_V_TEXT(id->birth_place), STORE_V_TEXT(id->insured_matricule), STORE_V_INT(id->birth_rank)};
    return store_exec(c,
                      "INSERT INTO ins_reference (matricule, oid, birth_name, first_names, sex, birth_date, birth_place,"
                      " insured_matricule, birth_rank) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                      " ON CONFLICT (matricule) DO UPDATE SET oid = excluded.oid, birth_name = excluded.birth_name,"
                      " first_names = excluded.first_names, sex = excluded.sex, birth_date = excluded.birth_date,"
                      " birth_place = excluded.birth_place, insured_matricule = excluded.insured_matricule,"
                      " birth_rank = excluded.birth_rank",
                      p, 9, NULL, err);
}

#define REFERENCE_COLUMNS \
    "matricule, oid, birth_name, first_names, sex, birth_date, birth_place, insured_matricule, birth_rank"

/* reference_copy - a text column into a fixed buffer ("" when absent or too long). */
static void reference_copy(char *dst, size_t n, store_rows *r, int col)
{
    size_t len = 0;
    const char *v = store_rows_text(r, col, &len);
    if (!v || len >= n) len = 0;
    if (len) memcpy(dst, v, len);
    dst[len] = 0;
}

/* reference_row - the current row of a REFERENCE_COLUMNS query into an identity. */
static void reference_row(store_rows *r, ins_identity *out)
{
    reference_copy(out->matricule, sizeof out->matricule, r, 0);
    reference_copy(out->oid, sizeof out->oid, r, 1);
    reference_copy(out->birth_name, sizeof out->birth_name, r, 2);
    reference_copy(out->first_names, sizeof out->first_names, r, 3);
    reference_copy(out->sex, sizeof out->sex, r, 4);
    reference_copy(out->birth_date, sizeof out->birth_date, r, 5);
    reference_copy(out->birth_place, sizeof out->birth_place, r, 6);
    reference_copy(out->insured_matricule, sizeof out->insured_matricule, r, 7);
    out->birth_rank = (int)store_rows_int(r, 8);
}

int ins_reference_get(store_conn *c, const char *matricule, ins_identity *out, socle_err *err)
{
    store_value p = STORE_V_TEXT(matricule);
    store_rows *r;
    int rc = store_query(c, "SELECT " REFERENCE_COLUMNS " FROM ins_reference WHERE matricule = $1" REFERENCE_ACTIVE, &p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) reference_row(r, out);
    store_rows_free(r);
    return rc;
}

/* Runs a query whose rows are candidates, keeps those `keep` accepts; stops at the second match. */
static int reference_collect(store_conn *c, const char *sql, const store_value *p, int np, const ins_traits_query *q,
                             ins_identity *out, socle_err *err)
{
    store_rows *r;
    int rc = store_query(c, sql, p, np, &r, err);
    if (rc) return rc;
    int found = 0;
    ins_identity cand;
    while (found < 2 && (rc = store_rows_next(r, err)) == 1) {
        reference_row(r, &cand);
        if (q) {
            if (!ins_birth_dates_match(q->birth_date, cand.birth_date)) continue;
            if (q->first_names && *q->first_names && !ins_first_names_all_in_list(q->first_names, cand.first_names))
                continue;
            if (q->birth_place && *q->birth_place && strcmp(q->birth_place, cand.birth_place)) continue;
        }
        if (found++ == 0) *out = cand;
    }
    store_rows_free(r);
    return rc < 0 ? rc : found;
}

int ins_reference_search_traits(store_conn *c, const ins_traits_query *q, ins_identity *out, socle_err *err)
{
    /* The candidates of this name and sex whose birth date can match: with a full date, that date
     * and the partial dates of the base that contain it (YYYY-MM-00, YYYY-00-00): three index
     * seeks. With an unknown day, that month's range and YYYY-00-00; with an unknown month, the
     * year. The rest of the INSi rules are checked on each candidate. */
    const char *d = q->birth_date;
    char day[11], month[11], year[11], lo[11], hi[11];
    snprintf(day, sizeof day, "%.10s", d);
    snprintf(month, sizeof month, "%.7s-00", d);
    snprintf(year, sizeof year, "%.4s-00-00", d);
    int unknown_month = !strncmp(d + 5, "00", 2), unknown_day = !strncmp(d + 8, "00", 2);
    if (unknown_month) {
        snprintf(lo, sizeof lo, "%.4s-00-00", d);
        snprintf(hi, sizeof hi, "%.4s-99-99", d);
    } else {
        snprintf(lo, sizeof lo, "%.7s-00", d);
        snprintf(hi, sizeof hi, "%.7s-99", d);
    }
    if (!unknown_month && !unknown_day) {
        store_value p[5] = {STORE_V_TEXT(q->birth_name), STORE_V_TEXT(q->sex), STORE_V_TEXT(day), STORE_V_TEXT(month),
                            STORE_V_TEXT(year)};
        return reference_collect(c,
                                 "SELECT " REFERENCE_COLUMNS " FROM ins_reference WHERE birth_name = $1 AND sex = $2"
                                 " AND birth_date IN ($3, $4, $5)" REFERENCE_ACTIVE,
                                 p, 5, q, out, err);
    }
    store_value p[5] = {STORE_V_TEXT(q->birth_name), STORE_V_TEXT(q->sex), STORE_V_TEXT(lo), STORE_V_TEXT(hi),
                        STORE_V_TEXT(year)};
    return reference_collect(c,
                             "SELECT " REFERENCE_COLUMNS " FROM ins_reference WHERE birth_name = $1 AND sex = $2"
                             " AND (birth_date BETWEEN $3 AND $4 OR birth_date = $5)" REFERENCE_ACTIVE,
                             p, 5, q, out, err);
}

int ins_reference_search_vitale(store_conn *c, const char *insured_matricule, const char *birth_date, int rank,
                                ins_identity *out, socle_err *err)
{
    /* All the beneficiaries of the card (a family), filtered by birth date with the partial-date
     * rule and by rank. */
    store_value p[2] = {STORE_V_TEXT(insured_matricule), STORE_V_INT(rank)};
    ins_traits_query q = {.birth_date = birth_date};
    return reference_collect(c,
                             "SELECT " REFERENCE_COLUMNS " FROM ins_reference WHERE insured_matricule = $1"
                             " AND ($2 = 0 OR birth_rank = $2)" REFERENCE_ACTIVE,
                             p, 2, &q, out, err);
}

int ins_reference_history_put(store_conn *c, const char *active, const ins_past *past, int n, socle_err *err)
{
    store_value a = STORE_V_TEXT(active);
    int rc = store_exec(c, "DELETE FROM ins_reference_history WHERE matricule_active = $1", &a, 1, NULL, err);
    for (int i = 0; !rc && i < n; i++) {
        store_value p[3] = {STORE_V_TEXT(active), STORE_V_TEXT(past[i].matricule), STORE_V_TEXT(past[i].oid)};
        rc = store_exec(c,
                        "INSERT INTO ins_reference_history (matricule_active, matricule_past, oid_past) VALUES ($1, $2, $3)"
                        " ON CONFLICT (matricule_active, matricule_past) DO UPDATE SET oid_past = excluded.oid_past",
                        p, 3, NULL, err);
    }
    return rc;
}

int ins_reference_history_get(store_conn *c, const char *active, ins_past *past, int max, socle_err *err)
{
    store_value a = STORE_V_TEXT(active);
    store_rows *r;
    int rc = store_query(c,
                         "SELECT matricule_past, oid_past FROM ins_reference_history WHERE matricule_active = $1"
                         " ORDER BY matricule_past",
                         &a, 1, &r, err);
    if (rc) return rc;
    int n = 0;
    while (n < max && (rc = store_rows_next(r, err)) == 1) {
        reference_copy(past[n].matricule, sizeof past[n].matricule, r, 0);
        reference_copy(past[n].oid, sizeof past[n].oid, r, 1);
        n++;
    }
    store_rows_free(r);
    return rc < 0 ? rc : n;
}

int ins_reference_active_of(store_conn *c, const char *past, char active[16], socle_err *err)
{
    store_value p = STORE_V_TEXT(past);
    store_rows *r;
    int rc = store_query(c,
                         "SELECT matricule_active FROM ins_reference_history WHERE matricule_past = $1"
                         " ORDER BY matricule_active LIMIT 1",
                         &p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) reference_copy(active, 16, r, 0);
    store_rows_free(r);
    return rc;
}
