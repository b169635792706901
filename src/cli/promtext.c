/*
 * promtext.c: see promtext.h. Reads by a cursor with bounds checks; never relies on a NUL.
 */
#include "cli/promtext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES 1000000
#define MAX_LABELS 64
#define MAX_TEXT 4096

struct cur {
    const char *p;
    const char *end;
};

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static void skip_blanks(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) {
        c->p++;
    }
}

static char *take_name(struct cur *c)
{
    const char *s = c->p;
    while (c->p < c->end && is_name_char(*c->p, c->p == s)) {
        c->p++;
    }
    if (c->p == s || c->p - s > MAX_TEXT) {
        return NULL;
    }
    return strndup(s, (size_t)(c->p - s));
}

/* A quoted label value; c->p is after the opening quote. */
static char *take_value(struct cur *c)
{
    char *out = malloc(MAX_TEXT + 1);
    size_t n = 0;
    if (out == NULL) {
        return NULL;
    }
    while (c->p < c->end && *c->p != '"' && *c->p != '\n') {
        char ch = *c->p++;
        if (ch == '\\') {
            /* Only \\, \" and \n are escapes (exposition format 0.0.4). */
            if (c->p >= c->end || (*c->p != 'n' && *c->p != '\\' && *c->p != '"')) {
                free(out);
                return NULL;
            }
            ch = *c->p++;
            ch = ch == 'n' ? '\n' : ch;
        }
        if (n == MAX_TEXT) {
            free(out);
            return NULL;
        }
        out[n++] = ch;
    }
    if (c->p >= c->end || *c->p != '"') {
        free(out);
        return NULL;
    }
    c->p++;
    out[n] = '\0';
    return out;
}

static bool take_number(struct cur *c, double *v)
{
    char buf[64];
    size_t n = 0;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n' && *c->p != '\r') {
        if (n + 1 >= sizeof(buf)) {
            return false;
        }
        buf[n++] = *c->p++;
    }
    buf[n] = '\0';
    if (n == 0) {
        return false;
    }
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
        *v = INFINITY;
        return true;
    }
    if (strcmp(buf, "-Inf") == 0) {
        *v = -INFINITY;
        return true;
    }
    if (strcmp(buf, "NaN") == 0) {
        *v = NAN;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        /* strtod would take hex floats, "inf" spelt otherwise and "nan(...)": not ours. */
        if (!strchr("0123456789+-.eE", buf[i])) {
            return false;
        }
    }
    char *end = NULL;
    *v = strtod(buf, &end);
    return end == buf + n;
}

static void sample_fini(struct tl_prom_sample *s)
{
    free(s->name);
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    memset(s, 0, sizeof(*s));
}

/* One sample line (c at its start, the line ends at c->end or '\n'). NULL on success, or
 * what is wrong. */
static const char *parse_sample(struct cur *c, struct tl_prom_sample *s)
{
    memset(s, 0, sizeof(*s));
    s->name = take_name(c);
    if (s->name == NULL) {
        return "expected a metric name";
    }
    if (c->p < c->end && *c->p == '{') {
        c->p++;
        for (;;) {
            skip_blanks(c);
            if (c->p < c->end && *c->p == '}') {
                c->p++;
                break;
            }
            if (s->n_labels == MAX_LABELS) {
                return "too many labels";
            }
            struct tl_prom_label *nl = realloc(s->labels, (s->n_labels + 1) * sizeof(*nl));
            if (nl == NULL) {
                return "out of memory";
            }
            s->labels = nl;
            struct tl_prom_label *l = &nl[s->n_labels];
            l->value = NULL;
            l->name = take_name(c);
            if (l->name == NULL) {
                return "expected a label name";
            }
            s->n_labels++;
            skip_blanks(c);
            if (c->p >= c->end || *c->p != '=') {
                return "expected '=' after a label name";
            }
            c->p++;
            skip_blanks(c);
            if (c->p >= c->end || *c->p != '"') {
                return "expected a quoted label value";
            }
            c->p++;
            l->value = take_value(c);
            if (l->value == NULL) {
                return "unterminated, badly escaped or too long label value";
            }
            skip_blanks(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
            } else if (c->p >= c->end || *c->p != '}') {
                return "expected ',' or '}' after a label";
            }
        }
    }
    skip_blanks(c);
    if (!take_number(c, &s->value)) {
        return "expected a number after the metric";
    }
    skip_blanks(c);
    if (c->p < c->end && *c->p != '\n' && *c->p != '\r') {
        double ts;
        if (!take_number(c, &ts)) { /* an optional timestamp */
            return "unexpected text after the value";
        }
        skip_blanks(c);
    }
    if (c->p < c->end && *c->p == '\r') {
        c->p++;
    }
    if (c->p < c->end && *c->p != '\n') {
        return "unexpected text after the value";
    }
    return NULL;
}

bool tl_prom_parse(const char *text, size_t len, struct tl_prom_set *set, char *err,
                   size_t errlen)
{
    struct cur c = {text, text + len};
    size_t line = 0;
    set->v = NULL;
    set->n = 0;
    while (c.p < c.end) {
        line++;
        const char *nl = memchr(c.p, '\n', (size_t)(c.end - c.p));
        struct cur lc = {c.p, nl ? nl : c.end};
        c.p = nl ? nl + 1 : c.end;
        skip_blanks(&lc);
        if (lc.p == lc.end || *lc.p == '#' || *lc.p == '\r') {
            continue;
        }
        if (set->n == MAX_SAMPLES) {
            snprintf(err, errlen, "line %zu: more than %d samples", line, MAX_SAMPLES);
            tl_prom_set_fini(set);
            return false;
        }
        struct tl_prom_sample *nv = realloc(set->v, (set->n + 1) * sizeof(*nv));
        if (nv == NULL) {
            snprintf(err, errlen, "line %zu: out of memory", line);
            tl_prom_set_fini(set);
            return false;
        }
        set->v = nv;
        const char *why = parse_sample(&lc, &nv[set->n]);
        if (why != NULL) {
            sample_fini(&nv[set->n]);
            snprintf(err, errlen, "line %zu: %s", line, why);
            tl_prom_set_fini(set);
            return false;
        }
        set->n++;
    }
    return true;
}

void tl_prom_set_fini(struct tl_prom_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        sample_fini(&set->v[i]);
    }
    free(set->v);
    set->v = NULL;
    set->n = 0;
}

const char *tl_prom_label(const struct tl_prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0) {
            return s->labels[i].value;
        }
    }
    return NULL;
}
