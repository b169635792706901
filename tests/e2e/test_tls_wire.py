"""On the wire: a capture of the loopback traffic (tshark, else tcpdump) while 50 messages
with a distinctive marker go through a TLS input holds none of the marker's bytes, while the
same capture shows the marker of 50 messages sent to a plain tcp input of the same daemon (the
control proving the capture sees the payloads)."""

import os
import shutil
import signal
import time

import pytest

import sender
from peers.local import numbered
from peers.procs import Proc, wait_for
from tlsneg_util import (TlsConn, check_marker, frames, good_s_client, neg_pki, rfc5424,
                         tls_conf)
from tlslogd import T, tcp_input

TSHARK = shutil.which("tshark")
TCPDUMP = shutil.which("tcpdump")

# The capture lags behind on a loaded machine: alone, after the parallel tests (run-suite).
pytestmark = [
    pytest.mark.serial,
    pytest.mark.peers("openssl", "tshark"),
    pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("TLSLOGD_CAPTURE_OK"),
                       reason="capturing on lo needs root (or set TLSLOGD_CAPTURE_OK=1 if "
                              "dumpcap has the capabilities)"),
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return neg_pki(tmp_path_factory.mktemp("wirepki"))


class Capture:
    """tshark (or tcpdump) on lo with a BPF filter, writing a capture file. Started before
    sending, waited for until it says it captures (bounded), stopped by its PID (SIGINT so it
    flushes, then SIGTERM/SIGKILL)."""

    def __init__(self, workdir, bpf):
        self.path = workdir / "capture.pcap"
        self.log_path = workdir / "capture.log"
        if TSHARK:
            argv = [TSHARK, "-i", "lo", "-f", bpf, "-w", str(self.path)]
            self.ready = ("Capturing on",)
        else:
            argv = [TCPDUMP, "-i", "lo", "-U", "-w", str(self.path), bpf]
            self.ready = ("listening on",)
        self.proc = Proc(argv, self.log_path, name=os.path.basename(argv[0]))

    def start(self):
        self.proc.start()
        try:
            wait_for(lambda: any(r in self.proc.log() for r in self.ready) or
                     (not self.proc.alive() and (_ for _ in ()).throw(AssertionError(
                         "capture exited: %s" % self.proc.log_tail()))),
                     T(20), "the capture to start")
        except BaseException:
            self.proc.stop()
            raise
        return self

    def stop(self):
        if self.proc.alive():
            self.proc.signal(signal.SIGINT)
            try:
                self.proc.wait(T(10))
            except AssertionError:
                self.proc.stop()
        return self.proc.returncode

    def data(self):
        return self.path.read_bytes() if self.path.exists() else b""


@pytest.fixture
def capture_factory(tmp_path):
    caps = []

    def make(bpf):
        c = Capture(tmp_path, bpf).start()
        caps.append(c)
        return c
    yield make
    for c in caps:
        c.stop()


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_tls_payload_not_on_the_wire(daemon, tmp_path, pki, capture_factory, tls):
    out = tmp_path / "out.log"
    conf = tls_conf(pki, out, auth="name", permitted_peers=["client.test"],
                    extra_inputs=[tcp_input("tcp-in")])
    d = daemon(conf)
    tls_port, tcp_port = d.port("tls-in"), d.port("tcp-in")
    tag = os.urandom(4).hex()
    tmark, cmark = "WIRETLS%s" % tag, "WIRECTL%s" % tag

    cap = capture_factory("tcp port %d or tcp port %d" % (tls_port, tcp_port))
    # TLS: one s_client connection and one long-lived Python ssl connection, 25 each
    msgs = numbered(tmark, 50)
    good_s_client(tls_port, pki, msgs[:25], tls=tls)
    g = TlsConn(tls_port, pki, cert=pki.client)
    g.sock.sendall(frames(msgs[25:]))
    # control: the same kind of messages, in plaintext, to the tcp input
    sender.send_tcp(tcp_port, b"".join(rfc5424(m).encode() + b"\n" for m in numbered(cmark, 50)),
                    graceful=True)
    check_marker(d, out, tmark, 50)
    check_marker(d, out, cmark, 50)
    g.close()
    # let the last packets reach the capture file (on a loaded machine the capture lags)
    deadline = time.monotonic() + T(10)
    while cap.data().count(cmark.encode()) < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    cap.stop()

    pcap = cap.data()
    assert pcap, "empty capture file; capture log:\n%s" % cap.proc.log_tail()
    ctl = pcap.count(cmark.encode())
    assert ctl >= 50, "control failed: the capture shows the plaintext marker %d times, " \
        "expected >= 50 (capture log: %s)" % (ctl, cap.proc.log_tail())
    assert b"\x17\x03\x03" in pcap, "no TLS application data record in the capture"
    assert tmark.encode() not in pcap, "the TLS messages' marker is readable on the wire"
