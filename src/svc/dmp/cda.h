/* cda.h - the header of a CDA R2 document (HL7 Clinical Document Architecture), read with libxml2
 * for the DMP's cross-checks: who the document is about, who wrote it, what it is.
 *
 * The parser is hardened: no network access, no entity expansion (an external entity or a DTD
 * declaring entities is refused), bounded size and depth; it never crashes on hostile input and
 * names what is wrong. Only the header is interpreted; the body is only classified:
 * N3 (structuredBody) or N1 (nonXMLBody, with its media type). */
#ifndef SOCLE_SVC_DMP_CDA_H
#define SOCLE_SVC_DMP_CDA_H

#include <stddef.h>
#include "base/err.h"

#define DMP_CDA_MAX_IDS 8

/* An instance identifier of the header (II: root OID + extension). */
typedef struct dmp_cda_id {
    char root[80];
    char extension[80];
} dmp_cda_id;

typedef enum { DMP_CDA_BODY_NONE = 0, DMP_CDA_BODY_STRUCTURED, DMP_CDA_BODY_NON_XML } dmp_cda_body;

typedef struct dmp_cda_header {
    dmp_cda_id document_id;                  /* ClinicalDocument/id */
    char type_code[64], type_system[80];     /* ClinicalDocument/code @code @codeSystem (OID) */
    char title[256];                         /* ClinicalDocument/title (text, trimmed) */
    char effective_time[32];                 /* ClinicalDocument/effectiveTime @value (HL7 TS, as written) */
    char confidentiality[32];                /* ClinicalDocument/confidentialityCode @code */
    dmp_cda_id patient_ids[DMP_CDA_MAX_IDS]; /* recordTarget/patientRole/id (INS and IPP), in order */
    int npatient_ids;
    dmp_cda_id author_ids[DMP_CDA_MAX_IDS]; /* author/assignedAuthor/id of every author */
    int nauthor_ids;
    dmp_cda_id custodian_id;  /* custodian/.../representedCustodianOrganization/id */
    dmp_cda_body body;        /* component/structuredBody or component/nonXMLBody */
    char body_media_type[64]; /* nonXMLBody/text @mediaType, "" otherwise */
} dmp_cda_header;

/* The structural level of the document: "N3" for a structured body, "N1" for a non-XML one. */
const char *dmp_cda_level(const dmp_cda_header *h);

/* dmp_cda_parse - parse `len` bytes of a CDA document into *out. max_bytes bounds the input
 * (larger: SOCLE_ETOOLARGE). Errors (SOCLE_EUNPROCESSABLE with a message that names the problem):
 * not well-formed XML, a DTD / entity declaration / external entity, nesting deeper than 256,
 * root element other than {urn:hl7-org:v3}ClinicalDocument, missing code, missing recordTarget
 * patient id, missing author id. Processing instructions (xml-stylesheet) are ignored.
 * Thread-safe. */
int dmp_cda_parse(const char *xml, size_t len, size_t max_bytes, dmp_cda_header *out, socle_err *err);

#endif
