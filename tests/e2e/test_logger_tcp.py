"""TCP input with util-linux logger: octet counting and LF framing, RFC 5424 and 3164."""

import re
import socket

import pytest

import sender
from tlslogd import config, file_output, read_lines, tcp_input
from util import fac_is, json_lines, proto_is, sev_is

pytestmark = pytest.mark.peers("logger")  # fails when missing (conftest.py)
HOSTS = (socket.gethostname(), socket.gethostname().split(".")[0])
HOST_RE = "|".join(map(re.escape, HOSTS))

VARIANTS = [  # (octet_count, protocol flag, pid)
    (False, None, 101), (True, None, 102), (False, "--rfc5424", 103), (True, "--rfc5424", 104),
    (False, "--rfc3164", 105), (True, "--rfc3164", 106),
]


def test_logger_tcp_variants(daemon, tmp_path):
    out_json, out_3164 = tmp_path / "out.json", tmp_path / "out.3164"
    d = daemon(config([tcp_input("t")], [file_output("j", out_json, format="json"),
                                         file_output("b", out_3164, format="rfc3164")]))
    p = d.port("t")
    for oc, proto, pid in VARIANTS:
        args = ["-t", "tcpapp", "--id=%d" % pid, "-p", "local5.notice"]
        if proto:
            args.append(proto)
        if proto != "--rfc3164":
            args += ["--msgid", "MID%d" % pid, "--sd-id", "e2e@1", "--sd-param", 'pid="%d"' % pid]
        sender.logger_tcp(p, *(args + ["tcp message %d" % pid]), octet_count=oc)
    n = len(VARIANTS)
    d.wait_file_lines(out_json, n)
    d.wait_file_lines(out_3164, n)
    assert d.stop() == 0
    js = sorted(json_lines(read_lines(out_json)), key=lambda j: j["msg"])
    assert [j["msg"] for j in js] == ["tcp message %d" % v[2] for v in VARIANTS]
    for j, (oc, proto, pid) in zip(js, VARIANTS):
        assert j["hostname"] in HOSTS and j["app_name"] == "tcpapp" and j["procid"] == str(pid), j
        assert j["pri"] == 21 * 8 + 5 and fac_is(j["facility"], 21) and sev_is(j["severity"], 5), j
        assert "127.0.0.1" in str(j["peer"]) and not j.get("malformed"), j
        if proto == "--rfc3164":
            assert proto_is(j["proto"], "3164"), j
        else:
            assert proto_is(j["proto"], "5424"), j
            assert j["msgid"] == "MID%d" % pid, j
            assert j["structured_data"].get("e2e@1") == {"pid": str(pid)}, j
            assert "timeQuality" in j["structured_data"], j
    lines = sorted((l.decode() for l in read_lines(out_3164)), key=lambda l: l[-3:])
    assert len(lines) == n, lines
    for l, (oc, proto, pid) in zip(lines, VARIANTS):
        assert re.match(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d (%s) tcpapp\[%d\]: tcp message %d$"
                        % (HOST_RE, pid, pid), l), l


@pytest.mark.parametrize("octet_count", [False, True])
def test_logger_tcp_many_lines_one_connection(daemon, tmp_path, octet_count):
    out = tmp_path / "out.json"
    d = daemon(config([tcp_input("t")], [file_output("j", out, format="json")]))
    src = tmp_path / "lines.txt"
    n = 200
    src.write_text("".join("file line %d with some text\n" % i for i in range(n)))
    sender.logger_tcp(d.port("t"), "-t", "fileapp", "-f", src, octet_count=octet_count)
    d.wait_file_lines(out, n)
    assert d.stop() == 0
    js = json_lines(read_lines(out))
    assert [j["msg"] for j in js] == ["file line %d with some text" % i for i in range(n)]
    assert all(j["app_name"] == "fileapp" for j in js)


def test_tcp_ipv6(daemon, tmp_path):
    from tlslogd import have_ipv6
    if not have_ipv6():
        pytest.skip("no IPv6 loopback")
    out = tmp_path / "out.json"
    d = daemon(config([tcp_input("t6", host="::1")], [file_output("j", out, format="json")]))
    p = d.port("t6")
    raw = [b"<13>1 2026-01-01T00:00:00Z h6 app - - - raw v6 %d" % i for i in range(20)]
    sender.send_tcp(p, b"".join(b"%d %s" % (len(m), m) for m in raw), host="::1", graceful=True)
    sender.logger_tcp(p, "-t", "v6app", "logger over v6", host="::1", octet_count=True)
    sender.logger_tcp(p, "-t", "v6app", "logger over v6 lf", host="::1")
    d.wait_file_lines(out, 22)
    assert d.stop() == 0
    js = json_lines(read_lines(out))
    assert len(js) == 22
    assert [j["msg"] for j in js if j["msg"].startswith("raw")] == ["raw v6 %d" % i for i in range(20)]
    assert sorted(j["msg"] for j in js if j["msg"].startswith("logger")) == ["logger over v6", "logger over v6 lf"]
    assert all("::1" in str(j["peer"]) for j in js), js[0]
