/*
 * addr.h: conversions between socket addresses and tl_addr, and their text form.
 */
#ifndef TL_CORE_ADDR_H
#define TL_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/msg.h"

/* Longest text tl_addr_format writes, with the NUL: "[" v6 "]:" port. */
#define TL_ADDR_STRLEN 56

void tl_addr_from_sockaddr(struct tl_addr *a, const struct sockaddr *sa, socklen_t len);

/* Writes "192.0.2.1", "2001:db8::1" (with_port false) or "192.0.2.1:514",
 * "[2001:db8::1]:514" (with_port true); "local" for AF_UNIX, "-" when unknown.
 * Returns the length written (without NUL). An IPv4-mapped IPv6 address is shown as IPv4. */
size_t tl_addr_format(const struct tl_addr *a, bool with_port, char *out, size_t cap);

#endif
