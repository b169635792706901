/*
 * rfc3164.c: the BSD syslog format as receivers meet it, not as RFC 3164 §4.1 wishes it.
 *
 *   [<PRI>] [TIMESTAMP SP [HOSTNAME SP]] [TAG["[" PID "]"]":" SP] MSG
 *
 * TIMESTAMP is "Mmm dd hh:mm:ss" (§4.1.2), optionally with a fraction and a year (Cisco,
 * Aruba, NX-OS put it in different places), or an RFC 3339 timestamp (rsyslog's
 * RSYSLOG_ForwardFormat, syslog-ng's ts-format(iso)). HOSTNAME is often missing (logger to
 * /dev/log, many daemons), so the word after the timestamp is only a host when it cannot be
 * a TAG. Cisco IOS puts a sequence number (and, with "logging origin-id", the host name)
 * before the timestamp and ends the timestamp with ':'. Nothing is mandatory: whatever is
 * left is MSG.
 */
#include "parse/parse.h"

#include <string.h>

#include "parse/parse_int.h"

struct bsd_ts {
    int64_t year; /* -1: not sent */
    unsigned mon;
    unsigned day;
    unsigned sod; /* seconds of the day */
    uint32_t usec;
    uint8_t frac_digits;
    bool utc;     /* Cisco "... UTC:" */
};

static void set_slice(struct tl_slice *s, size_t off, size_t len)
{
    s->off = (uint32_t)off;
    s->len = (uint32_t)len;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(uint8_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool num(const uint8_t *p, size_t n, size_t at, size_t count, unsigned *out)
{
    unsigned v = 0;
    if (at + count > n) {
        return false;
    }
    for (size_t k = 0; k < count; k++) {
        if (!is_digit(p[at + k])) {
            return false;
        }
        v = v * 10 + (unsigned)(p[at + k] - '0');
    }
    *out = v;
    return true;
}

static size_t skip_sp(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && p[i] == ' ') {
        i++;
    }
    return i;
}

static unsigned month_of(const uint8_t *p, size_t n, size_t i)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (i + 3 > n) {
        return 0;
    }
    uint8_t a = p[i] | 0x20;
    uint8_t b = p[i + 1] | 0x20;
    uint8_t c = p[i + 2] | 0x20;
    for (unsigned k = 0; k < 12; k++) {
        if (names[3 * k] == a && names[3 * k + 1] == b && names[3 * k + 2] == c) {
            return k + 1;
        }
    }
    return 0;
}

/* Zone names seen after Cisco timestamps ("*Mar  1 18:48:50.483 UTC:"). Only UTC-like ones
 * tell us an offset: the others are ambiguous (CST, IST, BST) and are read as local time. */
static bool zone_name(const uint8_t *p, size_t len, bool any, bool *utc)
{
    static const char *const known[] = {
        "UTC", "GMT", "UT", "Z", "CET", "CEST", "EET", "EEST", "WET", "WEST", "EST", "EDT",
        "CST", "CDT", "MST", "MDT", "PST", "PDT", "AKST", "AKDT", "HST", "JST", "KST", "IST",
        "BST", "MSK", "SGT", "HKT", "AEST", "AEDT", "ACST", "AWST", "NZST", "NZDT",
    };
    if (len < 1 || len > 5) {
        return false;
    }
    for (size_t k = 0; k < len; k++) {
        if (p[k] < 'A' || p[k] > 'Z') {
            return false;
        }
    }
    *utc = (len == 3 && (memcmp(p, "UTC", 3) == 0 || memcmp(p, "GMT", 3) == 0)) ||
           (len == 2 && memcmp(p, "UT", 2) == 0) || (len == 1 && p[0] == 'Z');
    if (any) {
        return true;
    }
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        if (strlen(known[k]) == len && memcmp(known[k], p, len) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * "Mmm dd hh:mm:ss" with a space- or zero-padded (or bare) day, an optional fraction, and a
 * year in any of the places devices put it: "yyyy Mmm dd hh:mm:ss" (NX-OS),
 * "Mmm dd yyyy hh:mm:ss" (IOS "datetime year", ASA), "Mmm dd hh:mm:ss yyyy" (ArubaOS). A
 * zone name followed by ':' is taken too (any upper-case word when cisco says we are after
 * an IOS sequence number). Returns the bytes used, 0 when p[i] does not start one.
 */
static size_t bsd_timestamp(const uint8_t *p, size_t n, size_t start, bool cisco,
                            struct bsd_ts *b)
{
    size_t i = start;
    unsigned v;
    unsigned hh;
    unsigned mi;
    unsigned ss;

    memset(b, 0, sizeof(*b));
    b->year = -1;
    if (num(p, n, i, 4, &v) && i + 4 < n && p[i + 4] == ' ') {
        b->year = v;
        i += 5;
    }
    b->mon = month_of(p, n, i);
    if (b->mon == 0 || i + 3 >= n || p[i + 3] != ' ') {
        return 0;
    }
    i += 4;
    if (i < n && p[i] == ' ') {
        i++;
    }
    if (i >= n || !is_digit(p[i])) {
        return 0;
    }
    b->day = (unsigned)(p[i++] - '0');
    if (i < n && is_digit(p[i])) {
        b->day = b->day * 10 + (unsigned)(p[i++] - '0');
    }
    if (i >= n || p[i] != ' ') {
        return 0;
    }
    i++;
    if (b->year < 0 && num(p, n, i, 4, &v) && i + 4 < n && p[i + 4] == ' ') {
        b->year = v;
        i += 5;
    }
    if (!num(p, n, i, 2, &hh) || i + 8 > n || p[i + 2] != ':' || !num(p, n, i + 3, 2, &mi) ||
        p[i + 5] != ':' || !num(p, n, i + 6, 2, &ss)) {
        return 0;
    }
    i += 8;
    if (b->day < 1 || b->day > 31 || hh > 23 || mi > 59 || ss > 60) {
        return 0;
    }
    b->sod = hh * 3600 + mi * 60 + ss;
    if (i + 1 < n && p[i] == '.' && is_digit(p[i + 1])) {
        size_t fs = ++i;
        uint32_t usec = 0;
        while (i < n && is_digit(p[i])) {
            if (i - fs < 6) {
                usec = usec * 10 + (uint32_t)(p[i] - '0');
            }
            i++;
        }
        size_t nd = i - fs < 6 ? i - fs : 6;
        for (size_t k = nd; k < 6; k++) {
            usec *= 10;
        }
        b->usec = usec;
        b->frac_digits = (uint8_t)nd;
    }
    /* date(1) style, as in RFC 3164 §5.4 example 3: "Aug 24 05:34:00 CST 1987" */
    if (b->year < 0 && i < n && p[i] == ' ') {
        size_t z = i + 1;
        size_t ze = z;
        bool utc = false;
        while (ze < n && ze - z < 6 && p[ze] >= 'A' && p[ze] <= 'Z') {
            ze++;
        }
        if (ze > z && num(p, n, ze + 1, 4, &v) && p[ze] == ' ' &&
            (ze + 5 == n || p[ze + 5] == ' ') && zone_name(p + z, ze - z, false, &utc)) {
            b->year = v;
            b->utc = utc;
            i = ze + 5;
        }
    }
    if (b->year < 0 && num(p, n, i + 1, 4, &v) && p[i] == ' ' && (i + 5 == n || p[i + 5] == ' ') &&
        v >= 1970 && v < 2200) {
        b->year = v;
        i += 5;
    }
    if (i < n && p[i] == ' ') {
        size_t z = i + 1;
        size_t ze = z;
        while (ze < n && ze - z < 6 && p[ze] >= 'A' && p[ze] <= 'Z') {
            ze++;
        }
        if (ze < n && p[ze] == ':' && zone_name(p + z, ze - z, cisco, &b->utc)) {
            i = ze;
        }
    }
    if (i < n && p[i] != ' ' && p[i] != ':') {
        return 0;
    }
    return i - start;
}

/*
 * Turns a BSD timestamp into m->ts_*. Without a year, the year is the one that puts the
 * timestamp nearest to the receive time (a "Dec 31" line received on Jan 1 is from last
 * year). Without a zone it is the receiver's local time, resolved like mktime(tm_isdst=-1),
 * and ts_tzoff keeps that offset so formatters print the same clock.
 */
static bool bsd_to_ts(struct tl_msg *m, const struct bsd_ts *b)
{
    int64_t wall;
    if (b->year >= 0) {
        if (b->day > tl_days_in_month(b->year, b->mon)) {
            return false;
        }
        wall = tl_days_from_civil(b->year, b->mon, b->day) * 86400 + b->sod;
    } else {
        int64_t recv = m->recv_sec;
        if (recv < TL_EPOCH_MIN + 86400 * 400) {
            recv = TL_EPOCH_MIN + 86400 * 400;
        } else if (recv > TL_EPOCH_MAX - 86400 * 400) {
            recv = TL_EPOCH_MAX - 86400 * 400;
        }
        int64_t ref = recv + (b->utc ? 0 : (int64_t)tl_local_offset_utc(recv) * 60);
        int64_t ry;
        unsigned rm;
        unsigned rd;
        int64_t rdays = ref >= 0 ? ref / 86400 : -((-ref + 86399) / 86400);
        tl_civil_from_days(rdays, &ry, &rm, &rd);
        bool found = false;
        int64_t best = 0;
        for (int64_t y = ry - 1; y <= ry + 1; y++) {
            if (b->day > tl_days_in_month(y, b->mon)) {
                continue;
            }
            int64_t w = tl_days_from_civil(y, b->mon, b->day) * 86400 + b->sod;
            int64_t d = w > ref ? w - ref : ref - w;
            int64_t bd = best > ref ? best - ref : ref - best;
            if (!found || d < bd) {
                best = w;
                found = true;
            }
        }
        if (!found) {
            return false;
        }
        wall = best;
    }
    if (b->utc) {
        m->flags |= TL_MSG_TS_HAS_TZ;
        m->ts_tzoff = 0;
        m->ts_sec = wall;
    } else {
        int off = tl_local_offset_wall(wall);
        m->ts_tzoff = (int16_t)off;
        m->ts_sec = wall - (int64_t)off * 60;
    }
    m->ts_usec = b->usec;
    m->ts_frac_digits = b->frac_digits;
    m->flags |= TL_MSG_HAS_TS;
    return true;
}

/* An IOS sequence number: digits ": " (up to two: "17: 000013: "). */
static size_t skip_seq(const uint8_t *p, size_t n, size_t i)
{
    for (int round = 0; round < 2; round++) {
        size_t k = i;
        while (k < n && k - i < 12 && is_digit(p[k])) {
            k++;
        }
        if (k == i || k + 1 >= n || p[k] != ':' || p[k + 1] != ' ') {
            break;
        }
        i = k + 2;
    }
    return i;
}

static bool host_char(uint8_t c)
{
    return is_alnum(c) || c == '.' || c == '-' || c == '_' || c == ':';
}

/* RFC 3164 §4.1.3 says alphanumerics; real tags also carry these (postfix/smtpd,
 * systemd-logind, org.gnome.Shell, (sd-pam)). '%' and '=' are left out on purpose so Cisco
 * "%SYS-5-CONFIG_I:" and "key=value" payloads stay in MSG. */
static bool tag_char(uint8_t c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == '/' || c == '-' || c == '(' ||
           c == ')' || c == '@' || c == '+' || c == '~';
}

/* TAG[PID]: or TAG: at i. Returns where MSG starts (i itself when there is no TAG). */
static size_t parse_tag(struct tl_msg *m, size_t n, size_t i)
{
    const uint8_t *p = m->raw;
    size_t t = i;
    bool digits_only = true;
    bool alnum = false;

    while (t < n && t - i <= 48 && tag_char(p[t])) {
        digits_only = digits_only && is_digit(p[t]);
        alnum = alnum || is_alnum(p[t]);
        t++;
    }
    /* A bare number is a sequence number or text, never a program name; "-" or "./" are
     * punctuation, not names. */
    if (t == i || t - i > 48 || digits_only || !alnum || t >= n) {
        return i;
    }
    if (p[t] == '[') {
        size_t ps = t + 1;
        size_t pe = ps;
        while (pe < n && pe - ps <= 128 && p[pe] != ']' && p[pe] != ' ') {
            pe++;
        }
        if (pe >= n || p[pe] != ']' || pe - ps > 128) {
            return i;
        }
        size_t after = pe + 1;
        if (after < n && p[after] != ':' && p[after] != ' ') {
            return i;
        }
        set_slice(&m->app_name, i, t - i);
        set_slice(&m->procid, ps, pe - ps);
        if (after < n && p[after] == ':') {
            after++;
        }
        if (after < n && p[after] == ' ') {
            after++;
        }
        return after;
    }
    if (p[t] == ':' && (t + 1 == n || p[t + 1] == ' ')) {
        set_slice(&m->app_name, i, t - i);
        /* The single SP after the colon separates; any further ones belong to MSG. */
        return t + 1 < n ? t + 2 : t + 1;
    }
    return i;
}

void tl_parse_rfc3164(struct tl_msg *m)
{
    tl_parse_reset(m);
    m->proto = TL_PROTO_RFC3164;
    const uint8_t *p = m->raw;
    size_t n = m->msg.len;
    size_t i = 0;
    int pri;
    bool cisco = false;
    bool host_done = false;
    bool have_ts = false;

    /* §4.1.1; §4.3.3: without a valid PRI the relay assumes 13 (user.notice). */
    size_t k = tl_parse_pri(p, n, &pri);
    if (k > 0) {
        if (pri >= 0) {
            m->flags |= TL_MSG_HAS_PRI;
            m->facility = (uint8_t)(pri >> 3);
            m->severity = (uint8_t)(pri & 7);
        } else {
            m->flags |= TL_MSG_MALFORMED;
        }
        i = k;
    }
    i = skip_sp(p, n, i);

    /* Cisco IOS: "<PRI>seq: [origin-id: ][*|.]timestamp[ zone]: %FAC-SEV-MNEMONIC: text" */
    k = skip_seq(p, n, i);
    if (k > i) {
        cisco = true;
        size_t he = k;
        bool alnum = false;
        while (he < n && he - k < 255 && (is_alnum(p[he]) || p[he] == '.' || p[he] == '-' ||
                                          p[he] == '_')) {
            alnum = alnum || is_alnum(p[he]);
            he++;
        }
        if (alnum && he + 1 < n && p[he] == ':' && p[he + 1] == ' ') {
            set_slice(&m->hostname, k, he - k);
            m->flags |= TL_MSG_HAS_HOST;
            host_done = true;
            k = skip_seq(p, n, he + 2);
        }
        i = k;
    } else if (i + 1 < n && p[i] == ':' && p[i + 1] == ' ') {
        /* NX-OS: "<PRI>: 2024 Jan 15 10:00:00 UTC: %..." */
        cisco = true;
        i += 2;
    }

    /* TIMESTAMP. Cisco marks an unsynchronised clock with '*', an unsure one with '.'. */
    size_t ts = i;
    if (ts + 1 < n && (p[ts] == '*' || p[ts] == '.') && month_of(p, n, ts + 1)) {
        ts++;
        cisco = true;
    }
    struct bsd_ts b;
    struct tl_ts iso;
    size_t tlen = bsd_timestamp(p, n, ts, cisco, &b);
    if (tlen > 0) {
        have_ts = true;
        set_slice(&m->timestamp, ts, tlen);
        if (!bsd_to_ts(m, &b)) {
            /* "Feb 30" or "Feb 29" with no leap year near: keep going, flag it. */
            m->flags |= TL_MSG_MALFORMED;
        }
        i = ts + tlen;
    } else if ((tlen = tl_parse_rfc3339(p + i, n - i, &iso)) > 0 &&
               (i + tlen == n || p[i + tlen] == ' ' || p[i + tlen] == ':')) {
        have_ts = true;
        set_slice(&m->timestamp, i, tlen);
        m->flags |= TL_MSG_HAS_TS;
        m->ts_usec = iso.usec;
        m->ts_frac_digits = iso.frac_digits;
        if (iso.has_tz) {
            m->flags |= TL_MSG_TS_HAS_TZ;
            m->ts_tzoff = iso.tzoff;
            m->ts_sec = iso.sec;
        } else {
            int off = tl_local_offset_wall(iso.sec);
            m->ts_tzoff = (int16_t)off;
            m->ts_sec = iso.sec - (int64_t)off * 60;
        }
        i += tlen;
    }

    if (have_ts) {
        if (i < n && p[i] == ':') {
            /* IOS/ASA end the timestamp with ':'; no host name follows it. */
            i++;
            if (i < n && p[i] == ' ') {
                i++;
            }
            host_done = true;
        } else {
            i = skip_sp(p, n, i);
        }
        if (!host_done) {
            /* §4.1.2 HOSTNAME, but only if the word cannot be the TAG: a TAG ends in ':' or
             * carries "[pid]", a host name never does. A last word is MSG, not a host. */
            size_t e = i;
            bool ok = true;
            bool alnum = false;
            while (e < n && p[e] != ' ') {
                ok = ok && host_char(p[e]);
                alnum = alnum || is_alnum(p[e]);
                e++;
            }
            /* A lone "-" would read as NILVALUE once written as RFC 5424. */
            if (ok && alnum && e > i && e < n && e - i <= 255 && p[e - 1] != ':') {
                set_slice(&m->hostname, i, e - i);
                m->flags |= TL_MSG_HAS_HOST;
                i = skip_sp(p, n, e);
                /* Cisco ASA: "Jan 15 2024 10:00:00 asa1 : %ASA-6-302013: ..." */
                if (i + 1 < n && p[i] == ':' && p[i + 1] == ' ') {
                    i += 2;
                }
            }
        }
    }

    i = parse_tag(m, n, i);
    set_slice(&m->msg, i, n - i);
}
