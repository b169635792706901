"""Test PKI built with the openssl CLI: CAs, an intermediate, leaves with chosen SANs/EKU/
validity, expired and not-yet-valid leaves, revocation + CRL, self-signed leaves, fingerprints.

    pki = Pki(tmpdir)                       # EC P-256 keys; Pki(tmpdir, key_type="rsa") for RSA 2048
    pki.ca, pki.other_ca                    # Authority: .cert .key .name .dir
    pki.intermediate                        # Authority signed by pki.ca (pathlen 0)
    s = pki.leaf("server", dns=["server.test"], ip=["127.0.0.1", "::1"])
    s.cert s.key s.chain s.ca_file s.fingerprint_sha256 s.fingerprint_sha1   # rsyslog form
    pki.leaf("c2", issuer=pki.intermediate) # s.chain = leaf + intermediate, s.ca_file = root
    pki.expired_leaf("old"), pki.not_yet_valid_leaf("early")
    crl = pki.revoke(leaf)                  # CRL of leaf's issuer, path
    pki.self_signed("fp", dns=[...])        # for fingerprint mode
    pki.ca_dir("trust", pki.ca, pki.other_ca)   # hashed dir (openssl rehash) for ca-dir()/CApath
    pki.bundle("both.pem", pki.ca, pki.other_ca)

Every openssl run is bounded; private keys are mode 0600. The system openssl.cnf is never read
(OPENSSL_CONF points at the Pki's own minimal file).
"""

import hashlib
import ipaddress
import os
import re
import ssl
import subprocess
import threading
from pathlib import Path

from .procs import T

OPENSSL = "openssl"

_MIN_CNF = """\
# minimal config for the test PKI (keeps the system openssl.cnf out)
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
"""

_CA_CNF = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = {dir}/index.txt
serial = {dir}/serial
crlnumber = {dir}/crlnumber
new_certs_dir = {dir}/newcerts
certificate = {cert}
private_key = {key}
default_md = sha256
default_days = 825
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = yes
[ policy_any ]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_intermediate ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _fp(der, algo):
    h = hashlib.new(algo, der).hexdigest().upper()
    return "%s:%s" % (algo.upper(), ":".join(h[i:i + 2] for i in range(0, len(h), 2)))


def _der_of(pem_path):
    text = Path(pem_path).read_text()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def _key_args(key_type):
    if key_type == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    if key_type == "rsa":
        return ["-newkey", "rsa:2048"]
    m = re.match(r"^rsa:?(\d+)$", key_type or "")
    if m:
        return ["-newkey", "rsa:" + m.group(1)]
    m = re.match(r"^ec:(.+)$", key_type or "")
    if m:
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + m.group(1)]
    raise ValueError("key_type must be 'ec', 'rsa', 'rsaNNNN' or 'ec:CURVE', not %r" % key_type)


def _subj(cn, org=None):
    def esc(s):
        return s.replace("\\", "\\\\").replace("/", "\\/").replace("=", "\\=")
    s = "/CN=" + esc(cn)
    if org:
        s = "/O=" + esc(org) + s
    return s


class Cert:
    """A leaf certificate and its key. chain = leaf + intermediates (not the root);
    ca_file = the root that anchors it (its own file for a self-signed one)."""

    def __init__(self, name, cert, key, chain, ca_file, issuer, dns=(), ip=(), cn=None):
        self.name = name
        self.cert = str(cert)
        self.key = str(key)
        self.chain = str(chain)
        self.ca_file = str(ca_file)
        self.issuer = issuer
        self.dns = list(dns)
        self.ip = list(ip)
        self.cn = cn

    @property
    def der(self):
        return _der_of(self.cert)

    @property
    def fingerprint_sha256(self):
        """rsyslog PermittedPeer form: 'SHA256:AB:CD:...' (upper-case hex)."""
        return _fp(self.der, "sha256")

    @property
    def fingerprint_sha1(self):
        """rsyslog PermittedPeer form: 'SHA1:AB:CD:...' (upper-case hex)."""
        return _fp(self.der, "sha1")

    @property
    def serial(self):
        return int(Pki._run_static(["x509", "-in", self.cert, "-noout", "-serial"])
                   .split("=", 1)[1].strip(), 16)

    def __repr__(self):
        return "<Cert %s dns=%s ip=%s>" % (self.name, self.dns, self.ip)


class Authority(Cert):
    """A CA (root or intermediate) with its own openssl ca database (for revoke/gencrl)."""

    def __init__(self, pki, name, cert, key, dir, cnf, issuer=None, chain=None, ca_file=None):
        super().__init__(name, cert, key, chain or cert, ca_file or cert, issuer, cn=name)
        self.pki = pki
        self.dir = Path(dir)
        self.cnf = str(cnf)
        self.crl = str(self.dir / "crl.pem")

    def __repr__(self):
        return "<Authority %s>" % self.name


class Pki:
    def __init__(self, directory, key_type="ec", days=3650):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key_type = key_type
        self.days = days
        self._cnf = self.dir / "openssl-min.cnf"
        self._cnf.write_text(_MIN_CNF)
        self._lock = threading.Lock()
        self._cas = {}
        self._names = set()

    # -- openssl plumbing ---------------------------------------------------------------

    def _run(self, args, cwd=None):
        env = dict(os.environ)
        env["OPENSSL_CONF"] = str(self._cnf)
        r = subprocess.run([OPENSSL] + [str(a) for a in args], env=env, cwd=cwd,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=T(30))
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed (%d):\n%s" % (
                " ".join(map(str, args)), r.returncode, r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    @staticmethod
    def _run_static(args):
        r = subprocess.run([OPENSSL] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T(30),
                           env=dict(os.environ, OPENSSL_CONF="/dev/null"))
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args, r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def _claim(self, name):
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            raise ValueError("bad certificate name %r (used as a file name)" % name)
        with self._lock:
            if name in self._names:
                raise ValueError("certificate name %r already used in this Pki" % name)
            self._names.add(name)

    @staticmethod
    def _secure(key):
        os.chmod(key, 0o600)

    # -- authorities --------------------------------------------------------------------
    def new_ca(self, name, key_type=None, issuer=None, days=None):
        """A new CA: self-signed root, or an intermediate (pathlen 0) signed by issuer."""
        self._claim(name)
        d = self.dir / name
        (d / "newcerts").mkdir(parents=True, exist_ok=True)
        (d / "index.txt").write_text("")
        (d / "serial").write_text("%032X\n" % int.from_bytes(os.urandom(15), "big"))
        (d / "crlnumber").write_text("01\n")
        cert, key = d / "ca.crt", d / "ca.key"
        cnf = d / "ca.cnf"
        cnf.write_text(_CA_CNF.format(dir=d, cert=cert, key=key))
        kt = _key_args(key_type or self.key_type)
        days = days or self.days
        if issuer is None:
            self._run(["req", "-config", cnf, "-x509", "-new"] + kt +
                      ["-nodes", "-keyout", key, "-out", cert, "-subj", _subj(name, "tlslogd tests"),
                       "-days", days, "-extensions", "v3_ca", "-sha256"])
            self._secure(key)
            return Authority(self, name, cert, key, d, cnf)
        csr = d / "ca.csr"
        self._run(["req", "-config", cnf, "-new"] + kt +
                  ["-nodes", "-keyout", key, "-out", csr, "-subj", _subj(name, "tlslogd tests")])
        self._secure(key)
        self._run(["ca", "-config", issuer.cnf, "-batch", "-notext", "-in", csr, "-out", cert,
                   "-extensions", "v3_intermediate", "-days", days])
        chain = d / "chain.pem"
        chain.write_text(Path(cert).read_text() + self._chain_tail(issuer))
        return Authority(self, name, cert, key, d, cnf, issuer=issuer, chain=chain,
                         ca_file=issuer.ca_file)

    def _lazy_ca(self, attr, make):
        with self._lock:
            v = self._cas.get(attr)
        if v is None:
            v = make()
            with self._lock:
                self._cas[attr] = v
        return v

    @property
    def ca(self):
        return self._lazy_ca("ca", lambda: self.new_ca("ca"))

    @property
    def other_ca(self):
        """An unrelated root CA: certificates it signs must be rejected by peers trusting ca."""
        return self._lazy_ca("other_ca", lambda: self.new_ca("other-ca"))

    @property
    def intermediate(self):
        return self._lazy_ca("intermediate", lambda: self.new_ca("intermediate", issuer=self.ca))

    @staticmethod
    def _chain_tail(issuer):
        """PEM of the intermediates from issuer up to (not including) the root."""
        if issuer is None or issuer.issuer is None:
            return ""
        return Path(issuer.cert).read_text() + Pki._chain_tail(issuer.issuer)

    # -- leaves ---------------------------------------------------------------------------
    @staticmethod
    def _ext(dns, ip, eku, key_type, ca=False, extra=()):
        lines = ["basicConstraints = critical,CA:%s" % ("TRUE" if ca else "FALSE")]
        rsa = (key_type or "").startswith("rsa")
        if ca:
            lines.append("keyUsage = critical,keyCertSign,cRLSign,digitalSignature")
        else:
            lines.append("keyUsage = critical,digitalSignature%s" % (",keyEncipherment" if rsa else ""))
        if eku:
            lines.append("extendedKeyUsage = " + ",".join(eku))
        san = ["DNS:" + d for d in dns] + ["IP:" + str(ipaddress.ip_address(i)) for i in ip]
        if san:
            lines.append("subjectAltName = " + ",".join(san))
        lines.append("subjectKeyIdentifier = hash")
        lines.extend(extra)
        return "\n".join(lines) + "\n"

    def leaf(self, name, dns=(), ip=(), cn=None, issuer=None, days=None, key_type=None,
             eku=("serverAuth", "clientAuth"), startdate=None, enddate=None, org=None,
             extra_ext=()):
        """A leaf signed by issuer (default pki.ca). cn defaults to dns[0], else name.
        startdate/enddate: 'YYYYMMDDHHMMSSZ' (openssl ca), overriding days.
        eku=() leaves the extendedKeyUsage extension out."""
        issuer = issuer or self.ca
        self._claim(name)
        key_type = key_type or self.key_type
        dns, ip = list(dns), list(ip)
        cn = cn or (dns[0] if dns else name)
        d = self.dir / "leaves"
        d.mkdir(exist_ok=True)
        key, csr, cert = d / (name + ".key"), d / (name + ".csr"), d / (name + ".crt")
        ext = d / (name + ".ext")
        ext.write_text(self._ext(dns, ip, eku, key_type, extra=extra_ext))
        self._run(["req", "-new"] + _key_args(key_type) +
                  ["-nodes", "-keyout", key, "-out", csr, "-subj", _subj(cn, org)])
        self._secure(key)
        args = ["ca", "-config", issuer.cnf, "-batch", "-notext", "-in", csr, "-out", cert,
                "-extfile", ext]
        if startdate or enddate:
            if startdate:
                args += ["-startdate", startdate]
            args += ["-enddate", enddate or "20991231235959Z"]
        else:
            args += ["-days", days or 825]
        self._run(args)
        chain = d / (name + ".chain.pem")
        chain.write_text(cert.read_text() + self._chain_tail(issuer))
        return Cert(name, cert, key, chain, issuer.ca_file, issuer, dns, ip, cn)

    def expired_leaf(self, name, dns=(), ip=(), **kw):
        """Valid 2020-01-01 .. 2021-01-01: notAfter in the past, signed by a valid CA."""
        return self.leaf(name, dns, ip, startdate="20200101000000Z", enddate="20210101000000Z", **kw)

    def not_yet_valid_leaf(self, name, dns=(), ip=(), **kw):
        return self.leaf(name, dns, ip, startdate="20980101000000Z", enddate="20990101000000Z", **kw)

    def self_signed(self, name, dns=(), ip=(), cn=None, days=None, key_type=None,
                    eku=("serverAuth", "clientAuth")):
        """Self-signed leaf (CA:FALSE) for fingerprint mode; chain = ca_file = cert."""
        self._claim(name)
        key_type = key_type or self.key_type
        dns, ip = list(dns), list(ip)
        cn = cn or (dns[0] if dns else name)
        d = self.dir / "leaves"
        d.mkdir(exist_ok=True)
        key, cert, ext = d / (name + ".key"), d / (name + ".crt"), d / (name + ".cnf")
        ext.write_text(_MIN_CNF + "[ v3_self ]\n" + self._ext(dns, ip, eku, key_type))
        self._run(["req", "-config", ext, "-x509", "-new"] + _key_args(key_type) +
                  ["-nodes", "-keyout", key, "-out", cert, "-subj", _subj(cn),
                   "-days", days or 825, "-extensions", "v3_self", "-sha256"])
        self._secure(key)
        return Cert(name, cert, key, cert, cert, None, dns, ip, cn)

    # -- revocation ---------------------------------------------------------------------
    def revoke(self, leaf, reason="keyCompromise"):
        """Revokes leaf in its issuer's database and (re)generates that issuer's CRL;
        returns the CRL path (PEM)."""
        issuer = leaf.issuer
        if issuer is None:
            raise ValueError("%r is self-signed: nothing to revoke it" % leaf)
        args = ["ca", "-config", issuer.cnf, "-revoke", leaf.cert]
        if reason:
            args += ["-crl_reason", reason]
        self._run(args)
        return self.crl(issuer)

    def crl(self, authority=None):
        """(Re)generates authority's CRL (default pki.ca); returns its path."""
        authority = authority or self.ca
        self._run(["ca", "-config", authority.cnf, "-gencrl", "-out", authority.crl])
        return authority.crl

    # -- trust stores ---------------------------------------------------------------------
    def bundle(self, filename, *certs):
        """Concatenates the PEM certificates (Cert/Authority objects or paths) into one file."""
        p = self.dir / filename
        p.write_text("".join(Path(getattr(c, "cert", c)).read_text() for c in certs))
        return str(p)

    def ca_dir(self, dirname, *certs, crls=()):
        """A hashed directory (openssl rehash: HASH.0 links, HASH.r0 for CRLs) for
        syslog-ng ca-dir()/crl-dir() or openssl -CApath."""
        d = self.dir / dirname
        d.mkdir(parents=True, exist_ok=True)
        for i, c in enumerate(certs):
            src = Path(getattr(c, "cert", c))
            (d / ("%02d-%s" % (i, src.name))).write_text(src.read_text())
        for i, c in enumerate(crls):
            (d / ("crl%02d.pem" % i)).write_text(Path(c).read_text())
        self._run(["rehash", d])
        return str(d)

    def text(self, cert):
        """openssl x509 -text of a certificate (for debugging/asserts)."""
        return self._run(["x509", "-in", getattr(cert, "cert", cert), "-noout", "-text"])
