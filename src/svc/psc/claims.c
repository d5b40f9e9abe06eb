/* claims.c - the Pro Santé Connect userinfo claims of a professional, built from socle's directory
 * resources (see claims.h for the shape and svc/annuaire/resources.h for the resources).
 *
 * Sources for the shape: real PSC userinfo answers (bac à sable accounts) kept as test fixtures by
 * public relying parties, and the ANS's own client model of those answers:
 * - the ANS's prosanteconnect/psc-context-sharing-api and prosanteconnect/generate-VIHF (model
 *   package .../model/prosanteconnect): SubjectRefPro (codeCivilite, exercices), Practice,
 *   Activity (every activity field below, in that order, plus codeRole, codeGenreActivite, the
 *   street parts, bureauCedex, codeDepartement, ancienIdentifiantDeLaStructure,
 *   autoriteDenregistrement), AlternativeIdentifier (identifiant: string, origine: string,
 *   qualite: integer); generate-VIHF's VihfBuilderTest carries a full answer with otherIds
 *   [{"identifiant":"899700366240","origine":"RPPS","qualite":1}] - the identifiant is the IDNPS,
 *   not the bare RPPS number - and Secteur_Activite "SA07^1.2.250.1.71.4.2.4";
 * - the esignsante PSC API's tests (fr.ans.api.sign.esignsante.psc) and a Matrix/Synapse PSC
 *   mapping provider's test (ProsanteConnectMappingProvider): answers with
 *   "" for every empty field (never null, never left out), SubjectRole ["10^1.2.250.1.213.1.1.5.5"],
 *   SubjectOrganization = the first activity's raisonSocialeSite, SubjectOrganizationID = its
 *   identifiantTechniqueDeLaStructure (or "").
 *
 * Where socle knowingly differs from, or could not confirm, the real PSC:
 * - sub: the real PSC gives Keycloak's federated id "f:<uuid>:<IDNPS>"; socle gives the IDNPS.
 * - identifiantTechniqueDeLaStructure / SubjectOrganizationID: the real PSC gives the extract's
 *   technical id ("R81311", "F0B0172805"); socle gives the IDNST (the Organization id).
 * - codeCivilite: inside SubjectRefPro in most samples; one newer sample has it at the top level
 *   (with codeGenreActivite): socle follows the former.
 * - The address: socle's Organization.address joins the street parts into lines, so
 *   complementDestinataire, complementPointGeographique, numeroVoie, indiceRepetitionVoie,
 *   codeTypeDeVoie, libelleVoie and mentionDistribution cannot be recovered and are left out, as
 *   are bureauCedex, codeDepartement, codeRole, codeGenreActivite, ancienIdentifiantDeLaStructure
 *   and autoriteDenregistrement, which the directory resources do not carry. The real PSC has no
 *   libelleCommune (the city only appears inside bureauCedex), so none is given.
 * - numeroSirenSite is the first 9 digits of the SIRET (a SIRET is SIREN + NIC).
 * - otherIds' origine "ADELI" for an ADELI IDNPS and the meaning of qualite (always 1 in samples).
 * - email: not seen in the samples (only email_verified: false); here the professional's MSSanté
 *   mailbox (PER), as the brief asks.
 * - The real answer also has session items (Palier_Authentification, PSI_Locale, UITVersion,
 *   Acces_Regulation_Medicale, Mode_Acces_Raison, email_verified): not directory data, not here.
 * - How the real PSC orders exercices and activities is unknown: here by profession code, then
 *   by PractitionerRole id (IDNPS-IDNST-profession, i.e. by structure). */
#include "svc/psc/claims.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fhir/repo.h"
#include "fhir/search.h"
#include "net/http.h"
#include "svc/annuaire/keys.h"
#include "svc/annuaire/resources.h"

#define SYSTEM_PROFESSION ANNUAIRE_SYSTEM_PROFESSION
#define SYSTEM_CATEGORY ANNUAIRE_SYSTEM_CATEGORY
#define SYSTEM_MODE ANNUAIRE_SYSTEM_MODE
#define SYSTEM_SECTION ANNUAIRE_SYSTEM_SECTION
#define SYSTEM_SKILL_TYPE ANNUAIRE_SYSTEM_SKILL_TYPE
#define SYSTEM_SECTOR ANNUAIRE_SYSTEM_SECTOR
#define CORE_SD ANNUAIRE_CORE_SD
#define ANS_SD ANNUAIRE_ANS_SD
#define EXT_EMAIL_TYPE CORE_SD "fr-core-contact-point-email-type"
#define EXT_INSEE CORE_SD "fr-core-address-insee-code"
#define EXT_ROLE_NAME ANS_SD "as-ext-practitionerrole-name"

/* The OID after "^" in SubjectRole (the spec and every sample) and in Secteur_Activite (samples). */
#define OID_SUBJECT_ROLE "1.2.250.1.213.1.1.5.5"
#define OID_SECTEUR "1.2.250.1.71.4.2.4"

/* ---- reading JSON -------------------------------------------------------------------------- */

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* The code of the first coding of `system` in a CodeableConcept, or NULL. */
static const char *concept_code(const json_t *cc, const char *system)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(cc, "coding"), i, c) if (same(str(c, "system"), system)) return str(c, "code");
    return NULL;
}

/* The same over an array of CodeableConcepts. */
static const char *concepts_code(const json_t *list, const char *system)
{
    size_t i;
    const json_t *cc;
    const char *code;
    json_array_foreach(list, i, cc) if ((code = concept_code(cc, system))) return code;
    return NULL;
}

/* The value of the identifier whose type is `type_code` (IDNST, FINEG, FINEJ, SIRET), or NULL. */
static const char *identifier_value(const json_t *res, const char *type_code)
{
    size_t i, j;
    const json_t *id, *c;
    json_array_foreach(json_object_get(res, "identifier"), i, id) {
        json_array_foreach(json_object_get(json_object_get(id, "type"), "coding"), j, c) {
            if (same(str(c, "code"), type_code)) return str(id, "value");
        }
    }
    return NULL;
}

/* The first string of the array under key, or NULL. */
static const char *first_string(const json_t *o, const char *key)
{
    return json_string_value(json_array_get(json_object_get(o, key), 0));
}

/* Is this ContactPoint an MSSanté mailbox (fr-core email type MSSANTE)? */
static int is_mssante(const json_t *cp)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(cp, "extension"), i, e) {
        if (same(str(e, "url"), EXT_EMAIL_TYPE) && same(str(json_object_get(e, "valueCoding"), "code"), "MSSANTE"))
            return 1;
    }
    return 0;
}

/* The name of practice of a Practitioner: the "usual" one, else the first. */
static const json_t *practitioner_name(const json_t *p)
{
    size_t i;
    const json_t *n, *names = json_object_get(p, "name");
    json_array_foreach(names, i, n) if (same(str(n, "use"), "usual")) return n;
    return json_array_get(names, 0);
}

/* The name of practice a PractitionerRole carries (ANS extension), or NULL. */
static const json_t *role_name(const json_t *role)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(role, "extension"), i, e) {
        if (same(str(e, "url"), EXT_ROLE_NAME)) return json_object_get(e, "valueHumanName");
    }
    return NULL;
}

/* The id in a reference "Organization/<id>", or NULL. */
static const char *organization_id(const json_t *ref)
{
    const char *r = str(ref, "reference");
    static const char prefix[] = "Organization/";
    if (!r || strncmp(r, prefix, sizeof prefix - 1) || !r[sizeof prefix - 1]) return NULL;
    return r + sizeof prefix - 1;
}

/* A FHIR id: 1 to 64 of [A-Za-z0-9.-]. */
static int valid_id(const char *s)
{
    size_t n = 0;
    if (!s) return 0;
    for (; s[n]; n++)
        if (n >= 64 || !(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '.')) return 0;
    return n > 0;
}

static int load(const char *body, size_t len, json_t **out, socle_err *err)
{
    *out = json_loadb(body, len, 0, NULL);
    return *out ? 0 : socle_err_set(err, SOCLE_EINTERNAL, "a stored directory resource is not JSON");
}

/* ---- the roles and structures of one professional ------------------------------------------ */

typedef struct role_item {
    const char *id;
    const char *profession; /* "" never: roles without a profession code are not kept */
    json_t *res;
} role_item;

typedef struct org_item {
    const char *id;
    json_t *res; /* NULL: not in the directory (never existed or deleted) */
} org_item;

typedef struct build {
    store_conn *c;
    arena *a;
    socle_err *err;
    role_item *roles;
    size_t nroles, roles_cap;
    org_item *orgs;
    size_t norgs, orgs_cap;
    int oom;
} build;

static int grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 0;
    size_t cap2 = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, cap2 * size);
    if (!p) return -1;
    *items = p;
    *cap = cap2;
    return 0;
}

static int role_cmp(const void *x, const void *y)
{
    const role_item *a = x, *b = y;
    int d = strcmp(a->profession, b->profession);
    return d ? d : strcmp(a->id, b->id);
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Keep one PractitionerRole hit (active, with a profession code). */
static int keep_role(build *b, const fhir_search_hit *h)
{
    json_t *role;
    int rc = load(h->body, h->body_len, &role, b->err);
    if (rc) return rc;
    const char *profession = concepts_code(json_object_get(role, "code"), SYSTEM_PROFESSION);
    if (json_is_false(json_object_get(role, "active")) || !profession || !*profession) {
        json_decref(role);
        return 0;
    }
    if (grow((void **)&b->roles, &b->roles_cap, b->nroles, sizeof *b->roles)) {
        json_decref(role);
        return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");
    }
    b->roles[b->nroles++] = (role_item){.id = str(role, "id") ? str(role, "id") : "", .profession = profession, .res = role};
    return 0;
}

/* All current PractitionerRoles of Practitioner/idnps, every page, sorted by profession then id. */
static int find_roles(build *b, const char *idnps)
{
    const char *ref = arena_printf(b->a, "Practitioner/%s", idnps);
    if (!ref) return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");
    fhir_search_param first[] = {{"practitioner", ref}, {"_sort", "_id"}, {"_count", "1000"}};
    const fhir_search_param *params = first;
    int nparams = 3;
    fhir_search_options opt = {.max_count = 1000};
    for (;;) {
        fhir_search *plan;
        fhir_search_page page;
        int rc = fhir_search_parse("PractitionerRole", params, nparams, &opt, b->a, &plan, b->err);
        if (!rc) rc = fhir_search_run(b->c, plan, b->a, &page, b->err);
        for (size_t i = 0; !rc && i < page.nhits; i++)
            if (!page.hits[i].included) rc = keep_role(b, &page.hits[i]);
        if (rc) return rc;
        if (!page.next_query) break;
        http_param *hp;
        int n;
        if (http_parse_query(b->a, page.next_query, &hp, &n))
            return socle_err_set(b->err, SOCLE_EINTERNAL, "unreadable next page of a role search");
        fhir_search_param *next = arena_alloc(b->a, (size_t)(n > 0 ? n : 1) * sizeof *next);
        if (!next) return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++) next[i] = (fhir_search_param){hp[i].name, hp[i].value};
        params = next;
        nparams = n;
    }
    if (b->nroles > 1) qsort(b->roles, b->nroles, sizeof *b->roles, role_cmp);
    return 0;
}

/* The Organization `id` (read once per build); *out NULL when it is not in the directory. */
static int organization(build *b, const char *id, const json_t **out)
{
    *out = NULL;
    for (size_t i = 0; i < b->norgs; i++)
        if (!strcmp(b->orgs[i].id, id)) {
            *out = b->orgs[i].res;
            return 0;
        }
    fhir_stored st;
    socle_err e;
    json_t *res = NULL;
    int rc = fhir_repo_read(b->c, "Organization", id, 0, b->a, &st, &e);
    if (rc == 0) rc = load(st.body, st.body_len, &res, b->err);
    else if (rc == SOCLE_ENOTFOUND || rc == SOCLE_EGONE || rc == SOCLE_EINVAL) rc = 0; /* a dangling reference */
    else if (b->err) *b->err = e;
    if (rc) return rc;
    if (grow((void **)&b->orgs, &b->orgs_cap, b->norgs, sizeof *b->orgs)) {
        json_decref(res);
        return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");
    }
    b->orgs[b->norgs++] = (org_item){.id = id, .res = res};
    *out = res;
    return 0;
}

/* ---- building the claims -------------------------------------------------------------------- */

/* Set key to s, or to "" when s is NULL (the real PSC gives "" for an empty field). */
static void put_text(build *b, json_t *o, const char *key, const char *s)
{
    if (json_object_set_new(o, key, json_string(s ? s : ""))) b->oom = 1;
}

static void put_new(build *b, json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v)) b->oom = 1;
}

static void append_new(build *b, json_t *array, json_t *v)
{
    if (!v || json_array_append_new(array, v)) b->oom = 1;
}

/* The FINESS number of the legal entity the structure is part of: partOf is Organization/1<FINESS>. */
static const char *legal_entity_finess(const json_t *org)
{
    const char *id = organization_id(json_object_get(org, "partOf"));
    return id && id[0] == '0' + ANNUAIRE_ST_FINESS && id[1] ? id + 1 : NULL;
}

/* The INSEE commune code of an Address (fr-core extension), or NULL. */
static const char *insee_code(const json_t *address)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(address, "extension"), i, e) {
        if (same(str(e, "url"), EXT_INSEE)) return str(json_object_get(e, "valueCoding"), "code");
    }
    return NULL;
}

/* One activity: a PractitionerRole and its structure (org NULL when unknown; org_id NULL when none). */
static json_t *activity(build *b, const json_t *role, const char *org_id, const json_t *org)
{
    json_t *o = json_object();
    if (!o) {
        b->oom = 1;
        return NULL;
    }
    const json_t *codes = json_object_get(role, "code");
    put_text(b, o, "codeModeExercice", concepts_code(codes, SYSTEM_MODE));
    put_text(b, o, "codeSecteurDactivite", concepts_code(json_object_get(org, "type"), SYSTEM_SECTOR));
    put_text(b, o, "codeSectionPharmacien", concepts_code(codes, SYSTEM_SECTION));
    const char *siret = identifier_value(org, "SIRET");
    char siren[10] = "";
    if (siret && strlen(siret) == 14) memcpy(siren, siret, 9);
    put_text(b, o, "numeroSiretSite", siret);
    put_text(b, o, "numeroSirenSite", siren);
    put_text(b, o, "numeroFinessSite", identifier_value(org, "FINEG"));
    put_text(b, o, "numeroFinessetablissementJuridique", legal_entity_finess(org));
    put_text(b, o, "identifiantTechniqueDeLaStructure", org_id);
    put_text(b, o, "raisonSocialeSite", str(org, "name"));
    put_text(b, o, "enseigneCommercialeSite", first_string(org, "alias"));
    const json_t *address = json_array_get(json_object_get(org, "address"), 0);
    put_text(b, o, "codePostal", str(address, "postalCode"));
    put_text(b, o, "codeCommune", insee_code(address));
    put_text(b, o, "codePays", str(address, "country"));
    const char *phone[2] = {NULL, NULL}, *fax = NULL, *mail = NULL;
    size_t i, nphones = 0;
    const json_t *cp;
    json_array_foreach(json_object_get(org, "telecom"), i, cp) {
        const char *system = str(cp, "system"), *value = str(cp, "value");
        if (same(system, "phone") && nphones < 2) phone[nphones++] = value;
        else if (same(system, "fax") && !fax) fax = value;
        else if (same(system, "email") && !mail && !is_mssante(cp)) mail = value;
    }
    put_text(b, o, "telephone", phone[0]);
    put_text(b, o, "telephone2", phone[1]);
    put_text(b, o, "telecopie", fax);
    put_text(b, o, "adresseEMail", mail);
    return o;
}

/* The catégorie professionnelle of `profession` in Practitioner.qualification, or NULL. */
static const char *qualification_category(const json_t *p, const char *profession)
{
    size_t i;
    const json_t *q;
    json_array_foreach(json_object_get(p, "qualification"), i, q) {
        const json_t *cc = json_object_get(q, "code");
        if (same(concept_code(cc, SYSTEM_PROFESSION), profession)) return concept_code(cc, SYSTEM_CATEGORY);
    }
    return NULL;
}

/* The savoir-faire of a role's specialty: the first coding that is not a savoir-faire type. */
static const char *specialty_skill(const json_t *role)
{
    size_t i, j;
    const json_t *cc, *c;
    json_array_foreach(json_object_get(role, "specialty"), i, cc) {
        json_array_foreach(json_object_get(cc, "coding"), j, c) {
            if (!same(str(c, "system"), SYSTEM_SKILL_TYPE) && str(c, "code")) return str(c, "code");
        }
    }
    return NULL;
}

/* One exercice: profession p, its roles [from, to) of b->roles. *subject_org receives the first
 * activity with a structure (role index) when still unset (-1). */
static json_t *exercice(build *b, const json_t *prac, const char *p, size_t from, size_t to, long *subject_org)
{
    const char *category = NULL, *skill = NULL, *skill_type = NULL;
    const json_t *name = NULL;
    for (size_t i = from; i < to; i++) {
        const json_t *r = b->roles[i].res;
        if (!category) category = concepts_code(json_object_get(r, "code"), SYSTEM_CATEGORY);
        if (!name) name = role_name(r);
        if (!skill && !skill_type) {
            skill = specialty_skill(r);
            skill_type = concepts_code(json_object_get(r, "specialty"), SYSTEM_SKILL_TYPE);
        }
    }
    if (!category) category = qualification_category(prac, p);
    if (!name) name = practitioner_name(prac);
    json_t *e = json_object();
    if (!e) {
        b->oom = 1;
        return NULL;
    }
    put_text(b, e, "codeProfession", p);
    put_text(b, e, "codeCategorieProfessionnelle", category);
    put_text(b, e, "codeCiviliteDexercice", first_string(name, "suffix"));
    put_text(b, e, "nomDexercice", str(name, "family"));
    put_text(b, e, "prenomDexercice", first_string(name, "given"));
    put_text(b, e, "codeTypeSavoirFaire", skill_type);
    put_text(b, e, "codeSavoirFaire", skill);
    json_t *activities = json_array();
    put_new(b, e, "activities", activities);
    for (size_t i = from; i < to && activities; i++) {
        const json_t *r = b->roles[i].res;
        const char *org_id = organization_id(json_object_get(r, "organization"));
        const json_t *org = NULL;
        if (org_id) {
            int rc = organization(b, org_id, &org);
            if (rc) {
                json_decref(e);
                return NULL;
            }
            if (*subject_org < 0) *subject_org = (long)json_array_size(activities) + 1;
        }
        append_new(b, activities, activity(b, r, org_id, org));
    }
    return e;
}

/* The professions of the Practitioner's qualifications and of its roles, sorted, each once. */
static const char **professions(build *b, const json_t *prac, size_t *n)
{
    const json_t *quals = json_object_get(prac, "qualification");
    size_t cap = json_array_size(quals) + b->nroles + 1, k = 0, i;
    const char **list = arena_alloc(b->a, cap * sizeof *list);
    if (!list) return NULL;
    const json_t *q;
    json_array_foreach(quals, i, q) {
        const char *p = concept_code(json_object_get(q, "code"), SYSTEM_PROFESSION);
        if (p && *p) list[k++] = p;
    }
    for (i = 0; i < b->nroles; i++) list[k++] = b->roles[i].profession;
    if (k > 1) qsort(list, k, sizeof *list, str_cmp);
    size_t u = 0;
    for (i = 0; i < k; i++)
        if (!u || strcmp(list[u - 1], list[i])) list[u++] = list[i];
    *n = u;
    return list;
}

/* The professional's MSSanté mailbox (first PER mailbox in Practitioner.telecom), or NULL. */
static const char *mailbox(const json_t *prac)
{
    size_t i;
    const json_t *cp;
    json_array_foreach(json_object_get(prac, "telecom"), i, cp) {
        if (same(str(cp, "system"), "email") && is_mssante(cp) && str(cp, "value")) return str(cp, "value");
    }
    return NULL;
}

static int build_claims(build *b, const char *idnps, const json_t *prac, json_t **out)
{
    int rc = find_roles(b, idnps);
    if (rc) return rc;
    size_t nprof = 0;
    const char **prof = professions(b, prac, &nprof);
    if (!prof) return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");

    const json_t *name = practitioner_name(prac);
    json_t *claims = json_object(), *refpro = json_object(), *exercices = json_array(), *roles = json_array();
    if (!claims || !refpro || !exercices || !roles) {
        json_decref(claims);
        json_decref(refpro);
        json_decref(exercices);
        json_decref(roles);
        return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");
    }
    put_text(b, claims, "sub", idnps);
    put_text(b, claims, "preferred_username", idnps);
    put_text(b, claims, "SubjectNameID", idnps);
    put_text(b, claims, "given_name", first_string(name, "given"));
    put_text(b, claims, "family_name", str(name, "family"));
    const char *mail = mailbox(prac);
    if (mail) put_text(b, claims, "email", mail);
    put_text(b, refpro, "codeCivilite", first_string(name, "prefix"));
    put_new(b, refpro, "exercices", exercices);
    put_new(b, claims, "SubjectRefPro", refpro);

    /* The first activity with a structure: exercice index and activity number (from 1). */
    long subject_exercice = -1, subject_activity = -1;
    size_t r = 0;
    for (size_t i = 0; i < nprof; i++) {
        while (r < b->nroles && strcmp(b->roles[r].profession, prof[i]) < 0) r++;
        size_t end = r;
        while (end < b->nroles && !strcmp(b->roles[end].profession, prof[i])) end++;
        long found = subject_activity;
        json_t *e = exercice(b, prac, prof[i], r, end, &subject_activity);
        if (!e && !b->oom) {
            json_decref(claims);
            json_decref(roles);
            return b->err ? b->err->code : SOCLE_ESTORE;
        }
        if (found < 0 && subject_activity >= 0) subject_exercice = (long)i;
        append_new(b, exercices, e);
        append_new(b, roles, json_string(arena_printf(b->a, "%s^" OID_SUBJECT_ROLE, prof[i])));
        r = end;
    }
    if (subject_exercice >= 0) {
        const json_t *act = json_array_get(
            json_object_get(json_array_get(exercices, (size_t)subject_exercice), "activities"), (size_t)subject_activity - 1);
        put_text(b, claims, "SubjectOrganization", str(act, "raisonSocialeSite"));
        put_text(b, claims, "SubjectOrganizationID", str(act, "identifiantTechniqueDeLaStructure"));
        const char *sector = str(act, "codeSecteurDactivite");
        if (sector && *sector) put_text(b, claims, "Secteur_Activite", arena_printf(b->a, "%s^" OID_SECTEUR, sector));
    }
    put_new(b, claims, "SubjectRole", roles);
    const char *origin = idnps[0] == '0' + ANNUAIRE_PP_RPPS ? "RPPS" : idnps[0] == '0' + ANNUAIRE_PP_ADELI ? "ADELI" : NULL;
    if (origin)
        put_new(b, claims, "otherIds",
                json_pack("[{s:s, s:s, s:i}]", "identifiant", idnps, "origine", origin, "qualite", 1));
    if (b->oom) {
        json_decref(claims);
        return socle_err_set(b->err, SOCLE_ENOMEM, "out of memory");
    }
    *out = claims;
    return 0;
}

int psc_practitioner_active(const json_t *practitioner)
{
    return json_is_true(json_object_get(practitioner, "active"));
}

int psc_claims_build(store_conn *c, const char *idnps, arena *a, json_t **out, socle_err *err)
{
    *out = NULL;
    if (!valid_id(idnps)) return socle_err_set(err, SOCLE_ENOTFOUND, "the professional is not in the directory");
    fhir_stored st;
    int rc = fhir_repo_read(c, "Practitioner", idnps, 0, a, &st, err);
    if (rc == SOCLE_ENOTFOUND || rc == SOCLE_EGONE || rc == SOCLE_EINVAL)
        return socle_err_set(err, SOCLE_ENOTFOUND, "the professional is not in the directory");
    if (rc) return rc;
    json_t *prac;
    if ((rc = load(st.body, st.body_len, &prac, err))) return rc;
    if (!psc_practitioner_active(prac)) {
        json_decref(prac);
        return socle_err_set(err, SOCLE_ENOTFOUND, "the professional is not active in the directory");
    }
    socle_err local;
    build b = {.c = c, .a = a, .err = err ? err : &local};
    socle_err_clear(b.err);
    rc = build_claims(&b, idnps, prac, out);
    for (size_t i = 0; i < b.nroles; i++) json_decref(b.roles[i].res);
    for (size_t i = 0; i < b.norgs; i++) json_decref(b.orgs[i].res);
    free(b.roles);
    free(b.orgs);
    json_decref(prac);
    return rc;
}

/* Copy s into out: 0, SOCLE_ENOTFOUND when s is NULL or empty, SOCLE_EINVAL when it does not fit. */
static int copy_out(const char *s, char *out, size_t outsz)
{
    if (outsz) out[0] = 0;
    if (!s || !*s) return SOCLE_ENOTFOUND;
    size_t n = strlen(s);
    if (n >= outsz) return SOCLE_EINVAL;
    memcpy(out, s, n + 1);
    return 0;
}

int psc_claims_profession(const json_t *claims, char *out, size_t outsz)
{
    const json_t *first = json_array_get(json_object_get(json_object_get(claims, "SubjectRefPro"), "exercices"), 0);
    return copy_out(str(first, "codeProfession"), out, outsz);
}

int psc_claims_structure(const json_t *claims, char *out, size_t outsz)
{
    return copy_out(str(claims, "SubjectOrganizationID"), out, outsz);
}
