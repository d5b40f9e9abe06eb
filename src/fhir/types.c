/* types.c - the registry of FHIR resource types socle serves, their patient compartment, and
 * reference parsing. Adding a type is one row here (and its parameters in params.c). */
#include <string.h>

#include "fhir/fhir.h"

static const fhir_type fhir_type_table[] = {
    {"Patient", "@self", FHIR_TYPE_PATIENT_DATA},
    {"Practitioner", NULL, 0},
    {"PractitionerRole", NULL, 0},
    {"Organization", NULL, 0},
    {"Location", NULL, 0},
    {"HealthcareService", NULL, 0},
    {"DocumentReference", "subject", FHIR_TYPE_PATIENT_DATA},
    {"List", "subject", FHIR_TYPE_PATIENT_DATA},
    {"Binary", NULL, FHIR_TYPE_PATIENT_DATA},
    {"AuditEvent", NULL, FHIR_TYPE_READONLY},
    {"Consent", "patient", FHIR_TYPE_PATIENT_DATA},
    {"MedicationRequest", "subject", FHIR_TYPE_PATIENT_DATA},
    {"MedicationDispense", "subject", FHIR_TYPE_PATIENT_DATA},
};

#define FHIR_NTYPES (sizeof fhir_type_table / sizeof fhir_type_table[0])

const fhir_type *fhir_type_find(const char *name)
{
    for (size_t i = 0; name && i < FHIR_NTYPES; i++)
        if (!strcmp(fhir_type_table[i].name, name)) return &fhir_type_table[i];
    return NULL;
}

const fhir_type *fhir_types(size_t *n)
{
    *n = FHIR_NTYPES;
    return fhir_type_table;
}

int fhir_reference_parse(const char *ref, char *type, size_t type_n, char *id, size_t id_n)
{
    if (!ref || !*ref || *ref == '#' || !strncmp(ref, "urn:", 4)) return 0;
    /* Take the last "Type/id" pair, skipping a trailing "_history/vid". */
    const char *segs[64];
    size_t lens[64];
    int n = 0;
    for (const char *p = ref; *p && n < 64;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        segs[n] = p;
        lens[n++] = len;
        if (!slash) break;
        p = slash + 1;
    }
    if (n >= 4 && lens[n - 2] == 8 && !strncmp(segs[n - 2], "_history", 8)) n -= 2;
    if (n < 2 || lens[n - 2] == 0 || lens[n - 1] == 0 || lens[n - 2] >= type_n || lens[n - 1] >= id_n) return 0;
    if (segs[n - 2][0] < 'A' || segs[n - 2][0] > 'Z') return 0;
    memcpy(type, segs[n - 2], lens[n - 2]);
    type[lens[n - 2]] = 0;
    memcpy(id, segs[n - 1], lens[n - 1]);
    id[lens[n - 1]] = 0;
    return 1;
}

int fhir_resource_patient(const fhir_type *t, const char *id, const json_t *resource, char *out, size_t n)
{
    if (!t || !t->patient_paths) return 0;
    if (!strcmp(t->patient_paths, "@self")) {
        if (!id || !*id || strlen(id) >= n) return 0;
        strcpy(out, id);
        return 1;
    }
    char paths[128];
    snprintf(paths, sizeof paths, "%s", t->patient_paths);
    for (char *save = NULL, *p = strtok_r(paths, "|", &save); p; p = strtok_r(NULL, "|", &save)) {
        const json_t *v = json_object_get(resource, p);
        if (json_is_array(v)) v = json_array_get(v, 0);
        const char *ref = json_string_value(json_object_get(v, "reference"));
        char type[64];
        if (ref && fhir_reference_parse(ref, type, sizeof type, out, n) && !strcmp(type, "Patient")) return 1;
    }
    return 0;
}
