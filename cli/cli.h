/* strapto-cli: shared pieces of the subcommands. */
#ifndef STRAPTO_CLI_H
#define STRAPTO_CLI_H

#include <getopt.h>
#include <stdio.h>
#include "strapto/strapto.h"

/* One subcommand. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

int cmd_peer(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo_model(int argc, char **argv);

/* Build the effective argument list of a command: options from --config
 * FILE (lines "name = value" or "name" for flags, '#' comments), then from
 * STRAPTO_<NAME> environment variables (NAME upper-case, '-' as '_'), then
 * the command line, so that flags win. Only names in `opts` are taken from
 * the file and the environment. *out_argv is malloc'd (free with
 * cli_free_args). Returns 0, or -1 with a message on stderr. */
int cli_collect_args(const char *cmd, int argc, char **argv, const struct option *opts, int *out_argc,
                     char ***out_argv);
void cli_free_args(int argc, char **argv);

/* A positive decimal number no larger than max (no sign, no trailing text).
 * Returns 0 and sets *out, or -1. */
int cli_parse_count(const char *s, unsigned long long max, unsigned long long *out);

/* Apply --log-level NAME; returns 0 or -1 (message printed). */
int cli_set_log_level(const char *name);

#endif
