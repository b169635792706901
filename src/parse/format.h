/*
 * format.h: turns a parsed tl_msg back into bytes, for files, stdout and forwarding.
 *
 * Pure functions; safe from any thread (a tl_msg is read-only after parsing).
 */
#ifndef TL_PARSE_FORMAT_H
#define TL_PARSE_FORMAT_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/msg.h"

enum tl_format {
    TL_FMT_RFC5424 = 0, /* <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG */
    TL_FMT_RFC3164,     /* file outputs: "Mmm dd hh:mm:ss host tag: msg" (no PRI);
                           forwarding: "<PRI>Mmm dd hh:mm:ss host tag: msg" */
    TL_FMT_JSON,        /* one JSON object with every field */
    TL_FMT_RAW,         /* the bytes as received, without framing */
};

/* Parses "rfc5424" / "rfc3164" / "json" / "raw"; returns -1 when unknown. */
int tl_format_from_name(const char *name);
const char *tl_format_name(enum tl_format f);

/*
 * Appends the message in format f to out, WITHOUT a trailing newline.
 * for_file: true for file/stdout outputs. Then control characters (bytes < 0x20 other than
 * TAB) inside the free-form fields are written as "#ooo" (octal, as rsyslog does) so that
 * one message is always one line; rfc3164 omits the PRI (the traditional file format).
 * false for network forwarding: rfc3164 starts with <PRI> and nothing is escaped.
 * json and raw ignore for_file except that json always escapes per RFC 8259.
 * Returns false only when out hits its ceiling.
 */
bool tl_format(const struct tl_msg *m, enum tl_format f, bool for_file, struct tl_buf *out);

#endif
