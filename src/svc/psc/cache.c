/* cache.c - the professionals' claims kept in memory for a few seconds (psc_claims_cache_s): a
 * userinfo or a token grant then costs no directory query and no JSON work. Direct-mapped by a hash
 * of the IDNPS (a collision just replaces the older entry), locked per stripe. Each node has its own
 * cache: a change of the directory is seen everywhere within the cache's lifetime. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/timeutil.h"
#include "svc/psc/claims.h"
#include "svc/psc/psc_internal.h"

#define CACHE_SLOTS 8192
#define CACHE_STRIPES 64

typedef struct cache_slot {
    char idnps[40];
    char *text;          /* the claims JSON, malloc'ed */
    size_t len;
    int64_t expires_ms;
} cache_slot;

struct psc_claims_cache {
    cache_slot slots[CACHE_SLOTS];
    pthread_mutex_t locks[CACHE_STRIPES];
    int64_t ttl_ms;
};

int psc_claims_cache_new(int64_t ttl_s, psc_claims_cache **out)
{
    *out = NULL;
    if (ttl_s <= 0) return 0; /* caching off: every call reads the directory */
    psc_claims_cache *k = calloc(1, sizeof *k);
    if (!k) return SOCLE_ENOMEM;
    for (int i = 0; i < CACHE_STRIPES; i++) pthread_mutex_init(&k->locks[i], NULL);
    k->ttl_ms = ttl_s * 1000;
    *out = k;
    return 0;
}

void psc_claims_cache_free(psc_claims_cache *k)
{
    if (!k) return;
    for (int i = 0; i < CACHE_SLOTS; i++) free(k->slots[i].text);
    for (int i = 0; i < CACHE_STRIPES; i++) pthread_mutex_destroy(&k->locks[i]);
    free(k);
}

static size_t slot_of(const char *idnps)
{
    return (size_t)(text_hash(TEXT_HASH_START, idnps) % CACHE_SLOTS);
}

int psc_claims_get(psc_service *svc, store_conn *c, const char *idnps, arena *a, const char **text, size_t *len,
                   socle_err *err)
{
    psc_claims_cache *k = svc->claims_cache;
    size_t i = k && strlen(idnps) < sizeof k->slots[0].idnps ? slot_of(idnps) : 0;
    int64_t now = time_now_ms();
    if (k && strlen(idnps) < sizeof k->slots[0].idnps) {
        pthread_mutex_t *m = &k->locks[i % CACHE_STRIPES];
        pthread_mutex_lock(m);
        cache_slot *s = &k->slots[i];
        int hit = s->text && s->expires_ms > now && !strcmp(s->idnps, idnps);
        if (hit) {
            char *copy = arena_alloc(a, s->len + 1);
            if (copy) {
                memcpy(copy, s->text, s->len + 1);
                *text = copy;
                *len = s->len;
            }
            hit = copy != NULL;
        }
        pthread_mutex_unlock(m);
        if (hit) return 0;
    }
    json_t *claims = NULL;
    int rc = psc_claims_build(c, idnps, a, &claims, err);
    if (rc) return rc;
    char *dump = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    if (!dump) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    size_t n = strlen(dump);
    *text = arena_strdup(a, dump);
    *len = n;
    if (k && strlen(idnps) < sizeof k->slots[0].idnps) {
        pthread_mutex_t *m = &k->locks[i % CACHE_STRIPES];
        pthread_mutex_lock(m);
        cache_slot *s = &k->slots[i];
        free(s->text);
        snprintf(s->idnps, sizeof s->idnps, "%s", idnps);
        s->text = dump;
        s->len = n;
        s->expires_ms = now + k->ttl_ms;
        dump = NULL;
        pthread_mutex_unlock(m);
    }
    free(dump);
    return *text ? 0 : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
}
