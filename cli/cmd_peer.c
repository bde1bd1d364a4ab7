/* strapto-cli peer: a raw WebRTC peer for scripts and interop tests.
 *
 * strapto-cli peer --offer|--answer [--echo] [--send FILE] [--recv FILE]
 *   [--label NAME] [--no-trickle] [--local-address ADDR]... [--stun URI]
 *   [--turn URI] [--channel SPEC]... [--chunk BYTES] [--max-message-size BYTES]
 *   [--restart-ice-after BYTES] [--log-level LEVEL] [--config FILE]
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "sigio.h"

#define MAX_CHANNELS 32
#define SEND_HIGH_WATER (4 * 1024 * 1024)
#define SEND_LOW_WATER (1024 * 1024)

typedef struct {
    int offer, answer, echo, trickle, relay_only;
    const char *send_path, *recv_path, *label, *stun, *turn;
    char local[1024];
    const char *channels[MAX_CHANNELS];
    int n_channels;
    size_t chunk, max_message;
    long long restart_after;
} peer_opts;

typedef struct {
    peer_opts o;
    sig_session *sig;
    strapto_peer *pc;
    FILE *send_f, *recv_f;
    strapto_dc *send_dc;
    int send_done, send_failed;
    unsigned char *chunk_buf;
    size_t chunk;
    int restarted;
    int failed;
    int wake[2];
    /* counters (loop thread) */
    unsigned long long msgs_in, bytes_in, msgs_out, bytes_out, echoed;
} peer_app;

static peer_app *g_app;

static void wake_main(peer_app *a) { (void)!write(a->wake[1], "x", 1); }

static void on_signal(int sig)
{
    if (g_app) (void)!write(g_app->wake[1], "s", 1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: strapto-cli peer --offer|--answer [options]\n"
            "Signaling is JSON lines: the remote side on stdin, the local side on stdout.\n"
            "  --offer / --answer          role; --offer creates a channel labelled NAME\n"
            "  --echo                      send every message back on its channel, same type\n"
            "  --send FILE                 send FILE on the NAME channel, then close it\n"
            "  --recv FILE                 write what arrives on the NAME channel to FILE\n"
            "  --label NAME                channel label (default strapto)\n"
            "  --no-trickle                send one complete SDP after gathering\n"
            "  --local-address ADDR        an address or interface ICE may use (repeatable)\n"
            "  --stun URI / --turn URI     stun:HOST[:PORT], turn:USER:PASS@HOST[:PORT][?transport=udp|tcp]\n"
            "  --relay-only                use TURN relay candidates only (needs --turn)\n"
            "  --channel SPEC              another channel: LABEL[,unordered][,max-retransmits=N]\n"
            "                              [,max-packet-life-time=MS][,protocol=P][,id=N (negotiated)]\n"
            "  --chunk BYTES               message size for --send (default 65536, capped by the remote)\n"
            "  --max-message-size BYTES    what we accept (default 262144)\n"
            "  --restart-ice-after BYTES   offerer: restart ICE once after BYTES sent or received\n"
            "  --log-level LEVEL           error|warn|info|debug|trace (logs go to stderr)\n"
            "  --config FILE               options as 'name = value' lines; STRAPTO_<NAME> env too\n"
            "At exit a {\"type\":\"summary\",...} line reports the message counts.\n"
            "Exit status: 0 when the connection closed normally, 1 on failure, 2 on bad usage.\n");
}

/* ---- sending a file ---- */

static void pump_send(peer_app *a)
{
    if (!a->send_dc || a->send_done || a->send_failed) return;
    while (strapto_dc_buffered_amount(a->send_dc) < SEND_HIGH_WATER) {
        size_t n = fread(a->chunk_buf, 1, a->chunk, a->send_f);
        if (n == 0) {
            if (ferror(a->send_f)) {
                strapto_log(STRAPTO_LOG_ERROR, "cli", "reading %s failed", a->o.send_path);
                a->send_failed = 1;
            } else {
                a->send_done = 1;
                strapto_log(STRAPTO_LOG_INFO, "cli", "file sent (%llu messages); closing the channel", a->msgs_out);
            }
            strapto_dc_close(a->send_dc);
            return;
        }
        int rc = strapto_dc_send(a->send_dc, a->chunk_buf, n, 1);
        if (rc == STRAPTO_EAGAIN) { /* queue full: put the chunk back, wait for low water */
            fseek(a->send_f, -(long)n, SEEK_CUR);
            return;
        }
        if (rc < 0) {
            strapto_log(STRAPTO_LOG_ERROR, "cli", "send failed: %s", strapto_strerror(rc));
            a->send_failed = 1;
            strapto_dc_close(a->send_dc);
            return;
        }
        a->msgs_out++;
        a->bytes_out += n;
        if (a->o.restart_after > 0 && !a->restarted && a->o.offer && a->bytes_out >= (unsigned long long)a->o.restart_after) {
            a->restarted = 1;
            strapto_log(STRAPTO_LOG_INFO, "cli", "restarting ICE after %llu bytes", a->bytes_out);
            sig_restart_ice(a->sig);
        }
    }
}

/* ---- channel callbacks (loop thread) ---- */

static void dc_open(strapto_dc *dc, void *user)
{
    peer_app *a = user;
    strapto_log(STRAPTO_LOG_INFO, "cli", "channel %d '%s' open", strapto_dc_id(dc), strapto_dc_label(dc));
    if (a->send_f && !a->send_dc && !strcmp(strapto_dc_label(dc), a->o.label)) {
        a->send_dc = strapto_dc_ref(dc);
        size_t max = strapto_peer_max_message_size(a->pc);
        a->chunk = a->o.chunk < max ? a->o.chunk : max;
        a->chunk_buf = malloc(a->chunk);
        if (!a->chunk_buf) {
            a->send_failed = 1;
            return;
        }
        strapto_dc_set_buffered_amount_low_threshold(dc, SEND_LOW_WATER);
        pump_send(a);
    }
}

static void dc_message(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    peer_app *a = user;
    a->msgs_in++;
    a->bytes_in += len;
    if (a->recv_f && !strcmp(strapto_dc_label(dc), a->o.label)) {
        if (len && fwrite(data, 1, len, a->recv_f) != len) {
            strapto_log(STRAPTO_LOG_ERROR, "cli", "writing %s failed", a->o.recv_path);
            a->failed = 1;
            strapto_peer_close(a->pc);
        }
    }
    if (a->o.echo) {
        int rc = strapto_dc_send(dc, data, len, binary);
        if (rc < 0) strapto_log(STRAPTO_LOG_WARN, "cli", "echo failed: %s", strapto_strerror(rc));
        else a->echoed++;
    }
    if (a->o.restart_after > 0 && !a->restarted && a->o.offer && a->bytes_in >= (unsigned long long)a->o.restart_after) {
        a->restarted = 1;
        strapto_log(STRAPTO_LOG_INFO, "cli", "restarting ICE after %llu bytes received", a->bytes_in);
        sig_restart_ice(a->sig);
    }
}

static void dc_close(strapto_dc *dc, void *user)
{
    peer_app *a = user;
    const char *label = strapto_dc_label(dc);
    strapto_log(STRAPTO_LOG_INFO, "cli", "channel %d '%s' closed", strapto_dc_id(dc), label);
    int is_main = !strcmp(label, a->o.label);
    if (is_main && (a->send_f || a->recv_f)) strapto_peer_close(a->pc); /* its job is done */
}

static void dc_low(strapto_dc *dc, void *user) { pump_send(user); }

static const strapto_dc_callbacks dc_cbs_template = {dc_open, dc_message, dc_close, dc_low, NULL};

static void on_datachannel(strapto_peer *pc, strapto_dc *dc, void *user)
{
    strapto_dc_callbacks c = dc_cbs_template;
    c.user = user;
    strapto_dc_set_callbacks(dc, &c);
    strapto_log(STRAPTO_LOG_INFO, "cli", "remote opened channel %d '%s' (ordered %d, max-retransmits %d, "
                "max-packet-life-time %d)", strapto_dc_id(dc), strapto_dc_label(dc), strapto_dc_ordered(dc),
                strapto_dc_max_retransmits(dc), strapto_dc_max_packet_life_time(dc));
}

static void on_state(strapto_peer *pc, int state, void *user)
{
    peer_app *a = user;
    strapto_log(STRAPTO_LOG_INFO, "cli", "peer %s", strapto_peer_state_name(state));
    if (state == STRAPTO_PEER_FAILED) a->failed = 1;
    if (state == STRAPTO_PEER_CLOSED) wake_main(a);
}

/* ---- options ---- */

static int parse_size(const char *s, size_t *out)
{
    unsigned long long v;
    if (cli_parse_count(s, 1ULL << 40, &v) < 0) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_channel(const char *spec, strapto_dc_init *init, char *label, size_t label_len, char *proto,
                         size_t proto_len)
{
    strapto_dc_init_default(init);
    char buf[512];
    if (strlen(spec) >= sizeof buf) return -1;
    strcpy(buf, spec);
    char *save = NULL;
    char *tok = strtok_r(buf, ",", &save);
    if (!tok || strlen(tok) >= label_len) return -1;
    strcpy(label, tok);
    init->label = label;
    proto[0] = 0;
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(tok, '=');
        long v = eq ? strtol(eq + 1, NULL, 10) : 0;
        if (!strcmp(tok, "unordered")) init->ordered = 0;
        else if (!strcmp(tok, "ordered")) init->ordered = 1;
        else if (!strncmp(tok, "max-retransmits=", 16) && v >= 0 && v < 65536) init->max_retransmits = (int)v;
        else if (!strncmp(tok, "max-packet-life-time=", 21) && v >= 0 && v < 65536) init->max_packet_life_time = (int)v;
        else if (!strncmp(tok, "id=", 3) && v >= 0 && v < 1024) { init->id = (int)v; init->negotiated = 1; }
        else if (!strncmp(tok, "protocol=", 9) && strlen(tok + 9) < proto_len) { strcpy(proto, tok + 9); init->protocol = proto; }
        else return -1;
    }
    return 0;
}

static const struct option long_opts[] = {
    {"offer", no_argument, 0, 'o'},
    {"answer", no_argument, 0, 'a'},
    {"echo", no_argument, 0, 'e'},
    {"send", required_argument, 0, 's'},
    {"recv", required_argument, 0, 'r'},
    {"label", required_argument, 0, 'l'},
    {"no-trickle", no_argument, 0, 'T'},
    {"local-address", required_argument, 0, 'L'},
    {"stun", required_argument, 0, 'S'},
    {"turn", required_argument, 0, 'U'},
    {"relay-only", no_argument, 0, 'Y'},
    {"channel", required_argument, 0, 'c'},
    {"chunk", required_argument, 0, 'k'},
    {"max-message-size", required_argument, 0, 'm'},
    {"restart-ice-after", required_argument, 0, 'R'},
    {"log-level", required_argument, 0, 'v'},
    {"config", required_argument, 0, 'C'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static int parse_opts(int argc, char **argv, peer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->trickle = 1;
    o->label = "strapto";
    o->chunk = 65536;
    int c;
    size_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o': o->offer = 1; break;
        case 'a': o->answer = 1; break;
        case 'e': o->echo = 1; break;
        case 's': o->send_path = optarg; break;
        case 'r': o->recv_path = optarg; break;
        case 'l': o->label = optarg; break;
        case 'T': o->trickle = 0; break;
        case 'L':
            if (strlen(o->local) + strlen(optarg) + 2 > sizeof o->local) {
                fprintf(stderr, "strapto-cli peer: too many local addresses\n");
                return 2;
            }
            if (o->local[0]) strcat(o->local, ",");
            strcat(o->local, optarg);
            break;
        case 'S': o->stun = optarg; break;
        case 'U': o->turn = optarg; break;
        case 'Y': o->relay_only = 1; break;
        case 'c':
            if (o->n_channels == MAX_CHANNELS) {
                fprintf(stderr, "strapto-cli peer: at most %d --channel options\n", MAX_CHANNELS);
                return 2;
            }
            o->channels[o->n_channels++] = optarg;
            break;
        case 'k':
            if (parse_size(optarg, &o->chunk) < 0) goto bad;
            break;
        case 'm':
            if (parse_size(optarg, &o->max_message) < 0) goto bad;
            break;
        case 'R':
            if (parse_size(optarg, &v) < 0) goto bad;
            o->restart_after = (long long)v;
            break;
        case 'v':
            if (cli_set_log_level(optarg) < 0) return 2;
            break;
        case 'C': break; /* read by cli_collect_args */
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "strapto-cli peer: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->offer == o->answer) {
        fprintf(stderr, "strapto-cli peer: give exactly one of --offer and --answer\n");
        return 2;
    }
    return 0;
bad:
    fprintf(stderr, "strapto-cli peer: bad number '%s'\n", optarg);
    return 2;
}

static int run(peer_app *a)
{
    peer_opts *o = &a->o;
    if (o->send_path && !(a->send_f = fopen(o->send_path, "rb"))) {
        fprintf(stderr, "strapto-cli peer: cannot open %s: %s\n", o->send_path, strerror(errno));
        return 2;
    }
    if (o->recv_path && !(a->recv_f = fopen(o->recv_path, "wb"))) {
        fprintf(stderr, "strapto-cli peer: cannot create %s: %s\n", o->recv_path, strerror(errno));
        return 2;
    }
    strapto_ctx_options copts;
    strapto_ctx_options_init(&copts);
    copts.threads = 1;
    strapto_ctx *ctx = NULL;
    int rc = strapto_ctx_new(&copts, &ctx);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli peer: %s\n", strapto_strerror(rc));
        return 1;
    }
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = o->local[0] ? o->local : NULL;
    cfg.stun_servers = o->stun;
    cfg.turn_servers = o->turn;
    cfg.max_message_size = o->max_message;
    cfg.relay_only = o->relay_only;
    strapto_peer_callbacks app = {NULL, on_state, on_datachannel, a};
    rc = sig_new(ctx, &cfg, o->offer, o->trickle, &app, &a->sig);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli peer: cannot create the peer: %s\n", strapto_strerror(rc));
        strapto_ctx_free(ctx);
        return 2;
    }
    a->pc = sig_peer(a->sig);
    strapto_dc_callbacks dcb = dc_cbs_template;
    dcb.user = a;
    strapto_dc *dc;
    if (o->offer) {
        strapto_dc_init init;
        strapto_dc_init_default(&init);
        init.label = o->label;
        rc = strapto_peer_create_dc(a->pc, &init, &dcb, &dc);
    }
    for (int i = 0; rc == 0 && i < o->n_channels; i++) {
        strapto_dc_init init;
        char label[256], proto[256];
        if (parse_channel(o->channels[i], &init, label, sizeof label, proto, sizeof proto) < 0) {
            fprintf(stderr, "strapto-cli peer: bad --channel '%s'\n", o->channels[i]);
            sig_free(a->sig);
            strapto_ctx_free(ctx);
            return 2;
        }
        if (!init.negotiated && !o->offer) continue; /* the offerer opens in-band channels */
        rc = strapto_peer_create_dc(a->pc, &init, &dcb, &dc);
    }
    if (rc == 0) rc = sig_start(a->sig, stdin);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli peer: %s\n", strapto_strerror(rc));
        a->failed = 1;
    } else {
        for (;;) { /* until the peer closes or a signal asks us to stop */
            char ch;
            ssize_t n = read(a->wake[0], &ch, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || ch == 'x') break;
            if (ch == 's') {
                strapto_log(STRAPTO_LOG_INFO, "cli", "stopping on a signal");
                strapto_peer_close(a->pc);
            }
        }
    }
    if (a->send_dc) strapto_dc_unref(a->send_dc);
    sig_free(a->sig);
    strapto_ctx_free(ctx);
    char line[512];
    snprintf(line, sizeof line,
             "{\"type\":\"summary\",\"messages_received\":%llu,\"bytes_received\":%llu,"
             "\"messages_sent\":%llu,\"bytes_sent\":%llu,\"echoed\":%llu,\"failed\":%s}",
             a->msgs_in, a->bytes_in, a->msgs_out, a->bytes_out, a->echoed,
             a->failed || a->send_failed ? "true" : "false");
    sig_print_line(line);
    if (a->send_f) fclose(a->send_f);
    if (a->recv_f && fclose(a->recv_f) != 0) a->failed = 1;
    free(a->chunk_buf);
    if (a->send_f && !a->send_done) a->failed = 1;
    return a->failed || a->send_failed ? 1 : 0;
}

int cmd_peer(int argc, char **argv)
{
    int nargc;
    char **nargv;
    if (cli_collect_args("peer", argc, argv, long_opts, &nargc, &nargv) < 0) return 2;
    peer_app a;
    memset(&a, 0, sizeof a);
    int rc = parse_opts(nargc, nargv, &a.o);
    if (rc) {
        cli_free_args(nargc, nargv);
        return rc == 1 ? 0 : rc;
    }
    if (pipe(a.wake) < 0) return 1;
    g_app = &a;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = run(&a);
    g_app = NULL;
    close(a.wake[0]);
    close(a.wake[1]);
    cli_free_args(nargc, nargv);
    return rc;
}
