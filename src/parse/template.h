/*
 * template.h: text with {placeholders} filled in from a message, such as the path of a file
 * output: "/var/log/remote/{hostname}/{year}-{month}.log".
 *
 * The one list of placeholders (tl_template_placeholders) serves three places: the
 * configuration loader refuses a template with an unknown or unclosed placeholder
 * (tl_template_check), the key reference in docs/configuration.md prints the list with its
 * help, and an output renders each message's text (tl_template_render).
 *
 * Syntax: "{name}" is a placeholder; any other text is literal, a lone '}' included. A '{'
 * must be closed before the next '{', and its name must be in the list.
 *
 * A compiled template owns a copy of its text and is immutable: any number of threads may
 * render it at once, each into its own buffer.
 */
#ifndef TL_PARSE_TEMPLATE_H
#define TL_PARSE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/msg.h"

struct tl_template_placeholder {
    const char *name;  /* "hostname", written {hostname} */
    const char *help;  /* what replaces it: one line of Markdown, no '|' */
};

/* Every placeholder, in the order the docs list them. */
extern const struct tl_template_placeholder tl_template_placeholders[];
extern const size_t tl_template_n_placeholders;

struct tl_template;

/* TL_OK when text is a valid template; otherwise TL_E_CONFIG and err's cause says what is
 * wrong, quoting text ("unknown placeholder '{hots}' in 'x/{hots}.log'; allowed: {hostname},
 * ..."). Allocates nothing. */
enum tl_rc tl_template_check(const char *text, struct tl_err *err);

/* Compiles text into *out (free with tl_template_free). TL_E_CONFIG as tl_template_check,
 * TL_E_RESOURCE when out of memory; *out is NULL then. */
enum tl_rc tl_template_new(const char *text, struct tl_template **out, struct tl_err *err);
void tl_template_free(struct tl_template *t);

/* True when the template has no placeholder: every message renders the same text. */
bool tl_template_is_constant(const struct tl_template *t);

/*
 * How a value the sender chose (hostname, app, peer_ip, peer_name) is appended: p[0..n), n
 * may be 0. Values tlslogd chose (the input's name, facility and severity names, dates) are
 * appended as they are. Returns false when b is full.
 */
typedef bool tl_template_put_fn(struct tl_buf *b, const uint8_t *p, size_t n);

/* Appends the value as one safe path component: at most 128 bytes, '/', control bytes and a
 * leading '.' as '_', "-" for an empty value. A sender must not be able to choose where a
 * file output writes. */
bool tl_template_put_path_component(struct tl_buf *b, const uint8_t *p, size_t n);

/*
 * Appends t rendered for m to b (no NUL is added). input_name is the name of the input m
 * arrived on (tl_conf.inputs[m->input].name). Dates are those m was received at, local time:
 * a sender with a wrong clock must not scatter files across years. Returns false when b
 * reached its max and the text is cut.
 */
bool tl_template_render(const struct tl_template *t, const struct tl_msg *m,
                        const char *input_name, tl_template_put_fn *put, struct tl_buf *b);

#endif
