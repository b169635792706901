"""TCP framing (RFC 6587): auto detection per frame, splits at any byte, truncation,
broken octet counts, the forced framing modes, garbage."""

import random
import threading

import pytest

import sender
from sender import lf, octet
from tlslogd import T, config, file_output, poll, read_lines, tcp_input
from util import json_lines


def start(daemon, tmp_path, formats=("raw",), **inkw):
    outs = [file_output(f, tmp_path / ("out-%s.log" % f), format=f) for f in formats]
    d = daemon(config([tcp_input("t", **inkw)], outs))
    return d, {f: tmp_path / ("out-%s.log" % f) for f in formats}


def m5424(text):
    return b"<13>1 2026-01-01T00:00:00Z host app - - - " + text


def test_mixed_framing_in_one_stream(daemon, tmp_path):
    d, out = start(daemon, tmp_path)
    m = [m5424(b"octet %d" % i) for i in range(3)] + [b"<13>lf %d" % i for i in range(3)] + \
        [b"<13>crlf", b"<13>nul", b"<13>octet with counted LF", b"plain text no pri", b"<13>last",
         b"<13>octet with counted CRLF", b"<13>octet with counted NUL", b"x", b"9 digits inside"]
    data = (octet(m[0]) + lf(m[3]) + octet(m[1]) + lf(m[4]) + lf(m[5]) + octet(m[2]) +
            m[6] + b"\r\n" + m[7] + b"\0" + b"\n\n\r\n\0" + octet(m[8] + b"\n") + lf(m[9]) +
            octet(m[11] + b"\r\n") + octet(m[12] + b"\0") + octet(m[13]) + octet(m[14]) +
            octet(m[10]))
    expect = [m[0], m[3], m[1], m[4], m[5], m[2], m[6], m[7], m[8], m[9], m[11], m[12], m[13],
              m[14], m[10]]
    sender.send_tcp(d.port("t"), data, graceful=True)
    d.wait_file_lines(out["raw"], len(expect))
    assert d.stop() == 0
    assert read_lines(out["raw"]) == expect


def test_byte_by_byte(daemon, tmp_path):
    d, out = start(daemon, tmp_path)
    msgs = [m5424(b"byte by byte octet"), b"<13>byte by byte lf", m5424(b"123 after"),
            b"<13>crlf one"]
    data = octet(msgs[0]) + lf(msgs[1]) + octet(msgs[2]) + msgs[3] + b"\r\n"
    s = sender.tcp_connect(d.port("t"), nodelay=True)
    try:
        sender.send_pieces(s, data, range(1, len(data)))
    finally:
        sender.close_graceful(s)
    d.wait_file_lines(out["raw"], len(msgs))
    assert d.stop() == 0
    assert read_lines(out["raw"]) == msgs


def test_random_splits_concurrent_connections(daemon, tmp_path):
    d, out = start(daemon, tmp_path, max_message_size="4KiB")
    nconn, nmsg = 4, 300
    expect = {}
    errors = []

    def run(c):
        rnd = random.Random(1000 + c)
        msgs, parts = [], []
        for i in range(nmsg):
            body = b"conn=%d seq=%d " % (c, i) + b"p" * rnd.randrange(0, 300)
            if rnd.random() < 0.5:
                msg = m5424(body)
                parts.append(octet(msg))
            else:
                msg = b"<14>" + body
                parts.append(msg + rnd.choice([b"\n", b"\r\n", b"\0"]))
            msgs.append(msg)
        expect[c] = msgs
        data = b"".join(parts)
        try:
            s = sender.tcp_connect(d.port("t"), nodelay=True)
            try:
                sender.send_pieces(s, data, sender.random_cuts(data, 2000, 77 + c))
            finally:
                sender.close_graceful(s)
        except Exception as e:  # reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=run, args=(c,)) for c in range(nconn)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(T(60))
    assert not any(t.is_alive() for t in ts) and not errors, errors
    d.wait_file_lines(out["raw"], nconn * nmsg)
    assert d.stop() == 0
    lines = read_lines(out["raw"])
    assert len(lines) == nconn * nmsg
    for c in range(nconn):
        tag = b"conn=%d " % c
        assert [l for l in lines if tag in l] == expect[c]


def test_unterminated_last_line_is_delivered(daemon, tmp_path):
    d, out = start(daemon, tmp_path)
    sender.send_tcp(d.port("t"), b"<13>first\n<13>second\n<13>last without LF", graceful=True)
    sender.send_tcp(d.port("t"), octet(m5424(b"counted")) + b"<13>tail after octet", graceful=True)
    d.wait_file_lines(out["raw"], 5)
    assert d.stop() == 0
    lines = read_lines(out["raw"])
    assert len(lines) == 5
    assert [l for l in lines if not l.startswith(b"<13>1 ") and b"tail" not in l] == \
        [b"<13>first", b"<13>second", b"<13>last without LF"]
    assert [l for l in lines if l.startswith(b"<13>1 ") or b"tail" in l] == \
        [m5424(b"counted"), b"<13>tail after octet"]


@pytest.mark.parametrize("split", [False, True])
def test_oversized_messages_truncated_stream_stays_in_sync(daemon, tmp_path, split):
    d, out = start(daemon, tmp_path, formats=("raw", "json"), max_message_size="1KiB")
    big1 = m5424(b"A" * 3000)
    exact = m5424(b"E" * (1024 - len(m5424(b""))))
    over1 = m5424(b"F" * (1025 - len(m5424(b""))))
    big2 = b"<13>" + b"L" * 5000
    nxt = [m5424(b"next %d" % i) for i in range(4)]
    assert len(exact) == 1024 and len(over1) == 1025
    data = (octet(big1) + octet(nxt[0]) + octet(exact) + octet(over1) + octet(nxt[1]) +
            lf(big2) + lf(nxt[2]) + octet(nxt[3]))
    s = sender.tcp_connect(d.port("t"), nodelay=split)
    try:
        sender.send_pieces(s, data, sender.random_cuts(data, 300, 11) if split else [])
    finally:
        sender.close_graceful(s)
    expect = [big1[:1024], nxt[0], exact, over1[:1024], nxt[1], big2[:1024], nxt[2], nxt[3]]
    d.wait_file_lines(out["raw"], len(expect))
    d.wait_file_lines(out["json"], len(expect))
    d.wait_log(r"^\S+ warning .*truncated.*$")
    assert d.stop() == 0
    assert read_lines(out["raw"]) == expect
    js = json_lines(read_lines(out["json"]))
    assert [bool(j.get("truncated")) for j in js] == [True, False, False, True, False, True, False, False]
    assert js[0]["msg"] == "A" * (1024 - len(m5424(b"")))
    assert js[1]["msg"] == "next 0" and js[7]["msg"] == "next 3"
    warn = [l for l in d.log_text().splitlines() if "truncated" in l]
    assert warn and any("max_message_size" in l for l in warn), warn


@pytest.mark.parametrize("broken", [b"12a ", b"3000000000 ", b"12\n", b"1234567890123456789012345 "])
def test_broken_octet_count_closes_only_that_connection(daemon, tmp_path, broken):
    d, out = start(daemon, tmp_path)
    port = d.port("t")
    good = sender.tcp_connect(port)
    bad = sender.tcp_connect(port)
    try:
        good.sendall(b"".join(octet(m5424(b"good %d" % i)) for i in range(50)))
        bad.sendall(lf(b"<13>bad conn ok before") + broken + m5424(b"broken"))
        bad_port = bad.getsockname()[1]
        assert sender.wait_closed_by_peer(bad), "daemon did not close the broken connection"
        good.sendall(b"".join(lf(b"<13>good %d" % i) for i in range(50, 100)))
    finally:
        bad.close()
        sender.close_graceful(good)
    expect = [m5424(b"good %d" % i) for i in range(50)] + [b"<13>good %d" % i for i in range(50, 100)]
    d.wait_file_lines(out["raw"], 101)
    line = d.wait_log(r"^\S+ warning .*octet count.*$").group(0)
    assert "127.0.0.1" in line and str(bad_port) in line, line
    assert d.stop() == 0
    lines = read_lines(out["raw"])
    assert [l for l in lines if b"good" in l] == expect
    assert [l for l in lines if b"good" not in l] == [b"<13>bad conn ok before"]


def test_octet_counted_mode_rejects_lf_frame(daemon, tmp_path):
    d, out = start(daemon, tmp_path, framing="octet-counted")
    s = sender.tcp_connect(d.port("t"))
    try:
        s.sendall(octet(m5424(b"counted ok")) + b"<13>not counted\n")
        assert sender.wait_closed_by_peer(s), "daemon kept a connection with a non-counted frame"
    finally:
        s.close()
    sender.send_tcp(d.port("t"), octet(m5424(b"second conn")), graceful=True)
    d.wait_file_lines(out["raw"], 2)
    assert d.stop() == 0
    assert sorted(read_lines(out["raw"])) == sorted([m5424(b"counted ok"), m5424(b"second conn")])


def test_lf_mode_leading_digit_is_text(daemon, tmp_path):
    d, out = start(daemon, tmp_path, framing="lf")
    msgs = [b"123 hello", b"5 <13>x", b"<13>normal", b"0 zero"]
    sender.send_tcp(d.port("t"), b"".join(lf(m) for m in msgs), graceful=True)
    d.wait_file_lines(out["raw"], len(msgs))
    assert d.stop() == 0
    assert read_lines(out["raw"]) == msgs


MALFORMED = [b"<13>1 !!!not-a-timestamp", b"<999>bad pri",
             b"<13>1 2026-13-45T99:99:99Z h a - - - bad date",
             b"<13>1 2026-01-01T00:00:00Z h a - - [unterminated sd"]
ODD = [b"\x01\x02\x03\xff\xfe\xfd", b"<13", b"<>", b"\x80\x81\x82 invalid utf8 \xc3\x28 \xed\xa0\x80",
       b"<13>1", b"<13>1 ", b"<13>Feb 30 99:99:99", b"<13>1 2026-01-01T00:00:00Z h a - - [a@1 x=\"\\\"]"]


def test_garbage_is_kept_and_never_crashes(daemon, tmp_path):
    d, out = start(daemon, tmp_path, formats=("raw", "json"))
    port = d.port("t")
    msgs = MALFORMED + ODD
    sender.send_tcp(port, b"".join(lf(m) for m in msgs), graceful=True)
    d.wait_file_lines(out["raw"], len(msgs))
    d.wait_file_lines(out["json"], len(msgs))
    assert read_lines(out["raw"]) == msgs
    js = json_lines(read_lines(out["json"]))  # valid UTF-8 JSON whatever came in
    for m, j in zip(MALFORMED, js):
        assert j.get("malformed") is True, (m, j)

    # random binary streams, closed gracefully or with RST; then the daemon still works
    rnd = random.Random(4242)
    for i in range(30):
        blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000)))
        s = sender.tcp_connect(port)
        try:
            s.sendall(blob)
        except OSError:
            pass  # the daemon may close a connection with a broken octet count
        if i % 3 == 0:
            sender.send_rst(s)
        else:
            sender.close_graceful(s)
    marker = m5424(b"still alive after garbage")
    sender.send_tcp(port, octet(marker), graceful=True)
    poll(lambda: marker in read_lines(out["raw"]) or d.check_alive(), T(15), "the marker message")
    assert d.stop() == 0
    json_lines(read_lines(out["json"]))
    assert read_lines(out["raw"]).count(marker) == 1


def test_large_messages_intact(daemon, tmp_path):
    d, out = start(daemon, tmp_path, max_message_size="256KiB")
    rnd = random.Random(99)
    msgs = [m5424(bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(n)))
            for n in (100, 200_000, 65_536, 150_000, 10)]
    data = b"".join(octet(m) if i % 2 else lf(m) for i, m in enumerate(msgs))
    s = sender.tcp_connect(d.port("t"))
    try:
        sender.send_pieces(s, data, sender.random_cuts(data, 50, 5))
    finally:
        sender.close_graceful(s)
    d.wait_file_lines(out["raw"], len(msgs))
    assert d.stop() == 0
    assert read_lines(out["raw"]) == msgs


def test_connection_closed_inside_octet_frame(daemon, tmp_path):
    d, out = start(daemon, tmp_path)
    good = [m5424(b"complete %d" % i) for i in range(3)]
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in good) + b"100 " + m5424(b"partial"),
                    graceful=True)
    marker = m5424(b"next connection")
    sender.send_tcp(d.port("t"), octet(marker), graceful=True)
    poll(lambda: marker in read_lines(out["raw"]) or d.check_alive(), T(15), "the marker message")
    assert d.stop() == 0
    lines = read_lines(out["raw"])
    assert [l for l in lines if b"complete" in l] == good
    assert lines.count(marker) == 1
    # the incomplete frame is not passed off as a complete message
    assert m5424(b"partial") not in lines
