/* mss.c - the MSSanté service's life cycle: configuration, tables, policy rule, TLS contexts,
 * listeners and relay worker (see mss.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "crypto/pki.h"
#include "svc/mss/mss_internal.h"

/* mss_parse_retries - "60,300,..." into svc->retry_s. */
static int mss_parse_retries(mss_service *svc, const char *s, socle_err *err)
{
    svc->nretry = 0;
    while (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 30L * 86400 || svc->nretry == (int)(sizeof svc->retry_s / sizeof svc->retry_s[0]))
            return socle_err_set(err, SOCLE_EINVAL, "mss_retry_s: expected up to 16 comma-separated seconds");
        svc->retry_s[svc->nretry++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return socle_err_set(err, SOCLE_EINVAL, "mss_retry_s: expected seconds");
    }
    return 0;
}

/* mss_open_segments - on a SQLite database file, the segment files of message bodies live in
 * mss-bodies/ next to it (segment.c); on PostgreSQL or an in-memory database, none. */
static int mss_open_segments(mss_service *svc, socle_err *err)
{
    const char *db = store_describe(svc->app->store);
    if (store_engine_of(svc->app->store) != STORE_SQLITE || strncmp(db, "sqlite:", 7) ||
        strstr(db, ":memory:"))
        return 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", db + 7);
    char *slash = strrchr(dir, '/');
    if (slash)
        snprintf(slash + 1, sizeof dir - (size_t)(slash + 1 - dir), "mss-bodies");
    else
        snprintf(dir, sizeof dir, "mss-bodies");
    return mss_segments_open(dir, &svc->segments, err);
}

int mss_open(socle_app *app, mss_service **out, socle_err *err)
{
    mss_service *svc = calloc(1, sizeof *svc);
    if (!svc) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    svc->app = app;
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->wake, NULL);
    pthread_mutex_init(&svc->batch_mu, NULL);
    pthread_cond_init(&svc->batch_cv, NULL);
    svc->batch_tail = &svc->batch_head;
    const socle_config *cfg = app->config;
    const char *domain = config_get(cfg, "mss_domain");
    if (domain) snprintf(svc->domain, sizeof svc->domain, "%s", domain);
    const char *citizen = config_get(cfg, "mss_citizen_domain");
    if (citizen) snprintf(svc->citizen_domain, sizeof svc->citizen_domain, "%s", citizen);
    else if (domain) snprintf(svc->citizen_domain, sizeof svc->citizen_domain, "patient.%s", domain);
    mss_lower(svc->domain);
    mss_lower(svc->citizen_domain);
    svc->max_message = (size_t)config_get_int(cfg, "mss_max_message_bytes", 25 << 20);
    svc->allow_password = config_get_bool(cfg, "mss_allow_password", 0);
    svc->session_timeout_s = (int)config_get_int(cfg, "mss_session_timeout_s", 600);
    if (svc->session_timeout_s <= 0) svc->session_timeout_s = 600;
    /* RFC 3501 section 5.4: an IMAP session's inactivity timer is at least 30 minutes. */
    svc->imap_timeout_s = svc->session_timeout_s > 1860 ? svc->session_timeout_s : 1860;
    svc->routes = config_get(cfg, "mss_routes");
    const char *postmaster = config_get(cfg, "mss_postmaster");
    if (postmaster) snprintf(svc->postmaster, sizeof svc->postmaster, "%s", postmaster);
    mss_lower(svc->postmaster);
    int rc = mss_parse_retries(svc, config_get(cfg, "mss_retry_s"), err);
    if (!rc) rc = store_migrate(app->store, "mss", mss_migrations, mss_migrations_count, err);
    if (!rc) rc = mss_trust_open(config_get(cfg, "mss_trust_file"), &svc->trust, err);
    if (!rc) rc = mss_add_policy_rule(svc, err);
    if (!rc) rc = mss_open_segments(svc, err);
    if (rc) {
        mss_close(svc);
        return rc;
    }
    *out = svc;
    return 0;
}

/* mss_tls - the server and client contexts: the configured certificate, or one the test PKI
 * issues for the operator's domain. */
static int mss_tls(mss_service *svc, socle_err *err)
{
    const socle_config *cfg = svc->app->config;
    const char *cert = config_get(cfg, "mss_tls_cert"), *key = config_get(cfg, "mss_tls_key");
    const char *ca = config_get(cfg, "mss_tls_ca");
    char cp[4200], kp[4200];
    if (!cert || !key) {
        const char *data = config_get(cfg, "data");
        snprintf(cp, sizeof cp, "%s/pki/clients/operator-%s.pem", data, svc->domain);
        snprintf(kp, sizeof kp, "%s/pki/clients/operator-%s.key", data, svc->domain);
        if (access(cp, R_OK) || access(kp, R_OK)) {
            char name[300];
            snprintf(name, sizeof name, "operator-%s", svc->domain);
            int rc = pki_init(data, NULL, err);
            if (!rc) rc = pki_issue_client(data, name, PKI_CLIENT_OPERATOR, svc->domain, 825, err);
            if (rc) return rc;
        }
        cert = cp;
        key = kp;
    }
    if (ca && access(ca, R_OK)) ca = NULL;
    int rc = lines_tls_new(cert, key, ca, 1, &svc->server_tls, err);
    if (!rc) rc = lines_tls_new(cert, key, ca, 0, &svc->client_tls, err);
    return rc;
}

int mss_start(mss_service *svc, socle_err *err)
{
    const socle_config *cfg = svc->app->config;
    const char *smtp = config_get(cfg, "smtp_listen"), *sub = config_get(cfg, "submission_listen"),
               *imap = config_get(cfg, "imap_listen");
    if (!smtp && !sub && !imap) return 0;
    if (!svc->domain[0]) return socle_err_set(err, SOCLE_EINVAL, "MSSanté listeners need mss_domain");
    int rc = mss_tls(svc, err);
    lines_options o = {.tls = svc->server_tls, .idle_timeout_s = svc->session_timeout_s};
    if (!rc && smtp) {
        o.listen = smtp, o.name = "smtp", o.busy = "421 4.3.2 too many connections, try later";
        rc = lines_server_start(&o, mss_smtp_session, svc, &svc->smtp, err);
    }
    if (!rc && sub) {
        o.listen = sub, o.name = "submission", o.busy = "421 4.3.2 too many connections, try later";
        rc = lines_server_start(&o, mss_submission_session, svc, &svc->submission, err);
    }
    if (!rc && imap) {
        o.listen = imap, o.name = "imap", o.busy = "* BYE too many connections, try later";
        o.idle_timeout_s = svc->imap_timeout_s;
        rc = lines_server_start(&o, mss_imap_session, svc, &svc->imap, err);
    }
    if (!rc) rc = mss_relay_start(svc, err);
    if (!rc) mss_segments_reclaim(svc->segments, svc->app->store); /* what a stop left to free */
    if (rc) mss_stop(svc);
    return rc;
}

void mss_stop(mss_service *svc)
{
    if (!svc) return;
    pthread_mutex_lock(&svc->mu);
    svc->stopping = 1;
    pthread_cond_broadcast(&svc->wake);
    pthread_mutex_unlock(&svc->mu);
    lines_server_stop(svc->smtp);
    lines_server_stop(svc->submission);
    lines_server_stop(svc->imap);
    svc->smtp = svc->submission = svc->imap = NULL;
    mss_relay_stop(svc);
}

void mss_close(mss_service *svc)
{
    if (!svc) return;
    mss_stop(svc);
    lines_tls_free(svc->server_tls);
    lines_tls_free(svc->client_tls);
    mss_trust_free(svc->trust);
    mss_segments_close(svc->segments);
    pthread_mutex_destroy(&svc->mu);
    pthread_cond_destroy(&svc->wake);
    pthread_mutex_destroy(&svc->batch_mu);
    pthread_cond_destroy(&svc->batch_cv);
    free(svc);
}

/* mss_change_slot - the slot of a mailbox address. */
static size_t mss_change_slot(const char *address)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = address; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (size_t)(h % MSS_CHANGE_SLOTS);
}

void mss_changed(mss_service *svc, const char *address)
{
    pthread_mutex_lock(&svc->mu);
    svc->changes[mss_change_slot(address)]++;
    pthread_mutex_unlock(&svc->mu);
}

uint64_t mss_change_count(mss_service *svc, const char *address)
{
    pthread_mutex_lock(&svc->mu);
    uint64_t n = svc->changes[mss_change_slot(address)];
    pthread_mutex_unlock(&svc->mu);
    return n;
}

void mss_notify(mss_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    svc->generation++;
    pthread_cond_broadcast(&svc->wake);
    pthread_mutex_unlock(&svc->mu);
}
