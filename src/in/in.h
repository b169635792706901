/*
 * in.h: the input interface. Every kind of input (tcp, tls, relp, udp, unix, and sources such
 * as a file or the journal) is one struct tl_input_ops, listed in one table (kinds.c). The
 * daemon calls these operations and never names a kind.
 *
 * Life of an input, all on the main thread but attach's items: init (what the kind needs
 * before binding: a TLS context), bind (sockets, files: errors surface at start, before any
 * thread runs), attach once per worker (the kind hands the worker what it is to watch, as
 * struct tl_in_item, pipeline.h: the worker pauses, drains and closes them without knowing
 * what they are), port_line (its line in port_file), then at stop unbind and fini.
 *
 * A reload (daemon/reload.c) runs the same life while the workers run: an input it adds is
 * initialised and bound on the main thread, and attach is then called on each worker's own
 * thread (between two loop turns); an input it removes has its items drained and closed by
 * each worker on its thread, and only after every worker ran another loop turn (deferred
 * frees done) are unbind and fini called. So attach touches only what is the worker's and its
 * own slot of the input (one worker's fds), and unbind must not assume the items are open.
 *
 * Contracts every kind honours: it hands each message to tl_in_deliver (or tl_worker_emit)
 * on the worker's thread; it pauses its items while tl_worker_input_blocked() (back-pressure)
 * unless it has TL_IN_CANNOT_PAUSE (then the worker drops and counts); with TL_IN_ACKS it
 * acknowledges a message only once every output it went to has settled it (pipeline.h).
 */
#ifndef TL_IN_IN_H
#define TL_IN_IN_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/pipeline.h"

struct tl_input_ops {
    const char *name;   /* the transport word: "tcp", "udp", ... */
    unsigned caps;      /* TL_IN_* (pipeline.h) */
    /* Before binding: what the kind needs (a TLS context). Logs and returns false. */
    bool (*init)(struct tl_input *in);
    /* Creates its sockets or opens its sources, for n_workers workers. Logs and returns
     * false (then unbind and fini still run). */
    bool (*bind)(struct tl_input *in, size_t n_workers);
    /* Hands worker number idx (of n_workers) what it is to watch, as items on w. */
    bool (*attach)(struct tl_input *in, struct tl_worker *w, size_t idx);
    /* The input's line in port_file: "NAME PORT", "NAME PATH". */
    void (*port_line)(const struct tl_input *in, char *out, size_t cap);
    /* Undoes bind (whatever state bind left), then init. */
    void (*unbind)(struct tl_input *in);
    void (*fini)(struct tl_input *in);
};

/* The kind of an input, by its configured transport (kinds.c). */
const struct tl_input_ops *tl_input_kind(enum tl_transport t);

/* The kinds (kinds.c lists them). */
extern const struct tl_input_ops tl_in_tcp_ops;
extern const struct tl_input_ops tl_in_tls_ops;
extern const struct tl_input_ops tl_in_relp_ops;
extern const struct tl_input_ops tl_in_udp_ops;
extern const struct tl_input_ops tl_in_unix_ops;
extern const struct tl_input_ops tl_in_file_ops;
extern const struct tl_input_ops tl_in_journal_ops; /* in_journal.c */
extern const struct tl_input_ops tl_in_kmsg_ops;    /* in_kmsg.c */

/* Shared by the socket kinds. */
bool tl_in_stream_attach(struct tl_input *in, struct tl_worker *w, int fd);
bool tl_in_dgram_attach(struct tl_input *in, struct tl_worker *w, int fd);

/* Turns one received frame into a message: copies, stamps, parses, routes. */
/* id: the connection's TLS identity or NULL; the message takes its own reference. */
void tl_in_deliver(struct tl_worker *w, struct tl_input *in, const struct tl_addr *peer,
                   struct tl_peer_id *id, const uint8_t *p, size_t len, bool truncated,
                   int64_t recv_sec, uint32_t recv_usec);

/* This host's name (a C string of *len bytes), which messages from local sockets and
 * sources carry. */
const char *tl_in_local_host(size_t *len);

#endif
