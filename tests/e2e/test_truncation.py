"""A connection that ends in the middle of a line (issue 12, point 5 and 7): the part received
is kept but marked `truncated` (json `"truncated": true`), counted (`truncated` and
`truncated_at_eof`), and a warning gives its byte count, instead of being logged as if it were
the whole message. Over TLS a close_notify proves that the sender meant to end there: the
unterminated last line is then whole. Without it (the TCP connection just ended, as when an
attacker on the path cuts it, or the sender crashed) it is marked, as on plain TCP.
"""

import json
import socket

import pytest

import sender
from limits_util import anon_ctx, stat, stats_line
from tlsconf import pki, server_tls  # noqa: F401  (pki is a fixture)
from tlslogd import config, file_output, read_lines, tcp_input

HEAD = b"<13>1 2026-01-01T00:00:00Z h app - - - "
WHOLE = HEAD + b"transfer ok acct 1234"
CUT = HEAD + b"transfer 100 to acct 12"     # the line went on: "...34 from acct 99\n"
WARN = (r"^\S+ warning input %s: 127\.0\.0\.1:\d+: %s in the middle of a message: its %d "
        r"bytes received are kept, marked truncated$")


def start(daemon, tmp_path, inp):
    out = tmp_path / "out.json"
    d = daemon(config([inp], [file_output("j", out, format="json")]))
    return d, out, d.port(inp["name"])


def records(d, out, n):
    d.wait_file_lines(out, n)
    return [json.loads(l) for l in read_lines(out)]


def tls_in(pki, framing):  # noqa: F811
    return dict(name="tls-in", transport="tls", listen="127.0.0.1:0", framing=framing,
                tls=server_tls(pki, auth="anon"))


@pytest.mark.parametrize("framing", ["lf", "auto"])
def test_tls_cut_without_close_notify_is_marked(daemon, tmp_path, pki, framing):  # noqa: F811
    d, out, port = start(daemon, tmp_path, tls_in(pki, framing))
    s = anon_ctx().wrap_socket(sender.tcp_connect(port))
    s.sendall(WHOLE + b"\n" + CUT)
    # SSLSocket.shutdown drops the SSL object without SSL_shutdown and shuts the TCP socket
    # down: a FIN with no close_notify, what someone on the path can send.
    s.shutdown(socket.SHUT_RDWR)
    s.close()
    recs = records(d, out, 2)
    assert [r["msg"] for r in recs] == ["transfer ok acct 1234", "transfer 100 to acct 12"], recs
    assert not recs[0].get("truncated") and recs[1].get("truncated") is True, recs
    d.wait_log(WARN % ("tls-in", r"connection closed without a TLS close_notify \(cut on the "
                                 r"way\?\)", len(CUT)))
    line = stats_line(d, "tls-in")
    assert stat(line, "truncated") == 1 and stat(line, "truncated_at_eof") == 1, line
    assert d.stop() == 0


def test_tls_close_notify_ends_the_last_line(daemon, tmp_path, pki):  # noqa: F811
    d, out, port = start(daemon, tmp_path, tls_in(pki, "lf"))
    s = anon_ctx().wrap_socket(sender.tcp_connect(port))
    s.sendall(WHOLE + b"\n" + CUT)
    raw = s.unwrap()  # close_notify: the sender says this is where its data ends
    sender.close_graceful(raw)
    recs = records(d, out, 2)
    assert [r["msg"] for r in recs] == ["transfer ok acct 1234", "transfer 100 to acct 12"], recs
    assert not any(r.get("truncated") for r in recs), recs
    line = stats_line(d, "tls-in")
    assert stat(line, "truncated") == 0 and stat(line, "truncated_at_eof") == 0, line
    assert d.stop() == 0
    assert "in the middle of a message" not in d.log_text()


def test_tcp_eof_in_the_middle_of_a_line_is_marked(daemon, tmp_path):
    d, out, port = start(daemon, tmp_path, tcp_input("tcp-in"))
    sender.send_tcp(port, WHOLE + b"\n" + CUT, graceful=True)
    recs = records(d, out, 2)
    assert [r["msg"] for r in recs] == ["transfer ok acct 1234", "transfer 100 to acct 12"], recs
    assert [bool(r.get("truncated")) for r in recs] == [False, True], recs
    d.wait_log(WARN % ("tcp-in", "connection closed", len(CUT)))
    line = stats_line(d, "tcp-in")
    assert stat(line, "truncated") == 1 and stat(line, "truncated_at_eof") == 1, line
    assert d.stop() == 0


def test_unfinished_line_at_shutdown_is_marked(daemon, tmp_path):
    """A clean stop reads what connections hold and keeps an unfinished line, marked."""
    d, out, port = start(daemon, tmp_path, tcp_input("tcp-in"))
    s = sender.tcp_connect(port)
    try:
        s.sendall(WHOLE + b"\n" + CUT)
        d.wait_file_lines(out, 1)
        assert d.stop() == 0
    finally:
        s.close()
    recs = [json.loads(l) for l in read_lines(out)]
    assert [r["msg"] for r in recs] == ["transfer ok acct 1234", "transfer 100 to acct 12"], recs
    assert [bool(r.get("truncated")) for r in recs] == [False, True], recs
    assert "tlslogd is stopping in the middle of a message: its %d bytes" % len(CUT) in \
        d.log_text(), d.log_tail()
