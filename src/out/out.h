/*
 * out.h: the output interface. Every kind of output (file, stdout, forward, and later kafka)
 * is one struct tl_output_ops, listed in one table (kinds.c). The daemon calls these
 * operations and never names a kind.
 *
 * Life of an output: init on the main thread before any worker runs (checks that should stop
 * the start: a path that cannot be written, a TLS context, a disk queue), then run on a thread
 * of its own, then free after that thread ended.
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

struct tl_output_ops {
    const char *name;   /* the type word: "file", "forward", ... */
    /* Main thread, before the workers start. Logs and returns false to stop the start (free
     * still runs). */
    bool (*init)(struct tl_output *out);
    /* The output's thread (arg: the struct tl_output). */
    void *(*run)(void *arg);
    /* TLS (NULL when the kind has none): the slot a SIGHUP reload fills with the new context,
     * then recheck, from any thread, asks the output's thread to re-check its current peer. */
    struct tl_tls_slot *(*tls_slot)(struct tl_output *out);
    void (*recheck)(struct tl_output *out);
    /* Optional, any thread: logs counters of its own after the output's stats line (SIGUSR1,
     * stats_interval), each line "stats: output NAME/PART: key=value ...". */
    void (*log_stats)(struct tl_output *out);
    /* After run returned (or when it never started). */
    void (*free)(struct tl_output *out);
};

/* The kind of an output, by its configured type (kinds.c). */
const struct tl_output_ops *tl_output_kind(enum tl_output_type t);

extern const struct tl_output_ops tl_out_file_ops;
extern const struct tl_output_ops tl_out_stdout_ops;
extern const struct tl_output_ops tl_out_fwd_ops;

#endif
