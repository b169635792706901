/*
 * yaml_tree.c: builds a tl_yaml_node tree from libyaml events (see yaml_tree.h).
 */
#include "conf/yaml_tree.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
    struct tl_yaml_node *root;
    struct tl_yaml_node *stack[TL_YAML_MAX_DEPTH];
    size_t depth;
    int docs;
    const char *text;
    size_t len;
    int err_line;
    struct tl_err *err;
};

static int mark_int(size_t v)
{
    return v >= (size_t)INT_MAX ? INT_MAX : (int)v + 1;
}

/* The text at line cannot be read as a configuration tree (TL_E_CONFIG). */
static bool fail(struct builder *b, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct builder *b, int line, const char *fmt, ...)
{
    char text[sizeof(b->err->cause)];
    va_list ap;

    b->err_line = line;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    TL_ERR(b->err, TL_E_CONFIG, NULL, "%s", text);
    return false;
}

/* Out of memory (TL_E_RESOURCE): what is said at line 1, like every error without a place. */
static bool oom(struct builder *b, const char *what)
{
    b->err_line = 1;
    TL_ERR(b->err, TL_E_RESOURCE, NULL, "%s", what);
    return false;
}

static struct tl_yaml_node *node_new(enum tl_yaml_kind kind, const yaml_mark_t *m)
{
    struct tl_yaml_node *n = calloc(1, sizeof(*n));

    if (n == NULL) {
        return NULL;
    }
    n->kind = kind;
    n->line = mark_int(m->line);
    n->col = mark_int(m->column);
    return n;
}

void tl_yaml_free(struct tl_yaml_node *n)
{
    size_t i;

    if (n == NULL) {
        return;
    }
    for (i = 0; i < n->n; i++) {
        tl_yaml_free(n->kids[i]);
    }
    free(n->kids);
    free(n->str);
    free(n);
}

bool tl_yaml_is_null(const struct tl_yaml_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    size_t i;

    if (n == NULL) {
        return true;
    }
    if (n->kind != TL_YAML_SCALAR || n->quoted) {
        return false;
    }
    for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (n->len == strlen(nulls[i]) && memcmp(n->str, nulls[i], n->len) == 0) {
            return true;
        }
    }
    return false;
}

/* Hangs a new node under the open collection (or makes it the root); takes ownership. */
static bool attach(struct builder *b, struct tl_yaml_node *n)
{
    struct tl_yaml_node *parent;

    if (b->depth == 0) {
        if (b->root != NULL) {
            int line = n->line;

            tl_yaml_free(n);
            return fail(b, line, "unexpected second root node");
        }
        b->root = n;
        return true;
    }
    parent = b->stack[b->depth - 1];
    if (parent->kind == TL_YAML_MAP && parent->n % 2 == 0 && n->kind != TL_YAML_SCALAR) {
        int line = n->line;
        const char *what = n->kind == TL_YAML_MAP ? "mapping" : "list";

        tl_yaml_free(n);
        return fail(b, line, "a mapping key must be a plain word, not a %s", what);
    }
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        struct tl_yaml_node **kids = realloc(parent->kids, cap * sizeof(*kids));

        if (kids == NULL) {
            tl_yaml_free(n);
            return oom(b, "out of memory");
        }
        parent->kids = kids;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = n;
    return true;
}

static bool no_anchor(struct builder *b, const yaml_char_t *anchor, const yaml_mark_t *m)
{
    if (anchor != NULL) {
        return fail(b, mark_int(m->line),
                    "YAML anchors and aliases (&%.40s, *name) are not supported; "
                    "write the value out", (const char *)anchor);
    }
    return true;
}

static bool on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct tl_yaml_node *n;

    if (!no_anchor(b, ev->data.scalar.anchor, &ev->start_mark)) {
        return false;
    }
    n = node_new(TL_YAML_SCALAR, &ev->start_mark);
    if (n == NULL) {
        return oom(b, "out of memory");
    }
    n->len = ev->data.scalar.length;
    n->str = malloc(n->len + 1);
    if (n->str == NULL) {
        tl_yaml_free(n);
        return oom(b, "out of memory");
    }
    if (n->len > 0) {
        memcpy(n->str, ev->data.scalar.value, n->len);
    }
    n->str[n->len] = '\0';
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return attach(b, n);
}

static bool on_open(struct builder *b, const yaml_event_t *ev, enum tl_yaml_kind kind)
{
    const yaml_char_t *anchor = kind == TL_YAML_MAP ? ev->data.mapping_start.anchor
                                                     : ev->data.sequence_start.anchor;
    struct tl_yaml_node *n;

    if (!no_anchor(b, anchor, &ev->start_mark)) {
        return false;
    }
    if (b->depth == TL_YAML_MAX_DEPTH) {
        return fail(b, mark_int(ev->start_mark.line), "nesting is deeper than %d levels",
                    TL_YAML_MAX_DEPTH);
    }
    n = node_new(kind, &ev->start_mark);
    if (n == NULL) {
        return oom(b, "out of memory");
    }
    if (!attach(b, n)) {
        return false;
    }
    b->stack[b->depth++] = n;
    return true;
}

static bool on_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1) {
            return fail(b, mark_int(ev->start_mark.line),
                        "only one YAML document is allowed; remove this '---' and what "
                        "follows, or merge it into the first document");
        }
        return true;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(b, ev, TL_YAML_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_open(b, ev, TL_YAML_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0) {
            b->depth--;
        }
        return true;
    case YAML_ALIAS_EVENT:
        return fail(b, mark_int(ev->start_mark.line),
                    "YAML anchors and aliases (&name, *%.40s) are not supported; "
                    "write the value out", (const char *)ev->data.alias.anchor);
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    default:
        return true;
    }
}

/* The start of the line that holds text[pos], and its number (1-based). */
static size_t line_start(const char *text, size_t pos, int *line)
{
    size_t i;

    *line = 1;
    for (i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            (*line)++;
        }
    }
    while (pos > 0 && text[pos - 1] != '\n') {
        pos--;
    }
    return pos;
}

/* The column (1-based) where the line's content starts: after its spaces and any "- " of
 * list items, so that "  - name: a" gives the column of "name", like the keys below it. */
static size_t text_column(const char *text, size_t len, size_t start)
{
    size_t i = start;

    for (;;) {
        while (i < len && text[i] == ' ') {
            i++;
        }
        if (i + 1 < len && text[i] == '-' && text[i + 1] == ' ') {
            i++;
            continue;
        }
        return i - start + 1;
    }
}

/*
 * libyaml's words for a line indented wrong ("mapping values are not allowed in this
 * context", "did not find expected key", ...) say nothing about indentation, the usual cause.
 * Writes a hint comparing the indentation of the problem's line with the line above it that
 * has content (comments and blank lines skipped); "" when the problem is another one.
 */
static void indentation_hint(const struct builder *b, const yaml_parser_t *p, char *out,
                             size_t cap)
{
    static const char *const problems[] = {
        "mapping values are not allowed in this context",
        "did not find expected key",
        "did not find expected '-' indicator",
        "block sequence entries are not allowed in this context",
    };
    bool mapping_values = strcmp(p->problem, problems[0]) == 0;
    bool known = false;
    size_t i;
    size_t start;
    size_t prev;
    size_t col;
    size_t prev_col;
    int line;
    int prev_line;

    out[0] = '\0';
    for (i = 0; i < sizeof(problems) / sizeof(problems[0]); i++) {
        known |= strcmp(p->problem, problems[i]) == 0;
    }
    if (!known || p->problem_mark.index > b->len) {
        return;
    }
    start = line_start(b->text, p->problem_mark.index, &line);
    prev = start;
    prev_line = line;
    do {
        if (prev == 0) {
            prev_line = 0;
            break;
        }
        prev = line_start(b->text, prev - 1, &prev_line);
        i = prev + text_column(b->text, b->len, prev) - 1;
    } while (i >= b->len || b->text[i] == '\n' || b->text[i] == '#' || b->text[i] == '\r');
    col = text_column(b->text, b->len, start);
    prev_col = prev_line ? text_column(b->text, b->len, prev) : 0;
    if (mapping_values && col == prev_col) {
        snprintf(out, cap, "; line %d lines up with line %d above it: if its value contains "
                 "': ', quote the value", line, prev_line);
    } else if (prev_line == 0) {
        snprintf(out, cap, "; check the indentation of line %d", line);
    } else {
        snprintf(out, cap, "; check the indentation of line %d: its text starts in column %zu, "
                 "that of line %d above it in column %zu (the keys of one mapping, and the "
                 "items of one list, start in the same column; what belongs to a key is "
                 "indented further)%s", line, col, prev_line, prev_col,
                 mapping_values ? "; or, if its value contains ': ', quote the value" : "");
    }
}

/* Turns libyaml's error state into one sentence. */
static void syntax_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    char ctx[128] = "";
    char indent[400];
    const char *hint = "";
    size_t i;
    int line;

    if (p->error == YAML_MEMORY_ERROR) {
        oom(b, "out of memory while reading YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        line = 1;
        for (i = 0; i < p->problem_offset && i < b->len; i++) {
            if (b->text[i] == '\n') {
                line++;
            }
        }
        fail(b, line, "cannot read the text: %s (byte offset %zu); the file must be UTF-8",
             problem, p->problem_offset);
        return;
    }
    if (p->context != NULL) {
        snprintf(ctx, sizeof(ctx), " (%s that starts at line %d)", p->context,
                 mark_int(p->context_mark.line));
    }
    if (p->problem_mark.index < b->len && b->text[p->problem_mark.index] == '\t') {
        hint = "; YAML does not allow tabs for indentation, use spaces";
    } else if (p->problem != NULL) {
        indentation_hint(b, p, indent, sizeof(indent));
        hint = indent;
    }
    fail(b, mark_int(p->problem_mark.line), "YAML syntax error at column %d: %s%s%s",
         mark_int(p->problem_mark.column), problem, ctx, hint);
}

struct tl_yaml_node *tl_yaml_parse(const char *text, size_t len, int *err_line,
                                   struct tl_err *err)
{
    struct builder b;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool ok = true;
    bool done = false;

    memset(&b, 0, sizeof(b));
    b.text = text;
    b.len = len;
    b.err = err;
    if (!yaml_parser_initialize(&parser)) {
        oom(&b, "out of memory");
        *err_line = b.err_line;
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (ok && !done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&b, &parser);
            ok = false;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        ok = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);

    if (ok && b.root == NULL) {
        /* An empty stream (no document at all) reads as null, like an empty document. */
        static const yaml_mark_t first = {0, 0, 0};

        b.root = node_new(TL_YAML_SCALAR, &first);
        if (b.root != NULL) {
            b.root->str = calloc(1, 1);
        }
        if (b.root == NULL || b.root->str == NULL) {
            ok = oom(&b, "out of memory");
        }
    }
    if (!ok) {
        tl_yaml_free(b.root);
        *err_line = b.err_line;
        return NULL;
    }
    *err_line = 0;
    return b.root;
}
