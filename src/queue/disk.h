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
 * On-disk format 2 (all integers little endian):
 *   DIR/seg-%016llx.q  segment number N in lower-case hex, below 2^62 (a higher one is not
 *                      the queue's: reported and left alone); 16-byte header: "TLDQSEG2",
 *                      u64 N; then records of a 16-byte header and the payload: u32 magic
 *                      "LDRQ", u32 length, u32 sequence number, u32 CRC-32C of the length,
 *                      the sequence number and the payload. The sequence number is the low 32
 *                      bits of a counter that runs through the whole queue (not per segment):
 *                      a gap in it is messages missing, wherever they went. The magic and
 *                      the CRC let recovery find the next valid record after damaged bytes;
 *                      the CRC also covers the length, so that a damaged length is caught
 *                      directly, and a zero-filled tail (some file systems show one after a
 *                      power loss) is not a run of valid empty records.
 *                      After the records there may be one marker: u32 magic "LDRS", u32 0,
 *                      u32 sequence number, u32 CRC-32C of the 8 bytes before it. It says that
 *                      the records that follow (in the next segment) start at that number:
 *                      recovery writes one where it found and reported a gap, so that the
 *                      next open does not report the gap again.
 *   DIR/ack            two 48-byte slots at offsets 0 and 512: "TLDQACK2", u64 generation,
 *                      u64 segment number, u64 offset of the first unacknowledged record,
 *                      u64 its sequence number, u32 CRC-32C of the preceding 40 bytes, u32
 *                      zero. Updates overwrite the older slot in place (update 1 goes to 512;
 *                      the slot at 0 stays all zeros until update 2, which is not damage);
 *                      recovery takes the valid slot with the higher generation. This replaces
 *                      "write a temp file and rename": no file is created per update, no
 *                      directory fsync is needed for it, and a torn write damages only the slot
 *                      being written.
 *   DIR/lock           flock()ed while open; holds the owner's pid.
 *   Format 1 ("TLDQSEG1", "TLDQACK1": records of u32 length, u32 CRC, payload) is not read:
 *   its segments are reported with the number of messages they hold and renamed *.bad.
 *
 * Segments are append-only and only the newest ("tail") is written: every tl_dq_open starts
 * a new tail, so a segment from before a crash is never appended to. Recovery therefore
 * never has to decide where a reopened segment's old data stops and new data starts, and
 * an ack position that ran ahead of data lost in the crash (records read from the append
 * buffer and acknowledged, but never written) cannot hide new records. A new segment also
 * starts when a record would take the tail past segment_bytes (a record larger than that
 * gets a segment of its own). A segment is deleted once all its records are acknowledged and
 * it is not the tail. When the tail's file cannot be created (a full or read-only file
 * system), the queue works on without it: records on disk are delivered, appends return
 * TL_E_IO until it can be created (also at tl_dq_open, which then still succeeds).
 *
 * Recovery (tl_dq_open) walks the records of the segments in order, from the ack position
 * on, and says in tl_dq_recovery.detail what it found, one sentence per anomaly, each with
 * the file, the offset and the number of messages concerned; the counters sum them up:
 *   - messages missing (a segment truncated, deleted or unreadable; records cut out): the
 *     sequence number of the next valid record jumps; the jump is the count (lost_records),
 *     and the sentence says what explains it. Segments before the ack position are deleted.
 *   - damaged bytes inside a segment (a torn write, a flipped bit, zeros): the scan goes on at
 *     the next offset where a valid record starts (its magic, then its CRC), so the records
 *     after the damage are delivered. A segment with damaged bytes (or a jump in the numbers)
 *     between valid records is written again with only those records, numbered without gaps
 *     (a temporary seg-N.q.tmp renamed over it; a leftover one from a rewrite that was cut
 *     short is deleted); if it cannot be (a full disk), the records before the damage are
 *     kept and the others counted as lost. Damage after the last valid record is cut off.
 *   - a torn record at the very end of the newest segment: 1 message lost, the one being
 *     written when tlslogd stopped. Damage at the end with nothing valid after it: not known
 *     how many messages it held.
 *   - a segment whose header is wrong (or of format 1) is renamed *.bad; one whose creation
 *     was cut short (a prefix of its header) is deleted.
 *   - the ack file: one slot damaged: the other is used (if the damaged one was newer, what it
 *     acknowledged is delivered again); no valid position: every record found is delivered
 *     again (redelivered). Both slots are written anew.
 *   - files that are not the queue's (unknown_files): reported and left alone; no file name
 *     keeps the queue from opening.
 * Everything reported is repaired (cut, rewritten, marked) so that it is reported once.
 * Numbers never decide what is delivered, only what is said: every valid record found is
 * delivered, in order.
 *
 * Sync policy: NONE never calls fsync (the kernel writes when it wants: a crash of the
 * process loses nothing that tl_dq_flush wrote, a crash of the machine may). ALWAYS makes
 * every tl_dq_flush durable: fdatasync of the tail, fsync of the directory when segments were
 * created, the ack slot written and synced. INTERVAL does the same at most every
 * sync_interval_ms, from tl_dq_flush and tl_dq_tick; a full segment is synced when the next
 * one starts. The ack position is written at each flush and tick when it moved, and at close.
 *
 * Disk use: max_bytes limits the unacknowledged records (16-byte header plus payload each);
 * the files can be larger by the acknowledged part of the oldest segment and one segment
 * header per segment, so by at most segment_bytes plus a little.
 */
#ifndef TL_QUEUE_DISK_H
#define TL_QUEUE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

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
    uint64_t bad_files;          /* segment files skipped: bad header, cannot be opened */
    uint64_t skipped_bytes;      /* bytes not delivered because of those problems */
    uint64_t lost_records;       /* messages known to be missing (gaps in the sequence, a
                                  * torn last record, records of a segment that cannot be
                                  * rewritten, of a format 1 segment) */
    uint64_t redelivered;        /* messages delivered again: the ack position was lost */
    uint64_t unknown_files;      /* files in the directory that are not the queue's */
    char detail[1536];           /* one sentence per problem, "" when all was well */
};

struct tl_dq;

/* Opens (or creates) the queue in o->dir and recovers what is in it. rec (may be NULL)
 * receives what recovery found; problems there are not errors, the queue opens anyway.
 * Returns NULL with err (may be NULL) filled when the directory cannot be used: TL_E_IO (with
 * sys_errno), TL_E_RESOURCE, or TL_E_CONFIG for "queue.dir DIR is in use by another process
 * (pid N)". */
struct tl_dq *tl_dq_open(const struct tl_dq_opts *o, struct tl_dq_recovery *rec,
                         struct tl_err *err);

/* After a final tl_dq_flush failed (at shutdown): the records of the append buffer that
 * are not completely in the file leave the queue, and a partly written one is cut off the
 * file, so that the next tl_dq_open finds no torn record. Rewinds the read cursor. Returns
 * how many unacknowledged records were dropped (the caller counts and reports them as lost;
 * those read from the buffer and acknowledged were delivered and are not counted). */
uint64_t tl_dq_discard_unwritten(struct tl_dq *q);

/* Writes buffered appends and the ack position, syncs (unless the policy is NONE), closes.
 * The files stay for the next tl_dq_open. Failures there cannot be reported: call tl_dq_flush
 * first when that matters. NULL is ignored. */
void tl_dq_close(struct tl_dq *q);


/* Adds a copy of rec[0..len) at the end. The record goes to an append buffer; it reaches
 * the file at tl_dq_flush (or earlier, when the buffer is large), and tl_dq_peek sees it at
 * once. TL_FULL: max_bytes would be exceeded (try again after acknowledgements).
 * TL_E_IO (err->sys_errno is the failing call's errno): writing or creating a file failed
 * (a full or read-only file system, an I/O error): the record was not added; keep it and
 * try again later. TL_E_RESOURCE (with err): a record that can never fit, or out of memory;
 * the record was not added. Either way what was added before is still queued. */
enum tl_rc tl_dq_append(struct tl_dq *q, const void *rec, size_t len, struct tl_err *err);

/* Writes the append buffer, then syncs as the policy says (ALWAYS: now; INTERVAL: when due)
 * and persists a moved ack position. Call after each batch of appends. TL_E_IO with err (and
 * its sys_errno) on a failure; the records stay buffered and the next flush tries again. */
enum tl_rc tl_dq_flush(struct tl_dq *q, struct tl_err *err);

/* The next record after the read cursor, or false when there is none. *rec stays valid until
 * the next call on q. Records are checked against their CRC when read from a file; a record
 * that fails (or a read error) drops the rest of its segment, see tl_dq_take_problem (the file
 * is cut there, with a marker, so that the next open does not report it again). */
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
 * sync_interval_ms while the queue is busy. TL_E_IO with err on a failure, as tl_dq_flush. */
enum tl_rc tl_dq_tick(struct tl_dq *q, int64_t now_ms, struct tl_err *err);

/* A sentence about records lost while reading since the last call ("seg-...q: record at
 * offset N fails its CRC ...: M records dropped"), or NULL. The text stays valid until the
 * next call on q. The owner logs it. */
const char *tl_dq_take_problem(struct tl_dq *q);

/* CRC-32C (Castagnoli), reflected, init and final xor 0xffffffff. Start with crc = 0, feed
 * pieces by passing the previous result. tl_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t tl_crc32c(uint32_t crc, const void *data, size_t len);
/* The same with tables only, whatever the CPU (what tl_crc32c does without SSE4.2): for the
 * tests, which compare the two. */
uint32_t tl_crc32c_tables(uint32_t crc, const void *data, size_t len);

#endif
