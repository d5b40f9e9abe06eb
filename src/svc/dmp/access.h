/* access.h - who may read which DMP document: the rules of dmp.md ("Access — who reads what") as
 * one pure function over facts the DMP service gathers from its tables (record state, the
 * patient's controls, the reader's emergency mode) and from the document's metadata.
 *
 * The policy engine's "dmp-access" rule calls it for every document a search, read or retrieval
 * would return, so results are filtered, never just refused at the door. */
#ifndef SOCLE_SVC_DMP_ACCESS_H
#define SOCLE_SVC_DMP_ACCESS_H

#include <stddef.h>
#include "svc/dmp/matrix.h"

/* Access modes (TRE_R248). */
typedef enum { DMP_MODE_NORMAL = 0, DMP_MODE_BRIS_DE_GLACE, DMP_MODE_CENTRE_15 } dmp_mode;
const char *dmp_mode_name(dmp_mode m);            /* "normal", "bris_de_glace", "centre_15" */
int dmp_mode_parse(const char *s, dmp_mode *out); /* 0, or -1 when unknown */

typedef enum {
    DMP_RECORD_NONE = 0,
    DMP_RECORD_ACTIVE,
    DMP_RECORD_CLOSED,
    DMP_RECORD_OPPOSED
} dmp_record_state;
const char *dmp_record_state_name(dmp_record_state s); /* "none", "active", "closed", "opposed" */

typedef enum {
    DMP_READER_PROFESSIONAL = 1,
    DMP_READER_PATIENT,              /* the patient whose record it is */
    DMP_READER_LEGAL_REPRESENTATIVE, /* a minor's legal representative */
} dmp_reader_kind;

/* The record and the patient's choices. */
typedef struct dmp_record_facts {
    dmp_record_state state;
    int opposes_bris_de_glace; /* the patient opposed emergency access */
    int opposes_centre_15;     /* the patient opposed access by medical regulation */
} dmp_record_facts;

/* The reader, as seen by this patient's record. */
typedef struct dmp_reader {
    dmp_reader_kind kind;
    const char *id;         /* IDNPS for a professional */
    const char *profession; /* TRE_G15 code, professionals only */
    const char *speciality; /* may be NULL */
    dmp_mode mode;          /* the mode open for this reader on this record */
    int authorised;         /* the patient authorised them, or they are of the care team */
    int blocked;            /* the patient blocked them */
    int medecin_traitant;   /* the patient's declared médecin traitant */
} dmp_reader;

/* The document's metadata that matter. */
typedef struct dmp_document_facts {
    const char *class_code;        /* TRE_A03 */
    const char *type_code;         /* J07 */
    int masked;                    /* MASQUE_PS */
    int invisible_patient;         /* INVISIBLE_PATIENT (until announced) */
    int invisible_representatives; /* INVISIBLE_REPRESENTANTS_LEGAUX */
    const char *const *author_ids; /* IDNPS of the authors */
    int nauthors;
} dmp_document_facts;

/* dmp_access_decide - 1 when the reader may see the document (in a search result, a read or a
 * retrieval), else 0; `reason` (may be NULL) says which rule decided, without health data. */
int dmp_access_decide(const dmp_matrix *m, const dmp_record_facts *record, const dmp_reader *reader,
                      const dmp_document_facts *doc, char *reason, size_t reason_len);

/* dmp_access_may_open_record - 1 when the reader may search the record at all (before any
 * document is looked at): the record is active, the reader is not blocked, and a professional is
 * authorised, the médecin traitant, or in an emergency mode the patient did not oppose. */
int dmp_access_may_open_record(const dmp_record_facts *record, const dmp_reader *reader, char *reason,
                               size_t reason_len);

#endif
