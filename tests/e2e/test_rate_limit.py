"""rate_limit per source: a flood from one source is cut to the burst while another source
on the same input is untouched; per peer address on a TCP input (sources 127.0.0.2 and
127.0.0.3), per sending process on a unix input (SCM_CREDENTIALS: one Python process floods,
util-linux logger processes send beside it). Checked at the output message by message, in
the `rate_limited` counter and in the one line per episode."""

import socket

import pytest

import sender
from relutil import stats
from tlslogd import T, config, file_output, poll, read_json_lines, tcp_input, unix_input

BURST = 50


def rate_conf(inp, out):
    # one worker: the limit is per worker thread, and a test wants one count
    return config([inp], [file_output("o", out, format="json")], workers=1)


def lines(tag, n):
    return b"".join(b"<13>1 2026-01-01T00:00:00Z h app - - - %s %d\n" % (tag, i)
                    for i in range(n))


def msgs(out, tag):
    return [j["msg"] for j in (read_json_lines(out) if out.exists() else [])
            if j["msg"].startswith(tag + " ")]


def test_rate_limit_per_peer_address(daemon, tmp_path):
    out = tmp_path / "out.json"
    burst = 200
    d = daemon(rate_conf(tcp_input("t", framing="lf",
                                   rate_limit={"burst": burst, "interval": "1h"}), out))
    port = d.port("t")
    flood = socket.create_connection(("127.0.0.1", port), timeout=T(10),
                                     source_address=("127.0.0.2", 0))
    flood.sendall(lines(b"flood", 1000))
    sender.close_graceful(flood)
    for k in range(3):  # the other source, on three connections, within its burst: untouched
        other = socket.create_connection(("127.0.0.1", port), timeout=T(10),
                                         source_address=("127.0.0.3", 0))
        other.sendall(lines(b"other%d" % k, 60))
        sender.close_graceful(other)
    poll(lambda: len(msgs(out, "other2")) == 60, T(20), "the other source's messages")
    st = stats(d, want=("input t",))
    assert st["input t"]["rate_limited"] == 800, st["input t"]
    assert d.stop() == 0
    assert msgs(out, "flood") == ["flood %d" % i for i in range(burst)]
    for k in range(3):
        assert msgs(out, "other%d" % k) == ["other%d %d" % (k, i) for i in range(60)]
    # the episode ends with the daemon here (interval 1h): said once, with its count
    said = [l for l in d.log_text().splitlines() if "rate_limit: dropped" in l]
    assert len(said) == 1 and "input t: rate_limit: dropped 800 messages from 127.0.0.2" \
        in said[0] and "more than 200 per 3600s" in said[0], said


@pytest.mark.peers("logger")
def test_rate_limit_per_process_on_unix(daemon, tmp_path):
    out = tmp_path / "out.json"
    path = str(tmp_path / "log.sock")
    d = daemon(rate_conf(unix_input("u", path, rate_limit={"burst": BURST}), out))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.settimeout(T(10))
    for i in range(300):  # this process: one source
        s.sendto(b"<13>flood: flood %d" % i, path)
    s.close()
    for i in range(10):   # each logger run is a process of its own: none is limited
        sender.logger_unix(path, "-t", "other", "other %d" % i)
    poll(lambda: len(msgs(out, "other")) == 10, T(20), "the logger messages")
    st = stats(d, want=("input u",))
    assert st["input u"]["rate_limited"] == 250, st["input u"]
    assert d.stop() == 0
    assert msgs(out, "flood") == ["flood %d" % i for i in range(BURST)]
    assert msgs(out, "other") == ["other %d" % i for i in range(10)]
    said = [l for l in d.log_text().splitlines() if "rate_limit: dropped" in l]
    assert len(said) == 1 and "dropped 250 messages from pid " in said[0], said
