"""Small shared helpers for the test modules."""

import json

FACILITIES = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
              "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]
SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]


def fac_is(v, n):
    """JSON facility: the number or its name are both accepted."""
    return v == n or v == FACILITIES[n]


def sev_is(v, n):
    return v == n or v == SEVERITIES[n] or (n == 4 and v == "warn") or (n == 3 and v == "error")


def proto_is(v, which):
    return isinstance(v, str) and which in v.lower()


def json_lines(lines):
    """Parses output lines (bytes) as JSON; the bytes must be valid UTF-8 (RFC 8259)."""
    out = []
    for l in lines:
        out.append(json.loads(l.decode("utf-8")))
    return out


def sd_of(j):
    return j.get("structured_data") or {}


def nil(v):
    """An absent field in JSON: missing, null, empty or "-"."""
    return v in (None, "", "-")


def line_diff(got, exp):
    """A short description of the first difference between two lists of lines."""
    if got == exp:
        return None
    for i, (g, e) in enumerate(zip(got, exp)):
        if g != e:
            return "%d lines (expected %d); first difference at line %d: got %r expected %r" % (
                len(got), len(exp), i, g[:120], e[:120])
    return "%d lines (expected %d); the common part is equal; next got %r expected %r" % (
        len(got), len(exp), got[len(exp)][:120] if len(got) > len(exp) else None,
        exp[len(got)][:120] if len(exp) > len(got) else None)
