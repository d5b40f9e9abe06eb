/* data.c - embeds the CSV files of data/dmp/ in the program (the assembler's .incbin, relative to the
 * repository root where make runs; the Makefile lists them as dependencies of this object). */
#include "svc/dmp/data.h"

#define DMP_EMBED(symbol, path)                                                                              \
    __asm__(".section .rodata\n"                                                                             \
            ".global " #symbol "_start\n.global " #symbol "_end\n"                                           \
            ".balign 16\n" #symbol "_start:\n"                                                               \
            ".incbin \"" path "\"\n" #symbol "_end:\n"                                                       \
            ".byte 0\n.previous\n")

DMP_EMBED(dmp_valuesets_csv, "data/dmp/valuesets.csv");
DMP_EMBED(dmp_matrix_csv, "data/dmp/matrice-habilitation.csv");

extern const char dmp_valuesets_csv_start[], dmp_valuesets_csv_end[];
extern const char dmp_matrix_csv_start[], dmp_matrix_csv_end[];

const char *dmp_data_valuesets(size_t *len)
{
    *len = (size_t)(dmp_valuesets_csv_end - dmp_valuesets_csv_start);
    return dmp_valuesets_csv_start;
}

const char *dmp_data_matrix(size_t *len)
{
    *len = (size_t)(dmp_matrix_csv_end - dmp_matrix_csv_start);
    return dmp_matrix_csv_start;
}
