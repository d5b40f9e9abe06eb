/* provide.c - ITI-65 Provide Document Bundle (IHE MHD as the ANS PDSm guide profiles it): a
 * transaction Bundle with one SubmissionSet List, its DocumentReferences and their Binary (or
 * inline data), and PATCHes that supersede replaced documents. All or nothing: every document is
 * checked (metadata, patient, record, policy, authors, bytes, CDA header) before anything commits.
 * What needs no database (metadata, base64, hash, parsing the CDA, the stored JSON of Binaries) is
 * done before the transaction (dmp_prepare_entries), so that the writer's turn is held only for
 * what does; a malformed document is therefore refused (422) before the patient and the policy
 * are looked at (403). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "crypto/crypto.h"
#include "svc/dmp/cda.h"
#include "svc/dmp/dmp_internal.h"

#define DMP_MHD_LIST_TYPES "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
#define DMP_PROVIDE_MAX_ENTRIES 1000

typedef enum { DMP_ENTRY_LIST = 1, DMP_ENTRY_DOCUMENT, DMP_ENTRY_BINARY, DMP_ENTRY_PATCH } dmp_entry_kind;

typedef struct dmp_entry {
    dmp_entry_kind kind;
    json_t *resource;
    const char *full_url;
    const char *id;     /* the id given (POST) or the PATCH target */
    int submission_set; /* a List coded submissionset */
    int used;           /* a Binary some DocumentReference points to */
    rest_result result;
    /* work done before the transaction (dmp_prepare_entries) */
    dmp_document *doc;     /* a document's row */
    dmp_cda_header *cda;   /* a document's parsed header when its bytes are XML */
    fhir_prepared binary;  /* a Binary entry, or the Binary a document's inline data moves to */
    fhir_prepared stored;  /* a DocumentReference or List: checked and as it will be stored */
    int inline_binary;     /* binary holds a document's inline data */
} dmp_entry;

typedef struct dmp_provide {
    dmp_service *svc;
    http_request *req;
    const auth_subject *who;
    store_conn *c;
    dmp_entry *entries;
    size_t n;
    const char *submission_set_id;
    char patient_id[128];       /* one patient per submission set */
    const char *superseded[64]; /* documents this bundle replaced (its PATCHes may name them) */
    int nsuperseded;
    dmp_record record; /* the patient's record, opened and authorised once per bundle */
    int record_open;
    int seen_by_patient; /* the bundle holds a document the patient sees (not INVISIBLE_PATIENT) */
} dmp_provide;

static const char *dmp_list_code(const json_t *list)
{
    size_t i;
    const json_t *coding;
    json_array_foreach(json_object_get(json_object_get(list, "code"), "coding"), i, coding)
    {
        const char *system = json_string_value(json_object_get(coding, "system"));
        if (system && !strcmp(system, DMP_MHD_LIST_TYPES))
            return json_string_value(json_object_get(coding, "code"));
    }
    return NULL;
}

/* Is this Bundle an ITI-65 provide bundle? A transaction holding a SubmissionSet List. */
static int dmp_is_provide(const json_t *bundle)
{
    const char *type = json_string_value(json_object_get(bundle, "type"));
    if (!type || strcmp(type, "transaction")) return 0;
    size_t i;
    const json_t *entry;
    json_array_foreach(json_object_get(bundle, "entry"), i, entry)
    {
        const json_t *r = json_object_get(entry, "resource");
        const char *rt = json_string_value(json_object_get(r, "resourceType"));
        const char *code = rt && !strcmp(rt, "List") ? dmp_list_code(r) : NULL;
        if (code && !strcmp(code, "submissionset")) return 1;
    }
    return 0;
}

/* Read entry i's request into e. */
static int dmp_entry_parse(dmp_provide *p, json_t *entry, size_t i, dmp_entry *e, socle_err *err)
{
    json_t *request = json_object_get(entry, "request");
    const char *method = json_string_value(json_object_get(request, "method"));
    const char *url = json_string_value(json_object_get(request, "url"));
    e->resource = json_object_get(entry, "resource");
    e->full_url = json_string_value(json_object_get(entry, "fullUrl"));
    const char *rt = json_string_value(json_object_get(e->resource, "resourceType"));
    if (!method || !url || !rt)
        return socle_err_at(err, SOCLE_EINVAL, "Bundle.entry.request",
                            "Bundle.entry[%zu] needs a resource and a request with a method and a url", i);
    if (!strcmp(method, "POST")) {
        if (strcmp(url, rt))
            return socle_err_at(err, SOCLE_EINVAL, "Bundle.entry.request.url",
                                "Bundle.entry[%zu].request.url must be %s", i, rt);
        if (!strcmp(rt, "List")) {
            e->kind = DMP_ENTRY_LIST;
            const char *code = dmp_list_code(e->resource);
            e->submission_set = code && !strcmp(code, "submissionset");
            if (!code || (!e->submission_set && strcmp(code, "folder")))
                return socle_err_at(err, SOCLE_EUNPROCESSABLE, "List.code",
                                    "Bundle.entry[%zu]: List.code must be submissionset or folder (%s)", i,
                                    DMP_MHD_LIST_TYPES);
        } else if (!strcmp(rt, "DocumentReference")) {
            e->kind = DMP_ENTRY_DOCUMENT;
        } else if (!strcmp(rt, "Binary")) {
            e->kind = DMP_ENTRY_BINARY;
        }
        if (e->kind) {
            char *id = arena_alloc(p->req->arena, 37);
            /* A document's id is random: its creation time could say when the patient was seen.
             * Its Binary and submission set only ever show with it (and its lastUpdated). */
            e->id = e->kind == DMP_ENTRY_DOCUMENT ? id_uuid(id) : id_resource(id);
        }
    } else if (!strcmp(method, "PUT")) {
        /* Update-as-create with the client's id (loading documents that already have ids); an id
         * that exists is a conflict: documents are replaced, never overwritten. */
        size_t tlen = strlen(rt);
        if (strncmp(url, rt, tlen) || url[tlen] != '/' || !id_fhir_valid(url + tlen + 1))
            return socle_err_at(err, SOCLE_EINVAL, "Bundle.entry.request.url",
                                "Bundle.entry[%zu].request.url must be %s/{id}", i, rt);
        e->id = url + tlen + 1;
        if (!strcmp(rt, "DocumentReference"))
            e->kind = DMP_ENTRY_DOCUMENT;
        else if (!strcmp(rt, "Binary"))
            e->kind = DMP_ENTRY_BINARY;
        else if (!strcmp(rt, "List")) {
            const char *code = dmp_list_code(e->resource);
            e->submission_set = code && !strcmp(code, "submissionset");
            if (code && (e->submission_set || !strcmp(code, "folder"))) e->kind = DMP_ENTRY_LIST;
        }
    } else if (!strcmp(method, "PATCH") && !strncmp(url, "DocumentReference/", 18) &&
               !strcmp(rt, "Parameters")) {
        e->kind = DMP_ENTRY_PATCH;
        e->id = url + 18;
    }
    if (!e->kind)
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "Bundle.entry.request",
            "Bundle.entry[%zu]: %s %.64s is not part of a provide-document bundle (POST or PUT"
            " List, DocumentReference, Binary; PATCH DocumentReference)",
            i, method, url);
    return 0;
}

/* The bytes of a document: inline data (*inline_data: dmp_prepare_inline_binary moves it to a
 * Binary of its own) or a Binary of the bundle. */
static int dmp_document_bytes(dmp_provide *p, json_t *doc, dmp_document *d, dmp_entry **binary_out,
                              const char **inline_data, uint8_t **bytes, size_t *len, socle_err *err)
{
    json_t *attachment = json_object_get(json_array_get(json_object_get(doc, "content"), 0), "attachment");
    const char *data = json_string_value(json_object_get(attachment, "data"));
    const char *url = json_string_value(json_object_get(attachment, "url"));
    *binary_out = NULL;
    if (!data && url && (!strncmp(url, "Binary/", 7) || !strncmp(url, "urn:uuid:", 9))) {
        /* Binary/{id} of the bundle, or the Binary entry's urn:uuid fullUrl (attachment.url is a
         * url, not a Reference: the bundle's reference rewriting does not reach it). */
        for (size_t i = 0; i < p->n; i++) {
            dmp_entry *b = &p->entries[i];
            if (b->kind == DMP_ENTRY_BINARY &&
                (url[0] == 'B' ? !strcmp(b->id, url + 7) : (b->full_url && !strcmp(b->full_url, url))))
                *binary_out = b;
        }
        if (*binary_out)
            json_object_set_new(attachment, "url",
                                json_string(arena_printf(p->req->arena, "Binary/%s", (*binary_out)->id)));
        if (!*binary_out)
            return socle_err_at(
                err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.attachment.url",
                "DocumentReference.content[0].attachment.url must point to a Binary of the bundle");
        (*binary_out)->used = 1;
        data = json_string_value(json_object_get((*binary_out)->resource, "data"));
        if (!data)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "Binary.data",
                                "the document's Binary has no data");
    } else if (!data) {
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.attachment",
            "DocumentReference.content[0].attachment needs data or the url of a Binary of the bundle");
    }
    size_t n = strlen(data);
    if ((int64_t)(n / 4 * 3) > p->svc->max_document_bytes + 3)
        return socle_err_at(err, SOCLE_ETOOLARGE, "DocumentReference.content.attachment",
                            "the document is larger than %lld bytes", (long long)p->svc->max_document_bytes);
    *bytes = arena_alloc(p->req->arena, n / 4 * 3 + 3);
    if (crypto_b64_decode(data, n, *bytes, len))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE,
                            *binary_out ? "Binary.data" : "DocumentReference.content.attachment.data",
                            "%s is not valid base64", *binary_out ? "Binary.data" : "attachment.data");
    if ((int64_t)*len > p->svc->max_document_bytes)
        return socle_err_at(err, SOCLE_ETOOLARGE, "DocumentReference.content.attachment",
                            "the document is larger than %lld bytes", (long long)p->svc->max_document_bytes);
    *inline_data = *binary_out ? NULL : data;
    if (*binary_out) {
        snprintf(d->binary_id, sizeof d->binary_id, "%s", (*binary_out)->id);
        const char *bct = json_string_value(json_object_get((*binary_out)->resource, "contentType"));
        if (bct && strcmp(bct, d->content_type))
            return socle_err_at(
                err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.attachment.contentType",
                "DocumentReference.content[0].attachment.contentType %.64s differs from its Binary's %.64s",
                d->content_type, bct);
    }
    return 0;
}

/* Inline data moves to a Binary of its own (searches then never carry document bytes), built here
 * and written in the transaction; the DocumentReference points to it. */
static int dmp_prepare_inline_binary(dmp_provide *p, dmp_entry *e, const char *data, socle_err *err)
{
    dmp_document *d = e->doc;
    json_t *binary = json_pack("{s:s, s:s, s:s}", "resourceType", "Binary", "contentType", d->content_type,
                               "data", data);
    char *id = arena_alloc(p->req->arena, 37);
    if (!binary || !id) {
        json_decref(binary);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    id_resource(id);
    int rc = fhir_repo_prepare("Binary", id, binary, &e->binary, err);
    json_decref(binary);
    if (rc) return rc;
    e->inline_binary = 1;
    json_t *attachment =
        json_object_get(json_array_get(json_object_get(e->resource, "content"), 0), "attachment");
    json_object_del(attachment, "data"); /* data is gone from here on */
    json_object_set_new(attachment, "url", json_string(arena_printf(p->req->arena, "Binary/%s", id)));
    snprintf(d->binary_id, sizeof d->binary_id, "%s", id);
    return 0;
}

/* Declared size and SHA-1 hash against the bytes (dmp_check_hash); filled in when absent. */
static int dmp_check_size_hash(dmp_provide *p, json_t *doc, const uint8_t *bytes, size_t len, socle_err *err)
{
    json_t *attachment = json_object_get(json_array_get(json_object_get(doc, "content"), 0), "attachment");
    uint8_t sha1[20];
    char hash[32];
    crypto_sha1(bytes, len, sha1);
    crypto_b64_encode(sha1, 20, hash);
    json_t *size = json_object_get(attachment, "size");
    const char *declared = json_string_value(json_object_get(attachment, "hash"));
    if (p->svc->check_hash) {
        if (size && (!json_is_integer(size) || json_integer_value(size) != (json_int_t)len))
            return socle_err_at(
                err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.attachment.size",
                "DocumentReference.content[0].attachment.size is %lld but the document has %zu bytes",
                (long long)json_integer_value(size), len);
        if (declared && strcmp(declared, hash))
            return socle_err_at(
                err, SOCLE_EUNPROCESSABLE, "DocumentReference.content.attachment.hash",
                "DocumentReference.content[0].attachment.hash is not the SHA-1 of the document's bytes");
    }
    if (!size) json_object_set_new(attachment, "size", json_integer((json_int_t)len));
    if (!declared) json_object_set_new(attachment, "hash", json_string(hash));
    return 0;
}

static int dmp_id_matches(const dmp_cda_id *cda, const char *idnps)
{
    /* CDA authors carry the IDNPS (root 1.2.250.1.71.4.2.1) or, in older documents, the RPPS. */
    return !strcmp(cda->extension, idnps) || (idnps[0] == '8' && !strcmp(cda->extension, idnps + 1));
}

/* The CDA header (parsed by dmp_prepare_document) against the metadata and the patient's
 * qualified INS. */
static int dmp_check_cda(const dmp_document *d, const dmp_record *record, const dmp_cda_header *h,
                         int by_patient, socle_err *err)
{
    int patient = 0;
    for (int i = 0; i < h->npatient_ids && !patient; i++)
        patient = !strcmp(h->patient_ids[i].extension, record->ins);
    if (!patient)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                            "the CDA header's patient (recordTarget) is not the patient's qualified INS");
    if (strcmp(h->type_code, d->type_code))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.type",
                            "DocumentReference.type %.64s differs from the CDA header's code %.64s",
                            d->type_code, h->type_code);
    /* A patient's deposit: its CDA authors, if any, are the patient. */
    for (int i = 0; by_patient && i < h->nauthor_ids; i++)
        if (strcmp(h->author_ids[i].extension, record->ins))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "a document deposited by the patient has the patient as its CDA author");
    int author = by_patient;
    for (int i = 0; i < h->nauthor_ids && !author; i++)
        for (int k = 0; k < d->nauthors && !author; k++)
            author = dmp_id_matches(&h->author_ids[i], d->authors[k]);
    if (!author)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                            "DocumentReference.author is not an author of the CDA header");
    return 0;
}

static int dmp_is_xml(const char *content_type, const uint8_t *bytes, size_t len)
{
    if (strstr(content_type, "xml")) return 1;
    size_t i = 0;
    if (len >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) i = 3;
    while (i < len && (bytes[i] == ' ' || bytes[i] == '\n' || bytes[i] == '\r' || bytes[i] == '\t'))
        i++;
    return i < len && bytes[i] == '<';
}

/* The Patient a DocumentReference is about: subject "Patient/id" or subject.identifier (INS). */
static int dmp_subject(dmp_provide *p, const json_t *doc, char *out, size_t n, socle_err *err)
{
    const json_t *subject = json_object_get(doc, "subject");
    const char *ref = json_string_value(json_object_get(subject, "reference"));
    char type[64];
    fhir_stored s;
    if (ref) {
        if (!fhir_reference_parse(ref, type, sizeof type, out, n) || strcmp(type, "Patient"))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                                "DocumentReference.subject must reference a Patient");
        int rc = fhir_repo_read(p->c, "Patient", out, 0, p->req->arena, &s, err);
        if (rc == SOCLE_ENOTFOUND || rc == SOCLE_EGONE)
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                                "DocumentReference.subject: unknown patient");
        return rc;
    }
    const json_t *identifier = json_object_get(subject, "identifier");
    const char *system = json_string_value(json_object_get(identifier, "system"));
    const char *value = json_string_value(json_object_get(identifier, "value"));
    if (!system || !value)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                            "DocumentReference.subject needs a Patient reference or an INS identifier");
    dmp_record r;
    int rc = dmp_record_by_ins(p->c, value, &r, err);
    if (rc == SOCLE_ENOTFOUND)
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
            "DocumentReference.subject: no patient with this INS has a DMP; reference the Patient");
    if (!rc) snprintf(out, n, "%s", r.patient_id);
    return rc;
}

/* A patient's deposit names the patient as its author, and nobody else: it cannot be shown as a
 * professional's. No professional author is indexed (d->nauthors stays 0). */
static int dmp_patient_is_author(const json_t *doc, const char *patient_id, socle_err *err)
{
    size_t i;
    const json_t *author;
    const json_t *authors = json_object_get(doc, "author");
    int n = 0;
    json_array_foreach(authors, i, author)
    {
        const char *ref = json_string_value(json_object_get(author, "reference"));
        char type[64], id[128];
        if (!ref || !fhir_reference_parse(ref, type, sizeof type, id, sizeof id) || strcmp(type, "Patient") ||
            strcmp(id, patient_id))
            return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                                "a document deposited by the patient has the patient (Patient/%.64s) as its only author",
                                patient_id);
        n++;
    }
    if (!n)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.author",
                            "DocumentReference.author: a document deposited by the patient names the patient");
    return 0;
}

/* Supersede the document `id` replaced by d (same patient, still current, replaced by its author). */
static int dmp_supersede(dmp_provide *p, const char *id, const dmp_document *d, socle_err *err)
{
    dmp_document old;
    int rc = dmp_document_load(p->c, id, &old, err);
    if (rc == SOCLE_ENOTFOUND)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.relatesTo",
                            "DocumentReference.relatesTo: the replaced document %.64s is not in the DMP", id);
    if (rc) return rc;
    if (strcmp(old.patient_id, d->patient_id))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.relatesTo",
                            "DocumentReference.relatesTo: the replaced document belongs to another patient");
    if (strcmp(old.status, "current"))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.relatesTo",
                            "DocumentReference.relatesTo: the replaced document is %s, not current",
                            old.status);
    if (!dmp_is_author(p->who, &old)) {
        rest_audit(p->svc->app, p->req, p->who, "update", "denied", "DocumentReference", id, old.patient_id,
                   "only the author replaces a document");
        return socle_err_at(err, SOCLE_EFORBIDDEN, "DocumentReference.relatesTo",
                            "access denied: only the author of %.64s replaces it", id);
    }
    if (old.masked && !d->masked) {
        rest_audit(p->svc->app, p->req, p->who, "update", "denied", "DocumentReference", id, old.patient_id,
                   "only the patient lifts MASQUE_PS");
        return socle_err_at(err, SOCLE_EFORBIDDEN, "DocumentReference.securityLabel",
                            "access denied: %.64s is masked by the patient (MASQUE_PS): its replacement keeps the mask",
                            id);
    }
    fhir_stored s;
    if ((rc = fhir_repo_read(p->c, "DocumentReference", id, 0, p->req->arena, &s, err))) return rc;
    json_t *body = json_loadb(s.body, s.body_len, 0, NULL);
    if (!body) return socle_err_set(err, SOCLE_EINTERNAL, "stored DocumentReference unreadable");
    json_object_set_new(body, "status", json_string("superseded"));
    int created;
    rc = fhir_repo_update_ex(p->c, "DocumentReference", id, body, 0, FHIR_REPO_UNINDEXED, p->req->arena, &s,
                             &created, err);
    json_decref(body);
    if (!rc)
        rc = rest_audit_stored(p->svc->app, p->c, p->req, p->who, "update", &s, "superseded by a replacement",
                               err);
    snprintf(old.status, sizeof old.status, "superseded");
    old.body = s.body;
    old.body_len = s.body_len;
    if (!rc) rc = dmp_document_set(p->c, &old, err);
    if (!rc && p->nsuperseded < (int)(sizeof p->superseded / sizeof p->superseded[0]))
        p->superseded[p->nsuperseded++] = arena_strdup(p->req->arena, id);
    return rc;
}

/* The answer of an entry the bundle created: 201, its location and first version. */
static void dmp_entry_created(dmp_provide *p, dmp_entry *e, const char *type)
{
    e->result.status = 201;
    snprintf(e->result.location, sizeof e->result.location, "%s/%s/%s/_history/1", p->svc->app->fhir_base,
             type, e->id);
    snprintf(e->result.etag, sizeof e->result.etag, "W/\"1\"");
}

/* The bundle's patient (one per submission set): open the record, ask the policy engine whether
 * the caller may feed it, and count the caller's structure in the care team; once per bundle. */
static int dmp_provide_open_record(dmp_provide *p, const char *patient_id, dmp_entry *e, socle_err *err)
{
    dmp_service *svc = p->svc;
    int rc = dmp_record_open(p->c, patient_id, &p->record, err);
    if (rc) return rc;
    dmp_reader reader;
    int is_reader = p->who->kind == AUTH_KIND_PROFESSIONAL || p->who->kind == AUTH_KIND_PATIENT;
    if (is_reader && (rc = dmp_reader_load(svc, p->c, p->who, &p->record, &reader, NULL, err))) {
        if (rc != SOCLE_EFORBIDDEN) return rc;
        rest_audit(svc->app, p->req, p->who, "create", "denied", "DocumentReference", NULL, patient_id, err->msg);
        return rc;
    }
    dmp_policy_context pc = {.check = DMP_CHECK_FEED,
                             .matrix = svc->matrix,
                             .record = &p->record.facts,
                             .reader = is_reader ? &reader : NULL};
    if (dmp_authorize(svc, p->req, p->who, AUTH_ACTION_CREATE, "DocumentReference", NULL, patient_id, &pc,
                      &e->result))
        return *err = e->result.err, err->code;
    snprintf(p->patient_id, sizeof p->patient_id, "%s", patient_id);
    p->record_open = 1;
    return 0;
}

/* A document entry's checks that need no database: its metadata, its bytes (base64, declared size
 * and hash) and its CDA header, parsed here and compared in the transaction. */
static int dmp_prepare_document(dmp_provide *p, dmp_entry *e, socle_err *err)
{
    dmp_document *d = e->doc = arena_zalloc(p->req->arena, sizeof *d);
    if (!d) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    snprintf(d->id, sizeof d->id, "%s", e->id);
    snprintf(d->submission_set, sizeof d->submission_set, "%s",
             p->submission_set_id ? p->submission_set_id : "");
    dmp_entry *binary;
    const char *inline_data = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = dmp_metadata_check(p->svc, e->resource, d, err);
    if (!rc) rc = dmp_document_bytes(p, e->resource, d, &binary, &inline_data, &bytes, &len, err);
    if (!rc) rc = dmp_check_size_hash(p, e->resource, bytes, len, err);
    if (!rc && dmp_is_xml(d->content_type, bytes, len)) {
        if (!(e->cda = arena_alloc(p->req->arena, sizeof *e->cda)))
            return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        rc = dmp_cda_parse((const char *)bytes, len, (size_t)p->svc->max_document_bytes, e->cda, err);
        if (rc) return socle_err_at(err, rc, "Binary.data", "the CDA document: %s", err->msg);
    }
    if (!rc && inline_data) rc = dmp_prepare_inline_binary(p, e, inline_data, err);
    return rc;
}

/* Everything of the bundle that needs no database, before the transaction (the writer's turn is
 * shorter): documents (dmp_prepare_document) and lists in their stored form, then Binary entries.
 * On failure *failed is the entry. */
static int dmp_prepare_entries(dmp_provide *p, size_t *failed, socle_err *err)
{
    for (int binaries = 0; binaries < 2; binaries++)
        for (size_t i = 0; i < p->n; i++) {
            dmp_entry *e = &p->entries[i];
            int rc = 0;
            if (!binaries && e->kind == DMP_ENTRY_DOCUMENT) {
                rc = dmp_prepare_document(p, e, err);
                if (!rc) rc = fhir_repo_prepare("DocumentReference", e->id, e->resource, &e->stored, err);
            } else if (!binaries && e->kind == DMP_ENTRY_LIST)
                rc = fhir_repo_prepare("List", e->id, e->resource, &e->stored, err);
            else if (binaries && e->kind == DMP_ENTRY_BINARY && e->used)
                rc = fhir_repo_prepare("Binary", e->id, e->resource, &e->binary, err);
            if (rc) {
                *failed = i;
                return rc;
            }
        }
    return 0;
}

static int dmp_provide_document(dmp_provide *p, dmp_entry *e, socle_err *err)
{
    dmp_service *svc = p->svc;
    json_t *doc = e->resource;
    dmp_document *d = e->doc;
    int rc = dmp_subject(p, doc, d->patient_id, sizeof d->patient_id, err);
    if (rc) return rc;
    if (p->patient_id[0] && strcmp(p->patient_id, d->patient_id))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "DocumentReference.subject",
                            "every document of a submission set must be about the same patient");
    if (!p->record_open && (rc = dmp_provide_open_record(p, d->patient_id, e, err))) return rc;
    const dmp_record *record = &p->record;
    /* The patient deposits class 90 only ("déposé par le patient"), as its author: no
     * professional author is required, and the CDA's author is not compared. */
    int by_patient = p->who->kind == AUTH_KIND_PATIENT;
    if (by_patient && strcmp(d->class_code, "90")) {
        rest_audit(svc->app, p->req, p->who, "create", "denied", "DocumentReference", NULL, d->patient_id,
                   "a patient feeds class 90 only");
        return socle_err_at(err, SOCLE_EFORBIDDEN, "DocumentReference.category",
                            "access denied: a patient feeds documents of class 90 (deposited by the patient) only");
    }
    if (by_patient)
        rc = dmp_patient_is_author(doc, d->patient_id, err);
    else
        rc = dmp_metadata_authors(p->c, p->req->arena, doc, d, err);
    if (rc) return rc;
    fhir_stored s;
    if (e->inline_binary &&
        (rc = fhir_repo_create_prepared(p->c, &e->binary, FHIR_REPO_UNINDEXED, p->req->arena, &s, err)))
        return rc;
    if (e->cda && (rc = dmp_check_cda(d, record, e->cda, by_patient, err))) return rc;
    size_t i;
    const json_t *relation;
    json_array_foreach(json_object_get(doc, "relatesTo"), i, relation)
    {
        const char *code = json_string_value(json_object_get(relation, "code"));
        const char *target =
            json_string_value(json_object_get(json_object_get(relation, "target"), "reference"));
        char type[64], id[128];
        if (!code || strcmp(code, "replaces")) continue;
        if (!target || !fhir_reference_parse(target, type, sizeof type, id, sizeof id) ||
            strcmp(type, "DocumentReference"))
            return socle_err_at(
                err, SOCLE_EUNPROCESSABLE, "DocumentReference.relatesTo.target",
                "DocumentReference.relatesTo.target must reference the replaced DocumentReference");
        if ((rc = dmp_supersede(p, id, d, err))) return rc;
    }
    if ((rc = fhir_repo_create_prepared(p->c, &e->stored, FHIR_REPO_UNINDEXED, p->req->arena, &s, err)))
        return rc;
    if ((rc =
             rest_audit_stored(svc->app, p->c, p->req, p->who, "create", &s, "ITI-65 provide document", err)))
        return rc;
    d->body = s.body;
    d->body_len = s.body_len;
    if ((rc = dmp_document_insert(p->c, d, err))) return rc;
    dmp_entry_created(p, e, "DocumentReference");
    return 0;
}

/* A PATCH of the bundle: only "DocumentReference.status replace superseded" of a document this
 * bundle replaces (IHE.MHD.Patch.Parameters). */
static int dmp_provide_patch(dmp_provide *p, dmp_entry *e, socle_err *err)
{
    const json_t *op = json_array_get(json_object_get(e->resource, "parameter"), 0);
    const char *path = NULL, *type = NULL, *value = NULL;
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(op, "part"), i, part)
    {
        const char *name = json_string_value(json_object_get(part, "name"));
        if (!name) continue;
        if (!strcmp(name, "path")) path = json_string_value(json_object_get(part, "valueString"));
        if (!strcmp(name, "type")) type = json_string_value(json_object_get(part, "valueCode"));
        if (!strcmp(name, "value")) value = json_string_value(json_object_get(part, "valueCode"));
    }
    if (!path || strcmp(path, "DocumentReference.status") || !type || strcmp(type, "replace") || !value ||
        strcmp(value, "superseded"))
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "Parameters.parameter",
            "a provide-document bundle may only PATCH DocumentReference.status to superseded");
    int replaced = 0;
    for (int k = 0; k < p->nsuperseded && !replaced; k++)
        replaced = !strcmp(p->superseded[k], e->id);
    if (!replaced)
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "Bundle.entry.request.url",
            "PATCH DocumentReference/%.64s: only a document this bundle replaces (relatesTo) may be"
            " superseded",
            e->id);
    e->result.status = 200;
    return 0;
}

static int dmp_provide_list(dmp_provide *p, dmp_entry *e, socle_err *err)
{
    const char *ref =
        json_string_value(json_object_get(json_object_get(e->resource, "subject"), "reference"));
    char type[64], id[128];
    if (!ref || !fhir_reference_parse(ref, type, sizeof type, id, sizeof id) || strcmp(type, "Patient") ||
        strcmp(id, p->patient_id))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "List.subject",
                            "List.subject must be the patient of the bundle's documents");
    fhir_stored s;
    int rc = fhir_repo_create_prepared(p->c, &e->stored, FHIR_REPO_UNINDEXED, p->req->arena, &s, err);
    if (!rc)
        rc = rest_audit_stored(p->svc->app, p->c, p->req, p->who, "create", &s, "ITI-65 submission set", err);
    if (rc) return rc;
    dmp_entry_created(p, e, "List");
    return 0;
}

static int dmp_provide_binary(dmp_provide *p, dmp_entry *e, socle_err *err)
{
    if (!e->used)
        return socle_err_at(
            err, SOCLE_EUNPROCESSABLE, "Binary",
            "a Binary of a provide-document bundle must be the content of one of its documents");
    fhir_stored s;
    int rc = fhir_repo_create_prepared(p->c, &e->binary, FHIR_REPO_UNINDEXED, p->req->arena, &s, err);
    if (rc) return rc;
    dmp_entry_created(p, e, "Binary");
    return 0;
}

/* Run every entry in the transaction; documents first (they tell the patient), then lists,
 * patches and binaries. On failure *failed is the entry. */
static int dmp_provide_run(dmp_provide *p, size_t *failed, socle_err *err)
{
    static const dmp_entry_kind order[] = {DMP_ENTRY_DOCUMENT, DMP_ENTRY_LIST, DMP_ENTRY_PATCH,
                                           DMP_ENTRY_BINARY};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        for (size_t i = 0; i < p->n; i++) {
            dmp_entry *e = &p->entries[i];
            if (e->kind != order[k]) continue;
            int rc = e->kind == DMP_ENTRY_DOCUMENT ? dmp_provide_document(p, e, err)
                     : e->kind == DMP_ENTRY_LIST   ? dmp_provide_list(p, e, err)
                     : e->kind == DMP_ENTRY_PATCH  ? dmp_provide_patch(p, e, err)
                                                   : dmp_provide_binary(p, e, err);
            if (rc) {
                *failed = i;
                return rc;
            }
            if (e->kind == DMP_ENTRY_DOCUMENT && !e->doc->invisible_patient) p->seen_by_patient = 1;
        }
    /* The structure that feeds joins the care team (presumed consent); the patient is told, and may
     * take it out (Patient/$dmp-revoke structure=). Not by a bundle of documents the patient may not
     * know of yet: the notice would tell of them. */
    int joined = 0, rc = 0;
    if (p->record_open && p->seen_by_patient)
        rc = dmp_care_team_add(p->c, p->patient_id, p->who->structure, &joined, err);
    if (!rc && joined) rc = dmp_notify(p->c, p->patient_id, "care-team", p->who->sub, p->who->structure, err);
    return rc;
}

static void dmp_entry_free(dmp_entry *e)
{
    fhir_repo_prepared_free(&e->binary);
    fhir_repo_prepared_free(&e->stored);
}

int dmp_provide_bundle(void *ctx, http_request *req, http_response *res, const auth_subject *who,
                       json_t *bundle)
{
    if (!dmp_is_provide(bundle)) return REST_PASS;
    dmp_service *svc = ctx;
    dmp_provide p = {.svc = svc, .req = req, .who = who};
    socle_err err;
    json_t *list = json_object_get(bundle, "entry");
    p.n = json_array_size(list);
    if (p.n > DMP_PROVIDE_MAX_ENTRIES) {
        http_respond_status(req, res, 413, "too-costly",
                            "a provide-document bundle may hold at most 1000 entries");
        return 0;
    }
    p.entries = arena_zalloc(req->arena, sizeof *p.entries * p.n);
    rest_alias *aliases = arena_zalloc(req->arena, sizeof *aliases * p.n);
    size_t naliases = 0, ndocuments = 0, nsets = 0;
    for (size_t i = 0; i < p.n; i++) {
        dmp_entry *e = &p.entries[i];
        if (dmp_entry_parse(&p, json_array_get(list, i), i, e, &err)) {
            http_respond_error(req, res, &err);
            return 0;
        }
        ndocuments += e->kind == DMP_ENTRY_DOCUMENT;
        if (e->submission_set) {
            nsets++;
            p.submission_set_id = e->id;
        }
        if (e->kind != DMP_ENTRY_PATCH && e->full_url && !strncmp(e->full_url, "urn:uuid:", 9)) {
            aliases[naliases].urn = e->full_url;
            aliases[naliases++].reference = arena_printf(
                req->arena, "%s/%s", json_string_value(json_object_get(e->resource, "resourceType")), e->id);
        }
    }
    if (nsets != 1 || ndocuments == 0) {
        http_respond_status(req, res, 422, "processing",
                            "a provide-document bundle holds exactly one SubmissionSet List and at least one"
                            " DocumentReference");
        return 0;
    }
    for (size_t i = 0; i < p.n; i++) {
        rest_rewrite_references(p.entries[i].resource, aliases, naliases);
        if (p.entries[i].kind != DMP_ENTRY_PATCH)
            json_object_set_new(p.entries[i].resource, "id", json_string(p.entries[i].id));
    }
    size_t failed = 0;
    int rc = dmp_prepare_entries(&p, &failed, &err);
    if (!rc && store_acquire(svc->app->store, &p.c, &err)) {
        for (size_t i = 0; i < p.n; i++)
            dmp_entry_free(&p.entries[i]);
        http_respond_error(req, res, &err);
        return 0;
    }
    if (!rc) rc = store_tx_begin(p.c, &err);
    if (!rc) rc = dmp_provide_run(&p, &failed, &err);
    if (!rc) rc = store_tx_commit(p.c, &err);
    if (p.c) {
        if (rc) store_tx_rollback(p.c);
        store_release(svc->app->store, p.c);
    }
    for (size_t i = 0; i < p.n; i++)
        dmp_entry_free(&p.entries[i]);
    if (rc) {
        socle_err e = err;
        socle_err_at(&err, e.code, e.where[0] ? e.where : "Bundle.entry", "Bundle.entry[%zu]: %s", failed,
                     e.msg);
        http_respond_error(req, res, &err);
        for (size_t i = 0; i < p.n; i++)
            buf_free(&p.entries[i].result.body);
        return 0;
    }
    rest_result *results = arena_zalloc(req->arena, sizeof *results * p.n);
    for (size_t i = 0; i < p.n; i++)
        results[i] = p.entries[i].result;
    rest_bundle_respond(svc->app, res, "transaction-response", results, p.n);
    for (size_t i = 0; i < p.n; i++)
        buf_free(&p.entries[i].result.body);
    return 0;
}
