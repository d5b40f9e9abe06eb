/* interact.c - the FHIR interactions (read, vread, create, update, delete, search, history), written
 * once for single requests and bundle entries (see rest.h): policy, store, audit, result. */
#include <string.h>

#include "base/ids.h"
#include "base/log.h"
#include "base/text.h"
#include "base/timeutil.h"
#include "fhir/search.h"
#include "rest/rest.h"
#include "rest/rest_internal.h"

static const char *const rest_kind_action[] = {
    [REST_READ] = "read", [REST_VREAD] = "vread", [REST_CREATE] = "create", [REST_UPDATE] = "update",
    [REST_DELETE] = "delete", [REST_SEARCH] = "search", [REST_HISTORY_INSTANCE] = "history",
    [REST_HISTORY_TYPE] = "history", [REST_HISTORY_SYSTEM] = "history",
};

static const auth_action rest_kind_auth[] = {
    [REST_READ] = AUTH_ACTION_READ, [REST_VREAD] = AUTH_ACTION_READ, [REST_CREATE] = AUTH_ACTION_CREATE,
    [REST_UPDATE] = AUTH_ACTION_UPDATE, [REST_DELETE] = AUTH_ACTION_DELETE, [REST_SEARCH] = AUTH_ACTION_SEARCH,
    [REST_HISTORY_INSTANCE] = AUTH_ACTION_HISTORY, [REST_HISTORY_TYPE] = AUTH_ACTION_HISTORY,
    [REST_HISTORY_SYSTEM] = AUTH_ACTION_HISTORY,
};

int rest_fail(rest_result *res, socle_err *err)
{
    if (&res->err != err) res->err = *err;
    res->status = socle_err_http_status(err->code);
    buf_reset(&res->body);
    fhir_outcome_err(&res->body, &res->err);
    return err->code;
}

static int rest_fail_code(rest_result *res, int code, const char *msg)
{
    socle_err_set(&res->err, code, "%s", msg);
    return rest_fail(res, &res->err);
}

void rest_audit(socle_app *app, http_request *req, const auth_subject *who, const char *action, const char *outcome,
                const char *type, const char *id, const char *patient_id, const char *detail)
{
    audit_event e = {
        .action = action,
        .outcome = outcome,
        .agent_kind = who && who->kind ? auth_kind_name(who->kind) : "anonymous",
        .agent_id = who && who->sub[0] ? who->sub : NULL,
        .agent_profession = who && who->profession[0] ? who->profession : NULL,
        .structure = who && who->structure[0] ? who->structure : NULL,
        .resource_type = type,
        .resource_id = id,
        .patient_id = patient_id,
        .address = req ? req->remote_addr : NULL,
        .request_id = req ? req->request_id : NULL,
        .detail = detail,
    };
    audit_append(app->audit, &e);
}

int rest_audit_stored(socle_app *app, store_conn *c, http_request *req, const auth_subject *who, const char *action,
                      const fhir_stored *s, const char *detail, socle_err *err)
{
    audit_event e = {
        .action = action,
        .outcome = "success",
        .agent_kind = auth_kind_name(who->kind),
        .agent_id = who->sub[0] ? who->sub : NULL,
        .agent_profession = who->profession[0] ? who->profession : NULL,
        .structure = who->structure[0] ? who->structure : NULL,
        .resource_type = s->type,
        .resource_id = s->id,
        .patient_id = s->patient_id,
        .address = req->remote_addr,
        .request_id = req->request_id,
        .detail = detail,
    };
    return audit_append_tx(app->audit, c, &e, err);
}

/* Ask the policy; on refusal fill a 403 and audit it. Returns 0 when allowed. */
static int rest_authorize(socle_app *app, http_request *req, const auth_subject *who, rest_kind kind,
                          const char *type, const char *id, const char *patient_id, const json_t *resource,
                          rest_result *res)
{
    auth_target t = {.resource_type = type ? type : "*", .resource_id = id, .patient_id = patient_id,
                     .resource = resource};
    auth_decision d;
    auth_policy_decide(app->policy, who, rest_kind_auth[kind], &t, &d);
    if (d.allowed) return 0;
    rest_audit(app, req, who, rest_kind_action[kind], "denied", type, id, patient_id, d.reason);
    socle_err_set(&res->err, SOCLE_EFORBIDDEN, "access denied: %s", d.reason);
    return rest_fail(res, &res->err);
}

/* The patient op's resource belongs to (into buf), or NULL. */
static const char *rest_op_patient(const rest_op *op, char *buf, size_t n)
{
    const fhir_type *t = op->type ? fhir_type_find(op->type) : NULL;
    return t && op->resource && fhir_resource_patient(t, op->id ? op->id : "", op->resource, buf, n) ? buf : NULL;
}

static int rest_is_patient_data(const char *type)
{
    const fhir_type *t = type ? fhir_type_find(type) : NULL;
    return t && (t->flags & FHIR_TYPE_PATIENT_DATA);
}

static void rest_set_version_headers(rest_result *res, const fhir_stored *s)
{
    char digits[24];
    size_t n = text_decimal(s->version, digits);
    memcpy(res->etag, "W/\"", 3);
    memcpy(res->etag + 3, digits, n);
    memcpy(res->etag + 3 + n, "\"", 2);
    time_format_http(s->last_updated_ms, res->last_modified);
}

/* --- read / vread --- */

static int rest_read(socle_app *app, http_request *req, const auth_subject *who, store_conn *c, const rest_op *op,
                     rest_result *res)
{
    fhir_stored s;
    int rc = fhir_repo_read(c, op->type, op->id, op->kind == REST_VREAD ? op->version : 0, req->arena, &s, &res->err);
    if (rc && rc != SOCLE_EGONE) return rest_fail(res, &res->err);
    if (rest_authorize(app, req, who, op->kind, op->type, op->id, s.patient_id, NULL, res)) return res->err.code;
    if (rc == SOCLE_EGONE) return rest_fail(res, &res->err);
    if (rest_is_patient_data(op->type))
        rest_audit(app, req, who, rest_kind_action[op->kind], "success", op->type, op->id, s.patient_id, NULL);
    res->status = 200;
    buf_append(&res->body, s.body, s.body_len);
    rest_set_version_headers(res, &s);
    return 0;
}

/* --- search --- */

void rest_bundle_open(socle_buf *b, const char *type)
{
    char id[37], now[32];
    buf_printf(b, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{\"lastUpdated\":\"%s\"},\"type\":\"%s\"",
               id_uuid(id), time_format_instant(time_now_ms(), now), type);
}

static fhir_search_param *rest_search_params(arena *a, const http_param *params, int n)
{
    fhir_search_param *ps = arena_zalloc(a, sizeof *ps * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        ps[i].name = params[i].name;
        ps[i].value = params[i].value ? params[i].value : "";
    }
    return ps;
}

static int rest_search(socle_app *app, http_request *req, const auth_subject *who, store_conn *c, const rest_op *op,
                       rest_result *res)
{
    if (rest_authorize(app, req, who, REST_SEARCH, op->type, NULL, NULL, NULL, res)) return res->err.code;
    fhir_search_options opt = {.lenient = op->lenient, .cursor_key = app->has_cursor_key ? app->cursor_key : NULL};
    fhir_search *plan;
    fhir_search_param *ps = rest_search_params(req->arena, op->params, op->nparams);
    if (fhir_search_parse(op->type, ps, op->nparams, &opt, req->arena, &plan, &res->err)) return rest_fail(res, &res->err);
    fhir_search_page page;
    if (fhir_search_run(c, plan, req->arena, &page, &res->err)) return rest_fail(res, &res->err);

    socle_buf *b = &res->body;
    rest_bundle_open(b, "searchset");
    if (page.total >= 0) buf_printf(b, ",\"total\":%lld", (long long)page.total);
    buf_puts(b, ",\"link\":[{\"relation\":\"self\",\"url\":");
    char *self = arena_printf(req->arena, "%s/%s?%s", app->fhir_base, op->type, page.self_query ? page.self_query : "");
    buf_json_string(b, self);
    buf_putc(b, '}');
    if (page.next_query) {
        buf_puts(b, ",{\"relation\":\"next\",\"url\":");
        buf_json_string(b, arena_printf(req->arena, "%s/%s?%s", app->fhir_base, op->type, page.next_query));
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
    const char *audited[64];
    int naudited = 0, overflow = 0, filtered = 0, any_patient_data = 0;
    int first = 1;
    for (size_t i = 0; i < page.nhits; i++) {
        fhir_search_hit *h = &page.hits[i];
        auth_target t = {.resource_type = h->type, .resource_id = h->id, .patient_id = h->patient_id};
        auth_decision d;
        auth_policy_decide(app->policy, who, AUTH_ACTION_READ, &t, &d);
        if (!d.allowed) {
            filtered++;
            continue;
        }
        buf_puts(b, first ? ",\"entry\":[" : ",");
        first = 0;
        buf_puts(b, "{\"fullUrl\":");
        buf_json_string(b, arena_printf(req->arena, "%s/%s/%s", app->fhir_base, h->type, h->id));
        buf_puts(b, ",\"resource\":");
        buf_append(b, h->body, h->body_len);
        buf_puts(b, h->included ? ",\"search\":{\"mode\":\"include\"}}" : ",\"search\":{\"mode\":\"match\"}}");
        if (rest_is_patient_data(h->type)) {
            any_patient_data = 1;
            if (h->patient_id) {
                int seen = 0;
                for (int k = 0; k < naudited && !seen; k++) seen = !strcmp(audited[k], h->patient_id);
                if (!seen && naudited < 64)
                    audited[naudited++] = h->patient_id;
                else if (!seen)
                    overflow = 1;
            }
        }
    }
    if (filtered) {
        buf_puts(b, first ? ",\"entry\":[" : ",");
        first = 0;
        buf_puts(b, "{\"resource\":");
        char msg[128];
        snprintf(msg, sizeof msg, "%d result(s) withheld by the access policy", filtered);
        fhir_outcome(b, "warning", "suppressed", msg, NULL);
        buf_puts(b, ",\"search\":{\"mode\":\"outcome\"}}");
    }
    if (!first) buf_putc(b, ']');
    buf_putc(b, '}');
    for (int k = 0; k < naudited; k++)
        rest_audit(app, req, who, "search", "success", op->type, NULL, audited[k], NULL);
    if ((naudited == 0 && (any_patient_data || rest_is_patient_data(op->type))) || overflow)
        rest_audit(app, req, who, "search", "success", op->type, NULL, NULL,
                   overflow ? "results span more than 64 patients" : NULL);
    res->status = 200;
    return buf_ok(b) ? 0 : rest_fail_code(res, SOCLE_ENOMEM, "out of memory");
}

/* --- history --- */

static int rest_history(socle_app *app, http_request *req, const auth_subject *who, store_conn *c, const rest_op *op,
                        rest_result *res)
{
    const char *patient = NULL;
    if (op->kind == REST_HISTORY_INSTANCE) {
        fhir_stored cur;
        int rc = fhir_repo_read(c, op->type, op->id, 0, req->arena, &cur, &res->err);
        if (rc && rc != SOCLE_EGONE) return rest_fail(res, &res->err);
        patient = cur.patient_id;
    }
    if (rest_authorize(app, req, who, op->kind, op->type, op->id, patient, NULL, res)) return res->err.code;
    fhir_history_query q = {.type = op->type, .id = op->id, .since_ms = TIME_MIN_MS, .count = 20};
    const char *since = NULL; /* kept in the links, so that every page holds to it */
    for (int i = 0; i < op->nparams; i++) {
        const char *name = op->params[i].name, *value = op->params[i].value ? op->params[i].value : "";
        if (!strcmp(name, "_count")) {
            char *end;
            long n = strtol(value, &end, 10);
            if (*end || n < 1) return rest_fail_code(res, SOCLE_EINVAL, "_count must be a positive integer");
            q.count = n > 1000 ? 1000 : (int)n;
        } else if (!strcmp(name, "_since")) {
            int64_t hi;
            if (time_parse_fhir(value, &q.since_ms, &hi, &res->err)) {
                socle_err_at(&res->err, SOCLE_EINVAL, "_since", "_since: %s", res->err.msg);
                return rest_fail(res, &res->err);
            }
            socle_buf enc = SOCLE_BUF_INIT;
            text_url_encode(&enc, value);
            since = buf_ok(&enc) ? arena_printf(req->arena, "_since=%s&", enc.data) : NULL;
            buf_free(&enc);
            if (!since) return rest_fail_code(res, SOCLE_ENOMEM, "out of memory");
        } else if (!strcmp(name, "_cursor")) {
            char *end;
            q.before_seq = strtoll(value, &end, 10);
            if (*end || q.before_seq < 1) return rest_fail_code(res, SOCLE_EINVAL, "_cursor is not valid");
        } else if (strcmp(name, "_format") && strcmp(name, "_pretty") && !op->lenient) {
            socle_err_at(&res->err, SOCLE_EINVAL, name, "unknown parameter '%.64s' for history", name);
            return rest_fail(res, &res->err);
        }
    }
    fhir_stored *items;
    size_t n;
    int64_t next;
    if (fhir_repo_history(c, &q, req->arena, &items, &n, &next, &res->err)) return rest_fail(res, &res->err);
    const char *path = op->kind == REST_HISTORY_INSTANCE ? arena_printf(req->arena, "%s/%s/_history", op->type, op->id)
                       : op->kind == REST_HISTORY_TYPE   ? arena_printf(req->arena, "%s/_history", op->type)
                                                         : "_history";
    socle_buf *b = &res->body;
    rest_bundle_open(b, "history");
    buf_puts(b, ",\"link\":[{\"relation\":\"self\",\"url\":");
    buf_json_string(b, arena_printf(req->arena, "%s/%s?%s_count=%d", app->fhir_base, path, since ? since : "", q.count));
    buf_putc(b, '}');
    if (next) {
        buf_puts(b, ",{\"relation\":\"next\",\"url\":");
        buf_json_string(b, arena_printf(req->arena, "%s/%s?%s_count=%d&_cursor=%lld", app->fhir_base, path,
                                        since ? since : "", q.count, (long long)next));
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        fhir_stored *s = &items[i];
        if (op->kind != REST_HISTORY_INSTANCE) {
            auth_target t = {.resource_type = s->type, .resource_id = s->id, .patient_id = s->patient_id};
            auth_decision d;
            auth_policy_decide(app->policy, who, AUTH_ACTION_HISTORY, &t, &d);
            if (!d.allowed) continue;
        }
        char instant[32];
        buf_puts(b, first ? ",\"entry\":[" : ",");
        first = 0;
        buf_puts(b, "{\"fullUrl\":");
        buf_json_string(b, arena_printf(req->arena, "%s/%s/%s", app->fhir_base, s->type, s->id));
        if (!s->deleted) {
            buf_puts(b, ",\"resource\":");
            buf_append(b, s->body, s->body_len);
        }
        const char *method = s->deleted ? "DELETE" : s->version == 1 ? "POST" : "PUT";
        buf_printf(b, ",\"request\":{\"method\":\"%s\",\"url\":", method);
        buf_json_string(b, s->version == 1 && !s->deleted ? s->type : arena_printf(req->arena, "%s/%s", s->type, s->id));
        buf_printf(b, "},\"response\":{\"status\":\"%s\",\"etag\":\"W/\\\"%lld\\\"\",\"lastModified\":\"%s\"}}",
                   s->deleted ? "204 No Content" : s->version == 1 ? "201 Created" : "200 OK", (long long)s->version,
                   time_format_instant(s->last_updated_ms, instant));
        if (rest_is_patient_data(s->type) && op->kind != REST_HISTORY_INSTANCE)
            rest_audit(app, req, who, "history", "success", s->type, s->id, s->patient_id, NULL);
    }
    if (!first) buf_putc(b, ']');
    buf_putc(b, '}');
    if (op->kind == REST_HISTORY_INSTANCE && rest_is_patient_data(op->type))
        rest_audit(app, req, who, "history", "success", op->type, op->id, patient, NULL);
    res->status = 200;
    return buf_ok(b) ? 0 : rest_fail_code(res, SOCLE_ENOMEM, "out of memory");
}

/* --- writes --- */

/* Conditional create: 0 matches -> go on (*existing NULL), 1 -> *existing, more -> 412. */
static int rest_if_none_exist(socle_app *app, http_request *req, store_conn *c, const rest_op *op,
                              fhir_search_hit **existing, rest_result *res);
static int rest_answer_existing(socle_app *app, http_request *req, const auth_subject *who, store_conn *c,
                                const char *type, const char *id, rest_result *res);

/* A conditional create that matched: the existing resource is answered (200) only to a caller who
 * may read it, and that read is traced like any other (FHIR returns the match; it must not become a
 * way round the read policy). */
static int rest_answer_existing(socle_app *app, http_request *req, const auth_subject *who, store_conn *c,
                                const char *type, const char *id, rest_result *res)
{
    fhir_stored s;
    int rc = fhir_repo_read(c, type, id, 0, req->arena, &s, &res->err);
    if (rc) return rest_fail(res, &res->err);
    if (rest_authorize(app, req, who, REST_READ, type, id, s.patient_id, NULL, res)) return res->err.code;
    if ((rc = rest_audit_stored(app, c, req, who, "read", &s, "If-None-Exist matched it", &res->err)))
        return rest_fail(res, &res->err);
    res->status = 200;
    buf_append(&res->body, s.body, s.body_len);
    rest_set_version_headers(res, &s);
    snprintf(res->location, sizeof res->location, "%s/%s/%s/_history/%lld", app->fhir_base, type, id,
             (long long)s.version);
    return 0;
}

int rest_conditional_existing(socle_app *app, http_request *req, const auth_subject *who, store_conn *c,
                              const rest_op *op, const char *existing_id, rest_result *res)
{
    char patient[128];
    if (rest_authorize(app, req, who, REST_CREATE, op->type, NULL, rest_op_patient(op, patient, sizeof patient),
                       op->resource, res))
        return res->err.code;
    return rest_answer_existing(app, req, who, c, op->type, existing_id, res);
}

int rest_conditional_match(socle_app *app, http_request *req, store_conn *c, const char *type, const char *query,
                           const char **id_out, rest_result *res)
{
    rest_op op = {.kind = REST_CREATE, .type = type, .if_none_exist = query};
    fhir_search_hit *existing = NULL;
    *id_out = NULL;
    int rc = rest_if_none_exist(app, req, c, &op, &existing, res);
    if (!rc && existing) *id_out = existing->id;
    return rc;
}

static int rest_if_none_exist(socle_app *app, http_request *req, store_conn *c, const rest_op *op,
                              fhir_search_hit **existing, rest_result *res)
{
    http_param *hp;
    int n;
    const char *q = op->if_none_exist;
    if (*q == '?') q++;
    if (http_parse_query(req->arena, q, &hp, &n) || n == 0)
        return rest_fail_code(res, SOCLE_EINVAL, "If-None-Exist must be a search query such as identifier=system|value");
    fhir_search_param *all = arena_zalloc(req->arena, sizeof *all * (size_t)(n + 2));
    for (int i = 0; i < n; i++) {
        /* Conditions only: these would change what the search returns, not which resources match. */
        static const char *const not_conditions[] = {"_summary", "_count", "_cursor", "_sort", "_include", "_revinclude"};
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(hp[i].name, ":"), hp[i].name);
        for (size_t k = 0; k < sizeof not_conditions / sizeof *not_conditions; k++) {
            if (strcmp(name, not_conditions[k])) continue;
            socle_err_at(&res->err, SOCLE_EINVAL, "If-None-Exist", "If-None-Exist: %s is not a search condition", name);
            return rest_fail(res, &res->err);
        }
        all[i].name = hp[i].name;
        all[i].value = hp[i].value;
    }
    all[n].name = "_count";
    all[n].value = "2";
    all[n + 1].name = "_cursor";
    fhir_search_options opt = {0};
    size_t matches = 0;
    *existing = NULL;
    /* A page may end before its _count (one resource matching many values): follow the pages
     * until two matches or the last page. */
    for (int more = 1, pages = 0; more && matches < 2 && pages < 64; pages++) {
        fhir_search *plan;
        fhir_search_page page;
        if (fhir_search_parse(op->type, all, n + 1 + (pages > 0), &opt, req->arena, &plan, &res->err) ||
            fhir_search_run(c, plan, req->arena, &page, &res->err)) {
            socle_err e = res->err;
            socle_err_at(&res->err, e.code, "If-None-Exist", "If-None-Exist: %s", e.msg);
            return rest_fail(res, &res->err);
        }
        for (size_t i = 0; i < page.nhits; i++)
            if (!page.hits[i].included) {
                matches++;
                if (!*existing) *existing = &page.hits[i];
            }
        more = page.next_cursor != NULL;
        all[n + 1].value = page.next_cursor;
    }
    if (matches > 1)
        return rest_fail_code(res, SOCLE_EPRECONDITION, "If-None-Exist matches more than one resource");
    return 0;
}

static int rest_write(socle_app *app, http_request *req, const auth_subject *who, store_conn *c, const rest_op *op,
                      rest_result *res)
{
    const fhir_type *t = fhir_type_find(op->type);
    if (t->flags & FHIR_TYPE_READONLY) {
        socle_err_set(&res->err, SOCLE_EMETHOD, "%s is read-only: the server writes it", op->type);
        return rest_fail(res, &res->err);
    }
    const char *patient = NULL;
    char patient_buf[128];
    if (op->kind == REST_DELETE) {
        fhir_stored cur;
        int rc = fhir_repo_read(c, op->type, op->id, 0, req->arena, &cur, &res->err);
        if (rc && rc != SOCLE_EGONE && rc != SOCLE_ENOTFOUND) return rest_fail(res, &res->err);
        patient = rc == 0 ? cur.patient_id : NULL;
    } else {
        patient = rest_op_patient(op, patient_buf, sizeof patient_buf);
    }
    if (rest_authorize(app, req, who, op->kind, op->type, op->id, patient, op->resource, res)) return res->err.code;

    fhir_stored s;
    int rc, created = 0, existed = 1;
    if (op->kind != REST_DELETE &&
        (rc = rest_check_write(app, c, req->arena, who, op->type, op->kind == REST_UPDATE ? op->id : NULL, op->resource,
                               &res->err)))
        return rest_fail(res, &res->err);
    if (op->kind == REST_CREATE) {
        fhir_search_hit *existing = NULL;
        if (op->if_none_exist && (rc = rest_if_none_exist(app, req, c, op, &existing, res))) return rc;
        if (existing) return rest_answer_existing(app, req, who, c, existing->type, existing->id, res);
        rc = fhir_repo_create(c, op->type, op->id, op->resource, req->arena, &s, &res->err);
        created = 1;
    } else if (op->kind == REST_UPDATE) {
        rc = fhir_repo_update(c, op->type, op->id, op->resource, op->if_match, req->arena, &s, &created, &res->err);
    } else {
        rc = fhir_repo_delete(c, op->type, op->id, req->arena, &s, &existed, &res->err);
        if (!rc && !existed) {
            res->status = 204;
            return 0;
        }
        s.patient_id = patient; /* the trace of a deletion names the patient it was about */
    }
    if (!rc) rc = rest_audit_stored(app, c, req, who, rest_kind_action[op->kind], &s, NULL, &res->err);
    if (rc) return rest_fail(res, &res->err);
    if (op->kind == REST_DELETE) {
        res->status = 204;
        rest_set_version_headers(res, &s);
        return 0;
    }
    res->status = created ? 201 : 200;
    rest_set_version_headers(res, &s);
    snprintf(res->location, sizeof res->location, "%s/%s/%s/_history/%lld", app->fhir_base, s.type, s.id,
             (long long)s.version);
    if (!op->return_minimal) buf_append(&res->body, s.body, s.body_len);
    return 0;
}

int rest_add_write_hook(socle_app *app, const char *type, rest_write_hook_fn fn, void *ctx)
{
    if (app->nwrite_hooks >= REST_MAX_WRITE_HOOKS) return SOCLE_EINTERNAL;
    app->write_hooks[app->nwrite_hooks++] = (rest_write_hook){.type = type, .fn = fn, .ctx = ctx};
    return 0;
}

int rest_add_type_handler(socle_app *app, const char *type, rest_type_handler_fn fn, void *ctx)
{
    if (app->ntype_handlers >= REST_MAX_TYPE_HANDLERS) return SOCLE_EINTERNAL;
    app->type_handlers[app->ntype_handlers].type = type;
    app->type_handlers[app->ntype_handlers].fn = fn;
    app->type_handlers[app->ntype_handlers++].ctx = ctx;
    return 0;
}

void rest_set_bundle_handler(socle_app *app, rest_bundle_handler_fn fn, void *ctx)
{
    app->bundle_handler = fn;
    app->bundle_handler_ctx = ctx;
}

int rest_check_write(socle_app *app, store_conn *c, arena *a, const auth_subject *who, const char *type, const char *id,
                     json_t *resource, socle_err *err)
{
    json_t *previous = NULL;
    int loaded = 0, rc = 0;
    for (int i = 0; !rc && i < app->nwrite_hooks; i++) {
        const rest_write_hook *h = &app->write_hooks[i];
        if (strcmp(h->type, type)) continue;
        /* The current version, loaded only when a hook wants it. */
        if (!loaded && id) {
            fhir_stored cur;
            int r = fhir_repo_read(c, type, id, 0, a, &cur, err);
            if (r == 0) previous = json_loadb(cur.body, cur.body_len, 0, NULL);
            else if (r != SOCLE_ENOTFOUND && r != SOCLE_EGONE) return r;
            socle_err_clear(err);
        }
        loaded = 1;
        rc = h->fn(h->ctx, c, who, type, id, resource, previous, err);
    }
    json_decref(previous);
    return rc;
}

static int rest_is_write(rest_kind k)
{
    return k == REST_CREATE || k == REST_UPDATE || k == REST_DELETE;
}

int rest_interact(socle_app *app, http_request *req, const auth_subject *who, store_conn *conn, const rest_op *op,
                  rest_result *res)
{
    res->status = 0;
    res->etag[0] = res->last_modified[0] = res->location[0] = 0;
    res->content_type = NULL;
    socle_err_clear(&res->err);
    if (op->type && !fhir_type_find(op->type)) {
        socle_err_set(&res->err, SOCLE_ENOTFOUND, "unknown resource type '%.64s'", op->type);
        return rest_fail(res, &res->err);
    }
    if (op->id && !id_fhir_valid(op->id)) {
        socle_err_set(&res->err, SOCLE_EINVAL, "'%.64s' is not a valid resource id", op->id);
        return rest_fail(res, &res->err);
    }
    /* Types a service serves itself. */
    for (int i = 0; op->type && i < app->ntype_handlers; i++) {
        if (strcmp(app->type_handlers[i].type, op->type)) continue;
        int rc = app->type_handlers[i].fn(app->type_handlers[i].ctx, req, who, conn, op, res);
        if (rc != REST_PASS) return rc;
        break;
    }
    /* AuditEvent is the audit module's: read-only, served from the trail. */
    if (op->type && !strcmp(op->type, "AuditEvent")) {
        if (rest_is_write(op->kind))
            return rest_fail_code(res, SOCLE_EMETHOD, "AuditEvent is read-only: the server writes the audit trail");
        if (op->kind != REST_READ && op->kind != REST_SEARCH)
            return rest_fail_code(res, SOCLE_EMETHOD, "AuditEvent supports read and search only");
        if (rest_authorize(app, req, who, op->kind, op->type, op->id, NULL, NULL, res)) return res->err.code;
        int rc;
        /* The accesses already answered are in the trail read here; not inside the caller's own
         * transaction (a Bundle), whose lock would keep the audit writer from committing. */
        if (!conn) audit_flush_within(app->audit, AUDIT_READER_FLUSH_MS);
        if (op->kind == REST_READ) {
            rc = audit_read(app->store, op->id, &res->body, &res->err);
        } else {
            audit_query_param *qp = arena_zalloc(req->arena, sizeof *qp * (size_t)(op->nparams ? op->nparams : 1));
            for (int i = 0; i < op->nparams; i++) {
                qp[i].name = op->params[i].name;
                qp[i].value = op->params[i].value ? op->params[i].value : "";
            }
            rc = audit_search(app->store, qp, op->nparams, op->lenient, app->fhir_base, &res->body, &res->err);
        }
        if (rc) return rest_fail(res, &res->err);
        rest_audit(app, req, who, op->kind == REST_READ ? "read" : "search", "success", "AuditEvent", op->id, NULL, NULL);
        res->status = 200;
        return 0;
    }

    int64_t t0 = time_monotonic_ns();
    store_conn *c = conn;
    int own = conn == NULL, rc = 0;
    if (own && (rc = store_acquire(app->store, &c, &res->err))) return rest_fail(res, &res->err);
    int tx = own && rest_is_write(op->kind);
    if (tx && (rc = store_tx_begin(c, &res->err))) {
        store_release(app->store, c);
        return rest_fail(res, &res->err);
    }
    switch (op->kind) {
    case REST_READ:
    case REST_VREAD: rc = rest_read(app, req, who, c, op, res); break;
    case REST_SEARCH: rc = rest_search(app, req, who, c, op, res); break;
    case REST_HISTORY_INSTANCE:
    case REST_HISTORY_TYPE:
    case REST_HISTORY_SYSTEM: rc = rest_history(app, req, who, c, op, res); break;
    default: rc = rest_write(app, req, who, c, op, res); break;
    }
    if (tx) {
        if (rc == 0 && (rc = store_tx_commit(c, &res->err))) rest_fail(res, &res->err);
        if (rc) store_tx_rollback(c);
    }
    if (own) store_release(app->store, c);
    metrics_observe_store(req->metrics, time_monotonic_ns() - t0);
    return rc;
}

void rest_respond_result(http_request *req, http_response *res, rest_result *r)
{
    res->status = r->status;
    buf_free(&res->body);
    res->body = r->body;
    buf_init(&r->body);
    if (r->content_type) res->content_type = r->content_type;
    if (r->etag[0]) http_set_header(req, res, "ETag", r->etag);
    if (r->last_modified[0]) http_set_header(req, res, "Last-Modified", r->last_modified);
    if (r->location[0]) http_set_header(req, res, r->status == 201 ? "Location" : "Content-Location", r->location);
}
