/* file_pos.c: see file_pos.h. */
#include "in/file_pos.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tl_fpos_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

bool tl_fpos_split(const char *glob, char *dir, size_t dircap, char *pattern, size_t patcap)
{
    const char *slash = strrchr(glob, '/');
    const char *name = slash != NULL ? slash + 1 : glob;
    size_t dlen = slash == NULL ? 1 : slash == glob ? 1 : (size_t)(slash - glob);
    const char *d = slash == NULL ? "." : glob;

    if (name[0] == '\0' || strlen(name) >= patcap || dlen >= dircap) {
        return false;
    }
    memcpy(dir, d, dlen);
    dir[dlen] = '\0';
    memcpy(pattern, name, strlen(name) + 1);
    return true;
}

void tl_fpos_key(uint64_t dev, uint64_t ino, char *out, size_t cap)
{
    snprintf(out, cap, "%" PRIu64 ":%" PRIu64, dev, ino);
}

bool tl_fpos_encode(const struct tl_fpos *p, const char *path, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%" PRIu64 " %" PRIu32 " %016" PRIx64 " %s", p->off,
                     p->head_len, p->head_hash, path);
    return n > 0 && (size_t)n < cap;
}

/* A decimal number of at most 20 digits at *s, up to the next space; advances *s past it. */
static bool number(const char **s, const char *end, int base, uint64_t *v)
{
    char tmp[24];
    size_t n = 0;
    char *stop = NULL;

    while (*s + n < end && (*s)[n] != ' ' && n < sizeof(tmp) - 1) {
        tmp[n] = (*s)[n];
        n++;
    }
    if (n == 0 || (*s + n < end && (*s)[n] != ' ') || tmp[0] == '-' || tmp[0] == '+') {
        return false;
    }
    tmp[n] = '\0';
    errno = 0;
    *v = strtoull(tmp, &stop, base);
    if (*stop != '\0' || errno != 0) {
        return false;
    }
    *s += n;
    if (*s < end) {
        (*s)++; /* the space */
    }
    return true;
}

bool tl_fpos_decode(const uint8_t *v, size_t n, struct tl_fpos *p)
{
    const char *s = (const char *)v;
    const char *end = s + n;
    uint64_t off;
    uint64_t hlen;
    uint64_t hash;

    if (!number(&s, end, 10, &off) || !number(&s, end, 10, &hlen) ||
        !number(&s, end, 16, &hash) || hlen > TL_FPOS_HEAD) {
        return false;
    }
    p->off = off;
    p->head_len = (uint32_t)hlen;
    p->head_hash = hash;
    return true;
}

bool tl_fpos_parse_key(const char *key, uint64_t *dev, uint64_t *ino)
{
    const char *colon = strchr(key, ':');
    const char *s = key;
    const char *end;

    if (colon == NULL || !number(&s, colon, 10, dev) || s != colon) {
        return false;
    }
    s = colon + 1;
    end = s + strlen(s);
    return number(&s, end, 10, ino) && s == end;
}

enum tl_fpos_start tl_fpos_start(const struct tl_fpos *saved, const uint8_t *head, size_t hn,
                                 uint64_t size, uint64_t *off)
{
    if (saved == NULL) {
        return TL_FPOS_NEW;
    }
    *off = 0;
    if (hn < saved->head_len || tl_fpos_hash(head, saved->head_len) != saved->head_hash) {
        return TL_FPOS_REUSED;
    }
    if (size < saved->off) {
        return TL_FPOS_SHRUNK;
    }
    *off = saved->off;
    return TL_FPOS_RESUME;
}

bool tl_fpos_truncated(uint64_t read_off, uint32_t head_len, uint64_t head_hash, uint64_t size,
                       const uint8_t *now, size_t now_len)
{
    if (size < read_off) {
        return true;
    }
    return now_len < head_len || tl_fpos_hash(now, head_len) != head_hash;
}
