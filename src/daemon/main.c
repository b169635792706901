/*
 * main.c: tlslogd's command line, start-up, signals and shutdown.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/log.h"
#include "daemon/metrics.h"
#include "daemon/notify.h"
#include "daemon/pidfile.h"
#include "daemon/privdrop.h"
#include "daemon/server.h"
#include "transport/tls.h"

#ifndef TL_SYSCONFDIR
#define TL_SYSCONFDIR "/usr/local/etc"
#endif
/* The configuration tlslogd reads without -c, when the file exists. */
#define TL_DEFAULT_CONFIG TL_SYSCONFDIR "/tlslogd/tlslogd.yaml"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tlslogd [-c FILE] [--check] [--version] [--help]\n"
            "\n"
            "A syslog daemon for moving logs securely. Receives syslog over TLS (RFC 5425),\n"
            "RELP (plain or over TLS), TCP (RFC 6587), UDP and a local unix socket; writes\n"
            "files or stdout, and forwards over TLS, RELP, TCP or UDP through a memory and\n"
            "disk queue. Runs in the foreground; its own diagnostics go to stderr.\n"
            "\n"
            "  -c, --config FILE  configuration file (YAML). Without it tlslogd reads\n"
            "                     " TL_DEFAULT_CONFIG " when that exists,\n"
            "                     otherwise runs its embedded default: TCP and UDP on\n"
            "                     127.0.0.1:5514, written to ./tlslogd-logs/{hostname}.log\n"
            "      --check        validate the configuration, and that every certificate, key,\n"
            "                     CA, CRL and password file it names can be read; then exit\n"
            "                     (0 = valid). Binds nothing, writes nothing.\n"
            "      --version      print the version and exit\n"
            "  -h, --help         this text\n"
            "\n"
            "Signals: TERM/INT stop after writing everything received; HUP reopens output\n"
            "files (after logrotate) and reloads the configuration, certificates included;\n"
            "USR1 logs counters. Under systemd (Type=notify) it reports READY=1 once every\n"
            "listener is bound, RELOADING=1 and READY=1 around a SIGHUP, and STOPPING=1.\n"
            "Configuration reference: docs/configuration.md, man tlslogd.yaml(5).\n");
}

static void print_errors(struct tl_conf_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        fprintf(stderr, "%s\n", errs->lines[i]);
    }
    tl_conf_errors_fini(errs);
}

/* The configuration, with every file it names readable (a missing certificate is the most
 * common TLS mistake: say so with the key and line, before anything starts). */
static struct tl_conf *load(const char *path)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c;
    if (path) {
        c = tl_conf_load_file(path, &errs);
    } else {
        c = tl_conf_load_string(tl_conf_embedded, strlen(tl_conf_embedded), "<embedded>",
                                &errs);
    }
    if (!c) {
        if (errs.n == 0) {
            fprintf(stderr, "%s: cannot load the configuration\n", path ? path : "<embedded>");
        }
        print_errors(&errs);
        return NULL;
    }
    tl_conf_errors_fini(&errs);
    if (!tl_conf_check_files(c, &errs) || !tl_server_check(c, &errs)) {
        print_errors(&errs);
        tl_conf_free(c);
        return NULL;
    }
    tl_conf_errors_fini(&errs);
    return c;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'V':
            printf("tlslogd %s (%s)\n", TL_VERSION, tl_tls_library_version());
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tlslogd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (path == NULL && access(TL_DEFAULT_CONFIG, F_OK) == 0) {
        path = TL_DEFAULT_CONFIG;
    }
    struct tl_conf *conf = load(path);
    if (!conf) {
        return 1;
    }
    struct tl_priv priv;
    char err[1024];
    struct tl_err e;
    if (tl_priv_init(&priv, conf, &e) != TL_OK) {
        fprintf(stderr, "%s\n", tl_err_text(&e, err, sizeof(err)));
        tl_priv_fini(&priv);
        tl_conf_free(conf);
        return 1;
    }
    if (check) {
        printf("%s: configuration OK\n", path ? path : "<embedded>");
        tl_priv_fini(&priv);
        tl_conf_free(conf);
        return 0;
    }
    tl_log_set_level(conf->log_level);
    tl_notice("tlslogd %s starting with configuration %s%s", TL_VERSION,
              path ? path : "<embedded>",
              path ? "" : " (no -c, and no " TL_DEFAULT_CONFIG ")");
    /* Messages are allocated on worker threads and freed on output threads, in waves: keep
     * freed heap instead of giving it back to the kernel after every wave (measured: the
     * page faults of re-growing the heap cost more than parsing; see bench/README.md). */
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    mallopt(M_TOP_PAD, 4 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);

    /* Signals are taken synchronously by the main thread; every other thread inherits the
     * blocked mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        tl_error("signalfd: %s", strerror(errno));
        tl_priv_fini(&priv);
        tl_conf_free(conf);
        return 1;
    }

    /* What start-up is about to create, to give it to user: afterwards (privdrop.h). */
    tl_priv_note_paths(&priv, conf);
    /* One tlslogd per pid_file: checked before anything is bound. */
    struct tl_pidfile pidf;
    if (tl_pidfile_open(&pidf, conf->pid_file, &e) != TL_OK) {
        tl_error("%s", tl_err_text(&e, err, sizeof(err)));
        tl_priv_fini(&priv);
        tl_conf_free(conf);
        close(sfd);
        return 1;
    }
    /* Bind, read keys and create directories with the privileges we were started with, then
     * drop them (privdrop.h) before any thread that handles peers' data starts. */
    struct tl_server srv;
    struct tl_metrics *metrics = NULL;
    int rc = 0;
    bool ok = tl_server_init(&srv, conf);
    if (ok && conf->metrics.listen != NULL) {
        metrics = tl_metrics_start(&srv, &e);
        if (metrics == NULL) {
            tl_error("%s", tl_err_text(&e, err, sizeof(err)));
            ok = false;
        }
    }
    ok = ok && tl_priv_drop(&priv, &srv) && tl_server_start(&srv);
    if (!ok) {
        tl_error("tlslogd could not start (see above)");
        tl_metrics_stop(metrics);
        tl_server_stop(&srv);
        tl_server_fini(&srv);
        tl_pidfile_close(&pidf);
        tl_priv_fini(&priv);
        tl_conf_free(conf);
        close(sfd);
        return 1;
    }
    srv.metrics_port = metrics ? tl_metrics_port(metrics) : 0;
    if (conf->port_file && !tl_server_write_port_file(&srv, conf->port_file)) {
        rc = 1;
    }
    if (!tl_pidfile_write(&pidf)) {
        rc = 1;
    }
    tl_notice("tlslogd %s started: configuration %s, %zu workers, %zu inputs, %zu outputs",
              TL_VERSION, conf->file, srv.pl.n_workers, srv.pl.n_inputs, srv.pl.n_outputs);
    if (rc == 0) {
        tl_notify("READY=1\nSTATUS=receiving");
    }

    int64_t next_stats = conf->stats_interval_ms ? tl_now_ms() + (int64_t)conf->stats_interval_ms
                                                 : -1;
    uint64_t stats_interval = conf->stats_interval_ms;
    bool running = rc == 0;
    while (running) {
        int timeout = -1;
        if (next_stats >= 0) {
            int64_t t = next_stats - tl_now_ms();
            timeout = t < 0 ? 0 : (int)t;
        }
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout);
        if (n == 0 && next_stats >= 0) {
            tl_server_log_stats(&srv);
            next_stats = tl_now_ms() + (int64_t)srv.conf->stats_interval_ms;
            continue;
        }
        if (n < 0) {
            continue;
        }
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
            continue;
        }
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            tl_notice("received %s: stopping after writing everything received",
                      si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            running = false;
            break;
        case SIGHUP:
            tl_notify_reloading();
            tl_notice("received SIGHUP: reopening output files, reloading the configuration");
            tl_server_reload(&srv);
            if (srv.conf->stats_interval_ms != stats_interval) {
                stats_interval = srv.conf->stats_interval_ms;
                next_stats = stats_interval ? tl_now_ms() + (int64_t)stats_interval : -1;
            }
            tl_notify("READY=1\nSTATUS=receiving");
            break;
        case SIGUSR1:
            tl_server_log_stats(&srv);
            break;
        default:
            break;
        }
    }
    tl_notify("STOPPING=1\nSTATUS=stopping: delivering what was received");
    tl_server_stop(&srv);
    tl_server_log_stats(&srv);
    tl_metrics_stop(metrics);
    tl_server_fini(&srv);
    tl_pidfile_close(&pidf);
    tl_notice("tlslogd stopped");
    tl_priv_fini(&priv);
    tl_conf_free(conf);
    close(sfd);
    return rc;
}
