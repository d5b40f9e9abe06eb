/* matrix.c - the matrice d'habilitation loaded from its CSV (see matrix.h and the header comment
 * of data/dmp/matrice-habilitation.csv): one row per document class, one column per profession,
 * per profession:speciality, and "autres". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/dmp/matrix.h"

#define DMP_MATRIX_MAX_COLUMNS 64
#define DMP_MATRIX_MAX_ROWS 128

typedef enum { DMP_CELL_NO = 0, DMP_CELL_YES, DMP_CELL_TYPES } dmp_cell_kind;

typedef struct dmp_cell {
    dmp_cell_kind kind;
    char *types; /* "|CODE|CODE|" for DMP_CELL_TYPES */
} dmp_cell;

struct dmp_matrix {
    char *columns[DMP_MATRIX_MAX_COLUMNS]; /* "10", "10:SM54", "autres" */
    int ncolumns;
    struct {
        char class_code[16];
        dmp_cell cells[DMP_MATRIX_MAX_COLUMNS];
    } rows[DMP_MATRIX_MAX_ROWS];
    int nrows;
};

/* Split line (modified in place) at ';' into at most max fields; returns the count. */
static int dmp_matrix_split(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line;;) {
        char *semi = strchr(p, ';');
        if (n == max) return max + 1;
        fields[n++] = p;
        if (!semi) break;
        *semi = 0;
        p = semi + 1;
    }
    return n;
}

static char *dmp_matrix_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

void dmp_matrix_free(dmp_matrix *m)
{
    if (!m) return;
    for (int i = 0; i < m->ncolumns; i++)
        free(m->columns[i]);
    for (int r = 0; r < m->nrows; r++)
        for (int c = 0; c < m->ncolumns; c++)
            free(m->rows[r].cells[c].types);
    free(m);
}

static int dmp_matrix_cell(const char *text, dmp_cell *cell)
{
    if (!strcmp(text, "oui")) {
        cell->kind = DMP_CELL_YES;
    } else if (!strcmp(text, "non")) {
        cell->kind = DMP_CELL_NO;
    } else if (!strncmp(text, "types:", 6) && text[6]) {
        cell->kind = DMP_CELL_TYPES;
        size_t n = strlen(text + 6);
        cell->types = malloc(n + 3);
        if (!cell->types) return -1;
        snprintf(cell->types, n + 3, "|%s|", text + 6);
    } else {
        return -1;
    }
    return 0;
}

int dmp_matrix_load(const char *csv, size_t len, dmp_matrix **out, socle_err *err)
{
    *out = NULL;
    dmp_matrix *m = calloc(1, sizeof *m);
    char *text = malloc(len + 1);
    if (!m || !text) {
        free(m);
        free(text);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    memcpy(text, csv, len);
    text[len] = 0;
    int rc = 0, lineno = 0, header = 0;
    for (char *line = text, *next; line && !rc; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        char *trimmed = dmp_matrix_trim(line);
        if (!*trimmed || *trimmed == '#') continue;
        char *fields[DMP_MATRIX_MAX_COLUMNS + 3];
        int n = dmp_matrix_split(trimmed, fields, DMP_MATRIX_MAX_COLUMNS + 2);
        if (!header) {
            if (n < 3 || n > DMP_MATRIX_MAX_COLUMNS + 2 || strcmp(dmp_matrix_trim(fields[0]), "classe")) {
                rc = socle_err_set(err, SOCLE_EINVAL,
                                   "line %d: the header must be classe;libelle;PROFESSION;...", lineno);
                break;
            }
            for (int i = 2; i < n; i++) {
                char *name = dmp_matrix_trim(fields[i]);
                if (!*name) {
                    rc = socle_err_set(err, SOCLE_EINVAL, "line %d, column %d: empty profession", lineno,
                                       i + 1);
                    break;
                }
                m->columns[m->ncolumns++] = strdup(name);
            }
            header = 1;
            continue;
        }
        if (n != m->ncolumns + 2) {
            rc = socle_err_set(err, SOCLE_EINVAL, "line %d: %d columns, the header has %d", lineno, n,
                               m->ncolumns + 2);
            break;
        }
        if (m->nrows == DMP_MATRIX_MAX_ROWS) {
            rc = socle_err_set(err, SOCLE_EINVAL, "line %d: more than %d classes", lineno,
                               DMP_MATRIX_MAX_ROWS);
            break;
        }
        char *klass = dmp_matrix_trim(fields[0]);
        if (!*klass || strlen(klass) >= sizeof m->rows[0].class_code) {
            rc = socle_err_set(err, SOCLE_EINVAL, "line %d, column 1: bad class code", lineno);
            break;
        }
        snprintf(m->rows[m->nrows].class_code, sizeof m->rows[0].class_code, "%s", klass);
        for (int c = 0; c < m->ncolumns && !rc; c++)
            if (dmp_matrix_cell(dmp_matrix_trim(fields[c + 2]), &m->rows[m->nrows].cells[c]))
                rc =
                    socle_err_set(err, SOCLE_EINVAL,
                                  "line %d, column %d: a cell is oui, non or types:CODE|CODE", lineno, c + 3);
        m->nrows++;
    }
    free(text);
    if (!rc && !header) rc = socle_err_set(err, SOCLE_EINVAL, "line %d: no header line", lineno);
    if (rc) {
        dmp_matrix_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int dmp_matrix_column(const dmp_matrix *m, const char *name)
{
    for (int i = 0; i < m->ncolumns; i++)
        if (!strcmp(m->columns[i], name)) return i;
    return -1;
}

int dmp_matrix_allows(const dmp_matrix *m, const char *profession, const char *speciality,
                      const char *class_code, const char *type_code)
{
    if (!m || !class_code) return 0;
    int row = -1;
    for (int r = 0; r < m->nrows && row < 0; r++)
        if (!strcmp(m->rows[r].class_code, class_code)) row = r;
    if (row < 0) return 0;
    int col = -1;
    if (profession && *profession && speciality && *speciality) {
        char both[96];
        snprintf(both, sizeof both, "%s:%s", profession, speciality);
        col = dmp_matrix_column(m, both);
    }
    if (col < 0 && profession && *profession) col = dmp_matrix_column(m, profession);
    if (col < 0) col = dmp_matrix_column(m, "autres");
    if (col < 0) return 0;
    const dmp_cell *cell = &m->rows[row].cells[col];
    if (cell->kind != DMP_CELL_TYPES) return cell->kind == DMP_CELL_YES;
    if (!type_code || !*type_code || strchr(type_code, '|')) return 0;
    char needle[80];
    snprintf(needle, sizeof needle, "|%s|", type_code);
    return strstr(cell->types, needle) != NULL;
}
