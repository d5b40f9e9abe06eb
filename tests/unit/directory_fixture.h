/* directory_fixture.h - what the directory's unit tests share (included by one test program each):
 * a temporary SQLite store with the FHIR tables and an audit trail, held in a socle_app as the
 * import needs it, and the three extracts of `socle annuaire generate` in memory. */
#ifndef SOCLE_TESTS_DIRECTORY_FIXTURE_H
#define SOCLE_TESTS_DIRECTORY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "crypto/crypto.h"
#include "fhir/repo.h"
#include "rest/rest.h"
#include "svc/annuaire/generate.h"

typedef struct directory_fixture {
    char dir[64];
    socle_app app;
    crypto_key *key;
    char *ps, *mss, *finess;  /* the extracts' text */
    size_t ps_len, mss_len, finess_len;
} directory_fixture;

/* directory_fixture_open - the store under a new /tmp/<prefix>-XXXXXX and the extracts of `count`
 * professionals for `seed`. 0, or -1 (printed). */
static int directory_fixture_open(directory_fixture *fx, const char *prefix, uint64_t count, uint64_t seed)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(fx->dir)) return -1;
    char url[128], path[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", fx->dir);
    snprintf(path, sizeof path, "%s/signing.pem", fx->dir);
    store_options o = {.url = url, .sqlite_synchronous = "OFF"};
    socle_err err;
    if (store_open(&o, &fx->app.store, &err) || fhir_repo_migrate(fx->app.store, &err) ||
        crypto_key_load_or_create(path, &fx->key, &err) ||
        audit_open(fx->app.store, fx->key, &(audit_options){.checkpoint_interval = 1000, .queue_size = 64}, &fx->app.audit, &err)) {
        fprintf(stderr, "directory fixture: %s\n", err.msg);
        return -1;
    }
    FILE *ps = open_memstream(&fx->ps, &fx->ps_len), *mss = open_memstream(&fx->mss, &fx->mss_len),
         *fin = open_memstream(&fx->finess, &fx->finess_len);
    int rc = annuaire_generate_streams(ps, mss, fin, count, seed, NULL, NULL, NULL, &err);
    fclose(ps);
    fclose(mss);
    fclose(fin);
    if (rc) fprintf(stderr, "directory fixture: %s\n", err.msg);
    return rc ? -1 : 0;
}

/* directory_fixture_close - close everything and remove the directory. 0 or -1. */
static int directory_fixture_close(directory_fixture *fx)
{
    audit_close(fx->app.audit);
    store_close(fx->app.store);
    crypto_key_free(fx->key);
    free(fx->ps);
    free(fx->mss);
    free(fx->finess);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    return system(cmd) ? -1 : 0;
}

#endif
