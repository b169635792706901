"""Loopback port helpers: free_port(), start_on_free_port() (retry on a clash), wait_port()
(connects) and wait_listening() (reads /proc/net/tcp*, never touches the listener -- use it for
TLS servers, where a probe connection shows up as a handshake error in their logs)."""

import errno
import os
import socket
import time

from .procs import T, Timeout


class PortClash(Exception):
    """Raised by a start function when its port turned out to be taken."""


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    """A port that was free on host a moment ago (bind port 0, read it, close)."""
    with socket.socket(_family(host), kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port, host="127.0.0.1"):
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def start_on_free_port(start, attempts=5, host="127.0.0.1"):
    """Calls start(port) with a fresh free port until it does not raise PortClash (another
    process grabbed the port between our probe and the server's bind). Returns start's result."""
    last = None
    for _ in range(attempts):
        port = free_port(host)
        try:
            return start(port)
        except PortClash as e:
            last = e
    raise PortClash("no free port after %d attempts: %s" % (attempts, last))


def wait_port(host, port, timeout=None):
    """Polls until a TCP connect to host:port succeeds (bounded). The probe connects and closes."""
    timeout = timeout or T(10)
    end = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            pass
        if time.monotonic() >= end:
            raise Timeout("nothing accepts on %s:%d after %.1fs" % (host, port, timeout))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _listen_inodes():
    """{port: set(socket inodes)} for TCP sockets in state LISTEN (IPv4 and IPv6)."""
    out = {}
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == "0A":
                        port = int(parts[1].rsplit(":", 1)[1], 16)
                        out.setdefault(port, set()).add(parts[9])
        except FileNotFoundError:
            pass
    return out


def listening_ports():
    """The set of TCP ports in state LISTEN on this host (IPv4 and IPv6), from /proc/net."""
    return set(_listen_inodes())


def _socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def listens(port, pid=None):
    """True if something (pid itself, when given) listens on TCP port."""
    inodes = _listen_inodes().get(port)
    if not inodes:
        return False
    return pid is None or bool(inodes & _socket_inodes(pid))


def wait_listening(port, timeout=None, proc=None, clash=None):
    """Polls /proc/net/tcp{,6} until something listens on TCP port (any address) -- with proc
    (a procs.Proc), until that very process does (a port clash with another process is not
    mistaken for success). If proc exits meanwhile, raises at once with its log.
    clash: optional callable returning True when the process reported its port taken
    (e.g. 'Address already in use' in its log) -> PortClash at once."""
    timeout = timeout or T(10)
    end = time.monotonic() + timeout
    delay = 0.01
    pid = proc.pid if proc is not None else None
    while True:
        if listens(port, pid):
            return True
        if clash is not None and clash():
            raise PortClash("port %d is taken (%s)" % (port, proc.name if proc else "?"))
        if proc is not None and not proc.alive():
            raise Timeout("%s exited (status %s) before listening on %d; log:\n%s"
                          % (proc.name, proc.proc.poll() if proc.proc else None, port,
                             proc.log_tail()))
        if time.monotonic() >= end:
            extra = ""
            if proc is not None:
                if listens(port):
                    extra = " (another process holds the port: a clash)"
                extra += "; log:\n" + proc.log_tail()
            raise Timeout("%s does not listen on port %d after %.1fs%s"
                          % (proc.name if proc is not None else "nothing", port, timeout, extra))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
