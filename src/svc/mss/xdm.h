/* xdm.h - IHE XDM packages (ITI TF-1 §16, ITI TF-3 §4.2.1.1): the ZIP in which MSSanté messages
 * carry CDA documents with their metadata, read and written with libzip and libxml2.
 *
 * NAME
 *      xdm - read and check a received XDM ZIP; build one for a CDA document to send.
 * SYNOPSIS
 *      xdm_read() xdm_build()
 * DESCRIPTION
 *      A package is INDEX.HTM, README.TXT, IHE_XDM/<SUBSET>/METADATA.XML (an ebRIM
 *      SubmitObjectsRequest: one RegistryPackage submission set, ExtrinsicObject document entries
 *      with their classifications and external identifiers, as the DMP uses them) and the
 *      documents the entries' URI slots name, in the same folder.
 *      xdm_read refuses, with the reason in err: a ZIP that is not one, encrypted entries, more
 *      than max_entries entries, an entry name that is absolute, holds "..", a backslash, a NUL
 *      or a drive letter, an uncompressed size over max_entry_bytes or a total over
 *      max_total_bytes or a compression ratio over max_ratio (zip bombs; the sizes are checked
 *      while inflating, not only from the directory, which can lie), METADATA.XML missing or not
 *      well-formed or with a DTD/entities (libxml2 with XML_PARSE_NONET, no entity expansion,
 *      depth limit), a document entry whose file is missing, or whose size or SHA-1 hash (when the
 *      metadata gives them) differ from the file.
 * BUGS
 *      One submission set per package (the first SUBSET folder holding a METADATA.XML).
 */
#ifndef SOCLE_SVC_MSS_XDM_H
#define SOCLE_SVC_MSS_XDM_H

#include <stddef.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

#define XDM_DEFAULT_TOTAL_BYTES ((size_t)50 * 1024 * 1024)

typedef struct xdm_limits {
    int max_entries;        /* 0: 64 */
    size_t max_entry_bytes; /* 0: 20 MiB */
    size_t max_total_bytes; /* 0: XDM_DEFAULT_TOTAL_BYTES */
    int max_ratio;          /* uncompressed / compressed of one entry; 0: 200 */
} xdm_limits;

/* A code of the metadata (classification): code, its scheme (codingScheme slot, an OID) and
 * display name (Name/LocalizedString @value). Empty strings when absent. */
typedef struct xdm_code {
    const char *code, *scheme, *display;
} xdm_code;

typedef struct xdm_document {
    const char *entry_uuid;     /* ExtrinsicObject @id */
    const char *unique_id;      /* XDSDocumentEntry.uniqueId */
    const char *patient_id;     /* XDSDocumentEntry.patientId, as written ("<id>^^^&<oid>&ISO") */
    const char *mime_type;      /* @mimeType */
    const char *title;          /* Name/LocalizedString @value; "" when absent */
    const char *creation_time;  /* slot creationTime; "" when absent */
    const char *uri;            /* slot URI: the file name within the subset folder */
    const char *hash;           /* slot hash (hex SHA-1) as given; "" when absent */
    long long size;             /* slot size; -1 when absent */
    xdm_code type, class_code, format, confidentiality, facility, practice;
    const char *author_ids[8];  /* authorPerson slot values, as written ("<id>^NOM^Prénom^^^^^^&<oid>&ISO") */
    int nauthors;
    const char *data;           /* the file's bytes (arena), NUL-terminated for convenience */
    size_t data_len;
} xdm_document;

typedef struct xdm_package {
    const char *subset;            /* "SUBSET01" */
    const char *submission_unique_id, *source_id, *submission_time; /* "" when absent */
    const char *submission_patient_id;
    xdm_document *documents;
    int ndocuments;
    size_t unpacked;               /* bytes inflated to read it (METADATA.XML and the documents) */
} xdm_package;

/* xdm_read - read and check the ZIP zip[0..len); everything it returns lives in a. lim may be
 * NULL (defaults). SOCLE_EINVAL (malformed, unsafe, inconsistent) or SOCLE_ETOOLARGE (a limit)
 * with the reason in err; nothing is returned then. */
int xdm_read(const void *zip, size_t len, const xdm_limits *lim, arena *a, xdm_package **out, socle_err *err);

/* What xdm_build writes: one CDA document and the metadata its entry needs. */
typedef struct xdm_build_input {
    const char *document;       /* the CDA bytes */
    size_t document_len;
    const char *file_name;      /* in the subset folder; "DOC0001.XML" when NULL */
    const char *mime_type;      /* "text/xml" when NULL */
    const char *unique_id;      /* the document's OID (ClinicalDocument/id); required */
    const char *patient_id;     /* "<INS>^^^&1.2.250.1.213.1.4.8&ISO"; required */
    const char *title;          /* may be NULL */
    const char *creation_time;  /* HL7 TS; required */
    xdm_code type, class_code, format, confidentiality, facility, practice; /* code required for type */
    const char *author_id;      /* authorPerson value; may be NULL */
    const char *source_id;      /* submission set sourceId (an OID); required */
    const char *submission_unique_id; /* an OID; required */
    const char *submission_time;      /* HL7 TS; required */
} xdm_build_input;

/* xdm_build - append to out a ZIP holding INDEX.HTM, README.TXT,
 * IHE_XDM/SUBSET01/METADATA.XML and the document, whose size and SHA-1 the metadata give.
 * SOCLE_EINVAL when a required input is missing. xdm_read accepts what it builds. */
int xdm_build(const xdm_build_input *in, socle_buf *out, socle_err *err);

#endif
