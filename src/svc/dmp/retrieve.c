/* retrieve.c - the DMP's own handling of DocumentReference, List and Binary (rest.h type
 * handlers): reads filtered by the policy engine, ITI-68 retrieval of the document bytes, the
 * author's metadata update (securityLabel) and withdrawal, and the patient's own AuditEvents.
 * Documents are only fed through ITI-65 (provide.c). */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "svc/dmp/dmp_internal.h"

static int dmp_refuse(rest_result *res, int code, const char *msg)
{
    socle_err_set(&res->err, code, "%s", msg);
    return rest_fail(res, &res->err);
}

/* The DMP serves professionals and patients; software with a system subject keeps the generic
 * FHIR interactions (the foundation's rules decide for it), except writes to what the DMP holds:
 * a DMP document is updated or withdrawn through the DMP (its index and rules follow), and a
 * document's Binary or submission set is never rewritten. */
static int dmp_serves(const auth_subject *who)
{
    return who->kind == AUTH_KIND_PROFESSIONAL || who->kind == AUTH_KIND_PATIENT;
}

/* Run fn with a connection: the caller's, or one taken for the call (and a transaction for writes). */
typedef int (*dmp_conn_fn)(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                           const rest_op *op, rest_result *res);

static int dmp_with_conn(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *conn,
                         const rest_op *op, rest_result *res, int write, dmp_conn_fn fn)
{
    if (conn) return fn(svc, req, who, conn, op, res);
    store_conn *c;
    if (store_acquire(svc->app->store, &c, &res->err)) return rest_fail(res, &res->err);
    int rc = write ? store_tx_begin(c, &res->err) : 0;
    if (rc) rc = rest_fail(res, &res->err);
    if (!rc) rc = fn(svc, req, who, c, op, res);
    if (write && !rc && (rc = store_tx_commit(c, &res->err))) rest_fail(res, &res->err);
    if (write && rc) store_tx_rollback(c);
    store_release(svc->app->store, c);
    return rc;
}

/* The document `id` if the caller may see it: 404 when it does not exist, is withdrawn or hidden
 * from the caller (a hidden document is indistinguishable from none); 403 when the caller may not
 * open the record at all. */
static int dmp_visible_document(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                                const dmp_document *d, dmp_view *v, rest_result *res)
{
    int rc = dmp_view_open_document(svc, c, req, who, d, v, res);
    if (rc == SOCLE_ENOTFOUND) return dmp_refuse(res, SOCLE_ENOTFOUND, "no such document");
    if (rc) return rc;
    if (!strcmp(d->status, "withdrawn") || !dmp_view_may_see(v, d)) {
        rest_audit(svc->app, req, who, "read", "denied", "DocumentReference", d->id, d->patient_id,
                   "document hidden from the caller");
        return dmp_refuse(res, SOCLE_ENOTFOUND, "no such document");
    }
    return 0;
}

static int dmp_read_document(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                             const rest_op *op, rest_result *res)
{
    dmp_document d;
    int rc = dmp_document_load(c, op->id, &d, &res->err);
    if (rc == SOCLE_ENOTFOUND) return dmp_refuse(res, SOCLE_ENOTFOUND, "no such document");
    if (rc) return rest_fail(res, &res->err);
    dmp_view v;
    if ((rc = dmp_visible_document(svc, req, who, c, &d, &v, res))) return rc;
    fhir_stored s;
    rc = fhir_repo_read(c, "DocumentReference", op->id, op->kind == REST_VREAD ? op->version : 0, req->arena,
                        &s, &res->err);
    if (rc) return rest_fail(res, &res->err);
    rest_audit(svc->app, req, who, op->kind == REST_VREAD ? "vread" : "read", "success", "DocumentReference",
               op->id, d.patient_id, dmp_view_detail(&v));
    res->status = 200;
    buf_append(&res->body, s.body, s.body_len);
    snprintf(res->etag, sizeof res->etag, "W/\"%lld\"", (long long)s.version);
    return 0;
}

int dmp_is_author(const auth_subject *who, const dmp_document *d)
{
    if (who->kind == AUTH_KIND_SYSTEM && strcmp(who->issuer, AUTH_ISSUER_CLIENT_CERT)) return 1;
    if (who->kind != AUTH_KIND_PROFESSIONAL) return 0;
    for (int i = 0; i < d->nauthors; i++)
        if (!strcmp(d->authors[i], who->sub)) return 1;
    return 0;
}

/* The document `id` that the caller is about to change as its author (`action` and `what` name
 * the change for the refusal): 404 when absent or withdrawn, 403 (audited) when not the author. */
static int dmp_authored_document(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                                 const char *id, const char *action, const char *what, dmp_document *d,
                                 rest_result *res)
{
    int rc = dmp_document_load(c, id, d, &res->err);
    if (rc == SOCLE_ENOTFOUND || (!rc && !strcmp(d->status, "withdrawn")))
        return dmp_refuse(res, SOCLE_ENOTFOUND, "no such document");
    if (rc) return rest_fail(res, &res->err);
    char *reason = arena_printf(req->arena, "only the author %s", what);
    if (dmp_is_author(who, d)) {
        /* A closed or opposed record: nothing is fed, and nothing in it changes either. */
        dmp_record r;
        if ((rc = dmp_record_load(c, d->patient_id, &r, &res->err))) return rest_fail(res, &res->err);
        if (r.facts.state == DMP_RECORD_ACTIVE) return 0;
        reason = r.facts.state == DMP_RECORD_CLOSED ? "the DMP is closed" : "the DMP is opposed by the patient";
    }
    rest_audit(svc->app, req, who, action, "denied", "DocumentReference", id, d->patient_id, reason);
    return dmp_refuse(res, SOCLE_EFORBIDDEN, arena_printf(req->arena, "access denied: %s", reason));
}

/* PUT: the author changes the document's securityLabel (confidentiality, masking, announcing an
 * INVISIBLE_PATIENT result); nothing else may change. */
static int dmp_update_document(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                               const rest_op *op, rest_result *res)
{
    dmp_document d;
    int rc =
        dmp_authored_document(svc, req, who, c, op->id, "update", "updates a document's metadata", &d, res);
    if (rc) return rc;
    fhir_stored s;
    if ((rc = fhir_repo_read(c, "DocumentReference", op->id, 0, req->arena, &s, &res->err)))
        return rest_fail(res, &res->err);
    json_t *stored = json_loadb(s.body, s.body_len, 0, NULL);
    json_t *sent = json_deep_copy(op->resource);
    json_object_del(stored, "meta");
    json_object_del(sent, "meta");
    json_object_del(stored, "securityLabel");
    json_object_del(sent, "securityLabel");
    json_object_del(sent, "text");
    json_object_del(stored, "text");
    int same = json_equal(stored, sent);
    json_decref(stored);
    json_decref(sent);
    if (!same)
        return rest_fail(
            res, &(socle_err){.code = SOCLE_EUNPROCESSABLE,
                              .where = "DocumentReference",
                              .msg = "a metadata update may only change DocumentReference.securityLabel;"
                                     " replace the document (ITI-65, relatesTo replaces) to change more"});
    dmp_document check = d;
    if ((rc = dmp_metadata_check(svc, op->resource, &check, &res->err))) return rest_fail(res, &res->err);
    /* MASQUE_PS is the patient's control: an author may mask at the patient's request, only the
     * patient lifts a mask. */
    if (d.masked && !check.masked) {
        const char *reason = "only the patient lifts MASQUE_PS";
        rest_audit(svc->app, req, who, "update", "denied", "DocumentReference", op->id, d.patient_id, reason);
        return dmp_refuse(res, SOCLE_EFORBIDDEN, "access denied: only the patient lifts MASQUE_PS");
    }
    if (op->if_match && op->if_match != s.version)
        return dmp_refuse(res, SOCLE_EPRECONDITION, "If-Match is not the current version");
    int created;
    if ((rc = fhir_repo_update_ex(c, "DocumentReference", op->id, op->resource, 0, FHIR_REPO_UNINDEXED,
                                  req->arena, &s, &created, &res->err)) ||
        (rc = rest_audit_stored(svc->app, c, req, who, "update", &s, "metadata update", &res->err)))
        return rest_fail(res, &res->err);
    d.masked = check.masked;
    d.invisible_patient = check.invisible_patient;
    d.invisible_representatives = check.invisible_representatives;
    d.body = s.body;
    d.body_len = s.body_len;
    if ((rc = dmp_document_set(c, &d, &res->err))) return rest_fail(res, &res->err);
    res->status = 200;
    buf_append(&res->body, s.body, s.body_len);
    snprintf(res->etag, sizeof res->etag, "W/\"%lld\"", (long long)s.version);
    return 0;
}

/* DELETE: the author withdraws the document; it leaves every search and read, its history and
 * the trace stay. */
static int dmp_withdraw_document(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                                 const rest_op *op, rest_result *res)
{
    dmp_document d;
    int rc = dmp_authored_document(svc, req, who, c, op->id, "delete", "withdraws a document", &d, res);
    if (rc) return rc;
    fhir_stored s;
    int existed;
    if ((rc = fhir_repo_delete(c, "DocumentReference", op->id, req->arena, &s, &existed, &res->err)) ||
        (rc = rest_audit_stored(svc->app, c, req, who, "delete", &s, "withdrawn by its author", &res->err)))
        return rest_fail(res, &res->err);
    snprintf(d.status, sizeof d.status, "withdrawn");
    if ((rc = dmp_document_set(c, &d, &res->err))) return rest_fail(res, &res->err);
    res->status = 204;
    return 0;
}

/* Software's write (PUT, DELETE) to a DocumentReference: through the DMP when it is a DMP document,
 * else the generic interaction (REST_PASS). */
static int dmp_system_write(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                            const rest_op *op, rest_result *res)
{
    dmp_document d;
    int rc = dmp_document_load(c, op->id, &d, &res->err);
    if (rc == SOCLE_ENOTFOUND) return REST_PASS;
    if (rc) return rest_fail(res, &res->err);
    return op->kind == REST_UPDATE ? dmp_update_document(svc, req, who, c, op, res)
                                   : dmp_withdraw_document(svc, req, who, c, op, res);
}

/* Software's write (PUT, DELETE) to a List or Binary: refused when it belongs to a DMP document. */
static int dmp_system_write_part(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                                 const rest_op *op, rest_result *res)
{
    int binary = !strcmp(op->type, "Binary");
    store_value p[1] = {STORE_V_TEXT(op->id)};
    int64_t n = 0;
    if (store_query_int(c,
                        binary ? "SELECT COUNT(*) FROM dmp_document WHERE binary_id = $1"
                               : "SELECT COUNT(*) FROM dmp_document WHERE submission_set = $1",
                        p, 1, &n, &res->err))
        return rest_fail(res, &res->err);
    if (!n) return REST_PASS;
    return dmp_refuse(res, SOCLE_EMETHOD,
                      binary ? "a DMP document's Binary is never rewritten: replace the document (ITI-65)"
                             : "a DMP submission set is never rewritten: documents are fed with ITI-65");
}

static int dmp_system_writes(const auth_subject *who, const rest_op *op)
{
    return who->kind == AUTH_KIND_SYSTEM && op->id && (op->kind == REST_UPDATE || op->kind == REST_DELETE);
}

int dmp_handle_document(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                        const rest_op *op, rest_result *res)
{
    dmp_service *svc = ctx;
    if (dmp_system_writes(who, op)) return dmp_with_conn(svc, req, who, conn, op, res, 1, dmp_system_write);
    if (!dmp_serves(who)) return REST_PASS;
    switch (op->kind) {
    case REST_SEARCH:
        return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_find_references);
    case REST_READ:
    case REST_VREAD:
        return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_read_document);
    case REST_UPDATE:
        return dmp_with_conn(svc, req, who, conn, op, res, 1, dmp_update_document);
    case REST_DELETE:
        return dmp_with_conn(svc, req, who, conn, op, res, 1, dmp_withdraw_document);
    case REST_CREATE:
        return dmp_refuse(
            res, SOCLE_EMETHOD,
            "documents are fed with ITI-65: POST /fhir with a provide-document Bundle (SubmissionSet List,"
            " DocumentReference, Binary)");
    default:
        return dmp_refuse(res, SOCLE_EMETHOD, "history is not offered for DMP documents");
    }
}

/* A submission set is visible when at least one of its documents is, and shows only those. */
static int dmp_read_list(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                         const rest_op *op, rest_result *res)
{
    fhir_stored s;
    int rc = fhir_repo_read(c, "List", op->id, op->kind == REST_VREAD ? op->version : 0, req->arena, &s,
                            &res->err);
    if (rc == SOCLE_ENOTFOUND || rc == SOCLE_EGONE || (!rc && !s.patient_id))
        return dmp_refuse(res, SOCLE_ENOTFOUND, "no such List");
    if (rc) return rest_fail(res, &res->err);
    dmp_view v;
    rc = dmp_view_open(svc, c, req, who, s.patient_id, &v, res);
    if (rc == SOCLE_ENOTFOUND) return dmp_refuse(res, SOCLE_ENOTFOUND, "no such List");
    if (rc) return rc;
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT %s FROM dmp_document WHERE submission_set = $1", dmp_document_columns);
    store_value p[1] = {STORE_V_TEXT(op->id)};
    store_rows *rows;
    if ((rc = store_query(c, sql, p, 1, &rows, &res->err))) return rest_fail(res, &res->err);
    size_t visible = 0, cap = 0;
    dmp_document *seen = NULL;
    while ((rc = store_rows_next(rows, &res->err)) == 1) {
        dmp_document d;
        dmp_document_from_row(rows, &d);
        if (!strcmp(d.status, "withdrawn") || !dmp_view_may_see(&v, &d)) continue;
        if (visible == cap) {
            dmp_document *more = arena_alloc(req->arena, sizeof *more * (cap = cap ? 2 * cap : 8));
            if (!more) {
                store_rows_free(rows);
                return dmp_refuse(res, SOCLE_ENOMEM, "out of memory");
            }
            if (visible) memcpy(more, seen, sizeof *more * visible);
            seen = more;
        }
        seen[visible++] = d;
    }
    store_rows_free(rows);
    if (rc < 0) return rest_fail(res, &res->err);
    if (!visible) {
        rest_audit(svc->app, req, who, "read", "denied", "List", op->id, s.patient_id, "no document the caller sees");
        return dmp_refuse(res, SOCLE_ENOTFOUND, "no such List");
    }
    if (dmp_list_only_visible(&s, seen, visible, req->arena, &res->err))
        return rest_fail(res, &res->err);
    rest_audit(svc->app, req, who, "read", "success", "List", op->id, s.patient_id, dmp_view_detail(&v));
    res->status = 200;
    buf_append(&res->body, s.body, s.body_len);
    return 0;
}

int dmp_handle_list(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                    const rest_op *op, rest_result *res)
{
    dmp_service *svc = ctx;
    if (dmp_system_writes(who, op)) return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_system_write_part);
    if (!dmp_serves(who)) return REST_PASS;
    if (op->kind == REST_SEARCH) return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_find_lists);
    if (op->kind == REST_READ || op->kind == REST_VREAD)
        return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_read_list);
    return dmp_refuse(res, SOCLE_EMETHOD,
                      "submission sets are written with ITI-65 (POST /fhir, provide-document Bundle)");
}

/* ITI-68: the document's bytes with their media type, or the Binary resource when the client
 * asks for FHIR JSON. */
static int dmp_read_binary(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                           const rest_op *op, rest_result *res)
{
    dmp_document d;
    int rc = dmp_document_by_binary(c, op->id, &d, &res->err);
    if (rc == SOCLE_ENOTFOUND) return dmp_refuse(res, SOCLE_ENOTFOUND, "no such Binary");
    if (rc) return rest_fail(res, &res->err);
    dmp_view v;
    if ((rc = dmp_visible_document(svc, req, who, c, &d, &v, res))) {
        if (rc == SOCLE_ENOTFOUND) return dmp_refuse(res, SOCLE_ENOTFOUND, "no such Binary");
        return rc;
    }
    fhir_stored s;
    if ((rc = fhir_repo_read(c, "Binary", op->id, 0, req->arena, &s, &res->err)))
        return rest_fail(res, &res->err);
    rest_audit(svc->app, req, who, "read", "success", "Binary", op->id, d.patient_id, dmp_view_detail(&v));
    res->status = 200;
    const char *accept = http_header(req, "Accept");
    if (accept && (strstr(accept, "fhir+json") || strstr(accept, "application/json"))) {
        buf_append(&res->body, s.body, s.body_len);
        return 0;
    }
    json_t *binary = json_loadb(s.body, s.body_len, 0, NULL);
    const char *data = json_string_value(json_object_get(binary, "data"));
    const char *ctype = json_string_value(json_object_get(binary, "contentType"));
    size_t n = data ? strlen(data) : 0, len = 0;
    uint8_t *bytes = arena_alloc(req->arena, n / 4 * 3 + 3);
    if (data && crypto_b64_decode(data, n, bytes, &len)) len = 0;
    res->content_type = arena_strdup(req->arena, ctype ? ctype : "application/octet-stream");
    json_decref(binary);
    buf_append(&res->body, (const char *)bytes, len);
    return buf_ok(&res->body) ? 0 : dmp_refuse(res, SOCLE_ENOMEM, "out of memory");
}

int dmp_handle_binary(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                      const rest_op *op, rest_result *res)
{
    dmp_service *svc = ctx;
    if (dmp_system_writes(who, op)) return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_system_write_part);
    if (!dmp_serves(who)) return REST_PASS;
    if (op->kind == REST_READ) return dmp_with_conn(svc, req, who, conn, op, res, 0, dmp_read_binary);
    return dmp_refuse(res, SOCLE_EMETHOD,
                      "a document's Binary is written with ITI-65 and read by its id (ITI-68)");
}

/* Does an AuditEvent of the page name one of the hidden documents (or its Binary)? */
static int dmp_event_names(json_t *event, json_t *hidden)
{
    size_t i;
    json_t *entity;
    json_array_foreach(json_object_get(event, "entity"), i, entity) {
        const char *ref = json_string_value(json_object_get(json_object_get(entity, "what"), "reference"));
        if (ref && json_object_get(hidden, ref)) return 1;
    }
    return 0;
}

/* What the traces of a record may not name for this reader (documents INVISIBLE_PATIENT, and
 * INVISIBLE_REPRESENTANTS_LEGAUX for a legal representative): those documents, their Binaries,
 * and the submission sets that hold nothing else; as "Type/id" keys of *hidden (empty: none). */
static int dmp_audit_hidden(store_conn *c, const char *patient_id, int representative, json_t *hidden,
                            socle_err *err)
{
#define DMP_HIDDEN_EXPR "(invisible_patient = 1 OR ($2 = 1 AND invisible_representatives = 1))"
    store_value p[2] = {STORE_V_TEXT(patient_id), STORE_V_INT(representative)};
    store_rows *r;
    int rc = store_query(c,
                         "SELECT 'DocumentReference/' || id, 'Binary/' || binary_id FROM dmp_document"
                         " WHERE patient_id = $1 AND " DMP_HIDDEN_EXPR
                         " UNION ALL SELECT 'List/' || submission_set, NULL FROM dmp_document WHERE patient_id = $1"
                         " GROUP BY submission_set HAVING MIN(CASE WHEN " DMP_HIDDEN_EXPR " THEN 1 ELSE 0 END) = 1",
                         p, 2, &r, err);
#undef DMP_HIDDEN_EXPR
    if (rc) return rc;
    while ((rc = store_rows_next(r, err)) == 1)
        for (int col = 0; col < 2; col++)
            if (!store_rows_isnull(r, col)) json_object_set_new(hidden, store_rows_text(r, col, NULL), json_true());
    store_rows_free(r);
    return rc;
}

/* The `_cursor` of a searchset's next link, or NULL. */
static const char *dmp_next_cursor(json_t *bundle, const char **url)
{
    size_t i;
    json_t *link;
    *url = NULL;
    json_array_foreach(json_object_get(bundle, "link"), i, link) {
        const char *rel = json_string_value(json_object_get(link, "relation"));
        const char *u = json_string_value(json_object_get(link, "url"));
        if (!rel || strcmp(rel, "next") || !u) continue;
        const char *at = strstr(u, "_cursor=");
        *url = u;
        return at ? at + 8 : NULL;
    }
    return NULL;
}

/* The patient's page of traces without the events that name what they may not know of yet:
 * pages are read on until `count` events are kept, and the next link starts after the last event
 * read, so that neither the page sizes nor the links tell how many were left out. */
static int dmp_audit_page(dmp_service *svc, const audit_query_param *qp, int n, int lenient, json_t *hidden,
                          arena *a, socle_buf *out, socle_err *err)
{
    int count = 50;
    for (int i = 0; i < n; i++)
        if (!strcmp(qp[i].name, "_count")) count = atoi(qp[i].value) > 1000 ? 1000 : atoi(qp[i].value);
    audit_query_param *q = arena_zalloc(a, sizeof *q * (size_t)(n + 1));
    if (!q) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int nq = 0;
    const char *cursor = NULL, *next = NULL, *first_next_url = NULL;
    for (int i = 0; i < n; i++) /* the cursor moves page by page: kept aside */
        if (strcmp(qp[i].name, "_cursor"))
            q[nq++] = qp[i];
        else
            cursor = qp[i].value;
    json_t *first = NULL, *kept = json_array();
    int rc = 0;
    for (int pages = 0; pages < 10000; pages++) {
        socle_buf page = SOCLE_BUF_INIT;
        q[nq] = (audit_query_param){"_cursor", cursor};
        rc = audit_search(svc->app->store, q, nq + (cursor ? 1 : 0), lenient, svc->app->fhir_base, &page, err);
        json_t *b = rc ? NULL : json_loadb(page.data, page.len, 0, NULL);
        buf_free(&page);
        if (!rc && !b) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        if (rc) break;
        const char *url, *page_next = dmp_next_cursor(b, &url);
        if (!first) {
            first = json_incref(b);
            first_next_url = url;
        }
        size_t i;
        json_t *e;
        const char *last = NULL;
        int full = 0;
        json_array_foreach(json_object_get(b, "entry"), i, e) {
            json_t *event = json_object_get(e, "resource");
            if (dmp_event_names(event, hidden)) continue;
            if ((int)json_array_size(kept) == count) {
                full = 1;
                break;
            }
            json_array_append(kept, e);
            last = json_string_value(json_object_get(event, "id"));
        }
        next = full ? (last ? arena_strdup(a, last) : cursor) : page_next ? arena_strdup(a, page_next) : NULL;
        json_decref(b);
        if (full || !next || (int)json_array_size(kept) == count) break;
        cursor = next;
    }
    if (!rc) {
        if (json_array_size(kept))
            json_object_set(first, "entry", kept);
        else
            json_object_del(first, "entry");
        json_t *links = json_array(), *link;
        size_t i;
        json_array_foreach(json_object_get(first, "link"), i, link) {
            const char *rel = json_string_value(json_object_get(link, "relation"));
            if (!rel || strcmp(rel, "next")) json_array_append(links, link);
        }
        const char *at = next && first_next_url ? strstr(first_next_url, "_cursor=") : NULL;
        if (at)
            json_array_append_new(links, json_pack("{s:s, s:s}", "relation", "next", "url",
                                                   arena_printf(a, "%.*s_cursor=%s", (int)(at - first_next_url),
                                                                first_next_url, next)));
        json_object_set_new(first, "link", links);
        buf_reset(out);
        fhir_json_dump(first, out);
        if (!buf_ok(out)) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    json_decref(first);
    json_decref(kept);
    return rc;
}

/* A patient lists the accesses to their own record: AuditEvent search, scoped to their Patient. */
int dmp_handle_audit(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                     const rest_op *op, rest_result *res)
{
    dmp_service *svc = ctx;
    if (who->kind != AUTH_KIND_PATIENT) return REST_PASS;
    if (op->kind != REST_SEARCH)
        return dmp_refuse(res, SOCLE_EFORBIDDEN, "access denied: patients search their traces");
    dmp_record r;
    store_conn *c = conn;
    int rc = c ? 0 : store_acquire(svc->app->store, &c, &res->err);
    if (!rc) rc = dmp_record_by_ins(c, who->sub, &r, &res->err);
    if (!conn && c) store_release(svc->app->store, c);
    if (rc == SOCLE_ENOTFOUND) return dmp_refuse(res, SOCLE_ENOTFOUND, "you have no DMP");
    if (rc) return rest_fail(res, &res->err);
    audit_query_param *qp = arena_zalloc(req->arena, sizeof *qp * (size_t)(op->nparams + 1));
    int n = 0;
    for (int i = 0; i < op->nparams; i++) {
        const char *name = op->params[i].name, *value = op->params[i].value ? op->params[i].value : "";
        if (!strcmp(name, "patient")) {
            const char *id = !strncmp(value, "Patient/", 8) ? value + 8 : value;
            if (strcmp(id, r.patient_id)) {
                rest_audit(svc->app, req, who, "search", "denied", "AuditEvent", NULL, NULL,
                           "a patient reads only the traces of their own record");
                return dmp_refuse(res, SOCLE_EFORBIDDEN,
                                  "access denied: a patient reads only the traces of their own record");
            }
            continue;
        }
        qp[n].name = name;
        qp[n++].value = value;
    }
    qp[n].name = "patient";
    qp[n++].value = r.patient_id;
    if (!conn) audit_flush_within(svc->app->audit, AUDIT_READER_FLUSH_MS);
    json_t *hidden = json_object();
    c = conn;
    rc = c ? 0 : store_acquire(svc->app->store, &c, &res->err);
    if (!rc) rc = dmp_audit_hidden(c, r.patient_id, auth_has_role(who, "representant-legal"), hidden, &res->err);
    if (!conn && c) store_release(svc->app->store, c);
    if (!rc)
        rc = json_object_size(hidden)
                 ? dmp_audit_page(svc, qp, n, op->lenient, hidden, req->arena, &res->body, &res->err)
                 : audit_search(svc->app->store, qp, n, op->lenient, svc->app->fhir_base, &res->body, &res->err);
    json_decref(hidden);
    if (rc) return rest_fail(res, &res->err);
    rest_audit(svc->app, req, who, "search", "success", "AuditEvent", NULL, r.patient_id, NULL);
    res->status = 200;
    return 0;
}
