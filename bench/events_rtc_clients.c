/* bench/events_rtc_clients — many idle WebRTC clients of `strapto-cli serve`
 * in one process (libstrapto peers), for bench/events (the figure
 * rss_per_webrtc_client_KiB).
 *
 *   events_rtc_clients --port P [--host 127.0.0.1] [--n N] [--local ADDR]
 *                      [--timeout S]
 *
 * Each client: a peer (ICE on --local only, default 127.0.0.1) with a data
 * channel labelled "strapto"; an offer; once ICE gathering is complete
 * (on_candidate(NULL)) the complete local description is POSTed as
 * {"type":"offer","sdp":...} to /offer (a tiny blocking HTTP/1.1 client);
 * the answer's "sdp" is set as the remote description. When every channel
 * is open (or at the timeout) one line {"ready":K,"n":N,"failed":F} goes to
 * stdout; the clients then stay idle (messages are counted, not read) until
 * stdin closes, and the peers are freed. Errors go to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "strapto/ctx.h"
#include "strapto/peer.h"

typedef struct {
    strapto_peer *pc;
    int gathered, open, failed;
} client;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int n_gathered, n_open, n_failed;
static long long n_messages;

static void on_candidate(strapto_peer *pc, const char *cand, const char *mid, int idx, void *user)
{
    client *c = user;
    if (cand) return;
    pthread_mutex_lock(&mu);
    if (!c->gathered) {
        c->gathered = 1;
        n_gathered++;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
}

static void on_state(strapto_peer *pc, int state, void *user)
{
    client *c = user;
    if (state != STRAPTO_PEER_FAILED && state != STRAPTO_PEER_CLOSED) return;
    pthread_mutex_lock(&mu);
    if (!c->failed) {
        c->failed = 1;
        n_failed++;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
}

static void dc_open(strapto_dc *dc, void *user)
{
    client *c = user;
    pthread_mutex_lock(&mu);
    if (!c->open) {
        c->open = 1;
        n_open++;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
}

static void dc_message(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    __atomic_add_fetch(&n_messages, 1, __ATOMIC_RELAXED);
}

static int wait_count(int *counter, int target, const struct timespec *deadline)
{
    pthread_mutex_lock(&mu);
    while (*counter + n_failed < target)
        if (pthread_cond_timedwait(&cv, &mu, deadline) == ETIMEDOUT) break;
    int v = *counter;
    pthread_mutex_unlock(&mu);
    return v;
}

/* Decode a chunked body in place; returns its length or -1. */
static long dechunk(char *b, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long len = strtoul(b + in, &end, 16);
        char *crlf = memmem(b + in, n - in, "\r\n", 2);
        if (!crlf || end == b + in) return -1;
        in = (size_t)(crlf - b) + 2;
        if (len == 0) return (long)out;
        if (in + len > n) return -1;
        memmove(b + out, b + in, len);
        out += len;
        in += len + 2;
        if (in > n) return -1;
    }
}

/* POST body to http://host:port/path; returns the response body (malloc)
 * of a 200, else NULL. */
static char *http_post(const char *host, int port, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "events_rtc_clients: connect %s:%d: %s\n", host, port, strerror(errno));
        close(fd);
        return NULL;
    }
    size_t blen = strlen(body);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      path, host, port, blen);
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hl, blen};
    for (int k = 0; k < 2; k++) {
        for (size_t off = 0; off < lens[k];) {
            ssize_t w = send(fd, parts[k] + off, lens[k] - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                close(fd);
                return NULL;
            }
            off += (size_t)w;
        }
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) break;
            buf = nb;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status != 200) {
        fprintf(stderr, "events_rtc_clients: POST %s: status %d: %.300s\n", path, status, sep ? sep + 4 : buf);
        free(buf);
        return NULL;
    }
    *sep = 0;
    char *bodyp = sep + 4;
    size_t bl = n - (size_t)(bodyp - buf);
    if (strcasestr(buf, "transfer-encoding: chunked")) {
        long l = dechunk(bodyp, bl);
        if (l < 0) {
            free(buf);
            return NULL;
        }
        bl = (size_t)l;
    }
    memmove(buf, bodyp, bl);
    buf[bl] = 0;
    return buf;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *local = "127.0.0.1";
    int port = 0, n = 50, timeout = 20, threads = 2;
    static const struct option opts[] = {{"port", required_argument, 0, 'p'},  {"host", required_argument, 0, 'H'},
                                         {"n", required_argument, 0, 'n'},     {"local", required_argument, 0, 'L'},
                                         {"timeout", required_argument, 0, 't'}, {"threads", required_argument, 0, 'T'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': port = atoi(optarg); break;
        case 'H': host = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 'L': local = optarg; break;
        case 't': timeout = atoi(optarg); break;
        case 'T': threads = atoi(optarg); break;
        default: return 2;
        }
    }
    if (port <= 0 || n <= 0) {
        fprintf(stderr, "usage: events_rtc_clients --port P [--host H] [--n N] [--local ADDR] [--timeout S]\n");
        return 2;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout;

    strapto_ctx_options copts;
    strapto_ctx_options_init(&copts);
    copts.threads = threads;
    strapto_ctx *ctx = NULL;
    if (strapto_ctx_new(&copts, &ctx) < 0) return 1;
    client *cl = calloc((size_t)n, sizeof *cl);
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = local;
    int started = 0;
    for (int i = 0; i < n; i++) {
        strapto_peer_callbacks cbs = {on_candidate, on_state, NULL, &cl[i]};
        strapto_dc_init init;
        strapto_dc_init_default(&init);
        init.label = "strapto";
        strapto_dc_callbacks dcb = {dc_open, dc_message, NULL, NULL, &cl[i]};
        strapto_dc *dc;
        char *offer = NULL;
        if (strapto_peer_new(ctx, &cfg, &cbs, &cl[i].pc) < 0 || strapto_peer_create_dc(cl[i].pc, &init, &dcb, &dc) < 0 ||
            strapto_peer_create_offer(cl[i].pc, &offer) < 0) {
            fprintf(stderr, "events_rtc_clients: client %d: cannot create the offer\n", i);
            break;
        }
        strapto_free(offer);
        started++;
    }
    int gathered = wait_count(&n_gathered, started, &deadline);
    if (gathered < started) fprintf(stderr, "events_rtc_clients: only %d/%d gathered\n", gathered, started);

    int answered = 0;
    for (int i = 0; i < started; i++) {
        char *sdp = NULL;
        if (!cl[i].gathered || strapto_peer_local_description(cl[i].pc, &sdp) < 0) continue;
        json_t *req = json_pack("{s:s,s:s}", "type", "offer", "sdp", sdp);
        strapto_free(sdp);
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        char *resp = body ? http_post(host, port, "/offer", body) : NULL;
        free(body);
        if (!resp) continue;
        json_t *j = json_loads(resp, 0, NULL);
        free(resp);
        const char *ans = j ? json_string_value(json_object_get(j, "sdp")) : NULL;
        if (ans && strapto_peer_set_remote_description(cl[i].pc, "answer", ans) == 0)
            answered++;
        else
            fprintf(stderr, "events_rtc_clients: client %d: bad answer\n", i);
        json_decref(j);
    }
    int open = wait_count(&n_open, answered, &deadline);
    pthread_mutex_lock(&mu);
    int failed = n_failed;
    pthread_mutex_unlock(&mu);
    printf("{\"ready\":%d,\"n\":%d,\"answered\":%d,\"failed\":%d}\n", open, n, answered, failed);
    fflush(stdout);

    char b[256];
    for (;;) {
        ssize_t r = read(0, b, sizeof b);
        if (r == 0 || (r < 0 && errno != EINTR)) break;
    }
    for (int i = 0; i < n; i++) strapto_peer_free(cl[i].pc);
    strapto_ctx_free(ctx);
    fprintf(stderr, "events_rtc_clients: %lld messages received while idle\n",
            __atomic_load_n(&n_messages, __ATOMIC_RELAXED));
    free(cl);
    return 0;
}
