"""The documentation's examples, run as a reader would run them.

- Every YAML block in README.md and docs/*.md that is a whole tlslogd configuration passes
  `tlslogd --check` (relative paths are fine: --check does not open them).
- docs/tls.md's walkthrough, executed block by block: the certificate commands, the loghost
  and sender configurations (ports moved to free ones), logger, and the rsyslog sender
  configuration against the tlslogd loghost. The message must arrive in the file named after
  the sender's certificate.
"""

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

import tlslogd
from tlslogd import T, poll, run_cli
from peers import rsyslog
from peers.ports import free_port
from peers.local import UnixDgramFeed

SRC = Path(tlslogd.SRC)
DOCS = [SRC / "README.md"] + sorted((SRC / "docs").glob("*.md"))


def blocks(text, lang):
    """(preceding text, block body) for each fenced block of the given language."""
    out = []
    for m in re.finditer(r"```%s\n(.*?)```" % re.escape(lang), text, re.S):
        out.append((text[:m.start()], m.group(1)))
    return out


def config_blocks():
    found = []
    for doc in DOCS:
        for i, (_, body) in enumerate(blocks(doc.read_text(), "yaml")):
            # Whole configurations only: fragments that show one key are not checked alone.
            if re.search(r"^inputs:", body, re.M) and re.search(r"^outputs:", body, re.M):
                found.append(pytest.param(body, id="%s-%d" % (doc.name, i)))
    return found


@pytest.mark.parametrize("body", config_blocks())
def test_documented_configs_pass_check(tmp_path, body):
    conf = tmp_path / "doc.yaml"
    conf.write_text(body)
    r = run_cli(["-c", str(conf), "--check"], cwd=str(tmp_path))
    assert r.returncode == 0, "documented configuration rejected:\n%s\n%s" % (
        body, r.stderr.decode(errors="replace"))


def named_block(text, filename, lang="yaml"):
    """The fenced block that follows the line "`filename`:"."""
    m = re.search(r"`%s`:\s*\n\s*```%s\n(.*?)```" % (re.escape(filename), lang), text, re.S)
    assert m, "docs/tls.md lost its %s block" % filename
    return m.group(1)


def section(text, heading):
    start = text.index(heading)
    nxt = text.find("\n### ", start + len(heading))
    return text[start:nxt if nxt >= 0 else len(text)]


def wait_started(d):
    d.wait_log(r"started", T(20))


def test_localhost_is_ipv6_and_ipv4():
    """make test runs the suite with the /etc/hosts of a fresh Debian 12 machine, where
    localhost is ::1 and 127.0.0.1 and getaddrinfo returns ::1 first (tests/e2e/run-suite):
    the documented localhost setups are tested against that."""
    if not os.environ.get("TLSLOGD_E2E_HOSTS"):
        pytest.skip("not run by tests/e2e/run-suite as root (the private /etc/hosts needs a "
                    "mount namespace)")
    addrs = [ai[4][0] for ai in socket.getaddrinfo("localhost", 6514, type=socket.SOCK_STREAM)]
    assert addrs == ["::1", "127.0.0.1"], addrs


@pytest.mark.peers("rsyslog", "openssl", "logger")
def test_tls_walkthrough(tmp_path, daemon):
    doc = (SRC / "docs" / "tls.md").read_text()
    work = tmp_path / "walk"
    work.mkdir()

    # 1. Certificates, exactly as documented.
    certs = blocks(section(doc, "### 1."), "sh")[0][1]
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", certs], cwd=work, capture_output=True,
                       timeout=T(60))
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert b"loghost.pem: OK" in r.stdout and b"sender.pem: OK" in r.stdout

    tls_port = free_port()
    udp_port = free_port(kind=__import__("socket").SOCK_DGRAM)

    def localize(text):
        return text.replace("6514", str(tls_port)).replace("5514", str(udp_port))

    # 2. The loghost.
    loghost = daemon(localize(named_block(doc, "loghost.yaml")), name="loghost", start=False,
                     cwd=str(work))
    loghost.start(wait=False)
    wait_started(loghost)

    # 3. The sender, and logger.
    sender = daemon(localize(named_block(doc, "sender.yaml")), name="sender", start=False,
                    cwd=str(work))
    sender.start(wait=False)
    wait_started(sender)
    sender.wait_log(r"output central: connected to localhost:%d" % tls_port, T(20))
    subprocess.run(["logger", "--udp", "-n", "127.0.0.1", "-P", str(udp_port), "-t",
                    "walkthrough", "hello over mutual TLS"], check=True, timeout=T(10))
    out = work / "central-logs" / "sender.example.net.log"
    poll(lambda: out.exists() and "hello over mutual TLS" in out.read_text(), T(20),
         "the walkthrough message in %s" % out)
    line = [l for l in out.read_text().splitlines() if "hello over mutual TLS" in l][0]
    assert re.search(r" walkthrough: hello over mutual TLS$", line), line
    assert re.search(r"TLS connection accepted .*authenticated peer CN=sender\.example\.net, "
                     r"names DNS:sender\.example\.net, SHA256:", loghost.log_text())

    # 4. rsyslog as the sender, with the documented action and the same files.
    rs_conf = blocks(section(doc, "### 4."), "")[0][1]
    for f in ("ca.pem", "sender.pem", "sender-key.pem"):
        rs_conf = rs_conf.replace('"%s"' % f, '"%s"' % (work / f))
    rs = rsyslog.Rsyslog(tmp_path / "rsyslog", "rs-walk")
    sock = rs.dir / "local.sock"
    rs.load("imuxsock", **{"SysSock.Use": "off"})
    rs.add('input(type="imuxsock" Socket="%s" CreatePath="on" ruleset="fwd")' % sock)
    rs.sockets.append(sock)
    # The documented global() settings apply as they are; the action goes in a ruleset.
    glob, action = rs_conf.split("action(", 1)
    rs.add(localize(glob))
    rs.add('ruleset(name="fwd") {\n  action(%s\n}' % localize(action).rstrip())
    with rs:
        UnixDgramFeed(sock).send(["<13>Nov 23 10:00:00 rshost walk: hello from rsyslog"])
        poll(lambda: "hello from rsyslog" in out.read_text(), T(30),
             "rsyslog's message in %s; rsyslog log:\n%s" % (out, rs.log()[-3000:]))
    assert loghost.stop() == 0
    assert sender.stop() == 0
