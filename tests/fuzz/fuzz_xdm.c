/* fuzz_xdm.c - xdm_read (the MSSanté XDM ZIP reader: libzip and libxml2 underneath) on arbitrary
 * bytes, with small limits: must return 0 or an error, never crash, never inflate past the limits,
 * never expand an entity. A package it accepts has documents whose bytes are within the limits. */
#include <stdint.h>
#include <string.h>

#include "svc/mss/xdm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const xdm_limits lim = {
        .max_entries = 16, .max_entry_bytes = 1 << 20, .max_total_bytes = 2 << 20, .max_ratio = 200};
    arena *a = arena_new(0);
    if (a == NULL) return 0;
    xdm_package *p = NULL;
    socle_err err;
    int rc = xdm_read(data, size, &lim, a, &p, &err);
    if (rc == 0) {
        size_t total = 0;
        if (p == NULL || p->ndocuments < 1 || p->subset == NULL) __builtin_trap();
        for (int i = 0; i < p->ndocuments; i++) {
            const xdm_document *d = &p->documents[i];
            if (d->data == NULL || d->data[d->data_len] != '\0' || d->uri[0] == '\0') __builtin_trap();
            if (d->size >= 0 && (size_t)d->size != d->data_len) __builtin_trap();
            if (d->nauthors < 0 || d->nauthors > 8) __builtin_trap();
            total += d->data_len;
        }
        if (total > lim.max_total_bytes) __builtin_trap();
    } else if (p != NULL || err.code != rc) {
        __builtin_trap();
    }
    arena_free(a);
    return 0;
}
