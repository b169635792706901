/*
 * keys.c: the tables of configuration keys (see keys.h): one row per key, one section per
 * mapping (top level, an input, an output, its queue: block, a route, a tls: block), and the
 * built-in configuration. Constant data and pure functions: any thread.
 */
#include "conf/keys.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/diag.h"
#include "core/names.h"

#define FIELD(type, member) .off = offsetof(type, member), .size = sizeof(((type *)0)->member)

_Static_assert(sizeof(enum tl_transport) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_output_type) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_log_level) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_framing) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_format) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_auth_mode) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_queue_full) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_queue_sync) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_sasl_mech) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_start_at) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_fwd_mode) == sizeof(uint32_t), "enum stored as 32 bits");

static const char *const log_level_words[] = {"error", "warning", "notice", "info", "debug",
                                              NULL};
/* In enum order: the index is the value. */
static const char *const transport_words[] = {"udp", "tcp", "unix", "tls", "relp", "file",
                                              "journal", "kmsg", NULL};
static const char *const start_at_words[] = {"beginning", "end", NULL};
/* RFC 5424 §6.2.1, as tl_facility_from_name and tl_severity_from_name take them. */
static const char *const facility_words[] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1",
    "local2", "local3", "local4", "local5", "local6", "local7", NULL};
static const char *const severity_words[] = {"emerg", "alert", "crit", "err", "warning",
                                             "notice", "info", "debug", NULL};
static const char *const output_type_words[] = {"file", "stdout", "forward", "kafka", NULL};
/* Spelled as tl_framing_from_name and tl_format_from_name accept them (a test checks). */
static const char *const framing_words[] = {"auto", "octet-counted", "lf", NULL};
static const char *const out_framing_words[] = {"octet-counted", "lf", NULL};
static const char *const format_words[] = {"rfc5424", "rfc3164", "json", "raw", NULL};
static const char *const fwd_transport_words[] = {"tls", "tcp", "udp", "relp", NULL};
/* "1.2" is also what YAML would read as a float: the tree keeps the text, so both work. */
static const char *const tls_version_words[] = {"1.2", "1.3", NULL};
const char *const tl_conf_auth_words[] = {"anon", "certvalid", "name", "fingerprint", NULL};
/* In enum order (tl_queue_full, tl_queue_sync). */
static const char *const queue_full_words[] = {"block", "drop", NULL};
static const char *const queue_sync_words[] = {"none", "interval", "always", NULL};
/* A file output's sync: the queue's words without interval, and the words of the boolean it
 * used to be (true = always, false = none). */
static const char *const file_sync_words[] = {"none", "always", NULL};
/* In enum order (tl_fwd_mode). */
static const char *const fwd_mode_words[] = {"failover", "round_robin", "hash", NULL};
static const char *const bool_words[] = {"true", "false", "yes", "no", NULL};
/* As librdkafka spells them (sasl.mechanisms); in enum order from TL_SASL_PLAIN. */
static const char *const sasl_mech_words[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};

static int sasl_mech_from_name(const char *s)
{
    for (size_t i = 0; sasl_mech_words[i] != NULL; i++) {
        if (strcmp(s, sasl_mech_words[i]) == 0) {
            return (int)i + TL_SASL_PLAIN;
        }
    }
    return -1;
}

static int fwd_transport_from_name(const char *s)
{
    if (strcmp(s, "tls") == 0) {
        return TL_TR_TLS;
    }
    if (strcmp(s, "tcp") == 0) {
        return TL_TR_TCP;
    }
    if (strcmp(s, "udp") == 0) {
        return TL_TR_UDP;
    }
    if (strcmp(s, "relp") == 0) {
        return TL_TR_RELP;
    }
    return -1;
}

static int file_sync_from_name(const char *s)
{
    if (strcmp(s, "none") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
        return TL_QSYNC_NONE;
    }
    if (strcmp(s, "always") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
        return TL_QSYNC_ALWAYS;
    }
    return -1;
}

static int tls_version_from_name(const char *s)
{
    if (strcmp(s, "1.2") == 0) {
        return 12;
    }
    if (strcmp(s, "1.3") == 0) {
        return 13;
    }
    return -1;
}

static int auth_from_name(const char *s)
{
    size_t i;

    for (i = 0; tl_conf_auth_words[i] != NULL; i++) {
        if (strcmp(s, tl_conf_auth_words[i]) == 0) {
            return (int)i + TL_AUTH_ANON;
        }
    }
    return -1;
}

static enum tl_rc check_fingerprint(const char *s, struct tl_err *err)
{
    struct tl_fingerprint fp;

    return tl_fingerprint_parse(s, &fp, err);
}

static const struct key top_keys[] = {
    {.name = "workers", .type = KT_UINT, FIELD(struct tl_conf, workers), .max = 256,
     .def = "0", .help = "I/O threads; 0 means one per CPU"},
    {.name = "log_level", .type = KT_ENUM, FIELD(struct tl_conf, log_level),
     .words = log_level_words, .def = "info",
     .help = "how much tlslogd reports about itself (on stderr)"},
    {.name = "port_file", .type = KT_PATH, FIELD(struct tl_conf, port_file),
     .help = "after binding, tlslogd writes one line `NAME PORT` per input here (`NAME PATH` "
             "for unix inputs); handy with port 0"},
    {.name = "stats_interval", .type = KT_DURATION, FIELD(struct tl_conf, stats_interval_ms),
     .max = 24 * HOUR, .def = "0", .help = "how often to log message counters; 0 turns it off"},
    {.name = "state_dir", .type = KT_PATH, FIELD(struct tl_conf, state_dir),
     .def = "/var/lib/tlslogd",
     .help = "where inputs keep what they must remember across restarts (a file input's "
             "positions: `file-NAME.state`; the journal's cursor: `journal-NAME.state`); "
             "created with mode 0700 at start when an input needs it, and must be writable"},
    {.name = "partial_frame_budget", .type = KT_SIZE, FIELD(struct tl_conf, partial_frame_budget),
     .min = 64 * KIB, .max = 64 * GIB, .def = "64MiB",
     .help = "memory all tcp, tls and relp connections together may keep in unfinished "
             "messages; beyond it the connection keeping the largest is closed; at least twice "
             "the largest max_message_size (see Connection limits in tls.md)"},
    {.name = "pid_file", .type = KT_PATH, FIELD(struct tl_conf, pid_file),
     .help = "tlslogd writes its process id here once it runs and removes the file at exit; "
             "a second tlslogd with the same pid_file refuses to start while the first runs"},
    {.name = "user", .type = KT_NAME, FIELD(struct tl_conf, user),
     .help = "started as root: the user to run as once listeners are bound, keys read and "
             "directories made (see Privileges); under systemd, set `User=` in the unit instead"},
    {.name = "group", .type = KT_NAME, FIELD(struct tl_conf, group),
     .doc_def = "the user's primary group",
     .help = "the group to run as with `user:`; give it read access to the keys (mode 0640)"},
    {.name = "metrics", .type = KT_METRICS,
     .help = "serve counters in the Prometheus text format at `/metrics` (see Metrics)"},
    {.name = "tls", .type = KT_TLS,
     .help = "TLS settings shared by every tls input, TLS forward output and RELP over TLS; "
             "each may override single keys in its own `tls:` (see TLS)"},
    {.name = "inputs", .type = KT_LIST, .required = ALWAYS,
     .help = "where messages come from; at least one (see Inputs)"},
    {.name = "outputs", .type = KT_LIST, .required = ALWAYS,
     .help = "where messages go; at least one (see Outputs)"},
    {.name = "routes", .type = KT_LIST,
     .help = "which inputs feed which outputs; without it every input goes to every output "
             "(see Routes)"},
};

#define IN_NET (KIND(TL_TR_UDP) | KIND(TL_TR_TCP) | KIND(TL_TR_TLS) | KIND(TL_TR_RELP))
#define IN_STREAM (KIND(TL_TR_TCP) | KIND(TL_TR_TLS))
#define IN_CONN (IN_STREAM | KIND(TL_TR_RELP))
#define IN_TLS (KIND(TL_TR_TLS) | KIND(TL_TR_RELP))
static const struct key input_keys[] = {
    {.name = "name", .type = KT_NAME, FIELD(struct tl_conf_input, name), .required = ALWAYS,
     .help = "unique among inputs; used in routes, logs and the port file"},
    {.name = "transport", .type = KT_ENUM, FIELD(struct tl_conf_input, transport),
     .required = ALWAYS, .words = transport_words,
     .help = "`udp` datagrams, `tcp` streams (RFC 6587), a local `unix` datagram socket, "
             "`tls` streams (RFC 5425), `relp` (acknowledged, see RELP), `file` (files "
             "followed like `tail -F`, see File input), the systemd `journal`, or the "
             "kernel log (`kmsg`, /dev/kmsg)"},
    {.name = "listen", .type = KT_LISTEN, .applies = IN_NET, .required = IN_NET,
     .help = "`host:port`, `[v6]:port`, `:port` (all addresses), `port`, or `host` (port "
             "514, 6514 for tls, 2514 for relp); port 0 picks a free port"},
    {.name = "path", .type = KT_SOCKPATH, FIELD(struct tl_conf_input, path),
     .applies = KIND(TL_TR_UNIX) | KIND(TL_TR_FILE),
     .required = KIND(TL_TR_UNIX) | KIND(TL_TR_FILE),
     .help = "unix: the socket file to create (at most 107 bytes); file: the files to follow, "
             "a glob in the last part (`/var/log/app/*.log`), whose directory must exist"},
    {.name = "socket_mode", .type = KT_MODE, FIELD(struct tl_conf_input, socket_mode),
     .applies = KIND(TL_TR_UNIX), .max = 07777, .def = "0666",
     .help = "permissions of the socket file"},
    {.name = "systemd_socket", .type = KT_BOOL, FIELD(struct tl_conf_input, systemd_socket),
     .applies = KIND(TL_TR_UNIX), .def = "false",
     .help = "take the socket systemd passes for `path` (socket activation: a .socket unit's "
             "ListenDatagram=, e.g. syslog.socket's /run/systemd/journal/syslog) instead of "
             "creating it; see Host sources"},
    {.name = "framing", .type = KT_ENUM, FIELD(struct tl_conf_input, framing),
     .applies = IN_STREAM, .words = framing_words, .from_name = tl_framing_from_name,
     .def = "auto",
     .help = "`auto` detects octet counting or LF per message; the others insist on one"},
    {.name = "max_message_size", .type = KT_SIZE,
     FIELD(struct tl_conf_input, max_message_size), .min = 480, .max = 16 * MIB,
     .def = "64KiB", .help = "longer messages are cut to this size"},
    {.name = "max_connections", .type = KT_UINT, FIELD(struct tl_conf_input, max_connections),
     .applies = IN_CONN, .min = 1, .max = 1000000, .def = "10000",
     .help = "further connections are refused until one closes"},
    {.name = "max_connections_per_source", .type = KT_UINT,
     FIELD(struct tl_conf_input, max_conn_per_source), .applies = IN_CONN, .min = 1,
     .max = 1000000, .def = "64",
     .help = "connections one peer IP address may hold open; further ones from it are "
             "refused, so one host cannot take every slot"},
    {.name = "max_handshakes", .type = KT_UINT, FIELD(struct tl_conf_input, max_handshakes),
     .applies = IN_TLS, .min = 1, .max = 1000000, .def = "256",
     .help = "TLS handshakes in progress at once (relp: over TLS only); a new connection "
             "beyond it drops the oldest unfinished one"},
    {.name = "idle_timeout", .type = KT_DURATION, FIELD(struct tl_conf_input, idle_timeout_ms),
     .applies = IN_CONN, .max = 24 * HOUR, .def = "10m",
     .help = "a connection that sends nothing for this long after its handshake is closed "
             "(see Connection limits in tls.md for what senders do then); 0 turns it off"},
    {.name = "recv_buffer", .type = KT_SIZE, FIELD(struct tl_conf_input, recv_buffer),
     .applies = KIND(TL_TR_UDP) | KIND(TL_TR_UNIX), .max = GIB, .def = "0",
     .help = "socket receive buffer (SO_RCVBUF); 0 keeps the kernel default"},
    {.name = "tls", .type = KT_TLS, .applies = IN_TLS,
     .help = "TLS settings for this input, key by key over the top-level `tls:` (see TLS); "
             "a certificate (`cert_file`, `key_file`) is required; on relp its presence "
             "(even `tls: {}`) turns on RELP over TLS"},
    {.name = "hostname_must_match_cert", .type = KT_BOOL,
     FIELD(struct tl_conf_input, hostname_must_match_cert), .applies = KIND(TL_TR_TLS),
     .def = "false",
     .help = "drop messages whose HOSTNAME is not one of the names in the sender's "
             "certificate"},
    {.name = "start_at", .type = KT_ENUM, FIELD(struct tl_conf_input, start_at),
     .applies = KIND(TL_TR_FILE) | KIND(TL_TR_JOURNAL) | KIND(TL_TR_KMSG),
     .words = start_at_words, .def = "beginning",
     .help = "where reading starts without a saved position: file: in a file found at start "
             "(files that appear later are read from their beginning); journal: at the first "
             "start; kmsg: at every start. `beginning` is the oldest line or entry (kmsg: "
             "what the kernel's ring buffer still holds), `end` only what comes after"},
    {.name = "tag", .type = KT_STRING, FIELD(struct tl_conf_input, tag),
     .applies = KIND(TL_TR_FILE), .doc_def = "the file's base name",
     .help = "the program name (APP-NAME, TAG) given to each line"},
    {.name = "facility", .type = KT_ENUM, FIELD(struct tl_conf_input, facility),
     .applies = KIND(TL_TR_FILE), .words = facility_words, .from_name = tl_facility_from_name,
     .def = "user", .help = "the facility given to each line"},
    {.name = "severity", .type = KT_ENUM, FIELD(struct tl_conf_input, severity),
     .applies = KIND(TL_TR_FILE), .words = severity_words, .from_name = tl_severity_from_name,
     .def = "notice", .help = "the severity given to each line"},
    {.name = "multiline_start", .type = KT_REGEX, FIELD(struct tl_conf_input, multiline_start),
     .applies = KIND(TL_TR_FILE),
     .help = "a PCRE2 regex: a line that does not match it continues the message before it "
             "(joined with a newline); without it every line is a message"},
    {.name = "partial_timeout", .type = KT_DURATION,
     FIELD(struct tl_conf_input, partial_timeout_ms), .applies = KIND(TL_TR_FILE), .min = 10,
     .max = HOUR, .def = "5s",
     .help = "how long a last line without its newline (or a multiline message with no "
             "next start line) waits before it is sent as it is"},
    {.name = "rate_limit", .type = KT_RATELIMIT, .applies = IN_STREAM | KIND(TL_TR_UDP) |
     KIND(TL_TR_UNIX),
     .help = "at most `burst` messages per `interval` from each source (peer address; on "
             "unix the sending process, by SCM_CREDENTIALS); the rest is dropped and counted "
             "(see Rate limit)"},
    {.name = "journal_dir", .type = KT_PATH, FIELD(struct tl_conf_input, journal_dir),
     .applies = KIND(TL_TR_JOURNAL),
     .help = "read the journal files of this directory (a container's, a copy) instead of "
             "the system journal; journald need not run"},
};

#define OUT_LOCAL (KIND(TL_OUT_FILE) | KIND(TL_OUT_STDOUT))
#define OUT_FWD KIND(TL_OUT_FORWARD)
#define OUT_KAFKA KIND(TL_OUT_KAFKA)
#define OUT_DISK (OUT_FWD | OUT_KAFKA) /* outputs with a disk part (queue.dir) */
static const struct key output_keys[] = {
    {.name = "name", .type = KT_NAME, FIELD(struct tl_conf_output, name), .required = ALWAYS,
     .help = "unique among outputs; used in routes and logs"},
    {.name = "type", .type = KT_ENUM, FIELD(struct tl_conf_output, type), .required = ALWAYS,
     .words = output_type_words,
     .help = "`file` writes files, `stdout` the standard output, `forward` sends to another "
             "syslog server, `kafka` produces to Apache Kafka (see Kafka output)"},
    {.name = "path", .type = KT_TEMPLATE, FIELD(struct tl_conf_output, path),
     .applies = KIND(TL_OUT_FILE), .required = KIND(TL_OUT_FILE),
     .help = "file to append to; may contain placeholders (see below); missing "
             "directories are created"},
    {.name = "format", .type = KT_ENUM, FIELD(struct tl_conf_output, format),
     .words = format_words, .from_name = tl_format_from_name, .def = "rfc3164",
     .doc_def = "`rfc3164`; forward: `rfc5424`; kafka: `json`",
     .help = "how each message is written, one per line (see Formats); forward outputs "
             "send `rfc5424` or `rfc3164` only; kafka outputs make each message one Kafka "
             "record in any format"},
    {.name = "flush_interval", .type = KT_DURATION,
     FIELD(struct tl_conf_output, flush_interval_ms), .applies = OUT_LOCAL, .max = HOUR,
     .def = "1s",
     .help = "longest time a message waits in the write buffer; 0 writes after every batch"},
    {.name = "buffer_size", .type = KT_SIZE, FIELD(struct tl_conf_output, buffer_size),
     .applies = OUT_LOCAL, .min = 4 * KIB, .max = 64 * MIB, .def = "64KiB",
     .help = "write buffer (per open file for file outputs)"},
    {.name = "max_open_files", .type = KT_UINT, FIELD(struct tl_conf_output, max_open_files),
     .applies = KIND(TL_OUT_FILE), .min = 1, .max = 100000, .def = "256",
     .help = "beyond this, the least recently used file is closed"},
    {.name = "file_mode", .type = KT_MODE, FIELD(struct tl_conf_output, file_mode),
     .applies = KIND(TL_OUT_FILE), .max = 07777, .def = "0640",
     .help = "permissions of new files"},
    {.name = "dir_mode", .type = KT_MODE, FIELD(struct tl_conf_output, dir_mode),
     .applies = KIND(TL_OUT_FILE), .max = 07777, .def = "0755",
     .help = "permissions of new directories"},
    {.name = "sync", .type = KT_ENUM, FIELD(struct tl_conf_output, sync),
     .applies = KIND(TL_OUT_FILE), .words = file_sync_words, .synonyms = bool_words,
     .from_name = file_sync_from_name,
     .def = "none",
     .help = "`always` fsyncs each file after every batch written, `none` leaves "
             "it to the kernel (`true` and `false` mean the same); a RELP input acknowledges a "
             "message only once it is written (and, with always, on disk)",
     .refused = "interval",
     .refused_why = "interval is for a forward output's disk queue (queue.sync); a file "
                    "output has no sync timer: choose always (fsync after every batch) or none "
                    "(the kernel writes when it likes)"},
    {.name = "queue", .type = KT_QUEUE,
     .help = "the queue of messages waiting for this output (see Queue)"},
    {.name = "targets", .type = KT_TARGETS, .applies = OUT_FWD, .required = OUT_FWD,
     .help = "servers to send to, each `host:port`, `[v6]:port` or `host` (port 6514 for "
             "tls, 2514 for relp, 514 for tcp and udp); how they are used is `mode`'s"},
    {.name = "mode", .type = KT_ENUM, FIELD(struct tl_conf_output, mode), .applies = OUT_FWD,
     .words = fwd_mode_words, .def = "failover",
     .help = "`failover`: one connection, to the first reachable target in order; "
             "`round_robin`: one connection per target, batches of messages take turns; "
             "`hash`: one connection per target, `hash_key` picks it, so that one host's "
             "messages stay on one target (see Load balancing)"},
    {.name = "hash_key", .type = KT_KEYTEXT, FIELD(struct tl_conf_output, hash_key),
     .applies = OUT_FWD, .doc_def = "`{hostname}`",
     .help = "with mode hash: what picks a message's target, a text with placeholders (see "
             "below); messages with the same key go to the same target while it is up"},
    {.name = "transport", .type = KT_ENUM, FIELD(struct tl_conf_output, transport),
     .applies = OUT_FWD, .words = fwd_transport_words, .from_name = fwd_transport_from_name,
     .def = "tls",
     .help = "`tls` (RFC 5425), `tcp` (RFC 6587), `udp` (RFC 5426) or `relp` (acknowledged; "
             "over TLS with a `tls:` block, see RELP)"},
    {.name = "framing", .type = KT_ENUM, FIELD(struct tl_conf_output, framing),
     .applies = OUT_FWD, .words = out_framing_words, .from_name = tl_framing_from_name,
     .doc_def = "tls: `octet-counted`; tcp: `lf`",
     .help = "how messages are delimited on the stream; tcp and tls only"},
    {.name = "relp_window", .type = KT_UINT, FIELD(struct tl_conf_output, relp_window),
     .applies = OUT_FWD, .min = 1, .max = 100000, .def = "1024",
     .help = "most messages sent to a relp server and not yet acknowledged; transport relp "
             "only"},
    {.name = "reconnect_min", .type = KT_DURATION,
     FIELD(struct tl_conf_output, reconnect_min_ms), .applies = OUT_FWD, .min = 10,
     .max = 10 * MINUTE, .def = "1s",
     .help = "wait before the first reconnect; each failure doubles it up to reconnect_max"},
    {.name = "reconnect_max", .type = KT_DURATION,
     FIELD(struct tl_conf_output, reconnect_max_ms), .applies = OUT_FWD, .min = 10,
     .max = 24 * HOUR, .def = "60s",
     .help = "longest wait between reconnects; at least reconnect_min"},
    {.name = "connect_timeout", .type = KT_DURATION,
     FIELD(struct tl_conf_output, connect_timeout_ms), .applies = OUT_FWD, .min = 100,
     .max = 10 * MINUTE, .def = "10s",
     .help = "how long a TCP connect may take before the next target is tried"},
    {.name = "tls", .type = KT_TLS, .applies = OUT_FWD | OUT_KAFKA,
     .help = "TLS settings for this output, key by key over the top-level `tls:` (see TLS); "
             "transport tls, or relp and kafka where its presence (even `tls: {}`) turns on "
             "TLS (kafka: to every broker, see Kafka output)"},
    {.name = "brokers", .type = KT_TARGETS, .applies = OUT_KAFKA, .required = OUT_KAFKA,
     .help = "the Kafka cluster's bootstrap brokers, each `host:port`, `[v6]:port` or `host` "
             "(port 9092); the client learns the other brokers from them"},
    {.name = "topic", .type = KT_TOPIC, FIELD(struct tl_conf_output, topic),
     .applies = OUT_KAFKA, .required = OUT_KAFKA,
     .help = "the topic each message goes to: letters, digits, `.`, `_`, `-` and placeholders "
             "(e.g. `syslog-{facility}`); in a placeholder's value other characters become `_`"},
    {.name = "key", .type = KT_KEYTEXT, FIELD(struct tl_conf_output, key),
     .applies = OUT_KAFKA,
     .help = "the record key, with placeholders (e.g. `{hostname}`): it picks the partition, "
             "so one key's messages stay in order; without it records have no key and go to "
             "any partition"},
    {.name = "sasl", .type = KT_SASL, .applies = OUT_KAFKA,
     .help = "SASL authentication to the brokers (see SASL); over TLS when `tls:` is given"},
    {.name = "properties", .type = KT_PROPS, .applies = OUT_KAFKA,
     .help = "librdkafka settings passed through, e.g. `{\"linger.ms\": \"5\", "
             "\"compression.type\": \"zstd\"}`; each is checked by librdkafka at `--check` "
             "and at start; those the output sets itself are refused (see Kafka output)"},
};

static const struct moved_key output_moved[] = {
    {"queue_messages", "queue", "memory_messages", "N"},
    {"drain_timeout", "queue", "drain_timeout", "10s"},
};

/* The queue: block of an output; its fields are in struct tl_conf_output. */
static const struct key queue_keys[] = {
    {.name = "memory_messages", .type = KT_UINT, FIELD(struct tl_conf_output, queue_messages),
     .min = 1, .max = 100000000, .def = "100000",
     .help = "messages held in memory for this output; when they are all taken, `full` "
             "decides (outputs with `dir` move the excess to disk first); a kafka output "
             "also keeps at most this many (and memory_bytes of them) in flight to the "
             "brokers"},
    {.name = "memory_bytes", .type = KT_SIZE, FIELD(struct tl_conf_output, queue_memory_bytes),
     .min = 64 * KIB, .max = 64 * GIB, .def = "8MiB",
     .help = "memory the queued messages may take (about 150 bytes plus the message "
             "each); whichever of memory_messages and memory_bytes is reached first makes "
             "the queue full"},
    {.name = "full", .type = KT_ENUM, FIELD(struct tl_conf_output, full),
     .words = queue_full_words, .def = "block",
     .help = "when the queue is full: `block` stops the inputs feeding it until there is "
             "room, `drop` drops new messages and counts them"},
    {.name = "dir", .type = KT_PATH, FIELD(struct tl_conf_output, queue_dir),
     .applies = OUT_DISK,
     .help = "directory of the disk queue (created if missing); messages beyond "
             "memory_messages, and those still queued at shutdown, are kept here; each "
             "output needs its own; without it the queue is in memory only"},
    {.name = "max_bytes", .type = KT_SIZE, FIELD(struct tl_conf_output, queue_max_bytes),
     .applies = OUT_DISK, .min = MIB, .max = 1024 * GIB, .def = "1GiB",
     .help = "with dir: most disk space the queue takes; beyond it `full` decides"},
    {.name = "sync", .type = KT_ENUM, FIELD(struct tl_conf_output, queue_sync),
     .applies = OUT_DISK, .words = queue_sync_words, .def = "interval",
     .help = "with dir: when queue files are fsync'ed: `none`, every `sync_interval`, or "
             "`always` after each write (safest, slowest)"},
    {.name = "sync_interval", .type = KT_DURATION,
     FIELD(struct tl_conf_output, queue_sync_interval_ms), .applies = OUT_DISK, .min = 10,
     .max = HOUR, .def = "1s", .help = "with dir and sync interval: time between fsyncs"},
    {.name = "segment_size", .type = KT_SIZE, FIELD(struct tl_conf_output, queue_segment_bytes),
     .applies = OUT_DISK, .min = 64 * KIB, .max = GIB, .def = "8MiB",
     .help = "with dir: size of one queue file; at most max_bytes"},
    {.name = "drain_timeout", .type = KT_DURATION,
     FIELD(struct tl_conf_output, drain_timeout_ms), .max = HOUR, .def = "10s",
     .help = "at shutdown, how long the whole stop may take to deliver queued messages "
             "(forward, kafka) or to retry writes that fail (file); what is left is lost, "
             "counted and logged (with dir: kept on disk for the next start)"},
};

static const struct key tls_keys[] = {
    {.name = "ca_file", .type = KT_PATH, FIELD(struct tl_conf_tls, ca_file),
     .help = "PEM file of the CAs that peers' certificates must chain to, or `system` for "
             "the system trust store"},
    {.name = "ca_dir", .type = KT_PATH, FIELD(struct tl_conf_tls, ca_dir),
     .help = "directory of CA certificates by hash (`openssl rehash`)"},
    {.name = "cert_file", .type = KT_PATH, FIELD(struct tl_conf_tls, cert_file),
     .help = "our certificate (PEM), then its intermediate CAs; goes with key_file"},
    {.name = "key_file", .type = KT_PATH, FIELD(struct tl_conf_tls, key_file),
     .help = "the private key of cert_file (PEM); refused when readable by others, a warning "
             "when readable by its group"},
    {.name = "key_password_file", .type = KT_PATH, FIELD(struct tl_conf_tls, key_password_file),
     .help = "file whose first line is the password of an encrypted key_file; its mode is "
             "checked like key_file's"},
    {.name = "crl_file", .type = KT_PATH, FIELD(struct tl_conf_tls, crl_file),
     .help = "PEM certificate revocation lists, checked for every certificate of a peer's "
             "chain; one is needed from every trusted CA (checked at start)"},
    {.name = "min_version", .type = KT_ENUM, FIELD(struct tl_conf_tls, min_version),
     .words = tls_version_words, .from_name = tls_version_from_name, .def = "1.2",
     .help = "oldest TLS version accepted"},
    {.name = "ciphers", .type = KT_STRING, FIELD(struct tl_conf_tls, ciphers),
     .doc_def = "`ECDHE+AESGCM:ECDHE+CHACHA20`",
     .help = "TLS 1.2 cipher list in OpenSSL syntax; the default allows forward secrecy with "
             "AEAD ciphers only (no CBC, no RSA key exchange)"},
    {.name = "ciphersuites", .type = KT_STRING, FIELD(struct tl_conf_tls, ciphersuites),
     .doc_def = "OpenSSL's",
     .help = "TLS 1.3 suites, e.g. `TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256`"},
    {.name = "handshake_timeout", .type = KT_DURATION,
     FIELD(struct tl_conf_tls, handshake_timeout_ms), .min = 100, .max = 10 * MINUTE,
     .def = "10s", .help = "a peer that has not completed the handshake by then is dropped"},
    {.name = "auth", .type = KT_ENUM, FIELD(struct tl_conf_tls, auth), .words = tl_conf_auth_words,
     .from_name = auth_from_name, .doc_def = "inputs: `anon`; outputs: `name`",
     .help = "how the peer is authenticated (see Authentication modes); an input that has "
             "a CA (ca_file or ca_dir, its own or inherited) must set it: anon is no longer "
             "implied there"},
    {.name = "permitted_peers", .type = KT_STRLIST, FIELD(struct tl_conf_tls, permitted_peers),
     .count_off = offsetof(struct tl_conf_tls, n_permitted_peers),
     .check = tl_name_pattern_check,
     .help = "names the peer's certificate must carry: host names, `*.example.net`, IP "
             "addresses; required for auth name on inputs; on outputs it replaces the "
             "target's host name"},
    {.name = "fingerprints", .type = KT_STRLIST, FIELD(struct tl_conf_tls, fingerprints),
     .count_off = offsetof(struct tl_conf_tls, n_fingerprints), .check = check_fingerprint,
     .help = "accepted peer certificates, `SHA256:AB:CD:...` or `SHA1:...`; for auth "
             "fingerprint only"},
};

static const struct key metrics_keys[] = {
    {.name = "listen", .type = KT_STRING, FIELD(struct tl_conf_metrics, listen),
     .required = ALWAYS,
     .help = "address of the HTTP endpoint, `host:port` (port default 9514); keep it on "
             "loopback or a management network: it has no TLS and no authentication"},
};

/* The sasl: block of a kafka output; its fields are in struct tl_conf_output. */
static const struct key sasl_keys[] = {
    {.name = "mechanism", .type = KT_ENUM, FIELD(struct tl_conf_output, sasl_mechanism),
     .required = ALWAYS, .words = sasl_mech_words, .from_name = sasl_mech_from_name,
     .help = "how tlslogd proves who it is to the brokers: `PLAIN` (send it over TLS only), "
             "or the salted challenges `SCRAM-SHA-256` and `SCRAM-SHA-512`"},
    {.name = "username", .type = KT_STRING, FIELD(struct tl_conf_output, sasl_username),
     .required = ALWAYS, .help = "the SASL user name (Kafka's principal)"},
    {.name = "password_file", .type = KT_PATH, FIELD(struct tl_conf_output, sasl_password_file),
     .required = ALWAYS,
     .help = "file whose first line is the password, read at start; refused when readable by "
             "others, a warning when readable by its group"},
};

static const struct key route_keys[] = {
    {.name = "from", .type = KT_NAMES, .required = ALWAYS,
     .help = "input name, or a list of input names"},
    {.name = "to", .type = KT_NAMES, .required = ALWAYS,
     .help = "output name, or a list of output names"},
    {.name = "where", .type = KT_WHERE,
     .help = "which messages the route carries (see Route filters); without it, all"},
};

/* The rate_limit: block of an input; its fields are in struct tl_conf_input. */
static const struct key rate_keys[] = {
    {.name = "burst", .type = KT_UINT, FIELD(struct tl_conf_input, rate_burst), .min = 1,
     .max = 1000000000, .def = "10000",
     .help = "messages one source may send per interval; beyond it they are dropped until "
             "its next interval"},
    {.name = "interval", .type = KT_DURATION, FIELD(struct tl_conf_input, rate_interval_ms),
     .min = 1, .max = HOUR, .def = "5s",
     .help = "the window, which starts with a source's first message"},
    {.name = "max_sources", .type = KT_UINT, FIELD(struct tl_conf_input, rate_max_sources),
     .min = 1, .max = 1048576, .def = "4096",
     .help = "sources followed at once per worker thread (fixed memory); a new one takes the "
             "place of the one heard from longest ago"},
};

/* A route's where: (and its not:); compiled by routes.c with route/filter.c. */
static const struct key where_keys[] = {
    {.name = "facility", .type = KT_FILTER,
     .help = "facility names (`kern`, `user`, ... `local7`, `authpriv`) or numbers 0..23; a "
             "list means any of them"},
    {.name = "severity", .type = KT_FILTER,
     .help = "one name is a threshold (`warning`: warning or more severe); a list names "
             "severities exactly (`[err, crit]`); `debug..notice` is a range"},
    {.name = "program", .type = KT_FILTER,
     .help = "globs on the program (APP-NAME, or the TAG without `[pid]`), case-sensitive"},
    {.name = "hostname", .type = KT_FILTER,
     .help = "globs on HOSTNAME, ASCII case-insensitive"},
    {.name = "peer_name", .type = KT_FILTER,
     .help = "globs on the sender's verified TLS identity (certificate names); never matches "
             "anonymous or plain senders"},
    {.name = "message", .type = KT_FILTER,
     .help = "PCRE2 regexes searched in MSG (e.g. `(?i)timeout`), JIT-compiled"},
    {.name = "not", .type = KT_WHERE,
     .help = "the same keys: messages matching all of them are left out"},
};

const struct section tl_conf_top_section = {
    .title = "Top level", .plural = "", .keys = top_keys, .n_keys = COUNT(top_keys)};
const struct section tl_conf_input_section = {
    .title = "Inputs", .plural = "inputs", .kind_key = "transport",
    .kind_words = transport_words, .keys = input_keys, .n_keys = COUNT(input_keys)};
const struct section tl_conf_output_section = {
    .title = "Outputs", .plural = "outputs", .kind_key = "type",
    .kind_words = output_type_words, .keys = output_keys, .n_keys = COUNT(output_keys),
    .moved = output_moved, .n_moved = COUNT(output_moved)};
const struct section tl_conf_queue_section = {
    .title = "Queue", .plural = "outputs", .kind_key = "type", .kind_words = output_type_words,
    .kind_from_parent = true, .keys = queue_keys, .n_keys = COUNT(queue_keys)};
const struct section tl_conf_rate_section = {
    .title = "Rate limit", .plural = "inputs", .kind_key = "transport",
    .kind_words = transport_words, .kind_from_parent = true, .keys = rate_keys,
    .n_keys = COUNT(rate_keys)};
const struct section tl_conf_route_section = {
    .title = "Routes", .plural = "routes", .keys = route_keys, .n_keys = COUNT(route_keys)};
const struct section tl_conf_where_section = {
    .title = "Route filters", .plural = "routes", .keys = where_keys,
    .n_keys = COUNT(where_keys)};
const struct section tl_conf_tls_section = {
    .title = "TLS", .plural = "", .keys = tls_keys, .n_keys = COUNT(tls_keys)};
const struct section tl_conf_metrics_section = {
    .title = "Metrics", .plural = "", .keys = metrics_keys, .n_keys = COUNT(metrics_keys)};
const struct section tl_conf_sasl_section = {
    .title = "SASL", .plural = "", .keys = sasl_keys, .n_keys = COUNT(sasl_keys)};

const struct section *const tl_conf_sections[] = {
    &tl_conf_top_section,   &tl_conf_input_section, &tl_conf_output_section,
    &tl_conf_queue_section, &tl_conf_rate_section, &tl_conf_route_section,
    &tl_conf_where_section, &tl_conf_tls_section, &tl_conf_metrics_section,
    &tl_conf_sasl_section,  NULL,
};

_Static_assert(COUNT(top_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(input_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(output_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(tls_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(queue_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(route_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(metrics_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(sasl_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(where_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(rate_keys) <= MAX_KEYS, "MAX_KEYS");

/* ---- names ----------------------------------------------------------------------------- */

static const char *word_at(const char *const *words, size_t n, unsigned i)
{
    return i < n - 1 ? words[i] : "?";
}

const char *tl_transport_name(enum tl_transport t)
{
    return word_at(transport_words, COUNT(transport_words), (unsigned)t);
}

int tl_conf_find_key(const struct section *sec, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        if (strlen(sec->keys[i].name) == len && memcmp(sec->keys[i].name, s, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int tl_conf_key_index(const struct section *sec, const char *name)
{
    return tl_conf_find_key(sec, name, strlen(name));
}

void tl_conf_key_names(const struct section *sec, const char **names)
{
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        names[i] = sec->keys[i].name;
    }
}

/* ---- describing keys ------------------------------------------------------------------- */

const char *tl_conf_kinds_text(const struct section *sec, unsigned bits, char *out, size_t cap)
{
    const char *const *words = sec->kind_words;
    size_t o = 0;
    size_t n = 0;
    size_t seen = 0;
    size_t i;

    out[0] = '\0';
    if (words == NULL) {
        return out;
    }
    for (i = 0; words[i] != NULL && i < 32; i++) {
        n += (bits & KIND(i)) != 0;
    }
    for (i = 0; words[i] != NULL && i < 32; i++) {
        int w;

        if ((bits & KIND(i)) == 0) {
            continue;
        }
        seen++;
        w = snprintf(out + o, cap - o, "%s%s", seen == 1 ? "" : seen == n ? " and " : ", ",
                     words[i]);
        if (w < 0 || (size_t)w >= cap - o) {
            break;
        }
        o += (size_t)w;
    }
    return out;
}

const char *tl_conf_range_text(const struct key *k, char *out, size_t cap)
{
    const char *(*show)(uint64_t, char *, size_t) = tl_conf_ktypes[k->type].show;
    char a[32];
    char b[32];

    if (show == NULL) {
        out[0] = '\0'; /* no range */
        return out;
    }
    snprintf(out, cap, "%s..%s", show(k->min, a, sizeof(a)), show(k->max, b, sizeof(b)));
    return out;
}

const char *tl_conf_expected_text(const struct key *k, char *out, size_t cap)
{
    const struct ktype_ops *ops = &tl_conf_ktypes[k->type];
    char detail[LIST_LEN] = "";

    if (ops->show != NULL) {
        tl_conf_range_text(k, detail, sizeof(detail));
    } else if (ops->words) {
        tl_conf_join_words(k->words, detail, sizeof(detail));
    }
    snprintf(out, cap, "%s%s%s", ops->expected, detail, ops->expected_post);
    return out;
}

/* ---- the built-in configuration -------------------------------------------------------- */

const char tl_conf_embedded[] =
    "# tlslogd's built-in configuration, used when it runs without -c.\n"
    "#\n"
    "# It listens on the loopback interface only, so nothing outside this machine\n"
    "# can reach it, and writes one file per sending host under ./tlslogd-logs/.\n"
    "# To start your own configuration, copy examples/minimal.yaml.\n"
    "\n"
    "inputs:\n"
    "  - name: tcp\n"
    "    transport: tcp\n"
    "    listen: \"127.0.0.1:5514\"\n"
    "  - name: udp\n"
    "    transport: udp\n"
    "    listen: \"127.0.0.1:5514\"\n"
    "\n"
    "outputs:\n"
    "  - name: local\n"
    "    type: file\n"
    "    path: \"tlslogd-logs/{hostname}.log\"   # relative to the working directory\n"
    "    format: rfc3164\n";
