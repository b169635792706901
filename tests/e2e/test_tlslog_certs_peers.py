"""Certificates made by `tlslog cert` are accepted by OpenSSL (`openssl verify`), by rsyslog
(gtls and ossl netstream drivers) and by syslog-ng, as server certificates and as client
certificates, with messages checked at the receiving end.

The PKI here is made only with tlslog (module scope): a CA, a server certificate
(server.test + IP 127.0.0.1: syslog-ng as a sender checks the address it dialled, rsyslog's
x509/name the DNS name), a client certificate (client.test), and a second CA with a client
certificate of the same name (must be refused).

- rsyslog as server: an imtcp TLS receiver loads the tlslog server certificate and verifies
  the tlslog client certificate (x509/name, PermittedPeer client.test); `tlslog send`
  verifies the server by its address. gtls also refuses the other CA's client.
- rsyslog as client: omfwd presents the tlslog client certificate and checks the tlslogd
  server's tlslog certificate (x509/name, server.test); tlslogd requires the client's
  (auth name). rsyslog ossl x509/name may let a wrong peer through (rsyslog#6350): it is
  used only for positive cases.
- syslog-ng as server (syslog() source, peer-verify(required-trusted)) and as client
  (syslog() destination, required-trusted) against tlslog send / tlslogd.

Every process is stopped by its PID (ProcGroup, daemon fixture); every wait is bounded.
"""

import os
import subprocess

import pytest

import tlslogd
from peers import rsyslog as rs
from peers import syslogng as sng
from peers.local import check_numbered, numbered
from tlsconf import (check_json, group, json_file, need_rsyslog, need_syslogng,  # noqa: F401
                     tls_block, tls_input, wait_json)
from tlslogd import SANITIZER_MARKERS, T, config, read_json_lines

TLSLOG = os.path.join(tlslogd.BUILD, "tlslog")
SERVER, CLIENT = "server.test", "client.test"
N = 10


def tlslog(*args, cwd=None, check=True):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    r = subprocess.run([TLSLOG] + [str(a) for a in args], cwd=cwd, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=T(60), text=True)
    for m in SANITIZER_MARKERS:
        assert m not in r.stderr, "sanitizer report from tlslog %s:\n%s" % (args, r.stderr)
    if check:
        assert r.returncode == 0, "tlslog %s: rc=%d\n%s%s" % (args, r.returncode, r.stdout,
                                                             r.stderr)
    return r


class TlslogPki:
    """Files made by tlslog cert in one directory."""

    def __init__(self, d):
        self.dir = d
        tlslog("cert", "ca", "--out", d / "ca", "--name", "tlslog test CA")
        tlslog("cert", "ca", "--out", d / "other-ca", "--name", "tlslog other CA")
        self.ca = str(d / "ca" / "ca.pem")
        self.other_ca = str(d / "other-ca" / "ca.pem")
        self.server = self.issue("server", "--name", SERVER, "--ip", "127.0.0.1")
        self.client = self.issue("client", "--name", CLIENT)
        self.other = self.issue("other", "--name", CLIENT, ca="other-ca")

    def issue(self, prefix, *names, ca="ca", key=None):
        args = ["cert", "issue", "--ca", self.dir / ca, "--out", self.dir / prefix] + list(names)
        if key:
            args += ["--key", key]
        tlslog(*args)
        return (str(self.dir / (prefix + ".pem")), str(self.dir / (prefix + "-key.pem")))


@pytest.fixture(scope="module")
def tpki(tmp_path_factory):
    return TlslogPki(tmp_path_factory.mktemp("tlslog-pki"))


def send(server_port, marker, cert, ca, n=N, check=True):
    """tlslog send over TLS to 127.0.0.1:port, mutual (cert = (pem, key)), server checked by
    name (its certificate must carry IP 127.0.0.1)."""
    r = tlslog("send", "--server", "127.0.0.1:%d" % server_port, "--ca", ca,
               "--cert", cert[0], "--key", cert[1], "--timeout", "5", "--tag", "certs",
               *numbered(marker, n), check=check)
    return r


def tlslogd_receiver(daemon, tmp_path, tpki):
    """tlslogd TLS input with the tlslog server certificate, requiring a client certificate
    of the CA named client.test."""
    out = tmp_path / "in.json"
    d = daemon(config([tls_input("tls-in", tls=tls_block(
        ca=tpki.ca, cert=tpki.server[0], key=tpki.server[1], auth="name",
        permitted_peers=[CLIENT]))], [json_file("j", out)]))
    return d, out


# ---------------------------------------------------------------------------------------------
# OpenSSL

def verify(*args):
    r = subprocess.run(["openssl", "verify"] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=T(30), text=True)
    return r.returncode, r.stdout


def test_openssl_verify(tpki, tmp_path):
    for purpose in ("sslserver", "sslclient"):
        rc, out = verify("-CAfile", tpki.ca, "-purpose", purpose, tpki.server[0],
                         tpki.client[0])
        assert rc == 0, out
        assert out.count(": OK") == 2, out
    rc, out = verify("-CAfile", tpki.ca, "-verify_hostname", SERVER, tpki.server[0])
    assert rc == 0, out
    rc, out = verify("-CAfile", tpki.ca, "-verify_ip", "127.0.0.1", tpki.server[0])
    assert rc == 0, out
    rc, out = verify("-CAfile", tpki.ca, "-verify_hostname", "other.test", tpki.server[0])
    assert rc != 0, out
    rc, out = verify("-CAfile", tpki.ca, tpki.other[0])
    assert rc != 0 and "unable to get local issuer certificate" in out, out
    # RSA, and a self-signed certificate (its own trust anchor)
    rsa = tpki.issue("rsa-%s" % tmp_path.name[-6:], "--name", "rsa.test", key="rsa")
    rc, out = verify("-CAfile", tpki.ca, "-purpose", "sslserver", rsa[0])
    assert rc == 0, out
    ss = tmp_path / "self"
    tlslog("cert", "self-signed", "--name", "self.test", "--out", ss)
    rc, out = verify("-CAfile", str(ss) + ".pem", "-purpose", "sslclient", str(ss) + ".pem")
    assert rc == 0, out
    # the CA is a CA, the leaves are not
    text = subprocess.run(["openssl", "x509", "-in", tpki.ca, "-noout", "-text"],
                          stdout=subprocess.PIPE, timeout=T(30), text=True).stdout
    assert "CA:TRUE" in text and "Certificate Sign" in text
    text = subprocess.run(["openssl", "x509", "-in", tpki.server[0], "-noout", "-text"],
                          stdout=subprocess.PIPE, timeout=T(30), text=True).stdout
    assert "CA:FALSE" in text and "DNS:server.test" in text and "IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text


# ---------------------------------------------------------------------------------------------
# rsyslog

@need_rsyslog
@pytest.mark.parametrize("driver", ["gtls", "ossl"])
def test_rsyslog_server_and_verifier(tpki, tmp_path, group, driver):
    """rsyslog imtcp TLS receiver with the tlslog server certificate, verifying the tlslog
    client certificate (x509/name): tlslog send (which verifies the server) gets through."""
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rx = r.tls_receiver(driver=driver, authmode="x509/name", permitted_peers=[CLIENT],
                        ca=tpki.ca, cert=tpki.server[0], key=tpki.server[1])
    group.add(r).start()
    marker = "rsrv-" + driver
    send(rx.port, marker, tpki.client, tpki.ca)
    check_numbered(rx.out.wait_marker(marker, N, timeout=T(15)), marker, N, exact=True)
    if driver == "gtls":
        # and it does verify: the other CA's client (same name) is refused. gtls checks the
        # client certificate after the TLS 1.3 handshake and closes the connection, so tlslog
        # send may not see it (its status is not judged here): rsyslog's log and the missing
        # message are.
        send(rx.port, "rogue", tpki.other, tpki.ca, n=1, check=False)
        rx.out.stays_without("rogue", 1.0)
        assert "certificate invalid: signer not found" in r.log(), r.log()[-2000:]
    r.stop()
    assert rx.out.with_marker("rogue") == []
    assert len(rx.out.lines()) == N


@need_rsyslog
@pytest.mark.parametrize("driver", ["gtls", "ossl"])
def test_rsyslog_client_to_tlslogd(daemon, tmp_path, tpki, group, driver):
    """rsyslog omfwd presents the tlslog client certificate and checks tlslogd's tlslog server
    certificate by name (x509/name, server.test); tlslogd requires the client's (auth name)."""
    d, out = tlslogd_receiver(daemon, tmp_path, tpki)
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.tls_sender(d.port("tls-in"), driver=driver, authmode="x509/name",
                      permitted_peers=[SERVER], ca=tpki.ca, cert=tpki.client[0],
                      key=tpki.client[1], framing="octet-counted")
    group.add(r).start()
    marker = "rcli-" + driver
    tx.feed.send(numbered(marker, N))
    wait_json(d, out, marker, N)
    r.stop()
    check_json(read_json_lines(out), marker, N, peer_name=CLIENT, total=N)
    assert "TLS handshake failed" not in d.log_text()


# ---------------------------------------------------------------------------------------------
# syslog-ng

@need_syslogng
def test_syslogng_server_and_verifier(tpki, tmp_path, group):
    """syslog-ng syslog() TLS source with the tlslog server certificate and
    peer-verify(required-trusted): the tlslog client certificate is accepted, the other CA's
    is not."""
    ng = sng.SyslogNg(tmp_path / "ng", "ng")
    rx = ng.tls_receiver(driver="syslog", ca=tpki.ca, cert=tpki.server[0], key=tpki.server[1],
                         peer_verify="required-trusted")
    group.add(ng).start()
    send(rx.port, "ngsrv", tpki.client, tpki.ca)
    check_numbered(rx.out.wait_marker("ngsrv", N, timeout=T(15)), "ngsrv", N, exact=True)
    r = send(rx.port, "rogue", tpki.other, tpki.ca, n=1, check=False)
    rx.out.stays_without("rogue", 1.0)
    ng.stop()
    assert r.returncode != 0, r.stderr
    assert "Certificate validation failed" in ng.log(), ng.log()
    assert len(rx.out.lines()) == N


@need_syslogng
def test_syslogng_client_to_tlslogd(daemon, tmp_path, tpki, group):
    """syslog-ng syslog() destination with the tlslog client certificate, verifying tlslogd's
    tlslog server certificate (required-trusted, against the address 127.0.0.1)."""
    d, out = tlslogd_receiver(daemon, tmp_path, tpki)
    ng = sng.SyslogNg(tmp_path / "ng", "ng")
    tx = ng.tls_sender(d.port("tls-in"), driver="syslog", ca=tpki.ca, cert=tpki.client[0],
                       key=tpki.client[1], peer_verify="required-trusted")
    group.add(ng).start()
    tx.feed.send(numbered("ngcli", N))
    wait_json(d, out, "ngcli", N)
    ng.stop()
    check_json(read_json_lines(out), "ngcli", N, peer_name=CLIENT, total=N)
    assert "Certificate validation failed" not in ng.log(), ng.log()
    assert "TLS handshake failed" not in d.log_text()
