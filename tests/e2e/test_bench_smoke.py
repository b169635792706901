"""Smoke run of the side-by-side benchmark (bench/run): 10,000 messages, one repetition, against
the tlslogd of this build (idle-conns: 200 connections in steps of 100; handshakes: bursts of 300
per key type; kafka: to the mock cluster, the topic read back). Checks that it completes, reports a row per (scenario, daemon) and that tlslogd
lost nothing. Speed is never asserted here: that is what `make bench` is for."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tlslogd import BUILD, SRC

RUN = Path(SRC) / "bench" / "run"
SCENARIOS = ["tls-1conn", "tls-4conn", "tcp-4conn", "kafka", "fwd-tls", "fwd-hash",
             "file-fwd", "relp-tls", "relp-tls-rx", "relp-pair", "relp-pair-rx", "bare-sink",
             "idle-conns", "handshakes-ecdsa", "handshakes-rsa", "filters-none",
             "filters-facprog", "filters-regex"]
DAEMONS = ["tlslogd", "rsyslog", "syslog-ng"]
# who has a row in each scenario (syslog-ng OSE has no RELP; bare-sink is the reference sink)
ROWS = {"relp-tls": ["tlslogd", "rsyslog"], "relp-tls-rx": ["tlslogd", "rsyslog"],
        "relp-pair": ["rsyslog"], "relp-pair-rx": ["rsyslog"], "bare-sink": ["bare-sink"],
        "filters-none": ["tlslogd"], "filters-facprog": ["tlslogd"], "filters-regex": ["tlslogd"],
        "fwd-hash": ["tlslogd", "tlslogd-failover"]}


@pytest.mark.peers("loggen", "rsyslog", "syslog-ng", "kafka-mock", "confluent-kafka",
                   "rsyslog-kafka", "syslog-ng-kafka")
@pytest.mark.serial  # a benchmark: it would load the machine under the parallel tests
def test_bench_smoke(tmp_path):
    assert BUILD, "TLSLOGD_BUILD is not set"
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(RUN), "--messages", "10000", "--reps", "1",
                        "--out", str(out), "--build", BUILD],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    text = r.stdout.decode(errors="replace")
    assert r.returncode == 0, text[-4000:]
    doc = json.loads((out / "results.json").read_text())
    rows = {(row["scenario"], row["daemon"]): row for row in doc["rows"]}
    for sc in SCENARIOS:
        for d in ROWS.get(sc, DAEMONS):
            assert (sc, d) in rows, "no row for %s/%s:\n%s" % (sc, d, text[-4000:])
        if "tlslogd" not in ROWS.get(sc, DAEMONS):  # reference rows (peers only)
            continue
        t = rows[(sc, "tlslogd")]
        if sc == "idle-conns":
            assert t["connections"] == 200 and t["step"] == 100
            assert t["kib_per_conn"] > 0
            assert [st["open"] for st in t["runs"][0]["steps"]] == [100, 200]
            assert "cpu_ms_per_conn_first" in t and "cpu_ms_per_conn_last" in t
        elif sc.startswith("handshakes-"):
            assert t["handshakes"] == 300
            assert "cpu_ms_per_hs" in t and t["hs_per_s"] > 0
        else:
            assert t["messages"] == 10000
        if sc in ("fwd-tls", "fwd-hash", "file-fwd", "relp-tls"):  # fed locally: tlslogd dropped nothing
            assert t.get("sender_dropped", 0) == 0, t["runs"]
        assert t["lost_max"] == 0, "tlslogd lost %d messages in %s:\n%s" % (
            t["lost_max"], sc, text[-4000:])
    # fwd-hash's failover row: the same tlslogd, the same feed
    assert rows[("fwd-hash", "tlslogd-failover")]["lost_max"] == 0, text[-4000:]
    # the RELP receiver (tlslogd) loses nothing from rsyslog's omrelp either
    assert rows[("relp-tls", "rsyslog")]["lost_max"] == 0, text[-4000:]
    # kafka: the topic was read back for every daemon (lost is what was not in it); tlslogd's
    # every message is there (lost_max above), and the mock dropped nothing of any
    for d in DAEMONS:
        k = rows[("kafka", d)]["runs"][0]
        assert "kafka_distinct" in k and k["mock_dropped"] == 0, (d, k)
    assert rows[("kafka", "tlslogd")]["runs"][0]["kafka_distinct"] == 10000
    for sc in ("tls-4conn", "kafka", "fwd-tls", "file-fwd", "relp-tls", "bare-sink"):
        assert "| %s | " % sc in text, text[-4000:]
    assert "| 200 | tlslogd |" in text, text[-4000:]
    assert "| ECDSA P-256, 300 | tlslogd |" in text, text[-4000:]
    assert "| RSA 2048, 300 | tlslogd |" in text, text[-4000:]
    assert doc["handshakes"]["openssl_speed"]["floor_ms"]["handshakes-ecdsa"] > 0
    for label in ("route without where", "facility + program", "message regex"):
        assert "| %s | " % label in text, text[-4000:]
