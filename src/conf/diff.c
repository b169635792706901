/*
 * diff.c: what a reload changes between the running configuration and a new one
 * (tl_conf_diff, conf.h).
 *
 * Inputs and outputs are matched by name. Whether one is unchanged is decided on a canonical
 * text of its effective settings, written by walking the key tables (keys.c) rather than the
 * struct by hand: a key added to a table is compared without anyone remembering to, and the
 * line numbers (where it is written, not what it does) never are. Structured keys (listen,
 * targets, the queue: and tls: blocks) are written here by hand; test_conf_diff fails when an
 * input or output gets a structured key this file does not write.
 */
#include "conf/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/keys.h"

static uint64_t number_at(const void *base, const struct key *k)
{
    const unsigned char *p = (const unsigned char *)base + k->off;
    switch (k->size) {
    case 1:
        return *(const uint8_t *)p;
    case 2:
        return *(const uint16_t *)(const void *)p;
    case 4:
        return *(const uint32_t *)(const void *)p;
    case 8:
        return *(const uint64_t *)(const void *)p;
    default:
        return 0;
    }
}

/* Writes "key=value;" for every scalar key of sec found in base. */
static void put_section(FILE *f, const char *prefix, const struct section *sec, const void *base,
                        bool (*skip)(const struct key *k))
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct key *k = &sec->keys[i];
        if (skip && skip(k)) {
            continue;
        }
        const unsigned char *field = (const unsigned char *)base + k->off;
        switch (tl_conf_ktypes[k->type].store) {
        case KS_NUMBER:
            fprintf(f, "%s%s=%llu;", prefix, k->name, (unsigned long long)number_at(base, k));
            break;
        case KS_STRING: {
            const char *s = *(char *const *)(const void *)field;
            /* Lengths first: no value can pass for another one plus a separator. */
            fprintf(f, "%s%s=%zu:%s;", prefix, k->name, s ? strlen(s) : 0, s ? s : "");
            break;
        }
        case KS_STRLIST: {
            char *const *v = *(char **const *)(const void *)field;
            size_t n = *(const size_t *)(const void *)((const unsigned char *)base + k->count_off);
            fprintf(f, "%s%s=[", prefix, k->name);
            for (size_t j = 0; j < n; j++) {
                fprintf(f, "%zu:%s,", strlen(v[j]), v[j]);
            }
            fputs("];", f);
            break;
        }
        case KS_NONE:
        default:
            break; /* the caller writes the structured keys */
        }
    }
}

/* The TLS keys a reload applies through the running input's or output's TLS slot (the
 * context built from them is swapped in, open connections are re-checked): they do not make
 * it "changed". handshake_timeout is not in the context: it is compared. */
static bool tls_in_context(const struct key *k)
{
    return strcmp(k->name, "handshake_timeout") != 0;
}

static char *settings_text(void (*write)(FILE *f, const void *item), const void *item)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        return NULL;
    }
    write(f, item);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void write_input(FILE *f, const void *item)
{
    const struct tl_conf_input *in = item;
    put_section(f, "", &tl_conf_input_section, in, NULL);
    /* listen: */
    fprintf(f, "listen=%zu:%s:%u;", in->host ? strlen(in->host) : 0, in->host ? in->host : "",
            in->port);
    fprintf(f, "relp_tls=%d;", in->relp_tls);
    put_section(f, "tls.", &tl_conf_tls_section, &in->tls, tls_in_context);
    /* rate_limit: its fields are the input's own */
    fprintf(f, "rate_limit=%d;", in->rate_limit);
    put_section(f, "rate_limit.", &tl_conf_rate_section, in, NULL);
}

static void write_output(FILE *f, const void *item)
{
    const struct tl_conf_output *out = item;
    put_section(f, "", &tl_conf_output_section, out, NULL);
    put_section(f, "queue.", &tl_conf_queue_section, out, NULL);
    fputs("targets=[", f);
    for (size_t i = 0; i < out->n_targets; i++) {
        fprintf(f, "%zu:%s:%u,", strlen(out->targets[i].host), out->targets[i].host,
                out->targets[i].port);
    }
    fputs("];", f);
    fprintf(f, "relp_tls=%d;", out->relp_tls);
    put_section(f, "tls.", &tl_conf_tls_section, &out->tls, tls_in_context);
    /* kafka: the sasl: block's fields are the output's own; properties are name/value pairs. */
    put_section(f, "sasl.", &tl_conf_sasl_section, out, NULL);
    fputs("properties=[", f);
    for (size_t i = 0; i < 2 * out->n_properties; i++) {
        fprintf(f, "%zu:%s,", strlen(out->properties[i]), out->properties[i]);
    }
    fputs("];", f);
}

char *tl_conf_input_settings(const struct tl_conf_input *in)
{
    return settings_text(write_input, in);
}

char *tl_conf_output_settings(const struct tl_conf_output *out)
{
    return settings_text(write_output, out);
}

/* 1: equal, 0: different, -1: out of memory. */
static int same_text(char *a, char *b)
{
    int r = a && b ? strcmp(a, b) == 0 : -1;
    free(a);
    free(b);
    return r;
}

/* Matches items of fresh to old by name: match[i] is the index in old of the unchanged item
 * of the same name, or -1; counts go to kept, added, changed, removed. */
static bool match_items(size_t n_old, size_t n_new, const char *(*name)(const void *, size_t),
                        int (*same)(const void *, size_t, const void *, size_t), const void *old,
                        const void *fresh, long *match, size_t *counts)
{
    for (size_t i = 0; i < n_new; i++) {
        match[i] = -1;
        bool found = false;
        for (size_t j = 0; j < n_old && !found; j++) {
            if (strcmp(name(fresh, i), name(old, j)) != 0) {
                continue;
            }
            found = true;
            int r = same(old, j, fresh, i);
            if (r < 0) {
                return false;
            }
            if (r) {
                match[i] = (long)j;
            }
        }
        counts[!found ? 1 : match[i] < 0 ? 2 : 0]++;
    }
    for (size_t j = 0; j < n_old; j++) {
        bool found = false;
        for (size_t i = 0; i < n_new && !found; i++) {
            found = strcmp(name(fresh, i), name(old, j)) == 0;
        }
        counts[3] += !found;
    }
    return true;
}

static const char *input_name(const void *c, size_t i)
{
    return ((const struct tl_conf *)c)->inputs[i].name;
}

static const char *output_name(const void *c, size_t i)
{
    return ((const struct tl_conf *)c)->outputs[i].name;
}

static int same_input(const void *a, size_t i, const void *b, size_t j)
{
    return same_text(tl_conf_input_settings(&((const struct tl_conf *)a)->inputs[i]),
                     tl_conf_input_settings(&((const struct tl_conf *)b)->inputs[j]));
}

static int same_output(const void *a, size_t i, const void *b, size_t j)
{
    return same_text(tl_conf_output_settings(&((const struct tl_conf *)a)->outputs[i]),
                     tl_conf_output_settings(&((const struct tl_conf *)b)->outputs[j]));
}

bool tl_conf_route_carries(const struct tl_conf_route *rt, size_t i, size_t o)
{
    bool from = false;
    bool to = false;
    for (size_t k = 0; k < rt->n_from; k++) {
        from |= rt->from[k] == i;
    }
    for (size_t k = 0; k < rt->n_to; k++) {
        to |= rt->to[k] == o;
    }
    return from && to;
}

/* Whether input i feeds output o (no routes: every input feeds every output). */
bool tl_conf_routed(const struct tl_conf *c, size_t i, size_t o)
{
    if (c->n_routes == 0) {
        return true;
    }
    for (size_t r = 0; r < c->n_routes; r++) {
        if (tl_conf_route_carries(&c->routes[r], i, o)) {
            return true;
        }
    }
    return false;
}

/* Whether c routes input i to output o through a route whose where: reads as text (NULL:
 * a route without one; no routes at all: every pair, unfiltered). */
static bool routed_with(const struct tl_conf *c, size_t i, size_t o, const char *text)
{
    if (c->n_routes == 0) {
        return text == NULL;
    }
    for (size_t r = 0; r < c->n_routes; r++) {
        const struct tl_conf_route *rt = &c->routes[r];
        if (rt->where != NULL && rt->where_text == NULL) {
            continue; /* out of memory at load: never the same */
        }
        if (tl_conf_route_carries(rt, i, o) &&
            (text == NULL ? rt->where == NULL
                          : rt->where_text != NULL && strcmp(rt->where_text, text) == 0)) {
            return true;
        }
    }
    return false;
}

/* Whether b routes the input and output named as a's i and o with that filter. */
static bool routed_by_names(const struct tl_conf *a, size_t i, size_t o,
                            const struct tl_conf *b, const char *text)
{
    for (size_t bi = 0; bi < b->n_inputs; bi++) {
        if (strcmp(a->inputs[i].name, b->inputs[bi].name) != 0) {
            continue;
        }
        for (size_t bo = 0; bo < b->n_outputs; bo++) {
            if (strcmp(a->outputs[o].name, b->outputs[bo].name) == 0 &&
                routed_with(b, bi, bo, text)) {
                return true;
            }
        }
    }
    return false;
}

/* Every (input, output) pair one configuration routes, through each of its filters (or
 * none), the other routes by name through the same filter. */
static bool routes_within(const struct tl_conf *a, const struct tl_conf *b)
{
    for (size_t i = 0; i < a->n_inputs; i++) {
        for (size_t o = 0; o < a->n_outputs; o++) {
            if (a->n_routes == 0) {
                if (!routed_by_names(a, i, o, b, NULL)) {
                    return false;
                }
                continue;
            }
            for (size_t r = 0; r < a->n_routes; r++) {
                const struct tl_conf_route *rt = &a->routes[r];
                if (!tl_conf_route_carries(rt, i, o)) {
                    continue;
                }
                if (rt->where != NULL && rt->where_text == NULL) {
                    return false;
                }
                if (!routed_by_names(a, i, o, b, rt->where ? rt->where_text : NULL)) {
                    return false;
                }
            }
        }
    }
    return true;
}

bool tl_conf_diff(const struct tl_conf *old, const struct tl_conf *fresh, struct tl_conf_diff *d)
{
    memset(d, 0, sizeof(*d));
    d->in_match = calloc(fresh->n_inputs ? fresh->n_inputs : 1, sizeof(*d->in_match));
    d->out_match = calloc(fresh->n_outputs ? fresh->n_outputs : 1, sizeof(*d->out_match));
    size_t in_counts[4] = {0};
    size_t out_counts[4] = {0};
    if (!d->in_match || !d->out_match ||
        !match_items(old->n_inputs, fresh->n_inputs, input_name, same_input, old, fresh,
                     d->in_match, in_counts) ||
        !match_items(old->n_outputs, fresh->n_outputs, output_name, same_output, old, fresh,
                     d->out_match, out_counts)) {
        tl_conf_diff_fini(d);
        return false;
    }
    d->in_kept = in_counts[0];
    d->in_added = in_counts[1];
    d->in_changed = in_counts[2];
    d->in_removed = in_counts[3];
    d->out_kept = out_counts[0];
    d->out_added = out_counts[1];
    d->out_changed = out_counts[2];
    d->out_removed = out_counts[3];
    d->routes_same = routes_within(old, fresh) && routes_within(fresh, old);
    return true;
}

void tl_conf_diff_fini(struct tl_conf_diff *d)
{
    free(d->in_match);
    free(d->out_match);
    d->in_match = NULL;
    d->out_match = NULL;
}

/* Whether top-level key k has the same value in a and b. */
static bool same_top_value(const struct tl_conf *a, const struct tl_conf *b, const struct key *k)
{
    if (strcmp(k->name, "metrics") == 0) {
        const char *la = a->metrics.listen ? a->metrics.listen : "";
        const char *lb = b->metrics.listen ? b->metrics.listen : "";
        return (a->metrics.line != 0) == (b->metrics.line != 0) && strcmp(la, lb) == 0 &&
               a->metrics.port == b->metrics.port;
    }
    if (tl_conf_ktypes[k->type].store == KS_STRING) {
        const char *sa = *(char *const *)(const void *)((const unsigned char *)a + k->off);
        const char *sb = *(char *const *)(const void *)((const unsigned char *)b + k->off);
        return strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    return number_at(a, k) == number_at(b, k);
}

size_t tl_conf_restart_keys(const struct tl_conf *old, const struct tl_conf *fresh,
                            const char **names, size_t cap)
{
    /* The keys the running daemon reads once, at start: the number of worker threads it
     * made, the budget its connections were given, the identity it dropped to, the pid file
     * it locked and the metrics socket it bound as root. The others of the top level apply
     * live (log_level, port_file, stats_interval, tls through the inputs and outputs). */
    static const char *const restart_only[] = {"workers", "partial_frame_budget", "user",
                                               "group", "pid_file", "metrics",
                                               "state_dir"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
        const struct key *k = &tl_conf_top_section.keys[tl_conf_key_index(&tl_conf_top_section,
                                                                          restart_only[i])];
        if (!same_top_value(old, fresh, k) && n < cap) {
            names[n++] = k->name;
        }
    }
    return n;
}
