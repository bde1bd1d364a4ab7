/* A data channel in 20 lines: two peers in one process, one message echoed.
 * Build: cc dc_echo.c $(pkg-config --cflags --libs strapto) */
#define _DEFAULT_SOURCE /* usleep */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <strapto/strapto.h>

static strapto_peer *a, *b;
static volatile int done;

static void trickle(strapto_peer *pc, const char *cand, const char *mid, int idx, void *other)
{
    strapto_peer_add_remote_candidate(*(strapto_peer **)other, cand, mid);
}
static void echo(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    strapto_dc_send(dc, data, len, binary); /* b: send it back */
}
static void got(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    printf("echoed: %.*s\n", (int)len, (const char *)data);
    done = 1;
}
static void on_open(strapto_dc *dc, void *user) { strapto_dc_send(dc, "hello", 5, 0); }
static void on_channel(strapto_peer *pc, strapto_dc *dc, void *user)
{
    strapto_dc_callbacks cb = {.on_message = echo};
    strapto_dc_set_callbacks(dc, &cb);
}

int main(void)
{
    strapto_ctx *ctx;
    if (strapto_ctx_new(NULL, &ctx) < 0) return 1;
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = "127.0.0.1";
    strapto_peer_callbacks ca = {.on_candidate = trickle, .user = &b};
    strapto_peer_callbacks cb = {.on_candidate = trickle, .on_datachannel = on_channel, .user = &a};
    strapto_peer_new(ctx, &cfg, &ca, &a);
    strapto_peer_new(ctx, &cfg, &cb, &b);
    strapto_dc_callbacks dcb = {.on_open = on_open, .on_message = got};
    strapto_dc *dc;
    strapto_peer_create_dc(a, NULL, &dcb, &dc);
    char *offer, *answer;
    strapto_peer_create_offer(a, &offer);
    strapto_peer_set_remote_description(b, "offer", offer);
    strapto_peer_create_answer(b, &answer);
    strapto_peer_set_remote_description(a, "answer", answer);
    strapto_free(offer);
    strapto_free(answer);
    for (int i = 0; i < 500 && !done; i++) usleep(10000);
    strapto_peer_free(a);
    strapto_peer_free(b);
    strapto_ctx_free(ctx);
    return done ? 0 : 1;
}
