/* strapto-cli: a thin command-line front end over libstrapto's public API. */
#include <string.h>
#include "cli.h"

static const cli_command commands[] = {
    {"serve", "the model stream server: a model process's output to browsers and programs", cmd_serve},
    {"events", "the event hub alone: stdin JSON lines to WebSocket clients, their commands to stdout", cmd_events},
    {"peer", "a raw WebRTC peer for scripts and interop tests (JSON-lines signaling)", cmd_peer},
    {"version", "print the version", cmd_version},
    {"demo-model", NULL, cmd_demo_model}, /* hidden: the built-in model of `serve` */
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: strapto-cli <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].summary) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'strapto-cli <command> --help' describes a command; see strapto-cli(1).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(1, argv + 1);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "strapto-cli: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
