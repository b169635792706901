"""TLS input, negative cases: bad peers (openssl s_client, raw sockets) are rejected with a log
line naming their address and a reason (keywords: REASONS in tlsneg_util.py), nothing they send
reaches the output, and a good client on the same listener delivers everything before, during
and after the bad attempts. Also: fingerprint mode with a self-signed client and no CA, and
hostname_must_match_cert.

Bad peers connect from 127.0.0.2; the good ones from 127.0.0.1.
"""

import re
import socket
import ssl
import time

import pytest

import sender
from peers.local import numbered
from peers.openssl import s_client
from tlsneg_util import (ACCEPTED, BAD_IP, CLIENT_NAME, SERVER_NAME, HOSTNAME_REJECTED, TlsConn,
                         bad_s_client, check_marker, check_reason, frames, good_s_client,
                         lines_with, neg_pki, settle, stat, stats_line, tls_conf, wait_fail_line)
from tlslogd import T

pytestmark = pytest.mark.peers("openssl")  # fails when missing (conftest.py)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return neg_pki(tmp_path_factory.mktemp("negpki"))


# ---------------------------------------------------------------------------------------------
# Bad peers. Each: start(port, pki) -> state (with .sport, the source port on BAD_IP);
# finish(state) after the daemon logged the rejection.

class Bad:
    def __init__(self, sport, res=None, sock=None, t0=None):
        self.sport, self.res, self.sock, self.t0 = sport, res, sock, t0


def s_client_bad(cert_attr, tls):
    def start(port, pki):
        c = getattr(pki, cert_attr) if cert_attr else None
        res, sport = bad_s_client(port, frames(numbered("BADPEER", 5)), ca=pki.ca.cert,
                                  cert=c.cert if c else None, key=c.key if c else None, tls=tls)
        return Bad(sport, res=res)

    def finish(b):
        if tls == "1.2":  # the rejection fails the client's handshake too
            assert not b.res.ok, \
                "TLS 1.2 s_client with a rejected certificate succeeded: %r" % b.res
    return start, finish


def old_version_bad(client_tls):
    """A client offering only an old version (SECLEVEL=0 so that OpenSSL 3 sends TLS 1.1 at
    all). Either side may refuse; the server must log the failure."""
    def start(port, pki):
        extra = ["-cipher", "DEFAULT@SECLEVEL=0"] if client_tls in ("1.1", "1") else []
        res, sport = bad_s_client(port, frames(numbered("BADPEER", 5)), ca=pki.ca.cert,
                                  cert=pki.client.cert, key=pki.client.key, tls=client_tls,
                                  extra=extra)
        return Bad(sport, res=res)

    def finish(b):
        assert not b.res.ok, "an old-version client completed a handshake: %r" % b.res
    return start, finish


def _raw_from_bad(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(T(10))
    s.bind((BAD_IP, 0))
    s.connect(("127.0.0.1", port))
    return s


def plaintext_bad():
    def start(port, pki):
        s = _raw_from_bad(port)
        s.sendall(b"<13>hello plaintext\n")
        return Bad(s.getsockname()[1], sock=s)

    def finish(b):
        try:
            assert sender.wait_closed_by_peer(b.sock, T(10)), \
                "the daemon kept the plaintext connection open"
        finally:
            b.sock.close()
    return start, finish


def silent_bad():
    def start(port, pki):
        s = _raw_from_bad(port)
        return Bad(s.getsockname()[1], sock=s, t0=time.monotonic())

    def finish(b):
        try:
            assert sender.wait_closed_by_peer(b.sock, T(10)), \
                "the daemon kept the silent connection open"
            waited = time.monotonic() - b.t0
            # handshake_timeout is 2s: the connection must not be dropped much earlier
            assert waited >= 1.5, \
                "silent client dropped after %.2fs (handshake_timeout 2s)" % waited
        finally:
            b.sock.close()
    return start, finish


def client_hello():
    """The bytes of a real TLS ClientHello (Python ssl over memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname=SERVER_NAME)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outg.read()


def partial_hello_bad():
    """Half a ClientHello, then nothing: the handshake is under way but never completes."""
    def start(port, pki):
        s = _raw_from_bad(port)
        hello = client_hello()
        assert len(hello) > 40 and hello[0] == 0x16
        s.sendall(hello[:len(hello) // 2])
        return Bad(s.getsockname()[1], sock=s, t0=time.monotonic())
    return start, silent_bad()[1]


# (REASONS key, config kwargs, bad peer (start, finish), test id suffix)
def _cases():
    out = []
    for tls in ("1.2", "1.3"):
        out += [
            ("wrong_ca", dict(auth="certvalid"), s_client_bad("other", tls), tls),
            ("expired", dict(auth="certvalid"), s_client_bad("expired", tls), tls),
            ("not_yet_valid", dict(auth="certvalid"), s_client_bad("early", tls), tls),
            ("revoked", dict(auth="certvalid", crl=True), s_client_bad("revoked", tls), tls),
            ("name", dict(auth="name", permitted_peers=[CLIENT_NAME]),
             s_client_bad("intruder", tls), tls),
            ("no_cert", dict(auth="certvalid"), s_client_bad(None, tls), tls),
            ("fingerprint", dict(auth="fingerprint", fingerprints="CLIENT_FP"),
             s_client_bad("stranger", tls), tls),
        ]
    out += [
        ("tls1_1", dict(auth="certvalid"), old_version_bad("1.1"), "client"),
        ("tls12_min13", dict(auth="certvalid", min_version="1.3"), old_version_bad("1.2"),
         "client1.2"),
        ("plaintext", dict(auth="certvalid"), plaintext_bad(), "raw"),
        ("silent", dict(auth="certvalid", handshake_timeout="2s"), silent_bad(), "raw"),
        ("silent", dict(auth="certvalid", handshake_timeout="2s"), partial_hello_bad(),
         "partial-hello"),
    ]
    return [pytest.param(k, c, b, id="%s-%s" % (k, v)) for k, c, b, v in out]


@pytest.mark.parametrize("kind,conf_kw,bad", _cases())
def test_bad_peer_rejected_good_peer_unaffected(daemon, tmp_path, pki, kind, conf_kw, bad):
    out = tmp_path / "out.log"
    kw = dict(conf_kw)
    if kw.get("fingerprints") == "CLIENT_FP":
        kw["fingerprints"] = [pki.client.fingerprint_sha256]
    min_version = kw.pop("min_version", None)
    conf = tls_conf(pki, out, **kw)
    if min_version:
        conf["tls"]["min_version"] = min_version
    d = daemon(conf)
    port = d.port("tls-in")
    start, finish = bad

    # a good client, connected before the bad attempt, delivers before it ...
    g = TlsConn(port, pki, cert=pki.client)
    g.send(numbered("goodA", 10))
    check_marker(d, out, "goodA", 10)

    b = start(port, pki)
    # ... during it (the same connection, and a new one) ...
    g.send(numbered("goodB", 10))
    good_s_client(port, pki, numbered("goodC", 10))
    check_marker(d, out, "goodB", 10)
    check_marker(d, out, "goodC", 10)

    line = wait_fail_line(d, BAD_IP, b.sport, timeout=T(15))
    finish(b)

    # ... and after it
    g.send(numbered("goodD", 10))
    g.close()
    good_s_client(port, pki, numbered("goodE", 10))
    for m in ("goodA", "goodB", "goodC", "goodD", "goodE"):
        check_marker(d, out, m, 10)

    settle()
    assert lines_with(out, "BADPEER") == [], "a rejected peer's message reached the output"
    assert lines_with(out, "plaintext") == [], "plaintext reached the output"
    log = d.log_text()
    assert "%s:" % BAD_IP not in "\n".join(l for l in log.splitlines() if "accepted" in l), \
        "the bad peer was accepted:\n%s" % d.log_tail()
    assert len([l for l in log.splitlines() if "127.0.0.1:" in l and
                re.search(ACCEPTED, l)]) >= 3, d.log_tail()
    st = stats_line(d)
    assert stat(st, "handshake_failures") == 1, st
    assert d.alive()

    bad_cert = {"fingerprint": pki.stranger, "name": pki.intruder}.get(kind)
    check_reason(kind, line, fp=bad_cert.fingerprint_sha256 if bad_cert else None,
                 name=bad_cert.dns[0] if bad_cert else None)


def test_fingerprint_self_signed_client_without_ca(daemon, tmp_path, pki):
    """auth fingerprint, no ca_file at all: the self-signed client whose SHA-256 fingerprint is
    listed gets in (its fingerprint in the accept line); another self-signed one does not."""
    out = tmp_path / "out.log"
    d = daemon(tls_conf(pki, out, auth="fingerprint", ca=False,
                        fingerprints=[pki.fp_client.fingerprint_sha256]))
    port = d.port("tls-in")
    for tls in ("1.2", "1.3"):
        m = "fpok" + tls.replace(".", "")
        good_s_client(port, pki, numbered(m, 10), cert=pki.fp_client, tls=tls)
        check_marker(d, out, m, 10)
    acc = d.wait_log(r"^.*127\.0\.0\.1:\d+: %s.*$" % ACCEPTED).group(0)
    assert pki.fp_client.fingerprint_sha256.lower() in acc.lower(), acc
    res, sport = bad_s_client(port, frames(numbered("BADPEER", 5)), ca=pki.ca.cert,
                              cert=pki.stranger.cert, key=pki.stranger.key, tls="1.2")
    assert not res.ok, res
    line = wait_fail_line(d, BAD_IP, sport)
    settle()
    assert lines_with(out, "BADPEER") == []
    check_reason("fingerprint", line, fp=pki.stranger.fingerprint_sha256)


def test_hostname_must_match_cert(daemon, tmp_path, pki):
    """A permitted client (client.test) sends messages with HOSTNAME client.test (kept) and
    with HOSTNAME other.test (rejected, counted, warned)."""
    out = tmp_path / "out.log"
    d = daemon(tls_conf(pki, out, auth="name", permitted_peers=[CLIENT_NAME],
                        input_extra={"hostname_must_match_cert": True}))
    port = d.port("tls-in")
    ok = numbered("hostok", 6)
    bad = numbered("hostbad", 3)
    data = b""
    for i, m in enumerate(ok):
        data += frames([m], host=CLIENT_NAME)
        if i % 2 == 1:
            data += frames([bad[i // 2]], host="other.test")
    res = s_client(port, data, ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key,
                   servername="server.test")
    assert res.ok, res
    check_marker(d, out, "hostok", 6)
    settle()
    assert lines_with(out, "hostbad") == [], "messages with a foreign HOSTNAME were kept"
    line = d.wait_log(r"^.*warning input tls-in: 127\.0\.0\.1:\d+: .*%s.*$"
                      % HOSTNAME_REJECTED).group(0)
    assert "other.test" in line, line
    st = stats_line(d)
    assert stat(st, "rejected_hostname") == 3, st
    assert d.alive()


# ---------------------------------------------------------------------------------------------
# permitted_peers patterns (auth name). Rejected peers connect from 127.0.0.1, so that an
# address entry wrongly matched against the connecting address would let them in.

PATTERNS = [CLIENT_NAME, "*.example.net", "127.0.0.1"]
NAME_CASES = [
    # id, leaf kwargs, accepted
    ("exact", dict(dns=[CLIENT_NAME]), True),
    ("exact-upper-case", dict(dns=["CLIENT.Test"]), True),
    ("wildcard-one-label", dict(dns=["a.example.net"]), True),
    ("wildcard-two-labels", dict(dns=["a.b.example.net"]), False),
    ("wildcard-bare-domain", dict(dns=["example.net"]), False),
    ("wildcard-suffix-only", dict(dns=["aexample.net"]), False),
    ("second-dns-name", dict(dns=["other.test", "a.example.net"]), True),
    ("ip-san", dict(ip=["127.0.0.1"], cn="ip-only"), True),
    ("other-ip-san", dict(ip=["127.0.0.3"], cn="ip-other"), False),
    ("cn-only-no-san", dict(cn=CLIENT_NAME), True),           # RFC 5425 5.2: CN when no DNS SAN
    ("cn-ignored-with-dns-san", dict(dns=["other.test"], cn=CLIENT_NAME), False),
    ("prefix-of-permitted", dict(dns=["client.test.evil.net"]), False),
]


@pytest.mark.parametrize("case,leaf_kw,accepted", [pytest.param(*c, id=c[0]) for c in NAME_CASES])
def test_permitted_peers_patterns(daemon, tmp_path, pki, case, leaf_kw, accepted):
    cert = pki.leaf("pat-%s" % case, **leaf_kw)
    out = tmp_path / "out.log"
    d = daemon(tls_conf(pki, out, auth="name", permitted_peers=PATTERNS))
    port = d.port("tls-in")
    res, sport = bad_s_client(port, frames(numbered("PAT", 5)), ca=pki.ca.cert, cert=cert.cert,
                              key=cert.key, tls="1.2", source="127.0.0.1")
    if accepted:
        assert res.ok, res
        check_marker(d, out, "PAT", 5)
        d.wait_log(r"127\.0\.0\.1:%d: %s" % (sport, ACCEPTED))
    else:
        line = wait_fail_line(d, "127.0.0.1", sport)
        assert not res.ok, res
        good_s_client(port, pki, numbered("good", 5))
        check_marker(d, out, "good", 5)
        settle()
        assert lines_with(out, "PAT") == [], "%s (%s) got through" % (case, leaf_kw)
        assert "permitted_peers" in line, line
