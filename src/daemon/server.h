/*
 * server.h: the running daemon: builds the pipeline (pipeline/pipeline.h) from the
 * configuration, starts and stops its threads, reloads, counts.
 *
 * The main thread owns start-up, signals and shutdown. It never names an input or output
 * kind: it calls their operations (in/in.h, out/out.h), found in one table each.
 */
#ifndef TL_DAEMON_SERVER_H
#define TL_DAEMON_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "pipeline/pipeline.h"

struct tl_server {
    struct tl_pipeline pl;
    struct tl_conf *conf;       /* the running configuration: main.c's at start, then the
                                 * last one a reload applied */
    struct tl_conf *start_conf; /* owned by main.c; pl.conf is the same */
    struct tl_conf **confs;     /* loaded by reloads (owned here): freed once no running
                                 * input or output uses them */
    size_t n_confs;
    struct tl_output **shells;  /* replaced outputs some settle round still looks at */
    size_t n_shells;
    /* Held while pl.inputs and pl.outputs change (a reload) and by readers on other threads
     * (the metrics thread): an input or output is taken off the lists under it before it is
     * freed. */
    pthread_mutex_t list_lock;
    uint16_t metrics_port;      /* the metrics listener's port (main.c), 0 without one: the
                                 * port_file's last line, also when a reload rewrites it */
    uint64_t stats_reports;     /* counter reports logged (tl_server_log_stats) */
};

/* Binds every listener (so errors surface before anything starts); false after logging
 * why. */
bool tl_server_init(struct tl_server *srv, struct tl_conf *conf);
bool tl_server_start(struct tl_server *srv);
/* Stops accepting, drains what was accepted to the outputs, flushes, joins every thread. */
void tl_server_stop(struct tl_server *srv);
void tl_server_fini(struct tl_server *srv);
void tl_server_reopen(struct tl_server *srv);
/* SIGHUP (reload.c): reopens the output files, reads the configuration file again, checks it
 * as at start (every error logged, FILE:LINE, and then nothing changes), and applies the
 * difference: inputs and outputs whose settings are unchanged keep running (their TLS policy,
 * certificates, keys, CAs and CRLs are re-read into their TLS slots, and open connections
 * re-checked), removed inputs stop accepting and drain, new ones bind, changed outputs are
 * replaced after the old instance has settled what it holds, and the route table switches
 * whole. One line says what changed. Main thread. */
void tl_server_reload(struct tl_server *srv);
/* Logs the counters: a first line "stats: report N: I inputs, O outputs" (N counts from 1,
 * so a reader of the log tells one report's lines from the last one's), then a line per input
 * and output and their detail lines. Main thread. */
void tl_server_log_stats(struct tl_server *srv);
/* What the configuration's kinds check beyond the loader's rules (out/out.h: check), at
 * --check and at start; false with one sentence per problem appended to errs. */
bool tl_server_check(const struct tl_conf *conf, struct tl_conf_errors *errs);

/* Shared by server.c and reload.c. */
/* Output o of c, not yet initialised (its kind's init is the caller's), in route slot slot. */
struct tl_output *tl_server_output_new(struct tl_server *srv, const struct tl_conf *c, size_t o,
                                       size_t slot);
void tl_server_output_free(struct tl_server *srv, struct tl_output *out);
/* Takes item (an input or an output) off pl.inputs / pl.outputs, under list_lock. */
void tl_server_unlist(struct tl_server *srv, const void *item);
/* Frees the replaced outputs nobody looks at any more (all: every one, at the end). */
void tl_server_sweep(struct tl_server *srv, bool all);
/* Input i of c, initialised (not bound); NULL after logging why. */
struct tl_input *tl_server_input_new(struct tl_server *srv, const struct tl_conf *c, size_t i);
/* Unbinds, finishes and frees (its items on the workers are closed already). */
void tl_server_input_free(struct tl_input *in);
struct tl_routes *tl_server_routes(struct tl_server *srv, const struct tl_conf *c,
                                   struct tl_input *const *ins, struct tl_output *const *outs);
/* "NAME PORT" (or "NAME PATH") per input, then "@metrics PORT" when srv->metrics_port is
 * not 0 ('@' cannot start an input name). */
bool tl_server_write_port_file(struct tl_server *srv, const char *path);

#endif
