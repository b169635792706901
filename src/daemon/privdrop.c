/*
 * privdrop.c: see privdrop.h.
 *
 * Why chown only what start-up created: a file output's directory that existed before
 * (/var/log) belongs to someone else and must stay theirs; what tlslogd made for itself
 * (/var/log/tlslogd/central/) must be writable after the drop. A queue.dir is the disk
 * queue's own (docs/reliability.md), so it and its files are always given to the user.
 */
#include "daemon/privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/server.h"
#include "out/out.h"

static bool parse_id(const char *s, unsigned long *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static enum tl_rc resolve(struct tl_priv *p, const struct tl_conf *c, struct tl_err *err)
{
    unsigned long id;
    struct passwd *pw = getpwnam(c->user);
    if (pw == NULL && parse_id(c->user, &id)) {
        pw = getpwuid((uid_t)id);
    }
    if (pw == NULL) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "%s: user: '%s' is not a user of this system (getpwnam); "
                "create it (adduser --system %s) or name another", c->file, c->user, c->user);
    }
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    p->user = strdup(pw->pw_name);
    if (c->group != NULL) {
        struct group *gr = getgrnam(c->group);
        if (gr == NULL && parse_id(c->group, &id)) {
            gr = getgrgid((gid_t)id);
        }
        if (gr == NULL) {
            TL_FAIL(err, TL_E_CONFIG, NULL, "%s: group: '%s' is not a group of this system "
                    "(getgrnam); create it (addgroup --system %s) or name another", c->file,
                    c->group, c->group);
        }
        p->gid = gr->gr_gid;
        p->group = strdup(gr->gr_name);
    } else {
        struct group *gr = getgrgid(p->gid);
        char num[24];
        snprintf(num, sizeof(num), "%lu", (unsigned long)p->gid);
        p->group = strdup(gr != NULL ? gr->gr_name : num);
    }
    if (p->user == NULL || p->group == NULL) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "out of memory");
    }
    return TL_OK;
}

static const char *user_name(uid_t uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid(uid);
    if (pw != NULL) {
        snprintf(buf, cap, "user '%s'", pw->pw_name);
    } else {
        snprintf(buf, cap, "uid %lu", (unsigned long)uid);
    }
    return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t cap)
{
    struct group *gr = getgrgid(gid);
    if (gr != NULL) {
        snprintf(buf, cap, "group '%s'", gr->gr_name);
    } else {
        snprintf(buf, cap, "gid %lu", (unsigned long)gid);
    }
    return buf;
}

/*
 * Who other than root can write path: its owner when that is not root, its group when the
 * group may write and is not root's, anyone when others may write (a directory with the
 * sticky bit protects the files of others, as /tmp does). NULL when nobody.
 */
static const char *writer(const char *path, const struct stat *st, char *buf, size_t cap)
{
    char who[96];
    if (st->st_uid != 0) {
        snprintf(buf, cap, "%s is owned by %s", path, user_name(st->st_uid, who, sizeof(who)));
        return buf;
    }
    if ((st->st_mode & S_IWGRP) && st->st_gid != 0) {
        snprintf(buf, cap, "%s is writable by %s (mode %04o)", path,
                 group_name(st->st_gid, who, sizeof(who)), (unsigned)(st->st_mode & 07777));
        return buf;
    }
    if ((st->st_mode & S_IWOTH) && !(S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))) {
        snprintf(buf, cap, "%s is writable by every user (mode %04o)", path,
                 (unsigned)(st->st_mode & 07777));
        return buf;
    }
    return NULL;
}

/* As root: whoever can change the configuration can make tlslogd write any file as root. */
static enum tl_rc check_conf_file(const char *file, struct tl_err *err)
{
    struct stat st;
    char why[512];
    if (strcmp(file, "<embedded>") == 0 || stat(file, &st) != 0) {
        return TL_OK; /* embedded, or already reported by loading it */
    }
    const char *w = writer(file, &st, why, sizeof(why));
    char *copy = realpath(file, NULL); /* a directory named by its full path in messages */
    if (w == NULL && copy != NULL) {
        const char *dir = dirname(copy);
        if (stat(dir, &st) == 0) {
            w = writer(dir, &st, why, sizeof(why));
        }
    }
    free(copy);
    if (w != NULL) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "refusing to run as root with configuration %s: %s, who "
                "could make tlslogd write any file as root; fix: chown root:root and chmod 644 "
                "the file (755 its directory), or start tlslogd as another user", file, w);
    }
    return TL_OK;
}

enum tl_rc tl_priv_init(struct tl_priv *p, const struct tl_conf *c, struct tl_err *err)
{
    memset(p, 0, sizeof(*p));
    if (geteuid() == 0) {
        TL_TRY(check_conf_file(c->file, err));
    }
    if (c->user == NULL) {
        if (c->group != NULL) {
            TL_FAIL(err, TL_E_CONFIG, NULL, "%s: group: '%s' needs user: as well (tlslogd "
                    "switches group only together with the user)", c->file, c->group);
        }
        return TL_OK;
    }
    TL_TRY(resolve(p, c, err));
    if (geteuid() == 0) {
        p->drop = p->uid != 0;
        return TL_OK;
    }
    if (getuid() == p->uid && geteuid() == p->uid && getegid() == p->gid) {
        return TL_OK; /* started as that user already (systemd's User=): nothing to switch */
    }
    char who[96];
    TL_FAIL(err, TL_E_CONFIG, NULL, "%s: user: %s (group %s) is configured, but tlslogd runs as "
            "%s, not root, so it cannot switch; start it as root (it switches after binding) or "
            "as that user and group", c->file, p->user, p->group,
            user_name(geteuid(), who, sizeof(who)));
}

static void note(struct tl_priv *p, const char *path)
{
    char **v = realloc(p->created, (p->n_created + 1) * sizeof(*v));
    if (v == NULL) {
        return;
    }
    p->created = v;
    v[p->n_created] = strdup(path);
    if (v[p->n_created] != NULL) {
        p->n_created++;
    }
}

/* Notes path and each of its parents that do not exist yet (at most the first len bytes). */
static void note_missing(struct tl_priv *p, const char *path, size_t len)
{
    char buf[4096];
    struct stat st;
    if (len == 0 || len >= sizeof(buf)) {
        return;
    }
    memcpy(buf, path, len);
    buf[len] = '\0';
    while (len > 1 && buf[len - 1] == '/') {
        buf[--len] = '\0';
    }
    /* From the top down, so that a parent is given away before its children. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char c = buf[i];
        buf[i] = '\0';
        if (stat(buf, &st) != 0 && errno == ENOENT) {
            note(p, buf);
        }
        buf[i] = c;
    }
}

void tl_priv_note_paths(struct tl_priv *p, const struct tl_conf *c)
{
    if (!p->drop) {
        return;
    }
    for (size_t o = 0; o < c->n_outputs; o++) {
        const struct tl_conf_output *out = &c->outputs[o];
        if (out->type == TL_OUT_FILE) {
            const char *brace = strchr(out->path, '{');
            if (brace == NULL) {
                note_missing(p, out->path, strlen(out->path));
            } else {
                const char *slash = NULL;
                for (const char *s = out->path; s < brace; s++) {
                    slash = *s == '/' ? s : slash;
                }
                if (slash != NULL) {
                    note_missing(p, out->path, (size_t)(slash - out->path));
                }
            }
        }
        if (out->queue_dir != NULL) {
            note_missing(p, out->queue_dir, strlen(out->queue_dir));
        }
    }
    if (c->pid_file != NULL) {
        note_missing(p, c->pid_file, strlen(c->pid_file));
    }
    /* Created at start by the inputs that keep state there (file positions, the journal's
     * cursor); they save it as the user. Not created: nothing to give. */
    if (c->state_dir != NULL) {
        note_missing(p, c->state_dir, strlen(c->state_dir));
    }
}

static bool give(const struct tl_priv *p, const char *path)
{
    if (lchown(path, p->uid, p->gid) != 0 && errno != ENOENT) {
        tl_error("cannot give %s to user %s (group %s): %s; tlslogd could not write it after "
                 "dropping root", path, p->user, p->group, strerror(errno));
        return false;
    }
    return true;
}

/* A queue.dir and the files in it: the disk queue's own (segments, the ack file). */
static bool give_queue_dir(const struct tl_priv *p, const char *dir)
{
    if (!give(p, dir)) {
        return false;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return true; /* the disk queue reported it at start */
    }
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
                                    (e->d_name[1] == '.' && e->d_name[2] == '\0'))) {
            continue;
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path)) {
            ok = give(p, path) && ok;
        }
    }
    closedir(d);
    return ok;
}

bool tl_priv_drop(struct tl_priv *p, struct tl_server *srv)
{
    const struct tl_conf *c = srv->conf;
    if (!p->drop) {
        return true;
    }
    bool ok = true;
    for (size_t i = 0; i < p->n_created; i++) {
        ok = give(p, p->created[i]) && ok;
    }
    for (size_t o = 0; o < c->n_outputs; o++) {
        if (c->outputs[o].queue_dir != NULL) {
            ok = give_queue_dir(p, c->outputs[o].queue_dir) && ok;
        }
    }
    if (!ok) {
        return false;
    }
    /* Supplementary groups first (the user's own, so a group such as ssl-cert still lets it
     * read keys), then the gid, then the uid: after setuid there is no way back. */
    if (initgroups(p->user, p->gid) != 0 || setgid(p->gid) != 0 || setuid(p->uid) != 0) {
        tl_error("cannot switch to user %s (group %s): %s", p->user, p->group, strerror(errno));
        return false;
    }
    if (getuid() != p->uid || geteuid() != p->uid || getgid() != p->gid ||
        getegid() != p->gid || setuid(0) == 0 || setgid(0) == 0) {
        tl_error("switching to user %s (group %s) did not take: root could be regained; "
                 "stopping", p->user, p->group);
        return false;
    }
    tl_notice("running as user %s (uid %lu), group %s (gid %lu): listeners bound and keys read "
              "as root", p->user, (unsigned long)p->uid, p->group, (unsigned long)p->gid);
    /* What the user must still do itself: create files (outputs), re-read keys (SIGHUP). */
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = srv->pl.outputs[o];
        if (out->ops->check_access != NULL && !out->ops->check_access(out)) {
            tl_error("output %s: the check above failed as user %s (group %s), after "
                     "dropping root; give that user write access there", out->conf->name,
                     p->user, p->group);
            return false;
        }
    }
    struct tl_conf_errors errs = {0};
    if (!tl_conf_check_files(c, &errs)) {
        for (size_t i = 0; i < errs.n; i++) {
            tl_warn("as user %s (group %s), a SIGHUP could not reload TLS files: %s", p->user,
                    p->group, errs.lines[i]);
        }
    }
    tl_conf_errors_fini(&errs);
    return true;
}

void tl_priv_fini(struct tl_priv *p)
{
    for (size_t i = 0; i < p->n_created; i++) {
        free(p->created[i]);
    }
    free(p->created);
    free(p->user);
    free(p->group);
    memset(p, 0, sizeof(*p));
}
