/*
 * parse.c: per-message detection of RFC 5424 vs RFC 3164, plus the helpers both parsers
 * share (PRI, RFC 3339 timestamps, calendar arithmetic, local time offsets).
 */
#include "parse/parse.h"

#include <string.h>
#include <time.h>

#include "parse/parse_int.h"

/* Calendar arithmetic after Howard Hinnant's days_from_civil/civil_from_days: exact for the
 * proleptic Gregorian calendar, no tables, no TZ. */
int64_t tl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tl_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

unsigned tl_days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12) {
        return 0;
    }
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        return 29;
    }
    return dim[m - 1];
}

size_t tl_parse_trim_len(const struct tl_msg *m)
{
    size_t n = m->raw_len;
    while (n > 0 && (m->raw[n - 1] == '\n' || m->raw[n - 1] == '\r' || m->raw[n - 1] == '\0')) {
        n--;
    }
    return n;
}

void tl_parse_reset(struct tl_msg *m)
{
    m->flags &= TL_MSG_TRUNCATED;
    m->proto = TL_PROTO_UNKNOWN;
    m->facility = 1;
    m->severity = 5;
    m->ts_frac_digits = 0;
    m->ts_tzoff = 0;
    m->ts_sec = 0;
    m->ts_usec = 0;
    memset(&m->timestamp, 0, sizeof(m->timestamp));
    m->hostname = m->timestamp;
    m->app_name = m->timestamp;
    m->procid = m->timestamp;
    m->msgid = m->timestamp;
    m->sd = m->timestamp;
    m->msg.off = 0;
    m->msg.len = (uint32_t)tl_parse_trim_len(m);
}

size_t tl_parse_pri(const uint8_t *p, size_t n, int *pri)
{
    *pri = -1;
    if (n < 3 || p[0] != '<') {
        return 0;
    }
    size_t i = 1;
    int v = 0;
    /* Read up to six digits so "<0013>" or "<9999>" is skipped as a bad PRI rather than
     * taken for message text. */
    while (i < n && i < 7 && p[i] >= '0' && p[i] <= '9') {
        v = v * 10 + (p[i] - '0');
        i++;
    }
    if (i == 1 || i >= n || p[i] != '>') {
        return 0;
    }
    if (i <= 4 && v <= 191) {
        *pri = v;
    }
    return i + 1;
}

static bool digits(const uint8_t *p, size_t n, size_t at, size_t count, unsigned *out)
{
    unsigned v = 0;
    if (at + count > n) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t c = p[at + i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(c - '0');
    }
    *out = v;
    return true;
}

size_t tl_parse_rfc3339(const uint8_t *p, size_t n, struct tl_ts *ts)
{
    unsigned y;
    unsigned mo;
    unsigned d;
    unsigned hh;
    unsigned mi;
    unsigned ss;

    memset(ts, 0, sizeof(*ts));
    /* RFC 5424 §6.2.3 / RFC 3339 §5.6: FULL-DATE "T" FULL-TIME */
    if (!digits(p, n, 0, 4, &y) || n < 19 || p[4] != '-' || !digits(p, n, 5, 2, &mo) ||
        p[7] != '-' || !digits(p, n, 8, 2, &d) || (p[10] != 'T' && p[10] != 't') ||
        !digits(p, n, 11, 2, &hh) || p[13] != ':' || !digits(p, n, 14, 2, &mi) ||
        p[16] != ':' || !digits(p, n, 17, 2, &ss)) {
        return 0;
    }
    /* RFC 3339 §5.7: seconds may be 60 on a leap second. */
    if (mo < 1 || mo > 12 || d < 1 || d > tl_days_in_month(y, mo) || hh > 23 || mi > 59 ||
        ss > 60) {
        return 0;
    }
    size_t i = 19;
    if (i < n && p[i] == '.') {
        size_t start = ++i;
        uint32_t usec = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            /* RFC 5424 allows 6 digits; more are accepted and cut to microseconds. */
            if (i - start < 6) {
                usec = usec * 10 + (uint32_t)(p[i] - '0');
            }
            i++;
        }
        if (i == start) {
            return 0;
        }
        size_t nd = i - start < 6 ? i - start : 6;
        ts->frac_digits = (uint8_t)nd;
        for (size_t k = nd; k < 6; k++) {
            usec *= 10;
        }
        ts->usec = usec;
    }
    ts->sec = tl_days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss;
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        ts->has_tz = true;
        return i + 1;
    }
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        unsigned oh;
        unsigned om;
        size_t len;
        if (digits(p, n, i + 1, 2, &oh) && i + 3 < n && p[i + 3] == ':' &&
            digits(p, n, i + 4, 2, &om)) {
            len = 6;
        } else if (digits(p, n, i + 1, 2, &oh) && digits(p, n, i + 3, 2, &om)) {
            len = 5;
            ts->sloppy = true;
        } else {
            return 0;
        }
        if (oh > 23 || om > 59) {
            return 0;
        }
        int off = (int)(oh * 60 + om);
        if (p[i] == '-') {
            off = -off;
        }
        ts->has_tz = true;
        ts->tzoff = (int16_t)off;
        ts->sec -= (int64_t)off * 60;
        return i + len;
    }
    ts->sloppy = true;
    return i;
}

/*
 * Local time offsets. localtime_r and mktime are not free (mktime re-reads TZ and may stat
 * /etc/localtime on every call), and this runs for every message without an offset, so the
 * answer is cached per thread for a 15-minute slot: every zone's offset is a multiple of 15
 * minutes and transitions happen on such boundaries. A change of TZ while running is only
 * seen once the slot changes.
 */
struct off_cache {
    bool valid;
    int64_t slot;
    int off;
};

static _Thread_local struct off_cache utc_cache;
static _Thread_local struct off_cache wall_cache;

static int64_t slot_of(int64_t t)
{
    return t >= 0 ? t / 900 : -((-t + 899) / 900);
}

int tl_local_offset_utc(int64_t t)
{
    int64_t slot = slot_of(t);
    if (utc_cache.valid && utc_cache.slot == slot) {
        return utc_cache.off;
    }
    struct tm tm;
    time_t tt = (time_t)t;
    int off = 0;
    if (localtime_r(&tt, &tm)) {
        off = (int)(tm.tm_gmtoff / 60);
    }
    utc_cache.valid = true;
    utc_cache.slot = slot;
    utc_cache.off = off;
    return off;
}

int tl_local_offset_wall(int64_t wall)
{
    int64_t slot = slot_of(wall);
    if (wall_cache.valid && wall_cache.slot == slot) {
        return wall_cache.off;
    }
    int64_t y;
    unsigned mo;
    unsigned d;
    int64_t days = wall >= 0 ? wall / 86400 : -((-wall + 86399) / 86400);
    int64_t sod = wall - days * 86400;
    tl_civil_from_days(days, &y, &mo, &d);

    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int)(y - 1900);
    tm.tm_mon = (int)mo - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)(sod / 3600);
    tm.tm_min = (int)(sod / 60 % 60);
    tm.tm_sec = (int)(sod % 60);
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    int off;
    if (t == (time_t)-1) {
        /* Out of range for the C library (or, harmlessly, one second before the epoch):
         * the offset at that instant read as UTC is close enough. */
        off = tl_local_offset_utc(wall);
    } else {
        int64_t diff = wall - (int64_t)t;
        off = (int)(diff / 60);
        if (off > 26 * 60 || off < -26 * 60) {
            off = 0;
        }
    }
    wall_cache.valid = true;
    wall_cache.slot = slot;
    wall_cache.off = off;
    return off;
}

/* "<PRI>" followed by a VERSION other than 1 (RFC 5424 §6.2.2: NONZERO-DIGIT 0*2DIGIT). */
static bool other_version(const struct tl_msg *m, size_t n)
{
    int pri;
    size_t i = tl_parse_pri(m->raw, n, &pri);
    if (i == 0 || i >= n || m->raw[i] < '1' || m->raw[i] > '9') {
        return false;
    }
    size_t j = i + 1;
    while (j < n && j < i + 3 && m->raw[j] >= '0' && m->raw[j] <= '9') {
        j++;
    }
    if (j >= n || m->raw[j] != ' ') {
        return false;
    }
    /* Only call it a version when an RFC 3339 timestamp or NILVALUE follows. */
    struct tl_ts ts;
    j++;
    return (j < n && m->raw[j] == '-') || tl_parse_rfc3339(m->raw + j, n - j, &ts) > 0;
}

void tl_parse(struct tl_msg *m)
{
    if (tl_parse_rfc5424(m)) {
        return;
    }
    /* A VERSION we do not know: RFC 5424 §6.2.2 gives us nothing to go on, so read it as
     * free text the RFC 3164 way and flag it. */
    bool odd = other_version(m, tl_parse_trim_len(m));
    tl_parse_rfc3164(m);
    if (odd) {
        m->flags |= TL_MSG_MALFORMED;
    }
}
