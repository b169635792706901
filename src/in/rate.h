/*
 * rate.h: an input's rate_limit: at most `burst` messages per `interval` from each source
 * (core/source_limit.h), the source being the peer address of a network input or the sending
 * process of a unix input (SCM_CREDENTIALS, SO_PASSCRED). What a source sends beyond that is
 * dropped and counted (the input's `rate_limited`); each episode (one source's drops within
 * one interval) is said in one line once it is over, with how many were dropped.
 *
 * One limiter per worker thread, used by that thread only (a source whose connections the
 * kernel spreads over several workers gets the burst on each). A timer on each worker (an
 * item of the worker, closed with the others at the stop) reports episodes of sources that
 * went quiet.
 */
#ifndef TL_IN_RATE_H
#define TL_IN_RATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/source_limit.h"
#include "pipeline/pipeline.h"

/* At bind: a limiter per worker when the input has rate_limit. Logs and returns false. */
bool tl_in_rate_new(struct tl_input *in, size_t n_workers);
/* At attach: the episode timer on worker w (number idx). */
bool tl_in_rate_attach(struct tl_input *in, struct tl_worker *w, size_t idx);
/* At unbind (after the workers ended). */
void tl_in_rate_free(struct tl_input *in);

/* Whether source k may deliver one more message now (always without rate_limit); a drop is
 * counted. Worker thread. */
bool tl_in_rate_ok(struct tl_worker *w, struct tl_input *in, const struct tl_source_key *k);

#endif
