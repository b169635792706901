"""TLS input and SIGHUP: verification still holds after a reload, a renewed server certificate
is served to new connections while an existing connection keeps delivering, and a broken
certificate file at reload keeps the previous certificates (daemon still running)."""

import os
import shutil
import socket
import ssl
from pathlib import Path

import pytest

from peers.local import numbered
from tlsneg_util import (BAD_IP, CLIENT_NAME, RELOAD_FAILED, RELOADED, TlsConn, bad_s_client,
                         check_marker, check_reason, fp_of_der, frames, good_s_client,
                         lines_with, log_count, neg_pki, server_cert_der, settle,
                         showcerts_fp, tls_conf, wait_fail_line)
from tlslogd import T, poll

pytestmark = pytest.mark.peers("openssl")  # fails when missing (conftest.py)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return neg_pki(tmp_path_factory.mktemp("reloadpki"))


def install(src, dst, mode=0o644):
    """Replaces dst by a copy of src atomically (write a temporary file, rename)."""
    tmp = Path(str(dst) + ".new")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, mode)
    os.replace(tmp, dst)


def reload(d):
    """SIGHUP, then waits for one more 'reloaded' (or 'keeping the previous') line."""
    n_ok, n_fail = log_count(d, RELOADED), log_count(d, RELOAD_FAILED)
    d.hup()

    def done():
        if log_count(d, RELOADED) > n_ok or log_count(d, RELOAD_FAILED) > n_fail:
            return True
        d.check_alive("reloading")
        return False
    try:
        poll(done, T(10), "the reload line")
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, d.log_tail()))
    return log_count(d, RELOADED) > n_ok


def own_server_files(pki, tmp_path, cert):
    """Copies of cert's chain and key in tmp_path (the daemon's cert_file/key_file)."""
    c, k = tmp_path / "server.pem", tmp_path / "server-key.pem"
    install(cert.chain, c)
    install(cert.key, k, 0o600)
    return c, k


def test_verification_after_reload(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    d = daemon(tls_conf(pki, out, auth="name", permitted_peers=[CLIENT_NAME]))
    port = d.port("tls-in")
    good_s_client(port, pki, numbered("pre", 5))
    check_marker(d, out, "pre", 5)
    for i in range(2):  # twice: a second reload must not loosen anything either
        assert reload(d), "reload failed:\n%s" % d.log_tail()
    for tls in ("1.2", "1.3"):
        for kind, cert in (("wrong_ca", pki.other), ("name", pki.intruder),
                           ("no_cert", None)):
            res, sport = bad_s_client(port, frames(numbered("BADPEER", 3)), ca=pki.ca.cert,
                                      cert=cert.cert if cert else None,
                                      key=cert.key if cert else None, tls=tls)
            if tls == "1.2":
                assert not res.ok, "%s peer got through after reload: %r" % (kind, res)
            line = wait_fail_line(d, BAD_IP, sport)
            check_reason(kind, line, name=cert.dns[0] if cert else None)
        m = "post" + tls.replace(".", "")
        good_s_client(port, pki, numbered(m, 5), tls=tls)
        check_marker(d, out, m, 5)
    settle()
    assert lines_with(out, "BADPEER") == [], "a rejected peer's message reached the output"
    assert d.alive()


def test_renewed_server_certificate_after_reload(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    cert, key = own_server_files(pki, tmp_path, pki.server)
    d = daemon(tls_conf(pki, out, auth="certvalid", cert=cert, key=key))
    port = d.port("tls-in")
    old_fp, new_fp = pki.server.fingerprint_sha256, pki.server2.fingerprint_sha256
    assert old_fp != new_fp and pki.server.serial != pki.server2.serial

    g = TlsConn(port, pki, cert=pki.client)   # opened before the reload
    assert fp_of_der(g.peer_der()) == old_fp
    g.send(numbered("before", 10))
    check_marker(d, out, "before", 10)

    install(pki.server2.chain, cert)
    install(pki.server2.key, key, 0o600)
    assert reload(d), "reload failed:\n%s" % d.log_tail()

    # new connections get the renewed certificate (Python ssl, and openssl s_client -showcerts)
    assert fp_of_der(server_cert_der(port, pki)) == new_fp
    assert showcerts_fp(port, pki) == new_fp
    good_s_client(port, pki, numbered("afternew", 10))
    check_marker(d, out, "afternew", 10)

    # the connection opened before the reload keeps delivering
    g.send(numbered("oldconn", 10))
    check_marker(d, out, "oldconn", 10)
    g.close()
    assert d.alive()


def test_broken_cert_file_at_reload_keeps_previous(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    cert, key = own_server_files(pki, tmp_path, pki.server)
    d = daemon(tls_conf(pki, out, auth="certvalid", cert=cert, key=key))
    port = d.port("tls-in")
    old_fp = pki.server.fingerprint_sha256
    g = TlsConn(port, pki, cert=pki.client)
    g.send(numbered("before", 5))
    check_marker(d, out, "before", 5)

    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"this is not a certificate\n" + os.urandom(300))
    install(garbage, cert)
    assert not reload(d), "a garbage cert_file was reloaded:\n%s" % d.log_tail()
    garbage_line = d.wait_log(r"^.*%s.*$" % RELOAD_FAILED).group(0)
    assert d.alive()

    # the previous certificate is still served, and used
    assert fp_of_der(server_cert_der(port, pki)) == old_fp
    assert showcerts_fp(port, pki) == old_fp
    good_s_client(port, pki, numbered("after", 5))
    check_marker(d, out, "after", 5)
    g.send(numbered("oldconn", 5))
    check_marker(d, out, "oldconn", 5)
    g.close()

    # a mismatched key (renewed certificate, old key) is refused the same way
    install(pki.server2.chain, cert)
    assert not reload(d), "a certificate with the wrong key was reloaded:\n%s" % d.log_tail()
    mismatch_line = [l for l in d.log_text().splitlines() if RELOAD_FAILED in l][-1]
    assert fp_of_der(server_cert_der(port, pki)) == old_fp

    # fixing the files and reloading again works
    install(pki.server2.key, key, 0o600)
    assert reload(d), "reload of good files failed:\n%s" % d.log_tail()
    assert fp_of_der(server_cert_der(port, pki)) == pki.server2.fingerprint_sha256
    good_s_client(port, pki, numbered("fixed", 5))
    check_marker(d, out, "fixed", 5)
    assert d.alive()

    check_reason("bad_cert_file", garbage_line, name=str(cert))
    check_reason("key_mismatch", mismatch_line)


def test_crl_update_at_reload(daemon, tmp_path, pki):
    """A client revoked after the daemon started is rejected once the new CRL is installed and
    SIGHUP sent; the other clients are unaffected."""
    late = pki.leaf("late-%s" % tmp_path.name[-12:].strip("_"), dns=[CLIENT_NAME])
    crl = tmp_path / "crl.pem"
    install(pki.crl(pki.ca), crl)   # the current CRL: 'late' is not in it
    out = tmp_path / "out.log"
    conf = tls_conf(pki, out, auth="certvalid")
    conf["tls"]["crl_file"] = str(crl)
    d = daemon(conf)
    port = d.port("tls-in")
    good_s_client(port, pki, numbered("lateok", 5), cert=late)
    check_marker(d, out, "lateok", 5)

    install(pki.revoke(late), crl)
    assert reload(d), "reload failed:\n%s" % d.log_tail()
    res, sport = bad_s_client(port, frames(numbered("BADPEER", 3)), ca=pki.ca.cert,
                              cert=late.cert, key=late.key, tls="1.2")
    assert not res.ok, "a client revoked by the reloaded CRL got through: %r" % res
    line = wait_fail_line(d, BAD_IP, sport)
    good_s_client(port, pki, numbered("others", 5))
    check_marker(d, out, "others", 5)
    settle()
    assert lines_with(out, "BADPEER") == []
    check_reason("revoked", line)


class SteppedClient:
    """A TLS client driven by hand over memory BIOs, so that its handshake can be paused just
    before it sends its second flight (its certificate, and for TLS 1.2 its key exchange):
    the server is then mid-handshake, holding the SSL_CTX (and the verification policy) of
    before a reload."""

    def __init__(self, port, pki, cert, tls):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca.cert)
        ctx.load_cert_chain(cert.chain, cert.key)
        v = ssl.TLSVersion.TLSv1_2 if tls == "1.2" else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="server.test")
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=T(10))
        self.done = False

    def _step(self):
        try:
            self.obj.do_handshake()
            self.done = True
        except ssl.SSLWantReadError:
            pass

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _recv(self):
        data = self.sock.recv(65536)
        assert data, "the server closed the connection during the handshake"
        self.inc.write(data)

    def until_second_flight(self):
        self._step()
        self._flush()                      # ClientHello
        for _ in range(100):
            self._recv()
            self._step()
            if self.out.pending:           # the client's second flight is ready: hold it
                return
        raise AssertionError("no second client flight")

    def finish(self):
        self._flush()
        for _ in range(100):
            if self.done:
                break
            self._recv()
            self._step()
            self._flush()
        assert self.done

    def send(self, data):
        self.obj.write(data)
        self._flush()

    def close(self):
        try:
            self.obj.unwrap()
        except (ssl.SSLError, OSError):
            pass
        try:
            self._flush()
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(T(5))
            while self.sock.recv(4096):
                pass
        except OSError:
            pass
        self.sock.close()


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_handshake_straddling_reload(daemon, tmp_path, pki, tls):
    """Handshakes paused mid-way across a reload that swaps the server certificate complete
    afterwards (verified by the policy they started with) and deliver; a paused non-permitted
    client is still rejected; nothing crashes (run it under the sanitizer build too)."""
    out = tmp_path / "out.log"
    cert, key = own_server_files(pki, tmp_path, pki.server)
    d = daemon(tls_conf(pki, out, auth="name", permitted_peers=[CLIENT_NAME], cert=cert,
                        key=key))
    port = d.port("tls-in")
    good = [SteppedClient(port, pki, pki.client, tls) for _ in range(3)]
    bad = SteppedClient(port, pki, pki.intruder, tls)
    for c in good + [bad]:
        c.until_second_flight()
    for i in range(3):
        src = pki.server2 if i % 2 == 0 else pki.server
        install(src.chain, cert)
        install(src.key, key, 0o600)
        assert reload(d), "reload failed:\n%s" % d.log_tail()
    for i, c in enumerate(good):
        c.finish()
        c.send(frames(numbered("straddle%d" % i, 5)))
        c.close()
    try:
        bad.finish()
        bad.send(frames(numbered("BADPEER", 3)))
    except (AssertionError, ssl.SSLError, OSError):
        pass
    bad.close()
    for i in range(3):
        check_marker(d, out, "straddle%d" % i, 5)
    d.wait_log(r"warning input tls-in: 127\.0\.0\.1:\d+: closing connection: .*intruder\.test")
    good_s_client(port, pki, numbered("after", 5))
    check_marker(d, out, "after", 5)
    assert fp_of_der(server_cert_der(port, pki)) == pki.server2.fingerprint_sha256
    settle()
    assert lines_with(out, "BADPEER") == []
    assert d.alive()
