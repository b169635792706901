/*
 * test_conf_host.c: the keys of the host sources and of rate limits as the loader reads them:
 * transport journal and kmsg (journal_dir, start_at), state_dir, systemd_socket, rate_limit
 * (defaults, values, errors with their exact messages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"

#define OUTPUTS "outputs:\n  - {name: o, type: stdout}\n"

static struct tl_conf *load(const char *text, struct tl_conf_errors *errs)
{
    return tl_conf_load_string(text, strlen(text), "t.yaml", errs);
}

static struct tl_conf *load_ok(const char *text)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = load(text, &errs);

    if (c == NULL) {
        for (size_t i = 0; i < errs.n; i++) {
            print_message("  got: %s\n", errs.lines[i]);
        }
    }
    assert_non_null(c);
    tl_conf_errors_fini(&errs);
    return c;
}

static void expect_error(const char *text, const char *want)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = load(text, &errs);

    assert_null(c);
    if (errs.n != 1 || strcmp(errs.lines[0], want) != 0) {
        print_message("  want: %s\n", want);
        for (size_t i = 0; i < errs.n; i++) {
            print_message("  got: %s\n", errs.lines[i]);
        }
        fail();
    }
    tl_conf_errors_fini(&errs);
}

static void test_host_sources(void **state)
{
    struct tl_conf *c;

    (void)state;
    c = load_ok("inputs:\n  - {name: j, transport: journal}\n"
                "  - {name: k, transport: kmsg, start_at: end}\n" OUTPUTS);
    assert_int_equal(c->inputs[0].transport, TL_TR_JOURNAL);
    assert_null(c->inputs[0].journal_dir);
    assert_int_equal(c->inputs[0].start_at, TL_START_BEGINNING);
    assert_int_equal(c->inputs[1].transport, TL_TR_KMSG);
    assert_int_equal(c->inputs[1].start_at, TL_START_END);
    assert_string_equal(c->state_dir, "/var/lib/tlslogd");
    tl_conf_free(c);
    c = load_ok("state_dir: /tmp/st\ninputs:\n"
                "  - {name: j, transport: journal, journal_dir: /var/log/journal/x}\n" OUTPUTS);
    assert_string_equal(c->state_dir, "/tmp/st");
    assert_string_equal(c->inputs[0].journal_dir, "/var/log/journal/x");
    tl_conf_free(c);
    expect_error("inputs:\n  - {name: j, transport: journal, start_at: middle}\n" OUTPUTS,
                 "t.yaml:2: inputs[0] (j).start_at: 'middle' is not one of beginning, end");
    expect_error("inputs:\n  - {name: u, transport: unix, path: /x, journal_dir: /j}\n" OUTPUTS,
                 "t.yaml:2: inputs[0] (u).journal_dir: journal_dir applies only to journal "
                 "inputs; this one's transport is unix");
    expect_error("inputs:\n  - {name: j, transport: journal, listen: 1}\n" OUTPUTS,
                 "t.yaml:2: inputs[0] (j).listen: listen applies only to udp, tcp, tls and "
                 "relp inputs; this one's transport is journal");
}

static void test_systemd_socket(void **state)
{
    struct tl_conf *c;

    (void)state;
    c = load_ok("inputs:\n  - {name: u, transport: unix, path: /run/x, systemd_socket: true}\n"
                OUTPUTS);
    assert_true(c->inputs[0].systemd_socket);
    tl_conf_free(c);
    expect_error("inputs:\n  - {name: t, transport: tcp, listen: 1, systemd_socket: true}\n"
                 OUTPUTS,
                 "t.yaml:2: inputs[0] (t).systemd_socket: systemd_socket applies only to unix "
                 "inputs; this one's transport is tcp");
}

static void test_rate_limit(void **state)
{
    struct tl_conf *c;

    (void)state;
    c = load_ok("inputs:\n  - {name: t, transport: tcp, listen: 1}\n"
                "  - {name: u, transport: udp, listen: 2, rate_limit: {}}\n"
                "  - {name: x, transport: unix, path: /x,\n"
                "     rate_limit: {burst: 7, interval: 250ms, max_sources: 9}}\n" OUTPUTS);
    assert_false(c->inputs[0].rate_limit);
    assert_true(c->inputs[1].rate_limit);
    assert_int_equal(c->inputs[1].rate_burst, 10000);
    assert_int_equal(c->inputs[1].rate_interval_ms, 5000);
    assert_int_equal(c->inputs[1].rate_max_sources, 4096);
    assert_int_equal(c->inputs[2].rate_burst, 7);
    assert_int_equal(c->inputs[2].rate_interval_ms, 250);
    assert_int_equal(c->inputs[2].rate_max_sources, 9);
    tl_conf_free(c);
    expect_error("inputs:\n  - {name: t, transport: tcp, listen: 1, rate_limit: 100}\n" OUTPUTS,
                 "t.yaml:2: inputs[0] (t).rate_limit: expected a mapping of rate limit "
                 "settings (burst, interval, max_sources), got a single value");
    expect_error("inputs:\n  - {name: t, transport: tcp, listen: 1, rate_limit: {burst: 0}}\n"
                 OUTPUTS,
                 "t.yaml:2: inputs[0] (t).rate_limit.burst: '0' is out of range; allowed: "
                 "1..1000000000");
    expect_error("inputs:\n  - {name: t, transport: tcp, listen: 1, rate_limit: {brust: 5}}\n"
                 OUTPUTS,
                 "t.yaml:2: unknown key 'brust' in inputs[0] (t).rate_limit; allowed: burst, "
                 "interval, max_sources; did you mean 'burst'?");
    expect_error("inputs:\n  - {name: j, transport: journal, rate_limit: {}}\n" OUTPUTS,
                 "t.yaml:2: inputs[0] (j).rate_limit: rate_limit applies only to udp, tcp, "
                 "unix and tls inputs; this one's transport is journal");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_sources),
        cmocka_unit_test(test_systemd_socket),
        cmocka_unit_test(test_rate_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
