/* ins_internal.h - what the files of the INS service share. */
#ifndef SOCLE_SVC_INS_INTERNAL_H
#define SOCLE_SVC_INS_INTERNAL_H

#include "svc/ins/ins.h"
#include "svc/ins/reference.h"
#include "svc/ins/usage.h"

struct ins_service {
    socle_app *app;
    ins_usage *usage;
};

/* ins_traits_from_json - read and normalise an INSi "traits" object into q (strings in the arena);
 * `need_all` requires the four mandatory traits. Errors name the field (traits.prenoms...). */
int ins_traits_from_json(arena *a, const json_t *traits, int need_all, ins_traits_query *q, socle_err *err);

/* ins_identity_check - the RNIV rules (identity.c) on Patient `id` (NULL on create) about to be
 * written by `who` (NULL: the system); previous is its current version or NULL. May change
 * resource in place (downgrade, HOMD). 0 or a 422 naming the rule. */
int ins_identity_check(store_conn *c, const auth_subject *who, const char *id, json_t *resource, const json_t *previous,
                       socle_err *err);

/* ins_register_identity_rules - the RNIV rules on Patient writes (identity.c). */
int ins_register_identity_rules(ins_service *ins, socle_err *err);

/* ins_admit - authenticate the caller (401) and ask the policy engine whether they may run the
 * operation `op` on `type` (403, audited). 0 when admitted; otherwise res is filled. */
int ins_admit(ins_service *ins, http_request *req, http_response *res, const char *type, const char *op, auth_subject *who);
/* ins_json_body - the request body as a JSON object (415 unless application/json, 400 when
 * malformed); 0 with *out owned by the caller, or -1 with res filled. */
int ins_json_body(ins_service *ins, http_request *req, http_response *res, json_t **out);

/* ins_register_civ - the identitovigilance routes (civ.c). */
int ins_register_civ(ins_service *ins, http_router *router);

/* ins_vigilance_migrate - the merge journal. */
int ins_vigilance_migrate(store *s, socle_err *err);
/* ins_merge - merge Patient `merged` into `survivor` inside the caller's transaction (see
 * vigilance.c); merge_id receives the merge's id, *repointed the number of resources changed. */
int ins_merge(ins_service *ins, store_conn *c, const auth_subject *who, const char *survivor, const char *merged,
              char merge_id[37], size_t *repointed, socle_err *err);
/* ins_unmerge - undo merge_id within window_ms of it, inside the caller's transaction. */
int ins_unmerge(ins_service *ins, store_conn *c, const auth_subject *who, const char *merge_id, int64_t window_ms,
                size_t *restored, socle_err *err);

#endif
