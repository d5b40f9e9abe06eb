/* timeutil.c - clocks and FHIR date parsing into millisecond ranges (see timeutil.h). */
#include "base/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct timespec time_deadline(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + ms % 1000 * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void time_split(int64_t ms, struct tm *tm, int *millis)
{
    int64_t secs = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    gmtime_r(&t, tm);
    *millis = (int)rem;
}

char *time_format_instant(int64_t ms, char *out)
{
    struct tm tm;
    int millis;
    time_split(ms, &tm, &millis);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return out;
}

/* Written out by hand: strftime looks at the locale and cost 0.6 % of a FHIR read (Last-Modified). */
char *time_format_http(int64_t ms, char *out)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    int millis;
    time_split(ms, &tm, &millis);
    if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        snprintf(out, 32, "%s", "Thu, 01 Jan 1970 00:00:00 GMT");
        return out;
    }
    int year = tm.tm_year + 1900;
    char *p = out;
    memcpy(p, days[tm.tm_wday % 7], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    *p++ = (char)('0' + tm.tm_mday / 10);
    *p++ = (char)('0' + tm.tm_mday % 10);
    *p++ = ' ';
    memcpy(p, months[tm.tm_mon % 12], 3);
    p += 3;
    *p++ = ' ';
    *p++ = (char)('0' + year / 1000);
    *p++ = (char)('0' + year / 100 % 10);
    *p++ = (char)('0' + year / 10 % 10);
    *p++ = (char)('0' + year % 10);
    const int hms[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
    for (int i = 0; i < 3; i++) {
        *p++ = i ? ':' : ' ';
        *p++ = (char)('0' + hms[i] / 10);
        *p++ = (char)('0' + hms[i] % 10);
    }
    memcpy(p, " GMT", 5);
    return out;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's algorithm). */
static int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int time_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

static int time_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int time_parse_fhir(const char *s, int64_t *low_ms, int64_t *high_ms, socle_err *err)
{
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac_ms = 0;
    size_t n = strlen(s);
    const char *bad = "expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm)";
    if (n < 4 || time_digits(s, 4, &y) || y < 1) return socle_err_set(err, SOCLE_EINVAL, "invalid date: %s", bad);
    int precision = 0; /* 0 year, 1 month, 2 day, 3 second */
    const char *p = s + 4;
    if (*p == '-') {
        if (time_digits(p + 1, 2, &mo) || mo < 1 || mo > 12)
            return socle_err_set(err, SOCLE_EINVAL, "invalid date: bad month");
        p += 3;
        precision = 1;
        if (*p == '-') {
            if (time_digits(p + 1, 2, &d) || d < 1 || d > time_days_in_month(y, mo))
                return socle_err_set(err, SOCLE_EINVAL, "invalid date: bad day");
            p += 3;
            precision = 2;
            if (*p == 'T') {
                if (time_digits(p + 1, 2, &h) || p[3] != ':' || time_digits(p + 4, 2, &mi) || h > 23 || mi > 59)
                    return socle_err_set(err, SOCLE_EINVAL, "invalid date: bad time");
                p += 6;
                if (*p != ':' || time_digits(p + 1, 2, &sec) || sec > 60)
                    return socle_err_set(err, SOCLE_EINVAL, "invalid date: seconds are required in a time");
                if (sec == 60) sec = 59;
                p += 3;
                precision = 3;
                if (*p == '.') {
                    p++;
                    int digits = 0;
                    while (isdigit((unsigned char)*p)) {
                        if (digits < 3) frac_ms = frac_ms * 10 + (*p - '0');
                        digits++;
                        p++;
                    }
                    if (digits == 0) return socle_err_set(err, SOCLE_EINVAL, "invalid date: bad fraction"); /* R4: any number of digits */
                    for (int i = digits; i < 3; i++) frac_ms *= 10;
                }
                int offset_min = 0;
                if (*p == 'Z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    int oh, om;
                    if (time_digits(p + 1, 2, &oh) || p[3] != ':' || time_digits(p + 4, 2, &om) || oh > 14 || om > 59)
                        return socle_err_set(err, SOCLE_EINVAL, "invalid date: bad time zone");
                    offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
                    p += 6;
                } else {
                    return socle_err_set(err, SOCLE_EINVAL, "invalid date: a time needs a zone (Z or +hh:mm)");
                }
                if (*p) return socle_err_set(err, SOCLE_EINVAL, "invalid date: %s", bad);
                int64_t ms = (time_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
                              (int64_t)offset_min * 60) * 1000 + frac_ms;
                *low_ms = ms;
                /* A value given to the second (no fraction) covers that whole second. */
                *high_ms = strchr(s, '.') ? ms : ms + 999;
                return 0;
            }
        }
    }
    if (*p) return socle_err_set(err, SOCLE_EINVAL, "invalid date: %s", bad);
    int64_t start_day = time_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t end_day;
    if (precision == 0)
        end_day = time_days_from_civil(y + 1, 1, 1);
    else if (precision == 1)
        end_day = mo == 12 ? time_days_from_civil(y + 1, 1, 1) : time_days_from_civil(y, (unsigned)mo + 1, 1);
    else
        end_day = start_day + 1;
    *low_ms = start_day * 86400000;
    *high_ms = end_day * 86400000 - 1;
    return 0;
}

int time_valid_fhir_date(const char *s)
{
    int64_t lo, hi;
    return strlen(s) <= 10 && !strchr(s, 'T') && time_parse_fhir(s, &lo, &hi, NULL) == 0;
}
