/* resources.c - building the directory's FHIR resources from extract lines (see resources.h).
 * Empty fields are left out (FHIR forbids empty strings); everything else is copied as the
 * extract gives it, codes included, under the ANS nomenclature (NOS) code systems. */
#include "svc/annuaire/resources.h"

#include <ctype.h>
#include <string.h>

#include "svc/annuaire/keys.h"

#define NOS ANNUAIRE_NOS
#define SYSTEM_PROFESSION ANNUAIRE_SYSTEM_PROFESSION
#define SYSTEM_CATEGORY ANNUAIRE_SYSTEM_CATEGORY
#define SYSTEM_MODE ANNUAIRE_SYSTEM_MODE
#define SYSTEM_SECTION ANNUAIRE_SYSTEM_SECTION
#define SYSTEM_SKILL_TYPE ANNUAIRE_SYSTEM_SKILL_TYPE
#define SYSTEM_SPECIALITE NOS "TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
#define SYSTEM_COMPETENCE_EXCLUSIVE NOS "TRE_R43-CompetenceExclusive/FHIR/TRE-R43-CompetenceExclusive"
#define SYSTEM_SECTOR ANNUAIRE_SYSTEM_SECTOR
#define SYSTEM_FINESS_CATEGORY NOS "TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
#define SYSTEM_COMMUNE NOS "TRE_R13-Commune/FHIR/TRE-R13-Commune"
#define SYSTEM_MAIL_KIND NOS "TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie"
#define SYSTEM_MAILBOX_TYPE NOS "TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL"
#define SYSTEM_ID_TYPE "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
#define SYSTEM_ENTITY_KIND "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-3307"
#define SYSTEM_SIRENE "https://sirene.fr"
#define ANS_SD ANNUAIRE_ANS_SD
#define CORE_SD ANNUAIRE_CORE_SD

/* ---- small JSON helpers -------------------------------------------------------------------- */

static int present(const char *s)
{
    return s && *s;
}

/* Set key to the string s when s is not empty. */
static void set_text(json_t *o, const char *key, const char *s)
{
    if (present(s)) json_object_set_new(o, key, json_string(s));
}

/* The array under key, created when absent. */
static json_t *array_at(json_t *o, const char *key)
{
    json_t *a = json_object_get(o, key);
    if (!a) {
        a = json_array();
        json_object_set_new(o, key, a);
    }
    return a;
}

static json_t *coding(const char *system, const char *code, const char *display)
{
    json_t *c = json_object();
    set_text(c, "system", system);
    set_text(c, "code", code);
    set_text(c, "display", display);
    return c;
}

/* A CodeableConcept of one coding. */
static json_t *concept(const char *system, const char *code, const char *display)
{
    return json_pack("{s:[o]}", "coding", coding(system, code, display));
}

/* Is there already, in array `list`, a CodeableConcept (at `path`: "" or "code") holding system|code? */
static int concept_listed(const json_t *list, const char *inner, const char *system, const char *code)
{
    size_t i, j;
    const json_t *item, *c;
    json_array_foreach(list, i, item) {
        const json_t *cc = *inner ? json_object_get(item, inner) : item;
        json_array_foreach(json_object_get(cc, "coding"), j, c) {
            const char *s = json_string_value(json_object_get(c, "system"));
            const char *k = json_string_value(json_object_get(c, "code"));
            if (!strcmp(s ? s : "", system ? system : "") && k && !strcmp(k, code)) return 1;
        }
    }
    return 0;
}

static json_t *identifier(const char *type_code, const char *system, const char *value)
{
    return json_pack("{s:s, s:{s:[{s:s, s:s}]}, s:s, s:s}", "use", "official", "type", "coding", "system",
                     SYSTEM_ID_TYPE, "code", type_code, "system", system, "value", value);
}

static json_t *meta_profiles(const char *core, const char *ans)
{
    return json_pack("{s:[s,s]}", "profile", core, ans);
}

/* The savoir-faire code's system for a savoir-faire type (NULL: no known table). */
static const char *skill_system(const char *type)
{
    if (!strcmp(type, "S")) return SYSTEM_SPECIALITE;
    if (!strcmp(type, "CEX")) return SYSTEM_COMPETENCE_EXCLUSIVE;
    return NULL;
}

/* ---- ids ----------------------------------------------------------------------------------- */

static int all_digits(const char *s, size_t n)
{
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* Copy s keeping only FHIR id characters; 0 when something is left. */
static int copy_id_chars(char *out, size_t outsz, const char *s)
{
    size_t n = 0;
    for (; *s && n + 1 < outsz; s++)
        if (isalnum((unsigned char)*s) || *s == '-' || *s == '.') out[n++] = *s;
    out[n] = 0;
    return n ? 0 : -1;
}

int annuaire_structure_id(const char *finess, const char *siret, const char *technical_id, char *out, size_t outsz)
{
    char tail[ANNUAIRE_RESOURCE_ID_MAX];
    if (present(finess)) return snprintf(out, outsz, "%d%s", ANNUAIRE_ST_FINESS, finess) < (int)outsz ? 0 : -1;
    if (present(siret)) return snprintf(out, outsz, "%d%s", ANNUAIRE_ST_SIRET, siret) < (int)outsz ? 0 : -1;
    if (!present(technical_id) || copy_id_chars(tail, sizeof tail, technical_id)) return -1;
    if (isdigit((unsigned char)tail[0])) return snprintf(out, outsz, "%s", tail) < (int)outsz ? 0 : -1;
    if (tail[0] == 'F' && strlen(tail) == 10)
        return snprintf(out, outsz, "%d%s", ANNUAIRE_ST_FINESS, tail + 1) < (int)outsz ? 0 : -1;
    if ((tail[0] == 'C' || tail[0] == 'S') && all_digits(tail + 1, 14))
        return snprintf(out, outsz, "%d%s", ANNUAIRE_ST_SIRET, tail + 1) < (int)outsz ? 0 : -1;
    if (tail[0] == 'R' && tail[1])
        return snprintf(out, outsz, "%d%s", ANNUAIRE_ST_RPPS_CABINET, tail + 1) < (int)outsz ? 0 : -1;
    return snprintf(out, outsz, "%d%s", ANNUAIRE_ST_RPPS_CABINET, tail) < (int)outsz ? 0 : -1;
}

void annuaire_role_id(const annuaire_record *ps, const char *structure_id, char *out)
{
    char profession[16];
    if (copy_id_chars(profession, sizeof profession, ps->f[PS_PROF_CODE])) strcpy(profession, "0");
    snprintf(out, ANNUAIRE_RESOURCE_ID_MAX, "%s-%s-%s", ps->f[PS_IDNPS], present(structure_id) ? structure_id : "0",
             profession);
}

/* ---- Practitioner -------------------------------------------------------------------------- */

/* The name of practice: family, given, prefix = civilité, suffix = civilité d'exercice. */
static json_t *practice_name(const annuaire_record *ps)
{
    json_t *n = json_pack("{s:s}", "use", "usual");
    set_text(n, "family", ps->f[PS_FAMILY]);
    if (present(ps->f[PS_GIVEN])) json_object_set_new(n, "given", json_pack("[s]", ps->f[PS_GIVEN]));
    if (present(ps->f[PS_CIV_CODE])) json_object_set_new(n, "prefix", json_pack("[s]", ps->f[PS_CIV_CODE]));
    if (present(ps->f[PS_CIVEX_CODE])) json_object_set_new(n, "suffix", json_pack("[s]", ps->f[PS_CIVEX_CODE]));
    return n;
}

json_t *annuaire_practitioner(const annuaire_record *ps)
{
    const char *idnps = ps->f[PS_IDNPS];
    int rpps = idnps[0] == '0' + ANNUAIRE_PP_RPPS;
    json_t *p = json_pack("{s:s, s:s, s:o, s:s, s:[o], s:b, s:[o]}", "resourceType", "Practitioner", "id", idnps,
                          "meta",
                          meta_profiles(CORE_SD "fr-core-practitioner", ANS_SD "as-dp-practitioner"),
                          "language", "fr", "identifier",
                          identifier("IDNPS", "urn:oid:" ANNUAIRE_OID_IDNPS, idnps), "active", 1, "name",
                          practice_name(ps));
    if (!p) return NULL;
    if (rpps) json_array_append_new(json_object_get(p, "identifier"),
                                    identifier("RPPS", ANNUAIRE_SYSTEM_RPPS, ps->f[PS_ID]));
    if (annuaire_practitioner_add_activity(p, ps)) {
        json_decref(p);
        return NULL;
    }
    return p;
}

int annuaire_practitioner_add_activity(json_t *practitioner, const annuaire_record *ps)
{
    json_t *q = array_at(practitioner, "qualification");
    if (!q) return SOCLE_ENOMEM;
    if (present(ps->f[PS_PROF_CODE]) && !concept_listed(q, "code", SYSTEM_PROFESSION, ps->f[PS_PROF_CODE])) {
        json_t *cc = concept(SYSTEM_PROFESSION, ps->f[PS_PROF_CODE], ps->f[PS_PROF_LABEL]);
        if (present(ps->f[PS_CAT_CODE]))
            json_array_append_new(json_object_get(cc, "coding"), coding(SYSTEM_CATEGORY, ps->f[PS_CAT_CODE], NULL));
        json_array_append_new(q, json_pack("{s:o}", "code", cc));
    }
    const char *skill = ps->f[PS_SF_CODE], *system = skill_system(ps->f[PS_SF_TYPE_CODE]);
    if (present(skill) && !concept_listed(q, "code", system, skill)) {
        json_t *cc = concept(system, skill, ps->f[PS_SF_LABEL]);
        if (present(ps->f[PS_SF_TYPE_CODE]))
            json_array_append_new(json_object_get(cc, "coding"),
                                  coding(SYSTEM_SKILL_TYPE, ps->f[PS_SF_TYPE_CODE], NULL));
        json_array_append_new(q, json_pack("{s:o}", "code", cc));
    }
    if (!json_array_size(q)) json_object_del(practitioner, "qualification");
    return 0;
}

/* ---- PractitionerRole ---------------------------------------------------------------------- */

json_t *annuaire_role(const annuaire_record *ps, const char *id, const char *structure_id)
{
    json_t *r = json_pack("{s:s, s:s, s:o, s:s, s:[{s:s, s:o}], s:b, s:{s:s}}", "resourceType", "PractitionerRole",
                          "id", id, "meta",
                          meta_profiles(CORE_SD "fr-core-practitioner-role", ANS_SD "as-dp-practitionerrole"),
                          "language", "fr", "extension", "url", ANS_SD "as-ext-practitionerrole-name",
                          "valueHumanName", practice_name(ps), "active", 1, "practitioner", "reference", "");
    if (!r) return NULL;
    char ref[ANNUAIRE_RESOURCE_ID_MAX + 32];
    snprintf(ref, sizeof ref, "Practitioner/%s", ps->f[PS_IDNPS]);
    json_object_set_new(json_object_get(r, "practitioner"), "reference", json_string(ref));
    if (present(structure_id)) {
        snprintf(ref, sizeof ref, "Organization/%s", structure_id);
        json_object_set_new(r, "organization", json_pack("{s:s}", "reference", ref));
    }
    json_t *codes = array_at(r, "code");
    if (present(ps->f[PS_PROF_CODE]))
        json_array_append_new(codes, concept(SYSTEM_PROFESSION, ps->f[PS_PROF_CODE], ps->f[PS_PROF_LABEL]));
    if (present(ps->f[PS_CAT_CODE])) json_array_append_new(codes, concept(SYSTEM_CATEGORY, ps->f[PS_CAT_CODE], NULL));
    if (present(ps->f[PS_MODE_CODE])) json_array_append_new(codes, concept(SYSTEM_MODE, ps->f[PS_MODE_CODE], NULL));
    if (present(ps->f[PS_SECTION_CODE]))
        json_array_append_new(codes, concept(SYSTEM_SECTION, ps->f[PS_SECTION_CODE], NULL));
    if (!json_array_size(codes)) json_object_del(r, "code");
    if (annuaire_role_add_specialty(r, ps)) {
        json_decref(r);
        return NULL;
    }
    return r;
}

int annuaire_role_add_specialty(json_t *role, const annuaire_record *ps)
{
    const char *skill = ps->f[PS_SF_CODE], *type = ps->f[PS_SF_TYPE_CODE];
    if (!present(skill) && !present(type)) return 0;
    json_t *s = array_at(role, "specialty");
    if (!s) return SOCLE_ENOMEM;
    const char *system = skill_system(type);
    if (present(skill) && !concept_listed(s, "", system, skill))
        json_array_append_new(s, concept(system, skill, ps->f[PS_SF_LABEL]));
    if (present(type) && !concept_listed(s, "", SYSTEM_SKILL_TYPE, type))
        json_array_append_new(s, concept(SYSTEM_SKILL_TYPE, type, NULL));
    return 0;
}

/* ---- Organization -------------------------------------------------------------------------- */

static json_t *entity_kind(const char *code)
{
    return json_pack("{s:[{s:s, s:s}], s:[{s:s, s:s}]}", "extension", "url", ANS_SD "as-ext-organization-types",
                     "valueCode", "organizationType", "coding", "system", SYSTEM_ENTITY_KIND, "code", code);
}

static json_t *typed_concept(const char *which, const char *system, const char *code, const char *display)
{
    json_t *c = concept(system, code, display);
    json_object_set_new(c, "extension", json_pack("[{s:s, s:s}]", "url", ANS_SD "as-ext-organization-types",
                                                  "valueCode", which));
    return c;
}

/* partOf: the legal entity of a site, when its FINESS is known. */
static void set_part_of(json_t *o, const char *finess_ej)
{
    if (!present(finess_ej)) return;
    char ref[64];
    snprintf(ref, sizeof ref, "Organization/%d%s", ANNUAIRE_ST_FINESS, finess_ej);
    json_object_set_new(o, "partOf", json_pack("{s:s}", "reference", ref));
}

static json_t *organization_base(const char *structure_id, const char *name)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:[o], s:b}", "resourceType", "Organization", "id", structure_id,
                          "meta", meta_profiles(CORE_SD "fr-core-organization", ANS_SD "as-dp-organization"),
                          "language", "fr", "identifier",
                          identifier("IDNST", "urn:oid:" ANNUAIRE_OID_IDNST, structure_id), "active", 1);
    if (o) set_text(o, "name", name);
    return o;
}

static void add_phone(json_t *o, const char *system, const char *value)
{
    if (present(value)) json_array_append_new(array_at(o, "telecom"), json_pack("{s:s, s:s}", "system", system, "value", value));
}

/* Join the non-empty parts with one space into buf. */
static const char *join(char *buf, size_t cap, const char *const *parts, int n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!present(parts[i])) continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? " " : "", parts[i]);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
    return buf;
}

static json_t *address(const char *const *lines, int nlines, const char *postal_code, const char *city,
                       const char *insee_code, const char *country)
{
    json_t *a = json_object();
    if (present(insee_code))
        json_object_set_new(a, "extension",
                            json_pack("[{s:s, s:{s:s, s:s}}]", "url", CORE_SD "fr-core-address-insee-code",
                                      "valueCoding", "system", SYSTEM_COMMUNE, "code", insee_code));
    json_t *l = json_array();
    for (int i = 0; i < nlines; i++)
        if (present(lines[i])) json_array_append_new(l, json_string(lines[i]));
    if (json_array_size(l)) json_object_set_new(a, "line", l);
    else json_decref(l);
    set_text(a, "city", city);
    set_text(a, "postalCode", postal_code);
    set_text(a, "country", country);
    return a;
}

json_t *annuaire_organization_from_ps(const annuaire_record *ps, const char *structure_id)
{
    json_t *o = organization_base(structure_id, present(ps->f[PS_NAME]) ? ps->f[PS_NAME] : ps->f[PS_ENSEIGNE]);
    if (!o) return NULL;
    json_t *ids = json_object_get(o, "identifier");
    if (present(ps->f[PS_FINESS])) json_array_append_new(ids, identifier("FINEG", ANNUAIRE_SYSTEM_FINESS, ps->f[PS_FINESS]));
    if (present(ps->f[PS_SIRET])) json_array_append_new(ids, identifier("SIRET", SYSTEM_SIRENE, ps->f[PS_SIRET]));
    json_t *types = json_pack("[o]", entity_kind("GEOGRAPHICAL-ENTITY"));
    if (present(ps->f[PS_SECTOR_CODE]))
        json_array_append_new(types, typed_concept("secteurActiviteRASS", SYSTEM_SECTOR, ps->f[PS_SECTOR_CODE],
                                                   ps->f[PS_SECTOR_LABEL]));
    json_object_set_new(o, "type", types);
    if (present(ps->f[PS_ENSEIGNE]) && present(ps->f[PS_NAME]))
        json_object_set_new(o, "alias", json_pack("[s]", ps->f[PS_ENSEIGNE]));
    add_phone(o, "phone", ps->f[PS_PHONE]);
    add_phone(o, "phone", ps->f[PS_PHONE2]);
    add_phone(o, "fax", ps->f[PS_FAX]);
    add_phone(o, "email", ps->f[PS_EMAIL]);
    char street[256];
    const char *type_voie = present(ps->f[PS_TYPE_VOIE_LABEL]) ? ps->f[PS_TYPE_VOIE_LABEL] : ps->f[PS_TYPE_VOIE];
    char number[32];
    snprintf(number, sizeof number, "%s%s", ps->f[PS_NUM_VOIE], ps->f[PS_INDICE]);
    const char *street_parts[] = {number, type_voie, ps->f[PS_VOIE]};
    join(street, sizeof street, street_parts, 3);
    const char *lines[] = {ps->f[PS_COMPL_DEST], ps->f[PS_COMPL_GEO], street, ps->f[PS_MENTION]};
    if (present(ps->f[PS_POSTAL_CODE]) || present(ps->f[PS_COMMUNE]) || present(street))
        json_object_set_new(o, "address", json_pack("[o]", address(lines, 4, ps->f[PS_POSTAL_CODE], ps->f[PS_COMMUNE],
                                                                    ps->f[PS_COMMUNE_CODE], ps->f[PS_COUNTRY_CODE])));
    set_part_of(o, ps->f[PS_FINESS_EJ]);
    if (!json_array_size(json_object_get(o, "telecom"))) json_object_del(o, "telecom");
    return o;
}

json_t *annuaire_organization_from_finess(const annuaire_record *fin, const char *structure_id)
{
    json_t *o = organization_base(structure_id, fin->f[FIN_NAME]);
    if (!o) return NULL;
    json_t *ids = json_object_get(o, "identifier");
    json_array_append_new(ids, identifier("FINEG", ANNUAIRE_SYSTEM_FINESS, fin->f[FIN_FINESS]));
    if (present(fin->f[FIN_SIRET])) json_array_append_new(ids, identifier("SIRET", SYSTEM_SIRENE, fin->f[FIN_SIRET]));
    json_t *types = json_pack("[o]", entity_kind("GEOGRAPHICAL-ENTITY"));
    if (present(fin->f[FIN_CATEGORY]))
        json_array_append_new(types, typed_concept("categorieEtablissement", SYSTEM_FINESS_CATEGORY,
                                                   fin->f[FIN_CATEGORY], fin->f[FIN_CATEGORY_LABEL]));
    json_object_set_new(o, "type", types);
    if (present(fin->f[FIN_LONG_NAME]) && strcmp(fin->f[FIN_LONG_NAME], fin->f[FIN_NAME]))
        json_object_set_new(o, "alias", json_pack("[s]", fin->f[FIN_LONG_NAME]));
    add_phone(o, "phone", fin->f[FIN_PHONE]);
    add_phone(o, "fax", fin->f[FIN_FAX]);
    /* ligneacheminement is "postal code CITY"; the INSEE code is département + commune. */
    const char *route = fin->f[FIN_ACHEMINEMENT], *city = route;
    char postal_code[8] = "", insee[8] = "", street[256];
    if (all_digits(route, 5) || (strlen(route) > 6 && route[5] == ' ' && isdigit((unsigned char)route[0]))) {
        memcpy(postal_code, route, 5);
        postal_code[5] = 0;
        city = route[5] ? route + 6 : "";
    }
    if (strlen(fin->f[FIN_DEPT]) == 2 && strlen(fin->f[FIN_COMMUNE]) == 3)
        snprintf(insee, sizeof insee, "%s%s", fin->f[FIN_DEPT], fin->f[FIN_COMMUNE]);
    const char *street_parts[] = {fin->f[FIN_NUM_VOIE], fin->f[FIN_COMP_VOIE], fin->f[FIN_TYPE_VOIE], fin->f[FIN_VOIE]};
    join(street, sizeof street, street_parts, 4);
    const char *lines[] = {fin->f[FIN_COMPL_NAME], fin->f[FIN_COMPL_DIST], street, fin->f[FIN_LIEU_DIT]};
    json_object_set_new(o, "address", json_pack("[o]", address(lines, 4, postal_code, city, insee, NULL)));
    set_part_of(o, fin->f[FIN_FINESS_EJ]);
    if (!json_array_size(json_object_get(o, "telecom"))) json_object_del(o, "telecom");
    return o;
}

json_t *annuaire_legal_entity(const char *finess_ej, const char *structure_id)
{
    json_t *o = organization_base(structure_id, NULL);
    if (!o) return NULL;
    json_array_append_new(json_object_get(o, "identifier"), identifier("FINEJ", ANNUAIRE_SYSTEM_FINESS, finess_ej));
    json_object_set_new(o, "type", json_pack("[o]", entity_kind("LEGAL-ENTITY")));
    return o;
}

int annuaire_add_mailbox(json_t *resource, const char *type, const char *address_text, const char *service)
{
    json_t *meta = json_pack("{s:s, s:[{s:s, s:o}]}", "url", ANS_SD "as-ext-mailbox-mss-metadata", "extension", "url",
                             "type", "valueCodeableConcept", concept(SYSTEM_MAILBOX_TYPE, type, NULL));
    if (!meta) return SOCLE_ENOMEM;
    if (present(service))
        json_array_append_new(json_object_get(meta, "extension"),
                              json_pack("{s:s, s:s}", "url", "service", "valueString", service));
    json_t *cp = json_pack("{s:[{s:s, s:o}, o], s:s, s:s}", "extension", "url", CORE_SD "fr-core-contact-point-email-type",
                           "valueCoding", coding(SYSTEM_MAIL_KIND, "MSSANTE", NULL), meta, "system", "email", "value",
                           address_text);
    json_t *telecom = array_at(resource, "telecom");
    if (!cp || !telecom) {
        json_decref(cp);
        return SOCLE_ENOMEM;
    }
    json_array_append_new(telecom, cp);
    return 0;
}
