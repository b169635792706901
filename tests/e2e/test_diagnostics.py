"""The daemon's own diagnostics on stderr: one line per event,
"YYYY-MM-DDThh:mm:ss.mmmZ LEVEL text", filtered by log_level."""

import sender
from sender import octet
from tlslogd import DIAG_RE, config, file_output, read_lines, tcp_input, udp_input


def provoke(d, out):
    """Traffic that makes the daemon say things: a broken octet count (a warning), a HUP."""
    s = sender.tcp_connect(d.port("t"))
    try:
        s.sendall(b"<13>before\n9x9 <13>broken")
        assert sender.wait_closed_by_peer(s)
    finally:
        s.close()
    sender.send_udp(d.port("u"), [b"<13>udp"])
    d.hup()
    sender.send_tcp(d.port("t"), octet(b"<13>after"), graceful=True)
    d.wait_file_lines(out, 3)


def test_diagnostic_line_format(daemon, tmp_path):
    out = tmp_path / "o.log"
    d = daemon(config([tcp_input("t"), udp_input("u")], [file_output("o", out)], log_level="debug"))
    provoke(d, out)
    d.wait_log(r"^\S+ warning .*octet count")
    assert d.stop() == 0
    assert sorted(read_lines(out)) == sorted([b"<13>before", b"<13>udp", b"<13>after"])
    lines = d.log_text().splitlines()
    assert lines, "no diagnostics at log_level debug"
    bad = [l for l in lines if not DIAG_RE.match(l)]
    assert not bad, bad[:10]


def test_log_level_error_hides_warnings(daemon, tmp_path):
    out = tmp_path / "o.log"
    d = daemon(config([tcp_input("t"), udp_input("u")], [file_output("o", out)], log_level="error"))
    provoke(d, out)
    assert d.stop() == 0
    lines = d.log_text().splitlines()
    bad = [l for l in lines if not DIAG_RE.match(l) or " error " not in l]
    assert not bad, bad[:10]
