/* ids.c - random identifiers from the kernel's CSPRNG (see ids.h). */
#include "base/ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

void id_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "socle: getrandom failed: %s\n", strerror(errno));
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

static char *id_uuid_format(unsigned char b[16], int version, char *out)
{
    b[6] = (unsigned char)((b[6] & 0x0f) | version << 4);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return out;
}

char *id_uuid(char *out)
{
    unsigned char b[16];
    id_random_bytes(b, sizeof b);
    return id_uuid_format(b, 4, out);
}

char *id_resource(char *out)
{
    unsigned char b[16];
    id_random_bytes(b, sizeof b);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    return id_uuid_format(b, 7, out);
}

/* id_request's per-thread pool of kernel random bytes, refilled 4 KB at a time. */
static __thread unsigned char id_pool[4096];
static __thread size_t id_pool_used = sizeof id_pool;
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

/* A forked child starts with a copy of its parent's pool: it must not hand out the same ids (two
 * children creating files named after them at once would collide). The child's only thread is the
 * one that forked, whose pool this empties. */
static void id_pool_forget(void)
{
    id_pool_used = sizeof id_pool;
}

static void id_pool_register(void)
{
    pthread_atfork(NULL, NULL, id_pool_forget);
}

char *id_request(char *out)
{
    /* A request id must be unique, not secret: its bytes come from the pool instead of a
     * getrandom call per request. */
    static const char hex[] = "0123456789abcdef";
    size_t used = id_pool_used;
    if (used + 8 > sizeof id_pool) {
        pthread_once(&id_pool_once, id_pool_register);
        id_random_bytes(id_pool, sizeof id_pool);
        used = 0;
    }
    const unsigned char *b = id_pool + used;
    id_pool_used = used + 8;
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[16] = 0;
    return out;
}

int id_fhir_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return 0;
        if (n >= 64) return 0;
    }
    return n > 0;
}
