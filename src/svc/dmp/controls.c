/* controls.c - the patient's controls over their DMP and the professionals' emergency accesses, as
 * FHIR operations (POST, Parameters in, OperationOutcome or Parameters out):
 *
 *   Patient/{id}/$dmp-oppose | $dmp-close | $dmp-reopen              record state (the patient)
 *   Patient/{id}/$dmp-block | $dmp-unblock                           professional= IDNPS
 *   Patient/{id}/$dmp-authorize | $dmp-revoke                        professional= IDNPS, or
 *                                                                    structure= (the care team)
 *   Patient/{id}/$dmp-medecin-traitant                               professional= IDNPS ("" to clear)
 *   Patient/{id}/$dmp-emergency-opposition                           mode=, oppose= (boolean)
 *   Patient/{id}/$dmp-emergency-access                               mode=bris_de_glace|centre_15, reason=
 *   Patient/{id}/$dmp-notifications (GET)                            the patient's notifications
 *   DocumentReference/{id}/$dmp-mask | $dmp-unmask                   MASQUE_PS (the patient)
 *
 * Every change is decided by the policy engine ("dmp-access" rule, type "DMP") and written to the
 * audit trail in the same transaction. */
#include <stdio.h>
#include <string.h>

#include "base/timeutil.h"
#include "svc/dmp/dmp_internal.h"
#include "svc/ins/ins.h"

typedef enum {
    DMP_OP_OPPOSE = 1,
    DMP_OP_CLOSE,
    DMP_OP_REOPEN,
    DMP_OP_BLOCK,
    DMP_OP_UNBLOCK,
    DMP_OP_AUTHORIZE,
    DMP_OP_REVOKE,
    DMP_OP_MEDECIN_TRAITANT,
    DMP_OP_EMERGENCY_OPPOSITION,
    DMP_OP_EMERGENCY_ACCESS,
    DMP_OP_MASK,
    DMP_OP_UNMASK,
} dmp_operation;

typedef struct dmp_op_route {
    dmp_service *svc;
    dmp_operation op;
    const char *name;
} dmp_op_route;

/* The value of a Parameters parameter as a string (valueString, valueCode, valueIdentifier.value,
 * valueBoolean as "true"/"false"); NULL when absent. */
static const char *dmp_param(const json_t *params, const char *name)
{
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(params, "parameter"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (!n || strcmp(n, name)) continue;
        const json_t *v;
        if ((v = json_object_get(p, "valueString")) || (v = json_object_get(p, "valueCode")))
            return json_string_value(v);
        if ((v = json_object_get(p, "valueIdentifier")))
            return json_string_value(json_object_get(v, "value"));
        if ((v = json_object_get(p, "valueBoolean"))) return json_is_true(v) ? "true" : "false";
    }
    return NULL;
}

static void dmp_op_fail(http_request *req, http_response *res, int code, const char *where, const char *msg)
{
    socle_err err;
    socle_err_at(&err, code, where, "%s", msg);
    http_respond_error(req, res, &err);
}

/* The trace of a change to the patient's record, in the caller's transaction. */
static int dmp_op_audit(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                        const char *action, const char *patient_id, const char *detail, socle_err *err)
{
    fhir_stored s = {.type = "Patient", .id = patient_id, .patient_id = patient_id};
    return rest_audit_stored(svc->app, c, req, who, action, &s, detail, err);
}

/* The record to act on: the stored one, or (for a patient without one yet) a fresh record of
 * their qualified identity. */
static int dmp_op_record(store_conn *c, const char *patient_id, dmp_record *r, socle_err *err)
{
    int rc = dmp_record_load(c, patient_id, r, err);
    if (rc != SOCLE_ENOTFOUND) return rc;
    char matricule[16], oid[64];
    rc = ins_outward_identifier(c, patient_id, matricule, oid, err);
    if (rc == SOCLE_EUNPROCESSABLE || rc == SOCLE_ENOTFOUND)
        return socle_err_set(err, SOCLE_ENOTFOUND, "this patient has no qualified identity and so no DMP");
    if (rc) return rc;
    memset(r, 0, sizeof *r);
    snprintf(r->patient_id, sizeof r->patient_id, "%s", patient_id);
    snprintf(r->ins, sizeof r->ins, "%s", matricule);
    r->facts.state = DMP_RECORD_ACTIVE;
    return 0;
}

/* The operations on the record and the patient's controls. Returns 0 with *detail set for the
 * trace, or an error (err). */
static int dmp_op_apply(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                        dmp_operation op, dmp_record *r, const json_t *params, const char **detail,
                        socle_err *err)
{
    const char *pro = dmp_param(params, "professional"), *structure = dmp_param(params, "structure");
    if ((op == DMP_OP_AUTHORIZE || op == DMP_OP_REVOKE) && structure && !pro) {
        /* The care team: a structure whose professionals read in normal mode. */
        if (!*structure || strlen(structure) >= 128)
            return socle_err_at(err, SOCLE_EINVAL, "structure", "structure must be a structure identifier");
        *detail = structure;
        return dmp_care_team_set(c, r->patient_id, structure, op == DMP_OP_AUTHORIZE, err);
    }
    int needs_pro = op == DMP_OP_BLOCK || op == DMP_OP_UNBLOCK || op == DMP_OP_AUTHORIZE ||
                    op == DMP_OP_REVOKE || op == DMP_OP_MEDECIN_TRAITANT;
    if (needs_pro && (!pro || (op != DMP_OP_MEDECIN_TRAITANT && !*pro) || strlen(pro) >= 32))
        return socle_err_at(err, SOCLE_EINVAL, "professional",
                            "this operation needs the parameter 'professional' (the professional's IDNPS)");
    if (needs_pro && *pro) {
        fhir_stored s;
        if (fhir_repo_read(c, "Practitioner", pro, 0, req->arena, &s, err))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "professional",
                                "professional %.32s is not in the directory", pro);
    }
    *detail = pro;
    switch (op) {
    case DMP_OP_OPPOSE:
        r->facts.state = DMP_RECORD_OPPOSED;
        break;
    case DMP_OP_CLOSE:
        if (r->facts.state != DMP_RECORD_ACTIVE)
            return socle_err_set(err, SOCLE_EUNPROCESSABLE, "only an active record can be closed");
        r->facts.state = DMP_RECORD_CLOSED;
        break;
    case DMP_OP_REOPEN:
        r->facts.state = DMP_RECORD_ACTIVE;
        break;
    case DMP_OP_BLOCK:
    case DMP_OP_UNBLOCK:
        return dmp_control_set(c, r->patient_id, "block", pro, op == DMP_OP_BLOCK, err);
    case DMP_OP_AUTHORIZE:
    case DMP_OP_REVOKE:
        return dmp_control_set(c, r->patient_id, "authorise", pro, op == DMP_OP_AUTHORIZE, err);
    case DMP_OP_MEDECIN_TRAITANT:
        snprintf(r->medecin_traitant, sizeof r->medecin_traitant, "%s", pro);
        break;
    case DMP_OP_EMERGENCY_OPPOSITION: {
        const char *mode = dmp_param(params, "mode"), *oppose = dmp_param(params, "oppose");
        dmp_mode m;
        if (!mode || dmp_mode_parse(mode, &m) || m == DMP_MODE_NORMAL)
            return socle_err_at(err, SOCLE_EINVAL, "mode", "mode must be bris_de_glace or centre_15");
        if (!oppose) return socle_err_at(err, SOCLE_EINVAL, "oppose", "oppose (boolean) is required");
        int on = !strcmp(oppose, "true");
        if (m == DMP_MODE_BRIS_DE_GLACE)
            r->facts.opposes_bris_de_glace = on;
        else
            r->facts.opposes_centre_15 = on;
        *detail = on ? "opposed" : "accepted";
        break;
    }
    default:
        return socle_err_set(err, SOCLE_EINTERNAL, "unexpected operation");
    }
    (void)svc;
    (void)who;
    return dmp_record_save(c, r, err);
}

/* A professional opens bris de glace / centre 15 on the record: audited with the reason, and
 * notified to the patient. */
static int dmp_op_emergency(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                            dmp_record *r, const json_t *params, rest_result *res)
{
    const char *mode = dmp_param(params, "mode"), *reason = dmp_param(params, "reason");
    dmp_mode m = DMP_MODE_NORMAL;
    if (!mode || dmp_mode_parse(mode, &m) || m == DMP_MODE_NORMAL) {
        socle_err_at(&res->err, SOCLE_EINVAL, "mode", "mode must be bris_de_glace or centre_15");
        return rest_fail(res, &res->err);
    }
    if (!reason || !*reason || strlen(reason) > 500) {
        socle_err_at(&res->err, SOCLE_EINVAL, "reason",
                     "an emergency access needs its reason (at most 500 characters)");
        return rest_fail(res, &res->err);
    }
    dmp_reader reader;
    if (dmp_reader_load(svc, c, who, r, &reader, NULL, &res->err)) return rest_fail(res, &res->err);
    dmp_policy_context pc = {.check = DMP_CHECK_EMERGENCY,
                             .matrix = svc->matrix,
                             .record = &r->facts,
                             .reader = &reader,
                             .mode = m};
    if (dmp_authorize(svc, req, who, AUTH_ACTION_OPERATION, "DMP", NULL, r->patient_id, &pc, res))
        return res->err.code;
    char *detail = arena_printf(req->arena, "mode=%s; reason: %s", dmp_mode_name(m), reason);
    int rc = dmp_emergency_open(c, r->patient_id, who->sub, m, reason, time_now_ms() + svc->emergency_ms,
                                &res->err);
    if (!rc) rc = dmp_notify(c, r->patient_id, "emergency-access", who->sub, dmp_mode_name(m), &res->err);
    if (!rc) rc = dmp_op_audit(svc, c, req, who, "emergency-access", r->patient_id, detail, &res->err);
    return rc ? rest_fail(res, &res->err) : 0;
}

/* The patient masks or unmasks one of their documents (MASQUE_PS in securityLabel). */
static int dmp_op_mask(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                       const char *doc_id, int mask, rest_result *res)
{
    dmp_document d;
    int rc = dmp_document_load(c, doc_id, &d, &res->err);
    dmp_record r;
    if (!rc) rc = dmp_record_load(c, d.patient_id, &r, &res->err);
    /* A document the patient may not see yet is, for them, not there. */
    if (rc == SOCLE_ENOTFOUND || (!rc && (!strcmp(d.status, "withdrawn") || d.invisible_patient)))
        return rest_fail(res, &(socle_err){.code = SOCLE_ENOTFOUND, .msg = "no such document"});
    if (rc) return rest_fail(res, &res->err);
    dmp_policy_context pc = {
        .check = DMP_CHECK_CONTROL, .matrix = svc->matrix, .record = &r.facts, .ins = r.ins};
    if (dmp_authorize(svc, req, who, AUTH_ACTION_OPERATION, "DMP", doc_id, d.patient_id, &pc, res))
        return res->err.code;
    fhir_stored s;
    if ((rc = fhir_repo_read(c, "DocumentReference", doc_id, 0, req->arena, &s, &res->err)))
        return rest_fail(res, &res->err);
    json_t *doc = json_loadb(s.body, s.body_len, 0, NULL);
    json_t *labels = json_object_get(doc, "securityLabel");
    if (!json_is_array(labels)) json_object_set_new(doc, "securityLabel", labels = json_array());
    /* Remove every MASQUE_PS coding, then add one when masking. */
    for (size_t i = json_array_size(labels); i-- > 0;) {
        json_t *codings = json_object_get(json_array_get(labels, i), "coding");
        for (size_t k = json_array_size(codings); k-- > 0;) {
            const char *code = json_string_value(json_object_get(json_array_get(codings, k), "code"));
            if (code && !strcmp(code, "MASQUE_PS")) json_array_remove(codings, k);
        }
        if (json_array_size(codings) == 0) json_array_remove(labels, i);
    }
    if (mask)
        json_array_append_new(
            labels, json_pack("{s:[{s:s, s:s, s:s}]}", "coding", "system",
                              "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/"
                              "TRE-A07-StatusVisibiliteDocument",
                              "code", "MASQUE_PS", "display", "Masqué aux professionnels de santé"));
    int created;
    rc = fhir_repo_update_ex(c, "DocumentReference", doc_id, doc, 0, FHIR_REPO_UNINDEXED, req->arena, &s,
                             &created, &res->err);
    json_decref(doc);
    if (!rc) rc = rest_audit_stored(svc->app, c, req, who, mask ? "mask" : "unmask", &s, NULL, &res->err);
    d.masked = mask;
    d.body = s.body;
    d.body_len = s.body_len;
    if (!rc) rc = dmp_document_set(c, &d, &res->err);
    return rc ? rest_fail(res, &res->err) : 0;
}

static void dmp_op_handler(void *ctx, http_request *req, http_response *res)
{
    const dmp_op_route *route = ctx;
    dmp_service *svc = route->svc;
    auth_subject who;
    if (rest_authenticate(svc->app, req, res, &who)) return;
    const char *id = http_path_param(req, "id");
    json_t *params = NULL;
    if (req->body_len) {
        socle_err perr;
        if (fhir_json_parse(req->body, req->body_len, &svc->app->limits, &params, &perr)) {
            http_respond_error(req, res, &perr);
            return;
        }
        const char *rt = json_string_value(json_object_get(params, "resourceType"));
        if (!rt || strcmp(rt, "Parameters")) {
            json_decref(params);
            dmp_op_fail(req, res, SOCLE_EINVAL, "resourceType",
                        "the body of an operation is a Parameters resource");
            return;
        }
    }
    rest_result r = {0};
    store_conn *c;
    if (store_acquire(svc->app->store, &c, &r.err)) {
        json_decref(params);
        http_respond_error(req, res, &r.err);
        return;
    }
    int rc = store_tx_begin(c, &r.err);
    if (rc) rest_fail(&r, &r.err);
    if (!rc && (route->op == DMP_OP_MASK || route->op == DMP_OP_UNMASK)) {
        rc = dmp_op_mask(svc, c, req, &who, id, route->op == DMP_OP_MASK, &r);
    } else if (!rc) {
        dmp_record record;
        rc = dmp_op_record(c, id, &record, &r.err);
        if (rc) {
            rest_fail(&r, &r.err);
        } else if (route->op == DMP_OP_EMERGENCY_ACCESS) {
            rc = dmp_op_emergency(svc, c, req, &who, &record, params, &r);
        } else {
            dmp_policy_context pc = {.check = DMP_CHECK_CONTROL,
                                     .matrix = svc->matrix,
                                     .record = &record.facts,
                                     .ins = record.ins};
            const char *detail = NULL;
            rc = dmp_authorize(svc, req, &who, AUTH_ACTION_OPERATION, "DMP", NULL, id, &pc, &r);
            if (!rc && (rc = dmp_op_apply(svc, c, req, &who, route->op, &record, params, &detail, &r.err)))
                rest_fail(&r, &r.err);
            if (!rc && (rc = dmp_op_audit(svc, c, req, &who, route->name + 1, id, detail, &r.err)))
                rest_fail(&r, &r.err);
        }
    }
    if (!rc && (rc = store_tx_commit(c, &r.err))) rest_fail(&r, &r.err);
    if (rc) store_tx_rollback(c);
    store_release(svc->app->store, c);
    json_decref(params);
    if (rc) {
        rest_respond_result(req, res, &r);
        buf_free(&r.body);
        return;
    }
    buf_free(&r.body);
    http_respond_status(req, res, 200, "informational", "done");
}

/* GET Patient/{id}/$dmp-notifications: the patient's notifications, newest first, as Parameters. */
static void dmp_notifications_route(void *ctx, http_request *req, http_response *res)
{
    dmp_service *svc = ((const dmp_op_route *)ctx)->svc;
    auth_subject who;
    if (rest_authenticate(svc->app, req, res, &who)) return;
    const char *id = http_path_param(req, "id");
    rest_result r = {0};
    store_conn *c;
    store_defer_flush(svc->app->store); /* first-access notices of this node's recent reads */
    if (store_acquire(svc->app->store, &c, &r.err)) {
        http_respond_error(req, res, &r.err);
        return;
    }
    dmp_record record;
    int rc = dmp_record_load(c, id, &record, &r.err);
    if (rc) {
        store_release(svc->app->store, c);
        http_respond_error(req, res, &r.err);
        return;
    }
    dmp_policy_context pc = {
        .check = DMP_CHECK_CONTROL, .matrix = svc->matrix, .record = &record.facts, .ins = record.ins};
    if (dmp_authorize(svc, req, &who, AUTH_ACTION_OPERATION, "DMP", NULL, id, &pc, &r)) {
        store_release(svc->app->store, c);
        rest_respond_result(req, res, &r);
        buf_free(&r.body);
        return;
    }
    store_value p[1] = {STORE_V_TEXT(id)};
    store_rows *rows = NULL;
    rc = store_query(c,
                     "SELECT kind, idnps, detail, created FROM dmp_notification WHERE patient_id = $1"
                     " ORDER BY created DESC LIMIT 500",
                     p, 1, &rows, &r.err);
    socle_buf *b = &res->body;
    buf_puts(b, "{\"resourceType\":\"Parameters\",\"parameter\":[");
    int first = 1;
    while (rc == 0 && (rc = store_rows_next(rows, &r.err)) == 1) {
        rc = 0;
        char when[32];
        buf_puts(b, first ? "" : ",");
        first = 0;
        buf_puts(b, "{\"name\":\"notification\",\"part\":[{\"name\":\"kind\",\"valueCode\":");
        buf_json_string(b, store_rows_text(rows, 0, NULL));
        buf_puts(b, "},{\"name\":\"professional\",\"valueString\":");
        buf_json_string(b, store_rows_text(rows, 1, NULL));
        buf_puts(b, "},{\"name\":\"time\",\"valueInstant\":");
        buf_json_string(b, time_format_instant(store_rows_int(rows, 3), when));
        const char *detail = store_rows_text(rows, 2, NULL);
        if (detail && *detail) {
            buf_puts(b, "},{\"name\":\"detail\",\"valueString\":");
            buf_json_string(b, detail);
        }
        buf_puts(b, "}]}");
    }
    if (rows) store_rows_free(rows);
    store_release(svc->app->store, c);
    buf_puts(b, "]}");
    if (rc < 0) {
        buf_reset(b);
        http_respond_error(req, res, &r.err);
        return;
    }
    rest_audit(svc->app, req, &who, "read", "success", "DMP", "notifications", id, NULL);
}

int dmp_controls_register(dmp_service *svc, http_router *router)
{
    static const struct {
        dmp_operation op;
        const char *type, *name;
    } ops[] = {
        {DMP_OP_OPPOSE, "Patient", "$dmp-oppose"},
        {DMP_OP_CLOSE, "Patient", "$dmp-close"},
        {DMP_OP_REOPEN, "Patient", "$dmp-reopen"},
        {DMP_OP_BLOCK, "Patient", "$dmp-block"},
        {DMP_OP_UNBLOCK, "Patient", "$dmp-unblock"},
        {DMP_OP_AUTHORIZE, "Patient", "$dmp-authorize"},
        {DMP_OP_REVOKE, "Patient", "$dmp-revoke"},
        {DMP_OP_MEDECIN_TRAITANT, "Patient", "$dmp-medecin-traitant"},
        {DMP_OP_EMERGENCY_OPPOSITION, "Patient", "$dmp-emergency-opposition"},
        {DMP_OP_EMERGENCY_ACCESS, "Patient", "$dmp-emergency-access"},
        {DMP_OP_MASK, "DocumentReference", "$dmp-mask"},
        {DMP_OP_UNMASK, "DocumentReference", "$dmp-unmask"},
    };
    static dmp_op_route routes[sizeof ops / sizeof ops[0] + 1];
    size_t n = sizeof ops / sizeof ops[0];
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        routes[i] = (dmp_op_route){.svc = svc, .op = ops[i].op, .name = ops[i].name};
        char pattern[96], label[64];
        snprintf(pattern, sizeof pattern, "/fhir/%s/{id}/%s", ops[i].type, ops[i].name);
        snprintf(label, sizeof label, "dmp.%s", ops[i].name + 1);
        rc = http_route(router, "POST", pattern, label, dmp_op_handler, &routes[i]);
    }
    routes[n] = (dmp_op_route){.svc = svc, .name = "$dmp-notifications"};
    if (!rc)
        rc = http_route(router, "GET", "/fhir/Patient/{id}/$dmp-notifications", "dmp.notifications",
                        dmp_notifications_route, &routes[n]);
    return rc;
}
