/* arena.h - region allocator: one arena per request or session, freed at once at its end.
 *
 * Allocations are 16-byte aligned and never freed individually. An arena is not thread-safe: one
 * request, one thread. arena_alloc returns NULL only when the system is out of memory. */
#ifndef SOCLE_BASE_ARENA_H
#define SOCLE_BASE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena arena;

/* arena_new - create an arena whose first block holds about `first_block` bytes (0: 8 KiB). */
arena *arena_new(size_t first_block);
/* arena_free - release every allocation of the arena and the arena itself. NULL is fine. */
void arena_free(arena *a);
/* arena_reset - forget every allocation but keep the first block for reuse. */
void arena_reset(arena *a);
void *arena_alloc(arena *a, size_t n);
void *arena_zalloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* arena_bytes - bytes handed out so far (for metrics and tests). */
size_t arena_bytes(const arena *a);

#endif
