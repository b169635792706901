/*
 * test_template.c: templates with {placeholders} (parse/template.h): which texts are valid and
 * the exact sentence for those that are not, and each placeholder rendered from a parsed
 * message, with what a sender chose made safe as a path component.
 *
 * main() pins TZ to Central European rules (UTC+1, UTC+2 in summer): dates are the receive
 * time in local time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"
#include "core/msg.h"
#include "core/peer.h"
#include "parse/parse.h"
#include "parse/template.h"

#define TZ_CET "CET-1CEST,M3.5.0,M10.5.0/3"

/* 2026-07-04T21:30:00Z: 23:30 in CEST. */
#define RECV 1783200600LL

static struct tl_msg *mk(const char *s, int family)
{
    struct tl_msg *m = tl_msg_new_extra(s, strlen(s), 64);

    assert_non_null(m);
    m->recv_sec = RECV;
    m->peer.family = (uint16_t)family;
    m->peer.port = 514;
    if (family == AF_INET) {
        assert_int_equal(inet_pton(AF_INET, "192.0.2.1", m->peer.addr), 1);
    } else if (family == AF_INET6) {
        assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", m->peer.addr), 1);
    }
    tl_parse(m);
    return m;
}

/* Renders text for m as a file output does, and compares with want. */
static void expect_render(const char *text, const struct tl_msg *m, const char *want)
{
    struct tl_template *t = NULL;
    struct tl_err err;
    struct tl_buf b;

    assert_int_equal(tl_template_new(text, &t, &err), TL_OK);
    tl_buf_init(&b, 0);
    assert_true(tl_template_render(t, m, "tls-in", tl_template_put_path_component, &b));
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0) {
        fail_msg("%s:\n got  %.*s\n want %s", text, (int)b.len, (const char *)b.data, want);
    }
    tl_buf_fini(&b);
    tl_template_free(t);
}

/* text must be refused, by check and by new alike, with exactly the cause want. */
static void expect_refused(const char *text, const char *want)
{
    struct tl_template *t = (struct tl_template *)&t;
    struct tl_err err;

    memset(&err, 0, sizeof(err));
    assert_int_equal(tl_template_check(text, &err), TL_E_CONFIG);
    assert_string_equal(err.cause, want);
    memset(&err, 0, sizeof(err));
    assert_int_equal(tl_template_new(text, &t, &err), TL_E_CONFIG);
    assert_null(t);
    assert_string_equal(err.cause, want);
}

static void test_valid(void **state)
{
    static const char *const ok[] = {
        "/var/log/all.log",
        "{hostname}",
        "/l/{hostname}/{year}-{month}-{day}T{hour}.log",
        "{app}{facility}{severity}{input}{peer_ip}{peer_name}",
        "a}b.log",           /* a lone '}' is literal */
        "{hostname}}x",
        "",
    };
    struct tl_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (tl_template_check(ok[i], &err) != TL_OK) {
            fail_msg("'%s' refused: %s", ok[i], err.cause);
        }
    }
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("x/{hots}.log",
                   "unknown placeholder '{hots}' in 'x/{hots}.log'; allowed: {hostname}, {app}, "
                   "{year}, {month}, {day}, {hour}, {facility}, {severity}, {input}, {peer_ip}, "
                   "{peer_name}");
    expect_refused("x/{}.log",
                   "unknown placeholder '{}' in 'x/{}.log'; allowed: {hostname}, {app}, {year}, "
                   "{month}, {day}, {hour}, {facility}, {severity}, {input}, {peer_ip}, "
                   "{peer_name}");
    expect_refused("x/{hostname.log",
                   "unclosed '{' in 'x/{hostname.log'; placeholders look like {hostname}");
    expect_refused("{host{name}}",
                   "unclosed '{' in '{host{name}}'; placeholders look like {hostname}");
    /* Case matters; control bytes are shown escaped. */
    expect_refused("{Hostname}",
                   "unknown placeholder '{Hostname}' in '{Hostname}'; allowed: {hostname}, "
                   "{app}, {year}, {month}, {day}, {hour}, {facility}, {severity}, {input}, "
                   "{peer_ip}, {peer_name}");
    expect_refused("a\tb{",
                   "unclosed '{' in 'a\\x09b{'; placeholders look like {hostname}");
}

static void test_constant(void **state)
{
    struct tl_template *t;
    struct tl_err err;

    (void)state;
    assert_int_equal(tl_template_new("/var/log/a}.log", &t, &err), TL_OK);
    assert_true(tl_template_is_constant(t));
    tl_template_free(t);
    assert_int_equal(tl_template_new("/var/log/{app}.log", &t, &err), TL_OK);
    assert_false(tl_template_is_constant(t));
    tl_template_free(t);
    tl_template_free(NULL);
}

static void test_render_fields(void **state)
{
    struct tl_msg *m = mk("<34>1 2026-07-01T08:00:00Z web1.example.net nginx 42 ID7 - hello",
                          AF_INET);

    (void)state;
    /* 34: auth.crit. Dates: the receive time (2026-07-04 23:30 CEST), not the timestamp. */
    expect_render("/l/{hostname}/{app}.{facility}.{severity}/{year}-{month}-{day}T{hour}/"
                  "{input}-{peer_ip}-{peer_name}.log",
                  m, "/l/web1.example.net/nginx.auth.crit/2026-07-04T23/"
                  "tls-in-192.0.2.1-anonymous.log");
    tl_msg_unref(m);
}

static void test_render_peer_name(void **state)
{
    struct tl_msg *m = mk("<13>1 - h a - - - x", AF_INET6);
    const char *dns[] = {"client.example.net"};

    (void)state;
    m->peer_id = tl_peer_id_new(true, "client.example.net", "CN=client", "DNS:client.example.net",
                                "SHA256:00", dns, 1);
    assert_non_null(m->peer_id);
    expect_render("{peer_name}/{peer_ip}", m, "client.example.net/2001:db8::1");
    tl_msg_unref(m);
}

/* Without a HOSTNAME: the sender's address, or localhost for a unix socket. */
static void test_render_hostname_fallback(void **state)
{
    struct tl_msg *net = mk("<13>1 - - a - - - x", AF_INET);
    struct tl_msg *local = mk("<13>1 - - a - - - x", AF_UNIX);

    (void)state;
    expect_render("{hostname}.log", net, "192.0.2.1.log");
    expect_render("{hostname}.log", local, "localhost.log");
    tl_msg_unref(net);
    tl_msg_unref(local);
}

/* A sender's values cannot leave the directory: '/', a leading '.', control bytes become
 * '_'; an empty value is "-"; a value is cut at 128 bytes. */
static void test_render_component_safety(void **state)
{
    char text[512];
    char want[512];
    char host[200];
    struct tl_msg *m;

    (void)state;
    m = mk("<13>1 - ../../etc - - - - x", AF_INET);
    expect_render("/l/{hostname}/{app}", m, "/l/_._.._etc/-");
    tl_msg_unref(m);

    memset(host, 'h', 150);
    host[150] = '\0';
    snprintf(text, sizeof(text), "<13>1 - %s a - - - x", host);
    m = mk(text, AF_INET);
    snprintf(want, sizeof(want), "%.128s.log", host);
    expect_render("{hostname}.log", m, want);
    tl_msg_unref(m);

    /* Control bytes (which the parsers do not let into a field; a receiver may add one). */
    m = mk("<13>1 - h - - - - x", AF_INET);
    m->app_name = tl_msg_add(m, "a\x01" "b\x7f", 4);
    expect_render("{app}", m, "a_b_");
    tl_msg_unref(m);
}

/* A template that does not fit the buffer's max says so. */
static void test_render_cut(void **state)
{
    struct tl_msg *m = mk("<13>1 - host a - - - x", AF_INET);
    struct tl_template *t;
    struct tl_err err;
    struct tl_buf b;

    (void)state;
    assert_int_equal(tl_template_new("0123456789{hostname}", &t, &err), TL_OK);
    tl_buf_init(&b, 12);
    assert_false(tl_template_render(t, m, "in", tl_template_put_path_component, &b));
    tl_buf_fini(&b);
    tl_buf_init(&b, 14);
    assert_true(tl_template_render(t, m, "in", tl_template_put_path_component, &b));
    assert_memory_equal(b.data, "0123456789host", 14);
    tl_buf_fini(&b);
    tl_template_free(t);
    tl_msg_unref(m);
}

/* The list the docs print holds every placeholder the parser takes, and only those. */
static void test_placeholder_list(void **state)
{
    char text[64];
    struct tl_err err;

    (void)state;
    assert_int_equal(tl_template_n_placeholders, 11);
    for (size_t i = 0; i < tl_template_n_placeholders; i++) {
        assert_non_null(tl_template_placeholders[i].help);
        snprintf(text, sizeof(text), "{%s}", tl_template_placeholders[i].name);
        assert_int_equal(tl_template_check(text, &err), TL_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_render_fields),
        cmocka_unit_test(test_render_peer_name),
        cmocka_unit_test(test_render_hostname_fallback),
        cmocka_unit_test(test_render_component_safety),
        cmocka_unit_test(test_render_cut),
        cmocka_unit_test(test_placeholder_list),
    };

    setenv("TZ", TZ_CET, 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
