/* cache.c - the verified-token cache: SHA-256 of the token string -> the subject it proved.
 *
 * Why: an ES256 verification costs ~30 µs of CPU; at 30,000 requests/s that alone would use a
 * core. Clients reuse a token for its whole life, so after the first request a token costs a
 * SHA-256 and a lookup here.
 *
 * Layout: a power-of-two array of 4-way buckets (set-associative, so two hot tokens that hash to
 * the same bucket do not evict each other); 64 cache-line-aligned mutexes, each guarding the
 * buckets whose index is congruent to it, so threads rarely meet on a lock and there is no
 * global one. The key is a SHA-256, so bucket indices are uniform and cannot be steered without
 * valid tokens. Eviction within a bucket: an empty way, else an expired one, else round robin (a clock
 * without reference bits: simple, and a token evicted by mistake costs one re-verification). */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "crypto/crypto.h"

#define CACHE_WAYS 4
#define CACHE_STRIPES 64

typedef struct cache_entry {
    uint8_t key[32];
    int used;
    auth_subject subject;
} cache_entry;

typedef struct cache_bucket {
    cache_entry way[CACHE_WAYS];
    unsigned next_victim;
} cache_bucket;

typedef struct cache_stripe {
    alignas(64) pthread_mutex_t lock;
} cache_stripe;

struct auth_cache {
    cache_bucket *buckets; /* calloc'ed: pages never touched are never backed by memory */
    size_t mask;
    cache_stripe stripes[CACHE_STRIPES];
};

auth_cache *auth_cache_new(int entries)
{
    size_t nb = 1;
    while (nb * CACHE_WAYS < (size_t)(entries > 4 ? entries : 4) && nb < ((size_t)1 << 28))
        nb <<= 1;
    auth_cache *c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->buckets = calloc(nb, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = nb - 1;
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_init(&c->stripes[i].lock, NULL);
    return c;
}

void auth_cache_free(auth_cache *c)
{
    if (!c) return;
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i].lock);
    free(c->buckets);
    free(c);
}

static size_t cache_index(const auth_cache *c, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)h & c->mask;
}

int auth_cache_get(auth_cache *c, const uint8_t key[32], auth_subject *out)
{
    size_t i = cache_index(c, key);
    cache_bucket *b = &c->buckets[i];
    pthread_mutex_t *lock = &c->stripes[i % CACHE_STRIPES].lock;
    int found = 0;
    pthread_mutex_lock(lock);
    for (int w = 0; w < CACHE_WAYS && !found; w++) {
        if (b->way[w].used && crypto_equal(b->way[w].key, key, 32)) {
            *out = b->way[w].subject;
            found = 1;
        }
    }
    pthread_mutex_unlock(lock);
    return found;
}

void auth_cache_put(auth_cache *c, const uint8_t key[32], const auth_subject *s, int64_t now_ms)
{
    size_t i = cache_index(c, key);
    cache_bucket *b = &c->buckets[i];
    pthread_mutex_t *lock = &c->stripes[i % CACHE_STRIPES].lock;
    pthread_mutex_lock(lock);
    int slot = -1;
    for (int w = 0; w < CACHE_WAYS && slot < 0; w++)
        if (b->way[w].used && crypto_equal(b->way[w].key, key, 32)) slot = w; /* raced with another thread */
    for (int w = 0; w < CACHE_WAYS && slot < 0; w++)
        if (!b->way[w].used) slot = w;
    for (int w = 0; w < CACHE_WAYS && slot < 0; w++)
        if (b->way[w].subject.expires_ms + AUTH_SKEW_MS < now_ms) slot = w;
    if (slot < 0) slot = (int)(b->next_victim++ % CACHE_WAYS);
    memcpy(b->way[slot].key, key, 32);
    b->way[slot].subject = *s;
    b->way[slot].used = 1;
    pthread_mutex_unlock(lock);
}
