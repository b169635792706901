/*
 * stream_int.h: what the listeners (in_listen.c) and the connections (in_stream.c) of the
 * stream inputs share. Private to src/in.
 */
#ifndef TL_IN_STREAM_INT_H
#define TL_IN_STREAM_INT_H

#include <stdbool.h>

#include "in/in.h"

/* A connection accepted on fd from peer (its text form peer_text) starts on worker w: the
 * TLS stream or the plain one, the framer or the RELP session, the handshake or idle timer.
 * counted: it holds a slot of max_connections_per_source. false when it could not (said,
 * and fd closed). */
bool tl_in_conn_start(struct tl_input *in, struct tl_worker *w, int fd,
                      const struct tl_addr *peer, const char *peer_text, bool counted);

/* max_handshakes are in progress: drops the oldest unfinished TLS handshake on worker w (a
 * flood of connections that never finish cannot keep new clients out); false when w has
 * none. */
bool tl_in_conn_drop_oldest_handshake(struct tl_input *in, struct tl_worker *w);

/* One warning line about something a peer did, rate-limited per input. */
void tl_in_peer_warn(struct tl_input *in, const char *peer, const char *what);

#endif
