/*
 * keys.h: private to src/conf/: the tables every configuration key is a row of, and the
 * operations of each key type.
 *
 * One row per key (struct key: name, type, field, range, default, the kinds of input or
 * output it applies to, one line of help) drives everything: the loader (load.c) validates
 * and stores with it, the cross-key rules (check.c) name keys from it, and reference.c prints
 * it as the key reference in docs/configuration.md (a unit test compares the two).
 *
 * What differs between key types (how a value is parsed and stored, how its range is shown,
 * how it is described in messages and in the docs) is one row of tl_conf_ktypes (values.c),
 * so adding a type is one enum value and one row, and nothing else switches on the type.
 *
 * The tables are constant: any thread may read them.
 */
#ifndef TL_CONF_KEYS_H
#define TL_CONF_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/text.h"

#define MAX_KEYS 32     /* keys in one section; found[] arrays have this many */
#define MAX_PATH_LEN 4095
#define SHOW_LEN TL_SHOW_LEN /* a value shown in a message (tl_show_text) */
#define LIST_LEN 512    /* "allowed: a, b, c" lists */
#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define SEC 1000ull
#define MINUTE (60ull * SEC)
#define HOUR (60ull * MINUTE)
#define DEFAULT_PORT 514
#define DEFAULT_TLS_PORT 6514 /* RFC 5425 */
#define DEFAULT_RELP_PORT 2514 /* rsyslog's imrelp has no default; 2514 is the usual choice */
#define DEFAULT_KAFKA_PORT 9092
#define KAFKA_TOPIC_MAX 249 /* Kafka's longest topic name */
#define DEFAULT_HANDSHAKE_MS (10 * SEC)
#define DEFAULT_METRICS_PORT 9514
#define DEFAULT_TLS_VERSION 12

#define KIND(k) (1u << (k))
#define ALWAYS (~0u)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

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
    KT_REGEX,    /* a PCRE2 regex (UTF), compiled once to check it; stored as text */
    KT_STRLIST,  /* a string or list of strings, each passing key.check; fills off/count_off */
    KT_TARGETS,  /* a list of host:port, handled by the caller (forward outputs) */
    KT_TLS,      /* a mapping of TLS settings, merged by the caller (load_tls.c) */
    KT_QUEUE,    /* a mapping of queue settings, walked by the caller (load.c) */
    KT_METRICS,  /* a mapping of metrics settings, walked by the caller (load.c) */
    KT_TOPIC,    /* a Kafka topic name with {placeholders} */
    KT_KEYTEXT,  /* a non-empty text with {placeholders}, not a path (a Kafka key, a hash_key) */
    KT_SASL,     /* a mapping of SASL settings, walked by the caller (load_kafka.c) */
    KT_PROPS,    /* a mapping of librdkafka properties, stored by the caller (load_kafka.c) */
    KT_RATELIMIT, /* a mapping of rate limit settings, walked by the caller (load.c) */
    KT_FILTER,   /* a value or a list of values of a route's where:, compiled by routes.c */
    KT_WHERE,    /* a mapping of filter keys (a route's where:, its not:), walked by routes.c */
    KT_COUNT,
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
    enum tl_rc (*check)(const char *s, struct tl_err *err); /* KT_STRLIST: each item */
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

/* ---- the operations of a key type (values.c) ---------------------------------------------- */

/* What a key's field holds, for code that copies or frees fields by table (the TLS blocks). */
enum kstore {
    KS_NONE,     /* nothing: the caller stores (lists, blocks, listen) */
    KS_NUMBER,   /* an unsigned integer of key.size bytes (enums too) */
    KS_STRING,   /* a malloc'd char * */
    KS_STRLIST,  /* a malloc'd char ** of malloc'd strings, its size_t count at key.count_off */
};

/* One scalar value being set: its text (len bytes, no NUL inside), as shown in messages. */
struct kvalue {
    const char *s;
    size_t len;
    const char *shown;  /* tl_show_text of s */
};

struct ktype_ops {
    enum kstore store;
    /* Parses v for key k and stores it into base, the section's struct (a number: *num too).
     * TL_E_CONFIG with the reason in err's cause, as it follows "KEY PATH: " in a message;
     * TL_E_RESOURCE when out of memory. NULL: not a scalar; a KS_STRLIST is walked by the
     * loader as a list of strings, anything else by the caller of walk_map. */
    enum tl_rc (*set)(const struct key *k, void *base, const struct kvalue *v, uint64_t *num,
                      struct tl_err *err);
    /* A number of this type as a user would write it ("64KiB", "10s"); non-NULL exactly for
     * the types whose values have a range (key.min..key.max), checked when set. */
    const char *(*show)(uint64_t v, char *out, size_t cap);
    bool words;           /* the key's words describe it (after expected and doc) */
    const char *expected; /* "expected ..., got a list": before the range or words ... */
    const char *expected_post; /* ... and after them */
    const char *doc;      /* the Type column of the reference: before the range or words */
};

/* Indexed by enum ktype. */
extern const struct ktype_ops tl_conf_ktypes[KT_COUNT];

/* "64KiB", "1GiB", "512"; "10s", "1h", "250ms", "0": the forms the loader reads back. */
const char *tl_conf_size_text(uint64_t v, char *out, size_t cap);
const char *tl_conf_duration_text(uint64_t v, char *out, size_t cap);
/* [A-Za-z0-9_.-]{1,64}: the name of an input or an output. */
bool tl_conf_valid_name(const char *s, size_t len);

/* ---- the tables (keys.c) ------------------------------------------------------------------ */

extern const struct section tl_conf_top_section;
extern const struct section tl_conf_input_section;
extern const struct section tl_conf_output_section;
extern const struct section tl_conf_queue_section;
extern const struct section tl_conf_route_section;
extern const struct section tl_conf_where_section;
extern const struct section tl_conf_rate_section;
extern const struct section tl_conf_tls_section;
extern const struct section tl_conf_metrics_section;
extern const struct section tl_conf_sasl_section;
/* All of them, in the order of the reference; NULL-terminated. */
extern const struct section *const tl_conf_sections[];

/* In enum tl_auth_mode order from TL_AUTH_ANON. */
extern const char *const tl_conf_auth_words[];

/* The index of the key named s[0..len) in sec, or -1. */
int tl_conf_find_key(const struct section *sec, const char *s, size_t len);
/* The same for a NUL-terminated name the code knows is there. */
int tl_conf_key_index(const struct section *sec, const char *name);
/* Every key name of sec into names (MAX_KEYS entries). */
void tl_conf_key_names(const struct section *sec, const char **names);

/* "udp and tcp", "udp, tcp and tls" from KIND() bits of sec's kinds. */
const char *tl_conf_kinds_text(const struct section *sec, unsigned bits, char *out, size_t cap);
/* "0..256", "480..16MiB", "0..1h": k's range, for a type with a range. */
const char *tl_conf_range_text(const struct key *k, char *out, size_t cap);
/* What a value of k looks like, for "expected ..." messages. */
const char *tl_conf_expected_text(const struct key *k, char *out, size_t cap);

#endif
