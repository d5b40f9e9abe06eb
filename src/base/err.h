/* err.h - error codes and the error record every fallible function fills.
 *
 * Functions return 0 on success or a negative SOCLE_E* code, and fill a socle_err (which may be
 * NULL when the caller does not want the message). The code says whose fault it is; the HTTP layer
 * maps it to a status and a FHIR OperationOutcome issue code. Messages never contain health data,
 * tokens or secrets: they name the element at fault, not its value. */
#ifndef SOCLE_BASE_ERR_H
#define SOCLE_BASE_ERR_H

enum {
    SOCLE_OK = 0,
    SOCLE_EINVAL = -1,          /* malformed request: 400 */
    SOCLE_ENOTFOUND = -2,       /* 404 */
    SOCLE_EGONE = -3,           /* deleted resource: 410 */
    SOCLE_ECONFLICT = -4,       /* 409 (unique key taken, concurrent change) */
    SOCLE_EPRECONDITION = -5,   /* If-Match / conditional failed: 412 */
    SOCLE_ETOOLARGE = -6,       /* 413 */
    SOCLE_EMEDIATYPE = -7,      /* 415 */
    SOCLE_EUNPROCESSABLE = -8,  /* well-formed but breaks a rule: 422 */
    SOCLE_EUNAUTHORIZED = -9,   /* no or bad credentials: 401 */
    SOCLE_EFORBIDDEN = -10,     /* authenticated but refused by policy: 403 */
    SOCLE_EMETHOD = -11,        /* 405 */
    SOCLE_EBUSY = -12,          /* store busy / overloaded, retry: 503 */
    SOCLE_ESTORE = -13,         /* store failure: 500 */
    SOCLE_EIO = -14,            /* file or network I/O failure: 500 */
    SOCLE_ENOMEM = -15,         /* 500 */
    SOCLE_EINTERNAL = -16,      /* a bug: 500 */
};

typedef struct socle_err {
    int code;            /* one of SOCLE_E*, 0 when no error */
    char msg[480];       /* human-readable, no health data, no secrets */
    char where[160];     /* FHIRPath-like location of the fault ("Patient.birthDate"), or "" */
} socle_err;

/* socle_err_set - record an error; returns code so callers can `return socle_err_set(...)`.
 * err may be NULL. The message is truncated to fit. */
int socle_err_set(socle_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* socle_err_at - like socle_err_set, and also names the element at fault. */
int socle_err_at(socle_err *err, int code, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* socle_err_clear - reset to "no error". err may be NULL. */
void socle_err_clear(socle_err *err);

/* socle_err_http_status - HTTP status for a code (500 for unknown codes). Can't fail. */
int socle_err_http_status(int code);

/* socle_err_fhir_code - the OperationOutcome issue.code for a code ("invalid", "not-found", ...). */
const char *socle_err_fhir_code(int code);

/* socle_err_name - a stable short name for logs ("EINVAL"). */
const char *socle_err_name(int code);

#endif
