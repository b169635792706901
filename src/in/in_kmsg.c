/*
 * in_kmsg.c: `transport: kmsg`, the kernel log from /dev/kmsg, as rsyslog's imklog: one
 * record per read(2), parsed by parse/kmsg.c. Facility kern for the kernel's own records (the
 * writer's for records a process wrote into /dev/kmsg, whose "tag[pid]: " prefix becomes the
 * program and PROCID), the record's severity, and its time (the kernel's monotonic clock)
 * converted to wall time. A jump in the sequence numbers means the ring buffer overwrote
 * records before they were read: one line says how many were lost.
 *
 * /dev/kmsg keeps no position for us: start_at says whether a start reads the records still
 * in the ring buffer (beginning) or only new ones (end). Runs on worker 0; while an output
 * the input feeds is full it stops reading (the ring buffer then overwrites the oldest
 * records, which the next read reports as lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "ev/loop.h"
#include "in/host_msg.h"
#include "in/in.h"
#include "parse/kmsg.h"

#define KMSG_PATH "/dev/kmsg"
#define RECORD_MAX 8192   /* the kernel's CONSOLE_EXT_LOG_MAX: no record is longer */
#define TURN_RECORDS 256  /* records per loop turn */
#define TAG_MAX 48

struct kmsg {
    struct tl_in_item item;
    struct tl_ev_io io;
    struct tl_input *in;
    struct tl_worker *w;
    int fd;
    bool paused;
    struct tl_kmsg_seq seq;
    uint8_t rec[RECORD_MAX + 1];
};

/* A record a process wrote ("<14>myprog[42]: text"): its "tag[pid]: " or "tag: " prefix. */
static void split_tag(struct tl_host_msg *m)
{
    const char *s = (const char *)m->text;
    size_t n = m->text_len;
    size_t i = 0;

    while (i < n && i <= TAG_MAX && s[i] > ' ' && s[i] < 127 && s[i] != '[' && s[i] != ':') {
        i++;
    }
    if (i == 0 || i > TAG_MAX || i >= n) {
        return;
    }
    size_t tag = i;
    size_t pid = 0;
    size_t pid_len = 0;
    if (s[i] == '[') {
        pid = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        pid_len = i - pid;
        if (i >= n || s[i] != ']' || pid_len == 0) {
            return;
        }
        i++;
    }
    if (i >= n || s[i] != ':') {
        return;
    }
    i++;
    if (i < n && s[i] == ' ') {
        i++;
    }
    m->app = s;
    m->app_len = tag;
    m->pid = pid_len ? s + pid : NULL;
    m->pid_len = pid_len;
    m->text += i;
    m->text_len -= i;
}

static void deliver_record(struct kmsg *km, size_t len, int64_t boot_usec)
{
    struct tl_input *in = km->in;
    struct tl_kmsg k;
    struct tl_host_msg m;
    struct tl_err err;
    uint64_t lost;

    if (tl_kmsg_parse(km->rec, len, km->rec, sizeof(km->rec), &k, &err) != TL_OK) {
        atomic_fetch_add_explicit(&in->stats.malformed, 1, memory_order_relaxed);
        tl_log_rl(&in->rl, 20, TL_LOG_WARNING, "input %s: %s; record skipped", in->conf->name,
                  err.cause);
        return;
    }
    lost = tl_kmsg_seq_lost(&km->seq, k.seq);
    if (lost > 0) {
        tl_log_rl(&in->rl, 20, TL_LOG_WARNING,
                  "input %s: %llu kernel messages were lost: the kernel's ring buffer "
                  "overwrote them before they were read (the outputs were slow, or tlslogd "
                  "was not running); a larger log_buf_len= boot parameter keeps more",
                  in->conf->name, (unsigned long long)lost);
    }
    memset(&m, 0, sizeof(m));
    m.facility = k.facility;
    m.severity = k.severity;
    m.text = k.text;
    m.text_len = k.text_len;
    if (k.facility == 0) {
        m.app = "kernel";
        m.app_len = 6;
    } else {
        split_tag(&m);
    }
    tl_kmsg_wall_time(k.mono_usec, boot_usec, &m.sec, &m.usec);
    m.has_time = true;
    if (k.flags & TL_KMSG_TRUNCATED) {
        atomic_fetch_add_explicit(&in->stats.truncated, 1, memory_order_relaxed);
    }
    tl_in_deliver_host(km->w, in, &m);
}

/* Reads up to max records; false once /dev/kmsg has no more. */
static bool kmsg_read(struct kmsg *km, size_t max)
{
    struct timespec real;
    struct timespec mono;
    int64_t boot_usec;

    /* Taken once per batch: the clock may be set, and a suspend is not in the kernel's
     * timestamps. */
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    boot_usec = tl_kmsg_boot_usec(real.tv_sec, real.tv_nsec, mono.tv_sec, mono.tv_nsec);
    for (size_t i = 0; i < max; i++) {
        if (km->paused) {
            return true;
        }
        ssize_t n = read(km->fd, km->rec, RECORD_MAX);
        if (n < 0 && errno == EPIPE) {
            continue; /* overwritten while we waited: the sequence numbers say how many */
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN) {
                tl_log_rl(&km->in->rl, 20, TL_LOG_ERROR, "input %s: reading %s failed: %s",
                          km->in->conf->name, KMSG_PATH, strerror(errno));
            }
            return false;
        }
        deliver_record(km, (size_t)n, boot_usec);
    }
    return true;
}

static void kmsg_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    kmsg_read(io->data, TURN_RECORDS);
}

static void kmsg_pause(struct tl_in_item *it, bool paused)
{
    struct kmsg *km = (struct kmsg *)it;

    if (km->paused == paused) {
        return;
    }
    km->paused = paused;
    if (paused) {
        tl_ev_del(tl_worker_loop(km->w), &km->io);
    } else {
        tl_ev_set(tl_worker_loop(km->w), &km->io, TL_EV_READ);
    }
}

/* At the stop: what the kernel holds now is read (bounded: a busy kernel keeps logging). */
static void kmsg_drain(struct tl_in_item *it)
{
    struct kmsg *km = (struct kmsg *)it;

    km->paused = false;
    kmsg_read(km, 4 * TURN_RECORDS);
}

static void kmsg_close(struct tl_in_item *it)
{
    struct kmsg *km = (struct kmsg *)it;

    tl_ev_del(tl_worker_loop(km->w), &km->io);
    tl_worker_remove_item(km->w, &km->item);
}

static bool kmsg_bind(struct tl_input *in, size_t n_workers)
{
    struct kmsg *km = calloc(1, sizeof(*km));

    (void)n_workers;
    if (km == NULL) {
        tl_error("input %s: out of memory", in->conf->name);
        return false;
    }
    in->impl = km;
    km->in = in;
    km->fd = open(KMSG_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (km->fd < 0) {
        tl_error("input %s: cannot open %s: %s; %s", in->conf->name, KMSG_PATH, strerror(errno),
                 errno == EACCES || errno == EPERM
                     ? "run tlslogd as root or with CAP_SYSLOG (kernel.dmesg_restrict)"
                     : "this system has no kernel log device; remove the input");
        return false;
    }
    if (in->conf->start_at == TL_START_END && lseek(km->fd, 0, SEEK_END) < 0) {
        tl_error("input %s: cannot skip to the end of %s: %s", in->conf->name, KMSG_PATH,
                 strerror(errno));
        return false;
    }
    return true;
}

static bool kmsg_attach(struct tl_input *in, struct tl_worker *w, size_t idx)
{
    struct kmsg *km = in->impl;

    if (idx != 0) {
        return true; /* one reader: worker 0 */
    }
    km->w = w;
    tl_ev_io_init(&km->io, km->fd, kmsg_cb, km);
    if (!tl_ev_set(tl_worker_loop(w), &km->io, TL_EV_READ)) {
        tl_error("input %s: cannot watch %s: %s", in->conf->name, KMSG_PATH, strerror(errno));
        return false;
    }
    km->item.drain = kmsg_drain;
    km->item.close = kmsg_close;
    km->item.pause = kmsg_pause;
    km->item.in = in;
    tl_worker_add_item(w, &km->item);
    return true;
}

static void kmsg_port_line(const struct tl_input *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s %s", in->conf->name, KMSG_PATH);
}

static void kmsg_unbind(struct tl_input *in)
{
    struct kmsg *km = in->impl;

    if (km == NULL) {
        return;
    }
    if (km->fd >= 0) {
        close(km->fd);
    }
    free(km);
    in->impl = NULL;
}

const struct tl_input_ops tl_in_kmsg_ops = {
    .name = "kmsg", .init = tl_in_host_init, .bind = kmsg_bind, .attach = kmsg_attach,
    .port_line = kmsg_port_line, .unbind = kmsg_unbind, .fini = tl_in_host_fini};
