/*
 * out_kafka.c: the kafka output. Produces each message as one record to Apache Kafka with
 * librdkafka's idempotent producer (enable.idempotence=true, acks=all). Its parts: kafka.h.
 *
 * One thread per kafka output, running its own event loop: the queue's notify hook wakes it
 * when workers hand over messages, and librdkafka wakes it (an eventfd written when its main
 * queue goes non-empty) when delivery reports or errors wait; rd_kafka_poll() serves them on
 * this thread, so every callback runs here and nothing is shared with librdkafka's own
 * threads but the producer handle.
 *
 * Each message gets its topic and key from the templates and its payload from the format;
 * that triple is the record. Records are numbered in the order they are produced (their
 * ordinal) and keep a slot in a ring until their delivery report: in flight, done (delivered,
 * or dropped and counted), or to be produced again. Delivery reports can come out of order
 * across partitions; the ack position (head) moves only over the contiguous done prefix, so
 * what is settled is always a prefix of what was taken from the queue.
 *
 * Settling (pipeline.h): without a disk part a message is settled once delivered; with one
 * (queue.dir, queue/spool.h) every record goes to disk first, in order, and is settled once
 * on disk (per queue.sync); it is produced straight from memory when the spool is caught up,
 * read back otherwise, and leaves the disk when its delivery report (and those of all records
 * before it) says the brokers have it.
 *
 * Errors (kafka_errors.c): librdkafka retries what Kafka calls retriable by itself, forever
 * (message.timeout.ms is 0 unless set): brokers down, leader changes, timeouts are transient
 * and never drop anything. A record whose delivery fails anyway (unknown topic, authorization,
 * a fatal producer error, a timeout the user configured) is kept and produced again after a
 * backoff, before anything new, so that a key's records stay in order. A record that can never
 * be delivered (larger than the brokers accept, refused as invalid) is dropped and counted by
 * reason.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "out/kafka.h"
#include "out/out.h"
#include "parse/format.h"

#define TOPICS_MAX 1024            /* topic handles kept open; the least recently used goes */
#define RING_MAX (1u << 20)
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 10000
#define TICK_MS 250
#define BATCH_BYTES (1u << 20)     /* a batch of records ends past this many bytes */

static void pump(struct kafka *k);

/* ---- the ring of records in flight ------------------------------------------------------ */

static struct kafka_slot *slot_at(struct kafka *k, uint64_t ord)
{
    return &k->ring[ord & k->mask];
}

/* How far the output has settled its queue (pipeline.h): up to the first message still held,
 * in the spool but not flushed, or (without a spool) not yet delivered. */
static void settle_update(struct kafka *k)
{
    uint64_t upto = k->popped - (k->n_held - k->held_pos);
    if (k->spool) {
        uint64_t unflushed = tl_spool_unflushed(k->spool);
        if (unflushed < upto) {
            upto = unflushed;
        }
    } else if (k->head < k->tail && slot_at(k, k->head)->seq < upto) {
        upto = slot_at(k, k->head)->seq;
    }
    tl_output_settle(k->out, upto);
}

/* The slot is settled: delivered, or dropped and counted. */
static void slot_done(struct kafka *k, struct kafka_slot *s)
{
    if (s->state == S_DONE) {
        return;
    }
    if (s->state == S_RETRY) {
        free(s->copy);
        s->copy = NULL;
        k->n_retry--;
    }
    k->flight_bytes -= s->bytes;
    s->state = S_DONE;
}

/* Moves the ack position over the done prefix; with a spool those records leave the disk. */
static void advance_head(struct kafka *k)
{
    uint64_t n = 0;
    while (k->head < k->tail && slot_at(k, k->head)->state == S_DONE) {
        k->head++;
        n++;
    }
    if (n && k->spool) {
        tl_spool_ack(k->spool, n);
    }
    atomic_store_explicit(&k->n_flight, k->tail - k->head, memory_order_relaxed);
    settle_update(k);
}

/* Room for one more record in flight: the bounds of queue.memory_*, librdkafka's queue, and
 * nothing waiting to be produced again first (a key's records stay in order). */
static bool room(const struct kafka *k)
{
    return k->rk && !k->fatal && !k->lk_full && k->n_retry == 0 &&
           k->tail - k->head < k->max_flight &&
           (k->flight_bytes < k->max_bytes || k->tail == k->head);
}

/* ---- topic handles ---------------------------------------------------------------------- */

static void topic_free(struct kafka_topic *t)
{
    rd_kafka_topic_destroy(t->rkt);
    free(t->name);
    free(t);
}

static void topics_clear(struct kafka *k)
{
    for (size_t i = 0; i < KAFKA_TOPIC_BUCKETS; i++) {
        while (k->buckets[i]) {
            struct kafka_topic *t = k->buckets[i];
            k->buckets[i] = t->next;
            topic_free(t);
        }
    }
    k->n_topics = 0;
}

/* The least recently used handle goes (librdkafka keeps what it still needs for the records
 * in flight: handles are reference-counted). */
static void topic_evict(struct kafka *k)
{
    struct kafka_topic **victim = NULL;
    for (size_t i = 0; i < KAFKA_TOPIC_BUCKETS; i++) {
        for (struct kafka_topic **pp = &k->buckets[i]; *pp; pp = &(*pp)->next) {
            if (!victim || (*pp)->last_use < (*victim)->last_use) {
                victim = pp;
            }
        }
    }
    if (victim) {
        struct kafka_topic *t = *victim;
        *victim = t->next;
        topic_free(t);
        k->n_topics--;
    }
}

static rd_kafka_topic_t *topic_get(struct kafka *k, const char *name)
{
    struct kafka_topic **b = &k->buckets[tl_out_hash_str(name) % KAFKA_TOPIC_BUCKETS];
    for (struct kafka_topic *t = *b; t; t = t->next) {
        if (strcmp(t->name, name) == 0) {
            t->last_use = ++k->use_clock;
            return t->rkt;
        }
    }
    if (k->n_topics >= TOPICS_MAX) {
        topic_evict(k);
    }
    struct kafka_topic *t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name)) || !(t->rkt = rd_kafka_topic_new(k->rk, name, NULL))) {
        if (t) {
            free(t->name);
        }
        free(t);
        return NULL;
    }
    t->last_use = ++k->use_clock;
    t->next = *b;
    *b = t;
    k->n_topics++;
    return t->rkt;
}

/* ---- producing -------------------------------------------------------------------------- */

static void *unconst(const void *p)
{
    void *q;
    memcpy(&q, &p, sizeof(q));
    return q;
}

static void retry_arm(struct kafka *k)
{
    if (!tl_ev_timer_armed(&k->retry_timer)) {
        tl_ev_timer_start(k->loop, &k->retry_timer, k->retry_backoff_ms);
        k->retry_backoff_ms = k->retry_backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                                                     : k->retry_backoff_ms * 2;
    }
}

/* The record of slot s failed: it keeps a copy and is produced again after a backoff. */
static void to_retry(struct kafka *k, struct kafka_slot *s, const struct kafka_rec *r)
{
    if (s->state == S_RETRY) {
        return;
    }
    if (!kafka_rec_encode(r, &k->rec) || !(s->copy = malloc(k->rec.len))) {
        tl_error("output %s: out of memory keeping a record to produce it again; it is lost",
                 k->conf->name);
        atomic_fetch_add_explicit(&k->out->stats.dropped, 1, memory_order_relaxed);
        slot_done(k, s);
        return;
    }
    memcpy(s->copy, k->rec.data, k->rec.len);
    s->copy_len = k->rec.len;
    s->state = S_RETRY;
    k->n_retry++;
    retry_arm(k);
}

enum pr {
    PR_OK,      /* in flight, dropped, or waiting to be produced again: the slot is taken */
    PR_WAIT,    /* librdkafka's queue is full: nothing happened, try again later */
};

/* The slot of a new record (ordinal tail), before it is produced. */
static void slot_new(struct kafka *k, const struct kafka_rec *r, uint64_t seq)
{
    struct kafka_slot *s = slot_at(k, k->tail);
    s->state = S_FLIGHT;
    s->seq = seq;
    s->copy = NULL;
    s->bytes = (uint32_t)(r->len + r->key_len + r->topic_len);
}

/* What librdkafka said (e) when the record r of ordinal ord was handed to it. */
static enum pr produced(struct kafka *k, uint64_t ord, const struct kafka_rec *r,
                        rd_kafka_resp_err_t e)
{
    bool again = ord < k->tail;
    struct kafka_slot *s = slot_at(k, ord);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        k->lk_full = true;
        return PR_WAIT;
    }
    if (!again) {
        k->tail++;
        k->flight_bytes += s->bytes;
    }
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (again) {
            free(s->copy);
            s->copy = NULL;
            s->state = S_FLIGHT;
            k->n_retry--;
            atomic_fetch_add_explicit(&k->out->stats.resent, 1, memory_order_relaxed);
        } else {
            atomic_fetch_add_explicit(&k->out->stats.written, 1, memory_order_relaxed);
        }
        return PR_OK;
    }
    if (kafka_undeliverable(e)) {
        slot_done(k, s);
        kafka_said_dropped(k, e, r->topic, r->len);
        return PR_OK;
    }
    atomic_fetch_add_explicit(&k->n_failed, 1, memory_order_relaxed);
    kafka_failed(k, e, r->topic);
    to_retry(k, s, r);
    return PR_OK;
}

/* Produces r as the record of ordinal ord (a new one: ord == tail; or one produced again). */
static enum pr produce(struct kafka *k, uint64_t ord, const struct kafka_rec *r, uint64_t seq)
{
    if (ord == k->tail) {
        slot_new(k, r, seq);
    }
    rd_kafka_topic_t *rkt = topic_get(k, r->topic);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (rkt) {
        e = rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(rkt),
                              RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE(unconst(r->value), r->len),
                              RD_KAFKA_V_KEY(unconst(r->key), r->key ? r->key_len : 0),
                              RD_KAFKA_V_OPAQUE((void *)(uintptr_t)ord), RD_KAFKA_V_END);
    }
    return produced(k, ord, r, e);
}

void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka *k = opaque;
    uint64_t ord = (uint64_t)(uintptr_t)m->_private;
    (void)rk;
    k->lk_full = false;
    /* Stopping: what was purged is on disk, or counted as lost. */
    if (ord < k->head || ord >= k->tail || slot_at(k, ord)->state != S_FLIGHT || k->closing) {
        return;
    }
    struct kafka_slot *s = slot_at(k, ord);
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        slot_done(k, s);
        atomic_fetch_add_explicit(&k->out->stats.acked, 1, memory_order_relaxed);
        k->retry_backoff_ms = RETRY_MIN_MS;
        /* One clock read per poll, not per record (it was 8% of this thread's CPU): the
         * episodes (kafka_errors.c) only ask whether records came after an error. */
        if (!k->delivered) {
            k->delivered = true;
            k->last_delivered_ms = tl_now_ms();
        }
        return;
    }
    if (kafka_undeliverable(m->err)) {
        slot_done(k, s);
        kafka_said_dropped(k, m->err, topic, m->len);
        return;
    }
    atomic_fetch_add_explicit(&k->n_failed, 1, memory_order_relaxed);
    kafka_failed(k, m->err, topic);
    struct kafka_rec r = {topic, strlen(topic), m->key, m->key_len, m->payload, m->len};
    to_retry(k, s, &r);
}

/* ---- from the queue to disk and to the brokers ------------------------------------------ */

/* The record of message m, in the scratch buffers; false when it cannot be formatted. */
static bool make_rec(struct kafka *k, const struct tl_msg *m, struct kafka_rec *r)
{
    const char *input = k->out->gconf->inputs[m->input].name;
    tl_buf_reset(&k->value);
    if (!tl_format(m, k->conf->format, false, &k->value)) {
        return false;
    }
    kafka_render_topic(k->topic_t, m, input, &k->topic);
    r->topic = (const char *)k->topic.data;
    r->topic_len = k->topic.len;
    r->key = NULL;
    r->key_len = 0;
    if (k->key_t) {
        kafka_render_key(k->key_t, m, input, &k->key);
        r->key = k->key.data;
        r->key_len = k->key.len;
    }
    r->value = k->value.data;
    r->len = k->value.len;
    return true;
}

/* A message that can never be a record here: dropped and counted (dropped_invalid). */
static void drop_invalid(struct kafka *k)
{
    atomic_fetch_add(&k->out->stats.dropped, 1);
    atomic_fetch_add(&k->n_invalid, 1);
}

/* Takes record r (message number seq) to the spool: false when it must wait (max_bytes
 * reached, or writing fails). When the spool is caught up it is produced at once. */
static bool store(struct kafka *k, uint64_t seq, const struct kafka_rec *r)
{
    struct tl_err err;
    if (!kafka_rec_encode(r, &k->rec)) {
        return false;
    }
    enum tl_rc rc = tl_spool_append(k->spool, k->rec.data, k->rec.len, seq, &err);
    if (rc == TL_FULL || rc == TL_AGAIN) {
        return false;
    }
    if (rc != TL_OK) {
        drop_invalid(k);
        tl_log_rl(&k->out->rl, 10, TL_LOG_ERROR, "output %s: disk queue %s: %s; message dropped",
                  k->conf->name, k->conf->queue_dir, err.cause);
        return true;
    }
    /* Caught up (this record is the only one not read): it is produced from memory too. */
    if (tl_spool_unread(k->spool) == 1 && room(k) && !k->stopping &&
        produce(k, k->tail, r, 0) == PR_OK) {
        tl_spool_advance(k->spool);
    }
    return true;
}

/* The held messages to the spool, in order; false when it must wait. */
static bool store_held(struct kafka *k)
{
    while (k->held_pos < k->n_held) {
        struct tl_msg *m = k->held[k->held_pos];
        uint64_t seq = k->popped - (k->n_held - k->held_pos);
        struct kafka_rec r;
        if (!make_rec(k, m, &r)) {
            drop_invalid(k);
        } else if (!store(k, seq, &r)) {
            return false; /* m stays held */
        }
        tl_msg_unref(m);
        k->held_pos++;
    }
    return true;
}

/*
 * The next held messages as a batch of records of one topic, as many as there is room for in
 * flight (queue.memory_*); how many (0: no room, or the first message cannot be formatted).
 */
static size_t batch_collect(struct kafka *k)
{
    struct kafka_batch *b = k->batch;
    uint64_t bytes = k->flight_bytes;
    size_t n = 0;
    tl_buf_reset(&b->data);
    while (k->held_pos + n < k->n_held && n < KAFKA_POP_MAX && b->data.len < BATCH_BYTES &&
           k->tail + n - k->head < k->max_flight &&
           (bytes < k->max_bytes || (k->tail == k->head && n == 0))) {
        const struct tl_msg *m = k->held[k->held_pos + n];
        const char *input = k->out->gconf->inputs[m->input].name;
        size_t off = b->data.len;
        kafka_render_topic(k->topic_t, m, input, &k->topic);
        if (n > 0 && (k->topic.len != b->topic.len ||
                      memcmp(k->topic.data, b->topic.data, b->topic.len) != 0)) {
            break; /* another topic: the next batch */
        }
        if (!tl_format(m, k->conf->format, false, &b->data)) {
            break; /* produced as a batch of its own, where it is dropped */
        }
        size_t key_len = 0;
        if (k->key_t) {
            kafka_render_key(k->key_t, m, input, &k->key);
            if (!tl_buf_append(&b->data, k->key.data, k->key.len)) {
                b->data.len = off;
                break;
            }
            key_len = k->key.len;
        }
        if (n == 0) {
            tl_buf_reset(&b->topic);
            tl_buf_append(&b->topic, k->topic.data, k->topic.len + 1); /* with its NUL */
            b->topic.len = k->topic.len;
        }
        rd_kafka_message_t *rm = &b->msgs[n];
        memset(rm, 0, sizeof(*rm));
        rm->len = b->data.len - off - key_len;
        rm->key_len = key_len;
        b->off[n] = off;
        bytes += rm->len + key_len + b->topic.len;
        n++;
    }
    return n;
}

/* Produces the batch of n records (batch_collect) from the held messages at held_pos; false
 * when librdkafka's queue is full (the rest stays held). */
static bool batch_produce(struct kafka *k, size_t n)
{
    struct kafka_batch *b = k->batch;
    const char *topic = (const char *)b->topic.data;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *rm = &b->msgs[i];
        rm->payload = b->data.data + b->off[i];
        rm->key = k->key_t ? (uint8_t *)rm->payload + rm->len : NULL;
        rm->_private = (void *)(uintptr_t)(k->tail + i);
    }
    rd_kafka_topic_t *rkt = topic_get(k, topic);
    if (rkt) {
        /* Keyless records: librdkafka's partitioner picks a partition for each. A full
         * queue fails every record after the first that did not fit, so what went in is a
         * prefix of the batch and the order holds. */
        rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, b->msgs, (int)n);
    }
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *rm = &b->msgs[i];
        struct kafka_rec r = {topic, b->topic.len, rm->key, rm->key_len, rm->payload, rm->len};
        uint64_t seq = k->popped - (k->n_held - k->held_pos);
        slot_new(k, &r, seq);
        if (produced(k, k->tail, &r, rkt ? rm->err : RD_KAFKA_RESP_ERR__INVALID_ARG) ==
            PR_WAIT) {
            return false;
        }
        tl_msg_unref(k->held[k->held_pos]);
        k->held_pos++;
    }
    return true;
}

/*
 * Without a disk part the held messages go to librdkafka in batches, the records of one
 * topic in order with one rd_kafka_produce_batch call each: one clock read, one check and one
 * topic lock per batch where rd_kafka_producev takes them for every record (most of the
 * output thread's CPU). False when it must wait (no room, librdkafka's queue full).
 */
static bool produce_held(struct kafka *k)
{
    while (k->held_pos < k->n_held) {
        if (!room(k)) {
            return false;
        }
        size_t n = batch_collect(k);
        if (n == 0) {
            /* The first message cannot be formatted (room was checked): it is dropped. */
            drop_invalid(k);
            tl_msg_unref(k->held[k->held_pos]);
            k->held_pos++;
        } else if (!batch_produce(k, n)) {
            return false;
        }
    }
    return true;
}

/*
 * Takes messages from the queue: with a spool every one to disk (as long as it takes them);
 * without, to librdkafka while there is room in flight. Messages that cannot be formatted are
 * dropped and counted.
 */
static void fill(struct kafka *k)
{
    for (;;) {
        if (k->spool ? tl_spool_failing(k->spool) : !room(k)) {
            break;
        }
        if (k->held_pos == k->n_held) {
            k->held_pos = 0;
            k->n_held = tl_mq_pop(&k->out->q, k->held, KAFKA_POP_MAX, 0);
            if (k->n_held == 0) {
                break;
            }
            k->popped += k->n_held;
            tl_ev_note_work(k->loop, k->n_held);
        }
        if (k->spool ? !store_held(k) : !produce_held(k)) {
            break;
        }
    }
    if (k->spool) {
        tl_spool_flush(k->spool);
    }
    settle_update(k);
}

/* Produces from disk: the records after the spool's read cursor, in order, while there is
 * room. */
static void feed_from_disk(struct kafka *k)
{
    if (!k->spool || k->stopping) {
        return; /* stopping: what is on disk stays there for the next start */
    }
    char topic[KAFKA_TOPIC_LEN_MAX + 1];
    while (room(k)) {
        const uint8_t *p;
        size_t len;
        struct kafka_rec r;
        if (!tl_spool_peek(k->spool, &p, &len)) {
            break;
        }
        if (!kafka_rec_decode(p, len, topic, &r)) {
            /* Not a record of this output (a queue directory shared by mistake, damage the
             * CRC did not catch): it takes a slot that is done at once, so that the records
             * around it are acknowledged in order. */
            struct kafka_slot *s = slot_at(k, k->tail++);
            s->state = S_DONE;
            s->bytes = 0;
            drop_invalid(k);
            tl_log_rl(&k->drop_rl, 10, TL_LOG_ERROR, "output %s: disk queue %s: a record of %zu "
                      "bytes is not a Kafka record of this output; it is dropped "
                      "(dropped_invalid); was queue.dir written by another output?",
                      k->conf->name, k->conf->queue_dir, len);
            tl_spool_advance(k->spool);
            continue;
        }
        if (produce(k, k->tail, &r, 0) == PR_WAIT) {
            break;
        }
        tl_spool_advance(k->spool);
    }
}

/* The records whose delivery failed are produced again, oldest first. */
static void retry_cb(struct tl_ev_loop *loop, void *arg)
{
    struct kafka *k = arg;
    char topic[KAFKA_TOPIC_LEN_MAX + 1];
    (void)loop;
    if (!k->rk || k->fatal) {
        retry_arm(k);
        return;
    }
    for (uint64_t o = k->head; o < k->tail && k->n_retry; o++) {
        struct kafka_slot *s = slot_at(k, o);
        struct kafka_rec r;
        if (s->state != S_RETRY) {
            continue;
        }
        if (!kafka_rec_decode(s->copy, s->copy_len, topic, &r)) {
            slot_done(k, s); /* cannot be: it was encoded here */
            continue;
        }
        if (produce(k, o, &r, 0) == PR_WAIT) {
            break;
        }
    }
    if (k->n_retry) {
        retry_arm(k);
    }
    pump(k);
}

/* ---- the producer's life ---------------------------------------------------------------- */

/* The producer's reports are served until none is in flight, or the time is up. */
static void drain_reports(struct kafka *k, int64_t until)
{
    while (tl_now_ms() < until) {
        bool flight = false;
        for (uint64_t o = k->head; o < k->tail && !flight; o++) {
            flight = slot_at(k, o)->state == S_FLIGHT;
        }
        if (!flight) {
            break;
        }
        rd_kafka_poll(k->rk, 50);
    }
}

/* In-flight records whose report never came (the producer is gone): they are lost. */
static uint64_t forget_flight(struct kafka *k)
{
    uint64_t n = 0;
    for (uint64_t o = k->head; o < k->tail; o++) {
        struct kafka_slot *s = slot_at(k, o);
        if (s->state != S_DONE) {
            n++;
            slot_done(k, s);
        }
    }
    return n;
}

/*
 * A fatal error (the idempotent producer cannot go on: its sequence is broken): librdkafka
 * gives up on every record it holds. They come back as failed reports, with their bytes,
 * and are produced again by a new producer, in order. What the brokers may already have got
 * arrives twice (counted in resent).
 */
static void recreate(struct kafka *k)
{
    char why[512];
    struct tl_err err;
    rd_kafka_fatal_error(k->rk, why, sizeof(why));
    tl_error("output %s: the Kafka producer failed for good (%s); a new one takes over, and "
             "the %llu records not yet delivered are produced again (some may arrive twice, "
             "counted in resent)",
             k->conf->name, why, (unsigned long long)(k->tail - k->head));
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    drain_reports(k, tl_now_ms() + 5000);
    for (uint64_t o = k->head; o < k->tail; o++) {
        if (slot_at(k, o)->state == S_FLIGHT) {
            /* No report, so no bytes to produce again: said and counted, never silent. */
            tl_error("output %s: a record in flight got no report from the failed producer; "
                     "it is lost (counted in dropped)", k->conf->name);
            atomic_fetch_add(&k->out->stats.dropped, 1);
            slot_done(k, slot_at(k, o));
        }
    }
    topics_clear(k);
    rd_kafka_destroy(k->rk);
    k->rk = NULL;
    k->fatal = false;
    if (kafka_producer_new(k, &err) != TL_OK) {
        tl_error("output %s: %s; trying again", k->conf->name, err.cause);
    }
    k->retry_backoff_ms = RETRY_MIN_MS;
    tl_ev_timer_stop(k->loop, &k->retry_timer);
    retry_arm(k);
}

/* ---- the thread ------------------------------------------------------------------------- */

static void pump(struct kafka *k)
{
    if (!k->rk) {
        struct tl_err err;
        if (kafka_producer_new(k, &err) != TL_OK) {
            return;
        }
    }
    k->delivered = false;
    rd_kafka_poll(k->rk, 0);
    if (k->fatal) {
        recreate(k);
        return;
    }
    advance_head(k);
    fill(k);
    feed_from_disk(k);
    advance_head(k);
}

static void eio_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct kafka *k = io->data;
    uint64_t v;
    (void)loop;
    (void)events;
    while (read(k->efd, &v, sizeof(v)) > 0) {
    }
    pump(k);
}

static void tick_cb(struct tl_ev_loop *loop, void *arg)
{
    struct kafka *k = arg;
    kafka_episodes_tick(k, tl_now_ms());
    pump(k);
    tl_ev_timer_start(loop, &k->tick, TICK_MS);
}

static void kafka_wake(void *arg)
{
    struct kafka *k = arg;
    tl_ev_wake(k->loop);
}

static void before_sleep(struct tl_ev_loop *loop, void *arg)
{
    struct kafka *k = arg;
    (void)loop;
    if (!k->stopping && tl_mq_closed(&k->out->q)) {
        k->stopping = true;
        k->stop_deadline = atomic_load(&k->out->stop_deadline_ms);
        if (k->stop_deadline == 0) {
            k->stop_deadline = tl_now_ms() + (int64_t)k->conf->drain_timeout_ms;
        }
    }
    atomic_store(&k->out->reopen, false); /* SIGHUP: nothing to reopen here */
    pump(k);
}

/* Drops what the queue still holds (at the very end); returns how many. */
static uint64_t drop_queued(struct kafka *k)
{
    return tl_out_release_queued(k->out, k->held, &k->held_pos, &k->n_held);
}

/* The end of a stop: with a spool, what is still in memory goes to disk after what is there
 * (records in flight stay on disk: they are produced again at the next start); without one,
 * what was not delivered by drain_timeout is lost, counted and said. */
static void finish(struct kafka *k)
{
    uint64_t lost;
    k->closing = true;
    if (k->spool) {
        tl_spool_try_again(k->spool); /* one last try */
        fill(k);
        lost = tl_spool_stop(k->spool, drop_queued(k));
    } else {
        lost = forget_flight(k) + drop_queued(k);
        if (lost) {
            tl_error("output %s: stopping with %llu messages undelivered after drain_timeout "
                     "(%llu ms): they are lost", k->conf->name, (unsigned long long)lost,
                     (unsigned long long)k->conf->drain_timeout_ms);
        }
    }
    atomic_fetch_add(&k->out->stats.dropped, lost);
    if (k->rk) {
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->rk, 0);
    }
}

static uint64_t pending(struct kafka *k)
{
    return tl_mq_len(&k->out->q) + (k->n_held - k->held_pos) + (k->tail - k->head) +
           (k->spool ? tl_spool_unread(k->spool) : 0);
}

static void *kafka_run(void *arg)
{
    struct tl_output *out = arg;
    struct kafka *k = out->impl;
    /* Named, as librdkafka names its own (rdk:main, rdk:broker1): top -H and the bench tell
     * this thread's CPU from theirs and from the inputs'. */
    pthread_setname_np(pthread_self(), "tl:kafka");
    tl_ev_set_before_sleep(k->loop, before_sleep, k);
    tl_ev_io_init(&k->eio, k->efd, eio_cb, k);
    tl_ev_set(k->loop, &k->eio, TL_EV_READ);
    tl_ev_timer_start(k->loop, &k->tick, TICK_MS);
    if (k->spool) {
        tl_spool_start(k->spool);
    }
    for (;;) {
        tl_ev_run_once(k->loop, 500);
        if (!k->stopping) {
            continue;
        }
        /* With a spool, the rest waits there once nothing is in flight. */
        if (pending(k) == 0 || tl_now_ms() >= k->stop_deadline ||
            (k->spool && k->tail == k->head && k->held_pos == k->n_held &&
             tl_mq_len(&out->q) == 0)) {
            break;
        }
    }
    finish(k);
    tl_ev_del(k->loop, &k->eio);
    tl_ev_timer_stop(k->loop, &k->tick);
    tl_ev_timer_stop(k->loop, &k->retry_timer);
    return NULL;
}

/* ---- start and end ---------------------------------------------------------------------- */

static void kafka_destroy(struct kafka *k)
{
    if (k->rk) {
        k->closing = true;
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->rk, 0);
        topics_clear(k);
        rd_kafka_destroy(k->rk);
    }
    for (size_t i = k->held_pos; i < k->n_held; i++) {
        tl_msg_unref(k->held[i]);
    }
    if (k->ring) {
        for (uint64_t o = k->head; o < k->tail; o++) {
            free(slot_at(k, o)->copy);
        }
    }
    tl_spool_close(k->spool);
    free(k->ring);
    tl_template_free(k->topic_t);
    tl_template_free(k->key_t);
    free(k->brokers);
    kafka_free_secret(k->sasl_password);
    kafka_free_secret(k->key_password);
    tl_buf_fini(&k->topic);
    tl_buf_fini(&k->key);
    tl_buf_fini(&k->value);
    tl_buf_fini(&k->rec);
    if (k->batch) {
        tl_buf_fini(&k->batch->topic);
        tl_buf_fini(&k->batch->data);
        free(k->batch);
    }
    if (k->loop) {
        tl_ev_loop_free(k->loop);
    }
    if (k->efd >= 0) {
        close(k->efd);
    }
    free(k);
}

/* The spool's retry timer: try again (fill appends and flushes). */
static void spool_retry(void *arg)
{
    pump(arg);
}

/* An interval sync made more messages stick. */
static void spool_settled(void *arg)
{
    settle_update(arg);
}

static enum tl_rc open_spool(struct kafka *k, struct tl_err *err)
{
    k->spool = tl_out_spool_open(k->out, k->loop, spool_retry, spool_settled, k, err);
    return k->spool ? TL_OK : TL_E_IO;
}

/* Everything the output needs before its thread runs; fills err on failure. */
static enum tl_rc kafka_setup(struct kafka *k, struct tl_err *err)
{
    const struct tl_conf_output *c = k->conf;
    if (k->efd < 0 || !k->loop || !k->ring || !k->batch) {
        return tl_err_set(err, TL_E_RESOURCE, errno, NULL, NULL, "out of resources at start: %s",
                          strerror(errno));
    }
    TL_TRY(tl_template_new(c->topic, &k->topic_t, err));
    if (c->key) {
        TL_TRY(tl_template_new(c->key, &k->key_t, err));
    }
    if (c->kafka_tls) {
        /* The files are checked as for every TLS output (readable, key mode, key and
         * certificate match, password), with the same messages; librdkafka reads them. */
        char owner[96];
        snprintf(owner, sizeof(owner), "output %s", c->name);
        struct tl_tls_ctx *ctx = tl_tls_ctx_new(&c->tls, TL_TLS_CLIENT, owner, err);
        if (!ctx) {
            return err ? err->code : TL_E_CONFIG;
        }
        tl_tls_ctx_unref(ctx);
    }
    TL_TRY(kafka_read_secrets(k, err));
    TL_TRY(kafka_producer_new(k, err));
    if (c->queue_dir) {
        TL_TRY(open_spool(k, err));
    }
    return TL_OK;
}

static bool kafka_init(struct tl_output *out)
{
    const struct tl_conf_output *c = out->conf;
    struct tl_err err;
    struct kafka *k = calloc(1, sizeof(*k));
    if (!k) {
        tl_error("output %s: out of memory", c->name);
        return false;
    }
    k->out = out;
    k->conf = c;
    k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    k->loop = tl_ev_loop_new();
    k->retry_backoff_ms = RETRY_MIN_MS;
    k->max_flight = c->queue_messages < RING_MAX ? c->queue_messages : RING_MAX;
    k->max_bytes = c->queue_memory_bytes;
    uint64_t cap = 1;
    while (cap < k->max_flight) {
        cap <<= 1;
    }
    k->mask = cap - 1;
    k->ring = calloc(cap, sizeof(*k->ring));
    tl_buf_init(&k->topic, 0);
    tl_buf_init(&k->key, 0);
    tl_buf_init(&k->value, 0);
    tl_buf_init(&k->rec, 0);
    k->batch = calloc(1, sizeof(*k->batch));
    if (k->batch) {
        tl_buf_init(&k->batch->topic, 0);
        tl_buf_init(&k->batch->data, 0);
    }
    tl_ev_timer_init(&k->tick, tick_cb, k);
    tl_ev_timer_init(&k->retry_timer, retry_cb, k);
    if (kafka_setup(k, &err) != TL_OK) {
        /* Messages of the layers below already name the output; ours do too. */
        if (strncmp(err.cause, "output ", 7) == 0) {
            tl_error("%s", err.cause);
        } else {
            tl_error("output %s: %s", c->name, err.cause);
        }
        kafka_destroy(k);
        return false;
    }
    out->impl = k;
    out->q.notify = kafka_wake;
    out->q.notify_arg = k;
    tl_info("output %s: producing to Kafka at %s, topic %s%s%s (%s%s)", c->name, k->brokers,
            c->topic, c->key ? ", key " : "", c->key ? c->key : "",
            c->kafka_tls ? "TLS" : "plaintext", c->sasl_mechanism ? ", SASL" : "");
    return true;
}

static void kafka_free(struct tl_output *out)
{
    if (out->impl) {
        kafka_destroy(out->impl);
        out->impl = NULL;
    }
}

/* librdkafka reads its certificates once, when the producer is made: a TLS reload does not
 * reach it, and the operator is told so rather than left to believe it did. */
static void kafka_recheck(struct tl_output *out)
{
    if (out->conf->kafka_tls) {
        tl_notice("output %s: TLS reload does not apply to kafka outputs: they keep the "
                  "certificates read at start until a restart", out->conf->name);
    }
}

static void kafka_log_stats(struct tl_output *out)
{
    struct kafka *k = out->impl;
    if (!k) {
        return;
    }
    tl_info("stats: kafka_by_reason: output %s: delivered=%llu in_flight=%llu "
            "delivery_errors=%llu dropped_too_large=%llu dropped_invalid=%llu",
            out->conf->name, (unsigned long long)atomic_load(&out->stats.acked),
            (unsigned long long)atomic_load(&k->n_flight),
            (unsigned long long)atomic_load(&k->n_failed),
            (unsigned long long)atomic_load(&k->n_too_large),
            (unsigned long long)atomic_load(&k->n_invalid));
}

const struct tl_output_ops tl_out_kafka_ops = {
    .name = "kafka", .check = kafka_check, .init = kafka_init, .run = kafka_run,
    .recheck = kafka_recheck, .log_stats = kafka_log_stats, .free = kafka_free};
