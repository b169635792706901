/*
 * relp.c: the RELP codec and session state machines; see relp.h for the contract.
 *
 * The parser keeps no state between calls besides the stream offset: a frame that is not
 * complete yet is parsed again from its first byte on the next call. That costs at most
 * TL_RELP_HEADER_MAX bytes of re-scanning per call (DATA is never scanned, its end is
 * computed from DATALEN), and it makes every error independent of how TCP cut the stream:
 * the parser stops at the first bad byte whatever the chunking, with the same message.
 *
 * What librelp 1.11 does, and what we do the same way (relpframe.c, relpsess.c, copen.c):
 *   - TXNR and DATALEN are 1-9 digits (leading zeros allowed), COMMAND 1-32 letters, each
 *     followed by exactly one SP; DATALEN 0 is followed directly by the LF;
 *   - a server expects TXNRs 1, 2, 3, ... from a client (TXNR 0 is for hints only) and
 *     tears the session down on anything else, sending the "serverclose" hint;
 *   - the open rsp is "200 OK" LF offers, with commands=syslog; a client whose offers lack
 *     syslog gets "500 required command not supported by client";
 *   - the rsp to close carries no data ("N rsp 0") and is followed by "0 serverclose 0";
 *   - a receiver closes the session on any framing error; RELP has no resync.
 * Where imrelp (rsyslog 8.2302 + librelp 1.11, tried on the wire) is more lenient we are
 * not, and close the session instead: an empty DATALEN ("2 close " LF, which imrelp takes
 * as close), hints sent by a client, syslog before open (imrelp answers "500 command
 * disabled" and carries on) and an oversized frame (imrelp truncates by default).
 */
#include "relp/relp.h"
#include "core/text.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#ifndef TL_VERSION
#define TL_VERSION "0"
#endif

/* The only RELP version there is (librelp's RELP_CURR_PROTOCOL_VERSION). */
#define RELP_VERSION 0
/* librelp's client reads at most 80 bytes of an rsp's human-readable text. */
#define RSP_TEXT_MAX 80

#define OFFERS_BODY                                                                            \
    "relp_version=0\nrelp_software=tlslogd," TL_VERSION "\ncommands=syslog"

static const char client_offers[] = OFFERS_BODY;
static const char open_rsp[] = "200 OK\n" OFFERS_BODY;
static const char ack_rsp[] = "200 OK";

enum {
    SRV_AWAIT_OPEN = 0,
    SRV_OPEN,
    SRV_CLOSING, /* close received; its rsp waits behind pending acks */
    SRV_DONE,    /* close answered */
    SRV_FAILED,  /* protocol error or shutdown */
};

enum {
    CL_INIT = 0,
    CL_OPENING,
    CL_OPEN,
    CL_CLOSING,
    CL_CLOSED, /* close answered, or serverclose received */
    CL_FAILED,
};

/* ---- helpers ----------------------------------------------------------------------- */

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

#define SNIP 16
#define SNIP_TEXT RSP_TEXT_MAX

/* Decimal form of v into buf (at least 10 bytes); returns its length. */
static size_t u32_dec(char *buf, uint32_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}

static bool bytes_eq(const uint8_t *p, size_t n, const char *s)
{
    size_t sl = strlen(s);
    return n == sl && memcmp(p, s, sl) == 0;
}

uint32_t tl_relp_txnr_next(uint32_t t)
{
    return t >= TL_RELP_TXNR_MAX ? 1 : t + 1;
}

/* ---- parser ------------------------------------------------------------------------ */

void tl_relp_parser_init(struct tl_relp_parser *p, size_t max_data)
{
    p->max_data = max_data;
    p->consumed = 0;
    p->failed = false;
}

/* One frame at data[0]; on OK, *used is its length. Errors name absolute stream offsets. */
static enum tl_rc parse(const struct tl_relp_parser *p, const uint8_t *data, size_t len,
                        struct tl_relp_frame *fr, size_t *used, struct tl_err *err)
{
    unsigned long long base = p->consumed;
    char seen[SNIP * 4 + 4];
    size_t i = 0;
    size_t n = 0;
    uint32_t txnr = 0;
    uint64_t datalen = 0;
    uint8_t c;

    /* TXNR = 1*9DIGIT, SP */
    for (;;) {
        if (i == len) {
            return TL_AGAIN;
        }
        c = data[i];
        if (is_digit(c)) {
            if (n == 9) {
                tl_quote_bytes(seen, data, i + 1, SNIP);
                TL_FAIL(err, TL_E_PROTO, NULL,
                        "invalid RELP TXNR '%s' at stream offset %llu: more than 9 digits", seen,
                        base);
            }
            txnr = txnr * 10 + (uint32_t)(c - '0');
            n++;
            i++;
            continue;
        }
        if (c == ' ' && n > 0) {
            i++;
            break;
        }
        tl_quote_bytes(seen, &c, 1, SNIP);
        TL_FAIL(err, TL_E_PROTO, NULL,
                "invalid RELP frame at stream offset %llu: expected %s, got '%s'%s", base + i,
                n == 0 ? "a TXNR digit" : "SP after the TXNR", seen,
                n == 0 && base > 0 ? " after the previous frame" : "");
    }

    /* COMMAND = 1*32ALPHA, SP */
    size_t cstart = i;
    n = 0;
    for (;;) {
        if (i == len) {
            return TL_AGAIN;
        }
        c = data[i];
        if (is_alpha(c)) {
            if (n == TL_RELP_CMD_MAX) {
                tl_quote_bytes(seen, data + cstart, i + 1 - cstart, SNIP);
                TL_FAIL(err, TL_E_PROTO, NULL,
                        "invalid RELP command '%s' at stream offset %llu: longer than 32 letters",
                        seen, base + cstart);
            }
            fr->cmd[n++] = (char)c;
            i++;
            continue;
        }
        if (c == ' ' && n > 0) {
            fr->cmd[n] = '\0';
            i++;
            break;
        }
        tl_quote_bytes(seen, data + cstart, i + 1 - cstart, SNIP);
        TL_FAIL(err, TL_E_PROTO, NULL,
                "invalid RELP command '%s' at stream offset %llu: must be 1-32 ASCII letters "
                "followed by SP",
                seen, base + cstart);
    }

    /* DATALEN = 1*9DIGIT, then LF (DATALEN 0) or SP DATA LF */
    size_t dstart = i;
    n = 0;
    for (;;) {
        if (i == len) {
            return TL_AGAIN;
        }
        c = data[i];
        if (!is_digit(c)) {
            break;
        }
        if (n == 9) {
            tl_quote_bytes(seen, data + dstart, i + 1 - dstart, SNIP);
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "invalid RELP DATALEN '%s' at stream offset %llu: more than 9 digits", seen,
                    base + dstart);
        }
        datalen = datalen * 10 + (uint64_t)(c - '0');
        n++;
        i++;
    }
    tl_quote_bytes(seen, &c, 1, SNIP);
    if (n == 0) {
        TL_FAIL(err, TL_E_PROTO, NULL,
                "invalid RELP frame at stream offset %llu: expected a DATALEN digit, got '%s'",
                base + i, seen);
    }
    if (datalen == 0) {
        if (c != '\n') {
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "invalid RELP frame at stream offset %llu: DATALEN 0 must be followed by "
                    "LF, got '%s'",
                    base + i, seen);
        }
        fr->txnr = txnr;
        fr->data = data + i;
        fr->len = 0;
        *used = i + 1;
        return TL_OK;
    }
    if (c != ' ') {
        TL_FAIL(err, TL_E_PROTO, NULL,
                "invalid RELP frame at stream offset %llu: expected SP before the %llu bytes "
                "of DATA, got '%s'",
                base + i, (unsigned long long)datalen, seen);
    }
    if (datalen > p->max_data) {
        TL_FAIL(err, TL_E_PROTO, "raise max_message_size, RELP cannot truncate",
                "RELP frame of %llu bytes exceeds max_message_size=%zu (frame at stream offset "
                "%llu)",
                (unsigned long long)datalen, p->max_data, base);
    }
    size_t dl = (size_t)datalen;
    size_t start = i + 1;
    /* len - start is safe: start <= len, as data[i] exists. */
    if (len - start < dl + 1) {
        return TL_AGAIN;
    }
    c = data[start + dl];
    if (c != '\n') {
        tl_quote_bytes(seen, &c, 1, SNIP);
        TL_FAIL(err, TL_E_PROTO, NULL,
                "RELP frame not terminated by LF after DATA at stream offset %llu (got '%s'; "
                "frame at stream offset %llu, DATALEN %zu)",
                base + start + dl, seen, base, dl);
    }
    fr->txnr = txnr;
    fr->data = data + start;
    fr->len = dl;
    *used = start + dl + 1;
    return TL_OK;
}

enum tl_rc tl_relp_next(struct tl_relp_parser *p, const uint8_t *data, size_t len,
                        struct tl_relp_frame *fr, size_t *used, struct tl_err *err)
{
    *used = 0;
    if (p->failed) {
        TL_FAIL(err, TL_E_PROTO, NULL, "RELP stream already failed at an earlier error");
    }
    enum tl_rc rc = parse(p, data, len, fr, used, err);
    if (rc == TL_E_PROTO) {
        p->failed = true;
        *used = 0;
        return rc;
    }
    if (rc == TL_AGAIN) {
        *used = 0;
        return rc;
    }
    assert(*used > 0 && *used <= len);
    p->consumed += *used;
    return rc;
}

enum tl_rc tl_relp_finish(struct tl_relp_parser *p, size_t len, struct tl_err *err)
{
    if (p->failed) {
        TL_FAIL(err, TL_E_PROTO, NULL, "RELP stream already failed at an earlier error");
    }
    if (len == 0) {
        return TL_OK;
    }
    p->failed = true;
    TL_FAIL(err, TL_E_PROTO, NULL,
            "connection closed inside a RELP frame: %zu bytes of it received (frame at stream "
            "offset %llu)",
            len, (unsigned long long)p->consumed);
}

/* ---- encoder ----------------------------------------------------------------------- */

bool tl_relp_encode(struct tl_buf *out, uint32_t txnr, const char *cmd, const void *data,
                    size_t len)
{
    char tx[10];
    char dl[10];
    size_t cl = 0;

    if (txnr > TL_RELP_TXNR_MAX || len > TL_RELP_DATALEN_MAX || cmd == NULL) {
        return false;
    }
    while (cmd[cl] != '\0') {
        if (cl == TL_RELP_CMD_MAX || !is_alpha((uint8_t)cmd[cl])) {
            return false;
        }
        cl++;
    }
    if (cl == 0 || (len > 0 && data == NULL)) {
        return false;
    }
    size_t txl = u32_dec(tx, txnr);
    size_t dll = u32_dec(dl, (uint32_t)len);
    size_t total = txl + 1 + cl + 1 + dll + (len > 0 ? 1 + len : 0) + 1;
    if (!tl_buf_reserve(out, total)) {
        return false;
    }
    /* Room is reserved: none of these appends can fail. */
    uint8_t *w = out->data + out->len;
    memcpy(w, tx, txl);
    w += txl;
    *w++ = ' ';
    memcpy(w, cmd, cl);
    w += cl;
    *w++ = ' ';
    memcpy(w, dl, dll);
    w += dll;
    if (len > 0) {
        *w++ = ' ';
        memcpy(w, data, len);
        w += len;
    }
    *w++ = '\n';
    assert((size_t)(w - (out->data + out->len)) == total);
    out->len += total;
    return true;
}

/* ---- offers and rsp data ----------------------------------------------------------- */

struct offers {
    bool has_version;
    bool version_ok; /* 1-9 digits */
    uint32_t version;
    bool has_syslog;
};

/* Offers: lines "name[=value[,value...]]" separated by LF (librelp offers.c). */
static void scan_offers(const uint8_t *p, size_t n, struct offers *o)
{
    size_t i = 0;

    memset(o, 0, sizeof(*o));
    while (i < n) {
        const uint8_t *lf = memchr(p + i, '\n', n - i);
        size_t eol = lf != NULL ? (size_t)(lf - p) : n;
        const uint8_t *eq = memchr(p + i, '=', eol - i);
        size_t name_end = eq != NULL ? (size_t)(eq - p) : eol;
        const uint8_t *name = p + i;
        size_t name_len = name_end - i;
        size_t v = name_end < eol ? name_end + 1 : eol;

        if (bytes_eq(name, name_len, "relp_version")) {
            const uint8_t *comma = memchr(p + v, ',', eol - v);
            size_t vend = comma != NULL ? (size_t)(comma - p) : eol;
            o->has_version = true;
            o->version_ok = vend > v && vend - v <= 9;
            o->version = 0;
            for (size_t k = v; k < vend && o->version_ok; k++) {
                if (!is_digit(p[k])) {
                    o->version_ok = false;
                } else {
                    o->version = o->version * 10 + (uint32_t)(p[k] - '0');
                }
            }
        } else if (bytes_eq(name, name_len, "commands")) {
            while (v < eol) {
                const uint8_t *comma = memchr(p + v, ',', eol - v);
                size_t vend = comma != NULL ? (size_t)(comma - p) : eol;
                if (bytes_eq(p + v, vend - v, "syslog")) {
                    o->has_syslog = true;
                }
                v = vend + 1;
            }
        }
        i = eol + 1;
    }
}

struct rsp {
    unsigned code;
    const uint8_t *text; /* human-readable text, up to the first LF */
    size_t text_len;
    const uint8_t *rest; /* after that LF: command data (the open rsp's offers) */
    size_t rest_len;
};

/* rsp DATA = 3DIGIT [SP text] [LF data]. False when it does not start with a code. */
static bool parse_rsp(const uint8_t *d, size_t n, struct rsp *r)
{
    if (n < 3 || !is_digit(d[0]) || !is_digit(d[1]) || !is_digit(d[2])) {
        return false;
    }
    r->code = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 + (unsigned)(d[2] - '0');
    size_t i = 3;
    if (i < n && d[i] == ' ') {
        i++;
    } else if (i < n && d[i] != '\n') {
        return false;
    }
    const uint8_t *lf = i < n ? memchr(d + i, '\n', n - i) : NULL;
    size_t eol = lf != NULL ? (size_t)(lf - d) : n;
    r->text = d + i;
    r->text_len = eol - i;
    r->rest = eol < n ? d + eol + 1 : d + n;
    r->rest_len = eol < n ? n - eol - 1 : 0;
    return true;
}

/* ---- server ------------------------------------------------------------------------ */

void tl_relp_server_init(struct tl_relp_server *srv, size_t max_pending)
{
    srv->state = SRV_AWAIT_OPEN;
    srv->expect = 1;
    srv->oldest = 0;
    srv->pending = 0;
    /* Pending TXNRs must stay distinct modulo the wrap. */
    if (max_pending == 0 || max_pending > TL_RELP_TXNR_MAX / 2) {
        max_pending = TL_RELP_DEFAULT_MAX_PENDING;
    }
    srv->max_pending = max_pending;
    srv->close_txnr = 0;
}

static bool put_rsp(struct tl_buf *out, uint32_t txnr, const char *text)
{
    return tl_relp_encode(out, txnr, "rsp", text, strlen(text));
}

static bool put_serverclose(struct tl_buf *out)
{
    return tl_relp_encode(out, 0, "serverclose", NULL, 0);
}

/*
 * The rsp to close carries no data, and librelp follows it with the serverclose hint as it
 * tears the session down; we do the same. All or nothing.
 */
static bool put_close_rsp(struct tl_buf *out, uint32_t txnr)
{
    size_t mark = out->len;
    if (!put_rsp(out, txnr, "") || !put_serverclose(out)) {
        out->len = mark;
        return false;
    }
    return true;
}

/*
 * A protocol error: like librelp, answer the offending command with a 500 when that keeps
 * the answers in order (nothing pending before it), then hint serverclose; both best
 * effort, as the caller closes the connection anyway.
 */
static enum tl_rc srv_reject(struct tl_relp_server *srv, uint32_t txnr, const char *rsp500,
                                  struct tl_buf *out)
{
    if (rsp500 != NULL && txnr != 0 && srv->pending == 0) {
        (void)put_rsp(out, txnr, rsp500);
    }
    (void)put_serverclose(out);
    srv->state = SRV_FAILED;
    return TL_E_PROTO;
}

static enum tl_rc srv_open(struct tl_relp_server *srv, const struct tl_relp_frame *fr,
                           struct tl_buf *out, struct tl_relp_event *ev, struct tl_err *err)
{
    struct offers o;
    char seen[SNIP_TEXT * 4 + 4];

    if (srv->state != SRV_AWAIT_OPEN) {
        TL_ERR(err, TL_E_PROTO, NULL, "RELP client sent a second open (TXNR %u) on an open session",
               fr->txnr);
        return srv_reject(srv, fr->txnr, "500 protocol error: connection already open", out);
    }
    scan_offers(fr->data, fr->len, &o);
    if (o.has_version && !o.version_ok) {
        tl_quote_bytes(seen, fr->data, fr->len, SNIP_TEXT);
        TL_ERR(err, TL_E_PROTO, NULL, "RELP client's open has an invalid relp_version offer: '%s'",
               seen);
        return srv_reject(srv, fr->txnr, "500 invalid relp_version offer", out);
    }
    if (!o.has_syslog) {
        tl_quote_bytes(seen, fr->data, fr->len, SNIP_TEXT);
        TL_ERR(err, TL_E_PROTO, NULL,
               "RELP client does not offer the syslog command (offers: '%s'); session refused",
               seen);
        return srv_reject(srv, fr->txnr, "500 required command not supported by client", out);
    }
    /* We answer with relp_version=0 whatever the client offers: there is no other version,
     * and librelp's server answers min(client's, its own) = 0 too. */
    if (!put_rsp(out, fr->txnr, open_rsp)) {
        TL_ERR(err, TL_E_PROTO, NULL, "RELP output buffer full while answering open");
        srv->state = SRV_FAILED;
        return TL_E_PROTO;
    }
    srv->state = SRV_OPEN;
    ev->type = TL_RELP_EV_OPEN;
    ev->data = fr->len > 0 ? fr->data : NULL;
    ev->len = fr->len;
    return TL_OK;
}

enum tl_rc tl_relp_server_frame(struct tl_relp_server *srv, const struct tl_relp_frame *fr,
                                struct tl_buf *out, struct tl_relp_event *ev, struct tl_err *err)
{
    ev->type = TL_RELP_EV_NONE;
    ev->txnr = fr->txnr;
    ev->data = NULL;
    ev->len = 0;

    if (srv->state == SRV_FAILED) {
        TL_FAIL(err, TL_E_PROTO, NULL, "RELP session already ended");
    }
    if (srv->state == SRV_CLOSING || srv->state == SRV_DONE) {
        TL_ERR(err, TL_E_PROTO, NULL, "RELP client sent '%s' (TXNR %u) after close", fr->cmd,
               fr->txnr);
        return srv_reject(srv, 0, NULL, out);
    }
    if (fr->txnr == 0) {
        TL_ERR(err, TL_E_PROTO, NULL,
               "RELP client sent the hint '%s' (TXNR 0); only servers send hints", fr->cmd);
        return srv_reject(srv, 0, NULL, out);
    }
    if (fr->txnr != srv->expect) {
        TL_ERR(err, TL_E_PROTO, NULL, "RELP client sent '%s' with TXNR %u, expected TXNR %u",
               fr->cmd, fr->txnr, srv->expect);
        return srv_reject(srv, 0, NULL, out);
    }
    srv->expect = tl_relp_txnr_next(srv->expect);

    if (strcmp(fr->cmd, "syslog") == 0) {
        if (srv->state != SRV_OPEN) {
            TL_ERR(err, TL_E_PROTO, NULL, "RELP client sent syslog (TXNR %u) before open",
                   fr->txnr);
            return srv_reject(srv, fr->txnr, "500 command disabled: session not open", out);
        }
        if (srv->pending >= srv->max_pending) {
            TL_ERR(err, TL_E_PROTO, "lower the sender's window size",
                   "RELP client has more than %zu messages unacknowledged", srv->max_pending);
            return srv_reject(srv, fr->txnr, NULL, out);
        }
        if (srv->pending == 0) {
            srv->oldest = fr->txnr;
        }
        srv->pending++;
        ev->type = TL_RELP_EV_SYSLOG;
        ev->data = fr->len > 0 ? fr->data : NULL;
        ev->len = fr->len;
        return TL_OK;
    }
    if (strcmp(fr->cmd, "open") == 0) {
        return srv_open(srv, fr, out, ev, err);
    }
    if (strcmp(fr->cmd, "close") == 0) {
        ev->type = TL_RELP_EV_CLOSE;
        if (srv->pending > 0) {
            srv->state = SRV_CLOSING;
            srv->close_txnr = fr->txnr;
            return TL_OK;
        }
        if (!put_close_rsp(out, fr->txnr)) {
            TL_ERR(err, TL_E_PROTO, NULL, "RELP output buffer full while answering close");
            srv->state = SRV_FAILED;
            return TL_E_PROTO;
        }
        srv->state = SRV_DONE;
        return TL_OK;
    }
    TL_ERR(err, TL_E_PROTO, NULL, "RELP client sent the unexpected command '%s' (TXNR %u)", fr->cmd,
           fr->txnr);
    return srv_reject(srv, fr->txnr, "500 unknown command", out);
}

/* Answers the oldest pending syslog; then, if the client is closing, its close too. */
static bool srv_answer(struct tl_relp_server *srv, uint32_t txnr, const char *text,
                       struct tl_buf *out)
{
    if ((srv->state != SRV_OPEN && srv->state != SRV_CLOSING) || srv->pending == 0 ||
        txnr != srv->oldest) {
        return false;
    }
    size_t mark = out->len;
    if (!put_rsp(out, txnr, text)) {
        return false;
    }
    if (srv->state == SRV_CLOSING && srv->pending == 1) {
        if (!put_close_rsp(out, srv->close_txnr)) {
            out->len = mark;
            return false;
        }
        srv->state = SRV_DONE;
    }
    srv->pending--;
    srv->oldest = tl_relp_txnr_next(srv->oldest);
    return true;
}

bool tl_relp_server_ack(struct tl_relp_server *srv, uint32_t txnr, struct tl_buf *out)
{
    return srv_answer(srv, txnr, ack_rsp, out);
}

bool tl_relp_server_nak(struct tl_relp_server *srv, uint32_t txnr, const char *reason,
                        struct tl_buf *out)
{
    char text[4 + RSP_TEXT_MAX + 1];
    size_t n = 0;

    memcpy(text, "500 ", 4);
    if (reason != NULL) {
        while (n < RSP_TEXT_MAX && reason[n] != '\0' && reason[n] != '\n' && reason[n] != '\r') {
            text[4 + n] = reason[n];
            n++;
        }
    }
    if (n == 0) {
        memcpy(text + 4, "error", 5);
        n = 5;
    }
    text[4 + n] = '\0';
    return srv_answer(srv, txnr, text, out);
}

bool tl_relp_server_shutdown(struct tl_relp_server *srv, struct tl_buf *out)
{
    if (srv->state == SRV_FAILED) {
        return false;
    }
    if (!put_serverclose(out)) {
        return false;
    }
    srv->state = SRV_FAILED;
    return true;
}

size_t tl_relp_server_pending(const struct tl_relp_server *srv)
{
    return srv->pending;
}

bool tl_relp_server_done(const struct tl_relp_server *srv)
{
    return srv->state == SRV_DONE;
}

/* ---- client ------------------------------------------------------------------------ */

void tl_relp_client_init(struct tl_relp_client *cl, size_t window)
{
    cl->state = CL_INIT;
    cl->next = 1;
    cl->oldest = 0;
    cl->outstanding = 0;
    cl->unacked = 0;
    /* Outstanding TXNRs must stay distinct modulo the wrap. */
    if (window == 0 || window > TL_RELP_TXNR_MAX / 2) {
        window = TL_RELP_DEFAULT_WINDOW;
    }
    cl->window = window;
    cl->open_txnr = 0;
    cl->close_txnr = 0;
}

/* Appends a command and books it as waiting for its rsp. */
static bool cl_command(struct tl_relp_client *cl, const char *cmd, const void *data, size_t len,
                       struct tl_buf *out, uint32_t *txnr)
{
    if (!tl_relp_encode(out, cl->next, cmd, data, len)) {
        return false;
    }
    if (cl->outstanding == 0) {
        cl->oldest = cl->next;
    }
    cl->outstanding++;
    *txnr = cl->next;
    cl->next = tl_relp_txnr_next(cl->next);
    return true;
}

bool tl_relp_client_open(struct tl_relp_client *cl, struct tl_buf *out)
{
    if (cl->state != CL_INIT) {
        return false;
    }
    if (!cl_command(cl, "open", client_offers, sizeof(client_offers) - 1, out, &cl->open_txnr)) {
        return false;
    }
    cl->state = CL_OPENING;
    return true;
}

bool tl_relp_client_send(struct tl_relp_client *cl, const void *msg, size_t len,
                         struct tl_buf *out, uint32_t *txnr)
{
    uint32_t t;

    if (!tl_relp_client_can_send(cl)) {
        return false;
    }
    if (!cl_command(cl, "syslog", msg, len, out, &t)) {
        return false;
    }
    cl->unacked++;
    if (txnr != NULL) {
        *txnr = t;
    }
    return true;
}

bool tl_relp_client_close(struct tl_relp_client *cl, struct tl_buf *out)
{
    if (cl->state != CL_OPEN) {
        return false;
    }
    if (!cl_command(cl, "close", NULL, 0, out, &cl->close_txnr)) {
        return false;
    }
    cl->state = CL_CLOSING;
    return true;
}

bool tl_relp_client_is_open(const struct tl_relp_client *cl)
{
    return cl->state == CL_OPEN;
}

bool tl_relp_client_can_send(const struct tl_relp_client *cl)
{
    return cl->state == CL_OPEN && cl->unacked < cl->window;
}

size_t tl_relp_client_unacked(const struct tl_relp_client *cl)
{
    return cl->unacked;
}

static enum tl_rc cl_fail(struct tl_relp_client *cl)
{
    cl->state = CL_FAILED;
    return TL_E_PROTO;
}

/* The rsp to our open: "200 OK" plus offers that must include relp_version=0 and syslog. */
static enum tl_rc cl_opened(struct tl_relp_client *cl, const struct tl_relp_frame *fr,
                            struct tl_relp_event *ev, struct tl_err *err)
{
    char seen[SNIP_TEXT * 4 + 4];
    struct rsp r;
    struct offers o;

    if (!parse_rsp(fr->data, fr->len, &r) || r.code != 200) {
        tl_quote_bytes(seen, fr->data, fr->len, SNIP_TEXT);
        TL_ERR(err, TL_E_PROTO, NULL, "RELP server refused the session: '%s'", seen);
        return cl_fail(cl);
    }
    scan_offers(r.rest, r.rest_len, &o);
    if (!o.has_version || !o.version_ok || o.version != RELP_VERSION) {
        tl_quote_bytes(seen, r.rest, r.rest_len, SNIP_TEXT);
        TL_ERR(err, TL_E_PROTO, NULL,
               "RELP server's open rsp has no usable relp_version (we speak 0): '%s'", seen);
        return cl_fail(cl);
    }
    if (!o.has_syslog) {
        tl_quote_bytes(seen, r.rest, r.rest_len, SNIP_TEXT);
        TL_ERR(err, TL_E_PROTO, NULL, "RELP server does not offer the syslog command: '%s'", seen);
        return cl_fail(cl);
    }
    cl->state = CL_OPEN;
    ev->type = TL_RELP_EV_OPENED;
    ev->data = r.rest_len > 0 ? r.rest : NULL;
    ev->len = r.rest_len;
    return TL_OK;
}

enum tl_rc tl_relp_client_handle(struct tl_relp_client *cl, const struct tl_relp_frame *fr,
                                 struct tl_relp_event *ev, struct tl_err *err)
{
    char seen[SNIP_TEXT * 4 + 4];
    struct rsp r;

    ev->type = TL_RELP_EV_NONE;
    ev->txnr = fr->txnr;
    ev->data = NULL;
    ev->len = 0;

    if (cl->state == CL_CLOSED && cl->close_txnr != 0 && cl->outstanding == 0 &&
        strcmp(fr->cmd, "serverclose") == 0 && fr->txnr == 0) {
        /* librelp's server follows its close rsp with the hint; nothing left to do. */
        ev->type = TL_RELP_EV_SERVERCLOSE;
        return TL_OK;
    }
    if (cl->state == CL_FAILED || cl->state == CL_CLOSED) {
        TL_ERR(err, TL_E_PROTO, NULL, "RELP server sent '%s' (TXNR %u) after the session ended",
               fr->cmd, fr->txnr);
        return cl_fail(cl);
    }
    if (strcmp(fr->cmd, "serverclose") == 0) {
        if (fr->txnr != 0) {
            TL_ERR(err, TL_E_PROTO, NULL,
                   "RELP server sent serverclose with TXNR %u; hints use TXNR 0", fr->txnr);
            return cl_fail(cl);
        }
        cl->state = CL_CLOSED;
        ev->type = TL_RELP_EV_SERVERCLOSE;
        return TL_OK;
    }
    if (strcmp(fr->cmd, "rsp") != 0) {
        TL_ERR(err, TL_E_PROTO, NULL, "RELP server sent the unexpected command '%s' (TXNR %u)",
               fr->cmd, fr->txnr);
        return cl_fail(cl);
    }
    if (cl->outstanding == 0) {
        TL_ERR(err, TL_E_PROTO, NULL,
               "RELP server sent an rsp for TXNR %u, but no command awaits one", fr->txnr);
        return cl_fail(cl);
    }
    if (fr->txnr != cl->oldest) {
        TL_ERR(err, TL_E_PROTO, NULL,
               "RELP server sent an rsp for TXNR %u out of order: the oldest command waiting "
               "for one is TXNR %u",
               fr->txnr, cl->oldest);
        return cl_fail(cl);
    }
    cl->outstanding--;
    cl->oldest = tl_relp_txnr_next(cl->oldest);

    if (cl->state == CL_OPENING && fr->txnr == cl->open_txnr) {
        return cl_opened(cl, fr, ev, err);
    }
    if (cl->state == CL_CLOSING && fr->txnr == cl->close_txnr) {
        /* librelp answers close with empty data; accept any answer, we are leaving. */
        cl->state = CL_CLOSED;
        ev->type = TL_RELP_EV_CLOSED;
        return TL_OK;
    }
    /* Everything else outstanding is a syslog frame. */
    assert(cl->unacked > 0);
    cl->unacked--;
    if (!parse_rsp(fr->data, fr->len, &r)) {
        tl_quote_bytes(seen, fr->data, fr->len, SNIP_TEXT);
        TL_ERR(err, TL_E_PROTO, NULL, "RELP server sent a malformed rsp for TXNR %u: '%s'",
               fr->txnr, seen);
        return cl_fail(cl);
    }
    if (r.code == 200) {
        ev->type = TL_RELP_EV_ACKED;
        return TL_OK;
    }
    ev->type = TL_RELP_EV_NAKED;
    /* The whole answer, code included: "500 reason". */
    ev->data = fr->data;
    ev->len = r.text_len + (size_t)(r.text - fr->data);
    return TL_OK;
}
