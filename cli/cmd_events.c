/* strapto-cli events: the event hub alone.
 *
 * strapto-cli events [--listen HOST:PORT] [--path /events] [--token T]
 *   [--tls-cert F --tls-key F] [--max-clients N] [--client-queue N]
 *   [--slow notify|disconnect] [--max-message BYTES] [--input-rate R]
 *   [--threads N] [--exit-on-eof] [--log-level L] [--config FILE]
 *
 * stdin: one JSON object per line with a string "type" (and usually a
 * "data"); each is published on the bus, so every client gets it.
 * stdout: every command a client sends that the hub does not answer itself
 * (consumer_input included), one JSON line {"type","data","timestamp","client"}.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"
#include "strapto/server.h"

#define MAX_LINE (2 * 1024 * 1024) /* the bus takes payloads up to 1 MiB */
#define OUT_QUEUE_MAX 10000           /* stdout lines waiting for the writer */

typedef struct {
    const char *listen, *path, *token, *tls_cert, *tls_key;
    int max_clients, slow, threads, exit_on_eof;
    size_t client_queue, max_message;
    double input_rate;
} events_opts;

/* ---- stdout: a bounded queue and a writer thread, so that a slow reader
 * of our stdout never blocks the hub's loop ---- */

typedef struct out_line {
    struct out_line *next;
    char text[];
} out_line;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    out_line *head, *tail;
    int count, stop;
    unsigned long long dropped;
} g_out = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0};

static int g_wake[2] = {-1, -1};

static void out_push(const char *text)
{
    size_t n = strlen(text);
    out_line *l = malloc(sizeof *l + n + 2);
    if (!l) return;
    memcpy(l->text, text, n);
    l->text[n] = '\n';
    l->text[n + 1] = 0;
    l->next = NULL;
    pthread_mutex_lock(&g_out.mu);
    if (g_out.count >= OUT_QUEUE_MAX) {
        g_out.dropped++;
        pthread_mutex_unlock(&g_out.mu);
        free(l);
        return;
    }
    if (g_out.tail) g_out.tail->next = l;
    else g_out.head = l;
    g_out.tail = l;
    g_out.count++;
    pthread_cond_signal(&g_out.cond);
    pthread_mutex_unlock(&g_out.mu);
}

static void *out_writer(void *arg)
{
    pthread_mutex_lock(&g_out.mu);
    for (;;) {
        while (!g_out.head && !g_out.stop) pthread_cond_wait(&g_out.cond, &g_out.mu);
        if (!g_out.head) break; /* stop, and nothing left */
        out_line *l = g_out.head;
        g_out.head = NULL;
        g_out.tail = NULL;
        g_out.count = 0;
        pthread_mutex_unlock(&g_out.mu);
        while (l) {
            out_line *next = l->next;
            fputs(l->text, stdout);
            free(l);
            l = next;
        }
        fflush(stdout);
        pthread_mutex_lock(&g_out.mu);
    }
    pthread_mutex_unlock(&g_out.mu);
    return NULL;
}

static void iso_now(char *buf, size_t len)
{
    int64_t us = strapto_wall_us();
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us / 1000 % 1000));
}

static void print_command(const char *type, const char *data_json, uint64_t client)
{
    char ts[96];
    iso_now(ts, sizeof ts);
    json_t *data = json_loads(data_json, JSON_DECODE_ANY, NULL);
    json_t *o = json_pack("{s:s,s:o,s:s,s:I}", "type", type, "data", data ? data : json_object(), "timestamp", ts,
                          "client", (json_int_t)client);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (s) out_push(s);
    free(s);
    json_decref(o);
}

/* commands the hub does not answer (loop thread) */
static void on_command(const char *type, const char *data_json, uint64_t client_id, void *user)
{
    print_command(type, data_json, client_id);
}

/* consumer_input events the hub published for its clients (loop thread) */
static void on_input(const strapto_event *ev, void *user)
{
    if (strcmp(ev->type, "consumer_input") || strncmp(ev->source, "ws:", 3)) return;
    print_command(ev->type, ev->payload, strtoull(ev->source + 3, NULL, 10));
}

/* ---- stdin ----
 * The main thread reads stdin, parses each line and publishes it, in
 * parallel with the hub's loop. Back-pressure: a second subscription on the
 * hub's loop follows how far that loop has got; when the main thread is
 * more than MAX_LAG events ahead it waits, so that a writer faster than the
 * hub is slowed down (stdin is not read) rather than events being dropped
 * from the hub's bus queue (65536 events). */

#define CHUNK (256 * 1024)
#define MAX_LAG 16384

typedef struct {
    unsigned long long published, invalid, refused;
} in_stats;

static in_stats g_in;
static unsigned long long g_lineno;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t seen; /* last seq the hub's loop has seen */
    int waiting;
} g_prog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

/* on the hub's loop */
static void on_progress(const strapto_event *ev, void *user)
{
    pthread_mutex_lock(&g_prog.mu);
    g_prog.seen = ev->seq;
    if (g_prog.waiting) pthread_cond_signal(&g_prog.cond);
    pthread_mutex_unlock(&g_prog.mu);
}

static void wait_for_hub(uint64_t seq)
{
    pthread_mutex_lock(&g_prog.mu);
    if (seq > g_prog.seen + MAX_LAG) {
        g_prog.waiting = 1;
        for (int i = 0; i < 100 && seq > g_prog.seen + MAX_LAG / 2; i++) { /* 1 s at most */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&g_prog.cond, &g_prog.mu, &ts);
        }
        g_prog.waiting = 0;
    }
    pthread_mutex_unlock(&g_prog.mu);
}

/* A parsed line waiting to be published. */
typedef struct {
    json_t *j;         /* the line's object (holds the type string) */
    const char *type;
    char *text;        /* the data as JSON text; NULL: {} */
    unsigned long long lineno;
} parsed_line;

#define BATCH 64

/* Parse one line into *out; 0 when there is nothing to publish. */
static int parse_line(char *line, size_t len, unsigned long long lineno, parsed_line *out)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return 0; /* blank */
    json_error_t je;
    json_t *j = json_loadb(line + i, len - i, 0, &je);
    json_t *type = json_is_object(j) ? json_object_get(j, "type") : NULL;
    if (!json_is_string(type)) {
        g_in.invalid++;
        strapto_log(STRAPTO_LOG_WARN, "cli", "stdin line %llu skipped: %s", lineno,
                    !j ? je.text : "not a JSON object with a string \"type\"");
        json_decref(j);
        return 0;
    }
    json_t *data = json_object_get(j, "data");
    out->j = j;
    out->type = json_string_value(type);
    out->text = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    out->lineno = lineno;
    return 1;
}

/* Publish a batch in a tight loop: the hub's loop, woken by the first
 * event, finds many queued (one wake-up for the batch, not one per event). */
static void publish_batch(strapto_bus *bus, parsed_line *b, size_t n)
{
    uint64_t seq = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = strapto_bus_publish(bus, b[i].type, "stdin", b[i].text ? b[i].text : "{}", &seq);
        if (rc < 0) {
            g_in.refused++;
            strapto_log(STRAPTO_LOG_WARN, "cli", "stdin line %llu not published: %s", b[i].lineno,
                        strapto_strerror(rc));
        } else {
            g_in.published++;
        }
        free(b[i].text);
        json_decref(b[i].j);
    }
    if (seq) wait_for_hub(seq);
}

/* whole lines (the last one may lack its '\n': end of input) */
static void publish_lines(strapto_bus *bus, char *data, size_t len)
{
    static parsed_line batch[BATCH];
    size_t n = 0, start = 0;
    for (size_t k = 0; k <= len; k++) {
        if (k < len && data[k] != '\n') continue;
        if ((k > start || k < len) && parse_line(data + start, k - start, ++g_lineno, &batch[n]) && ++n == BATCH) {
            publish_batch(bus, batch, n);
            n = 0;
        }
        start = k + 1;
    }
    publish_batch(bus, batch, n);
}

static void on_signal(int sig)
{
    (void)!write(g_wake[1], "s", 1);
}

/* Read stdin until EOF (returns 0) or a signal (returns 1). */
static int read_stdin(strapto_bus *bus, int exit_on_eof)
{
    size_t cap = CHUNK;
    char *buf = malloc(cap);
    if (!buf) return 1;
    size_t have = 0;
    int skipping = 0, stdin_open = 1, result = 0;
    for (;;) {
        struct pollfd p[2] = {{g_wake[0], POLLIN, 0}, {0, POLLIN, 0}};
        int n = poll(p, stdin_open ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) {
            result = 1;
            break;
        }
        if (!stdin_open || !p[1].revents) continue;
        ssize_t r = read(0, buf + have, cap - have);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) {
            if (!skipping) publish_lines(bus, buf, have); /* a last line without '\n' */
            have = 0;
            stdin_open = 0;
            strapto_log(STRAPTO_LOG_INFO, "cli", "stdin closed: %llu events published, %llu invalid lines, %llu refused",
                        g_in.published, g_in.invalid, g_in.refused);
            if (exit_on_eof) break;
            continue;
        }
        have += (size_t)r;
        char *nl = memrchr(buf, '\n', have);
        if (!nl) {
            if (have < cap) continue;
            if (cap < MAX_LINE) { /* one long line: room for it, up to the bound */
                size_t ncap = cap * 2 < MAX_LINE ? cap * 2 : MAX_LINE;
                char *nb = realloc(buf, ncap);
                if (nb) {
                    buf = nb;
                    cap = ncap;
                    continue;
                }
            }
            if (!skipping) strapto_log(STRAPTO_LOG_WARN, "cli", "a stdin line longer than %zu bytes: skipped", cap);
            skipping = 1;
            have = 0;
            continue;
        }
        size_t whole = (size_t)(nl - buf) + 1, start = 0;
        if (skipping) { /* the end of the skipped line */
            start = (size_t)((char *)memchr(buf, '\n', have) - buf) + 1;
            skipping = 0;
        }
        publish_lines(bus, buf + start, whole - start);
        memmove(buf, buf + whole, have - whole);
        have -= whole;
        if (cap > CHUNK && have < CHUNK) { /* back to the usual size after a long line */
            char *nb = realloc(buf, CHUNK);
            if (nb) {
                buf = nb;
                cap = CHUNK;
            }
        }
    }
    free(buf);
    return result;
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: strapto-cli events [options]\n"
            "Runs the event hub alone: a WebSocket server broadcasting {\"type\",\"data\",\"timestamp\"} events.\n"
            "Each JSON line on stdin ({\"type\":...,\"data\":...}) is published and so broadcast; each command a\n"
            "client sends that the hub does not answer itself (consumer_input included) is printed on stdout\n"
            "as {\"type\",\"data\",\"timestamp\",\"client\"}. New clients first get a \"replay\" of the last events.\n"
            "  --listen HOST:PORT      address to listen on (default 127.0.0.1:8765; port 0: any)\n"
            "  --path PATH             WebSocket path (default /events)\n"
            "  --token T               require a bearer token (Authorization: Bearer T, or ?token=T)\n"
            "  --tls-cert F --tls-key F  PEM files: serve wss://\n"
            "  --max-clients N         clients at once (default 100; 503 past it)\n"
            "  --client-queue N        events queued per client before it counts as slow (default 1024)\n"
            "  --slow notify|disconnect  a slow client gets events_dropped {\"missed\":N}, or is closed (1008)\n"
            "  --max-message BYTES     largest client message (default 16384)\n"
            "  --input-rate R          client messages per second (default 20, burst twice that)\n"
            "  --threads N             loop threads (default 1)\n"
            "  --exit-on-eof           exit when stdin ends (default: keep serving)\n"
            "  --log-level LEVEL       error|warn|info|debug|trace (logs go to stderr)\n"
            "  --config FILE           options as 'name = value' lines; STRAPTO_<NAME> env too\n"
            "The listening URL is printed on stderr. Exit status: 0 on SIGINT/SIGTERM (or stdin EOF with\n"
            "--exit-on-eof), 1 on failure, 2 on bad usage.\n");
}

static const struct option long_opts[] = {
    {"listen", required_argument, 0, 'l'},
    {"path", required_argument, 0, 'p'},
    {"token", required_argument, 0, 't'},
    {"tls-cert", required_argument, 0, 'c'},
    {"tls-key", required_argument, 0, 'k'},
    {"max-clients", required_argument, 0, 'm'},
    {"client-queue", required_argument, 0, 'q'},
    {"slow", required_argument, 0, 's'},
    {"max-message", required_argument, 0, 'M'},
    {"input-rate", required_argument, 0, 'r'},
    {"threads", required_argument, 0, 'T'},
    {"exit-on-eof", no_argument, 0, 'e'},
    {"log-level", required_argument, 0, 'v'},
    {"config", required_argument, 0, 'C'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static int parse_opts(int argc, char **argv, events_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8765";
    o->path = "/events";
    o->threads = 1;
    unsigned long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 'p':
            if (optarg[0] != '/') {
                fprintf(stderr, "strapto-cli events: --path must start with '/'\n");
                return 2;
            }
            o->path = optarg;
            break;
        case 't': o->token = optarg; break;
        case 'c': o->tls_cert = optarg; break;
        case 'k': o->tls_key = optarg; break;
        case 'm':
            if (cli_parse_count(optarg, 1000000, &v) < 0) goto bad;
            o->max_clients = (int)v;
            break;
        case 'q':
            if (cli_parse_count(optarg, 1u << 20, &v) < 0) goto bad;
            o->client_queue = (size_t)v;
            break;
        case 'M':
            if (cli_parse_count(optarg, 1u << 20, &v) < 0) goto bad;
            o->max_message = (size_t)v;
            break;
        case 'T':
            if (cli_parse_count(optarg, 64, &v) < 0) goto bad;
            o->threads = (int)v;
            break;
        case 'r': {
            char *end;
            o->input_rate = strtod(optarg, &end);
            if (end == optarg || *end || !(o->input_rate > 0) || o->input_rate > 1e6) goto bad;
            break;
        }
        case 's':
            if (!strcmp(optarg, "notify")) o->slow = STRAPTO_SLOW_NOTIFY;
            else if (!strcmp(optarg, "disconnect")) o->slow = STRAPTO_SLOW_DISCONNECT;
            else {
                fprintf(stderr, "strapto-cli events: --slow takes notify or disconnect\n");
                return 2;
            }
            break;
        case 'e': o->exit_on_eof = 1; break;
        case 'v':
            if (cli_set_log_level(optarg) < 0) return 2;
            break;
        case 'C': break; /* read by cli_collect_args */
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "strapto-cli events: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "strapto-cli events: --tls-cert and --tls-key go together\n");
        return 2;
    }
    return 0;
bad:
    fprintf(stderr, "strapto-cli events: bad value '%s'\n", optarg);
    return 2;
}

static int run(const events_opts *o)
{
    strapto_ctx_options copts;
    strapto_ctx_options_init(&copts);
    copts.threads = o->threads;
    strapto_ctx *ctx = NULL;
    int rc = strapto_ctx_new(&copts, &ctx);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli events: %s\n", strapto_strerror(rc));
        return 1;
    }
    strapto_event_hub_config cfg;
    strapto_event_hub_config_init(&cfg);
    cfg.listen = o->listen;
    cfg.path = o->path;
    cfg.token = o->token;
    cfg.tls_cert = o->tls_cert;
    cfg.tls_key = o->tls_key;
    cfg.max_clients = o->max_clients;
    cfg.client_queue = o->client_queue;
    cfg.slow_policy = o->slow;
    cfg.max_message = o->max_message;
    cfg.input_rate = o->input_rate;
    cfg.on_command = on_command;
    cfg.loop = 0; /* the progress subscription below follows this loop */
    strapto_bus_sub *sub = NULL, *prog = NULL;
    strapto_event_hub *hub = NULL;
    rc = strapto_bus_subscribe(strapto_ctx_bus(ctx), "consumer_input", -1, 0, on_input, NULL, &sub);
    if (rc == 0) rc = strapto_bus_subscribe(strapto_ctx_bus(ctx), "", 0, 4096, on_progress, NULL, &prog);
    if (rc == 0) rc = strapto_event_hub_new(ctx, &cfg, &hub);
    if (rc < 0) {
        fprintf(stderr, "strapto-cli events: cannot start the hub on %s: %s\n", o->listen, strapto_strerror(rc));
        if (prog) strapto_bus_unsubscribe(prog);
        if (sub) strapto_bus_unsubscribe(sub);
        strapto_ctx_free(ctx);
        return rc == STRAPTO_EINVAL ? 2 : 1;
    }
    pthread_t writer;
    int have_writer = pthread_create(&writer, NULL, out_writer, NULL) == 0;
    /* the host part of the listen address as given, the port as bound */
    char host[300];
    snprintf(host, sizeof host, "%s", o->listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    fprintf(stderr, "strapto-cli events: listening on %s://%s:%d%s\n", o->tls_cert ? "wss" : "ws", host,
            strapto_event_hub_port(hub), o->path);
    fflush(stderr);

    int by_signal = read_stdin(strapto_ctx_bus(ctx), o->exit_on_eof);
    if (!by_signal) usleep(500 * 1000); /* EOF: a moment for the last events to go out */
    strapto_log(STRAPTO_LOG_INFO, "cli", "stopping (%s), %d clients connected", by_signal ? "signal" : "end of stdin",
                strapto_event_hub_clients(hub));
    strapto_event_hub_free(hub);
    strapto_bus_unsubscribe(prog);
    strapto_bus_unsubscribe(sub);
    strapto_ctx_free(ctx);
    pthread_mutex_lock(&g_out.mu);
    g_out.stop = 1;
    pthread_cond_signal(&g_out.cond);
    unsigned long long dropped = g_out.dropped;
    pthread_mutex_unlock(&g_out.mu);
    if (have_writer) pthread_join(writer, NULL);
    if (dropped) strapto_log(STRAPTO_LOG_WARN, "cli", "%llu stdout lines dropped (stdout too slow)", dropped);
    return 0;
}

int cmd_events(int argc, char **argv)
{
    int nargc;
    char **nargv;
    if (cli_collect_args("events", argc, argv, long_opts, &nargc, &nargv) < 0) return 2;
    events_opts o;
    int rc = parse_opts(nargc, nargv, &o);
    if (rc == 0) {
        if (pipe(g_wake) < 0) {
            perror("strapto-cli events: pipe");
            rc = 1;
        } else {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, NULL);
            sigaction(SIGTERM, &sa, NULL);
            signal(SIGPIPE, SIG_IGN);
            rc = run(&o);
            close(g_wake[0]);
            close(g_wake[1]);
        }
    } else {
        rc = rc == 1 ? 0 : rc; /* --help */
    }
    cli_free_args(nargc, nargv);
    return rc;
}
