/*
 * err.h: results and errors, one kind for the whole code base.
 *
 * A function that can fail returns an enum tl_rc. TL_OK, TL_AGAIN (nothing can be done now:
 * wait, then call again), TL_EOF (the peer closed cleanly) and TL_FULL (no room: try again
 * after something was taken out) are normal results. The TL_E_* codes are failures: when the
 * function takes a struct tl_err *, it has filled it, with a sentence that names the object
 * (file, peer, key) and, where the operator can do something, the remedy. The layer where a
 * failure happens fills the struct; the owner of the connection, file or output logs it once,
 * adding its own name.
 */
#ifndef TL_CORE_ERR_H
#define TL_CORE_ERR_H

#include <stddef.h>

enum tl_rc {
    TL_OK = 0,
    TL_AGAIN,        /* not now: wait for readiness (a stream: tl_stream_wants), call again */
    TL_EOF,          /* the peer closed cleanly */
    TL_FULL,         /* no room now (a bounded queue); try again after room was made */
    TL_E_IO,         /* a system call failed (err: what and errno); often worth a retry */
    TL_E_TLS,        /* TLS refused or broke the connection */
    TL_E_PROTO,      /* the peer broke the protocol (a bad frame): close that connection */
    TL_E_CONFIG,     /* a setting cannot work */
    TL_E_RESOURCE,   /* out of memory, or a limit that can never be met (a record too big) */
    TL_E_INTERNAL,
};

struct tl_err {
    enum tl_rc code;
    int sys_errno;       /* errno of the failing call, else 0 */
    const char *where;   /* "disk.c:212", set by TL_FAIL */
    char cause[768];     /* what failed, naming the object */
    char remedy[256];    /* what the operator can do; "" when nothing */
};

/* "ok", "again", ..., "I/O error": for counters and debug lines. */
const char *tl_rc_name(enum tl_rc rc);

/* Fills err (which may be NULL) and returns code. remedy may be NULL. */
enum tl_rc tl_err_set(struct tl_err *err, enum tl_rc code, int sys_errno, const char *where,
                      const char *remedy, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The cause, then "; hint: REMEDY" when there is one: the usual log line. */
const char *tl_err_text(const struct tl_err *err, char *out, size_t cap);

#define TL_STR2(x) #x
#define TL_STR(x) TL_STR2(x)
/* Fills *err (with where) and yields code: for a failure noted before some cleanup. */
#define TL_ERR(err, code, remedy, ...) \
    tl_err_set((err), (code), 0, __FILE__ ":" TL_STR(__LINE__), (remedy), __VA_ARGS__)
/* As TL_ERR, keeping the errno of the failing call (e) in sys_errno: for a caller that
 * chooses its remedy or its retry by errno. */
#define TL_ERR_SYS(err, code, e, remedy, ...) \
    tl_err_set((err), (code), (e), __FILE__ ":" TL_STR(__LINE__), (remedy), __VA_ARGS__)
/* Fills *err and returns code from the current function. */
#define TL_FAIL(err, code, remedy, ...) return TL_ERR((err), (code), (remedy), __VA_ARGS__)
/* Passes a result that is not TL_OK up. */
#define TL_TRY(expr)                  \
    do {                              \
        enum tl_rc tl_rc_ = (expr);   \
        if (tl_rc_ != TL_OK) {        \
            return tl_rc_;            \
        }                             \
    } while (0)

#endif
