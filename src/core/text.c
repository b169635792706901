#include "core/text.h"

#include <errno.h>
#include <string.h>

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

const char *tl_show_text(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;

    for (i = 0; i < len && i < TL_SHOW_MAX && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (i < len && o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
