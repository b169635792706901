/*
 * parse.h: RFC 5424 and RFC 3164 parsers, detected per message.
 *
 * Pure functions over the raw bytes of a tl_msg: no I/O, no allocation, no global state
 * (local time zone rules are read through localtime_r). Safe to call from any thread on a
 * message that thread owns.
 */
#ifndef TL_PARSE_PARSE_H
#define TL_PARSE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/*
 * Parses m->raw[0..raw_len) and fills every field of m. m->recv_sec must be set first (RFC
 * 3164 timestamps have no year: the year is chosen so the timestamp is closest to the
 * receive time). Detection: "<PRI>1 " means RFC 5424; anything else is RFC 3164 as seen in
 * practice (missing PRI, missing hostname, TAG[PID]:, ISO timestamps, no year).
 *
 * Lenient: never fails. What cannot be parsed stays in m->msg (the raw text after whatever
 * was recognised) and TL_MSG_MALFORMED is set. Trailing LF/CR/NUL bytes are not stripped
 * here (the framer does that).
 */
void tl_parse(struct tl_msg *m);

/* The RFC 5424 and RFC 3164 parsers themselves. Each returns false (leaving m with
 * TL_PROTO_UNKNOWN and msg = whole raw) only when the text is not that format at all. */
bool tl_parse_rfc5424(struct tl_msg *m);
void tl_parse_rfc3164(struct tl_msg *m);

/*
 * Iterates over the SD-ELEMENTs and SD-PARAMs of a STRUCTURED-DATA slice (as stored in
 * tl_msg.sd). Start with it zeroed (pos = 0). Each call to tl_sd_next returns the next
 * element or parameter:
 *   TL_SD_ELEMENT: id is the SD-ID; name/value empty.
 *   TL_SD_PARAM:   id is the enclosing SD-ID, name the PARAM-NAME, value the PARAM-VALUE
 *                  exactly as sent (escapes \" \\ \] still in it; see tl_sd_unescape).
 *   TL_SD_END:     nothing more (or malformed input: iteration stops).
 */
enum tl_sd_kind { TL_SD_END = 0, TL_SD_ELEMENT, TL_SD_PARAM };

struct tl_sd_iter {
    const uint8_t *p;   /* start of the STRUCTURED-DATA text */
    size_t len;
    size_t pos;
    const uint8_t *id;
    size_t id_len;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
};

void tl_sd_iter_init(struct tl_sd_iter *it, const uint8_t *sd, size_t len);
enum tl_sd_kind tl_sd_next(struct tl_sd_iter *it);

/* Removes RFC 5424 §6.3.3 escapes (\" \\ \]) from a PARAM-VALUE into out (which must have
 * room for len bytes); returns the unescaped length. A backslash before any other byte is
 * kept, as the RFC says. */
size_t tl_sd_unescape(const uint8_t *in, size_t len, uint8_t *out);

#endif
