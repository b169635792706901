/*
 * pidfile.h: the pid_file: one tlslogd per file, its process id inside while it runs.
 *
 * The file is opened and locked (flock) before anything is bound, and the lock is held
 * until exit: a second tlslogd with the same pid_file finds it locked and refuses to start,
 * while a file left by a crashed process (no lock) is simply taken over. The pid is written
 * once the daemon runs (tl_pidfile_write) and the file removed at exit. Main thread only.
 */
#ifndef TL_DAEMON_PIDFILE_H
#define TL_DAEMON_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct tl_pidfile {
    int fd;            /* -1: no pid_file */
    char *path;
};

/* Opens and locks path (creating its directory, mode 0755, when that is missing). TL_OK, or
 * with one sentence in err: TL_E_CONFIG when another tlslogd holds it (with its pid), TL_E_IO
 * (sys_errno set) or TL_E_RESOURCE when the file cannot be made. */
enum tl_rc tl_pidfile_open(struct tl_pidfile *pf, const char *path, struct tl_err *err);
/* Writes our pid ("1234\n"); false after logging why. */
bool tl_pidfile_write(struct tl_pidfile *pf);
/* Removes the file and releases the lock. A pid_file tlslogd may not remove any more (its
 * directory is not writable by the user it dropped to) is emptied instead, and said once. */
void tl_pidfile_close(struct tl_pidfile *pf);

#endif
