"""Command line: --version, --help, --check, the embedded default configuration."""

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

import sender
import tlslogd
from docrun import doc_files, with_files
from tlslogd import T, config, file_output, poll, run_cli, tcp_input, to_yaml, udp_input


def test_version():
    r = run_cli(["--version"])
    assert r.returncode == 0, r.stderr
    assert re.match(rb"^tlslogd \d+\.\d+\.\d+", r.stdout), r.stdout


def test_help():
    r = run_cli(["--help"])
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    assert b"-c" in text and b"--check" in text, text
    # What it does today, not what it did first (issue 11): TLS, RELP, forwarding.
    for word in (b"TLS (RFC 5425)", b"RELP", b"forwards", b"certificate, key"):
        assert word in text, (word, text)


def test_tlslog_help_names_relp():
    tlslog = os.path.join(tlslogd.BUILD, "tlslog")
    for argv in ([tlslog, "--help"], [tlslog, "send", "--help"]):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=T(20))
        assert r.returncode == 0, r.stderr
        assert b"RELP" in r.stdout, (argv, r.stdout)
        assert b"TLS" in r.stdout and b"TCP" in r.stdout and b"UDP" in r.stdout, r.stdout


def test_unknown_option_fails():
    r = run_cli(["--no-such-option"])
    assert r.returncode != 0


def test_check_ok(tmp_path):
    conf = tmp_path / "ok.yaml"
    conf.write_text(to_yaml(config(
        [tcp_input("t"), udp_input("u"), tlslogd.unix_input("x", tmp_path / "s.sock", socket_mode="0660")],
        [file_output("f", tmp_path / "{hostname}/{year}-{month}-{day}.log", format="rfc5424",
                     max_open_files=16, file_mode="0640", dir_mode="0750"),
         tlslogd.stdout_output("o")],
        routes=[{"from": ["t", "u"], "to": ["f"]}, {"from": ["x"], "to": ["o", "f"]}],
        workers=2, port_file=str(tmp_path / "ports"), stats_interval="10s")) + "\n")
    r = run_cli(["-c", str(conf), "--check"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "%s: configuration OK" % conf
    # --check only validates: it binds nothing and writes nothing
    assert not (tmp_path / "ports").exists()
    assert not (tmp_path / "s.sock").exists()


def _check_errors(tmp_path, text):
    conf = tmp_path / "bad.yaml"
    conf.write_text(text)
    r = run_cli(["-c", str(conf), "--check"])
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert b"configuration OK" not in r.stdout
    lines = [l for l in r.stderr.decode(errors="replace").splitlines() if l.strip()]
    return conf, lines


def _has(lines, conf, lineno, *words):
    pre = "%s:%d:" % (conf, lineno)
    for l in lines:
        if pre in l and all(w in l for w in words):
            return True
    return False


BAD_CONF = """\
workers: 2
inputs:
  - name: a
    transport: tcpx
    listen: "127.0.0.1:0"
  - name: b
    transport: udp
    listen: "127.0.0.1:0"
    max_message_size: "12 parsecs"
outputs:
  - name: o
    type: file
    path: out.log
    format: bogus
  - name: p
    type: file
    path: out2.log
    flush_interval: "soon"
routes:
  - from: [a, nosuchinput]
    to: [o]
"""


def test_check_reports_every_error_with_file_line_and_key(tmp_path):
    conf, lines = _check_errors(tmp_path, BAD_CONF)
    msg = "\n".join(lines)
    assert _has(lines, conf, 4, "transport"), msg
    assert _has(lines, conf, 9, "max_message_size"), msg
    assert _has(lines, conf, 14, "format"), msg
    assert _has(lines, conf, 18, "flush_interval"), msg
    assert _has(lines, conf, 20, "nosuchinput"), msg


@pytest.mark.parametrize("text,lineno,word", [
    ("inputs:\n  - name: a\n    transport: tcp\n    listne: \"127.0.0.1:0\"\noutputs:\n"
     "  - name: o\n    type: stdout\n", 4, "listne"),
    ("log_level: loud\ninputs:\n  - name: a\n    transport: udp\n    listen: \"127.0.0.1:0\"\n"
     "outputs:\n  - name: o\n    type: stdout\n", 1, "log_level"),
    ("inputs:\n  - name: a\n    transport: udp\n    listen: \"127.0.0.1:0\"\n"
     "  - name: a\n    transport: tcp\n    listen: \"127.0.0.1:0\"\noutputs:\n"
     "  - name: o\n    type: stdout\n", 5, "a"),
    ("inputs:\n  - name: a\n    transport: tcp\n    listen: \"127.0.0.1:0\"\n    framing: magic\n"
     "outputs:\n  - name: o\n    type: stdout\n", 5, "framing"),
    ("inputs:\n  - name: a\n    transport: tcp\n    listen: \"127.0.0.1:99999\"\n"
     "outputs:\n  - name: o\n    type: stdout\n", 4, "listen"),
    ("inputs:\n  - name: a\n    transport: tcp\n    listen: \"127.0.0.1:0\"\n"
     "outputs:\n  - name: o\n    type: file\n    path: \"x/{nosuchvar}.log\"\n", 8, "path"),
    ("inputs:\n  - name: a\n    transport: tcp\n    listen: \"127.0.0.1:0\"\n"
     "outputs:\n  - name: o\n    type: files\n", 7, "type"),
])
def test_check_single_error(tmp_path, text, lineno, word):
    conf, lines = _check_errors(tmp_path, text)
    assert _has(lines, conf, lineno, word), "\n".join(lines)


def test_check_yaml_syntax_error(tmp_path):
    conf, lines = _check_errors(tmp_path, "inputs:\n  - name: a\n    transport: [tcp\noutputs: {\n")
    assert any(l.startswith("%s:" % conf) and re.match(r"^%s:\d+:" % re.escape(str(conf)), l)
               for l in lines), lines


def test_check_missing_file(tmp_path):
    r = run_cli(["-c", str(tmp_path / "nope.yaml"), "--check"])
    assert r.returncode == 1
    assert str(tmp_path / "nope.yaml").encode() in r.stderr


@pytest.fixture(scope="module")
def doc_certs(tmp_path_factory):
    return doc_files(tmp_path_factory.mktemp("doc-pki"))


@pytest.mark.peers("openssl")
def test_examples_pass_check(tmp_path, doc_certs):
    """Each example, with the files it names made (/etc/tlslogd/ moved under tmp_path, as
    docs/configuration.md says), passes --check."""
    examples = sorted(glob.glob(os.path.join(tlslogd.SRC, "examples", "*.yaml")))
    assert examples, "no examples/*.yaml"
    bad = []
    for ex in examples:
        work = tmp_path / os.path.basename(ex)[:-5]
        work.mkdir()
        conf = work / os.path.basename(ex)
        conf.write_text(with_files(Path(ex).read_text(), work, doc_certs))
        r = run_cli(["-c", str(conf), "--check"], cwd=str(work))
        if r.returncode != 0 or b"configuration OK" not in r.stdout:
            bad.append("%s: rc=%d\n%s" % (ex, r.returncode, r.stderr.decode(errors="replace")))
    assert not bad, "\n".join(bad)


def test_embedded_default_config(tmp_path, daemon):
    """No -c: TCP and UDP on 127.0.0.1:5514, file tlslogd-logs/{hostname}.log (rfc3164)
    relative to the cwd. The fixed port is why it runs in a network namespace of its own
    (as root: parallel tests, or anything else on the host, may hold 5514); elsewhere it
    needs 5514 free on the host's loopback and skips when it is not."""
    wrap = tlslogd.private_net_wrap()
    if wrap is None and not tlslogd.port_is_free(5514):
        pytest.skip("not root (no private network namespace) and port 5514 is in use")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    d = daemon("", name="default", start=False, args=[], cwd=str(cwd), wrap=wrap)
    d.start(wait=False)
    d.wait_log(r"input tcp: listening on 127\.0\.0\.1 port 5514 \(tcp\)", T(20))
    d.wait_log(r"input udp: listening on 127\.0\.0\.1 port 5514 \(udp\)", T(20))
    d.wait_log(r" started: ", T(20))

    def logger(*args):
        argv = ["logger"] + list(args)
        if wrap is not None:
            argv = tlslogd.in_netns(d.proc.pid, argv)
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=T(20))
        assert r.returncode == 0, r.stderr

    token = uuid.uuid4().hex
    logger("--tcp", "-n", "127.0.0.1", "-P", "5514", "-t", "e2etag", "default tcp " + token)
    logger("--udp", "-n", "127.0.0.1", "-P", "5514", "-t", "e2etag", "default udp " + token)

    def files():
        d.check_alive("waiting for its file")
        return glob.glob(str(cwd / "tlslogd-logs" / "*.log"))
    fs = poll(files, T(15), "tlslogd-logs/*.log")
    assert len(fs) == 1, fs
    host = os.path.basename(fs[0])[:-4]
    assert host in (socket.gethostname(), socket.gethostname().split(".")[0]), fs
    lines = d.wait_file_lines(fs[0], 2)
    assert d.stop() == 0
    lines = tlslogd.read_lines(fs[0])
    assert len(lines) == 2, lines
    for proto in ("tcp", "udp"):
        pat = (r"^[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d %s e2etag(\[\d+\])?: default %s %s$"
               % (re.escape(host), proto, token))
        assert sum(1 for l in lines if re.match(pat, l.decode())) == 1, (pat, lines)


def _wait_exit(d):
    poll(lambda: not d.alive(), T(20), "%s to exit" % d.name)
    d.nonzero_exit_ok = True
    return d.proc.returncode


def test_start_fails_when_port_in_use(daemon, tmp_path):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        conf = config([dict(name="t", transport="tcp", listen="127.0.0.1:%d" % port)],
                      [file_output("o", tmp_path / "o.log")])
        d = daemon(conf, start=False)
        d.start(wait=False)
        rc = _wait_exit(d)
    finally:
        blocker.close()
    assert rc != 0
    assert re.search(r"^\S+ error .*%d" % port, d.log_text(), re.M), d.log_text()


def test_start_fails_on_too_long_unix_path(daemon, tmp_path):
    p = tmp_path / ("x" * 120 + ".sock")
    d = daemon(config([tlslogd.unix_input("x", p)], [file_output("o", tmp_path / "o.log")]), start=False)
    d.start(wait=False)
    assert _wait_exit(d) != 0
    assert "too long" in d.log_text() and str(d.conf_path) + ":" in d.log_text(), d.log_text()


# ---------------------------------------------------------------------------------------------
# --check: the files a configuration names, YAML indentation, the implicit anon input

TLS_CONF = """\
tls:
  ca_file: ca.pem
  cert_file: missing.pem
  key_file: keys
inputs:
  - name: tls-in
    transport: tls
    listen: "127.0.0.1:0"
    tls:
      auth: certvalid
      crl_file: /nonexistent/crl.pem
outputs:
  - name: o
    type: file
    path: out.log
"""


def test_check_reports_unreadable_tls_files(tmp_path, daemon):
    """--check opens every certificate, key, CA and CRL file and says which cannot be read,
    where it is set and what to do; the daemon refuses to start the same way."""
    (tmp_path / "ca.pem").write_text("(the file exists: --check only opens it)\n")
    (tmp_path / "keys").mkdir()
    conf = tmp_path / "tls.yaml"
    conf.write_text(TLS_CONF)
    r = run_cli(["-c", str(conf), "--check"], cwd=str(tmp_path))
    assert r.returncode == 1, r
    assert b"configuration OK" not in r.stdout
    err = r.stderr.decode()
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert lines[0] == (
        "%s:3: tls.cert_file: cannot read file 'missing.pem' (relative to the working "
        "directory %s): No such file or directory; cert_file must name this side's certificate "
        "in PEM, then its intermediates (tlslog cert issue makes one): fix the path or put the "
        "file there" % (conf, tmp_path)), lines[0]
    assert lines[1].startswith("%s:4: tls.key_file: cannot read file 'keys'" % conf), lines[1]
    assert "it is a directory, not a file" in lines[1], lines[1]
    assert lines[2].startswith("%s:11: inputs[0] (tls-in).tls.crl_file: cannot read file "
                               "'/nonexistent/crl.pem': No such file or directory; crl_file "
                               "must name" % conf), lines[2]
    # Starting: the same lines, nothing bound, exit status 1.
    d = daemon(TLS_CONF, name="nofiles", start=False, cwd=str(tmp_path))
    d.start(wait=False)
    poll(lambda: not d.alive(), T(20), "tlslogd to refuse to start")
    d.nonzero_exit_ok = True
    assert d.proc.returncode == 1
    assert "tls.cert_file: cannot read file 'missing.pem'" in d.log_text(), d.log_text()
    assert "listening" not in d.log_text()


def test_check_unreadable_key_as_another_user(tmp_path):
    """A key the daemon's user cannot read (the usual mistake with a 0600 key owned by root)
    is found by --check, with the remedy. Runs --check as nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run --check as another user")
    # Outside pytest's 0700 tmp tree: nobody must reach the configuration and the certificate.
    d = Path(tempfile.mkdtemp(prefix="tlslogd-e2e-"))
    try:
        d.chmod(0o755)
        key = d / "key.pem"
        key.write_text("-----BEGIN PRIVATE KEY-----\n")
        key.chmod(0o600)
        cert = d / "cert.pem"
        cert.write_text("x\n")
        cert.chmod(0o644)
        conf = d / "k.yaml"
        conf.write_text("inputs:\n  - name: t\n    transport: tls\n    listen: \"127.0.0.1:0\"\n"
                        "    tls: {cert_file: %s, key_file: %s}\n"
                        "outputs:\n  - {name: o, type: stdout}\n" % (cert, key))
        conf.chmod(0o644)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            tlslogd.BINARY, "-c", str(conf), "--check"], cwd="/",
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=T(20))
    finally:
        shutil.rmtree(d)
    assert r.returncode == 1, r
    assert r.stderr.decode().strip() == (
        "%s:5: inputs[0] (t).tls.key_file: cannot read file '%s': Permission denied; let the "
        "user tlslogd runs as read it (chown, or a group it is in with chmod 640)" % (conf, key))


def test_check_hints_at_yaml_indentation(tmp_path):
    conf, lines = _check_errors(tmp_path, "inputs:\n  - name: a\n     transport: udp\n"
                                          "outputs:\n  - {name: o, type: stdout}\n")
    assert lines == [
        "%s:3: YAML syntax error at column 15: mapping values are not allowed in this context; "
        "check the indentation of line 3: its text starts in column 6, that of line 2 above it "
        "in column 5 (the keys of one mapping, and the items of one list, start in the same "
        "column; what belongs to a key is indented further); or, if its value contains ': ', "
        "quote the value" % conf], lines


def test_check_refuses_implicit_anon_input(tmp_path):
    """Issue 12: a CA configured and no auth on an input would let anyone in."""
    conf, lines = _check_errors(tmp_path, """\
tls:
  ca_file: /etc/ssl/certs/ca-certificates.crt
inputs:
  - name: tls-in
    transport: tls
    listen: "127.0.0.1:0"
    tls: {cert_file: /etc/hostname, key_file: /etc/hostname}
outputs:
  - {name: o, type: stdout}
""")
    assert lines == [
        "%s:4: inputs[0] (tls-in).tls: a CA is configured (tls.ca_file, here or at the top "
        "level) but no tls.auth, so any client would be accepted, with or without a "
        "certificate; set auth: certvalid, name or fingerprint, or auth: anon to accept anyone"
        % conf], lines


def test_file_sync_words(tmp_path, daemon):
    """A file output's sync takes the queue's words: always and none (true and false still
    work); interval is refused with the reason. Messages arrive with sync: always."""
    out = tmp_path / "out.log"
    conf, lines = _check_errors(tmp_path, to_yaml(config(
        [tcp_input("t")], [file_output("o", out, sync="interval")])) + "\n")
    assert len(lines) == 1 and lines[0].endswith(
        "outputs[0] (o).sync: interval is for a forward output's disk queue (queue.sync); a "
        "file output has no sync timer: choose always (fsync after every batch) or none (the "
        "kernel writes when it likes)"), lines
    outs = {w: tmp_path / ("%s.log" % w) for w in ("always", "none", "true", "false")}
    d = daemon(config([tcp_input("t")],
                      [file_output(w, p, sync=w if w in ("always", "none") else w == "true")
                       for w, p in outs.items()]))
    token = uuid.uuid4().hex
    sender.logger_tcp(d.port("t"), "-t", "synctest", token)
    for p in outs.values():
        lines = d.wait_file_lines(p, 1)
        assert token.encode() in lines[0], lines

