/* test_psc_claims.c - unit tests of the Pro Santé Connect claims (svc/psc/claims.h) on a temporary
 * SQLite store loaded with generated directory extracts: the claims of a professional with
 * several activities against the values of their PS_LibreAcces lines (names, professions, modes,
 * FINESS/SIRET, structure ids, order), the MSSanté email, determinism, the helpers, and the
 * professionals who cannot log in (unknown, malformed id, deleted, inactive); plus hand-made
 * resources for a role without a structure and an inactive role. Also two helpers of the provider
 * (psc_internal.h): the login throttle's address key (an IPv6 /64) and the scope subset check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "crypto/crypto.h"
#include "fhir/repo.h"
#include "svc/annuaire/extract.h"
#include "svc/annuaire/generate.h"
#include "directory_fixture.h"
#include "svc/annuaire/import.h"
#include "svc/annuaire/keys.h"
#include "svc/annuaire/resources.h"
#include "svc/psc/claims.h"
#include "svc/psc/psc_internal.h"

static directory_fixture fx;

/* One expected activity: a distinct PractitionerRole of the chosen professional. */
typedef struct expected {
    char role_id[ANNUAIRE_RESOURCE_ID_MAX];
    char structure[ANNUAIRE_RESOURCE_ID_MAX];
    char profession[8], mode[8], finess[16], siret[20];
} expected;

static char chosen[32], chosen_family[128], chosen_given[128], chosen_civ[16];
static expected want[32];
static size_t nwant;

static int import_all(socle_err *err)
{
    const char *texts[3] = {fx.ps, fx.mss, fx.finess};
    annuaire_import_file files[3];
    for (int i = 0; i < 3; i++) {
        files[i].name = i == 0 ? "ps" : i == 1 ? "mss" : "finess";
        files[i].in = fmemopen((void *)texts[i], strlen(texts[i]), "r");
        files[i].report = NULL;
    }
    annuaire_import_stats st;
    int rc = annuaire_import(&fx.app, files, 3, ANNUAIRE_KEY_DEFAULT, 20, NULL, NULL, &st, err);
    for (int i = 0; i < 3; i++) fclose(files[i].in);
    return rc ? rc : st.rejected ? -1 : 0;
}

static int want_cmp(const void *x, const void *y)
{
    const expected *a = x, *b = y;
    int d = strcmp(a->profession, b->profession);
    return d ? d : strcmp(a->role_id, b->role_id);
}

/* Choose the first professional of the PS text with at least two distinct roles and record them. */
static int choose(void)
{
    FILE *f = fmemopen(fx.ps, fx.ps_len, "r");
    annuaire_extract *x;
    socle_err err;
    if (annuaire_extract_open(f, &x, &err)) return -1;
    annuaire_record rec;
    char current[32] = "";
    int found = 0;
    while (!found && annuaire_extract_next(x, &rec, &err) == 1) {
        if (strcmp(current, rec.f[PS_IDNPS])) {
            if (nwant >= 2) {
                found = 1;
                break;
            }
            snprintf(current, sizeof current, "%s", rec.f[PS_IDNPS]);
            snprintf(chosen_family, sizeof chosen_family, "%s", rec.f[PS_FAMILY]);
            snprintf(chosen_given, sizeof chosen_given, "%s", rec.f[PS_GIVEN]);
            snprintf(chosen_civ, sizeof chosen_civ, "%s", rec.f[PS_CIV_CODE]);
            nwant = 0;
        }
        expected e = {0};
        if (annuaire_structure_id(rec.f[PS_FINESS], rec.f[PS_SIRET], rec.f[PS_STRUCT_ID], e.structure, sizeof e.structure))
            e.structure[0] = 0;
        annuaire_role_id(&rec, e.structure, e.role_id);
        int dup = 0;
        for (size_t i = 0; i < nwant; i++) dup |= !strcmp(want[i].role_id, e.role_id);
        if (dup || nwant >= sizeof want / sizeof want[0]) continue;
        snprintf(e.profession, sizeof e.profession, "%s", rec.f[PS_PROF_CODE]);
        snprintf(e.mode, sizeof e.mode, "%s", rec.f[PS_MODE_CODE]);
        snprintf(e.finess, sizeof e.finess, "%s", rec.f[PS_FINESS]);
        snprintf(e.siret, sizeof e.siret, "%s", rec.f[PS_SIRET]);
        want[nwant++] = e;
    }
    if (!found && nwant >= 2) found = 1; /* the last professional of the file */
    annuaire_extract_close(x);
    fclose(f);
    snprintf(chosen, sizeof chosen, "%s", current);
    qsort(want, nwant, sizeof want[0], want_cmp);
    return found ? 0 : -1;
}

static int setup(void **state)
{
    if (directory_fixture_open(&fx, "socle-psc-claims", 40, 11)) return -1;
    socle_err err;
    if (import_all(&err)) return -1;
    return choose();
}

static int teardown(void **state)
{
    return directory_fixture_close(&fx);
}

/* Build the claims of idnps on a fresh connection; *out NULL on failure. */
static int build(const char *idnps, json_t **out)
{
    store_conn *c;
    socle_err err;
    if (store_acquire(fx.app.store, &c, &err)) return -100;
    arena *a = arena_new(0);
    int rc = psc_claims_build(c, idnps, a, out, &err);
    if (rc && *idnps) assert_null(strstr(err.msg, idnps)); /* messages never carry the identifier */
    arena_free(a);
    store_release(fx.app.store, c);
    return rc;
}

static const char *s(const json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v) fail_msg("claim %s missing or not a string", name);
    return v;
}

/* The PER mailboxes of idnps in the MSSanté text, '\n'-joined into out. */
static void per_mailboxes(const char *idnps, char *out, size_t outsz)
{
    FILE *f = fmemopen(fx.mss, fx.mss_len, "r");
    annuaire_extract *x;
    socle_err err;
    out[0] = 0;
    assert_int_equal(annuaire_extract_open(f, &x, &err), 0);
    annuaire_record rec;
    while (annuaire_extract_next(x, &rec, &err) == 1)
        if (!strcmp(rec.f[MSS_TYPE], "PER") && !strcmp(rec.f[MSS_IDNPS], idnps))
            snprintf(out + strlen(out), outsz - strlen(out), "%s\n", rec.f[MSS_ADDRESS]);
    annuaire_extract_close(x);
    fclose(f);
}

static void test_claims_of_a_professional(void **state)
{
    json_t *claims = NULL;
    assert_int_equal(build(chosen, &claims), 0);
    assert_non_null(claims);
    assert_string_equal(s(claims, "sub"), chosen);
    assert_string_equal(s(claims, "preferred_username"), chosen);
    assert_string_equal(s(claims, "SubjectNameID"), chosen);
    assert_string_equal(s(claims, "family_name"), chosen_family);
    assert_string_equal(s(claims, "given_name"), chosen_given);
    const json_t *refpro = json_object_get(claims, "SubjectRefPro");
    assert_string_equal(s(refpro, "codeCivilite"), chosen_civ);

    /* Exercices: one per profession, sorted; activities: one per role, sorted by role id. */
    const json_t *exercices = json_object_get(refpro, "exercices"), *roles = json_object_get(claims, "SubjectRole");
    size_t k = 0, nex = json_array_size(exercices), total = 0;
    assert_true(nex >= 1);
    assert_int_equal(json_array_size(roles), nex);
    for (size_t i = 0; i < nex; i++) {
        const json_t *e = json_array_get(exercices, i), *acts = json_object_get(e, "activities");
        const char *p = s(e, "codeProfession");
        if (i) assert_true(strcmp(s(json_array_get(exercices, i - 1), "codeProfession"), p) < 0);
        char role[64];
        snprintf(role, sizeof role, "%s^1.2.250.1.213.1.1.5.5", p);
        assert_string_equal(json_string_value(json_array_get(roles, i)), role);
        assert_string_equal(s(e, "nomDexercice"), chosen_family);
        assert_string_equal(s(e, "prenomDexercice"), chosen_given);
        s(e, "codeCategorieProfessionnelle");
        s(e, "codeCiviliteDexercice");
        s(e, "codeTypeSavoirFaire");
        s(e, "codeSavoirFaire");
        for (size_t j = 0; j < json_array_size(acts); j++, k++) {
            const json_t *act = json_array_get(acts, j);
            assert_true(k < nwant);
            const expected *w = &want[k];
            assert_string_equal(p, w->profession);
            assert_string_equal(s(act, "codeModeExercice"), w->mode);
            assert_string_equal(s(act, "identifiantTechniqueDeLaStructure"), w->structure);
            if (*w->finess) assert_string_equal(s(act, "numeroFinessSite"), w->finess);
            else assert_string_equal(s(act, "numeroFinessSite"), "");
            if (*w->siret && !*w->finess) {
                assert_string_equal(s(act, "numeroSiretSite"), w->siret);
                assert_memory_equal(s(act, "numeroSirenSite"), w->siret, 9);
            }
            /* Every field the directory carries is there, "" when empty, as in the real PSC. */
            static const char *const fields[] = {"codeSecteurDactivite", "codeSectionPharmacien",
                                                 "numeroFinessetablissementJuridique", "raisonSocialeSite",
                                                 "enseigneCommercialeSite", "codePostal", "codeCommune", "codePays",
                                                 "telephone", "telephone2", "telecopie", "adresseEMail", NULL};
            for (int f = 0; fields[f]; f++) s(act, fields[f]);
            /* Fields socle's directory does not carry are left out rather than invented. */
            assert_null(json_object_get(act, "codeRole"));
            assert_null(json_object_get(act, "libelleVoie"));
            total++;
        }
    }
    assert_int_equal(total, nwant);
    assert_true(total >= 2);

    /* The first activity with a structure gives SubjectOrganization*, Secteur_Activite. */
    const json_t *first = NULL;
    for (size_t i = 0; i < nex && !first; i++) {
        const json_t *acts = json_object_get(json_array_get(exercices, i), "activities");
        for (size_t j = 0; j < json_array_size(acts) && !first; j++)
            if (*s(json_array_get(acts, j), "identifiantTechniqueDeLaStructure")) first = json_array_get(acts, j);
    }
    assert_non_null(first);
    assert_string_equal(s(claims, "SubjectOrganizationID"), s(first, "identifiantTechniqueDeLaStructure"));
    assert_string_equal(s(claims, "SubjectOrganization"), s(first, "raisonSocialeSite"));
    if (*s(first, "codeSecteurDactivite")) {
        char sector[64];
        snprintf(sector, sizeof sector, "%s^1.2.250.1.71.4.2.4", s(first, "codeSecteurDactivite"));
        assert_string_equal(s(claims, "Secteur_Activite"), sector);
    } else {
        assert_null(json_object_get(claims, "Secteur_Activite"));
    }

    /* otherIds: the IDNPS, origin RPPS (prefix 8) or ADELI (prefix 0), qualite 1. */
    const json_t *other = json_array_get(json_object_get(claims, "otherIds"), 0);
    assert_string_equal(s(other, "identifiant"), chosen);
    assert_string_equal(s(other, "origine"), chosen[0] == '8' ? "RPPS" : "ADELI");
    assert_int_equal(json_integer_value(json_object_get(other, "qualite")), 1);

    /* email: one of the professional's PER mailboxes, and only when there is one. */
    char boxes[4096];
    per_mailboxes(chosen, boxes, sizeof boxes);
    const char *email = json_string_value(json_object_get(claims, "email"));
    if (*boxes) {
        assert_non_null(email);
        char line[512];
        snprintf(line, sizeof line, "%s\n", email);
        assert_non_null(strstr(boxes, line));
    } else {
        assert_null(email);
    }

    /* The helpers. */
    char out[64];
    assert_int_equal(psc_claims_profession(claims, out, sizeof out), 0);
    assert_string_equal(out, s(json_array_get(exercices, 0), "codeProfession"));
    assert_int_equal(psc_claims_structure(claims, out, sizeof out), 0);
    assert_string_equal(out, s(claims, "SubjectOrganizationID"));
    assert_int_equal(psc_claims_structure(claims, out, 3), SOCLE_EINVAL);
    assert_string_equal(out, "");
    json_t *empty = json_object();
    assert_int_equal(psc_claims_profession(empty, out, sizeof out), SOCLE_ENOTFOUND);
    assert_int_equal(psc_claims_structure(empty, out, sizeof out), SOCLE_ENOTFOUND);
    json_decref(empty);
    json_decref(claims);
}

static void test_deterministic(void **state)
{
    json_t *a = NULL, *b = NULL;
    assert_int_equal(build(chosen, &a), 0);
    assert_int_equal(build(chosen, &b), 0);
    char *da = json_dumps(a, JSON_COMPACT), *db = json_dumps(b, JSON_COMPACT);
    assert_string_equal(da, db);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
}

static void test_cannot_log_in(void **state)
{
    json_t *claims = (json_t *)1;
    assert_int_equal(build("899999999999", &claims), SOCLE_ENOTFOUND);
    assert_null(claims);
    assert_int_equal(build("8,10100000008", &claims), SOCLE_ENOTFOUND); /* not an id: never searched */
    assert_int_equal(build("", &claims), SOCLE_ENOTFOUND);

    /* Another professional, deleted: gone from the directory, cannot log in. */
    FILE *f = fmemopen(fx.ps, fx.ps_len, "r");
    annuaire_extract *x;
    socle_err err;
    assert_int_equal(annuaire_extract_open(f, &x, &err), 0);
    annuaire_record rec;
    char gone[32] = "", idle[32] = "";
    while ((!*gone || !*idle) && annuaire_extract_next(x, &rec, &err) == 1) {
        if (!strcmp(rec.f[PS_IDNPS], chosen) || !strcmp(rec.f[PS_IDNPS], gone)) continue;
        if (!*gone) snprintf(gone, sizeof gone, "%s", rec.f[PS_IDNPS]);
        else snprintf(idle, sizeof idle, "%s", rec.f[PS_IDNPS]);
    }
    annuaire_extract_close(x);
    fclose(f);
    assert_true(*gone && *idle);
    assert_int_equal(build(gone, &claims), 0);
    json_decref(claims);

    store_conn *c;
    assert_int_equal(store_acquire(fx.app.store, &c, &err), 0);
    arena *a = arena_new(0);
    fhir_stored st;
    int existed;
    assert_int_equal(fhir_repo_delete(c, "Practitioner", gone, a, &st, &existed, &err), 0);
    assert_true(existed);

    /* And one marked inactive. */
    assert_int_equal(fhir_repo_read(c, "Practitioner", idle, 0, a, &st, &err), 0);
    json_t *p = json_loadb(st.body, st.body_len, 0, NULL);
    json_object_set_new(p, "active", json_false());
    int created;
    assert_int_equal(fhir_repo_update(c, "Practitioner", idle, p, 0, a, &st, &created, &err), 0);
    json_decref(p);
    arena_free(a);
    store_release(fx.app.store, c);

    assert_int_equal(build(gone, &claims), SOCLE_ENOTFOUND);
    assert_null(claims);
    assert_int_equal(build(idle, &claims), SOCLE_ENOTFOUND);
    assert_null(claims);
}

static void create(store_conn *c, arena *a, const char *type, const char *id, const char *json)
{
    json_t *r = json_loads(json, 0, NULL);
    assert_non_null(r);
    fhir_stored st;
    socle_err err;
    if (fhir_repo_create(c, type, id, r, a, &st, &err)) fail_msg("create %s/%s: %s", type, id, err.msg);
    json_decref(r);
}

#define G15 "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
#define R23 "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"

static void test_hand_made(void **state)
{
    /* A professional with a role without a structure, an inactive role, and a profession known
     * only from the qualifications: "" structure fields, no SubjectOrganization, inactive skipped. */
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(fx.app.store, &c, &err), 0);
    arena *a = arena_new(0);
    create(c, a, "Practitioner", "010000000001",
           "{\"resourceType\":\"Practitioner\",\"active\":true,\"name\":[{\"use\":\"usual\",\"family\":\"NOM\","
           "\"given\":[\"PRENOM\"]}],\"qualification\":[{\"code\":{\"coding\":[{\"system\":\"" G15 "\",\"code\":\"60\"}]}},"
           "{\"code\":{\"coding\":[{\"system\":\"" G15 "\",\"code\":\"70\"}]}}]}");
    create(c, a, "PractitionerRole", "010000000001-0-60",
           "{\"resourceType\":\"PractitionerRole\",\"active\":true,\"practitioner\":{\"reference\":"
           "\"Practitioner/010000000001\"},\"code\":[{\"coding\":[{\"system\":\"" G15 "\",\"code\":\"60\"}]},"
           "{\"coding\":[{\"system\":\"" R23 "\",\"code\":\"L\"}]}]}");
    create(c, a, "PractitionerRole", "010000000001-3000-60",
           "{\"resourceType\":\"PractitionerRole\",\"active\":false,\"practitioner\":{\"reference\":"
           "\"Practitioner/010000000001\"},\"organization\":{\"reference\":\"Organization/3000\"},"
           "\"code\":[{\"coding\":[{\"system\":\"" G15 "\",\"code\":\"60\"}]}]}");
    arena_free(a);
    store_release(fx.app.store, c);

    json_t *claims = NULL;
    assert_int_equal(build("010000000001", &claims), 0);
    const json_t *ex = json_object_get(json_object_get(claims, "SubjectRefPro"), "exercices");
    assert_int_equal(json_array_size(ex), 2);
    const json_t *e60 = json_array_get(ex, 0), *e70 = json_array_get(ex, 1);
    assert_string_equal(s(e60, "codeProfession"), "60");
    assert_string_equal(s(e70, "codeProfession"), "70");
    assert_string_equal(s(e60, "codeCategorieProfessionnelle"), "");
    assert_int_equal(json_array_size(json_object_get(e60, "activities")), 1);
    assert_int_equal(json_array_size(json_object_get(e70, "activities")), 0);
    const json_t *act = json_array_get(json_object_get(e60, "activities"), 0);
    assert_string_equal(s(act, "codeModeExercice"), "L");
    assert_string_equal(s(act, "identifiantTechniqueDeLaStructure"), "");
    assert_string_equal(s(act, "raisonSocialeSite"), "");
    assert_null(json_object_get(claims, "SubjectOrganizationID"));
    assert_null(json_object_get(claims, "SubjectOrganization"));
    assert_null(json_object_get(claims, "Secteur_Activite"));
    assert_null(json_object_get(claims, "email"));
    assert_string_equal(s(json_array_get(json_object_get(claims, "otherIds"), 0), "origine"), "ADELI");
    assert_string_equal(s(json_object_get(claims, "SubjectRefPro"), "codeCivilite"), "");
    char out[16];
    assert_int_equal(psc_claims_profession(claims, out, sizeof out), 0);
    assert_string_equal(out, "60");
    assert_int_equal(psc_claims_structure(claims, out, sizeof out), SOCLE_ENOTFOUND);
    json_decref(claims);
}

/* The login throttle's address key: an IPv6 host owns its /64, so the key is the prefix (else it
 * could rotate addresses for fresh counters); IPv4 addresses stay whole. */
static void test_throttle_address_key(void **state)
{
    (void)state;
    char a[100], b[100];
    psc_throttle_address_key("2001:db8:1:2::1", a, sizeof a);
    psc_throttle_address_key("2001:db8:1:2:ffff:eeee:dddd:cccc", b, sizeof b);
    assert_string_equal(a, b);
    assert_string_equal(a, "addr:2001:db8:1:2::/64");
    psc_throttle_address_key("2001:db8:1:3::1", b, sizeof b);
    assert_string_not_equal(a, b);
    psc_throttle_address_key("192.0.2.7", a, sizeof a);
    assert_string_equal(a, "addr:192.0.2.7");
    psc_throttle_address_key("", a, sizeof a);
    assert_string_equal(a, "addr:");
}

/* Scopes are compared whole, however long the list (no fixed buffer to cut it). */
static void test_scope_subset(void **state)
{
    (void)state;
    assert_true(psc_scope_subset("openid scope_all", "openid scope_all"));
    assert_true(psc_scope_subset("  openid  ", "openid scope_all"));
    assert_false(psc_scope_subset("", "openid"));
    assert_false(psc_scope_subset("openid scope", "openid scope_all"));
    char many[1200] = "";
    for (int i = 0; i < 100; i++) strcat(many, "openid ");
    assert_true(psc_scope_subset(many, "openid scope_all"));
    strcat(many, "admin");
    assert_false(psc_scope_subset(many, "openid scope_all"));
    assert_false(psc_list_has("openid", ' ', NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_of_a_professional),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_hand_made),
        cmocka_unit_test(test_cannot_log_in),
        cmocka_unit_test(test_throttle_address_key),
        cmocka_unit_test(test_scope_subset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
