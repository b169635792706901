"""/dev/log and socket activation: a unix input taking over a /dev/log-like path (a socket
left by a syslog daemon that is gone), and `systemd_socket: true` taking the socket a
systemd-style launcher passes (LISTEN_FDS/LISTEN_PID, tests/e2e/sdactivate.py), as Debian's
syslog.socket hands /run/systemd/journal/syslog to a syslog daemon. Messages from util-linux
logger, checked at the output."""

import os
import socket
import sys
from pathlib import Path

import pytest

import sender
from tlslogd import T, config, file_output, poll, read_json_lines, unix_input

pytestmark = pytest.mark.peers("logger")
LAUNCHER = str(Path(__file__).parent / "sdactivate.py")
HOST = socket.gethostname()


def sent(path, tag, n):
    for i in range(n):
        sender.logger_unix(path, "-t", tag, "--id=%d" % (4000 + i), "-p", "auth.notice",
                           "%s line %d" % (tag, i))


def check(out, tag, n):
    poll(lambda: out.exists() and len(read_json_lines(out)) >= n, T(20), "%d lines" % n)
    js = read_json_lines(out)
    assert [j["msg"] for j in js] == ["%s line %d" % (tag, i) for i in range(n)], js
    for i, j in enumerate(js):
        assert j["app_name"] == tag and j["procid"] == str(4000 + i), j
        assert j["facility"] in ("auth", 4) and j["severity"] in ("notice", 5), j
        assert j["hostname"] in (HOST, HOST.split(".")[0]), j


def test_socket_activation(daemon, tmp_path):
    run = tmp_path / "run" / "systemd" / "journal"
    run.mkdir(parents=True)
    path = str(run / "syslog")
    out = tmp_path / "out.json"
    d = daemon(config([unix_input("syslog", path, systemd_socket=True)],
                      [file_output("o", out, format="json")]),
               wrap=[sys.executable, LAUNCHER, "--dgram", path, "--"], start=False)
    d.start()
    inode = os.stat(path).st_ino
    d.wait_log(r"input syslog: using the socket systemd passed for %s" % path)
    sent(path, "activated", 20)
    check(out, "activated", 20)
    assert d.stop() == 0
    # the socket is systemd's: tlslogd neither replaced nor removed it
    assert os.stat(path).st_ino == inode
    assert "listening on unix socket" not in d.log_text()


def test_systemd_socket_without_activation(daemon, tmp_path):
    path = str(tmp_path / "syslog")
    d = daemon(config([unix_input("syslog", path, systemd_socket=True)],
                      [file_output("o", tmp_path / "o.json")]), start=False)
    d.expect_paths = []
    d.nonzero_exit_ok = True
    d.start(wait=False)
    poll(lambda: not d.alive(), T(20), "tlslogd to refuse to start")
    assert d.proc.returncode != 0
    assert ("input syslog: systemd_socket is set but no datagram socket bound to '%s' was "
            "passed (LISTEN_FDS is not set for this process); start tlslogd from a .socket "
            "unit with ListenDatagram=%s" % (path, path)) in d.log_text(), d.log_text()
    assert not os.path.exists(path)


def test_devlog_takeover(daemon, tmp_path):
    """A unix input at dev/log replacing the socket a stopped syslog daemon left behind;
    logger writes to it as libc's syslog() does (RFC 3164 without a hostname)."""
    (tmp_path / "dev").mkdir()
    path = str(tmp_path / "dev" / "log")
    old = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    old.bind(path)
    old.close()  # the file stays, nobody serves it
    out = tmp_path / "out.json"
    d = daemon(config([unix_input("devlog", path)], [file_output("o", out, format="json")]))
    d.wait_log(r"input devlog: replacing '%s', a socket no process serves any more" % path)
    sent(path, "devlogtest", 20)
    check(out, "devlogtest", 20)
    assert d.stop() == 0
