/*
 * probe.h: `tlslog probe`, what a TLS syslog receiver presents and whether each
 * authentication mode would accept it, with what to change when not.
 */
#ifndef TL_CLI_PROBE_H
#define TL_CLI_PROBE_H

/* `tlslog probe HOST:PORT ...`: argv[0] is "probe". Returns the exit status (see cli.h). */
int tl_cli_probe_main(int argc, char **argv);

#endif
