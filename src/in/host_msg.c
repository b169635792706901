/* host_msg.c: see host_msg.h. */
#include "in/host_msg.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "in/in.h"

#define APP_MAX 48    /* RFC 5424 §6: APP-NAME = NILVALUE / 1*48PRINTUSASCII */
#define PROCID_MAX 128
#define HOST_MAX 255
#define HEAD_ROOM 512 /* everything before MSG, with the limits above */

/* A header field: printable US-ASCII (RFC 5424 PRINTUSASCII, no space), at most max bytes;
 * anything else becomes '_' so that the parser reads the same field back. */
static size_t put_field(uint8_t *out, const char *s, size_t n, size_t max)
{
    if (s == NULL || n == 0) {
        out[0] = '-';
        return 1;
    }
    if (n > max) {
        n = max;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 33 && c <= 126 ? c : '_';
    }
    return n;
}

void tl_in_deliver_host(struct tl_worker *w, struct tl_input *in, const struct tl_host_msg *m)
{
    uint8_t *buf = tl_worker_scratch(w);
    struct timespec now;
    struct tm tm;
    time_t t;
    int64_t sec;
    uint32_t usec;
    size_t o;
    size_t text_len = m->text_len;
    bool truncated = false;

    clock_gettime(CLOCK_REALTIME, &now);
    sec = m->has_time ? m->sec : now.tv_sec;
    usec = m->has_time ? m->usec : (uint32_t)(now.tv_nsec / 1000);
    t = (time_t)sec;
    if (gmtime_r(&t, &tm) == NULL) {
        memset(&tm, 0, sizeof(tm));
    }
    o = (size_t)snprintf((char *)buf, HEAD_ROOM, "<%u>1 %04d-%02d-%02dT%02d:%02d:%02d.%06uZ ",
                         m->facility * 8 + m->severity, tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)usec);
    o += put_field(buf + o, m->host, m->host_len, HOST_MAX);
    buf[o++] = ' ';
    o += put_field(buf + o, m->app, m->app_len, APP_MAX);
    buf[o++] = ' ';
    o += put_field(buf + o, m->pid, m->pid_len, PROCID_MAX);
    memcpy(buf + o, " - - ", 5);
    o += 5;
    /* The scratch buffer holds max_message_size + 64 KiB: the header always fits; the
     * whole line keeps to max_message_size as a received frame would. */
    size_t room = in->conf->max_message_size > o ? in->conf->max_message_size - o : 0;
    if (text_len > room) {
        text_len = room;
        truncated = true;
        atomic_fetch_add_explicit(&in->stats.truncated, 1, memory_order_relaxed);
    }
    memcpy(buf + o, m->text, text_len);
    tl_in_deliver(w, in, NULL, NULL, buf, o + text_len, truncated, now.tv_sec,
                  (uint32_t)(now.tv_nsec / 1000));
}

bool tl_in_host_init(struct tl_input *in)
{
    (void)in;
    return true;
}

void tl_in_host_fini(struct tl_input *in)
{
    (void)in;
}
