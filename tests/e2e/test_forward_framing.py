"""Forward outputs and framing: a message that holds line feeds (octet counting carries
them) forwarded with `framing: lf` must arrive as one line, its line feeds turned into
spaces, and the messages around it intact; with octet counting the line feeds travel as
they are."""

import sender
from tlslogd import config, file_output, read_lines, tcp_input

MULTI = "<14>1 2026-11-23T10:00:00Z host app - - - first line\nsecond line\n\nthird"


def octet(msg):
    b = msg.encode()
    return b"%d %s" % (len(b), b)


def relay(daemon, tmp_path, framing):
    """B: tcp input -> raw file. A: tcp input -> forward tcp (framing) -> B."""
    out = tmp_path / "b.log"
    b = daemon(config([tcp_input("in")], [file_output("out", out)]), name="b")
    a = daemon(config([tcp_input("in")],
                      [dict(name="fwd", type="forward", transport="tcp", framing=framing,
                            targets=["127.0.0.1:%d" % b.port("in")])]), name="a")
    return a, b, out


def test_lf_framing_turns_line_feeds_into_spaces(daemon, tmp_path):
    a, b, out = relay(daemon, tmp_path, "lf")
    msgs = ["<14>1 2026-11-23T10:00:00Z host app - - - before %d" % i for i in range(3)]
    data = octet(msgs[0]) + octet(msgs[1]) + octet(MULTI) + octet(msgs[2])
    sender.send_tcp(a.port("in"), data, graceful=True)
    b.wait_file_lines(out, 4)
    lines = read_lines(out)
    want = [msgs[0], msgs[1], MULTI.replace("\n", " "), msgs[2]]
    assert lines == [m.encode() for m in want], lines


def test_octet_counted_framing_keeps_line_feeds(daemon, tmp_path):
    a, b, out = relay(daemon, tmp_path, "octet-counted")
    sender.send_tcp(a.port("in"), octet(MULTI) + octet(MULTI.replace("first", "next")),
                    graceful=True)
    b.wait_file_size(out, 2 * len(MULTI))
    text = out.read_text()
    # the raw file output writes the message as received; B got the line feeds intact
    assert "first line" in text and "next line" in text, text
    assert "second line" in text and "third" in text, text
    assert "first line second line" not in text, text
