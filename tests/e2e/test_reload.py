"""SIGHUP reloads the whole configuration (docs/configuration.md, Reloading).

- Under load: a steady TLS stream on one input while the reload adds an output and a route,
  removes another input, adds one, and changes an output: every message arrives, the TLS
  connection is the same one (the sender never reconnects, the input counts one connection),
  the removed input's port is closed and the new one's accepts.
- A route's where: filter changed under a TLS stream: one switch point, no message routed by
  a mix of the old and the new filters, nothing lost, the same connection.
- An invalid file leaves the running configuration as it was, every error logged.
- A forward output with queue.dir changed while its target is down: the new instance delivers
  what the old one kept on disk once the target is back.
"""

import re
import socket
import threading
import time

import pytest

import sender
from peers.ports import free_port
from relutil import Feeder, load, relp_forward, relp_input, stats, tally, wait_count
from tlsconf import forward_output
from tlslogd import T, config, file_output, poll, read_lines, tcp_input, to_yaml
from tlsneg_util import (TlsConn, frames, neg_pki, server_tls_top, stat, stats_line,
                         tls_input)

pytestmark = pytest.mark.peers("openssl")  # the PKI is made with openssl (conftest.py)

RELOADED = re.compile(r"notice configuration reloaded from (\S+): inputs \+(\d+) -(\d+) ~(\d+) "
                      r"\(kept (\d+)\), outputs \+(\d+) -(\d+) ~(\d+) \(kept (\d+)\), routes "
                      r"(\d+) \(were (\d+)[^)]*\); TLS files re-read")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return neg_pki(tmp_path_factory.mktemp("reload15pki"))


def reload(d, conf):
    """Writes conf, SIGHUP, waits for the next summary line; returns its match."""
    before = len(RELOADED.findall(d.log_text()))
    d.conf_path.write_text(to_yaml(conf) + "\n")
    d.hup()

    def done():
        d.check_alive("reloading")
        found = list(RELOADED.finditer(d.log_text()))
        return found[-1] if len(found) > before else None
    try:
        return poll(done, T(30), "the reload's summary line")
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, d.log_tail()))


def msg(tag, i):
    return "%s seq=%06d x" % (tag, i)


def seqs(path, tag):
    """The sequence numbers of tag's lines in path, in file order."""
    pat = re.compile(r"%s seq=(\d{6}) x" % re.escape(tag))
    out = []
    for l in read_lines(path):
        m = pat.search(l.decode("utf-8", "replace"))
        if m:
            out.append(int(m.group(1)))
    return out


class Stream(threading.Thread):
    """Sends tag seq=0, 1, 2, ... over one TLS connection, a few messages at a time, until
    stopped; an error (a reset connection) is kept, not retried: the test must see it."""

    def __init__(self, port, pki, tag):
        super().__init__(daemon=True)
        self.conn = TlsConn(port, pki, cert=pki.client)
        self.tag = tag
        self.sent = 0
        self.error = None
        self.halt = threading.Event()

    def run(self):
        try:
            while not self.halt.is_set():
                batch = frames([msg(self.tag, self.sent + k) for k in range(20)])
                self.conn.sock.sendall(batch)
                self.sent += 20
                time.sleep(0.005)
        except OSError as e:
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(T(10))
        assert not self.is_alive(), "the sender did not stop"
        self.conn.close()


def wait_seqs(d, path, tag, n):
    def enough():
        d.check_alive("waiting for %d %s lines" % (n, tag))
        return len(seqs(path, tag)) >= n
    try:
        poll(enough, T(30), "%d %s lines in %s" % (n, tag, path))
    except AssertionError as e:
        raise AssertionError("%s (have %d); log:\n%s" % (e, len(seqs(path, tag)), d.log_tail()))


def refused(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(T(5))
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def load_conf(pki, tmp_path, after):
    """The configuration before (after=False) and after the reload."""
    tls = tls_input("tls-in", tls={"auth": "certvalid"})
    inputs = [tls, tcp_input("tcp-old") if not after else tcp_input("tcp-new")]
    outputs = [file_output("all", tmp_path / "all.log"),
               # changed by the reload: it writes another file
               file_output("chg", tmp_path / ("chg-after.log" if after else "chg-before.log"))]
    routes = [{"from": ["tls-in", "tcp-old" if not after else "tcp-new"], "to": "all"},
              {"from": "tls-in", "to": "chg"}]
    if after:
        outputs.append(file_output("added", tmp_path / "added.log"))
        routes.append({"from": ["tls-in", "tcp-new"], "to": "added"})
    return config(inputs, outputs, routes, tls=server_tls_top(pki),
                  port_file=str(tmp_path / "ports"))


def test_reload_under_load(daemon, tmp_path, pki):
    d = daemon(load_conf(pki, tmp_path, False))
    old_port = d.port("tcp-old")
    sender.send_tcp(old_port, b"<13>1 2026-01-01T00:00:00Z h app - - - OLD before\n",
                    graceful=True)
    stream = Stream(d.port("tls-in"), pki, "LOAD")
    stream.start()
    try:
        wait_seqs(d, tmp_path / "all.log", "LOAD", 200)
        m = reload(d, load_conf(pki, tmp_path, True))
        # +tcp-new -tcp-old, +added ~chg, routes: 3 -> 5 (input, output) pairs
        assert m.group(2, 3, 4, 5) == ("1", "1", "0", "1"), m.group(0)
        assert m.group(6, 7, 8, 9) == ("1", "0", "1", "1"), m.group(0)
        assert m.group(10, 11) == ("5", "3"), m.group(0)
        sent_at_reload = stream.sent
        # the stream goes on into the new outputs
        wait_seqs(d, tmp_path / "added.log", "LOAD", 200)
        wait_seqs(d, tmp_path / "all.log", "LOAD", sent_at_reload + 200)
    finally:
        stream.stop()
    assert stream.error is None, "the TLS connection broke during the reload: %r" % stream.error
    n = stream.sent
    assert n > sent_at_reload
    wait_seqs(d, tmp_path / "all.log", "LOAD", n)

    # the same connection all along
    line = stats_line(d, "tls-in")
    assert stat(line, "connections_total") == 1, line

    # nothing lost, nothing twice: the kept output has all of it in order; the changed one
    # has all of it between its old and its new file; the added one a tail of it
    assert seqs(tmp_path / "all.log", "LOAD") == list(range(n))
    wait_seqs(d, tmp_path / "chg-after.log", "LOAD", 1)
    before, after = seqs(tmp_path / "chg-before.log", "LOAD"), seqs(tmp_path / "chg-after.log",
                                                                    "LOAD")
    poll(lambda: len(seqs(tmp_path / "chg-before.log", "LOAD")) +
         len(seqs(tmp_path / "chg-after.log", "LOAD")) >= n, T(10), "the changed output's lines")
    before, after = seqs(tmp_path / "chg-before.log", "LOAD"), seqs(tmp_path / "chg-after.log",
                                                                    "LOAD")
    assert before + after == list(range(n)), (len(before), len(after), n)
    added = seqs(tmp_path / "added.log", "LOAD")
    assert added == list(range(added[0], n)), (added[:3], len(added), n)
    assert added[0] <= sent_at_reload

    # the removed input's port is closed, the new one's accepts and is routed
    assert refused(old_port)
    new_port = d.port("tcp-new")
    sender.send_tcp(new_port, b"<13>1 2026-01-01T00:00:00Z h app - - - NEW after\n",
                    graceful=True)
    d.wait_file_lines(tmp_path / "added.log", len(added) + 1)
    assert [l for l in read_lines(tmp_path / "added.log") if b"NEW after" in l]
    assert [l for l in read_lines(tmp_path / "all.log") if b"OLD before" in l]
    poll(lambda: [l for l in read_lines(tmp_path / "all.log") if b"NEW after" in l], T(10),
         "the new input's message in all.log")


def test_invalid_file_keeps_running(daemon, tmp_path):
    out = tmp_path / "out.log"
    conf = config([tcp_input("in")], [file_output("o", out)])
    d = daemon(conf)
    port = d.port("in")
    sender.send_tcp(port, b"<13>1 2026-01-01T00:00:00Z h app - - - one\n", graceful=True)
    d.wait_file_lines(out, 1)
    good = d.conf_path.read_text()
    # two errors: an unknown key and a route to an output that does not exist; the input
    # would also move to another port
    d.conf_path.write_text(good.replace("127.0.0.1:0", "127.0.0.1:1") +
                           "bogus: 1\nroutes:\n  - {from: in, to: nowhere}\n")
    d.hup()
    d.wait_log(r"error reload: %s:\d+: unknown key 'bogus'" % re.escape(str(d.conf_path)))
    d.wait_log(r"error reload: %s:\d+: .*nowhere" % re.escape(str(d.conf_path)))
    d.wait_log(r"error reload of %s failed \(2 errors above\): the running configuration is "
               r"unchanged" % re.escape(str(d.conf_path)))
    assert "configuration reloaded" not in d.log_text()
    # the old configuration runs on: the same port, the same output
    sender.send_tcp(port, b"<13>1 2026-01-01T00:00:00Z h app - - - two\n", graceful=True)
    d.wait_file_lines(out, 2)
    assert [l for l in read_lines(out) if l.endswith(b"two")]
    # and a later valid reload still works
    d.conf_path.write_text(good)
    d.hup()
    d.wait_log(r"configuration reloaded from .*: inputs \+0 -0 ~0 \(kept 1\), outputs \+0 -0 ~0 "
               r"\(kept 1\), routes 1 \(were 1, the same\)")


def test_queue_dir_handed_over_while_target_down(daemon, tmp_path):
    """A forward output with queue.dir, its target down, is changed by a reload: the old
    instance leaves what it holds on disk, the new one (same queue.dir) delivers it once the
    target is back."""
    rx_out = tmp_path / "rx.log"
    rx_conf = config([tcp_input("rx")], [file_output("o", rx_out)])
    rx = daemon(rx_conf, name="rx")
    rx_port = rx.port("rx")
    assert rx.stop() == 0

    def sender_conf(reconnect_max):
        return config([tcp_input("in")],
                      [forward_output("fwd", rx_port, transport="tcp", format="rfc5424",
                                      reconnect_min="100ms", reconnect_max=reconnect_max,
                                      queue={"dir": str(tmp_path / "q"),
                                             "drain_timeout": "1s"})])
    tx = daemon(sender_conf("1s"), name="tx")
    n = 300
    data = b"".join(b"<13>1 2026-01-01T00:00:00Z h app - - - %s\n" % msg("Q1", i).encode()
                    for i in range(n))
    sender.send_tcp(tx.port("in"), data, graceful=True)
    poll(lambda: stat(stats_line(tx, "in"), "received") == n, T(10), "the first messages taken")
    m = reload(tx, sender_conf("2s"))
    assert m.group(6, 7, 8, 9) == ("0", "0", "1", "0"), m.group(0)
    data = b"".join(b"<13>1 2026-01-01T00:00:00Z h app - - - %s\n" % msg("Q2", i).encode()
                    for i in range(n))
    sender.send_tcp(tx.port("in"), data, graceful=True)
    # the target comes back on its port
    rx_conf["inputs"] = [tcp_input("rx")]
    rx_conf["inputs"][0]["listen"] = "127.0.0.1:%d" % rx_port
    rx2 = daemon(rx_conf, name="rx2")
    wait_seqs(rx2, rx_out, "Q1", n)
    wait_seqs(rx2, rx_out, "Q2", n)
    assert sorted(seqs(rx_out, "Q1")) == list(range(n))
    assert seqs(rx_out, "Q2") == list(range(n))
    assert "lost" not in tx.log_text(), tx.log_tail()


def test_relp_acknowledgements_across_an_output_replaced(daemon, tmp_path):
    """RELP: the receiver's output is replaced by a reload while a sender streams: the session
    goes on (nothing resent, one connection), every message is acknowledged (no wait hangs on
    the replaced output) and is in the old file or the new one."""
    n = 20000
    port = free_port()

    def rx_conf(path):
        return config([relp_input(None, port=port, tls=False)], [file_output("f", path)])
    rx = daemon(rx_conf(tmp_path / "rx-before.log"), name="rx")
    tx = daemon(config([tcp_input("feed")],
                       [relp_forward(None, port, tls=False, relp_window=64)]), name="tx")
    feeder = Feeder(tx.port("feed"), load("RELP", 0, n)).start()
    try:
        wait_count(tmp_path / "rx-before.log", "RELP", 2000, T(30), alive=(rx, tx))
        m = reload(rx, rx_conf(tmp_path / "rx-after.log"))
        assert m.group(6, 7, 8, 9) == ("0", "0", "1", "0"), m.group(0)
    finally:
        feeder.finish(T(60))

    def all_acked():
        st = stats(tx, want=["output fwd"])["output fwd"]
        return st if st["acknowledged"] == n else None
    st = poll(all_acked, T(60), "every message acknowledged to the sender")
    assert st["resent"] == 0, st
    wait_count(tmp_path / "rx-after.log", "RELP", 1, T(10), alive=(rx,))
    before = tally(tmp_path / "rx-before.log", "RELP", n)
    after = tally(tmp_path / "rx-after.log", "RELP", n)
    assert before.distinct + after.distinct == n, (before.summary(), after.summary())
    assert not before.dups and not after.dups and not set(before.counts) & set(after.counts)
    assert stats(rx, want=["input relp-in"])["input relp-in"]["connections_total"] == 1


def test_bind_error_applies_the_rest(daemon, tmp_path):
    """A new input that cannot bind is named in the summary line while the rest of the reload
    applies; the next reload binds it. A key that needs a restart is said and kept."""
    o1, o2 = tmp_path / "o1.log", tmp_path / "o2.log"
    conf = config([tcp_input("in")], [file_output("o1", o1)], workers=2)
    d = daemon(conf)
    port = d.port("in")
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy = taken.getsockname()[1]
    conf = config([tcp_input("in"), dict(tcp_input("busy"), listen="127.0.0.1:%d" % busy)],
                  [file_output("o1", o1), file_output("o2", o2)], workers=3,
                  port_file=str(d.port_file))
    try:
        m = reload(d, conf)
        assert m.group(2, 6) == ("1", "1"), m.group(0)
        d.wait_log(r"configuration reloaded from .*; not started: input busy$")
        d.wait_log(r"input busy: .*%d.*[Aa]ddress already in use" % busy)
        d.wait_log(r"warning reload: workers changed in .* but applies only at a restart: the "
                   r"running daemon keeps its value")
        sender.send_tcp(port, b"<13>1 2026-01-01T00:00:00Z h app - - - first\n", graceful=True)
        d.wait_file_lines(o1, 1)
        d.wait_file_lines(o2, 1)
    finally:
        taken.close()
    m = reload(d, conf)
    assert m.group(2, 5, 6, 9) == ("1", "1", "0", "2"), m.group(0)  # busy starts now
    d.wait_log(r"input busy: listening on 127\.0\.0\.1 port %d" % busy)
    sender.send_tcp(busy, b"<13>1 2026-01-01T00:00:00Z h app - - - second\n", graceful=True)
    d.wait_file_lines(o1, 2)
    d.wait_file_lines(o2, 2)
    assert d.port("busy") == busy


def test_changed_input_rebinds_its_port(daemon, tmp_path):
    """An input changed in place (same port, other framing) is replaced: what its open
    connection had sent is delivered, then that connection is closed; the new listener takes
    the same port."""
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("in")], [file_output("o", out)]))
    port = d.port("in")
    s = sender.tcp_connect(port)
    try:
        s.sendall(b"<13>1 2026-01-01T00:00:00Z h app - - - before\n")
        d.wait_file_lines(out, 1)
        s.sendall(b"<13>1 2026-01-01T00:00:00Z h app - - - in-flight\n")
        m = reload(d, config([dict(tcp_input("in"), listen="127.0.0.1:%d" % port,
                                   framing="lf")], [file_output("o", out)],
                             port_file=str(d.port_file)))
        assert m.group(2, 3, 4, 5) == ("0", "0", "1", "0"), m.group(0)
        assert sender.wait_closed_by_peer(s), "the replaced input's connection stayed open"
    finally:
        s.close()
    d.wait_file_lines(out, 2)
    assert read_lines(out)[1].endswith(b"in-flight")
    sender.send_tcp(port, b"<13>1 2026-01-01T00:00:00Z h app - - - after\n", graceful=True)
    d.wait_file_lines(out, 3)
    assert read_lines(out)[2].endswith(b"after")


def test_output_that_cannot_start(daemon, tmp_path):
    """An added output whose start-time check fails is named in the summary line; what is
    routed to it is dropped and counted, the other outputs go on, the daemon stops cleanly."""
    ok = tmp_path / "ok.log"
    (tmp_path / "afile").write_text("not a directory\n")
    d = daemon(config([tcp_input("in")], [file_output("ok", ok)]))
    port = d.port("in")
    m = reload(d, config([tcp_input("in")],
                         [file_output("ok", ok), file_output("bad", tmp_path / "afile" / "x.log")],
                         port_file=str(d.port_file)))
    assert m.group(6) == "1", m.group(0)
    d.wait_log(r"error output bad: cannot start after the reload")
    d.wait_log(r"configuration reloaded from .*; not started: output bad$")
    sender.send_tcp(port, b"<13>1 2026-01-01T00:00:00Z h app - - - kept\n", graceful=True)
    d.wait_file_lines(ok, 1)
    poll(lambda: stat(stats_line(d, "in"), "received") == 1, T(10), "the message received")

    def bad_dropped():
        stats_line(d, "in")  # SIGUSR1 logs every input and output
        lines = [l for l in d.log_text().splitlines() if "stats: output bad:" in l]
        return lines[-1] if lines and stat(lines[-1], "dropped") == 1 else None
    line = poll(bad_dropped, T(10), "the message to bad dropped and counted")
    assert stat(line, "written") == 0, line
    assert d.stop() == 0


def test_filter_changed_under_load(daemon, tmp_path, pki):
    """A route's where: filter changed by a reload while a TLS stream runs: before the switch
    the filtered output gets the even numbers, after it the odd ones; the switch is one point
    in the stream (the route table is swapped whole: no message sees a mix), nothing is lost
    on either output, and the connection is the same one. The reload's summary tells a
    changed filter from an unchanged one."""
    def conf(parity):
        tls = tls_input("tls-in", tls={"auth": "certvalid"})
        outputs = [file_output("all", tmp_path / "all.log"),
                   file_output("sel", tmp_path / "sel.log")]
        routes = [{"from": "tls-in", "to": "all"},
                  {"from": "tls-in", "to": "sel",
                   "where": {"message": r"seq=\d{5}[%s] " % parity}}]
        return config([tls], outputs, routes, tls=server_tls_top(pki))

    d = daemon(conf("02468"))
    stream = Stream(d.port("tls-in"), pki, "FLT")
    stream.start()
    try:
        wait_seqs(d, tmp_path / "sel.log", "FLT", 200)
        m = reload(d, conf("13579"))
        assert m.group(2, 3, 4) == ("0", "0", "0") and m.group(6, 7, 8) == ("0", "0", "0"), \
            m.group(0)
        assert ", the same" not in m.group(0), "a changed where: read as the same routes"
        at = stream.sent
        wait_seqs(d, tmp_path / "all.log", "FLT", at + 400)
    finally:
        stream.stop()
    assert stream.error is None, "the TLS connection broke during the reload: %r" % stream.error
    n = stream.sent
    wait_seqs(d, tmp_path / "all.log", "FLT", n)
    assert seqs(tmp_path / "all.log", "FLT") == list(range(n))
    assert stat(stats_line(d, "tls-in"), "connections_total") == 1
    # sel is another output (its own thread and flush): wait for the last odd number there.
    last_odd = n - 1 if (n - 1) % 2 else n - 2
    poll(lambda: (lambda s: s and s[-1] >= last_odd)(seqs(tmp_path / "sel.log", "FLT")),
         T(30), "sel.log to end with %d" % last_odd)
    sel = seqs(tmp_path / "sel.log", "FLT")
    # the evens of [0, s), then the odds of [s, n), for one switch point s: the message at s
    # was the first one the new table routed
    k = next((i for i, s in enumerate(sel) if s % 2 == 1), len(sel))
    evens, odds = sel[:k], sel[k:]
    assert evens and odds, (len(evens), len(odds))
    assert all(s % 2 == 1 for s in odds), "the filter switched more than once: %s" % odds[:5]
    assert evens == list(range(0, evens[-1] + 1, 2)), "evens missing before the switch"
    assert odds == list(range(odds[0], n, 2)), "odds missing after the switch"
    # s is evens[-1] + 1 (odds[0] right after it) or evens[-1] + 2 (an even one the new
    # filter left out, then odds[0]): nothing in between was lost
    assert odds[0] - evens[-1] in (1, 3), (evens[-3:], odds[:3])
    # The same filter again: the summary says the routes are the same.
    m = reload(d, conf("13579"))
    assert ", the same" in m.group(0), m.group(0)
