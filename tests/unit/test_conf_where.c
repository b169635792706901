/*
 * test_conf_where.c: a route's where: as the loader reads it: each key and not: compiled into
 * the route's filter (checked by matching parsed messages), routes sharing an
 * input-to-output pair, and every error with its exact message and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "core/msg.h"
#include "parse/parse.h"
#include "route/filter.h"

/* Lines 1-8; a route's where: starts at line 11. */
#define HEAD \
    "inputs:\n" \
    "  - name: a\n" \
    "    transport: tcp\n" \
    "    listen: \"127.0.0.1:0\"\n" \
    "outputs:\n" \
    "  - name: o\n" \
    "    type: stdout\n" \
    "routes:\n" \
    "  - from: a\n" \
    "    to: o\n"

static struct tl_conf *load(const char *text, struct tl_conf_errors *errs)
{
    return tl_conf_load_string(text, strlen(text), "t.yaml", errs);
}

static bool matches(const struct tl_filter *f, const char *raw)
{
    struct tl_msg *m = tl_msg_new(raw, strlen(raw));
    bool r;

    assert_non_null(m);
    tl_parse(m);
    r = tl_filter_match(f, m);
    tl_msg_unref(m);
    return r;
}

/* Messages the cases match against. */
static const char *const AUTH_WARN = "<36>Jan  2 03:04:05 web1 sshd[12]: Failed password";
static const char *const AUTH_INFO = "<38>Jan  2 03:04:05 web1 sshd[12]: Accepted key";
static const char *const NGINX_ERR = "<11>Jan  2 03:04:05 web2 nginx: upstream Timeout";
static const char *const PHP_DEBUG = "<15>Jan  2 03:04:05 db1 php-fpm7: debug line";
static const char *const CRON_INFO = "<78>Jan  2 03:04:05 web1 CRON[5]: job ran";

struct match_case {
    const char *where;         /* the YAML of the where: value, after "    where: " */
    const char *yes[4];        /* messages it carries */
    const char *no[4];         /* messages it does not */
};

static const struct match_case match_cases[] = {
    {"{facility: [auth, authpriv]}", {AUTH_WARN, AUTH_INFO}, {NGINX_ERR, CRON_INFO}},
    {"{facility: 4}", {AUTH_WARN}, {CRON_INFO}},
    {"{severity: warning}", {AUTH_WARN, NGINX_ERR}, {AUTH_INFO, PHP_DEBUG}},
    {"{severity: [info]}", {AUTH_INFO, CRON_INFO}, {AUTH_WARN, PHP_DEBUG}},
    {"{severity: \"debug..info\"}", {AUTH_INFO, PHP_DEBUG}, {AUTH_WARN, NGINX_ERR}},
    {"{program: [nginx, \"php-fpm*\"]}", {NGINX_ERR, PHP_DEBUG}, {AUTH_WARN, CRON_INFO}},
    {"{hostname: \"WEB*\"}", {AUTH_WARN, NGINX_ERR, CRON_INFO}, {PHP_DEBUG}},
    {"{message: \"(?i)error|timeout\"}", {NGINX_ERR}, {AUTH_WARN, PHP_DEBUG}},
    {"{peer_name: \"*\"}", {NULL}, {AUTH_WARN}},  /* no verified sender in these */
    {"{facility: auth, not: {severity: [info]}}", {AUTH_WARN}, {AUTH_INFO, NGINX_ERR}},
    {"{not: {program: CRON, severity: info}}", {AUTH_WARN, AUTH_INFO, PHP_DEBUG},
     {CRON_INFO}},
    {"{hostname: \"web*\", severity: err}", {NGINX_ERR}, {AUTH_WARN, PHP_DEBUG}},
};

static void test_where_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct match_case *mc = &match_cases[i];
        struct tl_conf_errors errs = {0};
        char text[1024];
        struct tl_conf *c;

        snprintf(text, sizeof(text), HEAD "    where: %s\n", mc->where);
        c = load(text, &errs);
        if (c == NULL) {
            print_message("case %zu (%s): %s\n", i, mc->where, errs.n ? errs.lines[0] : "");
        }
        assert_non_null(c);
        tl_conf_errors_fini(&errs);
        assert_non_null(c->routes[0].where);
        for (size_t j = 0; j < 4 && mc->yes[j] != NULL; j++) {
            if (!matches(c->routes[0].where, mc->yes[j])) {
                print_message("case %zu (%s) should carry %s\n", i, mc->where, mc->yes[j]);
                fail();
            }
        }
        for (size_t j = 0; j < 4 && mc->no[j] != NULL; j++) {
            if (matches(c->routes[0].where, mc->no[j])) {
                print_message("case %zu (%s) should not carry %s\n", i, mc->where, mc->no[j]);
                fail();
            }
        }
        tl_conf_free(c);
    }
}

/* No where:, or one without keys: no filter, nothing to evaluate per message. */
static void test_where_absent(void **state)
{
    static const char *const texts[] = {HEAD, HEAD "    where: {}\n"};
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        struct tl_conf_errors errs = {0};
        struct tl_conf *c = load(texts[i], &errs);

        assert_non_null(c);
        tl_conf_errors_fini(&errs);
        assert_null(c->routes[0].where);
        tl_conf_free(c);
    }
}

/* The same pair in two routes: allowed when both select (either matching is enough). */
static void test_where_shared_pair(void **state)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c;

    (void)state;
    c = load(HEAD "    where: {facility: auth}\n"
                  "  - from: a\n    to: o\n    where: {program: nginx}\n", &errs);
    assert_non_null(c);
    tl_conf_errors_fini(&errs);
    assert_int_equal(c->n_routes, 2);
    tl_conf_free(c);
    c = load(HEAD "  - from: a\n    to: o\n    where: {program: nginx}\n", &errs);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.lines[0], "t.yaml:11: routes[1]: input 'a' already goes to output "
                        "'o' by routes[0] at line 9, so one of the two routes adds nothing; "
                        "remove it, or give both a where:");
    tl_conf_errors_fini(&errs);
}

struct error_case {
    const char *where;  /* lines from 11 on */
    const char *want;   /* the one error */
};

static const struct error_case error_cases[] = {
    {"    where: auth\n",
     "t.yaml:11: routes[0].where: expected a mapping of filter keys (facility, severity, "
     "program, hostname, peer_name, message, not), got a single value"},
    {"    where: {severity: warnin}\n",
     "t.yaml:11: routes[0].where.severity: unknown severity 'warnin'; use emerg, alert, crit, "
     "err, warning, notice, info, debug or 0..7"},
    {"    where:\n      message:\n        - ok\n        - \"err(or\"\n",
     "t.yaml:14: routes[0].where.message[1]: invalid regex 'err(or': missing closing "
     "parenthesis at offset 6"},
    {"    where:\n      not:\n        facility: [user, nosuch]\n",
     "t.yaml:13: routes[0].where.not.facility[1]: unknown facility 'nosuch'; use kern, user, "
     "mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, "
     "console, solaris-cron, local0 .. local7 or 0..23"},
    {"    where: {program: \"[abc\"}\n",
     "t.yaml:11: routes[0].where.program: glob '[abc': '[' is not closed (write \\[ for a literal "
     "bracket) at offset 0"},
    {"    where: {programm: nginx}\n",
     "t.yaml:11: unknown key 'programm' in routes[0].where; allowed: facility, severity, "
     "program, hostname, peer_name, message, not; did you mean 'program'?"},
    {"    where: {facility: {a: b}}\n",
     "t.yaml:11: routes[0].where.facility: expected a value or a list of values, got a "
     "mapping"},
    {"    where: {program: [nginx, ~]}\n",
     "t.yaml:11: routes[0].where.program[1]: expected a value, got nothing"},
    {"    where:\n      facility: []\n",
     "t.yaml:12: routes[0].where.facility: an empty list matches nothing; remove the key or "
     "give it values"},
    {"    where: {not: {not: {severity: debug}}}\n",
     "t.yaml:11: routes[0].where.not.not: a not: cannot hold another not:; write the keys to "
     "leave out directly in the first one"},
};

static void test_where_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        struct tl_conf_errors errs = {0};
        char text[1024];
        struct tl_conf *c;

        snprintf(text, sizeof(text), HEAD "%s", error_cases[i].where);
        c = load(text, &errs);
        if (c != NULL) {
            print_message("case %zu loaded\n", i);
        }
        assert_null(c);
        if (errs.n != 1 || strcmp(errs.lines[0], error_cases[i].want) != 0) {
            print_message("case %zu\n  want: %s\n", i, error_cases[i].want);
            for (size_t j = 0; j < errs.n; j++) {
                print_message("  got: %s\n", errs.lines[j]);
            }
            fail();
        }
        tl_conf_errors_fini(&errs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_where_keys),
        cmocka_unit_test(test_where_absent),
        cmocka_unit_test(test_where_shared_pair),
        cmocka_unit_test(test_where_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
