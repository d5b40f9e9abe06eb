/* matrix.h - the DMP's matrice d'habilitation: which document classes a profession (and
 * speciality) may read, loaded as data (data/dmp/matrice-habilitation.csv, embedded at build time;
 * the `dmp_matrix_file` configuration key names a replacement, since the Assurance Maladie changes
 * the official matrix). */
#ifndef SOCLE_SVC_DMP_MATRIX_H
#define SOCLE_SVC_DMP_MATRIX_H

#include <stddef.h>
#include "base/err.h"

typedef struct dmp_matrix dmp_matrix;

/* dmp_matrix_load - parse the CSV text (see data/dmp/README.md). SOCLE_EINVAL names the bad line
 * and column. */
int dmp_matrix_load(const char *csv, size_t len, dmp_matrix **out, socle_err *err);
void dmp_matrix_free(dmp_matrix *m);

/* dmp_matrix_allows - 1 when a professional of `profession` (TRE_G15 code, e.g. "10") with
 * `speciality` (TRE_R38 code or NULL/"") may read documents of `class_code` (TRE_A03) and
 * `type_code` (the document's J07 type; matters for cells that allow only some types). A
 * profession:speciality column wins over the profession column, which wins over "other".
 * Unknown class: 0. */
int dmp_matrix_allows(const dmp_matrix *m, const char *profession, const char *speciality,
                      const char *class_code, const char *type_code);

#endif
