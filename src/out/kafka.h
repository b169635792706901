/*
 * kafka.h: private to the kafka output (out_kafka.c and its parts): its state and what its
 * files call in each other.
 *
 *   out_kafka.c     the kind: from the queue to the spool and to librdkafka, the ring of
 *                   records in flight, delivery reports, the thread, start and end
 *   kafka_conf.c    librdkafka's configuration from the output's keys, the check of the
 *                   properties (--check), the secret files, the producer
 *   kafka_errors.c  what goes wrong, in plain words with the remedy, once per episode
 *   kafka_rec.c     a record: its topic and key from the templates, its disk encoding
 *
 * Threads: everything here runs on the output's own thread (librdkafka's callbacks too: they
 * are served by rd_kafka_poll there), except check (the main thread, before any output
 * exists) and the counters, which the stats line reads from the main thread.
 */
#ifndef TL_OUT_KAFKA_H
#define TL_OUT_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdarg.h>

#include "core/buf.h"
#include "core/err.h"
#include "ev/loop.h"
#include "parse/template.h"
#include "pipeline/pipeline.h"
#include "queue/spool.h"

#define KAFKA_POP_MAX 1024
#define KAFKA_TOPIC_LEN_MAX 249    /* Kafka's longest topic name */
#define KAFKA_KEY_LEN_MAX 4096
#define KAFKA_TOPIC_BUCKETS 256

/* ---- records (kafka_rec.c) ------------------------------------------------------------- */

/* A record as produced: topic (NUL-terminated), key (NULL: none), payload. */
struct kafka_rec {
    const char *topic;
    size_t topic_len;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t len;
};

/* The record as the disk part keeps it (and a failed record's copy): u8 version (1), u8
 * topic length (1..249), u32 little-endian key length (0xffffffff: no key), the topic, the
 * key, the payload. */
bool kafka_rec_encode(const struct kafka_rec *r, struct tl_buf *b);
/* Reads a disk record into the parts (pointing into p; the topic is copied into topic, which
 * holds KAFKA_TOPIC_LEN_MAX + 1 bytes); false when it is not one (a damaged or foreign
 * record). Exported for the fuzz target (tests/fuzz/fuzz_kafka_record.c). */
bool tl_out_kafka_rec_decode(const uint8_t *p, size_t len, char *topic, const uint8_t **key,
                             size_t *key_len, const uint8_t **value, size_t *value_len);
/* The same into r, whose topic points to topic. */
bool kafka_rec_decode(const uint8_t *p, size_t len, char *topic, struct kafka_rec *r);

/* Renders the topic template t for m into b: a valid topic name (a placeholder's value
 * with '_' for what Kafka does not take, at most 249 characters, never "." or ".."),
 * NUL-terminated (not counted in b->len). */
void kafka_render_topic(const struct tl_template *t, const struct tl_msg *m,
                        const char *input_name, struct tl_buf *b);
/* Renders the key template t for m into b, at most KAFKA_KEY_LEN_MAX bytes. */
void kafka_render_key(const struct tl_template *t, const struct tl_msg *m,
                      const char *input_name, struct tl_buf *b);

/* ---- the output's state ---------------------------------------------------------------- */

enum kafka_slot_state {
    S_FLIGHT, /* handed to librdkafka, no delivery report yet */
    S_DONE,   /* delivered, or dropped and counted */
    S_RETRY,  /* its delivery failed: produced again (from copy) after a backoff */
};

/* One record produced and not yet acknowledged past, by its ordinal. */
struct kafka_slot {
    uint8_t state;
    uint32_t bytes;     /* counted in the in-flight bytes until it is done */
    uint64_t seq;       /* without a disk part: its number in the output's queue */
    uint8_t *copy;      /* S_RETRY: the record, encoded as on disk */
    size_t copy_len;
};

/* Records of one topic built from held messages, produced with one rd_kafka_produce_batch
 * call (out_kafka.c: produce_held). Each record's value is followed by its key in data. */
struct kafka_batch {
    struct tl_buf topic;        /* NUL-terminated, not counted in len */
    struct tl_buf data;
    size_t off[KAFKA_POP_MAX];  /* where each record's value starts in data */
    rd_kafka_message_t msgs[KAFKA_POP_MAX];
};

struct kafka_topic {
    char *name;
    rd_kafka_topic_t *rkt;
    uint64_t last_use;
    struct kafka_topic *next;
};

/* Kinds of trouble, each said once per episode (and once when it is over). */
enum kafka_ep {
    EP_DOWN,    /* no broker reachable */
    EP_CONN,    /* a broker unreachable */
    EP_TLS,
    EP_SASL,
    EP_TOPIC,   /* the topic does not exist */
    EP_ACL,     /* not authorized */
    EP_FAIL,    /* any other delivery failure */
    EP_N,
};

struct kafka_episode {
    bool on;
    int64_t since;
    int64_t last;       /* the last time this error came */
};

struct kafka {
    struct tl_output *out;
    const struct tl_conf_output *conf;
    struct tl_ev_loop *loop;
    rd_kafka_t *rk;
    char *brokers;              /* bootstrap.servers */
    char *sasl_password;
    char *key_password;
    int efd;                    /* written by librdkafka: events wait */
    struct tl_ev_io eio;
    struct tl_ev_timer tick;    /* serves librdkafka, ends episodes */
    struct tl_ev_timer retry_timer;
    int64_t retry_backoff_ms;
    bool fatal;
    bool stopping;
    bool closing;               /* the producer is purged at the end: reports are ignored */
    int64_t last_delivered_ms;
    bool delivered;             /* this rd_kafka_poll delivered: last_delivered_ms is set */
    int64_t stop_deadline;

    struct tl_template *topic_t;
    struct tl_template *key_t;  /* NULL: records have no key */
    struct tl_buf topic;        /* rendering scratch */
    struct tl_buf key;
    struct tl_buf value;
    struct tl_buf rec;          /* one encoded record */
    struct kafka_batch *batch;
    struct kafka_topic *buckets[KAFKA_TOPIC_BUCKETS];
    size_t n_topics;
    uint64_t use_clock;

    /* The ring of records produced and not yet acknowledged past: ordinals head..tail. */
    struct kafka_slot *ring;
    uint64_t mask;
    uint64_t head;
    uint64_t tail;
    uint64_t max_flight;        /* queue.memory_messages, at most 2^20 */
    uint64_t max_bytes;         /* queue.memory_bytes */
    uint64_t flight_bytes;
    size_t n_retry;
    bool lk_full;               /* librdkafka's queue was full: wait for a report */

    struct tl_msg *held[KAFKA_POP_MAX]; /* popped, not produced or on disk yet */
    size_t n_held;
    size_t held_pos;
    uint64_t popped;

    struct tl_spool *spool;     /* the disk part (queue.dir), or NULL */

    struct kafka_episode ep[EP_N];
    struct tl_ratelimit drop_rl;
    /* Counted by reason beside the output's stats; read by the stats line. */
    atomic_uint_fast64_t n_too_large;
    atomic_uint_fast64_t n_invalid;
    atomic_uint_fast64_t n_failed;   /* delivery reports with an error (produced again) */
    atomic_uint_fast64_t n_flight;
};

/* ---- the producer (kafka_conf.c) ------------------------------------------------------- */

/* As librdkafka spells them (sasl.mechanisms), by enum tl_sasl_mech. */
extern const char *const kafka_mech_names[];

/* The output's check (out.h): each property, refused when the output sets it itself, else
 * by librdkafka with its own words. */
bool kafka_check(const struct tl_conf *c, size_t index, struct tl_conf_errors *errs);
/* The secret files (the SASL password, the TLS key's password) and the broker list, at
 * init; TL_E_CONFIG with the reason (naming the file and the fix). */
enum tl_rc kafka_read_secrets(struct kafka *k, struct tl_err *err);
/* A producer from the configuration, its events on k->efd. */
enum tl_rc kafka_producer_new(struct kafka *k, struct tl_err *err);
/* The delivery report callback (out_kafka.c), set on every producer. */
void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/* Wipes and frees a secret read by kafka_read_secrets (NULL is fine). */
void kafka_free_secret(char *s);

/* ---- what goes wrong (kafka_errors.c) -------------------------------------------------- */

/* librdkafka's error and log callbacks (opaque: the struct kafka). */
void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
/* The start of an episode of trouble e: one line, then nothing until it is over. */
void kafka_episode(struct kafka *k, enum kafka_ep e, enum tl_log_level level, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
/* Ends the episodes that are over (records were delivered since), saying so. */
void kafka_episodes_tick(struct kafka *k, int64_t now);
/* A delivery that failed for good in librdkafka's eyes: said once per episode (k->fatal
 * for a fatal error: the producer is made anew). */
void kafka_failed(struct kafka *k, rd_kafka_resp_err_t e, const char *topic);
/* Errors after which a record can never be delivered: it is dropped and counted. */
bool kafka_undeliverable(rd_kafka_resp_err_t e);
/* Says (rate-limited) and counts the drop of a record that can never be delivered. */
void kafka_said_dropped(struct kafka *k, rd_kafka_resp_err_t e, const char *topic, size_t len);

#endif
