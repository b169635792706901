/*
 * test_conf_diff.c: what a reload changes (tl_conf_diff, conf.h): inputs and outputs matched
 * by name, kept only when every setting is equal (but the TLS keys a reload swaps into the
 * running context), routes compared by name, and the top-level keys that need a restart.
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
#include "conf/keys.h"

static struct tl_conf *load(const char *text)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = tl_conf_load_string(text, strlen(text), "t.yaml", &errs);
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "%s\n", errs.lines[i]);
    }
    tl_conf_errors_fini(&errs);
    assert_non_null(c);
    return c;
}

#define BASE_INPUTS                                                                             \
    "inputs:\n"                                                                                 \
    "  - {name: a, transport: tcp, listen: \"127.0.0.1:0\"}\n"                                  \
    "  - {name: b, transport: udp, listen: \"127.0.0.1:0\"}\n"                                  \
    "  - name: t\n"                                                                             \
    "    transport: tls\n"                                                                      \
    "    listen: \"127.0.0.1:0\"\n"                                                             \
    "    tls: {cert_file: /c.pem, key_file: /k.pem%s}\n"

/* One configuration from its parts (each a format argument of the template). */
static struct tl_conf *make(const char *tls_extra, const char *more_inputs, const char *outputs,
                            const char *routes, const char *top)
{
    char text[4096];
    char inputs[1024];
    snprintf(inputs, sizeof(inputs), BASE_INPUTS, tls_extra);
    snprintf(text, sizeof(text), "%s%s%soutputs:\n%s%s", top, inputs, more_inputs, outputs,
             routes);
    return load(text);
}

static const char *const OUTS = "  - {name: f, type: file, path: /tmp/f.log}\n"
                                "  - {name: g, type: file, path: /tmp/g.log}\n";

static void diff(const struct tl_conf *a, const struct tl_conf *b, struct tl_conf_diff *d)
{
    assert_true(tl_conf_diff(a, b, d));
}

static void test_identical_files_keep_everything(void **state)
{
    (void)state;
    struct tl_conf *a = make("", "", OUTS, "", "");
    struct tl_conf *b = make("", "", OUTS, "", "");
    struct tl_conf_diff d;
    diff(a, b, &d);
    assert_int_equal(d.in_kept, 3);
    assert_int_equal(d.in_added + d.in_changed + d.in_removed, 0);
    assert_int_equal(d.out_kept, 2);
    assert_int_equal(d.out_added + d.out_changed + d.out_removed, 0);
    for (long i = 0; i < 3; i++) {
        assert_int_equal(d.in_match[i], i);
    }
    assert_true(d.routes_same);
    tl_conf_diff_fini(&d);
    tl_conf_free(a);
    tl_conf_free(b);
}

static void test_added_removed_changed(void **state)
{
    (void)state;
    struct tl_conf *a = make("", "  - {name: gone, transport: tcp, listen: \"127.0.0.1:0\"}\n",
                             OUTS, "", "");
    /* b: input a listens elsewhere (changed), gone is gone, new is new; output g writes
     * another path (changed), h is new; the order differs (matching is by name). */
    const char *outs_b = "  - {name: h, type: stdout}\n"
                         "  - {name: g, type: file, path: /tmp/g2.log}\n"
                         "  - {name: f, type: file, path: /tmp/f.log}\n";
    char text[2048];
    snprintf(text, sizeof(text),
             "inputs:\n"
             "  - {name: new, transport: udp, listen: \"127.0.0.1:0\"}\n"
             "  - {name: t, transport: tls, listen: \"127.0.0.1:0\", tls: {cert_file: /c.pem, "
             "key_file: /k.pem}}\n"
             "  - {name: b, transport: udp, listen: \"127.0.0.1:0\"}\n"
             "  - {name: a, transport: tcp, listen: \"127.0.0.1:1\"}\n"
             "outputs:\n%s",
             outs_b);
    struct tl_conf *b = load(text);
    struct tl_conf_diff d;
    diff(a, b, &d);
    assert_int_equal(d.in_kept, 2);    /* t, b */
    assert_int_equal(d.in_added, 1);   /* new */
    assert_int_equal(d.in_changed, 1); /* a */
    assert_int_equal(d.in_removed, 1); /* gone */
    assert_int_equal(d.in_match[0], -1);
    assert_int_equal(d.in_match[1], 2); /* t is a's third input */
    assert_int_equal(d.in_match[2], 1);
    assert_int_equal(d.in_match[3], -1);
    assert_int_equal(d.out_kept, 1);
    assert_int_equal(d.out_added, 1);
    assert_int_equal(d.out_changed, 1);
    assert_int_equal(d.out_removed, 0);
    assert_int_equal(d.out_match[0], -1);
    assert_int_equal(d.out_match[1], -1);
    assert_int_equal(d.out_match[2], 0);
    /* No routes in either: every input to every output, and the names differ. */
    assert_false(d.routes_same);
    tl_conf_diff_fini(&d);
    tl_conf_free(a);
    tl_conf_free(b);
}

/* The keys of the TLS context (files, policy) are reloaded into the running input; a key
 * outside it (handshake_timeout) makes the input changed. */
static void test_tls_keys(void **state)
{
    (void)state;
    struct tl_conf *a = make("", "", OUTS, "", "");
    struct tl_conf *files = make(", auth: certvalid, ca_file: /ca.pem, min_version: \"1.3\"", "",
                                 OUTS, "", "");
    struct tl_conf *timeout = make(", handshake_timeout: 3s", "", OUTS, "", "");
    struct tl_conf_diff d;
    diff(a, files, &d);
    assert_int_equal(d.in_kept, 3);
    tl_conf_diff_fini(&d);
    diff(a, timeout, &d);
    assert_int_equal(d.in_kept, 2);
    assert_int_equal(d.in_changed, 1);
    assert_int_equal(d.in_match[2], -1);
    tl_conf_diff_fini(&d);
    tl_conf_free(a);
    tl_conf_free(files);
    tl_conf_free(timeout);
}

/* Every key counts, nested blocks included (queue:), and a default written out is no change. */
static void test_every_key_counts(void **state)
{
    (void)state;
    static const char *const changed[] = {
        "  - {name: f, type: file, path: /tmp/f.log, format: json}\n",
        "  - {name: f, type: file, path: /tmp/f.log, flush_interval: 2s}\n",
        "  - {name: f, type: file, path: /tmp/f.log, queue: {memory_messages: 5}}\n",
        "  - {name: f, type: file, path: /tmp/f.log, queue: {full: drop}}\n",
        "  - {name: f, type: stdout}\n",
    };
    struct tl_conf *a = make("", "", OUTS, "", "");
    for (size_t k = 0; k < sizeof(changed) / sizeof(changed[0]); k++) {
        char outs[512];
        snprintf(outs, sizeof(outs), "%s  - {name: g, type: file, path: /tmp/g.log}\n",
                 changed[k]);
        struct tl_conf *b = make("", "", outs, "", "");
        struct tl_conf_diff d;
        diff(a, b, &d);
        assert_int_equal(d.out_changed, 1);
        assert_int_equal(d.out_match[0], -1);
        assert_int_equal(d.out_match[1], 1);
        tl_conf_diff_fini(&d);
        tl_conf_free(b);
    }
    struct tl_conf *defaults = make(
        "", "",
        "  - {name: f, type: file, path: /tmp/f.log, format: rfc3164, flush_interval: 1s}\n"
        "  - {name: g, type: file, path: /tmp/g.log, queue: {memory_messages: 100000}}\n",
        "", "");
    struct tl_conf_diff d;
    diff(a, defaults, &d);
    assert_int_equal(d.out_kept, 2);
    tl_conf_diff_fini(&d);
    tl_conf_free(defaults);
    tl_conf_free(a);
}

static void test_routes(void **state)
{
    (void)state;
    const char *r1 = "routes:\n"
                     "  - {from: [a, t], to: f}\n"
                     "  - {from: b, to: g}\n";
    /* The same pairs written differently. */
    const char *r2 = "routes:\n"
                     "  - {from: b, to: g}\n"
                     "  - {from: t, to: f}\n"
                     "  - {from: a, to: f}\n";
    const char *r3 = "routes:\n"
                     "  - {from: [a, t], to: f}\n"
                     "  - {from: b, to: [g, f]}\n";
    struct tl_conf *a = make("", "", OUTS, r1, "");
    struct tl_conf *b = make("", "", OUTS, r2, "");
    struct tl_conf *c = make("", "", OUTS, r3, "");
    struct tl_conf_diff d;
    diff(a, b, &d);
    assert_true(d.routes_same);
    assert_int_equal(d.out_kept, 2);
    tl_conf_diff_fini(&d);
    diff(a, c, &d);
    assert_false(d.routes_same);
    assert_int_equal(d.in_kept, 3); /* routes do not change an input or an output */
    assert_int_equal(d.out_kept, 2);
    tl_conf_diff_fini(&d);
    assert_true(tl_conf_routed(c, 1, 0));
    assert_false(tl_conf_routed(a, 1, 0));
    tl_conf_free(a);
    tl_conf_free(b);
    tl_conf_free(c);
}

/* A where: counts in "the same routes": the same filter written in another order or style
 * is the same; another value, a filter added or removed, or a not: is not. */
static void test_routes_where(void **state)
{
    (void)state;
    const char *const variants[] = {
        /* 0 */ "routes:\n"
                "  - {from: a, to: f, where: {facility: [auth, authpriv], program: \"ssh*\"}}\n"
                "  - {from: [b, t], to: g}\n",
        /* 1: 0 in another order and style */
                "routes:\n"
                "  - {from: [b, t], to: g}\n"
                "  - from: a\n"
                "    to: f\n"
                "    where:\n"
                "      program: 'ssh*'\n"
                "      facility:\n"
                "        - auth\n"
                "        - authpriv\n",
        /* 2: another value */
                "routes:\n"
                "  - {from: a, to: f, where: {facility: [auth, authpriv], program: \"sshd\"}}\n"
                "  - {from: [b, t], to: g}\n",
        /* 3: one item fewer */
                "routes:\n"
                "  - {from: a, to: f, where: {facility: [auth], program: \"ssh*\"}}\n"
                "  - {from: [b, t], to: g}\n",
        /* 4: no filter */
                "routes:\n"
                "  - {from: a, to: f}\n"
                "  - {from: [b, t], to: g}\n",
        /* 5: the same keys under not: */
                "routes:\n"
                "  - {from: a, to: f, where: {not: {facility: [auth, authpriv], "
                "program: \"ssh*\"}}}\n"
                "  - {from: [b, t], to: g}\n",
        /* 6: a single value where 3 has a list of one (severity-style difference) */
                "routes:\n"
                "  - {from: a, to: f, where: {facility: auth, program: \"ssh*\"}}\n"
                "  - {from: [b, t], to: g}\n",
    };
    enum { N = sizeof(variants) / sizeof(variants[0]) };
    struct tl_conf *c[N];
    for (size_t i = 0; i < N; i++) {
        c[i] = make("", "", OUTS, variants[i], "");
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < N; j++) {
            struct tl_conf_diff d;
            diff(c[i], c[j], &d);
            bool same = i == j || (i <= 1 && j <= 1);
            if (d.routes_same != same) {
                fail_msg("variants %zu and %zu: routes_same %d", i, j, d.routes_same);
            }
            tl_conf_diff_fini(&d);
        }
    }
    for (size_t i = 0; i < N; i++) {
        tl_conf_free(c[i]);
    }
}

static void test_restart_keys(void **state)
{
    (void)state;
    struct tl_conf *a = make("", "", OUTS, "", "workers: 2\nlog_level: info\n");
    struct tl_conf *b = make("", "", OUTS, "",
                             "workers: 3\nlog_level: debug\npartial_frame_budget: 1MiB\n");
    struct tl_conf *c = make("", "", OUTS, "", "workers: 2\nlog_level: debug\n");
    const char *names[4];
    assert_int_equal(tl_conf_restart_keys(a, b, names, 4), 2);
    assert_string_equal(names[0], "workers");
    assert_string_equal(names[1], "partial_frame_budget");
    assert_int_equal(tl_conf_restart_keys(a, c, names, 4), 0);
    tl_conf_free(a);
    tl_conf_free(b);
    tl_conf_free(c);
}

/* The diff writes scalar keys from the tables by themselves; a structured key (a mapping, a
 * list) it must write by hand (diff.c: write_input, write_output). A new structured key type
 * in an input or output fails here until the diff compares it. */
static void test_structured_keys_are_compared(void **state)
{
    (void)state;
    const struct section *const secs[] = {&tl_conf_input_section, &tl_conf_output_section,
                                          &tl_conf_queue_section, &tl_conf_tls_section,
                                          &tl_conf_sasl_section, &tl_conf_rate_section};
    for (size_t s = 0; s < sizeof(secs) / sizeof(secs[0]); s++) {
        for (size_t k = 0; k < secs[s]->n_keys; k++) {
            const struct key *key = &secs[s]->keys[k];
            if (tl_conf_ktypes[key->type].store != KS_NONE) {
                continue;
            }
            bool handled = key->type == KT_LISTEN || key->type == KT_TARGETS ||
                           key->type == KT_TLS || key->type == KT_QUEUE ||
                           key->type == KT_SASL || key->type == KT_PROPS ||
                           key->type == KT_RATELIMIT;
            if (!handled) {
                fail_msg("%s: key %s: the reload's diff (src/conf/diff.c) does not compare it",
                         secs[s]->title, key->name);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_files_keep_everything),
        cmocka_unit_test(test_added_removed_changed),
        cmocka_unit_test(test_tls_keys),
        cmocka_unit_test(test_every_key_counts),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_routes_where),
        cmocka_unit_test(test_restart_keys),
        cmocka_unit_test(test_structured_keys_are_compared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
