"""The metrics endpoint (issue 15, metrics: {listen: ...}): scraped by a real Prometheus
server (Debian's prometheus, run by the test with a 1 s scrape interval), the exposition
accepted by `promtool check metrics`, the counters it carries checked against what was sent,
the certificates' expiry, and `tlslog stats` printing them as a table (and --watch)."""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import sender
import tlslogd
from limits_util import tcp_from
from peers.ports import free_port
from tlslogd import T, config, file_output, poll, read_lines, tcp_input

TLSLOG = os.path.join(tlslogd.BUILD, "tlslog")


def tlslog(*args, timeout=None):
    return subprocess.run([TLSLOG] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout or T(30))


def metrics_port(d):
    ports = d._read_ports()
    assert isinstance(ports.get("@metrics"), int), ports
    return ports["@metrics"]


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=T(10)) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(s, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in s.items() if n == name and want <= set(ls)]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def numbered(tag, n):
    return [b"<13>1 2026-01-01T00:00:00Z h app - - - %s seq=%d" % (tag, i) for i in range(n)]


def listening_ports(pid):
    """TCP ports process pid listens on (its socket inodes matched in /proc/net/tcp{,6})."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            t = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", t)
        if m:
            inodes.add(m.group(1))
    ports = set()
    for f in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            rows = Path(f).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.peers("prometheus")
def test_prometheus_scrapes_received_counter(daemon, tmp_path):
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("tcp-in")], [file_output("o", out, flush_interval="0")],
                      metrics=dict(listen="127.0.0.1:0")))
    mport = metrics_port(d)
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    (prom_dir / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: tlslogd\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % mport)
    log = open(prom_dir / "prometheus.log", "wb")
    prom = subprocess.Popen(["prometheus", "--config.file=%s" % (prom_dir / "prometheus.yml"),
                             "--storage.tsdb.path=%s" % (prom_dir / "data"),
                             "--web.listen-address=127.0.0.1:0"],
                            cwd=str(prom_dir), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        def prom_port():
            assert prom.poll() is None, (prom_dir / "prometheus.log").read_text()[-3000:]
            ports = listening_ports(prom.pid)
            return ports and min(ports)
        pport = poll(prom_port, T(60), "prometheus to listen")

        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (pport, urllib.parse.urlencode(
                {"query": q}))
            try:
                with urllib.request.urlopen(url, timeout=T(10)) as r:
                    body = json.loads(r.read())
            except (urllib.error.URLError, ConnectionError):
                return None
            assert body["status"] == "success", body
            return body["data"]["result"]

        n = 137
        msgs = numbered(b"prom", n)
        sender.send_tcp(d.port("tcp-in"), b"".join(m + b"\n" for m in msgs), graceful=True)
        assert d.wait_file_lines(out, n) == msgs

        def scraped_n():
            res = query('tlslogd_input_received_messages_total{input="tcp-in"}')
            return res and float(res[0]["value"][1]) == n and res
        res = poll(scraped_n, T(60), "Prometheus to report %d received" % n, max_interval=0.5)
        assert res[0]["metric"]["job"] == "tlslogd"
        assert res[0]["metric"]["transport"] == "tcp"
        assert float(query('up{job="tlslogd"}')[0]["value"][1]) == 1
        poll(lambda: (query('tlslogd_output_settled_messages_total{output="o"}') or
                      [{"value": [0, "0"]}])[0]["value"][1] == str(n), T(30),
             "Prometheus to report %d settled" % n)
    finally:
        prom.terminate()
        try:
            prom.wait(T(20))
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(10)
        log.close()


def make_pki(base):
    assert tlslog("cert", "ca", "--out", base / "ca").returncode == 0
    assert tlslog("cert", "ca", "--out", base / "other-ca", "--name", "Other CA").returncode == 0
    for name, ca in (("server", "ca"), ("client", "ca"), ("stranger", "other-ca")):
        r = tlslog("cert", "issue", "--ca", base / ca, "--name", name + ".test", "--out",
                   base / name)
        assert r.returncode == 0, r.stderr


def not_after(pem):
    r = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(pem)],
                       capture_output=True, text=True, timeout=T(10))
    when = datetime.datetime.strptime(r.stdout.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


@pytest.mark.peers("openssl")
def test_exposition_counters_certificates_and_stats(daemon, tmp_path):
    pki = tmp_path / "pki"
    make_pki(pki)
    rx_out = tmp_path / "rx.log"
    rx = daemon(config([tcp_input("in")], [file_output("o", rx_out, flush_interval="0")]),
                name="rx")
    out = tmp_path / "out.log"
    conf = config(
        [dict(name="tls-in", transport="tls", listen="127.0.0.1:0",
              tls=dict(auth="name", permitted_peers=["client.test"])),
         tcp_input("tcp-in")],
        [file_output("o", out, flush_interval="0"),
         dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % rx.port("in")],
              transport="tcp", queue=dict(dir=str(tmp_path / "q")))],
        metrics=dict(listen="127.0.0.1:0"),
        tls=dict(ca_file=str(pki / "ca/ca.pem"), cert_file=str(pki / "server.pem"),
                 key_file=str(pki / "server-key.pem")))
    d = daemon(conf)
    mport = metrics_port(d)

    n_tls, n_tcp = 25, 40
    r = tlslog("send", "--server", "127.0.0.1:%d" % d.port("tls-in"), "--ca", pki / "ca/ca.pem",
               "--cert", pki / "client.pem", "--key", pki / "client-key.pem", "--peer",
               "server.test", "--count", n_tls, "metrics")
    assert r.returncode == 0, r.stderr
    tcp_msgs = numbered(b"tcp", n_tcp)
    sender.send_tcp(d.port("tcp-in"), b"".join(m + b"\n" for m in tcp_msgs), graceful=True)
    # One sender from another CA: a handshake failure, counted by reason.
    r = tlslog("send", "--server", "127.0.0.1:%d" % d.port("tls-in"), "--ca", pki / "ca/ca.pem",
               "--cert", pki / "stranger.pem", "--key", pki / "stranger-key.pem", "--peer",
               "server.test", "refused")
    assert r.returncode != 0
    total = n_tls + n_tcp
    lines = d.wait_file_lines(out, total)
    assert sorted(l for l in lines if b" tcp seq=" in l) == sorted(tcp_msgs)
    assert len([l for l in lines if b" metrics seq=" in l]) == n_tls
    assert len(rx.wait_file_lines(rx_out, total)) == total

    def settled():
        s = samples(scrape(mport)[2])
        return (value(s, "tlslogd_output_settled_messages_total", output="fwd") == total and
                value(s, "tlslogd_input_handshake_failures_total", input="tls-in",
                      reason="unknown_ca") == 1 and s)
    s = poll(settled, T(20), "the counters to settle")
    status, ctype, text = scrape(mport)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), ctype

    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=T(30))
    assert r.returncode == 0, r.stdout + r.stderr

    assert value(s, "tlslogd_input_received_messages_total", input="tls-in") == n_tls
    assert value(s, "tlslogd_input_received_messages_total", input="tcp-in",
                 transport="tcp") == n_tcp
    assert value(s, "tlslogd_input_connections_total", input="tcp-in") == 1
    assert value(s, "tlslogd_input_handshake_failures_total", input="tls-in",
                 reason="unknown_ca") == 1
    assert value(s, "tlslogd_input_handshake_failures_total", input="tls-in",
                 reason="expired") == 0
    assert value(s, "tlslogd_output_written_messages_total", output="o", type="file") == total
    assert value(s, "tlslogd_output_settled_messages_total", output="o") == total
    assert value(s, "tlslogd_output_dropped_messages_total", output="o", reason="queue_full") == 0
    assert value(s, "tlslogd_output_queue_messages", output="fwd", part="memory") == 0
    assert value(s, "tlslogd_output_queue_messages", output="fwd", part="disk") == 0
    assert value(s, "tlslogd_output_queue_limit_bytes", output="fwd", part="disk") == 1 << 30
    assert value(s, "tlslogd_build_info", version=run_version()) == 1
    assert value(s, "process_open_fds") > 5
    assert value(s, "process_resident_memory_bytes") > 1 << 20
    start = value(s, "process_start_time_seconds")
    assert abs(start - Path("/proc/%d" % d.proc.pid).stat().st_mtime) < 60
    cert_na = value(s, "tlslogd_tls_certificate_not_after_timestamp_seconds", input="tls-in",
                    role="certificate", subject="CN=server.test")
    assert cert_na == not_after(pki / "server.pem")
    assert value(s, "tlslogd_tls_certificate_not_after_timestamp_seconds", input="tls-in",
                 role="ca") == not_after(pki / "ca/ca.pem")

    # A renewed certificate (30 days) after SIGHUP: the gauge follows it.
    r = tlslog("cert", "issue", "--ca", pki / "ca", "--name", "server.test", "--days", "30",
               "--out", pki / "server", "--force")
    assert r.returncode == 0, r.stderr
    d.hup()
    d.wait_log(r"input tls-in: TLS policy .* reloaded")
    renewed = not_after(pki / "server.pem")
    assert renewed != cert_na
    poll(lambda: value(samples(scrape(mport)[2]),
                       "tlslogd_tls_certificate_not_after_timestamp_seconds", input="tls-in",
                       role="certificate") == renewed, T(10), "the renewed notAfter")

    # Only GET/HEAD of /metrics.
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(mport, "/")
    assert e.value.code == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % mport, data=b"x")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=T(10))
    assert e.value.code == 405

    # tlslog stats: one row per input and output, the certificates, from the same endpoint.
    r = tlslog("stats", "--url", "http://127.0.0.1:%d/metrics" % mport)
    assert r.returncode == 0, r.stderr
    rows = {l.split()[0]: l.split() for l in r.stdout.splitlines() if l.strip()}
    assert rows["tls-in"][1:4] == ["tls", str(n_tls), "-"], r.stdout
    assert rows["tls-in"][-1] == "1", r.stdout  # HS_FAIL
    assert rows["tcp-in"][2] == str(n_tcp), r.stdout
    assert rows["o"][1:3] == ["file", str(total)], r.stdout
    assert rows["fwd"][1] == "forward" and rows["fwd"][4] == str(total), r.stdout
    assert re.search(r"^input tls-in\s+certificate\s+\d{4}-\d\d-\d\d \d\d:\d\d \((29|30)d\)\s+"
                     r"CN=server.test$", r.stdout, re.M), r.stdout

    # --watch: redrawn in place (home, clear) --count times, with rates from the second on.
    r = tlslog("stats", "--url", "127.0.0.1:%d" % mport, "--watch", "--interval", "200ms",
               "--count", "3")
    assert r.returncode == 0, r.stderr
    frames = r.stdout.split("\033[H\033[2J")
    assert frames[0] == "" and len(frames) == 4, r.stdout
    last = {l.split()[0]: l.split() for l in frames[3].splitlines() if l.strip()}
    assert last["tcp-in"][3] == "0", frames[3]  # nothing new: 0 per second

    # The endpoint's errors, in words.
    r = tlslog("stats", "--url", "127.0.0.1:%d/nothing" % mport)
    assert r.returncode == 1
    assert "answered 404; tlslogd serves its metrics at /metrics" in r.stderr, r.stderr


def run_version():
    r = subprocess.run([tlslogd.BINARY, "--version"], capture_output=True, text=True,
                       timeout=T(10))
    return r.stdout.split()[1]


def test_metrics_listen_in_use_is_refused(daemon, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        port = s.getsockname()[1]
        d = daemon(config([tcp_input("t")], [file_output("o", tmp_path / "o.log")],
                          metrics=dict(listen="127.0.0.1:%d" % port)), start=False)
        d.nonzero_exit_ok = True
        d.start(wait=False)
        assert d.proc.wait(T(20)) == 1
        assert ("error metrics.listen 127.0.0.1:%d: cannot listen: Address already in use; "
                "another program uses that port: choose another one" % port) in d.log_text(), \
            d.log_text()
    finally:
        s.close()


def closed_by_peer(sock):
    """True once the peer closed sock: end of file, or a reset (a limit may close with RST)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.peers("prometheus")
def test_connection_limit_counters(daemon, tmp_path):
    """The connection limits' counters (docs/tls.md, Connection limits) as metrics, by reason,
    and in tlslog stats: a second connection from the same address refused, an idle one
    closed, a TLS client on the plain input refused, a line cut by the sender's close."""
    out = tmp_path / "out.log"
    d = daemon(config([tcp_input("lim", max_connections_per_source=1, idle_timeout="2s")],
                      [file_output("o", out, flush_interval="0")],
                      metrics=dict(listen="127.0.0.1:0")))
    mport = metrics_port(d)
    port = d.port("lim")

    def metric(name, **labels):
        return value(samples(scrape(mport)[2]), name, input="lim", **labels)

    def reaches(name, want, **labels):
        poll(lambda: metric(name, **labels) == want, T(20),
             "%s %s = %d" % (name, labels, want))

    first = tcp_from(port)
    first.sendall(b"<13>1 2026-01-01T00:00:00Z h app - - - limits seq=0\n")
    # The first is accepted (its line written) before the second connects: with two workers
    # the kernel hands the two connections to different listeners, in no given order.
    d.wait_file_lines(out, 1)
    second = tcp_from(port)  # same source address: refused while the first is open
    reaches("tlslogd_input_connections_refused_total", 1, reason="max_connections_per_source")
    assert closed_by_peer(second)
    second.close()
    # The first one sends nothing more: closed after idle_timeout.
    reaches("tlslogd_input_connections_closed_total", 1, reason="idle_timeout")
    assert closed_by_peer(first)
    first.close()
    # A TLS client on this plain tcp input: refused, counted apart and as a connection error.
    s = tcp_from(port)
    s.sendall(b"\x16\x03\x01\x00\x2a" + b"\x01" * 42)
    reaches("tlslogd_input_tls_clients_refused_total", 1)
    s.close()
    # A line without its LF, then the sender closes: kept, marked truncated (reason eof).
    s = tcp_from(port)
    s.sendall(b"<13>1 2026-01-01T00:00:00Z h app - - - limits seq=1")
    s.shutdown(socket.SHUT_WR)
    assert closed_by_peer(s)
    s.close()
    reaches("tlslogd_input_truncated_messages_total", 1, reason="eof")

    assert sorted(d.wait_file_lines(out, 2)) == [
        b"<13>1 2026-01-01T00:00:00Z h app - - - limits seq=0",
        b"<13>1 2026-01-01T00:00:00Z h app - - - limits seq=1"]
    s = samples(scrape(mport)[2])
    assert value(s, "tlslogd_input_truncated_messages_total", input="lim",
                 reason="max_message_size") == 0
    assert value(s, "tlslogd_input_connections_refused_total", input="lim",
                 reason="max_connections") == 0
    assert value(s, "tlslogd_input_connections_closed_total", input="lim",
                 reason="partial_frame_budget") == 0
    assert value(s, "tlslogd_input_connection_errors_total", input="lim") >= 1
    assert value(s, "tlslogd_input_handshakes_dropped_total", input="lim") == 0
    assert value(s, "tlslogd_input_accept_pauses_total", input="lim") == 0
    assert value(s, "tlslogd_input_connections_total", input="lim") == 3
    text = scrape(mport)[2]
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=T(30))
    assert r.returncode == 0, r.stdout + r.stderr

    # tlslog stats: TRUNCATED, REFUSED and CLOSED of the input's row.
    r = tlslog("stats", "--url", "127.0.0.1:%d" % mport)
    assert r.returncode == 0, r.stderr
    head = next(l.split() for l in r.stdout.splitlines() if l.startswith("INPUT"))
    row = next(l.split() for l in r.stdout.splitlines() if l.startswith("lim "))
    got = dict(zip(head, row))
    assert (got["TRUNCATED"], got["REFUSED"], got["CLOSED"]) == ("1", "1", "1"), r.stdout


def test_disk_queue_gauges(daemon, tmp_path):
    """A forward output's disk part as gauges: with its receiver down, the messages wait on
    disk (tlslogd_output_queue_messages and _bytes, part="disk"); once it is up they arrive
    and both return to 0."""
    n = 50
    port = free_port()
    tx = daemon(config([tcp_input("in")], [dict(
        name="fwd", type="forward", targets=["127.0.0.1:%d" % port], transport="tcp",
        reconnect_min="100ms", reconnect_max="300ms", queue=dict(dir=str(tmp_path / "q")))],
        metrics=dict(listen="127.0.0.1:0")), name="tx")
    mport = metrics_port(tx)

    def disk(name):
        return value(samples(scrape(mport)[2]), name, output="fwd", part="disk")

    msgs = numbered(b"dq", n)
    sender.send_tcp(tx.port("in"), b"".join(m + b"\n" for m in msgs), graceful=True)
    poll(lambda: disk("tlslogd_output_queue_messages") == n, T(20), "%d messages on disk" % n)
    # Each record is the message (as sent on) plus the disk queue's own header.
    assert disk("tlslogd_output_queue_bytes") > sum(len(m) for m in msgs)

    out = tmp_path / "rx.log"
    rx = daemon(config([dict(name="in", transport="tcp", listen="127.0.0.1:%d" % port)],
                       [file_output("o", out, flush_interval="0")]), name="rx")
    lines = rx.wait_file_lines(out, n)
    assert sorted(lines) == sorted(msgs)
    poll(lambda: disk("tlslogd_output_queue_messages") == 0 and
         disk("tlslogd_output_queue_bytes") == 0, T(20), "the disk part emptied")
