/* annuaire_import.c - `socle annuaire import FILE... [--report-dir DIR] [--keys LIST]`: load the
 * directory extracts (svc/annuaire/import.h) with a progress line on a terminal; each file's
 * rejected lines go to FILE.rejets.txt (or DIR/NAME.rejets.txt), the summary to stdout. --max-gone
 * (default ANNUAIRE_IMPORT_MAX_GONE) bounds the share of a kind's resources one run may remove. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/timeutil.h"
#include "cli/annuaire_cli.h"
#include "cli/app.h"
#include "svc/annuaire/import.h"
#include "svc/annuaire/keys.h"

#define AIMP_USAGE                                                                                                     \
    "usage: socle annuaire import FILE... [--report-dir DIR] [--keys rpps,finess,adeli|none]\n"                           \
    "                             [--max-gone PERCENT] [--data DIR] [--db URL]\n" \
    "  FILE: a PS_LibreAcces, MSSanté or FINESS extract (recognised by its header), each at most once\n"

typedef struct import_progress {
    app_progress line;
    uint64_t total_bytes;
} import_progress;

static void show_progress(const annuaire_import_stats *st, void *ctx)
{
    import_progress *p = ctx;
    app_progress_show(&p->line, st->lines, p->total_bytes ? (double)st->bytes / (double)p->total_bytes : -1);
}

/* The flags of --keys: a comma list of rpps, finess, adeli, or none. -1 when unknown. */
static int parse_keys(const char *list, unsigned *flags)
{
    *flags = 0;
    if (!strcmp(list, "none")) return 0;
    char copy[64];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save = NULL, *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (!strcmp(k, "rpps")) *flags |= ANNUAIRE_KEY_RPPS;
        else if (!strcmp(k, "finess")) *flags |= ANNUAIRE_KEY_FINESS;
        else if (!strcmp(k, "adeli")) *flags |= ANNUAIRE_KEY_ADELI;
        else return -1;
    }
    return 0;
}

int cli_annuaire_import(int argc, char **argv)
{
    int nfiles = 0;
    while (nfiles < argc && strncmp(argv[nfiles], "--", 2)) nfiles++;
    if (nfiles < 1 || nfiles > 3) {
        fprintf(stderr, AIMP_USAGE);
        return 2;
    }
    socle_config *cfg = app_load_config(argc - nfiles, argv + nfiles, "report-dir|keys|max-gone");
    if (!cfg) return 2;
    unsigned key_flags = ANNUAIRE_KEY_DEFAULT;
    const char *keys = config_extra(cfg, "keys"), *report_dir = config_extra(cfg, "report-dir");
    if (keys && parse_keys(keys, &key_flags)) {
        fprintf(stderr, "socle annuaire import: --keys: unknown key rule in '%s'\n" AIMP_USAGE, keys);
        config_free(cfg);
        return 2;
    }
    const char *max_gone_text = config_extra(cfg, "max-gone");
    char *end = NULL;
    long max_gone = max_gone_text ? strtol(max_gone_text, &end, 10) : ANNUAIRE_IMPORT_MAX_GONE;
    if (max_gone_text && (*end || max_gone < 0 || max_gone > 100)) {
        fprintf(stderr, "socle annuaire import: --max-gone: a percentage from 0 to 100\n" AIMP_USAGE);
        config_free(cfg);
        return 2;
    }
    annuaire_import_file files[3];
    char reports[3][4096];
    import_progress p = {0};
    int status = 0, opened = 0;
    for (int i = 0; i < nfiles && !status; i++) {
        files[i].name = argv[i];
        files[i].in = fopen(argv[i], "r");
        files[i].report = NULL;
        if (!files[i].in) {
            fprintf(stderr, "socle annuaire import: cannot read %s\n", argv[i]);
            status = 2;
            break;
        }
        opened++;
        struct stat sb;
        if (!fstat(fileno(files[i].in), &sb) && S_ISREG(sb.st_mode)) p.total_bytes += (uint64_t)sb.st_size;
        char base[4096];
        snprintf(base, sizeof base, "%s", argv[i]);
        if (report_dir) snprintf(reports[i], sizeof reports[i], "%s/%s.rejets.txt", report_dir, basename(base));
        else snprintf(reports[i], sizeof reports[i], "%s.rejets.txt", argv[i]);
        if (!(files[i].report = fopen(reports[i], "w"))) {
            fprintf(stderr, "socle annuaire import: cannot write the report %s\n", reports[i]);
            status = 2;
        }
    }
    socle_app app;
    socle_err err;
    if (!status && app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle annuaire import: %s\n", err.msg);
        status = 1;
    } else if (!status) {
        app_progress_start(&p.line, "lines", 0);
        annuaire_import_stats st;
        int rc = annuaire_import(&app, files, nfiles, key_flags, (int)max_gone, show_progress, &p, &st, &err);
        app_progress_end(&p.line);
        double secs = (double)(time_monotonic_ns() - p.line.start_ns) / 1e9;
        char detail[200];
        snprintf(detail, sizeof detail, "directory import: %llu new, %llu changed, %llu gone, %llu lines rejected",
                 (unsigned long long)st.created, (unsigned long long)st.changed, (unsigned long long)st.gone,
                 (unsigned long long)st.rejected);
        audit_event e = {.action = "annuaire-import", .outcome = rc ? "failure" : "success", .agent_kind = "system",
                         .agent_id = "socle-annuaire-import", .detail = detail};
        audit_append(app.audit, &e);
        printf("%llu lines: %llu professionals, %llu activities, %llu structures, %llu mailboxes; "
               "%llu new, %llu changed, %llu unchanged, %llu gone; %llu lines rejected; in %.1f s\n",
               (unsigned long long)st.lines, (unsigned long long)st.practitioners, (unsigned long long)st.roles,
               (unsigned long long)st.organizations, (unsigned long long)st.mailboxes, (unsigned long long)st.created,
               (unsigned long long)st.changed, (unsigned long long)st.unchanged, (unsigned long long)st.gone,
               (unsigned long long)st.rejected, secs);
        for (int i = 0; i < nfiles; i++) printf("report: %s\n", reports[i]);
        if (rc) {
            fprintf(stderr, "socle annuaire import: %s\n", err.msg);
            status = rc == SOCLE_EINVAL ? 2 : 1;
        } else if (st.rejected) {
            status = 1;
        }
        app_close(&app);
    }
    for (int i = 0; i < opened; i++) {
        fclose(files[i].in);
        if (files[i].report) fclose(files[i].report);
    }
    config_free(cfg);
    return status;
}
