/*
 * privdrop.h: running as an unprivileged user when started as root (top-level user: and
 * group:), for systems without systemd (under systemd the unit's User= does it).
 *
 * Order (main.c): tl_priv_init (resolve the names; as root, refuse a configuration file
 * another user can write) -> tl_priv_note_paths (which directories and files tlslogd is about
 * to create) -> tl_server_init and the metrics endpoint (bind, read keys, create directories)
 * -> tl_priv_drop (chown what was created, setgroups/setgid/setuid, verified) -> threads start.
 * Main thread only.
 */
#ifndef TL_DAEMON_PRIVDROP_H
#define TL_DAEMON_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf/conf.h"

struct tl_server;

struct tl_priv {
    bool drop;          /* started as root with user: set: tl_priv_drop switches */
    uid_t uid;
    gid_t gid;
    char *user;         /* names for messages and initgroups */
    char *group;
    char **created;     /* paths that did not exist before start-up: chowned to uid:gid */
    size_t n_created;
};

/* Resolves user: and group: (names or numbers) and, when running as root, checks that no
 * other user can write the configuration file (c->file) or its directory. TL_OK, or
 * TL_E_CONFIG (TL_E_RESOURCE: out of memory) with one sentence in err that names the fix. */
enum tl_rc tl_priv_init(struct tl_priv *p, const struct tl_conf *c, struct tl_err *err);
/* Remembers which of the paths start-up may create do not exist yet: each file output's
 * directories (and its file, for a path without placeholders), queue.dir, the pid_file. */
void tl_priv_note_paths(struct tl_priv *p, const struct tl_conf *c);
/* Gives what start-up created (and every queue.dir with its files) to the user, then drops
 * to it: supplementary groups, gid, uid; verifies that root cannot be regained and that
 * each file output can still create its files. False after logging why (then exit). */
bool tl_priv_drop(struct tl_priv *p, struct tl_server *srv);
void tl_priv_fini(struct tl_priv *p);

#endif
