"""Load-balanced forwarding (issue 16, point 2): a forward output's mode hash and round_robin
over several targets, with real receivers.

  - hash, 3 tlslogd RELP/TLS receivers, 200 sending hosts (distinct RFC 5424 HOSTNAMEs fed
    through the forwarding tlslogd's tcp input): each host's messages land on exactly one
    receiver; one receiver SIGKILLed mid-stream: its hosts move to the others, the others keep
    theirs, nothing is lost (every number at the union of the receivers; duplicates only for
    the killed receiver's hosts); restarted: its hosts come back;
  - hash, 3 rsyslog imtcp TLS receivers: each host on exactly one, nothing lost;
  - round_robin, 3 tlslogd RELP/TLS receivers: messages spread over all of them; one SIGKILLed
    mid-stream: nothing lost;
  - hash with a disk queue (queue.dir): the same kill, nothing lost, the disk queue empties;
  - hash, both receivers SIGKILLed with messages in flight, more fed meanwhile, one restarted:
    everything arrives there;
  - --check refuses hash_key without mode hash, and an unknown placeholder, with FILE:LINE.

Every message is "<13>1 ... hostNNN rel - - - MARKER seq=N CHECK end" (relutil.line with the
host replaced); the receivers write format raw, and every file is parsed for (host, seq).
Failover (the default) is what every other forward test runs.
"""

import re
import signal
import time
from collections import Counter, defaultdict

import pytest

from peers import rsyslog as rs
from peers.ports import free_port
from relutil import Feeder, feed, line, relp_forward, relp_input, stats
from tlsconf import CLIENT_NAME, need_rsyslog, pki, tls_block  # noqa: F401
from tlsconf import group  # noqa: F401
from tlslogd import T, config, file_output, poll, run_cli, tcp_input

HOSTS = 200
_REC = re.compile(rb"(host\d{3}) rel - - - (\w+) seq=(\d{8}) ([0-9a-f]{8}) ")


def host(i):
    return "host%03d" % (i % HOSTS)


def load(marker, start, n):
    """Messages start .. start+n-1; message i comes from host i % 200."""
    return b"".join(line(marker, i).replace(b"feeder.test", host(i).encode())
                    for i in range(start, start + n))


def records(path):
    """[(host, marker, seq)] of the complete lines of a receiver's file, CHECK verified."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return []
    data = data[:data.rfind(b"\n") + 1]
    out = []
    for m in _REC.finditer(data):
        seq = int(m.group(3))
        ref = line("x", seq).split(b" seq=")[1].split(b" ")[1]
        assert m.group(4) == ref, "corrupt record %r in %s" % (m.group(0), path)
        out.append((m.group(1).decode(), m.group(2).decode(), seq))
    return out


class Union:
    """What a set of receivers' files hold for one marker."""

    def __init__(self, paths, marker):
        self.where = defaultdict(set)      # host -> receiver indexes
        self.count = Counter()             # seq -> copies, over all receivers
        self.by_rx = defaultdict(Counter)  # receiver -> seq -> copies
        self.host_seqs = defaultdict(lambda: defaultdict(list))  # rx -> host -> [seq]
        for k, p in enumerate(paths):
            for h, mk, seq in records(p):
                if mk != marker:
                    continue
                self.where[h].add(k)
                self.count[seq] += 1
                self.by_rx[k][seq] += 1
                self.host_seqs[k][h].append(seq)

    def missing(self, n):
        return [i for i in range(n) if not self.count[i]]

    def dups(self):
        return {s: c - 1 for s, c in self.count.items() if c > 1}


def wait_union(paths, marker, n, timeout, alive=()):
    def done():
        for d in alive:
            d.check_alive("waiting for %d %r messages" % (n, marker))
        u = Union(paths, marker)
        return u if not u.missing(n) else None
    try:
        return poll(done, timeout, "all %d %r messages at the receivers" % (n, marker))
    except AssertionError:
        u = Union(paths, marker)
        m = u.missing(n)
        raise AssertionError("%d of %d %r messages missing (first %s); per receiver %s" % (
            len(m), n, marker, m[:10], [sum(u.by_rx[k].values()) for k in range(len(paths))]))


def rx_conf(pki, out, port):
    return config([relp_input(pki, port=port)], [file_output("f", out, format="raw")])


def lb_forward(pki, ports, mode, **kw):
    d = relp_forward(pki, ports[0], mode=mode, **kw)
    d["targets"] = ["127.0.0.1:%d" % p for p in ports]
    return d


def receivers(daemon, pki, tmp_path, k=3):
    ports = [free_port() for _ in range(k)]
    outs = [tmp_path / ("rx%d.raw" % i) for i in range(k)]
    rxs = [daemon(rx_conf(pki, outs[i], ports[i]), name="rx%d" % i) for i in range(k)]
    return ports, outs, rxs


def connected(d, port):
    return len(re.findall(r"output fwd: connected to 127\.0\.0\.1:%d " % port, d.log_text()))


def kill_holding(tx, rx, lane):
    """SIGKILLs rx while tx's lane (1-based) holds messages it sent and rx did not acknowledge:
    rx is frozen first (SIGSTOP) until they pile up, so that the kill falls on a window in
    flight, which must move to the other receivers."""
    rx.signal(signal.SIGSTOP)
    last = {}

    def holding():
        # acknowledgements rx sent before it froze may still wait in tx's socket: hold only
        # counts once the acknowledged count stood still between two readings
        s = stats(tx, want=["output fwd/%d" % lane])["output fwd/%d" % lane]
        still = last.get("acked") == s["acknowledged"]
        last["acked"] = s["acknowledged"]
        if still and s["written"] - s["acknowledged"] >= 50:
            return True
        time.sleep(0.3)
        return False
    try:
        poll(holding, T(20), "lane %d to hold unacknowledged messages" % lane)
    finally:
        rx.nonzero_exit_ok = True
        rx.kill()


def assert_one_receiver_per_host(u, what):
    split = {h: sorted(r) for h, r in u.where.items() if len(r) != 1}
    assert not split, "%s: hosts on more than one receiver: %s" % (
        what, dict(list(split.items())[:5]))


# ---------------------------------------------------------------------------------------------
# 1. hash, tlslogd RELP/TLS receivers, one SIGKILLed and restarted

def run_hash_kill(daemon, pki, tmp_path, queue=None):
    ports, outs, rxs = receivers(daemon, pki, tmp_path)
    fwd = lb_forward(pki, ports, "hash", hash_key="{hostname}",
                     **({"queue": queue} if queue else {}))
    tx = daemon(config([tcp_input("feed")], [fwd], stats_interval="0"), name="tx")
    alive = rxs + [tx]

    # Phase a: every host on exactly one receiver, every receiver some hosts.
    na = 4000
    feed(tx.port("feed"), load("a", 0, na), timeout=T(30))
    ua = wait_union(outs, "a", na, T(60), alive)
    assert not ua.dups(), "duplicates without any failure: %s" % list(ua.dups())[:10]
    assert len(ua.where) == HOSTS
    assert_one_receiver_per_host(ua, "phase a")
    home = {h: next(iter(r)) for h, r in ua.where.items()}
    per_rx = Counter(home.values())
    assert all(per_rx[k] >= HOSTS // 10 for k in range(3)), "hosts per receiver: %s" % per_rx

    # Phase b: receiver 1 SIGKILLed mid-stream (paced feed, so that the kill falls on messages
    # in flight).
    nb = 30000
    f = Feeder(tx.port("feed"), load("b", 0, nb), timeout=T(60), rate=1_000_000).start()
    poll(lambda: rxs[1].check_alive("phase b") or sum(Union([outs[1]], "b").count.values())
         >= 1500, T(30), "receiver 1 to take part of phase b")
    kill_holding(tx, rxs[1], 2)
    f.finish(T(90))
    ub = wait_union(outs, "b", nb, T(90), [rxs[0], rxs[2], tx])
    moved = {h for h, k in home.items() if k == 1}
    for h, k in home.items():
        if k != 1:
            assert ub.where[h] == {k}, "host %s of receiver %d moved: %s" % (h, k, ub.where[h])
        else:
            # before the kill on 1, afterwards on exactly one other (its next choice)
            others = ub.where[h] - {1}
            assert len(others) == 1, "host %s of the killed receiver: %s" % (h, ub.where[h])
    dup_hosts = {host(s) for s in ub.dups()}
    assert dup_hosts <= moved, "duplicates of hosts that did not move: %s" % (
        sorted(dup_hosts - moved)[:5])
    st = stats(tx, want=["output fwd", "output fwd/2"])
    assert st["output fwd/2"]["moved"] > 0 and st["output fwd"]["resent"] > 0, st

    # Phase c: receiver 1 restarted on its port: its hosts come back, the others stay.
    rxs[1].start()
    rxs[1].nonzero_exit_ok = False
    poll(lambda: connected(tx, ports[1]) >= 2, T(30), "tx to reconnect to receiver 1:\n%s"
         % tx.log_tail(20))
    nc = 4000
    feed(tx.port("feed"), load("c", 0, nc), timeout=T(30))
    uc = wait_union(outs, "c", nc, T(60), alive)
    assert_one_receiver_per_host(uc, "phase c")
    back = {h: next(iter(r)) for h, r in uc.where.items()}
    assert back == home, "hosts not at home after the restart: %s" % {
        h: (home[h], back.get(h)) for h in home if back.get(h) != home[h]}
    return tx, ub


def test_hash_relp_receiver_sigkill_moves_only_its_hosts(daemon, tmp_path, pki):
    tx, ub = run_hash_kill(daemon, pki, tmp_path)
    print("\nphase b: %d duplicate copies" % sum(ub.dups().values()))


def test_hash_relp_with_disk_queue_loses_nothing(daemon, tmp_path, pki):
    """The same with queue.dir: the lanes are fed from the spool; when everything arrived the
    disk part holds nothing any more (records leave it once acknowledged, in order)."""
    qdir = tmp_path / "txq"
    tx, _ = run_hash_kill(daemon, pki, tmp_path, queue={"dir": str(qdir), "max_bytes": "64MiB"})
    poll(lambda: stats(tx, want=["output fwd"])["output fwd"]["queued_disk"] == 0, T(30),
         "the disk queue to empty")


def test_hash_every_target_down_then_one_returns(daemon, tmp_path, pki):
    """Both receivers SIGKILLed while their lanes hold unacknowledged messages (the second
    one's then has nowhere to go: they are parked), more messages fed meanwhile (they wait in
    the queue); the first receiver restarted alone: everything arrives there."""
    ports, outs, rxs = receivers(daemon, pki, tmp_path, k=2)
    tx = daemon(config([tcp_input("feed")], [lb_forward(pki, ports, "hash")]), name="tx")
    n = 20000
    f = Feeder(tx.port("feed"), load("z", 0, n), timeout=T(60), rate=1_000_000).start()
    poll(lambda: rxs[1].check_alive("down") or sum(Union([outs[1]], "z").count.values())
         >= 1000, T(30), "receiver 1 to take part of the stream")
    kill_holding(tx, rxs[1], 2)
    kill_holding(tx, rxs[0], 1)
    f.finish(T(90))
    # Polled: a lane reads down once the daemon has seen its receiver go (a failed write or
    # connect), which under load can come after the first reading.
    st = {}

    def both_down():
        st.update(stats(tx, want=["output fwd/1", "output fwd/2"]))
        return st["output fwd/1"]["up"] == 0 and st["output fwd/2"]["up"] == 0
    poll(both_down, T(15), "both lanes to be down after both receivers were killed")
    # Lane 2's window moved to lane 1 when receiver 1 died. Whether lane 1 still held frames
    # of its own when receiver 0 died depends on timing (about 1 run in 5 under load it had
    # none left in its window: they were rewound before the loss was seen), so only the
    # first move is asserted; that nothing is lost is what the union below checks.
    assert st["output fwd/2"]["moved"] > 0, st
    rxs[0].start()
    rxs[0].nonzero_exit_ok = False
    u = wait_union(outs, "z", n, T(90), [rxs[0], tx])
    dup_hosts = {host(s) for s in u.dups()}
    print("\nall down: %d duplicate copies (%d hosts)" % (sum(u.dups().values()), len(dup_hosts)))
    # afterwards every host is on the one receiver left
    after = Union([outs[0]], "z")
    assert len(after.where) == HOSTS


# ---------------------------------------------------------------------------------------------
# 2. hash, rsyslog TLS receivers

@need_rsyslog
def test_hash_rsyslog_tls_receivers(daemon, tmp_path, pki, group):
    """tlslogd hash mode over TLS to 3 rsyslog imtcp (ossl) receivers: each host's messages on
    exactly one of them, all 3 used, nothing lost, none twice."""
    rxs = []
    for k in range(3):
        r = rs.Rsyslog(tmp_path / ("rs%d" % k), "rs%d" % k)
        rxs.append(r.tls_receiver(driver="ossl", authmode="x509/name",
                                  permitted_peers=[CLIENT_NAME], ca=pki.ca.cert,
                                  cert=pki.server.cert, key=pki.server.key,
                                  template=r"%HOSTNAME% rel - - - %msg%\n"))
        group.add(r).start()
    t = tls_block(ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key, auth="name")
    fwd = dict(name="fwd", type="forward", transport="tls", tls=t, mode="hash",
               targets=["127.0.0.1:%d" % r.port for r in rxs])
    tx = daemon(config([tcp_input("feed")], [fwd]), name="tx")
    n = 6000
    feed(tx.port("feed"), load("r", 0, n), timeout=T(30))
    u = wait_union([r.out.path for r in rxs], "r", n, T(60), [tx])
    assert not u.dups(), list(u.dups())[:10]
    assert_one_receiver_per_host(u, "rsyslog")
    assert len(u.where) == HOSTS
    assert all(u.by_rx[k] for k in range(3)), [len(u.by_rx[k]) for k in range(3)]


# ---------------------------------------------------------------------------------------------
# 3. round_robin

def test_round_robin_spreads_and_loses_nothing_on_sigkill(daemon, tmp_path, pki):
    ports, outs, rxs = receivers(daemon, pki, tmp_path)
    tx = daemon(config([tcp_input("feed")], [lb_forward(pki, ports, "round_robin")]), name="tx")
    n = 30000
    f = Feeder(tx.port("feed"), load("q", 0, n), timeout=T(60), rate=1_000_000).start()
    poll(lambda: rxs[2].check_alive("round robin") or sum(Union([outs[2]], "q").count.values())
         >= 1500, T(30), "receiver 2 to take part of the stream")
    kill_holding(tx, rxs[2], 3)
    counts_before = [sum(Union([o], "q").count.values()) for o in outs]
    f.finish(T(90))
    u = wait_union(outs, "q", n, T(90), [rxs[0], rxs[1], tx])
    assert all(c > 0 for c in counts_before), "not spread over all receivers: %s" % counts_before
    # the two left share what came after the kill
    assert all(sum(u.by_rx[k].values()) > counts_before[k] for k in (0, 1)), (
        counts_before, [sum(u.by_rx[k].values()) for k in range(3)])
    st = stats(tx, want=["output fwd/1", "output fwd/2", "output fwd/3"])
    assert all(st["output fwd/%d" % k]["acknowledged"] > 0 for k in (1, 2, 3)), st


# ---------------------------------------------------------------------------------------------
# 4. --check

@pytest.mark.parametrize("case", ["hash_key-without-hash", "unknown-placeholder"])
def test_check_refuses_bad_hash_key(tmp_path, case):
    extra = ("    hash_key: \"{hostname}\"\n" if case == "hash_key-without-hash"
             else "    mode: hash\n    hash_key: \"{hots}\"\n")
    conf = tmp_path / "t.yaml"
    conf.write_text("inputs:\n  - name: in\n    transport: tcp\n    listen: 127.0.0.1:0\n"
                    "outputs:\n  - name: fwd\n    type: forward\n    transport: tcp\n"
                    "    targets: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n" + extra)
    r = run_cli(["--check", "-c", str(conf)])
    text = (r.stdout + r.stderr).decode()
    assert r.returncode != 0, text
    want = (r"t\.yaml:10: .*hash_key: hash_key applies only with mode: hash"
            if case == "hash_key-without-hash"
            else r"t\.yaml:11: .*hash_key.*unknown placeholder '\{hots\}'")
    assert re.search(want, text), text
