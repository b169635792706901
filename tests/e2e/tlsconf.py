"""Helpers for the TLS interoperability tests (tests/e2e/test_tls_interop_*.py): tlslogd TLS
config blocks, the shared test PKI, feeding a tlslogd through plain TCP, and checking what a
json/raw file output holds.

    pki = interop_pki(dir)          # .ca .tlslogd .server .server_noip .client .intruder .other
    tls_input("tls-in", tls=tls_block(ca=..., cert=..., key=..., auth="name",
                                      permitted_peers=["client.test"]))
    forward_output("fwd", port, tls=tls_block(ca=pki.ca.cert, auth="anon"))
    feed_tcp(d.port("feed"), numbered("m", 20))       # LF-framed RFC 5424 into a tcp input
    check_json(path, "m", 20, peer_name="client.test")

Fixtures (import them into a test module to use them): pki (module scope), group (a ProcGroup
of peers, stopped in teardown).
"""

import re

import pytest

import sender
from peers import rsyslog as rs
from peers import syslogng as sng
from peers.certs import Pki
from peers.local import check_numbered
from peers.procs import ProcGroup
from tlslogd import T, file_output, poll, read_json_lines

# Missing peers fail the test (conftest.py: pytest_runtest_setup).
need_rsyslog = pytest.mark.peers("rsyslog")
need_syslogng = pytest.mark.peers("syslog-ng")

# Names in the test certificates.
TLSLOGD_NAME = "tlslogd.test"   # tlslogd's own server certificate
SERVER_NAME = "server.test"     # a peer (rsyslog / syslog-ng / receiving tlslogd) acting as server
CLIENT_NAME = "client.test"     # every client certificate that should be let in


def interop_pki(directory):
    """EC P-256 test PKI. Server certificates carry IP:127.0.0.1 (syslog-ng checks the dialled
    address; rsyslog's name check ignores IP SANs and uses the DNS name)."""
    p = Pki(directory)
    p.tlslogd = p.leaf("tlslogd", dns=[TLSLOGD_NAME], ip=["127.0.0.1"])
    p.server = p.leaf("server", dns=[SERVER_NAME], ip=["127.0.0.1"])
    p.server_noip = p.leaf("server-noip", dns=[SERVER_NAME])  # names only server.test
    p.client = p.leaf("client", dns=[CLIENT_NAME])
    p.intruder = p.leaf("intruder", dns=["intruder.test"])     # same CA, name not permitted
    p.other = p.leaf("other", dns=[CLIENT_NAME], issuer=p.other_ca)  # right name, wrong CA
    return p


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return interop_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def group():
    g = ProcGroup()
    yield g
    errors = g.stop_all()
    assert not errors, errors


# ---------------------------------------------------------------------------------------------
# tlslogd configuration pieces

def tls_block(ca=None, cert=None, key=None, auth=None, permitted_peers=None, fingerprints=None,
              **extra):
    """A tls: mapping with the keys that are given (ca -> ca_file, cert -> cert_file, ...)."""
    d = {}
    for k, v in (("ca_file", ca), ("cert_file", cert), ("key_file", key), ("auth", auth)):
        if v is not None:
            d[k] = str(v)
    if permitted_peers is not None:
        d["permitted_peers"] = list(permitted_peers)
    if fingerprints is not None:
        d["fingerprints"] = list(fingerprints)
    d.update({k: v for k, v in extra.items() if v is not None})
    return d


def server_tls(pki, auth=None, permitted_peers=None, cert=None):
    """tls: block of a tlslogd input: tlslogd's server certificate, the test CA."""
    cert = cert or pki.tlslogd
    return tls_block(ca=pki.ca.cert, cert=cert.cert, key=cert.key, auth=auth,
                     permitted_peers=permitted_peers)


def tls_input(name="tls-in", port=0, host="127.0.0.1", tls=None, **kw):
    d = dict(name=name, transport="tls", listen="%s:%d" % (host, port))
    d.update({k: v for k, v in kw.items() if v is not None})
    if tls is not None:
        d["tls"] = tls
    return d


def forward_output(name, port, host="127.0.0.1", transport="tls", tls=None, **kw):
    d = dict(name=name, type="forward", targets=["%s:%d" % (host, port)], transport=transport)
    d.update({k: v for k, v in kw.items() if v is not None})
    if tls is not None:
        d["tls"] = tls
    return d


def json_file(name, path):
    return file_output(name, path, format="json")


# ---------------------------------------------------------------------------------------------
# Feeding and checking

def rfc5424_line(msg, app="interop", host="feeder.test"):
    return ("<13>1 2026-01-01T00:00:00Z %s %s - - - %s" % (host, app, msg)).encode()


def feed_tcp(port, msgs, app="interop"):
    """LF-framed RFC 5424 messages into a tlslogd tcp input; waits until the daemon closed
    its side (everything was read)."""
    data = b"".join(rfc5424_line(m, app) + b"\n" for m in msgs)
    sender.send_tcp(port, data, graceful=True)


def with_marker_json(path, marker):
    return [j for j in read_json_lines(path) if marker in (j.get("msg") or "")]


def wait_json(d, path, marker, n, timeout=None):
    """Waits (bounded) until n json records with marker are in path; returns all records
    with marker. d: the Daemon writing path (its death fails the wait at once)."""
    holder = {}

    def enough():
        got = with_marker_json(path, marker)
        holder["n"] = len(got)
        if len(got) >= n:
            return got
        d.check_alive("waiting for %d %r records in %s" % (n, marker, path))
        return None
    try:
        return poll(enough, timeout or T(15), "%d json records with %r in %s" % (n, marker, path))
    except AssertionError as e:
        raise AssertionError("%s (have %s); log:\n%s" % (e, holder.get("n"), d.log_tail()))


UNSET = object()


def check_json(records, marker, n, peer_name=UNSET, total=None):
    """Each numbered message exactly once and intact in the "msg" fields (exactly the message),
    nothing else with the marker; peer_name: the value every record must carry, None = the key
    must be absent. total: the number of records expected in all (records of other markers
    included) when given."""
    mine = [j for j in records if marker in (j.get("msg") or "")]
    check_numbered([j["msg"] for j in mine], marker, n, exact=True)
    assert len(mine) == n, "%d records with %r, expected %d" % (len(mine), marker, n)
    if total is not None:
        assert len(records) == total, "%d records in all, expected %d" % (len(records), total)
    if peer_name is not UNSET:
        for j in mine:
            if peer_name is None:
                assert "peer_name" not in j, "peer_name in a record of an anonymous peer: %r" % j
            else:
                assert j.get("peer_name") == peer_name, "peer_name %r, expected %r in %r" % (
                    j.get("peer_name"), peer_name, j)
    return mine


def log_lines(d, regex):
    """Lines of daemon d's log matching regex."""
    r = re.compile(regex)
    return [l for l in d.log_text().splitlines() if r.search(l)]



def kill_undeliverable(d):
    """Ends a tlslogd whose forward output still holds messages it cannot deliver (negative
    tests). It should exit on SIGTERM within drain_timeout; it does not (it keeps retrying
    forever: test_forward_stops_within_drain_timeout), which would stall the fixture's
    teardown for 20 s. The rejection, not the shutdown, is what those tests judge."""
    d.kill()
    d.nonzero_exit_ok = True
