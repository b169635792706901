/*
 * in_file.c: the file input (transport: file): follows the files of a glob like `tail -F`,
 * one message per line (or per multiline message, file_lines.h), and remembers how far it
 * delivered each file in STATE_DIR/file-NAME.state (file_pos.h, queue/statefile.h).
 *
 * It runs on worker 0 only (one inotify descriptor, one list of files): inotify watches the
 * directory of the glob (new files, renames, deletions) and each followed file (writes), so
 * nothing polls. A file is read to its end (a bounded amount per loop turn, then the rest on
 * the next turn) and split into messages; bytes after the last complete message wait in the
 * file's buffer.
 *
 * Positions. done_off is the byte after the last message delivered (or skipped); what a
 * settle round (pipeline/settle.h) covers is marked from it, and once every routed output
 * has settled the round, that becomes saved_off, the only position the state file gets: it
 * is written at most once a second and at a clean stop, so a SIGKILL loses no line (it may
 * repeat those of the last second) and a clean stop, which waits for the last round, repeats
 * none.
 *
 * Rotation. By rename (or deletion): the name's file is read to its end and kept open while
 * the writer may still append to it; once it has been quiet for partial_timeout it is
 * finished and closed, and dropped from the state once settled. The file that takes the
 * name is a new file, read from its beginning. By copytruncate: a file shorter than what was
 * read, or whose first bytes changed, is read again from 0.
 *
 * Back-pressure: while an output the input feeds is full the files are not read (the file
 * is its own buffer); reading resumes where it stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "in/file_lines.h"
#include "in/file_pos.h"
#include "in/in.h"
#include "pipeline/settle.h"
#include "queue/statefile.h"

#define READ_CHUNK (64 * 1024)        /* one read(2) */
#define TURN_BUDGET (1024 * 1024)     /* bytes of one file per loop turn */
#define SAVE_EVERY_MS 1000
#define TAG_MAX 255
#define DIR_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | \
                  IN_MOVE_SELF | IN_ONLYDIR)

struct ffile {
    struct ffile *next;
    char *path;
    char tag[TAG_MAX + 1];
    size_t tag_len;
    int fd;
    int wd;
    struct tl_fpos pos;        /* dev, ino, head; pos.off unused (see the offsets below) */
    uint64_t read_off;         /* the file offset after buf */
    uint64_t done_off;         /* the file offset of buf[0] */
    uint64_t mark_off;         /* done_off when the current settle round was marked */
    uint64_t saved_off;        /* settled: what the state file says */
    unsigned epoch;            /* bumped when the file is read again from 0 */
    unsigned mark_epoch;
    uint8_t *buf;
    size_t len;
    size_t cap;
    struct tl_lines lines;
    int64_t grew_ms;           /* last time read(2) gave bytes */
    bool changed;              /* inotify said it was written */
    bool rotated;              /* its name is gone or another file's: finish it */
    bool finished;             /* rotated and closed: kept until its last round settles */
};

struct fin {
    struct tl_input *in;
    struct tl_worker *w;
    char dir[PATH_MAX];
    char pattern[NAME_MAX + 1];
    char state_path[PATH_MAX];
    struct tl_statefile *st;
    pcre2_code *re;
    pcre2_match_data *md;
    int ino_fd;
    int dir_wd;
    struct tl_ev_io io;
    struct tl_ev_timer tick;   /* partial timeout, rotated files, saving */
    struct tl_ev_timer more;   /* a file had more than one turn's worth */
    struct tl_settle settle;
    bool settle_ready;
    struct tl_in_item item;
    bool attached;
    bool scanned;              /* the files were looked for: the state file may be written */
    struct ffile *files;
    bool paused;
    bool emitted;              /* since the last tl_settle_note */
    bool dirty;                /* saved offsets changed since the state file was written */
    int64_t saved_ms;
};

static const char *iname(const struct fin *fi)
{
    return fi->in->conf->name;
}

/* ---- messages ----------------------------------------------------------------------------- */

static bool is_start(void *ctx, const uint8_t *line, size_t len)
{
    struct fin *fi = ctx;
    int rc = pcre2_match(fi->re, line, len, 0, 0, fi->md, NULL);

    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        tl_log_rl(&fi->in->rl, 20, TL_LOG_WARNING,
                  "input %s: multiline_start regex failed on a line (PCRE2 error %d); the line "
                  "is taken as a continuation",
                  iname(fi), rc);
    }
    return rc >= 0;
}

static void deliver(struct fin *fi, struct ffile *f, const uint8_t *p, size_t len,
                    bool truncated, const struct timespec *now)
{
    struct tl_input *in = fi->in;
    size_t hl;
    const char *host = tl_in_local_host(&hl);
    struct tl_msg *m = tl_msg_new_extra(p, len, hl + f->tag_len);

    if (m == NULL) {
        tl_log_rl(&in->rl, 20, TL_LOG_ERROR, "input %s: out of memory: a line of %s lost",
                  iname(fi), f->path);
        return;
    }
    m->recv_sec = now->tv_sec;
    m->recv_usec = (uint32_t)(now->tv_nsec / 1000);
    m->input = (uint16_t)in->index;
    m->facility = (uint8_t)in->conf->facility;
    m->severity = (uint8_t)in->conf->severity;
    m->flags = TL_MSG_HAS_PRI | (truncated ? TL_MSG_TRUNCATED : 0);
    m->msg = (struct tl_slice){0, (uint32_t)len};
    m->hostname = tl_msg_add(m, host, hl);
    m->app_name = tl_msg_add(m, f->tag, f->tag_len);
    atomic_fetch_add_explicit(&in->stats.received, 1, memory_order_relaxed);
    if (truncated) {
        atomic_fetch_add_explicit(&in->stats.truncated, 1, memory_order_relaxed);
        tl_log_rl(&in->rl, 20, TL_LOG_WARNING,
                  "input %s: %s: a message longer than max_message_size=%zu was cut near byte "
                  "%llu; raise max_message_size",
                  iname(fi), f->path, in->conf->max_message_size,
                  (unsigned long long)f->done_off);
    }
    tl_worker_emit(fi->w, in, m);
    fi->emitted = true;
}

/* Delivers the complete messages at the front of f's buffer (and, with flush, the rest). */
static void split(struct fin *fi, struct ffile *f, bool flush)
{
    struct tl_line_msg lm;
    struct timespec now;
    size_t at = 0;

    clock_gettime(CLOCK_REALTIME, &now);
    while (tl_lines_next(&f->lines, f->buf + at, f->len - at, flush, &lm) == TL_LINES_MSG) {
        if (lm.deliver) {
            deliver(fi, f, f->buf + at, lm.len, lm.truncated, &now);
        }
        at += lm.consumed;
    }
    if (at > 0) {
        memmove(f->buf, f->buf + at, f->len - at);
        f->len -= at;
        f->done_off += at;
    }
}

/* ---- files -------------------------------------------------------------------------------- */

static void free_file(struct fin *fi, struct ffile *f)
{
    if (f->wd >= 0 && fi->ino_fd >= 0) {
        inotify_rm_watch(fi->ino_fd, f->wd);
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->buf);
    free(f->path);
    free(f);
}

static struct ffile *find_inode(struct fin *fi, uint64_t dev, uint64_t ino)
{
    for (struct ffile *f = fi->files; f != NULL; f = f->next) {
        if (!f->finished && f->pos.dev == dev && f->pos.ino == ino) {
            return f;
        }
    }
    return NULL;
}

static struct ffile *find_path(struct fin *fi, const char *path)
{
    for (struct ffile *f = fi->files; f != NULL; f = f->next) {
        if (!f->finished && !f->rotated && strcmp(f->path, path) == 0) {
            return f;
        }
    }
    return NULL;
}

/* The first bytes of f (up to TL_FPOS_HEAD) into head; how many. */
static size_t read_head(int fd, uint8_t *head)
{
    ssize_t n = pread(fd, head, TL_FPOS_HEAD, 0);

    return n > 0 ? (size_t)n : 0;
}

static bool saved_pos(struct fin *fi, uint64_t dev, uint64_t ino, struct tl_fpos *p)
{
    char key[TL_FPOS_KEY_LEN];
    const uint8_t *v;
    size_t n;

    tl_fpos_key(dev, ino, key, sizeof(key));
    v = tl_statefile_get(fi->st, key, &n);
    return v != NULL && tl_fpos_decode(v, n, p);
}

enum open_how {
    OPEN_AT_START,   /* found at start: saved position, else start_at */
    OPEN_NEW,        /* appeared while running: from its beginning */
    OPEN_LEFTOVER,   /* at start, under a name the glob does not match, with a saved position:
                      * a file rotated while we were down; finished if it has more */
};

/* Follows the file at path (a regular file not followed yet). */
static void open_file(struct fin *fi, const char *path, enum open_how how)
{
    const struct tl_conf_input *c = fi->in->conf;
    uint8_t head[TL_FPOS_HEAD];
    struct tl_fpos saved;
    struct stat st;
    uint64_t off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        if (errno != ENOENT) {
            tl_log_rl(&fi->in->rl, 20, TL_LOG_ERROR, "input %s: cannot open %s: %s; check its "
                      "permissions", iname(fi), path, strerror(errno));
        }
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        find_inode(fi, (uint64_t)st.st_dev, (uint64_t)st.st_ino) != NULL) {
        close(fd);
        return;
    }
    size_t hn = read_head(fd, head);
    bool have = saved_pos(fi, (uint64_t)st.st_dev, (uint64_t)st.st_ino, &saved);
    enum tl_fpos_start how_pos = tl_fpos_start(have ? &saved : NULL, head, hn,
                                               (uint64_t)st.st_size, &off);
    const char *why = "from its beginning";

    switch (how_pos) {
    case TL_FPOS_NEW:
        if (how == OPEN_LEFTOVER) {
            close(fd);
            return;
        }
        off = how == OPEN_AT_START && c->start_at == TL_START_END ? (uint64_t)st.st_size : 0;
        why = off > 0 ? "start_at: end" : "from its beginning";
        break;
    case TL_FPOS_RESUME:
        if (how == OPEN_LEFTOVER && off >= (uint64_t)st.st_size) {
            close(fd);
            return;
        }
        why = how == OPEN_LEFTOVER ? "rotated while tlslogd was stopped: finishing it"
                                   : "saved position";
        break;
    case TL_FPOS_REUSED:
        if (how == OPEN_LEFTOVER) {
            close(fd);
            return;
        }
        tl_warn("input %s: %s has the device and inode of a file read before but other first "
                "bytes (the inode was reused): reading it from its beginning", iname(fi), path);
        break;
    case TL_FPOS_SHRUNK:
    default:
        if (how == OPEN_LEFTOVER) {
            close(fd);
            return;
        }
        tl_warn("input %s: %s is shorter than its saved position (truncated while tlslogd was "
                "stopped): reading it from its beginning", iname(fi), path);
        break;
    }
    struct ffile *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (f == NULL || p == NULL || lseek(fd, (off_t)off, SEEK_SET) < 0) {
        tl_error("input %s: cannot follow %s: %s", iname(fi), path,
                 f == NULL || p == NULL ? "out of memory" : strerror(errno));
        free(f);
        free(p);
        close(fd);
        return;
    }
    f->path = p;
    f->fd = fd;
    f->pos.dev = (uint64_t)st.st_dev;
    f->pos.ino = (uint64_t)st.st_ino;
    f->pos.head_len = (uint32_t)hn;
    f->pos.head_hash = tl_fpos_hash(head, hn);
    f->read_off = f->done_off = f->mark_off = f->saved_off = off;
    f->lines = (struct tl_lines){.max = c->max_message_size, .is_start = fi->re ? is_start : NULL,
                                 .ctx = fi};
    f->grew_ms = tl_now_ms();
    f->rotated = how == OPEN_LEFTOVER;
    f->changed = true;
    const char *tag = c->tag;
    if (tag == NULL) {
        const char *slash = strrchr(path, '/');
        tag = slash != NULL ? slash + 1 : path;
    }
    f->tag_len = strlen(tag) < TAG_MAX ? strlen(tag) : TAG_MAX;
    memcpy(f->tag, tag, f->tag_len);
    /* Watch the inode we opened, not whatever the name points to by now. */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    f->wd = inotify_add_watch(fi->ino_fd, proc, IN_MODIFY);
    if (f->wd < 0) {
        tl_error("input %s: cannot watch %s: %s; raise fs.inotify.max_user_watches if it is "
                 "reached", iname(fi), path, strerror(errno));
    }
    fi->dirty |= how_pos != TL_FPOS_RESUME;
    tl_info("input %s: following %s from byte %llu (%s)", iname(fi), path,
            (unsigned long long)off, why);
    if (how == OPEN_LEFTOVER) {
        f->next = fi->files; /* older lines than the others': read first */
        fi->files = f;
        return;
    }
    struct ffile **tail = &fi->files;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = f;
}

/* Reads f up to its end or budget bytes; true when it stopped at the budget. */
static bool read_file(struct fin *fi, struct ffile *f, size_t budget)
{
    size_t got = 0;

    if (f->buf == NULL) {
        f->cap = 2 * fi->in->conf->max_message_size + READ_CHUNK; /* file_lines.h */
        f->buf = malloc(f->cap);
        if (f->buf == NULL) {
            tl_log_rl(&fi->in->rl, 20, TL_LOG_ERROR, "input %s: out of memory reading %s",
                      iname(fi), f->path);
            return false;
        }
    }
    while (!fi->paused && !tl_worker_stopping(fi->w)) {
        size_t room = f->cap - f->len;
        ssize_t n = read(f->fd, f->buf + f->len, room < READ_CHUNK ? room : READ_CHUNK);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            tl_log_rl(&fi->in->rl, 20, TL_LOG_ERROR, "input %s: cannot read %s: %s",
                      iname(fi), f->path, strerror(errno));
            return false;
        }
        if (n == 0) {
            return false;
        }
        f->len += (size_t)n;
        f->read_off += (uint64_t)n;
        f->grew_ms = tl_now_ms();
        split(fi, f, false);
        got += (size_t)n;
        if (got >= budget) {
            return true;
        }
    }
    return false;
}

/* Copytruncate: the file is shorter than what was read, or begins with other bytes. */
static void check_truncated(struct fin *fi, struct ffile *f)
{
    uint8_t head[TL_FPOS_HEAD];
    struct stat st;

    if (f->fd < 0 || fstat(f->fd, &st) != 0) {
        return;
    }
    size_t hn = read_head(f->fd, head);
    if (!tl_fpos_truncated(f->read_off, f->pos.head_len, f->pos.head_hash, (uint64_t)st.st_size,
                           head, hn)) {
        if (hn > f->pos.head_len) {
            f->pos.head_len = (uint32_t)hn;
            f->pos.head_hash = tl_fpos_hash(head, hn);
        }
        return;
    }
    tl_info("input %s: %s was truncated or rewritten (copytruncate) after byte %llu: reading "
            "it again from its beginning", iname(fi), f->path, (unsigned long long)f->read_off);
    split(fi, f, true); /* a last line without newline read before */
    f->len = 0;
    f->lines.skip = TL_LINES_SKIP_NONE;
    lseek(f->fd, 0, SEEK_SET);
    f->read_off = f->done_off = f->mark_off = f->saved_off = 0;
    f->epoch++;
    f->pos.head_len = (uint32_t)hn;
    f->pos.head_hash = tl_fpos_hash(head, hn);
    fi->dirty = true;
}

static void set_rotated(struct fin *fi, struct ffile *f)
{
    if (f->rotated) {
        return;
    }
    f->rotated = true;
    tl_info("input %s: %s was renamed or deleted (rotation): reading it to its end",
            iname(fi), f->path);
    f->changed = true;
}

/* Closes a rotated file that stayed quiet: what it had is delivered. */
static void finish(struct fin *fi, struct ffile *f)
{
    split(fi, f, true);
    tl_info("input %s: finished %s (rotated) at byte %llu", iname(fi), f->path,
            (unsigned long long)f->read_off);
    if (f->wd >= 0) {
        inotify_rm_watch(fi->ino_fd, f->wd);
        f->wd = -1;
    }
    close(f->fd);
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
    f->len = 0;
    f->finished = true;
}

/* Reads every file that may have more; the next turn goes on where a budget ran out. A
 * rotated file that is not finished yet holds back the files after it: its lines are older. */
static void read_pass(struct fin *fi)
{
    bool again = false;

    if (tl_worker_stopping(fi->w)) {
        return; /* the last settle round covers what was delivered; the rest waits */
    }
    for (struct ffile *f = fi->files; f != NULL && !fi->paused; f = f->next) {
        if (f->finished || !f->changed) {
            continue;
        }
        check_truncated(fi, f);
        bool more = read_file(fi, f, TURN_BUDGET);
        f->changed = more || fi->paused;
        if (more) {
            again = true;
            if (f->rotated) {
                break;
            }
        }
    }
    if (fi->emitted && fi->settle_ready) {
        fi->emitted = false;
        tl_settle_note(&fi->settle);
    }
    if (again && !fi->paused && !tl_ev_timer_armed(&fi->more)) {
        tl_ev_timer_start(tl_worker_loop(fi->w), &fi->more, 0);
    }
}

static void more_cb(struct tl_ev_loop *loop, void *arg)
{
    (void)loop;
    read_pass(arg);
}

/* A name in the watched directory appeared (created, or renamed to it). */
static void consider(struct fin *fi, const char *name, enum open_how how)
{
    char path[PATH_MAX];
    struct stat st;

    if (fnmatch(fi->pattern, name, 0) != 0 ||
        snprintf(path, sizeof(path), "%s/%s", fi->dir, name) >= (int)sizeof(path) ||
        stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    struct ffile *same = find_inode(fi, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    if (same != NULL) {
        /* Our file, renamed to another name the glob matches: still followed as before. */
        char *p = strdup(path);
        if (p != NULL) {
            free(same->path);
            same->path = p;
            same->rotated = false;
        }
        return;
    }
    struct ffile *old = find_path(fi, path);
    if (old != NULL) {
        set_rotated(fi, old); /* renamed over: the old file is gone from this name */
    }
    open_file(fi, path, how);
}

static void gone(struct fin *fi, const char *name)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", fi->dir, name) >= (int)sizeof(path)) {
        return;
    }
    struct ffile *f = find_path(fi, path);
    if (f != NULL) {
        set_rotated(fi, f);
    }
}

/* Every matching file of the directory (at start; after an inotify queue overflow). At
 * start, also the files the state knows under names the glob does not match. */
static void scan(struct fin *fi, bool at_start)
{
    DIR *d = opendir(fi->dir);
    struct dirent *e;

    if (d == NULL) {
        tl_error("input %s: cannot list %s: %s", iname(fi), fi->dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
                                    (e->d_name[1] == '.' && e->d_name[2] == '\0'))) {
            continue;
        }
        if (fnmatch(fi->pattern, e->d_name, 0) == 0) {
            consider(fi, e->d_name, at_start ? OPEN_AT_START : OPEN_NEW);
        } else if (at_start && tl_statefile_count(fi->st) > 0) {
            /* Only a file the state knows (by device and inode) is opened. */
            char path[PATH_MAX];
            struct stat st;
            struct tl_fpos saved;
            if (snprintf(path, sizeof(path), "%s/%s", fi->dir, e->d_name) < (int)sizeof(path) &&
                stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
                saved_pos(fi, (uint64_t)st.st_dev, (uint64_t)st.st_ino, &saved)) {
                open_file(fi, path, OPEN_LEFTOVER);
            }
        }
    }
    closedir(d);
}

/* ---- inotify ------------------------------------------------------------------------------ */

static void on_event(struct fin *fi, const struct inotify_event *ev, bool *rescan)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        tl_warn("input %s: the inotify queue overflowed: looking at every file of %s again",
                iname(fi), fi->dir);
        *rescan = true;
        for (struct ffile *f = fi->files; f != NULL; f = f->next) {
            f->changed = true;
        }
        return;
    }
    if (ev->wd == fi->dir_wd) {
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
            tl_warn("input %s: the directory %s was removed or renamed: new files in it are "
                    "not seen until tlslogd restarts", iname(fi), fi->dir);
        } else if (ev->len > 0 && (ev->mask & (IN_MOVED_FROM | IN_DELETE))) {
            gone(fi, ev->name);
        } else if (ev->len > 0 && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
            consider(fi, ev->name, OPEN_NEW);
        }
        return;
    }
    for (struct ffile *f = fi->files; f != NULL; f = f->next) {
        if (f->wd == ev->wd) {
            f->changed = true;
        }
    }
}

static void ino_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct fin *fi = io->data;
    _Alignas(struct inotify_event) char buf[16384];
    bool rescan = false;

    (void)loop;
    (void)events;
    for (;;) {
        ssize_t n = read(fi->ino_fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(fi, ev, &rescan);
            p += sizeof(*ev) + ev->len;
        }
    }
    if (rescan) {
        scan(fi, false);
    }
    read_pass(fi);
}

/* ---- positions ---------------------------------------------------------------------------- */

static void mark(void *arg)
{
    struct fin *fi = arg;

    for (struct ffile *f = fi->files; f != NULL; f = f->next) {
        f->mark_off = f->done_off;
        f->mark_epoch = f->epoch;
    }
}

/* Finished files whose lines all settled are forgotten (and dropped from the state). */
static void prune(struct fin *fi)
{
    for (struct ffile **pf = &fi->files; *pf != NULL;) {
        struct ffile *f = *pf;
        if (f->finished && f->saved_off == f->done_off) {
            *pf = f->next;
            free_file(fi, f);
            fi->dirty = true;
            continue;
        }
        pf = &f->next;
    }
}

/* A round settled: the positions it covers may be saved. */
static void settled(void *arg)
{
    struct fin *fi = arg;

    for (struct ffile *f = fi->files; f != NULL; f = f->next) {
        if (f->mark_epoch == f->epoch && f->saved_off != f->mark_off) {
            f->saved_off = f->mark_off;
            fi->dirty = true;
        }
    }
    prune(fi);
}

static void save(struct fin *fi)
{
    char key[TL_FPOS_KEY_LEN];
    char val[PATH_MAX + 96];
    char err[1024];
    struct tl_err e;

    while (tl_statefile_count(fi->st) > 0) {
        const uint8_t *v;
        size_t n;
        snprintf(key, sizeof(key), "%s", tl_statefile_entry(fi->st, 0, &v, &n));
        tl_statefile_del(fi->st, key);
    }
    for (struct ffile *f = fi->files; f != NULL; f = f->next) {
        struct tl_fpos p = f->pos;
        p.off = f->saved_off;
        tl_fpos_key(p.dev, p.ino, key, sizeof(key));
        if (tl_fpos_encode(&p, f->path, val, sizeof(val))) {
            tl_statefile_set(fi->st, key, val, strlen(val));
        }
    }
    fi->saved_ms = tl_now_ms();
    if (tl_statefile_save(fi->st, &e) != TL_OK) {
        tl_log_rl(&fi->in->rl, 20, TL_LOG_ERROR, "input %s: %s", iname(fi),
                  tl_err_text(&e, err, sizeof(err)));
        return;
    }
    fi->dirty = false;
}

static int64_t tick_ms(const struct fin *fi)
{
    uint64_t t = fi->in->conf->partial_timeout_ms / 2;

    return t < 10 ? 10 : t > SAVE_EVERY_MS ? SAVE_EVERY_MS : (int64_t)t;
}

static void tick_cb(struct tl_ev_loop *loop, void *arg)
{
    struct fin *fi = arg;
    int64_t now = tl_now_ms();
    int64_t quiet = (int64_t)fi->in->conf->partial_timeout_ms;
    /* Once stopping, nothing more is delivered: the last settle round covers what was. */
    bool stopping = tl_worker_stopping(fi->w);

    for (struct ffile *f = fi->files; f != NULL && !fi->paused && !stopping; f = f->next) {
        if (f->finished || f->changed || now - f->grew_ms < quiet) {
            continue;
        }
        if (f->rotated) {
            finish(fi, f);
        } else if (f->len > 0) {
            split(fi, f, true); /* a last line that waited long enough for its newline */
        }
    }
    if (fi->emitted && fi->settle_ready) {
        fi->emitted = false;
        tl_settle_note(&fi->settle);
    }
    prune(fi);
    if (fi->dirty && now - fi->saved_ms >= SAVE_EVERY_MS) {
        save(fi);
    }
    tl_ev_timer_start(loop, &fi->tick, tick_ms(fi));
}

/* ---- the item ----------------------------------------------------------------------------- */

static void item_drain(struct tl_in_item *it)
{
    (void)it; /* the file keeps what is not read yet: the next start reads it */
}

static void item_pause(struct tl_in_item *it, bool paused)
{
    struct fin *fi = (struct fin *)((char *)it - offsetof(struct fin, item));

    if (fi->paused == paused) {
        return;
    }
    fi->paused = paused;
    if (!paused && !tl_ev_timer_armed(&fi->more)) {
        tl_ev_timer_start(tl_worker_loop(fi->w), &fi->more, 0);
    }
}

/* At stop, after the worker's last settle wait: the positions that settled are saved. */
static void item_close(struct tl_in_item *it)
{
    struct fin *fi = (struct fin *)((char *)it - offsetof(struct fin, item));
    struct tl_ev_loop *loop = tl_worker_loop(fi->w);

    if (fi->settle_ready) {
        tl_settle_fini(&fi->settle);
        fi->settle_ready = false;
    }
    if (fi->scanned) {
        save(fi);
    }
    tl_ev_timer_stop(loop, &fi->tick);
    tl_ev_timer_stop(loop, &fi->more);
    tl_ev_del(loop, &fi->io);
    tl_worker_remove_item(fi->w, &fi->item);
    while (fi->files != NULL) {
        struct ffile *f = fi->files;
        fi->files = f->next;
        free_file(fi, f);
    }
    close(fi->ino_fd);
    fi->ino_fd = -1;
    fi->attached = false;
}

/* ---- the kind ----------------------------------------------------------------------------- */

static bool file_init(struct tl_input *in)
{
    (void)in;
    return true;
}

static bool compile_multiline(struct fin *fi)
{
    const char *re = fi->in->conf->multiline_start;
    int code;
    PCRE2_SIZE at;

    if (re == NULL) {
        return true;
    }
    fi->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &at, NULL);
    if (fi->re == NULL) {
        PCRE2_UCHAR why[256];
        pcre2_get_error_message(code, why, sizeof(why));
        tl_error("input %s: multiline_start '%s' is not a valid regex: %s at offset %zu; fix "
                 "the pattern (PCRE2 syntax)", iname(fi), re, (const char *)why, (size_t)at);
        return false;
    }
    pcre2_jit_compile(fi->re, PCRE2_JIT_COMPLETE); /* without JIT it is interpreted */
    fi->md = pcre2_match_data_create_from_pattern(fi->re, NULL);
    return fi->md != NULL;
}

/* state_dir: created (0700) when missing, and writable, or the start fails. */
static bool open_state(struct fin *fi)
{
    const char *dir = fi->in->pl->conf->state_dir;
    char err[1024];
    struct tl_err e;

    if (!tl_mkdir_p(dir, 0700, true) || access(dir, W_OK | X_OK) != 0) {
        tl_error("input %s: state_dir %s cannot be created or written: %s; create it writable "
                 "for the user tlslogd runs as, or set state_dir to such a directory",
                 iname(fi), dir, strerror(errno));
        return false;
    }
    if (snprintf(fi->state_path, sizeof(fi->state_path), "%s/file-%s.state", dir, iname(fi)) >=
        (int)sizeof(fi->state_path)) {
        tl_error("input %s: state_dir %s is too long", iname(fi), dir);
        return false;
    }
    fi->st = tl_statefile_new(fi->state_path);
    if (fi->st == NULL) {
        tl_error("input %s: out of memory", iname(fi));
        return false;
    }
    switch (tl_statefile_load(fi->st, &e)) {
    case TL_STATEFILE_DAMAGED:
    case TL_STATEFILE_ERROR:
        tl_warn("input %s: %s; the input starts as configured (start_at: %s)", iname(fi),
                tl_err_text(&e, err, sizeof(err)),
                fi->in->conf->start_at == TL_START_END ? "end" : "beginning");
        break;
    default:
        break;
    }
    return true;
}

static bool file_bind(struct tl_input *in, size_t n_workers)
{
    struct fin *fi = calloc(1, sizeof(*fi));
    struct stat st;

    (void)n_workers;
    if (fi == NULL) {
        tl_error("input %s: out of memory", in->conf->name);
        return false;
    }
    in->impl = fi;
    fi->in = in;
    fi->ino_fd = -1;
    if (!tl_fpos_split(in->conf->path, fi->dir, sizeof(fi->dir), fi->pattern,
                       sizeof(fi->pattern))) {
        tl_error("input %s: path %s does not name files", in->conf->name, in->conf->path);
        return false;
    }
    int rc = stat(fi->dir, &st);
    if (rc != 0 || !S_ISDIR(st.st_mode)) {
        const char *why = rc != 0 ? strerror(errno) : "not a directory";
        tl_error("input %s: the directory %s of path %s: %s; create it (files in it are then "
                 "followed as they appear)", in->conf->name, fi->dir, in->conf->path, why);
        return false;
    }
    return compile_multiline(fi) && open_state(fi);
}

static bool file_attach(struct tl_input *in, struct tl_worker *w, size_t idx)
{
    struct fin *fi = in->impl;

    if (idx != 0) {
        return true; /* one worker follows all the files of an input */
    }
    fi->w = w;
    fi->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fi->ino_fd < 0) {
        tl_error("input %s: cannot start inotify: %s; raise fs.inotify.max_user_instances",
                 in->conf->name, strerror(errno));
        return false;
    }
    fi->dir_wd = inotify_add_watch(fi->ino_fd, fi->dir, DIR_MASK);
    if (fi->dir_wd < 0) {
        tl_error("input %s: cannot watch the directory %s: %s", in->conf->name, fi->dir,
                 strerror(errno));
        close(fi->ino_fd);
        fi->ino_fd = -1;
        return false;
    }
    if (!tl_settle_init(&fi->settle, w, in, mark, settled, fi)) {
        tl_error("input %s: out of memory", in->conf->name);
        tl_settle_fini(&fi->settle);
        close(fi->ino_fd);
        fi->ino_fd = -1;
        return false;
    }
    fi->settle_ready = true;
    fi->item = (struct tl_in_item){.drain = item_drain, .close = item_close, .pause = item_pause,
                                   .in = in};
    fi->attached = true;
    tl_worker_add_item(w, &fi->item);
    struct tl_ev_loop *loop = tl_worker_loop(w);
    tl_ev_timer_init(&fi->tick, tick_cb, fi);
    tl_ev_timer_init(&fi->more, more_cb, fi);
    tl_ev_io_init(&fi->io, fi->ino_fd, ino_cb, fi);
    if (!tl_ev_set(loop, &fi->io, TL_EV_READ)) {
        tl_error("input %s: cannot watch inotify: %s", in->conf->name, strerror(errno));
        return false; /* the item closes it */
    }
    scan(fi, true);
    fi->scanned = true;
    fi->saved_ms = tl_now_ms();
    tl_ev_timer_start(loop, &fi->tick, tick_ms(fi));
    tl_ev_timer_start(loop, &fi->more, 0);
    return true;
}

static void file_port_line(const struct tl_input *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s %s", in->conf->name, in->conf->path);
}

static void file_unbind(struct tl_input *in)
{
    struct fin *fi = in->impl;

    if (fi == NULL) {
        return;
    }
    /* The item was closed by its worker (tl_worker_free runs before unbind). */
    tl_statefile_free(fi->st);
    pcre2_match_data_free(fi->md);
    pcre2_code_free(fi->re);
    free(fi);
    in->impl = NULL;
}

static void file_fini(struct tl_input *in)
{
    (void)in;
}

const struct tl_input_ops tl_in_file_ops = {
    .name = "file", .caps = 0, .init = file_init, .bind = file_bind, .attach = file_attach,
    .port_line = file_port_line, .unbind = file_unbind, .fini = file_fini,
};
