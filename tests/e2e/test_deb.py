"""The Debian package (issue 15): `make deb` builds build/tlslogd_VERSION_amd64.deb with
debhelper and lintian passes it; `apt-get install ./tlslogd_*.deb` installs it into a fresh
Debian 12 root (mmdebstrap, minbase), where the packaged daemon runs with the packaged
configuration: it starts, listens on 6514, writes a message sent with `tlslog send` by a
sender whose certificate `tlslog cert` made, refuses one the configuration does not permit,
and stops.

The root comes from a tarball cached under .deps/ (one per set of runtime dependencies): the
first run downloads about 50 MB and takes about a minute here; later runs unpack it in
seconds. Where the tarball cannot be made (no network to the Debian mirror) the test skips,
saying so; everything else (mmdebstrap, debhelper, lintian: scripts/install-deps) must be
there.
"""

import fcntl
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

import tlslogd
from tlslogd import T, poll

pytestmark = [
    pytest.mark.serial,  # a package build's worth of CPU
    # The package is built from the source tree with Debian's flags, whatever build the suite
    # runs against: once, in the normal build's run, is enough (make test runs the suite for
    # the ASan build too).
    pytest.mark.skipif(tlslogd._is_sanitized(tlslogd.BINARY),
                       reason="the package does not depend on the build "
                       "under test (a sanitizer build here): tested in the normal build's run"),
]

MIRROR = "http://deb.debian.org/debian"
NET_TROUBLE = re.compile(r"Temporary failure|Could not resolve|Failed to fetch|Network is "
                         r"unreachable|Connection (refused|timed out)|Unable to connect")


def run(argv, timeout=None, **kw):
    return subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout or T(120), **kw)


def dep_names(deb):
    """The package names in the .deb's Depends (alternatives and versions dropped)."""
    r = run(["dpkg-deb", "-f", deb, "Depends"])
    assert r.returncode == 0, r.stderr
    names = set()
    for part in r.stdout.split(","):
        name = part.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name:
            names.add(name)
    return sorted(names)


def bootstrap_tarball(deps):
    """A Debian 12 minbase root with deps, as a tarball cached in .deps/ (made once, under a
    lock, so that two suites running at once do not both download it)."""
    cache_dir = Path(tlslogd.SRC) / ".deps"
    cache_dir.mkdir(exist_ok=True)
    key = hashlib.sha256(" ".join(deps).encode()).hexdigest()[:12]
    tar = cache_dir / ("debian12-minbase-%s.tar" % key)
    with open(str(tar) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tar.exists():
            return tar
        assert shutil.which("mmdebstrap"), "mmdebstrap is missing: run scripts/install-deps"
        part = cache_dir / ("partial-%s.tar" % key)  # mmdebstrap picks the format by ".tar"
        r = run(["mmdebstrap", "--variant=minbase", "--include=" + ",".join(deps), "bookworm",
                 part, MIRROR], timeout=T(900))
        if r.returncode != 0:
            if part.is_dir():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)
            if NET_TROUBLE.search(r.stdout + r.stderr):
                pytest.skip("cannot make a Debian 12 root: mmdebstrap cannot reach %s "
                            "(no network to the mirror?): %s" % (MIRROR, r.stderr[-500:]))
            raise AssertionError("mmdebstrap failed:\n%s" % (r.stdout + r.stderr)[-3000:])
        part.rename(tar)
        return tar


def chroot(root, *argv, timeout=None, user=None):
    pre = ["chroot"] + (["--userspec=%s" % user] if user else []) + [root]
    return run(pre + list(argv), timeout=timeout)


def test_deb_builds_installs_and_runs(tmp_path):
    build = tmp_path / "build"
    r = run(["make", "-C", tlslogd.SRC, "deb", "BUILD=%s" % build], timeout=T(900))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "lintian" in r.stdout
    debs = glob.glob(str(build / "tlslogd_*_amd64.deb"))
    assert len(debs) == 1, (debs, r.stdout)
    deb = Path(debs[0])
    version = run([tlslogd.BINARY, "--version"]).stdout.split()[1]
    assert deb.name == "tlslogd_%s_amd64.deb" % version, (deb.name, version)
    # Not a system-log-daemon yet (debian/control says why).
    fields = run(["dpkg-deb", "-f", deb]).stdout
    assert "system-log-daemon" not in fields, fields

    tar = bootstrap_tarball(dep_names(deb))
    root = build / "root"
    root.mkdir()
    proc = None
    try:
        r = run(["tar", "-C", root, "-xf", tar], timeout=T(300))
        assert r.returncode == 0, r.stderr
        shutil.copy(deb, root / "tmp" / deb.name)
        r = chroot(root, "apt-get", "install", "-y", "/tmp/" + deb.name, timeout=T(300))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "made a CA in /etc/tlslogd/ca" in r.stdout, r.stdout

        # The Debian way: a conffile, a system user, the unit enabled, the key for its group.
        conffiles = chroot(root, "dpkg-query", "-W", "-f", "${Conffiles}", "tlslogd").stdout
        assert "/etc/tlslogd/tlslogd.yaml" in conffiles, conffiles
        assert "/etc/logrotate.d/tlslogd" in conffiles, conffiles
        pw = chroot(root, "getent", "passwd", "_tlslogd").stdout.split(":")
        assert len(pw) == 7 and pw[6].strip() == "/usr/sbin/nologin", pw
        uid, gid = int(pw[2]), int(pw[3])
        assert uid < 1000, pw  # a system user
        wants = root / "etc/systemd/system/multi-user.target.wants/tlslogd.service"
        assert os.readlink(wants) == "/lib/systemd/system/tlslogd.service"
        st = os.stat(root / "etc/tlslogd/tls/server-key.pem")
        assert (st.st_mode & 0o777, st.st_gid) == (0o640, gid), oct(st.st_mode)
        for d in ("var/lib/tlslogd", "var/log/tlslogd"):
            assert os.stat(root / d).st_uid == uid, d
        # What the unit's ExecStartPre runs, as the unit's user.
        r = chroot(root, "/usr/sbin/tlslogd", "--check", user="_tlslogd:_tlslogd")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "/etc/tlslogd/tlslogd.yaml: configuration OK" in r.stdout, r.stdout

        # The packaged daemon, as root without systemd (it drops to _tlslogd itself), in a
        # network namespace of its own: 6514 and 9514 are its fixed ports.
        log = build / "tlslogd.log"
        with open(log, "wb") as lf:
            proc = subprocess.Popen(
                ["unshare", "--net", "--mount", "--", "sh", "-c",
                 'mount -t proc proc "$0/proc" && ip link set lo up && '
                 'exec chroot "$0" /usr/sbin/tlslogd', str(root)],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)

        def log_text():
            return log.read_text(errors="replace")

        def started():
            assert proc.poll() is None, "tlslogd exited with %s:\n%s" % (proc.returncode,
                                                                         log_text())
            return "tlslogd %s started" % version in log_text()
        poll(started, T(30), "the packaged tlslogd to start")
        first = log_text().splitlines()[0]
        assert "starting with configuration /etc/tlslogd/tlslogd.yaml" in first, first
        assert "input tls: listening on" in log_text()
        status = Path("/proc/%d/status" % proc.pid).read_text()
        assert re.search(r"^Uid:\s+%d\s+%d\s+%d\s+%d$" % (uid, uid, uid, uid), status, re.M), status
        pidfile = root / "run/tlslogd/tlslogd.pid"
        assert pidfile.read_text().strip() == str(proc.pid)

        def in_root(*argv, timeout=None):
            return run(["nsenter", "--net=/proc/%d/ns/net" % proc.pid, "chroot", root]
                       + list(argv), timeout=timeout)

        # A sender certified by the packaged CA, with a permitted name (*.example.net).
        r = chroot(root, "tlslog", "cert", "issue", "--ca", "/etc/tlslogd/ca", "--name",
                   "web1.example.net", "--out", "/root/web1")
        assert r.returncode == 0, r.stderr
        marker = uuid.uuid4().hex
        text = "package test %s" % marker
        r = in_root("tlslog", "send", "--server", "127.0.0.1:6514", "--ca",
                    "/etc/tlslogd/tls/ca.pem", "--cert", "/root/web1.pem", "--key",
                    "/root/web1-key.pem", "--hostname", "web1", "--tag", "debtest", text)
        assert r.returncode == 0, r.stdout + r.stderr + log_text()
        out = root / "var/log/tlslogd/web1.log"

        def written():
            return out.exists() and text in out.read_text(errors="replace")
        poll(written, T(15), "the message in /var/log/tlslogd/web1.log")
        line = [l for l in out.read_text().splitlines() if marker in l]
        assert len(line) == 1, line
        assert re.search(r" web1 debtest(\[\d+\])?: " + text + "$", line[0]), line
        assert os.stat(out).st_uid == uid

        # One the configuration does not permit: refused, nothing written.
        r = chroot(root, "tlslog", "cert", "issue", "--ca", "/etc/tlslogd/ca", "--name",
                   "intruder.example.org", "--out", "/root/intruder")
        assert r.returncode == 0, r.stderr
        r = in_root("tlslog", "send", "--server", "127.0.0.1:6514", "--ca",
                    "/etc/tlslogd/tls/ca.pem", "--cert", "/root/intruder.pem", "--key",
                    "/root/intruder-key.pem", "--hostname", "intruder", "refused " + marker)
        assert r.returncode != 0, r.stdout + r.stderr
        poll(lambda: "intruder.example.org" in log_text(), T(10), "the refusal in the log")
        assert not (root / "var/log/tlslogd/intruder.log").exists()

        # Its counters, from the packaged metrics endpoint.
        r = in_root("tlslog", "stats")
        assert r.returncode == 0, r.stderr
        row = [l for l in r.stdout.splitlines() if l.startswith("tls ")]
        assert len(row) == 1 and row[0].split()[2] == "1", r.stdout

        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(T(30)) == 0, log_text()
        assert "tlslogd stopped" in log_text()
        assert not pidfile.exists()
        proc = None
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        # 200 MB per run: not left for pytest's three kept base directories.
        shutil.rmtree(root, ignore_errors=True)
