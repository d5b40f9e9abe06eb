/* verify.c - audit_verify: walk the chain in order, recompute every hash, and check the head and
 * the signed checkpoints; report the first broken entry (see audit.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"

typedef struct verify_checkpoint {
    int64_t seq;
    char hash[65];
} verify_checkpoint;

static int verify_fail(audit_verify_report *rep, int64_t seq, const char *problem)
{
    if (!rep->first_bad_seq) {
        rep->first_bad_seq = seq > 0 ? seq : 1;
        snprintf(rep->problem, sizeof rep->problem, "%s", problem);
    }
    return 0;
}

int audit_verify(store *s, const crypto_key *key, audit_verify_report *rep, socle_err *err)
{
    memset(rep, 0, sizeof *rep);
    store_conn *c;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    /* Checkpoints first: few, and their signatures are checked on their own. */
    verify_checkpoint *cps = NULL;
    size_t ncp = 0, cap = 0;
    store_rows *r;
    rc = store_query(c, "SELECT seq, hash, signature FROM audit_checkpoint ORDER BY seq", NULL, 0, &r, err);
    while (!rc && (rc = store_rows_next(r, err)) == 1) {
        int64_t seq = store_rows_int(r, 0);
        const char *hash = store_rows_text(r, 1, NULL), *sig64 = store_rows_text(r, 2, NULL);
        char msg[160];
        uint8_t sig[512];
        size_t siglen = 0;
        audit_checkpoint_message(seq, hash ? hash : "", msg, sizeof msg);
        if (!sig64 || strlen(sig64) > 600 || crypto_b64url_decode(sig64, strlen(sig64), sig, &siglen) ||
            crypto_verify(key, msg, strlen(msg), sig, siglen, NULL))
            verify_fail(rep, seq, "checkpoint signature invalid: checkpoint forged or altered");
        if (ncp == cap) {
            cap = cap ? cap * 2 : 64;
            cps = realloc(cps, cap * sizeof *cps);
        }
        cps[ncp].seq = seq;
        snprintf(cps[ncp++].hash, 65, "%s", hash ? hash : "");
        rep->checkpoints++;
        rc = 0;
    }
    if (r) store_rows_free(r);
    if (rc < 0) goto out;
    rc = store_query(c, "SELECT seq, time_ms, " AUDIT_FIELD_COLUMNS ", prev_hash, hash FROM audit_event ORDER BY seq",
                     NULL, 0, &r, err);
    if (rc) goto out;
    char prev[65] = AUDIT_ZERO_HASH;
    int64_t expected = 1;
    size_t next_cp = 0;
    while ((rc = store_rows_next(r, err)) == 1) {
        int64_t seq = store_rows_int(r, 0), time_ms = store_rows_int(r, 1);
        const char *f[AUDIT_NFIELDS];
        for (int i = 0; i < AUDIT_NFIELDS; i++) f[i] = store_rows_text(r, 2 + i, NULL);
        const char *stored_prev = store_rows_text(r, 14, NULL), *stored = store_rows_text(r, 15, NULL);
        rep->entries++;
        if (seq != expected)
            verify_fail(rep, expected, seq > expected ? "sequence gap: entry deleted" : "sequence out of order");
        else if (!stored_prev || strcmp(stored_prev, prev))
            verify_fail(rep, seq, "previous-hash link broken: entry deleted, inserted or reordered");
        char computed[65];
        audit_hash(seq, time_ms, f, stored_prev ? stored_prev : "", computed);
        if (!stored || strcmp(computed, stored)) verify_fail(rep, seq, "hash mismatch: entry edited");
        while (next_cp < ncp && cps[next_cp].seq < seq) next_cp++;
        if (next_cp < ncp && cps[next_cp].seq == seq && stored && strcmp(cps[next_cp].hash, stored))
            verify_fail(rep, seq, "entry differs from its signed checkpoint: chain rewritten");
        snprintf(prev, sizeof prev, "%s", stored ? stored : "");
        expected = seq + 1;
    }
    store_rows_free(r);
    if (rc < 0) goto out;
    rc = 0;
    int64_t last = expected - 1;
    if (ncp && cps[ncp - 1].seq > last) verify_fail(rep, last + 1, "chain shorter than a signed checkpoint: truncated");
    int64_t head_seq = -1;
    char head_hash[65] = "";
    rc = store_query(c, "SELECT seq, hash FROM audit_head WHERE id = 1", NULL, 0, &r, err);
    if (!rc) {
        if (store_rows_next(r, err) == 1) {
            head_seq = store_rows_int(r, 0);
            snprintf(head_hash, sizeof head_hash, "%s", store_rows_text(r, 1, NULL));
        }
        store_rows_free(r);
        if (head_seq != last)
            verify_fail(rep, last + 1 < head_seq ? last + 1 : head_seq > 0 ? head_seq : 1,
                        "chain and head disagree: entries removed or head altered");
        else if (strcmp(head_hash, prev))
            verify_fail(rep, last > 0 ? last : 1, "head hash differs from the last entry: head altered");
    }
out:
    free(cps);
    store_release(s, c);
    return rc < 0 ? rc : 0;
}
