/* demo.c - the synthetic demo data of `socle demo`: clearly fake organisations, professionals and
 * patients. Patients carry INS numbers under the *test* NIR system (urn:oid:1.2.250.1.213.1.4.10),
 * never the production one; names start with "DEMO". Their identities are qualifiées (identity
 * document checked, INS verified): the INS reference base gets their five traits plus 2,000
 * synthetic identities, so that INSi answers for them. Loaded once (idempotent: the resources have
 * fixed ids and are written only when Organization/demo-chu is absent). The directory gets a
 * synthetic extract of DEMO_PROFESSIONALS professionals (imported at each start: unchanged, it
 * writes nothing), and Pro Santé Connect a demo client and an e-CPS activation code (demo_oidc). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/app.h"
#include "svc/mss/mss.h"
#include "svc/svc.h"
#include "svc/annuaire/generate.h"
#include "svc/annuaire/import.h"
#include "svc/annuaire/keys.h"
#include "svc/ins/generate.h"
#include "svc/ins/import.h"
#include "svc/psc/psc.h"

/* The demo patients' reference identities (ins.md CSV), matching the Patients below. */
static const char demo_reference[] =
    "185057512345673,1.2.250.1.213.1.4.10,DEMO-MARTIN,JEAN,M,1985-05-12,75123,185057512345673,1\n"
    "292017512312346,1.2.250.1.213.1.4.10,DEMO-LEFEVRE,HELENE MARIE,F,1992-01-03,75123,,\n"
    "168029945678972,1.2.250.1.213.1.4.10,DEMO-N'GUYEN,THI,F,1968-02-21,99456,,\n"
    "204109322233360,1.2.250.1.213.1.4.10,DEMO-GARCIA,LUCAS,M,2004-10-09,93222,,\n"
    "275071305506690,1.2.250.1.213.1.4.10,DEMO-BERNARD,SOPHIE,F,1975-07-30,13055,,\n";

/* The demo INS reference base: 2,000 synthetic identities (seed 2026) and the demo patients'. */
static int demo_load_reference(socle_app *app, socle_err *err)
{
    char *csv = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&csv, &len);
    if (!out) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int rc = ins_generate(out, 2000, 2026, NULL, NULL, err);
    if (!rc) fputs(demo_reference, out);
    if (fclose(out) && !rc) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    FILE *in = rc ? NULL : fmemopen(csv, len, "r");
    if (!rc && !in) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    ins_import_stats st;
    if (!rc) rc = ins_import(app->store, in, NULL, NULL, NULL, &st, err);
    if (!rc && st.rejected) rc = socle_err_set(err, SOCLE_EINTERNAL, "demo INS reference base: %llu lines rejected",
                                               (unsigned long long)st.rejected);
    if (in) fclose(in);
    free(csv);
    return rc;
}

/* Demo identities are qualifiées: the FR Core identity-reliability extension, document CN. */
static void demo_qualify(json_t *patient)
{
    json_t *ext = json_pack(
        "[{s:s,s:[{s:s,s:{s:s,s:s}},{s:s,s:{s:s}},{s:s,s:s}]}]", "url",
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability", "extension", "url",
        "identityReliability", "valueCoding", "system", "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code",
        "QUAL", "url", "validationMode", "valueCoding", "code", "CN", "url", "validationDate", "valueDate", "2026-01-15");
    if (ext) json_object_set_new(patient, "extension", ext);
}

static const char *const demo_resources[] = {
    "{\"resourceType\":\"Organization\",\"id\":\"demo-chu\",\"identifier\":[{\"system\":\"https://finess.esante.gouv.fr\","
    "\"value\":\"990000001\"}],\"active\":true,\"name\":\"DEMO Centre hospitalier (fictif)\",\"address\":[{\"city\":"
    "\"Démoville\",\"postalCode\":\"99000\",\"country\":\"FR\"}]}",
    "{\"resourceType\":\"Organization\",\"id\":\"demo-cabinet\",\"identifier\":[{\"system\":\"https://finess.esante.gouv.fr\","
    "\"value\":\"990000002\"}],\"active\":true,\"name\":\"DEMO Cabinet de médecine générale (fictif)\"}",
    "{\"resourceType\":\"Practitioner\",\"id\":\"demo-dr-durand\",\"identifier\":[{\"system\":\"urn:oid:1.2.250.1.71.4.2.1\","
    "\"value\":\"899900000001\"}],\"active\":true,\"name\":[{\"family\":\"DEMO-DURAND\",\"given\":[\"Claire\"],"
    "\"prefix\":[\"Dr\"]}]}",
    "{\"resourceType\":\"Practitioner\",\"id\":\"demo-ph-petit\",\"identifier\":[{\"system\":\"urn:oid:1.2.250.1.71.4.2.1\","
    "\"value\":\"899900000002\"}],\"active\":true,\"name\":[{\"family\":\"DEMO-PETIT\",\"given\":[\"Marc\"]}]}",
    "{\"resourceType\":\"PractitionerRole\",\"id\":\"demo-dr-durand-cabinet\",\"active\":true,\"practitioner\":"
    "{\"reference\":\"Practitioner/demo-dr-durand\"},\"organization\":{\"reference\":\"Organization/demo-cabinet\"},"
    "\"code\":[{\"coding\":[{\"system\":\"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante\","
    "\"code\":\"10\",\"display\":\"Médecin\"}]}]}",
    "{\"resourceType\":\"PractitionerRole\",\"id\":\"demo-ph-petit-chu\",\"active\":true,\"practitioner\":"
    "{\"reference\":\"Practitioner/demo-ph-petit\"},\"organization\":{\"reference\":\"Organization/demo-chu\"},"
    "\"code\":[{\"coding\":[{\"system\":\"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante\","
    "\"code\":\"21\",\"display\":\"Pharmacien\"}]}]}",
    "{\"resourceType\":\"Patient\",\"id\":\"demo-patient-1\",\"identifier\":[{\"use\":\"official\",\"system\":"
    "\"urn:oid:1.2.250.1.213.1.4.10\",\"value\":\"185057512345673\"}],\"name\":[{\"use\":\"official\",\"family\":"
    "\"DEMO-MARTIN\",\"given\":[\"Jean\"]}],\"gender\":\"male\",\"birthDate\":\"1985-05-12\",\"managingOrganization\":"
    "{\"reference\":\"Organization/demo-chu\"},\"generalPractitioner\":[{\"reference\":\"Practitioner/demo-dr-durand\"}]}",
    "{\"resourceType\":\"Patient\",\"id\":\"demo-patient-2\",\"identifier\":[{\"use\":\"official\",\"system\":"
    "\"urn:oid:1.2.250.1.213.1.4.10\",\"value\":\"292017512312346\"}],\"name\":[{\"use\":\"official\",\"family\":"
    "\"DEMO-LEFÈVRE\",\"given\":[\"Hélène\",\"Marie\"]}],\"gender\":\"female\",\"birthDate\":\"1992-01-03\"}",
    "{\"resourceType\":\"Patient\",\"id\":\"demo-patient-3\",\"identifier\":[{\"use\":\"official\",\"system\":"
    "\"urn:oid:1.2.250.1.213.1.4.10\",\"value\":\"168029945678972\"}],\"name\":[{\"use\":\"official\",\"family\":"
    "\"DEMO-N'GUYEN\",\"given\":[\"Thi\"]}],\"gender\":\"female\",\"birthDate\":\"1968-02-21\"}",
    "{\"resourceType\":\"Patient\",\"id\":\"demo-patient-4\",\"identifier\":[{\"use\":\"official\",\"system\":"
    "\"urn:oid:1.2.250.1.213.1.4.10\",\"value\":\"204109322233360\"}],\"name\":[{\"use\":\"official\",\"family\":"
    "\"DEMO-GARCIA\",\"given\":[\"Lucas\"]}],\"gender\":\"male\",\"birthDate\":\"2004-10-09\"}",
    "{\"resourceType\":\"Patient\",\"id\":\"demo-patient-5\",\"identifier\":[{\"use\":\"official\",\"system\":"
    "\"urn:oid:1.2.250.1.213.1.4.10\",\"value\":\"275071305506690\"}],\"name\":[{\"use\":\"official\",\"family\":"
    "\"DEMO-BERNARD\",\"given\":[\"Sophie\"]}],\"gender\":\"female\",\"birthDate\":\"1975-07-30\"}",
    NULL,
};

int demo_load(socle_app *app, socle_err *err)
{
    store_conn *c;
    int rc = store_acquire(app->store, &c, err);
    if (rc) return rc;
    arena *a = arena_new(0);
    fhir_stored s;
    rc = fhir_repo_read(c, "Organization", "demo-chu", 0, a, &s, err);
    if (rc == 0 || rc == SOCLE_EGONE) { /* already loaded */
        rc = 0;
        goto done;
    }
    if ((rc = store_tx_begin(c, err))) goto done;
    for (int i = 0; !rc && demo_resources[i]; i++) {
        json_t *res;
        rc = fhir_json_parse(demo_resources[i], strlen(demo_resources[i]), &app->limits, &res, err);
        if (rc) break;
        const char *type = json_string_value(json_object_get(res, "resourceType"));
        const char *id = json_string_value(json_object_get(res, "id"));
        if (!strcmp(type, "Patient")) demo_qualify(res);
        rc = fhir_repo_update(c, type, id, res, 0, a, &s, NULL, err);
        if (!rc) {
            audit_event e = {.action = "create", .outcome = "success", .agent_kind = "system", .agent_id = "socle-demo",
                             .resource_type = s.type, .resource_id = s.id, .patient_id = s.patient_id,
                             .detail = "demo data"};
            rc = audit_append_tx(app->audit, c, &e, err);
        }
        json_decref(res);
    }
    if (!rc)
        rc = store_tx_commit(c, err);
    else
        store_tx_rollback(c);
    if (!rc) rc = demo_load_reference(app, err);
done:
    store_release(app->store, c);
    arena_free(a);
    return rc;
}

#define DEMO_PROFESSIONALS 300

/* The synthetic directory (the three extracts of `socle annuaire generate`, seed 2026); the IDNPS of
 * its first professional into first_idnps. */
static int demo_load_directory(socle_app *app, char first_idnps[ANNUAIRE_ID_MAX], socle_err *err)
{
    char *text[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    FILE *out[3];
    for (int i = 0; i < 3; i++) out[i] = open_memstream(&text[i], &len[i]);
    int rc = out[0] && out[1] && out[2] ? annuaire_generate_streams(out[0], out[1], out[2], DEMO_PROFESSIONALS, 2026, NULL,
                                                                    NULL, NULL, err)
                                        : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    for (int i = 0; i < 3; i++)
        if (out[i]) fclose(out[i]);
    annuaire_import_file files[3];
    static const char *const names[3] = {"demo PS_LibreAcces", "demo MSSanté", "demo FINESS"};
    for (int i = 0; i < 3; i++) files[i] = (annuaire_import_file){names[i], rc ? NULL : fmemopen(text[i], len[i], "r"), NULL};
    if (!rc && (!files[0].in || !files[1].in || !files[2].in)) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    annuaire_import_stats st;
    if (!rc) rc = annuaire_import(app, files, 3, ANNUAIRE_KEY_DEFAULT, 100, NULL, NULL, &st, err);
    if (!rc && st.rejected) rc = socle_err_set(err, SOCLE_EINTERNAL, "demo directory: %llu lines rejected",
                                               (unsigned long long)st.rejected);
    first_idnps[0] = 0;
    if (!rc) { /* the second line of the PS file, third column */
        const char *line = strchr(text[0], '\n');
        const char *f = line ? strchr(strchr(line + 1, '|') + 1, '|') : NULL;
        if (f) snprintf(first_idnps, ANNUAIRE_ID_MAX, "%.*s", (int)strcspn(f + 1, "|"), f + 1);
    }
    for (int i = 0; i < 3; i++) {
        if (files[i].in) fclose(files[i].in);
        free(text[i]);
    }
    return rc;
}

int demo_oidc(socle_app *app, demo_oidc_info *info, socle_err *err)
{
    memset(info, 0, sizeof *info);
    int rc = demo_load_directory(app, info->idnps, err);
    char redirect[600], logout[600];
    snprintf(redirect, sizeof redirect, "http://127.0.0.1:8081/callback");
    snprintf(logout, sizeof logout, "http://127.0.0.1:8081/");
    psc_client_spec spec = {.id = "demo-rp", .name = "DEMO application (fictive)", .redirect_uris = {redirect},
                            .nredirect_uris = 1, .logout_uris = {logout}, .nlogout_uris = 1};
    if (!rc) rc = psc_client_add(app->store, &spec, info->client_secret, err);
    if (!rc && info->idnps[0]) rc = psc_enrol(app->store, info->idnps, info->activation_code, err);
    return rc;
}

int demo_mss_defaults(socle_config *cfg, socle_err *err)
{
    static const char *const defaults[][2] = {{"mss_domain", "mss.demo.socle.test"},
                                              {"smtp_listen", "127.0.0.1:2525"},
                                              {"submission_listen", "127.0.0.1:2587"},
                                              {"imap_listen", "127.0.0.1:2143"}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!config_get(cfg, defaults[i][0]) && config_set(cfg, defaults[i][0], defaults[i][1], err)) return err->code;
    return 0;
}

int demo_mss(socle_app *app, demo_oidc_info *info, socle_err *err)
{
    const char *domain = config_get(app->config, "mss_domain");
    if (!domain || !info->idnps[0]) return 0;
    /* The trust space: the demo operator itself, written once (the operator may edit it). */
    const char *trust = config_get(app->config, "mss_trust_file");
    FILE *f = trust && access(trust, F_OK) ? fopen(trust, "w") : NULL;
    if (f) {
        fprintf(f, "# MSSanté trust space of the demo: one operator domain per line\n%s\n", domain);
        fclose(f);
    }
    char address[256];
    snprintf(address, sizeof address, "demo.pro@%s", domain);
    mss_mailbox_spec pro = {.address = address, .kind = "PER", .owner = info->idnps, .display = "DEMO professional"};
    int rc = mss_mailbox_add(svc_mss(app), &pro, info->mailbox, sizeof info->mailbox, err);
    if (rc == SOCLE_ECONFLICT) snprintf(info->mailbox, sizeof info->mailbox, "%s", address), rc = 0;
    mss_mailbox_spec patient = {.kind = "CIT", .owner = "185057512345673", .display = "DEMO-MARTIN Jean"};
    const char *citizen = config_get(app->config, "mss_citizen_domain");
    if (citizen) snprintf(address, sizeof address, "%s@%s", patient.owner, citizen);
    else snprintf(address, sizeof address, "%s@patient.%s", patient.owner, domain);
    if (!rc) rc = mss_mailbox_add(svc_mss(app), &patient, info->citizen_mailbox, sizeof info->citizen_mailbox, err);
    if (rc == SOCLE_ECONFLICT) snprintf(info->citizen_mailbox, sizeof info->citizen_mailbox, "%s", address), rc = 0;
    return rc;
}
