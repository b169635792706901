"""Helpers for the TLS negative-case, reload and on-the-wire tests
(test_tls_negative.py, test_tls_reload.py, test_tls_wire.py).

REASONS below is THE table of the keywords expected in tlslogd's log lines: adjust it there when
the message texts change. Each entry is a list of alternatives; an alternative is a string or a
tuple of strings that must all appear (case-insensitive). "{fp}" / "{name}" are replaced by the
bad peer's SHA-256 fingerprint / certificate name.

Bad peers connect from 127.0.0.2 (all of 127/8 is loopback on Linux) so that the log line
naming the peer address is told apart from the good client's (always 127.0.0.1).
"""

import re
import socket
import ssl
import subprocess
import time

from peers.certs import Pki
from peers.local import check_numbered, octet_frame
from peers.openssl import s_client
from peers.ports import free_port
from tlslogd import T, config, file_output, poll, read_lines, stats_report

# ---------------------------------------------------------------------------------------------
# The keyword table (match loosely, case-insensitive).

REASONS = {
    "wrong_ca": ["not among the trusted CAs", "unknown CA", "issued by"],
    "expired": ["expired"],
    "not_yet_valid": ["not valid before", "not yet valid"],
    "revoked": ["revoked"],
    "name": [("permitted_peers", "{name}")],
    "no_cert": ["no certificate"],
    "fingerprint": [("fingerprint", "{fp}")],
    "tls1_1": ["protocol version"],
    # a TLS 1.2 client against min_version "1.3": the line should say what this side accepts
    "tls12_min13": [("protocol version", "1.3")],
    "plaintext": ["plaintext"],
    "silent": ["handshake not completed within"],
    # reload errors (after RELOAD_FAILED)
    "bad_cert_file": [("cert_file", "{name}")],
    "key_mismatch": ["not the key of"],
}
ACCEPTED = r"TLS connection accepted \(TLSv1\.[23], [^)]*\): authenticated peer"
HOSTNAME_REJECTED = "message rejected: HOSTNAME"
RELOADED = "reloaded"
RELOAD_FAILED = "TLS reload failed, keeping the previous certificates"

BAD_IP = "127.0.0.2"      # where bad peers connect from
GOOD_IP = "127.0.0.1"
SERVER_NAME = "server.test"
CLIENT_NAME = "client.test"


def reason_matches(kind, line, fp=None, name=None):
    """True if line carries one of REASONS[kind]'s alternatives."""
    low = line.lower()
    for alt in REASONS[kind]:
        words = alt if isinstance(alt, tuple) else (alt,)
        words = [w.format(fp=fp or "", name=name or "").lower() for w in words]
        if all(w in low for w in words):
            return True
    return False


def check_reason(kind, line, fp=None, name=None):
    assert reason_matches(kind, line, fp, name), (
        "KEYWORD MISMATCH [%s]: expected one of %r (fp=%s name=%s) in the log line:\n%s" % (
            kind, REASONS[kind], fp, name, line))


# ---------------------------------------------------------------------------------------------
# PKI

def neg_pki(directory):
    p = Pki(directory)
    p.server = p.leaf("server", dns=[SERVER_NAME], ip=["127.0.0.1"])
    p.server2 = p.leaf("server2", dns=[SERVER_NAME], ip=["127.0.0.1"])   # the renewal
    p.client = p.leaf("client", dns=[CLIENT_NAME])
    p.intruder = p.leaf("intruder", dns=["intruder.test"])             # right CA, wrong name
    p.other = p.leaf("other", dns=[CLIENT_NAME], issuer=p.other_ca)      # right name, wrong CA
    p.expired = p.expired_leaf("expired", dns=[CLIENT_NAME])
    p.early = p.not_yet_valid_leaf("early", dns=[CLIENT_NAME])
    p.revoked = p.leaf("revoked", dns=[CLIENT_NAME])
    p.crl_path = p.revoke(p.revoked)
    p.fp_client = p.self_signed("fp-client", dns=["fp-client.test"])     # fingerprint mode
    p.stranger = p.self_signed("stranger", dns=[CLIENT_NAME])            # fingerprint not listed
    return p


# ---------------------------------------------------------------------------------------------
# Config

def tls_input(name="tls-in", tls=None, **kw):
    d = dict(name=name, transport="tls", listen="127.0.0.1:0")
    d.update(kw)
    if tls is not None:
        d["tls"] = tls
    return d


def server_tls_top(pki, cert=None, key=None, ca=True, crl=False, handshake_timeout=None):
    """The top-level tls: block (inherited by the input)."""
    t = {}
    if ca:
        t["ca_file"] = pki.ca.cert
    t["cert_file"] = str(cert or pki.server.cert)
    t["key_file"] = str(key or pki.server.key)
    if crl:
        t["crl_file"] = pki.crl_path
    if handshake_timeout:
        t["handshake_timeout"] = handshake_timeout
    return t


def tls_conf(pki, out, auth="certvalid", permitted_peers=None, fingerprints=None, crl=False,
             handshake_timeout=None, ca=True, cert=None, key=None, input_extra=None,
             extra_inputs=(), fmt="raw"):
    itls = {"auth": auth}
    if permitted_peers is not None:
        itls["permitted_peers"] = list(permitted_peers)
    if fingerprints is not None:
        itls["fingerprints"] = list(fingerprints)
    inp = tls_input("tls-in", tls=itls, **(input_extra or {}))
    return config([inp] + list(extra_inputs), [file_output("f", out, format=fmt)],
                  tls=server_tls_top(pki, cert=cert, key=key, ca=ca, crl=crl,
                                     handshake_timeout=handshake_timeout))


# ---------------------------------------------------------------------------------------------
# Messages

def rfc5424(msg, host="client.test", app="negtest"):
    return "<13>1 2026-01-01T00:00:00Z %s %s - - - %s" % (host, app, msg)


def frames(msgs, host="client.test"):
    return b"".join(octet_frame(rfc5424(m, host)) for m in msgs)


def lines_with(path, marker):
    m = marker.encode() if isinstance(marker, str) else marker
    return [l for l in read_lines(path) if m in l]


def wait_marker(d, path, marker, n, timeout=None):
    """Waits (bounded) for n output lines with marker; returns them (str)."""
    holder = {}

    def enough():
        got = lines_with(path, marker)
        holder["n"] = len(got)
        if len(got) >= n:
            return got
        d.check_alive("waiting for %d %r lines" % (n, marker))
        return None
    try:
        got = poll(enough, timeout or T(15), "%d lines with %r in %s" % (n, marker, path))
    except AssertionError as e:
        raise AssertionError("%s (have %s); log:\n%s" % (e, holder.get("n"), d.log_tail()))
    return [l.decode("utf-8", "replace") for l in got]


def check_marker(d, path, marker, n):
    lines = wait_marker(d, path, marker, n)
    check_numbered(lines, marker, n)
    assert len(lines) == n, "%d lines with %r, expected %d" % (len(lines), marker, n)


# ---------------------------------------------------------------------------------------------
# Clients

def client_ctx(pki, cert=None, verify=True):
    """A Python ssl client context: trusts pki.ca, presents cert (a peers.certs.Cert) if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(pki.ca.cert)
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(cert.chain, cert.key)
    return ctx


class TlsConn:
    """A long-lived TLS connection (Python ssl) sending octet-counted RFC 5424 frames."""

    def __init__(self, port, pki, cert=None, host=GOOD_IP, source=None, verify=True):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(T(10))
        if source:
            raw.bind((source, 0))
        raw.connect((host, port))
        self.sock = client_ctx(pki, cert, verify).wrap_socket(
            raw, server_hostname=SERVER_NAME if verify else None)
        self.local_port = self.sock.getsockname()[1]

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)

    def send(self, msgs, host="client.test"):
        self.sock.sendall(frames(msgs, host))

    def close(self):
        """close_notify, then wait (bounded) for the server's EOF."""
        try:
            self.sock.settimeout(T(5))
            try:
                s = self.sock.unwrap()
            except (ssl.SSLError, OSError):
                s = self.sock
            try:
                s.shutdown(socket.SHUT_WR)
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        except OSError:
            pass


def server_cert_der(port, pki, host=GOOD_IP):
    """The certificate the server presents (DER), over a fresh connection (no client cert,
    no verification; the handshake may then be refused, but the certificate is already in)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(pki.client.chain, pki.client.key)
    with socket.create_connection((host, port), timeout=T(10)) as raw:
        with ctx.wrap_socket(raw) as s:
            der = s.getpeercert(binary_form=True)
            try:
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass
            return der


def showcerts_fp(port, pki, host=GOOD_IP):
    """SHA-256 fingerprint of the first certificate `openssl s_client -showcerts` prints."""
    argv = ["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-showcerts",
            "-servername", SERVER_NAME, "-CAfile", pki.ca.cert, "-cert", pki.client.cert,
            "-key", pki.client.key]
    r = subprocess.run(argv, input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=T(15))
    m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    assert m, "no certificate in s_client -showcerts output (rc %d): %r" % (
        r.returncode, r.stdout[-500:] + r.stderr[-500:])
    return fp_of_der(ssl.PEM_cert_to_DER_cert(m.group(0).decode()))


def fp_of_der(der):
    import hashlib
    h = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def bad_s_client(port, data, cert=None, key=None, ca=None, tls=None, extra=(), source=BAD_IP):
    """s_client from source:<free port> (default BAD_IP); returns (SClientResult, that port)."""
    sport = free_port(source)
    res = s_client(port, data, ca=ca, cert=cert, key=key, tls=tls, servername=SERVER_NAME,
                   extra=["-bind", "%s:%d" % (source, sport)] + list(extra), timeout=T(20))
    return res, sport


def good_s_client(port, pki, msgs, cert=None, tls=None):
    c = cert or pki.client
    res = s_client(port, frames(msgs), ca=pki.ca.cert, cert=c.cert, key=c.key,
                   servername=SERVER_NAME, verify_hostname=SERVER_NAME, tls=tls)
    assert res.ok, res
    return res


# ---------------------------------------------------------------------------------------------
# Log lines

def fail_line_re(ip, port=None):
    # (the silent-client line says "closing connection: TLS handshake not completed within")
    return (r"^.* warning input tls-in: %s:%s: closing connection: .*TLS.*$"
            % (re.escape(ip), port if port is not None else r"\d+"))


def wait_fail_line(d, ip=BAD_IP, port=None, timeout=None):
    return d.wait_log(fail_line_re(ip, port), timeout=timeout or T(10)).group(0)


def log_count(d, needle):
    return d.log_text().count(needle)


def wait_log_count(d, needle, n, timeout=None):
    """Waits until needle occurs at least n times in the daemon's log."""
    def enough():
        if log_count(d, needle) >= n:
            return True
        d.check_alive("waiting for %d x %r" % (n, needle))
        return False
    try:
        poll(enough, timeout or T(10), "%d occurrences of %r in the log" % (n, needle))
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, d.log_tail()))


def stats_line(d, input_name="tls-in"):
    """Sends SIGUSR1 and returns the 'stats: input NAME:' line of the report it asked for
    (tlslogd.stats_report)."""
    pat = re.compile(r"^.*stats: input %s: .*$" % re.escape(input_name), re.M)
    text = stats_report(d, pat.search, T(10), "a stats line after SIGUSR1")
    return pat.search(text).group(0)


def stat(line, key):
    m = re.search(r"\b%s=(\d+)" % re.escape(key), line)
    assert m, "no %s= in %r" % (key, line)
    return int(m.group(1))


def settle(seconds=0.3):
    time.sleep(seconds)

