"""What a new user sees first: `make demo`, the README's quick start, and the man pages.

- test_make_demo runs scripts/demo (what `make demo` runs after building) with this build
  and a temporary directory, bounded, and checks its summary and that it stopped what it
  started.
- test_readme_quickstart executes the README's "Quick start" section as a reader would, in
  an empty directory with the build's binaries first in PATH: the YAML blocks are saved under
  the names the README gives them, every shell line is run exactly as written, with one
  exception: a line that starts a daemon in the background (`tlslogd -c FILE &`) is replaced
  by starting `tlslogd -c FILE` through the `daemon` fixture (same file, same directory), so
  that it is waited for and stopped by PID. Port 6514 is replaced by a free port everywhere.
  `cat FILE` lines are run once FILE holds what the README says it will. The "tlslog"
  section's examples (probe, cert info, send), written against the quick start's loghost,
  are run the same way afterwards.
- test_man_pages: the man pages are in the build directory, render without warnings, and
  document every option of `tlslogd --help` and `tlslog ... --help` and every configuration
  key of docs/configuration.md.
"""

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

import tlslogd
from docrun import Reader, env_with_build, fenced, section, yaml_name
from peers.ports import free_port, wait_listening
from tlslogd import SANITIZER_MARKERS, T, poll

SRC = Path(tlslogd.SRC)
BUILD = Path(tlslogd.BUILD)


# ---------------------------------------------------------------------------------------------
# make demo

def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours would still answer kill 0
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_make_demo(tmp_path):
    work = tmp_path / "demo"
    p = subprocess.Popen(["bash", str(SRC / "scripts" / "demo"), str(BUILD), str(work)],
                         cwd=str(tmp_path), env=env_with_build(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=T(60))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # its own session: only what it started
        out, _ = p.communicate(timeout=10)
        pytest.fail("scripts/demo did not finish in %ss:\n%s" % (T(60), out.decode(
            errors="replace")[-4000:]))
    text = out.decode(errors="replace")
    assert p.returncode == 0, text[-6000:]
    for m in SANITIZER_MARKERS:
        assert m not in text, "sanitizer report in the demo's output:\n%s" % text[-6000:]
    for log in ("central.log", "relay.log"):
        for m in SANITIZER_MARKERS:
            assert m not in (work / log).read_text(), (log, m)
    summary = text[text.index("== summary"):]
    assert "FAILED" not in summary, summary
    for want in ("message 1/4 arrived", "message 4/4 arrived", "the rogue's tlslog send failed",
                 "the central logged why it refused the rogue", "nothing from the rogue",
                 "tlslog probe of the central succeeded", "both tlslogd stopped cleanly"):
        assert "ok      " + want in summary, (want, summary)
    assert re.search(r"^demo ok: ", summary, re.M), summary
    # what it showed
    assert "permitted_peers" in text and "TLS connection accepted" in text
    assert re.search(r"TLS handshake failed: .*'CN=Rogue CA'", text), text
    assert "result: ok" in text  # the probe
    log = (work / "central-logs" / "relay.example.net.log").read_text()
    assert len(log.splitlines()) == 4, log
    assert not (work / "central-logs" / "rogue.example.net.log").exists()
    # everything it started is gone
    pids = [int(x) for x in re.findall(r"tlslogd, PID (\d+)", text)]
    assert len(pids) == 2, text
    for pid in pids:
        assert not pid_alive(pid), "demo left PID %d running" % pid


# ---------------------------------------------------------------------------------------------
# README quick start

def test_readme_quickstart(tmp_path, daemon):
    readme = (SRC / "README.md").read_text()
    quick = section(readme, "## Quick start")
    blocks = fenced(quick)
    assert [b[0] for b in blocks].count("yaml") == 2, "the quick start has two configurations"
    work = tmp_path / "quickstart"
    work.mkdir()
    reader = Reader(work, daemon, {"6514": free_port()})
    reader.port = reader.ports["6514"]

    # What the README says will be in the file: the message parts of its example output.
    expected = [b[1] for b in blocks if b[0] == "text"]
    assert len(expected) == 1, "the quick start shows the log file's content once"
    expected = [re.sub(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ ", "", l)
                for l in expected[0].splitlines() if l.strip()]
    assert len(expected) >= 2, expected

    def file_ready(path):
        for d in reader.daemons.values():
            d.check_alive("waiting for %s" % path)
        poll(lambda: path.exists() and all(e in path.read_text() for e in expected), T(20),
             "%s to hold %r" % (path, expected))

    for lang, body, before in blocks:
        if lang == "yaml":
            (work / yaml_name(before)).write_text(reader.localize(body))
        elif lang == "sh":
            reader.block(body, cat_ready=file_ready)
            if "loghost" in reader.daemons and not getattr(reader, "_listening", False):
                wait_listening(reader.port, T(20))
                reader._listening = True
            if "web1" in reader.daemons and not getattr(reader, "_connected", False):
                reader.daemons["web1"].wait_log(r"connected to localhost:%d" % reader.port,
                                                T(20))
                reader._connected = True
    assert set(reader.daemons) == {"loghost", "web1"}, reader.daemons
    shown = reader.outputs[-1]  # the cat of the log file
    for e in expected:
        assert e in shown, (e, shown)
    # Mutually authenticated: the loghost names the sender by its certificate.
    loghost = reader.daemons["loghost"]
    assert re.search(r"TLS connection accepted .*authenticated peer CN=web1\.example\.net",
                     loghost.log_text()), loghost.log_tail()
    assert re.search(r"output loghost: TLS session with localhost:%d: .*server certificate "
                     r"CN=localhost" % reader.port, reader.daemons["web1"].log_text())

    # The tlslog section's examples, against the same loghost.
    tools = section(readme, "## tlslog")
    sh = {}
    for lang, body, before in fenced(tools):
        if lang == "sh":
            sub = before[before.rfind("\n### "):]
            sh[sub.split("\n")[1].split(":")[0]] = body
    assert set(sh) == {"### tlslog probe", "### tlslog cert info", "### tlslog send"}, sh.keys()
    reader.block(sh["### tlslog probe"])
    assert "result: ok" in reader.outputs[-1], reader.outputs[-1]
    reader.block(sh["### tlslog cert info"])
    assert "DNS:web1.example.net" in reader.outputs[-1], reader.outputs[-1]
    assert "SHA256:" in reader.outputs[-1]
    reader.block(sh["### tlslog send"])
    assert "refused, exit status 1" in reader.outputs[-1], reader.outputs[-1]
    out = work / "central-logs" / "web1.example.net.log"
    poll(lambda: all(s in out.read_text() for s in ("first line", "second line",
                                                     "load test seq=100")),
         T(20), "the tlslog send examples in %s" % out)
    assert "let me in" not in out.read_text()
    assert not (work / "central-logs" / "intruder.example.net.log").exists()
    assert re.search(r"TLS handshake failed: .*'CN=Other CA'", loghost.log_text())

    # Stop the sender first (the loghost would otherwise go away under it), then the loghost.
    assert reader.daemons["web1"].stop() == 0
    assert loghost.stop() == 0


# ---------------------------------------------------------------------------------------------
# man pages

PAGES = ["tlslogd.8", "tlslog.1", "tlslogd.yaml.5"]


def man_text(name):
    return (SRC / "man" / name).read_text()


def roff_has(page, word):
    """True if the roff source mentions word (hyphens written as \\- or -)."""
    return word.replace("-", "\\-") in page or word in page


def test_man_pages_ship_with_the_build():
    version = re.search(r"project\(tlslogd VERSION ([\d.]+)",
                        (SRC / "CMakeLists.txt").read_text()).group(1)
    for name in PAGES:
        built = BUILD / "man" / name
        assert built.is_file(), "%s is not in the build directory" % built
        assert built.read_text() == man_text(name), "%s differs from man/%s" % (built, name)
        th = re.search(r"^\.TH .*$", man_text(name), re.M).group(0)
        assert '"tlslogd %s"' % version in th, "man/%s: .TH says %r, the version is %s" % (
            name, th, version)


@pytest.mark.peers("groff")
@pytest.mark.parametrize("name", PAGES)
def test_man_page_renders_without_warnings(name):
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(SRC / "man" / name)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(30))
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode(errors="replace")
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(SRC / "man" / name)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(30))
    text = re.sub(r".\x08", "", r.stdout.decode(errors="replace"))
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(r"^%s$" % heading, text, re.M), (name, heading)


def help_options(*argv):
    r = subprocess.run([str(BUILD / argv[0])] + list(argv[1:]) + ["--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=T(30))
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", r.stdout.decode()))


def test_man_pages_document_every_option_and_key():
    page = man_text("tlslogd.8")
    for opt in help_options("tlslogd") | {"-c"}:
        assert roff_has(page, opt), "tlslogd.8 lacks %s" % opt
    for sig in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1"):
        assert sig in page, sig
    for sec in ("OPTIONS", "SIGNALS", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert ".SH %s" % sec in page, sec

    page = man_text("tlslog.1")
    commands = [("send",), ("probe",), ("cert", "ca"), ("cert", "issue"),
                ("cert", "self-signed"), ("cert", "revoke"), ("cert", "info")]
    for cmd in commands:
        assert roff_has(page, "tlslog " + " ".join(cmd)), "tlslog.1 lacks tlslog %s" % (cmd,)
        for opt in help_options("tlslog", *cmd) - {"--help"}:
            assert roff_has(page, opt), "tlslog.1 lacks %s of tlslog %s" % (opt, " ".join(cmd))
    assert ".SH EXIT STATUS" in page

    page = man_text("tlslogd.yaml.5")
    conf = (SRC / "docs" / "configuration.md").read_text()
    ref = conf[conf.index("<!-- BEGIN KEY REFERENCE"):conf.index("<!-- END KEY REFERENCE")]
    keys = set(re.findall(r"^\| `([a-z_]+)` \|", ref, re.M))
    placeholders = set(re.findall(r"^\| `(\{[a-z_]+\})` \|", ref, re.M))
    assert len(keys) > 40 and len(placeholders) > 8
    for k in keys | placeholders:
        assert "\\fB%s\\fP" % k in page, "tlslogd.yaml.5 does not describe %s" % k
    for sec in ("TOP LEVEL", "TLS", "AUTHENTICATION MODES", "INPUTS", "OUTPUTS", "QUEUE",
                "ROUTES", "EXAMPLES"):
        assert ".SH %s" % sec in page, sec
