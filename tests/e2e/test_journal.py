"""The journal input (`transport: journal`) on journal files made by systemd-journal-remote
from an export-format stream the test writes, read through journal_dir (journald does not run
here): fields mapped, the cursor kept in state_dir across SIGTERM and SIGKILL restarts, files
that appear while it runs, start_at."""

import os
import subprocess
import time
import uuid

import pytest

from tlslogd import T, config, file_output, poll, read_json_lines

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
pytestmark = pytest.mark.peers("journal-remote")

BOOT = uuid.uuid4().hex
T0 = 1_780_000_000_000_000  # 2026-05-28, in microseconds


def entry(i, **fields):
    """One journal entry's fields: its own time and ordering, then the given ones."""
    e = {"__REALTIME_TIMESTAMP": T0 + i * 1000, "__MONOTONIC_TIMESTAMP": 1_000_000 + i * 1000,
         "_BOOT_ID": BOOT}
    e.update(fields)
    return e


def write_journal(path, entries):
    """Writes entries as a journal file at path with systemd-journal-remote."""
    text = "".join("".join("%s=%s\n" % kv for kv in e.items()) + "\n" for e in entries)
    r = subprocess.run([JOURNAL_REMOTE, "-o", str(path), "-"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(30))
    assert r.returncode == 0 and path.exists(), r.stderr.decode(errors="replace")


def plain(i, n=None):
    return entry(i, MESSAGE="entry %d" % i, SYSLOG_IDENTIFIER="app", SYSLOG_PID=str(1000 + i),
                 PRIORITY="6", SYSLOG_FACILITY="3", _HOSTNAME="jhost")


def journal_conf(tmp_path, out, **kw):
    inp = {"name": "j", "transport": "journal", "journal_dir": str(tmp_path / "journal")}
    inp.update(kw)
    return config([inp], [file_output("o", out, format="json")],
                  state_dir=str(tmp_path / "state"))


def msgs(out):
    return [j["msg"] for j in read_json_lines(out)] if out.exists() else []


def wait_msgs(out, n):
    poll(lambda: len(msgs(out)) >= n, T(20), "%d messages in %s" % (n, out))


def test_journal_fields(daemon, tmp_path):
    jdir = tmp_path / "journal"
    jdir.mkdir()
    src_time = T0 + 123_456_789  # the program's own time differs from the journal's
    write_journal(jdir / "a.journal", [
        entry(0, MESSAGE="full fields", SYSLOG_IDENTIFIER="sshd", SYSLOG_PID="42", _PID="43",
              _COMM="sshd-session", PRIORITY="4", SYSLOG_FACILITY="10", _HOSTNAME="web7",
              _SOURCE_REALTIME_TIMESTAMP=str(src_time)),
        entry(1, MESSAGE="native entry", _COMM="myd", _PID="77", PRIORITY="2"),
        entry(2, MESSAGE="no priority", SYSLOG_IDENTIFIER="odd name here"),
    ])
    out = tmp_path / "out.json"
    d = daemon(journal_conf(tmp_path, out))
    wait_msgs(out, 3)
    assert d.stop() == 0
    a, b, c = read_json_lines(out)
    assert (a["msg"], a["app_name"], a["procid"], a["hostname"]) == \
        ("full fields", "sshd", "42", "web7"), a
    assert a["facility"] in ("authpriv", 10) and a["severity"] in ("warning", 4), a
    assert a["timestamp"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(src_time // 10**6)) \
        + ".%06dZ" % (src_time % 10**6), a
    # _COMM and _PID when the entry has no SYSLOG_ fields; facility user by default
    assert (b["msg"], b["app_name"], b["procid"]) == ("native entry", "myd", "77"), b
    assert b["facility"] in ("user", 1) and b["severity"] in ("crit", 2), b
    assert b["timestamp"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S",
                                                   time.gmtime((T0 + 1000) // 10**6))), b
    # notice by default; a program name with spaces stays one field; this host's name
    assert c["severity"] in ("notice", 5) and c["app_name"] == "odd_name_here", c
    assert c["hostname"] == os.uname().nodename.split(".")[0] or \
        c["hostname"] == os.uname().nodename, c


def test_journal_cursor_survives_restarts(daemon, tmp_path):
    jdir = tmp_path / "journal"
    jdir.mkdir()
    out = tmp_path / "out.json"
    write_journal(jdir / "a.journal", [plain(i) for i in range(50)])
    d = daemon(journal_conf(tmp_path, out))
    wait_msgs(out, 50)
    # a file that appears while it runs is read too
    write_journal(jdir / "b.journal", [plain(i) for i in range(50, 80)])
    wait_msgs(out, 80)
    assert d.stop() == 0
    state = (tmp_path / "state" / "journal-j.state").read_text()
    assert "cursor" in state, state
    # SIGTERM: a restart reads only what is new, none twice
    write_journal(jdir / "c.journal", [plain(i) for i in range(80, 100)])
    d = daemon(journal_conf(tmp_path, out))
    wait_msgs(out, 100)
    d.wait_log(r"continuing the journal after the saved cursor")
    # SIGKILL: nothing lost (what was read since the last save may come again)
    write_journal(jdir / "d.journal", [plain(i) for i in range(100, 130)])
    wait_msgs(out, 130)
    d.nonzero_exit_ok = True
    d.kill()
    write_journal(jdir / "e.journal", [plain(i) for i in range(130, 150)])
    d = daemon(journal_conf(tmp_path, out))
    poll(lambda: "entry 149" in msgs(out), T(20), "the last entry")
    assert d.stop() == 0
    got = msgs(out)
    assert got[:130] == ["entry %d" % i for i in range(130)], got[:130]
    assert set(got) == {"entry %d" % i for i in range(150)}
    # after the SIGKILL: from the last saved cursor on (at the latest the clean stop's, after
    # entry 79), in order
    again = [int(m.split()[1]) for m in got[130:]]
    assert again == list(range(again[0], 150)) and 80 <= again[0] <= 130, again


def test_journal_start_at_end(daemon, tmp_path):
    jdir = tmp_path / "journal"
    jdir.mkdir()
    out = tmp_path / "out.json"
    write_journal(jdir / "a.journal", [plain(i) for i in range(10)])
    d = daemon(journal_conf(tmp_path, out, start_at="end"))
    write_journal(jdir / "b.journal", [plain(i) for i in range(10, 15)])
    wait_msgs(out, 5)
    assert d.stop() == 0
    assert msgs(out) == ["entry %d" % i for i in range(10, 15)]


def test_journal_dir_missing_is_clear(daemon, tmp_path):
    d = daemon(journal_conf(tmp_path / "nowhere", tmp_path / "o.json"), start=False)
    d.nonzero_exit_ok = True
    d.start(wait=False)
    poll(lambda: not d.alive(), T(20), "tlslogd to refuse to start")
    assert d.proc.returncode != 0
    assert "input j: cannot open the journal in %s" % (tmp_path / "nowhere" / "journal") \
        in d.log_text(), d.log_text()
