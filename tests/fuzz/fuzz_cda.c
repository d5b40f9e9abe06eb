/* fuzz_cda.c - dmp_cda_parse (the DMP's CDA header reader, libxml2 underneath) on arbitrary bytes:
 * must return 0 or an error, never crash, never expand an entity. */
#include <stdint.h>
#include <string.h>

#include "svc/dmp/cda.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmp_cda_header h;
    socle_err err;
    if (dmp_cda_parse((const char *)data, size, 1 << 20, &h, &err) == 0) {
        /* A parsed header is made of terminated strings within their fields. */
        if (strlen(h.type_code) >= sizeof h.type_code || h.npatient_ids < 1 || h.nauthor_ids < 1) __builtin_trap();
        (void)dmp_cda_level(&h);
    }
    return 0;
}
