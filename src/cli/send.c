/*
 * send.c: `tlslog send`, a logger that speaks syslog over TLS (RFC 5425), TCP (RFC 6587) and
 * UDP (RFC 5426).
 *
 * It uses the daemon's own pieces, so that what it sends and how it fails match tlslogd's
 * forward output: tl_tls_ctx_new and the TLS stream (verification, and the plain-words
 * reason of a failure), tl_format (RFC 5424 / RFC 3164 as forwarded), and the framers.
 *
 * One connection, one thread, non-blocking I/O driven by poll(2) with deadlines: the socket
 * is watched for reading all the time, so a server that closes or rejects us is noticed at
 * once, and TLS records the server sends (session tickets, alerts) are consumed. Messages
 * are framed into one buffer and written in large batches (many frames per TLS record).
 *
 * Success means every byte was written and, for TCP and TLS, the connection was closed in
 * order: our close_notify (TLS) or FIN, then the server's close or EOF, which it sends only
 * after it has read everything before it. With RELP (relp/relp.h: client session, window of
 * unacknowledged messages) it means every message was acknowledged with "rsp 200", and the
 * session was closed.
 */
#include "cli/send.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "conf/conf.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/msg.h"
#include "frame/frame.h"
#include "parse/format.h"
#include "relp/relp.h"
#include "transport/stream.h"
#include "transport/tls.h"
#include "transport/tls_verify.h"

#define PROG "tlslog send"
#define FILL_BYTES (256 * 1024)      /* frames buffered before writing */
#define LINE_MAX_BYTES (1024 * 1024) /* a longer stdin line is cut into pieces of this size */
#define READ_CHUNK 65536
#define TAG_MAX 48                   /* RFC 5424 §6.2.5 APP-NAME */
#define RATE_MAX 1000000UL
#define COUNT_MAX 1000000000UL
#define DEFAULT_TIMEOUT_MS 10000
#define UDP_REFUSAL_WAIT_MS 50       /* how long an ICMP refusal of the last datagram is awaited */

static const char usage_text[] =
    "usage: tlslog send --server HOST:PORT [options] [MESSAGE ...]\n"
    "\n"
    "Sends syslog messages, like logger(1), over TLS (RFC 5425, the default), RELP (plain\n"
    "or over TLS; every message acknowledged), TCP or UDP.\n"
    "Each MESSAGE argument is one message; without any, each line of stdin is one message.\n"
    "Exit status 0 only when every message was written (for RELP: acknowledged) and the\n"
    "connection closed in order (over TLS: after waiting a moment for a refusal of our\n"
    "certificate, which TLS 1.3 servers send after our side of the handshake).\n"
    "\n"
    "connection:\n"
    "  --server HOST:PORT      the receiver (port default: 6514 for tls, 2514 for relp, 514\n"
    "                          otherwise)\n"
    "  --transport T           tls (default), tcp, udp, or relp (acknowledged; over TLS\n"
    "                          when any TLS option below is given, as in tlslogd's config)\n"
    "  --timeout SECONDS       bound on connecting, the handshake, a stalled write and the\n"
    "                          close (default 10; also 500ms, 1m)\n"
    "TLS (RFC 5425 §5):\n"
    "  --ca FILE               the CA that issued the server's certificate (\"system\": the\n"
    "                          system trust store)\n"
    "  --cert FILE --key FILE  our client certificate (chain) and key, for mutual\n"
    "                          authentication\n"
    "  --auth MODE             how the server is checked: name (default: the certificate\n"
    "                          carries HOST, or a --peer name), certvalid (any certificate\n"
    "                          of the CA), fingerprint (--fingerprint), anon (not checked)\n"
    "  --peer NAME             a name the server's certificate may carry (repeatable;\n"
    "                          default HOST)\n"
    "  --fingerprint FP        SHA256:AB:CD:... of the server's certificate (repeatable;\n"
    "                          implies --auth fingerprint)\n"
    "message:\n"
    "  --framing F             octet-counted (default on tls) or lf (default on tcp)\n"
    "  --format F              rfc5424 (default) or rfc3164\n"
    "  --priority FAC.SEV      facility and severity, default user.notice\n"
    "  --tag TAG               APP-NAME / TAG, default tlslog\n"
    "  --hostname NAME         HOSTNAME field, default this host's name\n"
    "  --count N               send the one MESSAGE N times, suffixed \" seq=1\" .. \" seq=N\"\n"
    "  --rate N                at most N messages per second\n";

enum {
    OPT_SERVER = 256,
    OPT_TRANSPORT,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_AUTH,
    OPT_PEER,
    OPT_FINGERPRINT,
    OPT_FRAMING,
    OPT_FORMAT,
    OPT_PRIORITY,
    OPT_TAG,
    OPT_HOSTNAME,
    OPT_COUNT,
    OPT_RATE,
    OPT_TIMEOUT,
};

static const struct option long_options[] = {
    { "server", required_argument, NULL, OPT_SERVER },
    { "transport", required_argument, NULL, OPT_TRANSPORT },
    { "ca", required_argument, NULL, OPT_CA },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "auth", required_argument, NULL, OPT_AUTH },
    { "peer", required_argument, NULL, OPT_PEER },
    { "fingerprint", required_argument, NULL, OPT_FINGERPRINT },
    { "framing", required_argument, NULL, OPT_FRAMING },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "priority", required_argument, NULL, OPT_PRIORITY },
    { "tag", required_argument, NULL, OPT_TAG },
    { "hostname", required_argument, NULL, OPT_HOSTNAME },
    { "count", required_argument, NULL, OPT_COUNT },
    { "rate", required_argument, NULL, OPT_RATE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

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

/* ---- options ------------------------------------------------------------------------------ */

static bool parse_transport(const char *v, enum tl_transport *t)
{
    if (strcmp(v, "tls") == 0) {
        *t = TL_TR_TLS;
    } else if (strcmp(v, "tcp") == 0) {
        *t = TL_TR_TCP;
    } else if (strcmp(v, "udp") == 0) {
        *t = TL_TR_UDP;
    } else if (strcmp(v, "relp") == 0) {
        *t = TL_TR_RELP;
    } else {
        return false;
    }
    return true;
}

static bool parse_auth(const char *v, enum tl_auth_mode *a)
{
    static const struct {
        const char *name;
        enum tl_auth_mode mode;
    } modes[] = {
        { "anon", TL_AUTH_ANON },
        { "certvalid", TL_AUTH_CERTVALID },
        { "name", TL_AUTH_NAME },
        { "fingerprint", TL_AUTH_FINGERPRINT },
    };
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(v, modes[i].name) == 0) {
            *a = modes[i].mode;
            return true;
        }
    }
    return false;
}

static bool parse_priority(const char *v, unsigned *fac, unsigned *sev)
{
    const char *dot = strchr(v, '.');
    char fname[32];
    if (dot == NULL || (size_t)(dot - v) >= sizeof(fname)) {
        return false;
    }
    memcpy(fname, v, (size_t)(dot - v));
    fname[dot - v] = '\0';
    int f = tl_facility_from_name(fname);
    int s = tl_severity_from_name(dot + 1);
    if (f < 0 || s < 0) {
        return false;
    }
    *fac = (unsigned)f;
    *sev = (unsigned)s;
    return true;
}

/* Printable ASCII without spaces: what RFC 5424 header fields may hold (§6). */
static bool header_text_ok(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 33 || v[i] > 126) {
            return false;
        }
    }
    return true;
}

static int take_option(struct opts *o, int c, char *v)
{
    unsigned long n;
    char why[200];
    switch (c) {
    case OPT_SERVER:
        o->server = v;
        return -1;
    case OPT_TRANSPORT:
        if (!parse_transport(v, &o->transport)) {
            return tl_cli_usage_error(PROG, "--transport '%s': use tls, tcp, udp or relp", v);
        }
        return -1;
    case OPT_CA:
        o->ca = v;
        return -1;
    case OPT_CERT:
        o->cert = v;
        return -1;
    case OPT_KEY:
        o->key = v;
        return -1;
    case OPT_AUTH:
        if (!parse_auth(v, &o->auth)) {
            return tl_cli_usage_error(PROG, "--auth '%s': use name, certvalid, fingerprint or "
                                            "anon", v);
        }
        return -1;
    case OPT_PEER:
        if (!tl_name_pattern_check(v, why, sizeof(why))) {
            return tl_cli_usage_error(PROG, "--peer %s", why);
        }
        o->peers[o->n_peers++] = v;
        return -1;
    case OPT_FINGERPRINT: {
        struct tl_fingerprint fp;
        if (!tl_fingerprint_parse(v, &fp, why, sizeof(why))) {
            return tl_cli_usage_error(PROG, "--fingerprint '%s': %s", v, why);
        }
        o->fps[o->n_fps++] = v;
        return -1;
    }
    case OPT_FRAMING:
        o->framing = tl_framing_from_name(v);
        if (o->framing != TL_FRAMING_OCTET && o->framing != TL_FRAMING_LF) {
            return tl_cli_usage_error(PROG, "--framing '%s': use octet-counted or lf", v);
        }
        return -1;
    case OPT_FORMAT: {
        int f = tl_format_from_name(v);
        if (f != TL_FMT_RFC5424 && f != TL_FMT_RFC3164) {
            return tl_cli_usage_error(PROG, "--format '%s': use rfc5424 or rfc3164", v);
        }
        o->format = (enum tl_format)f;
        return -1;
    }
    case OPT_PRIORITY:
        if (!parse_priority(v, &o->facility, &o->severity)) {
            return tl_cli_usage_error(PROG, "--priority '%s': write FACILITY.SEVERITY, e.g. "
                                            "local0.err or user.notice", v);
        }
        return -1;
    case OPT_TAG:
        if (!header_text_ok(v, TAG_MAX)) {
            return tl_cli_usage_error(PROG, "--tag '%s': 1 to %d printable ASCII characters "
                                            "without spaces (RFC 5424 APP-NAME)", v, TAG_MAX);
        }
        o->tag = v;
        return -1;
    case OPT_HOSTNAME:
        if (!header_text_ok(v, 255)) {
            return tl_cli_usage_error(PROG, "--hostname '%s': 1 to 255 printable ASCII "
                                            "characters without spaces", v);
        }
        o->hostname = v;
        return -1;
    case OPT_COUNT:
        if (!tl_cli_parse_ulong(v, 1, COUNT_MAX, &n)) {
            return tl_cli_usage_error(PROG, "--count '%s': a number from 1 to %lu", v,
                                      COUNT_MAX);
        }
        o->count = n;
        return -1;
    case OPT_RATE:
        if (!tl_cli_parse_ulong(v, 1, RATE_MAX, &n)) {
            return tl_cli_usage_error(PROG, "--rate '%s': messages per second, 1 to %lu", v,
                                      RATE_MAX);
        }
        o->rate = n;
        return -1;
    case OPT_TIMEOUT:
        if (!tl_cli_parse_timeout(v, &o->timeout_ms)) {
            return tl_cli_usage_error(PROG, "--timeout '%s': seconds (or 500ms, 1m), at most "
                                            "1h", v);
        }
        return -1;
    default:
        return tl_cli_usage_error(PROG, "unexpected option");
    }
}

/* Checks the options together and fills in the defaults. */
static int check_opts(struct opts *o)
{
    bool tls_opts = o->ca || o->cert || o->key || o->auth != TL_AUTH_DEFAULT || o->n_peers ||
                    o->n_fps;
    bool is_tls = o->transport == TL_TR_TLS || (o->transport == TL_TR_RELP && tls_opts);
    o->use_tls = is_tls;
    if (o->server == NULL) {
        return tl_cli_usage_error(PROG, "give --server HOST:PORT");
    }
    if (!is_tls && tls_opts) {
        return tl_cli_usage_error(PROG, "--ca, --cert, --key, --auth, --peer and --fingerprint "
                                        "apply to --transport tls (and relp) only");
    }
    if ((o->transport == TL_TR_UDP || o->transport == TL_TR_RELP) && o->framing >= 0) {
        return tl_cli_usage_error(PROG, "--framing does not apply to %s (%s)",
                                  o->transport == TL_TR_UDP ? "udp" : "relp",
                                  o->transport == TL_TR_UDP ? "one message per datagram"
                                                            : "RELP frames each message");
    }
    if (o->framing < 0) {
        o->framing = is_tls ? TL_FRAMING_OCTET : TL_FRAMING_LF;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        return tl_cli_usage_error(PROG, "--cert and --key go together");
    }
    if (is_tls && o->auth == TL_AUTH_DEFAULT) {
        o->auth = o->n_fps ? TL_AUTH_FINGERPRINT : TL_AUTH_NAME;
    }
    if ((o->auth == TL_AUTH_NAME || o->auth == TL_AUTH_CERTVALID) && o->ca == NULL) {
        return tl_cli_usage_error(PROG, "give --ca FILE (the CA that issued the server's "
                                        "certificate), or --auth anon");
    }
    if (o->auth == TL_AUTH_FINGERPRINT && o->n_fps == 0) {
        return tl_cli_usage_error(PROG, "--auth fingerprint needs --fingerprint SHA256:... (the "
                                        "server's, as 'tlslog probe' prints it)");
    }
    if (o->n_fps && o->auth != TL_AUTH_FINGERPRINT) {
        return tl_cli_usage_error(PROG, "--fingerprint is used with --auth fingerprint only");
    }
    if (o->n_peers && o->auth != TL_AUTH_NAME) {
        return tl_cli_usage_error(PROG, "--peer is used with --auth name only");
    }
    if (o->count && o->n_msgs != 1) {
        return tl_cli_usage_error(PROG, "--count repeats one MESSAGE: give exactly one");
    }
    if (o->hostname == NULL) {
        if (gethostname(o->host_buf, sizeof(o->host_buf) - 1) != 0) {
            o->host_buf[0] = '\0';
        }
        o->host_buf[sizeof(o->host_buf) - 1] = '\0';
        o->hostname = o->host_buf;
    }
    return -1;
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
    int c;
    /* Every repeatable option takes a value, so argc bounds how many there can be. */
    o->peers = calloc((size_t)argc, sizeof(*o->peers));
    o->fps = calloc((size_t)argc, sizeof(*o->fps));
    if (o->peers == NULL || o->fps == NULL) {
        return tl_cli_fail("out of memory");
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return TL_CLI_OK;
        }
        if (c == '?' || c == ':') {
            return tl_cli_getopt_error(PROG, c, argv);
        }
        int rc = take_option(o, c, optarg);
        if (rc >= 0) {
            return rc;
        }
    }
    o->msgs = argv + optind;
    o->n_msgs = (size_t)(argc - optind);
    return check_opts(o);
}

/* ---- messages ----------------------------------------------------------------------------- */

/* UTC offset of local time in minutes, looked up once per second. */
static int local_offset(struct sender *x, int64_t sec)
{
    if (sec != x->tz_sec) {
        struct tm tm;
        time_t t = (time_t)sec;
        x->tz_off = localtime_r(&t, &tm) != NULL ? (int)(tm.tm_gmtoff / 60) : 0;
        x->tz_sec = sec;
    }
    return x->tz_off;
}

/* Formats one message into x->one as it goes on the wire (no framing). */
static bool format_message(struct sender *x, const char *text, size_t len)
{
    const struct opts *o = x->o;
    size_t hlen = strlen(o->hostname);
    size_t tlen = strlen(o->tag);
    struct tl_msg *m = tl_msg_new_extra(text, len, hlen + tlen);
    if (m == NULL) {
        return false;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m->proto = TL_PROTO_RFC5424;
    m->flags = TL_MSG_HAS_PRI | TL_MSG_HAS_TS | TL_MSG_TS_HAS_TZ | TL_MSG_HAS_HOST;
    m->facility = (uint8_t)o->facility;
    m->severity = (uint8_t)o->severity;
    m->ts_sec = now.tv_sec;
    m->ts_usec = (uint32_t)(now.tv_nsec / 1000);
    m->ts_frac_digits = 6;
    m->ts_tzoff = (int16_t)local_offset(x, now.tv_sec);
    m->recv_sec = now.tv_sec;
    m->recv_usec = m->ts_usec;
    m->msg.off = 0;
    m->msg.len = (uint32_t)len;
    m->hostname = tl_msg_add(m, o->hostname, hlen);
    m->app_name = tl_msg_add(m, o->tag, tlen);
    tl_buf_reset(&x->one);
    bool ok = tl_format(m, o->format, false, &x->one);
    tl_msg_unref(m);
    return ok;
}

/* The next line of stdin (without its LF, and a CR before it); false when none is complete. */
static bool next_line(struct source *src, const char **p, size_t *len)
{
    for (;;) {
        size_t avail = src->in.len - src->in_off;
        if (avail == 0) {
            return false;
        }
        const char *start = (const char *)src->in.data + src->in_off;
        const char *lf = memchr(start, '\n', avail);
        size_t n;
        size_t skip;
        if (lf != NULL) {
            n = (size_t)(lf - start);
            skip = n + 1;
        } else if (avail >= LINE_MAX_BYTES || src->in_eof) {
            n = avail < LINE_MAX_BYTES ? avail : LINE_MAX_BYTES;
            skip = n;
        } else {
            return false;
        }
        src->in_off += skip;
        if (n > 0 && start[n - 1] == '\r') {
            n--;
        }
        if (n == 0) {
            continue; /* empty lines carry nothing */
        }
        *p = start;
        *len = n;
        return true;
    }
}

/* Reads what stdin has; false with errno on a read error. */
static bool read_stdin(struct source *src)
{
    if (src->in_off > 0 && src->in_off * 2 >= src->in.len) {
        tl_buf_consume(&src->in, src->in_off);
        src->in_off = 0;
    }
    if (!tl_buf_reserve(&src->in, READ_CHUNK)) {
        errno = ENOMEM;
        return false;
    }
    for (;;) {
        ssize_t r = read(STDIN_FILENO, src->in.data + src->in.len, READ_CHUNK);
        if (r > 0) {
            src->in.len += (size_t)r;
            return true;
        }
        if (r == 0) {
            src->in_eof = true;
            return true;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return true;
        }
        return false;
    }
}

/* The next message of the source, formatted into x->one. *wake: when SRC_WAIT_RATE is due. */
static enum src_state next_message(struct sender *x, int64_t *wake, bool *failed)
{
    struct source *src = &x->src;
    const char *p = NULL;
    size_t len = 0;
    *failed = false;
    if (x->o->rate) {
        int64_t due = x->rate_start + (int64_t)(x->n_formatted * 1000 / x->o->rate);
        if (tl_now_ms() < due) {
            *wake = due;
            return SRC_WAIT_RATE;
        }
    }
    if (src->count) {
        if (src->seq >= src->count) {
            return SRC_END;
        }
        src->seq++;
        tl_buf_reset(&src->text);
        if (!tl_buf_puts(&src->text, src->msgs[0]) ||
            !tl_buf_printf(&src->text, " seq=%lu", src->seq)) {
            *failed = true;
            return SRC_END;
        }
        p = (const char *)src->text.data;
        len = src->text.len;
    } else if (!src->from_stdin) {
        if (src->next >= src->n_msgs) {
            return SRC_END;
        }
        p = src->msgs[src->next++];
        len = strlen(p);
    } else if (!next_line(src, &p, &len)) {
        return src->in_eof ? SRC_END : SRC_NEED_INPUT;
    }
    if (!format_message(x, p, len)) {
        *failed = true;
        return SRC_END;
    }
    x->n_formatted++;
    return SRC_OK;
}

/* ---- failures ----------------------------------------------------------------------------- */

static int fail_connect(const struct sender *x, const char *why)
{
    fprintf(stderr, "%s: cannot connect to %s: %s\n", PROG, x->target.text, why);
    return TL_CLI_FAIL;
}

/* A server that rejects our certificate does so after our side of a TLS 1.3 handshake has
 * finished: the alert comes with the first read. */
static bool rejected_us(const struct sender *x)
{
    if (x->s == NULL || !tl_stream_is_tls(x->s)) {
        return false;
    }
    switch (tl_stream_tls_fail_reason(x->s)) {
    case TL_HS_PEER_REJECTED_OUR_CERTIFICATE:
    case TL_HS_CLIENT_CERTIFICATE_REQUIRED:
    case TL_HS_HANDSHAKE_FAILURE_ALERT:
    case TL_HS_PEER_INTERNAL_ERROR:
    case TL_HS_CLOSED_AFTER_HANDSHAKE:
        return true;
    default:
        return false;
    }
}

/* A failure once connected; a rejection of our certificate is still "cannot connect". */
static int fail_stream(const struct sender *x, const char *why)
{
    if (rejected_us(x)) {
        return fail_connect(x, why);
    }
    fprintf(stderr, "%s: connection to %s failed after %llu of %llu messages were %s: %s\n",
            PROG, x->target.text, (unsigned long long)x->n_written,
            (unsigned long long)x->n_formatted,
            x->o->transport == TL_TR_RELP ? "acknowledged" : "written", why);
    return TL_CLI_FAIL;
}

/*
 * The server closed (rc TL_EOF) or failed the connection (TL_E_IO) before our close.
 * Over TLS and soon after the handshake, a close or reset without an alert is how a server
 * that checks our certificate after the handshake (rsyslog) refuses it: say so.
 */
static int fail_closed(struct sender *x, enum tl_rc rc)
{
    if (tl_stream_is_tls(x->s)) {
        bool young = tl_now_ms() < x->hs_done_ms + x->settle_ms + 1000;
        bool reset = rc == TL_E_IO &&
                     tl_stream_tls_fail_reason(x->s) == TL_HS_IO_ERROR;
        if (young && (rc == TL_EOF || reset)) {
            return fail_connect(x, tl_stream_tls_early_close(x->s));
        }
    }
    if (rc == TL_EOF) {
        return fail_stream(x, "the server closed the connection");
    }
    return fail_stream(x, x->s->err);
}

static int fail_oom(void)
{
    fprintf(stderr, "%s: out of memory\n", PROG);
    return TL_CLI_FAIL;
}

static int fail_stdin(void)
{
    fprintf(stderr, "%s: cannot read stdin: %s\n", PROG, strerror(errno));
    return TL_CLI_FAIL;
}

/* ---- stream transports (tcp, tls) ------------------------------------------------------- */

static short poll_events(unsigned wants)
{
    short ev = 0;
    if (wants & TL_WANT_READ) {
        ev |= POLLIN;
    }
    if (wants & TL_WANT_WRITE) {
        ev |= POLLOUT;
    }
    return ev ? ev : POLLIN;
}

/* Waits until the stream (for reading, and for what a blocked write needs) or, with
 * want_input, stdin is ready, or until deadline. Fills p[0] (stream) and p[1] (stdin);
 * returns poll's result. Reads always go on until AGAIN: what OpenSSL still holds then is
 * a partial record, which needs the socket anyway (so tl_stream_pending is not consulted). */
static int wait_stream(const struct sender *x, struct pollfd p[2], bool blocked,
                       bool want_input, int64_t deadline)
{
    nfds_t nfds = 1;
    p[0].fd = x->s->fd;
    p[0].events = POLLIN;
    p[0].revents = 0;
    if (blocked) {
        p[0].events |= poll_events(tl_stream_wants(x->s));
    }
    p[1].revents = 0;
    if (want_input) {
        p[1].fd = STDIN_FILENO;
        p[1].events = POLLIN;
        nfds = 2;
    }
    return poll(p, nfds, tl_cli_ms_left(deadline));
}

/* The TLS context from the options: files are checked before anything is sent. */
static struct tl_tls_ctx *make_ctx(const struct opts *o)
{
    const struct {
        const char *opt;
        const char *path;
    } files[] = { { "--ca", o->ca }, { "--cert", o->cert }, { "--key", o->key } };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *f = files[i].path;
        if (f != NULL && !(i == 0 && strcmp(f, "system") == 0) && access(f, R_OK) != 0) {
            fprintf(stderr, "%s: cannot read %s %s: %s\n", PROG, files[i].opt, f,
                    strerror(errno));
            return NULL;
        }
    }
    struct tl_conf_tls c;
    char err[1024];
    memset(&c, 0, sizeof(c));
    c.ca_file = o->ca;
    c.cert_file = o->cert;
    c.key_file = o->key;
    c.auth = o->auth;
    c.min_version = 12;
    c.permitted_peers = o->peers;
    c.n_permitted_peers = o->n_peers;
    c.fingerprints = o->fps;
    c.n_fingerprints = o->n_fps;
    struct tl_tls_ctx *ctx = tl_tls_ctx_new(&c, TL_TLS_CLIENT, PROG, err, sizeof(err));
    if (ctx == NULL) {
        fprintf(stderr, "%s\n", err);
    } else {
        tl_tls_ctx_set_cert_keys(ctx, "--cert and --key");
    }
    return ctx;
}

static int open_stream(struct sender *x)
{
    const struct opts *o = x->o;
    struct tl_tls_ctx *ctx = NULL;
    if (o->use_tls && (ctx = make_ctx(o)) == NULL) {
        return TL_CLI_FAIL;
    }
    int64_t deadline = tl_now_ms() + o->timeout_ms;
    struct tl_addr peer;
    int sys_err = 0;
    char why[512];
    int fd = tl_cli_connect(&x->target, SOCK_STREAM, deadline, &peer, &sys_err, why,
                            sizeof(why));
    if (fd < 0) {
        tl_tls_ctx_unref(ctx);
        return fail_connect(x, why);
    }
    if (ctx == NULL) {
        x->s = tl_stream_tcp_new(fd, &peer);
        return x->s != NULL ? TL_CLI_OK : fail_oom();
    }
    char err[1024];
    x->s = tl_stream_tls_new(fd, &peer, ctx, TL_TLS_CLIENT, x->target.host, err, sizeof(err));
    tl_tls_ctx_unref(ctx);
    if (x->s == NULL) {
        return fail_connect(x, err);
    }
    int64_t hs_start = tl_now_ms();
    deadline = hs_start + o->timeout_ms;
    bool answered = false;
    for (;;) {
        enum tl_rc rc = tl_stream_handshake(x->s);
        if (rc == TL_OK) {
            /* The server's verdict on our certificate may still come (TLS 1.3): it is
             * awaited for a few handshake round trips before the send is called a success
             * (close_stream). */
            x->hs_done_ms = tl_now_ms();
            x->settle_ms = 3 * (x->hs_done_ms - hs_start) + 300;
            if (x->settle_ms > o->timeout_ms) {
                x->settle_ms = o->timeout_ms;
            }
            break;
        }
        if (rc == TL_EOF) {
            return fail_connect(x, "the server closed the connection during the TLS handshake "
                                   "(does it speak TLS on this port?)");
        }
        if (rc == TL_E_IO && !answered &&
            tl_stream_tls_fail_reason(x->s) == TL_HS_CLOSED_IN_HANDSHAKE) {
            /* Closed before we saw a byte of TLS from it (OpenSSL may have read the answer
             * first, so this cannot be sure). */
            return fail_connect(x, "the server closed the connection during the TLS handshake "
                                   "(the port may be a plaintext syslog listener, or the server "
                                   "wants a client certificate: 'tlslog probe' tells which)");
        }
        if (rc == TL_E_IO) {
            return fail_connect(x, x->s->err);
        }
        short ev = tl_cli_wait(x->s->fd, poll_events(tl_stream_wants(x->s)), deadline);
        char d[32];
        if (ev == 0) {
            snprintf(why, sizeof(why),
                     answered ? "TLS handshake timed out after %s (the server stopped answering)"
                              : "TLS handshake timed out after %s: no TLS answer (the port may be "
                                "a plaintext syslog listener; 'tlslog probe' tells more)",
                     tl_cli_duration_text(o->timeout_ms, d, sizeof(d)));
            return fail_connect(x, why);
        }
        if (answered || (ev & (POLLIN | POLLHUP | POLLERR)) == 0) {
            continue;
        }
        /* The server's first bytes, before OpenSSL reads them: a plaintext listener that
         * closes on our ClientHello, or answers in plaintext, is named as such. */
        char ex[120];
        switch (tl_cli_peek_tls(x->s->fd, ex, sizeof(ex))) {
        case TL_CLI_ANSWER_CLOSED:
            return fail_connect(x, "the server closed the connection without answering the TLS "
                                   "handshake (the port may be a plaintext syslog listener; "
                                   "'tlslog probe' tells more)");
        case TL_CLI_ANSWER_NOT_TLS:
            snprintf(why, sizeof(why),
                     "the server answered in plaintext, not TLS (\"%s\"): use the receiver's TLS "
                     "port (usually 6514), or --transport tcp", ex);
            return fail_connect(x, why);
        default:
            answered = true;
            break;
        }
    }
    return TL_CLI_OK;
}

/* Appends x->one to the output buffer, framed. */
static bool frame_message(struct sender *x)
{
    bool ok;
    if (x->o->framing == TL_FRAMING_LF) {
        /* LF framing cannot carry an LF inside a message: it would split it (as out_fwd). */
        for (size_t j = 0; j < x->one.len; j++) {
            if (x->one.data[j] == '\n') {
                x->one.data[j] = ' ';
            }
        }
        ok = tl_frame_encode_lf(&x->out, x->one.data, x->one.len);
    } else {
        ok = tl_frame_encode_octet(&x->out, x->one.data, x->one.len);
    }
    if (ok && x->n_ends == x->cap_ends) {
        size_t cap = x->cap_ends ? x->cap_ends * 2 : 1024;
        size_t *e = realloc(x->ends, cap * sizeof(*e));
        if (e == NULL) {
            return false;
        }
        x->ends = e;
        x->cap_ends = cap;
    }
    if (ok) {
        x->ends[x->n_ends++] = x->out.len;
    }
    return ok;
}

/* Counts the frames written completely and drops the written bytes. */
static void trim_written(struct sender *x)
{
    size_t done = 0;
    while (done < x->n_ends && x->ends[done] <= x->sent) {
        done++;
    }
    x->n_written += done;
    if (x->sent == x->out.len) {
        tl_buf_reset(&x->out);
        x->sent = 0;
        x->n_ends = 0;
        return;
    }
    if (x->sent < FILL_BYTES) {
        /* Moving the tail is only worth it once a good part of the buffer is written. */
        memmove(x->ends, x->ends + done, (x->n_ends - done) * sizeof(size_t));
        x->n_ends -= done;
        return;
    }
    size_t bytes = x->sent;
    tl_buf_consume(&x->out, bytes);
    memmove(x->ends, x->ends + done, (x->n_ends - done) * sizeof(size_t));
    x->n_ends -= done;
    for (size_t i = 0; i < x->n_ends; i++) {
        x->ends[i] -= bytes;
    }
    x->sent = 0;
}

/*
 * Reads and discards what the server sends (a syslog receiver sends no data; TLS records such
 * as session tickets and alerts are processed on the way). Returns TL_AGAIN when nothing
 * more is there, TL_EOF or TL_E_IO as the stream says.
 */
static enum tl_rc drain_reads(struct sender *x)
{
    uint8_t scratch[16384];
    for (;;) {
        size_t n = 0;
        enum tl_rc rc = tl_stream_read(x->s, scratch, sizeof(scratch), &n);
        if (rc != TL_OK) {
            return rc;
        }
    }
}

/* Sends close_notify (TLS) or FIN (TCP), then waits for the server's close. */
static int close_stream(struct sender *x)
{
    if (tl_stream_is_tls(x->s)) {
        /* Before our close_notify: a server that refuses us closes on its own, without
         * waiting for ours; after it, its close would look like the answer to ours. */
        int64_t until = x->hs_done_ms + x->settle_ms;
        for (;;) {
            enum tl_rc rc = drain_reads(x);
            if (rc == TL_EOF || rc == TL_E_IO) {
                return rc == TL_E_IO && rejected_us(x) ? fail_connect(x, x->s->err)
                                                           : fail_closed(x, rc);
            }
            if (tl_now_ms() >= until || tl_cli_wait(x->s->fd, POLLIN, until) == 0) {
                break;
            }
        }
    }
    int64_t deadline = tl_now_ms() + x->o->timeout_ms;
    char d[32];
    char why[600];
    for (;;) {
        enum tl_rc rc = tl_stream_shutdown(x->s);
        if (rc != TL_AGAIN) {
            break;
        }
        if (tl_cli_wait(x->s->fd, poll_events(tl_stream_wants(x->s)), deadline) == 0) {
            break;
        }
    }
    for (;;) {
        enum tl_rc rc = drain_reads(x);
        if (rc == TL_EOF) {
            return TL_CLI_OK;
        }
        if (rc == TL_E_IO) {
            if (rejected_us(x)) {
                return fail_connect(x, x->s->err);
            }
            snprintf(why, sizeof(why), "while closing: %s", x->s->err);
            return fail_stream(x, why);
        }
        if (tl_cli_wait(x->s->fd, POLLIN, deadline) == 0) {
            snprintf(why, sizeof(why),
                     "the server did not close the connection within %s after the last message "
                     "(%s), so delivery is not confirmed",
                     tl_cli_duration_text(x->o->timeout_ms, d, sizeof(d)),
                     tl_stream_is_tls(x->s) ? "TLS close_notify sent" : "FIN sent");
            return fail_stream(x, why);
        }
    }
}

static int run_stream(struct sender *x)
{
    int rc = open_stream(x);
    if (rc != TL_CLI_OK) {
        return rc;
    }
    const struct opts *o = x->o;
    int64_t progress = tl_now_ms();
    x->rate_start = tl_now_ms();
    for (;;) {
        enum src_state st = SRC_OK;
        int64_t wake = TL_CLI_NO_DEADLINE;
        bool failed = false;
        while (x->out.len - x->sent < FILL_BYTES) {
            st = next_message(x, &wake, &failed);
            if (failed) {
                return fail_oom();
            }
            if (st != SRC_OK) {
                break;
            }
            if (!frame_message(x)) {
                return fail_oom();
            }
            if (o->rate) {
                break; /* paced: each message goes out when it is due */
            }
        }
        bool blocked = false;
        while (x->sent < x->out.len) {
            size_t n = 0;
            enum tl_rc w = tl_stream_write(x->s, x->out.data + x->sent, x->out.len - x->sent, &n);
            if (w == TL_OK) {
                x->sent += n;
                progress = tl_now_ms();
                continue;
            }
            if (w == TL_AGAIN) {
                blocked = true;
                break;
            }
            if (w == TL_E_IO) {
                /* The reason may be waiting to be read: an alert that rejects us. */
                char werr[sizeof(x->s->err)];
                memcpy(werr, x->s->err, sizeof(werr));
                if (drain_reads(x) == TL_E_IO && rejected_us(x)) {
                    return fail_connect(x, x->s->err);
                }
                return fail_stream(x, werr);
            }
            return fail_stream(x, "the server closed the connection");
        }
        trim_written(x);
        if (st == SRC_END && x->out.len == 0) {
            return close_stream(x);
        }
        if (!blocked && (st == SRC_OK || (st == SRC_WAIT_RATE && wake <= tl_now_ms()))) {
            continue; /* more to take from the source at once */
        }
        int64_t deadline = TL_CLI_NO_DEADLINE;
        if (blocked) {
            deadline = progress + o->timeout_ms;
        } else if (st == SRC_WAIT_RATE) {
            deadline = wake;
        }
        struct pollfd p[2];
        int n = wait_stream(x, p, blocked, st == SRC_NEED_INPUT, deadline);
        if (n < 0 && errno != EINTR) {
            return fail_stream(x, strerror(errno));
        }
        if (blocked && tl_now_ms() >= progress + o->timeout_ms) {
            char d[32];
            char why[200];
            snprintf(why, sizeof(why), "the server took no data for %s (it stopped reading)",
                     tl_cli_duration_text(o->timeout_ms, d, sizeof(d)));
            return fail_stream(x, why);
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
            enum tl_rc r = drain_reads(x);
            if (r == TL_EOF || r == TL_E_IO) {
                return r == TL_E_IO && rejected_us(x) ? fail_connect(x, x->s->err)
                                                          : fail_closed(x, r);
            }
        }
        if (n > 0 && p[1].revents != 0 && !read_stdin(&x->src)) {
            return fail_stdin();
        }
    }
}

/* ---- relp -------------------------------------------------------------------------------- */

struct relp {
    struct tl_relp_client cl;
    struct tl_relp_parser rp;
    bool opened;
    bool close_sent;
    bool closed;                     /* the server answered our close */
    uint64_t acked;
};

/* Parses what the server sent and acts on each rsp; TL_CLI_OK to go on, else the exit status
 * after the failure was reported. */
static int relp_frames(struct sender *x, struct relp *r, int64_t *progress)
{
    char err[300];
    size_t off = 0;
    int rc = -1;
    while (rc < 0 && off < x->in.len) {
        struct tl_relp_frame fr;
        struct tl_relp_event ev;
        size_t used = 0;
        enum tl_rc prc = tl_relp_next(&r->rp, x->in.data + off, x->in.len - off, &fr,
                                           &used, err, sizeof(err));
        off += used;
        if (prc == TL_AGAIN) {
            break;
        }
        if (prc == TL_OK &&
            tl_relp_client_handle(&r->cl, &fr, &ev, err, sizeof(err)) == TL_OK) {
            *progress = tl_now_ms();
            switch (ev.type) {
            case TL_RELP_EV_OPENED:
                r->opened = true;
                break;
            case TL_RELP_EV_ACKED:
                r->acked++;
                x->n_written = r->acked;
                break;
            case TL_RELP_EV_NAKED:
                snprintf(err, sizeof(err), "the server refused message %llu: %.*s",
                         (unsigned long long)r->acked + 1, (int)(ev.len > 200 ? 200 : ev.len),
                         ev.data != NULL ? (const char *)ev.data : "");
                rc = fail_stream(x, err);
                break;
            case TL_RELP_EV_SERVERCLOSE:
                rc = fail_stream(x, "the server ended the RELP session (serverclose) before "
                                    "acknowledging everything");
                break;
            case TL_RELP_EV_CLOSED:
                r->closed = true;
                rc = TL_CLI_OK;
                break;
            default:
                break;
            }
            continue;
        }
        rc = r->opened ? fail_stream(x, err) : fail_connect(x, err);
    }
    tl_buf_consume(&x->in, off);
    return rc < 0 ? TL_CLI_OK : (r->closed ? -2 : rc);
}

/* Reads what the server sent into x->in; TL_AGAIN when nothing more is there. */
static enum tl_rc relp_read(struct sender *x)
{
    for (;;) {
        if (!tl_buf_reserve(&x->in, 16384)) {
            snprintf(x->s->err, sizeof(x->s->err), "out of memory");
            return TL_E_IO;
        }
        size_t n = 0;
        enum tl_rc rc = tl_stream_read(x->s, x->in.data + x->in.len, 16384, &n);
        if (rc != TL_OK) {
            return rc;
        }
        x->in.len += n;
    }
}

static int run_relp(struct sender *x)
{
    int rc = open_stream(x);
    if (rc != TL_CLI_OK) {
        return rc;
    }
    const struct opts *o = x->o;
    struct relp r;
    memset(&r, 0, sizeof(r));
    tl_relp_client_init(&r.cl, 0);
    tl_relp_parser_init(&r.rp, 1024 * 1024);
    if (!tl_relp_client_open(&r.cl, &x->out)) {
        return fail_oom();
    }
    int64_t progress = tl_now_ms();
    bool source_done = false;
    x->rate_start = tl_now_ms();
    for (;;) {
        enum src_state st = SRC_OK;
        int64_t wake = TL_CLI_NO_DEADLINE;
        bool failed = false;
        while (r.opened && !source_done && tl_relp_client_can_send(&r.cl) &&
               x->out.len - x->sent < FILL_BYTES) {
            st = next_message(x, &wake, &failed);
            if (failed) {
                return fail_oom();
            }
            if (st == SRC_END) {
                source_done = true;
                break;
            }
            if (st != SRC_OK) {
                break;
            }
            uint32_t txnr = 0;
            if (!tl_relp_client_send(&r.cl, x->one.data, x->one.len, &x->out, &txnr)) {
                return fail_oom();
            }
            if (o->rate) {
                break;
            }
        }
        if (source_done && !r.close_sent && tl_relp_client_unacked(&r.cl) == 0) {
            if (!tl_relp_client_close(&r.cl, &x->out)) {
                return fail_oom();
            }
            r.close_sent = true;
        }
        bool blocked = false;
        while (x->sent < x->out.len) {
            size_t n = 0;
            enum tl_rc w = tl_stream_write(x->s, x->out.data + x->sent, x->out.len - x->sent, &n);
            if (w == TL_OK) {
                x->sent += n;
                progress = tl_now_ms();
                continue;
            }
            if (w == TL_AGAIN) {
                blocked = true;
                break;
            }
            return fail_stream(x, w == TL_EOF ? "the server closed the connection"
                                                 : x->s->err);
        }
        if (x->sent == x->out.len) {
            tl_buf_reset(&x->out);
            x->sent = 0;
        }
        bool more_now = !blocked && r.opened && !source_done &&
                        tl_relp_client_can_send(&r.cl) &&
                        (st == SRC_OK || (st == SRC_WAIT_RATE && wake <= tl_now_ms()));
        if (more_now) {
            continue;
        }
        /* Waiting for the server (open, acks, close) or a stalled write is bounded; waiting
         * for stdin or the rate is not. */
        bool waiting = blocked || !r.opened || tl_relp_client_unacked(&r.cl) > 0 ||
                       r.close_sent;
        int64_t deadline = waiting ? progress + o->timeout_ms : TL_CLI_NO_DEADLINE;
        if (st == SRC_WAIT_RATE && wake < deadline) {
            deadline = wake;
        }
        struct pollfd p[2];
        int n = wait_stream(x, p, blocked,
                            st == SRC_NEED_INPUT && tl_relp_client_can_send(&r.cl), deadline);
        if (n < 0 && errno != EINTR) {
            return fail_stream(x, strerror(errno));
        }
        if (waiting && tl_now_ms() >= progress + o->timeout_ms) {
            char d[32];
            char why[300];
            snprintf(why, sizeof(why), "no RELP answer from the server for %s (%s)",
                     tl_cli_duration_text(o->timeout_ms, d, sizeof(d)),
                     !r.opened ? "to our open: is it a RELP port?"
                     : r.close_sent ? "to our close" : "acknowledgements stopped");
            return r.opened ? fail_stream(x, why) : fail_connect(x, why);
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
            enum tl_rc rd = relp_read(x);
            int fr = relp_frames(x, &r, &progress);
            if (fr == -2) {
                /* The server answered our close: every message was acknowledged. */
                for (int i = 0; i < 50 && tl_stream_shutdown(x->s) == TL_AGAIN; i++) {
                    tl_cli_wait(x->s->fd, poll_events(tl_stream_wants(x->s)),
                                tl_now_ms() + 20);
                }
                return TL_CLI_OK;
            }
            if (fr != TL_CLI_OK) {
                return fr;
            }
            if (rd == TL_EOF) {
                return r.opened ? fail_stream(x, "the server closed the connection")
                                : fail_connect(x, "the server closed the connection without "
                                                  "answering our RELP open (is it a RELP "
                                                  "port?)");
            }
            if (rd == TL_E_IO) {
                return r.opened ? fail_stream(x, x->s->err) : fail_connect(x, x->s->err);
            }
        }
        if (n > 0 && p[1].revents != 0 && !read_stdin(&x->src)) {
            return fail_stdin();
        }
    }
}

/* ---- udp ---------------------------------------------------------------------------------- */

/* Sends one datagram; returns 0, or an errno with a sentence in why. */
static int send_datagram(struct sender *x, char *why, size_t whylen)
{
    int64_t deadline = tl_now_ms() + x->o->timeout_ms;
    for (;;) {
        ssize_t w = send(x->udp_fd, x->one.data, x->one.len, 0);
        if (w >= 0) {
            x->n_written++;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (tl_cli_wait(x->udp_fd, POLLOUT, deadline) == 0) {
                snprintf(why, whylen, "the socket stayed full for %lld ms",
                         (long long)x->o->timeout_ms);
                return ETIMEDOUT;
            }
            continue;
        }
        int e = errno;
        if (e == ECONNREFUSED) {
            snprintf(why, whylen, "Connection refused: nothing listens on %s (udp: the host "
                                  "answered ICMP port unreachable)", x->target.text);
        } else if (e == EMSGSIZE) {
            snprintf(why, whylen, "a message of %zu bytes does not fit in one UDP datagram "
                                  "(use --transport tcp or tls for long messages)", x->one.len);
        } else {
            snprintf(why, whylen, "%s", strerror(e));
        }
        return e;
    }
}

static int run_udp(struct sender *x)
{
    const struct opts *o = x->o;
    struct tl_addr peer;
    int sys_err = 0;
    char why[512];
    x->udp_fd = tl_cli_connect(&x->target, SOCK_DGRAM, tl_now_ms() + o->timeout_ms, &peer,
                               &sys_err, why, sizeof(why));
    if (x->udp_fd < 0) {
        return fail_connect(x, why);
    }
    x->rate_start = tl_now_ms();
    for (;;) {
        int64_t wake = TL_CLI_NO_DEADLINE;
        bool failed = false;
        enum src_state st = next_message(x, &wake, &failed);
        if (failed) {
            return fail_oom();
        }
        if (st == SRC_OK) {
            int e = send_datagram(x, why, sizeof(why));
            if (e != 0) {
                return e == ECONNREFUSED || x->n_written == 0 ? fail_connect(x, why)
                                                              : fail_stream(x, why);
            }
            continue;
        }
        if (st == SRC_END) {
            break;
        }
        if (st == SRC_WAIT_RATE) {
            struct timespec ts;
            int left = tl_cli_ms_left(wake);
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (long)(left % 1000) * 1000000L;
            nanosleep(&ts, NULL);
            continue;
        }
        /* SRC_NEED_INPUT: stdin may take its time. */
        if (tl_cli_wait(STDIN_FILENO, POLLIN, TL_CLI_NO_DEADLINE) != 0 &&
            !read_stdin(&x->src)) {
            return fail_stdin();
        }
    }
    /* On a connected UDP socket an ICMP port unreachable for an earlier datagram shows up
     * as ECONNREFUSED on the next call: give the last one a moment to be refused. */
    if (x->n_written > 0) {
        uint8_t b[16];
        tl_cli_wait(x->udp_fd, POLLIN, tl_now_ms() + UDP_REFUSAL_WAIT_MS);
        if (recv(x->udp_fd, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED) {
            snprintf(why, sizeof(why), "Connection refused: nothing listens on %s (udp: the "
                                       "host answered ICMP port unreachable)", x->target.text);
            return fail_connect(x, why);
        }
    }
    return TL_CLI_OK;
}

/* ---- main --------------------------------------------------------------------------------- */

int tl_cli_send_main(int argc, char **argv)
{
    struct opts o;
    struct sender x;
    char why[200];

    /* A peer that closes while we write must be an error return (EPIPE), not a signal. */
    signal(SIGPIPE, SIG_IGN);
    memset(&o, 0, sizeof(o));
    o.transport = TL_TR_TLS;
    o.framing = -1;
    o.format = TL_FMT_RFC5424;
    o.facility = 1;
    o.severity = 5;
    o.tag = "tlslog";
    o.timeout_ms = DEFAULT_TIMEOUT_MS;
    int rc = parse_opts(&o, argc, argv);
    memset(&x, 0, sizeof(x));
    x.o = &o;
    x.udp_fd = -1;
    x.tz_sec = INT64_MIN;
    uint16_t default_port = o.transport == TL_TR_TLS ? 6514 : o.transport == TL_TR_RELP ? 2514
                                                                                       : 514;
    if (rc < 0 && !tl_cli_target_parse(o.server, default_port, &x.target, why, sizeof(why))) {
        rc = tl_cli_usage_error(PROG, "--server '%s': %s", o.server, why);
    }
    if (rc >= 0) {
        free(o.peers);
        free(o.fps);
        return rc;
    }
    x.src.msgs = o.msgs;
    x.src.n_msgs = o.n_msgs;
    x.src.count = o.count;
    x.src.from_stdin = o.n_msgs == 0;
    tl_buf_init(&x.src.in, 0);
    tl_buf_init(&x.src.text, 0);
    tl_buf_init(&x.one, 0);
    tl_buf_init(&x.out, 0);

    tl_buf_init(&x.in, 0);

    switch (o.transport) {
    case TL_TR_UDP:
        rc = run_udp(&x);
        break;
    case TL_TR_RELP:
        rc = run_relp(&x);
        break;
    default:
        rc = run_stream(&x);
        break;
    }

    tl_stream_free(x.s);
    if (x.udp_fd >= 0) {
        close(x.udp_fd);
    }
    tl_buf_fini(&x.src.in);
    tl_buf_fini(&x.src.text);
    tl_buf_fini(&x.one);
    tl_buf_fini(&x.out);
    tl_buf_fini(&x.in);
    free(x.ends);
    tl_cli_target_fini(&x.target);
    free(o.peers);
    free(o.fps);
    return rc;
}
