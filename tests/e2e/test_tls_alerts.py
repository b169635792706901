"""Refusals in words (issue 11, points 3, 4 and 9; issue 12, point 4):

- the refusing side sends an alert that says why, and the other side translates it: a sender
  whose name is not permitted reads "the loghost refused our certificate: alert
  certificate_unknown: it does not permit the names in our certificate (DNS:app.other.org)";
  a loghost refused by its client's name check says so (not "no cipher in common");
- a forward output refused right after the handshake backs off exponentially;
- `tlslog send` exits non-zero when the receiver refuses it (rsyslog gtls as in docs/tls.md,
  tlslogd, openssl s_server -Verify 1), and 0 with the message delivered otherwise;
- `tlslog probe --cert` against openssl s_server -Verify 1 presents the certificate;
- SIGHUP re-reads the TLS policy from the file and closes the open connections that no longer
  pass (a revoked client, a name removed from permitted_peers); a good one stays up.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import tlslogd
from peers import rsyslog as rs
from peers.certs import Pki
from peers.local import numbered
from peers.openssl import SServer
from tlsconf import feed_tcp, kill_undeliverable
from tlsneg_util import (CLIENT_NAME, SERVER_NAME, TlsConn, check_marker, lines_with, settle)
from tlslogd import T, config, file_output, poll, tcp_input

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")

TLSLOG = os.path.join(tlslogd.BUILD, "tlslog")


PKI_CA = [None]   # the module PKI's root, for send_args


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("alertpki"))
    PKI_CA[0] = p.ca.cert
    p.server = p.leaf("server", dns=[SERVER_NAME], ip=["127.0.0.1"])
    p.client = p.leaf("client", dns=[CLIENT_NAME])
    p.app_other = p.leaf("app-other", dns=["app.other.org"])
    p.stranger = p.leaf("stranger", dns=[CLIENT_NAME], issuer=p.other_ca)
    return p


def loghost_conf(pki, out, permitted=("*.test",), crl=None):
    t = dict(ca_file=pki.ca.cert, cert_file=pki.server.cert, key_file=pki.server.key)
    if crl:
        t["crl_file"] = str(crl)
    inp = dict(name="tls-in", transport="tls", listen="127.0.0.1:0",
               tls=dict(auth="name", permitted_peers=list(permitted)))
    return config([inp], [file_output("f", out)], tls=t)


def sender_conf(pki, port, cert, **tls):
    t = dict(ca_file=pki.ca.cert, cert_file=cert.cert, key_file=cert.key, auth="name",
             permitted_peers=[SERVER_NAME])
    t.update(tls)
    fwd = dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % port], transport="tls",
               reconnect_min="100ms", reconnect_max="60s", tls=t)
    return config([tcp_input("feed")], [fwd])


def tlslog(*args, timeout=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    r = subprocess.run([TLSLOG] + [str(a) for a in args], env=env, input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout or T(60))
    r.out, r.err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    for m in tlslogd.SANITIZER_MARKERS:
        assert m not in r.err, r.err
    return r


# ---------------------------------------------------------------------------------------------
# Alerts between two tlslogd

def test_client_name_not_permitted_alert_and_backoff(daemon, tmp_path, pki):
    out = tmp_path / "out.log"
    rx = daemon(loghost_conf(pki, out, permitted=["*.example.net"]), name="loghost")
    port = rx.port("tls-in")
    tx = daemon(sender_conf(pki, port, pki.app_other), name="sender")
    feed_tcp(tx.port("feed"), numbered("REFUSED", 3))
    line = tx.wait_log(r"output fwd: .*the loghost refused our certificate.*").group(0)
    assert ("the loghost refused our certificate: alert certificate_unknown: it does not permit "
            "the names in our certificate (DNS:app.other.org)") in line, line
    assert "permitted_peers" in line and "no cipher in common" not in line, line
    # the loghost says why on its side
    rx.wait_log(r"closing connection: TLS handshake failed: certificate names DNS:app\.other"
                r"\.org do not match tls\.permitted_peers \[\*\.example\.net\]")
    # Exponential backoff from 100 ms: tries at about 0, 0.1, 0.3, 0.7, 1.5, 3.1 s. Without
    # it (a reconnect every 100 ms) there would be about 40 in 4 s.
    first = rx.log_text().count("do not match tls.permitted_peers")
    settle(4)
    tries = rx.log_text().count("do not match tls.permitted_peers") - first
    assert 1 <= tries <= 8, "%d refused attempts in 4 s: no exponential backoff" % tries
    assert lines_with(out, "REFUSED") == []
    kill_undeliverable(tx)


def test_server_name_refused_by_client_is_said(daemon, tmp_path, pki):
    """The sender refuses the loghost's names: the loghost logs that its client refused its
    certificate (alert certificate_unknown), naming its own names, not 'no cipher in common'."""
    out = tmp_path / "out.log"
    rx = daemon(loghost_conf(pki, out), name="loghost")
    tx = daemon(sender_conf(pki, rx.port("tls-in"), pki.client,
                            permitted_peers=["loghost.elsewhere.net"]), name="sender")
    feed_tcp(tx.port("feed"), numbered("REFUSED", 3))
    line = rx.wait_log(r"warning input tls-in: 127\.0\.0\.1:\d+: closing connection: .*").group(0)
    assert ("the client refused our certificate: alert certificate_unknown: it does not permit "
            "the names in our certificate (DNS:server.test, IP:127.0.0.1)") in line, line
    assert "no cipher in common" not in rx.log_text()
    tx.wait_log(r"certificate names DNS:server\.test, IP:127\.0\.0\.1 do not match "
                r"tls\.permitted_peers \[loghost\.elsewhere\.net\]")
    kill_undeliverable(tx)


# ---------------------------------------------------------------------------------------------
# tlslog send: a refusal is a failure, against every kind of receiver

def send_args(port, cert, *more, ca=None):
    return ["send", "--server", "127.0.0.1:%d" % port, "--ca", ca or PKI_CA[0], "--cert", cert.cert,
            "--key", cert.key, "--peer", SERVER_NAME, "--timeout", "5"] + list(more)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_send_refused_by_tlslogd(daemon, tmp_path, pki, tls):
    out = tmp_path / "out.log"
    conf = loghost_conf(pki, out)
    conf["tls"]["min_version"] = tls
    rx = daemon(conf, name="loghost")
    port = rx.port("tls-in")
    r = tlslog(*send_args(port, pki.app_other, "REFUSED-one"))
    assert r.returncode == 1, (r.out, r.err)
    assert "cannot connect to 127.0.0.1:%d: the loghost refused our certificate: alert " \
           "certificate_unknown: it does not permit the names in our certificate " \
           "(DNS:app.other.org)" % port in r.err, r.err
    r = tlslog(*send_args(port, pki.stranger, "REFUSED-two"))
    assert r.returncode == 1 and "alert unknown_ca" in r.err, r.err
    r = tlslog(*send_args(port, pki.client, "accepted-one"))
    assert r.returncode == 0, r.err
    lines = rx.wait_file_lines(out, 1)
    assert len(lines) == 1 and lines[0].endswith(b" accepted-one"), lines
    settle()
    assert lines_with(out, "REFUSED") == []


def rsyslog_docs_receiver(tmp_path, pki):
    """rsyslog as the receiver of docs/tls.md: gtls, x509/name, one permitted peer."""
    r = rs.Rsyslog(tmp_path / "rsyslog")
    rx = r.tls_receiver(driver="gtls", authmode="x509/name", permitted_peers=[CLIENT_NAME],
                        ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key)
    return r, rx


def test_send_refused_by_rsyslog(tmp_path, pki):
    assert rs.available(), "rsyslog is not unpacked in .deps (scripts/install-peers)"
    r, rx = rsyslog_docs_receiver(tmp_path, pki)
    r.start()
    try:
        for name, cert in (("name", pki.app_other), ("ca", pki.stranger)):
            res = tlslog(*send_args(rx.port, cert, "REFUSED-" + name))
            assert res.returncode == 1, "rsyslog refused us, yet exit 0: %s" % res.err
            assert "the loghost closed the connection right after the TLS handshake without " \
                   "an alert: it most likely refused our certificate" in res.err, res.err
        res = tlslog(*send_args(rx.port, pki.client, "to-rsyslog-ok"))
        assert res.returncode == 0, res.err
        rx.out.wait_marker("to-rsyslog-ok", 1)
        settle()
        assert "REFUSED" not in Path(rx.out.path).read_text()
        assert any("not permitted to talk to peer" in l for l in r.internal.lines())
    finally:
        r.stop()


def test_send_and_probe_against_s_server_verify(tmp_path, pki):
    with SServer(tmp_path / "ss", cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert,
                 require_cert=1) as s:
        res = tlslog(*send_args(s.port, pki.stranger, "REFUSED-ca"))
        assert res.returncode == 1, res.err
        assert re.search(r"the loghost refused our certificate: alert unknown_ca: it does not "
                         r"trust '[^']*CN=other-ca[^']*', the CA that issued our certificate",
                         res.err), res.err
        res = tlslog("send", "--server", "127.0.0.1:%d" % s.port, "--ca", pki.ca.cert, "--peer",
                     SERVER_NAME, "--timeout", "5", "REFUSED-nocert")
        assert res.returncode == 1, res.err
        assert "the loghost requires a client certificate" in res.err, res.err
        res = tlslog(*send_args(s.port, pki.client, "s-server-ok"))
        assert res.returncode == 0, res.err
        s.wait_data(b"s-server-ok")
        # probe with the certificate: presented, every check ok
        pr = tlslog("probe", "127.0.0.1:%d" % s.port, "--ca", pki.ca.cert, "--cert",
                    pki.client.cert, "--key", pki.client.key, "--peer", SERVER_NAME,
                    "--timeout", "5")
        assert pr.returncode == 0, pr.out + pr.err
        assert "we sent --cert %s" % pki.client.cert in pr.out, pr.out
        assert "anon:         ok" in pr.out and "result: ok" in pr.out, pr.out
        # without one: said so, and not a failure of the server
        pr = tlslog("probe", "127.0.0.1:%d" % s.port, "--ca", pki.ca.cert, "--peer", SERVER_NAME,
                    "--timeout", "5")
        assert pr.returncode == 0, pr.out + pr.err
        assert "anon:         needs a client certificate" in pr.out, pr.out
        assert "FAILED" not in pr.out, pr.out
        assert b"REFUSED" not in s.data()


# ---------------------------------------------------------------------------------------------
# SIGHUP re-reads the policy and re-checks open connections

def test_reload_closes_connections_that_no_longer_pass(daemon, tmp_path, pki):
    late = pki.leaf("late-%s" % tmp_path.name[-10:].strip("_"), dns=["late.test"])
    gone = pki.leaf("gone-%s" % tmp_path.name[-10:].strip("_"), dns=["gone.test"])
    crl = tmp_path / "crl.pem"
    shutil.copyfile(pki.crl(pki.ca), crl)
    out = tmp_path / "out.log"
    conf = loghost_conf(pki, out, permitted=[CLIENT_NAME, "late.test", "gone.test"], crl=crl)
    d = daemon(conf, name="loghost")
    port = d.port("tls-in")
    conns = {n: TlsConn(port, pki, cert=c) for n, c in
             (("good", pki.client), ("late", late), ("gone", gone))}
    for n, c in conns.items():
        c.send(numbered("before-" + n, 3))
    for n in conns:
        check_marker(d, out, "before-" + n, 3)

    # 'late' is revoked, 'gone.test' leaves permitted_peers: both in the FILE, then SIGHUP
    shutil.copyfile(pki.revoke(late), crl)
    conf["inputs"][0]["tls"]["permitted_peers"] = [CLIENT_NAME, "late.test"]
    d.conf_path.write_text(tlslogd.to_yaml(conf) + "\n")
    d.hup()
    d.wait_log(r"info input tls-in: TLS policy \(auth name\), certificates, keys, CAs and CRLs "
               r"reloaded from ")
    revoked = d.wait_log(r"warning input tls-in: 127\.0\.0\.1:\d+: closing connection: the "
                         r"reloaded TLS policy refuses this peer \(CN=late[^)]*\): .*").group(0)
    assert "has been revoked by the CRL in tls.crl_file" in revoked, revoked
    removed = d.wait_log(r"warning input tls-in: 127\.0\.0\.1:\d+: closing connection: the "
                         r"reloaded TLS policy refuses this peer \(CN=gone[^)]*\): .*").group(0)
    assert "do not match tls.permitted_peers [client.test, late.test]" in removed, removed

    # the good connection is still up and delivering
    conns["good"].send(numbered("after-good", 3))
    check_marker(d, out, "after-good", 3)
    for n in ("late", "gone"):
        try:
            conns[n].send(numbered("AFTER-" + n, 3))
        except OSError:
            pass
    settle()
    assert lines_with(out, "AFTER-") == [], "a closed connection delivered after the reload"
    for c in conns.values():
        c.close()

    # an invalid file keeps the policy and says every error
    d.conf_path.write_text(d.conf_path.read_text() + "bogus_key: 1\noutputs: 7\n")
    d.hup()
    d.wait_log(r"error reload: [^ ]*\.yaml:\d+: .*bogus_key")
    d.wait_log(r"error reload of .* failed \(\d+ errors above\): the running configuration is "
               r"unchanged")
    c = TlsConn(port, pki, cert=pki.client)
    c.send(numbered("still", 2))
    check_marker(d, out, "still", 2)
    c.close()


def test_reload_rechecks_forward_output_server(daemon, tmp_path, pki):
    """A forward output connected to a loghost whose name leaves its permitted_peers is
    disconnected by the reload, with the reason."""
    out = tmp_path / "out.log"
    rx = daemon(loghost_conf(pki, out), name="loghost")
    conf = sender_conf(pki, rx.port("tls-in"), pki.client)
    tx = daemon(conf, name="sender")
    feed_tcp(tx.port("feed"), numbered("pre", 3))
    check_marker(rx, out, "pre", 3)
    conf["outputs"][0]["tls"]["permitted_peers"] = ["other.test"]
    tx.conf_path.write_text(tlslogd.to_yaml(conf) + "\n")
    tx.hup()
    line = tx.wait_log(r"warning output fwd: connection to 127\.0\.0\.1:\d+ lost: the reloaded "
                       r"TLS policy refuses this server: .*").group(0)
    assert "do not match tls.permitted_peers [other.test]" in line, line
    kill_undeliverable(tx)
