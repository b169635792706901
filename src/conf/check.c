/*
 * check.c: the rules between keys: what no single key's type and range can say (two inputs
 * on one port, a TLS input without a certificate, a disk queue key without a disk queue,
 * ...), and whether the files the configuration names can be read. Each rule reports every
 * case it finds, with FILE:LINE, the keys involved and what to change.
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
#include "core/text.h"

/* The value node of key name of sec in found (as walk_map left it), or NULL. */
static const struct tl_yaml_node *given(const struct section *sec,
                                        const struct tl_yaml_node **found, const char *name)
{
    return found[tl_conf_key_index(sec, name)];
}

/* ---- inputs and outputs ---------------------------------------------------------------- */

static const char *listen_text(const struct tl_conf_input *in, char *out, size_t cap)
{
    if (in->host == NULL) {
        snprintf(out, cap, "port %u on all addresses", in->port);
    } else if (strchr(in->host, ':') != NULL) {
        snprintf(out, cap, "[%s]:%u", in->host, in->port);
    } else {
        snprintf(out, cap, "%s:%u", in->host, in->port);
    }
    return out;
}

static bool same_listener(const struct tl_conf_input *a, const struct tl_conf_input *b)
{
    if (a->transport != b->transport || a->transport == TL_TR_UNIX || a->port == 0 ||
        a->port != b->port) {
        return false;
    }
    return a->host == NULL || b->host == NULL || strcmp(a->host, b->host) == 0;
}

/* A file input's glob may have wildcards in its last part only: the directory is watched
 * with inotify for new files, and a directory that does not exist yet cannot be. */
static void check_file_glob(struct ld *ld, const struct tl_conf_input *in, const char *label)
{
    char shown[SHOW_LEN];
    const char *slash = strrchr(in->path, '/');

    if (slash != NULL && strpbrk(in->path, "*?[") != NULL &&
        strpbrk(in->path, "*?[") < slash) {
        tl_conf_errf(ld, in->line, "%s.path: '%s' has a wildcard in a directory; only the file "
                     "name may have one (e.g. /var/log/app/*.log); use one input per directory",
                     label, tl_show_text(in->path, strlen(in->path), shown, sizeof(shown)));
    } else if (slash != NULL && slash[1] == '\0') {
        tl_conf_errf(ld, in->line, "%s.path: '%s' ends with '/'; name the files to follow "
                     "(e.g. %s*.log)", label,
                     tl_show_text(in->path, strlen(in->path), shown, sizeof(shown)), shown);
    }
}

void tl_conf_check_inputs(struct ld *ld, const struct tl_conf *c, char **labels)
{
    char where[SHOW_LEN];
    size_t i;
    size_t j;

    for (i = 0; i < c->n_inputs; i++) {
        const struct tl_conf_input *b = &c->inputs[i];

        if (b->transport == TL_TR_FILE && b->path != NULL) {
            check_file_glob(ld, b, labels[i]);
        }

        for (j = 0; j < i; j++) {
            const struct tl_conf_input *a = &c->inputs[j];

            if (a->name != NULL && b->name != NULL && strcmp(a->name, b->name) == 0) {
                tl_conf_errf(ld, b->line, "%s.name: duplicate input name '%s'; %s at line %d "
                             "already uses it", labels[i], b->name, labels[j], a->line);
            }
            if (a->name != NULL && b->name != NULL && same_listener(a, b)) {
                tl_conf_errf(ld, b->line, "%s.listen: %s at line %d already listens on %s %s",
                             labels[i], labels[j], a->line, tl_transport_name(a->transport),
                             listen_text(a, where, sizeof(where)));
            }
            if (a->path != NULL && b->path != NULL && a->transport == TL_TR_UNIX &&
                b->transport == TL_TR_UNIX && strcmp(a->path, b->path) == 0) {
                tl_conf_errf(ld, b->line, "%s.path: %s at line %d already uses the socket '%s'",
                             labels[i], labels[j], a->line,
                             tl_show_text(b->path, strlen(b->path), where, sizeof(where)));
            }
        }
    }
}

void tl_conf_check_outputs(struct ld *ld, const struct tl_conf *c, char **labels)
{
    char shown[SHOW_LEN];
    size_t i;
    size_t j;

    for (i = 0; i < c->n_outputs; i++) {
        const struct tl_conf_output *b = &c->outputs[i];

        for (j = 0; j < i; j++) {
            const struct tl_conf_output *a = &c->outputs[j];

            if (a->name != NULL && b->name != NULL && strcmp(a->name, b->name) == 0) {
                tl_conf_errf(ld, b->line, "%s.name: duplicate output name '%s'; %s at line %d "
                             "already uses it", labels[i], b->name, labels[j], a->line);
            }
            if (a->path != NULL && b->path != NULL && a->type == TL_OUT_FILE &&
                b->type == TL_OUT_FILE && strcmp(a->path, b->path) == 0) {
                tl_conf_errf(ld, b->line, "%s.path: %s at line %d already writes to '%s'",
                             labels[i], labels[j], a->line,
                             tl_show_text(b->path, strlen(b->path), shown, sizeof(shown)));
            }
            if (a->queue_dir != NULL && b->queue_dir != NULL &&
                strcmp(a->queue_dir, b->queue_dir) == 0) {
                tl_show_text(b->queue_dir, strlen(b->queue_dir), shown, sizeof(shown));
                tl_conf_errf(ld, b->line, "%s.queue.dir: %s at line %d already keeps its queue in "
                             "'%s'; each forward output needs a directory of its own", labels[i],
                             labels[j], a->line, shown);
            }
        }
    }
}

/* A plain RELP input (no tls: block) has no handshakes to limit. */
void tl_conf_check_plain_relp_input(struct ld *ld, const struct tl_yaml_node *map,
                                    const struct tl_yaml_node **found, const char *where)
{
    if (given(&tl_conf_input_section, found, "max_handshakes") != NULL) {
        tl_conf_errf(ld, tl_conf_key_line(map, "max_handshakes"), "%s.max_handshakes: applies only "
                     "to RELP over TLS; give this input a tls: block or remove the key", where);
    }
}

/* One connection in the middle of a maximal message holds max_message_size bytes of it
 * between reads: a budget below twice the largest would close honest senders of large
 * messages as soon as a second one is in the middle of one too. (The default, 64 MiB, is
 * twice the largest max_message_size allowed.) */
void tl_conf_check_partial_budget(struct ld *ld, const struct tl_conf *c,
                                  const struct tl_yaml_node *root, char **labels)
{
    size_t largest = 0;
    size_t at = 0;
    char a[32];
    char b[32];
    char need[32];
    size_t i;

    for (i = 0; i < c->n_inputs; i++) {
        const struct tl_conf_input *in = &c->inputs[i];

        if ((in->transport == TL_TR_TCP || in->transport == TL_TR_TLS ||
             in->transport == TL_TR_RELP) && in->max_message_size > largest) {
            largest = in->max_message_size;
            at = i;
        }
    }
    if (largest == 0 || c->partial_frame_budget == 0 ||
        c->partial_frame_budget >= 2 * (uint64_t)largest) {
        return;
    }
    tl_conf_errf(ld, tl_conf_key_line(root, "partial_frame_budget"),
                 "partial_frame_budget (%s) is less than twice the largest max_message_size of a "
                 "tcp, tls or relp input (%s: %s); raise partial_frame_budget to at least %s or "
                 "lower max_message_size",
                 tl_conf_size_text(c->partial_frame_budget, a, sizeof(a)),
                 labels != NULL ? labels[at] : c->inputs[at].name,
                 tl_conf_size_text(largest, b, sizeof(b)),
                 tl_conf_size_text(2 * (uint64_t)largest, need, sizeof(need)));
}

/* ---- forward outputs ------------------------------------------------------------------- */

/* What a forward output sends: a format a syslog server reads, framing only on streams. */
void tl_conf_check_forward_format(struct ld *ld, const struct tl_conf_output *out,
                                  const struct tl_yaml_node *map,
                                  const struct tl_yaml_node **found, const char *where)
{
    const struct tl_yaml_node *fmt = given(&tl_conf_output_section, found, "format");
    int f;

    if (fmt != NULL && fmt->kind == TL_YAML_SCALAR && (f = tl_format_from_name(fmt->str)) >= 0 &&
        f != TL_FMT_RFC5424 && f != TL_FMT_RFC3164) {
        tl_conf_errf(ld, fmt->line, "%s.format: '%s' cannot be sent to a syslog server; forward "
                     "outputs use rfc5424 or rfc3164", where, fmt->str);
    }
    if ((out->transport == TL_TR_UDP || out->transport == TL_TR_RELP) &&
        given(&tl_conf_output_section, found, "framing") != NULL) {
        tl_conf_errf(ld, tl_conf_key_line(map, "framing"), "%s.framing: framing applies only to "
                     "tcp and tls forwarding; %s", where,
                     out->transport == TL_TR_UDP ? "udp sends one message per datagram"
                                                 : "relp frames each message itself");
    }
}

/* Reconnect delays in order, and the keys of one transport on another. */
void tl_conf_check_forward(struct ld *ld, const struct tl_conf_output *out,
                           const struct tl_yaml_node *map, const struct tl_yaml_node **found,
                           const char *where)
{
    char a[32];
    char b[32];

    /* 0: an invalid value, already reported (both have a minimum above 0). */
    if (out->reconnect_max_ms != 0 && out->reconnect_max_ms < out->reconnect_min_ms) {
        tl_conf_errf(ld, tl_conf_key_line(map, "reconnect_max"), "%s.reconnect_max: %s is less "
                     "than reconnect_min (%s); it must be at least as long", where,
                     tl_conf_duration_text(out->reconnect_max_ms, a, sizeof(a)),
                     tl_conf_duration_text(out->reconnect_min_ms, b, sizeof(b)));
    }
    if (given(&tl_conf_output_section, found, "relp_window") != NULL &&
        out->transport != TL_TR_RELP) {
        tl_conf_errf(ld, tl_conf_key_line(map, "relp_window"), "%s.relp_window: relp_window "
                     "applies only to forward outputs with transport relp; this one's "
                     "transport is %s", where, tl_transport_name(out->transport));
    }
    if (given(&tl_conf_output_section, found, "hash_key") != NULL && out->mode != TL_FWD_HASH) {
        tl_conf_errf(ld, tl_conf_key_line(map, "hash_key"), "%s.hash_key: hash_key applies only "
                     "with mode: hash; set mode: hash or remove hash_key", where);
    }
    if (out->mode != TL_FWD_FAILOVER && out->transport == TL_TR_UDP) {
        tl_conf_errf(ld, tl_conf_key_line(map, "mode"), "%s.mode: %s needs acknowledged "
                     "connections to move a failed target's messages; udp has none: use "
                     "transport tls, tcp or relp, or mode failover", where,
                     out->mode == TL_FWD_HASH ? "hash" : "round_robin");
    }
    if (given(&tl_conf_output_section, found, "tls") != NULL && out->transport != TL_TR_TLS &&
        out->transport != TL_TR_RELP) {
        tl_conf_errf(ld, tl_conf_key_line(map, "tls"), "%s.tls: tls applies only to forward "
                     "outputs with transport tls or relp; this one's transport is %s", where,
                     tl_transport_name(out->transport));
    }
}

/* A key of the queue: block that only makes sense with another one. */
static void queue_needs(struct ld *ld, const struct tl_yaml_node **found, const char *key,
                        const struct tl_yaml_node *v, const char *path, const char *why)
{
    char kp[SHOW_LEN + 32];

    if (given(&tl_conf_queue_section, found, key) != NULL) {
        tl_conf_errf(ld, tl_conf_key_line(v, key), "%s: %s %s",
                     tl_conf_key_path(path, key, kp, sizeof(kp)), key, why);
    }
}

/* The disk queue's keys of a forward or kafka output's queue: block v (path:
 * "outputs[0] (x).queue"). */
void tl_conf_check_queue(struct ld *ld, const struct tl_conf_output *out,
                         const struct tl_yaml_node *v, const struct tl_yaml_node **found,
                         const char *path)
{
    char a[32];
    char b[32];

    if (given(&tl_conf_queue_section, found, "dir") == NULL) {
        static const char *const disk_keys[] = {"max_bytes", "sync", "sync_interval",
                                                "segment_size"};
        size_t i;

        for (i = 0; i < COUNT(disk_keys); i++) {
            queue_needs(ld, found, disk_keys[i], v, path,
                        "is about the disk queue, which needs dir; set queue.dir or remove it");
        }
        return;
    }
    if (given(&tl_conf_queue_section, found, "sync") != NULL &&
        out->queue_sync != TL_QSYNC_INTERVAL) {
        queue_needs(ld, found, "sync_interval", v, path,
                    out->queue_sync == TL_QSYNC_NONE
                        ? "applies only with sync: interval; this one's sync is none"
                        : "applies only with sync: interval; this one's sync is always");
    }
    /* 0: an invalid value, already reported (both have a minimum above 0). */
    if (out->queue_segment_bytes != 0 && out->queue_max_bytes != 0 &&
        out->queue_segment_bytes > out->queue_max_bytes) {
        tl_conf_errf(ld, tl_conf_key_line(v, "segment_size"), "%s: segment_size (%s%s) is larger "
                     "than max_bytes (%s); lower segment_size or raise max_bytes", path,
                     tl_conf_size_text(out->queue_segment_bytes, a, sizeof(a)),
                     given(&tl_conf_queue_section, found, "segment_size") == NULL ? ", the default"
                                                                                  : "",
                     tl_conf_size_text(out->queue_max_bytes, b, sizeof(b)));
    }
}

/* ---- TLS blocks ------------------------------------------------------------------------ */

/* Rules between the keys of a merged block, for an input (we are the TLS server) or a
 * forward output (the client). The daemon checks the same when it loads the files; here
 * they are found with --check and reported all at once. */
void tl_conf_check_tls(struct ld *ld, const struct tl_conf_tls *t, bool input,
                       const char *where, int line)
{
    enum tl_auth_mode auth = t->auth;
    const char *dflt = "";

    if (auth == TL_AUTH_DEFAULT) {
        auth = input ? TL_AUTH_ANON : TL_AUTH_NAME;
        dflt = input ? " (the default for inputs)" : " (the default for outputs)";
        /* A CA on an input reads as "clients must have a certificate of this CA", yet
         * without auth it would let anyone in: say so instead of guessing either way. */
        if (input && (t->ca_file != NULL || t->ca_dir != NULL)) {
            tl_conf_errf(ld, line, "%s.tls: a CA is configured (tls.%s, here or at the top level) "
                         "but no tls.auth, so any client would be accepted, with or without a "
                         "certificate; set auth: certvalid, name or fingerprint, or auth: anon to "
                         "accept anyone", where, t->ca_file != NULL ? "ca_file" : "ca_dir");
        }
    }
    if (input && t->cert_file == NULL && t->key_file == NULL) {
        tl_conf_errf(ld, line, "%s.tls: a TLS input needs a certificate: set tls.cert_file and "
                     "tls.key_file (make one with: tlslog cert issue)", where);
    } else if ((t->cert_file == NULL) != (t->key_file == NULL)) {
        tl_conf_errf(ld, line, "%s.tls: tls.cert_file and tls.key_file go together; set both",
                     where);
    }
    if ((auth == TL_AUTH_CERTVALID || auth == TL_AUTH_NAME) && t->ca_file == NULL &&
        t->ca_dir == NULL) {
        tl_conf_errf(ld, line, "%s.tls: auth %s%s checks the peer's certificate against trusted "
                     "CAs, but none is configured; set tls.ca_file (a PEM file, or \"system\") or "
                     "tls.ca_dir", where, tl_conf_auth_words[auth - TL_AUTH_ANON], dflt);
    }
    if (input && auth == TL_AUTH_NAME && t->n_permitted_peers == 0) {
        tl_conf_errf(ld, line, "%s.tls: auth name needs tls.permitted_peers: the names (or "
                     "patterns like *.example.net) of the clients allowed to send", where);
    }
    if (auth == TL_AUTH_FINGERPRINT && t->n_fingerprints == 0) {
        tl_conf_errf(ld, line, "%s.tls: auth fingerprint needs at least one entry in "
                     "tls.fingerprints (see: tlslog cert info PEER.pem)", where);
    }
    if (auth != TL_AUTH_FINGERPRINT && t->n_fingerprints > 0) {
        tl_conf_errf(ld, line, "%s.tls.fingerprints: fingerprints are used only with auth: "
                     "fingerprint; this one's auth is %s%s", where,
                     tl_conf_auth_words[auth - TL_AUTH_ANON], dflt);
    }
}

/* ---- files ----------------------------------------------------------------------------- */

/* Why path cannot be used as a file (dir: a directory), or NULL when it can. */
static const char *unreadable(const char *path, bool dir, int *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (dir ? O_DIRECTORY : 0));

    *err = 0;
    if (fd < 0) {
        *err = errno;
        return strerror(errno);
    }
    if (fstat(fd, &st) < 0) {
        *err = errno;
        close(fd);
        return strerror(*err);
    }
    close(fd);
    if (!dir && S_ISDIR(st.st_mode)) {
        return "it is a directory, not a file";
    }
    if (!dir && !S_ISREG(st.st_mode)) {
        return "it is not a regular file";
    }
    return NULL;
}

/* What a TLS file key should point at, for the remedy of tl_conf_check_files. */
static const char *file_role(const char *key)
{
    static const char *const roles[][2] = {
        {"ca_file", "the PEM certificates of the CAs that issued the peers' certificates"},
        {"ca_dir", "a directory of CA certificates named by hash (openssl rehash DIR)"},
        {"cert_file", "this side's certificate in PEM, then its intermediates (tlslog cert "
                      "issue makes one)"},
        {"key_file", "the PEM private key of cert_file"},
        {"key_password_file", "a file whose first line is the password of key_file"},
        {"password_file", "a file whose first line is the SASL password"},
        {"crl_file", "the CAs' revocation lists in PEM (tlslog cert revoke writes one)"},
    };
    size_t i;

    for (i = 0; i < COUNT(roles); i++) {
        if (strcmp(key, roles[i][0]) == 0) {
            return roles[i][1];
        }
    }
    return "the file this key names";
}

bool tl_conf_check_files(const struct tl_conf *c, struct tl_conf_errors *errs)
{
    struct ld ld;
    char cwd[512];
    size_t i;

    memset(&ld, 0, sizeof(ld));
    ld.file = c->file;
    if (errs != NULL) {
        errs->lines = NULL;
        errs->n = 0;
    }
    for (i = 0; i < c->n_files; i++) {
        const struct tl_conf_fileref *f = &c->files[i];
        const char *key = strrchr(f->key, '.') + 1;
        char where[600] = "";
        int err;
        const char *why = unreadable(f->path, f->dir, &err);

        if (why == NULL) {
            continue;
        }
        /* A relative path is taken from the working directory, not from the configuration
         * file's directory: say which one, it is the usual surprise. */
        if (f->path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
            snprintf(where, sizeof(where), " (relative to the working directory %s)", cwd);
        }
        if (err == EACCES) {
            tl_conf_errf(&ld, f->line, "%s: cannot read %s '%s'%s: %s; let the user tlslogd runs "
                         "as read it (chown, or a group it is in with chmod 640)", f->key,
                         f->dir ? "directory" : "file", f->path, where, why);
        } else {
            tl_conf_errf(&ld, f->line, "%s: cannot read %s '%s'%s: %s; %s must name %s: fix the "
                         "path%s", f->key, f->dir ? "directory" : "file", f->path, where, why, key,
                         file_role(key),
                         err != ENOENT ? "" : f->dir ? " or create it" : " or put the file there");
        }
    }
    tl_conf_give_errors(&ld, errs);
    return ld.n_errs == 0;
}

