/* cache.c - the professionals' claims kept in memory for a few seconds (psc_claims_cache_s): a
 * userinfo or a token grant then costs no directory query and no JSON work. Direct-mapped by a hash
 * of the IDNPS (a collision just replaces the older entry), locked per stripe; each entry holds the
 * claims as text (userinfo answers it as is) and parsed (a token grant reads its fields; jansson's
 * reference counts are atomic, and nobody changes a cached object). Each node has its own
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
    json_t *json;        /* the same parsed; never changed once here (shared by the token grants) */
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
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(k->slots[i].text);
        json_decref(k->slots[i].json);
    }
    for (int i = 0; i < CACHE_STRIPES; i++) pthread_mutex_destroy(&k->locks[i]);
    free(k);
}

static size_t slot_of(const char *idnps)
{
    return (size_t)(text_hash(TEXT_HASH_START, idnps) % CACHE_SLOTS);
}

/* The claims of idnps from the cache: a copy of the text in a (text != NULL) and/or a new reference
 * to the parsed claims (json != NULL). 1 on a hit, 0 on a miss. */
static int cache_lookup(psc_claims_cache *k, const char *idnps, int64_t now, arena *a, const char **text, size_t *len,
                        json_t **json)
{
    if (!k || strlen(idnps) >= sizeof k->slots[0].idnps) return 0;
    size_t i = slot_of(idnps);
    pthread_mutex_t *m = &k->locks[i % CACHE_STRIPES];
    pthread_mutex_lock(m);
    cache_slot *s = &k->slots[i];
    int hit = s->text && s->expires_ms > now && !strcmp(s->idnps, idnps);
    if (hit && text) {
        char *copy = arena_alloc(a, s->len + 1);
        if (copy) {
            memcpy(copy, s->text, s->len + 1);
            *text = copy;
            *len = s->len;
        }
        hit = copy != NULL;
    }
    if (hit && json) *json = json_incref(s->json);
    pthread_mutex_unlock(m);
    return hit;
}

/* Keep the claims (text taken, json referenced) for idnps. */
static void cache_store(psc_claims_cache *k, const char *idnps, int64_t now, char *text, size_t len, json_t *json)
{
    if (!k || strlen(idnps) >= sizeof k->slots[0].idnps) {
        free(text);
        return;
    }
    size_t i = slot_of(idnps);
    pthread_mutex_t *m = &k->locks[i % CACHE_STRIPES];
    pthread_mutex_lock(m);
    cache_slot *s = &k->slots[i];
    free(s->text);
    json_t *old = s->json;
    snprintf(s->idnps, sizeof s->idnps, "%s", idnps);
    s->text = text;
    s->len = len;
    s->json = json_incref(json);
    s->expires_ms = now + k->ttl_ms;
    pthread_mutex_unlock(m);
    json_decref(old);
}

/* Build the claims from the directory, keep them, and answer as cache_lookup does. */
static int claims_fill(psc_service *svc, store_conn *c, const char *idnps, int64_t now, arena *a, const char **text,
                       size_t *len, json_t **json, socle_err *err)
{
    json_t *claims = NULL;
    int rc = psc_claims_build(c, idnps, a, &claims, err);
    if (rc) return rc;
    char *dump = json_dumps(claims, JSON_COMPACT);
    if (!dump) {
        json_decref(claims);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    size_t n = strlen(dump);
    if (text) {
        *text = arena_strdup(a, dump);
        *len = n;
    }
    cache_store(svc->claims_cache, idnps, now, dump, n, claims);
    if (json)
        *json = claims;
    else
        json_decref(claims);
    return text && !*text ? socle_err_set(err, SOCLE_ENOMEM, "out of memory") : 0;
}

int psc_claims_get(psc_service *svc, store_conn *c, const char *idnps, arena *a, const char **text, size_t *len,
                   socle_err *err)
{
    int64_t now = time_now_ms();
    if (cache_lookup(svc->claims_cache, idnps, now, a, text, len, NULL)) return 0;
    return claims_fill(svc, c, idnps, now, a, text, len, NULL, err);
}

int psc_claims_get_json(psc_service *svc, store_conn *c, const char *idnps, arena *a, json_t **claims, socle_err *err)
{
    int64_t now = time_now_ms();
    if (cache_lookup(svc->claims_cache, idnps, now, a, NULL, NULL, claims)) return 0;
    return claims_fill(svc, c, idnps, now, a, NULL, NULL, claims, err);
}
