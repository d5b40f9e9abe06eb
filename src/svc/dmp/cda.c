/* cda.c - reads the header of a CDA R2 document (HL7 Clinical Document Architecture) with libxml2
 * for the DMP: the document id, type code, title, date, confidentiality, patient, author and custodian
 * identifiers, and whether the body is structured (N3) or not (N1).
 *
 * Hostile input is expected: the document is parsed by xml.h (no network, no DTD, no entity, nesting
 * bounded while parsing, nothing printed); this file only reads the tree. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "svc/dmp/cda.h"
#include "xml/xml.h"

#define DMP_CDA_NS "urn:hl7-org:v3"
#define DMP_CDA_MAX_DEPTH 256

/* ---- tree helpers ---- */

/* dmp_cda_is - n is the element {urn:hl7-org:v3}name. */
static int dmp_cda_is(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
           strcmp((const char *)n->ns->href, DMP_CDA_NS) == 0 && strcmp((const char *)n->name, name) == 0;
}

/* dmp_cda_next - the first HL7 element `name` among n and its following siblings, or NULL. */
static xmlNode *dmp_cda_next(xmlNode *n, const char *name)
{
    for (; n != NULL; n = n->next)
        if (dmp_cda_is(n, name)) return n;
    return NULL;
}

/* dmp_cda_child - the first HL7 child element `name` of parent (which may be NULL), or NULL. */
static xmlNode *dmp_cda_child(const xmlNode *parent, const char *name)
{
    return parent != NULL ? dmp_cda_next(parent->children, name) : NULL;
}

/* dmp_cda_copy - copy src into dst[size], truncated on a UTF-8 character boundary. */
static void dmp_cda_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 &&
               ((unsigned char)src[n] & 0xC0) == 0x80) /* src[n] continues a sequence: cut before it */
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* dmp_cda_attr - the unqualified attribute `name` of n into dst[size], "" when absent. */
static void dmp_cda_attr(const xmlNode *n, const char *name, char *dst, size_t size)
{
    dst[0] = '\0';
    if (n == NULL) return;
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (v != NULL) {
        dmp_cda_copy(dst, size, (const char *)v);
        xmlFree(v);
    }
}

/* dmp_cda_text - the text content of n, whitespace runs collapsed to one space and trimmed. */
static void dmp_cda_text(const xmlNode *n, char *dst, size_t size)
{
    dst[0] = '\0';
    if (n == NULL) return;
    xmlChar *v = xmlNodeGetContent(n);
    if (v == NULL) return;
    char *s = (char *)v, *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r') {
            if (w != s && w[-1] != ' ') *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    if (w != s && w[-1] == ' ') w--;
    *w = '\0';
    dmp_cda_copy(dst, size, s);
    xmlFree(v);
}

/* dmp_cda_read_id - an II element into *id; 1 when it has a root (an II without one is a null flavor). */
static int dmp_cda_read_id(const xmlNode *n, dmp_cda_id *id)
{
    dmp_cda_attr(n, "root", id->root, sizeof id->root);
    dmp_cda_attr(n, "extension", id->extension, sizeof id->extension);
    return id->root[0] != '\0';
}

/* dmp_cda_add_ids - append the id children of parent that have a root to ids[*count] (at most
 * DMP_CDA_MAX_IDS in all). */
static void dmp_cda_add_ids(const xmlNode *parent, dmp_cda_id *ids, int *count)
{
    for (xmlNode *n = dmp_cda_child(parent, "id"); n != NULL && *count < DMP_CDA_MAX_IDS;
         n = dmp_cda_next(n->next, "id")) {
        if (dmp_cda_read_id(n, &ids[*count]))
            (*count)++;
        else
            memset(&ids[*count], 0, sizeof ids[*count]);
    }
}

/* dmp_cda_read_header - fill *out from the ClinicalDocument element; checks the mandatory parts. */
static int dmp_cda_read_header(xmlNode *root, dmp_cda_header *out, socle_err *err)
{
    dmp_cda_read_id(dmp_cda_child(root, "id"), &out->document_id);

    xmlNode *code = dmp_cda_child(root, "code");
    dmp_cda_attr(code, "code", out->type_code, sizeof out->type_code);
    dmp_cda_attr(code, "codeSystem", out->type_system, sizeof out->type_system);
    if (out->type_code[0] == '\0')
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "ClinicalDocument.code", "the CDA header has no code");

    dmp_cda_text(dmp_cda_child(root, "title"), out->title, sizeof out->title);
    dmp_cda_attr(dmp_cda_child(root, "effectiveTime"), "value", out->effective_time,
                 sizeof out->effective_time);
    dmp_cda_attr(dmp_cda_child(root, "confidentialityCode"), "code", out->confidentiality,
                 sizeof out->confidentiality);

    for (xmlNode *rt = dmp_cda_child(root, "recordTarget"); rt != NULL;
         rt = dmp_cda_next(rt->next, "recordTarget"))
        dmp_cda_add_ids(dmp_cda_child(rt, "patientRole"), out->patient_ids, &out->npatient_ids);
    if (out->npatient_ids == 0)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "ClinicalDocument.recordTarget.patientRole.id",
                            "the CDA header has no patient identifier (recordTarget/patientRole/id)");

    for (xmlNode *a = dmp_cda_child(root, "author"); a != NULL; a = dmp_cda_next(a->next, "author"))
        dmp_cda_add_ids(dmp_cda_child(a, "assignedAuthor"), out->author_ids, &out->nauthor_ids);
    if (out->nauthor_ids == 0)
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "ClinicalDocument.author.assignedAuthor.id",
                            "the CDA header has no author identifier (author/assignedAuthor/id)");

    xmlNode *org = dmp_cda_child(dmp_cda_child(dmp_cda_child(root, "custodian"), "assignedCustodian"),
                                 "representedCustodianOrganization");
    dmp_cda_read_id(dmp_cda_child(org, "id"), &out->custodian_id);

    xmlNode *component = dmp_cda_child(root, "component");
    xmlNode *nonxml = dmp_cda_child(component, "nonXMLBody");
    if (dmp_cda_child(component, "structuredBody") != NULL) {
        out->body = DMP_CDA_BODY_STRUCTURED;
    } else if (nonxml != NULL) {
        out->body = DMP_CDA_BODY_NON_XML;
        xmlNode *text = dmp_cda_child(nonxml, "text");
        dmp_cda_attr(text, "mediaType", out->body_media_type, sizeof out->body_media_type);
        if (text != NULL && out->body_media_type[0] == '\0') /* the HL7 v3 ED default */
            dmp_cda_copy(out->body_media_type, sizeof out->body_media_type, "text/plain");
    }
    return 0;
}

/* dmp_cda_read_doc - check a parsed document and read its header. */
static int dmp_cda_read_doc(const xmlDoc *doc, dmp_cda_header *out, socle_err *err)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!dmp_cda_is(root, "ClinicalDocument"))
        return socle_err_at(err, SOCLE_EUNPROCESSABLE, "ClinicalDocument",
                            "the root element is not an HL7 v3 ClinicalDocument (urn:hl7-org:v3)");
    return dmp_cda_read_header(root, out, err);
}

const char *dmp_cda_level(const dmp_cda_header *h)
{
    if (h == NULL) return "";
    switch (h->body) {
    case DMP_CDA_BODY_STRUCTURED:
        return "N3";
    case DMP_CDA_BODY_NON_XML:
        return "N1";
    default:
        return "";
    }
}

int dmp_cda_parse(const char *xml, size_t len, size_t max_bytes, dmp_cda_header *out, socle_err *err)
{
    if (out == NULL || (xml == NULL && len > 0))
        return socle_err_set(err, SOCLE_EINVAL, "dmp_cda_parse: no document or no output");
    memset(out, 0, sizeof *out);
    if (len > max_bytes || len > INT_MAX)
        return socle_err_set(err, SOCLE_ETOOLARGE, "the CDA document is larger than %zu bytes",
                             max_bytes < (size_t)INT_MAX ? max_bytes : (size_t)INT_MAX);
    xmlDocPtr doc;
    int rc = xml_parse(xml, len, "the CDA document", DMP_CDA_MAX_DEPTH, SOCLE_EUNPROCESSABLE, &doc, err);
    if (!rc) rc = dmp_cda_read_doc(doc, out, err);
    if (doc != NULL) xmlFreeDoc(doc);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}
