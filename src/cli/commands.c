/* commands.c - the small subcommands: token issue, pki, audit verify, config check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "crypto/pki.h"

/* Take every "--role X" (repeatable) out of argv; returns the new argc. */
static int token_take_roles(int argc, char **argv, const char **roles, int *nroles)
{
    int w = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc) {
            if (*nroles < AUTH_MAX_ROLES) roles[(*nroles)++] = argv[i + 1];
            i++;
        } else if (!strncmp(argv[i], "--role=", 7)) {
            if (*nroles < AUTH_MAX_ROLES) roles[(*nroles)++] = argv[i] + 7;
        } else {
            argv[w++] = argv[i];
        }
    }
    return w;
}

int cli_token(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "issue")) {
        fprintf(stderr, "usage: socle token issue --sub ID --kind professional|patient|system [--profession CODE]\n"
                        "                         [--role ROLE]... [--structure ID] [--ttl SECONDS] [--data DIR]\n");
        return 2;
    }
    auth_token_request tr = {0};
    argc = token_take_roles(argc - 1, argv + 1, tr.roles, &tr.nroles);
    socle_config *cfg = app_load_config(argc, argv + 1, "sub|kind|profession|structure|ttl");
    if (!cfg) return 2;
    tr.sub = config_extra(cfg, "sub");
    tr.kind = auth_kind_parse(config_extra(cfg, "kind") ? config_extra(cfg, "kind") : "");
    tr.profession = config_extra(cfg, "profession");
    tr.structure = config_extra(cfg, "structure");
    tr.ttl_seconds = config_extra(cfg, "ttl") ? strtoll(config_extra(cfg, "ttl"), NULL, 10) : 3600;
    tr.issuer = config_get(cfg, "issuer");
    tr.audience = config_get(cfg, "audience");
    if (!tr.sub || !*tr.sub || tr.kind == AUTH_KIND_NONE || tr.ttl_seconds <= 0) {
        fprintf(stderr, "socle token issue: --sub and --kind (professional|patient|system) are required, --ttl > 0\n");
        config_free(cfg);
        return 2;
    }
    socle_app app;
    socle_err err;
    char *token = NULL;
    int rc = app_open(&app, cfg, APP_KEY, &err);
    if (!rc) rc = auth_token_issue(app.signing_key, &tr, &token, &err);
    if (rc)
        fprintf(stderr, "socle token issue: %s\n", err.msg);
    else
        printf("%s\n", token);
    free(token);
    app_close(&app);
    config_free(cfg);
    return rc ? 1 : 0;
}

int cli_pki(int argc, char **argv)
{
    const char *usage = "usage: socle pki init [--names a,b] [--data DIR]\n"
                        "       socle pki client --name NAME --kind professional|organisation|software|operator --id ID"
                        " [--days N] [--data DIR]\n";
    if (argc < 1 || (strcmp(argv[0], "init") && strcmp(argv[0], "client"))) {
        fputs(usage, stderr);
        return 2;
    }
    socle_config *cfg = app_load_config(argc - 1, argv + 1, "names|name|kind|id|days");
    if (!cfg) return 2;
    socle_err err;
    int rc;
    const char *data = config_get(cfg, "data");
    if (!strcmp(argv[0], "init")) {
        rc = pki_init(data, config_extra(cfg, "names"), &err);
        if (!rc) printf("test PKI ready in %s/pki (CA: ca.pem; server: server.pem, server.key)\n", data);
    } else {
        const char *kind = config_extra(cfg, "kind") ? config_extra(cfg, "kind") : "";
        pki_client_kind k = !strcmp(kind, "professional")   ? PKI_CLIENT_PROFESSIONAL
                            : !strcmp(kind, "organisation") ? PKI_CLIENT_ORGANISATION
                            : !strcmp(kind, "software")     ? PKI_CLIENT_SOFTWARE
                            : !strcmp(kind, "operator")     ? PKI_CLIENT_OPERATOR
                                                            : 0;
        const char *name = config_extra(cfg, "name"), *id = config_extra(cfg, "id");
        if (!k || !name || !id) {
            fputs(usage, stderr);
            config_free(cfg);
            return 2;
        }
        int days = config_extra(cfg, "days") ? atoi(config_extra(cfg, "days")) : 365;
        rc = pki_init(data, NULL, &err);
        if (!rc) rc = pki_issue_client(data, name, k, id, days, &err);
        if (!rc) printf("%s/pki/clients/%s.pem and .key written\n", data, name);
    }
    if (rc) fprintf(stderr, "socle pki: %s\n", err.msg);
    config_free(cfg);
    return rc ? 1 : 0;
}

int cli_audit(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "verify")) {
        fprintf(stderr, "usage: socle audit verify [--data DIR] [--db URL]\n");
        return 2;
    }
    socle_config *cfg = app_load_config(argc - 1, argv + 1, NULL);
    if (!cfg) return 2;
    socle_app app;
    socle_err err;
    audit_verify_report rep;
    int rc = app_open(&app, cfg, APP_STORE | APP_KEY, &err);
    if (!rc) rc = audit_verify(app.store, app.signing_key, &rep, &err);
    int status;
    if (rc) {
        fprintf(stderr, "socle audit verify: could not run: %s\n", err.msg);
        status = 2;
    } else if (rep.first_bad_seq) {
        printf("audit trail BROKEN at entry %lld: %s (%lld entries, %lld checkpoints read)\n",
               (long long)rep.first_bad_seq, rep.problem, (long long)rep.entries, (long long)rep.checkpoints);
        status = 1;
    } else {
        printf("audit trail intact: %lld entries, %lld signed checkpoints\n", (long long)rep.entries,
               (long long)rep.checkpoints);
        status = 0;
    }
    app_close(&app);
    config_free(cfg);
    return status;
}

int cli_config(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "check")) {
        fprintf(stderr, "usage: socle config check [--config FILE] [--KEY VALUE]...\n");
        return 2;
    }
    socle_config *cfg = app_load_config(argc - 1, argv + 1, NULL);
    if (!cfg) return 2;
    int status = 0;
    const char *files[] = {"tls_cert", "tls_key", "tls_client_ca"};
    for (int i = 0; i < 3; i++) {
        const char *path = config_get(cfg, files[i]);
        FILE *f = path ? fopen(path, "r") : NULL;
        if (path && !f) {
            fprintf(stderr, "socle config check: %s: cannot read %s\n", files[i], path);
            status = 2;
        }
        if (f) fclose(f);
    }
    const char *db = config_get(cfg, "db");
    if (strncmp(db, "sqlite:", 7) && strncmp(db, "postgres://", 11) && strncmp(db, "postgresql://", 13) &&
        strncmp(db, "postgres:", 9)) {
        fprintf(stderr, "socle config check: db must start with sqlite: or postgres://\n");
        status = 2;
    }
    config_print(cfg, stdout);
    if (!status) printf("# configuration is valid\n");
    config_free(cfg);
    return status;
}
