/* mime.c - Internet messages (RFC 5322) and MIME (RFC 2045-2049) for the MSSanté operator: the
 * parser that turns a message into its tree of parts (offsets into the caller's bytes, never a
 * copy), the header field lookup, what IMAP shows of a message (RFC 3501 §7.4.2 ENVELOPE and
 * BODYSTRUCTURE, §6.4.5 BODY[section]) and the decoding of a part's content (base64,
 * quoted-printable). See mime.h.
 *
 * Hostile input is expected: every scan is bounded by the range of its part, never by a NUL; the
 * recursion over the tree is bounded by max_depth (itself capped by MIME_HARD_DEPTH whatever the
 * caller asks); the number of parts and the size of header blocks and lines are limited before
 * anything is allocated for them. */
#include "svc/mss/mime.h"

#include <string.h>
#include <strings.h>

#include "base/text.h"

#define MIME_DEF_HEADER_BYTES (256u * 1024)
#define MIME_DEF_LINE_BYTES (16u * 1024)
#define MIME_DEF_DEPTH 16
#define MIME_DEF_PARTS 1000
#define MIME_HARD_DEPTH 100   /* recursion ceiling, whatever mime_limits says */
#define MIME_MAX_BOUNDARY 200 /* RFC 2046 says 70; some mailers go a little beyond */
#define MIME_SECTION_MAX_PATH 64

/* The state of one mime_parse call. */
typedef struct mime_ctx {
    const char *msg;
    size_t len;
    size_t max_header, max_line;
    int max_depth, max_parts;
    int nparts; /* parts created so far, the root included */
    arena *a;
    socle_err *err;
} mime_ctx;

/* One header field found by hdr_next: offsets into the message. */
typedef struct mime_field {
    size_t start, end;       /* the whole field, its final line end included */
    size_t name, name_len;   /* the field name, white space before the colon excluded */
    size_t value, value_end; /* after the colon .. before the final line end (folds inside) */
} mime_field;

/* ---- bytes and lines ---- */

/* is_wsp - space or horizontal tab */
static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* lower - ASCII lower case of c */
static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* upper - ASCII upper case of c */
static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* name_eq - whether s[0..n) equals the NUL-terminated name, ignoring ASCII case */
static int name_eq(const char *s, size_t n, const char *name)
{
    size_t i = 0;
    for (; i < n; i++)
        if (name[i] == '\0' || lower(s[i]) != lower(name[i])) return 0;
    return name[i] == '\0';
}

/* str_lower - s lower-cased in place; returns s */
static char *str_lower(char *s)
{
    for (char *p = s; p && *p; p++)
        *p = lower(*p);
    return s;
}

/* line_next - the line that starts at pos in [pos, end): *cend is the end of its content (before
 * CRLF or LF); returns where the next line starts (end when there is none) */
static size_t line_next(const char *msg, size_t pos, size_t end, size_t *cend)
{
    const char *lf = memchr(msg + pos, '\n', end - pos);
    if (!lf) {
        *cend = (end > pos && msg[end - 1] == '\r') ? end - 1 : end;
        return end;
    }
    size_t i = (size_t)(lf - msg);
    *cend = (i > pos && msg[i - 1] == '\r') ? i - 1 : i;
    return i + 1;
}

/* count_lines - text lines of s[0..n): its LFs, plus one for a last line without a line end */
static size_t count_lines(const char *s, size_t n)
{
    size_t lines = 0, i = 0;
    while (i < n) {
        const char *lf = memchr(s + i, '\n', n - i);
        if (!lf) return lines + 1;
        lines++;
        i = (size_t)(lf - s) + 1;
    }
    return lines;
}

/* line_of - the 1-based line number of offset pos in msg (for error messages) */
static size_t line_of(const char *msg, size_t pos)
{
    size_t lines = 1;
    for (size_t i = 0; i < pos; i++)
        lines += msg[i] == '\n';
    return lines;
}

/* ---- header blocks ---- */

/* header_scan - check the header block at the start of [start, end) (field names, colons, no NUL,
 * the line and block limits) and give its length, the blank line that ends it included (end - start
 * when the part has no blank line, hence no body) */
static int header_scan(mime_ctx *c, size_t start, size_t end, size_t *hlen)
{
    const char *msg = c->msg;
    size_t pos = start;
    int first = 1;
    while (pos < end) {
        size_t cend, next = line_next(msg, pos, end, &cend);
        if (cend == pos) { /* the blank line */
            *hlen = next - start;
            return 0;
        }
        if (cend - pos > c->max_line)
            return socle_err_set(c->err, SOCLE_ETOOLARGE, "header line longer than %zu bytes at line %zu",
                                 c->max_line, line_of(msg, pos));
        if (next - start > c->max_header)
            return socle_err_set(c->err, SOCLE_ETOOLARGE, "header block larger than %zu bytes",
                                 c->max_header);
        if (memchr(msg + pos, '\0', next - pos))
            return socle_err_set(c->err, SOCLE_EINVAL, "NUL byte in a header at line %zu", line_of(msg, pos));
        if (is_wsp(msg[pos])) {
            if (first)
                return socle_err_set(c->err, SOCLE_EINVAL,
                                     "header starts with a continuation line at line %zu", line_of(msg, pos));
        } else {
            const char *colon = memchr(msg + pos, ':', cend - pos);
            if (!colon)
                return socle_err_set(c->err, SOCLE_EINVAL, "header line without a colon at line %zu",
                                     line_of(msg, pos));
            size_t ne = (size_t)(colon - msg);
            while (ne > pos && is_wsp(msg[ne - 1]))
                ne--;
            if (ne == pos)
                return socle_err_set(c->err, SOCLE_EINVAL, "header field without a name at line %zu",
                                     line_of(msg, pos));
            for (size_t i = pos; i < ne; i++) {
                unsigned char ch = (unsigned char)msg[i];
                if (ch <= 32 || ch >= 127)
                    return socle_err_set(c->err, SOCLE_EINVAL, "invalid header field name at line %zu",
                                         line_of(msg, pos));
            }
        }
        first = 0;
        pos = next;
    }
    *hlen = end - start;
    return 0;
}

/* hdr_next - the next field of the header block [*pos, end), moving *pos past it; 0 at the blank
 * line or the end. Lines that are not fields (never met after header_scan) are skipped. */
static int hdr_next(const char *msg, size_t *pos, size_t end, mime_field *f)
{
    while (*pos < end) {
        size_t cend, next = line_next(msg, *pos, end, &cend);
        if (cend == *pos) return 0;
        const char *colon = is_wsp(msg[*pos]) ? NULL : memchr(msg + *pos, ':', cend - *pos);
        if (!colon) {
            *pos = next;
            continue;
        }
        f->start = f->name = *pos;
        size_t ne = (size_t)(colon - msg);
        while (ne > f->name && is_wsp(msg[ne - 1]))
            ne--;
        f->name_len = ne - f->name;
        f->value = (size_t)(colon - msg) + 1;
        f->value_end = cend;
        size_t p = next;
        while (p < end && is_wsp(msg[p])) {
            size_t ce, nx = line_next(msg, p, end, &ce);
            f->value_end = ce;
            p = nx;
        }
        f->end = *pos = p;
        return 1;
    }
    return 0;
}

/* hdr_find - the first field `name` of the header block of part */
static int hdr_find(const char *msg, const mime_part *part, const char *name, mime_field *f)
{
    size_t pos = part->header_offset, end = part->header_offset + part->header_length;
    while (hdr_next(msg, &pos, end, f))
        if (name_eq(msg + f->name, f->name_len, name)) return 1;
    return 0;
}

/* unfold - msg[s..e) with every line end and the white space after it made one space, trimmed,
 * in a; NULL when out of memory */
static char *unfold(arena *a, const char *msg, size_t s, size_t e)
{
    char *r = arena_alloc(a, e - s + 1);
    if (!r) return NULL;
    size_t n = 0;
    for (size_t i = s; i < e;) {
        if (msg[i] == '\r' || msg[i] == '\n') {
            while (i < e && (msg[i] == '\r' || msg[i] == '\n'))
                i++;
            while (i < e && is_wsp(msg[i]))
                i++;
            r[n++] = ' ';
            continue;
        }
        r[n++] = msg[i++];
    }
    size_t b = 0;
    while (b < n && is_wsp(r[b]))
        b++;
    while (n > b && is_wsp(r[n - 1]))
        n--;
    memmove(r, r + b, n - b);
    r[n - b] = '\0';
    return r;
}

const char *mime_header(const char *msg, const mime_part *part, const char *name, arena *a)
{
    mime_field f;
    if (!msg || !part || !name || !hdr_find(msg, part, name, &f)) return NULL;
    return unfold(a, msg, f.value, f.value_end);
}

/* ---- MIME field values (RFC 2045 tokens, quoted strings, comments) ---- */

/* A cursor over a header value. */
typedef struct mime_lex {
    const char *s;
    size_t i, n;
} mime_lex;

/* lex_cfws - skip white space, line ends and comments (nested, with quoted pairs) */
static void lex_cfws(mime_lex *l)
{
    while (l->i < l->n) {
        char ch = l->s[l->i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            l->i++;
            continue;
        }
        if (ch != '(') return;
        size_t nest = 0;
        while (l->i < l->n) {
            ch = l->s[l->i++];
            if (ch == '\\' && l->i < l->n)
                l->i++;
            else if (ch == '(')
                nest++;
            else if (ch == ')' && --nest == 0)
                break;
        }
    }
}

/* is_tchar - an RFC 2045 token character */
static int is_tchar(unsigned char ch)
{
    return ch > 32 && ch < 127 && !strchr("()<>@,;:\\\"/[]?=", ch);
}

/* is_vchar - a byte of an unquoted parameter value: tokens, plus the '=', '/', '@' ... and 8-bit
 * bytes that sloppy mailers leave unquoted */
static int is_vchar(unsigned char ch)
{
    return ch > 32 && ch != 127 && !strchr("();\"", ch);
}

/* lex_token - a token at the cursor, lower-cased in a; NULL when there is none */
static char *lex_token(mime_lex *l, arena *a)
{
    size_t b = l->i;
    while (l->i < l->n && is_tchar((unsigned char)l->s[l->i]))
        l->i++;
    if (l->i == b) return NULL;
    return str_lower(arena_strndup(a, l->s + b, l->i - b));
}

/* lex_quoted - the quoted string at the cursor (on its '"'), unescaped, in a; NULL when unterminated */
static char *lex_quoted(mime_lex *l, arena *a)
{
    size_t b = ++l->i;
    char *r = arena_alloc(a, l->n - b + 1);
    if (!r) return NULL;
    size_t n = 0;
    while (l->i < l->n) {
        char ch = l->s[l->i++];
        if (ch == '"') {
            r[n] = '\0';
            return r;
        }
        if (ch == '\\' && l->i < l->n) ch = l->s[l->i++];
        r[n++] = ch;
    }
    return NULL;
}

/* lex_value - a parameter value (quoted string or unquoted run) at the cursor, in a; NULL if none */
static char *lex_value(mime_lex *l, arena *a)
{
    if (l->i < l->n && l->s[l->i] == '"') return lex_quoted(l, a);
    size_t b = l->i;
    while (l->i < l->n && is_vchar((unsigned char)l->s[l->i]))
        l->i++;
    if (l->i == b) return NULL;
    return arena_strndup(a, l->s + b, l->i - b);
}

/* parse_params - the "; name=value" list after a Content-Type or Content-Disposition value, names
 * lower-cased; stops quietly at the first syntax error, keeping what precedes it */
static int parse_params(mime_lex *l, arena *a, mime_param **params, int *nparams)
{
    size_t max = 0;
    for (size_t i = l->i; i < l->n; i++)
        max += l->s[i] == ';';
    *params = NULL;
    *nparams = 0;
    if (max == 0) return 0;
    mime_param *p = arena_alloc(a, max * sizeof *p);
    if (!p) return SOCLE_ENOMEM;
    int n = 0;
    for (;;) {
        lex_cfws(l);
        if (l->i >= l->n || l->s[l->i] != ';') break;
        l->i++;
        lex_cfws(l);
        if (l->i >= l->n) break; /* a trailing ';' */
        char *name = lex_token(l, a);
        if (!name) break;
        lex_cfws(l);
        if (l->i >= l->n || l->s[l->i] != '=') break;
        l->i++;
        lex_cfws(l);
        char *value = lex_value(l, a);
        if (!value) break;
        p[n].name = name;
        p[n].value = value;
        n++;
    }
    *params = p;
    *nparams = n;
    return 0;
}

/* known_type - whether t is a registered top-level media type (or an x- extension) */
static int known_type(const char *t)
{
    static const char *const types[] = {"text",      "image",   "audio", "video", "application",
                                        "multipart", "message", "model", "font",  "haptics"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(t, types[i]) == 0) return 1;
    return strncmp(t, "x-", 2) == 0;
}

/* parse_ctype - the type, subtype and parameters of p from its Content-Type value v (NULL when
 * absent). Absent or unreadable: the default of RFC 2045 §5.2 (text/plain; charset=us-ascii, or
 * message/rfc822 inside a multipart/digest); an unknown top-level type: application/octet-stream. */
static int parse_ctype(mime_ctx *c, mime_part *p, const char *v, int in_digest)
{
    if (v) {
        mime_lex l = {v, 0, strlen(v)};
        lex_cfws(&l);
        char *type = lex_token(&l, c->a);
        lex_cfws(&l);
        if (type && l.i < l.n && l.s[l.i] == '/') {
            l.i++;
            lex_cfws(&l);
            char *sub = lex_token(&l, c->a);
            if (sub) {
                if (known_type(type)) {
                    p->type = type;
                    p->subtype = sub;
                } else {
                    p->type = "application";
                    p->subtype = "octet-stream";
                }
                return parse_params(&l, c->a, &p->params, &p->nparams);
            }
        }
    }
    if (in_digest) {
        p->type = "message";
        p->subtype = "rfc822";
        return 0;
    }
    p->type = "text";
    p->subtype = "plain";
    mime_param *cs = arena_alloc(c->a, sizeof *cs);
    if (!cs) return SOCLE_ENOMEM;
    cs->name = "charset";
    cs->value = "us-ascii";
    p->params = cs;
    p->nparams = 1;
    return 0;
}

/* parse_disposition - the disposition type (lower case) and parameters of p from value v */
static int parse_disposition(mime_ctx *c, mime_part *p, const char *v)
{
    mime_lex l = {v, 0, strlen(v)};
    lex_cfws(&l);
    char *d = lex_token(&l, c->a);
    if (!d) return 0; /* unreadable: as if absent */
    p->disposition = d;
    return parse_params(&l, c->a, &p->disposition_params, &p->ndisposition_params);
}

/* read_fields - the MIME fields of p from its header block (the first of each name counts) */
static int read_fields(mime_ctx *c, mime_part *p, int in_digest)
{
    static const char *const names[] = {"content-type",        "content-transfer-encoding", "content-id",
                                        "content-description", "content-disposition",       "content-md5",
                                        "content-language",    "content-location"};
    enum { N = sizeof names / sizeof names[0] };
    const char *vals[N] = {0};
    mime_field f;
    size_t pos = p->header_offset, end = p->header_offset + p->header_length;
    while (hdr_next(c->msg, &pos, end, &f)) {
        if (f.name_len < 8 || !name_eq(c->msg + f.name, 8, "content-")) continue;
        for (int i = 0; i < N; i++) {
            if (vals[i] || !name_eq(c->msg + f.name, f.name_len, names[i])) continue;
            vals[i] = unfold(c->a, c->msg, f.value, f.value_end);
            if (!vals[i]) return socle_err_set(c->err, SOCLE_ENOMEM, "out of memory");
        }
    }
    if (parse_ctype(c, p, vals[0], in_digest) != 0)
        return socle_err_set(c->err, SOCLE_ENOMEM, "out of memory");
    p->encoding = "7bit";
    if (vals[1]) {
        mime_lex l = {vals[1], 0, strlen(vals[1])};
        lex_cfws(&l);
        char *enc = lex_token(&l, c->a);
        if (enc) p->encoding = enc;
    }
    p->id = vals[2];
    p->description = vals[3];
    if (vals[4] && parse_disposition(c, p, vals[4]) != 0)
        return socle_err_set(c->err, SOCLE_ENOMEM, "out of memory");
    p->md5 = vals[5];
    p->language = vals[6];
    p->location = vals[7];
    return 0;
}

/* ---- the tree ---- */

/* delim_kind - whether the line msg[s..cend) is a delimiter of the boundary b[0..bl): 1 for
 * "--b", 2 for the closing "--b--" (transport padding allowed after either), 0 otherwise */
static int delim_kind(const char *msg, size_t s, size_t cend, const char *b, size_t bl)
{
    if (cend - s < bl + 2 || msg[s] != '-' || msg[s + 1] != '-' || memcmp(msg + s + 2, b, bl) != 0) return 0;
    size_t p = s + 2 + bl;
    int kind = 1;
    if (cend - p >= 2 && msg[p] == '-' && msg[p + 1] == '-') {
        kind = 2;
        p += 2;
    }
    while (p < cend && is_wsp(msg[p]))
        p++;
    return p == cend ? kind : 0;
}

/* mp_split - the parts of the multipart body [b, e) delimited by boundary bnd[0..bl): their number
 * in *n (counting stops past max), their ranges in kids[] when it is not NULL; *seen when a
 * delimiter was met, *closed when the closing one was. The line end before a delimiter belongs to
 * the delimiter (RFC 2046 §5.1.1); the preamble and the epilogue belong to no part. */
static void mp_split(const char *msg, size_t b, size_t e, const char *bnd, size_t bl, int max,
                     mime_part *kids, int *n, int *seen, int *closed)
{
    int count = -1; /* -1: in the preamble */
    size_t part_start = b;
    *seen = *closed = 0;
    for (size_t pos = b; pos < e;) {
        size_t cend, next = line_next(msg, pos, e, &cend);
        int kind = delim_kind(msg, pos, cend, bnd, bl);
        if (kind) {
            *seen = 1;
            if (count >= 0) {
                size_t pe = pos - 1; /* pos > b here: the LF that ends the previous line */
                if (pe > part_start && msg[pe - 1] == '\r') pe--;
                if (pe < part_start) pe = part_start;
                if (kids && count < max) {
                    kids[count].offset = part_start;
                    kids[count].length = pe - part_start;
                }
                if (++count > max) break;
            } else {
                count = 0;
            }
            if (kind == 2) {
                *closed = 1;
                break;
            }
            part_start = next;
        }
        pos = next;
    }
    *n = count < 0 ? 0 : count;
}

static int parse_part(mime_ctx *c, mime_part *p, size_t off, size_t n, int depth, int in_digest);

/* parse_multipart - the children of the multipart p (at nesting level depth) */
static int parse_multipart(mime_ctx *c, mime_part *p, int depth)
{
    const char *bnd = NULL;
    for (int i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i].name, "boundary") == 0) {
            bnd = p->params[i].value;
            break;
        }
    if (!bnd || !*bnd) return socle_err_set(c->err, SOCLE_EINVAL, "multipart without a boundary");
    size_t bl = strlen(bnd);
    if (bl > MIME_MAX_BOUNDARY)
        return socle_err_set(c->err, SOCLE_EINVAL, "multipart boundary longer than %d bytes",
                             MIME_MAX_BOUNDARY);
    if (depth + 1 > c->max_depth)
        return socle_err_set(c->err, SOCLE_ETOOLARGE, "MIME nesting deeper than %d", c->max_depth);
    int max = c->max_parts - c->nparts, n, seen, closed;
    size_t b = p->body_offset, e = p->body_offset + p->body_length;
    mp_split(c->msg, b, e, bnd, bl, max, NULL, &n, &seen, &closed);
    if (n > max) return socle_err_set(c->err, SOCLE_ETOOLARGE, "more than %d MIME parts", c->max_parts);
    if (!seen || (closed && n == 0)) return socle_err_set(c->err, SOCLE_EINVAL, "multipart without any part");
    if (!closed) return socle_err_set(c->err, SOCLE_EINVAL, "unterminated multipart (no closing boundary)");
    mime_part *kids = arena_zalloc(c->a, (size_t)n * sizeof *kids);
    if (!kids) return socle_err_set(c->err, SOCLE_ENOMEM, "out of memory");
    mp_split(c->msg, b, e, bnd, bl, max, kids, &n, &seen, &closed);
    c->nparts += n;
    p->children = kids;
    p->nchildren = n;
    int digest = strcmp(p->subtype, "digest") == 0;
    for (int i = 0; i < n; i++) {
        int rc = parse_part(c, &kids[i], kids[i].offset, kids[i].length, depth + 1, digest);
        if (rc) return rc;
    }
    return 0;
}

/* identity_encoding - whether enc leaves the content as it is (7bit, 8bit, binary) */
static int identity_encoding(const char *enc)
{
    return strcmp(enc, "7bit") == 0 || strcmp(enc, "8bit") == 0 || strcmp(enc, "binary") == 0;
}

/* parse_part - fill p from the part msg[off..off+n) at nesting level depth: its header, its MIME
 * fields, and for a multipart or a message/rfc822 what it encloses */
static int parse_part(mime_ctx *c, mime_part *p, size_t off, size_t n, int depth, int in_digest)
{
    memset(p, 0, sizeof *p);
    p->offset = off;
    p->length = n;
    size_t hlen = 0;
    int rc = header_scan(c, off, off + n, &hlen);
    if (rc) return rc;
    p->header_offset = off;
    p->header_length = hlen;
    p->body_offset = off + hlen;
    p->body_length = n - hlen;
    p->body_lines = count_lines(c->msg + p->body_offset, p->body_length);
    rc = read_fields(c, p, in_digest);
    if (rc) return rc;
    if (strcmp(p->type, "multipart") == 0) return parse_multipart(c, p, depth);
    if (strcmp(p->type, "message") != 0 || strcmp(p->subtype, "rfc822") != 0) return 0;
    if (!identity_encoding(p->encoding)) {
        /* An encoded message/rfc822 (forbidden by RFC 2046 §5.2.1) cannot be shown as one in
         * place: IMAP sees an attachment to decode. */
        p->type = "application";
        p->subtype = "octet-stream";
        return 0;
    }
    if (depth + 1 > c->max_depth)
        return socle_err_set(c->err, SOCLE_ETOOLARGE, "MIME nesting deeper than %d", c->max_depth);
    if (c->nparts >= c->max_parts)
        return socle_err_set(c->err, SOCLE_ETOOLARGE, "more than %d MIME parts", c->max_parts);
    c->nparts++;
    p->message = arena_alloc(c->a, sizeof *p->message);
    if (!p->message) return socle_err_set(c->err, SOCLE_ENOMEM, "out of memory");
    return parse_part(c, p->message, p->body_offset, p->body_length, depth + 1, 0);
}

int mime_parse(const char *msg, size_t len, const mime_limits *lim, arena *a, mime_part **root,
               socle_err *err)
{
    if (root) *root = NULL;
    if (!msg || !a || !root) return socle_err_set(err, SOCLE_EINVAL, "mime_parse: missing argument");
    mime_ctx c = {msg, len, MIME_DEF_HEADER_BYTES, MIME_DEF_LINE_BYTES, MIME_DEF_DEPTH, MIME_DEF_PARTS, 1,
                  a,   err};
    if (lim) {
        if (lim->max_header_bytes) c.max_header = lim->max_header_bytes;
        if (lim->max_line_bytes) c.max_line = lim->max_line_bytes;
        if (lim->max_depth > 0) c.max_depth = lim->max_depth;
        if (lim->max_parts > 0) c.max_parts = lim->max_parts;
    }
    if (c.max_depth > MIME_HARD_DEPTH) c.max_depth = MIME_HARD_DEPTH;
    mime_part *r = arena_alloc(a, sizeof *r);
    if (!r) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int rc = parse_part(&c, r, 0, len, 0, 0);
    if (rc) return rc;
    *root = r;
    return 0;
}

/* ---- IMAP strings ---- */

/* imap_str - s[0..n) as an IMAP string: quoted, or a literal when it holds CR, LF, '"', '\\', NUL
 * or 8-bit bytes */
static void imap_str(socle_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80 || ch == '\r' || ch == '\n' || ch == '"' || ch == '\\' || ch == 0) {
            buf_printf(out, "{%zu}\r\n", n);
            buf_append(out, s, n);
            return;
        }
    }
    buf_putc(out, '"');
    buf_append(out, s, n);
    buf_putc(out, '"');
}

/* imap_nstr - s as an IMAP string, NIL when NULL */
static void imap_nstr(socle_buf *out, const char *s)
{
    if (!s)
        buf_puts(out, "NIL");
    else
        imap_str(out, s, strlen(s));
}

/* imap_upper - s upper-cased as an IMAP string (media types, encodings, parameter names), NIL when NULL */
static void imap_upper(socle_buf *out, const char *s, arena *a)
{
    char *u = s ? arena_strdup(a, s) : NULL;
    if (!u) {
        imap_nstr(out, s);
        return;
    }
    for (char *p = u; *p; p++)
        *p = upper(*p);
    imap_nstr(out, u);
}

/* ---- ENVELOPE ---- */

/* One lexical item of an address list: an atom ('a'), a quoted string ('q', quotes included), a
 * domain literal ('d'), or one of the specials < > @ : ; , . (its own character). */
typedef struct mime_atok {
    char kind;
    const char *s;
    size_t n;
} mime_atok;

/* One ENVELOPE address: a mailbox, or a group start (mailbox only) or end (all NULL). */
typedef struct mime_addr {
    const char *name, *adl, *mailbox, *host;
} mime_addr;

/* addr_tokens - split the unfolded address list v into tokens (comments dropped); -1 when it
 * cannot be read (unterminated quote, comment or literal, stray character) */
static int addr_tokens(const char *v, mime_atok *t, int max)
{
    int n = 0;
    size_t len = strlen(v);
    mime_lex l = {v, 0, len};
    for (;;) {
        lex_cfws(&l);
        if (l.i >= len) return n;
        if (n == max) return -1;
        size_t b = l.i;
        char ch = v[l.i];
        if (ch == '"' || ch == '[') {
            char close = ch == '"' ? '"' : ']';
            l.i++;
            while (l.i < len && v[l.i] != close) {
                if (v[l.i] == '\\') l.i++;
                if (l.i < len) l.i++;
            }
            if (l.i >= len) return -1;
            l.i++;
            t[n++] = (mime_atok){ch == '"' ? 'q' : 'd', v + b, l.i - b};
        } else if (strchr("<>@:;,.", ch)) {
            l.i++;
            t[n++] = (mime_atok){ch, v + b, 1};
        } else {
            while (l.i < len) {
                unsigned char u = (unsigned char)v[l.i];
                if (u <= 32 || u == 127 || strchr("()<>[]:;@\\,.\"", u)) break;
                l.i++;
            }
            if (l.i == b) return -1; /* a stray ')', ']' or '\\' */
            t[n++] = (mime_atok){'a', v + b, l.i - b};
        }
    }
}

/* addr_join - tokens t[b..e) joined in a: a phrase (words separated by one space, quoted strings
 * unquoted) when phrase, else glued as written (local parts, domains, routes); NULL when empty */
static char *addr_join(const mime_atok *t, int b, int e, int phrase, arena *a)
{
    size_t total = 0;
    for (int i = b; i < e; i++)
        total += t[i].n + 1;
    if (total == 0) return NULL;
    char *r = arena_alloc(a, total + 1);
    if (!r) return NULL;
    size_t n = 0;
    for (int i = b; i < e; i++) {
        if (phrase && n > 0 && t[i].kind != '.') r[n++] = ' ';
        if (phrase && t[i].kind == 'q') {
            for (size_t j = 1; j + 1 < t[i].n; j++) {
                if (t[i].s[j] == '\\' && j + 2 < t[i].n) j++;
                r[n++] = t[i].s[j];
            }
        } else {
            memcpy(r + n, t[i].s, t[i].n);
            n += t[i].n;
        }
    }
    r[n] = '\0';
    return r;
}

/* addr_spec - local-part "@" domain at t[*i..nt), stopping before `stop` ('>' or the end); fills
 * mailbox and host; -1 when malformed */
static int addr_spec(const mime_atok *t, int nt, int *i, mime_addr *ad, arena *a)
{
    int b = *i;
    while (*i < nt && (t[*i].kind == 'a' || t[*i].kind == 'q' || t[*i].kind == '.'))
        (*i)++;
    if (*i == b || *i >= nt || t[*i].kind != '@') return -1;
    ad->mailbox = addr_join(t, b, *i, 0, a);
    int d = ++(*i);
    while (*i < nt && (t[*i].kind == 'a' || t[*i].kind == 'd' || t[*i].kind == '.'))
        (*i)++;
    if (*i == d) return -1;
    ad->host = addr_join(t, d, *i, 0, a);
    return ad->mailbox && ad->host ? 0 : -1;
}

/* addr_parse - the addresses of the unfolded address list v (RFC 5322 §3.4, groups and obsolete
 * routes included) into *out, their number returned; -1 when unreadable */
static int addr_parse(const char *v, arena *a, mime_addr **out)
{
    size_t len = strlen(v);
    int max = len > 100000 ? 100000 : (int)len + 1;
    mime_atok *t = arena_alloc(a, (size_t)max * sizeof *t);
    if (!t) return -1;
    int nt = addr_tokens(v, t, max);
    if (nt <= 0) return nt;
    /* at most one address per token, plus a group end */
    mime_addr *ad = arena_zalloc(a, ((size_t)nt + 1) * sizeof *ad);
    if (!ad) return -1;
    int na = 0, in_group = 0;
    for (int i = 0; i < nt;) {
        if (t[i].kind == ',') {
            i++;
            continue;
        }
        if (t[i].kind == ';' && in_group) {
            ad[na++] = (mime_addr){0};
            in_group = 0;
            i++;
            continue;
        }
        int j = i;
        while (j < nt && (t[j].kind == 'a' || t[j].kind == 'q' || t[j].kind == '.'))
            j++;
        if (j < nt && t[j].kind == '<') {
            mime_addr m = {addr_join(t, i, j, 1, a), NULL, NULL, NULL};
            int k = j + 1;
            if (k < nt && t[k].kind == '@') { /* obsolete route: @a,@b: */
                int r = k;
                while (k < nt && t[k].kind != ':' && t[k].kind != '>')
                    k++;
                if (k >= nt || t[k].kind != ':') return -1;
                m.adl = addr_join(t, r, k, 0, a);
                k++;
            }
            if (addr_spec(t, nt, &k, &m, a) != 0 || k >= nt || t[k].kind != '>') return -1;
            ad[na++] = m;
            i = k + 1;
        } else if (j < nt && t[j].kind == ':' && !in_group) {
            char *g = addr_join(t, i, j, 1, a);
            ad[na++] = (mime_addr){NULL, NULL, g ? g : "", NULL};
            in_group = 1;
            i = j + 1;
            continue;
        } else if (j < nt && t[j].kind == '@') {
            mime_addr m = {0};
            int k = i;
            if (addr_spec(t, nt, &k, &m, a) != 0) return -1;
            ad[na++] = m;
            i = k;
        } else {
            return -1;
        }
        if (i < nt && t[i].kind != ',' && !(t[i].kind == ';' && in_group)) return -1;
    }
    if (in_group) ad[na++] = (mime_addr){0};
    *out = ad;
    return na;
}

/* env_addresses - the address list of field `name` of the message as an ENVELOPE member; 0 (and
 * nothing written) when the field is absent, empty or unreadable */
static int env_addresses(const char *msg, const mime_part *root, const char *name, arena *a, socle_buf *out)
{
    const char *v = mime_header(msg, root, name, a);
    if (!v) return 0;
    mime_addr *ad;
    int n = addr_parse(v, a, &ad);
    if (n <= 0) return 0;
    buf_putc(out, '(');
    for (int i = 0; i < n; i++) {
        buf_putc(out, '(');
        imap_nstr(out, ad[i].name);
        buf_putc(out, ' ');
        imap_nstr(out, ad[i].adl);
        buf_putc(out, ' ');
        imap_nstr(out, ad[i].mailbox);
        buf_putc(out, ' ');
        imap_nstr(out, ad[i].host);
        buf_putc(out, ')');
    }
    buf_putc(out, ')');
    return 1;
}

void mime_envelope(const char *msg, const mime_part *root, arena *a, socle_buf *out)
{
    buf_putc(out, '(');
    imap_nstr(out, mime_header(msg, root, "Date", a));
    buf_putc(out, ' ');
    imap_nstr(out, mime_header(msg, root, "Subject", a));
    static const char *const lists[] = {"From", "Sender", "Reply-To", "To", "Cc", "Bcc"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        buf_putc(out, ' ');
        if (env_addresses(msg, root, lists[i], a, out)) continue;
        /* RFC 3501: Sender and Reply-To absent or empty are From */
        if ((i == 1 || i == 2) && env_addresses(msg, root, "From", a, out)) continue;
        buf_puts(out, "NIL");
    }
    buf_putc(out, ' ');
    imap_nstr(out, mime_header(msg, root, "In-Reply-To", a));
    buf_putc(out, ' ');
    imap_nstr(out, mime_header(msg, root, "Message-ID", a));
    buf_putc(out, ')');
}

/* ---- BODYSTRUCTURE ---- */

/* bs_params - a body-fld-param: ("NAME" "value" ...) or NIL */
static void bs_params(socle_buf *out, const mime_param *p, int n, arena *a)
{
    if (n <= 0 || !p) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    for (int i = 0; i < n; i++) {
        if (i) buf_putc(out, ' ');
        imap_upper(out, p[i].name, a);
        buf_putc(out, ' ');
        imap_nstr(out, p[i].value);
    }
    buf_putc(out, ')');
}

/* bs_language - a body-fld-lang from a Content-Language value: NIL, one string, or a list of the
 * comma-separated tags */
static void bs_language(socle_buf *out, const char *v)
{
    if (!v) {
        buf_puts(out, "NIL");
        return;
    }
    size_t len = strlen(v);
    int ntags = 0;
    socle_buf tags = SOCLE_BUF_INIT;
    mime_lex l = {v, 0, len};
    for (;;) {
        lex_cfws(&l);
        if (l.i >= len) break;
        if (v[l.i] == ',') {
            l.i++;
            continue;
        }
        size_t b = l.i;
        while (l.i < len && v[l.i] != ',' && v[l.i] != '(' && v[l.i] != ' ' && v[l.i] != '\t')
            l.i++;
        if (ntags++) buf_putc(&tags, ' ');
        imap_str(&tags, v + b, l.i - b);
    }
    if (ntags == 0)
        buf_puts(out, "NIL");
    else if (ntags == 1)
        buf_append(out, tags.data, tags.len);
    else {
        buf_putc(out, '(');
        buf_append(out, tags.data, tags.len);
        buf_putc(out, ')');
    }
    if (!buf_ok(&tags)) out->oom = 1;
    buf_free(&tags);
}

/* bs_ext_common - the extension data shared by both kinds of body: disposition, language, location */
static void bs_ext_common(socle_buf *out, const mime_part *p, arena *a)
{
    buf_putc(out, ' ');
    if (!p->disposition) {
        buf_puts(out, "NIL");
    } else {
        buf_putc(out, '(');
        imap_upper(out, p->disposition, a);
        buf_putc(out, ' ');
        bs_params(out, p->disposition_params, p->ndisposition_params, a);
        buf_putc(out, ')');
    }
    buf_putc(out, ' ');
    bs_language(out, p->language);
    buf_putc(out, ' ');
    imap_nstr(out, p->location);
}

/* bs_part - the body of p (extended: BODYSTRUCTURE) at nesting level depth */
static void bs_part(const char *msg, const mime_part *p, int extended, arena *a, socle_buf *out, int depth)
{
    if (depth > MIME_HARD_DEPTH + 1) { /* never for a tree from mime_parse */
        buf_puts(out, "NIL");
        return;
    }
    const char *type = p->type ? p->type : "text", *sub = p->subtype ? p->subtype : "plain";
    buf_putc(out, '(');
    if (p->nchildren > 0 && p->children) {
        for (int i = 0; i < p->nchildren; i++)
            bs_part(msg, &p->children[i], extended, a, out, depth + 1);
        buf_putc(out, ' ');
        imap_upper(out, sub, a);
        if (extended) {
            buf_putc(out, ' ');
            bs_params(out, p->params, p->nparams, a);
            bs_ext_common(out, p, a);
        }
    } else {
        imap_upper(out, type, a);
        buf_putc(out, ' ');
        imap_upper(out, sub, a);
        buf_putc(out, ' ');
        bs_params(out, p->params, p->nparams, a);
        buf_putc(out, ' ');
        imap_nstr(out, p->id);
        buf_putc(out, ' ');
        imap_nstr(out, p->description);
        buf_putc(out, ' ');
        imap_upper(out, p->encoding ? p->encoding : "7bit", a);
        buf_printf(out, " %zu", p->body_length);
        if (p->message && strcmp(type, "message") == 0 && strcmp(sub, "rfc822") == 0) {
            buf_putc(out, ' ');
            mime_envelope(msg, p->message, a, out);
            buf_putc(out, ' ');
            bs_part(msg, p->message, extended, a, out, depth + 1);
            buf_printf(out, " %zu", p->body_lines);
        } else if (strcmp(type, "text") == 0) {
            buf_printf(out, " %zu", p->body_lines);
        }
        if (extended) {
            buf_putc(out, ' ');
            imap_nstr(out, p->md5);
            bs_ext_common(out, p, a);
        }
    }
    buf_putc(out, ')');
}

void mime_bodystructure(const char *msg, const mime_part *part, int extended, arena *a, socle_buf *out)
{
    bs_part(msg, part, extended, a, out, 0);
}

/* ---- BODY[section] ---- */

/* The part specifiers of RFC 3501 §6.4.5. */
enum { SEC_ALL, SEC_PART, SEC_HEADER, SEC_TEXT, SEC_MIME, SEC_FIELDS, SEC_FIELDS_NOT };

/* A header field name of a HEADER.FIELDS list. */
typedef struct mime_fname {
    const char *s;
    size_t n;
} mime_fname;

/* emit - msg[off..off+n) to out, clipped to len */
static void emit(socle_buf *out, const char *msg, size_t len, size_t off, size_t n)
{
    if (off >= len) return;
    if (n > len - off) n = len - off;
    buf_append(out, msg + off, n);
}

/* section_fields - parse the " (name name ...)" list of HEADER.FIELDS[.NOT] at s into names */
static int section_fields(const char *s, arena *a, mime_fname **names, int *n, socle_err *err)
{
    size_t len = strlen(s);
    if (len < 3 || s[0] != ' ' || s[1] != '(')
        return socle_err_set(err, SOCLE_EINVAL, "HEADER.FIELDS without its list of names");
    mime_fname *f = arena_alloc(a, len * sizeof *f);
    if (!f) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int count = 0;
    size_t i = 2;
    for (;;) {
        while (i < len && s[i] == ' ')
            i++;
        if (i >= len) return socle_err_set(err, SOCLE_EINVAL, "HEADER.FIELDS list without ')'");
        if (s[i] == ')') {
            i++;
            break;
        }
        if (s[i] == '"') {
            char *q = arena_alloc(a, len - i);
            if (!q) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
            size_t qn = 0;
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < len) i++;
                q[qn++] = s[i];
            }
            if (i >= len) return socle_err_set(err, SOCLE_EINVAL, "unterminated quoted field name");
            i++;
            q[qn] = '\0';
            f[count++] = (mime_fname){q, qn};
        } else {
            size_t b = i;
            while (i < len && (unsigned char)s[i] > 32 && (unsigned char)s[i] < 127 && !strchr("()\"{", s[i]))
                i++;
            if (i == b) return socle_err_set(err, SOCLE_EINVAL, "invalid field name in HEADER.FIELDS");
            f[count++] = (mime_fname){s + b, i - b};
        }
        if (i < len && s[i] != ' ' && s[i] != ')')
            return socle_err_set(err, SOCLE_EINVAL, "invalid field name in HEADER.FIELDS");
    }
    if (i != len) return socle_err_set(err, SOCLE_EINVAL, "text after the HEADER.FIELDS list");
    if (count == 0) return socle_err_set(err, SOCLE_EINVAL, "empty HEADER.FIELDS list");
    *names = f;
    *n = count;
    return 0;
}

/* section_child - the part numbered k inside node, NULL when there is none. *is_msg says node
 * stands for a message (the root, or the message a message/rfc822 encloses) rather than a part:
 * a message that is not multipart has one part, its body, numbered 1 (RFC 3501 §6.4.5). */
static const mime_part *section_child(const mime_part *node, int *is_msg, unsigned long k)
{
    int msg_ctx = *is_msg;
    if (!msg_ctx && node->message) {
        node = node->message;
        msg_ctx = 1;
    }
    *is_msg = 0;
    if (node->nchildren > 0 && node->children)
        return k <= (unsigned long)node->nchildren ? &node->children[k - 1] : NULL;
    return msg_ctx && k == 1 ? node : NULL;
}

/* section_header_fields - the fields of the header block of m whose name is (or, with invert, is not)
 * in names, as written, then the blank line that ends the block */
static void section_header_fields(const char *msg, size_t len, const mime_part *m, const mime_fname *names,
                                  int n, int invert, socle_buf *out)
{
    size_t pos = m->header_offset, end = m->header_offset + m->header_length;
    if (end > len) end = len;
    if (pos > end) return;
    mime_field f;
    while (hdr_next(msg, &pos, end, &f)) {
        int hit = 0;
        for (int i = 0; i < n && !hit; i++)
            hit = names[i].n == f.name_len && strncasecmp(names[i].s, msg + f.name, f.name_len) == 0;
        if (hit == invert) continue;
        buf_append(out, msg + f.start, f.end - f.start);
        if (f.end == f.start || msg[f.end - 1] != '\n') buf_puts(out, "\r\n");
    }
    if (pos < end) buf_append(out, msg + pos, end - pos); /* the blank line */
}

/* A parsed section spec. */
typedef struct mime_spec {
    unsigned long path[MIME_SECTION_MAX_PATH];
    int np, kind;
    mime_fname *names; /* HEADER.FIELDS[.NOT] */
    int nnames;
} mime_spec;

/* section_parse - spec into sp (field names in a). SOCLE_EINVAL for a malformed spec. */
static int section_parse(const char *spec, arena *a, mime_spec *sp, socle_err *err)
{
    const char *s = spec ? spec : "";
    int dot = 0;
    sp->np = 0;
    sp->names = NULL;
    sp->nnames = 0;
    while (*s >= '0' && *s <= '9') {
        if (*s == '0')
            return socle_err_set(err, SOCLE_EINVAL, "section part number 0 or with a leading zero");
        unsigned long v = 0;
        int nd = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++nd > 9) return socle_err_set(err, SOCLE_EINVAL, "section part number too large");
            v = v * 10 + (unsigned long)(*s - '0');
        }
        if (sp->np == MIME_SECTION_MAX_PATH) return socle_err_set(err, SOCLE_EINVAL, "section nested too deep");
        sp->path[sp->np++] = v;
        dot = 0;
        if (*s == '.') {
            s++;
            dot = 1;
        } else if (*s) {
            return socle_err_set(err, SOCLE_EINVAL, "malformed section");
        }
    }
    if (!*s) {
        if (dot) return socle_err_set(err, SOCLE_EINVAL, "section ends with a dot");
        sp->kind = sp->np ? SEC_PART : SEC_ALL;
    } else if (strncasecmp(s, "HEADER.FIELDS.NOT", 17) == 0) {
        sp->kind = SEC_FIELDS_NOT;
        return section_fields(s + 17, a, &sp->names, &sp->nnames, err);
    } else if (strncasecmp(s, "HEADER.FIELDS", 13) == 0) {
        sp->kind = SEC_FIELDS;
        return section_fields(s + 13, a, &sp->names, &sp->nnames, err);
    } else if (text_equal_nocase(s, "HEADER")) {
        sp->kind = SEC_HEADER;
    } else if (text_equal_nocase(s, "TEXT")) {
        sp->kind = SEC_TEXT;
    } else if (text_equal_nocase(s, "MIME") && sp->np > 0) {
        sp->kind = SEC_MIME;
    } else {
        return socle_err_set(err, SOCLE_EINVAL, "unknown section");
    }
    return 0;
}

int mime_section_check(const char *spec, arena *a, socle_err *err)
{
    mime_spec sp;
    return section_parse(spec, a, &sp, err);
}

int mime_section(const char *msg, size_t len, const mime_part *root, const char *spec, arena *a,
                 socle_buf *out, socle_err *err)
{
    if (!msg || !root || !out) return socle_err_set(err, SOCLE_EINVAL, "mime_section: missing argument");
    mime_spec sp;
    int rc = section_parse(spec, a, &sp, err);
    if (rc) return rc;
    const unsigned long *path = sp.path;
    int np = sp.np, kind = sp.kind, nnames = sp.nnames;
    const mime_fname *names = sp.names;
    const mime_part *node = root;
    int is_msg = 1;
    for (int i = 0; i < np && node; i++)
        node = section_child(node, &is_msg, path[i]);
    if (!node) return 0; /* no such part: empty */
    const mime_part *m = node;
    if (kind == SEC_HEADER || kind == SEC_TEXT || kind == SEC_FIELDS || kind == SEC_FIELDS_NOT) {
        if (np > 0) m = node->message; /* only a message/rfc822 part has them */
        if (!m) return 0;
    }
    switch (kind) {
    case SEC_ALL:
        emit(out, msg, len, root->offset, root->length);
        break;
    case SEC_PART:
    case SEC_TEXT:
        emit(out, msg, len, m->body_offset, m->body_length);
        break;
    case SEC_HEADER:
    case SEC_MIME:
        emit(out, msg, len, m->header_offset, m->header_length);
        break;
    default:
        section_header_fields(msg, len, m, names, nnames, kind == SEC_FIELDS_NOT, out);
        break;
    }
    if (!buf_ok(out)) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    return 0;
}

/* ---- content decoding ---- */

/* A small staging area in front of a socle_buf, so that decoders write byte by byte cheaply. */
typedef struct mime_out {
    socle_buf *b;
    size_t n;
    char d[1024];
} mime_out;

/* out_putc - one byte through the staging area */
static void out_putc(mime_out *o, char c)
{
    if (o->n == sizeof o->d) {
        buf_append(o->b, o->d, o->n);
        o->n = 0;
    }
    o->d[o->n++] = c;
}

/* out_flush - what is staged, to the buffer */
static void out_flush(mime_out *o)
{
    if (o->n) buf_append(o->b, o->d, o->n);
    o->n = 0;
}

/* B64 - the value of each byte in base64: 0..63 for the alphabet, B64_SPACE for the white space
 * of line ends, B64_PAD for '=', B64_BAD for anything else (one lookup per byte, no branches on
 * character classes: this loop decodes every XDM attachment) */
enum { B64_SPACE = 64, B64_PAD = 65, B64_BAD = 255 };
static const unsigned char B64[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255,  64,  64, 255, 255,  64, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
     64, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255,  65, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/* b64_decode - base64 s[0..n) to out (line ends and white space ignored, missing padding tolerated);
 * SOCLE_EINVAL for any other character, data after the padding or a lone last character */
static int b64_decode(const char *s, size_t n, socle_buf *out, socle_err *err)
{
    if (buf_reserve(out, n / 4 * 3 + 3)) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    unsigned char *o = (unsigned char *)out->data + out->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    unsigned acc = 0;
    int nq = 0, pad = 0, need = 0;
    for (; p < end; p++) {
        /* Fast path: four alphabet characters at a quantum boundary, the common case. */
        while (nq == 0 && end - p >= 4) {
            unsigned a = B64[p[0]], b = B64[p[1]], c = B64[p[2]], d = B64[p[3]];
            if ((a | b | c | d) >= 64) break;
            if (pad) return socle_err_set(err, SOCLE_EINVAL, "invalid base64: data after the padding");
            unsigned q = a << 18 | b << 12 | c << 6 | d;
            o[0] = (unsigned char)(q >> 16);
            o[1] = (unsigned char)(q >> 8);
            o[2] = (unsigned char)q;
            o += 3;
            p += 4;
        }
        if (p >= end) break;
        unsigned v = B64[*p];
        if (v < 64) {
            if (pad) return socle_err_set(err, SOCLE_EINVAL, "invalid base64: data after the padding");
            acc = (acc << 6) | v;
            if (++nq == 4) {
                o[0] = (unsigned char)(acc >> 16);
                o[1] = (unsigned char)(acc >> 8);
                o[2] = (unsigned char)acc;
                o += 3;
                acc = 0;
                nq = 0;
            }
            continue;
        }
        if (v == B64_SPACE) continue;
        if (v == B64_BAD) return socle_err_set(err, SOCLE_EINVAL, "invalid base64 character");
        /* '=' */
        if (pad == 0) {
            if (nq < 2) return socle_err_set(err, SOCLE_EINVAL, "invalid base64: misplaced padding");
            need = 4 - nq;
            *o++ = (unsigned char)(acc >> (nq == 2 ? 4 : 10));
            if (nq == 3) *o++ = (unsigned char)(acc >> 2);
            nq = 0;
        }
        if (++pad > need) return socle_err_set(err, SOCLE_EINVAL, "invalid base64: too much padding");
    }
    if (nq == 1) return socle_err_set(err, SOCLE_EINVAL, "invalid base64: truncated");
    if (nq == 2) *o++ = (unsigned char)(acc >> 4);
    if (nq == 3) {
        *o++ = (unsigned char)(acc >> 10);
        *o++ = (unsigned char)(acc >> 2);
    }
    out->len = (size_t)((char *)o - out->data);
    out->data[out->len] = 0;
    return 0;
}

/* hex_value - the value of a hexadecimal digit (either case), -1 otherwise */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* qp_decode - quoted-printable s[0..n) to out (RFC 2045 §6.7): =XX, soft line breaks, trailing
 * white space dropped, line ends kept as written; a '=' that starts nothing is kept as is */
static void qp_decode(const char *s, size_t n, socle_buf *out)
{
    mime_out o = {out, 0, {0}};
    for (size_t pos = 0; pos < n;) {
        size_t cend, next = line_next(s, pos, n, &cend);
        size_t ce = cend;
        while (ce > pos && is_wsp(s[ce - 1]))
            ce--;
        int soft = 0;
        for (size_t i = pos; i < ce;) {
            if (s[i] != '=') {
                out_putc(&o, s[i++]);
                continue;
            }
            if (i + 1 == ce) {
                soft = 1;
                break;
            }
            int h = i + 2 < ce ? hex_value(s[i + 1]) : -1, l = i + 2 < ce ? hex_value(s[i + 2]) : -1;
            if (h >= 0 && l >= 0) {
                out_putc(&o, (char)(h * 16 + l));
                i += 3;
            } else {
                out_putc(&o, s[i++]);
            }
        }
        if (!soft)
            for (size_t i = cend; i < next; i++)
                out_putc(&o, s[i]);
        pos = next;
    }
    out_flush(&o);
}

int mime_decode(const char *msg, const mime_part *part, socle_buf *out, socle_err *err)
{
    if (!msg || !part || !out) return socle_err_set(err, SOCLE_EINVAL, "mime_decode: missing argument");
    const char *s = msg + part->body_offset;
    size_t n = part->body_length;
    const char *enc = part->encoding ? part->encoding : "7bit";
    if (strcmp(enc, "base64") == 0) {
        int rc = b64_decode(s, n, out, err);
        if (rc) return rc;
    } else if (strcmp(enc, "quoted-printable") == 0) {
        qp_decode(s, n, out);
    } else {
        buf_append(out, s, n);
    }
    if (!buf_ok(out)) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    return 0;
}
