/* Test program: one side of a message-exactness run between two processes.
 *
 *   dc_msgs --offer|--answer [--count N] [--max-size BYTES] [--seed S]
 *           [--local-address ADDR]
 *
 * Signaling as strapto-cli peer (JSON lines, stdin/stdout). The offerer
 * opens a reliable ordered channel and sends N messages whose sizes (1 to
 * max-size) and bytes come from a PRNG seeded with S; every tenth is a
 * string message. The answerer regenerates the same sequence and checks
 * each message's type, size, bytes and order, then prints
 * {"type":"result","received":N,"errors":E} and closes. Exit 0 only when
 * all N arrived intact and in order.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../cli/sigio.h"

typedef struct {
    int offer;
    long count;
    size_t max_size;
    uint64_t seed;
    sig_session *sig;
    strapto_dc *dc;
    long next;          /* sender: next to send; receiver: next expected */
    long errors;
    int done, failed;
    uint8_t *buf;
    int wake[2];
} app;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Message i: its size, its type and its bytes. */
static size_t msg_size(app *a, long i) { return 1 + (size_t)(mix(a->seed ^ (uint64_t)i * 2654435761ULL) % a->max_size); }
static int msg_binary(long i) { return i % 10 != 0; }
static void msg_fill(app *a, long i, uint8_t *p, size_t n)
{
    uint64_t s = mix(a->seed + (uint64_t)i);
    if (!msg_binary(i)) { /* printable ASCII for string messages */
        for (size_t k = 0; k < n; k++) p[k] = (uint8_t)(32 + (mix(s + k / 8) >> (8 * (k % 8))) % 95);
        return;
    }
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t v = mix(s + k);
        memcpy(p + k, &v, 8);
    }
    uint64_t v = mix(s + k);
    memcpy(p + k, &v, n - k);
}

static void wake(app *a) { (void)!write(a->wake[1], "x", 1); }

static void pump(app *a)
{
    while (a->next < a->count && strapto_dc_buffered_amount(a->dc) < 4u * 1024 * 1024) {
        size_t n = msg_size(a, a->next);
        msg_fill(a, a->next, a->buf, n);
        int rc = strapto_dc_send(a->dc, a->buf, n, msg_binary(a->next));
        if (rc == STRAPTO_EAGAIN) return;
        if (rc < 0) {
            fprintf(stderr, "dc_msgs: send %ld failed: %s\n", a->next, strapto_strerror(rc));
            a->failed = 1;
            strapto_peer_close(sig_peer(a->sig));
            return;
        }
        a->next++;
    }
}

static void on_open(strapto_dc *dc, void *user)
{
    app *a = user;
    if (a->offer) {
        a->dc = dc;
        strapto_dc_set_buffered_amount_low_threshold(dc, 1024 * 1024);
        pump(a);
    }
}

static void on_message(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    app *a = user;
    if (a->offer) return;
    long i = a->next++;
    size_t want = msg_size(a, i);
    if (i >= a->count || len != want || binary != msg_binary(i)) {
        if (a->errors++ < 10)
            fprintf(stderr, "dc_msgs: message %ld: got %zu bytes (%s), want %zu (%s)\n", i, len,
                    binary ? "binary" : "string", want, msg_binary(i) ? "binary" : "string");
    } else {
        msg_fill(a, i, a->buf, want);
        if (memcmp(a->buf, data, len) && a->errors++ < 10) fprintf(stderr, "dc_msgs: message %ld: bytes differ\n", i);
    }
    if (a->next == a->count) {
        char line[128];
        snprintf(line, sizeof line, "{\"type\":\"result\",\"received\":%ld,\"errors\":%ld}", a->next, a->errors);
        sig_print_line(line);
        a->done = 1;
        strapto_peer_close(strapto_dc_peer(dc));
    }
}

static void on_low(strapto_dc *dc, void *user) { pump(user); }

static void on_close(strapto_dc *dc, void *user) {}

static const strapto_dc_callbacks dcbs = {on_open, on_message, on_close, on_low, NULL};

static void on_datachannel(strapto_peer *pc, strapto_dc *dc, void *user)
{
    strapto_dc_callbacks c = dcbs;
    c.user = user;
    strapto_dc_set_callbacks(dc, &c);
}

static void on_state(strapto_peer *pc, int state, void *user)
{
    app *a = user;
    if (state == STRAPTO_PEER_FAILED) a->failed = 1;
    if (state == STRAPTO_PEER_CLOSED) wake(a);
}

int main(int argc, char **argv)
{
    app a = {.count = 10000, .max_size = 256 * 1024, .seed = 1};
    const char *local = NULL;
    static const struct option opts[] = {
        {"offer", no_argument, 0, 'o'}, {"answer", no_argument, 0, 'a'},
        {"count", required_argument, 0, 'n'}, {"max-size", required_argument, 0, 'm'},
        {"seed", required_argument, 0, 's'}, {"local-address", required_argument, 0, 'L'},
        {0, 0, 0, 0}};
    int c, role = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a.offer = 1; role++; break;
        case 'a': a.offer = 0; role++; break;
        case 'n': a.count = strtol(optarg, NULL, 10); break;
        case 'm': a.max_size = strtoul(optarg, NULL, 10); break;
        case 's': a.seed = strtoull(optarg, NULL, 10); break;
        case 'L': local = optarg; break;
        default: return 2;
        }
    }
    if (role != 1 || a.count <= 0 || a.max_size == 0) {
        fprintf(stderr, "usage: dc_msgs --offer|--answer [--count N] [--max-size B] [--seed S]\n");
        return 2;
    }
    a.buf = malloc(a.max_size);
    if (!a.buf || pipe(a.wake) < 0) return 1;
    strapto_ctx_options copts;
    strapto_ctx_options_init(&copts);
    copts.threads = 1;
    strapto_ctx *ctx;
    if (strapto_ctx_new(&copts, &ctx) < 0) return 1;
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = local;
    strapto_peer_callbacks cbs = {NULL, on_state, on_datachannel, &a};
    if (sig_new(ctx, &cfg, a.offer, 1, &cbs, &a.sig) < 0) return 1;
    if (a.offer) {
        strapto_dc_init init;
        strapto_dc_init_default(&init);
        init.label = "msgs";
        strapto_dc_callbacks cc = dcbs;
        cc.user = &a;
        strapto_dc *dc;
        if (strapto_peer_create_dc(sig_peer(a.sig), &init, &cc, &dc) < 0) return 1;
    }
    if (sig_start(a.sig, stdin) < 0) return 1;
    char ch;
    while (read(a.wake[0], &ch, 1) < 0 && errno == EINTR) {}
    sig_free(a.sig);
    strapto_ctx_free(ctx);
    free(a.buf);
    close(a.wake[0]);
    close(a.wake[1]);
    if (a.offer) {
        fprintf(stderr, "dc_msgs: sent %ld of %ld\n", a.next, a.count);
        return a.failed || a.next != a.count ? 1 : 0;
    }
    fprintf(stderr, "dc_msgs: received %ld of %ld, %ld errors\n", a.next, a.count, a.errors);
    return a.failed || !a.done || a.errors ? 1 : 0;
}
