/*
 * pidfile.c: see pidfile.h. flock rather than "is the pid in the file alive": a pid is reused
 * by the kernel, a lock dies with its process.
 */
#include "daemon/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

/* The pid written in the file another process holds, or 0. */
static long holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

static enum tl_rc make_parent(const char *path, struct tl_err *err)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "pid_file %s: out of memory", path);
    }
    const char *dir = dirname(copy);
    enum tl_rc rc = TL_OK;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        rc = TL_ERR_SYS(err, TL_E_IO, e, NULL, "pid_file %s: cannot create its directory %s: %s; "
                        "create it, or point pid_file to a directory that exists", path, dir,
                        strerror(e));
    }
    free(copy);
    return rc;
}

enum tl_rc tl_pidfile_open(struct tl_pidfile *pf, const char *path, struct tl_err *err)
{
    pf->fd = -1;
    pf->path = NULL;
    if (path == NULL) {
        return TL_OK;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == ENOENT) {
        TL_TRY(make_parent(path, err));
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    }
    if (fd < 0) {
        int e = errno;
        return TL_ERR_SYS(err, TL_E_IO, e, NULL, "pid_file %s: cannot open it: %s; fix the path "
                          "or the directory's permissions", path, strerror(e));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = holder_pid(fd);
        close(fd);
        if (e == EWOULDBLOCK) {
            char who[48] = "";
            if (pid > 0) {
                snprintf(who, sizeof(who), " (pid %ld)", pid);
            }
            TL_FAIL(err, TL_E_CONFIG, NULL, "pid_file %s is held by another tlslogd%s that is "
                    "still running; stop that one first, or give this one another pid_file", path,
                    who);
        }
        return TL_ERR_SYS(err, TL_E_IO, e, NULL, "pid_file %s: cannot lock it: %s", path,
                          strerror(e));
    }
    pf->path = strdup(path);
    if (pf->path == NULL) {
        close(fd);
        TL_FAIL(err, TL_E_RESOURCE, NULL, "pid_file %s: out of memory", path);
    }
    pf->fd = fd;
    return TL_OK;
}

bool tl_pidfile_write(struct tl_pidfile *pf)
{
    if (pf->fd < 0) {
        return true;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(pf->fd, 0) != 0 || pwrite(pf->fd, buf, (size_t)n, 0) != n) {
        tl_error("cannot write pid_file %s: %s", pf->path, strerror(errno));
        return false;
    }
    return true;
}

void tl_pidfile_close(struct tl_pidfile *pf)
{
    if (pf->fd < 0) {
        return;
    }
    if (unlink(pf->path) != 0 && errno != ENOENT) {
        /* An empty file misleads nobody; the lock goes with the descriptor. */
        tl_notice("pid_file %s: cannot remove it (%s); emptied it instead. Make its directory "
                  "writable by tlslogd's user to have it removed", pf->path, strerror(errno));
        if (ftruncate(pf->fd, 0) != 0) {
            tl_warn("pid_file %s: cannot empty it either: %s", pf->path, strerror(errno));
        }
    }
    close(pf->fd);
    pf->fd = -1;
    free(pf->path);
    pf->path = NULL;
}
