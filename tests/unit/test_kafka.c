/*
 * test_kafka.c: the pure parts of the kafka output (src/out/kafka.h): its check of the
 * librdkafka properties (the output kind's check operation, which --check and the start
 * run), a record's topic and key rendered from the templates, and the disk record's encoding
 * read back.
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

#include "conf/conf.h"
#include "core/buf.h"
#include "core/msg.h"
#include "out/kafka.h"
#include "out/out.h"
#include "parse/parse.h"

static struct tl_conf *load(const char *text)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = tl_conf_load_string(text, strlen(text), "k.yaml", &errs);

    for (size_t i = 0; i < errs.n; i++) {
        print_message("  load: %s\n", errs.lines[i]);
    }
    assert_non_null(c);
    tl_conf_errors_fini(&errs);
    return c;
}

static void test_check_properties(void **state)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c;

    (void)state;
    assert_ptr_equal(tl_output_kind(TL_OUT_KAFKA), &tl_out_kafka_ops);
    c = load("inputs:\n  - name: in\n    transport: tcp\n    listen: 127.0.0.1:0\n"
             "outputs:\n"
             "  - name: f\n    type: file\n    path: /tmp/x\n"
             "  - name: k\n    type: kafka\n    brokers: h\n    topic: logs\n"
             "    properties:\n"
             "      linger.ms: soon\n"
             "      compression.type: zstd\n"
             "      sasl.password: x\n"
             "      no.such: 1\n"
             "      acks: 1\n"
             "  - name: ok\n    type: kafka\n    brokers: h\n    topic: logs\n"
             "    properties: {linger.ms: 5, batch.num.messages: 1000}\n");
    assert_false(tl_out_kafka_ops.check(c, 1, &errs));
    assert_int_equal(errs.n, 4);
    assert_string_equal(errs.lines[0], "k.yaml:14: outputs[1] (k).properties.linger.ms: "
                        "librdkafka refuses 'soon': Invalid value for configuration property "
                        "\"queue.buffering.max.ms\"");
    assert_string_equal(errs.lines[1], "k.yaml:16: outputs[1] (k).properties.sasl.password: "
                        "tlslogd sets sasl.password itself; use sasl.password_file: a password "
                        "does not belong in the configuration file");
    assert_string_equal(errs.lines[2], "k.yaml:17: outputs[1] (k).properties.no.such: "
                        "librdkafka refuses '1': No such configuration property: \"no.such\"");
    assert_string_equal(errs.lines[3], "k.yaml:18: outputs[1] (k).properties.acks: tlslogd "
                        "sets acks itself; tlslogd always asks for acks=all: a message counts "
                        "as delivered only when every in-sync replica has it");
    tl_conf_errors_fini(&errs);
    assert_true(tl_out_kafka_ops.check(c, 2, &errs));
    assert_int_equal(errs.n, 0);
    tl_conf_free(c);
}

static struct tl_msg *mk(const char *s)
{
    struct tl_msg *m = tl_msg_new_extra(s, strlen(s), 64);

    assert_non_null(m);
    m->peer.family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, "192.0.2.1", m->peer.addr), 1);
    tl_parse(m);
    return m;
}

static void expect_topic(const char *text, const struct tl_msg *m, const char *want)
{
    struct tl_template *t = NULL;
    struct tl_err err;
    struct tl_buf b;

    assert_int_equal(tl_template_new(text, &t, &err), TL_OK);
    tl_buf_init(&b, 0);
    kafka_render_topic(t, m, "in", &b);
    assert_int_equal(b.len, strlen(want));
    assert_string_equal((const char *)b.data, want); /* NUL-terminated, not counted */
    tl_buf_fini(&b);
    tl_template_free(t);
}

static void test_topic_and_key(void **state)
{
    struct tl_msg *m = mk("<134>1 2026-01-01T00:00:00Z web/01:x app.d - - - hi");
    struct tl_msg *bare = mk("<13>hello");
    struct tl_template *t = NULL;
    struct tl_err err;
    struct tl_buf b;
    char long_host[400];

    (void)state;
    /* What Kafka does not take in a topic name becomes '_'; tlslogd's own values stay. */
    expect_topic("syslog-{facility}.{hostname}", m, "syslog-local0.web_01_x");
    expect_topic("{input}-{app}-{severity}", m, "in-app.d-info");
    expect_topic("{peer_ip}", m, "192.0.2.1");
    /* Never empty, ".", or "..": */
    expect_topic("{app}", bare, "-");
    expect_topic("..", m, "_");
    memset(long_host, 'h', sizeof(long_host) - 1);
    memcpy(long_host, "<13>1 - ", 8);
    long_host[sizeof(long_host) - 1] = '\0';
    tl_msg_unref(bare);
    bare = mk(long_host);
    tl_buf_init(&b, 0);
    assert_int_equal(tl_template_new("t-{hostname}", &t, &err), TL_OK);
    kafka_render_topic(t, bare, "in", &b);
    assert_int_equal(b.len, KAFKA_TOPIC_LEN_MAX);
    tl_template_free(t);
    /* A key is the sender's text as it is. */
    assert_int_equal(tl_template_new("{hostname} {app}", &t, &err), TL_OK);
    kafka_render_key(t, m, "in", &b);
    assert_int_equal(b.len, strlen("web/01:x app.d"));
    assert_memory_equal(b.data, "web/01:x app.d", b.len);
    tl_template_free(t);
    tl_buf_fini(&b);
    tl_msg_unref(m);
    tl_msg_unref(bare);
}

static void test_record_round_trip(void **state)
{
    struct kafka_rec in = {"syslog-user", 11, (const uint8_t *)"h1", 2,
                           (const uint8_t *)"{\"msg\":\"x\"}", 11};
    struct kafka_rec out;
    char topic[KAFKA_TOPIC_LEN_MAX + 1];
    struct tl_buf b;

    (void)state;
    tl_buf_init(&b, 0);
    assert_true(kafka_rec_encode(&in, &b));
    assert_int_equal(b.len, 6 + 11 + 2 + 11);
    assert_true(kafka_rec_decode(b.data, b.len, topic, &out));
    assert_string_equal(out.topic, "syslog-user");
    assert_int_equal(out.key_len, 2);
    assert_memory_equal(out.key, "h1", 2);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.value, in.value, 11);
    /* No key is not an empty key. */
    in.key = NULL;
    in.key_len = 0;
    assert_true(kafka_rec_encode(&in, &b));
    assert_true(kafka_rec_decode(b.data, b.len, topic, &out));
    assert_null(out.key);
    /* Cut short, another version, a topic Kafka would refuse: not a record. */
    assert_false(kafka_rec_decode(b.data, 5, topic, &out));
    b.data[0] = 2;
    assert_false(kafka_rec_decode(b.data, b.len, topic, &out));
    b.data[0] = 1;
    b.data[6] = '/';
    assert_false(kafka_rec_decode(b.data, b.len, topic, &out));
    tl_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_properties),
        cmocka_unit_test(test_topic_and_key),
        cmocka_unit_test(test_record_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
