"""TLS hardening (issue 12): CRLs checked for the whole chain (a revoked intermediate CA is
refused, on inputs and on forward outputs), a trusted CA without a CRL is a start-up error,
key files readable by others are refused, a CA certificate is never a peer's leaf, and the
daemon's own files get the right advice (expired certificate, a ca_file with no CA).

The PKI is made with the openssl CLI at test time: root -> intermediate -> leaf, the root's
CRL revoking one of two intermediates.
"""

import os
import re
import shutil

import pytest

from peers.certs import Pki
from peers.local import numbered
from peers.openssl import SServer, s_client
from tlsconf import feed_tcp, kill_undeliverable
from tlsneg_util import (BAD_IP, CLIENT_NAME, SERVER_NAME, bad_s_client, check_marker, frames,
                         good_s_client, lines_with, settle, tls_conf, wait_fail_line)
from tlslogd import T, config, file_output, poll, tcp_input

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("hardpki"))
    p.server = p.leaf("server", dns=[SERVER_NAME], ip=["127.0.0.1"])
    p.client = p.leaf("client", dns=[CLIENT_NAME])
    p.bad_int = p.new_ca("bad-intermediate", issuer=p.ca)
    p.good_int = p.new_ca("good-intermediate", issuer=p.ca)
    p.via_bad = p.leaf("via-bad", dns=[CLIENT_NAME], issuer=p.bad_int)
    p.via_good = p.leaf("via-good", dns=[CLIENT_NAME], issuer=p.good_int)
    p.server_via_bad = p.leaf("server-via-bad", dns=[SERVER_NAME], ip=["127.0.0.1"],
                              issuer=p.bad_int)
    p.server_via_good = p.leaf("server-via-good", dns=[SERVER_NAME], ip=["127.0.0.1"],
                               issuer=p.good_int)
    root_crl = p.revoke(p.bad_int)          # the root's CRL revokes the intermediate
    # crl_file: the root's CRL and each intermediate's own (empty) CRL
    p.crl_all = p.bundle("crl-all.pem", root_crl, p.crl(p.bad_int), p.crl(p.good_int))
    p.root_crl_only = p.bundle("crl-root.pem", root_crl)
    p.expired_server = p.expired_leaf("expired-server", dns=[SERVER_NAME])
    p.ca_as_client = ca_as_leaf(p, "ca-as-client", CLIENT_NAME)
    return p


def ca_as_leaf(p, name, dns):
    """A certificate that is fit for TLS in every way (keyUsage digitalSignature, EKU, SAN)
    but is a CA certificate (CA:TRUE), issued by p.ca."""
    d = p.dir / name
    d.mkdir()
    key, csr, cert, ext = d / "key.pem", d / "req.csr", d / "cert.pem", d / "ext.cnf"
    ext.write_text("basicConstraints = critical,CA:TRUE\n"
                   "keyUsage = critical,keyCertSign,cRLSign,digitalSignature\n"
                   "extendedKeyUsage = serverAuth,clientAuth\n"
                   "subjectAltName = DNS:%s\n" % dns)
    p._run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + name])
    os.chmod(key, 0o600)
    p._run(["ca", "-config", p.ca.cnf, "-batch", "-notext", "-in", csr, "-out", cert,
            "-extfile", ext, "-days", "30"])
    return type("CaLeaf", (), dict(cert=str(cert), key=str(key)))


def fails_to_start(daemon, conf, name="bad"):
    """Starts tlslogd with conf; it must exit non-zero at start. Returns its log."""
    d = daemon(conf, name=name, start=False)
    d.nonzero_exit_ok = True
    d.start(wait=False)
    poll(lambda: not d.alive(), T(20), "tlslogd to refuse to start")
    assert d.proc.returncode != 0, d.log_text()
    return d.log_text()


# ---------------------------------------------------------------------------------------------
# Revocation of an intermediate CA

def test_revoked_intermediate_refused_on_input(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    conf = tls_conf(pki, out, auth="certvalid")
    conf["tls"]["crl_file"] = pki.crl_all
    d = daemon(conf)
    port = d.port("tls-in")
    for tls in ("1.2", "1.3"):
        res, sport = bad_s_client(port, frames(numbered("BADPEER", 3)), ca=pki.ca.cert,
                                  cert=pki.via_bad.cert, key=pki.via_bad.key, tls=tls,
                                  extra=["-cert_chain", pki.via_bad.chain])
        if tls == "1.2":
            assert not res.ok, "a client under a revoked intermediate got through: %r" % res
        line = wait_fail_line(d, BAD_IP, sport)
        assert re.search(r"the CA certificate '[^']*CN=bad-intermediate[^']*' \(serial [0-9A-F]+\) "
                         r"in the peer's chain has been revoked", line), line
        assert "tls.crl_file" in line, line
    # a client under the other intermediate, and one issued by the root, are let in
    res = s_client(port, frames(numbered("viagood", 5)), ca=pki.ca.cert, cert=pki.via_good.cert,
                   key=pki.via_good.key, servername=SERVER_NAME, cert_chain=pki.via_good.chain)
    assert res.ok, res
    check_marker(d, out, "viagood", 5)
    good_s_client(port, pki, numbered("direct", 5))
    check_marker(d, out, "direct", 5)
    settle()
    assert lines_with(out, "BADPEER") == [], "a refused peer's message reached the output"


def test_revoked_intermediate_refused_on_output(daemon, tmp_path, pki):
    """The forward output checks the receiver's chain the same way: a receiver whose
    certificate comes from the revoked intermediate gets nothing; one from the other
    intermediate gets every message."""
    for name, cert, refused in (("bad", pki.server_via_bad, True),
                                ("good", pki.server_via_good, False)):
        srv = SServer(tmp_path / ("srv-" + name), cert=cert.cert, key=cert.key,
                      chain=cert.chain).start()
        try:
            feed = tcp_input("feed")
            fwd = dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % srv.port],
                       transport="tls", reconnect_min="200ms",
                       tls=dict(ca_file=pki.ca.cert, crl_file=pki.crl_all, auth="name",
                                permitted_peers=[SERVER_NAME]))
            d = daemon(config([feed], [fwd]), name="sender-" + name)
            feed_tcp(d.port("feed"), numbered("fwd" + name, 5))
            if refused:
                m = d.wait_log(r"warning output fwd: cannot connect to 127\.0\.0\.1:\d+: .*")
                assert re.search(r"the CA certificate '[^']*CN=bad-intermediate[^']*' .* has "
                                 r"been revoked", m.group(0)), m.group(0)
                settle(0.5)
                assert b"fwdbad" not in srv.data(), srv.data()
                kill_undeliverable(d)
            else:
                srv.wait_data(lambda b: b.count(b"fwdgood") >= 5, T(15))
                assert srv.data().count(b"fwdgood") == 5, srv.data()
        finally:
            srv.stop()


def test_ca_without_crl_is_a_startup_error(daemon, tmp_path, pki):
    """Two trusted roots, the CRL of only one: the daemon says which CA lacks its CRL."""
    out = tmp_path / "out.log"
    conf = tls_conf(pki, out, auth="certvalid")
    conf["tls"]["ca_file"] = pki.bundle("two-roots.pem", pki.ca, pki.other_ca)
    conf["tls"]["crl_file"] = pki.root_crl_only
    log = fails_to_start(daemon, conf)
    assert re.search(r"error input tls-in: tls\.crl_file \S+ holds no CRL issued by the CA "
                     r"'[^']*CN=other-ca[^']*'", log), log
    assert "add that CA's current CRL" in log, log


# ---------------------------------------------------------------------------------------------
# Key files

def key_copy(pki, tmp_path, mode):
    k = tmp_path / ("key-%o.pem" % mode)
    shutil.copyfile(pki.server.key, k)
    os.chmod(k, mode)
    return k


def test_key_readable_by_others_is_refused(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    k = key_copy(pki, tmp_path, 0o644)
    log = fails_to_start(daemon, tls_conf(pki, out, auth="certvalid", key=k))
    assert "private key %s is readable by others (mode 0644)" % k in log, log
    assert "chmod 600 %s" % k in log, log


def test_key_readable_by_group_is_a_warning(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    k = key_copy(pki, tmp_path, 0o640)
    d = daemon(tls_conf(pki, out, auth="certvalid", key=k))
    d.wait_log(r"warning input tls-in: private key %s is readable by its group \(mode 0640\)"
               % re.escape(str(k)))
    good_s_client(d.port("tls-in"), pki, numbered("grp", 3))
    check_marker(d, out, "grp", 3)


def test_key_password_file_mode_is_checked(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    enc = tmp_path / "enc-key.pem"
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-pass\n")
    os.chmod(pw, 0o644)
    pki._run(["pkey", "-in", pki.server.key, "-out", enc, "-aes256", "-passout",
              "file:%s" % pw])
    os.chmod(enc, 0o600)
    conf = tls_conf(pki, out, auth="certvalid", key=enc)
    conf["tls"]["key_password_file"] = str(pw)
    log = fails_to_start(daemon, conf)
    assert "tls.key_password_file %s is readable by others (mode 0644)" % pw in log, log
    os.chmod(pw, 0o600)
    d = daemon(conf, name="fixed")
    good_s_client(d.port("tls-in"), pki, numbered("pwok", 3))
    check_marker(d, out, "pwok", 3)


# ---------------------------------------------------------------------------------------------
# A CA certificate as a peer's own

def test_ca_certificate_as_client_leaf_is_refused(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    d = daemon(tls_conf(pki, out, auth="certvalid"))
    port = d.port("tls-in")
    for tls in ("1.2", "1.3"):
        res, sport = bad_s_client(port, frames(numbered("BADPEER", 3)), ca=pki.ca.cert,
                                  cert=pki.ca_as_client.cert, key=pki.ca_as_client.key,
                                  tls=tls)
        if tls == "1.2":
            assert not res.ok, "a CA certificate was accepted as a client's: %r" % res
            # the refusal carries its reason to the client: unsupported_certificate
            assert "unsupported certificate" in res.stderr, res.stderr
        line = wait_fail_line(d, BAD_IP, sport)
        assert "CN=ca-as-client" in line and "is a CA certificate (basicConstraints CA:TRUE)" \
            in line, line
    good_s_client(port, pki, numbered("leafok", 3))
    check_marker(d, out, "leafok", 3)
    settle()
    assert lines_with(out, "BADPEER") == []


# ---------------------------------------------------------------------------------------------
# The daemon's own files

def test_expired_own_certificate_refuses_to_start(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    log = fails_to_start(daemon, tls_conf(pki, out, auth="anon", cert=pki.expired_server.cert,
                                          key=pki.expired_server.key))
    assert "error input tls-in: our certificate expired on 2021-01-01 00:00:00 UTC: renew it" \
        in log, log
    assert "append the intermediate" not in log, log


def test_ca_file_holding_a_leaf(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    conf = tls_conf(pki, out, auth="certvalid")
    conf["tls"]["ca_file"] = pki.server.cert   # our own certificate by mistake
    log = fails_to_start(daemon, conf)
    assert "tls.ca_file %s holds no CA certificate" % pki.server.cert in log, log
    assert "append the intermediate" not in log, log
