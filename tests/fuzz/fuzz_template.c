/*
 * fuzz_template.c: libFuzzer target for templates with {placeholders} (parse/template.h).
 *
 * Input: "TEMPLATE\0MESSAGE". tl_template_check and tl_template_new must agree; a refused
 * template comes with a sentence. An accepted one is rendered for MESSAGE (parsed as a
 * syslog message) as a file output does, and the result must be its literal text plus safe
 * path components: every '/' of the result comes from the template, it holds no NUL and no
 * control byte the template did not, and no value starts a path component with '.' (the
 * result has a "/." or a leading '.' exactly where the template has). A constant template
 * renders as itself.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/msg.h"
#include "parse/parse.h"
#include "parse/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static size_t count_byte(const uint8_t *p, size_t n, int (*is)(uint8_t))
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        k += is(p[i]) != 0;
    }
    return k;
}

static int is_slash(uint8_t c)
{
    return c == '/';
}

static int is_control(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

/* Path components that start with '.': a leading '.' and each "/.". */
static size_t dot_starts(const uint8_t *p, size_t n)
{
    size_t k = n > 0 && p[0] == '.';

    for (size_t i = 1; i < n; i++) {
        k += p[i - 1] == '/' && p[i] == '.';
    }
    return k;
}

static void render(const struct tl_template *t, const char *text, const uint8_t *msg,
                   size_t len)
{
    struct tl_msg *m = tl_msg_new(msg, len);
    struct tl_buf b;
    size_t tlen = strlen(text);

    if (m == NULL) {
        return;
    }
    m->recv_sec = 1783200600;
    m->peer.family = len > 0 && msg[0] & 1 ? AF_INET : AF_UNIX;
    tl_parse(m);
    tl_buf_init(&b, 0);
    CHECK(tl_template_render(t, m, "in", tl_template_put_path_component, &b));
    CHECK(b.len == 0 || memchr(b.data, '\0', b.len) == NULL);
    CHECK(count_byte(b.data, b.len, is_slash) == count_byte((const uint8_t *)text, tlen,
                                                            is_slash));
    CHECK(count_byte(b.data, b.len, is_control) == count_byte((const uint8_t *)text, tlen,
                                                              is_control));
    /* Values hold no '/' and never start with '.', and "{name}" holds neither. */
    CHECK(dot_starts(b.data, b.len) == dot_starts((const uint8_t *)text, tlen));
    if (tl_template_is_constant(t) && tlen > 0) {
        CHECK(b.len == tlen && memcmp(b.data, text, tlen) == 0);
    }
    tl_buf_fini(&b);
    tl_msg_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
    const uint8_t *msg = nul != NULL ? nul + 1 : data + size;
    size_t mlen = size - (size_t)(msg - data);
    char *text = malloc(tlen + 1);
    struct tl_template *t = NULL;
    struct tl_err e1;
    struct tl_err e2;
    enum tl_rc r1;
    enum tl_rc r2;

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, tlen);
    text[tlen] = '\0';
    r1 = tl_template_check(text, &e1);
    r2 = tl_template_new(text, &t, &e2);
    CHECK(r1 == r2 || r2 == TL_E_RESOURCE);
    if (r1 != TL_OK) {
        CHECK(r1 == TL_E_CONFIG && t == NULL);
        CHECK(strcmp(e1.cause, e2.cause) == 0);
        CHECK(strncmp(e1.cause, "un", 2) == 0); /* "unknown placeholder", "unclosed '{'" */
    } else if (t != NULL) {
        render(t, text, msg, mlen);
    }
    tl_template_free(t);
    free(text);
    return 0;
}
