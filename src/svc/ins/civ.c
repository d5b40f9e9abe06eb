/* civ.c - the identitovigilance cell's HTTP routes (role "civ", or admin):
 *   GET  /ins/v1/doublons[?score=N]            candidate duplicate pairs (default threshold 60)
 *   POST /ins/v1/fusion   {"survivant": id, "doublon": id}   merge; answers the merge id
 *   POST /ins/v1/defusion {"fusion": merge id}              undo within ins_unmerge_window_hours
 * Every call is authorized by the policy engine and audited. See vigilance.c for the rules. */
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "svc/ins/ins_internal.h"

static void civ_route_duplicates(void *ctx, http_request *req, http_response *res)
{
    ins_service *ins = ctx;
    auth_subject who;
    if (ins_admit(ins, req, res, "Patient", "ins-doublons", &who)) return;
    socle_err err = {0};
    const char *score = http_query(req, "score");
    char *end = NULL;
    long min = score ? strtol(score, &end, 10) : 60;
    if (score && (*end || min < 0 || min > 100)) {
        socle_err_at(&err, SOCLE_EINVAL, "score", "score must be an integer from 0 to 100");
        http_respond_error(req, res, &err);
        return;
    }
    store_conn *c;
    ins_duplicate *pairs = NULL;
    size_t n = 0;
    int rc = store_acquire(ins->app->store, &c, &err);
    if (!rc) {
        rc = ins_duplicates(c, (int)min, &pairs, &n, &err);
        store_release(ins->app->store, c);
    }
    if (rc) {
        http_respond_error(req, res, &err);
        return;
    }
    rest_audit(ins->app, req, &who, "ins-doublons", "success", "Patient", NULL, NULL, NULL);
    res->content_type = "application/json";
    buf_puts(&res->body, "{\"paires\":[");
    for (size_t i = 0; i < n; i++) {
        buf_puts(&res->body, i ? ",{\"patient1\":" : "{\"patient1\":");
        buf_json_string(&res->body, arena_printf(req->arena, "Patient/%s", pairs[i].first));
        buf_puts(&res->body, ",\"patient2\":");
        buf_json_string(&res->body, arena_printf(req->arena, "Patient/%s", pairs[i].second));
        buf_printf(&res->body, ",\"score\":%d,\"criteres\":[", pairs[i].score);
        const char *p = pairs[i].criteria;
        for (int k = 0; *p; k++) {
            size_t len = strcspn(p, ",");
            if (k) buf_putc(&res->body, ',');
            buf_json_stringn(&res->body, p, len);
            p += len + (p[len] == ',');
        }
        buf_puts(&res->body, "]}");
    }
    buf_puts(&res->body, "]}");
    free(pairs);
}

/* A bare id or "Patient/id" from the body; NULL (and err) when absent or not an id. */
static const char *civ_patient_id(const json_t *body, const char *key, socle_err *err)
{
    const char *v = json_string_value(json_object_get(body, key));
    if (v && !strncmp(v, "Patient/", 8)) v += 8;
    if (!v || !id_fhir_valid(v)) {
        socle_err_at(err, SOCLE_EINVAL, key, "%s must be a Patient id (or Patient/id)", key);
        return NULL;
    }
    return v;
}

static void civ_route_merge(void *ctx, http_request *req, http_response *res)
{
    ins_service *ins = ctx;
    auth_subject who;
    if (ins_admit(ins, req, res, "Patient", "ins-fusion", &who)) return;
    json_t *body;
    if (ins_json_body(ins, req, res, &body)) return;
    socle_err err = {0};
    const char *survivor = civ_patient_id(body, "survivant", &err);
    const char *merged = survivor ? civ_patient_id(body, "doublon", &err) : NULL;
    char merge_id[37] = "";
    size_t n = 0;
    store_conn *c = NULL;
    int rc = merged ? 0 : err.code;
    if (!rc) rc = store_acquire(ins->app->store, &c, &err);
    if (!rc && !(rc = store_tx_begin(c, &err))) {
        rc = ins_merge(ins, c, &who, survivor, merged, merge_id, &n, &err);
        if (!rc) rc = store_tx_commit(c, &err);
        if (rc) store_tx_rollback(c);
    }
    if (c) store_release(ins->app->store, c);
    rest_audit(ins->app, req, &who, "ins-fusion", rc ? "failure" : "success", "Patient", merged, merged,
               rc ? socle_err_name(rc) : merge_id);
    if (rc) {
        http_respond_error(req, res, &err);
    } else {
        res->content_type = "application/json";
        buf_puts(&res->body, "{\"fusion\":");
        buf_json_string(&res->body, merge_id);
        buf_puts(&res->body, ",\"survivant\":");
        buf_json_string(&res->body, arena_printf(req->arena, "Patient/%s", survivor));
        buf_puts(&res->body, ",\"doublon\":");
        buf_json_string(&res->body, arena_printf(req->arena, "Patient/%s", merged));
        buf_printf(&res->body, ",\"referencesModifiees\":%zu}", n);
    }
    json_decref(body);
}

static void civ_route_unmerge(void *ctx, http_request *req, http_response *res)
{
    ins_service *ins = ctx;
    auth_subject who;
    if (ins_admit(ins, req, res, "Patient", "ins-defusion", &who)) return;
    json_t *body;
    if (ins_json_body(ins, req, res, &body)) return;
    socle_err err = {0};
    const char *merge_id = json_string_value(json_object_get(body, "fusion"));
    size_t n = 0;
    store_conn *c = NULL;
    int rc = merge_id && strlen(merge_id) == 36 ? 0 : socle_err_at(&err, SOCLE_EINVAL, "fusion", "fusion must be a merge id");
    int64_t window = config_get_int(ins->app->config, "ins_unmerge_window_hours", 720) * 3600 * 1000;
    if (!rc) rc = store_acquire(ins->app->store, &c, &err);
    if (!rc && !(rc = store_tx_begin(c, &err))) {
        rc = ins_unmerge(ins, c, &who, merge_id, window, &n, &err);
        if (!rc) rc = store_tx_commit(c, &err);
        if (rc) store_tx_rollback(c);
    }
    if (c) store_release(ins->app->store, c);
    rest_audit(ins->app, req, &who, "ins-defusion", rc ? "failure" : "success", "Patient", NULL, NULL,
               rc ? socle_err_name(rc) : merge_id);
    if (rc) {
        http_respond_error(req, res, &err);
    } else {
        res->content_type = "application/json";
        buf_puts(&res->body, "{\"fusion\":");
        buf_json_string(&res->body, merge_id);
        buf_printf(&res->body, ",\"defaite\":true,\"referencesRestaurees\":%zu}", n);
    }
    json_decref(body);
}

int ins_register_civ(ins_service *ins, http_router *router)
{
    int rc = http_route(router, "GET", "/ins/v1/doublons", "ins.doublons", civ_route_duplicates, ins);
    if (!rc) rc = http_route(router, "POST", "/ins/v1/fusion", "ins.fusion", civ_route_merge, ins);
    if (!rc) rc = http_route(router, "POST", "/ins/v1/defusion", "ins.defusion", civ_route_unmerge, ins);
    return rc;
}
