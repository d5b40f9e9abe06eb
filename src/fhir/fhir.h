/* fhir.h - FHIR R4 basics: safe JSON parsing, the registry of resource types, OperationOutcome.
 *
 * NAME
 *      fhir - parse with limits, resource types and their patient compartment, OperationOutcome.
 * DESCRIPTION
 *      fhir_json_parse checks the raw bytes first (valid UTF-8, nesting depth, string length,
 *      total size) so that hostile input is refused before jansson allocates anything for it, then
 *      parses with duplicate keys rejected. Every error is SOCLE_EINVAL with a message naming the
 *      line and column.
 *      The type registry is data: adding a resource type is one row in types.c (name, how to
 *      find the Patient it belongs to, flags) and its search parameters in params.c.
 */
#ifndef SOCLE_FHIR_FHIR_H
#define SOCLE_FHIR_FHIR_H

#include <jansson.h>
#include <stddef.h>
#include "base/buf.h"
#include "base/err.h"

typedef struct fhir_limits {
    size_t max_bytes;     /* default 20 MiB */
    size_t max_depth;     /* default 64 */
    size_t max_string;    /* bytes in one JSON string; default 16 MiB (Binary.data is big) */
} fhir_limits;

#define FHIR_LIMITS_DEFAULT ((fhir_limits){20u << 20, 64, 16u << 20})

/* fhir_json_parse - parse body into *out (caller json_decref's it). */
int fhir_json_parse(const char *body, size_t n, const fhir_limits *lim, json_t **out, socle_err *err);
/* fhir_json_dump - compact UTF-8 serialisation appended to out (keys in insertion order). */
void fhir_json_dump(const json_t *j, socle_buf *out);

enum {
    FHIR_TYPE_READONLY = 1,      /* no create/update/delete over REST (e.g. AuditEvent: appended by the server) */
    FHIR_TYPE_PATIENT_DATA = 2,  /* instances are patient data: audit every access */
};

typedef struct fhir_type {
    const char *name;            /* "Patient" */
    const char *patient_paths;   /* '|'-separated element paths whose reference is the patient
                                    ("subject|patient"); "@self" for Patient; NULL when the type
                                    is not in the patient compartment */
    int flags;
} fhir_type;

/* fhir_type_find - the registered type with that exact name, or NULL. */
const fhir_type *fhir_type_find(const char *name);
/* fhir_types - all registered types (for the CapabilityStatement). */
const fhir_type *fhir_types(size_t *n);
/* fhir_resource_patient - the logical id of the Patient a resource belongs to, into out (size n);
 * returns 1 if found, 0 if none. For a Patient it is the resource's own id. */
int fhir_resource_patient(const fhir_type *t, const char *id, const json_t *resource, char *out, size_t n);

/* fhir_reference_parse - split a reference string ("Patient/123", "Patient/123/_history/2", or an
 * absolute URL ending so) into type and id (copied into the given arrays). Returns 1 if it is a
 * literal reference of that form, 0 otherwise (urn:uuid:, #contained, logical references). */
int fhir_reference_parse(const char *ref, char *type, size_t type_n, char *id, size_t id_n);

/* fhir_outcome - append an OperationOutcome with one issue. severity "error"|"warning"|
 * "information"; code a FHIR issue type; expression may be NULL. */
void fhir_outcome(socle_buf *out, const char *severity, const char *code, const char *diagnostics,
                  const char *expression);
/* fhir_outcome_err - the OperationOutcome for an error record. */
void fhir_outcome_err(socle_buf *out, const socle_err *err);

#endif
