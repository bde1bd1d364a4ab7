/* Embed the model stream server: run a model (argv after "--", default a
 * shell loop printing a line a second), serve it on 127.0.0.1 (port 0: any),
 * print the URL, and after N seconds (first argument, default 3) print the
 * /status document and stop. Usage: model_streamer [SECONDS [-- MODEL ARGS...]]
 * Build: cc model_streamer.c $(pkg-config --cflags --libs strapto) */
#define _DEFAULT_SOURCE /* sleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strapto/strapto.h>

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 3;
    const char *deflt[] = {"/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 1; done", NULL};
    const char *const *model = deflt;
    if (argc > 3 && !strcmp(argv[2], "--")) model = (const char *const *)argv + 3;

    strapto_ctx *ctx;
    if (strapto_ctx_new(NULL, &ctx) < 0) return 1;
    strapto_stream_server_config cfg;
    strapto_stream_server_config_init(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.model_argv = model;
    cfg.restart = STRAPTO_RESTART_ON_FAILURE;
    strapto_stream_server *srv;
    int rc = strapto_stream_server_new(ctx, &cfg, &srv);
    if (rc < 0) {
        fprintf(stderr, "stream server: %s\n", strapto_strerror(rc));
        strapto_ctx_free(ctx);
        return 1;
    }
    printf("serving on http://127.0.0.1:%d/\n", strapto_stream_server_port(srv));
    fflush(stdout);
    sleep((unsigned)seconds);
    char *status = NULL;
    if (strapto_stream_server_status(srv, &status) == 0) printf("%s\n", status);
    strapto_free(status);
    strapto_stream_server_free(srv);
    strapto_ctx_free(ctx);
    return 0;
}
