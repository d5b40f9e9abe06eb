/* xml.h - untrusted XML read with libxml2, hardened: the one way socle parses XML it receives (the
 * DMP's CDA headers, MSSanté's IHE XDM metadata).
 *
 * NAME
 *      xml - parse a document with no network access, no DTD, no entity of any kind, bounded depth.
 * SYNOPSIS
 *      xml_parse()
 * DESCRIPTION
 *      libxml2 runs with XML_PARSE_NONET and without entity substitution; a DOCTYPE stops the parser
 *      at once (its internal subset is never read), an entity reference (declared or not) refuses
 *      the document, and so does an element nested deeper than the limit (counted while parsing,
 *      so a deep document is stopped early). libxml2 prints nothing: its first error is kept and
 *      named in the message, with its line.
 */
#ifndef SOCLE_XML_XML_H
#define SOCLE_XML_XML_H

#include <stddef.h>

#include <libxml/tree.h>

#include "base/err.h"

/* xml_parse - parse data[0..len) into *out (the caller frees it with xmlFreeDoc). `what` names the
 * document in messages ("the CDA document", "METADATA.XML"); every refusal (empty, not well-formed
 * or not namespace-well-formed with the line, a DTD or an entity, nesting deeper than max_depth)
 * carries refusal_code; out of memory is SOCLE_ENOMEM. *out is NULL on error. */
int xml_parse(const char *data, size_t len, const char *what, int max_depth, int refusal_code, xmlDocPtr *out,
              socle_err *err);

#endif
