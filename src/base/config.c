/* config.c - the table of configuration keys and their loading: defaults < file < env < flags.
 *
 * The key table below is the single place where a key is declared; `socle config check` and the
 * README list it. Values are validated at load time so that the rest of the program can read
 * them without checking again. */
#include "base/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const config_key config_table[] = {
    {"data", CONFIG_PATH, "./var", NULL, 0, "data directory: SQLite database, keys, test PKI"},
    {"listen", CONFIG_ADDRESS, "127.0.0.1:8080", NULL, 0, "HTTP(S) listen address ADDR:PORT"},
    {"public_url", CONFIG_STRING, NULL, NULL, 0, "base URL clients use (default http[s]://<listen>)"},
    {"db", CONFIG_STRING, "sqlite:${data}/socle.db", NULL, 1, "database: sqlite:PATH or postgres://..."},
    {"db_pool_size", CONFIG_INT, "0", NULL, 0, "database connections per process (0: SQLite 6 x cores + 14, PostgreSQL 2 x cores + 2)"},
    {"sqlite_synchronous", CONFIG_ENUM, "FULL", "FULL|NORMAL|OFF", 0, "SQLite durability (FULL: fsync each commit)"},
    {"sqlite_mmap_mb", CONFIG_INT, "0", NULL, 0, "SQLite: MB of the database read through mmap (0: off, max 2047)"},
    {"sqlite_page_size", CONFIG_INT, "4096", NULL, 0, "SQLite: page size of a database created now (16384 suits the directory)"},
    {"threads", CONFIG_INT, "0", NULL, 0, "HTTP connection threads, which answer reads (0: 2 x cores + 4)"},
    {"write_threads", CONFIG_INT, "0", NULL, 0, "HTTP write pool threads, which run requests that write (0: 4 x cores + 8)"},
    {"tls_cert", CONFIG_PATH, NULL, NULL, 0, "PEM certificate: serve HTTPS only (TLS 1.2+)"},
    {"tls_key", CONFIG_PATH, NULL, NULL, 0, "PEM private key of tls_cert"},
    {"tls_client_ca", CONFIG_PATH, NULL, NULL, 0, "PEM CA whose client certificates are accepted (mutual TLS)"},
    {"max_body_bytes", CONFIG_INT, "20971520", NULL, 0, "largest request body accepted (413 above)"},
    {"json_max_depth", CONFIG_INT, "64", NULL, 0, "deepest JSON nesting accepted (400 above)"},
    {"json_max_string", CONFIG_INT, "16777216", NULL, 0, "longest JSON string accepted, bytes (400 above)"},
    {"connection_timeout_s", CONFIG_INT, "60", NULL, 0, "idle keep-alive connection timeout"},
    {"issuer", CONFIG_STRING, "socle", NULL, 0, "iss of the tokens this server signs"},
    {"audience", CONFIG_STRING, "socle", NULL, 0, "aud every accepted token must carry"},
    {"trusted_issuers", CONFIG_STRING, NULL, NULL, 0, "other token issuers: ISS=JWKS_FILE;ISS2=FILE2"},
    {"signing_key", CONFIG_PATH, "${data}/keys/signing.pem", NULL, 0, "ES256 key signing tokens and audit checkpoints"},
    {"token_cache_entries", CONFIG_INT, "8192", NULL, 0, "verified tokens kept in memory"},
    {"audit_checkpoint_interval", CONFIG_INT, "1000", NULL, 0, "audit entries between two signed checkpoints"},
    {"audit_queue_size", CONFIG_INT, "65536", NULL, 0, "audit events waiting for the writer before callers block"},
    {"audit_batch_ms", CONFIG_INT, "20", NULL, 0, "how long the audit writer gathers read events into one commit (0: none)"},
    {"insi_usage_flush_ms", CONFIG_INT, "5000", NULL, 0, "INSi call counters: how often they are written to the store"},
    {"ins_unmerge_window_hours", CONFIG_INT, "720", NULL, 0, "how long a merge of identities can be undone"},
    {"psc_code_ttl_s", CONFIG_INT, "60", NULL, 0, "Pro Santé Connect: lifetime of an authorization code"},
    {"psc_access_ttl_s", CONFIG_INT, "600", NULL, 0, "Pro Santé Connect: lifetime of access and ID tokens"},
    {"psc_refresh_ttl_s", CONFIG_INT, "43200", NULL, 0, "Pro Santé Connect: lifetime of a refresh token"},
    {"psc_login_max_failures", CONFIG_INT, "5", NULL, 0, "failed logins (per account, per address) before lockout"},
    {"psc_claims_cache_s", CONFIG_INT, "30", NULL, 0, "Pro Santé Connect: seconds a node keeps a professional's claims (0: off)"},
    {"psc_login_quiet_s", CONFIG_INT, "900", NULL, 0, "Pro Santé Connect: seconds without a failed login, from the end of the last lockout, after which a key's counts and lockout level are forgotten"},
    {"psc_rsa_key", CONFIG_PATH, "${data}/keys/signing-rsa.pem", NULL, 0, "RS256 key for the ID tokens of clients that ask for it"},
    {"dmp_check_hash", CONFIG_BOOL, "true", NULL, 0, "DMP: refuse a document whose attachment size or SHA-1 hash differs from its bytes"},
    {"dmp_max_document_bytes", CONFIG_INT, "20971520", NULL, 0, "DMP: largest document accepted (bytes)"},
    {"dmp_emergency_minutes", CONFIG_INT, "60", NULL, 0, "DMP: how long a bris de glace or centre 15 access stays open"},
    {"dmp_matrix_file", CONFIG_PATH, NULL, NULL, 0, "DMP: a matrice d'habilitation CSV replacing the built-in one"},
    {"smtp_listen", CONFIG_ADDRESS, NULL, NULL, 0, "MSSanté: SMTP relay listener between operators ADDR:PORT (off when unset)"},
    {"submission_listen", CONFIG_ADDRESS, NULL, NULL, 0, "MSSanté: SMTP submission listener for the operator's users ADDR:PORT"},
    {"imap_listen", CONFIG_ADDRESS, NULL, NULL, 0, "MSSanté: IMAP listener ADDR:PORT"},
    {"mss_domain", CONFIG_STRING, NULL, NULL, 0, "MSSanté: the operator's mail domain (required by the listeners)"},
    {"mss_citizen_domain", CONFIG_STRING, NULL, NULL, 0, "MSSanté: domain of the citizen mailboxes (default patient.<mss_domain>)"},
    {"mss_tls_cert", CONFIG_PATH, NULL, NULL, 0, "MSSanté: PEM certificate of the operator (default: issued by the test PKI for mss_domain)"},
    {"mss_tls_key", CONFIG_PATH, NULL, NULL, 0, "MSSanté: PEM key of mss_tls_cert"},
    {"mss_tls_ca", CONFIG_PATH, "${data}/pki/ca.pem", NULL, 0, "MSSanté: CA of the trust space (peers' and users' certificates)"},
    {"mss_trust_file", CONFIG_PATH, "${data}/mss-trust.txt", NULL, 0, "MSSanté: allow-list of operator domains, one per line (reread when it changes)"},
    {"mss_postmaster", CONFIG_STRING, NULL, NULL, 0, "MSSanté: local mailbox that receives mail for postmaster (RFC 5321 4.5.1) when postmaster@<mss_domain> is not a mailbox"},
    {"mss_routes", CONFIG_STRING, NULL, NULL, 0, "MSSanté: where to relay a domain: DOMAIN=HOST:PORT;... (default: the domain itself, port 25)"},
    {"mss_max_message_bytes", CONFIG_INT, "26214400", NULL, 0, "MSSanté: largest message accepted (SMTP SIZE)"},
    {"mss_allow_password", CONFIG_BOOL, "false", NULL, 0, "MSSanté: accept AUTH PLAIN / IMAP LOGIN (over TLS) for mailboxes with a password"},
    {"mss_retry_s", CONFIG_STRING, "60,300,900,3600,14400,43200,86400", NULL, 0, "MSSanté: waits between relay attempts; a DSN goes back after the last"},
    {"mss_session_timeout_s", CONFIG_INT, "600", NULL, 0, "MSSanté: an idle SMTP or IMAP session is closed after this (IMAP IDLE: 30 min at least)"},
    {"log_level", CONFIG_ENUM, "info", "debug|info|warn|error", 0, "lowest level logged"},
    {"mode", CONFIG_ENUM, "production", "production|demo", 0, "demo: demo data and demo token allowed"},
    {"bench_routes", CONFIG_BOOL, "false", NULL, 0, "expose /_bench/static (benchmarks only)"},
    {NULL, 0, NULL, NULL, 0, NULL},
};

const config_key *config_keys(void)
{
    return config_table;
}

#define CONFIG_NKEYS (sizeof config_table / sizeof config_table[0] - 1)
#define CONFIG_MAX_EXTRA 32

struct socle_config {
    char *values[CONFIG_NKEYS];
    const char *sources[CONFIG_NKEYS];
    char *extra_names[CONFIG_MAX_EXTRA];
    char *extra_values[CONFIG_MAX_EXTRA];
    int nextra;
};

static int config_index(const char *key)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (!strcmp(config_table[i].name, key)) return (int)i;
    return -1;
}

static int config_validate(const config_key *k, const char *v, const char *source, socle_err *err)
{
    switch (k->kind) {
    case CONFIG_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || *end || n < 0)
            return socle_err_set(err, SOCLE_EINVAL, "%s: %s must be a non-negative integer", source, k->name);
        break;
    }
    case CONFIG_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0") && strcmp(v, "yes") &&
            strcmp(v, "no"))
            return socle_err_set(err, SOCLE_EINVAL, "%s: %s must be true or false", source, k->name);
        break;
    case CONFIG_ENUM: {
        size_t n = strlen(v);
        const char *c = k->choices;
        int found = 0;
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && !strncasecmp(c, v, n)) found = 1;
            c = bar ? bar + 1 : NULL;
        }
        if (!found) return socle_err_set(err, SOCLE_EINVAL, "%s: %s must be one of %s", source, k->name, k->choices);
        break;
    }
    case CONFIG_ADDRESS: {
        const char *colon = strrchr(v, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon[1] == 0 || *end || port < 0 || port > 65535)
            return socle_err_set(err, SOCLE_EINVAL, "%s: %s must be ADDRESS:PORT", source, k->name);
        break;
    }
    default:
        if (strlen(v) > 4096) return socle_err_set(err, SOCLE_EINVAL, "%s: %s is too long", source, k->name);
    }
    return 0;
}

static int config_put(socle_config *c, const char *key, const char *value, const char *source, socle_err *err)
{
    int i = config_index(key);
    if (i < 0) return socle_err_set(err, SOCLE_EINVAL, "%s: unknown configuration key '%s'", source, key);
    int rc = config_validate(&config_table[i], value, source, err);
    if (rc) return rc;
    char *copy = strdup(value);
    if (!copy) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    free(c->values[i]);
    c->values[i] = copy;
    c->sources[i] = source;
    return 0;
}

static char *config_trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int config_read_file(socle_config *c, const char *path, int must_exist, socle_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (!must_exist && errno == ENOENT) return 0;
        return socle_err_set(err, SOCLE_EINVAL, "cannot read configuration file %s: %s", path, strerror(errno));
    }
    char line[8192];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = config_trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = socle_err_set(err, SOCLE_EINVAL, "%s line %d: expected key = value", path, lineno);
            break;
        }
        *eq = 0;
        char *key = config_trim(s), *value = config_trim(eq + 1);
        rc = config_put(c, key, value, "file", err);
        if (rc && err) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "%s line %d: %s", path, lineno, msg);
        }
    }
    fclose(f);
    return rc;
}

static int config_flag_in(const char *extra_flags, const char *name)
{
    if (!extra_flags) return 0;
    size_t n = strlen(name);
    for (const char *p = extra_flags; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

int config_load(socle_config **out, const char *file, int argc, char **argv, const char *extra_flags,
                socle_err *err)
{
    socle_config *c = calloc(1, sizeof *c);
    if (!c) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        c->sources[i] = "default";
        if (config_table[i].default_value && !(c->values[i] = strdup(config_table[i].default_value))) rc = SOCLE_ENOMEM;
    }
    /* Flags are parsed first into a list so that --config and --data are known before the file. */
    const char *flag_keys[128], *flag_values[128];
    int nflags = 0;
    for (int i = 0; !rc && i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            rc = socle_err_set(err, SOCLE_EINVAL, "unexpected argument '%s' (flags look like --key value)", a);
            break;
        }
        char name[96];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) {
            rc = socle_err_set(err, SOCLE_EINVAL, "flag too long");
            break;
        }
        memcpy(name, a + 2, len);
        name[len] = 0;
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
            value = argv[++i];
        } else {
            value = "1";
        }
        char key[96];
        for (size_t k = 0; k <= len; k++) key[k] = name[k] == '-' ? '_' : name[k];
        if (!strcmp(key, "config")) {
            file = value;
        } else if (config_index(key) >= 0) {
            if (nflags == 128) {
                rc = socle_err_set(err, SOCLE_EINVAL, "too many flags");
                break;
            }
            flag_keys[nflags] = strdup(key);
            flag_values[nflags++] = value;
        } else if (config_flag_in(extra_flags, name) && c->nextra < CONFIG_MAX_EXTRA) {
            c->extra_names[c->nextra] = strdup(name);
            c->extra_values[c->nextra++] = strdup(value);
        } else {
            rc = socle_err_set(err, SOCLE_EINVAL, "unknown flag --%s (see `socle config check` for the keys)", name);
        }
    }
    /* The file: explicit, else ./socle.conf, else $data/socle.conf (data from env/flags if given). */
    if (!rc) {
        if (file) {
            rc = config_read_file(c, file, 1, err);
        } else {
            FILE *probe = fopen("socle.conf", "r");
            if (probe) {
                fclose(probe);
                rc = config_read_file(c, "socle.conf", 1, err);
            } else {
                const char *data = getenv("SOCLE_DATA");
                for (int i = 0; i < nflags; i++)
                    if (!strcmp(flag_keys[i], "data")) data = flag_values[i];
                if (!data) data = config_table[config_index("data")].default_value;
                char path[4200];
                snprintf(path, sizeof path, "%s/socle.conf", data);
                rc = config_read_file(c, path, 0, err);
            }
        }
    }
    for (size_t i = 0; !rc && i < CONFIG_NKEYS; i++) {
        char env[128] = "SOCLE_";
        size_t n = 6;
        for (const char *p = config_table[i].name; *p && n < sizeof env - 1; p++) env[n++] = (char)toupper((unsigned char)*p);
        env[n] = 0;
        const char *v = getenv(env);
        if (v) rc = config_put(c, config_table[i].name, v, "env", err);
    }
    for (int i = 0; i < nflags; i++) {
        if (!rc) rc = config_put(c, flag_keys[i], flag_values[i], "flag", err);
        free((void *)flag_keys[i]);
    }
    /* Expand ${data} in the remaining values. */
    const char *data = c->values[config_index("data")];
    for (size_t i = 0; !rc && i < CONFIG_NKEYS; i++) {
        char *v = c->values[i];
        char *at = v ? strstr(v, "${data}") : NULL;
        if (!at) continue;
        size_t len = strlen(v) - 7 + strlen(data) + 1;
        char *nv = malloc(len);
        if (!nv) {
            rc = SOCLE_ENOMEM;
            break;
        }
        snprintf(nv, len, "%.*s%s%s", (int)(at - v), v, data, at + 7);
        free(v);
        c->values[i] = nv;
    }
    if (!rc && (!config_get(c, "tls_cert")) != (!config_get(c, "tls_key")))
        rc = socle_err_set(err, SOCLE_EINVAL, "tls_cert and tls_key go together");
    if (rc) {
        config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void config_free(socle_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) free(c->values[i]);
    for (int i = 0; i < c->nextra; i++) {
        free(c->extra_names[i]);
        free(c->extra_values[i]);
    }
    free(c);
}

const char *config_get(const socle_config *c, const char *key)
{
    int i = config_index(key);
    return i < 0 ? NULL : c->values[i];
}

int64_t config_get_int(const socle_config *c, const char *key, int64_t fallback)
{
    const char *v = config_get(c, key);
    return v ? strtoll(v, NULL, 10) : fallback;
}

int config_get_bool(const socle_config *c, const char *key, int fallback)
{
    const char *v = config_get(c, key);
    if (!v) return fallback;
    return !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes");
}

const char *config_source(const socle_config *c, const char *key)
{
    int i = config_index(key);
    return i < 0 ? NULL : c->sources[i];
}

const char *config_extra(const socle_config *c, const char *flag)
{
    for (int i = 0; i < c->nextra; i++)
        if (!strcmp(c->extra_names[i], flag)) return c->extra_values[i];
    return NULL;
}

int config_set(socle_config *c, const char *key, const char *value, socle_err *err)
{
    return config_put(c, key, value, "flag", err);
}

/* Mask "user:password@" in URLs and "password=..." in libpq strings. */
static void config_print_masked(FILE *out, const char *v)
{
    const char *scheme = strstr(v, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme && at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon) {
        fprintf(out, "%.*s:****%s", (int)(colon - v), v, at);
        return;
    }
    const char *pw = strstr(v, "password=");
    if (pw) {
        const char *end = pw + 9;
        while (*end && !isspace((unsigned char)*end)) end++;
        fprintf(out, "%.*spassword=****%s", (int)(pw - v), v, end);
        return;
    }
    fputs(v, out);
}

void config_print(const socle_config *c, FILE *out)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key *k = &config_table[i];
        const char *v = c->values[i];
        fprintf(out, "%s = ", k->name);
        if (!v)
            fputs("(unset)", out);
        else if (k->secret && strncmp(v, "sqlite:", 7) && !strstr(v, "://") && !strstr(v, "password="))
            fputs("****", out);
        else
            config_print_masked(out, v);
        fprintf(out, "  # %s; %s\n", c->sources[i], k->help);
    }
}

int config_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}
