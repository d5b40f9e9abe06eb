/* outcome.c - FHIR OperationOutcome bodies. */
#include "fhir/fhir.h"

void fhir_outcome(socle_buf *out, const char *severity, const char *code, const char *diagnostics,
                  const char *expression)
{
    buf_puts(out, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":");
    buf_json_string(out, severity);
    buf_puts(out, ",\"code\":");
    buf_json_string(out, code);
    if (diagnostics && *diagnostics) {
        buf_puts(out, ",\"diagnostics\":");
        buf_json_string(out, diagnostics);
    }
    if (expression && *expression) {
        buf_puts(out, ",\"expression\":[");
        buf_json_string(out, expression);
        buf_putc(out, ']');
    }
    buf_puts(out, "}]}");
}

void fhir_outcome_err(socle_buf *out, const socle_err *err)
{
    fhir_outcome(out, "error", socle_err_fhir_code(err->code), err->msg, err->where);
}
