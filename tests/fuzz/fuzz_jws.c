/* fuzz_jws.c - compact JWS splitting and bearer verification on arbitrary tokens. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static auth_verifier *v;
    static crypto_key *key;
    if (!v) {
        socle_err err;
        if (crypto_key_load_or_create("/tmp/socle-fuzz-key/signing.pem", &key, &err)) abort();
        auth_verifier_options o = {.server_key = key, .issuer = "socle", .audience = "socle", .cache_entries = 64};
        if (auth_verifier_new(&o, &v, &err)) abort();
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    char *h = NULL, *p = NULL;
    uint8_t *sig = NULL;
    size_t siglen, input_len;
    socle_err err;
    if (crypto_jws_split(s, &h, &p, &sig, &siglen, &input_len, &err) == 0) {
        free(h);
        free(p);
        free(sig);
    }
    auth_subject who;
    auth_verify_token(v, s, &who, &err);
    free(s);
    return 0;
}
