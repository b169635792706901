"""Reliable delivery between two tlslogd over RELP over TLS (issue 4): the receiver killed
(SIGKILL) and restarted, the sender stopped (SIGTERM) and restarted with a disk queue, a
backlog bigger than the memory bound held on disk while the receiver is down, and a torn
record at the end of the newest disk queue segment (reported once, with the message lost).

Every message is numbered ("MARKER seq=N CHECK"); the receiving tlslogd writes format raw to
one file (opened in append by each incarnation) and relutil.tally reports every missing and
duplicated number. Load comes from one TCP connection into the sender's tcp input.
"""

import os
import re
import signal
import time


from peers.ports import free_port
from relutil import (REC_HEADER, Feeder, asan_env, feed, load, parse_stats, peak_rss_kib,
                     relp_forward, relp_input, rss_kib, sanitized, segment_records, segments,
                     stats, tally, wait_count, wait_distinct)
from tlsconf import pki  # noqa: F401
from tlslogd import T, config, file_output, poll, tcp_input


def rx_conf(pki, out, port):
    return config([relp_input(pki, port=port)], [file_output("f", out, format="raw")])


def tx_conf(pki, port, **fwd):
    return config([tcp_input("feed")], [relp_forward(pki, port, **fwd)])


def accepted(d):
    """How many connections d's relp input accepted so far (its log spans every incarnation)."""
    return len(re.findall(r"input relp-in: .*connection accepted", d.log_text()))


def wait_accepted(d, k, timeout=None):
    poll(lambda: d.check_alive("waiting for a connection") or accepted(d) >= k,
         timeout or T(15), "%s to accept connection #%d; log:\n%s" % (d.name, k, d.log_tail(10)))


def final_stats(d, name):
    try:
        return stats(d, want=[name])[name]
    except AssertionError as e:
        return "no stats (%s)" % e


# ---------------------------------------------------------------------------------------------
# 1. receiver SIGKILLed three times

def test_relp_tls_receiver_sigkill_restarted_three_times(daemon, tmp_path, pki):
    """200,000 messages tlslogd -> tlslogd over RELP/TLS; the receiver is SIGKILLed and started
    again (same port, same output file) three times while they flow: every message arrives
    (duplicates allowed and reported), and the sender counts resent messages."""
    n = 200000
    out = tmp_path / "rx.raw"
    port = free_port()
    rx = daemon(rx_conf(pki, out, port), name="rx")
    tx = daemon(tx_conf(pki, port), name="tx")
    t0 = time.monotonic()
    # unpaced: the sender's queue fills at once and its RELP window is always full, so each
    # kill falls on messages sent and not yet acknowledged
    f = Feeder(tx.port("feed"), load("k", 0, n), timeout=T(120)).start()
    kills = []
    have = 0
    for k in range(3):
        wait_accepted(rx, k + 1)
        # let this incarnation take a good part of the stream, then kill it mid-flow
        have = wait_count(out, "k", have + n // 6, T(60), alive=[rx, tx])
        rx.kill()
        kills.append((have, f.sent))
        rx.start()
        rx.nonzero_exit_ok = False
    f.finish(T(120))
    t = wait_distinct(out, "k", n, T(90), alive=[rx, tx])
    took = time.monotonic() - t0
    st = final_stats(tx, "output fwd")
    rst = final_stats(rx, "output f")
    msg = ("RELP/TLS receiver SIGKILL x3: %s; %.1fs; kills at (lines in file, bytes fed) %s; "
           "sender %s; last receiver %s" % (t.summary(), took, kills, st, rst))
    print("\n" + msg)
    assert not t.missing and not t.corrupt, msg
    assert isinstance(st, dict) and st.get("resent", 0) > 0, msg
    assert len(re.findall(r"output fwd: connected to", tx.log_text())) >= 4, tx.log_tail()


# ---------------------------------------------------------------------------------------------
# 2. sender SIGTERMed and restarted, with a disk queue

def test_relp_tls_sender_sigterm_restart_disk_queue(daemon, tmp_path, pki):
    """The sender has a disk queue (memory_messages 10000, drain_timeout 0: what it holds at
    the stop must go to disk, not be drained). 20,000 messages flow; the receiver is frozen
    (SIGSTOP) so that the stream stops mid-flight; 80,000 more are fed (memory takes 10,000,
    the disk the rest); the sender is stopped with SIGTERM, the receiver thawed, the sender
    restarted and fed 50,000 more: everything the sender had accepted (its input's received
    counter at the stop) and the 50,000 arrive. Then: it had accepted all 80,000."""
    n0, n1, n2 = 20000, 80000, 50000
    out = tmp_path / "rx.raw"
    qdir = tmp_path / "txq"
    port = free_port()
    rx = daemon(rx_conf(pki, out, port), name="rx")
    tx = daemon(tx_conf(pki, port, queue={"memory_messages": 10000, "dir": str(qdir),
                                          "max_bytes": "256MiB", "drain_timeout": "0s"}),
                name="tx")
    feed(tx.port("feed"), load("s", 0, n0), timeout=T(30))
    wait_count(out, "s", n0, T(30), alive=[rx, tx])
    rx.signal(signal.SIGSTOP)
    try:
        f = Feeder(tx.port("feed"), load("s", n0, n1), timeout=T(30)).start()
        f.join(T(6))
        fed_all = f.done and f.error is None
        arrived_at_stop = tally(out, "s", n0 + n1 + n2).distinct
        t0 = time.monotonic()
        rc = tx.stop(timeout=T(20))
        stop_took = time.monotonic() - t0
        on_disk = [(p.name, p.stat().st_size) for p in segments(qdir)]
    finally:
        rx.signal(signal.SIGCONT)
    f.join(T(10))
    at_stop = parse_stats(tx.log_text()).get("input feed", {})
    accepted = at_stop.get("received", 0)
    stop_lines = [l for l in tx.log_text().splitlines()[-12:] if "stats:" not in l]
    assert rc == 0, "sender exit %s after SIGTERM; log:\n%s" % (rc, tx.log_tail(20))
    tx.start()
    feed(tx.port("feed"), load("s", n0 + n1, n2), timeout=T(30))
    t = wait_distinct(out, "s", n0 + n1 + n2, T(60), alive=[rx, tx], stall=T(4))
    st = final_stats(tx, "output fwd")
    lost_accepted = [i for i in t.missing if i < accepted]
    lost_after = [i for i in t.missing if i >= n0 + n1]
    msg = ("RELP/TLS sender SIGTERM + disk queue: feed of %d while the receiver was frozen %s; "
           "accepted %d of %d before the stop; %s; %d had "
           "arrived at the stop; stop took %.1fs; segments after stop %s; sender after restart %s;"
           " sender's last lines before the restart:\n%s" % (
               n1, "completed" if fed_all else "stalled at %d of %d bytes" % (f.sent, len(f.data)),
               accepted, n0 + n1, t.summary(), arrived_at_stop, stop_took, on_disk, st,
               "\n".join(stop_lines)))
    print("\n" + msg)
    assert not t.corrupt, msg
    assert not lost_accepted and not lost_after, "%d accepted messages lost, %d of the post-" \
        "restart feed lost: %s" % (len(lost_accepted), len(lost_after), msg)
    assert fed_all, "the sender stalled its tcp input while the receiver was frozen (fed %d of " \
        "%d bytes): the disk queue should take what memory cannot: %s" % (f.sent, len(f.data), msg)


# ---------------------------------------------------------------------------------------------
# 3. receiver down for the whole send: the backlog goes to disk, memory stays bounded

RSS_BOUND_MIB = 40  # VmHWM of the sender (normal build); the backlog alone is ~45 MB


def test_relp_tls_backlog_on_disk_memory_bounded(daemon, tmp_path, pki):
    """Nothing listens at the target while 150,000 messages of ~300 bytes (~45 MB) are fed;
    queue.memory_messages 1000, disk queue max_bytes 256MiB: the feed completes (the disk takes
    the backlog), the sender's peak RSS (VmHWM) stays under RSS_BOUND_MIB (x3 + 64 under
    ASan), then the receiver starts and everything is delivered."""
    n, pad = 150000, 200
    out = tmp_path / "rx.raw"
    qdir = tmp_path / "txq"
    port = free_port()
    tx = daemon(tx_conf(pki, port, queue={"memory_messages": 1000, "dir": str(qdir),
                                          "max_bytes": "256MiB"}), name="tx", env=asan_env())
    base = rss_kib(tx)
    blob = load("b", 0, n, pad=pad)
    f = Feeder(tx.port("feed"), blob, timeout=T(60)).start()
    f.join(T(60))
    peak = peak_rss_kib(tx)
    disk = sum(p.stat().st_size for p in segments(qdir))
    bound = RSS_BOUND_MIB * 1024 if not sanitized() else (RSS_BOUND_MIB * 3 + 64) * 1024
    print("\nbacklog on disk: %d messages, %.1f MB fed, sender RSS at start %d KiB, peak %d KiB "
          "(bound %d KiB), segment bytes %d" % (n, len(blob) / 1e6, base, peak, bound, disk))
    assert f.done and f.error is None, "the sender did not take the %d-message backlog (%d of %d " \
        "bytes, %r); log:\n%s" % (n, f.sent, len(blob), f.error, tx.log_tail(20))
    assert peak < bound, "sender peak RSS %d KiB >= bound %d KiB (start %d KiB)" % (peak, bound, base)
    assert disk > len(blob) // 2, "only %d bytes in segment files for a %d-byte backlog" % (
        disk, len(blob))
    rx = daemon(rx_conf(pki, out, port), name="rx")
    t = wait_distinct(out, "b", n, T(90), alive=[rx, tx])
    print("after the receiver started: " + t.summary())
    assert not t.missing and not t.corrupt, t.summary() + "\nsender log:\n" + tx.log_tail(20)
    peak2 = peak_rss_kib(tx)
    assert peak2 < bound, "sender peak RSS %d KiB >= bound %d KiB while delivering the backlog" % (
        peak2, bound)


# ---------------------------------------------------------------------------------------------
# 5. torn write at the end of a segment

TORN_RE = r"(?i)\btorn\b|corrupt|\bcrc\b|checksum|damaged|messages? (missing|lost)"


def torn_lines(d, tmp_path):
    """d's log lines about a torn, damaged or lost record (the test's own paths, which hold the
    test name, do not count)."""
    return [l for l in d.log_text().splitlines()
            if re.search(TORN_RE, l.replace(str(tmp_path), "TMP"))]


def test_disk_queue_torn_record_skipped_rest_delivered(daemon, tmp_path, pki):
    """1,000 messages queued on disk (receiver down, SIGTERM writes memory to disk); the last
    record of the newest segment is cut in half; at the next start the sender reports it in
    one log line that names the file, the offset and the one message lost, delivers the 999
    others, none twice, and the next start after that has nothing to report."""
    n = 1000
    out = tmp_path / "rx.raw"
    qdir = tmp_path / "txq"
    port = free_port()
    tx = daemon(tx_conf(pki, port, queue={"dir": str(qdir), "drain_timeout": "1s"}), name="tx")
    feed(tx.port("feed"), load("t", 0, n), timeout=T(20))
    tx.wait_log(r"output fwd: cannot connect to 127\.0\.0\.1:%d" % port, timeout=T(10))
    assert tx.stop() == 0, tx.log_tail(20)
    segs = [p for p in segments(qdir) if segment_records(p)]
    assert segs, "no segment with records in %s: %s" % (qdir, os.listdir(qdir))
    last = segs[-1]
    assert last == segments(qdir)[-1], "the newest segment holds no record: %s" % (
        os.listdir(qdir))
    recs = segment_records(last)
    nrecs = sum(len(segment_records(p)) for p in segs)
    off, length, _seq = recs[-1]
    data = last.read_bytes()
    body = data[off + REC_HEADER:off + REC_HEADER + length]
    torn = re.search(rb"t seq=(\d{8})", body)
    torn_seq = int(torn.group(1)) if torn else None
    os.truncate(last, off + REC_HEADER + length // 2)
    before = len(torn_lines(tx, tmp_path))
    tx.start()
    rx = daemon(rx_conf(pki, out, port), name="rx")
    t = wait_distinct(out, "t", n, T(30), alive=[rx, tx], stall=T(2))
    lines = torn_lines(tx, tmp_path)[before:]
    msg = ("torn record: %d records in %d segment(s) before the cut, cut seq %s in %s at "
           "%d+%d+%d/2; %s; sender lines: %r" % (nrecs, len(segs), torn_seq, last.name, off,
                                                  REC_HEADER, length, t.summary(), lines))
    print("\n" + msg)
    assert nrecs == n, msg
    assert len(lines) == 1, msg + "\nsender log:\n" + tx.log_tail(20)
    said = "%s ends with a torn record of %d bytes at offset %d: 1 message lost, probably the " \
        "one being written when tlslogd stopped." % (last.name, REC_HEADER + length // 2, off)
    assert said in lines[0], msg
    assert "(in all: lost 1, delivered again 0, to deliver %d)" % (n - 1) \
        in lines[0], msg
    assert t.missing == [torn_seq], msg
    assert not t.dups and not t.corrupt, msg
    # Said once: the next start has nothing to report.
    before = len(torn_lines(tx, tmp_path))
    assert tx.stop() == 0, tx.log_tail(20)
    tx.start()
    tx.wait_log(r"output fwd: connected to", timeout=T(10))
    assert torn_lines(tx, tmp_path)[before:] == [], tx.log_tail(20)
