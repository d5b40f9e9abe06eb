/* metadata.c - the metadata of a DocumentReference fed to the DMP, as the PDSm guide's
 * comprehensive profile requires them: present, coded from the CI-SIS value sets (codes.h), the
 * authors known in the directory. Every refusal names the element. */
#include <stdio.h>
#include <string.h>

#include "base/timeutil.h"
#include "fhir/search.h"
#include "svc/dmp/dmp_internal.h"

/* The first coding of a CodeableConcept that belongs to the value set; NULL when none. With
 * `element` set, a missing or uncoded concept is an error naming it. */
static const json_t *dmp_coded(dmp_service *svc, const json_t *concept, dmp_value_set vs, const char *element,
                               socle_err *err)
{
    const json_t *codings = json_object_get(concept, "coding");
    if (!json_is_array(codings) || json_array_size(codings) == 0) {
        socle_err_at(err, SOCLE_EUNPROCESSABLE, element, "%s is required and must be coded (%s)", element,
                     dmp_value_set_name(vs));
        return NULL;
    }
    size_t i;
    const json_t *coding;
    json_array_foreach(codings, i, coding)
    {
        const char *system = json_string_value(json_object_get(coding, "system"));
        const char *code = json_string_value(json_object_get(coding, "code"));
        if (system && code && dmp_codes_has(svc->codes, vs, system, code)) return coding;
    }
    const json_t *first = json_array_get(codings, 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    const char *system = json_string_value(json_object_get(first, "system"));
    socle_err_at(err, SOCLE_EUNPROCESSABLE, element, "%s: %s%s%.64s is not a code of the %s value set",
                 element, system ? system : "(no system)", "|", code ? code : "(no code)",
                 dmp_value_set_name(vs));
    return NULL;
}

static void dmp_copy_code(const json_t *coding, char *out, size_t n)
{
    snprintf(out, n, "%s", json_string_value(json_object_get(coding, "code")));
}

void dmp_metadata_flags(const json_t *doc, dmp_document *d)
{
    d->masked = d->invisible_patient = d->invisible_representatives = 0;
    size_t i, j;
    const json_t *label, *coding;
    json_array_foreach(json_object_get(doc, "securityLabel"), i, label)
    {
        json_array_foreach(json_object_get(label, "coding"), j, coding)
        {
            const char *code = json_string_value(json_object_get(coding, "code"));
            if (!code) continue;
            if (!strcmp(code, "MASQUE_PS")) d->masked = 1;
            if (!strcmp(code, "INVISIBLE_PATIENT")) d->invisible_patient = 1;
            if (!strcmp(code, "INVISIBLE_REPRESENTANTS_LEGAUX")) d->invisible_representatives = 1;
        }
    }
}

int dmp_metadata_check(dmp_service *svc, const json_t *doc, dmp_document *d, socle_err *err)
{
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (!status || strcmp(status, "current"))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.status",
                            "DocumentReference.status must be 'current' for a new document");
    snprintf(d->status, sizeof d->status, "current");
    const char *master =
        json_string_value(json_object_get(json_object_get(doc, "masterIdentifier"), "value"));
    if (!master || !*master)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.masterIdentifier",
                            "DocumentReference.masterIdentifier (the document's unique id) is required");
    const json_t *coding;
    if (!(coding = dmp_coded(svc, json_object_get(doc, "type"), DMP_VS_TYPE, "DocumentReference.type", err)))
        return err->code;
    dmp_copy_code(coding, d->type_code, sizeof d->type_code);
    if (!(coding = dmp_coded(svc, json_array_get(json_object_get(doc, "category"), 0), DMP_VS_CLASS,
                             "DocumentReference.category", err)))
        return err->code;
    dmp_copy_code(coding, d->class_code, sizeof d->class_code);
    /* securityLabel: at least one label, every coding from J08. */
    const json_t *labels = json_object_get(doc, "securityLabel");
    if (!json_is_array(labels) || json_array_size(labels) == 0)
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "DocumentReference.securityLabel",
            "DocumentReference.securityLabel (confidentiality) is required and must be coded (%s)",
            dmp_value_set_name(DMP_VS_CONFIDENTIALITY));
    size_t i, j;
    const json_t *label;
    json_array_foreach(labels, i, label)
    {
        json_array_foreach(json_object_get(label, "coding"), j, coding)
        {
            const char *system = json_string_value(json_object_get(coding, "system"));
            const char *code = json_string_value(json_object_get(coding, "code"));
            if (!system || !code || !dmp_codes_has(svc->codes, DMP_VS_CONFIDENTIALITY, system, code))
                return socle_err_at(
                    err, SOCLE_EUNPROCESSABLE, "DocumentReference.securityLabel",
                    "DocumentReference.securityLabel: %.64s is not a code of the %s value set",
                    code ? code : "(no code)", dmp_value_set_name(DMP_VS_CONFIDENTIALITY));
        }
        if (!dmp_coded(svc, label, DMP_VS_CONFIDENTIALITY, "DocumentReference.securityLabel", err))
            return err->code;
    }
    dmp_metadata_flags(doc, d);
    if (d->masked && d->invisible_patient)
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "DocumentReference.securityLabel",
            "DocumentReference.securityLabel: MASQUE_PS and INVISIBLE_PATIENT cannot be combined");
    const json_t *content = json_array_get(json_object_get(doc, "content"), 0);
    const json_t *attachment = json_object_get(content, "attachment");
    if (!json_is_object(attachment))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.content",
                            "DocumentReference.content[0].attachment is required");
    const char *ctype = json_string_value(json_object_get(attachment, "contentType"));
    if (!ctype || !*ctype)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.attachment.contentType",
                            "DocumentReference.content[0].attachment.contentType is required");
    snprintf(d->content_type, sizeof d->content_type, "%s", ctype);
    const json_t *format = json_object_get(content, "format");
    const char *fsystem = json_string_value(json_object_get(format, "system"));
    const char *fcode = json_string_value(json_object_get(format, "code"));
    if (!fsystem || !fcode)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.format",
                            "DocumentReference.content[0].format is required and must be coded (%s)",
                            dmp_value_set_name(DMP_VS_FORMAT));
    if (!dmp_codes_has(svc->codes, DMP_VS_FORMAT, fsystem, fcode))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.format",
                            "DocumentReference.content[0].format: %.96s is not a code of the %s value set",
                            fcode, dmp_value_set_name(DMP_VS_FORMAT));
    snprintf(d->format_code, sizeof d->format_code, "%s", fcode);
    const json_t *context = json_object_get(doc, "context");
    if (!(coding = dmp_coded(svc, json_object_get(context, "facilityType"), DMP_VS_FACILITY,
                             "DocumentReference.context.facilityType", err)))
        return err->code;
    dmp_copy_code(coding, d->facility_code, sizeof d->facility_code);
    if (!(coding = dmp_coded(svc, json_object_get(context, "practiceSetting"), DMP_VS_PRACTICE_SETTING,
                             "DocumentReference.context.practiceSetting", err)))
        return err->code;
    dmp_copy_code(coding, d->setting_code, sizeof d->setting_code);
    const char *date = json_string_value(json_object_get(doc, "date"));
    int64_t high;
    if (!date)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.date",
                            "DocumentReference.date (when the reference was made) is required");
    if (time_parse_fhir(date, &d->date_ms, &high, err))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.date", "DocumentReference.date: %s",
                            err->msg);
    const char *start = json_string_value(json_object_get(json_object_get(context, "period"), "start"));
    int64_t low;
    if (start && time_parse_fhir(start, &low, &high, err))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.context.period.start",
                            "DocumentReference.context.period.start: %s", err->msg);
    if (!json_is_object(json_object_get(doc, "subject")))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                            "DocumentReference.subject (the patient) is required");
    const json_t *authors = json_object_get(doc, "author");
    if (!json_is_array(authors) || json_array_size(authors) == 0)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                            "DocumentReference.author is required");
    return 0;
}

/* The id of the Practitioner that has an identifier of this value (RPPS or IDNPS). */
static int dmp_practitioner_by_identifier(store_conn *c, arena *a, const char *value, char *out, size_t n,
                                          socle_err *err)
{
    fhir_search_param ps[2] = {{"identifier", value}, {"_count", "2"}};
    fhir_search_options opt = {0};
    fhir_search *plan;
    fhir_search_page page;
    int rc = fhir_search_parse("Practitioner", ps, 2, &opt, a, &plan, err);
    if (!rc) rc = fhir_search_run(c, plan, a, &page, err);
    if (rc) return rc;
    for (size_t i = 0; i < page.nhits; i++)
        if (!page.hits[i].included) {
            snprintf(out, n, "%s", page.hits[i].id);
            return 0;
        }
    return SOCLE_ENOTFOUND;
}

/* A professional author: the identifiers of a contained or stored Practitioner/PractitionerRole,
 * or the Practitioner a PractitionerRole points to. Returns 0 (out filled), 1 when the author is
 * not a professional (organisation, device, patient), or an error. */
static int dmp_author_of(store_conn *c, arena *a, const json_t *doc, const json_t *author, char *out,
                         size_t n, socle_err *err)
{
    const char *ref = json_string_value(json_object_get(author, "reference"));
    const json_t *resource = NULL;
    json_t *loaded = NULL;
    int rc = SOCLE_ENOTFOUND;
    if (ref && ref[0] == '#') {
        size_t i;
        const json_t *contained;
        json_array_foreach(json_object_get(doc, "contained"), i, contained)
        {
            const char *id = json_string_value(json_object_get(contained, "id"));
            if (id && !strcmp(id, ref + 1)) resource = contained;
        }
        if (!resource)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "DocumentReference.author: %.64s is not a contained resource", ref);
    } else if (ref) {
        char type[64], id[128];
        if (!fhir_reference_parse(ref, type, sizeof type, id, sizeof id))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "DocumentReference.author: %.64s is not a reference socle can resolve", ref);
        if (strcmp(type, "Practitioner") && strcmp(type, "PractitionerRole")) return 1;
        fhir_stored s;
        if (fhir_repo_read(c, type, id, 0, a, &s, err))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "DocumentReference.author: %s/%.64s is not in the directory", type, id);
        if (!strcmp(type, "Practitioner")) {
            snprintf(out, n, "%s", id);
            return 0;
        }
        resource = loaded = json_loadb(s.body, s.body_len, 0, NULL);
    } else {
        const json_t *identifier = json_object_get(author, "identifier");
        const char *value = json_string_value(json_object_get(identifier, "value"));
        if (!value)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "DocumentReference.author needs a reference or an identifier");
        rc = dmp_practitioner_by_identifier(c, a, value, out, n, err);
        if (rc == SOCLE_ENOTFOUND)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "DocumentReference.author: professional %.32s is not in the directory",
                                value);
        return rc;
    }
    const char *rt = json_string_value(json_object_get(resource, "resourceType"));
    if (!rt || (strcmp(rt, "Practitioner") && strcmp(rt, "PractitionerRole"))) {
        json_decref(loaded);
        return 1;
    }
    size_t i;
    const json_t *identifier;
    const char *tried = NULL;
    json_array_foreach(json_object_get(resource, "identifier"), i, identifier)
    {
        const char *value = json_string_value(json_object_get(identifier, "value"));
        if (!value) continue;
        tried = value;
        rc = dmp_practitioner_by_identifier(c, a, value, out, n, err);
        if (rc != SOCLE_ENOTFOUND) break;
    }
    if (rc == SOCLE_ENOTFOUND) {
        /* A PractitionerRole that points to its Practitioner. */
        const char *pref =
            json_string_value(json_object_get(json_object_get(resource, "practitioner"), "reference"));
        char type[64], id[128];
        fhir_stored s;
        if (pref && fhir_reference_parse(pref, type, sizeof type, id, sizeof id) &&
            !strcmp(type, "Practitioner") && fhir_repo_read(c, type, id, 0, a, &s, err) == 0) {
            snprintf(out, n, "%s", id);
            rc = 0;
        }
    }
    json_decref(loaded);
    if (rc == SOCLE_ENOTFOUND)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                            "DocumentReference.author: professional %.32s is not in the directory",
                            tried ? tried : "(no identifier)");
    return rc;
}

int dmp_metadata_authors(store_conn *c, arena *a, const json_t *doc, dmp_document *d, socle_err *err)
{
    d->nauthors = 0;
    size_t i;
    const json_t *author;
    json_array_foreach(json_object_get(doc, "author"), i, author)
    {
        char id[64];
        int rc = dmp_author_of(c, a, doc, author, id, sizeof id, err);
        if (rc < 0) return rc;
        if (rc == 1 || d->nauthors == DMP_MAX_AUTHORS || strlen(id) >= sizeof d->authors[0]) continue;
        snprintf(d->authors[d->nauthors++], sizeof d->authors[0], "%s", id);
    }
    if (d->nauthors == 0)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                            "DocumentReference.author names no professional of the directory");
    return 0;
}
