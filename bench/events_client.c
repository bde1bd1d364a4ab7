/* bench/events_client — many WebSocket client connections in one process,
 * for bench/events. A plain C client (sockets + epoll, RFC 6455 framing by
 * hand) so that the clients are not the bottleneck: libsoup's client hands
 * every message over as a new GBytes through a GObject signal, Python's
 * websockets costs microseconds per message.
 *
 *   events_client --port P [--host 127.0.0.1] [--path /events] --conns N
 *                 [--expect E] [--timeout S]
 *
 * Connects N clients, completes each handshake, prints {"ready":N} on
 * stdout, then reads. A text message whose type is "bench" counts; its
 * data holds "i" (sequence, checked for order) and "t" (CLOCK_MONOTONIC ns
 * at emission: latency = now - t). With --expect E it ends when every
 * connection has counted E bench events (or at the timeout); without, it
 * runs until stdin closes (idle clients). At the end one JSON line:
 * {"conns","received","gaps","dropped","first_ns","last_ns","errors","lat_n",
 *  "lat":[...]} where lat holds up to 100000 latencies in ns (sorted; a
 * uniform sample when there were more). "events_dropped" notices count as
 * their "missed" events (reported in "dropped") so a run always ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF (1 << 20)
#define MAX_LAT 100000

typedef struct {
    int fd;
    unsigned char *pend; /* bytes of an incomplete frame */
    size_t plen, pcap;
    long long count, next_i;
    int done, closed;
} conn;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long *lat;
static size_t n_lat;
static unsigned long long lat_seen;
static long long total, gaps, dropped, first_ns, last_ns;
static long long expect;
static int n_done;

static void note_latency(long long v)
{
    lat_seen++;
    if (n_lat < MAX_LAT) {
        lat[n_lat++] = v;
    } else { /* reservoir sample */
        unsigned long long r = ((unsigned long long)rand() << 31 ^ (unsigned long long)rand()) % lat_seen;
        if (r < MAX_LAT) lat[r] = v;
    }
}

static long long num_after(const char *s, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *p = memmem(s, len, key, kl);
    if (!p) return -1;
    p += kl;
    const char *end = s + len;
    while (p < end && (*p == ' ' || *p == ':')) p++;
    long long v = 0;
    int any = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        any = 1;
    }
    return any ? v : -1;
}

static void on_text(conn *c, const char *s, size_t len, long long now)
{
    /* {"type":"bench",... or {"type": "bench",... */
    size_t head = len < 24 ? len : 24;
    if (!memmem(s, head, "\"bench\"", 7)) {
        if (memmem(s, len < 32 ? len : 32, "\"events_dropped\"", 16)) { /* the hub skipped events */
            long long m = num_after(s, len, "\"missed\"");
            if (m > 0) {
                dropped += m;
                c->count += m;
                c->next_i = 0;
                if (expect && c->count >= expect && !c->done) {
                    c->done = 1;
                    n_done++;
                }
            }
        }
        return;
    }
    c->count++;
    total++;
    if (!first_ns) first_ns = now;
    last_ns = now;
    long long i = num_after(s, len, "\"i\"");
    if (i >= 0) {
        if (c->next_i && i != c->next_i) gaps++;
        c->next_i = i + 1;
    }
    long long t = num_after(s, len, "\"t\"");
    if (t > 0) note_latency(now - t);
    if (expect && c->count >= expect && !c->done) {
        c->done = 1;
        n_done++;
    }
}

/* Parse complete frames in p[0..n); returns bytes consumed. */
static size_t parse(conn *c, const unsigned char *p, size_t n, long long now)
{
    size_t off = 0;
    while (n - off >= 2) {
        const unsigned char *f = p + off;
        uint64_t l = f[1] & 0x7f;
        size_t hl = 2;
        if (l == 126) {
            if (n - off < 4) break;
            l = ((uint64_t)f[2] << 8) | f[3];
            hl = 4;
        } else if (l == 127) {
            if (n - off < 10) break;
            l = 0;
            for (int k = 0; k < 8; k++) l = (l << 8) | f[2 + k];
            hl = 10;
        }
        if (f[1] & 0x80) hl += 4; /* servers do not mask; tolerate it */
        if (n - off - hl < l) break;
        int op = f[0] & 0x0f;
        if (op == 1) {
            on_text(c, (const char *)f + hl, (size_t)l, now);
        } else if (op == 8) {
            c->closed = 1;
        } else if (op == 9 && l <= 125) { /* ping: a masked pong (mask 0: payload as is) */
            unsigned char pong[2 + 4 + 125];
            pong[0] = 0x8a;
            pong[1] = (unsigned char)(0x80 | l);
            memset(pong + 2, 0, 4);
            memcpy(pong + 6, f + hl, (size_t)l);
            (void)!write(c->fd, pong, 6 + (size_t)l);
        }
        off += hl + (size_t)l;
    }
    return off;
}

static int handshake(conn *c, const char *host, int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                      path, host, port);
    if (write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    char buf[8192];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) {
            close(fd);
            return -1;
        }
        have += (size_t)r;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
        if (!end && have == sizeof buf - 1) {
            close(fd);
            return -1;
        }
    }
    if (strncmp(buf, "HTTP/1.1 101", 12)) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    size_t rest = have - (size_t)(end + 4 - buf);
    if (rest) {
        c->pend = malloc(rest);
        memcpy(c->pend, end + 4, rest);
        c->plen = c->pcap = rest;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = "/events";
    int port = 0, nconns = 1;
    double timeout = 60;
    static const struct option opts[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"path", 1, 0, 'P'}, {"conns", 1, 0, 'n'},
        {"expect", 1, 0, 'e'}, {"timeout", 1, 0, 't'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'P': path = optarg; break;
        case 'n': nconns = atoi(optarg); break;
        case 'e': expect = atoll(optarg); break;
        case 't': timeout = atof(optarg); break;
        default: return 2;
        }
    }
    if (port <= 0 || nconns <= 0) {
        fprintf(stderr, "events_client: --port and --conns are required\n");
        return 2;
    }
    lat = malloc(MAX_LAT * sizeof *lat);
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    unsigned char *rbuf = malloc(RBUF);
    int ep = epoll_create1(0);
    if (!lat || !cs || !rbuf || ep < 0) return 1;
    int errors = 0;
    for (int i = 0; i < nconns; i++) {
        if (handshake(&cs[i], host, port, path) < 0) {
            errors++;
            cs[i].fd = -1;
            cs[i].closed = 1;
            if (expect && !cs[i].done) {
                cs[i].done = 1;
                n_done++;
            }
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    printf("{\"ready\":%d,\"errors\":%d}\n", nconns - errors, errors);
    fflush(stdout);
    /* frames that came with the handshake */
    long long t0 = now_ns();
    for (int i = 0; i < nconns; i++)
        if (cs[i].plen) {
            size_t used = parse(&cs[i], cs[i].pend, cs[i].plen, t0);
            memmove(cs[i].pend, cs[i].pend + used, cs[i].plen - used);
            cs[i].plen -= used;
        }
    struct epoll_event evs[256];
    long long deadline = now_ns() + (long long)(timeout * 1e9);
    int watch_stdin = !expect;
    while (now_ns() < deadline && (!expect || n_done < nconns)) {
        if (watch_stdin) {
            struct pollfd pf = {0, POLLIN, 0};
            if (poll(&pf, 1, 0) > 0) {
                char b[256];
                if (read(0, b, sizeof b) <= 0) break;
            }
        }
        int n = epoll_wait(ep, evs, 256, 100);
        long long now = now_ns();
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            for (;;) {
                size_t pre = c->plen;
                if (pre) memcpy(rbuf, c->pend, pre);
                ssize_t r = read(c->fd, rbuf + pre, RBUF - pre);
                if (r <= 0) {
                    if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    c->closed = 1;
                    if (expect && !c->done) {
                        c->done = 1;
                        n_done++;
                        errors++;
                    }
                    break;
                }
                size_t have = pre + (size_t)r;
                size_t used = parse(c, rbuf, have, now);
                size_t left = have - used;
                if (left > c->pcap) {
                    free(c->pend);
                    c->pcap = left > 65536 ? left : 65536;
                    c->pend = malloc(c->pcap);
                }
                if (left) memcpy(c->pend, rbuf + used, left);
                c->plen = left;
                if ((size_t)r < RBUF - pre) break;
            }
        }
    }
    qsort(lat, n_lat, sizeof *lat, cmp_ll);
    printf("{\"conns\":%d,\"received\":%lld,\"gaps\":%lld,\"dropped\":%lld,\"first_ns\":%lld,\"last_ns\":%lld,"
           "\"errors\":%d,\"lat_n\":%zu,\"lat\":[",
           nconns, total, gaps, dropped, first_ns, last_ns, errors, n_lat);
    for (size_t i = 0; i < n_lat; i++) printf(i ? ",%lld" : "%lld", lat[i]);
    printf("]}\n");
    fflush(stdout);
    for (int i = 0; i < nconns; i++) {
        if (cs[i].fd >= 0) close(cs[i].fd);
        free(cs[i].pend);
    }
    free(cs);
    free(rbuf);
    free(lat);
    return 0;
}
