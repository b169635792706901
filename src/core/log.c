#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = TL_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

const char *tl_log_level_name(enum tl_log_level l)
{
    return (size_t)l < sizeof(level_names) / sizeof(level_names[0]) ? level_names[l] : "?";
}

void tl_log_set_level(enum tl_log_level level)
{
    atomic_store(&current_level, (int)level);
}

bool tl_log_enabled(enum tl_log_level level)
{
    return (int)level <= atomic_load_explicit(&current_level, memory_order_relaxed);
}

void tl_log(enum tl_log_level level, const char *fmt, ...)
{
    if (!tl_log_enabled(level)) {
        return;
    }
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    /* One line, one event: a message that carries a newline would break log parsers. */
    for (size_t i = (size_t)n; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int64_t tl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool tl_ratelimit_ok(struct tl_ratelimit *rl, unsigned burst, unsigned *suppressed)
{
    int64_t now = tl_now_ms();
    int64_t start = atomic_load(&rl->window_start_ms);
    if (now - start >= 10000) {
        /* New window: whoever wins the exchange reports the suppressed count. */
        if (atomic_compare_exchange_strong(&rl->window_start_ms, &start, now)) {
            atomic_store(&rl->count, 0);
        }
    }
    if (atomic_fetch_add(&rl->count, 1) < burst) {
        if (suppressed) {
            *suppressed = atomic_exchange(&rl->suppressed, 0);
        }
        return true;
    }
    atomic_fetch_add(&rl->suppressed, 1);
    return false;
}

void tl_log_rl(struct tl_ratelimit *rl, unsigned burst, enum tl_log_level level,
               const char *fmt, ...)
{
    unsigned suppressed = 0;
    if (!tl_log_enabled(level) || !tl_ratelimit_ok(rl, burst, &suppressed)) {
        return;
    }
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (suppressed) {
        tl_log(level, "%s (%u similar lines suppressed before this one)", line, suppressed);
    } else {
        tl_log(level, "%s", line);
    }
}
