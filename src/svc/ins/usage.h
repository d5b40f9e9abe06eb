/* usage.h - INSi calls counted per day, structure, user, operation and answer, for the steering
 * indicators. Counting is in memory (a call costs a lock and a small table lookup) and flushed to
 * the store (ins_insi_usage) every few seconds and at close, by adding to the stored counts, so
 * several nodes on one PostgreSQL database add up. */
#ifndef SOCLE_SVC_INS_USAGE_H
#define SOCLE_SVC_INS_USAGE_H

#include "store/store.h"

typedef struct ins_usage ins_usage;

/* ins_usage_migrate - create the table. */
int ins_usage_migrate(store *s, socle_err *err);
/* ins_usage_open - counters flushed to s every flush_ms by a thread of their own. */
int ins_usage_open(store *s, int flush_ms, ins_usage **out, socle_err *err);
/* ins_usage_count - one call. Strings are copied; "" for an unknown structure. Can't fail: a
 * counter that cannot be allocated is logged and dropped. */
void ins_usage_count(ins_usage *u, const char *structure, const char *user, const char *operation, const char *result);
/* ins_usage_flush - write the pending counts now. */
int ins_usage_flush(ins_usage *u, socle_err *err);
/* ins_usage_close - flush and free. u may be NULL. */
void ins_usage_close(ins_usage *u);

#endif
