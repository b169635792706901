/*
 * test_fwd_window.c: the forward output's acknowledgement window (src/out/fwd_window.h) on
 * its own: frames pushed, marked by a stream's write positions or handed whole (datagrams,
 * RELP), acknowledged by wire position, released (offsets shift, spool frames counted),
 * rewound after a broken connection (what was handed is counted, nothing is lost), cleared,
 * and the room rules (RELP's window, unsent bytes, held bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "out/fwd_window.h"

/* Appends one frame of len bytes, each the byte c. */
static void add(struct fwd_window *w, size_t len, char c, bool disk, uint64_t seq)
{
    assert_true(fwd_window_reserve(w));
    for (size_t i = 0; i < len; i++) {
        assert_true(tl_buf_append(&w->buf, &c, 1));
    }
    fwd_window_push(w, disk, seq);
}

/* Frames 10, 20, 30 bytes: a stream writes 25 bytes (frame 0 whole, frame 1 partly), then the
 * rest; its TCP acknowledges by wire position; released frames leave and the offsets of the
 * others shift. */
static void test_stream_acks(void **state)
{
    (void)state;
    struct fwd_window w;
    fwd_window_init(&w);
    add(&w, 10, 'a', false, 7);
    add(&w, 20, 'b', true, 0);
    add(&w, 30, 'c', false, 9);
    assert_int_equal(w.n_fr, 3);
    assert_int_equal(w.buf.len, 60);

    /* Wire positions continue from earlier connections' bytes: 1000 + what went out. */
    w.sent = 25;
    assert_int_equal(fwd_window_mark(&w, 1025), 1);
    assert_int_equal(w.n_marked, 1);
    assert_int_equal(w.fr[0].wire_end, 1025);
    assert_int_equal(w.fr[1].wire_end, 0);
    w.sent = 60;
    assert_int_equal(fwd_window_mark(&w, 1060), 2);
    assert_int_equal(fwd_window_mark(&w, 1060), 0);   /* nothing new */

    /* The peer acknowledged up to 1040: only frame 0 ends before it. */
    assert_int_equal(fwd_window_acked(&w, 1024), 0);
    assert_int_equal(fwd_window_acked(&w, 1040), 1);
    assert_int_equal(fwd_window_release(&w, 1), 0);   /* not from the spool */
    assert_int_equal(w.n_fr, 2);
    assert_int_equal(w.n_marked, 2);
    assert_int_equal(w.sent, 50);
    assert_int_equal(w.buf.len, 50);
    assert_int_equal(w.fr[0].end, 20);
    assert_int_equal(w.fr[1].end, 50);
    assert_int_equal(w.buf.data[0], 'b');
    assert_int_equal(w.buf.data[20], 'c');

    /* Everything acknowledged: one frame came from the spool. */
    assert_int_equal(fwd_window_acked(&w, 1060), 2);
    assert_int_equal(fwd_window_release(&w, 2), 1);
    assert_int_equal(w.n_fr, 0);
    assert_int_equal(w.sent, 0);
    assert_int_equal(w.buf.len, 0);
    fwd_window_fini(&w);
}

/* The connection breaks: every frame waits again from its first byte, and the frames that
 * had been handed over are counted (they may arrive twice); none is lost. */
static void test_rewind(void **state)
{
    (void)state;
    struct fwd_window w;
    fwd_window_init(&w);
    for (int i = 0; i < 5; i++) {
        add(&w, 10, (char)('a' + i), false, (uint64_t)i);
    }
    w.sent = 35;   /* frames 0..2 whole, frame 3 partly */
    assert_int_equal(fwd_window_mark(&w, 35), 3);
    assert_int_equal(fwd_window_rewind(&w), 3);
    assert_int_equal(w.n_fr, 5);
    assert_int_equal(w.n_marked, 0);
    assert_int_equal(w.sent, 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(w.fr[i].wire_end, 0);
        assert_int_equal(w.fr[i].seq, i);
    }
    assert_int_equal(fwd_window_rewind(&w), 0);   /* nothing handed since */
    /* The first frame still holds the oldest unacknowledged message: settling waits. */
    assert_int_equal(w.fr[0].seq, 0);
    assert_int_equal(fwd_window_acked(&w, 1000), 0);   /* nothing marked */
    fwd_window_fini(&w);
}

/* Datagrams and RELP frames are handed whole, also empty ones: sent moves to the end of the
 * last one handed, and an empty message after it is not taken along. */
static void test_handed(void **state)
{
    (void)state;
    struct fwd_window w;
    fwd_window_init(&w);
    add(&w, 10, 'a', false, 0);
    add(&w, 0, 0, false, 1);
    add(&w, 5, 'c', false, 2);
    add(&w, 0, 0, false, 3);
    fwd_window_handed(&w, 1);
    assert_int_equal(w.n_marked, 1);
    assert_int_equal(w.sent, 10);
    assert_int_equal(w.fr[1].wire_end, 0);
    fwd_window_handed(&w, 2);
    assert_int_equal(w.n_marked, 3);
    assert_int_equal(w.sent, 15);
    assert_int_equal(w.fr[3].wire_end, 0);
    fwd_window_handed(&w, 0);
    assert_int_equal(w.n_marked, 3);
    /* RELP acks the first two. */
    fwd_window_release(&w, 2);
    assert_int_equal(w.n_marked, 1);
    assert_int_equal(w.sent, 5);
    assert_int_equal(w.fr[0].seq, 2);
    assert_int_equal(fwd_window_rewind(&w), 1);
    fwd_window_fini(&w);
}

/* Given up (the stop's deadline): everything is forgotten; a release after that (a late RELP
 * answer) releases nothing. */
static void test_clear(void **state)
{
    (void)state;
    struct fwd_window w;
    fwd_window_init(&w);
    add(&w, 10, 'a', true, 0);
    add(&w, 10, 'b', true, 0);
    fwd_window_handed(&w, 2);
    fwd_window_clear(&w);
    assert_int_equal(w.n_fr, 0);
    assert_int_equal(w.n_marked, 0);
    assert_int_equal(w.sent, 0);
    assert_int_equal(w.buf.len, 0);
    assert_int_equal(fwd_window_release(&w, 2), 0);
    assert_int_equal(w.n_fr, 0);
    fwd_window_fini(&w);
}

/* Room: RELP's window in frames, FWD_FILL_BYTES unsent, max_bytes held. */
static void test_room(void **state)
{
    (void)state;
    struct fwd_window w;
    fwd_window_init(&w);
    assert_true(fwd_window_room(&w));

    w.max_frames = 3;
    add(&w, 1, 'a', false, 0);
    add(&w, 1, 'a', false, 1);
    assert_int_equal(fwd_window_free_frames(&w), 1);
    assert_true(fwd_window_room(&w));
    add(&w, 1, 'a', false, 2);
    assert_int_equal(fwd_window_free_frames(&w), 0);
    assert_false(fwd_window_room(&w));
    fwd_window_handed(&w, 1);
    fwd_window_release(&w, 1);
    assert_true(fwd_window_room(&w));
    fwd_window_clear(&w);

    /* Unsent bytes: full at FWD_FILL_BYTES, room again once they are written. */
    w.max_frames = SIZE_MAX;
    add(&w, FWD_FILL_BYTES - 1, 'x', false, 0);
    assert_true(fwd_window_room(&w));
    add(&w, 1, 'y', false, 1);
    assert_false(fwd_window_room(&w));
    w.sent = w.buf.len;
    assert_int_equal(fwd_window_mark(&w, w.sent), 2);
    assert_true(fwd_window_room(&w));

    /* Held bytes, written or not: full at max_bytes (RELP holds one send buffer's worth). */
    w.max_bytes = FWD_FILL_BYTES + 10;
    add(&w, 9, 'z', false, 2);
    assert_true(fwd_window_room(&w));
    add(&w, 1, 'z', false, 3);
    assert_false(fwd_window_room(&w));
    fwd_window_fini(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_acks),
        cmocka_unit_test(test_rewind),
        cmocka_unit_test(test_handed),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
