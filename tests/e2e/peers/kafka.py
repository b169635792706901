"""Kafka for the end-to-end tests: librdkafka's mock cluster as a process of its own
(tests/kafka/mock_cluster.c, built as $TLSLOGD_BUILD/tests/mock_cluster) with fault injection,
and consumers that read a topic back with keys (python3-confluent-kafka, or kcat).

    with MockCluster(tmp_path / "kafka", brokers=3, topics={"syslog-user": 3}) as mc:
        mc.bootstrap                     # "127.0.0.1:41595,127.0.0.1:40077,127.0.0.1:43669"
        mc.broker_down(2); mc.broker_up(2); mc.all_down(); mc.all_up()
        mc.leader("syslog-user", 0, 3)   # a leader change
        mc.produce_errors("NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT")
        recs = read_topic(mc.bootstrap, "syslog-user", want=1000)   # [Record], offset order

What the mock does (librdkafka 2.0.2, measured): a broker taken down keeps its partitions (no
leader move) and its port ("connection refused"); each partition keeps at most 5 MiB or 100,000
message sets and silently drops the oldest; injected Produce errors are returned before the
append; it takes about 1 s to shut down. It speaks plaintext only (no TLS, no SASL).

Every wait is bounded; the cluster is stopped by its own PID (EOF on stdin, then SIGTERM, then
SIGKILL).
"""

import os
import select
import shutil
import signal
import subprocess
import time
from collections import namedtuple
from pathlib import Path

from .procs import T, Timeout, run

BUILD = os.environ.get("TLSLOGD_BUILD", "")
MOCK = os.path.join(BUILD, "tests", "mock_cluster") if BUILD else ""
PROXY = str(Path(__file__).resolve().parents[2] / "kafka" / "broker_proxy.py")

Record = namedtuple("Record", "partition offset key value")


def available():
    return bool(MOCK) and os.access(MOCK, os.X_OK)


def confluent_available():
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


def kcat_available():
    return shutil.which("kcat") is not None


class MockError(AssertionError):
    pass


class MockCluster:
    """The mock cluster process. topics: {name: partitions} created at start."""

    def __init__(self, workdir, brokers=3, topics=None, name="kafka"):
        self.dir = Path(workdir)
        self.n_brokers = brokers
        self.topics = dict(topics or {})
        self.name = name
        self.proc = None
        self.bootstrap = None
        self._buf = b""
        self.log_path = self.dir / (name + ".log")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def brokers(self):
        """["127.0.0.1:PORT", ...], broker id i + 1 at index i."""
        return self.bootstrap.split(",")

    def start(self):
        assert available(), "mock_cluster not built at %r (make build)" % MOCK
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [MOCK, "--brokers", str(self.n_brokers)]
        for t, p in self.topics.items():
            argv += ["--topic", "%s:%d" % (t, p)]
        with open(self.log_path, "ab") as log:
            # stdout is a pipe we read after every command (one short line each): it never
            # fills. stderr goes to the log file.
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, start_new_session=True)
        line = self._readline(T(10))
        if not line.startswith("bootstrap "):
            self.stop()
            raise MockError("mock_cluster said %r instead of its bootstrap servers; log:\n%s"
                            % (line, self.log()))
        self.bootstrap = line.split(" ", 1)[1]
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _readline(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout("mock_cluster (pid %s) did not answer within %.1fs" % (
                    self.pid, timeout))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise MockError("mock_cluster (pid %s) exited (%s); log:\n%s" % (
                        self.pid, self.proc.poll(), self.log()))
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def command(self, line):
        """Sends one command; returns the text after "ok "; MockError on "error ..."."""
        assert self.proc is not None and self.proc.poll() is None, "mock_cluster is not running"
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        reply = self._readline(T(10))
        if not reply.startswith("ok"):
            raise MockError("mock_cluster: %r -> %r" % (line, reply))
        return reply[3:]

    # -- faults ----------------------------------------------------------------------------

    def create_topic(self, topic, partitions):
        self.command("topic %s %d" % (topic, partitions))

    def broker_down(self, broker_id):
        """Broker broker_id (1..N) refuses connections; its partitions do not move."""
        self.command("down %d" % broker_id)

    def broker_up(self, broker_id):
        self.command("up %d" % broker_id)

    def all_down(self):
        self.command("down -1")

    def all_up(self):
        self.command("up -1")

    def leader(self, topic, partition, broker_id):
        self.command("leader %s %d %d" % (topic, partition, broker_id))

    def produce_errors(self, *errors):
        """The next len(errors) Produce requests fail, one error each, in order (names as in
        rdkafka.h without RD_KAFKA_RESP_ERR_, e.g. NOT_LEADER_FOR_PARTITION, or numbers)."""
        self.command("produce_errors " + " ".join(str(e) for e in errors))

    def topic_error(self, topic, error):
        """Metadata requests for topic answer error (NO_ERROR clears it)."""
        self.command("topic_error %s %s" % (topic, error))

    def rtt(self, broker_id, ms):
        self.command("rtt %d %d" % (broker_id, ms))

    # -- stop --------------------------------------------------------------------------------

    def stop(self, timeout=None):
        """EOF on stdin (the helper destroys the cluster and exits 0), then SIGTERM, then
        SIGKILL, each bounded; only this PID is signalled. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout or T(10))
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(T(5))
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(T(5))
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        return self.proc.returncode


class BrokerProxy:
    """TLS (and SASL) in front of a MockCluster's brokers (tests/kafka/broker_proxy.py): it
    listens on the mock's own broker ports inside the network namespace of process netns_pid
    (a tlslogd started with tlslogd.private_net_wrap()) and relays to the mock. cert/key: the
    brokers' certificate; ca: clients must present a certificate it signed; users: {name:
    password} for SASL (then every connection must authenticate). Needs root."""

    def __init__(self, workdir, mc, netns_pid, cert=None, key=None, ca=None, users=None,
                 mechanisms=None, name="proxy"):
        self.dir = Path(workdir)
        self.name = name
        self.ready = self.dir / (name + ".ready")
        self.log_path = self.dir / (name + ".log")
        argv = ["/usr/bin/python3", PROXY, "--netns", str(netns_pid), "--ready", str(self.ready)]
        for b in mc.brokers:
            argv += ["--map", "%s=%s" % (b.rsplit(":", 1)[1], b)]
        if cert:
            argv += ["--cert", str(cert), "--key", str(key)]
        if ca:
            argv += ["--ca", str(ca)]
        for u, p in (users or {}).items():
            argv += ["--user", "%s:%s" % (u, p)]
        if mechanisms:
            argv += ["--mechanisms", ",".join(mechanisms)]
        self.argv = argv
        self.proc = None

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=log,
                                         stderr=log, start_new_session=True)
        end = time.monotonic() + T(10)
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() >= end:
                self.stop()
                raise MockError("broker_proxy did not start; log:\n%s" % self.log())
            time.sleep(0.05)
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self):
        """EOF on stdin, then SIGTERM, then SIGKILL (bounded, this PID only)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(T(5))
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(T(5))


# ---------------------------------------------------------------------------------------------
# Consumers

def read_topic(bootstrap, topic, want=0, timeout=None, settle=0.5):
    """Every record of topic from the beginning, with python3-confluent-kafka: [Record] in
    partition and offset order. Reads until every partition is at its end and at least `want`
    records arrived, then `settle` seconds more at the end (records still coming); at most
    `timeout` seconds (then what arrived is returned: the caller's checks say what is
    missing)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    timeout = timeout or T(30)
    end = time.monotonic() + timeout
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tlslogd-tests",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "earliest", "log_level": 3,
                  "topic.metadata.refresh.interval.ms": 1000})
    recs = []
    try:
        parts = None
        while parts is None:
            md = c.list_topics(topic, timeout=max(0.1, min(5.0, end - time.monotonic())))
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                parts = sorted(t.partitions)
            elif time.monotonic() >= end:
                raise Timeout("topic %s not found at %s: %s" % (
                    topic, bootstrap, t.error if t is not None else "no metadata"))
            else:
                time.sleep(0.1)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        at_eof = set()
        quiet_since = None
        while time.monotonic() < end:
            m = c.poll(0.2)
            now = time.monotonic()
            if m is None:
                if len(at_eof) == len(parts) and len(recs) >= want:
                    quiet_since = quiet_since or now
                    if now - quiet_since >= settle:
                        break
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_eof.add(m.partition())
                continue
            at_eof.discard(m.partition())
            quiet_since = None
            recs.append(Record(m.partition(), m.offset(), m.key(), m.value()))
    finally:
        c.close()
    recs.sort(key=lambda r: (r.partition, r.offset))
    return recs


def read_topic_kcat(bootstrap, topic, timeout=None):
    """The same with kcat (-E: it does not give up while brokers are away): [Record]. Keys
    and values must not hold the delimiter bytes used here (\\x1e, \\x1f)."""
    r = run(["kcat", "-E", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", "%p\x1f%o\x1f%k\x1f%s\x1e"], timeout=timeout or T(30))
    recs = []
    for item in r.stdout.split(b"\x1e"):
        if not item.strip():
            continue
        p, o, k, v = item.split(b"\x1f", 3)
        recs.append(Record(int(p), int(o), k or None, v))
    recs.sort(key=lambda r: (r.partition, r.offset))
    return recs
