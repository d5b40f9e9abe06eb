/* ins.c - `socle ins import FILE [--report FILE]` and `socle ins generate --count N --seed S --out
 * FILE`: the INS reference base (the stand-in for RNIPP/SNGI) from and to its CSV format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "cli/app.h"
#include "cli/ins_cli.h"
#include "svc/ins/import.h"
#include "svc/ins/ins.h"

/* The import's progress: lines read, and the share of the file's bytes. */
typedef struct ins_progress {
    app_progress line;
    long long total_bytes;
} ins_progress;

static void ins_print_progress(const ins_import_stats *st, void *ctx)
{
    ins_progress *p = ctx;
    app_progress_show(&p->line, st->lines, p->total_bytes > 0 ? (double)st->bytes / (double)p->total_bytes : -1);
}

static int ins_cli_import(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: socle ins import FILE [--report FILE] [--data DIR] [--db URL]\n");
        return 2;
    }
    const char *path = argv[0];
    socle_config *cfg = app_load_config(argc - 1, argv + 1, "report");
    if (!cfg) return 2;
    FILE *in = !strcmp(path, "-") ? stdin : fopen(path, "r");
    if (!in) {
        fprintf(stderr, "socle ins import: cannot read %s\n", path);
        config_free(cfg);
        return 2;
    }
    char report_path[4096];
    const char *rp = config_extra(cfg, "report");
    snprintf(report_path, sizeof report_path, "%s%s", rp ? rp : !strcmp(path, "-") ? "ins-import" : path,
             rp ? "" : ".rejets.txt");
    FILE *report = fopen(report_path, "w");
    if (!report) {
        fprintf(stderr, "socle ins import: cannot write the report %s\n", report_path);
        if (in != stdin) fclose(in);
        config_free(cfg);
        return 2;
    }
    struct stat sb;
    ins_progress p = {.total_bytes = fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode) ? (long long)sb.st_size : 0};
    app_progress_start(&p.line, "lines", 0);
    socle_app app;
    socle_err err;
    int status = 0;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle ins import: %s\n", err.msg);
        status = 1;
    } else {
        ins_import_stats st;
        int rc = ins_import(app.store, in, report, ins_print_progress, &p, &st, &err);
        app_progress_end(&p.line);
        char detail[128];
        snprintf(detail, sizeof detail, "INS reference base: %llu loaded, %llu rejected", (unsigned long long)st.loaded,
                 (unsigned long long)st.rejected);
        audit_event e = {.action = "ins-import", .outcome = rc ? "failure" : "success", .agent_kind = "system",
                         .agent_id = "socle-ins-import", .detail = detail};
        audit_append(app.audit, &e);
        double s = (double)(time_monotonic_ns() - p.line.start_ns) / 1e9;
        printf("%llu identities loaded, %llu rejected (report: %s) in %.1f s\n", (unsigned long long)st.loaded,
               (unsigned long long)st.rejected, report_path, s);
        if (rc) {
            fprintf(stderr, "socle ins import: %s\n", err.msg);
            status = 1;
        }
        app_close(&app);
    }
    fclose(report);
    if (in != stdin) fclose(in);
    config_free(cfg);
    return status;
}

/* `socle ins doublons [--score N]`: the candidate duplicate pairs of the local repository, one per
 * line: score, the two Patient ids, the criteria that matched. */
static int ins_cli_duplicates(int argc, char **argv)
{
    socle_config *cfg = app_load_config(argc, argv, "score");
    if (!cfg) return 2;
    const char *score = config_extra(cfg, "score");
    char *end = NULL;
    long min = score ? strtol(score, &end, 10) : 60;
    if (score && (*end || min < 0 || min > 100)) {
        fprintf(stderr, "socle ins doublons: --score must be 0 to 100\n");
        config_free(cfg);
        return 2;
    }
    socle_app app;
    socle_err err;
    int status = 0;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle ins doublons: %s\n", err.msg);
        config_free(cfg);
        return 1;
    }
    store_conn *c;
    ins_duplicate *pairs = NULL;
    size_t n = 0;
    int rc = store_acquire(app.store, &c, &err);
    if (!rc) {
        rc = ins_duplicates(c, (int)min, &pairs, &n, &err);
        store_release(app.store, c);
    }
    if (rc) {
        fprintf(stderr, "socle ins doublons: %s\n", err.msg);
        status = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%3d  Patient/%s  Patient/%s  %s\n", pairs[i].score, pairs[i].first, pairs[i].second, pairs[i].criteria);
        char detail[64];
        snprintf(detail, sizeof detail, "%zu candidate pairs", n);
        audit_event e = {.action = "ins-doublons", .outcome = "success", .agent_kind = "system",
                         .agent_id = "socle-ins-doublons", .resource_type = "Patient", .detail = detail};
        audit_append(app.audit, &e);
    }
    free(pairs);
    app_close(&app);
    config_free(cfg);
    return status;
}

int cli_ins(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "doublons")) return ins_cli_duplicates(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "import")) return ins_cli_import(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "generate")) return cli_ins_generate(argc - 1, argv + 1);
    fprintf(stderr, "usage: socle ins import FILE [--report FILE]\n"
                    "       socle ins generate --count N [--seed S] --out FILE|-\n"
                    "       socle ins doublons [--score N]\n");
    return 2;
}
