"""Write errors are back-pressure, never silent loss (issue 10): a file output and a disk queue
on a small tmpfs that fills up or turns read-only.

- File output fed over RELP: what the sender saw acknowledged is in the file, no line is torn,
  the counters say what happened, and delivery resumes by itself when space returns.
- Disk queue (forward output, target down): a full file system holds the messages in memory and
  stalls the sender (queue.full: block) instead of dropping; when space returns everything is
  delivered; a clean stop while the disk is full says exactly how many messages it lost, the
  counters agree, and the next start finds exactly the rest, without a torn record.
"""

import re
import signal

from faults import Tmpfs
from peers.ports import free_port
from relutil import Feeder, feed, load, parse_stats, relp_forward, relp_input, stats, tally, \
    wait_distinct
from tlsconf import pki  # noqa: F401
from tlslogd import T, config, file_output, poll, tcp_input

MSG_RE = re.compile(rb"^<13>1 2026-01-01T00:00:00Z feeder\.test rel - - - (\w+) seq=\d{8} "
                    rb"[0-9a-f]{8} end$")


def whole_lines(path):
    """Every line of the file is one whole message (no torn line); returns how many."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "%s ends in a partial line: %r" % (path, data[-80:])
    lines = data.split(b"\n")[:-1] if data else []
    bad = [l for l in lines if not MSG_RE.match(l)]
    assert not bad, "%d torn or mixed lines in %s, first %r" % (len(bad), path, bad[:2])
    return len(lines)


def relp_pair(daemon, tmp_path, pki, out):
    """A (tcp feed -> RELP/TLS) -> B (RELP/TLS -> file out, small queue)."""
    port = free_port()
    b = daemon(config([relp_input(pki, port=port)],
                      [file_output("f", out, queue={"memory_messages": 500})]), name="b")
    a = daemon(config([tcp_input("feed")], [relp_forward(pki, port)]), name="a")
    return a, b


def settled_state(a, b, out):
    """Waits until nothing moves any more (A's acknowledgements stay the same for a second)."""
    last = [None, 0]

    def still():
        ack = stats(a, want=["output fwd"])["output fwd"]["acknowledged"]
        if ack == last[0]:
            last[1] += 1
        else:
            last[0], last[1] = ack, 0
        return last[1] >= 3
    poll(still, T(30), "the stream to stall", interval=0.4)
    return last[0]


def check_held(a, b, out, n):
    ack = settled_state(a, b, out)
    lines = whole_lines(out)
    st = stats(b, want=["output f"])["output f"]
    assert ack < n, "the disk never filled: %d acknowledged" % ack
    assert ack <= lines, "%d messages acknowledged to A but only %d in the file" % (ack, lines)
    assert st["written"] == lines and st["dropped"] == 0, (st, lines)
    assert st["write_errors"] >= 1, st
    return ack, lines


def finish_all(a, b, out, n, marker):
    t = wait_distinct(out, marker, n, T(60), alive=[a, b])
    assert not t.missing and not t.corrupt and not t.dups, t.summary()
    whole_lines(out)
    poll(lambda: stats(a, want=["output fwd"])["output fwd"]["acknowledged"] == n, T(20),
         "A to see all %d acknowledged" % n, interval=0.3)
    st = stats(b, want=["output f"])["output f"]
    assert st["written"] == n and st["dropped"] == 0, st


def test_file_output_full_disk_over_relp(daemon, tmp_path, pki):
    n = 10000
    with Tmpfs(tmp_path / "fs", "1m") as fs:
        out = fs.path / "out.log"
        fs.fill(leave=150 * 1024)
        a, b = relp_pair(daemon, tmp_path, pki, out)
        f = Feeder(a.port("feed"), load("df", 0, n), timeout=T(60)).start()
        b.wait_log(r"error output f: cannot write to \S+out\.log: No space left on device; "
                   r"free space on that file system\. Nothing is dropped", timeout=T(30))
        ack, lines = check_held(a, b, out, n)
        print("\nfull disk: %d acknowledged, %d lines in the file while full" % (ack, lines))
        fs.unfill()
        b.wait_log(r"notice output f: writing again after [\d.]+ s \(cannot write to \S+out\.log"
                   r": No space left on device\); nothing was lost", timeout=T(30))
        f.finish(T(60))
        finish_all(a, b, out, n, "df")
        assert len(re.findall(r"error output f: cannot write to", b.log_text())) == 1, \
            b.log_tail(20)
        a.stop()
        b.stop()


def test_file_output_read_only_over_relp(daemon, tmp_path, pki):
    """The file system turns read-only (after SIGHUP closed the files, as logrotate does): the
    reopen fails with EROFS, messages wait, and once it is writable again everything is
    written."""
    n = 6000
    with Tmpfs(tmp_path / "fs", "4m") as fs:
        out = fs.path / "out.log"
        a, b = relp_pair(daemon, tmp_path, pki, out)
        feed(a.port("feed"), load("ro", 0, 1000), timeout=T(30))
        wait_distinct(out, "ro", 1000, T(30), alive=[a, b])
        b.hup()
        b.wait_log(r"output f: files reopened")
        fs.readonly(True)  # possible now: no file is open for writing
        f = Feeder(a.port("feed"), load("ro", 1000, n - 1000), timeout=T(60)).start()
        b.wait_log(r"error output f: cannot open \S+out\.log: Read-only file system; the "
                   r"file system is read-only", timeout=T(30))
        ack, lines = check_held(a, b, out, n)
        fs.readonly(False)
        b.wait_log(r"notice output f: writing again", timeout=T(30))
        f.finish(T(60))
        finish_all(a, b, out, n, "ro")
        a.stop()
        b.stop()


def dq_sender(daemon, tmp_path, qdir, port):
    return daemon(config([tcp_input("feed")], [dict(
        name="fwd", type="forward", targets=["127.0.0.1:%d" % port], transport="tcp",
        reconnect_min="100ms", reconnect_max="300ms",
        queue={"memory_messages": 1000, "dir": str(qdir), "segment_size": "1MiB",
               "max_bytes": "1GiB", "drain_timeout": "2s"})]), name="a")


def dq_receiver(daemon, out, port):
    return daemon(config([dict(name="in", transport="tcp", listen="127.0.0.1:%d" % port)],
                         [file_output("f", out)]), name="rx")


def test_disk_queue_full_disk_blocks_then_resumes(daemon, tmp_path):
    """Target down, the disk queue's file system fills: nothing is dropped, the sender is held
    back; space returns, the target comes up: all 30,000 arrive."""
    n = 100000  # 18 MB: more than the disk, the memory queue and the socket buffers hold
    port = free_port()
    with Tmpfs(tmp_path / "fs", "2m") as fs:
        a = dq_sender(daemon, tmp_path, fs.path / "q", port)
        f = Feeder(a.port("feed"), load("dq", 0, n, pad=100), timeout=T(120)).start()
        a.wait_log(r"error output fwd: disk queue: .*No space left on device; free space on "
                   r"that file system\. Nothing is dropped", timeout=T(30))
        f.join(T(2))
        assert not f.done, "the sender was not held back: all %d messages taken" % n
        st = stats(a, want=["output fwd"])["output fwd"]
        assert st["dropped"] == 0, st
        fs.resize("64m")
        a.wait_log(r"notice output fwd: disk queue: writing again after", timeout=T(30))
        out = tmp_path / "rx.raw"
        rx = dq_receiver(daemon, out, port)
        f.finish(T(120))
        t = wait_distinct(out, "dq", n, T(120), alive=[a, rx])
        assert not t.missing and not t.corrupt, t.summary()
        st = stats(a, want=["output fwd"])["output fwd"]
        assert st["dropped"] == 0, st
        a.stop()
        rx.stop()


def test_disk_queue_clean_stop_on_full_disk_counts_exactly(daemon, tmp_path):
    """SIGTERM while the disk queue's file system is full: the log says how many messages are
    lost and how many wait on disk; with what the input received they add up, the counters
    agree, and the next start delivers exactly the ones said to wait, first ones first, with
    no torn record."""
    n = 100000
    port = free_port()
    with Tmpfs(tmp_path / "fs", "2m") as fs:
        a = dq_sender(daemon, tmp_path, fs.path / "q", port)
        f = Feeder(a.port("feed"), load("ds", 0, n, pad=100), timeout=T(60),
                   graceful=False).start()
        a.wait_log(r"error output fwd: disk queue: .*No space left on device", timeout=T(30))
        a.stop(timeout=T(30))
        f.join(T(10))
        log = a.log_text()
        final = parse_stats(log)
        received = final["input feed"]["received"]
        dropped = final["output fwd"]["dropped"]
        waiting = int(re.search(r"stopping: (\d+) messages wait in the disk queue", log).group(1))
        said = [int(x) for x in re.findall(r"output fwd: (\d+) messages were lost while stopping",
                                           log)]
        print("\nstop on a full disk: received %d, waiting on disk %d, dropped %d (said %s)"
              % (received, waiting, dropped, said))
        assert waiting + dropped == received, log[-3000:]
        assert said == [dropped] if dropped else said == [], log[-3000:]
        assert final["output fwd"]["queued_disk"] == waiting
        fs.resize("64m")
        out = tmp_path / "rx.raw"
        rx = dq_receiver(daemon, out, port)
        a.start()
        t = wait_distinct(out, "ds", waiting, T(60), alive=[a, rx])
        assert t.distinct == waiting and not t.corrupt, t.summary()
        assert all(i < waiting for i in t.counts), "not the first %d: %s" % (waiting, t.summary())
        assert not re.search(r"torn|damaged|cannot be delivered", a.log_text()), a.log_tail(20)
        a.stop()
        rx.stop()
