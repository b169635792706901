"""Routes: from inputs to outputs; without routes every input goes to every output."""

import sender
from sender import octet
from tlslogd import config, file_output, read_lines, tcp_input, udp_input


def msgs(tag, n):
    return [b"<13>1 2026-01-01T00:00:00Z h app - - - %s %d" % (tag, i) for i in range(n)]


def test_routes_separate(daemon, tmp_path):
    o1, o2, o3 = tmp_path / "o1.log", tmp_path / "o2.log", tmp_path / "o3.log"
    d = daemon(config([tcp_input("in1"), udp_input("in2"), tcp_input("in3")],
                      [file_output("out1", o1), file_output("out2", o2), file_output("out3", o3)],
                      routes=[{"from": ["in1"], "to": ["out1"]},
                              {"from": ["in2"], "to": ["out2"]},
                              {"from": ["in3"], "to": ["out1", "out3"]}]))
    m1, m2, m3 = msgs(b"one", 20), msgs(b"two", 20), msgs(b"three", 20)
    sender.send_tcp(d.port("in1"), b"".join(octet(m) for m in m1), graceful=True)
    sender.send_udp(d.port("in2"), m2)
    sender.send_tcp(d.port("in3"), b"".join(octet(m) for m in m3), graceful=True)
    d.wait_file_lines(o1, 40)
    d.wait_file_lines(o2, 20)
    d.wait_file_lines(o3, 20)
    assert d.stop() == 0
    l1 = read_lines(o1)
    assert sorted(l1) == sorted(m1 + m3)
    assert [l for l in l1 if b" one " in l] == m1 and [l for l in l1 if b" three " in l] == m3
    assert sorted(read_lines(o2)) == sorted(m2)
    assert read_lines(o3) == m3


def test_no_routes_every_input_to_every_output(daemon, tmp_path):
    o1, o2 = tmp_path / "o1.log", tmp_path / "o2.log"
    d = daemon(config([tcp_input("in1"), udp_input("in2")], [file_output("out1", o1), file_output("out2", o2)]))
    m1, m2 = msgs(b"one", 10), msgs(b"two", 10)
    sender.send_tcp(d.port("in1"), b"".join(octet(m) for m in m1), graceful=True)
    sender.send_udp(d.port("in2"), m2)
    d.wait_file_lines(o1, 20)
    d.wait_file_lines(o2, 20)
    assert d.stop() == 0
    for o in (o1, o2):
        lines = read_lines(o)
        assert sorted(lines) == sorted(m1 + m2)
        assert [l for l in lines if b" one " in l] == m1
