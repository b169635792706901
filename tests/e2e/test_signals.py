"""SIGTERM writes everything accepted before exiting; SIGHUP reopens output files."""

import os
import signal
import threading
import time

import pytest

import sender
from sender import octet
from tlslogd import T, Deadline, config, file_output, read_lines, tcp_input, unix_input
from util import line_diff


def msg(tag, i, host="h"):
    return b"<13>1 2026-01-01T00:00:00Z %s app - - - %s seq=%d" % (host.encode(), tag, i)


def _sigterm_with_open_connections(daemon, tmp_path, wait_accepted):
    out, sync = tmp_path / "out.log", tmp_path / "sync.log"
    # out has a long flush interval: what reaches it must be written by the shutdown itself
    d = daemon(config([tcp_input("t")], [file_output("o", out, format="raw", flush_interval="1h"),
                                         file_output("sync", sync, format="raw", flush_interval="0")]))
    port = d.port("t")
    if not wait_accepted:
        d.signal(signal.SIGSTOP)  # frozen: the kernel completes the handshakes, nobody accepts
    conns = [sender.tcp_connect(port) for _ in range(3)]
    n = 1000
    expect = {}
    try:
        for c, s in enumerate(conns):
            tag = b"c%d" % c
            expect[tag] = [msg(tag, i) for i in range(n)]
            if wait_accepted:
                s.sendall(octet(expect[tag][0]))
        if wait_accepted:  # the daemon has accepted and read from every connection
            d.wait_file_lines(sync, 3)
        for c, s in enumerate(conns):
            tag = b"c%d" % c
            start = 1 if wait_accepted else 0
            s.sendall(b"".join(octet(m) if i % 2 else m + b"\n"
                               for i, m in enumerate(expect[tag]) if i >= start))
        # the peers stay connected; SIGTERM right away
        if not wait_accepted:
            d.signal(signal.SIGTERM)
            d.signal(signal.SIGCONT)
        assert d.stop() == 0
    finally:
        for s in conns:
            s.close()
    for f in (out, sync):
        lines = read_lines(f)
        assert len(lines) == 3 * n, (f, len(lines), d.log_tail())
        for tag, msgs in expect.items():
            assert [l for l in lines if b" %s seq=" % tag in l] == msgs


@pytest.mark.parametrize("rep", range(2))
def test_sigterm_flushes_everything_accepted(daemon, tmp_path, rep):
    """Connections the daemon has accepted: all data they sent before SIGTERM is written."""
    _sigterm_with_open_connections(daemon, tmp_path, True)


def test_sigterm_drains_connections_in_accept_queue(daemon, tmp_path):
    """Connections established by the kernel (peer connected, data sent) but maybe not yet
    accept()ed when SIGTERM arrives: their data is in kernel buffers and must be written too."""
    _sigterm_with_open_connections(daemon, tmp_path, False)


def test_sigterm_idle_daemon_exits_zero(daemon, tmp_path):
    d = daemon(config([tcp_input("t")], [file_output("o", tmp_path / "o.log")]))
    s = sender.tcp_connect(d.port("t"))  # an idle peer must not keep it from exiting
    try:
        assert d.stop() == 0
        assert sender.wait_closed_by_peer(s)
    finally:
        s.close()


@pytest.mark.parametrize("per_host", [True, False])
def test_sighup_reopens_files(daemon, tmp_path, per_host):
    tmpl = tmp_path / "logs" / ("{hostname}.log" if per_host else "all.log")
    d = daemon(config([tcp_input("t")], [file_output("o", tmpl, format="raw", flush_interval="0")]))
    hosts = ["alpha", "beta"]
    path = {h: tmp_path / "logs" / (("%s.log" % h) if per_host else "all.log") for h in hosts}
    files = sorted(set(path.values()))
    sent = []
    seq = [0]
    s = sender.tcp_connect(d.port("t"))
    gens = [".1", ".2", ""]

    def send_round(tag):
        for h in hosts:
            m = msg(tag, seq[0], h)
            sent.append(m)
            s.sendall(octet(m))
        seq[0] += 1

    def written():
        return sum(len(read_lines(str(f) + g)) for f in files for g in gens)

    def wait_all_written():
        dl = Deadline(T(15))
        while written() < len(sent):
            assert not dl.expired(), "messages missing after SIGHUP; log:\n" + d.log_tail()
            d.check_alive()
            time.sleep(0.05)

    try:
        for _ in range(10):
            send_round(b"before")
        wait_all_written()
        for rotation in (1, 2):
            wait_all_written()
            for f in files:
                os.rename(f, "%s.%d" % (f, rotation))
            d.hup()
            # keep sending until the files exist again at the original paths (bounded)
            dl = Deadline(T(15))
            while not all(f.exists() for f in files):
                assert not dl.expired(), "no new files after SIGHUP; log:\n" + d.log_tail()
                d.check_alive("waiting for reopened files")
                send_round(b"probe%d" % rotation)
                time.sleep(0.05)
            for _ in range(10):
                send_round(b"after%d" % rotation)
        sender.close_graceful(s)
        wait_all_written()
        assert d.stop() == 0
    finally:
        s.close()
    assert written() == len(sent)
    for h in hosts:
        hb = b" %s app " % h.encode()
        g1, g2, g3 = ([l for f in files for l in read_lines(str(f) + g) if hb in l] for g in gens)
        mine = [m for m in sent if hb in m]
        assert g1 + g2 + g3 == mine  # nothing lost, nothing duplicated, in order
        assert g1[:10] == mine[:10] and all(b"before" in l for l in g1[:10])
        # messages sent after the files reappeared are in the new files
        # (probes sent before the HUP took effect may still be in the older file)
        assert [l for l in g2 if b" after1 " in l] == [l for l in mine if b" after1 " in l]
        assert [l for l in g3 if b" after2 " in l] == [l for l in mine if b" after2 " in l]


def test_sigterm_while_sending(daemon, tmp_path):
    """SIGTERM in the middle of a stream: the file holds exactly the first K messages sent,
    for some K (no gap, no duplicate, no torn line), and the daemon exits 0."""
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("t")], [file_output("o", out, format="raw")]))
    s = sender.tcp_connect(d.port("t"))
    sent = []
    stop = threading.Event()

    def pump():
        i = 0
        dl = Deadline(T(30))
        try:
            while not stop.is_set() and not dl.expired() and i < 3_000_000:
                batch = [msg(b"live", i + k) for k in range(500)]
                i += 500
                sent.extend(batch)
                s.sendall(b"".join(octet(m) for m in batch))
        except OSError:
            pass

    t = threading.Thread(target=pump)
    t.start()
    try:
        d.wait_file_size(out, 100_000, T(30))
        assert d.stop() == 0
    finally:
        stop.set()
        t.join(T(40))
        s.close()
    assert not t.is_alive()
    data = out.read_bytes()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert len(lines) >= 1000
    diff = line_diff(lines, sent[:len(lines)])
    assert diff is None, diff


def test_restart_appends_and_reuses_unix_socket(daemon, tmp_path):
    out = tmp_path / "out.log"
    sock = tmp_path / "in.sock"
    conf = config([tcp_input("t"), unix_input("x", sock)], [file_output("o", out, format="raw")])
    first = [msg(b"first", i) for i in range(5)]
    second = [msg(b"second", i) for i in range(5)]
    d1 = daemon(conf, name="run1")
    sender.send_tcp(d1.port("t"), b"".join(octet(m) for m in first[:3]), graceful=True)
    sender.send_unix_dgram(sock, first[3:])
    d1.wait_file_lines(out, 5)
    assert d1.stop() == 0
    d2 = daemon(conf, name="run2")  # the socket file may still be there: it must be reused
    sender.send_tcp(d2.port("t"), b"".join(octet(m) for m in second[:3]), graceful=True)
    sender.send_unix_dgram(sock, second[3:])
    d2.wait_file_lines(out, 10)
    assert d2.stop() == 0
    lines = read_lines(out)
    assert sorted(lines[:5]) == sorted(first) and sorted(lines[5:]) == sorted(second)


def test_sighup_under_load_loses_nothing(daemon, tmp_path):
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("t")], [file_output("o", out, format="raw", flush_interval="0")]))
    s = sender.tcp_connect(d.port("t"))
    sent = []
    errors = []
    stop = threading.Event()

    def pump():
        i = 0
        try:
            while not stop.is_set() and i < 2_000_000:
                batch = [msg(b"load", i + k) for k in range(200)]
                i += 200
                sent.extend(batch)
                s.sendall(b"".join(octet(m) for m in batch))
        except OSError as e:
            errors.append(repr(e))

    t = threading.Thread(target=pump)
    t.start()
    rotations = 5
    try:
        for r in range(1, rotations + 1):
            d.wait_file_size(out, 20_000, T(20))
            os.rename(out, "%s.%d" % (out, r))
            d.hup()
    finally:
        stop.set()
        t.join(T(30))
    assert not t.is_alive() and not errors, errors
    sender.close_graceful(s)
    gens = ["%s.%d" % (out, r) for r in range(1, rotations + 1)] + [str(out)]
    dl = Deadline(T(30))
    while sum(os.path.getsize(g) for g in gens if os.path.exists(g)) < sum(len(m) + 1 for m in sent):
        assert not dl.expired(), "messages missing after SIGHUPs under load; log:\n" + d.log_tail()
        d.check_alive()
        time.sleep(0.05)
    assert d.stop() == 0
    lines = [l for g in gens for l in read_lines(g)]
    diff = line_diff(lines, sent)
    assert diff is None, diff
