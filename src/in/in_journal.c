/*
 * in_journal.c: `transport: journal`, the systemd journal through libsystemd's sd-journal:
 * the system journal, or the files of journal_dir (journald need not run). Each entry
 * becomes one message: SYSLOG_IDENTIFIER (else _COMM) is the program, SYSLOG_PID (else _PID)
 * the PROCID, PRIORITY and SYSLOG_FACILITY (else notice and user, as rsyslog's imjournal),
 * _HOSTNAME, MESSAGE, and the time the entry was logged (_SOURCE_REALTIME_TIMESTAMP, else the
 * journal's own).
 *
 * The cursor of the last entry every routed output settled (pipeline/settle.h) is kept in
 * STATE_DIR/journal-NAME.state (queue/statefile.h), so a restart continues after it; a
 * SIGKILL can repeat what was read since the last save, never lose it. Without a saved
 * cursor, start_at says where to begin.
 *
 * Runs on worker 0: sd_journal's inotify descriptor is watched by its loop; entries are read
 * in bounded turns and not while an output the input feeds is full (the journal is its own
 * buffer: nothing is dropped).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "ev/loop.h"
#include "in/host_msg.h"
#include "in/in.h"
#include "pipeline/settle.h"
#include "queue/statefile.h"

#define TURN_ENTRIES 512   /* entries read per loop turn before other work gets its turn */
#define SAVE_EVERY_MS 250  /* the cursor is written at most this often (and at the stop) */
#define CURSOR_KEY "cursor"

struct journal {
    struct tl_in_item item;
    struct tl_ev_io io;
    struct tl_ev_timer more;   /* read on at the next turn */
    struct tl_ev_timer save;   /* write a settled cursor whose save was put off */
    struct tl_input *in;
    struct tl_worker *w;
    sd_journal *j;
    struct tl_statefile *st;
    struct tl_settle settle;
    bool attached;
    bool paused;
    char *marked;              /* the cursor a settle round covers */
    char *settled;             /* the last cursor every output settled */
    bool unsaved;              /* settled is newer than what the state file holds */
    int64_t saved_ms;
};

static void save_now(struct journal *jn)
{
    struct tl_err e;
    char err[1024];

    if (!jn->unsaved || jn->settled == NULL) {
        return;
    }
    if (!tl_statefile_set(jn->st, CURSOR_KEY, jn->settled, strlen(jn->settled))) {
        tl_err_set(&e, TL_E_RESOURCE, 0, NULL, NULL, "out of memory");
    } else if (tl_statefile_save(jn->st, &e) == TL_OK) {
        jn->unsaved = false;
        jn->saved_ms = tl_now_ms();
        return;
    }
    tl_log_rl(&jn->in->rl, 20, TL_LOG_ERROR,
              "input %s: journal cursor not saved: %s; a restart would read again what was "
              "read since the last save", jn->in->conf->name, tl_err_text(&e, err, sizeof(err)));
}

static void save_cb(struct tl_ev_loop *loop, void *arg)
{
    (void)loop;
    save_now(arg);
}

/* settle: a round starts; everything read so far is in the outputs' queues. */
static void settle_mark(void *arg)
{
    struct journal *jn = arg;
    char *c = NULL;

    if (sd_journal_get_cursor(jn->j, &c) >= 0) {
        free(jn->marked);
        jn->marked = c;
    }
}

/* settle: every output settled the round: its cursor may be saved. */
static void settle_done(void *arg)
{
    struct journal *jn = arg;
    int64_t wait;

    if (jn->marked == NULL) {
        return;
    }
    free(jn->settled);
    jn->settled = jn->marked;
    jn->marked = NULL;
    jn->unsaved = true;
    wait = jn->saved_ms + SAVE_EVERY_MS - tl_now_ms();
    if (wait <= 0) {
        save_now(jn);
    } else if (!tl_ev_timer_armed(&jn->save)) {
        tl_ev_timer_start(tl_worker_loop(jn->w), &jn->save, wait);
    }
}

/* The value of field (without "FIELD="), or NULL. */
static const char *field(sd_journal *j, const char *name, size_t *len)
{
    const void *d;
    size_t n;
    size_t k = strlen(name);

    if (sd_journal_get_data(j, name, &d, &n) < 0 || n <= k || ((const char *)d)[k] != '=') {
        *len = 0;
        return NULL;
    }
    *len = n - k - 1;
    return (const char *)d + k + 1;
}

/* A small decimal field (PRIORITY, SYSLOG_FACILITY) within 0..max, else def. */
static unsigned number(sd_journal *j, const char *name, unsigned max, unsigned def)
{
    size_t n;
    const char *s = field(j, name, &n);
    unsigned v = 0;

    if (s == NULL || n == 0 || n > 3) {
        return def;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return def;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= max ? v : def;
}

/* _SOURCE_REALTIME_TIMESTAMP (when the program logged it), else the journal's time. */
static void entry_time(sd_journal *j, struct tl_host_msg *m)
{
    size_t n;
    const char *s = field(j, "_SOURCE_REALTIME_TIMESTAMP", &n);
    uint64_t us = 0;
    bool ok = s != NULL && n > 0 && n < 20;

    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        us = us * 10 + (uint64_t)(s[i] - '0');
    }
    if (!ok && sd_journal_get_realtime_usec(j, &us) < 0) {
        return;
    }
    m->sec = (int64_t)(us / 1000000);
    m->usec = (uint32_t)(us % 1000000);
    m->has_time = true;
}

static void deliver_entry(struct journal *jn)
{
    sd_journal *j = jn->j;
    struct tl_host_msg m;
    size_t n;

    memset(&m, 0, sizeof(m));
    m.text = (const uint8_t *)field(j, "MESSAGE", &m.text_len);
    if (m.text == NULL) {
        m.text = (const uint8_t *)"";
    }
    m.severity = number(j, "PRIORITY", 7, 5);
    m.facility = number(j, "SYSLOG_FACILITY", 23, 1);
    m.app = field(j, "SYSLOG_IDENTIFIER", &m.app_len);
    if (m.app == NULL) {
        m.app = field(j, "_COMM", &m.app_len);
    }
    m.pid = field(j, "SYSLOG_PID", &m.pid_len);
    if (m.pid == NULL) {
        m.pid = field(j, "_PID", &m.pid_len);
    }
    m.host = field(j, "_HOSTNAME", &n);
    m.host_len = n;
    entry_time(j, &m);
    tl_in_deliver_host(jn->w, jn->in, &m);
}

/* Reads up to TURN_ENTRIES entries; asks for another turn when there may be more. */
static void journal_read(struct journal *jn)
{
    struct tl_ev_loop *loop = tl_worker_loop(jn->w);
    size_t n = 0;

    if (jn->paused) {
        return;
    }
    while (n < TURN_ENTRIES) {
        if (tl_worker_input_blocked(jn->w, jn->in)) {
            return; /* the worker pauses us; resuming reads on */
        }
        int r = sd_journal_next(jn->j);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            tl_log_rl(&jn->in->rl, 20, TL_LOG_ERROR, "input %s: reading the journal failed: "
                      "%s; trying again when it changes", jn->in->conf->name, strerror(-r));
            break;
        }
        deliver_entry(jn);
        n++;
    }
    if (n > 0) {
        tl_settle_note(&jn->settle);
    }
    if (n == TURN_ENTRIES) {
        tl_ev_timer_start(loop, &jn->more, 0);
    }
}

static void more_cb(struct tl_ev_loop *loop, void *arg)
{
    (void)loop;
    journal_read(arg);
}

static void io_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct journal *jn = io->data;

    (void)loop;
    (void)events;
    /* Takes the inotify events (new files, appended entries) off the descriptor. */
    sd_journal_process(jn->j);
    journal_read(jn);
}

static void journal_pause(struct tl_in_item *it, bool paused)
{
    struct journal *jn = (struct journal *)it;

    if (jn->paused == paused) {
        return;
    }
    jn->paused = paused;
    if (!paused) {
        tl_ev_timer_start(tl_worker_loop(jn->w), &jn->more, 0);
    }
}

/* At the stop: what is not read stays in the journal, after the saved cursor. */
static void journal_drain(struct tl_in_item *it)
{
    (void)it;
}

static void journal_close(struct tl_in_item *it)
{
    struct journal *jn = (struct journal *)it;
    struct tl_ev_loop *loop = tl_worker_loop(jn->w);

    tl_settle_fini(&jn->settle);
    tl_ev_timer_stop(loop, &jn->more);
    tl_ev_timer_stop(loop, &jn->save);
    tl_ev_del(loop, &jn->io);
    tl_worker_remove_item(jn->w, &jn->item);
    save_now(jn);
    jn->attached = false;
}

/* STATE_DIR/journal-NAME.state, STATE_DIR created (0700) when missing. */
static bool open_state(struct journal *jn)
{
    const struct tl_conf *c = jn->in->pl->conf;
    const char *name = jn->in->conf->name;
    char path[PATH_MAX];
    char err[512];
    size_t len;
    const uint8_t *v;

    if (!tl_mkdir_p(c->state_dir, 0700, true) || access(c->state_dir, W_OK | X_OK) != 0) {
        tl_error("input %s: state_dir %s cannot be used: %s; create it writable for tlslogd or "
                 "set state_dir", name, c->state_dir, strerror(errno));
        return false;
    }
    if (snprintf(path, sizeof(path), "%s/journal-%s.state", c->state_dir, name) >=
        (int)sizeof(path)) {
        tl_error("input %s: state_dir %s is too long", name, c->state_dir);
        return false;
    }
    jn->st = tl_statefile_new(path);
    if (jn->st == NULL) {
        tl_error("input %s: out of memory", name);
        return false;
    }
    struct tl_err e;
    switch (tl_statefile_load(jn->st, &e)) {
    case TL_STATEFILE_OK:
        v = tl_statefile_get(jn->st, CURSOR_KEY, &len);
        if (v != NULL) {
            jn->settled = strndup((const char *)v, len);
        }
        break;
    case TL_STATEFILE_NONE:
        break;
    case TL_STATEFILE_DAMAGED:
    case TL_STATEFILE_ERROR:
        tl_warn("input %s: %s; starting as on a first start (start_at)", name,
                tl_err_text(&e, err, sizeof(err)));
        break;
    }
    return true;
}

/* Positions the journal after the saved cursor, or by start_at. */
static void seek_start(struct journal *jn)
{
    const char *name = jn->in->conf->name;
    sd_journal *j = jn->j;

    if (jn->settled != NULL && sd_journal_seek_cursor(j, jn->settled) >= 0) {
        /* seek_cursor goes to that entry or, when it is gone (vacuumed), the next one:
         * skip it only when it is the one already delivered. */
        if (sd_journal_next(j) > 0 && sd_journal_test_cursor(j, jn->settled) <= 0) {
            tl_warn("input %s: the saved journal position is no longer in the journal "
                    "(rotated away?); continuing with the oldest entry after it", name);
            sd_journal_previous(j);
        }
        tl_info("input %s: continuing the journal after the saved cursor", name);
        return;
    }
    if (jn->settled != NULL) {
        tl_warn("input %s: the saved journal cursor is not valid; starting at the %s", name,
                jn->in->conf->start_at == TL_START_END ? "end" : "beginning");
    }
    if (jn->in->conf->start_at == TL_START_END) {
        sd_journal_seek_tail(j);
        sd_journal_previous(j); /* on the last entry: reading starts after it */
    } else {
        sd_journal_seek_head(j);
    }
}

static bool journal_bind(struct tl_input *in, size_t n_workers)
{
    const char *dir = in->conf->journal_dir;
    struct journal *jn = calloc(1, sizeof(*jn));
    int r;

    (void)n_workers;
    if (jn == NULL) {
        tl_error("input %s: out of memory", in->conf->name);
        return false;
    }
    in->impl = jn;
    jn->in = in;
    if (!open_state(jn)) {
        return false;
    }
    r = dir != NULL ? sd_journal_open_directory(&jn->j, dir, 0)
                    : sd_journal_open(&jn->j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0) {
        tl_error("input %s: cannot open the journal%s%s: %s; %s", in->conf->name,
                 dir ? " in " : "", dir ? dir : "", strerror(-r),
                 dir ? "check journal_dir" : "run tlslogd as root or in group systemd-journal");
        return false;
    }
    /* MESSAGE longer than this is cut by the library already (we cut to max_message_size). */
    sd_journal_set_data_threshold(jn->j, in->conf->max_message_size + 64);
    seek_start(jn);
    return true;
}

static bool journal_attach(struct tl_input *in, struct tl_worker *w, size_t idx)
{
    struct journal *jn = in->impl;
    int fd;

    if (idx != 0) {
        return true; /* one reader: worker 0 */
    }
    jn->w = w;
    fd = sd_journal_get_fd(jn->j);
    if (fd < 0) {
        tl_error("input %s: cannot watch the journal: %s", in->conf->name, strerror(-fd));
        return false;
    }
    if (!tl_settle_init(&jn->settle, w, in, settle_mark, settle_done, jn)) {
        tl_error("input %s: out of memory", in->conf->name);
        return false;
    }
    tl_ev_timer_init(&jn->more, more_cb, jn);
    tl_ev_timer_init(&jn->save, save_cb, jn);
    tl_ev_io_init(&jn->io, fd, io_cb, jn);
    if (!tl_ev_set(tl_worker_loop(w), &jn->io, TL_EV_READ)) {
        tl_error("input %s: cannot watch the journal: %s", in->conf->name, strerror(errno));
        tl_settle_fini(&jn->settle);
        return false;
    }
    jn->item.drain = journal_drain;
    jn->item.close = journal_close;
    jn->item.pause = journal_pause;
    jn->item.in = in;
    tl_worker_add_item(w, &jn->item);
    jn->attached = true;
    jn->saved_ms = tl_now_ms();
    /* What is in the journal already: read at the first turn. */
    tl_ev_timer_start(tl_worker_loop(w), &jn->more, 0);
    return true;
}

static void journal_port_line(const struct tl_input *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s %s", in->conf->name,
             in->conf->journal_dir ? in->conf->journal_dir : "journal");
}

static void journal_unbind(struct tl_input *in)
{
    struct journal *jn = in->impl;

    if (jn == NULL) {
        return;
    }
    if (jn->j != NULL) {
        sd_journal_close(jn->j);
    }
    tl_statefile_free(jn->st);
    free(jn->marked);
    free(jn->settled);
    free(jn);
    in->impl = NULL;
}

const struct tl_input_ops tl_in_journal_ops = {
    .name = "journal", .init = tl_in_host_init, .bind = journal_bind, .attach = journal_attach,
    .port_line = journal_port_line, .unbind = journal_unbind, .fini = tl_in_host_fini};
