/*
 * notify.h: the service manager's readiness protocol (sd_notify(3)), for Type=notify units.
 *
 * systemd passes the path of a unix datagram socket in NOTIFY_SOCKET ("/run/..." or, with a
 * leading '@', an abstract one); each state is one datagram of "KEY=VALUE\n" lines. Without
 * NOTIFY_SOCKET every call does nothing, so the daemon behaves the same with or without
 * systemd. Main thread only.
 */
#ifndef TL_DAEMON_NOTIFY_H
#define TL_DAEMON_NOTIFY_H

#include <stdbool.h>

/* Sends state ("READY=1", "STOPPING=1", ...; lines separated by '\n'). True when there is no
 * NOTIFY_SOCKET or the datagram went out; false (after one warning) otherwise. */
bool tl_notify(const char *state);

/* "RELOADING=1" with MONOTONIC_USEC: systemd 253 and later want the time the reload started
 * (Type=notify-reload); 252, Debian 12's, ignores the field. */
bool tl_notify_reloading(void);

#endif
