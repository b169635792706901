"""Privilege drop (issue 15, top-level user: and group:): started as root with `user: nobody`
(group nogroup), tlslogd binds, reads its keys and creates its directories, then runs with
nobody's uid and gid and no capability; it still receives over TLS, writes files and forwards
through a disk queue, all owned by nobody; a SIGHUP re-reads certificates as nobody (a 0640
key of group nogroup, made with `tlslog cert issue --group nogroup`), and a key nobody may
not read makes the reload fail and keeps the old one.

Everything nobody must reach lives in a directory of its own under /tmp (pytest's tmp_path
is root's, mode 0700)."""

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import tlslogd
from tlslogd import T, Daemon, config, file_output, poll, read_lines, tcp_input

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: tlslogd must start as "
                                "root to drop to another user")

TLSLOG = os.path.join(tlslogd.BUILD, "tlslog")


def tlslog(*args):
    r = subprocess.run([TLSLOG] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=T(30))
    return r


@pytest.fixture
def base():
    d = Path(tempfile.mkdtemp(prefix="tlslogd-privdrop-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def status(pid):
    text = Path("/proc/%d/status" % pid).read_text()
    return {k: v.strip() for k, v in (l.split(":", 1) for l in text.splitlines() if ":" in l)}


def send(port, pki, text, peer="tlslogd.test", count=None):
    args = ["send", "--server", "127.0.0.1:%d" % port, "--ca", pki / "ca/ca.pem",
            "--cert", pki / "client.pem", "--key", pki / "client-key.pem", "--peer", peer,
            "--hostname", "sender", "--tag", "privdrop"]
    if count:
        args += ["--count", count]
    return tlslog(*(args + [text]))


def test_drop_to_nobody(base, daemon, tmp_path):
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    pki = base / "pki"
    assert tlslog("cert", "ca", "--out", pki / "ca").returncode == 0
    r = tlslog("cert", "issue", "--ca", pki / "ca", "--name", "tlslogd.test", "--out",
               pki / "server", "--group", "nogroup")
    assert r.returncode == 0, r.stderr
    assert "mode 0640, group nogroup" in r.stdout, r.stdout
    st = os.stat(pki / "server-key.pem")
    assert (st.st_mode & 0o777, st.st_gid) == (0o640, nogroup.gr_gid)
    assert tlslog("cert", "issue", "--ca", pki / "ca", "--name", "client.test", "--out",
                  pki / "client").returncode == 0
    os.chmod(pki, 0o755)
    # The CA's directory is root's (0700, for ca-key.pem); first, that a key nobody cannot
    # read is reported at start, then the certificate made readable.
    ca_dir_mode = os.stat(pki / "ca").st_mode & 0o777
    assert ca_dir_mode == 0o700, oct(ca_dir_mode)

    # A plain receiver for the forward output (runs as root, like every other test's).
    rx_out = tmp_path / "rx.log"
    rx = daemon(config([tcp_input("in")], [file_output("o", rx_out, flush_interval="0")]))

    out_dir = base / "out" / "hosts"         # created at start, given to nobody
    queue = base / "queue" / "fwd"
    run = base / "run"
    conf = config(
        [dict(name="tls-in", transport="tls", listen="127.0.0.1:0",
              tls=dict(auth="name", permitted_peers=["client.test"]))],
        [file_output("hosts", out_dir / "{hostname}.log", flush_interval="0"),
         dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % rx.port("in")],
              transport="tcp", queue=dict(dir=str(queue)))],
        user="nobody", group="nogroup", port_file=str(run / "ports"),
        pid_file=str(run / "tlslogd.pid"),
        tls=dict(ca_file=str(pki / "ca/ca.pem"), cert_file=str(pki / "server.pem"),
                 key_file=str(pki / "server-key.pem")))
    d = Daemon(base / "d", conf, name="dropped")
    try:
        d.start()
        s = status(d.proc.pid)
        ids = "%d\t%d\t%d\t%d" % ((nobody.pw_uid,) * 4)
        assert s["Uid"] == ids, s
        assert s["Gid"] == "%d\t%d\t%d\t%d" % ((nogroup.gr_gid,) * 4), s
        assert s["Groups"].split() in ([], [str(nogroup.gr_gid)]), s
        for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert int(s[cap], 16) == 0, (cap, s)
        d.wait_log(r"notice running as user nobody \(uid %d\), group nogroup \(gid %d\)"
                   % (nobody.pw_uid, nogroup.gr_gid))
        d.wait_log(r"warning as user nobody \(group nogroup\), a SIGHUP could not reload TLS "
                   r"files: .*tls\.ca_file: cannot read file '%s': Permission denied"
                   % re.escape(str(pki / "ca/ca.pem")))
        os.chmod(pki / "ca", 0o755)
        for p in (out_dir, out_dir.parent, queue, queue.parent, run, run / "tlslogd.pid"):
            assert os.stat(p).st_uid == nobody.pw_uid, p
        assert Path(run / "tlslogd.pid").read_text() == "%d\n" % d.proc.pid

        port = d.port("tls-in")
        r = send(port, pki, "before", count=20)
        assert r.returncode == 0, r.stderr + d.log_tail()
        hosts = out_dir / "sender.log"
        lines = d.wait_file_lines(hosts, 20)
        assert [l.split(b" sender privdrop - - - ")[-1] for l in lines] == \
            [b"before seq=%d" % i for i in range(1, 21)], lines
        assert os.stat(hosts).st_uid == nobody.pw_uid
        assert len(rx.wait_file_lines(rx_out, 20)) == 20
        segments = [p for p in queue.iterdir()]
        assert segments and all(p.stat().st_uid == nobody.pw_uid for p in segments), segments

        # SIGHUP as nobody: a new certificate (another name), its key 0640 of group nogroup.
        r = tlslog("cert", "issue", "--ca", pki / "ca", "--name", "renewed.test", "--out",
                   pki / "server", "--group", "nogroup", "--force")
        assert r.returncode == 0, r.stderr
        group_warnings = d.log_text().count("is readable by its group")
        assert group_warnings == 1, d.log_text()  # at start, as root: nogroup is not ours yet
        d.hup()
        d.wait_log(r"input tls-in: TLS policy \(auth name\), certificates, keys, CAs and CRLs "
                   r"reloaded from")
        assert "TLS reload failed" not in d.log_text()
        # As nobody, a 0640 key of its own group nogroup is the documented setup: no warning.
        assert d.log_text().count("is readable by its group") == group_warnings, d.log_text()
        r = send(port, pki, "renewed", peer="renewed.test")
        assert r.returncode == 0, r.stderr + d.log_tail()
        d.wait_file_lines(hosts, 21)

        # A key nobody may not read: the reload fails, says why, and the old context stays.
        os.chmod(pki / "server-key.pem", 0o600)
        d.hup()
        # The whole file is checked as at start (live reload): the key's line is named, and
        # nothing of the running configuration changes.
        d.wait_log(r"error reload: .*dropped\.yaml:\d+: tls\.key_file: cannot read file "
                   r"'.*server-key\.pem': Permission denied")
        d.wait_log(r"error reload of .*dropped\.yaml failed \(1 error above\): the running "
                   r"configuration is unchanged")
        r = send(port, pki, "kept", peer="renewed.test")
        assert r.returncode == 0, r.stderr + d.log_tail()
        lines = d.wait_file_lines(hosts, 22)
        assert lines[-1].endswith(b" sender privdrop - - - kept"), lines[-1]
        assert len(rx.wait_file_lines(rx_out, 22)) == 22

        assert d.stop() == 0, d.log_tail()
        assert not (run / "tlslogd.pid").exists()
        assert not d.sanitizer_reports(), d.log_tail()
    finally:
        d.kill()
