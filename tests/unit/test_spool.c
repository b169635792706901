/*
 * test_spool.c: an output's disk spill (queue/spool.h) on its own, with a real event loop and
 * a real disk queue: write-through and the unflushed watermark, the recovery report at open,
 * an episode of write failures (one line at its start, one at its end, the backoff between
 * retries, the counters), the stop (what cannot be written is discarded, counted and said),
 * queue.max_bytes, a record that can never fit, the interval sync's settled callback, and a
 * directory that cannot be used.
 *
 * Write failures come from RLIMIT_FSIZE with SIGXFSZ ignored (scratch.h: file_limit): a
 * write past the limit fails with EFBIG, for root too. The log lines are read from stderr, which a
 * test redirects to a file around the calls it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "queue/spool.h"
#include "scratch.h"

#define REC 100
#define R100 (TL_DQ_RECORD_HEADER + REC)   /* a record on disk */

struct env {
    char base[64];
    char dir[96];
    struct tl_ev_loop *loop;
    atomic_uint_fast64_t write_errors;
    atomic_uint_fast64_t records;
    struct tl_spool *sp;
    /* What the callbacks saw. */
    int retries;
    int64_t retry_ms[8];
    int settled;
    bool flush_in_retry;   /* the retry callback flushes, as an output's fill does */
    /* stderr, while captured */
    int saved_stderr;
    char log_path[128];
};

/* ---- helpers ---- */

static void rec_make(uint64_t i, uint8_t *buf)
{
    for (size_t k = 0; k < REC; k++) {
        buf[k] = (uint8_t)(i * 31 + k);
    }
}

static void on_retry(void *arg)
{
    struct env *e = arg;
    if (e->retries < 8) {
        e->retry_ms[e->retries] = tl_now_ms();
    }
    e->retries++;
    if (e->flush_in_retry) {
        tl_spool_flush(e->sp);
    }
}

static void on_settled(void *arg)
{
    struct env *e = arg;
    e->settled++;
}

static struct tl_spool *open_sp(struct env *e, uint64_t max_bytes, bool full_drops,
                                uint64_t interval_ms)
{
    struct tl_spool_opts o = {0};
    o.dq.dir = e->dir;
    o.dq.max_bytes = max_bytes;
    o.dq.sync = interval_ms ? TL_DQ_SYNC_INTERVAL : TL_DQ_SYNC_NONE;
    o.dq.sync_interval_ms = interval_ms;
    o.owner = "output test";
    o.full_drops = full_drops;
    o.loop = e->loop;
    o.retry = on_retry;
    o.settled = on_settled;
    o.arg = e;
    o.write_errors = &e->write_errors;
    o.records = &e->records;
    struct tl_err err;
    e->sp = tl_spool_open(&o, &err);
    assert_non_null(e->sp);
    return e->sp;
}

static void append_range(struct env *e, uint64_t from, uint64_t to)
{
    uint8_t buf[REC];
    for (uint64_t i = from; i < to; i++) {
        rec_make(i, buf);
        assert_int_equal(tl_spool_append(e->sp, buf, REC, 1000 + i, NULL), TL_OK);
    }
}

/* Reads records from..to after the read cursor and checks each. */
static void expect_range(struct env *e, uint64_t from, uint64_t to)
{
    uint8_t want[REC];
    for (uint64_t i = from; i < to; i++) {
        const uint8_t *p;
        size_t n;
        assert_true(tl_spool_peek(e->sp, &p, &n));
        assert_int_equal(n, REC);
        rec_make(i, want);
        assert_memory_equal(p, want, REC);
        tl_spool_advance(e->sp);
    }
}

/* Runs the loop until *count reaches at least want; bounded. */
static void run_until(struct env *e, const int *count, int want)
{
    int64_t deadline = tl_now_ms() + 20000;
    while (*count < want && tl_now_ms() < deadline) {
        tl_ev_run_once(e->loop, 50);
    }
    assert_true(*count >= want);
}

/* stderr goes to a fresh file until capture_end, which returns what was logged. */
static void capture_start(struct env *e)
{
    int fd = open(e->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    e->saved_stderr = dup(STDERR_FILENO);
    assert_true(e->saved_stderr >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

static void capture_restore(struct env *e)
{
    if (e->saved_stderr >= 0) {
        dup2(e->saved_stderr, STDERR_FILENO);
        close(e->saved_stderr);
        e->saved_stderr = -1;
    }
}

static char *capture_end(struct env *e)
{
    static char text[16384];
    capture_restore(e);
    FILE *fp = fopen(e->log_path, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    return text;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->base, sizeof(e->base), "/tmp/test_spool.XXXXXX");
    if (mkdtemp(e->base) == NULL) {
        free(e);
        return -1;
    }
    snprintf(e->dir, sizeof(e->dir), "%s/q", e->base);
    snprintf(e->log_path, sizeof(e->log_path), "%s/stderr.log", e->base);
    e->saved_stderr = -1;
    e->loop = tl_ev_loop_new();
    *state = e;
    return e->loop ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    capture_restore(e);
    file_limit(0);
    tl_spool_close(e->sp);
    tl_ev_loop_free(e->loop);
    rm_rf(e->base);
    free(e);
    return 0;
}

/* ---- tests ---- */

/* Every record appended is read back in order; the watermark says which are not flushed. */
static void test_write_through(void **state)
{
    struct env *e = *state;
    open_sp(e, 0, false, 0);

    assert_int_equal(tl_spool_unflushed(e->sp), TL_SPOOL_NONE);
    assert_true(tl_spool_flush(e->sp));   /* nothing to do */
    append_range(e, 0, 20);
    /* Settled before the first message appended since the last flush. */
    assert_int_equal(tl_spool_unflushed(e->sp), 1000);
    assert_int_equal(e->records, 0);
    assert_true(tl_spool_flush(e->sp));
    assert_int_equal(tl_spool_unflushed(e->sp), TL_SPOOL_NONE);
    assert_int_equal(e->records, 20);
    assert_int_equal(tl_spool_count(e->sp), 20);
    assert_int_equal(tl_spool_unread(e->sp), 20);

    append_range(e, 20, 25);
    assert_int_equal(tl_spool_unflushed(e->sp), 1020);
    assert_true(tl_spool_flush(e->sp));

    expect_range(e, 0, 10);
    assert_int_equal(tl_spool_unread(e->sp), 15);
    tl_spool_ack(e->sp, 4);
    assert_int_equal(tl_spool_count(e->sp), 21);
    assert_int_equal(e->records, 21);
    /* After a reconnect: what was read and not acknowledged comes again. */
    tl_spool_rewind(e->sp);
    assert_int_equal(tl_spool_unread(e->sp), 21);
    expect_range(e, 4, 25);
    const uint8_t *p;
    size_t n;
    assert_false(tl_spool_peek(e->sp, &p, &n));
    assert_int_equal(e->write_errors, 0);
    assert_false(tl_spool_failing(e->sp));
}

/* What waits from the last run is said at open, and so are files that are not the queue's. */
static void test_recovery_report(void **state)
{
    struct env *e = *state;
    open_sp(e, 0, false, 0);
    append_range(e, 0, 7);
    assert_true(tl_spool_flush(e->sp));
    tl_spool_close(e->sp);
    e->sp = NULL;
    char stray[160];
    snprintf(stray, sizeof(stray), "%s/notes.txt", e->dir);
    FILE *fp = fopen(stray, "w");
    assert_non_null(fp);
    fclose(fp);

    capture_start(e);
    open_sp(e, 0, false, 0);
    char *log = capture_end(e);

    char want[512];
    snprintf(want, sizeof(want), "warning output test: disk queue %s: at start: ", e->dir);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "notes.txt"));
    assert_non_null(strstr(log, "(in all: lost 0, delivered again 0, to deliver 7)"));
    snprintf(want, sizeof(want),
             "notice output test: 7 messages from the disk queue %s are delivered first\n",
             e->dir);
    assert_int_equal(count_of(log, want), 1);
    expect_range(e, 0, 7);
}

/* A full file system: one line at the start of the episode, retries with a growing backoff
 * (each failure counted, none said again), one line when writing works again, and nothing
 * lost. */
static void test_failure_episode(void **state)
{
    struct env *e = *state;
    open_sp(e, 0, false, 0);
    e->flush_in_retry = true;

    capture_start(e);
    file_limit(4096);
    append_range(e, 0, 100);   /* into the append buffer: the file is written at flush */
    assert_false(tl_spool_flush(e->sp));
    assert_true(tl_spool_failing(e->sp));
    assert_int_equal(e->write_errors, 1);
    assert_int_equal(tl_spool_unflushed(e->sp), 1000);   /* not settled */

    /* Two retries that fail again. */
    run_until(e, &e->retries, 2);
    assert_true(tl_spool_failing(e->sp));
    assert_int_equal(e->write_errors, 3);
    /* Then the disk has room again: the next retry works. */
    file_limit(0);
    run_until(e, &e->retries, 3);
    char *log = capture_end(e);

    assert_false(tl_spool_failing(e->sp));
    assert_int_equal(e->write_errors, 3);
    assert_int_equal(tl_spool_unflushed(e->sp), TL_SPOOL_NONE);
    /* The backoff doubles: 50 ms, then 100 ms, then 200 ms. */
    assert_true(e->retry_ms[1] - e->retry_ms[0] >= 100);
    assert_true(e->retry_ms[2] - e->retry_ms[1] >= 200);
    assert_int_equal(count_of(log, "error output test: disk queue: "), 1);
    assert_non_null(strstr(log, "File too large"));
    assert_non_null(strstr(log, ". Nothing is dropped: messages wait in memory, and while the "
                                "queue is full queue.full applies (block: the inputs routed "
                                "here pause); retrying\n"));
    assert_int_equal(count_of(log, "notice output test: disk queue: writing again after "), 1);
    assert_non_null(strstr(log, "); nothing was lost\n"));
    assert_int_equal(count_of(log, "\n"), 2);   /* those two lines, nothing else */

    expect_range(e, 0, 100);
    assert_int_equal(e->records, 100);
}

/* A stop while writing fails: what is not in the file leaves the queue, and the lines say
 * how many wait for the next start and how many are lost (with the messages the owner could
 * not append), and why. */
static void test_stop_discards(void **state)
{
    struct env *e = *state;
    open_sp(e, 0, true, 0);

    capture_start(e);
    file_limit(4096);   /* the header and 35 whole records */
    append_range(e, 0, 100);
    assert_false(tl_spool_flush(e->sp));
    tl_spool_try_again(e->sp);   /* the last try, as at a stop: it fails too */
    assert_false(tl_spool_failing(e->sp));
    assert_false(tl_spool_flush(e->sp));
    uint64_t lost = tl_spool_stop(e->sp, 3);
    file_limit(0);
    char *log = capture_end(e);

    assert_int_equal(lost, 3 + 100 - 35);
    assert_int_equal(e->records, 35);
    assert_int_equal(e->write_errors, 2);
    assert_non_null(strstr(log, "queue.full applies (drop: new messages are dropped and "
                                "counted); retrying\n"));
    char want[512];
    snprintf(want, sizeof(want),
             "notice output test: stopping: 35 messages wait in the disk queue %s for the "
             "next start\n", e->dir);
    assert_int_equal(count_of(log, want), 1);
    snprintf(want, sizeof(want),
             "error output test: stopping: 68 messages could not be written to the disk "
             "queue %s (", e->dir);
    assert_int_equal(count_of(log, want), 1);
    assert_int_equal(count_of(log, "File too large) and are lost\n"), 1);

    /* The next start finds the 35, and no torn record. */
    tl_spool_close(e->sp);
    e->sp = NULL;
    capture_start(e);
    open_sp(e, 0, false, 0);
    log = capture_end(e);
    assert_null(strstr(log, "at start:"));
    assert_non_null(strstr(log, ": 35 messages from the disk queue "));
    expect_range(e, 0, 35);
}

/* queue.max_bytes is not a failure: the owner keeps the message and waits for
 * acknowledgements; messages it never appended are lost at a stop, and the line says why. */
static void test_full(void **state)
{
    struct env *e = *state;
    open_sp(e, 10 * R100, false, 0);
    uint8_t buf[REC];

    append_range(e, 0, 10);
    rec_make(10, buf);
    assert_int_equal(tl_spool_append(e->sp, buf, REC, 1010, NULL), TL_FULL);
    assert_false(tl_spool_failing(e->sp));
    assert_int_equal(e->write_errors, 0);
    assert_true(tl_spool_flush(e->sp));
    expect_range(e, 0, 2);
    tl_spool_ack(e->sp, 2);
    assert_int_equal(tl_spool_append(e->sp, buf, REC, 1010, NULL), TL_OK);

    assert_true(tl_spool_flush(e->sp));   /* an owner's last fill ends with a flush */
    capture_start(e);
    assert_int_equal(tl_spool_stop(e->sp, 4), 4);
    char *log = capture_end(e);
    assert_non_null(strstr(log, "stopping: 4 messages could not be written to the disk queue "));
    assert_non_null(strstr(log, "(queue.max_bytes reached) and are lost\n"));
    assert_non_null(strstr(log, "stopping: 9 messages wait in the disk queue "));
}

/* A record larger than queue.max_bytes can never be written: said to the owner, who drops
 * it; it is no failure of the disk. */
static void test_never_fits(void **state)
{
    struct env *e = *state;
    open_sp(e, 1000, false, 0);
    uint8_t big[2000] = {0};
    struct tl_err err;

    assert_int_equal(tl_spool_append(e->sp, big, sizeof(big), 1, &err), TL_E_RESOURCE);
    assert_int_equal(err.code, TL_E_RESOURCE);
    assert_non_null(strstr(err.cause, "can never fit"));
    assert_false(tl_spool_failing(e->sp));
    assert_int_equal(tl_spool_unflushed(e->sp), TL_SPOOL_NONE);
    assert_int_equal(e->write_errors, 0);
    assert_int_equal(tl_spool_count(e->sp), 0);
}

/* The interval sync writes what was appended and calls settled. */
static void test_tick_settles(void **state)
{
    struct env *e = *state;
    open_sp(e, 0, false, 100);
    tl_spool_start(e->sp);
    append_range(e, 0, 3);
    assert_int_equal(tl_spool_unflushed(e->sp), 1000);
    run_until(e, &e->settled, 1);
    assert_int_equal(tl_spool_unflushed(e->sp), TL_SPOOL_NONE);
    /* It goes on ticking. */
    run_until(e, &e->settled, 2);
    expect_range(e, 0, 3);
}

/* A directory that cannot be used: no spool, and a sentence that names it. */
static void test_open_fails(void **state)
{
    struct env *e = *state;
    FILE *fp = fopen(e->dir, "w");   /* a file where the directory should be */
    assert_non_null(fp);
    fclose(fp);
    struct tl_spool_opts o = {0};
    o.dq.dir = e->dir;
    o.owner = "output test";
    o.loop = e->loop;
    struct tl_err err;
    assert_null(tl_spool_open(&o, &err));
    assert_int_equal(err.code, TL_E_IO);
    assert_non_null(strstr(err.cause, e->dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_episode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
    };
    tl_log_set_level(TL_LOG_INFO);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
