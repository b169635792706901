/*
 * fwd_hash.h: rendezvous (highest random weight) hashing for a forward output's hash mode
 * (fwd_lb.c). Each message's key (its rendered hash_key) and each target (its "host:port")
 * are hashed; the message goes to the live target with the highest score mix(key ^ target).
 *
 * Why rendezvous rather than a ring: with a handful of targets it needs no virtual nodes to
 * spread keys evenly (each key's winner is an independent draw), it keeps no table to rebuild
 * when the set of live targets changes, and it is consistent by construction: a target that
 * goes away loses exactly the keys it won, each to that key's second choice, while every other
 * key keeps its target; when it returns, exactly those keys come back. n scores per message
 * are a few multiplications each.
 *
 * Pure functions, any thread.
 */
#ifndef TL_OUT_FWD_HASH_H
#define TL_OUT_FWD_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hash.h"

/* A 64-bit hash of n bytes (core/hash.h). */
static inline uint64_t fwd_hash_bytes(const void *p, size_t n)
{
    return tl_hash_bytes(p, n);
}

/* The target for key among the n whose live[i] is true (salt[i]: the target's hash): the
 * highest score wins, the lower index on a tie. SIZE_MAX when none is live. */
static inline size_t fwd_hash_pick(uint64_t key, const uint64_t *salt, const bool *live,
                                   size_t n)
{
    size_t best = SIZE_MAX;
    uint64_t best_score = 0;
    for (size_t i = 0; i < n; i++) {
        if (!live[i]) {
            continue;
        }
        uint64_t s = tl_hash_mix64(key ^ salt[i]);
        if (best == SIZE_MAX || s > best_score) {
            best = i;
            best_score = s;
        }
    }
    return best;
}

#endif
