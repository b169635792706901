"""Back-pressure (issue 4): a forward output whose receiver accepts the TCP connection and
never reads. With queue.full: block (memory_messages 1000) a TCP sender writing as fast as it
can is stalled by TCP flow control (the bytes the kernel accepts stop growing, far below what
5 s of unthrottled loopback sending reaches), the daemon's peak RSS stays under a stated
bound, and UDP messages arriving meanwhile are dropped and counted on the input. With
full: drop the TCP sender is not stalled and the output counts what it dropped. The byte
bound (queue.memory_bytes) fills the queue before its message count does. A unix socket
input pauses like a stream: its (blocking) senders wait, nothing is dropped, and everything
arrives once the receiver reads again. Only the inputs routed to the full output pause:
another input on the same worker thread goes on.
"""

import errno
import socket
import threading
import time

import pytest

import sender

from relutil import asan_env, load, peak_rss_kib, rss_kib, sanitized, stats
from tlslogd import T, config, file_output, poll, read_lines, tcp_input, udp_input, unix_input

# Stalls and memory measured over seconds: the tests run alone, after the parallel ones
# (tests/e2e/run-suite), so that other tests' load does not decide them.
pytestmark = pytest.mark.serial

STALL_SECONDS = 5
STALL_BYTES_BOUND = 64 << 20   # a stalled sender: kernel buffers + 1000 queued messages
RSS_BOUND_MIB = 100            # the daemon's VmHWM (x3 + 64 under ASan)


class BlackHole:
    """Accepts TCP connections and never reads (small receive buffer); close() ends it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop = True
        self.t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def blackhole():
    b = BlackHole()
    yield b
    b.close()


def conf(port, full, **queue):
    q = {"memory_messages": 1000, "full": full, "drain_timeout": "1s"}
    q.update(queue)
    return config([tcp_input("feed"), udp_input("udp")],
                  [dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % port],
                        transport="tcp", reconnect_min="100ms", reconnect_max="500ms",
                        queue=q)])


def blast(port, seconds):
    """Writes as fast as it can on a non-blocking socket for `seconds`; returns (total bytes
    the kernel accepted, bytes accepted in the last 2 s)."""
    chunk = load("bp", 0, 1000)  # ~77 KB of numbered lines, sent over and over
    s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    s.setblocking(False)
    total, marks = 0, []
    t0 = time.monotonic()
    off = 0
    try:
        while True:
            now = time.monotonic()
            if now - t0 >= seconds:
                break
            marks.append((now, total))
            try:
                n = s.send(memoryview(chunk)[off:])
                total += n
                off = (off + n) % len(chunk)
            except BlockingIOError:
                time.sleep(0.002)
            except OSError as e:
                if e.errno != errno.EAGAIN:
                    raise
                time.sleep(0.002)
    finally:
        s.close()
    end = time.monotonic()
    before = [b for (t, b) in marks if t <= end - 2]
    return total, total - (before[-1] if before else 0)


def bound_kib():
    return (RSS_BOUND_MIB if not sanitized() else RSS_BOUND_MIB * 3 + 64) * 1024


def test_full_block_stalls_tcp_sender_and_drops_udp(daemon, blackhole):
    d = daemon(conf(blackhole.port, "block"), name="bp", env=asan_env())
    d.nonzero_exit_ok = True  # it may exit non-zero at teardown with undeliverable messages
    poll(lambda: blackhole.conns, T(10), "the daemon to connect to the black hole")
    base = rss_kib(d)
    total, last2 = blast(d.port("feed"), STALL_SECONDS)
    # the stall holds: UDP meanwhile cannot be queued and is dropped and counted
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(2000):
        u.sendto(b"<13>1 2026-01-01T00:00:00Z h udp - - - bpudp seq=%08d" % i,
                 ("127.0.0.1", d.port("udp")))
        if i % 100 == 99:
            time.sleep(0.005)
    u.close()
    time.sleep(0.5)
    st = stats(d, want=["output fwd", "input udp", "input feed"])
    peak = peak_rss_kib(d)
    msg = ("full: block: TCP sender got %.1f MiB into the kernel in %ds, %.3f MiB in the last 2 s;"
           " daemon RSS at start %d KiB, peak %d KiB (bound %d KiB); counters %s" % (
               total / 1048576, STALL_SECONDS, last2 / 1048576, base, peak, bound_kib(), st))
    print("\n" + msg)
    assert total < STALL_BYTES_BOUND, msg
    assert last2 < (1 << 20), "the sender was still moving data at the end: " + msg
    assert peak < bound_kib(), msg
    assert st["input udp"].get("dropped_queue_full", 0) > 0, msg
    assert st["output fwd"].get("dropped_queue_full", 0) == 0, msg


def test_full_drop_does_not_stall_and_counts(daemon, blackhole):
    d = daemon(conf(blackhole.port, "drop"), name="bp", env=asan_env())
    d.nonzero_exit_ok = True
    poll(lambda: blackhole.conns, T(10), "the daemon to connect to the black hole")
    n = 500000  # ~39 MB: more than the loopback socket buffers hold, so a stall would show
    data = load("bpdrop", 0, n)
    s = socket.create_connection(("127.0.0.1", d.port("feed")), timeout=T(20))
    t0 = time.monotonic()
    try:
        s.sendall(data)  # stalled sender: socket.timeout after T(20)
    finally:
        s.close()
    took = time.monotonic() - t0

    def counted():
        st = stats(d, want=["output fwd", "input feed"])
        return st if st["input feed"].get("received", 0) >= n else None
    st = poll(counted, T(20), "the daemon to read all %d messages" % n, interval=0.3)
    peak = peak_rss_kib(d)
    msg = ("full: drop: %d messages (%.1f MiB) sent in %.2fs; peak RSS %d KiB (bound %d KiB); "
           "counters %s" % (n, len(data) / 1048576, took, peak, bound_kib(), st))
    print("\n" + msg)
    assert st["output fwd"].get("dropped_queue_full", 0) > 0, msg
    assert st["output fwd"]["dropped_queue_full"] <= n, msg
    assert peak < bound_kib(), msg


def test_memory_bytes_fills_the_queue_before_memory_messages(daemon, blackhole):
    """memory_messages 1,000,000 would take all 200,000 messages sent; memory_bytes 1MiB
    (each ~80-byte message counts its ~150-byte struct too) holds a few thousand, so the
    rest is dropped and counted, and the queue never holds more than 1 MiB / 150 bytes."""
    d = daemon(conf(blackhole.port, "drop", memory_messages=1000000, memory_bytes="1MiB"),
               name="bp", env=asan_env())
    d.nonzero_exit_ok = True
    poll(lambda: blackhole.conns, T(10), "the daemon to connect to the black hole")
    n = 200000
    s = socket.create_connection(("127.0.0.1", d.port("feed")), timeout=T(20))
    try:
        s.sendall(load("bpbytes", 0, n))
    finally:
        s.close()

    def counted():
        st = stats(d, want=["output fwd", "input feed"])
        return st if st["input feed"].get("received", 0) >= n else None
    st = poll(counted, T(20), "the daemon to read all %d messages" % n, interval=0.3)
    fwd = st["output fwd"]
    msg = "memory_bytes 1MiB: counters %s" % st
    print("\n" + msg)
    assert fwd.get("dropped_queue_full", 0) > 0, msg
    assert fwd["queued"] <= (1 << 20) // 150, msg
    # what was not dropped is queued, written or held by the stalled connection
    assert fwd["dropped_queue_full"] + fwd["queued"] + fwd.get("written", 0) <= n, msg


class SlowSink:
    """Accepts one TCP connection, reads nothing until go() is called, then reads and
    counts LF-terminated lines holding marker."""

    def __init__(self, marker):
        self.marker = marker.encode()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.reading = threading.Event()
        self.stop = False
        self.seqs = []
        self.connected = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        self.sock.settimeout(0.2)
        conn = None
        while not self.stop and conn is None:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
        if conn is None:
            return
        self.connected.set()
        while not self.stop and not self.reading.wait(0.1):
            pass
        conn.settimeout(0.2)
        rest = b""
        while not self.stop:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for ln in lines:
                if self.marker in ln:
                    self.seqs.append(int(ln.rsplit(b"seq=", 1)[1][:8]))
        conn.close()

    def close(self):
        self.stop = True
        self.t.join(5)
        self.sock.close()


def test_full_block_holds_unix_senders_and_loses_nothing(daemon, tmp_path):
    sink = SlowSink("uxbp")
    try:
        path = tmp_path / "log.sock"
        c = config([unix_input("local", path)],
                   [dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % sink.port],
                         transport="tcp", queue={"memory_messages": 1000, "full": "block"})])
        d = daemon(c, name="bpux", env=asan_env())
        assert sink.connected.wait(T(10)), "the daemon did not connect to the sink"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect(str(path))
        s.settimeout(T(2))  # a blocking sender; held back, it times out
        pad = b"x" * 150
        sent = 0
        try:
            for i in range(200000):
                s.send(b"<13>1 2026-01-01T00:00:00Z h app - - - uxbp seq=%08d %s" % (i, pad))
                sent += 1
        except socket.timeout:
            pass
        finally:
            s.close()
        st = stats(d, want=["input local", "output fwd"])
        msg = "unix sender got %d datagrams in before it was held; counters %s" % (sent, st)
        print("\n" + msg)
        assert sent < 200000, "the unix sender was never held back: " + msg
        assert st["input local"].get("dropped_queue_full", 0) == 0, msg
        sink.reading.set()
        poll(lambda: len(sink.seqs) >= sent, T(20),
             "the sink to receive all %d messages" % sent, interval=0.1)
        assert sorted(sink.seqs) == list(range(sent)), "lost or duplicated: " + msg
    finally:
        sink.close()


def test_full_output_pauses_only_the_inputs_routed_to_it(daemon, blackhole, tmp_path):
    """One worker thread, two TCP inputs: `stuck` feeds a forward output whose receiver
    never reads (full: block), `free` feeds a file. Once the stuck input is stalled, the
    free one's messages still arrive, on the same thread."""
    out = tmp_path / "free.log"
    c = config([tcp_input("stuck"), tcp_input("free")],
               [dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % blackhole.port],
                     transport="tcp", queue={"memory_messages": 1000, "full": "block",
                                             "drain_timeout": "1s"}),
                file_output("file", out)],
               routes=[{"from": "stuck", "to": "fwd"}, {"from": "free", "to": "file"}],
               workers=1)
    d = daemon(c, name="bpiso", env=asan_env())
    d.nonzero_exit_ok = True
    poll(lambda: blackhole.conns, T(10), "the daemon to connect to the black hole")
    total, last2 = blast(d.port("stuck"), STALL_SECONDS)
    assert last2 < (1 << 20), "the stuck input was not stalled (%d bytes in the last 2 s)" % last2
    n = 2000
    sender.send_tcp(d.port("free"), load("bpfree", 0, n), graceful=True)
    d.wait_file_lines(out, n, timeout=T(15))
    lines = read_lines(out)
    assert len(lines) == n and all(b"bpfree seq=" in ln for ln in lines), lines[:3]
    st = stats(d, want=["output fwd", "input free"])
    assert st["input free"]["received"] == n, st
