/*
 * filter_bench.c: what a route's `where:` filter costs per message (issue 14: a route with
 * facility + program filters may cost at most 5% more CPU per message than no filter, one with
 * a `message` regex at most 25%).
 *
 * A mix of 32 messages as hosts send them (sshd, sudo, cron, postfix, nginx, php-fpm, the
 * kernel, systemd, RFC 5424 applications with structured data; 60 to 330 bytes) goes round
 * and round through the part of the daemon's per-message work that is pure CPU and can be
 * measured alone: copy into a tl_msg, parse, decide the route, release. Each scenario runs
 * the same loop with a different filter:
 *   (a) no filter   a route without `where` (tl_filter_match(NULL, m), as the daemon will)
 *   (b) facility + program   facility: [auth, authpriv, daemon, mail],
 *                            program: [sshd, sudo, "postfix/ *" (no space), "php-fpm*"]
 *   (c) message regex        message: "(?i)error|timeout|fail(ed|ure)"
 * and prints CPU ns per message (the best of 7 runs, taking turns) and, separately, the
 * filter alone on messages parsed beforehand. The loop leaves out reading, framing, TLS and
 * writing, which the daemon also spends per message, so the percentages here are upper
 * bounds of the daemon's.
 *
 * Build (after `make build`) and run:
 *   cc -O2 -D_GNU_SOURCE -Isrc bench/filter_bench.c \
 *      build/libtl_route.a build/libtl_parse.a build/libtl_core.a \
 *      $(pkg-config --libs libpcre2-8) -lpthread -lm -o build/filter_bench
 *   build/filter_bench [messages per run, default 2000000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/msg.h"
#include "parse/parse.h"
#include "route/filter.h"

static const char *const mix[] = {
    "<38>Jan 20 12:00:00 web01 sshd[1234]: Accepted publickey for deploy from 192.0.2.10 "
    "port 52144 ssh2: ED25519 SHA256:3q2+7w8sYl0Rr2m3u0Jd1lq0mZ0oZ8Q0xX1cX5m2kT4",
    "<38>Jan 20 12:00:01 web01 sshd[1240]: Failed password for invalid user admin from "
    "203.0.113.5 port 40022 ssh2",
    "<86>Jan 20 12:00:01 web01 sshd[1240]: pam_unix(sshd:auth): authentication failure; "
    "logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5",
    "<85>Jan 20 12:00:02 web01 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; "
    "COMMAND=/usr/bin/systemctl restart nginx",
    "<78>Jan 20 12:00:03 web01 CRON[2201]: (root) CMD (command -v debian-sa1 > /dev/null && "
    "debian-sa1 1 1)",
    "<22>Jan 20 12:00:03 mx1 postfix/smtpd[3301]: connect from mail.example.org[198.51.100.7]",
    "<22>Jan 20 12:00:04 mx1 postfix/qmgr[811]: 4F1A22C0F1: from=<alice@example.org>, "
    "size=4211, nrcpt=1 (queue active)",
    "<20>Jan 20 12:00:04 mx1 postfix/smtp[3310]: 4F1A22C0F1: to=<bob@example.net>, "
    "relay=none, delay=30, status=deferred (connect to example.net[192.0.2.1]:25: Connection "
    "timed out)",
    "<11>1 2026-01-20T12:00:05.120Z web02 nginx 991 - - 2026/01/20 12:00:05 [error] 991#991: "
    "*4411 upstream timed out (110: Connection timed out) while reading response header",
    "<14>1 2026-01-20T12:00:05.300Z web02 nginx 991 access - 192.0.2.44 - - "
    "[20/Jan/2026:12:00:05 +0000] \"GET /api/v1/items?page=2 HTTP/1.1\" 200 5123 \"-\" "
    "\"Mozilla/5.0\"",
    "<14>1 2026-01-20T12:00:05.310Z web02 nginx 991 access - 192.0.2.45 - - "
    "[20/Jan/2026:12:00:05 +0000] \"POST /login HTTP/1.1\" 302 0 \"-\" \"curl/8.5.0\"",
    "<13>1 2026-01-20T12:00:06Z web02 php-fpm 22 - - [pool www] child 4412 exited with code 0 "
    "after 3600.12 seconds from start",
    "<28>Jan 20 12:00:06 web03 php-fpm[22]: [WARNING] [pool www] server reached "
    "pm.max_children setting (25), consider raising it",
    "<4>Jan 20 12:00:07 db01 kernel: [812345.123456] TCP: request_sock_TCP: Possible SYN "
    "flooding on port 5432. Sending cookies.",
    "<6>Jan 20 12:00:07 db01 kernel: [812345.200000] EXT4-fs (nvme0n1p2): mounted filesystem "
    "with ordered data mode",
    "<30>Jan 20 12:00:08 db01 systemd[1]: Started postgresql@15-main.service - PostgreSQL "
    "Cluster 15-main.",
    "<30>Jan 20 12:00:08 db01 systemd[1]: logrotate.service: Deactivated successfully.",
    "<27>Jan 20 12:00:09 db01 systemd[1]: backup.service: Failed with result 'exit-code'.",
    "<165>1 2026-01-20T12:00:09.001+01:00 app01.example.net billing 4411 INV001 "
    "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] invoice 81723 "
    "created for customer 4410",
    "<163>1 2026-01-20T12:00:09.100+01:00 app01.example.net billing 4411 PAY002 "
    "[exampleSDID@32473 iut=\"3\"] payment gateway error: card declined (code 51)",
    "<134>1 2026-01-20T12:00:10Z lb1 haproxy 700 - - 192.0.2.80:51000 "
    "[20/Jan/2026:12:00:10.001] fe_https~ be_app/app01 0/0/1/12/13 200 1432 - - ---- "
    "120/120/3/1/0 0/0 \"GET / HTTP/1.1\"",
    "<29>Jan 20 12:00:10 ns1 named[555]: client @0x7f 192.0.2.9#5353 (example.org): query: "
    "example.org IN A +E(0)K (192.0.2.53)",
    "<30>Jan 20 12:00:11 ns1 chronyd[600]: Selected source 192.0.2.123 (ntp.example.net)",
    "<38>Jan 20 12:00:11 web01 sshd[1240]: Connection closed by invalid user admin "
    "203.0.113.5 port 40022 [preauth]",
    "<86>Jan 20 12:00:12 web01 sshd[1250]: pam_unix(sshd:session): session opened for user "
    "deploy(uid=1000) by (uid=0)",
    "<85>Jan 20 12:00:12 web01 sudo: pam_unix(sudo:session): session closed for user root",
    "<22>Jan 20 12:00:13 mx1 postfix/cleanup[3320]: 5B2C33D0A2: message-id=<20260120120013."
    "5B2C33D0A2@mx1.example.org>",
    "<19>Jan 20 12:00:13 mx1 postfix/smtpd[3301]: error: open database /etc/postfix/"
    "sender_access.db: No such file or directory",
    "<191>Jan 20 12:00:14 web03 app: debug: cache hit ratio 0.93 over 10000 lookups",
    "<14>Jan 20 12:00:14 web03 app[31]: GET /health 200 1ms",
    "<13>1 2026-01-20T12:00:15Z - kubelet 1200 - - I0120 12:00:15.000123 1200 "
    "kubelet.go:2412] \"SyncLoop (probe)\" probe=\"readiness\" status=\"ready\"",
    "<3>1 2026-01-20T12:00:15Z db01 kernel - - - nvme nvme0: I/O 512 QID 3 timeout, aborting",
};
#define N_MIX (sizeof(mix) / sizeof(mix[0]))

static size_t mix_len[N_MIX];
static volatile uint64_t sink;

/* This thread's CPU time, not wall time: on a shared machine, time spent preempted by other
 * processes is not the filter's. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Copy, parse, route, release: n messages; returns ns per message. */
static double run_full(const struct tl_filter *f, size_t n)
{
    uint64_t carried = 0;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        size_t k = i % N_MIX;
        struct tl_msg *m = tl_msg_new(mix[k], mix_len[k]);
        if (!m) {
            abort();
        }
        m->recv_sec = 1768910400;
        tl_parse(m);
        carried += tl_filter_match(f, m);
        tl_msg_unref(m);
    }
    int64_t t1 = now_ns();
    sink += carried;
    return (double)(t1 - t0) / (double)n;
}

/* The filter alone, on messages parsed beforehand. */
static double run_filter_only(const struct tl_filter *f, struct tl_msg *const *parsed, size_t n)
{
    uint64_t carried = 0;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        carried += tl_filter_match(f, parsed[i % N_MIX]);
    }
    int64_t t1 = now_ns();
    sink += carried;
    return (double)(t1 - t0) / (double)n;
}

static void keep_best(double *best, double t)
{
    if (t < *best) {
        *best = t;
    }
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    if (n == 0) {
        fprintf(stderr, "usage: filter_bench [messages per run]\n");
        return 2;
    }
    struct tl_msg *parsed[N_MIX];
    for (size_t k = 0; k < N_MIX; k++) {
        mix_len[k] = strlen(mix[k]);
        parsed[k] = tl_msg_new(mix[k], mix_len[k]);
        if (!parsed[k]) {
            return 1;
        }
        parsed[k]->recv_sec = 1768910400;
        tl_parse(parsed[k]);
    }

    static const char *const fac[] = { "auth", "authpriv", "daemon", "mail" };
    static const char *const prog[] = { "sshd", "sudo", "postfix/*", "php-fpm*" };
    static const char *const re[] = { "(?i)error|timeout|fail(ed|ure)" };
    struct tl_filter_spec spec_b = {
        .where.facility = { fac, 4, true },
        .where.program = { prog, 4, true },
    };
    struct tl_filter_spec spec_c = { .where.message = { re, 1, false } };
    struct tl_err err;
    struct tl_filter *fb = tl_filter_compile(&spec_b, &err);
    struct tl_filter *fc = fb ? tl_filter_compile(&spec_c, &err) : NULL;
    if (!fb || !fc) {
        fprintf(stderr, "filter_bench: %s\n", err.cause);
        return 1;
    }

    /* Warm up caches, the allocator and the thread's PCRE2 state. */
    (void)run_full(fc, n / 10 + 1);

    /* The scenarios take turns, so a change in the machine's load hits them alike. */
    double a = 1e30;
    double b = 1e30;
    double c = 1e30;
    double b_alone = 1e30;
    double c_alone = 1e30;
    for (int r = 0; r < 7; r++) {
        keep_best(&a, run_full(NULL, n));
        keep_best(&b, run_full(fb, n));
        keep_best(&c, run_full(fc, n));
        keep_best(&b_alone, run_filter_only(fb, parsed, n));
        keep_best(&c_alone, run_filter_only(fc, parsed, n));
    }
    size_t carried_b = 0;
    size_t carried_c = 0;
    for (size_t k = 0; k < N_MIX; k++) {
        carried_b += tl_filter_match(fb, parsed[k]);
        carried_c += tl_filter_match(fc, parsed[k]);
    }

    printf("filter_bench: %zu messages per run, %zu-message mix, best of 7 runs, thread CPU "
           "time\n", n, N_MIX);
    printf("%-34s %10s %12s %14s\n", "scenario (copy+parse+route)", "ns/msg", "vs (a)",
           "filter alone");
    printf("%-34s %10.1f %12s %14s\n", "(a) no filter", a, "-", "-");
    printf("%-34s %10.1f %+11.1f%% %11.1f ns   carries %zu/%zu\n", "(b) facility + program", b,
           (b - a) / a * 100.0, b_alone, carried_b, N_MIX);
    printf("%-34s %10.1f %+11.1f%% %11.1f ns   carries %zu/%zu\n", "(c) message regex", c,
           (c - a) / a * 100.0, c_alone, carried_c, N_MIX);
    if (tl_filter_regex_errors(fc) != 0) {
        printf("regex errors: %llu\n", (unsigned long long)tl_filter_regex_errors(fc));
    }
    for (size_t k = 0; k < N_MIX; k++) {
        tl_msg_unref(parsed[k]);
    }
    tl_filter_free(fb);
    tl_filter_free(fc);
    return 0;
}
