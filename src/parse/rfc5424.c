/*
 * rfc5424.c: the RFC 5424 parser.
 *
 *   SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]                            (§6)
 *   HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 *
 * Lenient where it costs nothing: extra spaces between header fields, over-long fields,
 * bytes outside PRINTUSASCII, a timestamp without offset are all accepted and flagged
 * TL_MSG_MALFORMED. Where the structure cannot be followed any more (bad timestamp, bad
 * STRUCTURED-DATA) the rest of the text becomes MSG.
 */
#include "parse/parse.h"

#include "parse/parse_int.h"

static void set_slice(struct tl_slice *s, size_t off, size_t len)
{
    s->off = (uint32_t)off;
    s->len = (uint32_t)len;
}

/*
 * Reads the next header field at *i: the bytes up to the next SP. RFC 5424 wants exactly
 * one SP between fields; runs of them are skipped but flagged. Returns false when the text
 * ends before the field (a truncated header).
 */
static bool field(struct tl_msg *m, size_t n, size_t *i, size_t *start, size_t *end)
{
    const uint8_t *p = m->raw;
    size_t k = *i;
    if (k < n && p[k] == ' ') {
        m->flags |= TL_MSG_MALFORMED;
        while (k < n && p[k] == ' ') {
            k++;
        }
    }
    if (k >= n) {
        *i = k;
        return false;
    }
    *start = k;
    while (k < n && p[k] != ' ') {
        k++;
    }
    *end = k;
    *i = k < n ? k + 1 : k;
    return true;
}

/* HOSTNAME, APP-NAME, PROCID, MSGID: NILVALUE or 1*max PRINTUSASCII (§6.2.4-§6.2.7). */
static void name_field(struct tl_msg *m, struct tl_slice *s, size_t start, size_t end,
                       size_t max)
{
    size_t len = end - start;
    if (len == 1 && m->raw[start] == '-') {
        return;
    }
    if (len > max) {
        m->flags |= TL_MSG_MALFORMED;
    }
    for (size_t k = start; k < end; k++) {
        if (m->raw[k] < 33 || m->raw[k] > 126) {
            m->flags |= TL_MSG_MALFORMED;
            break;
        }
    }
    set_slice(s, start, len);
}

static bool timestamp(struct tl_msg *m, size_t start, size_t end)
{
    size_t len = end - start;
    struct tl_ts ts;

    /* §6.2.3: TIMESTAMP = NILVALUE / FULL-DATE "T" FULL-TIME */
    if (len == 1 && m->raw[start] == '-') {
        return true;
    }
    if (tl_parse_rfc3339(m->raw + start, len, &ts) != len) {
        return false;
    }
    if (ts.sloppy) {
        m->flags |= TL_MSG_MALFORMED;
    }
    if (ts.has_tz) {
        m->flags |= TL_MSG_TS_HAS_TZ;
        m->ts_tzoff = ts.tzoff;
        m->ts_sec = ts.sec;
    } else {
        int off = tl_local_offset_wall(ts.sec);
        m->ts_tzoff = (int16_t)off;
        m->ts_sec = ts.sec - (int64_t)off * 60;
    }
    m->flags |= TL_MSG_HAS_TS;
    m->ts_usec = ts.usec;
    m->ts_frac_digits = ts.frac_digits;
    set_slice(&m->timestamp, start, len);
    return true;
}

/* STRUCTURED-DATA at i (§6.3). Returns the length of the well-formed SD-ELEMENTs there. */
static size_t sd_length(const struct tl_msg *m, size_t i, size_t n)
{
    struct tl_sd_iter it;
    size_t good = 0;
    enum tl_sd_kind k;

    tl_sd_iter_init(&it, m->raw + i, n - i);
    while ((k = tl_sd_next(&it)) != TL_SD_END) {
        if (k == TL_SD_ELEMENT) {
            good = (size_t)(it.id - 1 - it.p);
        }
    }
    /* Outside an element pos sits right after the last ']': everything before is sane. */
    if (!it.id) {
        good = it.pos;
    }
    return good;
}

static void set_msg(struct tl_msg *m, size_t i, size_t n)
{
    set_slice(&m->msg, i, n - i);
}

bool tl_parse_rfc5424(struct tl_msg *m)
{
    tl_parse_reset(m);
    const uint8_t *p = m->raw;
    size_t n = m->msg.len;
    int pri;
    size_t i = tl_parse_pri(p, n, &pri);
    size_t s;
    size_t e;

    /* §6.2.2: VERSION 1 is the only one defined. */
    if (i == 0 || i + 1 >= n || p[i] != '1' || p[i + 1] != ' ') {
        return false;
    }
    m->proto = TL_PROTO_RFC5424;
    if (pri >= 0) {
        m->flags |= TL_MSG_HAS_PRI;
        m->facility = (uint8_t)(pri >> 3);
        m->severity = (uint8_t)(pri & 7);
    } else {
        m->flags |= TL_MSG_MALFORMED;
    }
    i += 2;

    if (!field(m, n, &i, &s, &e)) {
        goto truncated;
    }
    if (!timestamp(m, s, e)) {
        m->flags |= TL_MSG_MALFORMED;
        set_msg(m, s, n);
        return true;
    }
    if (!field(m, n, &i, &s, &e)) {
        goto truncated;
    }
    name_field(m, &m->hostname, s, e, 255);
    if (m->hostname.len) {
        m->flags |= TL_MSG_HAS_HOST;
    }
    if (!field(m, n, &i, &s, &e)) {
        goto truncated;
    }
    name_field(m, &m->app_name, s, e, 48);
    if (!field(m, n, &i, &s, &e)) {
        goto truncated;
    }
    name_field(m, &m->procid, s, e, 128);
    if (!field(m, n, &i, &s, &e)) {
        goto truncated;
    }
    name_field(m, &m->msgid, s, e, 32);

    if (i < n && p[i] == ' ') {
        m->flags |= TL_MSG_MALFORMED;
        while (i < n && p[i] == ' ') {
            i++;
        }
    }
    if (i >= n) {
        goto truncated;
    }
    if (p[i] == '-' && (i + 1 == n || p[i + 1] == ' ')) {
        i++;
    } else {
        size_t good = p[i] == '[' ? sd_length(m, i, n) : 0;
        if (good == 0) {
            /* Not STRUCTURED-DATA at all (often a sender that left it out): keep the text. */
            m->flags |= TL_MSG_MALFORMED;
            set_msg(m, i, n);
            return true;
        }
        set_slice(&m->sd, i, good);
        i += good;
    }
    if (i == n) {
        set_msg(m, n, n);
        return true;
    }
    if (p[i] != ' ') {
        /* Broken SD-ELEMENT after good ones: keep the good ones, the rest is MSG. */
        m->flags |= TL_MSG_MALFORMED;
        set_msg(m, i, n);
        return true;
    }
    i++;
    /* §6.4: MSG-UTF8 = BOM UTF-8-STRING */
    if (n - i >= 3 && p[i] == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF) {
        m->flags |= TL_MSG_HAS_BOM;
        i += 3;
    }
    set_msg(m, i, n);
    return true;

truncated:
    m->flags |= TL_MSG_MALFORMED;
    set_msg(m, n, n);
    return true;
}
