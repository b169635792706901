/*
 * conf.h: the configuration, loaded from YAML into plain immutable structs.
 *
 * tl_conf_load parses and validates a whole file and reports every error it finds, each
 * naming file, line and key and saying what is allowed. A loaded tl_conf is never modified;
 * a reload loads a new one. All strings are owned by the tl_conf.
 */
#ifndef TL_CONF_CONF_H
#define TL_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "frame/frame.h"
#include "parse/format.h"

enum tl_transport {
    TL_TR_UDP = 0,
    TL_TR_TCP,
    TL_TR_UNIX,
    TL_TR_TLS,
    TL_TR_RELP, /* RELP (rsyslog's reliable protocol); over TLS when relp_tls */
    TL_TR_FILE, /* files followed like tail -F (in/in_file.c) */
    TL_TR_JOURNAL, /* the systemd journal (sd-journal) */
    TL_TR_KMSG,    /* the kernel log, /dev/kmsg */
};

/* Where a source with a saved position (a file, the journal, kmsg) starts when it has
 * none yet (first start). */
enum tl_start_at {
    TL_START_BEGINNING = 0,
    TL_START_END,
};

enum tl_output_type {
    TL_OUT_FILE = 0,
    TL_OUT_STDOUT,
    TL_OUT_FORWARD,
    TL_OUT_KAFKA,
};

/* A kafka output's SASL mechanism (sasl.mechanism); NONE without a sasl: block. */
enum tl_sasl_mech {
    TL_SASL_NONE = 0,
    TL_SASL_PLAIN,
    TL_SASL_SCRAM_SHA_256,
    TL_SASL_SCRAM_SHA_512,
};

/* What a full in-memory queue does to the inputs that feed it. */
enum tl_queue_full {
    TL_QFULL_BLOCK = 0, /* inputs stop reading until there is room (default) */
    TL_QFULL_DROP,      /* the new message is dropped and counted */
};

/* When a forward output's disk queue is fsync'ed; a file output's sync takes the same words
 * but not interval (it has no sync timer; the loader refuses it there). */
enum tl_queue_sync {
    TL_QSYNC_NONE = 0,  /* never: the kernel writes when it likes */
    TL_QSYNC_INTERVAL,  /* every queue_sync_interval_ms (default) */
    TL_QSYNC_ALWAYS,    /* after every write to the queue (file: after every batch) */
};

/* How a forward output uses its targets. */
enum tl_fwd_mode {
    TL_FWD_FAILOVER = 0, /* one connection, to the first reachable target in order (default) */
    TL_FWD_ROUND_ROBIN,  /* one connection per target; batches take turns */
    TL_FWD_HASH,         /* one connection per target; hash_key picks it (rendezvous hashing) */
};

/* Peer authentication modes (the names rsyslog uses), RFC 5425 §5. */
enum tl_auth_mode {
    TL_AUTH_DEFAULT = 0, /* not configured: anon on inputs, name on outputs */
    TL_AUTH_ANON,
    TL_AUTH_CERTVALID,
    TL_AUTH_NAME,
    TL_AUTH_FINGERPRINT,
};

/*
 * TLS settings: the top-level tls: block, merged key by key with an input's or output's own
 * tls: block (the local value wins). Unset strings are NULL, unset numbers 0.
 */
struct tl_conf_tls {
    int line;                      /* of the block that defined it (0: none) */
    char *ca_file;                 /* "system" = the system trust store */
    char *ca_dir;                  /* OpenSSL hashed directory */
    char *cert_file;               /* leaf first, then the chain */
    char *key_file;
    char *key_password_file;
    char *crl_file;
    unsigned min_version;          /* 12 (default) or 13 */
    char *ciphers;                 /* TLS 1.2 cipher list */
    char *ciphersuites;            /* TLS 1.3 suites */
    uint64_t handshake_timeout_ms; /* default 10 s */
    enum tl_auth_mode auth;
    char **permitted_peers;
    size_t n_permitted_peers;
    char **fingerprints;
    size_t n_fingerprints;
};

/* One forward target: "host:port". */
struct tl_conf_target {
    char *host;
    uint16_t port;
};

struct tl_conf_input {
    char *name;
    int line;                    /* where it is defined, for messages */
    enum tl_transport transport;
    char *host;                  /* listen address; NULL = all addresses (IPv6 and IPv4) */
    uint16_t port;               /* 0 = pick one (tests); see port_file */
    char *path;                  /* unix: socket path */
    unsigned socket_mode;        /* unix: permissions of the socket file (default 0666) */
    enum tl_framing framing;     /* tcp and tls */
    size_t max_message_size;     /* default 64 KiB */
    size_t max_connections;      /* tcp, tls and relp: default 10000 */
    size_t max_conn_per_source;  /* tcp, tls and relp: per peer address, default 64 */
    size_t max_handshakes;       /* tls and relp over TLS: in flight, default 256 */
    uint64_t idle_timeout_ms;    /* tcp, tls and relp: after the handshake; 0 = off; 10 min */
    size_t recv_buffer;          /* SO_RCVBUF for udp/unix, 0 = kernel default */
    struct tl_conf_tls tls;      /* tls, and relp with relp_tls: merged with the top-level
                                  * block; zero otherwise */
    bool hostname_must_match_cert; /* tls: reject messages whose HOSTNAME is not a cert name */
    bool relp_tls;               /* relp: over TLS (the input has its own tls: block, even
                                  * an empty one) */
    /* file: path above is the glob of the files to follow */
    enum tl_start_at start_at;   /* file, journal, kmsg: where a first start begins */
    char *tag;                   /* APP-NAME of its lines; NULL: the file's base name */
    uint32_t facility;           /* default user (1) */
    uint32_t severity;           /* default notice (5) */
    char *multiline_start;       /* PCRE2: a line that does not match continues the message */
    uint64_t partial_timeout_ms; /* how long a last line without newline waits; default 5 s */
    bool systemd_socket;         /* unix: take the socket systemd passed (LISTEN_FDS) for path */
    /* rate_limit: per source (peer address; sending PID on unix), core/source_limit.h */
    bool rate_limit;             /* the block is given */
    unsigned rate_burst;         /* messages per interval and source, default 10000 */
    uint64_t rate_interval_ms;   /* default 5 s */
    unsigned rate_max_sources;   /* sources tracked per worker, default 4096 */
    char *journal_dir;           /* journal: read this directory's files; NULL: the system's */
};

struct tl_conf_output {
    char *name;
    int line;
    enum tl_output_type type;
    char *path;                  /* file: path template with {hostname} etc. */
    enum tl_format format;
    uint64_t flush_interval_ms;  /* default 1000 */
    size_t buffer_size;          /* write buffer per open file, default 64 KiB */
    unsigned max_open_files;     /* default 256 */
    unsigned file_mode;          /* default 0640 */
    unsigned dir_mode;           /* default 0755 */
    size_t queue_messages;       /* queue.memory_messages: in-memory bound, default 100000 */
    size_t queue_memory_bytes;   /* queue.memory_bytes: the same in bytes, default 8 MiB */
    enum tl_queue_full full;     /* queue.full: block (default) or drop */
    enum tl_queue_sync sync;     /* file: none (default) or always: fsync after each batch
                                  * written; never interval */
    /* forward: (kafka: brokers, the bootstrap servers) */
    struct tl_conf_target *targets; /* failover: tried in order; first reachable wins */
    size_t n_targets;
    enum tl_fwd_mode mode;       /* failover (default), round_robin, hash */
    char *hash_key;              /* mode hash: a template; NULL: "{hostname}" */
    enum tl_transport transport; /* tls (default), tcp, udp, relp */
    enum tl_framing framing;     /* octet-counted on tls (default), lf on tcp by default;
                                  * unused on udp and relp */
    uint64_t reconnect_min_ms;   /* first retry delay, default 1 s; doubles up to max */
    uint64_t reconnect_max_ms;   /* default 60 s */
    uint64_t connect_timeout_ms; /* TCP connect, default 10 s */
    uint64_t drain_timeout_ms;   /* queue.drain_timeout: at shutdown, how long to keep
                                  * delivering; default 10 s */
    struct tl_conf_tls tls;      /* transport tls, relp with relp_tls, kafka with kafka_tls:
                                  * merged with the top-level block */
    bool relp_tls;               /* relp: over TLS (the output has its own tls: block) */
    size_t relp_window;          /* relp: unacknowledged messages in flight, default 1024 */
    /* kafka: */
    char *topic;                 /* topic template ({facility} etc.) */
    char *key;                   /* partition key template; NULL: no key */
    bool kafka_tls;              /* TLS to the brokers (the output has a tls: block) */
    enum tl_sasl_mech sasl_mechanism;
    char *sasl_username;
    char *sasl_password_file;    /* read at start; its mode is checked like a key file's */
    char **properties;           /* librdkafka pass-through: name, value, name, value, ...;
                                  * checked by the output kind (out/out.h: check), not here */
    int *property_lines;         /* the line of each pair, for those checks' messages */
    size_t n_properties;         /* pairs */
    /* forward and kafka: the disk part of the queue (queue.*; only when queue_dir is set) */
    char *queue_dir;             /* NULL: memory only */
    uint64_t queue_max_bytes;    /* default 1 GiB, at least 1 MiB */
    enum tl_queue_sync queue_sync; /* default interval */
    uint64_t queue_sync_interval_ms; /* default 1 s */
    uint64_t queue_segment_bytes;  /* size of one queue file, default 8 MiB */
};

struct tl_filter;

struct tl_conf_route {
    int line;
    size_t n_from;
    size_t *from;                /* indexes into inputs */
    size_t n_to;
    size_t *to;                  /* indexes into outputs */
    struct tl_filter *where;     /* where: compiled at load (route/filter.h); NULL: every
                                  * message (no where:, or an empty one) */
    char *where_text;            /* the same filter as one text, for the reload's diff
                                  * (NULL with where NULL, or when out of memory) */
};

/* A file or directory the configuration names (the TLS blocks' paths), kept for
 * tl_conf_check_files: where it was written and under which key. */
struct tl_conf_fileref {
    char *key;                   /* "inputs[tls-in].tls.cert_file" */
    char *path;                  /* as written */
    int line;
    bool dir;                    /* a directory of files (ca_dir), not a file */
};

/* The metrics: block: a Prometheus endpoint (src/daemon/metrics.c). */
struct tl_conf_metrics {
    int line;                    /* of the block (0: no metrics: block, nothing served) */
    char *listen;                /* as written: "127.0.0.1:9514" */
    char *host;                  /* parsed: NULL = every address */
    uint16_t port;               /* default 9514 */
};

struct tl_conf {
    char *file;                  /* as given, or "<embedded>" */
    unsigned workers;            /* 0 = number of CPUs */
    enum tl_log_level log_level;
    char *port_file;             /* if set, each listener's "name port" is written here */
    uint64_t stats_interval_ms;  /* 0 = off */
    uint64_t partial_frame_budget; /* bytes of unfinished frames all connections may hold */
    char *pid_file;              /* written after start, removed at exit; NULL = none */
    char *user;                  /* started as root: drop to this user after binding */
    char *group;                 /* and this group (default: the user's primary group) */
    struct tl_conf_metrics metrics;
    char *state_dir;             /* inputs' durable state (file positions); default
                                  * /var/lib/tlslogd, created when an input needs it */
    struct tl_conf_tls tls;      /* the top-level tls: block, defaults applied; inputs and
                                  * outputs hold their own merged copies */
    struct tl_conf_input *inputs;
    size_t n_inputs;
    struct tl_conf_output *outputs;
    size_t n_outputs;
    struct tl_conf_route *routes;
    size_t n_routes;             /* 0: every input goes to every output */
    struct tl_conf_fileref *files; /* every TLS file key set, in file order */
    size_t n_files;
};

/* Collected errors: each one a full sentence starting with "FILE:LINE: ". */
struct tl_conf_errors {
    char **lines;
    size_t n;
};

/* Loads and validates. On any error returns NULL and fills errs (free with
 * tl_conf_errors_fini). */
struct tl_conf *tl_conf_load_file(const char *path, struct tl_conf_errors *errs);
/* The same from text in memory; name is used in messages. */
struct tl_conf *tl_conf_load_string(const char *text, size_t len, const char *name,
                                    struct tl_conf_errors *errs);
void tl_conf_free(struct tl_conf *c);
void tl_conf_errors_fini(struct tl_conf_errors *errs);
/* Appends "FILE:LINE: message" to errs, for the checks made after loading (an output kind's
 * check, out/out.h); false when out of memory. */
bool tl_conf_errors_add(struct tl_conf_errors *errs, const char *file, int line,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "outputs[2] (name)": how messages name the output at index i of c. */
const char *tl_conf_output_label(const struct tl_conf *c, size_t i, char *out, size_t cap);
/* Every file the configuration names (certificates, keys, CAs, CRLs, password files) can
 * be opened for reading by this process, and each directory listed. Loading does not open
 * them (a configuration can be written before its files); --check and start-up call this.
 * Returns true when all can; otherwise fills errs like tl_conf_load_file, one line per
 * file with its key, FILE:LINE and the remedy. */
bool tl_conf_check_files(const struct tl_conf *c, struct tl_conf_errors *errs);

/*
 * What a reload changes (daemon/server.h, tl_server_reload). Inputs and outputs are matched
 * by name; one is kept when its effective settings are equal (every key of its tables, the
 * merged tls: block but for the keys its TLS context carries: those a reload swaps into the
 * running instance, see docs/configuration.md, Reloading).
 */
struct tl_conf_diff {
    long *in_match;   /* per input of the new configuration: index of the same, unchanged
                       * input in the old one, or -1 (added or changed) */
    long *out_match;  /* the same for outputs */
    size_t in_kept, in_added, in_changed, in_removed;
    size_t out_kept, out_added, out_changed, out_removed;
    bool routes_same; /* the same (input, output) pairs, by name, with the same filters */
};
/* false when out of memory. */
bool tl_conf_diff(const struct tl_conf *old, const struct tl_conf *fresh, struct tl_conf_diff *d);
void tl_conf_diff_fini(struct tl_conf_diff *d);
/* Canonical text of an input's or output's settings as the diff compares them (malloc'd;
 * NULL when out of memory). */
char *tl_conf_input_settings(const struct tl_conf_input *in);
char *tl_conf_output_settings(const struct tl_conf_output *out);
/* Whether route rt takes input i to output o. */
bool tl_conf_route_carries(const struct tl_conf_route *rt, size_t i, size_t o);
/* Whether input i feeds output o (no routes: every input feeds every output). */
bool tl_conf_routed(const struct tl_conf *c, size_t i, size_t o);
/* Top-level keys read only at start whose value differs: up to cap names into names. */
size_t tl_conf_restart_keys(const struct tl_conf *old, const struct tl_conf *fresh,
                            const char **names, size_t cap);

/* The configuration tlslogd runs with when started without -c (see README). */
extern const char tl_conf_embedded[];

/* Helpers shared with the CLI and tests. */
/* "64KiB", "1MiB", "1GiB", "512", "10kB": bytes; false on junk or overflow. */
bool tl_parse_size(const char *s, uint64_t *out);
/* "250ms", "1s", "5m", "1h", "2": milliseconds (a bare number is seconds). */
bool tl_parse_duration_ms(const char *s, uint64_t *out);
/* "host:port", "[v6]:port", ":port", "port", "host" (then default_port). host is malloc'd
 * or NULL for "any". TL_E_CONFIG (TL_E_RESOURCE: out of memory) with the reason in err. */
enum tl_rc tl_parse_listen(const char *s, uint16_t default_port, char **host, uint16_t *port,
                           struct tl_err *err);

const char *tl_transport_name(enum tl_transport t);

/* The key reference as Markdown tables, generated from the tables the loader validates
 * with (docs/configuration.md embeds it; a unit test checks they agree). malloc'd; the
 * caller frees it. NULL when out of memory. */
char *tl_conf_reference_markdown(void);

#endif
