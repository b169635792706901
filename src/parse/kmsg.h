/*
 * kmsg.h: the parser of one /dev/kmsg record (Linux Documentation/ABI/testing/dev-kmsg).
 *
 * Each read(2) of /dev/kmsg returns exactly one whole record:
 *
 *   PRI,SEQ,TIMESTAMP_US,FLAGS[,more...];MESSAGE\n
 *    KEY=VALUE\n          (zero or more dictionary lines, each starting with one space)
 *
 * PRI is (facility << 3) | level: facility 0 (kern) for the kernel's own records, the
 * writer's facility for records a process wrote into /dev/kmsg ("<30>udevd[80]: ...").
 * SEQ is the record's 64-bit sequence number: consecutive records have consecutive numbers,
 * so a jump means the ring buffer overwrote records before they were read. TIMESTAMP_US is
 * the kernel's clock (CLOCK_MONOTONIC, microseconds since boot, not counting suspend).
 * FLAGS is '-', or 'c' for a fragment of a line (older kernels: '+' for its continuation).
 * Fields the kernel may add before ';' (",caller=T123") are ignored, as the ABI document asks.
 * In MESSAGE and in the dictionary values, bytes below 0x20, from 0x7f up, and the backslash
 * itself are escaped as "\xNN"; the parser decodes them. The kernel dictionary has
 * SUBSYSTEM= and DEVICE= (b8:0, c4:1, n2, +pci:0000:00:01.0).
 *
 * Pure: no I/O, no allocation, no globals. The decoded text and dictionary go into a buffer
 * the caller owns (one per reader), so any thread may call it with its own buffers.
 */
#ifndef TL_PARSE_KMSG_H
#define TL_PARSE_KMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Dictionary entries kept per record. The kernel writes at most two (SUBSYSTEM, DEVICE);
 * older kernels' dev_printk_emit could add more, which are counted in dict_dropped. */
#define TL_KMSG_DICT_MAX 8

/* tl_kmsg.flags */
enum {
    TL_KMSG_FRAGMENT = 1u << 0,  /* FLAGS had 'c' or '+': part of a line printed in pieces */
    TL_KMSG_TRUNCATED = 1u << 1, /* no LF after the message: the kernel cut a long record */
    TL_KMSG_MALFORMED = 1u << 2, /* a bad escape, a dictionary line without '=' or a space,
                                    or a facility above 23: kept as well as it could be */
};

struct tl_kmsg_entry {
    const uint8_t *key;    /* in the caller's out buffer; not NUL-terminated */
    size_t key_len;
    const uint8_t *value;  /* decoded, in the caller's out buffer */
    size_t value_len;
};

struct tl_kmsg {
    uint8_t facility;     /* 0..23; a facility the syslog numbers cannot express becomes user
                             (1) and the record is flagged TL_KMSG_MALFORMED */
    uint8_t severity;     /* 0..7 */
    uint32_t flags;
    uint64_t seq;
    uint64_t mono_usec;   /* the kernel's timestamp: CLOCK_MONOTONIC microseconds */
    const uint8_t *text;  /* the decoded message, in the caller's out buffer */
    size_t text_len;
    struct tl_kmsg_entry dict[TL_KMSG_DICT_MAX];
    size_t n_dict;
    size_t dict_dropped;  /* entries beyond TL_KMSG_DICT_MAX */
};

/*
 * Parses one record rec[0..len) (as one read(2) returned it) into *k. The decoded message
 * and dictionary are written to out[0..out_cap), which must hold at least len bytes (the
 * decoded form is never longer); out may be rec itself, to decode in place.
 *
 * Returns TL_OK when the prefix was understood; the text after ';' is then always kept,
 * flagged as above when something in it was odd. Returns TL_E_PROTO when the record has no
 * valid prefix (not digits, no ';', a number out of range), TL_E_RESOURCE when out is too
 * small, with err (may be NULL) naming the field, the offending bytes and their offset, e.g.
 *   "kmsg record: sequence number '12x' at offset 2 is not a decimal number"
 */
enum tl_rc tl_kmsg_parse(const uint8_t *rec, size_t len, uint8_t *out, size_t out_cap,
                         struct tl_kmsg *k, struct tl_err *err);

/* The dictionary value of key (e.g. "SUBSYSTEM"), or NULL with *len = 0 when absent. */
const uint8_t *tl_kmsg_dict_get(const struct tl_kmsg *k, const char *key, size_t *len);

/*
 * Sequence tracking: how many records the ring buffer overwrote before the reader got them.
 * Start with a zeroed struct. For each record read, tl_kmsg_seq_lost returns how many
 * sequence numbers were skipped since the previous record (0 normally), which the reader
 * reports as "N kernel messages were lost". A sequence number lower than expected (another
 * boot, when a saved position is restored) is not a loss: tracking restarts there.
 */
struct tl_kmsg_seq {
    bool started;
    uint64_t next;  /* the sequence number expected next */
};

uint64_t tl_kmsg_seq_lost(struct tl_kmsg_seq *t, uint64_t seq);

/*
 * Wall time of a kernel timestamp. boot_usec is CLOCK_REALTIME - CLOCK_MONOTONIC in
 * microseconds, taken by the reader close to the read (it moves when the clock is set and
 * across a suspend, which the kernel's timestamp does not count: take it again for every
 * batch). tl_kmsg_boot_usec computes it from the two clocks' readings.
 */
int64_t tl_kmsg_boot_usec(int64_t real_sec, long real_nsec, int64_t mono_sec, long mono_nsec);

/* Seconds and microseconds since the epoch of mono_usec (floor division, so a time before
 * 1970 still has 0 <= *usec < 1000000). */
void tl_kmsg_wall_time(uint64_t mono_usec, int64_t boot_usec, int64_t *sec, uint32_t *usec);

#endif
