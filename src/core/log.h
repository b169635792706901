/*
 * log.h: tlslogd's own diagnostics, one line per event on stderr:
 *   2026-11-23T11:22:33.123Z warning in[tcp] 127.0.0.1:40522: closing connection: ...
 * Safe from any thread: each line goes out in a single write(2).
 */
#ifndef TL_CORE_LOG_H
#define TL_CORE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum tl_log_level {
    TL_LOG_ERROR = 0,
    TL_LOG_WARNING,
    TL_LOG_NOTICE,
    TL_LOG_INFO,
    TL_LOG_DEBUG,
};

/* "error", "warning", ...: the word for a level (the configuration's log_level words). */
const char *tl_log_level_name(enum tl_log_level l);

void tl_log_set_level(enum tl_log_level level);
bool tl_log_enabled(enum tl_log_level level);

void tl_log(enum tl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tl_error(...) tl_log(TL_LOG_ERROR, __VA_ARGS__)
#define tl_warn(...) tl_log(TL_LOG_WARNING, __VA_ARGS__)
#define tl_notice(...) tl_log(TL_LOG_NOTICE, __VA_ARGS__)
#define tl_info(...) tl_log(TL_LOG_INFO, __VA_ARGS__)
#define tl_debug(...)                          \
    do {                                       \
        if (tl_log_enabled(TL_LOG_DEBUG)) {    \
            tl_log(TL_LOG_DEBUG, __VA_ARGS__); \
        }                                      \
    } while (0)

/*
 * A rate limit for lines a peer can cause (bad frames, failed handshakes): at most burst
 * lines per interval; the first line after a quiet spell says how many were suppressed.
 * Thread-safe.
 */
struct tl_ratelimit {
    atomic_int_fast64_t window_start_ms;
    atomic_uint count;
    atomic_uint suppressed;
};

/* Returns true when a line may be logged now; *suppressed (may be NULL) gets how many were
 * dropped since the last allowed line. */
bool tl_ratelimit_ok(struct tl_ratelimit *rl, unsigned burst, unsigned *suppressed);

/*
 * Logs one line at level when rl allows it (at most burst per 10 s); the first line after
 * lines were suppressed ends with "(N similar lines suppressed before this one)". The one
 * way to log what a peer or a message can cause, so that no rate-limited call forgets the
 * count.
 */
void tl_log_rl(struct tl_ratelimit *rl, unsigned burst, enum tl_log_level level,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tl_now_ms(void);

#endif
