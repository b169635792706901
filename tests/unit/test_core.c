/* Unit tests for the core pieces the daemon runs on: buffers, the message queue, the event
 * loop's timers and deferred calls, addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/msg.h"
#include "ev/loop.h"
#include "queue/mq.h"

static void test_buf_ceiling(void **state)
{
    (void)state;
    struct tl_buf b;
    tl_buf_init(&b, 10);
    assert_true(tl_buf_append(&b, "0123456789", 10));
    assert_false(tl_buf_putc(&b, 'x'));
    assert_int_equal(b.len, 10);
    tl_buf_consume(&b, 4);
    assert_memory_equal(b.data, "456789", 6);
    assert_true(tl_buf_put_u64(&b, 1234));
    assert_memory_equal(b.data, "4567891234", 10);
    assert_false(tl_buf_printf(&b, "%d", 5));
    tl_buf_fini(&b);

    tl_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++) {
        assert_true(tl_buf_printf(&b, "%04d", i));
    }
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data + 3996, "0999", 4);
    tl_buf_fini(&b);
}

static void test_msg_refcount(void **state)
{
    (void)state;
    struct tl_msg *m = tl_msg_new("abc", 3);
    assert_non_null(m);
    assert_int_equal(m->raw_len, 3);
    assert_memory_equal(m->raw, "abc", 3);
    assert_int_equal(m->facility, 1);
    assert_int_equal(m->severity, 5);
    tl_msg_ref(m);
    tl_msg_unref(m);
    tl_msg_unref(m); /* freed here; ASan would see a double free or a leak */
    tl_msg_unref(NULL);
}

/* A message made on a thread with a home and dropped last elsewhere comes back to that
 * home, which frees it (tl_msg_home_drain counts it); one made without a home, or dropped
 * on its home thread, is freed at once. LSan checks that nothing is lost on the way. */
struct home_handoff {
    struct tl_msg *made[100];
    pthread_barrier_t made_them, dropped_them;
    size_t drained_remote, drained_local;
};

static void *home_thread(void *arg)
{
    struct home_handoff *h = arg;
    tl_msg_home_enter(9);
    for (size_t i = 0; i < 100; i++) {
        h->made[i] = tl_msg_new("home", 4);
    }
    pthread_barrier_wait(&h->made_them);
    pthread_barrier_wait(&h->dropped_them); /* the main thread dropped all of them */
    h->drained_remote = tl_msg_home_drain();
    struct tl_msg *mine = tl_msg_new("mine", 4);
    tl_msg_unref(mine);                     /* on its home: freed at once */
    h->drained_local = tl_msg_home_drain();
    tl_msg_home_leave();
    return NULL;
}

static void test_msg_returns_home(void **state)
{
    (void)state;
    struct home_handoff h = {0};
    pthread_barrier_init(&h.made_them, NULL, 2);
    pthread_barrier_init(&h.dropped_them, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, home_thread, &h), 0);
    pthread_barrier_wait(&h.made_them);
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(h.made[i]->home, 1 + 9);
        if (i % 2) {
            tl_msg_ref(h.made[i]);
            tl_msg_unref(h.made[i]);        /* not the last reference: nothing moves */
        }
        tl_msg_unref(h.made[i]);
    }
    struct tl_msg *homeless = tl_msg_new("none", 4);
    assert_int_equal(homeless->home, 0);
    pthread_barrier_wait(&h.dropped_them);
    pthread_join(t, NULL);
    tl_msg_unref(homeless);                 /* no home: freed at once on any thread */
    assert_int_equal(h.drained_remote, 100);
    assert_int_equal(h.drained_local, 0);
    assert_int_equal(tl_msg_homes_drain_all(), 0);
    pthread_barrier_destroy(&h.made_them);
    pthread_barrier_destroy(&h.dropped_them);
}

/* Two threads drop the last references of one home's messages at the same time (each
 * message sits in both their queues and either may be last) while the home frees what
 * came back as it goes (and tl_msg_new every 256 messages): ASan sees a message freed twice
 * or used after it came back, LSan one that never came back. */
enum { RACE_MSGS = 50000 };

struct race_side {
    struct tl_mq q;
    pthread_t t;
};

static void *race_drop(void *arg)
{
    struct race_side *side = arg;
    struct tl_msg *out[64];
    size_t n;
    while ((n = tl_mq_pop(&side->q, out, 64, -1)) > 0) {
        for (size_t i = 0; i < n; i++) {
            tl_msg_unref(out[i]);
        }
    }
    return NULL;
}

static void test_msg_returns_home_race(void **state)
{
    (void)state;
    struct race_side side[2];
    for (int i = 0; i < 2; i++) {
        assert_true(tl_mq_init(&side[i].q, 256, 0));
        assert_int_equal(pthread_create(&side[i].t, NULL, race_drop, &side[i]), 0);
    }
    tl_msg_home_enter(3);
    size_t drained = 0;
    for (size_t sent = 0; sent < RACE_MSGS;) {
        struct tl_msg *batch[32];
        size_t n = 0;
        for (; n < 32 && sent < RACE_MSGS; n++, sent++) {
            batch[n] = tl_msg_new("race", 4);
            assert_non_null(batch[n]);
            tl_msg_ref(batch[n]);
        }
        assert_int_equal(tl_mq_push(&side[0].q, batch, n, NULL), n);
        assert_int_equal(tl_mq_push(&side[1].q, batch, n, NULL), n);
        drained += tl_msg_home_drain();
    }
    for (int i = 0; i < 2; i++) {
        tl_mq_close(&side[i].q);
        pthread_join(side[i].t, NULL);
        tl_mq_fini(&side[i].q);
    }
    drained += tl_msg_home_drain();
    tl_msg_home_leave();
    /* The drains inside tl_msg_new are not counted here. */
    assert_true(drained > 0 && drained <= RACE_MSGS);
    assert_int_equal(tl_msg_homes_drain_all(), 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(tl_facility_name(16), "local0");
    assert_string_equal(tl_severity_name(3), "err");
    assert_string_equal(tl_facility_name(99), "?");
    assert_int_equal(tl_facility_from_name("local7"), 23);
    assert_int_equal(tl_facility_from_name("AUTHPRIV"), 10);
    assert_int_equal(tl_facility_from_name("5"), 5);
    assert_int_equal(tl_facility_from_name("nope"), -1);
    assert_int_equal(tl_facility_from_name("24"), -1);
    assert_int_equal(tl_severity_from_name("warning"), 4);
    assert_int_equal(tl_severity_from_name("warn"), 4);
    assert_int_equal(tl_severity_from_name("error"), 3);
    assert_int_equal(tl_severity_from_name("8"), -1);
}

static void test_addr_format(void **state)
{
    (void)state;
    char out[TL_ADDR_STRLEN];
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(514);
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    struct tl_addr a;
    tl_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof(sin));
    tl_addr_format(&a, true, out, sizeof(out));
    assert_string_equal(out, "192.0.2.7:514");
    tl_addr_format(&a, false, out, sizeof(out));
    assert_string_equal(out, "192.0.2.7");

    struct sockaddr_in6 sin6 = {0};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(6514);
    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    tl_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof(sin6));
    tl_addr_format(&a, true, out, sizeof(out));
    assert_string_equal(out, "[2001:db8::1]:6514");

    /* An IPv4 client on a dual-stack socket shows as IPv4. */
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
    tl_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof(sin6));
    tl_addr_format(&a, true, out, sizeof(out));
    assert_string_equal(out, "10.1.2.3:6514");

    memset(&a, 0, sizeof(a));
    tl_addr_format(&a, true, out, sizeof(out));
    assert_string_equal(out, "-");
}

struct producer {
    struct tl_mq *q;
    int id;
    int count;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct tl_msg *batch[7];
    int n = 0;
    for (int i = 0; i < p->count; i++) {
        char text[32];
        int len = snprintf(text, sizeof(text), "%d %d", p->id, i);
        batch[n++] = tl_msg_new(text, (size_t)len);
        if (n == 7 || i + 1 == p->count) {
            /* cmocka's asserts are not for other threads. */
            if (tl_mq_push(p->q, batch, (size_t)n, NULL) != (size_t)n) {
                abort();
            }
            n = 0;
        }
    }
    return NULL;
}

/* Four producers push through a queue much smaller than what they send: every message
 * arrives once and each producer's messages stay in order. */
static void test_mq_order_and_backpressure(void **state)
{
    (void)state;
    struct tl_mq q;
    assert_true(tl_mq_init(&q, 16, 0));
    enum { PRODUCERS = 4, EACH = 5000 };
    pthread_t th[PRODUCERS];
    struct producer ps[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        ps[i] = (struct producer){&q, i, EACH};
        pthread_create(&th[i], NULL, produce, &ps[i]);
    }
    int next[PRODUCERS] = {0};
    int total = 0;
    struct tl_msg *out[10];
    while (total < PRODUCERS * EACH) {
        size_t n = tl_mq_pop(&q, out, 10, 5000);
        assert_true(n > 0);
        assert_true(tl_mq_len(&q) <= 16);
        for (size_t i = 0; i < n; i++) {
            char text[32];
            memcpy(text, out[i]->raw, out[i]->raw_len);
            text[out[i]->raw_len] = '\0';
            int id = 0;
            int seq = 0;
            assert_int_equal(sscanf(text, "%d %d", &id, &seq), 2);
            assert_int_equal(seq, next[id]);
            next[id]++;
            tl_msg_unref(out[i]);
            total++;
        }
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
    }
    tl_mq_close(&q);
    assert_int_equal(tl_mq_pop(&q, out, 10, 10), 0);
    assert_true(tl_mq_drained(&q));
    tl_mq_fini(&q);
}

static void test_mq_close_releases_blocked_producer(void **state)
{
    (void)state;
    struct tl_mq q;
    assert_true(tl_mq_init(&q, 2, 0));
    struct tl_msg *m[3] = {tl_msg_new("a", 1), tl_msg_new("b", 1), tl_msg_new("c", 1)};
    assert_int_equal(tl_mq_push(&q, m, 2, NULL), 2);
    tl_mq_close(&q);
    /* Closed: push returns at once instead of blocking forever. */
    assert_int_equal(tl_mq_push(&q, m + 2, 1, NULL), 0);
    tl_msg_unref(m[2]);
    struct tl_msg *out[4];
    assert_int_equal(tl_mq_pop(&q, out, 4, 0), 2);
    tl_msg_unref(out[0]);
    tl_msg_unref(out[1]);
    tl_mq_fini(&q);
}

/* The byte bound: messages are refused once their sizes would pass max_bytes, one always
 * fits an empty queue, popping makes room again, and nearly_full sees the bytes. */
static void test_mq_byte_bound(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'x', sizeof(big));
    struct tl_msg *m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = tl_msg_new(big, sizeof(big));
    }
    size_t one = tl_msg_size(m[0]);
    struct tl_mq q;
    assert_true(tl_mq_init(&q, 100, 2 * one + one / 2));
    assert_false(tl_mq_nearly_full(&q));
    uint64_t seq = 99;
    assert_int_equal(tl_mq_try_push(&q, m, 4, &seq), 2);
    assert_int_equal(seq, 2); /* numbered from 0: the next one is number 2 */
    assert_int_equal(tl_mq_try_push(&q, m + 2, 2, &seq), 0);
    assert_int_equal(seq, 2); /* nothing pushed: unchanged */
    assert_true(tl_mq_nearly_full(&q) == (2 * one * 10 >= (2 * one + one / 2) * 9));
    struct tl_msg *out[4];
    assert_int_equal(tl_mq_pop(&q, out, 1, 0), 1);
    assert_int_equal(tl_mq_try_push(&q, m + 2, 2, &seq), 1);
    assert_int_equal(seq, 3);
    assert_int_equal(tl_mq_len(&q), 2);
    tl_msg_unref(out[0]);
    assert_int_equal(tl_mq_pop(&q, out, 4, 0), 2);
    tl_msg_unref(out[0]);
    tl_msg_unref(out[1]);
    tl_mq_fini(&q);

    /* A message larger than the whole bound still goes through an empty queue. */
    assert_true(tl_mq_init(&q, 100, 64));
    assert_int_equal(tl_mq_try_push(&q, m + 3, 1, NULL), 1);
    assert_true(tl_mq_nearly_full(&q));
    assert_int_equal(tl_mq_pop(&q, out, 4, 0), 1);
    assert_ptr_equal(out[0], m[3]);
    tl_msg_unref(out[0]);
    tl_mq_fini(&q);
}

struct timer_log {
    int order[8];
    int n;
};

struct timer_arg {
    struct timer_log *log;
    int id;
};

static void record(struct tl_ev_loop *loop, void *arg)
{
    (void)loop;
    struct timer_arg *a = arg;
    a->log->order[a->log->n++] = a->id;
}

static void test_ev_timers_fire_in_order(void **state)
{
    (void)state;
    struct tl_ev_loop *loop = tl_ev_loop_new();
    assert_non_null(loop);
    struct timer_log log = {0};
    struct timer_arg args[4] = {{&log, 0}, {&log, 1}, {&log, 2}, {&log, 3}};
    struct tl_ev_timer t[4];
    for (int i = 0; i < 4; i++) {
        tl_ev_timer_init(&t[i], record, &args[i]);
    }
    tl_ev_timer_start(loop, &t[0], 30);
    tl_ev_timer_start(loop, &t[1], 10);
    tl_ev_timer_start(loop, &t[2], 20);
    tl_ev_timer_start(loop, &t[3], 5);
    tl_ev_timer_stop(loop, &t[3]);
    assert_false(tl_ev_timer_armed(&t[3]));
    for (int i = 0; i < 100 && log.n < 3; i++) {
        tl_ev_run_once(loop, 100);
    }
    assert_int_equal(log.n, 3);
    assert_int_equal(log.order[0], 1);
    assert_int_equal(log.order[1], 2);
    assert_int_equal(log.order[2], 0);

    /* Deferred calls run within the same turn. */
    tl_ev_defer(loop, record, &args[3]);
    tl_ev_run_once(loop, 0);
    assert_int_equal(log.n, 4);
    assert_int_equal(log.order[3], 3);

    /* A wake from another thread ends a long wait. */
    tl_ev_wake(loop);
    tl_ev_run_once(loop, 10000);
    tl_ev_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_ceiling),
        cmocka_unit_test(test_msg_refcount),
        cmocka_unit_test(test_msg_returns_home),
        cmocka_unit_test(test_msg_returns_home_race),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_addr_format),
        cmocka_unit_test(test_mq_order_and_backpressure),
        cmocka_unit_test(test_mq_close_releases_blocked_producer),
        cmocka_unit_test(test_mq_byte_bound),
        cmocka_unit_test(test_ev_timers_fire_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
