"""Bounded process control for peers: output always goes to files, never to an unread pipe;
every wait has a deadline; processes are stopped by their own PID (SIGTERM, wait, SIGKILL)."""

import os
import signal
import subprocess
import time
from pathlib import Path

# Multiplies every default timeout (slow machines / sanitizer runs next to us).
SCALE = float(os.environ.get("PEERS_TIMEOUT_SCALE") or os.environ.get("TLSLOGD_TIMEOUT_SCALE") or 1)


def T(seconds):
    return seconds * SCALE


class Timeout(AssertionError):
    pass


def wait_for(cond, timeout, what="condition", interval=0.02, max_interval=0.2):
    """Calls cond() until it returns something truthy (which is returned); raises Timeout
    (an AssertionError) naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        left = end - time.monotonic()
        if left <= 0:
            raise Timeout("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(min(interval, left))
        interval = min(interval * 1.5, max_interval)


def run(argv, timeout=None, check=True, input=None, env=None, cwd=None):
    """Runs a short command to completion (bounded); returns CompletedProcess (bytes).
    check=True raises RuntimeError with the command's stderr on a non-zero exit."""
    r = subprocess.run([str(a) for a in argv], input=input, env=env, cwd=cwd,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout or T(30))
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(map(str, argv)), r.returncode,
                                                  r.stdout.decode(errors="replace")[-2000:],
                                                  r.stderr.decode(errors="replace")[-4000:]))
    return r


class Proc:
    """One background process. stdout and stderr go to log_path (or stdout to stdout_path and
    stderr to log_path). Usable as a context manager (stop() on exit)."""

    def __init__(self, argv, log_path, stdout_path=None, env=None, cwd=None, name=None,
                 hold_stdin=False):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.stdout_path = Path(stdout_path) if stdout_path else None
        self.env = env
        self.cwd = cwd
        self.name = name or os.path.basename(self.argv[0])
        self.proc = None
        self.returncode = None
        # hold_stdin: stdin is a pipe we keep open (never written) instead of /dev/null, for
        # programs that treat stdin EOF specially (openssl s_server stops relaying data).
        self.hold_stdin = hold_stdin
        self._stdin_w = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        assert self.proc is None, "%s already started" % self.name
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stdin, r = subprocess.DEVNULL, None
        if self.hold_stdin:
            r, self._stdin_w = os.pipe()
            stdin = r
        with open(self.log_path, "ab") as log:
            out = open(self.stdout_path, "ab") if self.stdout_path else log
            try:
                self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=out,
                                             stderr=log, env=self.env, cwd=self.cwd,
                                             start_new_session=True)
            finally:
                if out is not log:
                    out.close()
                if r is not None:
                    os.close(r)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """Waits (bounded) for the process to exit; returns its exit status or raises Timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout("%s (pid %d) still running after %.1fs" % (self.name, self.pid, timeout))
        return self.returncode

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=None):
        """SIGTERM, bounded wait, then SIGKILL. Returns the exit status (None if never started).
        Only this process's PID is signalled."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout or T(5))
            except subprocess.TimeoutExpired:
                self.kill()
        self.returncode = self.proc.poll()
        self._close_stdin()
        return self.returncode

    def _close_stdin(self):
        if self._stdin_w is not None:
            os.close(self._stdin_w)
            self._stdin_w = None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.returncode = self.proc.poll()
        self._close_stdin()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        return "<Proc %s pid=%s>" % (self.name, self.pid)


class ProcGroup:
    """Collects started objects having .stop(); stop_all() stops them in reverse order and
    never raises from one stop before trying the others. For fixtures/teardown."""

    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)
        return item

    def stop_all(self):
        errors = []
        for it in reversed(self.items):
            try:
                it.stop()
            except Exception as e:  # noqa: BLE001 -- keep stopping the others
                errors.append("%r: %s" % (it, e))
        self.items = []
        return errors

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()
        return False
