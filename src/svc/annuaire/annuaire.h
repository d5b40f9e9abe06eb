/* annuaire.h - the health directory service (Annuaire Santé, FINESS): FHIR Practitioner,
 * PractitionerRole and Organization loaded from the public extracts, searchable by anyone
 * authenticated, written only by `socle annuaire import` or the admin role.
 *
 * NAME
 *      annuaire - directory tables, policy and life cycle.
 * SYNOPSIS
 *      annuaire_open() annuaire_register() annuaire_close()
 * DESCRIPTION
 *      The resources live in the FHIR repository like any other (versions, history, search
 *      indexes); the search parameters of the ANS Annuaire guide are declared in fhir/params.c
 *      (mailbox-mss, mailbox-mss-type, the name of practice on PractitionerRole, ...). import.h
 *      loads the extracts and applies differences; resources.h says how lines become resources.
 *      Policy: reading and searching are the foundation's "directory-read" rule; this service
 *      adds "annuaire-write", which denies create, update and delete of the three types to every
 *      caller without the admin role (software included).
 * SEE ALSO
 *      ../shared/spec/annuaire-psc.md, identifiers.md; keys.h, extract.h, import.h.
 */
#ifndef SOCLE_SVC_ANNUAIRE_ANNUAIRE_H
#define SOCLE_SVC_ANNUAIRE_ANNUAIRE_H

#include "rest/rest.h"

typedef struct annuaire_service annuaire_service;

/* annuaire_open - migrate the directory tables and add the policy rule. */
int annuaire_open(socle_app *app, annuaire_service **out, socle_err *err);
/* annuaire_register - add the service's routes (none yet besides /fhir). */
int annuaire_register(annuaire_service *svc, http_router *router);
/* annuaire_close - free. svc may be NULL. */
void annuaire_close(annuaire_service *svc);

#endif
