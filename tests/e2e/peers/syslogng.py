"""syslog-ng 3.38 (Debian syslog-ng-core) as a TLS peer on loopback.

    n = SyslogNg(workdir)
    rx = n.tls_receiver(driver="syslog", ca=pki.ca.cert, cert=s.cert, key=s.key,
                        peer_verify="required-trusted")        # -> Receiver(.port, .out)
    tx = n.tls_sender(port, driver="syslog", ca=..., cert=..., key=...)   # -> Sender(.feed)
    n.start(); tx.feed.send(msgs); rx.out.wait_marker(...); n.stop()

driver="syslog": RFC 5425/6587 octet-counted frames, RFC 5424 messages (a syslog() source
rejects a frame that does not start with a length: "Invalid frame header").
driver="network": newline framing, RFC 3164 by default.
Private config/persist/pid/control files (-f -R -p -c), --no-caps, -F (foreground), -e (its own
messages to stderr -> the log file); no system() source; stats-freq(0).
"""

import os
import shutil
from pathlib import Path

from .local import OutputFile, TcpFeed, UnixDgramFeed
from .ports import free_port, wait_listening
from .procs import Proc, T, run, wait_for

SYSLOG_NG = os.environ.get("SYSLOG_NG") or shutil.which("syslog-ng") or "/usr/sbin/syslog-ng"


def available():
    return os.access(SYSLOG_NG, os.X_OK)


# kafka-c(): Debian's syslog-ng-mod-rdkafka (the module of the syslog-ng in use).
KAFKA_MODULE = "/usr/lib/syslog-ng/3.38/libkafka.so"


def kafka_available():
    return available() and os.path.isfile(KAFKA_MODULE)


TEMPLATES = {
    "msg": r"$MSG\n",
    "rawmsg": r"$RAWMSG\n",  # needs flags(store-raw-message) on the source (added automatically)
    "full": r"$HOST $PROGRAM $MSG\n",
}


def q(s):
    """A syslog-ng double-quoted string."""
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


def tls_block(ca=None, ca_dir=None, cert=None, key=None, peer_verify=None, extra=None):
    """tls(...) option text. extra: dict of more options (values quoted) or raw text."""
    opts = []
    for k, v in (("key-file", key), ("cert-file", cert), ("ca-file", ca), ("ca-dir", ca_dir)):
        if v:
            opts.append("%s(%s)" % (k, q(v)))
    if peer_verify:
        opts.append("peer-verify(%s)" % peer_verify)
    if isinstance(extra, dict):
        opts += ["%s(%s)" % (k, v if isinstance(v, (int, float)) else q(v)) for k, v in extra.items()]
    elif extra:
        opts.append(extra)
    return "tls(%s)" % " ".join(opts)


class Receiver:
    def __init__(self, port, out, name):
        self.port, self.out, self.name = port, out, name

    def __repr__(self):
        return "<Receiver %s :%s -> %s>" % (self.name, self.port, self.out)


class Sender:
    def __init__(self, feed, name, socket=None, local_port=None):
        self.feed, self.name, self.socket, self.local_port = feed, name, socket, local_port

    def __repr__(self):
        return "<Sender %s>" % self.name


class SyslogNg:
    def __init__(self, workdir, name="syslog-ng", version="3.38"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.version = version
        self.conf_path = self.dir / (name + ".conf")
        self.persist = self.dir / (name + ".persist")
        self.pid_path = self.dir / (name + ".pid")
        self.ctl = self.dir / (name + ".ctl")
        self.log_path = self.dir / (name + ".log")
        self.options = {"stats-freq": "0", "keep-hostname": "yes", "chain-hostnames": "no",
                        "use-dns": "no", "dns-cache": "no", "log-msg-size": "65536"}
        self.blocks = []
        self.listen_ports = []
        self.sockets = []
        self.extra_args = []
        self.proc = None
        self._n = 0

    def _id(self, prefix):
        self._n += 1
        return "%s%d" % (prefix, self._n)

    def add(self, text):
        """Raw configuration text appended to the config."""
        self.blocks.append(text)

    def _file_dest(self, name, out, template):
        tstr = TEMPLATES.get(template, template)  # written verbatim: its \n is syslog-ng's escape
        self.add("destination d_%s { file(%s template(\"%s\") create-dirs(yes)); };"
                 % (name, q(out), tstr.replace('"', '\\"')))

    def tls_receiver(self, port=None, driver="syslog", ca=None, ca_dir=None, cert=None, key=None,
                     peer_verify="required-trusted", template="msg", address="127.0.0.1",
                     tls_extra=None, source_extra="", out=None, name=None, max_connections=100):
        """syslog()/network() TLS source writing every message to its own file.
        tls_extra: more tls() options, e.g. {"crl-dir": d, "cipher-suite": "..."}."""
        assert driver in ("syslog", "network"), driver
        name = name or self._id("rx")
        port = port or free_port()
        out = Path(out or self.dir / (name + ".out"))
        flags = " flags(store-raw-message)" if template == "rawmsg" else ""
        # log-iw-size is divided among max-connections: keep >= 100 per connection (no warning)
        self.add("source s_%s { %s(ip(%s) port(%d) transport(\"tls\") %s max-connections(%d) "
                 "log-iw-size(%d)%s %s); };"
                 % (name, driver, q(address), port,
                    tls_block(ca, ca_dir, cert, key, peer_verify, tls_extra), max_connections,
                    max_connections * 100, flags, source_extra))
        self._file_dest(name, out, template)
        self.add("log { source(s_%s); destination(d_%s); };" % (name, name))
        self.listen_ports.append(port)
        return Receiver(port, OutputFile(out), name)

    def _local_source(self, name, local):
        if local == "unix":
            sock = self.dir / (name + ".sock")
            self.add("source s_%s { unix-dgram(%s); };" % (name, q(sock)))
            self.sockets.append(sock)
            return UnixDgramFeed(sock), sock, None
        assert local == "tcp", local
        port = free_port()
        self.add("source s_%s { network(ip(\"127.0.0.1\") port(%d) transport(\"tcp\")); };"
                 % (name, port))
        self.listen_ports.append(port)
        return TcpFeed(port), None, port

    def tls_sender(self, port, host="127.0.0.1", driver="syslog", ca=None, ca_dir=None, cert=None,
                   key=None, peer_verify="required-trusted", local="unix", tls_extra=None,
                   dest_extra="", name=None):
        """Local source (unix-dgram socket, or plain network() TCP) -> syslog()/network() TLS
        destination. cert/key optional (client certificate)."""
        assert driver in ("syslog", "network"), driver
        name = name or self._id("tx")
        feed, sock, lport = self._local_source(name, local)
        self.add("destination d_%s { %s(%s port(%d) transport(\"tls\") %s %s); };"
                 % (name, driver, q(host), port,
                    tls_block(ca, ca_dir, cert, key, peer_verify, tls_extra), dest_extra))
        self.add("log { source(s_%s); destination(d_%s); };" % (name, name))
        return Sender(feed, name, sock, lport)

    # -- running -------------------------------------------------------------------------------
    def config_text(self):
        opts = " ".join("%s(%s);" % kv for kv in self.options.items())
        return ("@version: %s\n# generated by tests/e2e/peers/syslogng.py -- private instance %s\n"
                "options { %s };\n%s\n" % (self.version, self.name, opts, "\n".join(self.blocks)))

    def write_config(self):
        self.conf_path.write_text(self.config_text())
        return self.conf_path

    def argv(self):
        return [SYSLOG_NG, "-F", "-e", "--no-caps", "-f", str(self.conf_path), "-R",
                str(self.persist), "-p", str(self.pid_path), "-c", str(self.ctl)] + self.extra_args

    def check_config(self):
        self.write_config()
        r = run([SYSLOG_NG, "-s", "-f", self.conf_path], check=False, timeout=T(20))
        return r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")

    def start(self, timeout=None):
        self.write_config()
        self.proc = Proc(self.argv(), self.log_path, name=self.name).start()
        timeout = timeout or T(10)
        clash = lambda: "Address already in use" in self.proc.log()
        for p in self.listen_ports:
            wait_listening(p, timeout, proc=self.proc, clash=clash)
        for s in self.sockets:
            wait_for(lambda: Path(s).exists() or not self.proc.alive(), timeout, "socket %s" % s)
        if not self.proc.alive():
            raise AssertionError("%s exited at start (%s); log:\n%s"
                                 % (self.name, self.proc.proc.poll(), self.proc.log_tail()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stop(self, timeout=None):
        return self.proc.stop(timeout) if self.proc else None

    def log(self):
        return self.proc.log() if self.proc else ""

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
