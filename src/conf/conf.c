/*
 * conf.c: loads the YAML configuration into struct tl_conf (see conf.h).
 *
 * Every key is a row in a table (struct key): name, type, range, default, the kinds of
 * input or output it applies to, and one line of help. The loader validates with the rows
 * and tl_conf_reference_markdown prints them, so the checks and docs/configuration.md come
 * from one place (a unit test compares the two).
 *
 * Errors are collected, not returned at the first one: someone fixing a config wants to see
 * all of them at once. Each names file, line and key path and says what is allowed.
 */
#include "conf/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/yaml_tree.h"
#include "core/buf.h"
#include "transport/tls_verify.h"

#define MAX_ERRORS 100
#define MAX_KEYS 24
#define MAX_FILE_SIZE (16u * 1024 * 1024)
#define MAX_PATH_LEN 4095
#define SHOW_LEN 400 /* a shown value: 80 source bytes, each at most 4 chars, plus "..." */
#define LIST_LEN 512 /* "allowed: a, b, c" lists */
#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define SEC 1000ull
#define MINUTE (60ull * SEC)
#define HOUR (60ull * MINUTE)
#define DEFAULT_PORT 514
#define DEFAULT_TLS_PORT 6514 /* RFC 5425 */
#define DEFAULT_RELP_PORT 2514 /* rsyslog's imrelp has no default; 2514 is the usual choice */
#define DEFAULT_HANDSHAKE_MS (10 * SEC)
#define DEFAULT_METRICS_PORT 9514
#define DEFAULT_TLS_VERSION 12

#define KIND(k) (1u << (k))
#define ALWAYS (~0u)
#define FIELD(type, member) .off = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(sizeof(enum tl_transport) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_output_type) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_log_level) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_framing) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_format) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_auth_mode) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_queue_full) == sizeof(uint32_t), "enum stored as 32 bits");
_Static_assert(sizeof(enum tl_queue_sync) == sizeof(uint32_t), "enum stored as 32 bits");

enum ktype {
    KT_UINT,     /* decimal digits */
    KT_SIZE,     /* tl_parse_size */
    KT_DURATION, /* tl_parse_duration_ms */
    KT_ENUM,     /* one of words */
    KT_BOOL,     /* true/false/yes/no */
    KT_MODE,     /* octal permission bits */
    KT_NAME,     /* [A-Za-z0-9_.-]{1,64} */
    KT_PATH,     /* any non-empty path */
    KT_SOCKPATH, /* a path that fits in sockaddr_un */
    KT_TEMPLATE, /* a path with {placeholders} */
    KT_LISTEN,   /* tl_parse_listen; fills tl_conf_input.host and .port */
    KT_LIST,     /* a list handled by the caller (inputs, outputs, routes) */
    KT_NAMES,    /* a name or list of names, resolved by the caller (routes) */
    KT_STRING,   /* any non-empty text */
    KT_STRLIST,  /* a string or list of strings, each passing key.check; fills off/count_off */
    KT_TARGETS,  /* a list of host:port, handled by the caller (forward outputs) */
    KT_TLS,      /* a mapping of TLS settings, merged by the caller (see merge_tls) */
    KT_QUEUE,    /* a mapping of queue settings, walked by the caller (see walk_queue) */
    KT_METRICS,  /* a mapping of metrics settings, walked by the caller (see walk_metrics) */
};

struct key {
    const char *name;
    enum ktype type;
    size_t off;                     /* the field in the section's struct (scalar types) */
    size_t size;                    /* its sizeof */
    unsigned applies;               /* KIND() bits of the kinds it applies to; 0 = all */
    unsigned required;              /* KIND() bits of the kinds that need it, or ALWAYS */
    uint64_t min;
    uint64_t max;
    const char *const *words;       /* KT_ENUM: the allowed words, NULL-terminated */
    int (*from_name)(const char *); /* KT_ENUM: word to value; NULL = index in words */
    const char *def;                /* default, as a user would write it; NULL = none */
    const char *doc_def;            /* docs only: a default that depends on the kind, in
                                     * Markdown; shown instead of def */
    const char *help;               /* one line for the docs; Markdown, no '|' */
    const char *const *synonyms;    /* KT_ENUM: more words taken (through from_name) but
                                     * not shown in the docs; NULL = none */
    const char *refused;            /* KT_ENUM: a word a user may expect from elsewhere
                                     * (another key's) that this key does not take ... */
    const char *refused_why;        /* ... and why, with what to write instead */
    size_t count_off;               /* KT_STRLIST: the size_t count beside the char ** */
    bool (*check)(const char *s, char *why, size_t whylen); /* KT_STRLIST: each item */
};

/* A key that used to exist and now lives in a block: its use gets a sentence saying where
 * it went, not "unknown key". */
struct moved_key {
    const char *old;     /* "queue_messages" */
    const char *block;   /* "queue" */
    const char *key;     /* "memory_messages" */
    const char *example; /* shown when the old value is not a single value: "N" */
};

struct section {
    const char *title;               /* for the docs */
    const char *plural;              /* "inputs", as in "applies only to tcp inputs" */
    const char *kind_key;            /* the key whose value selects the kind, or NULL */
    const char *const *kind_words;   /* the kinds, for messages (index = KIND bit) */
    bool kind_from_parent;           /* a block inside an item: the item's kind_key and kind
                                      * apply; kind_key is not one of this section's keys */
    const struct key *keys;
    size_t n_keys;
    const struct moved_key *moved;
    size_t n_moved;
};

static const char *const log_level_words[] = {"error", "warning", "notice", "info", "debug",
                                              NULL};
/* In enum order: the index is the value. */
static const char *const transport_words[] = {"udp", "tcp", "unix", "tls", "relp", NULL};
static const char *const output_type_words[] = {"file", "stdout", "forward", NULL};
/* Spelled as tl_framing_from_name and tl_format_from_name accept them (a test checks). */
static const char *const framing_words[] = {"auto", "octet-counted", "lf", NULL};
static const char *const out_framing_words[] = {"octet-counted", "lf", NULL};
static const char *const format_words[] = {"rfc5424", "rfc3164", "json", "raw", NULL};
static const char *const fwd_transport_words[] = {"tls", "tcp", "udp", "relp", NULL};
/* "1.2" is also what YAML would read as a float: the tree keeps the text, so both work. */
static const char *const tls_version_words[] = {"1.2", "1.3", NULL};
static const char *const auth_words[] = {"anon", "certvalid", "name", "fingerprint", NULL};
/* In enum order (tl_queue_full, tl_queue_sync). */
static const char *const queue_full_words[] = {"block", "drop", NULL};
static const char *const queue_sync_words[] = {"none", "interval", "always", NULL};
/* A file output's sync: the queue's words without interval, and the words of the boolean it
 * used to be (true = always, false = none). */
static const char *const file_sync_words[] = {"none", "always", NULL};
static const char *const bool_words[] = {"true", "false", "yes", "no", NULL};

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

    for (i = 0; auth_words[i] != NULL; i++) {
        if (strcmp(s, auth_words[i]) == 0) {
            return (int)i + TL_AUTH_ANON;
        }
    }
    return -1;
}

static bool check_fingerprint(const char *s, char *why, size_t whylen)
{
    struct tl_fingerprint fp;

    return tl_fingerprint_parse(s, &fp, why, whylen);
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
             "`tls` streams (RFC 5425), or `relp` (acknowledged, see RELP)"},
    {.name = "listen", .type = KT_LISTEN, .applies = IN_NET, .required = IN_NET,
     .help = "`host:port`, `[v6]:port`, `:port` (all addresses), `port`, or `host` (port "
             "514, 6514 for tls, 2514 for relp); port 0 picks a free port"},
    {.name = "path", .type = KT_SOCKPATH, FIELD(struct tl_conf_input, path),
     .applies = KIND(TL_TR_UNIX), .required = KIND(TL_TR_UNIX),
     .help = "the socket file to create (at most 107 bytes)"},
    {.name = "socket_mode", .type = KT_MODE, FIELD(struct tl_conf_input, socket_mode),
     .applies = KIND(TL_TR_UNIX), .max = 07777, .def = "0666",
     .help = "permissions of the socket file"},
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
};

#define OUT_LOCAL (KIND(TL_OUT_FILE) | KIND(TL_OUT_STDOUT))
#define OUT_FWD KIND(TL_OUT_FORWARD)
static const struct key output_keys[] = {
    {.name = "name", .type = KT_NAME, FIELD(struct tl_conf_output, name), .required = ALWAYS,
     .help = "unique among outputs; used in routes and logs"},
    {.name = "type", .type = KT_ENUM, FIELD(struct tl_conf_output, type), .required = ALWAYS,
     .words = output_type_words,
     .help = "`file` writes files, `stdout` the standard output, `forward` sends to another "
             "syslog server"},
    {.name = "path", .type = KT_TEMPLATE, FIELD(struct tl_conf_output, path),
     .applies = KIND(TL_OUT_FILE), .required = KIND(TL_OUT_FILE),
     .help = "file to append to; may contain placeholders (see below); missing "
             "directories are created"},
    {.name = "format", .type = KT_ENUM, FIELD(struct tl_conf_output, format),
     .words = format_words, .from_name = tl_format_from_name, .def = "rfc3164",
     .doc_def = "`rfc3164`; forward: `rfc5424`",
     .help = "how each message is written, one per line (see Formats); forward outputs "
             "send `rfc5424` or `rfc3164` only"},
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
             "tls, 2514 for relp, 514 for tcp and udp); tried in order, the first reachable "
             "one wins"},
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
    {.name = "tls", .type = KT_TLS, .applies = OUT_FWD,
     .help = "TLS settings for this output, key by key over the top-level `tls:` (see TLS); "
             "transport tls, or relp where its presence (even `tls: {}`) turns on RELP over "
             "TLS"},
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
             "decides (forward outputs with `dir` move the excess to disk first)"},
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
     .applies = OUT_FWD,
     .help = "directory of the disk queue (created if missing); messages beyond "
             "memory_messages, and those still queued at shutdown, are kept here; each "
             "output needs its own; without it the queue is in memory only"},
    {.name = "max_bytes", .type = KT_SIZE, FIELD(struct tl_conf_output, queue_max_bytes),
     .applies = OUT_FWD, .min = MIB, .max = 1024 * GIB, .def = "1GiB",
     .help = "with dir: most disk space the queue takes; beyond it `full` decides"},
    {.name = "sync", .type = KT_ENUM, FIELD(struct tl_conf_output, queue_sync),
     .applies = OUT_FWD, .words = queue_sync_words, .def = "interval",
     .help = "with dir: when queue files are fsync'ed: `none`, every `sync_interval`, or "
             "`always` after each write (safest, slowest)"},
    {.name = "sync_interval", .type = KT_DURATION,
     FIELD(struct tl_conf_output, queue_sync_interval_ms), .applies = OUT_FWD, .min = 10,
     .max = HOUR, .def = "1s", .help = "with dir and sync interval: time between fsyncs"},
    {.name = "segment_size", .type = KT_SIZE, FIELD(struct tl_conf_output, queue_segment_bytes),
     .applies = OUT_FWD, .min = 64 * KIB, .max = GIB, .def = "8MiB",
     .help = "with dir: size of one queue file; at most max_bytes"},
    {.name = "drain_timeout", .type = KT_DURATION,
     FIELD(struct tl_conf_output, drain_timeout_ms), .max = HOUR, .def = "10s",
     .help = "at shutdown, how long the whole stop may take to deliver queued messages "
             "(forward) or to retry writes that fail (file); what is left is lost, "
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
    {.name = "auth", .type = KT_ENUM, FIELD(struct tl_conf_tls, auth), .words = auth_words,
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

static const struct key route_keys[] = {
    {.name = "from", .type = KT_NAMES, .required = ALWAYS,
     .help = "input name, or a list of input names"},
    {.name = "to", .type = KT_NAMES, .required = ALWAYS,
     .help = "output name, or a list of output names"},
};

static const struct section top_section = {
    .title = "Top level", .plural = "", .keys = top_keys, .n_keys = COUNT(top_keys)};
static const struct section input_section = {
    .title = "Inputs", .plural = "inputs", .kind_key = "transport",
    .kind_words = transport_words, .keys = input_keys, .n_keys = COUNT(input_keys)};
static const struct section output_section = {
    .title = "Outputs", .plural = "outputs", .kind_key = "type",
    .kind_words = output_type_words, .keys = output_keys, .n_keys = COUNT(output_keys),
    .moved = output_moved, .n_moved = COUNT(output_moved)};
static const struct section queue_section = {
    .title = "Queue", .plural = "outputs", .kind_key = "type", .kind_words = output_type_words,
    .kind_from_parent = true, .keys = queue_keys, .n_keys = COUNT(queue_keys)};
static const struct section route_section = {
    .title = "Routes", .plural = "routes", .keys = route_keys, .n_keys = COUNT(route_keys)};
static const struct section tls_section = {
    .title = "TLS", .plural = "", .keys = tls_keys, .n_keys = COUNT(tls_keys)};
static const struct section metrics_section = {
    .title = "Metrics", .plural = "", .keys = metrics_keys, .n_keys = COUNT(metrics_keys)};

_Static_assert(COUNT(top_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(input_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(output_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(tls_keys) <= MAX_KEYS, "MAX_KEYS");
_Static_assert(COUNT(queue_keys) <= MAX_KEYS, "MAX_KEYS");

struct placeholder {
    const char *name;
    const char *help;
};

static const struct placeholder placeholders[] = {
    {"hostname", "HOSTNAME of the message; without one, the sender's IP address "
                 "(`localhost` for unix inputs)"},
    {"app", "APP-NAME (RFC 5424) or TAG (RFC 3164)"},
    {"year", "year the message was received (local time), 4 digits"},
    {"month", "month it was received, 01-12"},
    {"day", "day of the month it was received, 01-31"},
    {"hour", "hour it was received, 00-23"},
    {"facility", "facility name: `kern`, `user`, `mail`, ..., `local7`"},
    {"severity", "severity name: `emerg`, `alert`, `crit`, `err`, `warning`, `notice`, "
                 "`info`, `debug`"},
    {"input", "name of the input that received the message"},
    {"peer_ip", "IP address of the sender (`local` for unix inputs)"},
    {"peer_name", "first name in the TLS sender's certificate (DNS name, else IP address, "
                  "else CN); `anonymous` without a certificate or on other transports"},
};

/* ---- names of the enums ---------------------------------------------------------------- */

static const char *word_at(const char *const *words, size_t n, unsigned i)
{
    return i < n - 1 ? words[i] : "?";
}

const char *tl_transport_name(enum tl_transport t)
{
    return word_at(transport_words, COUNT(transport_words), (unsigned)t);
}

const char *tl_log_level_name(enum tl_log_level l)
{
    return word_at(log_level_words, COUNT(log_level_words), (unsigned)l);
}

/* ---- collecting errors ----------------------------------------------------------------- */

struct lerr {
    int line;
    char *text;
};

struct ld {
    const char *file;
    struct lerr *errs;
    size_t n_errs;
    size_t cap_errs;
    size_t dropped; /* errors past MAX_ERRORS */
    bool oom;
    struct tl_conf_fileref *files; /* handed to the tl_conf at the end (see walk_tls) */
    size_t n_files;
    size_t cap_files;
};

static char *vfmt(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vfmt(const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *s;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return NULL;
    }
    s = malloc((size_t)n + 1);
    if (s != NULL) {
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    }
    return s;
}

static char *fmt_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *fmt_str(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt(fmt, ap);
    va_end(ap);
    return s;
}

static void add_error(struct ld *ld, int line, char *text)
{
    if (text == NULL) {
        ld->oom = true;
        return;
    }
    if (ld->n_errs == ld->cap_errs) {
        size_t cap = ld->cap_errs ? ld->cap_errs * 2 : 16;
        struct lerr *e = realloc(ld->errs, cap * sizeof(*e));

        if (e == NULL) {
            free(text);
            ld->oom = true;
            return;
        }
        ld->errs = e;
        ld->cap_errs = cap;
    }
    ld->errs[ld->n_errs].line = line;
    ld->errs[ld->n_errs].text = text;
    ld->n_errs++;
}

/* Records "FILE:LINE: message" (just "message" when line is 0). */
static void errf(struct ld *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(struct ld *ld, int line, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (ld->n_errs >= MAX_ERRORS) {
        ld->dropped++;
        return;
    }
    va_start(ap, fmt);
    msg = vfmt(fmt, ap);
    va_end(ap);
    if (msg == NULL) {
        ld->oom = true;
        return;
    }
    if (line > 0) {
        add_error(ld, line, fmt_str("%s:%d: %s", ld->file, line, msg));
    } else {
        add_error(ld, line, fmt_str("%s", msg));
    }
    free(msg);
}

static size_t error_count(const struct ld *ld)
{
    return ld->n_errs + ld->dropped + (ld->oom ? 1 : 0);
}

/* Hands the errors over sorted by line (stable, so messages about one line keep their
 * order). The loader runs over keys in table order, this puts them in file order. */
static void give_errors(struct ld *ld, struct tl_conf_errors *errs)
{
    size_t i;
    size_t j;

    if (ld->oom) {
        add_error(ld, INT_MAX, fmt_str("%s: out of memory while loading the configuration",
                                       ld->file));
    }
    if (ld->dropped > 0) {
        add_error(ld, INT_MAX, fmt_str("%s: %zu more errors not shown; fix the above first",
                                       ld->file, ld->dropped));
    }
    for (i = 1; i < ld->n_errs; i++) {
        struct lerr e = ld->errs[i];

        for (j = i; j > 0 && ld->errs[j - 1].line > e.line; j--) {
            ld->errs[j] = ld->errs[j - 1];
        }
        ld->errs[j] = e;
    }
    if (errs == NULL) {
        for (i = 0; i < ld->n_errs; i++) {
            free(ld->errs[i].text);
        }
        free(ld->errs);
        return;
    }
    errs->lines = calloc(ld->n_errs ? ld->n_errs : 1, sizeof(char *));
    errs->n = 0;
    for (i = 0; i < ld->n_errs; i++) {
        if (errs->lines != NULL) {
            errs->lines[errs->n++] = ld->errs[i].text;
        } else {
            free(ld->errs[i].text);
        }
    }
    free(ld->errs);
}

void tl_conf_errors_fini(struct tl_conf_errors *errs)
{
    size_t i;

    if (errs == NULL) {
        return;
    }
    for (i = 0; i < errs->n; i++) {
        free(errs->lines[i]);
    }
    free(errs->lines);
    errs->lines = NULL;
    errs->n = 0;
}

/* ---- text helpers ---------------------------------------------------------------------- */

/* Renders user text for a message: at most 80 bytes, control bytes as \xNN. */
static const char *show(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;

    for (i = 0; i < len && i < 80 && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (i < len && o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static const char *show_node(const struct tl_yaml_node *n, char *out, size_t cap)
{
    return show(n->str, n->len, out, cap);
}

/* Joins words as "a, b, c" (with a prefix and suffix per word), cut short with "..." */
static const char *join(const char *const *words, size_t n, const char *pre, const char *post,
                        char *out, size_t cap)
{
    size_t o = 0;
    size_t i;

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        int w;

        if (words[i] == NULL) {
            continue;
        }
        w = snprintf(out + o, cap - o, "%s%s%s%s", o ? ", " : "", pre, words[i], post);
        if (w < 0 || (size_t)w >= cap - o - 4) {
            snprintf(out + o, cap - o, "%s...", o ? ", " : "");
            break;
        }
        o += (size_t)w;
    }
    return out;
}

static size_t n_words(const char *const *words)
{
    size_t n = 0;

    while (words[n] != NULL) {
        n++;
    }
    return n;
}

static const char *join_words(const char *const *words, char *out, size_t cap)
{
    return join(words, n_words(words), "", "", out, cap);
}

/* Optimal string alignment distance (edits, including swapping two neighbours), or a large
 * number for long strings. */
static size_t distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t d[33][33];
    size_t i;
    size_t j;

    if (la > 32 || lb > 32) {
        return SIZE_MAX;
    }
    for (i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (i = 1; i <= la; i++) {
        for (j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;

            if (d[i][j - 1] + 1 < v) {
                v = d[i][j - 1] + 1;
            }
            if (d[i - 1][j - 1] + cost < v) {
                v = d[i - 1][j - 1] + cost;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v) {
                v = d[i - 2][j - 2] + 1;
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The closest candidate within 2 edits (and not mostly edits), or NULL. */
static const char *closest(const char *s, size_t len, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t lc;
        size_t d;

        if (cands[i] == NULL) {
            continue;
        }
        lc = strlen(cands[i]);
        d = distance(s, len, cands[i], lc);
        if (d < best_d && 2 * d <= (len > lc ? len : lc)) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

/* "; did you mean 'x'?" or "" */
static const char *did_you_mean(const char *s, size_t len, const char *const *cands, size_t n,
                                char *out, size_t cap)
{
    const char *c = closest(s, len, cands, n);

    out[0] = '\0';
    if (c != NULL) {
        snprintf(out, cap, "; did you mean '%s'?", c);
    }
    return out;
}

static void key_names(const struct section *sec, const char **names)
{
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        names[i] = sec->keys[i].name;
    }
}

/* "udp and tcp", "udp, tcp and tls" from KIND() bits */
static const char *kinds_text(const struct section *sec, unsigned bits, char *out, size_t cap)
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

static const char *size_text(uint64_t v, char *out, size_t cap)
{
    if (v != 0 && v % GIB == 0) {
        snprintf(out, cap, "%lluGiB", (unsigned long long)(v / GIB));
    } else if (v != 0 && v % MIB == 0) {
        snprintf(out, cap, "%lluMiB", (unsigned long long)(v / MIB));
    } else if (v != 0 && v % KIB == 0) {
        snprintf(out, cap, "%lluKiB", (unsigned long long)(v / KIB));
    } else {
        snprintf(out, cap, "%llu", (unsigned long long)v);
    }
    return out;
}

static const char *duration_text(uint64_t v, char *out, size_t cap)
{
    if (v != 0 && v % HOUR == 0) {
        snprintf(out, cap, "%lluh", (unsigned long long)(v / HOUR));
    } else if (v != 0 && v % MINUTE == 0) {
        snprintf(out, cap, "%llum", (unsigned long long)(v / MINUTE));
    } else if (v != 0 && v % SEC == 0) {
        snprintf(out, cap, "%llus", (unsigned long long)(v / SEC));
    } else if (v != 0) {
        snprintf(out, cap, "%llums", (unsigned long long)v);
    } else {
        snprintf(out, cap, "0");
    }
    return out;
}

/* "0..256", "480..16MiB", "0..1h" */
static const char *range_text(const struct key *k, char *out, size_t cap)
{
    char a[32];
    char b[32];

    switch (k->type) {
    case KT_SIZE:
        snprintf(out, cap, "%s..%s", size_text(k->min, a, sizeof(a)),
                 size_text(k->max, b, sizeof(b)));
        break;
    case KT_DURATION:
        snprintf(out, cap, "%s..%s", duration_text(k->min, a, sizeof(a)),
                 duration_text(k->max, b, sizeof(b)));
        break;
    default:
        snprintf(out, cap, "%llu..%llu", (unsigned long long)k->min,
                 (unsigned long long)k->max);
        break;
    }
    return out;
}

/* What a value of this key looks like, for "expected ..." messages. */
static const char *expected_text(const struct key *k, char *out, size_t cap)
{
    char r[64];
    char w[LIST_LEN];

    switch (k->type) {
    case KT_UINT:
        snprintf(out, cap, "a whole number in %s", range_text(k, r, sizeof(r)));
        break;
    case KT_SIZE:
        snprintf(out, cap, "a size in %s (e.g. 64KiB)", range_text(k, r, sizeof(r)));
        break;
    case KT_DURATION:
        snprintf(out, cap, "a duration in %s (e.g. 250ms, 1s, 5m)", range_text(k, r, sizeof(r)));
        break;
    case KT_ENUM:
        snprintf(out, cap, "one of %s", join_words(k->words, w, sizeof(w)));
        break;
    case KT_BOOL:
        snprintf(out, cap, "true or false");
        break;
    case KT_MODE:
        snprintf(out, cap, "an octal file mode (e.g. \"0640\")");
        break;
    case KT_NAME:
        snprintf(out, cap, "a name of 1 to 64 letters, digits, '_', '.' or '-'");
        break;
    case KT_PATH:
    case KT_SOCKPATH:
        snprintf(out, cap, "a path");
        break;
    case KT_TEMPLATE:
        snprintf(out, cap, "a path, optionally with placeholders such as {hostname}");
        break;
    case KT_LISTEN:
        snprintf(out, cap, "an address and port (e.g. \"0.0.0.0:514\")");
        break;
    case KT_LIST:
        snprintf(out, cap, "a list");
        break;
    case KT_STRING:
        snprintf(out, cap, "a text");
        break;
    case KT_STRLIST:
        snprintf(out, cap, "a text or a list of them");
        break;
    case KT_TARGETS:
        snprintf(out, cap, "a list of addresses (e.g. [\"loghost.example.net:6514\"])");
        break;
    case KT_TLS:
        snprintf(out, cap, "a mapping of TLS settings");
        break;
    case KT_QUEUE:
        snprintf(out, cap, "a mapping of queue settings");
        break;
    case KT_METRICS:
        snprintf(out, cap, "a mapping of metrics settings (listen)");
        break;
    case KT_NAMES:
    default:
        snprintf(out, cap, "a name or a list of names");
        break;
    }
    return out;
}

static const char *got_text(const struct tl_yaml_node *n)
{
    if (tl_yaml_is_null(n)) {
        return "nothing";
    }
    switch (n->kind) {
    case TL_YAML_MAP:
        return "a mapping";
    case TL_YAML_SEQ:
        return "a list";
    case TL_YAML_SCALAR:
    default:
        return "a single value";
    }
}

/* "inputs[0] (tcp).listen", or just "workers" at the top level */
static const char *key_path(const char *where, const char *key, char *out, size_t cap)
{
    if (where[0] == '\0') {
        snprintf(out, cap, "%s", key);
    } else {
        snprintf(out, cap, "%s.%s", where, key);
    }
    return out;
}

/* ---- values ---------------------------------------------------------------------------- */

static bool parse_uint(const char *s, uint64_t *out, bool *overflow)
{
    uint64_t v = 0;
    const char *p;

    *overflow = false;
    if (s[0] == '\0') {
        return false;
    }
    for (p = s; *p != '\0'; p++) {
        unsigned d;

        if (*p < '0' || *p > '9') {
            return false;
        }
        d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *overflow = true;
        } else {
            v = v * 10 + d;
        }
    }
    *out = v;
    return !*overflow;
}

/* Octal digits, optionally "0o"-prefixed (YAML 1.2 style); read as octal like chmod. */
static bool parse_mode(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;

    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        s += 2;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '7' || ++n > 6) {
            return false;
        }
        v = v * 8 + (uint64_t)(*s - '0');
    }
    *out = v;
    return n > 0;
}

static bool parse_bool(const char *s, uint64_t *out)
{
    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
        *out = 1;
        return true;
    }
    if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
        *out = 0;
        return true;
    }
    return false;
}

static bool valid_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 64) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Checks the {placeholders} of a path template; false with a message in why. */
static bool check_template(const char *s, char *why, size_t whylen)
{
    const char *names[COUNT(placeholders)];
    char shown[SHOW_LEN];
    char ph[SHOW_LEN];
    char list[LIST_LEN];
    const char *p = s;
    size_t i;

    for (i = 0; i < COUNT(placeholders); i++) {
        names[i] = placeholders[i].name;
    }
    while ((p = strchr(p, '{')) != NULL) {
        const char *close = strchr(p, '}');
        const char *open2 = strchr(p + 1, '{');
        bool known = false;

        if (close == NULL || (open2 != NULL && open2 < close)) {
            snprintf(why, whylen, "unclosed '{' in '%s'; placeholders look like {hostname}",
                     show(s, strlen(s), shown, sizeof(shown)));
            return false;
        }
        for (i = 0; i < COUNT(placeholders); i++) {
            size_t n = strlen(placeholders[i].name);

            if ((size_t)(close - p - 1) == n && memcmp(p + 1, placeholders[i].name, n) == 0) {
                known = true;
            }
        }
        if (!known) {
            /* No "did you mean" here: short names like {hour} are too close to typos of
             * unrelated ones ({hots} for {hostname}). */
            snprintf(why, whylen, "unknown placeholder '%s' in '%s'; allowed: %s",
                     show(p, (size_t)(close - p + 1), ph, sizeof(ph)),
                     show(s, strlen(s), shown, sizeof(shown)),
                     join(names, COUNT(names), "{", "}", list, sizeof(list)));
            return false;
        }
        p = close + 1;
    }
    return true;
}

static void put_uint(unsigned char *field, size_t size, uint64_t v)
{
    uint8_t v8 = (uint8_t)v;
    uint16_t v16 = (uint16_t)v;
    uint32_t v32 = (uint32_t)v;

    switch (size) {
    case 1:
        memcpy(field, &v8, 1);
        break;
    case 2:
        memcpy(field, &v16, 2);
        break;
    case 4:
        memcpy(field, &v32, 4);
        break;
    default:
        memcpy(field, &v, sizeof(v));
        break;
    }
}

static bool put_str(struct ld *ld, unsigned char *field, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    char *old;

    if (copy == NULL) {
        ld->oom = true;
        return false;
    }
    memcpy(&old, field, sizeof(old));
    free(old);
    memcpy(field, &copy, sizeof(copy));
    return true;
}

static bool out_of_range(struct ld *ld, const struct key *k, int line, const char *path,
                         const char *shown)
{
    char r[64];

    errf(ld, line, "%s: '%s' is out of range; allowed: %s", path, shown,
         range_text(k, r, sizeof(r)));
    return false;
}

/* Parses the scalar s for key k and stores it into base. Reports and returns false when the
 * value is not acceptable; *num receives numeric values (enums too). */
static bool set_value(struct ld *ld, const struct key *k, void *base, const char *s, size_t len,
                      int line, const char *path, uint64_t *num)
{
    unsigned char *field = (unsigned char *)base + k->off;
    char shown[SHOW_LEN];
    char list[LIST_LEN];
    char why[LIST_LEN + 2 * SHOW_LEN];
    uint64_t v = 0;
    bool overflow;
    bool synonym = false;
    size_t i;
    size_t j;

    show(s, len, shown, sizeof(shown));
    if (strlen(s) != len) {
        errf(ld, line, "%s: '%s' contains a NUL byte", path, shown);
        return false;
    }
    switch (k->type) {
    case KT_UINT:
        if (!parse_uint(s, &v, &overflow)) {
            if (overflow) {
                return out_of_range(ld, k, line, path, shown);
            }
            errf(ld, line, "%s: '%s' is not a whole number; allowed: %s", path, shown,
                 range_text(k, list, sizeof(list)));
            return false;
        }
        break;
    case KT_SIZE:
        if (!tl_parse_size(s, &v)) {
            errf(ld, line, "%s: '%s' is not a size; use a number of bytes, or a number with "
                 "k, KiB, M, MiB, G or GiB (e.g. 64KiB)", path, shown);
            return false;
        }
        break;
    case KT_DURATION:
        if (!tl_parse_duration_ms(s, &v)) {
            errf(ld, line, "%s: '%s' is not a duration; use a number with ms, s, m or h "
                 "(e.g. 250ms, 5m), or a bare number of seconds", path, shown);
            return false;
        }
        break;
    case KT_ENUM:
        for (i = 0; k->words[i] != NULL; i++) {
            if (strcmp(s, k->words[i]) == 0) {
                break;
            }
        }
        for (j = 0; k->words[i] == NULL && k->synonyms != NULL && k->synonyms[j] != NULL;
             j++) {
            synonym |= strcasecmp(s, k->synonyms[j]) == 0; /* as booleans are read */
        }
        if (k->words[i] == NULL && k->refused != NULL && strcmp(s, k->refused) == 0) {
            errf(ld, line, "%s: %s", path, k->refused_why);
            return false;
        }
        if (k->words[i] == NULL && !synonym) {
            errf(ld, line, "%s: '%s' is not one of %s", path, shown,
                 join_words(k->words, list, sizeof(list)));
            return false;
        }
        if (k->from_name != NULL) {
            int r = k->from_name(s);

            if (r < 0) {
                errf(ld, line, "%s: '%s' is not supported by this build", path, shown);
                return false;
            }
            v = (uint64_t)r;
        } else {
            v = i;
        }
        break;
    case KT_BOOL:
        if (!parse_bool(s, &v)) {
            errf(ld, line, "%s: '%s' is not a boolean; use true, false, yes or no", path, shown);
            return false;
        }
        break;
    case KT_MODE:
        if (!parse_mode(s, &v) || v > k->max) {
            errf(ld, line, "%s: '%s' is not an octal file mode; use up to 4 octal digits, "
                 "e.g. \"0640\"", path, shown);
            return false;
        }
        break;
    case KT_NAME:
        if (!valid_name(s, len)) {
            errf(ld, line, "%s: '%s' is not a valid name; use 1 to 64 letters, digits, "
                 "'_', '.' or '-'", path, shown);
            return false;
        }
        return put_str(ld, field, s, len);
    case KT_PATH:
    case KT_SOCKPATH:
    case KT_TEMPLATE:
        if (len == 0) {
            errf(ld, line, "%s: the path is empty", path);
            return false;
        }
        if (len > MAX_PATH_LEN) {
            errf(ld, line, "%s: the path is longer than %d bytes", path, MAX_PATH_LEN);
            return false;
        }
        if (k->type == KT_SOCKPATH &&
            len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            errf(ld, line, "%s: '%s' is too long for a unix socket (%zu bytes; at most %zu)",
                 path, shown, len, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return false;
        }
        if (k->type == KT_TEMPLATE) {
            if (s[len - 1] == '/') {
                errf(ld, line, "%s: '%s' ends with '/'; it must name a file", path, shown);
                return false;
            }
            if (!check_template(s, why, sizeof(why))) {
                errf(ld, line, "%s: %s", path, why);
                return false;
            }
        }
        return put_str(ld, field, s, len);
    case KT_STRING:
        if (len == 0) {
            errf(ld, line, "%s: the value is empty", path);
            return false;
        }
        return put_str(ld, field, s, len);
    case KT_LISTEN: {
        struct tl_conf_input *in = base;
        char *host = NULL;
        uint16_t port = 0;
        uint16_t def = in->transport == TL_TR_TLS    ? DEFAULT_TLS_PORT
                       : in->transport == TL_TR_RELP ? DEFAULT_RELP_PORT
                                                     : DEFAULT_PORT;

        if (!tl_parse_listen(s, def, &host, &port, why, sizeof(why))) {
            errf(ld, line, "%s: '%s' is not a listen address: %s; use host:port, "
                 "[v6]:port, :port or port", path, shown, why);
            return false;
        }
        free(in->host);
        in->host = host;
        in->port = port;
        return true;
    }
    case KT_LIST:
    case KT_NAMES:
    case KT_STRLIST:
    case KT_TARGETS:
    case KT_TLS:
    case KT_QUEUE:
    case KT_METRICS:
    default:
        return true;
    }
    if ((k->type == KT_UINT || k->type == KT_SIZE || k->type == KT_DURATION) &&
        (v < k->min || v > k->max)) {
        return out_of_range(ld, k, line, path, shown);
    }
    put_uint(field, k->size, v);
    if (num != NULL) {
        *num = v;
    }
    return true;
}

/* A scalar with a value; otherwise reports what was expected. */
static bool want_scalar(struct ld *ld, const struct key *k, const struct tl_yaml_node *v,
                        const char *path)
{
    char exp[LIST_LEN];

    if (v->kind == TL_YAML_SCALAR && !tl_yaml_is_null(v)) {
        return true;
    }
    errf(ld, v->line, "%s: expected %s, got %s", path, expected_text(k, exp, sizeof(exp)),
         got_text(v));
    return false;
}

/* ---- lists of strings ------------------------------------------------------------------ */

static void free_strs(char **list, size_t n)
{
    size_t i;

    for (i = 0; i < n && list != NULL; i++) {
        free(list[i]);
    }
    free(list);
}

/* A KT_STRLIST value: one text, or a list of texts, each passing k->check. Replaces the
 * list in base (the items that pass), so a local list replaces an inherited one whole. */
static void set_strlist(struct ld *ld, const struct key *k, void *base,
                        const struct tl_yaml_node *v, const char *path)
{
    const struct tl_yaml_node *const *items = (const struct tl_yaml_node *const *)&v;
    unsigned char *field = (unsigned char *)base + k->off;
    char shown[SHOW_LEN];
    char why[LIST_LEN];
    char **list;
    char **old;
    size_t n_old;
    size_t count = 1;
    size_t got = 0;
    size_t i;

    if (tl_yaml_is_null(v) || v->kind == TL_YAML_MAP) {
        errf(ld, v->line, "%s: expected a text or a list of them, got %s", path, got_text(v));
        return;
    }
    if (v->kind == TL_YAML_SEQ) {
        items = (const struct tl_yaml_node *const *)v->kids;
        count = v->n;
    }
    if (count == 0) {
        errf(ld, v->line, "%s: the list is empty; give at least one entry or remove the key",
             path);
        return;
    }
    list = calloc(count, sizeof(*list));
    if (list == NULL) {
        ld->oom = true;
        return;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *item = items[i];

        if (item->kind != TL_YAML_SCALAR || tl_yaml_is_null(item)) {
            errf(ld, item->line, "%s[%zu]: expected a text, got %s", path, i, got_text(item));
            continue;
        }
        if (strlen(item->str) != item->len) {
            errf(ld, item->line, "%s[%zu]: '%s' contains a NUL byte", path, i,
                 show_node(item, shown, sizeof(shown)));
            continue;
        }
        why[0] = '\0';
        if (k->check != NULL && !k->check(item->str, why, sizeof(why))) {
            errf(ld, item->line, "%s[%zu]: %s", path, i, why);
            continue;
        }
        list[got] = strdup(item->str);
        if (list[got] == NULL) {
            ld->oom = true;
            break;
        }
        got++;
    }
    memcpy(&old, field, sizeof(old));
    memcpy(&n_old, (unsigned char *)base + k->count_off, sizeof(n_old));
    free_strs(old, n_old);
    memcpy(field, &list, sizeof(list));
    memcpy((unsigned char *)base + k->count_off, &got, sizeof(got));
}

/* ---- mappings -------------------------------------------------------------------------- */

static int find_key(const struct section *sec, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        if (strlen(sec->keys[i].name) == len && memcmp(sec->keys[i].name, s, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void unknown_key(struct ld *ld, const struct section *sec,
                        const struct tl_yaml_node *kn, const char *where)
{
    const char *names[MAX_KEYS];
    char shown[SHOW_LEN];
    char list[LIST_LEN];
    char dym[96];
    char at[SHOW_LEN + 8];

    key_names(sec, names);
    if (where[0] == '\0') {
        snprintf(at, sizeof(at), "at top level");
    } else {
        snprintf(at, sizeof(at), "in %s", where);
    }
    errf(ld, kn->line, "unknown key '%s' %s; allowed: %s%s", show_node(kn, shown, sizeof(shown)),
         at, join(names, sec->n_keys, "", "", list, sizeof(list)),
         did_you_mean(kn->str, kn->len, names, sec->n_keys, dym, sizeof(dym)));
}

/* True (after reporting where it went) when kn is a key that moved into a block. */
static bool moved_key(struct ld *ld, const struct section *sec, const struct tl_yaml_node *kn,
                      const struct tl_yaml_node *vn, const char *where)
{
    char path[SHOW_LEN + 64];
    char shown[SHOW_LEN];
    size_t i;

    for (i = 0; i < sec->n_moved; i++) {
        const struct moved_key *m = &sec->moved[i];

        if (strlen(m->old) != kn->len || memcmp(m->old, kn->str, kn->len) != 0) {
            continue;
        }
        if (vn->kind == TL_YAML_SCALAR && !tl_yaml_is_null(vn)) {
            show_node(vn, shown, sizeof(shown));
        } else {
            snprintf(shown, sizeof(shown), "%s", m->example);
        }
        errf(ld, kn->line, "%s: '%s' moved into the %s: block: write %s: {%s: %s}",
             key_path(where, m->old, path, sizeof(path)), m->old, m->block, m->block, m->key,
             shown);
        return true;
    }
    return false;
}

static void missing_key(struct ld *ld, const struct section *sec, const struct key *k,
                        int line, const char *where, int kind)
{
    char kinds[64];

    if (where[0] == '\0') {
        errf(ld, line, "missing required key '%s' at top level", k->name);
    } else if (k->required == ALWAYS || kind < 0) {
        errf(ld, line, "%s: missing required key '%s'", where, k->name);
    } else {
        errf(ld, line, "%s: missing required key '%s' (%s %s need it)", where, k->name,
             kinds_text(sec, k->required, kinds, sizeof(kinds)), sec->plural);
    }
}

/*
 * Checks one mapping against a section and stores its scalar values into base: unknown and
 * duplicate keys, the kind (transport or type), keys that do not apply to that kind, value
 * syntax and range, missing required keys; defaults fill the rest. found[i] receives the
 * value node of key i (or NULL) so the caller can handle lists. parent_kind is the kind of
 * the enclosing item for a block whose section has kind_from_parent (-1 otherwise). Returns
 * the kind, or -1 when unknown.
 */
static int walk_map(struct ld *ld, const struct section *sec, const struct tl_yaml_node *map,
                    void *base, const char *where, const struct tl_yaml_node **found,
                    int parent_kind)
{
    int keyline[MAX_KEYS];
    char path[SHOW_LEN + 64];
    char kinds[64];
    int kind = -1;
    int ki = -1;
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        found[i] = NULL;
        keyline[i] = 0;
    }
    for (i = 0; i + 1 < map->n; i += 2) {
        const struct tl_yaml_node *kn = map->kids[i];
        int idx = find_key(sec, kn->str, kn->len);

        if (idx < 0) {
            if (!moved_key(ld, sec, kn, map->kids[i + 1], where)) {
                unknown_key(ld, sec, kn, where);
            }
            continue;
        }
        if (found[idx] != NULL) {
            errf(ld, kn->line, "%s: duplicate key; it was first given at line %d",
                 key_path(where, sec->keys[idx].name, path, sizeof(path)), keyline[idx]);
            continue;
        }
        found[idx] = map->kids[i + 1];
        keyline[idx] = kn->line;
    }

    if (sec->kind_from_parent) {
        kind = parent_kind;
    } else if (sec->kind_key != NULL) {
        uint64_t v;

        ki = find_key(sec, sec->kind_key, strlen(sec->kind_key));
        if (found[ki] != NULL) {
            const struct key *k = &sec->keys[ki];
            const struct tl_yaml_node *vn = found[ki];

            key_path(where, k->name, path, sizeof(path));
            if (want_scalar(ld, k, vn, path) &&
                set_value(ld, k, base, vn->str, vn->len, vn->line, path, &v)) {
                kind = (int)v;
            }
        }
    }

    for (i = 0; i < sec->n_keys; i++) {
        const struct key *k = &sec->keys[i];
        const struct tl_yaml_node *vn = found[i];
        bool applies = k->applies == 0 || kind < 0 || (k->applies & KIND(kind)) != 0;

        key_path(where, k->name, path, sizeof(path));
        if ((int)i == ki && vn != NULL) {
            continue;
        }
        if (vn == NULL) {
            if (k->def != NULL && applies) {
                set_value(ld, k, base, k->def, strlen(k->def), map->line, path, NULL);
            }
            if (k->required == ALWAYS || (kind >= 0 && (k->required & KIND(kind)) != 0)) {
                missing_key(ld, sec, k, map->line, where, kind);
            }
            continue;
        }
        if (!applies) {
            char kind_now[64];

            errf(ld, keyline[i], "%s: %s applies only to %s %s; this one's %s is %s", path,
                 k->name, kinds_text(sec, k->applies, kinds, sizeof(kinds)), sec->plural,
                 sec->kind_key, kinds_text(sec, KIND(kind), kind_now, sizeof(kind_now)));
            continue;
        }
        if (k->type == KT_LIST || k->type == KT_NAMES || k->type == KT_TARGETS ||
            k->type == KT_TLS || k->type == KT_QUEUE || k->type == KT_METRICS) {
            continue;
        }
        if (k->type == KT_STRLIST) {
            set_strlist(ld, k, base, vn, path);
            continue;
        }
        if (want_scalar(ld, k, vn, path)) {
            set_value(ld, k, base, vn->str, vn->len, vn->line, path, NULL);
        }
    }
    return kind;
}

/* "inputs[1] (tcp-in)", or "inputs[1]" when the item has no usable name */
static void item_label(const char *list, size_t i, const struct tl_yaml_node *item, char *out,
                       size_t cap)
{
    size_t j;

    snprintf(out, cap, "%s[%zu]", list, i);
    if (item->kind != TL_YAML_MAP) {
        return;
    }
    for (j = 0; j + 1 < item->n; j += 2) {
        const struct tl_yaml_node *kn = item->kids[j];
        const struct tl_yaml_node *vn = item->kids[j + 1];

        if (kn->len == 4 && memcmp(kn->str, "name", 4) == 0 && vn->kind == TL_YAML_SCALAR &&
            valid_name(vn->str, vn->len) && strlen(vn->str) == vn->len) {
            snprintf(out, cap, "%s[%zu] (%s)", list, i, vn->str);
            return;
        }
    }
}

/* A list value: reports nothing/not-a-list/empty and returns false. */
static bool want_list(struct ld *ld, const struct tl_yaml_node *v, const char *path,
                      const char *items, const char *if_empty)
{
    if (tl_yaml_is_null(v)) {
        errf(ld, v->line, "%s: expected a list of %s, got nothing", path, items);
        return false;
    }
    if (v->kind != TL_YAML_SEQ) {
        errf(ld, v->line, "%s: expected a list of %s (each item starting with '- '), got %s",
             path, items, got_text(v));
        return false;
    }
    if (v->n == 0) {
        errf(ld, v->line, "%s: the list is empty; %s", path, if_empty);
        return false;
    }
    return true;
}

static bool want_item_map(struct ld *ld, const struct section *sec,
                          const struct tl_yaml_node *item, const char *where)
{
    char list[LIST_LEN];
    const char *names[MAX_KEYS];

    if (item->kind == TL_YAML_MAP) {
        return true;
    }
    key_names(sec, names);
    errf(ld, item->line, "%s: expected a mapping with keys such as %s, got %s", where,
         join(names, sec->n_keys < 3 ? sec->n_keys : 3, "", "", list, sizeof(list)),
         got_text(item));
    return false;
}

/* ---- inputs and outputs ---------------------------------------------------------------- */

static const char *listen_text(const struct tl_conf_input *in, char *out, size_t cap)
{
    if (in->host == NULL) {
        snprintf(out, cap, "port %u on all addresses", in->port);
    } else if (strchr(in->host, ':') != NULL) {
        snprintf(out, cap, "[%s]:%u", in->host, in->port);
    } else {
        snprintf(out, cap, "%s:%u", in->host, in->port);
    }
    return out;
}

static bool same_listener(const struct tl_conf_input *a, const struct tl_conf_input *b)
{
    if (a->transport != b->transport || a->transport == TL_TR_UNIX || a->port == 0 ||
        a->port != b->port) {
        return false;
    }
    return a->host == NULL || b->host == NULL || strcmp(a->host, b->host) == 0;
}

static void check_inputs(struct ld *ld, const struct tl_conf *c, char **labels)
{
    char where[SHOW_LEN];
    size_t i;
    size_t j;

    for (i = 0; i < c->n_inputs; i++) {
        const struct tl_conf_input *b = &c->inputs[i];

        for (j = 0; j < i; j++) {
            const struct tl_conf_input *a = &c->inputs[j];

            if (a->name != NULL && b->name != NULL && strcmp(a->name, b->name) == 0) {
                errf(ld, b->line, "%s.name: duplicate input name '%s'; %s at line %d "
                     "already uses it", labels[i], b->name, labels[j], a->line);
            }
            if (a->name != NULL && b->name != NULL && same_listener(a, b)) {
                errf(ld, b->line, "%s.listen: %s at line %d already listens on %s %s",
                     labels[i], labels[j], a->line, tl_transport_name(a->transport),
                     listen_text(a, where, sizeof(where)));
            }
            if (a->path != NULL && b->path != NULL && a->transport == TL_TR_UNIX &&
                b->transport == TL_TR_UNIX && strcmp(a->path, b->path) == 0) {
                errf(ld, b->line, "%s.path: %s at line %d already uses the socket '%s'",
                     labels[i], labels[j], a->line, show(b->path, strlen(b->path), where,
                                                         sizeof(where)));
            }
        }
    }
}

static void check_outputs(struct ld *ld, const struct tl_conf *c, char **labels)
{
    char shown[SHOW_LEN];
    size_t i;
    size_t j;

    for (i = 0; i < c->n_outputs; i++) {
        const struct tl_conf_output *b = &c->outputs[i];

        for (j = 0; j < i; j++) {
            const struct tl_conf_output *a = &c->outputs[j];

            if (a->name != NULL && b->name != NULL && strcmp(a->name, b->name) == 0) {
                errf(ld, b->line, "%s.name: duplicate output name '%s'; %s at line %d "
                     "already uses it", labels[i], b->name, labels[j], a->line);
            }
            if (a->path != NULL && b->path != NULL && a->type == TL_OUT_FILE &&
                b->type == TL_OUT_FILE && strcmp(a->path, b->path) == 0) {
                errf(ld, b->line, "%s.path: %s at line %d already writes to '%s'", labels[i],
                     labels[j], a->line, show(b->path, strlen(b->path), shown, sizeof(shown)));
            }
            if (a->queue_dir != NULL && b->queue_dir != NULL &&
                strcmp(a->queue_dir, b->queue_dir) == 0) {
                errf(ld, b->line, "%s.queue.dir: %s at line %d already keeps its queue in "
                     "'%s'; each forward output needs a directory of its own", labels[i],
                     labels[j], a->line,
                     show(b->queue_dir, strlen(b->queue_dir), shown, sizeof(shown)));
            }
        }
    }
}

/* ---- TLS blocks ------------------------------------------------------------------------ */

static bool is_str_key(const struct key *k)
{
    return k->type == KT_PATH || k->type == KT_STRING;
}

static void tls_free(struct tl_conf_tls *t)
{
    size_t i;

    for (i = 0; i < COUNT(tls_keys); i++) {
        const struct key *k = &tls_keys[i];
        unsigned char *field = (unsigned char *)t + k->off;
        char **list;
        char *str;
        size_t n;

        if (is_str_key(k)) {
            memcpy(&str, field, sizeof(str));
            free(str);
        } else if (k->type == KT_STRLIST) {
            memcpy(&list, field, sizeof(list));
            memcpy(&n, (unsigned char *)t + k->count_off, sizeof(n));
            free_strs(list, n);
        }
    }
    memset(t, 0, sizeof(*t));
}

/* dst = a deep copy of src; on running out of memory the copy lacks some strings. */
static void tls_copy(struct ld *ld, struct tl_conf_tls *dst, const struct tl_conf_tls *src)
{
    size_t i;
    size_t j;

    *dst = *src;
    for (i = 0; i < COUNT(tls_keys); i++) {
        const struct key *k = &tls_keys[i];
        unsigned char *field = (unsigned char *)dst + k->off;
        char **list;
        char **copy;
        char *str;
        size_t n;

        if (is_str_key(k)) {
            memcpy(&str, field, sizeof(str));
            if (str != NULL && (str = strdup(str)) == NULL) {
                ld->oom = true;
            }
            memcpy(field, &str, sizeof(str));
        } else if (k->type == KT_STRLIST) {
            memcpy(&list, field, sizeof(list));
            memcpy(&n, (unsigned char *)dst + k->count_off, sizeof(n));
            copy = list != NULL ? calloc(n ? n : 1, sizeof(*copy)) : NULL;
            if (list != NULL && copy == NULL) {
                ld->oom = true;
                n = 0;
            }
            for (j = 0; j < n && copy != NULL; j++) {
                if ((copy[j] = strdup(list[j])) == NULL) {
                    ld->oom = true;
                }
            }
            memcpy(field, &copy, sizeof(copy));
            memcpy((unsigned char *)dst + k->count_off, &n, sizeof(n));
        }
    }
}

/* Moves the value of key k from src to dst (dst's old value is freed). */
static void tls_take(const struct key *k, struct tl_conf_tls *dst, struct tl_conf_tls *src)
{
    unsigned char *to = (unsigned char *)dst + k->off;
    unsigned char *from = (unsigned char *)src + k->off;
    char **list;
    char *str;
    size_t n;

    if (is_str_key(k)) {
        memcpy(&str, to, sizeof(str));
        free(str);
        memcpy(to, from, sizeof(str));
        memset(from, 0, sizeof(str));
    } else if (k->type == KT_STRLIST) {
        memcpy(&list, to, sizeof(list));
        memcpy(&n, (unsigned char *)dst + k->count_off, sizeof(n));
        free_strs(list, n);
        memcpy(to, from, sizeof(list));
        memcpy((unsigned char *)dst + k->count_off, (unsigned char *)src + k->count_off,
               sizeof(n));
        memset(from, 0, sizeof(list));
        memset((unsigned char *)src + k->count_off, 0, sizeof(n));
    } else {
        memcpy(to, from, k->size);
    }
}

static void tls_defaults(struct tl_conf_tls *t)
{
    if (t->handshake_timeout_ms == 0) {
        t->handshake_timeout_ms = DEFAULT_HANDSHAKE_MS;
    }
    if (t->min_version == 0) {
        t->min_version = DEFAULT_TLS_VERSION;
    }
}

/* The line of the key `name` in mapping map, or the mapping's own line. */
static int key_line(const struct tl_yaml_node *map, const char *name)
{
    size_t len = strlen(name);
    size_t i;

    for (i = 0; i + 1 < map->n; i += 2) {
        if (map->kids[i]->len == len && memcmp(map->kids[i]->str, name, len) == 0) {
            return map->kids[i]->line;
        }
    }
    return map->line;
}

static void free_filerefs(struct tl_conf_fileref *f, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(f[i].key);
        free(f[i].path);
    }
    free(f);
}

/* Remembers the path keys (files; *_dir: directories) a tls: block sets, with their lines,
 * for tl_conf_check_files. "system" for ca_file is the system store, not a file. */
static void note_files(struct ld *ld, const struct tl_yaml_node **found, const char *path)
{
    size_t i;

    for (i = 0; i < tls_section.n_keys; i++) {
        const struct key *k = &tls_section.keys[i];
        const struct tl_yaml_node *v = found[i];
        struct tl_conf_fileref *f;
        size_t len = strlen(k->name);

        if (k->type != KT_PATH || v == NULL || v->kind != TL_YAML_SCALAR || v->len == 0 ||
            strlen(v->str) != v->len ||
            (strcmp(k->name, "ca_file") == 0 && strcmp(v->str, "system") == 0)) {
            continue;
        }
        if (ld->n_files == ld->cap_files) {
            size_t cap = ld->cap_files ? ld->cap_files * 2 : 8;

            f = realloc(ld->files, cap * sizeof(*f));
            if (f == NULL) {
                ld->oom = true;
                return;
            }
            ld->files = f;
            ld->cap_files = cap;
        }
        f = &ld->files[ld->n_files];
        f->key = fmt_str("%s.%s", path, k->name);
        f->path = strdup(v->str);
        f->line = v->line;
        f->dir = len > 4 && strcmp(k->name + len - 4, "_dir") == 0;
        if (f->key == NULL || f->path == NULL) {
            free(f->key);
            free(f->path);
            ld->oom = true;
            return;
        }
        ld->n_files++;
    }
}

/* Reads a tls: block into t; found[] as for walk_map. False when it is not a mapping. */
static bool walk_tls(struct ld *ld, const struct tl_yaml_node *v, struct tl_conf_tls *t,
                     const char *path, const struct tl_yaml_node **found)
{
    if (v->kind != TL_YAML_MAP) {
        errf(ld, v->line, "%s: expected a mapping of TLS settings (ca_file, cert_file, "
             "key_file, ...), got %s", path, got_text(v));
        return false;
    }
    walk_map(ld, &tls_section, v, t, path, found, -1);
    note_files(ld, found, path);
    return true;
}

/*
 * dst = the top-level block with each key the local block v (NULL: none) sets replacing
 * the inherited value; lists replace whole lists. dst->line becomes the line of the local
 * block when it sets anything. Then the defaults fill what neither set. False when the local
 * block is not a mapping (reported): the rules between keys would only add noise.
 */
static bool merge_tls(struct ld *ld, const struct tl_conf_tls *top,
                      const struct tl_yaml_node *map, const struct tl_yaml_node *v,
                      struct tl_conf_tls *dst, const char *where)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    struct tl_conf_tls local;
    char path[SHOW_LEN + 8];
    bool set = false;
    bool ok = true;
    size_t i;

    tls_copy(ld, dst, top);
    if (v != NULL) {
        memset(&local, 0, sizeof(local));
        key_path(where, "tls", path, sizeof(path));
        ok = walk_tls(ld, v, &local, path, found);
        if (ok) {
            for (i = 0; i < COUNT(tls_keys); i++) {
                if (found[i] != NULL) {
                    tls_take(&tls_keys[i], dst, &local);
                    set = true;
                }
            }
        }
        if (set) {
            dst->line = key_line(map, "tls");
        }
        tls_free(&local);
    }
    tls_defaults(dst);
    return ok;
}

/* Rules between the keys of a merged block, for an input (we are the TLS server) or a
 * forward output (the client). The daemon checks the same when it loads the files; here
 * they are found with --check and reported all at once. */
static void check_tls(struct ld *ld, const struct tl_conf_tls *t, bool input,
                      const char *where, int line)
{
    enum tl_auth_mode auth = t->auth;
    const char *dflt = "";

    if (auth == TL_AUTH_DEFAULT) {
        auth = input ? TL_AUTH_ANON : TL_AUTH_NAME;
        dflt = input ? " (the default for inputs)" : " (the default for outputs)";
        /* A CA on an input reads as "clients must have a certificate of this CA", yet
         * without auth it would let anyone in: say so instead of guessing either way. */
        if (input && (t->ca_file != NULL || t->ca_dir != NULL)) {
            errf(ld, line, "%s.tls: a CA is configured (tls.%s, here or at the top level) "
                 "but no tls.auth, so any client would be accepted, with or without a "
                 "certificate; set auth: certvalid, name or fingerprint, or auth: anon to "
                 "accept anyone", where, t->ca_file != NULL ? "ca_file" : "ca_dir");
        }
    }
    if (input && t->cert_file == NULL && t->key_file == NULL) {
        errf(ld, line, "%s.tls: a TLS input needs a certificate: set tls.cert_file and "
             "tls.key_file (make one with: tlslog cert issue)", where);
    } else if ((t->cert_file == NULL) != (t->key_file == NULL)) {
        errf(ld, line, "%s.tls: tls.cert_file and tls.key_file go together; set both", where);
    }
    if ((auth == TL_AUTH_CERTVALID || auth == TL_AUTH_NAME) && t->ca_file == NULL &&
        t->ca_dir == NULL) {
        errf(ld, line, "%s.tls: auth %s%s checks the peer's certificate against trusted "
             "CAs, but none is configured; set tls.ca_file (a PEM file, or \"system\") or "
             "tls.ca_dir", where, auth_words[auth - TL_AUTH_ANON], dflt);
    }
    if (input && auth == TL_AUTH_NAME && t->n_permitted_peers == 0) {
        errf(ld, line, "%s.tls: auth name needs tls.permitted_peers: the names (or patterns "
             "like *.example.net) of the clients allowed to send", where);
    }
    if (auth == TL_AUTH_FINGERPRINT && t->n_fingerprints == 0) {
        errf(ld, line, "%s.tls: auth fingerprint needs at least one entry in "
             "tls.fingerprints (see: tlslog cert info PEER.pem)", where);
    }
    if (auth != TL_AUTH_FINGERPRINT && t->n_fingerprints > 0) {
        errf(ld, line, "%s.tls.fingerprints: fingerprints are used only with auth: "
             "fingerprint; this one's auth is %s%s", where, auth_words[auth - TL_AUTH_ANON],
             dflt);
    }
}

/* ---- per-item rules --------------------------------------------------------------------- */

static int key_index(const struct section *sec, const char *name)
{
    return find_key(sec, name, strlen(name));
}

static void finish_input(struct ld *ld, struct tl_conf *c, void *item, int kind,
                         const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                         const char *where)
{
    struct tl_conf_input *in = item;
    const struct tl_yaml_node *tls = found[key_index(&input_section, "tls")];

    if (kind == TL_TR_RELP) {
        /* RELP over TLS exactly when the input has a tls: block of its own. */
        if (tls == NULL) {
            return;
        }
        in->relp_tls = true;
    } else if (kind != TL_TR_TLS) {
        return;
    }
    if (merge_tls(ld, &c->tls, map, tls, &in->tls, where)) {
        check_tls(ld, &in->tls, true, where, in->line);
    }
}

/* targets: "host:port", "[v6]:port" or "host"; one text or a list. */
static void parse_targets(struct ld *ld, struct tl_conf_output *out,
                          const struct tl_yaml_node *v, const char *path)
{
    const struct tl_yaml_node *const *items = (const struct tl_yaml_node *const *)&v;
    uint16_t def = out->transport == TL_TR_TLS    ? DEFAULT_TLS_PORT
                   : out->transport == TL_TR_RELP ? DEFAULT_RELP_PORT
                                                  : DEFAULT_PORT;
    char shown[SHOW_LEN];
    char why[LIST_LEN];
    size_t count = 1;
    size_t i;

    if (tl_yaml_is_null(v) || v->kind == TL_YAML_MAP) {
        errf(ld, v->line, "%s: expected a list of addresses (e.g. [\"loghost.example.net:6514\"]"
             "), got %s", path, got_text(v));
        return;
    }
    if (v->kind == TL_YAML_SEQ) {
        items = (const struct tl_yaml_node *const *)v->kids;
        count = v->n;
    }
    if (count == 0) {
        errf(ld, v->line, "%s: the list is empty; give at least one host:port", path);
        return;
    }
    out->targets = calloc(count, sizeof(*out->targets));
    if (out->targets == NULL) {
        ld->oom = true;
        return;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *item = items[i];
        char *host = NULL;
        uint16_t port = 0;

        if (item->kind != TL_YAML_SCALAR || tl_yaml_is_null(item)) {
            errf(ld, item->line, "%s[%zu]: expected an address such as "
                 "\"loghost.example.net:6514\", got %s", path, i, got_text(item));
            continue;
        }
        show_node(item, shown, sizeof(shown));
        if (strlen(item->str) != item->len) {
            errf(ld, item->line, "%s[%zu]: '%s' contains a NUL byte", path, i, shown);
            continue;
        }
        if (!tl_parse_listen(item->str, def, &host, &port, why, sizeof(why))) {
            errf(ld, item->line, "%s[%zu]: '%s' is not a target address: %s; use host:port, "
                 "[v6]:port or host", path, i, shown, why);
            continue;
        }
        if (host == NULL) {
            errf(ld, item->line, "%s[%zu]: '%s' has no host; use host:port, [v6]:port or host",
                 path, i, shown);
            continue;
        }
        if (port == 0) {
            errf(ld, item->line, "%s[%zu]: '%s': port 0 cannot be connected to; give the "
                 "server's port", path, i, shown);
            free(host);
            continue;
        }
        out->targets[out->n_targets].host = host;
        out->targets[out->n_targets].port = port;
        out->n_targets++;
    }
}

/* A key of the queue: block that only makes sense with another one. */
static void queue_needs(struct ld *ld, const struct tl_yaml_node **found, const char *key,
                        const struct tl_yaml_node *v, const char *path, const char *why)
{
    char kp[SHOW_LEN + 32];

    if (found[key_index(&queue_section, key)] != NULL) {
        errf(ld, key_line(v, key), "%s: %s %s", key_path(path, key, kp, sizeof(kp)), key,
             why);
    }
}

/* The queue: block of an output (v; NULL when absent, then every default applies). */
static void walk_queue(struct ld *ld, struct tl_conf_output *out, int kind,
                       const struct tl_yaml_node *map, const struct tl_yaml_node *v,
                       const char *where)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    struct tl_yaml_node empty;
    char path[SHOW_LEN + 16];
    char a[32];
    char b[32];

    key_path(where, "queue", path, sizeof(path));
    if (v == NULL) {
        memset(&empty, 0, sizeof(empty));
        empty.kind = TL_YAML_MAP;
        empty.line = map->line;
        v = &empty;
    } else if (v->kind != TL_YAML_MAP) {
        errf(ld, v->line, "%s: expected a mapping of queue settings (memory_messages, full, "
             "dir, ...), got %s", path, got_text(v));
        return;
    }
    walk_map(ld, &queue_section, v, out, path, found, kind);
    if (kind != TL_OUT_FORWARD) {
        return;
    }
    if (found[key_index(&queue_section, "dir")] == NULL) {
        static const char *const disk_keys[] = {"max_bytes", "sync", "sync_interval",
                                                "segment_size"};
        size_t i;

        for (i = 0; i < COUNT(disk_keys); i++) {
            queue_needs(ld, found, disk_keys[i], v, path,
                        "is about the disk queue, which needs dir; set queue.dir or remove it");
        }
        return;
    }
    if (found[key_index(&queue_section, "sync")] != NULL &&
        out->queue_sync != TL_QSYNC_INTERVAL) {
        queue_needs(ld, found, "sync_interval", v, path,
                    out->queue_sync == TL_QSYNC_NONE
                        ? "applies only with sync: interval; this one's sync is none"
                        : "applies only with sync: interval; this one's sync is always");
    }
    /* 0: an invalid value, already reported (both have a minimum above 0). */
    if (out->queue_segment_bytes != 0 && out->queue_max_bytes != 0 &&
        out->queue_segment_bytes > out->queue_max_bytes) {
        errf(ld, key_line(v, "segment_size"), "%s: segment_size (%s%s) is larger than "
             "max_bytes (%s); lower segment_size or raise max_bytes", path,
             size_text(out->queue_segment_bytes, a, sizeof(a)),
             found[key_index(&queue_section, "segment_size")] == NULL ? ", the default" : "",
             size_text(out->queue_max_bytes, b, sizeof(b)));
    }
}

static void finish_output(struct ld *ld, struct tl_conf *c, void *item, int kind,
                          const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                          const char *where)
{
    struct tl_conf_output *out = item;
    const struct tl_yaml_node *fmt = found[key_index(&output_section, "format")];
    const struct tl_yaml_node *framing = found[key_index(&output_section, "framing")];
    const struct tl_yaml_node *targets = found[key_index(&output_section, "targets")];
    const struct tl_yaml_node *tls = found[key_index(&output_section, "tls")];
    const struct tl_yaml_node *window = found[key_index(&output_section, "relp_window")];
    char path[SHOW_LEN + 16];
    char a[32];
    char b[32];
    int f;

    walk_queue(ld, out, kind, map, found[key_index(&output_section, "queue")], where);
    if (kind != TL_OUT_FORWARD) {
        return;
    }
    if (fmt == NULL) {
        out->format = TL_FMT_RFC5424;
    } else if (fmt->kind == TL_YAML_SCALAR && (f = tl_format_from_name(fmt->str)) >= 0 &&
               f != TL_FMT_RFC5424 && f != TL_FMT_RFC3164) {
        errf(ld, fmt->line, "%s.format: '%s' cannot be sent to a syslog server; forward "
             "outputs use rfc5424 or rfc3164", where, fmt->str);
    }
    if (out->transport == TL_TR_UDP || out->transport == TL_TR_RELP) {
        if (framing != NULL) {
            errf(ld, key_line(map, "framing"), "%s.framing: framing applies only to tcp and "
                 "tls forwarding; %s", where, out->transport == TL_TR_UDP
                                                  ? "udp sends one message per datagram"
                                                  : "relp frames each message itself");
        }
    } else if (framing == NULL) {
        out->framing = out->transport == TL_TR_TLS ? TL_FRAMING_OCTET : TL_FRAMING_LF;
    }
    if (targets != NULL) {
        key_path(where, "targets", path, sizeof(path));
        parse_targets(ld, out, targets, path);
    }
    /* 0: an invalid value, already reported (both have a minimum above 0). */
    if (out->reconnect_max_ms != 0 && out->reconnect_max_ms < out->reconnect_min_ms) {
        errf(ld, key_line(map, "reconnect_max"), "%s.reconnect_max: %s is less than "
             "reconnect_min (%s); it must be at least as long", where,
             duration_text(out->reconnect_max_ms, a, sizeof(a)),
             duration_text(out->reconnect_min_ms, b, sizeof(b)));
    }
    if (window != NULL && out->transport != TL_TR_RELP) {
        errf(ld, key_line(map, "relp_window"), "%s.relp_window: relp_window applies only to "
             "forward outputs with transport relp; this one's transport is %s", where,
             tl_transport_name(out->transport));
    }
    if (out->transport == TL_TR_RELP && tls != NULL) {
        out->relp_tls = true; /* RELP over TLS exactly when the output has a tls: block */
    } else if (out->transport != TL_TR_TLS) {
        if (tls != NULL) {
            errf(ld, key_line(map, "tls"), "%s.tls: tls applies only to forward outputs with "
                 "transport tls or relp; this one's transport is %s", where,
                 tl_transport_name(out->transport));
        }
        return;
    }
    if (merge_tls(ld, &c->tls, map, tls, &out->tls, where)) {
        check_tls(ld, &out->tls, false, where, out->line);
    }
}

static void free_labels(char **labels, size_t n)
{
    size_t i;

    if (labels == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(labels[i]);
    }
    free(labels);
}

/*
 * Walks a list of input or output mappings into a new array of item_size elements. Returns
 * the array (zeroed where items were bad) and the labels used in messages.
 */
typedef void (*item_fn)(struct ld *ld, struct tl_conf *c, void *item, int kind,
                        const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                        const char *where);

static void *walk_items(struct ld *ld, struct tl_conf *c, const struct section *sec,
                        const char *list, const struct tl_yaml_node *seq, size_t item_size,
                        size_t line_off, item_fn done, size_t *n_out, char ***labels_out)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    char where[SHOW_LEN];
    char if_empty[64];
    unsigned char *items;
    char **labels;
    size_t i;

    *n_out = 0;
    *labels_out = NULL;
    snprintf(if_empty, sizeof(if_empty), "define at least one %.*s",
             (int)strlen(sec->plural) - 1, sec->plural);
    if (!want_list(ld, seq, list, sec->plural, if_empty)) {
        return NULL;
    }
    items = calloc(seq->n, item_size);
    labels = calloc(seq->n, sizeof(*labels));
    if (items == NULL || labels == NULL) {
        free(items);
        free(labels);
        ld->oom = true;
        return NULL;
    }
    for (i = 0; i < seq->n; i++) {
        const struct tl_yaml_node *item = seq->kids[i];
        unsigned char *base = items + i * item_size;
        int line = item->line;

        item_label(list, i, item, where, sizeof(where));
        labels[i] = strdup(where);
        if (labels[i] == NULL) {
            ld->oom = true;
        }
        memcpy(base + line_off, &line, sizeof(line));
        if (want_item_map(ld, sec, item, where)) {
            int kind = walk_map(ld, sec, item, base, where, found, -1);

            done(ld, c, base, kind, item, found, where);
        }
    }
    *n_out = seq->n;
    *labels_out = labels;
    return items;
}

/* ---- routes ---------------------------------------------------------------------------- */

/*
 * Resolves "from"/"to": a name or a list of names, each one of names[0..n). Returns a new
 * array of indexes (count in *n_out), or NULL after reporting.
 */
static size_t *resolve(struct ld *ld, const struct tl_yaml_node *v, const char *path,
                       const char *what, const char *const *names, size_t n, size_t *n_out)
{
    const struct tl_yaml_node *one[1];
    const struct tl_yaml_node *const *list;
    char shown[SHOW_LEN];
    char defined[LIST_LEN];
    char dym[96];
    size_t count;
    size_t *idx;
    size_t got = 0;
    bool ok = true;
    size_t i;
    size_t j;

    *n_out = 0;
    if (tl_yaml_is_null(v) || v->kind == TL_YAML_MAP) {
        errf(ld, v->line, "%s: expected an %s name or a list of them, got %s", path, what,
             got_text(v));
        return NULL;
    }
    if (v->kind == TL_YAML_SCALAR) {
        one[0] = v;
        list = one;
        count = 1;
    } else {
        list = (const struct tl_yaml_node *const *)v->kids;
        count = v->n;
    }
    if (count == 0) {
        errf(ld, v->line, "%s: the list is empty; name at least one %s", path, what);
        return NULL;
    }
    idx = calloc(count, sizeof(*idx));
    if (idx == NULL) {
        ld->oom = true;
        return NULL;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *item = list[i];
        bool dup = false;

        if (item->kind != TL_YAML_SCALAR || tl_yaml_is_null(item)) {
            errf(ld, item->line, "%s: expected an %s name, got %s", path, what,
                 got_text(item));
            ok = false;
            continue;
        }
        for (j = 0; j < n; j++) {
            if (names[j] != NULL && strlen(names[j]) == item->len &&
                memcmp(names[j], item->str, item->len) == 0) {
                break;
            }
        }
        if (j == n) {
            errf(ld, item->line, "%s: unknown %s '%s'; defined %ss: %s%s", path, what,
                 show_node(item, shown, sizeof(shown)), what,
                 join(names, n, "", "", defined, sizeof(defined)),
                 did_you_mean(item->str, item->len, names, n, dym, sizeof(dym)));
            ok = false;
            continue;
        }
        for (size_t k = 0; k < got; k++) {
            if (idx[k] == j) {
                dup = true;
            }
        }
        if (dup) {
            errf(ld, item->line, "%s: %s '%s' is listed twice", path, what, names[j]);
            ok = false;
            continue;
        }
        idx[got++] = j;
    }
    if (!ok) {
        free(idx);
        return NULL;
    }
    *n_out = got;
    return idx;
}

static bool route_has(const size_t *list, size_t n, size_t v)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (list[i] == v) {
            return true;
        }
    }
    return false;
}

/* The same input-to-output pair in two routes would deliver each message twice. */
static void check_route_pairs(struct ld *ld, const struct tl_conf *c)
{
    size_t r;
    size_t q;
    size_t f;
    size_t t;

    for (r = 0; r < c->n_routes; r++) {
        const struct tl_conf_route *b = &c->routes[r];
        bool reported = false;

        for (q = 0; q < r && !reported; q++) {
            const struct tl_conf_route *a = &c->routes[q];

            for (f = 0; f < b->n_from && !reported; f++) {
                for (t = 0; t < b->n_to && !reported; t++) {
                    if (route_has(a->from, a->n_from, b->from[f]) &&
                        route_has(a->to, a->n_to, b->to[t])) {
                        errf(ld, b->line, "routes[%zu]: input '%s' already goes to output "
                             "'%s' by routes[%zu] at line %d; each message would be written "
                             "twice", r, c->inputs[b->from[f]].name, c->outputs[b->to[t]].name,
                             q, a->line);
                        reported = true;
                    }
                }
            }
        }
    }
}

/* An input no route reads from is silently dropped traffic; an output no route feeds
 * never gets anything. Both are mistakes worth stopping for. */
static void check_route_coverage(struct ld *ld, const struct tl_conf *c, char **in_labels,
                                 char **out_labels)
{
    size_t i;
    size_t r;

    for (i = 0; i < c->n_inputs; i++) {
        bool used = false;

        for (r = 0; r < c->n_routes; r++) {
            used = used || route_has(c->routes[r].from, c->routes[r].n_from, i);
        }
        if (!used && c->inputs[i].name != NULL) {
            errf(ld, c->inputs[i].line, "%s: input '%s' is not used by any route; add it to "
                 "a route or remove it", in_labels[i], c->inputs[i].name);
        }
    }
    for (i = 0; i < c->n_outputs; i++) {
        bool used = false;

        for (r = 0; r < c->n_routes; r++) {
            used = used || route_has(c->routes[r].to, c->routes[r].n_to, i);
        }
        if (!used && c->outputs[i].name != NULL) {
            errf(ld, c->outputs[i].line, "%s: output '%s' is not used by any route; add it "
                 "to a route or remove it", out_labels[i], c->outputs[i].name);
        }
    }
}

/* name, or NULL when names[0..n) already holds it */
static const char *first_use(const char **names, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n && name != NULL; i++) {
        if (names[i] != NULL && strcmp(names[i], name) == 0) {
            return NULL;
        }
    }
    return name;
}

static void walk_routes(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *seq,
                        char **in_labels, char **out_labels)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    const char **in_names;
    const char **out_names;
    char where[64];
    char path[96];
    size_t before = error_count(ld);
    size_t i;

    if (!want_list(ld, seq, "routes", "routes",
                   "remove the key to send every input to every output")) {
        return;
    }
    c->routes = calloc(seq->n, sizeof(*c->routes));
    in_names = calloc(c->n_inputs + 1, sizeof(*in_names));
    out_names = calloc(c->n_outputs + 1, sizeof(*out_names));
    if (c->routes == NULL || in_names == NULL || out_names == NULL) {
        ld->oom = true;
        goto out;
    }
    c->n_routes = seq->n;
    /* A repeated name (already reported) is left out, so it resolves to its first use
     * and is listed once in "defined inputs: ...". */
    for (i = 0; i < c->n_inputs; i++) {
        in_names[i] = first_use(in_names, i, c->inputs[i].name);
    }
    for (i = 0; i < c->n_outputs; i++) {
        out_names[i] = first_use(out_names, i, c->outputs[i].name);
    }
    for (i = 0; i < seq->n; i++) {
        const struct tl_yaml_node *item = seq->kids[i];
        struct tl_conf_route *r = &c->routes[i];

        snprintf(where, sizeof(where), "routes[%zu]", i);
        r->line = item->line;
        if (!want_item_map(ld, &route_section, item, where)) {
            continue;
        }
        walk_map(ld, &route_section, item, r, where, found, -1);
        if (found[0] != NULL) {
            snprintf(path, sizeof(path), "%s.from", where);
            r->from = resolve(ld, found[0], path, "input", in_names, c->n_inputs, &r->n_from);
        }
        if (found[1] != NULL) {
            snprintf(path, sizeof(path), "%s.to", where);
            r->to = resolve(ld, found[1], path, "output", out_names, c->n_outputs, &r->n_to);
        }
    }
    /* After a bad route every coverage message would be noise. */
    if (error_count(ld) == before) {
        check_route_pairs(ld, c);
        check_route_coverage(ld, c, in_labels, out_labels);
    }
out:
    free(in_names);
    free(out_names);
}

/* ---- metrics ----------------------------------------------------------------------------- */

/* The metrics: block (v): listen is an address of this host; the port defaults to 9514. */
static void walk_metrics(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *v,
                         int line)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    char why[256];
    char shown[SHOW_LEN];

    if (v->kind != TL_YAML_MAP) {
        errf(ld, v->line, "metrics: expected a mapping such as {listen: \"127.0.0.1:9514\"}, "
             "got %s", got_text(v));
        return;
    }
    c->metrics.line = line;
    walk_map(ld, &metrics_section, v, &c->metrics, "metrics", found, -1);
    if (c->metrics.listen == NULL) {
        return; /* missing or invalid: already reported */
    }
    if (!tl_parse_listen(c->metrics.listen, DEFAULT_METRICS_PORT, &c->metrics.host,
                         &c->metrics.port, why, sizeof(why))) {
        errf(ld, key_line(v, "listen"), "metrics.listen: '%s' is not a listen address: %s; "
             "use host:port, [v6]:port, :port or port",
             show(c->metrics.listen, strlen(c->metrics.listen), shown, sizeof(shown)), why);
    }
}

/* ---- top level ------------------------------------------------------------------------- */

static void walk_top(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *root)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    const char *names[MAX_KEYS];
    char list[LIST_LEN];
    char **in_labels = NULL;
    char **out_labels = NULL;
    int i_in = find_key(&top_section, "inputs", 6);
    int i_out = find_key(&top_section, "outputs", 7);
    int i_routes = find_key(&top_section, "routes", 6);
    int i_tls = find_key(&top_section, "tls", 3);
    int i_metrics = find_key(&top_section, "metrics", 7);
    const struct tl_yaml_node *tls_found[MAX_KEYS];

    if (tl_yaml_is_null(root)) {
        errf(ld, 1, "the configuration is empty; it needs at least 'inputs' and "
             "'outputs' (see examples/minimal.yaml)");
        return;
    }
    if (root->kind != TL_YAML_MAP) {
        key_names(&top_section, names);
        errf(ld, root->line, "the top level must be a mapping of keys (%s), not %s",
             join(names, top_section.n_keys, "", "", list, sizeof(list)), got_text(root));
        return;
    }
    walk_map(ld, &top_section, root, c, "", found, -1);
    if (found[i_tls] != NULL) {
        c->tls.line = key_line(root, "tls");
        walk_tls(ld, found[i_tls], &c->tls, "tls", tls_found);
    }
    tls_defaults(&c->tls);
    if (found[i_metrics] != NULL) {
        walk_metrics(ld, c, found[i_metrics], key_line(root, "metrics"));
    }
    if (found[i_in] != NULL) {
        c->inputs = walk_items(ld, c, &input_section, "inputs", found[i_in],
                               sizeof(*c->inputs), offsetof(struct tl_conf_input, line),
                               finish_input, &c->n_inputs, &in_labels);
        check_inputs(ld, c, in_labels);
    }
    if (found[i_out] != NULL) {
        c->outputs = walk_items(ld, c, &output_section, "outputs", found[i_out],
                                sizeof(*c->outputs), offsetof(struct tl_conf_output, line),
                                finish_output, &c->n_outputs, &out_labels);
        check_outputs(ld, c, out_labels);
    }
    if (found[i_routes] != NULL && c->inputs != NULL && c->outputs != NULL) {
        walk_routes(ld, c, found[i_routes], in_labels, out_labels);
    }
    free_labels(in_labels, c->n_inputs);
    free_labels(out_labels, c->n_outputs);
}

/* ---- entry points ---------------------------------------------------------------------- */

void tl_conf_free(struct tl_conf *c)
{
    size_t i;
    size_t j;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < c->n_inputs; i++) {
        free(c->inputs[i].name);
        free(c->inputs[i].host);
        free(c->inputs[i].path);
        tls_free(&c->inputs[i].tls);
    }
    for (i = 0; i < c->n_outputs; i++) {
        free(c->outputs[i].name);
        free(c->outputs[i].path);
        for (j = 0; j < c->outputs[i].n_targets; j++) {
            free(c->outputs[i].targets[j].host);
        }
        free(c->outputs[i].targets);
        free(c->outputs[i].queue_dir);
        tls_free(&c->outputs[i].tls);
    }
    for (i = 0; i < c->n_routes; i++) {
        free(c->routes[i].from);
        free(c->routes[i].to);
    }
    free(c->inputs);
    free(c->outputs);
    free(c->routes);
    free_filerefs(c->files, c->n_files);
    tls_free(&c->tls);
    free(c->port_file);
    free(c->pid_file);
    free(c->user);
    free(c->group);
    free(c->metrics.listen);
    free(c->metrics.host);
    free(c->file);
    free(c);
}

static struct tl_conf *finish(struct ld *ld, struct tl_conf *c, struct tl_conf_errors *errs)
{
    if (error_count(ld) > 0) {
        tl_conf_free(c);
        c = NULL;
    }
    give_errors(ld, errs);
    return c;
}

struct tl_conf *tl_conf_load_string(const char *text, size_t len, const char *name,
                                    struct tl_conf_errors *errs)
{
    struct ld ld;
    struct tl_yaml_node *root;
    struct tl_conf *c;
    char msg[1024];
    int line = 0;

    memset(&ld, 0, sizeof(ld));
    ld.file = name != NULL ? name : "<string>";
    if (errs != NULL) {
        errs->lines = NULL;
        errs->n = 0;
    }
    root = tl_yaml_parse(text, len, &line, msg, sizeof(msg));
    if (root == NULL) {
        errf(&ld, line, "%s", msg);
        return finish(&ld, NULL, errs);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->file = strdup(ld.file)) == NULL) {
        ld.oom = true;
    } else {
        walk_top(&ld, c, root);
    }
    tl_yaml_free(root);
    if (c != NULL) {
        c->files = ld.files;
        c->n_files = ld.n_files;
    } else {
        free_filerefs(ld.files, ld.n_files);
    }
    return finish(&ld, c, errs);
}

/* Why path cannot be used as a file (dir: a directory), or NULL when it can. */
static const char *unreadable(const char *path, bool dir, int *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (dir ? O_DIRECTORY : 0));

    *err = 0;
    if (fd < 0) {
        *err = errno;
        return strerror(errno);
    }
    if (fstat(fd, &st) < 0) {
        *err = errno;
        close(fd);
        return strerror(*err);
    }
    close(fd);
    if (!dir && S_ISDIR(st.st_mode)) {
        return "it is a directory, not a file";
    }
    if (!dir && !S_ISREG(st.st_mode)) {
        return "it is not a regular file";
    }
    return NULL;
}

/* What a TLS file key should point at, for the remedy of tl_conf_check_files. */
static const char *file_role(const char *key)
{
    static const char *const roles[][2] = {
        {"ca_file", "the PEM certificates of the CAs that issued the peers' certificates"},
        {"ca_dir", "a directory of CA certificates named by hash (openssl rehash DIR)"},
        {"cert_file", "this side's certificate in PEM, then its intermediates (tlslog cert "
                      "issue makes one)"},
        {"key_file", "the PEM private key of cert_file"},
        {"key_password_file", "a file whose first line is the password of key_file"},
        {"crl_file", "the CAs' revocation lists in PEM (tlslog cert revoke writes one)"},
    };
    size_t i;

    for (i = 0; i < COUNT(roles); i++) {
        if (strcmp(key, roles[i][0]) == 0) {
            return roles[i][1];
        }
    }
    return "the file this key names";
}

bool tl_conf_check_files(const struct tl_conf *c, struct tl_conf_errors *errs)
{
    struct ld ld;
    char cwd[512];
    size_t i;

    memset(&ld, 0, sizeof(ld));
    ld.file = c->file;
    if (errs != NULL) {
        errs->lines = NULL;
        errs->n = 0;
    }
    for (i = 0; i < c->n_files; i++) {
        const struct tl_conf_fileref *f = &c->files[i];
        const char *key = strrchr(f->key, '.') + 1;
        char where[600] = "";
        int err;
        const char *why = unreadable(f->path, f->dir, &err);

        if (why == NULL) {
            continue;
        }
        /* A relative path is taken from the working directory, not from the configuration
         * file's directory: say which one, it is the usual surprise. */
        if (f->path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
            snprintf(where, sizeof(where), " (relative to the working directory %s)", cwd);
        }
        if (err == EACCES) {
            errf(&ld, f->line, "%s: cannot read %s '%s'%s: %s; let the user tlslogd runs as "
                 "read it (chown, or a group it is in with chmod 640)", f->key,
                 f->dir ? "directory" : "file", f->path, where, why);
        } else {
            errf(&ld, f->line, "%s: cannot read %s '%s'%s: %s; %s must name %s: fix the "
                 "path%s", f->key, f->dir ? "directory" : "file", f->path, where, why, key,
                 file_role(key),
                 err != ENOENT ? "" : f->dir ? " or create it" : " or put the file there");
        }
    }
    give_errors(&ld, errs);
    return ld.n_errs == 0;
}

/* Reads a whole file, at most MAX_FILE_SIZE bytes; errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
    char *data = NULL;
    size_t cap = 0;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        return NULL;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    for (;;) {
        ssize_t r;

        if (n == cap) {
            char *p;

            if (cap >= MAX_FILE_SIZE) {
                free(data);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            cap = cap ? cap * 2 : 16384;
            p = realloc(data, cap + 1);
            if (p == NULL) {
                free(data);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            data = p;
        }
        r = read(fd, data + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;

            free(data);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    data[n] = '\0';
    *len = n;
    return data;
}

struct tl_conf *tl_conf_load_file(const char *path, struct tl_conf_errors *errs)
{
    struct tl_conf *c;
    size_t len = 0;
    char *text = read_file(path, &len);

    if (text == NULL) {
        struct ld ld;

        memset(&ld, 0, sizeof(ld));
        ld.file = path;
        if (errs != NULL) {
            errs->lines = NULL;
            errs->n = 0;
        }
        if (errno == EFBIG) {
            errf(&ld, 0, "cannot read %s: the file is larger than %u MiB", path,
                 MAX_FILE_SIZE / (1024 * 1024));
        } else {
            errf(&ld, 0, "cannot read %s: %s", path, strerror(errno));
        }
        return finish(&ld, NULL, errs);
    }
    c = tl_conf_load_string(text, len, path, errs);
    free(text);
    return c;
}

/* ---- the reference for docs/configuration.md ------------------------------------------- */

static void ref_type(struct tl_buf *b, const struct key *k)
{
    char r[64];
    size_t i;

    switch (k->type) {
    case KT_UINT:
        tl_buf_printf(b, "integer %s", range_text(k, r, sizeof(r)));
        break;
    case KT_SIZE:
        tl_buf_printf(b, "size %s", range_text(k, r, sizeof(r)));
        break;
    case KT_DURATION:
        tl_buf_printf(b, "duration %s", range_text(k, r, sizeof(r)));
        break;
    case KT_ENUM:
        for (i = 0; k->words[i] != NULL; i++) {
            tl_buf_printf(b, "%s`%s`", i ? ", " : "", k->words[i]);
        }
        break;
    case KT_BOOL:
        tl_buf_puts(b, "boolean");
        break;
    case KT_MODE:
        tl_buf_puts(b, "octal mode");
        break;
    case KT_NAME:
        tl_buf_puts(b, "name");
        break;
    case KT_PATH:
    case KT_SOCKPATH:
        tl_buf_puts(b, "path");
        break;
    case KT_TEMPLATE:
        tl_buf_puts(b, "path template");
        break;
    case KT_LISTEN:
        tl_buf_puts(b, "address");
        break;
    case KT_LIST:
        tl_buf_puts(b, "list");
        break;
    case KT_STRING:
        tl_buf_puts(b, "text");
        break;
    case KT_STRLIST:
        tl_buf_puts(b, "text or list");
        break;
    case KT_TARGETS:
        tl_buf_puts(b, "address or list");
        break;
    case KT_TLS:
    case KT_QUEUE:
    case KT_METRICS:
        tl_buf_puts(b, "mapping");
        break;
    case KT_NAMES:
    default:
        tl_buf_puts(b, "name or list");
        break;
    }
}

static void ref_section(struct tl_buf *b, const struct section *sec)
{
    char kinds[64];
    size_t i;

    tl_buf_printf(b, "### %s\n\n", sec->title);
    tl_buf_puts(b, "| Key | Type | Required | Default | Description |\n");
    tl_buf_puts(b, "|---|---|---|---|---|\n");
    for (i = 0; i < sec->n_keys; i++) {
        const struct key *k = &sec->keys[i];

        tl_buf_printf(b, "| `%s` | ", k->name);
        ref_type(b, k);
        if (k->required == ALWAYS) {
            tl_buf_puts(b, " | yes | ");
        } else if (k->required != 0) {
            tl_buf_printf(b, " | %s | ", kinds_text(sec, k->required, kinds, sizeof(kinds)));
        } else {
            tl_buf_puts(b, " | no | ");
        }
        if (k->doc_def != NULL) {
            tl_buf_puts(b, k->doc_def);
        } else if (k->def != NULL) {
            tl_buf_printf(b, "`%s`", k->def);
        } else {
            tl_buf_puts(b, "-");
        }
        tl_buf_puts(b, " | ");
        if (k->applies != 0) {
            tl_buf_printf(b, "*%s only:* ", kinds_text(sec, k->applies, kinds, sizeof(kinds)));
        }
        tl_buf_printf(b, "%s |\n", k->help);
    }
    tl_buf_puts(b, "\n");
}

char *tl_conf_reference_markdown(void)
{
    struct tl_buf b;
    size_t i;
    char *s;

    tl_buf_init(&b, 0);
    ref_section(&b, &top_section);
    ref_section(&b, &input_section);
    ref_section(&b, &output_section);
    ref_section(&b, &queue_section);
    ref_section(&b, &route_section);
    ref_section(&b, &tls_section);
    ref_section(&b, &metrics_section);
    tl_buf_puts(&b, "### Path placeholders\n\n");
    tl_buf_puts(&b, "| Placeholder | Replaced by |\n");
    tl_buf_puts(&b, "|---|---|\n");
    for (i = 0; i < COUNT(placeholders); i++) {
        tl_buf_printf(&b, "| `{%s}` | %s |\n", placeholders[i].name, placeholders[i].help);
    }
    if (!tl_buf_putc(&b, '\0')) {
        tl_buf_fini(&b);
        return NULL;
    }
    s = (char *)b.data;
    return s;
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
