/*
 * pipeline.h: what inputs, outputs and the worker threads share, below all of them: the
 * running input and output (struct tl_input, struct tl_output: configuration, counters,
 * queue, settle count, the kind's operations), the worker threads that carry messages from
 * the one to the other (worker.c), and the items an input hands to a worker.
 *
 * Threads: the main thread builds the pipeline at start and tears it down at stop. Each
 * worker thread runs one event loop with its inputs' listeners and connections; it frames and
 * parses what it reads and appends each message to a per-output pending batch, which it
 * hands to the output's queue (tl_mq) once per loop turn. Each output runs its own thread
 * that pops batches, writes them and advances its settle count.
 *
 * Layers (docs/architecture.md): this module may use core, parse, conf, transport and queue;
 * inputs (src/in), outputs (src/out) and the daemon use it.
 */
#ifndef TL_PIPELINE_PIPELINE_H
#define TL_PIPELINE_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/msg.h"
#include "ev/loop.h"
#include "queue/mq.h"
#include "transport/tls.h"

struct tl_input_ops;
struct tl_output_ops;
struct tl_addr;
struct tl_peer_id;

struct tl_pipeline;
struct tl_worker;
struct tl_output;
struct tl_in_limits;
struct tl_in_rate;
struct tl_filter;

/* The where: filters of the routes that take an input to one output (route/filter.h; the
 * filters belong to the configuration): a message goes there when one of them matches, or
 * always when n is 0 (one of those routes has no where:). */
struct tl_route_where {
    const struct tl_filter **f;
    size_t n;
};

struct tl_input_stats {
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t malformed;
    atomic_uint_fast64_t truncated;
    atomic_uint_fast64_t conn_open;
    atomic_uint_fast64_t conn_total;
    atomic_uint_fast64_t conn_rejected;
    atomic_uint_fast64_t conn_errors;
    atomic_uint_fast64_t handshake_failed;
    atomic_uint_fast64_t rejected_hostname;
    atomic_uint_fast64_t dropped_full;  /* datagrams dropped: an output queue was full */
    /* Connection limits (tcp, tls, relp). */
    atomic_uint_fast64_t closed_idle;        /* idle_timeout */
    atomic_uint_fast64_t refused_source;     /* max_connections_per_source */
    atomic_uint_fast64_t handshakes_dropped; /* max_handshakes: oldest dropped, or refused */
    atomic_uint_fast64_t closed_budget;      /* partial_frame_budget */
    atomic_uint_fast64_t accept_pauses;      /* episodes out of file descriptors */
    atomic_uint_fast64_t truncated_eof;      /* of truncated: the connection ended mid-line */
    atomic_uint_fast64_t tls_on_plain;       /* a TLS client on a plain tcp or relp input */
    atomic_uint_fast64_t rate_limited;       /* dropped by rate_limit (in/rate.c) */
    atomic_uint_fast64_t hs_fail[TL_HS_REASONS];
};

/* Capabilities of an input kind (struct tl_input_ops in in/in.h), copied into the input. */
#define TL_IN_CANNOT_PAUSE 0x1u /* datagrams that cannot wait (udp): dropped while full */
#define TL_IN_ACKS 0x2u         /* acknowledges to its senders (relp): outputs settle promptly */

struct tl_input {
    const struct tl_conf_input *conf;
    const struct tl_input_ops *ops; /* its kind (in/in.h) */
    unsigned caps;             /* TL_IN_* of its kind */
    const struct tl_conf *gconf; /* the configuration conf belongs to */
    size_t index;              /* its id: tl_pipeline_input_id of its name (tl_msg.input) */
    struct tl_pipeline *pl;
    int *fds;                  /* bound sockets: n_addrs per worker (stream, udp), or 1 (unix) */
    size_t n_fds;
    size_t fds_per_worker;
    uint16_t port;             /* the port actually bound */
    struct tl_input_stats stats;
    struct tl_ratelimit rl;    /* for lines peers can cause */
    bool has_tls;
    struct tl_tls_slot tls;    /* transport tls: the current context */
    struct tl_in_limits *lim;  /* tcp, tls, relp: what the connection limits count (in/) */
    struct tl_in_rate *rate;   /* rate_limit: per worker (in/rate.c); NULL without it */
    void *impl;                /* the kind's own state */
    bool initialised;          /* init was called: unbind and fini are due */
};

struct tl_output_stats {
    atomic_uint_fast64_t written;   /* file: written; forward: handed to the connection */
    atomic_uint_fast64_t acked;     /* forward: the receiver has them (TCP ack or RELP rsp) */
    atomic_uint_fast64_t resent;    /* forward: sent again after a reconnect (maybe duplicates) */
    atomic_uint_fast64_t write_errors;
    atomic_uint_fast64_t dropped;       /* every message lost here, whatever the reason */
    atomic_uint_fast64_t dropped_full;  /* of which: queue full with queue.full: drop */
    atomic_uint_fast64_t queued_disk;   /* forward: messages waiting in the disk part */
    atomic_uint_fast64_t queued_disk_bytes; /* and their bytes on disk, headers included */
};

struct tl_output {
    const struct tl_conf_output *conf;
    const struct tl_output_ops *ops; /* its kind (out/out.h) */
    const struct tl_conf *gconf;
    struct tl_pipeline *pl;
    size_t index;              /* its slot in the route table (tl_routes.outputs) */
    struct tl_mq q;
    pthread_t thread;
    bool started;
    atomic_bool reopen;        /* set by SIGHUP, taken by the output thread */
    /* 0 while running; once the daemon stops, the time (tl_now_ms) by which the output
     * gives up on what it could not deliver (counted as dropped, and said). */
    atomic_int_fast64_t stop_deadline_ms;
    struct tl_output_stats stats;
    struct tl_ratelimit rl;
    void *impl;                /* the kind's own state */
    bool initialised;          /* init was called: free is due */
    /* Settling (docs/reliability.md). Messages enter q numbered 0, 1, 2, ... (tl_mq_push's
     * end_seq) and the output takes them in that order. settled is how many of them, from
     * the first, the output has settled: a file or stdout output has written them (and
     * fsynced them, with sync), a forward output has them on disk (per queue.sync) or
     * acknowledged by its receiver, or they were dropped and counted. It only grows, and
     * every output kind advances it (tl_output_settle). A RELP input acknowledges a message
     * only once every output it was routed to has settled past it. */
    atomic_uint_fast64_t settled;
    /* A RELP input routes here and waits for settled: settle each batch promptly (a file
     * output writes it now rather than at its next flush_interval). */
    atomic_bool settle_waited;
    /* Settle rounds and workers that still compare against settled once a reload replaced
     * the output (tl_output_hold): its struct is freed only when none is left. */
    atomic_uint_fast32_t holds;
};

static inline void tl_output_hold(struct tl_output *out)
{
    atomic_fetch_add_explicit(&out->holds, 1, memory_order_relaxed);
}

static inline void tl_output_release(struct tl_output *out)
{
    atomic_fetch_sub_explicit(&out->holds, 1, memory_order_release);
}

/* Called by the output's own thread: the first n messages of its queue are settled. */
static inline void tl_output_settle(struct tl_output *out, uint64_t n)
{
    atomic_store_explicit(&out->settled, n, memory_order_release);
}

/*
 * The route table: where each input's messages go, and which outputs exist. Workers route
 * with the table they adopted; a reload builds a new one and publishes it whole
 * (tl_pipeline_publish), so a worker sees the old table or the new one, never a mix. A worker
 * adopts a table between two loop turns (a batch boundary) and then says so (its generation);
 * the table it left is freed only once every worker has, so routing takes no lock.
 */
struct tl_route_dest {
    struct tl_output *out;
    struct tl_route_where where; /* the where: filters of the routes to out (n 0: all go);
                                  * the array is the table's, the filters the config's */
};

struct tl_route_set {
    struct tl_route_dest *to;
    size_t n_to;
    bool filtered;             /* one of to[] has where.n > 0: the worker matches each message */
};

struct tl_routes {
    uint64_t gen;              /* 1, 2, ...: one more per table published */
    struct tl_route_set *by_input; /* indexed by tl_input.index */
    size_t n_inputs;
    struct tl_output **outputs;    /* indexed by tl_output.index; NULL: a free slot */
    size_t n_slots;
    size_t scratch_size;       /* the workers' read buffers: largest max_message_size + 64 KiB
                                * of the inputs (never shrinks) */
    /* What a worker does when it adopts this table: attach these inputs (new: bound, not
     * yet watched), and drain then close its items of those (removed). */
    struct tl_route_attach {
        struct tl_input *in;
        /* its kind's attach (in/in.h), called on the worker's thread */
        bool (*attach)(struct tl_input *in, struct tl_worker *w, size_t idx);
    } *attach;
    size_t n_attach;
    struct tl_input **retire;
    size_t n_retire;
};

/* A table for input ids 0..n_inputs-1 and n_slots output slots, all empty. NULL: out of
 * memory. */
struct tl_routes *tl_routes_new(size_t n_inputs, size_t n_slots);
/* Appends out to input id's set with the filters of the routes between them (where->n 0: no
 * filter; the table takes over where->f). False: out of memory (where->f freed). */
bool tl_routes_add(struct tl_routes *rt, size_t input_id, struct tl_output *out,
                   struct tl_route_where *where);
void tl_routes_free(struct tl_routes *rt);

/* Input ids: the id of a name stays the same across reloads, so that a message (tl_msg.input)
 * still names its input when the output writing it was built from an older configuration. */
#define TL_INPUT_ID_CHUNK 256
#define TL_INPUT_IDS (TL_INPUT_ID_CHUNK * TL_INPUT_ID_CHUNK) /* tl_msg.input is 16 bits */
struct tl_input_names {
    char **chunk[TL_INPUT_ID_CHUNK];
    size_t n;
};

/* What inputs, outputs and workers share: built by the daemon at start (daemon/server.c). */
struct tl_pipeline {
    const struct tl_conf *conf; /* the configuration it started with (workers,
                                 * partial_frame_budget: read at start only) */
    struct tl_input **inputs;  /* the running ones (main thread) */
    size_t n_inputs;
    struct tl_output **outputs;
    size_t n_outputs;
    _Atomic(struct tl_routes *) routes; /* the current table (tl_pipeline_publish) */
    struct tl_input_names names;
    struct tl_worker **workers;
    size_t n_workers;
    /* Bytes of unfinished frames held by every connection (partial_frame_budget). Every
     * worker writes it: on a cache line of its own, away from the fields they only read. */
    _Alignas(64) atomic_size_t partial_bytes;
};

/*
 * One thing an input runs on a worker: a listener, a connection, a datagram socket, a file
 * being followed. The worker keeps a list of them so that it can pause, drain and close
 * them without knowing what they are.
 */
struct tl_in_item {
    /* Read what the kernel already holds for us (shutdown drain). */
    void (*drain)(struct tl_in_item *it);
    /* Close and free. */
    void (*close)(struct tl_in_item *it);
    /* Stop or resume reading (back-pressure); NULL for items that never pause. */
    void (*pause)(struct tl_in_item *it, bool paused);
    /* After a TLS reload: re-check the peer against the input's new policy, close it if it
     * no longer passes; NULL for items without a TLS peer. */
    void (*recheck)(struct tl_in_item *it);
    /* Bytes of an unfinished frame it keeps between reads; NULL for items that keep none. */
    size_t (*held)(const struct tl_in_item *it);
    /* The input it belongs to: it pauses while one of the input's outputs is full. */
    struct tl_input *in;
    struct tl_in_item *prev;
    struct tl_in_item *next;
};

/* The id of input name (registered on first use; main thread, before any message of that
 * input exists). -1 when TL_INPUT_IDS names were used or out of memory. */
long tl_pipeline_input_id(struct tl_pipeline *pl, const char *name);
/* The name of input id; any thread (the id came with a message). */
const char *tl_pipeline_input_name(const struct tl_pipeline *pl, size_t id);
void tl_pipeline_names_fini(struct tl_pipeline *pl);

/* Makes rt the current table (its gen: one more than the current one's) and waits until every
 * running worker has adopted it; after late_ms, late(arg) is called once (and the wait goes
 * on): a worker that cannot hand its batches to an output leaving the table waits for room,
 * which late can end by closing that output's queue. Returns the table that was current
 * (the caller frees it: no worker uses it any more). Main thread. */
struct tl_routes *tl_pipeline_publish(struct tl_pipeline *pl, struct tl_routes *rt,
                                      int64_t late_ms, void (*late)(void *arg), void *arg);

/* Worker lifecycle (worker.c), driven by the daemon. */
struct tl_worker *tl_worker_new(struct tl_pipeline *pl, size_t id);
bool tl_worker_start(struct tl_worker *w);
/* Sets the stop flag and wakes the loop: the worker drains its connections, then exits. */
void tl_worker_request_stop(struct tl_worker *w);
/* Waits up to timeout_ms (-1: forever) for the worker to exit; false on timeout. */
bool tl_worker_join(struct tl_worker *w, int64_t timeout_ms);
void tl_worker_free(struct tl_worker *w);

/* Worker side, used by the inputs. */
struct tl_ev_loop;
struct tl_ev_loop *tl_worker_loop(struct tl_worker *w);
/* 0 .. n_workers - 1. */
size_t tl_worker_id(const struct tl_worker *w);
/* Per-worker scratch read buffer, of tl_worker_scratch_size bytes (the route table's
 * scratch_size: a reload may grow it between two loop turns). */
uint8_t *tl_worker_scratch(struct tl_worker *w);
size_t tl_worker_scratch_size(const struct tl_worker *w);
/* Where input in's messages go, in the table this worker routes with. */
const struct tl_route_set *tl_worker_routes(const struct tl_worker *w, const struct tl_input *in);
/* For a settle round starting now: the outputs it waits for, each with the settle count to
 * reach (its seq_end for this worker): input in's outputs, and the outputs a reload took out
 * of the table that have not settled what this worker handed them yet. outs/want/cap: the
 * caller's arrays (grown with realloc); each output is held (tl_output_hold) for the caller,
 * who releases it. Returns the count, or (size_t)-1 when out of memory. */
size_t tl_worker_settle_targets(struct tl_worker *w, const struct tl_input *in,
                                struct tl_output ***outs, uint64_t **want, size_t *cap);
/* Takes the reference on m and routes it to the outputs of input in. */
void tl_worker_emit(struct tl_worker *w, struct tl_input *in, struct tl_msg *m);
bool tl_worker_stopping(struct tl_worker *w);
/* After a TLS reload: the worker re-checks its TLS connections against their input's new
 * policy (on its own thread, at its next turn). Any thread. */
void tl_worker_request_recheck(struct tl_worker *w);
/* Calls fn(loop, arg) once everything input in emitted so far is in its outputs' queues
 * (after the current turn when nothing waits). For RELP acknowledgements, which then wait
 * for the outputs to settle (tl_worker_pushed_seq). */
bool tl_worker_after_flush(struct tl_worker *w, struct tl_input *in, tl_ev_fn *fn, void *arg);
void tl_worker_cancel_after_flush(struct tl_worker *w, void *arg);
/* The end_seq of this worker's last push into out's queue: once out->settled reaches it,
 * everything this worker handed to out so far is settled. */
uint64_t tl_worker_pushed_seq(const struct tl_worker *w, const struct tl_output *out);
/* A connection waits for outputs to settle (+1) or stopped waiting (-1): at shutdown the
 * worker gives such waits a short while to finish, so acknowledgements still go out. */
void tl_worker_settle_wait(struct tl_worker *w, int delta);
/* True while an output that input in is routed to has a full queue (full: block): the
 * input's connections and unix sockets on this worker are paused meanwhile. */
bool tl_worker_input_blocked(const struct tl_worker *w, const struct tl_input *in);

/* The worker's list of items (worker.c). */
void tl_worker_add_item(struct tl_worker *w, struct tl_in_item *it);
void tl_worker_remove_item(struct tl_worker *w, struct tl_in_item *it);
/* The item that keeps the most bytes of an unfinished frame; NULL when none keeps any.
 * Walks every item: for partial_frame_budget, which is exceeded only under abuse. */
struct tl_in_item *tl_worker_largest_partial(struct tl_worker *w);

#endif
