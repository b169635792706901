"""Feeding senders through their local input, and checking what a receiver wrote.

    feed = UnixDgramFeed(path); feed.send(msgs)        # RFC 3164 datagrams, like logger -u
    logger_send(path, msgs)                            # the same through util-linux logger
    TcpFeed(port).send(msgs)                           # LF-framed plain TCP on loopback
    msgs = numbered("rs2sng", 50)                      # ['rs2sng seq=0000 x...', ...]
    out = OutputFile(path); out.wait_marker("rs2sng", 50); check_numbered(out.lines(), "rs2sng", 50)
"""

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .procs import T, Timeout, wait_for

LOGGER = shutil.which("logger") or "/usr/bin/logger"


def numbered(marker, n, pad=40):
    """n distinct messages 'MARKER seq=NNNN <payload>'; the payload is derived from seq so that
    corruption is detectable (check_numbered verifies it). marker: [A-Za-z0-9_-]+."""
    assert re.match(r"^[A-Za-z0-9_-]+$", marker), marker
    return ["%s seq=%04d %s" % (marker, i, _payload(i, pad)) for i in range(n)]


def _payload(i, pad):
    base = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(base[(i * 7 + k) % len(base)] for k in range(pad)) + " end"


def check_numbered(lines, marker, n, pad=40, exact=False):
    """Asserts that lines (str or bytes) contain each 'MARKER seq=i payload' for 0 <= i < n
    exactly once, intact, and nothing else bearing the marker. Other lines are ignored.
    exact=True: each such line, stripped of surrounding whitespace, is exactly the message
    (for receivers writing just the MSG part)."""
    seen = {}
    pat = re.compile(r"%s seq=(\d{4}) (\S+ end)" % re.escape(marker))
    for l in lines:
        if isinstance(l, bytes):
            l = l.decode("utf-8", "replace")
        if marker not in l:
            continue
        m = pat.search(l)
        assert m, "mangled line: %r" % l
        i = int(m.group(1))
        assert i < n, "unexpected seq %d in %r" % (i, l)
        assert m.group(2) == _payload(i, pad), "corrupted payload: %r" % l
        if exact:
            want = "%s seq=%04d %s" % (marker, i, _payload(i, pad))
            assert l.strip() == want, "line %r is not exactly %r" % (l, want)
        assert i not in seen, "duplicate seq %d: %r and %r" % (i, seen[i], l)
        seen[i] = l
    missing = [i for i in range(n) if i not in seen]
    assert not missing, "%d of %d messages missing (first: %s)" % (len(missing), n, missing[:10])
    return seen


def rfc3164(msg, tag="selfcheck", pri=13, hostname=None):
    t = time.localtime()
    ts = "%s %2d %s" % (time.strftime("%b", t), t.tm_mday, time.strftime("%H:%M:%S", t))
    host = (hostname + " ") if hostname else ""
    return "<%d>%s %s%s: %s" % (pri, ts, host, tag, msg)


class UnixDgramFeed:
    """Sends messages as datagrams to a unix datagram socket (rsyslog imuxsock Socket=...,
    syslog-ng unix-dgram()), one RFC 3164 record each (no hostname, like logger -u)."""

    def __init__(self, path, tag="selfcheck", pri=13):
        self.path = str(path)
        self.tag = tag
        self.pri = pri

    def wait_ready(self, timeout=None):
        wait_for(lambda: Path(self.path).exists(), timeout or T(10), "socket %s" % self.path)
        return self

    def send(self, msgs, interval=0.0):
        self.wait_ready()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.settimeout(T(10))
            for m in msgs:
                data = rfc3164(m, self.tag, self.pri).encode()
                for attempt in range(200):  # receiver buffer full: retry, bounded
                    try:
                        s.sendto(data, self.path)
                        break
                    except (BlockingIOError, ConnectionRefusedError):
                        time.sleep(0.01)
                    except OSError as e:
                        if e.errno != 11:  # EAGAIN
                            raise
                        time.sleep(0.01)
                else:
                    raise Timeout("cannot send to %s" % self.path)
                if interval:
                    time.sleep(interval)


def logger_send(path, msgs, tag="selfcheck", timeout=None):
    """util-linux logger -u PATH, one message per input line (single process)."""
    r = subprocess.run([LOGGER, "-u", str(path), "-t", tag, "--socket-errors=on"],
                       input=("\n".join(msgs) + "\n").encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout or T(20))
    if r.returncode != 0:
        raise RuntimeError("logger failed: %s" % r.stderr.decode(errors="replace"))


class TcpFeed:
    """Plain TCP on loopback, one LF-terminated RFC 3164 record per message; closes gracefully."""

    def __init__(self, port, host="127.0.0.1", tag="selfcheck", pri=13):
        self.port, self.host, self.tag, self.pri = port, host, tag, pri

    def send(self, msgs):
        data = "".join(rfc3164(m, self.tag, self.pri) + "\n" for m in msgs).encode()
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(T(10))
            s.connect((self.host, self.port))
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass


class OutputFile:
    """A receiver's output file (one message per line)."""

    def __init__(self, path):
        self.path = Path(path)

    def lines(self):
        """Complete lines as str (a last line without '\\n' is still being written)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return data.decode("utf-8", "replace").split("\n")[:-1]

    def with_marker(self, marker):
        return [l for l in self.lines() if marker in l]

    def wait_marker(self, marker, n, timeout=None):
        """Waits (bounded) until at least n lines contain marker; returns those lines."""
        wait_for(lambda: len(self.with_marker(marker)) >= n, timeout or T(15),
                 "%d lines with %r in %s (have %d)" % (n, marker, self.path,
                                                      len(self.with_marker(marker))))
        return self.with_marker(marker)

    def stays_without(self, marker, seconds):
        """Waits `seconds` and asserts no line with marker appeared (for negative tests)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            got = self.with_marker(marker)
            assert not got, "unexpected lines with %r: %r" % (marker, got[:3])
            time.sleep(0.05)
        return True

    def __str__(self):
        return str(self.path)


def octet_frame(msg):
    """RFC 5425 / 6587 octet-counted frame of one message (str or bytes)."""
    if isinstance(msg, str):
        msg = msg.encode()
    return b"%d %s" % (len(msg), msg)


def parse_octet_frames(data):
    """Splits octet-counted frames; returns (messages, rest). Raises ValueError on garbage."""
    out, i = [], 0
    while i < len(data):
        sp = data.find(b" ", i)
        if sp < 0:
            break
        if not data[i:sp].isdigit():
            raise ValueError("bad frame header at %d: %r" % (i, data[i:i + 20]))
        n = int(data[i:sp])
        if sp + 1 + n > len(data):
            break
        out.append(data[sp + 1:sp + 1 + n])
        i = sp + 1 + n
    return out, data[i:]
