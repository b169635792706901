/*
 * format.c: tl_msg to bytes in the four output formats.
 *
 * Runs once per message per output, so it writes straight into the caller's tl_buf: no
 * allocation besides the buffer's own growth, no stdio on the common paths, and local time
 * only through the per-thread cache in parse.c. On failure (the buffer's ceiling) the buffer
 * is put back the way it was.
 */
#include "parse/format.h"

#include "core/peer.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "parse/parse.h"
#include "parse/parse_int.h"

struct when {
    int64_t sec;     /* UTC */
    uint32_t usec;
    int off;         /* minutes east of UTC to print */
    unsigned digits; /* fraction digits to print */
    const char *zero; /* how to write a zero offset: "Z", "+00:00", "-00:00" */
};

static const uint8_t bom[3] = {0xEF, 0xBB, 0xBF};

/* Slices come from the parser and are always inside raw; this only guards formatting of a
 * message someone filled by hand. */
/* Slices may also point past raw_len, at values the receiver added (tl_msg_add). */
static struct tl_slice clamp_slice(const struct tl_msg *m, struct tl_slice s)
{
    uint32_t valid = m->raw_len + m->extra_len;
    if (s.off > valid) {
        s.off = valid;
        s.len = 0;
    } else if (s.len > valid - s.off) {
        s.len = valid - s.off;
    }
    return s;
}

static int64_t clamp_epoch(int64_t t)
{
    if (t < TL_EPOCH_MIN) {
        return TL_EPOCH_MIN;
    }
    if (t > TL_EPOCH_MAX) {
        return TL_EPOCH_MAX;
    }
    return t;
}

/* The timestamp every format shows: the message's own, else the receive time in the
 * receiver's local zone. */
static void msg_when(const struct tl_msg *m, struct when *w)
{
    w->zero = "Z";
    if (m->flags & TL_MSG_HAS_TS) {
        w->sec = m->ts_sec;
        w->usec = m->ts_usec % 1000000;
        w->off = m->ts_tzoff;
        w->digits = m->ts_frac_digits < 6 ? m->ts_frac_digits : 6;
        /* RFC 3339 §4.3: "-00:00" is not "Z"; keep what the sender wrote so canonical
         * RFC 5424 input comes out byte for byte. */
        struct tl_slice t = clamp_slice(m, m->timestamp);
        if ((m->flags & TL_MSG_TS_HAS_TZ) && m->ts_tzoff == 0 && t.len >= 6) {
            const uint8_t *e = m->raw + t.off + t.len - 6;
            if (memcmp(e, "+00:00", 6) == 0) {
                w->zero = "+00:00";
            } else if (memcmp(e, "-00:00", 6) == 0) {
                w->zero = "-00:00";
            }
        }
    } else {
        w->sec = m->recv_sec;
        w->usec = m->recv_usec % 1000000;
        w->off = tl_local_offset_utc(clamp_epoch(m->recv_sec));
        w->digits = 6;
    }
    if (w->off > 99 * 60 + 59) {
        w->off = 99 * 60 + 59;
    } else if (w->off < -(99 * 60 + 59)) {
        w->off = -(99 * 60 + 59);
    }
}

struct civil {
    int64_t year;
    unsigned mon;
    unsigned day;
    unsigned hour;
    unsigned min;
    unsigned sec;
};

static void to_civil(int64_t utc, int off, struct civil *c)
{
    /* Clamp twice: the instant may lie just outside years 0000-9999 while its wall clock in
     * the sender's zone does not ("0000-01-01T00:00:00+01:00"). */
    if (utc < TL_EPOCH_MIN - 2 * 86400) {
        utc = TL_EPOCH_MIN - 2 * 86400;
    } else if (utc > TL_EPOCH_MAX + 2 * 86400) {
        utc = TL_EPOCH_MAX + 2 * 86400;
    }
    int64_t wall = clamp_epoch(utc + (int64_t)off * 60);
    int64_t days = wall >= 0 ? wall / 86400 : -((-wall + 86399) / 86400);
    int64_t sod = wall - days * 86400;
    tl_civil_from_days(days, &c->year, &c->mon, &c->day);
    c->hour = (unsigned)(sod / 3600);
    c->min = (unsigned)(sod / 60 % 60);
    c->sec = (unsigned)(sod % 60);
}

static char *put2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* RFC 5424 §6.2.3 / RFC 3339 §5.6: 2003-08-24T05:14:15.000003-07:00 */
static bool put_rfc3339(struct tl_buf *out, const struct when *w)
{
    char tmp[40];
    char *o = tmp;
    struct civil c;

    to_civil(w->sec, w->off, &c);
    o = put2(o, (unsigned)(c.year / 100));
    o = put2(o, (unsigned)(c.year % 100));
    *o++ = '-';
    o = put2(o, c.mon);
    *o++ = '-';
    o = put2(o, c.day);
    *o++ = 'T';
    o = put2(o, c.hour);
    *o++ = ':';
    o = put2(o, c.min);
    *o++ = ':';
    o = put2(o, c.sec);
    if (w->digits > 0) {
        uint32_t v = w->usec;
        char frac[6];
        for (int k = 5; k >= 0; k--) {
            frac[k] = (char)('0' + v % 10);
            v /= 10;
        }
        *o++ = '.';
        memcpy(o, frac, w->digits);
        o += w->digits;
    }
    if (w->off == 0) {
        size_t zl = strlen(w->zero);
        memcpy(o, w->zero, zl);
        o += zl;
    } else {
        unsigned a = (unsigned)(w->off < 0 ? -w->off : w->off);
        *o++ = w->off < 0 ? '-' : '+';
        o = put2(o, a / 60);
        *o++ = ':';
        o = put2(o, a % 60);
    }
    return tl_buf_append(out, tmp, (size_t)(o - tmp));
}

/* RFC 3164 §4.1.2: "Mmm dd hh:mm:ss", day padded with a space. */
static bool put_bsd_time(struct tl_buf *out, const struct when *w)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char tmp[16];
    char *o = tmp;
    struct civil c;

    to_civil(w->sec, w->off, &c);
    memcpy(o, months + 3 * (c.mon - 1), 3);
    o += 3;
    *o++ = ' ';
    *o++ = c.day < 10 ? ' ' : (char)('0' + c.day / 10);
    *o++ = (char)('0' + c.day % 10);
    *o++ = ' ';
    o = put2(o, c.hour);
    *o++ = ':';
    o = put2(o, c.min);
    *o++ = ':';
    o = put2(o, c.sec);
    return tl_buf_append(out, tmp, (size_t)(o - tmp));
}

static unsigned msg_pri(const struct tl_msg *m)
{
    unsigned fac = m->facility < 24 ? m->facility : 1;
    return fac * 8 + (m->severity & 7u);
}

static bool put_pri(struct tl_buf *out, const struct tl_msg *m)
{
    return tl_buf_putc(out, '<') && tl_buf_put_u64(out, msg_pri(m)) && tl_buf_putc(out, '>');
}

/* The host name every format shows: the message's own, else the peer's address. Returns
 * its length (0: none) and sets *p. */
static size_t msg_host(const struct tl_msg *m, char *tmp, size_t cap, const uint8_t **p)
{
    struct tl_slice h = clamp_slice(m, m->hostname);
    if (h.len > 0) {
        *p = m->raw + h.off;
        return h.len;
    }
    if (m->peer.family == AF_INET || m->peer.family == AF_INET6) {
        *p = (const uint8_t *)tmp;
        return tl_addr_format(&m->peer, false, tmp, cap);
    }
    return 0;
}

/* An RFC 5424 header field (§6.2.4-§6.2.7): at most max bytes, all PRINTUSASCII, so the
 * output is valid whatever came in. */
static bool put_field(struct tl_buf *out, const uint8_t *p, size_t len, size_t max)
{
    if (len > max) {
        len = max;
    }
    if (!tl_buf_reserve(out, len)) {
        return false;
    }
    uint8_t *o = out->data + out->len;
    for (size_t k = 0; k < len; k++) {
        o[k] = (p[k] >= 33 && p[k] <= 126) ? p[k] : '_';
    }
    out->len += len;
    return true;
}

static bool put_field_or_nil(struct tl_buf *out, const struct tl_msg *m, struct tl_slice s,
                             size_t max)
{
    s = clamp_slice(m, s);
    if (s.len == 0) {
        return tl_buf_putc(out, '-');
    }
    return put_field(out, m->raw + s.off, s.len, max);
}

/* Free text; for files, control characters other than TAB become "#ooo" (rsyslog's
 * escaping) so a message is always one line. */
static bool put_text(struct tl_buf *out, const uint8_t *p, size_t len, bool esc)
{
    if (!esc) {
        return tl_buf_append(out, p, len);
    }
    size_t run = 0;
    for (size_t k = 0; k < len; k++) {
        uint8_t c = p[k];
        if (c >= 0x20 || c == '\t') {
            continue;
        }
        char e[4] = {'#', (char)('0' + (c >> 6)), (char)('0' + ((c >> 3) & 7)),
                     (char)('0' + (c & 7))};
        if (!tl_buf_append(out, p + run, k - run) || !tl_buf_append(out, e, 4)) {
            return false;
        }
        run = k + 1;
    }
    return tl_buf_append(out, p + run, len - run);
}

static bool fmt_rfc5424(const struct tl_msg *m, bool for_file, struct tl_buf *out)
{
    struct when w;
    char tmp[TL_ADDR_STRLEN];
    const uint8_t *hp = NULL;

    msg_when(m, &w);
    if (!put_pri(out, m) || !tl_buf_puts(out, "1 ") || !put_rfc3339(out, &w) ||
        !tl_buf_putc(out, ' ')) {
        return false;
    }
    size_t hl = msg_host(m, tmp, sizeof(tmp), &hp);
    if (!(hl ? put_field(out, hp, hl, 255) : tl_buf_putc(out, '-')) || !tl_buf_putc(out, ' ') ||
        !put_field_or_nil(out, m, m->app_name, 48) || !tl_buf_putc(out, ' ') ||
        !put_field_or_nil(out, m, m->procid, 128) || !tl_buf_putc(out, ' ') ||
        !put_field_or_nil(out, m, m->msgid, 32) || !tl_buf_putc(out, ' ')) {
        return false;
    }
    /* The parser only stores well-formed STRUCTURED-DATA, so it is copied as sent. */
    struct tl_slice sd = clamp_slice(m, m->sd);
    if (sd.len > 0 && m->raw[sd.off] == '[') {
        if (!put_text(out, m->raw + sd.off, sd.len, for_file)) {
            return false;
        }
    } else if (!tl_buf_putc(out, '-')) {
        return false;
    }
    struct tl_slice msg = clamp_slice(m, m->msg);
    bool has_bom = (m->flags & TL_MSG_HAS_BOM) != 0;
    if (msg.len == 0 && !has_bom) {
        return true;
    }
    return tl_buf_putc(out, ' ') && (!has_bom || tl_buf_append(out, bom, sizeof(bom))) &&
           put_text(out, m->raw + msg.off, msg.len, for_file);
}

static bool fmt_rfc3164(const struct tl_msg *m, bool for_file, struct tl_buf *out)
{
    struct when w;
    char tmp[TL_ADDR_STRLEN];
    const uint8_t *hp = NULL;

    msg_when(m, &w);
    if ((!for_file && !put_pri(out, m)) || !put_bsd_time(out, &w) || !tl_buf_putc(out, ' ')) {
        return false;
    }
    size_t hl = msg_host(m, tmp, sizeof(tmp), &hp);
    if (!(hl ? put_field(out, hp, hl, 255) : tl_buf_puts(out, "localhost"))) {
        return false;
    }
    /* TAG (§4.1.3) as "app[procid]:", as syslog(3) writes it. */
    struct tl_slice app = clamp_slice(m, m->app_name);
    if (app.len > 0) {
        struct tl_slice pid = clamp_slice(m, m->procid);
        if (!tl_buf_putc(out, ' ') || !put_field(out, m->raw + app.off, app.len, 48)) {
            return false;
        }
        if (pid.len > 0 && (!tl_buf_putc(out, '[') ||
                            !put_field(out, m->raw + pid.off, pid.len, 128) ||
                            !tl_buf_putc(out, ']'))) {
            return false;
        }
        if (!tl_buf_putc(out, ':')) {
            return false;
        }
    }
    struct tl_slice msg = clamp_slice(m, m->msg);
    if (msg.len == 0) {
        return true;
    }
    return tl_buf_putc(out, ' ') && put_text(out, m->raw + msg.off, msg.len, for_file);
}

/* Length of the valid UTF-8 sequence at p (RFC 3629 §4), 0 when it is not one. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c >= 0xC2 && c <= 0xDF) {
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = c == 0xED ? 0x9F : 0xBF;
        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* The inside of a JSON string (RFC 8259 §7). Bytes that are not UTF-8 are read as Latin-1
 * and written as \u00XX, so the output is always valid UTF-8. */
static bool json_chars(struct tl_buf *out, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    size_t k = 0;
    while (k < len) {
        uint8_t c = p[k];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            k++;
            continue;
        }
        if (c >= 0x80) {
            size_t u = utf8_len(p + k, len - k);
            if (u > 0) {
                k += u;
                continue;
            }
        }
        char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        size_t el = 6;
        switch (c) {
        case '"':
        case '\\':
            e[1] = (char)c;
            el = 2;
            break;
        case '\n':
            e[1] = 'n';
            el = 2;
            break;
        case '\r':
            e[1] = 'r';
            el = 2;
            break;
        case '\t':
            e[1] = 't';
            el = 2;
            break;
        case '\b':
            e[1] = 'b';
            el = 2;
            break;
        case '\f':
            e[1] = 'f';
            el = 2;
            break;
        default:
            break;
        }
        if (!tl_buf_append(out, p + run, k - run) || !tl_buf_append(out, e, el)) {
            return false;
        }
        k++;
        run = k;
    }
    return tl_buf_append(out, p + run, len - run);
}

static bool json_str(struct tl_buf *out, const uint8_t *p, size_t len)
{
    return tl_buf_putc(out, '"') && json_chars(out, p, len) && tl_buf_putc(out, '"');
}

static bool json_key(struct tl_buf *out, const char *key)
{
    return tl_buf_puts(out, ",\"") && tl_buf_puts(out, key) && tl_buf_puts(out, "\":");
}

/* "key":"value" or "key":null, so every message has the same keys. */
static bool json_slice(struct tl_buf *out, const char *key, const struct tl_msg *m,
                       struct tl_slice s)
{
    s = clamp_slice(m, s);
    if (!json_key(out, key)) {
        return false;
    }
    return s.len ? json_str(out, m->raw + s.off, s.len) : tl_buf_puts(out, "null");
}

/* A PARAM-VALUE with its RFC 5424 §6.3.3 escapes removed on the way: each escape splits the
 * value at an ASCII byte, which never cuts a valid UTF-8 sequence. */
static bool json_sd_value(struct tl_buf *out, const uint8_t *v, size_t len)
{
    size_t s = 0;
    if (!tl_buf_putc(out, '"')) {
        return false;
    }
    for (size_t k = 0; k + 1 < len; k++) {
        if (v[k] == '\\' && (v[k + 1] == '"' || v[k + 1] == '\\' || v[k + 1] == ']')) {
            if (!json_chars(out, v + s, k - s) || !json_chars(out, v + k + 1, 1)) {
                return false;
            }
            k++;
            s = k + 1;
        }
    }
    return json_chars(out, v + s, len - s) && tl_buf_putc(out, '"');
}

/* {"sdid":{"param":"value",...},...}; *clean is false when the SD did not parse to its end. */
static bool json_sd(struct tl_buf *out, const uint8_t *p, size_t len, bool *clean)
{
    struct tl_sd_iter it;
    enum tl_sd_kind k;
    bool first_el = true;
    bool first_param = true;

    tl_sd_iter_init(&it, p, len);
    if (!tl_buf_putc(out, '{')) {
        return false;
    }
    while ((k = tl_sd_next(&it)) != TL_SD_END) {
        if (k == TL_SD_ELEMENT) {
            if ((!first_el && !tl_buf_puts(out, "},")) || !json_str(out, it.id, it.id_len) ||
                !tl_buf_puts(out, ":{")) {
                return false;
            }
            first_el = false;
            first_param = true;
        } else {
            if ((!first_param && !tl_buf_putc(out, ',')) ||
                !json_str(out, it.name, it.name_len) || !tl_buf_putc(out, ':') ||
                !json_sd_value(out, it.value, it.value_len)) {
                return false;
            }
            first_param = false;
        }
    }
    *clean = it.pos == it.len && it.id == NULL;
    return (first_el || tl_buf_putc(out, '}')) && tl_buf_putc(out, '}');
}

static const char *proto_name(unsigned proto)
{
    switch (proto) {
    case TL_PROTO_RFC5424:
        return "rfc5424";
    case TL_PROTO_RFC3164:
        return "rfc3164";
    default:
        return "unknown";
    }
}

static bool fmt_json(const struct tl_msg *m, struct tl_buf *out)
{
    struct when w;
    struct when recv;
    char tmp[TL_ADDR_STRLEN];
    const uint8_t *hp = NULL;

    msg_when(m, &w);
    recv.sec = m->recv_sec;
    recv.usec = m->recv_usec % 1000000;
    recv.off = 0;
    recv.digits = 6;
    recv.zero = "Z";
    if (!tl_buf_puts(out, "{\"timestamp\":\"") || !put_rfc3339(out, &w) ||
        !tl_buf_puts(out, "\",\"received\":\"") || !put_rfc3339(out, &recv) ||
        !tl_buf_putc(out, '"')) {
        return false;
    }
    if (m->peer.family != 0) {
        size_t pl = tl_addr_format(&m->peer, true, tmp, sizeof(tmp));
        if (!json_key(out, "peer") || !json_str(out, (const uint8_t *)tmp, pl)) {
            return false;
        }
    }
    /* The TLS identity of the sending connection (RFC 5425 §4.2.1: record the peer's
     * certificate with the data). */
    const struct tl_peer_id *id = m->peer_id;
    if (id && id->subject) {
        if (id->name && (!json_key(out, "peer_name") ||
                         !json_str(out, (const uint8_t *)id->name, strlen(id->name)))) {
            return false;
        }
        if (!json_key(out, "peer_subject") ||
            !json_str(out, (const uint8_t *)id->subject, strlen(id->subject)) ||
            (id->sha256 && (!json_key(out, "peer_fingerprint") ||
                            !json_str(out, (const uint8_t *)id->sha256, strlen(id->sha256)))) ||
            !tl_buf_puts(out, id->verified ? ",\"peer_verified\":true"
                                           : ",\"peer_verified\":false")) {
            return false;
        }
    }
    if (!json_key(out, "proto") || !tl_buf_putc(out, '"') ||
        !tl_buf_puts(out, proto_name(m->proto)) || !tl_buf_putc(out, '"') ||
        !json_key(out, "facility") || !tl_buf_putc(out, '"') ||
        !tl_buf_puts(out, tl_facility_name(m->facility)) || !tl_buf_putc(out, '"') ||
        !json_key(out, "severity") || !tl_buf_putc(out, '"') ||
        !tl_buf_puts(out, tl_severity_name(m->severity)) || !tl_buf_putc(out, '"') ||
        !json_key(out, "pri") || !tl_buf_put_u64(out, msg_pri(m))) {
        return false;
    }
    size_t hl = msg_host(m, tmp, sizeof(tmp), &hp);
    if (!json_key(out, "hostname") ||
        !(hl ? json_str(out, hp, hl) : tl_buf_puts(out, "null")) ||
        !json_slice(out, "app_name", m, m->app_name) || !json_slice(out, "procid", m, m->procid) ||
        !json_slice(out, "msgid", m, m->msgid) || !json_key(out, "structured_data")) {
        return false;
    }
    struct tl_slice sd = clamp_slice(m, m->sd);
    if (sd.len == 0) {
        if (!tl_buf_puts(out, "null")) {
            return false;
        }
    } else {
        size_t mark = out->len;
        bool clean = false;
        if (!json_sd(out, m->raw + sd.off, sd.len, &clean)) {
            return false;
        }
        if (!clean) {
            out->len = mark;
            if (!tl_buf_puts(out, "null") || !json_key(out, "structured_data_raw") ||
                !json_str(out, m->raw + sd.off, sd.len)) {
                return false;
            }
        }
    }
    struct tl_slice msg = clamp_slice(m, m->msg);
    if (!json_key(out, "msg") || !json_str(out, m->raw + msg.off, msg.len)) {
        return false;
    }
    if ((m->flags & TL_MSG_MALFORMED) && !tl_buf_puts(out, ",\"malformed\":true")) {
        return false;
    }
    if ((m->flags & TL_MSG_TRUNCATED) && !tl_buf_puts(out, ",\"truncated\":true")) {
        return false;
    }
    return tl_buf_putc(out, '}');
}

bool tl_format(const struct tl_msg *m, enum tl_format f, bool for_file, struct tl_buf *out)
{
    size_t start = out->len;
    bool ok;

    switch (f) {
    case TL_FMT_RFC5424:
        ok = fmt_rfc5424(m, for_file, out);
        break;
    case TL_FMT_RFC3164:
        ok = fmt_rfc3164(m, for_file, out);
        break;
    case TL_FMT_JSON:
        ok = fmt_json(m, out);
        break;
    case TL_FMT_RAW:
        ok = tl_buf_append(out, m->raw, tl_parse_trim_len(m));
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        out->len = start;
    }
    return ok;
}

int tl_format_from_name(const char *name)
{
    static const char *const names[] = {"rfc5424", "rfc3164", "json", "raw"};
    for (int k = 0; k < 4; k++) {
        if (strcasecmp(name, names[k]) == 0) {
            return k;
        }
    }
    return -1;
}

const char *tl_format_name(enum tl_format f)
{
    switch (f) {
    case TL_FMT_RFC5424:
        return "rfc5424";
    case TL_FMT_RFC3164:
        return "rfc3164";
    case TL_FMT_JSON:
        return "json";
    case TL_FMT_RAW:
        return "raw";
    default:
        return "?";
    }
}
