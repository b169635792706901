/*
 * server.h: the running daemon: inputs, outputs, worker threads, and how messages move.
 *
 * Threads: the main thread owns start-up, signals and shutdown. Each worker thread runs one
 * event loop with its own listeners (SO_REUSEPORT) and connections; it frames and parses
 * what it reads and appends each message to a per-output pending batch, which it hands to
 * the output's queue (tl_mq) once per loop turn. Each output runs its own thread that pops
 * batches and writes them.
 */
#ifndef TL_DAEMON_SERVER_H
#define TL_DAEMON_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/log.h"
#include "queue/mq.h"
#include "ev/loop.h"
#include "transport/tls.h"
#include "transport/tls_certinfo.h"

struct tl_server;
struct tl_worker;
struct tl_output;

/* Handshake failure reasons counted per input (tl_stream_tls_fail_kind, plus "timeout"). */
#define TL_HS_REASONS 23
extern const char *const tl_hs_reason_names[TL_HS_REASONS];
/* Index of a reason name; the last slot ("other") for names not in the table. */
size_t tl_hs_reason_index(const char *kind);

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
    atomic_uint_fast64_t hs_fail[TL_HS_REASONS];
};

struct tl_input {
    const struct tl_conf_input *conf;
    size_t index;
    struct tl_server *srv;
    struct tl_output **outs;   /* where its messages go (routes) */
    size_t n_outs;
    int *fds;                  /* bound sockets: n_addrs per worker (stream, udp), or 1 (unix) */
    size_t n_fds;
    size_t fds_per_worker;
    uint16_t port;             /* the port actually bound */
    struct tl_input_stats stats;
    struct tl_ratelimit rl;    /* for lines peers can cause */
    bool has_tls;
    struct tl_tls_slot tls;    /* transport tls: the current context */
    struct tl_cert_set certs;  /* its certificates' expiry, for the metrics */
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
    const struct tl_conf *gconf;
    size_t index;
    struct tl_mq q;
    pthread_t thread;
    bool started;
    atomic_bool reopen;        /* set by SIGHUP, taken by the output thread */
    /* 0 while running; once the daemon stops, the time (tl_now_ms) by which the output
     * gives up on what it could not deliver (counted as dropped, and said). */
    atomic_int_fast64_t stop_deadline_ms;
    struct tl_output_stats stats;
    struct tl_ratelimit rl;
    void *impl;                /* the writer's own state */
    struct tl_cert_set certs;  /* TLS forward: its certificates' expiry, for the metrics */
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
    bool settle_waited;
};

/* Called by the output's own thread: the first n messages of its queue are settled. */
static inline void tl_output_settle(struct tl_output *out, uint64_t n)
{
    atomic_store_explicit(&out->settled, n, memory_order_release);
}

/* The writer thread of file and stdout outputs (out_file.c). */
void *tl_out_file_main(void *arg);
/* At start: a file output can create and write its files (the part of its path before the
 * first placeholder); false with the path, the reason and the remedy in err. */
bool tl_out_file_check(const struct tl_conf_output *conf, char *err, size_t errlen);

/* The forward output (out_fwd.c): init before the workers start, then its thread. */
bool tl_out_fwd_init(struct tl_output *out);
void *tl_out_fwd_main(void *arg);
void tl_out_fwd_free(struct tl_output *out);
/* SIGHUP: the output's TLS slot (NULL when it does not use TLS), which the server fills with
 * the reloaded context; then tl_out_fwd_recheck makes the output's own thread re-check the
 * server it is connected to against it. */
struct tl_tls_slot *tl_out_fwd_tls(struct tl_output *out);
void tl_out_fwd_recheck(struct tl_output *out);

struct tl_server {
    struct tl_conf *conf;
    struct tl_input *inputs;
    size_t n_inputs;
    struct tl_output *outputs;
    size_t n_outputs;
    struct tl_worker **workers;
    size_t n_workers;
    size_t scratch_size;       /* per-worker read buffer: largest max_message_size + 64 KiB */
};

/* Binds every listener (so errors surface before anything starts); false after logging
 * why. */
bool tl_server_init(struct tl_server *srv, struct tl_conf *conf);
bool tl_server_start(struct tl_server *srv);
/* Stops accepting, drains what was accepted to the outputs, flushes, joins every thread. */
void tl_server_stop(struct tl_server *srv);
void tl_server_fini(struct tl_server *srv);
void tl_server_reopen(struct tl_server *srv);
/* SIGHUP: reads the configuration file again and, when it is valid, gives every TLS input
 * and output its new TLS policy (auth, permitted_peers, fingerprints, certificates, keys, CAs
 * and CRLs); open connections are then re-checked by their threads. On any error nothing
 * changes and every error is logged. */
void tl_server_reload_tls(struct tl_server *srv);
void tl_server_log_stats(struct tl_server *srv);
/* "NAME PORT" (or "NAME PATH") per input, then "@metrics PORT" when metrics_port is not 0
 * ('@' cannot start an input name). */
bool tl_server_write_port_file(struct tl_server *srv, const char *path, uint16_t metrics_port);

/* Worker lifecycle (worker.c), driven by the server. */
struct tl_worker *tl_worker_new(struct tl_server *srv, size_t id);
bool tl_worker_start(struct tl_worker *w);
/* Sets the stop flag and wakes the loop: the worker drains its connections, then exits. */
void tl_worker_request_stop(struct tl_worker *w);
/* Waits up to timeout_ms (-1: forever) for the worker to exit; false on timeout. */
bool tl_worker_join(struct tl_worker *w, int64_t timeout_ms);
void tl_worker_free(struct tl_worker *w);

/* Worker side, used by the inputs. */
struct tl_ev_loop;
struct tl_ev_loop *tl_worker_loop(struct tl_worker *w);
/* Per-worker scratch read buffer (srv->scratch_size bytes). */
uint8_t *tl_worker_scratch(struct tl_worker *w);
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

#endif
