/* err.c: see err.h. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tl_rc_name(enum tl_rc rc)
{
    static const char *const names[] = {"ok", "again", "end of stream", "full", "I/O error",
                                        "TLS error", "protocol error", "configuration error",
                                        "out of resources", "internal error"};
    return (size_t)rc < sizeof(names) / sizeof(names[0]) ? names[rc] : "unknown";
}

enum tl_rc tl_err_set(struct tl_err *err, enum tl_rc code, int sys_errno, const char *where,
                      const char *remedy, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    err->code = code;
    err->sys_errno = sys_errno;
    err->where = where;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->cause, sizeof(err->cause), fmt, ap);
    va_end(ap);
    snprintf(err->remedy, sizeof(err->remedy), "%s", remedy ? remedy : "");
    return code;
}

const char *tl_err_text(const struct tl_err *err, char *out, size_t cap)
{
    if (err->remedy[0]) {
        snprintf(out, cap, "%s; hint: %s", err->cause, err->remedy);
    } else {
        snprintf(out, cap, "%s", err->cause);
    }
    return out;
}
