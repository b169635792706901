/*
 * mock_cluster: librdkafka's mock Kafka cluster (rdkafka_mock.h) as a process of its own, for
 * the end-to-end tests (tests/e2e/peers/kafka.py). Clients reach it over loopback TCP like
 * any cluster; it speaks the real protocol (metadata, the idempotent producer, fetch).
 *
 *   mock_cluster [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]
 *
 * It prints "bootstrap HOST:PORT,HOST:PORT,..." on stdout (and writes the list to PATH,
 * atomically, when asked), then reads one command per line on stdin and answers each with
 * one line, "ok ..." or "error ...", so that a test knows the fault is in place before it
 * goes on:
 *
 *   topic NAME PARTITIONS         create a topic (replication: the number of brokers, at most 3)
 *   down ID | up ID               a broker stops / starts accepting connections (-1: all);
 *                                 its partitions do not move (no leader change)
 *   leader TOPIC PARTITION ID     move a partition's leadership to broker ID
 *   produce_errors ERR...         the next Produce requests (ApiKey 0) fail with these errors,
 *                                 one per request, by name (NOT_LEADER_FOR_PARTITION) or number
 *   topic_error TOPIC ERR         metadata requests for TOPIC answer ERR (NO_ERROR clears it)
 *   rtt ID MS                     delay the responses of broker ID (-1: all)
 *   clear_errors                  forget the Produce errors not yet used
 *   ping                          "ok pong"
 *
 * It exits 0 on EOF of stdin, SIGTERM or SIGINT, after destroying the cluster (about 1 s).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define PRODUCE_API_KEY 0 /* Kafka's ApiKey of ProduceRequest; rdkafka_mock.h has no name */
#define MAX_ERRS 64
#define LINE_MAX_LEN 4096

static rd_kafka_mock_cluster_t *mc;
static int n_brokers = 3;

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* An error code by name ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT", with or without the
 * RD_KAFKA_RESP_ERR_ prefix) or number; false when unknown. */
static bool parse_err(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && *end == '\0') {
        *out = (rd_kafka_resp_err_t)v;
        return true;
    }
    if (strncmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0) {
        s += 18;
    }
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && strcmp(descs[i].name, s) == 0) {
            *out = descs[i].code;
            return true;
        }
    }
    return false;
}

static bool parse_int(const char *s, long *out)
{
    char *end;
    if (!s) {
        return false;
    }
    errno = 0;
    *out = strtol(s, &end, 10);
    return *s && *end == '\0' && errno == 0;
}

static void create_topic(const char *name, long parts)
{
    int repl = n_brokers < 3 ? n_brokers : 3;
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, (int)parts, repl);
    if (e) {
        reply("error topic %s: %s", name, rd_kafka_err2str(e));
    } else {
        reply("ok topic %s %ld", name, parts);
    }
}

static void command(char *line)
{
    char *argv[MAX_ERRS + 2];
    int argc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r", &save); tok && argc < MAX_ERRS + 2;
         tok = strtok_r(NULL, " \t\r", &save)) {
        argv[argc++] = tok;
    }
    if (argc == 0) {
        return;
    }
    long a;
    long b;
    rd_kafka_resp_err_t e;
    if (strcmp(argv[0], "ping") == 0) {
        reply("ok pong");
    } else if (strcmp(argv[0], "topic") == 0 && argc == 3 && parse_int(argv[2], &a) && a > 0) {
        create_topic(argv[1], a);
    } else if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc == 2 &&
               parse_int(argv[1], &a)) {
        e = argv[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)a)
                              : rd_kafka_mock_broker_set_up(mc, (int32_t)a);
        if (e) {
            reply("error %s %ld: %s", argv[0], a, rd_kafka_err2str(e));
        } else {
            reply("ok %s %ld", argv[0], a);
        }
    } else if (strcmp(argv[0], "leader") == 0 && argc == 4 && parse_int(argv[2], &a) &&
               parse_int(argv[3], &b)) {
        e = rd_kafka_mock_partition_set_leader(mc, argv[1], (int32_t)a, (int32_t)b);
        if (e) {
            reply("error leader: %s", rd_kafka_err2str(e));
        } else {
            reply("ok leader %s %ld %ld", argv[1], a, b);
        }
    } else if (strcmp(argv[0], "produce_errors") == 0 && argc >= 2) {
        rd_kafka_resp_err_t errs[MAX_ERRS];
        size_t n = 0;
        for (int i = 1; i < argc && n < MAX_ERRS; i++) {
            if (!parse_err(argv[i], &errs[n])) {
                reply("error unknown error code '%s'", argv[i]);
                return;
            }
            n++;
        }
        rd_kafka_mock_push_request_errors_array(mc, PRODUCE_API_KEY, n, errs);
        reply("ok produce_errors %zu", n);
    } else if (strcmp(argv[0], "topic_error") == 0 && argc == 3) {
        if (!parse_err(argv[2], &e)) {
            reply("error unknown error code '%s'", argv[2]);
            return;
        }
        rd_kafka_mock_topic_set_error(mc, argv[1], e);
        reply("ok topic_error %s %s", argv[1], rd_kafka_err2name(e));
    } else if (strcmp(argv[0], "rtt") == 0 && argc == 3 && parse_int(argv[1], &a) &&
               parse_int(argv[2], &b)) {
        e = rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b);
        if (e) {
            reply("error rtt: %s", rd_kafka_err2str(e));
        } else {
            reply("ok rtt %ld %ld", a, b);
        }
    } else if (strcmp(argv[0], "clear_errors") == 0) {
        rd_kafka_mock_clear_request_errors(mc, PRODUCE_API_KEY);
        reply("ok clear_errors");
    } else {
        reply("error unknown command '%s' (see tests/kafka/mock_cluster.c)", argv[0]);
    }
}

static bool write_file(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        return false;
    }
    fprintf(f, "%s\n", text);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return false;
    }
    return true;
}

static void usage(void)
{
    fprintf(stderr, "usage: mock_cluster [--brokers N] [--topic NAME:PARTITIONS]... "
                    "[--bootstrap-file PATH]\n");
}

int main(int argc, char **argv)
{
    const char *bootstrap_file = NULL;
    const char *topics[64];
    int n_topics = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            n_brokers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc && n_topics < 64) {
            topics[n_topics++] = argv[++i];
        } else if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc) {
            bootstrap_file = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    if (n_brokers < 1 || n_brokers > 64) {
        usage();
        return 2;
    }
    /* Blocked before librdkafka starts its threads (they inherit the mask): the signals
     * arrive on the signalfd below, in this thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("signalfd");
        return 1;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the cluster; it never connects anywhere. */
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock_cluster: rd_kafka_new: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (!mc) {
        fprintf(stderr, "mock_cluster: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < n_topics; i++) {
        char name[256];
        const char *colon = strrchr(topics[i], ':');
        long parts = 1;
        if (!colon || !parse_int(colon + 1, &parts) || parts < 1 ||
            (size_t)(colon - topics[i]) >= sizeof(name)) {
            fprintf(stderr, "mock_cluster: --topic wants NAME:PARTITIONS, got '%s'\n", topics[i]);
            return 2;
        }
        memcpy(name, topics[i], (size_t)(colon - topics[i]));
        name[colon - topics[i]] = '\0';
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(mc, name, (int)parts, n_brokers < 3 ? n_brokers : 3);
        if (e) {
            fprintf(stderr, "mock_cluster: topic %s: %s\n", name, rd_kafka_err2str(e));
            return 1;
        }
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    if (bootstrap_file && !write_file(bootstrap_file, bs)) {
        fprintf(stderr, "mock_cluster: cannot write %s: %s\n", bootstrap_file, strerror(errno));
        return 1;
    }
    reply("bootstrap %s", bs);

    char buf[LINE_MAX_LEN];
    size_t len = 0;
    bool done = false;
    while (!done) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("poll");
            break;
        }
        if (p[1].revents) {
            break;
        }
        if (!p[0].revents) {
            continue;
        }
        ssize_t r = read(0, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            break; /* EOF: the test is gone */
        }
        len += (size_t)r;
        char *start = buf;
        char *nl;
        while ((nl = memchr(start, '\n', len - (size_t)(start - buf))) != NULL) {
            *nl = '\0';
            command(start);
            start = nl + 1;
        }
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
        if (len == sizeof(buf) - 1) {
            reply("error line too long");
            len = 0;
        }
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    close(sfd);
    return 0;
}
