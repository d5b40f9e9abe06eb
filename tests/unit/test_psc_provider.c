/* test_psc_provider.c - unit tests of the Pro Santé Connect provider's defences, on a whole
 * application (app_open) in a temporary directory: the lockout levels of the login throttle, which
 * grow to the longest lockout and are forgotten only after a quiet period that follows the end of
 * the last lockout; a failure on a locked key, which is refused and not counted. Time passes by
 * moving a key's stored times back (no clock hook, no sleeping). The patient login, which spends
 * the same Argon2 work whether the account exists or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/app.h"
#include "crypto/password.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"

static char dir[64];
static socle_config *cfg;
static socle_app app;

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/socle-psc-provider-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char *argv[] = {"--data", dir, "--log-level", "error"};
    socle_err err;
    if (config_load(&cfg, NULL, 4, argv, NULL, &err) || app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "psc provider fixture: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    app_close(&app);
    config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) ? -1 : 0;
}

/* ---- the login throttle ---------------------------------------------------------------------- */

#define MAX_FAILURES 3
#define QUIET_S 900

/* Move key's stored times `seconds` into the past: as if that much time had passed. */
static void time_passes(store_conn *c, const char *key, int64_t seconds)
{
    socle_err err;
    store_value p[2] = {STORE_V_INT(seconds), STORE_V_TEXT(key)};
    int64_t changed = 0;
    assert_int_equal(store_exec(c,
                                "UPDATE psc_throttle SET locked_until = locked_until - $1,"
                                " last_failure = last_failure - $1 WHERE key = $2",
                                p, 2, &changed, &err),
                     0);
    assert_int_equal(changed, 1);
}

/* MAX_FAILURES failures in a row on key: the last one locks it; the length of that lockout. */
static int64_t lock(store_conn *c, const char *key)
{
    socle_err err;
    int64_t retry = 0;
    for (int i = 0; i < MAX_FAILURES; i++) {
        assert_int_equal(psc_throttle_check(c, key, &retry, &err), 0);
        assert_int_equal(psc_throttle_fail(c, key, MAX_FAILURES, QUIET_S, &retry, &err), 0);
    }
    assert_int_equal(psc_throttle_check(c, key, &retry, &err), SOCLE_EBUSY);
    return retry;
}

/* The lockout is at least `expected` - 1 seconds (the clock may tick during the test) and at most
 * `expected`. */
static void assert_lockout(int64_t got, int64_t expected)
{
    if (got < expected - 1 || got > expected)
        fail_msg("lockout of %lld s, expected %lld s", (long long)got, (long long)expected);
}

/* An attacker who waits out every lockout and guesses again at once climbs to the longest lockout
 * (an hour) and stays there: the level is not forgotten while the lockouts follow one another. */
static void test_lockouts_grow_to_an_hour(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(app.store, &c, &err), 0);
    const char *key = "test:grow";
    static const int64_t expected[] = {30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        int64_t got = lock(c, key);
        assert_lockout(got, expected[i]);
        time_passes(c, key, got + 1); /* the lockout ended a second ago */
    }
    store_release(app.store, c);
}

/* A level is forgotten after quiet_s seconds without a failure once its lockout has ended (a
 * shared address does not keep a long lockout for occasional typos weeks apart). */
static void test_level_forgotten_after_quiet_period(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(app.store, &c, &err), 0);
    const char *key = "test:quiet";
    assert_lockout(lock(c, key), 30);
    time_passes(c, key, 31);
    assert_lockout(lock(c, key), 60);
    time_passes(c, key, 60 + QUIET_S - 10); /* ended, but less than quiet_s ago: the level stays */
    assert_lockout(lock(c, key), 120);
    time_passes(c, key, 120 + QUIET_S + 1); /* ended more than quiet_s ago: the level is forgotten */
    assert_lockout(lock(c, key), 30);
    store_release(app.store, c);
}

/* A failure on a locked key is refused as locked and not counted: attempts that all passed the
 * early check side by side cannot count (and be told) more failures than the limit, nor push the
 * key to a longer lockout. */
static void test_failure_on_a_locked_key(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(app.store, &c, &err), 0);
    const char *key = "test:alongside";
    assert_lockout(lock(c, key), 30);
    int64_t retry = 0;
    for (int i = 0; i < 2 * MAX_FAILURES; i++) {
        assert_int_equal(psc_throttle_fail(c, key, MAX_FAILURES, QUIET_S, &retry, &err), SOCLE_EBUSY);
        assert_lockout(retry, 30);
    }
    time_passes(c, key, 31);
    assert_lockout(lock(c, key), 60); /* the next level, not three more */
    store_release(app.store, c);
}

/* ---- the patient login ------------------------------------------------------------------------ */

static int64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The CPU time of three refused checks of ins (a wrong password). */
static int64_t refused_check_cost(store_conn *c, const char *ins)
{
    socle_err err;
    char patient_id[128];
    int64_t start = thread_cpu_ns();
    for (int i = 0; i < 3; i++)
        assert_int_equal(psc_patient_check(c, ins, "pas le bon mot de passe", "000000", patient_id, &err),
                         SOCLE_EUNAUTHORIZED);
    return thread_cpu_ns() - start;
}

/* Argon2 runs whether the account exists or not, so the time of a refusal does not tell. CPU time
 * of this thread (the machine's load does not count), with a wide margin: skipping Argon2 makes a
 * missing account a thousand times cheaper, the same work costs about the same. */
static void test_patient_check_costs_the_same(void **state)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(app.store, &c, &err), 0);
    char phash[CRYPTO_PASSWORD_HASH_MAX];
    assert_int_equal(crypto_password_hash("un mot de passe assez long", phash, &err), 0);
    store_value p[2] = {STORE_V_TEXT("1800175123456"), STORE_V_TEXT(phash)};
    assert_int_equal(store_exec(c,
                                "INSERT INTO psc_patient (ins, patient_id, password_hash, totp_secret, last_step,"
                                " activation_hash, activation_expires, opposed, created)"
                                " VALUES ($1, 'p1', $2, 'JBSWY3DPEHPK3PXP', -1, NULL, 0, 0, 0)",
                                p, 2, NULL, &err),
                     0);
    int64_t account = refused_check_cost(c, "1800175123456"), none = refused_check_cost(c, "2800175123456");
    if (2 * none < account)
        fail_msg("a refusal costs %lld us with an account, %lld us without", (long long)account / 1000,
                 (long long)none / 1000);
    store_release(app.store, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockouts_grow_to_an_hour),
        cmocka_unit_test(test_level_forgotten_after_quiet_period),
        cmocka_unit_test(test_failure_on_a_locked_key),
        cmocka_unit_test(test_patient_check_costs_the_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
