#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void tl_addr_from_sockaddr(struct tl_addr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof(*a));
    if (!sa || len < (socklen_t)sizeof(sa_family_t)) {
        return;
    }
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = AF_INET;
        a->port = ntohs(in->sin_port);
        memcpy(a->addr, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            a->family = AF_INET;
            memcpy(a->addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            a->family = AF_INET6;
            memcpy(a->addr, &in6->sin6_addr, 16);
        }
    } else if (sa->sa_family == AF_UNIX) {
        a->family = AF_UNIX;
    }
}

size_t tl_addr_format(const struct tl_addr *a, bool with_port, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (cap == 0) {
        return 0;
    }
    switch (a->family) {
    case AF_INET:
        inet_ntop(AF_INET, a->addr, ip, sizeof(ip));
        n = with_port ? snprintf(out, cap, "%s:%u", ip, a->port) : snprintf(out, cap, "%s", ip);
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, a->addr, ip, sizeof(ip));
        n = with_port ? snprintf(out, cap, "[%s]:%u", ip, a->port) : snprintf(out, cap, "%s", ip);
        break;
    case AF_UNIX:
        n = snprintf(out, cap, "local");
        break;
    default:
        n = snprintf(out, cap, "-");
        break;
    }
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
