"""The documentation's examples, run as a reader would run them.

- Every YAML block in README.md and docs/*.md that is a whole tlslogd configuration passes
  `tlslogd --check`, which reads every file the configuration names: they are made (real
  certificates and keys) in the check's working directory for relative paths, and under a
  temporary directory for /etc/tlslogd/ (docs/configuration.md says so).
- docs/tls.md's walkthrough, every block in order and as printed (docrun.Reader says the
  little it does beyond a reader's terminal): the certificates, the tlslogd loghost and
  sender, logger, rsyslog as sender and as receiver, rsyslog's own anonymous setup, syslog-ng
  as sender and as receiver. Every message a block sends must arrive in the file its `cat`
  shows. /etc/hosts may map localhost to ::1 as well as 127.0.0.1 (make test runs the suite
  so): the walkthrough must work either way.
"""

import os
import re
import socket
from pathlib import Path

import pytest

import tlslogd
from docrun import Reader, doc_files, fenced, section, with_files, yaml_name
from peers.ports import free_port
from tlslogd import run_cli

SRC = Path(tlslogd.SRC)
DOCS = [SRC / "README.md"] + sorted((SRC / "docs").glob("*.md"))


def config_blocks():
    found = []
    for doc in DOCS:
        yamls = [b for b in fenced(doc.read_text()) if b[0] == "yaml"]
        for i, (_, body, _) in enumerate(yamls):
            # Whole configurations only: fragments that show one key are not checked alone.
            if re.search(r"^inputs:", body, re.M) and re.search(r"^outputs:", body, re.M):
                found.append(pytest.param(body, id="%s-%d" % (doc.name, i)))
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return doc_files(tmp_path_factory.mktemp("doc-pki"))


@pytest.mark.peers("openssl")
@pytest.mark.parametrize("body", config_blocks())
def test_documented_configs_pass_check(tmp_path, body, files):
    conf = tmp_path / "doc.yaml"
    conf.write_text(with_files(body, tmp_path, files))
    r = run_cli(["-c", str(conf), "--check"], cwd=str(tmp_path))
    assert r.returncode == 0, "documented configuration rejected:\n%s\n%s" % (
        body, r.stderr.decode(errors="replace"))


def test_localhost_is_ipv6_and_ipv4():
    """make test runs the suite with the /etc/hosts of a fresh Debian 12 machine, where
    localhost is ::1 and 127.0.0.1 and getaddrinfo returns ::1 first (tests/e2e/run-suite):
    the documented localhost setups are tested against that."""
    if not os.environ.get("TLSLOGD_E2E_HOSTS"):
        pytest.skip("not run by tests/e2e/run-suite as root (the private /etc/hosts needs a "
                    "mount namespace)")
    addrs = [ai[4][0] for ai in socket.getaddrinfo("localhost", 6514, type=socket.SOCK_STREAM)]
    assert addrs == ["::1", "127.0.0.1"], addrs


WALK_PORTS = ("6514", "6515", "6516", "10514", "5514")


@pytest.mark.peers("openssl", "logger", "rsyslog", "syslog-ng")
def test_tls_walkthrough(tmp_path, daemon):
    doc = (SRC / "docs" / "tls.md").read_text()
    walk = section(doc, "## Walkthrough on one machine")
    work = tmp_path / "walk"
    work.mkdir()
    ports = {p: free_port() for p in WALK_PORTS}
    reader = Reader(work, daemon, ports)
    blocks = fenced(walk)
    assert sum(1 for b in blocks if b[0] == "sh") >= 8, "the walkthrough lost shell blocks"
    try:
        for lang, body, before in blocks:
            if lang == "yaml":
                (work / yaml_name(before)).write_text(reader.localize(body))
            elif lang == "sh":
                reader.block(body)
        assert "loghost.pem: OK" in reader.outputs[0] and "sender.pem: OK" in reader.outputs[0]
        assert set(reader.daemons) == {"loghost", "sender", "anon-loghost"}, reader.daemons
        # Four senders reached the loghost's per-sender file: tlslogd, rsyslog, syslog-ng
        # (each checked by its `cat`), and each was authenticated as sender.example.net.
        out = (work / "central-logs" / "sender.example.net.log").read_text()
        for m in ("hello over mutual TLS", "hello from rsyslog", "hello from syslog-ng"):
            assert re.search(r" walkthrough: %s$" % m, out, re.M), (m, out)
        loghost = reader.daemons["loghost"].log_text()
        accepted = re.findall(r"TLS connection accepted .*authenticated peer "
                              r"CN=sender\.example\.net, names DNS:sender\.example\.net, "
                              r"SHA256:", loghost)
        assert len(accepted) >= 3, loghost
        if os.environ.get("TLSLOGD_E2E_HOSTS"):
            # localhost is ::1 first: the senders that dial localhost came over IPv6.
            assert re.search(r"\[?::1\]?:\d+: TLS connection accepted", loghost), loghost
        assert "hello rsyslog" in (work / "rsyslog-received.log").read_text()
        assert "hello syslog-ng" in (work / "syslog-ng-received.log").read_text()
        # rsyslog's anonymous client spoke TLS (a plaintext one is refused and logged).
        anon = reader.daemons["anon-loghost"].log_text()
        assert "TLS connection accepted" in anon, anon
        assert "plaintext" not in anon, anon
    finally:
        codes = reader.stop_all()
    assert all(c in (0, -15, 143) for c in codes), (codes, reader.logs())
    for name in ("sender", "anon-loghost", "loghost"):
        assert reader.daemons[name].stop() == 0
