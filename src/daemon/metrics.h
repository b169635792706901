/*
 * metrics.h: the Prometheus endpoint (top-level metrics: {listen: ...}).
 *
 * GET /metrics answers the counters of every input and output, the expiry of the
 * certificates in use, the standard process_* metrics and build info, in the Prometheus
 * text exposition format 0.0.4. The HTTP side is libmicrohttpd's, on one thread of its own
 * (docs/architecture.md); it only reads: atomics, each output queue's length under its lock,
 * the certificate sets under theirs. Start after tl_server_init (the socket is bound then,
 * as root, like the listeners), stop before tl_server_fini.
 */
#ifndef TL_DAEMON_METRICS_H
#define TL_DAEMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct tl_server;
struct tl_metrics;

/* Binds c->metrics.listen and starts serving; NULL with one sentence in err on failure
 * (TL_E_CONFIG: the name does not resolve; TL_E_IO with sys_errno: cannot listen;
 * TL_E_RESOURCE). */
struct tl_metrics *tl_metrics_start(struct tl_server *srv, struct tl_err *err);
/* The port bound (the one chosen when listen's port is 0). */
uint16_t tl_metrics_port(const struct tl_metrics *m);
/* Stops serving and frees m; NULL is fine. */
void tl_metrics_stop(struct tl_metrics *m);

/* The exposition text, appended to b and NUL-terminated (the NUL not counted in len). False
 * when memory runs out. Any thread. */
bool tl_metrics_render(struct tl_server *srv, struct tl_buf *b);

#endif
