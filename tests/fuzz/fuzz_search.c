/* fuzz_search.c - search parsing: the input is "Type\nname=value\nname=value..." */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fhir/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    fhir_search_param params[32];
    int n = 0;
    char *save = NULL;
    char *type = strtok_r(s, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line && n < 32; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq) *eq = 0;
        params[n].name = line;
        params[n++].value = eq ? eq + 1 : "";
    }
    arena *a = arena_new(0);
    fhir_search *plan;
    socle_err err;
    fhir_search_options opt = {.lenient = size % 2};
    if (type) fhir_search_parse(type, params, n, &opt, a, &plan, &err);
    arena_free(a);
    free(s);
    return 0;
}
