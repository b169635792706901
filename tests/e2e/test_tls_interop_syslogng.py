"""TLS interoperability with syslog-ng 3.38 (Debian syslog-ng-core).

  - syslog-ng as client -> tlslogd TLS input: syslog(transport(tls)) (RFC 5425 octet-counted
    RFC 5424) and network(transport(tls)) (LF-framed RFC 3164), syslog-ng verifying tlslogd's
    certificate (peer-verify(required-trusted), against the dialled 127.0.0.1), with a client
    certificate tlslogd checks (auth name, permitted_peers);
  - tlslogd forward output as client -> syslog-ng TLS source: syslog() with octet-counted
    framing, network() with LF framing; peer-verify(required-trusted) with a client
    certificate, optional-untrusted without one, and required-trusted without one (refused).

Numbered messages; count and content checked at the receiving end. All on 127.0.0.1.
"""

import re

import pytest

from peers import syslogng as sng
from peers.local import check_numbered, numbered
from peers.procs import T, wait_for
from tlsconf import (CLIENT_NAME, check_json, feed_tcp, forward_output, group,  # noqa: F401
                     json_file, need_syslogng, pki, server_tls, tls_block, tls_input, wait_json)
from tlslogd import config, read_json_lines, tcp_input

pytestmark = need_syslogng

N = 20


# ---------------------------------------------------------------------------------------------
# 3. syslog-ng as client -> tlslogd

@pytest.mark.parametrize("driver", ["syslog", "network"])
def test_syslogng_client_to_tlslogd_mutual(daemon, tmp_path, pki, group, driver):
    out = tmp_path / "in.json"
    d = daemon(config([tls_input("tls-in", tls=server_tls(pki, auth="name",
                                                          permitted_peers=[CLIENT_NAME]))],
                      [json_file("j", out)]))
    ng = sng.SyslogNg(tmp_path / "ng", "ng")
    tx = ng.tls_sender(d.port("tls-in"), driver=driver, ca=pki.ca.cert, cert=pki.client.cert,
                       key=pki.client.key, peer_verify="required-trusted")
    group.add(ng).start()
    marker = "sng-" + driver
    tx.feed.send(numbered(marker, N))
    wait_json(d, out, marker, N)
    ng.stop()
    recs = read_json_lines(out)
    check_json(recs, marker, N, peer_name=CLIENT_NAME, total=N)
    # syslog(): RFC 5424 octet-counted; network(): RFC 3164 with LF
    protos = {str(j.get("proto")).lower() for j in recs}
    assert all(("5424" in p) == (driver == "syslog") for p in protos), protos
    acc = d.wait_log(r"input tls-in: 127\.0\.0\.1:\d+: TLS connection accepted.*").group(0)
    assert "authenticated peer" in acc and "DNS:" + CLIENT_NAME in acc, acc
    assert "TLS handshake failed" not in d.log_text()
    assert "Certificate validation failed" not in ng.log(), ng.log()


def test_syslogng_client_refused_by_name(daemon, tmp_path, pki, group):
    """A syslog-ng client with a valid certificate whose name is not permitted: nothing of it
    is written, tlslogd logs the failed handshake."""
    out = tmp_path / "in.json"
    d = daemon(config([tls_input("tls-in", tls=server_tls(pki, auth="name",
                                                          permitted_peers=[CLIENT_NAME]))],
                      [json_file("j", out)]))
    ng = sng.SyslogNg(tmp_path / "ng", "ng")
    tx = ng.tls_sender(d.port("tls-in"), driver="syslog", ca=pki.ca.cert,
                       cert=pki.intruder.cert, key=pki.intruder.key,
                       peer_verify="required-trusted")
    group.add(ng).start()
    tx.feed.send(numbered("sngbad", 5))
    line = d.wait_log(r"input tls-in: 127\.0\.0\.1:\d+: .*TLS handshake failed.*").group(0)
    assert "intruder.test" in line or "permitted" in line, line
    ng.stop()
    assert not [j for j in read_json_lines(out) if "sngbad" in j.get("msg", "")]


# ---------------------------------------------------------------------------------------------
# 4. tlslogd forward output -> syslog-ng TLS receiver

DRIVERS = {"syslog": dict(framing="octet-counted", format="rfc5424"),
           "network": dict(framing="lf", format="rfc3164")}


@pytest.mark.parametrize("mutual", [True, False], ids=["required-trusted", "optional-untrusted"])
@pytest.mark.parametrize("driver", list(DRIVERS))
def test_tlslogd_forward_to_syslogng(daemon, tmp_path, pki, group, driver, mutual):
    ng = sng.SyslogNg(tmp_path / "ng", "ng")
    rx = ng.tls_receiver(driver=driver, ca=pki.ca.cert, cert=pki.server.cert,
                         key=pki.server.key,
                         peer_verify="required-trusted" if mutual else "optional-untrusted")
    group.add(ng).start()
    t = tls_block(ca=pki.ca.cert, cert=pki.client.cert if mutual else None,
                  key=pki.client.key if mutual else None)
    d = daemon(config([tcp_input("feed")],
                      [forward_output("fwd", rx.port, tls=t, **DRIVERS[driver])]))
    marker = "fwdsng-%s-%s" % (driver, "mutual" if mutual else "anon")
    feed_tcp(d.port("feed"), numbered(marker, N))
    check_numbered(rx.out.wait_marker(marker, N), marker, N, exact=True)
    assert len(rx.out.lines()) == N, rx.out.lines()[:5]
    d.wait_log(r"output fwd: connected to 127\.0\.0\.1:%d \(tls\)" % rx.port)
    assert "Certificate validation failed" not in ng.log()
    assert not re.search(r"(?i)invalid frame header|error", ng.log()), ng.log()


def test_syslogng_required_trusted_refuses_tlslogd_without_cert(daemon, tmp_path, pki, group):
    ng = sng.SyslogNg(tmp_path / "ng", "ng")
    rx = ng.tls_receiver(driver="syslog", ca=pki.ca.cert, cert=pki.server.cert,
                         key=pki.server.key, peer_verify="required-trusted")
    group.add(ng).start()
    d = daemon(config([tcp_input("feed")],
                      [forward_output("fwd", rx.port, tls=tls_block(ca=pki.ca.cert),
                                      queue={"drain_timeout": "1s"}, reconnect_min="200ms",
                                      reconnect_max="1s")]))
    feed_tcp(d.port("feed"), numbered("nocert", 5))
    wait_for(lambda: re.search(r"(?i)certificate", ng.log()) or rx.out.with_marker("nocert"),
             T(10), "syslog-ng to refuse a client without a certificate")
    rx.out.stays_without("nocert", 1.0)
