/*
 * fuzz_relp.c: libFuzzer target for the RELP parser and the two session state machines.
 *
 * Input: byte 0 picks the role (bit 0: server or client session) and the seed of the read
 * sizes (the rest), byte 1 picks max_data (0..31, or 64..1084), the rest is the stream the
 * peer sent. The stream goes through a read buffer of max_data + TL_RELP_OVERHEAD bytes as
 * a connection would, twice: in reads of pseudo-random size, and in reads that fill the
 * buffer. Every frame is handed to the session (server: acks every other pending message
 * at once, the rest when the next frame arrives; client: opens first and sends whenever
 * the window allows). Checked: the parser's invariants (frames inside the buffer, DATALEN
 * <= max_data, progress within max_data + overhead), that both runs give the same frames,
 * session events and output bytes, and that whatever the session sends parses cleanly.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relp/relp.h"
#include "fuzz_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
    uint64_t hash; /* FNV-1a over frames, events and the session's output */
    size_t nframes;
    bool error;
};

/* What a session sends must be well-formed RELP: parse it all with a fresh parser. */
static void check_output(const struct tl_buf *out, size_t from)
{
    struct tl_relp_parser p;
    struct tl_relp_frame fr;
    size_t used;
    size_t off = from;

    tl_relp_parser_init(&p, TL_RELP_DATALEN_MAX);
    while (off < out->len) {
        enum tl_rc rc = tl_relp_next(&p, out->data + off, out->len - off, &fr, &used, NULL);
        CHECK(rc == TL_OK);
        CHECK(strcmp(fr.cmd, "rsp") == 0 || strcmp(fr.cmd, "serverclose") == 0 ||
              strcmp(fr.cmd, "open") == 0 || strcmp(fr.cmd, "syslog") == 0 ||
              strcmp(fr.cmd, "close") == 0);
        off += used;
    }
}

struct session {
    bool server;
    bool dead;
    struct tl_relp_server srv;
    struct tl_relp_client cl;
    struct tl_buf out;
    uint32_t pending[64];
    size_t npending;
    size_t nsent;
};

static void session_init(struct session *s, bool server)
{
    memset(s, 0, sizeof(*s));
    s->server = server;
    tl_buf_init(&s->out, 0);
    if (server) {
        tl_relp_server_init(&s->srv, 40);
    } else {
        tl_relp_client_init(&s->cl, 5);
        CHECK(tl_relp_client_open(&s->cl, &s->out));
    }
}

static void ack_some(struct session *s, size_t keep)
{
    size_t k = 0;
    while (s->npending > keep) {
        size_t mark = s->out.len;
        if (k % 3 == 2) {
            CHECK(tl_relp_server_nak(&s->srv, s->pending[0], "fuzz\nnak", &s->out));
        } else {
            CHECK(tl_relp_server_ack(&s->srv, s->pending[0], &s->out));
        }
        check_output(&s->out, mark);
        memmove(s->pending, s->pending + 1, (s->npending - 1) * sizeof(s->pending[0]));
        s->npending--;
        k++;
    }
}

static void session_frame(struct session *s, const struct tl_relp_frame *fr, struct result *r)
{
    struct tl_relp_event ev;
    struct tl_err err;
    enum tl_rc rc;
    size_t mark = s->out.len;

    if (s->dead) {
        return;
    }
    if (s->server) {
        /* Answers must go oldest first: a younger one is refused. */
        if (s->npending >= 2) {
            CHECK(!tl_relp_server_ack(&s->srv, s->pending[1], &s->out));
        }
        ack_some(s, s->npending / 2);
        mark = s->out.len;
        rc = tl_relp_server_frame(&s->srv, fr, &s->out, &ev, &err);
        if (rc == TL_OK && ev.type == TL_RELP_EV_SYSLOG) {
            CHECK(ev.txnr == fr->txnr);
            CHECK(ev.len == fr->len);
            CHECK(s->npending < 40);
            s->pending[s->npending++] = ev.txnr;
            CHECK(tl_relp_server_pending(&s->srv) == s->npending);
        }
        if (rc == TL_OK && ev.type == TL_RELP_EV_CLOSE) {
            ack_some(s, 0);
            CHECK(tl_relp_server_done(&s->srv));
        }
    } else {
        rc = tl_relp_client_handle(&s->cl, fr, &ev, &err);
        CHECK(tl_relp_client_unacked(&s->cl) <= 5);
        if (rc == TL_OK && (ev.type == TL_RELP_EV_ACKED || ev.type == TL_RELP_EV_NAKED)) {
            CHECK(ev.txnr == fr->txnr);
        }
        while (rc == TL_OK && tl_relp_client_can_send(&s->cl) && s->nsent < 20) {
            uint32_t t;
            CHECK(tl_relp_client_send(&s->cl, "<13>fuzz", 8, &s->out, &t));
            s->nsent++;
        }
        if (rc == TL_OK && s->nsent == 20 && tl_relp_client_is_open(&s->cl)) {
            CHECK(tl_relp_client_close(&s->cl, &s->out));
        }
    }
    if (rc == TL_E_PROTO) {
        CHECK(err.code == TL_E_PROTO);
        CHECK(memchr(err.cause, '\0', sizeof(err.cause)) != NULL);
        s->dead = true;
        ev.type = TL_RELP_EV_NONE;
    }
    check_output(&s->out, mark);
    uint32_t meta[2] = { (uint32_t)rc, (uint32_t)ev.type };
    mix(&r->hash, meta, sizeof(meta));
}

static void run(bool server, size_t max, uint64_t seed, const uint8_t *in, size_t n,
                struct result *r)
{
    size_t cap = max + TL_RELP_OVERHEAD;
    uint8_t *buf = malloc(cap);
    size_t have = 0;
    size_t fed = 0;
    uint64_t dropped = 0;
    struct tl_relp_parser p;
    struct tl_relp_frame fr;
    struct session s;
    size_t used;
    struct tl_err err;
    enum tl_rc rc;

    CHECK(buf != NULL);
    r->hash = 0xcbf29ce484222325ull;
    r->nframes = 0;
    r->error = false;
    tl_relp_parser_init(&p, max);
    session_init(&s, server);
    while (fed < n) {
        size_t room = cap - have;
        CHECK(room > 0);
        size_t want = next_read(&seed, room, n - fed);
        memcpy(buf + have, in + fed, want);
        have += want;
        fed += want;

        size_t off = 0;
        for (;;) {
            fence(buf, off, have, cap);
            rc = tl_relp_next(&p, buf + off, have - off, &fr, &used, &err);
            fence(buf, 0, cap, cap);
            CHECK(used <= have - off);
            if (rc == TL_E_PROTO) {
                CHECK(used == 0);
                CHECK(err.code == TL_E_PROTO);
                CHECK(memchr(err.cause, '\0', sizeof(err.cause)) != NULL);
                r->error = true;
                goto out;
            }
            if (rc == TL_AGAIN) {
                CHECK(used == 0);
                break;
            }
            CHECK(rc == TL_OK);
            CHECK(used > 0);
            CHECK(fr.len <= max);
            CHECK(fr.data >= buf + off && fr.data + fr.len <= buf + have);
            size_t cl = strlen(fr.cmd);
            CHECK(cl >= 1 && cl <= TL_RELP_CMD_MAX);
            CHECK(fr.txnr <= TL_RELP_TXNR_MAX);
            mix(&r->hash, &fr.txnr, sizeof(fr.txnr));
            mix(&r->hash, fr.cmd, cl);
            mix(&r->hash, &fr.len, sizeof(fr.len));
            mix(&r->hash, fr.data, fr.len);
            r->nframes++;
            session_frame(&s, &fr, r);
            off += used;
        }
        /* Still pending: less than a full buffer, or the parser would wait forever. */
        CHECK(have - off < cap);
        dropped += off;
        CHECK(p.consumed == dropped);
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    if (tl_relp_finish(&p, have, &err) == TL_E_PROTO) {
        r->error = true;
    }
out:
    mix(&r->hash, s.out.data, s.out.len);
    tl_buf_fini(&s.out);
    fence(buf, 0, cap, cap);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    bool server = (data[0] & 1) == 0;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(data[0] / 2 + 1);
    size_t max = data[1] < 32 ? data[1] : 64 + (size_t)(data[1] - 32) * 4;

    struct result chunked;
    struct result greedy;
    run(server, max, seed, data + 2, size - 2, &chunked);
    run(server, max, 0, data + 2, size - 2, &greedy);
    CHECK(chunked.nframes == greedy.nframes);
    CHECK(chunked.hash == greedy.hash);
    CHECK(chunked.error == greedy.error);
    return 0;
}
