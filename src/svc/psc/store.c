/* store.c - the tables of Pro Santé Connect and the client registry (see psc.h). Secrets, codes
 * and refresh tokens are stored as SHA-256 hashes; e-CPS TOTP secrets must be readable to check a
 * code, so they are stored as they are (the database is the secret store). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/arena.h"
#include "svc/psc/psc_internal.h"

static const store_migration psc_steps[] = {
    {1, "Pro Santé Connect: clients, e-CPS, codes, refresh tokens, assertion replay, login throttling",
     "CREATE TABLE psc_client (client_id TEXT PRIMARY KEY, name TEXT NOT NULL, auth_method TEXT NOT NULL,"
     " secret_hash TEXT NOT NULL, redirect_uris TEXT NOT NULL, logout_uris TEXT NOT NULL, scopes TEXT NOT NULL,"
     " jwks TEXT NOT NULL, id_token_alg TEXT NOT NULL, created BIGINT NOT NULL);"
     "CREATE TABLE psc_ecps (idnps TEXT PRIMARY KEY, secret TEXT, last_step BIGINT NOT NULL,"
     " activation_hash TEXT, activation_expires BIGINT NOT NULL);"
     "CREATE TABLE psc_code (code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, idnps TEXT NOT NULL,"
     " redirect_uri TEXT NOT NULL, scope TEXT NOT NULL, nonce TEXT NOT NULL, code_challenge TEXT NOT NULL,"
     " amr TEXT NOT NULL, auth_time BIGINT NOT NULL, expires BIGINT NOT NULL, used INTEGER NOT NULL);"
     "CREATE TABLE psc_refresh (token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, client_id TEXT NOT NULL,"
     " idnps TEXT NOT NULL, scope TEXT NOT NULL, amr TEXT NOT NULL, auth_time BIGINT NOT NULL,"
     " expires BIGINT NOT NULL, state INTEGER NOT NULL);"
     "CREATE INDEX psc_refresh_family ON psc_refresh (family);"
     "CREATE TABLE psc_jti (jti TEXT PRIMARY KEY, expires BIGINT NOT NULL);"
     "CREATE TABLE psc_throttle (key TEXT PRIMARY KEY, failures INTEGER NOT NULL, locked_until BIGINT NOT NULL,"
     " lockouts INTEGER NOT NULL);",
     NULL, NULL},
    {2, "Pro Santé Connect: the realm of a client (professional or patient)",
     "ALTER TABLE psc_client ADD COLUMN realm TEXT NOT NULL DEFAULT 'professional';", NULL, NULL},
    {3, "Pro Santé Connect: when a throttled key last failed (old counts are forgotten)",
     "ALTER TABLE psc_throttle ADD COLUMN last_failure BIGINT NOT NULL DEFAULT 0;", NULL, NULL},
};

int psc_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "psc", psc_steps, sizeof psc_steps / sizeof psc_steps[0], err);
}

/* Is item[0..n) one of the sep-separated entries of list? */
static int list_has_n(const char *list, char sep, const char *item, size_t n)
{
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !memcmp(p, item, n)) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int psc_list_has(const char *list, char sep, const char *item)
{
    return item && list_has_n(list, sep, item, strlen(item));
}

int psc_scope_subset(const char *asked, const char *allowed)
{
    /* Walk the whole string: no copy into a fixed buffer whose truncation would skip a scope. */
    int count = 0;
    for (const char *p = asked; p && *p;) {
        size_t len = strcspn(p, " ");
        if (len) {
            if (!list_has_n(allowed, ' ', p, len)) return 0;
            count++;
        }
        p += len;
        if (*p) p++;
    }
    return count > 0;
}

int psc_client_load(store_conn *c, const char *client_id, arena *a, psc_client *out, socle_err *err)
{
    memset(out, 0, sizeof *out);
    store_rows *r = NULL;
    store_value p[1] = {STORE_V_TEXT(client_id)};
    int rc = store_query(c,
                         "SELECT client_id, name, auth_method, secret_hash, redirect_uris, logout_uris, scopes, jwks,"
                         " id_token_alg, realm FROM psc_client WHERE client_id = $1",
                         p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        snprintf(out->id, sizeof out->id, "%s", store_rows_text(r, 0, NULL));
        snprintf(out->name, sizeof out->name, "%s", store_rows_text(r, 1, NULL));
        snprintf(out->auth_method, sizeof out->auth_method, "%s", store_rows_text(r, 2, NULL));
        snprintf(out->secret_hash, sizeof out->secret_hash, "%s", store_rows_text(r, 3, NULL));
        out->redirect_uris = arena_strdup(a, store_rows_text(r, 4, NULL));
        out->logout_uris = arena_strdup(a, store_rows_text(r, 5, NULL));
        out->scopes = arena_strdup(a, store_rows_text(r, 6, NULL));
        out->jwks = arena_strdup(a, store_rows_text(r, 7, NULL));
        snprintf(out->id_token_alg, sizeof out->id_token_alg, "%s", store_rows_text(r, 8, NULL));
        out->patient_realm = !strcmp(store_rows_text(r, 9, NULL), "patient");
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "unknown client");
    }
    store_rows_free(r);
    return rc;
}

/* A redirect URI a client may register: absolute, no fragment; https, or http on loopback only
 * (RFC 8252 native apps and tests), or a private-use scheme with a dot (com.example.app:/cb). */
static int redirect_uri_ok(const char *u)
{
    /* Printable ASCII only: nothing that could split the Location header or hide a host. */
    for (const unsigned char *c = (const unsigned char *)u; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || *c == '\\') return 0;
    if (strchr(u, '#') || strlen(u) > 1000) return 0;
    if (!strncmp(u, "https://", 8)) return u[8] != 0 && u[8] != '/';
    if (!strncmp(u, "http://", 7)) {
        /* The whole authority must be the loopback with an optional port: not "127.0.0.1.evil.example",
         * not "127.0.0.1:9@evil.example". */
        static const char *const loopback[] = {"127.0.0.1", "localhost", "[::1]"};
        const char *h = u + 7;
        size_t authority = strcspn(h, "/?");
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(loopback[i]);
            if (n > authority || strncmp(h, loopback[i], n)) continue;
            if (n == authority) return 1;
            if (h[n] == ':' && strspn(h + n + 1, "0123456789") == authority - n - 1) return 1;
        }
        return 0;
    }
    const char *colon = strchr(u, ':');
    return colon && memchr(u, '.', (size_t)(colon - u)) && colon[1] == '/';
}

int psc_client_add(store *s, const psc_client_spec *spec, char secret[44], socle_err *err)
{
    const char *method = spec->auth_method ? spec->auth_method : "client_secret_basic";
    const char *alg = spec->id_token_alg ? spec->id_token_alg : "ES256";
    secret[0] = 0;
    if (!spec->id || !*spec->id || strlen(spec->id) >= 128 || strspn(spec->id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._") != strlen(spec->id))
        return socle_err_set(err, SOCLE_EINVAL, "--id: 1 to 127 letters, digits, '-', '.', '_'");
    if (strcmp(method, "client_secret_basic") && strcmp(method, "client_secret_post") && strcmp(method, "private_key_jwt"))
        return socle_err_set(err, SOCLE_EINVAL, "--auth-method: client_secret_basic, client_secret_post or private_key_jwt");
    if (strcmp(alg, "ES256") && strcmp(alg, "RS256")) return socle_err_set(err, SOCLE_EINVAL, "--id-token-alg: ES256 or RS256");
    const char *realm = spec->realm ? spec->realm : "professional";
    if (strcmp(realm, "professional") && strcmp(realm, "patient"))
        return socle_err_set(err, SOCLE_EINVAL, "--realm: professional or patient");
    if (!strcmp(method, "private_key_jwt")) {
        json_t *k = spec->jwks ? json_loads(spec->jwks, 0, NULL) : NULL;
        int ok = k && json_array_size(json_object_get(k, "keys")) > 0;
        json_decref(k);
        if (!ok) return socle_err_set(err, SOCLE_EINVAL, "--jwks: private_key_jwt needs the client's public JWKS ({\"keys\":[...]})");
    }
    if (spec->nredirect_uris < 1) return socle_err_set(err, SOCLE_EINVAL, "--redirect-uri: at least one");
    socle_buf redirects = SOCLE_BUF_INIT, logouts = SOCLE_BUF_INIT;
    int rc = 0;
    for (int i = 0; i < spec->nredirect_uris && !rc; i++) {
        if (!redirect_uri_ok(spec->redirect_uris[i]))
            rc = socle_err_set(err, SOCLE_EINVAL, "--redirect-uri %s: absolute https (or http on loopback), no fragment",
                               spec->redirect_uris[i]);
        buf_printf(&redirects, "%s%s", i ? "\n" : "", spec->redirect_uris[i]);
    }
    for (int i = 0; i < spec->nlogout_uris && !rc; i++) {
        if (!redirect_uri_ok(spec->logout_uris[i]))
            rc = socle_err_set(err, SOCLE_EINVAL, "--logout-uri %s: absolute https (or http on loopback), no fragment",
                               spec->logout_uris[i]);
        buf_printf(&logouts, "%s%s", i ? "\n" : "", spec->logout_uris[i]);
    }
    char hash[65] = "";
    if (!rc && strcmp(method, "private_key_jwt")) {
        psc_random_token(secret);
        psc_hash_hex(secret, hash);
    }
    store_conn *c = NULL;
    if (!rc) rc = store_acquire(s, &c, err);
    if (!rc) {
        store_value p[11] = {STORE_V_TEXT(spec->id), STORE_V_TEXT(spec->name ? spec->name : spec->id),
                             STORE_V_TEXT(method), STORE_V_TEXT(hash), STORE_V_TEXT(redirects.data ? redirects.data : ""),
                             STORE_V_TEXT(logouts.data ? logouts.data : ""),
                             STORE_V_TEXT(spec->scopes ? spec->scopes : "openid scope_all"),
                             STORE_V_TEXT(spec->jwks && !strcmp(method, "private_key_jwt") ? spec->jwks : ""),
                             STORE_V_TEXT(alg), STORE_V_INT((int64_t)time(NULL)), STORE_V_TEXT(realm)};
        rc = store_exec(c,
                        "INSERT INTO psc_client (client_id, name, auth_method, secret_hash, redirect_uris, logout_uris,"
                        " scopes, jwks, id_token_alg, created, realm) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                        " ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, auth_method = excluded.auth_method,"
                        " secret_hash = excluded.secret_hash, redirect_uris = excluded.redirect_uris,"
                        " logout_uris = excluded.logout_uris, scopes = excluded.scopes, jwks = excluded.jwks,"
                        " id_token_alg = excluded.id_token_alg, realm = excluded.realm",
                        p, 11, NULL, err);
        store_release(s, c);
    }
    buf_free(&redirects);
    buf_free(&logouts);
    if (rc) secret[0] = 0;
    return rc;
}
