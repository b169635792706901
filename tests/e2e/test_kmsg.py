"""The kernel log input (`transport: kmsg`) live on this machine's /dev/kmsg: a line the test
writes into /dev/kmsg (as root) is found with its facility, severity, program and PID, and a
record of the kernel's own is found with facility kern and its time converted to wall time.
Skipped, with the reason, where /dev/kmsg cannot be read and written."""

import calendar
import os
import time
import uuid

import pytest

from tlslogd import T, config, file_output, poll, read_json_lines

KMSG = "/dev/kmsg"


def kmsg_usable():
    try:
        fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)
        os.close(fd)
        fd = os.open(KMSG, os.O_WRONLY)
        os.close(fd)
        return None
    except OSError as e:
        return "%s cannot be read and written here (%s): needs root on a Linux host" % (KMSG, e)


pytestmark = pytest.mark.skipif(kmsg_usable() is not None, reason=kmsg_usable() or "")


def write_kmsg(line):
    fd = os.open(KMSG, os.O_WRONLY)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def kernel_records():
    """The kernel's own records (facility 0) in the ring buffer now: (text, wall seconds)."""
    boot = time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)
    recs = []
    fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                r = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue
            head, _, rest = r.decode(errors="replace").partition(";")
            pri, _seq, usec = head.split(",")[:3]
            text = rest.split("\n")[0]
            if int(pri) >> 3 == 0 and text.isprintable() and "\\x" not in text:
                recs.append((text, boot + int(usec) / 1e6))
    finally:
        os.close(fd)
    return recs


def kmsg_conf(tmp_path, out, start_at):
    return config([{"name": "k", "transport": "kmsg", "start_at": start_at}],
                  [file_output("o", out, format="json")])


def find(out, pred):
    return [j for j in (read_json_lines(out) if out.exists() else []) if pred(j)]


def test_kmsg_written_line_arrives(daemon, tmp_path):
    out = tmp_path / "out.json"
    marker = "tlslogd-kmsg-%s" % uuid.uuid4().hex
    write_kmsg("<14>kmsgtest: %s-before before the start\n" % marker)
    d = daemon(kmsg_conf(tmp_path, out, "end"))
    write_kmsg("<14>kmsgtest[4321]: %s live\n" % marker)   # user.info
    write_kmsg("<187>%s no tag\n" % marker)                 # local7.err, no tag
    poll(lambda: len(find(out, lambda j: marker + " " in j["msg"])) == 2, T(20), "both lines")
    assert d.stop() == 0
    a, b = find(out, lambda j: marker + " " in j["msg"])
    assert (a["msg"], a["app_name"], a["procid"]) == ("%s live" % marker, "kmsgtest", "4321"), a
    assert a["facility"] in ("user", 1) and a["severity"] in ("info", 6), a
    assert b["msg"] == "%s no tag" % marker and b["app_name"] is None, b
    assert b["facility"] in ("local7", 23) and b["severity"] in ("err", 3), b
    # start_at end: nothing from before the start
    assert not find(out, lambda j: marker + "-before" in j["msg"])


def test_kmsg_kernel_records_from_the_ring_buffer(daemon, tmp_path):
    recs = kernel_records()
    if not recs:
        pytest.skip("the kernel's ring buffer holds no record of the kernel's own")
    text, wall = recs[-1]
    out = tmp_path / "out.json"
    marker = "tlslogd-kmsg-%s" % uuid.uuid4().hex
    write_kmsg("<13>kmsgtest: %s before start\n" % marker)
    d = daemon(kmsg_conf(tmp_path, out, "beginning"))
    poll(lambda: find(out, lambda j: marker in j["msg"]), T(20), "the line written before")
    assert d.stop() == 0
    got = find(out, lambda j: j["msg"] == text and j["app_name"] == "kernel")
    assert got, "kernel record %r not found" % text
    j = got[-1]
    assert j["facility"] in ("kern", 0), j
    ts = calendar.timegm(time.strptime(j["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(ts - wall) < 5, (j["timestamp"], wall)
