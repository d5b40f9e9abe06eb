/* search.h - FHIR search: parameter registry, index extraction at write time, query planning.
 *
 * NAME
 *      fhir search - declared search parameters, index rows, parse/plan/run a search.
 * SYNOPSIS
 *      fhir_param_find() fhir_params() fhir_index_write() fhir_search_parse() fhir_search_run()
 *      fhir_search_free() fhir_index_migrations
 * DESCRIPTION
 *      Every search parameter is declared as data in params.c (resource type, name, kind, element
 *      path, target types for references). When a resource is written, fhir_index_write replaces
 *      its rows in the index tables (fhir_index_token, fhir_index_string, fhir_index_date,
 *      fhir_index_reference), in the caller's transaction. A search never reads resources to
 *      filter them: each parameter becomes a lookup in an index table.
 *      Semantics (FHIR R4 §3.1.1.4 search):
 *        token      [system]|code, |code (no system), system| (any code), code (any system);
 *                   Identifier (system|value), Coding, CodeableConcept, code, boolean, string.
 *        string     default: starts with, case- and accent-insensitive (text_fold); :exact
 *                   (exact, case-sensitive); :contains (substring, folded). HumanName and Address
 *                   index all their parts.
 *        date       prefixes eq ne gt lt ge le on the [low, high] range of the value (dates,
 *                   dateTime, instant, Period): eq: value range inside search range; ne: not eq;
 *                   gt: value.high > search.high; lt: value.low < search.low; ge: value.high >=
 *                   search.low; le: value.low <= search.high.
 *        reference  Type/id, id (any declared target type), absolute URL; modifier :Type.
 *        chain      ref[:Type].param=value (one level, §3.1.1.4.9): resources whose reference parameter
 *                   `ref` points at a resource matched by the target type's parameter `param`, which
 *                   keeps its own kind, modifiers and values (organization.address-city=PARIS,
 *                   subject:Patient.name:exact=X, organization._id=o1). The target type is the one named
 *                   by :Type, else every declared target type of `ref` that declares `param` (OR). SQL
 *                   only: reference index rows whose target is in the chained parameter's index lookup.
 *                   A chain no target type declares is unknown (lenient rules below); `a.b.c` is always
 *                   SOCLE_EINVAL (only one level).
 *        _id, _lastUpdated (date on the version's time), _count (default 20, max 1000), _sort on
 *        date and string parameters and _lastUpdated / _id (prefix '-' for descending),
 *        _summary=count, _include=Type:param[:Target] and _revinclude=Type:param[:Target] for
 *        declared reference parameters.
 *      Values separated by ',' are OR; repeated parameters are AND. Order: with _sort, the sort's
 *      (then id); without, the order of the index of the parameter the search starts from (the one
 *      whose value usually selects fewest rows): by matched value, then id (name=MAR: MARC before
 *      MARTIN), so that a page ends the walk however many resources match; a resource is placed
 *      at its first matching value; with only _id or chains, by id. Paging is keyset: the `next`
 *      link carries _cursor with the last row's key and id (sealed when the caller gives a key:
 *      the key may be a value of a resource the caller may not read), so page N costs what page 1
 *      costs. A resource changed between two pages so that its matching value moves across the
 *      cursor may be missed or come twice (as with _sort). Unknown parameters or modifiers are SOCLE_EINVAL (400), unless lenient, in
 *      which case they are ignored and listed in fhir_search_page.ignored. Bad values (malformed
 *      date, bad prefix) are always SOCLE_EINVAL naming the parameter.
 */
#ifndef SOCLE_FHIR_SEARCH_H
#define SOCLE_FHIR_SEARCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "base/arena.h"
#include "base/err.h"
#include "store/store.h"

typedef enum {
    FHIR_PARAM_TOKEN = 1,
    FHIR_PARAM_STRING,
    FHIR_PARAM_DATE,
    FHIR_PARAM_REFERENCE,
} fhir_param_kind;

typedef struct fhir_param_def {
    const char *resource_type;
    const char *name;            /* "identifier", "birthdate" */
    fhir_param_kind kind;
    const char *path;            /* '|'-separated alternatives of '.'-separated element names */
    const char *targets;         /* reference: '|'-separated target types; token: the implicit code
                                    system of plain `code` values (e.g. administrative-gender), or NULL */
} fhir_param_def;

/* fhir_param_find - the declared parameter, or NULL. */
const fhir_param_def *fhir_param_find(const char *resource_type, const char *name);
/* fhir_params - all declared parameters (for the CapabilityStatement). */
const fhir_param_def *fhir_params(size_t *n);
/* fhir_param_kind_name - "token", "string", "date", "reference". */
const char *fhir_param_kind_name(fhir_param_kind k);

/* The index tables; owner "fhir_index". Applied by the repository at startup. */
extern const store_migration fhir_index_migrations[];
extern const size_t fhir_index_migrations_count;

/* fhir_index_bulk_begin - before a load of many resources on c (outside a transaction): drop the
 * value indexes of the index tables, so that the load appends rows instead of inserting them in
 * random order; searches meanwhile scan (correct, slow). fhir_index_bulk_end rebuilds the missing
 * ones by sorting; it is also run at every start (fhir_repo_migrate), so a load that crashed
 * leaves nothing dropped for long. */
int fhir_index_bulk_begin(store_conn *c, socle_err *err);
int fhir_index_bulk_end(store_conn *c, socle_err *err);

/* fhir_index_write - replace the index rows of (type, id) by those extracted from resource
 * (NULL: just delete them), inside the caller's transaction on c. */
int fhir_index_write(store_conn *c, const char *type, const char *id, const json_t *resource, socle_err *err);

typedef struct fhir_search_param {
    const char *name;            /* as received, with modifier: "family:exact" */
    const char *value;
} fhir_search_param;

typedef struct fhir_search_options {
    int lenient;                 /* Prefer: handling=lenient */
    int default_count;           /* 0 = 20 */
    int max_count;               /* 0 = 1000 */
    const uint8_t *cursor_key;   /* 32 bytes: _cursor is sealed with it (crypto_seal, base64url), so
                                    that a next link tells nothing of the rows; NULL: plain hex */
} fhir_search_options;

typedef struct fhir_search fhir_search;

/* fhir_search_parse - validate and plan a search of `type` (allocations in a). */
int fhir_search_parse(const char *type, const fhir_search_param *params, int nparams,
                      const fhir_search_options *opt, arena *a, fhir_search **out, socle_err *err);

typedef struct fhir_search_hit {
    const char *type;
    const char *id;
    const char *body;            /* the stored JSON of the current version */
    size_t body_len;
    const char *patient_id;      /* the patient it belongs to, or NULL */
    int included;                /* 0: a match; 1: brought by _include/_revinclude */
} fhir_search_hit;

typedef struct fhir_search_page {
    fhir_search_hit *hits;
    size_t nhits;
    int64_t total;               /* with _summary=count: the count; otherwise -1 */
    const char *self_query;      /* canonical query string of this search (no leading '?') */
    const char *next_query;      /* query string of the next page, NULL on the last page */
    const char *next_cursor;     /* its _cursor value (inside next_query), NULL on the last page */
    const char **ignored;        /* lenient mode: parameters that were ignored */
    int nignored;
} fhir_search_page;

/* fhir_search_run - run the plan on c; everything in *out lives in a. */
int fhir_search_run(store_conn *c, const fhir_search *s, arena *a, fhir_search_page *out, socle_err *err);

#endif
