"""No acknowledged message is lost through a relay (issue 10): A -> B -> C over RELP/TLS, A and B
tlslogd with disk queues (sync: always), C a tlslogd or rsyslog imrelp writing a file.

The settle rule (docs/reliability.md): B acknowledges a message to A only once its forward
output has it on disk. So when B is SIGKILLed at any moment, whatever A saw acknowledged is in
B's disk queue (or already at C), and comes out at C after B's restart. Two ways to kill B:

- C frozen (SIGSTOP): everything A sent piles up in B; A sees every message acknowledged; B is
  SIGKILLed, restarted, C thawed: every message reaches C.
- C healthy: B is SIGKILLed repeatedly while a steady stream flows.

Every message is numbered; C's file is checked for every number (duplicates are allowed and
counted: delivery is at-least-once).
"""

import signal
import time

import pytest

from peers import rsyslog as rs
from peers.ports import free_port
from relutil import Feeder, load, relp_forward, relp_input, stats, tally, wait_count, \
    wait_distinct
from tlsconf import CLIENT_NAME, group, pki  # noqa: F401
from tlslogd import T, config, file_output, poll, tcp_input

QUEUE = {"memory_messages": 2000, "sync": "always", "max_bytes": "256MiB"}


def chain(daemon, tmp_path, pki, group, c_kind):
    """Starts C, then B (relp in on a fixed port, so it can come back on it), then A.
    Returns (a, b, c_out, c_proc): c_proc has .pid for SIGSTOP."""
    if c_kind == "tlslogd":
        c_port = free_port()
        c_out = tmp_path / "c.raw"
        c = daemon(config([relp_input(pki, port=c_port)], [file_output("f", c_out)]), name="c")
        c_pid = c.proc.pid
    else:
        r = rs.Rsyslog(tmp_path / "rs", "rs")
        rrx = r.relp_receiver(ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key,
                              authmode="name", permitted_peers=[CLIENT_NAME])
        group.add(r).start()
        c_port, c_out, c_pid = rrx.port, rrx.out.path, r.proc.proc.pid
    b_port = free_port()
    b = daemon(config([relp_input(pki, port=b_port)],
                      [relp_forward(pki, c_port, queue=dict(QUEUE, dir=str(tmp_path / "bq")))]),
               name="b")
    a = daemon(config([tcp_input("feed")],
                      [relp_forward(pki, b_port, queue=dict(QUEUE, dir=str(tmp_path / "aq")))]),
               name="a")
    return a, b, c_out, c_pid


def acknowledged(d):
    return stats(d, want=["output fwd"])["output fwd"].get("acknowledged", 0)


@pytest.mark.parametrize("c_kind", ["tlslogd", "rsyslog"])
def test_relay_killed_while_receiver_frozen(daemon, tmp_path, pki, group, c_kind):
    """C frozen, 20,000 messages sent: A sees all acknowledged (B has them on disk), B is
    SIGKILLed and restarted, C thawed: all 20,000 reach C."""
    if c_kind == "rsyslog":
        assert rs.relp_available(), "rsyslog with imrelp is not unpacked (scripts/install-peers)"
    n = 20000
    a, b, c_out, c_pid = chain(daemon, tmp_path, pki, group, c_kind)
    import os
    os.kill(c_pid, signal.SIGSTOP)
    try:
        f = Feeder(a.port("feed"), load("fz", 0, n), timeout=T(60)).start()
        f.finish(T(60))
        poll(lambda: acknowledged(a) >= n, T(60),
             "A to see all %d messages acknowledged by B (B must take them on disk while C is "
             "frozen); A log:\n%s\nB log:\n%s" % (n, a.log_tail(10), b.log_tail(10)),
             interval=0.3)
        b.kill()
        b.start()
    finally:
        os.kill(c_pid, signal.SIGCONT)
    t = wait_distinct(c_out, "fz", n, T(120), alive=[a, b])
    print("\nrelay SIGKILL, C (%s) frozen: %s" % (c_kind, t.summary()))
    assert not t.missing and not t.corrupt, t.summary()


@pytest.mark.parametrize("c_kind", ["tlslogd", "rsyslog"])
def test_relay_killed_repeatedly_receiver_healthy(daemon, tmp_path, pki, group, c_kind):
    """A steady stream of 60,000 messages through A -> B -> C; B is SIGKILLed and restarted six
    times while it flows: every message reaches C."""
    if c_kind == "rsyslog":
        assert rs.relp_available(), "rsyslog with imrelp is not unpacked (scripts/install-peers)"
    n = 60000
    kills = 6
    a, b, c_out, _ = chain(daemon, tmp_path, pki, group, c_kind)
    # paced, so that the kills fall on a stream in motion rather than on a finished one
    blob = load("hk", 0, n)
    f = Feeder(a.port("feed"), blob, timeout=T(120), rate=len(blob) / 12.0).start()
    have = 0
    for k in range(kills):
        have = wait_count(c_out, "hk", min(n, have + n // (kills + 2)), T(60), alive=[a, b])
        b.kill()
        time.sleep(0.05 * (k % 3))
        b.start()
    f.finish(T(120))
    t = wait_distinct(c_out, "hk", n, T(120), alive=[a, b])
    print("\nrelay SIGKILL x%d, C (%s) healthy: %s" % (kills, c_kind, t.summary()))
    assert not t.missing and not t.corrupt, t.summary()
    poll(lambda: acknowledged(a) >= n, T(30), "A to see every message acknowledged",
         interval=0.3)
