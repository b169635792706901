/*
 * diag.h: private to src/conf/: the state of one load (struct ld) with the errors it
 * collected, and the phrases its messages are made of.
 *
 * Errors are collected, not returned at the first one: someone fixing a config wants to see
 * all of them at once. Each is a full sentence "FILE:LINE: KEY PATH: what is wrong; what is
 * allowed"; they are handed over in file order (tl_conf_give_errors). One struct ld belongs
 * to one load, on one thread.
 */
#ifndef TL_CONF_DIAG_H
#define TL_CONF_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "conf/yaml_tree.h"

struct lerr {
    int line;
    char *text;
};

struct ld {
    const char *file;
    struct lerr *errs;
    size_t n_errs;
    size_t cap_errs;
    size_t dropped; /* errors past the first 100 */
    bool oom;       /* reported once, at the end */
    struct tl_conf_fileref *files; /* handed to the tl_conf at the end (load_tls.c) */
    size_t n_files;
    size_t cap_files;
};

/* A malloc'd formatted string, or NULL when out of memory. */
char *tl_conf_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records "FILE:LINE: message" (just "message" when line is 0). */
void tl_conf_errf(struct ld *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Errors so far, out of memory counted as one. */
size_t tl_conf_error_count(const struct ld *ld);

/* Hands the errors over to errs (NULL: frees them) sorted by line, stable, so messages about
 * one line keep their order: the loader runs over keys in table order, this puts them in file
 * order. Adds the out-of-memory and "N more errors" lines. */
void tl_conf_give_errors(struct ld *ld, struct tl_conf_errors *errs);

/* A scalar as shown in messages (tl_show_text). */
const char *tl_conf_show_node(const struct tl_yaml_node *n, char *out, size_t cap);

/* Joins words[0..n) (NULL entries skipped) as "a, b, c", each with pre before it and post
 * after, cut short with "..." */
const char *tl_conf_join(const char *const *words, size_t n, const char *pre, const char *post,
                         char *out, size_t cap);
/* The same for a NULL-terminated list, without pre and post. */
const char *tl_conf_join_words(const char *const *words, char *out, size_t cap);

/* "; did you mean 'x'?" with the closest of cands[0..n) within 2 edits, or "" */
const char *tl_conf_did_you_mean(const char *s, size_t len, const char *const *cands,
                                 size_t n, char *out, size_t cap);

/* "nothing", "a mapping", "a list" or "a single value": what a node is, for "got ..." */
const char *tl_conf_got_text(const struct tl_yaml_node *n);

/* "inputs[0] (tcp).listen", or just "workers" at the top level (where is "") */
const char *tl_conf_key_path(const char *where, const char *key, char *out, size_t cap);

#endif
