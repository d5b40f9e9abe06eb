/* api.c - the MSSanté service's HTTP routes, for software rather than mail clients:
 *   GET  /mss/v1/annuaire        the operator's published mailboxes, in the format of the
 *                                Annuaire Santé's MSSanté extraction (Extraction_Correspondance_MSSante)
 *   GET  /mss/v1/mailboxes/{address}/folders/{folder}/messages/{uid}/documents
 *                                the CDA documents of the message's IHE XDM packages, with their metadata
 *   GET  .../documents/{n}       one document's bytes
 *   POST /mss/v1/messages        send a message; with a CDA document, the operator builds its XDM package
 *   GET  /mss/v1/indicators      messages and attachments per day, structure, couloir, sent/received
 * Every call carries a bearer token (or, over HTTPS, a client certificate); a mailbox is reached only
 * through the policy engine's "mss-mailbox" rule, and each access is audited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/ids.h"
#include "base/timeutil.h"
#include "crypto/crypto.h"
#include "svc/annuaire/generate.h"
#include "svc/dmp/cda.h"
#include "svc/mss/mime.h"
#include "svc/mss/mss_internal.h"
#include "svc/mss/xdm.h"

#define MSS_EXTRACT_COLUMNS 31

/* api_subject - the caller, or a 401 already in res. */
static int api_subject(mss_service *svc, http_request *req, http_response *res, auth_subject *who)
{
    return rest_authenticate(svc->app, req, res, who);
}

/* ---- the published directory ------------------------------------------------------------------ */

static void api_annuaire(void *ctx, http_request *req, http_response *res)
{
    mss_service *svc = ctx;
    auth_subject who;
    if (api_subject(svc, req, res, &who)) return;
    socle_err err;
    store_conn *c;
    if (store_acquire(svc->app->store, &c, &err)) {
        http_respond_error(req, res, &err);
        return;
    }
    store_rows *r = NULL;
    int rc = store_query(c,
                         "SELECT address, kind, owner, display FROM mss_mailbox WHERE active = 1 AND kind <> 'CIT'"
                         " ORDER BY address",
                         NULL, 0, &r, &err);
    buf_puts(&res->body, ANNUAIRE_MSS_HEADER "\n");
    while (!rc && (rc = store_rows_next(r, &err)) == 1) {
        const char *address = store_rows_text(r, 0, NULL), *kind = store_rows_text(r, 1, NULL);
        const char *owner = store_rows_text(r, 2, NULL), *display = store_rows_text(r, 3, NULL);
        int person = !strcmp(kind, "PER");
        /* Type de BAL, Adresse BAL, Type Identifiant PP, Identifiant PP, Identification nationale PP,
         * Type identifiant structure, Identification Structure, Service de rattachement. */
        if (person) buf_printf(&res->body, "%s|%s|%c|%s|%s|||", kind, address, owner[0], owner + 1, owner);
        else
            buf_printf(&res->body, "%s|%s||||%c|%s%s|%s", kind, address, strlen(owner) == 9 ? '1' : owner[0],
                       strlen(owner) == 9 ? "1" : "", owner, display);
        /* The remaining columns (Dématérialisation is the 18th), each ended by '|' as in the header. */
        for (int col = 9; col <= MSS_EXTRACT_COLUMNS; col++) buf_puts(&res->body, col == 18 ? "|true" : "|");
        buf_puts(&res->body, "|\n");
        rc = 0;
    }
    if (r) store_rows_free(r);
    store_release(svc->app->store, c);
    if (rc < 0) {
        buf_reset(&res->body);
        http_respond_error(req, res, &err);
        return;
    }
    res->content_type = "text/plain; charset=utf-8";
    http_set_header(req, res, "Content-Disposition", "attachment; filename=\"Extraction_Correspondance_MSSante.txt\"");
}

/* ---- the documents of a message --------------------------------------------------------------- */

typedef struct api_docs {
    arena *a;           /* the request's: what outlives each package */
    int want;           /* the one document whose bytes are kept (1-based), 0: none */
    xdm_document *docs; /* the first 64 documents of the message (a's) */
    int n;
} api_docs;

/* api_copy_code - a metadata code's strings into a. */
static void api_copy_code(arena *a, xdm_code *c)
{
    c->code = c->code ? arena_strdup(a, c->code) : NULL;
    c->scheme = c->scheme ? arena_strdup(a, c->scheme) : NULL;
    c->display = c->display ? arena_strdup(a, c->display) : NULL;
}

/* api_keep - copy what the routes show of a package's documents (the package's arena goes once
 * this returns): the metadata, and the bytes of the wanted document only. */
static int api_keep(void *ctx, const xdm_package *pkg)
{
    api_docs *out = ctx;
    for (int i = 0; i < pkg->ndocuments; i++) {
        if (out->n == 64) return 1;
        xdm_document *d = &out->docs[out->n++];
        *d = pkg->documents[i];
        const char **strings[] = {&d->entry_uuid, &d->unique_id, &d->patient_id,    &d->mime_type,
                                  &d->title,      &d->uri,       &d->creation_time, &d->hash};
        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
            if (*strings[k]) *strings[k] = arena_strdup(out->a, *strings[k]);
        xdm_code *codes[] = {&d->type, &d->class_code, &d->format, &d->confidentiality, &d->facility, &d->practice};
        for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) api_copy_code(out->a, codes[k]);
        d->nauthors = 0;
        d->data = NULL;
        if (out->n == out->want) {
            char *data = arena_alloc(out->a, d->data_len + 1);
            if (!data) return 1;
            memcpy(data, pkg->documents[i].data, d->data_len);
            data[d->data_len] = 0;
            d->data = data;
        }
    }
    return 0;
}

/* api_message - the mailbox (policy checked), then the message's documents. 0 or a response sent. */
static int api_message(mss_service *svc, http_request *req, http_response *res, api_docs *docs)
{
    auth_subject who;
    if (api_subject(svc, req, res, &who)) return -1;
    const char *address = http_path_param(req, "address"), *folder = http_path_param(req, "folder");
    char *end;
    long long uid = strtoll(http_path_param(req, "uid"), &end, 10);
    socle_err err;
    store_conn *c;
    mss_mailbox m;
    if (*end || uid <= 0) {
        http_respond_status(req, res, 400, "invalid", "uid must be a positive integer");
        return -1;
    }
    if (store_acquire(svc->app->store, &c, &err)) {
        http_respond_error(req, res, &err);
        return -1;
    }
    int rc = mss_mailbox_get(c, address, &m, &err);
    int64_t fid = 0;
    if (!rc && !mss_may_use(svc, &who, &m, req->remote_addr, "read")) {
        store_release(svc->app->store, c);
        http_respond_status(req, res, 403, "forbidden", "this mailbox is not the caller's");
        return -1;
    }
    if (!rc) rc = mss_folder_id(c, m.address, folder, 0, &fid, &err);
    const char *msg = NULL;
    size_t len = 0;
    if (!rc) rc = mss_message_body(svc, c, fid, uid, req->arena, &msg, &len, NULL, &err);
    store_release(svc->app->store, c);
    if (rc) {
        if (rc == SOCLE_ENOTFOUND) socle_err_set(&err, SOCLE_ENOTFOUND, "no such mailbox, folder or message");
        http_respond_error(req, res, &err);
        return -1;
    }
    mss_audit(svc, &who, "read", "success", m.address, req->remote_addr, "XDM documents");
    mime_part *root;
    char reply[300];
    docs->a = req->arena;
    docs->docs = arena_zalloc(req->arena, 64 * sizeof *docs->docs);
    if (!docs->docs) {
        http_respond_status(req, res, 500, "exception", "out of memory");
        return -1;
    }
    if (!mime_parse(msg, len, NULL, req->arena, &root, &err) &&
        mss_xdm_walk(msg, root, 0, MSS_XDM_MESSAGE_BYTES, api_keep, docs, reply, sizeof reply)) {
        int temporary = reply[0] == '4';
        http_respond_status(req, res, temporary ? 503 : 422, temporary ? "transient" : "too-costly", reply);
        return -1;
    }
    return 0;
}

/* api_code - {"code","system","display"} of a metadata code, or nothing when absent. */
static void api_code(json_t *o, const char *key, const xdm_code *c)
{
    if (!c->code || !*c->code) return;
    json_t *j = json_pack("{s:s}", "code", c->code);
    if (c->scheme && *c->scheme) json_object_set_new(j, "system", json_string(c->scheme));
    if (c->display && *c->display) json_object_set_new(j, "display", json_string(c->display));
    json_object_set_new(o, key, j);
}

static void api_documents(void *ctx, http_request *req, http_response *res)
{
    api_docs docs = {0};
    if (api_message(ctx, req, res, &docs)) return;
    json_t *list = json_array();
    for (int i = 0; i < docs.n; i++) {
        const xdm_document *d = &docs.docs[i];
        json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:s}", "n", i + 1, "uniqueId", d->unique_id ? d->unique_id : "",
                              "patientId", d->patient_id ? d->patient_id : "", "mimeType", d->mime_type ? d->mime_type : "",
                              "title", d->title ? d->title : "", "size", (json_int_t)d->data_len, "creationTime",
                              d->creation_time ? d->creation_time : "");
        api_code(o, "type", &d->type);
        api_code(o, "class", &d->class_code);
        api_code(o, "format", &d->format);
        api_code(o, "confidentiality", &d->confidentiality);
        api_code(o, "facility", &d->facility);
        api_code(o, "practice", &d->practice);
        json_array_append_new(list, o);
    }
    http_respond_json(res, 200, json_pack("{s:o}", "documents", list));
}

/* api_document_type - the Content-Type a document is served with: a type of the allow-list (its
 * parameters dropped), anything else as bare bytes. The sender chose the metadata's mimeType: as
 * text/html or image/svg+xml it would run script in the reader's browser, on our origin. */
static const char *api_document_type(const char *mime_type)
{
    static const char *const served[] = {"application/pdf", "text/xml",  "application/xml",
                                         "image/jpeg",      "image/png", "text/plain"};
    size_t n = mime_type ? strcspn(mime_type, ";") : 0;
    while (n && (mime_type[n - 1] == ' ' || mime_type[n - 1] == '\t')) n--;
    for (size_t i = 0; i < sizeof served / sizeof served[0]; i++)
        if (strlen(served[i]) == n && !strncasecmp(mime_type, served[i], n)) return served[i];
    return "application/octet-stream";
}

static void api_document(void *ctx, http_request *req, http_response *res)
{
    api_docs docs = {0};
    docs.want = atoi(http_path_param(req, "n"));
    int n = docs.want;
    if (api_message(ctx, req, res, &docs)) return;
    if (n < 1 || n > docs.n) {
        http_respond_status(req, res, 404, "not-found", "no such document in this message");
        return;
    }
    const xdm_document *d = &docs.docs[n - 1];
    if (!d->data) {
        http_respond_status(req, res, 500, "exception", "out of memory reading the document");
        return;
    }
    buf_append(&res->body, d->data, d->data_len);
    res->content_type = api_document_type(d->mime_type);
    /* Saved, never shown in the browser: no sniffing, no inline rendering, no script. */
    http_set_header(req, res, "X-Content-Type-Options", "nosniff");
    http_set_header(req, res, "Content-Disposition", "attachment");
    http_set_header(req, res, "Content-Security-Policy", "default-src 'none'; sandbox");
}

/* ---- sending ------------------------------------------------------------------------------------ */

/* api_hl7_now - an HL7 TS for now ("20261123101500+0000"). */
static void api_hl7_now(char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, n, "%Y%m%d%H%M%S+0000", &tm);
}

/* api_xdm - the XDM package of a CDA document (metadata from its header), appended to zip. */
static int api_xdm(mss_service *svc, const char *cda, size_t len, socle_buf *zip, char *type, size_t tn, int *ins,
                   socle_err *err)
{
    dmp_cda_header h;
    int rc = dmp_cda_parse(cda, len, svc->max_message, &h, err);
    if (rc) return rc;
    char unique[200], patient[200], now[32], submission[80], author[200] = "";
    snprintf(unique, sizeof unique, "%s%s%s", h.document_id.root, h.document_id.extension[0] ? "^" : "",
             h.document_id.extension);
    /* The patient: the first recordTarget id under an INS OID (NIR 1.2.250.1.213.1.4.8, NIA .9, test .10). */
    const dmp_cda_id *pid = &h.patient_ids[0];
    for (int i = 0; i < h.npatient_ids; i++)
        if (!strncmp(h.patient_ids[i].root, "1.2.250.1.213.1.4.", 18)) {
            pid = &h.patient_ids[i];
            *ins = 1;
        }
    snprintf(patient, sizeof patient, "%s^^^&%s&ISO", pid->extension, pid->root);
    if (h.nauthor_ids) snprintf(author, sizeof author, "%s^^^^^^^^&%s&ISO", h.author_ids[0].extension, h.author_ids[0].root);
    api_hl7_now(now, sizeof now);
    uint64_t r;
    id_random_bytes(&r, sizeof r);
    snprintf(submission, sizeof submission, "1.2.250.1.213.1.1.9.%llu", (unsigned long long)(r >> 1));
    snprintf(type, tn, "%s", h.type_code);
    xdm_build_input in = {.document = cda,
                          .document_len = len,
                          .mime_type = "text/xml",
                          .unique_id = unique,
                          .patient_id = patient,
                          .title = h.title,
                          .creation_time = h.effective_time[0] ? h.effective_time : now,
                          .type = {h.type_code, h.type_system, h.title},
                          .confidentiality = {h.confidentiality, "2.16.840.1.113883.5.25", ""},
                          .format = {!strcmp(dmp_cda_level(&h), "N3") ? "urn:asip:ci-sis:2010" : "urn:ihe:iti:xds-sd:text:2008",
                                     "1.2.250.1.213.1.1.4.2.282", ""},
                          .author_id = author[0] ? author : NULL,
                          .source_id = "1.2.250.1.213.1.1.9",
                          .submission_unique_id = submission,
                          .submission_time = now};
    (void)svc;
    return xdm_build(&in, zip, err);
}

/* api_header_value - a JSON string usable in a header: no CR, LF or NUL, at most 900 bytes. */
static const char *api_header_value(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v || strlen(v) > 900 || strpbrk(v, "\r\n")) return NULL;
    return v;
}

/* api_compose - the RFC 5322 message of a send request. */
static int api_compose(mss_service *svc, json_t *body, const mss_mailbox *from, mss_envelope *env, socle_buf *msg,
                       socle_err *err)
{
    const char *subject = api_header_value(body, "subject");
    json_t *jtext = json_object_get(body, "text");
    const char *text = json_string_value(jtext);
    json_t *to = json_object_get(body, "to");
    if (!subject) return socle_err_set(err, SOCLE_EINVAL, "subject: a one-line string is required");
    if (text && strlen(text) != json_string_length(jtext))
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "text: a NUL character cannot travel in a message");
    if (!json_is_array(to) || !json_array_size(to) || json_array_size(to) > MSS_MAX_RECIPIENTS)
        return socle_err_set(err, SOCLE_EINVAL, "to: a list of 1 to %d addresses is required", MSS_MAX_RECIPIENTS);
    memset(env, 0, sizeof *env);
    snprintf(env->from, sizeof env->from, "%s", from->address);
    char local[80], domain[260];
    size_t i;
    json_t *v;
    json_array_foreach(to, i, v)
    {
        const char *a = json_string_value(v);
        if (!a || mss_split_address(a, local, sizeof local, domain, sizeof domain))
            return socle_err_set(err, SOCLE_EINVAL, "to[%zu]: not a mailbox address", i);
        snprintf(env->rcpt[env->nrcpt++], sizeof env->rcpt[0], "%s@%s", local, domain);
    }
    /* The CDA, when given, travels in an XDM package the operator builds. */
    socle_buf zip;
    buf_init(&zip);
    char type[64] = "";
    int ins = 0;
    const char *cda64 = json_string_value(json_object_get(body, "cda"));
    if (cda64) {
        size_t bl = strlen(cda64), cl = 0;
        uint8_t *cda = malloc(bl / 4 * 3 + 4);
        int rc = !cda || crypto_b64_decode(cda64, bl, cda, &cl) ? socle_err_set(err, SOCLE_EINVAL, "cda: not base64")
                                                                 : api_xdm(svc, (const char *)cda, cl, &zip, type,
                                                                           sizeof type, &ins, err);
        free(cda);
        if (rc) {
            buf_free(&zip);
            if (rc != SOCLE_EINVAL) socle_err_set(err, SOCLE_EUNPROCESSABLE, "cda: %s", err->msg);
            return rc == SOCLE_EINVAL ? rc : SOCLE_EUNPROCESSABLE;
        }
    }
    char date[64], id[40], boundary[64];
    mss_date(date, sizeof date);
    id_uuid(id);
    snprintf(boundary, sizeof boundary, "socle-%s", id);
    buf_printf(msg, "From: <%s>\r\nTo: ", from->address);
    /* One recipient a line (folded): 100 addresses would not fit in one 998-octet line. */
    for (int r = 0; r < env->nrcpt; r++) buf_printf(msg, "%s<%s>", r ? ",\r\n\t" : "", env->rcpt[r]);
    buf_printf(msg, "\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n", subject, date, id,
               svc->domain);
    if (json_is_true(json_object_get(body, "mdn"))) buf_printf(msg, "Disposition-Notification-To: <%s>\r\n", from->address);
    if (json_is_true(json_object_get(body, "end"))) buf_puts(msg, "X-MSS-MES: FIN\r\n");
    if (zip.len) buf_printf(msg, "X-MSS-CODECDA: %s\r\nX-MSS-INS: %s\r\n", type, ins ? "O" : "N");
    buf_printf(msg, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
               boundary, boundary);
    /* Every line end of the text becomes CRLF (LF, CR LF and a bare CR alike: a bare CR could end a
     * line for another server, SMTP smuggling); a line keeps to 998 octets (RFC 5321 4.5.3.1.6). */
    size_t col = 0;
    int lineno = 1;
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            if (*p == '\r' && p[1] == '\n') p++;
            buf_puts(msg, "\r\n");
            col = 0;
            lineno++;
            continue;
        }
        if (++col > 998) {
            buf_free(&zip);
            return socle_err_set(err, SOCLE_EUNPROCESSABLE,
                                 "text: line %d is longer than 998 octets (RFC 5321 section 4.5.3.1.6)", lineno);
        }
        buf_putc(msg, *p);
    }
    buf_puts(msg, "\r\n");
    if (zip.len) {
        buf_printf(msg, "--%s\r\nContent-Type: application/zip; name=\"IHE_XDM.ZIP\"\r\n"
                        "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"IHE_XDM.ZIP\"\r\n\r\n",
                   boundary);
        char line[80];
        for (size_t off = 0; off < zip.len; off += 57) {
            size_t n = zip.len - off < 57 ? zip.len - off : 57;
            size_t w = crypto_b64_encode((const uint8_t *)zip.data + off, n, line);
            buf_append(msg, line, w);
            buf_puts(msg, "\r\n");
        }
    }
    buf_printf(msg, "--%s--\r\n", boundary);
    buf_free(&zip);
    if (!buf_ok(msg)) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    /* The limit SMTP applies (SIZE, and at DATA). */
    if (msg->len > svc->max_message)
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "552 5.3.4 message size exceeds the limit of %zu bytes",
                             svc->max_message);
    return 0;
}

static void api_send(void *ctx, http_request *req, http_response *res)
{
    mss_service *svc = ctx;
    mss_sender s;
    memset(&s, 0, sizeof s);
    if (api_subject(svc, req, res, &s.who)) return;
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    const char *from = body ? json_string_value(json_object_get(body, "from")) : NULL;
    socle_err err;
    if (!body || !json_is_object(body) || !from) {
        json_decref(body);
        http_respond_status(req, res, 400, "invalid", "expected a JSON object with from, to, subject, text and optionally cda");
        return;
    }
    store_conn *c;
    int rc = store_acquire(svc->app->store, &c, &err);
    if (!rc) {
        rc = mss_mailbox_get(c, from, &s.mailbox, &err);
        store_release(svc->app->store, c);
    }
    if (rc == SOCLE_ENOTFOUND || (!rc && !mss_may_use(svc, &s.who, &s.mailbox, req->remote_addr, "send"))) {
        json_decref(body);
        http_respond_status(req, res, 403, "forbidden", "from: this mailbox is not the caller's");
        return;
    }
    mss_envelope *env = calloc(1, sizeof *env);
    socle_buf msg;
    buf_init(&msg);
    if (!rc) rc = env ? api_compose(svc, body, &s.mailbox, env, &msg, &err) : socle_err_set(&err, SOCLE_ENOMEM, "out of memory");
    json_decref(body);
    if (rc) {
        buf_free(&msg);
        free(env);
        http_respond_error(req, res, &err);
        return;
    }
    s.submission = 1;
    snprintf(s.from, sizeof s.from, "%s", s.mailbox.address);
    snprintf(s.remote, sizeof s.remote, "%s", req->remote_addr);
    snprintf(s.helo, sizeof s.helo, "https-api");
    char reply[400] = "";
    /* The same checks as SMTP, recipient by recipient, then the one delivery transaction. */
    rc = store_acquire(svc->app->store, &c, &err);
    if (rc) snprintf(reply, sizeof reply, "451 4.3.0 temporary failure, try again");
    else {
        for (int i = 0; !rc && i < env->nrcpt; i++) rc = mss_check_recipient(svc, c, &s, env->rcpt[i], reply, sizeof reply);
        store_release(svc->app->store, c);
    }
    if (!rc) rc = mss_deliver(svc, &s, env, msg.data, msg.len, reply, sizeof reply);
    buf_free(&msg);
    free(env);
    if (rc) {
        /* The SMTP reply says why: 5xx is the caller's (422), 4xx ours (503). */
        int temporary = reply[0] == '4';
        http_respond_status(req, res, temporary ? 503 : 422, temporary ? "transient" : "business-rule", reply);
        return;
    }
    res->status = 202;
    buf_puts(&res->body, "{\"status\":\"accepted\"}");
    res->content_type = "application/json";
}

/* ---- the steering indicators ---------------------------------------------------------------- */

/* api_indicators - the message counters per day, structure, couloir and direction, for the
 * steering indicators (roles admin or auditor); ?since=YYYY-MM-DD narrows them. */
static void api_indicators(void *ctx, http_request *req, http_response *res)
{
    mss_service *svc = ctx;
    auth_subject who;
    if (api_subject(svc, req, res, &who)) return;
    if (!auth_has_role(&who, "admin") && !auth_has_role(&who, "auditor")) {
        http_respond_status(req, res, 403, "forbidden", "the indicators are for the admin and auditor roles");
        return;
    }
    const char *since = http_query(req, "since");
    if (since && (strlen(since) != 10 || !time_valid_fhir_date(since))) {
        http_respond_status(req, res, 400, "invalid", "since: a date YYYY-MM-DD");
        return;
    }
    socle_err err;
    store_conn *c;
    if (store_acquire(svc->app->store, &c, &err)) {
        http_respond_error(req, res, &err);
        return;
    }
    store_value p[] = {STORE_V_TEXT(since ? since : "0000-00-00")};
    store_rows *r = NULL;
    int rc = store_query(c,
                         "SELECT day, structure, couloir, direction, messages, attachments FROM mss_count"
                         " WHERE day >= $1 ORDER BY day, structure, couloir, direction",
                         p, 1, &r, &err);
    json_t *list = json_array();
    while (!rc && (rc = store_rows_next(r, &err)) == 1) {
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "day", store_rows_text(r, 0, NULL),
                                              "structure", store_rows_text(r, 1, NULL), "couloir",
                                              store_rows_text(r, 2, NULL), "direction", store_rows_text(r, 3, NULL),
                                              "messages", (json_int_t)store_rows_int(r, 4), "attachments",
                                              (json_int_t)store_rows_int(r, 5)));
        rc = 0;
    }
    if (r) store_rows_free(r);
    store_release(svc->app->store, c);
    if (rc < 0) {
        json_decref(list);
        http_respond_error(req, res, &err);
        return;
    }
    http_respond_json(res, 200, json_pack("{s:o}", "counts", list));
}

int mss_register(mss_service *svc, http_router *router)
{
    int rc = http_route(router, "GET", "/mss/v1/annuaire", "mss.annuaire", api_annuaire, svc);
    if (!rc)
        rc = http_route(router, "GET", "/mss/v1/mailboxes/{address}/folders/{folder}/messages/{uid}/documents",
                        "mss.documents", api_documents, svc);
    if (!rc)
        rc = http_route(router, "GET", "/mss/v1/mailboxes/{address}/folders/{folder}/messages/{uid}/documents/{n}",
                        "mss.document", api_document, svc);
    if (!rc) rc = http_route(router, "POST", "/mss/v1/messages", "mss.send", api_send, svc);
    if (!rc) rc = http_route(router, "GET", "/mss/v1/indicators", "mss.indicators", api_indicators, svc);
    return rc;
}
