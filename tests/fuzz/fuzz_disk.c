/*
 * fuzz_disk.c: libFuzzer target for the disk queue's recovery: segment files (and an ack
 * file) made from the input are opened, drained, acknowledged, appended to, closed and
 * opened again.
 *
 * Input: byte 0 = flags: bits 0-1 the number of segment files (0 counts as 1), bit 2 write
 * an ack file, bit 3 give every record that fits a correct CRC (so that the fuzzer reaches
 * deep records), bit 4 give each file a correct header, bit 5 number the segments from
 * 2^64 - 3 (numbers run out), bits 6-7 segment_bytes for appends. With bit 2, bytes 1-3: the
 * ack segment (index among the files, may be past them) and the ack offset (u16). The rest is
 * cut into equal parts, one per segment file.
 *
 * Checks: the records delivered are exactly those an independent, simple reading of the
 * files finds (same bytes, same order); ack, rewind and append behave; the second open finds
 * nothing wrong (recovery repaired what it reported) and returns the rest plus what was
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

/* The valid records of one segment from start on, as a plain reading of the format. */
static size_t reference(const uint8_t *f, size_t n, uint64_t num, uint64_t start,
                        struct want *out, size_t have)
{
    uint8_t hdr[16];

    memcpy(hdr, "TLDQSEG1", 8);
    put64(hdr + 8, num);
    if (n < 16 || memcmp(f, hdr, 16) != 0) {
        return have;
    }
    uint64_t off = start < 16 ? 16 : start;
    while (off + 8 <= n && have < MAX_RECS) {
        uint32_t len = le32(f + off);
        if (len > n - off - 8) {
            break;
        }
        uint32_t crc = tl_crc32c(tl_crc32c(0, f + off, 4), f + off + 8, len);
        if (crc != le32(f + off + 4)) {
            break;
        }
        out[have].p = f + off + 8;
        out[have].len = len;
        have++;
        off += 8 + (uint64_t)len;
    }
    return have;
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
    return k - from;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct want want[MAX_RECS + 8];
    static const uint8_t extra[3][5] = { "one", "two!", "" };
    static const size_t extra_len[3] = { 3, 4, 0 };

    if (size < 4) {
        return 0;
    }
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/fuzz_disk.XXXXXX");
        CHECK(mkdtemp(dir) != NULL);
    }
    int fds = count_fds();
    uint8_t flags = data[0];
    size_t nfiles = (flags & 3) == 0 ? 1 : (size_t)(flags & 3);
    bool ack = (flags & 4) != 0;
    uint64_t base = (flags & 32) ? UINT64_MAX - 3 : 1;
    uint64_t seg_bytes = (uint64_t[]){ 64, 200, 1000, 0 }[flags >> 6];
    uint64_t ack_num = 0;
    uint64_t ack_off = 0;
    size_t pos = 1;
    if (ack) {
        ack_num = base + data[1] % 5;
        ack_off = (uint64_t)data[2] | (uint64_t)data[3] << 8;
        pos = 4;
    }

    /* Build the files in one copy of the input (so that fix-ups can write). */
    size_t body = size - pos;
    uint8_t *buf = malloc(body + 1);
    CHECK(buf != NULL);
    memcpy(buf, data + pos, body);
    size_t part = body / nfiles;
    size_t nwant = 0;
    clean_dir();
    for (size_t i = 0; i < nfiles; i++) {
        uint8_t *f = buf + i * part;
        size_t n = i + 1 == nfiles ? body - i * part : part;
        uint64_t num = base + i;
        char name[32];
        if ((flags & 16) && n >= 16) {
            memcpy(f, "TLDQSEG1", 8);
            put64(f + 8, num);
        }
        if (flags & 8) {
            for (size_t off = 16; off + 8 <= n;) {
                uint32_t len = le32(f + off);
                if (len > n - off - 8) {
                    break;
                }
                put32(f + off + 4, tl_crc32c(tl_crc32c(0, f + off, 4), f + off + 8, len));
                off += 8 + (size_t)len;
            }
        }
        snprintf(name, sizeof(name), "seg-%016" PRIx64 ".q", num);
        write_file(name, f, n);
        if (!ack || num >= ack_num) {
            nwant = reference(f, n, num, ack && num == ack_num ? ack_off : 16, want, nwant);
        }
    }
    if (ack) {
        uint8_t a[552];
        memset(a, 0, sizeof(a));
        memcpy(a + 512, "TLDQACK1", 8);
        put64(a + 520, 1);
        put64(a + 528, ack_num);
        put64(a + 536, ack_off);
        put32(a + 544, tl_crc32c(0, a + 512, 32));
        write_file("ack", a, sizeof(a));
    }

    struct tl_dq_opts o = { .dir = dir, .segment_bytes = seg_bytes, .sync = TL_DQ_SYNC_NONE };
    struct tl_dq_recovery rec;
    char err[256];
    struct tl_dq *q = tl_dq_open(&o, &rec, err, sizeof(err));
    if (q == NULL) {
        /* Only when segment numbers ran out. */
        CHECK(base != 1);
        CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        goto out;
    }
    CHECK(memchr(rec.detail, '\0', sizeof(rec.detail)) != NULL);
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

    /* Appends go after what was recovered. */
    for (size_t i = 0; i < 3; i++) {
        enum tl_dq_rc rc = tl_dq_append(q, extra[i], extra_len[i], err, sizeof(err));
        if (rc != TL_DQ_OK) {
            CHECK(base != 1);   /* numbers ran out */
            break;
        }
        want[nwant].p = extra[i];
        want[nwant].len = extra_len[i];
        nwant++;
    }
    CHECK(tl_dq_flush(q, err, sizeof(err)));
    tl_dq_close(q);

    q = tl_dq_open(&o, &rec, err, sizeof(err));
    if (q == NULL) {
        CHECK(base != 1);
        goto out;
    }
    CHECK(rec.detail[0] == '\0');
    CHECK(rec.corrupt_records == 0 && rec.bad_files == 0);
    CHECK(rec.records == nwant - half);
    CHECK(drain(q, want, half, nwant) == nwant - half);
    tl_dq_ack(q, nwant - half);
    CHECK(tl_dq_count(q) == 0);
    CHECK(tl_dq_bytes(q) == 0);
    tl_dq_close(q);

out:
    free(buf);
    clean_dir();
    CHECK(count_fds() == fds);
    return 0;
}
