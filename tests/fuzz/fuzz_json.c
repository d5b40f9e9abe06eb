/* fuzz_json.c - fhir_json_parse, then write validation (elements of R4), on arbitrary bytes: must
 * return 0 or an error, never crash; and what it accepts, jansson alone reads the same (long
 * string values are parsed aside, json.c), and what fhir_json_dump writes reads back the same. */
#include <stdint.h>
#include <string.h>

#include "fhir/fhir.h"
#include "fhir/repo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fhir_limits lim = FHIR_LIMITS_DEFAULT;
    lim.max_bytes = 1 << 20;
    json_t *j = NULL;
    socle_err err;
    if (fhir_json_parse((const char *)data, size, &lim, &j, &err) == 0) {
        json_t *plain = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!plain || !json_equal(plain, j)) __builtin_trap();
        json_decref(plain);
        /* The element validation of the input's own type when it is one we store, else Patient. */
        const char *rt = json_string_value(json_object_get(j, "resourceType"));
        fhir_repo_validate(rt && fhir_type_find(rt) ? rt : "Patient", j, &err);
        socle_buf b = SOCLE_BUF_INIT;
        fhir_json_dump(j, &b);
        json_t *back = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
        if (!back || !json_equal(back, j)) __builtin_trap();
        json_decref(back);
        buf_free(&b);
        json_decref(j);
    }
    return 0;
}
