/*
 * disk.h: the disk part of the forward output's queue: a persistent FIFO of records in
 * append-only segment files, with a CRC per record, crash recovery and acknowledgements.
 *
 * One thread (the forward output's) owns a queue and makes every call on it; there is no
 * locking inside. Another process (or another tl_dq_open in this one) cannot open the same
 * directory: DIR/lock is held with flock() and names the holder's pid.
 *
 * Positions. Three positions run through the records, oldest first: the ack position (first
 * record not yet acknowledged), the read cursor (next record to send; between the two are
 * the records sent but not yet acknowledged) and the end (where tl_dq_append adds). Delivery
 * is at-least-once: after tl_dq_rewind, a crash, or a lost ack-file update, records after the
 * last persisted ack position are delivered again. Duplicates are possible, silent loss is
 * not: a record that cannot be delivered (torn write, CRC mismatch, unreadable disk) is
 * counted and described (tl_dq_recovery at open, tl_dq_take_problem while running).
 *
 * On-disk format (all integers little endian):
 *   DIR/seg-%016llx.q  segment number N in lower-case hex; 16-byte header: "TLDQSEG1", u64 N;
 *                      then records: u32 length, u32 CRC-32C, payload. The CRC covers the 4
 *                      length bytes and the payload (not just the payload, as first planned):
 *                      a zero-filled tail, which some file systems expose after a power loss,
 *                      would otherwise read as a run of valid empty records, and a damaged
 *                      length is caught directly rather than by chance.
 *   DIR/ack            two 40-byte slots at offsets 0 and 512: "TLDQACK1", u64 generation,
 *                      u64 segment number, u64 offset of the first unacknowledged record,
 *                      u32 CRC-32C of the preceding 32 bytes, u32 zero. Updates overwrite
 *                      the older slot in place; recovery takes the valid slot with the higher
 *                      generation. This replaces "write a temp file and rename": no file is
 *                      created per update, no directory fsync is needed for it, and a torn
 *                      write damages only the slot being written.
 *   DIR/lock           flock()ed while open; holds the owner's pid.
 *
 * Segments are append-only and only the newest ("tail") is written: every tl_dq_open starts
 * a new tail, so a segment from before a crash is never appended to. Recovery therefore
 * never has to decide where a reopened segment's old data stops and new data starts, and
 * an ack position that ran ahead of data lost in the crash (records read from the append
 * buffer and acknowledged, but never written) cannot hide new records. A new segment also
 * starts when a record would take the tail past segment_bytes (a record larger than that
 * gets a segment of its own). A segment is deleted once all its records are acknowledged and
 * it is not the tail.
 *
 * Recovery (tl_dq_open) scans the segments in order, starting each at the ack position or at
 * its header. A record whose length runs past the end of the file, or whose CRC does not
 * match, is reported; the rest of that segment is skipped (records have no sync marker, and
 * after a torn write nothing valid follows) and truncated on disk so that it is reported
 * once. A file whose header is wrong is reported and renamed to *.bad; a file shorter than a
 * header, holding a prefix of the right header, is a segment whose creation was cut short
 * and is deleted. Segments before the ack position are deleted.
 *
 * Sync policy: NONE never calls fsync (the kernel writes when it wants: a crash of the
 * process loses nothing that tl_dq_flush wrote, a crash of the machine may). ALWAYS makes
 * every tl_dq_flush durable: fdatasync of the tail, fsync of the directory when segments were
 * created, the ack slot written and synced. INTERVAL does the same at most every
 * sync_interval_ms, from tl_dq_flush and tl_dq_tick; a full segment is synced when the next
 * one starts. The ack position is written at each flush and tick when it moved, and at close.
 *
 * Disk use: max_bytes limits the unacknowledged records (8-byte header plus payload each);
 * the files can be larger by the acknowledged part of the oldest segment and one segment
 * header per segment, so by at most segment_bytes plus a little.
 */
#ifndef TL_QUEUE_DISK_H
#define TL_QUEUE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_DQ_SEGMENT_BYTES_DEFAULT (8u * 1024 * 1024)
#define TL_DQ_RECORD_HEADER 16u  /* magic, length, sequence number, CRC before each payload */

enum tl_dq_sync { TL_DQ_SYNC_NONE, TL_DQ_SYNC_INTERVAL, TL_DQ_SYNC_ALWAYS };

struct tl_dq_opts {
    const char *dir;             /* created (mode 0700, parents too) if missing */
    uint64_t max_bytes;          /* limit on unacknowledged record bytes; 0 = no limit */
    uint64_t segment_bytes;      /* 0 = TL_DQ_SEGMENT_BYTES_DEFAULT */
    enum tl_dq_sync sync;
    uint64_t sync_interval_ms;   /* TL_DQ_SYNC_INTERVAL only */
};

/* What tl_dq_open found. */
struct tl_dq_recovery {
    uint64_t records;            /* unacknowledged records, to be delivered */
    uint64_t bytes;              /* their bytes (headers included), as tl_dq_bytes */
    uint64_t corrupt_records;    /* places with torn or damaged bytes */
    uint64_t bad_files;          /* segment files skipped for a bad header */
    uint64_t skipped_bytes;      /* bytes not delivered because of those problems */
    uint64_t lost_records;       /* messages known to be missing (gaps in the sequence) */
    uint64_t redelivered;        /* messages delivered again: the ack position was lost */
    uint64_t unknown_files;      /* files in the directory that are not the queue's */
    char detail[1536];           /* one sentence per problem, "" when all was well */
};

struct tl_dq;

/* Opens (or creates) the queue in o->dir and recovers what is in it. rec (may be NULL)
 * receives what recovery found; problems there are not errors, the queue opens anyway.
 * Returns NULL with a sentence in err when the directory cannot be used (including "queue.dir
 * DIR is in use by another process (pid N)"). */
struct tl_dq *tl_dq_open(const struct tl_dq_opts *o, struct tl_dq_recovery *rec, char *err,
                         size_t errlen);

/* After a final tl_dq_flush failed (at shutdown): the records of the append buffer that
 * are not completely in the file leave the queue, and a partly written one is cut off the
 * file, so that the next tl_dq_open finds no torn record. Rewinds the read cursor. Returns
 * how many records were dropped (the caller counts and reports them as lost). */
uint64_t tl_dq_discard_unwritten(struct tl_dq *q);

/* Writes buffered appends and the ack position, syncs (unless the policy is NONE), closes.
 * The files stay for the next tl_dq_open. Failures there cannot be reported: call tl_dq_flush
 * first when that matters. NULL is ignored. */
void tl_dq_close(struct tl_dq *q);

enum tl_dq_rc { TL_DQ_OK, TL_DQ_FULL, TL_DQ_RETRY, TL_DQ_ERROR };

/* Adds a copy of rec[0..len) at the end. The record goes to an append buffer; it reaches
 * the file at tl_dq_flush (or earlier, when the buffer is large), and tl_dq_peek sees it at
 * once. TL_DQ_FULL: max_bytes would be exceeded (try again after acknowledgements).
 * TL_DQ_RETRY (with err; errno is the failing call's): writing or creating a file failed
 * (a full or read-only file system, an I/O error): the record was not added; keep it and
 * try again later. TL_DQ_ERROR (with err): a record that can never fit, or out of memory;
 * the record was not added. Either way what was added before is still queued. */
enum tl_dq_rc tl_dq_append(struct tl_dq *q, const void *rec, size_t len, char *err,
                           size_t errlen);

/* Writes the append buffer, then syncs as the policy says (ALWAYS: now; INTERVAL: when due)
 * and persists a moved ack position. Call after each batch of appends. Returns false with err
 * on a failure; the records stay buffered and the next flush tries again. */
bool tl_dq_flush(struct tl_dq *q, char *err, size_t errlen);

/* The next record after the read cursor, or false when there is none. *rec stays valid until
 * the next call on q. Records are checked against their CRC when read from a file; a record
 * that fails (or a read error) drops the rest of its segment, see tl_dq_take_problem. */
bool tl_dq_peek(struct tl_dq *q, const uint8_t **rec, size_t *len);

/* Moves the read cursor past the record tl_dq_peek returned (peeks first if needed). */
void tl_dq_advance(struct tl_dq *q);

/* The n oldest read records are delivered: the ack position moves past them and fully
 * acknowledged segments are deleted. n is capped at the number of read, unacked records. */
void tl_dq_ack(struct tl_dq *q, uint64_t n);

/* Read cursor back to the ack position (after a reconnect: send again). */
void tl_dq_rewind(struct tl_dq *q);

uint64_t tl_dq_count(const struct tl_dq *q);    /* unacknowledged records */
uint64_t tl_dq_bytes(const struct tl_dq *q);    /* their bytes, headers included */
uint64_t tl_dq_unread(const struct tl_dq *q);   /* records after the read cursor */

/* Interval sync: writes the append buffer and, when TL_DQ_SYNC_INTERVAL is due, syncs.
 * now_ms is CLOCK_MONOTONIC in milliseconds (the event loop's clock). Call it at least every
 * sync_interval_ms while the queue is busy. Returns false with err on a failure. */
bool tl_dq_tick(struct tl_dq *q, int64_t now_ms, char *err, size_t errlen);

/* A sentence about records lost while reading since the last call ("seg-...q: record at
 * offset N fails its CRC ...: M records dropped"), or NULL. The text stays valid until the
 * next call on q. The owner logs it. */
const char *tl_dq_take_problem(struct tl_dq *q);

/* CRC-32C (Castagnoli), reflected, init and final xor 0xffffffff. Start with crc = 0, feed
 * pieces by passing the previous result. tl_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t tl_crc32c(uint32_t crc, const void *data, size_t len);

#endif
