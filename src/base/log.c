/* log.c - JSON-lines logging (see log.h). One write(2) per line, so threads never interleave. */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "base/text.h"
#include "base/timeutil.h"

static atomic_int log_min_level = LOG_INFO;
static atomic_int log_fd = 2;
static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(int level)
{
    atomic_store(&log_min_level, level);
}

void log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && text_equal_nocase(name, log_level_names[i])) return i;
    return -1;
}

int log_enabled(int level)
{
    return level >= atomic_load(&log_min_level);
}

void log_begin(log_line *l, int level, const char *msg)
{
    buf_init(&l->b);
    l->level = level;
    l->active = log_enabled(level);
    if (!l->active) return;
    char now[32];
    time_format_instant(time_now_ms(), now);
    buf_printf(&l->b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", now, log_level_names[level & 3]);
    buf_json_string(&l->b, msg);
}

void log_str(log_line *l, const char *key, const char *value)
{
    if (!l->active) return;
    buf_putc(&l->b, ',');
    buf_json_string(&l->b, key);
    buf_putc(&l->b, ':');
    buf_json_string(&l->b, value);
}

void log_int(log_line *l, const char *key, long long value)
{
    if (!l->active) return;
    buf_putc(&l->b, ',');
    buf_json_string(&l->b, key);
    buf_printf(&l->b, ":%lld", value);
}

void log_double(log_line *l, const char *key, double value)
{
    if (!l->active) return;
    buf_putc(&l->b, ',');
    buf_json_string(&l->b, key);
    buf_printf(&l->b, ":%.3f", value);
}

void log_end(log_line *l)
{
    if (l->active) {
        buf_puts(&l->b, "}\n");
        if (buf_ok(&l->b)) {
            ssize_t w = write(atomic_load(&log_fd), l->b.data, l->b.len);
            (void)w;
        }
    }
    buf_free(&l->b);
}

void log_msg(int level, const char *fmt, ...)
{
    if (!log_enabled(level)) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_line l;
    log_begin(&l, level, text);
    log_end(&l);
}
