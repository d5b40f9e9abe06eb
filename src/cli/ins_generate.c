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
#include "cli/ins_cli.h"
#include "svc/ins/generate.h"

#define GEN_USAGE "usage: socle ins generate --count N [--seed S] --out FILE|-\n"
#define GEN_MAX_COUNT 100000000ULL

typedef struct gen_progress {
    uint64_t total;
    int64_t start_ns, last_ns;
} gen_progress;

static void gen_print_progress(uint64_t done, void *ctx)
{
    gen_progress *p = ctx;
    int64_t now = time_monotonic_ns();
    if (done < p->total && now - p->last_ns < 250000000) return;
    p->last_ns = now;
    double secs = (double)(now - p->start_ns) / 1e9, rate = secs > 0 ? (double)done / secs : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "\r%llu/%llu lines (%3.0f%%), %.0f lines/s, ETA %.0fs   ", (unsigned long long)done,
            (unsigned long long)p->total, 100.0 * (double)done / (double)p->total, rate, eta);
}

/* A decimal number without sign or blanks, within [min, max]; 0 or -1. */
static int gen_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s)) return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cli_ins_generate(int argc, char **argv)
{
    const char *count_s = NULL, *seed_s = "1", *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL, **slot;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(GEN_USAGE, stdout);
            return 0;
        }
        size_t n = strcspn(a, "=");
        if (!strncmp(a, "--count", n) && n == 7) slot = &count_s;
        else if (!strncmp(a, "--seed", n) && n == 6) slot = &seed_s;
        else if (!strncmp(a, "--out", n) && n == 5) slot = &out;
        else {
            fprintf(stderr, "socle ins generate: unknown argument '%s'\n" GEN_USAGE, a);
            return 2;
        }
        if (a[n] == '=') v = a + n + 1;
        else if (i + 1 < argc) v = argv[++i];
        else {
            fprintf(stderr, "socle ins generate: %.*s needs a value\n" GEN_USAGE, (int)n, a);
            return 2;
        }
        *slot = v;
    }
    uint64_t count, seed;
    if (!count_s) {
        fprintf(stderr, "socle ins generate: --count is required\n" GEN_USAGE);
        return 2;
    }
    if (gen_parse_u64(count_s, 1, GEN_MAX_COUNT, &count)) {
        fprintf(stderr, "socle ins generate: --count must be a whole number from 1 to %llu\n", GEN_MAX_COUNT);
        return 2;
    }
    if (gen_parse_u64(seed_s, 0, UINT64_MAX, &seed)) {
        fprintf(stderr, "socle ins generate: --seed must be a whole number from 0 to %llu\n",
                (unsigned long long)UINT64_MAX);
        return 2;
    }
    if (!out || !*out) {
        fprintf(stderr, "socle ins generate: --out FILE is required ('-' for the standard output)\n" GEN_USAGE);
        return 2;
    }

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

    int tty = isatty(2);
    gen_progress prog = {.total = count, .start_ns = time_monotonic_ns()};
    socle_err err;
    int rc = ins_generate(f, count, seed, tty ? gen_print_progress : NULL, &prog, &err);
    if (tty) fputc('\n', stderr);
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
