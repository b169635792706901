/*
 * out_helpers.c: what several output kinds do alike (out.h, "Helpers for the kinds"): the
 * disk spill opened from the queue.* keys, the release of what is still queued at the end,
 * a string hash for their caches.
 */
#include <stdio.h>

#include "out/out.h"

struct tl_spool *tl_out_spool_open(struct tl_output *out, struct tl_ev_loop *loop,
                                   void (*retry)(void *arg), void (*settled)(void *arg),
                                   void *arg, struct tl_err *err)
{
    const struct tl_conf_output *c = out->conf;
    char owner[96];
    snprintf(owner, sizeof(owner), "output %s", c->name);
    struct tl_spool_opts o = {0};
    o.dq.dir = c->queue_dir;
    o.dq.max_bytes = c->queue_max_bytes;
    o.dq.segment_bytes = c->queue_segment_bytes;
    o.dq.sync = c->queue_sync == TL_QSYNC_NONE     ? TL_DQ_SYNC_NONE
                : c->queue_sync == TL_QSYNC_ALWAYS ? TL_DQ_SYNC_ALWAYS
                                                   : TL_DQ_SYNC_INTERVAL;
    o.dq.sync_interval_ms = c->queue_sync_interval_ms;
    o.owner = owner;
    o.full_drops = c->full == TL_QFULL_DROP;
    o.loop = loop;
    o.retry = retry;
    o.settled = settled;
    o.arg = arg;
    o.write_errors = &out->stats.write_errors;
    o.records = &out->stats.queued_disk;
    o.record_bytes = &out->stats.queued_disk_bytes;
    return tl_spool_open(&o, err);
}

size_t tl_out_release_queued(struct tl_output *out, struct tl_msg **held, size_t *held_pos,
                             size_t *n_held)
{
    size_t n = *n_held - *held_pos;
    for (size_t i = *held_pos; i < *n_held; i++) {
        tl_msg_unref(held[i]);
    }
    *held_pos = *n_held = 0;
    struct tl_msg *batch[1024];
    size_t k;
    while ((k = tl_mq_pop(&out->q, batch, sizeof(batch) / sizeof(batch[0]), 0)) > 0) {
        for (size_t i = 0; i < k; i++) {
            tl_msg_unref(batch[i]);
        }
        n += k;
    }
    return n;
}

uint64_t tl_out_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s) {
        h ^= (uint8_t)*s++;
        h *= 1099511628211ull;
    }
    return h;
}
