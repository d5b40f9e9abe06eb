/* throttle.c - failed-login counting per account and per address, in the store so that every node
 * sees the same counts: after max failures the key is locked for 30 s, doubling with each lockout
 * up to an hour; a success clears it, and so do psc_login_quiet_s seconds without a failure after
 * the end of its last lockout (so the level outlives every lockout and keeps growing while they
 * follow one another). An address key covers an IPv6 /64 (one host's usual share). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "svc/psc/psc_internal.h"

int psc_throttle_check(store_conn *c, const char *key, int64_t *retry_s, socle_err *err)
{
    *retry_s = 0;
    int64_t until = 0;
    store_value p[1] = {STORE_V_TEXT(key)};
    int rc = store_query_int(c, "SELECT locked_until FROM psc_throttle WHERE key = $1", p, 1, &until, err);
    if (rc == SOCLE_ENOTFOUND) return 0;
    if (rc) return rc;
    int64_t now = (int64_t)time(NULL);
    if (until > now) {
        *retry_s = until - now;
        return socle_err_set(err, SOCLE_EBUSY, "too many failed logins: try again in %lld s", (long long)*retry_s);
    }
    return 0;
}

/* Has the key been quiet for more than quiet_s seconds ($2 now, $4 quiet_s)? Quiet time starts at
 * its last failure or at the end of its last lockout, whichever is later: measured from the failure
 * that locked it, a lockout longer than quiet_s would end with its level forgotten, and the levels
 * would cycle below the longest lockout instead of reaching it. */
#define QUIET                                                                                                \
    "(CAST($2 AS BIGINT) - (CASE WHEN psc_throttle.locked_until > psc_throttle.last_failure"                 \
    " THEN psc_throttle.locked_until ELSE psc_throttle.last_failure END) > $4)"
/* A key's past counts, forgotten once it has been quiet. */
#define PAST_FAILURES "(CASE WHEN " QUIET " THEN 0 ELSE psc_throttle.failures END)"
#define PAST_LOCKOUTS "(CASE WHEN " QUIET " THEN 0 ELSE psc_throttle.lockouts END)"

int psc_throttle_fail(store_conn *c, const char *key, int max_failures, int64_t quiet_s, int64_t *retry_s,
                      socle_err *err)
{
    int64_t now = (int64_t)time(NULL), changed = 0;
    *retry_s = 0;
    store_value p[4] = {STORE_V_TEXT(key), STORE_V_INT(now), STORE_V_INT(max_failures), STORE_V_INT(quiet_s)};
    /* One statement, so concurrent failures on two nodes both count, and a failure is counted only
     * while the key is not locked: the check and the count are one step (the statement's WHERE is
     * evaluated on the row as it is when the statement takes it). PostgreSQL infers the type of a
     * bare "$2 + integer" as integer (32 bits): the CAST keeps the Unix time a BIGINT (past 2038
     * the statement would fail and never lock anything).
     * Counts and lockout levels are forgotten once the key has been quiet for quiet_s: a shared
     * address (a hospital's NAT) does not climb to the longest lockout over weeks of occasional
     * typos, while an attacker who waits out each lockout does. */
    int rc = store_exec(c,
                        "INSERT INTO psc_throttle (key, failures, locked_until, lockouts, last_failure)"
                        " VALUES ($1, 1, 0, 0, CAST($2 AS BIGINT))"
                        " ON CONFLICT (key) DO UPDATE SET"
                        " failures = CASE WHEN " PAST_FAILURES " + 1 >= $3 THEN 0 ELSE " PAST_FAILURES " + 1 END,"
                        " locked_until = CASE WHEN " PAST_FAILURES " + 1 >= $3"
                        "   THEN CAST($2 AS BIGINT) + (CASE WHEN " PAST_LOCKOUTS " >= 7 THEN 3600"
                        "   ELSE 30 * (1 << " PAST_LOCKOUTS ") END)"
                        "   ELSE psc_throttle.locked_until END,"
                        " lockouts = CASE WHEN " PAST_FAILURES " + 1 >= $3 THEN " PAST_LOCKOUTS " + 1"
                        "   ELSE " PAST_LOCKOUTS " END,"
                        " last_failure = CAST($2 AS BIGINT)"
                        " WHERE psc_throttle.locked_until <= CAST($2 AS BIGINT)",
                        p, 4, &changed, err);
    if (rc || changed) return rc;
    /* Locked by an attempt that ran alongside: this one is not counted, and gets the lockout. */
    rc = psc_throttle_check(c, key, retry_s, err);
    if (rc) return rc;
    *retry_s = 1; /* the lockout ended in between */
    return socle_err_set(err, SOCLE_EBUSY, "too many failed logins: try again in 1 s");
}

int psc_throttle_clear(store_conn *c, const char *key, socle_err *err)
{
    store_value p[1] = {STORE_V_TEXT(key)};
    return store_exec(c, "DELETE FROM psc_throttle WHERE key = $1", p, 1, NULL, err);
}

void psc_throttle_address_key(const char *addr, char *out, size_t n)
{
    /* One IPv6 host commonly owns a whole /64: counting per address would give it 2^64 fresh keys. */
    struct in6_addr a6;
    if (addr && strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
        memset(a6.s6_addr + 8, 0, 8);
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &a6, text, sizeof text)) {
            snprintf(out, n, "addr:%s/64", text);
            return;
        }
    }
    snprintf(out, n, "addr:%s", addr ? addr : "");
}
