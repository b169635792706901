"""Output formats: raw, rfc5424, rfc3164 (file flavour), json; escaping; stdout output."""

import json

import sender
from sender import octet
from tlslogd import config, file_output, read_lines, stdout_output, tcp_input
from util import fac_is, json_lines, nil, proto_is, sd_of, sev_is

# RFC 5424 messages in canonical form: the rfc5424 output must reproduce them byte for byte.
CANONICAL_5424 = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...',
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
    b'<0>1 2026-01-02T03:04:05+05:30 h a p m [x@1 a="q\\"uote" b="back\\\\slash" c="br\\]acket"] esc',
    b"<191>1 2026-12-31T23:59:59.123456Z host-1 app.name 12345 MSG-ID - h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93",
    b"<13>1 2026-01-01T00:00:00Z h - - - - nil fields",
    b"<13>1 2026-01-01T00:00:00.1Z h a - - - tab\there",
    b"<14>1 2026-11-23T11:25:56.849075+00:00 vm app 42 - [timeQuality tzKnown=\"1\" isSynced=\"0\"] logger style",
]


def start(daemon, tmp_path, formats, **outkw):
    outs = [file_output(f, tmp_path / ("out-%s.log" % f), format=f, **outkw) for f in formats]
    d = daemon(config([tcp_input("t")], outs))
    return d, {f: tmp_path / ("out-%s.log" % f) for f in formats}


def test_raw_is_bytes_as_received(daemon, tmp_path):
    d, out = start(daemon, tmp_path, ["raw"])
    msgs = [b"<13>plain 3164-ish text", b"no pri at all", b"<13>1 - - - - - -",
            b"\xff\xfe binary-ish \x01\x7f", b"ends with cr"]
    data = b"".join(octet(m) for m in msgs[:3]) + b"\xff\xfe binary-ish \x01\x7f\n" + b"ends with cr\r\n"
    sender.send_tcp(d.port("t"), data, graceful=True)
    d.wait_file_lines(out["raw"], len(msgs))
    assert d.stop() == 0
    assert read_lines(out["raw"]) == msgs


def test_rfc5424_canonical_roundtrip(daemon, tmp_path):
    d, out = start(daemon, tmp_path, ["rfc5424", "raw"])
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in CANONICAL_5424), graceful=True)
    d.wait_file_lines(out["rfc5424"], len(CANONICAL_5424))
    d.wait_file_lines(out["raw"], len(CANONICAL_5424))
    assert d.stop() == 0
    assert read_lines(out["raw"]) == CANONICAL_5424
    got = read_lines(out["rfc5424"])
    assert len(got) == len(CANONICAL_5424)
    for sent, g in zip(CANONICAL_5424, got):
        assert g == sent


def test_rfc3164_file_format(daemon, tmp_path):
    d, out = start(daemon, tmp_path, ["rfc3164"])
    cases = [
        (b"<13>Nov  3 04:05:06 myhost app[123]: hello", b"Nov  3 04:05:06 myhost app[123]: hello"),
        (b"<13>Nov 13 14:05:06 myhost app: no pid", b"Nov 13 14:05:06 myhost app: no pid"),
        (b"<13>1 2026-03-04T05:06:07.000Z host5 app5 99 - - from 5424",
         b"Mar  4 05:06:07 host5 app5[99]: from 5424"),
        (b"<13>1 2026-12-24T23:59:58Z host6 app6 - ID1 - no procid",
         b"Dec 24 23:59:58 host6 app6: no procid"),
    ]
    sender.send_tcp(d.port("t"), b"".join(octet(c[0]) for c in cases), graceful=True)
    d.wait_file_lines(out["rfc3164"], len(cases))
    assert d.stop() == 0
    assert read_lines(out["rfc3164"]) == [c[1] for c in cases]


def test_control_chars_escaped_in_text_formats(daemon, tmp_path):
    d, out = start(daemon, tmp_path, ["rfc5424", "rfc3164", "json"])
    m = b"<13>1 2026-01-01T00:00:00Z h app - - - line1\nline2\x01x\x1fy\tz\x00nul\rcr"
    sender.send_tcp(d.port("t"), octet(m), graceful=True)
    for f in out:
        d.wait_file_lines(out[f], 1)
    assert d.stop() == 0
    esc = b"line1#012line2#001x#037y\tz#000nul#015cr"
    assert read_lines(out["rfc5424"]) == [b"<13>1 2026-01-01T00:00:00Z h app - - - " + esc]
    assert read_lines(out["rfc3164"]) == [b"Jan  1 00:00:00 h app: " + esc]
    js = json_lines(read_lines(out["json"]))
    assert len(js) == 1 and js[0]["msg"] == "line1\nline2\x01x\x1fy\tz\x00nul\rcr"


def test_rfc5424_bom(daemon, tmp_path):
    """MSG may start with a UTF-8 BOM: the rfc5424 output keeps the message as sent, json's
    msg is the text without the BOM."""
    d, out = start(daemon, tmp_path, ["rfc5424", "json"])
    m = b"<13>1 2026-01-01T00:00:00Z h app - - - \xef\xbb\xbfwith BOM \xc3\xa9"
    sender.send_tcp(d.port("t"), octet(m), graceful=True)
    d.wait_file_lines(out["rfc5424"], 1)
    d.wait_file_lines(out["json"], 1)
    assert d.stop() == 0
    assert read_lines(out["rfc5424"]) == [m]
    assert json_lines(read_lines(out["json"]))[0]["msg"] == "with BOM \u00e9"


def test_json_fields_rfc5424(daemon, tmp_path):
    d, out = start(daemon, tmp_path, ["json"])
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in CANONICAL_5424[:5]), graceful=True)
    d.wait_file_lines(out["json"], 5)
    assert d.stop() == 0
    js = json_lines(read_lines(out["json"]))
    assert len(js) == 5
    for j in js:
        for k in ("timestamp", "received", "peer", "proto", "facility", "severity", "pri",
                  "hostname", "app_name", "procid", "msgid", "structured_data", "msg"):
            assert k in j, (k, j)
        assert proto_is(j["proto"], "5424"), j
        assert "127.0.0.1" in str(j["peer"]), j
        assert not j.get("malformed") and not j.get("truncated"), j
        assert isinstance(j["received"], str) and j["received"], j
    a = js[0]
    assert a["pri"] == 34 and fac_is(a["facility"], 4) and sev_is(a["severity"], 2), a
    assert a["timestamp"] == "2003-10-11T22:14:15.003Z", a
    assert a["hostname"] == "mymachine.example.com" and a["app_name"] == "su", a
    assert nil(a["procid"]) and a["msgid"] == "ID47" and not a["structured_data"], a
    assert a["msg"] == "'su root' failed for lonvick on /dev/pts/8", a
    b = js[1]
    assert b["pri"] == 165 and fac_is(b["facility"], 20) and sev_is(b["severity"], 5), b
    assert b["timestamp"] == "2003-08-24T05:14:15.000003-07:00", b
    assert b["procid"] == "8710" and nil(b["msgid"]), b
    assert b["msg"] == "%% It's time to make the do-nuts.", b
    assert sd_of(js[2]) == {"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}}
    assert js[2]["msg"] == "An application event log entry..."
    assert sd_of(js[3]) == {"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                            "examplePriority@32473": {"class": "high"}}
    assert nil(js[3]["msg"]), js[3]
    e = js[4]
    assert e["pri"] == 0 and fac_is(e["facility"], 0) and sev_is(e["severity"], 0), e
    assert sd_of(e) == {"x@1": {"a": 'q"uote', "b": "back\\slash", "c": "br]acket"}}, e
    assert (e["hostname"], e["app_name"], e["procid"], e["msgid"], e["msg"]) == ("h", "a", "p", "m", "esc")


def test_json_fields_rfc3164(daemon, tmp_path):
    d, out = start(daemon, tmp_path, ["json"])
    msgs = [b"<38>Nov  3 04:05:06 myhost app[123]: hello json",
            b"<165>Dec 31 23:59:59 otherhost tag: \"quoted\" \\ back\\slash \xc3\xa9",
            b"<13>2026-02-03T04:05:06.789Z isohost isoapp[7]: iso timestamp"]
    sender.send_tcp(d.port("t"), b"".join(m + b"\n" for m in msgs), graceful=True)
    d.wait_file_lines(out["json"], 3)
    assert d.stop() == 0
    a, b, c = json_lines(read_lines(out["json"]))
    assert (c["hostname"], c["app_name"], c["procid"], c["msg"]) == ("isohost", "isoapp", "7", "iso timestamp"), c
    assert c["timestamp"].startswith("2026-02-03T04:05:06.789"), c
    assert proto_is(a["proto"], "3164"), a
    assert a["pri"] == 38 and fac_is(a["facility"], 4) and sev_is(a["severity"], 6), a
    assert (a["hostname"], a["app_name"], a["procid"], a["msg"]) == ("myhost", "app", "123", "hello json"), a
    assert not a.get("malformed"), a
    assert b["pri"] == 165 and b["hostname"] == "otherhost" and b["app_name"] == "tag", b
    assert nil(b.get("procid")), b
    assert b["msg"] == '"quoted" \\ back\\slash \u00e9', b


def test_stdout_output_json(daemon, tmp_path):
    d = daemon(config([tcp_input("t")], [stdout_output("o", format="json")]), stdout_file=True)
    msgs = [b"<13>1 2026-01-01T00:00:00Z h%d app - - - stdout message %d" % (i, i) for i in range(5)]
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in msgs), graceful=True)
    d.wait_file_lines(d.stdout_path, 5)
    assert d.stop() == 0
    lines = read_lines(d.stdout_path)
    js = [json.loads(l) for l in lines]
    assert [(j["hostname"], j["msg"]) for j in js] == [("h%d" % i, "stdout message %d" % i) for i in range(5)]
    # every stdout line parsed as JSON above: diagnostics never go to stdout


def test_one_line_per_message_whatever_the_fields_hold(daemon, tmp_path):
    """Octet counting lets LF/CR into any field; text outputs must still be one line each."""
    d, out = start(daemon, tmp_path, ["rfc5424", "rfc3164", "json"])
    msgs = [b"<13>1 2026-01-01T00:00:00Z ho\nst ap\rp p\ni m\ni - hostname with LF",
            b'<13>1 2026-01-01T00:00:00Z h a - - [x@1 v="line\nbreak\r\x00"] sd with LF',
            b"<13>Jan  1 00:00:00 ho\nst ta\ng[1\n]: 3164 fields with LF",
            b"\n\n<13>1 2026-01-01T00:00:00Z h a - - - leading LFs"]
    marker = b"<13>1 2026-01-01T00:00:00Z h a - - - marker"
    sender.send_tcp(d.port("t"), b"".join(octet(m) for m in msgs + [marker]), graceful=True)
    for f in out:
        d.wait_file_lines(out[f], len(msgs) + 1)
    assert d.stop() == 0
    for f in out:
        lines = read_lines(out[f])
        assert len(lines) == len(msgs) + 1, (f, lines)
        assert lines[-1].endswith(b'"marker"}' if f == "json" else b"marker"), (f, lines)
    js = json_lines(read_lines(out["json"]))
    assert js[1]["structured_data"] == {"x@1": {"v": "line\nbreak\r\x00"}}, js[1]
