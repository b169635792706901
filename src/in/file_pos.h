/*
 * file_pos.h: the file input's bookkeeping, pure (no I/O): the glob split into the watched
 * directory and the name pattern, the position of a file as the state file keeps it, where
 * to read a file from at start, and whether a followed file was truncated or replaced.
 *
 * A file is known by its device and inode (a name moves at rotation, the inode stays), and
 * by a hash of its first bytes (up to TL_FPOS_HEAD), which tells a file apart from a later
 * one that got the same inode after the first was deleted (inode reuse), and a file from its
 * own copytruncate'd self written anew.
 *
 * In the state file (queue/statefile.h) a position is one entry: the key "DEV:INO" (decimal),
 * the value "OFFSET HEADLEN HEADHASH PATH": decimal, decimal, 16 hex digits, the path the
 * file had when it was saved (for the operator; not used to find the file).
 */
#ifndef TL_IN_FILE_POS_H
#define TL_IN_FILE_POS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_FPOS_HEAD 256       /* bytes hashed at the start of a file */
#define TL_FPOS_KEY_LEN 48     /* room for "DEV:INO" */

struct tl_fpos {
    uint64_t dev;
    uint64_t ino;
    uint64_t off;          /* the next byte to read: everything before it was delivered */
    uint32_t head_len;     /* bytes hashed (fewer while the file is shorter) */
    uint64_t head_hash;
};

/* FNV-1a, 64 bits. */
uint64_t tl_fpos_hash(const uint8_t *p, size_t n);

/* The glob "DIR/PATTERN" split: dir ("." without a '/', "/" for "/PATTERN") and pattern,
 * into the caller's buffers. False when they do not fit or the pattern is empty. */
bool tl_fpos_split(const char *glob, char *dir, size_t dircap, char *pattern, size_t patcap);

void tl_fpos_key(uint64_t dev, uint64_t ino, char *out, size_t cap);
/* The value text; false when cap is too small. */
bool tl_fpos_encode(const struct tl_fpos *p, const char *path, char *out, size_t cap);
/* Parses a value (dev and ino are left as they are: they are the key's); false when it is
 * not one. */
bool tl_fpos_decode(const uint8_t *v, size_t n, struct tl_fpos *p);
/* Parses a key; false when it is not one. */
bool tl_fpos_parse_key(const char *key, uint64_t *dev, uint64_t *ino);

enum tl_fpos_start {
    TL_FPOS_NEW = 0,  /* no saved position: start_at decides */
    TL_FPOS_RESUME,   /* the saved position: *off */
    TL_FPOS_REUSED,   /* the inode is another file's now (its first bytes differ): from 0 */
    TL_FPOS_SHRUNK,   /* the same file, shorter than the saved position (truncated): from 0 */
};

/* Where to read a file of size bytes whose first bytes are head[0..hn) (hn = min(size,
 * TL_FPOS_HEAD)), given its saved position (NULL: none). *off is set for every result but
 * NEW. */
enum tl_fpos_start tl_fpos_start(const struct tl_fpos *saved, const uint8_t *head, size_t hn,
                                 uint64_t size, uint64_t *off);

/* A followed file read up to read_off whose first head_len bytes hashed to head_hash, now
 * size bytes long with first bytes now[0..now_len): true when it was truncated (shorter than
 * what was read) or rewritten from the start (copytruncate then new lines past read_off
 * before we looked): read it again from 0. */
bool tl_fpos_truncated(uint64_t read_off, uint32_t head_len, uint64_t head_hash, uint64_t size,
                       const uint8_t *now, size_t now_len);

#endif
