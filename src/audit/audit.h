/* audit.h - the audit trail: an append-only, hash-chained record of every access to patient data.
 *
 * NAME
 *      audit - append events, verify the chain, search it (FHIR AuditEvent).
 * SYNOPSIS
 *      audit_open() audit_close() audit_append_tx() audit_append() audit_flush() audit_flush_within()
 *      audit_verify() audit_search() audit_read() audit_migrations
 * DESCRIPTION
 *      Each entry has a sequence number (1, 2, 3... without gaps) and holds the SHA-256 of the
 *      previous entry; its own hash covers its sequence, its fields in a canonical form and the
 *      previous hash. Every `checkpoint_interval` entries a checkpoint row stores (seq, hash) signed
 *      ES256 by the server key, so that truncating the tail or rewriting the whole chain is detected.
 *      The head (last seq and hash) lives in a one-row table locked by each appender
 *      (SELECT ... FOR UPDATE on PostgreSQL, the write lock on SQLite): several nodes on one
 *      PostgreSQL database share one chain.
 *      Writes of patient data call audit_append_tx inside their own transaction: the data and its
 *      trace commit together. Reads and refusals call audit_append, which queues the event for a
 *      writer thread that gathers them for `batch_ms` and commits them in one transaction (group
 *      commit; a flush or a full batch commits at once); the queue is bounded and audit_append blocks when it is full, so events are
 *      never dropped. audit_close flushes the queue.
 * CONFIGURATION
 *      audit_checkpoint_interval, audit_queue_size, audit_batch_ms.
 */
#ifndef SOCLE_AUDIT_AUDIT_H
#define SOCLE_AUDIT_AUDIT_H

#include <stdint.h>
#include "base/buf.h"
#include "base/err.h"
#include "crypto/crypto.h"
#include "store/store.h"

typedef struct audit_event {
    int64_t time_ms;             /* 0 = now */
    const char *action;          /* "read", "vread", "search", "create", "update", "delete",
                                    "history", "login", "logout", "export", or a service's verb */
    const char *outcome;         /* "success", "denied" (policy refusal), "failure" */
    const char *agent_kind;      /* "professional", "patient", "system", "anonymous" */
    const char *agent_id;        /* subject identifier, or NULL */
    const char *agent_profession;/* may be NULL */
    const char *structure;       /* structure the agent acted for, may be NULL */
    const char *resource_type;   /* may be NULL */
    const char *resource_id;     /* may be NULL */
    const char *patient_id;      /* logical Patient id, may be NULL */
    const char *address;         /* caller's network address */
    const char *request_id;
    const char *detail;          /* refusal reason, emergency-access reason... never health data */
} audit_event;

typedef struct audit_trail audit_trail;

/* audit_migrations - the schema steps of owner "audit"; audit_open applies them. */
extern const store_migration audit_migrations[];
extern const size_t audit_migrations_count;

typedef struct audit_options {
    int checkpoint_interval;     /* entries between two signed checkpoints; <= 0: 1000 */
    int queue_size;              /* queued events before audit_append blocks; <= 0: 65536 */
    int batch_ms;                /* how long the writer gathers queued events before committing them
                                    (fewer, larger commits); 0: commit as soon as it can */
} audit_options;

/* audit_open - apply migrations and start the writer thread. key signs checkpoints (not owned,
 * must outlive the trail). */
int audit_open(store *s, const crypto_key *key, const audit_options *options, audit_trail **out, socle_err *err);
/* audit_close - flush, stop the writer, free. NULL is fine. */
void audit_close(audit_trail *t);
/* audit_append_tx - append inside the caller's open write transaction on c. */
int audit_append_tx(audit_trail *t, store_conn *c, const audit_event *e, socle_err *err);
/* audit_append - queue for the writer (strings are copied). Blocks while the queue is full.
 * Returns 0, or SOCLE_EINTERNAL after audit_close. */
int audit_append(audit_trail *t, const audit_event *e);
/* audit_flush - return once every event queued before the call is committed. */
void audit_flush(audit_trail *t);
/* audit_flush_within - the same, waiting at most timeout_ms: 0 when committed, -1 when the time
 * ran out (the store is unreachable, or the caller's own open transaction blocks the writer). For
 * readers of the trail, who then see what is committed. */
int audit_flush_within(audit_trail *t, int timeout_ms);
/* How long a reader of the trail (AuditEvent read and search) waits for the queue, at most. */
#define AUDIT_READER_FLUSH_MS 2000

typedef struct audit_verify_report {
    int64_t entries;             /* entries checked */
    int64_t checkpoints;         /* signed checkpoints checked */
    int64_t first_bad_seq;       /* 0 when intact */
    char problem[256];           /* what is wrong at first_bad_seq ("hash mismatch: entry edited",
                                    "sequence gap: entry deleted", "checkpoint signature invalid",
                                    "chain shorter than checkpoint: truncated"...) */
} audit_verify_report;

/* audit_verify - check the whole chain and the checkpoints. Returns 0 when the check ran (the
 * report says whether it is intact), or an error when it could not run. `key` verifies checkpoint
 * signatures. */
int audit_verify(store *s, const crypto_key *key, audit_verify_report *report, socle_err *err);

/* Search of the trail as FHIR AuditEvent resources. Parameters (FHIR AuditEvent search):
 * patient (reference or id), agent (identifier of the agent), date (with prefixes eq, ne, gt, lt,
 * ge, le), action (C R U D E or the socle action word), outcome, _count, _cursor (paging), _id. */
typedef struct audit_query_param {
    const char *name;
    const char *value;
} audit_query_param;

/* audit_search - append to out a FHIR searchset Bundle (JSON) of the matching events, newest
 * first, with a `next` link when more; base_url is the FHIR base ("http://host:port/fhir").
 * Unknown parameters: SOCLE_EINVAL unless lenient. Events still queued for the writer are not
 * seen: callers serving a client call audit_flush_within first, outside any transaction of
 * theirs. A search by patient or agent that fills less than its page reads one index entry per
 * 4,096 events of the whole trail (the index buckets, see audit_internal.h). */
int audit_search(store *s, const audit_query_param *params, int nparams, int lenient, const char *base_url,
                 socle_buf *out, socle_err *err);
/* audit_read - append the AuditEvent with that id (its sequence number) to out, or SOCLE_ENOTFOUND. */
int audit_read(store *s, const char *id, socle_buf *out, socle_err *err);

#endif
