/* test_psc_provider.c - unit tests of the Pro Santé Connect provider's defences, on a whole
 * application (app_open) in a temporary directory: the lockout levels of the login throttle, which
 * grow to the longest lockout and are forgotten only after a quiet period that follows the end of
 * the last lockout; a failure on a locked key, which is refused and not counted. Time passes by
 * moving a key's stored times back (no clock hook, no sleeping). The token endpoint, through the HTTP
 * server, when the policy withholds a patient's identity: an OAuth refusal, not a server error. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/app.h"
#include "crypto/crypto.h"
#include "crypto/password.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"
#include "svc/svc.h"

static char dir[64];
static socle_config *cfg;
static socle_app app;

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/socle-psc-provider-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char *argv[] = {"--data", dir};
    socle_err err;
    log_set_level(LOG_ERROR);
    if (config_load(&cfg, NULL, 2, argv, NULL, &err) || app_open(&app, cfg, APP_ALL, &err)) {
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

/* ---- the token endpoint ---------------------------------------------------------------------- */

/* POST a form to path on 127.0.0.1:port (HTTP/1.1, Connection: close); the status, and the body
 * into body (n bytes, cut to fit). */
static int post_form(int port, const char *path, const char *form, char *body, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char request[2048], answer[8192];
    int len = snprintf(request, sizeof request,
                       "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
                       path, strlen(form), form);
    assert_int_equal(send(fd, request, (size_t)len, 0), len);
    size_t got = 0;
    ssize_t r;
    while (got < sizeof answer - 1 && (r = recv(fd, answer + got, sizeof answer - 1 - got, 0)) > 0)
        got += (size_t)r;
    close(fd);
    answer[got] = 0;
    const char *start = strstr(answer, "\r\n\r\n");
    snprintf(body, n, "%s", start ? start + 4 : "");
    return strncmp(answer, "HTTP/1.1 ", 9) ? -1 : atoi(answer + 9);
}

/* A rule that withholds every patient's identity from the provider (a DENY wins over the
 * psc-patient rule's ALLOW). */
static int withhold_identity(void *ctx, const auth_subject *s, auth_action a, const auth_target *t,
                             char *reason, size_t len)
{
    if (!t->operation || strcmp(t->operation, "oidc-identity")) return AUTH_ABSTAIN;
    snprintf(reason, len, "test: identity withheld");
    return AUTH_DENY;
}

/* A code of the patient realm exchanged while the policy refuses the patient's identity claims:
 * 400 invalid_grant saying why (the grant cannot give tokens), not 500 server_error. */
static void test_token_when_policy_withholds_identity(void **state)
{
    socle_err err;
    assert_int_equal(auth_policy_add_rule(app.policy, "test-withhold-identity", withhold_identity, NULL), 0);
    char secret[44];
    psc_client_spec spec = {.id = "mes",
                            .auth_method = "client_secret_post",
                            .redirect_uris = {"http://127.0.0.1:9/cb"},
                            .nredirect_uris = 1,
                            .realm = "patient"};
    assert_int_equal(psc_client_add(app.store, &spec, secret, &err), 0);

    /* An open account and a code issued to it, as a login would have stored them. */
    const char *verifier = "abcdefghijklmnopqrstuvwxyz0123456789-._~ABC",
               *code = "the-code-of-a-patient-login";
    uint8_t h[32];
    char challenge[48], code_hash[65];
    crypto_sha256(verifier, strlen(verifier), h);
    crypto_b64url_encode(h, sizeof h, challenge);
    psc_hash_hex(code, code_hash);
    int64_t now = (int64_t)time(NULL);
    store_value p[4] = {STORE_V_TEXT("2800175123457"), STORE_V_TEXT(code_hash), STORE_V_TEXT(challenge),
                        STORE_V_INT(now)};
    store_conn *c;
    assert_int_equal(store_acquire(app.store, &c, &err), 0);
    assert_int_equal(
        store_exec(c,
                   "INSERT INTO psc_patient (ins, patient_id, password_hash, totp_secret, last_step,"
                   " activation_hash, activation_expires, opposed, created)"
                   " VALUES ($1, 'p2', NULL, NULL, -1, NULL, 0, 0, $4)",
                   p, 4, NULL, &err),
        0);
    assert_int_equal(
        store_exec(c,
                   "INSERT INTO psc_code (code_hash, client_id, idnps, redirect_uri, scope, nonce,"
                   " code_challenge, amr, auth_time, expires, used) VALUES ($2, 'mes', $1,"
                   " 'http://127.0.0.1:9/cb', 'openid', '', $3, 'pwd otp', $4, $4 + 60, 0)",
                   p, 4, NULL, &err),
        0);
    store_release(app.store, c);

    http_router *router = http_router_new();
    assert_non_null(router);
    assert_int_equal(svc_register(&app, router), 0);
    http_server *srv = NULL;
    http_server_options o = {.listen = "127.0.0.1:0", .threads = 1};
    assert_int_equal(http_server_start(&o, router, &srv, &err), 0);
    char form[512], body[2048];
    snprintf(form, sizeof form,
             "grant_type=authorization_code&code=%s&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A9%%2Fcb"
             "&code_verifier=%s&client_id=mes&client_secret=%s",
             code, verifier, secret);
    int status = post_form(http_server_port(srv), "/oidc/token", form, body, sizeof body);
    http_server_stop(srv);
    http_router_free(router);
    if (status != 400 || !strstr(body, "\"error\":\"invalid_grant\"") || !strstr(body, "identity"))
        fail_msg("%d %s", status, body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockouts_grow_to_an_hour),
        cmocka_unit_test(test_level_forgotten_after_quiet_period),
        cmocka_unit_test(test_failure_on_a_locked_key),
        cmocka_unit_test(test_token_when_policy_withholds_identity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
