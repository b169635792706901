/*
 * tlslog.c: the companion tool of tlslogd. main only dispatches; each command lives in its
 * own file (cert.c: certificates). To add a command, add a row to `commands` (see cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cert.h"
#include "cli/cli.h"
#include "cli/probe.h"
#include "cli/send.h"
#include "cli/stats.h"

static const struct tl_cli_cmd commands[] = {
    { "cert", tl_cli_cert_main, "make and inspect TLS certificates: ca, issue, self-signed, "
                                "revoke, info" },
    { "send", tl_cli_send_main, "send syslog messages over TLS, RELP, TCP or UDP, like "
                                "logger(1)" },
    { "probe", tl_cli_probe_main, "show what a TLS syslog server presents and which auth modes "
                                  "accept it" },
    { "stats", tl_cli_stats_main, "a running tlslogd's counters from its metrics endpoint, as a "
                                  "table (--watch: like top)" },
};

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("tlslog %s\n", TL_VERSION);
        return TL_CLI_OK;
    }
    return tl_cli_dispatch("tlslog", "tlslog: tools for syslog over TLS (tlslogd, RFC 5425) and RELP.",
                           commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
