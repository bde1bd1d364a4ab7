/* strapto-cli serve: the model stream server (the main job).
 *
 * strapto-cli serve [--listen HOST:PORT] [--token T] [--restart never|on-failure|always]
 *   [--input-format json|text] [--www DIR] [--max-clients N] [--max-body BYTES]
 *   [--max-input BYTES] [--input-rate R] [--client-queue N] [--slow-policy notify|disconnect]
 *   [--local-address ADDR]... [--stun URI] [--turn URI] [--tls-cert FILE --tls-key FILE]
 *   [--log-level L] [--config FILE] [-- MODEL_CMD ARGS...]
 *
 * Without MODEL_CMD it runs the built-in demo model (this executable's
 * hidden `demo-model` command). Prints the URL on stderr and
 * {"type":"listening","url":...} on stdout, then runs until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "strapto/server.h"

#define MAX_LOCAL 2048

typedef struct {
    const char *listen, *token, *www, *stun, *turn, *tls_cert, *tls_key;
    int restart, input_format, slow_policy, max_clients;
    size_t max_body, max_input, client_queue;
    double input_rate;
    char local[MAX_LOCAL];
    int n_local;
    char **model; /* argv after "--" (borrowed), NULL: the demo model */
} serve_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: strapto-cli serve [options] [-- MODEL_CMD ARGS...]\n"
            "Runs MODEL_CMD (default: a built-in demo model) and streams each line it prints to every\n"
            "client: a browser page at http://HOST:PORT/ over WebRTC, POST /offer and POST /whep for any\n"
            "WebRTC client, WebSocket /events, and GET /status, /health, /metrics. Client input goes to\n"
            "the model's stdin as JSON lines.\n"
            "  --listen HOST:PORT          address to listen on (default 127.0.0.1:8080; port 0: any)\n"
            "  --token T                   bearer token required on every route (page: /?token=T)\n"
            "  --restart POLICY            never | on-failure | always (default never); backoff 0.5 s..30 s\n"
            "  --input-format FMT          json (default: each input's data as one JSON line) | text\n"
            "  --www DIR                   the page's files (default: installed, or the source tree's www/)\n"
            "  --max-clients N             WebSocket + WebRTC clients (default 100; 503 past it)\n"
            "  --max-body BYTES            request body bound (default 65536; 413 past it)\n"
            "  --max-input BYTES           bytes per client message (default 16384)\n"
            "  --input-rate R              inputs per second per client (default 20, burst 2x)\n"
            "  --client-queue N            events queued per client before it is slow (default 1024)\n"
            "  --slow-policy P             notify (drop + events_dropped, default) | disconnect\n"
            "  --local-address ADDR        an address ICE may use (repeatable; default: STRAPTO_ICE_ADDRESSES,\n"
            "                              else every non-loopback interface)\n"
            "  --stun URI / --turn URI     stun:HOST[:PORT], turn:USER:PASS@HOST[:PORT][?transport=udp|tcp]\n"
            "  --tls-cert FILE --tls-key FILE   serve HTTPS/WSS\n"
            "  --log-level LEVEL           error|warn|info|debug|trace (default info; logs go to stderr)\n"
            "  --config FILE               options as 'name = value' lines; STRAPTO_<NAME> env too; flags win\n"
            "Output: {\"type\":\"listening\",\"url\":...} on stdout once listening. Exit status 0 after\n"
            "SIGINT/SIGTERM, 1 when the server cannot start, 2 on bad usage.\n");
}

static const struct option long_opts[] = {
    {"listen", required_argument, 0, 'l'},
    {"token", required_argument, 0, 't'},
    {"restart", required_argument, 0, 'r'},
    {"input-format", required_argument, 0, 'i'},
    {"www", required_argument, 0, 'w'},
    {"max-clients", required_argument, 0, 'c'},
    {"max-body", required_argument, 0, 'b'},
    {"max-input", required_argument, 0, 'I'},
    {"input-rate", required_argument, 0, 'R'},
    {"client-queue", required_argument, 0, 'q'},
    {"slow-policy", required_argument, 0, 'p'},
    {"local-address", required_argument, 0, 'L'},
    {"stun", required_argument, 0, 'S'},
    {"turn", required_argument, 0, 'U'},
    {"tls-cert", required_argument, 0, 'T'},
    {"tls-key", required_argument, 0, 'K'},
    {"log-level", required_argument, 0, 'v'},
    {"config", required_argument, 0, 'C'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static int pick(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

/* Repeatable --local-address: the command line's replace those from the
 * config file and the environment. */
static int count_cli_local(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--local-address") || !strncmp(argv[i], "--local-address=", 16)) n++;
    return n;
}

static int add_local(serve_opts *o, const char *a)
{
    if (!*a || strlen(o->local) + strlen(a) + 2 > sizeof o->local) {
        fprintf(stderr, "strapto-cli serve: bad or too many --local-address values\n");
        return -1;
    }
    if (o->local[0]) strcat(o->local, ",");
    strcat(o->local, a);
    o->n_local++;
    return 0;
}

static int parse_opts(int argc, char **argv, int cli_local, serve_opts *o)
{
    static const char *const restarts[] = {"never", "on-failure", "always"};
    static const char *const formats[] = {"json", "text"};
    static const char *const slow[] = {"notify", "disconnect"};
    const char *locals[64];
    int n_locals = 0;
    int c, li = 0;
    unsigned long long v;
    char *end;
    optind = 1;
    /* "+": stop at the first operand, so MODEL_CMD keeps its own options */
    while ((c = getopt_long(argc, argv, "+", long_opts, &li)) != -1) {
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 't': o->token = optarg; break;
        case 'w': o->www = optarg; break;
        case 'S': o->stun = optarg; break;
        case 'U': o->turn = optarg; break;
        case 'T': o->tls_cert = optarg; break;
        case 'K': o->tls_key = optarg; break;
        case 'r':
            if ((o->restart = pick(optarg, restarts, 3)) < 0) goto bad;
            break;
        case 'i':
            if ((o->input_format = pick(optarg, formats, 2)) < 0) goto bad;
            break;
        case 'p':
            if ((o->slow_policy = pick(optarg, slow, 2)) < 0) goto bad;
            break;
        case 'c':
            if (cli_parse_count(optarg, 100000, &v) < 0) goto bad;
            o->max_clients = (int)v;
            break;
        case 'b':
            if (cli_parse_count(optarg, 1ULL << 30, &v) < 0) goto bad;
            o->max_body = (size_t)v;
            break;
        case 'I':
            if (cli_parse_count(optarg, 1ULL << 20, &v) < 0) goto bad;
            o->max_input = (size_t)v;
            break;
        case 'q':
            if (cli_parse_count(optarg, 1ULL << 20, &v) < 0) goto bad;
            o->client_queue = (size_t)v;
            break;
        case 'R':
            errno = 0;
            o->input_rate = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(o->input_rate > 0 && o->input_rate <= 1e6)) goto bad;
            break;
        case 'L':
            if (n_locals == (int)(sizeof locals / sizeof locals[0])) {
                fprintf(stderr, "strapto-cli serve: too many --local-address values\n");
                return 2;
            }
            locals[n_locals++] = optarg;
            break;
        case 'v':
            if (cli_set_log_level(optarg) < 0) return 2;
            break;
        case 'C': break; /* read by cli_collect_args */
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    for (int i = cli_local ? n_locals - cli_local : 0; i < n_locals; i++)
        if (i >= 0 && add_local(o, locals[i]) < 0) return 2;
    if (optind < argc && !strcmp(argv[optind], "--")) optind++;
    if (optind < argc) o->model = argv + optind;
    if (!!o->tls_cert != !!o->tls_key) {
        fprintf(stderr, "strapto-cli serve: --tls-cert and --tls-key go together\n");
        return 2;
    }
    return 0;
bad:
    fprintf(stderr, "strapto-cli serve: bad value '%s' for --%s\n", optarg, long_opts[li].name);
    return 2;
}

/* The URL clients use: the listen host, the bound port. */
static void make_url(const serve_opts *o, int port, char *url, size_t len)
{
    const char *listen = o->listen ? o->listen : "127.0.0.1:8080";
    char host[300];
    const char *colon = listen[0] == '[' ? strchr(listen, ']') : strrchr(listen, ':');
    size_t hl = colon ? (size_t)(colon - listen) + (listen[0] == '[') : strlen(listen);
    if (hl >= sizeof host) hl = sizeof host - 1;
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (!strcmp(host, "0.0.0.0")) strcpy(host, "127.0.0.1");
    if (!strcmp(host, "[::]")) strcpy(host, "[::1]");
    snprintf(url, len, "%s://%s:%d/", o->tls_cert ? "https" : "http", host, port);
}

static int run(serve_opts *o)
{
    /* SIGINT/SIGTERM are taken with sigwait() here; the loop threads inherit
     * the mask (the model process gets a clean one). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    char exe[PATH_MAX];
    char *demo_argv[] = {exe, "demo-model", NULL};
    if (!o->model) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "strapto-cli serve: cannot find my own executable for the demo model\n");
            return 1;
        }
        exe[n] = 0;
    }
    strapto_ctx_options copts;
    strapto_ctx_options_init(&copts);
    copts.threads = 1;
    strapto_ctx *ctx = NULL;
    int rc = strapto_ctx_new(&copts, &ctx);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli serve: %s\n", strapto_strerror(rc));
        return 1;
    }
    strapto_stream_server_config cfg;
    strapto_stream_server_config_init(&cfg);
    cfg.listen = o->listen;
    cfg.model_argv = (const char *const *)(o->model ? o->model : demo_argv);
    cfg.restart = o->restart;
    cfg.input_format = o->input_format;
    cfg.www_dir = o->www;
    cfg.token = o->token;
    cfg.tls_cert = o->tls_cert;
    cfg.tls_key = o->tls_key;
    cfg.max_body = o->max_body;
    cfg.max_clients = o->max_clients;
    cfg.client_queue = o->client_queue;
    cfg.slow_policy = o->slow_policy;
    cfg.max_input = o->max_input;
    cfg.input_rate = o->input_rate;
    cfg.ice_local_addresses = o->local[0] ? o->local : NULL;
    cfg.stun_servers = o->stun;
    cfg.turn_servers = o->turn;
    cfg.loop = 0;
    strapto_stream_server *srv = NULL;
    rc = strapto_stream_server_new(ctx, &cfg, &srv);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli serve: cannot start the server: %s\n", strapto_strerror(rc));
        strapto_ctx_free(ctx);
        return 1;
    }
    char url[400];
    make_url(o, strapto_stream_server_port(srv), url, sizeof url);
    fprintf(stderr, "strapto-cli serve: model %s; open %s%s in a browser (Ctrl-C stops)\n",
            o->model ? o->model[0] : "demo", url, o->token ? "?token=YOUR_TOKEN" : "");
    printf("{\"type\":\"listening\",\"url\":\"%s\",\"port\":%d,\"token_required\":%s}\n", url,
           strapto_stream_server_port(srv), o->token ? "true" : "false");
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {}
    strapto_log(STRAPTO_LOG_INFO, "cli", "stopping on signal %d", sig);
    strapto_stream_server_free(srv);
    strapto_ctx_free(ctx);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    int nargc;
    char **nargv;
    if (cli_collect_args("serve", argc, argv, long_opts, &nargc, &nargv) < 0) return 2;
    if (!getenv("STRAPTO_LOG_LEVEL")) strapto_log_set_level(STRAPTO_LOG_INFO);
    serve_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_opts(nargc, nargv, count_cli_local(argc, argv), &o);
    if (rc == 0) rc = run(&o);
    else if (rc == 1) rc = 0; /* --help */
    cli_free_args(nargc, nargv);
    return rc;
}
