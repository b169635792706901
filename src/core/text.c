#include "core/text.h"

#include <errno.h>

void tl_quote_bytes(char *out, const uint8_t *p, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t shown = n < max ? n : max;
    size_t o = 0;

    for (size_t i = 0; i < shown; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    if (shown < n) {
        out[o++] = '.';
        out[o++] = '.';
        out[o++] = '.';
    }
    out[o] = '\0';
}

const char *tl_write_remedy(int err)
{
    switch (err) {
    case ENOSPC:
        return "free space on that file system";
    case EDQUOT:
        return "free space or raise the disk quota of the daemon's user";
    case EACCES:
    case EPERM:
        return "let the daemon's user write there (owner and mode of the file and its "
               "directory)";
    case EROFS:
        return "the file system is read-only: remount it read-write or choose another path";
    case EIO:
        return "the device reports I/O errors: check it (dmesg) or choose another path";
    case EMFILE:
    case ENFILE:
        return "raise the open files limit (LimitNOFILE, ulimit -n) or lower max_open_files";
    case ENOMEM:
        return "the system is out of memory";
    default:
        return "check the path and the file system";
    }
}

bool tl_write_error_transient(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EACCES:
    case EPERM:
    case EROFS:
    case EIO:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
    case EINTR:
    case EBUSY:
    case ETXTBSY:
        return true;
    default:
        return false;
    }
}
