/* matrix.c - the DMP's matrice d'habilitation (matrix.h), parsed once from its CSV
 * (data/dmp/matrice-habilitation.csv or the `dmp_matrix_file` replacement) into a read-only
 * table: rows sorted by class code for bsearch, one cell per (class, column), where a column is a
 * profession (TRE_G15), a profession:speciality pair (TRE_R38) or "autres". Nothing changes after
 * dmp_matrix_load, so any number of threads may query it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "svc/dmp/matrix.h"

enum { DMP_MATRIX_NO = 0, DMP_MATRIX_YES, DMP_MATRIX_TYPES };

typedef struct dmp_matrix_cell {
    uint8_t kind;           /* DMP_MATRIX_* */
    uint32_t types_first;   /* DMP_MATRIX_TYPES: the allowed J07 types, in dmp_matrix.types */
    uint32_t types_count;
} dmp_matrix_cell;

typedef struct dmp_matrix_column {
    const char *profession;   /* NULL for "autres" */
    const char *speciality;   /* NULL for a profession column */
} dmp_matrix_column;

typedef struct dmp_matrix_row {
    const char *class_code;
    unsigned line;
    size_t cells;             /* index of the row's first cell in dmp_matrix.cells */
} dmp_matrix_row;

struct dmp_matrix {
    char *text;                   /* the CSV, cut into NUL-terminated fields */
    dmp_matrix_column *columns;   /* the access columns (after classe;libelle) */
    size_t ncolumns;
    int other;                    /* index of the "autres" column, -1 when none */
    dmp_matrix_row *rows;         /* sorted by class code */
    size_t nrows;
    dmp_matrix_cell *cells;       /* nrows * ncolumns, in file order of the rows */
    const char **types;
};

static char *dmp_matrix_trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* Split a line on ';' in place into f (at most max fields); returns the number of fields, which may
 * exceed max (then only max were stored). */
static size_t dmp_matrix_split(char *s, char **f, size_t max)
{
    size_t n = 0;
    char *start = s;
    for (char *q = s;; q++) {
        if (*q == ';' || !*q) {
            int end = !*q;
            *q = '\0';
            if (n < max) f[n] = dmp_matrix_trim(start);
            n++;
            if (end) break;
            start = q + 1;
        }
    }
    return n;
}

/* The next significant line (not empty, not a comment) of the text at *p, cut in place; NULL at the
 * end. *line counts every line. */
static char *dmp_matrix_next_line(char **p, unsigned *line)
{
    while (**p) {
        char *s = *p;
        char *nl = strchr(s, '\n');
        if (nl) {
            *nl = '\0';
            *p = nl + 1;
        } else {
            *p = s + strlen(s);
        }
        (*line)++;
        char *t = dmp_matrix_trim(s);
        if (*t && *t != '#') return t;
    }
    return NULL;
}

static size_t dmp_matrix_cap(size_t cap, size_t need, size_t sz)
{
    size_t ncap = cap ? cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return 0;
        ncap *= 2;
    }
    return ncap > SIZE_MAX / sz ? 0 : ncap;
}

static int dmp_matrix_row_cmp(const void *a, const void *b)
{
    return strcmp(((const dmp_matrix_row *)a)->class_code, ((const dmp_matrix_row *)b)->class_code);
}

static int dmp_matrix_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const dmp_matrix_row *)elem)->class_code);
}

static int dmp_matrix_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A code in a column header or a types: list: not empty, no blanks or separators. */
static int dmp_matrix_code_ok(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == ':' || *s == '|' || *s == ';') return 0;
    return 1;
}

void dmp_matrix_free(dmp_matrix *m)
{
    if (!m) return;
    free(m->text);
    free(m->columns);
    free(m->rows);
    free(m->cells);
    free(m->types);
    free(m);
}

int dmp_matrix_load(const char *csv, size_t len, dmp_matrix **out, socle_err *err)
{
    if (!out) return socle_err_set(err, SOCLE_EINTERNAL, "dmp_matrix_load: no output");
    *out = NULL;
    if (!csv && len) return socle_err_set(err, SOCLE_EINTERNAL, "dmp_matrix_load: no text");
    if (len && memchr(csv, '\0', len))
        return socle_err_set(err, SOCLE_EINVAL, "matrice d'habilitation: contains a NUL byte");
    if (len == SIZE_MAX) return socle_err_set(err, SOCLE_ENOMEM, "matrice d'habilitation: out of memory");

    dmp_matrix *m = calloc(1, sizeof *m);
    char **f = NULL;
    size_t rows_cap = 0, cells_cap = 0, types_cap = 0, ntypes = 0;
    int rc;
    if (!m || !(m->text = malloc(len + 1))) goto fail_nomem;
    if (len) memcpy(m->text, csv, len);
    m->text[len] = '\0';
    m->other = -1;

    char *p = m->text;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    unsigned line = 0;

    /* The header: classe;libelle;<column>... */
    char *s = dmp_matrix_next_line(&p, &line);
    if (!s) {
        rc = socle_err_set(err, SOCLE_EINVAL, "matrice d'habilitation line %u: no header line (classe;libelle;...)",
                           line + 1);
        goto fail;
    }
    size_t nf = 1;
    for (const char *q = s; *q; q++) nf += *q == ';';
    if (!(f = malloc(nf * sizeof *f))) goto fail_nomem;
    dmp_matrix_split(s, f, nf);
    if (nf < 3 || strcmp(f[0], "classe") || strcmp(f[1], "libelle")) {
        rc = socle_err_set(err, SOCLE_EINVAL,
                           "matrice d'habilitation line %u: expected the header 'classe;libelle;' followed by at "
                           "least one profession column",
                           line);
        goto fail;
    }
    m->ncolumns = nf - 2;
    if (!(m->columns = calloc(m->ncolumns, sizeof *m->columns))) goto fail_nomem;
    for (size_t i = 0; i < m->ncolumns; i++) {
        char *h = f[i + 2];
        dmp_matrix_column *col = &m->columns[i];
        if (!strcmp(h, "autres")) {
            if (m->other >= 0) {
                rc = socle_err_set(err, SOCLE_EINVAL, "matrice d'habilitation line %u column %zu: second 'autres' column",
                                   line, i + 3);
                goto fail;
            }
            m->other = (int)i;
            continue;
        }
        char *colon = strchr(h, ':');
        if (colon) *colon = '\0';
        col->profession = h;
        col->speciality = colon ? colon + 1 : NULL;
        if (!dmp_matrix_code_ok(col->profession) || (col->speciality && !dmp_matrix_code_ok(col->speciality))) {
            rc = socle_err_set(err, SOCLE_EINVAL,
                               "matrice d'habilitation line %u column %zu: a column is a profession code, "
                               "'profession:speciality' or 'autres'",
                               line, i + 3);
            goto fail;
        }
        for (size_t j = 0; j < i; j++) {
            const dmp_matrix_column *o = &m->columns[j];
            if (o->profession && !strcmp(o->profession, col->profession) && !o->speciality == !col->speciality &&
                (!o->speciality || !strcmp(o->speciality, col->speciality))) {
                rc = socle_err_set(err, SOCLE_EINVAL,
                                   "matrice d'habilitation line %u column %zu: same column as column %zu", line, i + 3,
                                   j + 3);
                goto fail;
            }
        }
    }

    /* The rows: class;label;cell... */
    while ((s = dmp_matrix_next_line(&p, &line))) {
        size_t n = dmp_matrix_split(s, f, nf);
        if (n != nf) {
            rc = socle_err_set(err, SOCLE_EINVAL, "matrice d'habilitation line %u: %zu columns, the header has %zu",
                               line, n, nf);
            goto fail;
        }
        if (!dmp_matrix_code_ok(f[0])) {
            rc = socle_err_set(err, SOCLE_EINVAL, "matrice d'habilitation line %u column 1: bad class code", line);
            goto fail;
        }
        if (m->nrows == rows_cap) {
            size_t ncap = dmp_matrix_cap(rows_cap, m->nrows + 1, sizeof *m->rows);
            dmp_matrix_row *nr = ncap ? realloc(m->rows, ncap * sizeof *nr) : NULL;
            if (!nr) goto fail_nomem;
            m->rows = nr;
            rows_cap = ncap;
        }
        size_t first = m->nrows * m->ncolumns;
        if (first + m->ncolumns > cells_cap) {
            size_t ncap = dmp_matrix_cap(cells_cap, first + m->ncolumns, sizeof *m->cells);
            dmp_matrix_cell *nc = ncap ? realloc(m->cells, ncap * sizeof *nc) : NULL;
            if (!nc) goto fail_nomem;
            m->cells = nc;
            cells_cap = ncap;
        }
        m->rows[m->nrows++] = (dmp_matrix_row){.class_code = f[0], .line = line, .cells = first};
        for (size_t i = 0; i < m->ncolumns; i++) {
            char *v = f[i + 2];
            dmp_matrix_cell *cell = &m->cells[first + i];
            *cell = (dmp_matrix_cell){0};
            if (!strcasecmp(v, "oui")) {
                cell->kind = DMP_MATRIX_YES;
            } else if (!strcasecmp(v, "non")) {
                cell->kind = DMP_MATRIX_NO;
            } else if (!strncasecmp(v, "types:", 6)) {
                cell->kind = DMP_MATRIX_TYPES;
                cell->types_first = (uint32_t)ntypes;
                char *tp = v + 6;
                for (;;) {
                    char *bar = strchr(tp, '|');
                    if (bar) *bar = '\0';
                    char *t = dmp_matrix_trim(tp);
                    if (!dmp_matrix_code_ok(t)) {
                        rc = socle_err_set(err, SOCLE_EINVAL,
                                           "matrice d'habilitation line %u column %zu: empty or bad type code in a "
                                           "'types:' cell",
                                           line, i + 3);
                        goto fail;
                    }
                    if (ntypes == types_cap) {
                        size_t ncap = dmp_matrix_cap(types_cap, ntypes + 1, sizeof *m->types);
                        const char **nt = ncap ? realloc(m->types, ncap * sizeof *nt) : NULL;
                        if (!nt) goto fail_nomem;
                        m->types = nt;
                        types_cap = ncap;
                    }
                    m->types[ntypes++] = t;
                    if (!bar) break;
                    tp = bar + 1;
                }
                if (ntypes > UINT32_MAX) goto fail_nomem;
                cell->types_count = (uint32_t)(ntypes - cell->types_first);
            } else {
                rc = socle_err_set(err, SOCLE_EINVAL,
                                   "matrice d'habilitation line %u column %zu: a cell is 'oui', 'non' or "
                                   "'types:CODE|CODE'",
                                   line, i + 3);
                goto fail;
            }
        }
    }
    /* Sort each cell's types (for bsearch), then the rows; a class listed twice is an error. */
    for (size_t i = 0; i < m->nrows * m->ncolumns; i++)
        if (m->cells[i].kind == DMP_MATRIX_TYPES)
            qsort(m->types + m->cells[i].types_first, m->cells[i].types_count, sizeof *m->types, dmp_matrix_str_cmp);
    if (m->nrows) qsort(m->rows, m->nrows, sizeof *m->rows, dmp_matrix_row_cmp);
    for (size_t i = 1; i < m->nrows; i++) {
        if (!strcmp(m->rows[i].class_code, m->rows[i - 1].class_code)) {
            unsigned a = m->rows[i - 1].line, b = m->rows[i].line;
            rc = socle_err_set(err, SOCLE_EINVAL, "matrice d'habilitation line %u column 1: class already on line %u",
                               a > b ? a : b, a > b ? b : a);
            goto fail;
        }
    }
    free(f);
    *out = m;
    return 0;

fail_nomem:
    rc = socle_err_set(err, SOCLE_ENOMEM, "matrice d'habilitation: out of memory");
fail:
    free(f);
    dmp_matrix_free(m);
    return rc;
}

/* The column for a reader: profession:speciality, else profession, else "autres"; -1 when none. */
static long dmp_matrix_column_of(const dmp_matrix *m, const char *profession, const char *speciality)
{
    long prof = -1;
    if (profession && *profession) {
        int with_spec = speciality && *speciality;
        for (size_t i = 0; i < m->ncolumns; i++) {
            const dmp_matrix_column *c = &m->columns[i];
            if (!c->profession || strcmp(c->profession, profession)) continue;
            if (!c->speciality) {
                prof = (long)i;
            } else if (with_spec && !strcmp(c->speciality, speciality)) {
                return (long)i;
            }
        }
    }
    return prof >= 0 ? prof : m->other;
}

int dmp_matrix_allows(const dmp_matrix *m, const char *profession, const char *speciality, const char *class_code,
                      const char *type_code)
{
    if (!m || !class_code) return 0;
    const dmp_matrix_row *row = m->nrows ? bsearch(class_code, m->rows, m->nrows, sizeof *m->rows,
                                                   dmp_matrix_key_cmp)
                                         : NULL;
    if (!row) return 0;
    long col = dmp_matrix_column_of(m, profession, speciality);
    if (col < 0) return 0;
    const dmp_matrix_cell *cell = &m->cells[row->cells + (size_t)col];
    switch (cell->kind) {
    case DMP_MATRIX_YES:
        return 1;
    case DMP_MATRIX_TYPES:
        return type_code && bsearch(&type_code, m->types + cell->types_first, cell->types_count, sizeof *m->types,
                                    dmp_matrix_str_cmp) != NULL;
    default:
        return 0;
    }
}
