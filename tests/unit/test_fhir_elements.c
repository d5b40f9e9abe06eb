/* test_fhir_elements.c - unit tests of src/fhir/elements.c: the generated R4 element table, valid
 * resources (hand-written and the ANS conformance examples) pass, and each kind of fault is
 * refused with SOCLE_EUNPROCESSABLE at the right path, without the client's value in the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fhir/elements.h"
#include "fhir/fhir.h"

/* Validate a JSON text as its resourceType; returns the code, err filled. */
static int run(const char *json, socle_err *err)
{
    json_error_t je;
    json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!j) fail_msg("test JSON does not parse: %s (line %d)", je.text, je.line);
    socle_err_clear(err);
    const char *type = json_string_value(json_object_get(j, "resourceType"));
    int rc = fhir_validate_elements(type ? type : "Patient", j, err);
    json_decref(j);
    return rc;
}

static void ok(const char *json)
{
    socle_err err;
    int rc = run(json, &err);
    if (rc) fail_msg("refused (%d): %s [where %s]\n  %s", rc, err.msg, err.where, json);
    assert_int_equal(err.code, 0);
}

/* The resource is refused at exactly `where`, with `rule` in the message and without `secret`
 * (a client value) anywhere in it. */
static void bad(const char *json, const char *where, const char *rule, const char *secret)
{
    socle_err err;
    int rc = run(json, &err);
    if (rc != SOCLE_EUNPROCESSABLE) fail_msg("expected a refusal at %s, got %d\n  %s", where, rc, json);
    assert_int_equal(err.code, SOCLE_EUNPROCESSABLE);
    if (strcmp(err.where, where))
        fail_msg("refused at '%s' (%s), expected at '%s'", err.where, err.msg, where);
    if (!strstr(err.msg, rule)) fail_msg("message '%s' lacks '%s'", err.msg, rule);
    if (strncmp(err.msg, where, strlen(where)))
        fail_msg("message '%s' does not start with the path", err.msg);
    if (secret && strstr(err.msg, secret)) fail_msg("message '%s' leaks the value '%s'", err.msg, secret);
}

/* --- the table --- */

static void test_table(void **state)
{
    /* Definitions sorted (binary search), elements sorted within each, indexes in range. */
    size_t nres = 0;
    for (unsigned i = 0; i < fhir_r4_ndefs; i++) {
        const fhir_definition *d = &fhir_r4_defs[i];
        if (i) assert_true(strcmp(fhir_r4_strings + fhir_r4_defs[i - 1].name, fhir_r4_strings + d->name) < 0);
        assert_int_equal(fhir_elements_definition(fhir_r4_strings + d->name), (int)i);
        if (d->flags & FHIR_DF_RESOURCE) nres++;
        unsigned nreq = 0;
        for (unsigned k = d->first; k < (unsigned)d->first + d->count; k++) {
            const fhir_element_info *e = &fhir_r4_elements[k];
            if (k > d->first)
                assert_true(
                    strcmp(fhir_r4_strings + fhir_r4_elements[k - 1].name, fhir_r4_strings + e->name) < 0);
            assert_true(e->kind < FHIR_EK_COUNT);
            if (e->kind == FHIR_EK_COMPLEX) assert_true(e->def < fhir_r4_ndefs);
            if (e->enumset) assert_int_equal(e->kind, FHIR_EK_CODE);
            if (e->flags & FHIR_EF_REQUIRED) nreq++;
        }
        assert_int_equal(nreq, d->nreq);
    }
    assert_int_equal(nres, 146); /* every R4 resource type */
    assert_int_equal(fhir_elements_definition("Element"), (int)fhir_r4_def_element);
    assert_true(fhir_elements_definition("Patient_Contact") >= 0);
    assert_true(fhir_elements_definition("HumanName") >= 0);
    assert_int_equal(fhir_elements_definition("NoSuchThing"), -1);
    assert_int_equal(fhir_elements_definition("ResourceList"), -1);
    assert_string_equal(fhir_element_kind_name(FHIR_EK_DATETIME), "dateTime");
    assert_string_equal(fhir_element_kind_name(FHIR_EK_BASE64BINARY), "base64Binary");
    assert_string_equal(fhir_element_kind_name(99), "?");

    /* Every type socle registers is an R4 resource of the table. */
    size_t n;
    const fhir_type *types = fhir_types(&n);
    for (size_t i = 0; i < n; i++) {
        int di = fhir_elements_definition(types[i].name);
        if (di < 0 || !(fhir_r4_defs[di].flags & FHIR_DF_RESOURCE))
            fail_msg("%s is not an R4 resource", types[i].name);
    }
}

/* --- valid resources --- */

static void test_valid(void **state)
{
    ok("{\"resourceType\":\"Patient\",\"id\":\"pat-1.a\",\"meta\":{\"versionId\":\"3\",\"lastUpdated\":"
       "\"2024-01-02T03:04:05.678Z\",\"profile\":[\"https://hl7.fr/ig/fhir/core/StructureDefinition/"
       "fr-core-patient|2.0\"],"
       "\"security\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/"
       "v3-Confidentiality\",\"code\":\"N\"}]},"
       "\"text\":{\"status\":\"generated\",\"div\":\"<div "
       "xmlns=\\\"http://www.w3.org/1999/xhtml\\\">Jeanne</div>\"},"
       "\"extension\":[{\"url\":\"http://hl7.org/fhir/StructureDefinition/patient-birthPlace\","
       "\"valueAddress\":{\"city\":\"Nancy\",\"country\":\"FR\"}}],"
       "\"identifier\":[{\"use\":\"official\",\"type\":{\"coding\":[{\"system\":"
       "\"http://interopsante.org/fhir/CodeSystem/fr-v2-0203\",\"code\":\"INS-NIR\"}]},"
       "\"system\":\"urn:oid:1.2.250.1.213.1.4.8\",\"value\":\"279035121518989\"}],"
       "\"active\":true,\"name\":[{\"use\":\"official\",\"family\":\"Martin\",\"given\":[\"Jeanne\","
       "\"Marie\"],"
       "\"period\":{\"start\":\"2001-05\"}}],"
       "\"telecom\":[{\"system\":\"phone\",\"value\":\"+33 6 12 34 56 78\",\"use\":\"mobile\",\"rank\":1}],"
       "\"gender\":\"female\",\"birthDate\":\"1979-03-21\",\"_birthDate\":{\"extension\":[{\"url\":"
       "\"http://hl7.org/fhir/StructureDefinition/"
       "patient-birthTime\",\"valueDateTime\":\"1979-03-21T04:30:00+01:00\"}]},"
       "\"deceasedBoolean\":false,\"address\":[{\"use\":\"home\",\"line\":[\"3 rue de la "
       "Paix\"],\"city\":\"Nancy\","
       "\"postalCode\":\"54000\",\"country\":\"FR\"}],\"maritalStatus\":{\"text\":\"mariée\"},"
       "\"multipleBirthInteger\":2,\"contact\":[{\"relationship\":[{\"text\":\"sœur\"}],\"name\":{\"family\":"
       "\"Martin\"},"
       "\"gender\":\"female\"}],\"communication\":[{\"language\":{\"coding\":[{\"system\":\"urn:ietf:bcp:"
       "47\","
       "\"code\":\"fr-FR\"}]},\"preferred\":true}],\"generalPractitioner\":[{\"reference\":\"Practitioner/"
       "p1\"}],"
       "\"managingOrganization\":{\"reference\":\"Organization/o1\",\"display\":\"CHU\"},"
       "\"link\":[{\"other\":{\"reference\":\"Patient/old\"},\"type\":\"replaces\"}]}");
    ok("{\"resourceType\":\"Practitioner\",\"id\":\"p1\",\"identifier\":[{\"system\":\"urn:oid:1.2.250.1.71."
       "4.2.1\","
       "\"value\":\"810002909371\"}],\"active\":true,\"name\":[{\"family\":\"Durand\",\"given\":[\"Paul\"],"
       "\"prefix\":[\"Dr\"]}],\"telecom\":[{\"system\":\"email\",\"value\":\"paul.durand@example.org\"}],"
       "\"gender\":\"male\",\"birthDate\":\"1970\",\"qualification\":[{\"code\":{\"coding\":[{\"system\":"
       "\"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/"
       "TRE-G15-ProfessionSante\",\"code\":\"10\","
       "\"display\":\"Médecin\"}]},\"period\":{\"start\":\"1998-09-01\",\"end\":\"2030-01-01T00:00:00Z\"},"
       "\"issuer\":{\"display\":\"CNOM\"}}],\"communication\":[{\"text\":\"français\"}]}");
    ok("{\"resourceType\":\"Organization\",\"id\":\"o1\",\"identifier\":[{\"system\":\"urn:oid:1.2.250.1.71."
       "4.2.2\","
       "\"value\":\"1540000001\"}],\"active\":true,\"type\":[{\"coding\":[{\"system\":"
       "\"http://terminology.hl7.org/CodeSystem/organization-type\",\"code\":\"prov\"}]}],\"name\":\"CHU de "
       "Nancy\","
       "\"alias\":[\"CHRU\"],\"telecom\":[{\"system\":\"url\",\"value\":\"https://www.chru-nancy.fr\"}],"
       "\"address\":[{\"line\":[\"29 avenue du Maréchal de Lattre de Tassigny\"],\"city\":\"Nancy\","
       "\"postalCode\":\"54000\"}],\"partOf\":{\"reference\":\"Organization/"
       "ght\"},\"contact\":[{\"purpose\":{"
       "\"text\":\"admin\"},\"name\":{\"text\":\"Accueil\"}}]}");
    ok("{\"resourceType\":\"Observation\",\"id\":\"obs1\",\"status\":\"final\",\"category\":[{\"coding\":[{"
       "\"system\":"
       "\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"vital-signs\"}]}],"
       "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"85354-9\",\"display\":\"Blood "
       "pressure\"}]},"
       "\"subject\":{\"reference\":\"Patient/pat-1\"},\"effectiveDateTime\":\"2024-02-03T10:00:00+01:00\","
       "\"issued\":\"2024-02-03T10:05:00.123+01:00\",\"performer\":[{\"reference\":\"Practitioner/p1\"}],"
       "\"interpretation\":[{\"text\":\"normal\"}],\"note\":[{\"text\":\"**au "
       "repos**\",\"time\":\"2024-02-03\"}],"
       "\"referenceRange\":[{\"low\":{\"value\":90,\"unit\":\"mmHg\"},\"high\":{\"value\":140.5,\"unit\":"
       "\"mmHg\"}}],"
       "\"component\":[{\"code\":{\"text\":\"systolic\"},\"valueQuantity\":{\"value\":120,\"comparator\":\"<"
       "\","
       "\"unit\":\"mmHg\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"mm[Hg]\"}},"
       "{\"code\":{\"text\":\"diastolic\"},\"valueQuantity\":{\"value\":80.0,\"unit\":\"mmHg\"}},"
       "{\"code\":{\"text\":\"time\"},\"valueTime\":\"10:00:00.5\"},{\"code\":{\"text\":\"count\"},"
       "\"valueInteger\":-3},"
       "{\"code\":{\"text\":\"sampled\"},\"valueSampledData\":{\"origin\":{\"value\":0},\"period\":1000,"
       "\"dimensions\":1,\"data\":\"1 2 E\"}}]}");
    ok("{\"resourceType\":\"DocumentReference\",\"id\":\"doc1\",\"masterIdentifier\":{\"system\":\"urn:ietf:"
       "rfc:3986\","
       "\"value\":\"urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21\"},\"status\":\"current\",\"docStatus\":"
       "\"final\","
       "\"type\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"11488-4\"}]},"
       "\"subject\":{\"reference\":\"Patient/pat-1\"},\"date\":\"2024-02-03T10:00:00Z\","
       "\"author\":[{\"reference\":\"#pr\"}],\"contained\":[{\"resourceType\":\"Practitioner\",\"id\":\"pr\","
       "\"name\":[{\"family\":\"Durand\"}]}],\"securityLabel\":[{\"coding\":[{\"code\":\"N\"}]}],"
       "\"content\":[{\"attachment\":{\"contentType\":\"application/pdf\",\"language\":\"fr\","
       "\"data\":\"SGVsbG8gV29y\\nbGQ=\",\"size\":11,\"hash\":\"Kq5sNclPz7QV2+lfQIuc6R7oRu0=\",\"title\":"
       "\"CR\","
       "\"creation\":\"2024-02-03T09:00:00+01:00\"},\"format\":{\"system\":\"urn:oid:1.3.6.1.4.1.19376.1.2."
       "3\","
       "\"code\":\"urn:ihe:iti:xds-sd:pdf:2008\"}}],\"context\":{\"period\":{\"start\":\"2024-02-01\"},"
       "\"sourcePatientInfo\":{\"reference\":\"Patient/pat-1\"}}}");
    /* Primitive arrays with their "_" sibling: a null on one side is allowed when the other side has
     * a value at that index. */
    ok("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"Jeanne\",null],\"_given\":[null,{\"extension\":"
       "[{\"url\":\"http://example.org/x\",\"valueCode\":\"nul\"}]}]}]}");
    ok("{\"resourceType\":\"Patient\",\"_gender\":{\"extension\":[{\"url\":\"http://example.org/x\","
       "\"valueString\":\"unknown to the sender\"}]}}");
    /* Bundle entries and Parameters hold resources of any type. */
    ok("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"fullUrl\":"
       "\"urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21\",\"resource\":{\"resourceType\":\"Consent\","
       "\"status\":\"active\",\"scope\":{\"text\":\"x\"},\"category\":[{\"text\":\"y\"}]},\"request\":{"
       "\"method\":"
       "\"POST\",\"url\":\"Consent\"}}]}");
    ok("{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"date\":\"2024\",\"kind\":"
       "\"instance\","
       "\"fhirVersion\":\"4.0.1\",\"format\":[\"json\"]}");
    ok("{\"resourceType\":\"Binary\",\"contentType\":\"application/pdf\",\"data\":\"SGVsbG8gV29ybGQ=\"}");
}

/* Every R4 resource of the ANS conformance examples passes (they all pass the official schema). */
static int conformance_seen, conformance_failed;

static int conformance_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 5, ".json")) return 0;
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    const char *type = json_string_value(json_object_get(j, "resourceType"));
    if (!type) {
        json_decref(j);
        return 0;
    }
    conformance_seen++;
    socle_err err;
    if (fhir_validate_elements(type, j, &err)) {
        print_error("%s: %s\n", path, err.msg);
        conformance_failed++;
    }
    json_decref(j);
    return 0;
}

static void test_conformance(void **state)
{
    const char *dirs[] = {"../shared/conformance", "/work/shared/conformance"};
    const char *dir = NULL;
    struct stat st;
    for (size_t i = 0; i < 2 && !dir; i++)
        if (!stat(dirs[i], &st) && S_ISDIR(st.st_mode)) dir = dirs[i];
    if (!dir) skip();
    conformance_seen = conformance_failed = 0;
    assert_int_equal(nftw(dir, conformance_file, 16, FTW_PHYS), 0);
    assert_true(conformance_seen >= 20);
    assert_int_equal(conformance_failed, 0);
}

/* --- faults --- */

static void test_unknown_elements(void **state)
{
    bad("{\"resourceType\":\"Patient\",\"foo\":\"x\"}", "Patient.foo",
        "unknown element (not in FHIR R4 Patient)", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Martin\"},{\"bogus\":\"HIV\"}]}",
        "Patient.name[1].bogus", "unknown element (not in FHIR R4 HumanName)", "HIV");
    bad("{\"resourceType\":\"Patient\",\"contact\":[{\"gender\":\"male\",\"ssn\":\"123\"}]}",
        "Patient.contact[0].ssn", "not in FHIR R4 Patient_Contact", "123");
    /* A choice type R4 does not define for that element, an abstract type's element. */
    bad("{\"resourceType\":\"Patient\",\"deceasedString\":\"yes\"}", "Patient.deceasedString",
        "unknown element", NULL);
    bad("{\"resourceType\":\"Observation\",\"code\":{\"text\":\"x\"},\"status\":\"final\",\"valueFoo\":1}",
        "Observation.valueFoo", "unknown element", NULL);
    /* "_name" only beside a primitive. */
    bad("{\"resourceType\":\"Patient\",\"_name\":[{\"id\":\"a\"}]}", "Patient._name", "unknown element",
        NULL);
    bad("{\"resourceType\":\"Patient\",\"_foo\":{\"id\":\"a\"}}", "Patient._foo", "unknown element", NULL);
    /* Inside "_birthDate" only Element's id and extension. */
    bad("{\"resourceType\":\"Patient\",\"_birthDate\":{\"value\":\"1970\"}}", "Patient._birthDate.value",
        "not in FHIR R4 Element", "1970");
    /* Keys that are no element name are refused without being echoed. */
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"has space\":1}]}", "Patient.name[0]",
        "not a FHIR element name", "has space");
    /* Element names are case-sensitive. */
    bad("{\"resourceType\":\"Patient\",\"BirthDate\":\"1970\"}", "Patient.BirthDate", "unknown element",
        NULL);
    /* A resource type socle does not know. */
    socle_err err;
    json_t *j = json_pack("{s:s}", "resourceType", "Nope");
    assert_int_equal(fhir_validate_elements("Nope", j, &err), SOCLE_EUNPROCESSABLE);
    assert_int_equal(fhir_validate_elements("HumanName", j, &err), SOCLE_EUNPROCESSABLE);
    json_decref(j);
    /* resourceType must be the one validated against. */
    j = json_pack("{s:s}", "resourceType", "Patient");
    assert_int_equal(fhir_validate_elements("Practitioner", j, &err), SOCLE_EUNPROCESSABLE);
    assert_string_equal(err.where, "Practitioner.resourceType");
    assert_non_null(strstr(err.msg, "must be Practitioner"));
    json_decref(j);
}

static void test_primitive_types(void **state)
{
    bad("{\"resourceType\":\"Patient\",\"birthDate\":12}", "Patient.birthDate",
        "must be a JSON string (FHIR date)", NULL);
    bad("{\"resourceType\":\"Patient\",\"active\":\"true\"}", "Patient.active", "must be true or false",
        NULL);
    bad("{\"resourceType\":\"Patient\",\"gender\":42}", "Patient.gender", "must be a JSON string (FHIR code)",
        NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":{\"v\":\"Martin\"}}]}", "Patient.name[0].family",
        "must be a JSON string (FHIR string)", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[\"Martin\"]}", "Patient.name[0]",
        "must be a JSON object (FHIR HumanName)", "Martin");
    bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":1.5}", "Patient.multipleBirthInteger",
        "must be a JSON integer (FHIR integer)", NULL);
    bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":3000000000}", "Patient.multipleBirthInteger",
        "out of the range of FHIR integer", "3000000000");
    bad("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":2147483648}", "Patient.multipleBirthInteger",
        "out of the range of FHIR integer", NULL);
    ok("{\"resourceType\":\"Patient\",\"multipleBirthInteger\":-2147483648}");
    bad("{\"resourceType\":\"Patient\",\"telecom\":[{\"value\":\"x\",\"rank\":0}]}",
        "Patient.telecom[0].rank", "out of the range of FHIR positiveInt", NULL);
    ok("{\"resourceType\":\"Patient\",\"telecom\":[{\"value\":\"x\",\"rank\":2147483647}]}");
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"QQ==\",\"id\":\"b\","
        "\"meta\":{\"versionId\":\"1\"},\"securityContext\":{\"reference\":\"Patient/"
        "a\"},\"language\":\"fr\","
        "\"implicitRules\":\"http://"
        "x\",\"_contentType\":{\"id\":\"c\"},\"_data\":{\"id\":\"d\"},\"extension\":1}",
        "Binary.extension", "unknown element", NULL);
    ok("{\"resourceType\":\"Observation\",\"code\":{\"text\":\"x\"},\"status\":\"final\",\"valueQuantity\":{"
       "\"value\":1e3}}");
    bad("{\"resourceType\":\"Observation\",\"code\":{\"text\":\"x\"},\"status\":\"final\",\"valueQuantity\":"
        "{\"value\":\"1.5\"}}",
        "Observation.valueQuantity.value", "must be a JSON number (FHIR decimal)", "1.5");
    bad("{\"resourceType\":\"DocumentReference\",\"status\":\"current\",\"content\":[{\"attachment\":{"
        "\"size\":-1}}]}",
        "DocumentReference.content[0].attachment.size", "out of the range of FHIR unsignedInt", NULL);
    ok("{\"resourceType\":\"DocumentReference\",\"status\":\"current\",\"content\":[{\"attachment\":{"
       "\"size\":0}}]}");
    /* null, empty values. */
    bad("{\"resourceType\":\"Patient\",\"gender\":null}", "Patient.gender", "null is not allowed", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null]}]}", "Patient.name[0].given[1]",
        "null is not allowed", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",null]}],\"_gender\":{\"id\":\"x\"}}",
        "Patient.name[0].given[1]", "null is not allowed", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":[\"A\",\"B\"],\"_given\":[null]}]}",
        "Patient.name[0]._given", "as many items", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\"}]}", "Patient.name[0].family",
        "empty strings", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[]}", "Patient.name", "empty arrays", NULL);
    bad("{\"resourceType\":\"Patient\",\"maritalStatus\":{}}", "Patient.maritalStatus", "empty objects",
        NULL);
    /* Strings: control characters and the whitespace the schema's \S refuses. */
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Mar\\u0001tin\"}]}", "Patient.name[0].family",
        "control characters", "Mar");
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Mar\\u00a0tin\"}]}", "Patient.name[0].family",
        "whitespace", NULL);
    bad("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"<div>\\u0002</div>\"}}",
        "Patient.text.div", "control characters", NULL);
    ok("{\"resourceType\":\"Patient\",\"text\":{\"status\":\"generated\",\"div\":\"<div>a\\u00a0b</div>\"}}");
    ok("{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"Jeanne\\tMartin\\r\\nNancy \\u00e9\\u4e2d\"}]}");
}

static void test_cardinality(void **state)
{
    bad("{\"resourceType\":\"Patient\",\"name\":{\"family\":\"Martin\"}}", "Patient.name", "must be an array",
        "Martin");
    bad("{\"resourceType\":\"Patient\",\"gender\":[\"female\"]}", "Patient.gender", "must be a single value",
        "female");
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"given\":\"Jeanne\"}]}", "Patient.name[0].given",
        "must be an array", "Jeanne");
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"family\":[\"Martin\"]}]}", "Patient.name[0].family",
        "must be a single value", "Martin");
    bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1970\",\"_birthDate\":[{\"id\":\"a\"}]}",
        "Patient._birthDate", "must be a single value", NULL);
    bad("{\"resourceType\":\"Patient\",\"name\":[[{\"family\":\"M\"}]]}", "Patient.name[0]",
        "arrays of arrays", NULL);
    /* Required elements (the schema's required lists, and Extension.url). */
    bad("{\"resourceType\":\"Observation\",\"status\":\"final\"}", "Observation.code",
        "required element missing", NULL);
    bad("{\"resourceType\":\"Patient\",\"extension\":[{\"valueString\":\"secret\"}]}",
        "Patient.extension[0].url", "required element missing (FHIR R4 Extension)", "secret");
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"extension\":[{\"url\":\"http://"
        "x\",\"extension\":[{\"valueCode\":"
        "\"a\"}]}]}]}",
        "Patient.name[0].extension[0].extension[0].url", "required element missing", NULL);
    bad("{\"resourceType\":\"Patient\",\"modifierExtension\":[{\"valueBoolean\":true}]}",
        "Patient.modifierExtension[0].url", "required element missing", NULL);
    bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueFoo\":1}]}",
        "Patient.extension[0].valueFoo", "not in FHIR R4 Extension", NULL);
    bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueInteger\":\"1\"}]}",
        "Patient.extension[0].valueInteger", "must be a JSON integer", NULL);
    bad("{\"resourceType\":\"Patient\",\"link\":[{\"type\":\"seealso\"}]}", "Patient.link[0].other",
        "required element missing (FHIR R4 Patient_Link)", NULL);
}

static void test_codes(void **state)
{
    bad("{\"resourceType\":\"Patient\",\"gender\":\"F\"}", "Patient.gender",
        "not a code R4 allows here (female | male | other | unknown)", NULL);
    bad("{\"resourceType\":\"Patient\",\"gender\":\"Female\"}", "Patient.gender", "not a code R4 allows",
        NULL);
    bad("{\"resourceType\":\"Patient\",\"telecom\":[{\"system\":\"fax\",\"use\":\"cell\"}]}",
        "Patient.telecom[0].use", "not a code R4 allows", NULL);
    bad("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":{\"resourceType\":"
        "\"Patient\"},"
        "\"request\":{\"method\":\"FETCH\",\"url\":\"Patient\"}}]}",
        "Bundle.entry[0].request.method", "not a code R4 allows", NULL);
    /* A large enum is not listed. */
    bad("{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"date\":\"2024\",\"kind\":"
        "\"instance\","
        "\"fhirVersion\":\"5.0.0\",\"format\":[\"json\"]}",
        "CapabilityStatement.fhirVersion", "codes R4 allows here", NULL);
    /* Code elements without an enum still follow the code form. */
    bad("{\"resourceType\":\"Patient\",\"language\":\" fr\"}", "Patient.language", "not a valid FHIR code",
        NULL);
    bad("{\"resourceType\":\"Patient\",\"language\":\"fr  FR\"}", "Patient.language", "not a valid FHIR code",
        NULL);
    ok("{\"resourceType\":\"Patient\",\"language\":\"fr FR\"}");
    bad("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"http://x y\"}]}",
        "Patient.identifier[0].system", "may not contain whitespace", NULL);
    /* A uri, not an oid: only whitespace makes it invalid. */
    ok("{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:oid:1.02\"}]}");
}

static void test_dates_and_ids(void **state)
{
    bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1980-13-45\"}", "Patient.birthDate",
        "not a valid FHIR date", "1980");
    bad("{\"resourceType\":\"Patient\",\"birthDate\":\"2023-02-29\"}", "Patient.birthDate",
        "not a valid FHIR date", NULL);
    bad("{\"resourceType\":\"Patient\",\"birthDate\":\"1980-01-01T00:00:00Z\"}", "Patient.birthDate",
        "not a valid FHIR date", NULL);
    bad("{\"resourceType\":\"Patient\",\"birthDate\":\"0000\"}", "Patient.birthDate", "not a valid FHIR date",
        NULL);
    ok("{\"resourceType\":\"Patient\",\"birthDate\":\"2024-02-29\"}");
    bad("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-05-17T10:00\"}",
        "Patient.deceasedDateTime", "FHIR dateTime", NULL);
    bad("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-05-17T10:00:00\"}",
        "Patient.deceasedDateTime", "zone", NULL);
    bad("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-05-17T10:00:00+14:30\"}",
        "Patient.deceasedDateTime", "bad time zone", NULL);
    ok("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-05-17T10:00:00-14:00\"}");
    ok("{\"resourceType\":\"Patient\",\"deceasedDateTime\":\"2020-05\"}");
    bad("{\"resourceType\":\"Patient\",\"meta\":{\"lastUpdated\":\"2020-05-17\"}}",
        "Patient.meta.lastUpdated", "FHIR instant", NULL);
    bad("{\"resourceType\":\"Patient\",\"meta\":{\"lastUpdated\":\"2020-05-17T25:00:00Z\"}}",
        "Patient.meta.lastUpdated", "FHIR instant", NULL);
    bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"valueTime\":\"24:"
        "00:00\"}",
        "Observation.valueTime", "not a valid FHIR time", NULL);
    bad("{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"valueTime\":\"10:"
        "00\"}",
        "Observation.valueTime", "not a valid FHIR time", NULL);
    /* ids */
    bad("{\"resourceType\":\"Patient\",\"id\":\"a b\"}", "Patient.id", "not a valid FHIR id", NULL);
    bad("{\"resourceType\":\"Patient\",\"id\":"
        "\"0123456789012345678901234567890123456789012345678901234567890123456\"}",
        "Patient.id", "not a valid FHIR id", NULL);
    bad("{\"resourceType\":\"Patient\",\"id\":\"Jeanne_Martin\"}", "Patient.id", "not a valid FHIR id",
        "Jeanne");
    bad("{\"resourceType\":\"Patient\",\"meta\":{\"versionId\":\"v/1\"}}", "Patient.meta.versionId",
        "FHIR id", NULL);
    /* oid, uuid, base64Binary */
    ok("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://"
       "x\",\"valueOid\":\"urn:oid:2.16.840.1.113883\"}]}");
    bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueOid\":\"urn:oid:1.02\"}]}",
        "Patient.extension[0].valueOid", "not a valid FHIR oid", NULL);
    bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueUuid\":"
        "\"urn:uuid:0C287D32-01E3-4D87-9953-9FCC9404EB21\"}]}",
        "Patient.extension[0].valueUuid", "not a valid FHIR uuid", NULL);
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVsbG8*\"}", "Binary.data",
        "not valid base64", NULL);
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVsbG8\"}", "Binary.data",
        "not valid base64", NULL);
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SG=sbG8=\"}", "Binary.data",
        "not valid base64", NULL);
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGV sbG8=\"}", "Binary.data",
        "not valid base64", NULL);
    ok("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVs\\r\\nbG8=\\n\"}");
    /* long runs of the alphabet, white space only between groups of four, nothing after padding */
    ok("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVsbG8gd29y bGQhIQ==\"}");
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVsbG8gd29ybGQ hIQ==\"}",
        "Binary.data", "not valid base64", NULL);
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVsbG8gd29ybGQhIQ==SGVs\"}",
        "Binary.data", "not valid base64", NULL);
    bad("{\"resourceType\":\"Binary\",\"contentType\":\"text/plain\",\"data\":\"SGVsbG8gd29ybGQhI\u00e9==\"}",
        "Binary.data", "not valid base64", NULL);
}

static void test_contained(void **state)
{
    /* A choice element takes one type; an extension a value or extensions (ext-1). */
    bad("{\"resourceType\":\"Patient\",\"deceasedBoolean\":true,\"deceasedDateTime\":\"2020\"}",
        "Patient.deceasedDateTime", "one type only", NULL);
    bad("{\"resourceType\":\"Patient\",\"extension\":[{\"url\":\"http://x\",\"valueString\":\"a\","
        "\"extension\":[{\"url\":\"y\",\"valueCode\":\"b\"}]}]}",
        "Patient.extension[0].valueString", "ext-1", NULL);
    ok("{\"resourceType\":\"Patient\",\"deceasedBoolean\":false,\"multipleBirthInteger\":2}");
    /* dom-2: no contained resource inside a contained resource. */
    bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"a\","
        "\"contained\":[{\"resourceType\":\"Patient\",\"id\":\"b\"}]}]}",
        "Patient.contained[0].contained", "dom-2", NULL);
    /* ele-1: an element with only an id has neither value nor children. */
    bad("{\"resourceType\":\"Patient\",\"name\":[{\"id\":\"x\"}]}", "Patient.name[0]", "ele-1", NULL);
    ok("{\"resourceType\":\"Patient\",\"name\":[{\"id\":\"x\",\"family\":\"Y\"}],\"birthDate\":\"1980\","
       "\"_birthDate\":{\"id\":\"d\"}}");
    bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Practitioner\",\"id\":\"p\","
        "\"foo\":1}]}",
        "Patient.contained[0].foo", "unknown element (not in FHIR R4 Practitioner)", NULL);
    bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Organization\",\"id\":\"o\"},"
        "{\"resourceType\":\"Practitioner\",\"id\":\"p\",\"gender\":\"x\"}]}",
        "Patient.contained[1].gender", "not a code R4 allows", NULL);
    bad("{\"resourceType\":\"Patient\",\"contained\":[{\"id\":\"p\"}]}", "Patient.contained[0].resourceType",
        "needs its resourceType", NULL);
    bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"Secret\",\"id\":\"p\"}]}",
        "Patient.contained[0].resourceType", "not a FHIR R4 resource type", "Secret");
    bad("{\"resourceType\":\"Patient\",\"contained\":[{\"resourceType\":\"HumanName\",\"family\":\"x\"}]}",
        "Patient.contained[0].resourceType", "not a FHIR R4 resource type", NULL);
    bad("{\"resourceType\":\"Patient\",\"contained\":{\"resourceType\":\"Organization\",\"id\":\"o\"}}",
        "Patient.contained", "must be an array", NULL);
    bad("{\"resourceType\":\"Patient\",\"contained\":[\"Organization\"]}", "Patient.contained[0]",
        "must be a resource", NULL);
    bad("{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"entry\":[{\"resource\":{\"resourceType\":"
        "\"Patient\","
        "\"active\":\"yes\"}}]}",
        "Bundle.entry[0].resource.active", "must be true or false", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),           cmocka_unit_test(test_valid),
        cmocka_unit_test(test_conformance),     cmocka_unit_test(test_unknown_elements),
        cmocka_unit_test(test_primitive_types), cmocka_unit_test(test_cardinality),
        cmocka_unit_test(test_codes),           cmocka_unit_test(test_dates_and_ids),
        cmocka_unit_test(test_contained),
    };
    return cmocka_run_group_tests_name("fhir_elements", tests, NULL, NULL);
}
