/* arena.c - region allocator (see arena.h). Blocks grow geometrically; big requests get their own. */
#include "base/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} arena_block;

struct arena {
    arena_block *head;   /* current block (first in the list) */
    arena_block *first;  /* the block kept by arena_reset */
    size_t first_size;
    size_t total;
};

static arena_block *arena_block_new(size_t size)
{
    arena_block *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena *arena_new(size_t first_block)
{
    arena *a = malloc(sizeof *a);
    if (!a) return NULL;
    a->first_size = first_block ? first_block : 8192;
    a->first = a->head = arena_block_new(a->first_size);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->total = 0;
    return a;
}

static void arena_free_blocks(arena_block *b, arena_block *keep)
{
    while (b) {
        arena_block *n = b->next;
        if (b != keep) free(b);
        b = n;
    }
}

void arena_free(arena *a)
{
    if (!a) return;
    arena_free_blocks(a->head, NULL);
    free(a);
}

void arena_reset(arena *a)
{
    arena_free_blocks(a->head, a->first);
    a->head = a->first;
    a->first->next = NULL;
    a->first->used = 0;
    a->total = 0;
}

void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    arena_block *b = a->head;
    if (b->size - b->used < n) {
        size_t size = b->size * 2;
        if (size < n) size = n;
        if (size > (1u << 20) && n < (1u << 20)) size = 1u << 20;
        if (size < n) size = n;
        arena_block *nb = arena_block_new(size);
        if (!nb) return NULL;
        nb->next = a->head;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->total += n;
    return p;
}

void *arena_zalloc(arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : arena_alloc(a, (size_t)n + 1);
    if (p) vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

size_t arena_bytes(const arena *a)
{
    return a->total;
}
