/*
 * cli.h: what every `tlslog` command shares.
 *
 * `tlslog` is a dispatcher. main (tlslog.c) looks its first argument up in a table of
 * struct tl_cli_cmd and runs that command with argv shifted, so that the command sees its
 * own name in argv[0]. A command with subcommands of its own (`tlslog cert issue ...`)
 * dispatches once more with tl_cli_dispatch and its own table.
 *
 * To add a command NAME: write `int tl_cli_NAME_main(int argc, char **argv)` in
 * src/cli/NAME.c, declare it in src/cli/NAME.h and add one row to the table in tlslog.c.
 * CMake picks up every .c file in src/cli.
 *
 * Conventions: results go to stdout; errors are one plain sentence on stderr. Exit status
 * TL_CLI_OK (0) on success, TL_CLI_FAIL (1) when the operation failed, TL_CLI_USAGE (2)
 * for a command line that cannot be run (unknown option, missing or malformed value).
 * Every command answers --help on stdout with status 0. Single-threaded.
 */
#ifndef TL_CLI_CLI_H
#define TL_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TL_CLI_OK 0
#define TL_CLI_FAIL 1
#define TL_CLI_USAGE 2

struct tl_cli_cmd {
    const char *name;                  /* "cert", "issue" */
    int (*run)(int argc, char **argv); /* argv[0] is `name`; returns an exit status */
    const char *help;                  /* one line for the command list */
};

/* Prints "tlslog: <message>" and a newline on stderr; returns TL_CLI_FAIL. */
int tl_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "tlslog: note: <message>" and a newline on stderr. */
void tl_cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Prints "<prog>: <message>; see '<prog> --help'" on stderr, where prog is the command's full
 * name ("tlslog cert issue"); returns TL_CLI_USAGE.
 */
int tl_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Runs the subcommand named by argv[1] from `cmds` (n rows) with argc - 1, argv + 1.
 * `prog` is the dispatcher's full name ("tlslog", "tlslog cert") for messages. Handles
 * "--help", "-h" and "help [COMMAND]" itself; no command or an unknown one is a usage error.
 * `about` is one line printed above the command list (may be NULL).
 */
int tl_cli_dispatch(const char *prog, const char *about, const struct tl_cli_cmd *cmds, size_t n,
                    int argc, char **argv);

/*
 * Parses a decimal number in [min, max]: digits only, no sign, no spaces, no suffix.
 * Returns false for anything else, leaving *out alone.
 */
bool tl_cli_parse_ulong(const char *text, unsigned long min, unsigned long max,
                        unsigned long *out);

/*
 * Reports a getopt_long failure (status '?' or ':', with opterr = 0 and an optstring that
 * starts with ':') as a usage error for `prog`; `argv` is the array getopt_long was given.
 * Returns TL_CLI_USAGE.
 */
int tl_cli_getopt_error(const char *prog, int status, char **argv);

#endif
