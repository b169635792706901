/*
 * server.h: the running daemon: builds the pipeline (pipeline/pipeline.h) from the
 * configuration, starts and stops its threads, reloads, counts.
 *
 * The main thread owns start-up, signals and shutdown. It never names an input or output
 * kind: it calls their operations (in/in.h, out/out.h), found in one table each.
 */
#ifndef TL_DAEMON_SERVER_H
#define TL_DAEMON_SERVER_H

#include <stdbool.h>

#include "conf/conf.h"
#include "pipeline/pipeline.h"

struct tl_server {
    struct tl_pipeline pl;
    struct tl_conf *conf;      /* owned by main.c; pl.conf is the same */
};

/* Binds every listener (so errors surface before anything starts); false after logging
 * why. */
bool tl_server_init(struct tl_server *srv, struct tl_conf *conf);
bool tl_server_start(struct tl_server *srv);
/* Stops accepting, drains what was accepted to the outputs, flushes, joins every thread. */
void tl_server_stop(struct tl_server *srv);
void tl_server_fini(struct tl_server *srv);
void tl_server_reopen(struct tl_server *srv);
/* SIGHUP: reads the configuration file again and, when it is valid, gives every TLS input
 * and output its new TLS policy (auth, permitted_peers, fingerprints, certificates, keys, CAs
 * and CRLs); open connections are then re-checked by their threads. On any error nothing
 * changes and every error is logged. */
void tl_server_reload_tls(struct tl_server *srv);
void tl_server_log_stats(struct tl_server *srv);
/* What the configuration's kinds check beyond the loader's rules (out/out.h: check), at
 * --check and at start; false with one sentence per problem appended to errs. */
bool tl_server_check(const struct tl_conf *conf, struct tl_conf_errors *errs);
bool tl_server_write_port_file(struct tl_server *srv, const char *path);

#endif
