"""Running the documentation's shell blocks as a reader would (README.md, docs/tls.md).

A Reader runs the lines of fenced `sh` blocks in one working directory, in document order,
exactly as written, with bash (`-euo pipefail`), the build's tlslogd and tlslog first in PATH.
What it does beyond a reader's terminal, and why:

- Ports: the documented ports (6514, ...) are replaced by free ones, as whole numbers only
  (`localize`), so that tests can run in parallel. Nothing else in the text is changed.
- A line that starts a program in the background (`CMD ... &`) is started by PID and waited
  for: `tlslogd -c FILE &` through the `daemon` fixture, anything else (rsyslogd, syslog-ng)
  as `bash -c "exec CMD"` until every unix socket its configuration file names exists and it
  listens on every port that file names that nothing else listens on. Everything is stopped
  by PID at the end.
- rsyslogd is the one in .deps/rsyslog (the project unpacks it there, see
  scripts/install-peers): a `rsyslogd` wrapper first in PATH adds `-M MODULE_DIR`, which an
  rsyslog installed by its package does not need.
- `cat FILE` runs once FILE holds every message that the block's `logger` and `tlslog send`
  lines sent since the previous `cat` (or what the caller's cat_ready waits for).
- A here-document (`cat > FILE <<EOF` ... `EOF`) is one command, run as written.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import tlslogd
from peers import rsyslog
from peers.ports import listens, wait_listening
from peers.procs import Proc, wait_for
from tlslogd import SANITIZER_MARKERS, T, poll

BUILD = Path(tlslogd.BUILD) if tlslogd.BUILD else None


def section(text, heading):
    """From heading to the next heading of the same level (or the end)."""
    start = text.index(heading)
    level = heading.split(" ", 1)[0]
    nxt = text.find("\n%s " % level, start + len(heading))
    return text[start:nxt if nxt >= 0 else len(text)]


def fenced(text):
    """(lang, body, preceding text) for each fenced block, in order."""
    return [(m.group(1), m.group(2), text[:m.start()])
            for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def yaml_name(before):
    """The file name a YAML block is saved as: the last `NAME.yaml` mentioned before it."""
    names = re.findall(r"`([\w.-]+\.yaml)`", before[-400:])
    assert names, "a YAML block is not introduced by its file name"
    return names[-1]


def shell_lines(body):
    """Logical lines of a shell block: backslash continuations joined, blank lines and
    comments skipped, a here-document kept whole (with its body and terminator)."""
    out = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1].rstrip() + " " + lines[i].lstrip()
            i += 1
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?\s*$", line)
        if m:
            doc = [line]
            while i < len(lines) and lines[i].strip() != m.group(1):
                doc.append(lines[i])
                i += 1
            assert i < len(lines), "here-document %s is not terminated" % m.group(1)
            doc.append(lines[i])
            i += 1
            line = "\n".join(doc)
        out.append(line)
    return out


def env_with_build(extra_path=None):
    e = dict(os.environ)
    path = [str(BUILD)] + ([str(extra_path)] if extra_path else [])
    e["PATH"] = ":".join(path + [e.get("PATH", "/usr/bin:/bin")])
    e["TZ"] = "UTC"
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    return e


def sent_message(line):
    """The message a `logger` or `tlslog send` line sends (its last quoted argument)."""
    if not re.match(r"^(logger|tlslog send)\b", line):
        return None
    quoted = re.findall(r'"([^"]*)"', line)
    return quoted[-1] if quoted else None


class Reader:
    """Runs documentation shell lines in work, like a reader's terminal (bounded)."""

    def __init__(self, work, daemon, ports):
        self.work, self.daemon = Path(work), daemon
        self.ports = {str(k): v for k, v in ports.items()}  # documented port -> free port
        self.daemons = {}     # tlslogd started by the fixture, by config name
        self.peers = []       # other background programs (Proc), in start order
        self.outputs = []     # the output of every run, in order
        self.sent = []        # messages sent since the last cat
        self.bin = self.work.parent / (self.work.name + "-bin")
        self.bin.mkdir(exist_ok=True)
        wrapper = self.bin / "rsyslogd"
        wrapper.write_text('#!/bin/sh\nexec %s -M %s "$@"\n' % (rsyslog.RSYSLOGD,
                                                                rsyslog.MODDIR))
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)

    def localize(self, text):
        if not self.ports:
            return text
        pat = r"(?<!\d)(%s)(?!\d)" % "|".join(re.escape(p) for p in self.ports)
        return re.sub(pat, lambda m: str(self.ports[m.group(1)]), text)

    def env(self):
        return env_with_build(self.bin)

    def run(self, lines):
        if not lines:
            return ""
        script = "\n".join(self.localize(l) for l in lines) + "\n"
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=str(self.work),
                           env=self.env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=T(60))
        out = r.stdout.decode(errors="replace")
        for m in SANITIZER_MARKERS:
            assert m not in out, "sanitizer report from:\n%s\n%s" % (script, out)
        assert r.returncode == 0, "documented commands failed (%d):\n%s\n%s" % (
            r.returncode, script, out)
        self.outputs.append(out)
        return out

    def start(self, line):
        line = self.localize(line.strip())
        m = re.match(r"^tlslogd -c ([\w.-]+\.yaml)\s*&$", line)
        if m:
            conf = m.group(1)
            name = conf[:-len(".yaml")]
            d = self.daemon((self.work / conf).read_text(), name=name, start=False,
                            cwd=str(self.work), args=["-c", conf])
            d.start(wait=False)
            d.wait_log(r" started: ", T(20))
            self.daemons[name] = d
            return d
        cmd = line[:-1].strip()
        name = "bg%d-%s" % (len(self.peers) + 1, os.path.basename(cmd.split()[0]))
        p = Proc(["bash", "-c", "exec " + cmd], self.work.parent / (name + ".log"),
                 env=self.env(), cwd=str(self.work), name=name).start()
        self.peers.append(p)
        self._wait_ready(p, cmd)
        return p

    def _wait_ready(self, p, cmd):
        """Until the program made every unix socket and listener its configuration names."""
        m = re.search(r"-f\s+\"?([^\s\"]+)", cmd)
        conf = ""
        if m:
            path = m.group(1).replace("$PWD", str(self.work))
            conf = (self.work / path).read_text()
        socks = re.findall(r'(?:Socket="|unix-dgram\("|AddUnixListenSocket\s+)([^"\s)]+)', conf)
        for s in socks:
            wait_for(lambda: Path(s).exists() or not p.alive(), T(20), "socket %s" % s)
        for port in {int(x) for x in re.findall(r'port[=(]"?(\d+)', conf)}:
            if not listens(port):
                wait_listening(port, T(20), proc=p)
        assert p.alive(), "%s exited at start; log:\n%s" % (p.name, p.log_tail())

    def cat_ready_default(self, path):
        want = list(self.sent)
        poll(lambda: path.exists() and all(w in path.read_text(errors="replace")
                                           for w in want),
             T(30), "%s to hold %r; background logs:\n%s" % (path, want, self.logs()))

    def logs(self):
        parts = []
        for p in self.peers:
            parts.append("--- %s\n%s" % (p.name, p.log_tail()))
        for n, d in self.daemons.items():
            parts.append("--- %s\n%s" % (n, d.log_tail(20)))
        return "\n".join(parts)

    def block(self, body, cat_ready=None):
        """Runs one shell block: background programs by PID, `cat FILE` once it is ready."""
        cat_ready = cat_ready or self.cat_ready_default
        pending = []
        for line in shell_lines(body):
            if line.rstrip().endswith("&") and "\n" not in line:
                self.run(pending)
                pending = []
                self.start(line)
            elif re.match(r"^cat [\w./-]+$", line):
                self.run(pending)
                pending = []
                cat_ready(self.work / line.split()[1])
                self.sent = []
                self.run([line])
            else:
                msg = sent_message(line)
                if msg is not None:
                    self.sent.append(msg)
                pending.append(line)
        self.run(pending)

    def stop_all(self):
        """Stops the background programs (not the fixture's daemons) in reverse order;
        returns their exit codes."""
        return [p.stop() for p in reversed(self.peers)]


# ---------------------------------------------------------------------------------------------
# Documented configurations checked with --check, which reads every file they name.

ETC = "/etc/tlslogd/"
FILE_KEYS = ("ca_file", "ca_dir", "cert_file", "key_file", "key_password_file", "crl_file")


def doc_files(directory):
    """Real files to stand for the ones documented configurations name: {key: path}."""
    from peers.certs import Pki
    pki = Pki(directory)
    leaf = pki.leaf("doc", dns=["doc.example.net"])
    pw = Path(directory) / "password"
    pw.write_text("not used: the key is not encrypted\n")
    return {"ca_file": pki.ca.cert, "ca_dir": pki.ca_dir("cas", pki.ca),
            "cert_file": leaf.cert, "key_file": leaf.key, "crl_file": pki.crl(),
            "key_password_file": str(pw)}


def with_files(text, root, files):
    """The configuration text with /etc/tlslogd/ moved under root (docs/configuration.md
    says so), and every file or directory its TLS keys name created there, or relative to
    root (the working directory of the check), as a copy of files[key] (see doc_files)."""
    root = Path(root)
    text = text.replace(ETC, str(root) + ETC)
    # The Debian package's system user (examples/loghost.yaml) exists where the package is
    # installed (tests/e2e/test_deb.py checks it there); here a user every host has stands in.
    text = re.sub(r"(?m)^(user|group):([ \t]+)_tlslogd\b",
                  lambda m: "%s:%s%s" % (m.group(1), m.group(2),
                                         "nobody" if m.group(1) == "user" else "nogroup"), text)
    for key, value in re.findall(r"(?:^|[{,])[ \t]*(?:-[ \t]+)?(\w+):[ \t]*\"?([^\s\",}#]+)",
                                 text, re.M):
        if key not in FILE_KEYS or value == "system":
            continue
        path = Path(value) if value.startswith("/") else root / value
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if key == "ca_dir":
            shutil.copytree(files[key], path, symlinks=True)
        else:
            shutil.copyfile(files[key], path)
    return text
