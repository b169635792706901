/*
 * test_conf_keys.c: the configuration's key tables (conf/keys.h) and the operations of each
 * key type (tl_conf_ktypes, values.c), on their own: every row is consistent (its default
 * parses and lies in its range, its help fits a Markdown table, ...), and each type parses,
 * refuses with its sentence, stores, and describes itself. test_conf.c tests the same through
 * whole configuration files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/keys.h"
#include "core/text.h"

/* Room for any section's struct, suitably aligned. */
union base {
    struct tl_conf conf;
    struct tl_conf_input input;
    struct tl_conf_output output;
    struct tl_conf_tls tls;
    struct tl_conf_route route;
};

static const struct key *key_of(const struct section *sec, const char *name)
{
    int i = tl_conf_key_index(sec, name);

    assert_true(i >= 0);
    return &sec->keys[i];
}

/* Sets text for k into base with k's type's operation; returns its result, the cause in err. */
static enum tl_rc set(const struct key *k, union base *base, const char *text, uint64_t *num,
                      struct tl_err *err)
{
    char shown[TL_SHOW_LEN];
    struct kvalue v = {text, strlen(text), shown};
    uint64_t n = 0;

    tl_show_text(text, strlen(text), shown, sizeof(shown));
    memset(err, 0, sizeof(*err));
    return tl_conf_ktypes[k->type].set(k, base, &v, num != NULL ? num : &n, err);
}

/* Frees a KS_STRING field set into base. */
static void free_field(const struct key *k, union base *base)
{
    char *s;

    if (tl_conf_ktypes[k->type].store == KS_STRING) {
        memcpy(&s, (unsigned char *)base + k->off, sizeof(s));
        free(s);
    }
}

static void expect_refused(const struct section *sec, const char *name, const char *text,
                           const char *cause)
{
    union base base;
    struct tl_err err;

    memset(&base, 0, sizeof(base));
    assert_int_equal(set(key_of(sec, name), &base, text, NULL, &err), TL_E_CONFIG);
    assert_string_equal(err.cause, cause);
}

static uint64_t expect_number(const struct section *sec, const char *name, const char *text)
{
    union base base;
    struct tl_err err;
    uint64_t n = UINT64_MAX;

    memset(&base, 0, sizeof(base));
    if (set(key_of(sec, name), &base, text, &n, &err) != TL_OK) {
        fail_msg("%s: '%s' refused: %s", name, text, err.cause);
    }
    return n;
}

/* ---- the tables ------------------------------------------------------------------------- */

/* A failed rule names the row. */
#define ROW(cond)                                                                              \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fail_msg("%s.%s: %s", sec->title, k->name, #cond);                                 \
        }                                                                                      \
    } while (0)

static void check_key(const struct section *sec, size_t i)
{
    const struct key *k = &sec->keys[i];
    const struct ktype_ops *ops;
    size_t n_kinds = 0;

    ROW(k->type < KT_COUNT);
    ops = &tl_conf_ktypes[k->type];
    ROW(tl_conf_key_index(sec, k->name) == (int)i);
    ROW(k->help != NULL);
    /* One cell of a Markdown table each. */
    ROW(strchr(k->help, '|') == NULL);
    ROW(k->doc_def == NULL || strchr(k->doc_def, '|') == NULL);
    ROW((k->type == KT_ENUM) == (k->words != NULL));
    ROW(k->type == KT_ENUM || (k->synonyms == NULL && k->refused == NULL));
    ROW((k->refused == NULL) == (k->refused_why == NULL));
    ROW(ops->store != KS_STRLIST || (k->check != NULL && k->count_off != k->off));
    ROW(ops->show == NULL || (k->min <= k->max && k->max > 0));
    while (sec->kind_words != NULL && sec->kind_words[n_kinds] != NULL) {
        n_kinds++;
    }
    ROW(k->applies == 0 || (n_kinds > 0 && (k->applies >> n_kinds) == 0));
    ROW(k->required == 0 || k->required == ALWAYS ||
        (n_kinds > 0 && (k->required >> n_kinds) == 0));
    if (k->def != NULL) {
        union base base;
        struct tl_err err;
        uint64_t n = 0;

        /* A default is a value like any other: it parses, and lies in the key's range. */
        ROW(ops->set != NULL);
        memset(&base, 0, sizeof(base));
        if (set(k, &base, k->def, &n, &err) != TL_OK) {
            fail_msg("%s.%s: the default '%s' is refused: %s", sec->title, k->name, k->def,
                     err.cause);
        }
        free_field(k, &base);
    }
}

static void test_tables_consistent(void **state)
{
    size_t n_sections = 0;

    (void)state;
    for (size_t s = 0; tl_conf_sections[s] != NULL; s++) {
        const struct section *sec = tl_conf_sections[s];

        n_sections++;
        assert_true(sec->n_keys > 0 && sec->n_keys <= MAX_KEYS);
        assert_non_null(sec->title);
        assert_non_null(sec->plural);
        if (sec->kind_key != NULL) {
            assert_non_null(sec->kind_words);
        }
        if (sec->kind_key != NULL && !sec->kind_from_parent) {
            assert_int_equal(key_of(sec, sec->kind_key)->type, KT_ENUM);
        }
        for (size_t i = 0; i < sec->n_keys; i++) {
            check_key(sec, i);
        }
    }
    assert_int_equal(n_sections, 10); /* top, input, output, queue, route, where, rate, tls,
                                         * metrics, sasl */
}

/* Every type has its row: how it is described, and what the loader does with it. */
static void test_ktypes_complete(void **state)
{
    (void)state;
    for (int t = 0; t < KT_COUNT; t++) {
        const struct ktype_ops *ops = &tl_conf_ktypes[t];

        assert_non_null(ops->expected);
        assert_non_null(ops->expected_post);
        assert_non_null(ops->doc);
        assert_true(ops->expected[0] != '\0');
        assert_true(ops->doc[0] != '\0' || ops->words);
        /* Without a set operation, the value is a list or a block: nothing is stored by
         * the type (a list of strings by the loader). */
        if (ops->set == NULL) {
            assert_true(ops->store == KS_NONE || ops->store == KS_STRLIST);
        }
        assert_true(ops->show == NULL || ops->store == KS_NUMBER);
    }
    assert_true(tl_conf_ktypes[KT_ENUM].words);
}

/* ---- one value of each type ------------------------------------------------------------- */

static void test_numbers(void **state)
{
    const struct section *top = &tl_conf_top_section;
    const struct section *in = &tl_conf_input_section;

    (void)state;
    assert_int_equal(expect_number(top, "partial_frame_budget", "1 MiB"), 1024 * 1024);
    assert_int_equal(expect_number(in, "idle_timeout", "250ms"), 250);
    assert_int_equal(expect_number(in, "idle_timeout", "2"), 2000);
    assert_int_equal(expect_number(in, "max_connections", "1000000"), 1000000);
    assert_int_equal(expect_number(in, "socket_mode", "0o640"), 0640);
    assert_int_equal(expect_number(in, "hostname_must_match_cert", "Yes"), 1);
    expect_refused(top, "partial_frame_budget", "1k",
                   "'1k' is out of range; allowed: 64KiB..64GiB");
    expect_refused(top, "partial_frame_budget", "lots",
                   "'lots' is not a size; use a number of bytes, or a number with k, KiB, M, "
                   "MiB, G or GiB (e.g. 64KiB)");
    expect_refused(in, "idle_timeout", "25h", "'25h' is out of range; allowed: 0..24h");
    expect_refused(in, "idle_timeout", "1d",
                   "'1d' is not a duration; use a number with ms, s, m or h (e.g. 250ms, 5m), "
                   "or a bare number of seconds");
    expect_refused(in, "max_connections", "0", "'0' is out of range; allowed: 1..1000000");
    expect_refused(in, "max_connections", "99999999999999999999",
                   "'99999999999999999999' is out of range; allowed: 1..1000000");
    expect_refused(in, "max_connections", "-1",
                   "'-1' is not a whole number; allowed: 1..1000000");
    expect_refused(in, "socket_mode", "0800",
                   "'0800' is not an octal file mode; use up to 4 octal digits, e.g. \"0640\"");
    expect_refused(in, "socket_mode", "017777",
                   "'017777' is not an octal file mode; use up to 4 octal digits, e.g. \"0640\"");
    expect_refused(in, "hostname_must_match_cert", "on",
                   "'on' is not a boolean; use true, false, yes or no");
}

/* Words, synonyms that are taken but not listed, a word of another key refused with why. */
static void test_enum(void **state)
{
    const struct section *out = &tl_conf_output_section;
    const struct key *sync = key_of(out, "sync");

    (void)state;
    assert_int_equal(expect_number(out, "sync", "always"), TL_QSYNC_ALWAYS);
    assert_int_equal(expect_number(out, "sync", "TRUE"), TL_QSYNC_ALWAYS);
    assert_int_equal(expect_number(out, "sync", "no"), TL_QSYNC_NONE);
    assert_int_equal(expect_number(&tl_conf_queue_section, "sync", "interval"),
                     TL_QSYNC_INTERVAL);
    assert_int_equal(expect_number(out, "type", "forward"), TL_OUT_FORWARD);
    assert_int_equal(expect_number(out, "transport", "udp"), TL_TR_UDP);
    assert_int_equal(expect_number(&tl_conf_tls_section, "min_version", "1.3"), 13);
    expect_refused(out, "sync", "interval", sync->refused_why);
    expect_refused(out, "sync", "sometimes", "'sometimes' is not one of none, always");
    expect_refused(out, "transport", "unix", "'unix' is not one of tls, tcp, udp, relp");
}

static void test_texts(void **state)
{
    const struct section *in = &tl_conf_input_section;
    const struct key *name = key_of(in, "name");
    union base base;
    struct tl_err err;
    char long_path[109];
    char want[256];

    (void)state;
    memset(&base, 0, sizeof(base));
    assert_int_equal(set(name, &base, "tls-in.1", NULL, &err), TL_OK);
    assert_string_equal(base.input.name, "tls-in.1");
    /* A second value replaces the first (no leak: ASan checks). */
    assert_int_equal(set(name, &base, "b", NULL, &err), TL_OK);
    assert_string_equal(base.input.name, "b");
    free(base.input.name);
    expect_refused(in, "name", "a b",
                   "'a b' is not a valid name; use 1 to 64 letters, digits, '_', '.' or '-'");
    expect_refused(in, "path", "", "the path is empty");
    /* 108 bytes: one more than sun_path holds with its NUL; shown cut at 80. */
    memset(long_path, 'p', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    snprintf(want, sizeof(want), "'%.80s...' is too long for a unix socket (108 bytes; at most "
             "107)", long_path);
    expect_refused(in, "path", long_path, want);
    expect_refused(&tl_conf_output_section, "path", "logs/",
                   "'logs/' ends with '/'; it must name a file");
    expect_refused(&tl_conf_output_section, "path", "{hots}.log",
                   "unknown placeholder '{hots}' in '{hots}.log'; allowed: {hostname}, {app}, "
                   "{year}, {month}, {day}, {hour}, {facility}, {severity}, {input}, {peer_ip}, "
                   "{peer_name}");
    expect_refused(&tl_conf_tls_section, "ciphers", "", "the value is empty");
}

/* The listen address's default port is its input's transport's. */
static void test_listen(void **state)
{
    const struct key *listen = key_of(&tl_conf_input_section, "listen");
    static const struct {
        enum tl_transport transport;
        const char *text;
        const char *host;
        uint16_t port;
    } cases[] = {
        {TL_TR_TCP, "127.0.0.1", "127.0.0.1", 514},
        {TL_TR_TLS, "[::1]", "::1", 6514},
        {TL_TR_RELP, "localhost", "localhost", 2514},
        {TL_TR_UDP, ":1514", NULL, 1514},
    };
    union base base;
    struct tl_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&base, 0, sizeof(base));
        base.input.transport = cases[i].transport;
        assert_int_equal(set(listen, &base, cases[i].text, NULL, &err), TL_OK);
        if (cases[i].host == NULL) {
            assert_null(base.input.host);
        } else {
            assert_string_equal(base.input.host, cases[i].host);
        }
        assert_int_equal(base.input.port, cases[i].port);
        free(base.input.host);
    }
    expect_refused(&tl_conf_input_section, "listen", "1.2.3.4:99999",
                   "'1.2.3.4:99999' is not a listen address: port '99999' is out of range "
                   "0..65535; use host:port, [v6]:port, :port or port");
}

/* ---- describing keys -------------------------------------------------------------------- */

static void test_describe(void **state)
{
    const struct section *in = &tl_conf_input_section;
    char out[LIST_LEN];

    (void)state;
    assert_string_equal(tl_conf_range_text(key_of(&tl_conf_top_section, "partial_frame_budget"),
                                           out, sizeof(out)),
                        "64KiB..64GiB");
    assert_string_equal(tl_conf_expected_text(key_of(in, "idle_timeout"), out, sizeof(out)),
                        "a duration in 0..24h (e.g. 250ms, 1s, 5m)");
    assert_string_equal(tl_conf_expected_text(key_of(in, "max_connections"), out, sizeof(out)),
                        "a whole number in 1..1000000");
    assert_string_equal(tl_conf_expected_text(key_of(in, "framing"), out, sizeof(out)),
                        "one of auto, octet-counted, lf");
    assert_string_equal(tl_conf_expected_text(key_of(in, "tls"), out, sizeof(out)),
                        "a mapping of TLS settings");
    assert_string_equal(tl_conf_range_text(key_of(in, "name"), out, sizeof(out)), "");
    assert_string_equal(tl_conf_kinds_text(in, key_of(in, "max_handshakes")->applies, out,
                                           sizeof(out)),
                        "tls and relp");
    assert_string_equal(tl_conf_kinds_text(in, key_of(in, "listen")->required, out,
                                           sizeof(out)),
                        "udp, tcp, tls and relp");
}

/* What size and duration texts say, the loader reads back as the same number. */
static void test_texts_round_trip(void **state)
{
    static const uint64_t values[] = {0, 1, 480, 1024, 1536, 64 * KIB, 3 * MIB, GIB, 5 * GIB,
                                      999, SEC, 90 * SEC, MINUTE, 36 * MINUTE, HOUR, 24 * HOUR};
    char text[32];

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint64_t v = UINT64_MAX;

        assert_true(tl_parse_size(tl_conf_size_text(values[i], text, sizeof(text)), &v));
        assert_int_equal(v, values[i]);
        assert_true(tl_parse_duration_ms(tl_conf_duration_text(values[i], text, sizeof(text)),
                                         &v));
        assert_int_equal(v, values[i]);
    }
    assert_string_equal(tl_conf_size_text(1536, text, sizeof(text)), "1536");
    assert_string_equal(tl_conf_duration_text(90 * SEC, text, sizeof(text)), "90s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_consistent),
        cmocka_unit_test(test_ktypes_complete),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_texts_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
