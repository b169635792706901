/*
 * test_in_limits.c: the table of connections per source address behind
 * max_connections_per_source (in/limits.c): counting, the limit, addresses leaving with their
 * last connection, families kept apart, and growth with many addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "in/limits.h"

static struct tl_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct tl_addr x;
    memset(&x, 0, sizeof(x));
    x.family = AF_INET;
    x.port = port;
    x.addr[0] = a;
    x.addr[1] = b;
    x.addr[2] = c;
    x.addr[3] = d;
    return x;
}

static void test_limit_per_address(void **state)
{
    struct tl_src_table t;
    struct tl_addr a = v4(127, 0, 0, 2, 1000);
    struct tl_addr a_other_port = v4(127, 0, 0, 2, 2000);
    struct tl_addr b = v4(127, 0, 0, 1, 1000);

    (void)state;
    assert_true(tl_src_table_init(&t));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tl_src_take(&t, i % 2 ? &a : &a_other_port, 3), TL_SRC_OK);
    }
    /* The port does not matter: it is the same host. */
    assert_int_equal(tl_src_take(&t, &a, 3), TL_SRC_FULL);
    assert_int_equal(tl_src_take(&t, &a_other_port, 3), TL_SRC_FULL);
    assert_int_equal(tl_src_count(&t, &a), 3);
    /* Another address has its own quota. */
    assert_int_equal(tl_src_take(&t, &b, 3), TL_SRC_OK);
    assert_int_equal(tl_src_count(&t, &b), 1);
    /* A refused take counted nothing; a close frees one slot. */
    tl_src_put(&t, &a);
    assert_int_equal(tl_src_count(&t, &a), 2);
    assert_int_equal(tl_src_take(&t, &a, 3), TL_SRC_OK);
    assert_int_equal(tl_src_take(&t, &a, 3), TL_SRC_FULL);
    /* The address leaves the table with its last connection. */
    for (int i = 0; i < 3; i++) {
        tl_src_put(&t, &a);
    }
    assert_int_equal(tl_src_count(&t, &a), 0);
    assert_int_equal(t.n, 1);
    tl_src_put(&t, &a); /* an unknown address: nothing happens */
    assert_int_equal(t.n, 1);
    tl_src_put(&t, &b);
    assert_int_equal(t.n, 0);
    tl_src_table_fini(&t);
}

static void test_families_apart(void **state)
{
    struct tl_src_table t;
    struct tl_addr a = v4(10, 0, 0, 1, 0);
    struct tl_addr b = a;

    (void)state;
    b.family = AF_INET6; /* the same 16 bytes, another family */
    assert_true(tl_src_table_init(&t));
    assert_int_equal(tl_src_take(&t, &a, 1), TL_SRC_OK);
    assert_int_equal(tl_src_take(&t, &b, 1), TL_SRC_OK);
    assert_int_equal(tl_src_take(&t, &a, 1), TL_SRC_FULL);
    assert_int_equal(tl_src_take(&t, &b, 1), TL_SRC_FULL);
    tl_src_table_fini(&t);
}

/* Many addresses: the buckets grow and every count stays right (one table per input, up to
 * max_connections addresses). */
static void test_many_addresses(void **state)
{
    struct tl_src_table t;
    const int n = 20000;

    (void)state;
    assert_true(tl_src_table_init(&t));
    for (int i = 0; i < n; i++) {
        struct tl_addr x = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0);
        assert_int_equal(tl_src_take(&t, &x, 2), TL_SRC_OK);
        if (i % 3 == 0) {
            assert_int_equal(tl_src_take(&t, &x, 2), TL_SRC_OK);
        }
    }
    assert_int_equal(t.n, (size_t)n);
    assert_true(t.n_buckets >= (size_t)n / 2);
    for (int i = 0; i < n; i++) {
        struct tl_addr x = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0);
        assert_int_equal(tl_src_count(&t, &x), i % 3 == 0 ? 2 : 1);
        assert_int_equal(tl_src_take(&t, &x, 2), i % 3 == 0 ? TL_SRC_FULL : TL_SRC_OK);
    }
    for (int i = 0; i < n; i++) {
        struct tl_addr x = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0);
        tl_src_put(&t, &x);
        tl_src_put(&t, &x);
    }
    assert_int_equal(t.n, 0);
    tl_src_table_fini(&t);
}

static void test_links(void **state)
{
    struct tl_in_link head;
    struct tl_in_link a;
    struct tl_in_link b;

    (void)state;
    tl_in_link_init(&head);
    tl_in_link_init(&a);
    tl_in_link_init(&b);
    assert_true(tl_in_link_empty(&head));
    tl_in_link_append(&head, &a);
    tl_in_link_append(&head, &b);
    assert_ptr_equal(head.next, &a); /* oldest first */
    tl_in_link_remove(&a);
    assert_ptr_equal(head.next, &b);
    tl_in_link_remove(&a); /* not in a list any more: harmless */
    tl_in_link_remove(&b);
    assert_true(tl_in_link_empty(&head));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_families_apart),
        cmocka_unit_test(test_many_addresses),
        cmocka_unit_test(test_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
