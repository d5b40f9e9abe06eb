/* psc_cli.c - the operator's commands of Pro Santé Connect (svc/psc/psc.h):
 *   socle oidc client add --id ID --redirect-uri URI... [--logout-uri URI...] [--auth-method M]
 *                         [--scope "openid scope_all"] [--jwks FILE] [--id-token-alg ES256|RS256] [--name N]
 *   socle psc enrol --idnps IDNPS
 *   socle psc patients sync | socle psc patient activate --ins INS | socle psc patient oppose --ins INS
 * The client secret and the activation codes are printed once on stdout; only their hashes are
 * stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/app.h"
#include "cli/psc_cli.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc.h"

#define CLIENT_USAGE                                                                                         \
    "usage: socle oidc client add --id ID --redirect-uri URI [--redirect-uri URI...] [--logout-uri URI...]\n" \
    "         [--auth-method client_secret_basic|client_secret_post|private_key_jwt] [--jwks FILE]\n"          \
    "         [--scope \"openid scope_all\"] [--id-token-alg ES256|RS256] [--realm professional|patient]\n"   \
    "         [--name NAME] [--data DIR] [--db URL]\n"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *text = malloc(1 << 16);
    size_t n = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (text) text[n] = 0;
    return text;
}

int cli_oidc(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[0], "client") || strcmp(argv[1], "add")) {
        fprintf(stderr, CLIENT_USAGE);
        return 2;
    }
    psc_client_spec spec = {0};
    const char *jwks_path = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, status = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int taken = 1;
        if (!strcmp(a, "--id")) spec.id = v;
        else if (!strcmp(a, "--name")) spec.name = v;
        else if (!strcmp(a, "--auth-method")) spec.auth_method = v;
        else if (!strcmp(a, "--scope")) spec.scopes = v;
        else if (!strcmp(a, "--jwks")) jwks_path = v;
        else if (!strcmp(a, "--id-token-alg")) spec.id_token_alg = v;
        else if (!strcmp(a, "--realm")) spec.realm = v;
        else if (!strcmp(a, "--redirect-uri") && spec.nredirect_uris < 16) spec.redirect_uris[spec.nredirect_uris++] = v;
        else if (!strcmp(a, "--logout-uri") && spec.nlogout_uris < 16) spec.logout_uris[spec.nlogout_uris++] = v;
        else taken = 0;
        if (taken && !v) {
            fprintf(stderr, "socle oidc client add: %s needs a value\n" CLIENT_USAGE, a);
            free(rest);
            return 2;
        }
        if (taken) i++;
        else rest[nrest++] = argv[i];
    }
    socle_config *cfg = app_load_config(nrest, rest, NULL);
    free(rest);
    if (!cfg) return 2;
    char *jwks = jwks_path ? read_file(jwks_path) : NULL;
    if (jwks_path && !jwks) {
        fprintf(stderr, "socle oidc client add: cannot read %s\n", jwks_path);
        config_free(cfg);
        return 2;
    }
    spec.jwks = jwks;
    socle_app app;
    socle_err err;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle oidc client add: %s\n", err.msg);
        status = 1;
    } else {
        char secret[44];
        int rc = psc_client_add(app.store, &spec, secret, &err);
        if (rc) {
            fprintf(stderr, "socle oidc client add: %s\n", err.msg);
            status = rc == SOCLE_EINVAL ? 2 : 1;
        } else {
            audit_event e = {.action = "oidc-client-add", .outcome = "success", .agent_kind = "system",
                             .agent_id = "socle-oidc", .detail = spec.id};
            audit_append(app.audit, &e);
            if (secret[0]) printf("client_id=%s\nclient_secret=%s\n", spec.id, secret);
            else printf("client_id=%s\n", spec.id);
        }
        app_close(&app);
    }
    free(jwks);
    config_free(cfg);
    return status;
}

#define PATIENT_USAGE                                                                                      \
    "usage: socle psc patients sync | socle psc patient activate --ins INS | socle psc patient oppose --ins INS\n" \
    "       [--data DIR] [--db URL]\n"

/* `socle psc patients sync`, `socle psc patient activate|oppose --ins INS`. */
static int cli_psc_patient(int argc, char **argv)
{
    int sync = argc >= 2 && !strcmp(argv[0], "patients") && !strcmp(argv[1], "sync");
    int activate = argc >= 2 && !strcmp(argv[0], "patient") && !strcmp(argv[1], "activate");
    int oppose = argc >= 2 && !strcmp(argv[0], "patient") && !strcmp(argv[1], "oppose");
    if (!sync && !activate && !oppose) {
        fprintf(stderr, PATIENT_USAGE);
        return 2;
    }
    socle_config *cfg = app_load_config(argc - 2, argv + 2, "ins");
    if (!cfg) return 2;
    const char *ins = config_extra(cfg, "ins");
    if (!sync && (!ins || strlen(ins) != 15 || strspn(ins, "0123456789") != 15)) {
        fprintf(stderr, "socle psc patient: --ins: the 15-digit INS matricule (NIR or NIA with its key)\n" PATIENT_USAGE);
        config_free(cfg);
        return 2;
    }
    socle_app app;
    socle_err err;
    int status = 0;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle psc: %s\n", err.msg);
        config_free(cfg);
        return 1;
    }
    const char *action = sync ? "patients-sync" : activate ? "patient-activation" : "patient-opposition";
    int rc;
    if (sync) {
        uint64_t created = 0, qualified = 0;
        rc = psc_patients_sync(app.store, &created, &qualified, &err);
        if (!rc) printf("%llu qualified identities, %llu new accounts\n", (unsigned long long)qualified, (unsigned long long)created);
    } else if (activate) {
        char code[20];
        rc = psc_patient_activation(app.store, ins, code, &err);
        if (!rc) printf("%s\n", code);
    } else {
        rc = psc_patient_oppose(app.store, ins, NULL, &err);
        if (!rc) printf("opposition recorded: the account is closed and will not be opened again\n");
    }
    if (rc) {
        fprintf(stderr, "socle psc: %s\n", err.msg);
        status = 1;
    }
    audit_event e = {.action = action, .outcome = rc ? "failure" : "success", .agent_kind = "system",
                     .agent_id = "socle-psc"};
    audit_append(app.audit, &e);
    app_close(&app);
    config_free(cfg);
    return status;
}

int cli_psc(int argc, char **argv)
{
    if (argc >= 1 && (!strcmp(argv[0], "patients") || !strcmp(argv[0], "patient"))) return cli_psc_patient(argc, argv);
    if (argc < 1 || strcmp(argv[0], "enrol")) {
        fprintf(stderr, "usage: socle psc enrol --idnps IDNPS [--data DIR] [--db URL]\n");
        return 2;
    }
    socle_config *cfg = app_load_config(argc - 1, argv + 1, "idnps");
    if (!cfg) return 2;
    const char *idnps = config_extra(cfg, "idnps");
    int status = 0;
    socle_app app;
    socle_err err;
    if (!idnps) {
        fprintf(stderr, "usage: socle psc enrol --idnps IDNPS [--data DIR] [--db URL]\n");
        status = 2;
    } else if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle psc enrol: %s\n", err.msg);
        status = 1;
    } else {
        char code[20];
        int rc = psc_enrol(app.store, idnps, code, &err);
        if (rc) {
            fprintf(stderr, "socle psc enrol: %s\n", rc == SOCLE_ENOTFOUND ? "this professional is not in the directory" : err.msg);
            status = 1;
        } else {
            audit_event e = {.action = "ecps-enrol", .outcome = "success", .agent_kind = "system",
                             .agent_id = "socle-psc", .detail = "activation code issued"};
            audit_append(app.audit, &e);
            printf("%s\n", code);
        }
        app_close(&app);
    }
    config_free(cfg);
    return status;
}
