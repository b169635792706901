/*
 * test_promtext.c: the Prometheus exposition reader of `tlslog stats` (src/cli/promtext.c):
 * samples, labels and their escapes, special values, and each refusal with its line.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/promtext.h"

static void parse_ok(const char *text, struct tl_prom_set *set)
{
    char err[256] = "";
    bool ok = tl_prom_parse(text, strlen(text), set, err, sizeof(err));
    if (!ok) {
        print_message("  error: %s\n", err);
    }
    assert_true(ok);
}

static void parse_fails(const char *text, const char *want)
{
    struct tl_prom_set set;
    char err[256] = "";
    assert_false(tl_prom_parse(text, strlen(text), &set, err, sizeof(err)));
    assert_string_equal(err, want);
    assert_int_equal(set.n, 0);
    assert_null(set.v);
    tl_prom_set_fini(&set);
}

static void test_samples(void **state)
{
    struct tl_prom_set set;
    (void)state;
    parse_ok("# HELP a_total A.\n# TYPE a_total counter\n"
             "a_total{input=\"tls-in\",transport=\"tls\"} 25\n"
             "\n"
             "b 1.5e3 1700000000000\n"
             "c{ x = \"q\\\"\\\\\\n\" , } -2\r\n"
             "d NaN\ne +Inf\nf -Inf",
             &set);
    assert_int_equal(set.n, 6);
    assert_string_equal(set.v[0].name, "a_total");
    assert_int_equal(set.v[0].n_labels, 2);
    assert_string_equal(tl_prom_label(&set.v[0], "input"), "tls-in");
    assert_string_equal(tl_prom_label(&set.v[0], "transport"), "tls");
    assert_null(tl_prom_label(&set.v[0], "output"));
    assert_true(set.v[0].value == 25);
    assert_true(set.v[1].value == 1500 && set.v[1].n_labels == 0);
    assert_string_equal(tl_prom_label(&set.v[2], "x"), "q\"\\\n");
    assert_true(set.v[2].value == -2);
    assert_true(isnan(set.v[3].value));
    assert_true(isinf(set.v[4].value) && set.v[4].value > 0);
    assert_true(isinf(set.v[5].value) && set.v[5].value < 0);
    tl_prom_set_fini(&set);

    parse_ok("", &set);
    assert_int_equal(set.n, 0);
    tl_prom_set_fini(&set);
}

static void test_refusals(void **state)
{
    (void)state;
    parse_fails("ok 1\n9bad 1\n", "line 2: expected a metric name");
    parse_fails("a{b=\"c\" 1\n", "line 1: expected ',' or '}' after a label");
    parse_fails("a{b=c} 1\n", "line 1: expected a quoted label value");
    parse_fails("a{b=\"c} 1\n", "line 1: unterminated, badly escaped or too long label value");
    parse_fails("a{b=\"\\t\"} 1\n", "line 1: unterminated, badly escaped or too long label value");
    parse_fails("a{=\"c\"} 1\n", "line 1: expected a label name");
    parse_fails("a{b\"c\"} 1\n", "line 1: expected '=' after a label name");
    parse_fails("a\n", "line 1: expected a number after the metric");
    parse_fails("a 0x10\n", "line 1: expected a number after the metric");
    parse_fails("a 1 2 3\n", "line 1: unexpected text after the value");
    parse_fails("a 1 later\n", "line 1: unexpected text after the value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
