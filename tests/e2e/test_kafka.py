"""The kafka output (issue 16 point 1) against librdkafka's mock cluster run as a process of its
own with three brokers on loopback (tests/kafka/mock_cluster.c, peers/kafka.py): tlslogd
produces to it over the network like to any cluster, a consumer reads the topics back, and every
message is checked: count, content, its key, and the order of each key's messages.

Faults come from the mock: a broker down, a leader change, injected Produce errors, the whole
cluster down for a while; tlslogd itself is SIGKILLed mid-stream with a disk queue behind a RELP
sender. Delivery is at-least-once: duplicates are allowed (and counted), losses are not.
"""

import json
import os
import re
import stat
import time

import pytest

from peers import kafka
from peers.openssl import SServer
from peers.ports import free_port
from relutil import Feeder, relp_forward, relp_input, stats
from tlsconf import pki  # noqa: F401
from sender import send_unix_dgram
from tlslogd import T, config, poll, private_net_wrap, run_cli, tcp_input, unix_input

pytestmark = pytest.mark.peers("kafka-mock", "confluent-kafka", "kcat")

HOSTS = 8
TOPIC = "syslog-user"


def _check(i):
    return "%08x" % ((i * 2654435761) & 0xFFFFFFFF)


def line(marker, i, pri=13, pad=0):
    """One LF-framed RFC 5424 message from host hNN.test (i % HOSTS) with 'MARKER seq=N CHECK'."""
    body = "%s seq=%08d %s %send" % (marker, i, _check(i), "p" * pad + " " if pad else "")
    return ("<%d>1 2026-01-01T00:00:00Z h%02d.test app - - - %s\n" % (
        pri, i % HOSTS, body)).encode()


def load(marker, start, n, **kw):
    return b"".join(line(marker, i, **kw) for i in range(start, start + n))


def kafka_output(mc, name="kafka", topic="syslog-{facility}", key="{hostname}", **kw):
    kw.setdefault("queue", {})
    kw["queue"].setdefault("drain_timeout", "5s")
    props = kw.pop("properties", {})
    # Quick metadata refreshes: leader changes and returning brokers are found within a second.
    props.setdefault("topic.metadata.refresh.interval.ms", "1000")
    props.setdefault("reconnect.backoff.max.ms", "500")
    if key is not None:
        kw["key"] = key
    return dict(name=name, type="kafka", brokers=mc.brokers, topic=topic, properties=props,
                **kw)


_RAW_RE = re.compile(r"^<\d+>1 \S+ (\S+) \S+ - - - (.*)$")


def _host_msg(value):
    """(hostname, msg) of a record in json, or in raw or rfc5424 as line() makes them."""
    if value.startswith(b"{"):
        obj = json.loads(value)
        return obj.get("hostname", ""), obj.get("msg", "")
    m = _RAW_RE.match(value.decode())
    if not m:
        raise ValueError("not a message of line()")
    return m.group(1), m.group(2)


class KafkaTally:
    """What a topic holds of the numbered messages of marker 0..n-1 (json, raw or rfc5424)."""

    def __init__(self, recs, marker, n):
        self.n = n
        self.counts = {}
        self.bad = []          # wrong check, wrong key, unparsable
        self.order = []        # (key, seq after a higher seq) on first arrivals
        self.first_offset = {}  # partition -> first offset read (> 0: the mock dropped some)
        last = {}
        pat = re.compile(r"%s seq=(\d{8}) ([0-9a-f]{8}) " % re.escape(marker))
        for r in recs:
            self.first_offset.setdefault(r.partition, r.offset)
            try:
                host, msg = _host_msg(r.value)
            except ValueError:
                self.bad.append(("unparsable", r.value[:80]))
                continue
            m = pat.search(msg)
            if not m:
                continue
            i = int(m.group(1))
            if m.group(2) != _check(i) or r.key != host.encode() or \
                    host != "h%02d.test" % (i % HOSTS):
                self.bad.append((i, r.key, host, m.group(2)))
                continue
            self.counts[i] = self.counts.get(i, 0) + 1
            if self.counts[i] == 1:
                if last.get(r.key, -1) > i:
                    self.order.append((r.key, i, last[r.key]))
                last[r.key] = max(last.get(r.key, -1), i)
        self.missing = [i for i in range(n) if i not in self.counts]
        self.dups = sum(c - 1 for c in self.counts.values())

    def summary(self):
        return "%d expected, %d distinct, %d missing (first %s), %d duplicates, %d bad (%s), " \
               "%d out of order (%s); first offsets %s" % (
                   self.n, len(self.counts), len(self.missing), self.missing[:10], self.dups,
                   len(self.bad), self.bad[:3], len(self.order), self.order[:3],
                   self.first_offset)

    def assert_complete(self, ordered=True):
        assert not self.bad and not self.missing, self.summary()
        if ordered:
            assert not self.order, self.summary()


def wait_delivered(d, mc, topic, marker, n, timeout, out="kafka"):
    """Waits until the output counts n deliveries (bounded), then reads the topic back."""
    try:
        poll(lambda: acked(d, out) >= n, timeout, "%s to count %d deliveries" % (d.name, n),
             interval=0.3, max_interval=1.0)
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s\nmock log:\n%s" % (e, d.log_tail(30), mc.log()))
    return KafkaTally(kafka.read_topic(mc.bootstrap, topic, want=n, timeout=T(30)), marker, n)


def wait_topic(mc, topic, marker, n, timeout, alive=()):
    """Reads the topic back until every one of the n messages is there (bounded); returns the
    last KafkaTally (the caller asserts on it)."""
    end = time.monotonic() + timeout
    while True:
        t = KafkaTally(kafka.read_topic(mc.bootstrap, topic, want=n, timeout=T(30)), marker, n)
        if not t.missing or time.monotonic() >= end:
            return t
        for d in alive:
            d.check_alive("waiting for %d messages in %s" % (n, topic))
        time.sleep(1)


def counters(d, out="kafka"):
    st = stats(d, want=["output %s" % out])
    return st["output %s" % out]


def acked(d, out="kafka"):
    d.check_alive("producing to kafka")
    return counters(d, out).get("acknowledged", 0)


def kafka_counters(d, out="kafka"):
    """The kafka output's own line ('stats: kafka_by_reason: output NAME: ...'), as logged with
    the last stats."""
    text = d.log_text()
    lines = re.findall(r"stats: kafka_by_reason: output %s: (.*)$" % re.escape(out), text, re.M)
    assert lines, "no kafka stats line in the log:\n%s" % d.log_tail()
    return {k: int(v) for k, v in (p.split("=") for p in lines[-1].split())}


@pytest.fixture
def cluster(tmp_path):
    mcs = []

    def make(brokers=3, topics=None):
        mc = kafka.MockCluster(tmp_path / ("kafka%d" % len(mcs)), brokers=brokers,
                               topics=topics if topics is not None else {TOPIC: 3}).start()
        mcs.append(mc)
        return mc
    yield make
    for mc in mcs:
        mc.stop()


# ---------------------------------------------------------------------------------------------

def test_every_message_with_its_key_and_topic(cluster, daemon):
    """Two facilities to two topics by the topic template; every message arrives once, keyed
    by its host, each host's messages in order; read back with confluent-kafka and with kcat.
    The counters say written = acknowledged = n."""
    mc = cluster(topics={TOPIC: 3, "syslog-local0": 2})
    d = daemon(config([tcp_input("feed")], [kafka_output(mc)]))
    n = 3000
    blob = b"".join(line("ev", i, pri=13 if i % 2 == 0 else 133) for i in range(n))
    Feeder(d.port("feed"), blob).start().finish(T(60))
    poll(lambda: acked(d) >= n, T(60), "%d deliveries" % n, interval=0.3)
    user = kafka.read_topic(mc.bootstrap, TOPIC, want=n // 2)
    local0 = kafka.read_topic_kcat(mc.bootstrap, "syslog-local0")
    for recs, parity in ((user, 0), (local0, 1)):
        t = KafkaTally(recs, "ev", n)
        assert sorted(t.counts) == list(range(parity, n, 2)), t.summary()
        assert not t.bad and not t.order and t.dups == 0, t.summary()
    # The key picks the partition: one host's messages in one partition, hosts spread out.
    parts = {}
    for r in user:
        parts.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in parts.values()), parts
    assert len(set().union(*parts.values())) > 1, parts
    c = counters(d)
    assert c["written"] == n and c["acknowledged"] == n and c["dropped"] == 0, c
    assert kafka_counters(d)["delivered"] == n


def test_many_topics(cluster, daemon):
    """More distinct topics than the output keeps handles for (1024): the least recently used
    handles are let go and made again when needed; every message reaches its own topic."""
    mc = cluster(topics={})
    d = daemon(config([tcp_input("feed")], [kafka_output(mc, topic="t-{hostname}", key=None,
                                                         format="raw")]))
    n = 1100
    blob = b"".join(b"<13>1 2026-01-01T00:00:00Z host%04d app - - - many seq=%d\n" % (i, i)
                    for i in range(n))
    # twice: the second round needs the handles of the first hosts again
    Feeder(d.port("feed"), blob + blob).start().finish(T(60))
    poll(lambda: acked(d) >= 2 * n, T(120), "%d deliveries" % (2 * n), interval=0.5,
         max_interval=1.0)
    for i in (0, 1, 1023, 1024, 1099):
        recs = kafka.read_topic(mc.bootstrap, "t-host%04d" % i, want=2, timeout=T(30))
        assert [r.value for r in recs] == [b"<13>1 2026-01-01T00:00:00Z host%04d app - - - "
                                           b"many seq=%d" % (i, i)] * 2, recs
    assert counters(d)["dropped"] == 0


def test_disk_queue_and_delivery(cluster, daemon, tmp_path):
    """With queue.dir every message goes to disk first and leaves it once delivered: all
    arrive, and the disk part is empty afterwards."""
    mc = cluster()
    q = tmp_path / "kq"
    d = daemon(config([tcp_input("feed")],
                      [kafka_output(mc, queue={"dir": str(q), "sync": "always"})]))
    n = 5000
    Feeder(d.port("feed"), load("dq", 0, n)).start().finish(T(60))
    t = wait_delivered(d, mc, TOPIC, "dq", n, T(60))
    t.assert_complete()
    poll(lambda: counters(d)["queued_disk"] == 0, T(10), "the disk part to empty", interval=0.3)


def test_disk_queue_with_librdkafka_queue_full(cluster, daemon, tmp_path):
    """With queue.dir every record goes to disk and is produced from there (or from memory
    when the disk part is caught up). librdkafka's own queue is made tiny (50 records, far
    below the output's room in flight), so producing stops at a full queue over and over and
    goes on from the disk queue's read cursor once a delivery report makes room. Two topics,
    in runs and then alternating. Every message arrives once, each host's in order within
    its topic, and the disk part empties."""
    mc = cluster(topics={TOPIC: 3, "syslog-local0": 2})
    q = tmp_path / "kq"
    d = daemon(config([tcp_input("feed")],
                      [kafka_output(mc, queue={"dir": str(q)},
                                    properties={"queue.buffering.max.messages": "50"})]))
    n = 4000
    half = n // 2
    # Runs of 100 per topic (batches of up to 100 records), then a part that alternates.
    blob = b"".join(line("qf", i, pri=13 if (i // 100) % 2 == 0 else 133)
                    for i in range(half))
    blob += b"".join(line("qf", i, pri=13 if i % 2 == 0 else 133) for i in range(half, n))
    Feeder(d.port("feed"), blob).start().finish(T(60))
    poll(lambda: acked(d) >= n, T(90), "%d deliveries" % n, interval=0.3, max_interval=1.0)
    user_want = sum(1 for i in range(half) if (i // 100) % 2 == 0) + (n - half) // 2
    user = KafkaTally(kafka.read_topic(mc.bootstrap, TOPIC, want=user_want, timeout=T(30)),
                      "qf", n)
    local0 = KafkaTally(kafka.read_topic(mc.bootstrap, "syslog-local0", want=n - user_want,
                                         timeout=T(30)), "qf", n)
    for t in (user, local0):  # each host's order within each topic
        assert not t.bad and not t.order and t.dups == 0, t.summary()
    assert len(user.counts) == user_want and len(local0.counts) == n - user_want
    assert sorted(list(user.counts) + list(local0.counts)) == list(range(n))
    c = counters(d)
    assert c["written"] == n and c["acknowledged"] == n and c["dropped"] == 0, c
    poll(lambda: counters(d)["queued_disk"] == 0, T(10), "the disk part to empty", interval=0.3)


def test_broker_down_and_back(cluster, daemon):
    """A broker goes down mid-stream (its partitions stay with it: no leader move) and comes
    back: nothing is lost, each host's order is kept, the log says it once."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")], [kafka_output(mc)]))
    n = 6000
    f = Feeder(d.port("feed"), load("bd", 0, n), rate=len(load("bd", 0, n)) / 4.0).start()
    poll(lambda: acked(d) >= 1000, T(30), "the first deliveries", interval=0.2)
    mc.broker_down(2)
    time.sleep(1.5)
    mc.broker_up(2)
    f.finish(T(60))
    t = wait_delivered(d, mc, TOPIC, "bd", n, T(90))
    print("\nbroker down: %s" % t.summary())
    t.assert_complete()
    assert counters(d)["dropped"] == 0


def test_leader_change(cluster, daemon):
    """Every partition's leader moves to another broker twice mid-stream: nothing lost, order
    kept."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")], [kafka_output(mc)]))
    n = 6000
    blob = load("lc", 0, n)
    f = Feeder(d.port("feed"), blob, rate=len(blob) / 4.0).start()
    poll(lambda: acked(d) >= 1000, T(30), "the first deliveries", interval=0.2)
    for shift in (1, 2):
        for p in range(3):
            mc.leader(TOPIC, p, (p + shift) % 3 + 1)
        time.sleep(1.0)
    f.finish(T(60))
    t = wait_delivered(d, mc, TOPIC, "lc", n, T(90))
    print("\nleader change: %s" % t.summary())
    t.assert_complete()


def test_produce_errors_retried_by_the_producer(cluster, daemon):
    """Produce requests fail with errors Kafka calls retriable: the idempotent producer retries
    them itself, so nothing is lost, nothing arrives twice and each host's order is kept."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")], [kafka_output(mc)]))
    n = 4000
    Feeder(d.port("feed"), load("pr", 0, 500)).start().finish(T(30))
    poll(lambda: acked(d) >= 500, T(30), "the first deliveries", interval=0.2)
    mc.produce_errors("NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT", "NOT_ENOUGH_REPLICAS",
                      "LEADER_NOT_AVAILABLE", "NOT_ENOUGH_REPLICAS_AFTER_APPEND")
    Feeder(d.port("feed"), load("pr", 500, n - 500)).start().finish(T(30))
    t = wait_delivered(d, mc, TOPIC, "pr", n, T(90))
    print("\nretriable produce errors: %s" % t.summary())
    t.assert_complete()
    assert t.dups == 0, t.summary()
    c = counters(d)
    assert c["dropped"] == 0 and c["resent"] == 0, c


def test_produce_refused(cluster, daemon):
    """Produce requests refused for good (authorization): those records come back failed;
    tlslogd keeps them and produces them again after a backoff, before anything newer. Nothing
    is lost; the refusal is said once in plain words with the remedy, and counted. (Records of
    the same key already in flight behind a refused one can overtake it: docs/reliability.md.)"""
    mc = cluster()
    d = daemon(config([tcp_input("feed")], [kafka_output(mc)]))
    n = 4000
    Feeder(d.port("feed"), load("pe", 0, 500)).start().finish(T(30))
    poll(lambda: acked(d) >= 500, T(30), "the first deliveries", interval=0.2)
    mc.produce_errors("TOPIC_AUTHORIZATION_FAILED", "TOPIC_AUTHORIZATION_FAILED")
    Feeder(d.port("feed"), load("pe", 500, n - 500)).start().finish(T(30))
    t = wait_delivered(d, mc, TOPIC, "pe", n, T(90))
    print("\nrefused produce requests: %s" % t.summary())
    t.assert_complete(ordered=False)
    d.wait_log(r"output kafka: the brokers refuse to let this client write to topic syslog-user "
               r".*grant it WRITE on the topic and IDEMPOTENT_WRITE on the cluster; nothing is "
               r"dropped")
    kc = kafka_counters(d)
    c = counters(d)
    assert kc["delivery_errors"] >= 1 and c["resent"] >= 1 and c["dropped"] == 0, (c, kc)
    assert len(re.findall(r"the brokers refuse to let", d.log_text())) == 1, d.log_tail()


def test_fatal_producer_error(cluster, daemon):
    """A broken idempotence sequence (OUT_OF_ORDER_SEQUENCE_NUMBER) is fatal to a librdkafka
    producer: tlslogd says so, makes a new one and produces again everything not yet
    delivered, in order. Nothing is lost."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")], [kafka_output(mc)]))
    n = 3000
    Feeder(d.port("feed"), load("fe", 0, 500)).start().finish(T(30))
    poll(lambda: acked(d) >= 500, T(30), "the first deliveries", interval=0.2)
    mc.produce_errors("OUT_OF_ORDER_SEQUENCE_NUMBER")
    Feeder(d.port("feed"), load("fe", 500, n - 500)).start().finish(T(30))
    t = wait_delivered(d, mc, TOPIC, "fe", n, T(90))
    print("\nfatal producer error: %s" % t.summary())
    t.assert_complete()
    d.wait_log(r"output kafka: the Kafka producer failed for good \(.*sequence.*\); a new one "
               r"takes over, and the \d+ records not yet delivered are produced again")
    assert counters(d)["dropped"] == 0


@pytest.mark.parametrize("disk", [False, True], ids=["memory", "disk"])
def test_cluster_down_for_a_while(cluster, daemon, tmp_path, disk):
    """Every broker down while messages keep coming: they wait (in memory, or on disk) and are
    produced in order once the cluster is back. One line says so when it starts, one when it is
    over; _ALL_BROKERS_DOWN and _TRANSPORT never drop anything."""
    mc = cluster()
    q = {"dir": str(tmp_path / "kq")} if disk else {}
    d = daemon(config([tcp_input("feed")], [kafka_output(mc, queue=q)]))
    Feeder(d.port("feed"), load("cd", 0, 1000)).start().finish(T(30))
    poll(lambda: acked(d) >= 1000, T(30), "the first deliveries", interval=0.2)
    mc.all_down()
    n = 6000
    Feeder(d.port("feed"), load("cd", 1000, n - 1000)).start().finish(T(30))
    d.wait_log(r"output kafka: none of the brokers \(.*\) can be reached .*nothing is dropped: "
               r"they wait in (the disk queue|memory)", timeout=T(30))
    time.sleep(2)
    c = counters(d)
    assert c["acknowledged"] < n and c["dropped"] == 0, c
    if disk:
        assert c["queued_disk"] >= n - c["acknowledged"], c
    mc.all_up()
    t = wait_delivered(d, mc, TOPIC, "cd", n, T(90))
    print("\ncluster down (%s): %s" % ("disk" if disk else "memory", t.summary()))
    t.assert_complete()
    d.wait_log(r"output kafka: over after [0-9.]+ s: no broker answers; nothing was lost",
               timeout=T(20))
    assert len(re.findall(r"none of the brokers", d.log_text())) == 1, d.log_tail()


def test_cluster_down_backpressure(cluster, daemon):
    """The cluster away, a small memory queue with full: block: at most memory_messages wait
    in flight and as many in the queue; the sender is held back (TCP), not dropped; all of it
    arrives, in order, once the cluster is back."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")], [kafka_output(mc, queue={"memory_messages": 300})]))
    mc.all_down()
    n = 20000
    f = Feeder(d.port("feed"), load("bp", 0, n), timeout=T(120)).start()
    d.wait_log(r"output kafka: none of the brokers", timeout=T(30))
    time.sleep(2)
    assert not f.done, "the sender was not held back"
    c = counters(d)
    kc = kafka_counters(d)
    assert c["queued"] <= 300 and kc["in_flight"] <= 300 and c["dropped"] == 0, (c, kc)
    mc.all_up()
    f.finish(T(120))
    t = wait_delivered(d, mc, TOPIC, "bp", n, T(120))
    t.assert_complete()


def test_disk_queue_kept_across_a_restart(cluster, daemon, tmp_path):
    """The cluster away, messages on disk; a clean stop keeps them there (and says how many),
    and the next start produces them first, in order."""
    mc = cluster()
    out = kafka_output(mc, queue={"dir": str(tmp_path / "kq"), "drain_timeout": "1s"})
    d = daemon(config([tcp_input("feed")], [out]))
    mc.all_down()
    n = 2000
    Feeder(d.port("feed"), load("rs", 0, n)).start().finish(T(30))
    poll(lambda: counters(d)["queued_disk"] >= n, T(30), "%d messages on disk" % n,
         interval=0.2)
    assert d.stop() == 0
    assert re.search(r"output kafka: stopping: %d messages wait in the disk queue" % n,
                     d.log_text()), d.log_tail()
    mc.all_up()
    d2 = daemon(config([tcp_input("feed")], [out]))
    d2.wait_log(r"output kafka: %d messages from the disk queue .* are delivered first" % n)
    t = wait_delivered(d2, mc, TOPIC, "rs", n, T(60))
    t.assert_complete()


def test_relp_acknowledges_only_delivered(cluster, daemon, pki):
    """A RELP input routed to a kafka output without a disk part acknowledges a message only
    once its delivery report says the brokers have it: with the cluster away the sender gets
    no acknowledgement; once it is back, every one."""
    mc = cluster()
    b_port = free_port()
    b = daemon(config([relp_input(pki, port=b_port)], [kafka_output(mc)]), name="b")
    a = daemon(config([tcp_input("feed")], [relp_forward(pki, b_port)]), name="a")
    n = 500
    Feeder(a.port("feed"), load("ra", 0, 100)).start().finish(T(30))
    poll(lambda: counters(a, "fwd").get("acknowledged", 0) >= 100, T(30),
         "the first acknowledgements", interval=0.2)
    mc.all_down()
    Feeder(a.port("feed"), load("ra", 100, n - 100)).start().finish(T(30))
    b.wait_log(r"output kafka: none of the brokers", timeout=T(30))
    time.sleep(2)
    assert counters(a, "fwd").get("acknowledged", 0) == 100, a.log_tail()
    mc.all_up()
    poll(lambda: counters(a, "fwd").get("acknowledged", 0) >= n, T(60),
         "every message acknowledged once delivered", interval=0.3)
    t = wait_delivered(b, mc, TOPIC, "ra", n, T(60))
    t.assert_complete()


def test_message_too_large(cluster, daemon):
    """A message larger than the producer may send (message.max.bytes) can never be delivered:
    it is dropped, counted as dropped_too_large and said with the remedy; the others arrive."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")],
                      [kafka_output(mc, properties={"message.max.bytes": "3000"})]))
    blob = load("tl", 0, 10) + line("tl", 10, pad=6000) + load("tl", 11, 10)
    Feeder(d.port("feed"), blob).start().finish(T(30))
    poll(lambda: acked(d) >= 20, T(30), "20 deliveries", interval=0.2)
    d.wait_log(r"output kafka: a record of \d+ bytes for topic syslog-user is larger than the "
               r"brokers accept .*dropped \(dropped_too_large\); raise the topic's "
               r"max.message.bytes")
    t = KafkaTally(kafka.read_topic(mc.bootstrap, TOPIC, want=20), "tl", 21)
    assert t.missing == [10] and not t.bad, t.summary()
    c = counters(d)
    assert c["dropped"] == 1 and kafka_counters(d)["dropped_too_large"] == 1, c


def test_unknown_topic(cluster, daemon):
    """The topic does not exist (the brokers say so in metadata): the records wait, the log
    says which topic and what to do, and once it exists they are delivered."""
    mc = cluster(topics={})
    mc.topic_error("syslog-user", "UNKNOWN_TOPIC_OR_PART")
    d = daemon(config([tcp_input("feed")], [kafka_output(mc, properties={
        "topic.metadata.propagation.max.ms": "1000"})]))
    n = 200
    Feeder(d.port("feed"), load("ut", 0, n)).start().finish(T(30))
    d.wait_log(r"output kafka: topic syslog-user does not exist on the cluster .*create it.*; "
               r"nothing is dropped", timeout=T(30))
    assert counters(d)["acknowledged"] == 0
    mc.topic_error("syslog-user", "NO_ERROR")
    try:
        mc.create_topic("syslog-user", 3)
    except kafka.MockError as e:  # the mock creates topics a client asks for
        assert "already exists" in str(e), e
    t = wait_delivered(d, mc, TOPIC, "ut", n, T(60))
    t.assert_complete()
    assert counters(d)["dropped"] == 0


def test_tls_failure_to_plaintext_brokers(cluster, daemon, pki):
    """TLS to brokers that do not speak it: the failure is said in plain words with the remedy,
    nothing is dropped while the output waits, and a stop says what it had to give up."""
    mc = cluster()
    d = daemon(config([tcp_input("feed")],
                      [kafka_output(mc, tls={"ca_file": str(pki.ca.cert)})]))
    Feeder(d.port("feed"), load("tf", 0, 50)).start().finish(T(30))
    d.wait_log(r"output kafka: TLS with a broker failed: .*SSL_HANDSHAKE.*; check that the "
               r"brokers' port speaks TLS", timeout=T(30))
    c = counters(d)
    assert c["acknowledged"] == 0 and c["dropped"] == 0, c
    d.stop()
    assert re.search(r"output kafka: stopping with 50 messages undelivered after drain_timeout",
                     d.log_text()), d.log_tail()
    assert len(re.findall(r"TLS with a broker failed", d.log_text())) == 1, d.log_tail()


@pytest.mark.peers("openssl")
def test_tls_broker_certificate_not_trusted(daemon, pki, tmp_path):
    """A broker whose certificate no configured CA signed (openssl s_server as the broker):
    the verification failure is said once, with the remedy."""
    srv = SServer(tmp_path / "srv", cert=str(pki.other.cert), key=str(pki.other.key)).start()
    try:
        d = daemon(config([tcp_input("feed")], [dict(
            name="kafka", type="kafka", brokers=["127.0.0.1:%d" % srv.port], topic="logs",
            tls={"ca_file": str(pki.ca.cert)}, queue={"drain_timeout": "1s"},
            properties={"reconnect.backoff.max.ms": "500"})]))
        Feeder(d.port("feed"), load("tv", 0, 5)).start().finish(T(30))
        d.wait_log(r"output kafka: TLS with a broker failed: .*certificate verify failed.*; "
                   r"check that .*tls.ca_file holds the CA that signed the brokers' "
                   r"certificates", timeout=T(30))
        time.sleep(1.5)  # more attempts fail meanwhile: still one line
        assert len(re.findall(r"TLS with a broker failed", d.log_text())) == 1, d.log_tail()
    finally:
        srv.stop()


def netns_daemon(daemon, tmp_path, output):
    """A tlslogd in a network namespace of its own (so that a BrokerProxy can take the mock's
    broker ports there), fed through a unix socket (the file system is shared)."""
    wrap = private_net_wrap()
    if wrap is None:
        pytest.skip("a network namespace of its own needs root (unshare --net)")
    sock = tmp_path / "in.sock"
    return daemon(config([unix_input("in", sock)], [output]), wrap=wrap), sock


def password_file(tmp_path, pw):
    p = tmp_path / "kafka.pw"
    p.write_text(pw + "\n")
    os.chmod(p, 0o600)
    return str(p)


@pytest.mark.parametrize("mech", [None, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_tls_and_sasl_to_the_brokers(cluster, daemon, pki, tmp_path, mech):
    """TLS to every broker (the brokers verify our client certificate, we verify theirs by CA
    and name), with SASL PLAIN or SCRAM on top: the brokers are the mock behind a TLS and SASL
    front (tests/kafka/broker_proxy.py) on the addresses the mock advertises."""
    mc = cluster()
    kw = {}
    if mech:
        kw["sasl"] = {"mechanism": mech, "username": "tlslogd",
                      "password_file": password_file(tmp_path, "s3cr3t pw")}
    d, sock = netns_daemon(daemon, tmp_path, kafka_output(mc, tls={
        "ca_file": str(pki.ca.cert), "cert_file": str(pki.client.cert),
        "key_file": str(pki.client.key)}, **kw))
    proxy = kafka.BrokerProxy(tmp_path / "proxy", mc, d.proc.pid, cert=pki.server.cert,
                              key=pki.server.key, ca=pki.ca.cert,
                              users={"tlslogd": "s3cr3t pw"} if mech else None).start()
    try:
        n = 300
        send_unix_dgram(sock, [line("ts", i).rstrip(b"\n") for i in range(n)])
        t = wait_delivered(d, mc, TOPIC, "ts", n, T(60))
        t.assert_complete()
        assert re.search(r"output kafka: producing to Kafka at .* \(TLS%s\)" % (
            ", SASL" if mech else ""), d.log_text())
        # SIGHUP reloads other outputs' certificates; this one says it keeps its own.
        d.hup()
        d.wait_log(r"output kafka: TLS reload does not apply to kafka outputs: they keep the "
                   r"certificates read at start until a restart")
        assert not re.search(r"TLS with a broker failed|SASL authentication as", d.log_text()), \
            d.log_tail()
    finally:
        proxy.stop()


TLS_REFUSALS = {
    # case: (what the broker presents, the CA it wants client certificates from, our own
    #        certificate, what librdkafka says)
    "name": ("server_noip", None, None, "certificate verify failed"),
    "client-cert": ("server", "ca", None, "alert certificate required"),
    "client-ca": ("server", "other_ca", "client", "alert unknown ca"),
}


@pytest.mark.parametrize("case", sorted(TLS_REFUSALS))
def test_tls_refused_by_name_or_by_the_broker(cluster, daemon, pki, tmp_path, case):
    """TLS failures in the handshake with a broker that speaks TLS (the mock behind the TLS
    front): a certificate that does not carry the broker's address (auth name), a broker that
    wants a client certificate we do not have, or that does not trust ours. Each is said once,
    with the remedy (docs/tls.md)."""
    leaf, want_ca, ours, said = TLS_REFUSALS[case]
    mc = cluster()
    tls = {"ca_file": str(pki.ca.cert)}
    if ours:
        tls.update(cert_file=str(getattr(pki, ours).cert), key_file=str(getattr(pki, ours).key))
    d, sock = netns_daemon(daemon, tmp_path, kafka_output(mc, tls=tls,
                                                          queue={"drain_timeout": "1s"}))
    cert = getattr(pki, leaf)
    proxy = kafka.BrokerProxy(tmp_path / "proxy", mc, d.proc.pid, cert=cert.cert, key=cert.key,
                              ca=getattr(pki, want_ca).cert if want_ca else None).start()
    try:
        send_unix_dgram(sock, [line("tr", i).rstrip(b"\n") for i in range(5)])
        d.wait_log(r"output kafka: TLS with a broker failed: .*%s.*; check that the brokers' "
                   r"port speaks TLS" % said, timeout=T(30))
        time.sleep(1.5)
        assert len(re.findall(r"TLS with a broker failed", d.log_text())) == 1, d.log_tail()
        assert counters(d)["acknowledged"] == 0
    finally:
        proxy.stop()


def test_sasl_wrong_password(cluster, daemon, pki, tmp_path):
    """The brokers refuse the password: said once, in plain words with what to check; nothing
    is dropped meanwhile."""
    mc = cluster()
    d, sock = netns_daemon(daemon, tmp_path, kafka_output(mc, tls={"ca_file": str(pki.ca.cert)},
        sasl={"mechanism": "SCRAM-SHA-512", "username": "tlslogd",
              "password_file": password_file(tmp_path, "wrong")}))
    proxy = kafka.BrokerProxy(tmp_path / "proxy", mc, d.proc.pid, cert=pki.server.cert,
                              key=pki.server.key, users={"tlslogd": "right"}).start()
    try:
        send_unix_dgram(sock, [line("wp", i).rstrip(b"\n") for i in range(20)])
        d.wait_log(r"output kafka: SASL authentication as 'tlslogd' failed: .*Invalid username "
                   r"or password.*; check sasl.username, the password in .*kafka.pw, and that the "
                   r"brokers enable SCRAM-SHA-512; nothing is dropped", timeout=T(30))
        time.sleep(1.5)
        c = counters(d)
        assert c["acknowledged"] == 0 and c["dropped"] == 0, c
        assert len(re.findall(r"SASL authentication as", d.log_text())) == 1, d.log_tail()
    finally:
        proxy.stop()


@pytest.mark.serial  # 30,000 messages through two daemons and three restarts: CPU-heavy
def test_sigkill_with_disk_queue(cluster, daemon, tmp_path, pki):
    """A (tcp in -> RELP/TLS out, disk queue) -> B (RELP/TLS in -> kafka out, disk queue) ->
    the mock cluster. B is SIGKILLed three times mid-stream and restarted: whatever A saw
    acknowledged was on B's disk, so every message ends up in Kafka (duplicates allowed)."""
    # raw and 6 partitions: the mock keeps at most 5 MiB per partition (and drops the oldest)
    mc = cluster(topics={TOPIC: 6})
    b_port = free_port()
    kq = {"dir": str(tmp_path / "bq"), "sync": "always", "memory_messages": 2000}
    b = daemon(config([relp_input(pki, port=b_port)],
                      [kafka_output(mc, queue=kq, format="raw")]), name="b")
    a = daemon(config([tcp_input("feed")],
                      [relp_forward(pki, b_port, queue={"dir": str(tmp_path / "aq"),
                                                        "sync": "always"})]), name="a")
    n = 30000
    blob = load("sk", 0, n)
    f = Feeder(a.port("feed"), blob, timeout=T(120), rate=len(blob) / 8.0).start()
    for k in range(3):
        want = (k + 1) * n // 5
        poll(lambda: counters(a, "fwd").get("acknowledged", 0) >= want, T(60),
             "A to see %d acknowledged" % want, interval=0.2)
        b.kill()
        time.sleep(0.1 * k)
        b.start()
    f.finish(T(120))
    poll(lambda: counters(a, "fwd").get("acknowledged", 0) >= n, T(120),
         "A to see every message acknowledged", interval=0.5, max_interval=1.0)
    t = wait_topic(mc, TOPIC, "sk", n, T(120), alive=[a, b])
    print("\nSIGKILL x3 with a disk queue: %s" % t.summary())
    assert not t.bad and not t.missing, t.summary()


# ---------------------------------------------------------------------------------------------
# Configuration and start

def test_check_reports_property_errors(tmp_path):
    """--check validates every properties: entry with librdkafka itself, and refuses those the
    output sets (with what to write instead)."""
    conf = tmp_path / "k.yaml"
    conf.write_text(
        "inputs:\n  - name: in\n    transport: tcp\n    listen: 127.0.0.1:0\n"
        "outputs:\n  - name: k\n    type: kafka\n    brokers: [127.0.0.1:9]\n"
        "    topic: logs\n    properties:\n      linger.ms: fast\n      no.such.thing: 1\n"
        "      enable.idempotence: false\n      compression.type: zstd\n")
    r = run_cli(["--check", "-c", str(conf)])
    err = r.stderr.decode()
    assert r.returncode != 0, err
    assert re.search(r"k.yaml:11: outputs\[0\] \(k\).properties.linger.ms: librdkafka refuses "
                     r"'fast': Invalid value for configuration property", err), err
    assert re.search(r"k.yaml:12: outputs\[0\] \(k\).properties.no.such.thing: librdkafka "
                     r"refuses '1': No such configuration property", err), err
    assert re.search(r"k.yaml:13: outputs\[0\] \(k\).properties.enable.idempotence: tlslogd "
                     r"sets enable.idempotence itself; tlslogd always produces with "
                     r"enable.idempotence=true", err), err
    assert "compression.type" not in err


def test_sasl_password_file_mode(cluster, daemon, tmp_path):
    """A SASL password file others may read is refused at start, naming the chmod."""
    mc = cluster()
    pw = tmp_path / "kafka.pw"
    pw.write_text("secret\n")
    os.chmod(pw, 0o644)
    d = daemon(config([tcp_input("feed")], [kafka_output(
        mc, sasl={"mechanism": "SCRAM-SHA-512", "username": "tlslogd",
                  "password_file": str(pw)})]), start=False)
    d.nonzero_exit_ok = True
    d.start(wait=False)
    assert d.proc.wait(T(20)) != 0
    assert re.search(r"output kafka: sasl.password_file %s is readable by others \(mode 0644\).*"
                     r"chmod 600" % re.escape(str(pw)), d.log_text()), d.log_tail()
    assert stat.S_IMODE(os.stat(pw).st_mode) == 0o644
