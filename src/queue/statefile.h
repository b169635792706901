/*
 * statefile.h: a small durable key-value file for what an input must remember across
 * restarts: the file tail's position per file (device, inode, offset, a hash of the first
 * bytes), the journal's cursor. Keys are strings (a path, "cursor"), values are bytes the
 * input encodes as it likes.
 *
 * The store is held in memory; tl_statefile_save writes all of it atomically: a temporary
 * file PATH.tmp is written and fsync'ed, renamed over PATH, and the directory is fsync'ed, so
 * after a crash PATH holds either the previous state or the new one, never a mix. A torn
 * PATH.tmp left by a crash is removed by the next load. tl_statefile_load reads PATH back and
 * trusts it only when it is whole: a format marker and version, every entry's lengths in
 * bounds, no key twice, and a trailer with the entry count and a CRC-32C of everything
 * before it. A damaged file is reported and moved aside to PATH.bad (for inspection, and so
 * the report is made once); the caller then starts the input as configured (start_at), as on
 * a first start.
 *
 * Format 1, text where the data is text, so `cat` shows what an input remembers:
 *   tlslogd-state 1\n
 *   KLEN VLEN KEY VALUE\n          per entry, in key order (decimal lengths in bytes; KEY and
 *                                  VALUE may hold any byte, the lengths delimit them)
 *   end COUNT CRC\n                CRC: 8 lower-case hex digits, CRC-32C of every byte before
 *                                  "end"
 * A later format changes the number in the first line; a file with a number this build does
 * not know is refused like a damaged one (moved aside, reported as written by a newer
 * tlslogd).
 *
 * Limits: keys 1..4096 bytes without NUL, values up to 64 KiB, the file up to 16 MiB.
 *
 * Ownership and threads: one store per input, used by the thread that runs the input; no
 * locking. Nothing here stops two processes from sharing a file: the daemon owns state_dir.
 */
#ifndef TL_QUEUE_STATEFILE_H
#define TL_QUEUE_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define TL_STATEFILE_VERSION 1
#define TL_STATEFILE_KEY_MAX 4096
#define TL_STATEFILE_VALUE_MAX (64 * 1024)
#define TL_STATEFILE_FILE_MAX (16 * 1024 * 1024)

enum tl_statefile_rc {
    TL_STATEFILE_OK = 0,   /* the file was read; the store holds its entries */
    TL_STATEFILE_NONE,     /* no file yet (a first start); the store is empty */
    TL_STATEFILE_DAMAGED,  /* the file was not trusted (err says why) and moved aside; empty */
    TL_STATEFILE_ERROR,    /* the file could not be read (err: errno and remedy); empty */
    /* (More than success or failure, so load keeps this enum; its text is a struct tl_err.) */
};

struct tl_statefile;

/* An empty store for the file at path (copied). No I/O. NULL when out of memory. */
struct tl_statefile *tl_statefile_new(const char *path);
void tl_statefile_free(struct tl_statefile *s);

/*
 * Replaces the store's contents with the file's. err (may be NULL) is filled for DAMAGED and
 * ERROR: the cause names the file, what is wrong and where, e.g.
 *   "state file /var/lib/tlslogd/app.state is damaged: CRC mismatch (file says 1a2b3c4d,
 *    contents give 99aa00ff); not used, kept as /var/lib/tlslogd/app.state.bad"
 * (TL_E_IO), and the remedy where there is one (ERROR: TL_E_IO with sys_errno, TL_E_CONFIG
 * for something that is not a state file, TL_E_RESOURCE).
 */
enum tl_statefile_rc tl_statefile_load(struct tl_statefile *s, struct tl_err *err);

/* Writes the store atomically (see above) and clears the dirty flag. On failure (TL_E_IO,
 * TL_E_RESOURCE when out of memory) no PATH.tmp is left and err names the file, the failed
 * step and errno (sys_errno), with a remedy; PATH is unchanged, unless only the last step
 * failed (syncing the directory after the rename: PATH then holds the new state, which a
 * crash could still undo). */
enum tl_rc tl_statefile_save(struct tl_statefile *s, struct tl_err *err);

/* Whether the store changed since the last load or save. */
bool tl_statefile_dirty(const struct tl_statefile *s);

/* The value of key (borrowed: valid until the next set, del, load or free), or NULL. */
const uint8_t *tl_statefile_get(const struct tl_statefile *s, const char *key, size_t *len);

/* Sets key to the len bytes at val (copied). False when the key or value is out of the
 * limits, the file would grow past TL_STATEFILE_FILE_MAX, or memory runs out; the store is
 * then unchanged. */
bool tl_statefile_set(struct tl_statefile *s, const char *key, const void *val, size_t len);

/* Removes key; false when it was not there. */
bool tl_statefile_del(struct tl_statefile *s, const char *key);

/* Entries in key order (bytewise), for pruning the positions of files that are gone:
 * entry i's key (NUL-terminated) and value; i < tl_statefile_count(s). */
size_t tl_statefile_count(const struct tl_statefile *s);
const char *tl_statefile_entry(const struct tl_statefile *s, size_t i, const uint8_t **val,
                               size_t *len);

/* The file image without the file, for the tests and the fuzz target: encode appends the
 * store in format 1 to out (false when out's ceiling is reached); decode replaces the store
 * with the image p[0..n), or empties it and puts the reason and its offset in why (size
 * whylen); either way the store is then not dirty. */
bool tl_statefile_encode(const struct tl_statefile *s, struct tl_buf *out);
bool tl_statefile_decode(struct tl_statefile *s, const uint8_t *p, size_t n, char *why,
                         size_t whylen);

#endif
