/*
 * cli_common.h: what `tlslog send` and `tlslog probe` share: the HOST:PORT they talk to, a
 * bounded TCP (or UDP) connect that explains its failure in plain words, and waiting for a
 * socket with a deadline.
 *
 * Every wait here is bounded by a deadline on CLOCK_MONOTONIC (tl_now_ms, in milliseconds;
 * TL_CLI_NO_DEADLINE waits for ever) and sleeps in poll(2): no busy loop. Single-threaded.
 */
#ifndef TL_CLI_CLI_COMMON_H
#define TL_CLI_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/msg.h"

#define TL_CLI_NO_DEADLINE INT64_MAX
/* Longest "HOST:PORT" text kept for messages (a DNS name has at most 253 bytes). */
#define TL_CLI_TARGET_STRLEN 300

struct tl_cli_target {
    char *host;                        /* malloc'd: a name or an address, no brackets */
    uint16_t port;
    char text[TL_CLI_TARGET_STRLEN];   /* "host:port", "[2001:db8::1]:port" */
};

/*
 * Parses "HOST:PORT", "[V6]:PORT" or "HOST" (then default_port). Returns TL_E_CONFIG with a
 * sentence in err for an empty host, a bad port, or a missing port when default_port is 0.
 * Free with tl_cli_target_fini.
 */
enum tl_rc tl_cli_target_parse(const char *text, uint16_t default_port,
                               struct tl_cli_target *t, struct tl_err *err);
void tl_cli_target_fini(struct tl_cli_target *t);

/* "--timeout": "5" (seconds), "2.5s" is not accepted, "500ms", "1m"; 1 ms .. 1 hour. */
bool tl_cli_parse_timeout(const char *text, int64_t *ms);

/*
 * Resolves t->host and connects a non-blocking socket of socktype (SOCK_STREAM: waits for the
 * TCP handshake; SOCK_DGRAM: connect(2) only fixes the destination) to each address in turn,
 * until one works or deadline passes. Returns the fd (non-blocking, close-on-exec) and fills
 * *peer; or -1 with a sentence in err: TL_E_IO with the cause in sys_errno, ECONNREFUSED
 * ("Connection refused: nothing listens on HOST:PORT"), ETIMEDOUT (the deadline) or another
 * errno; TL_E_CONFIG (sys_errno 0) when the name does not resolve.
 */
int tl_cli_connect(const struct tl_cli_target *t, int socktype, int64_t deadline,
                   struct tl_addr *peer, struct tl_err *err);

/*
 * Waits until fd has one of the poll(2) events (POLLIN, POLLOUT) or deadline passes.
 * Returns the revents seen (POLLERR and POLLHUP included), 0 at the deadline. EINTR restarts.
 */
short tl_cli_wait(int fd, short events, int64_t deadline);

/* Milliseconds left until deadline, clamped to [0, INT32_MAX]; -1 for TL_CLI_NO_DEADLINE. */
int tl_cli_ms_left(int64_t deadline);

/* What a server answered to our TLS ClientHello, looked at before OpenSSL reads it. */
enum tl_cli_answer {
    TL_CLI_ANSWER_TLS = 0,   /* a TLS record: content type 20..23, version major 3 */
    TL_CLI_ANSWER_CLOSED,    /* EOF or a reset before any byte */
    TL_CLI_ANSWER_NOT_TLS,   /* bytes that are not TLS; a printable excerpt is in `excerpt` */
    TL_CLI_ANSWER_ERROR,     /* recv failed: errno */
};

/* True when b[0..n) can start a TLS record. */
static inline bool tl_cli_looks_tls(const unsigned char *b, size_t n)
{
    return n > 0 && b[0] >= 20 && b[0] <= 23 && (n < 2 || b[1] == 3);
}

/* Writes bytes a peer sent as printable text ("\x16" for others); always NUL-terminates. */
void tl_cli_excerpt(const unsigned char *b, size_t n, char *out, size_t cap);

/* Peeks (MSG_PEEK, nothing is consumed) at the first bytes fd has to read; call it once fd
 * is readable. `excerpt` (may be NULL) gets the bytes for TL_CLI_ANSWER_NOT_TLS. */
enum tl_cli_answer tl_cli_peek_tls(int fd, char *excerpt, size_t cap);

/* "5 s", "500 ms": a duration for messages. */
const char *tl_cli_duration_text(int64_t ms, char *out, size_t cap);

#endif
