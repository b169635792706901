/*
 * in_dgram.c: datagram inputs, UDP (RFC 5426) and local unix sockets (/dev/log style).
 * One message per datagram; recvmmsg takes up to BATCH datagrams per system call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/pace.h"
#include "ev/loop.h"
#include "in/in.h"
#include "in/rate.h"

#define BATCH 16
#define UNIX_QLEN 10 /* net.unix.max_dgram_qlen's default */
#define SPIN_US 30

struct dgram {
    struct tl_in_item item;
    struct tl_ev_io io;
    struct tl_input *in;
    struct tl_worker *w;
    size_t slot;             /* bytes per datagram buffer: max_message_size + 1 */
    uint8_t *bufs;           /* BATCH slots */
    struct mmsghdr hdrs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    /* unix with rate_limit: each datagram's SCM_CREDENTIALS (SO_PASSCRED) */
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl[BATCH];
    bool paused;             /* unix: back-pressure, not watched by the loop */
};

/* rate_limit on a unix socket: per sending process, from the datagram's credentials. */
static bool sender_ok(struct dgram *d, struct msghdr *h)
{
    struct tl_source_key k;
    uint32_t pid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(c), sizeof(cr));
            pid = (uint32_t)cr.pid;
        }
    }
    tl_source_key_pid(&k, pid);
    return tl_in_rate_ok(d->w, d->in, &k);
}

/* Reads up to rounds * BATCH datagrams; returns false when the socket is empty. */
static bool dgram_read(struct dgram *d, int rounds)
{
    struct tl_input *in = d->in;
    bool unix_sock = in->conf->transport == TL_TR_UNIX;
    if (unix_sock) {
        /* The kernel queues only net.unix.max_dgram_qlen (10) datagrams per socket, then
         * holds the senders: pausing this loop would throttle them, not batch them. */
        tl_ev_no_pace(tl_worker_loop(d->w));
    }
    int last_n = 0;
    for (int r = 0; r < rounds && !d->paused; r++) {
        for (size_t i = 0; i < BATCH; i++) {
            d->iov[i].iov_base = d->bufs + i * d->slot;
            d->iov[i].iov_len = d->slot;
            memset(&d->hdrs[i].msg_hdr, 0, sizeof(d->hdrs[i].msg_hdr));
            d->hdrs[i].msg_hdr.msg_iov = &d->iov[i];
            d->hdrs[i].msg_hdr.msg_iovlen = 1;
            d->hdrs[i].msg_hdr.msg_name = &d->from[i];
            d->hdrs[i].msg_hdr.msg_namelen = sizeof(d->from[i]);
            if (unix_sock && in->rate != NULL) {
                d->hdrs[i].msg_hdr.msg_control = d->ctl[i].buf;
                d->hdrs[i].msg_hdr.msg_controllen = sizeof(d->ctl[i].buf);
            }
        }
        int n = recvmmsg(d->io.fd, d->hdrs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0 && errno == EAGAIN && unix_sock && last_n >= UNIX_QLEN) {
            /* The queue was full, so a sender was waiting and our read just woke it: it
             * refills the queue within microseconds. Poll briefly rather than sleep. */
            int64_t until = tl_now_us() + SPIN_US;
            do {
                n = recvmmsg(d->io.fd, d->hdrs, BATCH, MSG_DONTWAIT, NULL);
            } while (n < 0 && errno == EAGAIN && tl_now_us() < until);
        }
        last_n = n;
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                tl_log_rl(&in->rl, 20, TL_LOG_ERROR, "input %s: receive failed: %s",
                          in->conf->name, strerror(errno));
            }
            return false;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        for (int i = 0; i < n; i++) {
            struct tl_addr peer;
            tl_addr_from_sockaddr(&peer, (struct sockaddr *)&d->from[i],
                                  d->hdrs[i].msg_hdr.msg_namelen);
            if (unix_sock) {
                peer.family = AF_UNIX;
                if (in->rate != NULL && !sender_ok(d, &d->hdrs[i].msg_hdr)) {
                    continue;
                }
            }
            size_t len = d->hdrs[i].msg_len;
            bool truncated = false;
            if (len > in->conf->max_message_size) {
                truncated = true;
                len = in->conf->max_message_size;
                atomic_fetch_add_explicit(&in->stats.truncated, 1, memory_order_relaxed);
                char p[TL_ADDR_STRLEN];
                tl_addr_format(&peer, true, p, sizeof(p));
                tl_log_rl(&in->rl, 20, TL_LOG_WARNING,
                          "input %s: %s: datagram longer than max_message_size=%zu truncated; "
                          "raise max_message_size",
                          in->conf->name, p, in->conf->max_message_size);
            }
            tl_in_deliver(d->w, in, &peer, NULL, d->bufs + (size_t)i * d->slot, len, truncated,
                          now.tv_sec, (uint32_t)(now.tv_nsec / 1000));
        }
        /* A unix socket queues only max_dgram_qlen (10) datagrams, fewer than a batch, and
         * its senders refill it while we parse: read again until it is empty. */
        if (n < BATCH && !unix_sock) {
            return false;
        }
    }
    return true;
}

static void dgram_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    dgram_read(io->data, 8);
}

static void dgram_drain(struct tl_in_item *it)
{
    struct dgram *d = (struct dgram *)it;
    d->paused = false; /* shutdown: the queues now take everything (blocking pushes) */
    dgram_read(d, 4096);
}

/* Unix sockets: a full output queue (queue.full: block) stops the reading; the kernel's
 * queue fills and the senders wait, as they would for rsyslog or syslog-ng. */
static void dgram_pause(struct tl_in_item *it, bool paused)
{
    struct dgram *d = (struct dgram *)it;
    if (d->paused == paused) {
        return;
    }
    d->paused = paused;
    struct tl_ev_loop *loop = tl_worker_loop(d->w);
    if (paused) {
        tl_ev_del(loop, &d->io);
        return;
    }
    /* What waits in the kernel's queue makes the socket readable: epoll reports it on the
     * next turn (no deferred read, which could outlive the socket at shutdown). */
    tl_ev_set(loop, &d->io, TL_EV_READ);
}

static void dgram_close(struct tl_in_item *it)
{
    struct dgram *d = (struct dgram *)it;
    tl_ev_del(tl_worker_loop(d->w), &d->io);
    tl_worker_remove_item(d->w, &d->item);
    close(d->io.fd);
    free(d->bufs);
    free(d);
}

bool tl_in_dgram_attach(struct tl_input *in, struct tl_worker *w, int fd)
{
    struct dgram *d = calloc(1, sizeof(*d));
    /* One byte more than allowed, so MSG_TRUNC-free detection of an oversized datagram. */
    size_t slot = in->conf->max_message_size + 1;
    uint8_t *bufs = d ? malloc(slot * BATCH) : NULL;
    if (!bufs) {
        free(d);
        close(fd);
        tl_error("input %s: out of memory", in->conf->name);
        return false;
    }
    d->in = in;
    d->w = w;
    d->slot = slot;
    d->bufs = bufs;
    d->item.drain = dgram_drain;
    d->item.close = dgram_close;
    d->item.in = in;
    if (in->conf->transport == TL_TR_UNIX) {
        d->item.pause = dgram_pause;
    }
    tl_ev_io_init(&d->io, fd, dgram_cb, d);
    if (!tl_ev_set(tl_worker_loop(w), &d->io, TL_EV_READ)) {
        tl_error("input %s: cannot watch socket: %s", in->conf->name, strerror(errno));
        close(fd);
        free(bufs);
        free(d);
        return false;
    }
    tl_worker_add_item(w, &d->item);
    return true;
}
