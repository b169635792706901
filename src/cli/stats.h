/*
 * stats.h: `tlslog stats`: a running tlslogd's counters, read from its metrics endpoint
 * (top-level metrics: in tlslogd.yaml), as a table.
 */
#ifndef TL_CLI_STATS_H
#define TL_CLI_STATS_H

int tl_cli_stats_main(int argc, char **argv);

#endif
