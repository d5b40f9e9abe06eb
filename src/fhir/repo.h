/* repo.h - the FHIR resource repository: versioned create/read/update/delete/history on the store.
 *
 * NAME
 *      fhir repo - current versions in fhir_resource, every version in fhir_history, index rows via
 *      fhir_index_write, all in the caller's transaction.
 * DESCRIPTION
 *      The stored body is the exact JSON returned to clients (meta.versionId and meta.lastUpdated
 *      set by the server), so a read is one indexed SELECT and one copy, with no JSON work.
 *      Writers take a write transaction (store_tx_begin); the repository never commits itself.
 *      Checks made on every write (fhir_repo_validate): resourceType matches the type; the id is a
 *      valid FHIR id; no null, empty string, empty object or empty array anywhere (FHIR JSON rules);
 *      element names are well formed; date-typed elements that search indexes parse as FHIR dates.
 *      A failed check is SOCLE_EUNPROCESSABLE naming the element.
 * BUGS
 *      Validation is structural, not a full StructureDefinition validation: unknown elements of a
 *      known type are stored as sent.
 */
#ifndef SOCLE_FHIR_REPO_H
#define SOCLE_FHIR_REPO_H

#include <jansson.h>
#include <stdint.h>
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "fhir/fhir.h"
#include "store/store.h"

/* fhir_repo_migrate - apply the resource tables (owner "fhir") and the index tables. */
int fhir_repo_migrate(store *s, socle_err *err);

typedef struct fhir_stored {
    const char *type;
    const char *id;
    const char *body;           /* JSON text ("" for a deleted version); lives in the arena */
    size_t body_len;
    int64_t version;
    int64_t last_updated_ms;
    int deleted;
    const char *patient_id;     /* NULL when none */
} fhir_stored;

/* fhir_repo_validate - the write-time checks above, for a resource posted to `type`. */
int fhir_repo_validate(const char *type, const json_t *resource, socle_err *err);

/* fhir_repo_read - current version (version 0) or a given version. SOCLE_ENOTFOUND when it never
 * existed, SOCLE_EGONE when that version is a deletion (out is still filled). */
int fhir_repo_read(store_conn *c, const char *type, const char *id, int64_t version, arena *a, fhir_stored *out,
                   socle_err *err);

/* fhir_repo_create - store a new resource under `id` (or a new UUID when id is NULL). The JSON is
 * modified in place (id, meta). SOCLE_ECONFLICT if the id exists. */
int fhir_repo_create(store_conn *c, const char *type, const char *id, json_t *resource, arena *a, fhir_stored *out,
                     socle_err *err);

/* fhir_repo_update - new version of type/id; creates it when absent (*created = 1). if_match > 0:
 * SOCLE_EPRECONDITION unless it is the current version. The resource's id must equal id. */
int fhir_repo_update(store_conn *c, const char *type, const char *id, json_t *resource, int64_t if_match, arena *a,
                     fhir_stored *out, int *created, socle_err *err);

/* FHIR_REPO_UNINDEXED - no search index rows for this version: for resources a service indexes
 * itself (the DMP's documents, svc/dmp/); the generic search does not find them. */
#define FHIR_REPO_UNINDEXED 1u
/* fhir_repo_create_ex / fhir_repo_update_ex - the same with flags (FHIR_REPO_UNINDEXED). */
int fhir_repo_create_ex(store_conn *c, const char *type, const char *id, json_t *resource, unsigned flags, arena *a,
                        fhir_stored *out, socle_err *err);
int fhir_repo_update_ex(store_conn *c, const char *type, const char *id, json_t *resource, int64_t if_match,
                        unsigned flags, arena *a, fhir_stored *out, int *created, socle_err *err);

/* fhir_prepared - version 1 of a new resource in its stored form (validated, meta set, JSON text),
 * built by fhir_repo_prepare without the database so that a transaction only writes it
 * (fhir_repo_create_prepared, the same as fhir_repo_create_ex). lastUpdated is the time of the
 * preparation. id is required (no fresh id here); type and id are not copied: they must outlive it.
 * Free with fhir_repo_prepared_free (zeroed by fhir_repo_prepare even on failure, so freeing is
 * always safe). */
typedef struct fhir_prepared {
    const char *type, *id;
    int64_t version, now;
    json_t *stored;  /* the resource as stored (owned) */
    socle_buf body;  /* its JSON text */
    char patient[128];
    int has_patient;
} fhir_prepared;
int fhir_repo_prepare(const char *type, const char *id, json_t *resource, fhir_prepared *out, socle_err *err);
int fhir_repo_create_prepared(store_conn *c, const fhir_prepared *pr, unsigned flags, arena *a, fhir_stored *out,
                              socle_err *err);
void fhir_repo_prepared_free(fhir_prepared *pr);

/* fhir_repo_delete - record a deletion version. *existed = 0 when there was nothing to delete
 * (absent or already deleted): not an error. */
int fhir_repo_delete(store_conn *c, const char *type, const char *id, arena *a, fhir_stored *out, int *existed,
                     socle_err *err);

typedef struct fhir_history_query {
    const char *type;           /* NULL: all types */
    const char *id;             /* NULL: all instances of type */
    int64_t since_ms;           /* TIME_MIN_MS when unset */
    int count;                  /* page size */
    int64_t before_seq;         /* keyset cursor: only entries older than this (0 = newest) */
} fhir_history_query;

/* fhir_repo_history - versions newest first; *next_seq is the cursor of the next page or 0. */
int fhir_repo_history(store_conn *c, const fhir_history_query *q, arena *a, fhir_stored **out, size_t *n,
                      int64_t *next_seq, socle_err *err);

/* fhir_repo_each - call fn for every current, not deleted resource of `type`, in id order; fn's
 * body is valid only during the call; a nonzero return from fn stops and is returned. */
int fhir_repo_each(store_conn *c, const char *type, int (*fn)(void *ctx, const char *id, const char *body, size_t len),
                   void *ctx, socle_err *err);

/* fhir_repo_referencing - the current resources that refer to target_type/target_id by any indexed
 * reference (each once), as "Type/id" strings in the arena; *n their number. */
int fhir_repo_referencing(store_conn *c, const char *target_type, const char *target_id, arena *a, const char ***out,
                          size_t *n, socle_err *err);

#endif
