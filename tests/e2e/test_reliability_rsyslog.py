"""RELP over TLS with rsyslog (issue 4): rsyslog omrelp -> tlslogd relp input, and tlslogd relp
forward output -> rsyslog imrelp, name authentication both ways, 5,000 numbered messages each:
every one arrives (exactly once: nothing is restarted here)."""

import pytest

from peers import rsyslog as rs
from relutil import feed, load, relp_forward, stats, wait_distinct
from tlsconf import CLIENT_NAME, SERVER_NAME, TLSLOGD_NAME, group, pki, server_tls  # noqa: F401
from tlslogd import T, config, file_output, poll, tcp_input

need_relp = pytest.mark.peers("rsyslog-relp")  # fails when missing (conftest.py)

N = 5000


@need_relp
def test_rsyslog_omrelp_tls_to_tlslogd(daemon, tmp_path, pki, group):
    out = tmp_path / "rx.raw"
    rx = daemon(config([dict(name="relp-in", transport="relp", listen="127.0.0.1:0",
                             tls=server_tls(pki, auth="name", permitted_peers=[CLIENT_NAME]))],
                       [file_output("f", out, format="raw")]), name="rx")
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.relp_sender(rx.port("relp-in"), ca=pki.ca.cert, cert=pki.client.cert,
                       key=pki.client.key, authmode="name", permitted_peers=[TLSLOGD_NAME],
                       local="tcp")
    group.add(r).start()
    feed(tx.local_port, load("omrelp", 0, N), timeout=T(30))
    t = wait_distinct(out, "omrelp", N, T(60), alive=[rx])
    print("\nrsyslog omrelp/TLS -> tlslogd: " + t.summary())
    assert not t.missing and not t.corrupt and not t.dups, "%s\ntlslogd log:\n%s\nrsyslog:\n%s" % (
        t.summary(), rx.log_tail(15), r.log()[-3000:])
    assert "authenticated peer CN=" + CLIENT_NAME in rx.log_text(), rx.log_tail(15)


@need_relp
def test_tlslogd_relp_tls_to_rsyslog_imrelp(daemon, tmp_path, pki, group):
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    rrx = r.relp_receiver(ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key,
                          authmode="name", permitted_peers=[CLIENT_NAME])
    group.add(r).start()
    tx = daemon(config([tcp_input("feed")], [relp_forward(pki, rrx.port)]), name="tx")
    feed(tx.port("feed"), load("imrelp", 0, N), timeout=T(30))
    t = wait_distinct(rrx.out.path, "imrelp", N, T(60), alive=[tx])
    holder = {}

    def acked():
        holder["st"] = stats(tx, want=["output fwd"])["output fwd"]
        return holder["st"].get("acknowledged") == N
    try:
        poll(acked, T(10), "acknowledged=%d in the sender's counters" % N, interval=0.2)
    except AssertionError:
        pass  # asserted below, with the counters
    st = holder["st"]
    print("\ntlslogd -> rsyslog imrelp/TLS: %s; sender %s" % (t.summary(), st))
    assert not t.missing and not t.corrupt and not t.dups, "%s\ntlslogd log:\n%s\nrsyslog:\n%s" % (
        t.summary(), tx.log_tail(15), r.log()[-3000:])
    assert st["acknowledged"] == N, st
