"""The multi-tier layout of docs/scale-out.md on one machine (issue 16, point 3): hosts ->
regional relays over RELP/TLS with disk queues -> a pool of two centrals in hash mode -> Kafka
(librdkafka's mock cluster, three brokers), with one central SIGKILLed midway.

    50 sending hosts (RFC 5424 HOSTNAMEs h00.test .. h49.test)
      -> 2 host agents (tlslogd: tcp in, RELP/TLS out with a disk queue), 25 hosts each
      -> 2 relays (tlslogd: RELP/TLS in, RELP/TLS out to both centrals, mode hash on
         {hostname}, disk queue)
      -> 2 centrals (tlslogd: RELP/TLS in, kafka out, key {hostname}, no disk queue: a central
         acknowledges only what Kafka's delivery report confirmed)
      -> the mock cluster, topic syslog-user with 6 partitions

Checked in Kafka, read back with the consumer: every message is there (duplicates allowed and
counted: what the killed central had produced but not acknowledged is resent through the
other), each host's messages are under its own key, and in each host's key the first copies
arrive in the order the host sent them.
"""

import re
import signal
import time
from collections import defaultdict

import pytest

from peers import kafka
from peers.ports import free_port
from relutil import Feeder, relp_forward, relp_input, stats
from tlsconf import pki  # noqa: F401
from tlslogd import T, config, poll, tcp_input

pytestmark = [pytest.mark.peers("kafka-mock", "confluent-kafka"), pytest.mark.serial]

HOSTS = 50
TOPIC = "syslog-user"
_REC = re.compile(rb"^<13>1 \S+ (h\d\d\.test) app - - - tp seq=(\d{8}) ([0-9a-f]{8}) end$")


def check(i):
    return "%08x" % ((i * 2654435761) & 0xFFFFFFFF)


def line(i):
    """Message i, from host i % 50."""
    return ("<13>1 2026-01-01T00:00:00Z h%02d.test app - - - tp seq=%08d %s end\n"
            % (i % HOSTS, i, check(i))).encode()


def blob(agent, n):
    """Agent 0 carries the even hosts, agent 1 the odd ones: messages i with i % 2 == agent."""
    return b"".join(line(i) for i in range(agent, n, 2))


def central_conf(pki, mc, port):
    out = dict(name="kafka", type="kafka", brokers=mc.brokers, topic=TOPIC, key="{hostname}",
               format="raw", queue={"drain_timeout": "5s"},
               properties={"topic.metadata.refresh.interval.ms": "1000",
                           "reconnect.backoff.max.ms": "500"})
    return config([relp_input(pki, port=port)], [out], stats_interval="0")


def relay_conf(pki, tmp_path, name, port, centrals):
    fwd = relp_forward(pki, centrals[0], mode="hash", hash_key="{hostname}",
                       queue={"dir": str(tmp_path / (name + "-q")), "sync": "interval"})
    fwd["targets"] = ["127.0.0.1:%d" % p for p in centrals]
    return config([relp_input(pki, port=port)], [fwd], stats_interval="0")


def agent_conf(pki, tmp_path, name, relay_port):
    fwd = relp_forward(pki, relay_port, queue={"dir": str(tmp_path / (name + "-q")),
                                               "sync": "interval"})
    return config([tcp_input("feed")], [fwd], stats_interval="0")


class Topic:
    """What the topic holds of messages 0..n-1."""

    def __init__(self, recs, n):
        self.n = n
        self.counts = defaultdict(int)
        self.bad = []
        self.order = []            # (host, seq, after): a first copy after a higher seq
        last = {}
        for r in recs:
            m = _REC.match(r.value)
            if not m:
                self.bad.append(("unparsable", r.value[:80]))
                continue
            host, i = m.group(1), int(m.group(2))
            if m.group(3).decode() != check(i) or r.key != host or \
                    host != b"h%02d.test" % (i % HOSTS):
                self.bad.append((i, r.key, host))
                continue
            self.counts[i] += 1
            if self.counts[i] == 1:
                if last.get(host, -1) > i:
                    self.order.append((host.decode(), i, last[host]))
                last[host] = max(last.get(host, -1), i)
        self.missing = [i for i in range(n) if not self.counts[i]]
        self.dups = sum(c - 1 for c in self.counts.values())

    def summary(self):
        return "%d expected, %d distinct, %d missing (first %s), %d duplicates, %d bad (%s), " \
               "%d first copies out of order (%s)" % (
                   self.n, len(self.counts), len(self.missing), self.missing[:10], self.dups,
                   len(self.bad), self.bad[:3], len(self.order), self.order[:3])


def test_hosts_relays_hash_pool_kafka_with_a_central_killed(daemon, tmp_path, pki):
    mc = kafka.MockCluster(tmp_path / "kafka", brokers=3, topics={TOPIC: 6}).start()
    try:
        cports = [free_port(), free_port()]
        centrals = [daemon(central_conf(pki, mc, p), name="central%d" % k)
                    for k, p in enumerate(cports)]
        rports = [free_port(), free_port()]
        relays = [daemon(relay_conf(pki, tmp_path, "relay%d" % k, p, cports),
                         name="relay%d" % k) for k, p in enumerate(rports)]
        agents = [daemon(agent_conf(pki, tmp_path, "agent%d" % k, rports[k]),
                         name="agent%d" % k) for k in range(2)]
        everyone = centrals + relays + agents

        n = 20000
        # Paced over about 8 s, so that the kill falls in the middle of the stream.
        feeders = [Feeder(agents[k].port("feed"), blob(k, n), timeout=T(120),
                          rate=len(blob(k, n)) / 8.0).start() for k in range(2)]

        def produced(d):
            d.check_alive("the topology's stream")
            return stats(d, want=["output kafka"])["output kafka"].get("acknowledged", 0)

        # Midway: both centrals have produced part of the stream; then central 1 dies.
        poll(lambda: produced(centrals[0]) >= 1000 and produced(centrals[1]) >= 1000, T(60),
             "both centrals to produce to Kafka")
        poll(lambda: produced(centrals[0]) + produced(centrals[1]) >= n // 3, T(60),
             "a third of the stream in Kafka")
        p0, p1 = produced(centrals[0]), produced(centrals[1])
        # Frozen first, so that the relays' lanes to it hold messages it never acknowledged
        # when it dies: they must be resent to central 0.
        centrals[1].signal(signal.SIGSTOP)
        poll(lambda: sum(stats(r, want=["output fwd/2"])["output fwd/2"]["written"] -
                         stats(r, want=["output fwd/2"])["output fwd/2"]["acknowledged"]
                         for r in relays) >= 50, T(20),
             "the relays to hold messages central 1 did not acknowledge")
        centrals[1].nonzero_exit_ok = True
        centrals[1].kill()
        alive = [d for d in everyone if d is not centrals[1]]

        for f in feeders:
            f.finish(T(180))
        end = time.monotonic() + T(180)
        while True:
            t = Topic(kafka.read_topic(mc.bootstrap, TOPIC, want=n, timeout=T(30)), n)
            if not t.missing or time.monotonic() >= end:
                break
            for d in alive:
                d.check_alive("waiting for %d messages in Kafka" % n)
            time.sleep(1)
        print("\ntopology, central 1 SIGKILLed midway: %s" % t.summary())
        assert not t.bad and not t.missing, t.summary()
        assert not t.order, t.summary()
        # Central 0 took the killed central's hosts: before the kill it produced a share s0 of
        # the stream (its hosts); of what came after, it produced its own hosts' part and at
        # least half of the others' (all of it, less what central 1 produced between the
        # reading and the kill).
        s0 = p0 / float(p0 + p1)
        rest = n - (p0 + p1)
        final0 = produced(centrals[0])
        want = p0 + rest * s0 + rest * (1 - s0) / 2
        moved = sum(stats(r, want=["output fwd/2"])["output fwd/2"]["moved"] for r in relays)
        assert moved > 0, "the relays moved nothing of what central 1 had not acknowledged"
        assert final0 >= want, "central 0 produced %d (%d before the kill, share %.2f): its " \
            "peer's hosts did not move to it (wanted at least %d)" % (final0, p0, s0, want)
    finally:
        mc.stop()
