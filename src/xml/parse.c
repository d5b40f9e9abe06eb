/* parse.c - hardened XML parsing with libxml2 (see xml.h): SAX hooks that stop at a DOCTYPE and past
 * the depth limit, the first error kept, and a walk of the tree that refuses any DTD or entity node
 * the parser let through. */
#include "xml/xml.h"

#include <limits.h>
#include <pthread.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* What the SAX hooks observed while one document was parsed (ctxt->_private). */
typedef struct xml_state {
    int max_depth;
    int depth;    /* current element depth */
    int too_deep; /* nesting went past max_depth: parser stopped */
    int dtd;      /* a DOCTYPE was met: parser stopped */
    int err_code; /* first libxml2 error (not warning), 0 if none */
    int err_line; /* its line */
} xml_state;

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* xml_init - libxml2's global initialisation, once. */
static void xml_init(void)
{
    xmlInitParser();
}

/* xml_state_of - our state, kept in the parser context's _private. */
static xml_state *xml_state_of(void *ctx)
{
    return ((xmlParserCtxtPtr)ctx)->_private;
}

/* xml_on_error - record the first error; nothing is printed. */
static void xml_on_error(void *ctx, xmlErrorPtr e)
{
    xml_state *st = xml_state_of(ctx);
    if (e == NULL || e->level < XML_ERR_ERROR || st->err_code != 0) return;
    st->err_code = e->code;
    st->err_line = e->line;
}

/* xml_on_doctype - a DOCTYPE: stop before its internal subset is read. */
static void xml_on_doctype(void *ctx, const xmlChar *name, const xmlChar *public_id, const xmlChar *system_id)
{
    xml_state_of(ctx)->dtd = 1;
    xmlStopParser((xmlParserCtxtPtr)ctx);
}

/* xml_on_start - count the depth, stop past the limit, otherwise build the tree. */
static void xml_on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                         int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                         const xmlChar **attributes)
{
    xml_state *st = xml_state_of(ctx);
    if (++st->depth > st->max_depth) {
        st->too_deep = 1;
        xmlStopParser((xmlParserCtxtPtr)ctx);
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
                          attributes);
}

/* xml_on_end - the element ends. */
static void xml_on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xml_state_of(ctx)->depth--;
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

/* xml_check_tree - refuse a DTD or entity node anywhere, nesting past max_depth. Iterative walk. */
static int xml_check_tree(const xmlDoc *doc, const char *what, int max_depth, int code, socle_err *err)
{
    if (doc->intSubset != NULL || doc->extSubset != NULL)
        return socle_err_set(err, code, "%s declares a DTD or entities, which are refused", what);
    const xmlNode *n = doc->children;
    int depth = 0;
    while (n != NULL) {
        switch (n->type) {
        case XML_DTD_NODE:
        case XML_ENTITY_REF_NODE:
        case XML_ENTITY_NODE:
        case XML_ENTITY_DECL:
            return socle_err_set(err, code, "%s declares a DTD or entities, which are refused", what);
        default:
            break;
        }
        if (n->type == XML_ELEMENT_NODE) { /* depth counts its element ancestors */
            if (depth + 1 > max_depth)
                return socle_err_set(err, code, "%s nests elements deeper than %d levels", what, max_depth);
            if (n->children != NULL) {
                depth++;
                n = n->children;
                continue;
            }
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
            if (n == NULL || n->type != XML_ELEMENT_NODE) return 0;
            depth--;
        }
        if (n != NULL) n = n->next;
    }
    return 0;
}

/* xml_parse_failed - the error for a document libxml2 did not return. */
static int xml_parse_failed(const xml_state *st, const char *what, int code, socle_err *err)
{
    switch (st->err_code) {
    case XML_ERR_NO_MEMORY:
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory while parsing %s", what);
    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
    case XML_ERR_ENTITY_LOOP:
    case XML_ERR_ENTITY_PE_INTERNAL:
    case XML_ERR_UNPARSED_ENTITY:
    case XML_ERR_EXT_ENTITY_STANDALONE:
        return socle_err_set(err, code, "%s declares a DTD or entities, which are refused", what);
    case XML_ERR_DOCUMENT_EMPTY:
        return socle_err_set(err, code, "%s is empty (not well-formed XML)", what);
    default:
        return socle_err_set(err, code, "%s is not well-formed XML (line %d)", what, st->err_line);
    }
}

int xml_parse(const char *data, size_t len, const char *what, int max_depth, int refusal_code, xmlDocPtr *out,
              socle_err *err)
{
    *out = NULL;
    if (len == 0 || data == NULL) return socle_err_set(err, refusal_code, "%s is empty (not well-formed XML)", what);
    if (len > INT_MAX) return socle_err_set(err, SOCLE_ETOOLARGE, "%s is too large", what);
    pthread_once(&xml_once, xml_init);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL || ctxt->sax == NULL) {
        if (ctxt != NULL) xmlFreeParserCtxt(ctxt);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory while parsing %s", what);
    }
    xml_state st = {.max_depth = max_depth};
    ctxt->_private = &st;
    ctxt->sax->serror = xml_on_error;
    ctxt->sax->internalSubset = xml_on_doctype;
    ctxt->sax->startElementNs = xml_on_start;
    ctxt->sax->endElementNs = xml_on_end;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL, XML_OPTIONS);
    int ns_wellformed = ctxt->nsWellFormed;
    xmlFreeParserCtxt(ctxt);
    int rc;
    if (st.dtd)
        rc = socle_err_set(err, refusal_code, "%s declares a DTD or entities, which are refused", what);
    else if (st.too_deep)
        rc = socle_err_set(err, refusal_code, "%s nests elements deeper than %d levels", what, max_depth);
    else if (doc == NULL)
        rc = xml_parse_failed(&st, what, refusal_code, err);
    else if (!ns_wellformed)
        rc = socle_err_set(err, refusal_code, "%s is not namespace-well-formed XML (line %d)", what, st.err_line);
    else
        rc = xml_check_tree(doc, what, max_depth, refusal_code, err);
    if (rc != 0) {
        if (doc != NULL) xmlFreeDoc(doc);
        return rc;
    }
    *out = doc;
    return 0;
}
