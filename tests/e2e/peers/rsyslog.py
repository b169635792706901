"""rsyslogd (8.2302, unpacked in .deps/rsyslog) as a TLS / RELP peer on loopback.

    r = Rsyslog(workdir)                                          # nothing runs yet
    rx = r.tls_receiver(driver="ossl", authmode="x509/name", permitted_peers=["client.test"],
                        ca=pki.ca.cert, cert=srv.cert, key=srv.key)   # -> Receiver(.port, .out)
    tx = r.tls_sender(port, driver="gtls", authmode="x509/name", permitted_peers=["server.test"],
                      ca=..., cert=..., key=...)                  # -> Sender(.feed, .socket)
    r.start()              # writes the config, runs rsyslogd -n, waits for listeners/sockets
    tx.feed.send(msgs); rx.out.wait_marker("m", 50); r.internal.lines(); r.stop()

Every instance: its own config (-f), pid file (-i), workDirectory, module dir (-M); no imklog/
imjournal, imuxsock only on private sockets (SysSock.Use="off"); listeners on 127.0.0.1 (the
seed's legacy $InputTCPServerRun has no address: it listens on every address). rsyslog's own
messages (errors, TLS rejections) go to `internal` (an OutputFile), never into a receiver's out.
"""

import os
from pathlib import Path

from .local import OutputFile, TcpFeed, UnixDgramFeed
from .ports import free_port, wait_listening
from .procs import Proc, T, run, wait_for

ROOT = Path(__file__).resolve().parents[3]
RSYSLOGD = os.environ.get("RSYSLOGD") or str(ROOT / ".deps/rsyslog/usr/sbin/rsyslogd")
MODDIR = os.environ.get("RSYSLOG_MODDIR") or str(ROOT / ".deps/rsyslog/usr/lib/x86_64-linux-gnu/rsyslog")


def available():
    return os.access(RSYSLOGD, os.X_OK) and os.path.isfile(os.path.join(MODDIR, "lmnsd_ossl.so"))


def relp_available():
    return available() and os.path.isfile(os.path.join(MODDIR, "imrelp.so"))


def kafka_available():
    return available() and os.path.isfile(os.path.join(MODDIR, "omkafka.so"))


# Templates for receivers' output files: a name below, or any rsyslog template string
# (use \\n for the line end, as in rsyslog.conf).
TEMPLATES = {
    "msg": r"%msg%\n",
    "rawmsg": r"%rawmsg%\n",
    "full": r"%fromhost-ip% %syslogtag%%msg%\n",
}
# What senders put on the wire. "rfc5424" = RSYSLOG_SyslogProtocol23Format without its trailing
# LF (octet-counted frames would otherwise carry the LF inside the message) and without the
# double space before MSG that messages parsed as RFC 3164 would get.
WIRE_TEMPLATES = {
    "rfc5424": "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% "
               "%STRUCTURED-DATA%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%",
    "rfc3164": "<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%",
}


def q(s):
    """A RainerScript string literal."""
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


def qarr(items):
    return "[" + ", ".join(q(i) for i in items) + "]"


def params(d):
    """k="v" pairs for a RainerScript object; lists become arrays; None values are skipped."""
    out = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            out.append("%s=%s" % (k, qarr(v)))
        else:
            out.append("%s=%s" % (k, q(v)))
    return " ".join(out)


class Receiver:
    def __init__(self, port, out, name):
        self.port, self.out, self.name = port, out, name

    def __repr__(self):
        return "<Receiver %s :%s -> %s>" % (self.name, self.port, self.out)


class Sender:
    """feed.send(msgs) injects messages into the sender's local input (unix socket or TCP)."""

    def __init__(self, feed, name, socket=None, local_port=None):
        self.feed, self.name, self.socket, self.local_port = feed, name, socket, local_port

    def __repr__(self):
        return "<Sender %s>" % self.name


class Rsyslog:
    def __init__(self, workdir, name="rsyslog"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.conf_path = self.dir / (name + ".conf")
        self.pid_path = self.dir / (name + ".pid")
        self.log_path = self.dir / (name + ".log")
        self.spool = self.dir / (name + ".spool")
        self.internal = OutputFile(self.dir / (name + ".internal.log"))
        # processInternalMessages="on": otherwise rsyslogd hands its own messages to the system
        # logger (syslog(3) / journal) instead of our internal file.
        self.globals = {"workDirectory": str(self.spool), "net.enableDNS": "off",
                        "processInternalMessages": "on"}
        self.modules = {}  # load name -> params dict (ordered)
        self.blocks = []  # config text, in order
        self.legacy = []  # legacy ($...) lines, emitted before the RainerScript blocks
        self.listen_ports = []
        self.sockets = []
        self.extra_args = []
        self.proc = None
        self._n = 0

    # -- config building --------------------------------------------------------------------
    def _id(self, prefix):
        self._n += 1
        return "%s%d" % (prefix, self._n)

    def set_global(self, **kw):
        """global() parameters (emitted once); keys as rsyslog names, e.g.
        set_global(DefaultNetstreamDriverCAFile=...). Conflicting values raise."""
        for k, v in kw.items():
            if v is None:
                continue
            if k in self.globals and self.globals[k] != v:
                raise ValueError("global %s set twice (%r, %r): use files_on='input'" %
                                 (k, self.globals[k], v))
            self.globals[k] = v

    def load(self, module, **kw):
        """module(load=...) with parameters; loading twice with different parameters raises."""
        kw = {k: v for k, v in kw.items() if v is not None}
        if module in self.modules and self.modules[module] != kw:
            raise ValueError("module %s already loaded with %r (wanted %r): use params_on='input'"
                             % (module, self.modules[module], kw))
        self.modules[module] = kw

    def add(self, text):
        """Raw RainerScript appended to the config."""
        self.blocks.append(text)

    def _tls_files(self, files_on, ca, cert, key, prefix="streamDriver."):
        if files_on == "global":
            self.set_global(DefaultNetstreamDriverCAFile=ca, DefaultNetstreamDriverCertFile=cert,
                            DefaultNetstreamDriverKeyFile=key)
            return {}
        assert files_on in ("input", "action"), files_on
        return {prefix + "CAFile": ca, prefix + "CertFile": cert, prefix + "KeyFile": key}

    def _output(self, ruleset, out, template):
        tpl = self._id("t_")
        tstr = TEMPLATES.get(template, template)
        # tstr is written verbatim (its \n is rsyslog's escape): only " must not appear.
        assert '"' not in tstr, "template must not contain a double quote"
        self.add('template(name="%s" type="string" string="%s")\n'
                 'ruleset(name="%s") {\n  action(type="omfile" file=%s template="%s")\n}'
                 % (tpl, tstr, ruleset, q(out), tpl))

    def tls_receiver(self, port=None, driver="ossl", authmode="anon", permitted_peers=None,
                     ca=None, cert=None, key=None, template="msg", address="127.0.0.1",
                     params_on="module", files_on="global", out=None, name=None,
                     input_extra=None, module_extra=None, mode=1):
        """imtcp TLS listener writing every message to its own file (template: TEMPLATES key or
        an rsyslog template string). params_on='module': StreamDriver.* and PermittedPeer on
        module(load="imtcp") (one TLS listener per instance); 'input': on input() (several
        listeners with different settings). files_on='global': DefaultNetstreamDriver*File in
        global(); 'input': streamDriver.CAFile/CertFile/KeyFile on input()."""
        name = name or self._id("rx")
        port = port or free_port(address if address else "127.0.0.1")
        out = Path(out or self.dir / (name + ".out"))
        drv = {"StreamDriver.Name": driver, "StreamDriver.Mode": str(mode),
               "StreamDriver.AuthMode": authmode}
        if permitted_peers:
            drv["PermittedPeer"] = list(permitted_peers)
        inp = {"type": "imtcp", "name": name, "port": str(port), "ruleset": name}
        if address:
            inp["address"] = address
        if params_on == "module":
            self.load("imtcp", **drv, **(module_extra or {}))
        else:
            self.load("imtcp", **(module_extra or {}))
            inp.update(drv)
        inp.update(self._tls_files(files_on, ca, cert, key))
        inp.update(input_extra or {})
        self._output(name, out, template)
        self.add("input(%s)" % params(inp))
        self.listen_ports.append(port)
        return Receiver(port, OutputFile(out), name)

    def _local_input(self, ruleset, local):
        """A private local input bound to ruleset: 'unix' (imuxsock socket) or 'tcp' (imptcp)."""
        if local == "unix":
            sock = self.dir / (ruleset + ".sock")
            self.load("imuxsock", **{"SysSock.Use": "off"})
            self.add("input(%s)" % params({"type": "imuxsock", "Socket": str(sock),
                                           "ruleset": ruleset, "RateLimit.Interval": "0",
                                           "CreatePath": "on"}))
            self.sockets.append(sock)
            return UnixDgramFeed(sock), sock, None
        assert local == "tcp", local
        port = free_port()
        self.load("imptcp")
        self.add("input(%s)" % params({"type": "imptcp", "port": str(port),
                                       "address": "127.0.0.1", "ruleset": ruleset}))
        self.listen_ports.append(port)
        return TcpFeed(port), None, port

    def _wire_template(self, template):
        if template in WIRE_TEMPLATES:
            tpl = "w_" + template
            text = ('template(name="%s" type="string" string="%s")'
                    % (tpl, WIRE_TEMPLATES[template]))
            if text not in self.blocks:
                self.add(text)
            return tpl
        return template  # a template name (e.g. RSYSLOG_TraditionalForwardFormat)

    def tls_sender(self, port, host="127.0.0.1", driver="gtls", authmode="x509/name",
                   permitted_peers=None, ca=None, cert=None, key=None, framing="octet-counted",
                   template="rfc5424", local="unix", files_on="global", name=None,
                   action_extra=None, mode=1):
        """Local input (unix socket via imuxsock, or plain TCP via imptcp) -> omfwd over TLS.
        framing: 'octet-counted' (RFC 5425/6587) or 'traditional' (LF). template: 'rfc5424',
        'rfc3164' or an rsyslog template name. cert/key optional (client certificate)."""
        name = name or self._id("tx")
        feed, sock, lport = self._local_input(name, local)
        act = {"type": "omfwd", "target": host, "port": str(port), "protocol": "tcp",
               "StreamDriver": driver, "StreamDriverMode": str(mode),
               "StreamDriverAuthMode": authmode,
               "StreamDriverPermittedPeers": ",".join(permitted_peers) if permitted_peers else None,
               "TCP_Framing": framing, "template": self._wire_template(template),
               "action.resumeRetryCount": "-1", "action.resumeInterval": "1",
               "queue.type": "LinkedList", "queue.timeoutShutdown": "1000"}
        if files_on == "global":
            self._tls_files("global", ca, cert, key)
        else:
            act.update({"StreamDriver.CAFile": ca, "StreamDriver.CertFile": cert,
                        "StreamDriver.KeyFile": key})
        act.update(action_extra or {})
        self.add('ruleset(name="%s") {\n  action(%s)\n}' % (name, params(act)))
        return Sender(feed, name, sock, lport)

    # -- the seed's legacy setup ("Encrypting Syslog Traffic with TLS [short version]") ----
    def legacy_seed_server(self, port, ca, cert, key, driver="gtls", authmode="anon",
                           template="msg", name=None):
        """The seed's server lines verbatim (legacy $ directives), port instead of 10514.
        Received messages (inputname imtcp) go to the Receiver's file, the rest to internal."""
        name = name or self._id("legacyrx")
        out = self.dir / (name + ".out")
        self.legacy += [
            "# make gtls driver the default",
            "$DefaultNetstreamDriver %s" % driver,
            "",
            "# certificate files",
            "$DefaultNetstreamDriverCAFile %s" % ca,
            "$DefaultNetstreamDriverCertFile %s" % cert,
            "$DefaultNetstreamDriverKeyFile %s" % key,
            "",
            "$ModLoad imtcp # load TCP listener",
            "",
            "$InputTCPServerStreamDriverMode 1 # run driver in TLS-only mode",
            "$InputTCPServerStreamDriverAuthMode %s # client is NOT authenticated" % authmode,
            "$InputTCPServerRun %d # start up listener at port %d" % (port, port),
        ]
        self._legacy_route = (name, out, template)
        self.listen_ports.append(port)
        return Receiver(port, OutputFile(out), name)

    def legacy_seed_client(self, port, ca, host="127.0.0.1", driver="gtls", authmode="anon",
                           octet=True, name=None):
        """The seed's client lines verbatim ('*.* @@(o)host:port'), fed through a private
        imuxsock socket (legacy $AddUnixListenSocket, $OmitLocalLogging on). Note '*.*' also
        forwards rsyslogd's own messages: count only your marker at the receiver."""
        name = name or self._id("legacytx")
        sock = self.dir / (name + ".sock")
        self.legacy += [
            "$ModLoad imuxsock",
            "$OmitLocalLogging on",
            "$SystemLogRateLimitInterval 0",
            "$AddUnixListenSocket %s" % sock,
            "",
            "# certificate files - just CA for a client",
            "$DefaultNetstreamDriverCAFile %s" % ca,
            "",
            "# set up the action",
            "$DefaultNetstreamDriver %s # use gtls netstream driver" % driver,
            "$ActionSendStreamDriverMode 1 # require TLS for the connection",
            "$ActionSendStreamDriverAuthMode %s # server is NOT authenticated" % authmode,
            "$ActionResumeRetryCount -1",
            "*.* @@%s%s:%d # send (all) messages" % ("(o)" if octet else "", host, port),
        ]
        self.sockets.append(sock)
        return Sender(UnixDgramFeed(sock), name, sock)

    # -- RELP over TLS -----------------------------------------------------------------------
    def relp_receiver(self, port=None, tls=True, authmode="name", permitted_peers=None, ca=None,
                      cert=None, key=None, tlslib=None, template="msg", address="127.0.0.1",
                      name=None, input_extra=None):
        """imrelp listener (tls="on", tls.authMode name|fingerprint|certvalid|anon)."""
        name = name or self._id("relprx")
        port = port or free_port()
        out = self.dir / (name + ".out")
        self.load("imrelp", **({"tls.tlslib": tlslib} if tlslib else {}))
        inp = {"type": "imrelp", "name": name, "port": str(port), "ruleset": name,
               "address": address}
        if tls:
            inp.update({"tls": "on", "tls.caCert": ca, "tls.myCert": cert, "tls.myPrivKey": key,
                        "tls.authMode": authmode})
            if permitted_peers:
                inp["tls.permittedPeer"] = list(permitted_peers)
        inp.update(input_extra or {})
        self._output(name, out, template)
        self.add("input(%s)" % params(inp))
        self.listen_ports.append(port)
        return Receiver(port, OutputFile(out), name)

    def relp_sender(self, port, host="127.0.0.1", tls=True, authmode="name",
                    permitted_peers=None, ca=None, cert=None, key=None, tlslib=None,
                    window_size=1024, local="unix", name=None, action_extra=None):
        name = name or self._id("relptx")
        feed, sock, lport = self._local_input(name, local)
        self.load("omrelp", **({"tls.tlslib": tlslib} if tlslib else {}))
        act = {"type": "omrelp", "target": host, "port": str(port),
               "windowSize": str(window_size), "action.resumeRetryCount": "-1",
               "action.resumeInterval": "1", "queue.type": "LinkedList",
               "queue.timeoutShutdown": "1000"}
        if tls:
            act.update({"tls": "on", "tls.caCert": ca, "tls.myCert": cert,
                        "tls.myPrivKey": key, "tls.authMode": authmode})
            if permitted_peers:
                act["tls.permittedPeer"] = list(permitted_peers)
        act.update(action_extra or {})
        self.add('ruleset(name="%s") {\n  action(%s)\n}' % (name, params(act)))
        return Sender(feed, name, sock, lport)

    # -- running -------------------------------------------------------------------------------
    def config_text(self):
        lines = ["# generated by tests/e2e/peers/rsyslog.py -- private instance %s" % self.name]
        lines.append("global(%s)" % params(self.globals))
        for mod, kw in self.modules.items():
            lines.append("module(%s)" % params(dict({"load": mod}, **kw)))
        if self.legacy:
            lines.append("")
            lines.extend(self.legacy)
            lines.append("")
        lines.extend(self.blocks)
        # default ruleset: rsyslogd's own messages (and, for the legacy server, what it received)
        internal = 'action(type="omfile" file=%s template="RSYSLOG_FileFormat")' % q(self.internal.path)
        route = getattr(self, "_legacy_route", None)
        if route:
            name, out, template = route
            tpl = "t_" + name
            lines.append('template(name="%s" type="string" string="%s")'
                         % (tpl, TEMPLATES.get(template, template)))
            lines.append('if $inputname == "imtcp" then {\n  action(type="omfile" file=%s '
                         'template="%s")\n} else {\n  %s\n}' % (q(out), tpl, internal))
        else:
            lines.append(internal)
        return "\n".join(lines) + "\n"

    def write_config(self):
        self.spool.mkdir(exist_ok=True)
        self.conf_path.write_text(self.config_text())
        return self.conf_path

    def argv(self):
        return [RSYSLOGD, "-n", "-f", str(self.conf_path), "-i", str(self.pid_path),
                "-M", MODDIR] + self.extra_args

    def check_config(self):
        """rsyslogd -N1 on the written config; returns (ok, output)."""
        self.write_config()
        r = run([RSYSLOGD, "-N1", "-f", self.conf_path, "-M", MODDIR], check=False, timeout=T(20))
        return r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")

    def start(self, timeout=None):
        """Writes the config, starts rsyslogd -n and waits (bounded) until every listener
        listens and every local socket exists. Listeners are checked through /proc, never
        probed (a probe would be a failed TLS handshake in rsyslog's log)."""
        self.write_config()
        if self.pid_path.exists():
            self.pid_path.unlink()
        self.proc = Proc(self.argv(), self.log_path, name=self.name).start()
        timeout = timeout or T(10)
        clash = lambda: "Address already in use" in self.proc.log()
        for p in self.listen_ports:
            wait_listening(p, timeout, proc=self.proc, clash=clash)
        for s in self.sockets:
            wait_for(lambda: Path(s).exists() or not self.proc.alive(), timeout, "socket %s" % s)
            if not self.proc.alive():
                break
        if not self.proc.alive():
            raise AssertionError("%s exited at start (%s); log:\n%s\ninternal:\n%s" % (
                self.name, self.proc.proc.poll(), self.proc.log_tail(),
                "\n".join(self.internal.lines()[-30:])))
        return self

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stop(self, timeout=None):
        return self.proc.stop(timeout) if self.proc else None

    def log(self):
        """stdout/stderr of rsyslogd plus its internal messages."""
        return (self.proc.log() if self.proc else "") + "\n".join(self.internal.lines())

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
