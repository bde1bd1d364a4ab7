/* libFuzzer target: the event hub's own WebSocket frame parser
 * (lib/server/hub_ws.c: ws_parse, frame_begin, control_done, message_done;
 * static) and what it hands to hub_cmd_message, reached the way a real
 * client reaches it: a WebSocket client connection (hub_client_new +
 * hub_ws_start on one end of a socketpair), the input written to the other
 * end as the client's bytes, hub_ws_read, hub_ws_flush. Everything the hub
 * writes back is parsed too and must be valid server frames: FIN set, no
 * RSV bits, unmasked, opcode text/close/ping/pong, control payload <= 125,
 * close code sendable, every text a valid wire text (fuzz_hub.h).
 *
 * Input: byte 0 flags (bit 0: max_message 100 and rate 20/s, so the
 * oversize and rate-limit/flood paths are reached; else 16 KiB and no
 * practical rate limit; bit 1: the client takes the broadcast (replay
 * first); bit 2: the bytes arrive in pieces of (byte 1 % 61) + 1 bytes,
 * each read before the next is written, exercising the parser's state kept
 * across reads). Then the client's bytes (masked frames, as a client sends).
 *
 *   make build-fuzz/fuzz_hub_ws && build-fuzz/fuzz_hub_ws test/fuzz/corpus/fuzz_hub_ws
 */
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gio/gio.h>
#include "fuzz_hub.h"

static strapto_event_hub *hubs[2];

static strapto_event_hub *hub_for(int sel)
{
    if (!hubs[sel]) {
        strapto_event_hub_config hc;
        strapto_event_hub_config_init(&hc);
        hc.loop = 0;
        hc.max_message = sel ? 100 : 0;
        hc.input_rate = sel ? 20 : 1e9;
        hc.client_queue = 16;
        FUZZ_ASSERT(st_hub_new_detached(fuzz_ctx(), &hc, &hubs[sel]) == 0);
    }
    return hubs[sel];
}

/* What the server wrote so far, parsed frame by frame. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int close_seen;
} peer;

static void check_frames(peer *pr, int final)
{
    size_t at = 0;
    for (;;) {
        size_t left = pr->len - at;
        if (left < 2) break;
        const uint8_t *h = pr->buf + at;
        FUZZ_ASSERT(h[0] & 0x80);          /* FIN: the server never fragments */
        FUZZ_ASSERT(!(h[0] & 0x70));       /* no RSV bits */
        FUZZ_ASSERT(!(h[1] & 0x80));       /* a server never masks */
        int op = h[0] & 0x0f;
        FUZZ_ASSERT(op == 1 || op == 8 || op == 9 || op == 10);
        uint64_t n = h[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) {
            if (left < 4) break;
            n = ((uint64_t)h[2] << 8) | h[3];
            FUZZ_ASSERT(n >= 126); /* minimal length encoding */
            hl = 4;
        } else if (n == 127) {
            if (left < 10) break;
            n = 0;
            for (int i = 0; i < 8; i++) n = (n << 8) | h[2 + i];
            FUZZ_ASSERT(n >= 65536 && !(n >> 63));
            hl = 10;
        }
        if (left - hl < n) break;
        const uint8_t *pl = h + hl;
        FUZZ_ASSERT(!pr->close_seen); /* nothing after the close frame */
        if (op & 8) FUZZ_ASSERT(n <= 125);
        if (op == 1) fuzz_check_wire((const char *)pl, (size_t)n);
        if (op == 8) {
            pr->close_seen = 1;
            FUZZ_ASSERT(n >= 2);
            int code = (pl[0] << 8) | pl[1];
            FUZZ_ASSERT((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                        (code >= 3000 && code <= 4999));
            FUZZ_ASSERT(g_utf8_validate_len((const char *)pl + 2, (size_t)n - 2, NULL));
        }
        at += hl + (size_t)n;
    }
    if (final) FUZZ_ASSERT(at == pr->len || !pr->close_seen); /* a cut frame only if the hub was killed mid-write */
    memmove(pr->buf, pr->buf + at, pr->len - at);
    pr->len -= at;
}

static void drain(int fd, peer *pr)
{
    for (;;) {
        if (pr->cap - pr->len < 65536) {
            pr->cap = pr->cap * 2 + 65536;
            pr->buf = realloc(pr->buf, pr->cap);
            FUZZ_ASSERT(pr->buf);
        }
        ssize_t r = read(fd, pr->buf + pr->len, pr->cap - pr->len);
        if (r > 0) {
            pr->len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        break;
    }
    check_frames(pr, 0);
}

static int pending(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

typedef struct {
    const uint8_t *data;
    size_t size;
} job;

static void run(void *user)
{
    job *jb = user;
    int flags = jb->data[0];
    size_t piece = jb->size;
    const uint8_t *p = jb->data + 1, *end = jb->data + jb->size;
    if (flags & 4) {
        if (p == end) return;
        piece = (size_t)(*p++ % 61) + 1;
    }
    strapto_event_hub *hub = hub_for(flags & 1);
    int sv[2];
    FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    GSocket *sock = g_socket_new_from_fd(sv[0], NULL);
    FUZZ_ASSERT(sock);
    GSocketConnection *conn = g_socket_connection_factory_create_connection(sock);
    hub_client *c = hub_client_new(hub, HUB_CLIENT_WS);
    FUZZ_ASSERT(c);
    hub_client_ref(c); /* ours, past its death */
    /* the client takes both references (as with a stolen libsoup connection) */
    FUZZ_ASSERT(hub_ws_start(c, G_IO_STREAM(conn), sock) == 0);
    FUZZ_ASSERT(c->ep_fd >= 0); /* plain socket: the epoll path, read by hub_ws_read */
    if (flags & 2) hub_client_start_events(c);
    peer pr = {0};
    while (p < end && !c->dead) {
        size_t n = (size_t)(end - p) < piece ? (size_t)(end - p) : piece;
        ssize_t w = write(sv[1], p, n);
        if (w <= 0) break; /* cannot happen with a 1 MiB buffer and 64 KiB inputs */
        p += w;
        /* READ_BUDGET is 64 KiB per call: read until the socket is empty */
        for (int i = 0; i < 64 && !c->dead && pending(sv[0]) > 0; i++) hub_ws_read(c);
        if (!c->dead) hub_ws_flush(c);
        drain(sv[1], &pr);
    }
    if (!c->dead) hub_ws_flush(c);
    drain(sv[1], &pr);
    FUZZ_ASSERT(c->m_len <= c->m_cap && c->c_len <= sizeof c->c_buf);
    FUZZ_ASSERT(c->m_skip || c->m_len <= hub->max_message);
    hub_client_kill(c, "fuzz input done");
    drain(sv[1], &pr);
    check_frames(&pr, 1);
    hub_client_unref(c);
    free(pr.buf);
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    job jb = {data, size};
    st_ctx_run_sync(fuzz_ctx(), 0, run, &jb);
    return 0;
}
