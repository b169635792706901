"""Helpers for the reliability tests (tests/e2e/test_reliability_*.py): numbered load with a
checkable payload, a checker that reports missing and duplicate numbers, a background TCP
feeder, SIGUSR1 counters, peak RSS, RELP/TLS configs for tlslogd -> tlslogd and disk queue
segment files.

    blob = load("m", 0, 1000)                  # LF-framed RFC 5424 lines "... m seq=00000000 <hex> end"
    f = Feeder(port, blob).start(); f.join(T(30))
    r = tally(path, "m", 1000)                 # r.missing, r.dups (Counter of seq -> extra copies)
    st = stats(d)                              # {"output fwd": {"written": .., ...}, "input feed": {...}}
    peak_rss_kib(d)                            # VmHWM of the daemon process

Every wait is bounded; every process is stopped by PID (the `daemon` fixture).
"""

import os
import re
import struct
import threading
import time
from collections import Counter
from pathlib import Path

import sender
from tlsconf import CLIENT_NAME, forward_output, server_tls, tls_block
from tlslogd import T, poll, stats_report

# ---------------------------------------------------------------------------------------------
# Numbered load

def _check(i):
    return "%08x" % ((i * 2654435761) & 0xFFFFFFFF)


def line(marker, i, pad=0):
    """One LF-terminated RFC 5424 line carrying 'MARKER seq=NNNNNNNN CHECK [pad] end'."""
    body = "%s seq=%08d %s %send" % (marker, i, _check(i), ("p" * pad + " ") if pad else "")
    return ("<13>1 2026-01-01T00:00:00Z feeder.test rel - - - %s\n" % body).encode()


def load(marker, start, n, pad=0):
    """Messages start .. start+n-1 as one blob (LF framing, for a tcp input)."""
    return b"".join(line(marker, i, pad) for i in range(start, start + n))


class Tally:
    def __init__(self, marker, n, counts, corrupt):
        self.marker, self.n, self.counts, self.corrupt = marker, n, counts, corrupt
        self.missing = [i for i in range(n) if counts.get(i, 0) == 0]
        self.dups = {i: c - 1 for i, c in counts.items() if c > 1}
        self.unexpected = sorted(i for i in counts if i >= n or i < 0)

    @property
    def ndups(self):
        return sum(self.dups.values())

    @property
    def distinct(self):
        return sum(1 for i in self.counts if 0 <= i < self.n)

    def summary(self):
        return ("%s: %d expected, %d distinct arrived, %d missing (ranges %s), %d duplicate copies "
                "(of %d messages; first %s), %d corrupt, %d unexpected" % (
                    self.marker, self.n, self.distinct, len(self.missing), missing_ranges(self),
                    self.ndups, len(self.dups), sorted(self.dups)[:10], len(self.corrupt),
                    len(self.unexpected)))

    def assert_none_lost(self, allow_dups=True):
        assert not self.corrupt, "corrupt records: %r\n%s" % (self.corrupt[:3], self.summary())
        assert not self.unexpected, self.summary()
        assert not self.missing, self.summary()
        if not allow_dups:
            assert not self.dups, self.summary()


def tally(path, marker, n):
    """Counts every 'MARKER seq=N CHECK' in the file (any format that keeps the message text:
    raw, json, rfc5424); checks CHECK. Partial last lines are ignored."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        data = b""
    data = data[:data.rfind(b"\n") + 1]
    counts = Counter()
    corrupt = []
    pat = re.compile(rb"%s seq=(\d{8}) ([0-9a-f]{8}) " % re.escape(marker.encode()))
    for m in pat.finditer(data):
        i = int(m.group(1))
        if m.group(2).decode() != _check(i):
            corrupt.append(m.group(0))
            continue
        counts[i] += 1
    nmark = data.count(marker.encode() + b" seq=")
    if nmark != sum(counts.values()) + len(corrupt):
        corrupt.append(b"%d marker occurrences, %d parsed" % (nmark, sum(counts.values())))
    return Tally(marker, n, counts, corrupt)


def count_marker(path, marker):
    """Cheap count of complete lines holding marker (for waiting on large files)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    data = data[:data.rfind(b"\n") + 1]
    return data.count(marker.encode() + b" seq=")


def wait_count(path, marker, n, timeout, alive=(), what=None):
    """Waits (bounded) until at least n messages with marker are in path; alive: daemons whose
    death fails the wait at once."""
    holder = {}

    def enough():
        c = count_marker(path, marker)
        holder["n"] = c
        if c >= n:
            return c
        for d in alive:
            d.check_alive("waiting for %d %r in %s" % (n, marker, path))
        return None
    try:
        return poll(enough, timeout, what or "%d %r messages in %s" % (n, marker, path),
                    max_interval=0.05)
    except AssertionError as e:
        raise AssertionError("%s (have %s)%s" % (e, holder.get("n"), "".join(
            "\n--- %s log:\n%s" % (d.name, d.log_tail(30)) for d in alive)))


def wait_distinct(path, marker, n, timeout, alive=(), stall=None):
    """Waits until every one of the n numbered messages arrived (duplicates do not count), at
    most timeout seconds, or until the count of marker lines has not grown for `stall`
    seconds (default T(8)); returns the final Tally (the caller asserts on it)."""
    stall = stall or T(8)
    now = time.monotonic()
    dl, last_change, last = now + timeout, now, -1
    while True:
        c = count_marker(path, marker)
        now = time.monotonic()
        if c != last:
            last, last_change = c, now
        if c >= n:
            t = tally(path, marker, n)
            if not t.missing:
                return t
        for d in alive:
            d.check_alive("waiting for all %d %r in %s" % (n, marker, path))
        if now >= dl or now - last_change >= stall:
            return tally(path, marker, n)
        time.sleep(0.25)


def missing_ranges(t, limit=8):
    """'a-b, c-d, ...' of the missing numbers of Tally t."""
    r, m = [], t.missing
    if not m:
        return ""
    s = p = m[0]
    for x in m[1:]:
        if x != p + 1:
            r.append((s, p))
            s = x
        p = x
    r.append((s, p))
    return ", ".join("%d-%d" % x if x[0] != x[1] else "%d" % x[0] for x in r[:limit]) + (
        " ..." if len(r) > limit else "")


# ---------------------------------------------------------------------------------------------
# Feeding

class Feeder(threading.Thread):
    """Sends a blob over one TCP connection in a background thread (sendall in 256 KiB pieces,
    at most `rate` bytes per second when given), then closes gracefully (waits for the daemon
    to close its side, i.e. to have read it all). .sent: bytes the kernel accepted so far;
    .error: the exception, if any; .done."""

    def __init__(self, port, data, host="127.0.0.1", timeout=None, graceful=True, rate=None):
        super().__init__(daemon=True)
        self.rate = rate
        self.port, self.data, self.host = port, data, host
        self.timeout = timeout or T(60)
        self.graceful = graceful
        self.sent = 0
        self.error = None
        self.done = False

    def start(self):
        super().start()
        return self

    def run(self):
        try:
            s = sender.tcp_connect(self.port, self.host, timeout=self.timeout)
            try:
                mv = memoryview(self.data)
                step = 1 << 18
                t0 = time.monotonic()
                for off in range(0, len(mv), step):
                    if self.rate:
                        ahead = off / self.rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
                    s.sendall(mv[off:off + step])
                    self.sent = min(len(mv), off + step)
            finally:
                if self.graceful:
                    sender.close_graceful(s, timeout=self.timeout)
                else:
                    s.close()
            self.done = True
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self, timeout):
        """Joins (bounded); asserts the whole blob was sent."""
        self.join(timeout)
        assert not self.is_alive(), "feeder to port %d still sending after %.0fs (%d of %d bytes" \
            " sent)" % (self.port, timeout, self.sent, len(self.data))
        assert self.error is None and self.done, "feeder to port %d failed after %d of %d bytes:" \
            " %r" % (self.port, self.sent, len(self.data), self.error)


def feed(port, data, timeout=None):
    f = Feeder(port, data, timeout=timeout).start()
    f.finish((timeout or T(60)) + 5)


# ---------------------------------------------------------------------------------------------
# Counters and memory

_STATS_RE = re.compile(r"stats: (input|output) (\S+): (.*)$", re.M)


def parse_stats(text):
    """{"output NAME": {key: int}, "input NAME": {...}} from the last stats lines in text."""
    out = {}
    for m in _STATS_RE.finditer(text):
        kv = {}
        for part in m.group(3).split():
            if "=" in part:
                k, v = part.split("=", 1)
                try:
                    kv[k] = int(v)
                except ValueError:
                    kv[k] = v
        out["%s %s" % (m.group(1), m.group(2))] = kv
    return out


def stats(d, want=(), timeout=None):
    """Sends SIGUSR1 and returns the counters logged in response (only the lines of that
    signal's report: tlslogd.stats_report). want: keys ("output fwd") that must all be
    present."""
    def ready(text):
        st = parse_stats(text)
        return st and all(w in st for w in want)
    text = stats_report(d, ready, timeout or T(10),
                        "stats lines %s from %s after SIGUSR1" % (list(want), d.name),
                        rest=0.1)  # the rest of the report
    return parse_stats(text)


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])
    return None


def peak_rss_kib(d):
    return proc_status(d.proc.pid, "VmHWM")


def rss_kib(d):
    return proc_status(d.proc.pid, "VmRSS")


def sanitized():
    import tlslogd
    return tlslogd._is_sanitized(tlslogd.BINARY)


def asan_env():
    """A small ASan quarantine so that RSS measurements under ASan mean something."""
    base = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    return {"ASAN_OPTIONS": base + ":quarantine_size_mb=16:malloc_context_size=5"}


# ---------------------------------------------------------------------------------------------
# tlslogd <-> tlslogd over RELP/TLS

def relp_input(pki, port=0, name="relp-in", tls=True):
    d = dict(name=name, transport="relp", listen="127.0.0.1:%d" % port)
    if tls:
        d["tls"] = server_tls(pki, cert=pki.server, auth="name", permitted_peers=[CLIENT_NAME])
    return d


def relp_forward(pki, port, name="fwd", tls=True, **kw):
    kw.setdefault("reconnect_min", "100ms")
    kw.setdefault("reconnect_max", "500ms")
    t = tls_block(ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key) if tls else None
    return forward_output(name, port, transport="relp", tls=t, **kw)


# ---------------------------------------------------------------------------------------------
# Disk queue files (src/queue/disk.h, format 2: a "TLDQSEG2" u64 N header, then records of
# u32 magic "LDRQ", u32 length, u32 sequence number, u32 CRC-32C, payload; a marker "LDRS" with
# length 0 may follow the records)

SEG_HEADER = 16
REC_HEADER = 16
REC_MAGIC = b"LDRQ"
MARK_MAGIC = b"LDRS"


def segments(qdir):
    return sorted(Path(qdir).glob("seg-*.q"))


def segment_records(path):
    """[(offset, length, seq)] of the complete records in a segment file, in order (the CRC is
    not checked: the tests damage files on purpose and read them back as they are)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"TLDQSEG2", "not a segment: %s %r" % (path, data[:16])
    out, off = [], SEG_HEADER
    while off + REC_HEADER <= len(data):
        magic = data[off:off + 4]
        n, seq, _crc = struct.unpack_from("<III", data, off + 4)
        if magic == MARK_MAGIC:
            off += REC_HEADER
            continue
        assert magic == REC_MAGIC, "no record at offset %d of %s: %r" % (
            off, path, data[off:off + REC_HEADER])
        if off + REC_HEADER + n > len(data):
            break
        out.append((off, n, seq))
        off += REC_HEADER + n
    return out
