/* cda.c - reads the header of a CDA R2 document (HL7 Clinical Document Architecture) with libxml2
 * for the DMP: the document id, type code, title, date, confidentiality, patient, author and custodian
 * identifiers, and whether the body is structured (N3) or not (N1).
 *
 * Hostile input is expected. Each call has its own parser context: no network (XML_PARSE_NONET),
 * entities never substituted and no DTD loaded (neither XML_PARSE_NOENT nor XML_PARSE_DTDLOAD), the
 * default size limits (no XML_PARSE_HUGE). A DOCTYPE stops the parser at once, from its SAX
 * callback, before an internal subset (and the entities it might declare) is read; an entity reference
 * is then necessarily undeclared and not well-formed. Element nesting is counted as it is parsed and
 * the parser stopped past 256 levels; the tree is checked again afterwards. libxml2's messages go to a
 * no-op handler of the context, never to stderr, and the global error handlers are left alone. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "svc/dmp/cda.h"

#define DMP_CDA_NS "urn:hl7-org:v3"
#define DMP_CDA_MAX_DEPTH 256
#define DMP_CDA_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static const char dmp_cda_msg_dtd[] = "the document declares a DTD or entities, which are refused";

/* What the SAX hooks observed while one document was parsed (ctxt->_private). */
typedef struct dmp_cda_state {
    int depth;    /* current element depth */
    int too_deep; /* nesting went past DMP_CDA_MAX_DEPTH: parser stopped */
    int dtd;      /* a DOCTYPE was met: parser stopped */
    int err_code; /* first libxml2 error (not warning), 0 if none */
    int err_line; /* its line */
} dmp_cda_state;

static pthread_once_t dmp_cda_once = PTHREAD_ONCE_INIT;

static void dmp_cda_init(void)
{
    xmlInitParser();
}

/* ---- SAX hooks: userData is the parser context, its _private our state ---- */

static dmp_cda_state *dmp_cda_state_of(void *ctx)
{
    return ((xmlParserCtxtPtr)ctx)->_private;
}

static void dmp_cda_on_error(void *ctx, xmlErrorPtr e)
{
    dmp_cda_state *st = dmp_cda_state_of(ctx);
    if (e == NULL || e->level < XML_ERR_ERROR || st->err_code != 0) return;
    st->err_code = e->code;
    st->err_line = e->line;
}

static void dmp_cda_on_doctype(void *ctx, const xmlChar *name, const xmlChar *public_id,
                               const xmlChar *system_id)
{
    dmp_cda_state_of(ctx)->dtd = 1;
    xmlStopParser((xmlParserCtxtPtr)ctx);
}

static void dmp_cda_on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                             int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                             int nb_defaulted, const xmlChar **attributes)
{
    dmp_cda_state *st = dmp_cda_state_of(ctx);
    if (++st->depth > DMP_CDA_MAX_DEPTH) {
        st->too_deep = 1;
        xmlStopParser((xmlParserCtxtPtr)ctx);
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
                          attributes);
}

static void dmp_cda_on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    dmp_cda_state_of(ctx)->depth--;
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

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

/* dmp_cda_check_tree - refuse what the parser let through but must not be there: a DTD or entity
 * node anywhere, nesting past DMP_CDA_MAX_DEPTH. Iterative walk. */
static int dmp_cda_check_tree(const xmlDoc *doc, socle_err *err)
{
    if (doc->intSubset != NULL || doc->extSubset != NULL)
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "%s", dmp_cda_msg_dtd);
    const xmlNode *n = doc->children;
    int depth = 0;
    while (n != NULL) {
        switch (n->type) {
        case XML_DTD_NODE:
        case XML_ENTITY_REF_NODE:
        case XML_ENTITY_NODE:
        case XML_ENTITY_DECL:
            return socle_err_set(err, SOCLE_EUNPROCESSABLE, "%s", dmp_cda_msg_dtd);
        default:
            break;
        }
        if (n->type == XML_ELEMENT_NODE) { /* depth counts its element ancestors */
            if (depth + 1 > DMP_CDA_MAX_DEPTH)
                return socle_err_set(err, SOCLE_EUNPROCESSABLE,
                                     "the CDA document nests elements deeper than %d levels",
                                     DMP_CDA_MAX_DEPTH);
            if (n->children != NULL) {
                depth++;
                n = n->children;
                continue;
            }
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
            if (n == NULL || n->type != XML_ELEMENT_NODE) return 0; /* back at the document node */
            depth--;
        }
        if (n != NULL) n = n->next;
    }
    return 0;
}

/* dmp_cda_parse_failed - the error for a document libxml2 did not return. */
static int dmp_cda_parse_failed(const dmp_cda_state *st, size_t len, socle_err *err)
{
    switch (st->err_code) {
    case XML_ERR_NO_MEMORY:
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory while parsing the CDA document");
    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
    case XML_ERR_ENTITY_LOOP:
    case XML_ERR_ENTITY_PE_INTERNAL:
    case XML_ERR_UNPARSED_ENTITY:
    case XML_ERR_EXT_ENTITY_STANDALONE:
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "%s", dmp_cda_msg_dtd);
    case XML_ERR_DOCUMENT_EMPTY:
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the CDA document is empty (not well-formed XML)");
    default:
        if (len == 0)
            return socle_err_set(err, SOCLE_EUNPROCESSABLE,
                                 "the CDA document is empty (not well-formed XML)");
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the CDA document is not well-formed XML (line %d)",
                             st->err_line);
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
    int rc = dmp_cda_check_tree(doc, err);
    if (rc != 0) return rc;
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
    if (len == 0)
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the CDA document is empty (not well-formed XML)");

    pthread_once(&dmp_cda_once, dmp_cda_init);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL || ctxt->sax == NULL) {
        if (ctxt != NULL) xmlFreeParserCtxt(ctxt);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory while parsing the CDA document");
    }
    dmp_cda_state st = {0};
    ctxt->_private = &st;
    ctxt->sax->serror = dmp_cda_on_error;
    ctxt->sax->internalSubset = dmp_cda_on_doctype;
    ctxt->sax->startElementNs = dmp_cda_on_start;
    ctxt->sax->endElementNs = dmp_cda_on_end;

    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL, DMP_CDA_OPTIONS);
    int ns_wellformed = ctxt->nsWellFormed;
    xmlFreeParserCtxt(ctxt);

    int rc;
    if (st.dtd)
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "%s", dmp_cda_msg_dtd);
    else if (st.too_deep)
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "the CDA document nests elements deeper than %d levels",
                           DMP_CDA_MAX_DEPTH);
    else if (doc == NULL)
        rc = dmp_cda_parse_failed(&st, len, err);
    else if (!ns_wellformed)
        rc = socle_err_set(err, SOCLE_EUNPROCESSABLE,
                           "the CDA document is not namespace-well-formed XML (line %d)", st.err_line);
    else
        rc = dmp_cda_read_doc(doc, out, err);

    if (doc != NULL) xmlFreeDoc(doc);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}
