/* auth_internal.h - shared by the files of src/auth only: the verified-token cache. */
#ifndef SOCLE_AUTH_INTERNAL_H
#define SOCLE_AUTH_INTERNAL_H

#include <stdint.h>

#include "auth/auth.h"

/* Clock skew allowed on nbf and iat (exp is strict: an expired token is refused at once). */
#define AUTH_SKEW_MS 60000

typedef struct auth_cache auth_cache;

/* auth_cache_new - room for about `entries` subjects (rounded up to a power of two, at least 4).
 * NULL when out of memory. */
auth_cache *auth_cache_new(int entries);
void auth_cache_free(auth_cache *c);
/* auth_cache_get - copy the subject cached under key into *out: 1 if found, 0 if not. The
 * caller checks out->expires_ms (the cache does not know the skew policy). Thread-safe. */
int auth_cache_get(auth_cache *c, const uint8_t key[32], auth_subject *out);
/* auth_cache_put - remember s under key, evicting another entry of the same bucket if needed
 * (an expired one first). Thread-safe. Can't fail. */
void auth_cache_put(auth_cache *c, const uint8_t key[32], const auth_subject *s, int64_t now_ms);

#endif
