/*
 * fuzz_kafka_record.c: libFuzzer target for the kafka output's disk record decoder
 * (tl_out_kafka_rec_decode in src/out/kafka_rec.c): what it reads back from its disk queue,
 * which a damaged or foreign file can fill with anything.
 *
 * Checked for every input: an accepted record's parts lie inside the input, in order and
 * without overlap (topic, key, value), cover it exactly, and the topic is a Kafka name (1 to
 * 249 characters of letters, digits, '.', '_', '-'), NUL-terminated in the caller's buffer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
bool tl_out_kafka_rec_decode(const uint8_t *p, size_t len, char *topic, const uint8_t **key,
                             size_t *key_len, const uint8_t **value, size_t *value_len);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char topic[250 + 8];
    const uint8_t *key = NULL;
    const uint8_t *value = NULL;
    size_t key_len = 0;
    size_t value_len = 0;
    /* A copy of exactly size bytes: ASan sees any read past the record. */
    uint8_t *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    memcpy(p, data, size);
    memset(topic, 'X', sizeof(topic));
    if (tl_out_kafka_rec_decode(p, size, topic, &key, &key_len, &value, &value_len)) {
        size_t tl = strnlen(topic, sizeof(topic));
        CHECK(tl >= 1 && tl <= 249 && tl == p[1]);
        for (size_t i = 0; i < tl; i++) {
            char c = topic[i];
            CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-');
        }
        CHECK(value >= p + 6 + tl && value + value_len == p + size);
        if (key) {
            CHECK(key == p + 6 + tl && key + key_len == value);
        } else {
            CHECK(key_len == 0 && value == p + 6 + tl);
        }
    }
    free(p);
    return 0;
}
