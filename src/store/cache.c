/* cache.c - the per-connection prepared statement cache, keyed by SQL text.
 *
 * Open addressing with linear probing over a power-of-two table kept at most half full. Entries
 * are separately allocated so a store_rows may hold one while the table grows. There is no single
 * delete on the hot path: when the cache is full it is rebuilt with only its busy entries, which
 * bounds memory when callers build SQL on the fly (search) without LRU bookkeeping on every hit. */
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "store/store_internal.h"

uint64_t store_cache_hash(const char *sql)
{
    return text_hash(TEXT_HASH_START, sql);
}

store_stmt *store_cache_get(store_cache *c, const char *sql, uint64_t hash)
{
    if (!c->cap) return NULL;
    size_t mask = c->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        store_stmt *e = c->slots[i];
        if (!e) return NULL;
        if (e->hash == hash && !strcmp(e->sql, sql)) return e;
    }
}

static void cache_insert(store_stmt **slots, size_t cap, store_stmt *e)
{
    size_t mask = cap - 1, i = e->hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = e;
}

/* Rebuild the table at capacity `cap`; with only_busy, entries not in use are dropped on the way. */
static int cache_rebuild(store_cache *c, size_t cap, int only_busy, void (*drop)(void *, store_stmt *),
                         void *ctx)
{
    store_stmt **slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    size_t count = 0;
    for (size_t i = 0; i < c->cap; i++) {
        store_stmt *e = c->slots[i];
        if (!e) continue;
        if (only_busy && !e->busy) {
            if (drop) drop(ctx, e);
            free(e->sql);
            free(e);
            continue;
        }
        cache_insert(slots, cap, e);
        count++;
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    c->count = count;
    return 0;
}

store_stmt *store_cache_put(store_cache *c, const char *sql, uint64_t hash, void *handle,
                            void (*drop)(void *ctx, store_stmt *e), void *ctx)
{
    if (c->count >= STORE_CACHE_MAX && cache_rebuild(c, c->cap, 1, drop, ctx)) return NULL;
    if ((c->count + 1) * 2 > c->cap && cache_rebuild(c, c->cap ? c->cap * 2 : 16, 0, NULL, NULL)) return NULL;
    store_stmt *e = calloc(1, sizeof *e);
    if (!e || !(e->sql = strdup(sql))) {
        free(e);
        return NULL;
    }
    e->hash = hash;
    e->handle = handle;
    e->id = ++c->next_id;
    cache_insert(c->slots, c->cap, e);
    c->count++;
    return e;
}

void store_cache_remove(store_cache *c, store_stmt *e)
{
    size_t mask = c->cap - 1, i = e->hash & mask;
    while (c->slots[i] != e)
        i = (i + 1) & mask;
    c->slots[i] = NULL;
    c->count--;
    free(e->sql);
    free(e);
    /* Re-seat the rest of the probe run so lookups do not stop at the hole. */
    for (i = (i + 1) & mask; c->slots[i]; i = (i + 1) & mask) {
        store_stmt *m = c->slots[i];
        c->slots[i] = NULL;
        cache_insert(c->slots, c->cap, m);
    }
}

void store_cache_clear(store_cache *c, void (*drop)(void *ctx, store_stmt *e), void *ctx)
{
    for (size_t i = 0; i < c->cap; i++) {
        store_stmt *e = c->slots[i];
        if (!e) continue;
        if (drop) drop(ctx, e);
        free(e->sql);
        free(e);
    }
    free(c->slots);
    c->slots = NULL;
    c->cap = c->count = 0;
}
