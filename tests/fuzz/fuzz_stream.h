/*
 * fuzz_stream.h: what the stream decoders' fuzz targets (framer, RELP) share: a trap on a
 * broken invariant, a result hash, ASan fences around the live part of the read buffer,
 * and the pseudo-random read sizes a connection could deliver.
 */
#ifndef TL_FUZZ_STREAM_H
#define TL_FUZZ_STREAM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define HAVE_ASAN 1
#endif
#endif
#ifndef HAVE_ASAN
#define HAVE_ASAN 0
#endif

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            __builtin_trap();                                                                  \
        }                                                                                      \
    } while (0)

/* FNV-1a, to compare what two runs produced. */
static void mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h = (*h ^ b[i]) * 0x100000001b3ull;
    }
}

/* Makes ASan report any read outside data[off..have) of the read buffer. */
static void fence(uint8_t *buf, size_t off, size_t have, size_t cap)
{
#if HAVE_ASAN
    ASAN_UNPOISON_MEMORY_REGION(buf, cap);
    ASAN_POISON_MEMORY_REGION(buf, off);
    ASAN_POISON_MEMORY_REGION(buf + have, cap - have);
#else
    (void)buf;
    (void)off;
    (void)have;
    (void)cap;
#endif
}

/* Size of the next read: all the room when *seed is 0, else pseudo-random (xorshift64),
 * mostly small; never more than left or room. */
static size_t next_read(uint64_t *seed, size_t room, size_t left)
{
    size_t want = room;
    if (*seed != 0) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        want = 1 + (size_t)(*seed % ((*seed >> 32) % 4 == 0 ? room : 16));
    }
    if (want > left) {
        want = left;
    }
    if (want > room) {
        want = room;
    }
    return want;
}

#endif
