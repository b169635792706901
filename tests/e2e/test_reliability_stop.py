"""A clean stop (issue 10, points 4 and 7): what a forward output had in flight comes back before
what was queued after it; the whole stop honours one bound (queue.drain_timeout), not two in a
row; and the line that says what the stop lost agrees with the counters.
"""

import re
import signal
import time

import pytest

from peers.ports import free_port
from relutil import Feeder, load, parse_stats, relp_forward, relp_input, wait_distinct
from tlsconf import pki  # noqa: F401
from tlslogd import T, config, file_output, tcp_input


def first_order(path, marker):
    """The numbers in the order they first appear in the file."""
    seen = set()
    order = []
    pat = re.compile(rb" %s seq=(\d{8}) " % marker.encode())
    for line in path.read_bytes().split(b"\n"):
        m = pat.search(line)
        if m:
            i = int(m.group(1))
            if i not in seen:
                seen.add(i)
                order.append(i)
    return order


@pytest.mark.parametrize("transport", ["tcp", "relp"])
def test_in_flight_messages_come_back_first_after_a_clean_stop(daemon, tmp_path, pki,
                                                                transport):
    """The receiver is frozen with messages in flight (TCP: written or waiting to be written,
    beyond what its socket takes; RELP: a full window); 150,000 messages are queued behind
    them; the sender stops cleanly (everything to disk), the receiver thaws, the sender starts
    again: every message arrives, and in order (what was in flight first)."""
    n = 150000
    port = free_port()
    out = tmp_path / "rx.raw"
    q = {"memory_messages": 5000, "dir": str(tmp_path / "q"), "drain_timeout": "1s"}
    if transport == "relp":
        rx = daemon(config([relp_input(pki, port=port)], [file_output("f", out)]), name="rx")
        fwd = relp_forward(pki, port, queue=q)
    else:
        rx = daemon(config([dict(name="in", transport="tcp", listen="127.0.0.1:%d" % port)],
                           [file_output("f", out)]), name="rx")
        fwd = dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % port],
                   transport="tcp", reconnect_min="100ms", reconnect_max="300ms", queue=q)
    tx = daemon(config([tcp_input("feed")], [fwd]), name="tx")
    f = Feeder(tx.port("feed"), load("or", 0, 2000), timeout=T(30)).start()
    f.finish(T(30))
    wait_distinct(out, "or", 2000, T(30), alive=[rx, tx])
    rx.signal(signal.SIGSTOP)
    try:
        f = Feeder(tx.port("feed"), load("or", 2000, n - 2000), timeout=T(60)).start()
        f.finish(T(60))
        tx.stop(timeout=T(30))
    finally:
        rx.signal(signal.SIGCONT)
    tx.start()
    t = wait_distinct(out, "or", n, T(90), alive=[rx, tx])
    assert not t.missing and not t.corrupt, t.summary()
    order = first_order(out, "or")
    wrong = [(a, b) for a, b in zip(order, order[1:]) if b < a]
    assert not wrong, "out of order at %d places, first %s; %s" % (len(wrong), wrong[:5],
                                                                    t.summary())


def test_stop_with_a_dead_target_takes_one_drain_timeout(daemon, tmp_path):
    """A forward output without a disk part whose target never answers, its queue full and the
    worker blocked on it: SIGTERM ends within one drain_timeout (3 s here), not two, and the
    line that says what was lost gives the dropped counter's number."""
    port = free_port()  # nothing listens there
    d = daemon(config([tcp_input("feed")], [dict(
        name="fwd", type="forward", targets=["127.0.0.1:%d" % port], transport="tcp",
        reconnect_min="100ms", reconnect_max="200ms",
        queue={"memory_messages": 1000, "drain_timeout": "3s"})]), name="d")
    f = Feeder(d.port("feed"), load("dt", 0, 20000), timeout=T(30), graceful=False).start()
    d.wait_log(r"output fwd: cannot connect", timeout=T(10))
    time.sleep(0.5)
    t0 = time.monotonic()
    d.stop(timeout=T(30))
    took = time.monotonic() - t0
    f.join(T(10))
    log = d.log_text()
    final = parse_stats(log)
    dropped = final["output fwd"]["dropped"]
    said = [int(x) for x in re.findall(r"output fwd: (\d+) messages were lost while stopping",
                                       log)]
    print("\nstop with a dead target: %.1f s, dropped %d, said %s" % (took, dropped, said))
    assert dropped > 0 and said == [dropped], log[-2000:]
    assert final["input feed"]["received"] == dropped, final
    # one drain_timeout (3 s) plus the time to start and end; two would be 6 s or more
    assert took < 3 + T(2.5), "stop took %.1f s with drain_timeout 3s" % took
