/*
 * send_int.h: what the parts of `tlslog send` share: the options (send_opts.c), the messages,
 * the stream and UDP transports (send.c) and RELP (send_relp.c). Private to src/cli.
 */
#ifndef TL_CLI_SEND_INT_H
#define TL_CLI_SEND_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/cli_common.h"
#include "conf/conf.h"
#include "core/buf.h"
#include "parse/format.h"
#include "transport/stream.h"

#define PROG "tlslog send"
#define FILL_BYTES (256 * 1024)      /* frames buffered before writing */
#define LINE_MAX_BYTES (1024 * 1024) /* a longer stdin line is cut into pieces of this size */
#define READ_CHUNK 65536
#define TAG_MAX 48                   /* RFC 5424 §6.2.5 APP-NAME */
#define RATE_MAX 1000000UL
#define COUNT_MAX 1000000000UL
#define DEFAULT_TIMEOUT_MS 10000
#define UDP_REFUSAL_WAIT_MS 50       /* how long an ICMP refusal of the last datagram is awaited */

struct opts {
    char *server;
    enum tl_transport transport;
    bool use_tls;                    /* tls, or relp with TLS options */
    char *ca;
    char *cert;
    char *key;
    enum tl_auth_mode auth;          /* TL_AUTH_DEFAULT until given */
    char **peers;                    /* argv strings; the array is ours */
    size_t n_peers;
    char **fps;
    size_t n_fps;
    int framing;                     /* -1 until given */
    enum tl_format format;
    unsigned facility;
    unsigned severity;
    const char *tag;
    const char *hostname;
    char host_buf[256];
    unsigned long count;             /* 0: not given */
    unsigned long rate;              /* 0: unlimited */
    int64_t timeout_ms;
    char **msgs;                     /* the MESSAGE operands */
    size_t n_msgs;
};

/* Where messages come from: the operands, one operand repeated, or stdin lines. */
struct source {
    char **msgs;
    size_t n_msgs;
    size_t next;
    unsigned long count;             /* count mode: msgs[0] count times */
    unsigned long seq;
    bool from_stdin;
    struct tl_buf in;                /* stdin bytes not yet taken as messages */
    size_t in_off;
    bool in_eof;
    struct tl_buf text;              /* scratch for count mode */
};

enum src_state {
    SRC_OK,          /* x->one holds the next message, formatted */
    SRC_NEED_INPUT,  /* stdin has no complete line yet */
    SRC_WAIT_RATE,   /* --rate: the next message is due later */
    SRC_END,         /* nothing more to send */
};

struct sender {
    const struct opts *o;
    struct tl_cli_target target;
    struct source src;
    struct tl_stream *s;             /* tcp and tls */
    int udp_fd;
    struct tl_buf one;               /* one formatted message */
    struct tl_buf out;               /* framed messages; out[sent..len) not yet written */
    size_t sent;
    size_t *ends;                    /* end offset in out of each buffered frame */
    size_t n_ends;
    size_t cap_ends;
    uint64_t n_formatted;
    uint64_t n_written;              /* messages whose last byte was written */
    int64_t rate_start;
    struct tl_buf in;                /* relp: bytes from the server not yet parsed */
    int64_t tz_sec;                  /* cache for the local UTC offset */
    int tz_off;
    int64_t hs_done_ms;              /* tls: when our side of the handshake finished */
    int64_t settle_ms;               /* tls: how long after it a refusal is awaited */
};

/* Options (send_opts.c): fills o from argv; -1 to go on, else the exit status (after --help
 * or a usage error, already said). */
int tl_send_parse_opts(struct opts *o, int argc, char **argv);

/* send.c, for send_relp.c. */
enum src_state tl_send_next_message(struct sender *x, int64_t *wake, bool *failed);
bool tl_send_read_stdin(struct source *src);
int tl_send_fail_connect(const struct sender *x, const char *why);
/* Writes x->out past x->sent: TL_OK (all of it), TL_AGAIN (the stream is full), else the
 * stream's failure; *progress: when bytes last went out. */
enum tl_rc tl_send_flush(struct sender *x, int64_t *progress);
int tl_send_fail_stream(const struct sender *x, const char *why);
int tl_send_fail_oom(void);
int tl_send_fail_stdin(void);
short tl_send_poll_events(unsigned wants);
int tl_send_wait_stream(const struct sender *x, struct pollfd p[2], bool blocked,
                        bool want_input, int64_t deadline);
int tl_send_open_stream(struct sender *x);

/* send_relp.c */
int tl_send_run_relp(struct sender *x);

#endif
