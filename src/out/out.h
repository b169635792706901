/*
 * out.h: the output interface. Every kind of output (file, stdout, forward, kafka) is one
 * struct tl_output_ops, listed in one table (kinds.c). The daemon calls these
 * operations and never names a kind.
 *
 * Life of an output: init on the main thread before any worker runs (checks that should stop
 * the start: a path that cannot be written, a TLS context, a disk queue), then run on a thread
 * of its own, then free after that thread ended.
 *
 * An output added or replaced by a reload (daemon/reload.c) is initialised while workers run
 * and may already have pushed into out->q: init sets a notify hook only with
 * tl_mq_set_notify, and run takes what is queued. The instance it replaces (same name, maybe
 * the same queue.dir) has stopped as at shutdown (out->q closed, stop_deadline_ms set, run
 * returned, free called) before the new one's init: one owner per disk queue at a time.
 *
 * The contract every kind honours (docs/reliability.md, pipeline.h): run takes messages from
 * out->q in order and publishes, with tl_output_settle, how many of them from the first it has
 * settled (written, on disk, acknowledged downstream, or dropped and counted). A RELP input
 * acknowledges nothing an output has not settled, so a kind that never settles stalls them.
 * It also takes out->reopen (SIGHUP: reopen files), keeps out->stats, and once out->q is
 * closed it delivers what it can until out->stop_deadline_ms, counts what is left in
 * stats.dropped, and returns.
 */
#ifndef TL_OUT_OUT_H
#define TL_OUT_OUT_H

#include <stdbool.h>

#include "pipeline/pipeline.h"
#include "queue/spool.h"

struct tl_output_ops {
    const char *name;   /* the type word: "file", "forward", ... */
    /* Optional (NULL: nothing to check). After the configuration loaded, at --check and at
     * start, on the main thread, before any output exists: what only the kind can judge
     * about output index of c (kafka: its librdkafka properties, by librdkafka itself).
     * Appends one sentence per problem to errs (tl_conf_errors_add, "FILE:LINE: KEY: what
     * and the remedy") and returns false when it found any; the start stops then. */
    bool (*check)(const struct tl_conf *c, size_t index, struct tl_conf_errors *errs);
    /* Main thread, before the workers start. Logs and returns false to stop the start (free
     * still runs). */
    bool (*init)(struct tl_output *out);
    /* The output's thread (arg: the struct tl_output). */
    void *(*run)(void *arg);
    /* TLS (NULL when the kind has none): the slot a SIGHUP reload fills with the new context,
     * then recheck, from any thread, asks the output's thread to re-check its current peer.
     * recheck is called after every successful reload, slot or not: a kind whose TLS a
     * reload cannot reach (kafka: librdkafka reads its files once) says so there. */
    struct tl_tls_slot *(*tls_slot)(struct tl_output *out);
    void (*recheck)(struct tl_output *out);
    /* Optional: the kind's own counters, one more "stats: ..." line after the line every
     * output gets (SIGUSR1, stats_interval); main thread, while run may be running. */
    void (*log_stats)(struct tl_output *out);
    /* After run returned (or when it never started). */
    void (*free)(struct tl_output *out);
    /* Optional (NULL: nothing to check). Main thread, after tlslogd dropped root (user:,
     * daemon/privdrop.c), before run: checks again, as the new user, what init checked that
     * depends on who runs (creating its files). Logs and returns false to stop the start. */
    bool (*check_access)(struct tl_output *out);
};

/* The kind of an output, by its configured type (kinds.c). */
const struct tl_output_ops *tl_output_kind(enum tl_output_type t);

/* ---- helpers for the kinds (out_helpers.c) ---------------------------------------------- */

/* The output's disk spill (queue.dir) from its queue.* keys, on the output's loop, counting
 * into its write_errors and queued_disk; retry and settled as in struct tl_spool_opts. NULL
 * with err when the directory cannot be used. */
struct tl_spool *tl_out_spool_open(struct tl_output *out, struct tl_ev_loop *loop,
                                   void (*retry)(void *arg), void (*settled)(void *arg),
                                   void *arg, struct tl_err *err);
/* Releases the messages popped and not taken (held[*held_pos..*n_held)) and what out's queue
 * still holds, at the very end of a stop; returns how many, for the dropped counter. */
size_t tl_out_release_queued(struct tl_output *out, struct tl_msg **held, size_t *held_pos,
                             size_t *n_held);
/* FNV-1a of a NUL-terminated string, for the kinds' caches (open files, topic handles). */
uint64_t tl_out_hash_str(const char *s);

extern const struct tl_output_ops tl_out_file_ops;
extern const struct tl_output_ops tl_out_stdout_ops;
extern const struct tl_output_ops tl_out_fwd_ops;
extern const struct tl_output_ops tl_out_kafka_ops;

#endif
