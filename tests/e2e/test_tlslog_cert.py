"""`tlslog cert`: CA, issued and self-signed certificates, CRLs and `cert info`, checked
against the openssl command line tool and a real TLS handshake (openssl s_server/s_client).

Every subprocess is bounded; the one server started is stopped by its PID.
"""

import datetime
import os
import re
import select
import stat
import subprocess

import pytest

import tlslogd
from tlslogd import SANITIZER_MARKERS, T

TLSLOG = os.path.join(tlslogd.BUILD, "tlslog")


def tlslog(*args, cwd=None):
    """Runs tlslog to completion; fails the test on any sanitizer report."""
    env = dict(os.environ)
    env["TZ"] = "UTC"
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    r = subprocess.run([TLSLOG] + [str(a) for a in args], cwd=cwd, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=T(60), text=True)
    for m in SANITIZER_MARKERS:
        assert m not in r.stderr, "sanitizer report from tlslog %s:\n%s" % (args, r.stderr)
    return r


def ok(*args, cwd=None):
    r = tlslog(*args, cwd=cwd)
    assert r.returncode == 0, "tlslog %s: rc=%d\n%s%s" % (args, r.returncode, r.stdout, r.stderr)
    return r


def openssl(*args, check=True, input=None):
    r = subprocess.run(["openssl"] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, text=True, input=input,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, "openssl %s: rc=%d\n%s%s" % (args, r.returncode, r.stdout,
                                                              r.stderr)
    return r


def x509_field(path, *opts):
    """Output of `openssl x509 -noout OPTS`, e.g. x509_field(p, "-serial") -> "serial=AB..."."""
    return openssl("x509", "-in", path, "-noout", *opts).stdout.strip()


def ossl_date(text):
    # "notAfter=Nov  3 10:00:00 2026 GMT" (day may be space-padded)
    value = " ".join(text.split("=", 1)[1].split())
    return datetime.datetime.strptime(value, "%b %d %H:%M:%S %Y GMT")


def our_date(text):
    # "2026-11-03 10:00:00 UTC"
    return datetime.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S UTC")


def ossl_fingerprint(path, alg):
    # "sha256 Fingerprint=AB:CD:..." -> "SHA256:AB:CD:..."
    line = x509_field(path, "-fingerprint", "-" + alg)
    return alg.upper() + ":" + line.split("=", 1)[1].strip()


def parse_info(text):
    """`tlslog cert info` output -> list of {field: [values]}, one per certificate."""
    certs = []
    last = None
    for line in text.splitlines():
        m = re.match(r"^certificate (\d+) of (\d+) in (.+)$", line)
        if m:
            certs.append({"#": [m.group(1), m.group(2)]})
            continue
        m = re.match(r"^  (\S[^:]*):\s+(.*)$", line)
        if m and certs:
            last = m.group(1)
            certs[-1].setdefault(last, []).append(m.group(2))
            continue
        m = re.match(r"^\s{3,}(\S.*)$", line)
        if m and certs and last:
            certs[-1][last].append(m.group(1))
    return certs


def make_ca(tmp_path, key="ec", name="ca", *extra):
    d = tmp_path / name
    ok("cert", "ca", "--out", d, "--key", key, *extra)
    return d


def issue(ca_dir, out, *names, key="ec", extra=()):
    args = ["cert", "issue", "--ca", ca_dir, "--out", out, "--key", key]
    for n in names:
        args += ["--ip", n[3:]] if n.startswith("ip:") else ["--name", n]
    return ok(*args, *extra)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def snapshot(*paths):
    return {str(p): p.read_bytes() for p in paths}


# ---- the dispatcher and help ----------------------------------------------------------------

def test_help_lists_commands():
    r = ok("--help")
    assert "cert" in r.stdout
    r = ok("cert", "--help")
    for sub in ("ca", "issue", "self-signed", "revoke", "info"):
        assert re.search(r"^  %s\s" % re.escape(sub), r.stdout, re.M), r.stdout
        h = ok("cert", sub, "--help")
        assert h.stdout.startswith("usage: tlslog cert %s" % sub), h.stdout
    assert ok("help", "cert").stdout == r.stdout


def test_usage_errors_exit_2(tmp_path):
    assert tlslog().returncode == 2
    r = tlslog("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = tlslog("cert", "ca", "--bogus")
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
    r = tlslog("cert", "ca")
    assert r.returncode == 2 and "--out DIR is required" in r.stderr
    r = tlslog("cert", "ca", "--out", tmp_path / "x", "--days", "ten")
    assert r.returncode == 2 and "--days" in r.stderr
    r = tlslog("cert", "ca", "--out", tmp_path / "x", "--key", "dsa")
    assert r.returncode == 2 and "--key" in r.stderr
    assert not (tmp_path / "x").exists()
    for r in (tlslog("cert", "ca", "--bogus"), tlslog("cert", "info")):
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


# ---- ca + issue -----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_ca_and_issue_verify(tmp_path, key):
    ca = make_ca(tmp_path, key, "ca", "--name", "Test Log CA")
    assert mode(ca) == 0o700
    assert mode(ca / "ca-key.pem") == 0o600
    assert (ca / "ca-key.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert x509_field(ca / "ca.pem", "-subject", "-nameopt", "RFC2253") == "subject=CN=Test Log CA"
    ext = x509_field(ca / "ca.pem", "-ext",
                     "basicConstraints,keyUsage,subjectKeyIdentifier,authorityKeyIdentifier")
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE", ext), ext
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", ext), ext
    assert "Subject Key Identifier" in ext and "Authority Key Identifier" in ext

    r = issue(ca, tmp_path / "host", "host.example.net", "alias.example.net", "ip:192.0.2.7",
              "ip:2001:db8::7", key=key)
    leaf = tmp_path / "host.pem"
    leaf_key = tmp_path / "host-key.pem"
    assert mode(leaf_key) == 0o600
    assert leaf_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert leaf.read_text().count("BEGIN CERTIFICATE") == 1
    assert str(leaf) in r.stdout and str(leaf_key) in r.stdout
    assert ossl_fingerprint(leaf, "sha256") in r.stdout

    openssl("verify", "-CAfile", ca / "ca.pem", leaf)
    openssl("verify", "-purpose", "sslserver", "-CAfile", ca / "ca.pem", leaf)
    openssl("verify", "-purpose", "sslclient", "-CAfile", ca / "ca.pem", leaf)
    openssl("verify", "-CAfile", ca / "ca.pem", "-verify_hostname", "alias.example.net", leaf)
    openssl("verify", "-CAfile", ca / "ca.pem", "-verify_ip", "2001:db8::7", leaf)
    bad = openssl("verify", "-CAfile", ca / "ca.pem", "-verify_hostname", "other.example.net",
                  leaf, check=False)
    assert bad.returncode != 0

    ext = x509_field(leaf, "-ext", "subjectAltName,extendedKeyUsage,basicConstraints,keyUsage,"
                     "subjectKeyIdentifier,authorityKeyIdentifier")
    assert ("DNS:host.example.net, DNS:alias.example.net, IP Address:192.0.2.7, "
            "IP Address:2001:DB8:0:0:0:0:0:7") in ext, ext
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in ext
    assert re.search(r"Basic Constraints: critical\s+CA:FALSE", ext), ext
    usage = "Digital Signature, Key Encipherment" if key == "rsa" else "Digital Signature\n"
    assert re.search(r"Key Usage: critical\s+" + usage, ext + "\n"), ext
    assert "Subject Key Identifier" in ext and "Authority Key Identifier" in ext
    assert x509_field(leaf, "-subject", "-nameopt", "RFC2253") == "subject=CN=host.example.net"
    pub = x509_field(leaf, "-text")
    assert ("Public-Key: (3072 bit)" in pub) if key == "rsa" else ("NIST CURVE: P-256" in pub)

    # Serial: 16 random bytes, positive; validity starts 5 minutes back, lasts 825 days.
    serial = x509_field(leaf, "-serial").split("=", 1)[1]
    assert len(serial) == 32 and int(serial[0], 16) < 8, serial
    assert serial != x509_field(ca / "ca.pem", "-serial").split("=", 1)[1]
    nb = ossl_date(x509_field(leaf, "-startdate"))
    na = ossl_date(x509_field(leaf, "-enddate"))
    now = datetime.datetime.utcnow()
    assert datetime.timedelta(minutes=4) <= now - nb <= datetime.timedelta(minutes=7), (now, nb)
    assert abs((na - now) - datetime.timedelta(days=825)) < datetime.timedelta(minutes=2)


def test_issue_ip_only_sets_cn(tmp_path):
    ca = make_ca(tmp_path)
    issue(ca, tmp_path / "v6", "ip:2001:db8::1")
    leaf = tmp_path / "v6.pem"
    assert x509_field(leaf, "-subject", "-nameopt", "RFC2253") == "subject=CN=2001:db8::1"
    assert "IP Address:2001:DB8:0:0:0:0:0:1" in x509_field(leaf, "-ext", "subjectAltName")
    openssl("verify", "-CAfile", ca / "ca.pem", "-verify_ip", "2001:db8::1", leaf)


def test_bad_names_and_ips(tmp_path):
    ca = make_ca(tmp_path)
    for args, msg in [
        (["--name", "h.example.net", "--ip", "192.0.2.300"], "'192.0.2.300' is not an IPv4 or IPv6"),
        (["--name", "h.example.net", "--ip", "2001:db8::g"], "not an IPv4 or IPv6 address"),
        (["--name", "192.0.2.1"], "is an IP address; pass it with --ip"),
        (["--name", "bad name.example"], "is not a valid DNS name"),
        (["--name", "a*.example.net"], "is not a valid DNS name"),
        ([], "--name"),
    ]:
        r = tlslog("cert", "issue", "--ca", ca, "--out", tmp_path / "x", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.pem").exists() and not (tmp_path / "x-key.pem").exists()
    r = tlslog("cert", "issue", "--ca", tmp_path / "nope", "--name", "h", "--out", tmp_path / "x")
    assert r.returncode == 1 and "there is no CA in" in r.stderr, r.stderr


def test_wildcard_name(tmp_path):
    ca = make_ca(tmp_path)
    issue(ca, tmp_path / "w", "*.logs.example.net")
    openssl("verify", "-CAfile", ca / "ca.pem", "-verify_hostname", "a.logs.example.net",
            tmp_path / "w.pem")


def test_refuse_overwrite_and_force(tmp_path):
    ca = make_ca(tmp_path)
    before = snapshot(ca / "ca.pem", ca / "ca-key.pem")
    r = tlslog("cert", "ca", "--out", ca)
    assert r.returncode == 1 and "already exists; pass --force" in r.stderr, r.stderr
    assert snapshot(ca / "ca.pem", ca / "ca-key.pem") == before

    issue(ca, tmp_path / "h", "h.example.net")
    leaf, key = tmp_path / "h.pem", tmp_path / "h-key.pem"
    before = snapshot(leaf, key)
    r = tlslog("cert", "issue", "--ca", ca, "--name", "h.example.net", "--out", tmp_path / "h")
    assert r.returncode == 1 and "already exists; pass --force" in r.stderr, r.stderr
    assert snapshot(leaf, key) == before
    # Only one of the two files present: still refused, and nothing is written.
    os.unlink(leaf)
    r = tlslog("cert", "issue", "--ca", ca, "--name", "h.example.net", "--out", tmp_path / "h")
    assert r.returncode == 1 and not leaf.exists() and key.read_bytes() == before[str(key)]

    os.chmod(key, 0o644)
    issue(ca, tmp_path / "h", "h.example.net", extra=["--force"])
    assert key.read_bytes() != before[str(key)]
    assert mode(key) == 0o600
    openssl("verify", "-CAfile", ca / "ca.pem", leaf)

    old_ca = (ca / "ca.pem").read_bytes()
    r = ok("cert", "ca", "--out", ca, "--force")
    assert (ca / "ca.pem").read_bytes() != old_ca and mode(ca / "ca-key.pem") == 0o600
    assert openssl("verify", "-CAfile", ca / "ca.pem", leaf, check=False).returncode != 0


def test_validity_clamped_to_ca(tmp_path):
    ca = make_ca(tmp_path, "ec", "ca", "--days", "30")
    r = issue(ca, tmp_path / "h", "h.example.net")
    assert "note:" in r.stderr and "with the CA" in r.stderr, r.stderr
    assert (ossl_date(x509_field(tmp_path / "h.pem", "-enddate")) ==
            ossl_date(x509_field(ca / "ca.pem", "-enddate")))
    issue(ca, tmp_path / "s", "s.example.net", extra=["--days", "7"])
    short = ossl_date(x509_field(tmp_path / "s.pem", "-enddate"))
    assert short < ossl_date(x509_field(ca / "ca.pem", "-enddate"))


def test_chain_pem_appended(tmp_path):
    ca = make_ca(tmp_path)
    other = make_ca(tmp_path, "ec", "other")
    (ca / "chain.pem").write_bytes((other / "ca.pem").read_bytes())
    issue(ca, tmp_path / "h", "h.example.net")
    r = ok("cert", "info", tmp_path / "h.pem")
    certs = parse_info(r.stdout)
    assert len(certs) == 2
    assert certs[1]["serial"][0] == x509_field(other / "ca.pem", "-serial").split("=", 1)[1]


# ---- info -----------------------------------------------------------------------------------

def check_info_against_openssl(fields, path):
    assert "subject=" + fields["subject"][0] == x509_field(path, "-subject", "-nameopt", "RFC2253")
    assert "issuer=" + fields["issuer"][0] == x509_field(path, "-issuer", "-nameopt", "RFC2253")
    assert "serial=" + fields["serial"][0] == x509_field(path, "-serial")
    assert our_date(fields["not before"][0]) == ossl_date(x509_field(path, "-startdate"))
    assert our_date(fields["not after"][0]) == ossl_date(x509_field(path, "-enddate"))
    assert fields["fingerprints"][0] == ossl_fingerprint(path, "sha256")
    assert fields["fingerprints"][1] == ossl_fingerprint(path, "sha1")


def test_info_matches_openssl(tmp_path):
    ca = make_ca(tmp_path)
    issue(ca, tmp_path / "h", "h.example.net", "ip:192.0.2.9", "ip:2001:db8::9")
    leaf = tmp_path / "h.pem"
    certs = parse_info(ok("cert", "info", leaf).stdout)
    assert len(certs) == 1
    f = certs[0]
    assert f["#"] == ["1", "1"]
    check_info_against_openssl(f, leaf)
    assert f["names"] == ["DNS:h.example.net, IP:192.0.2.9, IP:2001:db8::9"]
    assert f["validity"] == ["valid now"]
    assert f["key"] == ["EC 256 bits"]
    assert f["kind"] == ["leaf"]
    assert f["ext key usage"] == ["serverAuth, clientAuth"]

    ca_info = parse_info(ok("cert", "info", ca / "ca.pem").stdout)[0]
    check_info_against_openssl(ca_info, ca / "ca.pem")
    assert ca_info["kind"] == ["CA, self-signed"]


def test_info_chain_lists_every_cert(tmp_path):
    ca = make_ca(tmp_path, "rsa")
    issue(ca, tmp_path / "h", "h.example.net")
    chain = tmp_path / "chain.pem"
    chain.write_bytes((tmp_path / "h.pem").read_bytes() + (ca / "ca.pem").read_bytes())
    r = ok("cert", "info", chain)
    certs = parse_info(r.stdout)
    assert [c["#"] for c in certs] == [["1", "2"], ["2", "2"]]
    assert certs[0]["kind"] == ["leaf"] and certs[1]["kind"] == ["CA, self-signed"]
    assert certs[1]["key"] == ["RSA 3072 bits"]
    assert certs[0]["fingerprints"][0] == ossl_fingerprint(tmp_path / "h.pem", "sha256")
    assert certs[1]["fingerprints"][0] == ossl_fingerprint(ca / "ca.pem", "sha256")


OPENSSL_CA_CONF = """
[ca]
default_ca = ca_default
[ca_default]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = policy_any
[policy_any]
commonName = supplied
"""


def dated_cert(tmp_path, name, start, end):
    """A self-signed certificate with fixed dates (openssl ca; 3.0's req/x509 cannot backdate)."""
    d = tmp_path / ("ossl-" + name)
    d.mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(OPENSSL_CA_CONF.format(dir=d))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", d / "key.pem", "-out", d / "req.pem", "-subj", "/CN=" + name)
    openssl("ca", "-batch", "-config", d / "ca.cnf", "-selfsign", "-keyfile", d / "key.pem",
            "-in", d / "req.pem", "-out", d / "cert.pem", "-startdate", start, "-enddate", end,
            "-notext")
    return d / "cert.pem"


def test_info_expired_not_yet_valid_and_der(tmp_path):
    old = dated_cert(tmp_path, "old", "20200101000000Z", "20210101000000Z")
    f = parse_info(ok("cert", "info", old).stdout)[0]
    assert f["validity"] == ["EXPIRED since 2021-01-01 00:00:00 UTC"], f
    future = dated_cert(tmp_path, "future", "20990101000000Z", "20991231000000Z")
    f = parse_info(ok("cert", "info", future).stdout)[0]
    assert f["validity"] == ["NOT YET VALID until 2099-01-01 00:00:00 UTC"], f
    check_info_against_openssl(f, future)

    der = tmp_path / "c.der"
    ca = make_ca(tmp_path)
    openssl("x509", "-in", ca / "ca.pem", "-outform", "DER", "-out", der)
    f = parse_info(ok("cert", "info", der).stdout)[0]
    assert f["fingerprints"][0] == ossl_fingerprint(ca / "ca.pem", "sha256")


def test_info_key_file_and_junk(tmp_path):
    ca = make_ca(tmp_path)
    key = ca / "ca-key.pem"
    r = tlslog("cert", "info", key)
    assert r.returncode == 1
    assert r.stderr.strip() == "tlslog: %s holds a private key, not a certificate" % key
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    r = tlslog("cert", "info", junk)
    assert r.returncode == 1 and "holds no certificate" in r.stderr, r.stderr
    r = tlslog("cert", "info", tmp_path / "missing.pem")
    assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
    damaged = tmp_path / "damaged.pem"
    text = (ca / "ca.pem").read_text().splitlines()
    text[2] = "!!!!" + text[2][4:]
    damaged.write_text("\n".join(text) + "\n")
    r = tlslog("cert", "info", damaged)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr


# ---- revoke ---------------------------------------------------------------------------------

def crl_text(ca):
    return openssl("crl", "-in", ca / "crl.pem", "-noout", "-text").stdout


def serial_of(path):
    return x509_field(path, "-serial").split("=", 1)[1]


def test_revoke(tmp_path):
    ca = make_ca(tmp_path)
    for n in ("a", "b", "c"):
        issue(ca, tmp_path / n, n + ".example.net")
    a, b, c = (tmp_path / (n + ".pem") for n in ("a", "b", "c"))

    r = ok("cert", "revoke", "--ca", ca, a)
    assert serial_of(a) in r.stdout and str(ca / "crl.pem") in r.stdout
    text = crl_text(ca)
    assert "Version 2" in text and "Authority Key Identifier" in text
    assert re.search(r"CRL Number:\s+1\b", text), text
    assert "Serial Number: " + serial_of(a) in text
    assert mode(ca / "crl.pem") == 0o644

    ok("cert", "revoke", "--ca", ca, "--crl-days", "7", b)
    text = crl_text(ca)
    assert "Serial Number: " + serial_of(a) in text and "Serial Number: " + serial_of(b) in text
    assert re.search(r"CRL Number:\s+2\b", text), text
    last = ossl_date(openssl("crl", "-in", ca / "crl.pem", "-noout", "-lastupdate").stdout)
    nxt = ossl_date(openssl("crl", "-in", ca / "crl.pem", "-noout", "-nextupdate").stdout)
    assert nxt - last == datetime.timedelta(days=7)
    openssl("crl", "-in", ca / "crl.pem", "-noout", "-CAfile", ca / "ca.pem")

    for revoked in (a, b):
        v = openssl("verify", "-crl_check", "-CRLfile", ca / "crl.pem", "-CAfile", ca / "ca.pem",
                    revoked, check=False)
        assert v.returncode != 0 and "certificate revoked" in v.stdout + v.stderr, v
    openssl("verify", "-crl_check", "-CRLfile", ca / "crl.pem", "-CAfile", ca / "ca.pem", c)

    # Revoking again keeps one entry and re-signs the CRL.
    r = ok("cert", "revoke", "--ca", ca, a)
    assert "already revoked" in r.stdout
    assert crl_text(ca).count("Serial Number: " + serial_of(a)) == 1


def test_revoke_refuses_foreign_cert(tmp_path):
    ca = make_ca(tmp_path)
    other = make_ca(tmp_path, "ec", "other")   # same CA name, different key
    issue(other, tmp_path / "x", "x.example.net")
    ok("cert", "self-signed", "--name", "s.example.net", "--out", tmp_path / "s")
    for cert in (tmp_path / "x.pem", tmp_path / "s.pem"):
        r = tlslog("cert", "revoke", "--ca", ca, cert)
        assert r.returncode == 1 and "was not issued by the CA in" in r.stderr, r.stderr
    r = tlslog("cert", "revoke", "--ca", ca, ca / "ca.pem")
    assert r.returncode == 1 and "CA certificate itself" in r.stderr
    r = tlslog("cert", "revoke", "--ca", ca, ca / "ca-key.pem")
    assert r.returncode == 1 and "holds a private key, not a certificate" in r.stderr
    assert not (ca / "crl.pem").exists()
    # A CRL signed by another CA is not silently replaced.
    ok("cert", "revoke", "--ca", other, tmp_path / "x.pem")
    (ca / "crl.pem").write_bytes((other / "crl.pem").read_bytes())
    issue(ca, tmp_path / "y", "y.example.net")
    r = tlslog("cert", "revoke", "--ca", ca, tmp_path / "y.pem")
    assert r.returncode == 1 and "was not signed by the CA" in r.stderr, r.stderr


# ---- self-signed ----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_self_signed_fingerprint(tmp_path, key):
    r = ok("cert", "self-signed", "--name", "me.example.net", "--ip", "::1", "--out",
           tmp_path / "me", "--key", key)
    cert = tmp_path / "me.pem"
    fp = ossl_fingerprint(cert, "sha256")
    lines = r.stdout.splitlines()
    assert 'fingerprints: ["%s"]' % fp in lines, r.stdout
    assert any('StreamDriverPermittedPeers="%s"' % fp in l for l in lines), r.stdout
    assert mode(tmp_path / "me-key.pem") == 0o600
    ext = x509_field(cert, "-ext", "subjectAltName,extendedKeyUsage,basicConstraints")
    assert "DNS:me.example.net, IP Address:0:0:0:0:0:0:0:1" in ext
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in ext
    assert re.search(r"Basic Constraints: critical\s+CA:FALSE", ext), ext
    assert (x509_field(cert, "-subject", "-nameopt", "RFC2253") ==
            x509_field(cert, "-issuer", "-nameopt", "RFC2253").replace("issuer=", "subject="))
    f = parse_info(ok("cert", "info", cert).stdout)[0]
    assert f["fingerprints"][0] == fp and f["kind"] == ["leaf, self-signed"]
    r = tlslog("cert", "self-signed", "--name", "me.example.net", "--out", tmp_path / "me")
    assert r.returncode == 1 and "already exists" in r.stderr


# ---- a real handshake -----------------------------------------------------------------------

def test_tls_handshake_with_issued_cert(tmp_path):
    ca = make_ca(tmp_path)
    issue(ca, tmp_path / "server", "logs.example.net", "ip:127.0.0.1")
    issue(ca, tmp_path / "client", "sender.example.net")
    srv = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "2",
         "-cert", tmp_path / "server.pem", "-key", tmp_path / "server-key.pem",
         "-Verify", "2", "-verify_return_error", "-CAfile", ca / "ca.pem"],
        # stdin stays open: s_server drops its connection when its stdin reaches EOF.
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        port = None
        seen = b""
        deadline = tlslogd.Deadline(20)
        while port is None and not deadline.expired():
            ready, _, _ = select.select([srv.stdout], [], [], deadline.left())
            if not ready:
                break
            chunk = os.read(srv.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            m = re.search(rb"^ACCEPT .*:(\d+)\r?$", seen, re.M)
            if m:
                port = int(m.group(1))
        assert port, "openssl s_server did not start: %r" % seen
        client = ["s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", ca / "ca.pem",
                  "-verify_return_error", "-cert", tmp_path / "client.pem",
                  "-key", tmp_path / "client-key.pem"]
        good = openssl(*client, "-verify_hostname", "logs.example.net", input="", check=False)
        assert good.returncode == 0, good.stdout + good.stderr
        assert "Verify return code: 0 (ok)" in good.stdout, good.stdout
        bad = openssl(*client, "-verify_hostname", "wrong.example.net", input="", check=False)
        assert bad.returncode != 0, bad.stdout
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait(timeout=10)
        srv.stdin.close()
        srv.stdout.close()
