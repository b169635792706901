"""Raw TCP/UDP/unix syslog senders and util-linux logger wrappers (loopback only)."""

import random
import shutil
import socket
import struct
import subprocess
import time

from tlslogd import T


def octet(msg):
    """RFC 6587 octet-counted frame."""
    return b"%d %s" % (len(msg), msg)


def lf(msg):
    return msg + b"\n"


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_connect(port, host="127.0.0.1", timeout=None, nodelay=False):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout or T(10))
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    return s


def close_graceful(s, timeout=None):
    """Half-closes, then waits (bounded) for the peer to close too, so that everything sent
    was read by the daemon before we drop the socket."""
    try:
        s.shutdown(socket.SHUT_WR)
        s.settimeout(timeout or T(10))
        for _ in range(10000):
            if not s.recv(65536):
                break
    except (OSError, socket.timeout):
        pass
    finally:
        s.close()


def send_tcp(port, data, host="127.0.0.1", graceful=False):
    s = tcp_connect(port, host)
    try:
        s.sendall(data)
    finally:
        if graceful:
            close_graceful(s)
        else:
            s.close()


def send_pieces(s, data, cuts):
    """Sends data split at the given sorted offsets, one send() per piece."""
    prev = 0
    for c in list(cuts) + [len(data)]:
        if c > prev:
            s.sendall(data[prev:c])
            prev = c


def random_cuts(data, n, seed):
    rnd = random.Random(seed)
    return sorted(set(rnd.randrange(1, len(data)) for _ in range(n))) if len(data) > 1 else []


def send_rst(s):
    """Closes abruptly: SO_LINGER 0 makes close() send RST."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def wait_closed_by_peer(s, timeout=None):
    """True when the peer closes the connection (EOF or RST) within timeout, reading and
    discarding anything it sends. False on timeout."""
    s.settimeout(timeout or T(10))
    try:
        for _ in range(10000):
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def send_udp(port, msgs, host="127.0.0.1", pace_every=50):
    """One datagram per message. Pauses briefly every pace_every datagrams so a slow
    (sanitizer) daemon's receive buffer never overflows (loss is not what we test)."""
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    try:
        for i, m in enumerate(msgs):
            s.sendto(m, (host, port))
            if pace_every and (i + 1) % pace_every == 0:
                time.sleep(0.01)
    finally:
        s.close()


def send_unix_dgram(path, msgs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for m in msgs:
            s.sendto(m, str(path))
    finally:
        s.close()


def have_logger():
    return shutil.which("logger") is not None


def logger(*args, input=None):
    """Runs util-linux logger with args (bounded); raises if it fails."""
    r = subprocess.run(["logger"] + [str(a) for a in args], input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(20))
    assert r.returncode == 0, "logger %s failed (%d): %s" % (
        " ".join(map(str, args)), r.returncode, r.stderr.decode(errors="replace"))
    return r


def logger_tcp(port, *args, host="127.0.0.1", octet_count=False):
    a = ["--tcp", "-n", host, "-P", port]
    if octet_count:
        a.append("--octet-count")
    return logger(*(a + list(args)))


def logger_udp(port, *args, host="127.0.0.1"):
    return logger(*(["--udp", "-n", host, "-P", port] + list(args)))


def logger_unix(path, *args):
    return logger(*(["--socket-errors=on", "-u", path] + list(args)))
