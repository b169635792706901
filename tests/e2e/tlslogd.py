"""Helpers to run tlslogd in end-to-end tests.

Everything here is bounded: every wait has a deadline, every process started is stopped by
its PID (SIGTERM, wait, then SIGKILL). Daemons only listen on loopback with port 0; the port
they picked is read back from the configured port_file.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

BUILD = os.environ.get("TLSLOGD_BUILD", "")
SRC = os.environ.get("TLSLOGD_SRC") or str(Path(__file__).resolve().parents[2])
BINARY = os.path.join(BUILD, "tlslogd") if BUILD else ""


def _is_sanitized(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# Timeouts are upper bounds only (never assertions on speed); sanitizer builds get more room.
SCALE = float(os.environ.get("TLSLOGD_TIMEOUT_SCALE") or (4 if _is_sanitized(BINARY) else 1))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

DIAG_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warning|notice|info|debug) \S.*$")


def T(seconds):
    """A timeout scaled for slow (sanitizer) builds."""
    return seconds * SCALE


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def expired(self):
        return time.monotonic() >= self.end

    def left(self):
        return max(0.0, self.end - time.monotonic())


def poll(cond, timeout, what, interval=0.02, max_interval=0.2):
    """Calls cond() until it returns something truthy (returned) or timeout passes
    (AssertionError naming what). Bounded in time; the sleep grows up to max_interval."""
    dl = Deadline(timeout)
    while True:
        v = cond()
        if v:
            return v
        if dl.expired():
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(min(interval, dl.left()))
        interval = min(interval * 1.5, max_interval)


_REPORT_RE = re.compile(r"stats: report (\d+): ", re.M)


def stats_report(d, ready, timeout, what, rest=0.0):
    """Sends SIGUSR1 to daemon d and polls until ready(text) is truthy of the report that
    signal asked for: the log's whole lines from that report's numbered first line ("stats:
    report N:", N above every one logged before the signal) to the next report. So the rest
    of an earlier report, which the daemon may still be writing, is never taken for this one.
    After ready, waits rest seconds for the rest of the report; returns its text."""
    def whole():
        # Only whole lines: the daemon may be writing one while we read the log.
        text = d.log_text()
        return text[:text.rfind("\n") + 1]

    last = max([int(n) for n in _REPORT_RE.findall(whole())] or [0])
    d.signal(signal.SIGUSR1)

    def block():
        text = whole()
        heads = [m for m in _REPORT_RE.finditer(text) if int(m.group(1)) > last]
        if not heads:
            return None
        return text[heads[0].start():heads[1].start() if len(heads) > 1 else len(text)]

    text = poll(lambda: (lambda t: t if t is not None and ready(t) else None)(block()),
                timeout, what)
    if rest:
        time.sleep(rest)
        text = block()
    return text


# ---------------------------------------------------------------------------------------------
# Minimal YAML emitter (block style) for the config dicts the tests build.

_PLAIN_RE = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:\-@+]*$")


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if _PLAIN_RE.match(s) and not s.endswith(":") and s.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "~"):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent=0):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                out.append("%s%s: []" % (pad, k))
            elif isinstance(v, dict):
                out.append("%s%s: {}" % (pad, k))
            else:
                out.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                sub = to_yaml(item, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
            elif isinstance(item, list) and item:
                out.append(pad + "-")
                out.append(to_yaml(item, indent + 2))
            else:
                out.append("%s- %s" % (pad, _scalar(item)))
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


# Config building blocks.

def tcp_input(name, host="127.0.0.1", **kw):
    h = "[%s]" % host if ":" in host else host
    return dict(name=name, transport="tcp", listen="%s:0" % h, **kw)


def udp_input(name, host="127.0.0.1", **kw):
    h = "[%s]" % host if ":" in host else host
    return dict(name=name, transport="udp", listen="%s:0" % h, **kw)


def unix_input(name, path, **kw):
    return dict(name=name, transport="unix", path=str(path), **kw)


def file_output(name, path, format="raw", flush_interval="100ms", **kw):
    return dict(name=name, type="file", path=str(path), format=format,
                flush_interval=flush_interval, **kw)


def stdout_output(name, format="json", flush_interval="100ms", **kw):
    return dict(name=name, type="stdout", format=format, flush_interval=flush_interval, **kw)


def config(inputs, outputs, routes=None, **top):
    c = dict(top)
    c.setdefault("log_level", "info")
    c["inputs"] = inputs
    c["outputs"] = outputs
    if routes is not None:
        c["routes"] = routes
    return c


# ---------------------------------------------------------------------------------------------

def run_cli(args, cwd=None, timeout=None, env=None):
    """Runs tlslogd with args to completion (bounded); returns CompletedProcess (bytes)."""
    e = dict(os.environ)
    e["TZ"] = "UTC"
    if env:
        e.update(env)
    return subprocess.run([BINARY] + list(args), cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout or T(20))


def read_lines(path):
    """The complete lines of a file (bytes, without the '\\n'); [] if it does not exist.
    A last line without '\\n' is not returned (it is still being written)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    if not data:
        return []
    parts = data.split(b"\n")
    return parts[:-1]


def read_json_lines(path):
    return [json.loads(l.decode("utf-8")) for l in read_lines(path)]


class Daemon:
    """One tlslogd process. Use through the `daemon` fixture (which stops it in teardown)."""

    def __init__(self, workdir, conf, name="tlslogd", stdout_file=False, cwd=None, env=None,
                 args=None, conf_name=None, wrap=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.conf_path = self.dir / (conf_name or (name + ".yaml"))
        self.log_path = self.dir / (name + ".log")
        self.stdout_path = self.dir / (name + ".stdout") if stdout_file else None
        self.port_file = None
        self.expect_ports = []
        self.expect_paths = []
        if isinstance(conf, dict):
            conf = dict(conf)
            if conf.get("port_file") is None:
                conf["port_file"] = str(self.dir / (name + ".ports"))
            self.port_file = Path(conf["port_file"])
            for i in conf.get("inputs") or []:
                self.expect_ports.append(i["name"])  # the port_file has a line per input
                if i.get("transport") == "unix":
                    self.expect_paths.append(i["path"])
            text = to_yaml(conf) + "\n"
        else:
            text = conf
            m = re.search(r"^port_file:\s*\"?([^\"\n]+)\"?\s*$", text, re.M)
            if m:
                self.port_file = Path(m.group(1).strip())
        self.conf_text = text
        self.conf_path.write_text(text)
        self.cwd = cwd
        self.env = env
        self.args = args
        # A command that runs the binary in its place, keeping its PID (it must exec it), e.g.
        # unshare into a private network namespace: wrap + [BINARY] + args.
        self.wrap = list(wrap or [])
        self.proc = None
        self._ports = {}
        self.exit_code = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, wait=True, timeout=None):
        assert BINARY and os.access(BINARY, os.X_OK), "tlslogd binary not found: %r" % BINARY
        if self.port_file is not None:
            try:
                self.port_file.unlink()
            except FileNotFoundError:
                pass
        e = dict(os.environ)
        e["TZ"] = "UTC"
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if self.env:
            e.update(self.env)
        args = self.args if self.args is not None else ["-c", str(self.conf_path)]
        self._log_f = open(self.log_path, "ab")
        out = self._log_f
        if self.stdout_path is not None:
            self._out_f = open(self.stdout_path, "ab")
            out = self._out_f
        self.proc = subprocess.Popen(self.wrap + [BINARY] + list(args),
                                     cwd=self.cwd or str(self.dir), env=e,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=self._log_f)
        if wait:
            self.wait_ready(timeout or T(20))
        return self

    def wait_ready(self, timeout):
        def ready():
            self.check_alive("starting")
            if self.expect_ports:
                ports = self._read_ports()
                if not all(n in ports for n in self.expect_ports):
                    return False
                self._ports = ports
            for p in self.expect_paths:
                if not os.path.exists(p):
                    return False
            return True
        poll(ready, timeout, "%s to be ready (ports %s, sockets %s)" % (
            self.name, self.expect_ports, self.expect_paths))

    def _read_ports(self):
        ports = {}
        try:
            text = self.port_file.read_text()
        except (FileNotFoundError, TypeError):
            return ports
        for line in text.split("\n")[:-1]:  # complete lines only
            f = line.split(" ", 1)
            if len(f) == 2:  # "NAME PORT" (tcp/udp) or "NAME PATH" (unix)
                ports[f[0]] = int(f[1]) if f[1].isdigit() else f[1]
        return ports

    def port(self, name):
        if name not in self._ports:
            self._ports = self._read_ports()
        assert isinstance(self._ports.get(name), int), "no port for input %r in %s: %r" % (
            name, self.port_file, self._ports)
        return self._ports[name]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, what="running"):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("%s exited with %s while %s; log:\n%s" % (
                self.name, self.proc.returncode, what, self.log_tail()))

    def signal(self, sig):
        assert self.alive(), "%s is not running" % self.name
        os.kill(self.proc.pid, sig)

    def hup(self):
        self.signal(signal.SIGHUP)

    def stop(self, timeout=None):
        """SIGTERM, wait up to 20 s (scaled); returns the exit code. If it does not exit in
        time it is SIGKILLed and an AssertionError raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout or T(20))
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("%s did not exit within %ss of SIGTERM; log:\n%s" % (
                    self.name, timeout or T(20), self.log_tail()))
        self._close_files()
        self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self):
        for a in ("_log_f", "_out_f"):
            f = getattr(self, a, None)
            if f is not None:
                f.close()
                setattr(self, a, None)

    # -- the daemon's own log ----------------------------------------------------------------

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_log(self, regex, timeout=None):
        r = re.compile(regex, re.M)

        def found():
            m = r.search(self.log_text())
            if m:
                return m
            self.check_alive("waiting for log %r" % regex)
            return None
        try:
            return poll(found, timeout or T(10), "log line matching %r" % regex)
        except AssertionError as e:
            raise AssertionError("%s; log:\n%s" % (e, self.log_tail()))

    def sanitizer_reports(self):
        t = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in t]

    # -- outputs -------------------------------------------------------------------------------

    def wait_file_lines(self, path, n, timeout=None):
        """Waits until path has at least n complete lines; returns them (bytes)."""
        holder = {}

        def enough():
            lines = read_lines(path)
            holder["n"] = len(lines)
            if len(lines) >= n:
                return lines
            self.check_alive("waiting for %d lines in %s" % (n, path))
            return None
        try:
            return poll(enough, timeout or T(15), "%d lines in %s" % (n, path))
        except AssertionError as e:
            raise AssertionError("%s (have %s); log:\n%s" % (e, holder.get("n"), self.log_tail()))

    def wait_file_size(self, path, size, timeout=None):
        """Waits until path is at least size bytes long (cheap for big outputs)."""
        def enough():
            try:
                if os.path.getsize(path) >= size:
                    return True
            except FileNotFoundError:
                pass
            self.check_alive("waiting for %d bytes in %s" % (size, path))
            return False
        try:
            poll(enough, timeout or T(60), "%d bytes in %s" % (size, path), max_interval=0.3)
        except AssertionError as e:
            try:
                have = os.path.getsize(path)
            except OSError:
                have = None
            raise AssertionError("%s (have %s); log:\n%s" % (e, have, self.log_tail()))


def port_is_free(port, host="127.0.0.1"):
    for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def have_ipv6():
    if not socket.has_ipv6:
        return False
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def private_net_wrap():
    """A wrap for Daemon that runs it in a network namespace of its own, with only a loopback
    interface: fixed ports (the embedded default's 5514) cannot collide with anything else
    that runs, tests in parallel included. None where namespaces cannot be made (not root):
    then the caller falls back to the shared loopback. Reach the daemon from there with
    in_netns(pid, argv)."""
    if os.geteuid() != 0:
        return None
    r = subprocess.run(["unshare", "--net", "true"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=T(10))
    if r.returncode != 0:
        return None
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


def in_netns(pid, argv):
    """argv run inside the network namespace of process pid (see private_net_wrap)."""
    return ["nsenter", "--net=/proc/%d/ns/net" % pid] + [str(a) for a in argv]

