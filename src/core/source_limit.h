/*
 * source_limit.h: a rate limit per message source, as rsyslog's imuxsock and imtcp
 * RateLimit.Interval / RateLimit.Burst: each source may send `burst` messages per `interval`;
 * what it sends beyond that in the same interval is dropped.
 *
 * A source is a peer address (network inputs; the port is left out, so one host counts once
 * however many connections it opens) or a process ID (unix sockets, from SCM_CREDENTIALS).
 * The interval of a source starts with its first message and a new one starts with its first
 * message after the interval is over (a fixed window, not a sliding one: cheap and what the
 * operators of rsyslog know).
 *
 * Episodes: a source's drops within one interval form one episode, so the caller can log one
 * line per episode rather than one per drop. tl_source_limit_check says DROP_FIRST on the
 * first drop of an episode (for a line "begins dropping", if wanted) and reports the episode
 * as ended, with how many it dropped, when the source's next interval starts; sources that go
 * quiet are reported by tl_source_limit_sweep, which the caller runs from a timer (once a
 * second is plenty). An episode ends at the latest when its interval does.
 *
 * Fixed memory: at most max_sources sources are tracked, in a hash table allocated at
 * creation, with least-recently-used eviction: a new source takes the place of the one heard
 * from longest ago (whose episode, if any, is then reported as ended). So every call is O(1)
 * and nothing is allocated after tl_source_limit_new. The hash is SipHash-1-3 under a random
 * key, so senders who choose their addresses cannot pile them into one bucket.
 * A sender that changes its address for every message (spoofed UDP, a whole IPv6 prefix) is
 * not held back by a per-address limit; only a limit on the whole input is.
 *
 * Threads: none inside. Each instance belongs to one thread (each worker owns its own for its
 * inputs), like every other per-connection state.
 */
#ifndef TL_CORE_SOURCE_LIMIT_H
#define TL_CORE_SOURCE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/msg.h"

/* A source: an IPv4 or IPv6 address (an IPv4-mapped IPv6 address counts as the IPv4 one) or
 * a process ID. Compared as 24 bytes: build it with the functions below, which zero what the
 * kind does not use. */
enum tl_source_kind { TL_SOURCE_NONE = 0, TL_SOURCE_IPV4, TL_SOURCE_IPV6, TL_SOURCE_PID };

struct tl_source_key {
    uint8_t kind;       /* enum tl_source_kind */
    uint8_t pad[3];
    uint32_t pid;
    uint8_t addr[16];
};

void tl_source_key_addr(struct tl_source_key *k, const struct tl_addr *a);
void tl_source_key_pid(struct tl_source_key *k, uint32_t pid);

/* "192.0.2.1", "2001:db8::1", "pid 1234" or "unknown source"; returns the length written. */
#define TL_SOURCE_KEY_STRLEN 48
size_t tl_source_key_format(const struct tl_source_key *k, char *out, size_t cap);

struct tl_source_limit_opts {
    uint32_t burst;        /* messages per interval and source, >= 1 */
    int64_t interval_ms;   /* >= 1 */
    uint32_t max_sources;  /* sources tracked at once, 1..1048576; 0 means 4096 */
    uint64_t seed[2];      /* the hash key; both 0: taken from getrandom(2) */
};

#define TL_SOURCE_LIMIT_MAX_SOURCES_DEFAULT 4096u

enum tl_source_verdict {
    TL_SOURCE_PASS = 0,   /* within the burst: deliver it */
    TL_SOURCE_DROP,       /* over the burst: drop it (the limit counts it) */
    TL_SOURCE_DROP_FIRST, /* as DROP, and the first drop of a new episode */
};

/* One source's drops within one interval. */
struct tl_source_episode {
    struct tl_source_key key;
    uint64_t dropped;    /* 0: no episode ended */
    int64_t first_ms;    /* the first drop */
    int64_t last_ms;     /* the last drop */
    bool evicted;        /* reported early: the source made room for a new one */
};

struct tl_source_limit_stats {
    uint64_t passed;
    uint64_t dropped;
    uint64_t episodes;   /* episodes begun */
    uint64_t evicted;    /* sources forgotten to make room for new ones */
    size_t sources;      /* tracked now */
};

struct tl_source_limit;

/* Allocates a limiter with all its memory. NULL with err filled when an option is out of
 * range (TL_E_CONFIG, naming it) or memory or getrandom fails (TL_E_RESOURCE). */
struct tl_source_limit *tl_source_limit_new(const struct tl_source_limit_opts *opts,
                                            struct tl_err *err);
void tl_source_limit_free(struct tl_source_limit *l);

/*
 * Counts one message from source k at now_ms (CLOCK_MONOTONIC, milliseconds: the caller's
 * clock, so tests can set it) and says whether to deliver it. When an episode ended because
 * of this call (k's own, its interval being over, or that of the source k displaced),
 * *ended (which may be NULL) describes it; otherwise ended->dropped is 0.
 */
enum tl_source_verdict tl_source_limit_check(struct tl_source_limit *l,
                                             const struct tl_source_key *k, int64_t now_ms,
                                             struct tl_source_episode *ended);

/*
 * Reports, into out[0..max), the episodes whose interval is over at now_ms, and forgets
 * them. Returns how many it wrote; when that is max, call again for the rest.
 */
size_t tl_source_limit_sweep(struct tl_source_limit *l, int64_t now_ms,
                             struct tl_source_episode *out, size_t max);

void tl_source_limit_stats(const struct tl_source_limit *l, struct tl_source_limit_stats *st);

#endif
