/* demo.c - the synthetic demo data of `socle demo`: clearly fake organisations, professionals and
 * patients. Patients carry INS numbers under the *test* NIR system (urn:oid:1.2.250.1.213.1.4.10),
 * never the production one; names start with "DEMO". Loaded once (idempotent: the resources have
 * fixed ids and are written only when Organization/demo-chu is absent). */
#include <string.h>

#include "cli/app.h"

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
done:
    store_release(app->store, c);
    arena_free(a);
    return rc;
}
