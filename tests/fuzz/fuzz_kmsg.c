/*
 * fuzz_kmsg.c: libFuzzer target for the /dev/kmsg record parser.
 *
 * The input is one record as read(2) returns it. Checked for every input: the error is a
 * NUL-terminated sentence; decoded text and dictionary lie inside the output buffer and are
 * no longer than the record; decoding in place gives the same result as decoding into a
 * separate buffer; and a record without oddities, escaped again the way the kernel escapes
 * (every byte below 0x20, from 0x7f up, and the backslash as \xNN), parses back to the same
 * text and dictionary.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/kmsg.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t cap)
{
    return n == 0 || (p >= buf && n <= cap && p <= buf + cap - n);
}

static void same(const struct tl_kmsg *a, const struct tl_kmsg *b)
{
    CHECK(a->facility == b->facility && a->severity == b->severity);
    CHECK(a->seq == b->seq && a->mono_usec == b->mono_usec);
    CHECK(a->text_len == b->text_len);
    CHECK(a->text_len == 0 || memcmp(a->text, b->text, a->text_len) == 0);
    CHECK(a->n_dict == b->n_dict);
    for (size_t i = 0; i < a->n_dict; i++) {
        const struct tl_kmsg_entry *x = &a->dict[i];
        const struct tl_kmsg_entry *y = &b->dict[i];
        CHECK(x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0);
        CHECK(x->value_len == y->value_len);
        CHECK(x->value_len == 0 || memcmp(x->value, y->value, x->value_len) == 0);
    }
}

static size_t escape(uint8_t *o, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\') {
            o[w++] = '\\';
            o[w++] = 'x';
            o[w++] = (uint8_t)hex[p[i] >> 4];
            o[w++] = (uint8_t)hex[p[i] & 15];
        } else {
            o[w++] = p[i];
        }
    }
    return w;
}

/* Writes the record back the way the kernel would and parses it again. */
static void round_trip(const struct tl_kmsg *k, size_t size)
{
    size_t cap = 64 + size * 4;
    uint8_t *rec = malloc(cap);
    uint8_t *out = malloc(cap);
    struct tl_kmsg k2;
    struct tl_err err;
    CHECK(rec && out);

    int n = snprintf((char *)rec, cap, "%u,%llu,%llu,%s;",
                     (unsigned)(k->facility << 3 | k->severity), (unsigned long long)k->seq,
                     (unsigned long long)k->mono_usec, k->flags & TL_KMSG_FRAGMENT ? "c" : "-");
    CHECK(n > 0 && (size_t)n < cap);
    size_t w = (size_t)n;
    w += escape(rec + w, k->text, k->text_len);
    rec[w++] = '\n';
    for (size_t i = 0; i < k->n_dict; i++) {
        rec[w++] = ' ';
        memcpy(rec + w, k->dict[i].key, k->dict[i].key_len);
        w += k->dict[i].key_len;
        rec[w++] = '=';
        w += escape(rec + w, k->dict[i].value, k->dict[i].value_len);
        rec[w++] = '\n';
    }
    CHECK(w <= cap);
    CHECK(tl_kmsg_parse(rec, w, out, cap, &k2, &err) == TL_OK);
    CHECK((k2.flags & ~TL_KMSG_FRAGMENT) == 0);
    CHECK(k2.flags == (k->flags & TL_KMSG_FRAGMENT));
    same(k, &k2);
    free(rec);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(size + 1);
    uint8_t *copy = malloc(size + 1);
    struct tl_kmsg k;
    struct tl_kmsg k2;
    struct tl_err err;
    struct tl_err err2;
    CHECK(out && copy);

    memset(&err, 0xff, sizeof(err));
    enum tl_rc rc = tl_kmsg_parse(data, size, out, size, &k, &err);
    bool ok = rc == TL_OK;
    if (size > 0) {
        memcpy(copy, data, size);
    }
    bool ok2 = tl_kmsg_parse(copy, size, copy, size, &k2, &err2) == TL_OK;
    CHECK(ok == ok2);
    if (!ok) {
        CHECK(rc == TL_E_PROTO && err.code == TL_E_PROTO);
        CHECK(memchr(err.cause, '\0', sizeof(err.cause)) != NULL);
        CHECK(strncmp(err.cause, "kmsg record: ", 13) == 0);
        CHECK(strcmp(err.cause, err2.cause) == 0);
        goto out;
    }
    CHECK(k.facility < 24 && k.severity < 8);
    CHECK(k.mono_usec <= INT64_MAX);
    CHECK(inside(k.text, k.text_len, out, size));
    CHECK(k.n_dict <= TL_KMSG_DICT_MAX);
    CHECK(k.dict_dropped == 0 || k.n_dict == TL_KMSG_DICT_MAX);
    for (size_t i = 0; i < k.n_dict; i++) {
        CHECK(k.dict[i].key_len > 0);
        CHECK(inside(k.dict[i].key, k.dict[i].key_len, out, size));
        CHECK(inside(k.dict[i].value, k.dict[i].value_len, out, size));
        CHECK(memchr(k.dict[i].key, '=', k.dict[i].key_len) == NULL);
        CHECK(memchr(k.dict[i].key, '\n', k.dict[i].key_len) == NULL);
    }
    same(&k, &k2);
    if (!(k.flags & TL_KMSG_MALFORMED) && k.dict_dropped == 0) {
        round_trip(&k, size);
    }
out:
    free(out);
    free(copy);
    return 0;
}
