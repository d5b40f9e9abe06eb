/* dmp.c - the DMP service: opening (tables, value sets, matrix, policy rule, handlers), routes,
 * closing (see dmp.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/dmp/data.h"
#include "svc/dmp/dmp_internal.h"

/* The matrix: dmp_matrix_file when set, else the built-in one. */
static int dmp_load_matrix(dmp_service *svc, socle_err *err)
{
    const char *path = config_get(svc->app->config, "dmp_matrix_file");
    if (!path || !*path) {
        size_t len;
        const char *csv = dmp_data_matrix(&len);
        return dmp_matrix_load(csv, len, &svc->matrix, err);
    }
    enum { DMP_MAX_MATRIX_BYTES = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f) return socle_err_set(err, SOCLE_EIO, "cannot open dmp_matrix_file %s", path);
    char *text = malloc(DMP_MAX_MATRIX_BYTES + 1);
    size_t len = text ? fread(text, 1, DMP_MAX_MATRIX_BYTES + 1, f) : 0;
    fclose(f);
    if (!text) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    if (len > DMP_MAX_MATRIX_BYTES) {
        free(text);
        return socle_err_set(err, SOCLE_ETOOLARGE, "dmp_matrix_file %s is larger than 1 MiB", path);
    }
    text[len] = 0;
    int rc = dmp_matrix_load(text, len, &svc->matrix, err);
    free(text);
    if (rc) return socle_err_set(err, rc, "dmp_matrix_file %s: %s", path, err->msg);
    return 0;
}

int dmp_open(socle_app *app, dmp_service **out, socle_err *err)
{
    dmp_service *svc = calloc(1, sizeof *svc);
    if (!svc) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    svc->app = app;
    svc->check_hash = config_get_bool(app->config, "dmp_check_hash", 1);
    svc->max_document_bytes = config_get_int(app->config, "dmp_max_document_bytes", 20 << 20);
    svc->emergency_ms = config_get_int(app->config, "dmp_emergency_minutes", 60) * 60000;
    size_t len;
    const char *csv = dmp_data_valuesets(&len);
    int rc = dmp_migrate(app->store, err);
    if (!rc) rc = dmp_codes_load(csv, len, &svc->codes, err);
    if (!rc) rc = dmp_load_matrix(svc, err);
    if (!rc) rc = auth_policy_add_rule(app->policy, "dmp-access", dmp_policy_rule, svc);
    if (!rc) rc = rest_add_type_handler(app, "DocumentReference", dmp_handle_document, svc);
    if (!rc) rc = rest_add_type_handler(app, "List", dmp_handle_list, svc);
    if (!rc) rc = rest_add_type_handler(app, "Binary", dmp_handle_binary, svc);
    if (!rc) rc = rest_add_type_handler(app, "AuditEvent", dmp_handle_audit, svc);
    if (rc) {
        dmp_close(svc);
        return rc;
    }
    rest_set_bundle_handler(app, dmp_provide_bundle, svc);
    *out = svc;
    return 0;
}

int dmp_register(dmp_service *svc, http_router *router)
{
    return dmp_controls_register(svc, router);
}

void dmp_close(dmp_service *svc)
{
    if (!svc) return;
    dmp_codes_free(svc->codes);
    dmp_matrix_free(svc->matrix);
    free(svc);
}
