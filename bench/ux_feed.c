/* A unix datagram feeder for bench/run: sends N RFC 5424 messages of 199 bytes (the 200-byte
 * lines of the forwarding scenarios without their LF), one per datagram, numbered
 * "seq: 0000000000" upwards, to a unix datagram socket. Blocking socket, connect() once, then
 * sendmmsg() in batches: when the receiver's queue is full the sender waits (the kernel drops
 * nothing on a unix socket). A send blocked for 30 s ends the run. bench/run compiles it
 * (cc -O2 ...). Prints "sent COUNT SECONDS CPU_SECONDS" when done (CPU: its own).
 *
 * With --file it appends the same messages as 200-byte lines (LF included) to the file PATH
 * instead (O_APPEND, one write(2) per batch), as a program writing a log file would: the feed
 * of the file-fwd scenario.
 *
 *   ux_feed [--file] [--rate R] PATH N [HOSTS]
 *
 * --rate R paces the feed at R messages per second in all (a batch of 64 at a time, on an
 * absolute schedule, so a late batch is caught up rather than lost): rows compared by CPU
 * per message get the same offered load. Without it the feed goes as fast as it can.
 *
 * HOSTS (fwd-hash): message i comes from host "bh" + (i % HOSTS) in 7 digits instead of
 * "benchhost" (the same length), so that a hash on {hostname} has keys to spread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MSG 199 /* + LF = the 200-byte lines of the TCP feed */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(long sent, double t0)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("sent %ld %.6f %.3f\n", sent, now() - t0, cpu);
}

int main(int argc, char **argv)
{
    int to_file = 0;
    double rate = 0;
    for (;;) {
        if (argc >= 2 && strcmp(argv[1], "--file") == 0) {
            to_file = 1;
            argv++;
            argc--;
        } else if (argc >= 3 && strcmp(argv[1], "--rate") == 0) {
            rate = atof(argv[2]);
            argv += 2;
            argc -= 2;
        } else {
            break;
        }
    }
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: ux_feed [--file] [--rate R] PATH N [HOSTS]\n");
        return 2;
    }
    long n = atol(argv[2]);
    long hosts = argc == 4 ? atol(argv[3]) : 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof sa.sun_path) {
        fprintf(stderr, "ux_feed: path too long\n");
        return 2;
    }
    strcpy(sa.sun_path, argv[1]);
    int fd;
    if (to_file) {
        fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    } else {
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct timeval tmo = {.tv_sec = 30};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    static char buf[BATCH][MSG + 1];
    struct iovec iov[BATCH];
    struct mmsghdr hdr[BATCH];
    memset(hdr, 0, sizeof hdr);
    for (int i = 0; i < BATCH; i++) {
        memset(buf[i], 'P', MSG);
        buf[i][MSG] = '\n'; /* sent only to a file */
        iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = MSG + (to_file ? 1 : 0)};
        hdr[i].msg_hdr.msg_iov = &iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
    }
    double t0 = now();
    long sent = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (sent < n) {
        int k = n - sent < BATCH ? (int)(n - sent) : BATCH;
        if (rate > 0) {
            /* batch `sent / BATCH` is due sent / rate seconds after the start */
            double due = sent / rate;
            struct timespec at = start;
            at.tv_sec += (time_t)due;
            at.tv_nsec += (long)((due - (double)(time_t)due) * 1e9);
            if (at.tv_nsec >= 1000000000L) {
                at.tv_sec++;
                at.tv_nsec -= 1000000000L;
            }
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
                ;
        }
        for (int i = 0; i < k; i++) {
            /* the header, then the padding already there ("PADD..." as in the TCP feed) */
            char host[24] = "benchhost";
            if (hosts > 0) {
                snprintf(host, sizeof host, "bh%07ld", (sent + i) % hosts);
            }
            int h = snprintf(buf[i], sizeof buf[i], "<14>1 2026-01-01T00:00:00.000000+00:00 "
                             "%s benchapp 1234 - - seq: %010ld ", host, sent + i);
            for (int j = h; j < MSG; j++)
                buf[i][j] = "PADD"[(j - h) % 4];
        }
        if (to_file) {
            /* Lines are whole in every write: a reader never sees half of one here. */
            size_t want = (size_t)k * (MSG + 1);
            ssize_t w = writev(fd, iov, k);
            if (w < 0 || (size_t)w != want) {
                fprintf(stderr, "ux_feed: write after %ld: %s\n", sent,
                        w < 0 ? strerror(errno) : "short write");
                report(sent, t0);
                return 1;
            }
            sent += k;
            continue;
        }
        for (int off = 0; off < k;) {
            int r = sendmmsg(fd, hdr + off, (unsigned)(k - off), 0);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "ux_feed: send after %ld: %s\n", sent + off, strerror(errno));
                report(sent + off, t0);
                return 1;
            }
            off += r;
        }
        sent += k;
    }
    report(sent, t0);
    return 0;
}
