/*
 * test_conf.c: the configuration loader: valid files, every class of error with its exact
 * message, and the value syntaxes (sizes, durations, listen addresses).
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"

#define EXAMPLES TL_TEST_DATA "/../../examples"
#define DOCS TL_TEST_DATA "/../../docs/configuration.md"

/* A valid configuration to build variants on: lines 1-9. */
#define BASE_INPUTS \
    "inputs:\n" \
    "  - name: a\n" \
    "    transport: tcp\n" \
    "    listen: \"127.0.0.1:0\"\n"
#define BASE_OUTPUTS \
    "outputs:\n" \
    "  - name: o\n" \
    "    type: stdout\n"

static struct tl_conf *load(const char *text, struct tl_conf_errors *errs)
{
    return tl_conf_load_string(text, strlen(text), "t.yaml", errs);
}

static void print_errors(const struct tl_conf_errors *errs)
{
    size_t i;

    for (i = 0; i < errs->n; i++) {
        print_message("  got: %s\n", errs->lines[i]);
    }
}

/* Loads text, which must fail with exactly the expected lines (NULL-terminated), in order. */
static void expect_errors_v(const char *text, const char *const *want)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = load(text, &errs);
    size_t n = 0;
    size_t i;

    while (want[n] != NULL) {
        n++;
    }
    assert_null(c);
    if (errs.n != n) {
        print_errors(&errs);
    }
    assert_int_equal(errs.n, n);
    for (i = 0; i < n; i++) {
        if (strcmp(errs.lines[i], want[i]) != 0) {
            print_message("  want: %s\n", want[i]);
            print_errors(&errs);
        }
        assert_string_equal(errs.lines[i], want[i]);
    }
    tl_conf_errors_fini(&errs);
}

#define expect_errors(text, ...)                                   \
    do {                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};           \
        expect_errors_v((text), want_);                            \
    } while (0)

static struct tl_conf *load_ok(const char *text)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = load(text, &errs);

    if (c == NULL) {
        print_errors(&errs);
    }
    assert_non_null(c);
    assert_int_equal(errs.n, 0);
    tl_conf_errors_fini(&errs);
    return c;
}

/* ---- valid configurations -------------------------------------------------------------- */

static void test_examples_load(void **state)
{
    DIR *d = opendir(EXAMPLES);
    struct dirent *e;
    size_t n = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char path[1024];
        struct tl_conf_errors errs = {0};
        struct tl_conf *c;

        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", EXAMPLES, e->d_name);
        c = tl_conf_load_file(path, &errs);
        if (c == NULL) {
            print_message("%s:\n", path);
            print_errors(&errs);
        }
        assert_non_null(c);
        assert_string_equal(c->file, path);
        tl_conf_free(c);
        tl_conf_errors_fini(&errs);
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

static void test_embedded(void **state)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = tl_conf_load_string(tl_conf_embedded, strlen(tl_conf_embedded),
                                            "<embedded>", &errs);

    (void)state;
    if (c == NULL) {
        print_errors(&errs);
    }
    assert_non_null(c);
    assert_string_equal(c->file, "<embedded>");
    assert_int_equal(c->n_inputs, 2);
    assert_string_equal(c->inputs[0].name, "tcp");
    assert_int_equal(c->inputs[0].transport, TL_TR_TCP);
    assert_string_equal(c->inputs[0].host, "127.0.0.1");
    assert_int_equal(c->inputs[0].port, 5514);
    assert_string_equal(c->inputs[1].name, "udp");
    assert_int_equal(c->inputs[1].transport, TL_TR_UDP);
    assert_string_equal(c->inputs[1].host, "127.0.0.1");
    assert_int_equal(c->inputs[1].port, 5514);
    assert_int_equal(c->n_outputs, 1);
    assert_string_equal(c->outputs[0].name, "local");
    assert_int_equal(c->outputs[0].type, TL_OUT_FILE);
    assert_string_equal(c->outputs[0].path, "tlslogd-logs/{hostname}.log");
    assert_int_equal(c->outputs[0].format, TL_FMT_RFC3164);
    assert_int_equal(c->n_routes, 0);
    tl_conf_free(c);
    tl_conf_errors_fini(&errs);
}

static void test_defaults(void **state)
{
    struct tl_conf *c = load_ok("inputs:\n"
                                "  - {name: t, transport: tcp, listen: \"1.2.3.4\"}\n"
                                "  - {name: u, transport: udp, listen: \"9999\"}\n"
                                "  - {name: x, transport: unix, path: /tmp/x.sock}\n"
                                "outputs:\n"
                                "  - {name: f, type: file, path: \"f.log\"}\n"
                                "  - {name: s, type: stdout}\n");

    (void)state;
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->log_level, TL_LOG_INFO);
    assert_null(c->port_file);
    assert_int_equal(c->stats_interval_ms, 0);

    assert_int_equal(c->inputs[0].line, 2);
    assert_string_equal(c->inputs[0].host, "1.2.3.4");
    assert_int_equal(c->inputs[0].port, 514);
    assert_int_equal(c->inputs[0].framing, TL_FRAMING_AUTO);
    assert_int_equal(c->inputs[0].max_message_size, 65536);
    assert_int_equal(c->inputs[0].max_connections, 10000);
    assert_int_equal(c->inputs[0].max_conn_per_source, 64);
    assert_int_equal(c->inputs[0].idle_timeout_ms, 10 * 60 * 1000);
    assert_int_equal(c->inputs[0].recv_buffer, 0);
    assert_null(c->inputs[0].path);
    assert_int_equal(c->partial_frame_budget, 64 * 1024 * 1024);

    assert_null(c->inputs[1].host);
    assert_int_equal(c->inputs[1].port, 9999);
    assert_int_equal(c->inputs[1].recv_buffer, 0);

    assert_string_equal(c->inputs[2].path, "/tmp/x.sock");
    assert_int_equal(c->inputs[2].socket_mode, 0666);
    assert_null(c->inputs[2].host);

    assert_int_equal(c->outputs[0].line, 6);
    assert_int_equal(c->outputs[0].format, TL_FMT_RFC3164);
    assert_int_equal(c->outputs[0].flush_interval_ms, 1000);
    assert_int_equal(c->outputs[0].buffer_size, 65536);
    assert_int_equal(c->outputs[0].max_open_files, 256);
    assert_int_equal(c->outputs[0].file_mode, 0640);
    assert_int_equal(c->outputs[0].dir_mode, 0755);
    assert_int_equal(c->outputs[0].queue_messages, 100000);
    assert_int_equal(c->outputs[1].type, TL_OUT_STDOUT);
    assert_null(c->outputs[1].path);
    assert_int_equal(c->outputs[1].queue_messages, 100000);
    tl_conf_free(c);
}

static void test_every_key(void **state)
{
    struct tl_conf *c = load_ok("workers: \"8\"\n"
                                "log_level: debug\n"
                                "port_file: /tmp/ports\n"
                                "stats_interval: 90s\n"
                                "inputs:\n"
                                "  - name: T_1.x-y\n"
                                "    transport: tcp\n"
                                "    listen: \"[2001:db8::1]:6514\"\n"
                                "    framing: octet-counted\n"
                                "    max_message_size: 1MiB\n"
                                "    max_connections: 5\n"
                                "  - name: u\n"
                                "    transport: udp\n"
                                "    listen: :0\n"
                                "    recv_buffer: 8k\n"
                                "    max_message_size: 480\n"
                                "  - name: x\n"
                                "    transport: unix\n"
                                "    path: /tmp/x.sock\n"
                                "    socket_mode: 0660\n"
                                "    recv_buffer: 1 MiB\n"
                                "outputs:\n"
                                "  - name: f\n"
                                "    type: file\n"
                                "    path: \"/l/{hostname}/{app}-{year}{month}{day}{hour}-"
                                "{facility}.{severity}.{input}.{peer_ip}.{peer_name}\"\n"
                                "    format: json\n"
                                "    flush_interval: 250ms\n"
                                "    buffer_size: 4KiB\n"
                                "    max_open_files: 100000\n"
                                "    file_mode: 600\n"
                                "    dir_mode: \"0o700\"\n"
                                "    queue: {memory_messages: 100000000}\n"
                                "  - name: s\n"
                                "    type: stdout\n"
                                "    format: raw\n"
                                "    flush_interval: 0\n"
                                "routes:\n"
                                "  - from: T_1.x-y\n"
                                "    to: [f, s]\n"
                                "  - from: [u, x]\n"
                                "    to: s\n");

    (void)state;
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->log_level, TL_LOG_DEBUG);
    assert_string_equal(c->port_file, "/tmp/ports");
    assert_int_equal(c->stats_interval_ms, 90000);

    assert_string_equal(c->inputs[0].name, "T_1.x-y");
    assert_string_equal(c->inputs[0].host, "2001:db8::1");
    assert_int_equal(c->inputs[0].port, 6514);
    assert_int_equal(c->inputs[0].framing, TL_FRAMING_OCTET);
    assert_int_equal(c->inputs[0].max_message_size, 1024 * 1024);
    assert_int_equal(c->inputs[0].max_connections, 5);
    assert_null(c->inputs[1].host);
    assert_int_equal(c->inputs[1].port, 0);
    assert_int_equal(c->inputs[1].recv_buffer, 8192);
    assert_int_equal(c->inputs[1].max_message_size, 480);
    assert_int_equal(c->inputs[2].socket_mode, 0660);
    assert_int_equal(c->inputs[2].recv_buffer, 1024 * 1024);

    assert_int_equal(c->outputs[0].format, TL_FMT_JSON);
    assert_int_equal(c->outputs[0].flush_interval_ms, 250);
    assert_int_equal(c->outputs[0].buffer_size, 4096);
    assert_int_equal(c->outputs[0].max_open_files, 100000);
    assert_int_equal(c->outputs[0].file_mode, 0600);
    assert_int_equal(c->outputs[0].dir_mode, 0700);
    assert_int_equal(c->outputs[0].queue_messages, 100000000);
    assert_int_equal(c->outputs[1].format, TL_FMT_RAW);
    assert_int_equal(c->outputs[1].flush_interval_ms, 0);

    assert_int_equal(c->n_routes, 2);
    assert_int_equal(c->routes[0].line, 38);
    assert_int_equal(c->routes[0].n_from, 1);
    assert_int_equal(c->routes[0].from[0], 0);
    assert_int_equal(c->routes[0].n_to, 2);
    assert_int_equal(c->routes[0].to[0], 0);
    assert_int_equal(c->routes[0].to[1], 1);
    assert_int_equal(c->routes[1].n_from, 2);
    assert_int_equal(c->routes[1].from[0], 1);
    assert_int_equal(c->routes[1].from[1], 2);
    assert_int_equal(c->routes[1].n_to, 1);
    assert_int_equal(c->routes[1].to[0], 1);
    tl_conf_free(c);
}

/* Every word the tables accept is accepted by the other modules' parsers, and round-trips. */
static void test_enum_words(void **state)
{
    static const char *const framings[] = {"auto", "octet-counted", "lf"};
    static const char *const formats[] = {"rfc5424", "rfc3164", "json", "raw"};
    static const char *const levels[] = {"error", "warning", "notice", "info", "debug"};
    char text[512];
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        struct tl_conf *c;

        snprintf(text, sizeof(text), BASE_INPUTS "    framing: %s\n" BASE_OUTPUTS, framings[i]);
        c = load_ok(text);
        assert_string_equal(tl_framing_name(c->inputs[0].framing), framings[i]);
        tl_conf_free(c);
    }
    for (i = 0; i < 4; i++) {
        struct tl_conf *c;

        snprintf(text, sizeof(text), BASE_INPUTS BASE_OUTPUTS "    format: %s\n", formats[i]);
        c = load_ok(text);
        assert_string_equal(tl_format_name(c->outputs[0].format), formats[i]);
        tl_conf_free(c);
    }
    for (i = 0; i < 5; i++) {
        struct tl_conf *c;

        snprintf(text, sizeof(text), "log_level: %s\n" BASE_INPUTS BASE_OUTPUTS, levels[i]);
        c = load_ok(text);
        assert_string_equal(tl_log_level_name(c->log_level), levels[i]);
        tl_conf_free(c);
    }
    assert_string_equal(tl_transport_name(TL_TR_UDP), "udp");
    assert_string_equal(tl_transport_name(TL_TR_TCP), "tcp");
    assert_string_equal(tl_transport_name(TL_TR_UNIX), "unix");
    assert_string_equal(tl_transport_name((enum tl_transport)99), "?");
    assert_string_equal(tl_log_level_name((enum tl_log_level)9), "?");
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_missing_file(void **state)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = tl_conf_load_file("/nonexistent/tlslogd.yaml", &errs);

    (void)state;
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.lines[0],
                        "cannot read /nonexistent/tlslogd.yaml: No such file or directory");
    tl_conf_errors_fini(&errs);

    c = tl_conf_load_file(TL_TEST_DATA, &errs);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.lines[0], ": Is a directory"));
    tl_conf_errors_fini(&errs);

    /* errs may be NULL. */
    assert_null(tl_conf_load_file("/nonexistent/tlslogd.yaml", NULL));
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_errors("inputs:\n  - name: a\n    transport: [tcp\noutputs: {\n",
                  "t.yaml:4: YAML syntax error at column 8: did not find expected ',' or ']' "
                  "(while parsing a flow sequence that starts at line 3)");
    expect_errors("inputs:\n  - name: a\n   transport: tcp\n",
                  "t.yaml:3: YAML syntax error at column 4: did not find expected '-' "
                  "indicator (while parsing a block collection that starts at line 2); check "
                  "the indentation of line 3: its text starts in column 4, that of line 2 "
                  "above it in column 5 (the keys of one mapping, and the items of one list, "
                  "start in the same column; what belongs to a key is indented further)");
    /* Indented too far: libyaml's words say nothing of indentation; the hint does, and
     * compares with the line above that has content (the comment is skipped). */
    expect_errors("inputs:\n  - name: a\n     transport: udp\n",
                  "t.yaml:3: YAML syntax error at column 15: mapping values are not allowed in "
                  "this context; check the indentation of line 3: its text starts in column 6, "
                  "that of line 2 above it in column 5 (the keys of one mapping, and the items "
                  "of one list, start in the same column; what belongs to a key is indented "
                  "further); or, if its value contains ': ', quote the value");
    expect_errors("inputs:\n  - name: a\n    # the transport\n\n     transport: udp\n",
                  "t.yaml:5: YAML syntax error at column 6: did not find expected key (while "
                  "parsing a block mapping that starts at line 2); check the indentation of "
                  "line 5: its text starts in column 6, that of line 2 above it in column 5 "
                  "(the keys of one mapping, and the items of one list, start in the same "
                  "column; what belongs to a key is indented further)");
    expect_errors("tls:\n  ca_file: a.pem\n cert_file: b.pem\n",
                  "t.yaml:3: YAML syntax error at column 2: did not find expected key (while "
                  "parsing a block mapping that starts at line 1); check the indentation of "
                  "line 3: its text starts in column 2, that of line 2 above it in column 3 "
                  "(the keys of one mapping, and the items of one list, start in the same "
                  "column; what belongs to a key is indented further)");
    /* Lined up: then the likely cause is an unquoted ': ' in the value. */
    expect_errors("outputs:\n  - name: o\n    path: C: x.log\n",
                  "t.yaml:3: YAML syntax error at column 12: mapping values are not allowed in "
                  "this context; line 3 lines up with line 2 above it: if its value contains "
                  "': ', quote the value");
    expect_errors("inputs:\n\t- name: a\n",
                  "t.yaml:2: YAML syntax error at column 1: found character that cannot start "
                  "any token (while scanning for the next token that starts at line 2); "
                  "YAML does not allow tabs for indentation, use spaces");
    expect_errors("workers: \"\xff\"\n",
                  "t.yaml:1: cannot read the text: invalid leading UTF-8 octet (byte offset "
                  "10); the file must be UTF-8");
    expect_errors("base: &b {a: 1}\nother: *b\n",
                  "t.yaml:1: YAML anchors and aliases (&b, *name) are not supported; "
                  "write the value out");
    expect_errors("a: 1\n---\nb: 2\n",
                  "t.yaml:2: only one YAML document is allowed; remove this '---' and what "
                  "follows, or merge it into the first document");
    expect_errors("? [a, b]\n: c\n", "t.yaml:1: a mapping key must be a plain word, not a list");
}

static void test_top_level_shape(void **state)
{
    (void)state;
    expect_errors("", "t.yaml:1: the configuration is empty; it needs at least 'inputs' and "
                      "'outputs' (see examples/minimal.yaml)");
    expect_errors("# only a comment\n---\n",
                  "t.yaml:1: the configuration is empty; it needs at least 'inputs' and "
                  "'outputs' (see examples/minimal.yaml)");
    expect_errors("- a\n- b\n",
                  "t.yaml:1: the top level must be a mapping of keys (workers, log_level, "
                  "port_file, stats_interval, state_dir, partial_frame_budget, pid_file, user, "
                  "group, "
                  "metrics, tls, inputs, outputs, routes), not a list");
    expect_errors("workers: 1\n", "t.yaml:1: missing required key 'inputs' at top level",
                  "t.yaml:1: missing required key 'outputs' at top level");
    expect_errors("inputs: []\noutputs:\n",
                  "t.yaml:1: inputs: the list is empty; define at least one input",
                  "t.yaml:2: outputs: expected a list of outputs, got nothing");
    expect_errors("inputs:\n  a:\n    transport: tcp\n" BASE_OUTPUTS,
                  "t.yaml:2: inputs: expected a list of inputs (each item starting with '- '), "
                  "got a mapping");
    expect_errors(BASE_INPUTS "  - tcp\n" BASE_OUTPUTS,
                  "t.yaml:5: inputs[1]: expected a mapping with keys such as name, transport, "
                  "listen, got a single value");
}

/* pid_file, user, group and the metrics: block (issue 15). */
static void test_service_keys(void **state)
{
    struct tl_conf *c;

    (void)state;
    c = load_ok(BASE_INPUTS BASE_OUTPUTS);
    assert_null(c->pid_file);
    assert_null(c->user);
    assert_null(c->group);
    assert_int_equal(c->metrics.line, 0);
    assert_null(c->metrics.listen);
    tl_conf_free(c);

    c = load_ok("pid_file: /run/tlslogd/tlslogd.pid\nuser: _tlslogd\ngroup: nogroup\n"
                "metrics: {listen: \"127.0.0.1:9600\"}\n" BASE_INPUTS BASE_OUTPUTS);
    assert_string_equal(c->pid_file, "/run/tlslogd/tlslogd.pid");
    assert_string_equal(c->user, "_tlslogd");
    assert_string_equal(c->group, "nogroup");
    assert_int_equal(c->metrics.line, 4);
    assert_string_equal(c->metrics.host, "127.0.0.1");
    assert_int_equal(c->metrics.port, 9600);
    tl_conf_free(c);

    c = load_ok("metrics:\n  listen: \"[::1]\"\n" BASE_INPUTS BASE_OUTPUTS);
    assert_string_equal(c->metrics.host, "::1");
    assert_int_equal(c->metrics.port, 9514);
    tl_conf_free(c);

    expect_errors("metrics: \"127.0.0.1:9514\"\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: metrics: expected a mapping such as {listen: \"127.0.0.1:9514\"}, "
                  "got a single value");
    expect_errors("metrics: {}\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: metrics: missing required key 'listen'");
    expect_errors("metrics: {listen: \"127.0.0.1:99999\"}\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: metrics.listen: '127.0.0.1:99999' is not a listen address: port "
                  "'99999' is out of range 0..65535; use host:port, [v6]:port, :port or port");
    expect_errors("metrics: {listen: x, path: /m}\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: unknown key 'path' in metrics; allowed: listen");
    expect_errors("user: \"bad user\"\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: user: 'bad user' is not a valid name; use 1 to 64 letters, "
                  "digits, '_', '.' or '-'");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_errors(BASE_INPUTS "ouputs:\n  - name: o\n    type: stdout\n",
                  "t.yaml:1: missing required key 'outputs' at top level",
                  "t.yaml:5: unknown key 'ouputs' at top level; allowed: workers, log_level, "
                  "port_file, stats_interval, state_dir, partial_frame_budget, pid_file, user, "
                  "group, "
                  "metrics, tls, inputs, outputs, routes; did you mean 'outputs'?");
    expect_errors("tls:\n  ca_fiel: x\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:2: unknown key 'ca_fiel' in tls; allowed: ca_file, ca_dir, "
                  "cert_file, key_file, key_password_file, crl_file, min_version, ciphers, "
                  "ciphersuites, handshake_timeout, auth, permitted_peers, fingerprints; did "
                  "you mean 'ca_file'?");
    expect_errors(BASE_INPUTS "    trasnport: udp\n" BASE_OUTPUTS,
                  "t.yaml:5: unknown key 'trasnport' in inputs[0] (a); allowed: name, "
                  "transport, listen, path, socket_mode, systemd_socket, framing, "
                  "max_message_size, max_connections, max_connections_per_source, "
                  "max_handshakes, idle_timeout, recv_buffer, tls, hostname_must_match_cert, "
                  "start_at, tag, facility, severity, multiline_start, partial_timeout, "
                  "rate_limit, journal_dir; did you mean 'transport'?");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "    Format: json\n",
                  "t.yaml:8: unknown key 'Format' in outputs[0] (o); allowed: name, type, "
                  "path, format, flush_interval, buffer_size, max_open_files, file_mode, "
                  "dir_mode, sync, queue, targets, mode, hash_key, transport, framing, "
                  "relp_window, reconnect_min, reconnect_max, connect_timeout, tls, brokers, "
                  "topic, key, sasl, properties; did you mean 'format'?");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "routes:\n  - from: a\n    to: o\n    tp: o\n",
                  "t.yaml:11: unknown key 'tp' in routes[0]; allowed: from, to, where; did you mean "
                  "'to'?");
    expect_errors(BASE_INPUTS "    transport: udp\n" BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (a).transport: duplicate key; it was first given at "
                  "line 3");
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_errors("workers: 300\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: workers: '300' is out of range; allowed: 0..256");
    expect_errors("workers: -1\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: workers: '-1' is not a whole number; allowed: 0..256");
    expect_errors("workers: 99999999999999999999999\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: workers: '99999999999999999999999' is out of range; "
                  "allowed: 0..256");
    expect_errors("workers: [1]\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: workers: expected a whole number in 0..256, got a list");
    expect_errors("log_level: loud\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: log_level: 'loud' is not one of error, warning, notice, info, "
                  "debug");
    expect_errors("stats_interval: soon\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: stats_interval: 'soon' is not a duration; use a number with ms, "
                  "s, m or h (e.g. 250ms, 5m), or a bare number of seconds");
    expect_errors("stats_interval: 25h\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: stats_interval: '25h' is out of range; allowed: 0..24h");
    expect_errors("port_file:\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: port_file: expected a path, got nothing");
    expect_errors("port_file: \"\"\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: port_file: the path is empty");
    expect_errors("port_file: \"a\\0b\"\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: port_file: 'a\\x00b' contains a NUL byte");
    expect_errors(BASE_INPUTS "    max_message_size: \"12 parsecs\"\n" BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (a).max_message_size: '12 parsecs' is not a size; use a "
                  "number of bytes, or a number with k, KiB, M, MiB, G or GiB (e.g. 64KiB)");
    expect_errors(BASE_INPUTS "    max_message_size: 17MiB\n" BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (a).max_message_size: '17MiB' is out of range; "
                  "allowed: 480..16MiB");
    expect_errors(BASE_INPUTS "    max_connections: 0\n" BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (a).max_connections: '0' is out of range; "
                  "allowed: 1..1000000");
    expect_errors(BASE_INPUTS "    framing: magic\n" BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (a).framing: 'magic' is not one of auto, "
                  "octet-counted, lf");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "    file_mode: \"0999\"\n",
                  "t.yaml:8: outputs[0] (o).file_mode: file_mode applies only to file "
                  "outputs; this one's type is stdout");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "    flush_interval: 2h\n",
                  "t.yaml:8: outputs[0] (o).flush_interval: '2h' is out of range; "
                  "allowed: 0..1h");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "    buffer_size: 1k\n",
                  "t.yaml:8: outputs[0] (o).buffer_size: '1k' is out of range; "
                  "allowed: 4KiB..64MiB");
    expect_errors(BASE_INPUTS "outputs:\n  - name: o\n    type: file\n    path: o.log\n"
                  "    dir_mode: rwx\n    file_mode: 17777\n",
                  "t.yaml:9: outputs[0] (o).dir_mode: 'rwx' is not an octal file mode; use up "
                  "to 4 octal digits, e.g. \"0640\"",
                  "t.yaml:10: outputs[0] (o).file_mode: '17777' is not an octal file mode; use "
                  "up to 4 octal digits, e.g. \"0640\"");
    expect_errors("inputs:\n  - name: \"bad name\"\n    transport: tcp\n    listen: \"1\"\n"
                  BASE_OUTPUTS,
                  "t.yaml:2: inputs[0].name: 'bad name' is not a valid name; use 1 to 64 "
                  "letters, digits, '_', '.' or '-'");
    expect_errors(BASE_INPUTS "outputs:\n  - name: o\n    type: files\n",
                  "t.yaml:7: outputs[0] (o).type: 'files' is not one of file, stdout, "
                  "forward, kafka");
}

static void test_transport_rules(void **state)
{
    (void)state;
    expect_errors("inputs:\n"
                  "  - name: u\n"
                  "    transport: udp\n"
                  "  - name: x\n"
                  "    transport: unix\n"
                  "    listen: \"1.2.3.4:5\"\n"
                  "  - name: t\n"
                  "    transport: tcp\n"
                  "    listen: \":1\"\n"
                  "    path: /tmp/s\n"
                  "    socket_mode: \"0600\"\n"
                  "    recv_buffer: 1M\n"
                  "  - name: v\n"
                  "    transport: udp\n"
                  "    listen: \":2\"\n"
                  "    framing: lf\n"
                  "    max_connections: 10\n"
                  BASE_OUTPUTS,
                  "t.yaml:2: inputs[0] (u): missing required key 'listen' (udp, tcp, tls and "
                  "relp inputs need it)",
                  "t.yaml:4: inputs[1] (x): missing required key 'path' (unix and file inputs need it)",
                  "t.yaml:6: inputs[1] (x).listen: listen applies only to udp, tcp, tls and "
                  "relp inputs; this one's transport is unix",
                  "t.yaml:10: inputs[2] (t).path: path applies only to unix and file inputs; this "
                  "one's transport is tcp",
                  "t.yaml:11: inputs[2] (t).socket_mode: socket_mode applies only to unix "
                  "inputs; this one's transport is tcp",
                  "t.yaml:12: inputs[2] (t).recv_buffer: recv_buffer applies only to udp and "
                  "unix inputs; this one's transport is tcp",
                  "t.yaml:16: inputs[3] (v).framing: framing applies only to tcp and tls "
                  "inputs; this one's transport is udp",
                  "t.yaml:17: inputs[3] (v).max_connections: max_connections applies only to "
                  "tcp, tls and relp inputs; this one's transport is udp");
    expect_errors("inputs:\n"
                  "  - name: tcp-in\n"
                  "    transport: tpc\n"
                  "    listen: \":1\"\n"
                  "  - listen: \":2\"\n"
                  BASE_OUTPUTS,
                  "t.yaml:3: inputs[0] (tcp-in).transport: 'tpc' is not one of udp, tcp, unix, "
                  "tls, relp, file, journal, kmsg",
                  "t.yaml:5: inputs[1]: missing required key 'name'",
                  "t.yaml:5: inputs[1]: missing required key 'transport'");
    expect_errors(BASE_INPUTS "outputs:\n  - name: o\n    type: file\n",
                  "t.yaml:6: outputs[0] (o): missing required key 'path' (file outputs need "
                  "it)");
    expect_errors(BASE_INPUTS "  - name: x\n    transport: unix\n    path: "
                  "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" BASE_OUTPUTS,
                  "t.yaml:7: inputs[1] (x).path: '/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is too long for a unix socket (117 "
                  "bytes; at most 107)");
}

static void test_listen_errors(void **state)
{
    (void)state;
    expect_errors("inputs:\n  - name: a\n    transport: tcp\n    listen: \"127.0.0.1:99999\"\n"
                  BASE_OUTPUTS,
                  "t.yaml:4: inputs[0] (a).listen: '127.0.0.1:99999' is not a listen address: "
                  "port '99999' is out of range 0..65535; use host:port, [v6]:port, :port or "
                  "port");
    expect_errors("inputs:\n  - name: a\n    transport: tcp\n    listen: \"::1:514\"\n"
                  BASE_OUTPUTS,
                  "t.yaml:4: inputs[0] (a).listen: '::1:514' is not a listen address: an IPv6 "
                  "address needs brackets, e.g. [::1]:514 or [::]:514; use host:port, "
                  "[v6]:port, :port or port");
    /* Two listeners on one port; port 0 and different transports do not clash. */
    expect_errors("inputs:\n"
                  "  - {name: a, transport: tcp, listen: \"10.0.0.1:514\"}\n"
                  "  - {name: b, transport: udp, listen: \"10.0.0.1:514\"}\n"
                  "  - {name: c, transport: tcp, listen: \"514\"}\n"
                  "  - {name: d, transport: tcp, listen: \"[::1]:0\"}\n"
                  "  - {name: e, transport: tcp, listen: \"[::1]:0\"}\n"
                  "  - {name: f, transport: unix, path: /tmp/s}\n"
                  "  - {name: a, transport: unix, path: /tmp/s}\n"
                  BASE_OUTPUTS,
                  "t.yaml:4: inputs[2] (c).listen: inputs[0] (a) at line 2 already listens on "
                  "tcp 10.0.0.1:514",
                  "t.yaml:8: inputs[6] (a).name: duplicate input name 'a'; inputs[0] (a) at "
                  "line 2 already uses it",
                  "t.yaml:8: inputs[6] (a).path: inputs[5] (f) at line 7 already uses the "
                  "socket '/tmp/s'");
}

static void test_templates(void **state)
{
    (void)state;
    expect_errors(BASE_INPUTS "outputs:\n"
                  "  - name: central\n"
                  "    type: file\n"
                  "    path: x/{hots}.log\n"
                  "  - name: b\n"
                  "    type: file\n"
                  "    path: x/{hostname.log\n"
                  "  - name: c\n"
                  "    type: file\n"
                  "    path: x/{hostname}/\n"
                  "  - name: d\n"
                  "    type: file\n"
                  "    path: x/{}.log\n",
                  "t.yaml:8: outputs[0] (central).path: unknown placeholder '{hots}' in "
                  "'x/{hots}.log'; allowed: {hostname}, {app}, {year}, {month}, {day}, {hour}, "
                  "{facility}, {severity}, {input}, {peer_ip}, {peer_name}",
                  "t.yaml:11: outputs[1] (b).path: unclosed '{' in 'x/{hostname.log'; "
                  "placeholders look like {hostname}",
                  "t.yaml:14: outputs[2] (c).path: 'x/{hostname}/' ends with '/'; it must name "
                  "a file",
                  "t.yaml:17: outputs[3] (d).path: unknown placeholder '{}' in 'x/{}.log'; "
                  "allowed: {hostname}, {app}, {year}, {month}, {day}, {hour}, {facility}, "
                  "{severity}, {input}, {peer_ip}, {peer_name}");
    expect_errors(BASE_INPUTS "outputs:\n"
                  "  - {name: o1, type: file, path: same.log}\n"
                  "  - {name: o1, type: file, path: same.log}\n",
                  "t.yaml:7: outputs[1] (o1).name: duplicate output name 'o1'; outputs[0] (o1) "
                  "at line 6 already uses it",
                  "t.yaml:7: outputs[1] (o1).path: outputs[0] (o1) at line 6 already writes to "
                  "'same.log'");
}

static void test_routes(void **state)
{
    (void)state;
    expect_errors(BASE_INPUTS "  - {name: b, transport: udp, listen: \":1\"}\n" BASE_OUTPUTS
                  "routes:\n  - from: [a, nosuchinput]\n    to: [o]\n",
                  "t.yaml:10: routes[0].from: unknown input 'nosuchinput'; defined inputs: a, b");
    expect_errors(BASE_INPUTS "  - {name: tcp-in, transport: udp, listen: \":1\"}\n"
                  BASE_OUTPUTS "  - {name: p, type: stdout}\n"
                  "routes:\n  - from: tcp-inn\n    to: x\n  - from: [a, a]\n    to: []\n"
                  "  - from: {a: 1}\n    to: [[o]]\n  - to: o\n",
                  "t.yaml:11: routes[0].from: unknown input 'tcp-inn'; defined inputs: a, "
                  "tcp-in; did you mean 'tcp-in'?",
                  "t.yaml:12: routes[0].to: unknown output 'x'; defined outputs: o, p",
                  "t.yaml:13: routes[1].from: input 'a' is listed twice",
                  "t.yaml:14: routes[1].to: the list is empty; name at least one output",
                  "t.yaml:15: routes[2].from: expected an input name or a list of them, got a "
                  "mapping",
                  "t.yaml:16: routes[2].to: expected an output name, got a list",
                  "t.yaml:17: routes[3]: missing required key 'from'");
    /* Coverage: an input or output no route uses. */
    expect_errors(BASE_INPUTS "  - {name: b, transport: udp, listen: \":1\"}\n" BASE_OUTPUTS
                  "  - {name: p, type: stdout}\n"
                  "routes:\n  - from: a\n    to: o\n",
                  "t.yaml:5: inputs[1] (b): input 'b' is not used by any route; add it to a "
                  "route or remove it",
                  "t.yaml:9: outputs[1] (p): output 'p' is not used by any route; add it to a "
                  "route or remove it");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "routes:\n  - from: a\n    to: o\n"
                  "  - from: [a]\n    to: [o]\n",
                  "t.yaml:11: routes[1]: input 'a' already goes to output 'o' by routes[0] at "
                  "line 9, so one of the two routes adds nothing; remove it, or give both a "
                  "where:");
    expect_errors(BASE_INPUTS BASE_OUTPUTS "routes: []\n",
                  "t.yaml:8: routes: the list is empty; remove the key to send every input to "
                  "every output");
}

/* The example from the e2e tests: every error in one pass, in file order. */
static void test_many_errors(void **state)
{
    (void)state;
    expect_errors("workers: 2\n"
                  "inputs:\n"
                  "  - name: a\n"
                  "    transport: tcpx\n"
                  "    listen: \"127.0.0.1:0\"\n"
                  "  - name: b\n"
                  "    transport: udp\n"
                  "    listen: \"127.0.0.1:0\"\n"
                  "    max_message_size: \"12 parsecs\"\n"
                  "outputs:\n"
                  "  - name: o\n"
                  "    type: file\n"
                  "    path: out.log\n"
                  "    format: bogus\n"
                  "  - name: p\n"
                  "    type: file\n"
                  "    path: out2.log\n"
                  "    flush_interval: \"soon\"\n"
                  "routes:\n"
                  "  - from: [a, nosuchinput]\n"
                  "    to: [o]\n",
                  "t.yaml:4: inputs[0] (a).transport: 'tcpx' is not one of udp, tcp, unix, tls, "
                  "relp, file, journal, kmsg",
                  "t.yaml:9: inputs[1] (b).max_message_size: '12 parsecs' is not a size; use a "
                  "number of bytes, or a number with k, KiB, M, MiB, G or GiB (e.g. 64KiB)",
                  "t.yaml:14: outputs[0] (o).format: 'bogus' is not one of rfc5424, rfc3164, "
                  "json, raw",
                  "t.yaml:18: outputs[1] (p).flush_interval: 'soon' is not a duration; use a "
                  "number with ms, s, m or h (e.g. 250ms, 5m), or a bare number of seconds",
                  "t.yaml:20: routes[0].from: unknown input 'nosuchinput'; defined inputs: a, b");
}

static void test_error_cap(void **state)
{
    char *text = malloc(64 * 1024);
    size_t o = 0;
    struct tl_conf_errors errs = {0};
    int i;

    (void)state;
    assert_non_null(text);
    o += (size_t)snprintf(text + o, 64 * 1024 - o, BASE_INPUTS BASE_OUTPUTS);
    for (i = 0; i < 150; i++) {
        o += (size_t)snprintf(text + o, 64 * 1024 - o, "bad%d: 1\n", i);
    }
    assert_null(load(text, &errs));
    assert_int_equal(errs.n, 101);
    assert_string_equal(errs.lines[100], "t.yaml: 50 more errors not shown; fix the above first");
    tl_conf_errors_fini(&errs);
    free(text);
}

/* ---- TLS and forwarding ---------------------------------------------------------------- */

/* The top-level tls: block is inherited key by key; a local key replaces it, lists whole. */
static void test_tls_merge(void **state)
{
    struct tl_conf *c = load_ok("tls:\n"
                                "  ca_file: /etc/ca.pem\n"
                                "  cert_file: /etc/server.pem\n"
                                "  key_file: /etc/server.key\n"
                                "  min_version: 1.3\n"
                                "  ciphers: \"ECDHE+AESGCM\"\n"
                                "  permitted_peers: [\"*.example.net\", \"192.0.2.1\"]\n"
                                "inputs:\n"
                                "  - name: t1\n"
                                "    transport: tls\n"
                                "    listen: \"127.0.0.1\"\n"
                                "    hostname_must_match_cert: true\n"
                                "    framing: lf\n"
                                "    max_connections: 7\n"
                                "    tls:\n"
                                "      auth: name\n"
                                "      permitted_peers: [\"host.example.org\"]\n"
                                "      handshake_timeout: 250ms\n"
                                "  - name: t2\n"
                                "    transport: tls\n"
                                "    listen: \":0\"\n"
                                "    tls: {auth: anon}\n"
                                "outputs:\n"
                                "  - name: f\n"
                                "    type: forward\n"
                                "    targets: [\"loghost.example.net\", \"[2001:db8::1]:1514\"]\n"
                                "    tls:\n"
                                "      cert_file: /etc/client.pem\n"
                                "      key_file: /etc/client.key\n"
                                "      ca_dir: /etc/cas\n"
                                "      key_password_file: /etc/pw\n"
                                "      crl_file: /etc/crl.pem\n"
                                "      ciphersuites: TLS_AES_256_GCM_SHA384\n"
                                "      min_version: \"1.2\"\n"
                                "      fingerprints:\n"
                                "        - \"SHA256:00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:"
                                "0f:10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f\"\n"
                                "      auth: fingerprint\n"
                                "  - name: s\n"
                                "    type: stdout\n");
    const struct tl_conf_tls *top = &c->tls;
    const struct tl_conf_tls *t1 = &c->inputs[0].tls;
    const struct tl_conf_tls *t2 = &c->inputs[1].tls;
    const struct tl_conf_tls *o = &c->outputs[0].tls;

    (void)state;
    assert_int_equal(top->line, 1);
    assert_string_equal(top->ca_file, "/etc/ca.pem");
    assert_int_equal(top->min_version, 13);
    assert_int_equal(top->handshake_timeout_ms, 10000);
    assert_int_equal(top->auth, TL_AUTH_DEFAULT);
    assert_int_equal(top->n_permitted_peers, 2);

    /* t1: local auth, peers (replaced whole) and timeout; the rest inherited. */
    assert_int_equal(c->inputs[0].transport, TL_TR_TLS);
    assert_string_equal(c->inputs[0].host, "127.0.0.1");
    assert_int_equal(c->inputs[0].port, 6514);
    assert_true(c->inputs[0].hostname_must_match_cert);
    assert_int_equal(c->inputs[0].framing, TL_FRAMING_LF);
    assert_int_equal(c->inputs[0].max_connections, 7);
    assert_int_equal(t1->line, 15);
    assert_string_equal(t1->ca_file, "/etc/ca.pem");
    assert_null(t1->ca_dir);
    assert_string_equal(t1->cert_file, "/etc/server.pem");
    assert_string_equal(t1->key_file, "/etc/server.key");
    assert_null(t1->key_password_file);
    assert_null(t1->crl_file);
    assert_int_equal(t1->min_version, 13);
    assert_string_equal(t1->ciphers, "ECDHE+AESGCM");
    assert_null(t1->ciphersuites);
    assert_int_equal(t1->handshake_timeout_ms, 250);
    assert_int_equal(t1->auth, TL_AUTH_NAME);
    assert_int_equal(t1->n_permitted_peers, 1);
    assert_string_equal(t1->permitted_peers[0], "host.example.org");
    assert_int_equal(t1->n_fingerprints, 0);
    /* A copy, not the top-level block's strings. */
    assert_ptr_not_equal(t1->ca_file, top->ca_file);

    /* t2: everything but auth inherited (a CA with no auth is an error on an input). */
    assert_int_equal(c->inputs[1].port, 0);
    assert_false(c->inputs[1].hostname_must_match_cert);
    assert_int_equal(c->inputs[1].framing, TL_FRAMING_AUTO);
    assert_int_equal(c->inputs[1].max_connections, 10000);
    assert_int_equal(t2->line, 22);
    assert_string_equal(t2->cert_file, "/etc/server.pem");
    assert_int_equal(t2->min_version, 13);
    assert_int_equal(t2->handshake_timeout_ms, 10000);
    assert_int_equal(t2->auth, TL_AUTH_ANON);
    assert_int_equal(t2->n_permitted_peers, 2);
    assert_string_equal(t2->permitted_peers[0], "*.example.net");
    assert_string_equal(t2->permitted_peers[1], "192.0.2.1");

    /* The forward output: its own client certificate, the top's CA file and peers. */
    assert_int_equal(c->outputs[0].type, TL_OUT_FORWARD);
    assert_int_equal(c->outputs[0].transport, TL_TR_TLS);
    assert_int_equal(c->outputs[0].framing, TL_FRAMING_OCTET);
    assert_int_equal(c->outputs[0].format, TL_FMT_RFC5424);
    assert_int_equal(o->line, 27);
    assert_string_equal(o->ca_file, "/etc/ca.pem");
    assert_string_equal(o->ca_dir, "/etc/cas");
    assert_string_equal(o->cert_file, "/etc/client.pem");
    assert_string_equal(o->key_file, "/etc/client.key");
    assert_string_equal(o->key_password_file, "/etc/pw");
    assert_string_equal(o->crl_file, "/etc/crl.pem");
    assert_int_equal(o->min_version, 12);
    assert_string_equal(o->ciphers, "ECDHE+AESGCM");
    assert_string_equal(o->ciphersuites, "TLS_AES_256_GCM_SHA384");
    assert_int_equal(o->handshake_timeout_ms, 10000);
    assert_int_equal(o->auth, TL_AUTH_FINGERPRINT);
    assert_int_equal(o->n_permitted_peers, 2);
    assert_int_equal(o->n_fingerprints, 1);
    assert_string_equal(o->fingerprints[0], "SHA256:00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:"
                                            "0e:0f:10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:"
                                            "1e:1f");

    /* Not TLS: nothing merged. */
    assert_int_equal(c->outputs[1].format, TL_FMT_RFC3164);
    assert_int_equal(c->outputs[1].tls.line, 0);
    assert_null(c->outputs[1].tls.ca_file);
    assert_int_equal(c->outputs[1].n_targets, 0);
    tl_conf_free(c);

    /* Without a top-level block: the local one alone, with the defaults. */
    c = load_ok("inputs:\n"
                "  - name: t\n"
                "    transport: tls\n"
                "    listen: \"[::1]\"\n"
                "    tls: {cert_file: c.pem, key_file: k.pem, auth: anon}\n"
                "outputs:\n"
                "  - {name: o, type: stdout}\n");
    assert_int_equal(c->tls.line, 0);
    assert_int_equal(c->tls.min_version, 12);
    assert_int_equal(c->tls.handshake_timeout_ms, 10000);
    assert_string_equal(c->inputs[0].host, "::1");
    assert_int_equal(c->inputs[0].port, 6514);
    assert_int_equal(c->inputs[0].tls.line, 5);
    assert_int_equal(c->inputs[0].tls.auth, TL_AUTH_ANON);
    assert_int_equal(c->inputs[0].tls.min_version, 12);
    assert_int_equal(c->inputs[0].tls.handshake_timeout_ms, 10000);
    assert_null(c->inputs[0].tls.ca_file);
    tl_conf_free(c);
}

static void test_forward_defaults(void **state)
{
    struct tl_conf *c = load_ok(BASE_INPUTS
                                "outputs:\n"
                                "  - name: tls\n"
                                "    type: forward\n"
                                "    targets: [\"a.example.net\", \"b:7\"]\n"
                                "    tls: {ca_file: system}\n"
                                "  - name: tcp\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: \"a.example.net\"\n"
                                "  - name: udp\n"
                                "    type: forward\n"
                                "    transport: udp\n"
                                "    targets: [\"[2001:db8::2]\"]\n"
                                "  - name: x\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: [\"[fe80::1%eth0]:10514\", \"192.0.2.7:1\"]\n"
                                "    framing: octet-counted\n"
                                "    format: rfc3164\n"
                                "    reconnect_min: 250ms\n"
                                "    reconnect_max: 250ms\n"
                                "    connect_timeout: 3s\n"
                                "    queue:\n"
                                "      drain_timeout: 0\n"
                                "      memory_messages: 5\n");
    const struct tl_conf_output *o = c->outputs;

    (void)state;
    assert_int_equal(o[0].transport, TL_TR_TLS);
    assert_int_equal(o[0].framing, TL_FRAMING_OCTET);
    assert_int_equal(o[0].format, TL_FMT_RFC5424);
    assert_int_equal(o[0].n_targets, 2);
    assert_string_equal(o[0].targets[0].host, "a.example.net");
    assert_int_equal(o[0].targets[0].port, 6514);
    assert_string_equal(o[0].targets[1].host, "b");
    assert_int_equal(o[0].targets[1].port, 7);
    assert_int_equal(o[0].reconnect_min_ms, 1000);
    assert_int_equal(o[0].reconnect_max_ms, 60000);
    assert_int_equal(o[0].connect_timeout_ms, 10000);
    assert_int_equal(o[0].drain_timeout_ms, 10000);
    assert_int_equal(o[0].queue_messages, 100000);
    assert_int_equal(o[0].tls.auth, TL_AUTH_DEFAULT);
    assert_string_equal(o[0].tls.ca_file, "system");
    assert_null(o[0].path);

    assert_int_equal(o[1].transport, TL_TR_TCP);
    assert_int_equal(o[1].framing, TL_FRAMING_LF);
    assert_int_equal(o[1].format, TL_FMT_RFC5424);
    assert_int_equal(o[1].n_targets, 1);
    assert_string_equal(o[1].targets[0].host, "a.example.net");
    assert_int_equal(o[1].targets[0].port, 514);
    assert_int_equal(o[1].tls.line, 0);
    assert_null(o[1].tls.ca_file);

    assert_int_equal(o[2].transport, TL_TR_UDP);
    assert_string_equal(o[2].targets[0].host, "2001:db8::2");
    assert_int_equal(o[2].targets[0].port, 514);

    assert_int_equal(o[3].framing, TL_FRAMING_OCTET);
    assert_int_equal(o[3].format, TL_FMT_RFC3164);
    assert_string_equal(o[3].targets[0].host, "fe80::1%eth0");
    assert_int_equal(o[3].targets[0].port, 10514);
    assert_string_equal(o[3].targets[1].host, "192.0.2.7");
    assert_int_equal(o[3].targets[1].port, 1);
    assert_int_equal(o[3].reconnect_min_ms, 250);
    assert_int_equal(o[3].reconnect_max_ms, 250);
    assert_int_equal(o[3].connect_timeout_ms, 3000);
    assert_int_equal(o[3].drain_timeout_ms, 0);
    assert_int_equal(o[3].queue_messages, 5);
    tl_conf_free(c);
}

static void test_tls_errors(void **state)
{
    (void)state;
    /* Each entry of a list is checked, with tls_verify's words. */
    expect_errors("tls:\n"
                  "  permitted_peers: [\"a*.example.net\", \"ok.example.net\", \"\", \"a..b\"]\n"
                  "  fingerprints: \"SHA256:AB\"\n"
                  "  min_version: 1.1\n"
                  "  auth: none\n"
                  "  handshake_timeout: 50ms\n"
                  "  ciphers: \"\"\n"
                  "  ca_file: \"\"\n"
                  "  permitted_peer: x\n"
                  BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:2: tls.permitted_peers[0]: 'a*.example.net': '*' is a wildcard only "
                  "as the whole left-most label (\"*.example.net\"); here it is a literal "
                  "character and the name can never match",
                  "t.yaml:2: tls.permitted_peers[2]: empty peer name: it can never match",
                  "t.yaml:2: tls.permitted_peers[3]: 'a..b' has an empty label (a leading dot "
                  "or '..'), so it can never match",
                  "t.yaml:3: tls.fingerprints[0]: SHA256 fingerprint has 1 bytes, expected 32 "
                  "(64 hex digits)",
                  "t.yaml:4: tls.min_version: '1.1' is not one of 1.2, 1.3",
                  "t.yaml:5: tls.auth: 'none' is not one of anon, certvalid, name, fingerprint",
                  "t.yaml:6: tls.handshake_timeout: '50ms' is out of range; allowed: 100ms..10m",
                  "t.yaml:7: tls.ciphers: the value is empty",
                  "t.yaml:8: tls.ca_file: the path is empty",
                  "t.yaml:9: unknown key 'permitted_peer' in tls; allowed: ca_file, ca_dir, "
                  "cert_file, key_file, key_password_file, crl_file, min_version, ciphers, "
                  "ciphersuites, handshake_timeout, auth, permitted_peers, fingerprints; did "
                  "you mean 'permitted_peers'?");
    expect_errors("tls: on\n" BASE_INPUTS BASE_OUTPUTS,
                  "t.yaml:1: tls: expected a mapping of TLS settings (ca_file, cert_file, "
                  "key_file, ...), got a single value");
    expect_errors("tls:\n  fingerprints: []\n  permitted_peers: [[a]]\n" BASE_INPUTS
                  BASE_OUTPUTS,
                  "t.yaml:2: tls.fingerprints: the list is empty; give at least one entry or "
                  "remove the key",
                  "t.yaml:3: tls.permitted_peers[0]: expected a text, got a list");
    /* The rules between keys, checked after merging. */
    expect_errors("inputs:\n"
                  "  - name: a\n"
                  "    transport: tcp\n"
                  "    listen: \":1\"\n"
                  "    tls: {}\n"
                  "    hostname_must_match_cert: true\n"
                  "  - name: b\n"
                  "    transport: tls\n"
                  "    listen: \":2\"\n"
                  "  - name: c\n"
                  "    transport: tls\n"
                  "    listen: \":3\"\n"
                  "    tls: {cert_file: /c.pem, auth: certvalid}\n"
                  "  - name: d\n"
                  "    transport: tls\n"
                  "    listen: \":4\"\n"
                  "    tls: {cert_file: /c.pem, key_file: /k.pem, auth: name, ca_dir: /ca}\n"
                  "  - name: e\n"
                  "    transport: tls\n"
                  "    listen: \":5\"\n"
                  "    tls: {cert_file: /c.pem, key_file: /k.pem, auth: fingerprint}\n"
                  "  - name: f\n"
                  "    transport: tls\n"
                  "    listen: \":6\"\n"
                  "    tls:\n"
                  "      cert_file: /c.pem\n"
                  "      key_file: /k.pem\n"
                  "      fingerprints: [\"SHA1:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:"
                  "00:11:22:33\"]\n"
                  "  - name: g\n"
                  "    transport: tls\n"
                  "    listen: \":7\"\n"
                  "    tls: yes\n"
                  BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (a).tls: tls applies only to tls and relp inputs; this one's "
                  "transport is tcp",
                  "t.yaml:6: inputs[0] (a).hostname_must_match_cert: hostname_must_match_cert "
                  "applies only to tls inputs; this one's transport is tcp",
                  "t.yaml:7: inputs[1] (b).tls: a TLS input needs a certificate: set "
                  "tls.cert_file and tls.key_file (make one with: tlslog cert issue)",
                  "t.yaml:10: inputs[2] (c).tls: tls.cert_file and tls.key_file go together; "
                  "set both",
                  "t.yaml:10: inputs[2] (c).tls: auth certvalid checks the peer's certificate "
                  "against trusted CAs, but none is configured; set tls.ca_file (a PEM file, or "
                  "\"system\") or tls.ca_dir",
                  "t.yaml:14: inputs[3] (d).tls: auth name needs tls.permitted_peers: the "
                  "names (or patterns like *.example.net) of the clients allowed to send",
                  "t.yaml:18: inputs[4] (e).tls: auth fingerprint needs at least one entry in "
                  "tls.fingerprints (see: tlslog cert info PEER.pem)",
                  "t.yaml:22: inputs[5] (f).tls.fingerprints: fingerprints are used only with "
                  "auth: fingerprint; this one's auth is anon (the default for inputs)",
                  "t.yaml:32: inputs[6] (g).tls: expected a mapping of TLS settings (ca_file, "
                  "cert_file, key_file, ...), got a single value");
    /* Inherited values count: the top-level peers satisfy auth name; an output's default
     * auth (name) needs a CA. */
    expect_errors("tls:\n  permitted_peers: [\"*.example.net\"]\n  handshake_timeout: 5s\n"
                  "inputs:\n"
                  "  - name: a\n"
                  "    transport: tls\n"
                  "    listen: \":1\"\n"
                  "    tls: {cert_file: /c, key_file: /k, auth: name, ca_file: system}\n"
                  "outputs:\n"
                  "  - name: f\n"
                  "    type: forward\n"
                  "    targets: [\"h\"]\n"
                  "  - name: g\n"
                  "    type: forward\n"
                  "    targets: [\"h\"]\n"
                  "    tls: {auth: certvalid, fingerprints: [\"sha1:0011223344556677889900112233"
                  "445566778899\"]}\n"
                  "  - name: h\n"
                  "    type: forward\n"
                  "    targets: [\"h\"]\n"
                  "    tls: {auth: anon}\n",
                  "t.yaml:10: outputs[0] (f).tls: auth name (the default for outputs) checks "
                  "the peer's certificate against trusted CAs, but none is configured; set "
                  "tls.ca_file (a PEM file, or \"system\") or tls.ca_dir",
                  "t.yaml:13: outputs[1] (g).tls: auth certvalid checks the peer's certificate "
                  "against trusted CAs, but none is configured; set tls.ca_file (a PEM file, or "
                  "\"system\") or tls.ca_dir",
                  "t.yaml:13: outputs[1] (g).tls.fingerprints: fingerprints are used only with "
                  "auth: fingerprint; this one's auth is certvalid");
}

static void test_forward_errors(void **state)
{
    (void)state;
    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - name: p\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "  - name: q\n"
                  "    type: forward\n"
                  "    transport: udp\n"
                  "    targets: [\"514\", \"h:99999\", \"::1:514\", \"h:0\", \"a b\", [x]]\n"
                  "    framing: lf\n"
                  "    format: json\n"
                  "    path: /x.log\n"
                  "    flush_interval: 1s\n"
                  "    buffer_size: 8k\n"
                  "    max_open_files: 3\n"
                  "    reconnect_min: 5s\n"
                  "    reconnect_max: 2s\n"
                  "    tls: {}\n"
                  "  - name: r\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: []\n"
                  "    framing: auto\n"
                  "    tls: {ca_file: system}\n"
                  "  - name: s\n"
                  "    type: file\n"
                  "    path: s.log\n"
                  "    targets: [h]\n"
                  "    transport: tls\n"
                  "    connect_timeout: 1s\n"
                  "    tls: {}\n"
                  "  - name: t\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: {a: b}\n"
                  "    format: raw\n"
                  "    reconnect_max: 5ms\n",
                  "t.yaml:6: outputs[0] (p): missing required key 'targets' (forward outputs "
                  "need it)",
                  "t.yaml:12: outputs[1] (q).targets[0]: '514' has no host; use host:port, "
                  "[v6]:port or host",
                  "t.yaml:12: outputs[1] (q).targets[1]: 'h:99999' is not a target address: "
                  "port '99999' is out of range 0..65535; use host:port, [v6]:port or host",
                  "t.yaml:12: outputs[1] (q).targets[2]: '::1:514' is not a target address: an "
                  "IPv6 address needs brackets, e.g. [::1]:514 or [::]:514; use host:port, "
                  "[v6]:port or host",
                  "t.yaml:12: outputs[1] (q).targets[3]: 'h:0': port 0 cannot be connected to; "
                  "give the server's port",
                  "t.yaml:12: outputs[1] (q).targets[4]: 'a b' is not a target address: 'a b' "
                  "is not a host name or IP address; use host:port, [v6]:port or host",
                  "t.yaml:12: outputs[1] (q).targets[5]: expected an address such as "
                  "\"loghost.example.net:6514\", got a list",
                  "t.yaml:13: outputs[1] (q).framing: framing applies only to tcp and tls "
                  "forwarding; udp sends one message per datagram",
                  "t.yaml:14: outputs[1] (q).format: 'json' cannot be sent to a syslog server; "
                  "forward outputs use rfc5424 or rfc3164",
                  "t.yaml:15: outputs[1] (q).path: path applies only to file outputs; this "
                  "one's type is forward",
                  "t.yaml:16: outputs[1] (q).flush_interval: flush_interval applies only to "
                  "file and stdout outputs; this one's type is forward",
                  "t.yaml:17: outputs[1] (q).buffer_size: buffer_size applies only to file and "
                  "stdout outputs; this one's type is forward",
                  "t.yaml:18: outputs[1] (q).max_open_files: max_open_files applies only to "
                  "file outputs; this one's type is forward",
                  "t.yaml:20: outputs[1] (q).reconnect_max: 2s is less than reconnect_min "
                  "(5s); it must be at least as long",
                  "t.yaml:21: outputs[1] (q).tls: tls applies only to forward outputs with "
                  "transport tls or relp; this one's transport is udp",
                  "t.yaml:25: outputs[2] (r).targets: the list is empty; give at least one "
                  "host:port",
                  "t.yaml:26: outputs[2] (r).framing: 'auto' is not one of octet-counted, lf",
                  "t.yaml:27: outputs[2] (r).tls: tls applies only to forward outputs with "
                  "transport tls or relp; this one's transport is tcp",
                  "t.yaml:31: outputs[3] (s).targets: targets applies only to forward outputs; "
                  "this one's type is file",
                  "t.yaml:32: outputs[3] (s).transport: transport applies only to forward "
                  "outputs; this one's type is file",
                  "t.yaml:33: outputs[3] (s).connect_timeout: connect_timeout applies only to "
                  "forward outputs; this one's type is file",
                  "t.yaml:34: outputs[3] (s).tls: tls applies only to forward and kafka "
                  "outputs; this one's type is file",
                  "t.yaml:38: outputs[4] (t).targets: expected a list of addresses (e.g. "
                  "[\"loghost.example.net:6514\"]), got a mapping",
                  "t.yaml:39: outputs[4] (t).format: 'raw' cannot be sent to a syslog server; "
                  "forward outputs use rfc5424 or rfc3164",
                  "t.yaml:40: outputs[4] (t).reconnect_max: '5ms' is out of range; allowed: "
                  "10ms..24h");
}

/* mode and hash_key: defaults, the three words, and the rules between them (hash_key only
 * with hash, a known placeholder, not over udp). */
static void test_forward_modes(void **state)
{
    struct tl_conf *c = load_ok(BASE_INPUTS
                                "outputs:\n"
                                "  - name: f\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: [\"a:1\", \"b:2\"]\n"
                                "  - name: r\n"
                                "    type: forward\n"
                                "    transport: relp\n"
                                "    targets: [\"a:1\", \"b:2\"]\n"
                                "    mode: round_robin\n"
                                "  - name: h\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: [\"a:1\", \"b:2\"]\n"
                                "    mode: hash\n"
                                "  - name: k\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: [\"a:1\", \"b:2\"]\n"
                                "    mode: hash\n"
                                "    hash_key: \"{app}@{hostname}\"\n");
    (void)state;
    assert_int_equal(c->outputs[0].mode, TL_FWD_FAILOVER);
    assert_null(c->outputs[0].hash_key);
    assert_int_equal(c->outputs[1].mode, TL_FWD_ROUND_ROBIN);
    assert_int_equal(c->outputs[2].mode, TL_FWD_HASH);
    assert_null(c->outputs[2].hash_key); /* the output uses {hostname} */
    assert_string_equal(c->outputs[3].hash_key, "{app}@{hostname}");
    tl_conf_free(c);
    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - name: p\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: [\"a:1\", \"b:2\"]\n"
                  "    hash_key: \"{hostname}\"\n"
                  "  - name: q\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: [\"a:1\", \"b:2\"]\n"
                  "    mode: hash\n"
                  "    hash_key: \"{hots}\"\n"
                  "  - name: u\n"
                  "    type: forward\n"
                  "    transport: udp\n"
                  "    targets: [\"a:1\", \"b:2\"]\n"
                  "    mode: round_robin\n"
                  "  - name: w\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: [\"a:1\"]\n"
                  "    mode: random\n",
                  "t.yaml:10: outputs[0] (p).hash_key: hash_key applies only with mode: hash; "
                  "set mode: hash or remove hash_key",
                  "t.yaml:16: outputs[1] (q).hash_key: unknown placeholder '{hots}' in '{hots}'; "
                  "allowed: {hostname}, {app}, {year}, {month}, {day}, {hour}, {facility}, "
                  "{severity}, {input}, {peer_ip}, {peer_name}",
                  "t.yaml:21: outputs[2] (u).mode: round_robin needs acknowledged connections "
                  "to move a failed target's messages; udp has none: use transport tls, tcp or "
                  "relp, or mode failover",
                  "t.yaml:26: outputs[3] (w).mode: 'random' is not one of failover, "
                  "round_robin, hash");
}

/* ---- RELP and queues ------------------------------------------------------------------- */

/* The keys of the connection limits: values, what they apply to, the budget's floor. */
static void test_connection_limits(void **state)
{
    struct tl_conf *c = load_ok("partial_frame_budget: 1MiB\n"
                                "tls:\n"
                                "  cert_file: /c.pem\n"
                                "  key_file: /c.key\n"
                                "inputs:\n"
                                "  - name: t\n"
                                "    transport: tls\n"
                                "    listen: \":0\"\n"
                                "    max_connections_per_source: 3\n"
                                "    max_handshakes: 5\n"
                                "    idle_timeout: 0\n"
                                "  - {name: r, transport: relp, listen: \":1\", tls: {}, "
                                "max_handshakes: 9, idle_timeout: 1500ms}\n"
                                "  - {name: p, transport: relp, listen: \":2\"}\n"
                                BASE_OUTPUTS);

    (void)state;
    assert_int_equal(c->partial_frame_budget, 1024 * 1024);
    assert_int_equal(c->inputs[0].max_conn_per_source, 3);
    assert_int_equal(c->inputs[0].max_handshakes, 5);
    assert_int_equal(c->inputs[0].idle_timeout_ms, 0);
    assert_int_equal(c->inputs[1].max_handshakes, 9);
    assert_int_equal(c->inputs[1].idle_timeout_ms, 1500);
    assert_int_equal(c->inputs[2].max_handshakes, 256);
    assert_int_equal(c->inputs[2].max_conn_per_source, 64);
    tl_conf_free(c);

    expect_errors("inputs:\n"
                  "  - name: u\n"
                  "    transport: udp\n"
                  "    listen: \":1\"\n"
                  "    idle_timeout: 1m\n"
                  "    max_connections_per_source: 2\n"
                  "  - name: t\n"
                  "    transport: tcp\n"
                  "    listen: \":2\"\n"
                  "    max_handshakes: 4\n"
                  "    max_connections_per_source: 0\n"
                  "  - name: r\n"
                  "    transport: relp\n"
                  "    listen: \":3\"\n"
                  "    max_handshakes: 4\n"
                  BASE_OUTPUTS,
                  "t.yaml:5: inputs[0] (u).idle_timeout: idle_timeout applies only to tcp, tls "
                  "and relp inputs; this one's transport is udp",
                  "t.yaml:6: inputs[0] (u).max_connections_per_source: "
                  "max_connections_per_source applies only to tcp, tls and relp inputs; this "
                  "one's transport is udp",
                  "t.yaml:10: inputs[1] (t).max_handshakes: max_handshakes applies only to tls "
                  "and relp inputs; this one's transport is tcp",
                  "t.yaml:11: inputs[1] (t).max_connections_per_source: '0' is out of range; "
                  "allowed: 1..1000000",
                  "t.yaml:15: inputs[2] (r).max_handshakes: applies only to RELP over TLS; "
                  "give this input a tls: block or remove the key");
    expect_errors("partial_frame_budget: 1MiB\n"
                  BASE_INPUTS
                  "    max_message_size: 1MiB\n"
                  BASE_OUTPUTS,
                  "t.yaml:1: partial_frame_budget (1MiB) is less than twice the largest "
                  "max_message_size of a tcp, tls or relp input (inputs[0] (a): 1MiB); raise "
                  "partial_frame_budget to at least 2MiB or lower max_message_size");
    /* The default budget fits the largest max_message_size. */
    c = load_ok(BASE_INPUTS "    max_message_size: 16MiB\n" BASE_OUTPUTS);
    assert_int_equal(c->partial_frame_budget, 64 * 1024 * 1024);
    tl_conf_free(c);
    /* UDP inputs hold no partial frames: their max_message_size does not count. */
    c = load_ok("partial_frame_budget: 64KiB\n"
                "inputs:\n"
                "  - {name: u, transport: udp, listen: \":1\", max_message_size: 1MiB}\n"
                "  - {name: a, transport: tcp, listen: \":1\", max_message_size: 32KiB}\n"
                BASE_OUTPUTS);
    tl_conf_free(c);
    expect_errors("inputs:\n"
                  "  - {name: a, transport: tcp, listen: \":1\", max_message_size: 16MiB}\n"
                  "  - {name: b, transport: relp, listen: \":2\", max_message_size: 16MiB}\n"
                  "partial_frame_budget: 16MiB\n"
                  BASE_OUTPUTS,
                  "t.yaml:4: partial_frame_budget (16MiB) is less than twice the largest "
                  "max_message_size of a tcp, tls or relp input (inputs[0] (a): 16MiB); raise "
                  "partial_frame_budget to at least 32MiB or lower max_message_size");
}

static void test_relp_input(void **state)
{
    struct tl_conf *c = load_ok("tls:\n"
                                "  cert_file: /c.pem\n"
                                "  key_file: /c.key\n"
                                "inputs:\n"
                                "  - {name: plain, transport: relp, listen: \"1.2.3.4\"}\n"
                                "  - name: inherit\n"
                                "    transport: relp\n"
                                "    listen: \":0\"\n"
                                "    max_connections: 7\n"
                                "    max_message_size: 1MiB\n"
                                "    tls: {}\n"
                                "  - name: own\n"
                                "    transport: relp\n"
                                "    listen: \"[::1]:3000\"\n"
                                "    tls:\n"
                                "      ca_file: /ca.pem\n"
                                "      auth: name\n"
                                "      permitted_peers: \"*.example.net\"\n"
                                "  - {name: t, transport: tls, listen: \"1.2.3.4\"}\n"
                                BASE_OUTPUTS);
    const struct tl_conf_input *in = c->inputs;

    (void)state;
    assert_int_equal(in[0].transport, TL_TR_RELP);
    assert_string_equal(in[0].host, "1.2.3.4");
    assert_int_equal(in[0].port, 2514);
    assert_false(in[0].relp_tls);
    assert_int_equal(in[0].tls.line, 0);
    assert_null(in[0].tls.cert_file);
    assert_int_equal(in[0].max_connections, 10000);
    assert_int_equal(in[0].max_message_size, 65536);

    assert_true(in[1].relp_tls);
    assert_null(in[1].host);
    assert_int_equal(in[1].port, 0);
    assert_int_equal(in[1].max_connections, 7);
    assert_int_equal(in[1].max_message_size, 1024 * 1024);
    assert_string_equal(in[1].tls.cert_file, "/c.pem");
    assert_string_equal(in[1].tls.key_file, "/c.key");
    assert_int_equal(in[1].tls.auth, TL_AUTH_DEFAULT);
    assert_int_equal(in[1].tls.min_version, 12);

    assert_true(in[2].relp_tls);
    assert_int_equal(in[2].port, 3000);
    assert_int_equal(in[2].tls.line, 15);
    assert_string_equal(in[2].tls.cert_file, "/c.pem");
    assert_string_equal(in[2].tls.ca_file, "/ca.pem");
    assert_int_equal(in[2].tls.auth, TL_AUTH_NAME);
    assert_int_equal(in[2].tls.n_permitted_peers, 1);

    assert_int_equal(in[3].port, 6514);
    assert_false(in[3].relp_tls);
    assert_string_equal(tl_transport_name(TL_TR_RELP), "relp");
    assert_string_equal(tl_transport_name(TL_TR_TLS), "tls");
    tl_conf_free(c);

    expect_errors("inputs:\n"
                  "  - name: r\n"
                  "    transport: relp\n"
                  "  - name: s\n"
                  "    transport: relp\n"
                  "    listen: \":1\"\n"
                  "    framing: octet-counted\n"
                  "    recv_buffer: 1M\n"
                  "    hostname_must_match_cert: true\n"
                  "  - name: t\n"
                  "    transport: relp\n"
                  "    listen: \":2\"\n"
                  "    tls: {}\n"
                  "  - name: u\n"
                  "    transport: relp\n"
                  "    listen: \":3\"\n"
                  "    tls: {cert_file: /c.pem, key_file: /c.key, auth: name}\n"
                  "  - name: v\n"
                  "    transport: relp\n"
                  "    listen: \":4\"\n"
                  "    tls: yes\n"
                  "  - name: w\n"
                  "    transport: relp\n"
                  "    listen: \":1\"\n"
                  BASE_OUTPUTS,
                  "t.yaml:2: inputs[0] (r): missing required key 'listen' (udp, tcp, tls and "
                  "relp inputs need it)",
                  "t.yaml:7: inputs[1] (s).framing: framing applies only to tcp and tls "
                  "inputs; this one's transport is relp",
                  "t.yaml:8: inputs[1] (s).recv_buffer: recv_buffer applies only to udp and "
                  "unix inputs; this one's transport is relp",
                  "t.yaml:9: inputs[1] (s).hostname_must_match_cert: hostname_must_match_cert "
                  "applies only to tls inputs; this one's transport is relp",
                  "t.yaml:10: inputs[2] (t).tls: a TLS input needs a certificate: set "
                  "tls.cert_file and tls.key_file (make one with: tlslog cert issue)",
                  "t.yaml:14: inputs[3] (u).tls: auth name checks the peer's certificate "
                  "against trusted CAs, but none is configured; set tls.ca_file (a PEM file, "
                  "or \"system\") or tls.ca_dir",
                  "t.yaml:14: inputs[3] (u).tls: auth name needs tls.permitted_peers: the "
                  "names (or patterns like *.example.net) of the clients allowed to send",
                  "t.yaml:21: inputs[4] (v).tls: expected a mapping of TLS settings (ca_file, "
                  "cert_file, key_file, ...), got a single value",
                  "t.yaml:22: inputs[5] (w).listen: inputs[1] (s) at line 4 already listens "
                  "on relp port 1 on all addresses");
}

static void test_relp_output(void **state)
{
    struct tl_conf *c = load_ok("tls: {ca_file: /ca.pem}\n"
                                BASE_INPUTS
                                "outputs:\n"
                                "  - name: plain\n"
                                "    type: forward\n"
                                "    transport: relp\n"
                                "    targets: [\"a.example.net\", \"b:7\"]\n"
                                "  - name: over-tls\n"
                                "    type: forward\n"
                                "    transport: relp\n"
                                "    targets: a.example.net\n"
                                "    format: rfc3164\n"
                                "    relp_window: 100000\n"
                                "    tls: {cert_file: /c.pem, key_file: /c.key}\n"
                                "  - name: empty-tls\n"
                                "    type: forward\n"
                                "    transport: relp\n"
                                "    targets: a.example.net\n"
                                "    relp_window: 1\n"
                                "    tls: {}\n");
    const struct tl_conf_output *o = c->outputs;

    (void)state;
    assert_int_equal(o[0].transport, TL_TR_RELP);
    assert_int_equal(o[0].format, TL_FMT_RFC5424);
    assert_int_equal(o[0].targets[0].port, 2514);
    assert_int_equal(o[0].targets[1].port, 7);
    assert_int_equal(o[0].relp_window, 1024);
    assert_false(o[0].relp_tls);
    assert_null(o[0].tls.ca_file);
    assert_int_equal(o[0].tls.line, 0);

    assert_true(o[1].relp_tls);
    assert_int_equal(o[1].format, TL_FMT_RFC3164);
    assert_int_equal(o[1].relp_window, 100000);
    assert_string_equal(o[1].tls.ca_file, "/ca.pem");
    assert_string_equal(o[1].tls.cert_file, "/c.pem");
    assert_int_equal(o[1].tls.line, 17);

    assert_true(o[2].relp_tls);
    assert_int_equal(o[2].relp_window, 1);
    assert_string_equal(o[2].tls.ca_file, "/ca.pem");
    assert_null(o[2].tls.cert_file);
    tl_conf_free(c);

    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - name: p\n"
                  "    type: forward\n"
                  "    transport: relp\n"
                  "    targets: h\n"
                  "    framing: lf\n"
                  "    format: json\n"
                  "    relp_window: 0\n"
                  "    tls: {}\n"
                  "  - name: q\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    relp_window: 10\n"
                  "    tls: {ca_file: system}\n"
                  "  - name: r\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: h\n"
                  "    relp_window: 100001\n"
                  "  - name: s\n"
                  "    type: stdout\n"
                  "    relp_window: 5\n",
                  "t.yaml:6: outputs[0] (p).tls: auth name (the default for outputs) checks "
                  "the peer's certificate against trusted CAs, but none is configured; set "
                  "tls.ca_file (a PEM file, or \"system\") or tls.ca_dir",
                  "t.yaml:10: outputs[0] (p).framing: framing applies only to tcp and tls "
                  "forwarding; relp frames each message itself",
                  "t.yaml:11: outputs[0] (p).format: 'json' cannot be sent to a syslog server; "
                  "forward outputs use rfc5424 or rfc3164",
                  "t.yaml:12: outputs[0] (p).relp_window: '0' is out of range; allowed: "
                  "1..100000",
                  "t.yaml:17: outputs[1] (q).relp_window: relp_window applies only to forward "
                  "outputs with transport relp; this one's transport is tls",
                  "t.yaml:23: outputs[2] (r).relp_window: '100001' is out of range; allowed: "
                  "1..100000",
                  "t.yaml:23: outputs[2] (r).relp_window: relp_window applies only to forward "
                  "outputs with transport relp; this one's transport is tcp",
                  "t.yaml:26: outputs[3] (s).relp_window: relp_window applies only to forward "
                  "outputs; this one's type is stdout");
}

static void test_queue(void **state)
{
    struct tl_conf *c = load_ok(BASE_INPUTS
                                "outputs:\n"
                                "  - {name: f, type: file, path: f.log}\n"
                                "  - {name: s, type: stdout}\n"
                                "  - {name: d, type: forward, targets: h, transport: tcp}\n"
                                "  - name: g\n"
                                "    type: file\n"
                                "    path: g.log\n"
                                "    sync: true\n"
                                "    queue: {memory_messages: 7, full: drop}\n"
                                "  - name: t\n"
                                "    type: stdout\n"
                                "    queue: {}\n"
                                "  - name: e\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: h\n"
                                "    queue:\n"
                                "      memory_messages: 1\n"
                                "      full: drop\n"
                                "      dir: /var/spool/tlslogd/e\n"
                                "      max_bytes: 1MiB\n"
                                "      sync: interval\n"
                                "      sync_interval: 250ms\n"
                                "      segment_size: 64KiB\n"
                                "      drain_timeout: 0\n"
                                "  - name: a\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: h\n"
                                "    queue: {dir: /q/a, sync: always, max_bytes: 8MiB}\n"
                                "  - name: n\n"
                                "    type: forward\n"
                                "    transport: tcp\n"
                                "    targets: h\n"
                                "    queue: {dir: /q/n, sync: none, memory_messages: "
                                "100000000}\n");
    const struct tl_conf_output *o = c->outputs;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        assert_int_equal(o[i].queue_messages, 100000);
        assert_int_equal(o[i].full, TL_QFULL_BLOCK);
        assert_null(o[i].queue_dir);
        assert_int_equal(o[i].sync, TL_QSYNC_NONE);
    }
    /* Forward-only keys stay zero on file and stdout outputs; drain_timeout applies to all. */
    assert_int_equal(o[0].drain_timeout_ms, 10000);
    assert_int_equal(o[0].queue_max_bytes, 0);
    assert_int_equal(o[1].queue_segment_bytes, 0);
    assert_int_equal(o[2].drain_timeout_ms, 10000);
    assert_int_equal(o[2].queue_max_bytes, 1024ull * 1024 * 1024);
    assert_int_equal(o[2].queue_sync, TL_QSYNC_INTERVAL);
    assert_int_equal(o[2].queue_sync_interval_ms, 1000);
    assert_int_equal(o[2].queue_segment_bytes, 8 * 1024 * 1024);

    assert_int_equal(o[3].sync, TL_QSYNC_ALWAYS);
    assert_int_equal(o[3].queue_messages, 7);
    assert_int_equal(o[3].full, TL_QFULL_DROP);
    assert_int_equal(o[4].queue_messages, 100000);
    assert_int_equal(o[4].full, TL_QFULL_BLOCK);

    assert_int_equal(o[5].queue_messages, 1);
    assert_int_equal(o[5].full, TL_QFULL_DROP);
    assert_string_equal(o[5].queue_dir, "/var/spool/tlslogd/e");
    assert_int_equal(o[5].queue_max_bytes, 1024 * 1024);
    assert_int_equal(o[5].queue_sync, TL_QSYNC_INTERVAL);
    assert_int_equal(o[5].queue_sync_interval_ms, 250);
    assert_int_equal(o[5].queue_segment_bytes, 64 * 1024);
    assert_int_equal(o[5].drain_timeout_ms, 0);

    assert_int_equal(o[6].queue_sync, TL_QSYNC_ALWAYS);
    assert_int_equal(o[6].queue_max_bytes, 8 * 1024 * 1024);
    assert_int_equal(o[6].queue_segment_bytes, 8 * 1024 * 1024);
    assert_int_equal(o[7].queue_sync, TL_QSYNC_NONE);
    assert_int_equal(o[7].queue_messages, 100000000);
    tl_conf_free(c);
}

static void test_queue_errors(void **state)
{
    (void)state;
    /* The old flat keys say where they went. */
    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - name: o\n"
                  "    type: stdout\n"
                  "    queue_messages: 5000\n"
                  "  - name: p\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    drain_timeout: [1s]\n"
                  "    queue_message: 5\n",
                  "t.yaml:8: outputs[0] (o).queue_messages: 'queue_messages' moved into the "
                  "queue: block: write queue: {memory_messages: 5000}",
                  "t.yaml:13: outputs[1] (p).drain_timeout: 'drain_timeout' moved into the "
                  "queue: block: write queue: {drain_timeout: 10s}",
                  "t.yaml:14: unknown key 'queue_message' in outputs[1] (p); allowed: name, "
                  "type, path, format, flush_interval, buffer_size, max_open_files, file_mode, "
                  "dir_mode, sync, queue, targets, mode, hash_key, transport, framing, "
                  "relp_window, reconnect_min, reconnect_max, connect_timeout, tls, brokers, "
                  "topic, key, sasl, properties");
    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - name: o\n"
                  "    type: stdout\n"
                  "    sync: true\n"
                  "    queue:\n"
                  "      memory_messages: 0\n"
                  "      full: wait\n"
                  "      dir: /q\n"
                  "      drain_timeout: 1s\n"
                  "      max_bytes: 1GiB\n"
                  "      memory_mesages: 3\n"
                  "  - name: p\n"
                  "    type: file\n"
                  "    path: p.log\n"
                  "    sync: maybe\n"
                  "    queue: 5\n"
                  "  - name: q\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    queue:\n"
                  "      max_bytes: 512KiB\n"
                  "      sync: always\n"
                  "      sync_interval: 1s\n"
                  "      segment_size: 1MiB\n"
                  "      drain_timeout: 2h\n"
                  "  - name: r\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    queue:\n"
                  "      dir: \"\"\n"
                  "      sync: none\n"
                  "      sync_interval: 1s\n"
                  "      max_bytes: 2MiB\n"
                  "  - name: s\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    queue: {dir: /q/s, max_bytes: 2MiB, segment_size: 4MiB}\n"
                  "  - name: t\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    queue: {dir: /q/t, max_bytes: 8MiB}\n"
                  "  - name: u\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    queue: {dir: /q/t}\n"
                  "  - name: v\n"
                  "    type: forward\n"
                  "    targets: h\n"
                  "    transport: tcp\n"
                  "    queue:\n",
                  "t.yaml:8: outputs[0] (o).sync: sync applies only to file outputs; this "
                  "one's type is stdout",
                  "t.yaml:10: outputs[0] (o).queue.memory_messages: '0' is out of range; "
                  "allowed: 1..100000000",
                  "t.yaml:11: outputs[0] (o).queue.full: 'wait' is not one of block, drop",
                  "t.yaml:12: outputs[0] (o).queue.dir: dir applies only to forward and kafka "
                  "outputs; "
                  "this one's type is stdout",
                  "t.yaml:14: outputs[0] (o).queue.max_bytes: max_bytes applies only to "
                  "forward and kafka outputs; this one's type is stdout",
                  "t.yaml:15: unknown key 'memory_mesages' in outputs[0] (o).queue; allowed: "
                  "memory_messages, memory_bytes, full, dir, max_bytes, sync, sync_interval, "
                  "segment_size, drain_timeout; did you mean 'memory_messages'?",
                  "t.yaml:19: outputs[1] (p).sync: 'maybe' is not one of none, always",
                  "t.yaml:20: outputs[1] (p).queue: expected a mapping of queue settings "
                  "(memory_messages, full, dir, ...), got a single value",
                  "t.yaml:26: outputs[2] (q).queue.max_bytes: '512KiB' is out of range; "
                  "allowed: 1MiB..1024GiB",
                  "t.yaml:26: outputs[2] (q).queue.max_bytes: max_bytes is about the disk "
                  "queue, which needs dir; set queue.dir or remove it",
                  "t.yaml:27: outputs[2] (q).queue.sync: sync is about the disk queue, which "
                  "needs dir; set queue.dir or remove it",
                  "t.yaml:28: outputs[2] (q).queue.sync_interval: sync_interval is about the "
                  "disk queue, which needs dir; set queue.dir or remove it",
                  "t.yaml:29: outputs[2] (q).queue.segment_size: segment_size is about the "
                  "disk queue, which needs dir; set queue.dir or remove it",
                  "t.yaml:30: outputs[2] (q).queue.drain_timeout: '2h' is out of range; "
                  "allowed: 0..1h",
                  "t.yaml:36: outputs[3] (r).queue.dir: the path is empty",
                  "t.yaml:36: outputs[3] (r).queue: segment_size (8MiB, the default) is larger "
                  "than max_bytes (2MiB); lower segment_size or raise max_bytes",
                  "t.yaml:38: outputs[3] (r).queue.sync_interval: sync_interval applies only "
                  "with sync: interval; this one's sync is none",
                  "t.yaml:44: outputs[4] (s).queue: segment_size (4MiB) is larger than "
                  "max_bytes (2MiB); lower segment_size or raise max_bytes",
                  "t.yaml:50: outputs[6] (u).queue.dir: outputs[5] (t) at line 45 already "
                  "keeps its queue in '/q/t'; each forward output needs a directory of its own",
                  "t.yaml:59: outputs[7] (v).queue: expected a mapping of queue settings "
                  "(memory_messages, full, dir, ...), got nothing");
}

/* ---- value syntaxes -------------------------------------------------------------------- */

/* ---- kafka outputs ----------------------------------------------------------------------- */

static void test_kafka_output(void **state)
{
    struct tl_conf *c;
    const struct tl_conf_output *o;

    (void)state;
    c = load_ok(BASE_INPUTS
                "outputs:\n"
                "  - name: k\n"
                "    type: kafka\n"
                "    brokers: [\"k1.example.net\", \"[::1]:9093\"]\n"
                "    topic: \"syslog-{facility}.{hostname}\"\n"
                "    key: \"{hostname} {app}\"\n"
                "    sasl: {mechanism: SCRAM-SHA-512, username: tlslogd, password_file: /pw}\n"
                "    properties: {linger.ms: 5, compression.type: zstd}\n"
                "    tls: {ca_file: /ca.pem}\n"
                "    queue: {dir: /q, sync: always}\n"
                "  - name: plain\n"
                "    type: kafka\n"
                "    brokers: k2\n"
                "    topic: logs\n"
                "    format: rfc5424\n");
    o = c->outputs;
    assert_int_equal(o[0].type, TL_OUT_KAFKA);
    assert_int_equal(o[0].n_targets, 2);
    assert_string_equal(o[0].targets[0].host, "k1.example.net");
    assert_int_equal(o[0].targets[0].port, 9092);
    assert_string_equal(o[0].targets[1].host, "::1");
    assert_int_equal(o[0].targets[1].port, 9093);
    assert_string_equal(o[0].topic, "syslog-{facility}.{hostname}");
    assert_string_equal(o[0].key, "{hostname} {app}");
    assert_int_equal(o[0].format, TL_FMT_JSON);
    assert_int_equal(o[0].sasl_mechanism, TL_SASL_SCRAM_SHA_512);
    assert_string_equal(o[0].sasl_username, "tlslogd");
    assert_string_equal(o[0].sasl_password_file, "/pw");
    assert_int_equal(o[0].n_properties, 2);
    assert_string_equal(o[0].properties[0], "linger.ms");
    assert_string_equal(o[0].properties[1], "5");
    assert_string_equal(o[0].properties[2], "compression.type");
    assert_string_equal(o[0].properties[3], "zstd");
    assert_int_equal(o[0].property_lines[0], 12);
    assert_int_equal(o[0].property_lines[1], 12);
    assert_true(o[0].kafka_tls);
    assert_string_equal(o[0].tls.ca_file, "/ca.pem");
    assert_int_equal(o[0].tls.min_version, 12);
    assert_string_equal(o[0].queue_dir, "/q");
    assert_int_equal(o[0].queue_sync, TL_QSYNC_ALWAYS);
    /* Both files are checked by --check: the CA and the SASL password. */
    assert_int_equal(c->n_files, 2);
    assert_string_equal(c->files[0].key, "outputs[0] (k).sasl.password_file");
    assert_string_equal(c->files[1].key, "outputs[0] (k).tls.ca_file");

    assert_int_equal(o[1].n_targets, 1);
    assert_int_equal(o[1].targets[0].port, 9092);
    assert_null(o[1].key);
    assert_int_equal(o[1].format, TL_FMT_RFC5424);
    assert_int_equal(o[1].sasl_mechanism, TL_SASL_NONE);
    assert_false(o[1].kafka_tls);
    assert_int_equal(o[1].n_properties, 0);
    tl_conf_free(c);
}

static void test_kafka_errors(void **state)
{
    (void)state;
    /* The properties' names and values are the output kind's to judge (test_kafka.c, and
     * --check in test_kafka.py): the loader only wants a mapping of single values. */
    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - name: k\n"
                  "    type: kafka\n"
                  "    topic: \"logs/{app}\"\n"
                  "    key: \"{host}\"\n"
                  "    targets: [h]\n"
                  "  - name: l\n"
                  "    type: kafka\n"
                  "    brokers: []\n"
                  "    topic: \"..\"\n"
                  "    sasl: {mechanism: GSSAPI, password_file: /pw}\n"
                  "    properties: {acks: 1, linger.ms: [5], no.such: 1, acks: 2}\n"
                  "  - name: m\n"
                  "    type: kafka\n"
                  "    brokers: h:0\n"
                  "    topic: logs\n"
                  "    sasl: {mechanism: PLAIN, username: u, password_file: /pw}\n"
                  "    properties: [linger.ms]\n"
                  "  - name: f\n"
                  "    type: forward\n"
                  "    transport: tcp\n"
                  "    targets: h\n"
                  "    topic: logs\n",
                  "t.yaml:6: outputs[0] (k): missing required key 'brokers' (kafka outputs "
                  "need it)",
                  "t.yaml:8: outputs[0] (k).topic: 'logs/{app}': a Kafka topic name holds only "
                  "letters, digits, '.', '_' and '-' (besides placeholders); '/' is not allowed",
                  "t.yaml:9: outputs[0] (k).key: unknown placeholder '{host}' in '{host}'; "
                  "allowed: {hostname}, {app}, {year}, {month}, {day}, {hour}, {facility}, "
                  "{severity}, {input}, {peer_ip}, {peer_name}",
                  "t.yaml:10: outputs[0] (k).targets: targets applies only to forward outputs; "
                  "this one's type is kafka",
                  "t.yaml:13: outputs[1] (l).brokers: the list is empty; give at least one "
                  "host:port",
                  "t.yaml:14: outputs[1] (l).topic: '..' is not a valid Kafka topic name",
                  "t.yaml:15: outputs[1] (l).sasl.mechanism: 'GSSAPI' is not one of PLAIN, "
                  "SCRAM-SHA-256, SCRAM-SHA-512",
                  "t.yaml:15: outputs[1] (l).sasl: missing required key 'username'",
                  "t.yaml:16: outputs[1] (l).properties.linger.ms: expected a value (a text or a "
                  "number), got a list",
                  "t.yaml:16: outputs[1] (l).properties.acks: duplicate property; it was first "
                  "given at line 16",
                  "t.yaml:19: outputs[2] (m).brokers[0]: 'h:0': port 0 cannot be connected to; "
                  "give the server's port",
                  "t.yaml:21: outputs[2] (m).sasl: mechanism PLAIN sends the password as it is; "
                  "add a tls: block (TLS to the brokers) or use SCRAM-SHA-512",
                  "t.yaml:22: outputs[2] (m).properties: expected a mapping of librdkafka "
                  "properties (e.g. {\"linger.ms\": \"5\"}), got a list",
                  "t.yaml:27: outputs[3] (f).topic: topic applies only to kafka outputs; this "
                  "one's type is forward");
    /* What librdkafka cannot apply to brokers is refused, inherited or not. */
    expect_errors(BASE_INPUTS
                  "tls: {permitted_peers: [client.test], ciphersuites: TLS_AES_128_GCM_SHA256}\n"
                  "outputs:\n"
                  "  - name: k\n"
                  "    type: kafka\n"
                  "    brokers: h\n"
                  "    topic: logs\n"
                  "    tls: {ca_file: /ca.pem, min_version: \"1.3\", auth: fingerprint,\n"
                  "          fingerprints: [\"SHA256:" \
                  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\"]}\n",
                  "t.yaml:7: outputs[0] (k).tls: a kafka output cannot check brokers by "
                  "fingerprint (librdkafka verifies each broker by its CA and its name); use "
                  "auth name or certvalid with tls.ca_file",
                  "t.yaml:7: outputs[0] (k).tls.permitted_peers (here or at the top level): a "
                  "kafka output checks each broker's certificate against that broker's own host "
                  "name (auth name) and takes no list of names; remove it, or move it into the "
                  "tls: blocks of the inputs it is meant for",
                  "t.yaml:7: outputs[0] (k).tls.ciphersuites (here or at the top level): "
                  "librdkafka takes no TLS 1.3 suites; remove it for this output (tls.ciphers "
                  "sets the TLS 1.2 list)",
                  "t.yaml:7: outputs[0] (k).tls.min_version 1.3 (here or at the top level) "
                  "cannot be applied to a kafka output: librdkafka negotiates what OpenSSL's "
                  "configuration allows (Debian: TLS 1.2 or later); remove it for this output");
}

static void test_parse_size(void **state)
{
    uint64_t v;

    (void)state;
    assert_true(tl_parse_size("0", &v));
    assert_int_equal(v, 0);
    assert_true(tl_parse_size("512", &v));
    assert_int_equal(v, 512);
    assert_true(tl_parse_size("512B", &v));
    assert_int_equal(v, 512);
    assert_true(tl_parse_size("8k", &v));
    assert_int_equal(v, 8192);
    assert_true(tl_parse_size("10kB", &v));
    assert_int_equal(v, 10240);
    assert_true(tl_parse_size("64KiB", &v));
    assert_int_equal(v, 65536);
    assert_true(tl_parse_size("64 KiB", &v));
    assert_int_equal(v, 65536);
    assert_true(tl_parse_size("1M", &v));
    assert_int_equal(v, 1048576);
    assert_true(tl_parse_size("1MB", &v));
    assert_int_equal(v, 1048576);
    assert_true(tl_parse_size("1MiB", &v));
    assert_int_equal(v, 1048576);
    assert_true(tl_parse_size("2GiB", &v));
    assert_int_equal(v, 2147483648ull);
    assert_true(tl_parse_size("3g", &v));
    assert_int_equal(v, 3221225472ull);
    assert_true(tl_parse_size("18446744073709551615", &v));
    assert_int_equal(v, UINT64_MAX);

    assert_false(tl_parse_size("", &v));
    assert_false(tl_parse_size(NULL, &v));
    assert_false(tl_parse_size("KiB", &v));
    assert_false(tl_parse_size("-1", &v));
    assert_false(tl_parse_size("+1", &v));
    assert_false(tl_parse_size(" 1", &v));
    assert_false(tl_parse_size("1 ", &v));
    assert_false(tl_parse_size("1.5M", &v));
    assert_false(tl_parse_size("1T", &v));
    assert_false(tl_parse_size("1KiBB", &v));
    assert_false(tl_parse_size("0x10", &v));
    assert_false(tl_parse_size("18446744073709551616", &v));
    assert_false(tl_parse_size("17179869184GiB", &v));
}

static void test_parse_duration(void **state)
{
    uint64_t v;

    (void)state;
    assert_true(tl_parse_duration_ms("0", &v));
    assert_int_equal(v, 0);
    assert_true(tl_parse_duration_ms("2", &v));
    assert_int_equal(v, 2000);
    assert_true(tl_parse_duration_ms("250ms", &v));
    assert_int_equal(v, 250);
    assert_true(tl_parse_duration_ms("1s", &v));
    assert_int_equal(v, 1000);
    assert_true(tl_parse_duration_ms("5m", &v));
    assert_int_equal(v, 300000);
    assert_true(tl_parse_duration_ms("1h", &v));
    assert_int_equal(v, 3600000);
    assert_true(tl_parse_duration_ms("10 s", &v));
    assert_int_equal(v, 10000);

    assert_false(tl_parse_duration_ms("", &v));
    assert_false(tl_parse_duration_ms("s", &v));
    assert_false(tl_parse_duration_ms("1d", &v));
    assert_false(tl_parse_duration_ms("1.5s", &v));
    assert_false(tl_parse_duration_ms("-1s", &v));
    assert_false(tl_parse_duration_ms("1sec", &v));
    assert_false(tl_parse_duration_ms("18446744073709551615", &v));
    assert_false(tl_parse_duration_ms("99999999999999999999h", &v));
}

static void listen_ok(const char *s, const char *want_host, unsigned want_port)
{
    static char sentinel;
    char why[128] = "";
    char *host = &sentinel;
    uint16_t port = 1;

    struct tl_err e;

    if (tl_parse_listen(s, 514, &host, &port, &e) != TL_OK) {
        print_message("'%s': %s\n", s, tl_err_text(&e, why, sizeof(why)));
        fail();
    }
    if (want_host == NULL) {
        assert_null(host);
    } else {
        assert_non_null(host);
        assert_string_equal(host, want_host);
    }
    assert_int_equal(port, want_port);
    free(host);
}

static void listen_bad(const char *s, const char *want_why)
{
    char why[128] = "";
    char *host = NULL;
    uint16_t port = 0;

    struct tl_err e;

    assert_int_not_equal(tl_parse_listen(s, 514, &host, &port, &e), TL_OK);
    assert_null(host);
    assert_string_equal(tl_err_text(&e, why, sizeof(why)), want_why);
}

static void test_parse_listen(void **state)
{
    (void)state;
    listen_ok("127.0.0.1:5514", "127.0.0.1", 5514);
    listen_ok("127.0.0.1", "127.0.0.1", 514);
    listen_ok("0.0.0.0:0", "0.0.0.0", 0);
    listen_ok(":6514", NULL, 6514);
    listen_ok("6514", NULL, 6514);
    listen_ok("0", NULL, 0);
    listen_ok("65535", NULL, 65535);
    listen_ok("localhost:514", "localhost", 514);
    listen_ok("log-1.example.com", "log-1.example.com", 514);
    listen_ok("[::1]:514", "::1", 514);
    listen_ok("[::]:0", "::", 0);
    listen_ok("[2001:db8::1]", "2001:db8::1", 514);
    listen_ok("[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1);
    listen_ok("[fe80::1%eth0]:514", "fe80::1%eth0", 514);

    listen_bad("", "it is empty");
    listen_bad("65536", "port '65536' is out of range 0..65535");
    listen_bad("host:99999999999999999999", "port '99999999999999999999' is out of range "
               "0..65535");
    listen_bad("host:", "the port is missing after ':'");
    listen_bad(":", "the port is missing after ':'");
    listen_bad("host:http", "port 'http' is not a number");
    listen_bad("host:-1", "port '-1' is not a number");
    listen_bad("::1", "an IPv6 address needs brackets, e.g. [::1]:514 or [::]:514");
    listen_bad("::1:514", "an IPv6 address needs brackets, e.g. [::1]:514 or [::]:514");
    listen_bad("[::1", "'[' has no matching ']'");
    listen_bad("[::1]514", "unexpected text after ']'; write [address]:port");
    listen_bad("[]:514", "'' is not an IPv6 address");
    listen_bad("[1.2.3.4]:514", "'1.2.3.4' is not an IPv6 address");
    listen_bad("[::g]:514", "'::g' is not an IPv6 address");
    listen_bad("[fe80::1%]:1", "'fe80::1%' is not an IPv6 address");
    listen_bad("256.1.1.1:514", "'256.1.1.1' is not a valid IPv4 address");
    listen_bad("1.2.3:514", "'1.2.3' is not a valid IPv4 address");
    listen_bad("bad host:514", "'bad host' is not a host name or IP address");
    listen_bad("a..b:514", "'a..b' is not a host name or IP address");
    listen_bad("*:514", "'*' is not a host name or IP address");
}

/* ---- docs ------------------------------------------------------------------------------ */

/* docs/configuration.md embeds the generated key reference between two markers; if a key
 * changes, regenerate it (the expected text is written to conf-reference.md in the current
 * directory when this fails). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    long size;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0) {
        rewind(f);
        text = calloc(1, (size_t)size + 1);
        if (text != NULL && fread(text, 1, (size_t)size, f) != (size_t)size) {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

/* A file output's sync takes the queue's words (but not interval) and, as before, booleans. */
static void test_file_sync_words(void **state)
{
    struct tl_conf *c = load_ok(BASE_INPUTS
                                "outputs:\n"
                                "  - {name: a, type: file, path: a.log, sync: always}\n"
                                "  - {name: b, type: file, path: b.log, sync: none}\n"
                                "  - {name: c, type: file, path: c.log, sync: true}\n"
                                "  - {name: d, type: file, path: d.log, sync: \"no\"}\n"
                                "  - {name: e, type: file, path: e.log, sync: True}\n");

    (void)state;
    assert_int_equal(c->outputs[0].sync, TL_QSYNC_ALWAYS);
    assert_int_equal(c->outputs[1].sync, TL_QSYNC_NONE);
    assert_int_equal(c->outputs[2].sync, TL_QSYNC_ALWAYS);
    assert_int_equal(c->outputs[3].sync, TL_QSYNC_NONE);
    assert_int_equal(c->outputs[4].sync, TL_QSYNC_ALWAYS);
    tl_conf_free(c);
    expect_errors(BASE_INPUTS
                  "outputs:\n"
                  "  - {name: a, type: file, path: a.log, sync: interval}\n",
                  "t.yaml:6: outputs[0] (a).sync: interval is for a forward output's disk "
                  "queue (queue.sync); a file output has no sync timer: choose always (fsync "
                  "after every batch) or none (the kernel writes when it likes)");
}

/* Issue 12: an input that has a CA (its own or inherited) and no auth would accept anyone. */
static void test_implicit_anon_input(void **state)
{
    struct tl_conf *c;

    (void)state;
    expect_errors("tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem}\n"
                  "inputs:\n"
                  "  - name: t\n"
                  "    transport: tls\n"
                  "    listen: \":1\"\n"
                  "  - name: r\n"
                  "    transport: relp\n"
                  "    listen: \":2\"\n"
                  "    tls: {}\n"
                  BASE_OUTPUTS,
                  "t.yaml:3: inputs[0] (t).tls: a CA is configured (tls.ca_file, here or at "
                  "the top level) but no tls.auth, so any client would be accepted, with or "
                  "without a certificate; set auth: certvalid, name or fingerprint, or auth: "
                  "anon to accept anyone",
                  "t.yaml:6: inputs[1] (r).tls: a CA is configured (tls.ca_file, here or at "
                  "the top level) but no tls.auth, so any client would be accepted, with or "
                  "without a certificate; set auth: certvalid, name or fingerprint, or auth: "
                  "anon to accept anyone");
    expect_errors("inputs:\n"
                  "  - name: d\n"
                  "    transport: tls\n"
                  "    listen: \":3\"\n"
                  "    tls: {ca_dir: /cas, cert_file: /c.pem, key_file: /k.pem}\n"
                  BASE_OUTPUTS,
                  "t.yaml:2: inputs[0] (d).tls: a CA is configured (tls.ca_dir, here or at "
                  "the top level) but no tls.auth, so any client would be accepted, with or "
                  "without a certificate; set auth: certvalid, name or fingerprint, or auth: "
                  "anon to accept anyone");
    /* Said out loud it is fine; so is no CA at all (nothing suggests a client check), and
     * plain relp and outputs are not concerned. */
    c = load_ok("tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem}\n"
                "inputs:\n"
                "  - {name: t, transport: tls, listen: \":1\", tls: {auth: anon}}\n"
                "  - {name: r, transport: relp, listen: \":2\"}\n"
                "  - {name: n, transport: tls, listen: \":3\", tls: {auth: certvalid}}\n"
                "outputs:\n"
                "  - {name: f, type: forward, targets: h}\n");
    assert_int_equal(c->inputs[0].tls.auth, TL_AUTH_ANON);
    tl_conf_free(c);
    c = load_ok("inputs:\n"
                "  - {name: t, transport: tls, listen: \":1\", tls: {cert_file: /c, key_file: "
                "/k}}\n" BASE_OUTPUTS);
    assert_int_equal(c->inputs[0].tls.auth, TL_AUTH_DEFAULT);
    tl_conf_free(c);
}

/* tl_conf_check_files: each file key, once per block that sets it, with its line. */
static void test_check_files(void **state)
{
    char dir[] = "/tmp/tlslogd-test-conf-XXXXXX";
    char text[2048];
    char cwd[256];
    char want[4][2048];
    struct tl_conf_errors errs = {0};
    struct tl_conf *c;
    FILE *f;
    size_t i;

    int back = open(".", O_RDONLY | O_DIRECTORY);

    (void)state;
    assert_true(back >= 0);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chdir(dir), 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    f = fopen("ca.pem", "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(mkdir("cas", 0700), 0);
    snprintf(text, sizeof(text),
             "tls:\n"
             "  ca_file: ca.pem\n"
             "  cert_file: %s/missing.pem\n"
             "  key_file: cas\n"
             "inputs:\n"
             "  - name: t\n"
             "    transport: tls\n"
             "    listen: \":1\"\n"
             "    tls:\n"
             "      auth: certvalid\n"
             "      ca_dir: nodir\n"
             "      crl_file: ca.pem\n"
             "      key_password_file: pw\n"
             "outputs:\n"
             "  - {name: f, type: forward, targets: h, tls: {ca_file: system, ca_dir: cas}}\n",
             dir);
    c = load_ok(text);
    assert_false(tl_conf_check_files(c, &errs));
    snprintf(want[0], sizeof(want[0]),
             "t.yaml:3: tls.cert_file: cannot read file '%s/missing.pem': No such file or "
             "directory; cert_file must name this side's certificate in PEM, then its "
             "intermediates (tlslog cert issue makes one): fix the path or put the file there",
             dir);
    snprintf(want[1], sizeof(want[1]),
             "t.yaml:4: tls.key_file: cannot read file 'cas' (relative to the working "
             "directory %s): it is a directory, not a file; key_file must name the PEM private "
             "key of cert_file: fix the path", cwd);
    snprintf(want[2], sizeof(want[2]),
             "t.yaml:11: inputs[0] (t).tls.ca_dir: cannot read directory 'nodir' (relative to "
             "the working directory %s): No such file or directory; ca_dir must name a "
             "directory of CA certificates named by hash (openssl rehash DIR): fix the path or "
             "create it", cwd);
    snprintf(want[3], sizeof(want[3]),
             "t.yaml:13: inputs[0] (t).tls.key_password_file: cannot read file 'pw' (relative "
             "to the working directory %s): No such file or directory; key_password_file must "
             "name a file whose first line is the password of key_file: fix the path or put "
             "the file there", cwd);
    if (errs.n != 4) {
        print_errors(&errs);
    }
    assert_int_equal(errs.n, 4);
    for (i = 0; i < 4; i++) {
        assert_string_equal(errs.lines[i], want[i]);
    }
    tl_conf_errors_fini(&errs);
    tl_conf_free(c);

    /* Every file there: nothing to say. */
    c = load_ok("tls: {ca_file: ca.pem, ca_dir: cas, crl_file: ca.pem}\n" BASE_INPUTS
                BASE_OUTPUTS);
    assert_true(tl_conf_check_files(c, &errs));
    assert_int_equal(errs.n, 0);
    tl_conf_errors_fini(&errs);
    tl_conf_free(c);
    assert_int_equal(unlink("ca.pem"), 0);
    assert_int_equal(rmdir("cas"), 0);
    assert_int_equal(fchdir(back), 0); /* later tests write into the working directory */
    close(back);
    assert_int_equal(rmdir(dir), 0);
}

static void test_docs_match_tables(void **state)
{
    static const char begin[] = "<!-- BEGIN KEY REFERENCE";
    static const char end[] = "<!-- END KEY REFERENCE -->";
    char *ref = tl_conf_reference_markdown();
    char *doc = read_text(DOCS);
    const char *b = doc ? strstr(doc, begin) : NULL;
    const char *e = NULL;
    bool same = false;

    (void)state;
    assert_non_null(ref);
    if (b != NULL && (b = strstr(b, "-->\n")) != NULL) {
        b += 4;
        e = strstr(b, end);
    }
    if (e != NULL) {
        same = (size_t)(e - b) == strlen(ref) && memcmp(b, ref, strlen(ref)) == 0;
    }
    /* The built-in configuration is shown verbatim too. */
    assert_non_null(doc);
    assert_non_null(strstr(doc, tl_conf_embedded));
    if (!same) {
        FILE *out = fopen("conf-reference.md", "w");

        if (out != NULL) {
            fputs(ref, out);
            fclose(out);
        }
        print_message("docs/configuration.md does not hold the key reference generated from "
                      "src/conf/keys.c between its markers; the expected text is in "
                      "./conf-reference.md\n");
    }
    free(doc);
    free(ref);
    assert_true(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_load),
        cmocka_unit_test(test_embedded),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_enum_words),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_top_level_shape),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_transport_rules),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_tls_merge),
        cmocka_unit_test(test_forward_defaults),
        cmocka_unit_test(test_tls_errors),
        cmocka_unit_test(test_forward_errors),
        cmocka_unit_test(test_forward_modes),
        cmocka_unit_test(test_relp_input),
        cmocka_unit_test(test_relp_output),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_queue_errors),
        cmocka_unit_test(test_kafka_output),
        cmocka_unit_test(test_kafka_errors),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_file_sync_words),
        cmocka_unit_test(test_implicit_anon_input),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_connection_limits),
        cmocka_unit_test(test_docs_match_tables),
        cmocka_unit_test(test_service_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
