/*
 * kafka_conf.c: the kafka output's librdkafka configuration: made from the output's keys
 * (brokers, tls:, sasl:, properties:) with what at-least-once delivery needs on top, the
 * check of the properties that --check and the start run (out.h: check), the secret files,
 * and the producer itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "out/kafka.h"

#define DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20" /* as transport/tls_ctx.c */

/* As librdkafka spells them (sasl.mechanisms), by enum tl_sasl_mech. */
const char *const kafka_mech_names[] = {"", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

/* librdkafka properties the output sets itself: a value here would break what tlslogd
 * promises (at-least-once) or say the same as one of its keys, differently. */
static const struct {
    const char *name;
    const char *instead;
} reserved[] = {
    {"bootstrap.servers", "list the brokers in the output's brokers: key"},
    {"metadata.broker.list", "list the brokers in the output's brokers: key"},
    {"enable.idempotence", "tlslogd always produces with enable.idempotence=true, so that the "
                           "producer's retries neither lose nor reorder messages"},
    {"acks", "tlslogd always asks for acks=all: a message counts as delivered only when every "
             "in-sync replica has it"},
    {"request.required.acks", "tlslogd always asks for acks=all: a message counts as delivered "
                              "only when every in-sync replica has it"},
    {"security.protocol", "it follows from the output's tls: and sasl: blocks"},
    {"ssl.ca.location", "use tls.ca_file or tls.ca_dir"},
    {"ssl.ca.pem", "use tls.ca_file"},
    {"ssl.certificate.location", "use tls.cert_file"},
    {"ssl.certificate.pem", "use tls.cert_file"},
    {"ssl.key.location", "use tls.key_file"},
    {"ssl.key.pem", "use tls.key_file"},
    {"ssl.key.password", "use tls.key_password_file: a password does not belong in the "
                         "configuration file"},
    {"ssl.crl.location", "use tls.crl_file"},
    {"ssl.cipher.suites", "use tls.ciphers"},
    {"enable.ssl.certificate.verification", "use tls.auth (anon turns verification off)"},
    {"ssl.endpoint.identification.algorithm", "use tls.auth (name checks the broker's name, "
                                              "certvalid only its CA)"},
    {"sasl.mechanism", "use sasl.mechanism"},
    {"sasl.mechanisms", "use sasl.mechanism"},
    {"sasl.username", "use sasl.username"},
    {"sasl.password", "use sasl.password_file: a password does not belong in the "
                      "configuration file"},
    {"transactional.id", "tlslogd does not produce in transactions; the idempotent producer is "
                         "what at-least-once delivery needs"},
};

/* Why the output refuses property name, or NULL when it takes it. */
static const char *reserved_why(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(name, reserved[i].name) == 0) {
            return reserved[i].instead;
        }
    }
    return NULL;
}

bool kafka_check(const struct tl_conf *c, size_t index, struct tl_conf_errors *errs)
{
    const struct tl_conf_output *o = &c->outputs[index];
    char label[128];
    char why[512];
    bool ok = true;
    rd_kafka_conf_t *rc = rd_kafka_conf_new();

    tl_conf_output_label(c, index, label, sizeof(label));
    for (size_t i = 0; i < o->n_properties; i++) {
        const char *name = o->properties[2 * i];
        const char *value = o->properties[2 * i + 1];
        const char *instead = reserved_why(name);
        int line = o->property_lines[i];

        if (instead != NULL) {
            tl_conf_errors_add(errs, c->file, line, "%s.properties.%s: tlslogd sets %s itself; "
                               "%s", label, name, name, instead);
            ok = false;
        } else if (rd_kafka_conf_set(rc, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            tl_conf_errors_add(errs, c->file, line, "%s.properties.%s: librdkafka refuses "
                               "'%s': %s", label, name, value, why);
            ok = false;
        }
    }
    rd_kafka_conf_destroy(rc);
    return ok;
}

/* ---- secret files ---------------------------------------------------------------------- */

/*
 * The first line of a secret file (the SASL password, the TLS key's password). check_mode:
 * refused when others may read it (every local user could use it), a warning when its group
 * may (as the TLS key files: see transport/tls_ctx.c).
 */
static enum tl_rc read_secret(const char *owner, const char *key, const char *path,
                              bool check_mode, char **out, struct tl_err *err)
{
    char buf[1024];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        return tl_err_set(err, TL_E_CONFIG, e, NULL, "fix the path or the file's permissions",
                          "%s: cannot read %s %s: %s", owner, key, path, strerror(e));
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (check_mode && (st.st_mode & 07)) {
        close(fd);
        TL_FAIL(err, TL_E_CONFIG, NULL, "%s: %s %s is readable by others (mode %04o): anyone on "
                "this host could use it; fix: chmod 600 %s (or 640 with a group that holds only "
                "the daemon's user)", owner, key, path, mode, path);
    }
    if (check_mode && (st.st_mode & 070)) {
        tl_warn("%s: %s %s is readable by its group (mode %04o); fine if that group holds only "
                "the daemon's user, otherwise fix: chmod 600 %s", owner, key, path, mode, path);
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        return tl_err_set(err, TL_E_CONFIG, e, NULL, NULL, "%s: cannot read %s %s: %s", owner,
                          key, path, strerror(e));
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "%s: %s %s is empty; its first line must be the "
                "password", owner, key, path);
    }
    *out = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (*out == NULL) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "%s: out of memory reading %s", owner, key);
    }
    return TL_OK;
}

void kafka_free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* "host:port,[v6]:port" for bootstrap.servers. */
static char *broker_list(const struct tl_conf_output *c)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    for (size_t i = 0; i < c->n_targets; i++) {
        const struct tl_conf_target *t = &c->targets[i];
        tl_buf_printf(&b, strchr(t->host, ':') ? "%s[%s]:%u" : "%s%s:%u", i ? "," : "", t->host,
                      t->port);
    }
    if (!tl_buf_putc(&b, '\0')) {
        tl_buf_fini(&b);
        return NULL;
    }
    return (char *)b.data;
}

enum tl_rc kafka_read_secrets(struct kafka *k, struct tl_err *err)
{
    const struct tl_conf_output *c = k->conf;
    char owner[96];
    snprintf(owner, sizeof(owner), "output %s", c->name);
    k->brokers = broker_list(c);
    if (!k->brokers) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "%s: out of memory", owner);
    }
    if (c->kafka_tls && c->tls.key_password_file) {
        TL_TRY(read_secret(owner, "tls.key_password_file", c->tls.key_password_file, false,
                           &k->key_password, err));
    }
    if (c->sasl_mechanism) {
        TL_TRY(read_secret(owner, "sasl.password_file", c->sasl_password_file, true,
                           &k->sasl_password, err));
    }
    return TL_OK;
}

/* ---- the producer ---------------------------------------------------------------------- */

static bool set(rd_kafka_conf_t *rc, const char *name, const char *value, struct tl_err *err)
{
    char why[512];
    if (rd_kafka_conf_set(rc, name, value, why, sizeof(why)) == RD_KAFKA_CONF_OK) {
        return true;
    }
    tl_err_set(err, TL_E_CONFIG, 0, NULL, NULL, "librdkafka refuses %s: %s", name, why);
    return false;
}

static bool set_tls(rd_kafka_conf_t *rc, const struct kafka *k, struct tl_err *err)
{
    const struct tl_conf_tls *t = &k->conf->tls;
    const char *ca = t->ca_file && strcmp(t->ca_file, "system") == 0 ? "probe"
                     : t->ca_file                                    ? t->ca_file
                                                                     : t->ca_dir;
    char num[32];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)t->handshake_timeout_ms);
    return (!ca || set(rc, "ssl.ca.location", ca, err)) &&
           (!t->cert_file || set(rc, "ssl.certificate.location", t->cert_file, err)) &&
           (!t->key_file || set(rc, "ssl.key.location", t->key_file, err)) &&
           (!k->key_password || set(rc, "ssl.key.password", k->key_password, err)) &&
           (!t->crl_file || set(rc, "ssl.crl.location", t->crl_file, err)) &&
           set(rc, "ssl.cipher.suites", t->ciphers ? t->ciphers : DEFAULT_CIPHERS, err) &&
           set(rc, "enable.ssl.certificate.verification",
               t->auth == TL_AUTH_ANON ? "false" : "true", err) &&
           set(rc, "ssl.endpoint.identification.algorithm",
               t->auth == TL_AUTH_CERTVALID || t->auth == TL_AUTH_ANON ? "none" : "https", err) &&
           set(rc, "socket.connection.setup.timeout.ms", num, err);
}

/* librdkafka's settings: defaults the user may change, the user's properties, then what
 * at-least-once delivery and the output's own keys decide. */
static rd_kafka_conf_t *make_conf(struct kafka *k, struct tl_err *err)
{
    const struct tl_conf_output *c = k->conf;
    rd_kafka_conf_t *rc = rd_kafka_conf_new();
    /* Retried until delivered: a record waits as long as the cluster is away (bounded by
     * queue.memory_*, and by queue.max_bytes on disk), it is not given up after 5 minutes. */
    bool ok = set(rc, "client.id", "tlslogd", err) && set(rc, "message.timeout.ms", "0", err);
    /* Fewer, larger batches for the CPU (the kafka bench: librdkafka's broker threads 1.1 to
     * 0.4 CPU s per million records): a record waits up to 25 ms to be batched, where
     * librdkafka waits 5. Records without a key still change partition every 10 ms, as with
     * librdkafka's defaults (which would stretch that to twice linger.ms otherwise). */
    ok = ok && set(rc, "linger.ms", "25", err) &&
         set(rc, "sticky.partitioning.linger.ms", "10", err);
    for (size_t i = 0; ok && i < c->n_properties; i++) {
        ok = set(rc, c->properties[2 * i], c->properties[2 * i + 1], err);
    }
    const char *proto = c->kafka_tls ? (c->sasl_mechanism ? "sasl_ssl" : "ssl")
                                     : (c->sasl_mechanism ? "sasl_plaintext" : "plaintext");
    ok = ok && set(rc, "bootstrap.servers", k->brokers, err) &&
         set(rc, "enable.idempotence", "true", err) && set(rc, "acks", "all", err) &&
         set(rc, "security.protocol", proto, err);
    ok = ok && (!c->kafka_tls || set_tls(rc, k, err));
    if (ok && c->sasl_mechanism) {
        ok = set(rc, "sasl.mechanisms", kafka_mech_names[c->sasl_mechanism], err) &&
             set(rc, "sasl.username", c->sasl_username, err) &&
             set(rc, "sasl.password", k->sasl_password, err);
    }
    if (!ok) {
        rd_kafka_conf_destroy(rc);
        return NULL;
    }
    return rc;
}

enum tl_rc kafka_producer_new(struct kafka *k, struct tl_err *err)
{
    static const uint64_t one = 1; /* what librdkafka writes to the eventfd */
    char why[512];
    rd_kafka_conf_t *rc = make_conf(k, err);
    if (!rc) {
        return TL_E_CONFIG;
    }
    rd_kafka_conf_set_opaque(rc, k);
    rd_kafka_conf_set_dr_msg_cb(rc, kafka_dr_cb);
    rd_kafka_conf_set_error_cb(rc, kafka_error_cb);
    rd_kafka_conf_set_log_cb(rc, kafka_log_cb);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, why, sizeof(why));
    if (!k->rk) {
        rd_kafka_conf_destroy(rc);
        TL_FAIL(err, TL_E_CONFIG, NULL, "librdkafka cannot make a producer: %s", why);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(k->rk);
    rd_kafka_queue_io_event_enable(q, k->efd, &one, sizeof(one));
    rd_kafka_queue_destroy(q);
    return TL_OK;
}
