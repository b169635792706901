"""testssl.sh against a tlslogd TLS input at default settings (issue 12, point 6): the
protocol, cipher and vulnerability groups report nothing above OK/INFO, except what a private
test CA causes (chain of trust, CRL/OCSP URIs, which the protocol and cipher groups do not
judge anyway). testssl.sh is installed by scripts/install-deps (package testssl.sh): a
missing one fails the test.
"""

import json
import os
import shutil
import subprocess

from peers.certs import Pki
from tlslogd import T, config, file_output

# Findings that only a public CA could avoid: trust in the test CA, revocation URIs.
PRIVATE_CA_IDS = ("cert_chain_of_trust", "cert_crlDistributionPoints", "cert_ocspURL",
                  "OCSP_stapling", "cert_trust", "cert_caIssuers")
OK_SEVERITIES = ("OK", "INFO", "DEBUG")
# Notes about testssl's own tools, not the server: Debian's openssl has no GOST engine and no
# RC4 (RC4 is still checked through testssl's own sockets, in the LOW cipher category).
TOOL_NOTES = ("No engine or GOST support", "not supported by local OpenSSL")


def test_testssl_default_settings(daemon, tmp_path):
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    assert testssl, "testssl.sh is not installed (scripts/install-deps installs it)"
    pki = Pki(tmp_path / "pki")
    srv = pki.leaf("server", dns=["server.test"], ip=["127.0.0.1"])
    inp = dict(name="tls-in", transport="tls", listen="127.0.0.1:0",
               tls=dict(cert_file=srv.cert, key_file=srv.key))
    d = daemon(config([inp], [file_output("f", tmp_path / "out.log")]))
    port = d.port("tls-in")
    report = tmp_path / "testssl.json"
    env = dict(os.environ, TERM="dumb")
    # Protocols, cipher categories and vulnerabilities only (about a minute, not three).
    argv = [testssl, "--quiet", "--color", "0", "--warnings", "off", "--fast", "-p", "-s", "-U",
            "--jsonfile", str(report), "--connect-timeout", "10", "--openssl-timeout", "10",
            "127.0.0.1:%d" % port]
    r = subprocess.run(argv, cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=T(300))
    text = r.stdout.decode(errors="replace")
    assert report.exists(), "testssl wrote no JSON (rc %d):\n%s" % (r.returncode, text[-3000:])
    findings = json.loads(report.read_text())
    assert len(findings) > 20, "testssl found almost nothing to report:\n%s" % text[-3000:]
    ids = {f.get("id") for f in findings}
    # it did test what we asked for
    for want in ("SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipherlist_3DES_IDEA",
                 "cipherlist_AVERAGE", "BEAST", "LUCKY13", "ROBOT", "heartbleed"):
        assert want in ids, "testssl did not report %s:\n%s" % (want, text[-3000:])
    bad = [f for f in findings
           if f.get("severity") not in OK_SEVERITIES and f.get("id") not in PRIVATE_CA_IDS
           and not str(f.get("id", "")).startswith("scanProblem")
           and not any(n in str(f.get("finding", "")) for n in TOOL_NOTES)]
    assert not bad, "testssl findings above OK/INFO:\n%s\n\n%s" % (
        "\n".join("%s %s: %s" % (f.get("severity"), f.get("id"), f.get("finding"))
                  for f in bad), text[-4000:])
    problems = [f for f in findings if str(f.get("id", "")).startswith("scanProblem")]
    assert not problems, "testssl could not scan: %r" % problems
    assert d.alive()
