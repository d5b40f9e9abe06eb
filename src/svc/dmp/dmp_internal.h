/* dmp_internal.h - declarations shared by the files of src/svc/dmp only. */
#ifndef SOCLE_SVC_DMP_INTERNAL_H
#define SOCLE_SVC_DMP_INTERNAL_H

#include "svc/dmp/access.h"
#include "svc/dmp/codes.h"
#include "svc/dmp/dmp.h"
#include "svc/dmp/matrix.h"

#define DMP_MAX_AUTHORS 8

struct dmp_service {
    socle_app *app;
    dmp_codes *codes;
    dmp_matrix *matrix;
    int check_hash;             /* dmp_check_hash */
    int64_t max_document_bytes; /* dmp_max_document_bytes */
    int64_t emergency_ms;       /* dmp_emergency_minutes */
};

/* --- store.c: the DMP's tables --- */

int dmp_migrate(store *s, socle_err *err);

/* A patient's record: state, choices, médecin traitant. */
typedef struct dmp_record {
    char patient_id[128];
    char ins[16]; /* the qualified INS matricule */
    dmp_record_facts facts;
    char medecin_traitant[64]; /* IDNPS or "" */
} dmp_record;

/* dmp_record_load - the record of patient_id: SOCLE_ENOTFOUND when none was made. */
int dmp_record_load(store_conn *c, const char *patient_id, dmp_record *out, socle_err *err);
/* dmp_record_by_ins - the record whose qualified INS is `ins`. */
int dmp_record_by_ins(store_conn *c, const char *ins, dmp_record *out, socle_err *err);
/* dmp_record_open - the record of a patient about to be fed, created active when there is none
 * and the identity is qualified (asks the INS service); SOCLE_EUNPROCESSABLE when the identity is
 * not qualified. */
int dmp_record_open(store_conn *c, const char *patient_id, dmp_record *out, socle_err *err);
/* dmp_record_save - write state, choices and médecin traitant. */
int dmp_record_save(store_conn *c, const dmp_record *r, socle_err *err);

/* The facts about the caller as a reader of this record (kind, mode, authorisation, blocked,
 * médecin traitant), in one statement; *seen_before (may be NULL) says whether a professional's
 * first access was already notified. `who` must be a professional or the record's patient (or
 * their legal representative). Returns SOCLE_EFORBIDDEN for anybody else. */
int dmp_reader_load(dmp_service *svc, store_conn *c, const auth_subject *who, const dmp_record *r,
                    dmp_reader *out, int *seen_before, socle_err *err);

/* Patient controls and the care team (dmp_control rows: kind "block" or "authorise"). */
int dmp_control_set(store_conn *c, const char *patient_id, const char *kind, const char *idnps, int on,
                    socle_err *err);
/* dmp_care_team_add - the structure joins the record's care team (its professionals read in normal
 * mode), unless the patient took it out of it (dmp_care_team_set); *joined (may be NULL) says
 * whether it was not a member before. */
int dmp_care_team_add(store_conn *c, const char *patient_id, const char *structure, int *joined, socle_err *err);
/* dmp_care_team_set - the patient's decision: the structure in the care team (on), or out of it
 * and kept out when it feeds the record again (off). */
int dmp_care_team_set(store_conn *c, const char *patient_id, const char *structure, int on, socle_err *err);
/* dmp_emergency_open - open an emergency access (mode, reason) for idnps on the record until
 * expires_ms. */
int dmp_emergency_open(store_conn *c, const char *patient_id, const char *idnps, dmp_mode mode,
                       const char *reason, int64_t expires_ms, socle_err *err);
/* dmp_note_first_access - notify the patient that a professional opened their record for the first
 * time (the caller found no notice: dmp_reader_load's seen_before): in c's transaction when one is
 * open, else deferred (store_defer). */
int dmp_note_first_access(store_conn *c, const char *patient_id, const char *idnps, socle_err *err);
/* dmp_notify - record a notification for the patient (kind "emergency-access", "first-access"). */
int dmp_notify(store_conn *c, const char *patient_id, const char *kind, const char *idnps, const char *detail,
               socle_err *err);

/* A document's row in the DMP's index (the DocumentReference itself is in the FHIR store). */
typedef struct dmp_document {
    char id[72];
    char patient_id[128];
    char status[16]; /* current, superseded, withdrawn */
    char type_code[64];
    char class_code[16];
    int64_t date_ms;
    char format_code[96];
    char setting_code[64];
    char facility_code[32];
    char authors[DMP_MAX_AUTHORS][32]; /* IDNPS */
    int nauthors;
    int masked, invisible_patient, invisible_representatives;
    char binary_id[72];
    char content_type[64];
    char submission_set[72];
    const char *body; /* the current DocumentReference JSON, kept with the row so that a search reads
                       * one table; not owned. dmp_document_set: NULL keeps the stored one */
    size_t body_len;
} dmp_document;

/* The columns of dmp_document in the order dmp_document_from_row reads them. */
extern const char dmp_document_columns[];
void dmp_document_from_row(store_rows *r, dmp_document *d);
int dmp_document_insert(store_conn *c, const dmp_document *d, socle_err *err);
int dmp_document_load(store_conn *c, const char *id, dmp_document *out, socle_err *err);
/* dmp_wrote_in_record - *wrote: is idnps an author of some document of the patient's record? */
int dmp_wrote_in_record(store_conn *c, const char *patient_id, const char *idnps, int *wrote, socle_err *err);
int dmp_document_by_binary(store_conn *c, const char *binary_id, dmp_document *out, socle_err *err);
/* dmp_document_set - change a document's status and visibility flags. */
int dmp_document_set(store_conn *c, const dmp_document *d, socle_err *err);
/* dmp_document_facts_of - the access facts of a document (pointers into d). */
void dmp_document_facts_of(const dmp_document *d, const char *authors[DMP_MAX_AUTHORS],
                           dmp_document_facts *out);

/* --- policy.c: the "dmp-access" rule --- */

typedef enum {
    DMP_CHECK_DOCUMENT = 1, /* may the reader see this document */
    DMP_CHECK_RECORD,       /* may the reader open the record */
    DMP_CHECK_FEED,         /* may the caller feed the record */
    DMP_CHECK_CONTROL,      /* may the caller change the record's state or the patient's controls */
    DMP_CHECK_EMERGENCY,    /* may the professional open an emergency access in `mode` */
} dmp_check;

/* What the DMP hands the policy engine in auth_target.context. */
typedef struct dmp_policy_context {
    dmp_check check;
    const dmp_matrix *matrix;
    const dmp_record_facts *record;
    const dmp_reader *reader;           /* NULL for system subjects */
    const dmp_document_facts *document; /* DMP_CHECK_DOCUMENT */
    const char *ins;                    /* DMP_CHECK_CONTROL: the record's qualified INS */
    dmp_mode mode;                      /* DMP_CHECK_EMERGENCY */
} dmp_policy_context;

int dmp_policy_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                    size_t reason_len);
/* dmp_authorize - ask the policy engine about one check; on refusal fill res (403) and audit it. */
int dmp_authorize(dmp_service *svc, http_request *req, const auth_subject *who, auth_action action,
                  const char *type, const char *id, const char *patient_id, const dmp_policy_context *pc,
                  rest_result *res);
/* dmp_may_read - the same without answering (search filtering): 1 allowed, 0 not. */
int dmp_may_read(dmp_service *svc, const auth_subject *who, const char *type, const char *id,
                 const char *patient_id, const dmp_policy_context *pc);

/* --- view.c: one caller looking at one record --- */

typedef struct dmp_view {
    dmp_service *svc;
    const auth_subject *who;
    dmp_record record;
    dmp_reader reader;
    int has_reader; /* 0 for software with a system token */
} dmp_view;

/* dmp_view_open - load the record of patient_id and the caller as its reader, and ask the policy
 * whether they may open it (403 in res, audited, when not). SOCLE_ENOTFOUND (res untouched) when
 * the patient has no record. A professional's first access is notified to the patient. */
int dmp_view_open(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                  const char *patient_id, dmp_view *v, rest_result *res);
/* dmp_view_open_document - the same for reading one document: its author opens it without the
 * record's access authorisation (the author always reads; the record must still be active, a
 * block still holds, and the per-document check still applies). */
int dmp_view_open_document(dmp_service *svc, store_conn *c, http_request *req, const auth_subject *who,
                           const dmp_document *d, dmp_view *v, rest_result *res);
/* dmp_is_author - does the caller speak for the document: one of its professional authors, or
 * software with a system token (not a bare client certificate)? */
int dmp_is_author(const auth_subject *who, const dmp_document *d);
/* dmp_list_only_visible - the submission set `list` showing only the documents of `visible` (those
 * the caller sees): its other entries are left out, so that a List reveals neither the hidden
 * documents nor their count. list->body is replaced (arena); 0 or SOCLE_ENOMEM. */
int dmp_list_only_visible(fhir_stored *list, const dmp_document *visible, size_t n, arena *a, socle_err *err);
/* dmp_view_may_see - may the viewer see this document (policy engine, per document)? */
int dmp_view_may_see(dmp_view *v, const dmp_document *d);
/* dmp_view_detail - the access mode for the audit trail ("mode=normal"...). */
const char *dmp_view_detail(const dmp_view *v);

/* --- metadata.c: the DocumentReference metadata of PDSm --- */

/* dmp_metadata_check - every metadata element the PDSm guide requires, present and coded from its
 * value set; fills d (except ids, patient and binary); SOCLE_EUNPROCESSABLE naming the element. */
int dmp_metadata_check(dmp_service *svc, const json_t *doc, dmp_document *d, socle_err *err);
/* dmp_metadata_authors - the IDNPS of the DocumentReference's professional authors, resolved in
 * the directory (contained PractitionerRole/Practitioner by RPPS or IDNPS identifier, or a
 * reference to a stored Practitioner/PractitionerRole); SOCLE_EUNPROCESSABLE when one is unknown. */
int dmp_metadata_authors(store_conn *c, arena *a, const json_t *doc, dmp_document *d, socle_err *err);
/* dmp_flag_of - the visibility flags carried by securityLabel into d. */
void dmp_metadata_flags(const json_t *doc, dmp_document *d);

/* --- provide.c, find.c, retrieve.c, controls.c --- */

int dmp_find_references(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                        const rest_op *op, rest_result *res);
int dmp_find_lists(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                   const rest_op *op, rest_result *res);
int dmp_provide_bundle(void *ctx, http_request *req, http_response *res, const auth_subject *who,
                       json_t *bundle);
int dmp_handle_document(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                        const rest_op *op, rest_result *res);
int dmp_handle_list(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                    const rest_op *op, rest_result *res);
int dmp_handle_binary(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                      const rest_op *op, rest_result *res);
int dmp_handle_audit(void *ctx, http_request *req, const auth_subject *who, store_conn *conn,
                     const rest_op *op, rest_result *res);
int dmp_controls_register(dmp_service *svc, http_router *router);

#endif
