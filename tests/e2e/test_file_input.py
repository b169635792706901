"""The file input (transport: file, issue 14 point 1): lines appended while the daemon runs,
rotation by rename and by copytruncate, restarts after SIGTERM (nothing lost, nothing
repeated) and SIGKILL (nothing lost), a glob that picks up a file created later, multiline
messages, inode reuse, back-pressure from a stalled output, the partial-line timeout and a
damaged state file. Every line written is checked at the receiving end."""

import json
import os
import shutil
import signal
import threading
import time

import pytest

from relutil import stats
from test_reliability_backpressure import SlowSink
from tlslogd import T, config, file_output, poll, read_lines, run_cli, to_yaml

HOST = os.uname().nodename


def file_input(name, path, **kw):
    return dict(name=name, transport="file", path=str(path), **kw)


def prepare(tmp_path, fmt="raw", inputs=None, glob="app.log", **top):
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    out = tmp_path / "out.log"
    ins = inputs or [file_input("f", logs / glob, partial_timeout="300ms")]
    top.setdefault("state_dir", str(tmp_path / "state"))
    return logs, out, config(ins, [file_output("o", out, format=fmt)], **top)


def numbered(prefix, a, b):
    return [b"%s %06d" % (prefix, i) for i in range(a, b)]


def append(path, lines, chunk=None):
    """Appends lines (each with '\\n'); with chunk, in writes of that many bytes, so that
    lines are split across writes."""
    data = b"".join(l + b"\n" for l in lines)
    with open(path, "ab") as f:
        if chunk is None:
            f.write(data)
            return
        for i in range(0, len(data), chunk):
            f.write(data[i:i + chunk])
            f.flush()


def wait_lines(d, out, n, timeout=None):
    return d.wait_file_lines(out, n, timeout or T(20))


def test_append_while_running_fields_and_formats(daemon, tmp_path):
    """Lines there at start, then appended in pieces that split lines; raw gives them back
    byte for byte in order, json carries tag, facility, severity and this host's name."""
    logs = tmp_path / "logs"
    logs.mkdir()
    raw, js = tmp_path / "raw.log", tmp_path / "json.log"
    c = config([file_input("f", logs / "app.log"),
                file_input("g", logs / "svc.txt", tag="mysvc", facility="local3",
                           severity="err")],
               [file_output("raw", raw), file_output("js", js, format="json")],
               routes=[{"from": "f", "to": "raw"}, {"from": ["f", "g"], "to": "js"}],
               state_dir=str(tmp_path / "state"))
    first = numbered(b"early", 0, 100)
    append(logs / "app.log", first)
    d = daemon(c)
    wait_lines(d, raw, 100)
    later = numbered(b"later \xc3\xa9 \x01", 100, 400)
    append(logs / "app.log", later, chunk=37)
    append(logs / "svc.txt", [b"svc one", b"svc two"])
    wait_lines(d, raw, 400)
    wait_lines(d, js, 402)
    assert d.stop() == 0
    assert read_lines(raw) == first + later
    recs = [json.loads(l) for l in read_lines(js)]
    app = [r for r in recs if r["app_name"] == "app.log"]
    svc = [r for r in recs if r["app_name"] == "mysvc"]
    assert len(app) == 400 and [r["msg"] for r in svc] == ["svc one", "svc two"]
    assert app[0]["msg"] == "early 000000" and app[0]["facility"] in ("user", 1)
    assert app[0]["severity"] in ("notice", 5) and app[0]["hostname"] == HOST
    assert svc[0]["facility"] in ("local3", 19) and svc[0]["severity"] in ("err", 3)
    assert "following %s/app.log from byte 0" % logs in d.log_text()


def test_rotate_by_rename_mid_stream(daemon, tmp_path):
    """app.log renamed to app.log.1 while lines are written; the writer keeps appending to
    the old file a little (as a program does until it reopens), then writes a new app.log.
    Every line arrives once, in order within each file."""
    logs, out, c = prepare(tmp_path)
    log = logs / "app.log"
    append(log, numbered(b"old", 0, 2000))
    d = daemon(c)
    with open(log, "ab") as old:
        for i in range(2000, 3000):
            old.write(b"old %06d\n" % i)
        old.flush()
        os.rename(log, logs / "app.log.1")
        for i in range(3000, 3100):  # after the rename, before the reopen
            old.write(b"old %06d\n" % i)
        old.flush()
        append(log, numbered(b"new", 0, 1000), chunk=4096)
    wait_lines(d, out, 4100)
    d.wait_log(r"renamed or deleted \(rotation\)")
    got = read_lines(out)
    assert [l for l in got if l.startswith(b"old")] == numbered(b"old", 0, 3100)
    assert [l for l in got if l.startswith(b"new")] == numbered(b"new", 0, 1000)
    assert len(got) == 4100
    # The old file is finished once quiet (partial_timeout) and forgotten once settled.
    d.wait_log(r"finished %s/app.log \(rotated\)" % logs)
    assert d.stop() == 0


def test_rotate_by_copytruncate_mid_stream(daemon, tmp_path):
    """cp app.log app.log.1; truncate app.log; the writer goes on (O_APPEND). The lines read
    before and after the truncation all arrive once, in order. (Lines written between the
    copy and the truncation would be in the copy only: that window is copytruncate's own,
    so the test lets the daemon catch up before copying.)"""
    logs, out, c = prepare(tmp_path)
    log = logs / "app.log"
    d = daemon(c)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for i in range(3000):
            os.write(fd, b"before %06d\n" % i)
        wait_lines(d, out, 3000)
        shutil.copyfile(log, logs / "app.log.1")
        os.truncate(log, 0)
        for i in range(2000):
            os.write(fd, b"after %06d\n" % i)
    finally:
        os.close(fd)
    wait_lines(d, out, 5000)
    d.wait_log(r"truncated or rewritten \(copytruncate\)")
    assert d.stop() == 0
    assert read_lines(out) == numbered(b"before", 0, 3000) + numbered(b"after", 0, 2000)


def restart(daemon, tmp_path, how):
    """A writer appends 200,000 lines in chunks; the daemon is stopped (SIGTERM or SIGKILL)
    once 20,000 arrived, while the writer is still at it (it waits at 100,000 until the stop,
    so that the stop is in the middle whatever the machine's speed), the writer goes on while
    the daemon is down, and a second daemon starts; returns the lines written, those received
    and how many the first run had written."""
    logs, out, c = prepare(tmp_path)
    log = logs / "app.log"
    lines = numbered(b"line", 0, 200000)
    stopped, done = threading.Event(), threading.Event()

    def writer():
        for i in range(1000, len(lines), 1000):
            if i == 100000 and not stopped.wait(T(60)):
                return
            append(log, lines[i:i + 1000])
            time.sleep(0.005)
        done.set()
    append(log, lines[:1000])
    d = daemon(c, name="first")
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        poll(lambda: len(read_lines(out)) >= 20000, T(30), "the first lines to arrive")
        if how == "term":
            assert d.stop() == 0
        else:
            d.nonzero_exit_ok = True
            d.kill()
        have = len(read_lines(out))
        stopped.set()
        time.sleep(0.1)  # lines appended while no daemon runs
        d2 = daemon(c, name="second")
        assert done.wait(T(60)), "the writer did not finish"
    finally:
        stopped.set()
        t.join(T(60))
    wait_lines(d2, out, 200000, timeout=T(60))
    time.sleep(0.3)
    assert d2.stop() == 0
    return lines, read_lines(out), have


def test_restart_after_sigterm_repeats_nothing(daemon, tmp_path):
    lines, got, have = restart(daemon, tmp_path, "term")
    assert have < 200000, "the first run read everything before it was stopped"
    assert got == lines


def test_restart_after_sigkill_loses_nothing(daemon, tmp_path):
    lines, got, have = restart(daemon, tmp_path, "kill")
    # What the first run wrote is a prefix; the second run goes on from a saved position at
    # or before its end (at most the last second again), and from there to the end.
    assert got[:have] == lines[:have]
    rest = got[have:]
    assert rest, "nothing after the restart"
    k = lines.index(rest[0])
    assert k <= have and rest == lines[k:], "lost or out of order after the restart"


def test_rotated_while_stopped(daemon, tmp_path):
    """Stopped, then app.log renamed to app.log.1 and written on (the writer's last lines),
    and a new app.log: at the next start the old file is found by its inode under its new
    name and finished, then the new one is read; every line once."""
    logs, out, c = prepare(tmp_path)
    log = logs / "app.log"
    append(log, numbered(b"old", 0, 500))
    d = daemon(c, name="a")
    wait_lines(d, out, 500)
    assert d.stop() == 0
    os.rename(log, logs / "app.log.1")
    append(logs / "app.log.1", numbered(b"old", 500, 600))
    append(log, numbered(b"new", 0, 300))
    d2 = daemon(c, name="b")
    wait_lines(d2, out, 900)
    d2.wait_log(r"rotated while tlslogd was stopped")
    time.sleep(0.3)
    assert d2.stop() == 0
    assert read_lines(out) == numbered(b"old", 0, 600) + numbered(b"new", 0, 300)


def test_glob_picks_up_new_files(daemon, tmp_path):
    logs, out, c = prepare(tmp_path, glob="*.log")
    append(logs / "a.log", numbered(b"a", 0, 50))
    append(logs / "skip.txt", [b"not matched"])
    d = daemon(c)
    wait_lines(d, out, 50)
    append(logs / "b.log", numbered(b"b", 0, 70))
    (logs / "sub.log").mkdir()  # a directory that matches is not a file
    append(logs / "a.log", numbered(b"a", 50, 80))
    wait_lines(d, out, 150)
    time.sleep(0.3)
    assert d.stop() == 0
    got = read_lines(out)
    assert [l for l in got if l.startswith(b"a ")] == numbered(b"a", 0, 80)
    assert [l for l in got if l.startswith(b"b ")] == numbered(b"b", 0, 70)
    assert len(got) == 150


def test_multiline_and_the_last_message(daemon, tmp_path):
    """multiline_start: stack traces stay with their first line; the last message goes out
    once partial_timeout passes without a next start line."""
    logs, out, c = prepare(tmp_path, fmt="json", inputs=[
        file_input("f", tmp_path / "logs" / "java.log", multiline_start=r"^\d{4}-\d\d-\d\d ",
                   partial_timeout="500ms")])
    text = (b"2026-12-01 10:00:00 INFO started\n"
            b"2026-12-01 10:00:01 ERROR boom\n"
            b"java.lang.RuntimeException: boom\n"
            b"\tat a.b.C.d(C.java:10)\n"
            b"\tat a.b.C.main(C.java:3)\n"
            b"2026-12-01 10:00:02 WARN last one\n"
            b"  with a continuation\n")
    (logs / "java.log").write_bytes(text[:70])
    d = daemon(c)
    time.sleep(0.1)
    with open(logs / "java.log", "ab") as f:
        f.write(text[70:])
    wait_lines(d, out, 3)
    assert d.stop() == 0
    msgs = [json.loads(l)["msg"] for l in read_lines(out)]
    assert msgs == ["2026-12-01 10:00:00 INFO started",
                    "2026-12-01 10:00:01 ERROR boom\njava.lang.RuntimeException: boom\n"
                    "\tat a.b.C.d(C.java:10)\n\tat a.b.C.main(C.java:3)",
                    "2026-12-01 10:00:02 WARN last one\n  with a continuation"]


def test_partial_line_timeout(daemon, tmp_path):
    """A last line without its newline waits for it; a line completed in time is one line;
    one left unfinished for partial_timeout is sent as it is, and what is appended later
    starts a new message."""
    logs, out, c = prepare(tmp_path, inputs=[file_input("f", tmp_path / "logs" / "app.log",
                                                       partial_timeout="2s")])
    log = logs / "app.log"
    log.write_bytes(b"")
    d = daemon(c)
    with open(log, "ab") as f:
        f.write(b"complete")
        f.flush()
        time.sleep(0.05)
        f.write(b"d in time\n")
        f.write(b"unfinished")
        f.flush()
        wait_lines(d, out, 2)
        f.write(b" rest\n")
    wait_lines(d, out, 3)
    assert d.stop() == 0
    assert read_lines(out) == [b"completed in time", b"unfinished", b" rest"]


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def write_state(path, entries):
    """A state file in format 1 (queue/statefile.h) with the given key: value entries."""
    body = b"tlslogd-state 1\n"
    for k, v in sorted(entries.items()):
        body += b"%d %d %s %s\n" % (len(k), len(v), k, v)
    path.write_bytes(body + b"end %d %08x\n" % (len(entries), crc32c(body)))


def test_inode_reuse(daemon, tmp_path):
    """A file deleted and another created with the same inode: the saved position (and
    first-bytes hash) is the old file's, so the new one is read from its beginning. tmpfs
    and most file systems do not hand the same inode back on demand, so the state is
    rewritten to say what a reused inode looks like: this device and inode, another file's
    first bytes, a position in the middle of the new file."""
    logs, out, c = prepare(tmp_path)
    log = logs / "app.log"
    append(log, numbered(b"first", 0, 10))
    d = daemon(c, name="a")
    wait_lines(d, out, 10)
    assert d.stop() == 0
    state = tmp_path / "state" / "file-f.state"
    assert b"app.log" in state.read_bytes()
    os.unlink(log)
    append(log, numbered(b"second", 0, 10))
    st = os.stat(log)
    old_head = b"".join(l + b"\n" for l in numbered(b"first", 0, 10))
    head = b"%d %d %016x %s" % (60, len(old_head), fnv1a(old_head), str(log).encode())
    write_state(state, {b"%d:%d" % (st.st_dev, st.st_ino): head})
    d2 = daemon(c, name="b")
    wait_lines(d2, out, 20)
    d2.wait_log(r"inode was reused")
    assert d2.stop() == 0
    assert read_lines(out) == numbered(b"first", 0, 10) + numbered(b"second", 0, 10)


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data[:256]:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_damaged_state_file_is_reported_and_start_at_applies(daemon, tmp_path):
    logs, out, c = prepare(tmp_path, inputs=[file_input("f", tmp_path / "logs" / "app.log",
                                                       start_at="end")])
    log = logs / "app.log"
    append(log, numbered(b"old", 0, 10))
    (tmp_path / "state").mkdir(mode=0o700)
    state = tmp_path / "state" / "file-f.state"
    state.write_bytes(b"tlslogd-state 1\n14 20 garbage\x00 here\n")
    d = daemon(c)
    d.wait_log(r"input f: state file .*file-f\.state is damaged.*; the input starts as "
               r"configured \(start_at: end\)")
    assert (tmp_path / "state" / "file-f.state.bad").exists()
    append(log, numbered(b"new", 0, 5))
    wait_lines(d, out, 5)
    time.sleep(0.3)
    assert d.stop() == 0
    assert read_lines(out) == numbered(b"new", 0, 5)


@pytest.mark.serial
def test_back_pressure_pauses_and_loses_nothing(daemon, tmp_path):
    """A forward output whose receiver does not read (queue.full: block, 1000 messages):
    the file input stops reading (the file is its buffer: its received count stops far
    below the file's lines), and once the receiver reads, every line arrives once."""
    sink = SlowSink("fbp")
    try:
        logs = tmp_path / "logs"
        logs.mkdir()
        n = 100000
        pad = b"y" * 150
        append(logs / "app.log", [b"fbp seq=%08d %s" % (i, pad) for i in range(n)])
        c = config([file_input("f", logs / "app.log")],
                   [dict(name="fwd", type="forward", targets=["127.0.0.1:%d" % sink.port],
                         transport="tcp", format="rfc3164",
                         queue={"memory_messages": 1000, "full": "block"})],
                   state_dir=str(tmp_path / "state"))
        d = daemon(c)
        assert sink.connected.wait(T(10)), "the daemon did not connect to the sink"

        last = [-1]

        def stalled():
            r = stats(d, want=["input f"])["input f"]["received"]
            if r == last[0]:
                return (r,)
            last[0] = r
            return None
        first = poll(stalled, T(30), "the file input to stop reading", interval=1.0,
                     max_interval=1.0)[0]
        assert first < n, "the input read all %d lines: it never paused" % n
        sink.reading.set()
        poll(lambda: len(sink.seqs) >= n, T(60), "the sink to receive all %d lines" % n,
             interval=0.2)
        assert sink.seqs == list(range(n)), "lost, repeated or reordered"
        st = stats(d, want=["input f", "output fwd"])
        assert st["output fwd"].get("dropped", 0) == 0
        assert d.stop() == 0
    finally:
        sink.close()


def test_state_dir_must_be_writable(daemon, tmp_path):
    """A state_dir that cannot be created stops the start with one clear line."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    logs, out, c = prepare(tmp_path, state_dir=str(blocker / "state"))
    d = daemon(c, start=False)
    d.nonzero_exit_ok = True
    d.start(wait=False)
    d.proc.wait(T(20))
    assert d.proc.returncode != 0
    assert "input f: state_dir %s/state cannot be created or written" % blocker in d.log_text()


def test_check_reports_bad_glob_and_regex(tmp_path):
    """--check names the file and line of a wildcard in a directory and of an invalid
    multiline_start regex, and accepts a good file input."""
    bad = config([file_input("f", tmp_path / "*" / "x.log", multiline_start="^(\\d+")],
                 [file_output("o", tmp_path / "out.log")], state_dir=str(tmp_path / "st"))
    p = tmp_path / "bad.yaml"
    p.write_text(to_yaml(bad) + "\n")
    r = run_cli(["--check", "-c", str(p)])
    err = r.stderr.decode()
    assert r.returncode != 0
    assert "bad.yaml:" in err and "has a wildcard in a directory" in err, err
    assert "multiline_start: '^(\\d+' is not a valid regex: missing closing parenthesis" in err
    good = config([file_input("f", tmp_path / "*.log", multiline_start="^\\d{4}-",
                              start_at="end", tag="app", facility="local0", severity="info")],
                  [file_output("o", tmp_path / "out.log")], state_dir=str(tmp_path / "st"))
    p.write_text(to_yaml(good) + "\n")
    r = run_cli(["--check", "-c", str(p)])
    assert r.returncode == 0, r.stderr.decode()
