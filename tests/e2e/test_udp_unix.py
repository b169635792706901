"""UDP (IPv4, IPv6) and unix datagram inputs, raw and with util-linux logger."""

import os
import re
import socket
import stat

import pytest

import sender
from tlslogd import config, file_output, have_ipv6, read_lines, udp_input, unix_input
from util import fac_is, json_lines, proto_is, sev_is

needs_logger = pytest.mark.peers("logger")  # fails when missing (conftest.py)
HOSTS = (socket.gethostname(), socket.gethostname().split(".")[0])


def outputs(tmp_path, formats):
    return ([file_output(f, tmp_path / ("out-%s.log" % f), format=f) for f in formats],
            {f: tmp_path / ("out-%s.log" % f) for f in formats})


def datagrams(tag, n=30):
    out = []
    for i in range(n):
        if i % 2:
            out.append(b"<%d>1 2026-01-01T00:00:%02dZ h%d app %d - - %s %d" % (8 + i % 8, i, i, i, tag, i))
        else:
            out.append(b"<%d>Jan  1 00:00:%02d h%d app[%d]: %s %d" % (8 + i % 8, i, i, i, tag, i))
    return out


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_udp_raw_and_json(daemon, tmp_path, host):
    if ":" in host and not have_ipv6():
        pytest.skip("no IPv6 loopback")
    outs, out = outputs(tmp_path, ["raw", "json"])
    d = daemon(config([udp_input("u", host=host)], outs))
    msgs = datagrams(b"udp")
    # trailing LF / CR LF / NUL in a datagram are not part of the message
    sent = [m + [b"", b"\n", b"\r\n", b"\0"][i % 4] for i, m in enumerate(msgs)]
    sender.send_udp(d.port("u"), sent, host=host)
    d.wait_file_lines(out["raw"], len(msgs))
    d.wait_file_lines(out["json"], len(msgs))
    assert d.stop() == 0
    assert sorted(read_lines(out["raw"])) == sorted(msgs)
    js = sorted(json_lines(read_lines(out["json"])), key=lambda j: int(j["msg"].split()[-1]))
    assert len(js) == len(msgs)
    for i, j in enumerate(js):
        assert j["msg"] == "udp %d" % i and j["hostname"] == "h%d" % i and j["app_name"] == "app", j
        assert j["procid"] == str(i) and j["pri"] == 8 + i % 8, j
        assert fac_is(j["facility"], 1) and sev_is(j["severity"], i % 8), j
        assert proto_is(j["proto"], "5424" if i % 2 else "3164"), j
        assert host in str(j["peer"]), j


@needs_logger
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_logger_udp(daemon, tmp_path, host):
    if ":" in host and not have_ipv6():
        pytest.skip("no IPv6 loopback")
    outs, out = outputs(tmp_path, ["json", "rfc3164"])
    d = daemon(config([udp_input("u", host=host)], outs))
    p = d.port("u")
    sender.logger_udp(p, "-t", "udpapp", "--id=4242", "-p", "local3.err", "logger udp 5424", host=host)
    sender.logger_udp(p, "--rfc3164", "-t", "udpapp", "--id=4243", "-p", "mail.info", "logger udp 3164",
                      host=host)
    d.wait_file_lines(out["json"], 2)
    d.wait_file_lines(out["rfc3164"], 2)
    assert d.stop() == 0
    js = sorted(json_lines(read_lines(out["json"])), key=lambda j: j["msg"])
    assert [j["msg"] for j in js] == ["logger udp 3164", "logger udp 5424"]
    a, b = js
    assert proto_is(a["proto"], "3164") and proto_is(b["proto"], "5424"), js
    assert (a["app_name"], a["procid"], a["pri"]) == ("udpapp", "4243", 2 * 8 + 6), a
    assert fac_is(a["facility"], 2) and sev_is(a["severity"], 6), a
    assert (b["app_name"], b["procid"], b["pri"]) == ("udpapp", "4242", 19 * 8 + 3), b
    assert fac_is(b["facility"], 19) and sev_is(b["severity"], 3), b
    assert "timeQuality" in (b.get("structured_data") or {}), b
    for j in js:
        assert j["hostname"] in HOSTS, j
        assert not j.get("malformed"), j
    lines = sorted((l.decode() for l in read_lines(out["rfc3164"])), key=lambda l: l[-4:])
    assert len(lines) == 2, lines
    for l, pid, text in zip(lines, ("4243", "4242"), ("logger udp 3164", "logger udp 5424")):
        assert re.match(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d (%s) udpapp\[%s\]: %s$"
                        % ("|".join(map(re.escape, HOSTS)), pid, text), l), l


@needs_logger
def test_logger_unix_socket(daemon, tmp_path):
    sock = tmp_path / "log.sock"
    outs, out = outputs(tmp_path, ["json", "rfc3164"])
    d = daemon(config([unix_input("x", sock)], outs))
    sender.logger_unix(sock, "-t", "uapp", "--id=77", "hello unix 3164")
    sender.logger_unix(sock, "--rfc5424", "-t", "uapp", "--id=78", "-p", "daemon.warning", "hello unix 5424")
    d.wait_file_lines(out["json"], 2)
    d.wait_file_lines(out["rfc3164"], 2)
    assert d.stop() == 0
    js = sorted(json_lines(read_lines(out["json"])), key=lambda j: j["msg"])
    assert [j["msg"] for j in js] == ["hello unix 3164", "hello unix 5424"], js
    a, b = js
    # logger sends "<13>Mmm dd hh:mm:ss uapp[77]: msg" (no hostname) to unix sockets
    assert (a["app_name"], a["procid"], a["pri"]) == ("uapp", "77", 13), a
    assert proto_is(a["proto"], "3164"), a
    # no hostname in the message: filled in as this machine (consistently in every format)
    assert a["hostname"] in HOSTS + ("localhost",), a
    assert (b["app_name"], b["procid"], b["pri"]) == ("uapp", "78", 3 * 8 + 4), b
    assert proto_is(b["proto"], "5424") and b["hostname"] in HOSTS, b
    assert fac_is(b["facility"], 3) and sev_is(b["severity"], 4), b
    for j in js:
        assert not j.get("malformed"), j
    lines = sorted((l.decode() for l in read_lines(out["rfc3164"])), key=lambda l: l[-4:])
    assert len(lines) == 2, lines
    assert re.match(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d %s uapp\[77\]: hello unix 3164$"
                    % re.escape(str(a["hostname"])), lines[0]), (lines, a)
    assert re.match(r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d (%s) uapp\[78\]: hello unix 5424$"
                    % "|".join(map(re.escape, HOSTS)), lines[1]), lines


def test_unix_raw_datagrams_and_socket_mode(daemon, tmp_path):
    s1, s2 = tmp_path / "a.sock", tmp_path / "b.sock"
    outs, out = outputs(tmp_path, ["raw"])
    d = daemon(config([unix_input("a", s1, socket_mode="0600"), unix_input("b", s2)], outs))
    assert stat.S_ISSOCK(os.stat(s1).st_mode)
    assert stat.S_IMODE(os.stat(s1).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(s2).st_mode) == 0o666
    ma = datagrams(b"unix-a", 20)
    mb = datagrams(b"unix-b", 20)
    sender.send_unix_dgram(s1, [m + b"\0" if i % 2 else m for i, m in enumerate(ma)])
    sender.send_unix_dgram(s2, [m + b"\n" if i % 2 else m for i, m in enumerate(mb)])
    d.wait_file_lines(out["raw"], 40)
    assert d.stop() == 0
    assert sorted(read_lines(out["raw"])) == sorted(ma + mb)


def test_udp_oversized_datagram_truncated(daemon, tmp_path):
    outs, out = outputs(tmp_path, ["raw", "json"])
    d = daemon(config([udp_input("u", max_message_size="1KiB")], outs))
    head = b"<13>1 2026-01-01T00:00:00Z h app - - - "
    big = head + b"B" * 3000
    ok = head + b"small"
    sender.send_udp(d.port("u"), [big, ok])
    d.wait_file_lines(out["raw"], 2)
    d.wait_file_lines(out["json"], 2)
    line = d.wait_log(r"^\S+ warning .*truncated.*$").group(0)
    assert "max_message_size" in line, line
    assert d.stop() == 0
    assert sorted(read_lines(out["raw"])) == sorted([big[:1024], ok])
    js = sorted(json_lines(read_lines(out["json"])), key=lambda j: len(j["msg"]))
    assert js[0]["msg"] == "small" and not js[0].get("truncated"), js[0]
    assert js[1]["msg"] == "B" * (1024 - len(head)) and js[1].get("truncated") is True, js[1]
