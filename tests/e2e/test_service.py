"""Running as a service (issue 15): sd_notify to NOTIFY_SOCKET (READY=1 once listening,
RELOADING=1 and READY=1 around SIGHUP, STOPPING=1), the pid_file (one instance per file),
the first log line naming the configuration, and the refusal to run as root with a
configuration another user can write."""

import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

import sender
import tlslogd
from tlslogd import (T, Deadline, config, file_output, poll, read_lines, run_cli, tcp_input,
                     to_yaml)


def msg(i):
    return b"<13>1 2026-01-01T00:00:00Z h app - - - service seq=%d" % i


class NotifySocket:
    """The service manager's end: a unix datagram socket (a path, or '@name': abstract)."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.got = []

    def wait_for(self, state, timeout):
        dl = Deadline(timeout)
        while not dl.expired():
            self.sock.settimeout(max(0.01, dl.left()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.got.append(data)
            if state in data.split("\n"):
                return data
        raise AssertionError("no %r from tlslogd within %ss; got %r" % (state, timeout, self.got))

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_sd_notify_sequence(daemon, tmp_path, kind):
    addr = str(tmp_path / "notify") if kind == "path" else "@tlslogd-test-%s" % uuid.uuid4().hex
    ns = NotifySocket(addr)
    out = tmp_path / "out.log"
    try:
        d = daemon(config([tcp_input("t")], [file_output("o", out, flush_interval="0")]),
                   env={"NOTIFY_SOCKET": addr}, start=False)
        d.start(wait=False)
        ready = ns.wait_for("READY=1", T(20))
        # READY=1 means listening: the port is in the port file and takes a connection now.
        d.wait_ready(T(5))
        assert ns.got == [ready], ns.got
        sender.send_tcp(d.port("t"), msg(1) + b"\n", graceful=True)
        d.wait_file_lines(out, 1)

        d.hup()
        reloading = ns.wait_for("RELOADING=1", T(10))
        m = re.search(r"^MONOTONIC_USEC=(\d+)$", reloading, re.M)
        assert m, reloading
        # CLOCK_MONOTONIC, microseconds (what systemd 253+ compares with its own clock).
        assert abs(int(m.group(1)) - int(time_monotonic_us())) < T(60) * 1e6
        ns.wait_for("READY=1", T(10))
        sender.send_tcp(d.port("t"), msg(2) + b"\n", graceful=True)
        d.wait_file_lines(out, 2)

        assert d.stop() == 0
        ns.wait_for("STOPPING=1", T(5))
        states = [l for g in ns.got for l in g.split("\n") if l.endswith("=1")]
        assert states == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], ns.got
        from tlslogd import read_lines
        assert read_lines(out) == [msg(1), msg(2)]
    finally:
        ns.close()


def time_monotonic_us():
    import time
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6


def test_notify_socket_unusable_is_said(daemon, tmp_path):
    """A NOTIFY_SOCKET nobody listens on: one warning, and tlslogd runs on."""
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("t")], [file_output("o", out, flush_interval="0")]),
               env={"NOTIFY_SOCKET": str(tmp_path / "nobody-here")})
    d.wait_log(r"warning sd_notify: cannot send 'READY=1 STATUS=receiving' to NOTIFY_SOCKET "
               r".*nobody-here: (No such file or directory|Connection refused)")
    sender.send_tcp(d.port("t"), msg(1) + b"\n", graceful=True)
    d.wait_file_lines(out, 1)


def test_pid_file(daemon, tmp_path):
    pid_file = tmp_path / "run" / "tlslogd.pid"  # its directory is created
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("t")], [file_output("o", out, flush_interval="0")],
                      pid_file=str(pid_file)))
    poll(lambda: pid_file.exists() and pid_file.read_text() == "%d\n" % d.proc.pid, T(10),
         "the pid in %s" % pid_file)
    first = d.log_text().splitlines()[0]
    assert re.search(r"notice tlslogd \S+ starting with configuration %s$"
                     % re.escape(str(d.conf_path)), first), first

    # A second one with the same pid_file refuses before binding anything, naming the first.
    second = daemon(config([tcp_input("t2")], [file_output("o2", tmp_path / "o2.log")],
                           pid_file=str(pid_file)), name="second", start=False)
    second.nonzero_exit_ok = True
    second.start(wait=False)
    assert second.proc.wait(T(20)) == 1
    assert re.search(r"error pid_file %s is held by another tlslogd \(pid %d\) that is still "
                     r"running; stop that one first, or give this one another pid_file"
                     % (re.escape(str(pid_file)), d.proc.pid), second.log_text()), \
        second.log_text()
    assert "listening" not in second.log_text()
    assert pid_file.read_text() == "%d\n" % d.proc.pid  # untouched

    sender.send_tcp(d.port("t"), msg(1) + b"\n", graceful=True)
    d.wait_file_lines(out, 1)
    assert d.stop() == 0
    assert not pid_file.exists()


def test_pid_file_of_a_dead_process_is_taken_over(daemon, tmp_path):
    pid_file = tmp_path / "stale.pid"
    pid_file.write_text("999999\n")  # left by a crash: no lock on it
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("t")], [file_output("o", out, flush_interval="0")],
                      pid_file=str(pid_file)))
    poll(lambda: pid_file.read_text() == "%d\n" % d.proc.pid, T(10), "our pid in the file")
    sender.send_tcp(d.port("t"), msg(1) + b"\n", graceful=True)
    d.wait_file_lines(out, 1)


@pytest.mark.skipif(os.geteuid() != 0, reason="the check applies to tlslogd started as root")
@pytest.mark.parametrize("how", ["world-writable", "group-writable", "other-owner",
                                 "writable-directory"])
def test_root_refuses_a_configuration_others_can_write(tmp_path, how):
    d = tmp_path / "etc"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    conf = d / "tlslogd.yaml"
    conf.write_text(to_yaml(config([tcp_input("t")], [file_output("o", tmp_path / "o.log")]))
                    + "\n")
    os.chmod(conf, 0o644)
    if how == "world-writable":
        os.chmod(conf, 0o666)
        why = r"%s is writable by every user \(mode 0666\)" % re.escape(str(conf))
    elif how == "group-writable":
        os.chown(conf, 0, 65534)
        os.chmod(conf, 0o664)
        why = r"%s is writable by group '\w+' \(mode 0664\)" % re.escape(str(conf))
    elif how == "other-owner":
        os.chown(conf, 65534, 0)
        why = r"%s is owned by user '\w+'" % re.escape(str(conf))
    else:
        os.chmod(d, 0o777)
        why = r"%s is writable by every user \(mode 0777\)" % re.escape(str(d))
    for args in (["--check", "-c", str(conf)], ["-c", str(conf)]):
        r = run_cli(args, cwd=str(tmp_path))
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        err = r.stderr.decode()
        assert re.search(r"refusing to run as root with configuration %s: %s, who could make "
                         r"tlslogd write any file as root; fix: chown root:root and chmod 644 "
                         r"the file \(755 its directory\)" % (re.escape(str(conf)), why), err), err
        assert "listening" not in err


def test_unknown_user_fails_check(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text(to_yaml(config([tcp_input("t")], [file_output("o", tmp_path / "o.log")],
                                   user="no-such-user-tlslogd")) + "\n")
    r = run_cli(["--check", "-c", str(conf)])
    assert r.returncode == 1
    assert ("%s: user: 'no-such-user-tlslogd' is not a user of this system (getpwnam); create "
            "it (adduser --system no-such-user-tlslogd) or name another" % conf) in \
        r.stderr.decode(), r.stderr


@pytest.mark.peers("logrotate")
def test_packaged_logrotate_renames_and_reopens(daemon, tmp_path):
    """systemd/tlslogd.logrotate, run by the real logrotate with its paths moved under
    tmp_path: the files are renamed and tlslogd, told by SIGHUP through its pid_file (no
    systemd here), writes to new ones; nothing is lost or written twice (copytruncate would
    lose what arrives between its copy and its truncation)."""
    logs = tmp_path / "log" / "tlslogd"
    logs.mkdir(parents=True)
    run = tmp_path / "run" / "tlslogd"  # tlslogd makes the last directory, as /run/tlslogd
    run.parent.mkdir()
    d = daemon(config([tcp_input("t")], [file_output("o", logs / "{hostname}.log",
                                                     flush_interval="0")],
                      pid_file=str(run / "tlslogd.pid")))
    poll(lambda: (run / "tlslogd.pid").exists(), T(10), "the pid_file")
    text = (Path(tlslogd.SRC) / "systemd" / "tlslogd.logrotate").read_text()
    assert "/var/log/tlslogd/" in text and "/run/tlslogd/tlslogd.pid" in text
    text = text.replace("/var/log/tlslogd/", str(logs) + "/").replace(
        "/run/tlslogd/tlslogd.pid", str(run / "tlslogd.pid"))
    conf = tmp_path / "logrotate.conf"
    conf.write_text(text)
    os.chmod(conf, 0o644)

    first = [msg(i) for i in range(100)]
    sender.send_tcp(d.port("t"), b"".join(m + b"\n" for m in first), graceful=True)
    d.wait_file_lines(logs / "h.log", 100)
    r = subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)],
                       capture_output=True, text=True, timeout=T(30))
    assert r.returncode == 0, r.stdout + r.stderr
    d.wait_log(r"received SIGHUP: reopening output files")
    d.wait_log(r"output o: files reopened")
    second = [msg(i) for i in range(100, 200)]
    sender.send_tcp(d.port("t"), b"".join(m + b"\n" for m in second), graceful=True)
    assert d.wait_file_lines(logs / "h.log", 100) == second
    assert read_lines(logs / "h.log.1") == first  # delaycompress: the newest stays plain
    assert d.stop() == 0
