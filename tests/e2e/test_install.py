"""make install (issue 15): the tree it lays out under DESTDIR with PREFIX=/usr, the installed
programs running, the compiled-in configuration path (SYSCONFDIR), and the installed systemd
unit checked by systemd-analyze (verify clean, security exposure at most 2.0).

Everything is built in the test's own build directory (CMake configured with the test's
PREFIX), so the shared build directory the other tests use is never reconfigured.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

import tlslogd
from tlslogd import T, poll

pytestmark = [
    pytest.mark.serial,  # a whole build
    # It builds and installs its own tree, whatever build the suite runs against: once, in
    # the normal build's run, is enough (make test runs the suite for the ASan build too).
    pytest.mark.skipif(tlslogd._is_sanitized(tlslogd.BINARY),
                       reason="make install builds its own tree, not the "
                       "build under test (a sanitizer build here): tested in the normal "
                       "build's run"),
]


def run(argv, timeout=None, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout or T(60), env=e, **kw)


def make_install(build, prefix, destdir=None):
    argv = ["make", "-C", tlslogd.SRC, "install", "BUILD=%s" % build, "PREFIX=%s" % prefix,
            "CMAKE_ARGS=-DTL_TESTS=OFF"]
    if destdir is not None:
        argv.append("DESTDIR=%s" % destdir)
    r = run(argv, timeout=T(900))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    # Every file went under DESTDIR, or under PREFIX without one: nothing into the host.
    manifest = (Path(build) / "install_manifest.txt").read_text().split()
    assert manifest
    for f in manifest:
        if destdir is not None:
            assert (Path(str(destdir) + f)).is_file(), f
        else:
            assert f.startswith(str(prefix) + "/"), f
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Two installs from one build directory: PREFIX=/usr into DESTDIR, and into a real
    prefix of the test's (where the programs run from where they are installed)."""
    base = tmp_path_factory.mktemp("install")
    build, destdir, prefix = base / "build", base / "destdir", base / "prefix"
    make_install(build, "/usr", destdir)
    make_install(build, prefix)
    return destdir, prefix


EXPECTED = [
    "usr/sbin/tlslogd", "usr/bin/tlslog",
    "usr/share/man/man8/tlslogd.8", "usr/share/man/man1/tlslog.1",
    "usr/share/man/man5/tlslogd.yaml.5",
    "usr/share/doc/tlslogd/README.md", "usr/share/doc/tlslogd/configuration.md",
    "usr/share/doc/tlslogd/tls.md", "usr/share/doc/tlslogd/examples/minimal.yaml",
    "usr/share/doc/tlslogd/examples/loghost.yaml",
    "usr/lib/systemd/system/tlslogd.service", "etc/logrotate.d/tlslogd",
]


def test_destdir_tree(installed):
    destdir, _ = installed
    files = sorted(str(p.relative_to(destdir)) for p in destdir.rglob("*") if p.is_file())
    for f in EXPECTED:
        assert f in files, (f, files)
    assert os.access(destdir / "usr/sbin/tlslogd", os.X_OK)
    assert os.access(destdir / "usr/bin/tlslog", os.X_OK)
    # No configuration is installed by make install (the Debian package has one).
    assert not any(f.startswith("etc/tlslogd") for f in files), files
    unit = (destdir / "usr/lib/systemd/system/tlslogd.service").read_text()
    assert "ExecStart=/usr/sbin/tlslogd\n" in unit
    assert "ExecStartPre=/usr/sbin/tlslogd --check\n" in unit
    assert "@" not in re.sub(r"(?m)^#.*$", "", unit).replace("@system-service", "").replace(
        "@privileged", "").replace("@resources", ""), "unsubstituted @VAR@ in the unit"
    rot = (destdir / "etc/logrotate.d/tlslogd").read_text()
    assert "postrotate" in rot and "systemctl reload tlslogd.service" in rot
    assert not re.search(r"(?m)^\s*copytruncate", rot)


def test_installed_programs_run(installed, tmp_path):
    destdir, _ = installed
    sbin = destdir / "usr/sbin/tlslogd"
    r = run([sbin, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("tlslogd "), r.stdout + r.stderr
    r = run([destdir / "usr/bin/tlslog", "--version"])
    assert r.returncode == 0 and r.stdout.startswith("tlslog "), r.stdout + r.stderr
    # PREFIX=/usr compiles in /etc (GNUInstallDirs), as the Debian package needs.
    r = run([sbin, "--help"])
    assert "/etc/tlslogd/tlslogd.yaml" in r.stdout, r.stdout
    # --check on an installed example (minimal.yaml names no file that must exist).
    r = run([sbin, "--check", "-c", destdir / "usr/share/doc/tlslogd/examples/minimal.yaml"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout
    # The installed man pages are the sources' (tlslogd.8 tells about sd_notify) and render.
    for page in ("man8/tlslogd.8", "man1/tlslog.1", "man5/tlslogd.yaml.5"):
        inst = destdir / "usr/share/man" / page
        assert inst.read_bytes() == (Path(tlslogd.SRC) / "man" / inst.name).read_bytes()
        r = run(["man", "--warnings", "-l", inst], env={"MANWIDTH": "100"})
        assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
    assert "sd_notify" in (destdir / "usr/share/man/man8/tlslogd.8").read_text()


def test_default_configuration_path(installed, tmp_path):
    """Without -c, the installed tlslogd reads PREFIX/etc/tlslogd/tlslogd.yaml when it exists,
    and its first log line says so."""
    _, prefix = installed
    sbin = prefix / "sbin/tlslogd"
    conf_dir = prefix / "etc/tlslogd"
    conf_dir.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out.log"
    ports = tmp_path / "ports"
    conf = conf_dir / "tlslogd.yaml"
    conf.write_text(tlslogd.to_yaml(tlslogd.config(
        [tlslogd.tcp_input("t")], [tlslogd.file_output("o", out)], port_file=str(ports))) + "\n")
    try:
        r = run([sbin, "--check"])
        assert r.returncode == 0 and "%s: configuration OK" % conf in r.stdout, r.stdout + r.stderr
        log = tmp_path / "d.log"
        with open(log, "wb") as lf:
            p = subprocess.Popen([str(sbin)], cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                                 stdout=lf, stderr=lf)
        try:
            poll(lambda: ports.exists() and ports.read_text().endswith("\n"), T(20),
                 "the port file")
            port = int(ports.read_text().split()[1])
            import sender
            sender.send_tcp(port, b"<13>1 2026-01-01T00:00:00Z h app - - - default path\n",
                            graceful=True)
            poll(lambda: out.exists() and b"default path" in out.read_bytes(), T(15),
                 "the message in the output")
        finally:
            p.terminate()
            assert p.wait(T(20)) == 0
        first = log.read_text().splitlines()[0]
        assert "starting with configuration %s" % conf in first, first
    finally:
        conf.unlink()
    # Without the file: the embedded default, said as such (checked without starting it: the
    # embedded configuration binds the fixed port 5514).
    r = run([sbin, "--check"])
    assert r.returncode == 0 and "<embedded>: configuration OK" in r.stdout, r.stdout


def test_unit_verify_and_security(installed):
    """systemd-analyze verify is silent on the installed unit (its ExecStart exists there, and
    its man pages through MANPATH), and the offline security exposure is at most 2.0."""
    _, prefix = installed
    unit = prefix / "lib/systemd/system/tlslogd.service"
    env = {"MANPATH": str(prefix / "share/man")}
    r = run(["systemd-analyze", "verify", unit], env=env)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    r = run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", unit], env=env)
    m = re.search(r"Overall exposure level for tlslogd.service: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr
    text = unit.read_text()
    for setting in ("Type=notify", "User=_tlslogd", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                    "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateDevices=yes",
                    "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes",
                    "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=tlslogd",
                    "LogsDirectory=tlslogd"):
        assert re.search(r"(?m)^%s$" % re.escape(setting), text), setting
