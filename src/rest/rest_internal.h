/* rest_internal.h - declarations shared between the files of src/rest only. */
#ifndef SOCLE_REST_INTERNAL_H
#define SOCLE_REST_INTERNAL_H

#include "rest/rest.h"

/* rest_register_fhir - the /fhir routes (fhir_routes.c). */
int rest_register_fhir(socle_app *app, http_router *r);

/* rest_conditional_match - the resource of `type` matching a search query (If-None-Exist): *id_out
 * NULL when none, its id when exactly one; SOCLE_EPRECONDITION (412) when several. */
/* rest_conditional_existing - the answer to a conditional create whose query matched existing_id:
 * the caller must be allowed to create op's resource and to read the match (traced); 200. */
int rest_conditional_existing(socle_app *app, http_request *req, const auth_subject *who, store_conn *c,
                              const rest_op *op, const char *existing_id, rest_result *res);
int rest_conditional_match(socle_app *app, http_request *req, store_conn *c, const char *type, const char *query,
                           const char **id_out, rest_result *res);

/* rest_status_text - "201 Created" for 201, as bundle responses spell statuses. */
const char *rest_status_text(int status);

#endif
