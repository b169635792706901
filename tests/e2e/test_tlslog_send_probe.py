"""`tlslog send` (a logger that speaks TLS, TCP and UDP) and `tlslog probe` (what a TLS syslog
receiver presents, and which authentication modes accept it), against real receivers: tlslogd
inputs (json file output, so each field is checked at the receiving end), rsyslog's TLS
receiver, and openssl's view of the same certificates.

Every tlslog run is bounded (--timeout 5 and a subprocess timeout) and fails the test on a
sanitizer report; every receiver is stopped by the fixtures that started it.
"""

import hashlib
import os
import re
import socket
import ssl
import subprocess

import pytest

import tlslogd
from peers import rsyslog as rs
from peers.openssl import SServer
from peers.ports import free_port
from tlsconf import (CLIENT_NAME, TLSLOGD_NAME, group, interop_pki, json_file,  # noqa: F401
                     need_rsyslog, server_tls, tls_input, wait_json)
from tlslogd import SANITIZER_MARKERS, T, config, read_json_lines, tcp_input, udp_input

TLSLOG = os.path.join(tlslogd.BUILD, "tlslog")
HOST = socket.gethostname()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = interop_pki(tmp_path_factory.mktemp("pki"))
    p.expired = p.expired_leaf("expired", dns=[TLSLOGD_NAME], ip=["127.0.0.1"])
    p.wrong_ca_server = p.leaf("wrong-ca-server", dns=[TLSLOGD_NAME], ip=["127.0.0.1"],
                               issuer=p.other_ca)
    return p


def tlslog(*args, stdin=None, timeout=None):
    """Runs tlslog to completion (bounded); fails the test on any sanitizer report."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    r = subprocess.run([TLSLOG] + [str(a) for a in args], env=env,
                       input=stdin if stdin is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout or T(60))
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    for m in SANITIZER_MARKERS:
        assert m not in err, "sanitizer report from tlslog %s:\n%s" % (args, err)
    r.out, r.err = out, err
    return r


def ok(*args, **kw):
    r = tlslog(*args, **kw)
    assert r.returncode == 0, "tlslog %s: rc=%d\n%s%s" % (args, r.returncode, r.out, r.err)
    return r


def fails(*args, rc=1, **kw):
    r = tlslog(*args, **kw)
    assert r.returncode == rc, "tlslog %s: rc=%d (expected %d)\n%s%s" % (
        args, r.returncode, rc, r.out, r.err)
    return r


def openssl_fp(cert_path):
    """'SHA256:AB:...' as `openssl x509 -fingerprint -sha256` prints it."""
    r = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-fingerprint",
                        "-sha256"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=T(30), check=True, text=True)
    return "SHA256:" + r.stdout.strip().split("=", 1)[1]


# ---------------------------------------------------------------------------------------------
# receivers

def receiver(daemon, tmp_path, inp, name="rx"):
    out = tmp_path / (name + ".json")
    d = daemon(config([inp], [json_file("j", out)]), name=name)
    return d, out, "127.0.0.1:%d" % d.port(inp["name"])


def tls_receiver(daemon, tmp_path, pki, auth="anon", cert=None, **kw):
    permitted = [CLIENT_NAME] if auth == "name" else None
    inp = tls_input("tls-in", tls=server_tls(pki, auth=auth, permitted_peers=permitted,
                                              cert=cert), **kw)
    return receiver(daemon, tmp_path, inp)


def records(d, out, marker, n):
    return [j for j in wait_json(d, out, marker, n) if marker in (j.get("msg") or "")]


def check_fields(recs, app="tlslog", host=HOST, pri=13):
    for j in recs:
        assert j["app_name"] == app, j
        assert j["hostname"] == host, j
        assert j["pri"] == pri, j
        assert j["proto"] == "rfc5424", j


# ---------------------------------------------------------------------------------------------
# send: delivery

def test_send_tcp_fields(daemon, tmp_path):
    d, out, srv = receiver(daemon, tmp_path, tcp_input("tcp-in"))
    ok("send", "--server", srv, "--transport", "tcp", "--timeout", "5", "--tag", "myapp",
       "--hostname", "web1.example", "--priority", "local3.err", "tcp one", "tcp two: x=1")
    recs = records(d, out, "tcp ", 2)
    assert [j["msg"] for j in recs] == ["tcp one", "tcp two: x=1"]
    check_fields(recs, app="myapp", host="web1.example", pri=19 * 8 + 3)
    assert all(j["facility"] == "local3" and j["severity"] == "err" for j in recs)


def test_send_tcp_rfc3164_octet(daemon, tmp_path):
    d, out, srv = receiver(daemon, tmp_path, tcp_input("tcp-in"))
    ok("send", "--server", srv, "--transport", "tcp", "--timeout", "5", "--format", "rfc3164",
       "--framing", "octet-counted", "--tag", "bsd", "bsd message")
    (j,) = records(d, out, "bsd message", 1)
    assert j["proto"] == "rfc3164" and j["app_name"] == "bsd" and j["msg"] == "bsd message", j
    assert j["hostname"] == HOST and j["pri"] == 13, j


def test_send_tls_anon(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    r = ok("send", "--server", srv, "--auth", "anon", "--timeout", "5", "anon over tls")
    (j,) = records(d, out, "anon over tls", 1)
    check_fields([j])
    assert "peer_name" not in j
    assert r.err == "", r.err
    d.wait_log(r"TLS connection accepted")


def test_send_tls_mutual_name(daemon, tmp_path, pki):
    """auth name both ways: the server carries IP:127.0.0.1 (HOST), then the name given
    with --peer; tlslogd permits the client's name."""
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="name")
    ok("send", "--server", srv, "--ca", pki.ca.cert, "--cert", pki.client.cert, "--key",
       pki.client.key, "--timeout", "5", "mutual by address")
    ok("send", "--server", srv, "--ca", pki.ca.cert, "--cert", pki.client.cert, "--key",
       pki.client.key, "--peer", TLSLOGD_NAME, "--timeout", "5", "mutual by name")
    recs = records(d, out, "mutual by", 2)
    check_fields(recs)
    assert all(j["peer_name"] == CLIENT_NAME and j["peer_verified"] for j in recs), recs


def test_send_udp(daemon, tmp_path):
    d, out, srv = receiver(daemon, tmp_path, udp_input("udp-in"))
    ok("send", "--server", srv, "--transport", "udp", "--timeout", "5", "udp one", "udp two")
    recs = records(d, out, "udp ", 2)
    assert sorted(j["msg"] for j in recs) == ["udp one", "udp two"]
    check_fields(recs)


def test_send_stdin_lines(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    lines = b"stdin line 1\nstdin line 2\r\n\nstdin line 3 \xc3\xa9t\xc3\xa9\nstdin line 4"
    ok("send", "--server", srv, "--auth", "anon", "--timeout", "5", stdin=lines)
    recs = records(d, out, "stdin line", 4)
    assert [j["msg"] for j in recs] == ["stdin line 1", "stdin line 2",
                                        "stdin line 3 \u00e9t\u00e9", "stdin line 4"]
    check_fields(recs)


def test_send_count_1000(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="name")
    ok("send", "--server", srv, "--ca", pki.ca.cert, "--cert", pki.client.cert, "--key",
       pki.client.key, "--timeout", "5", "--count", "1000", "load test")
    recs = records(d, out, "load test", 1000)
    assert [j["msg"] for j in recs] == ["load test seq=%d" % i for i in range(1, 1001)]
    assert len(read_json_lines(out)) == 1000
    check_fields(recs[:1] + recs[-1:])
    assert len(re.findall(r"TLS connection accepted", d.log_text())) == 1


def test_send_rate(daemon, tmp_path):
    d, out, srv = receiver(daemon, tmp_path, tcp_input("tcp-in"))
    r = ok("send", "--server", srv, "--transport", "tcp", "--timeout", "5", "--count", "5",
           "--rate", "20", "paced")
    assert len(records(d, out, "paced", 5)) == 5
    assert r.err == ""


@need_rsyslog
def test_send_to_rsyslog(tmp_path, pki, group):  # noqa: F811
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rx = r.tls_receiver(driver="ossl", authmode="anon", ca=pki.ca.cert, cert=pki.server.cert,
                        key=pki.server.key)
    group.add(r).start()
    ok("send", "--server", "127.0.0.1:%d" % rx.port, "--ca", pki.ca.cert, "--timeout", "5",
       "--count", "50", "to-rsyslog")
    lines = rx.out.wait_marker("to-rsyslog", 50)
    msgs = [l.strip() for l in lines]
    assert msgs == ["to-rsyslog seq=%d" % i for i in range(1, 51)], msgs[:5]


need_relp = pytest.mark.peers("rsyslog-relp")  # fails when missing (conftest.py)


@need_relp
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_send_relp_to_rsyslog(tmp_path, pki, group, tls):  # noqa: F811
    """RELP to rsyslog's imrelp: exit 0 means every message was acknowledged (rsp 200)."""
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rx = r.relp_receiver(tls=tls, authmode="name", permitted_peers=[CLIENT_NAME],
                         ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key)
    group.add(r).start()
    args = ["--ca", pki.ca.cert, "--cert", pki.client.cert, "--key", pki.client.key] if tls \
        else []
    marker = "relp-%s" % ("tls" if tls else "plain")
    ok("send", "--server", "127.0.0.1:%d" % rx.port, "--transport", "relp", "--timeout", "5",
       "--count", "3000", *args, marker)
    msgs = [l.strip() for l in rx.out.wait_marker(marker, 3000)]
    assert msgs == ["%s seq=%d" % (marker, i) for i in range(1, 3001)], msgs[:5]


def test_send_relp_to_tlslogd(daemon, tmp_path, pki):
    """RELP over TLS to a tlslogd relp input that wants a client certificate."""
    inp = dict(name="relp-in", transport="relp", listen="127.0.0.1:0",
               tls=server_tls(pki, auth="name", permitted_peers=[CLIENT_NAME]))
    d, out, srv = receiver(daemon, tmp_path, inp)
    ok("send", "--server", srv, "--transport", "relp", "--ca", pki.ca.cert, "--cert",
       pki.client.cert, "--key", pki.client.key, "--timeout", "5", "--count", "500", "relp-tl")
    recs = records(d, out, "relp-tl", 500)
    assert [j["msg"] for j in recs] == ["relp-tl seq=%d" % i for i in range(1, 501)]
    check_fields(recs[:1])
    # without a client certificate: refused, and said so
    r = fails("send", "--server", srv, "--transport", "relp", "--ca", pki.ca.cert, "--timeout",
              "5", "never")
    assert r.err.startswith("tlslog send: cannot connect to %s: " % srv), r.err
    assert "client certificate" in r.err, r.err


def test_send_relp_not_a_relp_port(daemon, tmp_path):
    d, out, srv = receiver(daemon, tmp_path, tcp_input("tcp-in"))
    r = fails("send", "--server", srv, "--transport", "relp", "--timeout", "2", "x")
    assert r.err.startswith("tlslog send: cannot connect to %s: " % srv), r.err
    assert "RELP" in r.err, r.err


# ---------------------------------------------------------------------------------------------
# send: failures

def test_send_wrong_ca(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    r = fails("send", "--server", srv, "--ca", pki.other_ca.cert, "--timeout", "5", "never")
    line = r.err.strip()
    assert "\n" not in line, r.err
    assert line.startswith("tlslog send: cannot connect to %s: " % srv), line
    assert "issued by 'CN=ca" in line and "not among the trusted CAs" in line, line


def test_send_name_mismatch(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    r = fails("send", "--server", srv, "--ca", pki.ca.cert, "--peer", "elsewhere.test",
              "--timeout", "5", "never")
    line = r.err.strip()
    assert line.startswith("tlslog send: cannot connect to %s: " % srv), line
    assert "DNS:%s" % TLSLOGD_NAME in line and "elsewhere.test" in line, line


def test_send_refused():
    port = free_port()
    for transport in ("tls", "tcp", "udp", "relp"):
        args = ["--auth", "anon"] if transport == "tls" else []
        r = fails("send", "--server", "127.0.0.1:%d" % port, "--transport", transport,
                  "--timeout", "5", *args, "never")
        assert r.err.strip() == ("tlslog send: cannot connect to 127.0.0.1:%d: Connection "
                                 "refused: nothing listens on 127.0.0.1:%d"
                                 % (port, port)) or ("refused" in r.err and transport == "udp"), \
            r.err


def test_send_usage_errors():
    r = fails("send", "--server", "127.0.0.1:6514", "x", rc=2)
    assert "give --ca FILE (the CA that issued the server's certificate), or --auth anon" in r.err
    r = fails("send", "--server", "127.0.0.1:6514", "--transport", "sctp", "x", rc=2)
    r = fails("send", "--server", "127.0.0.1:6514", "--auth", "anon", "--count", "3", rc=2)
    assert "exactly one" in r.err
    r = fails("send", "x", rc=2)
    assert "--server" in r.err


def test_send_plaintext_port(daemon, tmp_path):
    """TLS to a plain TCP input: a bounded failure that says the port may be plaintext."""
    d, out, srv = receiver(daemon, tmp_path, tcp_input("tcp-in"))
    r = fails("send", "--server", srv, "--auth", "anon", "--timeout", "2", "x")
    # The input either waits for more (its framer took the ClientHello as the start of a
    # message) or closes (the bytes made no valid frame): both must say "plaintext".
    assert r.err.startswith("tlslog send: cannot connect to %s: " % srv), r.err
    assert "plaintext" in r.err, r.err


# ---------------------------------------------------------------------------------------------
# probe

def test_probe_good(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    r = ok("probe", srv, "--ca", pki.ca.cert, "--timeout", "5")
    assert re.search(r"^TLS: +TLSv1\.[23], \S+", r.out, re.M), r.out
    assert "subject:      CN=%s" % TLSLOGD_NAME in r.out, r.out
    assert "DNS:%s, IP:127.0.0.1" % TLSLOGD_NAME in r.out
    assert "valid now" in r.out
    fp = openssl_fp(pki.tlslogd.cert)
    assert "fingerprints: [\"%s\"]" % fp in r.out, (fp, r.out)
    assert re.search(r"^  certvalid: +ok", r.out, re.M), r.out
    assert re.search(r"^  name: +ok", r.out, re.M), r.out
    assert "client certificate: not asked for" in r.out
    assert r.out.rstrip().endswith("result: ok"), r.out
    # without --ca: the chain is shown, certvalid is not checked, still a working handshake
    r = ok("probe", srv, "--timeout", "5")
    assert "not checked: give --ca" in r.out, r.out


def test_probe_unknown_ca(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon", cert=pki.wrong_ca_server)
    r = fails("probe", srv, "--ca", pki.ca.cert, "--timeout", "5")
    assert "certvalid:    FAILED" in r.out, r.out
    assert "the CA needed: 'CN=other-ca,O=tlslogd tests'" in r.out, r.out
    assert "other-ca" in r.err, r.err


def test_probe_expired(tmp_path, pki):
    # tlslogd refuses to start with an expired certificate: openssl s_server serves one.
    with SServer(tmp_path, cert=pki.expired.cert, key=pki.expired.key) as s:
        srv = "127.0.0.1:%d" % s.port
        r = fails("probe", srv, "--ca", pki.ca.cert, "--timeout", "5")
        assert ": EXPIRED" in r.out, r.out
        assert "certificate expired on 2021-01-01" in r.out, r.out
        assert "expired" in r.err, r.err


def test_probe_name_mismatch(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    r = fails("probe", srv, "--ca", pki.ca.cert, "--peer", "wrong.test", "--timeout", "5")
    assert re.search(r"^  certvalid: +ok", r.out, re.M), r.out
    assert "name:         FAILED" in r.out, r.out
    assert "--peer %s" % TLSLOGD_NAME in r.out, r.out
    assert "wrong.test" in r.err, r.err


def test_probe_client_certificate_required(daemon, tmp_path, pki):
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="certvalid")
    # Refused only for want of a client certificate: said so, and not a failure of the probe.
    r = ok("probe", srv, "--ca", pki.ca.cert, "--timeout", "5")
    assert "anon:         needs a client certificate: the server asks for a client " \
           "certificate (mutual authentication): give --cert and --key" in r.out, r.out
    assert "result: ok for the server; it requires a client certificate" in r.out, r.out
    r = ok("probe", srv, "--ca", pki.ca.cert, "--cert", pki.client.cert, "--key",
           pki.client.key, "--timeout", "5")
    assert "the server asks for one (mutual authentication); we sent" in r.out, r.out
    # a client certificate from a CA the server does not trust
    r = fails("probe", srv, "--ca", pki.ca.cert, "--cert", pki.other.cert, "--key",
              pki.other.key, "--timeout", "5")
    assert "anon:         FAILED: the loghost refused our certificate: alert unknown_ca: it " \
           "does not trust 'CN=other-ca,O=tlslogd tests'" in r.out, r.out


def test_probe_plaintext_port(daemon, tmp_path):
    d, out, srv = receiver(daemon, tmp_path, tcp_input("tcp-in"))
    r = fails("probe", srv, "--timeout", "3")
    assert "plaintext" in r.out and "plaintext" in r.err, r.out + r.err


def test_probe_plaintext_answer(tmp_path):
    """A server that answers in plaintext: shown as such, with what it sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(T(10))
    port = srv.getsockname()[1]
    p = subprocess.Popen([TLSLOG, "probe", "127.0.0.1:%d" % port, "--timeout", "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        c, _ = srv.accept()
        c.recv(4096)
        c.sendall(b"220 smtp.example ESMTP\r\n")
        out, err = p.communicate(timeout=T(20))
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.close()
    assert p.returncode == 1
    assert b"the port speaks plaintext (not TLS)" in out and b"220 smtp.example" in out, out


def test_probe_nothing_listens():
    port = free_port()
    r = fails("probe", "127.0.0.1:%d" % port, "--timeout", "5")
    assert r.err.strip() == "tlslog probe: nothing listens on 127.0.0.1:%d (connection " \
                            "refused)" % port, r.err


def test_probe_fingerprint_matches_server_der(daemon, tmp_path, pki):
    """The pinned fingerprint is the SHA-256 of the DER the server presents."""
    d, out, srv = tls_receiver(daemon, tmp_path, pki, auth="anon")
    port = d.port("tls-in")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=T(10)) as raw:
        with ctx.wrap_socket(raw) as s:
            der = s.getpeercert(binary_form=True)
    h = hashlib.sha256(der).hexdigest().upper()
    fp = "SHA256:" + ":".join(h[i:i + 2] for i in range(0, len(h), 2))
    r = ok("probe", srv, "--timeout", "5")
    assert fp in r.out, r.out
