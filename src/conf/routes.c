/*
 * routes.c: the routes: list: which inputs feed which outputs. Each route names inputs and
 * outputs (a name or a list of names, resolved to indexes into tl_conf's arrays) and may
 * select messages with where: (compiled here with route/filter.c, so that --check reports a
 * bad value or regex at its line). The same pair in two routes (unless both have a where:,
 * when either matching is enough), and an input or output no route uses, are refused.
 */
#include "conf/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "conf/keys.h"
#include "conf/load.h"
#include "route/filter.h"

/*
 * Resolves "from"/"to": a name or a list of names, each one of names[0..n). Returns a new
 * array of indexes (count in *n_out), or NULL after reporting.
 */
static size_t *resolve(struct ld *ld, const struct tl_yaml_node *v, const char *path,
                       const char *what, const char *const *names, size_t n, size_t *n_out)
{
    const struct tl_yaml_node *one[1];
    const struct tl_yaml_node *const *list;
    char shown[SHOW_LEN];
    char defined[LIST_LEN];
    char dym[96];
    size_t count;
    size_t *idx;
    size_t got = 0;
    bool ok = true;
    size_t i;
    size_t j;

    *n_out = 0;
    if (tl_yaml_is_null(v) || v->kind == TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected an %s name or a list of them, got %s", path, what,
                     tl_conf_got_text(v));
        return NULL;
    }
    if (v->kind == TL_YAML_SCALAR) {
        one[0] = v;
        list = one;
        count = 1;
    } else {
        list = (const struct tl_yaml_node *const *)v->kids;
        count = v->n;
    }
    if (count == 0) {
        tl_conf_errf(ld, v->line, "%s: the list is empty; name at least one %s", path, what);
        return NULL;
    }
    idx = calloc(count, sizeof(*idx));
    if (idx == NULL) {
        ld->oom = true;
        return NULL;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *item = list[i];
        bool dup = false;

        if (item->kind != TL_YAML_SCALAR || tl_yaml_is_null(item)) {
            tl_conf_errf(ld, item->line, "%s: expected an %s name, got %s", path, what,
                         tl_conf_got_text(item));
            ok = false;
            continue;
        }
        for (j = 0; j < n; j++) {
            if (names[j] != NULL && strlen(names[j]) == item->len &&
                memcmp(names[j], item->str, item->len) == 0) {
                break;
            }
        }
        if (j == n) {
            tl_conf_errf(ld, item->line, "%s: unknown %s '%s'; defined %ss: %s%s", path, what,
                         tl_conf_show_node(item, shown, sizeof(shown)), what,
                         tl_conf_join(names, n, "", "", defined, sizeof(defined)),
                         tl_conf_did_you_mean(item->str, item->len, names, n, dym, sizeof(dym)));
            ok = false;
            continue;
        }
        for (size_t k = 0; k < got; k++) {
            if (idx[k] == j) {
                dup = true;
            }
        }
        if (dup) {
            tl_conf_errf(ld, item->line, "%s: %s '%s' is listed twice", path, what, names[j]);
            ok = false;
            continue;
        }
        idx[got++] = j;
    }
    if (!ok) {
        free(idx);
        return NULL;
    }
    *n_out = got;
    return idx;
}

/* ---- where: ------------------------------------------------------------------------------ */

#define N_FILTER_KEYS 6 /* where_keys in keys.c before `not`, in struct tl_filter_keys order */

/* The values of one filter key and their nodes, for the line of a value the filter refuses. */
struct where_key {
    const struct tl_yaml_node *node;   /* the key's value; NULL: not given */
    const char **items;                /* node's strings (borrowed from the tree) */
};

struct where_scope {
    struct where_key k[N_FILTER_KEYS];
};

static struct tl_filter_values *filter_key(struct tl_filter_keys *keys, size_t i)
{
    struct tl_filter_values *const all[N_FILTER_KEYS] = {
        &keys->facility, &keys->severity, &keys->program,
        &keys->hostname, &keys->peer_name, &keys->message,
    };

    return all[i];
}

/* One key's value: a non-empty text or a list of them. Fills v (items point into the tree). */
static bool where_values(struct ld *ld, const struct tl_yaml_node *n, const char *path,
                         struct where_key *wk, struct tl_filter_values *v)
{
    const struct tl_yaml_node *const *list = (const struct tl_yaml_node *const *)&n;
    size_t count = 1;
    bool ok = true;
    size_t i;

    wk->node = n;
    if (n->kind == TL_YAML_MAP || (n->kind == TL_YAML_SCALAR && tl_yaml_is_null(n))) {
        tl_conf_errf(ld, n->line, "%s: expected a value or a list of values, got %s", path,
                     tl_conf_got_text(n));
        return false;
    }
    if (n->kind == TL_YAML_SEQ) {
        list = (const struct tl_yaml_node *const *)n->kids;
        count = n->n;
        v->is_list = true;
    }
    wk->items = calloc(count + 1, sizeof(*wk->items));
    if (wk->items == NULL) {
        ld->oom = true;
        return false;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *it = list[i];
        char shown[SHOW_LEN];

        if (it->kind != TL_YAML_SCALAR || tl_yaml_is_null(it)) {
            tl_conf_errf(ld, it->line, "%s[%zu]: expected a value, got %s", path, i,
                         tl_conf_got_text(it));
            ok = false;
        } else if (strlen(it->str) != it->len) {
            tl_conf_errf(ld, it->line, "%s: '%s' contains a NUL byte", path,
                         tl_conf_show_node(it, shown, sizeof(shown)));
            ok = false;
        }
        wk->items[i] = it->str;
    }
    v->v = wk->items;
    v->n = count;
    return ok;
}

/* Walks a where: (nested false) or its not: (nested true) mapping into keys and sc. */
static bool where_scope(struct ld *ld, const struct tl_yaml_node *map, const char *path,
                        bool nested, struct tl_filter_keys *keys, struct where_scope *sc,
                        const struct tl_yaml_node **not_node)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    size_t before = tl_conf_error_count(ld);
    char kpath[SHOW_LEN + 128];
    size_t i;

    if (map->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, map->line, "%s: expected a mapping of filter keys (facility, severity, "
                     "program, hostname, peer_name, message, not), got %s", path,
                     tl_conf_got_text(map));
        return false;
    }
    tl_conf_walk_map(ld, &tl_conf_where_section, map, keys, path, found, -1);
    for (i = 0; i < N_FILTER_KEYS; i++) {
        if (found[i] != NULL) {
            tl_conf_key_path(path, tl_conf_where_section.keys[i].name, kpath, sizeof(kpath));
            where_values(ld, found[i], kpath, &sc->k[i], filter_key(keys, i));
        }
    }
    if (found[N_FILTER_KEYS] != NULL) {
        if (nested) {
            tl_conf_errf(ld, found[N_FILTER_KEYS]->line, "%s.not: a not: cannot hold another "
                         "not:; write the keys to leave out directly in the first one", path);
        } else {
            *not_node = found[N_FILTER_KEYS];
        }
    }
    return tl_conf_error_count(ld) == before;
}

static void where_scope_free(struct where_scope *sc)
{
    for (size_t i = 0; i < N_FILTER_KEYS; i++) {
        free(sc->k[i].items);
    }
}

/*
 * The line of what tl_filter_compile refused: it names the key and the item, not a line, so
 * each value is compiled alone until one fails (only after an error). Falls back to the
 * line of the where: itself.
 */
static int refused_line(const struct where_scope *sc, struct tl_filter_spec *spec, int fallback)
{
    for (int scope = 0; scope < 2; scope++) {
        struct tl_filter_keys *from = scope == 0 ? &spec->where : &spec->where_not;

        for (size_t i = 0; i < N_FILTER_KEYS; i++) {
            const struct where_key *wk = &sc[scope].k[i];
            const struct tl_filter_values *v = filter_key(from, i);

            if (wk->node != NULL && v->n == 0) {
                return wk->node->line; /* an empty list */
            }
            for (size_t j = 0; j < v->n && wk->node != NULL; j++) {
                struct tl_filter_spec one;
                struct tl_filter *f;

                memset(&one, 0, sizeof(one));
                *filter_key(scope == 0 ? &one.where : &one.where_not, i) =
                    (struct tl_filter_values){&v->v[j], 1, v->is_list};
                f = tl_filter_compile(&one, NULL);
                if (f == NULL) {
                    return wk->node->kind == TL_YAML_SEQ ? wk->node->kids[j]->line
                                                         : wk->node->line;
                }
                tl_filter_free(f);
            }
        }
    }
    return fallback;
}

/* An empty list counts as given: the filter refuses it. */
static bool keys_given(struct tl_filter_keys *k)
{
    for (size_t i = 0; i < N_FILTER_KEYS; i++) {
        if (filter_key(k, i)->n > 0 || filter_key(k, i)->is_list) {
            return true;
        }
    }
    return false;
}

/* The filter as one text, the same for the same keys and values whatever their order or
 * spelling in YAML, for the reload's diff to tell a changed where: (malloc'd; NULL when out
 * of memory, which the diff takes as "changed"). Items are length-prefixed. */
static char *where_text(struct tl_filter_spec *spec)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        return NULL;
    }
    for (int scope = 0; scope < 2; scope++) {
        struct tl_filter_keys *keys = scope == 0 ? &spec->where : &spec->where_not;
        for (size_t i = 0; i < N_FILTER_KEYS; i++) {
            const struct tl_filter_values *v = filter_key(keys, i);
            if (v->n == 0 && !v->is_list) {
                continue;
            }
            fprintf(f, "%s%zu%c", scope ? "not." : "", i, v->is_list ? '[' : '=');
            for (size_t k = 0; k < v->n; k++) {
                fprintf(f, "%zu:%s", strlen(v->v[k]), v->v[k]);
            }
            fputc(';', f);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* A route's where: v into r->where (NULL when it selects nothing out). */
static void walk_where(struct ld *ld, struct tl_conf_route *r, const struct tl_yaml_node *v,
                       const char *where)
{
    struct tl_filter_spec spec;
    struct where_scope sc[2];
    const struct tl_yaml_node *not_node = NULL;
    char path[96];
    char npath[112];
    struct tl_err err;
    bool ok;

    memset(&spec, 0, sizeof(spec));
    memset(sc, 0, sizeof(sc));
    snprintf(path, sizeof(path), "%s.where", where);
    ok = where_scope(ld, v, path, false, &spec.where, &sc[0], &not_node);
    if (not_node != NULL) {
        snprintf(npath, sizeof(npath), "%s.not", path);
        ok = where_scope(ld, not_node, npath, true, &spec.where_not, &sc[1], NULL) && ok;
    }
    if (ok && (keys_given(&spec.where) || keys_given(&spec.where_not))) {
        r->where = tl_filter_compile(&spec, &err);
        r->where_text = r->where ? where_text(&spec) : NULL;
        if (r->where == NULL) {
            /* err names "where.KEY[i]"; the route's index goes before it */
            tl_conf_errf(ld, refused_line(sc, &spec, v->line), "%s.%s", where, err.cause);
        }
    }
    where_scope_free(&sc[0]);
    where_scope_free(&sc[1]);
}

static bool route_has(const size_t *list, size_t n, size_t v)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (list[i] == v) {
            return true;
        }
    }
    return false;
}

/* The same input-to-output pair in two routes: without where: on both, the one route
 * already carries everything the other would (a message still goes to an output once). */
static void check_route_pairs(struct ld *ld, const struct tl_conf *c)
{
    size_t r;
    size_t q;
    size_t f;
    size_t t;

    for (r = 0; r < c->n_routes; r++) {
        const struct tl_conf_route *b = &c->routes[r];
        bool reported = false;

        for (q = 0; q < r && !reported; q++) {
            const struct tl_conf_route *a = &c->routes[q];

            for (f = 0; f < b->n_from && !reported; f++) {
                for (t = 0; t < b->n_to && !reported; t++) {
                    if (!route_has(a->from, a->n_from, b->from[f]) ||
                        !route_has(a->to, a->n_to, b->to[t]) ||
                        (a->where != NULL && b->where != NULL)) {
                        continue;
                    }
                    tl_conf_errf(ld, b->line, "routes[%zu]: input '%s' already goes to output "
                                 "'%s' by routes[%zu] at line %d, so one of the two routes adds "
                                 "nothing; remove it, or give both a where:", r,
                                 c->inputs[b->from[f]].name, c->outputs[b->to[t]].name, q,
                                 a->line);
                    reported = true;
                }
            }
        }
    }
}

/* An input no route reads from is silently dropped traffic; an output no route feeds
 * never gets anything. Both are mistakes worth stopping for. */
static void check_route_coverage(struct ld *ld, const struct tl_conf *c, char **in_labels,
                                 char **out_labels)
{
    size_t i;
    size_t r;

    for (i = 0; i < c->n_inputs; i++) {
        bool used = false;

        for (r = 0; r < c->n_routes; r++) {
            used = used || route_has(c->routes[r].from, c->routes[r].n_from, i);
        }
        if (!used && c->inputs[i].name != NULL) {
            tl_conf_errf(ld, c->inputs[i].line, "%s: input '%s' is not used by any route; add it "
                         "to a route or remove it", in_labels[i], c->inputs[i].name);
        }
    }
    for (i = 0; i < c->n_outputs; i++) {
        bool used = false;

        for (r = 0; r < c->n_routes; r++) {
            used = used || route_has(c->routes[r].to, c->routes[r].n_to, i);
        }
        if (!used && c->outputs[i].name != NULL) {
            tl_conf_errf(ld, c->outputs[i].line, "%s: output '%s' is not used by any route; add it "
                         "to a route or remove it", out_labels[i], c->outputs[i].name);
        }
    }
}

/* name, or NULL when names[0..n) already holds it */
static const char *first_use(const char **names, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n && name != NULL; i++) {
        if (names[i] != NULL && strcmp(names[i], name) == 0) {
            return NULL;
        }
    }
    return name;
}

void tl_conf_walk_routes(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *seq,
                         char **in_labels, char **out_labels)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    const char **in_names;
    const char **out_names;
    char where[64];
    char path[96];
    size_t before = tl_conf_error_count(ld);
    size_t i;

    if (!tl_conf_want_list(ld, seq, "routes", "routes",
                           "remove the key to send every input to every output")) {
        return;
    }
    c->routes = calloc(seq->n, sizeof(*c->routes));
    in_names = calloc(c->n_inputs + 1, sizeof(*in_names));
    out_names = calloc(c->n_outputs + 1, sizeof(*out_names));
    if (c->routes == NULL || in_names == NULL || out_names == NULL) {
        ld->oom = true;
        goto out;
    }
    c->n_routes = seq->n;
    /* A repeated name (already reported) is left out, so it resolves to its first use
     * and is listed once in "defined inputs: ...". */
    for (i = 0; i < c->n_inputs; i++) {
        in_names[i] = first_use(in_names, i, c->inputs[i].name);
    }
    for (i = 0; i < c->n_outputs; i++) {
        out_names[i] = first_use(out_names, i, c->outputs[i].name);
    }
    for (i = 0; i < seq->n; i++) {
        const struct tl_yaml_node *item = seq->kids[i];
        struct tl_conf_route *r = &c->routes[i];

        snprintf(where, sizeof(where), "routes[%zu]", i);
        r->line = item->line;
        if (!tl_conf_want_item_map(ld, &tl_conf_route_section, item, where)) {
            continue;
        }
        tl_conf_walk_map(ld, &tl_conf_route_section, item, r, where, found, -1);
        if (found[0] != NULL) {
            snprintf(path, sizeof(path), "%s.from", where);
            r->from = resolve(ld, found[0], path, "input", in_names, c->n_inputs, &r->n_from);
        }
        if (found[1] != NULL) {
            snprintf(path, sizeof(path), "%s.to", where);
            r->to = resolve(ld, found[1], path, "output", out_names, c->n_outputs, &r->n_to);
        }
        if (found[2] != NULL) {
            walk_where(ld, r, found[2], where);
        }
    }
    /* After a bad route every coverage message would be noise. */
    if (tl_conf_error_count(ld) == before) {
        check_route_pairs(ld, c);
        check_route_coverage(ld, c, in_labels, out_labels);
    }
out:
    free(in_names);
    free(out_names);
}

