/*
 * diag.c: the loader's diagnostics (see diag.h): errors collected with their lines, handed
 * over in file order, and the phrases they are made of.
 */
#include "conf/diag.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define MAX_ERRORS 100

/* ---- collecting errors ----------------------------------------------------------------- */

static char *vfmt(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vfmt(const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *s;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return NULL;
    }
    s = malloc((size_t)n + 1);
    if (s != NULL) {
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    }
    return s;
}

char *tl_conf_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt(fmt, ap);
    va_end(ap);
    return s;
}

static void add_error(struct ld *ld, int line, char *text)
{
    if (text == NULL) {
        ld->oom = true;
        return;
    }
    if (ld->n_errs == ld->cap_errs) {
        size_t cap = ld->cap_errs ? ld->cap_errs * 2 : 16;
        struct lerr *e = realloc(ld->errs, cap * sizeof(*e));

        if (e == NULL) {
            free(text);
            ld->oom = true;
            return;
        }
        ld->errs = e;
        ld->cap_errs = cap;
    }
    ld->errs[ld->n_errs].line = line;
    ld->errs[ld->n_errs].text = text;
    ld->n_errs++;
}

/* Records "FILE:LINE: message" (just "message" when line is 0). */
void tl_conf_errf(struct ld *ld, int line, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (ld->n_errs >= MAX_ERRORS) {
        ld->dropped++;
        return;
    }
    va_start(ap, fmt);
    msg = vfmt(fmt, ap);
    va_end(ap);
    if (msg == NULL) {
        ld->oom = true;
        return;
    }
    if (line > 0) {
        add_error(ld, line, tl_conf_fmt("%s:%d: %s", ld->file, line, msg));
    } else {
        add_error(ld, line, tl_conf_fmt("%s", msg));
    }
    free(msg);
}

size_t tl_conf_error_count(const struct ld *ld)
{
    return ld->n_errs + ld->dropped + (ld->oom ? 1 : 0);
}

/* Hands the errors over sorted by line (stable, so messages about one line keep their
 * order). The loader runs over keys in table order, this puts them in file order. */
void tl_conf_give_errors(struct ld *ld, struct tl_conf_errors *errs)
{
    size_t i;
    size_t j;

    if (ld->oom) {
        add_error(ld, INT_MAX, tl_conf_fmt("%s: out of memory while loading the configuration",
                                       ld->file));
    }
    if (ld->dropped > 0) {
        add_error(ld, INT_MAX, tl_conf_fmt("%s: %zu more errors not shown; fix the above first",
                                       ld->file, ld->dropped));
    }
    for (i = 1; i < ld->n_errs; i++) {
        struct lerr e = ld->errs[i];

        for (j = i; j > 0 && ld->errs[j - 1].line > e.line; j--) {
            ld->errs[j] = ld->errs[j - 1];
        }
        ld->errs[j] = e;
    }
    if (errs == NULL) {
        for (i = 0; i < ld->n_errs; i++) {
            free(ld->errs[i].text);
        }
        free(ld->errs);
        return;
    }
    errs->lines = calloc(ld->n_errs ? ld->n_errs : 1, sizeof(char *));
    errs->n = 0;
    for (i = 0; i < ld->n_errs; i++) {
        if (errs->lines != NULL) {
            errs->lines[errs->n++] = ld->errs[i].text;
        } else {
            free(ld->errs[i].text);
        }
    }
    free(ld->errs);
}

void tl_conf_errors_fini(struct tl_conf_errors *errs)
{
    size_t i;

    if (errs == NULL) {
        return;
    }
    for (i = 0; i < errs->n; i++) {
        free(errs->lines[i]);
    }
    free(errs->lines);
    errs->lines = NULL;
    errs->n = 0;
}

bool tl_conf_errors_add(struct tl_conf_errors *errs, const char *file, int line,
                        const char *fmt, ...)
{
    va_list ap;
    char *msg;
    char *text;
    char **lines;

    va_start(ap, fmt);
    msg = vfmt(fmt, ap);
    va_end(ap);
    text = msg == NULL ? NULL : line > 0 ? tl_conf_fmt("%s:%d: %s", file, line, msg)
                                         : tl_conf_fmt("%s", msg);
    free(msg);
    lines = text == NULL ? NULL : realloc(errs->lines, (errs->n + 1) * sizeof(*lines));
    if (lines == NULL) {
        free(text);
        return false;
    }
    errs->lines = lines;
    errs->lines[errs->n++] = text;
    return true;
}

const char *tl_conf_output_label(const struct tl_conf *c, size_t i, char *out, size_t cap)
{
    snprintf(out, cap, "outputs[%zu] (%s)", i, c->outputs[i].name);
    return out;
}

/* ---- phrases --------------------------------------------------------------------------- */

const char *tl_conf_show_node(const struct tl_yaml_node *n, char *out, size_t cap)
{
    return tl_show_text(n->str, n->len, out, cap);
}

/* Joins words as "a, b, c" (with a prefix and suffix per word), cut short with "..." */
const char *tl_conf_join(const char *const *words, size_t n, const char *pre, const char *post,
                         char *out, size_t cap)
{
    size_t o = 0;
    size_t i;

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        int w;

        if (words[i] == NULL) {
            continue;
        }
        w = snprintf(out + o, cap - o, "%s%s%s%s", o ? ", " : "", pre, words[i], post);
        if (w < 0 || (size_t)w >= cap - o - 4) {
            snprintf(out + o, cap - o, "%s...", o ? ", " : "");
            break;
        }
        o += (size_t)w;
    }
    return out;
}

static size_t n_words(const char *const *words)
{
    size_t n = 0;

    while (words[n] != NULL) {
        n++;
    }
    return n;
}

const char *tl_conf_join_words(const char *const *words, char *out, size_t cap)
{
    return tl_conf_join(words, n_words(words), "", "", out, cap);
}

/* Optimal string alignment distance (edits, including swapping two neighbours), or a large
 * number for long strings. */
static size_t distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t d[33][33];
    size_t i;
    size_t j;

    if (la > 32 || lb > 32) {
        return SIZE_MAX;
    }
    for (i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (i = 1; i <= la; i++) {
        for (j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;

            if (d[i][j - 1] + 1 < v) {
                v = d[i][j - 1] + 1;
            }
            if (d[i - 1][j - 1] + cost < v) {
                v = d[i - 1][j - 1] + cost;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v) {
                v = d[i - 2][j - 2] + 1;
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The closest candidate within 2 edits (and not mostly edits), or NULL. */
static const char *closest(const char *s, size_t len, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t lc;
        size_t d;

        if (cands[i] == NULL) {
            continue;
        }
        lc = strlen(cands[i]);
        d = distance(s, len, cands[i], lc);
        if (d < best_d && 2 * d <= (len > lc ? len : lc)) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

/* "; did you mean 'x'?" or "" */
const char *tl_conf_did_you_mean(const char *s, size_t len, const char *const *cands,
                                 size_t n, char *out, size_t cap)
{
    const char *c = closest(s, len, cands, n);

    out[0] = '\0';
    if (c != NULL) {
        snprintf(out, cap, "; did you mean '%s'?", c);
    }
    return out;
}

const char *tl_conf_got_text(const struct tl_yaml_node *n)
{
    if (tl_yaml_is_null(n)) {
        return "nothing";
    }
    switch (n->kind) {
    case TL_YAML_MAP:
        return "a mapping";
    case TL_YAML_SEQ:
        return "a list";
    case TL_YAML_SCALAR:
    default:
        return "a single value";
    }
}

/* "inputs[0] (tcp).listen", or just "workers" at the top level */
const char *tl_conf_key_path(const char *where, const char *key, char *out, size_t cap)
{
    if (where[0] == '\0') {
        snprintf(out, cap, "%s", key);
    } else {
        snprintf(out, cap, "%s.%s", where, key);
    }
    return out;
}

