/* import.c - `socle import ndjson FILE`: bulk-load FHIR resources (one JSON object per line, each
 * with an id; a line acts as an update) in transactions of 1000, with a progress line on a terminal.
 * Rejected lines are reported with their number and reason and do not stop the import. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "cli/app.h"

#define IMPORT_BATCH 1000

static int import_commit(socle_app *app, store_conn *c, long count, socle_err *err)
{
    char detail[64];
    snprintf(detail, sizeof detail, "%ld resources imported", count);
    audit_event e = {.action = "import", .outcome = "success", .agent_kind = "system", .agent_id = "socle-import",
                     .detail = detail};
    int rc = audit_append_tx(app->audit, c, &e, err);
    if (!rc) rc = store_tx_commit(c, err);
    return rc;
}

int cli_import(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[0], "ndjson")) {
        fprintf(stderr, "usage: socle import ndjson FILE [--data DIR] [--db URL]\n");
        return 2;
    }
    const char *path = argv[1];
    socle_config *cfg = app_load_config(argc - 2, argv + 2, NULL);
    if (!cfg) return 2;
    FILE *f = !strcmp(path, "-") ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "socle import: cannot read %s\n", path);
        config_free(cfg);
        return 2;
    }
    struct stat st;
    long long total_bytes = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : 0;
    socle_app app;
    socle_err err;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle import: %s\n", err.msg);
        if (f != stdin) fclose(f);
        config_free(cfg);
        return 1;
    }
    store_conn *c = NULL;
    int rc = store_acquire(app.store, &c, &err);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, loaded = 0, rejected = 0, in_batch = 0;
    long long bytes = 0;
    app_progress prog;
    app_progress_start(&prog, "lines", 0);
    arena *a = arena_new(1 << 16);
    auth_subject importer = {.kind = AUTH_KIND_SYSTEM};
    snprintf(importer.sub, sizeof importer.sub, "socle-import");
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        bytes += len;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (!in_batch && (rc = store_tx_begin(c, &err))) break;
        json_t *res = NULL;
        socle_err lerr;
        int lrc = fhir_json_parse(line, (size_t)len, &app.limits, &res, &lerr);
        const char *type = lrc ? NULL : json_string_value(json_object_get(res, "resourceType"));
        const char *id = lrc ? NULL : json_string_value(json_object_get(res, "id"));
        if (!lrc && (!type || !fhir_type_find(type)))
            lrc = socle_err_set(&lerr, SOCLE_EUNPROCESSABLE, "unknown or missing resourceType");
        else if (!lrc && !id)
            lrc = socle_err_set(&lerr, SOCLE_EUNPROCESSABLE, "the resource has no id");
        if (!lrc) lrc = rest_check_write(&app, c, a, &importer, type, id, res, &lerr); /* the services' rules */
        if (!lrc) {
            fhir_stored s;
            lrc = fhir_repo_update(c, type, id, res, 0, a, &s, NULL, &lerr);
            if (lrc && lrc != SOCLE_EUNPROCESSABLE && lrc != SOCLE_EINVAL) {
                rc = lrc; /* a store failure stops the import */
                err = lerr;
            }
        }
        if (lrc == 0) loaded++;
        if (lrc && !rc) {
            rejected++;
            fprintf(stderr, "%s:%ld: rejected: %s\n", path, lineno, lerr.msg);
        }
        if (res) json_decref(res);
        arena_reset(a);
        if (!rc && ++in_batch == IMPORT_BATCH) {
            rc = import_commit(&app, c, in_batch, &err);
            in_batch = 0;
        }
        app_progress_show(&prog, (uint64_t)lineno, total_bytes ? (double)bytes / (double)total_bytes : -1);
    }
    if (!rc && in_batch) rc = import_commit(&app, c, in_batch, &err);
    if (rc && c) store_tx_rollback(c);
    if (c) store_release(app.store, c);
    arena_free(a);
    free(line);
    if (f != stdin) fclose(f);
    double secs = (double)(time_monotonic_ns() - prog.start_ns) / 1e9;
    app_progress_end(&prog);
    if (rc) fprintf(stderr, "socle import: stopped at line %ld: %s\n", lineno, err.msg);
    printf("imported %ld resources, rejected %ld lines, in %.1f s\n", loaded, rejected, secs);
    app_close(&app);
    config_free(cfg);
    return rc ? 1 : rejected ? 1 : 0;
}
