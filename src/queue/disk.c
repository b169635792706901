/*
 * disk.c: the persistent segment-file FIFO described in disk.h.
 *
 * In memory: the segments with unacknowledged records, oldest first (segs[0] holds the ack
 * position, segs[nsegs - 1] is the tail), each with its end, its counts of unacknowledged
 * and unread records and the sequence number of its first record; the append buffer of the
 * tail; a read buffer over one segment file; and the lengths of the records read but not
 * acknowledged (a ring), which is all tl_dq_ack needs to move the ack position, since records
 * in a segment are contiguous and consecutively numbered (recovery makes them so).
 */
#include "queue/disk.h"

#include "core/fsutil.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG_MAGIC "TLDQSEG2"
#define ACK_MAGIC "TLDQACK2"
#define SEG_HEADER 16u
#define HDR TL_DQ_RECORD_HEADER
#define REC_MAGIC 0x5152444cu          /* the bytes "LDRQ" that start every record */
#define SKIP_MAGIC 0x5352444cu         /* "LDRS": a sequence marker, see disk.h */
#define SEG_NUM_MAX (UINT64_C(1) << 62) /* higher numbers are not ours: left alone */
#define ACK_SLOT_BYTES 48u
#define ACK_SLOT_STRIDE 512u          /* each slot in its own disk sector */
#define READ_CHUNK (256u * 1024)      /* bytes per pread */
#define WRITE_CHUNK (1024u * 1024)    /* append buffer written once it holds this much */
#define BUF_KEEP (4u * 1024 * 1024)   /* larger buffers (for huge records) are shrunk again */
#define NAME_MAX_LEN 32

struct seg {
    uint64_t num;
    uint64_t end;       /* end of its records; for the tail including the append buffer */
    uint64_t unacked;   /* records not acknowledged */
    uint64_t unread;    /* records after the read cursor */
    uint32_t seq;       /* sequence number of its first record (segs[0]: at recovery, of the
                         * record at the ack position) */
};

struct tl_dq {
    char *dir;
    int dirfd;
    int lockfd;
    int ackfd;
    uint64_t max_bytes;
    uint64_t segment_bytes;
    enum tl_dq_sync sync;
    int64_t sync_interval_ms;

    struct seg *segs;
    size_t nsegs;
    size_t segs_cap;
    uint64_t next_num;  /* number of the next segment to create */
    bool tail_pending;  /* the tail's file could not be created yet: appends try again */

    /* Tail: writable while wfd >= 0. wbuf holds [wbase, tail end); the file holds
     * [0, disk), and wbase <= disk: after a short write the buffer keeps the records whose
     * bytes are partly on disk, so it always starts at a record boundary. */
    int wfd;
    uint64_t disk;
    uint64_t wbase;
    uint8_t *wbuf;
    size_t wlen;
    size_t wdone;       /* bytes of wbuf already in the file */
    size_t wcap;

    /* Read cursor: segs[rseg], offset roff. */
    size_t rseg;
    uint64_t roff;
    bool peeked;        /* peek_num/peek_off/peek_size describe the record at the cursor */
    uint64_t peek_num;
    uint64_t peek_off;
    uint64_t peek_size;

    /* Read buffer: bytes [rb_off, rb_off + rb_len) of segment rb_num (rb_len 0: none). */
    int rfd;
    uint64_t rfd_num;
    uint8_t *rbuf;
    size_t rcap;
    uint64_t rb_num;
    uint64_t rb_off;
    size_t rb_len;

    /* Lengths of records read and not acknowledged, oldest first. */
    uint32_t *ring;
    size_t ring_head;
    size_t ring_n;
    size_t ring_cap;

    uint64_t ack_off;   /* in segs[0] */
    uint32_t ack_seq;   /* sequence number of the record at the ack position */
    uint64_t ack_gen;
    uint32_t next_seq;  /* sequence number of the next record appended */
    bool ack_dirty;     /* moved since the ack file was written */
    bool ack_unsynced;  /* written since the ack file was synced */
    bool ack_repair;    /* the ack file held something else than valid or blank slots */
    bool data_unsynced; /* tail written since it was synced */
    bool dir_unsynced;  /* segments created or deleted since the directory was synced */
    int64_t last_sync_ms;

    uint64_t count;
    uint64_t bytes;
    uint64_t unread;

    bool has_problem;
    char problem[512];
};

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) ----
 *
 * The x86-64 SSE4.2 crc32 instruction computes exactly this CRC, 8 bytes a step; where the
 * CPU lacks it (or on another architecture) tables, slicing by 8. The instruction is reached
 * through the compiler's builtin in a function compiled for SSE4.2 alone, chosen once at run
 * time, so the binary still runs on any x86-64. It was a fifth of the output thread's CPU
 * behind a disk queue (the kafka bench with queue.dir, perf). */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t (*crc_impl)(uint32_t crc, const uint8_t *p, size_t len);

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t crc_tables(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = crc ^ get32(p);
        uint32_t hi = get32(p + 4);
        crc = crc_tab[7][lo & 0xffu] ^ crc_tab[6][(lo >> 8) & 0xffu] ^
              crc_tab[5][(lo >> 16) & 0xffu] ^ crc_tab[4][lo >> 24] ^
              crc_tab[3][hi & 0xffu] ^ crc_tab[2][(hi >> 8) & 0xffu] ^
              crc_tab[1][(hi >> 16) & 0xffu] ^ crc_tab[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p) & 0xffu];
        p++;
        len--;
    }
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TL_CRC_HW 1
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p,
                                                             size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        c = __builtin_ia32_crc32di(c, get64(p));
        p += 8;
        len -= 8;
    }
    crc = (uint32_t)c;
    while (len > 0) {
        crc = __builtin_ia32_crc32qi(crc, *p);
        p++;
        len--;
    }
    return crc;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        }
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint32_t prev = crc_tab[t - 1][i];
            crc_tab[t][i] = (prev >> 8) ^ crc_tab[0][prev & 0xffu];
        }
    }
    crc_impl = crc_tables;
#ifdef TL_CRC_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        crc_impl = crc_sse42;
    }
#endif
}

uint32_t tl_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_impl(~crc, data, len);
}

uint32_t tl_crc32c_tables(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_tables(~crc, data, len);
}

/* CRC of a record: its 8 length and sequence bytes, then the payload. */
static uint32_t record_crc(const uint8_t *lenseq, const void *payload, size_t len)
{
    return tl_crc32c(tl_crc32c(0, lenseq, 8), payload, len);
}

/* ---- small helpers ---- */

static void add_sentence(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends one sentence to buf; once one does not fit, buf ends in "..." and stays so. */
static void add_sentence(char *buf, size_t cap, const char *fmt, ...)
{
    static const char more[] = " ...";
    size_t used = strlen(buf);
    char one[512];
    va_list ap;
    int n;

    if (used >= sizeof(more) - 1 && strcmp(buf + used - (sizeof(more) - 1), more) == 0) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(one, sizeof(one), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t need = (used > 0 ? 1 : 0) + strlen(one);
    if (used + need + sizeof(more) <= cap) {
        if (used > 0) {
            buf[used++] = ' ';
        }
        memcpy(buf + used, one, strlen(one) + 1);
    } else if (used + sizeof(more) <= cap) {
        memcpy(buf + used, more, sizeof(more));
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void seg_name(char *out, uint64_t num)
{
    int n = snprintf(out, NAME_MAX_LEN, "seg-%016" PRIx64 ".q", num);
    assert(n > 0 && n < NAME_MAX_LEN);
    (void)n;
}

/* "seg-" 16 lower-case hex digits ".q", exactly. */
static bool parse_seg_name(const char *name, uint64_t *num)
{
    uint64_t v = 0;

    if (strncmp(name, "seg-", 4) != 0 || strlen(name) != 22 || strcmp(name + 20, ".q") != 0) {
        return false;
    }
    for (int i = 4; i < 20; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else {
            return false;
        }
        v = v << 4 | d;
    }
    *num = v;
    return true;
}

/* pread until n bytes, EOF or an error; returns bytes read or -1. */
static ssize_t pread_full(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static bool pwrite_full(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = pwrite(fd, buf + done, n - done, (off_t)(off + done));
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        done += (size_t)w;
    }
    return true;
}

static bool grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return true;
    }
    size_t n = *cap > 0 ? *cap : 4096;
    while (n < need) {
        n = n > SIZE_MAX / 2 ? need : n * 2;
    }
    uint8_t *p = realloc(*buf, n);
    if (p == NULL) {
        return false;
    }
    *buf = p;
    *cap = n;
    return true;
}

/* ---- the ack file ---- */

static void ack_slot(uint8_t *s, uint64_t gen, uint64_t num, uint64_t off, uint32_t seq)
{
    memcpy(s, ACK_MAGIC, 8);
    put64(s + 8, gen);
    put64(s + 16, num);
    put64(s + 24, off);
    put64(s + 32, seq);
    put32(s + 40, tl_crc32c(0, s, 40));
    put32(s + 44, 0);
}

static enum tl_rc write_ack_at(struct tl_dq *q, uint64_t num, uint64_t off, struct tl_err *err)
{
    uint8_t s[ACK_SLOT_BYTES];
    uint64_t gen = q->ack_gen + 1;

    ack_slot(s, gen, num, off, q->ack_seq);
    if (!pwrite_full(q->ackfd, s, sizeof(s), (gen & 1) * ACK_SLOT_STRIDE)) {
        return TL_ERR_SYS(err, TL_E_IO, errno, NULL,
                          "queue.dir %s: cannot write the ack file: %s", q->dir,
                          strerror(errno));
    }
    q->ack_gen = gen;
    q->ack_dirty = false;
    q->ack_unsynced = true;
    return TL_OK;
}

static enum tl_rc write_ack(struct tl_dq *q, struct tl_err *err)
{
    if (!q->ack_dirty) {
        return TL_OK;
    }
    return write_ack_at(q, q->segs[0].num, q->ack_off, err);
}

/* What the ack file held at open. */
enum ack_state {
    ACK_NONE,   /* nothing was ever written (a new file, or blank slots) */
    ACK_OK,     /* a valid position */
    ACK_LOST,   /* something, but no valid position: where delivery stood is not known */
};

enum slot { SLOT_BLANK, SLOT_VALID, SLOT_BAD, SLOT_V1 };

/* A slot of which have bytes (at most ACK_SLOT_BYTES) are in the file. All zeros, or
 * nothing, is a slot never written: the first update goes to the second slot, and a file
 * system may show zeros where a write had not reached the disk. */
static enum slot check_slot(const uint8_t *s, size_t have)
{
    static const uint8_t zero[ACK_SLOT_BYTES];

    if (memcmp(s, zero, have) == 0) {
        return SLOT_BLANK;
    }
    if (have >= 8 && memcmp(s, "TLDQACK1", 8) == 0) {
        return SLOT_V1;   /* 40 bytes long */
    }
    if (have < ACK_SLOT_BYTES) {
        return SLOT_BAD;
    }
    if (memcmp(s, ACK_MAGIC, 8) != 0 || get32(s + 40) != tl_crc32c(0, s, 40)) {
        return SLOT_BAD;
    }
    return SLOT_VALID;
}

/* Reads the newer valid slot into *num, *off, *seq (and q->ack_gen); says in rec what is
 * wrong with the file, if anything. */
static enum ack_state read_ack(struct tl_dq *q, uint64_t *num, uint64_t *off, uint32_t *seq,
                               struct tl_dq_recovery *rec)
{
    uint8_t buf[ACK_SLOT_STRIDE + ACK_SLOT_BYTES];
    ssize_t n = pread_full(q->ackfd, buf, sizeof(buf), 0);
    enum slot sl[2];
    int use = -1;

    q->ack_repair = true;   /* unless all is well */
    if (n < 0) {
        add_sentence(rec->detail, sizeof(rec->detail), "ack: cannot read (%s).",
                     strerror(errno));
        return ACK_LOST;
    }
    for (int i = 0; i < 2; i++) {
        size_t at = (size_t)i * ACK_SLOT_STRIDE;
        size_t have = (size_t)n > at ? (size_t)n - at : 0;
        sl[i] = check_slot(buf + at, have < ACK_SLOT_BYTES ? have : ACK_SLOT_BYTES);
        if (sl[i] == SLOT_VALID && (use < 0 || get64(buf + at + 8) > q->ack_gen)) {
            use = i;
            q->ack_gen = get64(buf + at + 8);
        }
    }
    if (use < 0) {
        if (sl[0] == SLOT_BLANK && sl[1] == SLOT_BLANK) {
            q->ack_repair = false;
            return ACK_NONE;
        }
        if (sl[0] == SLOT_V1 || sl[1] == SLOT_V1) {
            add_sentence(rec->detail, sizeof(rec->detail),
                         "ack: in the format of tlslogd 0.1, which this version does not read.");
        } else {
            add_sentence(rec->detail, sizeof(rec->detail),
                         "ack: neither of its two slots holds a valid position.");
        }
        return ACK_LOST;
    }
    const uint8_t *s = buf + (size_t)use * ACK_SLOT_STRIDE;
    *num = get64(s + 16);
    *off = get64(s + 24);
    *seq = (uint32_t)get64(s + 32);
    int other = 1 - use;
    /* Update 1 goes to the slot at 512: the one at 0 is blank until update 2. From then on
     * both were written, and the other slot holds the update before or after this one. */
    if (sl[other] != SLOT_VALID && (sl[other] != SLOT_BLANK || q->ack_gen > 1)) {
        add_sentence(rec->detail, sizeof(rec->detail),
                     "ack: the slot at offset %u is damaged, the one at offset %u (update %"
                     PRIu64 ") is used; if the damaged one was newer, the messages it "
                     "acknowledged are delivered again.",
                     other * ACK_SLOT_STRIDE, use * ACK_SLOT_STRIDE, q->ack_gen);
    } else {
        q->ack_repair = false;
    }
    return ACK_OK;
}

/* ---- segments ---- */

static bool push_seg(struct tl_dq *q, uint64_t num, uint64_t end, uint64_t records,
                     uint32_t seq)
{
    if (q->nsegs == q->segs_cap) {
        size_t cap = q->segs_cap > 0 ? q->segs_cap * 2 : 16;
        struct seg *s = realloc(q->segs, cap * sizeof(*s));
        if (s == NULL) {
            return false;
        }
        q->segs = s;
        q->segs_cap = cap;
    }
    q->segs[q->nsegs++] = (struct seg){ .num = num, .end = end, .unacked = records,
                                        .unread = records, .seq = seq };
    return true;
}

static struct seg *tail(struct tl_dq *q)
{
    return &q->segs[q->nsegs - 1];
}

static void forget_reader(struct tl_dq *q, uint64_t num)
{
    if (q->rfd >= 0 && q->rfd_num == num) {
        close(q->rfd);
        q->rfd = -1;
    }
    if (q->rb_num == num) {
        q->rb_len = 0;
    }
}

/* Deletes the front segments that hold no unacknowledged records, never the tail. */
static void release(struct tl_dq *q)
{
    size_t k = 0;

    while (k + 1 < q->nsegs && q->segs[k].unacked == 0) {
        k++;
    }
    if (k == 0) {
        return;
    }
    /* The ack position moves to the start of the first segment kept. It is written before
     * the files go, so that a crash in between does not send their records again; when it
     * cannot be written the files stay (the next flush says why), since the position on
     * disk still points into them: after a restart they are delivered again, not reported
     * missing. The next open deletes them once a later position was written. */
    q->ack_off = SEG_HEADER;
    q->ack_seq = q->segs[k].seq;
    q->ack_dirty = true;
    bool written = write_ack_at(q, q->segs[k].num, SEG_HEADER, NULL) == TL_OK;
    for (size_t i = 0; i < k; i++) {
        char name[NAME_MAX_LEN];
        seg_name(name, q->segs[i].num);
        forget_reader(q, q->segs[i].num);
        if (written) {
            (void)unlinkat(q->dirfd, name, 0);   /* if it stays: deleted at the next open */
        }
    }
    memmove(q->segs, q->segs + k, (q->nsegs - k) * sizeof(*q->segs));
    q->nsegs -= k;
    if (q->rseg < k) {
        /* The cursor was at the end of a deleted segment. */
        q->rseg = 0;
        q->roff = SEG_HEADER;
    } else {
        q->rseg -= k;
    }
    q->dir_unsynced = true;
}

/* Writes the append buffer. On a short write the written part stays counted in q->disk. */
static enum tl_rc write_buf(struct tl_dq *q, struct tl_err *err)
{
    while (q->wdone < q->wlen) {
        ssize_t w = pwrite(q->wfd, q->wbuf + q->wdone, q->wlen - q->wdone, (off_t)q->disk);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            char name[NAME_MAX_LEN];
            seg_name(name, tail(q)->num);
            return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot write %s: %s",
                              q->dir, name, strerror(errno));
        }
        q->wdone += (size_t)w;
        q->disk += (uint64_t)w;
        q->data_unsynced = true;
    }
    q->wbase += q->wlen;
    q->wlen = 0;
    q->wdone = 0;
    if (q->wcap > BUF_KEEP) {
        free(q->wbuf);
        q->wbuf = NULL;
        q->wcap = 0;
    }
    return TL_OK;
}

static enum tl_rc sync_fd(struct tl_dq *q, int fd, bool data, const char *what, struct tl_err *err)
{
    if ((data ? fdatasync(fd) : fsync(fd)) != 0) {
        return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot sync %s: %s", q->dir,
                          what, strerror(errno));
    }
    return TL_OK;
}

/* Makes everything written so far durable. */
static enum tl_rc sync_now(struct tl_dq *q, int64_t now_ms, struct tl_err *err)
{
    if (q->wfd >= 0 && q->data_unsynced) {
        TL_TRY(sync_fd(q, q->wfd, true, "the newest segment", err));
        q->data_unsynced = false;
    }
    if (q->dir_unsynced) {
        TL_TRY(sync_fd(q, q->dirfd, false, "the directory", err));
        q->dir_unsynced = false;
    }
    TL_TRY(write_ack(q, err));
    if (q->ack_unsynced) {
        TL_TRY(sync_fd(q, q->ackfd, true, "the ack file", err));
        q->ack_unsynced = false;
    }
    q->last_sync_ms = now_ms;
    return TL_OK;
}

/* Writes out and closes the tail; the next append starts a new segment. */
static enum tl_rc seal_tail(struct tl_dq *q, struct tl_err *err)
{
    if (q->wfd < 0) {
        return TL_OK;
    }
    TL_TRY(write_buf(q, err));
    if (q->sync != TL_DQ_SYNC_NONE && q->data_unsynced) {
        TL_TRY(sync_fd(q, q->wfd, true, "a full segment", err));
    }
    q->data_unsynced = false;
    close(q->wfd);
    q->wfd = -1;
    return TL_OK;
}

/* A new, empty tail after the segments there are; its file comes from create_tail. */
static enum tl_rc add_tail(struct tl_dq *q, struct tl_err *err)
{
    assert(q->wfd < 0 && !q->tail_pending);
    if (!push_seg(q, q->next_num, SEG_HEADER, 0, q->next_seq)) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "queue.dir %s: out of memory", q->dir);
    }
    q->next_num++;
    q->tail_pending = true;
    release(q);   /* a sealed tail may have been fully acknowledged */
    return TL_OK;
}

/* Creates the file of the pending tail. TL_E_IO (err->sys_errno set): the file system
 * refused (full, read-only, no permission); TL_E_RESOURCE: no segment number is left. */
static enum tl_rc create_tail(struct tl_dq *q, struct tl_err *err)
{
    char name[NAME_MAX_LEN];
    uint8_t hdr[SEG_HEADER];
    uint64_t num = tail(q)->num;

    assert(q->tail_pending && q->wfd < 0);
    if (num >= SEG_NUM_MAX) {
        return TL_ERR_SYS(err, TL_E_RESOURCE, ERANGE, NULL,
                          "queue.dir %s: segment numbers are exhausted; move the segment "
                          "files with the highest numbers out of it", q->dir);
    }
    seg_name(name, num);
    int fd = openat(q->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot create %s: %s",
                          q->dir, name, strerror(errno));
    }
    /* The header goes out at once, so that a crash leaves a valid (empty) segment rather
     * than an empty file that recovery would have to report. */
    memcpy(hdr, SEG_MAGIC, 8);
    put64(hdr + 8, num);
    if (!pwrite_full(fd, hdr, SEG_HEADER, 0)) {
        TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot write %s: %s", q->dir, name,
                   strerror(errno));
        close(fd);
        (void)unlinkat(q->dirfd, name, 0);
        return TL_E_IO;
    }
    q->tail_pending = false;
    q->wfd = fd;
    q->disk = SEG_HEADER;
    q->wbase = SEG_HEADER;
    q->wlen = 0;
    q->wdone = 0;
    q->data_unsynced = true;
    q->dir_unsynced = true;
    return TL_OK;
}

/* Cuts the segment file fd at off, where its records end, and puts a sequence marker
 * there: the records that follow (in the next segment) start at seq, and the gap before them
 * is known (it was reported) rather than found again at the next open. */
static bool put_marker(int fd, uint64_t off, uint32_t seq, bool sync)
{
    uint8_t m[HDR];

    put32(m, SKIP_MAGIC);
    put32(m + 4, 0);
    put32(m + 8, seq);
    put32(m + 12, tl_crc32c(0, m + 4, 8));
    return ftruncate(fd, (off_t)off) == 0 && pwrite_full(fd, m, HDR, off) &&
           (!sync || fdatasync(fd) == 0);
}

/* ---- reading ---- */

/* Drops the records of segs[i] from offset off on (they cannot be read) and cuts the file
 * there, with a marker, so that the next open does not report them again. */
static void lose_rest(struct tl_dq *q, size_t i, uint64_t off, const char *why)
{
    struct seg *s = &q->segs[i];
    char name[NAME_MAX_LEN];
    uint64_t n = s->unread;
    uint64_t b = s->end - off;
    uint32_t next = i + 1 < q->nsegs ? q->segs[i + 1].seq : q->next_seq;

    seg_name(name, s->num);
    if (!q->has_problem) {
        q->problem[0] = '\0';   /* the owner took the previous text */
    }
    add_sentence(q->problem, sizeof(q->problem),
                 "%s: %s at offset %" PRIu64 ": %" PRIu64 " records (%" PRIu64
                 " bytes) from there to the end of the segment are lost.",
                 name, why, off, n, b);
    q->has_problem = true;
    q->count -= n;
    q->bytes -= b;
    q->unread -= n;
    s->unacked -= n;
    s->unread = 0;
    s->end = off;
    q->peeked = false;
    forget_reader(q, s->num);
    if (i == q->nsegs - 1 && q->wfd >= 0) {
        /* The tail: what the buffer holds lies after off. The file gets no more appends;
         * the next record goes to a new segment and gets number next_seq. */
        if (q->data_unsynced && q->sync != TL_DQ_SYNC_NONE) {
            (void)fdatasync(q->wfd);   /* what it holds before off stays as durable */
        }
        close(q->wfd);
        q->wfd = -1;
        q->wlen = 0;
        q->wdone = 0;
        q->wbase = off;
        q->data_unsynced = false;
    }
    int fd = openat(q->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        /* If this fails, the next open reports the damage again; nothing worse. */
        (void)put_marker(fd, off, next, false);
        close(fd);
    }
    release(q);
}

/* Makes rbuf hold at least need bytes at off of segs[i] (and up to a chunk, not past lim).
 * Returns false with errno set, or errno 0 when the file is shorter than expected. */
static bool fill(struct tl_dq *q, size_t i, uint64_t off, size_t need, uint64_t lim)
{
    uint64_t num = q->segs[i].num;

    if (q->rb_len > 0 && q->rb_num == num && off >= q->rb_off &&
        off - q->rb_off + need <= q->rb_len) {
        return true;
    }
    if (q->rfd < 0 || q->rfd_num != num) {
        char name[NAME_MAX_LEN];
        if (q->rfd >= 0) {
            close(q->rfd);
        }
        seg_name(name, num);
        q->rfd = openat(q->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (q->rfd < 0) {
            return false;
        }
        q->rfd_num = num;
    }
    size_t want = need;
    if (want < READ_CHUNK) {
        want = lim - off < READ_CHUNK ? (size_t)(lim - off) : READ_CHUNK;
    }
    if (q->rcap > BUF_KEEP && want <= READ_CHUNK) {
        uint8_t *p = realloc(q->rbuf, READ_CHUNK);
        if (p != NULL) {
            q->rbuf = p;
            q->rcap = READ_CHUNK;
        }
    }
    q->rb_len = 0;
    if (!grow(&q->rbuf, &q->rcap, want)) {
        errno = ENOMEM;
        return false;
    }
    ssize_t n = pread_full(q->rfd, q->rbuf, want, off);
    if (n < 0) {
        return false;
    }
    q->rb_num = num;
    q->rb_off = off;
    q->rb_len = (size_t)n;
    if ((size_t)n < need) {
        errno = 0;
        return false;
    }
    return true;
}

enum rd { RD_OK, RD_LOST, RD_NOMEM };

/* Reads and checks the record at the read cursor, which lies before lim (all on disk).
 * RD_LOST: the rest of its segment was dropped. */
static enum rd read_disk(struct tl_dq *q, uint64_t lim, const uint8_t **rec, uint32_t *len)
{
    size_t i = q->rseg;
    uint64_t off = q->roff;
    char why[160];

    if (lim - off < HDR) {
        snprintf(why, sizeof(why), "a record header runs past the end (%" PRIu64 " bytes)",
                 lim - off);
        lose_rest(q, i, off, why);
        return RD_LOST;
    }
    if (!fill(q, i, off, HDR, lim)) {
        goto read_error;
    }
    const uint8_t *p = q->rbuf + (off - q->rb_off);
    uint32_t n = get32(p + 4);
    if (get32(p) != REC_MAGIC) {
        snprintf(why, sizeof(why), "a record header is damaged");
        lose_rest(q, i, off, why);
        return RD_LOST;
    }
    if ((uint64_t)n > lim - off - HDR) {
        snprintf(why, sizeof(why), "record length %" PRIu32 " runs past the end", n);
        lose_rest(q, i, off, why);
        return RD_LOST;
    }
    if (!fill(q, i, off, HDR + (size_t)n, lim)) {
        goto read_error;
    }
    p = q->rbuf + (off - q->rb_off);
    uint32_t want = get32(p + 12);
    uint32_t got = record_crc(p + 4, p + HDR, n);
    if (want != got) {
        snprintf(why, sizeof(why),
                 "record (length %" PRIu32 ") fails its CRC (stored 0x%08" PRIx32
                 ", computed 0x%08" PRIx32 ")", n, want, got);
        lose_rest(q, i, off, why);
        return RD_LOST;
    }
    *rec = p + HDR;
    *len = n;
    return RD_OK;

read_error:
    if (errno == ENOMEM) {
        /* Not the data's fault: keep it, the caller tries again later. */
        if (!q->has_problem) {
            q->problem[0] = '\0';
        }
        add_sentence(q->problem, sizeof(q->problem),
                     "queue.dir %s: out of memory reading a record; delivery waits.", q->dir);
        q->has_problem = true;
        return RD_NOMEM;
    }
    snprintf(why, sizeof(why), "read failed (%s)",
             errno != 0 ? strerror(errno) : "file shorter than expected");
    lose_rest(q, i, off, why);
    return RD_LOST;
}

bool tl_dq_peek(struct tl_dq *q, const uint8_t **rec, size_t *len)
{
    for (;;) {
        struct seg *s = &q->segs[q->rseg];
        if (q->roff >= s->end) {
            if (q->rseg + 1 < q->nsegs) {
                q->rseg++;
                q->roff = SEG_HEADER;
                continue;
            }
            q->peeked = false;
            return false;
        }
        uint32_t n;
        const uint8_t *p;
        if (q->rseg == q->nsegs - 1 && q->wfd >= 0 && q->roff >= q->wbase) {
            p = q->wbuf + (q->roff - q->wbase);
            n = get32(p + 4);
            p += HDR;
        } else {
            uint64_t lim = q->rseg == q->nsegs - 1 && q->wfd >= 0 ? q->wbase : s->end;
            enum rd r = read_disk(q, lim, &p, &n);
            if (r == RD_NOMEM) {
                q->peeked = false;
                return false;   /* the record is still there */
            }
            if (r == RD_LOST) {
                continue;
            }
        }
        q->peeked = true;
        q->peek_num = s->num;
        q->peek_off = q->roff;
        q->peek_size = HDR + (uint64_t)n;
        *rec = p;
        *len = n;
        return true;
    }
}

void tl_dq_advance(struct tl_dq *q)
{
    if (!q->peeked || q->peek_num != q->segs[q->rseg].num || q->peek_off != q->roff) {
        const uint8_t *p;
        size_t n;
        if (!tl_dq_peek(q, &p, &n)) {
            return;
        }
    }
    if (q->ring_n == q->ring_cap) {
        size_t cap = q->ring_cap > 0 ? q->ring_cap * 2 : 1024;
        uint32_t *r = malloc(cap * sizeof(*r));
        if (r == NULL) {
            return;   /* the cursor stays: the record is peeked again */
        }
        for (size_t k = 0; k < q->ring_n; k++) {
            r[k] = q->ring[(q->ring_head + k) % q->ring_cap];
        }
        free(q->ring);
        q->ring = r;
        q->ring_head = 0;
        q->ring_cap = cap;
    }
    q->ring[(q->ring_head + q->ring_n) % q->ring_cap] = (uint32_t)(q->peek_size - HDR);
    q->ring_n++;
    q->roff += q->peek_size;
    q->segs[q->rseg].unread--;
    q->unread--;
    q->peeked = false;
}

void tl_dq_ack(struct tl_dq *q, uint64_t n)
{
    if (n > q->ring_n) {
        n = q->ring_n;
    }
    for (uint64_t k = 0; k < n; k++) {
        release(q);
        uint64_t size = HDR + (uint64_t)q->ring[q->ring_head];
        q->ring_head = (q->ring_head + 1) % q->ring_cap;
        q->ring_n--;
        assert(q->segs[0].unacked > 0 && q->ack_off + size <= q->segs[0].end);
        q->ack_off += size;
        q->ack_seq++;
        q->segs[0].unacked--;
        q->count--;
        q->bytes -= size;
    }
    if (n > 0) {
        q->ack_dirty = true;
        release(q);
    }
}

void tl_dq_rewind(struct tl_dq *q)
{
    for (size_t i = 0; i < q->nsegs; i++) {
        q->segs[i].unread = q->segs[i].unacked;
    }
    q->unread = q->count;
    q->ring_n = 0;
    q->ring_head = 0;
    q->rseg = 0;
    q->roff = q->ack_off;
    q->peeked = false;
}

uint64_t tl_dq_count(const struct tl_dq *q)
{
    return q->count;
}

uint64_t tl_dq_bytes(const struct tl_dq *q)
{
    return q->bytes;
}

uint64_t tl_dq_unread(const struct tl_dq *q)
{
    return q->unread;
}

const char *tl_dq_take_problem(struct tl_dq *q)
{
    if (!q->has_problem) {
        return NULL;
    }
    q->has_problem = false;   /* the text stays until the next problem replaces it */
    return q->problem;
}

/* ---- writing ---- */

enum tl_rc tl_dq_append(struct tl_dq *q, const void *rec, size_t len, struct tl_err *err)
{
    uint64_t size = HDR + (uint64_t)len;

    if (len > UINT32_MAX - HDR || (q->max_bytes > 0 && size > q->max_bytes)) {
        TL_FAIL(err, TL_E_RESOURCE, NULL,
                "queue.dir %s: a record of %zu bytes can never fit (max_bytes %" PRIu64 ")",
                q->dir, len, q->max_bytes);
    }
    if (q->max_bytes > 0 && q->bytes + size > q->max_bytes) {
        TL_FAIL(err, TL_FULL, NULL, "queue.dir %s: full (%" PRIu64 " of max_bytes %" PRIu64 ")",
                q->dir, q->bytes, q->max_bytes);
    }
    if (q->wfd >= 0 && tail(q)->end > SEG_HEADER && tail(q)->end + size > q->segment_bytes) {
        TL_TRY(seal_tail(q, err));
    }
    if (q->wfd < 0 && !q->tail_pending) {
        TL_TRY(add_tail(q, err));
    }
    if (q->tail_pending) {
        TL_TRY(create_tail(q, err));
    }
    if (q->wlen - q->wdone >= WRITE_CHUNK) {
        TL_TRY(write_buf(q, err));
    }
    if (!grow(&q->wbuf, &q->wcap, q->wlen + (size_t)size)) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "queue.dir %s: out of memory for a record of %zu bytes",
                q->dir, len);
    }
    uint8_t *p = q->wbuf + q->wlen;
    put32(p, REC_MAGIC);
    put32(p + 4, (uint32_t)len);
    put32(p + 8, (uint32_t)q->next_seq);
    put32(p + 12, record_crc(p + 4, rec, len));
    q->next_seq++;
    if (len > 0) {
        memcpy(p + HDR, rec, len);
    }
    q->wlen += (size_t)size;
    struct seg *t = tail(q);
    t->end += size;
    t->unacked++;
    t->unread++;
    q->count++;
    q->bytes += size;
    q->unread++;
    return TL_OK;
}

uint64_t tl_dq_discard_unwritten(struct tl_dq *q)
{
    if (q->wfd < 0 || q->wlen == q->wdone) {
        return 0;
    }
    tl_dq_rewind(q);
    /* The first record not completely in the file: it and the records after it go. */
    size_t boundary = 0;
    uint64_t gone = 0;
    for (size_t off = 0; off < q->wlen;) {
        size_t end = off + HDR + get32(q->wbuf + off + 4);
        if (end > q->wdone) {
            if (gone == 0) {
                boundary = off;
            }
            gone++;
        }
        off = end;
    }
    struct seg *t = tail(q);
    uint64_t cut = q->wbase + boundary;
    /* Those read from the buffer and acknowledged were delivered: not lost, and not in the
     * counts any more. The ack position comes back to the cut. */
    uint64_t from = cut;
    uint64_t acked = 0;
    if (q->nsegs == 1 && q->ack_off > cut) {
        for (uint64_t off = cut; off < q->ack_off; acked++) {
            off += HDR + get32(q->wbuf + (off - q->wbase) + 4);
        }
        from = q->ack_off;
    }
    uint64_t lost = gone - acked;
    q->bytes -= t->end - from;
    t->end = cut;
    t->unacked -= lost;
    t->unread -= lost;
    q->count -= lost;
    q->unread -= lost;
    q->next_seq -= (uint32_t)gone;
    if (acked > 0) {
        q->ack_off = cut;
        q->ack_seq = q->next_seq;
        q->ack_dirty = true;
    }
    if (q->disk > cut) {
        /* Best effort: if it fails, the next open reports the torn record. */
        int rc = ftruncate(q->wfd, (off_t)cut);
        (void)rc;
        q->disk = cut;
    }
    q->wbase = cut;
    q->wlen = 0;
    q->wdone = 0;
    q->peeked = false;
    return lost;
}

static enum tl_rc flush_at(struct tl_dq *q, int64_t now_ms, struct tl_err *err)
{
    if (q->wfd >= 0) {
        TL_TRY(write_buf(q, err));
    }
    switch (q->sync) {
    case TL_DQ_SYNC_ALWAYS:
        return sync_now(q, now_ms, err);
    case TL_DQ_SYNC_INTERVAL:
        if (now_ms - q->last_sync_ms >= q->sync_interval_ms) {
            return sync_now(q, now_ms, err);
        }
        return write_ack(q, err);
    case TL_DQ_SYNC_NONE:
    default:
        return write_ack(q, err);
    }
}

enum tl_rc tl_dq_flush(struct tl_dq *q, struct tl_err *err)
{
    return flush_at(q, q->sync == TL_DQ_SYNC_NONE ? 0 : mono_ms(), err);
}

enum tl_rc tl_dq_tick(struct tl_dq *q, int64_t now_ms, struct tl_err *err)
{
    return flush_at(q, now_ms, err);
}

/* ---- open and recovery ---- */

struct scan {
    int fd;
    uint8_t *buf;
    size_t cap;
    uint64_t boff;
    size_t blen;
};

/* Up to need contiguous bytes at off (fewer only at the end of the file); *got says how
 * many. Returns NULL on a read error. */
static const uint8_t *scan_at(struct scan *sc, uint64_t off, size_t need, size_t *got)
{
    if (!(off >= sc->boff && off - sc->boff + need <= sc->blen)) {
        ssize_t n = pread_full(sc->fd, sc->buf, sc->cap, off);
        if (n < 0) {
            return NULL;
        }
        sc->boff = off;
        sc->blen = (size_t)n;
    }
    size_t have = off - sc->boff <= sc->blen ? sc->blen - (size_t)(off - sc->boff) : 0;
    *got = have;
    return sc->buf + (off - sc->boff);
}

/* Feeds len bytes of the file at pos into *crc; false on a read error or a short file. */
static bool crc_range(struct scan *sc, uint64_t pos, uint64_t len, uint32_t *crc)
{
    while (len > 0) {
        size_t got;
        const uint8_t *p = scan_at(sc, pos, len < sc->cap ? (size_t)len : sc->cap, &got);
        if (p == NULL || got == 0) {
            return false;
        }
        size_t take = got < len ? got : (size_t)len;
        *crc = tl_crc32c(*crc, p, take);
        pos += take;
        len -= take;
    }
    return true;
}

enum rv { RV_OK, RV_SKIP, RV_SHORT, RV_BAD, RV_IO };

/* What is at off (the file has size bytes)? RV_OK: a whole, valid record; RV_SKIP: a valid
 * sequence marker; RV_SHORT: what is there runs past the end of the file (a write cut short,
 * or a damaged length); RV_BAD: nothing valid starts here. */
static enum rv record_at(struct scan *sc, uint64_t off, uint64_t size, uint32_t *len,
                         uint32_t *seq)
{
    size_t got;
    if (size - off < HDR) {
        return RV_SHORT;
    }
    const uint8_t *p = scan_at(sc, off, HDR, &got);
    if (p == NULL || got < HDR) {
        return RV_IO;
    }
    uint32_t magic = get32(p);
    if (magic != REC_MAGIC && magic != SKIP_MAGIC) {
        return RV_BAD;
    }
    uint8_t lenseq[8];
    memcpy(lenseq, p + 4, 8);
    uint32_t n = get32(p + 4);
    uint32_t want = get32(p + 12);
    *seq = get32(p + 8);
    uint32_t crc = tl_crc32c(0, lenseq, 8);
    if (magic == SKIP_MAGIC) {
        return n == 0 && crc == want ? RV_SKIP : RV_BAD;
    }
    if ((uint64_t)n > size - off - HDR) {
        return RV_SHORT;
    }
    if (!crc_range(sc, off + HDR, n, &crc)) {
        return RV_IO;
    }
    if (crc != want) {
        return RV_BAD;
    }
    *len = n;
    return RV_OK;
}

/* The offset of the next valid record or marker after from, or size when none follows:
 * each starts with "LDRQ" or "LDRS" and is checked by its CRC, so the scan finds its way
 * back into the records after damaged bytes. A candidate whose read fails is returned, for
 * the caller to meet the error. */
static uint64_t resync(struct scan *sc, uint64_t from, uint64_t size)
{
    static const uint8_t prefix[3] = { 'L', 'D', 'R' };
    uint64_t pos = from;

    while (pos + HDR <= size) {
        size_t got;
        size_t want = size - pos < sc->cap ? (size_t)(size - pos) : sc->cap;
        const uint8_t *p = scan_at(sc, pos, want, &got);
        if (p == NULL || got < 4) {
            return size;
        }
        /* Candidates start at 0 .. got - 4 of the window; one at got - 3 or later straddles
         * its end and is looked at from the next window. */
        size_t at = 0;
        const uint8_t *m;
        while ((m = memmem(p + at, got - 1 - at, prefix, 3)) != NULL) {
            at = (size_t)(m - p);
            if (m[3] == 'Q' || m[3] == 'S') {
                uint64_t cand = pos + at;
                uint32_t len;
                uint32_t seq;
                enum rv r = record_at(sc, cand, size, &len, &seq);
                if (r == RV_OK || r == RV_SKIP || r == RV_IO) {
                    return cand;
                }
                /* record_at moved the window: look at this one again. */
                p = scan_at(sc, pos, want, &got);
                if (p == NULL || got < 4) {
                    return size;
                }
            }
            at++;
            if (at + 4 > got) {
                break;
            }
        }
        pos += got - 3;
    }
    return size;
}

/* Where the records of a segment lie: stretches of valid records with consecutive numbers.
 * More than one (or one not at the start) means the segment is written again. */
struct run {
    uint64_t start;
    uint64_t end;
    uint64_t records;
    uint32_t seq;        /* of its first record */
};

/* Recovery's path through the records, across segments, in order. */
struct walk {
    bool seq_known;
    uint32_t expect;     /* sequence number the next record should carry */
    char why[400];       /* damage seen since the last good record: said in any case */
    char hint[160];      /* what explains a gap, if there is one: a segment number skipped
                          * is not an anomaly by itself (a marker may bridge it) */
    bool torn_last;      /* why is only a torn record at the end of the newest segment */
    /* The current segment. */
    struct run *runs;
    size_t n_runs;
    size_t cap_runs;
    bool run_break;      /* the next record starts a new run (after a marker) */
    uint64_t mark_end;   /* end of a marker right after the last run, else 0 */
    uint32_t mark_seq;   /* its number */
    /* The last segment kept: where a marker may go, and the number its file says comes
     * next. */
    bool prev_markable;  /* its file ends where its records (and marker) end */
    uint64_t prev_num;
    uint64_t prev_end;
    uint32_t prev_next;
};

static void note(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct walk *w, const char *fmt, ...)
{
    size_t used = strlen(w->why);
    va_list ap;
    va_start(ap, fmt);
    if (used + 3 < sizeof(w->why)) {
        if (used) {
            memcpy(w->why + used, "; ", 3);
            used += 2;
        }
        (void)vsnprintf(w->why + used, sizeof(w->why) - used, fmt, ap);
    }
    va_end(ap);
    w->torn_last = false;
}

/* A valid record with sequence number seq at off of name: a jump from the expected number
 * is messages lost, said with what explains it. */
static void good_record(struct walk *w, const char *name, uint64_t off, uint32_t seq,
                        struct tl_dq_recovery *rec)
{
    char because[sizeof(w->why) + sizeof(w->hint) + 8];
    if (w->why[0] || w->hint[0]) {
        snprintf(because, sizeof(because), " (%s%s%s)", w->why,
                 w->why[0] && w->hint[0] ? "; " : "", w->hint);
    } else {
        because[0] = '\0';
    }
    w->hint[0] = '\0';
    /* 32-bit numbers: a jump of less than half their range is forwards. */
    uint32_t ahead = seq - w->expect;
    if (w->seq_known && ahead != 0 && ahead <= (uint32_t)INT32_MAX) {
        rec->lost_records += ahead;
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: %" PRIu32 " message%s missing before offset %" PRIu64 "%s: %s lost.",
                     name, ahead, ahead == 1 ? "" : "s", off,
                     because[0] ? because : " (a gap in the sequence numbers)",
                     ahead == 1 ? "it is" : "they are");
    } else if (w->seq_known && ahead != 0) {
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: the sequence numbers go back by %" PRIu32 " at offset %" PRIu64
                     "%s: those messages may be delivered twice.",
                     name, w->expect - seq, off, because);
    } else if (w->why[0] && w->seq_known) {
        add_sentence(rec->detail, sizeof(rec->detail), "%s: no message is missing.", w->why);
    } else if (w->why[0]) {
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: the messages there, if any, are lost (not known how many).", w->why);
    }
    w->seq_known = true;
    w->expect = seq + 1;
    w->why[0] = '\0';
    w->torn_last = false;
}

static bool add_run(struct walk *w, uint64_t start, uint64_t end, uint32_t seq)
{
    struct run *last = w->n_runs > 0 ? &w->runs[w->n_runs - 1] : NULL;
    if (last != NULL && !w->run_break && last->end == start &&
        seq == last->seq + (uint32_t)last->records) {
        last->end = end;
        last->records++;
        return true;
    }
    if (w->n_runs == w->cap_runs) {
        size_t cap = w->cap_runs ? w->cap_runs * 2 : 8;
        struct run *r = realloc(w->runs, cap * sizeof(*r));
        if (r == NULL) {
            return false;
        }
        w->runs = r;
        w->cap_runs = cap;
    }
    w->runs[w->n_runs++] = (struct run){ start, end, 1, seq };
    w->run_break = false;
    return true;
}

/* Checks the records of one segment from off to size: the valid ones go to w->runs (and
 * are counted in *records), damaged bytes are skipped up to the next valid record and noted.
 * newest: the segment is the newest one there is. *io_error: a read failed (the rest of
 * the segment is not trusted). */
static void scan_records(struct scan *sc, const char *name, uint64_t off, uint64_t size,
                         bool newest, struct walk *w, uint64_t *records,
                         struct tl_dq_recovery *rec, bool *io_error)
{
    *records = 0;
    *io_error = false;
    w->n_runs = 0;
    w->run_break = true;
    w->mark_end = 0;
    while (off < size) {
        uint32_t len = 0;
        uint32_t seq = 0;
        errno = 0;
        enum rv r = record_at(sc, off, size, &len, &seq);
        if (r == RV_OK) {
            good_record(w, name, off, seq, rec);
            if (!add_run(w, off, off + HDR + len, seq)) {
                errno = ENOMEM;
                goto io;
            }
            (*records)++;
            off += HDR + (uint64_t)len;
            continue;
        }
        if (r == RV_SKIP) {
            /* A marker: the gap up to its number was reported when it was written. */
            w->seq_known = true;
            w->expect = seq;
            w->run_break = true;
            bool after_run = w->n_runs > 0 && w->runs[w->n_runs - 1].end == off;
            w->mark_end = after_run ? off + HDR : 0;
            w->mark_seq = seq;
            off += HDR;
            continue;
        }
        if (r == RV_IO) {
            goto io;
        }
        uint64_t next = resync(sc, off + 1, size);
        rec->corrupt_records++;
        rec->skipped_bytes += next - off;
        w->mark_end = 0;
        if (next == size && r == RV_SHORT) {
            bool only = w->why[0] == '\0';
            note(w, "%s ends with a torn record of %" PRIu64 " bytes at offset %" PRIu64, name,
                 size - off, off);
            w->torn_last = newest && only;
        } else {
            note(w, "%" PRIu64 " damaged bytes at offset %" PRIu64 " of %s", next - off, off,
                 name);
        }
        off = next;
    }
    return;

io:
    *io_error = true;
    note(w, "%s could not be read from offset %" PRIu64 " (%s)", name, off,
         errno != 0 ? strerror(errno) : "file shrank");
    rec->corrupt_records++;
    rec->skipped_bytes += size - off;
}

/* Writes a segment again with only its valid records (w->runs), numbered on from seq, in
 * place of the old one (a new file renamed over it): the next open finds neither the damage
 * nor a gap in the numbers, so what was reported is reported once. Returns the new size, or
 * 0 when it cannot (errno set). */
static uint64_t rewrite_segment(struct tl_dq *q, int fd, uint64_t num, const struct walk *w,
                                uint32_t seq)
{
    char name[NAME_MAX_LEN];
    char tmp[NAME_MAX_LEN + 8];
    uint8_t hdr[SEG_HEADER];
    uint8_t buf[65536];
    uint64_t end = SEG_HEADER;

    seg_name(name, num);
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int out = openat(q->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        return 0;
    }
    memcpy(hdr, SEG_MAGIC, 8);
    put64(hdr + 8, num);
    bool ok = pwrite_full(out, hdr, SEG_HEADER, 0);
    for (size_t i = 0; ok && i < w->n_runs; i++) {
        for (uint64_t pos = w->runs[i].start; ok && pos < w->runs[i].end;) {
            uint8_t h[HDR];
            ssize_t r = pread_full(fd, h, HDR, pos);
            uint64_t len = r == (ssize_t)HDR ? get32(h + 4) : 0;
            if (r != (ssize_t)HDR || pos + HDR + len > w->runs[i].end) {
                if (r >= 0) {
                    errno = EIO;   /* the file changed since the scan */
                }
                ok = false;
                break;
            }
            uint32_t old = tl_crc32c(0, h + 4, 8);
            put32(h + 8, seq++);
            uint32_t crc = tl_crc32c(0, h + 4, 8);
            for (uint64_t k = 0; ok && k < len;) {
                size_t want = len - k < sizeof(buf) ? (size_t)(len - k) : sizeof(buf);
                ok = pread_full(fd, buf, want, pos + HDR + k) == (ssize_t)want &&
                     pwrite_full(out, buf, want, end + HDR + k);
                old = tl_crc32c(old, buf, want);
                crc = tl_crc32c(crc, buf, want);
                k += want;
            }
            if (ok && old != get32(h + 12)) {
                errno = EIO;   /* the record changed since the scan */
                ok = false;
            }
            put32(h + 12, crc);
            ok = ok && pwrite_full(out, h, HDR, end);
            pos += HDR + len;
            end += HDR + len;
        }
    }
    ok = ok && fdatasync(out) == 0;
    int e = errno;
    close(out);
    if (!ok || renameat(q->dirfd, tmp, q->dirfd, name) != 0) {
        e = ok ? errno : e;
        (void)unlinkat(q->dirfd, tmp, 0);
        errno = e;
        return 0;
    }
    q->dir_unsynced = true;
    return end;
}

/* Deletes a file of the directory; false when it stays. */
static bool remove_file(struct tl_dq *q, const char *name)
{
    q->dir_unsynced = true;
    return unlinkat(q->dirfd, name, 0) == 0 || errno == ENOENT;
}

/* How many valid records a segment of format 1 holds after its header ("TLDQSEG1"; each
 * record: u32 length, u32 CRC-32C of those 4 bytes and the payload, payload). */
static uint64_t count_v1(struct scan *sc, uint64_t size)
{
    uint64_t off = SEG_HEADER;
    uint64_t n = 0;

    while (size - off >= 8) {
        size_t got;
        const uint8_t *p = scan_at(sc, off, 8, &got);
        if (p == NULL || got < 8) {
            break;
        }
        uint8_t lenbytes[4];
        memcpy(lenbytes, p, 4);
        uint32_t len = get32(p);
        uint32_t want = get32(p + 4);
        uint32_t crc = tl_crc32c(0, lenbytes, 4);
        if (len > size - off - 8 || !crc_range(sc, off + 8, len, &crc) || crc != want) {
            break;
        }
        n++;
        off += 8 + (uint64_t)len;
    }
    return n;
}

/* A segment whose header is not right: renamed to *.bad (kept for the operator, never read
 * again) and reported. */
static void bad_header(struct tl_dq *q, struct scan *sc, uint64_t num, ssize_t n,
                       const uint8_t *hdr, uint64_t size, struct walk *w,
                       struct tl_dq_recovery *rec, bool *stays)
{
    char name[NAME_MAX_LEN];
    char bad[NAME_MAX_LEN + 4];
    char what[160];
    char renamed[NAME_MAX_LEN + 40];

    seg_name(name, num);
    snprintf(bad, sizeof(bad), "%s.bad", name);
    if (n >= (ssize_t)SEG_HEADER && memcmp(hdr, "TLDQSEG1", 8) == 0) {
        /* Counted, not read: nothing says which of them were delivered. */
        uint64_t v1 = count_v1(sc, size);
        rec->lost_records += v1;
        snprintf(what, sizeof(what), "the format of tlslogd 0.1, which this version does not "
                 "read: its %" PRIu64 " message%s are not delivered", v1, v1 == 1 ? "" : "s");
    } else {
        note(w, "%s had a bad header", name);
        snprintf(what, sizeof(what), "%s",
                 n < (ssize_t)SEG_HEADER          ? "file too short"
                 : memcmp(hdr, SEG_MAGIC, 8) != 0 ? "wrong magic"
                                                  : "wrong segment number");
    }
    /* A .bad file of the same name from an earlier start is not replaced. */
    if (faccessat(q->dirfd, bad, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        snprintf(renamed, sizeof(renamed), "left alone (%s exists)", bad);
        *stays = true;
    } else if (renameat(q->dirfd, name, q->dirfd, bad) != 0) {
        snprintf(renamed, sizeof(renamed), "left alone (cannot rename: %s)", strerror(errno));
        *stays = true;
    } else {
        snprintf(renamed, sizeof(renamed), "file renamed to %s", bad);
        q->dir_unsynced = true;
    }
    add_sentence(rec->detail, sizeof(rec->detail),
                 "%s: bad segment header (%s): %" PRIu64 " bytes skipped, %s.", name, what,
                 size, renamed);
    rec->bad_files++;
    rec->skipped_bytes += size;
}

/* Makes the file of the last segment kept say that its successor starts at seq (a marker
 * after its records), because the numbers in between are missing and were reported. */
static void bridge(struct tl_dq *q, struct walk *w, uint32_t seq, struct tl_dq_recovery *rec)
{
    char name[NAME_MAX_LEN];

    seg_name(name, w->prev_num);
    int fd = w->prev_markable ? openat(q->dirfd, name, O_WRONLY | O_CLOEXEC) : -1;
    bool ok = fd >= 0 && put_marker(fd, w->prev_end, seq, q->sync != TL_DQ_SYNC_NONE);
    if (!ok) {
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: cannot mark the gap after its records (%s): it is reported again at "
                     "the next start.",
                     name, w->prev_markable ? strerror(errno) : "its end is not certain");
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Recovers one segment file (number num, from offset start: the ack position or its
 * header). newest: no segment file has a higher number. *stays: the file is still there
 * under its name (kept, or left alone). */
static enum tl_rc recover_segment(struct tl_dq *q, uint64_t num, uint64_t start, bool newest,
                            struct scan *sc, struct walk *w, struct tl_dq_recovery *rec,
                            bool *stays, struct tl_err *err)
{
    char name[NAME_MAX_LEN];
    struct stat st;
    uint8_t hdr[SEG_HEADER];
    uint8_t good[SEG_HEADER];

    *stays = true;
    seg_name(name, num);
    int fd = openat(q->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        add_sentence(rec->detail, sizeof(rec->detail), "%s: cannot open (%s): skipped.", name,
                     strerror(errno));
        note(w, "%s could not be opened", name);
        rec->bad_files++;
        if (fd >= 0) {
            close(fd);
        }
        return TL_OK;
    }
    uint64_t size = (uint64_t)st.st_size;
    memcpy(good, SEG_MAGIC, 8);
    put64(good + 8, num);
    ssize_t n = pread_full(fd, hdr, SEG_HEADER, 0);
    if (n < 0) {
        add_sentence(rec->detail, sizeof(rec->detail), "%s: cannot read (%s): skipped.", name,
                     strerror(errno));
        note(w, "%s could not be read", name);
        rec->bad_files++;
        rec->skipped_bytes += size;
        close(fd);
        return TL_OK;
    }
    sc->fd = fd;
    sc->blen = 0;
    sc->boff = 0;
    if (n < (ssize_t)SEG_HEADER && size < SEG_HEADER && memcmp(hdr, good, (size_t)n) == 0) {
        /* Created, then the process or machine stopped before the header was written. */
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: segment creation was cut short (%zd of 16 header bytes): deleted.",
                     name, n);
        rec->skipped_bytes += size;
        close(fd);
        *stays = !remove_file(q, name);
        return TL_OK;
    }
    if (n < (ssize_t)SEG_HEADER || memcmp(hdr, good, SEG_HEADER) != 0) {
        *stays = false;
        bad_header(q, sc, num, n, hdr, size, w, rec, stays);
        close(fd);
        return TL_OK;
    }

    uint64_t records = 0;
    bool io_error = false;
    w->n_runs = 0;
    w->mark_end = 0;
    if (start < size) {
        scan_records(sc, name, start, size, newest, w, &records, rec, &io_error);
    } else if (start > size && q->nsegs == 0) {
        /* The ack position lies past the data: what was written after it did not reach the
         * disk (a crash of the machine, or a write that failed at the stop). */
        note(w, "%s ends at byte %" PRIu64 ", before the ack position (offset %" PRIu64 ")",
             name, size, start);
    }
    /* The first segment kept can start reading at its first valid record (the ack
     * position moves there); any other starts right after its header. */
    bool first = q->nsegs == 0;
    uint64_t from = first && w->n_runs > 0 ? w->runs[0].start : start;
    uint32_t seq = w->n_runs > 0 ? w->runs[0].seq : 0;
    uint64_t end = from;
    uint64_t keep = from;   /* where the file is cut: after the records and a marker */
    bool cut = !io_error;
    if (w->n_runs == 1 && w->runs[0].start == from) {
        /* In one piece: at most damaged bytes after it, cut off so that they are said
         * once. A marker right after it stays. */
        end = w->runs[0].end;
        keep = w->mark_end == end + HDR ? w->mark_end : end;
    } else if (w->n_runs > 0) {
        /* Damaged bytes or a jump in the numbers between valid records: the segment is
         * written again without them. */
        uint64_t rewritten = io_error ? 0 : rewrite_segment(q, fd, num, w, seq);
        if (rewritten > 0) {
            add_sentence(rec->detail, sizeof(rec->detail),
                         "%s: rewritten with its %" PRIu64 " valid records only, numbered "
                         "without gaps; they are delivered.", name, records);
            from = SEG_HEADER;
            end = keep = rewritten;
            cut = false;
        } else {
            /* Cannot (disk full, read error): keep the valid records before the first
             * damage; the others are lost with it. */
            uint64_t kept = w->runs[0].start == from ? w->runs[0].records : 0;
            end = keep = kept ? w->runs[0].end : from;
            rec->lost_records += records - kept;
            add_sentence(rec->detail, sizeof(rec->detail),
                         "%s: cannot be rewritten without its damaged bytes (%s): the %" PRIu64
                         " valid records after offset %" PRIu64 " are lost too.",
                         name, io_error ? "read error" : strerror(errno), records - kept, end);
            records = kept;
        }
    }
    bool markable = !io_error;
    if (cut && keep < size && ftruncate(fd, (off_t)keep) != 0) {
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: cannot truncate to %" PRIu64 " bytes (%s).", name, keep,
                     strerror(errno));
        markable = false;
    }
    close(fd);
    if (records == 0) {
        /* (A file that could not be read stays: it may be readable another time.) */
        *stays = io_error || !remove_file(q, name);
        return TL_OK;
    }
    if (first) {
        q->ack_off = from;
        q->ack_seq = seq;
    } else if (w->prev_next != seq) {
        bridge(q, w, seq, rec);
    }
    if (!push_seg(q, num, end, records, seq)) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "queue.dir %s: out of memory", q->dir);
    }
    q->count += records;
    q->bytes += end - from;
    w->prev_markable = markable;
    w->prev_num = num;
    w->prev_end = end;
    w->prev_next = keep > end ? w->mark_seq : seq + (uint32_t)records;
    return TL_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A segment name followed by suffix ("" for none); *num gets its number. */
static bool seg_name_with(const char *name, const char *suffix, uint64_t *num)
{
    char base[NAME_MAX_LEN];
    size_t n = strlen(name);
    size_t k = strlen(suffix);

    if (n < k || n - k >= sizeof(base) || strcmp(name + n - k, suffix) != 0) {
        return false;
    }
    memcpy(base, name, n - k);
    base[n - k] = '\0';
    return parse_seg_name(base, num);
}

/* Files recovery knows besides the segments: they are neither reported nor touched
 * (lost+found: queue.dir may be the root of its own file system). */
static bool own_file(const char *name)
{
    uint64_t num;
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "ack") == 0 ||
           strcmp(name, "lock") == 0 || strcmp(name, "lost+found") == 0 ||
           seg_name_with(name, ".bad", &num);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reports (and deletes, for a leftover of a cut-short rewrite) a file of the directory that
 * is not a segment to recover. */
static void other_file(struct tl_dq *q, const char *name, struct tl_dq_recovery *rec)
{
    uint64_t num;

    if (seg_name_with(name, ".tmp", &num)) {
        /* The segment it was to replace is still there and is recovered again. */
        bool gone = remove_file(q, name);
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: left by a rewrite that was cut short: %s.", name,
                     gone ? "deleted" : strerror(errno));
    } else if (parse_seg_name(name, &num)) {
        rec->unknown_files++;
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: segment number out of range: left alone.", name);
    } else {
        rec->unknown_files++;
        add_sentence(rec->detail, sizeof(rec->detail), "%s: not a file of the queue: left "
                     "alone.", name);
    }
}

/* The numbers of the segment files in the directory, sorted; every other file is reported,
 * in the order of the names, and left alone. */
static enum tl_rc list_segments(struct tl_dq *q, uint64_t **out, size_t *n,
                          struct tl_dq_recovery *rec, struct tl_err *err)
{
    size_t cap = 0;
    uint64_t *v = NULL;
    char **others = NULL;
    size_t n_others = 0;
    size_t cap_others = 0;
    bool ok = true;
    int fd = dup(q->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    *n = 0;
    if (d == NULL) {
        TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot list: %s", q->dir,
                   strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return TL_E_IO;
    }
    while (ok && (e = readdir(d)) != NULL) {
        uint64_t num;
        if (parse_seg_name(e->d_name, &num) && num < SEG_NUM_MAX) {
            if (*n == cap) {
                cap = cap > 0 ? cap * 2 : 16;
                uint64_t *nv = realloc(v, cap * sizeof(*v));
                ok = nv != NULL;
                v = ok ? nv : v;
            }
            if (ok) {
                v[(*n)++] = num;
            }
        } else if (!own_file(e->d_name)) {
            if (n_others == cap_others) {
                cap_others = cap_others > 0 ? cap_others * 2 : 8;
                char **no = realloc(others, cap_others * sizeof(*others));
                ok = no != NULL;
                others = ok ? no : others;
            }
            if (ok) {
                others[n_others] = strdup(e->d_name);
                ok = others[n_others] != NULL;
                n_others += ok;
            }
        }
    }
    closedir(d);
    if (ok && n_others > 1) {
        qsort(others, n_others, sizeof(*others), cmp_str);
    }
    for (size_t i = 0; i < n_others; i++) {
        if (ok) {
            other_file(q, others[i], rec);
        }
        free(others[i]);
    }
    free(others);
    if (!ok) {
        free(v);
        TL_FAIL(err, TL_E_RESOURCE, NULL, "queue.dir %s: out of memory", q->dir);
    }
    if (*n > 1) {
        qsort(v, *n, sizeof(*v), cmp_u64);
    }
    *out = v;
    return TL_OK;
}

static enum tl_rc lock_dir(struct tl_dq *q, struct tl_err *err)
{
    char pid[32];

    q->lockfd = openat(q->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (q->lockfd < 0) {
        return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot open %s/lock: %s",
                          q->dir, q->dir, strerror(errno));
    }
    if (flock(q->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot lock %s/lock: %s",
                              q->dir, q->dir, strerror(errno));
        }
        ssize_t n = pread_full(q->lockfd, (uint8_t *)pid, sizeof(pid) - 1, 0);
        size_t k = 0;
        while (n > 0 && k < (size_t)n && pid[k] >= '0' && pid[k] <= '9') {
            k++;
        }
        if (k == 0) {
            memcpy(pid, "unknown", sizeof("unknown"));
        } else {
            pid[k] = '\0';
        }
        /* Two daemons (or two outputs) configured with one directory. */
        return TL_ERR_SYS(err, TL_E_CONFIG, EWOULDBLOCK, NULL,
                          "queue.dir %s is in use by another process (pid %s)", q->dir, pid);
    }
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(q->lockfd, 0) == 0 && len > 0) {
        /* Only the message of a second opener depends on it. */
        (void)pwrite_full(q->lockfd, (const uint8_t *)pid, (size_t)len, 0);
    }
    return TL_OK;
}

static enum tl_rc open_dir(struct tl_dq *q, struct tl_err *err)
{
    if (!tl_mkdir_p(q->dir, 0700, true)) {
        return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot create: %s", q->dir,
                          strerror(errno));
    }
    q->dirfd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->dirfd < 0) {
        return TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot open: %s", q->dir,
                          strerror(errno));
    }
    return lock_dir(q, err);
}

static enum tl_rc recover(struct tl_dq *q, struct tl_dq_recovery *rec, struct tl_err *err)
{
    uint64_t ack_num = 0;
    uint64_t ack_off = SEG_HEADER;
    uint32_t ack_seq = 0;
    enum ack_state ack = read_ack(q, &ack_num, &ack_off, &ack_seq, rec);
    uint64_t *nums = NULL;
    size_t n = 0;
    struct scan sc = { .fd = -1, .buf = q->rbuf, .cap = q->rcap };
    struct walk w = {0};
    enum tl_rc rc = TL_OK;
    bool any_stays = false;
    char name[NAME_MAX_LEN];

    TL_TRY(list_segments(q, &nums, &n, rec, err));
    if (ack_off < SEG_HEADER) {
        ack_off = SEG_HEADER;
    }
    /* SEG_NUM_MAX itself is the number of a tail that could not be created. */
    if (ack == ACK_OK && ack_num > SEG_NUM_MAX) {
        add_sentence(rec->detail, sizeof(rec->detail),
                     "ack: position in segment %" PRIu64 ", out of range: ignored.", ack_num);
        ack = ACK_LOST;
    }
    bool have_ack = ack == ACK_OK;
    if (have_ack) {
        /* The first record kept must be the one at the ack position. */
        w.seq_known = true;
        w.expect = ack_seq;
    }
    /* New segments are numbered past the ack position, so that records written after a
     * crash that lost data it had acknowledged are not taken as acknowledged too. */
    q->next_num = have_ack ? ack_num + 1 : 1;
    bool have_prev = false;
    uint64_t prev = 0;
    for (size_t i = 0; i < n && rc == TL_OK; i++) {
        uint64_t num = nums[i];
        if (have_ack && num < ack_num) {
            seg_name(name, num);
            if (!remove_file(q, name)) {   /* fully acknowledged */
                any_stays = true;
            }
            continue;
        }
        w.hint[0] = '\0';
        if (have_ack && !have_prev && num > ack_num) {
            seg_name(name, ack_num);
            snprintf(w.hint, sizeof(w.hint), "%s, where the ack position is, is missing", name);
        } else if (have_prev && num > prev + 1) {
            char a[NAME_MAX_LEN];
            seg_name(a, prev + 1);
            seg_name(name, num - 1);
            if (num == prev + 2) {
                snprintf(w.hint, sizeof(w.hint), "%s is missing", a);
            } else {
                snprintf(w.hint, sizeof(w.hint), "%s to %s are missing", a, name);
            }
        } else if (have_prev && w.why[0] == '\0') {
            /* (Damage seen at the end of the previous segment explains a gap better.) */
            seg_name(name, prev);
            snprintf(w.hint, sizeof(w.hint), "the end of %s is missing", name);
        }
        uint64_t start = have_ack && num == ack_num ? ack_off : SEG_HEADER;
        bool stays = false;
        rc = recover_segment(q, num, start, i + 1 == n, &sc, &w, rec, &stays, err);
        if (stays) {
            any_stays = true;
            if (num >= q->next_num) {
                q->next_num = num + 1;
            }
        }
        have_prev = true;
        prev = num;
    }
    free(nums);
    free(w.runs);
    TL_TRY(rc);
    if (w.torn_last) {
        /* The bytes of one record are there: the one being written. */
        rec->lost_records++;
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: 1 message lost, probably the one being written when tlslogd "
                     "stopped.", w.why);
    } else if (w.why[0] != '\0') {
        /* Damage after the last good record: how many messages it held cannot be told. */
        add_sentence(rec->detail, sizeof(rec->detail),
                     "%s: the messages there, if any, are lost (not known how many).", w.why);
    }
    if (ack != ACK_OK && q->count > 0) {
        rec->redelivered = q->count;
        add_sentence(rec->detail, sizeof(rec->detail),
                     "ack: %sso the %" PRIu64 " messages found are all delivered again, from "
                     "the oldest segment; those delivered before are duplicates.",
                     ack == ACK_NONE ? "no position in the file (new, or emptied), " : "",
                     q->count);
    }
    rec->records = q->count;
    rec->bytes = q->bytes;
    /* Sequence numbers go on from what the last file says comes next. */
    if (q->nsegs > 0) {
        q->next_seq = w.prev_next;
    } else {
        q->next_seq = w.seq_known ? w.expect : ack_seq;
        q->ack_seq = q->next_seq;
    }
    if (q->next_num >= SEG_NUM_MAX && !any_stays) {
        q->next_num = 1;   /* nothing is left to be ordered after */
    }
    TL_TRY(add_tail(q, err));
    /* A file system that is full or read-only now does not keep the queue from opening:
     * what is on disk can be delivered, and appends try again. */
    struct tl_err terr;
    rc = create_tail(q, &terr);
    if (rc != TL_OK) {
        seg_name(name, tail(q)->num);
        if (rc == TL_E_RESOURCE) {
            add_sentence(rec->detail, sizeof(rec->detail),
                         "no segment number is left after the highest one there: new messages "
                         "cannot be queued on disk until the segment files with the highest "
                         "numbers are moved out of the directory.");
        } else {
            add_sentence(rec->detail, sizeof(rec->detail),
                         "%s: cannot be created yet (%s): new messages wait until it can.",
                         name, strerror(terr.sys_errno));
        }
    }
    if (q->nsegs == 1) {
        q->ack_off = SEG_HEADER;
    }
    q->unread = q->count;
    q->rseg = 0;
    q->roff = q->ack_off;
    q->ack_dirty = true;
    return TL_OK;
}

static void destroy(struct tl_dq *q)
{
    if (q->wfd >= 0) {
        close(q->wfd);
    }
    if (q->rfd >= 0) {
        close(q->rfd);
    }
    if (q->ackfd >= 0) {
        close(q->ackfd);
    }
    if (q->lockfd >= 0) {
        close(q->lockfd);   /* releases the flock */
    }
    if (q->dirfd >= 0) {
        close(q->dirfd);
    }
    free(q->segs);
    free(q->wbuf);
    free(q->rbuf);
    free(q->ring);
    free(q->dir);
    free(q);
}

struct tl_dq *tl_dq_open(const struct tl_dq_opts *o, struct tl_dq_recovery *rec, struct tl_err *err)
{
    struct tl_dq_recovery local;
    struct tl_dq *q = calloc(1, sizeof(*q));

    if (rec == NULL) {
        rec = &local;
    }
    memset(rec, 0, sizeof(*rec));
    if (q == NULL || o->dir == NULL || (q->dir = strdup(o->dir)) == NULL) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "queue.dir: out of memory");
        free(q);
        return NULL;
    }
    q->dirfd = q->lockfd = q->ackfd = q->wfd = q->rfd = -1;
    q->max_bytes = o->max_bytes;
    q->segment_bytes = o->segment_bytes > 0 ? o->segment_bytes : TL_DQ_SEGMENT_BYTES_DEFAULT;
    q->sync = o->sync;
    q->sync_interval_ms = o->sync_interval_ms > INT32_MAX ? INT32_MAX
                                                          : (int64_t)o->sync_interval_ms;
    q->rbuf = malloc(READ_CHUNK);
    q->rcap = READ_CHUNK;
    if (q->rbuf == NULL) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "queue.dir %s: out of memory", q->dir);
        goto fail;
    }
    if (open_dir(q, err) != TL_OK) {
        goto fail;
    }
    q->ackfd = openat(q->dirfd, "ack", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (q->ackfd < 0) {
        TL_ERR_SYS(err, TL_E_IO, errno, NULL, "queue.dir %s: cannot open %s/ack: %s", q->dir,
                   q->dir, strerror(errno));
        goto fail;
    }
    if (recover(q, rec, err) != TL_OK) {
        goto fail;
    }
    /* What recovery changed (truncations, deletions, the new tail) is made durable now. A
     * damaged ack file gets the position in both slots, so that what was reported about it
     * is not found again at the next open. */
    q->last_sync_ms = mono_ms();
    for (int k = 0; k < (q->ack_repair ? 2 : 1); k++) {
        q->ack_dirty = true;
        if (write_buf(q, err) != TL_OK ||
            (q->sync == TL_DQ_SYNC_NONE ? write_ack(q, err)
                                        : sync_now(q, q->last_sync_ms, err)) != TL_OK) {
            goto fail;
        }
    }
    return q;

fail:
    destroy(q);   /* files stay as they are */
    return NULL;
}

void tl_dq_close(struct tl_dq *q)
{
    if (q == NULL) {
        return;
    }
    if (q->wfd >= 0) {
        (void)write_buf(q, NULL);
    }
    if (q->count == 0) {
        /* Nothing left: the ack position goes to the end of the tail (of what reached its
         * file), so that the next open numbers its segments past it, then every segment
         * goes. */
        q->ack_seq = q->next_seq;
        q->ack_dirty = true;
        (void)write_ack_at(q, tail(q)->num, q->wfd >= 0 ? q->disk : tail(q)->end, NULL);
    }
    if (q->sync != TL_DQ_SYNC_NONE) {
        (void)sync_now(q, 0, NULL);
    } else {
        (void)write_ack(q, NULL);
    }
    size_t first = q->count == 0 ? 0 : q->nsegs - 1;
    bool deleted = false;
    for (size_t i = first; i < q->nsegs; i++) {
        if (q->count == 0 || q->segs[i].end == SEG_HEADER) {
            char name[NAME_MAX_LEN];
            seg_name(name, q->segs[i].num);
            (void)unlinkat(q->dirfd, name, 0);
            deleted = true;
        }
    }
    if (deleted && q->sync != TL_DQ_SYNC_NONE) {
        (void)fsync(q->dirfd);
    }
    destroy(q);
}
