/* Benchmark program: one side of a libstrapto data-channel benchmark, or a
 * whole idle-connection measurement in one process. Driven by bench/dc.
 *
 *   dc_bench --offer|--answer --mode open|tp|small|rtt [options]
 *   dc_bench --mode idle [--pairs N]
 *
 * Two-process modes signal as `strapto-cli peer` does (JSON lines on
 * stdin/stdout, trickle ICE, cli/sigio.c). The offerer opens one reliable
 * ordered channel "bench" and is the sender; the answerer is the receiver.
 * Each side prints one {"type":"result",...} line on stdout when done.
 *
 *   open   offerer: time from creating the offer to the channel's on_open.
 *   tp     offerer sends --size byte binary messages (default 65536) keeping
 *          bufferedAmount between --low and --high (on_buffered_amount_low
 *          refills) until --bytes were sent or --seconds passed, then a
 *          string "end"; the receiver answers "done:<messages>:<bytes>" once
 *          "end" arrived (ordered: every byte before it has). The sender's
 *          clock runs from the first send to "done".
 *   small  the same with --size 100 messages; the receiver's rate is its
 *          message count over the time from its first message to "end".
 *   rtt    offerer sends a --size byte message, the answerer echoes it, the
 *          next one goes out when the echo is back; --count samples after
 *          --warmup unmeasured ones.
 *   idle   --pairs pairs of peers (2 x pairs peer connections) in this
 *          process, signaled directly, each with one open channel; VmRSS
 *          before and after, and the growth per peer connection.
 *
 * Every result carries the process's peak RSS (VmHWM, KiB).
 */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../cli/sigio.h"

enum { M_OPEN, M_TP, M_SMALL, M_RTT, M_IDLE };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

typedef struct {
    int offer, mode;
    size_t size, low, high;
    long long bytes_target;
    double seconds;
    long count, warmup;
    sig_session *sig;
    strapto_dc *dc;
    uint8_t *buf;
    int wake[2];
    atomic_int woke;
    int failed;
    /* timing */
    double t_offer, t_open, t_start, t_first, t_end, t_done;
    /* sender */
    long long sent_bytes;
    long sent_msgs;
    int sending_done, end_sent;
    /* receiver */
    long long recv_bytes;
    long recv_msgs;
    /* rtt */
    double t_ping;
    double *samples;
    long n_samples, pings;
} app;

static void wake(app *a)
{
    if (atomic_exchange(&a->woke, 1) == 0) (void)!write(a->wake[1], "x", 1);
}

static void finish_sender(app *a)
{
    char line[512];
    long hwm = proc_status_kib("VmHWM");
    if (a->mode == M_OPEN) {
        snprintf(line, sizeof line, "{\"type\":\"result\",\"role\":\"sender\",\"open_ms\":%.3f,\"hwm_kib\":%ld}",
                 (a->t_open - a->t_offer) * 1e3, hwm);
    } else if (a->mode == M_RTT) {
        snprintf(line, sizeof line, "{\"type\":\"result\",\"role\":\"sender\",\"samples\":%ld,\"hwm_kib\":%ld}",
                 a->n_samples, hwm);
    } else {
        double el = a->t_done - a->t_start;
        snprintf(line, sizeof line,
                 "{\"type\":\"result\",\"role\":\"sender\",\"bytes\":%lld,\"messages\":%ld,\"seconds\":%.6f,"
                 "\"MBps\":%.3f,\"msgs_per_s\":%.1f,\"open_ms\":%.3f,\"hwm_kib\":%ld,\"anon_kib\":%ld,"
                 "\"file_kib\":%ld}",
                 a->sent_bytes, a->sent_msgs, el, (double)a->sent_bytes / el / 1e6, (double)a->sent_msgs / el,
                 (a->t_open - a->t_offer) * 1e3, hwm, proc_status_kib("RssAnon"), proc_status_kib("RssFile"));
    }
    sig_print_line(line);
    if (a->mode == M_RTT && a->n_samples) { /* the samples, one line, microseconds */
        size_t cap = (size_t)a->n_samples * 12 + 64;
        char *s = malloc(cap);
        if (s) {
            size_t o = (size_t)snprintf(s, cap, "{\"type\":\"rtt\",\"us\":[");
            for (long i = 0; i < a->n_samples; i++)
                o += (size_t)snprintf(s + o, cap - o, "%s%.1f", i ? "," : "", a->samples[i] * 1e6);
            snprintf(s + o, cap - o, "]}");
            sig_print_line(s);
            free(s);
        }
    }
    strapto_peer_close(sig_peer(a->sig));
}

static void send_end(app *a)
{
    if (a->end_sent) return;
    int rc = strapto_dc_send(a->dc, "end", 3, 0);
    if (rc == STRAPTO_EAGAIN) return; /* queue full: retried from on_low */
    if (rc < 0) {
        fprintf(stderr, "dc_bench: send end: %s\n", strapto_strerror(rc));
        a->failed = 1;
        strapto_peer_close(sig_peer(a->sig));
        return;
    }
    a->end_sent = 1;
}

static void pump(app *a)
{
    if (a->sending_done) {
        send_end(a);
        return;
    }
    unsigned k = 0;
    while (strapto_dc_buffered_amount(a->dc) < a->high) {
        if (a->sent_bytes >= a->bytes_target || ((k++ & 63) == 0 && now_s() - a->t_start >= a->seconds)) {
            a->sending_done = 1;
            send_end(a);
            return;
        }
        int rc = strapto_dc_send(a->dc, a->buf, a->size, 1);
        if (rc == STRAPTO_EAGAIN) return;
        if (rc < 0) {
            fprintf(stderr, "dc_bench: send: %s\n", strapto_strerror(rc));
            a->failed = 1;
            strapto_peer_close(sig_peer(a->sig));
            return;
        }
        a->sent_bytes += (long long)a->size;
        a->sent_msgs++;
    }
}

static void send_ping(app *a)
{
    memcpy(a->buf, &a->pings, sizeof a->pings);
    a->t_ping = now_s();
    int rc = strapto_dc_send(a->dc, a->buf, a->size, 1);
    if (rc < 0) {
        fprintf(stderr, "dc_bench: ping: %s\n", strapto_strerror(rc));
        a->failed = 1;
        strapto_peer_close(sig_peer(a->sig));
    }
}

static void on_open(strapto_dc *dc, void *user)
{
    app *a = user;
    if (!a->offer) return;
    a->t_open = now_s();
    a->dc = dc;
    switch (a->mode) {
    case M_OPEN:
        finish_sender(a);
        break;
    case M_TP:
    case M_SMALL:
        strapto_dc_set_buffered_amount_low_threshold(dc, a->low);
        a->t_start = now_s();
        pump(a);
        break;
    case M_RTT:
        send_ping(a);
        break;
    }
}

static void on_message(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    app *a = user;
    if (a->offer) {
        if (a->mode == M_RTT) {
            double t = now_s();
            if (a->pings >= a->warmup) a->samples[a->n_samples++] = t - a->t_ping;
            a->pings++;
            if (a->n_samples >= a->count) finish_sender(a);
            else send_ping(a);
            return;
        }
        if (!binary && len >= 5 && !memcmp(data, "done:", 5)) {
            a->t_done = now_s();
            finish_sender(a);
        }
        return;
    }
    /* receiver */
    if (a->mode == M_RTT) {
        if (binary) strapto_dc_send(dc, data, len, 1);
        return;
    }
    if (binary) {
        if (!a->recv_msgs) a->t_first = now_s();
        a->recv_msgs++;
        a->recv_bytes += (long long)len;
        return;
    }
    if (len == 3 && !memcmp(data, "end", 3)) {
        a->t_end = now_s();
        char reply[96];
        int n = snprintf(reply, sizeof reply, "done:%ld:%lld", a->recv_msgs, a->recv_bytes);
        strapto_dc_send(dc, reply, (size_t)n, 0);
        double el = a->t_end - a->t_first;
        char line[512];
        snprintf(line, sizeof line,
                 "{\"type\":\"result\",\"role\":\"receiver\",\"bytes\":%lld,\"messages\":%ld,\"seconds\":%.6f,"
                 "\"MBps\":%.3f,\"msgs_per_s\":%.1f,\"hwm_kib\":%ld,\"anon_kib\":%ld,\"file_kib\":%ld}",
                 a->recv_bytes, a->recv_msgs, el, el > 0 ? (double)a->recv_bytes / el / 1e6 : 0.0,
                 el > 0 ? (double)a->recv_msgs / el : 0.0, proc_status_kib("VmHWM"), proc_status_kib("RssAnon"),
                 proc_status_kib("RssFile"));
        sig_print_line(line);
    }
}

static void on_low(strapto_dc *dc, void *user)
{
    app *a = user;
    if (a->offer && (a->mode == M_TP || a->mode == M_SMALL)) pump(a);
}

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
    if (state == STRAPTO_PEER_FAILED || state == STRAPTO_PEER_CLOSED || state == STRAPTO_PEER_DISCONNECTED)
        wake(a);
}

/* ---- idle: pairs in one process ---- */

typedef struct ipeer {
    strapto_peer *pc;
    struct ipeer *other;
    atomic_int state, opens;
} ipeer;

static void i_open(strapto_dc *dc, void *u) { atomic_fetch_add(&((ipeer *)u)->opens, 1); }
static void i_msg(strapto_dc *dc, const void *d, size_t l, int b, void *u) {}
static void i_cand(strapto_peer *pc, const char *cand, const char *mid, int idx, void *u)
{
    ipeer *p = u;
    strapto_peer_add_remote_candidate(p->other->pc, cand, mid);
}
static void i_state(strapto_peer *pc, int st, void *u) { atomic_store(&((ipeer *)u)->state, st); }
static void i_dc(strapto_peer *pc, strapto_dc *dc, void *u)
{
    strapto_dc_callbacks c = {i_open, i_msg, NULL, NULL, u};
    strapto_dc_set_callbacks(dc, &c);
    atomic_fetch_add(&((ipeer *)u)->opens, 1);
}

static int pair_start(strapto_ctx *ctx, ipeer *a, ipeer *b)
{
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = "127.0.0.1";
    a->other = b;
    b->other = a;
    strapto_peer_callbacks ca = {i_cand, i_state, i_dc, a}, cb = {i_cand, i_state, i_dc, b};
    if (strapto_peer_new(ctx, &cfg, &ca, &a->pc) < 0 || strapto_peer_new(ctx, &cfg, &cb, &b->pc) < 0) return -1;
    strapto_dc_init init;
    strapto_dc_init_default(&init);
    init.label = "idle";
    strapto_dc_callbacks c = {i_open, i_msg, NULL, NULL, a};
    strapto_dc *dc;
    if (strapto_peer_create_dc(a->pc, &init, &c, &dc) < 0) return -1;
    char *offer = NULL, *answer = NULL;
    int rc = strapto_peer_create_offer(a->pc, &offer);
    if (rc == 0) rc = strapto_peer_set_remote_description(b->pc, "offer", offer);
    if (rc == 0) rc = strapto_peer_create_answer(b->pc, &answer);
    if (rc == 0) rc = strapto_peer_set_remote_description(a->pc, "answer", answer);
    strapto_free(offer);
    strapto_free(answer);
    return rc;
}

static int pair_ready(ipeer *a, ipeer *b)
{
    return atomic_load(&a->state) == STRAPTO_PEER_CONNECTED && atomic_load(&b->state) == STRAPTO_PEER_CONNECTED &&
           atomic_load(&a->opens) >= 1 && atomic_load(&b->opens) >= 1;
}

static int run_idle(int pairs, int batch)
{
    strapto_ctx_options copts;
    strapto_ctx_options_init(&copts);
    copts.threads = 1;
    strapto_ctx *ctx;
    if (strapto_ctx_new(&copts, &ctx) < 0) return 1;
    ipeer *p = calloc((size_t)(pairs + 1) * 2, sizeof *p);
    if (!p) return 1;
    /* one warm-up pair: one-time costs (usrsctp, OpenSSL, libnice) stay out */
    if (pair_start(ctx, &p[0], &p[1]) < 0) return 1;
    for (int i = 0; i < 5000 && !pair_ready(&p[0], &p[1]); i++) usleep(1000);
    if (!pair_ready(&p[0], &p[1])) {
        fprintf(stderr, "dc_bench idle: warm-up pair did not connect\n");
        return 1;
    }
    usleep(300000);
    long rss0 = proc_status_kib("VmRSS");
    double t0 = now_s();
    int ok = 0;
    for (int base = 1; base <= pairs; base += batch) {
        int end = base + batch - 1 > pairs ? pairs : base + batch - 1;
        for (int i = base; i <= end; i++)
            if (pair_start(ctx, &p[2 * i], &p[2 * i + 1]) < 0) return 1;
        for (int w = 0; w < 10000; w++) {
            int all = 1;
            for (int i = base; i <= end && all; i++) all = pair_ready(&p[2 * i], &p[2 * i + 1]);
            if (all) break;
            usleep(1000);
        }
    }
    double t_conn = now_s() - t0;
    usleep(1000000); /* idle */
    for (int i = 1; i <= pairs; i++) ok += pair_ready(&p[2 * i], &p[2 * i + 1]);
    long rss1 = proc_status_kib("VmRSS");
    char line[512];
    snprintf(line, sizeof line,
             "{\"type\":\"result\",\"role\":\"idle\",\"pairs\":%d,\"peer_connections\":%d,\"connected_pairs\":%d,"
             "\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,\"kib_per_pc\":%.1f,\"connect_s\":%.3f,\"hwm_kib\":%ld}",
             pairs, 2 * pairs, ok, rss0, rss1, (double)(rss1 - rss0) / (2.0 * pairs), t_conn,
             proc_status_kib("VmHWM"));
    sig_print_line(line);
    for (int i = 0; i < 2 * (pairs + 1); i++) strapto_peer_free(p[i].pc);
    strapto_ctx_free(ctx);
    free(p);
    return ok == pairs ? 0 : 1;
}

int main(int argc, char **argv)
{
    app a = {.mode = -1, .size = 0, .low = 1u << 20, .high = 4u << 20, .bytes_target = 256ll << 20,
             .seconds = 20, .count = 5000, .warmup = 200};
    int pairs = 100, batch = 10;
    const char *local = "127.0.0.1";
    static const struct option opts[] = {
        {"offer", no_argument, 0, 'o'},           {"answer", no_argument, 0, 'a'},
        {"mode", required_argument, 0, 'M'},      {"size", required_argument, 0, 's'},
        {"low", required_argument, 0, 'l'},       {"high", required_argument, 0, 'h'},
        {"bytes", required_argument, 0, 'b'},     {"seconds", required_argument, 0, 't'},
        {"count", required_argument, 0, 'n'},     {"warmup", required_argument, 0, 'w'},
        {"pairs", required_argument, 0, 'p'},     {"batch", required_argument, 0, 'B'},
        {"local-address", required_argument, 0, 'L'}, {0, 0, 0, 0}};
    int c, role = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a.offer = 1; role++; break;
        case 'a': a.offer = 0; role++; break;
        case 'M':
            a.mode = !strcmp(optarg, "open") ? M_OPEN : !strcmp(optarg, "tp") ? M_TP : !strcmp(optarg, "small") ? M_SMALL
                   : !strcmp(optarg, "rtt") ? M_RTT : !strcmp(optarg, "idle") ? M_IDLE : -1;
            break;
        case 's': a.size = strtoul(optarg, NULL, 10); break;
        case 'l': a.low = strtoul(optarg, NULL, 10); break;
        case 'h': a.high = strtoul(optarg, NULL, 10); break;
        case 'b': a.bytes_target = strtoll(optarg, NULL, 10); break;
        case 't': a.seconds = strtod(optarg, NULL); break;
        case 'n': a.count = strtol(optarg, NULL, 10); break;
        case 'w': a.warmup = strtol(optarg, NULL, 10); break;
        case 'p': pairs = atoi(optarg); break;
        case 'B': batch = atoi(optarg); break;
        case 'L': local = optarg; break;
        default: return 2;
        }
    }
    if (a.mode == M_IDLE) return run_idle(pairs < 1 ? 1 : pairs, batch < 1 ? 1 : batch);
    if (role != 1 || a.mode < 0) {
        fprintf(stderr, "usage: dc_bench --offer|--answer --mode open|tp|small|rtt [--size B] [--low B] [--high B]\n"
                        "                [--bytes N] [--seconds S] [--count N] [--warmup N]\n"
                        "       dc_bench --mode idle [--pairs N] [--batch N]\n");
        return 2;
    }
    if (!a.size) a.size = a.mode == M_TP ? 65536 : 100;
    if (a.size < sizeof(long)) a.size = sizeof(long);
    a.buf = calloc(1, a.size);
    a.samples = calloc((size_t)a.count + 1, sizeof *a.samples);
    if (!a.buf || !a.samples || pipe(a.wake) < 0) return 1;
    for (size_t i = 0; i < a.size; i++) a.buf[i] = (uint8_t)(i * 31 + 7);

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
        init.label = "bench";
        strapto_dc_callbacks cc = dcbs;
        cc.user = &a;
        strapto_dc *dc;
        if (strapto_peer_create_dc(sig_peer(a.sig), &init, &cc, &dc) < 0) return 1;
    }
    a.t_offer = now_s();
    if (sig_start(a.sig, stdin) < 0) return 1;
    char ch;
    while (read(a.wake[0], &ch, 1) < 0 && errno == EINTR) {}
    sig_free(a.sig);
    strapto_ctx_free(ctx);
    free(a.buf);
    free(a.samples);
    return a.failed ? 1 : 0;
}
