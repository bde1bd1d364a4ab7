/* strapto-cli version [--json] */
#include <string.h>
#include "cli.h"

int cmd_version(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: strapto-cli version [--json]\n");
            return 0;
        } else {
            fprintf(stderr, "strapto-cli version: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (json) printf("{\"version\":\"%s\"}\n", strapto_version());
    else printf("strapto-cli %s\n", strapto_version());
    return 0;
}
