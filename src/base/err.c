/* err.c - error records and their mapping to HTTP statuses and FHIR issue codes. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The message and the location may quote the record's own (socle_err_at(err, ..., "x: %s",
 * err->msg)): both are formatted aside, then copied. */
static void err_vset(socle_err *err, int code, const char *where, const char *fmt, va_list ap)
{
    char msg[sizeof err->msg], at[sizeof err->where];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(at, sizeof at, "%s", where ? where : "");
    err->code = code;
    memcpy(err->msg, msg, sizeof msg);
    memcpy(err->where, at, sizeof at);
}

int socle_err_set(socle_err *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int socle_err_at(socle_err *err, int code, const char *where, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, where, fmt, ap);
    va_end(ap);
    return code;
}

void socle_err_clear(socle_err *err)
{
    if (!err) return;
    err->code = 0;
    err->msg[0] = 0;
    err->where[0] = 0;
}

static const struct {
    int code;
    int status;
    const char *fhir;
    const char *name;
} err_table[] = {
    {SOCLE_OK, 200, "informational", "OK"},
    {SOCLE_EINVAL, 400, "invalid", "EINVAL"},
    {SOCLE_ENOTFOUND, 404, "not-found", "ENOTFOUND"},
    {SOCLE_EGONE, 410, "deleted", "EGONE"},
    {SOCLE_ECONFLICT, 409, "conflict", "ECONFLICT"},
    {SOCLE_EPRECONDITION, 412, "conflict", "EPRECONDITION"},
    {SOCLE_ETOOLARGE, 413, "too-costly", "ETOOLARGE"},
    {SOCLE_EMEDIATYPE, 415, "not-supported", "EMEDIATYPE"},
    {SOCLE_EUNPROCESSABLE, 422, "processing", "EUNPROCESSABLE"},
    {SOCLE_EUNAUTHORIZED, 401, "login", "EUNAUTHORIZED"},
    {SOCLE_EFORBIDDEN, 403, "forbidden", "EFORBIDDEN"},
    {SOCLE_EMETHOD, 405, "not-supported", "EMETHOD"},
    {SOCLE_EBUSY, 503, "transient", "EBUSY"},
    {SOCLE_ESTORE, 500, "exception", "ESTORE"},
    {SOCLE_EIO, 500, "exception", "EIO"},
    {SOCLE_ENOMEM, 500, "exception", "ENOMEM"},
    {SOCLE_EINTERNAL, 500, "exception", "EINTERNAL"},
};

static int err_index(int code)
{
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code) return (int)i;
    return -1;
}

int socle_err_http_status(int code)
{
    int i = err_index(code);
    return i < 0 ? 500 : err_table[i].status;
}

const char *socle_err_fhir_code(int code)
{
    int i = err_index(code);
    return i < 0 ? "exception" : err_table[i].fhir;
}

const char *socle_err_name(int code)
{
    int i = err_index(code);
    return i < 0 ? "EUNKNOWN" : err_table[i].name;
}
