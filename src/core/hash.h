/*
 * hash.h: the 64-bit hashing helpers tlslogd shares: a finaliser that spreads every input bit
 * over every output bit (MurmurHash3's fmix64), and a hash of bytes built on it. For tables
 * and for picking among targets (in/limits.c's per-source table, out/fwd_hash.h's rendezvous
 * hashing); not for anything an attacker must not be able to predict (seed it then).
 *
 * Pure inline functions, any thread.
 */
#ifndef TL_CORE_HASH_H
#define TL_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t tl_hash_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* n bytes: FNV-1a, then mixed (FNV-1a alone leaves the high bits weak for short keys). */
static inline uint64_t tl_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return tl_hash_mix64(h);
}

#endif
