/*
 * yaml_tree.h: a small document tree built from libyaml's event stream.
 *
 * The configuration walker wants random access (look up "name" before anything else,
 * report a missing key at the line of its mapping), which libyaml's events do not give, and
 * libyaml's own document API keeps no scalar style. So we build our own tree: mappings,
 * sequences and scalars, each with the line and column it starts at.
 *
 * Deliberately rejected, with a message: anchors and aliases (a config has no need for them
 * and they make "where is this value from" ambiguous), more than one document, keys that are
 * not scalars, nesting deeper than TL_YAML_MAX_DEPTH. Tags are ignored.
 *
 * The tree owns all its memory; free it with tl_yaml_free. Not shared between threads.
 */
#ifndef TL_CONF_YAML_TREE_H
#define TL_CONF_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TL_YAML_MAX_DEPTH 64

enum tl_yaml_kind {
    TL_YAML_SCALAR = 0,
    TL_YAML_MAP,
    TL_YAML_SEQ,
};

struct tl_yaml_node {
    enum tl_yaml_kind kind;
    int line;                     /* 1-based */
    int col;                      /* 1-based */
    /* TL_YAML_SCALAR */
    char *str;                    /* NUL-terminated copy; may hold NUL bytes, see len */
    size_t len;
    bool quoted;                  /* written quoted or as a block scalar: never null */
    /* TL_YAML_MAP: kids[2i] is a key (always a scalar), kids[2i + 1] its value.
     * TL_YAML_SEQ: the items in order. */
    struct tl_yaml_node **kids;
    size_t n;
    size_t cap;
};

/*
 * Parses text[0..len) (UTF-8, or UTF-16 with a BOM). An empty stream gives a null scalar
 * at line 1. On failure returns NULL, *err_line is the 1-based line of the problem and err
 * (TL_E_CONFIG; TL_E_RESOURCE when out of memory) holds a sentence without the file/line
 * prefix, e.g.
 * "YAML syntax error at column 3: did not find expected key (while parsing a block mapping
 * that starts at line 2)".
 */
struct tl_yaml_node *tl_yaml_parse(const char *text, size_t len, int *err_line,
                                   struct tl_err *err);
void tl_yaml_free(struct tl_yaml_node *n);

/* True for the plain scalars YAML reads as null: "", "~", "null", "Null", "NULL". */
bool tl_yaml_is_null(const struct tl_yaml_node *n);

#endif
