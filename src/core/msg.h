/*
 * msg.h: one syslog message.
 *
 * A message owns one heap block: the struct followed by the raw bytes as received (without
 * framing). Every parsed field is a slice (offset, length) into those raw bytes, so parsing
 * allocates nothing. A message is filled once by the thread that received it (tl_parse) and
 * is read-only afterwards; it is reference-counted so one message can sit in the queues of
 * several outputs without being copied. tl_msg_ref/tl_msg_unref may be called from any
 * thread.
 */
#ifndef TL_CORE_MSG_H
#define TL_CORE_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A range of bytes inside tl_msg.raw. len == 0 means "absent" (or NILVALUE in RFC 5424). */
struct tl_slice {
    uint32_t off;
    uint32_t len;
};

enum tl_msg_proto {
    TL_PROTO_UNKNOWN = 0, /* not parsed, or nothing recognisable: msg is the whole raw text */
    TL_PROTO_RFC5424,
    TL_PROTO_RFC3164,
};

/* tl_msg.flags */
enum {
    TL_MSG_HAS_PRI = 1u << 0,    /* PRI was present; otherwise facility/severity are 1/5 (user.notice) */
    TL_MSG_HAS_TS = 1u << 1,     /* a timestamp was parsed into ts_* */
    TL_MSG_TS_HAS_TZ = 1u << 2,  /* the timestamp carried a UTC offset (RFC 3339); else local time assumed */
    TL_MSG_HAS_BOM = 1u << 3,    /* RFC 5424 MSG started with a UTF-8 BOM (msg slice excludes it) */
    TL_MSG_MALFORMED = 1u << 4,  /* parser could not make sense of (part of) it; raw kept */
    TL_MSG_TRUNCATED = 1u << 5,  /* frame exceeded max_message_size and was cut */
    TL_MSG_HAS_HOST = 1u << 6,   /* hostname came from the message (not filled from the peer) */
};

/* The sender's address. family is AF_INET, AF_INET6, AF_UNIX or 0 (unknown). */
struct tl_addr {
    uint16_t family;
    uint16_t port;     /* host byte order */
    uint8_t addr[16];  /* network byte order; IPv4 uses the first 4 bytes */
};

struct tl_msg {
    atomic_uint refs;
    uint32_t flags;
    uint8_t proto;     /* enum tl_msg_proto */
    uint8_t facility;  /* 0..23 */
    uint8_t severity;  /* 0..7 */
    uint8_t ts_frac_digits; /* fractional second digits as sent (0..6), for faithful output */
    int16_t ts_tzoff;  /* UTC offset in minutes of the timestamp as sent */
    uint16_t input;    /* index of the input it arrived on (tl_conf.inputs) */

    int64_t ts_sec;    /* timestamp: seconds since the epoch, UTC (valid with TL_MSG_HAS_TS) */
    uint32_t ts_usec;  /* microseconds */
    uint32_t recv_usec;
    int64_t recv_sec;  /* when tlslogd received it (CLOCK_REALTIME) */

    struct tl_addr peer;
    /* The thread whose allocator made the message (tl_msg_home_enter), 0 for none: its
     * last reference dropped elsewhere returns it there to be freed (in the padding). */
    uint8_t home;
    union {
        /* The connection's authenticated identity (TLS), or NULL: owned reference. */
        struct tl_peer_id *peer_id;
        struct tl_msg *dead_next; /* on its home's return list, once dead */
    };

    /* Slices into raw[]. */
    struct tl_slice timestamp; /* the timestamp text as sent */
    struct tl_slice hostname;
    struct tl_slice app_name;  /* RFC 3164: the TAG without [pid] */
    struct tl_slice procid;    /* RFC 3164: the pid inside TAG[pid] */
    struct tl_slice msgid;
    struct tl_slice sd;        /* the whole STRUCTURED-DATA text ("[...][...]"), raw escapes */
    struct tl_slice msg;       /* the free-form message */

    uint32_t raw_len;
    uint32_t raw_cap;
    uint32_t extra_len;  /* bytes used after raw_len by tl_msg_add */
    uint8_t raw[];     /* the message as received, without framing; not NUL-terminated */
};

/* Allocates a message holding a copy of the len bytes of data, refs = 1, plus extra bytes
 * after them (raw_cap - raw_len) for values the receiver adds, such as a hostname the
 * message lacked. Returns NULL when out of memory. */
struct tl_msg *tl_msg_new_extra(const void *data, size_t len, size_t extra);

static inline struct tl_msg *tl_msg_new(const void *data, size_t len)
{
    return tl_msg_new_extra(data, len, 0);
}

/* Makes room for extra more bytes after what the message holds (realloc: only while the
 * caller holds the one reference). Returns the message, perhaps moved, or NULL when out of
 * memory (m is then unchanged and still valid). */
struct tl_msg *tl_msg_grow(struct tl_msg *m, size_t extra);

/* Memory the message takes (for queue bounds). */
static inline size_t tl_msg_size(const struct tl_msg *m)
{
    return sizeof(*m) + m->raw_cap;
}

/* Stores n bytes after the raw message (within raw_cap) and returns their slice; a slice of
 * length 0 when there is no room. */
struct tl_slice tl_msg_add(struct tl_msg *m, const void *p, size_t n);

static inline void tl_msg_ref(struct tl_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

/* Drops one reference; frees the message on the last one. NULL is fine. A message made on
 * a thread with a home and dropped last on another thread goes back to its home's return
 * list (one lock-free push) instead of free(): glibc's free of a block from another
 * thread's arena takes that arena's lock, which the allocating thread wants for its next
 * malloc, and the two threads of a busy input -> output pair then spend a third of their
 * CPU in that lock. The home thread frees its returns in one go (tl_msg_home_drain). */
void tl_msg_unref(struct tl_msg *m);

/* Homes: worker threads, which make most messages. Up to TL_MSG_HOMES at once; ids wrap,
 * and two threads sharing a home is only slower. */
#define TL_MSG_HOMES 64

/* The calling thread becomes home id (a worker's index) for the messages it makes. */
void tl_msg_home_enter(size_t id);
/* The calling thread makes messages without a home from now on (its returns are drained). */
void tl_msg_home_leave(void);
/* Frees what came back to the calling thread's home and returns how many. Cheap when
 * nothing did. */
size_t tl_msg_home_drain(void);
/* Frees what came back to every home: only once no thread that frees messages runs. */
size_t tl_msg_homes_drain_all(void);

/* Pointer to the first byte of slice s of m. */
static inline const uint8_t *tl_msg_at(const struct tl_msg *m, struct tl_slice s)
{
    return m->raw + s.off;
}

/* Names for facility and severity numbers ("local0", "err"); "?" when out of range. */
const char *tl_facility_name(unsigned facility);
const char *tl_severity_name(unsigned severity);

/* Parses "local0" / "err" style names (also numbers); returns -1 when unknown. */
int tl_facility_from_name(const char *name);
int tl_severity_from_name(const char *name);

#endif
