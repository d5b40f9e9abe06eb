/* data.h - the DMP's data files, embedded in the program at build time (data.c): the value sets of
 * the coded metadata and the default matrice d'habilitation (data/dmp/). */
#ifndef SOCLE_SVC_DMP_DATA_H
#define SOCLE_SVC_DMP_DATA_H

#include <stddef.h>

/* The text of data/dmp/valuesets.csv and its length. */
const char *dmp_data_valuesets(size_t *len);
/* The text of data/dmp/matrice-habilitation.csv and its length. */
const char *dmp_data_matrix(size_t *len);

#endif
