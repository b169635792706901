/*
 * kmsg.c: one /dev/kmsg record, as the kernel's dev-kmsg ABI document describes it.
 *
 * The prefix is strict (a reader that gets something else is not reading /dev/kmsg, and
 * guessing would invent priorities and sequence numbers); what follows ';' is lenient, as
 * the kernel cut or a writer mangled it, the text is still worth keeping.
 */
#include "parse/kmsg.h"

#include <stdio.h>
#include <string.h>

#include "core/text.h"

/* Longest number in the prefix: 2^64 - 1 has 20 digits. */
#define MAX_DIGITS 20
/* Bytes of a bad field quoted in an error: a whole 20-digit number and a little more. */
#define QUOTE_MAX 24

/* Refuses the record: "kmsg record: <what> '<bytes>' at offset N <why>". */
static enum tl_rc fail(struct tl_err *err, const char *what, const uint8_t *p, size_t n,
                       size_t off, const char *why)
{
    char q[QUOTE_MAX * 4 + 4];
    tl_quote_bytes(q, p, n, QUOTE_MAX);
    TL_FAIL(err, TL_E_PROTO, NULL, "kmsg record: %s '%s' at offset %zu %s", what, q, off, why);
}

/*
 * Reads the decimal field at rec[*i] up to its delimiter (',' or ';') and leaves *i on the
 * delimiter. A field that is empty, unterminated, has a non-digit or exceeds max is refused.
 */
static enum tl_rc number(const uint8_t *rec, size_t len, size_t *i, uint64_t max,
                         const char *what, uint64_t *out, struct tl_err *err)
{
    size_t start = *i;
    size_t k = start;
    uint64_t v = 0;
    bool over = false;

    while (k < len && rec[k] >= '0' && rec[k] <= '9' && k - start <= MAX_DIGITS) {
        unsigned d = (unsigned)(rec[k] - '0');
        if (v > (max - d) / 10) {
            over = true;
        }
        v = v * 10 + d;
        k++;
    }
    bool ended = k < len && (rec[k] == ',' || rec[k] == ';');
    if (ended && k > start && !over) {
        *out = v;
        *i = k;
        return TL_OK;
    }
    /* Quote the field as far as its delimiter, so the line shows what was there. */
    size_t e = k;
    while (e < len && rec[e] != ',' && rec[e] != ';' && rec[e] != '\n' && e - start <= QUOTE_MAX) {
        e++;
    }
    const char *why = over                   ? "is out of range"
                      : e == start           ? "is missing"
                      : k == len || e == len ? "is cut short"
                                             : "is not a decimal number";
    return fail(err, what, rec + start, e - start, start, why);
}

/* The prefix ended (';' or the end of the record) where a field was still due. */
static enum tl_rc short_prefix(const uint8_t *rec, size_t len, size_t i, const char *missing,
                               struct tl_err *err)
{
    char why[64];
    snprintf(why, sizeof(why), "ends before its %s", missing);
    return fail(err, "prefix", rec, i < len ? i + 1 : len, 0, why);
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * Decodes rec[from..to) into out at *w, turning "\xNN" back into the byte. A backslash not
 * followed by two hex digits is kept as it is (the kernel escapes every backslash, so one
 * alone means the record did not come from the kernel's escaper) and flagged. *w never
 * passes the read position, so out may be rec itself.
 */
static void decode(const uint8_t *rec, size_t from, size_t to, uint8_t *out, size_t *w,
                   uint32_t *flags)
{
    size_t o = *w;
    for (size_t r = from; r < to; r++) {
        uint8_t c = rec[r];
        if (c == '\\') {
            int hi = r + 3 < to && rec[r + 1] == 'x' ? hexval(rec[r + 2]) : -1;
            int lo = hi >= 0 ? hexval(rec[r + 3]) : -1;
            if (lo >= 0) {
                c = (uint8_t)(hi << 4 | lo);
                r += 3;
            } else {
                *flags |= TL_KMSG_MALFORMED;
            }
        }
        out[o++] = c;
    }
    *w = o;
}

/* One dictionary line " KEY=VALUE" at rec[from..to) (without its LF). */
static void dict_line(const uint8_t *rec, size_t from, size_t to, uint8_t *out, size_t *w,
                      struct tl_kmsg *k)
{
    const uint8_t *eq = memchr(rec + from, '=', to - from);
    if (rec[from] != ' ' || !eq || eq == rec + from + 1) {
        k->flags |= TL_KMSG_MALFORMED;
        return;
    }
    if (k->n_dict == TL_KMSG_DICT_MAX) {
        k->dict_dropped++;
        return;
    }
    size_t key_from = from + 1;
    size_t key_to = (size_t)(eq - rec);
    struct tl_kmsg_entry *e = &k->dict[k->n_dict++];
    /* Keys are plain names; only values are escaped. */
    memmove(out + *w, rec + key_from, key_to - key_from);
    e->key = out + *w;
    e->key_len = key_to - key_from;
    *w += e->key_len;
    size_t vstart = *w;
    decode(rec, key_to + 1, to, out, w, &k->flags);
    e->value = out + vstart;
    e->value_len = *w - vstart;
}

enum tl_rc tl_kmsg_parse(const uint8_t *rec, size_t len, uint8_t *out, size_t out_cap,
                         struct tl_kmsg *k, struct tl_err *err)
{
    uint64_t pri;
    size_t i = 0;

    memset(k, 0, sizeof(*k));
    if (out_cap < len) {
        TL_FAIL(err, TL_E_RESOURCE, NULL,
                "kmsg record: %zu bytes do not fit the %zu-byte decode buffer", len, out_cap);
    }
    /* The kernel stores the facility in 8 bits and the level in 3: at most 2047. */
    TL_TRY(number(rec, len, &i, 2047, "priority", &pri, err));
    if (rec[i] != ',') {
        return short_prefix(rec, len, i, "sequence number", err);
    }
    i++;
    TL_TRY(number(rec, len, &i, UINT64_MAX, "sequence number", &k->seq, err));
    if (rec[i] != ',') {
        return short_prefix(rec, len, i, "timestamp", err);
    }
    i++;
    /* INT64_MAX: wall time arithmetic is signed. */
    TL_TRY(number(rec, len, &i, INT64_MAX, "timestamp", &k->mono_usec, err));
    /* FLAGS and whatever fields a newer kernel adds, up to ';'. */
    const uint8_t *semi = memchr(rec + i, ';', len - i);
    const uint8_t *lf = memchr(rec + i, '\n', len - i);
    if (!semi || (lf && lf < semi)) {
        size_t e = lf ? (size_t)(lf - rec) : len;
        return fail(err, "prefix", rec, e, 0, "has no ';' before the message");
    }
    size_t flags_end = (size_t)(semi - rec);
    for (size_t f = i + 1; f < flags_end && rec[f] != ','; f++) {
        if (rec[f] == 'c' || rec[f] == '+') {
            k->flags |= TL_KMSG_FRAGMENT;
        }
    }

    k->facility = (uint8_t)(pri >> 3 <= 23 ? pri >> 3 : 1);
    k->severity = (uint8_t)(pri & 7);
    if (pri >> 3 > 23) {
        k->flags |= TL_KMSG_MALFORMED;
    }

    size_t text_from = flags_end + 1;
    const uint8_t *text_lf = memchr(rec + text_from, '\n', len - text_from);
    size_t text_to = text_lf ? (size_t)(text_lf - rec) : len;
    size_t w = 0;
    if (rec[len - 1] != '\n') {
        k->flags |= TL_KMSG_TRUNCATED;
    }
    decode(rec, text_from, text_to, out, &w, &k->flags);
    k->text = out;
    k->text_len = w;

    /* Dictionary lines, each " KEY=VALUE\n"; the last LF may be missing when cut. */
    size_t pos = text_to + 1;
    while (pos < len) {
        const uint8_t *e = memchr(rec + pos, '\n', len - pos);
        size_t end = e ? (size_t)(e - rec) : len;
        if (end > pos) {
            dict_line(rec, pos, end, out, &w, k);
        }
        pos = end + 1;
    }
    return TL_OK;
}

const uint8_t *tl_kmsg_dict_get(const struct tl_kmsg *k, const char *key, size_t *len)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < k->n_dict; i++) {
        if (k->dict[i].key_len == n && memcmp(k->dict[i].key, key, n) == 0) {
            *len = k->dict[i].value_len;
            return k->dict[i].value;
        }
    }
    *len = 0;
    return NULL;
}

uint64_t tl_kmsg_seq_lost(struct tl_kmsg_seq *t, uint64_t seq)
{
    uint64_t lost = 0;
    if (t->started && seq > t->next) {
        lost = seq - t->next;
    }
    t->started = true;
    t->next = seq + 1;
    return lost;
}

int64_t tl_kmsg_boot_usec(int64_t real_sec, long real_nsec, int64_t mono_sec, long mono_nsec)
{
    return (real_sec - mono_sec) * 1000000 + (real_nsec - mono_nsec) / 1000;
}

void tl_kmsg_wall_time(uint64_t mono_usec, int64_t boot_usec, int64_t *sec, uint32_t *usec)
{
    int64_t t;
    /* The parser keeps mono_usec within INT64_MAX; a boot time that would overflow the sum
     * is not a clock any machine has, so saturate rather than wrap. */
    if (mono_usec > INT64_MAX || __builtin_add_overflow((int64_t)mono_usec, boot_usec, &t)) {
        t = boot_usec < 0 ? INT64_MIN : INT64_MAX;
    }
    int64_t s = t / 1000000;
    int64_t u = t % 1000000;
    if (u < 0) {
        u += 1000000;
        s -= 1;
    }
    *sec = s;
    *usec = (uint32_t)u;
}
