/* rest.h - the FHIR REST API over HTTP: wires net (transport), fhir (resources and search),
 * auth (who and may they) and audit (the trace) into handlers.
 *
 * NAME
 *      rest - /fhir interactions, bundles, CapabilityStatement, and the system routes.
 * SYNOPSIS
 *      rest_register() rest_authenticate() rest_interact() rest_capability_build()
 * DESCRIPTION
 *      Every /fhir interaction (except metadata) authenticates the bearer token (401), checks the
 *      resource type (404), asks the policy engine (403, audited), runs against the store, and
 *      records the access in the audit trail: writes in the same transaction as the data, reads
 *      through the trail's group-commit queue. Instances of types flagged FHIR_TYPE_PATIENT_DATA
 *      are always audited; refusals are audited whatever the type.
 *      The interactions are written once (rest_interact) and used both by the HTTP handlers and
 *      by transaction/batch bundle entries, so a bundle entry behaves exactly like the same request
 *      sent alone.
 *      Services add types, search parameters and policy rules through their own modules; a type
 *      that needs behaviour of its own on top of storage (AuditEvent: served by the audit module)
 *      is dispatched here by name.
 * CONFIGURATION
 *      public_url, max_body_bytes, json_max_depth, json_max_string, bench_routes.
 */
#ifndef SOCLE_REST_REST_H
#define SOCLE_REST_REST_H

#include "audit/audit.h"
#include "auth/auth.h"
#include "base/config.h"
#include "fhir/fhir.h"
#include "fhir/repo.h"
#include "net/http.h"
#include "store/store.h"

/* rest_write_hook_fn - a service's rule on writes of one resource type, run inside the write's
 * transaction after validation and authorization and before the resource is stored. `previous`
 * is the current version (NULL on create, or when the resource does not exist yet); `resource`
 * may be modified (derived elements). Returns 0, or a SOCLE_E* code with err filled (422 for a
 * broken business rule, naming the rule). */
typedef int (*rest_write_hook_fn)(void *ctx, store_conn *c, const auth_subject *who, const char *type, const char *id,
                                  json_t *resource, const json_t *previous, socle_err *err);

/* One FHIR interaction, as sent alone or as a bundle entry (declared below). */
typedef struct rest_op rest_op;
typedef struct rest_result rest_result;

/* rest_type_handler_fn - a service that serves a resource type itself (the DMP serves
 * DocumentReference, List and Binary): called for every interaction on `op->type` after the type
 * and id checks, with the caller authenticated. It returns REST_PASS to let the generic interaction
 * run, or it answers: fills res (rest_fail() for errors) and returns 0 or the error code. With
 * conn != NULL it runs inside the caller's transaction. */
typedef int (*rest_type_handler_fn)(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                                    const rest_op *op, rest_result *res);
#define REST_PASS 1

/* rest_bundle_handler_fn - a service that takes whole Bundles of its own kind (the DMP's ITI-65
 * provide-document bundles): returns REST_PASS when the bundle is not its, else answers res. */
typedef int (*rest_bundle_handler_fn)(void *ctx, http_request *req, http_response *res, const auth_subject *who,
                                      json_t *bundle);

#define REST_MAX_TYPE_HANDLERS 8

#define REST_MAX_WRITE_HOOKS 16
typedef struct rest_write_hook {
    const char *type;
    rest_write_hook_fn fn;
    void *ctx;
} rest_write_hook;

/* socle_app - what handlers share. Built once at startup (cli/app.c), read-only afterwards. */
typedef struct socle_app {
    socle_config *config;
    store *store;
    crypto_key *signing_key;
    uint8_t cursor_key[32];      /* seals search cursors (from signing_key: every node opens them) */
    int has_cursor_key;
    auth_verifier *verifier;
    auth_policy *policy;
    audit_trail *audit;
    fhir_limits limits;
    char public_url[512];        /* "http://127.0.0.1:8080" (no trailing slash) */
    char fhir_base[560];         /* public_url + "/fhir" */
    char *capability;            /* the CapabilityStatement JSON, built at startup */
    size_t capability_len;
    char *jwks;                  /* {"keys":[...]} */
    rest_write_hook write_hooks[REST_MAX_WRITE_HOOKS]; /* added by services at startup */
    int nwrite_hooks;
    struct {
        const char *type;
        rest_type_handler_fn fn;
        void *ctx;
    } type_handlers[REST_MAX_TYPE_HANDLERS];
    int ntype_handlers;
    rest_bundle_handler_fn bundle_handler; /* at most one; NULL when none */
    void *bundle_handler_ctx;
    void *services;              /* the svc layer's state (svc/svc.h); opaque here */
} socle_app;

/* rest_add_write_hook - run fn on every create and update of `type` (a static string). Only before
 * the server starts serving. SOCLE_EINTERNAL when the table is full. */
int rest_add_write_hook(socle_app *app, const char *type, rest_write_hook_fn fn, void *ctx);

/* rest_add_type_handler - let fn serve `type` (a static string); see rest_type_handler_fn. Only
 * before the server starts serving. SOCLE_EINTERNAL when the table is full. */
int rest_add_type_handler(socle_app *app, const char *type, rest_type_handler_fn fn, void *ctx);
/* rest_set_bundle_handler - let fn look at every Bundle posted to /fhir first. */
void rest_set_bundle_handler(socle_app *app, rest_bundle_handler_fn fn, void *ctx);

/* rest_check_write - run the services' write hooks of `type` on resource, as a create (id NULL) or
 * an update of id (its current version is given to the hooks); inside the caller's transaction.
 * Every path that writes resources (REST, bundles, bulk import) goes through it. */
int rest_check_write(socle_app *app, store_conn *c, arena *a, const auth_subject *who, const char *type, const char *id,
                     json_t *resource, socle_err *err);

/* rest_register - add the /fhir routes and the system routes (/healthz, /metrics,
 * /.well-known/jwks.json, and /_bench/static when bench_routes is on) to the router. */
int rest_register(socle_app *app, http_router *router);

/* rest_capability_build - (re)build app->capability from the registered types and parameters. */
int rest_capability_build(socle_app *app, socle_err *err);

/* rest_authenticate - verify the request's bearer token into *who; on failure fill res with a 401
 * (WWW-Authenticate + OperationOutcome) and return SOCLE_EUNAUTHORIZED. */
int rest_authenticate(socle_app *app, http_request *req, http_response *res, auth_subject *who);

/* One FHIR interaction, as sent alone or as a bundle entry. */
typedef enum {
    REST_READ = 1, REST_VREAD, REST_CREATE, REST_UPDATE, REST_DELETE, REST_SEARCH,
    REST_HISTORY_INSTANCE, REST_HISTORY_TYPE, REST_HISTORY_SYSTEM,
} rest_kind;

struct rest_op {
    rest_kind kind;
    const char *type;            /* NULL for system history */
    const char *id;              /* read, vread, update, delete, instance history */
    int64_t version;             /* vread */
    json_t *resource;            /* create/update: the parsed body (borrowed, modified in place) */
    int64_t if_match;            /* update: 0 = none */
    const char *if_none_exist;   /* create: a search query string, or NULL */
    const http_param *params;    /* search/history parameters */
    int nparams;
    int lenient;                 /* Prefer: handling=lenient */
    int return_minimal;          /* Prefer: return=minimal */
};

struct rest_result {
    int status;                  /* HTTP status */
    socle_buf body;              /* response body (resource, Bundle or OperationOutcome) */
    char etag[32];               /* W/"n" or "" */
    char last_modified[40];      /* HTTP date or "" */
    char location[700];          /* absolute URL or "" */
    const char *content_type;    /* static or arena string; NULL: FHIR JSON */
    socle_err err;               /* when status >= 400 */
};

/* rest_fail - make res an error answer from err (status, OperationOutcome); returns err->code. */
int rest_fail(rest_result *res, socle_err *err);

/* A urn:uuid fullUrl of a bundle entry and the "Type/id" it stands for. */
typedef struct rest_alias {
    const char *urn;
    const char *reference;
} rest_alias;
/* rest_rewrite_references - replace every "reference" equal to an alias' urn, anywhere in j. */
void rest_rewrite_references(json_t *j, const rest_alias *aliases, size_t n);
/* rest_bundle_open - start a Bundle of `type` in b: resourceType, a fresh id, meta.lastUpdated and
 * type; the caller appends the rest and the closing brace. */
void rest_bundle_open(socle_buf *b, const char *type);
/* rest_bundle_respond - write a transaction-response / batch-response Bundle whose entries are the
 * results (status, location, etag; the resource for reads), status 200. */
void rest_bundle_respond(socle_app *app, http_response *res, const char *type, rest_result *results, size_t n);
/* rest_audit_stored - record a write of s in the audit trail inside the caller's transaction. */
int rest_audit_stored(socle_app *app, store_conn *c, http_request *req, const auth_subject *who, const char *action,
                      const fhir_stored *s, const char *detail, socle_err *err);

/* rest_interact - run op for `who`. With conn == NULL the interaction takes its own connection
 * and, for writes, its own transaction; with a conn it runs inside the caller's open transaction
 * and commits nothing. Fills res (the caller frees res->body); returns 0 or the error code (also
 * in res->err, with res->status and an OperationOutcome body). */
int rest_interact(socle_app *app, http_request *req, const auth_subject *who, store_conn *conn, const rest_op *op,
                  rest_result *res);

/* rest_bundle - POST /fhir: a transaction or batch Bundle. */
void rest_bundle(socle_app *app, http_request *req, http_response *res, const auth_subject *who, json_t *bundle);

/* rest_respond_result - copy a result into an HTTP response (status, headers, body). */
void rest_respond_result(http_request *req, http_response *res, rest_result *r);

/* rest_audit - record an access outcome for `who` (async queue). Used by services too. */
void rest_audit(socle_app *app, http_request *req, const auth_subject *who, const char *action, const char *outcome,
                const char *type, const char *id, const char *patient_id, const char *detail);

#endif
