/*
 * fsutil.h: small file-system helpers shared by the outputs, the disk queue and tlslog.
 */
#ifndef TL_CORE_FSUTIL_H
#define TL_CORE_FSUTIL_H

#include <stdbool.h>

/*
 * mkdir -p. Creates each missing directory on the way to path with `mode` (before the umask):
 * all of path when `whole`, else only the directories a file at path needs. Returns false
 * with errno set (ENOTDIR when something on the way is not a directory, ENAMETOOLONG, ...).
 * An existing file at path itself is not an error here: opening it as a directory says so.
 */
bool tl_mkdir_p(const char *path, unsigned mode, bool whole);

#endif
