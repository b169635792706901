/*
 * fuzz_disk.c: libFuzzer target for the disk queue's recovery (format 2, see disk.h): segment
 * files and an ack file made from the input, damaged in any way, are opened, drained,
 * acknowledged, appended to, closed and opened again.
 *
 * Input: byte 0 = flags: bits 0-1 the number of segment files (0 counts as 1), bit 2 write
 * a valid ack slot, bit 3 give the records a correct magic and CRC (so that the fuzzer
 * reaches deep records; a record whose sequence number ends in 0xee is left as it is, one
 * ending in 0x55 becomes a marker), bit 4 give each file a correct header, bit 5 number the
 * segments from 2^62 - 3 (numbers run out), bits 6-7 segment_bytes for appends. Byte 1:
 * bit 0 (without bit 2) the next 64 bytes are the ack file as they are. With bit 2, bytes
 * 2-5: the ack segment (index among the files, may be past them), the ack offset (u16) and
 * the low byte of its sequence number. The rest is cut into equal parts, one per segment.
 *
 * Checks: the open succeeds whatever the files hold; the records delivered are exactly
 * those an independent, simple reading of the files finds (same bytes, same order; the
 * count agrees); ack, rewind and append behave; the second open finds nothing to say
 * (recovery repaired what it reported: reported once) and returns the rest plus what was
 * appended; no file descriptor leaks.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            __builtin_trap();                                                                  \
        }                                                                                      \
    } while (0)

#define MAX_RECS 4096
#define HDR 16
#define SEG_NUM_MAX (UINT64_C(1) << 62)
#define REC_MAGIC 0x5152444cu   /* "LDRQ" */
#define SKIP_MAGIC 0x5352444cu  /* "LDRS" */

struct want {
    const uint8_t *p;   /* into the built files */
    size_t len;
};

static char dir[64];

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void clean_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
}

static void remove_dir(void)
{
    clean_dir();
    rmdir(dir);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
    close(fd);
}

/* The ack position in an ack file, as the format says: the valid slot ("TLDQACK2", CRC of
 * its first 40 bytes) with the higher generation, the first one on a tie. */
static bool ref_ack(const uint8_t *a, size_t n, uint64_t *num, uint64_t *off)
{
    bool found = false;
    uint64_t gen = 0;

    for (size_t at = 0; at <= 512; at += 512) {
        const uint8_t *s = a + at;
        if (n < at + 48 || memcmp(s, "TLDQACK2", 8) != 0 || le32(s + 40) != tl_crc32c(0, s, 40)) {
            continue;
        }
        if (!found || le64(s + 8) > gen) {
            gen = le64(s + 8);
            *num = le64(s + 16);
            *off = le64(s + 24);
            found = true;
        }
    }
    return found && *num <= SEG_NUM_MAX;
}

/* The valid records of one segment from start on, as a plain reading of the format: at each
 * offset a valid record is taken, a valid marker skipped, anything else skipped by a byte. */
static size_t reference(const uint8_t *f, size_t n, uint64_t num, uint64_t start,
                        struct want *out, size_t have)
{
    uint8_t hdr[16];

    memcpy(hdr, "TLDQSEG2", 8);
    put64(hdr + 8, num);
    if (n < 16 || memcmp(f, hdr, 16) != 0) {
        return have;
    }
    uint64_t off = start < 16 ? 16 : start;
    while (off + HDR <= n && have < MAX_RECS) {
        uint32_t magic = le32(f + off);
        uint32_t len = le32(f + off + 4);
        uint32_t crc = tl_crc32c(0, f + off + 4, 8);
        if (magic == SKIP_MAGIC && len == 0 && crc == le32(f + off + 12)) {
            off += HDR;
            continue;
        }
        if (magic == REC_MAGIC && len <= n - off - HDR &&
            tl_crc32c(crc, f + off + HDR, len) == le32(f + off + 12)) {
            out[have].p = f + off + HDR;
            out[have].len = len;
            have++;
            off += HDR + (uint64_t)len;
            continue;
        }
        off++;
    }
    return have;
}

/* Gives the records of a file a correct magic and CRC (see the header). */
static void fix_up(uint8_t *f, size_t n)
{
    for (size_t off = 16; off + HDR <= n;) {
        uint32_t len = le32(f + off + 4);
        uint8_t tag = f[off + 8];
        if (tag == 0x55) {
            put32(f + off, SKIP_MAGIC);
            put32(f + off + 4, 0);
            put32(f + off + 12, tl_crc32c(0, f + off + 4, 8));
            off += HDR;
            continue;
        }
        if (len > n - off - HDR) {
            break;
        }
        if (tag != 0xee) {
            put32(f + off, REC_MAGIC);
            put32(f + off + 12, tl_crc32c(tl_crc32c(0, f + off + 4, 8), f + off + HDR, len));
        }
        off += HDR + (size_t)len;
    }
}

/* Drains q, checking each record against want[from..]; returns how many came. */
static size_t drain(struct tl_dq *q, const struct want *w, size_t from, size_t nwant)
{
    const uint8_t *p;
    size_t len;
    size_t k = from;

    while (tl_dq_peek(q, &p, &len)) {
        CHECK(k < nwant);
        CHECK(len == w[k].len);
        CHECK(len == 0 || memcmp(p, w[k].p, len) == 0);
        tl_dq_advance(q);
        k++;
    }
    CHECK(tl_dq_unread(q) == 0);
    CHECK(tl_dq_take_problem(q) == NULL);
    return k - from;
}

/* Nothing to say at a second open; where segment numbers may run out, only that. */
static bool quiet(const struct tl_dq_recovery *rec, bool exhausted)
{
    static const char no_number[] =
        "no segment number is left after the highest one there: new messages cannot be "
        "queued on disk until the segment files with the highest numbers are moved out of "
        "the directory.";
    return (rec->detail[0] == '\0' || (exhausted && strcmp(rec->detail, no_number) == 0)) &&
           rec->corrupt_records == 0 && rec->bad_files == 0 && rec->lost_records == 0 &&
           rec->redelivered == 0 && rec->unknown_files == 0 && rec->skipped_bytes == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct want want[MAX_RECS + 8];
    static const uint8_t extra[3][5] = { "one", "two!", "" };
    static const size_t extra_len[3] = { 3, 4, 0 };

    if (size < 6) {
        return 0;
    }
    if (dir[0] == '\0') {
        /* In memory where there is a tmpfs: the runs do many small writes and fsyncs. */
        snprintf(dir, sizeof(dir), "/dev/shm/fuzz_disk.XXXXXX");
        if (mkdtemp(dir) == NULL) {
            snprintf(dir, sizeof(dir), "/tmp/fuzz_disk.XXXXXX");
            CHECK(mkdtemp(dir) != NULL);
        }
        atexit(remove_dir);
    }
    int fds = count_fds();
    uint8_t flags = data[0];
    size_t nfiles = (flags & 3) == 0 ? 1 : (size_t)(flags & 3);
    bool ack = (flags & 4) != 0;
    bool raw_ack = !ack && (data[1] & 1) != 0 && size >= 2 + 64;
    uint64_t base = (flags & 32) ? SEG_NUM_MAX - 3 : 1;
    uint64_t seg_bytes = (uint64_t[]){ 64, 200, 1000, 0 }[flags >> 6];
    uint64_t ack_num = 0;
    uint64_t ack_off = 0;
    uint8_t a[560];
    size_t alen = 0;
    size_t pos = 2;
    if (ack) {
        ack_num = base + data[2] % 5;
        ack_off = (uint64_t)data[3] | (uint64_t)data[4] << 8;
        memset(a, 0, sizeof(a));
        memcpy(a + 512, "TLDQACK2", 8);
        put64(a + 520, 1);
        put64(a + 528, ack_num);
        put64(a + 536, ack_off);
        put64(a + 544, data[5]);
        put32(a + 552, tl_crc32c(0, a + 512, 40));
        alen = sizeof(a);
        pos = 6;
    } else if (raw_ack) {
        memcpy(a, data + 2, 64);
        alen = 64;
        pos = 2 + 64;
    }
    bool have_ack = alen > 0 && ref_ack(a, alen, &ack_num, &ack_off);

    /* Build the files in one copy of the input (so that fix-ups can write). */
    size_t body = size - pos;
    uint8_t *buf = malloc(body + 1);
    CHECK(buf != NULL);
    memcpy(buf, data + pos, body);
    size_t part = body / nfiles;
    size_t nwant = 0;
    clean_dir();
    if (alen > 0) {
        write_file("ack", a, alen);
    }
    for (size_t i = 0; i < nfiles; i++) {
        uint8_t *f = buf + i * part;
        size_t n = i + 1 == nfiles ? body - i * part : part;
        uint64_t num = base + i;
        char name[32];
        if ((flags & 16) && n >= 16) {
            memcpy(f, "TLDQSEG2", 8);
            put64(f + 8, num);
        }
        if (flags & 8) {
            fix_up(f, n);
        }
        snprintf(name, sizeof(name), "seg-%016" PRIx64 ".q", num);
        write_file(name, f, n);
        if (!have_ack || num >= ack_num) {
            nwant = reference(f, n, num, have_ack && num == ack_num ? ack_off : 16, want,
                              nwant);
        }
    }

    /* Whatever the files hold, the queue opens. */
    struct tl_dq_opts o = { .dir = dir, .segment_bytes = seg_bytes, .sync = TL_DQ_SYNC_NONE };
    struct tl_dq_recovery rec;
    struct tl_err err;
    struct tl_dq *q = tl_dq_open(&o, &rec, &err);
    CHECK(q != NULL);
    CHECK(memchr(rec.detail, '\0', sizeof(rec.detail)) != NULL);
    char first[sizeof(rec.detail)];
    memcpy(first, rec.detail, sizeof(first));
    CHECK(rec.records == nwant);
    CHECK(tl_dq_count(q) == nwant);
    CHECK(drain(q, want, 0, nwant) == nwant);

    /* Acknowledge half, send the rest again. */
    size_t half = nwant / 2;
    tl_dq_ack(q, half);
    tl_dq_rewind(q);
    CHECK(tl_dq_count(q) == nwant - half);
    CHECK(drain(q, want, half, nwant) == nwant - half);
    tl_dq_rewind(q);

    /* Appends go after what was recovered. Segment numbers may run out near the top (now
     * or at a later open, where a tail is created at once). */
    bool exhausted = base != 1;
    for (size_t i = 0; i < 3; i++) {
        enum tl_rc rc = tl_dq_append(q, extra[i], extra_len[i], &err);
        if (rc != TL_OK) {
            CHECK(rc == TL_E_RESOURCE && exhausted && err.code == TL_E_RESOURCE);
            break;
        }
        want[nwant].p = extra[i];
        want[nwant].len = extra_len[i];
        nwant++;
    }
    CHECK(tl_dq_flush(q, &err) == TL_OK);
    tl_dq_close(q);

    /* Reported once: the second open has nothing to say, and finds the same. */
    q = tl_dq_open(&o, &rec, &err);
    CHECK(q != NULL);
    if (!quiet(&rec, exhausted)) {
        fprintf(stderr, "first open: %s\nsecond open: %s\n", first, rec.detail);
        CHECK(false);
    }
    CHECK(rec.records == nwant - half);
    CHECK(drain(q, want, half, nwant) == nwant - half);
    tl_dq_ack(q, nwant - half);
    CHECK(tl_dq_count(q) == 0);
    CHECK(tl_dq_bytes(q) == 0);
    tl_dq_close(q);

    q = tl_dq_open(&o, &rec, &err);
    CHECK(q != NULL);
    CHECK(quiet(&rec, exhausted) && rec.records == 0);
    tl_dq_close(q);

    free(buf);
    clean_dir();
    CHECK(count_fds() == fds);
    return 0;
}
