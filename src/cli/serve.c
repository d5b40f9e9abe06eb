/* serve.c - `socle serve` and `socle demo`: open the application, serve HTTP(S) until SIGTERM or
 * SIGINT, then stop gracefully (no new connections, requests in flight finish, audit queue flushed,
 * store closed) and exit 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/app.h"
#include "svc/svc.h"
#include "crypto/pki.h"

static void serve_print_demo(socle_app *app, const demo_oidc_info *oidc)
{
    auth_token_request tr = {.kind = AUTH_KIND_SYSTEM,
                             .sub = "demo-admin",
                             .roles = {"admin"},
                             .nroles = 1,
                             .ttl_seconds = 86400,
                             .issuer = config_get(app->config, "issuer"),
                             .audience = config_get(app->config, "audience")};
    char *token = NULL;
    socle_err err;
    if (auth_token_issue(app->signing_key, &tr, &token, &err)) {
        fprintf(stderr, "socle: cannot issue the demo token: %s\n", err.msg);
        return;
    }
    printf("\nsocle demo — synthetic data only (test INS, fake professionals)\n\n"
           "  FHIR base        %s\n"
           "  capabilities     %s/metadata\n"
           "  health           %s/healthz\n"
           "  metrics          %s/metrics\n\n"
           "  demo admin token (24 h):\n%s\n\n"
           "  try:  curl -H \"Authorization: Bearer $TOKEN\" '%s/Patient?family=demo'\n\n"
           "  Pro Santé Connect (OpenID Connect)\n"
           "    discovery      %s/oidc/.well-known/openid-configuration\n"
           "    client         demo-rp / %s  (redirect http://127.0.0.1:8081/callback)\n"
           "    e-CPS          professional %s: activate an authenticator app at %s/oidc/ecps\n"
           "                   with the code %s (24 h)\n\n",
           app->fhir_base, app->fhir_base, app->public_url, app->public_url, token, app->fhir_base, app->public_url,
           oidc->client_secret, oidc->idnps, app->public_url, oidc->activation_code);
    if (oidc->mailbox[0])
        printf("  MSSanté (STARTTLS required; CA: %s/pki/ca.pem)\n"
               "    submission     %s   AUTH XOAUTH2 with a token of professional %s\n"
               "    IMAP           %s\n"
               "    relay          %s   (other operators, mutual TLS)\n"
               "    mailboxes      %s (professional), %s (patient)\n"
               "    token          build/socle token issue --data %s --sub %s --kind professional --profession 10\n\n",
               config_get(app->config, "data"), config_get(app->config, "submission_listen"), oidc->idnps,
               config_get(app->config, "imap_listen"), config_get(app->config, "smtp_listen"), oidc->mailbox,
               oidc->citizen_mailbox, config_get(app->config, "data"), oidc->idnps);
    fflush(stdout);
    free(token);
}

int cli_serve(int argc, char **argv, int demo)
{
    socle_config *cfg = app_load_config(argc, argv, NULL);
    if (!cfg) return 2;
    socle_err err;
    if (demo && (config_set(cfg, "mode", "demo", &err) || demo_mss_defaults(cfg, &err))) {
        fprintf(stderr, "socle: %s\n", err.msg);
        config_free(cfg);
        return 2;
    }
    const char *data = config_get(cfg, "data");
    if (mkdir(data, 0700) && access(data, W_OK)) {
        fprintf(stderr, "socle: cannot use the data directory %s\n", data);
        config_free(cfg);
        return 2;
    }
    /* Signals are taken by this thread only (sigwait below): block them before any thread starts. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    socle_app app;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle: %s\n", err.msg);
        config_free(cfg);
        return 1;
    }
    int status = 0;
    demo_oidc_info oidc;
    if (demo && (pki_init(data, NULL, &err) || demo_load(&app, &err) || demo_oidc(&app, &oidc, &err) ||
                 demo_mss(&app, &oidc, &err))) {
        fprintf(stderr, "socle: demo setup failed: %s\n", err.msg);
        status = 1;
    }
    http_router *router = http_router_new();
    if (!status && (!router || rest_register(&app, router) || svc_register(&app, router))) {
        fprintf(stderr, "socle: cannot set up the routes\n");
        status = 1;
    }
    http_server *server = NULL;
    http_server_options ho = {.listen = config_get(cfg, "listen"),
                              .threads = (int)config_get_int(cfg, "threads", 0),
                              .write_threads = (int)config_get_int(cfg, "write_threads", 0),
                              .tls_cert = config_get(cfg, "tls_cert"),
                              .tls_key = config_get(cfg, "tls_key"),
                              .tls_client_ca = config_get(cfg, "tls_client_ca"),
                              .max_body = (size_t)config_get_int(cfg, "max_body_bytes", 20 << 20),
                              .connection_timeout_s = (int)config_get_int(cfg, "connection_timeout_s", 60)};
    /* The services' own listeners first: once /healthz answers, every listener is up. */
    if (!status && svc_start(&app, &err)) {
        fprintf(stderr, "socle: %s\n", err.msg);
        status = 1;
    }
    if (!status && http_server_start(&ho, router, &server, &err)) {
        fprintf(stderr, "socle: %s\n", err.msg);
        svc_stop(&app);
        status = 1;
    }
    if (!status) {
        log_line l;
        log_begin(&l, LOG_INFO, "listening");
        log_str(&l, "url", app.public_url);
        log_str(&l, "store", store_describe(app.store));
        log_str(&l, "mode", config_get(cfg, "mode"));
        log_end(&l);
        if (demo) serve_print_demo(&app, &oidc);
        int sig = 0;
        sigwait(&stop, &sig);
        log_msg(LOG_INFO, "stopping on signal %d: finishing requests in flight", sig);
        svc_stop(&app);
        http_server_stop(server);
    }
    app_close(&app);
    http_router_free(router);
    if (!status) log_msg(LOG_INFO, "stopped");
    config_free(cfg);
    return status;
}
