/* mime.h - Internet messages (RFC 5322) and their MIME structure (RFC 2045-2049), read for the
 * MSSanté operator: the checks at SMTP DATA time, and what IMAP shows of a message.
 *
 * NAME
 *      mime - parse a message into its tree of parts; header fields; IMAP ENVELOPE,
 *      BODYSTRUCTURE and BODY[section]; decoding of a part's content.
 * SYNOPSIS
 *      mime_parse() mime_header() mime_envelope() mime_bodystructure() mime_section()
 *      mime_section_check() mime_decode()
 * DESCRIPTION
 *      The message is never copied: parts are offsets into the caller's bytes, which must outlive
 *      the tree. The parser is strict where a wrong answer would be dangerous (a multipart without
 *      its boundary, a part that never ends, nesting deeper than the limit, a header line without
 *      a colon, NUL bytes in a header) and tolerant where mail clients are sloppy (LF line ends,
 *      missing MIME-Version, unknown types as application/octet-stream, a missing epilogue).
 *      Every limit is explicit (mime_limits); over a limit is an error, never a truncation.
 *      Rendering follows RFC 3501 §7.4.2 exactly: strings are quoted or sent as literals when
 *      they hold CR, LF, '"' or '\\' or 8-bit bytes; absent values are NIL.
 * BUGS
 *      RFC 2047 encoded words are passed through as written (IMAP sends them encoded anyway).
 */
#ifndef SOCLE_SVC_MSS_MIME_H
#define SOCLE_SVC_MSS_MIME_H

#include <stddef.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

typedef struct mime_limits {
    size_t max_header_bytes;  /* one header block (all its fields); 0: 256 KiB */
    size_t max_line_bytes;    /* one header line before unfolding; 0: 16 KiB */
    int max_depth;            /* multipart / message-rfc822 nesting; 0: 16 */
    int max_parts;            /* parts in the whole message; 0: 1000 */
} mime_limits;

typedef struct mime_param {
    const char *name;  /* lower case, arena */
    const char *value; /* unquoted, arena */
} mime_param;

typedef struct mime_part {
    size_t offset, length;            /* the whole part (header + body) in the message */
    size_t header_offset, header_length; /* the header block including the empty line that ends it */
    size_t body_offset, body_length;  /* the body (for a multipart: preamble .. closing delimiter) */
    size_t body_lines;                /* lines of the body (IMAP body-fld-lines) */
    const char *type, *subtype;       /* lower case ("text", "plain"); default text/plain (or
                                       * message/rfc822 inside multipart/digest) */
    mime_param *params;               /* Content-Type parameters in order */
    int nparams;
    const char *id, *description;     /* Content-ID, Content-Description; NULL when absent */
    const char *encoding;             /* Content-Transfer-Encoding, lower case; "7bit" when absent */
    const char *disposition;          /* Content-Disposition value, lower case; NULL when absent */
    mime_param *disposition_params;
    int ndisposition_params;
    const char *md5, *language, *location; /* NULL when absent */
    struct mime_part *children;       /* multipart: its parts, in order */
    int nchildren;
    struct mime_part *message;        /* message/rfc822: the enclosed message; else NULL */
} mime_part;

/* mime_parse - parse msg[0..len) into a tree allocated in a. The root is the message itself
 * (its header is the message header). SOCLE_EINVAL with a short reason in err ("multipart
 * without a boundary", "header line without a colon at line 12", ...) for a malformed message;
 * SOCLE_ETOOLARGE over a limit. lim may be NULL (defaults). */
int mime_parse(const char *msg, size_t len, const mime_limits *lim, arena *a, mime_part **root, socle_err *err);

/* mime_header - the first field `name` (case-insensitive) of the header block of part, unfolded
 * (CRLF + white space becomes one space, surrounding white space trimmed), in a; NULL when absent. */
const char *mime_header(const char *msg, const mime_part *part, const char *name, arena *a);

/* mime_envelope - append the IMAP ENVELOPE of the message whose root is `root` (RFC 3501 §7.4.2:
 * date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id; sender and
 * reply-to default to from), parenthesised, to out. Addresses are parsed with groups and
 * display names; an unparsable address list gives NIL rather than an error. */
void mime_envelope(const char *msg, const mime_part *root, arena *a, socle_buf *out);

/* mime_bodystructure - append the IMAP BODYSTRUCTURE (extended = 1) or BODY (extended = 0) of
 * part to out, as RFC 3501 §7.4.2 gives it. */
void mime_bodystructure(const char *msg, const mime_part *part, int extended, arena *a, socle_buf *out);

/* mime_section - append to out the bytes of the IMAP section spec of the message (RFC 3501
 * §6.4.5 FETCH BODY[<section>]): "" (the whole message), "HEADER", "TEXT",
 * "HEADER.FIELDS (A B)", "HEADER.FIELDS.NOT (A B)", "1", "1.2", "1.2.HEADER", "1.2.TEXT",
 * "1.2.MIME", "1.2.HEADER.FIELDS (...)". Section names are case-insensitive. A part number
 * that does not exist gives empty output (as servers answer ""), not an error. SOCLE_EINVAL
 * for a malformed spec. */
int mime_section(const char *msg, size_t len, const mime_part *root, const char *spec, arena *a, socle_buf *out,
                 socle_err *err);

/* mime_section_check - would mime_section accept spec? 0 or SOCLE_EINVAL, without a message (IMAP
 * checks every item of a FETCH before it answers any). */
int mime_section_check(const char *spec, arena *a, socle_err *err);

/* mime_decode - append the content of a leaf part to out, decoded from its transfer encoding
 * (base64, quoted-printable, 7bit, 8bit, binary). SOCLE_EINVAL for invalid base64; out is then
 * left in an unspecified state. */
int mime_decode(const char *msg, const mime_part *part, socle_buf *out, socle_err *err);

#endif
