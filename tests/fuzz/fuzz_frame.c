/*
 * fuzz_frame.c: libFuzzer target for the RFC 6587 / RFC 5425 framer.
 *
 * Input: byte 0 picks the framing mode (b % 3) and the seed of the read sizes (b / 3),
 * byte 1 picks max_message_size (0..31, or 64..956), the rest is the stream. The stream is
 * fed through a read buffer of max + 64 bytes as a connection would, twice: in reads of
 * pseudo-random size, and in reads that fill the buffer. Besides the framer's own
 * invariants (frames inside the buffer, no longer than max, progress within max + 12
 * bytes), both runs must yield the same frames: framing must not depend on how TCP cut
 * the stream.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame/frame.h"
#include "fuzz_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
    uint64_t hash;   /* FNV-1a over every frame's length, flag and bytes */
    size_t nframes;
    bool error;
};

static void add_frame(struct result *r, const struct tl_frame *fr, const uint8_t *data,
                      size_t len, size_t max)
{
    CHECK(fr->len <= max);
    CHECK(fr->p >= data);
    CHECK(fr->len <= len && fr->p <= data + len - fr->len);
    if (fr->truncated) {
        CHECK(fr->len == max);
        CHECK(fr->orig_len > max);
    } else {
        CHECK(fr->orig_len == fr->len);
    }
    /* orig_len of a truncated LF frame is only a lower bound, so it is left out. */
    uint64_t meta[2] = { fr->len, fr->truncated };
    mix(&r->hash, (const uint8_t *)meta, sizeof(meta));
    if (fr->len > 0) {
        mix(&r->hash, fr->p, fr->len);
    }
    r->nframes++;
}

static void run(enum tl_framing mode, size_t max, uint64_t seed, const uint8_t *in, size_t n,
                struct result *r)
{
    size_t cap = max + 64;
    uint8_t *buf = malloc(cap);
    size_t have = 0;
    size_t fed = 0;
    uint64_t dropped = 0;
    struct tl_framer f;
    struct tl_frame fr;
    size_t used;
    struct tl_err err;
    enum tl_rc rc;

    CHECK(buf != NULL);
    r->hash = 0xcbf29ce484222325ull;
    r->nframes = 0;
    r->error = false;
    tl_framer_init(&f, mode, max);
    while (fed < n) {
        size_t room = cap - have;
        /* The framer promises to need at most max + 12 bytes; a full buffer means it
         * would wait forever. */
        CHECK(room > 0);
        size_t want = next_read(&seed, room, n - fed);
        memcpy(buf + have, in + fed, want);
        have += want;
        fed += want;

        size_t off = 0;
        for (;;) {
            fence(buf, off, have, cap);
            rc = tl_framer_next(&f, buf + off, have - off, &fr, &used, &err);
            fence(buf, 0, cap, cap);
            CHECK(used <= have - off);
            if (rc == TL_E_PROTO) {
                CHECK(err.code == TL_E_PROTO);
                CHECK(memchr(err.cause, '\0', sizeof(err.cause)) != NULL);
                r->error = true;
                goto out;
            }
            if (rc == TL_AGAIN) {
                off += used;
                break;
            }
            CHECK(rc == TL_OK);
            CHECK(used > 0);
            add_frame(r, &fr, buf + off, have - off, max);
            off += used;
        }
        CHECK(have - off <= max + 12);
        dropped += off;
        CHECK(f.consumed == dropped);
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    fence(buf, 0, have, cap);
    rc = tl_framer_finish(&f, buf, have, &fr, &err);
    fence(buf, 0, cap, cap);
    if (rc == TL_OK) {
        add_frame(r, &fr, buf, have, max);
    } else if (rc == TL_E_PROTO) {
        r->error = true;
    }
out:
    fence(buf, 0, cap, cap);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    static const enum tl_framing modes[] = { TL_FRAMING_AUTO, TL_FRAMING_OCTET, TL_FRAMING_LF };
    enum tl_framing mode = modes[data[0] % 3];
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(data[0] / 3 + 1);
    size_t max = data[1] < 32 ? data[1] : 64 + (size_t)(data[1] - 32) * 4;

    struct result chunked;
    struct result greedy;
    run(mode, max, seed, data + 2, size - 2, &chunked);
    run(mode, max, 0, data + 2, size - 2, &greedy);
    CHECK(chunked.nframes == greedy.nframes);
    CHECK(chunked.hash == greedy.hash);
    CHECK(chunked.error == greedy.error);
    return 0;
}
