/*
 * load_tls.c: the tls: blocks of the configuration: the top-level one, and an input's or
 * forward output's own, merged key by key over it (the local value wins; a list replaces a
 * list whole), then the defaults. The files they name are noted for tl_conf_check_files.
 */
#include "conf/conf.h"

#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "conf/keys.h"
#include "conf/load.h"

/* What a field of a tls: block holds: its type's store (strings and lists are copied and
 * freed; numbers and enums copied as they are). */
static enum kstore tls_store(const struct key *k)
{
    return tl_conf_ktypes[k->type].store;
}

void tl_conf_tls_free(struct tl_conf_tls *t)
{
    size_t i;

    for (i = 0; i < tl_conf_tls_section.n_keys; i++) {
        const struct key *k = &tl_conf_tls_section.keys[i];
        unsigned char *field = (unsigned char *)t + k->off;
        char **list;
        char *str;
        size_t n;

        if (tls_store(k) == KS_STRING) {
            memcpy(&str, field, sizeof(str));
            free(str);
        } else if (tls_store(k) == KS_STRLIST) {
            memcpy(&list, field, sizeof(list));
            memcpy(&n, (unsigned char *)t + k->count_off, sizeof(n));
            tl_conf_free_strs(list, n);
        }
    }
    memset(t, 0, sizeof(*t));
}

/* dst = a deep copy of src; on running out of memory the copy lacks some strings. */
static void tls_copy(struct ld *ld, struct tl_conf_tls *dst, const struct tl_conf_tls *src)
{
    size_t i;
    size_t j;

    *dst = *src;
    for (i = 0; i < tl_conf_tls_section.n_keys; i++) {
        const struct key *k = &tl_conf_tls_section.keys[i];
        unsigned char *field = (unsigned char *)dst + k->off;
        char **list;
        char **copy;
        char *str;
        size_t n;

        if (tls_store(k) == KS_STRING) {
            memcpy(&str, field, sizeof(str));
            if (str != NULL && (str = strdup(str)) == NULL) {
                ld->oom = true;
            }
            memcpy(field, &str, sizeof(str));
        } else if (tls_store(k) == KS_STRLIST) {
            memcpy(&list, field, sizeof(list));
            memcpy(&n, (unsigned char *)dst + k->count_off, sizeof(n));
            copy = list != NULL ? calloc(n ? n : 1, sizeof(*copy)) : NULL;
            if (list != NULL && copy == NULL) {
                ld->oom = true;
                n = 0;
            }
            for (j = 0; j < n && copy != NULL; j++) {
                if ((copy[j] = strdup(list[j])) == NULL) {
                    ld->oom = true;
                }
            }
            memcpy(field, &copy, sizeof(copy));
            memcpy((unsigned char *)dst + k->count_off, &n, sizeof(n));
        }
    }
}

/* Moves the value of key k from src to dst (dst's old value is freed). */
static void tls_take(const struct key *k, struct tl_conf_tls *dst, struct tl_conf_tls *src)
{
    unsigned char *to = (unsigned char *)dst + k->off;
    unsigned char *from = (unsigned char *)src + k->off;
    char **list;
    char *str;
    size_t n;

    if (tls_store(k) == KS_STRING) {
        memcpy(&str, to, sizeof(str));
        free(str);
        memcpy(to, from, sizeof(str));
        memset(from, 0, sizeof(str));
    } else if (tls_store(k) == KS_STRLIST) {
        memcpy(&list, to, sizeof(list));
        memcpy(&n, (unsigned char *)dst + k->count_off, sizeof(n));
        tl_conf_free_strs(list, n);
        memcpy(to, from, sizeof(list));
        memcpy((unsigned char *)dst + k->count_off, (unsigned char *)src + k->count_off,
               sizeof(n));
        memset(from, 0, sizeof(list));
        memset((unsigned char *)src + k->count_off, 0, sizeof(n));
    } else {
        memcpy(to, from, k->size);
    }
}

void tl_conf_tls_defaults(struct tl_conf_tls *t)
{
    if (t->handshake_timeout_ms == 0) {
        t->handshake_timeout_ms = DEFAULT_HANDSHAKE_MS;
    }
    if (t->min_version == 0) {
        t->min_version = DEFAULT_TLS_VERSION;
    }
}

void tl_conf_free_filerefs(struct tl_conf_fileref *f, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(f[i].key);
        free(f[i].path);
    }
    free(f);
}

/* "system" for ca_file is the system store, not a file. */
void tl_conf_note_files(struct ld *ld, const struct section *sec,
                        const struct tl_yaml_node **found, const char *path)
{
    size_t i;

    for (i = 0; i < sec->n_keys; i++) {
        const struct key *k = &sec->keys[i];
        const struct tl_yaml_node *v = found[i];
        struct tl_conf_fileref *f;
        size_t len = strlen(k->name);

        if (k->type != KT_PATH || v == NULL || v->kind != TL_YAML_SCALAR || v->len == 0 ||
            strlen(v->str) != v->len ||
            (strcmp(k->name, "ca_file") == 0 && strcmp(v->str, "system") == 0)) {
            continue;
        }
        if (ld->n_files == ld->cap_files) {
            size_t cap = ld->cap_files ? ld->cap_files * 2 : 8;

            f = realloc(ld->files, cap * sizeof(*f));
            if (f == NULL) {
                ld->oom = true;
                return;
            }
            ld->files = f;
            ld->cap_files = cap;
        }
        f = &ld->files[ld->n_files];
        f->key = tl_conf_fmt("%s.%s", path, k->name);
        f->path = strdup(v->str);
        f->line = v->line;
        f->dir = len > 4 && strcmp(k->name + len - 4, "_dir") == 0;
        if (f->key == NULL || f->path == NULL) {
            free(f->key);
            free(f->path);
            ld->oom = true;
            return;
        }
        ld->n_files++;
    }
}

/* Reads a tls: block into t; found[] as for walk_map. False when it is not a mapping. */
bool tl_conf_walk_tls(struct ld *ld, const struct tl_yaml_node *v, struct tl_conf_tls *t,
                      const char *path, const struct tl_yaml_node **found)
{
    if (v->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a mapping of TLS settings (ca_file, cert_file, "
                     "key_file, ...), got %s", path, tl_conf_got_text(v));
        return false;
    }
    tl_conf_walk_map(ld, &tl_conf_tls_section, v, t, path, found, -1);
    tl_conf_note_files(ld, &tl_conf_tls_section, found, path);
    return true;
}

/*
 * dst = the top-level block with each key the local block v (NULL: none) sets replacing
 * the inherited value; lists replace whole lists. dst->line becomes the line of the local
 * block when it sets anything. Then the defaults fill what neither set. False when the local
 * block is not a mapping (reported): the rules between keys would only add noise.
 */
bool tl_conf_merge_tls(struct ld *ld, const struct tl_conf_tls *top,
                       const struct tl_yaml_node *map, const struct tl_yaml_node *v,
                       struct tl_conf_tls *dst, const char *where)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    struct tl_conf_tls local;
    char path[SHOW_LEN + 8];
    bool set = false;
    bool ok = true;
    size_t i;

    tls_copy(ld, dst, top);
    if (v != NULL) {
        memset(&local, 0, sizeof(local));
        tl_conf_key_path(where, "tls", path, sizeof(path));
        ok = tl_conf_walk_tls(ld, v, &local, path, found);
        if (ok) {
            for (i = 0; i < tl_conf_tls_section.n_keys; i++) {
                if (found[i] != NULL) {
                    tls_take(&tl_conf_tls_section.keys[i], dst, &local);
                    set = true;
                }
            }
        }
        if (set) {
            dst->line = tl_conf_key_line(map, "tls");
        }
        tl_conf_tls_free(&local);
    }
    tl_conf_tls_defaults(dst);
    return ok;
}

