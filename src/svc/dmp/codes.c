/* codes.c - the coded metadata value sets of the DMP (codes.h), parsed once from
 * data/dmp/valuesets.csv into a read-only structure: one copy of the text cut into strings in
 * place, and per value set an array of codes sorted for bsearch, each with its accepted system
 * spellings. Nothing changes after dmp_codes_load, so any number of threads may query it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/dmp/codes.h"

#define DMP_CODES_HEADER "value_set;code;systems;display"

typedef struct dmp_codes_entry {
    const char *code;
    const char *display; /* "" when the CSV gives none */
    uint32_t sys_first;  /* index in dmp_codes.systems */
    uint32_t sys_count;
} dmp_codes_entry;

struct dmp_codes {
    char *text;               /* the CSV, cut into NUL-terminated fields */
    dmp_codes_entry *entries; /* all codes, grouped by value set, sorted by code */
    const char **systems;     /* the system spellings of every entry */
    size_t first[DMP_VS_COUNT], count[DMP_VS_COUNT];
};

/* The CSV's value set column, in dmp_value_set order. */
static const char *const dmp_codes_vs_ids[DMP_VS_COUNT] = {"J07", "J06", "J08", "J02", "J04", "J10"};
static const char *const dmp_codes_vs_names[DMP_VS_COUNT] = {
    "J07 type",  "J06 class", "J08 confidentiality", "J02 facility type", "J04 practice setting",
    "J10 format"};

const char *dmp_value_set_name(dmp_value_set vs)
{
    return (unsigned)vs < DMP_VS_COUNT ? dmp_codes_vs_names[vs] : "unknown value set";
}

/* A row while parsing: the value set and its fields (pointers into text). */
typedef struct dmp_codes_row {
    int vs;
    unsigned line;
    dmp_codes_entry e;
} dmp_codes_row;

static char *dmp_codes_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int dmp_codes_row_cmp(const void *a, const void *b)
{
    const dmp_codes_row *x = a, *y = b;
    if (x->vs != y->vs) return x->vs < y->vs ? -1 : 1;
    return strcmp(x->e.code, y->e.code);
}

static int dmp_codes_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const dmp_codes_entry *)elem)->code);
}

/* The capacity to grow an array of `cap` elements to when it must hold `need`; 0 on overflow. */
static size_t dmp_codes_cap(size_t cap, size_t need, size_t sz)
{
    size_t ncap = cap ? cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return 0;
        ncap *= 2;
    }
    return ncap > SIZE_MAX / sz ? 0 : ncap;
}

void dmp_codes_free(dmp_codes *c)
{
    if (!c) return;
    free(c->text);
    free(c->entries);
    free(c->systems);
    free(c);
}

int dmp_codes_load(const char *csv, size_t len, dmp_codes **out, socle_err *err)
{
    if (!out) return socle_err_set(err, SOCLE_EINTERNAL, "dmp_codes_load: no output");
    *out = NULL;
    if (!csv && len) return socle_err_set(err, SOCLE_EINTERNAL, "dmp_codes_load: no text");
    if (len && memchr(csv, '\0', len))
        return socle_err_set(err, SOCLE_EINVAL, "value sets CSV: contains a NUL byte");
    if (len == SIZE_MAX) return socle_err_set(err, SOCLE_ENOMEM, "value sets CSV: out of memory");

    dmp_codes *c = calloc(1, sizeof *c);
    dmp_codes_row *rows = NULL;
    size_t nrows = 0, rows_cap = 0, nsys = 0, sys_cap = 0;
    int rc;
    if (!c || !(c->text = malloc(len + 1))) goto fail_nomem;
    if (len) memcpy(c->text, csv, len);
    c->text[len] = '\0';

    char *p = c->text;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    unsigned line = 0;
    int have_header = 0;
    while (*p) {
        char *s = p;
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        line++;
        s = dmp_codes_trim(s);
        if (!*s || *s == '#') continue;
        if (!have_header) {
            if (strcmp(s, DMP_CODES_HEADER)) {
                rc = socle_err_set(err, SOCLE_EINVAL, "value sets CSV line %u: expected the header '%s'",
                                   line, DMP_CODES_HEADER);
                goto fail;
            }
            have_header = 1;
            continue;
        }
        /* Exactly four fields: value_set;code;systems;display. */
        size_t nf = 1;
        for (const char *q = s; *q; q++)
            nf += *q == ';';
        if (nf != 4) {
            rc = socle_err_set(err, SOCLE_EINVAL, "value sets CSV line %u: %zu fields, expected 4 (%s)", line,
                               nf, DMP_CODES_HEADER);
            goto fail;
        }
        char *f[4];
        f[0] = s;
        for (int i = 1; i < 4; i++) {
            char *semi = strchr(f[i - 1], ';');
            *semi = '\0';
            f[i] = semi + 1;
        }
        for (int i = 0; i < 4; i++)
            f[i] = dmp_codes_trim(f[i]);
        int vs = -1;
        for (int i = 0; i < DMP_VS_COUNT; i++)
            if (!strcmp(f[0], dmp_codes_vs_ids[i])) vs = i;
        if (vs < 0) {
            rc = socle_err_set(
                err, SOCLE_EINVAL,
                "value sets CSV line %u: value_set must be one of J07, J06, J08, J02, J04, J10", line);
            goto fail;
        }
        if (!*f[1]) {
            rc = socle_err_set(err, SOCLE_EINVAL, "value sets CSV line %u: empty code", line);
            goto fail;
        }
        /* The systems: '|'-separated, none empty. */
        size_t sys_first = nsys;
        char *sp = f[2];
        for (;;) {
            char *bar = strchr(sp, '|');
            if (bar) *bar = '\0';
            char *one = dmp_codes_trim(sp);
            if (!*one) {
                rc = socle_err_set(err, SOCLE_EINVAL,
                                   "value sets CSV line %u: empty system in the systems column", line);
                goto fail;
            }
            if (nsys == sys_cap) {
                size_t ncap = dmp_codes_cap(sys_cap, nsys + 1, sizeof *c->systems);
                const char **ns = ncap ? realloc(c->systems, ncap * sizeof *ns) : NULL;
                if (!ns) goto fail_nomem;
                c->systems = ns;
                sys_cap = ncap;
            }
            c->systems[nsys++] = one;
            if (!bar) break;
            sp = bar + 1;
        }
        if (nsys > UINT32_MAX) goto fail_nomem;
        if (nrows == rows_cap) {
            size_t ncap = dmp_codes_cap(rows_cap, nrows + 1, sizeof *rows);
            dmp_codes_row *nr = ncap ? realloc(rows, ncap * sizeof *nr) : NULL;
            if (!nr) goto fail_nomem;
            rows = nr;
            rows_cap = ncap;
        }
        rows[nrows++] = (dmp_codes_row){.vs = vs,
                                        .line = line,
                                        .e = {.code = f[1],
                                              .display = f[3],
                                              .sys_first = (uint32_t)sys_first,
                                              .sys_count = (uint32_t)(nsys - sys_first)}};
    }
    if (!have_header) {
        rc = socle_err_set(err, SOCLE_EINVAL, "value sets CSV line %u: no header line '%s'", line + 1,
                           DMP_CODES_HEADER);
        goto fail;
    }

    if (nrows) qsort(rows, nrows, sizeof *rows, dmp_codes_row_cmp);
    for (size_t i = 1; i < nrows; i++) {
        if (rows[i].vs == rows[i - 1].vs && !strcmp(rows[i].e.code, rows[i - 1].e.code)) {
            unsigned a = rows[i - 1].line, b = rows[i].line;
            rc = socle_err_set(err, SOCLE_EINVAL,
                               "value sets CSV line %u: code already listed in %s on line %u", a > b ? a : b,
                               dmp_codes_vs_ids[rows[i].vs], a > b ? b : a);
            goto fail;
        }
    }
    if (!(c->entries = malloc((nrows ? nrows : 1) * sizeof *c->entries))) goto fail_nomem;
    for (size_t i = 0; i < nrows; i++) {
        c->entries[i] = rows[i].e;
        if (i == 0 || rows[i].vs != rows[i - 1].vs) c->first[rows[i].vs] = i;
        c->count[rows[i].vs]++;
    }
    free(rows);
    *out = c;
    return 0;

fail_nomem:
    rc = socle_err_set(err, SOCLE_ENOMEM, "value sets CSV: out of memory");
fail:
    free(rows);
    dmp_codes_free(c);
    return rc;
}

static const dmp_codes_entry *dmp_codes_find(const dmp_codes *c, dmp_value_set vs, const char *code)
{
    if (!c || !code || (unsigned)vs >= DMP_VS_COUNT || !c->count[vs]) return NULL;
    return bsearch(code, c->entries + c->first[vs], c->count[vs], sizeof *c->entries, dmp_codes_key_cmp);
}

int dmp_codes_has(const dmp_codes *c, dmp_value_set vs, const char *system, const char *code)
{
    const dmp_codes_entry *e = dmp_codes_find(c, vs, code);
    if (!e) return 0;
    if (!system) return 1;
    for (uint32_t i = 0; i < e->sys_count; i++)
        if (!strcmp(c->systems[e->sys_first + i], system)) return 1;
    return 0;
}

const char *dmp_codes_display(const dmp_codes *c, dmp_value_set vs, const char *code)
{
    const dmp_codes_entry *e = dmp_codes_find(c, vs, code);
    return e && *e->display ? e->display : NULL;
}
