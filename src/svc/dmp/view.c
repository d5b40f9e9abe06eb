/* view.c - one caller looking at one patient's record: the record, the caller's standing as a
 * reader (access.h), the policy engine's decision to open the record and, per document, to show
 * it. Searches, reads and retrievals all go through here. */
#include <stdio.h>
#include <string.h>

#include "svc/dmp/dmp_internal.h"

/* Open the record; for_author: the caller is a professional author of the document about to be
 * read (or, for a search, of some document of the record), who needs no access authorisation (the
 * per-document check decides what they see). */
static int dmp_view_open_as(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                            const char *patient_id, int for_author, dmp_view *v, rest_result *res)
{
    memset(v, 0, sizeof *v);
    v->svc = svc;
    v->who = who;
    socle_err err;
    int rc = dmp_record_load(c, patient_id, &v->record, &err);
    if (rc == SOCLE_ENOTFOUND) return rc;
    if (rc) return rest_fail(res, &err);
    int seen_before = 1;
    if (who->kind == AUTH_KIND_PROFESSIONAL || who->kind == AUTH_KIND_PATIENT) {
        if (dmp_reader_load(svc, c, who, &v->record, &v->reader, &seen_before, &err)) {
            rest_audit(svc->app, req, who, "read", "denied", "DocumentReference", NULL, patient_id, err.msg);
            return rest_fail(res, &err);
        }
        v->has_reader = 1;
        /* A block is the patient's: a blocked author reads nothing either. */
        if (v->reader.blocked) for_author = 0;
        /* A search by a professional who may not open the record but wrote some of its documents:
         * the results are filtered (they see what they wrote), not refused. */
        char why[64];
        if (!for_author && v->reader.kind == DMP_READER_PROFESSIONAL && !v->reader.blocked &&
            v->record.facts.state == DMP_RECORD_ACTIVE &&
            !dmp_access_may_open_record(&v->record.facts, &v->reader, why, sizeof why)) {
            int wrote = 0;
            if ((rc = dmp_wrote_in_record(c, patient_id, who->sub, &wrote, &err))) return rest_fail(res, &err);
            for_author = wrote;
        }
    } else if (who->kind != AUTH_KIND_SYSTEM) {
        socle_err_set(&err, SOCLE_EFORBIDDEN, "only professionals and the patient read a DMP");
        return rest_fail(res, &err);
    }
    dmp_policy_context pc = {.check = DMP_CHECK_RECORD,
                             .matrix = svc->matrix,
                             .record = &v->record.facts,
                             .reader = v->has_reader ? &v->reader : NULL};
    if (!for_author &&
        dmp_authorize(svc, req, who, AUTH_ACTION_SEARCH, "DocumentReference", NULL, patient_id, &pc, res))
        return res->err.code;
    if (!seen_before && (rc = dmp_note_first_access(c, patient_id, who->sub, &err)))
        return rest_fail(res, &err);
    return 0;
}

int dmp_view_open(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                  const char *patient_id, dmp_view *v, rest_result *res)
{
    return dmp_view_open_as(svc, c, req, who, patient_id, 0, v, res);
}

int dmp_view_open_document(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                           const dmp_document *d, dmp_view *v, rest_result *res)
{
    int author = who->kind == AUTH_KIND_PROFESSIONAL && dmp_is_author(who, d);
    return dmp_view_open_as(svc, c, req, who, d->patient_id, author, v, res);
}

int dmp_view_may_see(dmp_view *v, const dmp_document *d)
{
    const char *authors[DMP_MAX_AUTHORS];
    dmp_document_facts facts;
    dmp_document_facts_of(d, authors, &facts);
    dmp_policy_context pc = {.check = DMP_CHECK_DOCUMENT,
                             .matrix = v->svc->matrix,
                             .record = &v->record.facts,
                             .reader = v->has_reader ? &v->reader : NULL,
                             .document = &facts};
    return dmp_may_read(v->svc, v->who, "DocumentReference", d->id, d->patient_id, &pc);
}

const char *dmp_view_detail(const dmp_view *v)
{
    if (!v->has_reader || v->reader.kind != DMP_READER_PROFESSIONAL) return NULL;
    switch (v->reader.mode) {
    case DMP_MODE_BRIS_DE_GLACE:
        return "mode=bris_de_glace";
    case DMP_MODE_CENTRE_15:
        return "mode=centre_15";
    default:
        return "mode=normal";
    }
}
