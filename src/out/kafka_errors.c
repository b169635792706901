/*
 * kafka_errors.c: what goes wrong between the kafka output and the brokers, said in plain
 * words with the remedy (docs/tls.md and docs/configuration.md list them).
 *
 * Trouble comes in episodes: a broker away, TLS or SASL failing, a topic missing, access
 * refused. Each kind is said once when it starts and once when it is over (records were
 * delivered after it last came, and it has not come for a while), never once per attempt:
 * librdkafka retries every few hundred milliseconds. The records wait meanwhile; nothing is
 * dropped for a transient error (_ALL_BROKERS_DOWN and _TRANSPORT above all).
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "out/kafka.h"

#define QUIET_MS 10000  /* an episode ends after this long without its error */

/* What each episode was about, for the line that says it is over. */
static const char *const ep_words[EP_N] = {
    "no broker answers", "a broker cannot be reached", "TLS with the brokers fails",
    "SASL authentication fails", "the topic does not exist", "the brokers refuse access",
    "deliveries fail",
};

/* Where messages wait meanwhile, for the error lines. */
static const char *wait_where(const struct kafka *k, char *out, size_t cap)
{
    if (k->spool) {
        snprintf(out, cap, "they wait in the disk queue %s", k->conf->queue_dir);
    } else {
        snprintf(out, cap, "they wait in memory, and while the queue is full queue.full "
                 "applies (%s)", k->conf->full == TL_QFULL_DROP ? "drop: new messages are "
                 "dropped and counted" : "block: the inputs routed here pause");
    }
    return out;
}

void kafka_episode(struct kafka *k, enum kafka_ep e, enum tl_log_level level, const char *fmt,
                   ...)
{
    struct kafka_episode *p = &k->ep[e];
    int64_t now = tl_now_ms();
    p->last = now;
    if (p->on) {
        return;
    }
    char what[1024];
    char where[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    p->on = true;
    p->since = now;
    tl_log(level, "output %s: %s; nothing is dropped: %s", k->conf->name, what,
           wait_where(k, where, sizeof(where)));
}

void kafka_episodes_tick(struct kafka *k, int64_t now)
{
    for (int e = 0; e < EP_N; e++) {
        struct kafka_episode *p = &k->ep[e];
        /* Over once records were delivered after the error last came, and it has not come
         * for a while (no broker at all: at the first delivery). */
        if (p->on && k->last_delivered_ms > p->last &&
            (e == EP_DOWN || now - p->last >= QUIET_MS)) {
            p->on = false;
            tl_notice("output %s: over after %.1f s: %s; nothing was lost", k->conf->name,
                      (double)(now - p->since) / 1000.0, ep_words[e]);
        }
    }
}

void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka *k = opaque;
    (void)rk;
    const struct tl_conf_output *c = k->conf;
    tl_debug("output %s: librdkafka error %s: %s", c->name,
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT && strstr(reason, "Disconnected") &&
        strstr(reason, "state UP")) {
        /* A broker closed an idle connection (connections.max.idle.ms): librdkafka
         * reconnects when needed, and a broker that is really gone fails that. */
        return;
    }
    /* A connection lost in the TLS handshake, or to a TLS alert (a TLS 1.3 broker refuses a
     * client certificate after the handshake), or in SASL, is that failing. (Without TLS,
     * librdkafka's guess "connecting to a SSL listener?" stays a transport error: a broker
     * that goes away in the middle of a request gets it too.) */
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT && c->kafka_tls && strstr(reason, "SSL")) {
        err = RD_KAFKA_RESP_ERR__SSL;
    } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT && c->sasl_mechanism &&
               strstr(reason, "state AUTH")) {
        err = RD_KAFKA_RESP_ERR__AUTHENTICATION;
    }
    switch (err) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        if (k->ep[EP_TLS].on || k->ep[EP_SASL].on) {
            break; /* that is why: already said */
        }
        kafka_episode(k, EP_DOWN, TL_LOG_ERROR, "none of the brokers (%s) can be reached (%s); "
                      "check that Kafka runs there and that brokers: names it; records are "
                      "produced, in order, once a broker answers", k->brokers, reason);
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        kafka_episode(k, EP_CONN, TL_LOG_WARNING, "a broker cannot be reached (%s); records "
                      "for its partitions wait until it is back or another broker leads them",
                      reason);
        break;
    case RD_KAFKA_RESP_ERR__SSL:
        kafka_episode(k, EP_TLS, TL_LOG_ERROR, "TLS with a broker failed: %s; check that the "
                      "brokers' port speaks TLS (an SSL or SASL_SSL listener), that tls.ca_file "
                      "holds the CA that signed the brokers' certificates, and that each "
                      "certificate carries the name its broker is reached by (or set tls.auth: "
                      "certvalid); see docs/tls.md", reason);
        break;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        kafka_episode(k, EP_SASL, TL_LOG_ERROR, "SASL authentication as '%s' failed: %s; check "
                      "sasl.username, the password in %s, and that the brokers enable %s",
                      c->sasl_username ? c->sasl_username : "(none)", reason,
                      c->sasl_password_file ? c->sasl_password_file : "sasl.password_file",
                      kafka_mech_names[c->sasl_mechanism]);
        break;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        kafka_episode(k, EP_ACL, TL_LOG_ERROR, "the brokers refuse access: %s; grant this "
                      "client WRITE on the topics and IDEMPOTENT_WRITE on the cluster", reason);
        break;
    case RD_KAFKA_RESP_ERR__FATAL:
        k->fatal = true;
        break;
    default:
        kafka_episode(k, EP_FAIL, TL_LOG_WARNING, "Kafka error: %s (%s)", reason,
                      rd_kafka_err2name((rd_kafka_resp_err_t)err));
        break;
    }
}

void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)level;
    const struct kafka *k = rd_kafka_opaque(rk);
    tl_debug("output %s: librdkafka %s: %s", k ? k->conf->name : "?", fac, buf);
}

void kafka_failed(struct kafka *k, rd_kafka_resp_err_t e, const char *topic)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        kafka_episode(k, EP_TOPIC, TL_LOG_ERROR, "topic %s does not exist on the cluster (%s); "
                      "create it, let the brokers create topics (auto.create.topics.enable), or "
                      "change topic:", topic, rd_kafka_err2str(e));
        break;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        kafka_episode(k, EP_ACL, TL_LOG_ERROR, "the brokers refuse to let this client write to "
                      "topic %s (%s); grant it WRITE on the topic and IDEMPOTENT_WRITE on the "
                      "cluster", topic, rd_kafka_err2str(e));
        break;
    case RD_KAFKA_RESP_ERR__FATAL:
        k->fatal = true;
        break; /* the producer is made anew: said there */
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        break;
    default:
        kafka_episode(k, EP_FAIL, TL_LOG_WARNING, "delivery to topic %s failed: %s (%s); the "
                      "records are produced again", topic, rd_kafka_err2str(e),
                      rd_kafka_err2name(e));
        break;
    }
}

bool kafka_undeliverable(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           e == RD_KAFKA_RESP_ERR_INVALID_RECORD || e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
           e == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
}

void kafka_said_dropped(struct kafka *k, rd_kafka_resp_err_t e, const char *topic, size_t len)
{
    bool large = e != RD_KAFKA_RESP_ERR_INVALID_RECORD && e != RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
    atomic_fetch_add_explicit(large ? &k->n_too_large : &k->n_invalid, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->out->stats.dropped, 1, memory_order_relaxed);
    if (large) {
        tl_log_rl(&k->drop_rl, 10, TL_LOG_ERROR, "output %s: a record of %zu bytes for topic %s "
                  "is larger than the brokers accept (%s); it is dropped (dropped_too_large); "
                  "raise the topic's max.message.bytes and properties.message.max.bytes, or "
                  "lower max_message_size on the inputs", k->conf->name, len, topic,
                  rd_kafka_err2str(e));
    } else {
        tl_log_rl(&k->drop_rl, 10, TL_LOG_ERROR, "output %s: the brokers refuse a record for "
                  "topic %s as invalid (%s); it is dropped (dropped_invalid)", k->conf->name,
                  topic, rd_kafka_err2str(e));
    }
}
