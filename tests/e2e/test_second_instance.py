"""A second tlslogd must not silently share an address with a running one (issue 11, point 2).

Its per-worker listeners use SO_REUSEPORT, which used to let a second daemon with the same
configuration join the first's group: the kernel then split connections and datagrams between
the two and neither said a word. Now the second one fails to start with "address already in
use", as when any other program holds the port, and the first keeps receiving everything. A
unix socket served by a running process is not deleted ("socket in use by a running
process"); a stale socket file, whose process is gone, is still replaced.
"""

import os
import socket
import subprocess

import pytest

import sender
from limits_util import anon_ctx
from tlsconf import pki, server_tls  # noqa: F401  (pki is a fixture)
from tlslogd import T, config, file_output, read_lines, unix_input

N = 6


def listen_conf(transport, port, out, pki=None):  # noqa: F811
    inp = dict(name="in", transport=transport, listen="127.0.0.1:%d" % port)
    if transport == "tls":
        inp["tls"] = server_tls(pki, auth="anon")
    return config([inp], [file_output("o", out, format="raw")], workers=2)


def start_refused(daemon, conf, name):
    """Starts a daemon that must exit at start-up; returns its log."""
    d = daemon(conf, name=name, start=False)
    d.nonzero_exit_ok = True
    d.start(wait=False)
    try:
        rc = d.proc.wait(T(20))
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not refuse to start; log:\n%s" % (name, d.log_tail()))
    assert rc == 1, "%s exited with %s; log:\n%s" % (name, rc, d.log_tail())
    return d.log_text()


def send(transport, port, i):
    msg = b"<13>second-instance %d" % i
    if transport == "udp":
        sender.send_udp(port, [msg])
    elif transport == "tcp":
        sender.send_tcp(port, msg + b"\n", graceful=True)
    else:
        with anon_ctx().wrap_socket(sender.tcp_connect(port)) as s:
            s.sendall(msg + b"\n")
            s.unwrap().close()
    return msg


@pytest.mark.parametrize("transport", ["tcp", "tls", "udp"])
def test_second_daemon_on_same_port_is_refused(daemon, tmp_path, pki, transport):  # noqa: F811
    out1 = tmp_path / "first.log"
    first = daemon(listen_conf(transport, 0, out1, pki), name="first")
    port = first.port("in")
    log = start_refused(daemon, listen_conf(transport, port, tmp_path / "second.log", pki),
                        "second")
    assert ("input in: cannot listen on 127.0.0.1 port %d (%s): Address already in use; "
            "another program (perhaps another tlslogd) uses that port" % (port, transport)) in log, log
    # Every message, on connections or datagrams of their own, reaches the first daemon.
    sent = [send(transport, port, i) for i in range(N)]
    first.wait_file_lines(out1, N)
    assert first.stop() == 0
    assert sorted(read_lines(out1)) == sorted(sent)
    assert not (tmp_path / "second.log").exists()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_port_held_with_reuseport_by_another_program(daemon, tmp_path, transport):
    """Another program that uses SO_REUSEPORT (as tlslogd does) does not let us in either."""
    typ = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    other = socket.socket(socket.AF_INET, typ)
    try:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        if transport == "tcp":
            other.listen(8)
        port = other.getsockname()[1]
        log = start_refused(daemon, listen_conf(transport, port, tmp_path / "o.log"), "d")
        assert "cannot listen on 127.0.0.1 port %d (%s): Address already in use" % (
            port, transport) in log, log
        # What is sent there still goes to the program that holds the port.
        if transport == "udp":
            sender.send_udp(port, [b"<13>to the other program"])
            other.settimeout(T(5))
            assert other.recv(100) == b"<13>to the other program"
    finally:
        other.close()


def test_unix_socket_of_running_daemon_is_kept(daemon, tmp_path):
    path = tmp_path / "log.sock"
    out1 = tmp_path / "first.log"
    first = daemon(config([unix_input("ux", path)], [file_output("o", out1, format="raw")]),
                   name="first")
    ino = os.stat(path).st_ino
    log = start_refused(daemon, config([unix_input("ux", path)],
                                       [file_output("o", tmp_path / "second.log",
                                                    format="raw")]), "second")
    assert ("input ux: cannot bind unix socket '%s': socket in use by a running process "
            "(another tlslogd, or a syslog daemon?); stop it or change 'path'" % path) in log, log
    # The second one neither replaced nor removed the socket (not even when it exited).
    assert os.stat(path).st_ino == ino
    msgs = [b"<13>unix %d" % i for i in range(N)]
    sender.send_unix_dgram(path, msgs)
    first.wait_file_lines(out1, N)
    assert first.stop() == 0
    assert read_lines(out1) == msgs


def test_stale_unix_socket_is_replaced(daemon, tmp_path):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody serves it: what a killed daemon leaves behind
    assert path.exists()
    out = tmp_path / "out.log"
    d = daemon(config([unix_input("ux", path)], [file_output("o", out, format="raw")]))
    d.wait_log(r"input ux: replacing '%s', a socket no process serves any more" % path)
    sender.send_unix_dgram(path, [b"<13>after stale"])
    d.wait_file_lines(out, 1)
    assert d.stop() == 0
    assert read_lines(out) == [b"<13>after stale"]
    assert not path.exists()  # removed at a clean stop, as before
