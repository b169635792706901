"""tlslogd -> tlslogd over TLS: mutual authentication with 1000 messages, reconnection after
the receiver restarts, failover between targets, and the client's identity as the receiver
records it (accept log line, json peer_name, a {peer_name} path template)."""

import os
import re
import socket
import ssl
import time

import pytest

from peers.local import check_numbered, numbered, octet_frame
from peers.ports import free_port
from tlsconf import (CLIENT_NAME, SERVER_NAME, check_json, rfc5424_line, feed_tcp, forward_output,  # noqa: F401
                     json_file, pki, server_tls, tls_block, tls_input, wait_json)
from tlslogd import T, config, file_output, read_json_lines, read_lines, tcp_input


def receiver_conf(pki, out, port=0, auth="name", extra_outputs=()):
    return config([tls_input("tls-in", port=port, tls=server_tls(
        pki, cert=pki.server, auth=auth,
        permitted_peers=[CLIENT_NAME] if auth == "name" else None))],
        [json_file("j", out)] + list(extra_outputs))


def sender_conf(pki, port, mutual=True, targets=None, **kw):
    t = tls_block(ca=pki.ca.cert, cert=pki.client.cert if mutual else None,
                  key=pki.client.key if mutual else None)
    o = forward_output("fwd", port, tls=t, **kw)
    if targets:
        o["targets"] = targets
    return config([tcp_input("feed")], [o])


def test_mutual_tls_1000_messages(daemon, tmp_path, pki):
    out = tmp_path / "rx.json"
    rx = daemon(receiver_conf(pki, out), name="rx")
    port = rx.port("tls-in")
    tx = daemon(sender_conf(pki, port), name="tx")
    n = 1000
    feed_tcp(tx.port("feed"), numbered("mtls", n))
    wait_json(rx, out, "mtls", n, timeout=T(30))
    assert tx.stop() == 0
    check_json(read_json_lines(out), "mtls", n, peer_name=CLIENT_NAME, total=n)
    # one connection, in order
    seqs = [int(re.search(r"seq=(\d+)", j["msg"]).group(1)) for j in read_json_lines(out)]
    assert seqs == list(range(n)), "out of order"
    assert len(re.findall(r"TLS connection accepted", rx.log_text())) == 1, rx.log_tail()
    tx.wait_log(r"output fwd: connected to 127\.0\.0\.1:%d \(tls\)" % port)
    tx.wait_log(r"output fwd: TLS session with .*")


def test_forward_reconnects_after_receiver_restart(daemon, tmp_path, pki):
    """The receiving tlslogd is stopped (SIGTERM) and started again on the same port: the
    messages sent after the restart all arrive. Messages in flight at the stop are not judged."""
    out1, out2 = tmp_path / "rx1.json", tmp_path / "rx2.json"
    rx1 = daemon(receiver_conf(pki, out1), name="rx1")
    port = rx1.port("tls-in")
    tx = daemon(sender_conf(pki, port, reconnect_min="200ms", reconnect_max="1s"), name="tx")
    feed_tcp(tx.port("feed"), numbered("before", 20))
    wait_json(rx1, out1, "before", 20)
    check_json(read_json_lines(out1), "before", 20, peer_name=CLIENT_NAME, total=20)
    assert rx1.stop() == 0
    noticed = True
    try:
        tx.wait_log(r"output fwd: connection to 127\.0\.0\.1:%d lost" % port, timeout=T(5))
    except AssertionError:
        noticed = False
    rx2 = daemon(receiver_conf(pki, out2, port=port), name="rx2")
    assert rx2.port("tls-in") == port
    feed_tcp(tx.port("feed"), numbered("after", 50))
    try:
        wait_json(rx2, out2, "after", 50, timeout=T(15))
    except AssertionError as e:
        raise AssertionError("%s\n(sender noticed the lost connection before the restart: %s)"
                             "\nsender log:\n%s" % (e, noticed, tx.log_tail()))
    check_json(read_json_lines(out2), "after", 50, peer_name=CLIENT_NAME)
    assert len(re.findall(r"output fwd: connected to", tx.log_text())) >= 2, tx.log_tail()


def test_forward_first_reachable_target(daemon, tmp_path, pki):
    """targets in order: the first (nothing listens) is skipped, the second gets everything."""
    out = tmp_path / "rx.json"
    rx = daemon(receiver_conf(pki, out), name="rx")
    port = rx.port("tls-in")
    dead = free_port()
    tx = daemon(sender_conf(pki, port, targets=["127.0.0.1:%d" % dead, "127.0.0.1:%d" % port]),
                name="tx")
    feed_tcp(tx.port("feed"), numbered("failover", 20))
    wait_json(rx, out, "failover", 20)
    check_json(read_json_lines(out), "failover", 20, peer_name=CLIENT_NAME, total=20)
    # after a failed attempt the line reads "connected to HOST:PORT after N failed attempts"
    tx.wait_log(r"output fwd: connected to 127\.0\.0\.1:%d\b" % port)
    tx.wait_log(r"output fwd: cannot connect to 127\.0\.0\.1:%d\b" % dead)


def test_forward_connection_outlives_handshake_timeout(daemon, tmp_path, pki):
    """An established TLS forward connection stays up past tls.handshake_timeout (1 s here):
    one connection for two batches sent 3 s apart, no timeout logged."""
    out = tmp_path / "rx.json"
    rx = daemon(receiver_conf(pki, out), name="rx")
    port = rx.port("tls-in")
    c = sender_conf(pki, port)
    c["outputs"][0]["tls"]["handshake_timeout"] = "1s"
    tx = daemon(c, name="tx")
    feed_tcp(tx.port("feed"), numbered("first", 10))
    wait_json(rx, out, "first", 10)
    time.sleep(3)
    feed_tcp(tx.port("feed"), numbered("second", 10))
    wait_json(rx, out, "second", 10)
    recs = read_json_lines(out)
    check_json(recs, "first", 10)
    check_json(recs, "second", 10)
    assert len(recs) == 20
    assert "timed out" not in tx.log_text(), tx.log_tail()
    assert len(re.findall(r"TLS connection accepted", rx.log_text())) == 1, rx.log_tail()


def test_input_keeps_idle_connection_past_handshake_timeout(daemon, tmp_path, pki):
    """A TLS client that completes its handshake and stays quiet longer than the input's
    tls.handshake_timeout (1 s) is not cut off: what it sends afterwards arrives."""
    out = tmp_path / "rx.json"
    conf = receiver_conf(pki, out)
    conf["inputs"][0]["tls"]["handshake_timeout"] = "1s"
    rx = daemon(conf, name="rx")
    ctx = ssl.create_default_context(cafile=pki.ca.cert)
    ctx.load_cert_chain(pki.client.cert, pki.client.key)
    with socket.create_connection(("127.0.0.1", rx.port("tls-in")), timeout=T(10)) as raw:
        with ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s:
            s.sendall(octet_frame(rfc5424_line("warmup")))
            time.sleep(2.5)
            s.sendall(b"".join(octet_frame(rfc5424_line(m)) for m in numbered("idle", 5)))
            wait_json(rx, out, "idle", 5)
    check_json(read_json_lines(out), "idle", 5, peer_name=CLIENT_NAME, total=6)
    assert "TLS handshake not completed" not in rx.log_text(), rx.log_tail()


def test_forward_stops_within_drain_timeout(daemon, tmp_path, pki):
    """SIGTERM with messages the TLS forward output cannot deliver (nothing listens on the
    target): tlslogd gives up after drain_timeout (1 s) and exits."""
    dead = free_port()
    tx = daemon(sender_conf(pki, dead, queue={"drain_timeout": "1s"}, reconnect_min="200ms",
                            reconnect_max="1s"), name="tx")
    feed_tcp(tx.port("feed"), numbered("stuck", 5))
    tx.wait_log(r"warning output fwd: cannot connect to 127\.0\.0\.1:%d" % dead)
    tx.nonzero_exit_ok = True  # giving up on undeliverable messages may be an error exit
    t0 = time.monotonic()
    tx.stop(timeout=T(6))  # raises (after SIGKILL) if it is still running
    took = time.monotonic() - t0
    assert took < T(6), took


# ---------------------------------------------------------------------------------------------
# 6. Identity

@pytest.mark.parametrize("mutual", [True, False], ids=["client-cert", "anonymous"])
def test_peer_identity_logged_and_in_json(daemon, tmp_path, pki, mutual):
    out = tmp_path / "rx.json"
    rx = daemon(receiver_conf(pki, out, auth="name" if mutual else "anon"), name="rx")
    tx = daemon(sender_conf(pki, rx.port("tls-in"), mutual=mutual), name="tx")
    feed_tcp(tx.port("feed"), numbered("ident", 10))
    wait_json(rx, out, "ident", 10)
    recs = read_json_lines(out)
    check_json(recs, "ident", 10, peer_name=CLIENT_NAME if mutual else None, total=10)
    line = rx.wait_log(r"input tls-in: 127\.0\.0\.1:\d+: TLS connection accepted.*").group(0)
    assert re.search(r"\((TLSv1\.[23]), [A-Z0-9_-]+\)", line), line
    if not mutual:
        assert "anonymous peer" in line, line
        return
    assert "authenticated peer" in line, line
    assert "CN=" + CLIENT_NAME in line, line
    assert "DNS:" + CLIENT_NAME in line, line
    assert pki.client.fingerprint_sha256 in line, (pki.client.fingerprint_sha256, line)
    for j in recs:  # optional extra fields: if present, they must be right
        if "peer_fingerprint" in j:
            assert j["peer_fingerprint"].upper() == pki.client.fingerprint_sha256, j
        if "peer_subject" in j:
            assert "CN=" + CLIENT_NAME in j["peer_subject"], j


def test_peer_name_path_template(daemon, tmp_path, pki):
    """A file output with path {peer_name}.log writes the client's messages to client.test.log."""
    out, bydir = tmp_path / "rx.json", tmp_path / "by-peer"
    rx = daemon(receiver_conf(pki, out, extra_outputs=[
        file_output("per-peer", bydir / "{peer_name}.log", format="raw")]), name="rx")
    tx = daemon(sender_conf(pki, rx.port("tls-in")), name="tx")
    feed_tcp(tx.port("feed"), numbered("perpeer", 10))
    want = bydir / (CLIENT_NAME + ".log")
    rx.wait_file_lines(want, 10)
    assert sorted(os.listdir(bydir)) == [CLIENT_NAME + ".log"]
    lines = read_lines(want)
    assert len(lines) == 10
    check_numbered(lines, "perpeer", 10)
