/*
 * fwd.h: the parts of the forward output (private to src/out). out_fwd.c is the output kind
 * (struct tl_output_ops) and moves messages: from the queue into the spool or the window,
 * from the spool into the window, and asks the protocol to send. The parts it is made of:
 *   fwd_conn.c    the connection: resolve, connect, TLS handshake, timeouts, reconnect with
 *                 exponential backoff and jitter, the TLS recheck after a reload, reading and
 *                 writing the stream;
 *   fwd_window.c  the acknowledgement window (fwd_window.h) and its glue: release, TCP
 *                 acknowledgements (SIOCOUTQ polling), resend counting, settling;
 *   fwd_stream.c, fwd_udp.c, fwd_relp.c: the wire protocols, each one struct fwd_proto;
 *   fwd_lb.c      load balancing (mode round_robin or hash): one lane per target, each a
 *                 struct fwd of its own with its connection, window and session;
 *   queue/spool.h the disk part (queue.dir).
 * Everything runs on the output's thread, except the recheck flag (set by a TLS reload) and
 * the queue's notify hook (an eventfd wake-up).
 */
#ifndef TL_OUT_FWD_H
#define TL_OUT_FWD_H

#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/log.h"
#include "ev/loop.h"
#include "out/fwd_track.h"
#include "out/fwd_window.h"
#include "out/out.h"
#include "queue/spool.h"
#include "relp/relp.h"
#include "transport/stream.h"
#include "transport/tls.h"

#define FWD_POP_MAX 1024

struct fwd;

/*
 * A wire protocol. The rest of the output asks it and never looks at the transport.
 * Optional operations are NULL where a protocol has nothing to do.
 */
struct fwd_proto {
    const char *name;
    /* No connection (UDP): usable once connect(2) returned, no handshake, and what the kernel
     * took is as far as a message can be followed. */
    bool datagram;
    /* Optional: set up and tear down the protocol's state (f->relp); init may set the
     * window's limits. False: out of memory. */
    bool (*init)(struct fwd *f);
    void (*fini)(struct fwd *f);
    /* Appends one formatted message to f->win.buf, framed for the wire. False: out of memory
     * (buf is as it was). */
    bool (*frame)(struct fwd *f, const uint8_t *msg, size_t len);
    /* Optional: whether the connection takes messages now (RELP: the session is open). */
    bool (*ready)(const struct fwd *f);
    /* Optional: the connection is up (RELP: open the session). */
    void (*on_connect)(struct fwd *f);
    /* Sends once: TL_OK when it moved bytes and may move more, TL_AGAIN when there is nothing
     * to send or the socket is full, TL_E_IO when the connection is gone (already handled:
     * disconnected and a reconnect scheduled). */
    enum tl_rc (*send)(struct fwd *f);
    /* Whether bytes wait for the socket to become writable. */
    bool (*wants_write)(const struct fwd *f);
    /* The socket is readable or reports an error. */
    void (*on_readable)(struct fwd *f);
    /* Optional: the connection is gone (its frames already wait again in the window). */
    void (*on_disconnect)(struct fwd *f);
    /* Optional: a clean stop, before the stream's shutdown: end the session (RELP close). */
    void (*close)(struct fwd *f);
};

extern const struct fwd_proto fwd_stream_octet;
extern const struct fwd_proto fwd_stream_lf;
extern const struct fwd_proto fwd_udp;
extern const struct fwd_proto fwd_relp;

enum fwd_state {
    FWD_IDLE,        /* not connected; waiting for the reconnect timer */
    FWD_CONNECTING,  /* TCP connect in progress */
    FWD_HANDSHAKE,   /* TLS handshake in progress */
    FWD_UP,
};

/* The connection and its backoff (fwd_conn.c). */
struct fwd_conn {
    enum fwd_state state;
    int fd;
    struct tl_stream *s;
    struct tl_ev_io io;
    struct tl_ev_timer timer;     /* reconnect, connect and handshake timeouts */
    size_t target;                /* index of the target being tried or used */
    struct addrinfo *addrs;       /* the current target's addresses, freshly resolved */
    struct addrinfo *next_addr;   /* the next one to try after a failure */
    uint64_t backoff_ms;
    uint64_t failures;            /* consecutive failed attempts, for log levels */
    int64_t up_ms;                /* when the current connection came up; 0: not up */
    int64_t last_write_ms;
    bool is_tls;
    struct tl_tls_slot tls;       /* transport tls, and relp over tls */
    atomic_bool recheck;          /* a TLS reload happened: re-check the current server */
};

/* RELP's session (fwd_relp.c): the window holds the formatted messages unframed; the frames
 * of the current session are encoded into wire, so that after a reconnect the same messages
 * go out again under the new session's numbers. */
struct fwd_relp_state {
    bool open;                    /* the server answered our open */
    struct tl_relp_client cl;
    struct tl_relp_parser rp;
    struct tl_buf wire;           /* encoded, not yet written */
    struct tl_buf rbuf;           /* responses received, not yet parsed */
};

struct fwd {
    struct tl_output *out;
    const struct tl_conf_output *conf;
    const struct fwd_proto *proto;
    struct tl_ev_loop *loop;
    struct fwd_conn c;
    struct fwd_window win;
    struct tl_ev_timer ack_timer; /* polls the peer's TCP acknowledgements */
    struct fwd_relp_state relp;
    /* The disk part of the queue (queue.dir), or NULL. While it holds anything, or the
     * target is down, new messages go to disk, and are sent from there, in order. */
    struct tl_spool *spool;
    struct tl_buf one;            /* scratch for formatting one message */
    struct tl_msg *held[FWD_POP_MAX]; /* popped, not yet framed or on disk (they wait) */
    size_t n_held;
    size_t held_pos;
    uint64_t popped;              /* messages taken from the queue so far */
    bool stopping;                /* the queue is closed: deliver what is left, then stop */
    int64_t stop_deadline;
    /* Load balancing (mode round_robin or hash, fwd_lb.c). The output's struct fwd keeps the
     * queue, the held messages, the spool and the settle count, and lb its lanes: one struct
     * fwd per target (its c, win, ack_timer and relp; the rest unused), whose pool points back
     * to the output's. Failover: both NULL. */
    struct fwd_lb *lb;
    struct fwd *pool;
    size_t lane_ix;               /* a lane: its target's index */
    bool lane_tried;              /* a lane: its first connection attempt is over */
    /* A lane: a send put off until it has more to write (fwd_lb.c, lane_defers): no write
     * interest meanwhile, flush_timer writes it at the latest LANE_MAX_WAIT_MS later. */
    bool deferred;
    int64_t unsent_since_ms;      /* a lane: when its unsent bytes were first put off; 0 */
    struct tl_ev_timer flush_timer;
    struct fwd_lane_stats *lane_stats; /* a lane: its counters (in lb) */
};

/* A lane's counters, for the output's stats line. */
struct fwd_lane_stats {
    atomic_uint_fast64_t written;
    atomic_uint_fast64_t acked;
    atomic_uint_fast64_t resent;
    atomic_uint_fast64_t moved;   /* unacknowledged messages handed to another lane */
    atomic_uint_fast64_t connects;
    atomic_bool up;
};

struct fwd_lb {
    struct fwd **lane;            /* one per target, in the order of targets */
    size_t n_lanes;
    struct fwd_lane_stats *stats; /* per lane */
    uint64_t *salt;               /* per lane: the hash of its "host:port" (fwd_hash.h) */
    bool *live;                   /* per lane: up, as of the last refresh (fwd_lb.c) */
    struct tl_template *key;      /* mode hash: hash_key */
    bool key_is_hostname;         /* it is "{hostname}" */
    struct tl_buf keybuf;
    size_t rr;                    /* mode round_robin: the lane taking the current batch */
    /* Without a spool: the queue's numbers popped and not settled yet (acknowledgements come
     * out of order across lanes); its base is the settle count. */
    struct fwd_track settle;
    /* With a spool: the records read from it, numbered from 0 in read order since it was
     * opened (or rewound), which may only leave the disk from the oldest on. */
    struct fwd_track disk;
    uint64_t disk_read;
    /* Frames of a failed lane while no lane is up: they go out first when one comes. */
    struct fwd_window parked;
    bool closing;                 /* the final stop: a lane's frames stay where they are */
};

/* out_fwd.c: moves data (fill from the queue, feed from disk, send) until the socket or the
 * queue is empty; with the target down, only into the spool. */
void fwd_pump(struct fwd *f);

/* Appends one formatted message to f's window, framed for the wire (false: out of memory);
 * key: its hash key (load balancing), kept with the frame. */
bool fwd_add_frame(struct fwd *f, const uint8_t *msg, size_t len, bool disk, uint64_t seq,
                   uint64_t key);

/* fwd_lb.c: load balancing over lanes (f is the output's struct fwd unless said). */
/* Builds the lanes (main thread, at init): false (logged) on failure. */
bool fwd_lb_init(struct fwd *f);
void fwd_lb_free(struct fwd *f);
/* The lane message m (the spool's record rec when m is NULL) goes to, when it has room;
 * NULL: it must wait (no lane up, or its lane is full). *key: its hash key. */
struct fwd *fwd_lb_lane_for(struct fwd *f, const struct tl_msg *m, const uint8_t *rec,
                            size_t len, uint64_t *key);
/* Some lane is up and has room, and want more messages can be popped. */
bool fwd_lb_room(struct fwd *f, size_t want);
/* Frames one message into lane (false: out of memory); disk: read from the spool. */
bool fwd_lb_push(struct fwd *f, struct fwd *lane, const uint8_t *msg, size_t len, bool disk,
                 uint64_t seq, uint64_t key);
/* Messages were popped from the queue (numbers below f->popped are in flight; fwd_lb_room
 * made room for them). */
void fwd_lb_popped(struct fwd *f);
/* Message number seq is settled without a frame (dropped and counted). */
void fwd_lb_settled(struct fwd *f, uint64_t seq);
/* A new batch starts (round_robin: the next lane takes it); which lanes are up is taken
 * again. Before filling and feeding from disk. */
void fwd_lb_next_batch(struct fwd *f);
/* The start of a pump: the lanes learn of a stop; parked frames go to a lane that is up. */
void fwd_lb_begin(struct fwd *f);
/* Sends once on every lane that is up: true when one moved bytes. */
bool fwd_lb_send(struct fwd *f);
void fwd_lb_update_interest(struct fwd *f);
/* The settle count without a spool. */
uint64_t fwd_lb_settled_upto(const struct fwd *f);
/* A lane: the first n frames of its window are done (fwd_release). */
void fwd_lb_release(struct fwd *lane, size_t n);
/* A lane lost its connection (fwd_window_lost): its frames go to other lanes. */
void fwd_lb_lane_lost(struct fwd *lane);
/* Frames held in all lanes. */
size_t fwd_lb_inflight(const struct fwd *f);
/* Every lane connects. */
void fwd_lb_connect(struct fwd *f);
/* The final stop: RELP close, TLS close_notify, disconnect, frames forgotten (with a spool the
 * read cursor goes back to the oldest record not acknowledged). */
void fwd_lb_close(struct fwd *f, bool orderly);
/* After a TLS reload: every lane re-checks its server. */
void fwd_lb_recheck(struct fwd *f);
/* One line with each lane's counters (the output's stats). */
void fwd_lb_log_stats(struct fwd *f);

/* fwd_conn.c */
/* With tls, the connection is a TLS stream over the target's TCP connection (its context
 * from f->conf->tls); false (logged): the context cannot be built. */
bool fwd_conn_init(struct fwd *f, bool tls);
void fwd_conn_fini(struct fwd *f);
/* Connects to the current target (a timer or deferred callback: arg is the struct fwd). */
void fwd_connect(struct tl_ev_loop *loop, void *arg);
/* Drops the connection (logs why at level, unless why is NULL); the window's frames wait
 * again, the protocol forgets its session. */
void fwd_disconnect(struct fwd *f, enum tl_log_level level, const char *why);
/* fwd_disconnect, then a reconnect after the backoff. */
void fwd_conn_lost(struct fwd *f, enum tl_log_level level, const char *why);
/* A connection has proved itself once it stayed up for reconnect_min. */
bool fwd_conn_proved(const struct fwd *f);
/* Read and write interest as the connection and the protocol need. */
void fwd_update_interest(struct fwd *f);
/* Writes len bytes from p: TL_OK (*n written), TL_AGAIN (the socket is full), TL_E_IO (the
 * connection is gone: disconnected, reconnect scheduled). */
enum tl_rc fwd_conn_write(struct fwd *f, const uint8_t *p, size_t len, size_t *n);
/* Reads until the stream is empty, handing what arrives to on_data (NULL: discarded; false
 * from it: stop, the connection was dropped); EOF and errors drop the connection. */
void fwd_conn_read(struct fwd *f, bool (*on_data)(struct fwd *f, const uint8_t *p, size_t n));
/* After a TLS reload, on the output's thread: re-check the current server. */
void fwd_conn_recheck(struct fwd *f);

/* fwd_window.c: the window's glue. */
/* Forgets the first n frames: the receiver has them (acked), or the kernel (UDP), or they
 * were given up. */
void fwd_release(struct fwd *f, size_t n, bool acked);
/* Bytes of the window wait for the transport (a wants_write for stream and datagram). */
bool fwd_has_unsent(const struct fwd *f);
/* The next n frames were handed to the transport (fwd_window_handed), counted as written. */
void fwd_handed(struct fwd *f, size_t n);
/* After a stream write (f->win.sent moved): marks and counts the frames written, releases
 * what the peer's TCP acknowledged and polls for the rest. */
void fwd_after_write(struct fwd *f);
/* The connection broke: frames wait again (resends counted); with a spool, they are
 * forgotten and read again from disk. */
void fwd_window_lost(struct fwd *f);
/* Publishes how far the output has settled its queue (pipeline.h). */
void fwd_settle_update(struct fwd *f);
void fwd_ack_poll(struct tl_ev_loop *loop, void *arg);

#endif
