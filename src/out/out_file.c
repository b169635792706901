/*
 * out_file.c: the file and stdout outputs. One thread per output pops batches from the
 * output's queue, formats each message straight into the write buffer of the file its
 * path template names, and writes buffers out when they fill, every flush_interval, on
 * SIGHUP (then closes, so logrotate's renamed files are let go) and at shutdown.
 *
 * Settling (server.h): a message is settled once every buffer holding it has been written
 * (and fsynced, with sync). A write that fails is never a silent loss: the buffer is kept
 * (a short write is cut back to its last whole line with ftruncate, so no file holds a
 * torn line), one line says what failed and what to do, and the output retries with a
 * bounded backoff. Meanwhile it takes nothing more from its queue, which fills, and
 * queue.full applies: the inputs routed here pause (block) or new messages are dropped and
 * counted (drop).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/pace.h"
#include "core/text.h"
#include "out/out.h"
#include "parse/format.h"
#include "parse/template.h"

#define POP_MAX 1024
#define FAIL_BACKOFF_MIN_MS 50
#define FAIL_BACKOFF_MAX_MS 2000
#define N_BUCKETS 1024

struct ofile {
    char *path;
    int fd;
    uint64_t hash;
    uint64_t last_use;
    struct tl_buf buf;
    size_t n_buf;            /* messages whose lines are in buf */
    bool unsynced;           /* written since the last fdatasync (sync only) */
    struct ofile *hnext;
};

struct writer {
    struct tl_output *out;
    const struct tl_conf_output *conf;
    struct tl_template *tmpl; /* the path; NULL for stdout */
    bool constant;           /* no placeholders: one file */
    bool is_stdout;
    struct ofile *buckets[N_BUCKETS];
    size_t n_open;
    uint64_t use_clock;
    struct ofile *single;    /* constant path or stdout */
    struct tl_buf path;      /* rendering scratch */
    bool dirty;
    bool fsync;              /* sync: fdatasync after each write-out */
    /* Popped from the queue, not yet taken (formatted into a buffer, or dropped). */
    struct tl_msg *held[POP_MAX];
    size_t n_held;
    size_t held_pos;
    uint64_t taken;          /* messages of the queue taken so far, in order */
    /* A write or open failure: failing until the next retry; the episode lasts until a
     * retry gets everything through (one line at its start, one at its end). */
    bool failing;
    bool episode;
    int fail_errno;
    char fail_path[512];
    const char *fail_action;
    int64_t fail_since_ms;
    int64_t retry_at_ms;
    int64_t backoff_ms;
};

/* The path of m's file, in wr->path. */
static const char *render_path(struct writer *wr, const struct tl_msg *m)
{
    struct tl_buf *b = &wr->path;
    tl_buf_reset(b);
    bool whole = !wr->tmpl ||
                 tl_template_render(wr->tmpl, m, tl_pipeline_input_name(wr->out->pl, m->input),
                                    tl_template_put_path_component, b);
    if (!whole || !tl_buf_putc(b, '\0')) {
        if (b->len == 0) {
            return "";
        }
        /* Longer than the buffer, and so than any path (PATH_MAX): end it here, so that its
         * open fails with ENAMETOOLONG instead of opening a path with pieces left out. */
        b->data[b->len - 1] = '\0';
    }
    return (const char *)b->data;
}

/* "output NAME: cannot ACTION PATH: REASON", rate-limited per output; for failures that
 * concern one message (its path), not the output as a whole. */
static void warn_rl(struct writer *wr, const char *action, const char *path, const char *reason)
{
    tl_log_rl(&wr->out->rl, 10, TL_LOG_ERROR, "output %s: cannot %s %s: %s", wr->conf->name,
              action, path, reason);
}

static size_t held_left(const struct writer *wr)
{
    return wr->n_held - wr->held_pos;
}

/* Messages taken but not written yet (in the buffers) and popped but not taken. */
static size_t buffered_messages(struct writer *wr);

/* The start of a failure episode: one line with the path, the reason and the remedy. The
 * output then holds everything and retries (retry_due). */
static void fail(struct writer *wr, const char *action, const char *path, int err)
{
    int64_t now = tl_now_ms();
    wr->failing = true;
    if (!wr->episode) {
        wr->episode = true;
        wr->fail_since_ms = now;
        wr->backoff_ms = FAIL_BACKOFF_MIN_MS;
        snprintf(wr->fail_path, sizeof(wr->fail_path), "%s", path);
        wr->fail_action = action;
        wr->fail_errno = err;
        tl_error("output %s: cannot %s %s: %s; %s. Nothing is dropped: %zu messages wait "
                 "here, and while the queue is full queue.full applies (%s); retrying",
                 wr->conf->name, action, path, strerror(err), tl_write_remedy(err),
                 buffered_messages(wr),
                 wr->conf->full == TL_QFULL_DROP ? "drop: new messages are dropped and "
                                                   "counted"
                                                 : "block: the inputs routed here pause");
    } else {
        wr->backoff_ms = wr->backoff_ms * 2 > FAIL_BACKOFF_MAX_MS ? FAIL_BACKOFF_MAX_MS
                                                                  : wr->backoff_ms * 2;
        if (err != wr->fail_errno || strcmp(path, wr->fail_path) != 0) {
            /* Another cause within the same episode: say so once. */
            snprintf(wr->fail_path, sizeof(wr->fail_path), "%s", path);
            wr->fail_action = action;
            wr->fail_errno = err;
            tl_error("output %s: still cannot write: cannot %s %s: %s; %s", wr->conf->name,
                     action, path, strerror(err), tl_write_remedy(err));
        }
    }
    wr->retry_at_ms = now + wr->backoff_ms;
    atomic_fetch_add_explicit(&wr->out->stats.write_errors, 1, memory_order_relaxed);
}

static void recovered(struct writer *wr)
{
    if (!wr->episode) {
        return;
    }
    wr->episode = false;
    tl_notice("output %s: writing again after %.1f s (cannot %s %s: %s); nothing was lost",
              wr->conf->name, (double)(tl_now_ms() - wr->fail_since_ms) / 1000.0,
              wr->fail_action, wr->fail_path, strerror(wr->fail_errno));
}

/* Counts the line ends in p[0..n): messages, since each line is one. */
static size_t count_lines(const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (const uint8_t *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) {
        k++;
    }
    return k;
}

/*
 * Writes f's buffer. On a failure, the bytes of whole lines that were written leave the
 * buffer and a torn last line is cut off the file again (ftruncate), so the file ends with
 * a whole line and the buffer starts with one; errno is kept for the caller. Returns true
 * when the buffer is empty.
 */
static bool write_out(struct writer *wr, struct ofile *f)
{
    size_t off = 0;
    int err = 0;
    while (off < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.data + off, f->buf.len - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno;
            break;
        }
        if (n == 0) {
            err = EIO;
            break;
        }
        off += (size_t)n;
    }
    size_t keep = off;
    if (err && off > 0) {
        const uint8_t *nl = memrchr(f->buf.data, '\n', off);
        keep = nl ? (size_t)(nl - f->buf.data) + 1 : 0;
        if (keep < off && !wr->is_stdout) {
            struct stat st;
            if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size >= off - keep &&
                ftruncate(f->fd, st.st_size - (off_t)(off - keep)) == 0) {
                /* the torn line is gone: it is written again with the rest */
            } else {
                tl_error("output %s: %s ends with a partial line of %zu bytes that cannot be "
                         "cut off (%s); the line is written again whole after it",
                         wr->conf->name, f->path, off - keep, strerror(errno));
            }
        }
    }
    if (keep) {
        /* Whole buffer: its messages, counted as they went in; part of it: its lines. */
        size_t lines = keep == f->buf.len ? f->n_buf : count_lines(f->buf.data, keep);
        f->n_buf -= lines < f->n_buf ? lines : f->n_buf;
        atomic_fetch_add_explicit(&wr->out->stats.written, lines, memory_order_relaxed);
        f->unsynced = true;
        tl_buf_consume(&f->buf, keep);
    }
    if (err) {
        errno = err;
        return false;
    }
    f->n_buf = 0;
    return true;
}

/* Writes f's buffer and, with sync, makes it durable. false (with errno) on a failure. */
static bool flush_file(struct writer *wr, struct ofile *f)
{
    if (f->buf.len && !write_out(wr, f)) {
        fail(wr, "write to", f->path, errno);
        return false;
    }
    if (wr->fsync && f->unsynced && !wr->is_stdout) {
        if (fdatasync(f->fd) < 0) {
            fail(wr, "fsync", f->path, errno);
            return false;
        }
    }
    f->unsynced = false;
    return true;
}

static void close_file(struct writer *wr, struct ofile *f)
{
    if (f->fd >= 0 && !wr->is_stdout) {
        close(f->fd);
    }
    tl_buf_fini(&f->buf);
    free(f->path);
    free(f);
}

/* Opens (creating directories and the file as needed); -1 with errno on a failure. */
static int open_path(const struct tl_conf_output *conf, const char *path)
{
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
    int fd = open(path, flags, conf->file_mode);
    if (fd < 0 && errno == ENOENT) {
        if (!tl_mkdir_p(path, conf->dir_mode, false)) {
            return -1;
        }
        fd = open(path, flags, conf->file_mode);
    }
    return fd;
}

static struct ofile *new_ofile(struct writer *wr, const char *path, int fd)
{
    struct ofile *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        return NULL;
    }
    f->path = p;
    f->fd = fd;
    /* The ceiling is far above buffer_size: one message may exceed it. */
    tl_buf_init(&f->buf, 0);
    tl_buf_reserve(&f->buf, wr->conf->buffer_size);
    return f;
}

/* Closes the least recently used file whose buffer is written out; false when none can
 * go (every candidate holds lines it cannot write now). */
static bool evict_lru(struct writer *wr)
{
    struct ofile **victim = NULL;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        for (struct ofile **pp = &wr->buckets[b]; *pp; pp = &(*pp)->hnext) {
            if (!victim || (*pp)->last_use < (*victim)->last_use) {
                victim = pp;
            }
        }
    }
    if (!victim || !flush_file(wr, *victim)) {
        return false;
    }
    struct ofile *f = *victim;
    *victim = f->hnext;
    close_file(wr, f);
    wr->n_open--;
    return true;
}

/* The file message m goes to, opened if need be. NULL with errno when it cannot be opened
 * now (errno 0: a failure already handled, e.g. a buffer that cannot be written). */
static struct ofile *get_file(struct writer *wr, const struct tl_msg *m, const char **path_out)
{
    if (wr->single) {
        return wr->single;
    }
    if (wr->is_stdout || wr->constant) {
        *path_out = wr->is_stdout ? "<stdout>" : wr->conf->path;
        int fd = wr->is_stdout ? STDOUT_FILENO : open_path(wr->conf, wr->conf->path);
        if (fd < 0) {
            return NULL;
        }
        wr->single = new_ofile(wr, *path_out, fd);
        if (!wr->single) {
            errno = ENOMEM;
        }
        return wr->single;
    }
    const char *path = render_path(wr, m);
    *path_out = path;
    uint64_t h = tl_out_hash_str(path);
    struct ofile **bucket = &wr->buckets[h % N_BUCKETS];
    for (struct ofile *f = *bucket; f; f = f->hnext) {
        if (f->hash == h && strcmp(f->path, path) == 0) {
            f->last_use = ++wr->use_clock;
            return f;
        }
    }
    if (wr->n_open >= wr->conf->max_open_files && !evict_lru(wr)) {
        errno = 0;
        return NULL;
    }
    int fd = open_path(wr->conf, path);
    if (fd < 0) {
        return NULL;
    }
    struct ofile *f = new_ofile(wr, path, fd);
    if (!f) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    f->hash = h;
    f->last_use = ++wr->use_clock;
    f->hnext = *bucket;
    *bucket = f;
    wr->n_open++;
    return f;
}

static void for_each_file(struct writer *wr, bool (*fn)(struct writer *, struct ofile *),
                          bool *all_ok)
{
    if (wr->single && !fn(wr, wr->single)) {
        *all_ok = false;
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        for (struct ofile *f = wr->buckets[b]; f; f = f->hnext) {
            if (!fn(wr, f)) {
                *all_ok = false;
            }
        }
    }
}

static size_t buffered_messages(struct writer *wr)
{
    size_t n = held_left(wr);
    if (wr->single) {
        n += wr->single->n_buf;
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        for (struct ofile *f = wr->buckets[b]; f; f = f->hnext) {
            n += f->n_buf;
        }
    }
    return n;
}

/*
 * Writes every buffer (and fsyncs, with sync). When all of it went through, everything
 * taken so far is settled. false on a failure (the episode is logged by fail()).
 */
static bool flush_all(struct writer *wr)
{
    bool ok = true;
    for_each_file(wr, flush_file, &ok);
    if (ok) {
        wr->dirty = false;
        tl_output_settle(wr->out, wr->taken);
    }
    return ok;
}

/* Closes every file (SIGHUP, shutdown); files whose buffer cannot be written stay open. */
static void close_all(struct writer *wr)
{
    if (wr->single && flush_file(wr, wr->single)) {
        close_file(wr, wr->single);
        wr->single = NULL;
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        for (struct ofile **pp = &wr->buckets[b]; *pp;) {
            struct ofile *f = *pp;
            if (!flush_file(wr, f)) {
                pp = &f->hnext;
                continue;
            }
            *pp = f->hnext;
            close_file(wr, f);
            wr->n_open--;
        }
    }
}

/* Frees every file whatever it holds (the last step of a stop that counted it as lost). */
static void discard_all(struct writer *wr)
{
    if (wr->single) {
        close_file(wr, wr->single);
        wr->single = NULL;
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        while (wr->buckets[b]) {
            struct ofile *f = wr->buckets[b];
            wr->buckets[b] = f->hnext;
            close_file(wr, f);
        }
    }
    wr->n_open = 0;
}

/*
 * Takes the held messages in order: each is formatted into the buffer of its file, which is
 * written out once it reaches buffer_size. Stops at the first failure (the message that
 * met it stays held, or, when only the write-out failed, is in the buffer). A message that
 * can never be written (a path the file system refuses by its form, say) is dropped and
 * counted; one that waits on the storage is not.
 */
static void take_held(struct writer *wr)
{
    while (!wr->failing && wr->held_pos < wr->n_held) {
        struct tl_msg *m = wr->held[wr->held_pos];
        const char *path = "";
        errno = 0;
        struct ofile *f = get_file(wr, m, &path);
        if (!f) {
            int err = errno;
            if (err == 0) {
                break; /* an eviction could not write its buffer: failing now */
            }
            if (tl_write_error_transient(err)) {
                fail(wr, "open", path, err);
                break;
            }
            warn_rl(wr, "open", path, strerror(err));
            atomic_fetch_add_explicit(&wr->out->stats.dropped, 1, memory_order_relaxed);
        } else {
            size_t before = f->buf.len;
            if (!tl_format(m, wr->conf->format, true, &f->buf) ||
                !tl_buf_putc(&f->buf, '\n')) {
                f->buf.len = before;
                atomic_fetch_add_explicit(&wr->out->stats.dropped, 1, memory_order_relaxed);
            } else {
                f->n_buf++;
                wr->dirty = true;
            }
        }
        tl_msg_unref(m);
        wr->held_pos++;
        wr->taken++;
        if (f && f->buf.len >= wr->conf->buffer_size) {
            flush_file(wr, f);
        }
    }
}

/* Shutdown with messages that cannot be written by the deadline: counted and said. */
static void give_up(struct writer *wr)
{
    size_t lost = buffered_messages(wr);
    struct tl_msg *batch[POP_MAX];
    size_t n;
    while ((n = tl_mq_pop(&wr->out->q, batch, POP_MAX, 0)) > 0) {
        for (size_t i = 0; i < n; i++) {
            tl_msg_unref(batch[i]);
        }
        lost += n;
    }
    for (size_t i = wr->held_pos; i < wr->n_held; i++) {
        tl_msg_unref(wr->held[i]);
    }
    wr->held_pos = wr->n_held = 0;
    if (lost) {
        atomic_fetch_add(&wr->out->stats.dropped, lost);
        tl_error("output %s: stopping: %zu messages could not be written by the end of "
                 "queue.drain_timeout (cannot %s %s: %s) and are lost",
                 wr->conf->name, lost, wr->fail_action ? wr->fail_action : "write",
                 wr->fail_path, strerror(wr->fail_errno));
    }
    discard_all(wr);
}

static void *file_run(void *arg)
{
    struct tl_output *out = arg;
    struct writer wr = {0};
    wr.out = out;
    wr.conf = out->conf;
    wr.is_stdout = out->conf->type == TL_OUT_STDOUT;
    wr.fsync = out->conf->sync == TL_QSYNC_ALWAYS;
    tl_buf_init(&wr.path, 8192);
    if (!wr.is_stdout) {
        struct tl_err err;
        if (tl_template_new(out->conf->path, &wr.tmpl, &err) != TL_OK) {
            tl_error("output %s: %s", out->conf->name, err.cause);
        }
        wr.constant = wr.tmpl && tl_template_is_constant(wr.tmpl);
    }
    uint64_t interval = out->conf->flush_interval_ms;
    int64_t next_flush = tl_now_ms() + (int64_t)interval;
    struct tl_pace pace = {.us = TL_PACE_US};
    size_t n = 0;
    for (;;) {
        if (atomic_exchange(&out->reopen, false) && !wr.is_stdout) {
            close_all(&wr);
            tl_info("output %s: files reopened", out->conf->name);
        }
        int64_t now = tl_now_ms();
        if (wr.failing) {
            if (now < wr.retry_at_ms) {
                int64_t stop_at = atomic_load(&out->stop_deadline_ms);
                if (stop_at && now >= stop_at && tl_mq_closed(&out->q)) {
                    give_up(&wr);
                    break;
                }
                int64_t nap = wr.retry_at_ms - now;
                struct timespec ts = {.tv_sec = 0,
                                      .tv_nsec = (nap > 50 ? 50 : nap) * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            /* Retry: the buffers first, then the held messages. */
            wr.failing = false;
            if (flush_all(&wr)) {
                take_held(&wr);
            }
            if (wr.failing) {
                continue;
            }
            recovered(&wr);
        }
        if (held_left(&wr) == 0) {
            int64_t timeout = -1;
            if (wr.dirty) {
                timeout = next_flush - now;
                if (timeout < 0) {
                    timeout = 0;
                }
            }
            if (n < POP_MAX && timeout != 0) {
                tl_pace_wait(&pace); /* under load, take what arrives in one batch */
            }
            n = tl_mq_pop(&out->q, wr.held, POP_MAX, timeout);
            tl_pace_mark(&pace, n > 0, tl_now_us());
            wr.n_held = n;
            wr.held_pos = 0;
            take_held(&wr);
        }
        if (wr.failing) {
            continue;
        }
        now = tl_now_ms();
        /* Write each batch now when a RELP input waits for it (a reload may route one here)
         * or it is to be fsynced. */
        if (n && (wr.fsync || atomic_load_explicit(&out->settle_waited, memory_order_relaxed))) {
            /* A RELP input acknowledges only what is settled (sync: and fsynced), so the
             * batch goes out now rather than at the next flush_interval. */
            flush_all(&wr);
            next_flush = now + (int64_t)interval;
        } else if (wr.dirty && (interval == 0 || now >= next_flush)) {
            flush_all(&wr);
            next_flush = now + (int64_t)interval;
        } else if (!wr.dirty) {
            tl_output_settle(out, wr.taken); /* dropped ones, if nothing else */
            next_flush = now + (int64_t)interval;
        }
        if (wr.failing) {
            continue;
        }
        if (n == 0 && held_left(&wr) == 0 && tl_mq_drained(&out->q)) {
            if (flush_all(&wr)) {
                break;
            }
        }
    }
    close_all(&wr);
    discard_all(&wr);
    tl_buf_fini(&wr.path);
    tl_template_free(wr.tmpl);
    return NULL;
}

/* The part of a path template before its first placeholder, up to the last '/'. */
static size_t static_dir_len(const char *t)
{
    const char *ph = strchr(t, '{');
    size_t n = ph ? (size_t)(ph - t) : strlen(t);
    while (n > 0 && t[n - 1] != '/') {
        n--;
    }
    return n;
}

/* At start: the part of the path before its first placeholder can be created and written (a
 * new constant file is not created yet: a start that fails later must leave nothing). */
static bool check_path(const struct tl_conf_output *conf, char *err, size_t errlen)
{
    if (conf->type != TL_OUT_FILE) {
        return true;
    }
    const char *t = conf->path;
    if (strchr(t, '{') == NULL) {
        /* An existing file must take appends; a new one is not created before the daemon
         * runs (a start that fails later must not leave it behind): its directory is tested
         * like a template's. */
        int fd = open(t, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        if (errno != ENOENT) {
            snprintf(err, errlen, "output %s: cannot open %s for writing: %s; %s",
                     conf->name, t, strerror(errno), tl_write_remedy(errno));
            return false;
        }
    }
    size_t dir = static_dir_len(t);
    char probe[4096];
    int n = snprintf(probe, sizeof(probe), "%.*s.tlslogd-write-test.%ld", (int)dir, t,
                     (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(probe)) {
        snprintf(err, errlen, "output %s: path %s is too long", conf->name, t);
        return false;
    }
    int fd = open_path(conf, probe);
    if (fd < 0) {
        snprintf(err, errlen, "output %s: cannot create files in %.*s (path %s): %s; %s",
                 conf->name, dir ? (int)dir : 1, dir ? t : ".", t, strerror(errno),
                 tl_write_remedy(errno));
        return false;
    }
    close(fd);
    unlink(probe);
    return true;
}

static bool file_init(struct tl_output *out)
{
    char err[1024];
    if (!check_path(out->conf, err, sizeof(err))) {
        tl_error("%s", err);
        return false;
    }
    return true;
}

static bool stdout_init(struct tl_output *out)
{
    (void)out;
    return true;
}

static void file_free(struct tl_output *out)
{
    (void)out;
}

const struct tl_output_ops tl_out_file_ops = {
    .name = "file", .init = file_init, .run = file_run, .free = file_free,
    .check_access = file_init};
const struct tl_output_ops tl_out_stdout_ops = {
    .name = "stdout", .init = stdout_init, .run = file_run, .free = file_free};
