/* import.h - loading a reference-base CSV (the format of ../shared/spec/ins.md) into ins_reference:
 * streaming (chunks of identities sorted by matricule, one transaction per batch), idempotent (a
 * matricule already there is replaced; within a file the later line wins), each invalid line
 * written to the report with its number and the rule it breaks. */
#ifndef SOCLE_SVC_INS_IMPORT_H
#define SOCLE_SVC_INS_IMPORT_H

#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

typedef struct ins_import_stats {
    uint64_t lines;     /* data lines read (the header not counted) */
    uint64_t loaded;
    uint64_t rejected;
    uint64_t bytes;     /* bytes read so far, for a progress bar */
} ins_import_stats;

/* ins_import - read `in` to its end. Rejected lines go to `report` ("line N: reason"; may be NULL).
 * progress (may be NULL) is called after each committed batch. A header that is not the expected
 * one, an I/O error or a store error stops the import (what was committed stays). */
int ins_import(store *s, FILE *in, FILE *report, void (*progress)(const ins_import_stats *st, void *ctx), void *ctx,
               ins_import_stats *st, socle_err *err);

#endif
