"""TLS interoperability with rsyslog 8.2302 (gtls and ossl netstream drivers).

  - rsyslog omfwd as client -> tlslogd TLS input: every driver x auth mode x framing;
  - the seed's own legacy setup ("Encrypting Syslog Traffic with TLS [short version]"): its
    client (CA file only, anon, '@@(o)') -> tlslogd on port 10514, and tlslogd's forward output
    in place of that client -> the seed's legacy server;
  - tlslogd forward output as client -> rsyslog imtcp TLS receiver, with and without a client
    certificate, and the server checks on both sides (rsyslog's PermittedPeer; tlslogd's name
    check of the server certificate).

Every case sends numbered messages and checks count and content at the receiving end. All on
127.0.0.1; peers are stopped by PID (ProcGroup), tlslogd by the daemon fixture.
Known rsyslog limits (see test_peers_selfcheck.py): ossl x509/name can let a non-permitted
peer through (rsyslog#6350), so rsyslog-side rejections are only tested with gtls; rsyslog's
name check ignores IP SANs (it wants the DNS name in PermittedPeers).
"""

import re

import pytest

from peers import rsyslog as rs
from peers.local import check_numbered, numbered
from peers.openssl import s_client
from peers.ports import free_port
from peers.procs import T, wait_for
from tlsconf import (CLIENT_NAME, SERVER_NAME, TLSLOGD_NAME, check_json, feed_tcp,  # noqa: F401
                     forward_output, group, json_file, kill_undeliverable, need_rsyslog, pki,
                     rfc5424_line, server_tls, tls_block, tls_input, wait_json)
from tlslogd import config, read_json_lines, tcp_input

pytestmark = need_rsyslog

N = 20

# rsyslog authmode -> tlslogd input auth
AUTHS = {"anon": "anon", "x509/certvalid": "certvalid", "x509/name": "name"}


def _id(s):
    return re.sub(r"[^A-Za-z0-9]+", "-", s)


# ---------------------------------------------------------------------------------------------
# 1. rsyslog as client -> tlslogd TLS input

@pytest.mark.parametrize("framing", ["octet-counted", "traditional"])
@pytest.mark.parametrize("authmode", list(AUTHS))
@pytest.mark.parametrize("driver", ["gtls", "ossl"])
def test_rsyslog_client_to_tlslogd(daemon, tmp_path, pki, group, driver, authmode, framing):
    """rsyslog omfwd (driver, authmode, framing) -> tlslogd TLS input with the matching auth
    (name: permitted_peers = the client's DNS name) and the matching input framing. rsyslog
    checks tlslogd's certificate (x509/name: PermittedPeers = tlslogd's DNS name) and presents
    a client certificate except in anon mode."""
    auth = AUTHS[authmode]
    anon = auth == "anon"
    out = tmp_path / "in.json"
    d = daemon(config(
        [tls_input("tls-in", framing="lf" if framing == "traditional" else "octet-counted",
                   tls=server_tls(pki, auth=auth,
                                  permitted_peers=[CLIENT_NAME] if auth == "name" else None))],
        [json_file("j", out)]))
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.tls_sender(d.port("tls-in"), driver=driver, authmode=authmode,
                      permitted_peers=[TLSLOGD_NAME] if authmode == "x509/name" else None,
                      ca=pki.ca.cert, cert=None if anon else pki.client.cert,
                      key=None if anon else pki.client.key, framing=framing)
    group.add(r).start()
    marker = _id("rs-%s-%s-%s" % (driver, auth, framing))
    tx.feed.send(numbered(marker, N))
    wait_json(d, out, marker, N)
    r.stop()
    recs = read_json_lines(out)
    check_json(recs, marker, N, peer_name=None if anon else CLIENT_NAME, total=N)
    acc = d.wait_log(r"input tls-in: 127\.0\.0\.1:\d+: TLS connection accepted.*").group(0)
    if anon:
        assert "anonymous peer" in acc, acc
    else:
        assert "authenticated peer" in acc and "DNS:" + CLIENT_NAME in acc, acc
    assert "TLS handshake failed" not in d.log_text()
    assert "not permitted" not in r.log(), r.log()


@pytest.mark.parametrize("driver,cert,auth", [("gtls", "intruder", "name"),
                                              ("ossl", "other", "certvalid")],
                         ids=["gtls-name-not-permitted", "ossl-certvalid-unknown-ca"])
def test_tlslogd_input_rejects_rsyslog_client(daemon, tmp_path, pki, group, driver, cert, auth):
    """tlslogd refuses an rsyslog client whose certificate names a peer not in permitted_peers
    (name mode), or was issued by an unknown CA (certvalid): nothing of it arrives, the
    handshake failure is logged; a good client on the same listener still gets through."""
    c = getattr(pki, cert)
    out = tmp_path / "in.json"
    d = daemon(config([tls_input("tls-in", tls=server_tls(
        pki, auth=auth, permitted_peers=[CLIENT_NAME] if auth == "name" else None))],
        [json_file("j", out)]))
    trust = pki.bundle("trust-%s.pem" % tmp_path.name[-12:], pki.ca, pki.other_ca)
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.tls_sender(d.port("tls-in"), driver=driver, authmode="x509/certvalid", ca=trust,
                      cert=c.cert, key=c.key)
    group.add(r).start()
    tx.feed.send(numbered("bad", 5))
    line = d.wait_log(r"\S+ input tls-in: 127\.0\.0\.1:\d+: closing connection: "
                      r"TLS handshake failed: .*").group(0)
    assert line.startswith("warning"), line
    assert (c.dns[0] in line) if auth == "name" else ("not among the trusted CAs" in line), line
    r.stop()
    assert not [j for j in read_json_lines(out) if "bad" in j.get("msg", "")], \
        "a refused client's messages were written"
    # the listener still serves a permitted client
    data = b"".join(b"%d %s" % (len(m), m) for m in
                    (rfc5424_line(x) for x in numbered("good", 5)))
    res = s_client(d.port("tls-in"), data, ca=pki.ca.cert, cert=pki.client.cert,
                   key=pki.client.key, tls="1.2")
    assert res.ok, res
    wait_json(d, out, "good", 5)
    check_json(read_json_lines(out), "good", 5, peer_name=CLIENT_NAME, total=5)


# ---------------------------------------------------------------------------------------------
# 2. The seed's setup


@pytest.mark.parametrize("driver", ["gtls", "ossl"])
def test_seed_legacy_client_to_tlslogd(daemon, tmp_path, pki, group, driver):
    """The seed's client lines verbatim (only $DefaultNetstreamDriverCAFile, StreamDriverMode 1,
    AuthMode anon, '*.* @@(o)127.0.0.1:PORT') -> a TLS-only tlslogd listener with auth anon
    (said out loud: with a CA and no auth an input is refused). Any free port: the seed's 10514
    could be taken by a test running in parallel."""
    out = tmp_path / "in.json"
    d = daemon(config([tls_input("tls-in", tls=server_tls(pki, auth="anon"))],
                      [json_file("j", out)]))
    port = d.port("tls-in")
    cli = rs.Rsyslog(tmp_path / "cli", "cli")
    tx = cli.legacy_seed_client(port, ca=pki.ca.cert, host="127.0.0.1", driver=driver)
    conf = cli.config_text()
    assert "*.* @@(o)127.0.0.1:%d" % port in conf
    assert "$DefaultNetstreamDriverCertFile" not in conf
    group.add(cli).start()
    marker = "seed-" + driver
    tx.feed.send(numbered(marker, N))
    wait_json(d, out, marker, N)
    cli.stop()
    # '*.*' also forwards rsyslogd's own messages: count only the marker
    check_json(read_json_lines(out), marker, N, peer_name=None)
    assert re.search(r"TLS connection accepted.*anonymous peer", d.log_text()), d.log_tail()


@pytest.mark.parametrize("auth", ["anon", "name", None], ids=["anon", "name", "default"])
def test_tlslogd_forward_to_seed_legacy_server(daemon, tmp_path, pki, group, auth):
    """tlslogd's forward output in place of the seed client (tls: only ca_file, plus auth)
    -> the seed's legacy gtls server (anon clients). name (and the default, which is name on
    outputs): the server certificate must carry the dialled address 127.0.0.1 (it does)."""
    port = free_port()
    srv = rs.Rsyslog(tmp_path / "srv", "srv")
    rx = srv.legacy_seed_server(port, ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key)
    group.add(srv).start()
    d = daemon(config([tcp_input("feed")],
                      [forward_output("fwd", port, tls=tls_block(ca=pki.ca.cert, auth=auth))]))
    marker = "fwdseed-" + (auth or "default")
    feed_tcp(d.port("feed"), numbered(marker, N))
    lines = rx.out.wait_marker(marker, N)
    check_numbered(lines, marker, N, exact=True)
    assert len(rx.out.lines()) == N, rx.out.lines()
    d.wait_log(r"output fwd: connected to 127\.0\.0\.1:%d \(tls\)" % port)
    d.wait_log(r"output fwd: TLS session with")


# ---------------------------------------------------------------------------------------------
# 4. tlslogd forward output as client -> rsyslog TLS receiver

@pytest.mark.parametrize("mutual", [True, False], ids=["client-cert", "no-client-cert"])
@pytest.mark.parametrize("driver", ["gtls", "ossl"])
def test_tlslogd_forward_to_rsyslog(daemon, tmp_path, pki, group, driver, mutual):
    """tlslogd forward (octet-counted RFC 5424, server checked by name) -> rsyslog imtcp TLS:
    with a client certificate rsyslog runs x509/name with PermittedPeer = the client's name;
    without one, anon."""
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rx = r.tls_receiver(driver=driver, authmode="x509/name" if mutual else "anon",
                        permitted_peers=[CLIENT_NAME] if mutual else None, ca=pki.ca.cert,
                        cert=pki.server.cert, key=pki.server.key)
    group.add(r).start()
    t = tls_block(ca=pki.ca.cert, cert=pki.client.cert if mutual else None,
                  key=pki.client.key if mutual else None, auth="name")
    d = daemon(config([tcp_input("feed")], [forward_output("fwd", rx.port, tls=t)]))
    marker = "fwdrs-%s-%s" % (driver, "mutual" if mutual else "anon")
    feed_tcp(d.port("feed"), numbered(marker, N))
    check_numbered(rx.out.wait_marker(marker, N), marker, N, exact=True)
    assert len(rx.out.lines()) == N
    d.wait_log(r"output fwd: connected to 127\.0\.0\.1:%d \(tls\)" % rx.port)
    d.wait_log(r"output fwd: TLS session with")
    assert "not permitted" not in r.log()


def test_rsyslog_gtls_rejects_tlslogd_not_permitted(daemon, tmp_path, pki, group):
    """rsyslog gtls x509/name whose PermittedPeer is not the tlslogd client's name: nothing
    arrives and rsyslog logs the rejection (gtls only: ossl's rejection is unreliable,
    rsyslog#6350)."""
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rx = r.tls_receiver(driver="gtls", authmode="x509/name", permitted_peers=["someone-else.test"],
                        ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key)
    group.add(r).start()
    t = tls_block(ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key)
    d = daemon(config([tcp_input("feed")],
                      [forward_output("fwd", rx.port, tls=t, queue={"drain_timeout": "1s"},
                                      reconnect_min="200ms", reconnect_max="1s")]))
    feed_tcp(d.port("feed"), numbered("refused", 5))
    rejected = lambda: re.search(r"not permitted to talk to .*client\.test", r.log())
    wait_for(lambda: rejected() or rx.out.with_marker("refused"), T(10),
             "rsyslog to reject client.test")
    rx.out.stays_without("refused", 1.0)
    assert rejected()


@pytest.mark.parametrize("case", ["address-not-in-cert", "permitted-peer", "unknown-ca"])
def test_tlslogd_forward_checks_rsyslog_server(daemon, tmp_path, pki, group, case):
    """tlslogd's check of the server certificate (rsyslog gtls, anon clients):
    address-not-in-cert: the server certificate names only server.test, tlslogd dials
    127.0.0.1 with auth name and no permitted_peers -> refused, nothing sent;
    permitted-peer: the same server with permitted_peers [server.test] -> delivered;
    unknown-ca: tlslogd trusts only the other CA -> refused."""
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rx = r.tls_receiver(driver="gtls", authmode="anon", ca=pki.ca.cert,
                        cert=pki.server_noip.cert, key=pki.server_noip.key)
    group.add(r).start()
    ca = pki.other_ca.cert if case == "unknown-ca" else pki.ca.cert
    t = tls_block(ca=ca, auth="name",
                  permitted_peers=[SERVER_NAME] if case == "permitted-peer" else None)
    d = daemon(config([tcp_input("feed")],
                      [forward_output("fwd", rx.port, tls=t, queue={"drain_timeout": "1s"},
                                      reconnect_min="200ms", reconnect_max="1s")]))
    marker = "chk-" + case
    feed_tcp(d.port("feed"), numbered(marker, N))
    if case == "permitted-peer":
        check_numbered(rx.out.wait_marker(marker, N), marker, N, exact=True)
        assert len(rx.out.lines()) == N
        return
    line = d.wait_log(r"warning output fwd: cannot connect to 127\.0\.0\.1:%d: .*" % rx.port).group(0)
    if case == "unknown-ca":
        assert "not among the trusted CAs" in line, line
    else:
        assert "DNS:" + SERVER_NAME in line and "127.0.0.1" in line.split("permitted")[-1], line
    rx.out.stays_without(marker, 1.0)
    assert not re.search(r"output fwd: TLS session with", d.log_text()), d.log_tail()
    kill_undeliverable(d)
