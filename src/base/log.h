/* log.h - structured logs: one JSON object per line on stderr.
 *
 * Every line has "time", "level" and "msg"; callers add typed fields. Lines are written with one
 * write(2) so concurrent threads never interleave. NEVER log health data (names, INS, document
 * content), tokens, passwords or keys: log identifiers of requests and resources, codes, counts. */
#ifndef SOCLE_BASE_LOG_H
#define SOCLE_BASE_LOG_H

#include "base/buf.h"

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* log_set_level - lines below `level` are dropped. Default LOG_INFO. */
void log_set_level(int level);
/* log_level_parse - "debug"|"info"|"warn"|"error" to a level; -1 if unknown. */
int log_level_parse(const char *name);
/* log_set_fd - where lines go (default 2). For tests. */
void log_set_fd(int fd);
int log_enabled(int level);

typedef struct log_line {
    socle_buf b;
    int level;
    int active;   /* 0 when the level is filtered out: field calls are then no-ops */
} log_line;

void log_begin(log_line *l, int level, const char *msg);
void log_str(log_line *l, const char *key, const char *value);  /* NULL value is written as null */
void log_int(log_line *l, const char *key, long long value);
void log_double(log_line *l, const char *key, double value);
/* log_end - write the line and free it. */
void log_end(log_line *l);

/* log_msg - a line with only a message (printf-style). */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
