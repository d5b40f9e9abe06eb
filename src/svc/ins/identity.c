/* identity.c - the RNIV rules on the local identity repository: every create and update of a FHIR
 * Patient is checked here (a rest write hook) before it is stored.
 *
 * The identity status and its attributes are read from the FR Core extension
 * fr-core-identity-reliability: sub-extension identityReliability (valueCoding: PROV, RECUP, VALI,
 * QUAL for the status; DOUT, FICT, HOMD, HOMA... for attributes, one per occurrence of the
 * extension), validationMode (valueCoding: the identity document checked) and validationDate.
 * The traits: birth name = the family of the name with use "official"; birth first names = the
 * FR Core birth-list-given-name extension of that name, else its given names; gender; birthDate;
 * birth place = the FR Core INSEE code of the patient-birthPlace extension's address (optional).
 *
 * Rules (a broken one is a 422 naming it):
 *   - no status means PROV;
 *   - VALI and QUAL need a high-trust document (validationMode CN, PA, CS, eCN, IN or AV);
 *   - RECUP and QUAL cannot be combined with DOUT (douteuse) or FICT (fictive);
 *   - RECUP: the traits are INSi's: the reference base finds exactly this identity from them;
 *   - QUAL: the INS identifier is present, known to the reference base under its OID, and the
 *     traits are the reference's;
 *   - an INS identifier (NIR/NIA systems) is carried only by a QUAL identity;
 *   - an update of a QUAL identity whose traits no longer match the reference is downgraded to VALI
 *     and loses its INS identifier (a trait changed without a new INSi verification);
 *   - homonyms: when another Patient has the same normalised traits the server adds HOMD
 *     (homonyme détecté); HOMA (homonyme avéré) is set only by the identitovigilance cell (civ). */
#include <stdio.h>
#include <string.h>

#include "fhir/search.h"
#include "svc/ins/ins_internal.h"
#include "svc/ins/matricule.h"
#include "svc/ins/traits.h"

#define IDENTITY_RELIABILITY_URL "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
#define BIRTH_LIST_GIVEN_NAME_URL "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-birth-list-given-name"
#define IDENTITY_STATUS_SYSTEM "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
#define BIRTH_PLACE_URL "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
#define INSEE_CODE_URL "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"

static const char *const identity_high_trust[] = {"CN", "PA", "CS", "eCN", "IN", "AV", NULL};

typedef struct identity_facts {
    const char *status;         /* PROV, RECUP, VALI, QUAL */
    json_t *status_coding;      /* the valueCoding holding the status (to downgrade), or NULL */
    int doubtful, fictitious;
    const char *validation_mode;
    const char *ins_matricule, *ins_oid;
} identity_facts;

static const char *identity_sub_code(const json_t *ext, const char *name, json_t **coding_out)
{
    size_t i;
    const json_t *sub;
    json_array_foreach(json_object_get(ext, "extension"), i, sub) {
        const char *url = json_string_value(json_object_get(sub, "url"));
        if (!url || strcmp(url, name)) continue;
        json_t *coding = json_object_get(sub, "valueCoding");
        if (coding_out) *coding_out = coding;
        return json_string_value(json_object_get(coding, "code"));
    }
    return NULL;
}

/* The code of a sub-extension that is an identityReliability one (a status or an attribute), or NULL;
 * an extension may hold several. */
static const char *identity_reliability_code(const json_t *sub, json_t **coding_out)
{
    const char *url = json_string_value(json_object_get(sub, "url"));
    if (!url || strcmp(url, "identityReliability")) return NULL;
    json_t *coding = json_object_get(sub, "valueCoding");
    if (coding_out) *coding_out = coding;
    return json_string_value(json_object_get(coding, "code"));
}

static int identity_read_facts(const json_t *patient, identity_facts *f, socle_err *err)
{
    memset(f, 0, sizeof *f);
    size_t i;
    const json_t *ext;
    json_array_foreach(json_object_get(patient, "extension"), i, ext) {
        const char *url = json_string_value(json_object_get(ext, "url"));
        if (!url || strcmp(url, IDENTITY_RELIABILITY_URL)) continue;
        const char *mode = identity_sub_code(ext, "validationMode", NULL);
        if (mode) f->validation_mode = mode;
        /* Every identityReliability code of the extension, not only its first: [QUAL, DOUT] in one
         * extension is a doubtful identity, never a qualified one. */
        size_t k;
        json_t *sub;
        json_array_foreach(json_object_get(ext, "extension"), k, sub) {
            json_t *coding = NULL;
            const char *code = identity_reliability_code(sub, &coding);
            if (!code) continue;
            if (!strcmp(code, "PROV") || !strcmp(code, "RECUP") || !strcmp(code, "VALI") || !strcmp(code, "QUAL")) {
                if (f->status)
                    return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.extension",
                                        "RNIV: an identity has one status (PROV, RECUP, VALI or QUAL), not several");
                f->status = code;
                f->status_coding = coding;
            } else if (!strcmp(code, "DOUT")) {
                f->doubtful = 1;
            } else if (!strcmp(code, "FICT")) {
                f->fictitious = 1;
            }
        }
    }
    if (!f->status) f->status = "PROV";
    json_array_foreach(json_object_get(patient, "identifier"), i, ext) {
        const char *system = json_string_value(json_object_get(ext, "system"));
        if (!system || strncmp(system, "urn:oid:", 8) || !ins_oid_known(system + 8)) continue;
        if (f->ins_matricule)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.identifier",
                                "a Patient carries at most one active INS identifier");
        f->ins_oid = system + 8;
        f->ins_matricule = json_string_value(json_object_get(ext, "value"));
        if (!f->ins_matricule)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.identifier", "the INS identifier has no value");
    }
    return 0;
}

/* The five traits of a Patient as an INSi query (normalised into the arena-free buffers). */
typedef struct identity_traits {
    char birth_name[104];
    char first_names[256];
    const char *sex;
    const char *birth_date;
    const char *birth_place;    /* INSEE COG code, NULL when not given */
} identity_traits;

static int identity_read_traits(const json_t *patient, identity_traits *t)
{
    memset(t, 0, sizeof *t);
    socle_err ignored;
    const json_t *official = NULL, *name;
    size_t i;
    json_array_foreach(json_object_get(patient, "name"), i, name) {
        const char *use = json_string_value(json_object_get(name, "use"));
        if (use && !strcmp(use, "official")) official = name;
    }
    if (!official) return -1;
    const char *family = json_string_value(json_object_get(official, "family"));
    if (!family || ins_normalize_name(family, t->birth_name, sizeof t->birth_name, &ignored)) return -1;
    const char *list = NULL;
    const json_t *ext;
    json_array_foreach(json_object_get(official, "extension"), i, ext) {
        const char *url = json_string_value(json_object_get(ext, "url"));
        if (url && !strcmp(url, BIRTH_LIST_GIVEN_NAME_URL)) list = json_string_value(json_object_get(ext, "valueString"));
    }
    char joined[256] = "";
    if (!list) {
        size_t len = 0;
        const json_t *g;
        json_array_foreach(json_object_get(official, "given"), i, g) {
            const char *s = json_string_value(g);
            if (!s || len + strlen(s) + 2 >= sizeof joined) return -1; /* too long to be a list of names */
            len += (size_t)snprintf(joined + len, sizeof joined - len, "%s%s", len ? " " : "", s);
        }
        list = joined;
    }
    if (!*list || ins_normalize_first_names(list, t->first_names, sizeof t->first_names, &ignored)) return -1;
    const char *gender = json_string_value(json_object_get(patient, "gender"));
    t->sex = gender && !strcmp(gender, "male") ? "M" : gender && !strcmp(gender, "female") ? "F" : NULL;
    t->birth_date = json_string_value(json_object_get(patient, "birthDate"));
    if (!t->sex || !t->birth_date || strlen(t->birth_date) != 10) return -1;
    /* Birth place: the patient-birthPlace extension's address, its FR Core INSEE code. */
    json_array_foreach(json_object_get(patient, "extension"), i, ext) {
        const char *url = json_string_value(json_object_get(ext, "url"));
        if (!url || strcmp(url, BIRTH_PLACE_URL)) continue;
        size_t k;
        const json_t *sub;
        json_array_foreach(json_object_get(json_object_get(ext, "valueAddress"), "extension"), k, sub) {
            const char *su = json_string_value(json_object_get(sub, "url"));
            if (su && !strcmp(su, INSEE_CODE_URL))
                t->birth_place = json_string_value(json_object_get(json_object_get(sub, "valueCoding"), "code"));
        }
    }
    return 0;
}

/* 1 when the Patient's traits are those of the reference identity: a qualified identity carries
 * INSi's traits (the caller replaced its own with them), so the birth first names are the whole
 * list, in order. */
static int identity_traits_match(const identity_traits *t, const ins_identity *ref)
{
    return !strcmp(t->birth_name, ref->birth_name) && !strcmp(t->sex, ref->sex) &&
           ins_birth_dates_match(t->birth_date, ref->birth_date) && !strcmp(t->first_names, ref->first_names) &&
           (!t->birth_place || !ref->birth_place[0] || !strcmp(t->birth_place, ref->birth_place));
}

/* Qualified identity no longer backed by INSi: VALI, and the INS identifier removed. */
static void identity_downgrade(json_t *patient, identity_facts *f)
{
    json_object_set_new(f->status_coding, "code", json_string("VALI"));
    json_t *ids = json_object_get(patient, "identifier");
    for (size_t i = json_array_size(ids); i-- > 0;) {
        const char *system = json_string_value(json_object_get(json_array_get(ids, i), "system"));
        if (system && !strncmp(system, "urn:oid:", 8) && ins_oid_known(system + 8)) json_array_remove(ids, i);
    }
    if (json_array_size(ids) == 0) json_object_del(patient, "identifier");
}

static int identity_rules(void *ctx, store_conn *c, const auth_subject *who, const char *type, const char *id,
                          json_t *resource, const json_t *previous, socle_err *err)
{
    return ins_identity_check(c, who, id, resource, previous, err);
}

/* 1 when the Patient carries the identity attribute `code` (HOMD, HOMA, DOUT...), in any of its
 * identityReliability codes. */
static int identity_has_attribute(const json_t *patient, const char *code)
{
    size_t i, k;
    const json_t *ext, *sub;
    json_array_foreach(json_object_get(patient, "extension"), i, ext) {
        const char *url = json_string_value(json_object_get(ext, "url"));
        if (!url || strcmp(url, IDENTITY_RELIABILITY_URL)) continue;
        json_array_foreach(json_object_get(ext, "extension"), k, sub) {
            const char *c = identity_reliability_code(sub, NULL);
            if (c && !strcmp(c, code)) return 1;
        }
    }
    return 0;
}

/* Another Patient of the repository with the same normalised traits (birth name, first names, sex,
 * birth date): a homonym. Found through the FHIR search indexes (family, birthdate, gender), then
 * compared on the normalised traits. */
static int identity_homonym_exists(store_conn *c, const char *self_id, const json_t *patient, socle_err *err)
{
    identity_traits t;
    if (identity_read_traits(patient, &t)) return 0;
    const json_t *name = NULL, *n;
    size_t i;
    json_array_foreach(json_object_get(patient, "name"), i, n) {
        const char *use = json_string_value(json_object_get(n, "use"));
        if (use && !strcmp(use, "official")) name = n;
    }
    const char *family = json_string_value(json_object_get(name, "family"));
    const char *gender = json_string_value(json_object_get(patient, "gender"));
    arena *a = arena_new(0);
    if (!a) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    fhir_search_param ps[5] = {{"family", family}, {"birthdate", t.birth_date}, {"gender", gender}, {"_count", "50"},
                               {"_cursor", NULL}};
    fhir_search_options opt = {0};
    int found = 0, rc = 0, more = 1;
    /* Every page: a page may end before its _count (fhir_search_run). */
    for (int pages = 0; !rc && !found && more && pages < 1000; pages++) {
        fhir_search *plan;
        fhir_search_page page;
        rc = fhir_search_parse("Patient", ps, pages ? 5 : 4, &opt, a, &plan, err);
        if (!rc) rc = fhir_search_run(c, plan, a, &page, err);
        for (size_t k = 0; !rc && k < page.nhits && !found; k++) {
            if (self_id && !strcmp(page.hits[k].id, self_id)) continue;
            json_t *other = json_loadb(page.hits[k].body, page.hits[k].body_len, 0, NULL);
            identity_traits o;
            const char *link_type =
                json_string_value(json_object_get(json_array_get(json_object_get(other, "link"), 0), "type"));
            if (other && !identity_read_traits(other, &o) && !strcmp(o.birth_name, t.birth_name) &&
                !strcmp(o.first_names, t.first_names) && !strcmp(o.sex, t.sex) && !strcmp(o.birth_date, t.birth_date) &&
                !(link_type && !strcmp(link_type, "replaced-by")))
                found = 1;
            json_decref(other);
        }
        more = !rc && page.next_cursor;
        ps[4].value = more ? page.next_cursor : NULL;
    }
    arena_free(a);
    return rc ? rc : found;
}

/* Add the attribute `code` as one more occurrence of the identity-reliability extension. */
static void identity_add_attribute(json_t *patient, const char *code)
{
    json_t *exts = json_object_get(patient, "extension");
    if (!exts) json_object_set_new(patient, "extension", exts = json_array());
    json_array_append_new(exts, json_pack("{s:s,s:[{s:s,s:{s:s,s:s}}]}", "url", IDENTITY_RELIABILITY_URL, "extension", "url",
                                          "identityReliability", "valueCoding", "system", IDENTITY_STATUS_SYSTEM, "code",
                                          code));
}

int ins_identity_check(store_conn *c, const auth_subject *who, const char *id, json_t *resource, const json_t *previous,
                       socle_err *err)
{
    /* Patient.link records merges: fusion and défusion write it (with their journal, re-pointing
     * and audit), an update may not. */
    const json_t *link = json_object_get(resource, "link"), *link_before = json_object_get(previous, "link");
    if (previous && (link || link_before) && !(link && link_before && json_equal(link, link_before)))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.link",
                            "Patient.link is written by a merge and its undoing (POST /ins/v1/fusion, /ins/v1/defusion)");
    /* Homonyms: HOMD is detected by the server, HOMA confirmed by the identitovigilance cell. */
    int homa = identity_has_attribute(resource, "HOMA");
    if (homa && !(previous && identity_has_attribute(previous, "HOMA")) && who && !auth_has_role(who, "civ"))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.extension",
                            "RNIV: an homonyme avéré (HOMA) is confirmed by the identitovigilance cell (role civ)");
    if (!homa && !identity_has_attribute(resource, "HOMD")) {
        int h = identity_homonym_exists(c, id, resource, err);
        if (h < 0) return h;
        if (h) identity_add_attribute(resource, "HOMD");
    }

    identity_facts f;
    int rc = identity_read_facts(resource, &f, err);
    if (rc) return rc;
    const char *status = f.status;
    if ((!strcmp(status, "VALI") || !strcmp(status, "QUAL"))) {
        int ok = 0;
        for (int i = 0; f.validation_mode && identity_high_trust[i]; i++) ok |= !strcmp(f.validation_mode, identity_high_trust[i]);
        if (!ok)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.extension",
                                "RNIV: a %s identity needs a high-trust identity document checked (validationMode CN, "
                                "PA, CS, eCN, IN or AV)",
                                !strcmp(status, "QUAL") ? "qualifiée" : "validée");
    }
    if ((!strcmp(status, "RECUP") || !strcmp(status, "QUAL")) && (f.doubtful || f.fictitious))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.extension",
                            "RNIV: a %s identity (DOUT/FICT) can be neither récupérée nor qualifiée",
                            f.doubtful ? "douteuse" : "fictive");
    if (f.ins_matricule && strcmp(status, "QUAL"))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.identifier",
                            "INS: the INS identifier is carried only by a qualifiée identity (status is %s)", status);
    if (strcmp(status, "RECUP") && strcmp(status, "QUAL")) return 0;

    identity_traits t;
    if (identity_read_traits(resource, &t))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.name",
                            "RNIV: a %s identity needs its five traits (official name with family and given names, "
                            "gender male or female, full birthDate)",
                            status);
    ins_identity ref;
    if (!strcmp(status, "RECUP")) {
        ins_traits_query q = {.birth_name = t.birth_name, .first_names = t.first_names, .sex = t.sex,
                              .birth_date = t.birth_date, .birth_place = t.birth_place};
        rc = ins_reference_search_traits(c, &q, &ref, err);
        if (rc < 0) return rc;
        if (rc != 1)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.extension",
                                "RNIV: récupérée needs the traits INSi returned; INSi finds %s with these traits",
                                rc == 0 ? "no identity" : "several identities");
        /* The traits taken from INSi: the whole list of first names, the reference's birth date. */
        if (!identity_traits_match(&t, &ref))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.name",
                                "RNIV: récupérée carries the traits INSi returned, all of its first names included");
        return 0;
    }
    /* QUAL */
    if (!f.ins_matricule)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.identifier",
                            "RNIV: a qualifiée identity carries its INS identifier (NIR or NIA with its OID)");
    if (ins_matricule_check(f.ins_matricule, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.identifier", "INS identifier: %s", msg);
    }
    rc = ins_reference_get(c, f.ins_matricule, &ref, err);
    if (rc < 0) return rc;
    int matches = rc == 1 && !strcmp(ref.oid, f.ins_oid) && identity_traits_match(&t, &ref);
    if (matches) return 0;
    identity_facts before;
    socle_err ignored;
    if (previous && !identity_read_facts(previous, &before, &ignored) && !strcmp(before.status, "QUAL") && f.status_coding) {
        identity_downgrade(resource, &f);
        return 0;
    }
    return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Patient.identifier",
                        rc == 1 && strcmp(ref.oid, f.ins_oid) ? "RNIV: qualifiée needs an INS known to INSi under its OID"
                        : rc == 1 ? "RNIV: qualifiée needs the traits INSi returns for this INS (verification fails)"
                                  : "RNIV: qualifiée needs an INS known to INSi (this matricule is not)");
}

int ins_register_identity_rules(ins_service *ins, socle_err *err)
{
    if (rest_add_write_hook(ins->app, "Patient", identity_rules, ins))
        return socle_err_set(err, SOCLE_EINTERNAL, "too many write hooks");
    return 0;
}

int ins_outward_identifier(store_conn *c, const char *patient_id, char matricule[16], char oid[64], socle_err *err)
{
    arena *a = arena_new(4096);
    if (!a) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    fhir_stored s;
    int rc = fhir_repo_read(c, "Patient", patient_id, 0, a, &s, err);
    json_t *patient = rc ? NULL : json_loadb(s.body, s.body_len, 0, NULL);
    arena_free(a);
    if (rc) return rc;
    if (!patient) return socle_err_set(err, SOCLE_EINTERNAL, "stored Patient is not JSON");
    identity_facts f;
    rc = identity_read_facts(patient, &f, err);
    /* A duplicate merged into another identity speaks no more: the survivor's INS is the one sent. */
    size_t i;
    const json_t *link;
    json_array_foreach(json_object_get(patient, "link"), i, link) {
        const char *type = json_string_value(json_object_get(link, "type"));
        if (!rc && type && !strcmp(type, "replaced-by"))
            rc = socle_err_set(err, SOCLE_EUNPROCESSABLE,
                               "Patient/%s was merged into another identity: its survivor's INS is the one sent", patient_id);
    }
    if (!rc && (strcmp(f.status, "QUAL") || !f.ins_matricule))
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "the identity of Patient/%s is not qualifiée: its INS may not be sent",
                           patient_id);
    if (!rc) {
        snprintf(matricule, 16, "%s", f.ins_matricule);
        snprintf(oid, 64, "%s", f.ins_oid);
    }
    json_decref(patient);
    return rc;
}
