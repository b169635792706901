"""Connection limits an attacker cannot exhaust cheaply (issue 12, point 2 and 3):

  - max_connections_per_source: one address cannot take every slot of an input;
  - max_handshakes: connections that never finish their TLS handshake cannot keep new
    clients out (the oldest unfinished one is dropped first);
  - idle_timeout: a connection that sends nothing is closed after the handshake, with a line;
    the senders that keep connections open (rsyslog, tlslogd) reconnect and lose nothing;
  - partial_frame_budget: connections that send parts of messages and never finish them pin
    at most the budget, daemon-wide (RSS measured in /proc).

Attackers connect from 127.0.0.2, good clients from 127.0.0.1.
"""

import re
import socket
import ssl
import time

import pytest

import sender
from limits_util import (BAD_IP, GOOD_IP, anon_ctx, close_all, closed_by_peer, stat,
                         stats_line, status_kib, tcp_from, tls_from)
from peers import rsyslog as rs
from peers.local import check_numbered, numbered
from tlsconf import (TLSLOGD_NAME, feed_tcp, forward_output, group, json_file,  # noqa: F401
                     pki, server_tls, tls_block, wait_json)
from tlslogd import (SCALE, T, config, file_output, poll, read_json_lines, read_lines,
                     tcp_input)

HEAD = b"<13>1 2026-01-01T00:00:00Z good.test app - - - "


def need_peer(present, what):
    """A peer that `make test` installs (scripts/install-peers) is required: its absence is a
    failure, not a skip."""
    assert present, "%s not found: run scripts/install-peers" % what


def tls_in(pki, **kw):  # noqa: F811
    d = dict(name="tls-in", transport="tls", listen="127.0.0.1:0",
             tls=server_tls(pki, auth="anon"))
    d.update(kw)
    return d


def good_client_delivers(d, port, out, marker, n=10, tls=True):
    """A client on 127.0.0.1 sends n numbered lines; all of them must arrive."""
    data = b"".join(HEAD + b"%s %d\n" % (marker.encode(), i) for i in range(n))
    if tls:
        s = tls_from(port, GOOD_IP)
        s.sendall(data)
        sender.close_graceful(s.unwrap())
    else:
        sender.send_tcp(port, data, graceful=True)
    mark = marker.encode() + b" "
    got = poll(lambda: (lambda g: g if len(g) >= n else None)(
        [l for l in read_lines(out) if mark in l]), T(15), "%d %r lines" % (n, marker))
    assert got == [HEAD + mark + b"%d" % i for i in range(n)], got


# ---------------------------------------------------------------------------------------------
# max_connections_per_source

def test_one_source_cannot_take_every_slot(daemon, tmp_path, pki):  # noqa: F811
    """100 anonymous TLS connections from 127.0.0.2 that handshake and then send nothing,
    against max_connections: 80. Without a per-source limit they would hold every slot (the
    issue's finding); with the default of 64 the other 36 are refused and a good client on
    127.0.0.1 still gets in and delivers."""
    out = tmp_path / "out.log"
    d = daemon(config([tls_in(pki, max_connections=80)], [file_output("o", out, format="raw")]))
    port = d.port("tls-in")
    held, refused = [], 0
    try:
        for _ in range(100):
            try:
                s = tls_from(port, BAD_IP)
            except (ssl.SSLError, ConnectionError, OSError):
                refused += 1
                continue
            # A refused connection may complete its handshake first on our side (TLS 1.3):
            # it is refused when the server closes it without a word.
            if closed_by_peer(s, 0.05):
                refused += 1
                s.close()
            else:
                held.append(s)
        line = stats_line(d)
        assert stat(line, "refused_per_source") == 36, line
        assert (len(held), refused) == (64, 36)
        assert stat(line, "connections_open") == 64, line
        d.wait_log(r"^\S+ warning input tls-in: 127\.0\.0\.2:\d+: connection refused: this "
                   r"address already has 64 connections open \(max_connections_per_source\)")
        good_client_delivers(d, port, out, "good")
        # The attacker's connections are still open: the limit refuses new ones only.
        assert not any(closed_by_peer(s, 0.01) for s in held[:5])
    finally:
        close_all(held)
    assert d.stop() == 0


# ---------------------------------------------------------------------------------------------
# max_handshakes

def test_max_handshakes_drops_the_oldest_unfinished(daemon, tmp_path, pki):  # noqa: F811
    out = tmp_path / "out.log"
    d = daemon(config([tls_in(pki, max_handshakes=3)], [file_output("o", out, format="raw")],
                      tls={"handshake_timeout": "60s"}, workers=1))
    port = d.port("tls-in")
    stalled = []
    try:
        for i in range(3):  # connect and say nothing: each holds a handshake in progress
            stalled.append(tcp_from(port, BAD_IP))
            poll(lambda: stat(stats_line(d), "connections_open") == i + 1, T(5),
                 "connection %d accepted" % i)
        # A fourth one drops the oldest, which sees its connection closed; the others stay.
        stalled.append(tcp_from(port, BAD_IP))
        assert closed_by_peer(stalled[0], T(5)), "the oldest handshake was not dropped"
        assert not any(closed_by_peer(s, 0.2) for s in stalled[1:])
        first_port = stalled[0].getsockname()[1]
        d.wait_log(r"^\S+ warning input tls-in: 127\.0\.0\.2:%d: closing connection: TLS "
                   r"handshake failed: not completed after \d+ ms and dropped, the oldest of 3 "
                   r"handshakes in progress on this input \(max_handshakes\)" % first_port)
        # A good client still gets its handshake done (dropping the next oldest) and delivers.
        good_client_delivers(d, port, out, "after-flood")
        assert closed_by_peer(stalled[1], T(5))
        line = stats_line(d)
        assert stat(line, "handshakes_dropped") == 2, line
    finally:
        close_all(stalled)
    assert d.stop() == 0


# ---------------------------------------------------------------------------------------------
# idle_timeout

IDLE_LINE = (r"^\S+ info input %s: 127\.0\.0\.1:%d: connection closed after %d messages "
             r"\(nothing received for 1 s \(idle_timeout\); the sender reconnects when it has "
             r"more to send\)$")


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_idle_connection_is_closed(daemon, tmp_path, pki, transport):  # noqa: F811
    out = tmp_path / "out.log"
    inp = (tls_in(pki, idle_timeout="1s") if transport == "tls"
           else tcp_input("tcp-in", idle_timeout="1s"))
    d = daemon(config([inp], [file_output("o", out, format="raw")]))
    port = d.port(inp["name"])
    if transport == "tls":
        # A TCP end without close_notify raises SSLEOFError here rather than reading as EOF.
        ctx = anon_ctx()
        ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        s = ctx.wrap_socket(tcp_from(port), suppress_ragged_eofs=False)
    else:
        s = tcp_from(port)
    busy = tls_from(port) if transport == "tls" else tcp_from(port)
    s.sendall(HEAD + b"before idle\n")
    try:
        # A connection that keeps sending is not idle, however long it lives.
        t_end = time.monotonic() + 2.5
        i = 0
        while time.monotonic() < t_end:
            busy.sendall(HEAD + b"busy %d\n" % i)
            i += 1
            time.sleep(0.3)
        # A bare TCP close, no TLS close_notify: senders that peek at their socket before
        # writing (rsyslog) then see the end and reconnect (docs/tls.md, Connection limits).
        s.settimeout(T(5))
        if transport == "tls":
            with pytest.raises(ssl.SSLError, match="(?i)unexpected eof"):
                s.recv(100)
        else:
            assert s.recv(100) == b"", "the idle connection was not closed"
        d.wait_log(IDLE_LINE % (inp["name"], s.getsockname()[1], 1))
        assert not closed_by_peer(busy, 0.05)
        line = stats_line(d, inp["name"])
        assert stat(line, "closed_idle") == 1, line
    finally:
        close_all([s, busy])
    d.wait_file_lines(out, 1 + i)
    assert d.stop() == 0
    lines = read_lines(out)
    assert lines[0] == HEAD + b"before idle" or HEAD + b"before idle" in lines
    assert [l for l in lines if b"busy" in l] == [HEAD + b"busy %d" % k for k in range(i)]


def test_idle_close_tlslogd_sender_reconnects(daemon, tmp_path, pki):  # noqa: F811
    """What a sender sees: a tlslogd forward output whose connection the receiver closed for
    idleness notices it and reconnects for its next message; nothing is lost."""
    out = tmp_path / "rx.log"
    rx = daemon(config([tls_in(pki, idle_timeout="1s")], [file_output("o", out, format="raw")]),
                name="rx")
    tx = daemon(config([tcp_input("feed")],
                       [forward_output("fwd", rx.port("tls-in"),
                                       tls=tls_block(ca=pki.ca.cert, auth="name",
                                                     permitted_peers=[TLSLOGD_NAME]))]),
                name="tx")
    feed_tcp(tx.port("feed"), numbered("first", 5))
    rx.wait_file_lines(out, 5)
    rx.wait_log(r"connection closed after 5 messages \(nothing received for 1 s \(idle_timeout\)")
    feed_tcp(tx.port("feed"), numbered("second", 5))
    rx.wait_file_lines(out, 10)
    assert tx.stop() == 0 and rx.stop() == 0
    lines = [l.decode() for l in read_lines(out)]
    check_numbered([l for l in lines if "first" in l], "first", 5)
    check_numbered([l for l in lines if "second" in l], "second", 5)
    assert len(lines) == 10
    assert len(re.findall(r"TLS connection accepted", rx.log_text())) == 2, rx.log_tail()


@pytest.mark.parametrize("driver", ["ossl", "gtls", "ptcp"])
def test_idle_close_rsyslog_sender_reconnects(daemon, tmp_path, pki, group, driver):  # noqa: F811
    """rsyslog omfwd (TLS, or plain TCP with ptcp) keeps its connection open between
    messages: after the receiver closed it for idleness, rsyslog reconnects for the next ones
    and loses none. (Had the close started with a TLS close_notify, rsyslog would have written
    its next messages into the closed connection and lost them: see conn_goodbye in
    src/in/in_stream.c.)"""
    need_peer(rs.available(), "rsyslogd")
    out = tmp_path / "rx.json"
    if driver == "ptcp":
        inp = tcp_input("tls-in", idle_timeout="1s", framing="octet-counted")
        opts = dict(driver="ptcp", mode=0, authmode=None)
    else:
        inp = tls_in(pki, idle_timeout="1s", framing="octet-counted")
        opts = dict(driver=driver, authmode="x509/name", permitted_peers=[TLSLOGD_NAME],
                    ca=pki.ca.cert)
    d = daemon(config([inp], [json_file("j", out)]))
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.tls_sender(d.port("tls-in"), framing="octet-counted", **opts)
    group.add(r).start()
    closed = r"connection closed after \d+ messages \(nothing received for 1 s \(idle_timeout\)"
    for k in range(3):  # three quiet spells, each ended by a new batch
        marker = "rs-batch%d" % k
        tx.feed.send(numbered(marker, 5))
        got = wait_json(d, out, marker, 5)
        check_numbered([j["msg"] for j in got], marker, 5)
        poll(lambda: len(re.findall(closed, d.log_text())) > k, T(10), "idle close %d" % k)
        time.sleep(0.3)  # the close is logged just before the socket is closed
    r.stop()
    assert len(read_json_lines(out)) == 15
    if driver != "ptcp":
        assert len(re.findall(r"TLS connection accepted", d.log_text())) == 3, d.log_tail()


def test_idle_close_rsyslog_relp_session(daemon, tmp_path, group):  # noqa: F811
    """A RELP session that sends nothing is closed too (serverclose, then close); rsyslog
    omrelp opens a new session for its next messages and nothing is lost."""
    need_peer(rs.relp_available(), "rsyslog's RELP modules")
    out = tmp_path / "rx.json"
    d = daemon(config([dict(name="relp-in", transport="relp", listen="127.0.0.1:0",
                            idle_timeout="1s")], [json_file("j", out)]))
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.relp_sender(d.port("relp-in"), tls=False)
    group.add(r).start()
    tx.feed.send(numbered("relp-first", 5))
    wait_json(d, out, "relp-first", 5)
    d.wait_log(r"input relp-in: 127\.0\.0\.1:\d+: connection closed after 5 messages "
               r"\(nothing received for 1 s \(idle_timeout\)")
    time.sleep(0.5)
    tx.feed.send(numbered("relp-second", 5))
    got = wait_json(d, out, "relp-second", 5)
    check_numbered([j["msg"] for j in got], "relp-second", 5)
    r.stop()
    check_numbered([j["msg"] for j in wait_json(d, out, "relp-first", 5)], "relp-first", 5)


# ---------------------------------------------------------------------------------------------
# partial_frame_budget

NCONN = 400
PARTIAL = 60 * 1024   # under max_message_size (64 KiB): held, not cut
BUDGET_MIB = 2


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_partial_frames_stay_under_the_budget(daemon, tmp_path, pki, transport):  # noqa: F811
    """400 connections from 127.0.0.2 each send 60 KiB of a line and never its end (the
    issue measured 82 KB each, 33 MB for 400, 800 MB for 10,000 connections): the daemon
    keeps at most partial_frame_budget of them and closes the connection that holds the
    largest beyond it. Peak RSS grows by the budget plus a per-connection overhead, not by
    400 x 60 KiB; a good client keeps delivering."""
    out = tmp_path / "out.log"
    inp = (tls_in(pki, framing="lf", max_connections_per_source=1000) if transport == "tls"
           else tcp_input("in", framing="lf", max_connections_per_source=1000))
    name = inp["name"]
    # ASan keeps freed memory in quarantine (resident): without it, its RSS follows ours.
    d = daemon(config([inp], [file_output("o", out, format="raw")],
                      partial_frame_budget="%dMiB" % BUDGET_MIB),
               env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=0:"
                                    "thread_local_quarantine_size_kb=0"})
    port = d.port(name)
    pid = d.proc.pid
    good_client_delivers(d, port, out, "warm-up", tls=transport == "tls")
    hwm0 = status_kib(pid, "VmHWM")
    socks = []
    try:
        for i in range(NCONN):
            s = tls_from(port, BAD_IP) if transport == "tls" else tcp_from(port, BAD_IP)
            socks.append(s)
            try:
                s.sendall(b"<13>partial %d " % i + b"x" * (PARTIAL - 20))
            except (ConnectionError, ssl.SSLError, OSError):
                pass  # already closed for the budget
        # Everything sent was read: each connection either holds its part or was closed.
        kept = BUDGET_MIB * 1024 * 1024 // PARTIAL

        def settled():
            line = stats_line(d, name)
            return line if stat(line, "closed_over_budget") >= NCONN - kept else None
        line = poll(settled, T(30), "the connections beyond the budget to be closed")
        closed = stat(line, "closed_over_budget")
        assert NCONN - kept <= closed <= NCONN, line
        hwm = status_kib(pid, "VmHWM")
        growth_mib = (hwm - hwm0) / 1024.0
        # Per connection still open (kept), TLS costs up to about 40 KiB more; each worker
        # may go over by one read before it sheds. ASan adds redzones and shadow memory, and
        # its size classes round a 60 KiB tail plus its redzone up to 80 KiB: under ASan the
        # bound scales by that quarter (measured there: 6.5 to 6.8 MiB for TLS, 3.0 for TCP).
        held = BUDGET_MIB + (kept * 48 / 1024.0 if transport == "tls" else 0)
        allowed = held + 1.5 if SCALE == 1 else held * 1.25 + 3.0
        assert growth_mib < allowed, "peak RSS grew by %.1f MiB (allowed %.1f)" % (
            growth_mib, allowed)
        assert growth_mib < NCONN * PARTIAL / 1048576.0 / 2  # far from unbounded (23 MiB)
        d.wait_log(r"^\S+ warning input %s: 127\.0\.0\.2:\d+: closing connection: the "
                   r"unfinished messages of all connections exceed partial_frame_budget "
                   r"\(%d MiB\) and this one keeps the largest \(\d+ bytes\); its bytes are "
                   r"discarded" % (name, BUDGET_MIB))
        good_client_delivers(d, port, out, "during-flood", tls=transport == "tls")
    finally:
        close_all(socks)
    line = poll(lambda: (lambda l: l if stat(l, "connections_open") == 0 else None)(
        stats_line(d, name)), T(10), "every connection closed")
    closed = stat(line, "closed_over_budget")
    assert d.stop() == 0
    # The parts of the connections closed for the budget are discarded; those still held
    # when their senders closed are kept, marked truncated (test_truncation.py).
    partial = [l for l in read_lines(out) if l.startswith(b"<13>partial")]
    assert len(partial) == NCONN - closed <= kept + 2, (len(partial), closed)
    assert stat(line, "truncated_at_eof") == len(partial), line
