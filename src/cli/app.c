/* app.c - opens the pieces of socle in dependency order from the configuration, and closes them. */
#include "cli/app.h"
#include "svc/svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/timeutil.h"
#include "base/log.h"

socle_config *app_load_config(int argc, char **argv, const char *extra_flags)
{
    socle_config *cfg;
    socle_err err;
    if (config_load(&cfg, NULL, argc, argv, extra_flags, &err)) {
        fprintf(stderr, "socle: %s\n", err.msg);
        return NULL;
    }
    int level = log_level_parse(config_get(cfg, "log_level"));
    if (level >= 0) log_set_level(level);
    return cfg;
}

static int app_public_url(socle_app *app)
{
    const char *url = config_get(app->config, "public_url");
    if (url) {
        snprintf(app->public_url, sizeof app->public_url, "%s", url);
    } else {
        const char *listen = config_get(app->config, "listen");
        snprintf(app->public_url, sizeof app->public_url, "%s://%s", config_get(app->config, "tls_cert") ? "https" : "http",
                 listen);
    }
    size_t n = strlen(app->public_url);
    while (n && app->public_url[n - 1] == '/') app->public_url[--n] = 0;
    snprintf(app->fhir_base, sizeof app->fhir_base, "%s/fhir", app->public_url);
    return 0;
}

int app_open(socle_app *app, socle_config *cfg, int parts, socle_err *err)
{
    memset(app, 0, sizeof *app);
    app->config = cfg;
    app_public_url(app);
    app->limits = FHIR_LIMITS_DEFAULT;
    app->limits.max_bytes = (size_t)config_get_int(cfg, "max_body_bytes", 20 << 20);
    app->limits.max_depth = (size_t)config_get_int(cfg, "json_max_depth", 64);
    app->limits.max_string = (size_t)config_get_int(cfg, "json_max_string", 16 << 20);
    if (parts & APP_AUDIT) parts |= APP_STORE | APP_KEY;
    int rc = 0;
    if (parts & APP_KEY) rc = crypto_key_load_or_create(config_get(cfg, "signing_key"), &app->signing_key, err);
    if (!rc && app->signing_key)
        app->has_cursor_key = !crypto_key_derive(app->signing_key, "socle search cursor v1", app->cursor_key);
    if (!rc && (parts & APP_STORE)) {
        store_options so = {.url = config_get(cfg, "db"),
                            .pool_size = (int)config_get_int(cfg, "db_pool_size", 0),
                            .sqlite_synchronous = config_get(cfg, "sqlite_synchronous"),
                            .sqlite_mmap_mb = (int)config_get_int(cfg, "sqlite_mmap_mb", 0),
                            .sqlite_page_size = (int)config_get_int(cfg, "sqlite_page_size", 4096)};
        rc = store_open(&so, &app->store, err);
    }
    if (!rc && (parts & APP_AUDIT)) {
        rc = fhir_repo_migrate(app->store, err);
        if (!rc) {
            audit_options ao = {.checkpoint_interval = (int)config_get_int(cfg, "audit_checkpoint_interval", 1000),
                                .queue_size = (int)config_get_int(cfg, "audit_queue_size", 65536),
                                .batch_ms = (int)config_get_int(cfg, "audit_batch_ms", 20)};
            rc = audit_open(app->store, app->signing_key, &ao, &app->audit, err);
        }
        auth_verifier_options vo = {.server_key = app->signing_key,
                                    .issuer = config_get(cfg, "issuer"),
                                    .audience = config_get(cfg, "audience"),
                                    .trusted_issuers = config_get(cfg, "trusted_issuers"),
                                    .cache_entries = (int)config_get_int(cfg, "token_cache_entries", 8192)};
        if (!rc) rc = auth_verifier_new(&vo, &app->verifier, err);
        if (!rc && !(app->policy = auth_policy_new())) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        if (!rc) rc = auth_policy_add_foundation_rules(app->policy);
        if (!rc) rc = svc_open(app, err);
        if (!rc) rc = rest_capability_build(app, err);
        if (!rc) {
            char *jwk = crypto_key_public_jwk(app->signing_key);
            size_t len = jwk ? strlen(jwk) + 16 : 0;
            app->jwks = jwk ? malloc(len) : NULL;
            if (app->jwks) snprintf(app->jwks, len, "{\"keys\":[%s]}", jwk);
            free(jwk);
            if (!app->jwks) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        }
    }
    if (rc) app_close(app);
    return rc;
}

void app_close(socle_app *app)
{
    svc_close(app);
    audit_close(app->audit);
    auth_policy_free(app->policy);
    auth_verifier_free(app->verifier);
    store_close(app->store);
    crypto_key_free(app->signing_key);
    free(app->capability);
    free(app->jwks);
    socle_config *cfg = app->config;
    memset(app, 0, sizeof *app);
    app->config = cfg;
}

/* A decimal number without sign or blanks, within [min, max]; 0 or -1. */
static int app_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s)) return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int app_generator_flags(const char *name, const char *usage, int argc, char **argv, uint64_t max_count, uint64_t *count,
                        uint64_t *seed, const char **out)
{
    const char *count_s = NULL, *seed_s = "1";
    *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], **slot;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        size_t n = strcspn(a, "=");
        if (!strncmp(a, "--count", n) && n == 7) slot = &count_s;
        else if (!strncmp(a, "--seed", n) && n == 6) slot = &seed_s;
        else if (!strncmp(a, "--out", n) && n == 5) slot = out;
        else {
            fprintf(stderr, "socle %s: unknown argument '%s'\n%s", name, a, usage);
            return 2;
        }
        if (a[n] == '=') *slot = a + n + 1;
        else if (i + 1 < argc) *slot = argv[++i];
        else {
            fprintf(stderr, "socle %s: %.*s needs a value\n%s", name, (int)n, a, usage);
            return 2;
        }
    }
    if (app_parse_u64(count_s, 1, max_count, count)) {
        fprintf(stderr, "socle %s: --count must be a whole number from 1 to %llu\n%s", name, (unsigned long long)max_count,
                usage);
        return 2;
    }
    if (app_parse_u64(seed_s, 0, UINT64_MAX, seed)) {
        fprintf(stderr, "socle %s: --seed must be a whole number from 0 to %llu\n", name, (unsigned long long)UINT64_MAX);
        return 2;
    }
    if (!*out || !**out) {
        fprintf(stderr, "socle %s: --out is required\n%s", name, usage);
        return 2;
    }
    return -1;
}

void app_progress_start(app_progress *p, const char *unit, uint64_t total)
{
    *p = (app_progress){.unit = unit, .total = total, .tty = isatty(2), .start_ns = time_monotonic_ns()};
}

void app_progress_show(app_progress *p, uint64_t done, double fraction)
{
    int64_t now = time_monotonic_ns();
    if (!p->tty || (now - p->last_ns < 250000000 && !(p->total && done >= p->total))) return;
    p->last_ns = now;
    if (fraction < 0 && p->total) fraction = (double)done / (double)p->total;
    double secs = (double)(now - p->start_ns) / 1e9, rate = secs > 0 ? (double)done / secs : 0;
    if (fraction > 0)
        fprintf(stderr, "\r%llu %s, %.0f/s, %3.0f%%, ETA %.0fs   ", (unsigned long long)done, p->unit, rate,
                100.0 * fraction, secs / fraction - secs);
    else
        fprintf(stderr, "\r%llu %s, %.0f/s   ", (unsigned long long)done, p->unit, rate);
}

void app_progress_count(uint64_t done, void *ctx)
{
    app_progress_show(ctx, done, -1);
}

void app_progress_end(app_progress *p)
{
    if (p->tty) fputc('\n', stderr);
}
