/*
 * host_msg.h: messages from this host's own sources (the journal, the kernel log), which come
 * as fields rather than as syslog text. They are written as one RFC 5424 line and delivered
 * like any received frame (tl_in_deliver), so that every output format and path template
 * ({app}, {facility}, ...) sees the same fields as for a message from the network.
 *
 * Worker thread only (it writes into the worker's scratch buffer).
 */
#ifndef TL_IN_HOST_MSG_H
#define TL_IN_HOST_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/pipeline.h"

struct tl_host_msg {
    unsigned facility;      /* 0..23 */
    unsigned severity;      /* 0..7 */
    int64_t sec;            /* the source's own time of the message (wall clock) ... */
    uint32_t usec;
    bool has_time;          /* ... when it has one; otherwise the time it is read */
    const char *host;       /* HOSTNAME; NULL or empty: this host */
    size_t host_len;
    const char *app;        /* APP-NAME (program); NULL or empty: none */
    size_t app_len;
    const char *pid;        /* PROCID; NULL or empty: none */
    size_t pid_len;
    const uint8_t *text;    /* MSG */
    size_t text_len;
};

/* Writes m as an RFC 5424 line (APP-NAME and PROCID made printable, at most 48 and 128
 * bytes; MSG cut to the input's max_message_size, counted as truncated) and delivers it. */
void tl_in_deliver_host(struct tl_worker *w, struct tl_input *in, const struct tl_host_msg *m);

/* init and fini of a host source: it needs nothing before bind, and unbind frees it all. */
bool tl_in_host_init(struct tl_input *in);
void tl_in_host_fini(struct tl_input *in);

#endif
