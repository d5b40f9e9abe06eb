/* ins_generate.c - `socle ins generate --count N [--seed S] --out FILE|-`: write a synthetic INS
 * reference base (svc/ins/generate.h) atomically (FILE.tmp, then rename; directly when FILE exists
 * and is not a regular file, such as /dev/null or a pipe), with a progress line (rate, ETA) on
 * stderr when stderr is a terminal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "cli/app.h"
#include "cli/ins_cli.h"
#include "svc/ins/generate.h"

#define GEN_USAGE "usage: socle ins generate --count N [--seed S] --out FILE|-\n"
#define GEN_MAX_COUNT 100000000ULL



int cli_ins_generate(int argc, char **argv)
{
    uint64_t count, seed;
    const char *out;
    int status = app_generator_flags("ins generate", GEN_USAGE, argc, argv, GEN_MAX_COUNT, &count, &seed, &out);
    if (status >= 0) return status;
    int to_stdout = !strcmp(out, "-");
    struct stat st;
    int direct = to_stdout || (stat(out, &st) == 0 && !S_ISREG(st.st_mode)); /* never rename over a device */
    size_t tmp_len = strlen(out) + 5;
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        fprintf(stderr, "socle ins generate: out of memory\n");
        return 1;
    }
    snprintf(tmp, tmp_len, "%s.tmp", out);
    const char *path = direct ? out : tmp;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "socle ins generate: cannot create %s: %s\n", path, strerror(errno));
        free(tmp);
        return 1;
    }
    static char iobuf[1 << 20];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);

    app_progress prog;
    app_progress_start(&prog, "lines", count);
    socle_err err;
    int rc = ins_generate(f, count, seed, app_progress_count, &prog, &err);
    app_progress_end(&prog);
    if (to_stdout) {
        if (!rc && fflush(f)) rc = socle_err_set(&err, SOCLE_EIO, "cannot write to the standard output: %s", strerror(errno));
    } else if (direct) {
        if (fclose(f) && !rc) rc = socle_err_set(&err, SOCLE_EIO, "cannot write %s: %s", out, strerror(errno));
    } else {
        if (!rc && (fflush(f) || fsync(fileno(f))))
            rc = socle_err_set(&err, SOCLE_EIO, "cannot write %s: %s", tmp, strerror(errno));
        if (fclose(f) && !rc) rc = socle_err_set(&err, SOCLE_EIO, "cannot write %s: %s", tmp, strerror(errno));
        if (!rc && rename(tmp, out))
            rc = socle_err_set(&err, SOCLE_EIO, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    if (rc) {
        fprintf(stderr, "socle ins generate: %s\n", err.msg);
        return 1;
    }
    if (!to_stdout)
        fprintf(stderr, "socle ins generate: %llu identities written to %s in %.1f s\n", (unsigned long long)count, out,
                (double)(time_monotonic_ns() - prog.start_ns) / 1e9);
    return 0;
}
