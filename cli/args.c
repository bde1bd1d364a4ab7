/* Options from a config file and the environment, before the command line. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct {
    char **v;
    int n, cap;
} argv_buf;

static int push(argv_buf *b, const char *s)
{
    if (b->n + 2 > b->cap) {
        int cap = b->cap ? b->cap * 2 : 16;
        char **v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n] = strdup(s);
    if (!b->v[b->n]) return -1;
    b->n++;
    b->v[b->n] = NULL;
    return 0;
}

static const struct option *find_opt(const struct option *opts, const char *name)
{
    for (; opts->name; opts++)
        if (!strcmp(opts->name, name)) return opts;
    return NULL;
}

static int push_opt(argv_buf *b, const struct option *o, const char *value, const char *where)
{
    char flag[128];
    snprintf(flag, sizeof flag, "--%s", o->name);
    if (o->has_arg == no_argument) {
        if (value && *value && strcmp(value, "1") && strcasecmp(value, "true") && strcasecmp(value, "yes")) {
            if (!strcmp(value, "0") || !strcasecmp(value, "false") || !strcasecmp(value, "no")) return 0;
            fprintf(stderr, "strapto-cli: %s: '%s' is a flag; use 1/true or 0/false\n", where, o->name);
            return -1;
        }
        return push(b, flag);
    }
    if (!value || !*value) {
        fprintf(stderr, "strapto-cli: %s: option '%s' needs a value\n", where, o->name);
        return -1;
    }
    return push(b, flag) < 0 || push(b, value) < 0 ? -1 : 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int load_config(argv_buf *b, const char *path, const struct option *opts)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "strapto-cli: cannot open config file %s\n", path);
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';' || *s == '[') continue;
        char *eq = strchr(s, '=');
        char *value = NULL;
        if (eq) {
            *eq = 0;
            value = trim(eq + 1);
            size_t vl = strlen(value);
            if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
                value[vl - 1] = 0;
                value++;
            }
        }
        char *name = trim(s);
        for (char *p = name; *p; p++)
            if (*p == '_') *p = '-';
        const struct option *o = find_opt(opts, name);
        char where[600];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!o || !strcmp(name, "config")) {
            fprintf(stderr, "strapto-cli: %s: unknown option '%s'\n", where, name);
            rc = -1;
            break;
        }
        rc = push_opt(b, o, value, where);
    }
    fclose(f);
    return rc;
}

int cli_collect_args(const char *cmd, int argc, char **argv, const struct option *opts, int *out_argc,
                     char ***out_argv)
{
    argv_buf b = {0};
    if (push(&b, argv[0]) < 0) return -1;
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) config = argv[i] + 9;
    }
    if (!config) config = getenv("STRAPTO_CONFIG");
    if (config && load_config(&b, config, opts) < 0) goto fail;
    for (const struct option *o = opts; o->name; o++) {
        if (!strcmp(o->name, "config") || !strcmp(o->name, "help")) continue;
        char env[160] = "STRAPTO_";
        size_t k = strlen(env);
        for (const char *p = o->name; *p && k < sizeof env - 1; p++)
            env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = 0;
        const char *v = getenv(env);
        if (v && push_opt(&b, o, v, env) < 0) goto fail;
    }
    for (int i = 1; i < argc; i++)
        if (push(&b, argv[i]) < 0) goto fail;
    *out_argc = b.n;
    *out_argv = b.v;
    (void)cmd;
    return 0;
fail:
    cli_free_args(b.n, b.v);
    return -1;
}

void cli_free_args(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

int cli_parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max) return -1;
    *out = v;
    return 0;
}

int cli_set_log_level(const char *name)
{
    int l = strapto_log_level_parse(name);
    if (l < 0) {
        fprintf(stderr, "strapto-cli: bad log level '%s' (error|warn|info|debug|trace)\n", name);
        return -1;
    }
    strapto_log_set_level(l);
    return 0;
}
