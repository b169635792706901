/*
 * splits.h: feeding a byte stream to an incremental decoder in every way a socket could
 * cut it. Shared by the framer and RELP parser tests: the test says how to run and judge
 * one feeding (the end offset of each read), this runs it one byte at a time, split at
 * every position (optionally) and in pseudo-random reads.
 */
#ifndef TL_TEST_SPLITS_H
#define TL_TEST_SPLITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64: a fixed seed gives the same "random" splittings on every run. */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random read sizes: mostly small, sometimes large, to hit both kinds of boundary. */
static size_t random_ends(size_t len, size_t *ends)
{
    static const size_t scale[] = { 1, 3, 8, 32, 200, 5000 };
    size_t n = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t step = 1 + (size_t)(rng() % scale[rng() % (sizeof(scale) / sizeof(scale[0]))]);
        pos = step > len - pos ? len : pos + step;
        ends[n++] = pos;
    }
    return n;
}

/* One feeding of a len-byte stream: reads end at ends[0..nends). how names it. */
typedef void split_run_fn(const void *arg, const size_t *ends, size_t nends, const char *how);

/* Runs run(arg, ...) one byte at a time, at every split in two (every_split), and in
 * nrandom random splittings (fixed seed). Returns false when out of memory. */
static bool check_splits(size_t len, bool every_split, int nrandom, split_run_fn *run,
                         const void *arg)
{
    size_t *ends = malloc((len + 2) * sizeof(*ends));
    char how[64];
    if (!ends) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        ends[i] = i + 1;
    }
    run(arg, ends, len, "one byte at a time");
    if (every_split) {
        for (size_t k = 0; k <= len; k++) {
            ends[0] = k;
            ends[1] = len;
            snprintf(how, sizeof(how), "split at %zu", k);
            run(arg, ends, 2, how);
        }
    }
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int r = 0; r < nrandom; r++) {
        size_t n = random_ends(len, ends);
        snprintf(how, sizeof(how), "random splitting %d", r);
        run(arg, ends, n, how);
    }
    free(ends);
    return true;
}

#endif
