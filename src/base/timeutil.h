/* timeutil.h - clocks and the FHIR date/dateTime/instant formats.
 *
 * Times are int64 milliseconds since the Unix epoch, UTC. A FHIR date value with a precision
 * (year, month, day, second...) denotes a range: time_parse_fhir returns its first and last
 * millisecond, which is what date search compares. */
#ifndef SOCLE_BASE_TIMEUTIL_H
#define SOCLE_BASE_TIMEUTIL_H

#include <stdint.h>
#include <time.h>
#include "base/err.h"

#define TIME_MIN_MS INT64_MIN
#define TIME_MAX_MS INT64_MAX

/* time_deadline - the instant ms milliseconds from now on that clock (CLOCK_REALTIME or
 * CLOCK_MONOTONIC), as the timed waits of pthreads take it. */
struct timespec time_deadline(clockid_t clock, int64_t ms);
/* time_now_ms - wall clock (CLOCK_REALTIME) in ms. */
int64_t time_now_ms(void);
/* time_monotonic_ns - for durations only. */
int64_t time_monotonic_ns(void);
/* time_format_instant - "2026-11-23T04:35:38.123Z" into out (>= 32 bytes). Returns out. */
char *time_format_instant(int64_t ms, char *out);
/* time_format_http - RFC 7231 date ("Mon, 23 Nov 2026 04:35:38 GMT") into out (>= 32 bytes). */
char *time_format_http(int64_t ms, char *out);
/* time_parse_fhir - parse a FHIR date ("2020", "2020-05", "2020-05-17"), dateTime or instant
 * (with seconds, optional fraction, and Z or +hh:mm when a time is given) into the range of
 * milliseconds it covers. Returns 0 or SOCLE_EINVAL (message says what is wrong with the form). */
int time_parse_fhir(const char *s, int64_t *low_ms, int64_t *high_ms, socle_err *err);
/* time_valid_fhir_date - 1 if s is a well-formed FHIR date (no time part). */
int time_valid_fhir_date(const char *s);

#endif
