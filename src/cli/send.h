/*
 * send.h: `tlslog send`, a logger(1) that speaks syslog over TLS (RFC 5425), and plain TCP
 * (RFC 6587) and UDP (RFC 5426): messages from the command line or one per line of stdin.
 */
#ifndef TL_CLI_SEND_H
#define TL_CLI_SEND_H

/* `tlslog send ...`: argv[0] is "send". Returns the exit status (see cli.h). */
int tl_cli_send_main(int argc, char **argv);

#endif
