"""A TLS client on a plain input (issue 11, point 7): tcp (and plain relp) inputs recognise a
TLS ClientHello in the first bytes of a connection, refuse it with a line that says what to
change, and write nothing of it (they used to log the handshake as lines of binary junk)."""

import os
import re
import subprocess

import sender
from limits_util import stat, stats_line
from peers.openssl import s_client
from tlslogd import BUILD, SANITIZER_MARKERS, T, config, file_output, read_lines, tcp_input

TLSLOG = os.path.join(BUILD, "tlslog")
REFUSED = (r"^\S+ warning input %s: 127\.0\.0\.1:(\d+): closing connection: this client "
           r"speaks TLS: %s.*$")
TCP_HINT = r"use transport: tls \(an input with a certificate\)"


def start(daemon, tmp_path, inp):
    out = tmp_path / "out.log"
    d = daemon(config([inp], [file_output("o", out, format="raw")]))
    return d, out, d.port(inp["name"])


def plain_client_still_works(d, out, port):
    sender.send_tcp(port, b"<13>plain after\n", graceful=True)
    d.wait_file_lines(out, 1)


def test_s_client_on_tcp_input(daemon, tmp_path):
    d, out, port = start(daemon, tmp_path, tcp_input("tcp-in"))
    r = s_client(port, b"<13>1 2026-01-01T00:00:00Z h app - - - over TLS\n", timeout=T(20))
    assert not r.ok, r
    m = d.wait_log(REFUSED % ("tcp-in", TCP_HINT))
    assert m.group(0).endswith("nothing was logged"), m.group(0)
    plain_client_still_works(d, out, port)
    line = stats_line(d, "tcp-in")
    assert stat(line, "tls_on_plain") == 1 and stat(line, "received") == 1, line
    assert d.stop() == 0
    assert read_lines(out) == [b"<13>plain after"]


def test_tlslog_probe_on_tcp_input(daemon, tmp_path):
    d, out, port = start(daemon, tmp_path, tcp_input("tcp-in"))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
    r = subprocess.run([TLSLOG, "probe", "127.0.0.1:%d" % port, "--timeout", "5"], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=T(60))
    text = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, text
    assert not any(s in text for s in SANITIZER_MARKERS), text
    d.wait_log(REFUSED % ("tcp-in", TCP_HINT))
    plain_client_still_works(d, out, port)
    # The probe makes several connections: each one is refused, none is logged as a message.
    line = stats_line(d, "tcp-in")
    assert stat(line, "tls_on_plain") >= 1 and stat(line, "received") == 1, line
    assert stat(line, "tls_on_plain") == len(re.findall(REFUSED % ("tcp-in", TCP_HINT),
                                                        d.log_text(), re.M)), d.log_text()
    assert d.stop() == 0
    assert read_lines(out) == [b"<13>plain after"]


def test_s_client_on_plain_relp_input(daemon, tmp_path):
    d, out, port = start(daemon, tmp_path,
                         dict(name="relp-in", transport="relp", listen="127.0.0.1:0"))
    r = s_client(port, b"", timeout=T(20))
    assert not r.ok, r
    d.wait_log(REFUSED % ("relp-in", r"give this relp input a tls: block \(RELP over TLS\)"))
    line = stats_line(d, "relp-in")
    assert stat(line, "tls_on_plain") == 1 and stat(line, "received") == 0, line
    assert d.stop() == 0
    assert read_lines(out) == []
