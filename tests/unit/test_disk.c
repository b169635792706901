/*
 * test_disk.c: the disk queue: append/read/ack/rewind, persistence across close and open,
 * segment rollover and deletion, max_bytes, write failures (TL_E_IO,
 * tl_dq_discard_unwritten), and recovery: every case of issue 10 point 5 (a middle segment
 * truncated, a segment deleted, a sequence gap, a garbled ack file, bytes flipped inside a
 * segment, stray files, a format 1 segment, a cut-short or impossible rewrite), each with
 * the exact report, its counts, and a second open that finds nothing more to say.
 *
 * Records are generated from their index (rec_make), so a reader can check any record
 * without keeping a copy. Records of 100 bytes take 116 on disk (TL_DQ_RECORD_HEADER).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/disk.h"
#include "scratch.h"

#define MAXREC 70000
#define RH TL_DQ_RECORD_HEADER
#define R100 (RH + 100)   /* a record of scheme 0 on disk */

struct env {
    char base[64];
    char dir[96];
};

/* ---- helpers ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Size of record i under a size scheme: 0 fixed (100), 1 varied (10..209), 2 random up to
 * 2000 with an occasional large one. */
static size_t rec_size(uint64_t i, int scheme)
{
    switch (scheme) {
    case 0:
        return 100;
    case 1:
        return 10 + (size_t)((i * 37) % 200);
    default: {
        uint64_t h = mix64(i + 12345);
        if (h % 1000 == 0) {
            return 20000 + (size_t)(h % 40000);
        }
        return (size_t)(h % 2001);
    }
    }
}

static size_t rec_make(uint64_t i, int scheme, uint8_t *buf)
{
    size_t n = rec_size(i, scheme);
    uint64_t h = mix64(i ^ 0xabcdef);
    for (size_t k = 0; k < n; k++) {
        if (k % 8 == 0) {
            h = mix64(h + k);
        }
        buf[k] = (uint8_t)(h >> (8 * (k % 8)));
    }
    if (n >= 8) {
        memcpy(buf, &i, 8);   /* the index first, for readable failures */
    }
    return n;
}

static struct tl_dq *open_q(struct env *e, uint64_t seg_bytes, uint64_t max_bytes,
                            struct tl_dq_recovery *rec)
{
    struct tl_dq_opts o = { .dir = e->dir, .max_bytes = max_bytes,
                            .segment_bytes = seg_bytes, .sync = TL_DQ_SYNC_NONE };
    struct tl_err err = {0};
    struct tl_dq *q = tl_dq_open(&o, rec, &err);
    if (q == NULL) {
        print_message("open failed: %s\n", err.cause);
    }
    assert_non_null(q);
    return q;
}

static void append_range(struct tl_dq *q, uint64_t from, uint64_t to, int scheme)
{
    static uint8_t buf[MAXREC];
    struct tl_err err;

    for (uint64_t i = from; i < to; i++) {
        size_t n = rec_make(i, scheme, buf);
        assert_int_equal(tl_dq_append(q, buf, n, &err), TL_OK);
    }
}

static void flush_q(struct tl_dq *q)
{
    struct tl_err err = {0};
    if (tl_dq_flush(q, &err) != TL_OK) {
        print_message("flush: %s\n", err.cause);
        fail();
    }
}

/* Peeks and advances: the next record must be record i. */
static void expect_next(struct tl_dq *q, uint64_t i, int scheme)
{
    static uint8_t want[MAXREC];
    const uint8_t *p;
    size_t n;
    size_t wn = rec_make(i, scheme, want);

    if (!tl_dq_peek(q, &p, &n)) {
        print_message("expected record %" PRIu64 ", got none\n", i);
        fail();
    }
    if (n != wn || memcmp(p, want, n) != 0) {
        uint64_t got = 0;
        if (n >= 8) {
            memcpy(&got, p, 8);
        }
        print_message("expected record %" PRIu64 " (%zu bytes), got %zu bytes (index %" PRIu64
                      ")\n", i, wn, n, got);
        fail();
    }
    tl_dq_advance(q);
}

static void expect_range(struct tl_dq *q, uint64_t from, uint64_t to, int scheme)
{
    for (uint64_t i = from; i < to; i++) {
        expect_next(q, i, scheme);
    }
}

static void expect_end(struct tl_dq *q)
{
    const uint8_t *p;
    size_t n;
    assert_false(tl_dq_peek(q, &p, &n));
    assert_int_equal(tl_dq_unread(q), 0);
}

static char *path_in(struct env *e, const char *name)
{
    static char p[256];
    snprintf(p, sizeof(p), "%s/%s", e->dir, name);
    return p;
}

static char *seg_path(struct env *e, uint64_t num)
{
    char name[32];
    snprintf(name, sizeof(name), "seg-%016" PRIx64 ".q", num);
    return path_in(e, name);
}

/* The segment numbers in the directory, sorted; returns how many. */
static size_t list_segs(struct env *e, uint64_t *out, size_t max)
{
    DIR *d = opendir(e->dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        unsigned long long v;
        char tail[8];
        if (sscanf(de->d_name, "seg-%16llx.%7s", &v, tail) == 2 && strcmp(tail, "q") == 0 &&
            n < max) {
            out[n++] = v;
        }
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    }
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void do_truncate(const char *path, uint64_t size)
{
    assert_int_equal(truncate(path, (off_t)size), 0);
}

static void patch(const char *path, uint64_t off, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void flip(const char *path, uint64_t off)
{
    uint8_t b;
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* Offset of record i in a segment that starts with record first (all in one segment). */
static uint64_t rec_offset(uint64_t first, uint64_t i, int scheme)
{
    uint64_t off = 16;
    for (uint64_t k = first; k < i; k++) {
        off += RH + rec_size(k, scheme);
    }
    return off;
}

static const char *seg_file(uint64_t num)
{
    static char name[4][32];
    static int k;
    k = (k + 1) % 4;
    snprintf(name[k], sizeof(name[k]), "seg-%016" PRIx64 ".q", num);
    return name[k];
}

/* rec->detail must be exactly the formatted text. */
static void detail_is(const struct tl_dq_recovery *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void detail_is(const struct tl_dq_recovery *rec, const char *fmt, ...)
{
    char want[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    assert_string_equal(rec->detail, want);
}

/* Opens again and checks that recovery has nothing more to say: what it reported was
 * repaired (reported once). */
static void reopen_clean(struct env *e, uint64_t seg_bytes, uint64_t records)
{
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, seg_bytes, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, records);
    assert_int_equal(rec.lost_records, 0);
    assert_int_equal(rec.redelivered, 0);
    assert_int_equal(rec.corrupt_records, 0);
    tl_dq_close(q);
}

/* Removes bytes [off, off + n) of a file, moving the rest down. */
static void cut_bytes(const char *path, uint64_t off, uint64_t n)
{
    uint64_t size = file_size(path);
    uint8_t *buf = malloc(size);
    int fd = open(path, O_RDWR);
    assert_non_null(buf);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
    memmove(buf + off, buf + off + n, size - off - n);
    assert_int_equal(pwrite(fd, buf, size - n, 0), (ssize_t)(size - n));
    assert_int_equal(ftruncate(fd, (off_t)(size - n)), 0);
    close(fd);
    free(buf);
}

static uint64_t drain_all(struct tl_dq *q)
{
    const uint8_t *p;
    size_t n;
    uint64_t k = 0;
    while (tl_dq_peek(q, &p, &n)) {
        tl_dq_advance(q);
        k++;
    }
    return k;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->base, sizeof(e->base), "/tmp/test_disk.XXXXXX");
    if (mkdtemp(e->base) == NULL) {
        free(e);
        return -1;
    }
    snprintf(e->dir, sizeof(e->dir), "%s/q", e->base);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    file_limit(0);
    rm_rf(e->base);
    free(e);
    return 0;
}


/* ---- tests ---- */

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(tl_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tl_crc32c(0, "", 0), 0);
    /* Fed in pieces, at every split: the same value. */
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    size_t n = strlen(s);
    uint32_t whole = tl_crc32c(0, s, n);
    for (size_t k = 0; k <= n; k++) {
        assert_int_equal(tl_crc32c(tl_crc32c(0, s, k), s + k, n - k), whole);
    }
    /* 32 bytes of zeros and of 0xff (RFC 3720 B.4 test vectors). */
    uint8_t z[32];
    memset(z, 0, sizeof(z));
    assert_int_equal(tl_crc32c(0, z, sizeof(z)), 0x8A9136AAu);
    memset(z, 0xff, sizeof(z));
    assert_int_equal(tl_crc32c(0, z, sizeof(z)), 0x62A8AB43u);
    assert_int_equal(tl_crc32c_tables(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(tl_crc32c_tables(0, z, sizeof(z)), 0x62A8AB43u);
    /* The instruction (where the CPU has it) and the tables agree on every length up to
     * 300, at every alignment, whole and fed in two pieces. */
    uint8_t buf[300 + 8];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    for (size_t len = 0; len <= 300; len++) {
        for (size_t at = 0; at < 8; at++) {
            uint32_t want = tl_crc32c_tables(0, buf + at, len);
            if (tl_crc32c(0, buf + at, len) != want ||
                tl_crc32c(tl_crc32c(0, buf + at, len / 3), buf + at + len / 3,
                          len - len / 3) != want) {
                fail_msg("crc32c of %zu bytes at offset %zu differs", len, at);
            }
        }
    }
}

static void test_sequence(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    const uint8_t *p;
    size_t n;

    assert_int_equal(rec.records, 0);
    assert_int_equal(rec.corrupt_records, 0);
    assert_string_equal(rec.detail, "");
    assert_false(tl_dq_peek(q, &p, &n));

    append_range(q, 0, 10, 1);
    assert_int_equal(tl_dq_count(q), 10);
    assert_int_equal(tl_dq_unread(q), 10);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < 10; i++) {
        bytes += RH + rec_size(i, 1);
    }
    assert_int_equal(tl_dq_bytes(q), bytes);

    /* Seen before any flush (from the append buffer). */
    expect_range(q, 0, 3, 1);
    assert_int_equal(tl_dq_unread(q), 7);
    /* peek twice without advance: the same record */
    assert_true(tl_dq_peek(q, &p, &n));
    assert_true(tl_dq_peek(q, &p, &n));
    expect_next(q, 3, 1);
    tl_dq_ack(q, 2);
    assert_int_equal(tl_dq_count(q), 8);
    assert_int_equal(tl_dq_bytes(q), bytes - (2 * RH + rec_size(0, 1) + rec_size(1, 1)));
    tl_dq_rewind(q);
    assert_int_equal(tl_dq_unread(q), 8);
    expect_range(q, 2, 5, 1);
    flush_q(q);
    expect_range(q, 5, 10, 1);
    expect_end(q);
    /* advance with nothing to read does nothing */
    tl_dq_advance(q);
    assert_int_equal(tl_dq_count(q), 8);
    /* ack more than was read: capped */
    tl_dq_ack(q, 100);
    assert_int_equal(tl_dq_count(q), 0);
    assert_int_equal(tl_dq_bytes(q), 0);
    tl_dq_ack(q, 1);
    tl_dq_rewind(q);
    expect_end(q);

    /* Appends after everything was acknowledged; a zero-length record. */
    struct tl_err err;
    assert_int_equal(tl_dq_append(q, "", 0, &err), TL_OK);
    append_range(q, 10, 12, 1);
    assert_true(tl_dq_peek(q, &p, &n));
    assert_int_equal(n, 0);
    tl_dq_advance(q);
    expect_range(q, 10, 12, 1);
    tl_dq_ack(q, 1);
    tl_dq_close(q);

    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 2);
    assert_string_equal(rec.detail, "");
    expect_range(q, 10, 12, 1);
    expect_end(q);
    tl_dq_close(q);
}

static void test_persistence(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 50, 1);
    flush_q(q);
    expect_range(q, 0, 30, 1);
    tl_dq_ack(q, 20);   /* 20..29 read, not acknowledged */
    tl_dq_close(q);

    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 30);
    assert_int_equal(tl_dq_count(q), 30);
    assert_int_equal(tl_dq_unread(q), 30);
    assert_string_equal(rec.detail, "");
    expect_range(q, 20, 50, 1);   /* unacknowledged ones again, in order */
    expect_end(q);
    tl_dq_ack(q, 5);
    append_range(q, 50, 60, 1);
    /* closed without flush: close writes them */
    tl_dq_close(q);

    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 35);
    expect_range(q, 25, 60, 1);
    tl_dq_ack(q, 35);
    tl_dq_close(q);

    /* Everything acknowledged: no segment stays. */
    uint64_t segs[16];
    assert_int_equal(list_segs(e, segs, 16), 0);
    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 0);
    expect_end(q);
    append_range(q, 60, 61, 1);
    tl_dq_close(q);
    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 1);
    expect_range(q, 60, 61, 1);
    tl_dq_close(q);
}

static void test_rollover(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    /* 1024-byte segments: 16 + 8 * 116 = 944, so 8 records of 100 bytes per segment. */
    struct tl_dq *q = open_q(e, 1024, 0, &rec);
    uint64_t segs[64];

    append_range(q, 0, 100, 0);
    flush_q(q);
    size_t n = list_segs(e, segs, 64);
    assert_int_equal(n, 13);   /* 12 full + 4 records */
    assert_int_equal(file_size(seg_path(e, segs[0])), 16 + 8 * R100);
    assert_int_equal(file_size(seg_path(e, segs[12])), 16 + 4 * R100);

    expect_range(q, 0, 20, 0);
    tl_dq_ack(q, 7);   /* first segment: 7 of 8 */
    assert_int_equal(list_segs(e, segs, 64), 13);
    tl_dq_ack(q, 1);   /* first segment done */
    assert_int_equal(list_segs(e, segs, 64), 12);
    tl_dq_ack(q, 12);  /* 20 acknowledged: two segments gone, the third has 4 of 8 */
    assert_int_equal(list_segs(e, segs, 64), 11);
    tl_dq_close(q);

    q = open_q(e, 1024, 0, &rec);
    assert_int_equal(rec.records, 80);
    expect_range(q, 20, 100, 0);
    tl_dq_ack(q, 80);
    /* Only the (new, empty) tail is left. */
    assert_int_equal(list_segs(e, segs, 64), 1);

    /* A record larger than a segment gets one of its own, then the next starts anew. */
    static uint8_t big[3000];
    struct tl_err err;
    memset(big, 'x', sizeof(big));
    append_range(q, 100, 102, 0);
    assert_int_equal(tl_dq_append(q, big, sizeof(big), &err), TL_OK);
    append_range(q, 102, 104, 0);
    flush_q(q);
    n = list_segs(e, segs, 64);
    assert_int_equal(n, 3);
    assert_int_equal(file_size(seg_path(e, segs[0])), 16 + 2 * R100);
    assert_int_equal(file_size(seg_path(e, segs[1])), 16 + RH + 3000);
    assert_int_equal(file_size(seg_path(e, segs[2])), 16 + 2 * R100);
    expect_range(q, 100, 102, 0);
    const uint8_t *p;
    size_t len;
    assert_true(tl_dq_peek(q, &p, &len));
    assert_int_equal(len, 3000);
    assert_memory_equal(p, big, 3000);
    tl_dq_advance(q);
    expect_range(q, 102, 104, 0);
    tl_dq_ack(q, 3);
    assert_int_equal(list_segs(e, segs, 64), 1);
    tl_dq_close(q);
}

static void test_full(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 10 * R100, &rec);
    static uint8_t buf[MAXREC];
    struct tl_err err;

    append_range(q, 0, 10, 0);
    size_t n = rec_make(10, 0, buf);
    assert_int_equal(tl_dq_append(q, buf, n, &err), TL_FULL);
    assert_int_equal(tl_dq_count(q), 10);
    /* reading alone makes no room */
    expect_range(q, 0, 3, 0);
    assert_int_equal(tl_dq_append(q, buf, n, &err), TL_FULL);
    tl_dq_ack(q, 3);
    append_range(q, 10, 13, 0);
    assert_int_equal(tl_dq_append(q, buf, n, &err), TL_FULL);
    /* a record that can never fit */
    assert_int_equal(tl_dq_append(q, buf, 10 * R100, &err), TL_E_RESOURCE);
    assert_non_null(strstr(err.cause, "can never fit"));
    /* one that exactly fills an empty queue fits */
    expect_range(q, 3, 13, 0);
    tl_dq_ack(q, 10);
    assert_int_equal(tl_dq_append(q, buf, 10 * R100 - RH, &err), TL_OK);
    tl_dq_close(q);

    /* The limit counts what recovery found. */
    q = open_q(e, 0, 10 * R100, &rec);
    assert_int_equal(tl_dq_bytes(q), 10 * R100);
    assert_int_equal(tl_dq_append(q, "", 0, &err), TL_FULL);
    tl_dq_close(q);
}

/* The newest segment ends in a torn record (the process stopped in the middle of a write):
 * one message lost, said once; the file is cut back so that appends and the next open go
 * on cleanly. */
static void test_torn_tail(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    uint64_t segs[8];

    append_range(q, 0, 100, 1);
    tl_dq_close(q);
    assert_int_equal(list_segs(e, segs, 8), 1);
    assert_int_equal(segs[0], 1);
    uint64_t off = rec_offset(0, 99, 1);
    do_truncate(seg_path(e, 1), off + RH + 5);

    q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "seg-0000000000000001.q ends with a torn record of 21 bytes at offset %"
              PRIu64 ": 1 message lost, probably the one being written when tlslogd stopped.",
              off);
    assert_int_equal(rec.records, 99);
    assert_int_equal(rec.lost_records, 1);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.skipped_bytes, 21);
    assert_int_equal(rec.bad_files, 0);
    assert_int_equal(file_size(seg_path(e, 1)), off);   /* the torn part was cut off */
    expect_range(q, 0, 99, 1);
    expect_end(q);
    append_range(q, 1000, 1010, 1);   /* appends continue */
    expect_range(q, 1000, 1010, 1);
    tl_dq_ack(q, 50);
    tl_dq_close(q);
    reopen_clean(e, 0, 59);

    /* A torn record header (fewer than 16 bytes) this time. */
    assert_int_equal(list_segs(e, segs, 8), 2);
    uint64_t size = file_size(seg_path(e, segs[1]));
    uint64_t last = size - RH - rec_size(1009, 1);
    do_truncate(seg_path(e, segs[1]), last + 3);
    q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "%s ends with a torn record of 3 bytes at offset %" PRIu64 ": 1 message "
              "lost, probably the one being written when tlslogd stopped.", seg_file(segs[1]),
              last);
    assert_int_equal(rec.records, 58);
    assert_int_equal(rec.lost_records, 1);
    expect_range(q, 50, 99, 1);
    expect_range(q, 1000, 1009, 1);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 0, 58);
}

/* Issue 10 point 5: a middle segment truncated, at a record boundary and in the middle of a
 * record: the messages missing are counted from the sequence numbers at the next segment. */
static void test_truncated_middle_segment(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);

    append_range(q, 0, 40, 0);   /* segments 1..5, 8 records each */
    tl_dq_close(q);

    /* Segment 2 (records 8..15) loses its last 3 records. */
    do_truncate(seg_path(e, 2), 16 + 5 * R100);
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000003.q: 3 messages missing before offset 16 (the end of "
              "seg-0000000000000002.q is missing): they are lost.");
    assert_int_equal(rec.lost_records, 3);
    assert_int_equal(rec.records, 37);
    assert_int_equal(rec.corrupt_records, 0);
    assert_int_equal(rec.skipped_bytes, 0);
    expect_range(q, 0, 13, 0);
    expect_range(q, 16, 40, 0);
    expect_end(q);
    tl_dq_close(q);
    /* Said once: a marker after the records of segment 2 bridges the gap. */
    assert_int_equal(file_size(seg_path(e, 2)), 16 + 5 * R100 + RH);
    reopen_clean(e, 1024, 37);

    /* Segment 4 (records 24..31) is cut 50 bytes into record 29. */
    do_truncate(seg_path(e, 4), 16 + 5 * R100 + 50);
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000005.q: 3 messages missing before offset 16 "
              "(seg-0000000000000004.q ends with a torn record of 50 bytes at offset %u): "
              "they are lost.", 16 + 5 * R100);
    assert_int_equal(rec.lost_records, 3);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.skipped_bytes, 50);
    assert_int_equal(rec.records, 34);
    assert_int_equal(file_size(seg_path(e, 4)), 16 + 5 * R100 + RH);
    expect_range(q, 0, 13, 0);
    expect_range(q, 16, 29, 0);
    expect_range(q, 32, 40, 0);
    expect_end(q);
    append_range(q, 40, 45, 0);
    tl_dq_close(q);
    reopen_clean(e, 1024, 39);
}

/* Issue 10 point 5: segment files deleted, one, then two in a row, then the one holding the
 * ack position. */
static void test_deleted_segment(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);

    append_range(q, 0, 56, 0);   /* segments 1..7 */
    expect_range(q, 0, 3, 0);
    tl_dq_ack(q, 3);             /* the ack position: record 3, in segment 1 */
    tl_dq_close(q);

    assert_int_equal(unlink(seg_path(e, 3)), 0);
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000004.q: 8 messages missing before offset 16 "
              "(seg-0000000000000003.q is missing): they are lost.");
    assert_int_equal(rec.lost_records, 8);
    assert_int_equal(rec.records, 45);
    expect_range(q, 3, 16, 0);
    expect_range(q, 24, 56, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 1024, 45);

    assert_int_equal(unlink(seg_path(e, 4)), 0);
    assert_int_equal(unlink(seg_path(e, 5)), 0);
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000006.q: 16 messages missing before offset 16 "
              "(seg-0000000000000003.q to seg-0000000000000005.q are missing): they are lost.");
    assert_int_equal(rec.lost_records, 16);
    assert_int_equal(rec.records, 29);
    tl_dq_close(q);
    reopen_clean(e, 1024, 29);

    assert_int_equal(unlink(seg_path(e, 1)), 0);
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000002.q: 5 messages missing before offset 16 "
              "(seg-0000000000000001.q, where the ack position is, is missing): they are "
              "lost.");
    assert_int_equal(rec.lost_records, 5);
    assert_int_equal(rec.records, 24);
    expect_range(q, 8, 16, 0);
    expect_range(q, 40, 56, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 1024, 24);
}

/* Issue 10 point 5: a gap in the sequence numbers with every record intact (one cut out of
 * a segment; the first one of a segment cut out), and numbers that go back. */
static void test_sequence_gap(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);

    append_range(q, 0, 24, 0);   /* segments 1..3 */
    tl_dq_close(q);

    cut_bytes(seg_path(e, 1), 16 + 5 * R100, R100);   /* record 5 */
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000001.q: 1 message missing before offset %u (a gap in the "
              "sequence numbers): it is lost. seg-0000000000000001.q: rewritten with its 7 "
              "valid records only, numbered without gaps; they are delivered.",
              16 + 5 * R100);
    assert_int_equal(rec.lost_records, 1);
    assert_int_equal(rec.corrupt_records, 0);
    assert_int_equal(rec.records, 23);
    expect_range(q, 0, 5, 0);
    expect_range(q, 6, 24, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 1024, 23);

    cut_bytes(seg_path(e, 3), 16, R100);   /* record 16 */
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000003.q: 1 message missing before offset 16 (the end of "
              "seg-0000000000000002.q is missing): it is lost.");
    assert_int_equal(rec.lost_records, 1);
    assert_int_equal(rec.records, 22);
    tl_dq_close(q);
    reopen_clean(e, 1024, 22);

    /* Record 9 twice (a copy of it in place of record 10). */
    uint8_t r9[R100];
    int fd = open(seg_path(e, 2), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, r9, R100, 16 + R100), R100);
    assert_int_equal(pwrite(fd, r9, R100, 16 + 2 * R100), R100);
    close(fd);
    q = open_q(e, 1024, 0, &rec);
    detail_is(&rec, "seg-0000000000000002.q: the sequence numbers go back by 1 at offset %u: "
              "those messages may be delivered twice. "
              "seg-0000000000000002.q: 1 message missing before offset %u (a gap in the "
              "sequence numbers): it is lost. "
              "seg-0000000000000002.q: rewritten with its 8 valid records only, numbered "
              "without gaps; they are delivered.", 16 + 2 * R100, 16 + 3 * R100);
    assert_int_equal(rec.lost_records, 1);
    assert_int_equal(rec.records, 22);
    expect_range(q, 0, 5, 0);
    expect_range(q, 6, 10, 0);
    expect_range(q, 9, 10, 0);
    expect_range(q, 11, 16, 0);
    expect_range(q, 17, 24, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 1024, 22);
}

/* Issue 10 point 5: two bytes flipped in the middle of a middle segment: only the record
 * they hit is lost; the scan finds the next record by its magic and CRC, and the segment is
 * written again without the damaged bytes. Then a flipped length byte and a flipped magic
 * byte in the first segment. */
static void test_flipped_bytes(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    /* 16384-byte segments hold 141 records of 100 bytes: 0..140, 141..281, 282..399. */
    struct tl_dq *q = open_q(e, 16384, 0, &rec);
    uint64_t segs[8];

    append_range(q, 0, 400, 0);
    tl_dq_close(q);
    assert_int_equal(list_segs(e, segs, 8), 3);
    uint64_t off200 = 16 + 59 * R100;   /* record 200 in segment 2 */
    flip(seg_path(e, 2), off200 + RH + 40);
    flip(seg_path(e, 2), off200 + RH + 41);

    q = open_q(e, 16384, 0, &rec);
    detail_is(&rec, "seg-0000000000000002.q: 1 message missing before offset %" PRIu64 " (116 "
              "damaged bytes at offset %" PRIu64 " of seg-0000000000000002.q): it is lost. "
              "seg-0000000000000002.q: rewritten with its 140 valid records only, numbered "
              "without gaps; they are delivered.", off200 + R100, off200);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.skipped_bytes, R100);
    assert_int_equal(rec.lost_records, 1);
    assert_int_equal(rec.bad_files, 0);
    assert_int_equal(rec.records, 399);
    expect_range(q, 0, 200, 0);
    expect_range(q, 201, 400, 0);
    expect_end(q);
    append_range(q, 400, 410, 0);
    expect_range(q, 400, 410, 0);
    tl_dq_close(q);
    assert_false(exists(path_in(e, "seg-0000000000000002.q.tmp")));
    reopen_clean(e, 16384, 409);

    /* The low byte of the length of record 5 (the CRC covers the length) and the first
     * magic byte of record 7. */
    flip(seg_path(e, 1), 16 + 5 * R100 + 4);
    flip(seg_path(e, 1), 16 + 7 * R100);
    q = open_q(e, 16384, 0, &rec);
    detail_is(&rec, "seg-0000000000000001.q: 1 message missing before offset %u (116 damaged "
              "bytes at offset %u of seg-0000000000000001.q): it is lost. "
              "seg-0000000000000001.q: 1 message missing before offset %u (116 damaged bytes "
              "at offset %u of seg-0000000000000001.q): it is lost. "
              "seg-0000000000000001.q: rewritten with its 139 valid records only, numbered "
              "without gaps; they are delivered.",
              16 + 6 * R100, 16 + 5 * R100, 16 + 8 * R100, 16 + 7 * R100);
    assert_int_equal(rec.corrupt_records, 2);
    assert_int_equal(rec.lost_records, 2);
    assert_int_equal(rec.records, 407);
    expect_range(q, 0, 5, 0);
    expect_next(q, 6, 0);
    expect_range(q, 8, 200, 0);
    expect_range(q, 201, 410, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 16384, 407);
}

/* What a file system may show after a power loss: the size grew, the data did not. */
static void test_zero_tail(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    static const uint8_t zeros[4096];

    append_range(q, 0, 10, 1);
    tl_dq_close(q);
    uint64_t size = file_size(seg_path(e, 1));
    patch(seg_path(e, 1), size, zeros, sizeof(zeros));
    q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "4096 damaged bytes at offset %" PRIu64 " of seg-0000000000000001.q: the "
              "messages there, if any, are lost (not known how many).", size);
    assert_int_equal(rec.records, 10);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.skipped_bytes, 4096);
    assert_int_equal(rec.lost_records, 0);
    assert_int_equal(file_size(seg_path(e, 1)), size);
    expect_range(q, 0, 10, 1);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 0, 10);
}

/* Issue 10 point 5: files that are not the queue's, among them a segment name out of range
 * (seg-ffffffffffffffff.q once kept tlslogd from starting): each is reported at every
 * start, in the order of the names, and left alone; the queue works. */
static void test_stray_files(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    static const char *const stray[] = {
        "seg-ffffffffffffffff.q", "seg-4000000000000000.q", "notes.txt",
        "seg-0000000000000009.q~", "seg-000000000000000A.q",
    };
    static const char want[] =
        "notes.txt: not a file of the queue: left alone. "
        "seg-0000000000000009.q~: not a file of the queue: left alone. "
        "seg-000000000000000A.q: not a file of the queue: left alone. "
        "seg-4000000000000000.q: segment number out of range: left alone. "
        "seg-ffffffffffffffff.q: segment number out of range: left alone.";

    append_range(q, 0, 10, 1);
    tl_dq_close(q);
    for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++) {
        patch(path_in(e, stray[i]), 0, "TLDQSEG2junk", 12);
    }
    /* Where queue.dir is the root of a file system of its own. */
    assert_int_equal(mkdir(path_in(e, "lost+found"), 0700), 0);

    for (int round = 0; round < 2; round++) {
        q = open_q(e, 0, 0, &rec);
        assert_string_equal(rec.detail, want);
        assert_int_equal(rec.unknown_files, 5);
        assert_int_equal(rec.bad_files, 0);
        assert_int_equal(rec.lost_records, 0);
        assert_int_equal(rec.records, 10 + (uint64_t)round);
        expect_range(q, 0, 10, 1);
        if (round == 0) {
            append_range(q, 10, 11, 1);
        }
        expect_range(q, 10, 11, 1);
        expect_end(q);
        tl_dq_close(q);
    }
    for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++) {
        assert_true(exists(path_in(e, stray[i])));
    }
    /* Numbering went on as if they were not there. */
    assert_true(exists(seg_path(e, 2)));
}

static void test_bad_files(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);
    uint64_t segs[32];

    append_range(q, 0, 30, 0);   /* 8 per segment: 1..4 */
    tl_dq_close(q);
    assert_int_equal(list_segs(e, segs, 32), 4);
    /* Wrong magic in segment 2 (records 8..15). */
    patch(seg_path(e, 2), 0, "XXXX", 4);
    /* Segments whose creation was cut short (a prefix of the header, or nothing). */
    patch(seg_path(e, 7), 0, "TLDQSEG", 7);
    int fd = open(seg_path(e, 8), O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    /* A header naming another segment; a file too short for a header, with the highest
     * number there is. */
    static uint8_t hdr[16] = "TLDQSEG2";
    hdr[8] = 3;
    patch(seg_path(e, 6), 0, hdr, 16);
    patch(path_in(e, "seg-3fffffffffffffff.q"), 0, "junk", 4);

    q = open_q(e, 1024, 0, &rec);
    assert_string_equal(rec.detail,
                        "seg-0000000000000002.q: bad segment header (wrong magic): 944 bytes "
                        "skipped, file renamed to seg-0000000000000002.q.bad. "
                        "seg-0000000000000003.q: 8 messages missing before offset 16 "
                        "(seg-0000000000000002.q had a bad header): they are lost. "
                        "seg-0000000000000006.q: bad segment header (wrong segment number): 16 "
                        "bytes skipped, file renamed to seg-0000000000000006.q.bad. "
                        "seg-0000000000000007.q: segment creation was cut short (7 of 16 "
                        "header bytes): deleted. "
                        "seg-0000000000000008.q: segment creation was cut short (0 of 16 "
                        "header bytes): deleted. "
                        "seg-3fffffffffffffff.q: bad segment header (file too short): 4 bytes "
                        "skipped, file renamed to seg-3fffffffffffffff.q.bad. "
                        "seg-0000000000000006.q had a bad header; seg-3fffffffffffffff.q had a "
                        "bad header: the messages there, if any, are lost (not known how "
                        "many).");
    assert_int_equal(rec.bad_files, 3);
    assert_int_equal(rec.corrupt_records, 0);
    assert_int_equal(rec.lost_records, 8);
    assert_int_equal(rec.records, 22);
    assert_true(exists(path_in(e, "seg-0000000000000002.q.bad")));
    assert_true(exists(path_in(e, "seg-3fffffffffffffff.q.bad")));
    assert_false(exists(seg_path(e, 7)));
    assert_false(exists(seg_path(e, 8)));
    expect_range(q, 0, 8, 0);
    expect_range(q, 16, 30, 0);
    expect_end(q);
    /* New segments are numbered after the ones kept (the others are gone or renamed). */
    append_range(q, 30, 31, 0);
    tl_dq_close(q);
    assert_true(exists(seg_path(e, 5)));
    reopen_clean(e, 1024, 23);
}

/* Issue 10 point 5 (an upgrade): a segment and an ack file of format 1 are reported, the
 * segment is renamed *.bad with the count of its messages, and the queue starts anew. */
static void test_format_1(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    uint8_t f[64];
    size_t n = 16;
    static const char *const msg[] = { "a", "bb", "ccc" };

    assert_int_equal(mkdir(e->dir, 0700), 0);
    memcpy(f, "TLDQSEG1", 8);
    memset(f + 8, 0, 8);
    f[8] = 1;
    for (size_t i = 0; i < 3; i++) {
        uint32_t len = (uint32_t)strlen(msg[i]);
        uint8_t lb[4] = { (uint8_t)len, 0, 0, 0 };
        uint32_t crc = tl_crc32c(tl_crc32c(0, lb, 4), msg[i], len);
        memcpy(f + n, lb, 4);
        for (int k = 0; k < 4; k++) {
            f[n + 4 + (size_t)k] = (uint8_t)(crc >> (8 * k));
        }
        memcpy(f + n + 8, msg[i], len);
        n += 8 + len;
    }
    patch(seg_path(e, 1), 0, f, n);
    uint8_t a[552];
    memset(a, 0, sizeof(a));
    memcpy(a + 512, "TLDQACK1", 8);
    a[520] = 1;    /* generation */
    a[528] = 1;    /* segment */
    a[536] = 16;   /* offset */
    uint32_t crc = tl_crc32c(0, a + 512, 32);
    for (int k = 0; k < 4; k++) {
        a[544 + k] = (uint8_t)(crc >> (8 * k));
    }
    patch(path_in(e, "ack"), 0, a, sizeof(a));

    struct tl_dq *q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "ack: in the format of tlslogd 0.1, which this version does not read. "
              "seg-0000000000000001.q: bad segment header (the format of tlslogd 0.1, which "
              "this version does not read: its 3 messages are not delivered): %zu bytes "
              "skipped, file renamed to seg-0000000000000001.q.bad.", n);
    assert_int_equal(rec.lost_records, 3);
    assert_int_equal(rec.bad_files, 1);
    assert_int_equal(rec.redelivered, 0);
    assert_int_equal(rec.records, 0);
    assert_true(exists(path_in(e, "seg-0000000000000001.q.bad")));
    expect_end(q);
    append_range(q, 0, 2, 1);
    tl_dq_close(q);
    reopen_clean(e, 0, 2);
}

/* Issue 10 point 5: a garbled ack file, one slot and both; a slot that was never written
 * is not damage; the file gone. */
static void test_ack_file(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    static const uint8_t zero[48];
    uint8_t s[48];

    append_range(q, 0, 20, 1);
    tl_dq_close(q);
    /* Update 1 went to the slot at 512; the one at 0 was never written. */
    int fd = open(path_in(e, "ack"), O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, s, 48, 0), 48);
    close(fd);
    assert_memory_equal(s, zero, 48);
    reopen_clean(e, 0, 20);   /* update 2, at 0 */

    q = open_q(e, 0, 0, &rec);   /* update 3, at 512 */
    expect_range(q, 0, 10, 1);
    tl_dq_ack(q, 5);
    flush_q(q);                  /* update 4, at 0: position 5 */
    tl_dq_ack(q, 5);
    tl_dq_close(q);              /* update 5, at 512: position 10 */

    /* The newer slot damaged: the older one is used (duplicates, no loss). */
    patch(path_in(e, "ack"), 512 + 20, "\xff", 1);
    q = open_q(e, 0, 0, &rec);   /* writes update 5 at 512 again */
    assert_string_equal(rec.detail, "ack: the slot at offset 512 is damaged, the one at offset "
                        "0 (update 4) is used; if the damaged one was newer, the messages it "
                        "acknowledged are delivered again.");
    assert_int_equal(rec.records, 15);
    assert_int_equal(rec.redelivered, 0);
    assert_int_equal(rec.lost_records, 0);
    expect_range(q, 5, 20, 1);
    tl_dq_close(q);
    reopen_clean(e, 0, 15);      /* update 6, at 0 */

    /* The older slot damaged: the newer one is used. */
    patch(path_in(e, "ack"), 512 + 3, "\x00", 1);
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "ack: the slot at offset 512 is damaged, the one at offset "
                        "0 (update 6) is used; if the damaged one was newer, the messages it "
                        "acknowledged are delivered again.");
    assert_int_equal(rec.records, 15);
    tl_dq_close(q);
    reopen_clean(e, 0, 15);

    /* No valid slot at all: everything is delivered again, and that is said. */
    static const uint8_t junk[600] = { 1, 2, 3 };
    patch(path_in(e, "ack"), 0, junk, sizeof(junk));
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "ack: neither of its two slots holds a valid position. "
                        "ack: so the 20 messages found are all delivered again, from the "
                        "oldest segment; those delivered before are duplicates.");
    assert_int_equal(rec.records, 20);
    assert_int_equal(rec.redelivered, 20);
    assert_int_equal(rec.lost_records, 0);
    expect_range(q, 0, 20, 1);
    tl_dq_close(q);
    /* Both slots were written at the open (found by fuzz_disk: with one written, the junk
     * left in the other was reported again). */
    reopen_clean(e, 0, 20);

    /* The file deleted (or emptied). */
    assert_int_equal(unlink(path_in(e, "ack")), 0);
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "ack: no position in the file (new, or emptied), so the 20 "
                        "messages found are all delivered again, from the oldest segment; "
                        "those delivered before are duplicates.");
    assert_int_equal(rec.redelivered, 20);
    expect_range(q, 0, 20, 1);
    tl_dq_close(q);
    reopen_clean(e, 0, 20);
}

/* The ack position reached the disk and the data before it did not (a crash of the machine
 * with queue.sync other than always): said, since messages written after that position
 * were lost with it. */
static void test_ack_ahead_of_data(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 10, 1);
    flush_q(q);
    append_range(q, 10, 20, 1);   /* only in the append buffer */
    expect_range(q, 0, 20, 1);
    tl_dq_ack(q, 15);
    struct tl_err err;
    assert_int_equal(tl_dq_tick(q, 0, &err), TL_OK);
    uint64_t segs[8];
    assert_int_equal(list_segs(e, segs, 8), 1);
    /* tick wrote the buffer: cut it back to simulate the lost write */
    do_truncate(seg_path(e, segs[0]), rec_offset(0, 10, 1));
    /* Copy ack and segment aside, close (which would write), then put them back. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp -p %s/ack %s/seg-* %s/", e->dir, e->dir, e->base);
    assert_int_equal(system(cmd), 0);
    tl_dq_close(q);
    snprintf(cmd, sizeof(cmd), "rm -f %s/seg-* && cp -p %s/ack %s/seg-* %s/", e->dir,
             e->base, e->base, e->dir);
    assert_int_equal(system(cmd), 0);

    q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "seg-0000000000000001.q ends at byte %" PRIu64 ", before the ack position "
              "(offset %" PRIu64 "): the messages there, if any, are lost (not known how "
              "many).", rec_offset(0, 10, 1), rec_offset(0, 15, 1));
    assert_int_equal(rec.records, 0);
    expect_end(q);
    append_range(q, 100, 105, 1);
    tl_dq_close(q);
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, 5);
    expect_range(q, 100, 105, 1);
    expect_end(q);
    tl_dq_close(q);
}

/* Issue 10 point 5: tlslogd stopped in the middle of a rewrite: the leftover is deleted
 * (said), and the segment, still as it was, is recovered again. */
static void test_rewrite_cut_short(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 20, 0);
    tl_dq_close(q);
    flip(seg_path(e, 1), 16 + 10 * R100 + RH + 7);
    /* The part of a copy that a rewrite had written. */
    patch(path_in(e, "seg-0000000000000001.q.tmp"), 0, "TLDQSEG2\x01\0\0\0\0\0\0\0LDRQ", 20);

    q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "seg-0000000000000001.q.tmp: left by a rewrite that was cut short: deleted. "
              "seg-0000000000000001.q: 1 message missing before offset %u (116 damaged bytes "
              "at offset %u of seg-0000000000000001.q): it is lost. seg-0000000000000001.q: "
              "rewritten with its 19 valid records only, numbered without gaps; they are "
              "delivered.", 16 + 11 * R100, 16 + 10 * R100);
    assert_int_equal(rec.lost_records, 1);
    assert_int_equal(rec.unknown_files, 0);
    assert_false(exists(path_in(e, "seg-0000000000000001.q.tmp")));
    expect_range(q, 0, 10, 0);
    expect_range(q, 11, 20, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 0, 19);
}

/* Issue 10 point 5: a rewrite that cannot be done (here: files may not grow past 4096
 * bytes): the records before the damage are kept, the others counted as lost. */
static void test_rewrite_impossible(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 300, 0);   /* 34816 bytes, one segment */
    tl_dq_close(q);
    uint64_t off100 = 16 + 100 * R100;
    flip(seg_path(e, 1), off100 + RH + 50);

    file_limit(4096);
    q = open_q(e, 0, 0, &rec);
    detail_is(&rec, "seg-0000000000000001.q: 1 message missing before offset %" PRIu64 " (116 "
              "damaged bytes at offset %" PRIu64 " of seg-0000000000000001.q): it is lost. "
              "seg-0000000000000001.q: cannot be rewritten without its damaged bytes (File "
              "too large): the 199 valid records after offset %" PRIu64 " are lost too.",
              off100 + R100, off100, off100);
    assert_int_equal(rec.lost_records, 200);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.records, 100);
    assert_int_equal(file_size(seg_path(e, 1)), off100);
    assert_false(exists(path_in(e, "seg-0000000000000001.q.tmp")));
    expect_range(q, 0, 100, 0);
    expect_end(q);
    tl_dq_close(q);
    file_limit(0);
    reopen_clean(e, 0, 100);
}

/* Damage found while reading (after the open): the rest of that segment is dropped and said;
 * the file is cut there with a marker, so the next open does not say it again. */
static void test_read_time_damage(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);
    char want[512];

    append_range(q, 0, 30, 0);   /* segments 1..4, 8 records each */
    flush_q(q);
    assert_null(tl_dq_take_problem(q));
    /* Damage record 12 (segment 2, fifth record) while the queue is open. */
    flip(seg_path(e, 2), 16 + 4 * R100 + RH + 50);
    expect_range(q, 0, 12, 0);
    assert_int_equal(tl_dq_count(q), 30);
    expect_range(q, 16, 30, 0);   /* the rest of segment 2 is dropped */
    expect_end(q);
    assert_int_equal(tl_dq_count(q), 26);
    const char *pr = tl_dq_take_problem(q);
    assert_non_null(pr);
    snprintf(want, sizeof(want), "seg-0000000000000002.q: record (length 100) fails its CRC");
    assert_true(strncmp(pr, want, strlen(want)) == 0);
    assert_non_null(strstr(pr, "at offset 480: 4 records (464 bytes) from there to the end "
                               "of the segment are lost."));
    assert_null(tl_dq_take_problem(q));
    assert_int_equal(file_size(seg_path(e, 2)), 480 + RH);   /* cut, and a marker */
    tl_dq_close(q);
    reopen_clean(e, 1024, 26);

    q = open_q(e, 1024, 0, &rec);
    expect_range(q, 0, 12, 0);
    expect_range(q, 16, 20, 0);
    /* Acknowledgements and rewind keep working across the hole. */
    tl_dq_ack(q, 14);
    assert_int_equal(tl_dq_count(q), 12);
    tl_dq_rewind(q);
    expect_range(q, 18, 30, 0);
    /* A segment file that vanished. */
    append_range(q, 30, 50, 0);
    flush_q(q);
    tl_dq_rewind(q);
    uint64_t segs[16];
    size_t n = list_segs(e, segs, 16);
    assert_int_equal(n, 5);   /* 3, 4, 5 (the open's tail, 30..37), 6 and 7 */
    assert_int_equal(unlink(seg_path(e, 6)), 0);
    assert_int_equal(drain_all(q), 32 - 8);
    assert_int_equal(tl_dq_count(q), 32 - 8);
    pr = tl_dq_take_problem(q);
    assert_non_null(pr);
    assert_non_null(strstr(pr, "read failed (No such file or directory)"));
    tl_dq_close(q);
    /* Gone with its file: no marker could be written, so the next open tells again. */
    q = open_q(e, 1024, 0, &rec);
    assert_string_equal(rec.detail, "seg-0000000000000007.q: 8 messages missing before offset "
                        "16 (seg-0000000000000006.q is missing): they are lost.");
    tl_dq_close(q);
    reopen_clean(e, 1024, 24);
}

static void test_tail_damage(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 10, 0);
    flush_q(q);
    append_range(q, 10, 12, 0);   /* buffered */
    flip(seg_path(e, 1), 16 + 5 * R100 + 20);
    expect_range(q, 0, 5, 0);
    expect_end(q);   /* 5..11 dropped, buffered ones included */
    assert_int_equal(tl_dq_count(q), 5);
    assert_non_null(tl_dq_take_problem(q));
    /* The damaged tail gets no more records: a new segment starts. */
    append_range(q, 20, 25, 0);
    expect_range(q, 20, 25, 0);
    tl_dq_close(q);
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, 10);
    expect_range(q, 0, 5, 0);
    expect_range(q, 20, 25, 0);
    tl_dq_close(q);
}

/* A write that fails (here: a file may not grow past 4096 bytes, EFBIG) keeps the records
 * buffered; once the buffer is full, appends say TL_E_IO and add nothing; when writing
 * works again everything reaches the file, in order, and nothing is torn. */
static void test_append_retry(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    static uint8_t buf[MAXREC];
    struct tl_err err;
    char want[256];

    file_limit(4096);
    append_range(q, 0, 100, 0);
    assert_int_equal(tl_dq_flush(q, &err), TL_E_IO);
    snprintf(want, sizeof(want), "queue.dir %s: cannot write seg-0000000000000001.q: File too "
             "large", e->dir);
    assert_string_equal(err.cause, want);
    assert_int_equal(file_size(seg_path(e, 1)), 4096);   /* a short write, then EFBIG */
    assert_int_equal(tl_dq_count(q), 100);
    expect_range(q, 0, 100, 0);   /* from the buffer */
    tl_dq_rewind(q);

    uint64_t i = 100;
    enum tl_rc rc;
    for (;;) {
        size_t n = rec_make(i, 0, buf);
        rc = tl_dq_append(q, buf, n, &err);
        if (rc != TL_OK) {
            break;
        }
        i++;
        assert_true(i < 20000);
    }
    assert_int_equal(rc, TL_E_IO);
    assert_int_equal(err.code, TL_E_IO);
    assert_int_equal(err.sys_errno, EFBIG);
    assert_string_equal(err.cause, want);
    assert_true(i > 9000);   /* about 1 MiB buffered before appends are refused */
    assert_int_equal(tl_dq_count(q), i);
    assert_int_equal(tl_dq_unread(q), i);
    size_t n = rec_make(i, 0, buf);
    assert_int_equal(tl_dq_append(q, buf, n, &err), TL_E_IO);
    assert_int_equal(tl_dq_count(q), i);

    file_limit(0);
    assert_int_equal(tl_dq_append(q, buf, n, &err), TL_OK);
    flush_q(q);
    assert_int_equal(tl_dq_count(q), i + 1);
    expect_range(q, 0, i + 1, 0);
    expect_end(q);
    tl_dq_close(q);
    reopen_clean(e, 0, i + 1);
}

/* At a stop after a failed flush: what is not completely in the file leaves the queue, the
 * partial record is cut off, and the counts say what is left; records read from the buffer
 * and acknowledged are not counted as lost. */
static void test_discard_unwritten(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    struct tl_err err;
    /* 4096 bytes: the header and 35 records (4076 bytes), and 20 bytes of record 35. */
    const uint64_t whole = 35;
    const uint64_t cut = 16 + whole * R100;

    assert_int_equal(tl_dq_discard_unwritten(q), 0);   /* nothing buffered */
    file_limit(4096);
    append_range(q, 0, 100, 0);
    assert_int_equal(tl_dq_flush(q, &err), TL_E_IO);
    expect_range(q, 0, 10, 0);
    tl_dq_ack(q, 5);
    assert_int_equal(tl_dq_discard_unwritten(q), 100 - whole);
    assert_int_equal(tl_dq_count(q), whole - 5);
    assert_int_equal(tl_dq_unread(q), whole - 5);
    assert_int_equal(tl_dq_bytes(q), (whole - 5) * R100);
    assert_int_equal(file_size(seg_path(e, 1)), cut);
    expect_range(q, 5, whole, 0);   /* from the file now, after a rewind */
    expect_end(q);
    file_limit(0);
    /* Appends go on after the cut, with no gap in the numbers. */
    append_range(q, 200, 205, 0);
    expect_range(q, 200, 205, 0);
    tl_dq_close(q);
    reopen_clean(e, 0, whole - 5 + 5);
    q = open_q(e, 0, 0, &rec);
    expect_range(q, 5, whole, 0);
    expect_range(q, 200, 205, 0);
    tl_dq_ack(q, whole);
    tl_dq_close(q);
    reopen_clean(e, 0, 0);

    /* The ack position inside what is discarded: records 0..37 were read from the buffer and
     * acknowledged, 35..37 never reached the file. */
    q = open_q(e, 0, 0, &rec);
    uint64_t segs[4];
    assert_int_equal(list_segs(e, segs, 4), 1);
    file_limit(4096);
    append_range(q, 0, 100, 0);
    assert_int_equal(tl_dq_flush(q, &err), TL_E_IO);
    expect_range(q, 0, 40, 0);
    tl_dq_ack(q, 38);
    assert_int_equal(tl_dq_discard_unwritten(q), 100 - 38);
    assert_int_equal(tl_dq_count(q), 0);
    assert_int_equal(tl_dq_unread(q), 0);
    assert_int_equal(tl_dq_bytes(q), 0);
    expect_end(q);
    tl_dq_close(q);
    file_limit(0);
    reopen_clean(e, 0, 0);
    q = open_q(e, 0, 0, &rec);
    append_range(q, 300, 303, 0);
    tl_dq_close(q);
    reopen_clean(e, 0, 3);
}

/* The file system takes no new file at the open (here: a directory without write
 * permission; a full one does the same): the queue opens anyway, delivers what is on disk,
 * and appends say TL_E_IO until the new segment can be created. Runs in a child, as
 * nobody when we are root (root may write anyway). */
static int child_no_new_segment(struct env *e)
{
    int step = 0;   /* the exit status says which check failed */
#define CHILD_CHECK(c)                                                                         \
    do {                                                                                       \
        step++;                                                                                \
        if (!(c)) {                                                                            \
            return step;                                                                       \
        }                                                                                      \
    } while (0)
    struct tl_dq_opts o = { .dir = e->dir, .sync = TL_DQ_SYNC_NONE };
    struct tl_dq_recovery rec;
    struct tl_err err;
    char want[512];
    static uint8_t buf[MAXREC];
    const uint8_t *p;
    size_t n;

    if (geteuid() == 0) {
        static const char *const files[] = { "", "/q", "/q/ack", "/q/lock",
                                             "/q/seg-0000000000000001.q" };
        for (size_t i = 0; i < 5; i++) {
            char path[256];
            snprintf(path, sizeof(path), "%s%s", e->base, files[i]);
            CHILD_CHECK(chown(path, 65534, 65534) == 0);
        }
        CHILD_CHECK(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0);
    }
    CHILD_CHECK(chmod(e->dir, 0555) == 0);
    struct tl_dq *q = tl_dq_open(&o, &rec, &err);
    CHILD_CHECK(q != NULL);
    CHILD_CHECK(strcmp(rec.detail, "seg-0000000000000002.q: cannot be created yet (Permission "
                       "denied): new messages wait until it can.") == 0);
    CHILD_CHECK(rec.records == 10);
    for (uint64_t i = 0; i < 10; i++) {
        size_t wn = rec_make(i, 1, buf);
        CHILD_CHECK(tl_dq_peek(q, &p, &n) && n == wn && memcmp(p, buf, n) == 0);
        tl_dq_advance(q);
    }
    CHILD_CHECK(!tl_dq_peek(q, &p, &n));
    tl_dq_ack(q, 4);
    n = rec_make(10, 1, buf);
    CHILD_CHECK(tl_dq_append(q, buf, n, &err) == TL_E_IO && err.sys_errno == EACCES);
    snprintf(want, sizeof(want), "queue.dir %s: cannot create seg-0000000000000002.q: "
             "Permission denied", e->dir);
    CHILD_CHECK(strcmp(err.cause, want) == 0);
    CHILD_CHECK(tl_dq_count(q) == 6);
    CHILD_CHECK(tl_dq_flush(q, &err) == TL_OK);   /* the ack file is still writable */
    CHILD_CHECK(chmod(e->dir, 0700) == 0);
    CHILD_CHECK(tl_dq_append(q, buf, n, &err) == TL_OK);
    CHILD_CHECK(tl_dq_peek(q, &p, &n) && n == rec_size(10, 1));
    tl_dq_close(q);
    q = tl_dq_open(&o, &rec, &err);
    CHILD_CHECK(q != NULL && rec.detail[0] == '\0' && rec.records == 7);
    tl_dq_close(q);
    return 0;
#undef CHILD_CHECK
}

static void test_open_without_new_segment(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    int status;

    append_range(q, 0, 10, 1);
    tl_dq_close(q);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(child_no_new_segment(e));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_message("child failed: status %d (check %d of child_no_new_segment)\n", status,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        fail();
    }
}

static void test_dirs_and_lock(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_err err;
    char want[256];
    struct tl_dq_opts o = { .dir = e->dir };

    /* Created 0700. */
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    struct stat st;
    assert_int_equal(stat(e->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* A second open of the same directory, even in this process, is refused. */
    assert_null(tl_dq_open(&o, &rec, &err));
    snprintf(want, sizeof(want), "queue.dir %s is in use by another process (pid %ld)", e->dir,
             (long)getpid());
    assert_string_equal(err.cause, want);
    assert_int_equal(err.code, TL_E_CONFIG);
    assert_string_equal(err.remedy, "");
    tl_dq_close(q);
    q = tl_dq_open(&o, &rec, &err);
    assert_non_null(q);
    tl_dq_close(q);

    /* An existing empty directory. */
    char d2[128];
    snprintf(d2, sizeof(d2), "%s/empty", e->base);
    assert_int_equal(mkdir(d2, 0755), 0);
    o.dir = d2;
    q = tl_dq_open(&o, &rec, &err);
    assert_non_null(q);
    assert_int_equal(rec.records, 0);
    assert_string_equal(rec.detail, "");
    tl_dq_close(q);

    /* Missing parents are created; a file in the way is an error. */
    snprintf(d2, sizeof(d2), "%s/a/b/c/", e->base);
    q = tl_dq_open(&o, &rec, &err);
    assert_non_null(q);
    tl_dq_close(q);
    snprintf(d2, sizeof(d2), "%s/a", e->base);
    assert_int_equal(stat(d2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(d2, sizeof(d2), "%s/q/ack/x", e->base);
    assert_null(tl_dq_open(&o, &rec, &err));
    snprintf(want, sizeof(want), "queue.dir %s: cannot create: Not a directory", d2);
    assert_string_equal(err.cause, want);
    assert_int_equal(err.code, TL_E_IO);
    assert_int_equal(err.sys_errno, ENOTDIR);
    snprintf(d2, sizeof(d2), "%s/q/ack", e->base);
    assert_null(tl_dq_open(&o, &rec, &err));
    snprintf(want, sizeof(want), "queue.dir %s: cannot open: Not a directory", d2);
    assert_string_equal(err.cause, want);
    /* NULL rec and a NULL close are fine. */
    o.dir = e->dir;
    q = tl_dq_open(&o, NULL, &err);
    assert_non_null(q);
    tl_dq_close(q);
    tl_dq_close(NULL);
}

static void test_sync_policies(void **state)
{
    struct env *e = *state;
    enum tl_dq_sync pol[] = { TL_DQ_SYNC_ALWAYS, TL_DQ_SYNC_INTERVAL };
    struct tl_err err;

    for (size_t k = 0; k < 2; k++) {
        struct tl_dq_opts o = { .dir = e->dir, .segment_bytes = 1024, .sync = pol[k],
                                .sync_interval_ms = 10 };
        struct tl_dq_recovery rec;
        struct tl_dq *q = tl_dq_open(&o, &rec, &err);
        assert_non_null(q);
        append_range(q, 0, 40, 0);
        flush_q(q);
        expect_range(q, 0, 40, 0);
        tl_dq_ack(q, 20);
        assert_int_equal(tl_dq_tick(q, 0, &err), TL_OK);
        assert_int_equal(tl_dq_tick(q, 1000000, &err), TL_OK);
        tl_dq_ack(q, 20);
        tl_dq_close(q);
        q = tl_dq_open(&o, &rec, &err);
        assert_non_null(q);
        assert_int_equal(rec.records, 0);
        tl_dq_close(q);
    }
}

/* A process killed with SIGKILL loses only what it had not flushed; its lock goes with it.
 * While it lives, another process is refused with its pid. */
static void test_killed_process(void **state)
{
    struct env *e = *state;
    int ready[2];
    int go[2];
    char c;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tl_dq_opts o = { .dir = e->dir };
        struct tl_err err;
        struct tl_dq *q = tl_dq_open(&o, NULL, &err);
        static uint8_t buf[MAXREC];
        const uint8_t *p;
        size_t n;
        if (q == NULL) {
            _exit(1);
        }
        for (uint64_t i = 0; i < 1000; i++) {
            n = rec_make(i, 1, buf);
            if (tl_dq_append(q, buf, n, &err) != TL_OK) {
                _exit(1);
            }
        }
        for (int i = 0; i < 300; i++) {
            if (!tl_dq_peek(q, &p, &n)) {
                _exit(1);
            }
            tl_dq_advance(q);
        }
        tl_dq_ack(q, 300);
        for (int i = 0; i < 100; i++) {   /* read, never acknowledged */
            tl_dq_peek(q, &p, &n);
            tl_dq_advance(q);
        }
        if (tl_dq_flush(q, &err) != TL_OK) {
            _exit(1);
        }
        for (uint64_t i = 1000; i < 1050; i++) {   /* never flushed */
            n = rec_make(i, 1, buf);
            (void)tl_dq_append(q, buf, n, &err);
        }
        if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1) {
            _exit(1);
        }
        raise(SIGKILL);
        _exit(1);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);

    struct tl_dq_opts o = { .dir = e->dir };
    struct tl_dq_recovery rec;
    struct tl_err err;
    char want[256];
    assert_null(tl_dq_open(&o, &rec, &err));
    snprintf(want, sizeof(want), "queue.dir %s is in use by another process (pid %ld)", e->dir,
             (long)pid);
    assert_string_equal(err.cause, want);

    assert_int_equal(write(go[1], "g", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);

    struct tl_dq *q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, 700);
    expect_range(q, 300, 1000, 1);
    expect_end(q);
    tl_dq_close(q);
}

/* Settings may change between runs (syslog-ng's disk buffer broke on a resize): other segment
 * sizes and a max_bytes below what is queued only make appends wait. */
static void test_settings_change(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 2048, 0, &rec);
    struct tl_err err;

    append_range(q, 0, 100, 1);
    tl_dq_close(q);
    q = open_q(e, 0, 1000, &rec);
    assert_int_equal(rec.records, 100);
    assert_int_equal(tl_dq_append(q, "x", 1, &err), TL_FULL);
    expect_range(q, 0, 50, 1);
    tl_dq_ack(q, 50);
    tl_dq_close(q);
    q = open_q(e, 300, 0, &rec);
    assert_int_equal(rec.records, 50);
    append_range(q, 100, 110, 1);
    expect_range(q, 50, 110, 1);
    expect_end(q);
    tl_dq_close(q);
}

/* Random operations against a model; records of random sizes; closes and opens between. */
static void test_random_round_trip(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    const uint64_t total = 100000;
    struct tl_dq *q = open_q(e, 256 * 1024, 0, &rec);
    uint64_t next = 0;     /* next to append */
    uint64_t acked = 0;    /* records [acked, next) are queued */
    uint64_t rd = 0;       /* read cursor: [acked, rd) are in flight */
    uint64_t rng = 42;
    static uint8_t buf[MAXREC];
    struct tl_err err;

    while (acked < total) {
        rng = mix64(rng);
        unsigned op = (unsigned)(rng % 100);
        if (op < 40 && next < total) {
            uint64_t n = 1 + (rng >> 8) % 64;
            for (uint64_t k = 0; k < n && next < total; k++) {
                size_t len = rec_make(next, 2, buf);
                assert_int_equal(tl_dq_append(q, buf, len, &err), TL_OK);
                next++;
            }
            if ((rng >> 20) % 2 == 0) {
                flush_q(q);
            }
        } else if (op < 75) {
            uint64_t n = 1 + (rng >> 8) % 80;
            for (uint64_t k = 0; k < n && rd < next; k++) {
                expect_next(q, rd, 2);
                rd++;
            }
        } else if (op < 95) {
            uint64_t n = (rng >> 8) % 100;
            if (n > rd - acked) {
                n = rd - acked;
            }
            tl_dq_ack(q, n);
            acked += n;
        } else if (op < 99) {
            tl_dq_rewind(q);
            rd = acked;
        } else {
            tl_dq_close(q);
            q = open_q(e, 256 * 1024, 0, &rec);
            assert_string_equal(rec.detail, "");
            assert_int_equal(rec.records, next - acked);
            rd = acked;
        }
        assert_int_equal(tl_dq_count(q), next - acked);
        assert_int_equal(tl_dq_unread(q), next - rd);
        if (next == total && rd == next) {
            expect_end(q);
        }
    }
    tl_dq_close(q);
    uint64_t segs[8];
    assert_int_equal(list_segs(e, segs, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_middle_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stray_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_ahead_of_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_cut_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_impossible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_time_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_unwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_without_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirs_and_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
