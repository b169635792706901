/*
 * load_kafka.c: the keys of a kafka output that are more than one value: its brokers, its
 * sasl: block, its properties: mapping and what its tls: block may hold.
 *
 * The properties are stored as written (name, value, line): whether librdkafka takes them is
 * for the output kind to say (out/kafka_conf.c, at --check and at start), so that this layer
 * does not link librdkafka.
 */
#include "conf/conf.h"

#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "conf/keys.h"
#include "conf/load.h"

/* properties: a mapping of librdkafka property names to values (texts or numbers). */
static void walk_properties(struct ld *ld, struct tl_conf_output *out,
                            const struct tl_yaml_node *v, const char *path)
{
    char kp[SHOW_LEN + 64];
    size_t i;
    size_t j;

    if (v->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a mapping of librdkafka properties (e.g. "
                     "{\"linger.ms\": \"5\"}), got %s", path, tl_conf_got_text(v));
        return;
    }
    out->properties = calloc(v->n ? v->n : 1, sizeof(char *));
    out->property_lines = calloc(v->n ? v->n : 1, sizeof(int));
    if (out->properties == NULL || out->property_lines == NULL) {
        ld->oom = true;
        return;
    }
    for (i = 0; i + 1 < v->n; i += 2) {
        const struct tl_yaml_node *kn = v->kids[i];
        const struct tl_yaml_node *vn = v->kids[i + 1];
        size_t n = out->n_properties;
        bool dup = false;

        tl_conf_key_path(path, kn->str, kp, sizeof(kp));
        if (strlen(kn->str) != kn->len || kn->len == 0) {
            tl_conf_errf(ld, kn->line, "%s: a property name must be a non-empty text", path);
            continue;
        }
        if (vn->kind != TL_YAML_SCALAR || tl_yaml_is_null(vn) || strlen(vn->str) != vn->len) {
            tl_conf_errf(ld, vn->line, "%s: expected a value (a text or a number), got %s", kp,
                         vn->kind == TL_YAML_SCALAR && !tl_yaml_is_null(vn) ? "a NUL byte"
                                                                            : tl_conf_got_text(vn));
            continue;
        }
        for (j = 0; j < i && !dup; j += 2) {
            dup = strcmp(v->kids[j]->str, kn->str) == 0;
            if (dup) {
                tl_conf_errf(ld, kn->line, "%s: duplicate property; it was first given at line "
                             "%d", kp, v->kids[j]->line);
            }
        }
        if (dup) {
            continue;
        }
        out->properties[2 * n] = strdup(kn->str);
        out->properties[2 * n + 1] = strdup(vn->str);
        out->property_lines[n] = kn->line;
        out->n_properties++;
        if (out->properties[2 * n] == NULL || out->properties[2 * n + 1] == NULL) {
            ld->oom = true;
        }
    }
}

/* The sasl: block of a kafka output. */
static void walk_sasl(struct ld *ld, struct tl_conf_output *out, const struct tl_yaml_node *v,
                      const char *where)
{
    const struct tl_yaml_node *found[MAX_KEYS];
    char path[SHOW_LEN + 16];

    tl_conf_key_path(where, "sasl", path, sizeof(path));
    if (v->kind != TL_YAML_MAP) {
        tl_conf_errf(ld, v->line, "%s: expected a mapping of SASL settings (mechanism, "
                     "username, password_file), got %s", path, tl_conf_got_text(v));
        return;
    }
    tl_conf_walk_map(ld, &tl_conf_sasl_section, v, out, path, found, -1);
    tl_conf_note_files(ld, &tl_conf_sasl_section, found, path);
}

/* What librdkafka cannot do with the merged tls: block of a kafka output. It verifies a
 * broker by its CA and by the broker's own host name, and takes no TLS 1.3 suites or minimum
 * version: settings that would be silently ignored are refused instead. */
static void check_kafka_tls(struct ld *ld, const struct tl_conf_tls *t, const char *where,
                            int line)
{
    if (t->auth == TL_AUTH_FINGERPRINT || t->n_fingerprints > 0) {
        tl_conf_errf(ld, line, "%s.tls: a kafka output cannot check brokers by fingerprint "
                     "(librdkafka verifies each broker by its CA and its name); use auth name or "
                     "certvalid with tls.ca_file", where);
    }
    if (t->n_permitted_peers > 0) {
        tl_conf_errf(ld, line, "%s.tls.permitted_peers (here or at the top level): a kafka "
                     "output checks each broker's certificate against that broker's own host "
                     "name (auth name) and takes no list of names; remove it, or move it into "
                     "the tls: blocks of the inputs it is meant for", where);
    }
    if (t->ciphersuites != NULL) {
        tl_conf_errf(ld, line, "%s.tls.ciphersuites (here or at the top level): librdkafka "
                     "takes no TLS 1.3 suites; remove it for this output (tls.ciphers sets the "
                     "TLS 1.2 list)", where);
    }
    if (t->min_version == 13) {
        tl_conf_errf(ld, line, "%s.tls.min_version 1.3 (here or at the top level) cannot be "
                     "applied to a kafka output: librdkafka negotiates what OpenSSL's "
                     "configuration allows (Debian: TLS 1.2 or later); remove it for this output",
                     where);
    }
}

void tl_conf_finish_kafka(struct ld *ld, struct tl_conf *c, struct tl_conf_output *out,
                          const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                          const char *where)
{
    const struct section *sec = &tl_conf_output_section;
    const struct tl_yaml_node *brokers = found[tl_conf_key_index(sec, "brokers")];
    const struct tl_yaml_node *tls = found[tl_conf_key_index(sec, "tls")];
    const struct tl_yaml_node *sasl = found[tl_conf_key_index(sec, "sasl")];
    const struct tl_yaml_node *props = found[tl_conf_key_index(sec, "properties")];
    char path[SHOW_LEN + 16];

    if (found[tl_conf_key_index(sec, "format")] == NULL) {
        out->format = TL_FMT_JSON;
    }
    if (brokers != NULL) {
        tl_conf_key_path(where, "brokers", path, sizeof(path));
        tl_conf_parse_targets(ld, out, brokers, path, DEFAULT_KAFKA_PORT,
                              "kafka1.example.net:9093");
    }
    if (sasl != NULL) {
        walk_sasl(ld, out, sasl, where);
    }
    if (props != NULL) {
        tl_conf_key_path(where, "properties", path, sizeof(path));
        walk_properties(ld, out, props, path);
    }
    if (tls == NULL) {
        if (out->sasl_mechanism == TL_SASL_PLAIN) {
            tl_conf_errf(ld, tl_conf_key_line(map, "sasl"), "%s.sasl: mechanism PLAIN sends the "
                         "password as it is; add a tls: block (TLS to the brokers) or use "
                         "SCRAM-SHA-512", where);
        }
        return;
    }
    out->kafka_tls = true; /* TLS exactly when the output has a tls: block */
    if (tl_conf_merge_tls(ld, &c->tls, map, tls, &out->tls, where)) {
        tl_conf_check_tls(ld, &out->tls, false, where, out->line);
        check_kafka_tls(ld, &out->tls, where, out->line);
    }
}

void tl_conf_free_kafka(struct tl_conf_output *out)
{
    free(out->topic);
    free(out->key);
    free(out->sasl_username);
    free(out->sasl_password_file);
    tl_conf_free_strs(out->properties, 2 * out->n_properties);
    free(out->property_lines);
}
