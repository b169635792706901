"""Helpers for the connection-limit tests (test_limits.py, test_emfile.py,
test_second_instance.py, test_plain_refuses_tls.py, test_truncation.py): what /proc says about
a process, anonymous TLS clients from a chosen source address, raw senders that stop in the
middle of a line.

Bad peers connect from 127.0.0.2 (all of 127/8 is loopback here), good ones from 127.0.0.1.
"""

import os
import socket
import ssl

from tlsneg_util import stat, stats_line  # noqa: F401  (re-exported)
from tlslogd import T

BAD_IP = "127.0.0.2"
GOOD_IP = "127.0.0.1"

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / _TICKS


def status_kib(pid, field):
    """A kB field of /proc/PID/status: VmRSS (now) or VmHWM (peak)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def anon_ctx():
    """A TLS client context that presents no certificate and verifies nothing (an anonymous
    client, as an attacker would be)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tcp_from(port, source=None, timeout=None, host=GOOD_IP):
    """A TCP connection to host:port from source (an address of 127/8), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout or T(10))
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def tls_from(port, source=None, ctx=None, timeout=None):
    """A TLS connection (handshake done) from source; raises when the server refuses it."""
    raw = tcp_from(port, source, timeout)
    try:
        return (ctx or anon_ctx()).wrap_socket(raw)
    except Exception:
        raw.close()
        raise


def closed_by_peer(s, timeout):
    """True when the peer closes s (EOF, reset, or a TLS close) within timeout; False when it
    is still open then. Reads and drops anything else."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
