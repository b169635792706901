/*
 * notify.c: sd_notify(3) without libsystemd. The protocol is one datagram on a unix socket
 * and has been stable since systemd 209; writing it here keeps tlslogd free of a systemd
 * dependency on systems that do not run systemd (docs/architecture.md).
 */
#include "daemon/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

bool tl_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') {
        return true;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        tl_warn("NOTIFY_SOCKET '%s' is not a unix socket path; the service manager is not told "
                "'%s'", path, state);
        return false;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0'; /* an abstract socket: no NUL terminator, length counts */
    }
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (path[0] == '@' ? 0 : 1));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tl_warn("sd_notify: socket: %s; the service manager is not told '%s'", strerror(errno),
                state);
        return false;
    }
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int e = errno;
    close(fd);
    if (n < 0) {
        tl_warn("sd_notify: cannot send '%s' to NOTIFY_SOCKET %s: %s", state, path, strerror(e));
        return false;
    }
    return true;
}

bool tl_notify_reloading(void)
{
    struct timespec ts;
    char state[96];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    return tl_notify(state);
}
