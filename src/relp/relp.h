/*
 * relp.h: RELP (the Reliable Event Logging Protocol of rsyslog/librelp) without any I/O.
 *
 * Three pieces, all pure state machines over caller-owned bytes, one instance per
 * connection, not thread-safe:
 *
 *   - the codec: tl_relp_next() cuts a byte stream into frames, zero-copy like
 *     frame/frame.h (a frame points into the caller's buffer), and tl_relp_encode()
 *     appends one frame to a tl_buf;
 *   - the server session (what imrelp does): fed the frames a client sent, it answers
 *     open/close itself and hands each syslog message to the caller, who acknowledges it
 *     later (after queueing it) with tl_relp_server_ack();
 *   - the client session (what omrelp does): open, send within a window of unacknowledged
 *     messages, and turn the server's rsp frames into ACKED/NAKED events.
 *
 * The sessions never touch a socket: they append the bytes to send to an out buffer, and
 * the caller writes that buffer out.
 *
 * Wire format (librelp doc/relp.md, checked against librelp 1.11 / rsyslog 8.2302):
 *
 *   FRAME   = TXNR SP COMMAND SP DATALEN [SP DATA] LF    ; SP DATA only when DATALEN > 0
 *   TXNR    = 1*9DIGIT    ; 1..999999999, then wraps to 1; 0 only for hints (serverclose)
 *   COMMAND = 1*32ALPHA   ; open, syslog, close, rsp, serverclose
 *   DATALEN = 1*9DIGIT    ; bytes of DATA
 *
 *   rsp DATA = 3DIGIT [SP text] [LF cmddata]   ; 200 = OK, anything else is an error
 *   open DATA and the open rsp's cmddata = offers, one per line: name[=value[,value...]]
 *
 * A client numbers its commands 1, 2, 3, ... with no gaps (librelp's server enforces it,
 * and so does this one); the server answers each with an rsp carrying the same TXNR, in
 * the order the commands arrived. RELP never truncates: a frame longer than the receiver's
 * limit breaks the session, and the client resends what was not acknowledged on a new one.
 */
#ifndef TL_RELP_RELP_H
#define TL_RELP_RELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/buf.h"

#define TL_RELP_TXNR_MAX 999999999u
#define TL_RELP_DATALEN_MAX 999999999u
#define TL_RELP_CMD_MAX 32
/* Header bytes before DATA: 9 + SP + 32 + SP + 9 + SP. */
#define TL_RELP_HEADER_MAX 53
/* A parser with max_data M never needs more than M + TL_RELP_OVERHEAD unconsumed bytes. */
#define TL_RELP_OVERHEAD (TL_RELP_HEADER_MAX + 1)
/* omrelp's windowSize in tests/e2e; librelp's own default is 128. */
#define TL_RELP_DEFAULT_WINDOW 1024
/* A server refuses a client that keeps more syslog frames unacknowledged than this. */
#define TL_RELP_DEFAULT_MAX_PENDING 1000000

/* Results (core/err.h): TL_OK: done, *fr or *ev is filled; TL_AGAIN: need more bytes, keep
 * data[*used..len), append, call again; TL_E_PROTO: the session is broken, err says why:
 * flush out, then close. */

/* ---- codec ------------------------------------------------------------------------- */

struct tl_relp_frame {
    uint32_t txnr;
    char cmd[TL_RELP_CMD_MAX + 1]; /* NUL-terminated ASCII letters */
    const uint8_t *data;           /* points into the caller's bytes; never NULL */
    size_t len;                    /* DATALEN, <= max_data */
};

struct tl_relp_parser {
    size_t max_data;   /* largest DATALEN accepted (max_message_size) */
    uint64_t consumed; /* bytes consumed so far, for the offsets in error messages */
    bool failed;       /* an ERROR was returned; every later call fails too */
};

void tl_relp_parser_init(struct tl_relp_parser *p, size_t max_data);

/*
 * Finds the next frame in data[0..len). *used is always set: the bytes the caller may drop.
 * TL_OK: *fr holds a frame whose data points into data[] (valid until the caller
 *   drops or moves those bytes).
 * TL_AGAIN: keep data[*used..len) (*used is 0), append more, call again.
 * TL_E_PROTO: err (may be NULL) names the problem and its stream offset, e.g.
 *   "RELP frame of 70000 bytes exceeds max_message_size=65536 (frame at stream offset 12)".
 * Nothing is skipped between frames: a stray byte (even an LF) is an error, as in librelp.
 */
enum tl_rc tl_relp_next(struct tl_relp_parser *p, const uint8_t *data, size_t len,
                        struct tl_relp_frame *fr, size_t *used, struct tl_err *err);

/*
 * At end of stream with len bytes left over: TL_OK when nothing is left (a clean
 * end between frames), else TL_E_PROTO naming the partial frame.
 */
enum tl_rc tl_relp_finish(struct tl_relp_parser *p, size_t len, struct tl_err *err);

/*
 * Appends one frame. Returns false, with out unchanged, when txnr > TL_RELP_TXNR_MAX,
 * cmd is not 1-32 ASCII letters, len > TL_RELP_DATALEN_MAX, or out is full.
 */
bool tl_relp_encode(struct tl_buf *out, uint32_t txnr, const char *cmd, const void *data,
                    size_t len);

/* The TXNR after t: 1, 2, ..., 999999999, 1, ... */
uint32_t tl_relp_txnr_next(uint32_t t);

/* ---- sessions ---------------------------------------------------------------------- */

enum tl_relp_ev {
    TL_RELP_EV_NONE = 0,
    /* server side */
    TL_RELP_EV_OPEN,   /* session opened (rsp already in out); data = the client's offers */
    TL_RELP_EV_SYSLOG, /* a message (data, len); answer txnr later with _ack or _nak */
    TL_RELP_EV_CLOSE,  /* the client closes: flush out and close once _server_done() */
    /* client side */
    TL_RELP_EV_OPENED,      /* the server accepted; data = its offers */
    TL_RELP_EV_ACKED,       /* message txnr was accepted ("200 OK") */
    TL_RELP_EV_NAKED,       /* message txnr was refused; data = the server's text */
    TL_RELP_EV_CLOSED,      /* the server answered close: the caller closes */
    TL_RELP_EV_SERVERCLOSE, /* the server is going away: unacknowledged messages were not
                               taken; resend them on a new session. Also reported for the
                               hint librelp sends right after its close rsp (harmless). */
};

struct tl_relp_event {
    enum tl_relp_ev type;
    uint32_t txnr;
    const uint8_t *data; /* points into the frame's data; NULL when len is 0 */
    size_t len;
};

/*
 * Server session. Answers go out in the order the commands came in: the caller acks (or
 * naks) its SYSLOG events oldest first, and the rsp to close waits behind the last of them.
 * On a protocol error the session appends what librelp would send (a "500" rsp when one
 * can be sent in order, then the "0 serverclose 0" hint) and fails for good.
 */
struct tl_relp_server {
    int state;          /* internal */
    uint32_t expect;    /* TXNR the client must use next */
    uint32_t oldest;    /* oldest unanswered syslog TXNR (when pending > 0) */
    size_t pending;     /* syslog frames not yet acked or naked */
    size_t max_pending; /* limit on pending */
    uint32_t close_txnr;
};

/* max_pending 0 means TL_RELP_DEFAULT_MAX_PENDING. */
void tl_relp_server_init(struct tl_relp_server *srv, size_t max_pending);

/*
 * Handles one frame from the client; may append to out. TL_OK with *ev set (OPEN,
 * SYSLOG or CLOSE), or TL_E_PROTO with err set (protocol error, or out is full).
 */
enum tl_rc tl_relp_server_frame(struct tl_relp_server *srv, const struct tl_relp_frame *fr,
                                struct tl_buf *out, struct tl_relp_event *ev, struct tl_err *err);

/*
 * Appends "TXNR rsp 6 200 OK" (ack) or "TXNR rsp N 500 reason" (nak; the reason is cut at
 * a line end and at 80 bytes). txnr must be the oldest unanswered syslog; returns false
 * (nothing appended) when it is not, or when out is full. After the last answer to a
 * closing client, the close rsp (and the serverclose hint librelp sends after it) follow.
 */
bool tl_relp_server_ack(struct tl_relp_server *srv, uint32_t txnr, struct tl_buf *out);
bool tl_relp_server_nak(struct tl_relp_server *srv, uint32_t txnr, const char *reason,
                        struct tl_buf *out);

/* Appends the "0 serverclose 0" hint; the session then accepts nothing more. */
bool tl_relp_server_shutdown(struct tl_relp_server *srv, struct tl_buf *out);

/* Syslog frames received and not yet answered. */
size_t tl_relp_server_pending(const struct tl_relp_server *srv);
/* True once the client's close has been answered: flush out, then close. */
bool tl_relp_server_done(const struct tl_relp_server *srv);

/*
 * Client session. Commands are numbered from 1; the server must answer them in order, so
 * ACKED/NAKED events come in send order and the caller can keep sent messages in a FIFO.
 */
struct tl_relp_client {
    int state;          /* internal */
    uint32_t next;      /* TXNR of the next command */
    uint32_t oldest;    /* oldest command without an rsp (when outstanding > 0) */
    size_t outstanding; /* commands without an rsp: open, syslog, close */
    size_t unacked;     /* syslog frames among them */
    size_t window;      /* limit on unacked */
    uint32_t open_txnr;
    uint32_t close_txnr;
};

/* window 0 means TL_RELP_DEFAULT_WINDOW. */
void tl_relp_client_init(struct tl_relp_client *cl, size_t window);

/* Appends the open command with our offers. Only once, first. */
bool tl_relp_client_open(struct tl_relp_client *cl, struct tl_buf *out);

/*
 * Handles one frame from the server (rsp or serverclose). TL_OK with *ev set, or
 * TL_E_PROTO with err set: an rsp for a TXNR that is not the oldest outstanding command,
 * a refused open (err quotes the server's text), an unknown command, ...
 */
enum tl_rc tl_relp_client_handle(struct tl_relp_client *cl, const struct tl_relp_frame *fr,
                                 struct tl_relp_event *ev, struct tl_err *err);

/*
 * Appends a syslog frame and sets *txnr. Returns false (nothing appended) unless the
 * session is open, the window has room and out has room.
 */
bool tl_relp_client_send(struct tl_relp_client *cl, const void *msg, size_t len,
                         struct tl_buf *out, uint32_t *txnr);

/* Appends the close command; nothing may be sent after it. Wait for CLOSED. */
bool tl_relp_client_close(struct tl_relp_client *cl, struct tl_buf *out);

bool tl_relp_client_is_open(const struct tl_relp_client *cl);
/* Open and the window has room. */
bool tl_relp_client_can_send(const struct tl_relp_client *cl);
/* Syslog frames sent and not yet answered. */
size_t tl_relp_client_unacked(const struct tl_relp_client *cl);

#endif
