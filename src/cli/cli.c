/*
 * cli.c: messages, numbers and subcommand dispatch shared by the `tlslog` commands.
 * See cli.h for the conventions.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int tl_cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("tlslog: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return TL_CLI_FAIL;
}

void tl_cli_note(const char *fmt, ...)
{
    va_list ap;
    fputs("tlslog: note: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tl_cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see '%s --help'\n", prog);
    return TL_CLI_USAGE;
}

bool tl_cli_parse_ulong(const char *text, unsigned long min, unsigned long max,
                        unsigned long *out)
{
    unsigned long v;
    char *end = NULL;
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return false;
    }
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

int tl_cli_getopt_error(const char *prog, int status, char **argv)
{
    /* getopt_long has already stepped past the offending word. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (status == ':') {
        return tl_cli_usage_error(prog, "option '%s' needs a value", word);
    }
    if (strncmp(word, "--", 2) == 0) {
        /* A known long option that takes no value, given one ("--force=yes"), sets optopt. */
        if (optopt != 0 && strchr(word, '=') != NULL) {
            return tl_cli_usage_error(prog, "option '%.*s' takes no value",
                                      (int)(strchr(word, '=') - word), word);
        }
        return tl_cli_usage_error(prog, "unknown option '%s'", word);
    }
    if (optopt != 0) {
        return tl_cli_usage_error(prog, "unknown option '-%c'", optopt);
    }
    return tl_cli_usage_error(prog, "unknown option '%s'", word);
}

static void list_commands(FILE *out, const char *prog, const char *about,
                          const struct tl_cli_cmd *cmds, size_t n)
{
    size_t width = 0;
    if (about != NULL) {
        fprintf(out, "%s\n\n", about);
    }
    fprintf(out, "usage: %s COMMAND [options]\n\ncommands:\n", prog);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cmds[i].name);
        width = len > width ? len : width;
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  %-*s  %s\n", (int)width, cmds[i].name, cmds[i].help);
    }
    fprintf(out, "\nRun '%s COMMAND --help' for the options of a command.\n", prog);
}

static const struct tl_cli_cmd *find_command(const struct tl_cli_cmd *cmds, size_t n,
                                             const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmds[i].name, name) == 0) {
            return &cmds[i];
        }
    }
    return NULL;
}

int tl_cli_dispatch(const char *prog, const char *about, const struct tl_cli_cmd *cmds, size_t n,
                    int argc, char **argv)
{
    const struct tl_cli_cmd *cmd;
    const char *word;
    if (argc < 2) {
        list_commands(stderr, prog, about, cmds, n);
        return TL_CLI_USAGE;
    }
    word = argv[1];
    /* Each command parses its own options from a fresh start (0: glibc's full reset). */
    optind = 0;
    opterr = 0;
    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0 ||
        (strcmp(word, "help") == 0 && argc == 2)) {
        list_commands(stdout, prog, about, cmds, n);
        return TL_CLI_OK;
    }
    if (strcmp(word, "help") == 0) {
        /* "help COMMAND" is "COMMAND --help". */
        char help_opt[] = "--help";
        char *help_argv[3];
        cmd = find_command(cmds, n, argv[2]);
        if (cmd == NULL) {
            return tl_cli_usage_error(prog, "unknown command '%s'", argv[2]);
        }
        help_argv[0] = argv[2];
        help_argv[1] = help_opt;
        help_argv[2] = NULL;
        return cmd->run(2, help_argv);
    }
    cmd = find_command(cmds, n, word);
    if (cmd == NULL) {
        if (word[0] == '-') {
            return tl_cli_usage_error(prog, "unknown option '%s'", word);
        }
        return tl_cli_usage_error(prog, "unknown command '%s'", word);
    }
    return cmd->run(argc - 1, argv + 1);
}
