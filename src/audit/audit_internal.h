/* audit_internal.h - shared between the files of src/audit only. */
#ifndef SOCLE_AUDIT_INTERNAL_H
#define SOCLE_AUDIT_INTERNAL_H

#include "audit/audit.h"

#define AUDIT_NFIELDS 12
#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* Columns of audit_event after seq and time_ms, in hash order. */
#define AUDIT_FIELD_COLUMNS                                                                                        \
    "action, outcome, agent_kind, agent_id, agent_profession, structure, resource_type, resource_id, patient_id,"  \
    " address, request_id, detail"

/* The patient and agent indexes lead with the bucket `seq / AUDIT_BUCKET` (as text for the SQL):
 * a batch of events then touches the few index pages of the newest bucket instead of one random
 * page per event. A search by patient or agent seeks each bucket, newest first. */
#define AUDIT_BUCKET 4096
#define AUDIT_SPELL_(x) #x
#define AUDIT_SPELL(x) AUDIT_SPELL_(x)
#define AUDIT_BUCKET_SQL AUDIT_SPELL(AUDIT_BUCKET)

/* audit_hash - hex SHA-256 of the canonical form of one entry into out (65 bytes). */
void audit_hash(int64_t seq, int64_t time_ms, const char *const fields[AUDIT_NFIELDS], const char *prev_hash,
                char out[65]);
/* audit_checkpoint_message - the signed text of a checkpoint, into out (>= 128 bytes). */
void audit_checkpoint_message(int64_t seq, const char *hash, char *out, size_t n);

#endif
