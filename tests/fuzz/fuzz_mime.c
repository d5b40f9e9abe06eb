/* fuzz_mime.c - mime_parse (the MSSanté message parser) on arbitrary bytes, then on success everything
 * IMAP shows of the message: ENVELOPE, BODYSTRUCTURE and BODY, a few BODY[section]s, and mime_decode
 * of every leaf. Must return 0 or an error, never crash, never read past the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/mss/mime.h"

/* fuzz_check - a part lies within the message, its header and body within the part */
static void fuzz_check(const mime_part *p, size_t size)
{
    if (p->offset > size || p->length > size - p->offset) __builtin_trap();
    if (p->header_offset != p->offset || p->body_offset != p->header_offset + p->header_length)
        __builtin_trap();
    if (p->header_length + p->body_length != p->length) __builtin_trap();
    if (!p->type || !p->subtype || !p->encoding) __builtin_trap();
}

/* fuzz_leaves - mime_decode every leaf under p (the tree's depth is bounded by mime_parse) */
static void fuzz_leaves(const char *msg, size_t size, const mime_part *p, arena *a)
{
    fuzz_check(p, size);
    for (int i = 0; i < p->nchildren; i++)
        fuzz_leaves(msg, size, &p->children[i], a);
    if (p->message) fuzz_leaves(msg, size, p->message, a);
    if (p->nchildren == 0 && !p->message) {
        socle_buf out = SOCLE_BUF_INIT;
        socle_err err;
        (void)mime_decode(msg, p, &out, &err);
        buf_free(&out);
        (void)mime_header(msg, p, "Content-Type", a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: the parser must not rely on a NUL after the message */
    char *msg = malloc(size ? size : 1);
    if (!msg) return 0;
    if (size) memcpy(msg, data, size);
    arena *a = arena_new(0);
    mime_part *root = NULL;
    socle_err err;
    mime_limits lim = {0, 0, 0, 200};
    if (a && mime_parse(msg, size, &lim, a, &root, &err) == 0) {
        socle_buf out = SOCLE_BUF_INIT;
        mime_envelope(msg, root, a, &out);
        mime_bodystructure(msg, root, 1, a, &out);
        mime_bodystructure(msg, root, 0, a, &out);
        static const char *const specs[] = {"",
                                            "HEADER",
                                            "TEXT",
                                            "1",
                                            "2",
                                            "1.1",
                                            "2.MIME",
                                            "1.2.3",
                                            "2.TEXT",
                                            "2.HEADER",
                                            "1.MIME",
                                            "HEADER.FIELDS (From Subject)",
                                            "HEADER.FIELDS.NOT (To)",
                                            "2.HEADER.FIELDS (Subject)"};
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            buf_reset(&out);
            if (mime_section(msg, size, root, specs[i], a, &out, &err) != 0) __builtin_trap();
            if (specs[i][0] == '\0' && out.len != size) __builtin_trap();
        }
        buf_free(&out);
        fuzz_leaves(msg, size, root, a);
    }
    arena_free(a);
    free(msg);
    return 0;
}
