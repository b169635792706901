/*
 * fuzz_statefile.c: libFuzzer target for the state file's decoder (the file image, without
 * the file).
 *
 * Checked for every input: a refused image leaves the store empty, with a reason that says
 * at which offset; an accepted one encodes back to exactly the same bytes (the encoding is
 * canonical, so anything else accepted would be a second spelling of the same state, which
 * the CRC could not vouch for); and what the store encodes decodes again. Each input is also
 * tried with its CRC made right, so that the fuzzer gets past it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "queue/disk.h"
#include "queue/statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static void check(const uint8_t *data, size_t size);

/*
 * Mutations almost never get a CRC right, which would leave the structure behind it
 * unexplored: a copy of the input with the CRC of its last "end COUNT " line set to what the
 * bytes before it give is checked too.
 */
static void check_with_crc_fixed(const uint8_t *data, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t end = size;
    while (end > 0 && !(size - (end - 1) >= 4 && memcmp(data + end - 1, "end ", 4) == 0 &&
                        (end - 1 == 0 || data[end - 2] == '\n'))) {
        end--;
    }
    if (end == 0) {
        return;
    }
    size_t at = end - 1 + 4;
    while (at < size && data[at] >= '0' && data[at] <= '9') {
        at++;
    }
    if (at >= size || data[at] != ' ' || size - at - 1 < 8) {
        return;
    }
    uint8_t *copy = malloc(size);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    uint32_t crc = tl_crc32c(0, data, end - 1);
    for (int k = 0; k < 8; k++) {
        copy[at + 1 + (size_t)k] = (uint8_t)hex[(crc >> (28 - 4 * k)) & 15];
    }
    check(copy, size);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    check_with_crc_fixed(data, size);
    return 0;
}

static void check(const uint8_t *data, size_t size)
{
    struct tl_statefile *s = tl_statefile_new("/nonexistent/fuzz.state");
    char why[256];
    CHECK(s != NULL);
    memset(why, 0xff, sizeof(why));
    bool ok = tl_statefile_decode(s, data, size, why, sizeof(why));
    CHECK(!tl_statefile_dirty(s));
    if (!ok) {
        CHECK(memchr(why, '\0', sizeof(why)) != NULL);
        CHECK(strstr(why, " at offset ") != NULL);
        CHECK(tl_statefile_count(s) == 0);
        /* An entry added to the emptied store must encode and decode. */
        CHECK(tl_statefile_set(s, "k", data, size < 64 ? size : 64));
    }
    struct tl_buf b;
    tl_buf_init(&b, 0);
    CHECK(tl_statefile_encode(s, &b));
    if (ok) {
        CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    }
    size_t n = tl_statefile_count(s);
    CHECK(tl_statefile_decode(s, b.data, b.len, why, sizeof(why)));
    CHECK(tl_statefile_count(s) == n);
    tl_buf_fini(&b);
    tl_statefile_free(s);
}
