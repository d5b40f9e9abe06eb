/* import.h - `socle annuaire import FILE...`: the directory extracts (extract.h) into FHIR
 * Practitioner, PractitionerRole and Organization resources (resources.h), applying differences.
 *
 * One run takes any of the three extracts, each at most once, recognised by their header:
 * FINESS first (establishments and their legal entities), then PS_LibreAcces (professionals,
 * their activities, and the structures FINESS did not describe). The MSSanté extract is read
 * first into memory and its mailboxes are put on the resources built in the same run, so it is
 * imported together with PS_LibreAcces (and FINESS for the establishments' mailboxes).
 *
 * Differences: each resource written by an import is remembered in annuaire_entry (type, id, the
 * file kind it comes from, and a digest of its content). A resource whose content did not change
 * is not written again (no new version); a changed one gets a new version; a resource that an
 * earlier import of the same file kind wrote and that this run no longer produces is gone: it is
 * deleted (its history stays), unless more than max_gone_percent of that kind's entries would go
 * (a truncated file looks like that): then nothing is deleted and the run fails. Rejected lines never make anything gone: the professional or
 * establishment of a rejected line keeps what it had. A run that stops on a store error writes no
 * deletion. A professional whose lines are not contiguous in the file is merged.
 *
 * Rejected lines ("line N: column: rule") go to the report of their file and do not stop the run.
 * Writes go in transactions of ANNUAIRE_IMPORT_BATCH resources, each with one audit event. A first
 * load (no entry yet) drops the search tables' value indexes and rebuilds them at the end
 * (fhir_index_bulk_begin/end): searches of a server running meanwhile are slow, not wrong. */
#ifndef SOCLE_SVC_ANNUAIRE_IMPORT_H
#define SOCLE_SVC_ANNUAIRE_IMPORT_H

#include <stdint.h>
#include <stdio.h>

#include "rest/rest.h"

#define ANNUAIRE_IMPORT_BATCH 1000
/* The page cache (MB) of the import's connection (store_bulk_cache). */
#define ANNUAIRE_IMPORT_CACHE_MB 1024
/* The default largest share (percent) of a file kind's entries one run may remove. */
#define ANNUAIRE_IMPORT_MAX_GONE 20

typedef struct annuaire_import_file {
    const char *name;   /* for messages */
    FILE *in;           /* positioned at the start (the header) */
    FILE *report;       /* rejected lines; may be NULL */
} annuaire_import_file;

typedef struct annuaire_import_stats {
    uint64_t lines, rejected;               /* data lines read, and rejected, in all files */
    uint64_t bytes;                         /* bytes read so far, all files */
    uint64_t created, changed, unchanged, gone;
    uint64_t practitioners, roles, organizations, mailboxes;  /* produced by this run */
} annuaire_import_stats;

/* annuaire_import_migrate - the annuaire_entry table (owner "annuaire"). */
int annuaire_import_migrate(store *s, socle_err *err);

/* annuaire_import - import the files (see above); key_flags: which unverified keys to check
 * (keys.h, ANNUAIRE_KEY_*). progress (may be NULL) is called every few thousand lines. *st is
 * filled even on failure. SOCLE_EINVAL for a refused file (bad header, a kind given twice, MSSanté
 * without PS_LibreAcces) before anything is written; store errors stop the run. */
int annuaire_import(socle_app *app, const annuaire_import_file *files, int nfiles, unsigned key_flags,
                    int max_gone_percent, void (*progress)(const annuaire_import_stats *st, void *ctx), void *ctx,
                    annuaire_import_stats *st, socle_err *err);

#endif
