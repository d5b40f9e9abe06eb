/* annuaire_generate.c - `socle annuaire generate --count N [--seed S] --out DIR`: write the three
 * synthetic directory extracts of svc/annuaire/generate.h into DIR (created if missing, one
 * level), each atomically (NAME.tmp then rename), with a progress line on stderr when stderr is a
 * terminal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "cli/annuaire_cli.h"
#include "cli/app.h"
#include "svc/annuaire/generate.h"

#define AGEN_USAGE "usage: socle annuaire generate --count N [--seed S] --out DIR\n"



int cli_annuaire_generate(int argc, char **argv)
{
    uint64_t count, seed;
    const char *out;
    int status = app_generator_flags("annuaire generate", AGEN_USAGE, argc, argv, ANNUAIRE_GEN_MAX_COUNT, &count, &seed, &out);
    if (status >= 0) return status;
    struct stat st;
    if (stat(out, &st)) {
        if (errno != ENOENT || mkdir(out, 0777)) {
            fprintf(stderr, "socle annuaire generate: cannot create %s: %s\n", out, strerror(errno));
            return 1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "socle annuaire generate: %s is not a directory\n", out);
        return 2;
    }
    app_progress prog;
    app_progress_start(&prog, "professionals", count);
    annuaire_gen_stats stats;
    socle_err err;
    int rc = annuaire_generate(out, count, seed, app_progress_count, &prog, &stats, &err);
    app_progress_end(&prog);
    if (rc) {
        fprintf(stderr, "socle annuaire generate: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr,
            "socle annuaire generate: %llu professionals, %llu activity lines, %llu mailboxes, %llu FINESS "
            "establishments written to %s in %.1f s\n",
            (unsigned long long)stats.professionals, (unsigned long long)stats.activity_lines,
            (unsigned long long)stats.mailboxes, (unsigned long long)stats.structures, out,
            (double)(time_monotonic_ns() - prog.start_ns) / 1e9);
    return 0;
}
