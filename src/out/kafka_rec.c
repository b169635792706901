/*
 * kafka_rec.c: a Kafka record of the kafka output (kafka.h): its topic and key rendered
 * from the templates (parse/template.h, the one placeholder list), and its encoding in the
 * disk part, which decoding must survive whatever a damaged or foreign file holds.
 */
#include <string.h>

#include "out/kafka.h"

#define REC_VERSION 1
#define REC_HEADER 6
#define NO_KEY UINT32_MAX

static bool topic_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* One value of a topic: Kafka takes letters, digits, '.', '_' and '-' only; an empty value
 * is "-" (as in file paths). */
static bool put_topic_part(struct tl_buf *b, const uint8_t *p, size_t n)
{
    bool ok = n > 0 || tl_buf_putc(b, '-');
    for (size_t i = 0; i < n && ok; i++) {
        ok = tl_buf_putc(b, topic_char(p[i]) ? p[i] : '_');
    }
    return ok;
}

/* A key's value as the sender wrote it. */
static bool put_raw(struct tl_buf *b, const uint8_t *p, size_t n)
{
    return tl_buf_append(b, p, n);
}

void kafka_render_topic(const struct tl_template *t, const struct tl_msg *m,
                        const char *input_name, struct tl_buf *b)
{
    tl_buf_reset(b);
    tl_template_render(t, m, input_name, put_topic_part, b);
    if (b->len > KAFKA_TOPIC_LEN_MAX) {
        b->len = KAFKA_TOPIC_LEN_MAX;
    }
    if (b->len == 0 || (b->len <= 2 && memcmp(b->data, "..", b->len) == 0)) {
        tl_buf_reset(b);
        tl_buf_putc(b, '_'); /* "." and ".." are not topic names */
    }
    tl_buf_putc(b, '\0');
    b->len--;
}

void kafka_render_key(const struct tl_template *t, const struct tl_msg *m,
                      const char *input_name, struct tl_buf *b)
{
    tl_buf_reset(b);
    tl_template_render(t, m, input_name, put_raw, b);
    if (b->len > KAFKA_KEY_LEN_MAX) {
        b->len = KAFKA_KEY_LEN_MAX;
    }
}

bool kafka_rec_encode(const struct kafka_rec *r, struct tl_buf *b)
{
    uint8_t h[REC_HEADER];
    uint32_t kl = r->key ? (uint32_t)r->key_len : NO_KEY;
    h[0] = REC_VERSION;
    h[1] = (uint8_t)r->topic_len;
    for (int i = 0; i < 4; i++) {
        h[2 + i] = (uint8_t)(kl >> (8 * i));
    }
    tl_buf_reset(b);
    return tl_buf_append(b, h, sizeof(h)) && tl_buf_append(b, r->topic, r->topic_len) &&
           (!r->key || tl_buf_append(b, r->key, r->key_len)) &&
           tl_buf_append(b, r->value, r->len);
}

bool tl_out_kafka_rec_decode(const uint8_t *p, size_t len, char *topic, const uint8_t **key,
                             size_t *key_len, const uint8_t **value, size_t *value_len)
{
    if (len < REC_HEADER || p[0] != REC_VERSION || p[1] == 0 || p[1] > KAFKA_TOPIC_LEN_MAX) {
        return false;
    }
    size_t tl = p[1];
    uint32_t kl = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 |
                  (uint32_t)p[5] << 24;
    size_t klen = kl == NO_KEY ? 0 : kl;
    if (klen > KAFKA_KEY_LEN_MAX || len - REC_HEADER < tl || len - REC_HEADER - tl < klen) {
        return false;
    }
    for (size_t i = 0; i < tl; i++) {
        if (!topic_char(p[REC_HEADER + i])) {
            return false;
        }
    }
    memcpy(topic, p + REC_HEADER, tl);
    topic[tl] = '\0';
    *key = kl == NO_KEY ? NULL : p + REC_HEADER + tl;
    *key_len = klen;
    *value = p + REC_HEADER + tl + klen;
    *value_len = len - REC_HEADER - tl - klen;
    return true;
}

bool kafka_rec_decode(const uint8_t *p, size_t len, char *topic, struct kafka_rec *r)
{
    if (!tl_out_kafka_rec_decode(p, len, topic, &r->key, &r->key_len, &r->value, &r->len)) {
        return false;
    }
    r->topic = topic;
    r->topic_len = strlen(topic);
    return true;
}
