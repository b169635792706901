/*
 * spool.h: an output's disk spill (queue.dir), around the disk queue (disk.h), for any output
 * that keeps messages until a receiver has them (forward; Kafka next).
 *
 * Write-through: the output appends every message it takes, in order, numbered as in its
 * memory queue (tl_mq's sequence), and sends from the spool (tl_spool_peek) or, when the
 * spool is caught up, straight from memory. A message is settled (pipeline.h) once it is
 * flushed: tl_spool_unflushed says where the settled prefix ends. It leaves the disk when the
 * receiver acknowledged it (tl_spool_ack).
 *
 * Failures of the disk (a full or read-only file system, an I/O error) are back-pressure, not
 * loss: the output keeps the message that could not be written and takes nothing more until
 * the retry timer fires (after 50 ms, then doubling up to 2 s). An episode of failures is one
 * error line when it starts and one notice when writing works again. At a stop, what could not
 * be written is discarded, counted and said (tl_spool_stop). At open, what recovery found in
 * the directory is said (disk.h: tl_dq_recovery).
 *
 * Threads: one thread, the owner's, makes every call and runs the loop given at open (its
 * timers: the retry and the interval sync). Lines go to the daemon's log (core/log.h), each
 * starting with the owner's name.
 */
#ifndef TL_QUEUE_SPOOL_H
#define TL_QUEUE_SPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ev/loop.h"
#include "queue/disk.h"

/* tl_spool_unflushed when every record appended is flushed. */
#define TL_SPOOL_NONE UINT64_MAX

struct tl_spool_opts {
    struct tl_dq_opts dq;
    const char *owner;          /* "output NAME": starts each line the spool logs */
    bool full_drops;            /* queue.full is drop (else block): said when writing fails */
    struct tl_ev_loop *loop;    /* the owner's loop: the retry and interval sync timers */
    /* On the loop's thread. retry: the retry timer fired and the failure is cleared, append
     * and flush again (the episode ends when that works). settled: an interval sync made the
     * records appended so far stick (tl_spool_unflushed moved). Either may be NULL. */
    void (*retry)(void *arg);
    void (*settled)(void *arg);
    void *arg;
    /* The owner's counters, NULL when it keeps none: one more per failed write; the records
     * on disk, not acknowledged yet, and their bytes (headers included). */
    atomic_uint_fast64_t *write_errors;
    atomic_uint_fast64_t *records;
    atomic_uint_fast64_t *record_bytes;
};

struct tl_spool;

/* Opens (or creates) o->dq.dir, recovers it and logs what recovery found. NULL with err when
 * the directory cannot be used. The options are copied, owner too; o->dq.dir is borrowed and
 * must outlive the spool. */
struct tl_spool *tl_spool_open(const struct tl_spool_opts *o, struct tl_err *err);

/* Arms the interval sync timer: on the loop's thread, before the loop runs. */
void tl_spool_start(struct tl_spool *sp);

/* Stops the timers, writes and closes the disk queue (disk.h: tl_dq_close). NULL is ignored. */
void tl_spool_close(struct tl_spool *sp);

/*
 * Appends rec[0..len), message number seq (numbers only grow). TL_OK: taken (settled at the
 * next flush). TL_FULL: queue.max_bytes is reached: keep the message, try again after
 * acknowledgements. TL_AGAIN: writing failed (now or earlier in the episode): keep it, the
 * retry callback says when to try again. TL_E_RESOURCE (err): this record can never be
 * written (too large, out of memory): the owner drops and counts it.
 */
enum tl_rc tl_spool_append(struct tl_spool *sp, const void *rec, size_t len, uint64_t seq,
                           struct tl_err *err);

/* Makes what was appended stick (per queue.sync): it is settled then. False when writing
 * failed (the episode goes on; the records stay appended). */
bool tl_spool_flush(struct tl_spool *sp);

/* Writing fails: append nothing until the retry callback. */
bool tl_spool_failing(const struct tl_spool *sp);

/* Forgets the failure so that the next append or flush tries at once (the last try at a
 * stop); the episode stays open until one works. */
void tl_spool_try_again(struct tl_spool *sp);

/* The number of the first message appended but not flushed yet: everything before it is
 * settled. TL_SPOOL_NONE when all are flushed. */
uint64_t tl_spool_unflushed(const struct tl_spool *sp);

/* Reading, as tl_dq_peek, tl_dq_advance, tl_dq_ack and tl_dq_rewind (disk.h); peek logs what
 * it found damaged on the way. */
bool tl_spool_peek(struct tl_spool *sp, const uint8_t **rec, size_t *len);
void tl_spool_advance(struct tl_spool *sp);
void tl_spool_ack(struct tl_spool *sp, uint64_t n);
void tl_spool_rewind(struct tl_spool *sp);
uint64_t tl_spool_count(const struct tl_spool *sp);   /* records not acknowledged */
uint64_t tl_spool_unread(const struct tl_spool *sp);  /* records after the read cursor */

/*
 * At a clean stop, after the last flush: what is appended but could not be written leaves
 * the queue (the next open finds no torn record). Logs how many records wait for the next
 * start and, when any message is lost (those plus refused: messages the owner could not
 * append), how many and why. Returns the number lost, for the owner's dropped counter.
 */
uint64_t tl_spool_stop(struct tl_spool *sp, uint64_t refused);

#endif
