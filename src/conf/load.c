/*
 * load.c: loads the YAML configuration into struct tl_conf (see conf.h): walks the tree
 * (yaml_tree.h) mapping by mapping against the key tables (keys.h), stores each value with
 * its type's operations (values.c), merges the tls: blocks and applies the defaults that
 * depend on other keys; the rules between keys are check.c's, the routes routes.c's.
 */
#include "conf/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/diag.h"
#include "conf/keys.h"
#include "conf/load.h"
#include "conf/yaml_tree.h"
#include "core/text.h"
#include "route/filter.h"

#define MAX_FILE_SIZE (16u * 1024 * 1024)

/* Parses the scalar s for key k and stores it into base (with its type's set operation).
 * Reports and returns false when the value is not acceptable; *num receives numeric values
 * (enums too). */
static bool set_value(struct ld *ld, const struct key *k, void *base, const char *s, size_t len,
                      int line, const char *path, uint64_t *num)
{
    const struct ktype_ops *ops = &tl_conf_ktypes[k->type];
    char shown[SHOW_LEN];
    struct kvalue v = {s, len, shown};
    struct tl_err err;
    uint64_t n = 0;

    tl_show_text(s, len, shown, sizeof(shown));
    if (strlen(s) != len) {
        tl_conf_errf(ld, line, "%s: '%s' contains a NUL byte", path, shown);
        return false;
    }
    if (ops->set == NULL) {
        return true;
    }
    switch (ops->set(k, base, &v, &n, &err)) {
    case TL_OK:
        break;
    case TL_E_RESOURCE:
        ld->oom = true;
        return false;
    default:
        tl_conf_errf(ld, line, "%s: %s", path, err.cause);
        return false;
    }
    if (num != NULL) {
        *num = n;
    }
    return true;
}

/* A scalar with a value; otherwise reports what was expected. */
static bool want_scalar(struct ld *ld, const struct key *k, const struct tl_yaml_node *v,
                        const char *path)
{
    char exp[LIST_LEN];

    if (v->kind == TL_YAML_SCALAR && !tl_yaml_is_null(v)) {
        return true;
    }
    tl_conf_errf(ld, v->line, "%s: expected %s, got %s", path,
                 tl_conf_expected_text(k, exp, sizeof(exp)), tl_conf_got_text(v));
    return false;
}

/* ---- lists of strings ------------------------------------------------------------------ */

void tl_conf_free_strs(char **list, size_t n)
{
    size_t i;

    for (i = 0; i < n && list != NULL; i++) {
        free(list[i]);
    }
    free(list);
}

/* A KT_STRLIST value: one text, or a list of texts, each passing k->check. Replaces the
 * list in base (the items that pass), so a local list replaces an inherited one whole. */
static void set_strlist(struct ld *ld, const struct key *k, void *base,
                        const struct tl_yaml_node *v, const char *path)
{
    const struct tl_yaml_node *const *items = (const struct tl_yaml_node *const *)&v;
    unsigned char *field = (unsigned char *)base + k->off;
    char shown[SHOW_LEN];
    char why[LIST_LEN];
    struct tl_err e;
    char **list;
    char **old;
    size_t n_old;
    size_t count = 1;
    size_t got = 0;
    size_t i;

    if (tl_yaml_is_null(v) || v->kind == TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a text or a list of them, got %s", path,
                     tl_conf_got_text(v));
        return;
    }
    if (v->kind == TL_YAML_SEQ) {
        items = (const struct tl_yaml_node *const *)v->kids;
        count = v->n;
    }
    if (count == 0) {
        tl_conf_errf(ld, v->line, "%s: the list is empty; give at least one entry or remove "
                     "the key", path);
        return;
    }
    list = calloc(count, sizeof(*list));
    if (list == NULL) {
        ld->oom = true;
        return;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *item = items[i];

        if (item->kind != TL_YAML_SCALAR || tl_yaml_is_null(item)) {
            tl_conf_errf(ld, item->line, "%s[%zu]: expected a text, got %s", path, i,
                         tl_conf_got_text(item));
            continue;
        }
        if (strlen(item->str) != item->len) {
            tl_conf_errf(ld, item->line, "%s[%zu]: '%s' contains a NUL byte", path, i,
                         tl_conf_show_node(item, shown, sizeof(shown)));
            continue;
        }
        if (k->check != NULL && k->check(item->str, &e) != TL_OK) {
            tl_conf_errf(ld, item->line, "%s[%zu]: %s", path, i, tl_err_text(&e, why, sizeof(why)));
            continue;
        }
        list[got] = strdup(item->str);
        if (list[got] == NULL) {
            ld->oom = true;
            break;
        }
        got++;
    }
    memcpy(&old, field, sizeof(old));
    memcpy(&n_old, (unsigned char *)base + k->count_off, sizeof(n_old));
    tl_conf_free_strs(old, n_old);
    memcpy(field, &list, sizeof(list));
    memcpy((unsigned char *)base + k->count_off, &got, sizeof(got));
}

/* ---- mappings -------------------------------------------------------------------------- */

static void unknown_key(struct ld *ld, const struct section *sec,
                        const struct tl_yaml_node *kn, const char *where)
{
    const char *names[MAX_KEYS];
    char shown[SHOW_LEN];
    char list[LIST_LEN];
    char dym[96];
    char at[SHOW_LEN + 8];

    tl_conf_key_names(sec, names);
    if (where[0] == '\0') {
        snprintf(at, sizeof(at), "at top level");
    } else {
        snprintf(at, sizeof(at), "in %s", where);
    }
    tl_conf_errf(ld, kn->line, "unknown key '%s' %s; allowed: %s%s",
                 tl_conf_show_node(kn, shown, sizeof(shown)), at,
                 tl_conf_join(names, sec->n_keys, "", "", list, sizeof(list)),
                 tl_conf_did_you_mean(kn->str, kn->len, names, sec->n_keys, dym, sizeof(dym)));
}

/* True (after reporting where it went) when kn is a key that moved into a block. */
static bool moved_key(struct ld *ld, const struct section *sec, const struct tl_yaml_node *kn,
                      const struct tl_yaml_node *vn, const char *where)
{
    char path[SHOW_LEN + 64];
    char shown[SHOW_LEN];
    size_t i;

    for (i = 0; i < sec->n_moved; i++) {
        const struct moved_key *m = &sec->moved[i];

        if (strlen(m->old) != kn->len || memcmp(m->old, kn->str, kn->len) != 0) {
            continue;
        }
        if (vn->kind == TL_YAML_SCALAR && !tl_yaml_is_null(vn)) {
            tl_conf_show_node(vn, shown, sizeof(shown));
        } else {
            snprintf(shown, sizeof(shown), "%s", m->example);
        }
        tl_conf_errf(ld, kn->line, "%s: '%s' moved into the %s: block: write %s: {%s: %s}",
                     tl_conf_key_path(where, m->old, path, sizeof(path)), m->old, m->block,
                     m->block, m->key, shown);
        return true;
    }
    return false;
}

static void missing_key(struct ld *ld, const struct section *sec, const struct key *k,
                        int line, const char *where, int kind)
{
    char kinds[64];

    if (where[0] == '\0') {
        tl_conf_errf(ld, line, "missing required key '%s' at top level", k->name);
    } else if (k->required == ALWAYS || kind < 0) {
        tl_conf_errf(ld, line, "%s: missing required key '%s'", where, k->name);
    } else {
        tl_conf_errf(ld, line, "%s: missing required key '%s' (%s %s need it)", where, k->name,
                     tl_conf_kinds_text(sec, k->required, kinds, sizeof(kinds)), sec->plural);
    }
}

/*
 * Checks one mapping against a section and stores its scalar values into base: unknown and
 * duplicate keys, the kind (transport or type), keys that do not apply to that kind, value
 * syntax and range, missing required keys; defaults fill the rest. found[i] receives the
 * value node of key i (or NULL) so the caller can handle lists. parent_kind is the kind of
 * the enclosing item for a block whose section has kind_from_parent (-1 otherwise). Returns
 * the kind, or -1 when unknown.
 */
int tl_conf_walk_map(struct ld *ld, const struct section *sec, const struct tl_yaml_node *map,
                     void *base, const char *where, const struct tl_yaml_node **found,
                     int parent_kind)
{
    int keyline[MAX_KEYS];
    char path[SHOW_LEN + 64];
    char kinds[64];
    int kind = -1;
    int ki = -1;
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        found[i] = NULL;
        keyline[i] = 0;
    }
    for (i = 0; i + 1 < map->n; i += 2) {
        const struct tl_yaml_node *kn = map->kids[i];
        int idx = tl_conf_find_key(sec, kn->str, kn->len);

        if (idx < 0) {
            if (!moved_key(ld, sec, kn, map->kids[i + 1], where)) {
                unknown_key(ld, sec, kn, where);
            }
            continue;
        }
        if (found[idx] != NULL) {
            tl_conf_errf(ld, kn->line, "%s: duplicate key; it was first given at line %d",
                         tl_conf_key_path(where, sec->keys[idx].name, path, sizeof(path)),
                         keyline[idx]);
            continue;
        }
        found[idx] = map->kids[i + 1];
        keyline[idx] = kn->line;
    }

    if (sec->kind_from_parent) {
        kind = parent_kind;
    } else if (sec->kind_key != NULL) {
        uint64_t v;

        ki = tl_conf_find_key(sec, sec->kind_key, strlen(sec->kind_key));
        if (found[ki] != NULL) {
            const struct key *k = &sec->keys[ki];
            const struct tl_yaml_node *vn = found[ki];

            tl_conf_key_path(where, k->name, path, sizeof(path));
            if (want_scalar(ld, k, vn, path) &&
                set_value(ld, k, base, vn->str, vn->len, vn->line, path, &v)) {
                kind = (int)v;
            }
        }
    }

    for (i = 0; i < sec->n_keys; i++) {
        const struct key *k = &sec->keys[i];
        const struct tl_yaml_node *vn = found[i];
        bool applies = k->applies == 0 || kind < 0 || (k->applies & KIND(kind)) != 0;

        tl_conf_key_path(where, k->name, path, sizeof(path));
        if ((int)i == ki && vn != NULL) {
            continue;
        }
        if (vn == NULL) {
            if (k->def != NULL && applies) {
                set_value(ld, k, base, k->def, strlen(k->def), map->line, path, NULL);
            }
            if (k->required == ALWAYS || (kind >= 0 && (k->required & KIND(kind)) != 0)) {
                missing_key(ld, sec, k, map->line, where, kind);
            }
            continue;
        }
        if (!applies) {
            char kind_now[64];

            tl_conf_errf(ld, keyline[i], "%s: %s applies only to %s %s; this one's %s is %s", path,
                         k->name, tl_conf_kinds_text(sec, k->applies, kinds, sizeof(kinds)),
                         sec->plural, sec->kind_key,
                         tl_conf_kinds_text(sec, KIND(kind), kind_now, sizeof(kind_now)));
            continue;
        }
        if (tl_conf_ktypes[k->type].set == NULL) {
            if (tl_conf_ktypes[k->type].store == KS_STRLIST) {
                set_strlist(ld, k, base, vn, path);
            }
            continue; /* a list or a block: the caller's */
        }
        if (want_scalar(ld, k, vn, path)) {
            set_value(ld, k, base, vn->str, vn->len, vn->line, path, NULL);
        }
    }
    return kind;
}

/* "inputs[1] (tcp-in)", or "inputs[1]" when the item has no usable name */
static void item_label(const char *list, size_t i, const struct tl_yaml_node *item, char *out,
                       size_t cap)
{
    size_t j;

    snprintf(out, cap, "%s[%zu]", list, i);
    if (item->kind != TL_YAML_MAP) {
        return;
    }
    for (j = 0; j + 1 < item->n; j += 2) {
        const struct tl_yaml_node *kn = item->kids[j];
        const struct tl_yaml_node *vn = item->kids[j + 1];

        if (kn->len == 4 && memcmp(kn->str, "name", 4) == 0 && vn->kind == TL_YAML_SCALAR &&
            tl_conf_valid_name(vn->str, vn->len) && strlen(vn->str) == vn->len) {
            snprintf(out, cap, "%s[%zu] (%s)", list, i, vn->str);
            return;
        }
    }
}

/* A list value: reports nothing/not-a-list/empty and returns false. */
bool tl_conf_want_list(struct ld *ld, const struct tl_yaml_node *v, const char *path,
                       const char *items, const char *if_empty)
{
    if (tl_yaml_is_null(v)) {
        tl_conf_errf(ld, v->line, "%s: expected a list of %s, got nothing", path, items);
        return false;
    }
    if (v->kind != TL_YAML_SEQ) {
        tl_conf_errf(ld, v->line, "%s: expected a list of %s (each item starting with '- '), "
                     "got %s", path, items, tl_conf_got_text(v));
        return false;
    }
    if (v->n == 0) {
        tl_conf_errf(ld, v->line, "%s: the list is empty; %s", path, if_empty);
        return false;
    }
    return true;
}

bool tl_conf_want_item_map(struct ld *ld, const struct section *sec,
                           const struct tl_yaml_node *item, const char *where)
{
    char list[LIST_LEN];
    const char *names[MAX_KEYS];

    if (item->kind == TL_YAML_MAP) {
        return true;
    }
    tl_conf_key_names(sec, names);
    tl_conf_errf(ld, item->line, "%s: expected a mapping with keys such as %s, got %s", where,
                 tl_conf_join(names, sec->n_keys < 3 ? sec->n_keys : 3, "", "", list, sizeof(list)),
                 tl_conf_got_text(item));
    return false;
}

/* The line of the key `name` in mapping map, or the mapping's own line. */
int tl_conf_key_line(const struct tl_yaml_node *map, const char *name)
{
    size_t len = strlen(name);
    size_t i;

    for (i = 0; i + 1 < map->n; i += 2) {
        if (map->kids[i]->len == len && memcmp(map->kids[i]->str, name, len) == 0) {
            return map->kids[i]->line;
        }
    }
    return map->line;
}

/* ---- inputs and outputs ---------------------------------------------------------------- */

/* The rate_limit: block of an input (v; NULL when absent: no limit). */
static void walk_rate(struct ld *ld, struct tl_conf_input *in, int kind,
                      const struct tl_yaml_node *v, const char *where)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    char path[SHOW_LEN + 16];

    if (v == NULL) {
        return;
    }
    tl_conf_key_path(where, "rate_limit", path, sizeof(path));
    if (v->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a mapping of rate limit settings (burst, "
                     "interval, max_sources), got %s", path, tl_conf_got_text(v));
        return;
    }
    in->rate_limit = true;
    tl_conf_walk_map(ld, &tl_conf_rate_section, v, in, path, found, kind);
}

static void finish_input(struct ld *ld, struct tl_conf *c, void *item, int kind,
                         const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                         const char *where)
{
    struct tl_conf_input *in = item;
    const struct tl_yaml_node *tls = found[tl_conf_key_index(&tl_conf_input_section, "tls")];

    walk_rate(ld, in, kind, found[tl_conf_key_index(&tl_conf_input_section, "rate_limit")],
              where);
    if (kind == TL_TR_RELP) {
        /* RELP over TLS exactly when the input has a tls: block of its own. */
        if (tls == NULL) {
            tl_conf_check_plain_relp_input(ld, map, found, where);
            return;
        }
        in->relp_tls = true;
    } else if (kind != TL_TR_TLS) {
        return;
    }
    if (tl_conf_merge_tls(ld, &c->tls, map, tls, &in->tls, where)) {
        tl_conf_check_tls(ld, &in->tls, true, where, in->line);
    }
}

void tl_conf_parse_targets(struct ld *ld, struct tl_conf_output *out,
                           const struct tl_yaml_node *v, const char *path, uint16_t def,
                           const char *example)
{
    const struct tl_yaml_node *const *items = (const struct tl_yaml_node *const *)&v;
    char shown[SHOW_LEN];
    char why[LIST_LEN];
    struct tl_err e;
    size_t count = 1;
    size_t i;

    if (tl_yaml_is_null(v) || v->kind == TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a list of addresses (e.g. [\"%s\"]), got %s",
                     path, example, tl_conf_got_text(v));
        return;
    }
    if (v->kind == TL_YAML_SEQ) {
        items = (const struct tl_yaml_node *const *)v->kids;
        count = v->n;
    }
    if (count == 0) {
        tl_conf_errf(ld, v->line, "%s: the list is empty; give at least one host:port", path);
        return;
    }
    out->targets = calloc(count, sizeof(*out->targets));
    if (out->targets == NULL) {
        ld->oom = true;
        return;
    }
    for (i = 0; i < count; i++) {
        const struct tl_yaml_node *item = items[i];
        char *host = NULL;
        uint16_t port = 0;

        if (item->kind != TL_YAML_SCALAR || tl_yaml_is_null(item)) {
            tl_conf_errf(ld, item->line, "%s[%zu]: expected an address such as \"%s\", got %s",
                         path, i, example, tl_conf_got_text(item));
            continue;
        }
        tl_conf_show_node(item, shown, sizeof(shown));
        if (strlen(item->str) != item->len) {
            tl_conf_errf(ld, item->line, "%s[%zu]: '%s' contains a NUL byte", path, i, shown);
            continue;
        }
        if (tl_parse_listen(item->str, def, &host, &port, &e) != TL_OK) {
            tl_conf_errf(ld, item->line, "%s[%zu]: '%s' is not a target address: %s; use "
                         "host:port, [v6]:port or host", path, i, shown,
                         tl_err_text(&e, why, sizeof(why)));
            continue;
        }
        if (host == NULL) {
            tl_conf_errf(ld, item->line, "%s[%zu]: '%s' has no host; use host:port, [v6]:port or "
                         "host", path, i, shown);
            continue;
        }
        if (port == 0) {
            tl_conf_errf(ld, item->line, "%s[%zu]: '%s': port 0 cannot be connected to; give the "
                         "server's port", path, i, shown);
            free(host);
            continue;
        }
        out->targets[out->n_targets].host = host;
        out->targets[out->n_targets].port = port;
        out->n_targets++;
    }
}

/* The queue: block of an output (v; NULL when absent, then every default applies). */
static void walk_queue(struct ld *ld, struct tl_conf_output *out, int kind,
                       const struct tl_yaml_node *map, const struct tl_yaml_node *v,
                       const char *where)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    struct tl_yaml_node empty;
    char path[SHOW_LEN + 16];

    tl_conf_key_path(where, "queue", path, sizeof(path));
    if (v == NULL) {
        memset(&empty, 0, sizeof(empty));
        empty.kind = TL_YAML_MAP;
        empty.line = map->line;
        v = &empty;
    } else if (v->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a mapping of queue settings (memory_messages, "
                     "full, dir, ...), got %s", path, tl_conf_got_text(v));
        return;
    }
    tl_conf_walk_map(ld, &tl_conf_queue_section, v, out, path, found, kind);
    if (kind == TL_OUT_FORWARD || kind == TL_OUT_KAFKA) {
        tl_conf_check_queue(ld, out, v, found, path);
    }
}

static void finish_output(struct ld *ld, struct tl_conf *c, void *item, int kind,
                          const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                          const char *where)
{
    struct tl_conf_output *out = item;
    const struct section *sec = &tl_conf_output_section;
    const struct tl_yaml_node *targets = found[tl_conf_key_index(sec, "targets")];
    const struct tl_yaml_node *tls = found[tl_conf_key_index(sec, "tls")];
    char path[SHOW_LEN + 16];

    walk_queue(ld, out, kind, map, found[tl_conf_key_index(sec, "queue")], where);
    if (kind == TL_OUT_KAFKA) {
        tl_conf_finish_kafka(ld, c, out, map, found, where);
        return;
    }
    if (kind != TL_OUT_FORWARD) {
        return;
    }
    /* The defaults of a forward output that differ from the other outputs' or depend on its
     * transport. */
    if (found[tl_conf_key_index(sec, "format")] == NULL) {
        out->format = TL_FMT_RFC5424;
    }
    if (found[tl_conf_key_index(sec, "framing")] == NULL &&
        (out->transport == TL_TR_TLS || out->transport == TL_TR_TCP)) {
        out->framing = out->transport == TL_TR_TLS ? TL_FRAMING_OCTET : TL_FRAMING_LF;
    }
    tl_conf_check_forward_format(ld, out, map, found, where);
    if (targets != NULL) {
        tl_conf_key_path(where, "targets", path, sizeof(path));
        tl_conf_parse_targets(ld, out, targets, path,
                              out->transport == TL_TR_TLS    ? DEFAULT_TLS_PORT
                              : out->transport == TL_TR_RELP ? DEFAULT_RELP_PORT
                                                             : DEFAULT_PORT,
                              "loghost.example.net:6514");
    }
    tl_conf_check_forward(ld, out, map, found, where);
    if (out->transport == TL_TR_RELP && tls != NULL) {
        out->relp_tls = true; /* RELP over TLS exactly when the output has a tls: block */
    } else if (out->transport != TL_TR_TLS) {
        return;
    }
    if (tl_conf_merge_tls(ld, &c->tls, map, tls, &out->tls, where)) {
        tl_conf_check_tls(ld, &out->tls, false, where, out->line);
    }
}

static void free_labels(char **labels, size_t n)
{
    size_t i;

    if (labels == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(labels[i]);
    }
    free(labels);
}

/*
 * Walks a list of input or output mappings into a new array of item_size elements. Returns
 * the array (zeroed where items were bad) and the labels used in messages.
 */
typedef void (*item_fn)(struct ld *ld, struct tl_conf *c, void *item, int kind,
              const struct tl_yaml_node *map, const struct tl_yaml_node **found,
              const char *where);

static void *walk_items(struct ld *ld, struct tl_conf *c, const struct section *sec,
                        const char *list, const struct tl_yaml_node *seq, size_t item_size,
                        size_t line_off, item_fn done, size_t *n_out, char ***labels_out)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    char where[SHOW_LEN];
    char if_empty[64];
    unsigned char *items;
    char **labels;
    size_t i;

    *n_out = 0;
    *labels_out = NULL;
    snprintf(if_empty, sizeof(if_empty), "define at least one %.*s",
             (int)strlen(sec->plural) - 1, sec->plural);
    if (!tl_conf_want_list(ld, seq, list, sec->plural, if_empty)) {
        return NULL;
    }
    items = calloc(seq->n, item_size);
    labels = calloc(seq->n, sizeof(*labels));
    if (items == NULL || labels == NULL) {
        free(items);
        free(labels);
        ld->oom = true;
        return NULL;
    }
    for (i = 0; i < seq->n; i++) {
        const struct tl_yaml_node *item = seq->kids[i];
        unsigned char *base = items + i * item_size;
        int line = item->line;

        item_label(list, i, item, where, sizeof(where));
        labels[i] = strdup(where);
        if (labels[i] == NULL) {
            ld->oom = true;
        }
        memcpy(base + line_off, &line, sizeof(line));
        if (tl_conf_want_item_map(ld, sec, item, where)) {
            int kind = tl_conf_walk_map(ld, sec, item, base, where, found, -1);

            done(ld, c, base, kind, item, found, where);
        }
    }
    *n_out = seq->n;
    *labels_out = labels;
    return items;
}

/* ---- metrics ----------------------------------------------------------------------------- */

/* The metrics: block (v): listen is an address of this host; the port defaults to 9514. */
static void walk_metrics(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *v,
                         int line)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    char why[LIST_LEN];
    struct tl_err e;
    char shown[SHOW_LEN];

    if (v->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "metrics: expected a mapping such as "
                     "{listen: \"127.0.0.1:9514\"}, got %s", tl_conf_got_text(v));
        return;
    }
    c->metrics.line = line;
    tl_conf_walk_map(ld, &tl_conf_metrics_section, v, &c->metrics, "metrics", found, -1);
    if (c->metrics.listen == NULL) {
        return; /* missing or invalid: already reported */
    }
    if (tl_parse_listen(c->metrics.listen, DEFAULT_METRICS_PORT, &c->metrics.host,
                        &c->metrics.port, &e) != TL_OK) {
        tl_conf_errf(ld, tl_conf_key_line(v, "listen"), "metrics.listen: '%s' is not a listen "
                     "address: %s; use host:port, [v6]:port, :port or port",
                     tl_show_text(c->metrics.listen, strlen(c->metrics.listen), shown,
                                  sizeof(shown)), tl_err_text(&e, why, sizeof(why)));
    }
}

/* ---- top level ------------------------------------------------------------------------- */

static void walk_top(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *root)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    const char *names[MAX_KEYS];
    char list[LIST_LEN];
    char **in_labels = NULL;
    char **out_labels = NULL;
    int i_in = tl_conf_find_key(&tl_conf_top_section, "inputs", 6);
    int i_out = tl_conf_find_key(&tl_conf_top_section, "outputs", 7);
    int i_routes = tl_conf_find_key(&tl_conf_top_section, "routes", 6);
    int i_tls = tl_conf_find_key(&tl_conf_top_section, "tls", 3);
    int i_metrics = tl_conf_find_key(&tl_conf_top_section, "metrics", 7);
    const struct tl_yaml_node *tls_found[MAX_KEYS];

    if (tl_yaml_is_null(root)) {
        tl_conf_errf(ld, 1, "the configuration is empty; it needs at least 'inputs' and "
                     "'outputs' (see examples/minimal.yaml)");
        return;
    }
    if (root->kind != TL_YAML_MAP) {
        tl_conf_key_names(&tl_conf_top_section, names);
        tl_conf_errf(ld, root->line, "the top level must be a mapping of keys (%s), not %s",
                     tl_conf_join(names, tl_conf_top_section.n_keys, "", "", list, sizeof(list)),
                     tl_conf_got_text(root));
        return;
    }
    tl_conf_walk_map(ld, &tl_conf_top_section, root, c, "", found, -1);
    if (found[i_tls] != NULL) {
        c->tls.line = tl_conf_key_line(root, "tls");
        tl_conf_walk_tls(ld, found[i_tls], &c->tls, "tls", tls_found);
    }
    tl_conf_tls_defaults(&c->tls);
    if (found[i_metrics] != NULL) {
        walk_metrics(ld, c, found[i_metrics], tl_conf_key_line(root, "metrics"));
    }
    if (found[i_in] != NULL) {
        c->inputs = walk_items(ld, c, &tl_conf_input_section, "inputs", found[i_in],
                               sizeof(*c->inputs), offsetof(struct tl_conf_input, line),
                               finish_input, &c->n_inputs, &in_labels);
        tl_conf_check_inputs(ld, c, in_labels);
        tl_conf_check_partial_budget(ld, c, root, in_labels);
    }
    if (found[i_out] != NULL) {
        c->outputs = walk_items(ld, c, &tl_conf_output_section, "outputs", found[i_out],
                                sizeof(*c->outputs), offsetof(struct tl_conf_output, line),
                                finish_output, &c->n_outputs, &out_labels);
        tl_conf_check_outputs(ld, c, out_labels);
    }
    if (found[i_routes] != NULL && c->inputs != NULL && c->outputs != NULL) {
        tl_conf_walk_routes(ld, c, found[i_routes], in_labels, out_labels);
    }
    free_labels(in_labels, c->n_inputs);
    free_labels(out_labels, c->n_outputs);
}

/* ---- entry points ---------------------------------------------------------------------- */

void tl_conf_free(struct tl_conf *c)
{
    size_t i;
    size_t j;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < c->n_inputs; i++) {
        free(c->inputs[i].name);
        free(c->inputs[i].host);
        free(c->inputs[i].path);
        free(c->inputs[i].tag);
        free(c->inputs[i].multiline_start);
        free(c->inputs[i].journal_dir);
        tl_conf_tls_free(&c->inputs[i].tls);
    }
    for (i = 0; i < c->n_outputs; i++) {
        free(c->outputs[i].name);
        free(c->outputs[i].path);
        for (j = 0; j < c->outputs[i].n_targets; j++) {
            free(c->outputs[i].targets[j].host);
        }
        free(c->outputs[i].targets);
        free(c->outputs[i].queue_dir);
        tl_conf_free_kafka(&c->outputs[i]);
        free(c->outputs[i].hash_key);
        tl_conf_tls_free(&c->outputs[i].tls);
    }
    for (i = 0; i < c->n_routes; i++) {
        free(c->routes[i].from);
        free(c->routes[i].to);
        tl_filter_free(c->routes[i].where);
        free(c->routes[i].where_text);
    }
    free(c->inputs);
    free(c->outputs);
    free(c->routes);
    tl_conf_free_filerefs(c->files, c->n_files);
    tl_conf_tls_free(&c->tls);
    free(c->port_file);
    free(c->pid_file);
    free(c->user);
    free(c->group);
    free(c->metrics.listen);
    free(c->metrics.host);
    free(c->state_dir);
    free(c->file);
    free(c);
}

static struct tl_conf *finish(struct ld *ld, struct tl_conf *c, struct tl_conf_errors *errs)
{
    if (tl_conf_error_count(ld) > 0) {
        tl_conf_free(c);
        c = NULL;
    }
    tl_conf_give_errors(ld, errs);
    return c;
}

struct tl_conf *tl_conf_load_string(const char *text, size_t len, const char *name,
                                    struct tl_conf_errors *errs)
{
    struct ld ld;
    struct tl_yaml_node *root;
    struct tl_conf *c;
    char msg[1024];
    struct tl_err e;
    int line = 0;

    memset(&ld, 0, sizeof(ld));
    ld.file = name != NULL ? name : "<string>";
    if (errs != NULL) {
        errs->lines = NULL;
        errs->n = 0;
    }
    root = tl_yaml_parse(text, len, &line, &e);
    if (root == NULL) {
        tl_conf_errf(&ld, line, "%s", tl_err_text(&e, msg, sizeof(msg)));
        return finish(&ld, NULL, errs);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->file = strdup(ld.file)) == NULL) {
        ld.oom = true;
    } else {
        walk_top(&ld, c, root);
    }
    tl_yaml_free(root);
    if (c != NULL) {
        c->files = ld.files;
        c->n_files = ld.n_files;
    } else {
        tl_conf_free_filerefs(ld.files, ld.n_files);
    }
    return finish(&ld, c, errs);
}

/* Reads a whole file, at most MAX_FILE_SIZE bytes; errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
    char *data = NULL;
    size_t cap = 0;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        return NULL;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    for (;;) {
        ssize_t r;

        if (n == cap) {
            char *p;

            if (cap >= MAX_FILE_SIZE) {
                free(data);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            cap = cap ? cap * 2 : 16384;
            p = realloc(data, cap + 1);
            if (p == NULL) {
                free(data);
                close(fd);
                errno = ENOMEM;
                return NULL;
            }
            data = p;
        }
        r = read(fd, data + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;

            free(data);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    data[n] = '\0';
    *len = n;
    return data;
}

struct tl_conf *tl_conf_load_file(const char *path, struct tl_conf_errors *errs)
{
    struct tl_conf *c;
    size_t len = 0;
    char *text = read_file(path, &len);

    if (text == NULL) {
        struct ld ld;

        memset(&ld, 0, sizeof(ld));
        ld.file = path;
        if (errs != NULL) {
            errs->lines = NULL;
            errs->n = 0;
        }
        if (errno == EFBIG) {
            tl_conf_errf(&ld, 0, "cannot read %s: the file is larger than %u MiB", path,
                         MAX_FILE_SIZE / (1024 * 1024));
        } else {
            tl_conf_errf(&ld, 0, "cannot read %s: %s", path, strerror(errno));
        }
        return finish(&ld, NULL, errs);
    }
    c = tl_conf_load_string(text, len, path, errs);
    free(text);
    return c;
}

