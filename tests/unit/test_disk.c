/*
 * test_disk.c: the disk queue: append/read/ack/rewind, persistence across close and open,
 * segment rollover and deletion, max_bytes, and recovery from damaged files (torn tail,
 * flipped byte, zero-filled tail, bad header, bad ack file), with the exact report text.
 *
 * Records are generated from their index (rec_make), so a reader can check any record
 * without keeping a copy.
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
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/disk.h"

#define MAXREC 70000

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
    char err[256] = "";
    struct tl_dq *q = tl_dq_open(&o, rec, err, sizeof(err));
    if (q == NULL) {
        print_message("open failed: %s\n", err);
    }
    assert_non_null(q);
    return q;
}

static void append_range(struct tl_dq *q, uint64_t from, uint64_t to, int scheme)
{
    static uint8_t buf[MAXREC];
    char err[256];

    for (uint64_t i = from; i < to; i++) {
        size_t n = rec_make(i, scheme, buf);
        assert_int_equal(tl_dq_append(q, buf, n, err, sizeof(err)), TL_DQ_OK);
    }
}

static void flush_q(struct tl_dq *q)
{
    char err[256] = "";
    if (!tl_dq_flush(q, err, sizeof(err))) {
        print_message("flush: %s\n", err);
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
        off += 8 + rec_size(k, scheme);
    }
    return off;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char p[512];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
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
        bytes += 8 + rec_size(i, 1);
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
    assert_int_equal(tl_dq_bytes(q), bytes - (16 + rec_size(0, 1) + rec_size(1, 1)));
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
    char err[128];
    assert_int_equal(tl_dq_append(q, "", 0, err, sizeof(err)), TL_DQ_OK);
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
    /* 1024-byte segments: 16 + 9 * 108 = 988, so 9 records of 100 bytes per segment. */
    struct tl_dq *q = open_q(e, 1024, 0, &rec);
    uint64_t segs[64];

    append_range(q, 0, 100, 0);
    flush_q(q);
    size_t n = list_segs(e, segs, 64);
    assert_int_equal(n, 12);   /* 11 full + 1 record */
    assert_int_equal(file_size(seg_path(e, segs[0])), 16 + 9 * 108);
    assert_int_equal(file_size(seg_path(e, segs[11])), 16 + 108);

    expect_range(q, 0, 20, 0);
    tl_dq_ack(q, 8);   /* first segment: 8 of 9 */
    assert_int_equal(list_segs(e, segs, 64), 12);
    tl_dq_ack(q, 1);   /* first segment done */
    assert_int_equal(list_segs(e, segs, 64), 11);
    tl_dq_ack(q, 11);  /* 20 acknowledged: two segments gone, the third has 2 of 9 */
    assert_int_equal(list_segs(e, segs, 64), 10);
    tl_dq_close(q);

    q = open_q(e, 1024, 0, &rec);
    assert_int_equal(rec.records, 80);
    expect_range(q, 20, 100, 0);
    tl_dq_ack(q, 80);
    /* Only the (new, empty) tail is left. */
    assert_int_equal(list_segs(e, segs, 64), 1);

    /* A record larger than a segment gets one of its own, then the next starts anew. */
    static uint8_t big[3000];
    char err[128];
    memset(big, 'x', sizeof(big));
    append_range(q, 100, 102, 0);
    assert_int_equal(tl_dq_append(q, big, sizeof(big), err, sizeof(err)), TL_DQ_OK);
    append_range(q, 102, 104, 0);
    flush_q(q);
    n = list_segs(e, segs, 64);
    assert_int_equal(n, 3);
    assert_int_equal(file_size(seg_path(e, segs[0])), 16 + 2 * 108);
    assert_int_equal(file_size(seg_path(e, segs[1])), 16 + 8 + 3000);
    assert_int_equal(file_size(seg_path(e, segs[2])), 16 + 2 * 108);
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
    struct tl_dq *q = open_q(e, 0, 10 * 108, &rec);
    static uint8_t buf[MAXREC];
    char err[256];

    append_range(q, 0, 10, 0);
    size_t n = rec_make(10, 0, buf);
    assert_int_equal(tl_dq_append(q, buf, n, err, sizeof(err)), TL_DQ_FULL);
    assert_int_equal(tl_dq_count(q), 10);
    /* reading alone makes no room */
    expect_range(q, 0, 3, 0);
    assert_int_equal(tl_dq_append(q, buf, n, err, sizeof(err)), TL_DQ_FULL);
    tl_dq_ack(q, 3);
    append_range(q, 10, 13, 0);
    assert_int_equal(tl_dq_append(q, buf, n, err, sizeof(err)), TL_DQ_FULL);
    /* a record that can never fit */
    assert_int_equal(tl_dq_append(q, buf, 10 * 108, err, sizeof(err)), TL_DQ_ERROR);
    assert_non_null(strstr(err, "can never fit"));
    /* one that exactly fills an empty queue fits */
    expect_range(q, 3, 13, 0);
    tl_dq_ack(q, 10);
    assert_int_equal(tl_dq_append(q, buf, 10 * 108 - 8, err, sizeof(err)), TL_DQ_OK);
    tl_dq_close(q);

    /* The limit counts what recovery found. */
    q = open_q(e, 0, 10 * 108, &rec);
    assert_int_equal(tl_dq_bytes(q), 10 * 108);
    assert_int_equal(tl_dq_append(q, "", 0, err, sizeof(err)), TL_DQ_FULL);
    tl_dq_close(q);
}

static void test_torn_tail(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    uint64_t segs[8];
    char want[512];

    append_range(q, 0, 100, 1);
    tl_dq_close(q);
    assert_int_equal(list_segs(e, segs, 8), 1);
    assert_int_equal(segs[0], 1);
    uint64_t off = rec_offset(0, 99, 1);
    do_truncate(seg_path(e, 1), off + 8 + 5);

    q = open_q(e, 0, 0, &rec);
    snprintf(want, sizeof(want),
             "seg-0000000000000001.q: torn record at offset %" PRIu64 " (length %zu but only "
             "5 bytes follow the header): 13 bytes skipped.", off, rec_size(99, 1));
    assert_string_equal(rec.detail, want);
    assert_int_equal(rec.records, 99);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.skipped_bytes, 13);
    assert_int_equal(rec.bad_files, 0);
    assert_int_equal(file_size(seg_path(e, 1)), off);   /* the tail was cut off */
    expect_range(q, 0, 99, 1);
    expect_end(q);
    append_range(q, 1000, 1010, 1);   /* appends continue */
    expect_range(q, 1000, 1010, 1);
    tl_dq_ack(q, 50);
    tl_dq_close(q);

    /* A torn record header (fewer than 8 bytes) this time. */
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, 59);
    tl_dq_close(q);
    assert_int_equal(list_segs(e, segs, 8), 2);
    uint64_t size = file_size(seg_path(e, segs[1]));
    do_truncate(seg_path(e, segs[1]), size - 8 - rec_size(1009, 1) + 3);
    q = open_q(e, 0, 0, &rec);
    snprintf(want, sizeof(want),
             "seg-%016" PRIx64 ".q: torn record header at offset %" PRIu64
             " (3 bytes): skipped.", segs[1], size - 8 - rec_size(1009, 1));
    assert_string_equal(rec.detail, want);
    assert_int_equal(rec.records, 58);
    expect_range(q, 50, 99, 1);
    expect_range(q, 1000, 1009, 1);
    expect_end(q);
    tl_dq_close(q);
}

static void test_flipped_byte(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    /* 2048-byte segments, records of 10..209 bytes: 100 records span about 6 segments. */
    struct tl_dq *q = open_q(e, 2048, 0, &rec);
    uint64_t segs[32];
    char want[512];

    append_range(q, 0, 100, 1);
    tl_dq_close(q);
    size_t n = list_segs(e, segs, 32);
    assert_true(n >= 4);
    /* Find the segment holding record 40 and its first record. */
    uint64_t first = 0;
    size_t si = 0;
    for (si = 0; si < n; si++) {
        uint64_t size = file_size(seg_path(e, segs[si]));
        uint64_t k = first;
        uint64_t off = 16;
        while (off < size) {
            off += 8 + rec_size(k, 1);
            k++;
        }
        if (40 < k) {
            break;
        }
        first = k;
    }
    assert_true(si > 0 && si + 1 < n);   /* a middle segment */
    uint64_t last = first;   /* first record of the next segment */
    for (uint64_t off = 16; off < file_size(seg_path(e, segs[si])); last++) {
        off += 8 + rec_size(last, 1);
    }
    uint64_t off40 = rec_offset(first, 40, 1);
    uint64_t size = file_size(seg_path(e, segs[si]));
    flip(seg_path(e, segs[si]), off40 + 8 + 3);

    q = open_q(e, 2048, 0, &rec);
    assert_int_equal(rec.corrupt_records, 1);
    assert_int_equal(rec.skipped_bytes, size - off40);
    assert_int_equal(rec.records, 100 - (last - 40));
    snprintf(want, sizeof(want), "seg-%016" PRIx64 ".q: record at offset %" PRIu64
             " (length %zu) fails its CRC", segs[si], off40, rec_size(40, 1));
    assert_true(strncmp(rec.detail, want, strlen(want)) == 0);
    snprintf(want, sizeof(want), "): it and the rest of the segment, %" PRIu64
             " bytes, skipped.", size - off40);
    assert_non_null(strstr(rec.detail, want));
    expect_range(q, 0, 40, 1);
    expect_range(q, last, 100, 1);
    expect_end(q);
    append_range(q, 100, 110, 1);
    expect_range(q, 100, 110, 1);
    expect_end(q);
    tl_dq_close(q);

    /* Reported once: the damaged part was truncated. */
    q = open_q(e, 2048, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, 100 - (last - 40) + 10);
    tl_dq_close(q);

    /* A flipped length byte is caught as well (the CRC covers the length). */
    n = list_segs(e, segs, 32);
    flip(seg_path(e, segs[0]), 16 + 8 + rec_size(0, 1));   /* length of record 1, low byte */
    q = open_q(e, 2048, 0, &rec);
    assert_int_equal(rec.corrupt_records, 1);
    expect_range(q, 0, 1, 1);
    const uint8_t *p;
    size_t len;
    assert_true(tl_dq_peek(q, &p, &len));
    uint64_t idx;
    memcpy(&idx, p, 8);
    assert_true(idx > 1);
    tl_dq_close(q);
}

static void test_zero_tail(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    static const uint8_t zeros[4096];
    char want[512];

    append_range(q, 0, 10, 1);
    tl_dq_close(q);
    /* What a file system may show after a power loss: the size grew, the data did not. */
    uint64_t size = file_size(seg_path(e, 1));
    patch(seg_path(e, 1), size, zeros, sizeof(zeros));
    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 10);
    assert_int_equal(rec.corrupt_records, 1);
    snprintf(want, sizeof(want), "seg-0000000000000001.q: record at offset %" PRIu64
             " (length 0) fails its CRC (stored 0x00000000, computed 0x48674bc7): it and the "
             "rest of the segment, 4096 bytes, skipped.", size);
    assert_string_equal(rec.detail, want);
    expect_range(q, 0, 10, 1);
    expect_end(q);
    tl_dq_close(q);
}

static void test_bad_files(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);
    uint64_t segs[32];

    append_range(q, 0, 30, 0);   /* 9 per segment: 1..4 */
    tl_dq_close(q);
    assert_int_equal(list_segs(e, segs, 32), 4);
    /* Wrong magic in segment 2 (records 9..17). */
    patch(seg_path(e, 2), 0, "XXXX", 4);
    /* A segment whose creation was cut short, a file with a foreign name, an empty one. */
    patch(seg_path(e, 7), 0, "TLDQSEG", 7);
    patch(path_in(e, "seg-0000000000000009.q~"), 0, "junk", 4);
    patch(path_in(e, "notes.txt"), 0, "hello", 5);
    int fd = open(seg_path(e, 8), O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    /* A header naming another segment. */
    static uint8_t hdr[16] = "TLDQSEG1";
    hdr[8] = 3;
    patch(seg_path(e, 6), 0, hdr, 16);

    q = open_q(e, 1024, 0, &rec);
    assert_string_equal(rec.detail,
                        "seg-0000000000000002.q: bad segment header (wrong magic): 988 bytes "
                        "skipped, file renamed to seg-0000000000000002.q.bad. "
                        "seg-0000000000000006.q: bad segment header (wrong segment number): 16 "
                        "bytes skipped, file renamed to seg-0000000000000006.q.bad. "
                        "seg-0000000000000007.q: segment creation was cut short (7 of 16 "
                        "header bytes): deleted. "
                        "seg-0000000000000008.q: segment creation was cut short (0 of 16 "
                        "header bytes): deleted.");
    assert_int_equal(rec.bad_files, 2);
    assert_int_equal(rec.corrupt_records, 0);
    assert_int_equal(rec.records, 21);
    assert_true(exists(path_in(e, "seg-0000000000000002.q.bad")));
    assert_true(exists(path_in(e, "notes.txt")));
    assert_false(exists(seg_path(e, 7)));
    assert_false(exists(seg_path(e, 8)));
    expect_range(q, 0, 9, 0);
    expect_range(q, 18, 30, 0);
    expect_end(q);
    /* New segments are numbered past every file seen. */
    append_range(q, 30, 31, 0);
    tl_dq_close(q);
    assert_true(exists(seg_path(e, 9)));   /* (the "~" file is not a segment) */
}

static void test_ack_file(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 20, 1);
    expect_range(q, 0, 10, 1);
    tl_dq_ack(q, 5);
    flush_q(q);
    tl_dq_ack(q, 5);
    tl_dq_close(q);   /* the newer slot says 10, the older 5 */

    /* Damage the newer slot: the older one is used (duplicates, no loss). */
    uint8_t s0[40];
    uint8_t s1[40];
    int fd = open(path_in(e, "ack"), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, s0, 40, 0), 40);
    assert_int_equal(pread(fd, s1, 40, 512), 40);
    uint64_t g0;
    uint64_t g1;
    memcpy(&g0, s0 + 8, 8);
    memcpy(&g1, s1 + 8, 8);
    assert_int_equal(pwrite(fd, "\xff", 1, g0 > g1 ? 20 : 532), 1);
    close(fd);
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail, "");
    assert_int_equal(rec.records, 15);
    expect_range(q, 5, 20, 1);
    tl_dq_close(q);

    /* No valid slot at all: everything is delivered again, and that is said. */
    static const uint8_t junk[600] = { 1, 2, 3 };
    patch(path_in(e, "ack"), 0, junk, sizeof(junk));
    q = open_q(e, 0, 0, &rec);
    assert_string_equal(rec.detail,
                        "ack: no valid position in 552 bytes: all records are delivered again.");
    assert_int_equal(rec.records, 20);
    expect_range(q, 0, 20, 1);
    tl_dq_close(q);
}

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
    /* The ack position reaches the file before the data does, then the process dies: the
     * tail never gets records 10..19. */
    char err[128];
    assert_true(tl_dq_tick(q, 0, err, sizeof(err)));
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
    assert_int_equal(rec.records, 0);
    expect_end(q);
    append_range(q, 100, 105, 1);
    tl_dq_close(q);
    q = open_q(e, 0, 0, &rec);
    assert_int_equal(rec.records, 5);
    expect_range(q, 100, 105, 1);
    expect_end(q);
    tl_dq_close(q);
}

static void test_read_time_damage(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 1024, 0, &rec);
    char want[512];

    append_range(q, 0, 30, 0);   /* segments 1..4, 9 records each */
    flush_q(q);
    assert_null(tl_dq_take_problem(q));
    /* Damage record 12 (segment 2, fourth record) while the queue is open. */
    flip(seg_path(e, 2), 16 + 3 * 108 + 8 + 50);
    expect_range(q, 0, 12, 0);
    assert_int_equal(tl_dq_count(q), 30);
    expect_range(q, 18, 30, 0);   /* the rest of segment 2 is dropped */
    expect_end(q);
    assert_int_equal(tl_dq_count(q), 24);
    const char *pr = tl_dq_take_problem(q);
    assert_non_null(pr);
    snprintf(want, sizeof(want), "seg-0000000000000002.q: record (length 100) fails its CRC");
    assert_true(strncmp(pr, want, strlen(want)) == 0);
    assert_non_null(strstr(pr, "at offset 340: 6 records (648 bytes) from there to the end "
                               "of the segment are lost."));
    assert_null(tl_dq_take_problem(q));
    assert_int_equal(file_size(seg_path(e, 2)), 340);
    /* Acknowledgements and rewind keep working across the hole. */
    tl_dq_ack(q, 14);
    assert_int_equal(tl_dq_count(q), 10);
    tl_dq_rewind(q);
    expect_range(q, 20, 30, 0);
    /* A segment file that vanished. */
    append_range(q, 30, 50, 0);
    flush_q(q);
    tl_dq_rewind(q);
    tl_dq_ack(q, 0);
    uint64_t segs[16];
    size_t n = list_segs(e, segs, 16);
    assert_true(n >= 4);
    assert_int_equal(unlink(seg_path(e, segs[n - 2])), 0);
    uint64_t got = 0;
    const uint8_t *p;
    size_t len;
    while (tl_dq_peek(q, &p, &len)) {
        tl_dq_advance(q);
        got++;
    }
    assert_int_equal(got, 30 - 9);
    assert_int_equal(tl_dq_count(q), 30 - 9);
    pr = tl_dq_take_problem(q);
    assert_non_null(pr);
    assert_non_null(strstr(pr, "read failed (No such file or directory)"));
    tl_dq_close(q);
}

static void test_tail_damage(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    struct tl_dq *q = open_q(e, 0, 0, &rec);

    append_range(q, 0, 10, 0);
    flush_q(q);
    append_range(q, 10, 12, 0);   /* buffered */
    flip(seg_path(e, 1), 16 + 5 * 108 + 20);
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

static void test_dirs_and_lock(void **state)
{
    struct env *e = *state;
    struct tl_dq_recovery rec;
    char err[256];
    char want[256];
    struct tl_dq_opts o = { .dir = e->dir };

    /* Created 0700. */
    struct tl_dq *q = open_q(e, 0, 0, &rec);
    struct stat st;
    assert_int_equal(stat(e->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* A second open of the same directory, even in this process, is refused. */
    assert_null(tl_dq_open(&o, &rec, err, sizeof(err)));
    snprintf(want, sizeof(want), "queue.dir %s is in use by another process (pid %ld)", e->dir,
             (long)getpid());
    assert_string_equal(err, want);
    tl_dq_close(q);
    q = tl_dq_open(&o, &rec, err, sizeof(err));
    assert_non_null(q);
    tl_dq_close(q);

    /* An existing empty directory. */
    char d2[128];
    snprintf(d2, sizeof(d2), "%s/empty", e->base);
    assert_int_equal(mkdir(d2, 0755), 0);
    o.dir = d2;
    q = tl_dq_open(&o, &rec, err, sizeof(err));
    assert_non_null(q);
    assert_int_equal(rec.records, 0);
    assert_string_equal(rec.detail, "");
    tl_dq_close(q);

    /* Missing parents are created; a file in the way is an error. */
    snprintf(d2, sizeof(d2), "%s/a/b/c/", e->base);
    q = tl_dq_open(&o, &rec, err, sizeof(err));
    assert_non_null(q);
    tl_dq_close(q);
    snprintf(d2, sizeof(d2), "%s/a", e->base);
    assert_int_equal(stat(d2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(d2, sizeof(d2), "%s/q/ack/x", e->base);
    assert_null(tl_dq_open(&o, &rec, err, sizeof(err)));
    snprintf(want, sizeof(want), "queue.dir %s: cannot create: Not a directory", d2);
    assert_string_equal(err, want);
    snprintf(d2, sizeof(d2), "%s/q/ack", e->base);
    assert_null(tl_dq_open(&o, &rec, err, sizeof(err)));
    snprintf(want, sizeof(want), "queue.dir %s: cannot open: Not a directory", d2);
    assert_string_equal(err, want);
    /* NULL rec and a NULL close are fine. */
    o.dir = e->dir;
    q = tl_dq_open(&o, NULL, err, sizeof(err));
    assert_non_null(q);
    tl_dq_close(q);
    tl_dq_close(NULL);
}

static void test_sync_policies(void **state)
{
    struct env *e = *state;
    enum tl_dq_sync pol[] = { TL_DQ_SYNC_ALWAYS, TL_DQ_SYNC_INTERVAL };
    char err[256];

    for (size_t k = 0; k < 2; k++) {
        struct tl_dq_opts o = { .dir = e->dir, .segment_bytes = 1024, .sync = pol[k],
                                .sync_interval_ms = 10 };
        struct tl_dq_recovery rec;
        struct tl_dq *q = tl_dq_open(&o, &rec, err, sizeof(err));
        assert_non_null(q);
        append_range(q, 0, 40, 0);
        flush_q(q);
        expect_range(q, 0, 40, 0);
        tl_dq_ack(q, 20);
        assert_true(tl_dq_tick(q, 0, err, sizeof(err)));
        assert_true(tl_dq_tick(q, 1000000, err, sizeof(err)));
        tl_dq_ack(q, 20);
        tl_dq_close(q);
        q = tl_dq_open(&o, &rec, err, sizeof(err));
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
        char err[256];
        struct tl_dq *q = tl_dq_open(&o, NULL, err, sizeof(err));
        static uint8_t buf[MAXREC];
        const uint8_t *p;
        size_t n;
        if (q == NULL) {
            _exit(1);
        }
        for (uint64_t i = 0; i < 1000; i++) {
            n = rec_make(i, 1, buf);
            if (tl_dq_append(q, buf, n, err, sizeof(err)) != TL_DQ_OK) {
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
        if (!tl_dq_flush(q, err, sizeof(err))) {
            _exit(1);
        }
        for (uint64_t i = 1000; i < 1050; i++) {   /* never flushed */
            n = rec_make(i, 1, buf);
            (void)tl_dq_append(q, buf, n, err, sizeof(err));
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
    char err[256];
    char want[256];
    assert_null(tl_dq_open(&o, &rec, err, sizeof(err)));
    snprintf(want, sizeof(want), "queue.dir %s is in use by another process (pid %ld)", e->dir,
             (long)pid);
    assert_string_equal(err, want);

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
    char err[256];

    append_range(q, 0, 100, 1);
    tl_dq_close(q);
    q = open_q(e, 0, 1000, &rec);
    assert_int_equal(rec.records, 100);
    assert_int_equal(tl_dq_append(q, "x", 1, err, sizeof(err)), TL_DQ_FULL);
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
    char err[256];

    while (acked < total) {
        rng = mix64(rng);
        unsigned op = (unsigned)(rng % 100);
        if (op < 40 && next < total) {
            uint64_t n = 1 + (rng >> 8) % 64;
            for (uint64_t k = 0; k < n && next < total; k++) {
                size_t len = rec_make(next, 2, buf);
                assert_int_equal(tl_dq_append(q, buf, len, err, sizeof(err)), TL_DQ_OK);
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
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_ahead_of_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_time_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirs_and_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
