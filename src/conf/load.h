/*
 * load.h: private to src/conf/: what the loader's files call in each other. load.c walks the
 * YAML tree into the structs and calls the rules of check.c and the routes of routes.c at
 * their places; routes.c walks its mappings with load.c's walk_map.
 *
 * Every function reports into the struct ld of the load (diag.h) and goes on: one load
 * reports every error it finds.
 */
#ifndef TL_CONF_LOAD_H
#define TL_CONF_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "conf/diag.h"
#include "conf/keys.h"
#include "conf/yaml_tree.h"

/* ---- load.c ------------------------------------------------------------------------------- */

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
                     int parent_kind);

/* A list value: reports nothing/not-a-list/empty and returns false. */
bool tl_conf_want_list(struct ld *ld, const struct tl_yaml_node *v, const char *path,
                       const char *items, const char *if_empty);

/* An item of a list that must be a mapping of sec's keys: reports and returns false when not. */
bool tl_conf_want_item_map(struct ld *ld, const struct section *sec,
                           const struct tl_yaml_node *item, const char *where);

/* The line of the key `name` in mapping map, or the mapping's own line. */
int tl_conf_key_line(const struct tl_yaml_node *map, const char *name);

/* Frees list[0..n) and list (NULL is fine). */
void tl_conf_free_strs(char **list, size_t n);

/* targets (forward) and brokers (kafka) v into out->targets: "host:port", "[v6]:port" or
 * "host" (then def); one text or a list. example is a valid address, for messages. */
void tl_conf_parse_targets(struct ld *ld, struct tl_conf_output *out,
                           const struct tl_yaml_node *v, const char *path, uint16_t def,
                           const char *example);

/* ---- load_tls.c: tls: blocks -------------------------------------------------------------- */

/* Reads a tls: block v into t; found[] as for walk_map; path is "tls" or "inputs[0] (x).tls".
 * False (reported) when v is not a mapping. */
bool tl_conf_walk_tls(struct ld *ld, const struct tl_yaml_node *v, struct tl_conf_tls *t,
                      const char *path, const struct tl_yaml_node **found);

/*
 * dst = the top-level block with each key the local block v (NULL: none) sets replacing
 * the inherited value; lists replace whole lists. dst->line becomes the line of the local
 * block when it sets anything. Then the defaults fill what neither set. False when the local
 * block is not a mapping (reported): the rules between keys would only add noise. map is the
 * item's mapping, where is its label.
 */
bool tl_conf_merge_tls(struct ld *ld, const struct tl_conf_tls *top,
                       const struct tl_yaml_node *map, const struct tl_yaml_node *v,
                       struct tl_conf_tls *dst, const char *where);

/* The defaults of what a block left unset (handshake timeout, minimum version). */
void tl_conf_tls_defaults(struct tl_conf_tls *t);

/* Frees what t holds and zeroes it. */
void tl_conf_tls_free(struct tl_conf_tls *t);

/* Remembers the path keys (files; *_dir: directories) a block of sec (tls:, sasl:) sets, with
 * their lines, for tl_conf_check_files; found[] as walk_map left it, path the block's. */
void tl_conf_note_files(struct ld *ld, const struct section *sec,
                        const struct tl_yaml_node **found, const char *path);

/* Frees the file references a load noted (f[0..n) and f). */
void tl_conf_free_filerefs(struct tl_conf_fileref *f, size_t n);

/* ---- check.c: rules between keys ---------------------------------------------------------- */

/* Two inputs with one name, listener or socket path (labels: "inputs[1] (x)" per input). */
void tl_conf_check_inputs(struct ld *ld, const struct tl_conf *c, char **labels);
/* Two outputs with one name, file path or queue directory. */
void tl_conf_check_outputs(struct ld *ld, const struct tl_conf *c, char **labels);
/* partial_frame_budget holds two of the largest messages of a stream input. */
void tl_conf_check_partial_budget(struct ld *ld, const struct tl_conf *c,
                                  const struct tl_yaml_node *root, char **labels);
/* A RELP input without a tls: block (map, found: its mapping, as walk_map left them). */
void tl_conf_check_plain_relp_input(struct ld *ld, const struct tl_yaml_node *map,
                                    const struct tl_yaml_node **found, const char *where);
/* A forward output's format and framing, then the rest of its keys (reconnect delays, keys
 * of another transport): called before and after its targets are read. */
void tl_conf_check_forward_format(struct ld *ld, const struct tl_conf_output *out,
                                  const struct tl_yaml_node *map,
                                  const struct tl_yaml_node **found, const char *where);
void tl_conf_check_forward(struct ld *ld, const struct tl_conf_output *out,
                           const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                           const char *where);
/* The disk part of a forward or kafka output's queue: block v (found: as walk_map left them). */
void tl_conf_check_queue(struct ld *ld, const struct tl_conf_output *out,
                         const struct tl_yaml_node *v, const struct tl_yaml_node **found,
                         const char *path);
/* A merged tls: block of an input (we are the TLS server) or a forward output (the client),
 * defined at line. */
void tl_conf_check_tls(struct ld *ld, const struct tl_conf_tls *t, bool input,
                       const char *where, int line);

/* ---- load_kafka.c: kafka outputs ----------------------------------------------------------- */

/* The keys of a kafka output beyond its scalars (brokers, sasl:, properties:, tls:) and its
 * defaults; arguments as finish_output's (load.c). */
void tl_conf_finish_kafka(struct ld *ld, struct tl_conf *c, struct tl_conf_output *out,
                          const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                          const char *where);
/* Frees what those keys hold. */
void tl_conf_free_kafka(struct tl_conf_output *out);

/* ---- routes.c ----------------------------------------------------------------------------- */

/* The routes: list seq into c->routes, then their rules (each pair once, every input and
 * output used). Needs c's inputs and outputs. */
void tl_conf_walk_routes(struct ld *ld, struct tl_conf *c, const struct tl_yaml_node *seq,
                         char **in_labels, char **out_labels);

#endif
