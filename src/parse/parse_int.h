/*
 * parse_int.h: helpers shared by the parsers (parse.c, rfc5424.c, rfc3164.c) and the
 * formatters (format.c). Internal to src/parse; not part of the public API.
 *
 * Calendar arithmetic is done here on int64 seconds rather than through timegm/gmtime_r so
 * that it never depends on the TZ environment. Local time is only consulted through
 * tl_local_offset_utc/tl_local_offset_wall, which keep a small per-thread cache.
 */
#ifndef TL_PARSE_PARSE_INT_H
#define TL_PARSE_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Seconds from 0000-01-01T00:00:00 to 9999-12-31T23:59:59 in epoch terms: the range of a
 * four-digit year, which is all RFC 3339 can express. */
#define TL_EPOCH_MIN (-62167219200LL)
#define TL_EPOCH_MAX (253402300799LL)

/* A timestamp as read from the wire, before any time zone is applied. */
struct tl_ts {
    int64_t sec;         /* UTC seconds when has_tz; otherwise the wall clock read as UTC */
    uint32_t usec;
    uint8_t frac_digits; /* min(digits sent, 6) */
    bool has_tz;
    bool sloppy;         /* understood but not valid RFC 3339 (no offset, +hhmm) */
    int16_t tzoff;       /* minutes east of UTC, with has_tz */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
int64_t tl_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The inverse of tl_days_from_civil. */
void tl_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned tl_days_in_month(int64_t y, unsigned m);

/* raw_len without the trailing LF/CR/NUL bytes some senders append to UDP datagrams. */
size_t tl_parse_trim_len(const struct tl_msg *m);

/* Clears every parsed field of m (keeps raw, refs, input, peer, recv_* and the TRUNCATED
 * flag) and sets msg to the whole trimmed raw text. */
void tl_parse_reset(struct tl_msg *m);

/* Reads "<PRIVAL>" at p. Returns the bytes it spans (0 when p does not start with '<',
 * digits and '>'); *pri is the value, or -1 when it is out of range (RFC 5424 §6.2.1:
 * 0..191, at most three digits). */
size_t tl_parse_pri(const uint8_t *p, size_t n, int *pri);

/* Reads an RFC 3339 timestamp (RFC 5424 §6.2.3) at p, accepting lower-case 't'/'z', more
 * than six fraction digits, and (flagged sloppy) "+hhmm" or no offset at all. Returns the
 * bytes it spans, 0 when p does not start with one. Does not look at what follows. */
size_t tl_parse_rfc3339(const uint8_t *p, size_t n, struct tl_ts *ts);

/* UTC offset in minutes of the local time zone at the UTC instant t (localtime_r). */
int tl_local_offset_utc(int64_t t);
/* UTC offset in minutes that applies to the local wall-clock time wall (seconds, read as if
 * it were UTC), resolved like mktime with tm_isdst = -1. */
int tl_local_offset_wall(int64_t wall);

#endif
