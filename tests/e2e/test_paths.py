"""File path templates: per-host files, dated directories, facility/severity, input/peer/app,
max_open_files, file and directory modes, and no escape from the output directory."""

import datetime
import re
import os
import stat

import sender
from relutil import stats
from sender import octet
from tlslogd import T, config, file_output, poll, read_lines, tcp_input, udp_input
from util import FACILITIES, SEVERITIES


def all_files(root):
    out = []
    for dp, dn, fn in os.walk(root):
        out += [os.path.join(dp, f) for f in fn]
    return sorted(out)


def total_lines(root):
    return sum(len(read_lines(f)) for f in all_files(root))


def wait_total(d, root, n):
    def enough():
        d.check_alive()
        return total_lines(root) >= n
    try:
        poll(enough, T(20), "%d lines under %s" % (n, root))
    except AssertionError as e:
        raise AssertionError("%s (have %d); log:\n%s" % (e, total_lines(root), d.log_tail()))


def test_per_host_files_beyond_max_open_files(daemon, tmp_path):
    root = tmp_path / "hosts"
    d = daemon(config([tcp_input("t")], [file_output("o", root / "{hostname}.log", format="raw",
                                                     max_open_files=4)]))
    nh, per = 40, 6
    expect = {h: [] for h in range(nh)}
    data = []
    for i in range(per):
        for h in range(nh):
            m = b"<13>1 2026-01-01T00:00:00Z host%02d app - - - round %d host %d" % (h, i, h)
            expect[h].append(m)
            data.append(octet(m))
    # two connections, each carrying half of the rounds (order per host is kept per connection)
    half = per // 2 * nh
    sender.send_tcp(d.port("t"), b"".join(data[:half]), graceful=True)
    sender.send_tcp(d.port("t"), b"".join(data[half:]), graceful=True)
    wait_total(d, root, nh * per)
    assert d.stop() == 0
    assert all_files(root) == sorted(str(root / ("host%02d.log" % h)) for h in range(nh))
    for h in range(nh):
        got = read_lines(root / ("host%02d.log" % h))
        # in order per connection (the two connections may interleave)
        assert [l for l in got if int(l.split(b" round ")[1].split()[0]) < per // 2] == expect[h][:per // 2], h
        assert [l for l in got if int(l.split(b" round ")[1].split()[0]) >= per // 2] == expect[h][per // 2:], h
        assert len(got) == per, h


def test_dated_dirs_and_facility_severity(daemon, tmp_path):
    dated, fs = tmp_path / "dated", tmp_path / "fs"
    d = daemon(config([tcp_input("t")], [
        file_output("dated", dated / "{year}" / "{month}" / "{day}" / "{hour}.log", format="raw"),
        file_output("fs", fs / "{facility}" / "{severity}.log", format="raw")]))
    before = datetime.datetime.now(datetime.timezone.utc)
    combos = [(19, 3), (1, 6), (0, 0), (23, 7), (19, 6)]
    ts = before.strftime("%Y-%m-%dT%H:%M:%S.000Z").encode()
    msgs = [b"<%d>1 %s h app - - - fac %d sev %d" % (f * 8 + s, ts, f, s) for f, s in combos]
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in msgs), graceful=True)
    wait_total(d, dated, len(msgs))
    wait_total(d, fs, len(msgs))
    after = datetime.datetime.now(datetime.timezone.utc)
    assert d.stop() == 0

    files = all_files(dated)
    assert len(files) == 1, files
    cands = {str(dated / t.strftime("%Y") / t.strftime("%m") / t.strftime("%d") / (t.strftime("%H") + ".log"))
             for t in (before, after)}
    assert files[0] in cands, (files, cands)
    assert read_lines(files[0]) == msgs

    files = all_files(fs)
    assert len(files) == len(combos), files
    for (f, s), m in zip(combos, msgs):
        cands = [str(fs / fn / (sn + ".log")) for fn in (FACILITIES[f], str(f))
                 for sn in (SEVERITIES[s], str(s))]
        hit = [c for c in cands if c in files]
        assert len(hit) == 1, (f, s, files)
        assert m in read_lines(hit[0])
    assert sum(len(read_lines(p)) for p in files) == len(msgs)


def test_input_peer_app_template(daemon, tmp_path):
    root = tmp_path / "ipa"
    d = daemon(config([tcp_input("tin"), udp_input("uin")],
                      [file_output("o", root / "{input}" / "{peer_ip}" / "{app}.log", format="raw")]))
    mt = [b"<13>1 2026-01-01T00:00:00Z h app%d - - - tcp %d" % (i % 2, i) for i in range(6)]
    mu = [b"<13>Jan  1 00:00:00 h app%d: udp %d" % (i % 2, i) for i in range(6)]
    sender.send_tcp(d.port("tin"), b"".join(octet(m) for m in mt), graceful=True)
    sender.send_udp(d.port("uin"), mu)
    wait_total(d, root, 12)
    assert d.stop() == 0
    exp = {}
    for inp, ms in (("tin", mt), ("uin", mu)):
        for a in (0, 1):
            exp[str(root / inp / "127.0.0.1" / ("app%d.log" % a))] = [m for i, m in enumerate(ms) if i % 2 == a]
    assert all_files(root) == sorted(exp)
    for p, ms in exp.items():
        got = read_lines(p)
        assert (got if "tin" in p else sorted(got)) == (ms if "tin" in p else sorted(ms)), p


def test_file_and_dir_modes(daemon, tmp_path):
    root = tmp_path / "modes"
    d = daemon(config([tcp_input("t")], [file_output("o", root / "sub" / "{hostname}" / "x.log", format="raw",
                                                     file_mode="0600", dir_mode="0750")]))
    m = b"<13>1 2026-01-01T00:00:00Z hostm app - - - modes"
    sender.send_tcp(d.port("t"), octet(m), graceful=True)
    f = root / "sub" / "hostm" / "x.log"
    d.wait_file_lines(f, 1)
    assert d.stop() == 0
    assert read_lines(f) == [m]
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    for dd in (root, root / "sub", root / "sub" / "hostm"):
        assert stat.S_IMODE(os.stat(dd).st_mode) == 0o750, dd


def test_hostile_hostnames_stay_inside_output_dir(daemon, tmp_path):
    """Template values come from the network: '..', '/' and the like must never make the
    daemon write outside the directory the template names."""
    root = tmp_path / "jail" / "logs"
    d = daemon(config([tcp_input("t")], [file_output("o", root / "{hostname}" / "{app}.log", format="raw")]))
    msgs = [b"<13>1 2026-01-01T00:00:00Z .. .. - - - dotdot",
            b"<13>1 2026-01-01T00:00:00Z ../../escape a - - - traversal",
            b"<13>1 2026-01-01T00:00:00Z . ./x - - - dot",
            b"<13>Jan  1 00:00:00 ../../../x y/../../z: 3164 traversal",
            b"<13>1 2026-01-01T00:00:00Z /abs /etc - - - absolute"]
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in msgs), graceful=True)
    wait_total(d, root, len(msgs))
    assert d.stop() == 0
    outside = [f for f in all_files(tmp_path)
               if not f.startswith(str(root) + os.sep) and not f.startswith(str(d.dir) + os.sep)]
    assert not outside, outside
    got = sorted(l for f in all_files(root) for l in read_lines(f))
    assert got == sorted(msgs)


def test_unwritable_output_path_refused_at_start(daemon, tmp_path):
    """The part of an output path before its first placeholder is checked at start: a file
    where a directory should be stops the daemon with the path, the reason and the remedy,
    rather than the first message being dropped later."""
    (tmp_path / "blocker").write_text("a regular file where a directory should be\n")
    d = daemon(config([tcp_input("t")], [
        file_output("bad", tmp_path / "blocker" / "{hostname}.log", format="raw"),
        file_output("good", tmp_path / "good.log", format="raw")]), start=False)
    d.start(wait=False)
    poll(lambda: d.proc.poll() is not None, T(10), "tlslogd to refuse to start")
    d.nonzero_exit_ok = True
    assert d.proc.returncode != 0
    log = d.log_text()
    assert re.search(r"error output bad: cannot create files in \S*blocker/ \(path \S*blocker/"
                     r"\{hostname\}\.log\): Not a directory; ", log), log
    assert (tmp_path / "blocker").read_text().startswith("a regular file")


def test_unwritable_path_of_one_host_does_not_stop_the_others(daemon, tmp_path):
    """A rendered path the file system refuses by its form (a file where a host's directory
    should be) drops that host's messages, counted and logged; the other hosts' files and the
    other outputs go on."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "h0").write_text("a regular file where a directory should be\n")
    good = tmp_path / "good.log"
    d = daemon(config([tcp_input("t")], [
        file_output("bad", logs / "{hostname}" / "x.log", format="raw"),
        file_output("good", good, format="raw")]))
    msgs = [b"<13>1 2026-01-01T00:00:00Z h%d app - - - to both %d" % (i % 3, i) for i in range(30)]
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in msgs), graceful=True)
    d.wait_file_lines(good, len(msgs))
    d.wait_file_lines(logs / "h1" / "x.log", 10)
    d.wait_file_lines(logs / "h2" / "x.log", 10)
    d.wait_log(r"^\S+ error output bad: cannot open \S*h0/x\.log: Not a directory")
    d.check_alive()
    st = stats(d, want=["output bad"])["output bad"]
    assert st["dropped"] == 10 and st["written"] == 20, st
    assert read_lines(good) == msgs
    assert (logs / "h0").read_text().startswith("a regular file")
