/* params.c - the search parameters socle indexes, as data: (type, name, kind, path, targets).
 * Names and paths follow FHIR R4; paths are '.'-separated elements, '|' separates alternatives. */
#include <string.h>

#include "fhir/search.h"

#define TOK FHIR_PARAM_TOKEN
#define STR FHIR_PARAM_STRING
#define DAT FHIR_PARAM_DATE
#define REF FHIR_PARAM_REFERENCE

static const fhir_param_def fhir_param_table[] = {
    {"Patient", "identifier", TOK, "identifier", NULL},
    {"Patient", "family", STR, "name.family", NULL},
    {"Patient", "given", STR, "name.given", NULL},
    {"Patient", "name", STR, "name", NULL},
    {"Patient", "birthdate", DAT, "birthDate", NULL},
    {"Patient", "gender", TOK, "gender", "http://hl7.org/fhir/administrative-gender"},
    {"Patient", "active", TOK, "active", NULL},
    {"Patient", "telecom", TOK, "telecom", NULL},
    {"Patient", "address-city", STR, "address.city", NULL},
    {"Patient", "address-postalcode", STR, "address.postalCode", NULL},
    {"Patient", "organization", REF, "managingOrganization", "Organization"},
    {"Patient", "general-practitioner", REF, "generalPractitioner", "Practitioner|Organization|PractitionerRole"},
    {"Practitioner", "identifier", TOK, "identifier", NULL},
    {"Practitioner", "family", STR, "name.family", NULL},
    {"Practitioner", "given", STR, "name.given", NULL},
    {"Practitioner", "name", STR, "name", NULL},
    {"Practitioner", "active", TOK, "active", NULL},
    /* ANS Annuaire guide: MSSanté mailboxes (as-sp-mailbox-mss: telecom.value) and their type (the
     * TypeBAL code of the as-ext-mailbox-mss-metadata extension, its only CodeableConcept). */
    {"Practitioner", "mailbox-mss", STR, "telecom.value", NULL},
    {"Practitioner", "mailbox-mss-type", TOK, "telecom.extension.extension.valueCodeableConcept", NULL},
    {"Practitioner", "qualification-code", TOK, "qualification.code", NULL},
    {"PractitionerRole", "identifier", TOK, "identifier", NULL},
    {"PractitionerRole", "practitioner", REF, "practitioner", "Practitioner"},
    {"PractitionerRole", "organization", REF, "organization", "Organization"},
    {"PractitionerRole", "location", REF, "location", "Location"},
    {"PractitionerRole", "role", TOK, "code", NULL},
    {"PractitionerRole", "specialty", TOK, "specialty", NULL},
    {"PractitionerRole", "active", TOK, "active", NULL},
    /* ANS Annuaire guide: the name of practice is the as-ext-practitionerrole-name extension. */
    {"PractitionerRole", "family", STR, "extension.valueHumanName.family", NULL},
    {"PractitionerRole", "given", STR, "extension.valueHumanName.given", NULL},
    {"PractitionerRole", "name", STR, "extension.valueHumanName", NULL},
    {"PractitionerRole", "mailbox-mss", STR, "telecom.value", NULL},
    {"PractitionerRole", "mailbox-mss-type", TOK, "telecom.extension.extension.valueCodeableConcept", NULL},
    {"Organization", "identifier", TOK, "identifier", NULL},
    {"Organization", "name", STR, "name|alias", NULL},
    {"Organization", "type", TOK, "type", NULL},
    {"Organization", "active", TOK, "active", NULL},
    {"Organization", "partof", REF, "partOf", "Organization"},
    {"Organization", "address-city", STR, "address.city", NULL},
    {"Organization", "address-postalcode", STR, "address.postalCode", NULL},
    {"Organization", "address", STR, "address", NULL},
    {"Organization", "mailbox-mss", STR, "telecom.value", NULL},
    {"Organization", "mailbox-mss-type", TOK, "telecom.extension.extension.valueCodeableConcept", NULL},
    {"Location", "identifier", TOK, "identifier", NULL},
    {"Location", "name", STR, "name|alias", NULL},
    {"Location", "status", TOK, "status", NULL},
    {"Location", "organization", REF, "managingOrganization", "Organization"},
    {"Location", "address-city", STR, "address.city", NULL},
    {"Location", "address-postalcode", STR, "address.postalCode", NULL},
    {"HealthcareService", "identifier", TOK, "identifier", NULL},
    {"HealthcareService", "name", STR, "name", NULL},
    {"HealthcareService", "organization", REF, "providedBy", "Organization"},
    {"HealthcareService", "service-type", TOK, "type", NULL},
    {"HealthcareService", "specialty", TOK, "specialty", NULL},
    {"HealthcareService", "location", REF, "location", "Location"},
    {"HealthcareService", "active", TOK, "active", NULL},
    {"DocumentReference", "identifier", TOK, "identifier|masterIdentifier", NULL},
    {"DocumentReference", "patient", REF, "subject", "Patient"},
    {"DocumentReference", "subject", REF, "subject", "Patient"},
    {"DocumentReference", "status", TOK, "status", NULL},
    {"DocumentReference", "type", TOK, "type", NULL},
    {"DocumentReference", "category", TOK, "category", NULL},
    {"DocumentReference", "date", DAT, "date", NULL},
    {"DocumentReference", "period", DAT, "context.period", NULL},
    {"DocumentReference", "author", REF, "author", "Practitioner|PractitionerRole|Organization|Patient"},
    {"DocumentReference", "format", TOK, "content.format", NULL},
    {"DocumentReference", "setting", TOK, "context.practiceSetting", NULL},
    {"DocumentReference", "facility", TOK, "context.facilityType", NULL},
    {"DocumentReference", "event", TOK, "context.event", NULL},
    {"DocumentReference", "security-label", TOK, "securityLabel", NULL},
    {"DocumentReference", "relatesto", REF, "relatesTo.target", "DocumentReference"},
    {"DocumentReference", "contenttype", TOK, "content.attachment.contentType", NULL},
    {"List", "identifier", TOK, "identifier", NULL},
    {"List", "patient", REF, "subject", "Patient"},
    {"List", "subject", REF, "subject", "Patient"},
    {"List", "code", TOK, "code", NULL},
    {"List", "status", TOK, "status", NULL},
    {"List", "date", DAT, "date", NULL},
    {"List", "source", REF, "source", "Practitioner|PractitionerRole|Patient|Device"},
    {"List", "item", REF, "entry.item", "DocumentReference"},
    {"Consent", "identifier", TOK, "identifier", NULL},
    {"Consent", "patient", REF, "patient", "Patient"},
    {"Consent", "status", TOK, "status", NULL},
    {"Consent", "category", TOK, "category", NULL},
    {"Consent", "scope", TOK, "scope", NULL},
    {"Consent", "date", DAT, "dateTime", NULL},
    {"Consent", "actor", REF, "provision.actor.reference", "Practitioner|PractitionerRole|Organization"},
    {"Consent", "period", DAT, "provision.period", NULL},
    {"MedicationRequest", "identifier", TOK, "identifier", NULL},
    {"MedicationRequest", "patient", REF, "subject", "Patient"},
    {"MedicationRequest", "subject", REF, "subject", "Patient"},
    {"MedicationRequest", "status", TOK, "status", NULL},
    {"MedicationRequest", "intent", TOK, "intent", NULL},
    {"MedicationRequest", "authoredon", DAT, "authoredOn", NULL},
    {"MedicationRequest", "requester", REF, "requester", "Practitioner|PractitionerRole|Organization"},
    {"MedicationRequest", "code", TOK, "medicationCodeableConcept", NULL},
    {"MedicationDispense", "identifier", TOK, "identifier", NULL},
    {"MedicationDispense", "patient", REF, "subject", "Patient"},
    {"MedicationDispense", "subject", REF, "subject", "Patient"},
    {"MedicationDispense", "status", TOK, "status", NULL},
    {"MedicationDispense", "prescription", REF, "authorizingPrescription", "MedicationRequest"},
    {"MedicationDispense", "whenhandedover", DAT, "whenHandedOver", NULL},
    {"MedicationDispense", "performer", REF, "performer.actor", "Practitioner|PractitionerRole|Organization"},
    {"MedicationDispense", "code", TOK, "medicationCodeableConcept", NULL},
};

#define FHIR_NPARAMS (sizeof fhir_param_table / sizeof fhir_param_table[0])

const fhir_param_def *fhir_param_find(const char *resource_type, const char *name)
{
    for (size_t i = 0; i < FHIR_NPARAMS; i++)
        if (!strcmp(fhir_param_table[i].name, name) && !strcmp(fhir_param_table[i].resource_type, resource_type))
            return &fhir_param_table[i];
    return NULL;
}

const fhir_param_def *fhir_params(size_t *n)
{
    *n = FHIR_NPARAMS;
    return fhir_param_table;
}

const char *fhir_param_kind_name(fhir_param_kind k)
{
    switch (k) {
    case FHIR_PARAM_TOKEN: return "token";
    case FHIR_PARAM_STRING: return "string";
    case FHIR_PARAM_DATE: return "date";
    default: return "reference";
    }
}
