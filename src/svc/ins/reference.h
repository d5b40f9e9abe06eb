/* reference.h - the national identity reference base socle's INSi answers from (the stand-in for
 * RNIPP/SNGI): one row per INS matricule with its five traits in normalised form, and the carte
 * Vitale data (insured person's matricule, birth rank).
 *
 * Table (owner "ins"): ins_reference, keyed by matricule; indexed by (birth name, sex, birth date)
 * for the traits search and by (insured matricule, birth date) for the carte Vitale search.
 * ins_reference_history: the past INS of a person (an NIA later replaced by a NIR...), keyed by
 * (active matricule, past matricule), indexed by the past matricule. A matricule that is the past
 * INS of someone is never an active one: searches and ins_reference_get skip it. */
#ifndef SOCLE_SVC_INS_REFERENCE_H
#define SOCLE_SVC_INS_REFERENCE_H

#include "store/store.h"

/* One identity of the base. Names are normalised (upper case, no accents: see traits.h). */
typedef struct ins_identity {
    char matricule[16];
    char oid[64];
    char birth_name[104];
    char first_names[256];      /* the birth first names, in order, separated by one space */
    char sex[2];                /* "M" or "F" */
    char birth_date[11];        /* YYYY-MM-DD; 00 for an unknown month or day */
    char birth_place[6];        /* INSEE COG code, "" when unknown */
    char insured_matricule[16]; /* carte Vitale: the insured person (ouvrant droit), "" if none */
    int birth_rank;             /* carte Vitale: rank of birth (twins), 0 if none */
} ins_identity;

/* The traits a search gives, already normalised; birth_place may be NULL or "". */
typedef struct ins_traits_query {
    const char *birth_name;
    const char *first_names;    /* one or more names separated by spaces: each must be a birth first name */
    const char *sex;
    const char *birth_date;
    const char *birth_place;
} ins_traits_query;

/* One past INS of a person (INSi "insHistorique"). */
typedef struct ins_past {
    char matricule[16];
    char oid[64];
} ins_past;

/* The most past INS one person may have (in the file format and in an INSi answer). */
#define INS_HISTORY_MAX 16

/* ins_reference_migrate - create or upgrade the tables. */
int ins_reference_migrate(store *s, socle_err *err);

/* ins_reference_indexes - create the search indexes if missing (present = 1), or drop them
 * (present = 0) before a bulk load into an empty base: building them once at the end is several
 * times faster than keeping them up to date row by row. */
int ins_reference_indexes(store_conn *c, int present, socle_err *err);

/* ins_reference_put - insert or replace the identity of id->matricule (idempotent import). */
int ins_reference_put(store_conn *c, const ins_identity *id, socle_err *err);

/* ins_reference_get - the identity of an active matricule: 1 found (into out), 0 not found (also
 * when the matricule is only a past INS of someone), or an error. */
int ins_reference_get(store_conn *c, const char *matricule, ins_identity *out, socle_err *err);

/* ins_reference_search_traits - the identities matching q by the INSi rules (exact normalised birth
 * name and sex, birth dates equal where both are known, each searched first name among the birth
 * first names, birth place equal when given). Returns the number of matches capped at 2 (0, 1 or
 * 2 = several), with the single match in *out when it is 1; or a negative error. */
int ins_reference_search_traits(store_conn *c, const ins_traits_query *q, ins_identity *out, socle_err *err);

/* ins_reference_search_vitale - the beneficiaries of a carte Vitale: insured person's matricule and
 * the beneficiary's birth date, plus the birth rank when rank > 0. Same return as above. */
int ins_reference_search_vitale(store_conn *c, const char *insured_matricule, const char *birth_date, int rank,
                                ins_identity *out, socle_err *err);

/* ins_reference_history_put - replace the past INS of `active` by past[0..n) (n may be 0: none). */
int ins_reference_history_put(store_conn *c, const char *active, const ins_past *past, int n, socle_err *err);

/* ins_reference_history_get - the past INS of `active`, at most `max` into past (ordered by
 * matricule): their number, or a negative error. */
int ins_reference_history_get(store_conn *c, const char *active, ins_past *past, int max, socle_err *err);

/* ins_reference_active_of - whether `past` is a past INS of someone: 1 with that person's active
 * matricule in active (16 bytes), 0 when not, or a negative error. */
int ins_reference_active_of(store_conn *c, const char *past, char active[16], socle_err *err);

#endif
